//! Fairness between publishers that share one subscriber: 100 connections
//! publish as fast as they can, each on its own subject, into one wildcard
//! subscription (the side-by-side benchmark's scenario j). However the
//! server hands their messages to the subscriber (one outbound, stalls of
//! fast producers, a writer thread), no publisher may be starved: when the
//! subscriber has received a fixed number of messages in all, every
//! publisher's share of them must be a fair fraction of the mean.
//!
//! The subscriber reads as fast as it can; the publishers are paced only
//! by the server (TCP back-pressure and its producer stalls). The shares
//! are counted over a window between two exact message counts, not over a
//! time, so a loaded machine makes the run slower, not different. The
//! window starts after a warm-up: at first each publisher's socket buffers
//! megabytes, and which publishers the server reads first is the
//! scheduler's choice, for nats-server too; what must hold is the steady
//! state. Messages are 1 KiB so that the window spans many of the server's
//! read batches per publisher (a batch is its unit of fairness) while
//! staying short for a debug build.

use std::io::Write;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::util::{read_some, skip_under_reference, time_left, RawClient, ServerProcess};

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

/// Publisher connections.
const PUBLISHERS: usize = 100;
/// Payload bytes per message.
const PAYLOAD: usize = 4096;
/// Messages the subscriber receives before the window opens.
const WARM_UP: usize = 10_000;
/// Messages the window counts (about 25 of the server's 64 KiB read
/// batches per publisher).
const MEASURED: usize = PUBLISHERS * 400;
/// No publisher's share may be below this fraction of the mean share.
const MIN_FRACTION_OF_MEAN: f64 = 0.25;
/// The whole exchange must be over within this.
const LIMIT: Duration = Duration::from_secs(120);

/// The number at the start of `bytes` and the bytes after it.
fn leading_number(bytes: &[u8]) -> (usize, &[u8]) {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = bytes[..digits]
        .iter()
        .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
    (n, &bytes[digits..])
}

/// A complete op at the start of the subscriber's input.
enum Op {
    /// `MSG fair.<publisher> 1 <len>`, its payload at `payload`.
    Msg {
        publisher: usize,
        payload: std::ops::Range<usize>,
    },
    /// `PING`.
    Ping,
}

/// The op at the start of `bytes` and its length, `None` when more bytes
/// are needed.
fn next_op(bytes: &[u8]) -> Option<(Op, usize)> {
    const PREFIX: &[u8] = b"MSG fair.";
    if bytes.len() < PREFIX.len() + 12 {
        return None;
    }
    if bytes.starts_with(b"PING\r\n") {
        return Some((Op::Ping, 6));
    }
    let bad = || -> ! {
        let op = String::from_utf8_lossy(&bytes[..PREFIX.len() + 12]);
        panic!("unexpected op {op:?}")
    };
    if !bytes.starts_with(PREFIX) {
        bad();
    }
    let (publisher, rest) = leading_number(&bytes[PREFIX.len()..]);
    let Some(rest) = rest.strip_prefix(b" 1 ") else {
        bad()
    };
    let (len, rest) = leading_number(rest);
    if rest.len() >= 2 && !rest.starts_with(b"\r\n") {
        bad();
    }
    let start = bytes.len() - rest.len() + 2;
    let whole = start + len + 2;
    let payload = start..start + len;
    (bytes.len() >= whole).then_some((Op::Msg { publisher, payload }, whole))
}

/// Publisher `i`'s payload: one letter repeated, which the subscriber
/// checks byte by byte.
fn payload_byte(i: usize) -> u8 {
    b'a' + (i % 26) as u8
}

