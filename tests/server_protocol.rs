//! The core client protocol over raw TCP: INFO, PING/PONG, verbose `+OK`,
//! pub/sub, wildcards, queue groups, request/reply, headers, no responders,
//! UNSUB with max, echo, lexing (case, tabs, bare `\n`, byte-by-byte input),
//! payloads holding `\r\n`, and 10,000 subscriptions on one connection.
//!
//! Every test runs against nats-lite, or against nats-server 2.9.10 with
//! `NATS_TEST_REFERENCE=1`. "Nothing arrived" is always proved with a
//! PING/PONG barrier: the PONG must come first.

use std::collections::{BTreeMap, HashSet};

use crate::util::{RawClient, ServerProcess};

/// CONNECT options for a quiet raw client.
const QUIET: &str = r#"{"verbose":false}"#;
/// CONNECT options for a quiet client that understands headers.
const HEADERS: &str = r#"{"verbose":false,"headers":true}"#;

/// Publish `payload` on `subject` from `c` (no reply).
fn publish(c: &mut RawClient, subject: &str, payload: &str) {
    c.send(format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()));
}

/// Assert nothing is waiting on `c`: its next line is the PONG of a PING.
fn assert_nothing_pending(c: &mut RawClient, what: &str) {
    let before = c.flush();
    assert!(
        before.is_empty(),
        "{what}: expected nothing, got {before:?}"
    );
}

#[test]
fn info_fields() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    let info = c.read_info();
    let id = info["server_id"].as_str().expect("server_id");
    assert_eq!(id.len(), 56, "server_id {id:?} is 56 chars");
    assert!(id.starts_with('N'), "server_id {id:?} starts with N");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "server_id {id:?} is base32"
    );
    assert_eq!(
        info["server_name"].as_str(),
        Some(id),
        "name defaults to the id"
    );
    assert!(info["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(info["proto"], 1);
    assert_eq!(info["host"], "127.0.0.1");
    assert_eq!(info["port"], server.addr.port());
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 1048576);
    assert!(info["client_id"].as_u64().is_some(), "client_id in {info}");
    assert_eq!(info["client_ip"], "127.0.0.1");
    // Omitted when false.
    assert!(
        info.get("auth_required").is_none(),
        "auth_required in {info}"
    );
    assert!(info.get("tls_required").is_none(), "tls_required in {info}");
}

#[test]
fn client_ids_differ_per_connection() {
    let server = ServerProcess::start_selected(&[]);
    let a = server.connect().read_info()["client_id"].as_u64().unwrap();
    let b = server.connect().read_info()["client_id"].as_u64().unwrap();
    assert_ne!(a, b);
}

/// `printf 'PING\r\n' | nc 127.0.0.1 PORT`: no CONNECT, the PING is sent
/// before INFO is even read; INFO comes first, then PONG.
#[test]
fn ping_without_connect_like_nc() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.send("PING\r\n");
    c.read_info();
    c.expect_line("PONG");
    assert!(c.is_quiet_for(std::time::Duration::from_millis(100)));
}

/// Like `printf 'PING\r\n' | nc -N`: the client half-closes right after
/// its input; the server still answers before closing.
#[test]
fn ping_then_half_close_gets_pong_then_eof() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.send("PING\r\n");
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    c.read_info();
    let (lines, closed) = c.read_until_closed(crate::util::IO_TIMEOUT);
    assert!(
        lines == ["PONG"] && closed,
        "got {lines:?}, closed={closed}"
    );
}

/// A one-shot publisher (`printf 'CONNECT {}\r\nPUB ...' | nc -N`) that
/// half-closes after its PUB still gets the message delivered.
#[test]
fn publish_then_half_close_is_delivered() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(QUIET);
    sub.send("SUB oneshot 1\r\n");
    sub.flush();
    let mut c = server.connect();
    c.send("CONNECT {}\r\nPUB oneshot 5\r\nhello\r\n");
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        sub.read_msg(),
        ("MSG oneshot 1 5".into(), b"hello".to_vec())
    );
    c.read_info();
    let (lines, closed) = c.read_until_closed(crate::util::IO_TIMEOUT);
    assert!(
        lines == ["+OK", "+OK"] && closed,
        "got {lines:?}, closed={closed}"
    );
}

