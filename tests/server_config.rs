//! Configuration files (anchors.md 1.1 `-c`/`-t`, 1.2): every seed
//! configuration of the classic NATS documentation (tests/data/seed-configs)
//! starts and behaves as its comments say, with its file paths rewritten to a
//! temporary directory (certificates from rcgen) and its ports to free ones;
//! the cluster seeds, which cannot run yet, pass `-t`. Plus `-t` exit codes,
//! errors as `file:line:col: message`, flags over the file, JSON files,
//! `include`, variables and size suffixes.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use rcgen::DnType;

use crate::config_support::{
    output_text, rewrite, run_lite, run_selected, seed, selected_command, start_with_conf, ConfDir,
};
use crate::tls_support::{python_tls_probe, tls_session, ClientSpec, Pki, PyTls, TlsClient};
use crate::util::{is_reference, skip_under_reference, RawClient, ServerProcess, IO_TIMEOUT};

const QUIET: &str = r#"{"verbose":false}"#;
const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'";
const AUTH_TIMEOUT: &str = "-ERR 'Authentication Timeout'";
const TLS_REQUIRED: &str = "-ERR 'Secure Connection - TLS Required'";
const DEREK_HASH: &str = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG";
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

fn user_pass(user: &str, pass: &str) -> String {
    serde_json::json!({"verbose": false, "user": user, "pass": pass}).to_string()
}

/// Start the selected server with `conf` written to `dir` and given as
/// `-c FILE`, without the harness's `-a`/`-p` (the config sets them).
fn start_bare(dir: &ConfDir, conf: &str, extra: &[&str]) -> ServerProcess {
    let file = dir.write("server.conf", conf);
    let mut args = vec!["-c", file.as_str()];
    args.extend_from_slice(extra);
    ServerProcess::start_selected_bare(&args)
}

/// `CONNECT {opts}` then PING must be refused with `Authorization
/// Violation` + close.
fn assert_login_refused(server: &ServerProcess, opts: &str) {
    let mut c = server.connect();
    c.read_info();
    c.send(format!("CONNECT {opts}\r\nPING\r\n"));
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "{opts}: got {lines:?}, closed={closed}"
    );
}

/// The same over TLS.
fn assert_tls_login_refused(server: &ServerProcess, pki: &Pki, opts: &str) {
    let mut c = TlsClient::connect(server.addr, pki.client_config(None, false)).unwrap();
    c.send(format!("CONNECT {opts}\r\nPING\r\n"));
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "{opts}: got {lines:?}, closed={closed}"
    );
}

/// A plain-text client on a TLS-only port is closed; nats-lite says
/// `Secure Connection - TLS Required` first (nats-server 2.9.10 says
/// nothing).
fn assert_plaintext_refused(server: &ServerProcess) {
    let mut c = server.connect();
    assert_eq!(c.read_info()["tls_required"], true);
    c.send("CONNECT {}\r\nPING\r\n");
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    let ok = if is_reference() {
        lines.is_empty() || lines == [TLS_REQUIRED]
    } else {
        lines == [TLS_REQUIRED]
    };
    assert!(ok && closed, "got {lines:?}, closed={closed}");
}

/// `tls_session` must fail (handshake, or no PONG after it).
fn assert_tls_refused(result: Result<TlsClient, String>, what: &str) {
    if let Ok(c) = result {
        panic!("{what}: session worked, want it refused; info {}", c.info);
    }
}

// ---- seeds ----

/// tutorial-1-basic.conf: clients on 127.0.0.1 only (port made free).
#[test]
fn seed_tutorial_1_basic() {
    let dir = ConfDir::new("seed-t1");
    let conf = rewrite(
        &seed("tutorial-1-basic.conf"),
        &[("port: 4222", "port: -1")],
    );
    let server = start_bare(&dir, &conf, &[]);
    assert_eq!(server.addr.ip().to_string(), "127.0.0.1", "{}", server.addr);
    let mut c = server.client("{}");
    assert!(c.flush().is_empty());
}

