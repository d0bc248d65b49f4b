//! The classic load-average tutorial done with nats-lite alone
//! (scripts/loadavg/): a publisher of `hostname load nproc` on
//! `stats.loadaverage`, and a notifier that warns once per host when the
//! load per processor goes above 0.6 and clears below 0.4.

use std::path::PathBuf;
use std::process::Command;

use crate::client_support::{lite, run, Client, RUN_TIMEOUT};
use crate::util::{nats_lite_bin, ServerProcess};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/loadavg")
        .join(name)
}

fn with_env(mut cmd: Command, server: &ServerProcess) -> Command {
    cmd.env("NATS_URL", server.url())
        .env("NATS_LITE", nats_lite_bin());
    cmd
}

#[test]
fn loadavg_notifier_warns_once_and_clears() {
    let server = ServerProcess::start(&[]);
    let loads = [
        "web1 0.50 2", // 0.25: fine
        "web1 1.40 2", // 0.70: warn
        "web1 1.60 2", // 0.80: already warned
        "db1 3.00 4",  // 0.75: warn for db1
        "web1 1.00 2", // 0.50: between the thresholds, still warned
        "web1 0.60 2", // 0.30: clear
        "db1 1.00 4",  // 0.25: clear
        "web1 1.30 2", // 0.65: warn again
    ];
    let mut cmd = with_env(Command::new("sh"), &server);
    cmd.arg(script("notify.sh"))
        .env("LOADAVG_COUNT", loads.len().to_string());
    let mut notifier = Client::spawn(cmd, None);
    notifier.wait_stderr("Subscribing on");
    for load in loads {
        run(
            with_env(
                lite(&["pub", "--quiet", "stats.loadaverage", load]),
                &server,
            ),
            None,
        )
        .assert_ok();
    }
    let done = notifier.finish(RUN_TIMEOUT);
    done.assert_ok();
    let out = done.out();
    let lines: Vec<&str> = out
        .lines()
        .map(|l| l.split(" load").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "WARNING: web1",
            "WARNING: db1",
            "OK: web1",
            "OK: db1",
            "WARNING: web1"
        ],
        "notifier output:\n{}",
        out
    );
}

#[test]
fn loadavg_publisher_sends_host_load_and_cpus() {
    let server = ServerProcess::start(&[]);
    let mut sub = Client::spawn(
        with_env(
            lite(&["sub", "--raw", "--count", "1", "stats.loadaverage"]),
            &server,
        ),
        None,
    );
    sub.wait_stderr("Subscribing on");
    let mut publisher = with_env(Command::new("sh"), &server);
    publisher.arg(script("publish.sh"));
    run(publisher, None).assert_ok();
    let done = sub.finish(RUN_TIMEOUT);
    done.assert_ok();
    let line = done.out();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "got {line:?}");
    assert!(fields[1].parse::<f64>().is_ok(), "load in {line:?}");
    assert!(fields[2].parse::<u32>().unwrap() >= 1, "cpus in {line:?}");
}