#[test]
fn p01_ping_case_insensitive_and_bare_lf() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.read_info();
    c.send("CONNECT {\"verbose\":false}\r\nping\r\nPING\nPiNg\n");
    c.expect_line("PONG");
    c.expect_line("PONG");
    c.expect_line("PONG");
    assert_nothing_pending(&mut c, "after three PINGs");
}

/// Server defaults are verbose/pedantic/echo true: `CONNECT {}` gets `+OK`
/// after CONNECT, SUB, PUB and UNSUB; PING gets only PONG.
#[test]
fn verbose_default_ok_after_each_op() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.read_info();
    c.send("CONNECT {}\r\n");
    c.expect_line("+OK");
    c.send("SUB foo 1\r\n");
    c.expect_line("+OK");
    c.send("PING\r\n");
    c.expect_line("PONG");
    c.send("PUB bar 2\r\nhi\r\n");
    c.expect_line("+OK");
    c.send("UNSUB 1\r\n");
    c.expect_line("+OK");
    c.send("PING\r\n");
    c.expect_line("PONG");
    // Explicit verbose:true behaves the same.
    let mut v = server.connect();
    v.read_info();
    v.send("CONNECT {\"verbose\":true}\r\nSUB x 1\r\nPING\r\n");
    v.expect_line("+OK");
    v.expect_line("+OK");
    v.expect_line("PONG");
}

/// The `+OK` for a PUB/HPUB comes before the message it delivers back to
/// the publisher itself (nats-server acknowledges, then routes).
#[test]
fn verbose_ok_precedes_own_message() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.read_info();
    c.send("CONNECT {\"headers\":true}\r\nSUB me 1\r\n");
    c.expect_line("+OK");
    c.expect_line("+OK");
    c.send("PUB me 2\r\nhi\r\n");
    c.expect_line("+OK");
    assert_eq!(c.read_msg(), ("MSG me 1 2".into(), b"hi".to_vec()));
    c.send("HPUB me 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.expect_line("+OK");
    assert_eq!(c.read_msg().0, "HMSG me 1 12 14");
    c.send("PING\r\n");
    c.expect_line("PONG");
}

#[test]
fn verbose_false_sends_no_ok() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.read_info();
    c.send("CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB bar 2\r\nhi\r\nUNSUB 1\r\nPING\r\n");
    c.expect_line("PONG");
}

#[test]
fn pub_sub_delivers_msg() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(QUIET);
    sub.send("SUB foo 7\r\n");
    sub.flush();
    let mut publ = server.client(QUIET);
    publ.send("PUB foo 5\r\nhello\r\nPUB foo reply.to 3\r\nabc\r\nPUB foo 0\r\n\r\n");
    publ.flush();
    assert_eq!(sub.read_msg(), ("MSG foo 7 5".into(), b"hello".to_vec()));
    assert_eq!(
        sub.read_msg(),
        ("MSG foo 7 reply.to 3".into(), b"abc".to_vec())
    );
    assert_eq!(sub.read_msg(), ("MSG foo 7 0".into(), Vec::new()));
    assert_nothing_pending(&mut sub, "subscriber");
    // The publisher has no subscription of its own.
    assert_nothing_pending(&mut publ, "publisher");
}

#[test]
fn messages_from_one_publisher_arrive_in_order() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(QUIET);
    sub.send("SUB seq 1\r\n");
    sub.flush();
    let mut publ = server.client(QUIET);
    let mut batch = String::new();
    for i in 0..500 {
        let p = i.to_string();
        batch.push_str(&format!("PUB seq {}\r\n{p}\r\n", p.len()));
    }
    publ.send(batch);
    publ.flush();
    for i in 0..500 {
        let (_, payload) = sub.read_msg();
        assert_eq!(payload, i.to_string().into_bytes());
    }
}

#[test]
fn unsubscribe_stops_delivery() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(QUIET);
    sub.send("SUB foo 1\r\nUNSUB 1\r\n");
    sub.flush();
    let mut publ = server.client(QUIET);
    publish(&mut publ, "foo", "x");
    publ.flush();
    assert_nothing_pending(&mut sub, "after UNSUB");
}

