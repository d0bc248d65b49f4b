//! Connection threads reused across connections: a connection is still
//! served by one thread for its whole life, but when it ends the thread
//! parks instead of exiting, and the next accepted connection is handed to
//! a parked thread rather than to a newly spawned one. Spawning and tearing
//! down a thread (its stack mapping, guard page, signal stack, kernel
//! task) is most of what a short-lived connection costs.
//!
//! The pool is bounded: at most `max_parked` threads wait at once (a thread
//! that finds the pool full exits), and a parked thread that gets no work
//! in time exits too: the first `warm` parked threads wait `warm_idle`,
//! any more only `idle`, so a burst of connections leaves at most `warm`
//! threads behind for long. A thread parked for [`RELEASE_AFTER`] first
//! gives back the stack pages its last connection touched (see `stack.rs`);
//! one that is reused sooner keeps them, so a busy pool never faults them in
//! again. Parked threads wait LIFO: the most recently parked one is reused
//! first and the coldest ones time out.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long a parked thread keeps its last connection's stack pages.
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// How many threads wait, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Parking {
    /// Threads parked at most; more exit when their job ends.
    pub max_parked: usize,
    /// The first this many parked threads wait `warm_idle` for a job...
    pub warm: usize,
    /// ...before they exit.
    pub warm_idle: Duration,
    /// Parked threads beyond `warm` exit after this long without a job.
    pub idle: Duration,
}

/// A bounded pool of parked threads that run `handler` on each job.
/// Clones share the pool.
pub struct ThreadPool<T: Send + 'static> {
    inner: Arc<Inner<T>>,
}

