//! One subscription: who gets the messages (the client), for which subject
//! and sid, in which queue group, and the auto-unsubscribe count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::client::Client;
use super::permissions::{Permissions, ResponsePermission};

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
    /// Messages delivered so far.
    pub delivered: AtomicU64,
    /// Auto-unsubscribe after this many messages (0: never).
    pub max: AtomicU64,
    /// The client's permissions when their deny list may hold back some
    /// deliveries to this (allowed, wildcard) subscription.
    pub deny_filter: Option<Arc<Permissions>>,
    /// The client may answer requests it receives here (`allow_responses`).
    pub responses: Option<ResponsePermission>,
}

impl Subscription {
    /// A subscription delivering to `client`.
    pub fn new(client: Arc<Client>, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) -> Self {
        Subscription {
            client: Some(client),
            ..Self::detached(subject, queue, sid)
        }
    }

    /// A subscription with no client, for tests of the index.
    pub fn detached(subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) -> Self {
        Subscription {
            client: None,
            subject: subject.into(),
            queue: queue.map(Into::into),
            sid: sid.into(),
            delivered: AtomicU64::new(0),
            max: AtomicU64::new(0),
            deny_filter: None,
            responses: None,
        }
    }

    /// Count one delivery. Returns `None` when the subscription has already
    /// reached its maximum (skip it), else `Some(true)` when this delivery is
    /// the last one allowed (remove it after delivering).
    #[inline]
    pub fn count_delivery(&self) -> Option<bool> {
        let n = self.delivered.fetch_add(1, Ordering::Relaxed) + 1;
        match self.max.load(Ordering::Relaxed) {
            0 => Some(false),
            max if n > max => None,
            max => Some(n == max),
        }
    }
}
