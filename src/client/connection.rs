//! [`Connection`]: a blocking NATS connection used by every client
//! subcommand: publish, subscribe, flush (PING/PONG), receive with a
//! deadline, reconnect and resubscribe.
//!
//! # Threads
//!
//! The thread that owns the `Connection` writes: ops are encoded into a
//! buffer and written under the link's lock. A reader thread per connection
//! ([`super::reader`]) blocks on the socket without holding any lock, feeds
//! rustls under the lock only for as long as decrypting takes, answers
//! server PINGs, and sends parsed items over a bounded channel. The owner
//! waits on that channel with a deadline, so timeouts, Ctrl-C (a flag plus
//! a wake-up sent on the same channel) and the end of the connection all
//! arrive in one place and in order. We chose this over one thread polling
//! the socket with read timeouts because commands such as `pub --lines`
//! and `cat` block on stdin for minutes while the server's PINGs still need
//! an answer, and a reader that owns the socket answers them at once.
//!
//! # Reconnecting
//!
//! With [`Options::reconnect`], a lost connection is reported once
//! ([`Incoming::Disconnected`]), then each call to [`Connection::next`]
//! makes one round of attempts over the known servers (the configured ones
//! plus the `connect_urls` servers advertised), returning
//! [`Incoming::Reconnected`] once one works and every subscription has been
//! sent again, or [`Incoming::ReconnectFailed`] after waiting a backoff that
//! doubles from 100 ms up to 2 s. Without it, the loss is an error.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use super::backlog::{Backlog, DEFAULT_PENDING_BYTES};
use super::error::{ClientError, ErrorKind, Result};
use super::handshake::{establish, server_error, Established};
use super::link::{self, PingKind, SharedLink};
use super::message::Message;
use super::options::{Mode, Options, RECONNECT_WAIT_MAX, RECONNECT_WAIT_MIN};
use super::rand::Rng;
use super::reader::{Item, Reader, ReaderMode, Signal, CHANNEL_BATCHES, RAW_CHANNEL_BATCHES};
use super::tls;
use super::url::ServerUrl;
use crate::protocol::encode;
use crate::protocol::headers::Headers;
use crate::protocol::info::ServerInfo;
use crate::protocol::parser::Limits;
use crate::protocol::subject;

/// How long a failed write waits for the reader to say why the server closed.
const WRITE_FAILURE_GRACE: Duration = Duration::from_millis(500);

/// Buffered outgoing bytes are written once they reach this size.
const OUT_HIGH_WATER: usize = 64 * 1024;

/// What [`Connection::next`] returns.
#[derive(Debug)]
pub enum Incoming {
    /// A message for one of our subscriptions.
    Msg(Message),
    /// Bytes from the server (raw mode).
    Raw(Vec<u8>),
    /// The connection was lost; the next calls try to reconnect.
    Disconnected(ClientError),
    /// Connected again, subscriptions restored.
    Reconnected(ServerUrl),
    /// One round of reconnect attempts failed (after waiting the backoff).
    ReconnectFailed(ClientError),
    /// Ctrl-C (see [`Interrupter`]).
    Interrupted,
}

/// Interrupts a connection's waits from another thread (a Ctrl-C handler).
#[derive(Clone)]
pub struct Interrupter {
    flag: Arc<AtomicBool>,
    tx: SyncSender<Signal>,
}

impl Interrupter {
    /// Make the owner's current or next [`Connection::next`] return
    /// [`Incoming::Interrupted`].
    pub fn interrupt(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.tx.try_send(Signal::Wake);
    }
}

/// Wakes the owner's [`Connection::next`] up (it returns `Ok(None)`), so a
/// thread feeding the connection can say "look at my state".
#[derive(Clone)]
pub struct Waker(SyncSender<Signal>);

impl Waker {
    /// Wake the owner up.
    pub fn wake(&self) {
        let _ = self.0.try_send(Signal::Poke);
    }
}

/// Writes raw bytes from another thread (raw mode: `cat`'s stdin).
#[derive(Clone)]
pub struct RawWriter(SharedLink);

