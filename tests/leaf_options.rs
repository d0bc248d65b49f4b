//! Leafnode options beyond the URL: a remote's `disabled` (it is not
//! solicited), `deny_imports` / `deny_exports` (the link's permissions,
//! checked with a nats-server 2.9.10 hub and a nats-lite one, and
//! nats-server as the reference leaf) and `first_info_timeout`; the
//! block's `write_deadline` and `min_version` (in every pairing with
//! nats-server 2.9.10); `hub: true` remotes both ways with nats-server.

use crate::cluster_support::{sync_interest, Impl};
use crate::leaf_support::{exchange, next_msg, reference_or_skip, start, LEAF_TIMEOUT};
use crate::util::START_TIMEOUT;

/// A remote with `disabled: true` is not dialled; the other remote of the
/// same server (to the same hub) links and carries traffic.
#[test]
fn a_disabled_remote_is_not_solicited() {
    let mut hub = start(Impl::Lite, "leafnodes { listen: 127.0.0.1:-1 }", &[]);
    let url = hub.leaf_url("");
    let conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"{url}\", disabled: true }}, {{ url: \"{url}\" }} ] }}"
    );
    let mut leaf = start(Impl::Lite, &conf, &[]);
    leaf.server
        .wait_for_log("is disabled, not soliciting it", START_TIMEOUT)
        .expect("no line for the disabled remote");
    hub.wait_leaf();
    // Round trips both ways: a second link (or a loop refusal between
    // the two) would have formed by the end.
    exchange(&mut hub.client(), &mut leaf.client());
    let created = |lines: Vec<String>| {
        lines
            .iter()
            .filter(|l| l.contains("Leafnode connection created"))
            .count()
    };
    assert_eq!(created(hub.server.log_lines()), 1);
    assert_eq!(created(leaf.server.log_lines()), 1);
    assert!(!leaf
        .server
        .log_lines()
        .iter()
        .any(|l| l.contains("Loop detected")));
}

/// A `leaf_kind` leaf with `deny_imports` and `deny_exports` on its
/// remote to a `hub_kind` hub: messages on denied subjects do not cross
/// (whether the subscription names them or a wildcard covers them), the
/// others do.
fn deny_lists(hub_kind: Impl, leaf_kind: Impl) {
    let mut hub = start(hub_kind, "leafnodes { listen: 127.0.0.1:-1 }", &[]);
    let conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"{}\", deny_imports: [\"in.secret\", \"in.hidden.>\"], \
         deny_export: \"out.secret\" }} ] }}",
        hub.leaf_url("")
    );
    let leaf = start(leaf_kind, &conf, &[]);
    hub.wait_leaf();
    let (mut h, mut l) = (hub.client(), leaf.client());

    // Imports: the hub publishes, a leaf client subscribes.
    l.send("SUB in.> 1\r\nSUB in.secret 2\r\nSUB in.hidden.x 3\r\n");
    sync_interest(&mut l, &mut h);
    h.send("PUB in.secret 1\r\na\r\nPUB in.hidden.x 1\r\nb\r\nPUB in.open 1\r\nc\r\n");
    h.flush();
    assert_eq!(next_msg(&mut l), ("MSG in.open 1 1".into(), "c".into()));
    assert!(l.flush().is_empty());

    // Exports: a leaf client publishes, a hub client subscribes.
    h.send("SUB out.> 1\r\nSUB out.secret 2\r\n");
    sync_interest(&mut h, &mut l);
    l.send("PUB out.secret 1\r\nd\r\nPUB out.open 1\r\ne\r\n");
    l.flush();
    assert_eq!(next_msg(&mut h), ("MSG out.open 1 1".into(), "e".into()));
    assert!(h.flush().is_empty());

    // Local delivery on the leaf is not affected.
    l.send("SUB out.secret 4\r\nPUB out.secret 1\r\nf\r\n");
    assert_eq!(next_msg(&mut l), ("MSG out.secret 4 1".into(), "f".into()));
}

#[test]
fn deny_lists_of_a_nats_server_leaf_as_reference() {
    if reference_or_skip() {
        deny_lists(Impl::Reference, Impl::Reference);
    }
}

#[test]
fn deny_lists_of_a_nats_lite_leaf_to_a_nats_server_hub() {
    if reference_or_skip() {
        deny_lists(Impl::Reference, Impl::Lite);
    }
}

