//! Logs for machines: `--log_format json` (and `log_format: json` in a
//! file) writes one JSON object per line, every line parsed here, with the
//! connection's fields on connection lines; and systemd readiness: a fake
//! `NOTIFY_SOCKET` (a unix datagram socket the test binds) receives
//! READY=1 once the server listens, WATCHDOG=1 keepalives, RELOADING=1 and
//! READY=1 around a SIGHUP reload, and STOPPING=1 on SIGTERM.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config_support::ConfDir;
use crate::util::{nats_lite_bin, unsafe_kill, RawClient, ServerProcess, TempDir, START_TIMEOUT};

/// Lines of a child's stderr, as they come.
fn stderr_lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn parse(line: &str) -> Value {
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
    for key in ["time", "level", "msg"] {
        assert!(v[key].is_string(), "no {key} in {line}");
    }
    assert!(v["pid"].is_u64(), "no pid in {line}");
    v
}

fn json_log_run(extra: &[&str]) {
    let mut child = Command::new(nats_lite_bin())
        .args(["server", "-a", "127.0.0.1", "-p", "-1", "-DV"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let mut child = crate::obs_support::Killed(child);
    let mut seen = Vec::new();
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("no listening line");
        let v = parse(&line);
        seen.push(line);
        if let Some(a) = v["msg"]
            .as_str()
            .and_then(|m| m.strip_prefix("Listening for client connections on "))
        {
            break a.parse().unwrap();
        }
    };
    let mut c = RawClient::connect(addr);
    c.handshake(r#"{"verbose":false,"name":"json-logger"}"#);
    c.send("SUB x 1\r\nPUB x 2\r\nhi\r\n");
    c.read_msg();
    drop(c);
    unsafe_kill(child.0.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.push(line);
    }
    let _ = child.0.wait();
    let parsed: Vec<Value> = seen.iter().map(|l| parse(l)).collect();
    assert!(parsed.iter().any(|v| v["level"] == "info"));
    assert!(parsed.iter().any(|v| v["level"] == "trace"), "-V traces");
    let conn = parsed
        .iter()
        .find(|v| v["msg"] == "Client connection created")
        .unwrap_or_else(|| panic!("no connection line in {seen:#?}"));
    assert!(conn["cid"].as_u64().is_some_and(|n| n > 0), "{conn}");
    assert!(
        conn["conn_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{conn}"
    );
    assert!(
        parsed.iter().any(|v| v["msg"] == "Server Exiting.."),
        "the last line is there too"
    );
    assert!(parsed[0]["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn json_logs_parse_line_by_line() {
    json_log_run(&["--log_format", "json"]);
}

#[test]
fn json_logs_from_the_config_file() {
    let dir = ConfDir::new("jsonlog");
    let conf = dir.write("server.conf", "log_format: json\n");
    json_log_run(&["-c", &conf]);
}

/// Receive datagrams until one starts with `want` (collecting all).
fn expect(socket: &UnixDatagram, want: &str, got: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {want:?} among {got:?}");
        socket.set_read_timeout(Some(left)).unwrap();
        let Ok(n) = socket.recv(&mut buf) else {
            panic!("no {want:?} among {got:?}");
        };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        got.push(msg.clone());
        if msg.starts_with(want) {
            return;
        }
    }
}

#[test]
fn systemd_notify_ready_watchdog_reload_and_stopping() {
    let tmp = TempDir::new("notify");
    let path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut cmd = Command::new(nats_lite_bin());
    cmd.arg("server")
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID");
    let mut server = ServerProcess::start_command(cmd, &[]);
    let mut got = Vec::new();
    expect(&socket, "READY=1", &mut got);
    assert!(
        server
            .wait_for_log("Server is ready", Duration::from_secs(5))
            .is_some(),
        "READY=1 came once the server listens"
    );
    expect(&socket, "WATCHDOG=1", &mut got);
    expect(&socket, "WATCHDOG=1", &mut got);
    unsafe_kill(server.pid(), "HUP");
    expect(&socket, "RELOADING=1", &mut got);
    assert!(got.last().unwrap().contains("MONOTONIC_USEC="), "{got:?}");
    expect(&socket, "READY=1", &mut got);
    unsafe_kill(server.pid(), "TERM");
    expect(&socket, "STOPPING=1", &mut got);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
}
