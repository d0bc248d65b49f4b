//! One subscription: who gets the messages (the client), for which subject
//! and sid, in which queue group, and the auto-unsubscribe count. A
//! subscription may also stand for a peer server's interest (`remote`),
//! delivered to that route connection.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use super::client::Client;
use super::permissions::{Permissions, ResponsePermission};

/// The delivery counters, on cache lines of their own. Publishers on
/// several threads write them; sharing a line with the fields a delivery
/// only reads (`client`, `sid`, ...) made every other thread's read of
/// those a cache miss (in the side-by-side benchmark's scenario e, four
/// publishers to four subscribers, the read of `client` was 60% of the
/// delivery). 128 bytes: adjacent-line prefetch pairs 64-byte lines.
///
/// A subscription without an auto-unsubscribe maximum is counted by each
/// publisher's batch and added here once per batch
/// ([`Subscription::add_deliveries`]), before the batch's bytes are handed
/// over; with a maximum, every delivery is counted here at once
/// ([`Subscription::count_delivery`]), so the maximum is exact. `delivered`
/// and `max` are written and read with sequential consistency where a
/// batch's count meets a concurrent `UNSUB <sid> <max>`: one of the two
/// then sees the other, and the subscription is removed once.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct DeliveryCounts {
    /// Messages delivered so far.
    pub delivered: AtomicU64,
    /// Auto-unsubscribe after this many messages (0: never).
    pub max: AtomicU64,
}

/// A subscription, shared by its client's subscription map and the
/// account's subject index.
#[derive(Debug)]
pub struct Subscription {
    /// The connection messages are delivered to (`None` only in unit tests).
    pub client: Option<Arc<Client>>,
    /// Subject, possibly with wildcards.
    pub subject: Box<[u8]>,
    /// Queue group name.
    pub queue: Option<Box<[u8]>>,
    /// The client's id for this subscription.
    pub sid: Box<[u8]>,
    /// Messages delivered so far, and the auto-unsubscribe maximum.
    pub counts: DeliveryCounts,
    /// The client's permissions when their deny list may hold back some
    /// deliveries to this (allowed, wildcard) subscription.
    pub deny_filter: Option<Arc<Permissions>>,
    /// The client may answer requests it receives here (`allow_responses`).
    pub responses: Option<ResponsePermission>,
    /// Interest a peer server announced (`RS+`): `client` is the route
    /// connection, and the message goes there as one `RMSG` per route.
    pub remote: bool,
    /// A remote queue subscription's weight: the peer's member count
    /// (0: kept, never chosen).
    pub weight: AtomicU32,
}

impl Subscription {
    /// A subscription delivering to `client`.
    pub fn new(client: Arc<Client>, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) -> Self {
        Subscription {
            client: Some(client),
            ..Self::detached(subject, queue, sid)
        }
    }

    /// Interest announced by the peer behind `route`; `key` names it in
    /// the route's subscription map (`<acc> <subject>[ <queue>]`).
    pub fn remote(
        route: Arc<Client>,
        subject: &[u8],
        queue: Option<&[u8]>,
        key: &[u8],
        weight: u32,
    ) -> Self {
        Subscription {
            client: Some(route),
            remote: true,
            weight: AtomicU32::new(weight),
            ..Self::detached(subject, queue, key)
        }
    }

    /// A subscription with no client, for tests of the index.
    pub fn detached(subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) -> Self {
        Subscription {
            client: None,
            subject: subject.into(),
            queue: queue.map(Into::into),
            sid: sid.into(),
            counts: DeliveryCounts::default(),
            deny_filter: None,
            responses: None,
            remote: false,
            weight: AtomicU32::new(1),
        }
    }

    /// The auto-unsubscribe maximum (0: none), as a publisher reads it for
    /// each delivery.
    #[inline]
    pub fn max_deliveries(&self) -> u64 {
        self.counts.max.load(Ordering::Relaxed)
    }

    /// Count one delivery now, together with `uncounted` earlier ones this
    /// publisher staged while there was no maximum.
    #[inline]
    pub fn count_delivery(&self, uncounted: u64) -> Counted {
        let k = uncounted + 1;
        let n = self.counts.delivered.fetch_add(k, Ordering::SeqCst) + k;
        let before = n - k;
        match self.counts.max.load(Ordering::SeqCst) {
            0 => Counted::Deliver,
            max if n < max => Counted::Deliver,
            max if n == max => Counted::Last,
            // The earlier staged ones reached the maximum: this one is
            // past it, and the subscription is done.
            max if before < max => Counted::SkipAndRemove,
            _ => Counted::Skip,
        }
    }

    /// Add `n` deliveries a publisher's batch counted. True when they took
    /// the subscription to (or past) its maximum: remove it.
    #[inline]
    pub fn add_deliveries(&self, n: u64) -> bool {
        let total = self.counts.delivered.fetch_add(n, Ordering::SeqCst) + n;
        let max = self.counts.max.load(Ordering::SeqCst);
        max != 0 && total - n < max && total >= max
    }
}

/// What [`Subscription::count_delivery`] decided for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Deliver it.
    Deliver,
    /// Deliver it; it is the last one allowed: remove the subscription.
    Last,
    /// The maximum was reached already: skip it.
    Skip,
    /// Skip it, and remove the subscription (messages staged earlier in
    /// the same batch reached the maximum).
    SkipAndRemove,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_max(max: u64) -> Subscription {
        let sub = Subscription::detached(b"foo", None, b"1");
        sub.counts.max.store(max, Ordering::SeqCst);
        sub
    }

    #[test]
    fn deliveries_are_exact_up_to_the_maximum() {
        let sub = with_max(3);
        assert_eq!(sub.count_delivery(0), Counted::Deliver);
        assert_eq!(sub.count_delivery(0), Counted::Deliver);
        assert_eq!(sub.count_delivery(0), Counted::Last);
        assert_eq!(sub.count_delivery(0), Counted::Skip);
    }

    #[test]
    fn uncounted_deliveries_count_towards_a_maximum_set_meanwhile() {
        // Two staged before the maximum was set: the third is the last.
        let sub = with_max(3);
        assert_eq!(sub.count_delivery(2), Counted::Last);
        // Three staged before a maximum of 2: this one is past it, and
        // the subscription is removed by the one who crossed it.
        let sub = with_max(2);
        assert_eq!(sub.count_delivery(3), Counted::SkipAndRemove);
        assert_eq!(sub.count_delivery(0), Counted::Skip);
    }

    #[test]
    fn a_batch_count_that_reaches_the_maximum_removes_once() {
        let sub = with_max(5);
        assert!(!sub.add_deliveries(4));
        assert!(sub.add_deliveries(3));
        assert!(!sub.add_deliveries(1));
        let unlimited = with_max(0);
        assert!(!unlimited.add_deliveries(1_000));
        assert_eq!(unlimited.counts.delivered.load(Ordering::Relaxed), 1_000);
    }
}
