use std::process::{Command, Stdio};

use crate::{FixtureError, KDIG};

/// One resource record from kdig's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name as printed, with the trailing dot (`www.example.test.`).
    pub name: String,
    pub ttl: u32,
    pub class: String,
    /// Type mnemonic (`A`, `AAAA`, `TXT`, `SOA`, ...).
    pub rtype: String,
    /// The rest of the line in presentation format (`192.0.2.1`, `"hello" "world"`).
    pub rdata: String,
}

/// A parsed kdig response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigAnswer {
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`, ...
    pub rcode: String,
    /// Header flags (`qr`, `aa`, `rd`, `ra`, `tc`, `ad`, `cd`).
    pub flags: Vec<String>,
    pub answer: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
    /// kdig's full output, for assertion messages.
    pub raw: String,
}

impl DigAnswer {
    /// The rdata of every answer record of type `rtype`, in order.
    pub fn rdata(&self, rtype: &str) -> Vec<&str> {
        self.answer.iter().filter(|r| r.rtype.eq_ignore_ascii_case(rtype)).map(|r| r.rdata.as_str()).collect()
    }

    /// The rdata of the A and AAAA answer records.
    pub fn addresses(&self) -> Vec<&str> {
        self.answer.iter().filter(|r| r.rtype == "A" || r.rtype == "AAAA").map(|r| r.rdata.as_str()).collect()
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// Parses kdig's default (dig-like) text output. `None` when it holds no response header.
    pub fn parse(output: &str) -> Option<DigAnswer> {
        let mut rcode = None;
        let mut flags = Vec::new();
        let mut answer = Vec::new();
        let mut authority = Vec::new();
        let mut additional = Vec::new();
        let mut section: Option<&mut Vec<Record>> = None;
        for line in output.lines() {
            let line = line.trim_end();
            if let Some(rest) = line.strip_prefix(";; ->>HEADER<<-") {
                rcode = rest
                    .split(';')
                    .filter_map(|part| part.trim().strip_prefix("status:"))
                    .map(|s| s.trim().to_string())
                    .next();
                continue;
            }
            if let Some(rest) = line.strip_prefix(";; Flags:") {
                flags = rest.split(';').next().unwrap_or("").split_whitespace().map(str::to_string).collect();
                continue;
            }
            match line {
                ";; ANSWER SECTION:" => section = Some(&mut answer),
                ";; AUTHORITY SECTION:" => section = Some(&mut authority),
                ";; ADDITIONAL SECTION:" => section = Some(&mut additional),
                "" => section = None,
                _ if line.starts_with(';') => {}
                _ => {
                    if let (Some(records), Some(record)) = (section.as_deref_mut(), parse_record(line)) {
                        records.push(record);
                    }
                }
            }
        }
        Some(DigAnswer { rcode: rcode?, flags, answer, authority, additional, raw: output.to_string() })
    }
}

fn parse_record(line: &str) -> Option<Record> {
    let mut rest = line;
    let mut fields = [""; 4];
    for field in &mut fields {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        *field = &rest[..end];
        rest = &rest[end..];
    }
    let [name, ttl, class, rtype] = fields;
    Some(Record {
        name: name.to_string(),
        ttl: ttl.parse().ok()?,
        class: class.to_string(),
        rtype: rtype.to_string(),
        rdata: rest.trim().to_string(),
    })
}

/// Queries `server`@`port` for `name`/`rtype` with kdig (UDP unless `extra_args` has `+tcp`; 2 s timeout, one
/// retry unless overridden in `extra_args`).
///
/// # Panics
/// When kdig gets no response; use [`try_kdig`] to poll.
#[track_caller]
pub fn kdig(server: &str, port: u16, name: &str, rtype: &str, extra_args: &[&str]) -> DigAnswer {
    match try_kdig(server, port, name, rtype, extra_args) {
        Ok(answer) => answer,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`kdig`], but returns an error instead of panicking when there is no response.
pub fn try_kdig(
    server: &str,
    port: u16,
    name: &str,
    rtype: &str,
    extra_args: &[&str],
) -> Result<DigAnswer, FixtureError> {
    let mut cmd = Command::new(KDIG);
    cmd.arg(format!("@{server}"))
        .arg("-p")
        .arg(port.to_string())
        .args(["+timeout=2", "+retry=1", "+nocrypto"])
        .args(extra_args)
        .arg(name)
        .arg(rtype)
        .stdin(Stdio::null());
    let command = format!("{cmd:?}");
    let out = cmd.output().map_err(FixtureError::io(format!("cannot run {KDIG} (is this the sid root?)")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match DigAnswer::parse(&stdout) {
        Some(answer) if out.status.success() => Ok(answer),
        _ => Err(FixtureError::Dig { command, output: format!("{stdout}{stderr}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = ";; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 14762
;; Flags: qr aa rd; QUERY: 1; ANSWER: 2; AUTHORITY: 0; ADDITIONAL: 1

;; EDNS PSEUDOSECTION:
;; Version: 0; flags: ; UDP size: 1232 B; ext-rcode: NOERROR

;; QUESTION SECTION:
;; www.example.test.   \t\tIN\tA

;; ANSWER SECTION:
www.example.test.   \t300\tIN\tA\t192.0.2.10
txt.example.test.   \t300\tIN\tTXT\t\"hello world\" \"x\"

;; AUTHORITY SECTION:
example.test.       \t300\tIN\tSOA\tns.example.test. admin.example.test. 1 3600 900 604800 300

;; Received 61 B
;; Time 2026-11-25 09:03:39 UTC
;; From 127.0.0.1@5599(UDP) in 0.5 ms
";

    #[test]
    fn parses_kdig_default_output() {
        let a = DigAnswer::parse(OUTPUT).expect("parses");
        assert_eq!(a.rcode, "NOERROR");
        assert_eq!(a.flags, ["qr", "aa", "rd"]);
        assert!(a.has_flag("AA"));
        assert_eq!(a.addresses(), ["192.0.2.10"]);
        assert_eq!(a.rdata("txt"), ["\"hello world\" \"x\""]);
        assert_eq!(a.answer[0].name, "www.example.test.");
        assert_eq!(a.answer[0].ttl, 300);
        assert_eq!(a.authority[0].rtype, "SOA");
        assert!(a.additional.is_empty());
    }

    #[test]
    fn no_header_is_no_answer() {
        assert!(DigAnswer::parse(";; WARNING: response timeout for 127.0.0.1@5598(UDP)\n").is_none());
    }
}
