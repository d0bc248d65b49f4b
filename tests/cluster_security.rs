//! What the route port refuses: wrong or missing route credentials (C05:
//! a raw peer without them cannot add interest or inject messages), a
//! cluster of another name (the exact -ERR), a client dialling the route
//! port, unknown ops; and the flag errors.

use std::time::Duration;

use crate::client_support::run_lite;
use crate::cluster_support::{sync_interest, Impl, Node, CLUSTER, MESH_TIMEOUT};
use crate::util::{RawClient, TempDir, IO_TIMEOUT};

/// A server whose route port requires `ruser`/`rpass` (from a config file).
fn with_route_auth() -> (Node, TempDir) {
    let dir = TempDir::new("route-auth");
    let conf = dir.path().join("routes.conf");
    std::fs::write(
        &conf,
        format!(
            "cluster {{ name: {CLUSTER}, listen: 127.0.0.1:-1, \
             authorization {{ user: ruser, password: rpass, timeout: 1 }} }}"
        ),
    )
    .unwrap();
    let node = Node::start(Impl::Lite, &["-c", conf.to_str().unwrap()]);
    (node, dir)
}

fn route_peer(node: &Node) -> (RawClient, serde_json::Value) {
    let mut c = RawClient::connect(node.route);
    let info = c.read_info();
    (c, info)
}

#[test]
fn route_auth_rejects_wrong_and_missing_credentials() {
    let (node, _dir) = with_route_auth();
    let (mut c, info) = route_peer(&node);
    assert_eq!(info["auth_required"], true);
    assert_eq!(info["proto"], 3, "route protocol 3: message tracing");
    assert_eq!(info["cluster"], CLUSTER);
    // No CONNECT: the interest and the message take no effect.
    c.send("RS+ $G foo\r\nRMSG $G foo 2\r\nhi\r\n");
    c.expect_err_and_close("-ERR 'Authorization Violation'", false);

    let mut sub = node.client();
    sub.send("SUB foo 1\r\n");
    sub.flush();
    // Wrong password.
    let (mut c, _) = route_peer(&node);
    c.send(format!(
        "CONNECT {{\"user\":\"ruser\",\"pass\":\"bad\",\"name\":\"NFAKE\",\"cluster\":\"{CLUSTER}\"}}\r\n\
         INFO {{\"server_id\":\"NFAKE\",\"cluster\":\"{CLUSTER}\",\"port\":1}}\r\nRMSG $G foo 2\r\nhi\r\n"
    ));
    c.expect_err_and_close("-ERR 'Authorization Violation'", false);
    // Silence: the auth timeout.
    let (mut c, _) = route_peer(&node);
    let (lines, closed) = c.read_until_closed(Duration::from_secs(5));
    assert!(closed, "{lines:?}");
    assert!(
        lines.iter().any(|l| l == "-ERR 'Authentication Timeout'"),
        "{lines:?}"
    );
    assert!(sub.is_quiet_for(Duration::from_millis(200)));
    assert_eq!(node.num_routes(), 0);

    // The right credentials make a route that works.
    let (mut c, _) = route_peer(&node);
    c.send(format!(
        "CONNECT {{\"user\":\"ruser\",\"pass\":\"rpass\",\"name\":\"NFAKE\",\"cluster\":\"{CLUSTER}\",\"headers\":true}}\r\n\
         INFO {{\"server_id\":\"NFAKE\",\"cluster\":\"{CLUSTER}\",\"port\":1,\"headers\":true}}\r\nPING\r\n"
    ));
    // Our interest dump comes first, then the PONG.
    let mut got = Vec::new();
    loop {
        let l = c.read_line();
        if l == "PONG" {
            break;
        }
        got.push(l);
    }
    assert!(got.contains(&"RS+ $G foo".to_string()), "{got:?}");
    c.send("RMSG $G foo 2\r\nhi\r\n");
    let (line, body) = sub.read_msg();
    assert_eq!(
        (line.as_str(), body.as_slice()),
        ("MSG foo 1 2", &b"hi"[..])
    );
}

#[test]
fn a_cluster_of_another_name_is_refused_with_the_exact_error() {
    let node = Node::clustered(Impl::Lite, &[], &[]);
    let (mut c, _) = route_peer(&node);
    c.send(
        "CONNECT {\"name\":\"NOTHER\",\"cluster\":\"other\"}\r\n\
         INFO {\"server_id\":\"NOTHER\",\"cluster\":\"other\",\"port\":1}\r\n",
    );
    c.expect_err_and_close(
        &format!(
            "-ERR 'Rejecting connection, cluster name \"other\" does not match \"{CLUSTER}\"'"
        ),
        false,
    );
    // Two nats-lite servers with different names never form a route.
    let other = Node::start(
        Impl::Lite,
        &[
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            "other",
            "--routes",
            &node.route_url(),
        ],
    );
    let mut other = other;
    other
        .server
        .wait_for_log("does not match", IO_TIMEOUT)
        .expect("the solicitor refuses the other cluster's INFO");
    assert_eq!(node.num_routes(), 0);
    assert_eq!(other.num_routes(), 0);
}

