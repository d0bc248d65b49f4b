//! The system account's request subjects (`$SYS.REQ.SERVER.PING`, the
//! monitoring kinds by PING and by server id, the account requests,
//! `$SYS.REQ.USER.INFO`), with a `system_account` in config mode: the reply
//! envelope, options in the request body, errors, filters, what ordinary
//! accounts may ask, every server of a cluster answering a PING, nats-py,
//! and a flood's excess dropped, counted and logged.
//! Checked against nats-server with `NATS_TEST_REFERENCE=1` (but USER.INFO,
//! which nats-server 2.9.10 does not have).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::auth_nkeys::python_with_nats;
use crate::cluster_support::{seed_cluster_with, Impl};
use crate::config_support::{run_with_deadline, start_with_conf, ConfDir};
use crate::monitor_util::Monitored;
use crate::util::{is_reference, RawClient, ServerProcess};

pub const CONF: &str = r#"
server_name: sys_test
accounts {
  SYS { users [ {user: sys, password: sys} ] }
  A {
    users [ {user: a, password: a, permissions: {
      publish: {allow: ["a.>", "$SYS.>", "_INBOX.>"], deny: ["a.secret"]}
      subscribe: {allow: ["_INBOX.>"]}
    }} ]
  }
}
system_account: SYS
"#;

/// Log in with headers and no_responders (so an unanswered request gets a
/// 503 status).
pub fn login(server: &ServerProcess, user: &str) -> RawClient {
    let mut c = server.client(
        &serde_json::json!({"verbose": false, "user": user, "pass": user,
            "headers": true, "no_responders": true, "protocol": 1})
        .to_string(),
    );
    c.ping_pong();
    c
}

/// The next MSG/HMSG (answering the server's PINGs on the way): its
/// control line and payload.
pub fn next_msg(c: &mut RawClient) -> (String, Vec<u8>) {
    loop {
        let line = c.read_line();
        if line == "PING" {
            c.send("PONG\r\n");
            continue;
        }
        if line == "PONG" || line == "+OK" {
            continue;
        }
        let size: usize = match line.split_whitespace().next() {
            Some("MSG" | "HMSG") => line.rsplit(' ').next().unwrap().parse().unwrap(),
            _ => panic!("expected a message, got {line:?}"),
        };
        let mut payload = c.read_exact_bytes(size + 2);
        payload.truncate(size);
        return (line, payload);
    }
}

/// Subscribe to a fresh inbox and publish `subject` with `body` to it.
pub fn send_request(c: &mut RawClient, inbox: &str, subject: &str, body: &str) {
    c.send(format!(
        "SUB {inbox} {inbox}\r\nPUB {subject} {inbox} {}\r\n{body}\r\n",
        body.len()
    ));
}

/// One request and its (JSON) reply.
pub fn request(c: &mut RawClient, subject: &str, body: &str) -> Value {
    let inbox = format!("_INBOX.sys{}", next_id());
    send_request(c, &inbox, subject, body);
    let (head, payload) = next_msg(c);
    assert!(head.starts_with(&format!("MSG {inbox} ")), "{head}");
    serde_json::from_slice(&payload)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&payload)))
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The fields of the `server` block every reply carries.
fn check_server_block(v: &Value, name: &str) {
    let s = &v["server"];
    assert_eq!(s["name"], name, "{v}");
    for key in ["host", "id", "ver", "time"] {
        assert!(s[key].is_string(), "server.{key}: {v}");
    }
    assert!(s["seq"].is_u64() && s["jetstream"].is_boolean(), "{v}");
}

