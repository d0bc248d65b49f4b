//! Linux: inotify, asked for exactly the events counted (create,
//! close-after-write, delete, moves) on every directory of each target.
//!
//! One thread blocks reading the inotify descriptor and keeps the watches
//! in step with the tree: a directory created or moved in is watched at
//! once, together with what is already under it; a directory moved out is
//! forgotten (its watches removed); a deleted one is dropped when the
//! kernel says so (`IN_IGNORED`). A directory created after start may have
//! files before its watch is in place: they are found by reading it right
//! after, counted as created (and closed after a write), and remembered so
//! that their own late notifications are not counted twice.
//!
//! When `fs.inotify.max_user_watches` is reached, the walk goes on and
//! counts every directory it could not watch; the count is in each
//! interval's figures and said on stderr once.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

use super::{log, Ignore, Tally};

/// How long a file found by reading a new directory waits for its own
/// notifications before it is forgotten.
const SCANNED_TTL: Duration = Duration::from_secs(10);

/// One watched directory.
struct Dir {
    target: usize,
    path: PathBuf,
    rel: PathBuf,
}

/// A file counted from a directory listing whose notifications may still come.
struct Scanned {
    create_pending: bool,
    close_pending: bool,
    at: Instant,
}

struct State {
    watches: Watches,
    targets: Vec<PathBuf>,
    ignore: Ignore,
    tally: Arc<Tally>,
    dirs: HashMap<WatchDescriptor, Dir>,
    by_path: HashMap<PathBuf, WatchDescriptor>,
    /// Cookies of files moved away whose arrival may follow.
    moved_from: HashSet<u32>,
    scanned: HashMap<PathBuf, Scanned>,
    /// Directories not watched, per target.
    unwatched: Vec<u64>,
    limit_said: bool,
    overflow_said: bool,
}

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::CLOSE_WRITE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::ONLYDIR
        | WatchMask::DONT_FOLLOW
        | WatchMask::EXCL_UNLINK
}

