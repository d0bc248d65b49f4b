//! `nats-lite bench` as a process: the pub/sub report and its message
//! counts, request/reply percentiles (responders in the same process, and
//! `bench reply` in another), the CSV file, and the exit codes of a run
//! that falls short, of a server that is not there and of bad flags. Small
//! `--msgs` everywhere: these check behaviour, not speed.

use std::net::TcpListener;

use crate::client_support::{each_server, lite, run_lite, Client, Done, RUN_TIMEOUT};
use crate::util::{ServerProcess, TempDir};

/// `nats-lite bench ARGS -s URL --no-progress`, run to completion.
fn bench(url: &str, args: &[&str]) -> Done {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-s", url, "--no-progress"]);
    run_lite(&all)
}

/// The line of `out` that starts (after blanks) with `prefix`.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

/// The `N msgs/sec` figure of a report line.
fn rate(l: &str) -> u64 {
    let before = l
        .split(" msgs/sec")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no rate in {l:?}"));
    before
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("bad rate in {l:?}"))
}

#[test]
fn pubsub_reports_rates() {
    each_server(&[], |_, srv| {
        let r = bench(&srv.url(), &["pubsub", "--msgs", "2000", "--size", "16"]);
        let out = r.assert_ok().out();
        assert!(rate(line(&out, "NATS Pub/Sub stats:")) > 0, "{out}");
        assert!(rate(line(&out, "Pub stats:")) > 0, "{out}");
        assert!(rate(line(&out, "Sub stats:")) > 0, "{out}");
        assert!(
            r.stderr
                .contains("Starting pub/sub benchmark on \"bench\" [msgs=2,000, size=16"),
            "{}",
            r.stderr
        );
    });
}

#[test]
fn several_clients_show_their_message_counts() {
    let srv = ServerProcess::start(&[]);
    let r = bench(
        &srv.url(),
        &[
            "--clients",
            "2",
            "--subs",
            "2",
            "--msgs",
            "2001",
            "--size",
            "16B",
        ],
    );
    let out = r.assert_ok().out();
    let lines: Vec<&str> = out.lines().collect();
    let pub_at = lines
        .iter()
        .position(|l| l.starts_with(" Pub stats:"))
        .unwrap();
    let sub_at = lines
        .iter()
        .position(|l| l.starts_with(" Sub stats:"))
        .unwrap();
    // The publishers share the messages; every subscriber gets them all.
    assert!(lines[pub_at + 1].starts_with("  [1] ") && lines[pub_at + 1].ends_with("(1001 msgs)"));
    assert!(lines[pub_at + 2].starts_with("  [2] ") && lines[pub_at + 2].ends_with("(1000 msgs)"));
    assert!(lines[pub_at + 3].starts_with("  min "), "{out}");
    assert!(lines[pub_at + 3].ends_with(" msgs"), "{out}");
    for i in 1..=2 {
        assert!(
            lines[sub_at + i].ends_with("(2001 msgs)"),
            "subscriber {i}:\n{out}"
        );
    }
    assert!(lines[sub_at + 3].contains(" | avg "), "{out}");
}

#[test]
fn request_prints_percentiles() {
    let srv = ServerProcess::start(&[]);
    let r = bench(
        &srv.url(),
        &[
            "request",
            "--responders",
            "1",
            "--msgs",
            "200",
            "--size",
            "16",
        ],
    );
    let out = r.assert_ok().out();
    assert!(rate(line(&out, "Request stats:")) > 0, "{out}");
    let l = line(&out, "Latency (µs, 200 requests):");
    for label in [
        "min ", "| p50 ", "| p90 ", "| p99 ", "| p99.9 ", "| max ", "| avg ",
    ] {
        assert!(l.contains(label), "no {label:?} in {l:?}");
    }
}

#[test]
fn request_and_reply_in_two_processes() {
    let srv = ServerProcess::start(&[]);
    let url = srv.url();
    let mut reply = Client::spawn(
        lite(&[
            "bench",
            "reply",
            "svc.echo",
            "--msgs",
            "150",
            "--clients",
            "2",
            "-s",
            &url,
            "--no-progress",
        ]),
        None,
    );
    reply.wait_stderr("Answering 150 requests on \"svc.echo\"");
    let r = bench(
        &url,
        &["request", "svc.echo", "--msgs", "150", "--clients", "3"],
    );
    let out = r.assert_ok().out();
    assert!(out.contains("Latency (µs, 150 requests):"), "{out}");
    assert_eq!(out.matches(" (50 msgs)").count(), 3, "{out}");
    let done = reply.finish(RUN_TIMEOUT);
    assert!(rate(line(&done.assert_ok().out(), "Reply stats:")) > 0);
}

