//! Secrets stay secret (reliability-cases.md section 1.4, where nats-lite is
//! held to the stricter rule of nats-server 2.11+): with `-D -V` the log
//! traces every CONNECT, and no password or token may appear in it, however
//! the CONNECT is spelt (spacing, escapes, letter case, repeated keys,
//! JSON that does not parse, a CONNECT that is refused, a second CONNECT).
//! /connz and the other endpoints are checked in `monitor_endpoints.rs`
//! (M03, `[REDACTED]` token user).

use std::time::Duration;

use crate::util::{ServerProcess, IO_TIMEOUT};

/// CONNECT lines that carry `secret` in one way or another.
fn connect_variants(key: &str, secret: &str, user: Option<&str>) -> Vec<String> {
    let user = user.map_or(String::new(), |u| format!("\"user\":\"{u}\","));
    // `secret` with one character written as a JSON \u escape.
    let escaped = format!("\\u{:04x}{}", secret.as_bytes()[0], &secret[1..]);
    vec![
        format!("CONNECT {{{user}\"{key}\":\"{secret}\"}}"),
        format!("connect {{ {user} \"{key}\" :  \"{secret}\" , \"verbose\":false }}"),
        format!("CONNECT\t{{{user}\"{key}\":\"{escaped}\"}}"),
        format!("CONNECT {{{user}\"{key}\":\"x\",\"{key}\":\"{secret}\"}}"),
        format!("CONNECT {{{user}\"{key}\":\"{secret}\""),
        format!("CONNECT {{{user}\"{key}\":\"{secret}wrong\"}}"),
        format!("CONNECT {{\"verbose\":false,\"name\":\"n\",{user}\"{key}\":\"{secret}\",\"echo\":true}}"),
    ]
}

/// Send each variant on its own connection (and once more as a second
/// CONNECT), then check the whole log.
fn assert_never_logged(server: &mut ServerProcess, variants: &[String], good: &str, secret: &str) {
    for v in variants {
        let mut c = server.connect();
        c.read_info();
        c.send(format!("{v}\r\nPING\r\n"));
        let _ = c.read_until_closed(Duration::from_millis(300));
    }
    for v in variants {
        let mut c = server.client(good);
        c.send(format!("{v}\r\nPING\r\n"));
        let _ = c.read_until_closed(Duration::from_millis(300));
    }
    // Everything logged so far has arrived once a last client's CONNECT
    // trace shows up.
    let mut last = server.client(&good.replace('}', ",\"name\":\"last-one\"}"));
    last.flush();
    server.wait_for_log("last-one", IO_TIMEOUT);
    let log = server.log_lines();
    // The tail too: one variant escapes the first character.
    let leaks: Vec<&String> = log.iter().filter(|l| l.contains(&secret[1..])).collect();
    assert!(
        leaks.is_empty(),
        "the secret {secret:?} is in the log:\n{}",
        leaks
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        log.iter().any(|l| l.contains("[REDACTED]")),
        "no CONNECT traced at all? log: {log:?}"
    );
}

/// A token (`--auth`) never appears in the `-DV` log.
#[test]
fn token_never_in_trace_log() {
    let secret = "tok3nS3cret";
    let mut server = ServerProcess::start(&["--auth", secret, "-D", "-V"]);
    let good = format!(r#"{{"verbose":false,"auth_token":"{secret}"}}"#);
    assert_never_logged(
        &mut server,
        &connect_variants("auth_token", secret, None),
        &good,
        secret,
    );
}

/// A password (`--user/--pass`) never appears in the `-DV` log.
#[test]
fn password_never_in_trace_log() {
    let secret = "pa55S3cret";
    let mut server = ServerProcess::start(&["--user", "bob", "--pass", secret, "-D", "-V"]);
    let good = format!(r#"{{"verbose":false,"user":"bob","pass":"{secret}"}}"#);
    assert_never_logged(
        &mut server,
        &connect_variants("pass", secret, Some("bob")),
        &good,
        secret,
    );
}
