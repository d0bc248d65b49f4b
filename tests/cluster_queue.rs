//! Load-shaped cluster checks: Q02 (a queue group with one member per node
//! of three; 1,000 messages, each delivered exactly once cluster-wide) and
//! C06 (100 clients reconnecting at once to a restarted node are all
//! accepted within 5 s, and receive no duplicates).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::cluster_support::{
    collect, publish_n, seed_cluster, sync_interest, wait_mesh, Impl, Node,
};
use crate::util::RawClient;

#[test]
fn q02_one_queue_member_per_node_each_message_once() {
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    let mut members: Vec<RawClient> = nodes.iter().map(Node::client).collect();
    for m in &mut members {
        m.send("SUB q02 workers 1\r\n");
        m.flush();
    }
    let mut publisher = nodes[0].client();
    for m in &mut members {
        sync_interest(m, &mut publisher);
    }
    const N: usize = 1000;
    publish_n(&mut publisher, "q02", "m", N);
    let mut all = Vec::new();
    let mut per_node = Vec::new();
    for m in &mut members {
        let got = collect(m, 0, Duration::from_millis(500));
        let mine = got.get("1").cloned().unwrap_or_default();
        per_node.push(mine.len());
        all.extend(mine);
    }
    assert_eq!(all.len(), N, "deliveries per node: {per_node:?}");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), N, "duplicates; per node: {per_node:?}");
}

#[test]
fn c06_reconnect_storm_after_a_node_restart() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let seed = Node::clustered(Impl::Lite, &[], &[]);
    let seed_route = seed.route_url();
    let port_s = port.to_string();
    let b_args: Vec<String> = [
        "-m",
        "-1",
        "-p",
        &port_s,
        "--cluster",
        "nats://127.0.0.1:-1",
        "--cluster_name",
        crate::cluster_support::CLUSTER,
        "--routes",
        &seed_route,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut nodes = vec![seed, Node::restart(Impl::Lite, &b_args)];
    wait_mesh(&nodes);
    const CLIENTS: usize = 100;
    let connect_all = |addr: std::net::SocketAddr| -> Vec<RawClient> {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut c = RawClient::connect(addr);
                    c.handshake(r#"{"verbose":false}"#);
                    c.send("SUB storm 1\r\n");
                    c
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    };
    let b_addr = nodes[1].server.addr;
    let clients = connect_all(b_addr);
    // The node goes away; its clients are cut off.
    let old = nodes.pop().unwrap();
    drop(old);
    drop(clients);
    nodes.push(Node::restart(Impl::Lite, &b_args));
    let started = Instant::now();
    let mut clients = connect_all(b_addr);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "reconnect storm took {took:?}"
    );
    wait_mesh(&nodes);
    for c in &mut clients {
        c.flush();
    }
    let mut publisher = nodes[0].client();
    sync_interest(&mut clients[0], &mut publisher);
    publish_n(&mut publisher, "storm", "s", 1);
    for (i, c) in clients.iter_mut().enumerate() {
        let got = collect(c, 1, Duration::from_millis(if i == 0 { 300 } else { 20 }));
        assert_eq!(got.get("1").map(Vec::len), Some(1), "client {i}: {got:?}");
    }
}
