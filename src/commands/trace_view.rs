//! `pub --trace` and `req --trace`: the flags, the fresh inbox the trace
//! events come to (named in the `Nats-Trace-Dest` header), collecting them
//! for a short window, and printing them as a tree like `nats trace` (the
//! origin server, then each route's next server indented under it) or as
//! JSON, one event per line.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::{Duration, Instant};

use super::connect::parse_duration;
use crate::client::{Connection, Incoming, Message};
use crate::error::{Error, Result};
use crate::protocol::trace::{kind, TraceEvent, TraceStep, TRACE_DEST, TRACE_HOP, TRACE_ONLY};

/// The tracing flags of `pub` and `req`.
#[derive(Debug, Clone, clap::Args)]
pub struct TraceArgs {
    /// Trace the message: each server it crosses (nats-lite, nats-server
    /// 2.11+) reports how it came in and where it went; print the trace
    #[arg(long)]
    pub trace: bool,
    /// With --trace: trace without delivering to subscribers (Nats-Trace-Only)
    #[arg(long, requires = "trace")]
    pub trace_only: bool,
    /// With --trace: how long to collect trace events
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "trace")]
    pub trace_wait: Option<Duration>,
    /// With --trace: print the trace events as JSON, one per line
    #[arg(long, requires = "trace")]
    pub json: bool,
}

/// How long trace events are collected by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// A trace in progress: its inbox subscription and the events so far.
pub struct Tracer {
    inbox: String,
    sid: u64,
    only: bool,
    json: bool,
    wait: Duration,
    raw: Vec<serde_json::Value>,
}

impl Tracer {
    /// Subscribe to `inbox` for the trace events of `args` (`None` without `--trace`).
    pub fn start(conn: &mut Connection, inbox: String, args: &TraceArgs) -> Result<Option<Tracer>> {
        if !args.trace {
            return Ok(None);
        }
        let sid = conn.subscribe(&inbox, None)?;
        Ok(Some(Tracer {
            inbox,
            sid,
            only: args.trace_only,
            json: args.json,
            wait: args.trace_wait.unwrap_or(DEFAULT_WAIT),
            raw: Vec::new(),
        }))
    }

    /// The headers that ask for the trace.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![(TRACE_DEST.to_string(), self.inbox.clone())];
        if self.only {
            h.push((TRACE_ONLY.to_string(), "true".to_string()));
        }
        h
    }

    /// Trace-only: nothing is delivered, so no reply will come.
    pub fn only(&self) -> bool {
        self.only
    }

    /// Keep `m` when it is a trace event; false when it is something else.
    pub fn take(&mut self, m: &Message) -> bool {
        if m.sid != self.sid {
            return false;
        }
        let payload = if m
            .headers
            .as_ref()
            .and_then(|h| h.get("Content-Encoding"))
            .is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
        {
            let mut out = Vec::new();
            let mut gz = flate2::read::GzDecoder::new(m.payload.as_slice());
            if std::io::Read::read_to_end(&mut gz, &mut out).is_err() {
                return true;
            }
            out
        } else {
            m.payload.clone()
        };
        if let Ok(v) = serde_json::from_slice(&payload) {
            self.raw.push(v);
        }
        true
    }

    /// Collect events until `--trace-wait` after `start`; other messages
    /// are dropped.
    pub fn collect(&mut self, conn: &mut Connection, start: Instant) -> Result<()> {
        let until = start + self.wait;
        while let Some(incoming) = conn.next(Some(until))? {
            match incoming {
                Incoming::Msg(m) => {
                    self.take(&m);
                }
                Incoming::Interrupted => break,
                _ => {}
            }
        }
        Ok(())
    }

    /// Print the trace (a tree, or JSON lines with `--json`) for a message
    /// published on `subject`.
    pub fn print(&self, out: &mut impl Write, subject: &str) -> Result<()> {
        let text = if self.json {
            self.raw.iter().fold(String::new(), |mut s, v| {
                let _ = writeln!(s, "{v}");
                s
            })
        } else {
            let events: Vec<TraceEvent> = self
                .raw
                .iter()
                .filter_map(|v| serde_json::from_value(v.clone()).ok())
                .collect();
            render(&events, subject, self.wait)
        };
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("writing to stdout", e))
    }
}

