//! Opening one connection to one server, the NATS way: TCP connect, read
//! INFO (always in the clear), upgrade to TLS when INFO says `tls_required`
//! (or the URL/flags ask for it), then CONNECT and, for a normal client, a
//! PING whose PONG proves the server accepted us.
//!
//! Everything here runs on the caller's thread under one absolute deadline,
//! the connect timeout from the first dial: every read and write gets only
//! the time left, so a server that drips bytes or sends a PING every second
//! cannot keep a client in the handshake. The reader thread takes over
//! afterwards ([`super::reader`]).

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection};

use super::error::{ClientError, ErrorKind, Result};
use super::link::{self, drain_plaintext, Link, ReadHalf, SharedLink};
use super::options::{Mode, Options, MAX_CONTROL_LINE, MAX_PAYLOAD_CAP, WRITE_TIMEOUT};
use super::tls::server_name;
use super::url::ServerUrl;
use crate::protocol::encode;
use crate::protocol::info::{Connect, ServerInfo};
use crate::protocol::parser::{parse_server_op, Limits, Parsed, ServerOp};
use crate::protocol::websocket;

/// nats-server's default max_payload, used until INFO says otherwise.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// A connection that finished its handshake, ready for a reader thread.
pub struct Established {
    /// The server it is connected to.
    pub url: ServerUrl,
    /// The server's INFO (the latest one seen during the handshake).
    pub info: ServerInfo,
    /// The write side, shared with the reader.
    pub link: SharedLink,
    /// The read side, for the reader thread.
    pub read: ReadHalf,
    /// Plaintext already received and not yet parsed.
    pub buf: Vec<u8>,
    /// The INFO line exactly as it arrived (shown by `cat`).
    pub greeting: Vec<u8>,
    /// Parser limits from the server's INFO.
    pub limits: Limits,
    /// Whether the link is encrypted.
    pub tls: bool,
}

/// The parser limits for a server whose INFO says `max_payload`.
pub fn limits_for(info: Option<&ServerInfo>) -> Limits {
    let max_payload = match info.map(|i| i.max_payload) {
        Some(n) if n > 0 => n.min(MAX_PAYLOAD_CAP),
        _ => DEFAULT_MAX_PAYLOAD,
    };
    Limits {
        max_control_line: MAX_CONTROL_LINE,
        max_payload,
    }
}