/// Read `MSG`s from `sub` until `WARM_UP + MEASURED` have arrived; the
/// count per publisher of the last `MEASURED`.
fn count_window(sub: &mut RawClient, deadline: Instant) -> Vec<usize> {
    let mut counts = vec![0usize; PUBLISHERS];
    let mut total = 0;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut at = 0;
    loop {
        // Every complete op in the buffer.
        while let Some((op, len)) = next_op(&buf[at..]) {
            let Op::Msg { publisher, payload } = op else {
                sub.stream.write_all(b"PONG\r\n").expect("PONG");
                at += len;
                continue;
            };
            assert!(publisher < PUBLISHERS, "publisher index {publisher}");
            let want = payload_byte(publisher);
            let payload = &buf[at + payload.start..at + payload.end];
            assert!(
                payload.len() == PAYLOAD && payload.iter().all(|&b| b == want),
                "publisher {publisher}'s payload corrupted"
            );
            at += len;
            let index = publisher;
            total += 1;
            if total > WARM_UP {
                counts[index] += 1;
            }
            if total == WARM_UP + MEASURED {
                return counts;
            }
        }
        buf.drain(..at);
        at = 0;
        let left = time_left(deadline).unwrap_or_else(|_| {
            panic!(
                "only {total} of {} messages arrived within {LIMIT:?}",
                WARM_UP + MEASURED
            )
        });
        sub.stream.set_read_timeout(Some(left)).unwrap();
        read_some(&mut sub.stream, &mut buf)
            .unwrap_or_else(|e| panic!("subscriber after {total} messages: {e}"));
    }
}

#[test]
fn hundred_publishers_into_one_subscriber_each_get_a_fair_share() {
    // nats-server 2.9.10 does not hold this: its publishers reach the
    // subscriber in whatever order Go's scheduler runs them, and over
    // 30,000 messages the least served got 9 to 16 of a mean of 300.
    if skip_under_reference("nats-server does not share one subscriber fairly") {
        return;
    }
    let server = ServerProcess::start_selected(&[]);
    let deadline = Instant::now() + LIMIT;

    let mut sub = server.connect();
    sub.handshake(QUIET);
    sub.send("SUB fair.* 1\r\n");
    sub.ping_pong();

    // Every publisher is connected and known to the server before any starts.
    let publishers: Vec<RawClient> = (0..PUBLISHERS)
        .map(|_| {
            let mut p = server.connect();
            p.handshake(QUIET);
            p
        })
        .collect();
    let start = Arc::new(Barrier::new(PUBLISHERS + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            let (start, stop) = (start.clone(), stop.clone());
            std::thread::spawn(move || {
                let payload = String::from(char::from(payload_byte(i))).repeat(PAYLOAD);
                let chunk = format!("PUB fair.{i} {PAYLOAD}\r\n{payload}\r\n").repeat(16);
                p.stream.set_write_timeout(Some(LIMIT)).unwrap();
                start.wait();
                let mut sent = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = p.stream.write_all(chunk.as_bytes()) {
                        // Only an error before the stop is a failure.
                        assert!(
                            stop.load(Ordering::Relaxed),
                            "publisher {i} after {sent} messages: {e}"
                        );
                        break;
                    }
                    sent += 16;
                }
                sent
            })
        })
        .collect();

    start.wait();
    let began = Instant::now();
    let counts = count_window(&mut sub, deadline);
    let took = began.elapsed();
    stop.store(true, Ordering::Relaxed);
    // Publishers blocked on back-pressure are released once the subscriber
    // is gone and the server drops what was meant for it.
    let _ = sub.stream.shutdown(Shutdown::Both);
    let sent: usize = threads
        .into_iter()
        .map(|t| t.join().expect("publisher thread"))
        .sum();

    let mean = MEASURED as f64 / PUBLISHERS as f64;
    let (min_i, &min) = counts
        .iter()
        .enumerate()
        .min_by_key(|(_, &c)| c)
        .expect("publishers");
    let max = counts.iter().copied().max().unwrap_or(0);
    println!(
        "{MEASURED} messages from {PUBLISHERS} publishers counted after {WARM_UP} in {took:?} \
         ({sent} written): per publisher min {min} (publisher {min_i}), max {max}, mean {mean:.0}"
    );
    assert!(
        min as f64 >= MIN_FRACTION_OF_MEAN * mean,
        "publisher {min_i} got {min} of {MEASURED} messages, below {MIN_FRACTION_OF_MEAN} of \
         the mean {mean:.0} (max {max}); shares: {counts:?}"
    );
}
