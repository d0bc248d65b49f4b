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
        self.push(ConnInfo::closed(client, token_auth));
    }

    fn push(&self, info: ConnInfo) {
        if self.max == 0 {
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::monitor::format::GoTime;

    fn info(cid: u64) -> ConnInfo {
        ConnInfo {
            cid,
            kind: "Client",
            conn_type: "nats",
            ip: String::new(),
            port: 0,
            start: GoTime(0),
            last_activity: GoTime(0),
            stop: Some(GoTime(1)),
            reason: "Client Closed".into(),
            rtt: "0s".into(),
            uptime: "0s".into(),
            idle: "0s".into(),
            pending_bytes: 0,
            in_msgs: 0,
            out_msgs: 0,
            in_bytes: 0,
            out_bytes: 0,
            subscriptions: 0,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            tls_version: String::new(),
            tls_cipher_suite: String::new(),
            authorized_user: String::new(),
            account: String::new(),
            subscriptions_list: Vec::new(),
            subscriptions_list_detail: Vec::new(),
            user: String::new(),
            acc: String::new(),
            rtt_nanos: 0,
        }
    }

    #[test]
    fn oldest_records_go_first() {
        let ring = ClosedRing::new(3);
        for cid in 1..=5 {
            ring.push(info(cid));
        }
        let cids: Vec<u64> = ring.snapshot().iter().map(|c| c.cid).collect();
        assert_eq!(cids, [3, 4, 5]);
        let none = ClosedRing::new(0);
        none.push(info(1));
        assert!(none.is_empty());
    }
}
