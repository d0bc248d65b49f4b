//! The small endpoints: `/routez` (the registered routes),
//! `/healthz`, `/accountz` (names, and a summary of one account) and `/`,
//! an HTML index.

use serde::Serialize;

use super::connz::{decode_subs, peer_interest, SubsDetail};
use std::sync::atomic::Ordering::Relaxed;

use super::format::{go_rtt, my_uptime, GoTime};
use super::http::{ApiError, Query};
use super::subsz::{subsz, SubszOptions};
use crate::server::{Server, INFO_VERSION};

/// The `/routez` reply.
#[derive(Debug, Serialize)]
pub struct Routez {
    /// Server id.
    pub server_id: String,
    /// Server name.
    pub server_name: String,
    /// Now.
    pub now: GoTime,
    /// Number of routes.
    pub num_routes: usize,
    /// The routes.
    pub routes: Vec<RouteInfo>,
}

/// One route, as nats-server's `RouteInfo` in `/routez`.
#[derive(Debug, Serialize)]
pub struct RouteInfo {
    /// The route connection's id.
    pub rid: u64,
    /// The peer's server id.
    pub remote_id: String,
    /// The peer's server name.
    pub remote_name: String,
    /// We dialled it.
    pub did_solicit: bool,
    /// It is one of our configured routes.
    pub is_configured: bool,
    /// The peer's address.
    pub ip: String,
    /// The peer's port.
    pub port: u16,
    /// When the route was registered.
    pub start: GoTime,
    /// When bytes last arrived.
    pub last_activity: GoTime,
    /// Last measured round trip.
    pub rtt: String,
    /// Time since registration.
    pub uptime: String,
    /// Time since bytes last arrived.
    pub idle: String,
    /// Bytes queued for the peer.
    pub pending_size: usize,
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

/// Build the `/routez` reply; `subs` is checked as nats-server checks it.
///
/// # Errors
///
/// A bad `subs` value.
pub fn routez(server: &Server, q: &Query) -> Result<Routez, ApiError> {
    let subs: SubsDetail = decode_subs(q)?;
    let now = GoTime::now();
    let routes: Vec<RouteInfo> = server
        .routes
        .list()
        .iter()
        .map(|r| {
            let c = &r.client;
            let start = GoTime::from_system(r.start);
            let last = GoTime::from_system(
                std::time::UNIX_EPOCH
                    + std::time::Duration::from_nanos(c.last_activity_nanos.load(Relaxed)),
            );
            let (subscriptions, subscriptions_list) = peer_interest(c, subs, 1);
            RouteInfo {
                rid: c.cid,
                remote_id: r.remote_id.clone(),
                remote_name: r.remote_name.clone(),
                did_solicit: r.solicited,
                is_configured: r.configured,
                ip: c.addr.ip().to_string(),
                port: c.addr.port(),
                start,
                last_activity: last,
                rtt: go_rtt(c.meta().rtt),
                uptime: my_uptime(now.since(start)),
                idle: my_uptime(now.since(last)),
                pending_size: c.pending_bytes(),
                in_msgs: c.stats.in_msgs.load(Relaxed),
                out_msgs: c.stats.out_msgs.load(Relaxed),
                in_bytes: c.stats.in_bytes.load(Relaxed),
                out_bytes: c.stats.out_bytes.load(Relaxed),
                subscriptions,
                subscriptions_list,
            }
        })
        .collect();
    Ok(Routez {
        server_id: server.id.clone(),
        server_name: server.name.clone(),
        now,
        num_routes: routes.len(),
        routes,
    })
}

/// The `/healthz` reply.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Build the `/healthz` reply. The JetStream parameters are checked as
/// booleans and otherwise ignored: there is no JetStream to be unhealthy.
///
/// # Errors
///
/// A bad boolean parameter.
pub fn healthz(q: &Query) -> Result<Health, ApiError> {
    for key in ["js-enabled", "js-enabled-only", "js-server-only", "details"] {
        q.bool(key)?;
    }
    Ok(Health { status: "ok" })
}

/// The `/accountz` reply.
#[derive(Debug, Serialize)]
pub struct Accountz {
    /// Server id.
    pub server_id: String,
    /// Now.
    pub now: GoTime,
    /// The system account, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_account: Option<String>,
    /// Account names (without `acc=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    /// One account (with `acc=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_detail: Option<AccountInfo>,
}

/// One account's summary.
#[derive(Debug, Serialize)]
pub struct AccountInfo {
    /// Name.
    pub account_name: String,
    /// When it was last updated (server start).
    pub update_time: GoTime,
    /// The system account.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_system: bool,
    /// Expired.
    pub expired: bool,
    /// Complete.
    pub complete: bool,
    /// JetStream enabled.
    pub jetstream_enabled: bool,
    /// Leaf node connections.
    pub leafnode_connections: usize,
    /// Client connections.
    pub client_connections: usize,
    /// Subscriptions.
    pub subscriptions: u64,
    /// Its imports (streams first, as nats-server lists them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportInfo>,
    /// The account's subject index statistics.
    pub sublist_stats: serde_json::Value,
}

/// One import of an account (nats-server's `ExtImport`).
#[derive(Debug, Serialize)]
pub struct ImportInfo {
    /// A stream's subject in the exporter; a service's in the importer.
    pub subject: String,
    /// The exporting account.
    pub account: String,
    /// A stream's subject in the importer, when it is another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_subject: Option<String>,
    /// A service's subject in the exporter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `stream` or `service`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Never (an invalid import is left out).
    pub invalid: bool,
    /// Never (no request information is shared).
    pub share: bool,
    /// Never (no latency tracking).
    pub tracking: bool,
}

/// The imports of account `name`, from the options in force.
fn imports_of(server: &Server, name: &str) -> Vec<ImportInfo> {
    let opts = server.opts();
    let mine = || opts.imports.iter().filter(|i| i.importer == name);
    let streams = mine().filter(|i| !i.service).map(|i| ImportInfo {
        subject: i.subject.clone(),
        account: i.exporter.clone(),
        local_subject: match (&i.prefix, &i.to) {
            (Some(p), _) => Some(format!("{p}.{}", i.subject)),
            (None, to) => to.clone(),
        },
        to: None,
        kind: "stream",
        invalid: false,
        share: false,
        tracking: false,
    });
    let services = mine().filter(|i| i.service).map(|i| ImportInfo {
        subject: i.to.clone().unwrap_or_else(|| i.subject.clone()),
        account: i.exporter.clone(),
        local_subject: None,
        to: Some(i.subject.clone()),
        kind: "service",
        invalid: false,
        share: false,
        tracking: false,
    });
    streams.chain(services).collect()
}

/// Build the `/accountz` reply.
///
/// # Errors
///
/// `acc=` names an account that does not exist.
pub fn accountz(server: &Server, q: &Query) -> Result<Accountz, ApiError> {
    let mut reply = Accountz {
        server_id: server.id.clone(),
        now: GoTime::now(),
        system_account: server.opts().system_account.clone(),
        accounts: None,
        account_detail: None,
    };
    let name = q.get("acc").unwrap_or("");
    if name.is_empty() {
        reply.accounts = Some(
            super::accounts(server)
                .iter()
                .map(|a| a.name.clone())
                .collect(),
        );
        return Ok(reply);
    }
    if server.account(name).is_none() {
        return Err(ApiError(format!("Account {name} does not exist")));
    }
    let st = subsz(
        server,
        &SubszOptions {
            acc: Some(name.to_string()),
            ..SubszOptions::default()
        },
    );
    let clients = server
        .client_list()
        .iter()
        .filter(|c| c.account().name == name)
        .count();
    reply.account_detail = Some(AccountInfo {
        account_name: name.to_string(),
        update_time: GoTime::from_system(server.start),
        is_system: server.opts().system_account.as_deref() == Some(name),
        expired: false,
        complete: true,
        jetstream_enabled: false,
        leafnode_connections: server
            .leafs
            .list()
            .iter()
            .filter(|l| l.account.name == name)
            .count(),
        client_connections: clients,
        subscriptions: st.stats.num_subscriptions,
        imports: imports_of(server, name),
        sublist_stats: serde_json::to_value(st.stats).unwrap_or_default(),
    });
    Ok(reply)
}

/// The endpoints the index links to: (path, label).
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("/varz", "General"),
    ("/connz", "Connections"),
    ("/accountz", "Accounts"),
    ("/subsz", "Subscriptions"),
    ("/routez", "Routes"),
    ("/leafz", "LeafNodes"),
    ("/healthz", "Health Probe"),
];

/// The HTML index at `/index` (`/` is the dashboard).
pub fn index_html() -> String {
    let mut links = String::new();
    for (path, label) in ENDPOINTS {
        links.push_str(&format!("    <a href=.{path}>{label}</a>\n"));
    }
    format!(
        "<html lang=\"en\">\n  <head>\n    <title>nats-lite monitoring</title>\n    <style type=\"text/css\">\n      body {{ font-family: sans-serif; margin-left: 32px }}\n      a {{ display: block; padding-bottom: 6px }}\n    </style>\n  </head>\n  <body>\n    <h1>nats-lite</h1>\n    <p>v{INFO_VERSION}</p>\n{links}  </body>\n</html>\n"
    )
}
