//! Hostile strings: user text full of quotes, newlines, long-bracket closers, backslashes and NUL must stay data
//! in the rendered Lua. A small Lua lexer separates code from strings and comments; the injected `os.exit(7)`
//! must never appear in code. (`kresd.rs` runs such a config in real kresd as well.)

use std::path::Path;

use kres_datamodel::lua::{RenderError, RenderTarget, render};
use kres_datamodel::node::Node;
use kres_datamodel::{KresConfig, SystemFacts, ValidationOptions, validate};
use serde_json::{Value, json};

/// Every way out of a Lua string literal or comment we can think of, each followed by the injected code.
pub const PAYLOAD: &str = "q'); os.exit(7) -- d\"); os.exit(7) -- \nos.exit(7)\n-- b]] os.exit(7) --[[ \
                           e]=] os.exit(7) --[=[ s\\'); os.exit(7) -- r\r os.exit(7) -- z\0'); os.exit(7) --";

/// [`PAYLOAD`] as a valid domain name (labels split at the dots of `os.exit`, none ending with `-`).
pub fn payload_name() -> String {
    format!("{PAYLOAD}x.example")
}

/// [`PAYLOAD`] as a file name component (no NUL, no `/`).
pub fn payload_path_component() -> String {
    PAYLOAD.replace(['\0', '/'], "_")
}

/// A configuration with [`PAYLOAD`] in every string option that reaches the Lua: free strings, domain names
/// and paths. `dir` prefixes every path.
pub fn hostile_config_json(dir: &str) -> Value {
    let p = PAYLOAD;
    let name = payload_name();
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
            "trust-anchors": [p],
            "negative-trust-anchors": [name],
            "trust-anchors-files": [{"file": format!("{file}.keys")}],
        },
        "forward": [{
            "subtree": name,
            "servers": [{"address": "192.0.2.1", "transport": "tls", "hostname": name, "ca-file": format!("{file}.ca")}],
        }],
        "fallback": {"enable": true, "servers": [{"address": "192.0.2.1", "transport": "tls", "hostname": name}]},
        "local-data": {
            "addresses": {name.clone(): "192.0.2.1"},
            "addresses-files": [format!("{file}.hosts")],
            "records": p,
            "rules": [
                {"name": name, "subtree": "nxdomain"},
                {"file": format!("{file}.rules")},
                {"records": p},
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
    let dir = std::env::temp_dir().join(format!("kres-lua-script-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("w.lua"), "worker_marker = 1\n").expect("write");
    std::fs::write(dir.join("p.lua"), "policy_marker = 2").expect("write");
    let config = load_json(&json!({"lua": {
        "script-file": dir.join("w.lua").display().to_string(),
        "policy-script-file": dir.join("p.lua").display().to_string(),
    }}));
    let worker = render(&config, RenderTarget::Worker).expect("worker");
    let loader = render(&config, RenderTarget::PolicyLoader).expect("policy-loader");
    std::fs::remove_dir_all(&dir).ok();
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
