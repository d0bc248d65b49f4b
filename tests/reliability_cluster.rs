//! Clustering cases (reliability-cases.md Q02, C02, C05, and the route part
//! of S04); they also run against nats-server with `NATS_TEST_REFERENCE=1`.
//! C03 and C06 live with the other cluster tests (cluster_mesh,
//! cluster_queue; docs/reliability.md maps every case).

use std::time::{Duration, Instant};

use crate::util::{RawClient, ServerProcess, TempDir, IO_TIMEOUT};

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

/// Start a cluster node with a random route port (`extra` may add
/// `--routes`); the node and its route URL.
fn node(name: &str, extra: &[&str]) -> (ServerProcess, String) {
    let mut args = vec![
        "-n",
        name,
        "--cluster_name",
        "rel",
        "--cluster",
        "nats://127.0.0.1:-1",
    ];
    args.extend_from_slice(extra);
    let mut server = ServerProcess::start_selected(&args);
    let line = server
        .wait_for_log("Listening for route connections on", IO_TIMEOUT)
        .expect("route listener log line");
    let addr = line.rsplit(' ').next().unwrap().to_string();
    (server, format!("nats-route://{addr}"))
}

/// Three nodes in a full mesh (B and C solicit A; the reference gossips
/// the rest).
fn mesh_of_three() -> Vec<ServerProcess> {
    let (a, route_a) = node("A", &[]);
    let (b, _) = node("B", &["--routes", &route_a]);
    let (c, _) = node("C", &["--routes", &route_a]);
    vec![a, b, c]
}

/// Publish `subject` from `from` until every client in `to` has received
/// it once (interest has crossed the routes), then drain the extras.
fn wait_for_interest(from: &mut RawClient, to: &mut [RawClient], subject: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for c in to.iter_mut() {
        loop {
            from.send(format!("PUB {subject} 1\r\nx\r\n"));
            from.flush();
            match c.try_read_line(Duration::from_millis(100)) {
                Ok(l) if l.starts_with("MSG ") => {
                    c.read_exact_bytes(3);
                    break;
                }
                Ok(l) if l == "PING" => c.send("PONG\r\n"),
                _ => assert!(
                    Instant::now() < deadline,
                    "no interest in {subject} in 10 s"
                ),
            }
        }
    }
    for c in to.iter_mut() {
        while c.try_read_line(Duration::from_millis(200)).is_ok() {}
    }
}

/// Count the MSGs `c` receives until it is quiet for `quiet`.
fn count_msgs(c: &mut RawClient, quiet: Duration) -> usize {
    let mut n = 0;
    loop {
        match c.try_read_line(quiet) {
            Ok(l) if l.starts_with("MSG ") => {
                let size: usize = l.rsplit(' ').next().unwrap().parse().unwrap();
                c.read_exact_bytes(size + 2);
                n += 1;
            }
            Ok(l) if l == "PING" => c.send("PONG\r\n"),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => return n,
        }
    }
}

/// Q02: one queue member on each of 3 nodes, 1,000 PUBs on node A: each
/// message is delivered exactly once across the cluster.
#[test]
fn q02_queue_group_across_three_nodes_exactly_once() {
    let nodes = mesh_of_three();
    let mut members: Vec<RawClient> = nodes
        .iter()
        .map(|n| {
            let mut c = n.client(QUIET);
            c.send("SUB ready 9\r\nSUB q g 1\r\n");
            c.flush();
            c
        })
        .collect();
    let mut publ = nodes[0].client(QUIET);
    wait_for_interest(&mut publ, &mut members, "ready");
    for i in 0..1000 {
        publ.send(format!("PUB q 4\r\n{i:04}\r\n"));
    }
    publ.flush();
    let counts: Vec<usize> = members
        .iter_mut()
        .map(|m| count_msgs(m, Duration::from_millis(500)))
        .collect();
    assert_eq!(
        counts.iter().sum::<usize>(),
        1000,
        "Q02: per-node counts {counts:?}"
    );
}

