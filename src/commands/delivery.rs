//! Delivery to sinks, shared by `watch-http`'s alerts and `watch-host`'s
//! alerts and reports: one thread and bounded queue per sink
//! ([`Dispatcher`]), so a sink that is down delays neither the work that
//! feeds it nor the other sinks. A failed delivery is retried with a
//! doubling pause ([`Retry`]), logged, and dropped after the last attempt.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connect::short_duration;

/// Items waiting for one sink; more are dropped (and logged).
pub const QUEUE: usize = 256;

/// What a sink carries: anything that can say what it is in a log line.
pub trait Item: Send + Sync + 'static {
    /// `the alert for http://...`, `the report of 12:00:00`.
    fn what(&self) -> String;
}

/// Something that carries items somewhere.
pub trait Sink<T>: Send {
    /// Its name in log lines.
    fn name(&self) -> String;
    /// Deliver one item (one attempt).
    ///
    /// # Errors
    ///
    /// Why it was not delivered.
    fn deliver(&mut self, item: &T) -> Result<(), String>;
}

/// How often and how patiently a failed delivery is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Pause after the first failure; it doubles after each.
    pub first_pause: Duration,
    /// The longest pause.
    pub max_pause: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_pause: Duration::from_millis(500),
            max_pause: Duration::from_secs(8),
        }
    }
}

impl Retry {
    /// The pause after failed attempt `n` (from 1).
    pub fn pause(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first_pause
            .checked_mul(factor)
            .unwrap_or(self.max_pause)
            .min(self.max_pause)
    }
}

/// Deliver `item` with retries, logging failures.
pub fn deliver_with_retry<T: Item>(
    sink: &mut dyn Sink<T>,
    item: &T,
    retry: Retry,
    log: &dyn Fn(String),
) {
    let attempts = retry.attempts.max(1);
    for n in 1..=attempts {
        match sink.deliver(item) {
            Ok(()) => return,
            Err(e) if n == attempts => log(format!(
                "{}: giving up on {} after {attempts} attempts: {e}",
                sink.name(),
                item.what()
            )),
            Err(e) => {
                let pause = retry.pause(n);
                log(format!(
                    "{}: attempt {n} of {attempts} failed: {e}; retrying in {}",
                    sink.name(),
                    short_duration(pause)
                ));
                std::thread::sleep(pause);
            }
        }
    }
}

/// One queue and thread per sink.
pub struct Dispatcher<T> {
    queues: Vec<(String, SyncSender<Arc<T>>)>,
    done: Vec<Receiver<()>>,
    log: fn(String),
}

impl<T: Item> Dispatcher<T> {
    /// Start a thread for each sink; `log` writes a line on stderr.
    ///
    /// # Errors
    ///
    /// A thread could not be started.
    pub fn start(
        sinks: Vec<Box<dyn Sink<T>>>,
        retry: Retry,
        log: fn(String),
    ) -> std::io::Result<Dispatcher<T>> {
        let mut queues = Vec::new();
        let mut done = Vec::new();
        for (i, mut sink) in sinks.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Arc<T>>(QUEUE);
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let name = sink.name();
            std::thread::Builder::new()
                .name(format!("sink-{i}"))
                .spawn(move || {
                    for item in rx {
                        deliver_with_retry(sink.as_mut(), &*item, retry, &log);
                    }
                    drop(done_tx);
                })?;
            queues.push((name, tx));
            done.push(done_rx);
        }
        Ok(Dispatcher { queues, done, log })
    }

    /// True without sinks.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Queue `item` for every sink.
    pub fn send(&self, item: T) {
        let item = Arc::new(item);
        for (name, tx) in &self.queues {
            match tx.try_send(item.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => (self.log)(format!(
                    "{name}: {QUEUE} items waiting; dropped {}",
                    item.what()
                )),
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Let the sinks deliver what is queued, waiting at most `grace`.
    pub fn finish(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        drop(self.queues);
        for done in self.done {
            let left = deadline.saturating_duration_since(Instant::now());
            match done.recv_timeout(left) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                Err(RecvTimeoutError::Timeout) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Note(&'static str);

    impl Item for Note {
        fn what(&self) -> String {
            format!("the note {}", self.0)
        }
    }

    #[test]
    fn pauses_double_up_to_the_max() {
        let r = Retry::default();
        let p: Vec<_> = (1..=6).map(|n| r.pause(n).as_millis()).collect();
        assert_eq!(p, [500, 1000, 2000, 4000, 8000, 8000]);
        assert_eq!(r.pause(200), r.max_pause);
    }

    struct Flaky {
        fail_first: u32,
        calls: Arc<Mutex<u32>>,
    }

    impl Sink<Note> for Flaky {
        fn name(&self) -> String {
            "flaky".into()
        }
        fn deliver(&mut self, _: &Note) -> Result<(), String> {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            if *c <= self.fail_first {
                Err(format!("failure {c}"))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn retries_are_bounded_and_logged() {
        let retry = Retry {
            attempts: 3,
            first_pause: Duration::ZERO,
            max_pause: Duration::ZERO,
        };
        let lines = Mutex::new(Vec::new());
        let log = |l: String| lines.lock().unwrap().push(l);

        let calls = Arc::new(Mutex::new(0));
        let mut sink = Flaky {
            fail_first: 1,
            calls: calls.clone(),
        };
        deliver_with_retry(&mut sink, &Note("a"), retry, &log);
        assert_eq!(*calls.lock().unwrap(), 2);
        assert_eq!(
            lines.lock().unwrap().as_slice(),
            ["flaky: attempt 1 of 3 failed: failure 1; retrying in 0ms"]
        );

        let calls = Arc::new(Mutex::new(0));
        let mut sink = Flaky {
            fail_first: 10,
            calls: calls.clone(),
        };
        lines.lock().unwrap().clear();
        deliver_with_retry(&mut sink, &Note("a"), retry, &log);
        assert_eq!(*calls.lock().unwrap(), 3);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[2],
            "flaky: giving up on the note a after 3 attempts: failure 3"
        );
    }

    #[test]
    fn a_failing_sink_does_not_hold_up_another() {
        let calls = Arc::new(Mutex::new(0));
        let (tx, rx) = mpsc::channel();
        struct Record(mpsc::Sender<String>);
        impl Sink<Note> for Record {
            fn name(&self) -> String {
                "record".into()
            }
            fn deliver(&mut self, n: &Note) -> Result<(), String> {
                self.0.send(n.what()).map_err(|e| e.to_string())
            }
        }
        let d = Dispatcher::start(
            vec![
                Box::new(Flaky {
                    fail_first: u32::MAX,
                    calls,
                }),
                Box::new(Record(tx)),
            ],
            Retry {
                attempts: 3,
                first_pause: Duration::from_secs(60),
                max_pause: Duration::from_secs(60),
            },
            |_| {},
        )
        .unwrap();
        d.send(Note("b"));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            "the note b"
        );
        d.finish(Duration::from_millis(10));
    }
}
