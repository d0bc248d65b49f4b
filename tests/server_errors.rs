//! The `-ERR` catalogue of nats-server 2.9.10 (reliability-cases.md,
//! section 2; anchors.md "Exact wire details"): for each trigger, the exact
//! text and whether the connection is closed or kept. Authentication errors
//! are here too (A01, A04, A08).
//!
//! A connection is "kept" when a PING after the error still gets its PONG;
//! "closed" when the server ends it (EOF) within `IO_TIMEOUT`. Each trigger
//! is sent on its own, so the server has no unread input when it closes.

use std::time::{Duration, Instant};

use crate::util::{RawClient, ServerProcess, IO_TIMEOUT};

const QUIET: &str = r#"{"verbose":false}"#;
const UNKNOWN_OP: &str = "-ERR 'Unknown Protocol Operation'";
const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'";

/// A connection that has seen INFO and, unless `connect` is `None`, has
/// had a CONNECT processed.
fn session(server: &ServerProcess, connect: Option<&str>) -> RawClient {
    match connect {
        Some(opts) => server.client(opts),
        None => {
            let mut c = server.connect();
            c.read_info();
            c
        }
    }
}

/// A bystander that must not notice another client's errors.
fn assert_bystander_fine(bystander: &mut RawClient) {
    let before = bystander.flush();
    assert!(before.is_empty(), "bystander got {before:?}");
}

/// P02: unknown verbs, a leading space, an empty line, HTTP, a client MSG
/// and an UNSUB without args are `Unknown Protocol Operation` + close,
/// before or after CONNECT; other clients are unaffected.
#[test]
fn p02_unknown_op_closes() {
    let server = ServerProcess::start_selected(&[]);
    let mut bystander = server.client(QUIET);
    bystander.send("SUB by 1\r\n");
    bystander.flush();
    let triggers = [
        "ZZZ\r\n",
        " PING\r\n",
        "\r\n",
        "GET / HTTP/1.1\r\n",
        "MSG foo 1 2\r\n",
        "UNSUB\r\n",
        "SUBS foo 1\r\n",
    ];
    for connect in [None, Some(QUIET)] {
        for trigger in triggers {
            let mut c = session(&server, connect);
            c.send(trigger);
            let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
            assert!(
                lines == [UNKNOWN_OP] && closed,
                "{trigger:?} (connect={connect:?}): got {lines:?}, closed={closed}"
            );
        }
    }
    assert_bystander_fine(&mut bystander);
    // The bystander still receives messages.
    let mut publ = server.client(QUIET);
    publ.send("PUB by 2\r\nok\r\n");
    publ.flush();
    assert_eq!(bystander.read_msg(), ("MSG by 1 2".into(), b"ok".to_vec()));
}

/// A second connection still gets PONG after one client sent junk.
#[test]
fn p02_unknown_op_does_not_affect_other_clients() {
    let server = ServerProcess::start_selected(&[]);
    let mut bad = server.connect();
    bad.read_info();
    bad.send("ZZZ\r\n");
    bad.expect_err_and_close(UNKNOWN_OP, false);
    let mut good = server.connect();
    good.send("PING\r\n");
    good.read_info();
    good.expect_line("PONG");
}

/// A payload not followed by `\r\n` (size mismatch) is `Unknown Protocol
/// Operation` + close, and the message is not delivered.
#[test]
fn payload_size_mismatch_closes() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(QUIET);
    sub.send("SUB foo 1\r\n");
    sub.flush();
    for bad in ["PUB foo 2\r\nhello\r\n", "PUB foo 5\r\nhi\r\nabcd"] {
        let mut c = server.client(QUIET);
        c.send(bad);
        c.expect_err_and_close(UNKNOWN_OP, false);
    }
    let before = sub.flush();
    assert!(
        before.is_empty(),
        "a malformed message was delivered: {before:?}"
    );
}

