//! A client connection (through the client port or the WebSocket
//! listener): admitted in the accept loop (registered, or refused over
//! `max_connections` before any thread exists), then served on its own
//! thread by the connection core (`conn/`), with the client protocol's op
//! handlers here: CONNECT, PUB/HPUB, SUB, UNSUB, PING/PONG.
//! Owns what no other thread touches: the client's CONNECT options, its
//! permissions and the publish-decision cache.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::account::Account;
use super::auth;
use super::client::Client;
use super::close::CloseReason;
use super::conn::inbound::{read_loop, Inbound, OpHandler, ParseResult};
use super::conn::{self, tls::TlsStart, InCounters};
use super::deliver::{remove_subscription, Batch, Fanout, Message};
use super::identity;
use super::permissions::{self, Permissions};
use super::subscription::Subscription;
use super::system::advisories;
use super::timers::TimerKind;
use super::trace;
use super::Server;
use crate::protocol::encode;
use crate::protocol::info::{ClientOptions, Connect};
use crate::protocol::parser::{parse_client_op, ClientOp, Limits, ProtocolError};
use crate::protocol::subject;
use crate::{debug, trace};

/// Size of a new connection's read buffer.
const MIN_READ_BUFFER: usize = 512;
/// The read buffer grows up to this while reads fill it.
const MAX_READ_BUFFER: usize = 64 * 1024;

/// A connection that the accept loop registered, ready for its own thread.
pub struct Admitted {
    server: Arc<Server>,
    client: Arc<Client>,
    stream: Arc<TcpStream>,
    /// How the client came, when not through the client port.
    via: Option<super::websocket::Via>,
}

/// Right after accept, before the connection is served: make the
/// connection's shared half and register it (`peer` is the address accept
/// returned). Over `max_connections` the connection is refused right here,
/// as nats-server does (INFO, then `-ERR 'maximum connections exceeded'`,
/// written without blocking into the new socket's empty send buffer), and
/// recorded as closed. `nodelay_inherited`: the listener's `TCP_NODELAY`
/// is already the socket's (see `net::nodelay_for_accepted`).
pub fn admit(
    server: &Arc<Server>,
    stream: TcpStream,
    peer: SocketAddr,
    nodelay_inherited: bool,
) -> Option<Admitted> {
    if !nodelay_inherited {
        let _ = stream.set_nodelay(true);
    }
    admit_via(server, stream, super::net::unmapped(peer), None)
}

/// [`admit`] for a connection that came through the WebSocket listener
/// (`via` says how it authenticates), before its upgrade: over
/// `max_connections` it gets an HTTP 503 instead of the upgrade.
pub fn admit_websocket(
    server: &Arc<Server>,
    stream: TcpStream,
    via: super::websocket::Via,
) -> Option<Admitted> {
    let peer = via.peer;
    let _ = stream.set_nodelay(true);
    admit_via(server, stream, peer, Some(via))
}

fn admit_via(
    server: &Arc<Server>,
    stream: TcpStream,
    addr: SocketAddr,
    via: Option<super::websocket::Via>,
) -> Option<Admitted> {
    let stream = Arc::new(stream);
    let client = conn::new_client(server, stream.clone(), addr);
    if via.is_some() {
        client.meta().websocket = true;
    }
    if server.register(&client) {
        return Some(Admitted {
            server: server.clone(),
            client,
            stream,
            via,
        });
    }
    let refusal = if via.is_some() {
        super::websocket::max_connections_refusal()
    } else {
        let json = server.client_info_json(&client);
        let mut refusal = Vec::with_capacity(json.len() + 48);
        encode::json_op(&mut refusal, "INFO", &json);
        encode::err(&mut refusal, "maximum connections exceeded");
        refusal
    };
    let _ = super::wire::send_nonblocking(&stream, &refusal);
    client.close(CloseReason::MaxConnectionsExceeded);
    server.unregister(&client);
    debug!(
        "{} - Client connection refused: maximum connections exceeded",
        client.log_prefix()
    );
    None
}

/// No thread could be started for an admitted connection: close it and
/// forget it (the listener logs the shortage once).
pub fn abandon(admitted: Admitted) {
    admitted.client.close(CloseReason::InternalError);
    admitted.server.unregister(&admitted.client);
}

