//! The `websocket` block of `/varz`, with nats-server 2.9's field names
//! (`WebsocketOptsVarz`): every field left out when empty, durations in
//! nanoseconds, the auth timeout in float seconds.

use serde::Serialize;

use crate::server::Server;

/// `/varz` `websocket`; an empty object without a WebSocket listener.
#[derive(Debug, Default, Serialize)]
pub struct WebsocketVarz {
    /// Listen host.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Bound port.
    #[serde(skip_serializing_if = "is_zero")]
    pub port: u16,
    /// Advertised `host:port`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub advertise: String,
    /// `no_auth_user` of the block.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub no_auth_user: String,
    /// Configured handshake timeout (ns).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub handshake_timeout: u64,
    /// The block's authorization timeout (s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_timeout: Option<f64>,
    /// `ws://` only.
    #[serde(skip_serializing_if = "is_false")]
    pub no_tls: bool,
    /// `verify_and_map` in the block's TLS.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_map: bool,
    /// Pinned client keys of the block's TLS.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_pinned_certs: Vec<String>,
    /// `same_origin`.
    #[serde(skip_serializing_if = "is_false")]
    pub same_origin: bool,
    /// `allowed_origins`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// `compression`.
    #[serde(skip_serializing_if = "is_false")]
    pub compression: bool,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The block for `server`.
pub fn varz(server: &Server) -> WebsocketVarz {
    let opts = server.opts();
    let Some(w) = &opts.websocket else {
        return WebsocketVarz::default();
    };
    WebsocketVarz {
        host: w.host.clone(),
        port: server.websocket_addr.get().map_or(w.port, |a| a.port()),
        advertise: w.advertise.clone().unwrap_or_default(),
        no_auth_user: w.no_auth_user.clone().unwrap_or_default(),
        handshake_timeout: if w.handshake_timeout_set {
            w.handshake_timeout.as_nanos() as u64
        } else {
            0
        },
        auth_timeout: w.auth_timeout.map(|t| t.as_secs_f64()),
        no_tls: w.tls.is_none(),
        tls_map: w.tls.as_ref().is_some_and(|t| t.verify_and_map),
        tls_pinned_certs: w
            .tls
            .as_ref()
            .map(|t| t.pinned_certs.clone())
            .unwrap_or_default(),
        same_origin: w.same_origin,
        allowed_origins: w.allowed_origins.clone(),
        compression: w.compression,
    }
}
