//! Why a connection closed, with the texts `/connz` shows as `reason`
//! (nats-server's `ClosedState` in `server/client.go`, rendered in `server/monitor.go`).

use std::fmt;

/// The reason a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed it.
    ClientClosed,
    /// No CONNECT in time.
    AuthenticationTimeout,
    /// Bad credentials or an op before CONNECT.
    AuthenticationViolation,
    /// TLS handshake failed or timed out.
    TlsHandshakeError,
    /// Pending bytes passed max_pending.
    SlowConsumerPendingBytes,
    /// A write was stuck past write_deadline.
    SlowConsumerWriteDeadline,
    /// A write failed.
    WriteError,
    /// A read failed.
    ReadError,
    /// Malformed protocol.
    ParseError,
    /// Too many unanswered PINGs.
    StaleConnection,
    /// A protocol rule was broken (bad CONNECT, client -ERR).
    ProtocolViolation,
    /// CONNECT asked for an unknown protocol version.
    BadClientProtocolVersion,
    /// Over max_connections.
    MaxConnectionsExceeded,
    /// A message over max_payload.
    MaxPayloadExceeded,
    /// A control line over max_control_line.
    MaxControlLineExceeded,
    /// The server is shutting down.
    ServerShutdown,
    /// Credentials no longer valid after a reload.
    AuthenticationExpired,
    /// The account revoked the user's JWT (a reload or a pushed account JWT).
    Revocation,
    /// A second route to a server we have a route to, or a route to ourselves.
    DuplicateRoute,
    /// A route from a server of another cluster.
    ClusterNameConflict,
    /// A route from a server with our own name.
    DuplicateServerName,
    /// A client (or gateway) on the route port.
    WrongPort,
    /// A leaf older than the leafnodes block's `min_version`.
    MinimumVersionRequired,
    /// The server could not serve the connection: its handler panicked, or
    /// no thread could be started for it.
    InternalError,
}

impl CloseReason {
    /// A slow consumer (counted in `slow_consumers`).
    pub fn is_slow_consumer(self) -> bool {
        matches!(
            self,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        )
    }

    /// Closed because writing failed: nothing more can be written.
    pub fn is_write_problem(self) -> bool {
        self.is_slow_consumer() || self == CloseReason::WriteError
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::TlsHandshakeError => "TLS Handshake Failure",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::WriteError => "Write Error",
            CloseReason::ReadError => "Read Error",
            CloseReason::ParseError => "Parse Error",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::AuthenticationExpired => "Authentication Expired",
            CloseReason::Revocation => "Credentials Revoked",
            CloseReason::DuplicateRoute => "Duplicate Route",
            CloseReason::ClusterNameConflict => "Cluster Name Conflict",
            CloseReason::DuplicateServerName => "Duplicate Server Name",
            CloseReason::WrongPort => "Incorrect Port",
            CloseReason::MinimumVersionRequired => "Minimum Version Required",
            CloseReason::InternalError => "Internal Server Error",
        })
    }
}
