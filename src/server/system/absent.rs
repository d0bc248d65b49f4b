//! The replies of nats-server for the features nats-lite does not have
//! (JetStream, leafnodes, gateways), as nats-server 2.9.10 answers when
//! they are off, so that tools asking every server (`nats server report
//! jetstream`, ...) get an answer rather than a timeout.

use serde::Serialize;

use crate::server::monitor::format::GoTime;
use crate::server::Server;

/// `JSZ` of a server without JetStream.
#[derive(Debug, Serialize)]
pub struct Jsz {
    server_id: String,
    now: GoTime,
    disabled: bool,
    config: JsConfig,
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    accounts: u64,
    ha_assets: u64,
    api: JsApi,
    streams: u64,
    consumers: u64,
    messages: u64,
    bytes: u64,
}

#[derive(Debug, Default, Serialize)]
struct JsConfig {
    max_memory: u64,
    max_storage: u64,
}

#[derive(Debug, Default, Serialize)]
struct JsApi {
    total: u64,
    errors: u64,
}

/// `JSZ`: disabled.
pub fn jsz(server: &Server) -> Jsz {
    Jsz {
        server_id: server.id.clone(),
        now: GoTime::now(),
        disabled: true,
        config: JsConfig::default(),
        memory: 0,
        storage: 0,
        reserved_memory: 0,
        reserved_storage: 0,
        accounts: 0,
        ha_assets: 0,
        api: JsApi::default(),
        streams: 0,
        consumers: 0,
        messages: 0,
        bytes: 0,
    }
}

/// `LEAFZ` of a server without leafnode connections.
#[derive(Debug, Serialize)]
pub struct Leafz {
    server_id: String,
    now: GoTime,
    leafnodes: u64,
    leafs: Option<Vec<()>>,
}

/// `LEAFZ`: none.
pub fn leafz(server: &Server) -> Leafz {
    Leafz {
        server_id: server.id.clone(),
        now: GoTime::now(),
        leafnodes: 0,
        leafs: None,
    }
}

/// `GATEWAYZ` of a server without gateways.
#[derive(Debug, Serialize)]
pub struct Gatewayz {
    server_id: String,
    now: GoTime,
    outbound_gateways: serde_json::Map<String, serde_json::Value>,
    inbound_gateways: serde_json::Map<String, serde_json::Value>,
}

/// `GATEWAYZ`: none.
pub fn gatewayz(server: &Server) -> Gatewayz {
    Gatewayz {
        server_id: server.id.clone(),
        now: GoTime::now(),
        outbound_gateways: serde_json::Map::new(),
        inbound_gateways: serde_json::Map::new(),
    }
}
