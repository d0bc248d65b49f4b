//! Publish and subscribe permissions (anchors.md 1.2 "Permissions",
//! "default_permissions", "allow_responses"; reliability-cases.md section
//! 1.5 and Z03): the permission forms, deny over allow, the exact
//! violation texts (the connection is kept), wildcard subscriptions that
//! overlap a deny (accepted, the denied subjects filtered at delivery), for
//! plain and queue subscriptions (CVE-2022-29946), and replies.

use crate::config_support::{start_with_conf, ConfDir};
use crate::util::{skip_under_reference, RawClient, ServerProcess};

fn pub_violation(subject: &str) -> String {
    format!("-ERR 'Permissions Violation for Publish to \"{subject}\"'")
}

fn sub_violation(subject: &str) -> String {
    format!("-ERR 'Permissions Violation for Subscription to \"{subject}\"'")
}

fn queue_violation(subject: &str, queue: &str) -> String {
    format!(
        "-ERR 'Permissions Violation for Subscription to \"{subject}\" using queue \"{queue}\"'"
    )
}

/// CONNECT options for `user` (password `p`), verbose off.
fn login(user: &str) -> String {
    serde_json::json!({"verbose": false, "user": user, "pass": "p"}).to_string()
}

/// A server whose `authorization.users` are `admin` (no limits) plus one
/// user per `(name, permissions)` pair, all with password `p`.
fn start_users(dir: &ConfDir, users: &[(&str, &str)]) -> ServerProcess {
    let mut conf = String::from("authorization {\n  users = [\n    {user: admin, password: p}\n");
    for (name, perms) in users {
        conf.push_str(&format!(
            "    {{user: {name}, password: p, permissions: {perms}}}\n"
        ));
    }
    conf.push_str("  ]\n}\n");
    start_with_conf(dir, &conf, &[])
}

/// An admin connection subscribed to everything.
fn watcher(server: &ServerProcess) -> RawClient {
    let mut w = server.client(&login("admin"));
    w.send("SUB > 99\r\n");
    w.flush();
    w
}

/// Publish `subject` from `c`; returns what came back before the PONG.
fn publish(c: &mut RawClient, subject: &str) -> Vec<String> {
    c.send(format!("PUB {subject} 1\r\nx\r\n"));
    c.flush()
}

/// The subjects of the MSG lines in `lines`.
fn msg_subjects(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("MSG "))
        .map(|l| l.split(' ').nth(1).unwrap().to_string())
        .collect()
}

/// Publish permissions as a string, an array, an allow/deny map, and with
/// the `pub` alias: allowed subjects are delivered; denied ones get the
/// violation, are not delivered, and the connection stays open.
#[test]
fn publish_permission_forms() {
    let dir = ConfDir::new("perm-pub");
    let server = start_users(
        &dir,
        &[
            ("string", "{publish: \"a.>\"}"),
            ("array", "{publish: [\"a.>\", \"b\"]}"),
            (
                "map",
                "{publish: {allow: [\"a.>\", \"b\"], deny: \"a.secret\"}}",
            ),
            ("alias", "{pub: [\"a.>\", \"b\"]}"),
            ("denyonly", "{publish: {deny: [\"c\", \"a.secret\"]}}"),
        ],
    );
    let mut w = watcher(&server);
    for (user, allowed, denied) in [
        ("string", vec!["a.x", "a.x.y"], vec!["b", "a", "c"]),
        ("array", vec!["a.x", "b"], vec!["c", "b.x"]),
        ("map", vec!["a.x", "b"], vec!["a.secret", "c"]),
        ("alias", vec!["a.x", "b"], vec!["c"]),
        ("denyonly", vec!["a.x", "b", "d.e"], vec!["c", "a.secret"]),
    ] {
        let mut c = server.client(&login(user));
        for subject in &allowed {
            assert!(publish(&mut c, subject).is_empty(), "{user} {subject}");
        }
        for subject in &denied {
            assert_eq!(publish(&mut c, subject), [pub_violation(subject)], "{user}");
        }
        let got = msg_subjects(&w.flush());
        assert_eq!(got, allowed, "{user}: delivered");
    }
}