/// Connect to `url` and complete the handshake within `opts.connect_timeout`.
///
/// # Errors
///
/// Connection refused or timed out, a peer that is not a NATS server, a TLS
/// failure, or the server's `-ERR` (bad credentials).
pub fn establish(
    url: &ServerUrl,
    opts: &Options,
    tls_config: &Arc<ClientConfig>,
) -> Result<Established> {
    let deadline = Instant::now() + opts.connect_timeout;
    let tcp = connect_tcp(url, deadline)?;
    let _ = tcp.set_nodelay(true);
    set_timeouts(&tcp, deadline).map_err(|e| io_err(url, "setting up the socket", e))?;
    let read_tcp = tcp
        .try_clone()
        .map_err(|e| io_err(url, "setting up the socket", e))?;
    let mut link: SharedLink = Arc::new(Mutex::new(Link::new(tcp, None)));
    let mut read = ReadHalf::new(read_tcp, false);
    let mut buf = Vec::new();
    if url.websocket {
        if url.tls {
            (link, read) = start_tls(url, tls_config, deadline, &link, &mut buf)?;
        }
        websocket_upgrade(url, &link, &mut read, &mut buf)?;
    }

    if opts.tls.first && !url.websocket {
        // `--tlsfirst`: the handshake before the server's INFO, for servers
        // with `handshake_first`.
        (link, read) = start_tls(url, tls_config, deadline, &link, &mut buf)?;
    }
    let first = limits_for(None);
    let (op, greeting) = next_op(
        &mut read,
        &link,
        &mut buf,
        (&first, deadline),
        url,
        "waiting for INFO",
    )?;
    let HsOp::Info(json) = op else {
        return Err(protocol(
            url,
            format!("expected INFO first, got {}", snippet(&greeting)),
        ));
    };
    let mut info = parse_info(url, &json)?;

    let want_tls = url.tls || opts.tls.wanted();
    let tls = if url.websocket {
        url.tls
    } else {
        info.tls_required || want_tls
    };
    if !url.websocket && want_tls && !opts.tls.first && !info.tls_required && !info.tls_available {
        return Err(ClientError::new(
            ErrorKind::Tls,
            format!("{url} does not offer TLS (its INFO has no tls_required or tls_available)"),
        ));
    }
    if tls && !url.websocket && !opts.tls.first {
        // Nothing should have come after INFO before the upgrade.
        buf.clear();
        (link, read) = start_tls(url, tls_config, deadline, &link, &mut buf)?;
    }

    let limits = limits_for(Some(&info));
    let creds = opts.credentials_for(url);
    let signed = opts
        .sign_nonce(info.nonce.as_deref())
        .map_err(|e| ClientError::new(ErrorKind::Config, e))?;
    let has_creds = creds.user.is_some()
        || creds.token.is_some()
        || signed.jwt.is_some()
        || signed.nkey.is_some();
    let connect = match &opts.mode {
        Mode::Client => Some(Connect {
            verbose: Some(false),
            pedantic: Some(false),
            tls_required: Some(tls),
            auth_token: creds.token,
            user: creds.user,
            pass: creds.pass,
            name: opts.name.clone(),
            lang: Some("rust".into()),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            protocol: Some(1),
            echo: Some(true),
            headers: Some(info.headers),
            no_responders: Some(info.headers),
            nkey: signed.nkey,
            sig: signed.sig,
            jwt: signed.jwt,
        }),
        Mode::Raw {
            force_connect,
            verbose,
            ..
        } => (*force_connect || has_creds || info.auth_required).then(|| Connect {
            verbose: *verbose,
            auth_token: creds.token,
            user: creds.user,
            pass: creds.pass,
            nkey: signed.nkey,
            sig: signed.sig,
            jwt: signed.jwt,
            ..Default::default()
        }),
    };
    let mut out = Vec::new();
    if let Some(c) = &connect {
        let json = serde_json::to_vec(c).map_err(|e| protocol(url, e.to_string()))?;
        encode::json_op(&mut out, "CONNECT", &json);
    }
    if opts.mode == Mode::Client {
        out.extend_from_slice(encode::PING);
    }
    if !out.is_empty() {
        set_timeouts(read.socket(), deadline).map_err(|e| io_err(url, "sending CONNECT", e))?;
        link::lock(&link)
            .write_all(&out)
            .map_err(|e| io_err(url, "sending CONNECT", e))?;
    }
    if opts.mode == Mode::Client {
        loop {
            let (op, _) = next_op(
                &mut read,
                &link,
                &mut buf,
                (&limits, deadline),
                url,
                "waiting for the server to accept CONNECT",
            )?;
            match op {
                HsOp::Pong => break,
                HsOp::Info(json) => info = parse_info(url, &json)?,
                HsOp::Ping => link::lock(&link)
                    .write_all(encode::PONG)
                    .map_err(|e| io_err(url, "answering PING", e))?,
                HsOp::Err(text) => return Err(server_error(&text)),
                HsOp::Other => {}
            }
        }
    }
    read.socket()
        .set_read_timeout(None)
        .map_err(|e| io_err(url, "setting up the socket", e))?;
    let _ = read.socket().set_write_timeout(Some(WRITE_TIMEOUT));
    Ok(Established {
        url: url.clone(),
        info,
        link,
        read,
        buf,
        greeting,
        limits,
        tls,
    })
}