impl Admitted {
    /// The connection's socket (a WebSocket connection's upgrade reads and
    /// writes it before the core serves it).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// A WebSocket connection whose upgrade failed never became a client:
/// close it and forget it (not recorded as a closed client).
pub fn withdraw(admitted: Admitted) {
    admitted.client.close(CloseReason::ClientClosed);
    admitted.server.forget(&admitted.client);
}

/// Serve an admitted WebSocket connection, `upgraded`, on the calling
/// thread until it closes; returns why it closed.
pub fn serve_websocket(admitted: Admitted, upgraded: super::websocket::Upgraded) -> CloseReason {
    run_connection(start_websocket(admitted, upgraded))
}

/// Serve an admitted connection on the calling thread until it closes;
/// returns why it closed.
pub fn serve(admitted: Admitted) -> CloseReason {
    run_connection(new_connection(admitted))
}

/// A WebSocket connection's state, its decoder installed. Not inlined:
/// what building it needs on the stack is popped before the connection
/// runs (see [`new_connection`]).
#[inline(never)]
fn start_websocket(admitted: Admitted, up: super::websocket::Upgraded) -> Box<Connection> {
    let mut conn = new_connection(admitted);
    conn.io
        .websocket(&conn.ops.client, up.tls, up.compression, up.leftover);
    conn
}

/// Run a connection until it closes, then finish it.
fn run_connection(mut conn: Box<Connection>) -> CloseReason {
    let client = conn.ops.client.clone();
    let reason = conn::run_guarded(&client, "Client", || conn.run());
    conn.finish(reason)
}

/// A connection's state, on the heap. Not inlined: the struct is built on
/// the stack before it is boxed, and that frame must be gone while the
/// connection blocks in its reads, or every idle connection keeps those
/// stack pages resident.
#[inline(never)]
fn new_connection(admitted: Admitted) -> Box<Connection> {
    let Admitted {
        server,
        client,
        stream,
        via,
    } = admitted;
    let opts = server.opts();
    let cid = client.cid;
    // Before CONNECT a client is anonymous: the global account without auth,
    // the `no_auth_user` with it, and otherwise nobody (CONNECT must come first).
    let auth = via
        .as_ref()
        .map_or_else(|| server.auth(), |v| v.auth.clone());
    let anonymous = auth.anonymous();
    let nonce = auth
        .signed
        .nonce_required()
        .then(super::nkey_auth::new_nonce);
    // On the heap: the thread's idle stack frame stays small.
    let conn = Box::new(Connection {
        io: Inbound::new(MIN_READ_BUFFER, MAX_READ_BUFFER, true),
        ops: ClientOps {
            limits: Limits {
                max_control_line: opts.max_control_line,
                max_payload: opts.max_payload,
            },
            conn_max_payload: opts.max_payload,
            auth_required: anonymous.is_none(),
            account: anonymous
                .as_ref()
                .map_or_else(|| server.global.clone(), |a| a.account.clone()),
            perms: anonymous.and_then(|a| a.permissions),
            nonce,
            user_max_subs: None,
            user_expires: None,
            pub_allowed: HashMap::new(),
            fanout: conn::new_fanout(&server, cid),
            opts: ClientOptions::default(),
            server,
            client,
            stream,
            connected: false,
            counters: InCounters::default(),
            stack: StackRelease::Pending,
            via,
            announced: None,
        },
    });
    debug!(
        "{} - Client connection created",
        conn.ops.client.log_prefix()
    );
    conn
}

/// A plain connection quiet this long after its handshake gives back the
/// stack pages the handshake touched.
const STACK_RELEASE_DELAY: Duration = Duration::from_millis(500);

/// Giving back the handshake's stack pages (see `stack.rs`): right away for
/// a connection that goes quiet, at its next read for one that keeps
/// talking, never for one that closes at once (a thread reused for the next
/// connection would only fault them in again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StackRelease {
    /// The handshake is not over, or the wait for quiet has not happened.
    Pending,
    /// Bytes came right after the handshake: release before the next read.
    Deferred,
    /// Released.
    Done,
}

/// The connection thread's state: the core's inbound side and the ops.
struct Connection {
    io: Inbound,
    ops: ClientOps,
}

/// What the client protocol's op handlers work on.
struct ClientOps {
    server: Arc<Server>,
    client: Arc<Client>,
    stream: Arc<TcpStream>,
    limits: Limits,
    /// The server's `max_payload` when the client connected (a user JWT's
    /// payload limit lowers `limits.max_payload` under it).
    conn_max_payload: usize,
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
    /// When the user's JWT expires (Unix seconds), for `$SYS.REQ.USER.INFO`.
    user_expires: Option<i64>,
    /// Publish decisions for literal subjects under `perms`.
    pub_allowed: HashMap<Box<[u8]>, bool>,
    /// Who gets each message, and the bytes staged for them.
    fanout: Fanout,
    counters: InCounters,
    /// Whether the stack the handshake touched has been given back.
    stack: StackRelease,
    /// How the client came, when not through the client port.
    via: Option<super::websocket::Via>,
    /// Its connect was announced to the system account: its disconnect
    /// will be too.
    announced: Option<Box<advisories::Announced>>,
}

