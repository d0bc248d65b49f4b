//! A client connection's own thread: send INFO, then read in batches, parse
//! in place, process each op, and hand every destination its bytes once per
//! batch. Owns what no other thread touches: the read buffer, the client's
//! CONNECT options, the match cache and the staging buffers.
//!
//! The read buffer starts small (an idle connection costs little) and grows
//! while reads fill it, up to [`MAX_READ_BUFFER`], as nats-server's does; it
//! also grows to hold one whole message when a payload is larger. What a
//! peer can make it hold is bounded by `max_control_line + max_payload`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::account::Account;
use super::auth;
use super::client::{unix_nanos, Client};
use super::close::CloseReason;
use super::deliver::{remove_subscription, Fanout, Message};
use super::identity;
use super::permissions::{self, Permissions};
use super::spin::SpinPoll;
use super::subscription::Subscription;
use super::timers::TimerKind;
use super::tls;
use super::Server;
use crate::protocol::encode;
use crate::protocol::info::{ClientOptions, Connect};
use crate::protocol::parser::{parse_client_op, ClientOp, Limits, Parsed, ProtocolError};
use crate::protocol::subject;
use crate::{debug, trace};

/// Size of a new connection's read buffer.
const MIN_READ_BUFFER: usize = 512;
/// The read buffer grows up to this while reads fill it.
const MAX_READ_BUFFER: usize = 64 * 1024;
/// The first byte of a TLS handshake record.
const TLS_RECORD: u8 = 0x16;
/// Raw read buffer of a TLS connection: one whole record and then some.
const TLS_READ_BUFFER: usize = 17 * 1024;
/// Consecutive short reads after which a large buffer shrinks back.
const SHRINK_AFTER_SHORT_READS: u32 = 16;

/// Serve one accepted connection until it closes.
pub fn serve(server: Arc<Server>, stream: TcpStream) {
    serve_via(server, stream, None);
}

/// Serve a connection; `via` when it came through another listener than
/// the client port (WebSocket: `stream` carries the NATS bytes the
/// WebSocket layer unwrapped, and `via` says who the peer really is and how
/// it authenticates). Returns why the connection closed.
pub fn serve_via(
    server: Arc<Server>,
    stream: TcpStream,
    via: Option<super::websocket::Via>,
) -> CloseReason {
    let addr = match (&via, stream.peer_addr()) {
        (Some(via), _) => via.peer,
        (None, Ok(addr)) => super::listener::unmapped(addr),
        (None, Err(_)) => return CloseReason::ReadError,
    };
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let opts = server.opts();
    let cid = server.next_cid();
    let client = Arc::new(Client::new(
        cid,
        stream.clone(),
        addr,
        server.global.clone(),
        opts.max_pending,
        opts.write_deadline,
        server.stats.clone(),
    ));
    let cache_enabled = !opts.disable_sublist_cache;
    let server_interest = server.routes.interest.clone();
    let over_limit = !server.register(&client);
    // Before CONNECT a client is anonymous: the global account without auth,
    // the `no_auth_user` with it, and otherwise nobody (CONNECT must come first).
    let auth = via
        .as_ref()
        .map_or_else(|| server.auth(), |v| v.auth.clone());
    let anonymous = auth.anonymous();
    if via.is_some() {
        client.meta().websocket = true;
    }
    let nonce = auth
        .signed
        .nonce_required()
        .then(super::nkey_auth::new_nonce);
    // On the heap: the thread's idle stack frame stays small.
    let mut conn = Box::new(Connection {
        limits: Limits {
            max_control_line: opts.max_control_line,
            max_payload: opts.max_payload,
        },
        auth_required: anonymous.is_none(),
        account: anonymous
            .as_ref()
            .map_or_else(|| server.global.clone(), |a| a.account.clone()),
        perms: anonymous.and_then(|a| a.permissions),
        nonce,
        user_max_subs: None,
        pub_allowed: HashMap::new(),
        server,
        client,
        stream,
        opts: ClientOptions::default(),
        connected: false,
        buf: vec![0; MIN_READ_BUFFER],
        start: 0,
        filled: 0,
        short_reads: 0,
        spin: SpinPoll::default(),
        grow: false,
        tls_raw: Vec::new(),
        tls_scratch: Vec::new(),
        pending_plain: 0,
        fanout: Fanout::new(cache_enabled, cid, server_interest),
        in_msgs: 0,
        in_bytes: 0,
        via,
    });
    debug!("{} - Client connection created", conn.client.log_prefix());
    let reason = if over_limit {
        conn.refuse_over_limit()
    } else {
        conn.run()
    };
    conn.finish(reason)
}

