//! A route's life around the messages: servers without a cluster name
//! agree on one, the ports file lists the route port, a peer that stops
//! answering PINGs is cut off as stale, and a server in lame duck mode
//! tells its peers, whose clients stop being offered its URL; advertise
//! options.

use std::time::Duration;

use crate::cluster_support::{eventually, wait_mesh, Impl, Node, CLUSTER, MESH_TIMEOUT};
use crate::util::{wait_for_file, RawClient, TempDir};

#[test]
fn servers_without_a_cluster_name_agree_on_one() {
    let a = Node::start(Impl::Lite, &["--cluster", "nats://127.0.0.1:-1"]);
    let b = Node::start(
        Impl::Lite,
        &[
            "--cluster",
            "nats://127.0.0.1:-1",
            "--routes",
            &a.route_url(),
        ],
    );
    let nodes = vec![a, b];
    wait_mesh(&nodes);
    let names: Vec<String> = nodes
        .iter()
        .map(|n| {
            n.json("/varz")["cluster"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names[0], names[1]);
    assert_eq!(names[0].len(), 22, "{names:?}");
    // A server with a configured name makes the dynamic ones adopt it.
    let c = Node::start(
        Impl::Lite,
        &[
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            "named",
            "--routes",
            &nodes[0].route_url(),
        ],
    );
    assert!(eventually(MESH_TIMEOUT, || {
        nodes[0].json("/varz")["cluster"]["name"] == "named" && c.num_routes() >= 1
    }));
}

#[test]
fn the_ports_file_lists_the_route_port() {
    let dir = TempDir::new("cluster-ports");
    let node = Node::start(
        Impl::Lite,
        &[
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            CLUSTER,
            "--ports_file_dir",
            dir.path().to_str().unwrap(),
        ],
    );
    let path = dir
        .path()
        .join(format!("nats-lite_{}.ports", node.server.pid()));
    let text = wait_for_file(&path, MESH_TIMEOUT, |t| t.contains("cluster"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["cluster"][0], format!("nats://{}", node.route));
}

#[test]
fn a_peer_that_stops_answering_pings_is_stale() {
    let dir = TempDir::new("route-ping");
    let conf = dir.path().join("ping.conf");
    std::fs::write(
        &conf,
        format!(
            "cluster {{ name: {CLUSTER}, listen: 127.0.0.1:-1, ping_interval: \"1s\", ping_max: 1 }}"
        ),
    )
    .unwrap();
    let node = Node::start(Impl::Lite, &["-c", conf.to_str().unwrap()]);
    let mut f = RawClient::connect(node.route);
    f.read_info();
    f.send(format!(
        "CONNECT {{\"name\":\"NSTALE\",\"cluster\":\"{CLUSTER}\"}}\r\n\
         INFO {{\"server_id\":\"NSTALE\",\"cluster\":\"{CLUSTER}\",\"port\":1}}\r\n"
    ));
    assert!(eventually(MESH_TIMEOUT, || node.num_routes() == 1));
    let (lines, closed) = f.read_until_closed(Duration::from_secs(10));
    assert!(closed, "{lines:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("-ERR 'Stale Connection'"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l == "PING"), "{lines:?}");
    assert!(eventually(MESH_TIMEOUT, || node.num_routes() == 0));
}

#[cfg(unix)]
#[test]
fn lame_duck_mode_is_told_to_the_peers() {
    let dir = TempDir::new("ldm");
    let conf = dir.path().join("ldm.conf");
    std::fs::write(
        &conf,
        "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"10s\"\n",
    )
    .unwrap();
    let a = Node::clustered(Impl::Lite, &[], &[]);
    let b = Node::clustered(
        Impl::Lite,
        std::slice::from_ref(&a.route_url()),
        &["-c", conf.to_str().unwrap()],
    );
    let nodes = vec![a, b];
    wait_mesh(&nodes);
    // A client of A (protocol 1) and a client of B, to keep B in lame duck mode.
    let mut on_a = nodes[0].server.connect();
    let info = on_a.read_info();
    assert_eq!(info["connect_urls"].as_array().unwrap().len(), 2, "{info}");
    on_a.send("CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n");
    on_a.expect_line("PONG");
    let _on_b = nodes[1].client();
    crate::util::unsafe_kill(nodes[1].server.pid(), "USR2");
    let deadline = std::time::Instant::now() + MESH_TIMEOUT;
    loop {
        let line = on_a.try_read_line(MESH_TIMEOUT).expect("async INFO");
        if let Some(json) = line.strip_prefix("INFO ") {
            let info: serde_json::Value = serde_json::from_str(json).unwrap();
            let urls = info["connect_urls"].as_array().unwrap();
            if urls.len() == 1 {
                assert_eq!(urls[0], nodes[0].server.addr.to_string());
                break;
            }
        } else if line == "PING" {
            on_a.send("PONG\r\n");
        }
        assert!(std::time::Instant::now() < deadline);
    }
}

/// `--cluster_advertise` is what the route INFO (and so gossip) carries;
/// `--no_advertise` keeps client URLs out of INFO, ours and the peers'.
#[test]
fn advertise_and_no_advertise() {
    let a = Node::start(
        Impl::Lite,
        &[
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            CLUSTER,
            "--cluster_advertise",
            "routes.example.com:7777",
            "--no_advertise",
        ],
    );
    let mut peer = RawClient::connect(a.route);
    let info = peer.read_info();
    assert_eq!(info["ip"], "nats-route://routes.example.com:7777/");
    assert_eq!(
        (&info["host"], &info["port"]),
        (
            &serde_json::json!("routes.example.com"),
            &serde_json::json!(7777)
        )
    );
    assert!(info.get("connect_urls").is_none(), "{info}");
    let b = Node::clustered(Impl::Lite, std::slice::from_ref(&a.route_url()), &[]);
    wait_mesh(&[a, b]);
}

#[test]
fn no_advertise_keeps_urls_from_clients() {
    let a = Node::clustered(Impl::Lite, &[], &["--no_advertise"]);
    let b = Node::clustered(Impl::Lite, std::slice::from_ref(&a.route_url()), &[]);
    let nodes = vec![a, b];
    wait_mesh(&nodes);
    let mut c = nodes[0].server.connect();
    let info = c.read_info();
    assert!(info.get("connect_urls").is_none(), "{info}");
    // B's clients do not get A's URL either (A does not send it).
    let mut c = nodes[1].server.connect();
    let info = c.read_info();
    let urls = info["connect_urls"].as_array().unwrap();
    assert_eq!(urls.len(), 1, "{info}");
}
