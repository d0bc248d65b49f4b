//! The client's error type: a kind, for the exit code and for callers that
//! react differently (reconnect or give up), and a message that reads well
//! after `nats-lite: `.

use std::fmt;

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad options: a URL, a certificate file. Fixing the command line helps.
    Config,
    /// No server could be reached, or the connection was lost.
    Connect,
    /// The server closed the connection.
    Closed,
    /// The TLS handshake failed (certificate not trusted, no TLS offered).
    Tls,
    /// The server sent something that is not the NATS protocol.
    Protocol,
    /// The server sent `-ERR`.
    Server,
    /// Nothing arrived in time.
    Timeout,
    /// A request reached no subscriber (a `503` status reply).
    NoResponders,
    /// The process was interrupted (Ctrl-C).
    Interrupted,
}

/// A client failure with a message meant for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    kind: ErrorKind,
    message: String,
}

impl ClientError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ClientError {
        ClientError {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without any prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {}

/// Result alias of the client.
pub type Result<T> = std::result::Result<T, ClientError>;
