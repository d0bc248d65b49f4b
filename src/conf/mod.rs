//! The nats-server configuration file format: our own parser, and the typed
//! options a server reads from it.
//!
//! Two layers:
//!
//! 1. [`parse_file`] / [`parse_str`] read the format into a [`Map`] of
//!    [`Value`]s, each with its [`Pos`] (file, line, column). This layer
//!    handles syntax, variables and includes and knows no option names.
//!    See [`parser`] for the format.
//! 2. [`ServerConfig::from_value`] reads the options out of that map,
//!    checks them as nats-server does, and returns what the file sets plus
//!    [`Warning`]s for what nats-lite ignores.
//!
//! ```
//! use std::path::Path;
//! use nats_lite::conf::{parse_str, ServerConfig};
//!
//! let map = parse_str("listen: 127.0.0.1:4222\nmax_payload: 1MB", Path::new("x.conf")).unwrap();
//! let (config, warnings) = ServerConfig::from_value(&map).unwrap();
//! assert_eq!(config.port, Some(4222));
//! assert_eq!(config.max_payload, Some(1024 * 1024));
//! assert!(warnings.is_empty());
//! ```
//!
//! Every error reads `file.conf:line:col: message`. Nothing here panics on
//! any input; nesting and includes are bounded.

mod auth;
mod cluster;
mod duration;
mod error;
mod exports;
mod http_auth;
mod leafnodes;
mod lexer;
mod operator;
pub mod parser;
pub mod rules;
mod server_config;
mod tls;
mod typed;
mod value;
mod websocket;

#[cfg(test)]
mod seed_tests;

use std::path::Path;

pub use auth::{
    is_bcrypt, Account, Authorization, Permissions, ResponsePermission, SubjectPermission, User,
    DEFAULT_ALLOW_RESPONSE_EXPIRATION, DEFAULT_ALLOW_RESPONSE_MAX_MSGS,
};
pub use cluster::{ClusterAuthorization, ClusterConfig, RouteUrl};

/// Parse a route URL given on the command line (`--routes`, `--cluster`).
///
/// # Errors
///
/// Not `scheme://[user[:pass]@]host[:port]`.
pub fn parse_route_url_flag(url: &str) -> Result<RouteUrl, String> {
    let pos = Pos::new(std::sync::Arc::from(Path::new("command line")), 0, 0);
    cluster::parse_route_url(url, &pos).map_err(|e| e.message)
}
pub use duration::{duration_from_value, parse_duration, seconds_from_value};
pub use error::{ConfError, Pos, Warning};
pub use exports::{covers, Export, Import};
pub use http_auth::HttpAuth;
pub use leafnodes::{LeafnodesConfig, RemoteConfig};
pub use operator::OperatorConfig;
pub use parser::{parse_file, parse_str, MAX_INCLUDE_DEPTH, MAX_NESTING};
pub use server_config::ServerConfig;
pub use tls::{TlsConfig, TlsVersion, DEFAULT_HANDSHAKE_FIRST_FALLBACK};
pub use value::{Entry, Map, MapIter, Value, ValueKind};
pub use websocket::WebsocketConfig;

/// Parse the configuration file at `path` and read its server options:
/// [`parse_file`] then [`ServerConfig::from_value`].
///
/// # Errors
///
/// The first syntax or option error, with its position.
pub fn load_server_config(
    path: impl AsRef<Path>,
) -> Result<(ServerConfig, Vec<Warning>), ConfError> {
    ServerConfig::from_value(&parse_file(path)?)
}
