//! Who a client is holds under hostile use and reloads (issue 16): a
//! `no_auth_user` guest that never sends CONNECT is settled at its first op
//! and re-checked by every reload; a reload that lands while a CONNECT's
//! bcrypt check runs still applies to that client; a reload that removes a
//! subscription withdraws its interest from the routes; a second CONNECT
//! may not move a client to another account; and failed logins cost no more
//! CPU than good ones, whatever user name they give.
#![cfg(unix)]

use crate::cluster_support::{eventually, Impl, Node, MESH_TIMEOUT};
use crate::config_support::{start_with_conf, ConfDir};
use crate::util::{
    is_reference, skip_under_reference, unsafe_kill, RawClient, ServerProcess, IO_TIMEOUT,
};

const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'";

fn user_pass(user: &str, pass: &str) -> String {
    serde_json::json!({"verbose": false, "user": user, "pass": pass}).to_string()
}

/// A bcrypt hash of `password` at `cost` (`$2a$`, as nats-server's tool).
fn bcrypt_hash(password: &str, cost: u32) -> String {
    bcrypt::hash_with_result(password, cost)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA)
}

/// Rewrite the config file, signal a reload (SIGHUP) and wait for
/// `Reloaded server configuration`.
fn reload(server: &mut ServerProcess, file: &str, conf: &str) {
    std::fs::write(file, conf).unwrap();
    let seen = server.log_lines().len();
    unsafe_kill(server.pid(), "HUP");
    server
        .wait_for_log_since(seen, "Reloaded server configuration", IO_TIMEOUT)
        .expect("no reload line");
}

/// Read lines up to the PONG of a PING sent now, answering nothing else.
fn lines_until_pong(c: &mut RawClient) -> Vec<String> {
    c.send("PING\r\n");
    let mut lines = Vec::new();
    loop {
        let l = c.read_line();
        if l == "PONG" {
            return lines;
        }
        lines.push(l);
    }
}

/// Users `admin` and `guest` (with `guest_perms`), `no_auth_user: guest`
/// unless `no_auth` is false.
fn guest_conf(guest_perms: &str, no_auth: bool) -> String {
    format!(
        "authorization {{ users: [ {{user: admin, password: s3cret}}, {{user: guest, password: g, permissions: {guest_perms}}} ] }}\n{}",
        if no_auth { "no_auth_user: guest\n" } else { "" }
    )
}

/// A guest that never sends CONNECT (the telnet case) is settled at its
/// first op, so a reload that denies its subjects takes its subscription
/// away and refuses its publish, as for a user who sent CONNECT
/// (nats-server 2.9.10 closes the guest with `Authorization Violation`).
#[test]
fn no_auth_user_guest_without_connect_is_rechecked_on_reload() {
    let dir = ConfDir::new("guest-reload");
    let file = dir.write(
        "server.conf",
        &guest_conf("{publish: \">\", subscribe: \">\"}", true),
    );
    let mut server = ServerProcess::start_selected(&["-c", &file]);
    let mut guest = server.connect();
    guest.read_info();
    guest.send("SUB secret.> 1\r\n");
    assert_eq!(lines_until_pong(&mut guest), ["+OK"]);
    reload(
        &mut server,
        &file,
        &guest_conf("{publish: \"public.>\", subscribe: \"public.>\"}", true),
    );
    let first = guest.read_line();
    if is_reference() {
        // nats-server 2.9.10 cuts the guest off instead.
        assert_eq!(first, AUTH_VIOLATION);
        return;
    }
    assert_eq!(
        first,
        "-ERR 'Permissions Violation for Subscription to \"secret.>\" (sid \"1\")'"
    );
    guest.send("PUB secret.a 1\r\nx\r\n");
    assert_eq!(
        lines_until_pong(&mut guest),
        ["-ERR 'Permissions Violation for Publish to \"secret.a\"'"]
    );
    let mut admin = server.client(&user_pass("admin", "s3cret"));
    admin.send("PUB secret.b 1\r\ny\r\n");
    admin.flush();
    assert!(
        lines_until_pong(&mut guest).is_empty(),
        "the guest still receives secret.>"
    );
}

/// A reload that removes `no_auth_user` cuts off the guest that never sent
/// CONNECT (nats-server 2.9.10 refuses such a reload: `config reload not
/// supported for NoAuthUser`).
#[test]
fn reload_removing_no_auth_user_closes_the_guest() {
    if skip_under_reference("nats-server 2.9.10 refuses to reload a changed no_auth_user") {
        return;
    }
    let dir = ConfDir::new("guest-removed");
    let file = dir.write("server.conf", &guest_conf("{subscribe: \">\"}", true));
    let mut server = ServerProcess::start_selected(&["-c", &file]);
    let mut guest = server.connect();
    guest.read_info();
    guest.send("SUB secret.> 1\r\n");
    assert_eq!(lines_until_pong(&mut guest), ["+OK"]);
    reload(&mut server, &file, &guest_conf("{subscribe: \">\"}", false));
    let (lines, closed) = guest.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "got {lines:?}, closed={closed}"
    );
}

