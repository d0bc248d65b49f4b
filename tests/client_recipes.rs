//! The classic load-average tutorial done with `nats-lite watch-host`
//! (it replaces the shell recipes that were in scripts/loadavg/): each
//! host publishes its load and processor count as JSON on a subject (the
//! tutorial's publisher), and warns once on an alert subject when its
//! load per processor goes above 0.6, clearing below 0.4 (the notifier).
//!
//! The load is fed through `--procfs`: a directory whose `loadavg` the
//! test rewrites, as a container reads the host's /proc mounted elsewhere.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::util::{ServerProcess, TempDir};
use crate::watch_host::Agent;

/// Write `procfs/loadavg` for a 1-minute load of `load1`, atomically.
fn set_load(procfs: &Path, load1: f64) {
    let tmp = procfs.join("loadavg.tmp");
    std::fs::write(&tmp, format!("{load1:.2} 0.10 0.05 1/100 4242\n")).unwrap();
    std::fs::rename(&tmp, procfs.join("loadavg")).unwrap();
}

/// Wait for a report with this 1-minute load.
fn report_with_load(agent: &mut Agent, load1: f64) -> Value {
    for _ in 0..100 {
        let r = agent.next_report();
        if (r["load1"].as_f64().unwrap() - load1).abs() < 0.005 {
            return r;
        }
    }
    panic!("no report with load1 {load1}");
}

#[test]
fn loadavg_notifier_warns_once_and_clears() {
    let server = ServerProcess::start(&[]);
    let mut sub = server.connect();
    sub.handshake("{}");
    sub.send("SUB stats.overload 1\r\n");
    sub.flush();
    let tmp = TempDir::new("loadavg-notifier");
    set_load(tmp.path(), 0.0);
    let url = server.url();
    // The README's notifier, with a short interval and a fake /proc.
    let mut agent = Agent::start(&[
        "-s",
        &url,
        "--interval",
        "200ms",
        "--json",
        "--procfs",
        tmp.path().to_str().unwrap(),
        "--disk",
        tmp.path().to_str().unwrap(),
        "--alert",
        "load_per_cpu>0.6",
        "--clear",
        "load_per_cpu<0.4",
        "--nats-subject",
        "stats.overload",
    ]);
    let cpus = agent.next_report()["cpus"].as_f64().unwrap();
    // Load per processor: fine, warn, still high, between the thresholds
    // (still warned), clear, warn again.
    for ratio in [0.25, 0.70, 0.80, 0.50, 0.30, 0.65] {
        let load1 = (ratio * cpus * 100.0_f64).round() / 100.0;
        set_load(tmp.path(), load1);
        report_with_load(&mut agent, load1);
    }
    let mut events = Vec::new();
    for _ in 0..3 {
        let (_, payload) = sub.read_msg();
        let v: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v["metric"], "load_per_cpu");
        events.push(format!(
            "{} {:.2}",
            v["event"].as_str().unwrap(),
            v["value"].as_f64().unwrap()
        ));
    }
    assert_eq!(events, ["alert 0.70", "clear 0.30", "alert 0.65"]);
    assert!(sub.is_quiet_for(Duration::from_millis(300)));
}

#[test]
fn loadavg_publisher_sends_host_load_and_cpus() {
    let server = ServerProcess::start(&[]);
    let mut sub = server.connect();
    sub.handshake("{}");
    sub.send("SUB stats.loadaverage 1\r\n");
    sub.flush();
    let tmp = TempDir::new("loadavg-publisher");
    set_load(tmp.path(), 1.23);
    let url = server.url();
    // The README's publisher for cron: one report and exit.
    let mut agent = Agent::start(&[
        "-s",
        &url,
        "--once",
        "--window",
        "50ms",
        "--quiet",
        "--procfs",
        tmp.path().to_str().unwrap(),
        "--disk",
        tmp.path().to_str().unwrap(),
        "--nats-metrics=stats.loadaverage",
    ]);
    assert!(agent.wait_exit().success());
    let (line, payload) = sub.read_msg();
    assert!(line.starts_with("MSG stats.loadaverage 1 "), "{line}");
    let v: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["load1"], 1.23);
    assert!(v["cpus"].as_u64().unwrap() >= 1);
    assert!(!v["host"].as_str().unwrap().is_empty());
}
