//! Developer tasks: `cargo xtask <task>` (the alias is in `.cargo/config.toml`).
//!
//! The real work happens in `scripts/sid-root.sh` (the Debian sid root with kresd, knotd, kdig) and
//! `scripts/in-root` (the cargo target runner that runs test binaries inside that root); this file only strings
//! cargo and those scripts together.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  run [-- ARGS]      build the manager (bin `knot-resolver`) and run it inside the sid root on
                     etc/config/config.dev.yaml (workers answer on 127.0.0.1@5335)
  run-debug [-- ARGS]  the same with debug logging (etc/config/config.dev-debug.yaml)
  test [ARGS]        build the sid root if needed and run every test inside it
                     (cargo nextest run --workspace --profile ci ARGS; cargo test without nextest)
  check              cargo fmt --check and cargo clippy --workspace --all-targets -- -D warnings
  format             cargo fmt --all
  kresctl [ARGS]     run our kresctl inside the sid root (talks to `cargo xtask run`'s manager
                     unless ARGS pick a --socket/--config)
  shell              interactive shell inside the sid root (workspace mounted at the same path)
  dist [--debug]     man pages and completions (distro/generated/), then the Debian package
                     target/dist/knot-resolver-manager-rs_*.deb (cargo-deb; release build unless --debug)
  package-test [SCENARIO...]
                     build the package from the debug binaries and test it: installed into a throw-away
                     overlay of the sid root, the manager on the packaged defaults (distro/tests/)
  root               build (or update) the sid root only
  root-status        show the sid root, its mounts and users

The root lives in $KRES_SID_ROOT (default /var/tmp/kres-sid-root); remove it with
`scripts/sid-root.sh destroy`, never with rm -rf (it may have /dev and the workspace mounted).";

const MANAGER_BIN: &str = "knot-resolver";
const KRESCTL_BIN: &str = "kresctl";
const DEV_CONFIG: &str = "etc/config/config.dev.yaml";
const DEV_DEBUG_CONFIG: &str = "etc/config/config.dev-debug.yaml";
/// Directories the dev configs name (`rundir` and `cache/storage`, paths inside the root); the datamodel requires
/// them to exist, so `run` creates them inside the root before the manager starts. Keep in sync with
/// etc/config/config.dev*.yaml (a test in this file checks it).
const DEV_DIRS: [&str; 3] = ["/run/knot-resolver-dev", "/run/knot-resolver-dev/cache", "/var/lib/knot-resolver-dev"];

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1);
    let task = args.next().map(|t| t.to_string_lossy().into_owned());
    let rest: Vec<OsString> = args.collect();
    let result = match task.as_deref() {
        Some("run") => run(DEV_CONFIG, &rest),
        Some("run-debug") => run(DEV_DEBUG_CONFIG, &rest),
        Some("test") => test(&rest),
        Some("check") => check(),
        Some("format" | "fmt") => format(),
        Some("kresctl") => kresctl(&rest),
        Some("shell") => shell(),
        Some("dist") => dist(&rest).map(|_| ()),
        Some("package-test") => package_test(&rest),
        Some("root") => sid_root(&["build"]),
        Some("root-status") => sid_root(&["status"]),
        Some("help" | "-h" | "--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprintln!("xtask: unknown task '{other}'\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A failing child already printed its own output; keep its exit code when it has one.
            if let Some(Failed(code)) = e.downcast_ref::<Failed>() {
                eprintln!("xtask: {e:#}");
                return ExitCode::from(u8::try_from(*code).unwrap_or(1));
            }
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A child process exited unsuccessfully with this code.
#[derive(Debug)]
struct Failed(i32);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "command failed with exit code {}", self.0)
    }
}

impl std::error::Error for Failed {}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn script(name: &str) -> PathBuf {
    workspace_root().join("scripts").join(name)
}

/// Runs `cmd`, echoing it; a non-zero exit becomes [`Failed`].
fn status(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {}", display(cmd));
    let status = cmd.status().with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        let code = status.code().unwrap_or(1);
        Err(anyhow::Error::new(Failed(code)).context(display(cmd)))
    }
}

