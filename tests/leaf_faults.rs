//! Leafnodes under bad input and faults: on a nats-lite hub's leafnode
//! port, a line over the limit, an unknown op, a payload over the limit,
//! ops before CONNECT and wrong credentials each get their `-ERR` and a
//! close (the hub keeps serving); a hub that refuses a nats-lite leaf's
//! credentials is logged and tried again; a user with permissions is
//! refused as a leaf.

use std::time::Duration;

use crate::cluster_support::Impl;
use crate::leaf_support::{reference_or_skip, start, LeafServer, LEAF_TIMEOUT};
use crate::util::RawClient;

const HUB: &str = "leafnodes { listen: 127.0.0.1:-1, authorization { user: u, password: p } }";
const CONNECT: &str = "CONNECT {\"server_id\":\"NFAKE\",\"name\":\"fake\",\"headers\":true,\"user\":\"u\",\"pass\":\"p\"}\r\n";

/// A fake leaf on the hub's leafnode port, past its INFO.
fn fake_leaf(hub: &LeafServer) -> RawClient {
    let mut c = RawClient::connect(hub.leaf_addr.unwrap());
    let info = c.read_line();
    assert!(info.starts_with("INFO {"), "{info}");
    c
}

/// A fake leaf that sent CONNECT and got the second INFO.
fn connected_fake_leaf(hub: &LeafServer) -> RawClient {
    let mut c = fake_leaf(hub);
    c.send(CONNECT);
    let info = c.read_line();
    assert!(info.contains("\"connect_info\":true"), "{info}");
    c
}

/// Send `bad` and expect `err` among the last lines, then a close.
fn expect_refused(c: &mut RawClient, bad: &[u8], err: &str) {
    c.send(bad);
    let (lines, closed) = c.read_until_closed(Duration::from_secs(5));
    assert!(closed, "not closed after {err}: {lines:?}");
    assert!(
        lines.iter().any(|l| l == err),
        "expected {err:?} in {lines:?}"
    );
}

#[test]
fn bad_input_on_the_leafnode_port_gets_its_error_and_a_close() {
    let hub = start(Impl::Lite, HUB, &[]);
    let mut long = b"LS+ ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 70 * 1024));
    long.extend_from_slice(b"\r\n");
    expect_refused(
        &mut connected_fake_leaf(&hub),
        &long,
        "-ERR 'maximum control line exceeded'",
    );
    expect_refused(
        &mut connected_fake_leaf(&hub),
        b"FOO bar\r\n",
        "-ERR 'Unknown Protocol Operation'",
    );
    expect_refused(
        &mut connected_fake_leaf(&hub),
        b"LMSG foo 99999999\r\n",
        "-ERR 'Maximum Payload Violation'",
    );
    expect_refused(
        &mut fake_leaf(&hub),
        b"LS+ foo\r\n",
        "-ERR 'Authorization Violation'",
    );
    expect_refused(
        &mut fake_leaf(&hub),
        b"CONNECT {\"user\":\"u\",\"pass\":\"wrong\"}\r\n",
        "-ERR 'Authorization Violation'",
    );
    // A line that never ends is refused once it passes the limit, however
    // slowly it comes.
    let mut c = connected_fake_leaf(&hub);
    c.send("LS+ ");
    for _ in 0..70 {
        // The hub may close before the last piece: write errors are expected.
        let _ = std::io::Write::write_all(&mut c.stream, &[b'x'; 1024]);
    }
    let (lines, closed) = c.read_until_closed(Duration::from_secs(5));
    assert!(closed, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "-ERR 'maximum control line exceeded'"),
        "{lines:?}"
    );
    // The hub still serves leaves.
    let mut c = connected_fake_leaf(&hub);
    c.send("PING\r\n");
    let lines: Vec<String> = (0..20)
        .map_while(|_| c.try_read_line(Duration::from_secs(5)).ok())
        .take_while(|l| l != "PONG")
        .collect();
    assert!(lines.iter().all(|l| l.starts_with("LS+ ")), "{lines:?}");
}

#[test]
fn a_hub_refusing_the_credentials_is_logged_and_tried_again() {
    for hub_kind in [Impl::Reference, Impl::Lite] {
        if hub_kind == Impl::Reference && !reference_or_skip() {
            continue;
        }
        let hub = start(hub_kind, HUB, &[]);
        let conf = format!(
            "leafnodes {{ reconnect: \"100ms\", remotes = [ {{ url: \"{}\" }} ] }}",
            hub.leaf_url("u:wrong")
        );
        let mut leaf = start(Impl::Lite, &conf, &[]);
        let first = leaf
            .server
            .wait_for_log("Leafnode Error 'Authorization Violation'", LEAF_TIMEOUT)
            .unwrap_or_else(|| panic!("{:?}", leaf.server.log_lines()));
        let mark = leaf.server.log_lines().len();
        let again = leaf.server.wait_for_log_since(
            mark,
            "Leafnode Error 'Authorization Violation'",
            LEAF_TIMEOUT,
        );
        assert!(again.is_some(), "not retried after {first:?}");
        // Local clients are served meanwhile.
        let mut c = leaf.client();
        c.ping_pong();
    }
}

#[test]
fn a_user_with_permissions_is_refused_as_a_leaf() {
    // nats-lite does not enforce permissions on leaf connections: such a
    // user is refused there rather than let in with more than it may do.
    let hub = start(
        Impl::Lite,
        "authorization { users: [ { user: u, password: p, permissions: { publish: \"x\" } } ] }\n\
         leafnodes { listen: 127.0.0.1:-1 }",
        &[],
    );
    let mut c = fake_leaf(&hub);
    expect_refused(&mut c, CONNECT.as_bytes(), "-ERR 'Authorization Violation'");
    let mut hub = hub;
    assert!(hub
        .server
        .wait_for_log(
            "which nats-lite does not enforce on leafnode connections",
            LEAF_TIMEOUT
        )
        .is_some());
}
