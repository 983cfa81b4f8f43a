//! The rundir lock: `knot-resolver.pid`, created exclusively and holding the supervisor's PID, as the reference
//! manager does. A file left behind by a dead supervisor (or holding garbage) is replaced; one naming a live
//! process refuses the start. Several instances may run with different rundirs.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, test_kill_process};

use super::Error;

/// Name of the PID file inside the rundir.
pub const PID_FILE: &str = "knot-resolver.pid";

/// The held lock; the file is removed on drop (if it still names this process).
#[derive(Debug)]
pub struct PidFile {
    rundir: PathBuf,
    path: PathBuf,
    pid: u32,
}

enum Owner {
    Alive(u32),
    Stale(String),
}

impl PidFile {
    pub fn acquire(rundir: &Path) -> Result<PidFile, Error> {
        let path = rundir.join(PID_FILE);
        let pid = std::process::id();
        // Two rounds: take over a stale file once; if it is back again, someone else is starting right now.
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).mode(0o644).open(&path) {
                Ok(mut file) => {
                    file.write_all(format!("{pid}\n").as_bytes())
                        .map_err(Error::io(format!("cannot write the PID file '{}'", path.display())))?;
                    return Ok(PidFile { rundir: rundir.to_path_buf(), path, pid });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match owner(&path, pid) {
                    Owner::Alive(other) => {
                        return Err(Error::AlreadyRunning { rundir: rundir.to_path_buf(), pid: other, path });
                    }
                    Owner::Stale(why) => {
                        tracing::warn!("removing the stale PID file '{}' ({why})", path.display());
                        match fs::remove_file(&path) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => {
                                return Err(Error::io(format!(
                                    "cannot remove the stale PID file '{}'",
                                    path.display()
                                ))(e));
                            }
                        }
                    }
                },
                Err(e) => return Err(Error::io(format!("cannot create the PID file '{}'", path.display()))(e)),
            }
        }
        Err(Error::io(format!("cannot create the PID file '{}'", path.display()))(io::Error::other(
            "it keeps reappearing; is another manager starting in the same rundir?",
        )))
    }

    pub fn rundir(&self) -> &Path {
        &self.rundir
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = fs::read_to_string(&self.path).is_ok_and(|s| s.trim() == self.pid.to_string());
        if ours && let Err(e) = fs::remove_file(&self.path) {
            tracing::warn!("cannot remove the PID file '{}': {e}", self.path.display());
        }
    }
}

/// Who holds the existing PID file.
fn owner(path: &Path, me: u32) -> Owner {
    let mut text = fs::read_to_string(path).unwrap_or_default();
    if text.trim().is_empty() {
        // Another supervisor may have created the file a moment ago and not written its PID yet.
        std::thread::sleep(Duration::from_millis(100));
        text = fs::read_to_string(path).unwrap_or_default();
    }
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Owner::Stale(format!("it does not hold a PID: {:?}", text.trim()));
    };
    if pid == me {
        return Owner::Stale("it names this very process".into());
    }
    let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return Owner::Stale(format!("{pid} is not a valid PID"));
    };
    match test_kill_process(raw) {
        Ok(()) | Err(Errno::PERM) => Owner::Alive(pid),
        Err(_) => Owner::Stale(format!("process {pid} does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_refuse_and_take_over() {
        let tmp = kres_test_support::TempDir::new("pidfile");
        let dir = tmp.path().to_path_buf();
        let path = dir.join(PID_FILE);
        {
            let _lock = PidFile::acquire(&dir).unwrap();
            assert_eq!(fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
        }
        assert!(!path.exists(), "removed on drop");

        // A live process (PID 1 exists in every PID namespace) holds the lock.
        fs::write(&path, "1\n").unwrap();
        let err = PidFile::acquire(&dir).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "Rundir already in use: {} (another manager runs there: PID 1, PID file {})",
                dir.display(),
                path.display()
            )
        );

        // Garbage and dead PIDs are replaced.
        for stale in ["garbage", "", "4194303000", "0"] {
            fs::write(&path, stale).unwrap();
            let lock = PidFile::acquire(&dir).unwrap_or_else(|e| panic!("{stale:?}: {e}"));
            drop(lock);
        }
        // A file replaced by someone else is left alone on drop.
        let lock = PidFile::acquire(&dir).unwrap();
        fs::write(&path, "1\n").unwrap();
        drop(lock);
        assert!(path.exists());
    }
}