fn display(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn sid_root(args: &[&str]) -> Result<()> {
    status(Command::new(script("sid-root.sh")).args(args))
}

/// A command run on the host with the sid root mounted (and unmounted afterwards).
fn with_mounts(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(script("sid-root.sh"));
    cmd.arg("with-mounts").arg(program).current_dir(workspace_root());
    cmd
}

/// `CARGO_TARGET_<HOST>_RUNNER`: makes cargo run test and `cargo run` binaries through scripts/in-root.
fn runner_env() -> Result<(String, PathBuf)> {
    let out = Command::new(env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("-vV")
        .output()
        .context("cannot run rustc -vV")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let host = text.lines().find_map(|l| l.strip_prefix("host: ")).context("rustc -vV printed no host triple")?;
    let var = format!("CARGO_TARGET_{}_RUNNER", host.to_uppercase().replace(['-', '.'], "_"));
    Ok((var, script("in-root")))
}

fn ensure_root() -> Result<()> {
    sid_root(&["build"])
}

fn test(args: &[OsString]) -> Result<()> {
    ensure_root()?;
    let (runner_var, runner) = runner_env()?;
    let picks_packages = args.iter().any(|a| {
        let a = a.to_string_lossy();
        a == "-p" || a.starts_with("--package") || a == "--workspace"
    });
    // kresctl's online tests run the workspace's manager binary, which `-p kresctl` alone does not build.
    let picks_kresctl = args.iter().any(|a| {
        let a = a.to_string_lossy();
        a == KRESCTL_BIN || a == "-pkresctl" || a == "--package=kresctl"
    });
    if picks_packages && picks_kresctl {
        status(cargo().args(["build", "-p", "kres-manager", "--bin", MANAGER_BIN]))?;
    }
    let mut cmd = with_mounts(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    if nextest_available() {
        cmd.args(["nextest", "run", "--profile", "ci"]);
    } else {
        eprintln!("xtask: cargo-nextest is not available; falling back to cargo test");
        cmd.args(["test", "--no-fail-fast"]);
    }
    if !picks_packages {
        cmd.arg("--workspace");
    }
    cmd.args(args).env(runner_var, runner);
    status(&mut cmd)
}

/// Is `cargo nextest` usable? Installs it (`cargo install cargo-nextest --locked`) only when absent.
fn nextest_available() -> bool {
    let works = || {
        cargo()
            .args(["nextest", "--version"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works() {
        return true;
    }
    eprintln!("xtask: installing cargo-nextest (cargo install cargo-nextest --locked)");
    let installed = status(cargo().args(["install", "cargo-nextest", "--locked"]));
    if let Err(e) = installed {
        eprintln!("xtask: cannot install cargo-nextest: {e:#}");
        return false;
    }
    works()
}

fn check() -> Result<()> {
    // The build needs protoc (etcd-client's gRPC code); scripts/sid-root.sh installs it on the host when missing.
    sid_root(&["host-prereqs"])?;
    status(cargo().args(["fmt", "--all", "--check"]))?;
    status(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
}

fn format() -> Result<()> {
    status(cargo().args(["fmt", "--all"]))
}

/// Does the workspace define a binary target named `name`? (From `cargo metadata`, without a JSON parser: each
/// target object is flat, so the text between `"kind":["bin"]` and the next `}` holds its name.)
fn has_bin(name: &str) -> Result<bool> {
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let needle = format!("\"name\":\"{name}\"");
    Ok(text.match_indices("\"kind\":[\"bin\"]").any(|(i, _)| {
        let target = &text[i..];
        let end = target.find('}').unwrap_or(target.len());
        target[..end].contains(&needle)
    }))
}

/// `cargo run --bin <bin> -- args` inside the sid root (cargo runs the binary through scripts/in-root).
fn cargo_run_in_root(bin: &str, args: &[OsString]) -> Result<()> {
    let (runner_var, runner) = runner_env()?;
    let mut cmd = with_mounts(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["run", "--quiet", "--bin", bin, "--"]).args(args).env(runner_var, runner);
    status(&mut cmd)
}

fn run(config: &str, args: &[OsString]) -> Result<()> {
    if !has_bin(MANAGER_BIN)? {
        bail!(
            "there is no `{MANAGER_BIN}` binary in the workspace yet (the manager crate, e.g. crates/kres-manager \
             with [[bin]] name = \"{MANAGER_BIN}\"). Until it exists, try `cargo xtask test` or `cargo xtask shell`."
        );
    }
    ensure_root()?;
    let root = env::var("KRES_SID_ROOT").unwrap_or_else(|_| "/var/tmp/kres-sid-root".into());
    for dir in DEV_DIRS {
        let dir = PathBuf::from(format!("{}{dir}", root.trim_end_matches('/')));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // Build first (outside the root) so compile errors are not mixed with the manager's output.
    status(cargo().args(["build", "--bin", MANAGER_BIN]))?;
    let config = workspace_root().join(config);
    let mut all: Vec<OsString> = vec![format!("--config={}", config.display()).into()];
    all.extend(args.iter().cloned());
    eprintln!("xtask: the manager runs inside the sid root; workers answer on 127.0.0.1@5335, Ctrl-C stops it");
    cargo_run_in_root(MANAGER_BIN, &all)
}

fn kresctl(args: &[OsString]) -> Result<()> {
    ensure_root()?;
    let picks_target = args.iter().any(|a| {
        let a = a.to_string_lossy();
        ["-s", "-c", "-h", "-V"].contains(&a.as_ref())
            || ["--socket", "--config", "--help", "--version"].iter().any(|o| a.starts_with(o))
    });
    let mut all: Vec<OsString> = Vec::new();
    if !picks_target {
        all.push(format!("--config={}", workspace_root().join(DEV_CONFIG).display()).into());
    }
    all.extend(args.iter().cloned());
    cargo_run_in_root(KRESCTL_BIN, &all)
}

fn shell() -> Result<()> {
    ensure_root()?;
    let mut cmd = with_mounts(script("sid-root.sh"));
    cmd.args(["exec", "/bin/bash", "-i"]).current_dir(env::current_dir()?);
    status(&mut cmd)
}

/// The cargo target directory (`$CARGO_TARGET_DIR` or `target/`).
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), |d| workspace_root().join(d))
}

/// `cargo xtask dist [--debug]`: the generated man pages and completions in distro/generated/ (read by the package's
/// assets, see `[package.metadata.deb]` in crates/kres-manager/Cargo.toml), then target/dist/*.deb with cargo-deb. Release
/// binaries by default; `--debug` packages the debug binaries the tests use (no second build), staged as the
/// `package-test` profile because cargo-deb does not package the dev profile. Returns the .deb's path.
fn dist(args: &[OsString]) -> Result<PathBuf> {
    let debug = match args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().as_slice() {
        [] => false,
        [flag] if flag == "--debug" => true,
        other => bail!("dist: unexpected arguments {other:?} (only --debug)"),
    };
    let bins = ["--bin", MANAGER_BIN, "--bin", KRESCTL_BIN];
    let mut build = cargo();
    build.args(["build", "--locked", "-p", "kres-manager", "-p", "kresctl"]).args(bins);
    if !debug {
        build.arg("--release");
    }
    status(&mut build)?;
    // The package's assets name the generated files as ../../distro/generated (ignored by git).
    let generated = workspace_root().join("distro/generated");
    for dir in ["man", "bash-completion", "fish", "zsh"] {
        let dir = generated.join(dir);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clean {}", dir.display()))?;
        }
    }
    let mut generate = cargo();
    generate.args(["run", "--quiet", "--locked", "-p", "kres-dist", "--"]).arg(&generated);
    if let Some(epoch) = last_commit_time() {
        generate.env("SOURCE_DATE_EPOCH", epoch);
    }
    status(generate.stdout(std::process::Stdio::null()))?;
    let out = target_dir().join("dist");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot clean {}", out.display()))?;
    }
    ensure_cargo_deb()?;
    let mut deb = cargo();
    deb.args(["deb", "--locked", "-p", "kres-manager", "--no-build", "--output"]).arg(&out);
    if debug {
        let staged = target_dir().join("package-test");
        std::fs::create_dir_all(&staged)?;
        for bin in [MANAGER_BIN, KRESCTL_BIN] {
            let to = staged.join(bin);
            let _ = std::fs::remove_file(&to);
            std::fs::copy(target_dir().join("debug").join(bin), &to)
                .with_context(|| format!("cannot stage {}", to.display()))?;
        }
        deb.args(["--profile", "package-test", "--fast"]);
    }
    status(&mut deb)?;
    let found = std::fs::read_dir(&out)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("cargo deb wrote no .deb")?;
    eprintln!("xtask: {}", found.display());
    Ok(found)
}

fn last_commit_time() -> Option<String> {
    let out = Command::new("git").args(["log", "-1", "--format=%ct"]).current_dir(workspace_root()).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Is `cargo deb` usable? Installs it (`cargo install cargo-deb --locked`) when absent.
fn ensure_cargo_deb() -> Result<()> {
    let works = || {
        cargo()
            .args(["deb", "--version"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works() {
        eprintln!("xtask: installing cargo-deb (cargo install cargo-deb --locked)");
        status(cargo().args(["install", "cargo-deb", "--locked"]))?;
    }
    Ok(())
}

/// `cargo xtask package-test [SCENARIO...]`: the package built from the debug binaries, installed into a throw-away
/// overlay of the sid root (in private mount, PID and network namespaces: the shared root is never modified and
/// port 53 is private), then distro/tests/*.sh against the manager running on the packaged defaults.
fn package_test(args: &[OsString]) -> Result<()> {
    ensure_root()?;
    let deb = dist(&["--debug".into()])?;
    let script = workspace_root().join("distro/tests/harness/package-test.sh");
    status(Command::new(script).arg(deb).args(args).current_dir(workspace_root()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every directory the dev configs name is one `run` creates (a missing one stops the manager at start-up).
    #[test]
    fn dev_dirs_cover_the_dev_configs() {
        for config in [DEV_CONFIG, DEV_DEBUG_CONFIG] {
            let text = std::fs::read_to_string(workspace_root().join(config)).unwrap();
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                let Some((key, value)) = line.trim().split_once(':') else { continue };
                if ["rundir", "storage", "state-dir"].contains(&key.trim()) {
                    let value = value.trim();
                    assert!(DEV_DIRS.contains(&value), "{config}: {key} {value} is not in DEV_DIRS");
                }
            }
        }
    }
}