#[test]
fn server_ping_and_monitoring_kinds_answer_in_the_envelope() {
    let dir = ConfDir::new("sys-ping");
    let server = start_with_conf(&dir, CONF, &[]);
    let mut sys = login(&server, "sys");
    let statsz = request(&mut sys, "$SYS.REQ.SERVER.PING", "");
    check_server_block(&statsz, "sys_test");
    let st = &statsz["statsz"];
    for key in [
        "start",
        "mem",
        "cores",
        "cpu",
        "connections",
        "total_connections",
    ] {
        assert!(!st[key].is_null(), "statsz.{key}: {statsz}");
    }
    for key in ["subscriptions", "slow_consumers", "active_accounts"] {
        assert!(st[key].is_u64(), "statsz.{key}: {statsz}");
    }
    assert!(st["sent"]["msgs"].is_u64() && st["received"]["bytes"].is_u64());
    assert!(st["connections"].as_u64().unwrap() >= 1, "{statsz}");
    let id = statsz["server"]["id"].as_str().unwrap().to_string();
    let again = request(&mut sys, "$SYS.REQ.SERVER.PING.STATSZ", "");
    assert!(again["statsz"]["mem"].is_u64(), "{again}");

    let varz = request(&mut sys, "$SYS.REQ.SERVER.PING.VARZ", "");
    check_server_block(&varz, "sys_test");
    assert_eq!(varz["data"]["server_id"], id.as_str(), "{varz}");
    assert_eq!(varz["data"]["system_account"], "SYS", "{varz}");
    assert!(varz.get("error").is_none(), "{varz}");

    // By server id, with the HTTP endpoint's options in the body.
    let connz = request(
        &mut sys,
        &format!("$SYS.REQ.SERVER.{id}.CONNZ"),
        r#"{"subscriptions": true, "auth": true}"#,
    );
    let conns = connz["data"]["connections"].as_array().unwrap();
    assert_eq!(connz["data"]["num_connections"], 1, "{connz}");
    assert_eq!(conns[0]["authorized_user"], "sys", "{connz}");
    assert!(conns[0]["subscriptions_list"].is_array(), "{connz}");

    let subsz = request(
        &mut sys,
        "$SYS.REQ.SERVER.PING.SUBSZ",
        r#"{"subscriptions": true}"#,
    );
    assert!(
        subsz["data"]["num_subscriptions"].as_u64().unwrap() >= 1,
        "{subsz}"
    );
    assert!(subsz["data"]["subscriptions_list"].is_array(), "{subsz}");
    let routez = request(&mut sys, "$SYS.REQ.SERVER.PING.ROUTEZ", "");
    assert_eq!(routez["data"]["num_routes"], 0, "{routez}");
    let accountz = request(&mut sys, "$SYS.REQ.SERVER.PING.ACCOUNTZ", "");
    assert_eq!(accountz["data"]["system_account"], "SYS", "{accountz}");
    let accounts: BTreeSet<&str> = accountz["data"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        accounts.contains("A") && accounts.contains("SYS"),
        "{accountz}"
    );
    let healthz = request(&mut sys, &format!("$SYS.REQ.SERVER.{id}.HEALTHZ"), "");
    assert_eq!(healthz["data"]["status"], "ok", "{healthz}");
}

#[test]
fn bad_options_errors_and_filters() {
    let dir = ConfDir::new("sys-errors");
    let server = start_with_conf(&dir, CONF, &[]);
    let mut sys = login(&server, "sys");
    // Options the endpoint refuses: 500, with a null data before the error.
    let bad = request(
        &mut sys,
        "$SYS.REQ.SERVER.PING.CONNZ",
        r#"{"sort": "bogus"}"#,
    );
    check_server_block(&bad, "sys_test");
    assert_eq!(bad["error"]["code"], 500, "{bad}");
    assert_eq!(bad["error"]["description"], "invalid sorting option: bogus");
    assert!(bad.as_object().unwrap().contains_key("data") && bad["data"].is_null());
    // A body that is not JSON: 400, no data.
    let bad = request(&mut sys, "$SYS.REQ.SERVER.PING.VARZ", "{nope");
    assert_eq!(bad["error"]["code"], 400, "{bad}");
    assert!(bad["error"]["description"].is_string());
    assert!(!bad.as_object().unwrap().contains_key("data"), "{bad}");
    // A filter this server does not pass: no reply at all. The next
    // request's reply is the first message to arrive.
    send_request(
        &mut sys,
        "_INBOX.filtered",
        "$SYS.REQ.SERVER.PING.VARZ",
        r#"{"server_name": "another"}"#,
    );
    let varz = request(
        &mut sys,
        "$SYS.REQ.SERVER.PING.VARZ",
        r#"{"server_name": "sys_"}"#,
    );
    assert_eq!(varz["server"]["name"], "sys_test", "{varz}");
    // A kind nobody answers: no responders.
    send_request(&mut sys, "_INBOX.none", "$SYS.REQ.SERVER.PING.NOSUCHZ", "");
    let (head, payload) = next_msg(&mut sys);
    assert!(head.starts_with("HMSG _INBOX.none "), "{head}");
    assert!(String::from_utf8_lossy(&payload).starts_with("NATS/1.0 503"));
}