/// S03: `*` matches exactly one token, `>` one or more; `w` alone matches
/// neither `w.*` nor `w.>`; `*`/`>` inside a token are literal characters.
#[test]
fn s03_wildcards() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(QUIET);
    sub.send(
        "SUB w.* 1\r\nSUB w.> 2\r\nSUB w 3\r\nSUB *.b 4\r\nSUB > 5\r\nSUB foo*.bar 6\r\n\
         SUB a.*.c 7\r\n",
    );
    sub.flush();
    let mut publ = server.client(QUIET);
    let cases: &[(&str, &[&str])] = &[
        ("w", &["3", "5"]),
        ("w.x", &["1", "2", "5"]),
        ("w.x.y", &["2", "5"]),
        ("q.b", &["4", "5"]),
        ("w.b", &["1", "2", "4", "5"]),
        ("fooX.bar", &["5"]),
        ("foo*.bar", &["5", "6"]),
        ("a.b.c", &["5", "7"]),
        ("a.b.b.c", &["5"]),
        ("ww.x", &["5"]),
    ];
    for (subject, want) in cases {
        publish(&mut publ, subject, "p");
        publ.flush();
        let mut got = Vec::new();
        for _ in 0..want.len() {
            let (line, _) = sub.read_msg();
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(
                parts[1], *subject,
                "MSG subject is the published one: {line}"
            );
            got.push(parts[2].to_string());
        }
        got.sort();
        assert_eq!(got, *want, "sids receiving {subject:?}");
        assert_nothing_pending(&mut sub, subject);
    }
}

#[test]
fn full_wildcard_alone_matches_everything() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(QUIET);
    sub.send("SUB > 1\r\n");
    sub.flush();
    let mut publ = server.client(QUIET);
    for subject in ["a", "a.b", "a.b.c.d.e.f", "_INBOX.x.y"] {
        publish(&mut publ, subject, "p");
        publ.flush();
        let (line, _) = sub.read_msg();
        assert_eq!(line, format!("MSG {subject} 1 1"));
    }
}

/// Queue groups: each message goes to exactly one member of a group, the
/// members share the load, and plain subscribers still get every message.
#[test]
fn queue_group_each_message_to_exactly_one_member() {
    const N: usize = 300;
    let server = ServerProcess::start_selected(&[]);
    let mut members: Vec<RawClient> = (0..3)
        .map(|i| {
            let mut c = server.client(QUIET);
            c.send(format!("SUB work workers {}\r\n", i + 1));
            c.flush();
            c
        })
        .collect();
    let mut plain = server.client(QUIET);
    plain.send("SUB work 1\r\n");
    plain.flush();
    let mut publ = server.client(QUIET);
    let mut batch = String::new();
    for i in 0..N {
        let p = format!("m{i}");
        batch.push_str(&format!("PUB work {}\r\n{p}\r\n", p.len()));
    }
    publ.send(batch);
    publ.flush();

    let mut seen = HashSet::new();
    let mut per_member = Vec::new();
    for m in members.iter_mut() {
        // The PONG barrier: everything routed to this member is before it.
        let lines = m.flush();
        let msgs: Vec<_> = lines.iter().filter(|l| l.starts_with("MSG ")).collect();
        assert_eq!(
            msgs.len() * 2,
            lines.len(),
            "MSG + payload lines: {lines:?}"
        );
        for pair in lines.chunks(2) {
            assert!(pair[0].starts_with("MSG work "), "{pair:?}");
            assert!(seen.insert(pair[1].clone()), "{} delivered twice", pair[1]);
        }
        per_member.push(msgs.len());
    }
    assert_eq!(
        seen.len(),
        N,
        "every message reached one member: {per_member:?}"
    );
    assert!(
        per_member.iter().all(|&n| n > 0),
        "load shared among members: {per_member:?}"
    );
    for i in 0..N {
        let (_, payload) = plain.read_msg();
        assert_eq!(payload, format!("m{i}").into_bytes());
    }
}

