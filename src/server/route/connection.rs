//! One route connection's thread, accepted or solicited.
//!
//! The acceptor sends its INFO at once; the solicitor sends CONNECT and
//! INFO at once (neither waits for the other, spec §6). The peer's first
//! INFO completes the handshake: a route to ourselves, a cluster name that
//! does not match, a duplicate server name or a second route to the same
//! server are closed silently; otherwise the route is registered, our
//! interest is dumped to it, its INFO is forwarded to the other routes and
//! clients learn its client URLs. Then: `RS+`/`RS-` maintain the peer's
//! interest in our subject index (as remote subscriptions delivering to
//! this connection), `RMSG`/`HMSG` go to local subscribers only, PINGs are
//! answered, and a later INFO from the peer updates it (lame duck mode,
//! client URLs) while an INFO about another server may make us dial it.
//!
//! Input is bounded: a control line of at most [`MAX_ROUTE_CONTROL_LINE`],
//! a message of at most [`MAX_ROUTE_PAYLOAD`], at most
//! [`MAX_REMOTE_SUBS`] remote subscriptions. Nothing a peer sends panics.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::gossip::{self, RouteConnect, RouteInfo};
use super::{Dial, Outcome, Refused, Route, ROUTE_FIRST_PING};
use crate::protocol::encode;
use crate::protocol::parser::{Limits, ProtocolError};
use crate::protocol::route::{parse_route_op, RouteOp, RoutedMsg};
use crate::protocol::subject;
use crate::server::account::Account;
use crate::server::auth::user_and_password_match;
use crate::server::client::Client;
use crate::server::close::CloseReason;
use crate::server::conn::inbound::{read_loop, Inbound, OpHandler, ParseResult};
use crate::server::conn::{self, InCounters};
use crate::server::deliver::{Batch, Fanout, Message};
use crate::server::leaf::interest::{cluster_id, Origin};
use crate::server::subscription::Subscription;
use crate::server::timers::TimerKind;
use crate::server::trace;
use crate::server::{Server, INFO_VERSION};
use crate::{debug, notice, trace, warn};

/// The longest route control line we accept (nats-server has no limit).
pub const MAX_ROUTE_CONTROL_LINE: usize = 64 * 1024;
/// The largest routed message we accept (nats-server has no limit).
pub const MAX_ROUTE_PAYLOAD: usize = 64 * 1024 * 1024;
/// The most remote subscriptions one route may hold.
pub const MAX_REMOTE_SUBS: usize = 1 << 20;
/// Route protocol level we speak: 3, message tracing (nats-server 2.11+),
/// over 2, accounts; peers compare it with `>=` only (2.9.10 included).
const ROUTE_PROTO: i32 = crate::server::trace::TRACE_PROTO;
/// Size of a new route's read buffer.
const MIN_READ_BUFFER: usize = 4096;
/// A route's read buffer grows up to this while reads fill it.
const MAX_READ_BUFFER: usize = 256 * 1024;

/// Our route INFO JSON.
pub fn route_info_json(server: &Server) -> Vec<u8> {
    let opts = server.opts();
    let routes = &server.routes;
    let Some(c) = routes.opts() else {
        return Vec::new();
    };
    let listen_port = routes.listen_addr().map_or(c.port, |a| a.port());
    let (host, port, ip) = match &c.advertise {
        Some(a) => {
            let a = a
                .trim_start_matches("nats-route://")
                .trim_start_matches("nats://");
            let a = a.trim_end_matches('/');
            let (h, p) = match crate::conf::parse_route_url_flag(&format!("nats://{a}")) {
                Ok(r) => (r.host, r.port.unwrap_or(listen_port)),
                Err(_) => (a.to_string(), listen_port),
            };
            let shown = crate::server::net::display_addr(&h, p);
            (h, p, Some(format!("nats-route://{shown}/")))
        }
        None => (c.host.clone(), listen_port, None),
    };
    let info = RouteInfo {
        server_id: server.id.clone(),
        server_name: server.name.clone(),
        version: INFO_VERSION.to_string(),
        proto: ROUTE_PROTO,
        host,
        port,
        headers: !opts.no_header_support,
        auth_required: c.auth_required(),
        tls_required: routes.tls().0,
        tls_verify: routes.tls().1,
        max_payload: opts.max_payload as i64,
        ip,
        cluster: routes.name(),
        cluster_dynamic: routes.is_dynamic(),
        connect_urls: if c.no_advertise {
            Vec::new()
        } else {
            server.own_client_urls()
        },
        ldm: routes.in_lame_duck(),
        leafnode_urls: crate::server::leaf::own_url(server).into_iter().collect(),
        lnoc: true,
        monitor_url: super::discovery::advertised(routes),
    };
    serde_json::to_vec(&info).unwrap_or_default()
}

