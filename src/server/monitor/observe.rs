//! Per-message observations for `/metrics` that no poller could compute:
//! how many copies each published message was delivered as (fan-out) and
//! how large its payload was, as Prometheus histograms.
//!
//! Cost on the message path: a connection counts into plain integers of
//! its own ([`Local`], inside its fan-out state, no atomics, a bucket found
//! with one `leading_zeros`), and at the end of each read batch (and every
//! [`FLUSH_EVERY`] messages within one) adds them to its thread's block: atomics that only
//! that thread writes, with a relaxed load and store (no locked
//! instruction, no cache line shared with another publisher). A scrape
//! sums the blocks of every live thread under the registry's lock (the
//! lock covers the summing only, never the reply's write); a thread that
//! ends folds its block into the retired totals first, so counts never go
//! backwards. A scrape sees every message of a read batch once the
//! batch is over, whether or not the connection publishes again.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Upper bounds of the fan-out buckets (deliveries per message).
pub const FANOUT_BOUNDS: [u64; 12] = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/// Upper bounds of the payload-size buckets (bytes).
pub const PAYLOAD_BOUNDS: [u64; 10] =
    [0, 16, 64, 256, 1024, 4096, 16384, 65536, 262_144, 1_048_576];

/// Messages a connection counts before adding them to its thread's block.
pub const FLUSH_EVERY: u32 = 64;

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
struct ThreadSlot(OnceCell<Arc<Block>>);

impl ThreadSlot {
    fn block(&self) -> &Block {
        self.0.get_or_init(|| {
            let block = Arc::new(Block::default());
            lock().live.push(block.clone());
            block
        })
    }
}

impl Drop for ThreadSlot {
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
    static LOCAL: ThreadSlot = const { ThreadSlot(OnceCell::new()) };
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bucket of `value` among `bounds` (the last index when past them
/// all): what the `*_bucket` formulas compute, checked by the tests.
#[cfg(test)]
fn bucket(bounds: &[u64], value: u64) -> usize {
    bounds.partition_point(|b| *b < value)
}

/// Add to a counter only this thread writes: a load and a store, no
/// locked instruction.
#[inline]
fn bump(counter: &AtomicU64, by: u64) {
    if by != 0 {
        counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
    }
}

/// `ceil(log2(n))` for `n >= 1` (0 for 1).
#[inline]
fn ceil_log2(n: u64) -> u32 {
    64 - (n - 1).leading_zeros()
}

/// [`bucket`] for [`FANOUT_BOUNDS`] (0, then powers of two up to 1024).
#[inline]
fn fanout_bucket(n: u64) -> usize {
    if n == 0 {
        0
    } else {
        (ceil_log2(n) as usize + 1).min(FANOUT_BOUNDS.len())
    }
}

/// [`bucket`] for [`PAYLOAD_BOUNDS`] (0, then powers of four from 16 to 1 MiB).
#[inline]
fn payload_bucket(n: u64) -> usize {
    if n == 0 {
        0
    } else {
        ((ceil_log2(n).saturating_sub(1) / 2).max(1) as usize).min(PAYLOAD_BOUNDS.len())
    }
}

/// One connection's counts not yet added to its thread's block.
#[derive(Default)]
pub struct Local {
    fanout: [u64; FANOUT_BUCKETS],
    fanout_sum: u64,
    payload: [u64; PAYLOAD_BUCKETS],
    payload_sum: u64,
    pending: u32,
}

impl Local {
    /// Record one published message: delivered as `copies` messages (local
    /// subscribers and routes), with `payload` bytes.
    #[inline]
    pub fn publish(&mut self, copies: u64, payload: usize) {
        self.fanout[fanout_bucket(copies)] += 1;
        self.fanout_sum += copies;
        self.payload[payload_bucket(payload as u64)] += 1;
        self.payload_sum += payload as u64;
        self.pending += 1;
        if self.pending >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Add the counts to this thread's block and start again.
    #[inline(never)]
    pub fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        let _ = LOCAL.try_with(|local| {
            let b = local.block();
            for (acc, n) in b.fanout.iter().zip(&self.fanout) {
                bump(acc, *n);
            }
            bump(&b.fanout_sum, self.fanout_sum);
            for (acc, n) in b.payload.iter().zip(&self.payload) {
                bump(acc, *n);
            }
            bump(&b.payload_sum, self.payload_sum);
        });
        // Field by field: assigning a new `Local` would drop (and flush) this one.
        self.fanout = [0; FANOUT_BUCKETS];
        self.fanout_sum = 0;
        self.payload = [0; PAYLOAD_BUCKETS];
        self.payload_sum = 0;
        self.pending = 0;
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.flush();
    }
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
    fn bucket_formulas_match_the_bounds() {
        for n in (0..5000).chain([1 << 20, (1 << 20) + 1, u64::MAX / 2]) {
            assert_eq!(fanout_bucket(n), bucket(&FANOUT_BOUNDS, n), "fanout {n}");
            assert_eq!(payload_bucket(n), bucket(&PAYLOAD_BOUNDS, n), "payload {n}");
        }
        for n in [65535, 65536, 65537, 262_144, 262_145, 1_048_576, 1_048_577] {
            assert_eq!(payload_bucket(n), bucket(&PAYLOAD_BOUNDS, n), "payload {n}");
        }
    }

    #[test]
    fn ended_threads_keep_their_counts() {
        let before = snapshot();
        std::thread::spawn(|| {
            let mut local = Local::default();
            local.publish(3, 100);
            local.publish(0, 0);
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
