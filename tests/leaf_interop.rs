//! Leafnodes against the real nats-server 2.9.10, both ways: a nats-server
//! leaf soliciting a nats-lite hub and a nats-lite leaf soliciting a
//! nats-server hub (user/password, TLS), and nats-lite on both sides.
//! Credentials files (user JWT and seed) against an operator-mode hub.
//! Traffic flows both ways (`leaf_support::exchange`); a hub restart is
//! survived with the subscriptions re-established, and local delivery on
//! the leaf goes on while the hub is away.

use std::time::Duration;

use crate::cluster_support::{collect, publish_n, sync_interest, Impl};
use crate::config_support::ConfDir;
use crate::leaf_support::{exchange, next_msg, reference_or_skip, start, start_in};
use crate::obs_support::free_port;
use crate::tls_support::Pki;

const HUB_AUTH: &str = "authorization { user: leafy, password: s3cret }";

fn hub_conf() -> String {
    format!("leafnodes {{ listen: 127.0.0.1:-1, {HUB_AUTH} }}")
}

fn leaf_conf(url: &str) -> String {
    format!("leafnodes {{ remotes = [ {{ url: \"{url}\" }} ] }}")
}

/// `hub_kind` hub, `leaf_kind` leaf, user/password: traffic both ways.
fn pair(hub_kind: Impl, leaf_kind: Impl) {
    let mut hub = start(hub_kind, &hub_conf(), &[]);
    let leaf = start(leaf_kind, &leaf_conf(&hub.leaf_url("leafy:s3cret")), &[]);
    hub.wait_leaf();
    exchange(&mut hub.client(), &mut leaf.client());
}

#[test]
fn a_nats_server_leaf_solicits_a_nats_lite_hub() {
    if reference_or_skip() {
        pair(Impl::Lite, Impl::Reference);
    }
}

#[test]
fn a_nats_lite_leaf_solicits_a_nats_server_hub() {
    if reference_or_skip() {
        pair(Impl::Reference, Impl::Lite);
    }
}

#[test]
fn nats_lite_on_both_sides() {
    pair(Impl::Lite, Impl::Lite);
}

#[test]
fn a_nats_lite_leaf_solicits_a_nats_server_hub_over_tls() {
    if reference_or_skip() {
        tls_pair(Impl::Reference, Impl::Lite, "leaf-tls");
    }
}

#[test]
fn a_nats_lite_hub_accepts_a_nats_server_leaf_over_tls() {
    if reference_or_skip() {
        tls_pair(Impl::Lite, Impl::Reference, "leaf-tls-hub");
    }
}

/// A `hub` with a TLS leafnode port (a certificate for `localhost` from a
/// test CA) and a `leaf` that verifies it: traffic both ways.
fn tls_pair(hub: Impl, leaf: Impl, name: &str) {
    let dir = ConfDir::new(name);
    let pki = Pki::new(dir.path(), "hub");
    let hub_conf = format!(
        "leafnodes {{ listen: 127.0.0.1:-1, {HUB_AUTH}, tls {{ cert_file: \"{}\", key_file: \"{}\" }} }}",
        pki.server_cert_file.display(),
        pki.server_key_file.display()
    );
    let mut hub = start_in(hub, dir, &hub_conf, &[]);
    let url = hub
        .leaf_url("leafy:s3cret")
        .replace("127.0.0.1", "localhost");
    let leaf_conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"{url}\", tls {{ ca_file: \"{}\" }} }} ] }}",
        pki.ca_file.display()
    );
    let leaf = start(leaf, &leaf_conf, &[]);
    hub.wait_leaf();
    exchange(&mut hub.client(), &mut leaf.client());
}

#[test]
fn a_hub_restart_is_survived_and_local_traffic_goes_on_meanwhile() {
    if !reference_or_skip() {
        return;
    }
    let port = free_port();
    let hub_conf = format!("leafnodes {{ listen: 127.0.0.1:{port}, {HUB_AUTH} }}");
    let mut hub = start(Impl::Reference, &hub_conf, &[]);
    let leaf_conf = format!(
        "leafnodes {{ reconnect: \"100ms\", remotes = [ {{ url: \"{}\" }} ] }}",
        hub.leaf_url("leafy:s3cret")
    );
    let leaf = start(Impl::Lite, &leaf_conf, &[]);
    hub.wait_leaf();
    let mut local_sub = leaf.client();
    local_sub.send("SUB edge.> 1\r\n");
    let mut local_pub = leaf.client();
    let mut hub_client = hub.client();
    sync_interest(&mut local_sub, &mut hub_client);

    drop(hub_client);
    drop(hub);
    // The link is down: local clients still talk to each other.
    local_pub.send("PUB edge.local 3\r\nabc\r\n");
    local_pub.flush();
    assert_eq!(
        next_msg(&mut local_sub),
        ("MSG edge.local 1 3".into(), "abc".into())
    );

    // The hub comes back on the same port: the leaf reconnects and sends
    // its interest again; the hub's interest reaches the leaf.
    let mut hub = start(Impl::Reference, &hub_conf, &[]);
    hub.wait_leaf();
    let mut hub_client = hub.client();
    sync_interest(&mut local_sub, &mut hub_client);
    hub_client.send("PUB edge.remote 2\r\nhi\r\n");
    hub_client.flush();
    assert_eq!(
        next_msg(&mut local_sub),
        ("MSG edge.remote 1 2".into(), "hi".into())
    );
    hub_client.send("SUB up 7\r\n");
    sync_interest(&mut hub_client, &mut local_pub);
    local_pub.send("PUB up 2\r\nok\r\n");
    local_pub.flush();
    assert_eq!(
        next_msg(&mut hub_client),
        ("MSG up 7 2".into(), "ok".into())
    );
}