/// tutorial-2-tls.conf: TLS required; plain text refused; the 1 s TLS
/// timeout closes a client that never starts the handshake.
#[test]
fn seed_tutorial_2_tls() {
    let dir = ConfDir::new("seed-t2");
    let pki = Pki::new(dir.path(), "t");
    let conf = rewrite(
        &seed("tutorial-2-tls.conf"),
        &[
            ("port: 4222", "port: -1"),
            ("/srv/nats/priv/gnatsd.crt", &pki.cert()),
            ("/srv/nats/priv/gnatsd.key", &pki.key()),
        ],
    );
    let server = start_bare(&dir, &conf, &[]);
    let mut c = tls_session(server.addr, pki.client_config(None, false), QUIET).unwrap();
    assert_eq!(c.info["tls_required"], true);
    c.send("SUB a 1\r\nPUB a 1\r\nx\r\n");
    assert_eq!(c.flush(), ["MSG a 1 1", "x"]);
    assert_plaintext_refused(&server);
    let mut idle = server.connect();
    let started = Instant::now();
    idle.read_info();
    let (_, closed) = idle.read_until_closed(IO_TIMEOUT);
    let took = started.elapsed();
    assert!(closed, "idle plain connection not closed");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "closed after {took:?}, want about 1s"
    );
}

