//! Every platform but Linux (and Linux with `--watch-backend notify`): the
//! `notify` crate's recommended watcher, recursive, which is native on each
//! (FSEvents, ReadDirectoryChangesW, kqueue, inotify). It follows new
//! directories itself. What it cannot tell apart is said once: without
//! close-after-write notifications, `modified` counts write notifications.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};

use super::{log, Ignore, Tally};
use crate::error::{Error, Result};

/// Watch the targets recursively and start the counting thread.
pub fn start(targets: &[PathBuf], ignore: Ignore, tally: Arc<Tally>) -> Result<()> {
    let (tx, rx) = mpsc::channel::<notify::Result<Event>>();
    let mut watcher = notify::recommended_watcher(tx)
        .map_err(|e| Error::usage(format!("cannot watch files: {e}")))?;
    for t in targets {
        if let Err(e) = watcher.watch(t, RecursiveMode::Recursive) {
            match e.kind {
                notify::ErrorKind::MaxFilesWatch => log(format!(
                    "some directories under {} are not watched: the system's limit of \
                     watches is reached",
                    t.display()
                )),
                _ => return Err(Error::usage(format!("cannot watch {}: {e}", t.display()))),
            }
        }
    }
    if !cfg!(target_os = "linux") {
        log(
            "this platform does not notify closes after a write: `modified` counts write \
             notifications"
                .into(),
        );
    }
    log(format!(
        "watching {} (notify)",
        targets
            .iter()
            .map(|t| t.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let targets = targets.to_vec();
    std::thread::Builder::new()
        .name("watch-files".into())
        .spawn(move || {
            // The watcher lives as long as this thread.
            let _watcher = watcher;
            let mut moved_from = HashSet::new();
            for res in rx {
                match res {
                    Ok(event) => count(&event, &targets, &ignore, &tally, &mut moved_from),
                    Err(e) => log(format!("file notifications: {e}")),
                }
            }
        })
        .map_err(|e| Error::io("starting the file watcher", e))?;
    Ok(())
}

/// Which target holds `path`, and where in it.
fn locate<'a>(targets: &[PathBuf], path: &'a Path) -> Option<(usize, &'a Path)> {
    targets
        .iter()
        .enumerate()
        .filter_map(|(i, t)| path.strip_prefix(t).ok().map(|rel| (i, rel)))
        .max_by_key(|(i, _)| targets[*i].as_os_str().len())
}

fn count(
    event: &Event,
    targets: &[PathBuf],
    ignore: &Ignore,
    tally: &Tally,
    moved_from: &mut HashSet<usize>,
) {
    if event.need_rescan() {
        tally.lost_events();
        return;
    }
    let Some(path) = event.paths.first() else {
        return;
    };
    let Some((target, rel)) = locate(targets, path) else {
        return;
    };
    if rel.as_os_str().is_empty() || ignore.ignores_file(rel) {
        return;
    }
    let close_write_events = cfg!(target_os = "linux");
    let field: Option<fn(&mut super::Counts)> = match event.kind {
        EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder) => None,
        EventKind::Create(_) if !path.is_dir() => Some(|c| c.created += 1),
        EventKind::Access(AccessKind::Close(AccessMode::Write)) if close_write_events => {
            Some(|c| c.modified += 1)
        }
        EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any)
            if !close_write_events && !path.is_dir() =>
        {
            Some(|c| c.modified += 1)
        }
        EventKind::Remove(_) => Some(|c| c.deleted += 1),
        EventKind::Modify(ModifyKind::Name(mode)) => match (mode, event.tracker()) {
            (RenameMode::Both, _) => None,
            (RenameMode::From, Some(cookie)) => {
                if moved_from.len() > 4096 {
                    moved_from.clear();
                }
                moved_from.insert(cookie);
                Some(|c| c.moved += 1)
            }
            (RenameMode::To, Some(cookie)) if moved_from.remove(&cookie) => None,
            _ => Some(|c| c.moved += 1),
        },
        _ => None,
    };
    if let Some(f) = field {
        tally.update(target, |t| f(&mut t.counts));
    }
}