#[test]
fn queue_groups_are_independent() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("SUB q g1 1\r\nSUB q g2 2\r\nSUB q g1 3\r\n");
    c.flush();
    let mut publ = server.client(QUIET);
    publish(&mut publ, "q", "x");
    publ.flush();
    let mut sids: Vec<String> = (0..2)
        .map(|_| c.read_msg().0.split(' ').nth(2).unwrap().to_string())
        .collect();
    sids.sort();
    assert!(
        sids == ["1", "2"] || sids == ["2", "3"],
        "one member of g1 and g2 each: {sids:?}"
    );
    assert_nothing_pending(&mut c, "after one message per group");
}

#[test]
fn request_reply_raw() {
    let server = ServerProcess::start_selected(&[]);
    let mut responder = server.client(QUIET);
    responder.send("SUB svc.echo 1\r\n");
    responder.flush();
    let mut requester = server.client(QUIET);
    requester.send("SUB _INBOX.r1 9\r\nPUB svc.echo _INBOX.r1 4\r\nping\r\n");
    requester.flush();
    let (line, payload) = responder.read_msg();
    assert_eq!(line, "MSG svc.echo 1 _INBOX.r1 4");
    assert_eq!(payload, b"ping");
    responder.send("PUB _INBOX.r1 4\r\npong\r\n");
    responder.flush();
    assert_eq!(
        requester.read_msg(),
        ("MSG _INBOX.r1 9 4".into(), b"pong".to_vec())
    );
}

/// HPUB reaches a headers-capable subscriber as HMSG with the header block
/// intact, and a subscriber without header support as a plain MSG carrying
/// the payload only.
#[test]
fn headers_hpub_hmsg_and_stripped_for_plain_clients() {
    let server = ServerProcess::start_selected(&[]);
    let mut hsub = server.client(HEADERS);
    hsub.send("SUB h 1\r\n");
    hsub.flush();
    let mut plain = server.client(QUIET);
    plain.send("SUB h 2\r\n");
    plain.flush();
    let mut publ = server.client(HEADERS);
    let hdr = "NATS/1.0\r\nA: 1\r\nB: two words\r\n\r\n";
    let body = "payload";
    publ.send(format!(
        "HPUB h r.x {} {}\r\n{hdr}{body}\r\n",
        hdr.len(),
        hdr.len() + body.len()
    ));
    publ.flush();
    let (line, payload) = hsub.read_msg();
    assert_eq!(
        line,
        format!("HMSG h 1 r.x {} {}", hdr.len(), hdr.len() + body.len())
    );
    assert_eq!(payload, format!("{hdr}{body}").into_bytes());
    let (line, payload) = plain.read_msg();
    assert_eq!(line, format!("MSG h 2 r.x {}", body.len()));
    assert_eq!(payload, body.as_bytes());

    // A plain PUB reaches a headers-capable client as MSG.
    publish(&mut publ, "h", "xy");
    publ.flush();
    assert_eq!(hsub.read_msg(), ("MSG h 1 2".into(), b"xy".to_vec()));
    // Headers with an empty payload, no reply.
    publ.send(format!("HPUB h {0} {0}\r\n{hdr}\r\n", hdr.len()));
    publ.flush();
    assert_eq!(hsub.read_msg().0, format!("HMSG h 1 {0} {0}", hdr.len()));
    assert_eq!(plain.read_msg(), ("MSG h 2 2".into(), b"xy".to_vec()));
    assert_eq!(plain.read_msg(), ("MSG h 2 0".into(), Vec::new()));
}

/// CONNECT with `no_responders` (and headers): a request to a subject
/// nobody listens on gets an immediate HMSG with status 503 on its reply
/// subject (before the PONG of a following PING).
#[test]
fn no_responders_status_503() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(r#"{"verbose":false,"headers":true,"no_responders":true}"#);
    c.send("SUB _INBOX.nr 5\r\nPUB nobody.home _INBOX.nr 2\r\nhi\r\n");
    c.send("HPUB nobody.home _INBOX.nr 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.send("PING\r\n");
    // Two HMSGs, each a header block only (hdr_len == total_len), then PONG.
    for _ in 0..2 {
        let (line, block) = c.read_msg();
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 5, "HMSG <subj> <sid> <hdr> <total>: {line}");
        assert_eq!(&parts[..3], ["HMSG", "_INBOX.nr", "5"], "{line}");
        assert_eq!(parts[3], parts[4], "no payload: {line}");
        let block = String::from_utf8(block).unwrap();
        assert!(block.starts_with("NATS/1.0 503\r\n"), "{line} {block:?}");
        assert!(block.ends_with("\r\n\r\n"), "{line} {block:?}");
    }
    c.expect_line("PONG");

    // A publish without a reply subject, or with a listener, gets no 503.
    c.send("PUB nobody.home 0\r\n\r\nSUB there 6\r\nPUB there _INBOX.nr 1\r\nx\r\n");
    let lines = c.flush();
    assert_eq!(lines, ["MSG there 6 _INBOX.nr 1", "x"]);
}