fn route_connect_json(server: &Server, dial: &Dial) -> Vec<u8> {
    let c = RouteConnect {
        echo: true,
        verbose: false,
        pedantic: false,
        user: dial.user.clone(),
        pass: dial.password.clone(),
        tls_required: server.routes.tls().0,
        headers: !server.opts().no_header_support,
        name: server.id.clone(),
        cluster: server.routes.name(),
        cluster_dynamic: server.routes.is_dynamic(),
        lang: None,
        gateway: None,
    };
    serde_json::to_vec(&c).unwrap_or_default()
}

/// Serve one route connection until it closes; `dial` is set when we
/// solicited it, `tls` when the route's TLS handshake is done (the
/// connection's own thread then decrypts, as for clients).
/// `addr` is the peer's address.
pub fn run(
    server: Arc<Server>,
    stream: TcpStream,
    addr: SocketAddr,
    dial: Option<Dial>,
    tls: Option<rustls::Connection>,
) -> Outcome {
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let copts = server.routes.opts().cloned().unwrap_or_default();
    let client = conn::new_client(&server, stream.clone(), addr);
    let cid = client.cid;
    let mut io = Inbound::new(MIN_READ_BUFFER, MAX_READ_BUFFER, false);
    if let Some(session) = tls {
        io.secure(&client, session);
    }
    let auth_required = dial.is_none() && copts.auth_required();
    let mut conn = Box::new(RouteConn {
        io,
        ops: RouteOps {
            fanout: conn::new_fanout(&server, cid),
            server,
            client,
            stream,
            dial,
            auth_required,
            connect_seen: false,
            route: None,
            outcome: Outcome::default(),
            limits: Limits {
                max_control_line: MAX_ROUTE_CONTROL_LINE,
                max_payload: MAX_ROUTE_PAYLOAD,
            },
            last_account: None,
            counters: InCounters::default(),
        },
    });
    debug!(
        "{} - Route connection accepted or dialled",
        conn.ops.prefix()
    );
    let client = conn.ops.client.clone();
    let reason = conn::run_guarded(&client, "Route", || conn.run(&copts));
    conn.finish(reason)
}

/// A route connection's thread state: the core's inbound side and the ops.
struct RouteConn {
    io: Inbound,
    ops: RouteOps,
}

/// What the route protocol's op handlers work on.
struct RouteOps {
    server: Arc<Server>,
    client: Arc<Client>,
    stream: Arc<TcpStream>,
    /// Set when we dialled.
    dial: Option<Dial>,
    /// We accepted it and routes must authenticate: CONNECT comes first.
    auth_required: bool,
    connect_seen: bool,
    /// Set once registered.
    route: Option<Arc<Route>>,
    outcome: Outcome,
    limits: Limits,
    last_account: Option<Arc<Account>>,
    fanout: Fanout,
    counters: InCounters,
}

impl RouteConn {
    fn run(&mut self, copts: &crate::server::ClusterOptions) -> CloseReason {
        let ops = &mut self.ops;
        let now = Instant::now();
        let jitter = Duration::from_millis(ops.fanout.out.rng.below(200) as u64);
        ops.server.timers.schedule(
            now + ROUTE_FIRST_PING + jitter,
            &ops.client,
            TimerKind::RoutePing,
        );
        if ops.auth_required {
            ops.server.timers.schedule(
                now + copts.auth_timeout,
                &ops.client,
                TimerKind::AuthTimeout,
            );
        } else {
            ops.client.connected.store(true, Ordering::Release);
        }
        let mut first = Vec::new();
        if let Some(dial) = &ops.dial {
            encode::json_op(
                &mut first,
                "CONNECT",
                &route_connect_json(&ops.server, dial),
            );
        }
        encode::json_op(&mut first, "INFO", &route_info_json(&ops.server));
        ops.push(&first);
        ops.end_batch(false);
        read_loop(&mut self.io, ops)
    }

