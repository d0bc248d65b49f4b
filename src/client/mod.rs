//! The blocking NATS client used by the client subcommands (`pub`, `sub`,
//! `req`, `reply`, `ping`, `cat`). It speaks the wire format through
//! [`crate::protocol`] only, and never prints: the commands decide what the
//! user sees.
//!
//! # Modules
//!
//! - [`url`]: server URLs and lists of them.
//! - [`options`]: what a connection is made from (servers, credentials, TLS,
//!   timeouts, reconnect, client or raw mode).
//! - [`context`]: `nats` CLI contexts (`~/.config/nats/context/NAME.json`).
//! - [`tls`]: the rustls configuration.
//! - [`link`]: the socket split for a blocking reader and locked writers
//!   (why: rustls is not full duplex).
//! - [`handshake`]: INFO, TLS upgrade, CONNECT, first PING/PONG.
//! - [`reader`]: the reader thread: parse, answer PINGs, hand items over.
//! - [`connection`]: [`Connection`], the API the commands use.
//! - [`message`]: a received message.
//! - [`template`]: `{{Count}}`-style body templates.
//! - [`rand`]: a small random generator (inboxes, ids, server order).
//! - [`error`]: [`ClientError`] and its kinds.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use nats_lite::client::{Connection, Options};
//!
//! let mut conn = Connection::connect(Options::default())?;
//! conn.publish("greet", None, None, b"hello")?;
//! conn.flush(Duration::from_secs(5))?; // the server has it
//! # Ok::<(), nats_lite::client::ClientError>(())
//! ```

pub mod backlog;
pub mod connection;
pub mod context;
pub mod error;
pub mod handshake;
pub mod link;
pub mod message;
pub mod options;
pub mod rand;
pub mod reader;
pub mod template;
pub mod tls;
pub mod url;

pub use connection::{Connection, Incoming, Interrupter, RawWriter, Waker};
pub use error::{ClientError, ErrorKind};
pub use message::Message;
pub use options::{Mode, Options};
pub use url::ServerUrl;
