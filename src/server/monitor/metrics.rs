//! `GET /metrics`: Prometheus text exposition (0.0.4), or OpenMetrics 1.0
//! when the `Accept` header asks for `application/openmetrics-text`.
//!
//! The series are what prometheus-nats-exporter makes of `/varz`,
//! `/connz`, `/routez`, `/subsz` and `/accountz`, under its names and
//! labels (`gnatsd_varz_in_msgs{server_id=...}`, ...), so its Grafana
//! dashboards work unchanged, with two deliberate differences (see the
//! README): the `/connz` aggregates cover every connection (the exporter
//! sums the first page of 1,024), and names that break `promtool`'s lint
//! follow the lint (`gnatsd_connz_total` is `gnatsd_connz_total_connections`,
//! `gnatsd_subsz_total` is `gnatsd_subsz_total_subscriptions`;
//! the exporter's unsuffixed counters are exposed as gauges, as its
//! `/varz` collector does). Then nats-lite's own series: proper counters
//! (`nats_lite_in_msgs_total`, ...) and histograms no poller can compute:
//! deliveries and payload bytes per published message (`observe.rs`), and
//! how the connections' pending bytes are spread (a gauge histogram).
//!
//! Everything is read once into a string (client counters are relaxed
//! atomics; each client's subscription map is locked only to count it);
//! no lock is held while the reply is written.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::connz::DEFAULT_LIMIT;
use super::observe::{self, Counts, FANOUT_BOUNDS, PAYLOAD_BOUNDS};
use super::subsz::{subsz, SubszOptions};
use super::{varz, Monitor};
use crate::server::Server;

/// The OpenMetrics content type.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format's content type.
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the pending-bytes buckets.
const PENDING_BOUNDS: [u64; 9] = [
    0,
    1024,
    16 * 1024,
    64 * 1024,
    256 * 1024,
    1 << 20,
    4 << 20,
    16 << 20,
    64 << 20,
];

/// True when `accept` asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            let mut it = part.split(';');
            let media = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    == Some(0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !q_zero
        })
    })
}

/// A label set: (name, value) pairs.
type Labels<'a> = &'a [(&'a str, &'a str)];

/// The exposition being written.
struct Out {
    text: String,
    open: bool,
}

impl Out {
    /// Start a family: `# HELP` and `# TYPE`. For a counter, `name` is
    /// without `_total` (added to its sample).
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let kind = match (kind, self.open) {
            ("gaugehistogram", false) => "histogram",
            (k, _) => k,
        };
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: Labels, value: impl Value) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        self.text.push(' ');
        value.write(&mut self.text);
        self.text.push('\n');
    }

    /// A one-sample gauge family.
    fn gauge(&mut self, name: &str, help: &str, labels: Labels, value: impl Value) {
        self.family(name, "gauge", help);
        self.sample(name, labels, value);
    }

    /// A one-sample counter family (`name` without `_total`).
    fn counter(&mut self, name: &str, help: &str, labels: Labels, value: u64) {
        let total = format!("{name}_total");
        // The text format names the family as its sample; OpenMetrics without `_total`.
        self.family(if self.open { name } else { &total }, "counter", help);
        self.sample(&total, labels, value);
    }

    /// A histogram (or gauge histogram) from per-bucket counts.
    fn histogram(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        labels: Labels,
        bounds: &[u64],
        counts: &Counts,
    ) {
        self.family(name, kind, help);
        let mut cumulative = 0;
        let bucket = format!("{name}_bucket");
        for (i, n) in counts.buckets.iter().enumerate() {
            cumulative += n;
            let le = bounds
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| format!("{b}"));
            let le = if self.open && le != "+Inf" {
                format!("{le}.0")
            } else {
                le
            };
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative);
        }
        let (count, sum) = if kind == "gaugehistogram" && self.open {
            ("_gcount", "_gsum")
        } else {
            ("_count", "_sum")
        };
        self.sample(&format!("{name}{count}"), labels, cumulative);
        self.sample(&format!("{name}{sum}"), labels, counts.sum);
    }
}

/// A sample value.
trait Value {
    fn write(&self, out: &mut String);
}

