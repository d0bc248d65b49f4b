//! Micro-benchmarks of the subject index (`cargo bench --bench sublist`):
//! matching one literal subject against 10, 1,000 and 100,000
//! subscriptions (a mix of literal, `*` and `>` patterns), with the shared
//! result cache off (a walk of the trie every time) and on (a repeated
//! subject, as a publisher sends it); and the churn of inserting and
//! removing one subscription in an index of 1,000.
//!
//! Kept short (10 samples, 1 s of measurement each) so that the whole of
//! `cargo bench` takes a couple of minutes.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nats_lite::server::sublist::Sublist;
use nats_lite::server::subscription::Subscription;

/// The subject published to: it matches the literal subscription 1, some
/// `*` ones and some `>` ones, more of them as the index grows.
const SUBJECT: &[u8] = b"bench.1.0.1";

/// Subscription `i`: 7 in 10 literal (`bench.A.B.i`), 2 in 10 with a `*`
/// (`bench.A.*.C`), 1 in 10 with a `>` (`bench.A.>`); A, B and C cycle
/// over 97, 89 and 101 values, so that the index is wide and deep.
fn pattern(i: usize) -> String {
    let (a, b, c) = (i % 97, (i / 97) % 89, i % 101);
    match i % 10 {
        0..=6 => format!("bench.{a}.{b}.{i}"),
        7 | 8 => format!("bench.{a}.*.{c}"),
        _ => format!("bench.{a}.>"),
    }
}

fn filled(n: usize) -> Sublist {
    let list = Sublist::default();
    for i in 0..n {
        let sid = i.to_string();
        list.insert(Arc::new(Subscription::detached(
            pattern(i).as_bytes(),
            None,
            sid.as_bytes(),
        )));
    }
    list
}

fn matching(c: &mut Criterion) {
    let mut g = c.benchmark_group("sublist_match");
    for n in [10, 1_000, 100_000] {
        let uncached = filled(n);
        uncached.disable_cache();
        let (result, _) = uncached.match_subject(SUBJECT);
        assert!(!result.is_empty(), "the subject matches subscription 1");
        g.bench_with_input(BenchmarkId::new("uncached", n), &uncached, |b, list| {
            b.iter(|| list.match_subject(black_box(SUBJECT)))
        });
        drop(uncached);
        let cached = filled(n);
        g.bench_with_input(BenchmarkId::new("cached", n), &cached, |b, list| {
            b.iter(|| list.match_subject(black_box(SUBJECT)))
        });
    }
    g.finish();
}

fn churn(c: &mut Criterion) {
    let list = filled(1_000);
    let sub = Arc::new(Subscription::detached(b"bench.7.*.churn", None, b"churn"));
    c.bench_function("sublist_insert_remove/1000", |b| {
        b.iter(|| {
            list.insert(sub.clone());
            assert!(list.remove(black_box(&sub)));
        })
    });
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
    targets = matching, churn
}
criterion_main!(benches);
