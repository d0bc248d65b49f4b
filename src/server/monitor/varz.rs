//! `/varz`: the server's identity, limits and counters, with the field
//! names, order and encodings of nats-server 2.9's `Varz` (durations in
//! nanoseconds, timeouts in float seconds written as Go writes a float64,
//! times as RFC 3339), so that nats-top and prometheus-nats-exporter decode
//! it unchanged. Every field of nats-server 2.9.10's is here (tested
//! against the real server); `system_account` only when one is configured
//! (nats-lite has no default system account, as nats-server with
//! `no_system_account: true`, which leaves the field out too).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::format::{go_float, my_uptime, nanos, GoTime};
use super::process;
use super::Monitor;
use crate::server::{info_git_commit, Server, INFO_GO, INFO_VERSION, PROTO, TLS_TIMEOUT};

/// An empty JSON object for the blocks of features nats-lite does not have
/// (gateway, leaf, mqtt, websocket, jetstream), present as nats-server
/// always writes them.
#[derive(Debug, Default, Serialize)]
pub struct Empty {}

/// The `cluster` block; empty without clustering.
#[derive(Debug, Default, Serialize)]
pub struct ClusterVarz {
    /// Cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Route listen host.
    #[serde(rename = "addr", skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Route listen port.
    #[serde(rename = "cluster_port", skip_serializing_if = "is_zero")]
    pub port: u16,
    /// Seconds a route has to authenticate.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "go_float_opt"
    )]
    pub auth_timeout: Option<f64>,
    /// Configured route URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Seconds a route has for its TLS handshake.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "go_float_opt"
    )]
    pub tls_timeout: Option<f64>,
    /// The other servers' monitoring URLs (a nats-lite extension, from
    /// their route INFOs; `top --discover` reads it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub monitor_urls: Vec<String>,
}

fn go_float_opt<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    go_float(&v.unwrap_or_default(), s)
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// The `/varz` reply.
#[derive(Debug, Serialize)]
pub struct Varz {
    /// Server id.
    pub server_id: String,
    /// Server name.
    pub server_name: String,
    /// Version (the nats-server version we match, with ours as build metadata).
    pub version: String,
    /// Protocol level.
    pub proto: i32,
    /// The commit we were built from (left out when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// The toolchain we were built with (nats-server: its Go version).
    pub go: &'static str,
    /// Client listen host.
    pub host: String,
    /// Client listen port.
    pub port: u16,
    /// The client URLs of this server and the rest of its cluster, as INFO
    /// gives them (left out without a cluster).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// Connection limit.
    pub max_connections: usize,
    /// Subscriptions per connection (0: unlimited, then omitted).
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub max_subscriptions: usize,
    /// Nanoseconds between server PINGs.
    pub ping_interval: u64,
    /// Unanswered PINGs before a connection is stale.
    pub ping_max: u32,
    /// Monitoring host.
    pub http_host: String,
    /// Monitoring HTTP port (the bound one).
    pub http_port: u16,
    /// Monitoring base path (always empty).
    pub http_base_path: String,
    /// Monitoring HTTPS port.
    pub https_port: u16,
    /// Clients must authenticate.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
    /// Clients must use TLS.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_required: bool,
    /// Client certificates are verified.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    /// Seconds allowed for CONNECT.
    #[serde(serialize_with = "go_float")]
    pub auth_timeout: f64,
    /// Longest control line.
    pub max_control_line: usize,
    /// Largest payload.
    pub max_payload: usize,
    /// Largest outbound backlog per client.
    pub max_pending: usize,
    /// Cluster options.
    pub cluster: ClusterVarz,
    /// Gateway options (none).
    pub gateway: Empty,
    /// Leaf node options (none).
    pub leaf: Empty,
    /// MQTT options (none).
    pub mqtt: Empty,
    /// WebSocket options (none).
    pub websocket: crate::server::websocket::WebsocketVarz,
    /// JetStream (none).
    pub jetstream: Empty,
    /// Seconds allowed for a TLS handshake.
    #[serde(serialize_with = "go_float")]
    pub tls_timeout: f64,
    /// Nanoseconds a write may block.
    pub write_deadline: u64,
    /// When the server started.
    pub start: GoTime,
    /// Now.
    pub now: GoTime,
    /// Time since start, as `1d2h3m4s`.
    pub uptime: String,
    /// Resident memory in bytes.
    pub mem: u64,
    /// Cores available.
    pub cores: usize,
    /// Same as `cores` (Go's GOMAXPROCS).
    pub gomaxprocs: usize,
    /// CPU use in percent of one core.
    #[serde(serialize_with = "go_float")]
    pub cpu: f64,
    /// Open client connections.
    pub connections: usize,
    /// Client connections accepted since start.
    pub total_connections: u64,
    /// Routes.
    pub routes: usize,
    /// Remote servers.
    pub remotes: usize,
    /// Leaf nodes.
    pub leafnodes: usize,
    /// Messages received.
    pub in_msgs: u64,
    /// Messages sent.
    pub out_msgs: u64,
    /// Bytes received.
    pub in_bytes: u64,
    /// Bytes sent.
    pub out_bytes: u64,
    /// Slow consumers closed since start.
    pub slow_consumers: u64,
    /// Subscriptions.
    pub subscriptions: u64,
    /// Requests per monitoring endpoint.
    pub http_req_stats: BTreeMap<&'static str, u64>,
    /// When the configuration was (last) loaded.
    pub config_load_time: GoTime,
    /// The system account, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_account: Option<String>,
}

