//! The arithmetic of a benchmark, with no I/O: samples and their rates,
//! groups of samples (min, average, max, standard deviation of the rates),
//! latency percentiles, how messages are split over clients, and parsing
//! and showing sizes and counts.
//!
//! The rules are those of the `bench` package of the NATS Go client (which
//! `nats-bench` and the old `nats bench` print with), so that figures can be
//! set side by side: a rate is messages over the sample's wall time,
//! truncated to a whole number; a group spans from its earliest start to its
//! latest end; the standard deviation is the population one; and byte
//! rates are shown in multiples of 1024 labelled `KB`, `MB`, `GB`.

use std::time::{Duration, Instant};

/// The shortest span a rate is computed over. A subscriber that received a
/// single message has a zero span (its clock starts at the first message,
/// as nats-bench's does); counting it as one microsecond keeps its rate
/// finite instead of dividing by zero.
pub const MIN_SPAN: Duration = Duration::from_micros(1);

/// What one client did: how many messages, of how many payload bytes in
/// all, between two instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Messages sent (a publisher, a requester) or received (a subscriber,
    /// a responder).
    pub msgs: u64,
    /// Payload bytes of those messages.
    pub msg_bytes: u64,
    /// When the client started (a subscriber: its first message).
    pub start: Instant,
    /// When it finished (a publisher: once the server confirmed it has
    /// every message; a subscriber: its last message).
    pub end: Instant,
}

impl Sample {
    /// A sample of `msgs` messages of `size` bytes each.
    pub fn new(msgs: u64, size: usize, start: Instant, end: Instant) -> Sample {
        Sample {
            msgs,
            msg_bytes: msgs.saturating_mul(size as u64),
            start,
            end,
        }
    }

    /// Wall time of the sample (at least [`MIN_SPAN`]).
    pub fn duration(&self) -> Duration {
        self.end.saturating_duration_since(self.start).max(MIN_SPAN)
    }

    /// Messages per second, truncated.
    pub fn rate(&self) -> u64 {
        per_second(self.msgs as f64, self.duration())
    }

    /// Payload bytes per second.
    pub fn throughput(&self) -> f64 {
        self.msg_bytes as f64 / self.duration().as_secs_f64()
    }
}

/// Messages (or bytes) over a span, truncated to a whole number per second.
fn per_second(n: f64, span: Duration) -> u64 {
    (n / span.max(MIN_SPAN).as_secs_f64()) as u64
}

/// The samples of one kind of client (every publisher, or every
/// subscriber) and what they add up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// One sample per client, in client order.
    pub samples: Vec<Sample>,
}

impl Group {
    /// A group of `samples`.
    pub fn new(samples: Vec<Sample>) -> Group {
        Group { samples }
    }

    /// True when no client of this kind took part.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Messages of every sample.
    pub fn msgs(&self) -> u64 {
        self.samples.iter().map(|s| s.msgs).sum()
    }

    /// Payload bytes of every sample.
    pub fn msg_bytes(&self) -> u64 {
        self.samples.iter().map(|s| s.msg_bytes).sum()
    }

    /// From the earliest start to the latest end (`None` when empty).
    pub fn span(&self) -> Option<(Instant, Instant)> {
        let start = self.samples.iter().map(|s| s.start).min()?;
        let end = self.samples.iter().map(|s| s.end).max()?;
        Some((start, end))
    }

    /// The whole group as one sample: every message over the group's span.
    pub fn total(&self) -> Option<Sample> {
        let (start, end) = self.span()?;
        Some(Sample {
            msgs: self.msgs(),
            msg_bytes: self.msg_bytes(),
            start,
            end,
        })
    }

    /// Lowest, mean (truncated), highest and standard deviation of the
    /// clients' rates (`None` when empty).
    pub fn rate_stats(&self) -> Option<RateStats> {
        let rates: Vec<u64> = self.samples.iter().map(Sample::rate).collect();
        let min = *rates.iter().min()?;
        let max = *rates.iter().max()?;
        let avg = rates.iter().sum::<u64>() / rates.len() as u64;
        let variance = rates
            .iter()
            .map(|&r| (r as f64 - avg as f64).powi(2))
            .sum::<f64>()
            / rates.len() as f64;
        Some(RateStats {
            min,
            avg,
            max,
            stddev: variance.sqrt() as u64,
        })
    }
}

