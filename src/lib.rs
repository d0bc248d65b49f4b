//! nats-lite: a NATS-protocol broker and a client multitool in one binary.
//!
//! # Layout
//!
//! - [`protocol`]: the wire format, with no sockets: an incremental parser that
//!   works in place on a read buffer, the encoder, subject rules, INFO/CONNECT
//!   JSON. Shared by the server and the clients.
//! - [`server`]: the broker. One thread per client connection, a subject index
//!   per account, per-client outbound buffers flushed once per read batch.
//! - [`conf`]: the nats-server configuration file format (our own parser).
//! - [`bench`](mod@bench): load generation and measurement for `nats-lite bench`
//!   (drives [`client`] connections; prints nothing).
//! - [`commands`]: one module per subcommand; the only code that touches the
//!   terminal.
//! - [`cli`]: the clap definition and the dispatch to [`commands`].
//! - [`error`]: the CLI error type and exit codes.
//! - [`nkey`]: NKeys (Ed25519 identities), seeds and `.creds` files, shared by
//!   the server (verifying) and the clients (signing).
//! - [`civil`]: calendar arithmetic for time stamps; [`urlenc`]: URL user-info decoding;
//!   [`printable`]: text from the network escaped for terminals and logs.
//! - [`deadline`]: a socket bounded by one deadline for all its reads and
//!   writes, for the listeners that take a request (monitoring, leafnode
//!   INFO, the `watch-host` exporter).
//! - [`tls`]: the rustls client configuration the client and the server
//!   (dialling routes over TLS) share.
//!
//! Dependencies point one way: `commands` -> `server`, `client` -> `protocol`.

pub mod bench;
pub mod civil;
pub mod cli;
pub mod client;
pub mod commands;
pub mod conf;
pub mod deadline;
pub mod error;
pub mod nkey;
pub mod printable;
pub mod protocol;
pub mod server;
pub mod tls;
pub mod urlenc;