/// Control line over 4096 bytes, ended or not, before or after CONNECT:
/// `maximum control line exceeded` (compared case-insensitively) + close.
#[test]
fn max_control_line_exceeded_closes() {
    const WANT: &str = "-ERR 'maximum control line exceeded'";
    let server = ServerProcess::start_selected(&[]);
    let long = "a".repeat(5000);
    let triggers = [
        format!("SUB {long} 1\r\n"),
        format!("PUB {long} 1\r\n"),
        format!("SUB {}", "b".repeat(4200)),
        format!("UNSUB {}", "1".repeat(4200)),
    ];
    for connect in [None, Some(QUIET)] {
        for trigger in &triggers {
            let mut c = session(&server, connect);
            c.send(trigger);
            let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
            assert!(
                lines.len() == 1 && lines[0].eq_ignore_ascii_case(WANT) && closed,
                "{} bytes (connect={connect:?}): got {lines:?}, closed={closed}",
                trigger.len()
            );
        }
    }
}

/// The limit applies to CONNECT too (its JSON is a control line), first or
/// repeated.
#[test]
fn max_control_line_applies_to_connect() {
    let server = ServerProcess::start_selected(&[]);
    let connect = format!("CONNECT {{\"name\":\"{}\"}}\r\n", "a".repeat(5000));
    for first in [None, Some(QUIET)] {
        let mut c = session(&server, first);
        c.send(&connect);
        let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
        assert!(
            lines.len() == 1
                && lines[0].eq_ignore_ascii_case("-ERR 'maximum control line exceeded'")
                && closed,
            "(first={first:?}): got {lines:?}, closed={closed}"
        );
    }
}

/// A control line under the limit (a 4000-byte subject) is fine.
#[test]
fn long_control_line_under_limit_accepted() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    let subject = "s".repeat(4000);
    c.send(format!("SUB {subject} 1\r\nPUB {subject} 1\r\nx\r\n"));
    assert_eq!(c.flush(), [format!("MSG {subject} 1 1"), "x".to_string()]);
}

/// PUB/HPUB over max_payload (1 MiB by default): `Maximum Payload
/// Violation` from the control line alone, before any payload is sent.
#[test]
fn max_payload_violation_from_pub_line() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("PUB foo 1048577\r\n");
    c.expect_err_and_close("-ERR 'Maximum Payload Violation'", false);
    let mut c = server.client(r#"{"verbose":false,"headers":true}"#);
    c.send("HPUB foo 12 1048577\r\n");
    c.expect_err_and_close("-ERR 'Maximum Payload Violation'", false);
    let mut c = server.client(QUIET);
    c.send("PUB foo reply 99999999\r\n");
    c.expect_err_and_close("-ERR 'Maximum Payload Violation'", false);
}

/// P07: PUB with a bad size or the wrong number of args: closed without
/// `-ERR` (nats-lite may say `Unknown Protocol Operation`); never a panic
/// or a giant allocation.
#[test]
fn p07_bad_pub_args_close_silently() {
    let server = ServerProcess::start_selected(&[]);
    for bad in [
        "PUB f 18446744073709551615123\r\n",
        "PUB f 9223372036854775808\r\n",
        "PUB f -1\r\n",
        "PUB f x\r\n",
        "PUB f\r\n",
        "PUB\r\n",
        "PUB f a b c 1\r\n",
        "PUB f 1x\r\n",
    ] {
        let mut c = server.client(QUIET);
        c.send(bad);
        let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
        assert!(
            closed && (lines.is_empty() || lines == [UNKNOWN_OP]),
            "{bad:?}: got {lines:?}, closed={closed}"
        );
    }
    let mut ok = server.client(QUIET);
    assert!(ok.flush().is_empty(), "server still serves clients");
}

