//! Server-wide counters. Connection threads add to them once per read batch,
//! not once per message, so the hot path does not bounce cache lines
//! between cores.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters for `/varz`.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Messages received from clients.
    pub in_msgs: AtomicU64,
    /// Payload bytes received from clients.
    pub in_bytes: AtomicU64,
    /// Messages delivered to clients.
    pub out_msgs: AtomicU64,
    /// Bytes delivered to clients.
    pub out_bytes: AtomicU64,
    /// Connections closed as slow consumers.
    pub slow_consumers: AtomicU64,
    /// Connections closed as stale.
    pub stale_connections: AtomicU64,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
    /// Messages for an internal client (the system service) dropped
    /// because its queue was full (`internal.rs`).
    pub internal_dropped: AtomicU64,
}

impl ServerStats {
    /// Add one read batch's inbound and outbound counts.
    pub fn add_batch(&self, in_msgs: u64, in_bytes: u64, out_msgs: u64, out_bytes: u64) {
        if in_msgs > 0 {
            self.in_msgs.fetch_add(in_msgs, Ordering::Relaxed);
            self.in_bytes.fetch_add(in_bytes, Ordering::Relaxed);
        }
        if out_msgs > 0 {
            self.out_msgs.fetch_add(out_msgs, Ordering::Relaxed);
            self.out_bytes.fetch_add(out_bytes, Ordering::Relaxed);
        }
    }
}