/// tutorial-3-auth.conf: TLS plus user1/pass1; without credentials
/// `Authorization Violation`; with them and verbose on, `+OK` then PONG.
#[test]
fn seed_tutorial_3_auth() {
    let dir = ConfDir::new("seed-t3");
    let pki = Pki::new(dir.path(), "t");
    let conf = rewrite(
        &seed("tutorial-3-auth.conf"),
        &[
            ("port: 4222", "port: -1"),
            ("/srv/nats/priv/gnatsd.crt", &pki.cert()),
            ("/srv/nats/priv/gnatsd.key", &pki.key()),
        ],
    );
    let server = start_bare(&dir, &conf, &[]);
    assert_tls_login_refused(&server, &pki, r#"{"verbose":true}"#);
    assert_tls_login_refused(
        &server,
        &pki,
        r#"{"verbose":true,"user":"user1","pass":"x"}"#,
    );
    let mut c = TlsClient::connect(server.addr, pki.client_config(None, false)).unwrap();
    assert_eq!(c.info["auth_required"], true, "{}", c.info);
    assert_eq!(c.info["tls_required"], true, "{}", c.info);
    c.send("CONNECT {\"verbose\":true,\"user\":\"user1\",\"pass\":\"pass1\"}\r\nPING\r\n");
    assert_eq!(c.read_line(), "+OK");
    assert_eq!(c.read_line(), "PONG");
    assert_plaintext_refused(&server);
}

/// single-user.conf: only derek / T0pS3cr3t; unauthenticated connections
/// are closed after 1 second.
#[test]
fn seed_single_user() {
    let dir = ConfDir::new("seed-single");
    let server = start_with_conf(&dir, &seed("single-user.conf"), &[]);
    let mut c = server.client(&user_pass("derek", "T0pS3cr3t"));
    c.send("SUB s 1\r\nPUB s 1\r\nx\r\n");
    assert_eq!(c.flush(), ["MSG s 1 1", "x"]);
    for (u, p) in [
        ("derek", "t0ps3cr3t"),
        ("derek", ""),
        ("alice", "T0pS3cr3t"),
    ] {
        assert_login_refused(&server, &user_pass(u, p));
    }
    let mut idle = server.connect();
    let started = Instant::now();
    idle.read_info();
    let (lines, closed) = idle.read_until_closed(IO_TIMEOUT);
    let took = started.elapsed();
    assert!(
        lines == [AUTH_TIMEOUT] && closed,
        "got {lines:?}, closed={closed}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "closed after {took:?}, want about 1s"
    );
}

/// multi-user.conf and variables.conf: alice/foo, bob/bar and joe with the
/// password from the block-scoped PASS variable.
fn check_three_users(name: &str) {
    let dir = ConfDir::new("seed-users");
    let server = start_with_conf(&dir, &seed(name), &[]);
    for (u, p) in [
        ("alice", "foo"),
        ("bob", "bar"),
        ("joe", "abcdefghijklmnopqrstuvwxyz0123456789"),
    ] {
        let mut c = server.client(&user_pass(u, p));
        assert!(c.flush().is_empty(), "{name}: {u}");
    }
    for (u, p) in [
        ("alice", "bar"),
        ("bob", "foo"),
        ("joe", "$PASS"),
        ("joe", "PASS"),
        ("PASS", "abcdefghijklmnopqrstuvwxyz0123456789"),
    ] {
        assert_login_refused(&server, &user_pass(u, p));
    }
}

#[test]
fn seed_multi_user() {
    check_three_users("multi-user.conf");
}

#[test]
fn seed_variables() {
    check_three_users("variables.conf");
}

/// variables.conf: PASS is scoped to the authorization block, so a
/// reference to it at the top level is an error (when no PASS environment
/// variable stands in).
#[test]
fn seed_variables_are_block_scoped() {
    let dir = ConfDir::new("seed-vars-scope");
    let file = dir.write(
        "server.conf",
        &format!("{}\nserver_name: $PASS\n", seed("variables.conf")),
    );
    let mut cmd = selected_command();
    cmd.args(["-t", "-c", &file]).env_remove("PASS");
    let out = crate::config_support::run_with_deadline(cmd, CHECK_TIMEOUT);
    assert!(!out.status.success(), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PASS"), "{}", output_text(&out));
}

/// bcrypt.conf: derek's password is T0pS3cr3t, stored as a bcrypt hash;
/// the hash itself is not accepted.
#[test]
fn seed_bcrypt() {
    let dir = ConfDir::new("seed-bcrypt");
    let server = start_with_conf(&dir, &seed("bcrypt.conf"), &[]);
    let mut c = server.client(&user_pass("derek", "T0pS3cr3t"));
    assert!(c.flush().is_empty());
    assert_login_refused(&server, &user_pass("derek", DEREK_HASH));
    assert_login_refused(&server, &user_pass("derek", "T0pS3cr3"));
}

fn pub_violation(subject: &str) -> String {
    format!("-ERR 'Permissions Violation for Publish to \"{subject}\"'")
}

fn sub_violation(subject: &str) -> String {
    format!("-ERR 'Permissions Violation for Subscription to \"{subject}\"'")
}

/// Expect `ops` on `c` to produce exactly `want` before the PONG.
fn expect_after(c: &mut RawClient, ops: &str, want: &[String], who: &str) {
    c.send(ops);
    assert_eq!(c.flush(), want, "{who}: {ops:?}");
}

/// permissions.conf: joe may do anything; alice publishes requests and
/// reads replies; bob answers them; charlie gets DEFAULT_PERMISSIONS.
#[test]
fn seed_permissions() {
    let dir = ConfDir::new("seed-perms");
    let server = start_with_conf(&dir, &seed("permissions.conf"), &[]);
    let bob_pass = "abcdefghijklmnopqrstuvwxwz0123456789";
    let mut joe = server.client(&user_pass("joe", "foo"));
    let mut alice = server.client(&user_pass("alice", "bar"));
    let mut bob = server.client(&user_pass("bob", bob_pass));
    let mut charlie = server.client(&user_pass("charlie", "bar"));

    expect_after(
        &mut joe,
        "SUB > 1\r\nPUB anything.at.all 1\r\nx\r\n",
        &["MSG anything.at.all 1 1".into(), "x".into()],
        "joe",
    );

    // alice: publish req.foo / req.bar, subscribe _INBOX.>
    expect_after(
        &mut alice,
        "PUB req.baz 1\r\nx\r\n",
        &[pub_violation("req.baz")],
        "alice",
    );
    expect_after(
        &mut alice,
        "SUB req.foo 1\r\n",
        &[sub_violation("req.foo")],
        "alice",
    );
    // bob: subscribe req.foo / req.bar, publish _INBOX.>
    expect_after(&mut bob, "SUB req.foo 1\r\nSUB req.bar 2\r\n", &[], "bob");
    expect_after(
        &mut bob,
        "SUB other 3\r\n",
        &[sub_violation("other")],
        "bob",
    );
    expect_after(
        &mut bob,
        "PUB req.foo 1\r\nx\r\n",
        &[pub_violation("req.foo")],
        "bob",
    );
    // A request from alice, answered by bob.
    expect_after(
        &mut alice,
        "SUB _INBOX.alice.1 9\r\nPUB req.foo _INBOX.alice.1 4\r\nping\r\n",
        &[],
        "alice",
    );
    let (line, payload) = bob.read_msg();
    assert_eq!(line, "MSG req.foo 1 _INBOX.alice.1 4");
    assert_eq!(payload, b"ping");
    expect_after(&mut bob, "PUB _INBOX.alice.1 4\r\npong\r\n", &[], "bob");
    assert_eq!(alice.flush(), ["MSG _INBOX.alice.1 9 4", "pong"]);

    // charlie: publish SANDBOX.*, subscribe PUBLIC.> and _INBOX.>
    expect_after(
        &mut charlie,
        "SUB PUBLIC.> 1\r\nSUB _INBOX.> 2\r\nPUB SANDBOX.x 1\r\nx\r\n",
        &[],
        "charlie",
    );
    expect_after(
        &mut charlie,
        "PUB req.foo 1\r\nx\r\n",
        &[pub_violation("req.foo")],
        "charlie",
    );
    expect_after(
        &mut charlie,
        "PUB SANDBOX.x.y 1\r\nx\r\n",
        &[pub_violation("SANDBOX.x.y")],
        "charlie",
    );
    expect_after(
        &mut charlie,
        "SUB req.foo 3\r\n",
        &[sub_violation("req.foo")],
        "charlie",
    );
    let seen: Vec<String> = joe
        .flush()
        .into_iter()
        .filter(|l| l.starts_with("MSG "))
        .collect();
    assert_eq!(
        seen,
        [
            "MSG req.foo 1 _INBOX.alice.1 4",
            "MSG _INBOX.alice.1 1 4",
            "MSG SANDBOX.x 1 1"
        ],
        "joe sees only what was allowed"
    );
}

/// tls-simple.conf: TLS on 127.0.0.1 (port made free), derek by bcrypt.
#[test]
fn seed_tls_simple() {
    let dir = ConfDir::new("seed-tls-simple");
    let pki = Pki::new(dir.path(), "t");
    let conf = rewrite(
        &seed("tls-simple.conf"),
        &[
            ("listen: 127.0.0.1:4443", "listen: 127.0.0.1:-1"),
            ("./configs/certs/server-cert.pem", &pki.cert()),
            ("./configs/certs/server-key.pem", &pki.key()),
        ],
    );
    let server = start_bare(&dir, &conf, &[]);
    assert_eq!(server.addr.ip().to_string(), "127.0.0.1");
    let mut c = tls_session(
        server.addr,
        pki.client_config(None, false),
        &user_pass("derek", "T0pS3cr3t"),
    )
    .unwrap();
    assert_eq!(c.info["tls_required"], true);
    assert_eq!(c.info["auth_required"], true);
    assert!(c.flush().is_empty());
    assert_tls_login_refused(&server, &pki, &user_pass("derek", DEREK_HASH));
    assert_plaintext_refused(&server);
}

/// tls-ciphers.conf: only the two listed suites are offered: a TLS 1.2
/// client offering only unlisted suites fails, one offering a listed suite
/// works.
#[test]
fn seed_tls_ciphers() {
    let dir = ConfDir::new("seed-tls-ciphers");
    let pki = Pki::new(dir.path(), "t");
    let conf = rewrite(
        &seed("tls-ciphers.conf"),
        &[
            ("./configs/certs/server.pem", &pki.cert()),
            ("./configs/certs/key.pem", &pki.key()),
        ],
    );
    let server = start_with_conf(&dir, &conf, &[]);
    for unlisted in [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES256-SHA",
    ] {
        let got = python_tls_probe(
            server.addr,
            &PyTls {
                max_version: Some("TLSv1_2"),
                ciphers: Some(unlisted),
                ..Default::default()
            },
        );
        assert!(got.starts_with("FAIL "), "{unlisted}: {got}");
    }
    let got = python_tls_probe(
        server.addr,
        &PyTls {
            max_version: Some("TLSv1_2"),
            ciphers: Some("ECDHE-ECDSA-AES256-GCM-SHA384"),
            ..Default::default()
        },
    );
    assert!(
        got.starts_with("OK TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"),
        "{got}"
    );
    // A client offering everything (rustls, TLS 1.2 only) gets a listed suite.
    let c = tls_session(server.addr, pki.client_config(None, true), QUIET).unwrap();
    assert_eq!(c.version(), Some(rustls::ProtocolVersion::TLSv1_2));
}

/// tls-verify.conf: clients must present a certificate signed by ca.pem.
#[test]
fn seed_tls_verify() {
    let dir = ConfDir::new("seed-tls-verify");
    let pki = Pki::new(dir.path(), "t");
    let other = Pki::new(dir.path(), "other");
    let conf = rewrite(
        &seed("tls-verify.conf"),
        &[
            ("./configs/certs/server-cert.pem", &pki.cert()),
            ("./configs/certs/server-key.pem", &pki.key()),
            ("./configs/certs/ca.pem", &pki.ca()),
        ],
    );
    let server = start_with_conf(&dir, &conf, &[]);
    assert_tls_refused(
        tls_session(server.addr, pki.client_config(None, false), QUIET),
        "no client certificate",
    );
    let foreign = other.client("foreign");
    assert_tls_refused(
        tls_session(server.addr, pki.client_config(Some(&foreign), false), QUIET),
        "certificate from another CA",
    );
    let good = pki.client("good");
    let c = tls_session(server.addr, pki.client_config(Some(&good), false), QUIET).unwrap();
    assert_eq!(c.info["tls_verify"], true, "{}", c.info);
}

/// tls-verify-and-map.conf: the user is the certificate's first email SAN,
/// or else its subject as an RFC 2253 DN; its permissions apply. An
/// identity with no user is refused.
#[test]
fn seed_tls_verify_and_map() {
    let dir = ConfDir::new("seed-tls-map");
    let pki = Pki::new(dir.path(), "t");
    let conf = rewrite(
        &seed("tls-verify-and-map.conf"),
        &[
            ("./configs/certs/server-cert.pem", &pki.cert()),
            ("./configs/certs/server-key.pem", &pki.key()),
            ("./configs/certs/ca.pem", &pki.ca()),
        ],
    );
    let server = start_with_conf(&dir, &conf, &[]);
    let by_email = pki.client_with(
        "email",
        ClientSpec {
            subject: vec![(DnType::CommonName, "Derek")],
            emails: vec!["derek@nats.io", "other@nats.io"],
            ..Default::default()
        },
    );
    // Certificate order OU, CN: RFC 2253 prints "CN=example.com,OU=CNCF".
    let by_dn = pki.client_with(
        "dn",
        ClientSpec {
            subject: vec![
                (DnType::OrganizationalUnitName, "CNCF"),
                (DnType::CommonName, "example.com"),
            ],
            ..Default::default()
        },
    );
    for (who, cert) in [("email", &by_email), ("dn", &by_dn)] {
        let mut c = tls_session(server.addr, pki.client_config(Some(cert), false), QUIET)
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        assert_eq!(c.info["tls_verify"], true, "{}", c.info);
        c.send("PUB foo 1\r\nx\r\n");
        assert!(c.flush().is_empty(), "{who}: publish foo");
        c.send("PUB bar 1\r\nx\r\n");
        assert_eq!(c.flush(), [pub_violation("bar")], "{who}");
    }
    let nobody = pki.client("nobody");
    let mut c = TlsClient::connect(server.addr, pki.client_config(Some(&nobody), false)).unwrap();
    c.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "unmapped certificate: got {lines:?}, closed={closed}"
    );
    assert_tls_refused(
        tls_session(server.addr, pki.client_config(None, false), QUIET),
        "no client certificate",
    );
}

/// full-example.conf: every common option, with its ports made free, its
/// routes pointed at listeners of ours, and its log and pid files in a
/// temporary directory: derek logs in by bcrypt, INFO has max_payload
/// 65536, control lines over 512 bytes are refused, the log file gets
/// trace lines without timestamps, the pid file the pid.
#[test]
fn seed_full_example() {
    let dir = ConfDir::new("seed-full");
    let route1 = TcpListener::bind("127.0.0.1:0").unwrap();
    let route2 = TcpListener::bind("127.0.0.1:0").unwrap();
    let r1 = format!("127.0.0.1:{}", route1.local_addr().unwrap().port());
    let r2 = format!("127.0.0.1:{}", route2.local_addr().unwrap().port());
    let log = dir.file_str("nats-server.log");
    let pid = dir.file_str("nats-server.pid");
    let conf = rewrite(
        &seed("full-example.conf"),
        &[
            ("http_port: 8222", "http_port: -1"),
            ("listen: localhost:4244", "listen: 127.0.0.1:-1"),
            ("127.0.0.1:4245", &r1),
            ("127.0.0.1:4246", &r2),
            ("/tmp/nats-server.log", &log),
            ("/tmp/nats-server.pid", &pid),
        ],
    );
    // `-l` repeats the file's log_file so the harness tails it.
    let mut server = start_with_conf(&dir, &conf, &["-l", &log]);
    let text = crate::util::wait_for_file(std::path::Path::new(&pid), IO_TIMEOUT, |_| true);
    assert_eq!(text.trim(), server.pid().to_string());

    let mut c = server.connect();
    let info = c.read_info();
    assert_eq!(info["max_payload"], 65536, "{info}");
    assert_eq!(info["auth_required"], true, "{info}");
    c.send(format!(
        "CONNECT {}\r\nPING\r\n",
        user_pass("derek", "T0pS3cr3t")
    ));
    c.expect_line("PONG");
    c.send(format!("SUB {} 1\r\n", "a".repeat(600)));
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines.len() == 1
            && lines[0].eq_ignore_ascii_case("-ERR 'Maximum Control Line Exceeded'")
            && closed,
        "got {lines:?}, closed={closed}"
    );
    assert_login_refused(&server, &user_pass("derek", DEREK_HASH));

    let traced = server
        .wait_for_log("PING", IO_TIMEOUT)
        .expect("trace of the PING in the log file");
    let prefix = format!("[{}] [", server.pid());
    assert!(traced.starts_with(&prefix), "no timestamps: {traced:?}");
    assert!(traced.contains("[TRC]"), "{traced:?}");
}