/// The connection thread's state.
struct Connection {
    server: Arc<Server>,
    client: Arc<Client>,
    stream: Arc<TcpStream>,
    limits: Limits,
    auth_required: bool,
    /// Options from CONNECT (nats-server's defaults until then).
    opts: ClientOptions,
    /// A CONNECT has been accepted.
    connected: bool,
    /// The account the client lives in (its subject space).
    account: Arc<Account>,
    /// The client's permissions, when restricted.
    perms: Option<Arc<Permissions>>,
    /// The nonce of the first INFO (NKey/JWT auth), which CONNECT signs.
    nonce: Option<String>,
    /// A user JWT's limit on this connection's subscriptions.
    user_max_subs: Option<usize>,
    /// Publish decisions for literal subjects under `perms`.
    pub_allowed: HashMap<Box<[u8]>, bool>,
    buf: Vec<u8>,
    /// Start of unparsed bytes in `buf`.
    start: usize,
    /// End of read bytes in `buf`.
    filled: usize,
    short_reads: u32,
    /// Whether to poll the socket before blocking on it.
    spin: SpinPoll,
    /// The last read filled the buffer: double it.
    grow: bool,
    /// TLS: ciphertext read from the socket (empty without TLS).
    tls_raw: Vec<u8>,
    /// TLS: decrypted bytes, reused between reads.
    tls_scratch: Vec<u8>,
    /// TLS: plaintext placed after `filled` and not yet reported by `read`.
    pending_plain: usize,
    /// Who gets each message, and the bytes staged for them.
    fanout: Fanout,
    in_msgs: u64,
    in_bytes: u64,
    /// How the client came, when not through the client port.
    via: Option<super::websocket::Via>,
}

impl Connection {
    fn run(&mut self) -> CloseReason {
        if self.auth_required {
            let timeout = match &self.via {
                Some(via) => via.auth_timeout,
                None => self.server.opts().effective_auth_timeout(),
            };
            let at = Instant::now() + timeout;
            self.server
                .timers
                .schedule(at, &self.client, TimerKind::AuthTimeout);
        }
        if let Some(config) = self.server.tls_config().filter(|_| self.via.is_none()) {
            if let Err(reason) = self.start_tls(&config) {
                return reason;
            }
        } else {
            self.send_info();
            self.end_batch();
        }
        let mut stack_released = false;
        loop {
            if self.client.is_closed() {
                return CloseReason::ClientClosed;
            }
            if !stack_released && self.connected {
                // The handshake is over: what it touched need not stay resident.
                self.fanout.out.batch.shrink();
                super::stack::release_unused();
                stack_released = true;
            }
            let n = match self.read() {
                Ok(0) => return CloseReason::ClientClosed,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return CloseReason::ReadError,
            };
            self.client.touch(unix_nanos(SystemTime::now()));
            self.filled += n;
            if self.client.identity_changed.load(Ordering::Acquire) {
                self.adopt_reloaded_identity();
            }
            let outcome = self.parse_and_process();
            self.end_batch();
            if let Err(reason) = outcome {
                return reason;
            }
        }
    }

