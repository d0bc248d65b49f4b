//! Bad input over real sockets (reliability-cases.md section 1.2-1.3, F01
//! and S04), where `server_errors.rs` and `server_protocol.rs` do not
//! already cover it: a control line at the limit split across reads,
//! unusual subject bytes that must not corrupt anyone's stream, lines
//! that never end (on the client and the monitoring port: memory stays
//! bounded), and random bytes on many connections (the process survives
//! and gives its threads back).

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nats_lite::protocol::parser::{parse_server_op, Limits, Parsed, ServerOp};

use crate::monitor_util::Monitored;
use crate::util::{is_reference, RawClient, ServerProcess, IO_TIMEOUT, PARKED_CONNECTION_THREADS};

const QUIET: &str = r#"{"verbose":false}"#;

fn status_field(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(name)).unwrap();
    line[name.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

/// Send PING on `c` and read raw bytes up to its PONG; returns every op
/// before the PONG, parsed with the clients' own parser (which must accept
/// all of it), as (subject, payload) for messages and names otherwise.
fn raw_ops_until_pong(c: &mut RawClient) -> Vec<(Vec<u8>, Vec<u8>)> {
    c.send("PING\r\n");
    let limits = Limits {
        max_control_line: 64 * 1024,
        max_payload: 1024 * 1024,
    };
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::new();
    let mut ops = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        loop {
            match parse_server_op(&buf, &limits) {
                Ok(Parsed::Op(op, used)) => {
                    let item = match op {
                        ServerOp::Pong => return ops,
                        ServerOp::Msg {
                            subject, payload, ..
                        } => (subject.to_vec(), payload.to_vec()),
                        other => (format!("{other:?}").into_bytes(), Vec::new()),
                    };
                    ops.push(item);
                    buf.drain(..used);
                }
                Ok(Parsed::Incomplete(_)) => break,
                Err(e) => panic!(
                    "stream no longer parses ({e}): {:?}",
                    String::from_utf8_lossy(&buf)
                ),
            }
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("no PONG in time");
        c.stream.set_read_timeout(Some(left)).unwrap();
        match c.stream.read(&mut chunk) {
            Ok(0) => panic!("connection closed; ops so far {ops:?}"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("read: {e}; ops so far {ops:?}"),
        }
    }
}

/// Bytes waiting in the receive queue of the server's end of `c` (from
/// `/proc/net/tcp`: the socket whose local port is the server's and whose
/// remote port is `c`'s).
fn server_rx_queue(c: &RawClient) -> u64 {
    let server_port = c.stream.peer_addr().unwrap().port();
    let client_port = c.stream.local_addr().unwrap().port();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let port = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap(), 16).unwrap();
        if port(f[1]) == server_port && port(f[2]) == client_port {
            let rx = f[4].split(':').nth(1).unwrap();
            return u64::from_str_radix(rx, 16).unwrap();
        }
    }
    panic!("no socket {server_port} <- {client_port} in /proc/net/tcp");
}

/// Write `first`, wait (polling `/proc/net/tcp`, bounded) until the server
/// has read it, then write `second`: the two land in separate reads.
fn send_in_two_reads(c: &mut RawClient, first: &[u8], second: &[u8]) {
    c.send(first);
    let deadline = Instant::now() + IO_TIMEOUT;
    while server_rx_queue(c) > 0 {
        assert!(Instant::now() < deadline, "the server did not read");
        std::thread::yield_now();
    }
    // The server may have closed the connection already: what it said is
    // read by the caller.
    let _ = c.stream.write_all(second);
}

/// F01 over TCP: a control line exactly max_control_line (4096) long,
/// sent so that the server reads it in two parts split between its `\r`
/// and `\n`, is accepted just as it is in one read.
#[test]
fn f01_line_at_max_control_line_split_before_lf_over_tcp() {
    let server = ServerProcess::start_selected(&[]);
    let subject = "s".repeat(4096 - " 2".len());
    let mut sub = server.client(QUIET);
    sub.send(format!("SUB {subject} 1\r\n"));
    assert!(sub.flush().is_empty());
    let mut publ = server.client(QUIET);
    for i in 0..3 {
        let first = format!("PUB {subject} 2\r");
        send_in_two_reads(&mut publ, first.as_bytes(), b"\nhi\r\nPING\r\n");
        // Up to the PONG of that PING: nothing else (no -ERR) and no close.
        // The server's own PINGs (the first comes 2 s after CONNECT, which
        // a loaded machine reaches here) are answered on the way.
        loop {
            match publ.try_read_line(IO_TIMEOUT) {
                Ok(line) if line == "PONG" => break,
                Ok(line) if line == "PING" => publ.send("PONG\r\n"),
                other => panic!(
                    "round {i}: a {}-byte control line split before its LF got {other:?}",
                    subject.len() + 2
                ),
            }
        }
    }
    // Still open and in step after the last round.
    publ.ping_pong();
    let (line, payload) = sub.read_msg();
    assert_eq!(line, format!("MSG {subject} 1 2"));
    assert_eq!(payload, b"hi");
}

