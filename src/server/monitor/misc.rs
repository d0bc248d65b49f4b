//! The small endpoints: `/routez` (no routes until clustering exists),
//! `/healthz`, `/accountz` (names, and a summary of one account) and `/`,
//! an HTML index.

use serde::Serialize;

use super::connz::{decode_subs, SubsDetail};
use super::format::GoTime;
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
    /// The routes (none yet).
    pub routes: Vec<Empty>,
}

/// Placeholder element type for lists that are always empty for now.
#[derive(Debug, Serialize)]
pub struct Empty {}

/// Build the `/routez` reply; `subs` is checked as nats-server checks it.
///
/// # Errors
///
/// A bad `subs` value.
pub fn routez(server: &Server, q: &Query) -> Result<Routez, ApiError> {
    let _subs: SubsDetail = decode_subs(q)?;
    Ok(Routez {
        server_id: server.id.clone(),
        server_name: server.name.clone(),
        now: GoTime::now(),
        num_routes: 0,
        routes: Vec::new(),
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
    /// The account's subject index statistics.
    pub sublist_stats: serde_json::Value,
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
        is_system: false,
        expired: false,
        complete: true,
        jetstream_enabled: false,
        leafnode_connections: 0,
        client_connections: clients,
        subscriptions: st.stats.num_subscriptions,
        sublist_stats: serde_json::json!({
            "num_subscriptions": st.stats.num_subscriptions,
            "num_cache": st.stats.num_cache,
            "num_inserts": st.stats.num_inserts,
            "num_removes": st.stats.num_removes,
            "num_matches": st.stats.num_matches,
            "cache_hit_rate": st.stats.cache_hit_rate,
            "max_fanout": st.stats.max_fanout,
            "avg_fanout": st.stats.avg_fanout,
        }),
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
    ("/healthz", "Health Probe"),
];

/// The HTML index at `/`.
pub fn index_html() -> String {
    let mut links = String::new();
    for (path, label) in ENDPOINTS {
        links.push_str(&format!("    <a href=.{path}>{label}</a>\n"));
    }
    format!(
        "<html lang=\"en\">\n  <head>\n    <title>nats-lite monitoring</title>\n    <style type=\"text/css\">\n      body {{ font-family: sans-serif; margin-left: 32px }}\n      a {{ display: block; padding-bottom: 6px }}\n    </style>\n  </head>\n  <body>\n    <h1>nats-lite</h1>\n    <p>v{INFO_VERSION}</p>\n{links}  </body>\n</html>\n"
    )
}
