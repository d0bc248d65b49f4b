//! The per-message path of a publisher's thread: find who gets a message
//! (a per-thread match cache in front of the account's subject index) and
//! stage the `MSG` bytes per destination for the current read batch.
//!
//! Nothing here takes a lock on a cache hit. Bytes for a destination are
//! appended to a buffer owned by the publishing thread, and handed to the
//! destination once per read batch ([`Batch::flush`]), or sooner when a
//! buffer passes [`EARLY_FLUSH_BYTES`] so that one batch of a large fan-out
//! cannot pile up memory (sooner still with many destinations, so that
//! what the kernel copies into the sockets is still in the cache). A
//! message for several local subscribers is encoded once; each of them
//! adds only its sid. The connection's own replies (`PONG`, `+OK`,
//! `-ERR`) go through the same staging, so they keep their order relative to
//! messages the connection receives from itself. A thread allocates for
//! this only as it needs to: an idle client's thread, which staged just its
//! PONG, holds one staging entry and no destination index, and no `/metrics`
//! counts until its first publish (what it frees stays in its thread's
//! malloc cache for as long as it idles).
//!
//! [`Fanout`] is the one place that decides who gets a message, for client
//! and route connections alike: a local client's message goes to the local
//! subscribers, to one member of each queue group cluster-wide (a local one
//! when there is one) and to each interested route once; a routed message
//! goes to the local plain subscribers and to a local member of each queue
//! group the sender named. A subject with no remote interest takes the same
//! short path as on a server without routes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::account::Account;
use super::client::Client;
use super::conn::outbound::STALL_TOTAL;
use super::rng::Rng;
use super::route::Interest;
use super::sublist::MatchResult;
use super::subscription::{Counted, LeafSide, Subscription};
use super::trace::RouteEgress;
use crate::protocol::{encode, leaf, route};

/// A staged buffer larger than this is handed over before the batch ends.
pub const EARLY_FLUSH_BYTES: usize = 64 * 1024;

/// What a batch stages in all before it hands buffers over early: with
/// many destinations each is handed over at this share of it (but not
/// below [`MIN_EARLY_FLUSH_BYTES`]), so that the bytes are still in the
/// core's cache when the kernel copies them into the socket. Fifty
/// subscribers at 64 KiB each staged 3.2 MiB, more than the L2 cache, and
/// the kernel's copy was then half the server's CPU in a fan-out.
const STAGED_BUDGET: usize = 512 * 1024;

/// The least a destination's buffer grows to before it is handed over
/// early (each hand-over is a system call).
const MIN_EARLY_FLUSH_BYTES: usize = 16 * 1024;

// A few destinations (one subscriber, or d's four) keep the full size.
const _: () = assert!(STAGED_BUDGET / SCAN_ENTRIES >= EARLY_FLUSH_BYTES);

/// A message for more than one local subscriber is encoded once
/// ([`encode::MsgTemplate`]) when its payload is at most this long (a
/// larger one's copies cost far more than its encoding, and the template
/// would keep a buffer that large).
const TEMPLATE_MAX_PAYLOAD: usize = 4096;

/// How many subjects a connection's match cache holds before it is cleared.
const MATCH_CACHE_MAX: usize = 1024;

/// Slots of a connection's table of recently missed subjects (by hash).
const RECENT_MISSES: usize = 256;

/// FNV-1a: a fast hash for short keys that only this thread's own input
/// decides (its publish subjects, connection ids), so flooding it harms
/// no one else.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ 0xcbf2_9ce4_8422_2325).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// A connection thread's cache of match results, valid for one generation
/// of the account's subject index.
#[derive(Default)]
pub struct MatchCache {
    /// `disable_sublist_cache` turns caching off.
    enabled: bool,
    genid: u64,
    results: FnvMap<Box<[u8]>, Arc<MatchResult>>,
    /// The subject looked up last and its result (same generation): a
    /// publisher usually repeats its subject, and this answers it with one
    /// comparison instead of a hash and a probe.
    last: Option<Arc<MatchResult>>,
    /// The subject of `last` (its buffer reused from lookup to lookup).
    last_subject: Vec<u8>,
    /// The result of an uncached lookup, kept so a reference can be lent.
    scratch: Option<Arc<MatchResult>>,
    /// Hashes of subjects that missed lately, one per slot (allocated on
    /// the first miss). A subject is cached, here and in the account's
    /// shared cache, on its second miss: a publisher that never repeats a
    /// subject (a sensor id, a reply inbox) would otherwise pay for
    /// inserting every result and for clearing them, for no hit.
    recent_misses: Vec<u64>,
    /// Lookups answered here since the last report to the index's statistics.
    pub hits: u64,
}

impl MatchCache {
    /// A cache, or (with `enabled` false) a pass-through to the index.
    pub fn new(enabled: bool) -> MatchCache {
        MatchCache {
            enabled,
            ..MatchCache::default()
        }
    }

