//! One interval's figures ([`Report`]) and their three shapes: the JSON
//! document (stdout `--json`, NATS), human lines (stdout), and a flat list
//! of named [`Sample`]s that Prometheus, CloudWatch and the alert rules
//! read. Pure.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value as Json};

use super::disk::DiskUsage;
use super::files::TargetFiles;
use super::system::{percent, Load, Memory};
use crate::civil::rfc3339_millis;

/// Everything collected at the end of one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// When it was collected.
    pub time: SystemTime,
    /// The host's name.
    pub host: String,
    /// The span the file counts cover.
    pub interval: Duration,
    /// Processors online.
    pub cpus: usize,
    /// Load average, where the platform has one.
    pub load: Option<Load>,
    /// Memory and swap, where known.
    pub memory: Option<Memory>,
    /// One per disk path.
    pub disks: Vec<DiskUsage>,
    /// One per target directory.
    pub files: Vec<TargetFiles>,
}

/// The label a sample may carry: which disk or which target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    /// The figure is about the filesystem of this path.
    Path(PathBuf),
    /// The figure is about this target directory.
    Target(PathBuf),
}

impl Label {
    /// Its name (`path` or `target`).
    pub fn key(&self) -> &'static str {
        match self {
            Label::Path(_) => "path",
            Label::Target(_) => "target",
        }
    }

    /// Its value.
    pub fn value(&self) -> String {
        match self {
            Label::Path(p) | Label::Target(p) => p.display().to_string(),
        }
    }
}

/// One named figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// One of [`METRICS`]' names.
    pub name: &'static str,
    /// Which disk or target, for per-disk and per-target figures.
    pub label: Option<Label>,
    /// The value.
    pub value: f64,
}

/// How a metric is described: name, help text, CloudWatch unit.
pub struct Metric {
    /// The name (Prometheus adds `watch_host_`).
    pub name: &'static str,
    /// One line for people.
    pub help: &'static str,
    /// The CloudWatch unit.
    pub unit: &'static str,
}

/// Every metric, in output order.
pub const METRICS: &[Metric] = &[
    m("cpus", "Processors online", "Count"),
    m("load1", "Load average over 1 minute", "None"),
    m("load5", "Load average over 5 minutes", "None"),
    m("load15", "Load average over 15 minutes", "None"),
    m(
        "load_per_cpu",
        "Load average over 1 minute per processor",
        "None",
    ),
    m(
        "load5_per_cpu",
        "Load average over 5 minutes per processor",
        "None",
    ),
    m(
        "load15_per_cpu",
        "Load average over 15 minutes per processor",
        "None",
    ),
    m("memory_total_bytes", "Physical memory", "Bytes"),
    m(
        "memory_available_bytes",
        "Memory available without swapping",
        "Bytes",
    ),
    m(
        "memory_used_bytes",
        "Memory in use (total less available)",
        "Bytes",
    ),
    m("memory_used_percent", "Memory in use, percent", "Percent"),
    m("swap_total_bytes", "Swap space", "Bytes"),
    m("swap_used_bytes", "Swap in use", "Bytes"),
    m("swap_used_percent", "Swap in use, percent", "Percent"),
    m("disk_total_bytes", "Size of the filesystem", "Bytes"),
    m("disk_used_bytes", "Bytes in use on the filesystem", "Bytes"),
    m(
        "disk_free_bytes",
        "Bytes an unprivileged user may still write",
        "Bytes",
    ),
    m(
        "disk_used_percent",
        "Filesystem use as df's Use%",
        "Percent",
    ),
    m("disk_inodes", "Inodes of the filesystem", "Count"),
    m("disk_inodes_used", "Inodes in use", "Count"),
    m("disk_inodes_free", "Inodes free", "Count"),
    m(
        "disk_inodes_used_percent",
        "Inodes in use, percent",
        "Percent",
    ),
    m(
        "files_created",
        "Files created in the last interval",
        "Count",
    ),
    m(
        "files_modified",
        "Files closed after a write in the last interval",
        "Count",
    ),
    m(
        "files_deleted",
        "Files deleted in the last interval",
        "Count",
    ),
    m(
        "files_moved",
        "Files and directories moved in the last interval",
        "Count",
    ),
    m(
        "file_changes",
        "All file changes in the last interval",
        "Count",
    ),
    m(
        "file_changes_per_second",
        "File changes per second over the last interval",
        "Count/Second",
    ),
    m(
        "unwatched_dirs",
        "Directories not watched (the watch limit was reached)",
        "Count",
    ),
];

