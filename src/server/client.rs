//! A connection's shared half: what other threads may touch (its outbound
//! side, counters, subscriptions, close state), as opposed to what only its
//! own thread uses (`connection.rs` for clients, `route/connection.rs` for
//! routes). The outbound machinery itself (direct writes, the writer
//! thread, stalls, slow consumers) is the connection core's
//! (`conn/outbound.rs`); this type is its [`Peer`]. An internal client
//! (the system service) has no socket: its outbound side is a bounded
//! in-memory queue (`internal.rs`): [`Client::queue`] hands its bytes
//! there, [`Client::close`] closes the queue, and what only a socket has
//! (an encoding, a writer thread, stalls) is skipped.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::account::Account;
use super::close::CloseReason;
use super::conn::outbound::{Outbound, Peer, Queued};
use super::conn::transport::Encoding;
use super::internal::{InternalQueue, Pushed};
use super::permissions::ResponsePermission;
use super::stats::ServerStats;
use super::subscription::Subscription;

/// Per-connection counters, read on demand by monitoring.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Messages received from the client.
    pub in_msgs: AtomicU64,
    /// Payload bytes received from the client.
    pub in_bytes: AtomicU64,
    /// Messages delivered to the client.
    pub out_msgs: AtomicU64,
    /// Bytes delivered to the client.
    pub out_bytes: AtomicU64,
}

/// Replies still allowed to one reply subject, and until when.
type ReplyAllowance = (usize, Instant);

/// Descriptive data about a client for logs and monitoring.
#[derive(Debug, Default, Clone)]
pub struct ClientMeta {
    /// CONNECT `name`.
    pub name: String,
    /// CONNECT `lang`.
    pub lang: String,
    /// CONNECT `version`.
    pub version: String,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// Why the connection closed, once it has.
    pub close_reason: Option<CloseReason>,
    /// When it closed.
    pub stop: Option<SystemTime>,
    /// Last measured round trip.
    pub rtt: Option<Duration>,
    /// The client came through the WebSocket listener.
    pub websocket: bool,
}

/// A client connection's shared state.
pub struct Client {
    /// Connection id, unique for the server's lifetime.
    pub cid: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// When the connection was accepted.
    pub start: SystemTime,
    /// The account whose subject space the client lives in (set at CONNECT).
    account: RwLock<Arc<Account>>,
    /// Reply subjects this client may publish to (`allow_responses`): uses
    /// left and when the permission expires.
    responses: Mutex<HashMap<Box<[u8]>, ReplyAllowance>>,
    /// Counters.
    pub stats: ClientStats,
    /// Descriptive data.
    pub meta: Mutex<ClientMeta>,
    /// Subscriptions by sid.
    pub subs: Mutex<HashMap<Box<[u8]>, Arc<Subscription>>>,
    /// The client understands HMSG (set at CONNECT).
    pub headers: AtomicBool,
    /// A route peer understands leaf-origin `LMSG` (its INFO's `lnoc`).
    pub lnoc: AtomicBool,
    /// A CONNECT has been accepted.
    pub connected: AtomicBool,
    /// A CONNECT has arrived (it may still be checked): the auth timer stops
    /// there, as nats-server's does, so a slow bcrypt check is no timeout.
    pub connect_seen: AtomicBool,
    /// The credentials of the accepted CONNECT, to re-check on a reload.
    credentials: Mutex<Option<Box<crate::protocol::info::Connect>>>,
    /// New permissions from a reload, for the client's own thread to adopt.
    identity_update: Mutex<Option<(super::auth::Identity, super::nkey_auth::UserLimits)>>,
    /// Set when `identity_update` holds something.
    pub identity_changed: AtomicBool,
    /// The client speaks protocol 1: it understands INFO sent at any time.
    pub async_info: AtomicBool,
    /// PINGs sent and not answered.
    pub pings_out: AtomicU32,
    /// When the last PING was sent (unix nanos), for the RTT.
    pub ping_sent_nanos: AtomicU64,
    /// When bytes last arrived from the client (unix nanos).
    pub last_activity_nanos: AtomicU64,
    /// Negotiated TLS version and cipher suite, for monitoring.
    pub tls_info: OnceLock<(String, String)>,
    /// Where outbound bytes go.
    out: Sink,
    closed: AtomicBool,
    server_stats: Arc<ServerStats>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("cid", &self.cid)
            .field("addr", &self.addr)
            .finish()
    }
}

/// Where a client's outbound bytes go.
enum Sink {
    /// A socket, through the connection core (`conn/outbound.rs`).
    Socket(Outbound),
    /// An internal client's queue, drained by its service's thread.
    Internal(Arc<InternalQueue>),
}

