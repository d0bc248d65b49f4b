//! Client authentication from a config file (anchors.md 1.2 "Single
//! auth", "Multi-user", "bcrypt passwords", `no_auth_user`, accounts;
//! reliability-cases.md A01, A04, A08): tokens and users, plain and
//! bcrypt, accounts as separate subject spaces, and the auth timeout.
//! (The flag-based variants of A01/A04/A08 are in server_errors.rs.)

use std::io::Write;
use std::time::{Duration, Instant};

use crate::config_support::{start_with_conf, ConfDir};
use crate::util::{RawClient, ServerProcess, IO_TIMEOUT};

const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'";
const AUTH_TIMEOUT: &str = "-ERR 'Authentication Timeout'";

/// CONNECT options for a user and password, verbose off.
fn user_pass(user: &str, pass: &str) -> String {
    serde_json::json!({"verbose": false, "user": user, "pass": pass}).to_string()
}

/// CONNECT options for a token, verbose off.
fn token(t: &str) -> String {
    serde_json::json!({"verbose": false, "auth_token": t}).to_string()
}

/// A bcrypt hash (`$2a$`, cost 4 to keep tests fast).
fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA)
}

/// `CONNECT {opts}` must be refused with `Authorization Violation` + close.
fn assert_refused(server: &ServerProcess, opts: &str) {
    let mut c = server.connect();
    assert_eq!(c.read_info()["auth_required"], true);
    c.send(format!("CONNECT {opts}\r\nPING\r\n"));
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "{opts}: got {lines:?}, closed={closed}"
    );
}

/// `CONNECT {opts}` must work: PING gets PONG, and the connection can
/// publish to and receive from `subject`.
fn assert_accepted(server: &ServerProcess, opts: &str, subject: &str) -> RawClient {
    let mut c = server.client(opts);
    c.send(format!("SUB {subject} 1\r\nPUB {subject} 2\r\nok\r\n"));
    assert_eq!(
        c.flush(),
        [format!("MSG {subject} 1 2"), "ok".to_string()],
        "{opts}"
    );
    c
}

#[test]
fn token_from_config() {
    let dir = ConfDir::new("auth-token");
    let server = start_with_conf(&dir, "authorization { token: \"s3cr3t!\" }\n", &[]);
    assert_accepted(&server, &token("s3cr3t!"), "t");
    for bad in [
        token("s3cr3t"),
        token(""),
        user_pass("s3cr3t!", "s3cr3t!"),
        r#"{"verbose":false}"#.to_string(),
    ] {
        assert_refused(&server, &bad);
    }
}

/// A token stored as a bcrypt hash is checked with bcrypt; the hash string
/// itself is not a valid token.
#[test]
fn bcrypt_token_from_config() {
    let dir = ConfDir::new("auth-token-bcrypt");
    let hash = bcrypt_hash("s3cr3t!");
    let server = start_with_conf(
        &dir,
        &format!("authorization {{ token: \"{hash}\" }}\n"),
        &[],
    );
    assert_accepted(&server, &token("s3cr3t!"), "t");
    assert_refused(&server, &token(&hash));
    assert_refused(&server, &token("s3cr3t"));
}

