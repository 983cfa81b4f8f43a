//! Property test of the one Lua escaping function against real LuaJIT: for arbitrary strings, the literal that
//! [`quote`] or [`long_bracket`] renders, evaluated by `luajit`, gives back exactly the same bytes. One `luajit`
//! process per case checks a batch of strings (it prints each literal's bytes in hex).
//!
//! `PROPTEST_CASES` (default 256) cases; bench/fuzz.sh runs many more.

use std::io::Write;
use std::process::{Command, Stdio};

use kres_datamodel::lua::escape::{long_bracket, quote};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Strings rich in what can break a literal: quotes, backslashes, brackets, `=`, control bytes, digits after
/// escapes, non-ASCII; and fully arbitrary Unicode.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "([\\[\\]=\\\\'\"\n\r\t\u{0}\u{1}\u{7}\u{b}\u{c}\u{1b}\u{7f}0-9a-zé€\u{10ffff}]|\\]\\]|\\[\\[|\\]=\\]){0,40}",
        any::<String>(),
    ]
}

/// Evaluates each literal with LuaJIT; returns the bytes of each value.
fn luajit_bytes(literals: &[String]) -> Vec<Vec<u8>> {
    let mut script = String::from("local t = {\n");
    for l in literals {
        script.push_str(l);
        script.push_str(",\n");
    }
    script.push_str(
        "}\nfor i = 1, #t do\n  local s = t[i]\n  local h = {}\n  for j = 1, #s do h[j] = string.format('%02x', s:byte(j)) end\n  \
         io.write(table.concat(h), '\\n')\nend\n",
    );
    let mut child = Command::new("/usr/bin/luajit")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/luajit (package luajit in the sid root)");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write the script");
    let out = child.wait_with_output().expect("luajit output");
    assert!(out.status.success(), "luajit rejected the script:\n{}\n{script}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("hex output");
    stdout
        .lines()
        .map(|line| (0..line.len()).step_by(2).map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex")).collect())
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rendered_literals_evaluate_to_the_same_bytes_in_luajit(texts in prop::collection::vec(hostile(), 1..32)) {
        kres_test_support::require_sid_root();
        let literals: Vec<String> = texts.iter().flat_map(|t| [quote(t), long_bracket(t)]).collect();
        let values = luajit_bytes(&literals);
        prop_assert_eq!(values.len(), literals.len());
        for (i, text) in texts.iter().enumerate() {
            prop_assert_eq!(&values[2 * i], text.as_bytes(), "quote: {}", literals[2 * i]);
            prop_assert_eq!(&values[2 * i + 1], text.as_bytes(), "long_bracket: {}", literals[2 * i + 1]);
        }
    }
}
