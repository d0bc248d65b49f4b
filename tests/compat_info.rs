//! INFO and monitoring JSON parity with nats-server 2.9.10 (issue 14): in each
//! situation a client can meet (no auth, user/password, token, TLS
//! required, TLS with client certificates, TLS optional, an advertised
//! address, a cluster with `connect_urls`, lame duck), the INFO nats-lite
//! sends (first and asynchronous), its `/varz` and (in a cluster) its
//! `/connz`, `/routez`, `/subsz`, `/healthz` and `/accountz` carry every
//! field the real nats-server's carry, with the same JSON types (nested
//! objects and arrays too). Official clients read these fields without checking (nats-core
//! for Python refuses an INFO without `go`), so a missing one breaks them.
//! Needs the real nats-server (fails under `CI` without it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster_support::{seed_cluster, Impl, Node};
use crate::config_support::ConfDir;
use crate::monitor_util::http_raw;
use crate::tls_support::Pki;
use crate::util::{nats_server_or_skip, RawClient, ServerProcess, START_TIMEOUT};

/// Fields nats-lite may send that the Debian nats-server 2.9.10 does not:
/// `git_commit`, which official nats-server builds carry (a build outside
/// git leaves it out), and `/varz`'s `cluster.monitor_urls` (a nats-lite
/// extension: the other servers' monitoring URLs, for `top --discover`).
const EXTRA_ALLOWED: &[&str] = &["git_commit", "cluster.monitor_urls"];

/// Fields of nats-server's `/varz` nats-lite leaves out: `system_account`
/// (nats-lite has no system account, as nats-server with
/// `no_system_account: true`, which leaves it out too).
const VARZ_ABSENT_ALLOWED: &[&str] = &["system_account"];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of an object (nested objects' keys as `outer.inner`, those of
/// the first object of an array as `outer[].inner`) with its JSON type.
fn shape(v: &Value) -> BTreeMap<String, &'static str> {
    let mut out = BTreeMap::new();
    add_shape(v, "", &mut out);
    out
}

fn add_shape(v: &Value, prefix: &str, out: &mut BTreeMap<String, &'static str>) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {v}"));
    for (k, v) in obj {
        let key = format!("{prefix}{k}");
        out.insert(key.clone(), json_type(v));
        if v.is_object() {
            add_shape(v, &format!("{key}."), out);
        }
        if let Some(first) = v
            .as_array()
            .and_then(|a| a.first())
            .filter(|f| f.is_object())
        {
            add_shape(first, &format!("{key}[]."), out);
        }
    }
}

/// Every field of `reference` is in `lite` with the same JSON type, and
/// `lite` has no field the reference lacks but those of [`EXTRA_ALLOWED`].
pub fn assert_same_fields(what: &str, lite: &Value, reference: &Value) {
    assert_same_fields_but(what, lite, reference, &[]);
}

/// [`assert_same_fields`], `absent` naming fields nats-lite leaves out.
fn assert_same_fields_but(what: &str, lite: &Value, reference: &Value, absent: &[&str]) {
    compare_fields(what, lite, reference, absent, &[]);
}

/// [`assert_same_fields_but`], `extra` naming more fields nats-lite may add.
fn compare_fields(what: &str, lite: &Value, reference: &Value, absent: &[&str], extra: &[&str]) {
    let (l, r) = (shape(lite), shape(reference));
    for (key, ty) in &r {
        match l.get(key) {
            // A float of nats-server's may be whole in ours (a value, not
            // a type, differs); an integer of its must be one in ours.
            Some(t) => assert!(
                t == ty || (*t, *ty) == ("integer", "float"),
                "{what}: `{key}` has type {t}, nats-server's {ty}"
            ),
            None if absent.contains(&key.as_str()) => {}
            None => {
                panic!("{what}: `{key}` missing\n nats-lite:  {lite}\n nats-server: {reference}")
            }
        }
    }
    for key in l.keys() {
        assert!(
            r.contains_key(key)
                || EXTRA_ALLOWED.contains(&key.as_str())
                || extra.contains(&key.as_str()),
            "{what}: `{key}` is not in nats-server's\n nats-lite:  {lite}\n nats-server: {reference}"
        );
    }
}

