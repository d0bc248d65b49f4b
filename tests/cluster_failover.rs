//! Servers that go away and come back: a killed server's clients fail over
//! to a server they learnt from `connect_urls` and keep receiving, a
//! restarted server rejoins the mesh, and the rolling upgrade of the
//! classic docs (servers A and B, a temporary T, each stopped and
//! restarted in turn) never costs a connected subscriber a message.

use std::net::TcpListener;
use std::time::Duration;

use crate::client_support::{subscriber, Client, RUN_TIMEOUT};
use crate::cluster_support::{seed_cluster, wait_mesh, Impl, Node, CLUSTER, MESH_TIMEOUT};

/// A port that was free a moment ago (for servers that must come back on
/// the same ports).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Make sure `sub` (a `nats-lite sub --raw 'upg.>'` process) is connected
/// and its interest known at `node`, then publish `n` messages there and
/// check that each arrives exactly once.
fn verify_delivery(sub: &mut Client, node: &Node, phase: &str, n: usize) {
    let mut publisher = node.client();
    let deadline = std::time::Instant::now() + MESH_TIMEOUT;
    let mut k = 0;
    loop {
        let probe = format!("probe-{phase}-{k}");
        publisher.send(format!("PUB upg.probe {}\r\n{probe}\r\n", probe.len()));
        publisher.flush();
        if sub.try_wait_stdout(&format!("{probe}\n"), Duration::from_millis(100)) {
            break;
        }
        k += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "{phase}: the subscriber never came back; stdout:\n{}",
            sub.stdout_so_far()
        );
    }
    let mut out = String::new();
    for i in 0..n {
        let body = format!("data-{phase}-{i}");
        out.push_str(&format!("PUB upg.data {}\r\n{body}\r\n", body.len()));
    }
    publisher.send(out);
    publisher.flush();
    let last = format!("data-{phase}-{}\n", n - 1);
    assert!(
        sub.try_wait_stdout(&last, MESH_TIMEOUT),
        "{phase}: not all messages arrived; stdout:\n{}",
        sub.stdout_so_far()
    );
    let text = sub.stdout_so_far();
    for i in 0..n {
        let line = format!("data-{phase}-{i}");
        let copies = text.lines().filter(|l| *l == line).count();
        assert_eq!(copies, 1, "{phase}: {line} arrived {copies} times");
    }
}

#[test]
fn a_killed_servers_clients_fail_over_and_a_restarted_server_rejoins() {
    let mut nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    let mut sub = subscriber(&["-s", &nodes[2].url(), "--raw", "upg.>"]);
    verify_delivery(&mut sub, &nodes[0], "before", 20);
    // Kill C without a chance to say goodbye.
    let c = nodes.pop().unwrap();
    let args = c.args.clone();
    #[cfg(unix)]
    crate::util::unsafe_kill(c.server.pid(), "KILL");
    drop(c);
    sub.wait_stderr("Reconnected to");
    for n in &nodes {
        n.wait_routes(1, MESH_TIMEOUT);
    }
    verify_delivery(&mut sub, &nodes[1], "after-kill", 20);
    // C comes back (new ports; its route to the seed is in its flags).
    nodes.push(Node::restart(Impl::Lite, &args));
    wait_mesh(&nodes);
    verify_delivery(&mut sub, &nodes[2], "rejoined", 20);
    sub.interrupt();
    sub.finish(RUN_TIMEOUT).assert_ok();
}