fn cluster_varz(server: &Server) -> ClusterVarz {
    let Some(c) = server.routes.opts() else {
        return ClusterVarz::default();
    };
    ClusterVarz {
        name: server.routes.name(),
        host: c.host.clone(),
        port: server.routes.listen_addr().map_or(c.port, |a| a.port()),
        auth_timeout: Some(c.auth_timeout.as_secs_f64()),
        urls: c
            .routes
            .iter()
            .map(|r| crate::server::net::display_addr(&r.host, r.port))
            .collect(),
        tls_timeout: Some(
            c.tls
                .as_ref()
                .map_or(TLS_TIMEOUT, |t| t.timeout)
                .as_secs_f64(),
        ),
        monitor_urls: crate::server::route::discovery::peer_urls(&server.routes),
    }
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// Build the `/varz` reply.
pub fn varz(server: &Server, monitor: &Monitor) -> Varz {
    let opts = server.opts();
    let stats = &server.stats;
    let now = GoTime::now();
    let start = GoTime::from_system(server.start);
    let uptime = now.since(start);
    let cores = process::cores();
    Varz {
        server_id: server.id.clone(),
        server_name: server.name.clone(),
        version: INFO_VERSION.to_string(),
        proto: PROTO,
        git_commit: info_git_commit(),
        go: INFO_GO,
        host: opts.host.clone(),
        port: server.addr.port(),
        connect_urls: if server.routes.enabled() {
            server.routes.client_connect_urls(server.own_client_urls())
        } else {
            Vec::new()
        },
        auth_required: opts.auth_required(),
        tls_required: opts.tls.is_some(),
        tls_verify: opts
            .tls
            .as_ref()
            .is_some_and(|t| t.verify || t.verify_and_map),
        max_connections: opts.max_connections,
        max_subscriptions: opts.max_subscriptions,
        ping_interval: nanos(opts.ping_interval),
        ping_max: opts.ping_max,
        http_host: monitor.host.clone(),
        http_port: monitor.http_port(),
        http_base_path: String::new(),
        https_port: monitor.https_port(),
        auth_timeout: opts.auth_timeout.as_secs_f64(),
        max_control_line: opts.max_control_line,
        max_payload: opts.max_payload,
        max_pending: opts.max_pending,
        cluster: cluster_varz(server),
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket: crate::server::websocket::varz(server),
        jetstream: Empty {},
        tls_timeout: opts
            .tls
            .as_ref()
            .map_or(TLS_TIMEOUT, |t| t.timeout)
            .as_secs_f64(),
        write_deadline: nanos(opts.write_deadline),
        start,
        now,
        uptime: my_uptime(uptime),
        mem: process::rss_bytes(),
        cores,
        gomaxprocs: cores,
        cpu: monitor.cpu.percent(uptime),
        connections: server.num_clients(),
        total_connections: stats.total_connections.load(Ordering::Relaxed),
        routes: server.routes.count(),
        remotes: 0,
        leafnodes: 0,
        in_msgs: stats.in_msgs.load(Ordering::Relaxed),
        out_msgs: stats.out_msgs.load(Ordering::Relaxed),
        in_bytes: stats.in_bytes.load(Ordering::Relaxed),
        out_bytes: stats.out_bytes.load(Ordering::Relaxed),
        slow_consumers: stats.slow_consumers.load(Ordering::Relaxed),
        subscriptions: super::accounts(server)
            .iter()
            .map(|a| a.sublist.count())
            .sum(),
        http_req_stats: monitor.req_stats(),
        config_load_time: start,
        system_account: opts.system_account.clone(),
    }
}