    /// Who matches `subject` in `account`. Lent, not cloned: a hit costs no
    /// reference-count traffic on a result other threads share.
    #[inline]
    pub fn lookup(&mut self, account: &Account, subject: &[u8]) -> &Arc<MatchResult> {
        if !self.enabled {
            return self
                .scratch
                .insert(account.sublist.match_subject(subject).0);
        }
        let genid = account.sublist.genid();
        if genid != self.genid {
            self.results.clear();
            self.last = None;
            self.genid = genid;
        } else {
            // Checked, then borrowed: returning a borrow from an `if let`
            // here would keep `self` borrowed for the misses below.
            #[allow(clippy::unnecessary_unwrap)]
            if self.last.is_some() && self.last_subject == subject {
                self.hits += 1;
                return self.last.as_ref().expect("checked");
            }
            if let Some(r) = self.results.get(subject) {
                self.hits += 1;
                let r = r.clone();
                return self.remember(subject, r);
            }
        }
        let admit = self.admit(subject);
        let (result, made_in) = account.sublist.match_subject_with(subject, admit);
        if made_in != self.genid || !admit {
            return self.scratch.insert(result);
        }
        if self.results.len() >= MATCH_CACHE_MAX {
            self.results.clear();
        }
        self.results.insert(subject.into(), result.clone());
        self.remember(subject, result)
    }

    /// A miss on `subject`: true when it missed lately too (cache it).
    #[inline]
    fn admit(&mut self, subject: &[u8]) -> bool {
        let mut h = Fnv::default();
        h.write(subject);
        // Never 0, the empty slot.
        let h = h.finish() | 1;
        if self.recent_misses.is_empty() {
            self.recent_misses = vec![0; RECENT_MISSES];
        }
        let slot = &mut self.recent_misses[(h % RECENT_MISSES as u64) as usize];
        if *slot == h {
            true
        } else {
            *slot = h;
            false
        }
    }

    /// Make `result` the last lookup's.
    #[inline]
    fn remember(&mut self, subject: &[u8], result: Arc<MatchResult>) -> &Arc<MatchResult> {
        self.last_subject.clear();
        self.last_subject.extend_from_slice(subject);
        self.last.insert(result)
    }

    /// Drop every cached result (they keep subscriptions alive).
    pub fn clear(&mut self) {
        self.results.clear();
        self.results.shrink_to(0);
        self.last = None;
        self.last_subject = Vec::new();
        self.scratch = None;
        self.recent_misses = Vec::new();
    }
}

/// Bytes staged for one destination during a read batch.
pub struct Staged {
    /// Where they go.
    pub client: Arc<Client>,
    /// The encoded ops.
    pub buf: Vec<u8>,
    /// How many of them are messages (for the counters).
    pub msgs: u64,
    /// The messages' payload bytes, headers included (for the counters).
    pub bytes: u64,
}

/// A batch with fewer destinations than this finds them by a scan, without
/// an index.
const SCAN_ENTRIES: usize = 8;

/// Which of `at` and the position after it (the first after the last)
/// among `len` satisfies `is`: the cursor look-up of [`Batch`].
#[inline(always)]
fn next_to(at: usize, len: usize, is: impl Fn(usize) -> bool) -> Option<usize> {
    if at >= len {
        return None;
    }
    if is(at) {
        return Some(at);
    }
    let next = if at + 1 < len { at + 1 } else { 0 };
    is(next).then_some(next)
}

/// Everything one read batch produced, per destination.
#[derive(Default)]
pub struct Batch {
    /// The connection whose thread fills this batch (its bytes are handed over last).
    owner: u64,
    entries: Vec<Staged>,
    /// The entry staged to last: a destination is looked for there and
    /// just after it first, since one subscriber gets message after
    /// message and a fan-out visits its destinations in the same order
    /// for every message.
    cursor: usize,
    /// A buffer this large is handed over before the batch ends (set as
    /// entries are added: see [`STAGED_BUDGET`]).
    early_flush: usize,
    /// Position in `entries` by connection id, once there are
    /// [`SCAN_ENTRIES`] of them (fewer are found by a scan).
    index: FnvMap<u64, usize>,
    spare: Vec<Vec<u8>>,
    /// Destinations that asked this producer to stall, handled at the batch end.
    stalled: Vec<Arc<Client>>,
    /// Deliveries staged for subscriptions without a maximum and not yet
    /// added to their shared counters (once per batch, not per message:
    /// a hundred publishers into one subscription would otherwise all
    /// write its counter's cache line for every message).
    uncounted: Vec<(Arc<Subscription>, u64)>,
    /// The `uncounted` entry counted last (looked for as `cursor` is).
    count_cursor: usize,
    /// Position in `uncounted` by subscription address.
    uncounted_index: FnvMap<u64, usize>,
    /// Subscriptions whose batch count reached their maximum (to remove).
    pub crossed: Vec<Arc<Subscription>>,
    /// Messages handed over by this batch (for the server counters).
    pub out_msgs: u64,
    /// Payload bytes handed over by this batch.
    pub out_bytes: u64,
    /// Messages ever staged (never reset): fan-out for `/metrics`.
    pub staged: u64,
}

