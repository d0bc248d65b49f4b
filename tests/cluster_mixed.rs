//! Mixed clusters of nats-lite and the real nats-server (when installed):
//! the mesh forms through either kind of seed, and messages, headers,
//! replies and queue groups cross in both directions exactly as in a
//! cluster of one kind.

use std::time::Duration;

use crate::cluster_support::{collect, publish_n, seed_cluster, sync_interest, Impl, Node};
use crate::util::nats_server_or_skip;

const QUIET: Duration = Duration::from_millis(300);

fn have_reference() -> bool {
    nats_server_or_skip().is_some()
}

/// Every ordered pair of nodes: a subscriber on one gets what a client of
/// the other publishes (plain, reply, headers), once.
fn check_pairs(nodes: &[Node]) {
    for (i, src) in nodes.iter().enumerate() {
        for (j, dst) in nodes.iter().enumerate() {
            if i == j {
                continue;
            }
            let subject = format!("pair.{i}.{j}");
            let mut sub = dst.client();
            sub.send(format!("SUB {subject} 1\r\nSUB pair.*.{j} 2\r\n"));
            sub.flush();
            let mut publisher = src.client();
            sync_interest(&mut sub, &mut publisher);
            publisher.send(format!(
                "PUB {subject} r.{i} 2\r\nhi\r\nHPUB {subject} 18 20\r\nNATS/1.0\r\nA: 1\r\n\r\nho\r\n"
            ));
            publisher.flush();
            let mut lines: Vec<String> = (0..4)
                .map(|_| {
                    let (l, b) = sub.read_msg();
                    format!("{l} {}", String::from_utf8_lossy(&b))
                })
                .collect();
            lines.sort();
            let mut want = vec![
                format!("MSG {subject} 1 r.{i} 2 hi"),
                format!("MSG {subject} 2 r.{i} 2 hi"),
                format!("HMSG {subject} 1 18 20 NATS/1.0\r\nA: 1\r\n\r\nho"),
                format!("HMSG {subject} 2 18 20 NATS/1.0\r\nA: 1\r\n\r\nho"),
            ];
            want.sort();
            assert_eq!(lines, want, "{:?} -> {:?}", nodes[i].kind, nodes[j].kind);
            assert!(
                sub.is_quiet_for(QUIET),
                "{:?} -> {:?}: extra",
                src.kind,
                dst.kind
            );
        }
    }
}

/// One queue member and one plain subscriber per node; a client of each
/// node in turn publishes: every message once in the group, once per
/// plain subscriber.
fn check_queues(nodes: &[Node]) {
    for (p, publisher_node) in nodes.iter().enumerate() {
        let subject = format!("mq.{p}");
        let mut subs: Vec<_> = nodes.iter().map(Node::client).collect();
        for s in &mut subs {
            s.send(format!("SUB {subject} grp 1\r\nSUB {subject} 2\r\n"));
            s.flush();
        }
        let mut publisher = publisher_node.client();
        for s in &mut subs {
            sync_interest(s, &mut publisher);
        }
        const N: usize = 200;
        publish_n(&mut publisher, &subject, "q", N);
        let mut queued = Vec::new();
        for (i, s) in subs.iter_mut().enumerate() {
            let got = collect(s, N, QUIET);
            assert_eq!(
                got.get("2").map_or(0, Vec::len),
                N,
                "publisher on {:?}, plain subscriber on {:?}",
                publisher_node.kind,
                nodes[i].kind
            );
            queued.extend(got.get("1").cloned().unwrap_or_default());
        }
        let total = queued.len();
        queued.sort();
        queued.dedup();
        assert_eq!(
            (total, queued.len()),
            (N, N),
            "publisher on {:?}: queue deliveries (total, distinct)",
            publisher_node.kind
        );
    }
}

#[test]
fn mixed_cluster_with_a_nats_server_seed() {
    if !have_reference() {
        return;
    }
    let nodes = seed_cluster(&[Impl::Reference, Impl::Lite, Impl::Lite]);
    check_pairs(&nodes);
    check_queues(&nodes);
}

#[test]
fn mixed_cluster_with_a_nats_lite_seed() {
    if !have_reference() {
        return;
    }
    let nodes = seed_cluster(&[Impl::Lite, Impl::Reference, Impl::Lite]);
    check_pairs(&nodes);
    check_queues(&nodes);
    // Clients of nats-lite learn the nats-server's client URL and back.
    let mut c = nodes[0].server.connect();
    let info = c.read_info();
    assert_eq!(info["connect_urls"].as_array().unwrap().len(), 3, "{info}");
    let mut c = nodes[1].server.connect();
    let info = c.read_info();
    assert_eq!(info["connect_urls"].as_array().unwrap().len(), 3, "{info}");
}