#[test]
fn ordinary_accounts_see_their_own_connz_only() {
    let dir = ConfDir::new("sys-accounts");
    let server = start_with_conf(&dir, CONF, &[]);
    let mut sys = login(&server, "sys");
    let mut a = login(&server, "a");
    for subject in ["$SYS.REQ.SERVER.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.CONNZ"] {
        let connz = request(&mut a, subject, "");
        check_server_block(&connz, "sys_test");
        assert_eq!(connz["data"]["num_connections"], 1, "{connz}");
        assert_eq!(connz["data"]["total"], 1, "{connz}");
    }
    // The server-level subjects are the system account's only.
    for subject in [
        "$SYS.REQ.SERVER.PING",
        "$SYS.REQ.SERVER.PING.VARZ",
        "$SYS.REQ.SERVER.PING.SUBSZ",
        "$SYS.REQ.ACCOUNT.A.CONNZ",
    ] {
        send_request(&mut a, "_INBOX.denied", subject, "");
        let (head, payload) = next_msg(&mut a);
        assert!(head.starts_with("HMSG _INBOX.denied "), "{subject}: {head}");
        assert!(String::from_utf8_lossy(&payload).starts_with("NATS/1.0 503"));
    }
    // The system account asks about account A.
    let connz = request(&mut sys, "$SYS.REQ.ACCOUNT.A.CONNZ", "");
    assert_eq!(connz["data"]["num_connections"], 1, "{connz}");
    let subsz = request(&mut sys, "$SYS.REQ.ACCOUNT.A.SUBSZ", "");
    assert!(subsz["data"]["num_subscriptions"].is_u64(), "{subsz}");
    let info = request(&mut sys, "$SYS.REQ.ACCOUNT.A.INFO", "");
    assert_eq!(info["data"]["account_name"], "A", "{info}");
    assert_eq!(info["data"]["client_connections"], 1, "{info}");
    let nope = request(&mut sys, "$SYS.REQ.ACCOUNT.NOPE.INFO", "");
    assert_eq!(nope["error"]["code"], 500, "{nope}");
    assert_eq!(nope["error"]["description"], "Account NOPE does not exist");
    // The system account has no such import: PING is an account name here.
    let none = request(&mut sys, "$SYS.REQ.ACCOUNT.PING.CONNZ", "");
    assert_eq!(none["data"]["num_connections"], 0, "{none}");
    // The system imports every account has, as nats-server lists them.
    let imports = info["data"]["imports"].as_array().expect("imports");
    for local in ["$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.SERVER.PING.CONNZ"] {
        let want = serde_json::json!({"subject": local, "account": "SYS",
            "to": "$SYS.REQ.ACCOUNT.A.CONNZ", "type": "service",
            "invalid": false, "share": false, "tracking": false});
        assert!(imports.contains(&want), "{local}: {info}");
    }
}