/// S04: subjects holding NUL, DEL, invalid UTF-8 or control bytes, 200
/// tokens, or 4000 bytes. Each is accepted or refused the same way for SUB
/// and PUB; an accepted one reaches `>` and literal subscribers unchanged,
/// and every subscriber's stream still parses (nothing is corrupted).
#[test]
fn s04_odd_subject_bytes_same_everywhere_and_never_corrupt_streams() {
    let server = ServerProcess::start_selected(&[]);
    let mut all = server.client(QUIET);
    all.send("SUB > 1\r\n");
    assert!(all.flush().is_empty());
    let many_tokens = vec!["t"; 200].join(".");
    let long = "l".repeat(4000);
    let subjects: Vec<Vec<u8>> = vec![
        b"nul.a\x00b".to_vec(),
        b"del.a\x7fb".to_vec(),
        b"utf8.\xff\xfe".to_vec(),
        b"utf8.\xc3\x28".to_vec(),
        b"ctl.\x01\x1b[2J".to_vec(),
        b"plain.ok".to_vec(),
        many_tokens.into_bytes(),
        long.into_bytes(),
    ];
    for (i, subject) in subjects.iter().enumerate() {
        let shown = String::from_utf8_lossy(subject);
        let mut lit = server.client(QUIET);
        let mut cmd = b"SUB ".to_vec();
        cmd.extend_from_slice(subject);
        cmd.extend_from_slice(b" 1\r\n");
        lit.send(&cmd);
        let sub_reply = lit.flush();
        let sub_ok = sub_reply.is_empty();
        let mut publ = server.client(QUIET);
        let mut cmd = b"PUB ".to_vec();
        cmd.extend_from_slice(subject);
        cmd.extend_from_slice(format!(" 3\r\nm{i:02}\r\n").as_bytes());
        publ.send(&cmd);
        let pub_reply = publ.flush();
        let pub_ok = pub_reply.is_empty();
        assert_eq!(
            sub_ok, pub_ok,
            "{shown:?}: SUB got {sub_reply:?} but PUB got {pub_reply:?}"
        );
        let seen = raw_ops_until_pong(&mut all);
        let want: Vec<(Vec<u8>, Vec<u8>)> = if pub_ok {
            vec![(subject.clone(), format!("m{i:02}").into_bytes())]
        } else {
            Vec::new()
        };
        assert_eq!(seen, want, "{shown:?}: the `>` subscriber's stream");
        if sub_ok {
            let seen = raw_ops_until_pong(&mut lit);
            assert_eq!(seen, want, "{shown:?}: the literal subscriber's stream");
        }
    }
}