/// The first INFO each server sends when started with `args`.
fn first_infos(args: &[&str]) -> Option<(Value, Value)> {
    nats_server_or_skip()?;
    let lite = ServerProcess::start(args).connect().read_info();
    let reference = ServerProcess::start_reference(args)?.connect().read_info();
    Some((lite, reference))
}

fn check_first(what: &str, args: &[&str]) -> Option<(Value, Value)> {
    let (lite, reference) = first_infos(args)?;
    assert_same_fields(what, &lite, &reference);
    Some((lite, reference))
}

#[test]
fn info_fields_match_without_auth() {
    let Some((lite, _)) = check_first("no auth", &[]) else {
        return;
    };
    assert!(lite["go"].as_str().is_some_and(|g| g.starts_with("rustc ")));
    assert!(lite["version"]
        .as_str()
        .is_some_and(|v| v.starts_with("2.9.10+nats-lite.")));
}

#[test]
fn info_fields_match_with_user_password_and_token() {
    check_first("user/password", &["--user", "a", "--pass", "b"]);
    check_first("token", &["--auth", "secret"]);
}

#[test]
fn info_fields_match_with_tls() {
    let dir = ConfDir::new("info-tls");
    let pki = Pki::new(dir.path(), "info");
    let flags = pki.tls_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let Some((lite, _)) = check_first("tls", &flags) else {
        return;
    };
    assert_eq!(lite["tls_required"], true);

    let ca = pki.ca();
    let (cert, key) = (pki.cert(), pki.key());
    let verify = [
        "--tlsverify",
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
        "--tlscacert",
        &ca,
    ];
    let (lite, _) = check_first("tlsverify", &verify).unwrap();
    assert_eq!(lite["tls_verify"], true);

    let conf = dir.write(
        "optional.conf",
        &format!("allow_non_tls: true\ntls {{ cert_file: \"{cert}\", key_file: \"{key}\" }}\n"),
    );
    let (lite, _) = check_first("allow_non_tls", &["-c", &conf]).unwrap();
    assert_eq!(lite["tls_available"], true);
}

#[test]
fn info_fields_match_for_a_lone_cluster_member() {
    let Some((lite, _)) = check_first(
        "lone cluster member",
        &["--cluster", "nats://127.0.0.1:-1", "--cluster_name", "lone"],
    ) else {
        return;
    };
    assert!(lite.get("connect_urls").is_none(), "{lite}");
}

#[test]
fn info_host_and_port_are_the_advertised_ones() {
    let Some((lite, reference)) = check_first(
        "client_advertise",
        &["--client_advertise", "nats.example:4333"],
    ) else {
        return;
    };
    for (k, want) in [("host", "nats.example"), ("port", "4333")] {
        assert_eq!(reference[k].to_string().trim_matches('"'), want);
        assert_eq!(lite[k], reference[k], "{k}");
    }
}

/// Read lines until an INFO arrives (within `timeout`); its JSON.
fn next_info(c: &mut RawClient, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = c
            .try_read_line(left)
            .unwrap_or_else(|e| panic!("no async INFO: {e}"));
        if let Some(json) = line.strip_prefix("INFO ") {
            return serde_json::from_str(json).expect("INFO JSON");
        }
    }
}

