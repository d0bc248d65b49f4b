//! HTTP monitoring (`-m/--http_port`, or `--https_port` with the server's
//! TLS certificate): the endpoints of nats-server's
//! `server/monitor.go`, with its field names and encodings, so that
//! nats-top, prometheus-nats-exporter and curl scripts read nats-lite as
//! they read nats-server.
//!
//! - `http.rs`: a small HTTP/1.1 responder (GET/HEAD, bounded, no keep-alive);
//! - `varz.rs`, `connz.rs`, `subsz.rs`, `leafz.rs`, `misc.rs` (routez, healthz,
//!   accountz, the index): one endpoint each, building a serialisable reply
//!   from the server's state;
//! - `metrics.rs`: `/metrics`, Prometheus and OpenMetrics exposition of
//!   the same figures under prometheus-nats-exporter's names, plus
//!   `observe.rs`'s per-message histograms (per-thread counts);
//! - `access.rs`: the credentials `http_auth` requires (token, users,
//!   bcrypt), checked before any endpoint answers;
//! - `dashboard.rs`: the live dashboard at `/` (the index moved to `/index`);
//! - `closed.rs`: the ring of recently closed connections;
//! - `format.rs`: Go's spellings of times and durations;
//! - `process.rs`: memory and CPU of the process.
//!
//! # Threads and limits
//!
//! The monitor has its own accept thread and one short-lived thread per
//! HTTP connection (small stack), so a slow monitoring client never
//! touches the broker's threads. A thread-per-connection monitor could be
//! exhausted by a slowloris, which a goroutine-per-connection nats-server
//! shrugs off (reliability case M01/section 1 item 8), so each request head
//! must arrive within [`REQUEST_TIMEOUT`], the whole request (TLS
//! handshake, head, reply write) must end within [`REQUEST_DEADLINE`] (a
//! TLS handshake within the server's TLS timeout: the connection core's
//! handshake, `conn/tls.rs`), absolute deadlines that trickling bytes do
//! not extend (`deadline.rs` for the request and reply). `slots.rs` caps the
//! connections: [`MAX_MONITOR_CONNECTIONS`] at once, [`MAX_PER_IP`] from
//! one address, then a few [`HEALTH_SLOTS`] that answer only `/healthz`
//! within [`HEALTH_DEADLINE`]; past those, new connections get `503`.
//!
//! Counters are read on demand from the relaxed atomics the broker keeps
//! anyway: monitoring adds no work to the message path.

pub mod access;
mod closed;
pub mod connz;
pub mod dashboard;
pub mod format;
pub mod http;
pub mod leafz;
pub mod metrics;
pub mod misc;
pub mod observe;
mod process;
mod slots;
pub mod subsz;
pub mod varz;

pub use closed::ClosedRing;
pub use slots::{HEALTH_SLOTS, MAX_MONITOR_CONNECTIONS, MAX_PER_IP};

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;

use self::http::{ApiError, ReadError, Request, Response};
use self::slots::{SlotKind, Slots};
use super::deadline::DeadlineStream;
use super::net::display_addr;
use super::Server;
use crate::{log_error, notice};

/// Time allowed for a whole request head to arrive.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole request, from accept to the last byte of the
/// reply written.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Time allowed for a whole request in a health slot.
pub const HEALTH_DEADLINE: Duration = Duration::from_secs(1);
/// Stack of a monitoring connection's thread: JSON building is shallow.
const MONITOR_STACK: usize = 256 * 1024;
/// How long a closing connection's leftover input is drained.
const LINGER: Duration = Duration::from_millis(500);
/// How much leftover input is drained at most.
const LINGER_MAX_BYTES: usize = 64 * 1024;
/// Backoff after a failed accept (file descriptors exhausted, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Paths counted in `http_req_stats`, as nats-server names them.
const COUNTED: &[&str] = &[
    "/",
    "/varz",
    "/connz",
    "/routez",
    "/leafz",
    "/subsz",
    "/healthz",
    "/accountz",
];

/// The monitor's own state, shared by its threads.
pub struct Monitor {
    server: Weak<Server>,
    /// The host the monitor is bound to, as configured.
    pub host: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// Serving HTTPS with this configuration.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Wrap replies in `?callback=` (JSONP) when set.
    jsonp: bool,
    req_stats: Mutex<BTreeMap<&'static str, u64>>,
    /// CPU share between `/varz` requests.
    pub cpu: process::CpuSampler,
    /// Time allowed for a TLS handshake (the server's `tls { timeout }`).
    tls_timeout: Duration,
    slots: Arc<Slots>,
    /// bcrypt checks of `http_auth` credentials that succeeded.
    verified: access::Verified,
}