/// The cluster seeds cannot run in nats-lite yet; `-t` accepts them (with
/// cluster-tls.conf's certificates made real, as nats-server loads them).
#[test]
fn seed_cluster_configs_pass_check() {
    let dir = ConfDir::new("seed-cluster");
    let pki = Pki::new(dir.path(), "t");
    let route_cert = pki.client("srva");
    for name in [
        "cluster-a.conf",
        "cluster-b.conf",
        "cluster-c.conf",
        "cluster-seed.conf",
        "cluster-tls.conf",
        "docker-routes-auth.conf",
        "full-example.conf",
    ] {
        let mut text = seed(name);
        if name == "cluster-tls.conf" {
            text = rewrite(
                &text,
                &[
                    (
                        "./configs/certs/srva-cert.pem",
                        route_cert.cert_file.to_str().unwrap(),
                    ),
                    (
                        "./configs/certs/srva-key.pem",
                        route_cert.key_file.to_str().unwrap(),
                    ),
                    ("./configs/certs/ca.pem", &pki.ca()),
                ],
            );
        }
        let file = dir.write(name, &text);
        let out = run_selected(&["-t", "-c", &file], CHECK_TIMEOUT);
        assert!(out.status.success(), "{name}: {}", output_text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is valid"), "{name}: {}", output_text(&out));
    }
}

// ---- -t, errors, precedence, formats ----

/// `-t -c FILE`: exit 0 and `... is valid` for every runnable seed.
#[test]
fn check_config_accepts_valid_files() {
    let dir = ConfDir::new("check-ok");
    for name in [
        "tutorial-1-basic.conf",
        "single-user.conf",
        "multi-user.conf",
        "bcrypt.conf",
        "permissions.conf",
        "variables.conf",
    ] {
        let file = dir.write(name, &seed(name));
        let out = run_selected(&["-t", "-c", &file], CHECK_TIMEOUT);
        assert!(out.status.success(), "{name}: {}", output_text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("configuration file {file} is valid")),
            "{name}: {}",
            output_text(&out)
        );
    }
}