/// The hop id a server's event was for (`""` at the origin).
fn hop_of(e: &TraceEvent) -> &str {
    e.request
        .header
        .get(TRACE_HOP)
        .and_then(|v| v.first())
        .map_or("", String::as_str)
}

/// The trace as a tree: the origin server's ingress, its egresses, and
/// under each route or leafnode egress the next server's own event.
pub fn render(events: &[TraceEvent], subject: &str, wait: Duration) -> String {
    let mut out = format!("Tracing message route to subject {subject:?}\n\n");
    if events.is_empty() {
        let _ = writeln!(
            out,
            "No trace event arrived within {wait:?}: the server may not trace (nats-server before 2.11)"
        );
        return out;
    }
    let by_hop: HashMap<&str, &TraceEvent> = events.iter().map(|e| (hop_of(e), e)).collect();
    let mut counts = Counts::default();
    match by_hop.get("") {
        Some(origin) => server(&mut out, origin, &by_hop, 0, &mut counts),
        // The origin's event is missing: print what came, flat.
        None => events
            .iter()
            .for_each(|e| server(&mut out, e, &HashMap::new(), 0, &mut counts)),
    }
    out.push_str(
        "\nLegend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X\n",
    );
    out.push_str("\nEgress Count:\n\n");
    for (name, n) in [
        ("Router", counts.routes),
        ("Gateway", counts.gateways),
        ("Leafnode", counts.leaves),
        ("Client", counts.clients),
        ("Errors", counts.errors),
    ] {
        if n > 0 {
            let _ = writeln!(out, "  {name:>8}: {n}");
        }
    }
    out
}

#[derive(Default)]
struct Counts {
    clients: usize,
    routes: usize,
    gateways: usize,
    leaves: usize,
    errors: usize,
}

/// `Client`, `Route`... and the id prefix nats uses for a connection kind.
fn kind_name(k: i32) -> (&'static str, &'static str) {
    match k {
        kind::CLIENT => ("Client", "cid"),
        kind::ROUTER => ("Route", "rid"),
        kind::GATEWAY => ("Gateway", "gid"),
        kind::LEAF => ("Leafnode", "lid"),
        kind::JETSTREAM => ("JetStream", "jid"),
        _ => ("Connection", "cid"),
    }
}