impl RawWriter {
    /// Write `data`, which contains `pings` PINGs whose PONGs the user sees.
    ///
    /// # Errors
    ///
    /// The socket's write error.
    pub fn write(&self, data: &[u8], pings: usize) -> std::io::Result<()> {
        let mut link = link::lock(&self.0);
        link.expect_user_pongs(pings);
        link.write_all(data)
    }
}

#[derive(Debug, Clone)]
enum State {
    Connected,
    /// Lost, not yet reported.
    Lost(ClientError),
    /// Reported; reconnecting.
    Reconnecting(ClientError),
}

#[derive(Debug, Clone)]
struct Sub {
    subject: String,
    queue: Option<String>,
    max: Option<u64>,
    delivered: u64,
}

/// A connection to a NATS server.
pub struct Connection {
    opts: Options,
    tls_config: Arc<ClientConfig>,
    pool: Vec<ServerUrl>,
    url: ServerUrl,
    info: ServerInfo,
    limits: Limits,
    tls: bool,
    link: SharedLink,
    gen: u64,
    tx: SyncSender<Signal>,
    rx: Receiver<Signal>,
    interrupted: Arc<AtomicBool>,
    queue: VecDeque<Item>,
    out: Vec<u8>,
    subs: BTreeMap<u64, Sub>,
    next_sid: u64,
    state: State,
    backoff: Duration,
    greeting: Vec<u8>,
    pings_sent: u64,
    pongs_seen: u64,
    /// Why the current connection ended, once its reader said so.
    closed: Option<ClientError>,
    rng: Rng,
    /// Messages read and not taken yet, bounded in bytes.
    backlog: Arc<Backlog>,
}

impl Connection {
    /// Connect to the first server of `opts.servers` (in random order unless
    /// `randomize` is off) that accepts us.
    ///
    /// # Errors
    ///
    /// Bad TLS files; otherwise the failure of the only server, or of every
    /// server in turn.
    pub fn connect(opts: Options) -> Result<Connection> {
        let tls_config = tls::client_config(&opts.tls)?;
        let mut rng = Rng::new();
        let mut order = opts.servers.clone();
        if order.is_empty() {
            return Err(ClientError::new(
                ErrorKind::Config,
                "no server to connect to",
            ));
        }
        if opts.randomize {
            rng.shuffle(&mut order);
        }
        let mut errors = Vec::new();
        for url in &order {
            match establish(url, &opts, &tls_config) {
                Ok(est) => return Connection::with(opts, tls_config, rng, est),
                Err(e) => errors.push(e),
            }
        }
        if errors.len() == 1 {
            return Err(errors.remove(0));
        }
        let kind = errors.last().map_or(ErrorKind::Connect, ClientError::kind);
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Err(ClientError::new(
            kind,
            format!("could not connect to any server: {}", all.join("; ")),
        ))
    }

    fn with(
        opts: Options,
        tls_config: Arc<ClientConfig>,
        rng: Rng,
        est: Established,
    ) -> Result<Connection> {
        // Raw bytes (`cat`) cannot be dropped: a few batches, then push back.
        let batches = match opts.mode {
            Mode::Client => CHANNEL_BATCHES,
            Mode::Raw { .. } => RAW_CHANNEL_BATCHES,
        };
        let (tx, rx) = mpsc::sync_channel(batches);
        let mut conn = Connection {
            pool: opts.servers.clone(),
            url: est.url.clone(),
            info: est.info.clone(),
            limits: est.limits,
            tls: est.tls,
            link: est.link.clone(),
            opts,
            tls_config,
            gen: 0,
            tx,
            rx,
            interrupted: Arc::new(AtomicBool::new(false)),
            queue: VecDeque::new(),
            out: Vec::new(),
            subs: BTreeMap::new(),
            next_sid: 1,
            state: State::Connected,
            backoff: RECONNECT_WAIT_MIN,
            greeting: Vec::new(),
            pings_sent: 0,
            pongs_seen: 0,
            closed: None,
            rng,
            backlog: Arc::new(Backlog::new(DEFAULT_PENDING_BYTES)),
        };
        conn.install(est)?;
        Ok(conn)
    }