#[test]
fn user_info_says_who_the_requester_is() {
    if is_reference() {
        eprintln!("skip: nats-server 2.9.10 has no $SYS.REQ.USER.INFO (2.10 added it)");
        return;
    }
    let dir = ConfDir::new("sys-user-info");
    let server = start_with_conf(&dir, CONF, &[]);
    let mut a = login(&server, "a");
    let info = request(&mut a, "$SYS.REQ.USER.INFO", "");
    check_server_block(&info, "sys_test");
    let data = &info["data"];
    assert_eq!(data["user"], "a", "{info}");
    assert_eq!(data["account"], "A", "{info}");
    assert_eq!(
        data["permissions"]["publish"]["allow"],
        serde_json::json!(["a.>", "$SYS.>", "_INBOX.>"]),
        "{info}"
    );
    assert_eq!(
        data["permissions"]["publish"]["deny"],
        serde_json::json!(["a.secret"])
    );
    assert_eq!(
        data["permissions"]["subscribe"]["allow"],
        serde_json::json!(["_INBOX.>"])
    );
    assert!(data.get("expires").is_none(), "{info}");
    let mut sys = login(&server, "sys");
    let info = request(&mut sys, "$SYS.REQ.USER.INFO", "");
    assert_eq!(info["data"]["user"], "sys", "{info}");
    assert_eq!(info["data"]["account"], "SYS", "{info}");
    assert!(info["data"].get("permissions").is_none(), "{info}");
    // Without any system account: still answered, in the global account.
    let plain = ServerProcess::start(&[]);
    let mut c = plain.client(r#"{"verbose":false,"headers":true,"no_responders":true}"#);
    let info = request(&mut c, "$SYS.REQ.USER.INFO", "");
    assert_eq!(info["data"]["account"], "$G", "{info}");
    assert_eq!(info["data"]["user"], "", "{info}");
}

/// The config of a cluster node: [`CONF`] and a route listener.
pub fn cluster_conf(dir: &ConfDir) -> String {
    let text = format!("{CONF}\ncluster {{ name: ctest, listen: \"127.0.0.1:-1\" }}\n")
        .replace("server_name: sys_test", "");
    dir.write("node.conf", &text)
}

#[test]
fn every_server_of_a_cluster_answers_a_ping() {
    let dir = ConfDir::new("sys-cluster");
    let conf = cluster_conf(&dir);
    let kind = if is_reference() {
        Impl::Reference
    } else {
        Impl::Lite
    };
    let nodes = seed_cluster_with(&[kind, kind, kind], &["-c", &conf]);
    let ids: BTreeSet<String> = nodes
        .iter()
        .map(|n| n.json("/varz")["server_id"].as_str().unwrap().to_string())
        .collect();
    let mut sys = login(&nodes[0].server, "sys");
    // Interest crosses the routes shortly after they are up: ask again
    // until every server has answered one PING.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let inbox = format!("_INBOX.ping{}", next_id());
        send_request(&mut sys, &inbox, "$SYS.REQ.SERVER.PING.VARZ", "");
        let mut seen = BTreeSet::new();
        sys.send("PING\r\n");
        let round = Instant::now() + Duration::from_millis(1500);
        while seen.len() < ids.len() && Instant::now() < round {
            let Ok(line) = sys.try_read_line(round.saturating_duration_since(Instant::now()))
            else {
                break;
            };
            if !line.starts_with(&format!("MSG {inbox} ")) {
                continue;
            }
            let size: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
            let payload = sys.read_exact_bytes(size + 2);
            let v: Value = serde_json::from_slice(&payload[..size]).unwrap();
            assert_eq!(v["data"]["server_id"], v["server"]["id"], "{v}");
            assert_eq!(v["server"]["cluster"], "ctest", "{v}");
            seen.insert(v["server"]["id"].as_str().unwrap().to_string());
        }
        if seen == ids {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "answers from {seen:?}, servers {ids:?}"
        );
    }
    // One server by id, from another server.
    let target = nodes[2].json("/varz")["server_id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let inbox = format!("_INBOX.direct{}", next_id());
        send_request(
            &mut sys,
            &inbox,
            &format!("$SYS.REQ.SERVER.{target}.STATSZ"),
            "",
        );
        let (head, payload) = next_msg(&mut sys);
        if head.starts_with(&format!("MSG {inbox} ")) {
            let v: Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(v["server"]["id"], target.as_str(), "{v}");
            assert_eq!(
                v["statsz"]["routes"].as_array().map(Vec::len),
                Some(2),
                "{v}"
            );
            break;
        }
        // No responders yet: the interest has not crossed.
        assert!(Instant::now() < deadline, "{head}");
    }
}

#[test]
fn nats_py_requests_the_system_subjects() {
    let Some(python) = python_with_nats() else {
        return;
    };
    let dir = ConfDir::new("sys-py");
    let server = start_with_conf(&dir, CONF, &[]);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sys/nats_py_sys.py");
    let run = |user: &str, subject: &str| -> Value {
        let mut cmd = std::process::Command::new(&python);
        cmd.arg(&script)
            .args([server.url().as_str(), user, user, subject]);
        let out = run_with_deadline(cmd, Duration::from_secs(30));
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{text} {}", String::from_utf8_lossy(&out.stderr)))
    };
    let varz = run("sys", "$SYS.REQ.SERVER.PING.VARZ");
    assert_eq!(varz["data"]["system_account"], "SYS", "{varz}");
    let connz = run("a", "$SYS.REQ.SERVER.PING.CONNZ");
    assert_eq!(connz["data"]["num_connections"], 1, "{connz}");
    if !is_reference() {
        let info = run("a", "$SYS.REQ.USER.INFO");
        assert_eq!(info["data"]["user"], "a", "{info}");
    }
}

