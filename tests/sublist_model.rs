//! The subject index against a naive reference (reliability-cases.md S03),
//! shared by the proptests in `reliability_properties.rs` and the cargo-fuzz
//! target `fuzz/fuzz_targets/sublist_matches.rs` (which includes this file
//! by path).
//!
//! Subscriptions are inserted into a [`Sublist`], some are removed again,
//! and for each subject the index's result must equal what a plain
//! token-by-token walk ([`matches`]) says, subscription for subscription,
//! with queue subscriptions grouped by their queue name. Every lookup is
//! made twice, so the second one can come from the index's result cache.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use nats_lite::protocol::subject::{is_valid_literal_subject, is_valid_subject, matches};
use nats_lite::server::sublist::Sublist;
use nats_lite::server::subscription::Subscription;

/// Tokens the generators draw from: literals that share prefixes, tokens
/// holding `*` or `>` as literal characters, and the two wildcards.
pub const TOKENS: &[&str] = &["a", "b", "ab", "foo", "a*", ">x", "*", ">"];

/// One subscription to insert: pattern, optional queue, and whether it is
/// removed again before the lookups.
#[derive(Debug, Clone)]
pub struct SubSpec {
    pub pattern: String,
    pub queue: Option<String>,
    pub removed: bool,
}

/// What a lookup found: plain sids, and sids per queue name (all sorted).
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    pub plain: Vec<String>,
    pub queues: BTreeMap<String, Vec<String>>,
}

/// Insert `subs` (skipping patterns that are not valid SUB subjects, as
/// the server does), remove the ones marked, look every valid literal
/// subject up twice, and compare with [`matches`]. Panics on a difference.
pub fn check_sublist(subs: &[SubSpec], subjects: &[String], no_cache: bool) {
    let sl = Sublist::default();
    if no_cache {
        sl.disable_cache();
    }
    let mut kept: Vec<(usize, &SubSpec)> = Vec::new();
    let mut to_remove = Vec::new();
    for (i, spec) in subs.iter().enumerate() {
        if !is_valid_subject(spec.pattern.as_bytes()) {
            continue;
        }
        let sub = Arc::new(Subscription::detached(
            spec.pattern.as_bytes(),
            spec.queue.as_deref().map(str::as_bytes),
            i.to_string().as_bytes(),
        ));
        sl.insert(sub.clone());
        if spec.removed {
            to_remove.push(sub);
        } else {
            kept.push((i, spec));
        }
    }
    // Look a subject up before the removals too, so a stale cache entry
    // would show.
    for s in subjects {
        if is_valid_literal_subject(s.as_bytes()) {
            let _ = sl.match_subject(s.as_bytes());
        }
    }
    for sub in &to_remove {
        assert!(sl.remove(sub), "remove {:?}", sub.subject);
        assert!(!sl.remove(sub), "second remove of {:?}", sub.subject);
    }
    assert_eq!(sl.count() as usize, kept.len(), "count after removals");
    for s in subjects {
        if !is_valid_literal_subject(s.as_bytes()) {
            continue;
        }
        let mut want = Found {
            plain: Vec::new(),
            queues: BTreeMap::new(),
        };
        for (i, spec) in &kept {
            if matches(spec.pattern.as_bytes(), s.as_bytes()) {
                match &spec.queue {
                    None => want.plain.push(i.to_string()),
                    Some(q) => want
                        .queues
                        .entry(q.clone())
                        .or_default()
                        .push(i.to_string()),
                }
            }
        }
        want.plain.sort();
        want.queues.values_mut().for_each(|v| v.sort());
        for round in 0..2 {
            let (result, _) = sl.match_subject(s.as_bytes());
            let mut got = Found {
                plain: result.psubs.iter().map(sid).collect(),
                queues: BTreeMap::new(),
            };
            for group in &result.qsubs {
                assert!(!group.is_empty(), "empty queue group for {s:?}");
                let name = String::from_utf8_lossy(group[0].queue.as_deref().unwrap()).into_owned();
                for m in group {
                    assert_eq!(
                        m.queue.as_deref(),
                        group[0].queue.as_deref(),
                        "one group mixes queue names for {s:?}"
                    );
                }
                let prev = got
                    .queues
                    .insert(name.clone(), group.iter().map(sid).collect());
                assert!(
                    prev.is_none(),
                    "queue {name:?} split in two groups for {s:?}"
                );
            }
            got.plain.sort();
            got.queues.values_mut().for_each(|v| v.sort());
            assert_eq!(
                got, want,
                "subject {s:?} (lookup {round}, cache off: {no_cache}); subscriptions {subs:?}"
            );
        }
    }
}

fn sid(s: &Arc<Subscription>) -> String {
    String::from_utf8_lossy(&s.sid).into_owned()
}

/// A subject of 1..=5 tokens chosen by `bytes`: from `TOKENS`, or from its
/// literal tokens only (the first six) when `literal`.
pub fn subject_from(bytes: &[u8], literal: bool) -> String {
    let n = 1 + bytes.first().map_or(0, |b| (*b as usize) % 5);
    let choices = if literal { 6 } else { TOKENS.len() };
    (0..n)
        .map(|i| TOKENS[bytes.get(i + 1).map_or(0, |b| *b as usize) % choices])
        .collect::<Vec<_>>()
        .join(".")
}

/// Decode a fuzzer's input into subscriptions and subjects: records of
/// 7 bytes (kind, 6 subject bytes); kind bit 0: a subject to look up
/// (literal tokens only) rather than a subscription; bits 1-2: queue
/// `q0`/`q1` or none; bit 3: removed again.
pub fn decode(data: &[u8]) -> (Vec<SubSpec>, Vec<String>) {
    let mut subs = Vec::new();
    let mut subjects = Vec::new();
    for rec in data.chunks_exact(7) {
        let kind = rec[0];
        if kind & 1 == 1 {
            subjects.push(subject_from(&rec[1..], true));
        } else {
            let queue = match (kind >> 1) & 3 {
                1 => Some("q0".to_string()),
                2 => Some("q1".to_string()),
                _ => None,
            };
            subs.push(SubSpec {
                pattern: subject_from(&rec[1..], false),
                queue,
                removed: kind & 8 != 0,
            });
        }
    }
    (subs, subjects)
}
