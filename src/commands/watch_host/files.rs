//! File-change counts per target directory: created, modified (closed
//! after a write), deleted and moved, from the kernel's notifications, never
//! from scans. The counts add up in a shared [`Tally`] that the collector
//! takes and resets once per interval.
//!
//! Two backends fill it: [`inotify_backend`] on Linux (only the events it
//! counts, recursive watches it keeps itself, and the exact number of
//! directories left unwatched at the kernel's limit) and [`notify_backend`]
//! elsewhere (the `notify` crate's native recursive watchers: FSEvents,
//! ReadDirectoryChangesW, kqueue). Both run one thread that blocks on the
//! kernel: no polling, no cost while nothing changes.

#[cfg(target_os = "linux")]
mod inotify_backend;
mod notify_backend;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::ignore::Ignore;
use crate::error::{Error, Result};

/// Changes counted over one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Files created.
    pub created: u64,
    /// Files closed after a write (elsewhere than Linux: write notifications).
    pub modified: u64,
    /// Files deleted.
    pub deleted: u64,
    /// Files and directories renamed or moved in or out.
    pub moved: u64,
}

impl Counts {
    /// All changes.
    pub fn total(&self) -> u64 {
        self.created + self.modified + self.deleted + self.moved
    }
}

/// One target's figures for an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFiles {
    /// The directory as configured.
    pub target: PathBuf,
    /// What changed in the interval.
    pub counts: Counts,
    /// What changed since the agent started (Prometheus counters).
    pub totals: Counts,
    /// Directories under it that are not watched (the watch limit).
    pub unwatched_dirs: u64,
    /// The kernel dropped events in this interval: the counts are low.
    pub lost_events: bool,
}

/// The running counts, shared by the watcher thread and the collector.
#[derive(Debug)]
pub struct Tally {
    targets: Mutex<Vec<TargetFiles>>,
}

impl Tally {
    fn new(targets: &[PathBuf]) -> Tally {
        Tally {
            targets: Mutex::new(
                targets
                    .iter()
                    .map(|t| TargetFiles {
                        target: t.clone(),
                        counts: Counts::default(),
                        totals: Counts::default(),
                        unwatched_dirs: 0,
                        lost_events: false,
                    })
                    .collect(),
            ),
        }
    }

    /// Change target `i`'s figures.
    fn update(&self, i: usize, f: impl FnOnce(&mut TargetFiles)) {
        let mut t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = t.get_mut(i) {
            f(t);
        }
    }

    /// Mark every target's counts as incomplete.
    fn lost_events(&self) {
        let mut t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        for t in t.iter_mut() {
            t.lost_events = true;
        }
    }

    /// The figures since the last take, leaving them be.
    pub fn peek(&self) -> Vec<TargetFiles> {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The figures since the last take; the counts start again from 0.
    pub fn take(&self) -> Vec<TargetFiles> {
        let mut t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        for t in t.iter_mut() {
            t.totals.created += t.counts.created;
            t.totals.modified += t.counts.modified;
            t.totals.deleted += t.counts.deleted;
            t.totals.moved += t.counts.moved;
        }
        let out = t.clone();
        for t in t.iter_mut() {
            t.counts = Counts::default();
            t.lost_events = false;
        }
        out
    }
}

/// Which notification mechanism counts the changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// inotify on Linux, the notify crate elsewhere.
    Native,
    /// The notify crate on every platform.
    Notify,
}

/// Log a line on stderr.
fn log(line: String) {
    eprintln!("nats-lite: watch-host: {line}");
}

/// Watch `targets` (directories) and count their changes into the returned
/// tally from now on. Returns once the initial watches are in place.
///
/// # Errors
///
/// A target is not a directory, or the notification mechanism could not
/// start.
pub fn start(targets: &[PathBuf], ignore: Ignore, backend: Backend) -> Result<Arc<Tally>> {
    for t in targets {
        if !t.is_dir() {
            return Err(Error::usage(format!(
                "{}: not a directory (targets are directories to watch)",
                t.display()
            )));
        }
    }
    let tally = Arc::new(Tally::new(targets));
    if targets.is_empty() {
        return Ok(tally);
    }
    #[cfg(target_os = "linux")]
    if backend == Backend::Native {
        inotify_backend::start(targets, ignore, tally.clone())
            .map_err(|e| Error::io("starting inotify", e))?;
        return Ok(tally);
    }
    let _ = backend;
    notify_backend::start(targets, ignore, tally.clone())?;
    Ok(tally)
}