impl Connection {
    fn run(&mut self) -> CloseReason {
        let ops = &mut self.ops;
        let server = ops.server.clone();
        let opts = server.opts();
        let now = Instant::now();
        // Every connection is bounded from accept: by PINGs until CONNECT
        // (below), and with auth also by the auth timeout.
        if ops.auth_required {
            let timeout = match &ops.via {
                Some(via) => via.auth_timeout,
                None => opts.effective_auth_timeout(),
            };
            let at = now + timeout;
            server
                .timers
                .schedule(at, &ops.client, TimerKind::AuthTimeout);
        }
        let tls = server.tls_config().filter(|_| ops.via.is_none());
        if let (Some(config), Some(tls_opts)) = (tls, opts.tls.as_ref()) {
            let json = server.client_info_json_with_nonce(&ops.client, ops.nonce.as_deref());
            let mut info = Vec::with_capacity(json.len() + 7);
            encode::json_op(&mut info, "INFO", &json);
            let start = conn::tls::start_client_tls(
                &ops.stream,
                &ops.client,
                &config,
                tls_opts,
                opts.allow_non_tls,
                &info,
            );
            match start {
                Err(reason) => return reason,
                Ok(TlsStart::Plain) => {}
                Ok(TlsStart::Secure { session, send_info }) => {
                    self.io.secure(&ops.client, *session);
                    if send_info {
                        ops.push(&info);
                        ops.end_batch(false);
                    }
                }
            }
        } else if !ops.send_info_direct() {
            ops.send_info();
            ops.end_batch(false);
        }
        // Bounded until CONNECT by PINGs from here (after the TLS handshake,
        // itself bounded by the TLS timeout: no plain-text PING in the
        // middle of it).
        let first_ping = opts.ping_interval.min(super::FIRST_PING_INTERVAL);
        server.timers.schedule(
            Instant::now() + first_ping,
            &ops.client,
            TimerKind::PreConnectPing,
        );
        read_loop(&mut self.io, ops)
    }

    /// The connection is over: close it, drop its subscriptions, unregister.
    #[inline(never)]
    fn finish(mut self: Box<Self>, reason: CloseReason) -> CloseReason {
        let ops = &mut self.ops;
        ops.end_batch(false);
        ops.client.close(reason);
        // Unregistered first, so the closed-connections record keeps its subscriptions.
        ops.server.unregister(&ops.client);
        let subs: Vec<Arc<Subscription>> = ops.client.subs().drain().map(|(_, s)| s).collect();
        for sub in &subs {
            if ops.account.sublist.remove(sub) {
                ops.server.routes.interest.removed(&ops.account, sub);
            }
        }
        ops.fanout.cache.clear();
        let reason = ops.client.meta().close_reason.unwrap_or(reason);
        if let Some(announced) = ops.announced.take() {
            advisories::client_disconnect(
                &ops.server,
                &ops.client,
                &ops.account,
                &announced,
                reason,
            );
        }
        debug!(
            "{} - Client connection closed: {reason}",
            ops.client.log_prefix()
        );
        reason
    }
}

