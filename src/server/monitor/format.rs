//! How nats-server's JSON spells times and durations, so that Go tools
//! (nats-top, prometheus-nats-exporter) decode our answers unchanged:
//!
//! - a `time.Time` is RFC 3339 with up to nine fractional digits, trailing
//!   zeros dropped (Go's `RFC3339Nano`); we always write UTC (`Z`);
//! - `rtt` is Go's `Duration.String()` (`1.234ms`, `0s`, `2m3.5s`);
//! - `uptime` and `idle` are nats-server's `myUptime` (`1d2h3m4s`);
//! - `ping_interval` and `write_deadline` are plain nanosecond integers,
//!   which needs no helper.

use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::civil::push_frac;
use crate::server::client::unix_nanos;
use crate::server::log::civil_utc;

/// An `f64` as Go's encoding/json writes a float64: a whole number
/// without a fraction (`2`, not `2.0`), so that a reader expecting what
/// nats-server sends (an integer where the value is whole) gets it.
pub fn go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// A point in time as Unix nanoseconds, serialised as Go's `time.Time`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoTime(pub u64);

impl GoTime {
    /// The current time.
    pub fn now() -> GoTime {
        GoTime(unix_nanos(SystemTime::now()))
    }

    /// From a `SystemTime`.
    pub fn from_system(t: SystemTime) -> GoTime {
        GoTime(unix_nanos(t))
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: GoTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Serialize for GoTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339_nano(self.0))
    }
}

/// `2006-01-02T15:04:05.999999999Z` for Unix nanoseconds, in UTC.
pub fn rfc3339_nano(nanos: u64) -> String {
    let secs = (nanos / 1_000_000_000) as i64;
    let frac = nanos % 1_000_000_000;
    let (y, mo, d, h, mi, s) = civil_utc(secs);
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    push_frac(&mut out, frac, 9);
    out.push('Z');
    out
}

/// Go's `time.Duration.String()`.
pub fn go_duration(d: Duration) -> String {
    let u = d.as_nanos().min(u128::from(u64::MAX)) as u64;
    if u == 0 {
        return "0s".to_string();
    }
    if u < 1_000_000_000 {
        let (scale, digits, unit) = match u {
            0..=999 => (1, 0, "ns"),
            1_000..=999_999 => (1_000, 3, "µs"),
            _ => (1_000_000, 6, "ms"),
        };
        let mut out = (u / scale).to_string();
        push_frac(&mut out, u % scale, digits);
        out.push_str(unit);
        return out;
    }
    let secs = u / 1_000_000_000;
    let mut tail = (secs % 60).to_string();
    push_frac(&mut tail, u % 1_000_000_000, 9);
    tail.push('s');
    let mins = secs / 60;
    if mins == 0 {
        return tail;
    }
    let hours = mins / 60;
    if hours == 0 {
        return format!("{}m{tail}", mins % 60);
    }
    format!("{hours}h{}m{tail}", mins % 60)
}

/// A round trip as nats-server shows it: truncated to microseconds between
/// 1µs and 1ms (`getRTT`), then [`go_duration`].
pub fn go_rtt(rtt: Option<Duration>) -> String {
    let Some(rtt) = rtt else {
        return "0s".to_string();
    };
    let shown = if rtt > Duration::from_micros(1) && rtt < Duration::from_millis(1) {
        Duration::from_micros(rtt.as_micros() as u64)
    } else {
        rtt
    };
    go_duration(shown)
}

/// nats-server's `myUptime`: whole seconds as `[Ny][Nd][Nh][Nm]Ns`.
pub fn my_uptime(d: Duration) -> String {
    let tsecs = d.as_secs();
    let tmins = tsecs / 60;
    let thrs = tmins / 60;
    let tdays = thrs / 24;
    let tyrs = tdays / 365;
    if tyrs > 0 {
        format!(
            "{tyrs}y{}d{}h{}m{}s",
            tdays % 365,
            thrs % 24,
            tmins % 60,
            tsecs % 60
        )
    } else if tdays > 0 {
        format!("{tdays}d{}h{}m{}s", thrs % 24, tmins % 60, tsecs % 60)
    } else if thrs > 0 {
        format!("{thrs}h{}m{}s", tmins % 60, tsecs % 60)
    } else if tmins > 0 {
        format!("{tmins}m{}s", tsecs % 60)
    } else {
        format!("{tsecs}s")
    }
}

/// A `Duration` as integer nanoseconds (Go's JSON for `time.Duration`).
pub fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_drops_trailing_zeros() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(
            rfc3339_nano(1_700_000_000_120_000_000),
            "2023-11-14T22:13:20.12Z"
        );
    }

    #[test]
    fn durations_print_as_go() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_500, "1.5µs"),
            (1_234_567, "1.234567ms"),
            (1_000_000, "1ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (61_000_000_000, "1m1s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
            (90_000_000_000_000, "25h0m0s"),
        ];
        for &(n, want) in cases {
            assert_eq!(go_duration(Duration::from_nanos(n)), want, "{n}ns");
        }
    }

    #[test]
    fn rtt_is_truncated_to_microseconds_below_a_millisecond() {
        assert_eq!(go_rtt(None), "0s");
        assert_eq!(go_rtt(Some(Duration::from_nanos(123_456))), "123µs");
        assert_eq!(go_rtt(Some(Duration::from_nanos(1_234_567))), "1.234567ms");
        assert_eq!(go_rtt(Some(Duration::from_nanos(800))), "800ns");
    }

    #[test]
    fn uptime_as_my_uptime() {
        let s = |n| my_uptime(Duration::from_secs(n));
        assert_eq!(s(0), "0s");
        assert_eq!(s(59), "59s");
        assert_eq!(s(93), "1m33s");
        assert_eq!(s(3723), "1h2m3s");
        assert_eq!(s(2 * 86_400 + 3 * 3600 + 4 * 60 + 5), "2d3h4m5s");
        assert_eq!(s(366 * 86_400 + 1), "1y1d0h0m1s");
    }
}
