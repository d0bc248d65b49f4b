//! A run's [`Outcome`] as text: the report in nats-bench's words, the CSV
//! file of the `nats` CLI's `--csv`, the progress bar line, and what fell
//! short. Strings only; the caller decides where they go.
//!
//! The report, for one publisher and one subscriber:
//!
//! ```text
//! NATS Pub/Sub stats: 1,467,843 msgs/sec ~ 22.40 MB/sec
//!  Pub stats: 733,921 msgs/sec ~ 11.20 MB/sec
//!  Sub stats: 733,967 msgs/sec ~ 11.20 MB/sec
//! ```
//!
//! With several clients of a kind, a line per client (` [1] ... (N msgs)`)
//! and the spread of their rates (`min X | avg X | max X | stddev X msgs`)
//! follow that kind's line. A request run adds the round-trip latencies:
//!
//! ```text
//! Latency (µs, 20000 requests): min 41.2 | p50 80.1 | p90 95.0 | p99 190.3 | p99.9 400.0 | max 1100.2 | avg 85.0
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use super::runner::{Load, Outcome};
use super::stats::{combined, commas, human_bytes, Group, Sample};

/// The CSV header of `nats bench --csv` (and nats-bench's `-csv`).
pub const CSV_HEADER: &str =
    "#RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs";

/// Width of the progress bar, between its brackets.
const BAR_WIDTH: usize = 30;

/// `1,234,567 msgs/sec ~ 150.70 MB/sec`
fn rate_text(s: &Sample) -> String {
    format!(
        "{} msgs/sec ~ {}/sec",
        commas(s.rate()),
        human_bytes(s.throughput())
    )
}

/// One kind of client: the group's line, then per client lines and the
/// spread when there are several.
fn group_text(out: &mut String, indent: &str, label: &str, group: &Group) {
    let Some(total) = group.total() else {
        return;
    };
    let _ = writeln!(out, "{indent}{label} stats: {}", rate_text(&total));
    if group.samples.len() > 1 {
        for (i, s) in group.samples.iter().enumerate() {
            let _ = writeln!(
                out,
                "{indent} [{}] {} ({} msgs)",
                i + 1,
                rate_text(s),
                s.msgs
            );
        }
        if let Some(st) = group.rate_stats() {
            let _ = writeln!(
                out,
                "{indent} min {} | avg {} | max {} | stddev {} msgs",
                commas(st.min),
                commas(st.avg),
                commas(st.max),
                commas(st.stddev)
            );
        }
    }
}

/// Microseconds with one decimal.
fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// The report of a run of `load` (whatever part of it was done).
pub fn text(load: Load, outcome: &Outcome) -> String {
    let mut out = String::new();
    match load {
        Load::PubSub { .. } => {
            let (pubs, subs) = (&outcome.pubs, &outcome.subs);
            let mut indent = "";
            if !pubs.is_empty() && !subs.is_empty() {
                if let Some(all) = combined(pubs, subs) {
                    let _ = writeln!(out, "NATS Pub/Sub stats: {}", rate_text(&all));
                }
                indent = " ";
            }
            group_text(&mut out, indent, "Pub", pubs);
            group_text(&mut out, indent, "Sub", subs);
        }
        Load::Request { .. } => {
            group_text(&mut out, "", "Request", &outcome.pubs);
            out.push_str(&latency_text(outcome, "requests"));
        }
        Load::Reply { .. } => group_text(&mut out, "", "Reply", &outcome.subs),
        Load::Churn { .. } => {
            churn_text(&mut out, &outcome.pubs);
            out.push_str(&latency_text(outcome, "connections"));
        }
    }
    if out.is_empty() {
        out.push_str("No message was sent or received: nothing to report.\n");
    }
    out
}

/// A churn run's line: `Churn stats: 12,345 conns/sec (20,000 connections)`.
fn churn_text(out: &mut String, workers: &Group) {
    if let Some(total) = workers.total() {
        let _ = writeln!(
            out,
            "Churn stats: {} conns/sec ({} connections)",
            commas(total.rate()),
            commas(total.msgs)
        );
    }
}