/// A reload that lands while a CONNECT's bcrypt check (cost 10, a few
/// hundred ms in a debug build) is running: the client was checked against
/// the old password, and must be checked again against the new one.
#[test]
fn reload_during_a_bcrypt_connect_rechecks_it() {
    let dir = ConfDir::new("reload-race");
    let conf =
        |hash: &str| format!("authorization {{ users: [ {{user: u, password: \"{hash}\"}} ] }}\n");
    let file = dir.write("server.conf", &conf(&bcrypt_hash("old", 10)));
    let mut server = ServerProcess::start_selected(&["-c", &file, "-D", "-V"]);
    let new_conf = conf(&bcrypt_hash("new", 4));
    let mut c = server.connect();
    c.read_info();
    c.send(format!("CONNECT {}\r\n", user_pass("u", "old")));
    // The CONNECT is traced before its password is checked.
    server
        .wait_for_log("<<- [CONNECT", IO_TIMEOUT)
        .expect("CONNECT traced");
    reload(&mut server, &file, &new_conf);
    c.send("PING\r\n");
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "kept the old password's rights: got {lines:?}, closed={closed}"
    );
}

/// A reload that denies a subscription withdraws its interest from the
/// cluster: the other server stops listing it for the route (`RS-`).
#[test]
fn reload_removing_a_subscription_withdraws_route_interest() {
    let dir = ConfDir::new("reload-route-interest");
    let conf = |perms: &str| {
        format!(
            "cluster {{ listen: \"127.0.0.1:-1\", name: ctest }}\nauthorization {{ users: [ {{user: u, password: p, permissions: {perms}}} ] }}\n"
        )
    };
    let file = dir.write("server.conf", &conf("{subscribe: \">\"}"));
    let mut a = Node::start(Impl::Lite, &["-c", &file]);
    let b = Node::clustered(Impl::Lite, &[a.route_url()], &[]);
    b.wait_routes(1, MESH_TIMEOUT);
    let mut u = a.server.client(&user_pass("u", "p"));
    u.send("SUB secret.x 1\r\nSUB public.y 2\r\n");
    u.flush();
    let remote_subs = |node: &Node| -> Vec<String> {
        node.json("/routez?subs=1")["routes"][0]["subscriptions_list"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        eventually(MESH_TIMEOUT, || {
            let subs = remote_subs(&b);
            subs.contains(&"secret.x".to_string()) && subs.contains(&"public.y".to_string())
        }),
        "interest never reached the other server: {:?}",
        remote_subs(&b)
    );
    reload(&mut a.server, &file, &conf("{subscribe: \"public.>\"}"));
    assert_eq!(
        u.read_line(),
        "-ERR 'Permissions Violation for Subscription to \"secret.x\" (sid \"1\")'"
    );
    assert!(
        eventually(MESH_TIMEOUT, || !remote_subs(&b)
            .contains(&"secret.x".to_string())),
        "the removed subscription is still announced: {:?}",
        remote_subs(&b)
    );
    assert!(remote_subs(&b).contains(&"public.y".to_string()));
}

/// A second CONNECT as a user of another account is refused and the
/// connection closed (nats-server 2.9.10 switches the account and leaves
/// the subscriptions in the old one, where they keep receiving); a second
/// CONNECT as another user of the same account is accepted.
#[test]
fn second_connect_may_not_change_the_account() {
    if skip_under_reference(
        "nats-server 2.9.10 moves the client and leaves its subscriptions behind",
    ) {
        return;
    }
    let dir = ConfDir::new("second-connect-account");
    let server = start_with_conf(
        &dir,
        "accounts { A { users: [ {user: a, password: pa}, {user: a2, password: pa2} ] }, B { users: [ {user: b, password: pb} ] } }\n",
        &[],
    );
    let mut c = server.client(&user_pass("a", "pa"));
    c.send(format!("SUB x 1\r\nCONNECT {}\r\n", user_pass("a2", "pa2")));
    assert!(c.flush().is_empty(), "same account: accepted");
    c.send(format!("CONNECT {}\r\nPING\r\n", user_pass("b", "pb")));
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "got {lines:?}, closed={closed}"
    );
    // The old account's subscription went with the connection.
    let mut other = server.client(&user_pass("a", "pa"));
    other.send("SUB x 9\r\nPUB x 1\r\nz\r\n");
    assert_eq!(other.flush(), ["MSG x 9 1", "z"]);
}
