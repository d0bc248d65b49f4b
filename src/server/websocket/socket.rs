//! A WebSocket connection's socket during the HTTP upgrade: plain TCP or
//! TLS (`wss://`, the core's handshake with its absolute deadline). Once
//! the upgrade is done, the TLS session goes to the connection core with
//! the socket (`transport.rs` there).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::server::tls;

/// Raw read buffer: one TLS record and then some.
pub const RAW_READ: usize = 17 * 1024;

/// The socket, with its TLS session when there is one.
pub struct WsSocket<'a> {
    stream: &'a TcpStream,
    tls: Option<Mutex<rustls::Connection>>,
    /// Plaintext that came with the end of the TLS handshake.
    early: Mutex<Vec<u8>>,
}

impl<'a> WsSocket<'a> {
    /// Use an accepted socket; with `tls`, finish the TLS handshake before
    /// `deadline`.
    ///
    /// # Errors
    ///
    /// The TLS handshake failed or timed out.
    pub fn open(
        stream: &'a TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
        deadline: Instant,
    ) -> Result<WsSocket<'a>, String> {
        let Some(config) = tls else {
            return Ok(WsSocket {
                stream,
                tls: None,
                early: Mutex::new(Vec::new()),
            });
        };
        let mut conn = match tls::handshake(stream, config, deadline) {
            Ok(c) => rustls::Connection::Server(c),
            Err(tls::HandshakeError::TlsRequired) => {
                let _ = stream.shutdown(Shutdown::Both);
                return Err("no TLS handshake in time".into());
            }
            Err(tls::HandshakeError::Failed(e)) => {
                let _ = stream.shutdown(Shutdown::Both);
                return Err(e);
            }
        };
        let mut early = Vec::new();
        let _ = tls::buffered_plaintext(&mut conn, &mut early);
        Ok(WsSocket {
            stream,
            tls: Some(Mutex::new(conn)),
            early: Mutex::new(early),
        })
    }

    /// True for `wss://`.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The TLS session, for the connection core (every plaintext byte it
    /// held has been read).
    pub fn into_tls(self) -> Option<rustls::Connection> {
        self.tls
            .map(|t| t.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    /// Read once and append the plaintext to `out`; false when the peer
    /// closed.
    ///
    /// # Errors
    ///
    /// The socket or the TLS session failed (a read timeout included).
    pub fn read(&self, raw: &mut [u8], out: &mut Vec<u8>) -> io::Result<bool> {
        {
            let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
            if !early.is_empty() {
                out.append(&mut early);
                return Ok(true);
            }
        }
        loop {
            let n = (&*self.stream).read(raw)?;
            if n == 0 {
                return Ok(false);
            }
            let Some(tls) = &self.tls else {
                out.extend_from_slice(&raw[..n]);
                return Ok(true);
            };
            let before = out.len();
            let d = {
                let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
                tls::decrypt(&mut conn, &raw[..n], out)?
            };
            if d.wants_write {
                self.write_all(&[])?;
            }
            if out.len() > before {
                return Ok(true);
            }
            if d.closed {
                return Ok(false);
            }
        }
    }

    /// Bound the next reads.
    pub fn set_read_timeout(&self, t: Option<Duration>) {
        let _ = self.stream.set_read_timeout(t);
    }

    /// Bound the next writes.
    pub fn set_write_timeout(&self, t: Option<Duration>) {
        let _ = self.stream.set_write_timeout(t);
    }

    /// Write all of `bytes` (encrypted with TLS). Callers serialise writes.
    ///
    /// # Errors
    ///
    /// The socket failed or the write timed out.
    pub fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match &self.tls {
            None => (&*self.stream).write_all(bytes),
            Some(tls) => {
                let mut wire = Vec::with_capacity(bytes.len() + 64);
                {
                    let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
                    tls::encrypt(&mut conn, bytes, &mut wire)?;
                }
                (&*self.stream).write_all(&wire)
            }
        }
    }

    /// Shut the socket down (ends a blocked read).
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