#[test]
fn the_route_port_refuses_clients_and_unknown_ops() {
    let node = Node::clustered(Impl::Lite, &[], &[]);
    let (mut c, _) = route_peer(&node);
    c.send("CONNECT {\"lang\":\"go\",\"verbose\":false}\r\n");
    c.expect_err_and_close("-ERR 'attempted to connect to route port'", false);
    let (mut c, _) = route_peer(&node);
    c.send("FOO bar\r\n");
    c.expect_err_and_close("-ERR 'Unknown Protocol Operation'", false);
    // Bad arguments: closed without a word.
    let (mut c, _) = route_peer(&node);
    c.send(format!(
        "CONNECT {{\"name\":\"NX\",\"cluster\":\"{CLUSTER}\"}}\r\nINFO {{\"server_id\":\"NX\",\"cluster\":\"{CLUSTER}\",\"port\":1}}\r\nRMSG $G\r\n"
    ));
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(closed);
    assert!(!lines.iter().any(|l| l.starts_with("-ERR")), "{lines:?}");
    // A route to ourselves (our own server id) is dropped silently.
    let id = node.json("/varz")["server_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (mut c, _) = route_peer(&node);
    c.send(format!(
        "CONNECT {{\"name\":\"{id}\",\"cluster\":\"{CLUSTER}\"}}\r\nINFO {{\"server_id\":\"{id}\",\"cluster\":\"{CLUSTER}\",\"port\":1}}\r\n"
    ));
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        closed && !lines.iter().any(|l| l.starts_with("-ERR")),
        "{lines:?}"
    );
    // An oversized control line is refused (bounded memory).
    let (mut c, _) = route_peer(&node);
    let mut huge = b"RS+ $G ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 100 * 1024));
    let _ = c.stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = std::io::Write::write_all(&mut c.stream, &huge);
    let (_, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(closed);
    assert_eq!(node.num_routes(), 0);
}

/// A fake peer (a raw socket speaking the route protocol) sees the
/// one-hop rule and the queue-list forms from our side.
#[test]
fn routed_messages_carry_queue_lists_and_are_never_forwarded() {
    let node = Node::clustered(Impl::Lite, &[], &[]);
    let (mut f, _) = route_peer(&node);
    f.send(format!(
        "CONNECT {{\"name\":\"NFAKE\",\"cluster\":\"{CLUSTER}\",\"headers\":false}}\r\n\
         INFO {{\"server_id\":\"NFAKE\",\"cluster\":\"{CLUSTER}\",\"port\":1,\"headers\":false}}\r\n\
         RS+ $G bar\r\nRS+ $G bar qx 3\r\nRS+ $SYS whatever\r\nRS+ NOACC x\r\nPING\r\n"
    ));
    assert!(crate::cluster_support::eventually(MESH_TIMEOUT, || node
        .num_routes()
        == 1));
    loop {
        if f.read_line() == "PONG" {
            break;
        }
    }
    let mut publisher = node.client();
    publisher
        .send("PUB bar 2\r\nhi\r\nPUB bar r.1 2\r\nho\r\nHPUB bar 12 14\r\nNATS/1.0\r\n\r\nhh\r\n");
    publisher.flush();
    let mut msgs = Vec::new();
    while msgs.len() < 3 {
        let l = f.read_line();
        if l == "PING" {
            continue;
        }
        let body = f.read_line();
        msgs.push(format!("{l} / {body}"));
    }
    // No local queue member: the group goes to the peer; headers stripped
    // for a peer without header support.
    assert_eq!(
        msgs,
        [
            "RMSG $G bar | qx 2 / hi",
            "RMSG $G bar + r.1 qx 2 / ho",
            "RMSG $G bar | qx 2 / hh"
        ]
    );
    // A local subscriber with a queue member: the local member is preferred.
    let mut local = node.client();
    local.send("SUB bar qx 1\r\n");
    local.flush();
    publisher.send("PUB bar 1\r\nx\r\n");
    publisher.flush();
    assert_eq!(local.read_msg().0, "MSG bar 1 1");
    loop {
        let l = f.read_line();
        if l != "PING" && !l.starts_with("RS+") {
            assert_eq!(l, "RMSG $G bar 1");
            break;
        }
    }
    // From the peer: plain subscribers always; queue members only when named.
    let mut plain = node.client();
    plain.send("SUB bar 7\r\n");
    plain.flush();
    sync_interest(&mut plain, &mut publisher);
    f.send("RMSG $G bar 1\r\na\r\nRMSG $G bar | qx 1\r\nb\r\nRMSG $G bar | nosuch 1\r\nc\r\n");
    let bodies: Vec<Vec<u8>> = (0..3).map(|_| plain.read_msg().1).collect();
    assert_eq!(bodies, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(local.read_msg().1, b"b");
    assert!(local.is_quiet_for(Duration::from_millis(200)));
}

/// `--cluster nats://user:pass@host:port` protects the route port; a
/// server whose `--routes` URL carries the right credentials joins, one
/// with wrong ones does not.
#[test]
fn route_credentials_from_urls() {
    let a = Node::start(
        Impl::Lite,
        &[
            "--cluster",
            "nats://ruser:rpass@127.0.0.1:-1",
            "--cluster_name",
            CLUSTER,
        ],
    );
    let port = a.route.port();
    let good = format!("nats-route://ruser:rpass@127.0.0.1:{port}");
    let bad = format!("nats-route://ruser:nope@127.0.0.1:{port}");
    let mut b = Node::clustered(Impl::Lite, &[bad], &[]);
    b.server
        .wait_for_log("Authorization Violation", IO_TIMEOUT)
        .expect("the wrong password is refused");
    assert_eq!(a.num_routes(), 0);
    let c = Node::clustered(Impl::Lite, &[good], &[]);
    c.wait_routes(1, MESH_TIMEOUT);
    a.wait_routes(1, MESH_TIMEOUT);
    drop(b);
}

#[test]
fn cluster_flag_errors() {
    run_lite(&["server", "--routes", "nats://127.0.0.1:1"]).assert_fails(
        2,
        "solicited routes require cluster capabilities, e.g. --cluster",
    );
    run_lite(&["server", "--cluster", "nats://127.0.0.1:x"]).assert_fails(2, "--cluster");
}
