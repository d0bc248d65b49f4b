//! The subject index of one account: a trie of subject tokens with
//! dedicated slots for `*` and `>` (nats-server's `server/sublist.go`), and
//! the match results it produces.
//!
//! Matching walks the trie once per subject and returns every plain
//! subscription plus the queue groups (members merged by group name).
//! Results are shared as `Arc<MatchResult>` so that caches can hold them:
//! every insert or removal bumps a generation number, and a cache entry is
//! good only while the generation it was made in is current. Publishers keep
//! such a cache per connection thread (see `client.rs`), so a cache hit costs
//! no lock at all; this module keeps a small shared cache behind its own
//! lock for the other lookups, and the statistics `/subsz` reports.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::subscription::Subscription;
use crate::protocol::subject::{FWC, PWC, TSEP};

/// How many results the shared cache keeps before it is cleared.
const SHARED_CACHE_MAX: usize = 1024;

/// Every subscription matching one subject.
#[derive(Debug, Default)]
pub struct MatchResult {
    /// Plain subscriptions: each gets the message.
    pub psubs: Vec<Arc<Subscription>>,
    /// Queue groups: one member of each gets the message.
    pub qsubs: Vec<Vec<Arc<Subscription>>>,
    /// Some of them are remote (a peer server's interest): the message
    /// takes the clustered path.
    pub remote: bool,
}

impl MatchResult {
    /// No subscriber at all.
    pub fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.is_empty()
    }
}

#[derive(Default)]
struct Level {
    literals: HashMap<Box<[u8]>, Node>,
    pwc: Option<Box<Node>>,
    fwc: Option<Box<Node>>,
}

impl Level {
    fn is_empty(&self) -> bool {
        self.literals.is_empty() && self.pwc.is_none() && self.fwc.is_none()
    }
}

/// A queue group's name and members at one node.
type QueueGroup = (Box<[u8]>, Vec<Arc<Subscription>>);

#[derive(Default)]
struct Node {
    next: Option<Box<Level>>,
    psubs: Vec<Arc<Subscription>>,
    qsubs: Vec<QueueGroup>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.psubs.is_empty()
            && self.qsubs.is_empty()
            && self.next.as_ref().is_none_or(|l| l.is_empty())
    }
}

/// Counters for `/subsz`.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SublistStats {
    /// Subscriptions in the index.
    pub num_subscriptions: u64,
    /// Results in the shared cache.
    pub num_cache: u64,
    /// Subscriptions ever inserted.
    pub num_inserts: u64,
    /// Subscriptions ever removed.
    pub num_removes: u64,
    /// Lookups (cached or not).
    pub num_matches: u64,
    /// Share of lookups answered from a cache.
    #[serde(serialize_with = "crate::server::monitor::format::go_float")]
    pub cache_hit_rate: f64,
    /// Largest result seen.
    pub max_fanout: u64,
    /// Mean result size.
    #[serde(serialize_with = "crate::server::monitor::format::go_float")]
    pub avg_fanout: f64,
}

/// The subject index of one account, safe to share between threads.
#[derive(Default)]
pub struct Sublist {
    root: RwLock<Level>,
    count: AtomicU64,
    genid: AtomicU64,
    inserts: AtomicU64,
    removes: AtomicU64,
    matches: AtomicU64,
    cache_hits: AtomicU64,
    fanout_total: AtomicU64,
    fanout_max: AtomicU64,
    cache: Mutex<HashMap<Box<[u8]>, Arc<MatchResult>>>,
    no_cache: std::sync::atomic::AtomicBool,
}

