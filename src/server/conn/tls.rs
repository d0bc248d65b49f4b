//! TLS handshakes bounded by an absolute deadline, for every listener that
//! speaks TLS (client port, route port, websocket `wss://`, HTTPS monitor)
//! and for dialled routes. Each socket read or write waits at most for what
//! is left of the deadline, so a peer that drips its handshake one byte at
//! a time is closed when `tls { timeout }` has passed since the handshake
//! began, not one timeout after its last byte.
//!
//! After the handshake every connection uses the same design: the session
//! is installed in the connection's shared half (`Client::set_tls`, or
//! `Client::set_websocket` inside WebSocket framing), the connection's own
//! thread decrypts what it reads (`inbound.rs`) and the writer thread
//! encrypts what goes out (`outbound.rs`, `transport.rs`). (The HTTPS
//! monitor, one request and one reply per connection, reads and writes
//! its session directly.)

use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rustls::ConnectionCommon;

/// What is left until `deadline`, or `TimedOut` once it has passed.
///
/// # Errors
///
/// The deadline has passed.
pub fn time_left(deadline: Instant) -> io::Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left.max(Duration::from_millis(1))),
        _ => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timeout",
        )),
    }
}

/// Run `conn`'s handshake on `stream` until it is complete (and the last
/// flight, session tickets included, is written), or until `deadline`.
/// The socket's timeouts are cleared afterwards.
///
/// # Errors
///
/// `TimedOut` at the deadline, `UnexpectedEof` when the peer closed, and
/// the TLS or socket error otherwise (a fatal alert is sent first when
/// rustls has one).
pub fn complete_handshake<D>(
    conn: &mut ConnectionCommon<D>,
    stream: &TcpStream,
    deadline: Instant,
) -> io::Result<()> {
    let result = drive(conn, stream, deadline);
    let _ = stream.set_read_timeout(None);
    let _ = stream.set_write_timeout(None);
    result
}

fn drive<D>(
    conn: &mut ConnectionCommon<D>,
    stream: &TcpStream,
    deadline: Instant,
) -> io::Result<()> {
    let mut io = stream;
    while conn.is_handshaking() || conn.wants_write() {
        let left = time_left(deadline)?;
        if conn.wants_write() {
            stream.set_write_timeout(Some(left))?;
            conn.write_tls(&mut io).map_err(timeout_kind)?;
            continue;
        }
        stream.set_read_timeout(Some(left))?;
        match conn.read_tls(&mut io) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the TLS handshake",
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(timeout_kind(e)),
        }
        if let Err(e) = conn.process_new_packets() {
            // Best effort: tell the peer why (the alert rustls queued).
            let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = conn.write_tls(&mut io);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
    Ok(())
}

/// A socket timeout (`WouldBlock` on unix, `TimedOut` on Windows) is the
/// handshake timing out.
fn timeout_kind(e: io::Error) -> io::Error {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timeout")
    } else {
        e
    }
}

/// True for the error [`complete_handshake`] returns at its deadline.
pub fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
}

/// How a client connection's TLS start ended.
pub enum TlsStart {
    /// `allow_non_tls` and the client stays in plain text.
    Plain,
    /// The handshake is done (to install with `Inbound::secure`);
    /// `send_info` says INFO is still to be sent (handshake first).
    Secure {
        /// The TLS session.
        session: Box<rustls::Connection>,
        /// INFO goes out now, encrypted.
        send_info: bool,
    },
}

/// The first byte of a TLS handshake record.
const TLS_RECORD: u8 = 0x16;

/// TLS on a client port, the NATS way: INFO (`info`) in plain text, then
/// the handshake, bounded as a whole by `tls.timeout`. With
/// `handshake_first` the handshake comes before INFO (when the client
/// starts TLS within the fallback time, if one is set); with
/// `allow_non_tls` a client that does not start TLS stays in plain text. A
/// client that speaks plain text or nothing in time where TLS is required
/// gets `-ERR 'Secure Connection - TLS Required'`. Never inlined: its
/// locals stay out of the frame an idle connection sleeps under.
#[inline(never)]
pub fn start_client_tls(
    stream: &TcpStream,
    client: &crate::server::client::Client,
    config: &std::sync::Arc<rustls::ServerConfig>,
    tls: &crate::server::options::TlsOptions,
    allow_non_tls: bool,
    info: &[u8],
) -> Result<TlsStart, crate::server::close::CloseReason> {
    use crate::server::close::CloseReason;
    use crate::server::tls as server_tls;
    use std::io::Write;
    let tls_first = match tls.handshake_first {
        Some(wait) if wait.is_zero() => true,
        Some(wait) => peek_first_byte(stream, Some(wait)) == Some(TLS_RECORD),
        None => false,
    };
    if !tls_first {
        let _ = stream.set_write_timeout(Some(tls.timeout));
        if (&*stream).write_all(info).is_err() {
            return Err(CloseReason::WriteError);
        }
        let _ = stream.set_write_timeout(None);
        if allow_non_tls {
            match peek_first_byte(stream, None) {
                Some(TLS_RECORD) => {}
                Some(_) => return Ok(TlsStart::Plain),
                None => return Err(CloseReason::ClientClosed),
            }
        }
    }
    match server_tls::handshake(stream, config, Instant::now() + tls.timeout) {
        Ok(conn) => {
            if !server_tls::pinned_cert_accepted(&conn, &tls.pinned_certs) {
                crate::debug!(
                    "{} - TLS client certificate not in pinned_certs",
                    client.log_prefix()
                );
                return Err(CloseReason::TlsHandshakeError);
            }
            Ok(TlsStart::Secure {
                session: Box::new(rustls::Connection::Server(conn)),
                send_info: tls_first,
            })
        }
        Err(e) => {
            if let server_tls::HandshakeError::Failed(why) = &e {
                crate::debug!("{} - TLS handshake error: {why}", client.log_prefix());
            } else {
                let mut line = Vec::new();
                crate::protocol::encode::err(&mut line, "Secure Connection - TLS Required");
                let _ = (&*stream).write_all(&line);
            }
            Err(CloseReason::TlsHandshakeError)
        }
    }
}

/// The first byte the peer sends, without consuming it; `None` on close,
/// error or (with `wait`) when nothing came in time.
fn peek_first_byte(stream: &TcpStream, wait: Option<Duration>) -> Option<u8> {
    let mut b = [0u8; 1];
    let _ = stream.set_read_timeout(wait);
    let r = stream.peek(&mut b);
    let _ = stream.set_read_timeout(None);
    match r {
        Ok(1) => Some(b[0]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::Arc;

    fn server_config() -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone()], der)
                .unwrap(),
        )
    }

    #[test]
    fn a_dripped_handshake_ends_at_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let dripper = std::thread::spawn(move || {
            // A TLS record header, one byte at a time, never a whole record.
            for b in [0x16u8, 0x03, 0x01, 0x02, 0x00] {
                if peer.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(120));
            }
        });
        let mut conn = rustls::ServerConnection::new(server_config()).unwrap();
        let started = Instant::now();
        let err = complete_handshake(&mut conn, &s, started + Duration::from_millis(300))
            .expect_err("a dripped handshake must time out");
        assert!(is_timeout(&err), "{err}");
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(450),
            "took {took:?}, the deadline was 300 ms"
        );
        drop(s);
        dripper.join().unwrap();
    }

    #[test]
    fn a_past_deadline_leaves_no_time() {
        assert!(time_left(Instant::now() - Duration::from_millis(1)).is_err());
        assert!(time_left(Instant::now() + Duration::from_secs(1)).unwrap() > Duration::ZERO);
    }
}