impl OpHandler for ClientOps {
    type Op<'a> = ClientOp<'a>;
    const PARSE: for<'a> fn(&'a [u8], &Limits) -> ParseResult<ClientOp<'a>> = parse_client_op;

    fn limits(&self) -> &Limits {
        &self.limits
    }

    /// As nats-server, auth is checked first on a PUB/HPUB control line.
    fn awaiting_auth(&self) -> bool {
        self.auth_required && !self.connected
    }

    /// HPUB only after CONNECT said `headers`, checked before the payload.
    fn check_partial(&mut self, line: &[u8]) -> Result<(), CloseReason> {
        if !self.opts.headers && line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"HPUB") {
            return Err(CloseReason::ProtocolViolation);
        }
        Ok(())
    }

    fn staging(&mut self) -> (&Arc<Client>, &mut Batch) {
        (&self.client, &mut self.fanout.out.batch)
    }

    fn stream(&self) -> &TcpStream {
        &self.stream
    }

    #[inline]
    fn handle(&mut self, op: ClientOp<'_>) -> Result<(), CloseReason> {
        self.process(op)
    }

    fn before_read(&mut self) {
        if self.stack == StackRelease::Done || !self.connected {
            return;
        }
        // Only a plain client-port socket: through TLS or WebSocket framing
        // bytes may already wait decoded, which a poll of the socket misses.
        let plain = self.via.is_none() && self.client.tls_info.get().is_none();
        if self.stack == StackRelease::Pending
            && plain
            && super::net::readable_within(&self.stream, STACK_RELEASE_DELAY)
        {
            // Bytes (or the close) came at once: a short connection ends
            // without paying for a release, a busy one releases on its
            // next read.
            self.stack = StackRelease::Deferred;
            return;
        }
        // The handshake is over: what it touched need not stay resident.
        self.fanout.out.batch.shrink();
        super::stack::release_unused();
        self.stack = StackRelease::Done;
    }

    fn before_parse(&mut self) {
        if self.client.identity_changed.load(Ordering::Acquire) {
            self.adopt_reloaded_identity();
        }
    }

    fn end_batch(&mut self, shrunk: bool) {
        if shrunk {
            self.fanout.out.batch.shrink();
        }
        conn::end_batch(
            &mut self.fanout,
            &self.client,
            &self.server,
            Some(&self.account),
            &mut self.counters,
        );
    }

    fn log_protocol_error(&self, e: &ProtocolError) {
        match e {
            ProtocolError::BadArgs(what) => debug!("{} - {what}", self.client.log_prefix()),
            ProtocolError::PeerError(text) => {
                debug!("{} - Client Error {text}", self.client.log_prefix());
            }
            _ => {}
        }
    }
}

