//! `nats-lite pub/sub/req/reply/ping/bench` with `ws://` and `wss://`
//! server URLs, against a server's `websocket` listener (nats-lite, or
//! nats-server under `NATS_TEST_REFERENCE=1`), next to a TCP client on the
//! same server.

use crate::client_support::{replier, run_lite, subscriber, TestPki};
use crate::ws_support::start_ws;

#[test]
fn ws_url_pub_sub_req_reply_ping_bench() {
    let (server, addr) = start_ws("no_tls: true\n compression: true", "");
    let ws = format!("ws://{addr}");
    let tcp = server.url();
    // A WebSocket subscriber gets what a TCP publisher sends, and back.
    let mut sub = subscriber(&["-s", &ws, "ws.in", "--count", "1"]);
    let mut tcp_sub = subscriber(&["-s", &tcp, "tcp.in", "--count", "1"]);
    run_lite(&["pub", "-s", &tcp, "ws.in", "from tcp"]).assert_ok();
    run_lite(&["pub", "-s", &ws, "tcp.in", "from ws"]).assert_ok();
    sub.wait_stdout("from tcp");
    tcp_sub.wait_stdout("from ws");
    let mut rep = replier(&["-s", &ws, "svc", "pong", "--count", "1"]);
    let done = run_lite(&["req", "-s", &ws, "svc", "ping"]);
    done.assert_ok();
    assert!(done.out().contains("pong"), "{}", done.out());
    rep.wait_stderr("Answered 1");
    let done = run_lite(&["ping", "-s", &ws, "--count", "2"]);
    done.assert_ok();
    assert!(done.out().contains("2 PONGs"), "{}", done.out());
    let done = run_lite(&["bench", "-s", &ws, "--msgs", "2000", "--size", "64", "b"]);
    done.assert_ok();
    assert!(done.out().contains("msgs/sec"), "{}", done.out());
}

#[test]
fn wss_url_with_user_and_password() {
    let pki = TestPki::new();
    let (_server, addr) = start_ws(
        &format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n \
             authorization {{ user: web, password: secret }}",
            pki.file("server.pem"),
            pki.file("server.key")
        ),
        "",
    );
    let url = format!("wss://web:secret@{addr}");
    let ca = pki.file("ca.pem");
    let mut sub = subscriber(&["-s", &url, "--tlscacert", &ca, "secure", "--count", "1"]);
    run_lite(&["pub", "-s", &url, "--tlscacert", &ca, "secure", "over wss"]).assert_ok();
    sub.wait_stdout("over wss");
    let bad = format!("wss://web:wrong@{addr}");
    let done = run_lite(&["pub", "-s", &bad, "--tlscacert", &ca, "secure", "x"]);
    assert_ne!(done.code(), 0);
    // nats-server 2.9.10 may close before its -ERR frame is out.
    let lost = crate::util::is_reference() && done.stderr.contains("closed the connection");
    assert!(
        done.stderr.contains("Authorization Violation") || lost,
        "{}",
        done.stderr
    );
    // ws:// on the TLS listener fails cleanly.
    let done = run_lite(&["pub", "-s", &format!("ws://{addr}"), "secure", "x"]);
    assert_ne!(done.code(), 0);
}