    /// The connection is over: unregister, drop the peer's interest, tell
    /// clients, and say how it ended.
    fn finish(mut self: Box<Self>, reason: CloseReason) -> Outcome {
        self.ops.finish(reason)
    }
}

impl OpHandler for RouteOps {
    type Op<'a> = RouteOp<'a>;
    const PARSE: for<'a> fn(&'a [u8], &Limits) -> ParseResult<RouteOp<'a>> = parse_route_op;

    /// Accepted routes that must authenticate send CONNECT first.
    fn awaiting_auth(&self) -> bool {
        self.auth_required && !self.connect_seen
    }

    fn handle(&mut self, op: RouteOp<'_>) -> Result<(), CloseReason> {
        self.process(op)
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn staging(&mut self) -> (&Arc<Client>, &mut Batch) {
        (&self.client, &mut self.fanout.out.batch)
    }

    fn stream(&self) -> &TcpStream {
        &self.stream
    }

    fn end_batch(&mut self, _shrunk: bool) {
        conn::end_batch(
            &mut self.fanout,
            &self.client,
            &self.server,
            self.last_account.as_deref(),
            &mut self.counters,
        );
    }

    fn log_protocol_error(&self, e: &ProtocolError) {
        match e {
            ProtocolError::BadArgs(what) => {
                debug!("{} - Route protocol error: {what}", self.prefix());
            }
            ProtocolError::PeerError(text) if text.contains("dedicated route") => {
                // A 2.10+ peer's extra pinned-account connection (spec §15):
                // expected with every such peer, the main route is unaffected.
                debug!("{} - Route Error {text}", self.prefix());
            }
            ProtocolError::PeerError(text) => {
                warn!("{} - Route Error {text}", self.prefix());
            }
            _ => {}
        }
    }
}

impl RouteOps {
    fn prefix(&self) -> String {
        format!("{} - rid:{}", self.client.addr, self.client.cid)
    }

    fn process(&mut self, op: RouteOp<'_>) -> Result<(), CloseReason> {
        if self.auth_required && !self.connect_seen && !matches!(op, RouteOp::Connect(_)) {
            self.send_err("Authorization Violation");
            return Err(CloseReason::AuthenticationViolation);
        }
        match op {
            RouteOp::Connect(json) => self.process_connect(json)?,
            RouteOp::Info(json) => self.process_info(json)?,
            RouteOp::Ping => {
                trace!("{} - <<- [PING]", self.prefix());
                self.push(encode::PONG);
            }
            RouteOp::Pong => self.client.pong_received(),
            RouteOp::Ok | RouteOp::AccountInterest => {}
            RouteOp::Sub {
                account,
                subject,
                queue,
                origin,
            } => {
                if self.route.is_some() {
                    self.remote_sub(account, subject, queue, origin);
                }
            }
            RouteOp::Unsub {
                account,
                subject,
                queue,
            } => {
                if self.route.is_some() {
                    self.remote_unsub(account, subject, queue);
                }
            }
            RouteOp::Msg(m) => {
                if self.route.is_some() {
                    self.routed_msg(&m);
                }
            }
            RouteOp::OriginMsg { origin, msg } => {
                if self.route.is_some() {
                    // Never back into the leaf cluster it came from.
                    let cluster = String::from_utf8_lossy(origin);
                    self.fanout.out.leaf_cluster = cluster_id(&cluster);
                    self.routed_msg(&msg);
                    self.fanout.out.leaf_cluster = 0;
                }
            }
        }
        Ok(())
    }

