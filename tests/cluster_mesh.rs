//! Three nats-lite servers, a seed and two pointing at it: the full mesh
//! forms, messages cross it once, queue groups span it (one member per
//! group cluster-wide), unsubscribing (explicit, automatic, or by
//! disconnecting) withdraws interest, and clients learn the cluster's URLs.

use std::time::Duration;

use crate::cluster_support::{
    collect, eventually, publish_n, seed_cluster, sync_interest, Impl, MESH_TIMEOUT,
};

const QUIET: Duration = Duration::from_millis(300);

#[test]
fn seed_cluster_forms_a_full_mesh_and_routes_messages() {
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    // B and C found each other through the seed's gossip.
    let routez = b.json("/routez?subs=1");
    let ids: Vec<&str> = routez["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["remote_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{routez}");
    let varz = a.json("/varz");
    assert_eq!(varz["routes"], 2);
    assert_eq!(varz["cluster"]["name"], "ctest");
    assert_eq!(varz["cluster"]["cluster_port"], a.route.port());

    let mut sub_a = a.client();
    sub_a.send("SUB foo 1\r\nSUB wild.* 2\r\nSUB deep.> 3\r\n");
    sub_a.flush();
    let mut pub_c = c.client();
    sync_interest(&mut sub_a, &mut pub_c);
    pub_c.send(
        "PUB foo 5\r\nhello\r\nPUB wild.x 1\r\nw\r\nPUB deep.a.b 1\r\nd\r\nPUB nobody 1\r\nn\r\n",
    );
    pub_c.send("PUB foo reply.to 1\r\nr\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhh\r\n");
    pub_c.flush();
    let mut lines = Vec::new();
    for _ in 0..5 {
        let (line, body) = sub_a.read_msg();
        lines.push(format!("{line} {}", String::from_utf8_lossy(&body)));
    }
    assert_eq!(
        lines,
        [
            "MSG foo 1 5 hello",
            "MSG wild.x 2 1 w",
            "MSG deep.a.b 3 1 d",
            "MSG foo 1 reply.to 1 r",
            "HMSG foo 1 12 14 NATS/1.0\r\n\r\nhh",
        ]
    );
    assert!(sub_a.is_quiet_for(QUIET));
    // The route's counters moved, and /routez lists the peer's interest.
    let rz = c.json("/routez?subs=1");
    let to_a = rz["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["remote_id"] == a.json("/varz")["server_id"])
        .cloned()
        .unwrap();
    assert!(to_a["out_msgs"].as_u64().unwrap() >= 5, "{to_a}");
    let list: Vec<&str> = to_a["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for s in ["foo", "wild.*", "deep.>"] {
        assert!(list.contains(&s), "{list:?}");
    }
}

/// C02: a queue group with members on every node gets each message once;
/// plain subscribers on every node get exactly one copy each.
#[test]
fn queue_groups_span_the_cluster_and_plain_subscribers_get_one_copy() {
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    let mut subs: Vec<_> = nodes.iter().map(|n| n.client()).collect();
    for s in &mut subs {
        s.send("SUB work.* workers 1\r\nSUB work.* 2\r\n");
        s.flush();
    }
    let mut publisher = nodes[2].client();
    for s in &mut subs {
        sync_interest(s, &mut publisher);
    }
    const N: usize = 300;
    publish_n(&mut publisher, "work.x", "m", N);
    let mut queue_total = Vec::new();
    for (i, s) in subs.iter_mut().enumerate() {
        let got = collect(s, N, QUIET);
        let plain = got.get("2").cloned().unwrap_or_default();
        assert_eq!(plain.len(), N, "node {i}: plain subscriber copies");
        let q = got.get("1").cloned().unwrap_or_default();
        queue_total.extend(q);
    }
    // `collect` waited for N per node: the queue shares came along.
    assert_eq!(queue_total.len(), N, "queue deliveries across the cluster");
    queue_total.sort();
    queue_total.dedup();
    assert_eq!(queue_total.len(), N, "a queue message was delivered twice");
}

/// A queue group with members only on other nodes is served from there,
/// spread by the weight each node announced.
#[test]
fn remote_queue_members_are_chosen_by_weight() {
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    let mut a = nodes[0].client();
    a.send("SUB jobs g 1\r\nSUB jobs g 2\r\nSUB jobs g 3\r\n");
    a.flush();
    let mut b = nodes[1].client();
    b.send("SUB jobs g 1\r\n");
    b.flush();
    let mut publisher = nodes[2].client();
    sync_interest(&mut a, &mut publisher);
    sync_interest(&mut b, &mut publisher);
    const N: usize = 400;
    publish_n(&mut publisher, "jobs", "j", N);
    let on_a: usize = collect_at_least(&mut a);
    let on_b: usize = collect_at_least(&mut b);
    assert_eq!(on_a + on_b, N);
    // Weight 3 against 1: A gets about three quarters.
    assert!((200..=380).contains(&on_a), "A got {on_a}, B {on_b}");
}

fn collect_at_least(c: &mut crate::util::RawClient) -> usize {
    collect(c, 1, Duration::from_millis(500))
        .values()
        .map(Vec::len)
        .sum()
}

/// C03: interest is withdrawn on UNSUB, at an auto-unsubscribe limit, and
/// when a client goes away without a word.
#[test]
fn unsubscribe_propagates() {
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    let (a, c) = (&nodes[0], &nodes[2]);
    let remote_subs = |n: &crate::cluster_support::Node| -> u64 {
        n.json("/routez")["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["subscriptions"].as_u64().unwrap())
            .sum()
    };
    let base = remote_subs(c);
    let mut sub = a.client();
    sub.send("SUB gone 1\r\nSUB maxed 2\r\nUNSUB 2 2\r\nSUB q.a grp 3\r\n");
    sub.flush();
    let mut publisher = c.client();
    sync_interest(&mut sub, &mut publisher);
    assert!(eventually(MESH_TIMEOUT, || remote_subs(c) == base + 3));
    // Explicit UNSUB.
    sub.send("UNSUB 1\r\n");
    sub.flush();
    assert!(eventually(MESH_TIMEOUT, || remote_subs(c) == base + 2));
    publisher.send("PUB gone 1\r\nx\r\n");
    publisher.flush();
    // Auto-unsubscribe after two messages.
    publish_n(&mut publisher, "maxed", "m", 3);
    let got = collect(&mut sub, 2, QUIET);
    assert_eq!(got.get("2").map(Vec::len), Some(2), "{got:?}");
    assert!(eventually(MESH_TIMEOUT, || remote_subs(c) == base + 1));
    // A client that disconnects abruptly takes its queue interest along.
    drop(sub);
    assert!(eventually(MESH_TIMEOUT, || remote_subs(c) == base));
    // Nothing is routed for subjects nobody wants.
    let routed = |n: &crate::cluster_support::Node| -> u64 {
        n.json("/routez")["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["out_msgs"].as_u64().unwrap())
            .sum()
    };
    let before = routed(c);
    publish_n(&mut publisher, "gone", "g", 5);
    publish_n(&mut publisher, "q.a", "g", 5);
    assert_eq!(routed(c), before);
}

/// Clients learn every server's client URL (INFO `connect_urls`), and an
/// async INFO when a server leaves.
#[test]
fn clients_learn_the_cluster_urls() {
    let mut nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    let mut c = nodes[0].server.connect();
    let info = c.read_info();
    assert_eq!(info["cluster"], "ctest");
    let mut urls: Vec<String> = info["connect_urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    urls.sort();
    let mut want: Vec<String> = nodes.iter().map(|n| n.server.addr.to_string()).collect();
    want.sort();
    assert_eq!(urls, want);
    c.send("CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n");
    c.expect_line("PONG");
    let gone = nodes.pop().unwrap();
    let gone_url = gone.server.addr.to_string();
    drop(gone);
    let info = c.read_info();
    let urls = info["connect_urls"].as_array().unwrap();
    assert_eq!(urls.len(), 2, "{info}");
    assert!(!urls.iter().any(|u| u == &gone_url), "{info}");
}

/// Request/reply across servers: the requester's inbox interest reaches
/// the responder's server before the request does (both travel the same
/// route, interest first), so every request is answered.
#[test]
fn request_reply_across_servers() {
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    let rep = crate::client_support::replier(&["-s", &nodes[1].url(), "svc.echo", "pong"]);
    let has_service = || {
        nodes[2].json("/routez?subs=1")["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| {
                r["subscriptions_list"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|s| s == "svc.echo"))
            })
    };
    assert!(eventually(MESH_TIMEOUT, has_service));
    for _ in 0..10 {
        let r = crate::client_support::run_lite(&[
            "req",
            "-s",
            &nodes[2].url(),
            "--raw",
            "svc.echo",
            "ping",
        ]);
        assert_eq!(r.assert_ok().out(), "pong\n");
    }
    rep.interrupt();
    let _ = rep.finish(crate::client_support::RUN_TIMEOUT);
}
