//! The envelope of every system reply, as nats-server's
//! `ServerAPIResponse`: `{"server":{...},"data":...}`, or `"error":
//! {"code":..,"description":..}` in place of the data; and the request
//! filters (`server_name`, `cluster`, `host`, `tags`, `domain`) that make a
//! server stay silent.

use serde::{Deserialize, Serialize};

use super::super::monitor::format::{rfc3339_nano, GoTime};
use super::super::{Server, INFO_VERSION};

/// The `server` block: who answers (nats-server's `ServerInfo`).
#[derive(Debug, Serialize)]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// Client listen host.
    pub host: String,
    /// Server id.
    pub id: String,
    /// Cluster name, when clustered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Version.
    pub ver: String,
    /// Sequence number of the reply.
    pub seq: u64,
    /// JetStream is enabled (never, here).
    pub jetstream: bool,
    /// When the reply was made (RFC 3339).
    pub time: String,
}

impl ServerInfo {
    /// The block for a reply of `server`, numbered.
    pub fn of(server: &Server) -> ServerInfo {
        ServerInfo {
            name: server.name.clone(),
            host: server.opts().host.clone(),
            id: server.id.clone(),
            cluster: server.routes.enabled().then(|| server.routes.name()),
            ver: INFO_VERSION.to_string(),
            seq: super::next_seq(server),
            jetstream: false,
            time: rfc3339_nano(GoTime::now().0),
        }
    }
}

/// An error in place of the data (nats-server's `ApiError`).
#[derive(Debug, Serialize)]
pub struct ApiError {
    /// HTTP-like status: 400 for a request that does not decode, 500 for
    /// options the endpoint refuses.
    pub code: u16,
    /// What went wrong.
    pub description: String,
}

/// `{"server":...,"data":...}`, `data` being JSON already (so the
/// fields keep the order of the structs they were written from).
pub fn data(server: &Server, data: &[u8]) -> Vec<u8> {
    wrap(server, "data", data)
}

/// `{"server":...,"<key>":<value>}`, `value` being JSON already.
pub fn wrap(server: &Server, key: &str, value: &[u8]) -> Vec<u8> {
    let mut out = b"{\"server\":".to_vec();
    out.extend_from_slice(&serde_json::to_vec(&ServerInfo::of(server)).unwrap_or_default());
    out.extend_from_slice(format!(",\"{key}\":").as_bytes());
    out.extend_from_slice(value);
    out.push(b'}');
    out
}

/// An error reply; `with_null_data` writes `"data":null` before it, as
/// nats-server does when the endpoint itself refused the options.
pub fn error(server: &Server, code: u16, description: String, with_null_data: bool) -> Vec<u8> {
    #[derive(Serialize)]
    struct Reply {
        server: ServerInfo,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Option<()>>,
        error: ApiError,
    }
    let reply = Reply {
        server: ServerInfo::of(server),
        data: with_null_data.then_some(None),
        error: ApiError { code, description },
    };
    serde_json::to_vec(&reply).unwrap_or_default()
}

/// The filters any request may carry (nats-server's `EventFilterOptions`).
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    /// Only servers whose name contains this.
    #[serde(default, rename = "server_name")]
    pub name: String,
    /// Only servers whose cluster name contains this.
    #[serde(default)]
    pub cluster: String,
    /// Only servers whose host contains this.
    #[serde(default)]
    pub host: String,
    /// Only servers with all these tags (nats-lite has none).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only servers of this JetStream domain (nats-lite has none).
    #[serde(default)]
    pub domain: String,
}

impl Filter {
    /// True when `server` must not answer (nats-server's `filterRequest`).
    pub fn excludes(&self, server: &Server) -> bool {
        let cluster = if server.routes.enabled() {
            server.routes.name()
        } else {
            String::new()
        };
        (!self.name.is_empty() && !server.name.contains(&self.name))
            || (!self.host.is_empty() && !server.opts().host.contains(&self.host))
            || (!self.cluster.is_empty() && !cluster.contains(&self.cluster))
            || !self.tags.is_empty()
            || !self.domain.is_empty()
    }
}
