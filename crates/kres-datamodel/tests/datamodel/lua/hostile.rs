//! Hostile strings: user text full of quotes, newlines, long-bracket closers and backslashes must stay data in
//! the rendered Lua. A small Lua lexer separates code from strings and comments; the injected `os.exit(7)` must
//! never appear in code. (`kresd.rs` runs such a config in real kresd as well.) The validator refuses control
//! characters in single-line text and anything but a real name in domain-name fields, so line breaks are tried
//! in zone-file text only, and hostile names must be refused.

use std::path::Path;

use kres_datamodel::lua::{RenderError, RenderTarget, render};
use kres_datamodel::node::Node;
use kres_datamodel::{KresConfig, SystemFacts, ValidationOptions, validate};
use kres_test_support::TempDir;
use serde_json::{Value, json};

/// Every way out of a Lua string literal or comment on one line, each followed by the injected code.
pub const PAYLOAD: &str =
    "q'); os.exit(7) -- d\"); os.exit(7) -- b]] os.exit(7) --[[ e]=] os.exit(7) --[=[ s\\'); os.exit(7) --";

/// [`PAYLOAD`] with line and carriage breaks that end a `--` comment, for zone-file text (records, trust
/// anchors), the only text that may span lines.
pub const MULTILINE_PAYLOAD: &str = "q'); os.exit(7) -- d\"); os.exit(7) -- \nos.exit(7)\n-- b]] os.exit(7) --[[ \
                                     e]=] os.exit(7) --[=[ s\\'); os.exit(7) -- r\r os.exit(7) -- z\t'); os.exit(7) --";

/// [`PAYLOAD`] made into something shaped like a domain name; every domain-name field must refuse it.
pub fn payload_name() -> String {
    format!("{PAYLOAD}x.example")
}

/// A real name for the domain-name fields of the hostile configuration.
pub const NAME: &str = "_hostile.xn--bcher-kva.example.";

/// [`PAYLOAD`] as a file name component (no `/`).
pub fn payload_path_component() -> String {
    PAYLOAD.replace('/', "_")
}

/// A configuration with [`PAYLOAD`] in every string option that reaches the Lua (free strings and paths;
/// [`MULTILINE_PAYLOAD`] in zone-file text) and [`NAME`] in the domain names. `dir` prefixes every path.
pub fn hostile_config_json(dir: &str) -> Value {
    let p = PAYLOAD;
    let lines = MULTILINE_PAYLOAD;
    let name = NAME;
    let file = format!("{dir}/{}", payload_path_component());
    json!({
        "nsid": p,
        "hostname": p,
        "rundir": format!("{file}.run"),
        "logging": {"dnstap": {"enable": true, "unix-socket": format!("{file}.dnstap")}},
        "network": {
            "tls": {"sticket-secret": p, "cert-file": format!("{file}.cert"), "key-file": format!("{file}.key")},
            "listen": [{"unix-socket": format!("{file}.sock")}, {"interface": "127.0.0.1", "kind": "doh-legacy"}],
        },
        "cache": {
            "storage": format!("{file}.cache"),
            "prefill": [{"origin": ".", "url": p, "ca-file": format!("{file}.ca")}],
        },
        "dnssec": {
            "trust-anchors": [lines],
            "negative-trust-anchors": [name],
            "trust-anchors-files": [{"file": format!("{file}.keys")}],
        },
        "forward": [{
            "subtree": name,
            "servers": [{"address": "192.0.2.1", "transport": "tls", "hostname": name, "ca-file": format!("{file}.ca")}],
        }],
        "fallback": {"enable": true, "servers": [{"address": "192.0.2.1", "transport": "tls", "hostname": name}]},
        "local-data": {
            "addresses": {name: "192.0.2.1"},
            "addresses-files": [format!("{file}.hosts")],
            "records": lines,
            "rules": [
                {"name": name, "subtree": "nxdomain"},
                {"file": format!("{file}.rules")},
                {"records": lines},
            ],
            "rpz": [{"file": format!("{file}.rpz")}],
        },
    })
}