/// Nanoseconds since the Unix epoch.
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Client {
    /// Shared state for a new connection; `stream` is a clone of the
    /// reader's socket, used for writes and shutdown.
    pub fn new(
        cid: u64,
        stream: Arc<TcpStream>,
        addr: SocketAddr,
        account: Arc<Account>,
        max_pending: usize,
        write_deadline: Duration,
        server_stats: Arc<ServerStats>,
    ) -> Client {
        let out = Sink::Socket(Outbound::new(stream, max_pending, write_deadline));
        Client::with_sink(cid, addr, account, out, server_stats)
    }

    /// An internal client of `account` (no socket): its deliveries go to
    /// `queue`. It is connected and understands headers from the start.
    pub fn internal(
        cid: u64,
        account: Arc<Account>,
        queue: Arc<InternalQueue>,
        server_stats: Arc<ServerStats>,
    ) -> Client {
        let addr = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
        let client = Client::with_sink(cid, addr, account, Sink::Internal(queue), server_stats);
        client.headers.store(true, Ordering::Relaxed);
        client.connected.store(true, Ordering::Relaxed);
        client
    }

    fn with_sink(
        cid: u64,
        addr: SocketAddr,
        account: Arc<Account>,
        out: Sink,
        server_stats: Arc<ServerStats>,
    ) -> Client {
        let now = SystemTime::now();
        Client {
            cid,
            addr,
            start: now,
            account: RwLock::new(account),
            responses: Mutex::new(HashMap::new()),
            stats: ClientStats::default(),
            meta: Mutex::new(ClientMeta::default()),
            subs: Mutex::new(HashMap::new()),
            headers: AtomicBool::new(false),
            lnoc: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            connect_seen: AtomicBool::new(false),
            credentials: Mutex::new(None),
            identity_update: Mutex::new(None),
            identity_changed: AtomicBool::new(false),
            async_info: AtomicBool::new(false),
            pings_out: AtomicU32::new(0),
            ping_sent_nanos: AtomicU64::new(0),
            last_activity_nanos: AtomicU64::new(unix_nanos(now)),
            out,
            tls_info: OnceLock::new(),
            closed: AtomicBool::new(false),
            server_stats,
        }
    }

    /// The socket's outbound side (none for an internal client).
    #[inline]
    fn socket(&self) -> Option<&Outbound> {
        match &self.out {
            Sink::Socket(out) => Some(out),
            Sink::Internal(_) => None,
        }
    }

    /// True once the connection is closing or closed: deliver nothing more.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// The credentials of the accepted CONNECT, locked: whatever settles or
    /// re-checks who the client is (a CONNECT, a reload) holds this while it
    /// decides, so the two never interleave (see `identity.rs`).
    pub fn credentials_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<Box<crate::protocol::info::Connect>>> {
        self.credentials.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hand new permissions (and a user JWT's limits) to the client's own
    /// thread.
    pub fn set_identity_update(
        &self,
        identity: super::auth::Identity,
        limits: super::nkey_auth::UserLimits,
    ) {
        *self
            .identity_update
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((identity, limits));
        self.identity_changed.store(true, Ordering::Release);
    }

    /// Take the permissions a reload left (see [`Client::set_identity_update`]).
    pub fn take_identity_update(
        &self,
    ) -> Option<(super::auth::Identity, super::nkey_auth::UserLimits)> {
        self.identity_changed.store(false, Ordering::Relaxed);
        self.identity_update
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Names the verified TLS client certificate maps to (`verify_and_map`).
    pub fn certificate_names(&self) -> Vec<String> {
        self.with_tls(|conn| {
            conn.peer_certificates()
                .and_then(|certs| certs.first())
                .map(|der| super::tls::certificate_names(der))
                .unwrap_or_default()
        })
        .unwrap_or_default()
    }

    /// The client's account.
    pub fn account(&self) -> Arc<Account> {
        self.account
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Move the client to `account` (at CONNECT).
    pub fn set_account(&self, account: Arc<Account>) {
        *self.account.write().unwrap_or_else(|e| e.into_inner()) = account;
    }

    /// Remember that this client received a request with `reply`: it may
    /// answer it (`allow_responses`).
    pub fn allow_reply(&self, reply: &[u8], perm: ResponsePermission) {
        let mut map = self.responses.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if map.len() >= 1024 {
            map.retain(|_, (_, expires)| *expires > now);
        }
        let uses = if perm.max == 0 { usize::MAX } else { perm.max };
        map.insert(reply.into(), (uses, now + perm.expires));
    }

    /// Use one allowed reply to `subject`; false when none is left.
    pub fn take_reply(&self, subject: &[u8]) -> bool {
        let mut map = self.responses.lock().unwrap_or_else(|e| e.into_inner());
        let Some((left, expires)) = map.get_mut(subject) else {
            return false;
        };
        if *expires < Instant::now() {
            map.remove(subject);
            return false;
        }
        *left -= 1;
        if *left == 0 {
            map.remove(subject);
        }
        true
    }

    /// Lock the descriptive data (never poisoned: a panicking holder's data is still usable).
    pub fn meta(&self) -> MutexGuard<'_, ClientMeta> {
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lock the subscription map.
    pub fn subs(&self) -> MutexGuard<'_, HashMap<Box<[u8]>, Arc<Subscription>>> {
        self.subs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes queued or being written and not yet taken by the socket.
    pub fn pending_bytes(&self) -> usize {
        match &self.out {
            Sink::Socket(out) => out.pending_bytes(),
            Sink::Internal(queue) => queue.pending_bytes(),
        }
    }

    /// Hand `staged` (left empty, its allocation kept or swapped) to the
    /// client: `msgs` messages of `payload_bytes` for the counters (nats-server
    /// counts payload, headers included, not protocol lines). Writes what the
    /// socket takes now; the rest is queued for whoever owns the write side.
    /// Bytes that would pass max_pending close the client as a slow consumer
    /// at once (for callers that must not wait: timers, a connection's own
    /// replies). Returns true when the producer should stall
    /// ([`Client::wait_drained`]).
    pub fn queue_and_flush(
        self: &Arc<Self>,
        staged: &mut Vec<u8>,
        msgs: u64,
        payload_bytes: u64,
    ) -> bool {
        self.queue(staged, msgs, payload_bytes, false)
    }

    /// Like [`Client::queue_and_flush`], for a producer delivering messages
    /// to another connection: bytes that would pass max_pending wait for
    /// room while this client's writer keeps making progress, so a
    /// consumer that keeps reading is not cut off because the machine is
    /// busy (see `conn/outbound.rs`).
    pub fn deliver(self: &Arc<Self>, staged: &mut Vec<u8>, msgs: u64, payload_bytes: u64) -> bool {
        self.queue(staged, msgs, payload_bytes, true)
    }

    #[inline]
    fn queue(
        self: &Arc<Self>,
        staged: &mut Vec<u8>,
        msgs: u64,
        payload_bytes: u64,
        may_wait: bool,
    ) -> bool {
        if staged.is_empty() {
            return false;
        }
        if let Sink::Internal(queue) = &self.out {
            return self.push_internal(queue, staged, msgs, payload_bytes);
        }
        match Outbound::queue(self, staged, may_wait) {
            Queued::Taken(stall) => {
                self.stats.out_msgs.fetch_add(msgs, Ordering::Relaxed);
                self.stats
                    .out_bytes
                    .fetch_add(payload_bytes, Ordering::Relaxed);
                stall
            }
            Queued::Dropped => false,
            Queued::SlowConsumer => {
                self.close(CloseReason::SlowConsumerPendingBytes);
                false
            }
        }
    }

    /// [`Client::queue`] for an internal client: into its queue, or
    /// dropped and counted when the queue is full. Never a stall.
    #[cold]
    fn push_internal(
        &self,
        queue: &InternalQueue,
        staged: &mut Vec<u8>,
        msgs: u64,
        payload_bytes: u64,
    ) -> bool {
        match queue.push(staged, msgs) {
            Pushed::Taken => {
                self.stats.out_msgs.fetch_add(msgs, Ordering::Relaxed);
                self.stats
                    .out_bytes
                    .fetch_add(payload_bytes, Ordering::Relaxed);
            }
            Pushed::Dropped => {
                self.server_stats
                    .internal_dropped
                    .fetch_add(msgs, Ordering::Relaxed);
            }
            Pushed::Closed => {}
        }
        false
    }

    /// Append `bytes` to what waits for the socket, without writing, for a
    /// caller that holds a lock no socket write may happen under (routes'
    /// interest updates). Returns true when the caller now owns the write
    /// side and must call [`Client::kick`] once it has let go of its lock.
    pub fn append_deferred(&self, bytes: &[u8]) -> bool {
        let out = match &self.out {
            Sink::Socket(out) => out,
            Sink::Internal(queue) => {
                queue.push(&mut bytes.to_vec(), 0);
                return false;
            }
        };
        match out.append_deferred(bytes) {
            Ok(owner) => owner,
            Err(reason) => {
                self.close(reason);
                false
            }
        }
    }

    /// Write what [`Client::append_deferred`] queued, as the owner of the
    /// write side it handed over.
    pub fn kick(self: &Arc<Self>) {
        if self.socket().is_some() {
            Outbound::kick(self);
        }
    }

    /// Wait while this client's writer works through a backlog above the
    /// stall threshold (see [`Outbound::wait_drained`]).
    pub fn wait_drained(&self, deadline: Instant) {
        if let Some(out) = self.socket() {
            out.wait_drained(deadline);
        }
    }

    /// Install the TLS session after the handshake.
    pub fn set_tls(&self, conn: rustls::Connection) {
        let _ = self.tls_info.set(super::tls::describe(&conn));
        if let Some(out) = self.socket() {
            out.set_encoding(Encoding::tls(conn));
        }
    }

    /// The client is a WebSocket client (its upgrade is done): frame what
    /// goes out, inside `session` for `wss://`.
    pub fn set_websocket(&self, session: Option<rustls::Connection>, compression: bool) {
        if let Some(conn) = &session {
            let _ = self.tls_info.set(super::tls::describe(conn));
        }
        if let Some(out) = self.socket() {
            out.set_encoding(Encoding::websocket(session, compression));
        }
    }

    /// Run `f` on the outbound encoding, if there is one (the reader
    /// queueing a WebSocket pong or close frame).
    pub fn with_encoding<R>(&self, f: impl FnOnce(&mut Encoding) -> R) -> Option<R> {
        self.socket()?.with_encoding(f)
    }

    /// Run `f` on the TLS session (the reader decrypting).
    pub fn with_tls<R>(&self, f: impl FnOnce(&mut rustls::Connection) -> R) -> Option<R> {
        self.socket()?.with_tls(f)
    }

    /// The encoding has bytes of its own to send (a TLS alert or key
    /// update, a WebSocket pong): have the writer send them.
    pub fn kick_tls(self: &Arc<Self>) {
        if self.socket().is_some() {
            Outbound::kick_tls(self);
        }
    }

    /// Close the connection for `reason`. The first call wins. Bytes already
    /// queued (a final `-ERR`, then a WebSocket client's close frame with
    /// the status for `reason`) are still written unless the reason is a
    /// write problem; then the socket is shut down, which ends the reader's
    /// blocking read.
    pub fn close(&self, reason: CloseReason) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        {
            let mut meta = self.meta();
            meta.close_reason = Some(reason);
            meta.stop = Some(SystemTime::now());
        }
        if reason.is_slow_consumer() {
            self.server_stats
                .slow_consumers
                .fetch_add(1, Ordering::Relaxed);
        }
        let out = match &self.out {
            Sink::Socket(out) => out,
            Sink::Internal(queue) => {
                queue.close();
                return;
            }
        };
        if !reason.is_write_problem() {
            out.with_encoding(|e| e.goodbye(reason));
        }
        out.close(reason.is_write_problem());
    }

    /// Close a connection whose writes are stuck in a close-when-flushed
    /// state for too long (used at server shutdown).
    pub fn force_shutdown(&self) {
        if let Some(out) = self.socket() {
            out.force_shutdown();
        }
    }

    /// A PONG arrived: if it answers our PING, note the round trip.
    pub fn pong_received(&self) {
        if self.pings_out.swap(0, Ordering::Relaxed) > 0 {
            let sent = self.ping_sent_nanos.load(Ordering::Relaxed);
            let now = unix_nanos(SystemTime::now());
            self.meta().rtt = Some(Duration::from_nanos(now.saturating_sub(sent)));
        }
    }

    /// Record that bytes arrived from the client now.
    #[inline]
    pub fn touch(&self, now_nanos: u64) {
        self.last_activity_nanos.store(now_nanos, Ordering::Relaxed);
    }

    /// Client identification for log lines: `ip:port - cid:N`.
    pub fn log_prefix(&self) -> String {
        format!("{} - cid:{}", self.addr, self.cid)
    }
}

impl Peer for Client {
    fn outbound(&self) -> &Outbound {
        // The connection core is reached only through the methods above,
        // which hand an internal client's bytes to its queue instead.
        self.socket()
            .expect("an internal client has no socket: its bytes go to its queue")
    }

    fn close(&self, reason: CloseReason) {
        Client::close(self, reason);
    }

    fn id(&self) -> u64 {
        self.cid
    }
}