#[test]
fn no_responders_needs_the_option() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(HEADERS);
    c.send("SUB _INBOX.nr 5\r\nPUB nobody.home _INBOX.nr 2\r\nhi\r\n");
    assert_nothing_pending(&mut c, "no 503 without no_responders");
}

/// UNSUB with a max: the subscription ends after that many messages.
#[test]
fn unsub_with_max_auto_unsubscribes() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(QUIET);
    sub.send("SUB foo 1\r\nUNSUB 1 2\r\n");
    sub.flush();
    let mut publ = server.client(QUIET);
    for i in 0..5 {
        publish(&mut publ, "foo", &i.to_string());
    }
    publ.flush();
    assert_eq!(sub.read_msg().1, b"0");
    assert_eq!(sub.read_msg().1, b"1");
    assert_nothing_pending(&mut sub, "after max reached");
}

/// UNSUB with a max at or below what was already delivered removes the
/// subscription at once.
#[test]
fn unsub_with_max_already_reached_is_immediate() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(QUIET);
    sub.send("SUB foo 1\r\nSUB foo 2\r\n");
    sub.flush();
    let mut publ = server.client(QUIET);
    for i in 0..3 {
        publish(&mut publ, "foo", &i.to_string());
    }
    publ.flush();
    assert_eq!(sub.flush().len(), 12, "3 messages x 2 sids, 2 lines each");
    sub.send("UNSUB 1 2\r\nUNSUB 2 3\r\n");
    sub.flush();
    publish(&mut publ, "foo", "late");
    publ.flush();
    assert_nothing_pending(&mut sub, "after UNSUB with max <= delivered");
}

#[test]
fn echo_default_delivers_own_messages() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("SUB me 1\r\nPUB me 2\r\nhi\r\n");
    assert_eq!(c.flush(), ["MSG me 1 2", "hi"]);
}

#[test]
fn echo_false_suppresses_own_messages_only() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(r#"{"verbose":false,"echo":false}"#);
    c.send("SUB me 1\r\nPUB me 2\r\nhi\r\n");
    assert_nothing_pending(&mut c, "own message with echo off");
    let mut other = server.client(QUIET);
    other.send("PUB me 2\r\nyo\r\n");
    other.flush();
    assert_eq!(c.read_msg(), ("MSG me 1 2".into(), b"yo".to_vec()));
}

/// P12: a duplicate SUB sid is one subscription; UNSUB of an unknown sid
/// is not an error.
#[test]
fn p12_duplicate_sid_and_unknown_unsub() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("SUB foo 1\r\nSUB foo 1\r\nUNSUB 99\r\nUNSUB 99 5\r\n");
    assert_nothing_pending(&mut c, "no error");
    let mut publ = server.client(QUIET);
    publish(&mut publ, "foo", "x");
    publ.flush();
    assert_eq!(c.flush(), ["MSG foo 1 1", "x"], "one MSG, not two");
}

/// P10: `+OK` and `INFO` from a client are ignored; an unprompted PONG too.
#[test]
fn p10_client_ok_info_pong_ignored() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("+OK\r\nINFO {}\r\nPONG\r\n");
    assert_nothing_pending(&mut c, "after +OK, INFO and PONG from the client");
}