#[test]
fn csv_has_the_header_and_a_row_per_client() {
    let srv = ServerProcess::start(&[]);
    let dir = TempDir::new("bench-csv");
    let file = dir.path().join("run.csv");
    let r = bench(
        &srv.url(),
        &[
            "--clients",
            "2",
            "--subs",
            "3",
            "--msgs",
            "1000",
            "--size",
            "1KiB",
            "--csv",
            file.to_str().unwrap(),
        ],
    );
    r.assert_ok();
    let csv = std::fs::read_to_string(&file).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "#RunID",
            "ClientID",
            "MsgCount",
            "MsgBytes",
            "MsgsPerSec",
            "BytesPerSec",
            "DurationSecs"
        ]
    );
    assert_eq!(rows.len(), 1 + 3 + 2, "{csv}");
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[1]).collect();
    assert_eq!(ids, ["S0", "S1", "S2", "P0", "P1"]);
    for row in &rows[1..] {
        assert_eq!(row.len(), 7, "{csv}");
        assert_eq!(row[0], rows[1][0], "one run id");
        let (count, bytes): (u64, u64) = (row[2].parse().unwrap(), row[3].parse().unwrap());
        assert_eq!(count, if row[1].starts_with('S') { 1000 } else { 500 });
        assert_eq!(bytes, count * 1024);
        assert!(row[6].parse::<f64>().unwrap() > 0.0);
    }
}

#[test]
fn a_subscriber_that_falls_short_reports_and_exits_1() {
    let srv = ServerProcess::start(&[]);
    let url = srv.url();
    let mut sub = Client::spawn(
        lite(&[
            "bench",
            "sub",
            "--msgs",
            "10",
            "--size",
            "2",
            "--timeout",
            "300ms",
            "-s",
            &url,
        ]),
        None,
    );
    sub.wait_stderr("Waiting for 10 messages on \"bench\"");
    run_lite(&["pub", "-q", "--count", "4", "-s", &url, "bench", "hi"]).assert_ok();
    let done = sub.finish(RUN_TIMEOUT);
    done.assert_fails(1, "subscriber 1 got 4 of 10 messages");
    assert!(done.out().starts_with("Sub stats: "), "{}", done.out());
}

#[test]
fn no_server_is_a_clear_failure() {
    // A port that was free a moment ago, with nothing listening now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let r = bench(&url, &["--msgs", "10"]);
    r.assert_fails(1, &format!("nats-lite: could not connect to {url}"));
    assert_eq!(r.out(), "", "no report without a run");
}

#[test]
fn bad_flags_are_usage_errors() {
    let r = run_lite(&["bench", "--size", "12XB"]);
    r.assert_fails(2, "invalid size \"12XB\"");
    let r = run_lite(&["bench", "pub", "--msgs", "0"]);
    r.assert_fails(2, "--msgs must be at least 1");
    let r = run_lite(&["bench", "sub", "--subs", "2"]);
    r.assert_fails(2, "--subs is for the pubsub mode");
}

#[test]
fn churn_makes_and_times_every_connection() {
    each_server(&[], |_, srv| {
        let r = bench(&srv.url(), &["churn", "--clients", "4", "--msgs", "200"]);
        let out = r.assert_ok().out();
        let churn = line(&out, "Churn stats:");
        assert!(churn.ends_with("conns/sec (200 connections)"), "{out}");
        assert!(
            line(&out, "Latency (µs, 200 connections):").contains("p99"),
            "{out}"
        );
        assert!(
            r.stderr
                .contains("Starting churn benchmark [connections=200, at a time=4]"),
            "{}",
            r.stderr
        );
    });
}

#[test]
fn publishers_on_their_own_subjects_reach_one_wildcard_subscriber() {
    each_server(&[], |_, srv| {
        let r = bench(
            &srv.url(),
            &[
                "pubsub",
                "--clients",
                "20",
                "--subs",
                "1",
                "--subject-per-publisher",
                "--msgs",
                "2000",
                "--size",
                "16",
            ],
        );
        let out = r.assert_ok().out();
        // Every publisher sent its share on bench.<n>, and the one
        // subscriber on bench.* had all of them.
        let shares = out.lines().filter(|l| l.ends_with("(100 msgs)")).count();
        assert_eq!(shares, 20, "{out}");
        assert!(rate(line(&out, "Sub stats:")) > 0, "{out}");
    });
}