    /// TLS the NATS way: INFO in plain text, then the handshake (bounded by
    /// the TLS timeout). With `handshake_first` the handshake comes before
    /// INFO (when the client starts TLS within the fallback time, if one is
    /// set); with `allow_non_tls` a client that does not start TLS stays in
    /// plain text. A client that speaks plain text or nothing in time where
    /// TLS is required gets `-ERR 'Secure Connection - TLS Required'`.
    #[inline(never)]
    fn start_tls(&mut self, config: &Arc<rustls::ServerConfig>) -> Result<(), CloseReason> {
        let Some(tls_opts) = self.server.opts().tls.clone() else {
            return Ok(());
        };
        let timeout = tls_opts.timeout;
        let json = self
            .server
            .client_info_json_with_nonce(&self.client, self.nonce.as_deref());
        let mut info = Vec::with_capacity(json.len() + 7);
        encode::json_op(&mut info, "INFO", &json);
        let tls_first = match tls_opts.handshake_first {
            Some(wait) if wait.is_zero() => true,
            Some(wait) => self.peek_first_byte(Some(wait)) == Some(TLS_RECORD),
            None => false,
        };
        if !tls_first {
            let _ = self.stream.set_write_timeout(Some(timeout));
            if (&*self.stream).write_all(&info).is_err() {
                return Err(CloseReason::WriteError);
            }
            let _ = self.stream.set_write_timeout(None);
            if self.server.opts().allow_non_tls {
                match self.peek_first_byte(None) {
                    Some(TLS_RECORD) => {}
                    Some(_) => return Ok(()),
                    None => return Err(CloseReason::ClientClosed),
                }
            }
        }
        match tls::handshake(&self.stream, config, timeout) {
            Ok(mut conn) => {
                if !tls::pinned_cert_accepted(&conn, &tls_opts.pinned_certs) {
                    debug!(
                        "{} - TLS client certificate not in pinned_certs",
                        self.client.log_prefix()
                    );
                    return Err(CloseReason::TlsHandshakeError);
                }
                let mut plain = Vec::new();
                let buffered = tls::buffered_plaintext(&mut conn, &mut plain);
                self.client.set_tls(conn);
                self.tls_raw = vec![0; TLS_READ_BUFFER];
                if buffered.is_ok() && !plain.is_empty() {
                    self.append_plaintext(&plain);
                }
                if tls_first {
                    self.push(&info);
                    self.end_batch();
                }
                Ok(())
            }
            Err(e) => {
                if let tls::HandshakeError::Failed(why) = &e {
                    debug!("{} - TLS handshake error: {why}", self.client.log_prefix());
                } else {
                    let mut line = Vec::new();
                    encode::err(&mut line, "Secure Connection - TLS Required");
                    let _ = (&*self.stream).write_all(&line);
                }
                Err(CloseReason::TlsHandshakeError)
            }
        }
    }

    /// The first byte the client sends, without consuming it; `None` on
    /// close, error or (with `wait`) when nothing came in time.
    fn peek_first_byte(&mut self, wait: Option<std::time::Duration>) -> Option<u8> {
        let mut b = [0u8; 1];
        let _ = self.stream.set_read_timeout(wait);
        let r = self.stream.peek(&mut b);
        let _ = self.stream.set_read_timeout(None);
        match r {
            Ok(1) => Some(b[0]),
            _ => None,
        }
    }

    /// Read plaintext: from the socket, or through TLS.
    fn read(&mut self) -> io::Result<usize> {
        if self.tls_raw.is_empty() {
            return self.read_plain();
        }
        loop {
            if self.pending_plain > 0 {
                return Ok(std::mem::take(&mut self.pending_plain));
            }
            let n = (&*self.stream).read(&mut self.tls_raw)?;
            if n == 0 {
                return Ok(0);
            }
            let mut plain = std::mem::take(&mut self.tls_scratch);
            plain.clear();
            let raw = &self.tls_raw[..n];
            let decrypted = self
                .client
                .with_tls(|conn| tls::decrypt(conn, raw, &mut plain));
            let decrypted = match decrypted {
                Some(Ok(d)) => d,
                Some(Err(e)) => return Err(e),
                None => return Err(io::ErrorKind::NotConnected.into()),
            };
            if decrypted.wants_write {
                self.client.kick_tls();
            }
            self.append_plaintext(&plain);
            self.tls_scratch = plain;
            if self.pending_plain > 0 {
                return Ok(std::mem::take(&mut self.pending_plain));
            }
            if decrypted.closed {
                return Ok(0);
            }
        }
    }

