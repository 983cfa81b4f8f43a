use std::fmt::Write as _;
use std::fs::File;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{ChildGuard, FixtureError, KNOTD, TempDir, free_port, try_kdig, wait_for};

/// A zone served by [`Knotd`].
#[derive(Debug, Clone)]
pub struct Zone {
    origin: String,
    body: String,
}

impl Zone {
    /// A zone `origin` (`"example.test"`) with records in zone-file syntax, relative to the origin:
    /// `"www A 192.0.2.1\ntxt TXT \"hi\"\n"`. `$ORIGIN`, `$TTL 300` and an SOA + NS (with `ns A 127.0.0.1`) are
    /// added unless `body` has an SOA record of its own.
    pub fn new(origin: &str, body: &str) -> Zone {
        Zone { origin: origin.trim_end_matches('.').to_string(), body: body.to_string() }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn file_text(&self) -> String {
        let mut text = format!("$ORIGIN {}.\n$TTL 300\n", self.origin);
        let has_soa = self.body.lines().any(|l| l.split_whitespace().any(|w| w.eq_ignore_ascii_case("SOA")));
        if !has_soa {
            text.push_str("@ IN SOA ns admin 1 3600 900 604800 300\n@ IN NS ns\nns IN A 127.0.0.1\n");
        }
        text.push_str(&self.body);
        text.push('\n');
        text
    }
}

/// An authoritative Knot DNS server on 127.0.0.1 and a free port, serving the given zones; killed on drop.
///
/// ```no_run
/// # use kres_test_support::{Knotd, Zone, kdig};
/// let knot = Knotd::start(&[Zone::new("example.test", "www A 192.0.2.1")]).unwrap();
/// assert_eq!(kdig("127.0.0.1", knot.port(), "www.example.test", "A", &[]).addresses(), ["192.0.2.1"]);
/// ```
#[derive(Debug)]
pub struct Knotd {
    // Field order = drop order: the process goes before its directory.
    child: ChildGuard,
    port: u16,
    dir: TempDir,
}

impl Knotd {
    /// Writes the zone files and `knot.conf` into a new temp dir, starts `knotd -c knot.conf` and waits (up to 20 s)
    /// until it answers the SOA query of the first zone authoritatively.
    ///
    /// # Panics
    /// When `zones` is empty.
    pub fn start(zones: &[Zone]) -> Result<Knotd, FixtureError> {
        assert!(!zones.is_empty(), "Knotd needs at least one zone");
        let dir = TempDir::new("knotd");
        let port = free_port();
        let root = dir.path().display().to_string();
        let mut conf = format!(
            "server:\n    rundir: \"{root}\"\n    listen: 127.0.0.1@{port}\n\
             database:\n    storage: \"{root}\"\n\
             log:\n  - target: stderr\n    any: info\n\
             zone:\n"
        );
        for zone in zones {
            let file = dir.write(format!("{}.zone", zone.origin), zone.file_text());
            let _ = write!(conf, "  - domain: \"{}.\"\n    file: \"{}\"\n", zone.origin, file.display());
        }
        let conf_path = dir.write("knot.conf", conf);
        let log_path = dir.join("knotd.log");
        let log = File::create(&log_path).map_err(FixtureError::io(format!("create {}", log_path.display())))?;
        let log2 = log.try_clone().map_err(FixtureError::io("dup knotd log"))?;
        let mut child = ChildGuard::spawn(
            Command::new(KNOTD)
                .arg("-c")
                .arg(&conf_path)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2),
        )
        .map_err(FixtureError::io(format!("cannot start {KNOTD} (is this the sid root?)")))?;

        let first = format!("{}.", zones[0].origin);
        let timeout = Duration::from_secs(20);
        let outcome = wait_for(timeout, Duration::from_millis(20), || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(status));
            }
            // Before this line a query may sit unanswered in the socket buffer for kdig's whole 1 s timeout.
            if !std::fs::read_to_string(&log_path).is_ok_and(|log| log.contains("started answering")) {
                return None;
            }
            match try_kdig("127.0.0.1", port, &first, "SOA", &["+timeout=1", "+retry=0"]) {
                Ok(a) if a.rcode == "NOERROR" && a.has_flag("aa") => Some(Ok(())),
                _ => None,
            }
        });
        let stderr = || std::fs::read_to_string(&log_path).unwrap_or_default();
        match outcome {
            Some(Ok(())) => Ok(Knotd { child, port, dir }),
            Some(Err(status)) => Err(FixtureError::Exited { program: KNOTD.into(), status, stderr: stderr() }),
            None => Err(FixtureError::Timeout { program: KNOTD.into(), after: timeout, stderr: stderr() }),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1@<port>`, the address syntax of kresd's policy actions.
    pub fn addr(&self) -> String {
        format!("127.0.0.1@{}", self.port)
    }

    /// knotd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("knotd.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    pub fn process(&mut self) -> &mut ChildGuard {
        &mut self.child
    }
}
