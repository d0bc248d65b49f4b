//! Connection threads reused across connections: a connection that ends
//! leaves its thread parked for the next one. Many sequential short
//! connections are served by a handful of threads; `max_connections` still
//! holds; a connection served by a reused thread starts fresh (no previous
//! connection's credentials, permissions, subscriptions or unparsed
//! bytes); a burst of concurrent connections is served in full; WebSocket
//! connections reuse the threads of their listener's pool too. The thread
//! checks read `/proc/<pid>/task` (Linux only); the others also run against
//! nats-server with `NATS_TEST_REFERENCE=1`.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::{RawClient, ServerProcess, IO_TIMEOUT, PARKED_CONNECTION_THREADS};

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

/// The ids of the server's threads now.
#[cfg(target_os = "linux")]
fn thread_ids(pid: u32) -> std::collections::HashSet<u64> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("/proc task")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// 200 connections one after the other (connect, CONNECT + PING, PONG,
/// close) are served by a few threads, not by 200: every thread the
/// server ever had while a connection was open is counted.
#[cfg(target_os = "linux")]
#[test]
fn sequential_connections_reuse_a_few_threads() {
    let server = ServerProcess::start(&[]);
    let pid = server.pid();
    let base = thread_ids(pid);
    let mut seen = base.clone();
    for _ in 0..200 {
        let mut c = server.client(QUIET);
        seen.extend(thread_ids(pid));
        c.ping_pong();
        drop(c);
    }
    let new = (seen.len() - base.len()) as u64;
    eprintln!("200 sequential connections: {new} connection threads in all");
    assert!(
        new <= 2 * PARKED_CONNECTION_THREADS,
        "{new} threads served 200 sequential connections"
    );
    // And they stay bounded once the connections are gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while thread_ids(pid).len() as u64 > base.len() as u64 + PARKED_CONNECTION_THREADS {
        assert!(Instant::now() < deadline, "threads left behind");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// max_connections holds round after round while threads are reused: the
/// connection over the limit is refused, and the slots come back.
#[test]
fn max_connections_holds_with_reused_threads() {
    let server = ServerProcess::start_selected_with_config(r#"{"max_connections": 2}"#, &[]);
    for round in 0..5 {
        let mut clients: Vec<RawClient> = Vec::new();
        // The previous round's closes reach the server asynchronously.
        let deadline = Instant::now() + IO_TIMEOUT;
        while clients.len() < 2 {
            let mut c = server.connect();
            c.read_info();
            c.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
            match c.read_line().as_str() {
                "PONG" => clients.push(c),
                "-ERR 'maximum connections exceeded'" => {
                    assert!(Instant::now() < deadline, "round {round}: no slot freed");
                }
                other => panic!("round {round}: {other:?}"),
            }
        }
        let mut third = server.connect();
        third.read_info();
        third.expect_err_and_close("-ERR 'maximum connections exceeded'", false);
        for c in clients.iter_mut() {
            c.ping_pong();
        }
    }
}

/// Sequential connections with different users on a server whose threads
/// are reused: each starts with none of the previous connection's state.
#[test]
fn a_reused_thread_serves_a_fresh_connection() {
    let server = ServerProcess::start_selected_with_config(
        r#"{"authorization": {"users": [
            {"user": "alice", "password": "a"},
            {"user": "bob", "password": "b", "permissions": {"publish": "b.>", "subscribe": ">"}}
        ]}}"#,
        &[],
    );
    let mut watcher = server.client(r#"{"verbose":false,"user":"alice","pass":"a"}"#);
    for round in 0..5 {
        // Alice subscribes, leaves half a message unparsed and goes.
        let mut a = server.client(r#"{"verbose":false,"user":"alice","pass":"a"}"#);
        a.send("SUB foo 1\r\n");
        a.ping_pong();
        a.send("PUB foo 5\r\nhe");
        drop(a);

        // No credentials: refused, as on a new thread.
        let mut anon = server.connect();
        anon.read_info();
        anon.send("PING\r\n");
        anon.expect_err_and_close("-ERR 'Authorization Violation'", false);

        // Bob: his own permissions, no leftover bytes, no subscription of Alice's.
        let mut b = server.client(r#"{"verbose":false,"user":"bob","pass":"b"}"#);
        b.ping_pong();
        b.send("PUB foo 2\r\nhi\r\n");
        let mut lines = b.flush();
        lines.retain(|l| l != "PING");
        assert_eq!(
            lines,
            ["-ERR 'Permissions Violation for Publish to \"foo\"'"],
            "round {round}: bob's permissions"
        );
        b.send("SUB bar 1\r\n");
        b.ping_pong();
        watcher.send("PUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\n");
        watcher.ping_pong();
        let mut lines = b.flush();
        lines.retain(|l| l != "PING");
        assert_eq!(
            lines,
            ["MSG bar 1 1", "y"],
            "round {round}: bob's subscriptions"
        );
    }
}

/// 300 connections opened at once (queued in the listen backlog before
/// any is read from) all complete their handshake, twice over.
#[test]
fn a_burst_of_connections_is_served_in_full() {
    let server = ServerProcess::start_selected(&[]);
    for round in 0..2 {
        let socks: Vec<TcpStream> = (0..300)
            .map(|_| TcpStream::connect_timeout(&server.addr, IO_TIMEOUT).expect("connect"))
            .collect();
        for s in &socks {
            s.set_nodelay(true).unwrap();
            (&*s)
                .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
                .unwrap();
        }
        for (i, s) in socks.into_iter().enumerate() {
            let mut c = RawClient::from_stream(s);
            let info = c.read_line();
            assert!(
                info.starts_with("INFO "),
                "round {round}, client {i}: {info:?}"
            );
            loop {
                match c.read_line().as_str() {
                    "PONG" => break,
                    "PING" => c.send("PONG\r\n"),
                    other => panic!("round {round}, client {i}: {other:?}"),
                }
            }
        }
    }
}

/// WebSocket connections reuse their threads too: 50 sequential upgrades
/// (upgrade, CONNECT + PING, PONG, close) are served by a few threads.
#[cfg(target_os = "linux")]
#[test]
fn sequential_websocket_connections_reuse_a_few_threads() {
    use crate::ws_support::{start_ws, WsClient};
    let (server, addr) = start_ws("no_tls: true", "");
    let pid = server.pid();
    let base = thread_ids(pid);
    let mut seen = base.clone();
    for _ in 0..50 {
        let (mut ws, _) = WsClient::connect(addr, false);
        seen.extend(thread_ids(pid));
        ws.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        assert_eq!(ws.line(), "PONG");
        drop(ws);
    }
    let new = (seen.len() - base.len()) as u64;
    eprintln!("50 sequential WebSocket connections: {new} connection threads in all");
    assert!(
        new <= 2 * PARKED_CONNECTION_THREADS,
        "{new} threads served 50 sequential WebSocket connections"
    );
}