/// The classic docs' rolling upgrade: A and B route to each other; T is
/// added (routes to both); A is stopped and restarted, then B, then T
/// leaves. A subscriber that started on A is connected to some server
/// all along, and gets every message published while it is.
#[test]
fn rolling_upgrade_never_loses_a_connected_subscriber_message() {
    let (pa, ra, pb, rb) = (free_port(), free_port(), free_port(), free_port());
    let args = |port: u16, route: u16, other: u16| -> Vec<String> {
        [
            "-m".to_string(),
            "-1".into(),
            "-p".into(),
            port.to_string(),
            "--cluster".into(),
            format!("nats://127.0.0.1:{route}"),
            "--cluster_name".into(),
            CLUSTER.into(),
            "--routes".into(),
            format!("nats-route://127.0.0.1:{other}"),
        ]
        .to_vec()
    };
    let a_args = args(pa, ra, rb);
    let b_args = args(pb, rb, ra);
    let a = Node::restart(Impl::Lite, &a_args);
    let b = Node::restart(Impl::Lite, &b_args);
    let mut nodes = vec![a, b];
    wait_mesh(&nodes);
    let mut sub = subscriber(&["-s", &nodes[0].url(), "--raw", "upg.>"]);
    verify_delivery(&mut sub, &nodes[1], "start", 30);

    // T joins with routes to A and B.
    let t = Node::clustered(
        Impl::Lite,
        &[
            format!("nats-route://127.0.0.1:{ra}"),
            format!("nats-route://127.0.0.1:{rb}"),
        ],
        &[],
    );
    nodes.push(t);
    wait_mesh(&nodes);
    verify_delivery(&mut sub, &nodes[2], "with-t", 30);

    // Stop A (the subscriber's server), "upgrade", restart it.
    let mut a = nodes.remove(0);
    a.server.terminate(MESH_TIMEOUT).expect("A stops");
    sub.wait_stderr("Reconnected to");
    verify_delivery(&mut sub, &nodes[1], "a-down", 30);
    nodes.insert(0, Node::restart(Impl::Lite, &a_args));
    wait_mesh(&nodes);
    verify_delivery(&mut sub, &nodes[0], "a-back", 30);

    // Same for B.
    let mut b = nodes.remove(1);
    b.server.terminate(MESH_TIMEOUT).expect("B stops");
    verify_delivery(&mut sub, &nodes[0], "b-down", 30);
    nodes.insert(1, Node::restart(Impl::Lite, &b_args));
    wait_mesh(&nodes);
    verify_delivery(&mut sub, &nodes[1], "b-back", 30);

    // T leaves.
    let mut t = nodes.pop().unwrap();
    t.server.terminate(MESH_TIMEOUT).expect("T stops");
    wait_mesh(&nodes);
    verify_delivery(&mut sub, &nodes[0], "t-gone", 30);
    verify_delivery(&mut sub, &nodes[1], "end", 30);
    sub.interrupt();
    sub.finish(RUN_TIMEOUT).assert_ok();
}

/// A TCP relay whose connections the test can cut: stands between two
/// servers' route.
struct Relay {
    addr: std::net::SocketAddr,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(target: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = conns.clone();
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { return };
                let Ok(outbound) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                for s in [&inbound, &outbound] {
                    held.lock().unwrap().push(s.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                    (outbound, inbound),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { addr, conns }
    }

    /// Cut every connection through the relay.
    fn cut(&self) {
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A route that keeps breaking while messages flow loses messages in
/// flight but never duplicates or reorders them.
#[test]
fn a_flapping_route_never_duplicates_messages() {
    let a = Node::clustered(Impl::Lite, &[], &[]);
    let relay = Relay::start(a.route);
    let b = Node::clustered(Impl::Lite, &[format!("nats-route://{}", relay.addr)], &[]);
    let nodes = vec![a, b];
    wait_mesh(&nodes);
    let mut sub = nodes[0].client();
    sub.send("SUB flap 1\r\nSUB flap q 2\r\n");
    sub.flush();
    let mut publisher = nodes[1].client();
    crate::cluster_support::sync_interest(&mut sub, &mut publisher);
    let mut sent = 0usize;
    for round in 0..3 {
        for _ in 0..200 {
            let body = sent.to_string();
            publisher.send(format!("PUB flap {}\r\n{body}\r\n", body.len()));
            sent += 1;
        }
        publisher.flush();
        relay.cut();
        nodes[0].wait_routes(1, MESH_TIMEOUT);
        nodes[1].wait_routes(1, MESH_TIMEOUT);
        crate::cluster_support::sync_interest(&mut sub, &mut publisher);
        eprintln!("round {round}: route back");
    }
    for _ in 0..200 {
        let body = sent.to_string();
        publisher.send(format!("PUB flap {}\r\n{body}\r\n", body.len()));
        sent += 1;
    }
    publisher.flush();
    let got = crate::cluster_support::collect(&mut sub, 400, Duration::from_millis(500));
    for sid in ["1", "2"] {
        let seq: Vec<usize> = got[sid].iter().map(|s| s.parse().unwrap()).collect();
        assert!(
            seq.windows(2).all(|w| w[0] < w[1]),
            "sid {sid}: duplicated or reordered: {seq:?}"
        );
        // The last batch, sent on a settled route, arrived whole.
        assert!(
            seq.ends_with(&((sent - 200)..sent).collect::<Vec<_>>()),
            "sid {sid}"
        );
    }
}