impl Batch {
    /// The batch of the connection `owner_cid`.
    pub fn for_owner(owner_cid: u64) -> Batch {
        Batch {
            owner: owner_cid,
            ..Batch::default()
        }
    }

    /// Index of the staging entry for `client`, created on first use in this batch.
    #[inline]
    fn entry(&mut self, client: &Arc<Client>) -> usize {
        if let Some(i) = next_to(self.cursor, self.entries.len(), |i| {
            self.entries[i].client.cid == client.cid
        }) {
            self.cursor = i;
            return i;
        }
        self.find_entry(client)
    }

    /// [`Batch::entry`] away from the cursor: by a scan or the index, or new.
    #[inline(never)]
    fn find_entry(&mut self, client: &Arc<Client>) -> usize {
        let found = if self.entries.len() < SCAN_ENTRIES {
            self.entries.iter().position(|e| e.client.cid == client.cid)
        } else {
            self.index.get(&client.cid).copied()
        };
        let i = match found {
            Some(i) => i,
            None => self.new_entry(client),
        };
        self.cursor = i;
        i
    }

    /// A staging entry for `client`, new in this batch. A connection that
    /// only ever answers itself (an idle client's PONG) stages one entry:
    /// neither the index nor room for more is allocated for it.
    #[inline(never)]
    fn new_entry(&mut self, client: &Arc<Client>) -> usize {
        if self.entries.capacity() == 0 {
            self.entries.reserve_exact(1);
        }
        let buf = self.spare.pop().unwrap_or_default();
        self.entries.push(Staged {
            client: client.clone(),
            buf,
            msgs: 0,
            bytes: 0,
        });
        let i = self.entries.len() - 1;
        self.early_flush =
            (STAGED_BUDGET / self.entries.len()).clamp(MIN_EARLY_FLUSH_BYTES, EARLY_FLUSH_BYTES);
        if self.entries.len() == SCAN_ENTRIES {
            for (j, e) in self.entries.iter().enumerate() {
                self.index.insert(e.client.cid, j);
            }
        } else if self.entries.len() > SCAN_ENTRIES {
            self.index.insert(client.cid, i);
        }
        i
    }

    /// Count one delivery to `sub` in this batch (see `uncounted`).
    #[inline]
    fn count_later(&mut self, sub: &Arc<Subscription>) {
        if let Some(i) = next_to(self.count_cursor, self.uncounted.len(), |i| {
            Arc::ptr_eq(&self.uncounted[i].0, sub)
        }) {
            self.uncounted[i].1 += 1;
            self.count_cursor = i;
            return;
        }
        self.count_later_indexed(sub);
    }

    /// [`Batch::count_later`] away from the cursor: by the index, or new.
    #[inline(never)]
    fn count_later_indexed(&mut self, sub: &Arc<Subscription>) {
        let key = Arc::as_ptr(sub) as usize as u64;
        self.count_cursor = match self.uncounted_index.get(&key) {
            Some(&i) => {
                self.uncounted[i].1 += 1;
                i
            }
            None => {
                self.uncounted_index.insert(key, self.uncounted.len());
                self.uncounted.push((sub.clone(), 1));
                self.uncounted.len() - 1
            }
        };
    }

    /// Deliveries to `sub` this batch staged and has not counted yet; they
    /// are counted by the caller from now on.
    #[inline]
    fn take_uncounted(&mut self, sub: &Arc<Subscription>) -> u64 {
        let key = Arc::as_ptr(sub) as usize as u64;
        match self.uncounted_index.get(&key) {
            Some(&i) => std::mem::take(&mut self.uncounted[i].1),
            None => 0,
        }
    }

    /// Add the batch's delivery counts to the subscriptions' counters
    /// (before bytes are handed over: a subscriber never has a message its
    /// subscription's count does not show yet).
    fn settle_counts(&mut self) {
        for (sub, n) in self.uncounted.drain(..) {
            if n > 0 && sub.add_deliveries(n) {
                self.crossed.push(sub);
            }
        }
        self.uncounted_index.clear();
        self.count_cursor = 0;
    }

    /// Stage one message for `client`: `encode` appends its bytes. A buffer
    /// that grew past the batch's early-flush size ([`EARLY_FLUSH_BYTES`],
    /// less with many destinations) is handed over at once.
    #[inline]
    pub fn stage_msg(
        &mut self,
        client: &Arc<Client>,
        payload_len: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) {
        self.stage_counted(client, None, payload_len, encode);
    }

