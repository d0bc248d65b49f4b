//! The `websocket { ... }` block (alias `ws`): where WebSocket clients
//! connect, with TLS or `no_tls`, origin checks, compression, the handshake
//! timeout and an authorization of its own, as nats-server's
//! `parseWebsocket` reads it. JWT cookies are refused: nats-lite has no JWT
//! authentication.

use std::time::Duration;

use super::auth::{parse_authorization, Authorization};
use super::duration::duration_from_value;
use super::error::{ConfError, Pos, Warning};
use super::tls::{parse_tls, TlsConfig};
use super::typed::{self, not_supported, unknown_field};
use super::value::Value;

/// A `websocket` block.
#[derive(Debug, Clone, PartialEq)]
pub struct WebsocketConfig {
    /// Listen address (`host`/`net`, or from `listen`).
    pub host: Option<String>,
    /// Port; `Some(0)` for any free port (nats-server's `-1`).
    pub port: Option<u16>,
    /// `host:port` advertised instead of the listen address.
    pub advertise: Option<String>,
    /// Plain `ws://` (no TLS); otherwise a `tls` block is required.
    pub no_tls: bool,
    /// TLS for `wss://`.
    pub tls: Option<TlsConfig>,
    /// Accept only an `Origin` equal to the request's `Host`.
    pub same_origin: bool,
    /// Origins accepted (`scheme://host[:port]`); empty: any.
    pub allowed_origins: Vec<String>,
    /// Offer permessage-deflate.
    pub compression: bool,
    /// Time to finish the HTTP upgrade (and TLS), from accept.
    pub handshake_timeout: Option<Duration>,
    /// Authorization for WebSocket clients only.
    pub authorization: Option<Authorization>,
    /// User for WebSocket clients that present no credentials.
    pub no_auth_user: Option<String>,
    /// Where the block starts.
    pub pos: Pos,
}

/// Parse a `websocket` block.
pub(crate) fn parse_websocket(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<WebsocketConfig, ConfError> {
    let map = typed::map(field, value)?;
    let mut w = WebsocketConfig {
        host: None,
        port: None,
        advertise: None,
        no_tls: false,
        tls: None,
        same_origin: false,
        allowed_origins: Vec::new(),
        compression: false,
        handshake_timeout: None,
        authorization: None,
        no_auth_user: None,
        pos: value.pos.clone(),
    };
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "listen" => (w.host, w.port) = typed::host_port(k, v)?,
            "port" => w.port = typed::port(k, v)?,
            "host" | "net" => w.host = Some(typed::string(k, v)?),
            "advertise" => w.advertise = Some(typed::string(k, v)?),
            "no_tls" => w.no_tls = typed::boolean(k, v)?,
            "tls" => w.tls = Some(parse_tls(k, v, warnings)?),
            "same_origin" => w.same_origin = typed::boolean(k, v)?,
            "allowed_origins" | "allowed_origin" | "allow_origins" | "allow_origin" | "origins"
            | "origin" => w.allowed_origins = typed::string_list(k, v)?,
            "compression" => w.compression = typed::boolean(k, v)?,
            "handshake_timeout" => w.handshake_timeout = Some(duration_from_value(k, v, warnings)?),
            "authorization" | "authentication" => {
                let auth = parse_authorization(k, v, warnings)?;
                if auth.default_permissions.is_some() {
                    return Err(ConfError::at(
                        &entry.key_pos,
                        "websocket authorization does not take default_permissions",
                    ));
                }
                w.authorization = Some(auth);
            }
            "no_auth_user" => w.no_auth_user = Some(typed::string(k, v)?),
            "jwt_cookie" | "username_cookie" | "password_cookie" | "token_cookie" => {
                return Err(not_supported(entry, "JWT and cookie authentication"))
            }
            _ => unknown_field(entry)?,
        }
    }
    if w.tls.is_none() && !w.no_tls {
        return Err(ConfError::at(
            &w.pos,
            "websocket requires TLS configuration (or no_tls: true)",
        ));
    }
    if let Some(a) = &w.authorization {
        if a.token.is_some() && (a.user.is_some() || a.users.is_some()) {
            return Err(ConfError::at(
                &a.pos,
                "websocket authorization: cannot have a token with users",
            ));
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(text: &str) -> Result<WebsocketConfig, String> {
        let map = crate::conf::parse_str(text, std::path::Path::new("a.conf"))
            .map_err(|e| e.to_string())?;
        let entry = map.entry("websocket").unwrap();
        parse_websocket(&entry.key, &entry.value, &mut Vec::new()).map_err(|e| e.to_string())
    }

    #[test]
    fn fields() {
        let w = ws(
            "websocket { listen: 127.0.0.1:-1, no_tls: true, same_origin: true, \
                    allowed_origins: [\"http://a\"], compression: true, handshake_timeout: \"3s\", \
                    authorization { user: u, password: p, timeout: 1 }, no_auth_user: u }",
        )
        .unwrap();
        assert_eq!(w.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(w.port, Some(0));
        assert!(w.no_tls && w.same_origin && w.compression);
        assert_eq!(w.allowed_origins, ["http://a"]);
        assert_eq!(w.handshake_timeout, Some(Duration::from_secs(3)));
        assert_eq!(w.authorization.unwrap().user.as_deref(), Some("u"));
    }

    #[test]
    fn refusals() {
        assert!(ws("websocket { port: 1 }")
            .unwrap_err()
            .contains("requires TLS"));
        assert!(ws("websocket { no_tls: true, jwt_cookie: x }")
            .unwrap_err()
            .contains("not supported"));
        assert!(ws("websocket { no_tls: true, bogus: 1 }").is_err());
    }
}