    /// Put decrypted bytes after the unparsed ones (they are counted as
    /// read by the next [`Connection::read`]).
    fn append_plaintext(&mut self, plain: &[u8]) {
        let end = self.filled + self.pending_plain + plain.len();
        if end > self.buf.len() {
            self.buf.resize(end, 0);
        }
        let at = self.filled + self.pending_plain;
        self.buf[at..end].copy_from_slice(plain);
        self.pending_plain += plain.len();
    }

    /// Read into the free part of the buffer, noting whether it should grow
    /// (the read filled it) or shrink (reads stay short).
    fn read_plain(&mut self) -> io::Result<usize> {
        if self.filled == self.buf.len() {
            // A partial op fills the buffer; the parser's limits bound this.
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        let free = self.buf.len() - self.filled;
        let n = match self
            .spin
            .try_read(&self.stream, &mut self.buf[self.filled..])
        {
            Some(polled) => polled?,
            None => {
                let since = Instant::now();
                let n = (&*self.stream).read(&mut self.buf[self.filled..])?;
                self.spin.note_blocking_read(since);
                n
            }
        };
        if n == free {
            self.grow = self.buf.len() < MAX_READ_BUFFER;
            self.short_reads = 0;
        } else if n < self.buf.len() / 4 {
            self.short_reads = self.short_reads.saturating_add(1);
        } else {
            self.short_reads = 0;
        }
        Ok(n)
    }

    /// Parse every complete op in the buffer and process it; keep the tail.
    #[inline(never)]
    fn parse_and_process(&mut self) -> Result<(), CloseReason> {
        let result = self.process_buffered();
        // Keep the unparsed tail at the front of the buffer.
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        if self.grow {
            self.grow = false;
            let grown = (self.buf.len() * 2).min(MAX_READ_BUFFER);
            self.buf.resize(grown.max(self.buf.len()), 0);
        }
        if self.filled == 0
            && self.short_reads >= SHRINK_AFTER_SHORT_READS
            && self.buf.len() > MIN_READ_BUFFER
        {
            self.buf = vec![0; MIN_READ_BUFFER];
            self.short_reads = 0;
            self.fanout.out.batch.shrink();
        }
        result
    }

    fn process_buffered(&mut self) -> Result<(), CloseReason> {
        loop {
            // Split the borrow: the op borrows `buf`, processing needs the rest of self.
            let buf = std::mem::take(&mut self.buf);
            let parsed = parse_client_op(&buf[self.start..self.filled], &self.limits);
            let step = match parsed {
                Ok(Parsed::Op(op, used)) => {
                    let r = self.process(op);
                    self.start += used;
                    r.map(|()| true)
                }
                Ok(Parsed::Incomplete(need)) => {
                    if need.is_some() {
                        // A message whose payload is still to come: refuse it from
                        // its control line when it can never be accepted.
                        if let Err(reason) = self.check_message_line(&buf[self.start..self.filled])
                        {
                            self.buf = buf;
                            return Err(reason);
                        }
                    }
                    self.buf = buf;
                    if let Some(need) = need {
                        // Make room for a whole message (bounded by the limits).
                        if need > self.buf.len() {
                            self.buf.copy_within(self.start..self.filled, 0);
                            self.filled -= self.start;
                            self.start = 0;
                            if need > self.buf.len() {
                                self.buf.resize(need, 0);
                            }
                        }
                    }
                    return Ok(());
                }
                Err(e) => Err(self.protocol_error(&e)),
            };
            if self.buf.is_empty() {
                self.buf = buf;
            }
            match step {
                Ok(_) => {}
                Err(reason) => return Err(reason),
            }
        }
    }

    /// Checks nats-server makes on a PUB/HPUB control line before reading
    /// its payload: auth first, and HPUB only after CONNECT said `headers`.
    fn check_message_line(&mut self, line: &[u8]) -> Result<(), CloseReason> {
        if self.auth_required && !self.connected {
            self.send_err("Authorization Violation");
            return Err(CloseReason::AuthenticationViolation);
        }
        if !self.opts.headers && line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"HPUB") {
            return Err(CloseReason::ProtocolViolation);
        }
        Ok(())
    }