    /// [`Batch::stage_msg`] for a subscription's delivery, counted for
    /// `count_for` at the end of the batch.
    #[inline]
    fn stage_counted(
        &mut self,
        client: &Arc<Client>,
        count_for: Option<&Arc<Subscription>>,
        payload_len: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) {
        if let Some(sub) = count_for {
            self.count_later(sub);
        }
        let i = self.entry(client);
        let staged = &mut self.entries[i];
        encode(&mut staged.buf);
        staged.msgs += 1;
        staged.bytes += payload_len as u64;
        self.staged += 1;
        if staged.buf.len() >= self.early_flush {
            self.settle_counts();
            let staged = &mut self.entries[i];
            self.out_msgs += staged.msgs;
            self.out_bytes += staged.bytes;
            let stall = if staged.client.cid == self.owner {
                staged
                    .client
                    .queue_and_flush(&mut staged.buf, staged.msgs, staged.bytes)
            } else {
                staged
                    .client
                    .deliver(&mut staged.buf, staged.msgs, staged.bytes)
            };
            staged.msgs = 0;
            staged.bytes = 0;
            if stall {
                // Stall now, not at the batch end: the rest of this batch
                // could otherwise push the destination past max_pending
                // and cut off a consumer that is slower but reading.
                // Each such stall is bounded on its own: a consumer that
                // keeps reading paces the publisher for as long as it
                // reads, and one that stops is given up on after
                // STALL_NO_PROGRESS (conn/outbound.rs).
                let client = staged.client.clone();
                client.wait_drained(Instant::now() + STALL_TOTAL);
            }
        }
    }

    /// Append raw protocol bytes (PONG, +OK, INFO, -ERR) for `client`.
    pub fn push_proto(&mut self, client: &Arc<Client>, bytes: &[u8]) {
        self.push_proto_with(client, |buf| buf.extend_from_slice(bytes));
    }

    /// Let `write` append raw protocol bytes for `client` (built in place).
    pub fn push_proto_with(&mut self, client: &Arc<Client>, write: impl FnOnce(&mut Vec<u8>)) {
        let i = self.entry(client);
        write(&mut self.entries[i].buf);
    }

    /// Hand every destination its bytes, once; then, if some destination is
    /// far behind, stall (bounded by [`STALL_TOTAL`] in all).
    pub fn flush(&mut self) {
        // The connection's own bytes go last: once it has its PONG, every
        // message it published before the PING is in its receivers' hands
        // (NATS flush semantics).
        self.settle_counts();
        let mut entries = std::mem::take(&mut self.entries);
        if let Some(i) = entries.iter().position(|e| e.client.cid == self.owner) {
            let own = entries.remove(i);
            entries.push(own);
        }
        for mut s in entries.drain(..) {
            self.out_msgs += s.msgs;
            self.out_bytes += s.bytes;
            // The connection's own replies never wait for room; messages
            // for others wait while their reader keeps reading.
            let stall = if s.client.cid == self.owner {
                s.client.queue_and_flush(&mut s.buf, s.msgs, s.bytes)
            } else {
                s.client.deliver(&mut s.buf, s.msgs, s.bytes)
            };
            if stall {
                self.stalled.push(s.client.clone());
            }
            s.buf.clear();
            if s.buf.capacity() <= 4 * EARLY_FLUSH_BYTES && self.spare.len() < 64 {
                self.spare.push(s.buf);
            }
        }
        self.entries = entries;
        self.index.clear();
        self.cursor = 0;
        if !self.stalled.is_empty() {
            let deadline = Instant::now() + STALL_TOTAL;
            for client in self.stalled.drain(..) {
                client.wait_drained(deadline);
            }
        }
    }

    /// Release memory kept for reuse (for an idle connection).
    pub fn shrink(&mut self) {
        self.spare.clear();
        self.spare.shrink_to(0);
        self.entries.shrink_to(0);
        self.index.shrink_to(0);
        self.uncounted.shrink_to(0);
        self.uncounted_index.shrink_to(0);
        self.crossed.shrink_to(0);
    }
}

/// One message as published: what every destination gets a copy of.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Subject.
    pub subject: &'a [u8],
    /// Reply subject.
    pub reply: Option<&'a [u8]>,
    /// Header block (HPUB/HMSG).
    pub headers: Option<&'a [u8]>,
    /// Payload.
    pub payload: &'a [u8],
}

/// A route (or leaf connection) chosen for the message being fanned out,
/// and the queue groups it was chosen for (names separated by single spaces).
struct RouteTarget {
    route: Arc<Client>,
    queues: Vec<u8>,
    /// A leaf connection: the message goes as `LMSG`, without account.
    leaf: bool,
}

/// A connection thread's fan-out machinery: who matches (the cache) and
/// what is done with a match (the delivery state). Two parts so that a
/// cached result can be lent to the delivery without cloning it.
pub struct Fanout {
    /// Match results by subject.
    pub cache: MatchCache,
    /// Staging, queue choice and route targets.
    pub out: Delivery,
    /// Fan-out and payload counts for `/metrics`, flushed at the end of
    /// each read batch (made at the first publish: a connection that
    /// never publishes, such as an idle one, does not carry them).
    observed: Option<Box<super::monitor::observe::Local>>,
}

