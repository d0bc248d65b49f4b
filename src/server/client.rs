//! A client connection's shared half: what other threads may touch
//! (its outbound buffer, counters, subscriptions, close state), as opposed
//! to what only its own reader thread uses (`connection.rs`).
//!
//! # Who writes to a client's socket
//!
//! Any thread that has bytes for a client (the publisher whose message it
//! is, the client's own reader for PONG/+OK, the timer thread for PING)
//! hands them over with [`Client::queue_and_flush`]. One thread at a time
//! owns the socket's write side (`Outbound::flushing`). When nobody owns it,
//! the caller takes it and writes *without blocking* (`MSG_DONTWAIT` on unix)
//! outside the lock; bytes that arrive meanwhile are queued in `pending` and
//! written by the owner before it lets go. When the socket is full, what is
//! left goes to the client's writer thread, started the first time it is
//! needed, which writes with blocking calls bounded by `write_deadline`. So a
//! publisher never blocks on a subscriber's socket, no lock is held across a
//! socket write, and a fast consumer costs no thread hand-off at all.
//!
//! A client whose pending bytes would pass `max_pending`, or whose writer is
//! stuck past `write_deadline`, is a slow consumer: it is closed (without
//! `-ERR`, as nats-server does) and counted.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::account::Account;
use super::close::CloseReason;
use super::permissions::ResponsePermission;
use super::stats::ServerStats;
use super::subscription::Subscription;
use super::wire;

/// Stack size of a client's writer thread: it only moves bytes.
const WRITER_STACK: usize = 64 * 1024;

/// A producer whose message finds a destination with more than this many
/// bytes queued or being written waits for that destination's writer: the
/// fast producer stall of nats-server, which paces a publisher to a consumer
/// that is slower but keeps reading, instead of cutting the consumer off.
const STALL_THRESHOLD_MAX: usize = 2 * 1024 * 1024;
/// A stalled producer gives up on a destination whose writer made no
/// progress for this long. TCP opens a reading consumer's window in large
/// steps, so a slow but live consumer can show no progress for tens of
/// milliseconds; this is long enough for that.
pub const STALL_NO_PROGRESS: Duration = Duration::from_millis(100);
/// Once a stall saw no progress, the destination is suspected stuck and
/// later stalls wait only this long until it makes progress again: a stuck
/// consumer costs a publisher little per read batch until max_pending or
/// write_deadline cuts it off.
pub const STALL_SUSPECT: Duration = Duration::from_millis(5);
/// The most a producer is stalled in one read batch by consumers that do
/// keep reading (nats-server 2.9's longest stall).
pub const STALL_TOTAL: Duration = Duration::from_secs(1);
/// The writer thread writes in chunks this large and reports progress
/// after each, so stalled producers can tell slow from stuck.
const WRITER_CHUNK: usize = 32 * 1024;

/// How many rounds a flushing thread writes bytes that other threads queued
/// meanwhile before it hands the rest to the client's writer thread.
const MAX_FLUSH_ROUNDS: usize = 2;

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