impl Monitor {
    /// The HTTP port for `/varz` (0 when serving HTTPS).
    pub fn http_port(&self) -> u16 {
        if self.tls.is_some() {
            0
        } else {
            self.addr.port()
        }
    }

    /// The HTTPS port for `/varz` (0 when serving plain HTTP).
    pub fn https_port(&self) -> u16 {
        if self.tls.is_some() {
            self.addr.port()
        } else {
            0
        }
    }

    /// Requests per endpoint so far.
    pub fn req_stats(&self) -> BTreeMap<&'static str, u64> {
        self.req_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn count(&self, path: &str) {
        let Some(key) = COUNTED.iter().find(|p| **p == path) else {
            return;
        };
        *self
            .req_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(0) += 1;
    }
}

impl Monitor {
    /// A monitor with no listener, for the system account's VARZ when no
    /// HTTP port is configured (ports 0, no requests counted).
    pub fn detached(server: &Arc<Server>) -> Monitor {
        let opts = server.opts();
        Monitor {
            server: Arc::downgrade(server),
            host: opts.http_host.clone().unwrap_or_else(|| opts.host.clone()),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            tls: None,
            jsonp: false,
            req_stats: Mutex::new(BTreeMap::new()),
            cpu: process::CpuSampler::new(),
            tls_timeout: super::TLS_TIMEOUT,
            slots: Arc::new(Slots::default()),
            verified: access::Verified::default(),
        }
    }
}

/// Where the monitor listens, once started.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    /// The bound address.
    pub addr: SocketAddr,
    /// Serving HTTPS.
    pub secure: bool,
}

/// Bind the monitoring port (`http_port`, or `https_port` with the
/// server's TLS certificate), log `Starting http[s] monitor on HOST:PORT`
/// and serve on a thread of its own. `None` when monitoring is off.
///
/// # Errors
///
/// Both ports set, HTTPS without TLS, the port cannot be bound, or the
/// thread not started.
pub fn start(server: &Arc<Server>) -> io::Result<Option<Started>> {
    let opts = server.opts();
    let (port, secure) = match (opts.http_port, opts.https_port) {
        (None, None) => return Ok(None),
        (Some(h), Some(s)) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("can't specify both HTTP ({h}) and HTTPs ({s}) ports"),
            ))
        }
        (Some(p), None) => (p, false),
        (None, Some(p)) => (p, true),
    };
    let tls = if secure {
        let Some(tls) = &opts.tls else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS cert and key required for HTTPS monitoring",
            ));
        };
        // The server's certificate, without asking for client certificates
        // (nats-server's getMonitoringTLSConfig).
        let mut no_client_auth = tls.clone();
        no_client_auth.verify = false;
        no_client_auth.verify_and_map = false;
        Some(super::tls::server_config(&no_client_auth)?)
    } else {
        None
    };
    let host = opts.http_host.clone().unwrap_or_else(|| opts.host.clone());
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let (listener, addr) = super::net::listen_tcp(bare, port).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "can't listen to the monitor port {}: {e}",
                display_addr(bare, port)
            ),
        )
    })?;
    let scheme = if secure { "https" } else { "http" };
    let _ = server
        .routes
        .monitor
        .set(super::route::discovery::MonitorListener {
            scheme,
            host: bare.to_string(),
            port: addr.port(),
        });
    notice!(
        "Starting {scheme} monitor on {}",
        display_addr(bare, addr.port())
    );
    let monitor = Arc::new(Monitor {
        server: Arc::downgrade(server),
        host: bare.to_string(),
        addr,
        tls,
        jsonp: opts.http_jsonp,
        req_stats: Mutex::new(BTreeMap::new()),
        cpu: process::CpuSampler::new(),
        tls_timeout: opts.tls.as_ref().map_or(super::TLS_TIMEOUT, |t| t.timeout),
        slots: Arc::new(Slots::default()),
        verified: access::Verified::default(),
    });
    server.system.set_monitor(&monitor);
    std::thread::Builder::new()
        .name("monitor".into())
        .stack_size(MONITOR_STACK)
        .spawn(move || accept_loop(&monitor, &listener))?;
    Ok(Some(Started { addr, secure }))
}