impl Sublist {
    /// Turn the shared result cache off (`disable_sublist_cache`).
    pub fn disable_cache(&self) {
        self.no_cache.store(true, Ordering::Relaxed);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The generation: it changes with every insert and removal.
    pub fn genid(&self) -> u64 {
        self.genid.load(Ordering::Acquire)
    }

    /// Number of subscriptions in the index.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Add a subscription.
    pub fn insert(&self, sub: Arc<Subscription>) {
        let mut root = self.root.write().unwrap_or_else(|e| e.into_inner());
        let mut level: &mut Level = &mut root;
        let mut tokens = sub.subject.split(|&b| b == TSEP).peekable();
        let node = loop {
            let t = tokens.next().unwrap_or_default();
            let node: &mut Node = match t {
                [PWC] => level.pwc.get_or_insert_with(Box::default),
                [FWC] => level.fwc.get_or_insert_with(Box::default),
                _ => level.literals.entry(t.into()).or_default(),
            };
            if tokens.peek().is_none() {
                break node;
            }
            level = node.next.get_or_insert_with(Box::default);
        };
        match &sub.queue {
            None => node.psubs.push(sub.clone()),
            Some(q) => match node.qsubs.iter_mut().find(|(name, _)| name == q) {
                Some((_, members)) => members.push(sub.clone()),
                None => node.qsubs.push((q.clone(), vec![sub.clone()])),
            },
        }
        self.changed(&mut root);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inserts.fetch_add(1, Ordering::Relaxed);
    }

    /// Remove a subscription (by identity); false when it was not there.
    pub fn remove(&self, sub: &Arc<Subscription>) -> bool {
        let mut root = self.root.write().unwrap_or_else(|e| e.into_inner());
        let tokens: Vec<&[u8]> = sub.subject.split(|&b| b == TSEP).collect();
        let removed = remove_from(&mut root, &tokens, sub);
        if removed {
            self.changed(&mut root);
            self.count.fetch_sub(1, Ordering::Relaxed);
            self.removes.fetch_add(1, Ordering::Relaxed);
        }
        removed
    }

    /// Called with the write lock held: bump the generation, drop the cache.
    /// The generation moves and the cache empties in one step under the
    /// cache lock, so a cache hit is never stamped with a generation newer
    /// than the result it returns.
    fn changed(&self, _root: &mut Level) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        self.genid.fetch_add(1, Ordering::AcqRel);
        cache.clear();
    }

    /// Every subscription matching the literal `subject`, with the
    /// generation it is valid for.
    pub fn match_subject(&self, subject: &[u8]) -> (Arc<MatchResult>, u64) {
        self.match_subject_with(subject, true)
    }

    /// [`Sublist::match_subject`]; with `keep` false a result the shared
    /// cache does not hold is not added to it (the caller expects no
    /// repeat: a subject it has not looked up lately).
    pub fn match_subject_with(&self, subject: &[u8], keep: bool) -> (Arc<MatchResult>, u64) {
        self.matches.fetch_add(1, Ordering::Relaxed);
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = cache.get(subject) {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                return (r.clone(), self.genid());
            }
        }
        let root = self.root.read().unwrap_or_else(|e| e.into_inner());
        let genid = self.genid();
        let mut result = MatchResult::default();
        with_tokens(subject, |tokens| {
            // A subject with an empty token (`foo..x`, accepted from a client
            // without pedantic) reaches no one, as in nats-server; the empty
            // result is cached like any other, so the check costs nothing on a hit.
            if !tokens.iter().any(|t| t.is_empty()) {
                match_level(&root, tokens, &mut result);
            }
        });
        drop(root);
        result.remote = result
            .psubs
            .iter()
            .chain(result.qsubs.iter().flatten())
            .any(|s| s.remote);
        let fanout = (result.psubs.len() + result.qsubs.len()) as u64;
        self.fanout_total.fetch_add(fanout, Ordering::Relaxed);
        self.fanout_max.fetch_max(fanout, Ordering::Relaxed);
        let result = Arc::new(result);
        if !keep {
            return (result, genid);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Only cache a result that is still current.
        if self.genid() == genid && !self.no_cache.load(Ordering::Relaxed) {
            if cache.len() >= SHARED_CACHE_MAX {
                cache.clear();
            }
            cache.insert(subject.into(), result.clone());
        }
        (result, genid)
    }

    /// Count lookups answered by a per-connection cache (for the hit rate).
    pub fn note_cached_matches(&self, n: u64) {
        self.matches.fetch_add(n, Ordering::Relaxed);
        self.cache_hits.fetch_add(n, Ordering::Relaxed);
    }

    /// Every subscription in the index.
    pub fn all(&self) -> Vec<Arc<Subscription>> {
        let root = self.root.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        collect_all(&root, &mut out);
        out
    }

    /// Counters for `/subsz`.
    pub fn stats(&self) -> SublistStats {
        let matches = self.matches.load(Ordering::Relaxed);
        let hits = self.cache_hits.load(Ordering::Relaxed);
        let misses = matches.saturating_sub(hits);
        SublistStats {
            num_subscriptions: self.count(),
            num_cache: self.cache.lock().unwrap_or_else(|e| e.into_inner()).len() as u64,
            num_inserts: self.inserts.load(Ordering::Relaxed),
            num_removes: self.removes.load(Ordering::Relaxed),
            num_matches: matches,
            cache_hit_rate: if matches == 0 {
                0.0
            } else {
                hits as f64 / matches as f64
            },
            max_fanout: self.fanout_max.load(Ordering::Relaxed),
            avg_fanout: if misses == 0 {
                0.0
            } else {
                self.fanout_total.load(Ordering::Relaxed) as f64 / misses as f64
            },
        }
    }
}

