//! `nats-lite pub --trace` and `req --trace`: the trace printed as a tree
//! (and as JSON with `--json`), `--trace-only` delivering nothing, across a
//! two-server nats-lite cluster; and `pub --trace --json` against
//! nats-server 2.15, whose events the same code reads.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::client_support::{replier, run_lite};
use crate::cluster_support::{sync_interest, wait_mesh, Impl, Node};
use crate::util::{RawClient, ServerProcess};

const CONNECT: &str = r#"{"verbose":false,"headers":true,"protocol":1,"name":"watcher"}"#;

/// A subscriber on `foo` (after a PING/PONG, subscribed for sure).
fn watcher(server: &ServerProcess) -> RawClient {
    let mut c = server.client(CONNECT);
    c.send("SUB foo 1\r\n");
    c.send("PING\r\n");
    loop {
        let l = c.read_line();
        if l == "PONG" {
            return c;
        }
    }
}

/// The next MSG/HMSG payload on `c` within `wait`, if any.
fn delivered(c: &mut RawClient, wait: Duration) -> Option<String> {
    loop {
        let line = c.try_read_line(wait).ok()?;
        if line == "PING" {
            c.send("PONG\r\n");
            continue;
        }
        if !(line.starts_with("MSG ") || line.starts_with("HMSG ")) {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let total: usize = parts.last().unwrap().parse().unwrap();
        let hdr: usize = if parts[0] == "HMSG" {
            parts[parts.len() - 2].parse().unwrap()
        } else {
            0
        };
        let body = c.read_exact_bytes(total + 2);
        return Some(String::from_utf8_lossy(&body[hdr..total]).into_owned());
    }
}

#[test]
fn pub_trace_prints_the_tree_across_a_cluster() {
    let a = Node::clustered(Impl::Lite, &[], &["--name", "cli-a"]);
    let b = Node::clustered(Impl::Lite, &[a.route_url()], &["--name", "cli-b"]);
    let nodes = vec![a, b];
    wait_mesh(&nodes);
    let mut on_a = watcher(&nodes[0].server);
    let mut on_b = watcher(&nodes[1].server);
    let mut probe = nodes[0].server.client(CONNECT);
    sync_interest(&mut on_b, &mut probe);
    let url = nodes[0].url();

    let done = run_lite(&["pub", "-s", &url, "--trace", "foo", "hello"]);
    done.assert_ok();
    let out = done.out();
    assert!(
        out.contains("Tracing message route to subject \"foo\""),
        "{out}"
    );
    assert!(out.contains("server:\"cli-a\""), "{out}");
    assert!(out.contains("\n--C Client \"watcher\""), "{out}");
    assert!(out.contains("\n--> Route \"cli-b\""), "{out}");
    // The next server's event, indented under the route.
    assert!(out.contains("\n    Route \"cli-a\""), "{out}");
    assert!(out.contains("\n    --C Client \"watcher\""), "{out}");
    assert!(
        out.contains("Router: 1") && out.contains("Client: 2"),
        "{out}"
    );
    assert_eq!(
        delivered(&mut on_a, Duration::from_secs(5)).as_deref(),
        Some("hello")
    );
    assert_eq!(
        delivered(&mut on_b, Duration::from_secs(5)).as_deref(),
        Some("hello")
    );

    // --trace-only --json: two events (one per server), nothing delivered.
    let done = run_lite(&[
        "pub",
        "-s",
        &url,
        "--trace",
        "--trace-only",
        "--json",
        "--trace-wait",
        "500ms",
        "foo",
        "quiet",
    ]);
    done.assert_ok();
    let events: Vec<Value> = done
        .out()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    assert_eq!(events.len(), 2, "{}", done.out());
    assert!(events.iter().any(|e| e["hops"] == 1));
    assert!(delivered(&mut on_a, Duration::from_millis(300)).is_none());
    assert!(delivered(&mut on_b, Duration::from_millis(300)).is_none());
}

#[test]
fn req_trace_prints_the_reply_then_the_trace() {
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let _svc = replier(&["-s", &url, "--connection-name", "svc", "svc.echo", "pong"]);
    let done = run_lite(&["req", "-s", &url, "--trace", "svc.echo", "ping"]);
    done.assert_ok();
    let out = done.out();
    let reply = out.find("pong").expect("the reply");
    let tree = out.find("Tracing message route").expect("the trace");
    assert!(reply < tree, "{out}");
    assert!(out.contains("--C Client \"svc\""), "{out}");

    // Trace-only: no reply is awaited, and the responder never sees it.
    let done = run_lite(&[
        "req",
        "-s",
        &url,
        "--trace",
        "--trace-only",
        "svc.echo",
        "x",
    ]);
    done.assert_ok();
    assert!(!done.out().contains("pong"), "{}", done.out());
    assert!(done.out().contains("--C Client \"svc\""), "{}", done.out());

    // No subscriber: the trace shows the ingress only, and req fails as usual.
    let done = run_lite(&["req", "-s", &url, "--trace", "nobody.home", "x"]);
    assert_eq!(done.code(), 1);
    assert!(
        done.out().contains("subject:\"nobody.home\""),
        "{}",
        done.out()
    );
}

#[test]
fn pub_trace_reads_nats_server_2_15_events() {
    let Some(bin) = crate::trace_events::nats_server_2_15() else {
        return;
    };
    let server = ServerProcess::start_command(Command::new(bin), &[]);
    let mut sub = watcher(&server);
    let done = run_lite(&["pub", "-s", &server.url(), "--trace", "foo", "hi"]);
    done.assert_ok();
    let out = done.out();
    assert!(out.contains("version:\"2.15.1\""), "{out}");
    assert!(out.contains("--C Client \"watcher\" cid:"), "{out}");
    assert_eq!(
        delivered(&mut sub, Duration::from_secs(5)).as_deref(),
        Some("hi")
    );
}

#[test]
fn pub_trace_shows_why_the_message_was_refused() {
    let config = r#"authorization { users [
        {user: p, password: p, permissions: {publish: {deny: ["secret"]}}}
    ] }"#;
    let server = ServerProcess::start_selected_with_config(config, &[]);
    let url = format!("nats://p:p@{}", server.addr);
    let done = run_lite(&["pub", "-s", &url, "--trace", "secret", "x"]);
    assert_eq!(done.code(), 1, "{}", done.stderr);
    assert!(
        done.stderr.contains("Permissions Violation"),
        "{}",
        done.stderr
    );
    assert!(
        done.out()
            .contains("--X Error: Permissions Violation for Publish to \"secret\""),
        "{}",
        done.out()
    );
}
