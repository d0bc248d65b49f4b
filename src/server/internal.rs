//! In-process destinations: the outbound side of an internal client (the
//! system service, as nats-server's `INTERNAL` client kind) is a bounded
//! in-memory queue instead of a socket.
//!
//! A publisher's thread hands the staged `MSG`/`HMSG` bytes of a read
//! batch to [`InternalQueue::push`] as it would hand them to a socket: a
//! buffer swap when the queue is empty (no copy), an append otherwise,
//! under a lock held only for that. It never waits, never stalls and never
//! runs the service's handlers. The service's own thread takes everything
//! queued at once ([`InternalQueue::take`]), answers it, and says when it
//! is done ([`InternalQueue::done`]).
//!
//! The bound covers what is queued and what the service is working on.
//! Bytes that would pass it are dropped whole (delivery is at most once,
//! as to any NATS subscriber): the messages are counted
//! ([`InternalQueue::dropped`], the server's `internal_dropped`) and the
//! service's thread logs them, so nothing is lost silently. An idle queue
//! takes one batch whatever its size, so a bound smaller than one read
//! batch (at most `EARLY_FLUSH_BYTES` plus one message) still lets
//! requests through one batch at a time.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// What [`InternalQueue::push`] did with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Taken,
    /// Over the bound: dropped and counted.
    Dropped,
    /// The queue is closed (its service stopped): dropped.
    Closed,
}

#[derive(Default)]
struct State {
    /// Bytes waiting for the service.
    queued: Vec<u8>,
    /// Bytes the service took and has not finished with.
    busy: usize,
    /// Messages dropped since the service last asked ([`InternalQueue::dropped`]).
    dropped: u64,
    /// No more bytes are taken.
    closed: bool,
}

/// A bounded queue of protocol bytes for one internal client.
pub struct InternalQueue {
    state: Mutex<State>,
    ready: Condvar,
    max_bytes: usize,
}

impl InternalQueue {
    /// A queue holding at most `max_bytes` (queued and being handled).
    pub fn new(max_bytes: usize) -> InternalQueue {
        InternalQueue {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            max_bytes,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hand over `staged` (left empty; its allocation may be swapped for
    /// another) holding `msgs` messages.
    pub fn push(&self, staged: &mut Vec<u8>, msgs: u64) -> Pushed {
        let mut state = self.state();
        if state.closed {
            staged.clear();
            return Pushed::Closed;
        }
        let idle = state.queued.is_empty() && state.busy == 0;
        if !idle && state.queued.len() + state.busy + staged.len() > self.max_bytes {
            staged.clear();
            state.dropped += msgs;
            drop(state);
            // Wake the service so that it reports the drop.
            self.ready.notify_one();
            return Pushed::Dropped;
        }
        if state.queued.is_empty() {
            std::mem::swap(&mut state.queued, staged);
        } else {
            state.queued.extend_from_slice(staged);
            staged.clear();
        }
        drop(state);
        self.ready.notify_one();
        Pushed::Taken
    }

    /// Wait up to `timeout` for bytes, and take them all into `into`
    /// (cleared first, its allocation given back to the queue). False
    /// when the queue is closed. The caller calls [`InternalQueue::done`]
    /// once it has handled them.
    pub fn take(&self, into: &mut Vec<u8>, timeout: Duration) -> bool {
        into.clear();
        let mut state = self.state();
        if state.queued.is_empty() && state.dropped == 0 && !state.closed {
            state = self
                .ready
                .wait_timeout(state, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if state.closed {
            return false;
        }
        std::mem::swap(&mut state.queued, into);
        state.busy = into.len();
        true
    }

    /// The service has handled what it took.
    pub fn done(&self) {
        self.state().busy = 0;
    }

    /// Messages dropped since the last call.
    pub fn dropped(&self) -> u64 {
        std::mem::take(&mut self.state().dropped)
    }

    /// Bytes queued or being handled.
    pub fn pending_bytes(&self) -> usize {
        let state = self.state();
        state.queued.len() + state.busy
    }

    /// Take nothing more, and wake the service so that it stops.
    pub fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.queued = Vec::new();
        drop(state);
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_queue_takes_a_batch_larger_than_its_bound() {
        let q = InternalQueue::new(10);
        let mut staged = vec![b'x'; 50];
        assert_eq!(q.push(&mut staged, 5), Pushed::Taken);
        assert!(staged.is_empty());
        assert_eq!(q.pending_bytes(), 50);
    }

    #[test]
    fn bytes_over_the_bound_are_dropped_and_counted_while_busy() {
        let q = InternalQueue::new(100);
        assert_eq!(q.push(&mut vec![b'a'; 60], 1), Pushed::Taken);
        let mut got = Vec::new();
        assert!(q.take(&mut got, Duration::ZERO));
        assert_eq!(got.len(), 60);
        // Still working on the first: the bound counts it.
        assert_eq!(q.push(&mut vec![b'b'; 30], 1), Pushed::Taken);
        assert_eq!(q.push(&mut vec![b'c'; 30], 3), Pushed::Dropped);
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.dropped(), 0);
        q.done();
        assert_eq!(q.push(&mut vec![b'd'; 30], 1), Pushed::Taken);
        assert!(q.take(&mut got, Duration::ZERO));
        assert_eq!(got, [vec![b'b'; 30], vec![b'd'; 30]].concat());
    }

    #[test]
    fn a_closed_queue_takes_nothing_and_ends_the_wait() {
        let q = std::sync::Arc::new(InternalQueue::new(100));
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || q.take(&mut Vec::new(), Duration::from_secs(30)))
        };
        q.close();
        assert!(!waiter.join().unwrap());
        assert_eq!(q.push(&mut vec![1], 1), Pushed::Closed);
    }
}