fn remove_from(level: &mut Level, tokens: &[&[u8]], sub: &Arc<Subscription>) -> bool {
    let Some((&t, rest)) = tokens.split_first() else {
        return false;
    };
    let slot: Option<&mut Node> = match t {
        [PWC] => level.pwc.as_deref_mut(),
        [FWC] => level.fwc.as_deref_mut(),
        _ => level.literals.get_mut(t),
    };
    let Some(node) = slot else { return false };
    let removed = if rest.is_empty() {
        remove_sub(node, sub)
    } else {
        match node.next.as_deref_mut() {
            Some(next) => remove_from(next, rest, sub),
            None => false,
        }
    };
    if removed && node.is_empty() {
        match t {
            [PWC] => level.pwc = None,
            [FWC] => level.fwc = None,
            _ => {
                level.literals.remove(t);
            }
        }
    }
    removed
}

fn remove_sub(node: &mut Node, sub: &Arc<Subscription>) -> bool {
    match &sub.queue {
        None => match node.psubs.iter().position(|s| Arc::ptr_eq(s, sub)) {
            Some(i) => {
                node.psubs.swap_remove(i);
                true
            }
            None => false,
        },
        Some(q) => {
            let Some(gi) = node.qsubs.iter().position(|(name, _)| name == q) else {
                return false;
            };
            let members = &mut node.qsubs[gi].1;
            let Some(i) = members.iter().position(|s| Arc::ptr_eq(s, sub)) else {
                return false;
            };
            members.swap_remove(i);
            if members.is_empty() {
                node.qsubs.swap_remove(gi);
            }
            true
        }
    }
}

/// Tokens a subject is split into without an allocation.
const STACK_TOKENS: usize = 16;

/// Run `f` on `subject`'s tokens, kept on the stack when there are at most
/// [`STACK_TOKENS`] (a match on a cache miss allocates no token list).
fn with_tokens<R>(subject: &[u8], f: impl FnOnce(&[&[u8]]) -> R) -> R {
    let mut stack: [&[u8]; STACK_TOKENS] = [&[]; STACK_TOKENS];
    let mut n = 0;
    for t in subject.split(|&b| b == TSEP) {
        if n == STACK_TOKENS {
            let tokens: Vec<&[u8]> = subject.split(|&b| b == TSEP).collect();
            return f(&tokens);
        }
        stack[n] = t;
        n += 1;
    }
    f(&stack[..n])
}

fn match_level(level: &Level, tokens: &[&[u8]], result: &mut MatchResult) {
    let Some((&t, rest)) = tokens.split_first() else {
        return;
    };
    if let Some(fwc) = &level.fwc {
        add_node(fwc, result);
    }
    if let Some(pwc) = &level.pwc {
        visit(pwc, rest, result);
    }
    if let Some(node) = level.literals.get(t) {
        visit(node, rest, result);
    }
}

fn visit(node: &Node, rest: &[&[u8]], result: &mut MatchResult) {
    if rest.is_empty() {
        add_node(node, result);
    } else if let Some(next) = &node.next {
        match_level(next, rest, result);
    }
}

/// Add a node's subscribers, merging queue groups of the same name.
fn add_node(node: &Node, result: &mut MatchResult) {
    result.psubs.extend(node.psubs.iter().cloned());
    for (name, members) in &node.qsubs {
        let existing = result
            .qsubs
            .iter_mut()
            .find(|g| g.first().and_then(|s| s.queue.as_deref()) == Some(&**name));
        match existing {
            Some(group) => group.extend(members.iter().cloned()),
            None => result.qsubs.push(members.clone()),
        }
    }
}

