//! Limits set through a config file (`-c FILE`, a JSON object):
//! max_payload (P08), max_control_line, max_connections (L01),
//! max_subscriptions (L02), max_pending (L04), ping_interval/ping_max (L05).
//! Timings are shortened in the config so the suite stays fast.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::util::{RawClient, ServerProcess, IO_TIMEOUT};

const QUIET: &str = r#"{"verbose":false}"#;

/// P08: a payload of exactly max_payload is delivered; one byte more is
/// refused from the PUB line alone (no payload sent), and the connection
/// is closed. INFO advertises the limit.
#[test]
fn p08_max_payload_from_config() {
    let server = ServerProcess::start_selected_with_config(r#"{"max_payload": 1024}"#, &[]);
    let mut sub = server.connect();
    assert_eq!(sub.read_info()["max_payload"], 1024);
    sub.send("CONNECT {\"verbose\":false}\r\nSUB big 1\r\n");
    sub.flush();
    let mut c = server.client(QUIET);
    let payload = "x".repeat(1024);
    c.send(format!("PUB big 1024\r\n{payload}\r\n"));
    assert!(c.flush().is_empty());
    assert_eq!(
        sub.read_msg(),
        ("MSG big 1 1024".into(), payload.clone().into_bytes())
    );
    c.send("PUB big 1025\r\n");
    c.expect_err_and_close("-ERR 'Maximum Payload Violation'", false);
    // HPUB counts headers and payload together.
    let mut h = server.client(r#"{"verbose":false,"headers":true}"#);
    h.send("HPUB big 12 1025\r\n");
    h.expect_err_and_close("-ERR 'Maximum Payload Violation'", false);
    assert!(sub.flush().is_empty(), "nothing else delivered");
}

/// A smaller max_control_line applies to every control line.
#[test]
fn max_control_line_from_config() {
    let server = ServerProcess::start_selected_with_config(r#"{"max_control_line": 256}"#, &[]);
    let mut c = server.client(QUIET);
    let ok = "s".repeat(200);
    c.send(format!("SUB {ok} 1\r\nPUB {ok} 1\r\nx\r\n"));
    assert_eq!(c.flush(), [format!("MSG {ok} 1 1"), "x".to_string()]);
    let long = "s".repeat(400);
    c.send(format!("SUB {long} 2\r\n"));
    c.expect_err_and_close("-ERR 'maximum control line exceeded'", true);
    // Not yet ended, before CONNECT.
    let mut c = server.connect();
    c.read_info();
    c.send(format!("PUB {long}"));
    c.expect_err_and_close("-ERR 'maximum control line exceeded'", true);
}

/// L01: over max_connections the server sends INFO, then `maximum
/// connections exceeded`, and closes; the others are unaffected; once one
/// leaves, a new connection is accepted.
#[test]
fn l01_max_connections() {
    let server = ServerProcess::start_selected_with_config(r#"{"max_connections": 3}"#, &[]);
    let mut clients: Vec<RawClient> = (0..3).map(|_| server.client(QUIET)).collect();
    let mut fourth = server.connect();
    fourth.read_info();
    fourth.expect_err_and_close("-ERR 'maximum connections exceeded'", false);
    for c in clients.iter_mut() {
        assert!(c.flush().is_empty(), "existing client unaffected");
    }
    drop(clients.pop());
    // The server learns of the close asynchronously: retry (bounded) until
    // a new connection is let in.
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let mut c = server.connect();
        c.read_info();
        c.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
        let line = c.read_line();
        if line == "PONG" {
            break;
        }
        assert_eq!(line, "-ERR 'maximum connections exceeded'");
        assert!(Instant::now() < deadline, "no slot freed after a close");
    }
}

/// L02: over max_subscriptions, `maximum subscriptions exceeded`; the
/// connection stays open and the first subscriptions still receive.
#[test]
fn l02_max_subscriptions() {
    let server = ServerProcess::start_selected_with_config(r#"{"max_subscriptions": 3}"#, &[]);
    let mut c = server.client(QUIET);
    c.send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n");
    assert!(c.flush().is_empty());
    c.send("SUB d 4\r\n");
    assert_eq!(c.flush(), ["-ERR 'maximum subscriptions exceeded'"]);
    c.send("PUB a 1\r\n1\r\nPUB b 1\r\n2\r\nPUB c 1\r\n3\r\nPUB d 1\r\n4\r\n");
    assert_eq!(
        c.flush(),
        ["MSG a 1 1", "1", "MSG b 2 1", "2", "MSG c 3 1", "3"]
    );
    // The limit is per connection.
    let mut other = server.client(QUIET);
    other.send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n");
    assert!(other.flush().is_empty());
    // After an UNSUB there is room again.
    c.send("UNSUB 1\r\nSUB d 4\r\nPUB d 1\r\n4\r\n");
    assert_eq!(c.flush(), ["MSG d 4 1", "4"]);
}

/// L04: a client that floods PINGs and never reads its PONGs is closed as a
/// slow consumer once its pending output passes max_pending, without an
/// `-ERR`; it gets far fewer PONGs than PINGs it sent.
#[test]
fn l04_ping_flood_slow_consumer() {
    const PINGS: usize = 16 * 1024 * 1024 / 6;
    let server = ServerProcess::start_selected_with_config(r#"{"max_pending": 1048576}"#, &[]);
    let mut c = server.client(QUIET);
    let mut stream = c.stream.try_clone().unwrap();
    // A server that stopped reading must fail the test, not hang it.
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = "PING\r\n".repeat(8192);
        let mut sent = 0;
        while sent < PINGS {
            match stream.write_all(chunk.as_bytes()) {
                Ok(()) => sent += 8192,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err("server stopped reading".to_string())
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err("server stopped reading".to_string())
                }
                // Closed by the server: what we expect.
                Err(_) => return Ok(sent),
            }
        }
        Ok(sent)
    });
    let sent = writer.join().unwrap().expect("flood");
    let (bytes, closed) = c.read_bytes_until_closed(IO_TIMEOUT);
    let pongs = bytes.len() / 6;
    eprintln!("l04: wrote {sent} PINGs before the close, read {pongs} PONGs");
    assert!(closed, "slow consumer not closed ({pongs} PONGs read)");
    assert!(
        pongs < PINGS,
        "closed only after every PONG was written ({pongs} of {PINGS}; sent {sent})"
    );
    // Whatever was sent before the close is PONGs (the last one maybe cut
    // short): a slow consumer is closed without an -ERR.
    let text = String::from_utf8_lossy(&bytes);
    let (whole, tail) = text.split_at(text.rfind("\r\n").map_or(0, |i| i + 2));
    let odd = whole.split_terminator("\r\n").find(|l| *l != "PONG");
    assert!(
        odd.is_none(),
        "unexpected line {odd:?} from a slow consumer"
    );
    assert!("PONG\r\n".starts_with(tail), "unexpected tail {tail:?}");
    // The server is fine for others.
    let mut other = server.client(QUIET);
    assert!(other.flush().is_empty());
}

/// A subscriber that stops reading is cut off (no `-ERR`) once it falls
/// behind by max_pending or blocks a write past write_deadline; a
/// subscriber that keeps reading gets every message and the publisher
/// stays connected. (nats-server 2.9.10 stalls the publisher until the
/// write deadline cuts the stalled one off, hence a short deadline here.)
#[test]
fn slow_subscriber_closed_publisher_unaffected() {
    const MSGS: usize = 512;
    let server = ServerProcess::start_selected_with_config(
        r#"{"max_pending": 1048576, "write_deadline": "1s"}"#,
        &[],
    );
    let mut stalled = server.client(QUIET);
    stalled.send("SUB flood 1\r\n");
    stalled.flush();
    let mut reader = server.client(QUIET);
    reader.send("SUB flood 1\r\n");
    reader.flush();
    let mut publ = server.client(QUIET);
    publ.stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let payload = "p".repeat(64 * 1024);
    let msg = format!("PUB flood {}\r\n{payload}\r\n", payload.len());
    // The reader drains in the background while the publisher floods.
    let mut reader_stream = reader.stream.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        let want = MSGS * (payload.len() + 2 + "MSG flood 1 65536\r\n".len());
        reader_stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        while total < want {
            match std::io::Read::read(&mut reader_stream, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        // At least: on a slow run the server's first PING (about a
        // second after CONNECT) arrives among the messages.
        (total >= want, total)
    });
    for _ in 0..MSGS {
        publ.send(&msg);
    }
    // The publisher is answered (after a server PING, maybe).
    publ.ping_pong();
    let (complete, total) = drain.join().unwrap();
    assert!(
        complete,
        "the reading subscriber was cut off after {total} bytes"
    );
    let (bytes, closed) = stalled.read_bytes_until_closed(IO_TIMEOUT);
    assert!(
        closed,
        "stalled subscriber not closed after {} of {} bytes",
        bytes.len(),
        MSGS * msg.len()
    );
    assert!(bytes.len() < MSGS * msg.len(), "everything was delivered");
    assert!(
        !String::from_utf8_lossy(&bytes).contains("-ERR"),
        "a slow consumer gets no -ERR"
    );
}

/// A subscriber that keeps reading, only slower than the publisher writes,
/// is not cut off: the server holds the fast publisher back instead
/// (nats-server stalls a producer whose subscriber's pending output nears
/// max_pending). The reader is paced by short sleeps; nothing here uses a
/// sleep to wait for the server.
#[test]
fn slower_reading_subscriber_not_cut_off() {
    const MSGS: usize = 256;
    let server = ServerProcess::start_selected_with_config(r#"{"max_pending": 1048576}"#, &[]);
    let mut reader = server.client(QUIET);
    reader.send("SUB flood 1\r\n");
    reader.flush();
    let payload = "p".repeat(64 * 1024);
    let msg = format!("PUB flood {}\r\n{payload}\r\n", payload.len());
    let want = MSGS * (payload.len() + 2 + "MSG flood 1 65536\r\n".len());
    let mut reader_stream = reader.stream.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut buf = vec![0u8; 16 * 1024];
        reader_stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        while total < want {
            match std::io::Read::read(&mut reader_stream, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
            // About 16 MB/s at most: slower than a loopback publisher.
            std::thread::sleep(Duration::from_millis(1));
        }
        total
    });
    let mut publ = server.client(QUIET);
    publ.stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for _ in 0..MSGS {
        publ.send(&msg);
    }
    publ.ping_pong();
    let total = drain.join().unwrap();
    assert_eq!(total, want, "the reading subscriber was cut off");
}

/// L05: with ping_interval 1s and ping_max 2, a client that never answers
/// gets PING, PING, then `Stale Connection` and is closed.
#[test]
fn l05_stale_connection() {
    let server =
        ServerProcess::start_selected_with_config(r#"{"ping_interval": "1s", "ping_max": 2}"#, &[]);
    let mut c = server.client(QUIET);
    let started = Instant::now();
    c.expect_line("PING");
    c.expect_line("PING");
    c.expect_err_and_close("-ERR 'Stale Connection'", false);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

/// L05: unprompted PONGs do not reset the count of unanswered PINGs.
#[test]
fn l05_unprompted_pongs_do_not_reset() {
    let server =
        ServerProcess::start_selected_with_config(r#"{"ping_interval": "1s", "ping_max": 2}"#, &[]);
    let mut c = server.client(QUIET);
    c.send("PONG\r\n".repeat(100));
    c.expect_line("PING");
    c.expect_line("PING");
    c.expect_err_and_close("-ERR 'Stale Connection'", false);
}

/// A client that answers the server's PINGs stays connected.
#[test]
fn ping_answered_keeps_connection() {
    let server =
        ServerProcess::start_selected_with_config(r#"{"ping_interval": "1s", "ping_max": 1}"#, &[]);
    let mut c = server.client(QUIET);
    for _ in 0..3 {
        c.expect_line("PING");
        c.send("PONG\r\n");
    }
    // Still open: our PING is answered (a server PING may come first).
    c.send("PING\r\n");
    loop {
        match c.read_line().as_str() {
            "PONG" => break,
            "PING" => c.send("PONG\r\n"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