/// Subscribe permissions: a denied SUB gets the violation (with the queue
/// named for a queue subscription), stays open, and receives nothing.
#[test]
fn subscribe_permission_forms_and_texts() {
    let dir = ConfDir::new("perm-sub");
    let server = start_users(
        &dir,
        &[
            ("string", "{subscribe: \"a.>\"}"),
            (
                "map",
                "{subscribe: {allow: [\"a.>\", \"b\"], deny: \"a.secret\"}}",
            ),
            ("alias", "{sub: [\"a.>\", \"b\"]}"),
        ],
    );
    let mut admin = server.client(&login("admin"));
    for user in ["string", "map", "alias"] {
        let mut c = server.client(&login(user));
        c.send("SUB c 1\r\n");
        assert_eq!(c.flush(), [sub_violation("c")], "{user}");
        c.send("SUB c q 2\r\n");
        assert_eq!(c.flush(), [queue_violation("c", "q")], "{user}");
        // A queue group of this user's own: the previous user's connection
        // may still be a member while the server closes it, and a group
        // shared with it could hand it this user's copy.
        c.send(format!("SUB a.* 3\r\nSUB a.> q-{user} 4\r\n"));
        assert!(c.flush().is_empty(), "{user}");
        admin.send("PUB c 1\r\nx\r\nPUB a.b 1\r\ny\r\n");
        admin.flush();
        let lines = c.flush();
        assert_eq!(msg_subjects(&lines), ["a.b", "a.b"], "{user}: {lines:?}");
    }
    let mut c = server.client(&login("map"));
    c.send("SUB a.secret 1\r\nSUB a.secret g 2\r\n");
    assert_eq!(
        c.flush(),
        [sub_violation("a.secret"), queue_violation("a.secret", "g")]
    );
}

/// Deny wins over allow, for publish and subscribe alike.
#[test]
fn deny_wins_over_allow() {
    let dir = ConfDir::new("perm-deny");
    let server = start_users(
        &dir,
        &[(
            "u",
            "{publish: {allow: \">\", deny: [\"foo.bar\", \"x.*\"]}, subscribe: {allow: \">\", deny: [\"foo.bar\", \"x.*\"]}}",
        )],
    );
    let mut w = watcher(&server);
    let mut c = server.client(&login("u"));
    assert_eq!(publish(&mut c, "foo.bar"), [pub_violation("foo.bar")]);
    assert_eq!(publish(&mut c, "x.y"), [pub_violation("x.y")]);
    assert!(publish(&mut c, "foo.baz").is_empty());
    assert_eq!(msg_subjects(&w.flush()), ["foo.baz"]);
    c.send("SUB foo.bar 1\r\nSUB x.* 2\r\nSUB x.y q 3\r\n");
    assert_eq!(
        c.flush(),
        [
            sub_violation("foo.bar"),
            sub_violation("x.*"),
            queue_violation("x.y", "q")
        ]
    );
}

