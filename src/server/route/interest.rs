//! Local interest as the routes see it: per account, how many local
//! subscriptions there are per subject (plain) and per subject and queue
//! group, and the `RS+`/`RS-` lines those counts produce.
//!
//! One lock covers the counts *and* the set of routes that receive interest
//! updates, and the `RS±` lines are appended to each route's pending bytes
//! under it (written after it is released: no socket write under the lock).
//! So a route being registered (its interest dump) and a SUB or UNSUB
//! elsewhere (a count change and its line) cannot interleave: every change
//! is either in the dump or sent after it.
//!
//! Rules (nats-server's): plain `RS+ <acc> <subj>` on 0→1 and `RS- <acc>
//! <subj>` on 1→0; a queue group's `RS+ <acc> <subj> <queue> <members>` on
//! every change of its member count and `RS- <acc> <subj> <queue>` at 0.
//! Only local subscriptions (and those of leaves that connect to us) count;
//! what routes announce is never passed on. The leaf connections' own view
//! of interest ([`LeafInterest`]) is kept beside it and told of the same
//! changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::protocol::route::{rs_minus, rs_plus};
use crate::server::account::Account;
use crate::server::client::Client;
use crate::server::leaf::interest::{LeafInterest, Origin};
use crate::server::subscription::Subscription;

/// `(subject, queue)`: what one count is for.
type Key = (Box<[u8]>, Option<Box<[u8]>>);

#[derive(Default)]
struct State {
    /// Routes that receive interest updates (registered ones).
    routes: Vec<Arc<Client>>,
    /// Counts per account name.
    counts: HashMap<String, HashMap<Key, u32>>,
}

/// Local interest counts and the routes told about them.
#[derive(Default)]
pub struct Interest {
    /// Clustering is configured: without it nothing is counted at all.
    enabled: bool,
    state: Mutex<State>,
    /// What the leaf connections are told.
    pub leaves: LeafInterest,
}

impl Interest {
    /// Counting starts only with clustering configured.
    pub fn new(enabled: bool) -> Interest {
        Interest {
            enabled,
            state: Mutex::default(),
            leaves: LeafInterest::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A local subscription was added to `account`'s index.
    #[inline]
    pub fn added(&self, account: &Account, sub: &Subscription) {
        if !sub.remote {
            if self.enabled {
                self.change(account, sub, true);
            }
            self.leaves.changed(account, sub, Origin::Local, true);
        }
    }

    /// A local subscription was removed from `account`'s index.
    #[inline]
    pub fn removed(&self, account: &Account, sub: &Subscription) {
        if !sub.remote {
            if self.enabled {
                self.change(account, sub, false);
            }
            self.leaves.changed(account, sub, Origin::Local, false);
        }
    }

    /// A subscription of a leaf that connected to us was added (`add`) or
    /// removed: the routes count it as local interest.
    pub fn leaf_changed(&self, account: &Account, sub: &Subscription, add: bool) {
        if self.enabled {
            self.change(account, sub, add);
        }
    }

    #[inline(never)]
    fn change(&self, account: &Account, sub: &Subscription, add: bool) {
        let mut line = Vec::new();
        let mut kicks = Vec::new();
        {
            let mut st = self.state();
            let counts = st.counts.entry(account.name.clone()).or_default();
            let key: Key = (sub.subject.clone(), sub.queue.clone());
            let count = counts.entry(key.clone()).or_insert(0);
            let before = *count;
            *count = if add {
                before.saturating_add(1)
            } else {
                before.saturating_sub(1)
            };
            let after = *count;
            if after == 0 {
                counts.remove(&key);
                if counts.is_empty() {
                    st.counts.remove(&account.name);
                }
            }
            let acc = account.name.as_bytes();
            match (&sub.queue, before, after) {
                (_, b, a) if b == a => {}
                (None, 0, _) => rs_plus(&mut line, acc, &sub.subject, None),
                (None, _, 0) => rs_minus(&mut line, acc, &sub.subject, None),
                (None, _, _) => {}
                (Some(q), _, 0) => rs_minus(&mut line, acc, &sub.subject, Some(q)),
                (Some(q), _, n) => rs_plus(&mut line, acc, &sub.subject, Some((q, n))),
            }
            if line.is_empty() {
                return;
            }
            for route in &st.routes {
                if route.append_deferred(&line) {
                    kicks.push(route.clone());
                }
            }
        }
        for route in kicks {
            route.kick();
        }
    }

    /// Start telling `route` about interest: every current count is queued
    /// for it (the dump), then every later change. Returns true when the
    /// caller must [`Client::kick`] the route.
    pub fn attach(&self, route: &Arc<Client>) -> bool {
        let mut st = self.state();
        let mut dump = Vec::new();
        for (acc, counts) in &st.counts {
            for ((subject, queue), &n) in counts {
                match queue {
                    None => rs_plus(&mut dump, acc.as_bytes(), subject, None),
                    Some(q) => rs_plus(&mut dump, acc.as_bytes(), subject, Some((q, n))),
                }
            }
        }
        st.routes.push(route.clone());
        !dump.is_empty() && route.append_deferred(&dump)
    }

    /// Stop telling `route` about interest.
    pub fn detach(&self, route: &Client) {
        self.state().routes.retain(|r| r.cid != route.cid);
    }

    /// How many interest entries are counted (for tests and monitoring).
    pub fn entries(&self) -> usize {
        self.state().counts.values().map(HashMap::len).sum()
    }
}