impl ClientOps {
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
                self.client.pong_received();
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
        let mut connect: Connect = match serde_json::from_slice(json) {
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
                self.auth_error(Some(&connect));
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
            // Moved, not copied: a copy would leave the original's blocks
            // in this thread's malloc cache for the connection's life.
            meta.name = connect.name.take().unwrap_or_default();
            meta.lang = connect.lang.take().unwrap_or_default();
            meta.version = connect.version.take().unwrap_or_default();
            meta.user = user;
        }
        self.ok();
        if first {
            self.start_pings();
            self.announced =
                advisories::client_connect(&self.server, &self.client, &self.account, &connect);
        }
        Ok(())
    }

    /// A user JWT's limits: subscriptions, payload, and a close when the
    /// JWT expires.
    fn apply_user_limits(&mut self, limits: &super::nkey_auth::UserLimits) {
        self.apply_jwt_limits(limits);
        self.user_expires = limits.expires_at;
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

    /// The client is settled: the server's PINGs start (the accept-time
    /// PINGs stop).
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
        self.counters
            .add(headers.map_or(0, <[u8]>::len) + payload.len());
        conn::test_panic_trigger(subject);
        if let Some(h) = headers.filter(|h| trace::may_request(h, self.account.msg_trace.enabled()))
        {
            if !self.start_trace(subject, h, payload.len()) {
                return;
            }
        }
        if self.opts.pedantic && !subject::is_valid_literal_subject(subject) {
            // As nats-server: the error, then still the +OK of the PUB.
            self.send_err("Invalid Publish Subject");
            self.ok();
            return;
        }
        if self.perms.is_some() && !self.may_publish(subject) {
            let text = permissions::publish_violation(subject);
            self.send_err(&text);
            if let Some(t) = self.fanout.out.trace.as_deref_mut() {
                t.ingress_error(&text);
                trace::finish(&mut self.fanout);
            }
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
        let mut delivered = self.fanout.publish(&self.account, &msg, echo_off);
        if self.fanout.out.trace.is_some() {
            trace::finish(&mut self.fanout);
        }
        if let (super::system::user_info::SUBJECT, Some(reply)) = (subject, reply) {
            delivered |= self.user_info(reply);
        }
        if !delivered && self.opts.no_responders {
            if let Some(reply) = reply {
                self.no_responders(reply);
            }
        }
    }

    /// Answer `$SYS.REQ.USER.INFO` with who this client is (see
    /// `system/user_info.rs`).
    #[inline(never)]
    fn user_info(&mut self, reply: &[u8]) -> bool {
        let body = super::system::user_info::reply(
            &self.server,
            &self.client,
            self.perms.as_deref(),
            self.user_expires,
        );
        let m = Message {
            subject: reply,
            reply: None,
            headers: None,
            payload: &body,
        };
        self.fanout.publish(&self.account, &m, None)
    }

    /// The message asks for a trace (`Nats-Trace-Dest`): start one, unless
    /// this client may not publish to the trace subject (then, as
    /// nats-server, the error and no delivery). False: drop the message.
    #[cold]
    #[inline(never)]
    fn start_trace(&mut self, subject: &[u8], headers: &[u8], payload: usize) -> bool {
        let ingress = trace::Ingress {
            kind: crate::protocol::trace::kind::CLIENT,
            cid: self.client.cid,
            name: self.client.meta().name.clone(),
            subject,
        };
        let size = headers.len() + payload;
        match trace::begin(&self.server, &self.account, headers, size, ingress) {
            trace::Begin::No => true,
            trace::Begin::Skip => false,
            trace::Begin::Trace(t) => {
                if self.perms.is_some() && !self.may_publish(t.dest().as_bytes()) {
                    let text = permissions::publish_violation(t.dest().as_bytes());
                    self.send_err(&text);
                    return false;
                }
                self.fanout.out.trace = Some(t);
                true
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
            // SeqCst, against a publisher's batch count that crosses the
            // maximum at the same time (`Subscription::add_deliveries`).
            sub.counts.max.store(max, Ordering::SeqCst);
            if sub.counts.delivered.load(Ordering::SeqCst) < max {
                return;
            }
        }
        remove_subscription(&self.client, &sub, &self.server.routes.interest);
    }

    /// Credentials refused: the system account's auth error advisory
    /// (the account is the global one until a CONNECT was accepted).
    #[cold]
    fn auth_error(&self, connect: Option<&Connect>) {
        let acc = if self.connected {
            &*self.account.name
        } else {
            super::account::GLOBAL_ACCOUNT
        };
        advisories::auth_error(&self.server, &self.client, acc, connect);
    }

    /// The first op is not CONNECT: settle as the `no_auth_user` (or as
    /// anonymous without auth), or refuse.
    #[inline(never)]
    fn settle_first_op(&mut self) -> Result<(), CloseReason> {
        let Some(identity) = identity::settle_first_op(&self.server, &self.client) else {
            self.send_err("Authorization Violation");
            self.auth_error(None);
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

    /// The subscription and payload limits of a user JWT (and its
    /// account's), under the server's `max_payload` of the connect.
    fn apply_jwt_limits(&mut self, limits: &super::nkey_auth::UserLimits) {
        self.user_max_subs = limits.max_subs;
        self.limits.max_payload = limits
            .max_payload
            .map_or(self.conn_max_payload, |max| self.conn_max_payload.min(max));
    }

    /// A reload (or a pushed account JWT) changed this client's
    /// permissions or its JWT's limits.
    #[inline(never)]
    fn adopt_reloaded_identity(&mut self) {
        if let Some((identity, limits)) = self.client.take_identity_update() {
            self.perms = identity.permissions;
            self.pub_allowed.clear();
            self.apply_jwt_limits(&limits);
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

    /// A plain connection's first INFO, written straight to its socket
    /// (nothing else has written to it yet) from a buffer on the stack:
    /// no heap block is allocated and freed on the connection's thread,
    /// where the freed block would stay in the thread's malloc cache for
    /// the life of an idle connection. False when the INFO must go the
    /// usual way (no template, a nonce, or a line too long for the buffer).
    #[inline(never)]
    fn send_info_direct(&mut self) -> bool {
        if self.via.is_some() || self.nonce.is_some() {
            return false;
        }
        let Some(template) = self.server.info_template() else {
            return false;
        };
        let mut line = [0u8; 2048];
        let Some(n) = template.write_line_into(&mut line, self.client.cid, self.client.addr.ip())
        else {
            return false;
        };
        // A failed socket shows at the next read, which closes the connection.
        if let Ok(sent) = super::wire::send_nonblocking(&self.stream, &line[..n]) {
            if sent < n {
                self.push(&line[sent..n]);
                self.end_batch(false);
            }
        }
        true
    }

    #[inline(never)]
    fn send_info(&mut self) {
        if self.via.is_none() && self.nonce.is_none() {
            let (server, client) = (&self.server, &self.client);
            let batch = &mut self.fanout.out.batch;
            batch.push_proto_with(client, |buf| server.write_client_info_line(client, buf));
            return;
        }
        let json = match &self.via {
            Some(via) => via.info_json(&self.server, &self.client),
            None => self.server.client_info_json(&self.client),
        };
        let json = super::nkey_auth::info_with_nonce(json, self.nonce.as_deref());
        let mut line = Vec::with_capacity(json.len() + 7);
        encode::json_op(&mut line, "INFO", &json);
        self.push(&line);
    }

    fn ok(&mut self) {
        if self.opts.verbose {
            self.push(encode::OK);
        }
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
}

fn lossy(parts: &[&[u8]]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p))
        .collect::<Vec<_>>()
        .join(" ")
}