/// Lines that never end, on the client port, before and after CONNECT and
/// for every op (a bare op such as PING ignores its arguments, but not
/// without end): closed once past max_control_line, and RSS stays flat
/// while up to 8 MB are offered on each (the reference's route-port bug,
/// section 1.3, is the same shape).
#[test]
fn never_ending_line_on_the_client_port_is_bounded() {
    let server = ServerProcess::start_selected(&[]);
    let pid = server.pid();
    let mut warm = server.client(QUIET);
    warm.flush();
    let before = rss_kib(pid);
    let chunk = vec![b'a'; 64 * 1024];
    for (connect_first, prefix) in [
        (false, "CONNECT {\"name\":\""),
        (false, "PING "),
        (true, "PUB foo "),
        (true, "SUB "),
        (true, "PINGPONG"),
        (true, "+OK "),
        (true, "INFO {"),
        (true, "HPUB x "),
    ] {
        let mut c = if connect_first {
            server.client(QUIET)
        } else {
            let mut c = server.connect();
            c.read_info();
            c
        };
        c.stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut sent = prefix.len();
        let _ = c.stream.write_all(prefix.as_bytes());
        while sent < 8 << 20 {
            if c.stream.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        // nats-server skips what follows a bare op (PING, PONG, +OK)
        // without keeping it, so it never needs to close; nats-lite closes
        // at the limit.
        let bare = ["PING", "+OK"].iter().any(|b| prefix.starts_with(b));
        let wait = if bare && is_reference() {
            Duration::from_millis(100)
        } else {
            IO_TIMEOUT
        };
        let (lines, closed) = c.read_until_closed(wait);
        assert!(
            closed || (bare && is_reference()),
            "{prefix:?}: still open after {sent} bytes; got {lines:?}"
        );
        assert!(
            lines.iter().all(|l| l.starts_with("-ERR")),
            "{prefix:?}: got {lines:?}"
        );
    }
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB");
    warm.send("PING\r\n");
    assert_eq!(warm.read_line(), "PONG");
}

/// A line that never ends on the monitoring port (a request line, then a
/// header): the connection is closed and memory stays bounded; monitoring
/// still answers. (nats-lite is stricter than nats-server here, section
/// 1.8.)
#[test]
fn never_ending_line_on_the_monitor_port_is_bounded() {
    let m = Monitored::start(&[]);
    let pid = m.server.pid();
    assert_eq!(m.get("/healthz").status, 200);
    let before = rss_kib(pid);
    let chunk = vec![b'a'; 64 * 1024];
    for prefix in ["GET /", "GET /varz HTTP/1.1\r\nX-Long: "] {
        let mut s = TcpStream::connect(m.http).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let _ = s.write_all(prefix.as_bytes());
        let mut sent = prefix.len();
        while sent < 16 << 20 {
            if s.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        assert!(
            sent < 16 << 20,
            "{prefix:?}: the monitor port took {sent} bytes of one line"
        );
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        let head = String::from_utf8_lossy(&reply[..reply.len().min(40)]).into_owned();
        assert!(
            reply.is_empty() || head.starts_with("HTTP/1.1 4"),
            "{prefix:?}: got {head:?}"
        );
    }
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB");
    assert_eq!(m.get("/healthz").status, 200);
}

/// F01 over TCP: 200 connections each send random bytes (some after a
/// CONNECT, some starting with a real op name); the process survives, a
/// bystander is unaffected, and the threads of the junk connections are
/// given back.
#[test]
fn f01_random_bytes_on_many_connections_never_take_the_server_down() {
    let server = ServerProcess::start(&[]);
    let pid = server.pid();
    let mut by = server.client(QUIET);
    by.send("SUB by 1\r\n");
    by.flush();
    let base_threads = status_field(pid, "Threads:");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let ops = [
        "PUB ", "HPUB ", "SUB ", "UNSUB ", "CONNECT ", "MSG ", "PING", "-ERR ", "",
    ];
    for i in 0..200 {
        let mut c = if i % 2 == 0 {
            server.client(QUIET)
        } else {
            server.connect()
        };
        let mut junk = ops[(next() % ops.len() as u64) as usize]
            .as_bytes()
            .to_vec();
        let len = (next() % 3000) as usize;
        junk.extend((0..len).map(|_| match next() % 8 {
            0 => b' ',
            1 => b'\r',
            2 => b'\n',
            3 => b'0' + (next() % 10) as u8,
            _ => next() as u8,
        }));
        c.stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let _ = c.stream.write_all(&junk);
        // Whatever it answered, it must not hang: a PING gets a PONG or
        // the connection is (or gets) closed.
        let _ = c.stream.write_all(b"\r\nPING\r\n");
        let _ = c.read_until_closed(Duration::from_millis(200));
    }
    by.send("PUB by 2\r\nok\r\n");
    let mut lines = by.flush();
    lines.retain(|l| l != "PING");
    assert_eq!(lines, ["MSG by 1 2", "ok"], "bystander");
    // Back to the baseline but for the threads parked for reuse.
    let limit = base_threads + PARKED_CONNECTION_THREADS;
    let deadline = Instant::now() + Duration::from_secs(5);
    while status_field(pid, "Threads:") > limit && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        status_field(pid, "Threads:") <= limit,
        "threads {} > baseline {base_threads} + {PARKED_CONNECTION_THREADS} parked",
        status_field(pid, "Threads:")
    );
}