/// `-t` fails on a bad file (nats-lite: exit 2; nats-server: 1) and
/// without `-c`.
#[test]
fn check_config_exit_codes_on_errors() {
    let dir = ConfDir::new("check-bad");
    for text in [
        "port: 4222\nfoo {\n  bar: [1, 2\n",
        "authorization {\n  user: a\n  password: b\n  token: c\n}\n",
        "lame_duck_duration: \"1s\"\n",
        "max_payload: 1\nx = = 3\n",
    ] {
        let file = dir.write("bad.conf", text);
        let out = run_selected(&["-t", "-c", &file], CHECK_TIMEOUT);
        assert!(!out.status.success(), "{text:?}: {}", output_text(&out));
        if !is_reference() {
            assert_eq!(
                out.status.code(),
                Some(2),
                "{text:?}: {}",
                output_text(&out)
            );
        }
        assert!(!out.stderr.is_empty(), "{text:?}: no message");
    }
    let out = run_selected(&["-t"], CHECK_TIMEOUT);
    assert!(!out.status.success(), "-t alone: {}", output_text(&out));
}

/// The error both servers report with its position:
/// `file:2:1: Cannot have a user/pass and token`.
#[test]
fn config_error_user_pass_and_token() {
    let dir = ConfDir::new("check-token");
    let file = dir.write(
        "server.conf",
        "port: 4222\nauthorization {\n  user: a\n  password: b\n  token: c\n}\n",
    );
    let out = run_selected(&["-t", "-c", &file], CHECK_TIMEOUT);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{file}:2:1: Cannot have a user/pass and token")),
        "{}",
        output_text(&out)
    );
}