/// P09: SUB/UNSUB with the wrong number of args: closed without `-ERR`.
#[test]
fn p09_bad_sub_unsub_args_close_silently() {
    let server = ServerProcess::start_selected(&[]);
    for bad in [
        "SUB foo\r\n",
        "SUB a b c d\r\n",
        "SUB\r\n",
        "UNSUB 1 2 3\r\n",
    ] {
        let mut c = server.client(QUIET);
        c.send(bad);
        let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
        assert!(
            closed && (lines.is_empty() || lines == [UNKNOWN_OP]),
            "{bad:?}: got {lines:?}, closed={closed}"
        );
    }
}

/// UNSUB with a max that is not a number (or negative) removes the
/// subscription at once; the connection stays open.
#[test]
fn unsub_bad_max_unsubscribes_now() {
    let server = ServerProcess::start_selected(&[]);
    for max in ["-1", "abc"] {
        let mut c = server.client(QUIET);
        c.send(format!("SUB foo 1\r\nUNSUB 1 {max}\r\nPUB foo 2\r\nhi\r\n"));
        let got = c.flush();
        assert!(got.is_empty(), "UNSUB 1 {max}: got {got:?}");
    }
}

/// P10: a client-sent `-ERR` closes the connection (silently).
#[test]
fn p10_client_err_closes() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    c.send("-ERR 'x'\r\n");
    c.expect_silent_close();
    let mut c = session(&server, None);
    c.send("-ERR 'before connect'\r\n");
    c.expect_silent_close();
}

/// P11: CONNECT that is not JSON: closed silently.
#[test]
fn p11_bad_connect_json_closes() {
    let server = ServerProcess::start_selected(&[]);
    for bad in [
        "CONNECT {bad\r\n",
        "CONNECT not json\r\n",
        "CONNECT {\"verbose\":false\r\n",
        "CONNECT []\r\n",
        "CONNECT \"str\"\r\n",
        "CONNECT {} junk\r\n",
        "CONNECT\r\n",
        "CONNECT {\"verbose\":\"yes\"}\r\n",
        "CONNECT {\"protocol\":\"1\"}\r\n",
    ] {
        let mut c = session(&server, None);
        c.send(bad);
        let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
        assert!(
            closed && (lines.is_empty() || lines == [UNKNOWN_OP]),
            "{bad:?}: got {lines:?}, closed={closed}"
        );
    }
}

/// P11: CONNECT `protocol` outside 0..=1: `invalid client protocol` + close.
#[test]
fn p11_invalid_client_protocol_closes() {
    let server = ServerProcess::start_selected(&[]);
    for protocol in [2, 5, -1] {
        let mut c = session(&server, None);
        c.send(format!(
            "CONNECT {{\"verbose\":false,\"protocol\":{protocol}}}\r\n"
        ));
        c.expect_err_and_close("-ERR 'invalid client protocol'", false);
    }
    for protocol in [0, 1] {
        let mut c = server.client(&format!("{{\"verbose\":false,\"protocol\":{protocol}}}"));
        assert!(c.flush().is_empty(), "protocol {protocol} accepted");
    }
}

/// P13: `no_responders` without `headers`: `no responders requires headers
/// support` + close.
#[test]
fn p13_no_responders_requires_headers() {
    let server = ServerProcess::start_selected(&[]);
    for opts in [
        r#"{"verbose":false,"no_responders":true}"#,
        r#"{"verbose":false,"no_responders":true,"headers":false}"#,
    ] {
        let mut c = session(&server, None);
        c.send(format!("CONNECT {opts}\r\n"));
        c.expect_err_and_close("-ERR 'no responders requires headers support'", false);
    }
}

/// P13: HPUB whose header size exceeds the total size: closed silently.
#[test]
fn p13_hpub_header_size_over_total_closes() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(r#"{"verbose":false,"headers":true}"#);
    c.send("HPUB foo 10 5\r\n");
    c.expect_silent_close();
}