/// Each user of a `users` list has its own password; unknown users and
/// other users' passwords are refused.
#[test]
fn multi_user_passwords_are_per_user() {
    let dir = ConfDir::new("auth-users");
    let server = start_with_conf(
        &dir,
        "authorization {\n  users = [\n    {user: alice, password: foo}\n    {user: bob, password: bar}\n  ]\n}\n",
        &[],
    );
    assert_accepted(&server, &user_pass("alice", "foo"), "a");
    assert_accepted(&server, &user_pass("bob", "bar"), "b");
    for (user, pass) in [
        ("alice", "bar"),
        ("bob", "foo"),
        ("carol", "foo"),
        ("alice", ""),
        ("", "foo"),
        ("Alice", "foo"),
        ("alice", "foo "),
    ] {
        assert_refused(&server, &user_pass(user, pass));
    }
    assert_refused(&server, r#"{"verbose":false,"user":"alice"}"#);
    assert_refused(&server, &token("foo"));
}

/// TestBadBcryptPassword: with bcrypt-hashed passwords the right password
/// works, and the hash itself (or a prefix of the password) does not.
#[test]
fn bcrypt_users_hash_itself_is_not_the_password() {
    let dir = ConfDir::new("auth-bcrypt");
    let alice = bcrypt_hash("alice-pw");
    let bob = bcrypt_hash("bob-pw");
    let server = start_with_conf(
        &dir,
        &format!(
            "authorization {{\n  users = [\n    {{user: alice, password: \"{alice}\"}}\n    {{user: bob, password: \"{bob}\"}}\n  ]\n}}\n"
        ),
        &[],
    );
    assert_accepted(&server, &user_pass("alice", "alice-pw"), "a");
    assert_accepted(&server, &user_pass("bob", "bob-pw"), "b");
    assert_refused(&server, &user_pass("alice", &alice));
    assert_refused(&server, &user_pass("alice", "alice-p"));
    assert_refused(&server, &user_pass("alice", "bob-pw"));
    assert_refused(&server, &user_pass("bob", &bob));
}

/// A01 for each config auth mode: any op before CONNECT is `Authorization
/// Violation` + close, and an unauthenticated PUB reaches nobody.
#[test]
fn a01_ops_before_connect_each_config_auth_mode() {
    let dir = ConfDir::new("a01");
    let hash = bcrypt_hash("p");
    for (conf, good) in [
        ("authorization { token: t0k }\n".to_string(), token("t0k")),
        (
            "authorization { user: u, password: p }\n".to_string(),
            user_pass("u", "p"),
        ),
        (
            format!("authorization {{ users: [ {{user: u, password: \"{hash}\"}} ] }}\n"),
            user_pass("u", "p"),
        ),
        (
            "accounts { A: { users: [ {user: u, password: p} ] } }\n".to_string(),
            user_pass("u", "p"),
        ),
    ] {
        let server = start_with_conf(&dir, &conf, &[]);
        let mut watcher = server.client(&good);
        watcher.send("SUB > 1\r\n");
        watcher.flush();
        for op in [
            "PING\r\n",
            "SUB foo 1\r\n",
            "PUB foo 2\r\nhi\r\n",
            "UNSUB 1\r\n",
        ] {
            let mut c = server.connect();
            assert_eq!(c.read_info()["auth_required"], true, "{conf}");
            c.send(op);
            let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
            assert!(
                lines == [AUTH_VIOLATION] && closed,
                "{conf}{op:?}: got {lines:?}, closed={closed}"
            );
        }
        let got = watcher.flush();
        assert!(
            got.is_empty(),
            "{conf}: unauthenticated PUB delivered: {got:?}"
        );
    }
}

/// A04 with credentials from the config: mixed credentials (token plus
/// user/pass) and a second CONNECT as another user with a wrong password
/// are refused.
#[test]
fn a04_mixed_and_changed_credentials() {
    let dir = ConfDir::new("a04");
    let server = start_with_conf(
        &dir,
        "authorization { users: [ {user: a, password: pa}, {user: b, password: pb} ] }\n",
        &[],
    );
    assert_refused(
        &server,
        r#"{"verbose":false,"user":"a","pass":"pb","auth_token":"pa"}"#,
    );
    assert_refused(&server, r#"{"verbose":false,"user":"a","pass":null}"#);
    let mut c = server.client(&user_pass("a", "pa"));
    c.send(format!("CONNECT {}\r\n", user_pass("b", "pa")));
    c.expect_err_and_close(AUTH_VIOLATION, false);
}

/// A08: a CONNECT trickled in a byte at a time does not extend the auth
/// timeout (1 s): the server closes with `Authentication Timeout` at about
/// 1 s, while the trickle is still going. (A byte that reaches the closed
/// socket makes it answer with a reset; the `-ERR` already sent stays
/// readable on Linux, and a reset counts as closed.)
#[test]
fn a08_trickled_connect_does_not_extend_timeout() {
    let dir = ConfDir::new("a08-trickle");
    let server = start_with_conf(
        &dir,
        "authorization { user: u, password: p, timeout: 1 }\n",
        &[],
    );
    let mut c = server.connect();
    let started = Instant::now();
    c.read_info();
    let mut writer = c.stream.try_clone().unwrap();
    // A valid CONNECT, one byte every 100 ms: it would be complete only
    // after about 3 s, so a timer that a trickle extends would close late
    // (or never), and one that it does not closes at 1 s, mid-trickle.
    let connect = br#"CONNECT {"user":"u","pass":"p"}"#.to_vec();
    let trickler = std::thread::spawn(move || {
        for b in connect {
            if writer.write_all(&[b]).is_err() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    });
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    let took = started.elapsed();
    let trickled_it_all = trickler.join().unwrap();
    assert!(
        lines == [AUTH_TIMEOUT] && closed,
        "got {lines:?}, closed={closed}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "closed after {took:?}, want about 1s"
    );
    assert!(
        !trickled_it_all,
        "the connection stayed open for the whole trickled CONNECT"
    );
}

/// A08: a fractional `timeout` (seconds) is honoured.
#[test]
fn a08_fractional_auth_timeout() {
    let dir = ConfDir::new("a08-frac");
    let server = start_with_conf(&dir, "authorization { token: t, timeout: 0.5 }\n", &[]);
    let mut c = server.connect();
    let started = Instant::now();
    c.read_info();
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    let took = started.elapsed();
    assert!(
        lines == [AUTH_TIMEOUT] && closed,
        "got {lines:?}, closed={closed}"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1500),
        "closed after {took:?}, want about 0.5s"
    );
}

/// Each account is its own subject space: a message published in one is
/// never delivered in another; users of one account see each other.
#[test]
fn accounts_isolate_subjects() {
    let dir = ConfDir::new("accounts");
    let server = start_with_conf(
        &dir,
        "accounts {\n  A: { users: [ {user: a1, password: p}, {user: a2, password: p} ] }\n  B: { users: [ {user: b1, password: p} ] }\n}\n",
        &[],
    );
    let mut a1 = server.client(&user_pass("a1", "p"));
    let mut a2 = server.client(&user_pass("a2", "p"));
    let mut b1 = server.client(&user_pass("b1", "p"));
    for c in [&mut a1, &mut b1] {
        c.send("SUB shared.> 1\r\n");
        c.flush();
    }
    b1.send("PUB shared.x 5\r\nfromB\r\n");
    assert_eq!(b1.flush(), ["MSG shared.x 1 5", "fromB"]);
    a2.send("PUB shared.y 5\r\nfromA\r\n");
    a2.flush();
    assert_eq!(a1.flush(), ["MSG shared.y 1 5", "fromA"]);
    // Request/reply stays inside the account too.
    b1.send("SUB svc 2\r\n");
    b1.flush();
    a2.send("SUB _INBOX.r 3\r\nPUB svc _INBOX.r 1\r\n?\r\n");
    assert!(a2.flush().is_empty());
    assert!(b1.flush().is_empty());
}

/// `no_auth_user`: a client without credentials (or without CONNECT at
/// all) acts as that user, with its permissions; other users still log in
/// with their own credentials, and wrong credentials are still refused.
#[test]
fn no_auth_user_for_clients_without_credentials() {
    let dir = ConfDir::new("no-auth-user");
    let server = start_with_conf(
        &dir,
        "authorization {\n  users = [\n    {user: admin, password: secret}\n    {user: guest, password: guest, permissions: {publish: \"public.>\", subscribe: \"public.>\"}}\n  ]\n}\nno_auth_user: guest\n",
        &[],
    );
    let mut admin = server.client(&user_pass("admin", "secret"));
    admin.send("SUB > 1\r\n");
    admin.flush();

    // No CONNECT at all: the telnet case.
    let mut telnet = server.connect();
    let info = telnet.read_info();
    assert_ne!(info["auth_required"], true, "{info}");
    telnet.send("PUB public.a 1\r\nx\r\n");
    telnet.send("PUB private 1\r\ny\r\n");
    // No CONNECT: the default options hold, so verbose (+OK).
    assert_eq!(
        telnet.flush(),
        [
            "+OK",
            "-ERR 'Permissions Violation for Publish to \"private\"'"
        ]
    );
    // CONNECT without credentials: guest too.
    let mut anon = server.client(r#"{"verbose":false}"#);
    anon.send("SUB private 1\r\n");
    assert_eq!(
        anon.flush(),
        ["-ERR 'Permissions Violation for Subscription to \"private\"'"]
    );
    assert_eq!(admin.flush(), ["MSG public.a 1 1", "x"]);
    // Real credentials give the real user.
    admin.send("PUB private 1\r\nz\r\n");
    assert_eq!(admin.flush(), ["MSG private 1 1", "z"]);
    // Wrong credentials are refused rather than downgraded to guest.
    let mut bad = server.connect();
    bad.read_info();
    bad.send(format!("CONNECT {}\r\n", user_pass("admin", "wrong")));
    let (lines, closed) = bad.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "got {lines:?}, closed={closed}"
    );
}

/// No auth configured: INFO does not say `auth_required`, and any
/// credentials are accepted.
#[test]
fn no_auth_configured_accepts_any_credentials() {
    let server = ServerProcess::start_selected(&[]);
    let mut c = server.connect();
    let info = c.read_info();
    assert!(info.get("auth_required").is_none(), "{info}");
    drop(c);
    assert_accepted(&server, &user_pass("anyone", "anything"), "x");
    assert_accepted(&server, &token("whatever"), "y");
}

/// A08: the auth timeout covers the wait for CONNECT, not the credential
/// check: nats-server stops the timer as soon as CONNECT arrives, so a
/// bcrypt check slower than the timeout (cost 12, 0.25 s timeout) still
/// ends in PONG, not `Authentication Timeout`.
#[test]
fn a08_slow_bcrypt_check_is_not_a_timeout() {
    // bcrypt of "slowpw", cost 12 (about 0.6 s in nats-server here).
    const HASH: &str = "$2a$12$pv/31PVS7NUeKUQy3PBDteLZWo0xiMMgnzxseXOrIMU9YP1DJcoy.";
    let dir = ConfDir::new("a08-slow-bcrypt");
    let server = start_with_conf(
        &dir,
        &format!(
            "authorization {{ users: [ {{user: s, password: \"{HASH}\"}} ], timeout: 0.25 }}\n"
        ),
        &[],
    );
    let mut c = server.connect();
    c.read_info();
    c.send(format!("CONNECT {}\r\nPING\r\n", user_pass("s", "slowpw")));
    let line = c
        .try_read_line(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("no answer: {e}"));
    assert_eq!(line, "PONG");
}

/// `no_auth_user`, no CONNECT: a PUB is routed before the publisher's
/// PONG, like any other (a subscriber's PING after that PONG finds the
/// message already there). Repeated, as a late delivery is intermittent.
#[test]
fn no_auth_user_pub_without_connect_delivered_before_pong() {
    let dir = ConfDir::new("no-auth-user-order");
    let server = start_with_conf(
        &dir,
        "authorization {\n  users = [\n    {user: admin, password: secret}\n    {user: guest, password: guest}\n  ]\n}\nno_auth_user: guest\n",
        &[],
    );
    let mut admin = server.client(&user_pass("admin", "secret"));
    admin.send("SUB order.> 1\r\n");
    admin.flush();
    for i in 0..50 {
        let mut telnet = server.connect();
        telnet.read_info();
        telnet.send(format!("PUB order.{i} 1\r\nx\r\n"));
        assert_eq!(telnet.flush(), ["+OK"]);
        assert_eq!(
            admin.flush(),
            [format!("MSG order.{i} 1 1"), "x".to_string()],
            "round {i}"
        );
    }
}