    /// Queue the `-ERR` an input error deserves and say why we close.
    fn protocol_error(&mut self, e: &ProtocolError) -> CloseReason {
        if let Some(text) = e.err_text() {
            self.send_err(text);
        }
        match e {
            ProtocolError::UnknownOp => CloseReason::ParseError,
            ProtocolError::MaxControlLine => CloseReason::MaxControlLineExceeded,
            ProtocolError::MaxPayload => CloseReason::MaxPayloadExceeded,
            ProtocolError::BadArgs(what) => {
                debug!("{} - {what}", self.client.log_prefix());
                CloseReason::ProtocolViolation
            }
            ProtocolError::PeerError(text) => {
                debug!("{} - Client Error {text}", self.client.log_prefix());
                CloseReason::ParseError
            }
        }
    }

    fn process(&mut self, op: ClientOp<'_>) -> Result<(), CloseReason> {
        if !self.connected && !matches!(op, ClientOp::Connect(_)) {
            self.settle_first_op()?;
        }
        match op {
            ClientOp::Pub {
                subject,
                reply,
                headers,
                payload,
            } => {
                self.trace_in_pub(subject, reply, headers, payload);
                if headers.is_some() && !self.opts.headers {
                    return Err(CloseReason::ProtocolViolation);
                }
                self.process_pub(subject, reply, headers, payload);
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                trace!(
                    "{} - <<- [SUB {}]",
                    self.client.log_prefix(),
                    lossy(&[subject, queue.unwrap_or_default(), sid])
                );
                self.process_sub(subject, queue, sid);
            }
            ClientOp::Unsub { sid, max } => {
                trace!(
                    "{} - <<- [UNSUB {}{}]",
                    self.client.log_prefix(),
                    lossy(&[sid]),
                    max.map(|m| format!(" {m}")).unwrap_or_default()
                );
                self.process_unsub(sid, max);
                self.ok();
            }
            ClientOp::Ping => {
                trace!("{} - <<- [PING]", self.client.log_prefix());
                self.push(encode::PONG);
                trace!("{} - ->> [PONG]", self.client.log_prefix());
            }
            ClientOp::Pong => {
                trace!("{} - <<- [PONG]", self.client.log_prefix());
                self.process_pong();
            }
            ClientOp::Connect(json) => self.process_connect(json)?,
            ClientOp::Info(_) | ClientOp::Ok => {}
        }
        Ok(())
    }

    fn process_connect(&mut self, json: &[u8]) -> Result<(), CloseReason> {
        self.client.connect_seen.store(true, Ordering::Release);
        // serde would also read a JSON array into the struct; nats-server wants an object.
        if json.first() != Some(&b'{') {
            debug!(
                "{} - bad CONNECT: not a JSON object",
                self.client.log_prefix()
            );
            return Err(CloseReason::ProtocolViolation);
        }
        let connect: Connect = match serde_json::from_slice(json) {
            Ok(c) => c,
            Err(e) => {
                debug!("{} - bad CONNECT: {e}", self.client.log_prefix());
                return Err(CloseReason::ProtocolViolation);
            }
        };
        trace!(
            "{} - <<- [CONNECT {}]",
            self.client.log_prefix(),
            auth::redacted_connect(&connect)
        );
        let mut opts = self.opts.clone();
        opts.apply(&connect);
        if self.server.opts().no_header_support {
            opts.headers = false;
        }
        if !(0..=1).contains(&opts.protocol) {
            self.send_err("invalid client protocol");
            return Err(CloseReason::BadClientProtocolVersion);
        }
        if opts.no_responders && !opts.headers {
            self.send_err("no responders requires headers support");
            return Err(CloseReason::ProtocolViolation);
        }
        let has_credentials = connect.user.is_some()
            || connect.pass.is_some()
            || connect.auth_token.is_some()
            || connect.nkey.is_some()
            || connect.jwt.is_some();
        if self.connected && !has_credentials {
            // A later CONNECT without credentials keeps who the client is.
            self.opts = opts;
            self.client
                .headers
                .store(self.opts.headers, Ordering::Relaxed);
            self.ok();
            return Ok(());
        }
        let settled = identity::settle_connect(
            &self.server,
            &self.client,
            &connect,
            self.nonce.as_deref(),
            &self.cert_names(),
        );
        let identity = match settled {
            Ok((identity, limits)) => {
                self.apply_user_limits(&limits);
                identity
            }
            Err(refusal) => {
                debug!("{} - {}", self.client.log_prefix(), refusal.reason());
                self.send_err("Authorization Violation");
                return Err(CloseReason::AuthenticationViolation);
            }
        };
        self.account = identity.account.clone();
        self.perms = identity.permissions.clone();
        self.pub_allowed.clear();
        if self.client.identity_changed.load(Ordering::Acquire) {
            // A reload re-checked us since: its rules are the newer ones.
            self.adopt_reloaded_identity();
        }
        let user = identity.user;
        let first = !self.connected;
        self.opts = opts;
        self.connected = true;
        self.client
            .async_info
            .store(self.opts.protocol >= 1, Ordering::Relaxed);
        self.client
            .headers
            .store(self.opts.headers, Ordering::Relaxed);
        {
            let mut meta = self.client.meta();
            meta.name = connect.name.clone().unwrap_or_default();
            meta.lang = connect.lang.clone().unwrap_or_default();
            meta.version = connect.version.clone().unwrap_or_default();
            meta.user = user;
        }
        self.ok();
        if first {
            self.start_pings();
        }
        Ok(())
    }

