//! `/leafz` (the leaf connections, as nats-server 2.9.10 lists them) and
//! the `leaf` block of `/varz`.

use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use super::connz::{decode_subs, peer_interest, SubsDetail};
use super::format::{go_float, go_rtt, GoTime};
use super::http::{ApiError, Query};
use crate::server::options::TLS_TIMEOUT;
use crate::server::Server;

/// The `/leafz` reply.
#[derive(Debug, Serialize)]
pub struct Leafz {
    /// Server id.
    pub server_id: String,
    /// Now.
    pub now: GoTime,
    /// Number of leaf connections.
    pub leafnodes: usize,
    /// The leaf connections.
    pub leafs: Vec<LeafInfo>,
}

/// One leaf connection, as nats-server's `LeafInfo`.
#[derive(Debug, Serialize)]
pub struct LeafInfo {
    /// The account it is bound to here.
    pub account: String,
    /// The peer's address.
    pub ip: String,
    /// The peer's port.
    pub port: u16,
    /// Last measured round trip.
    pub rtt: String,
    /// Messages received from the peer.
    pub in_msgs: u64,
    /// Messages sent to the peer.
    pub out_msgs: u64,
    /// Bytes received from the peer.
    pub in_bytes: u64,
    /// Bytes sent to the peer.
    pub out_bytes: u64,
    /// Interest entries the peer announced.
    pub subscriptions: usize,
    /// Their subjects (with `subs=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions_list: Option<Vec<String>>,
}

/// Build the `/leafz` reply; `subs` is checked as nats-server checks it.
///
/// # Errors
///
/// A bad `subs` value.
pub fn leafz(server: &Server, q: &Query) -> Result<Leafz, ApiError> {
    let subs: SubsDetail = decode_subs(q)?;
    let acc = q.get("acc").filter(|a| !a.is_empty());
    let leafs: Vec<LeafInfo> = server
        .leafs
        .list()
        .iter()
        .filter(|l| acc.is_none_or(|a| a == l.account.name))
        .map(|l| {
            let c = &l.client;
            let (subscriptions, subscriptions_list) = peer_interest(c, subs, 0);
            LeafInfo {
                account: l.account.name.clone(),
                ip: c.addr.ip().to_string(),
                port: c.addr.port(),
                rtt: go_rtt(c.meta().rtt),
                in_msgs: c.stats.in_msgs.load(Relaxed),
                out_msgs: c.stats.out_msgs.load(Relaxed),
                in_bytes: c.stats.in_bytes.load(Relaxed),
                out_bytes: c.stats.out_bytes.load(Relaxed),
                subscriptions,
                subscriptions_list,
            }
        })
        .collect();
    Ok(Leafz {
        server_id: server.id.clone(),
        now: GoTime::now(),
        leafnodes: leafs.len(),
        leafs,
    })
}

/// The `leaf` block of `/varz`: empty without leafnodes, as nats-server's.
#[derive(Debug, Default, Serialize)]
pub struct LeafVarz {
    /// Listen host.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Listen port.
    #[serde(skip_serializing_if = "is_zero")]
    pub port: u16,
    /// Seconds a leaf has to send CONNECT.
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero_f")]
    pub auth_timeout: f64,
    /// Seconds allowed for the TLS handshake.
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero_f")]
    pub tls_timeout: f64,
    /// The listener requires TLS.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_required: bool,
    /// Leaf certificates are verified.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    /// The remotes we solicit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<RemoteVarz>,
}

/// One remote in `/varz`.
#[derive(Debug, Serialize)]
pub struct RemoteVarz {
    /// The local account it binds.
    pub local_account: String,
    /// Its URLs (`host:port`).
    pub urls: Vec<String>,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn is_zero_f(n: &f64) -> bool {
    *n == 0.0
}

/// The `leaf` block of `/varz`.
pub fn leaf_varz(server: &Server) -> LeafVarz {
    let opts = server.opts();
    let Some(lo) = &opts.leafnodes else {
        return LeafVarz::default();
    };
    let mut v = LeafVarz {
        remotes: lo
            .remotes
            .iter()
            .map(|r| RemoteVarz {
                local_account: r.account.clone(),
                urls: r
                    .urls
                    .iter()
                    .map(|u| crate::server::net::display_addr(&u.host, u.port))
                    .collect(),
            })
            .collect(),
        ..LeafVarz::default()
    };
    if let Some(addr) = server.leafs.listen_addr() {
        v.host = lo.host.clone();
        v.port = addr.port();
        v.auth_timeout = lo.auth_timeout.unwrap_or(opts.auth_timeout).as_secs_f64();
        v.tls_timeout = lo
            .tls
            .as_ref()
            .map_or(TLS_TIMEOUT, |t| t.timeout)
            .as_secs_f64();
        v.tls_required = lo.tls.is_some();
        v.tls_verify = lo.tls.as_ref().is_some_and(|t| t.verify);
    }
    v
}