/// C02: a full mesh of 3, a subscriber on every node, one PUB: exactly
/// one copy per subscription (one hop only).
#[test]
fn c02_full_mesh_one_copy_per_subscription() {
    let nodes = mesh_of_three();
    let mut subs: Vec<RawClient> = nodes
        .iter()
        .map(|n| {
            let mut c = n.client(QUIET);
            c.send("SUB ready 9\r\nSUB c2 1\r\nSUB c2.> 2\r\n");
            c.flush();
            c
        })
        .collect();
    let mut publ = nodes[1].client(QUIET);
    wait_for_interest(&mut publ, &mut subs, "ready");
    publ.send("PUB c2 2\r\nhi\r\nPUB c2.x 2\r\nhi\r\n");
    publ.flush();
    let counts: Vec<usize> = subs
        .iter_mut()
        .map(|s| count_msgs(s, Duration::from_millis(500)))
        .collect();
    assert_eq!(counts, [2, 2, 2], "C02: messages per node");
}

/// C05: with cluster authorization set, a peer that connects to the route
/// port without credentials and sends `RS+`/`RMSG` is refused before any
/// route op takes effect; no message crosses.
#[test]
fn c05_route_port_without_credentials_is_refused() {
    let dir = TempDir::new("c05");
    let conf = dir.path().join("c05.conf");
    std::fs::write(
        &conf,
        "cluster { name: rel, listen: \"127.0.0.1:-1\", authorization { user: ru, password: rp } }\n",
    )
    .unwrap();
    let conf = conf.to_str().unwrap().to_string();
    let mut server = ServerProcess::start_selected(&["-c", &conf]);
    let line = server
        .wait_for_log("Listening for route connections on", IO_TIMEOUT)
        .expect("route listener");
    let route_addr = line.rsplit(' ').next().unwrap().parse().unwrap();
    let mut sub = server.client(QUIET);
    sub.send("SUB foo 1\r\n");
    sub.flush();
    let mut rogue = RawClient::connect(route_addr);
    let _ = rogue.try_read_line(IO_TIMEOUT); // INFO
    rogue.send("CONNECT {\"verbose\":false,\"name\":\"rogue\"}\r\nRS+ $G foo\r\nRMSG $G foo 2\r\nhi\r\nPING\r\n");
    let (lines, closed) = rogue.read_until_closed(IO_TIMEOUT);
    assert!(
        closed && !lines.iter().any(|l| l == "PONG"),
        "C05: the unauthenticated route got {lines:?}, closed={closed}"
    );
    assert!(sub.flush().is_empty(), "C05: a message crossed");
}

/// S04, route part: odd subject bytes published on node A reach a `>`
/// subscriber on node B unchanged, and B's stream still parses.
#[test]
fn s04_odd_subjects_cross_a_route_unchanged() {
    let (a, route_a) = node("A", &[]);
    let (b, _) = node("B", &["--routes", &route_a]);
    let mut all = b.client(QUIET);
    all.send("SUB ready 9\r\nSUB > 1\r\n");
    all.flush();
    let mut publ = a.client(QUIET);
    wait_for_interest(&mut publ, std::slice::from_mut(&mut all), "ready");
    let subjects: [&[u8]; 4] = [b"nul.a\x00b", b"del.a\x7fb", b"utf8.\xff\xfe", b"ctl.\x01"];
    for s in subjects {
        let mut cmd = b"PUB ".to_vec();
        cmd.extend_from_slice(s);
        cmd.extend_from_slice(b" 2\r\nhi\r\n");
        publ.send(&cmd);
    }
    publ.flush();
    let n = count_msgs(&mut all, Duration::from_millis(500));
    assert!(
        n == 0 || n == subjects.len(),
        "S04: {n} of {} odd subjects crossed the route",
        subjects.len()
    );
    assert!(
        all.flush().iter().all(|l| l == "PING"),
        "B's stream is clean"
    );
}