/// P11: unknown CONNECT fields are ignored.
#[test]
fn p11_connect_unknown_fields_ignored() {
    let server = ServerProcess::start_selected(&[]);
    let mut c =
        server.client(r#"{"verbose":false,"zzz":1,"nested":{"a":[1,2,{"b":null}]},"lang":"rust"}"#);
    c.send("SUB a 1\r\nPUB a 1\r\nx\r\n");
    assert_eq!(c.flush(), ["MSG a 1 1", "x"]);
}

/// A second CONNECT on the same connection is accepted and its options
/// apply.
#[test]
fn second_connect_changes_options() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("CONNECT {\"verbose\":true}\r\nSUB a 1\r\nPING\r\n");
    c.expect_line("+OK");
    c.expect_line("+OK");
    c.expect_line("PONG");
}

/// A CONNECT only overrides the keys it holds: options set by an earlier
/// CONNECT stay (nats-server unmarshals into the existing options).
#[test]
fn second_connect_keeps_omitted_keys() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(r#"{"verbose":false,"echo":false,"headers":true}"#);
    c.send("CONNECT {\"name\":\"again\"}\r\n");
    c.send("SUB a 1\r\nPUB a 1\r\nx\r\n");
    assert!(c.flush().is_empty(), "verbose and echo still off");
    let mut other = server.client(HEADERS);
    other.send("HPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    other.flush();
    assert_eq!(c.read_msg().0, "HMSG a 1 12 12", "headers still on");
}

/// Op names in any case, arguments split by tabs and runs of blanks.
#[test]
fn ops_case_insensitive_and_tab_separated() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.read_info();
    c.send("connect\t{\"verbose\":false}\r\n");
    c.send("sub\tt.1\t \t1\r\nSuB t.2  q \t 2\r\n");
    c.send("pub\tt.1\t\t3\r\nabc\r\n");
    c.send("Pub  t.2 \t r  2\r\nde\r\n");
    c.send("unsub\t2\r\npub t.2 1\r\nz\r\n");
    c.send("pInG\r\n");
    assert_eq!(c.read_msg(), ("MSG t.1 1 3".into(), b"abc".to_vec()));
    assert_eq!(c.read_msg(), ("MSG t.2 2 r 2".into(), b"de".to_vec()));
    c.expect_line("PONG");
}

#[test]
fn hpub_lowercase_with_headers() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(HEADERS);
    c.send("sub h 1\r\nhpub\th\t12\t14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(c.flush(), ["HMSG h 1 12 14", "NATS/1.0", "", "hi"]);
}

/// Lines may end in a bare `\n`.
#[test]
fn bare_lf_line_endings() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.read_info();
    c.send("CONNECT {\"verbose\":false}\nSUB lf 1\nPUB lf 2\nhi\r\nPING\n");
    assert_eq!(c.read_msg(), ("MSG lf 1 2".into(), b"hi".to_vec()));
    c.expect_line("PONG");
}

/// A payload may hold `\r\n` and text that looks like protocol; only the
/// declared size counts.
#[test]
fn payload_containing_crlf_and_protocol_text() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("SUB p 1\r\n");
    let payload = "a\r\nPING\r\nPUB p 1\r\nx\r\n\r\n";
    c.send(format!("PUB p {}\r\n{payload}\r\n", payload.len()));
    let (line, got) = c.read_msg();
    assert_eq!(line, format!("MSG p 1 {}", payload.len()));
    assert_eq!(got, payload.as_bytes());
    assert_nothing_pending(&mut c, "the payload's PING/PUB are not ops");
}

#[test]
fn binary_payload_is_delivered_unchanged() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("SUB bin 1\r\n");
    let payload: Vec<u8> = (0..=255u8).collect();
    let mut msg = b"PUB bin 256\r\n".to_vec();
    msg.extend_from_slice(&payload);
    msg.extend_from_slice(b"\r\n");
    c.send(msg);
    assert_eq!(c.read_msg(), ("MSG bin 1 256".into(), payload));
}

#[test]
fn large_payload_near_default_max() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("SUB big 1\r\n");
    let payload: Vec<u8> = (0..1048576usize).map(|i| b'a' + (i % 26) as u8).collect();
    let mut msg = b"PUB big 1048576\r\n".to_vec();
    msg.extend_from_slice(&payload);
    msg.extend_from_slice(b"\r\n");
    c.send(msg);
    let (line, got) = c.read_msg();
    assert_eq!(line, "MSG big 1 1048576");
    assert!(got == payload, "1 MiB payload delivered intact");
}