fn collect_all(level: &Level, out: &mut Vec<Arc<Subscription>>) {
    let nodes = level
        .literals
        .values()
        .chain(level.pwc.as_deref())
        .chain(level.fwc.as_deref());
    for node in nodes {
        out.extend(node.psubs.iter().cloned());
        for (_, members) in &node.qsubs {
            out.extend(members.iter().cloned());
        }
        if let Some(next) = &node.next {
            collect_all(next, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::subject::matches;

    fn sub(subject: &str, queue: Option<&str>) -> Arc<Subscription> {
        Arc::new(Subscription::detached(
            subject.as_bytes(),
            queue.map(str::as_bytes),
            b"1",
        ))
    }

    fn subjects(r: &MatchResult) -> Vec<String> {
        let mut v: Vec<String> = r
            .psubs
            .iter()
            .map(|s| String::from_utf8_lossy(&s.subject).into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn literal_and_wildcards() {
        let sl = Sublist::default();
        for s in [
            "foo.bar",
            "foo.*",
            "foo.>",
            ">",
            "*.bar",
            "foo",
            "foo.bar.baz",
        ] {
            sl.insert(sub(s, None));
        }
        assert_eq!(
            subjects(&sl.match_subject(b"foo.bar").0),
            ["*.bar", ">", "foo.*", "foo.>", "foo.bar"]
        );
        assert_eq!(subjects(&sl.match_subject(b"foo").0), [">", "foo"]);
        assert_eq!(
            subjects(&sl.match_subject(b"foo.bar.baz").0),
            [">", "foo.>", "foo.bar.baz"]
        );
        assert_eq!(subjects(&sl.match_subject(b"x.y.z").0), [">"]);
    }

    #[test]
    fn queue_groups_merge_by_name() {
        let sl = Sublist::default();
        sl.insert(sub("foo.*", Some("q")));
        sl.insert(sub("foo.bar", Some("q")));
        sl.insert(sub("foo.bar", Some("r")));
        let (r, _) = sl.match_subject(b"foo.bar");
        let mut sizes: Vec<usize> = r.qsubs.iter().map(Vec::len).collect();
        sizes.sort();
        assert_eq!(sizes, [1, 2]);
    }

    #[test]
    fn remove_prunes_and_bumps_generation() {
        let sl = Sublist::default();
        let a = sub("a.b.c", None);
        let q = sub("a.*", Some("q"));
        sl.insert(a.clone());
        sl.insert(q.clone());
        let g = sl.genid();
        assert!(sl.remove(&a));
        assert!(!sl.remove(&a));
        assert!(sl.genid() > g);
        assert!(sl.match_subject(b"a.b.c").0.is_empty());
        assert!(sl.remove(&q));
        assert!(sl.root.read().unwrap().is_empty());
        assert_eq!(sl.count(), 0);
        let st = sl.stats();
        assert_eq!((st.num_inserts, st.num_removes), (2, 2));
    }

    #[test]
    fn empty_tokens_match_nothing() {
        let sl = Sublist::default();
        for p in [">", "foo.*.x", "*.*.*"] {
            sl.insert(sub(p, None));
        }
        for s in ["foo..x", ".a.b", "a.b.", "."] {
            assert!(sl.match_subject(s.as_bytes()).0.is_empty(), "{s}");
        }
        assert_eq!(sl.match_subject(b"foo.y.x").0.psubs.len(), 3);
    }

    #[test]
    fn cache_is_dropped_on_change() {
        let sl = Sublist::default();
        sl.insert(sub("x", None));
        assert_eq!(sl.match_subject(b"x").0.psubs.len(), 1);
        assert_eq!(sl.stats().num_cache, 1);
        sl.insert(sub("x", None));
        assert_eq!(sl.match_subject(b"x").0.psubs.len(), 2);
        assert!(sl.stats().cache_hit_rate == 0.0);
        assert_eq!(sl.match_subject(b"x").0.psubs.len(), 2);
        assert!(sl.stats().cache_hit_rate > 0.0);
    }

    /// The trie agrees with the plain token walk on a grid of patterns and subjects.
    #[test]
    fn agrees_with_reference_matcher() {
        let patterns = [
            "a", "b", "*", ">", "a.*", "*.b", "a.>", "*.*", "a.b", "*.>", "a.*.c", "a.b.c", "*.b.>",
        ];
        let literal_subjects = [
            "a", "b", "a.b", "a.c", "b.b", "a.b.c", "a.b.d", "x.b.c", "a.x.c", "a.b.c.d",
        ];
        let sl = Sublist::default();
        for p in patterns {
            sl.insert(sub(p, None));
        }
        for s in literal_subjects {
            let mut want: Vec<String> = patterns
                .iter()
                .filter(|p| matches(p.as_bytes(), s.as_bytes()))
                .map(|p| p.to_string())
                .collect();
            want.sort();
            assert_eq!(
                subjects(&sl.match_subject(s.as_bytes()).0),
                want,
                "subject {s}"
            );
        }
    }
}