/// nats-lite reports every config error as `file:line:col: message` (the
/// position of the offending token), for `-t` and for a server start alike.
#[test]
fn config_errors_name_file_line_col() {
    if skip_under_reference("nats-server reports parse errors as 'Parse error on line N'") {
        return;
    }
    let dir = ConfDir::new("check-pos");
    for (text, pos, needle) in [
        ("port: 4222\nfoo {\n  bar: [1, 2\n", "4:1", "not closed"),
        ("port: \"abc\"\n", "1:7", "port"),
        (
            "authorization {\n  users = [\n {user: a, password: b}\n {user: a, password: c}\n ]\n}\n",
            "4:2",
            "Duplicate user \"a\"",
        ),
        ("lame_duck_duration: \"1s\"\n", "1:21", "minimum is 30 seconds"),
        ("x: $UNDEFINED_VAR_NATS_LITE\n", "1:4", "UNDEFINED_VAR_NATS_LITE"),
        ("max_payload: 1\nx = = 3\n", "2:", ""),
    ] {
        let file = dir.write("bad.conf", text);
        for args in [vec!["-t", "-c", &file], vec!["-c", &file, "-p", "-1"]] {
            let out = run_lite(&args, CHECK_TIMEOUT);
            assert_eq!(out.status.code(), Some(2), "{text:?} {args:?}: {}", output_text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err
                .lines()
                .find(|l| l.contains(&format!("{file}:")))
                .unwrap_or_else(|| panic!("{text:?}: no file:line:col in {err:?}"));
            assert!(
                line.contains(&format!("{file}:{pos}")) && line.contains(needle),
                "{text:?}: want {file}:{pos} and {needle:?}; got {line:?}"
            );
        }
    }
}

/// A server given a bad config does not start: it exits non-zero.
#[test]
fn bad_config_does_not_start() {
    let dir = ConfDir::new("bad-start");
    let file = dir.write("server.conf", "max_payload: [\n");
    let out = run_selected(&["-c", &file, "-a", "127.0.0.1", "-p", "-1"], CHECK_TIMEOUT);
    assert!(!out.status.success(), "{}", output_text(&out));
    let missing = dir.file_str("missing.conf");
    let out = run_selected(
        &["-c", &missing, "-a", "127.0.0.1", "-p", "-1"],
        CHECK_TIMEOUT,
    );
    assert!(!out.status.success(), "{}", output_text(&out));
}

/// Flags override the file: `--user/--pass` replace the file's user.
#[test]
fn flags_override_config_file() {
    let dir = ConfDir::new("flags-over");
    let server = start_with_conf(
        &dir,
        "authorization { user: a, password: pa }\nmax_payload: 2048\n",
        &["--user", "b", "--pass", "pb"],
    );
    let mut c = server.client(&user_pass("b", "pb"));
    assert!(c.flush().is_empty());
    assert_login_refused(&server, &user_pass("a", "pa"));
    let info = server.connect().read_info();
    assert_eq!(info["max_payload"], 2048, "the file's other options stay");
}

/// A JSON object is a valid config file.
#[test]
fn json_config_file() {
    let dir = ConfDir::new("json");
    let server = start_with_conf(
        &dir,
        r#"{"authorization": {"users": [{"user": "j", "password": "s"}]}, "max_payload": 4096}"#,
        &[],
    );
    let mut c = server.connect();
    let info = c.read_info();
    assert_eq!(info["max_payload"], 4096);
    assert_eq!(info["auth_required"], true);
    let mut c = server.client(&user_pass("j", "s"));
    assert!(c.flush().is_empty());
}

/// `include` pulls in a file relative to the including one; size suffixes
/// (`2KB` = 2048, `3k` = 3000) and environment variables work.
#[test]
fn include_sizes_and_environment() {
    let dir = ConfDir::new("include");
    dir.write(
        "auth.conf",
        "authorization {\n  users = [ {user: inc, password: $NATS_LITE_TEST_INC_PASS} ]\n}\n",
    );
    let file = dir.write("server.conf", "include ./auth.conf\nmax_payload: 2KB\n");
    let mut cmd = selected_command();
    cmd.args(["-t", "-c", &file])
        .env("NATS_LITE_TEST_INC_PASS", "from-env");
    let out = crate::config_support::run_with_deadline(cmd, CHECK_TIMEOUT);
    assert!(out.status.success(), "{}", output_text(&out));
    let mut cmd = selected_command();
    cmd.args(["-t", "-c", &file])
        .env_remove("NATS_LITE_TEST_INC_PASS");
    let out = crate::config_support::run_with_deadline(cmd, CHECK_TIMEOUT);
    assert!(!out.status.success(), "{}", output_text(&out));

    // Running it (variables of the including file are not visible in the
    // included one, in either server, so this one has its own).
    dir.write(
        "auth2.conf",
        "PW: from-var\nauthorization {\n  users = [ {user: inc, password: $PW} ]\n}\n",
    );
    let file = dir.write("run.conf", "include ./auth2.conf\nmax_payload: 3k\n");
    let server = ServerProcess::start_selected(&["-c", &file]);
    assert_eq!(server.connect().read_info()["max_payload"], 3000);
    let mut c = server.client(&user_pass("inc", "from-var"));
    assert!(c.flush().is_empty());
}

/// The lame duck options: the duration has a 30 s minimum; a short grace
/// period is fine.
#[test]
fn lame_duck_options_checked() {
    let dir = ConfDir::new("ldm-opts");
    let ok = dir.write(
        "ok.conf",
        "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n",
    );
    let out = run_selected(&["-t", "-c", &ok], CHECK_TIMEOUT);
    assert!(out.status.success(), "{}", output_text(&out));
    let bad = dir.write("bad.conf", "lame_duck_duration: \"29s\"\n");
    let out = run_selected(&["-t", "-c", &bad], CHECK_TIMEOUT);
    assert!(!out.status.success(), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid lame_duck_duration of 29s, minimum is 30 seconds"),
        "{}",
        output_text(&out)
    );
}

/// `-t` loads the TLS files a config names: a missing certificate makes
/// the check fail, as it would make the server fail to start.
#[test]
fn check_config_loads_tls_files() {
    let dir = ConfDir::new("check-tls");
    let missing = dir.file_str("missing-cert.pem");
    let file = dir.write(
        "server.conf",
        &format!("tls {{\n  cert_file: \"{missing}\"\n  key_file: \"{missing}\"\n}}\n"),
    );
    let out = run_selected(&["-t", "-c", &file], CHECK_TIMEOUT);
    assert!(!out.status.success(), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing-cert.pem"), "{}", output_text(&out));
    // With real files the same config is valid.
    let pki = Pki::new(dir.path(), "t");
    let file = dir.write(
        "server.conf",
        &format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\n",
            pki.cert(),
            pki.key()
        ),
    );
    let out = run_selected(&["-t", "-c", &file], CHECK_TIMEOUT);
    assert!(out.status.success(), "{}", output_text(&out));
}