    /// A user JWT's limits: subscriptions, payload, and a close when the
    /// JWT expires.
    fn apply_user_limits(&mut self, limits: &super::nkey_auth::UserLimits) {
        self.user_max_subs = limits.max_subs;
        if let Some(max) = limits.max_payload {
            self.limits.max_payload = self.limits.max_payload.min(max);
        }
        if let Some(at) = limits.expires_at {
            let now = SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let left =
                std::time::Duration::from_secs(u64::try_from(at).unwrap_or(0)).saturating_sub(now);
            self.server
                .timers
                .schedule(Instant::now() + left, &self.client, TimerKind::AuthExpiry);
        }
    }

    /// The client is settled: the server's PINGs start.
    fn start_pings(&self) {
        let opts = self.server.opts();
        let first_ping = opts.ping_interval.min(super::FIRST_PING_INTERVAL);
        self.server
            .timers
            .schedule(Instant::now() + first_ping, &self.client, TimerKind::Ping);
    }

    /// May this client publish to `subject`? Decisions for literal subjects
    /// are cached; a reply to a request it received (`allow_responses`) is
    /// allowed a bounded number of times.
    fn may_publish(&mut self, subject: &[u8]) -> bool {
        let Some(perms) = &self.perms else {
            return true;
        };
        let allowed = match self.pub_allowed.get(subject) {
            Some(&a) => a,
            None => {
                let a = perms.can_publish(subject);
                if permissions::cacheable(subject) {
                    if self.pub_allowed.len() >= 4096 {
                        self.pub_allowed.clear();
                    }
                    self.pub_allowed.insert(subject.into(), a);
                }
                a
            }
        };
        allowed || (perms.allow_responses.is_some() && self.client.take_reply(subject))
    }

    fn process_pub(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        self.in_msgs += 1;
        self.in_bytes += (headers.map_or(0, <[u8]>::len) + payload.len()) as u64;
        if self.opts.pedantic && !subject::is_valid_literal_subject(subject) {
            // As nats-server: the error, then still the +OK of the PUB.
            self.send_err("Invalid Publish Subject");
            self.ok();
            return;
        }
        if self.perms.is_some() && !self.may_publish(subject) {
            let text = permissions::publish_violation(subject);
            self.send_err(&text);
            return;
        }
        // The +OK comes before any copy of the message delivered back to us.
        self.ok();
        let echo_off = (!self.opts.echo).then_some(self.client.cid);
        let msg = Message {
            subject,
            reply,
            headers,
            payload,
        };
        let delivered = self.fanout.publish(&self.account, &msg, echo_off);
        if !delivered && self.opts.no_responders {
            if let Some(reply) = reply {
                self.no_responders(reply);
            }
        }
    }