    fn process_connect(&mut self, json: &[u8]) -> Result<(), CloseReason> {
        if self.dial.is_some() || self.connect_seen {
            return Ok(());
        }
        let c: RouteConnect = match serde_json::from_slice(json) {
            Ok(c) if json.first() == Some(&b'{') => c,
            _ => {
                debug!("{} - bad route CONNECT", self.prefix());
                return Err(CloseReason::ProtocolViolation);
            }
        };
        if c.lang.is_some() {
            self.send_err("attempted to connect to route port");
            return Err(CloseReason::WrongPort);
        }
        if let Some(g) = &c.gateway {
            self.send_err(&format!(
                "Rejecting connection from gateway \"{g}\" on the Route port"
            ));
            return Err(CloseReason::WrongPort);
        }
        if self.auth_required && !self.credentials_match(&c) {
            crate::log_error!("{} - authentication error", self.prefix());
            self.send_err("Authorization Violation");
            return Err(CloseReason::AuthenticationViolation);
        }
        let ours = self.server.routes.name();
        if !c.cluster.is_empty() && c.cluster != ours {
            if self.should_adopt(&c.cluster, c.cluster_dynamic) {
                self.server
                    .routes
                    .adopt_name(&c.cluster, self.client.cid, !c.cluster_dynamic);
            } else {
                self.send_err(&format!(
                    "Rejecting connection, cluster name \"{}\" does not match \"{ours}\"",
                    c.cluster
                ));
                return Err(CloseReason::ClusterNameConflict);
            }
        }
        self.connect_seen = true;
        // The auth timer stops here, as for clients.
        self.client.connect_seen.store(true, Ordering::Release);
        self.client.connected.store(true, Ordering::Release);
        if !c.name.is_empty() {
            self.outcome.remote_id = Some(c.name);
        }
        Ok(())
    }

    fn credentials_match(&self, c: &RouteConnect) -> bool {
        let Some(opts) = self.server.routes.opts() else {
            return false;
        };
        user_and_password_match(
            (opts.user.as_deref(), opts.password.as_deref()),
            (c.user.as_deref(), c.pass.as_deref()),
        )
    }

    /// A dynamic cluster name gives way to a configured one, or to a
    /// dynamic one that sorts higher (nats-server's rule).
    fn should_adopt(&self, theirs: &str, theirs_dynamic: bool) -> bool {
        let routes = &self.server.routes;
        routes.is_dynamic() && (!theirs_dynamic || routes.name().as_str() < theirs)
    }

    fn process_info(&mut self, json: &[u8]) -> Result<(), CloseReason> {
        let info: RouteInfo = match serde_json::from_slice(json) {
            Ok(i) if json.first() == Some(&b'{') => i,
            _ => {
                debug!("{} - bad route INFO", self.prefix());
                return Err(CloseReason::ProtocolViolation);
            }
        };
        if let Some(route) = self.route.clone() {
            if info.server_id == route.remote_id {
                self.peer_updated(&route, info);
            } else {
                self.gossip_received(&info);
            }
            return Ok(());
        }
        if info.server_id.is_empty() {
            return Err(CloseReason::ProtocolViolation);
        }
        if info.server_id == self.server.id {
            self.outcome.to_self = true;
            debug!("{} - Detected route to self, ignoring", self.prefix());
            return Err(CloseReason::DuplicateRoute);
        }
        self.outcome.remote_id = Some(info.server_id.clone());
        let ours = self.server.routes.name();
        if !info.cluster.is_empty() && info.cluster != ours {
            if self.should_adopt(&info.cluster, info.cluster_dynamic) {
                self.server.routes.adopt_name(
                    &info.cluster,
                    self.client.cid,
                    !info.cluster_dynamic,
                );
            } else {
                crate::log_error!(
                    "{} - Rejecting connection, cluster name \"{}\" does not match \"{ours}\"",
                    self.prefix(),
                    info.cluster
                );
                return Err(CloseReason::ClusterNameConflict);
            }
        }
        if self.dial.is_none()
            && !info.server_name.is_empty()
            && info.server_name == self.server.name
        {
            crate::log_error!(
                "{} - Remote server has a duplicate name: \"{}\"",
                self.prefix(),
                info.server_name
            );
            return Err(CloseReason::DuplicateServerName);
        }
        let headers = info.headers && !self.server.opts().no_header_support;
        self.client.headers.store(headers, Ordering::Relaxed);
        self.client.lnoc.store(info.lnoc, Ordering::Relaxed);
        {
            let mut meta = self.client.meta();
            meta.name = info.server_name.clone();
        }
        // Our own queued bytes (INFO, PONGs) go out before the interest dump.
        self.end_batch(false);
        let solicited = self.dial.is_some();
        let configured = self.dial.as_ref().is_some_and(|d| d.configured);
        let route = match self
            .server
            .routes
            .register(&self.client, &info, solicited, configured)
        {
            Ok(r) => r,
            Err(Refused::Duplicate) => {
                self.outcome.duplicate = true;
                debug!(
                    "{} - Detected duplicate remote route \"{}\"",
                    self.prefix(),
                    info.server_id
                );
                return Err(CloseReason::DuplicateRoute);
            }
        };
        self.client.connected.store(true, Ordering::Release);
        self.outcome.registered = true;
        self.route = Some(route);
        notice!("{} - Route connection created", self.prefix());
        self.forward_to_others(&info);
        if !info.connect_urls.is_empty() {
            super::notify_clients(&self.server);
        }
        Ok(())
    }