pub fn load_json(value: &Value) -> KresConfig {
    let opts = ValidationOptions::new(false, "/", SystemFacts::fixed());
    validate(&Node::from_json(value), &opts).unwrap_or_else(|e| panic!("the hostile config is not valid: {e}"))
}

/// The code of a Lua chunk with every string literal and comment removed (each replaced by a space).
/// Panics on an unterminated string or comment: the rendered Lua would not even load.
pub fn lua_code(source: &str) -> String {
    let s = source.as_bytes();
    let mut code = Vec::new();
    let mut i = 0;
    // `[`, `=`*n, `[` at i: the level n.
    let long_open = |i: usize| -> Option<usize> {
        if s.get(i) != Some(&b'[') {
            return None;
        }
        let eq = s[i + 1..].iter().take_while(|&&c| c == b'=').count();
        (s.get(i + 1 + eq) == Some(&b'[')).then_some(eq)
    };
    let skip_long = |i: usize, level: usize| -> usize {
        let close = format!("]{}]", "=".repeat(level));
        let body = i + level + 2;
        match source[body..].find(&close) {
            Some(end) => body + end + close.len(),
            None => panic!("unterminated long bracket at byte {i}:\n{source}"),
        }
    };
    while i < s.len() {
        let c = s[i];
        if c == b'-' && s.get(i + 1) == Some(&b'-') {
            code.push(b' ');
            i += 2;
            if let Some(level) = long_open(i) {
                i = skip_long(i, level);
            } else {
                while i < s.len() && s[i] != b'\n' {
                    i += 1;
                }
            }
        } else if c == b'\'' || c == b'"' {
            code.push(b' ');
            i += 1;
            loop {
                match s.get(i) {
                    None | Some(b'\n') | Some(b'\r') => panic!("unterminated string literal:\n{source}"),
                    Some(b'\\') => i += 2,
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
        } else if let Some(level) = long_open(i) {
            code.push(b' ');
            i = skip_long(i, level);
        } else {
            code.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&code).into_owned()
}

#[test]
fn the_lexer_sees_injections() {
    assert!(lua_code("x = 'a'); os.exit(7) --'").contains("os.exit"));
    assert!(!lua_code("x = 'a\\'); os.exit(7) --'").contains("os.exit"));
    assert!(!lua_code("x = [==[ ]] os.exit(7) ]=] ]==]").contains("os.exit"));
    assert!(lua_code("x = [[ ]] os.exit(7) --[[ ]]").contains("os.exit"));
    assert!(!lua_code("--[[ os.exit(7) ]] x = 1").contains("os.exit"));
    assert!(lua_code("-- c\nos.exit(7)").contains("os.exit"));
}

#[test]
fn hostile_strings_stay_data() {
    let config = load_json(&hostile_config_json("/tmp/hostile"));
    for target in [RenderTarget::Worker, RenderTarget::PolicyLoader] {
        let lua = render(&config, target).unwrap_or_else(|e| panic!("{target:?}: {e}"));
        let code = lua_code(&lua);
        assert!(!code.contains("os.exit"), "{target:?}: injected code escaped its string:\n{lua}");
        assert!(!lua.contains('\0') && !lua.contains('\r'), "{target:?}: raw NUL or CR in the rendered Lua:\n{lua}");
        // The payload is rendered in full (escaped), not dropped.
        assert!(lua.matches("os.exit(7)").count() >= 8, "{target:?}: payloads missing:\n{lua}");
    }
}

#[test]
fn hostile_names_and_control_characters_are_refused_with_their_paths() {
    let name = payload_name();
    let config = json!({
        "nsid": MULTILINE_PAYLOAD,
        "network": {"tls": {"sticket-secret": MULTILINE_PAYLOAD}},
        "cache": {"prefill": [{"origin": name, "url": MULTILINE_PAYLOAD}]},
        "dnssec": {"negative-trust-anchors": [name], "trust-anchors": [format!("{PAYLOAD}\0")]},
        "forward": [{"subtree": name, "servers": [{"address": "192.0.2.1", "transport": "tls", "hostname": name}]}],
        "local-data": {
            "addresses": {name.clone(): "192.0.2.1"},
            "rules": [{"name": name, "subtree": "nxdomain"}, {"file": "/tmp/x\ny"}],
        },
    });
    let opts = ValidationOptions::new(false, "/", SystemFacts::fixed());
    let errors = validate(&Node::from_json(&config), &opts).expect_err("hostile names and control characters").0;
    let by_path = |path: &str| errors.iter().find(|e| e.path.as_str() == path).map(|e| e.message.as_str());
    let key = format!("/local-data/addresses/{}", name.replace('~', "~0").replace('/', "~1"));
    let names = ["/cache/prefill/0/origin", "/dnssec/negative-trust-anchors/0", "/forward/0/subtree"];
    let names = names.into_iter().chain(["/forward/0/servers/0/hostname", key.as_str(), "/local-data/rules/0/name"]);
    for path in names {
        let message = by_path(path).unwrap_or_else(|| panic!("no error at {path}: {errors:#?}"));
        let why =
            "is not a valid domain name: character ''' is not allowed (a label holds letters, digits, '-' and '_')";
        assert!(message.ends_with(why), "{path}: {message}");
    }
    for path in ["/nsid", "/network/tls/sticket-secret", "/cache/prefill/0/url", "/local-data/rules/1/file"] {
        let message = by_path(path).unwrap_or_else(|| panic!("no error at {path}: {errors:#?}"));
        assert!(message.contains("control character U+000A (line feed) is not allowed"), "{path}: {message}");
    }
    let message = by_path("/dnssec/trust-anchors/0").expect("trust anchor with NUL");
    assert!(message.contains("control character U+0000 (NUL) is not allowed"), "{message}");
}

#[test]
fn lua_script_is_the_only_raw_text() {
    let mut value = hostile_config_json("/tmp/hostile");
    value["lua"] = json!({"script": "os.exit(0) -- the escape hatch", "policy-script": "os.exit(0)"});
    let config = load_json(&value);
    for target in [RenderTarget::Worker, RenderTarget::PolicyLoader] {
        let lua = render(&config, target).expect("renders");
        assert_eq!(lua_code(&lua).matches("os.exit").count(), 1, "{target:?}:\n{lua}");
    }
}

#[test]
fn script_files_are_rendered_by_contents() {
    let dir = TempDir::new("lua-script");
    let config = load_json(&json!({"lua": {
        "script-file": dir.write("w.lua", "worker_marker = 1\n").display().to_string(),
        "policy-script-file": dir.write("p.lua", "policy_marker = 2").display().to_string(),
    }}));
    let worker = render(&config, RenderTarget::Worker).expect("worker");
    let loader = render(&config, RenderTarget::PolicyLoader).expect("policy-loader");
    assert!(worker.contains("\nworker_marker = 1\n"), "{worker}");
    assert!(loader.contains("\npolicy_marker = 2\n") && loader.trim_end().ends_with("quit()"), "{loader}");
    assert!(!worker.contains("policy_marker") && !loader.contains("worker_marker"));
}

#[test]
fn unreadable_script_file_names_the_option() {
    let missing = Path::new("/nonexistent/kres-test/script.lua");
    for (key, target, option) in [
        ("script-file", RenderTarget::Worker, "/lua/script-file"),
        ("policy-script-file", RenderTarget::PolicyLoader, "/lua/policy-script-file"),
    ] {
        let config = load_json(&json!({"lua": {key: missing.display().to_string()}}));
        let err = render(&config, target).expect_err("missing file");
        assert!(matches!(err, RenderError::ReadFile { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with(option) && message.contains(&missing.display().to_string()), "{message}");
    }
}

#[test]
fn proxy_protocol_without_allow_list_renders() {
    let config = load_json(&json!({"network": {"proxy-protocol": {"enable": true}}}));
    let lua = render(&config, RenderTarget::Worker).expect("renders");
    assert!(lua.contains("\nnet.proxy_allowed({})\n"), "{lua}");
}