const fn m(name: &'static str, help: &'static str, unit: &'static str) -> Metric {
    Metric { name, help, unit }
}

/// The description of metric `name`.
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

/// Round to `digits` decimals (for JSON and text that people read).
fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// `12.3 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl Report {
    /// Load per processor over 1, 5 and 15 minutes.
    fn per_cpu(&self) -> Option<[f64; 3]> {
        let n = self.cpus.max(1) as f64;
        self.load.map(|l| [l.one / n, l.five / n, l.fifteen / n])
    }

    /// Every figure as a sample.
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        let mut add = |name, label: Option<Label>, value| out.push(Sample { name, label, value });
        add("cpus", None, self.cpus as f64);
        if let (Some(l), Some(p)) = (self.load, self.per_cpu()) {
            add("load1", None, l.one);
            add("load5", None, l.five);
            add("load15", None, l.fifteen);
            add("load_per_cpu", None, p[0]);
            add("load5_per_cpu", None, p[1]);
            add("load15_per_cpu", None, p[2]);
        }
        if let Some(m) = self.memory {
            add("memory_total_bytes", None, m.total as f64);
            add("memory_available_bytes", None, m.available as f64);
            add("memory_used_bytes", None, m.used() as f64);
            add("memory_used_percent", None, percent(m.used(), m.total));
            add("swap_total_bytes", None, m.swap_total as f64);
            add("swap_used_bytes", None, m.swap_used() as f64);
            add(
                "swap_used_percent",
                None,
                percent(m.swap_used(), m.swap_total),
            );
        }
        for d in &self.disks {
            let l = || Some(Label::Path(d.path.clone()));
            add("disk_total_bytes", l(), d.total as f64);
            add("disk_used_bytes", l(), d.used as f64);
            add("disk_free_bytes", l(), d.free as f64);
            add("disk_used_percent", l(), d.used_percent());
            add("disk_inodes", l(), d.inodes_total as f64);
            add("disk_inodes_used", l(), d.inodes_used() as f64);
            add("disk_inodes_free", l(), d.inodes_free as f64);
            add("disk_inodes_used_percent", l(), d.inodes_used_percent());
        }
        let secs = self.interval.as_secs_f64();
        for f in &self.files {
            let l = || Some(Label::Target(f.target.clone()));
            add("files_created", l(), f.counts.created as f64);
            add("files_modified", l(), f.counts.modified as f64);
            add("files_deleted", l(), f.counts.deleted as f64);
            add("files_moved", l(), f.counts.moved as f64);
            add("file_changes", l(), f.counts.total() as f64);
            let rate = if secs > 0.0 {
                f.counts.total() as f64 / secs
            } else {
                0.0
            };
            add("file_changes_per_second", l(), rate);
            add("unwatched_dirs", l(), f.unwatched_dirs as f64);
        }
        out
    }

    /// The JSON document (one per interval on NATS, one line with `--json`).
    pub fn json(&self) -> Json {
        let mut v = json!({
            "time": rfc3339_millis(self.time),
            "host": self.host,
            "interval_s": self.interval.as_secs_f64(),
            "cpus": self.cpus,
        });
        if let (Some(l), Some(p)) = (self.load, self.per_cpu()) {
            v["load1"] = json!(l.one);
            v["load5"] = json!(l.five);
            v["load15"] = json!(l.fifteen);
            v["load_per_cpu"] = json!(round(p[0], 4));
            v["load5_per_cpu"] = json!(round(p[1], 4));
            v["load15_per_cpu"] = json!(round(p[2], 4));
        }
        if let Some(m) = self.memory {
            v["memory"] = json!({
                "total_bytes": m.total,
                "available_bytes": m.available,
                "used_bytes": m.used(),
                "used_percent": round(percent(m.used(), m.total), 2),
            });
            v["swap"] = json!({
                "total_bytes": m.swap_total,
                "used_bytes": m.swap_used(),
                "free_bytes": m.swap_free,
                "used_percent": round(percent(m.swap_used(), m.swap_total), 2),
            });
        }
        v["disks"] = self
            .disks
            .iter()
            .map(|d| {
                json!({
                    "path": d.path.display().to_string(),
                    "total_bytes": d.total,
                    "used_bytes": d.used,
                    "free_bytes": d.free,
                    "used_percent": round(d.used_percent(), 2),
                    "inodes_total": d.inodes_total,
                    "inodes_used": d.inodes_used(),
                    "inodes_free": d.inodes_free,
                    "inodes_used_percent": round(d.inodes_used_percent(), 2),
                })
            })
            .collect();
        let secs = self.interval.as_secs_f64();
        v["files"] = self
            .files
            .iter()
            .map(|f| {
                json!({
                    "target": f.target.display().to_string(),
                    "created": f.counts.created,
                    "modified": f.counts.modified,
                    "deleted": f.counts.deleted,
                    "moved": f.counts.moved,
                    "changes": f.counts.total(),
                    "changes_per_second": if secs > 0.0 { round(f.counts.total() as f64 / secs, 3) } else { 0.0 },
                    "unwatched_dirs": f.unwatched_dirs,
                    "lost_events": f.lost_events,
                })
            })
            .collect();
        v
    }

    /// Lines for people: the machine, then one per disk and per target.
    pub fn lines(&self) -> Vec<String> {
        let t = rfc3339_millis(self.time);
        let mut head = format!("{t} {}", self.host);
        match (self.load, self.per_cpu()) {
            (Some(l), Some(p)) => head.push_str(&format!(
                " load {:.2} {:.2} {:.2}, {:.2} per cpu ({} cpus)",
                l.one, l.five, l.fifteen, p[0], self.cpus
            )),
            _ => head.push_str(&format!(" {} cpus", self.cpus)),
        }
        if let Some(m) = self.memory {
            head.push_str(&format!(
                "; memory {:.1}% of {} used; swap {:.1}% of {} used",
                percent(m.used(), m.total),
                human_bytes(m.total),
                percent(m.swap_used(), m.swap_total),
                human_bytes(m.swap_total)
            ));
        }
        let mut lines = vec![head];
        for d in &self.disks {
            lines.push(format!(
                "{t} disk {} {:.1}% used, {} free of {}; inodes {:.1}% used",
                d.path.display(),
                d.used_percent(),
                human_bytes(d.free),
                human_bytes(d.total),
                d.inodes_used_percent()
            ));
        }
        for f in &self.files {
            let mut l = format!(
                "{t} files {}: {} created, {} modified, {} deleted, {} moved",
                f.target.display(),
                f.counts.created,
                f.counts.modified,
                f.counts.deleted,
                f.counts.moved
            );
            if f.unwatched_dirs > 0 {
                l.push_str(&format!("; {} directories not watched", f.unwatched_dirs));
            }
            if f.lost_events {
                l.push_str("; events were lost, counts are low");
            }
            lines.push(l);
        }
        lines
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::files::Counts;
    use super::*;
    use std::time::UNIX_EPOCH;

    pub fn sample_report() -> Report {
        Report {
            time: UNIX_EPOCH,
            host: "h1".into(),
            interval: Duration::from_secs(60),
            cpus: 2,
            load: Some(Load {
                one: 1.5,
                five: 1.0,
                fifteen: 0.5,
            }),
            memory: Some(Memory {
                total: 8 << 30,
                available: 6 << 30,
                swap_total: 0,
                swap_free: 0,
            }),
            disks: vec![DiskUsage {
                path: "/".into(),
                total: 100 << 30,
                used: 60 << 30,
                free: 35 << 30,
                inodes_total: 1000,
                inodes_free: 900,
            }],
            files: vec![TargetFiles {
                target: "/tmp".into(),
                counts: Counts {
                    created: 3,
                    modified: 5,
                    deleted: 1,
                    moved: 0,
                },
                totals: Counts::default(),
                unwatched_dirs: 0,
                lost_events: false,
            }],
        }
    }

    #[test]
    fn lines_and_json() {
        let r = sample_report();
        assert_eq!(
            r.lines(),
            [
                "1970-01-01T00:00:00.000Z h1 load 1.50 1.00 0.50, 0.75 per cpu (2 cpus); \
                 memory 25.0% of 8.0 GiB used; swap 0.0% of 0 B used",
                "1970-01-01T00:00:00.000Z disk / 63.2% used, 35.0 GiB free of 100.0 GiB; \
                 inodes 10.0% used",
                "1970-01-01T00:00:00.000Z files /tmp: 3 created, 5 modified, 1 deleted, 0 moved",
            ]
        );
        let v = r.json();
        assert_eq!(v["load_per_cpu"], 0.75);
        assert_eq!(v["disks"][0]["used_percent"], 63.16);
        assert_eq!(v["files"][0]["changes"], 9);
        assert_eq!(v["files"][0]["changes_per_second"], 0.15);
    }

    #[test]
    fn every_sample_is_described() {
        for s in sample_report().samples() {
            assert!(metric(s.name).is_some(), "{}", s.name);
        }
    }
}