    /// Take over a freshly established connection: start its reader.
    fn install(&mut self, est: Established) -> Result<()> {
        if !Arc::ptr_eq(&self.link, &est.link) {
            link::lock(&self.link).shutdown();
        }
        self.gen += 1;
        self.url = est.url.clone();
        self.limits = est.limits;
        self.tls = est.tls;
        self.link = est.link.clone();
        self.greeting = est.greeting;
        self.pings_sent = 0;
        self.pongs_seen = 0;
        self.closed = None;
        self.learn(est.info);
        let mode = match self.opts.mode {
            Mode::Client => ReaderMode::Client,
            Mode::Raw { answer_pings, .. } => ReaderMode::Raw { answer_pings },
        };
        Reader {
            gen: self.gen,
            read: est.read,
            link: est.link,
            buf: est.buf,
            limits: self.limits,
            mode,
            tx: self.tx.clone(),
            url: est.url,
            backlog: self.backlog.clone(),
        }
        .spawn()
        .map_err(|e| {
            ClientError::new(
                ErrorKind::Connect,
                format!("starting the reader thread: {e}"),
            )
        })?;
        Ok(())
    }

    /// Remember a server's INFO, and the servers it advertises.
    fn learn(&mut self, info: ServerInfo) {
        // connect_urls are client-port addresses: no use over WebSocket.
        let advertised = if self.url.websocket {
            &[][..]
        } else {
            &info.connect_urls[..]
        };
        for u in advertised {
            let Ok(mut url) = ServerUrl::parse(u) else {
                continue;
            };
            if self.pool.iter().any(|p| p.same_server(&url)) {
                continue;
            }
            url.tls = self.url.tls;
            url.user.clone_from(&self.url.user);
            url.pass.clone_from(&self.url.pass);
            self.pool.push(url);
        }
        self.info = info;
    }

    /// The server's INFO.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// The server we are connected to.
    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Every server known, configured or advertised.
    pub fn servers(&self) -> &[ServerUrl] {
        &self.pool
    }