/// Every byte of a session sent as its own write (TCP_NODELAY is set by
/// the harness), through CONNECT, SUB, PUB, HPUB, UNSUB and PING.
#[test]
fn input_split_byte_by_byte() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.read_info();
    let hdr = "NATS/1.0\r\nK: v\r\n\r\n";
    let session = format!(
        "CONNECT {{\"verbose\":false,\"headers\":true}}\r\nSUB s.* q 1\r\nSUB s.> 2\r\n\
         PUB s.a r 12\r\nhello\r\nworld\r\nHPUB s.b {} {}\r\n{hdr}xyz\r\nUNSUB 2\r\n\
         PUB s.c 0\r\n\r\nPING\r\n",
        hdr.len(),
        hdr.len() + 3
    );
    for b in session.as_bytes() {
        c.send([*b]);
    }
    let mut got = BTreeMap::new();
    for _ in 0..5 {
        let (line, payload) = c.read_msg();
        got.insert(line, payload);
    }
    c.expect_line("PONG");
    let want: BTreeMap<String, Vec<u8>> = [
        ("MSG s.a 1 r 12", b"hello\r\nworld".to_vec()),
        ("MSG s.a 2 r 12", b"hello\r\nworld".to_vec()),
        (
            &*format!("HMSG s.b 1 {} {}", hdr.len(), hdr.len() + 3),
            format!("{hdr}xyz").into_bytes(),
        ),
        (
            &*format!("HMSG s.b 2 {} {}", hdr.len(), hdr.len() + 3),
            format!("{hdr}xyz").into_bytes(),
        ),
        ("MSG s.c 1 0", Vec::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, want);
}

/// Every split point of one PUB (two writes each), on one connection.
#[test]
fn input_split_at_every_offset() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("SUB sp 1\r\n");
    let op = "PUB sp rp 6\r\nab\r\ncd\r\n";
    for cut in 1..op.len() {
        c.send(&op[..cut]);
        c.send(&op[cut..]);
        assert_eq!(
            c.read_msg(),
            ("MSG sp 1 rp 6".into(), b"ab\r\ncd".to_vec()),
            "cut at {cut}"
        );
    }
    assert_nothing_pending(&mut c, "after all splits");
}

/// 10,000 subscriptions on one connection all receive; and 10,000 distinct
/// subjects each reach their own subscription.
#[test]
fn ten_thousand_subscriptions_on_one_connection() {
    const N: usize = 10_000;
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    let mut subs = String::new();
    for sid in 1..=N {
        subs.push_str(&format!("SUB many {sid}\r\nSUB one.{sid} {}\r\n", N + sid));
    }
    c.send(subs);
    c.flush();
    let mut publ = server.client(QUIET);
    publish(&mut publ, "many", "m");
    publ.flush();
    let mut sids = HashSet::new();
    for _ in 0..N {
        let (line, payload) = c.read_msg();
        assert_eq!(payload, b"m");
        let sid: usize = line.split(' ').nth(2).unwrap().parse().unwrap();
        assert!(sids.insert(sid), "sid {sid} twice");
    }
    assert_eq!(sids.len(), N);
    assert_nothing_pending(&mut c, "after one MSG per sid");

    let mut batch = String::new();
    for sid in 1..=N {
        batch.push_str(&format!("PUB one.{sid} 1\r\nx\r\n"));
    }
    publ.send(batch);
    publ.flush();
    for sid in 1..=N {
        let (line, _) = c.read_msg();
        assert_eq!(line, format!("MSG one.{sid} {} 1", N + sid));
    }
    assert_nothing_pending(&mut c, "after one MSG per subject");
}

/// Many connections subscribed to one subject all receive a publish.
#[test]
fn fan_out_to_many_connections() {
    let server = ServerProcess::start_selected(&[]);
    let mut subs: Vec<RawClient> = (0..50)
        .map(|_| {
            let mut c = server.client(QUIET);
            c.send("SUB fan 1\r\n");
            c.flush();
            c
        })
        .collect();
    let mut publ = server.client(QUIET);
    publish(&mut publ, "fan", "all");
    publ.flush();
    for s in subs.iter_mut() {
        assert_eq!(s.read_msg(), ("MSG fan 1 3".into(), b"all".to_vec()));
    }
}