/// What a connection thread needs to deliver a matched message: the bytes
/// staged per destination (the batch), queue member choice (the rng).
pub struct Delivery {
    /// Bytes staged per destination for the current read batch.
    pub batch: Batch,
    /// Queue member choice.
    pub rng: Rng,
    /// Local interest counts for routes (auto-unsubscribe removes interest).
    interest: Arc<Interest>,
    /// Routes chosen for the current message (reused).
    targets: Vec<RouteTarget>,
    /// The message being fanned out to local subscribers, encoded once.
    template: encode::MsgTemplate,
    /// This thread's messages come from our hub (a solicited leaf
    /// connection): they never go on to routes or back to the hub.
    pub from_hub: bool,
    /// This thread's messages come from a leaf of this cluster (a hash; 0:
    /// none): they never go to another leaf of the same cluster, whose
    /// routes carry them there.
    pub leaf_cluster: u64,
    /// The name of that leaf cluster (empty: none): routes that
    /// understand it (`lnoc`) get its messages as `LMSG` with it, so the
    /// other servers of our cluster do not send them back into it.
    pub leaf_origin: Vec<u8>,
    /// The message being fanned out is traced (`Nats-Trace-Dest`): its
    /// event, told about each egress (see `trace/`).
    pub trace: Option<Box<super::trace::Trace>>,
}

impl Fanout {
    /// A fan-out for one connection thread (`seed` varies its choices).
    pub fn new(cache_enabled: bool, seed: u64, interest: Arc<Interest>) -> Fanout {
        Fanout {
            cache: MatchCache::new(cache_enabled),
            out: Delivery {
                batch: Batch::for_owner(seed),
                rng: Rng::new(seed),
                interest,
                targets: Vec::new(),
                template: encode::MsgTemplate::default(),
                from_hub: false,
                leaf_cluster: 0,
                leaf_origin: Vec::new(),
                trace: None,
            },
            observed: None,
        }
    }

    /// The read batch is over: its fan-out and payload counts go to
    /// `/metrics` now, so a publisher that goes quiet shows all it sent.
    pub fn end_batch(&mut self) {
        if let Some(o) = self.observed.as_deref_mut() {
            o.flush();
        }
    }

    /// A message from a local client (`echo_off`: its cid, when its own
    /// subscriptions must be skipped). True when it reached anyone.
    #[inline]
    pub fn publish(&mut self, account: &Account, m: &Message<'_>, echo_off: Option<u64>) -> bool {
        let result = self.cache.lookup(account, m.subject);
        let before = self.out.batch.staged;
        let mut delivered = self.out.publish(account, result, m, echo_off);
        if account.imports.active() {
            delivered |= super::imports::forward(account, m, &mut self.out);
        }
        let copies = self.out.batch.staged - before;
        self.observed
            .get_or_insert_with(Box::default)
            .publish(copies, m.payload.len());
        delivered
    }

    /// A message from leaf connection `source`: as from a local client
    /// that never gets its own messages back, for the queue groups named
    /// in `queues` only when there are some.
    pub fn publish_from_leaf(
        &mut self,
        account: &Account,
        m: &Message<'_>,
        queues: &[u8],
        source: u64,
    ) {
        if queues.is_empty() {
            self.publish(account, m, Some(source));
            return;
        }
        let result = self.cache.lookup(account, m.subject);
        self.out
            .publish_to_groups(account, result, m, Some(source), queues);
    }

    /// A message from a route: every local plain subscriber, and one local
    /// member of each queue group named in `queues` (never another route).
    pub fn publish_routed(&mut self, account: &Account, m: &Message<'_>, queues: &[u8]) {
        let result = self.cache.lookup(account, m.subject);
        self.out.publish_routed(account, result, m, queues);
        if account.imports.active() {
            super::imports::respond_routed(account, m, &mut self.out);
        }
    }
}

impl Delivery {
    /// End of a read batch: hand every destination its bytes (see
    /// [`Batch::flush`]) and remove the subscriptions the batch's counts
    /// took to their maximum.
    pub fn flush(&mut self) {
        self.batch.flush();
        for sub in std::mem::take(&mut self.batch.crossed) {
            if let Some(client) = &sub.client {
                remove_subscription(client, &sub, &self.interest);
            }
        }
    }

    /// The routes' interest counts (for a subscription made while
    /// delivering: an import's response interest).
    pub fn interest(&self) -> &Interest {
        &self.interest
    }

