//! One subscription: who gets the messages (the client), for which subject
//! and sid, in which queue group, and the auto-unsubscribe count. A
//! subscription may also stand for a peer server's interest (`remote`),
//! delivered to that route connection.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use super::client::Client;
use super::permissions::{Permissions, ResponsePermission};

/// The counters every delivery writes, on cache lines of their own.
/// Publishers on several threads write them; sharing a line with the
/// fields a delivery only reads (`client`, `sid`, ...) made every other
/// thread's read of those a cache miss (in the side-by-side benchmark's
/// scenario e, four publishers to four subscribers, the read of `client`
/// was 60% of the delivery). 128 bytes: adjacent-line prefetch pairs 64-byte lines.
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
    /// Interest a leaf connection announced (`LS+`), and on which side of
    /// it we are: `client` is then the leaf connection (`remote` is set).
    pub leaf: Option<LeafSide>,
    /// For a leaf's interest: the cluster of the server behind the leaf
    /// connection (a hash; 0: none).
    pub leaf_cluster: u64,
}

/// Which side of a leaf connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafSide {
    /// We accepted it: we are the hub, the peer is a leaf of ours.
    Accepted,
    /// We solicited it: the peer is our hub.
    Solicited,
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
            leaf: None,
            leaf_cluster: 0,
        }
    }

    /// Count one delivery. Returns `None` when the subscription has already
    /// reached its maximum (skip it), else `Some(true)` when this delivery is
    /// the last one allowed (remove it after delivering).
    #[inline]
    pub fn count_delivery(&self) -> Option<bool> {
        let n = self.counts.delivered.fetch_add(1, Ordering::Relaxed) + 1;
        match self.counts.max.load(Ordering::Relaxed) {
            0 => Some(false),
            max if n > max => None,
            max => Some(n == max),
        }
    }
}