/// The latency line of a request (or churn) run (empty when no request was answered).
pub fn latency_text(outcome: &Outcome, what: &str) -> String {
    let l = &outcome.latencies;
    let (Some(min), Some(max), Some(avg)) = (l.min(), l.max(), l.mean()) else {
        return String::new();
    };
    let q = |p: f64| l.quantile(p).map_or_else(|| "-".to_string(), micros);
    format!(
        "Latency (µs, {} {what}): min {} | p50 {} | p90 {} | p99 {} | p99.9 {} | max {} | avg {}\n",
        l.len(),
        micros(min),
        q(0.50),
        q(0.90),
        q(0.99),
        q(0.999),
        micros(max),
        micros(avg)
    )
}

/// The CSV file: the header, then one row per client, subscribers (or
/// responders) `S0`, `S1`... first, then publishers (or requesters) `P0`,
/// `P1`..., as nats-bench writes it.
pub fn csv(run_id: &str, outcome: &Outcome) -> String {
    let mut out = String::new();
    out.push_str(CSV_HEADER);
    out.push('\n');
    for (prefix, group) in [("S", &outcome.subs), ("P", &outcome.pubs)] {
        for (i, s) in group.samples.iter().enumerate() {
            let _ = writeln!(
                out,
                "{run_id},{prefix}{i},{},{},{},{:.6},{:.6}",
                s.msgs,
                s.msg_bytes,
                s.rate(),
                s.throughput(),
                s.duration().as_secs_f64()
            );
        }
    }
    out
}

/// What a run that did not complete fell short of, one phrase per client
/// that did not do all its share: `subscriber 2 got 1,500 of 2,000 messages`.
pub fn shortfall(load: Load, outcome: &Outcome) -> Vec<String> {
    let (group, who, what, unit) = match load {
        Load::PubSub { .. } => (&outcome.subs, "subscriber", "got", "messages"),
        Load::Request { .. } => (&outcome.pubs, "requester", "had answers to", "messages"),
        Load::Churn { .. } => (&outcome.pubs, "worker", "made", "connections"),
        Load::Reply { .. } => {
            let done = outcome.subs.msgs();
            let want = outcome.expected.first().copied().unwrap_or(0);
            if done < want {
                return vec![format!(
                    "the responders answered {} of {} requests",
                    commas(done),
                    commas(want)
                )];
            }
            return Vec::new();
        }
    };
    group
        .samples
        .iter()
        .zip(&outcome.expected)
        .enumerate()
        .filter(|(_, (s, &want))| s.msgs < want)
        .map(|(i, (s, &want))| {
            format!(
                "{who} {} {what} {} of {} {unit}",
                i + 1,
                commas(s.msgs),
                commas(want)
            )
        })
        .collect()
}

