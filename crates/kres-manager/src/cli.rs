//! Command line of `knot-resolver` (the same flags as the reference's entry point).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The packaged default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/knot-resolver/config.yaml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartupLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartupTarget {
    Stdout,
    Stderr,
    Syslog,
}

/// Knot Resolver - A modern, high-performance, modular DNS resolver with DNSSEC validation and advanced policy.
#[derive(Debug, Clone, Parser)]
#[command(name = "knot-resolver", version, about)]
pub struct Args {
    /// Startup logging level before the configuration is loaded.
    #[arg(long, value_enum, default_value = "notice")]
    pub loglevel: StartupLevel,
    /// Startup logging target before the configuration is loaded.
    #[arg(long, value_enum, default_value = "stdout")]
    pub logtarget: StartupTarget,
    /// Path to one or more YAML or JSON configuration files (deep-merged in order).
    #[arg(short = 'c', long = "config", value_name = "FILE", num_args = 1.., default_value = DEFAULT_CONFIG)]
    pub config: Vec<PathBuf>,
}

impl Args {
    /// The configuration files as absolute paths (the processes change their working directory to the rundir).
    pub fn absolute_config_files(&self) -> Vec<PathBuf> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        self.config.iter().map(|p| if p.is_absolute() { p.clone() } else { cwd.join(p) }).collect()
    }
}

impl Args {
    /// The `--loglevel` value as written on the command line.
    pub fn loglevel_name(&self) -> &'static str {
        match self.loglevel {
            StartupLevel::Debug => "debug",
            StartupLevel::Info => "info",
            StartupLevel::Notice => "notice",
            StartupLevel::Warning => "warning",
            StartupLevel::Error => "error",
            StartupLevel::Critical => "critical",
        }
    }
}

impl Args {
    /// The logging settings in force until the configuration is loaded.
    pub fn startup_logging(&self) -> crate::logging::Startup {
        let level = match self.loglevel {
            StartupLevel::Debug => 3,
            StartupLevel::Info | StartupLevel::Notice => 2,
            StartupLevel::Warning => 1,
            StartupLevel::Error | StartupLevel::Critical => 0,
        };
        let target = match self.logtarget {
            StartupTarget::Stdout => crate::logging::StartupTarget::Stdout,
            StartupTarget::Stderr => crate::logging::StartupTarget::Stderr,
            StartupTarget::Syslog => crate::logging::StartupTarget::Syslog,
        };
        crate::logging::Startup { level, target }
    }

    /// The `--logtarget` value as written on the command line.
    pub fn logtarget_name(&self) -> &'static str {
        match self.logtarget {
            StartupTarget::Stdout => "stdout",
            StartupTarget::Stderr => "stderr",
            StartupTarget::Syslog => "syslog",
        }
    }
}