/// The outbound half: bytes waiting for the socket and who is writing them.
#[derive(Default)]
struct Outbound {
    /// Bytes queued while another thread owns the socket's write side.
    pending: Vec<u8>,
    /// Bytes the writer thread has taken and is writing now.
    inflight: usize,
    /// Chunks the writer thread has written (stalled producers watch it).
    progress: u64,
    /// The last stall on this client saw no progress.
    suspect_stuck: bool,
    /// A thread owns the socket's write side now.
    flushing: bool,
    /// The writer thread exists.
    writer_started: bool,
    /// The writer thread has bytes to write.
    writer_has_work: bool,
    /// Shut the socket down once what is pending is written (after a final `-ERR`).
    close_when_flushed: bool,
    /// Nothing more is written.
    closed: bool,
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
    /// A CONNECT has been accepted.
    pub connected: AtomicBool,
    /// A CONNECT has arrived (it may still be checked): the auth timer stops
    /// there, as nats-server's does, so a slow bcrypt check is no timeout.
    pub connect_seen: AtomicBool,
    /// The credentials of the accepted CONNECT, to re-check on a reload.
    credentials: Mutex<Option<Box<crate::protocol::info::Connect>>>,
    /// New permissions from a reload, for the client's own thread to adopt.
    identity_update: Mutex<Option<super::auth::Identity>>,
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
    /// The socket, shared with the connection's reader: `&TcpStream` reads
    /// and writes, so one descriptor serves both (no `try_clone`).
    stream: Arc<TcpStream>,
    /// The TLS session, once the handshake is done. With TLS every write
    /// goes through the writer thread, which encrypts in order.
    tls: OnceLock<Box<Mutex<rustls::ServerConnection>>>,
    /// Negotiated TLS version and cipher suite, for monitoring.
    pub tls_info: OnceLock<(String, String)>,
    out: Mutex<Outbound>,
    writer_wake: Condvar,
    /// Signalled when the writer takes the pending bytes (stalled producers wait on it).
    drained: Condvar,
    closed: AtomicBool,
    max_pending: usize,
    write_deadline: Duration,
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
            connected: AtomicBool::new(false),
            connect_seen: AtomicBool::new(false),
            credentials: Mutex::new(None),
            identity_update: Mutex::new(None),
            identity_changed: AtomicBool::new(false),
            async_info: AtomicBool::new(false),
            pings_out: AtomicU32::new(0),
            ping_sent_nanos: AtomicU64::new(0),
            last_activity_nanos: AtomicU64::new(unix_nanos(now)),
            stream,
            tls: OnceLock::new(),
            tls_info: OnceLock::new(),
            out: Mutex::new(Outbound::default()),
            writer_wake: Condvar::new(),
            drained: Condvar::new(),
            closed: AtomicBool::new(false),
            max_pending,
            write_deadline,
            server_stats,
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

    /// Hand new permissions to the client's own thread.
    pub fn set_identity_update(&self, identity: super::auth::Identity) {
        *self
            .identity_update
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(identity);
        self.identity_changed.store(true, Ordering::Release);
    }