    /// A request reached nobody: answer on the reply subject with a 503 status.
    fn no_responders(&mut self, reply: &[u8]) {
        let result = self.fanout.cache.lookup(&self.account, reply);
        let own = result
            .psubs
            .iter()
            .chain(result.qsubs.iter().flatten())
            .find(|s| s.client.as_ref().is_some_and(|c| c.cid == self.client.cid));
        if let Some(sub) = own {
            const STATUS: &[u8] = b"NATS/1.0 503\r\n\r\n";
            let client = self.client.clone();
            self.fanout
                .out
                .batch
                .stage_msg(&client, STATUS.len(), |buf| {
                    encode::msg(buf, reply, &sub.sid, None, Some(STATUS), b"")
                });
        }
    }

    fn process_sub(&mut self, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        if !subject::is_valid_subject(subject)
            || queue.is_some_and(|q| !subject::is_valid_subject(q))
        {
            self.send_err("Invalid Subject");
            return;
        }
        let max_tokens = self.server.opts().max_sub_tokens;
        if max_tokens > 0 && subject.split(|&b| b == b'.').count() > max_tokens {
            let text = format!(
                "{}, too many tokens",
                permissions::subscribe_violation(subject, None)
            );
            self.send_err(&text);
            return;
        }
        if let Some(perms) = &self.perms {
            if !perms.can_subscribe(subject, queue) {
                let text = permissions::subscribe_violation(subject, queue);
                self.send_err(&text);
                return;
            }
        }
        let max_subs = self.server.opts().max_subscriptions;
        {
            let mut subs = self.client.subs();
            if subs.contains_key(sid) {
                drop(subs);
                self.ok();
                return;
            }
            let over_user_limit = self.user_max_subs.is_some_and(|m| subs.len() >= m);
            if (max_subs > 0 && subs.len() >= max_subs) || over_user_limit {
                drop(subs);
                self.send_err("maximum subscriptions exceeded");
                return;
            }
            let mut sub = Subscription::new(self.client.clone(), subject, queue, sid);
            if let Some(perms) = &self.perms {
                if perms.subscribe.as_ref().is_some_and(|r| r.has_deny()) {
                    sub.deny_filter = Some(perms.clone());
                }
                sub.responses = perms.allow_responses;
            }
            let sub = Arc::new(sub);
            subs.insert(sid.into(), sub.clone());
            self.account.sublist.insert(sub.clone());
            self.server.routes.interest.added(&self.account, &sub);
        }
        self.ok();
    }

    fn process_unsub(&mut self, sid: &[u8], max: Option<u64>) {
        let sub = self.client.subs().get(sid).cloned();
        let Some(sub) = sub else { return };
        if let Some(max) = max.filter(|&m| m > 0) {
            sub.counts.max.store(max, Ordering::Relaxed);
            if sub.counts.delivered.load(Ordering::Relaxed) < max {
                return;
            }
        }
        remove_subscription(&self.client, &sub, &self.server.routes.interest);
    }

    /// The first op is not CONNECT: settle as the `no_auth_user` (or as
    /// anonymous without auth), or refuse.
    #[inline(never)]
    fn settle_first_op(&mut self) -> Result<(), CloseReason> {
        let Some(identity) = identity::settle_first_op(&self.server, &self.client) else {
            self.send_err("Authorization Violation");
            return Err(CloseReason::AuthenticationViolation);
        };
        self.account = identity.account;
        self.perms = identity.permissions;
        self.pub_allowed.clear();
        self.client.meta().user = identity.user;
        self.connected = true;
        self.start_pings();
        Ok(())
    }

    /// A reload changed this client's permissions.
    #[inline(never)]
    fn adopt_reloaded_identity(&mut self) {
        if let Some(identity) = self.client.take_identity_update() {
            self.perms = identity.permissions;
            self.pub_allowed.clear();
        }
    }

    /// Names a verified TLS client certificate maps to (`verify_and_map`).
    fn cert_names(&self) -> Vec<String> {
        let mapped = self.via.is_none()
            && self
                .server
                .opts()
                .tls
                .as_ref()
                .is_some_and(|t| t.verify_and_map);
        if mapped {
            self.client.certificate_names()
        } else {
            Vec::new()
        }
    }

    fn process_pong(&mut self) {
        if self.client.pings_out.swap(0, Ordering::Relaxed) > 0 {
            let sent = self.client.ping_sent_nanos.load(Ordering::Relaxed);
            let now = unix_nanos(SystemTime::now());
            self.client.meta().rtt =
                Some(std::time::Duration::from_nanos(now.saturating_sub(sent)));
        }
    }

