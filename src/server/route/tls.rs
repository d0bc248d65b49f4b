//! Route TLS (`cluster { tls { ... } }`): as nats-server, the handshake
//! starts right after the TCP connect, before any INFO (the solicitor is the
//! TLS client and presents the route certificate too, so a peer that
//! verifies can check it).
//!
//! After the handshake one thread per route pumps bytes between the TLS
//! socket and one end of a loopback socket pair, whose other end the route
//! connection reads and writes as if it were plain TCP. So the route code
//! and the shared outbound path (`Client`) know nothing of TLS; the price
//! is one extra thread and one extra copy per route, which the few
//! connections between servers can afford.

use std::io;
#[cfg(unix)]
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, Connection, ServerConfig};

use crate::server::options::TlsOptions;

/// Stack of a TLS pump thread.
const PUMP_STACK: usize = 128 * 1024;
/// Plaintext read at a time, and the most decrypted bytes held for the route.
#[cfg(unix)]
const CHUNK: usize = 64 * 1024;

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
        let client = crate::client::tls::client_config(&crate::client::tls::TlsOptions {
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

    /// Server side of the handshake on an accepted route; returns the
    /// plaintext end to use instead of `stream`.
    ///
    /// # Errors
    ///
    /// The handshake failed or timed out.
    pub fn accept(&self, stream: TcpStream) -> io::Result<TcpStream> {
        let mut conn =
            rustls::ServerConnection::new(self.server.clone()).map_err(io::Error::other)?;
        conn.set_buffer_limit(None);
        self.run(stream, Connection::Server(conn))
    }

    /// Client side of the handshake on a dialled route to `host`.
    ///
    /// # Errors
    ///
    /// A host that cannot be a TLS name; the handshake failed or timed out.
    pub fn connect(&self, stream: TcpStream, host: &str) -> io::Result<TcpStream> {
        let name = crate::client::tls::server_name(host)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let mut conn =
            rustls::ClientConnection::new(self.client.clone(), name).map_err(io::Error::other)?;
        conn.set_buffer_limit(None);
        self.run(stream, Connection::Client(conn))
    }

    fn run(&self, mut stream: TcpStream, mut conn: Connection) -> io::Result<TcpStream> {
        handshake(&mut stream, &mut conn, self.timeout)?;
        let (route_end, pump_end) = local_pair()?;
        std::thread::Builder::new()
            .name("route-tls".into())
            .stack_size(PUMP_STACK)
            .spawn(move || pump(stream, pump_end, conn))?;
        Ok(route_end)
    }
}

fn handshake(stream: &mut TcpStream, conn: &mut Connection, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    while conn.is_handshaking() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timeout"))?;
        let left = left.max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left))?;
        stream.set_write_timeout(Some(left))?;
        let (r, w) = conn.complete_io(stream)?;
        if r == 0 && w == 0 && conn.is_handshaking() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed during the TLS handshake",
            ));
        }
    }
    while conn.wants_write() {
        conn.write_tls(stream)?;
    }
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    Ok(())
}

/// A connected pair of loopback sockets (checked to be ours).
fn local_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let a = TcpStream::connect(listener.local_addr()?)?;
    let want: SocketAddr = a.local_addr()?;
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match listener.accept() {
            Ok((b, from)) if from == want => {
                b.set_nonblocking(false)?;
                let _ = a.set_nodelay(true);
                let _ = b.set_nodelay(true);
                return Ok((a, b));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "local socket pair"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Move bytes both ways until either side ends, then close both.
fn pump(mut tls: TcpStream, mut local: TcpStream, mut conn: Connection) {
    let _ = pump_until_closed(&mut tls, &mut local, &mut conn);
    conn.send_close_notify();
    let _ = tls.set_nonblocking(false);
    let _ = tls.set_write_timeout(Some(Duration::from_secs(1)));
    while conn.wants_write() {
        if conn.write_tls(&mut tls).is_err() {
            break;
        }
    }
    let _ = tls.shutdown(Shutdown::Both);
    let _ = local.shutdown(Shutdown::Both);
}

#[cfg(unix)]
fn pump_until_closed(
    tls: &mut TcpStream,
    local: &mut TcpStream,
    conn: &mut Connection,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    tls.set_nonblocking(true)?;
    local.set_nonblocking(true)?;
    let mut plain: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        // Write what is ready, as far as the sockets take it.
        while conn.wants_write() {
            match conn.write_tls(tls) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        while !plain.is_empty() {
            match local.write(&plain) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    plain.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let mut fds = [
            libc::pollfd {
                fd: tls.as_raw_fd(),
                events: 0,
                revents: 0,
            },
            libc::pollfd {
                fd: local.as_raw_fd(),
                events: 0,
                revents: 0,
            },
        ];
        // Back-pressure: read a side only while the other has room.
        if plain.len() < CHUNK {
            fds[0].events |= libc::POLLIN;
        }
        if conn.wants_write() {
            fds[0].events |= libc::POLLOUT;
        } else {
            fds[1].events |= libc::POLLIN;
        }
        if !plain.is_empty() {
            fds[1].events |= libc::POLLOUT;
        }
        // SAFETY: `fds` is a live array of two pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let hangup = libc::POLLHUP | libc::POLLERR;
        if fds[0].revents & (libc::POLLIN | hangup) != 0 && plain.len() < CHUNK {
            match conn.read_tls(tls) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    let state = conn.process_new_packets().map_err(io::Error::other)?;
                    if state.plaintext_bytes_to_read() > 0 {
                        let mut r = conn.reader();
                        loop {
                            match r.read(&mut chunk) {
                                Ok(0) => break,
                                Ok(n) => plain.extend_from_slice(&chunk[..n]),
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    if state.peer_has_closed() && plain.is_empty() {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if fds[1].revents & (libc::POLLIN | hangup) != 0 && !conn.wants_write() {
            match local.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => conn.writer().write_all(&chunk[..n])?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(not(unix))]
fn pump_until_closed(
    _tls: &mut TcpStream,
    _local: &mut TcpStream,
    _conn: &mut Connection,
) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "route TLS needs unix",
    ))
}
