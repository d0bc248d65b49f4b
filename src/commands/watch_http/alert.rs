//! Alerts: the [`Event`] a change of state becomes, and the [`Alert`] the
//! shared sinks ([`crate::commands::alerting`]) carry.

use std::time::Duration;

use serde_json::{json, Value as Json};

use super::check::{rfc3339_millis, short_duration};
use super::config::Target;
use super::probe::CheckResult;
use super::state::Change;
use crate::commands::alerting::{log_for, Alert};

/// What happened to a target, for people and programs.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `down`, `still_down` or `recovered`.
    pub kind: &'static str,
    /// The target's URL.
    pub url: String,
    /// The target's name, if it has one.
    pub name: Option<String>,
    /// How alerts name the target.
    pub label: String,
    /// True for a recovery.
    pub ok: bool,
    /// The fault, or `None` for a recovery.
    pub reason: Option<String>,
    /// The HTTP status of the check that raised the event.
    pub status: Option<u16>,
    /// Its duration.
    pub elapsed: Duration,
    /// Its time.
    pub time: std::time::SystemTime,
    /// Faults in a row.
    pub failures: u32,
    /// How long it has been down (reminders and recoveries).
    pub down_for: Option<Duration>,
}

impl Event {
    /// The event for `change`, raised by `result` of a check of `target`.
    pub fn new(target: &Target, result: &CheckResult, change: &Change) -> Event {
        let (kind, failures, down_for) = match *change {
            Change::Down { failures } => ("down", failures, None),
            Change::StillDown { failures, down_for } => ("still_down", failures, Some(down_for)),
            Change::Recovered { failures, down_for } => ("recovered", failures, Some(down_for)),
        };
        Event {
            kind,
            url: target.url.clone(),
            name: target.name.clone(),
            label: target.label(),
            ok: result.verdict.is_ok(),
            reason: result.verdict.fault().map(ToString::to_string),
            status: result.status,
            elapsed: result.elapsed,
            time: result.time,
            failures,
            down_for,
        }
    }

    /// The text for a chat: the target, the verdict, the reason.
    pub fn text(&self) -> String {
        let reason = self.reason.as_deref().unwrap_or("?");
        let checks = |n: u32| {
            if n == 1 {
                "1 failed check".to_string()
            } else {
                format!("{n} failed checks")
            }
        };
        let down_for = self.down_for.map(short_duration).unwrap_or_default();
        match self.kind {
            "down" if self.failures > 1 => format!(
                "FAIL {}: {reason} ({} in a row)",
                self.label,
                checks(self.failures)
            ),
            "down" => format!("FAIL {}: {reason}", self.label),
            "still_down" => format!(
                "STILL FAILING {}: {reason} (down for {down_for}, {})",
                self.label,
                checks(self.failures)
            ),
            _ => {
                let answer = match self.status {
                    Some(s) => format!("status {s} in {}", short_duration(self.elapsed)),
                    None => short_duration(self.elapsed),
                };
                format!(
                    "OK {}: recovered after {down_for} ({}); {answer}",
                    self.label,
                    checks(self.failures)
                )
            }
        }
    }

    /// The event as JSON (NATS payload, `--exec` stdin).
    pub fn json(&self) -> Json {
        let mut v = json!({
            "event": self.kind,
            "url": self.url,
            "verdict": if self.ok { "OK" } else { "FAIL" },
            "reason": self.reason,
            "status": self.status,
            "duration_ms": self.elapsed.as_secs_f64() * 1e3,
            "time": rfc3339_millis(self.time),
            "failures": self.failures,
            "text": self.text(),
        });
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        if let Some(d) = self.down_for {
            v["down_for_ms"] = json!(d.as_millis() as u64);
        }
        v
    }
}

impl Event {
    /// The alert every sink carries.
    pub fn alert(&self) -> Alert {
        Alert {
            about: self.url.clone(),
            text: self.text(),
            json: self.json(),
            env: vec![
                ("WATCH_EVENT", self.kind.to_string()),
                ("WATCH_URL", self.url.clone()),
                (
                    "WATCH_VERDICT",
                    if self.ok { "OK" } else { "FAIL" }.to_string(),
                ),
                ("WATCH_REASON", self.reason.clone().unwrap_or_default()),
            ],
        }
    }
}

/// Log a line on stderr.
pub fn log(line: String) {
    log_for("watch-http", &line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::watch_http::check::{Fault, Verdict};
    use std::time::UNIX_EPOCH;

    fn event(change: Change, verdict: Verdict) -> Event {
        let target = Target {
            url: "http://api/health".into(),
            name: None,
            method: "GET".into(),
            headers: vec![],
            body: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            insecure: false,
            cacert: None,
            expect: Default::default(),
            fail_after: 1,
            remind: None,
        };
        let result = CheckResult {
            time: UNIX_EPOCH,
            status: Some(if verdict.is_ok() { 200 } else { 500 }),
            elapsed: Duration::from_millis(12),
            verdict,
        };
        Event::new(&target, &result, &change)
    }

    #[test]
    fn texts_name_target_verdict_and_reason() {
        let fail = Verdict::Fail(Fault::Status(500));
        assert_eq!(
            event(Change::Down { failures: 1 }, fail.clone()).text(),
            "FAIL http://api/health: status 500"
        );
        assert_eq!(
            event(Change::Down { failures: 3 }, fail.clone()).text(),
            "FAIL http://api/health: status 500 (3 failed checks in a row)"
        );
        assert_eq!(
            event(
                Change::StillDown {
                    failures: 60,
                    down_for: Duration::from_secs(600)
                },
                fail
            )
            .text(),
            "STILL FAILING http://api/health: status 500 (down for 10m, 60 failed checks)"
        );
        assert_eq!(
            event(
                Change::Recovered {
                    failures: 1,
                    down_for: Duration::from_secs(10)
                },
                Verdict::Ok
            )
            .text(),
            "OK http://api/health: recovered after 10s (1 failed check); status 200 in 12ms"
        );
    }

    #[test]
    fn event_json() {
        let v = event(
            Change::Down { failures: 2 },
            Verdict::Fail(Fault::Status(500)),
        )
        .json();
        assert_eq!(v["event"], "down");
        assert_eq!(v["verdict"], "FAIL");
        assert_eq!(v["reason"], "status 500");
        assert_eq!(v["status"], 500);
        assert_eq!(v["failures"], 2);
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert!(v.get("name").is_none() && v.get("down_for_ms").is_none());
    }
}