impl Value for u64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for usize {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for f64 {
    fn write(&self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

impl Value for bool {
    fn write(&self, out: &mut String) {
        out.push(if *self { '1' } else { '0' });
    }
}

fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Aggregates over every client connection, read in one pass.
#[derive(Default)]
struct ClientTotals {
    connections: usize,
    pending_bytes: u64,
    subscriptions: u64,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    /// Connections per account name.
    per_account: HashMap<String, usize>,
    /// Connections per pending-bytes bucket.
    pending: Vec<u64>,
}

fn client_totals(server: &Server) -> ClientTotals {
    let mut t = ClientTotals {
        pending: vec![0; PENDING_BOUNDS.len() + 1],
        ..ClientTotals::default()
    };
    for c in server.client_list() {
        let pending = c.pending_bytes() as u64;
        t.connections += 1;
        t.pending_bytes += pending;
        t.pending[PENDING_BOUNDS.partition_point(|b| *b < pending)] += 1;
        t.subscriptions += c.subs().len() as u64;
        t.in_msgs += c.stats.in_msgs.load(Relaxed);
        t.out_msgs += c.stats.out_msgs.load(Relaxed);
        t.in_bytes += c.stats.in_bytes.load(Relaxed);
        t.out_bytes += c.stats.out_bytes.load(Relaxed);
        let account = c.account();
        match t.per_account.get_mut(account.name.as_str()) {
            Some(n) => *n += 1,
            None => {
                t.per_account.insert(account.name.clone(), 1);
            }
        }
    }
    t
}

/// Render the exposition; `open` for OpenMetrics.
pub fn render(server: &Server, monitor: &Monitor, open: bool) -> String {
    let mut o = Out {
        text: String::with_capacity(16 * 1024),
        open,
    };
    let id = server.id.as_str();
    let sid: Labels = &[("server_id", id)];
    varz_series(&mut o, server, monitor, sid);
    let clients = client_totals(server);
    connz_series(&mut o, &clients, sid);
    routez_series(&mut o, server, id);
    leafz_series(&mut o, server, id);
    subsz_series(&mut o, server, sid);
    accountz_series(&mut o, server, &clients, id);
    own_series(&mut o, server, &clients, sid);
    if open {
        o.text.push_str("# EOF\n");
    }
    o.text
}

fn varz_series(o: &mut Out, server: &Server, monitor: &Monitor, sid: Labels) {
    let v = varz::varz(server, monitor);
    let id = sid[0].1;
    for (name, value) in [
        ("server_id", v.server_id.as_str()),
        ("server_name", v.server_name.as_str()),
        ("version", v.version.as_str()),
    ] {
        o.gauge(
            &format!("gnatsd_varz_{name}"),
            &format!("{name} as a label (/varz)"),
            &[("server_id", id), ("value", value)],
            1u64,
        );
    }
    let gauges: [(&str, f64); 29] = [
        ("proto", f64::from(v.proto)),
        ("port", f64::from(v.port)),
        ("max_connections", v.max_connections as f64),
        ("max_subscriptions", v.max_subscriptions as f64),
        ("ping_interval", v.ping_interval as f64),
        ("ping_max", f64::from(v.ping_max)),
        ("http_port", f64::from(v.http_port)),
        ("https_port", f64::from(v.https_port)),
        ("auth_timeout", v.auth_timeout),
        ("max_control_line", v.max_control_line as f64),
        ("max_payload", v.max_payload as f64),
        ("max_pending", v.max_pending as f64),
        ("tls_timeout", v.tls_timeout),
        ("write_deadline", v.write_deadline as f64),
        ("mem", v.mem as f64),
        ("cores", v.cores as f64),
        ("gomaxprocs", v.gomaxprocs as f64),
        ("cpu", v.cpu),
        ("connections", v.connections as f64),
        ("total_connections", v.total_connections as f64),
        ("routes", v.routes as f64),
        ("remotes", v.remotes as f64),
        ("leafnodes", v.leafnodes as f64),
        ("in_msgs", v.in_msgs as f64),
        ("out_msgs", v.out_msgs as f64),
        ("in_bytes", v.in_bytes as f64),
        ("out_bytes", v.out_bytes as f64),
        ("slow_consumers", v.slow_consumers as f64),
        ("subscriptions", v.subscriptions as f64),
    ];
    for (name, value) in gauges {
        o.gauge(
            &format!("gnatsd_varz_{name}"),
            &format!("{name} (/varz)"),
            sid,
            value,
        );
    }
}

fn connz_series(o: &mut Out, t: &ClientTotals, sid: Labels) {
    let limit = DEFAULT_LIMIT as u64;
    o.gauge(
        "gnatsd_connz_num_connections",
        "Open client connections (/connz num_connections, over all connections)",
        sid,
        t.connections,
    );
    o.gauge(
        "gnatsd_connz_total_connections",
        "Open client connections matching /connz's query (the exporter's gnatsd_connz_total, renamed for promtool's lint)",
        sid,
        t.connections,
    );
    o.gauge("gnatsd_connz_offset", "/connz offset (always 0)", sid, 0u64);
    o.gauge("gnatsd_connz_limit", "/connz default page size", sid, limit);
    o.gauge(
        "gnatsd_connz_pending_bytes",
        "Outbound bytes pending, summed over client connections",
        sid,
        t.pending_bytes,
    );
    o.gauge(
        "gnatsd_connz_subscriptions",
        "Subscriptions, summed over client connections",
        sid,
        t.subscriptions,
    );
    for (name, value, help) in [
        (
            "in_msgs",
            t.in_msgs,
            "Messages received from the open client connections",
        ),
        (
            "out_msgs",
            t.out_msgs,
            "Messages sent to the open client connections",
        ),
        (
            "in_bytes",
            t.in_bytes,
            "Bytes received from the open client connections",
        ),
        (
            "out_bytes",
            t.out_bytes,
            "Bytes sent to the open client connections",
        ),
    ] {
        o.gauge(&format!("gnatsd_connz_{name}"), help, sid, value);
    }
}

fn routez_series(o: &mut Out, server: &Server, id: &str) {
    let routes = server.routes.list();
    let sid: Labels = &[("server_id", id)];
    o.gauge(
        "gnatsd_routez_server_id",
        "server_id as a label (/routez)",
        &[("server_id", id), ("value", id)],
        1u64,
    );
    o.gauge(
        "gnatsd_routez_server_name",
        "server_name as a label (/routez)",
        &[("server_id", id), ("value", server.name.as_str())],
        1u64,
    );
    o.gauge(
        "gnatsd_routez_num_routes",
        "Routes (/routez)",
        sid,
        routes.len(),
    );
    struct Row {
        rid: String,
        remote_id: String,
        remote_name: String,
        ip: String,
        rtt: Option<f64>,
        subscriptions: usize,
        uptime: f64,
        values: [u64; 4],
    }
    let rows: Vec<Row> = routes
        .iter()
        .map(|r| {
            let c = &r.client;
            Row {
                rid: c.cid.to_string(),
                remote_id: r.remote_id.clone(),
                remote_name: r.remote_name.clone(),
                ip: c.addr.ip().to_string(),
                rtt: c.meta().rtt.map(|d| d.as_secs_f64()),
                subscriptions: c.subs().len(),
                uptime: r.start.elapsed().map_or(0.0, |d| d.as_secs_f64()),
                values: [
                    c.stats.in_msgs.load(Relaxed),
                    c.stats.out_msgs.load(Relaxed),
                    c.stats.in_bytes.load(Relaxed),
                    c.stats.out_bytes.load(Relaxed),
                ],
            }
        })
        .collect();
    o.family("gnatsd_routez_route_info", "gauge", "A route and its peer");
    for r in &rows {
        o.sample(
            "gnatsd_routez_route_info",
            &[
                ("server_id", id),
                ("rid", &r.rid),
                ("remote_id", &r.remote_id),
                ("remote_name", &r.remote_name),
                ("account", ""),
                ("ip", &r.ip),
                ("compression", ""),
            ],
            1u64,
        );
    }
    o.family(
        "gnatsd_routez_route_rtt_seconds",
        "gauge",
        "Last measured round trip of a route",
    );
    for r in &rows {
        if let Some(rtt) = r.rtt {
            o.sample(
                "gnatsd_routez_route_rtt_seconds",
                &[("server_id", id), ("rid", &r.rid)],
                rtt,
            );
        }
    }
    o.family(
        "gnatsd_routez_route_subscriptions",
        "gauge",
        "Interest a route's peer announced",
    );
    for r in &rows {
        o.sample(
            "gnatsd_routez_route_subscriptions",
            &[("server_id", id), ("rid", &r.rid)],
            r.subscriptions,
        );
    }
    o.family(
        "gnatsd_routez_route_uptime_seconds",
        "gauge",
        "Time since a route was registered",
    );
    for r in &rows {
        o.sample(
            "gnatsd_routez_route_uptime_seconds",
            &[("server_id", id), ("rid", &r.rid)],
            r.uptime,
        );
    }
    for (i, name) in ["in_msgs", "out_msgs", "in_bytes", "out_bytes"]
        .iter()
        .enumerate()
    {
        let metric = format!("gnatsd_routez_route_{name}");
        o.family(&metric, "gauge", &format!("{name} of a route"));
        for r in &rows {
            o.sample(&metric, &[("server_id", id), ("rid", &r.rid)], r.values[i]);
        }
    }
}

/// `/leafz` as gauges: the count, and per leaf connection (labelled by
/// its id, account and address) its interest, round trip and counters.
fn leafz_series(o: &mut Out, server: &Server, id: &str) {
    let leafs = server.leafs.list();
    o.gauge(
        "gnatsd_leafz_leafnodes",
        "Leaf connections (/leafz)",
        &[("server_id", id)],
        leafs.len(),
    );
    /// lid, account, address, round trip, [interest, in/out msgs and bytes].
    type Row = (String, String, String, Option<f64>, [u64; 5]);
    let rows: Vec<Row> = leafs
        .iter()
        .map(|l| {
            let c = &l.client;
            (
                c.cid.to_string(),
                l.account.name.clone(),
                c.addr.to_string(),
                c.meta().rtt.map(|d| d.as_secs_f64()),
                [
                    c.subs().len() as u64,
                    c.stats.in_msgs.load(Relaxed),
                    c.stats.out_msgs.load(Relaxed),
                    c.stats.in_bytes.load(Relaxed),
                    c.stats.out_bytes.load(Relaxed),
                ],
            )
        })
        .collect();
    o.family(
        "gnatsd_leafz_leaf_info",
        "gauge",
        "A leaf connection: account and address",
    );
    for (lid, account, addr, _, _) in &rows {
        o.sample(
            "gnatsd_leafz_leaf_info",
            &[
                ("server_id", id),
                ("lid", lid),
                ("account", account),
                ("addr", addr),
            ],
            1u64,
        );
    }
    o.family(
        "gnatsd_leafz_leaf_rtt_seconds",
        "gauge",
        "Last measured round trip of a leaf connection",
    );
    for (lid, _, _, rtt, _) in &rows {
        if let Some(rtt) = rtt {
            o.sample(
                "gnatsd_leafz_leaf_rtt_seconds",
                &[("server_id", id), ("lid", lid)],
                *rtt,
            );
        }
    }
    for (i, name) in [
        "subscriptions",
        "in_msgs",
        "out_msgs",
        "in_bytes",
        "out_bytes",
    ]
    .iter()
    .enumerate()
    {
        let metric = format!("gnatsd_leafz_leaf_{name}");
        o.family(&metric, "gauge", &format!("{name} of a leaf connection"));
        for (lid, _, _, _, values) in &rows {
            o.sample(&metric, &[("server_id", id), ("lid", lid)], values[i]);
        }
    }
}

fn subsz_series(o: &mut Out, server: &Server, sid: Labels) {
    let s = subsz(server, &SubszOptions::default());
    let st = &s.stats;
    for (name, value) in [
        ("num_subscriptions", st.num_subscriptions as f64),
        ("num_cache", st.num_cache as f64),
        ("num_inserts", st.num_inserts as f64),
        ("num_removes", st.num_removes as f64),
        ("num_matches", st.num_matches as f64),
        ("cache_hit_rate", st.cache_hit_rate),
        ("max_fanout", st.max_fanout as f64),
        ("avg_fanout", st.avg_fanout),
        ("total_subscriptions", s.total as f64),
        ("offset", s.offset as f64),
        ("limit", s.limit as f64),
    ] {
        // `total` is `total_subscriptions` here: promtool's lint refuses a
        // gauge named `*_total`.
        o.gauge(
            &format!("gnatsd_subsz_{name}"),
            &format!("{name} (/subsz)"),
            sid,
            value,
        );
    }
}

fn accountz_series(o: &mut Out, server: &Server, t: &ClientTotals, id: &str) {
    let accounts = super::accounts(server);
    let rows: Vec<(String, usize, u64)> = accounts
        .iter()
        .map(|a| {
            let clients = t.per_account.get(a.name.as_str()).copied().unwrap_or(0);
            (a.name.clone(), clients, a.sublist.count())
        })
        .collect();
    let per_account = |o: &mut Out, name: &str, help: &str, value: &dyn Fn(usize) -> u64| {
        let metric = format!("gnatsd_accountz_{name}");
        o.family(&metric, "gauge", help);
        for (i, (acc, _, _)) in rows.iter().enumerate() {
            o.sample(
                &metric,
                &[("server_id", id), ("account_id", acc), ("account_name", "")],
                value(i),
            );
        }
    };
    per_account(
        o,
        "client_connections",
        "Client connections of an account",
        &|i| rows[i].1 as u64,
    );
    per_account(
        o,
        "leafnode_connections",
        "Leaf node connections of an account",
        &|_| 0,
    );
    per_account(o, "subscriptions", "Subscriptions of an account", &|i| {
        rows[i].2
    });
    per_account(o, "is_system", "1 for the system account", &|_| 0);
    per_account(o, "expired", "1 when the account expired", &|_| 0);
    per_account(o, "complete", "1 when the account is complete", &|_| 1);
    per_account(
        o,
        "jetstream_enabled",
        "1 when JetStream is enabled",
        &|_| 0,
    );
    for limit in [
        "subs",
        "data",
        "payload",
        "imports",
        "exports",
        "wildcards",
        "conn",
        "leaf",
    ] {
        per_account(
            o,
            &format!("limit_{limit}"),
            &format!("JWT limit {limit} (no JWT accounts here: 0)"),
            &|_| 0,
        );
    }
}

fn own_series(o: &mut Out, server: &Server, t: &ClientTotals, sid: Labels) {
    let s = &server.stats;
    for (name, value, help) in [
        (
            "nats_lite_in_msgs",
            s.in_msgs.load(Relaxed),
            "Messages received from clients",
        ),
        (
            "nats_lite_out_msgs",
            s.out_msgs.load(Relaxed),
            "Messages delivered to clients",
        ),
        (
            "nats_lite_in_bytes",
            s.in_bytes.load(Relaxed),
            "Payload bytes received from clients",
        ),
        (
            "nats_lite_out_bytes",
            s.out_bytes.load(Relaxed),
            "Payload bytes delivered to clients",
        ),
        (
            "nats_lite_slow_consumers",
            s.slow_consumers.load(Relaxed),
            "Connections closed as slow consumers",
        ),
        (
            "nats_lite_stale_connections",
            s.stale_connections.load(Relaxed),
            "Connections closed as stale",
        ),
        (
            "nats_lite_connections_accepted",
            s.total_connections.load(Relaxed),
            "Client connections accepted since start",
        ),
        (
            "nats_lite_internal_dropped",
            s.internal_dropped.load(Relaxed),
            "Messages for the system service dropped: its queue was full",
        ),
    ] {
        o.counter(name, help, sid, value);
    }
    o.gauge(
        "nats_lite_connections",
        "Open client connections",
        sid,
        t.connections,
    );
    let snap = observe::snapshot();
    o.histogram(
        "nats_lite_publish_fanout",
        "histogram",
        "Copies each published message was delivered as (local subscribers and routes)",
        sid,
        &FANOUT_BOUNDS,
        &snap.fanout,
    );
    o.histogram(
        "nats_lite_publish_payload_bytes",
        "histogram",
        "Payload bytes of each published message",
        sid,
        &PAYLOAD_BOUNDS,
        &snap.payload,
    );
    o.histogram(
        "nats_lite_connection_pending_bytes",
        "gaugehistogram",
        "Client connections by outbound bytes pending now (a snapshot: counts go up and down)",
        sid,
        &PENDING_BOUNDS,
        &Counts {
            buckets: t.pending.clone(),
            sum: t.pending_bytes,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(!wants_openmetrics(None));
    }

    #[test]
    fn histograms_are_cumulative_in_both_formats() {
        let counts = Counts {
            buckets: vec![1, 0, 2],
            sum: 7,
        };
        let mut o = Out {
            text: String::new(),
            open: false,
        };
        o.histogram(
            "h",
            "gaugehistogram",
            "help",
            &[("a", "x\"y")],
            &[1, 2],
            &counts,
        );
        assert!(o.text.contains("# TYPE h histogram\n"), "{}", o.text);
        assert!(
            o.text.contains("h_bucket{a=\"x\\\"y\",le=\"2\"} 1\n"),
            "{}",
            o.text
        );
        assert!(o.text.contains("h_bucket{a=\"x\\\"y\",le=\"+Inf\"} 3\n"));
        assert!(o.text.contains("h_count{a=\"x\\\"y\"} 3\n"));
        let mut o = Out {
            text: String::new(),
            open: true,
        };
        o.histogram("h", "gaugehistogram", "help", &[], &[1, 2], &counts);
        assert!(o.text.contains("# TYPE h gaugehistogram\n"), "{}", o.text);
        assert!(o.text.contains("h_bucket{le=\"1.0\"} 1\n"), "{}", o.text);
        assert!(o.text.contains("h_gcount 3\nh_gsum 7\n"), "{}", o.text);
    }
}