/// A client that asked for async INFO (protocol 1), past its PONG.
fn async_client(server: &ServerProcess) -> RawClient {
    server.client(r#"{"verbose":false,"protocol":1}"#)
}

#[test]
fn info_fields_match_in_a_cluster_first_and_async() {
    if nats_server_or_skip().is_none() {
        return;
    }
    let mut seen = Vec::new();
    for kind in [Impl::Lite, Impl::Reference] {
        let nodes = seed_cluster(&[kind, kind]);
        let first = nodes[0].server.connect().read_info();
        assert_eq!(first["connect_urls"].as_array().map(Vec::len), Some(2));
        let mut c = async_client(&nodes[0].server);
        let third = Node::clustered(kind, &[nodes[0].route_url()], &[]);
        let changed = next_info(&mut c, Duration::from_secs(20));
        assert_eq!(changed["connect_urls"].as_array().map(Vec::len), Some(3));
        drop(third);
        seen.push((first, changed));
    }
    assert_same_fields("cluster, first INFO", &seen[0].0, &seen[1].0);
    assert_same_fields("cluster, async INFO", &seen[0].1, &seen[1].1);
}

#[cfg(unix)]
#[test]
fn info_fields_match_in_lame_duck() {
    if nats_server_or_skip().is_none() {
        return;
    }
    let mut seen = Vec::new();
    for reference in [false, true] {
        let server = if reference {
            ServerProcess::start_reference(&[]).unwrap()
        } else {
            ServerProcess::start(&[])
        };
        let mut c = async_client(&server);
        crate::util::unsafe_kill(server.pid(), "USR2");
        let info = next_info(&mut c, crate::util::IO_TIMEOUT);
        assert_eq!(info["ldm"], true, "{info}");
        seen.push(info);
    }
    assert_same_fields("lame duck", &seen[0], &seen[1]);
}

/// GET `/varz` from the monitor at `http`.
fn varz(http: SocketAddr) -> Value {
    get_json(http, "/varz")
}

/// GET `path` from the monitor at `http` (`Connection: close`, as
/// nats-server keeps HTTP/1.1 connections open; its large replies come
/// chunked).
fn get_json(http: SocketAddr, path: &str) -> Value {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    let r = http_raw(http, request.as_bytes());
    assert_eq!(r.status, 200, "GET {path}");
    let body = if r.header("transfer-encoding") == Some("chunked") {
        dechunk(&r.body)
    } else {
        r.body
    };
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("GET {path}: {e}: {}", String::from_utf8_lossy(&body)))
}