fn accept_loop(monitor: &Arc<Monitor>, listener: &TcpListener) {
    let mut refused = Refused::default();
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if monitor.server.strong_count() == 0 {
                    return;
                }
                log_error!("Monitoring accept error ({e})");
                std::thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        if monitor.server.strong_count() == 0 {
            return;
        }
        refused.expire(Instant::now());
        let Some(slot) = monitor.slots.acquire(peer.ip()) else {
            refused.refuse(stream);
            continue;
        };
        let m = monitor.clone();
        let spawned = std::thread::Builder::new()
            .name("monitor-conn".into())
            .stack_size(MONITOR_STACK)
            .spawn(move || {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    serve(&m, stream, slot.kind);
                }));
                drop(slot);
            });
        if spawned.is_err() {
            std::thread::sleep(ACCEPT_BACKOFF);
        }
    }
}

/// Connections refused for being over the limit, kept open for a moment
/// after their 503 so that the client reads the reply before the socket
/// closes (closing at once, with their request unread, would reset the
/// connection and could lose the reply). Bounded in number and time; no
/// thread is spent on them.
#[derive(Default)]
struct Refused {
    held: std::collections::VecDeque<(Instant, TcpStream)>,
}

impl Refused {
    /// Answer 503 (the few bytes fit any fresh socket buffer, so this does
    /// not block the accept thread), end our side, and hold the socket.
    fn refuse(&mut self, mut stream: TcpStream) {
        let now = Instant::now();
        self.expire(now);
        if self.held.len() >= MAX_MONITOR_CONNECTIONS {
            self.held.pop_front();
        }
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let _ =
            Response::text(503, "too many monitoring connections\n").write_to(&mut stream, false);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        self.held.push_back((now, stream));
    }

    /// Close the sockets held longer than [`LINGER`].
    fn expire(&mut self, now: Instant) {
        while self
            .held
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > LINGER)
        {
            self.held.pop_front();
        }
    }
}

/// Serve one HTTP(S) connection: one request, one reply, everything
/// (TLS handshake included) within the slot's absolute deadline.
fn serve(monitor: &Monitor, stream: TcpStream, kind: SlotKind) {
    let Ok(socket) = stream.try_clone() else {
        return;
    };
    let start = Instant::now();
    let end = start
        + match kind {
            SlotKind::Ordinary => REQUEST_DEADLINE,
            SlotKind::Health => HEALTH_DEADLINE,
        };
    let mut io = DeadlineStream::new(stream, end);
    let written = match &monitor.tls {
        None => exchange(monitor, &mut io, start, end, kind),
        Some(config) => {
            let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            // The core's handshake, bounded by the TLS timeout as on every port.
            let deadline = end.min(start + monitor.tls_timeout);
            if super::conn::tls::complete_handshake(&mut conn, &socket, deadline).is_err() {
                linger_close(&socket);
                return;
            }
            let mut tls = rustls::StreamOwned::new(conn, io);
            let written = exchange(monitor, &mut tls, start, end, kind);
            tls.conn.send_close_notify();
            written && tls.flush().is_ok()
        }
    };
    if written {
        linger_close(&socket);
    } else {
        abort(&socket);
    }
}

/// Close at once, dropping whatever the kernel still holds to send: a
/// reply cut at its deadline must not go on trickling out of the socket
/// buffer (up to megabytes) to the slow reader. A reset on unix
/// (`SO_LINGER` 0); elsewhere a plain close.
fn abort(socket: &TcpStream) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on a descriptor we own, with its size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(unix))]
    let _ = socket;
}

/// A stream whose absolute deadline can be moved.
trait Deadlined: io::Read + io::Write {
    fn set_deadline(&mut self, at: Instant);
}

impl Deadlined for DeadlineStream {
    fn set_deadline(&mut self, at: Instant) {
        self.deadline = at;
    }
}

impl Deadlined for rustls::StreamOwned<rustls::ServerConnection, DeadlineStream> {
    fn set_deadline(&mut self, at: Instant) {
        self.sock.deadline = at;
    }
}