/// A leaf with a credentials file (a user JWT of account A and its seed)
/// against an operator-mode hub: bound to A there.
fn with_credentials(hub_kind: Impl) {
    let k = crate::auth_jwt::keys();
    let hub_conf = format!(
        "{}\nleafnodes {{ listen: 127.0.0.1:-1 }}\n",
        crate::auth_jwt::operator_conf(&k, "O", crate::auth_jwt::ACCOUNTS)
    );
    let mut hub = start(hub_kind, &hub_conf, &[]);
    let dir = ConfDir::new("leaf-creds");
    let creds = crate::auth_jwt::creds(&dir, "bob");
    let leaf_conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"{}\", credentials: \"{creds}\" }} ] }}",
        hub.leaf_url("")
    );
    let leaf = start_in(Impl::Lite, dir, &leaf_conf, &[]);
    hub.wait_leaf();
    let mut hub_client = crate::auth_jwt::connected(&hub.server, &k, "bob");
    hub_client.send("CONNECT {\"verbose\":false,\"headers\":true}\r\n");
    exchange(&mut hub_client, &mut leaf.client());
}

#[test]
fn a_nats_lite_leaf_with_credentials_solicits_an_operator_mode_nats_server_hub() {
    if reference_or_skip() {
        with_credentials(Impl::Reference);
    }
}

#[test]
fn a_nats_lite_leaf_with_credentials_solicits_an_operator_mode_nats_lite_hub() {
    with_credentials(Impl::Lite);
}

#[test]
fn a_leaf_tries_its_urls_in_turn() {
    let mut hub = start(Impl::Lite, &hub_conf(), &[]);
    let dead = free_port();
    let conf = format!(
        "leafnodes {{ reconnect: \"100ms\", remotes = [ {{ urls: [\
         \"nats-leaf://leafy:s3cret@127.0.0.1:{dead}\", \"{}\" ] }} ] }}",
        hub.leaf_url("leafy:s3cret")
    );
    let leaf = start(Impl::Lite, &conf, &[]);
    hub.wait_leaf();
    exchange(&mut hub.client(), &mut leaf.client());
}

/// Subscribers of one subject on both sides; a publisher on each side:
/// every subscriber gets each message once (the hub never sends a leaf's
/// message back to it, nor the leaf the hub's).
fn no_echo(hub_kind: Impl, leaf_kind: Impl) {
    let mut hub = start(hub_kind, &hub_conf(), &[]);
    let leaf = start(leaf_kind, &leaf_conf(&hub.leaf_url("leafy:s3cret")), &[]);
    hub.wait_leaf();
    let (mut hub_sub, mut leaf_sub) = (hub.client(), leaf.client());
    let (mut hub_pub, mut leaf_pub) = (hub.client(), leaf.client());
    hub_sub.send("SUB both 1\r\n");
    leaf_sub.send("SUB both 1\r\n");
    sync_interest(&mut hub_sub, &mut leaf_pub);
    sync_interest(&mut leaf_sub, &mut hub_pub);
    publish_n(&mut leaf_pub, "both", "leaf", 20);
    publish_n(&mut hub_pub, "both", "hub", 20);
    for (side, sub) in [("hub", &mut hub_sub), ("leaf", &mut leaf_sub)] {
        let got = collect(sub, 40, Duration::from_millis(300));
        assert_eq!(got["1"].len(), 40, "{side}: {got:?}");
    }
}

#[test]
fn a_message_never_comes_back_to_its_side() {
    no_echo(Impl::Lite, Impl::Lite);
    if reference_or_skip() {
        no_echo(Impl::Lite, Impl::Reference);
        no_echo(Impl::Reference, Impl::Lite);
    }
}

#[test]
fn a_token_in_the_url_authenticates_to_a_nats_lite_hub() {
    let mut hub = start(
        Impl::Lite,
        "leafnodes { listen: 127.0.0.1:-1, authorization { token: t0ken } }",
        &[],
    );
    let leaf = start(Impl::Lite, &leaf_conf(&hub.leaf_url("t0ken")), &[]);
    hub.wait_leaf();
    exchange(&mut hub.client(), &mut leaf.client());
}

#[test]
fn each_link_is_bound_to_one_account_on_each_side() {
    let mut hub = start(
        Impl::Lite,
        "accounts { A: { users: [ { user: ca, password: p } ] }, \
         B: { users: [ { user: cb, password: p } ] } }\n\
         leafnodes { listen: 127.0.0.1:-1, \
         authorization { users: [ { user: la, password: p, account: A } ] } }",
        &[],
    );
    let leaf = start(
        Impl::Lite,
        &format!(
            "accounts {{ L: {{ users: [ {{ user: lu, password: p }} ] }} }}\n\
             leafnodes {{ remotes = [ {{ url: \"{}\", account: L }} ] }}",
            hub.leaf_url("la:p")
        ),
        &[],
    );
    hub.wait_leaf();
    let as_user = |s: &crate::leaf_support::LeafServer, u: &str| {
        s.server.client(&format!(
            r#"{{"verbose":false,"protocol":1,"headers":true,"user":"{u}","pass":"p"}}"#
        ))
    };
    let mut in_a = as_user(&hub, "ca");
    let mut in_b = as_user(&hub, "cb");
    let mut in_l = as_user(&leaf, "lu");
    in_b.send("SUB from.leaf.> 9\r\n");
    in_b.flush();
    exchange(&mut in_a, &mut in_l);
    // Account B on the hub saw none of it.
    assert!(in_b.flush().is_empty());
}