    /// Tell every other route about the new peer (gossip, spec §10.1).
    fn forward_to_others(&mut self, info: &RouteInfo) {
        let others: Vec<Arc<Route>> = self
            .server
            .routes
            .list()
            .into_iter()
            .filter(|r| r.client.cid != self.client.cid)
            .collect();
        if others.is_empty() {
            return;
        }
        let fwd = gossip::forwarded(info, self.client.addr);
        let Ok(json) = serde_json::to_vec(&fwd) else {
            return;
        };
        let mut line = Vec::new();
        encode::json_op(&mut line, "INFO", &json);
        for r in others {
            let _ = r.client.queue_and_flush(&mut line.clone(), 0, 0);
        }
    }

    /// A later INFO from the peer itself: lame duck mode, new client URLs.
    fn peer_updated(&mut self, route: &Route, info: RouteInfo) {
        let changed = {
            let mut cur = route.info.lock().unwrap_or_else(|e| e.into_inner());
            let changed = cur.ldm != info.ldm || cur.connect_urls != info.connect_urls;
            *cur = info;
            changed
        };
        if changed {
            super::notify_clients(&self.server);
        }
    }

    /// An INFO about another server: dial it unless we know it already.
    fn gossip_received(&mut self, info: &RouteInfo) {
        let routes = &self.server.routes;
        if info.server_id == self.server.id || routes.is_connected(&info.server_id) {
            return;
        }
        let Some(url) = &info.ip else {
            return;
        };
        let Some((host, port)) = gossip::url_host_port(url) else {
            return;
        };
        if routes.is_configured(&host, port) {
            return;
        }
        debug!("{} - Learnt of route {url} by gossip", self.prefix());
        super::solicit_implicit(
            &self.server,
            info.server_id.clone(),
            url.clone(),
            info.auth_required,
        );
    }

    /// The account named in a route op, when we have it (`$SYS` and
    /// accounts we do not have are ignored).
    fn account(&mut self, name: &[u8]) -> Option<Arc<Account>> {
        if let Some(a) = &self.last_account {
            if a.name.as_bytes() == name {
                return Some(a.clone());
            }
        }
        let a = self.server.account(std::str::from_utf8(name).ok()?)?;
        self.last_account = Some(a.clone());
        Some(a)
    }

    /// `RS+`, or `LS+` from `origin` (a leaf cluster): such interest is
    /// not told to that cluster's leaves, nor sent its messages. Keyed
    /// without the origin, as nats-server 2.9.10 does (its `LS-` has none).
    fn remote_sub(
        &mut self,
        account: &[u8],
        subject_: &[u8],
        queue: Option<(&[u8], u32)>,
        origin: Option<&[u8]>,
    ) {
        let Some(acc) = self.account(account) else {
            trace!(
                "{} - Unknown account {:?} for remote subject",
                self.prefix(),
                String::from_utf8_lossy(account)
            );
            return;
        };
        if !subject::is_valid_subject(subject_)
            || queue.is_some_and(|(q, _)| !subject::is_valid_subject(q))
        {
            debug!("{} - Invalid remote subscription", self.prefix());
            return;
        }
        let key = sub_key(account, subject_, queue.map(|q| q.0));
        let mut subs = self.client.subs();
        if let Some(existing) = subs.get(key.as_slice()) {
            if let Some((_, weight)) = queue {
                existing.weight.store(weight, Ordering::Relaxed);
            }
            return;
        }
        if subs.len() >= MAX_REMOTE_SUBS {
            drop(subs);
            warn!(
                "{} - Too many remote subscriptions, ignoring more",
                self.prefix()
            );
            return;
        }
        let mut sub = Subscription::remote(
            self.client.clone(),
            subject_,
            queue.map(|q| q.0),
            &key,
            queue.map_or(1, |q| q.1),
        );
        sub.leaf_cluster = origin.map_or(0, |o| cluster_id(&String::from_utf8_lossy(o)));
        let sub = Arc::new(sub);
        subs.insert(key.into(), sub.clone());
        drop(subs);
        acc.sublist.insert(sub.clone());
        self.server
            .routes
            .interest
            .leaves
            .changed(&acc, &sub, Origin::of_route(&sub), true);
    }

