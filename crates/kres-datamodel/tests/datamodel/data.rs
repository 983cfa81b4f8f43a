//! The one place that knows where the test data is: the conformance case files (`tests/data/conformance/`), the
//! example configurations (`etc/config/examples/`), the feature configs and golden files of the Lua tests
//! (`tests/golden/`) and the optional shared data directory; and how the case files are read.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository root (`file` cases are relative to it).
pub fn repo_root() -> PathBuf {
    crate_dir().join("../..")
}

/// The project's shared data directory, for the optional extra checks against it: `$KRES_SHARED_DIR` if set, else
/// `shared/` next to the checkout. `None` when it has no `reference/` folder (a plain clone).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("KRES_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("../shared"),
    };
    dir.join("reference").is_dir().then_some(dir)
}

/// This crate's directory.
fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The conformance case files, in this repository (`tests/data/conformance/`).
pub fn conformance_dir() -> PathBuf {
    crate_dir().join("tests/data/conformance")
}

/// The example configurations, in this repository (`etc/config/examples/`).
pub fn examples_dir() -> PathBuf {
    repo_root().join("etc/config/examples")
}

/// The golden Lua files (`tests/golden/`).
pub fn golden_dir() -> PathBuf {
    crate_dir().join("tests/golden")
}

/// The feature configs of the Lua tests (`tests/golden/configs/`), one or more per section.
pub fn feature_dir() -> PathBuf {
    golden_dir().join("configs")
}

/// The directory `file` cases are relative to: the repository root.
pub fn file_base_dir() -> PathBuf {
    let root = repo_root();
    root.canonicalize().unwrap_or(root)
}

/// Reads a YAML data file into JSON.
///
/// The data files are written by PyYAML, which quotes every string that a YAML 1.1 reader would take for another
/// type and writes booleans only as `true`/`false`. Unquoted `y`, `n` or `oFF` are therefore strings, so booleans
/// are read strictly (serde-saphyr's default would take them for booleans).
pub fn load_yaml(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_saphyr::from_str_with_options(&text, serde_saphyr::options! { strict_booleans: true })
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

/// One case of a category file together with the group it belongs to.
pub struct Case<'a> {
    pub group: &'a Value,
    pub case: &'a Value,
    /// The directory the case's `file` is relative to.
    pub file_base: &'a Path,
}

impl Case<'_> {
    pub fn id(&self) -> &str {
        self.case["id"].as_str().unwrap_or("<case without id>")
    }

    pub fn group_name(&self) -> &str {
        self.group["name"].as_str().unwrap_or("")
    }

    /// The case's `embed`, else its group's.
    pub fn embed(&self) -> Option<&Value> {
        self.case.get("embed").or_else(|| self.group.get("embed")).filter(|e| !e.is_null())
    }
}

/// A loaded category file.
pub struct Category {
    pub file: String,
    pub data: Value,
    /// The directory `file` cases are relative to.
    pub file_base: PathBuf,
}

impl Category {
    /// Loads `<category>.yaml` from this repository's case files.
    pub fn load(category: &str) -> Category {
        Category::load_from(&conformance_dir(), file_base_dir(), category)
    }

    /// Loads `<category>.yaml` from `dir` and checks its header; its `file` cases are relative to `file_base`.
    pub fn load_from(dir: &Path, file_base: PathBuf, category: &str) -> Category {
        let file = format!("{category}.yaml");
        let path = dir.join(&file);
        let data = load_yaml(&path);
        assert_eq!(data["format"], "kres-conformance/1", "{}: unexpected format", path.display());
        assert_eq!(data["category"], category, "{}: unexpected category", path.display());
        Category { file, data, file_base }
    }

    /// Every case of every group; checks the declared `case_count` and that ids are unique.
    pub fn cases(&self) -> Vec<Case<'_>> {
        let groups = self.data["groups"].as_array().unwrap_or_else(|| panic!("{}: 'groups' is not a list", self.file));
        let mut all = Vec::new();
        for group in groups {
            let cases = group["cases"].as_array().unwrap_or_else(|| panic!("{}: 'cases' is not a list", self.file));
            all.extend(cases.iter().map(|case| Case { group, case, file_base: &self.file_base }));
        }
        let declared = self.data["case_count"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: no integer 'case_count' in the header", self.file));
        assert_eq!(
            all.len() as u64,
            declared,
            "{}: case_count is {declared}, but {} cases were found",
            self.file,
            all.len()
        );
        let mut ids: Vec<&str> = all.iter().map(Case::id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            panic!("{}: duplicate case id {}", self.file, w[0]);
        }
        all
    }
}

/// The example configurations (`config.*.yaml`) in this repository with whether they must validate: all but the
/// old-format `config.old-format*` files, which must be rejected.
pub fn example_configs() -> Vec<(PathBuf, bool)> {
    let configs = configs_in(&examples_dir(), |name| !name.starts_with("config.old-format"));
    assert!(configs.len() >= 10, "only {} example files in {}", configs.len(), examples_dir().display());
    configs
}

/// The `config.*.yaml` files of `dir`, sorted, each with `valid(file name)`.
pub fn configs_in(dir: &Path, valid: impl Fn(&str) -> bool) -> Vec<(PathBuf, bool)> {
    let mut out: Vec<(PathBuf, bool)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            if !name.starts_with("config.") || !name.ends_with(".yaml") {
                return None;
            }
            let valid = valid(&name);
            Some((path, valid))
        })
        .collect();
    out.sort();
    out
}

/// The example configurations that must validate: every `config.*.yaml` but the old-format `config.old-format*`.
pub fn valid_examples() -> Vec<PathBuf> {
    example_configs().into_iter().filter_map(|(path, valid)| valid.then_some(path)).collect()
}

/// The feature configs (`tests/golden/configs/*.yaml`), sorted.
pub fn feature_configs() -> Vec<PathBuf> {
    let dir = feature_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}
