//! What checking credentials may cost the broker, whoever asks.
//!
//! - bcrypt checks take turns: at most [`permits`] run at once (half the
//!   cores, at least one), in arrival order, so a flood of CONNECTs with
//!   wrong passwords queues up behind them instead of taking every core
//!   from the clients already connected.
//! - A user name that does not exist is refused without computing any
//!   hash, but not sooner than a wrong password would be: the refusal
//!   waits (asleep, no CPU) as long as a check of the configured hash cost
//!   takes on this machine, so the time of an answer does not say whether
//!   the user exists. The estimate is the slow end of the recent checks of
//!   that cost (a decaying maximum), or, before any, a cost-4 check timed
//!   once and scaled (each cost step doubles the work).
//!
//! A failed login thus costs at most what a good one does, and a wrong
//! user name costs nothing but the wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A cost-4 bcrypt hash (of `nats-lite`), to time one cheap check.
const CALIBRATION_HASH: &str = "$2a$04$Uje89hOS1c523csVTBCFReJYyXubR32cEjDGSji4w4/SshmGx3YNC";
/// bcrypt costs go up to 31.
const MAX_COST: usize = 31;

/// Tickets for bcrypt checks: (tickets handed out, checks finished).
/// Ticket `t` runs once `t < finished + permits`: fewer than `permits`
/// earlier tickets are still running, and the turns go in order.
struct Turns {
    state: Mutex<(u64, u64)>,
    turn: Condvar,
    permits: u64,
}

fn turns() -> &'static Turns {
    static TURNS: OnceLock<Turns> = OnceLock::new();
    TURNS.get_or_init(|| Turns {
        state: Mutex::new((0, 0)),
        turn: Condvar::new(),
        permits: permits() as u64,
    })
}

/// How many bcrypt checks may run at once: half the cores, at least one.
pub fn permits() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Check `given` against the bcrypt hash `stored`, in turn with the other
/// checks; the time it takes is noted for [`as_long_as_a_check`].
pub fn verify_bcrypt(given: &str, stored: &str) -> bool {
    let _turn = Turn::take();
    let start = Instant::now();
    let ok = bcrypt::verify(given, stored).unwrap_or(false);
    if let Some(cost) = cost_of(stored) {
        note_check(cost, start.elapsed());
    }
    ok
}

/// A bcrypt check's turn, given back when dropped (even by a panic).
struct Turn;

impl Turn {
    fn take() -> Turn {
        let turns = turns();
        let mut st = turns.state.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = st.0;
        st.0 += 1;
        while ticket >= st.1 + turns.permits {
            st = turns.turn.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let turns = turns();
        turns.state.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
        turns.turn.notify_all();
    }
}

/// Refuse as slowly as a check of `stored` would (when it is a bcrypt
/// hash; plain secrets are compared in constant time anyway): sleep for
/// the time such a check takes.
pub fn as_long_as_a_check(stored: &str) {
    if let Some(cost) = cost_of(stored) {
        std::thread::sleep(check_time(cost));
    }
}

/// Time one cheap check now (once per process), so the first refusal of
/// an unknown user needs no hash either.
pub fn calibrate() {
    let _ = cost4_time();
}

fn cost4_time() -> Duration {
    static COST4: OnceLock<Duration> = OnceLock::new();
    *COST4.get_or_init(|| {
        let start = Instant::now();
        let _ = bcrypt::verify("calibration", CALIBRATION_HASH);
        start.elapsed()
    })
}

/// Estimated check time per cost, in nanoseconds (0: none measured yet).
fn measured() -> &'static [AtomicU64; MAX_COST + 1] {
    static MEASURED: [AtomicU64; MAX_COST + 1] = [const { AtomicU64::new(0) }; MAX_COST + 1];
    &MEASURED
}

/// Note a check's time: the estimate follows the slow end of recent
/// checks (a decaying maximum), so an unknown user is never answered
/// clearly sooner than a wrong password on a busy machine.
fn note_check(cost: usize, took: Duration) {
    let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
    let _ = measured()[cost].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some(nanos.max(old - old / 8))
    });
}

/// How long a check of `cost` takes here.
fn check_time(cost: usize) -> Duration {
    match measured()[cost].load(Ordering::Relaxed) {
        0 => cost4_time() * (1u32 << cost.saturating_sub(4).min(27)),
        nanos => Duration::from_nanos(nanos),
    }
}

/// The cost of a bcrypt hash (`$2b$10$...` is 10).
fn cost_of(stored: &str) -> Option<usize> {
    if !super::auth::is_bcrypt(stored) {
        return None;
    }
    let cost: usize = stored.get(4..6)?.parse().ok()?;
    (cost <= MAX_COST).then_some(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_read_from_the_hash() {
        assert_eq!(cost_of(CALIBRATION_HASH), Some(4));
        assert_eq!(cost_of("$2b$12$abc"), Some(12));
        assert_eq!(cost_of("plain"), None);
        assert_eq!(cost_of("$2b$xx$abc"), None);
    }

    #[test]
    fn calibration_hash_is_valid() {
        assert!(bcrypt::verify("nats-lite", CALIBRATION_HASH).unwrap());
    }

    #[test]
    fn checks_take_turns_and_are_timed() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let hash = hash.clone();
                std::thread::spawn(move || verify_bcrypt("pw", &hash))
            })
            .collect();
        assert!(threads.into_iter().all(|t| t.join().unwrap()));
        assert!(!verify_bcrypt("wrong", &hash));
        assert!(check_time(4) > Duration::ZERO);
        let st = turns().state.lock().unwrap();
        assert_eq!(st.0, st.1, "every ticket finished");
    }
}
