//! When to alert: the per-target state machine that turns a stream of
//! verdicts into the few changes worth telling a person about. Pure: the
//! caller passes the time in, so fail-after, recovery and reminders are
//! unit-tested without clocks.
//!
//! - A target starts as unknown. OK checks while unknown or up say nothing.
//! - `fail_after` faults in a row make it down: one [`Change::Down`].
//! - While down, a reminder ([`Change::StillDown`]) every `remind`, if set,
//!   counted from the last alert.
//! - The first OK after an alerted fault: one [`Change::Recovered`]. Faults
//!   that never reached `fail_after` end silently.

use std::time::{Duration, Instant};

/// A change worth an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The target is now down (after `failures` faults in a row).
    Down {
        /// Faults in a row so far.
        failures: u32,
    },
    /// Still down; a reminder.
    StillDown {
        /// Faults in a row so far.
        failures: u32,
        /// Since the first fault of the run.
        down_for: Duration,
    },
    /// OK again after an alerted fault.
    Recovered {
        /// How many faults the run had.
        failures: u32,
        /// From the first fault of the run to this OK check.
        down_for: Duration,
    },
}

/// The alert state of one target.
#[derive(Debug, Clone)]
pub struct Tracker {
    fail_after: u32,
    remind: Option<Duration>,
    /// Faults in a row.
    failures: u32,
    /// When the current run of faults began.
    first_fault: Option<Instant>,
    /// When the last Down or StillDown was raised (Some while alerted).
    last_alert: Option<Instant>,
}

impl Tracker {
    /// A tracker that alerts after `fail_after` faults in a row (0 counts
    /// as 1) and reminds every `remind` while down.
    pub fn new(fail_after: u32, remind: Option<Duration>) -> Tracker {
        Tracker {
            fail_after: fail_after.max(1),
            remind: remind.filter(|d| !d.is_zero()),
            failures: 0,
            first_fault: None,
            last_alert: None,
        }
    }

    /// Take the verdict of a check made at `now`; returns the change to
    /// alert about, if any.
    pub fn observe(&mut self, ok: bool, now: Instant) -> Option<Change> {
        if ok {
            let failures = std::mem::take(&mut self.failures);
            let first = self.first_fault.take();
            return self.last_alert.take().map(|_| Change::Recovered {
                failures,
                down_for: first.map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
            });
        }
        self.failures = self.failures.saturating_add(1);
        let first = *self.first_fault.get_or_insert(now);
        match self.last_alert {
            None if self.failures >= self.fail_after => {
                self.last_alert = Some(now);
                Some(Change::Down {
                    failures: self.failures,
                })
            }
            Some(last)
                if self
                    .remind
                    .is_some_and(|r| now.saturating_duration_since(last) >= r) =>
            {
                self.last_alert = Some(now);
                Some(Change::StillDown {
                    failures: self.failures,
                    down_for: now.saturating_duration_since(first),
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `pattern` ('o' OK, 'x' fault) one check per second; return the
    /// changes with the index of the check that raised them.
    fn run(t: &mut Tracker, pattern: &str) -> Vec<(usize, Change)> {
        let t0 = Instant::now();
        pattern
            .chars()
            .enumerate()
            .filter_map(|(i, c)| {
                let now = t0 + Duration::from_secs(i as u64);
                t.observe(c == 'o', now).map(|ch| (i, ch))
            })
            .collect()
    }

    fn kinds(changes: &[(usize, Change)]) -> Vec<(usize, &'static str)> {
        changes
            .iter()
            .map(|(i, c)| {
                let k = match c {
                    Change::Down { .. } => "down",
                    Change::StillDown { .. } => "still",
                    Change::Recovered { .. } => "up",
                };
                (*i, k)
            })
            .collect()
    }

    #[test]
    fn alerts_once_per_change() {
        let mut t = Tracker::new(1, None);
        let c = run(&mut t, "ooxxxxooxo");
        assert_eq!(kinds(&c), [(2, "down"), (6, "up"), (8, "down"), (9, "up")]);
        assert_eq!(c[0].1, Change::Down { failures: 1 });
        assert_eq!(
            c[1].1,
            Change::Recovered {
                failures: 4,
                down_for: Duration::from_secs(4)
            }
        );
    }

    #[test]
    fn first_check_failing_alerts_and_ok_start_is_silent() {
        assert_eq!(
            kinds(&run(&mut Tracker::new(1, None), "xo")),
            [(0, "down"), (1, "up")]
        );
        assert!(run(&mut Tracker::new(1, None), "oooo").is_empty());
    }

    #[test]
    fn fail_after_needs_faults_in_a_row() {
        let mut t = Tracker::new(3, None);
        let c = run(&mut t, "xxoxxoxxxxo");
        assert_eq!(kinds(&c), [(8, "down"), (10, "up")]);
        assert_eq!(c[0].1, Change::Down { failures: 3 });
        assert_eq!(
            c[1].1,
            Change::Recovered {
                failures: 4,
                down_for: Duration::from_secs(4)
            }
        );
        assert!(t.last_alert.is_none());
    }

    #[test]
    fn blips_under_fail_after_end_silently() {
        assert!(run(&mut Tracker::new(2, None), "oxoxoxo").is_empty());
        // 0 behaves as 1.
        assert_eq!(kinds(&run(&mut Tracker::new(0, None), "x")), [(0, "down")]);
    }

    #[test]
    fn remind_repeats_while_down() {
        let mut t = Tracker::new(1, Some(Duration::from_secs(3)));
        let c = run(&mut t, "xxxxxxxxo");
        assert_eq!(
            kinds(&c),
            [(0, "down"), (3, "still"), (6, "still"), (8, "up")]
        );
        assert_eq!(
            c[2].1,
            Change::StillDown {
                failures: 7,
                down_for: Duration::from_secs(6)
            }
        );
    }

    #[test]
    fn remind_counts_from_the_alert_not_the_first_fault() {
        let mut t = Tracker::new(3, Some(Duration::from_secs(2)));
        let c = run(&mut t, "xxxxxxo");
        assert_eq!(kinds(&c), [(2, "down"), (4, "still"), (6, "up")]);
        assert_eq!(
            c[1].1,
            Change::StillDown {
                failures: 5,
                down_for: Duration::from_secs(4)
            }
        );
    }

    #[test]
    fn zero_remind_is_off() {
        let mut t = Tracker::new(1, Some(Duration::ZERO));
        assert_eq!(kinds(&run(&mut t, "xxxx")), [(0, "down")]);
    }
}