#[test]
fn javascript_client_context_is_user_info() {
    if is_reference() {
        eprintln!("skip: nats-server 2.9.10 has no $SYS.REQ.USER.INFO (2.10 added it)");
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node");
    let node = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("node"))
            .find(|p| p.is_file())
    });
    let (Some(node), true) = (
        node,
        dir.join("node_modules/@nats-io/transport-node").is_dir(),
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: node or tests/clients/node/node_modules is missing (scripts/ci/install-clients.sh)"
        );
        eprintln!("note: no node or @nats-io/transport-node; skipping nc.context()");
        return;
    };
    let conf_dir = ConfDir::new("sys-js");
    let server = start_with_conf(&conf_dir, CONF, &[]);
    let mut cmd = std::process::Command::new(node);
    cmd.current_dir(&dir)
        .arg("user_context.mjs")
        .args([server.url().as_str(), "a", "a"]);
    let out = run_with_deadline(cmd, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ctx: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{text} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(ctx["data"]["user"], "a", "{ctx}");
    assert_eq!(ctx["data"]["account"], "A", "{ctx}");
    assert_eq!(
        ctx["data"]["permissions"]["subscribe"]["allow"],
        serde_json::json!(["_INBOX.>"]),
        "{ctx}"
    );
}

/// A request right after a reload: nats-server logs the reload before its
/// system services are back (a moment of no responders); nats-lite's
/// never go away.
#[cfg(unix)]
fn request_after_reload(c: &mut RawClient, subject: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let inbox = format!("_INBOX.reload{}", next_id());
        send_request(c, &inbox, subject, "");
        let (head, payload) = next_msg(c);
        if head.starts_with("MSG ") {
            return serde_json::from_slice(&payload).unwrap();
        }
        assert!(
            is_reference() && Instant::now() < deadline,
            "{subject}: {head}"
        );
    }
}

/// A reload keeps the system requests (and ordinary accounts' CONNZ
/// import); one that changes `system_account` is refused, as nats-server.
#[cfg(unix)]
#[test]
fn reload_keeps_the_services_and_refuses_a_new_system_account() {
    let dir = ConfDir::new("sys-reload");
    let mut server = start_with_conf(&dir, CONF, &[]);
    let file = dir.file_str("server.conf");
    let mut sys = login(&server, "sys");
    let mut a = login(&server, "a");
    // The same file again: a reload that changes nothing.
    crate::auth_jwt::reload(&mut server, &file, CONF);
    let varz = request_after_reload(&mut sys, "$SYS.REQ.SERVER.PING.VARZ");
    assert_eq!(varz["data"]["system_account"], "SYS", "{varz}");
    if !is_reference() {
        // nats-server 2.9.10 loses the ordinary accounts' system imports
        // on a reload (no responders from then on, for old and new
        // clients alike); nats-lite keeps them.
        let mut a2 = login(&server, "a");
        for c in [&mut a, &mut a2] {
            let connz = request(c, "$SYS.REQ.SERVER.PING.CONNZ", "");
            assert_eq!(connz["data"]["num_connections"], 2, "{connz}");
        }
    }
    std::fs::write(
        &file,
        CONF.replace("system_account: SYS", "system_account: A"),
    )
    .unwrap();
    let seen = server.log_lines().len();
    crate::util::unsafe_kill(server.pid(), "HUP");
    let line = server
        .wait_for_log_since(
            seen,
            "config reload not supported for SystemAccount",
            crate::util::IO_TIMEOUT,
        )
        .expect("the reload refused");
    assert!(line.contains("[ERR]"), "{line}");
    let varz = request(&mut sys, "$SYS.REQ.SERVER.PING.VARZ", "");
    assert_eq!(varz["data"]["system_account"], "SYS", "{varz}");
}

#[test]
fn features_nats_lite_lacks_answer_as_when_off() {
    let dir = ConfDir::new("sys-absent");
    let server = start_with_conf(&dir, CONF, &[]);
    let mut sys = login(&server, "sys");
    let jsz = request(&mut sys, "$SYS.REQ.SERVER.PING.JSZ", "");
    let d = &jsz["data"];
    assert_eq!(d["disabled"], true, "{jsz}");
    assert_eq!(
        d["config"],
        serde_json::json!({"max_memory": 0, "max_storage": 0})
    );
    assert_eq!(d["api"], serde_json::json!({"total": 0, "errors": 0}));
    for key in [
        "memory",
        "storage",
        "accounts",
        "streams",
        "consumers",
        "messages",
        "bytes",
    ] {
        assert_eq!(d[key], 0, "{key}: {jsz}");
    }
    let leafz = request(&mut sys, "$SYS.REQ.SERVER.PING.LEAFZ", "");
    assert_eq!(leafz["data"]["leafnodes"], 0, "{leafz}");
    assert!(leafz["data"]["leafs"].is_null(), "{leafz}");
    let gatewayz = request(&mut sys, "$SYS.REQ.SERVER.PING.GATEWAYZ", "");
    assert_eq!(gatewayz["data"]["outbound_gateways"], serde_json::json!({}));
    assert_eq!(gatewayz["data"]["inbound_gateways"], serde_json::json!({}));
    assert!(gatewayz["data"]["server_id"].is_string(), "{gatewayz}");
}

