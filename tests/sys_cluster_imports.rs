//! Account imports across a cluster: a request published on one server in
//! the importing account reaches the exporting account's responder on
//! another server, and the reply comes back (the exporter's `_R_.` reply
//! subjects are routed back to the server that made them); a stream import
//! delivers to a subscriber on another server; the system account's CONNZ,
//! imported by an ordinary account, is answered by every server. Two and
//! three clustered servers; checked against nats-server 2.9.10 with
//! `NATS_TEST_REFERENCE=1`; and a mixed cluster of nats-lite and
//! nats-server, each side requester and responder.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster_support::{seed_cluster_with, Impl, Node};
use crate::config_support::ConfDir;
use crate::sys_requests::{next_msg, send_request};
use crate::util::{is_reference, RawClient};

const CONF: &str = r#"
accounts {
  SYS { users [ {user: sys, password: sys} ] }
  A {
    users [ {user: a, password: a} ]
    exports [ {service: "svc.>"}, {stream: "ev.>"} ]
  }
  B {
    users [ {user: b, password: b} ]
    imports [
      {service: {account: A, subject: "svc.time"}, to: "time"}
      {stream: {account: A, subject: "ev.>"}, prefix: "from_a"}
    ]
  }
}
system_account: SYS
cluster { name: ctest, listen: "127.0.0.1:-1" }
"#;

fn kind() -> Impl {
    if is_reference() {
        Impl::Reference
    } else {
        Impl::Lite
    }
}

fn login(node: &Node, user: &str) -> RawClient {
    crate::sys_requests::login(&node.server, user)
}

/// Retry `attempt` until it is true: interest crosses the routes shortly
/// after a subscription is made.
fn eventually(what: &str, mut attempt: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !attempt() {
        assert!(Instant::now() < deadline, "{what}");
    }
}

#[test]
fn service_import_with_the_responder_on_another_server() {
    let dir = ConfDir::new("sys-cluster-imports");
    let conf = dir.write("node.conf", CONF);
    let nodes = seed_cluster_with(&[kind(), kind()], &["-c", &conf]);
    let mut responder = login(&nodes[1], "a");
    responder.send("SUB svc.time 1\r\n");
    responder.ping_pong();
    let mut requester = login(&nodes[0], "b");
    request_across(&mut requester, &mut responder, "req");
}

#[test]
fn stream_import_and_system_connz_across_servers() {
    let dir = ConfDir::new("sys-cluster-streams");
    let conf = dir.write("node.conf", CONF);
    let nodes = seed_cluster_with(&[kind(), kind(), kind()], &["-c", &conf]);
    let mut b = login(&nodes[0], "b");
    b.send("SUB from_a.> 1\r\n");
    b.ping_pong();
    let mut a = login(&nodes[2], "a");
    eventually("a stream message crosses", || {
        a.send("PUB ev.x 1\r\nx\r\n");
        a.ping_pong();
        b.try_read_line(Duration::from_millis(300))
            .is_ok_and(|l| l == "MSG from_a.ev.x 1 1")
    });
    assert_eq!(b.read_line(), "x");
    // Account B's CONNZ from every server: B's one connection is on the first.
    let mut totals = Vec::new();
    let mut n = 0;
    eventually("every server answers B's CONNZ", || {
        n += 1;
        let inbox = format!("_INBOX.connz{n}");
        send_request(&mut b, &inbox, "$SYS.REQ.SERVER.PING.CONNZ", "");
        b.send("PING\r\n");
        let mut ids = BTreeSet::new();
        totals.clear();
        let round = Instant::now() + Duration::from_millis(1500);
        while ids.len() < 3 {
            let Ok(line) = b.try_read_line(round.saturating_duration_since(Instant::now())) else {
                break;
            };
            if !line.starts_with(&format!("MSG {inbox} ")) {
                continue;
            }
            let size: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
            let payload = b.read_exact_bytes(size + 2);
            let v: Value = serde_json::from_slice(&payload[..size]).unwrap();
            ids.insert(v["server"]["id"].as_str().unwrap().to_string());
            totals.push(v["data"]["total"].as_u64().unwrap());
        }
        ids.len() == 3
    });
    totals.sort();
    assert_eq!(totals, [0, 0, 1]);
}

/// One request over a service import, `requester` and `responder` on
/// different servers; waits for the responder's interest to cross first.
fn request_across(requester: &mut RawClient, responder: &mut RawClient, tag: &str) {
    let mut n = 0;
    eventually("the request reaches the responder", || {
        n += 1;
        let inbox = format!("_INBOX.{tag}{n}");
        send_request(requester, &inbox, "time", "now?");
        // No responders (A's subscription has not crossed yet) comes
        // before the PONG.
        requester.send("PING\r\n");
        let mut no_responders = false;
        loop {
            let line = requester.read_line();
            if line == "PONG" {
                return !no_responders;
            }
            if line == "PING" {
                requester.send("PONG\r\n");
                continue;
            }
            assert!(line.starts_with(&format!("HMSG {inbox} ")), "{line}");
            let size: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
            let status = requester.read_exact_bytes(size + 2);
            assert!(status.starts_with(b"NATS/1.0 503"), "{line}");
            no_responders = true;
        }
    });
    let (head, _) = next_msg(responder);
    assert!(head.contains(" svc.time 1 _R_."), "{head}");
    let reply = head.split(' ').nth(3).unwrap().to_string();
    responder.send(format!("PUB {reply} 4\r\nnoon\r\n"));
    responder.ping_pong();
    let (head, payload) = next_msg(requester);
    assert!(head.starts_with(&format!("MSG _INBOX.{tag}{n} ")), "{head}");
    assert_eq!(payload, b"noon");
}

#[test]
fn mixed_cluster_with_nats_server() {
    if crate::util::nats_server_or_skip().is_none() {
        return;
    }
    let dir = ConfDir::new("sys-cluster-mixed");
    let conf = dir.write("node.conf", CONF);
    let nodes = seed_cluster_with(&[Impl::Lite, Impl::Reference], &["-c", &conf]);
    // Both ways: requester on nats-lite, responder on nats-server, and back.
    for (req, resp) in [(0, 1), (1, 0)] {
        let mut responder = login(&nodes[resp], "a");
        responder.send("SUB svc.time 1\r\n");
        responder.ping_pong();
        let mut requester = login(&nodes[req], "b");
        request_across(&mut requester, &mut responder, &format!("m{req}"));
        // Gone before the next round (a closing connection's subscription
        // could still take that round's first request).
        responder.send("UNSUB 1\r\n");
        responder.ping_pong();
    }
    // A PING from either server is answered by both.
    for node in &nodes {
        let mut sys = login(node, "sys");
        let mut n = 0;
        eventually("both servers answer", || {
            n += 1;
            let inbox = format!("_INBOX.mixed{n}");
            send_request(&mut sys, &inbox, "$SYS.REQ.SERVER.PING", "");
            sys.send("PING\r\n");
            let mut versions = BTreeSet::new();
            let round = Instant::now() + Duration::from_millis(1500);
            while versions.len() < 2 {
                let left = round.saturating_duration_since(Instant::now());
                let Ok(line) = sys.try_read_line(left) else {
                    break;
                };
                if !line.starts_with(&format!("MSG {inbox} ")) {
                    continue;
                }
                let size: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
                let payload = sys.read_exact_bytes(size + 2);
                let v: Value = serde_json::from_slice(&payload[..size]).unwrap();
                assert!(v["statsz"]["routes"].is_array(), "{v}");
                versions.insert(v["server"]["ver"].as_str().unwrap().to_string());
            }
            versions.len() == 2
        });
    }
}