/// Watch the targets and start the reading thread.
pub fn start(targets: &[PathBuf], ignore: Ignore, tally: Arc<Tally>) -> io::Result<()> {
    let mut inotify = Inotify::init()?;
    let mut state = State {
        watches: inotify.watches(),
        targets: targets.to_vec(),
        ignore,
        tally,
        dirs: HashMap::new(),
        by_path: HashMap::new(),
        moved_from: HashSet::new(),
        scanned: HashMap::new(),
        unwatched: vec![0; targets.len()],
        limit_said: false,
        overflow_said: false,
    };
    for (i, t) in targets.iter().enumerate() {
        state.watch_tree(i, t.clone(), PathBuf::new(), false);
    }
    for (i, t) in targets.iter().enumerate() {
        if state.unwatched[i] > 0 {
            log(limit_message(t, state.unwatched[i]));
            state.limit_said = true;
        }
    }
    state.publish_unwatched();
    log(format!(
        "watching {} directories under {} (inotify)",
        state.dirs.len(),
        targets
            .iter()
            .map(|t| t.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    std::thread::Builder::new()
        .name("watch-files".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match inotify.read_events_blocking(&mut buf) {
                    Ok(events) => {
                        for e in events {
                            state.handle(e.wd, e.mask, e.cookie, e.name);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log(format!("reading inotify events failed: {e}; file changes are no longer counted"));
                        return;
                    }
                }
            }
        })?;
    Ok(())
}

impl State {
    fn publish_unwatched(&self) {
        for (i, n) in self.unwatched.iter().enumerate() {
            self.tally.update(i, |t| t.unwatched_dirs = *n);
        }
    }

    /// Watch `path` (at `rel` in target `target`) and the directories under
    /// it; with `scan`, count the files found as new.
    fn watch_tree(&mut self, target: usize, path: PathBuf, rel: PathBuf, scan: bool) {
        if self.ignore.ignores_dir(&rel) {
            return;
        }
        match self.watches.add(&path, mask()) {
            Ok(wd) => {
                self.by_path.insert(path.clone(), wd.clone());
                self.dirs.insert(
                    wd,
                    Dir {
                        target,
                        path: path.clone(),
                        rel: rel.clone(),
                    },
                );
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                self.unwatched[target] += 1;
            }
            // Gone already, or not a directory any more.
            Err(_) => return,
        }
        let Ok(entries) = std::fs::read_dir(&path) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let child_rel = rel.join(entry.file_name());
            if kind.is_dir() {
                self.watch_tree(target, entry.path(), child_rel, scan);
            } else if scan && !self.ignore.ignores_file(&child_rel) {
                self.count_scanned(target, entry.path());
            }
        }
    }

    /// A file found in a new directory: created, and closed after writing.
    fn count_scanned(&mut self, target: usize, path: PathBuf) {
        let now = Instant::now();
        self.scanned
            .retain(|_, s| now.duration_since(s.at) < SCANNED_TTL);
        if self.scanned.contains_key(&path) {
            return;
        }
        self.scanned.insert(
            path,
            Scanned {
                create_pending: true,
                close_pending: true,
                at: now,
            },
        );
        self.tally.update(target, |t| {
            t.counts.created += 1;
            t.counts.modified += 1;
        });
    }

    /// Forget the watches of `path` and everything under it.
    fn unwatch_tree(&mut self, path: &Path) {
        let gone: Vec<(PathBuf, WatchDescriptor)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.starts_with(path))
            .map(|(p, wd)| (p.clone(), wd.clone()))
            .collect();
        for (p, wd) in gone {
            self.by_path.remove(&p);
            self.dirs.remove(&wd);
            let _ = self.watches.remove(wd);
        }
    }

    fn handle(&mut self, wd: WatchDescriptor, mask: EventMask, cookie: u32, name: Option<&OsStr>) {
        if mask.contains(EventMask::Q_OVERFLOW) {
            self.tally.lost_events();
            if !self.overflow_said {
                self.overflow_said = true;
                log(
                    "the kernel's inotify queue overflowed: some changes were not counted \
                     (raise fs.inotify.max_queued_events)"
                        .into(),
                );
            }
            return;
        }
        if mask.contains(EventMask::IGNORED) {
            if let Some(dir) = self.dirs.remove(&wd) {
                if self.by_path.get(&dir.path) == Some(&wd) {
                    self.by_path.remove(&dir.path);
                }
            }
            return;
        }
        let (Some(dir), Some(name)) = (self.dirs.get(&wd), name) else {
            return;
        };
        let target = dir.target;
        let path = dir.path.join(name);
        let rel = dir.rel.join(name);
        if mask.contains(EventMask::ISDIR) {
            self.dir_event(target, path, rel, mask, cookie);
            return;
        }
        if self.ignore.ignores_file(&rel) {
            return;
        }
        if mask.contains(EventMask::CREATE) {
            if let Some(s) = self.scanned.get_mut(&path).filter(|s| s.create_pending) {
                s.create_pending = false;
                return;
            }
            self.tally.update(target, |t| t.counts.created += 1);
        } else if mask.contains(EventMask::CLOSE_WRITE) {
            if let Some(s) = self.scanned.get_mut(&path).filter(|s| s.close_pending) {
                s.close_pending = false;
                return;
            }
            self.tally.update(target, |t| t.counts.modified += 1);
        } else if mask.contains(EventMask::DELETE) {
            self.scanned.remove(&path);
            self.tally.update(target, |t| t.counts.deleted += 1);
        } else if mask.contains(EventMask::MOVED_FROM) {
            self.note_move_from(cookie);
            self.tally.update(target, |t| t.counts.moved += 1);
        } else if mask.contains(EventMask::MOVED_TO) && !self.moved_from.remove(&cookie) {
            self.tally.update(target, |t| t.counts.moved += 1);
        }
    }

    fn note_move_from(&mut self, cookie: u32) {
        // Moves out of the tree leave their cookie behind: keep it bounded.
        if self.moved_from.len() > 4096 {
            self.moved_from.clear();
        }
        self.moved_from.insert(cookie);
    }

    fn dir_event(
        &mut self,
        target: usize,
        path: PathBuf,
        rel: PathBuf,
        mask: EventMask,
        cookie: u32,
    ) {
        let before = self.unwatched[target];
        let counted = !self.ignore.ignores_dir(&rel);
        if mask.contains(EventMask::CREATE) {
            self.watch_tree(target, path, rel, true);
        } else if mask.contains(EventMask::MOVED_TO) {
            if !self.moved_from.remove(&cookie) && counted {
                self.tally.update(target, |t| t.counts.moved += 1);
            }
            self.watch_tree(target, path, rel, false);
        } else if mask.contains(EventMask::MOVED_FROM) {
            if counted {
                self.note_move_from(cookie);
                self.tally.update(target, |t| t.counts.moved += 1);
            }
            self.unwatch_tree(&path);
        }
        if self.unwatched[target] != before {
            self.publish_unwatched();
            if !self.limit_said {
                self.limit_said = true;
                log(limit_message(&self.targets[target], self.unwatched[target]));
            }
        }
    }
}

/// The message for directories left unwatched at the kernel's limit.
pub fn limit_message(target: &std::path::Path, unwatched: u64) -> String {
    let current = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .map(|s| format!(" ({})", s.trim()))
        .unwrap_or_default();
    format!(
        "{unwatched} directories under {} are not watched: the kernel's limit of inotify \
         watches is reached; raise fs.inotify.max_user_watches{current}, e.g. \
         `sysctl -w fs.inotify.max_user_watches=524288` (and the same line in \
         /etc/sysctl.d/ to keep it)",
        target.display()
    )
}
