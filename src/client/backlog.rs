//! The messages a connection has read and its owner has not taken yet,
//! bounded in bytes as an official client bounds a subscription's pending
//! messages: past [`DEFAULT_PENDING_BYTES`] the reader drops what arrives
//! and counts it (a slow consumer, on our side), instead of buffering
//! without end or stopping to read (which would make the server cut the
//! whole connection off). `sub` writing to a slow stdout is the case.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::message::Message;

/// Bytes of messages waiting for the owner before the reader drops new
/// ones: nats.go's default pending bytes limit per subscription.
pub const DEFAULT_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// What one waiting message is counted as, beyond its bytes.
const PER_MESSAGE: usize = 64;

/// Bytes waiting and what was dropped, shared by the reader (which adds)
/// and the owner (which takes).
#[derive(Debug)]
pub struct Backlog {
    bytes: AtomicUsize,
    limit: usize,
    dropped_msgs: AtomicU64,
    dropped_bytes: AtomicU64,
}

impl Backlog {
    /// An empty backlog holding up to `limit` bytes.
    pub fn new(limit: usize) -> Backlog {
        Backlog {
            bytes: AtomicUsize::new(0),
            limit,
            dropped_msgs: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
        }
    }

    /// The reader has `m`: true when it may queue it, false when it is
    /// dropped (and counted).
    pub fn admit(&self, m: &Message) -> bool {
        let size = size_of(m);
        // Only the reader adds, so nothing can add between the load and the add.
        if self.bytes.load(Ordering::Acquire) + size > self.limit {
            self.dropped_msgs.fetch_add(1, Ordering::Relaxed);
            self.dropped_bytes
                .fetch_add(m.payload.len() as u64, Ordering::Relaxed);
            return false;
        }
        self.bytes.fetch_add(size, Ordering::AcqRel);
        true
    }

    /// The owner took `m` off the queue.
    pub fn taken(&self, m: &Message) {
        self.bytes.fetch_sub(size_of(m), Ordering::AcqRel);
    }

    /// Messages dropped so far, and their payload bytes.
    pub fn dropped(&self) -> (u64, u64) {
        (
            self.dropped_msgs.load(Ordering::Relaxed),
            self.dropped_bytes.load(Ordering::Relaxed),
        )
    }
}

/// What a waiting message is counted as: its strings and bytes, plus a
/// fixed overhead.
fn size_of(m: &Message) -> usize {
    let headers = m.headers.as_ref().map_or(0, |h| {
        h.description.as_ref().map_or(0, String::len)
            + h.entries
                .iter()
                .map(|(k, v)| k.len() + v.len() + PER_MESSAGE)
                .sum::<usize>()
    });
    PER_MESSAGE
        + m.subject.len()
        + m.reply.as_ref().map_or(0, String::len)
        + headers
        + m.payload.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: usize) -> Message {
        Message {
            subject: "s".into(),
            sid: 1,
            reply: None,
            headers: None,
            payload: vec![0; n],
        }
    }

    #[test]
    fn drops_past_the_limit_and_counts() {
        let b = Backlog::new(1000);
        assert!(b.admit(&msg(500)));
        assert!(b.admit(&msg(300)));
        assert!(!b.admit(&msg(300)));
        assert_eq!(b.dropped(), (1, 300));
        b.taken(&msg(500));
        assert!(b.admit(&msg(300)));
        assert_eq!(b.dropped(), (1, 300));
    }
}
