//! Micro-benchmarks of the protocol parser (`cargo bench --bench parser`):
//! a buffer of many `PUB foo 16` ops parsed in one go (the server's side,
//! every op already read); the same bytes arriving in reads of 4096 bytes,
//! so that ops are split across reads and the tail is kept and parsed again,
//! as the server's read loop does; and a buffer of `MSG` ops on the client's
//! side. Each measures whole buffers of [`OPS`] ops and reports ops/s.
//!
//! Kept short (10 samples, 1 s of measurement each) so that the whole of
//! `cargo bench` takes a couple of minutes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nats_lite::protocol::parser::{parse_client_op, parse_server_op, Limits, Parsed};

/// Ops in each benchmark's buffer.
const OPS: usize = 10_000;
/// nats-server's default limits.
const LIMITS: Limits = Limits {
    max_control_line: 4096,
    max_payload: 1024 * 1024,
};
/// The read size of the split benchmark.
const READ: usize = 4096;

fn repeated(op: &[u8]) -> Vec<u8> {
    op.repeat(OPS)
}

/// Parse every client op of `buf`; the number of ops.
fn parse_client_all(buf: &[u8]) -> usize {
    let (mut pos, mut n) = (0, 0);
    while let Ok(Parsed::Op(op, used)) = parse_client_op(&buf[pos..], &LIMITS) {
        black_box(op);
        pos += used;
        n += 1;
    }
    n
}

/// Feed `input` in reads of `read` bytes into `buf` and parse what is
/// complete after each read, keeping the tail: the server's read loop.
fn parse_client_split(input: &[u8], read: usize, buf: &mut Vec<u8>) -> usize {
    buf.clear();
    let mut n = 0;
    for piece in input.chunks(read) {
        buf.extend_from_slice(piece);
        let mut pos = 0;
        while let Ok(Parsed::Op(op, used)) = parse_client_op(&buf[pos..], &LIMITS) {
            black_box(op);
            pos += used;
            n += 1;
        }
        buf.drain(..pos);
    }
    n
}

/// Parse every server op of `buf`; the number of ops.
fn parse_server_all(buf: &[u8]) -> usize {
    let (mut pos, mut n) = (0, 0);
    while let Ok(Parsed::Op(op, used)) = parse_server_op(&buf[pos..], &LIMITS) {
        black_box(op);
        pos += used;
        n += 1;
    }
    n
}

fn parser(c: &mut Criterion) {
    let pubs = repeated(b"PUB foo 16\r\n0123456789abcdef\r\n");
    let msgs = repeated(b"MSG foo 1 16\r\n0123456789abcdef\r\n");
    let mut tail = Vec::with_capacity(2 * READ);
    // Every op is parsed, whatever the split: check once, outside the timing.
    assert_eq!(parse_client_all(&pubs), OPS);
    assert_eq!(parse_client_split(&pubs, READ, &mut tail), OPS);
    assert_eq!(parse_server_all(&msgs), OPS);

    let mut g = c.benchmark_group("parser");
    g.throughput(Throughput::Elements(OPS as u64));
    g.bench_function("pub_16B", |b| b.iter(|| parse_client_all(black_box(&pubs))));
    g.bench_function("pub_16B_split_4096", |b| {
        b.iter(|| parse_client_split(black_box(&pubs), READ, &mut tail))
    });
    g.bench_function("msg_16B_client", |b| {
        b.iter(|| parse_server_all(black_box(&msgs)))
    });
    g.finish();
}

fn quick() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = quick();
    targets = parser
}
criterion_main!(benches);
