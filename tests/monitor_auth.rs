//! Monitoring auth (`http_auth`): without credentials every endpoint
//! (the dashboard and `/metrics` included) answers 401, with a Basic
//! challenge; a bearer token, a Basic user with a bcrypt password, or the
//! token as a Basic password are accepted; `/healthz` is open only with
//! `public_healthz`; `top` sends the credentials it is given.

use std::process::Command;

use crate::config_support::{start_lite_with_conf, ConfDir};
use crate::monitor_util::{http_raw, HttpReply, Monitored};
use crate::util::nats_lite_bin;

const PATHS: &[&str] = &[
    "/",
    "/index",
    "/varz",
    "/connz",
    "/connz?auth=1&subs=detail",
    "/routez",
    "/subsz?subs=1",
    "/accountz",
    "/accountz?acc=$G",
    "/metrics",
    "/nonexistent",
];

fn get(m: &Monitored, path: &str, authorization: Option<&str>) -> HttpReply {
    let h = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    http_raw(
        m.http,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{h}\r\n").as_bytes(),
    )
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        nats_lite::server::monitor::access::base64_encode(format!("{user}:{pass}").as_bytes())
    )
}

fn start(public_healthz: bool) -> (ConfDir, Monitored) {
    let dir = ConfDir::new("httpauth");
    let hash = bcrypt::hash("opspw", 4).unwrap();
    let conf = format!(
        "http_auth {{\n  token: \"t0ken\"\n  users: [ {{ user: ops, password: \"{hash}\" }} ]\n  \
         public_healthz: {public_healthz}\n}}\n"
    );
    let server = start_lite_with_conf(&dir, &conf, &["-m", "-1"]);
    (dir, Monitored::attach(server))
}

#[test]
fn every_endpoint_refuses_requests_without_credentials() {
    let (_dir, m) = start(true);
    for path in PATHS {
        for bad in [
            None,
            Some("Bearer wrong"),
            Some(basic("ops", "nope").as_str()),
        ] {
            let r = get(&m, path, bad);
            assert_eq!(r.status, 401, "{path} with {bad:?}: {}", r.text());
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Basic")),
                "{path}: no challenge"
            );
            assert!(!r.text().contains("server_id"), "{path} leaked data");
        }
        let unknown = *path == "/nonexistent";
        for good in [
            "Bearer t0ken".to_string(),
            basic("ops", "opspw"),
            basic("whoever", "t0ken"),
        ] {
            let r = get(&m, path, Some(&good));
            let want = if unknown { 404 } else { 200 };
            assert_eq!(r.status, want, "{path} with {good}: {}", r.text());
        }
    }
    assert_eq!(get(&m, "/healthz", None).status, 200, "public_healthz");
}

#[test]
fn healthz_needs_credentials_unless_public() {
    let (_dir, m) = start(false);
    assert_eq!(get(&m, "/healthz", None).status, 401);
    assert_eq!(get(&m, "/healthz", Some("Bearer t0ken")).status, 200);
}

#[test]
fn top_sends_the_credentials_it_is_given() {
    let (_dir, m) = start(true);
    let port = m.http.port().to_string();
    let top = |extra: &[&str]| {
        Command::new(nats_lite_bin())
            .args(["top", "-s", "127.0.0.1", "-m", &port, "-o", "-"])
            .args(extra)
            .env_remove("NATS_HTTP_TOKEN")
            .env_remove("NATS_HTTP_PASSWORD")
            .env_remove("NATS_HTTP_USER")
            .output()
            .unwrap()
    };
    let out = top(&[]);
    assert!(!out.status.success(), "top without credentials succeeded");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for creds in [
        &["--http-token", "t0ken"][..],
        &["--http-user", "ops", "--http-password", "opspw"],
    ] {
        let out = top(creds);
        assert!(
            out.status.success(),
            "{creds:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("Connections Polled"));
    }
}

/// `watch-http` probes a protected `/varz` with `-H Authorization:...`;
/// without it the check fails on the 401.
#[test]
fn watch_http_probes_with_a_header() {
    let (_dir, m) = start(false);
    let url = format!("http://{}/varz", m.http);
    let probe = |extra: &[&str]| {
        Command::new(nats_lite_bin())
            .args(["watch-http", "--once", "--timeout", "5s"])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let out = probe(&["-H", "Authorization: Bearer t0ken"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = probe(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("401"));
}

/// A SIGHUP reload applies a changed `http_auth`: the old token stops
/// working, the new one works, without a restart.
#[cfg(unix)]
#[test]
fn a_reload_changes_the_monitoring_credentials() {
    let dir = ConfDir::new("httpauth-reload");
    let conf = |token: &str| format!("http_auth {{ token: \"{token}\" }}\n");
    let mut m = Monitored::attach(start_lite_with_conf(
        &dir,
        &conf("old-token"),
        &["-m", "-1"],
    ));
    assert_eq!(get(&m, "/varz", Some("Bearer old-token")).status, 200);
    dir.write("server.conf", &conf("new-token"));
    crate::util::unsafe_kill(m.server.pid(), "HUP");
    m.server
        .wait_for_log(
            "Reloaded server configuration",
            std::time::Duration::from_secs(10),
        )
        .expect("reloaded");
    assert_eq!(get(&m, "/varz", Some("Bearer old-token")).status, 401);
    assert_eq!(get(&m, "/varz", Some("Bearer new-token")).status, 200);
}
