//! The NATS client protocol, with no sockets: bytes in, ops out, and ops
//! back to bytes. Shared by the server and the client subcommands, so the
//! wire format has one implementation.
//!
//! # The protocol in one page
//!
//! Every control line ends in `\r\n` (a bare `\n` is accepted). Op names are
//! case-insensitive; arguments are separated by runs of spaces or tabs.
//!
//! Client to server:
//!
//! ```text
//! CONNECT {json}
//! PUB <subject> [reply-to] <#bytes>\r\n<payload>\r\n
//! HPUB <subject> [reply-to] <#header bytes> <#total bytes>\r\n<headers><payload>\r\n
//! SUB <subject> [queue group] <sid>
//! UNSUB <sid> [max_msgs]
//! PING / PONG
//! ```
//!
//! Server to client:
//!
//! ```text
//! INFO {json}
//! MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n
//! HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>\r\n<headers><payload>\r\n
//! PING / PONG / +OK / -ERR '<text>'
//! ```
//!
//! A header block is `NATS/1.0[ <status>[ <description>]]\r\n(Name: Value\r\n)*\r\n`.
//!
//! # Modules
//!
//! - [`parser`]: the incremental parser. It never holds state of its own
//!   between calls: given the bytes buffered so far it returns one complete
//!   op and how many bytes it used, or says how many bytes it needs. The
//!   caller keeps the unused tail, so any split of the input across reads
//!   gives the same ops.
//! - [`encode`]: ops to bytes, appended to a caller's buffer.
//! - [`subject`]: subject validity and wildcard matching rules.
//! - [`info`]: the INFO and CONNECT JSON documents.
//! - [`headers`]: the `NATS/1.0` header block.
//! - [`route`]: the route protocol between cluster servers (RS+, RMSG...).
//! - [`trace`]: message tracing headers and trace events (nats-server 2.11+).

pub mod encode;
pub mod headers;
pub mod info;
pub mod parser;
pub mod route;
pub mod subject;
pub mod trace;
pub mod websocket;

pub use parser::{ClientOp, Limits, Parsed, ProtocolError, ServerOp};