/// Close gracefully: end our side, then read and drop what the client
/// still sends (a head past the size limit, a body) until it closes, for at
/// most [`LINGER`]. Closing with unread bytes makes the kernel send a
/// reset, which can destroy the reply before the client reads it.
fn linger_close(socket: &TcpStream) {
    let _ = socket.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_MAX_BYTES {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match io::Read::read(&mut &*socket, &mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    let _ = socket.shutdown(std::net::Shutdown::Both);
}

/// Read a request from `stream` (its head by [`REQUEST_TIMEOUT`]) and
/// write the reply, all by `end`. A health slot answers only `/healthz`.
/// False when the reply could not be written whole in time.
fn exchange(
    monitor: &Monitor,
    stream: &mut impl Deadlined,
    start: Instant,
    end: Instant,
    kind: SlotKind,
) -> bool {
    let head_deadline = end.min(start + REQUEST_TIMEOUT);
    stream.set_deadline(head_deadline);
    let (response, head_only) = match http::read_request(stream, head_deadline) {
        Ok(req) if kind == SlotKind::Health && req.path != "/healthz" => (
            Response::text(503, "too many monitoring connections\n"),
            false,
        ),
        Ok(req) => {
            let head_only = req.method == "HEAD";
            (route(monitor, &req), head_only)
        }
        Err(ReadError::TooLarge) => (
            Response::text(431, "request header fields too large\n"),
            false,
        ),
        Err(ReadError::Malformed) => (Response::text(400, "400 Bad Request\n"), false),
        Err(ReadError::Gone) => return false,
    };
    stream.set_deadline(end);
    response.write_to(stream, head_only).is_ok()
}

/// Answer one request.
pub fn route(monitor: &Monitor, req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        let mut r = Response::text(405, "method not allowed\n");
        r.headers.push("Allow: GET, HEAD".into());
        return r;
    }
    let Some(server) = monitor.server.upgrade() else {
        return Response::text(503, "server is shutting down\n");
    };
    if let Some(auth) = &server.opts().http_auth {
        if !access::allowed(auth, &monitor.verified, req) {
            return access::refusal();
        }
    }
    let path = match req.path.as_str() {
        "/subscriptionsz" => "/subsz",
        p => p,
    };
    monitor.count(path);
    let q = &req.query;
    let reply: Result<Vec<u8>, ApiError> = match path {
        "/" => return Response::html(dashboard::render(&server, monitor)),
        "/index" => return Response::html(misc::index_html()),
        "/metrics" => {
            let open = metrics::wants_openmetrics(req.header("accept"));
            let mut r = Response::text(200, metrics::render(&server, monitor, open));
            r.content_type = if open {
                metrics::OPENMETRICS
            } else {
                metrics::TEXT
            };
            return r;
        }
        "/varz" => Ok(pretty(&varz::varz(&server, monitor))),
        "/connz" => connz::ConnzOptions::from_query(q)
            .map(|o| pretty(&connz::connz(&server, server.closed.snapshot(), &o))),
        "/routez" => misc::routez(&server, q).map(|r| pretty(&r)),
        "/leafz" => leafz::leafz(&server, q).map(|l| pretty(&l)),
        "/subsz" => subsz::SubszOptions::from_query(q).map(|o| pretty(&subsz::subsz(&server, &o))),
        "/healthz" => misc::healthz(q).map(|h| serde_json::to_vec(&h).unwrap_or_default()),
        "/accountz" => misc::accountz(&server, q).map(|a| pretty(&a)),
        _ => return Response::text(404, "404 page not found\n"),
    };
    match reply {
        Ok(body) => json_or_jsonp(monitor.jsonp, q.get("callback"), body),
        Err(ApiError(text)) => Response::text(400, text),
    }
}

/// JSON, or `callback(JSON)` as JavaScript when JSONP is enabled and the
/// callback is a plain identifier (anything else could inject script).
fn json_or_jsonp(enabled: bool, callback: Option<&str>, body: Vec<u8>) -> Response {
    match callback.filter(|c| enabled && !c.is_empty()) {
        None => Response::json(body),
        Some(cb) if is_js_identifier(cb) => {
            let mut out = Vec::with_capacity(body.len() + cb.len() + 2);
            out.extend_from_slice(cb.as_bytes());
            out.push(b'(');
            out.extend_from_slice(&body);
            out.push(b')');
            let mut r = Response::json(out);
            r.content_type = "application/javascript";
            r
        }
        Some(_) => Response::text(400, "invalid callback name\n"),
    }
}

fn is_js_identifier(s: &str) -> bool {
    s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'))
}

/// Every account, sorted by name (a snapshot: a reload may add more).
fn accounts(server: &Server) -> Vec<Arc<super::account::Account>> {
    let mut all: Vec<_> = server
        .accounts
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Two-space indented JSON, as Go's `json.MarshalIndent(v, "", "  ")`.
fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonp_only_when_enabled_and_safe() {
        let r = json_or_jsonp(false, Some("cb"), b"{}".to_vec());
        assert_eq!(
            (r.content_type, r.body.as_slice()),
            ("application/json", &b"{}"[..])
        );
        let r = json_or_jsonp(true, Some("cb"), b"{}".to_vec());
        assert_eq!(
            (r.content_type, r.body.as_slice()),
            ("application/javascript", &b"cb({})"[..])
        );
        assert_eq!(json_or_jsonp(true, Some("a<b"), vec![]).status, 400);
        assert_eq!(json_or_jsonp(true, None, vec![]).status, 200);
    }
}
