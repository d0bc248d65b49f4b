//! Flags and config file to the resolved [`Plan`]: what to watch, what to
//! ignore, how often to report, and where the reports go. A flag wins over
//! the file's key of the same meaning; lists (targets, disks, ignore rules)
//! add up.

use std::path::PathBuf;
use std::time::Duration;

use super::files::Backend;
use super::ignore::Ignore;
use super::system::hostname;
use super::WatchHostArgs;
use crate::error::{Error, Result};
use crate::protocol::subject::is_valid_literal_subject;

/// Time between reports.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// `--once`: how long file changes are counted.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// Everything `watch-host` will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Directories whose changes are counted.
    pub targets: Vec<PathBuf>,
    /// What is not counted.
    pub ignore: Ignore,
    /// Paths whose filesystems are reported.
    pub disks: Vec<PathBuf>,
    /// Time between reports.
    pub interval: Duration,
    /// `--once`: one report after `window`.
    pub once: bool,
    /// With `once`: the counting window.
    pub window: Duration,
    /// Stdout as JSON lines.
    pub json: bool,
    /// Nothing on stdout.
    pub quiet: bool,
    /// Publish reports on this NATS subject.
    pub nats_metrics: Option<String>,
    /// Serve /metrics here.
    pub listen: Option<String>,
    /// Write the node_exporter textfile here.
    pub textfile: Option<PathBuf>,
    /// The file watcher.
    pub backend: Backend,
    /// This host's name.
    pub host: String,
    /// Things that work but should be written differently.
    pub warnings: Vec<String>,
}

/// Resolve the flags (and the file, if any).
///
/// # Errors
///
/// A usage error: a bad flag value or file.
pub fn plan(args: &WatchHostArgs) -> Result<Plan> {
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);
    if interval.is_zero() {
        return Err(Error::usage("--interval must be more than 0"));
    }
    let window = args.window.unwrap_or(DEFAULT_WINDOW);
    let disks = if args.disks.is_empty() {
        super::disk::default_paths()
    } else {
        args.disks.clone()
    };
    let host = hostname();
    let nats_metrics = match args.nats_metrics.as_deref() {
        None => None,
        Some("") => Some(default_subject(&host)),
        Some(s) => Some(s.to_string()),
    };
    if let Some(s) = &nats_metrics {
        if !is_valid_literal_subject(s.as_bytes()) {
            return Err(Error::usage(format!(
                "invalid --nats-metrics subject {s:?}: a subject to publish to has no spaces or wildcards"
            )));
        }
    }
    Ok(Plan {
        targets: args.targets.clone(),
        ignore: Ignore::new(
            &args.ignore_extensions,
            &args.ignore_globs,
            args.ignore_dot_directories,
        ),
        disks,
        interval,
        once: args.once,
        window,
        json: args.json,
        quiet: args.quiet,
        nats_metrics,
        listen: args.listen.clone(),
        textfile: args.textfile.clone(),
        backend: args.watch_backend,
        host,
        warnings: Vec::new(),
    })
}

/// `host.metrics.<hostname>`, the host name's dots and anything a subject
/// token cannot hold made `_`.
pub fn default_subject(host: &str) -> String {
    let token: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("host.metrics.{token}")
}