/// The spread of the clients' message rates in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStats {
    /// The slowest client's rate.
    pub min: u64,
    /// The mean rate (truncated).
    pub avg: u64,
    /// The fastest client's rate.
    pub max: u64,
    /// The population standard deviation (truncated).
    pub stddev: u64,
}

/// Publishers and subscribers together, as one sample over the span of
/// both (`None` when both are empty). This is nats-bench's headline
/// "Pub/Sub stats" figure: every message sent plus every message received.
pub fn combined(pubs: &Group, subs: &Group) -> Option<Sample> {
    let spans = [pubs.span(), subs.span()];
    let start = spans.iter().flatten().map(|s| s.0).min()?;
    let end = spans.iter().flatten().map(|s| s.1).max()?;
    Some(Sample {
        msgs: pubs.msgs() + subs.msgs(),
        msg_bytes: pubs.msg_bytes() + subs.msg_bytes(),
        start,
        end,
    })
}

/// Split `msgs` over `clients` as evenly as possible, the first clients
/// taking one more when it does not divide (nats-bench's `MsgsPerClient`).
pub fn msgs_per_client(msgs: u64, clients: usize) -> Vec<u64> {
    if clients == 0 {
        return Vec::new();
    }
    let n = clients as u64;
    (0..n).map(|i| msgs / n + u64::from(i < msgs % n)).collect()
}

/// Round-trip times, sorted, and what is read from them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    /// Latencies in any order.
    pub fn new(mut all: Vec<Duration>) -> Latencies {
        all.sort_unstable();
        Latencies { sorted: all }
    }

    /// How many were measured.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// True when none were.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The smallest.
    pub fn min(&self) -> Option<Duration> {
        self.sorted.first().copied()
    }

    /// The largest.
    pub fn max(&self) -> Option<Duration> {
        self.sorted.last().copied()
    }

    /// The mean.
    pub fn mean(&self) -> Option<Duration> {
        let n = u32::try_from(self.sorted.len()).ok().filter(|&n| n > 0)?;
        Some(self.sorted.iter().sum::<Duration>() / n)
    }

    /// The `q` quantile (0.5 for the median, 0.999 for p99.9) by the
    /// nearest-rank rule: the smallest value that at least `q` of all
    /// values are less than or equal to.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
        Some(self.sorted[rank.clamp(1, n) - 1])
    }
}

/// Parse a message size: a number of bytes, optionally with a unit: `B`,
/// `K`/`KB`/`KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB`, any case. As in the
/// `nats` CLI, every unit is a multiple of 1024 (`1KB` is 1024 bytes).
///
/// # Errors
///
/// Text that is not a size, or a size that does not fit in memory.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let invalid = || format!("invalid size {text:?} (examples: 16, 128B, 1KB, 1KiB, 2MB)");
    if num.is_empty() {
        return Err(invalid());
    }
    let n: u64 = num.parse().map_err(|_| invalid())?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(invalid()),
    };
    n.checked_mul(1 << shift)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// A whole number with thousands separators: `1234567` → `1,234,567`.
