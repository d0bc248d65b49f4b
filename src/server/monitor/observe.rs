//! Per-message observations for `/metrics` that no poller could compute:
//! how many copies each published message was delivered as (fan-out) and
//! how large its payload was, as Prometheus histograms.
//!
//! Cost on the message path: each connection thread counts into buckets
//! of its own (a thread-local block of atomics that only that thread
//! writes, with a plain relaxed load and store, no locked instruction and
//! no cache line shared with another publisher). A scrape sums the blocks
//! of every live thread under the registry's lock (the lock covers the
//! summing only, never the reply's write); a thread that ends folds its
//! block into the retired totals first, so counts never go backwards.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Upper bounds of the fan-out buckets (deliveries per message).
pub const FANOUT_BOUNDS: [u64; 12] = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/// Upper bounds of the payload-size buckets (bytes).
pub const PAYLOAD_BOUNDS: [u64; 10] =
    [0, 16, 64, 256, 1024, 4096, 16384, 65536, 262_144, 1_048_576];

const FANOUT_BUCKETS: usize = FANOUT_BOUNDS.len() + 1;
const PAYLOAD_BUCKETS: usize = PAYLOAD_BOUNDS.len() + 1;

/// One thread's counts (or the retired threads' totals).
#[derive(Default)]
struct Block {
    fanout: [AtomicU64; FANOUT_BUCKETS],
    fanout_sum: AtomicU64,
    payload: [AtomicU64; PAYLOAD_BUCKETS],
    payload_sum: AtomicU64,
}

/// A histogram's cumulative-ready counts: per bucket (not cumulative), the
/// sum of the observations, and their number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Observations per bucket, the last one past every bound (+Inf).
    pub buckets: Vec<u64>,
    /// Sum of the observed values.
    pub sum: u64,
}

impl Counts {
    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// What a scrape reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Deliveries per published message.
    pub fanout: Counts,
    /// Payload bytes per published message.
    pub payload: Counts,
}

struct Registry {
    live: Vec<Arc<Block>>,
    retired: Block,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    live: Vec::new(),
    retired: Block {
        fanout: [const { AtomicU64::new(0) }; FANOUT_BUCKETS],
        fanout_sum: AtomicU64::new(0),
        payload: [const { AtomicU64::new(0) }; PAYLOAD_BUCKETS],
        payload_sum: AtomicU64::new(0),
    },
});

impl Block {
    fn add_into(&self, fanout: &mut [u64], payload: &mut [u64], sums: &mut (u64, u64)) {
        for (acc, b) in fanout.iter_mut().zip(&self.fanout) {
            *acc += b.load(Relaxed);
        }
        for (acc, b) in payload.iter_mut().zip(&self.payload) {
            *acc += b.load(Relaxed);
        }
        sums.0 += self.fanout_sum.load(Relaxed);
        sums.1 += self.payload_sum.load(Relaxed);
    }

    fn fold_into(&self, into: &Block) {
        for (acc, b) in into.fanout.iter().zip(&self.fanout) {
            acc.fetch_add(b.load(Relaxed), Relaxed);
        }
        for (acc, b) in into.payload.iter().zip(&self.payload) {
            acc.fetch_add(b.load(Relaxed), Relaxed);
        }
        into.fanout_sum
            .fetch_add(self.fanout_sum.load(Relaxed), Relaxed);
        into.payload_sum
            .fetch_add(self.payload_sum.load(Relaxed), Relaxed);
    }
}

/// A thread's handle on its block; retires it when the thread ends.
struct Local(OnceCell<Arc<Block>>);

impl Local {
    fn block(&self) -> &Block {
        self.0.get_or_init(|| {
            let block = Arc::new(Block::default());
            lock().live.push(block.clone());
            block
        })
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(block) = self.0.get() {
            let mut reg = lock();
            block.fold_into(&reg.retired);
            if let Some(i) = reg.live.iter().position(|b| Arc::ptr_eq(b, block)) {
                reg.live.swap_remove(i);
            }
        }
    }
}

thread_local! {
    static LOCAL: Local = const { Local(OnceCell::new()) };
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bucket of `value` among `bounds` (the last index when past them all).
#[inline]
fn bucket(bounds: &[u64], value: u64) -> usize {
    bounds.partition_point(|b| *b < value)
}

/// Add one increment to a counter only this thread writes: a load and a
/// store, no locked instruction.
#[inline]
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

/// Record one published message: delivered as `copies` messages (local
/// subscribers and routes), with `payload` bytes.
#[inline]
pub fn observe_publish(copies: u64, payload: usize) {
    let _ = LOCAL.try_with(|local| {
        let b = local.block();
        bump(&b.fanout[bucket(&FANOUT_BOUNDS, copies)], 1);
        bump(&b.fanout_sum, copies);
        bump(&b.payload[bucket(&PAYLOAD_BOUNDS, payload as u64)], 1);
        bump(&b.payload_sum, payload as u64);
    });
}

/// The totals over every thread, live or ended.
pub fn snapshot() -> Snapshot {
    let mut fanout = vec![0; FANOUT_BUCKETS];
    let mut payload = vec![0; PAYLOAD_BUCKETS];
    let mut sums = (0, 0);
    {
        let reg = lock();
        reg.retired.add_into(&mut fanout, &mut payload, &mut sums);
        for b in &reg.live {
            b.add_into(&mut fanout, &mut payload, &mut sums);
        }
    }
    Snapshot {
        fanout: Counts {
            buckets: fanout,
            sum: sums.0,
        },
        payload: Counts {
            buckets: payload,
            sum: sums.1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_upper_bounds() {
        assert_eq!(bucket(&FANOUT_BOUNDS, 0), 0);
        assert_eq!(bucket(&FANOUT_BOUNDS, 1), 1);
        assert_eq!(bucket(&FANOUT_BOUNDS, 3), 3);
        assert_eq!(bucket(&FANOUT_BOUNDS, 4), 3);
        assert_eq!(bucket(&FANOUT_BOUNDS, 1024), 11);
        assert_eq!(bucket(&FANOUT_BOUNDS, 5000), 12);
        assert_eq!(bucket(&PAYLOAD_BOUNDS, 17), 2);
    }

    #[test]
    fn ended_threads_keep_their_counts() {
        let before = snapshot();
        std::thread::spawn(|| {
            observe_publish(3, 100);
            observe_publish(0, 0);
        })
        .join()
        .unwrap();
        let after = snapshot();
        // Other tests may publish meanwhile: at least ours are there.
        assert!(after.fanout.count() >= before.fanout.count() + 2);
        assert!(after.fanout.sum >= before.fanout.sum + 3);
        assert!(after.payload.sum >= before.payload.sum + 100);
        assert!(after.fanout.buckets[3] > before.fanout.buckets[3]);
    }
}