/// The body of a `Transfer-Encoding: chunked` reply.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = std::str::from_utf8(&raw[..eol]).unwrap().trim();
        let size = usize::from_str_radix(size.split(';').next().unwrap(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
}

/// `/varz` of a server started with `-m -1` plus `args`.
fn varz_of(reference: bool, args: &[&str]) -> Value {
    let mut all = vec!["-m", "-1"];
    all.extend_from_slice(args);
    let mut server = if reference {
        ServerProcess::start_reference(&all).unwrap()
    } else {
        ServerProcess::start(&all)
    };
    let line = server
        .wait_for_log("Starting http monitor on", START_TIMEOUT)
        .expect("no monitor line");
    varz(line.rsplit(' ').next().unwrap().parse().unwrap())
}

#[test]
fn varz_fields_match_alone_and_with_auth_and_tls() {
    if nats_server_or_skip().is_none() {
        return;
    }
    let dir = ConfDir::new("varz-tls");
    let pki = Pki::new(dir.path(), "varz");
    let mut secured = vec![
        "--user".to_string(),
        "a".into(),
        "--pass".into(),
        "b".into(),
    ];
    secured.extend(pki.tls_flags());
    let secured: Vec<&str> = secured.iter().map(String::as_str).collect();
    for (what, args) in [("plain", &[][..]), ("auth and TLS", &secured[..])] {
        let lite = varz_of(false, args);
        let reference = varz_of(true, args);
        assert_same_fields_but(what, &lite, &reference, VARZ_ABSENT_ALLOWED);
    }
}

#[test]
fn varz_fields_match_in_a_cluster() {
    if nats_server_or_skip().is_none() {
        return;
    }
    let mut seen = Vec::new();
    for kind in [Impl::Lite, Impl::Reference] {
        let nodes = seed_cluster(&[kind, kind]);
        let v = varz(nodes[0].http);
        assert_eq!(v["connect_urls"].as_array().map(Vec::len), Some(2), "{v}");
        seen.push(v);
    }
    assert_same_fields_but("cluster", &seen[0], &seen[1], VARZ_ABSENT_ALLOWED);
}

/// The keys of nats-server 2.9.10's `/varz` for a plain server, in its
/// order (captured from the real server; the tests above compare live
/// when it is installed).
const VARZ_2_9_10_KEYS: &[&str] = &[
    "server_id",
    "server_name",
    "version",
    "proto",
    "go",
    "host",
    "port",
    "max_connections",
    "ping_interval",
    "ping_max",
    "http_host",
    "http_port",
    "http_base_path",
    "https_port",
    "auth_timeout",
    "max_control_line",
    "max_payload",
    "max_pending",
    "cluster",
    "gateway",
    "leaf",
    "mqtt",
    "websocket",
    "jetstream",
    "tls_timeout",
    "write_deadline",
    "start",
    "now",
    "uptime",
    "mem",
    "cores",
    "gomaxprocs",
    "cpu",
    "connections",
    "total_connections",
    "routes",
    "remotes",
    "leafnodes",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "slow_consumers",
    "subscriptions",
    "http_req_stats",
    "config_load_time",
    "system_account",
];

#[test]
fn varz_has_every_key_of_nats_server_2_9_10_in_its_order() {
    let m = crate::monitor_util::Monitored::start(&[]);
    let text = m.get("/varz").text();
    let mut last = 0;
    for key in VARZ_2_9_10_KEYS {
        if VARZ_ABSENT_ALLOWED.contains(key) {
            continue;
        }
        let at = text
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("/varz has no `{key}`: {text}"));
        assert!(at > last, "`{key}` out of nats-server's order in {text}");
        last = at;
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["auth_timeout"].to_string(),
        "2",
        "a whole float as Go writes it"
    );
}

/// The other monitoring endpoints a client or tool reads, in a cluster of
/// two with a named client holding a subscription: the same fields as
/// nats-server's. nats-lite adds the 2.10+ fields `server_name` and
/// `remote_name` to `/routez` and `account` to the detailed subscription
/// list; it leaves out what only the system account has (its imports).
#[test]
fn monitoring_json_fields_match_in_a_cluster() {
    if nats_server_or_skip().is_none() {
        return;
    }
    let paths = [
        "/connz?subs=1",
        "/connz?subs=detail",
        "/routez?subs=1",
        "/subsz?subs=1",
        "/healthz",
        "/accountz",
        "/accountz?acc=%24G",
    ];
    let mut seen = Vec::new();
    for kind in [Impl::Lite, Impl::Reference] {
        let nodes = seed_cluster(&[kind, kind]);
        let mut c = nodes[0]
            .server
            .client(r#"{"verbose":false,"name":"probe","lang":"rust","version":"1","protocol":1}"#);
        c.send("SUB foo 1\r\nPUB foo 2\r\nhi\r\n");
        c.read_msg();
        let got: Vec<Value> = paths.iter().map(|p| get_json(nodes[0].http, p)).collect();
        seen.push(got);
    }
    let absent = [
        "system_account",
        "account_detail.imports",
        "account_detail.imports[].subject",
        "account_detail.imports[].account",
        "account_detail.imports[].to",
        "account_detail.imports[].type",
        "account_detail.imports[].invalid",
        "account_detail.imports[].share",
        "account_detail.imports[].tracking",
    ];
    let extra = [
        "server_name",
        "routes[].remote_name",
        "connections[].subscriptions_list_detail[].account",
        "account_detail.is_system",
    ];
    for (i, path) in paths.iter().enumerate() {
        compare_fields(path, &seen[0][i], &seen[1][i], &absent, &extra);
    }
}