    /// Deliver a local client's message to `result`'s subscribers.
    #[inline]
    pub fn publish(
        &mut self,
        account: &Account,
        result: &MatchResult,
        m: &Message<'_>,
        echo_off: Option<u64>,
    ) -> bool {
        if result.remote {
            return self.publish_clustered(account, result, m, echo_off);
        }
        let mut delivered = false;
        let templated = result.psubs.len() > 1
            && m.headers.is_none()
            && m.payload.len() <= TEMPLATE_MAX_PAYLOAD;
        if templated {
            self.template.prepare(m.subject, m.reply, m.payload);
            for sub in &result.psubs {
                delivered |= self.deliver_as::<true>(sub, m, echo_off);
            }
        } else {
            for sub in &result.psubs {
                delivered |= self.deliver_as::<false>(sub, m, echo_off);
            }
        }
        for group in &result.qsubs {
            let start = self.rng.below(group.len());
            for i in 0..group.len() {
                let member = &group[(start + i) % group.len()];
                if self.deliver(member, m, echo_off) {
                    delivered = true;
                    break;
                }
            }
        }
        delivered
    }

    /// [`Fanout::publish`] when some interest is remote: plain remote
    /// interest makes its route a target; a queue group goes to a local
    /// member when one takes it, else to a remote one by weight, whose route
    /// then lists the group. Each target route gets one RMSG/HMSG.
    #[inline(never)]
    fn publish_clustered(
        &mut self,
        account: &Account,
        result: &MatchResult,
        m: &Message<'_>,
        echo_off: Option<u64>,
    ) -> bool {
        self.publish_to_groups(account, result, m, echo_off, &[])
    }

    /// [`Delivery::publish_clustered`] for only the queue groups named in
    /// `queues` (all of them when empty): a leaf's message lists the groups
    /// it chose us for.
    fn publish_to_groups(
        &mut self,
        account: &Account,
        result: &MatchResult,
        m: &Message<'_>,
        echo_off: Option<u64>,
        queues: &[u8],
    ) -> bool {
        self.targets.clear();
        let mut delivered = false;
        for sub in &result.psubs {
            if sub.remote {
                if let Some(route) = &sub.client {
                    if self.may_forward(sub, m.subject, echo_off) {
                        self.target(route, sub.leaf.is_some());
                    }
                }
            } else {
                delivered |= self.deliver(sub, m, echo_off);
            }
        }
        for group in &result.qsubs {
            if !queues.is_empty() {
                let name = group.first().and_then(|s| s.queue.as_deref());
                if !route::queue_names(queues).any(|q| Some(q) == name) {
                    continue;
                }
            }
            if self.deliver_to_local_member(group, m, echo_off) {
                delivered = true;
                continue;
            }
            if let Some(member) = self.pick_remote(group, m.subject, echo_off) {
                self.target_queue(member);
            }
        }
        delivered | self.stage_targets(account, m)
    }

    /// A remote subscription may get a message this thread fans out: not
    /// the connection it came from, nothing from our hub to a route, and
    /// nothing its deny filter holds back (a leaf remote's `deny_exports`).
    #[inline]
    fn may_forward(&self, sub: &Subscription, subject: &[u8], echo_off: Option<u64>) -> bool {
        let Some(c) = &sub.client else { return false };
        echo_off != Some(c.cid)
            && !sub
                .deny_filter
                .as_ref()
                .is_some_and(|d| d.denies_delivery(subject, sub.queue.as_deref()))
            && !(self.from_hub && sub.leaf.is_none())
            && !(self.leaf_cluster != 0
                && sub.leaf.is_some()
                && sub.leaf_cluster == self.leaf_cluster)
    }

    /// Make `member`'s connection a target for its queue group.
    fn target_queue(&mut self, member: &Subscription) {
        if let (Some(route), Some(name)) = (&member.client, &member.queue) {
            let i = self.target(route, member.leaf.is_some());
            let queues = &mut self.targets[i].queues;
            if !queues.is_empty() {
                queues.push(b' ');
            }
            queues.extend_from_slice(name);
        }
    }

    /// Stage one RMSG/LMSG (HMSG) per target; true when there was any.
    fn stage_targets(&mut self, account: &Account, m: &Message<'_>) -> bool {
        let targets = std::mem::take(&mut self.targets);
        for t in &targets {
            let mut headers = m
                .headers
                .filter(|_| t.route.headers.load(Ordering::Relaxed));
            let traced: Vec<u8>;
            if let Some(trace) = self.trace.as_deref_mut() {
                match trace.route_egress(&t.route, headers) {
                    RouteEgress::Skip => continue,
                    RouteEgress::Forward(h) => {
                        traced = h;
                        headers = Some(&traced);
                    }
                    RouteEgress::AsIs => {}
                }
            }
            let size = headers.map_or(0, <[u8]>::len) + m.payload.len();
            self.batch.stage_msg(&t.route, size, |buf| {
                if t.leaf {
                    leaf::leaf_msg(buf, m.subject, m.reply, &t.queues, headers, m.payload)
                } else if !self.leaf_origin.is_empty() && t.route.lnoc.load(Ordering::Relaxed) {
                    route::routed_from_leaf(
                        buf,
                        &self.leaf_origin,
                        account.name.as_bytes(),
                        m.subject,
                        m.reply,
                        &t.queues,
                        headers,
                        m.payload,
                    )
                } else {
                    route::routed(
                        buf,
                        account.name.as_bytes(),
                        m.subject,
                        m.reply,
                        &t.queues,
                        headers,
                        m.payload,
                    )
                }
            });
        }
        let any = !targets.is_empty();
        self.targets = targets;
        self.targets.clear();
        any
    }