/// With verbose on, a denied PUB or SUB gets the violation instead of
/// `+OK`, never both.
#[test]
fn verbose_violation_replaces_ok() {
    let dir = ConfDir::new("perm-verbose");
    let server = start_users(&dir, &[("u", "{publish: \"ok\", subscribe: \"ok\"}")]);
    let mut c = server.client(r#"{"verbose":true,"user":"u","pass":"p"}"#);
    c.send("PUB no 1\r\nx\r\n");
    assert_eq!(c.flush(), [pub_violation("no")]);
    c.send("SUB no 1\r\n");
    assert_eq!(c.flush(), [sub_violation("no")]);
    c.send("PUB ok 1\r\nx\r\nSUB ok 2\r\n");
    assert_eq!(c.flush(), ["+OK", "+OK"]);
}

/// `default_permissions` apply to users without permissions of their own;
/// users with their own are not limited by them.
#[test]
fn default_permissions_for_users_without_their_own() {
    let dir = ConfDir::new("perm-default");
    let server = start_with_conf(
        &dir,
        "authorization {\n  default_permissions { publish: \"SANDBOX.*\", subscribe: [\"PUBLIC.>\"] }\n  users = [\n    {user: plain, password: p}\n    {user: own, password: p, permissions: {publish: \"other\"}}\n    {user: admin, password: p, permissions: {publish: \">\", subscribe: \">\"}}\n  ]\n}\n",
        &[],
    );
    let mut w = watcher(&server);
    let mut plain = server.client(&login("plain"));
    assert!(publish(&mut plain, "SANDBOX.a").is_empty());
    assert_eq!(publish(&mut plain, "other"), [pub_violation("other")]);
    plain.send("SUB PUBLIC.x 1\r\nSUB private 2\r\n");
    assert_eq!(plain.flush(), [sub_violation("private")]);
    let mut own = server.client(&login("own"));
    assert!(publish(&mut own, "other").is_empty());
    assert_eq!(publish(&mut own, "SANDBOX.a"), [pub_violation("SANDBOX.a")]);
    assert_eq!(msg_subjects(&w.flush()), ["SANDBOX.a", "other"]);
}

/// A wildcard SUB that is allowed but overlaps a deny is accepted; the
/// denied subjects are never delivered to it. Plain and queue
/// subscriptions alike (CVE-2022-29946).
#[test]
fn wildcard_sub_overlapping_deny_is_filtered() {
    let dir = ConfDir::new("perm-overlap");
    let server = start_users(
        &dir,
        &[(
            "u",
            "{subscribe: {allow: \"foo.>\", deny: [\"foo.secret\", \"foo.hidden.>\"]}}",
        )],
    );
    let mut c = server.client(&login("u"));
    c.send("SUB foo.* 1\r\nSUB foo.> 2\r\nSUB foo.* q 3\r\nSUB foo.> q2 4\r\n");
    assert!(c.flush().is_empty(), "wildcard SUBs accepted");
    let mut admin = server.client(&login("admin"));
    for subject in ["foo.public", "foo.secret", "foo.hidden.x", "foo.a.b"] {
        admin.send(format!("PUB {subject} 1\r\nx\r\n"));
    }
    admin.flush();
    let lines = c.flush();
    let mut got: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("MSG "))
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            format!("{} {}", parts[1], parts[2])
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "foo.a.b 2",
            "foo.a.b 4",
            "foo.public 1",
            "foo.public 2",
            "foo.public 3",
            "foo.public 4"
        ],
        "{lines:?}"
    );
}

/// A queue member that may not receive a subject is skipped: the message
/// goes to a member that may (reliability-cases.md 1.1), none is lost.
#[test]
fn queue_member_denied_subject_is_skipped_not_lost() {
    let dir = ConfDir::new("perm-queue");
    let server = start_users(
        &dir,
        &[(
            "limited",
            "{subscribe: {allow: \">\", deny: \"jobs.secret\"}}",
        )],
    );
    let mut limited = server.client(&login("limited"));
    let mut full = server.client(&login("admin"));
    limited.send("SUB jobs.* workers 1\r\n");
    full.send("SUB jobs.* workers 1\r\n");
    assert!(limited.flush().is_empty());
    full.flush();
    let mut publisher = server.client(&login("admin"));
    for _ in 0..40 {
        publisher.send("PUB jobs.secret 1\r\ns\r\nPUB jobs.open 1\r\no\r\n");
    }
    publisher.flush();
    let to_limited = msg_subjects(&limited.flush());
    let to_full = msg_subjects(&full.flush());
    assert!(
        to_limited.iter().all(|s| s == "jobs.open"),
        "limited member got {to_limited:?}"
    );
    let secrets = to_full.iter().filter(|s| *s == "jobs.secret").count();
    assert_eq!(secrets, 40, "every jobs.secret to the full member");
    assert_eq!(
        to_limited.len() + to_full.len(),
        80,
        "each message exactly once"
    );
}

/// Subscribe permissions scoped to a queue group (`"subject queue"`
/// entries): an allow names the only queue that may subscribe; a deny
/// names the queue that may not.
#[test]
fn queue_scoped_subscribe_permissions() {
    let dir = ConfDir::new("perm-queue-scoped");
    let server = start_users(
        &dir,
        &[(
            "u",
            "{subscribe: {allow: [\"foo q1\", \"bar\", \"bar q1\", \"bar q2\"], deny: [\"bar q2\"]}}",
        )],
    );
    let mut c = server.client(&login("u"));
    c.send("SUB foo q1 1\r\n");
    assert!(c.flush().is_empty(), "foo q1 allowed");
    c.send("SUB foo q2 2\r\n");
    assert_eq!(c.flush(), [queue_violation("foo", "q2")]);
    c.send("SUB foo 3\r\n");
    assert_eq!(c.flush(), [sub_violation("foo")]);
    c.send("SUB bar 4\r\nSUB bar q1 5\r\n");
    assert!(c.flush().is_empty(), "bar and bar q1 allowed");
    c.send("SUB bar q2 6\r\n");
    assert_eq!(c.flush(), [queue_violation("bar", "q2")]);
}

