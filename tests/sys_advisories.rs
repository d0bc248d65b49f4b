//! The system account's client advisories: `$SYS.ACCOUNT.<acc>.CONNECT`
//! and `.DISCONNECT`, `$SYS.SERVER.<id>.CLIENT.AUTH.ERR` and `.SHUTDOWN`,
//! seen by a system user, with the JSON keys nats-server
//! 2.9.10 sends (checked against it with `NATS_TEST_REFERENCE=1`): for
//! configured and JWT users, from another server of a cluster, and none in
//! an ordinary account without a system account.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::config_support::{start_with_conf, ConfDir};
use crate::sys_requests::{login, next_msg, CONF};
use crate::util::RawClient;

/// The keys of a JSON object.
fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// The next message: its subject and JSON payload.
fn next_event(c: &mut RawClient) -> (String, Value) {
    let (head, payload) = next_msg(c);
    let subject = head.split_whitespace().nth(1).unwrap().to_string();
    let v = serde_json::from_slice(&payload)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&payload)));
    (subject, v)
}

/// The next event about account A (the system user's own connect, queued
/// as it subscribed, may come first).
fn next_event_of_a(c: &mut RawClient) -> (String, Value) {
    loop {
        let (subject, v) = next_event(c);
        if v["client"]["acc"] != "SYS" {
            return (subject, v);
        }
    }
}

/// The `server` block and the `client` fields both events carry.
fn check_common(e: &Value, kind: &str) {
    assert_eq!(e["type"], kind, "{e}");
    assert_eq!(e["id"].as_str().map(str::len), Some(22), "{e}");
    assert!(e["timestamp"].is_string(), "{e}");
    assert_eq!(
        keys(&e["server"]),
        set(&["name", "host", "id", "ver", "seq", "jetstream", "time"]),
        "{e}"
    );
    assert_eq!(e["server"]["name"], "sys_test", "{e}");
    let c = &e["client"];
    assert_eq!(c["acc"], "A", "{e}");
    assert_eq!(c["user"], "a", "{e}");
    assert_eq!(c["name"], "adv-client", "{e}");
    assert_eq!(c["lang"], "rust", "{e}");
    assert_eq!(c["ver"], "1.2.3", "{e}");
    assert_eq!(c["kind"], "Client", "{e}");
    assert_eq!(c["client_type"], "nats", "{e}");
    assert_eq!(c["host"], "127.0.0.1", "{e}");
    assert!(c["id"].as_u64().is_some_and(|id| id > 0), "{e}");
    assert!(c["start"].is_string(), "{e}");
}

#[test]
fn a_system_user_sees_a_client_connect_and_disconnect() {
    let dir = ConfDir::new("sys-advisories");
    let server = start_with_conf(&dir, CONF, &[]);
    let mut sys = login(&server, "sys");
    sys.send("SUB $SYS.ACCOUNT.*.CONNECT 1\r\nSUB $SYS.ACCOUNT.*.DISCONNECT 2\r\n");
    sys.ping_pong();

    let mut a = server.client(
        r#"{"verbose":false,"user":"a","pass":"a","name":"adv-client","lang":"rust","version":"1.2.3","protocol":1}"#,
    );
    // Three messages in (13 payload bytes), one back out (3 bytes).
    a.send("SUB _INBOX.adv 1\r\nPUB a.x 5\r\nhello\r\nPUB a.y 5\r\nworld\r\nPUB _INBOX.adv 3\r\nbye\r\n");
    let (_, payload) = a.read_msg();
    assert_eq!(payload, b"bye");
    a.ping_pong();

    let (subject, connect) = next_event_of_a(&mut sys);
    assert_eq!(subject, "$SYS.ACCOUNT.A.CONNECT", "{connect}");
    check_common(&connect, "io.nats.server.advisory.v1.client_connect");
    assert_eq!(
        keys(&connect),
        set(&["type", "id", "timestamp", "server", "client"]),
        "{connect}"
    );
    assert_eq!(
        keys(&connect["client"]),
        set(&[
            "start",
            "host",
            "id",
            "acc",
            "user",
            "name",
            "lang",
            "ver",
            "kind",
            "client_type"
        ]),
        "{connect}"
    );

    drop(a);
    let (subject, gone) = next_event_of_a(&mut sys);
    assert_eq!(subject, "$SYS.ACCOUNT.A.DISCONNECT", "{gone}");
    check_common(&gone, "io.nats.server.advisory.v1.client_disconnect");
    assert_eq!(
        keys(&gone),
        set(&[
            "type",
            "id",
            "timestamp",
            "server",
            "client",
            "sent",
            "received",
            "reason"
        ]),
        "{gone}"
    );
    assert_eq!(gone["client"]["id"], connect["client"]["id"], "{gone}");
    assert_ne!(gone["id"], connect["id"], "{gone}");
    // The round trip: measured, or estimated from accept to CONNECT.
    assert!(
        gone["client"]["rtt"].as_u64().is_some_and(|n| n > 0),
        "{gone}"
    );
    let mut want = keys(&connect["client"]);
    want.extend(["stop", "rtt"]);
    assert_eq!(keys(&gone["client"]), want, "{gone}");
    assert!(gone["client"]["stop"].is_string(), "{gone}");
    assert_eq!(gone["sent"], serde_json::json!({"msgs": 3, "bytes": 13}));
    assert_eq!(gone["received"], serde_json::json!({"msgs": 1, "bytes": 3}));
    assert_eq!(gone["reason"], "Client Closed", "{gone}");
}