    /// Take the permissions a reload left (see [`Client::set_identity_update`]).
    pub fn take_identity_update(&self) -> Option<super::auth::Identity> {
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

    fn out(&self) -> MutexGuard<'_, Outbound> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes queued or being written and not yet taken by the socket.
    pub fn pending_bytes(&self) -> usize {
        let out = self.out();
        out.pending.len() + out.inflight
    }

    fn stall_threshold(&self) -> usize {
        (self.max_pending / 2).min(STALL_THRESHOLD_MAX)
    }

    /// Hand `staged` (left empty, its allocation kept or swapped) to the
    /// client: `msgs` messages of `payload_bytes` for the counters (nats-server
    /// counts payload, headers included, not protocol lines). Writes what the socket takes
    /// now; the rest is queued for whoever owns the write side. Returns true
    /// when the producer should stall ([`Client::wait_drained`]).
    pub fn queue_and_flush(
        self: &Arc<Self>,
        staged: &mut Vec<u8>,
        msgs: u64,
        payload_bytes: u64,
    ) -> bool {
        if staged.is_empty() {
            return false;
        }
        let mut out = self.out();
        if out.closed || out.close_when_flushed {
            staged.clear();
            return false;
        }
        if out.pending.len() + out.inflight + staged.len() > self.max_pending {
            drop(out);
            staged.clear();
            self.close(CloseReason::SlowConsumerPendingBytes);
            return false;
        }
        self.stats.out_msgs.fetch_add(msgs, Ordering::Relaxed);
        self.stats
            .out_bytes
            .fetch_add(payload_bytes, Ordering::Relaxed);
        if out.flushing || self.tls.get().is_some() {
            out.pending.extend_from_slice(staged);
            staged.clear();
            if !out.flushing {
                out.flushing = true;
                self.start_writer(&mut out);
            }
            return out.pending.len() + out.inflight > self.stall_threshold();
        }
        debug_assert!(out.pending.is_empty());
        out.flushing = true;
        drop(out);
        self.write_as_owner(staged);
        false
    }

    /// Append `bytes` to what waits for the socket, without writing, for a
    /// caller that holds a lock no socket write may happen under (routes'
    /// interest updates). Returns true when the caller now owns the write
    /// side and must call [`Client::kick`] once it has let go of its lock.
    pub fn append_deferred(&self, bytes: &[u8]) -> bool {
        let mut out = self.out();
        if out.closed || out.close_when_flushed {
            return false;
        }
        if out.pending.len() + out.inflight + bytes.len() > self.max_pending {
            drop(out);
            self.close(CloseReason::SlowConsumerPendingBytes);
            return false;
        }
        out.pending.extend_from_slice(bytes);
        if out.flushing {
            return false;
        }
        out.flushing = true;
        true
    }

    /// Write what [`Client::append_deferred`] queued, as the owner of the
    /// write side it handed over.
    pub fn kick(self: &Arc<Self>) {
        let mut out = self.out();
        if out.closed {
            out.flushing = false;
            return;
        }
        if self.tls.get().is_some() {
            self.start_writer(&mut out);
            return;
        }
        let mut buf = std::mem::take(&mut out.pending);
        drop(out);
        self.write_as_owner(&mut buf);
    }

    /// Wait while this client's writer works through a backlog above the
    /// stall threshold: until the backlog is below it, `deadline` passes, or
    /// the writer makes no progress for [`STALL_NO_PROGRESS`]
    /// ([`STALL_SUSPECT`] for a client that already looked stuck).
    pub fn wait_drained(&self, deadline: std::time::Instant) {
        let mut out = self.out();
        let mut watched = std::time::Instant::now();
        let mut seen = out.progress;
        while out.pending.len() + out.inflight > self.stall_threshold() && !out.closed {
            let now = std::time::Instant::now();
            let patience = if out.suspect_stuck {
                STALL_SUSPECT
            } else {
                STALL_NO_PROGRESS
            };
            let give_up = deadline.min(watched + patience);
            let Some(left) = give_up.checked_duration_since(now) else {
                // No progress for the whole patience window: stuck, or out of time.
                out.suspect_stuck = out.progress == seen;
                break;
            };
            out = self
                .drained
                .wait_timeout(out, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if out.progress != seen {
                seen = out.progress;
                watched = std::time::Instant::now();
                out.suspect_stuck = false;
            }
        }
    }

    /// Write `buf` and then whatever others queued, without blocking, as the
    /// owner of the write side. Leaves `buf` empty.
    fn write_as_owner(self: &Arc<Self>, buf: &mut Vec<u8>) {
        for round in 0.. {
            let written = match wire::send_nonblocking(&self.stream, buf) {
                Ok(n) => n,
                Err(_) => {
                    buf.clear();
                    self.release_write_side();
                    self.close(CloseReason::WriteError);
                    return;
                }
            };
            let mut out = self.out();
            if written < buf.len() || (round >= MAX_FLUSH_ROUNDS && !out.pending.is_empty()) {
                // The socket is full (or others keep queueing): the writer thread takes over.
                out.pending.splice(0..0, buf.drain(written..));
                buf.clear();
                self.start_writer(&mut out);
                return;
            }
            buf.clear();
            if out.pending.is_empty() {
                out.flushing = false;
                if out.close_when_flushed {
                    out.closed = true;
                    drop(out);
                    let _ = self.stream.shutdown(Shutdown::Both);
                }
                return;
            }
            std::mem::swap(buf, &mut out.pending);
        }
    }

    /// Give up the write side after a failed write.
    fn release_write_side(&self) {
        let mut out = self.out();
        out.flushing = false;
        out.pending = Vec::new();
    }

    /// Wake (or start) the writer thread; the caller keeps `flushing` set,
    /// which now belongs to the writer.
    fn start_writer(self: &Arc<Self>, out: &mut Outbound) {
        out.writer_has_work = true;
        if out.writer_started {
            self.writer_wake.notify_one();
            return;
        }
        out.writer_started = true;
        let client = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("writer-{}", self.cid))
            .stack_size(WRITER_STACK)
            .spawn(move || client.writer_loop());
        if spawned.is_err() {
            // No thread to be had: treat it as a consumer we cannot serve.
            out.writer_started = false;
            out.closed = true;
            out.pending = Vec::new();
            self.closed.store(true, Ordering::Relaxed);
            let _ = self.stream.shutdown(Shutdown::Both);
        }
    }

    /// The writer thread: blocking writes bounded by `write_deadline`;
    /// with TLS it also encrypts, so records go out in order.
    fn writer_loop(self: Arc<Self>) {
        if self
            .stream
            .set_write_timeout(Some(self.write_deadline))
            .is_err()
        {
            self.close(CloseReason::WriteError);
        }
        let mut buf = Vec::new();
        let mut wire_buf = Vec::new();
        loop {
            {
                let mut out = self.out();
                while !out.writer_has_work && !out.closed {
                    out = self
                        .writer_wake
                        .wait(out)
                        .unwrap_or_else(|e| e.into_inner());
                }
                if out.closed {
                    return;
                }
                if out.pending.is_empty() && self.tls.get().is_none() {
                    if self.writer_idle(out) {
                        return;
                    }
                    continue;
                }
                std::mem::swap(&mut buf, &mut out.pending);
                out.inflight = buf.len();
                self.drained.notify_all();
            }
            let bytes: &[u8] = match self.tls.get() {
                Some(tls) => {
                    wire_buf.clear();
                    let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
                    if super::tls::encrypt(&mut conn, &buf, &mut wire_buf).is_err() {
                        drop(conn);
                        self.release_write_side();
                        self.close(CloseReason::WriteError);
                        return;
                    }
                    &wire_buf
                }
                None => &buf,
            };
            let written = self.write_chunks(bytes);
            self.out().inflight = 0;
            if let Err(e) = written {
                let reason = match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        CloseReason::SlowConsumerWriteDeadline
                    }
                    _ => CloseReason::WriteError,
                };
                self.release_write_side();
                self.close(reason);
                return;
            }
            buf.clear();
            if buf.capacity() > 1024 * 1024 {
                buf = Vec::new();
            }
            let out = self.out();
            if out.pending.is_empty() && self.writer_idle(out) {
                return;
            }
        }
    }

    /// Blocking writes of `bytes` in chunks, reporting progress after each
    /// (what stalled producers wait for).
    fn write_chunks(&self, bytes: &[u8]) -> io::Result<()> {
        for chunk in bytes.chunks(WRITER_CHUNK) {
            wire::send_blocking(&self.stream, chunk)?;
            let mut out = self.out();
            out.inflight = out.inflight.saturating_sub(chunk.len());
            out.progress += 1;
            drop(out);
            self.drained.notify_all();
        }
        Ok(())
    }

    /// Nothing left to write: give up the write side (and shut the socket
    /// down if a close was waiting for this). True when the writer should exit.
    fn writer_idle(&self, mut out: MutexGuard<'_, Outbound>) -> bool {
        out.writer_has_work = false;
        out.flushing = false;
        if out.close_when_flushed {
            out.closed = true;
            drop(out);
            let _ = self.stream.shutdown(Shutdown::Both);
            return true;
        }
        false
    }

    /// Install the TLS session after the handshake.
    pub fn set_tls(&self, conn: rustls::ServerConnection) {
        let _ = self.tls_info.set(super::tls::describe(&conn));
        let _ = self.tls.set(Box::new(Mutex::new(conn)));
    }

    /// Run `f` on the TLS session (the reader decrypting).
    pub fn with_tls<R>(&self, f: impl FnOnce(&mut rustls::ServerConnection) -> R) -> Option<R> {
        let tls = self.tls.get()?;
        let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(&mut conn))
    }

    /// rustls has records of its own to send (an alert, a key update): have
    /// the writer send them.
    pub fn kick_tls(self: &Arc<Self>) {
        let mut out = self.out();
        if !out.closed && !out.flushing {
            out.flushing = true;
            self.start_writer(&mut out);
        }
    }

    /// Close the connection for `reason`. The first call wins. Bytes already
    /// queued (a final `-ERR`) are still written unless the reason is a
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
        let mut out = self.out();
        if out.flushing && !reason.is_write_problem() {
            out.close_when_flushed = true;
            return;
        }
        out.closed = true;
        out.pending = Vec::new();
        self.writer_wake.notify_all();
        self.drained.notify_all();
        drop(out);
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Close a connection whose writes are stuck in a close-when-flushed
    /// state for too long (used at server shutdown).
    pub fn force_shutdown(&self) {
        let mut out = self.out();
        out.closed = true;
        out.pending = Vec::new();
        self.writer_wake.notify_all();
        drop(out);
        let _ = self.stream.shutdown(Shutdown::Both);
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
