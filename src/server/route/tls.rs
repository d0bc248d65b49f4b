//! Route TLS (`cluster { tls { ... } }`): as nats-server, the handshake
//! starts right after the TCP connect, before any INFO (the solicitor is the
//! TLS client and presents the route certificate too, so a peer that
//! verifies can check it). The handshake is bounded as a whole by the TLS
//! timeout (`conn::tls`); after it the route runs on the same core as a
//! client connection: its own thread decrypts what it reads, its writer
//! thread encrypts what goes out.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, Connection, ServerConfig};

use crate::server::conn::tls::complete_handshake;
use crate::server::options::TlsOptions;

/// The TLS configurations routes use.
pub struct RouteTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    timeout: Duration,
    /// Peers must present a certificate we verify.
    pub verify: bool,
}

impl RouteTls {
    /// Load the route certificate, key and CA.
    ///
    /// # Errors
    ///
    /// Unreadable or invalid files.
    pub fn new(opts: &TlsOptions, insecure: bool) -> io::Result<RouteTls> {
        let server = crate::server::tls::server_config(opts)?;
        let client = crate::tls::client_config(&crate::tls::TlsOptions {
            required: true,
            ca_file: opts.ca_file.clone(),
            cert_file: Some(opts.cert_file.clone()),
            key_file: Some(opts.key_file.clone()),
            insecure,
            ..Default::default()
        })
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("route TLS: {e}")))?;
        Ok(RouteTls {
            server,
            client,
            timeout: opts.timeout,
            verify: opts.verify,
        })
    }

    /// Server side of the handshake on an accepted route.
    ///
    /// # Errors
    ///
    /// The handshake failed or did not finish within the TLS timeout.
    pub fn accept(&self, stream: &TcpStream) -> io::Result<Connection> {
        let deadline = Instant::now() + self.timeout;
        let mut conn =
            rustls::ServerConnection::new(self.server.clone()).map_err(io::Error::other)?;
        conn.set_buffer_limit(None);
        complete_handshake(&mut conn, stream, deadline)?;
        Ok(Connection::Server(conn))
    }

    /// Client side of the handshake on a dialled route to `host`.
    ///
    /// # Errors
    ///
    /// A host that cannot be a TLS name; the handshake failed or did not
    /// finish within the TLS timeout.
    pub fn connect(&self, stream: &TcpStream, host: &str) -> io::Result<Connection> {
        let deadline = Instant::now() + self.timeout;
        let name = crate::tls::server_name(host)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut conn =
            rustls::ClientConnection::new(self.client.clone(), name).map_err(io::Error::other)?;
        conn.set_buffer_limit(None);
        complete_handshake(&mut conn, stream, deadline)?;
        Ok(Connection::Client(conn))
    }
}
