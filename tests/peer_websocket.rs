//! Real WebSocket peers against the `websocket` listener: nats-py over
//! `ws://` (with aiohttp), async-nats with its `websockets` feature, and
//! headless Chromium running the official JavaScript client
//! (`@nats-io/nats-core`'s `wsconnect`) in a page served by the test. Each
//! also exchanges messages with a TCP client. The peers come from
//! `scripts/ci/install-ws.sh` (under `target/`); a missing peer fails the
//! test when `CI` is set and skips it with a message otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::IO_TIMEOUT;
use crate::ws_support::start_ws;

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `Some(path)` when `path` exists; otherwise fail under CI or skip.
fn peer(path: &Path, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    let msg = format!(
        "{what} missing ({}): run scripts/ci/install-ws.sh",
        path.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("skipped: {msg}");
    None
}

/// Lines a child prints on stdout (or stderr), read in the background.
fn lines_of(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait for a line containing `needle`; returns it.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no {needle:?} line; saw:\n{}", seen.join("\n")));
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => panic!("no {needle:?} line; saw:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn nats_py_over_ws_with_a_tcp_peer() {
    let Some(python) = peer(&root().join("target/ws-venv/bin/python"), "nats-py venv") else {
        return;
    };
    let (server, addr) = start_ws("no_tls: true\n compression: true", "");
    let mut tcp = server.client("{\"verbose\":false,\"headers\":true}");
    tcp.send("SUB py.out 1\r\nPING\r\n");
    tcp.expect_line("PONG");
    let mut child = Command::new(python)
        .arg(root().join("tests/data/ws_nats_py.py"))
        .arg(format!("ws://{addr}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let rx = lines_of(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    wait_line(&rx, "ready", &mut seen);
    tcp.send("PUB py.in 8\r\nfrom tcp\r\n");
    assert_eq!(
        wait_line(&rx, "received", &mut seen),
        "received py.in from tcp"
    );
    let line = next_non_ping(&mut tcp);
    assert!(line.starts_with("HMSG py.out 1 "), "{line}");
    assert_eq!(wait_line(&rx, "reply", &mut seen), "reply answer:q");
    let status = wait_child(&mut child, IO_TIMEOUT);
    assert!(status.success(), "nats-py exited with {status}");
}

fn wait_child(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The next line that is not a server PING (those are answered).
fn next_non_ping(tcp: &mut crate::util::RawClient) -> String {
    loop {
        let line = tcp.read_line();
        if line != "PING" {
            return line;
        }
        tcp.send("PONG\r\n");
    }
}