    #[inline(never)]
    fn send_info(&mut self) {
        let json = match &self.via {
            Some(via) => via.info_json(&self.server, &self.client),
            None => self.server.client_info_json(&self.client),
        };
        let json = super::nkey_auth::info_with_nonce(json, self.nonce.as_deref());
        let mut line = Vec::with_capacity(json.len() + 7);
        encode::json_op(&mut line, "INFO", &json);
        self.push(&line);
    }

    /// Over max_connections: INFO, then the error, as nats-server.
    #[inline(never)]
    fn refuse_over_limit(&mut self) -> CloseReason {
        self.send_info();
        self.send_err("maximum connections exceeded");
        CloseReason::MaxConnectionsExceeded
    }

    fn push(&mut self, bytes: &[u8]) {
        let client = self.client.clone();
        self.fanout.out.batch.push_proto(&client, bytes);
    }

    fn ok(&mut self) {
        if self.opts.verbose {
            self.push(encode::OK);
        }
    }

    fn send_err(&mut self, text: &str) {
        let mut line = Vec::with_capacity(text.len() + 9);
        encode::err(&mut line, text);
        trace!("{} - ->> [-ERR '{text}']", self.client.log_prefix());
        self.push(&line);
    }

    fn trace_in_pub(
        &self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        if crate::server::log::trace_enabled() {
            let op = if headers.is_some() { "HPUB" } else { "PUB" };
            let size = headers.map_or(0, <[u8]>::len) + payload.len();
            let reply = reply
                .map(|r| format!(" {}", String::from_utf8_lossy(r)))
                .unwrap_or_default();
            trace!(
                "{} - <<- [{op} {}{reply} {size}]",
                self.client.log_prefix(),
                String::from_utf8_lossy(subject)
            );
            let max = self.server.opts().max_traced_msg_len;
            let shown = if max > 0 && payload.len() > max {
                &payload[..max]
            } else {
                payload
            };
            trace!(
                "{} - <<- MSG_PAYLOAD: [{:?}]",
                self.client.log_prefix(),
                String::from_utf8_lossy(shown)
            );
        }
    }

    /// End of a read batch: hand every destination its bytes, add counters.
    #[inline(never)]
    fn end_batch(&mut self) {
        let batch = &mut self.fanout.out.batch;
        batch.flush();
        let stats = &self.client.stats;
        if self.in_msgs > 0 {
            stats.in_msgs.fetch_add(self.in_msgs, Ordering::Relaxed);
            stats.in_bytes.fetch_add(self.in_bytes, Ordering::Relaxed);
        }
        self.server
            .stats
            .add_batch(self.in_msgs, self.in_bytes, batch.out_msgs, batch.out_bytes);
        if self.fanout.cache.hits > 0 {
            self.account
                .sublist
                .note_cached_matches(self.fanout.cache.hits);
            self.fanout.cache.hits = 0;
        }
        self.in_msgs = 0;
        self.in_bytes = 0;
        self.fanout.out.batch.out_msgs = 0;
        self.fanout.out.batch.out_bytes = 0;
    }

    /// The connection is over: close it, drop its subscriptions, unregister.
    #[inline(never)]
    fn finish(mut self: Box<Self>, reason: CloseReason) -> CloseReason {
        self.end_batch();
        self.client.close(reason);
        // Unregistered first, so the closed-connections record keeps its subscriptions.
        self.server.unregister(&self.client);
        let subs: Vec<Arc<Subscription>> = self.client.subs().drain().map(|(_, s)| s).collect();
        for sub in &subs {
            if self.account.sublist.remove(sub) {
                self.server.routes.interest.removed(&self.account, sub);
            }
        }
        self.fanout.cache.clear();
        let reason = self.client.meta().close_reason.unwrap_or(reason);
        debug!(
            "{} - Client connection closed: {reason}",
            self.client.log_prefix()
        );
        reason
    }
}

fn lossy(parts: &[&[u8]]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p))
        .collect::<Vec<_>>()
        .join(" ")
}