/// Start TLS on the link's socket (the plaintext that came with the end of
/// the handshake goes to `buf`); returns the new link and read side.
fn start_tls(
    url: &ServerUrl,
    tls_config: &Arc<ClientConfig>,
    deadline: Instant,
    link: &SharedLink,
    buf: &mut Vec<u8>,
) -> Result<(SharedLink, ReadHalf)> {
    let tcp = lock_tcp(link)?;
    let mut conn = ClientConnection::new(tls_config.clone(), server_name(&url.host)?)
        .map_err(|e| tls_failure(url, &e.to_string()))?;
    let mut sock = tcp
        .try_clone()
        .map_err(|e| io_err(url, "setting up TLS", e))?;
    while conn.is_handshaking() {
        set_timeouts(&sock, deadline).map_err(|e| io_err(url, "setting up TLS", e))?;
        if Instant::now() >= deadline {
            return Err(ClientError::new(
                ErrorKind::Timeout,
                format!("TLS handshake with {url} timed out"),
            ));
        }
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) => return Err(tls_failure(url, "connection closed during the handshake")),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                return Err(ClientError::new(
                    ErrorKind::Timeout,
                    format!("TLS handshake with {url} timed out"),
                ))
            }
            Err(e) => return Err(tls_failure(url, &e.to_string())),
        }
    }
    drain_plaintext(&mut conn, buf).map_err(|e| tls_failure(url, &e.to_string()))?;
    let read_tcp = tcp
        .try_clone()
        .map_err(|e| io_err(url, "setting up TLS", e))?;
    Ok((
        Arc::new(Mutex::new(Link::new(tcp, Some(Box::new(conn))))),
        ReadHalf::new(read_tcp, true),
    ))
}

/// The HTTP upgrade to WebSocket (RFC 6455): a GET with a random key, and
/// a `101` whose `Sec-WebSocket-Accept` matches it. The bytes after the
/// response head are the first frames.
fn websocket_upgrade(
    url: &ServerUrl,
    link: &SharedLink,
    read: &mut ReadHalf,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let mut rng = super::rand::Rng::new();
    let nonce: Vec<u8> = (0..2).flat_map(|_| rng.next_u64().to_le_bytes()).collect();
    let key = websocket::base64(&nonce);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        url.host_port()
    );
    link::lock(link)
        .write_raw(request.as_bytes())
        .map_err(|e| io_err(url, "sending the WebSocket upgrade", e))?;
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > 16 * 1024 {
            return Err(protocol(url, "WebSocket upgrade response too long".into()));
        }
        match read.read_into(link, buf) {
            Ok(true) => {}
            Ok(false) => {
                return Err(ClientError::new(
                    ErrorKind::Closed,
                    format!("{url} closed the connection during the WebSocket upgrade"),
                ))
            }
            Err(e) if is_timeout(&e) => {
                return Err(ClientError::new(
                    ErrorKind::Timeout,
                    format!("timed out waiting for the WebSocket upgrade from {url}"),
                ))
            }
            Err(e) => return Err(io_err(url, "reading the WebSocket upgrade", e)),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split("\r\n").next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        return Err(protocol(
            url,
            format!("the WebSocket upgrade was refused: {status}"),
        ));
    }
    if websocket::header_value(&head, "sec-websocket-accept") != Some(&websocket::accept_key(&key))
    {
        return Err(protocol(
            url,
            "bad Sec-WebSocket-Accept in the upgrade".into(),
        ));
    }
    let early = buf.split_off(end + 4);
    buf.clear();
    read.enable_websocket(early);
    link::lock(link).enable_websocket();
    Ok(())
}

/// The error for `-ERR '<text>'`, with a hint where one helps.
pub fn server_error(text: &str) -> ClientError {
    let hint = if text.contains("Authorization Violation") {
        " (check --user/--password, --token, --creds or --nkey, or the credentials in the URL)"
    } else {
        ""
    };
    ClientError::new(ErrorKind::Server, format!("server error: {text}{hint}"))
}

fn connect_tcp(url: &ServerUrl, deadline: Instant) -> Result<TcpStream> {
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| ClientError::new(ErrorKind::Connect, format!("could not resolve {url}: {e}")))?
        .collect();
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(ClientError::new(
        ErrorKind::Connect,
        match last {
            Some(e) => format!("could not connect to {url}: {e}"),
            None => format!("could not connect to {url}: timed out"),
        },
    ))
}

fn set_timeouts(tcp: &TcpStream, deadline: Instant) -> io::Result<()> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    tcp.set_read_timeout(Some(left))?;
    tcp.set_write_timeout(Some(left))
}