    /// Index of `route` among the targets, added when new.
    fn target(&mut self, route: &Arc<Client>, leaf: bool) -> usize {
        if let Some(i) = self.targets.iter().position(|t| t.route.cid == route.cid) {
            return i;
        }
        self.targets.push(RouteTarget {
            route: route.clone(),
            queues: Vec::new(),
            leaf,
        });
        self.targets.len() - 1
    }

    /// Deliver to one local member of `group`, from a random start; false
    /// when no local member took it.
    fn deliver_to_local_member(
        &mut self,
        group: &[Arc<Subscription>],
        m: &Message<'_>,
        echo_off: Option<u64>,
    ) -> bool {
        let n = group.len();
        let start = self.rng.below(n);
        for i in 0..n {
            let member = &group[(start + i) % n];
            if !member.remote && self.deliver(member, m, echo_off) {
                return true;
            }
        }
        false
    }

    /// A remote member of `group`, chosen with probability proportional to
    /// its weight (weight 0, closed routes and members whose deny filter
    /// holds `subject` back are never chosen).
    fn pick_remote<'g>(
        &mut self,
        group: &'g [Arc<Subscription>],
        subject: &[u8],
        echo_off: Option<u64>,
    ) -> Option<&'g Arc<Subscription>> {
        let (from_hub, cluster) = (self.from_hub, self.leaf_cluster);
        let live = |s: &&Arc<Subscription>| {
            s.remote
                && s.client
                    .as_ref()
                    .is_some_and(|c| !c.is_closed() && echo_off != Some(c.cid))
                && !(from_hub && s.leaf.is_none())
                && !(cluster != 0 && s.leaf.is_some() && s.leaf_cluster == cluster)
                && !s
                    .deny_filter
                    .as_ref()
                    .is_some_and(|d| d.denies_delivery(subject, s.queue.as_deref()))
        };
        let weight = |s: &Arc<Subscription>| u64::from(s.weight.load(Ordering::Relaxed));
        let total: u64 = group.iter().filter(live).map(weight).sum();
        if total == 0 {
            return None;
        }
        let mut r = self.rng.below(usize::try_from(total).unwrap_or(usize::MAX)) as u64;
        for s in group.iter().filter(live) {
            let w = weight(s);
            if r < w {
                return Some(s);
            }
            r -= w;
        }
        None
    }

    /// Deliver a routed message to `result`'s local subscribers, and to
    /// the leaves that connected to us (never to a route, nor to our hub,
    /// nor to a plain subscriber of the leaf cluster it came from).
    fn publish_routed(
        &mut self,
        account: &Account,
        result: &MatchResult,
        m: &Message<'_>,
        queues: &[u8],
    ) {
        let to_leaf = |s: &Subscription| s.leaf == Some(LeafSide::Accepted);
        // A leaf cluster's own routes carried its message to its plain
        // subscribers; a queue group was chosen once, so it still goes
        // to a member there.
        let origin = self.leaf_cluster;
        let not_origin = |s: &Subscription| !(origin != 0 && s.leaf_cluster == origin);
        for sub in &result.psubs {
            if !sub.remote {
                self.deliver(sub, m, None);
            } else if to_leaf(sub) && not_origin(sub) {
                if let Some(c) = &sub.client {
                    self.target(c, true);
                }
            }
        }
        if !queues.is_empty() && !result.qsubs.is_empty() {
            for name in route::queue_names(queues) {
                let group = result
                    .qsubs
                    .iter()
                    .find(|g| g.first().and_then(|s| s.queue.as_deref()) == Some(name));
                if let Some(group) = group {
                    if !self.deliver_to_local_member(group, m, None) {
                        let live = group.iter().find(|s| {
                            to_leaf(s) && s.client.as_ref().is_some_and(|c| !c.is_closed())
                        });
                        if let Some(member) = live {
                            self.target_queue(member);
                        }
                    }
                }
            }
        }
        if !self.targets.is_empty() {
            self.stage_targets(account, m);
        }
    }

    /// Stage one message for one local subscription; false when it was
    /// skipped (own message with echo off, closed client, past its max).
    #[inline]
    pub fn deliver(
        &mut self,
        sub: &Arc<Subscription>,
        m: &Message<'_>,
        echo_off: Option<u64>,
    ) -> bool {
        self.deliver_as::<false>(sub, m, echo_off)
    }

    /// [`Delivery::deliver`]; `TEMPLATED`: `m` has no header block and is
    /// encoded in `self.template`, so only the sid is added per subscriber
    /// (a separate copy of the code: a single subscriber's path stays as
    /// lean as it was).
    #[inline]
    fn deliver_as<const TEMPLATED: bool>(
        &mut self,
        sub: &Arc<Subscription>,
        m: &Message<'_>,
        echo_off: Option<u64>,
    ) -> bool {
        let Some(dest) = &sub.client else {
            return false;
        };
        if let Some(trace) = self.trace.as_deref_mut() {
            if let Some(delivered) = trace.local_egress(sub, m, echo_off) {
                return delivered;
            }
        }
        if dest.is_closed() || echo_off == Some(dest.cid) {
            return false;
        }
        if let Some(perms) = &sub.deny_filter {
            if perms.denies_delivery(m.subject, sub.queue.as_deref()) {
                return false;
            }
        }
        // Without a maximum the delivery is counted at the batch end; with
        // one, now (with what this batch staged uncounted before the
        // maximum was set), so the maximum is exact.
        let (count_later, last) = if sub.max_deliveries() == 0 {
            (Some(sub), false)
        } else {
            let uncounted = self.batch.take_uncounted(sub);
            match sub.count_delivery(uncounted) {
                Counted::Deliver => (None, false),
                Counted::Last => (None, true),
                Counted::Skip => return false,
                Counted::SkipAndRemove => {
                    remove_subscription(dest, sub, &self.interest);
                    return false;
                }
            }
        };
        let headers = m.headers.filter(|_| dest.headers.load(Ordering::Relaxed));
        let template = &self.template;
        self.batch.stage_counted(
            dest,
            count_later,
            headers.map_or(0, <[u8]>::len) + m.payload.len(),
            |buf| {
                if TEMPLATED {
                    template.write(buf, &sub.sid);
                } else {
                    encode::msg(buf, m.subject, &sub.sid, m.reply, headers, m.payload);
                }
            },
        );
        if let (Some(perm), Some(reply)) = (sub.responses, m.reply) {
            dest.allow_reply(reply, perm);
        }
        if last {
            remove_subscription(dest, sub, &self.interest);
        }
        true
    }
}