#[test]
fn deny_lists_of_a_nats_lite_leaf_to_a_nats_lite_hub() {
    deny_lists(Impl::Lite, Impl::Lite);
}

/// `first_info_timeout`: a "hub" that accepts and never sends INFO is
/// given up on after that long (the default is 2 s).
#[test]
fn first_info_timeout_bounds_the_wait_for_the_hubs_info() {
    gives_up_on_a_hub_that_sends(|_| {}, "no INFO within 300ms");
}

/// `first_info_timeout` bounds the whole INFO line, not each read: a
/// "hub" that drips its INFO a byte every 50 ms (each read well within
/// the timeout) is given up on after the timeout all the same.
#[test]
fn first_info_timeout_is_not_stretched_by_a_dripped_info() {
    use std::io::Write;
    let drip = |mut conn: std::net::TcpStream| {
        std::thread::spawn(move || {
            for b in b"INFO {\"server_id\":\"NDRIP\",\"leafnode_urls\":[]} ".repeat(100) {
                if conn.write_all(&[b]).is_err() {
                    break;
                }
                // Pacing the drip, not synchronisation.
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
    };
    gives_up_on_a_hub_that_sends(drip, "no whole INFO within 300ms");
}

/// Start a leaf whose remote is a fake hub with `first_info_timeout` of
/// 300 ms, hand the accepted connection (a clone) to `behave`, and check
/// that the leaf hangs up within 1.5 s of the accept, sending nothing, and
/// logs `reason`.
fn gives_up_on_a_hub_that_sends(behave: impl FnOnce(std::net::TcpStream), reason: &str) {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let hub = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hub.local_addr().unwrap();
    let conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"nats-leaf://{addr}\", first_info_timeout: \"300ms\" }} ] }}"
    );
    let mut leaf = start(Impl::Lite, &conf, &[]);
    let (mut conn, _) = hub.accept().unwrap();
    let accepted = Instant::now();
    behave(conn.try_clone().unwrap());
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    // The leaf sends nothing before the INFO; the read ends when it hangs up.
    let n = conn.read(&mut buf).unwrap_or(0);
    let waited = accepted.elapsed();
    assert_eq!(n, 0, "the leaf sent something before the hub's INFO");
    assert!(
        waited < Duration::from_millis(1500),
        "gave up only after {waited:?}"
    );
    let line = leaf
        .server
        .wait_for_log("Error reading the leafnode INFO", START_TIMEOUT)
        .expect("no log line for the missing INFO");
    assert!(line.contains(reason), "{line}");
}

/// `write_deadline` in the leafnodes block: a leaf that stops reading is
/// cut off as a slow consumer after that long, not after the server's
/// (10 s) deadline.
#[test]
fn the_leafnode_write_deadline_cuts_off_a_leaf_that_stops_reading() {
    use std::time::{Duration, Instant};
    let mut hub = start(
        Impl::Lite,
        "max_pending: 1GB\nleafnodes { listen: 127.0.0.1:-1, write_deadline: \"500ms\" }",
        &[],
    );
    let mut fake = crate::util::RawClient::connect(hub.leaf_addr.unwrap());
    assert!(fake.read_line().starts_with("INFO {"));
    fake.send("CONNECT {\"server_id\":\"NFAKE\",\"name\":\"fake\"}\r\nLS+ flood\r\nPING\r\n");
    // Read up to the PONG: the hub has the interest, then stop reading.
    while fake.read_line() != "PONG" {}
    let mut publisher = hub.client();
    let chunk = format!("PUB flood 65536\r\n{}\r\n", "x".repeat(65536));
    let started = Instant::now();
    // 64 MiB: far more than the socket buffers hold.
    for _ in 0..1024 {
        publisher.send(&chunk);
    }
    publisher.flush();
    let line = hub
        .server
        .wait_for_log("Slow Consumer (Write Deadline)", Duration::from_secs(8))
        .unwrap_or_else(|| panic!("not cut off: {:?}", hub.server.log_lines()));
    assert!(line.contains("lid:"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cut off only after {:?}",
        started.elapsed()
    );
}

/// The block's `min_version`: a leaf of an older server version is
/// refused with nats-server's error (both sides log it); a leaf at least
/// that version links.
fn min_version(hub_kind: Impl, leaf_kind: Impl) {
    let refusal = "connection rejected since minimum version required is \"2.10.0\"";
    let mut hub = start(
        hub_kind,
        "leafnodes { listen: 127.0.0.1:-1, min_version: \"2.10.0\" }",
        &[],
    );
    let conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"{}\" }} ] }}",
        hub.leaf_url("")
    );
    let mut leaf = start(leaf_kind, &conf, &[]);
    for s in [&mut hub.server, &mut leaf.server] {
        s.wait_for_log(refusal, LEAF_TIMEOUT)
            .unwrap_or_else(|| panic!("not refused: {:?}", s.log_lines()));
    }

    let mut hub = start(
        hub_kind,
        "leafnodes { listen: 127.0.0.1:-1, min_version: \"2.9.0\" }",
        &[],
    );
    let conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"{}\" }} ] }}",
        hub.leaf_url("")
    );
    let _leaf = start(leaf_kind, &conf, &[]);
    hub.wait_leaf();
}

#[test]
fn min_version_of_a_nats_server_hub_as_reference() {
    if reference_or_skip() {
        min_version(Impl::Reference, Impl::Reference);
    }
}

#[test]
fn min_version_of_a_nats_lite_hub_refuses_an_older_nats_server_leaf() {
    if reference_or_skip() {
        min_version(Impl::Lite, Impl::Reference);
    }
}

#[test]
fn min_version_of_a_nats_server_hub_with_a_nats_lite_leaf() {
    if reference_or_skip() {
        min_version(Impl::Reference, Impl::Lite);
    }
}

#[test]
fn min_version_between_nats_lite_servers() {
    min_version(Impl::Lite, Impl::Lite);
}

/// A remote with `hub: true`: this server (in a cluster of two nats-lite
/// servers) solicits a `spoke_kind` server, and is the hub on that
/// connection: the peer's interest and messages go on over our routes,
/// and the peer is told our cluster's interest (a spoke would do neither).
fn hub_remote(spoke_kind: Impl) {
    let spoke = start(spoke_kind, "leafnodes { listen: 127.0.0.1:-1 }", &[]);
    let mut a1 = start(
        Impl::Lite,
        &format!(
            "cluster {{ name: C, host: 127.0.0.1, port: -1 }}\nleafnodes {{ remotes = [ {{ url: \"{}\", hub: true }} ] }}",
            spoke.leaf_url("")
        ),
        &[],
    );
    let route_line = a1
        .server
        .wait_for_log("Listening for route connections on", START_TIMEOUT)
        .expect("route listener");
    let route = route_line.rsplit(' ').next().unwrap().to_string();
    let a2 = start(
        Impl::Lite,
        &format!("cluster {{ name: C, host: 127.0.0.1, port: -1, routes: [\"nats://{route}\"] }}"),
        &[],
    );
    a1.wait_leaf();
    let (mut on_spoke, mut on_a2) = (spoke.client(), a2.client());
    // The spoke's interest reaches a2 across our route, and a2's the spoke.
    sync_interest(&mut on_spoke, &mut on_a2);
    sync_interest(&mut on_a2, &mut on_spoke);
    on_spoke.send("SUB down 1\r\n");
    on_a2.send("SUB up 1\r\n");
    sync_interest(&mut on_spoke, &mut on_a2);
    sync_interest(&mut on_a2, &mut on_spoke);
    on_a2.send("PUB down 1\r\na\r\n");
    on_spoke.send("PUB up 1\r\nb\r\n");
    assert_eq!(next_msg(&mut on_spoke), ("MSG down 1 1".into(), "a".into()));
    assert_eq!(next_msg(&mut on_a2), ("MSG up 1 1".into(), "b".into()));
}

#[test]
fn a_hub_remote_to_a_nats_server_makes_the_soliciting_server_the_hub() {
    if reference_or_skip() {
        hub_remote(Impl::Reference);
    }
}

#[test]
fn a_hub_remote_to_a_nats_lite_server_makes_the_soliciting_server_the_hub() {
    hub_remote(Impl::Lite);
}

/// A nats-server remote with `hub: true` solicits a nats-lite server,
/// which takes the spoke's part: traffic flows both ways.
#[test]
fn a_nats_server_hub_remote_solicits_a_nats_lite_spoke() {
    if !reference_or_skip() {
        return;
    }
    let mut spoke = start(Impl::Lite, "leafnodes { listen: 127.0.0.1:-1 }", &[]);
    let conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"{}\", hub: true }} ] }}",
        spoke.leaf_url("")
    );
    let hub = start(Impl::Reference, &conf, &[]);
    spoke.wait_leaf();
    exchange(&mut hub.client(), &mut spoke.client());
}
