//! What `/proc` says about processes: children by name, liveness, open file descriptors, kresd by working
//! directory.

use std::fs;
use std::path::Path;

/// The PIDs of the processes whose parent is `parent` and whose command name is `name`, sorted.
pub fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid ..."; comm may contain spaces, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && comm == name {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// How many file descriptors `pid` has open (0 when it is gone).
pub fn fd_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Every live kresd on the machine whose working directory is `rundir` (the supervisor starts each child there),
/// whoever its parent is: finds leaked and orphaned workers, canaries and policy-loaders.
pub fn kresd_in(rundir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == "kresd"
            && fs::read_link(entry.path().join("cwd")).is_ok_and(|c| c == rundir)
            && alive(pid)
        {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}