fn lock_tcp(link: &SharedLink) -> Result<TcpStream> {
    // Before TLS the link is plain; take a handle on its socket.
    let guard = link::lock(link);
    guard
        .socket()
        .try_clone()
        .map_err(|e| ClientError::new(ErrorKind::Connect, format!("setting up TLS: {e}")))
}

/// The ops the handshake cares about, owned.
enum HsOp {
    Info(Vec<u8>),
    Ping,
    Pong,
    Err(String),
    Other,
}

/// Read until one op is complete, before `deadline`; returns it and its
/// raw bytes.
fn next_op(
    read: &mut ReadHalf,
    link: &SharedLink,
    buf: &mut Vec<u8>,
    (limits, deadline): (&Limits, Instant),
    url: &ServerUrl,
    doing: &str,
) -> Result<(HsOp, Vec<u8>)> {
    let timed_out =
        || ClientError::new(ErrorKind::Timeout, format!("timed out {doing} from {url}"));
    loop {
        match parse_server_op(buf, limits) {
            Ok(Parsed::Op(op, n)) => {
                let owned = match op {
                    ServerOp::Info(j) => HsOp::Info(j.to_vec()),
                    ServerOp::Ping => HsOp::Ping,
                    ServerOp::Pong => HsOp::Pong,
                    ServerOp::Err(t) => HsOp::Err(String::from_utf8_lossy(t).into_owned()),
                    ServerOp::Ok | ServerOp::Msg { .. } => HsOp::Other,
                };
                let raw = buf.drain(..n).collect();
                return Ok((owned, raw));
            }
            Ok(Parsed::Incomplete(_)) => {}
            Err(e) => {
                return Err(protocol(
                    url,
                    format!("not a NATS server? it sent {} ({e})", snippet(buf)),
                ))
            }
        }
        if Instant::now() >= deadline {
            return Err(timed_out());
        }
        set_timeouts(read.socket(), deadline).map_err(|e| io_err(url, doing, e))?;
        match read.read_into(link, buf) {
            Ok(true) => {}
            Ok(false) => {
                return Err(ClientError::new(
                    ErrorKind::Closed,
                    format!("{url} closed the connection while {doing}"),
                ))
            }
            Err(e) if is_timeout(&e) => return Err(timed_out()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(tls_failure(url, &e.to_string()))
            }
            Err(e) => return Err(io_err(url, doing, e)),
        }
    }
}

fn parse_info(url: &ServerUrl, json: &[u8]) -> Result<ServerInfo> {
    serde_json::from_slice(json).map_err(|e| {
        protocol(
            url,
            format!("invalid INFO from the server ({e}): {}", snippet(json)),
        )
    })
}

/// Is this error a socket timeout?
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn io_err(url: &ServerUrl, doing: &str, e: io::Error) -> ClientError {
    ClientError::new(ErrorKind::Connect, format!("{url}: {doing}: {e}"))
}

fn protocol(url: &ServerUrl, msg: String) -> ClientError {
    ClientError::new(ErrorKind::Protocol, format!("{url}: {msg}"))
}

fn tls_failure(url: &ServerUrl, why: &str) -> ClientError {
    let hint = if why.contains("Certificate")
        || why.contains("certificate")
        || why.contains("UnknownIssuer")
    {
        if why.contains("CertificateRequired") || why.contains("BadCertificate") {
            " (the server wants a client certificate: --tlscert FILE --tlskey FILE)"
        } else {
            " (trust the server's CA with --tlscacert FILE, or skip verification with --tls-insecure)"
        }
    } else {
        ""
    };
    ClientError::new(
        ErrorKind::Tls,
        format!("TLS handshake with {url} failed: {why}{hint}"),
    )
}

/// The first bytes of `b`, quoted and escaped, for error messages.
pub fn snippet(b: &[u8]) -> String {
    const MAX: usize = 60;
    let cut = &b[..b.len().min(MAX)];
    let text = String::from_utf8_lossy(cut);
    let more = if b.len() > MAX { "..." } else { "" };
    format!("{:?}{more}", text.trim_end_matches(['\r', '\n']))
}