/// HPUB from a client whose CONNECT did not ask for headers: closed
/// silently, and nothing is delivered.
#[test]
fn hpub_without_headers_support_closes() {
    let server = ServerProcess::start_selected(&[]);
    let mut sub = server.client(r#"{"verbose":false,"headers":true}"#);
    sub.send("SUB foo 1\r\n");
    sub.flush();
    let mut c = server.client(QUIET);
    c.send("HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    c.expect_silent_close();
    assert!(sub.flush().is_empty(), "HPUB without headers was delivered");
}

/// HPUB without header support is refused from the control line alone,
/// without waiting for the header block and payload.
#[test]
fn hpub_without_headers_closes_at_control_line() {
    let server = ServerProcess::start_selected(&[]);
    for line in ["HPUB x 1 1\r\n", "hpub x 12 14\r\n"] {
        let mut c = server.client(QUIET);
        c.send(line);
        c.expect_silent_close();
    }
}

/// SUB with a malformed subject: `Invalid Subject`, connection kept, and
/// the bad subscription receives nothing.
#[test]
fn invalid_subject_kept_open() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.client(QUIET);
    for subject in ["a..b", "foo.", ".foo", "foo.>.bar", ".", ">.a", "a.>.>"] {
        c.send(format!("SUB {subject} 1\r\n"));
        let before = c.flush();
        assert_eq!(before, ["-ERR 'Invalid Subject'"], "SUB {subject:?}");
    }
    // The connection is fully usable afterwards.
    c.send("SUB ok 2\r\nPUB ok 1\r\nx\r\n");
    assert_eq!(c.flush(), ["MSG ok 2 1", "x"]);
}

/// Pedantic (the default) PUB to a subject with a wildcard or an empty
/// token: `Invalid Publish Subject`, connection kept. nats-lite must never
/// deliver such a message to a literal subscriber.
#[test]
fn invalid_publish_subject_kept_and_not_delivered_to_literal_subs() {
    let server = ServerProcess::start_selected(&[]);
    let mut literal = server.client(QUIET);
    literal.send("SUB w.x 1\r\nSUB w.x.y 2\r\nSUB w 3\r\n");
    literal.flush();
    let mut c = server.client(r#"{"verbose":false,"pedantic":true}"#);
    for subject in ["w.*", "w.>", "w..x", "*.x", "w.x.>"] {
        c.send(format!("PUB {subject} 2\r\nhi\r\n"));
        let before = c.flush();
        assert_eq!(
            before,
            ["-ERR 'Invalid Publish Subject'"],
            "PUB {subject:?}"
        );
    }
    let got = literal.flush();
    assert!(got.is_empty(), "literal subscribers got {got:?}");
    // Kept open and usable.
    c.send("SUB fine 1\r\nPUB fine 1\r\nx\r\n");
    assert_eq!(c.flush(), ["MSG fine 1 1", "x"]);
}

/// Without pedantic checks a PUB subject with an empty token (`a..b`,
/// `a.`, `.a`, `.`) is accepted but reaches nobody, not even `>` or `*.*`
/// subscribers; a wildcard PUB subject reaches only the subscriptions that
/// match it token for token (never `w.x` for `w.*`).
#[test]
fn subject_with_empty_token_never_delivered() {
    let server = ServerProcess::start_selected(&[]);
    let mut subs = server.client(QUIET);
    subs.send("SUB > 1\r\nSUB *.* 2\r\nSUB foo.x 3\r\nSUB * 4\r\n");
    subs.flush();
    let mut c = server.client(r#"{"verbose":false,"pedantic":false}"#);
    for subject in ["foo..x", "foo.", ".foo", ".", "..", "a..b.c"] {
        c.send(format!("PUB {subject} 2\r\nhi\r\n"));
        assert!(c.flush().is_empty(), "PUB {subject:?} answered");
        let got = subs.flush();
        assert!(got.is_empty(), "PUB {subject:?} delivered: {got:?}");
    }
    c.send("PUB foo.* 2\r\nhi\r\n");
    c.flush();
    let mut sids: Vec<String> = (0..2)
        .map(|_| subs.read_msg().0.split(' ').nth(2).unwrap().to_string())
        .collect();
    sids.sort();
    assert_eq!(sids, ["1", "2"], "foo.* reaches > and *.* only");
    assert!(subs.flush().is_empty());
}

/// `CONNECT {}` is pedantic by default too.
#[test]
fn invalid_publish_subject_with_default_options() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    c.read_info();
    c.send("CONNECT {}\r\n");
    c.expect_line("+OK");
    c.send("PUB a.* 1\r\nx\r\n");
    let lines = c.flush();
    assert!(
        lines.contains(&"-ERR 'Invalid Publish Subject'".to_string()),
        "got {lines:?}"
    );
}

/// A01: with auth required, any op before CONNECT is `Authorization
/// Violation` + close, and a PUB sent that way reaches nobody.
#[test]
fn a01_ops_before_connect_when_auth_required() {
    let server = ServerProcess::start_selected(&["--user", "u", "--pass", "p"]);
    let mut watcher = server.client(r#"{"verbose":false,"user":"u","pass":"p"}"#);
    watcher.send("SUB > 1\r\n");
    watcher.flush();
    for op in [
        "PING\r\n",
        "SUB foo 1\r\n",
        "PUB foo 2\r\nhi\r\n",
        "UNSUB 1\r\n",
    ] {
        let mut c = server.connect();
        let info = c.read_info();
        assert_eq!(info["auth_required"], true);
        c.send(op);
        let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
        assert!(
            lines == [AUTH_VIOLATION] && closed,
            "{op:?}: got {lines:?}, closed={closed}"
        );
    }
    let got = watcher.flush();
    assert!(got.is_empty(), "unauthenticated PUB delivered: {got:?}");
}

/// A01: the refusal comes from the PUB line alone; the server does not
/// wait for a payload from an unauthenticated client.
#[test]
fn a01_pub_line_before_connect_refused_at_once() {
    let server = ServerProcess::start_selected(&["--user", "u", "--pass", "p"]);
    let mut c = server.connect();
    c.read_info();
    let started = Instant::now();
    c.send("PUB foo 2\r\n");
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "got {lines:?}, closed={closed} after {:?}",
        started.elapsed()
    );
}

/// A04: wrong, missing or mixed credentials: `Authorization Violation` +
/// close; the right ones work.
#[test]
fn a04_bad_credentials_user_pass() {
    let server = ServerProcess::start_selected(&["--user", "u", "--pass", "p"]);
    for opts in [
        r#"{"verbose":false}"#,
        r#"{"verbose":false,"user":"u","pass":"x"}"#,
        r#"{"verbose":false,"user":"x","pass":"p"}"#,
        r#"{"verbose":false,"user":"u"}"#,
        r#"{"verbose":false,"pass":"p"}"#,
        r#"{"verbose":false,"user":"u","pass":"p "}"#,
        r#"{"verbose":false,"user":"u","pass":"p\u0000"}"#,
        r#"{"verbose":false,"user":"U","pass":"p"}"#,
        r#"{"verbose":false,"auth_token":"p"}"#,
        r#"{"verbose":false,"auth_token":"u"}"#,
    ] {
        let mut c = session(&server, None);
        c.send(format!("CONNECT {opts}\r\n"));
        let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
        assert!(
            lines == [AUTH_VIOLATION] && closed,
            "{opts}: got {lines:?}, closed={closed}"
        );
    }
    let mut good = server.client(r#"{"verbose":false,"user":"u","pass":"p"}"#);
    good.send("SUB a 1\r\nPUB a 1\r\nx\r\n");
    assert_eq!(good.flush(), ["MSG a 1 1", "x"]);
    // Verbose by default: +OK after a good CONNECT.
    let mut c = session(&server, None);
    c.send("CONNECT {\"user\":\"u\",\"pass\":\"p\"}\r\n");
    c.expect_line("+OK");
}

/// A later CONNECT is checked again: wrong credentials close the
/// connection; a CONNECT without credentials keeps the earlier ones (keys
/// it omits are not reset, as for every CONNECT option).
#[test]
fn a04_second_connect_rechecked() {
    let server = ServerProcess::start_selected(&["--user", "u", "--pass", "p"]);
    let good = r#"{"verbose":false,"user":"u","pass":"p"}"#;
    let mut c = server.client(good);
    c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"bad\"}\r\n");
    c.expect_err_and_close(AUTH_VIOLATION, false);
    let mut c = server.client(good);
    c.send("CONNECT {\"verbose\":false,\"name\":\"x\"}\r\n");
    assert!(c.flush().is_empty(), "still authenticated");
}

/// Token auth (`--auth`): the right token works; a wrong one, none, or
/// user/pass are refused. INFO says `auth_required`.
#[test]
fn a04_bad_credentials_token() {
    let server = ServerProcess::start_selected(&["--auth", "s3cret"]);
    for opts in [
        r#"{"verbose":false}"#,
        r#"{"verbose":false,"auth_token":"wrong"}"#,
        r#"{"verbose":false,"auth_token":"s3cret "}"#,
        r#"{"verbose":false,"user":"s3cret"}"#,
        r#"{"verbose":false,"user":"s3cret","pass":"s3cret"}"#,
    ] {
        let mut c = server.connect();
        assert_eq!(c.read_info()["auth_required"], true);
        c.send(format!("CONNECT {opts}\r\n"));
        let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
        assert!(
            lines == [AUTH_VIOLATION] && closed,
            "{opts}: got {lines:?}, closed={closed}"
        );
    }
    let mut good = server.client(r#"{"verbose":false,"auth_token":"s3cret"}"#);
    assert!(good.flush().is_empty());
}

/// A08: auth required and nothing sent: `Authentication Timeout` + close at
/// the configured timeout (1 s here).
#[test]
fn a08_auth_timeout() {
    let server = ServerProcess::start_selected_with_config(
        r#"{"authorization":{"user":"u","password":"p","timeout":1}}"#,
        &[],
    );
    let mut c = server.connect();
    let started = Instant::now();
    assert_eq!(c.read_info()["auth_required"], true);
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    let took = started.elapsed();
    assert!(
        lines == ["-ERR 'Authentication Timeout'"] && closed,
        "got {lines:?}, closed={closed}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "closed after {took:?}, want about 1s"
    );
}

/// A08 with the default auth timeout (2 s) and flag-set credentials.
#[test]
fn a08_auth_timeout_default_two_seconds() {
    let server = ServerProcess::start_selected(&["--user", "u", "--pass", "p"]);
    let mut c = server.connect();
    let started = Instant::now();
    c.read_info();
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    let took = started.elapsed();
    assert!(
        lines == ["-ERR 'Authentication Timeout'"] && closed,
        "got {lines:?}, closed={closed}"
    );
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
        "closed after {took:?}, want about 2s"
    );
}

/// A08: bytes of a CONNECT that trickle in do not extend the deadline.
#[test]
fn a08_auth_timeout_partial_connect() {
    let server = ServerProcess::start_selected_with_config(
        r#"{"authorization":{"user":"u","password":"p","timeout":1}}"#,
        &[],
    );
    let mut c = server.connect();
    let started = Instant::now();
    c.read_info();
    c.send("CONNECT {\"user\":");
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    let took = started.elapsed();
    assert!(
        lines == ["-ERR 'Authentication Timeout'"] && closed,
        "got {lines:?}, closed={closed}"
    );
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

/// A client that authenticates in time is not timed out later.
#[test]
fn a08_authenticated_client_not_timed_out() {
    let server = ServerProcess::start_selected_with_config(
        r#"{"authorization":{"user":"u","password":"p","timeout":1}}"#,
        &[],
    );
    let mut c = server.client(r#"{"verbose":false,"user":"u","pass":"p"}"#);
    // Quiet for longer than the auth timeout, then still served.
    assert!(c.is_quiet_for(Duration::from_millis(1500)));
    assert!(c.flush().is_empty());
}
