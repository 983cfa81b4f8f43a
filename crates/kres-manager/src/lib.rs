//! The Knot Resolver 6 manager daemon (`knot-resolver`).
//!
//! Two processes: the **supervisor** (first process, what systemd sees, parent of every kresd, the cache GC
//! and the policy-loader; small and rarely changing) and the **manager** (its child: config, apply pipeline,
//! HTTP API). They talk over [`protocol`]. If the manager dies, the supervisor restarts it and the new
//! manager adopts the running workers.

pub mod cli;
pub mod fleet;
pub mod graphite;
pub mod history;
pub mod logging;
pub mod manager;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod startup;
pub mod supervisor;
pub mod watch;

use clap::Parser;

/// The `knot-resolver` entry point; returns the exit code.
pub fn run_main() -> i32 {
    let args = match cli::Args::try_parse() {
        Ok(args) => args,
        // `knot-resolver -V` prints the bare version, like the reference (`6.5.0`, not clap's `knot-resolver 6.5.0`).
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Err(e) => e.exit(),
    };
    let files = args.absolute_config_files();
    let code = if std::env::var_os(protocol::ENV_SUPERVISOR_SOCKET).is_some() {
        manager::run(files, args.startup_logging())
    } else {
        supervisor_main(&args, files)
    };
    logging::flush();
    code
}

/// Validates the configuration, changes into the rundir and runs the supervisor, which starts the manager.
fn supervisor_main(args: &cli::Args, files: Vec<std::path::PathBuf>) -> i32 {
    logging::init("supervisor", args.startup_logging());
    startup::greet();
    startup::check_config_dirs(&files);
    let loaded = match manager::load_config(&files) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    logging::apply(&loaded.config.logging);
    let rundir = loaded.config.rundir.path().to_path_buf();
    if let Err(e) = std::env::set_current_dir(&rundir) {
        tracing::error!("cannot change into the rundir '{}': {e}", rundir.display());
        return 1;
    }
    // Before any child exists: the setting is inherited by the manager and every kresd.
    startup::disable_transparent_huge_pages();
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "knot-resolver".into());
    let mut manager_argv =
        vec![exe, "--loglevel".into(), args.loglevel_name().into(), "--logtarget".into(), args.logtarget_name().into()];
    manager_argv.push("--config".into());
    manager_argv.extend(files.iter().map(|f| f.display().to_string()));
    let opts = supervisor::SupervisorOptions {
        rundir,
        manager_argv,
        manager_env: vec![],
        stop_timeout: manager::processes::STOP_TIMEOUT,
        manager_restart_limit: 5,
    };
    match supervisor::run(opts) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            1
        }
    }
}