#[test]
fn an_ordinary_account_sees_no_advisories_without_a_system_account() {
    let conf = r#"
server_name: sys_test
accounts {
  A { users [ {user: a, password: a}, {user: b, password: b} ] }
}
"#;
    let dir = ConfDir::new("sys-advisories-none");
    let server = start_with_conf(&dir, conf, &[]);
    let mut watcher = login(&server, "a");
    watcher.send("SUB $SYS.ACCOUNT.> 1\r\nSUB marker 2\r\n");
    watcher.ping_pong();
    let mut b = login(&server, "b");
    b.ping_pong();
    drop(b);
    // Another client's publish, after the close: the first message.
    let mut a = login(&server, "a");
    a.send("PUB marker 2\r\nok\r\n");
    a.ping_pong();
    let (head, payload) = next_msg(&mut watcher);
    assert!(head.starts_with("MSG marker 2 "), "{head}");
    assert_eq!(payload, b"ok");
}

#[test]
fn refused_credentials_make_an_auth_error_advisory() {
    let dir = ConfDir::new("sys-advisories-auth");
    let server = start_with_conf(&dir, CONF, &[]);
    let mut sys = login(&server, "sys");
    sys.send("SUB $SYS.SERVER.*.CLIENT.AUTH.ERR 1\r\nSUB $SYS.ACCOUNT.*.DISCONNECT 2\r\n");
    sys.ping_pong();
    let id = crate::sys_requests::request(&mut sys, "$SYS.REQ.SERVER.PING.VARZ", "")["data"]
        ["server_id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut bad = server.connect();
    bad.read_info();
    bad.send(concat!(
        r#"CONNECT {"verbose":false,"user":"a","pass":"wrong","name":"bad-client","#,
        r#""lang":"rust","version":"1.2.3"}"#,
        "\r\nPING\r\n"
    ));
    bad.expect_err_and_close("-ERR 'Authorization Violation'", false);

    let (subject, e) = next_event(&mut sys);
    assert_eq!(subject, format!("$SYS.SERVER.{id}.CLIENT.AUTH.ERR"), "{e}");
    assert_eq!(
        e["type"], "io.nats.server.advisory.v1.client_disconnect",
        "{e}"
    );
    assert_eq!(
        keys(&e),
        set(&[
            "type",
            "id",
            "timestamp",
            "server",
            "client",
            "sent",
            "received",
            "reason"
        ]),
        "{e}"
    );
    assert_eq!(
        keys(&e["client"]),
        set(&[
            "start",
            "host",
            "id",
            "acc",
            "user",
            "name",
            "lang",
            "ver",
            "rtt",
            "stop",
            "kind",
            "client_type"
        ]),
        "{e}"
    );
    let c = &e["client"];
    assert_eq!(
        (&c["acc"], &c["user"], &c["name"], &c["lang"], &c["ver"]),
        (
            &"$G".into(),
            &"a".into(),
            &"bad-client".into(),
            &"rust".into(),
            &"1.2.3".into()
        ),
        "{e}"
    );
    assert_eq!(e["reason"], "Authentication Failure", "{e}");
    assert_eq!(e["sent"], serde_json::json!({"msgs": 0, "bytes": 0}));
    assert_eq!(e["received"], serde_json::json!({"msgs": 0, "bytes": 0}));

    // An op before CONNECT: the same, without names.
    let mut early = server.connect();
    early.read_info();
    early.send("PUB a.x 2\r\nhi\r\n");
    early.expect_err_and_close("-ERR 'Authorization Violation'", false);
    let (subject, e) = next_event(&mut sys);
    assert!(subject.ends_with(".CLIENT.AUTH.ERR"), "{subject}: {e}");
    assert_eq!(
        keys(&e["client"]),
        set(&["start", "host", "id", "acc", "stop", "kind", "client_type"]),
        "{e}"
    );
    assert_eq!(e["reason"], "Authentication Failure", "{e}");
}

#[test]
fn a_system_user_sees_the_server_shut_down() {
    let dir = ConfDir::new("sys-advisories-shutdown");
    let mut server = start_with_conf(&dir, CONF, &[]);
    let mut sys = login(&server, "sys");
    sys.send("SUB $SYS.SERVER.*.SHUTDOWN 1\r\n");
    sys.ping_pong();
    let id = crate::sys_requests::request(&mut sys, "$SYS.REQ.SERVER.PING.VARZ", "")["data"]
        ["server_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        server.terminate(Duration::from_secs(10)).is_some(),
        "no exit"
    );
    let (subject, e) = next_event(&mut sys);
    assert_eq!(subject, format!("$SYS.SERVER.{id}.SHUTDOWN"), "{e}");
    assert_eq!(
        keys(&e),
        set(&["name", "host", "id", "ver", "seq", "jetstream", "time"]),
        "{e}"
    );
    assert_eq!(e["id"], id.as_str(), "{e}");
    assert_eq!(e["name"], "sys_test", "{e}");
}

#[test]
fn a_jwt_user_s_events_carry_its_jwt_and_issuer() {
    use crate::auth_jwt::account_key;
    use crate::sys_operator::{login as jwt_login, operator_server};
    let (server, _dir, k) = operator_server("sys-advisories-jwt");
    let mut sysop = jwt_login(&server, &k, "sysop");
    sysop.send("SUB $SYS.ACCOUNT.*.CONNECT 1\r\nSUB $SYS.ACCOUNT.*.DISCONNECT 2\r\n");
    sysop.ping_pong();
    let sys_key = account_key(&k, "SYS");
    let f_key = account_key(&k, "F");
    let frank = &k["users"]["frank"];
    let jwt = frank["jwt"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &data_encoding::BASE64URL_NOPAD
            .decode(payload.as_bytes())
            .unwrap(),
    )
    .unwrap();
    let next = |c: &mut RawClient| loop {
        let (subject, v) = next_event(c);
        if v["client"]["acc"] != sys_key.as_str() {
            return (subject, v);
        }
    };

    let f = jwt_login(&server, &k, "frank");
    let (subject, e) = next(&mut sysop);
    assert_eq!(subject, format!("$SYS.ACCOUNT.{f_key}.CONNECT"), "{e}");
    let c = &e["client"];
    assert_eq!(c["acc"], f_key.as_str(), "{e}");
    assert_eq!(c["user"], frank["public"], "{e}");
    assert_eq!(c["jwt"], jwt, "{e}");
    assert_eq!(c["issuer_key"], claims["iss"], "{e}");
    assert_eq!(c["name_tag"], claims["name"], "{e}");
    assert_eq!(
        keys(c),
        set(&[
            "start",
            "host",
            "id",
            "acc",
            "user",
            "jwt",
            "issuer_key",
            "name_tag",
            "kind",
            "client_type"
        ]),
        "{e}"
    );
    drop(f);
    let (subject, e) = next(&mut sysop);
    assert_eq!(subject, format!("$SYS.ACCOUNT.{f_key}.DISCONNECT"), "{e}");
    assert_eq!(e["client"]["jwt"], jwt, "{e}");
    assert_eq!(e["client"]["issuer_key"], claims["iss"], "{e}");
    let mut want = keys(c);
    want.extend(["rtt", "stop"]);
    assert_eq!(keys(&e["client"]), want, "{e}");
}

#[test]
fn a_client_s_connect_reaches_a_system_user_on_another_server() {
    use crate::cluster_support::{seed_cluster_with, sync_interest, Impl};
    let dir = ConfDir::new("sys-advisories-cluster");
    let conf = crate::sys_requests::cluster_conf(&dir);
    let kind = if crate::util::is_reference() {
        Impl::Reference
    } else {
        Impl::Lite
    };
    let nodes = seed_cluster_with(&[kind, kind], &["-c", &conf]);
    let mut sys = login(&nodes[0].server, "sys");
    sys.send("SUB $SYS.ACCOUNT.A.CONNECT 1\r\n");
    sys.ping_pong();
    let mut other = login(&nodes[1].server, "sys");
    sync_interest(&mut sys, &mut other);
    let id = nodes[1].json("/varz")["server_id"]
        .as_str()
        .unwrap()
        .to_string();

    let _a = login(&nodes[1].server, "a");
    let (subject, e) = next_event(&mut sys);
    assert_eq!(subject, "$SYS.ACCOUNT.A.CONNECT", "{e}");
    assert_eq!(e["server"]["id"], id.as_str(), "{e}");
    assert_eq!(e["server"]["cluster"], "ctest", "{e}");
    assert_eq!(e["client"]["acc"], "A", "{e}");
}
