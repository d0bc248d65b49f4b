//! The INFO and CONNECT JSON documents, with nats-server's field names and
//! order (`Info` in `server/server.go`, `ClientOpts` in `server/client.go`).

use serde::{Deserialize, Serialize};

/// For `skip_serializing_if`: leave a false flag out, as nats-server does.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// The INFO a server sends on connect (and again asynchronously). Optional
/// fields are left out when empty or false, as nats-server does.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerInfo {
    /// Server identity: a 56-character public nkey starting with `N`.
    pub server_id: String,
    /// Server name (the id unless configured).
    #[serde(default)]
    pub server_name: String,
    /// Server version.
    #[serde(default)]
    pub version: String,
    /// Protocol version (1).
    #[serde(default)]
    pub proto: i32,
    /// The commit the server was built from (left out when unknown, as a
    /// nats-server built outside git does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// The toolchain the server was built with: nats-server's Go version
    /// (`go1.19.8`); nats-lite's rustc (`rustc 1.95.0`). Always present:
    /// clients such as nats-core (Python) refuse an INFO without it.
    #[serde(default)]
    pub go: String,
    /// Host the client port is bound to.
    #[serde(default)]
    pub host: String,
    /// The client port.
    #[serde(default)]
    pub port: u16,
    /// Whether HPUB/HMSG are supported.
    #[serde(default)]
    pub headers: bool,
    /// Credentials must be sent in CONNECT.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// The socket must be upgraded to TLS after INFO.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// A client certificate is required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// TLS may be used but is not required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_available: bool,
    /// Largest payload the server accepts.
    #[serde(default)]
    pub max_payload: usize,
    /// JetStream is available.
    #[serde(default, skip_serializing_if = "is_false")]
    pub jetstream: bool,
    /// The connection's id on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<u64>,
    /// The client's address as the server sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// A fresh random string the client signs with its NKey (only when
    /// NKey or JWT auth is possible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Client URLs of the other servers of the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// Lame duck mode: the server is about to shut down.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ldm: bool,
}

/// The CONNECT options a client sends. Every field is optional: a missing
/// key keeps the server's default (see [`ClientOptions::apply`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Connect {
    /// Ask for `+OK` after each op.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbose: Option<bool>,
    /// Strict subject checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pedantic: Option<bool>,
    /// The client wants TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_required: Option<bool>,
    /// Token credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// User credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Client name (shown in monitoring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Client library language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Client library version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Protocol version the client speaks (0 or 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<i64>,
    /// Deliver the client's own messages to its own subscriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    /// The client understands HPUB/HMSG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<bool>,
    /// Answer requests that reach no subscriber with a 503 status message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_responders: Option<bool>,
    /// NKey credential: the user's public key (`U...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// The INFO's `nonce` signed with the user's NKey (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// JWT credential: the user's JWT (operator mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
}

/// The options in force for one client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// `+OK` after each op.
    pub verbose: bool,
    /// Strict subject checks on PUB.
    pub pedantic: bool,
    /// Own messages delivered to own subscriptions.
    pub echo: bool,
    /// HPUB/HMSG understood.
    pub headers: bool,
    /// No-responders status messages wanted.
    pub no_responders: bool,
    /// Protocol version.
    pub protocol: i64,
}

impl Default for ClientOptions {
    /// nats-server's defaults: verbose, pedantic and echo on, so that a raw
    /// session that sends `CONNECT {}` gets `+OK` after every op.
    fn default() -> Self {
        ClientOptions {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            protocol: 0,
        }
    }
}

impl ClientOptions {
    /// Apply the keys a CONNECT contains; the others keep their current values.
    pub fn apply(&mut self, c: &Connect) {
        self.verbose = c.verbose.unwrap_or(self.verbose);
        self.pedantic = c.pedantic.unwrap_or(self.pedantic);
        self.echo = c.echo.unwrap_or(self.echo);
        self.headers = c.headers.unwrap_or(self.headers);
        self.no_responders = c.no_responders.unwrap_or(self.no_responders);
        self.protocol = c.protocol.unwrap_or(self.protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_leaves_out_empty_fields_in_order() {
        let info = ServerInfo {
            server_id: "NABC".into(),
            server_name: "n".into(),
            version: "2.9.10".into(),
            proto: 1,
            go: "rustc 1.95.0".into(),
            host: "0.0.0.0".into(),
            port: 4222,
            headers: true,
            max_payload: 1048576,
            client_id: Some(3),
            client_ip: Some("127.0.0.1".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"server_id":"NABC","server_name":"n","version":"2.9.10","proto":1,"go":"rustc 1.95.0","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576,"client_id":3,"client_ip":"127.0.0.1"}"#
        );
    }

    #[test]
    fn connect_only_overrides_given_keys() {
        let mut o = ClientOptions::default();
        let c: Connect = serde_json::from_str(r#"{"verbose":false,"unknown":1}"#).unwrap();
        o.apply(&c);
        assert!(!o.verbose && o.pedantic && o.echo);
    }
}
