//! INFO parity with nats-server 2.9.10 (issue 14): in each situation a
//! client can meet (no auth, user/password, token, TLS required, TLS with
//! client certificates, TLS optional, an advertised address, a cluster
//! with `connect_urls`, lame duck), the INFO nats-lite sends (first and
//! asynchronous) carries every field the real nats-server's carries, with
//! the same JSON types. Official clients read these fields without
//! checking (nats-core for Python refuses an INFO without `go`), so a
//! missing one breaks them. Needs the real nats-server (fails under `CI`
//! without it).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster_support::{seed_cluster, Impl, Node};
use crate::config_support::ConfDir;
use crate::tls_support::Pki;
use crate::util::{nats_server_or_skip, RawClient, ServerProcess, IO_TIMEOUT};

/// Fields nats-lite may send that the Debian nats-server 2.9.10 does not:
/// `git_commit`, which official nats-server builds carry (a build outside
/// git leaves it out).
const EXTRA_ALLOWED: &[&str] = &["git_commit"];

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

fn shape(v: &Value) -> BTreeMap<String, &'static str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {v}"))
        .iter()
        .map(|(k, v)| (k.clone(), json_type(v)))
        .collect()
}

/// Every field of `reference` is in `lite` with the same JSON type, and
/// `lite` has no field the reference lacks but those of [`EXTRA_ALLOWED`].
pub fn assert_same_fields(what: &str, lite: &Value, reference: &Value) {
    let (l, r) = (shape(lite), shape(reference));
    for (key, ty) in &r {
        match l.get(key) {
            Some(t) => assert_eq!(t, ty, "{what}: `{key}` has type {t}, nats-server's {ty}"),
            None => {
                panic!("{what}: `{key}` missing\n nats-lite:  {lite}\n nats-server: {reference}")
            }
        }
    }
    for key in l.keys() {
        assert!(
            r.contains_key(key) || EXTRA_ALLOWED.contains(&key.as_str()),
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
        let info = next_info(&mut c, IO_TIMEOUT);
        assert_eq!(info["ldm"], true, "{info}");
        seen.push(info);
    }
    assert_same_fields("lame duck", &seen[0], &seen[1]);
}