/// A flood of requests faster than the service answers them fills its
/// internal queue (bounded by `max_pending`): the excess is dropped,
/// counted (`/metrics`) and logged, and the service goes on answering.
#[test]
fn a_flood_drops_requests_counted_and_the_services_go_on() {
    if is_reference() {
        eprintln!("skip: nats-lite's internal queue (nats-server's has no such limit)");
        return;
    }
    let dir = ConfDir::new("sys-flood");
    let conf = "max_pending: 4096\nmax_payload: 4096\n\
                accounts { SYS { users [ {user: sys, password: sys} ] } }\n\
                system_account: SYS\n";
    let mut monitored = Monitored::attach(start_with_conf(&dir, conf, &["-m", "-1"]));
    let server = &mut monitored.server;
    let mut sys = login(server, "sys");
    let body = "x".repeat(4000);
    let one = format!("PUB $SYS.REQ.SERVER.PING.VARZ nobody 4000\r\n{body}\r\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        if let Some(line) = server.wait_for_log("system service: dropped", Duration::from_millis(1))
        {
            break line;
        }
        assert!(Instant::now() < deadline, "the flood never overflowed");
        sys.send(one.repeat(500));
        sys.ping_pong();
    };
    let dropped: u64 = line
        .split("dropped ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}"));
    assert!(dropped > 0, "{line}");
    let inbox = format!("_INBOX.after{}", next_id());
    send_request(&mut sys, &inbox, "$SYS.REQ.SERVER.PING", "");
    let (head, payload) = next_msg(&mut sys);
    assert!(head.starts_with(&format!("MSG {inbox} ")), "{head}");
    let v: Value = serde_json::from_slice(&payload).unwrap();
    // Dropped requests are not slow consumers: the service was never cut off.
    assert_eq!(v["statsz"]["slow_consumers"], 0, "{v}");
    let metrics = monitored.get("/metrics").text();
    let counted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("nats_lite_internal_dropped_total"))
        .and_then(|rest| rest.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no drop counter in /metrics:\n{metrics}"));
    assert!(counted >= dropped, "{counted} counted, {dropped} logged");
}

#[test]
fn account_info_lists_the_imports() {
    let dir = ConfDir::new("sys-account-imports");
    let conf = r#"
accounts {
  SYS { users [ {user: sys, password: sys} ] }
  A { users [ {user: a, password: a} ], exports [ {service: "svc.>"}, {stream: "ev.>"} ] }
  B { users [ {user: b, password: b} ], imports [
      {service: {account: A, subject: "svc.time"}, to: "time"}
      {stream: {account: A, subject: "ev.>"}, prefix: "from_a"}
      {stream: {account: A, subject: "ev.x"}, to: "xx"}
  ] }
}
system_account: SYS
"#;
    let server = start_with_conf(&dir, conf, &[]);
    let mut sys = login(&server, "sys");
    let info = request(&mut sys, "$SYS.REQ.ACCOUNT.B.INFO", "");
    let imports = info["data"]["imports"].as_array().expect("imports");
    let entry = |v: Value| {
        let mut v = v;
        for (k, x) in [("invalid", false), ("share", false), ("tracking", false)] {
            v[k] = x.into();
        }
        v
    };
    for want in [
        entry(serde_json::json!({"subject": "ev.>", "account": "A",
            "local_subject": "from_a.ev.>", "type": "stream"})),
        entry(serde_json::json!({"subject": "ev.x", "account": "A",
            "local_subject": "xx", "type": "stream"})),
        entry(serde_json::json!({"subject": "time", "account": "A",
            "to": "svc.time", "type": "service"})),
    ] {
        assert!(imports.contains(&want), "{want}: {info}");
    }
    // Streams first, as nats-server lists them.
    assert_eq!(imports[0]["type"], "stream", "{info}");
}