impl<T: Send + 'static> Clone for ThreadPool<T> {
    fn clone(&self) -> ThreadPool<T> {
        ThreadPool {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<T> {
    name: &'static str,
    stack_size: usize,
    parking: Parking,
    handler: Box<dyn Fn(T) + Send + Sync>,
    /// Threads waiting for a job, most recently parked last.
    parked: Mutex<Vec<Arc<Parked<T>>>>,
}

/// A parked thread and the slot its next job is put in.
struct Parked<T> {
    thread: Thread,
    job: Mutex<Option<T>>,
}

impl<T: Send + 'static> ThreadPool<T> {
    /// A pool of threads named `name` with `stack_size` bytes of stack,
    /// parked as `parking` says, each running `handler` on its jobs.
    pub fn new(
        name: &'static str,
        stack_size: usize,
        parking: Parking,
        handler: impl Fn(T) + Send + Sync + 'static,
    ) -> ThreadPool<T> {
        ThreadPool {
            inner: Arc::new(Inner {
                name,
                stack_size,
                parking,
                handler: Box::new(handler),
                parked: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Run `job` on a parked thread, or on a new one when none is parked.
    /// When no thread can be started the job comes back with the error.
    pub fn execute(&self, job: T) -> Result<(), (T, io::Error)> {
        if let Some(parked) = self.inner.parked().pop() {
            *lock(&parked.job) = Some(job);
            parked.thread.unpark();
            return Ok(());
        }
        // The job travels in a slot so that a failed spawn can return it.
        let slot = Arc::new(Mutex::new(Some(job)));
        let taken = slot.clone();
        let inner = self.inner.clone();
        let spawned = std::thread::Builder::new()
            .name(self.inner.name.into())
            .stack_size(self.inner.stack_size)
            .spawn(move || {
                let first = lock(&taken).take();
                drop(taken);
                if let Some(job) = first {
                    inner.work(job);
                }
            });
        match spawned {
            Ok(_) => Ok(()),
            Err(e) => match lock(&slot).take() {
                Some(job) => Err((job, e)),
                None => Ok(()),
            },
        }
    }

    /// Threads parked now.
    #[cfg(test)]
    pub fn parked(&self) -> usize {
        self.inner.parked().len()
    }
}

impl<T: Send + 'static> Inner<T> {
    fn parked(&self) -> MutexGuard<'_, Vec<Arc<Parked<T>>>> {
        lock(&self.parked)
    }

    /// A pool thread's life: run its first job, then park for the next one
    /// until the pool is full or no job comes in time.
    fn work(&self, first: T) {
        (self.handler)(first);
        let me = Arc::new(Parked {
            thread: std::thread::current(),
            job: Mutex::new(None),
        });
        while let Some(job) = self.park(&me) {
            (self.handler)(job);
        }
    }

    /// Wait for the next job; `None` when this thread should exit.
    #[inline(never)]
    fn park(&self, me: &Arc<Parked<T>>) -> Option<T> {
        let idle = {
            let mut parked = self.parked();
            if parked.len() >= self.parking.max_parked {
                return None;
            }
            parked.push(me.clone());
            if parked.len() <= self.parking.warm {
                self.parking.warm_idle
            } else {
                self.parking.idle
            }
        };
        let start = Instant::now();
        let deadline = start + idle;
        let mut released = false;
        loop {
            if let Some(job) = lock(&me.job).take() {
                return Some(job);
            }
            let now = Instant::now();
            if !released && now >= start + RELEASE_AFTER {
                super::stack::release_unused();
                released = true;
            }
            if now >= deadline {
                let mut parked = self.parked();
                if let Some(i) = parked.iter().position(|p| Arc::ptr_eq(p, me)) {
                    parked.remove(i);
                    return None;
                }
                // Taken off the list by `execute`: its job is on the way.
                drop(parked);
                std::thread::park();
                continue;
            }
            let wake = if released {
                deadline
            } else {
                (start + RELEASE_AFTER).min(deadline)
            };
            std::thread::park_timeout(wake.saturating_duration_since(now));
        }
    }
}

fn lock<V>(m: &Mutex<V>) -> MutexGuard<'_, V> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::mpsc;

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn sequential_jobs_reuse_one_thread() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let pool = ThreadPool::new("t", 64 * 1024, parking(4, 4, 30_000), move |n: u32| {
            lock(&tx).send((n, std::thread::current().id())).unwrap();
        });
        let mut ids = HashSet::new();
        for n in 0..50 {
            // Wait until the previous job's thread is parked again.
            if n > 0 {
                wait_until("a parked thread", || pool.parked() == 1);
            }
            pool.execute(n).map_err(|(_, e)| e).unwrap();
            let (got, id) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(got, n);
            ids.insert(id);
        }
        assert_eq!(ids.len(), 1, "one thread served every job");
    }

    #[test]
    fn at_most_max_parked_threads_wait() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let g = gate.clone();
        let pool = ThreadPool::new("t", 64 * 1024, parking(3, 3, 30_000), move |_: ()| {
            let (m, cv) = &*g;
            let mut open = lock(m);
            while !*open {
                open = cv.wait(open).unwrap_or_else(|e| e.into_inner());
            }
        });
        for _ in 0..10 {
            pool.execute(()).map_err(|(_, e)| e).unwrap();
        }
        *lock(&gate.0) = true;
        gate.1.notify_all();
        wait_until("three parked threads", || pool.parked() == 3);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pool.parked(), 3);
    }

    #[test]
    fn idle_threads_beyond_the_warm_ones_exit_first() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let pool = ThreadPool::new("t", 64 * 1024, parking(8, 2, 400), move |n: u8| {
            lock(&tx).send(n).unwrap();
        });
        for n in 0..6 {
            pool.execute(n).map_err(|(_, e)| e).unwrap();
        }
        for _ in 0..6 {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        wait_until("the extra threads to exit", || pool.parked() == 2);
        wait_until("the warm threads to exit", || pool.parked() == 0);
        // The pool still works after its threads left.
        pool.execute(7).map_err(|(_, e)| e).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
    }

    /// At most `max` parked, `warm` of them for `warm_ms`, the others 20 ms.
    fn parking(max: usize, warm: usize, warm_ms: u64) -> Parking {
        Parking {
            max_parked: max,
            warm,
            warm_idle: Duration::from_millis(warm_ms),
            idle: Duration::from_millis(20),
        }
    }
}