/// The progress bar: `[=========>          ]  45%  900,000/2,000,000 msgs  3.2s`.
pub fn progress_line(done: u64, total: u64, elapsed: Duration) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    let filled = (fraction * BAR_WIDTH as f64) as usize;
    let mut bar = "=".repeat(filled);
    if filled < BAR_WIDTH {
        bar.push('>');
        bar.push_str(&" ".repeat(BAR_WIDTH - filled - 1));
    }
    format!(
        "[{bar}] {:3.0}%  {}/{} msgs  {:.1}s",
        fraction * 100.0,
        commas(done.min(total)),
        commas(total),
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::*;
    use crate::bench::runner::Ended;
    use crate::bench::stats::Latencies;

    /// A sample starting at one instant shared by every test sample.
    fn sample(msgs: u64, size: usize, ms: u64) -> Sample {
        static BASE: OnceLock<Instant> = OnceLock::new();
        let t = *BASE.get_or_init(Instant::now);
        Sample::new(msgs, size, t, t + Duration::from_millis(ms))
    }

    fn outcome(pubs: Vec<Sample>, subs: Vec<Sample>, expected: Vec<u64>) -> Outcome {
        Outcome {
            pubs: Group::new(pubs),
            subs: Group::new(subs),
            latencies: Latencies::default(),
            expected,
            ended: Ended::Complete,
        }
    }

    #[test]
    fn pubsub_report_has_nats_bench_lines() {
        let o = outcome(
            vec![sample(1000, 128, 1000)],
            vec![sample(1000, 128, 1000)],
            vec![1000],
        );
        let t = text(Load::PubSub { pubs: 1, subs: 1 }, &o);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("NATS Pub/Sub stats: 2,000 msgs/sec ~ 250.00 KB/sec"),
            "{t}"
        );
        assert_eq!(lines[1], " Pub stats: 1,000 msgs/sec ~ 125.00 KB/sec");
        assert_eq!(lines[2], " Sub stats: 1,000 msgs/sec ~ 125.00 KB/sec");
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn several_clients_get_their_own_lines_and_the_spread() {
        let o = outcome(
            vec![sample(500, 16, 1000), sample(1500, 16, 1000)],
            vec![],
            vec![],
        );
        let t = text(Load::PubSub { pubs: 2, subs: 0 }, &o);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Pub stats: 2,000 msgs/sec ~ 31.25 KB/sec");
        assert_eq!(lines[1], " [1] 500 msgs/sec ~ 7.81 KB/sec (500 msgs)");
        assert_eq!(lines[2], " [2] 1,500 msgs/sec ~ 23.44 KB/sec (1500 msgs)");
        assert_eq!(
            lines[3],
            " min 500 | avg 1,000 | max 1,500 | stddev 500 msgs"
        );
    }

    #[test]
    fn request_report_has_percentiles() {
        let mut o = outcome(vec![sample(4, 16, 1)], vec![], vec![4]);
        o.latencies = Latencies::new(
            [10, 20, 30, 4000]
                .into_iter()
                .map(Duration::from_micros)
                .collect(),
        );
        let t = text(
            Load::Request {
                clients: 1,
                responders: 1,
            },
            &o,
        );
        assert!(t.starts_with("Request stats: 4,000 msgs/sec"), "{t}");
        assert!(
            t.contains(
                "Latency (µs, 4 requests): min 10.0 | p50 20.0 | p90 4000.0 | p99 4000.0 \
                 | p99.9 4000.0 | max 4000.0 | avg 1015.0"
            ),
            "{t}"
        );
    }

    #[test]
    fn churn_report_counts_connections() {
        let mut o = outcome(
            vec![sample(500, 0, 1), sample(500, 0, 1)],
            vec![],
            vec![500, 500],
        );
        o.latencies = Latencies::new(vec![Duration::from_micros(100); 1000]);
        let t = text(Load::Churn { clients: 2 }, &o);
        assert!(
            t.starts_with("Churn stats: 1,000,000 conns/sec (1,000 connections)\n"),
            "{t}"
        );
        assert!(
            t.contains("Latency (µs, 1000 connections): min 100.0"),
            "{t}"
        );
        let short = outcome(vec![sample(5, 0, 1)], vec![], vec![10]);
        assert_eq!(
            shortfall(Load::Churn { clients: 1 }, &short),
            ["worker 1 made 5 of 10 connections"]
        );
    }

    #[test]
    fn empty_runs_say_so() {
        let o = outcome(vec![], vec![], vec![]);
        assert!(text(Load::Reply { clients: 1 }, &o).contains("nothing to report"));
        assert_eq!(latency_text(&o, "requests"), "");
    }

    #[test]
    fn csv_rows_subscribers_then_publishers() {
        let o = outcome(
            vec![sample(100, 10, 500)],
            vec![sample(100, 10, 1000), sample(50, 10, 1000)],
            vec![100, 100],
        );
        let c = csv("RUN", &o);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "RUN,S0,100,1000,100,1000.000000,1.000000");
        assert_eq!(lines[2], "RUN,S1,50,500,50,500.000000,1.000000");
        assert_eq!(lines[3], "RUN,P0,100,1000,200,2000.000000,0.500000");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn shortfalls_name_the_clients() {
        let o = outcome(
            vec![sample(2000, 1, 1)],
            vec![sample(2000, 1, 1), sample(1500, 1, 1)],
            vec![2000, 2000],
        );
        assert_eq!(
            shortfall(Load::PubSub { pubs: 1, subs: 2 }, &o),
            ["subscriber 2 got 1,500 of 2,000 messages"]
        );
        let r = outcome(vec![], vec![sample(3, 1, 1)], vec![10]);
        assert_eq!(
            shortfall(Load::Reply { clients: 1 }, &r),
            ["the responders answered 3 of 10 requests"]
        );
    }

    #[test]
    fn progress_bar() {
        let l = progress_line(450, 1000, Duration::from_millis(3200));
        assert_eq!(
            l,
            "[=============>                ]  45%  450/1,000 msgs  3.2s"
        );
        assert!(progress_line(5, 0, Duration::ZERO).contains("100%"));
        let full = progress_line(2000, 1000, Duration::ZERO);
        assert!(
            full.starts_with(&format!("[{}]", "=".repeat(BAR_WIDTH))),
            "{full}"
        );
        assert!(full.contains("1,000/1,000"));
    }
}
