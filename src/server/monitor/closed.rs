//! The ring of recently closed connections that `/connz?state=closed`
//! shows, with why each one closed (nats-server's `closedRingBuffer`).
//!
//! A record is made once per connection, when the connection's thread
//! unregisters it, so the ring costs nothing on the message path. It is
//! bounded by `max_closed_clients`; the oldest records go first.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::connz::ConnInfo;
use crate::server::client::Client;

/// Recently closed connections, oldest first.
#[derive(Debug)]
pub struct ClosedRing {
    max: usize,
    ring: Mutex<VecDeque<ConnInfo>>,
}

impl ClosedRing {
    /// A ring keeping at most `max` records (0: none).
    pub fn new(max: usize) -> ClosedRing {
        ClosedRing {
            max,
            ring: Mutex::new(VecDeque::new()),
        }
    }

    /// Record a closed client. `token_auth`: clients authenticate with a
    /// token, which is never shown.
    pub fn record(&self, client: &Client, token_auth: bool) {
        if self.max == 0 {
            return;
        }
        let info = ConnInfo::closed(client, token_auth);
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        while ring.len() >= self.max {
            ring.pop_front();
        }
        ring.push_back(info);
    }

    /// A copy of the records, oldest first.
    pub fn snapshot(&self) -> Vec<ConnInfo> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.iter().cloned().collect()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