    fn remote_unsub(&mut self, account: &[u8], subject_: &[u8], queue: Option<&[u8]>) {
        let Some(acc) = self.account(account) else {
            return;
        };
        let key = sub_key(account, subject_, queue);
        let removed = self.client.subs().remove(key.as_slice());
        if let Some(sub) = removed {
            self.withdraw(&acc, &sub);
        }
    }

    /// Take a subscription of the peer out of `acc`'s index and tell our
    /// leafnodes the interest went (if it was the last of its kind).
    fn withdraw(&self, acc: &Arc<Account>, sub: &Arc<Subscription>) {
        if acc.sublist.remove(sub) {
            self.server
                .routes
                .interest
                .leaves
                .changed(acc, sub, Origin::of_route(sub), false);
        }
    }

    fn routed_msg(&mut self, m: &RoutedMsg<'_>) {
        self.counters
            .add(m.headers.map_or(0, <[u8]>::len) + m.payload.len());
        let Some(acc) = self.account(m.account) else {
            return;
        };
        let msg = Message {
            subject: m.subject,
            reply: m.reply,
            headers: m.headers,
            payload: m.payload,
        };
        if let Some(h) = m
            .headers
            .filter(|h| trace::may_request(h, acc.msg_trace.enabled()))
        {
            let ingress = trace::Ingress {
                kind: crate::protocol::trace::kind::ROUTER,
                cid: self.client.cid,
                name: self
                    .route
                    .as_ref()
                    .map(|r| r.remote_name.clone())
                    .unwrap_or_default(),
                subject: m.subject,
            };
            let size = h.len() + m.payload.len();
            match trace::begin(&self.server, &acc, h, size, ingress) {
                trace::Begin::No => {}
                trace::Begin::Skip => return,
                trace::Begin::Trace(t) => {
                    self.fanout.out.trace = Some(t);
                    self.fanout.publish_routed(&acc, &msg, m.queues);
                    trace::finish(&mut self.fanout);
                    return;
                }
            }
        }
        self.fanout.publish_routed(&acc, &msg, m.queues);
    }

    /// The connection is over: unregister, drop the peer's interest, tell
    /// clients, and say how it ended.
    fn finish(&mut self, reason: CloseReason) -> Outcome {
        self.end_batch(false);
        self.client.close(reason);
        let reason = self.client.meta().close_reason.unwrap_or(reason);
        if let Some(route) = self.route.take() {
            self.server.routes.unregister(&route);
            notice!("{} - Router connection closed: {reason}", self.prefix());
            if !route.info().connect_urls.is_empty() {
                super::notify_clients(&self.server);
            }
        } else {
            debug!("{} - Route connection closed: {reason}", self.prefix());
        }
        let subs: Vec<(Box<[u8]>, Arc<Subscription>)> = self.client.subs().drain().collect();
        for (key, sub) in subs {
            let acc = key.split(|&b| b == b' ').next().unwrap_or_default();
            if let Some(acc) = self.account(acc) {
                self.withdraw(&acc, &sub);
            }
        }
        self.fanout.cache.clear();
        self.last_account = None;
        std::mem::take(&mut self.outcome)
    }
}

/// A remote subscription's key: `<acc> <subject>[ <queue>]`.
fn sub_key(account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Vec<u8> {
    let mut key =
        Vec::with_capacity(account.len() + subject.len() + 2 + queue.map_or(0, <[u8]>::len));
    key.extend_from_slice(account);
    key.push(b' ');
    key.extend_from_slice(subject);
    if let Some(q) = queue {
        key.push(b' ');
        key.extend_from_slice(q);
    }
    key
}