fn server(
    out: &mut String,
    e: &TraceEvent,
    by_hop: &HashMap<&str, &TraceEvent>,
    depth: usize,
    counts: &mut Counts,
) {
    let pad = "    ".repeat(depth);
    let s = &e.server;
    let cluster = if s.cluster.is_empty() {
        String::new()
    } else {
        format!(" cluster:{:?}", s.cluster)
    };
    for step in &e.events {
        match step {
            TraceStep::Ingress {
                kind,
                cid,
                name,
                acc,
                subj,
                error,
                ..
            } => {
                let (what, id) = kind_name(*kind);
                let _ = write!(
                    out,
                    "{pad}{what} {name:?} {id}:{cid}{cluster} server:{:?} version:{:?} account:{acc:?} subject:{subj:?}",
                    s.name, s.ver
                );
                if !error.is_empty() {
                    counts.errors += 1;
                    let _ = write!(out, "\n{pad}--X Error: {error}");
                }
                out.push('\n');
            }
            TraceStep::SubjectMapping { to, .. } => {
                let _ = writeln!(out, "{pad}--- Mapping subject to {to:?}");
            }
            TraceStep::StreamExport { acc, to, .. } => {
                let _ = writeln!(out, "{pad}--- Stream export to account {acc:?} as {to:?}");
            }
            TraceStep::ServiceImport { acc, from, to, .. } => {
                let _ = writeln!(
                    out,
                    "{pad}--- Service import from {from:?} to account {acc:?} as {to:?}"
                );
            }
            TraceStep::JetStream {
                stream,
                subject,
                error,
                ..
            } => {
                let mark = if error.is_empty() { "--J" } else { "--X" };
                let _ = write!(out, "{pad}{mark} JetStream stream:{stream:?}");
                if !subject.is_empty() {
                    let _ = write!(out, " subject:{subject:?}");
                }
                if !error.is_empty() {
                    counts.errors += 1;
                    let _ = write!(out, ": {error}");
                }
                out.push('\n');
            }
            TraceStep::Egress {
                kind,
                cid,
                name,
                hop,
                acc,
                sub,
                queue,
                error,
                ..
            } => {
                let (what, id) = kind_name(*kind);
                let mark = match *kind {
                    _ if !error.is_empty() => "--X",
                    kind::CLIENT => "--C",
                    kind::ROUTER => "-->",
                    kind::GATEWAY => "==>",
                    kind::LEAF => "~~>",
                    _ => "-->",
                };
                match *kind {
                    kind::CLIENT => counts.clients += 1,
                    kind::ROUTER => counts.routes += 1,
                    kind::GATEWAY => counts.gateways += 1,
                    kind::LEAF => counts.leaves += 1,
                    _ => {}
                }
                let _ = write!(out, "{pad}{mark} {what} {name:?} {id}:{cid}");
                if !acc.is_empty() {
                    let _ = write!(out, " account:{acc:?}");
                }
                if !sub.is_empty() {
                    let _ = write!(out, " subscription:{sub:?}");
                }
                if !queue.is_empty() {
                    let _ = write!(out, " queue:{queue:?}");
                }
                if !error.is_empty() {
                    counts.errors += 1;
                    let _ = write!(out, ": {error}");
                }
                out.push('\n');
                if !hop.is_empty() && error.is_empty() {
                    match by_hop.get(hop.as_str()) {
                        Some(next) => server(out, next, by_hop, depth + 1, counts),
                        None => {
                            let _ = writeln!(out, "{pad}    (no trace event from hop {hop})");
                        }
                    }
                }
            }
            TraceStep::Other => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routed_trace_renders_as_a_tree() {
        let origin: TraceEvent = serde_json::from_str(
            r#"{"server":{"name":"A","id":"NA","cluster":"c","ver":"2.15.1"},
                "request":{"header":{"Nats-Trace-Dest":["t"]},"msgsize":38},"hops":1,
                "events":[{"type":"in","ts":"t","kind":0,"cid":5,"name":"pub","acc":"$G","subj":"foo"},
                          {"type":"eg","ts":"t","kind":0,"cid":4,"name":"s1","sub":"foo"},
                          {"type":"eg","ts":"t","kind":1,"cid":1,"name":"B","hop":"1"}]}"#,
        )
        .unwrap();
        let next: TraceEvent = serde_json::from_str(
            r#"{"server":{"name":"B","id":"NB","ver":"x"},
                "request":{"header":{"Nats-Trace-Hop":["1"]}},
                "events":[{"type":"in","ts":"t","kind":1,"cid":1,"name":"A","acc":"$G","subj":"foo"},
                          {"type":"eg","ts":"t","kind":0,"cid":3,"name":"s2","sub":"foo","queue":"q","error":"Not delivered because of no echo"}]}"#,
        )
        .unwrap();
        let text = render(&[next, origin], "foo", DEFAULT_WAIT);
        assert!(
            text.contains("\nClient \"pub\" cid:5 cluster:\"c\" server:\"A\""),
            "{text}"
        );
        assert!(
            text.contains("\n--> Route \"B\" rid:1\n    Route \"A\" rid:1"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n    --X Client \"s2\" cid:3 subscription:\"foo\" queue:\"q\": Not delivered"
            ),
            "{text}"
        );
        assert!(
            text.contains("Router: 1") && text.contains("Client: 2"),
            "{text}"
        );
    }

    #[test]
    fn crossings_missing_hops_and_no_events() {
        let origin: TraceEvent = serde_json::from_str(
            r#"{"server":{"name":"A","id":"NA"},"request":{},"hops":1,
                "events":[{"type":"in","ts":"t","kind":0,"cid":5,"acc":"B","subj":"bsvc"},
                          {"type":"si","ts":"t","acc":"A","from":"bsvc","to":"svc"},
                          {"type":"eg","ts":"t","kind":0,"cid":4,"name":"svc","acc":"A","sub":"svc"},
                          {"type":"eg","ts":"t","kind":1,"cid":1,"name":"B","hop":"1"}]}"#,
        )
        .unwrap();
        let text = render(&[origin], "bsvc", DEFAULT_WAIT);
        assert!(
            text.contains("--- Service import from \"bsvc\" to account \"A\" as \"svc\""),
            "{text}"
        );
        assert!(
            text.contains("--C Client \"svc\" cid:4 account:\"A\""),
            "{text}"
        );
        assert!(text.contains("    (no trace event from hop 1)"), "{text}");
        let none = render(&[], "x", DEFAULT_WAIT);
        assert!(none.contains("No trace event arrived"), "{none}");
    }
}