/// Remove a local subscription from its client and the account's index,
/// and take its interest back from the routes.
pub fn remove_subscription(client: &Arc<Client>, sub: &Arc<Subscription>, interest: &Interest) {
    let removed = {
        let mut subs = client.subs();
        match subs.get(&sub.sid) {
            Some(s) if Arc::ptr_eq(s, sub) => subs.remove(&sub.sid).is_some(),
            _ => false,
        }
    };
    if removed {
        let account = client.account();
        if account.sublist.remove(sub) {
            interest.removed(&account, sub);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    /// `n` connections' shared halves (cids 1..=n) over one loopback pair.
    fn clients(n: u64) -> (Vec<Arc<Client>>, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let stream = Arc::new(l.accept().unwrap().0);
        let account = Arc::new(super::super::account::Account::new("$G"));
        let clients = (1..=n)
            .map(|cid| {
                Arc::new(Client::new(
                    cid,
                    stream.clone(),
                    peer.local_addr().unwrap(),
                    account.clone(),
                    1 << 20,
                    std::time::Duration::from_secs(1),
                    Arc::default(),
                ))
            })
            .collect();
        (clients, peer)
    }

    #[test]
    fn each_destination_has_one_entry_below_and_above_the_scan_limit() {
        let (clients, _peer) = clients(3 * SCAN_ENTRIES as u64);
        let mut batch = Batch::for_owner(1);
        for _ in 0..3 {
            for c in clients.iter().rev().chain(clients.iter()) {
                batch.push_proto(c, &[c.cid as u8]);
            }
        }
        assert_eq!(batch.entries.len(), clients.len());
        assert_eq!(batch.index.len(), clients.len());
        for e in &batch.entries {
            assert_eq!(e.buf, vec![e.client.cid as u8; 6]);
        }
    }

    #[test]
    fn many_destinations_are_handed_over_sooner() {
        let (clients, _peer) = clients(64);
        let mut batch = Batch::for_owner(1);
        batch.push_proto(&clients[0], b"x");
        assert_eq!(batch.early_flush, EARLY_FLUSH_BYTES);
        for c in &clients {
            batch.push_proto(c, b"x");
        }
        assert_eq!(batch.early_flush, MIN_EARLY_FLUSH_BYTES);
    }

    #[test]
    fn a_connection_answering_only_itself_allocates_no_index() {
        let (clients, _peer) = clients(1);
        let mut batch = Batch::for_owner(1);
        batch.push_proto(&clients[0], b"PONG\r\n");
        batch.push_proto(&clients[0], b"+OK\r\n");
        assert_eq!(batch.entries.capacity(), 1);
        assert_eq!(batch.index.capacity(), 0);
    }
}