pub fn commas(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes for people, in multiples of 1024 with nats-bench's labels:
/// `512.00 B`, `1.50 KB`, `150.70 MB`.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["KB", "MB", "GB", "TB", "PB", "EB"];
    if !bytes.is_finite() || bytes < 1024.0 {
        return format!("{bytes:.2} B");
    }
    let mut value = bytes;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.2} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn sample_rate_and_throughput() {
        let t = Instant::now();
        let s = Sample::new(1000, 128, t, at(t, 500));
        assert_eq!(s.msg_bytes, 128_000);
        assert_eq!(s.rate(), 2000);
        assert!((s.throughput() - 256_000.0).abs() < 1e-6);
        // A zero span does not divide by zero.
        let one = Sample::new(1, 16, t, t);
        assert_eq!(one.duration(), MIN_SPAN);
        assert_eq!(one.rate(), 1_000_000);
        // An end before the start (clock quirks) counts as the minimum span.
        assert_eq!(Sample::new(1, 1, at(t, 5), t).duration(), MIN_SPAN);
    }

    #[test]
    fn group_totals_span_and_spread() {
        let t = Instant::now();
        let g = Group::new(vec![
            Sample::new(1000, 10, t, at(t, 1000)),          // 1000/s
            Sample::new(3000, 10, at(t, 500), at(t, 1500)), // 3000/s
        ]);
        assert_eq!(g.msgs(), 4000);
        assert_eq!(g.msg_bytes(), 40_000);
        assert_eq!(g.span(), Some((t, at(t, 1500))));
        let total = g.total().unwrap();
        assert_eq!(total.rate(), 2666);
        let st = g.rate_stats().unwrap();
        assert_eq!(
            (st.min, st.avg, st.max, st.stddev),
            (1000, 2000, 3000, 1000)
        );
        assert!(Group::default().total().is_none());
        assert!(Group::default().rate_stats().is_none());
    }

    #[test]
    fn combined_spans_both_groups() {
        let t = Instant::now();
        let pubs = Group::new(vec![Sample::new(100, 1, t, at(t, 400))]);
        let subs = Group::new(vec![Sample::new(100, 1, at(t, 1), at(t, 500))]);
        let all = combined(&pubs, &subs).unwrap();
        assert_eq!(all.msgs, 200);
        assert_eq!(all.duration(), Duration::from_millis(500));
        assert_eq!(all.rate(), 400);
        assert_eq!(combined(&pubs, &Group::default()).unwrap().msgs, 100);
        assert!(combined(&Group::default(), &Group::default()).is_none());
    }

    #[test]
    fn split_over_clients() {
        assert_eq!(msgs_per_client(10, 3), [4, 3, 3]);
        assert_eq!(msgs_per_client(9, 3), [3, 3, 3]);
        assert_eq!(msgs_per_client(2, 4), [1, 1, 0, 0]);
        assert!(msgs_per_client(5, 0).is_empty());
        assert_eq!(msgs_per_client(7, 1), [7]);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let us = |n: u64| Duration::from_micros(n);
        let l = Latencies::new((1..=1000).rev().map(us).collect());
        assert_eq!(l.len(), 1000);
        assert_eq!(l.min(), Some(us(1)));
        assert_eq!(l.max(), Some(us(1000)));
        assert_eq!(l.quantile(0.5), Some(us(500)));
        assert_eq!(l.quantile(0.9), Some(us(900)));
        assert_eq!(l.quantile(0.99), Some(us(990)));
        assert_eq!(l.quantile(0.999), Some(us(999)));
        assert_eq!(l.quantile(1.0), Some(us(1000)));
        assert_eq!(l.quantile(0.0), Some(us(1)));
        assert_eq!(l.mean(), Some(Duration::from_nanos(500_500)));
        let one = Latencies::new(vec![us(7)]);
        assert_eq!(one.quantile(0.999), Some(us(7)));
        assert_eq!(one.quantile(0.5), Some(us(7)));
        let none = Latencies::default();
        assert!(none.is_empty());
        assert_eq!(
            (none.quantile(0.5), none.mean(), none.min()),
            (None, None, None)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("128"), Ok(128));
        assert_eq!(parse_size("128B"), Ok(128));
        assert_eq!(parse_size("128b"), Ok(128));
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("2MB"), Ok(2 << 20));
        assert_eq!(parse_size("1 MiB"), Ok(1 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "KB", "-1", "1.5KB", "12XB", "1KBB", "abc"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("17179869184GB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(commas(0), "0");
        assert_eq!(commas(999), "999");
        assert_eq!(commas(1000), "1,000");
        assert_eq!(commas(1_234_567), "1,234,567");
        assert_eq!(commas(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(human_bytes(512.0), "512.00 B");
        assert_eq!(human_bytes(1536.0), "1.50 KB");
        assert_eq!(human_bytes(150.7 * 1024.0 * 1024.0), "150.70 MB");
        assert_eq!(human_bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.00 GB");
        assert_eq!(human_bytes(f64::INFINITY), "inf B");
    }
}
