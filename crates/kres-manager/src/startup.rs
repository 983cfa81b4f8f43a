//! Start-up checks and process settings of the first process, as knot-resolver 6.5.0's launcher does them: the
//! greeting, warnings about the user it runs as and about configuration files in different directories, and
//! transparent huge pages switched off for the process and every child (kresd keeps a much smaller footprint
//! without them). The messages are the reference's, so operators' log searches keep working.

use std::path::{Path, PathBuf};

/// The user the Debian package runs the resolver as.
pub const DEFAULT_USER: &str = "knot-resolver";

const USER_WARNING: &str =
    "This may affect configuration validation and the proper functioning of the resolver. Is this intentional?";

/// Logs the greeting and the user warnings. Called before the configuration is read.
pub fn greet() {
    tracing::info!("Starting Knot Resolver {}...", env!("CARGO_PKG_VERSION"));
    let uid = rustix::process::getuid().as_raw();
    match user_name(Path::new("/etc/passwd"), uid) {
        Some(name) if name == DEFAULT_USER => {}
        Some(name) => tracing::warn!(
            "Knot Resolver does not run as the default '{DEFAULT_USER}' user, but as '{name}' instead. {USER_WARNING}"
        ),
        None => tracing::warn!("Knot Resolver is running under an unknown user. {USER_WARNING}"),
    }
    if rustix::process::geteuid().is_root() {
        tracing::warn!("It is not recommended to run under root privileges unless there is no other option.");
    }
}

/// Warns about configuration files whose directory differs from the first file's, which is the base of relative
/// paths in every file.
pub fn check_config_dirs(files: &[PathBuf]) {
    let Some(first) = files.first() else { return };
    for file in &files[1..] {
        if file.parent() != first.parent() {
            tracing::warn!(
                "The configuration file '{}' has a parent directory that is different from '{}', which is used as the \
                 prefix for relative paths. This can cause issues with files that are configured with relative paths.",
                file.display(),
                first.display()
            );
        }
    }
}

/// Switches transparent huge pages off for this process and its children (inherited over fork and exec).
pub fn disable_transparent_huge_pages() {
    match rustix::thread::disable_transparent_huge_pages(true) {
        Ok(()) => tracing::info!("THP (Transparent Huge Pages) disabled."),
        Err(e) => tracing::warn!("Unable to disable THP (Transparent Huge Pages) ({e})."),
    }
}

/// The name of the user with `uid` in a passwd(5) file, if it has one.
fn user_name(passwd: &Path, uid: u32) -> Option<String> {
    let text = std::fs::read_to_string(passwd).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_come_from_the_passwd_file() {
        let dir = kres_test_support::TempDir::new("startup");
        let passwd = dir.join("passwd");
        std::fs::write(
            &passwd,
            "root:x:0:0:root:/root:/bin/bash\nknot-resolver:x:998:998::/nonexistent:/usr/sbin/nologin\n",
        )
        .unwrap();
        assert_eq!(user_name(&passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(&passwd, 998).as_deref(), Some("knot-resolver"));
        assert_eq!(user_name(&passwd, 4242), None);
        assert_eq!(user_name(&dir.join("missing"), 0), None);
    }

    #[test]
    fn huge_pages_are_off_after_disabling() {
        // prctl(PR_SET_THP_DISABLE) is per process; the flag only affects this test process.
        disable_transparent_huge_pages();
        assert!(rustix::thread::transparent_huge_pages_are_disabled().unwrap());
    }
}