    /// The INFO line as it arrived (raw mode shows it first), once.
    pub fn take_greeting(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.greeting)
    }

    /// The largest payload (headers included) the server accepts.
    pub fn max_payload(&self) -> usize {
        self.limits.max_payload
    }

    /// Messages dropped because the owner did not take them fast enough
    /// (more than the backlog's bytes were waiting), and their payload
    /// bytes: a slow consumer, on our side.
    pub fn dropped(&self) -> (u64, u64) {
        self.backlog.dropped()
    }

    /// A handle that interrupts this connection's waits (for Ctrl-C).
    pub fn interrupter(&self) -> Interrupter {
        Interrupter {
            flag: self.interrupted.clone(),
            tx: self.tx.clone(),
        }
    }

    /// A handle that makes [`next`](Self::next) return early.
    pub fn waker(&self) -> Waker {
        Waker(self.tx.clone())
    }

    /// A handle to write raw bytes from another thread (the current
    /// connection only: raw mode does not reconnect).
    pub fn raw_writer(&self) -> RawWriter {
        RawWriter(self.link.clone())
    }

    /// Subscribe to `subject`, in queue group `queue` if given. Sent with the
    /// next write; [`flush`](Self::flush) confirms the server has it.
    ///
    /// # Errors
    ///
    /// An invalid subject or queue name.
    pub fn subscribe(&mut self, subject: &str, queue: Option<&str>) -> Result<u64> {
        if !subject::is_valid_subject(subject.as_bytes()) || has_control(subject) {
            return Err(ClientError::new(
                ErrorKind::Config,
                format!("invalid subject {subject:?}"),
            ));
        }
        if let Some(q) = queue {
            check_token("queue group", q)?;
        }
        let sid = self.next_sid;
        self.next_sid += 1;
        encode::sub(
            &mut self.out,
            subject.as_bytes(),
            queue.map(str::as_bytes),
            sid.to_string().as_bytes(),
        );
        self.subs.insert(
            sid,
            Sub {
                subject: subject.to_string(),
                queue: queue.map(str::to_string),
                max: None,
                delivered: 0,
            },
        );
        Ok(sid)
    }

    /// Unsubscribe now (`max` None) or after `max` messages in all.
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub fn unsubscribe(&mut self, sid: u64, max: Option<u64>) -> Result<()> {
        encode::unsub(&mut self.out, sid.to_string().as_bytes(), max);
        match (self.subs.get_mut(&sid), max) {
            (Some(sub), Some(m)) if m > sub.delivered => sub.max = Some(m),
            _ => {
                self.subs.remove(&sid);
            }
        }
        self.maybe_send()
    }

    /// Publish a message (buffered; see [`send_buffered`](Self::send_buffered)).
    ///
    /// # Errors
    ///
    /// An invalid subject, a message over the server's max_payload, headers
    /// the server does not support, or a failed write.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&Headers>,
        payload: &[u8],
    ) -> Result<()> {
        check_token("subject", subject)?;
        if let Some(r) = reply {
            check_token("reply subject", r)?;
        }
        let hdr = match headers {
            Some(h) if !self.info.headers => {
                let _ = h;
                return Err(ClientError::new(
                    ErrorKind::Server,
                    format!("{} does not support headers", self.url),
                ));
            }
            Some(h) => Some(h.encode()),
            None => None,
        };
        let size = hdr.as_ref().map_or(0, Vec::len) + payload.len();
        if size > self.limits.max_payload {
            return Err(ClientError::new(
                ErrorKind::Server,
                format!(
                    "message of {size} bytes is over the server's max_payload of {} bytes",
                    self.limits.max_payload
                ),
            ));
        }
        encode::publish(
            &mut self.out,
            subject.as_bytes(),
            reply.map(str::as_bytes),
            hdr.as_deref(),
            payload,
        );
        self.maybe_send()
    }

    fn maybe_send(&mut self) -> Result<()> {
        if self.out.len() >= OUT_HIGH_WATER {
            self.send_buffered()
        } else {
            Ok(())
        }
    }

    /// Write everything buffered.
    ///
    /// # Errors
    ///
    /// The connection is lost (the buffered ops are dropped).
    pub fn send_buffered(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let res = link::lock(&self.link).write_all(&self.out);
        self.out.clear();
        res.map_err(|e| self.write_failed(e))
    }

    /// Write raw bytes (raw mode), which contain `pings` PINGs whose PONGs
    /// are the user's to see.
    ///
    /// # Errors
    ///
    /// The connection is lost.
    pub fn write_raw(&mut self, data: &[u8], pings: usize) -> Result<()> {
        self.send_buffered()?;
        let res = {
            let mut link = link::lock(&self.link);
            link.expect_user_pongs(pings);
            link.write_all(data)
        };
        res.map_err(|e| self.write_failed(e))
    }

    /// A write failed, usually because the server closed the connection
    /// after telling us why (`-ERR`): give the reader a moment to deliver
    /// that reason, which is more useful than "broken pipe".
    fn write_failed(&mut self, e: std::io::Error) -> ClientError {
        let deadline = Instant::now() + WRITE_FAILURE_GRACE;
        loop {
            if let Some(pos) = self.queue.iter().position(|i| matches!(i, Item::Err(_))) {
                if let Some(Item::Err(text)) = self.queue.remove(pos) {
                    return server_error(&text);
                }
            }
            if let Some(closed) = &self.closed {
                return closed.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(sig) => {
                    let _ = self.take_signal(sig);
                }
                Err(_) => return self.lost(e),
            }
        }
    }

    fn lost(&self, e: std::io::Error) -> ClientError {
        ClientError::new(
            ErrorKind::Connect,
            format!("connection to {} lost: {e}", self.url),
        )
    }

    /// Write everything buffered, then PING and wait for the PONG: when this
    /// returns, the server has processed every op sent before. Messages
    /// arriving meanwhile are kept for [`next`](Self::next).
    ///
    /// With reconnect on, a connection lost meanwhile is not an error: the
    /// loss is reported by the next call to `next`, and reconnecting sends
    /// the subscriptions again.
    ///
    /// # Errors
    ///
    /// No PONG within `timeout`, a `-ERR` from the server, or the
    /// connection lost (without reconnect).
    pub fn flush(&mut self, timeout: Duration) -> Result<()> {
        match self.ping_pong(timeout) {
            Err(e) if self.opts.reconnect && is_loss(&e) => {
                self.state = State::Lost(e);
                Ok(())
            }
            other => other,
        }
    }

    /// Time one PING/PONG round trip (after writing anything buffered).
    ///
    /// # Errors
    ///
    /// As [`flush`](Self::flush), without the reconnect leniency.
    pub fn rtt(&mut self, timeout: Duration) -> Result<Duration> {
        self.send_buffered()?;
        let start = Instant::now();
        self.ping_pong(timeout)?;
        Ok(start.elapsed())
    }

    fn ping_pong(&mut self, timeout: Duration) -> Result<()> {
        self.send_buffered()?;
        let sent = link::lock(&self.link).send_ping(PingKind::Flush);
        sent.map_err(|e| self.write_failed(e))?;
        self.pings_sent += 1;
        let target = self.pings_sent;
        let deadline = Instant::now() + timeout;
        loop {
            let mut keep = VecDeque::with_capacity(self.queue.len());
            while let Some(item) = self.queue.pop_front() {
                match item {
                    Item::Pong => self.pongs_seen += 1,
                    Item::Err(text) if is_stale(&text) => {}
                    Item::Err(text) => return Err(server_error(&text)),
                    Item::Info(info) => self.learn(*info),
                    other => keep.push_back(other),
                }
            }
            self.queue = keep;
            if self.pongs_seen >= target {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(sig) => {
                    if let Some(e) = self.take_signal(sig) {
                        return Err(e);
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(ClientError::new(
                        ErrorKind::Timeout,
                        format!("no PONG from {} within {timeout:?}", self.url),
                    ))
                }
            }
        }
    }

    /// Queue a signal's items; the end of the current connection is returned.
    fn take_signal(&mut self, sig: Signal) -> Option<ClientError> {
        match sig {
            Signal::Batch { gen, items } if gen == self.gen => self.queue.extend(items),
            // Data received before an old connection ended is still data.
            Signal::Batch { items, .. } => self.queue.extend(
                items
                    .into_iter()
                    .filter(|i| matches!(i, Item::Msg(_) | Item::Raw(_))),
            ),
            Signal::Closed { gen, error } if gen == self.gen => {
                self.closed = Some(error.clone());
                return Some(error);
            }
            Signal::Closed { .. } | Signal::Wake | Signal::Poke => {}
        }
        None
    }

    /// Wait for the next message (or raw bytes, or connection event) until
    /// `deadline` (`None`: no deadline; a deadline in the past only takes
    /// what has arrived). `Ok(None)` when the deadline passed, or when a
    /// [`Waker`] woke the caller up.
    ///
    /// # Errors
    ///
    /// A `-ERR` from the server; the connection lost without reconnect.
    pub fn next(&mut self, deadline: Option<Instant>) -> Result<Option<Incoming>> {
        loop {
            if self.interrupted.swap(false, Ordering::SeqCst) {
                return Ok(Some(Incoming::Interrupted));
            }
            match &self.state {
                State::Connected => {}
                State::Lost(e) => {
                    let e = e.clone();
                    self.state = State::Reconnecting(e.clone());
                    return Ok(Some(Incoming::Disconnected(e)));
                }
                State::Reconnecting(e) => {
                    let e = e.clone();
                    return self.reconnect_round(e).map(Some);
                }
            }
            if let Some(item) = self.queue.pop_front() {
                match item {
                    Item::Msg(m) => {
                        self.backlog.taken(&m);
                        if self.deliver(&m) {
                            return Ok(Some(Incoming::Msg(m)));
                        }
                    }
                    Item::Raw(b) => return Ok(Some(Incoming::Raw(b))),
                    Item::Pong => self.pongs_seen += 1,
                    Item::Err(text) if is_stale(&text) => {}
                    Item::Err(text) => return Err(server_error(&text)),
                    Item::Info(info) => self.learn(*info),
                }
                continue;
            }
            // Everything received has been returned and the reader is gone.
            if let (Some(e), State::Connected) = (&self.closed, &self.state) {
                let e = e.clone();
                if self.opts.reconnect && is_loss(&e) {
                    self.state = State::Lost(e);
                    continue;
                }
                return Err(e);
            }
            let sig = match deadline {
                None => self.rx.recv().ok(),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        // A deadline in the past polls: take what is there.
                        match self.rx.try_recv() {
                            Ok(s) => Some(s),
                            Err(_) => return Ok(None),
                        }
                    } else {
                        match self.rx.recv_timeout(left) {
                            Ok(s) => Some(s),
                            Err(RecvTimeoutError::Timeout) => return Ok(None),
                            Err(RecvTimeoutError::Disconnected) => None,
                        }
                    }
                }
            };
            let Some(sig) = sig else {
                return Ok(None);
            };
            if let Signal::Poke = sig {
                return Ok(None);
            }
            if let Some(error) = self.take_signal(sig) {
                if self.opts.reconnect && is_loss(&error) {
                    self.state = State::Lost(error);
                } else {
                    return Err(error);
                }
            }
        }
    }

    /// Count a message against its subscription; false when it is not ours
    /// (any more).
    fn deliver(&mut self, m: &Message) -> bool {
        let Some(sub) = self.subs.get_mut(&m.sid) else {
            return false;
        };
        sub.delivered += 1;
        if sub.max.is_some_and(|max| sub.delivered >= max) {
            self.subs.remove(&m.sid);
        }
        true
    }

    /// One round of reconnect attempts, then the backoff wait if all failed.
    fn reconnect_round(&mut self, mut last: ClientError) -> Result<Incoming> {
        let mut order: Vec<ServerUrl> = self
            .pool
            .iter()
            .filter(|u| !u.same_server(&self.url))
            .cloned()
            .collect();
        if self.opts.randomize {
            self.rng.shuffle(&mut order);
        }
        order.push(self.url.clone());
        for url in order {
            if self.interrupted.load(Ordering::SeqCst) {
                return Ok(Incoming::Interrupted);
            }
            let attempt = establish(&url, &self.opts, &self.tls_config)
                .and_then(|est| self.install(est))
                .and_then(|()| self.resubscribe());
            match attempt {
                Ok(()) => {
                    self.state = State::Connected;
                    self.backoff = RECONNECT_WAIT_MIN;
                    return Ok(Incoming::Reconnected(url));
                }
                Err(e) => last = e,
            }
        }
        let jitter = Duration::from_millis(self.rng.below(self.backoff.as_millis() as u64 / 4 + 1));
        let until = Instant::now() + self.backoff + jitter;
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                break;
            }
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(sig) => {
                    let _ = self.take_signal(sig);
                }
                Err(_) => break,
            }
        }
        self.backoff = (self.backoff * 2).min(RECONNECT_WAIT_MAX);
        self.state = State::Reconnecting(last.clone());
        Ok(Incoming::ReconnectFailed(last))
    }

    /// Send every live subscription again and wait until the server has them.
    fn resubscribe(&mut self) -> Result<()> {
        self.out.clear();
        for (sid, sub) in &self.subs {
            let sid_text = sid.to_string();
            encode::sub(
                &mut self.out,
                sub.subject.as_bytes(),
                sub.queue.as_deref().map(str::as_bytes),
                sid_text.as_bytes(),
            );
            if let Some(max) = sub.max {
                encode::unsub(
                    &mut self.out,
                    sid_text.as_bytes(),
                    Some(max - sub.delivered),
                );
            }
        }
        self.ping_pong(self.opts.connect_timeout)
    }

    /// Write what is buffered and close the socket.
    pub fn close(&mut self) {
        let _ = self.send_buffered();
        link::lock(&self.link).shutdown();
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        link::lock(&self.link).shutdown();
    }
}

/// Errors after which reconnecting makes sense.
fn is_loss(e: &ClientError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Connect
            | ErrorKind::Closed
            | ErrorKind::Protocol
            | ErrorKind::Tls
            | ErrorKind::Timeout
    )
}

/// `-ERR 'Stale Connection'` is followed by the server closing: a loss, not
/// a refusal, so it is left to the reconnect logic.
fn is_stale(text: &str) -> bool {
    text.eq_ignore_ascii_case("Stale Connection")
}

fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b <= b' ' || b == 0x7f)
}

/// A subject, reply or queue name must be one non-empty protocol token.
fn check_token(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || has_control(s) {
        return Err(ClientError::new(
            ErrorKind::Config,
            format!(
                "invalid {what} {s:?}: it must be non-empty, without spaces or control characters"
            ),
        ));
    }
    Ok(())
}