/// A wildcard deny that overlaps an allowed wildcard SUB without being a
/// subset of it (secnote-2026-17): `SUB foo.>` with deny `*.secret` must
/// not deliver `foo.secret`. nats-server 2.9.10 still delivers it: this is
/// one of the places nats-lite must do better than the reference.
#[test]
fn wildcard_deny_overlapping_without_subset_is_filtered() {
    if skip_under_reference("nats-server 2.9.10 delivers foo.secret (secnote-2026-17)") {
        return;
    }
    let dir = ConfDir::new("perm-overlap-wild");
    let server = start_users(
        &dir,
        &[("u", "{subscribe: {allow: \">\", deny: \"*.secret\"}}")],
    );
    let mut c = server.client(&login("u"));
    c.send("SUB foo.> 1\r\nSUB foo.* q 2\r\n");
    assert!(c.flush().is_empty());
    let mut admin = server.client(&login("admin"));
    admin.send("PUB foo.secret 1\r\nx\r\nPUB foo.open 1\r\ny\r\n");
    admin.flush();
    let lines = c.flush();
    assert_eq!(msg_subjects(&lines), ["foo.open", "foo.open"], "{lines:?}");
}

/// Z03: a responder without publish permission on `_INBOX.>` answers a
/// request: it gets the violation and stays open; the requester gets
/// nothing.
#[test]
fn z03_responder_without_inbox_permission() {
    let dir = ConfDir::new("z03");
    let server = start_users(
        &dir,
        &[
            ("requester", "{publish: \"req.*\", subscribe: \"_INBOX.>\"}"),
            ("responder", "{subscribe: \"req.*\", publish: \"status.>\"}"),
        ],
    );
    let mut responder = server.client(&login("responder"));
    responder.send("SUB req.* 1\r\n");
    assert!(responder.flush().is_empty());
    let mut requester = server.client(&login("requester"));
    requester.send("SUB _INBOX.abc.1 7\r\nPUB req.time _INBOX.abc.1 1\r\n?\r\n");
    assert!(requester.flush().is_empty());
    let (line, payload) = responder.read_msg();
    assert_eq!(line, "MSG req.time 1 _INBOX.abc.1 1");
    assert_eq!(payload, b"?");
    responder.send("PUB _INBOX.abc.1 5\r\nnoon!\r\n");
    assert_eq!(responder.flush(), [pub_violation("_INBOX.abc.1")]);
    assert!(
        requester.flush().is_empty(),
        "requester got a reply the responder may not send"
    );
    // Still open and allowed where it may publish.
    responder.send("PUB status.ok 1\r\n1\r\n");
    assert!(responder.flush().is_empty());
}

/// `allow_responses: true`: a user may publish exactly one reply to each
/// request it received, and nothing else; `{max: 2}` allows two.
#[test]
fn allow_responses_lets_a_responder_reply() {
    let dir = ConfDir::new("perm-responses");
    let server = start_users(
        &dir,
        &[
            ("once", "{subscribe: \"svc1\", allow_responses: true}"),
            ("twice", "{subscribe: \"svc2\", allow_responses: {max: 2}}"),
        ],
    );
    let mut requester = server.client(&login("admin"));
    requester.send("SUB reply.> 1\r\n");
    requester.flush();
    for (user, service, max) in [("once", "svc1", 1), ("twice", "svc2", 2)] {
        let mut r = server.client(&login(user));
        r.send(format!("SUB {service} 1\r\n"));
        assert!(r.flush().is_empty());
        let inbox = format!("reply.{user}");
        requester.send(format!("PUB {service} {inbox} 1\r\n?\r\n"));
        requester.flush();
        let (line, _) = r.read_msg();
        assert_eq!(line, format!("MSG {service} 1 {inbox} 1"));
        for _ in 0..max {
            assert!(publish(&mut r, &inbox).is_empty(), "{user}: reply");
        }
        assert_eq!(publish(&mut r, &inbox), [pub_violation(&inbox)], "{user}");
        assert_eq!(
            publish(&mut r, "reply.other"),
            [pub_violation("reply.other")],
            "{user}"
        );
        let got = msg_subjects(&requester.flush());
        assert_eq!(got, vec![inbox.clone(); max], "{user}");
    }
}
