//! One leaf connection's thread, accepted (we are the hub) or solicited
//! (we are the leaf), on the shared connection core.
//!
//! Accepted: our INFO goes out at once (with a nonce, the connection id
//! and our leafnode URL), then the TLS handshake when the listener has
//! TLS; the leaf's CONNECT is authenticated (the `leafnodes` block's own
//! authorization, else the server's) and binds the connection to the
//! user's account; we answer with a second INFO (`connect_info`) and our
//! interest. Solicited: the hub's INFO is read first (a port that is not a
//! leafnode port is refused, as nats-server does), TLS when either side
//! asks for it, then our CONNECT; the hub's second INFO completes it.
//!
//! Roles: the soliciting side is the spoke (the leaf) unless its remote
//! says `hub: true`; then the accepting side is the spoke (nats-server's
//! `is_hub` in CONNECT).
//!
//! Then on both sides: `LS+`/`LS-` keep the peer's interest in the bound
//! account's index (remote subscriptions delivering to this connection),
//! `LMSG`/`HMSG` are published as from a client that never gets its own
//! messages back, PINGs are answered. A peer announcing our own loop
//! detection subject closes the connection with nats-server's
//! "Loop detected" error (the soliciting side then waits 30 s).
//!
//! A remote's deny lists are the solicited connection's permissions, as
//! nats-server's `newLeafNodeCfg` makes them: `deny_imports` (subscribe
//! deny) hides our interest in those subjects from the hub and drops its
//! messages on them; `deny_exports` (publish deny) ignores the hub's
//! interest they cover and holds back our messages on them where a
//! wildcard of the hub's only overlaps them.
//!
//! Input is bounded, unlike nats-server's leaf connections: a control line
//! of at most [`MAX_LEAF_CONTROL_LINE`], a message of at most
//! [`MAX_LEAF_PAYLOAD`] (or the client limits when larger), at most
//! `MAX_LEAF_SUBS` subscriptions. Nothing a peer sends panics.

use std::cell::Cell;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::interest::{cluster_id, Origin};
use super::{read_info_line, Leaf, Outcome};
use crate::protocol::encode;
use crate::protocol::info::Connect;
use crate::protocol::leaf::{parse_leaf_op, LeafConnect, LeafInfo, LeafOp};
use crate::protocol::parser::{Limits, ProtocolError};
use crate::protocol::peer::PeerMsg;
use crate::protocol::subject;
use crate::server::account::Account;
use crate::server::auth::Authenticator;
use crate::server::client::Client;
use crate::server::close::CloseReason;
use crate::server::conn::inbound::{read_loop, Inbound, OpHandler, ParseResult};
use crate::server::conn::tls::complete_handshake;
use crate::server::conn::{self, InCounters};
use crate::server::deliver::{Batch, Fanout, Message};
use crate::server::nkey_auth::Verdict;
use crate::server::options::{LeafRemote, RouteTarget};
use crate::server::permissions::{Permissions, SubjectRules};
use crate::server::subscription::{LeafSide, Subscription};
use crate::server::timers::TimerKind;
use crate::server::trace;
use crate::server::{Server, INFO_GO, INFO_VERSION};
use crate::{debug, log_error, notice, trace, warn};

/// Size of a new leaf connection's read buffer.
const MIN_READ_BUFFER: usize = 4096;
/// A leaf connection's read buffer grows up to this while reads fill it.
const MAX_READ_BUFFER: usize = 256 * 1024;
/// The longest leaf control line we accept (nats-server has no limit on
/// leaf connections; the client limit is raised to this).
pub const MAX_LEAF_CONTROL_LINE: usize = 64 * 1024;
/// The largest leaf message we accept (nats-server has no limit).
pub const MAX_LEAF_PAYLOAD: usize = 64 * 1024 * 1024;
/// The most remote subscriptions one leaf connection may hold.
const MAX_LEAF_SUBS: usize = 1 << 20;
/// The first PING comes after about this long.
const FIRST_PING: Duration = Duration::from_secs(1);

/// The write deadline of leaf connections (`leafnodes { write_deadline }`).
fn leaf_write_deadline(server: &Server) -> Option<Duration> {
    server
        .opts()
        .leafnodes
        .as_ref()
        .and_then(|l| l.write_deadline)
}

/// Serve a connection accepted on the leafnode port.
pub fn accepted(server: Arc<Server>, stream: TcpStream, addr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let client =
        conn::new_client_with_deadline(&server, stream.clone(), addr, leaf_write_deadline(&server));
    let nonce = crate::server::nkey_auth::new_nonce();
    let mut line = Vec::new();
    encode::json_op(
        &mut line,
        "INFO",
        &hub_info_json(&server, client.cid, Some(&nonce), None),
    );
    if (&*stream).write_all(&line).is_err() {
        return;
    }
    let mut io = Inbound::new(MIN_READ_BUFFER, MAX_READ_BUFFER, false);
    if let Some(cfg) = server.leafs.tls.get() {
        let timeout = server
            .opts()
            .leafnodes
            .as_ref()
            .and_then(|l| l.tls.as_ref().map(|t| t.timeout))
            .unwrap_or(crate::server::options::TLS_TIMEOUT);
        let session = rustls::ServerConnection::new(cfg.clone()).map(|mut c| {
            c.set_buffer_limit(None);
            c
        });
        let mut session = match session {
            Ok(s) => s,
            Err(e) => {
                log_error!("{addr} - leafnode TLS error: {e}");
                return;
            }
        };
        if let Err(e) = complete_handshake(&mut session, &stream, Instant::now() + timeout) {
            log_error!("{addr} - TLS leafnode handshake error: {e}");
            return;
        }
        io.secure(&client, rustls::Connection::Server(session));
    }
    let ops = LeafOps::new(server, client, stream, false, Some(nonce));
    run(io, ops, Vec::new());
}

/// Serve a connection we dialled to a hub of `remote` at `target`.
pub fn solicited(
    server: Arc<Server>,
    stream: TcpStream,
    addr: SocketAddr,
    remote: &LeafRemote,
    target: &RouteTarget,
) -> Outcome {
    let _ = stream.set_nodelay(true);
    let url = crate::server::net::display_addr(&target.host, target.port);
    let info = match read_info_line(&stream, remote.first_info_timeout) {
        Ok(line) => line,
        Err(e) => {
            log_error!("{url} - Error reading the leafnode INFO: {e}");
            return Outcome::default();
        }
    };
    let info: Option<LeafInfo> = info
        .strip_prefix(b"INFO ")
        .and_then(|json| serde_json::from_slice(json).ok());
    let Some(info) = info.filter(|i| i.cid != 0 && i.leafnode_urls.is_some()) else {
        log_error!("{url} - attempted to connect to wrong port");
        return Outcome::default();
    };
    let Some(account) = server.account(&remote.account) else {
        log_error!(
            "Unable to lookup account {} for solicited leafnode connection",
            remote.account
        );
        return Outcome::default();
    };
    let stream = Arc::new(stream);
    let client =
        conn::new_client_with_deadline(&server, stream.clone(), addr, leaf_write_deadline(&server));
    client.set_account(account);
    let mut io = Inbound::new(MIN_READ_BUFFER, MAX_READ_BUFFER, false);
    if info.tls_required || remote.tls.is_some() {
        match client_tls(remote, &target.host, &stream) {
            Ok(session) => io.secure(&client, session),
            Err(e) => {
                log_error!("{url} - TLS leafnode handshake error: {e}");
                return Outcome::default();
            }
        }
    }
    let connect = match leaf_connect_json(&server, remote, target, info.nonce.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            log_error!("{url} - {e}");
            return Outcome::default();
        }
    };
    let mut first = Vec::new();
    encode::json_op(&mut first, "CONNECT", &connect);
    let mut ops = LeafOps::new(server, client, stream, true, None);
    if remote.hub {
        ops.spoke = false;
        ops.fanout.out.from_hub = false;
    }
    ops.remote_id = info.server_id.clone();
    ops.remote_name = info.server_name.clone();
    ops.remote_account = info.remote_account.clone();
    ops.remote_cluster = info.cluster.clone();
    ops.headers = info.headers;
    ops.peer_proto = info.proto;
    ops.wait_connect_info = info.info_on_connect;
    ops.hub_urls = info.leafnode_urls.clone().unwrap_or_default();
    if !remote.deny_imports.is_empty() {
        ops.import_deny = Some(Arc::new(SubjectRules::new(
            None,
            remote.deny_imports.clone(),
        )));
    }
    if !remote.deny_exports.is_empty() {
        ops.export_deny = Some(Arc::new(Permissions {
            subscribe: Some(SubjectRules::new(None, remote.deny_exports.clone())),
            ..Permissions::default()
        }));
    }
    run(io, ops, first)
}

fn client_tls(
    remote: &LeafRemote,
    host: &str,
    stream: &TcpStream,
) -> std::io::Result<rustls::Connection> {
    let opts = remote.tls.clone().unwrap_or(crate::tls::TlsOptions {
        required: true,
        ..Default::default()
    });
    let other = |e: String| std::io::Error::other(e);
    let cfg = crate::tls::client_config(&opts).map_err(other)?;
    let name = crate::tls::server_name(host).map_err(other)?;
    let mut session = rustls::ClientConnection::new(cfg, name).map_err(std::io::Error::other)?;
    session.set_buffer_limit(None);
    complete_handshake(&mut session, stream, Instant::now() + remote.tls_timeout)?;
    Ok(rustls::Connection::Client(session))
}

/// Our CONNECT to a hub: who we are, our account, and the credentials of
/// the URL (user and password, or a lone user as a token) or of the
/// credentials file (its JWT and the hub's nonce signed with its seed).
fn leaf_connect_json(
    server: &Server,
    remote: &LeafRemote,
    target: &RouteTarget,
    nonce: Option<&str>,
) -> Result<Vec<u8>, String> {
    let mut c = LeafConnect {
        version: INFO_VERSION.to_string(),
        id: server.id.clone(),
        name: server.name.clone(),
        headers: !server.opts().no_header_support,
        cluster: if server.routes.enabled() {
            server.routes.name()
        } else {
            String::new()
        },
        remote_account: remote.account.clone(),
        proto: crate::server::trace::TRACE_PROTO,
        hub: remote.hub,
        ..LeafConnect::default()
    };
    if let Some(path) = &remote.credentials {
        let (creds, _) = crate::nkey::read_creds_file(path)?;
        let sig = crate::nkey::sign(&creds.seed, nonce.unwrap_or_default().as_bytes())?;
        c.jwt = creds.jwt;
        c.sig = Some(sig);
    } else if let Some(user) = &target.user {
        match &target.password {
            Some(p) => {
                c.user = Some(user.clone());
                c.pass = Some(p.clone());
            }
            None => c.auth_token = Some(user.clone()),
        }
    }
    serde_json::to_vec(&c).map_err(|e| e.to_string())
}

/// Where leaves reach our leafnode listener: `(host, port)`, the
/// advertised address when set.
fn listen_host_port(server: &Server) -> (String, u16) {
    let opts = server.opts();
    let lo = opts.leafnodes.clone().unwrap_or_default();
    let port = server
        .leafs
        .listen_addr()
        .map_or(lo.port.unwrap_or(0), |a| a.port());
    match lo.advertise.as_deref() {
        Some(a) => match a.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().unwrap_or(port)),
            None => (a.to_string(), port),
        },
        None => (lo.host.clone(), port),
    }
}

/// Our leafnode URL (`host:port`) for others to dial, when we listen for
/// leaves on a dialable address (a wildcard address is not one).
pub fn own_url(server: &Server) -> Option<String> {
    server.leafs.listen_addr()?;
    let (host, port) = listen_host_port(server);
    let unspecified = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|a| a.is_unspecified());
    (!unspecified).then(|| crate::server::net::display_addr(&host, port))
}

/// The INFO of our leafnode port, for connection `cid`: the first one
/// carries `nonce`, the second (after CONNECT) the bound account. Its
/// `leafnode_urls` are ours and those of the cluster's other servers (an
/// empty list still marks a leafnode port).
fn hub_info_json(server: &Server, cid: u64, nonce: Option<&str>, bound: Option<&str>) -> Vec<u8> {
    let opts = server.opts();
    let lo = opts.leafnodes.clone().unwrap_or_default();
    let (host, port) = listen_host_port(server);
    let ip = crate::server::net::display_addr(&host, port);
    let mut urls: Vec<String> = own_url(server).into_iter().collect();
    if !lo.no_advertise {
        for r in server.routes.list() {
            for u in r.info().leafnode_urls {
                if !urls.contains(&u) {
                    urls.push(u);
                }
            }
        }
    }
    let info = LeafInfo {
        server_id: server.id.clone(),
        server_name: server.name.clone(),
        version: INFO_VERSION.to_string(),
        proto: crate::server::trace::TRACE_PROTO,
        go: INFO_GO.to_string(),
        host,
        port,
        headers: !opts.no_header_support,
        auth_required: true,
        tls_required: lo.tls.is_some(),
        tls_verify: lo.tls.as_ref().is_some_and(|t| t.verify),
        max_payload: opts.max_payload as i64,
        ip,
        cid,
        nonce: nonce.map(str::to_string),
        cluster: if server.routes.enabled() {
            server.routes.name()
        } else {
            String::new()
        },
        info_on_connect: true,
        connect_info: bound.is_some(),
        leafnode_urls: Some(urls),
        remote_account: bound.unwrap_or_default().to_string(),
    };
    serde_json::to_vec(&info).unwrap_or_default()
}

fn run(mut io: Inbound, mut ops: LeafOps, first: Vec<u8>) -> Outcome {
    let client = ops.client.clone();
    let reason = conn::run_guarded(&client, "Leafnode", || {
        let now = Instant::now();
        let jitter = Duration::from_millis(ops.fanout.out.rng.below(200) as u64);
        ops.server
            .timers
            .schedule(now + FIRST_PING + jitter, &ops.client, TimerKind::RoutePing);
        if !ops.solicited {
            let timeout = ops
                .server
                .opts()
                .leafnodes
                .as_ref()
                .and_then(|l| l.auth_timeout)
                .unwrap_or(ops.server.opts().auth_timeout);
            ops.server
                .timers
                .schedule(now + timeout, &ops.client, TimerKind::AuthTimeout);
        } else {
            ops.client.connect_seen.store(true, Ordering::Release);
            ops.client.connected.store(true, Ordering::Release);
            ops.push(&first);
            if !ops.wait_connect_info {
                ops.end_batch(false);
                ops.register();
            }
        }
        ops.end_batch(false);
        read_loop(&mut io, &mut ops)
    });
    ops.finish(reason)
}

/// What the leaf protocol's op handlers work on.
struct LeafOps {
    server: Arc<Server>,
    client: Arc<Client>,
    stream: Arc<TcpStream>,
    /// We dialled it.
    solicited: bool,
    /// The peer is our hub (we dialled it, and not as its hub): its
    /// interest and messages are not passed on to routes, and it is told
    /// only local interest.
    spoke: bool,
    /// The account the connection is bound to (known from CONNECT on a hub).
    account: Arc<Account>,
    /// Accepted: the nonce our INFO carried.
    nonce: Option<String>,
    /// Accepted: CONNECT was accepted.
    connect_seen: bool,
    /// Solicited: the hub sends a second INFO once it took our CONNECT.
    wait_connect_info: bool,
    /// The peer understands headers.
    headers: bool,
    /// The peer's protocol level (its INFO's, or its CONNECT's `proto`).
    peer_proto: i32,
    remote_id: String,
    remote_name: String,
    remote_account: String,
    /// The cluster of the server behind the connection (empty: none).
    remote_cluster: String,
    leaf: Option<Arc<Leaf>>,
    /// Solicited: the hub cluster's leafnode URLs, from its latest INFO.
    hub_urls: Vec<String>,
    /// Solicited: the remote's `deny_imports`.
    import_deny: Option<Arc<SubjectRules>>,
    /// Solicited: the remote's `deny_exports`, as the subscribe deny list
    /// that filters deliveries to the hub's subscriptions.
    export_deny: Option<Arc<Permissions>>,
    loop_detected: Cell<bool>,
    limits: Limits,
    fanout: Fanout,
    counters: InCounters,
}

impl LeafOps {
    fn new(
        server: Arc<Server>,
        client: Arc<Client>,
        stream: Arc<TcpStream>,
        solicited: bool,
        nonce: Option<String>,
    ) -> LeafOps {
        let opts = server.opts();
        let mut fanout = conn::new_fanout(&server, client.cid);
        fanout.out.from_hub = solicited;
        LeafOps {
            account: client.account(),
            limits: Limits {
                max_control_line: MAX_LEAF_CONTROL_LINE.max(opts.max_control_line),
                max_payload: MAX_LEAF_PAYLOAD.max(opts.max_payload),
            },
            fanout,
            server,
            client,
            stream,
            solicited,
            spoke: solicited,
            nonce,
            connect_seen: false,
            wait_connect_info: false,
            headers: false,
            peer_proto: 0,
            remote_id: String::new(),
            remote_name: String::new(),
            remote_account: String::new(),
            remote_cluster: String::new(),
            leaf: None,
            hub_urls: Vec::new(),
            import_deny: None,
            export_deny: None,
            loop_detected: Cell::new(false),
            counters: InCounters::default(),
        }
    }

    fn prefix(&self) -> String {
        format!("{} - lid:{}", self.client.addr, self.client.cid)
    }

    fn origin(&self) -> Origin {
        Origin::Leaf {
            cid: self.client.cid,
            solicited: self.spoke,
            cluster: cluster_id(&self.remote_cluster),
        }
    }

    /// The handshake is complete: register, and tell the peer our interest.
    fn register(&mut self) {
        if self.leaf.is_some() {
            return;
        }
        self.fanout.out.leaf_cluster = cluster_id(&self.remote_cluster);
        self.fanout.out.leaf_origin = self.remote_cluster.clone().into_bytes();
        let headers = self.headers && !self.server.opts().no_header_support;
        self.client.headers.store(headers, Ordering::Relaxed);
        self.client.meta().name = self.remote_name.clone();
        let leaf = Arc::new(Leaf {
            client: self.client.clone(),
            account: self.account.clone(),
            solicited: self.solicited,
            remote_id: self.remote_id.clone(),
            remote_name: self.remote_name.clone(),
            remote_account: self.remote_account.clone(),
            traces: (self.peer_proto >= crate::server::trace::TRACE_PROTO).into(),
            start: SystemTime::now(),
        });
        self.server.leafs.register(leaf.clone());
        self.leaf = Some(leaf);
        notice!(
            "{} - Leafnode connection created for account: {}",
            self.prefix(),
            self.account.name
        );
        let kick = self.server.routes.interest.leaves.attach_hiding(
            &self.client,
            &self.account.name,
            self.origin(),
            self.server.leafs.lds(),
            self.import_deny.clone(),
        );
        if kick {
            self.client.kick();
        }
    }

    fn process(&mut self, op: LeafOp<'_>) -> Result<(), CloseReason> {
        if !self.solicited && !self.connect_seen && !matches!(op, LeafOp::Connect(_)) {
            self.send_err("Authorization Violation");
            return Err(CloseReason::AuthenticationViolation);
        }
        match op {
            LeafOp::Connect(json) => self.process_connect(json)?,
            LeafOp::Info(json) => self.process_info(json),
            LeafOp::Ping => {
                trace!("{} - <<- [PING]", self.prefix());
                self.push(encode::PONG);
            }
            LeafOp::Pong => self.client.pong_received(),
            LeafOp::Ok => {}
            LeafOp::Sub { subject, queue } => {
                if self.leaf.is_some() {
                    self.remote_sub(subject, queue)?;
                }
            }
            LeafOp::Unsub { subject, queue } => {
                if self.leaf.is_some() {
                    self.remote_unsub(subject, queue);
                }
            }
            LeafOp::Msg(m) => {
                if self.leaf.is_some() {
                    self.leaf_msg(&m);
                }
            }
        }
        Ok(())
    }

    fn process_connect(&mut self, json: &[u8]) -> Result<(), CloseReason> {
        if self.solicited || self.connect_seen {
            return Ok(());
        }
        let c: LeafConnect = match serde_json::from_slice(json) {
            Ok(c) if json.first() == Some(&b'{') => c,
            _ => {
                debug!("{} - bad leafnode CONNECT", self.prefix());
                return Err(CloseReason::ProtocolViolation);
            }
        };
        // Credentials first, then the kind of peer (nats-server's order).
        let Some(account) = self.authenticate(&c) else {
            log_error!("{} - authentication error", self.prefix());
            self.send_err("Authorization Violation");
            return Err(CloseReason::AuthenticationViolation);
        };
        if c.lang.is_some() {
            self.send_err("attempted to connect to leaf node port");
            return Err(CloseReason::WrongPort);
        }
        if let Some(g) = &c.gateway {
            self.send_err(&format!(
                "Rejecting connection from gateway \"{g}\" on the leafnode port"
            ));
            return Err(CloseReason::WrongPort);
        }
        if let Some(min) = self.too_old(&c.version) {
            // nats-server holds the refused leaf for a while so that it
            // does not come straight back.
            let text = format!(
                "connection rejected since minimum version required is {}",
                crate::server::permissions::go_quote(min.as_bytes())
            );
            self.send_err(&text);
            log_error!("{} - {text}", self.prefix());
            self.end_batch(false);
            self.server.leafs.wait(super::WAIT_BEFORE_CLOSE);
            return Err(CloseReason::MinimumVersionRequired);
        }
        self.client.set_account(account.clone());
        self.account = account;
        self.connect_seen = true;
        self.client.connect_seen.store(true, Ordering::Release);
        self.client.connected.store(true, Ordering::Release);
        self.headers = c.headers;
        self.remote_id = c.id.clone();
        self.remote_name = if c.name.is_empty() { c.id } else { c.name };
        self.remote_account = c.remote_account;
        self.remote_cluster = c.cluster;
        self.peer_proto = c.proto;
        if c.hub {
            // The leaf declared itself the hub: we are its spoke.
            self.spoke = true;
            self.fanout.out.from_hub = true;
        }
        let mut line = Vec::new();
        let json = hub_info_json(
            &self.server,
            self.client.cid,
            None,
            Some(&self.account.name),
        );
        encode::json_op(&mut line, "INFO", &json);
        self.push(&line);
        // The second INFO goes out before the interest dump.
        self.end_batch(false);
        self.register();
        Ok(())
    }

    /// The block's `min_version` when a leaf of `version` is older.
    fn too_old(&self, version: &str) -> Option<String> {
        let opts = self.server.opts();
        let min = opts.leafnodes.as_ref()?.min_version.as_ref()?;
        let wanted = crate::protocol::leaf::version_components(min).ok()?;
        (!crate::protocol::leaf::version_at_least(version, wanted)).then(|| min.clone())
    }

    /// The account a leaf's credentials bind it to. A user whose
    /// permissions would have to be enforced on the link, or who may not
    /// come in by a leafnode connection, is refused.
    fn authenticate(&self, c: &LeafConnect) -> Option<Arc<Account>> {
        let opts = self.server.opts();
        let lo = opts.leafnodes.clone().unwrap_or_default();
        let connect = Connect {
            user: c.user.clone(),
            pass: c.pass.clone(),
            auth_token: c.auth_token.clone(),
            jwt: c.jwt.clone(),
            sig: c.sig.clone(),
            ..Connect::default()
        };
        let (id, bound) = if lo.has_own_auth() {
            let auth_opts = crate::server::Options {
                user: lo.user.clone(),
                pass: lo.pass.clone(),
                token: lo.token.clone(),
                users: lo.users.clone().unwrap_or_default(),
                ..crate::server::Options::default()
            };
            let auth = Authenticator::new(&auth_opts, &self.server.accounts_snapshot()).ok()?;
            let bound = lo
                .account
                .as_deref()
                .filter(|_| lo.users.is_none())
                .and_then(|a| self.server.account(a));
            (auth.authenticate(&connect, &[])?, bound)
        } else {
            let auth = self.server.auth();
            let verdict =
                auth.signed
                    .authenticate(&connect, self.nonce.as_deref(), self.client.addr.ip());
            let id = match verdict {
                Verdict::Accepted(id, _) => id,
                Verdict::Refused(why) => {
                    debug!("{} - {why}", self.prefix());
                    return None;
                }
                Verdict::NotSigned => auth.authenticate(&connect, &[])?,
            };
            (id, None)
        };
        let who = id.user.clone().unwrap_or_default();
        if id.permissions.is_some() {
            warn!(
                "{} - user {who:?} has permissions, which nats-lite does not enforce on leafnode \
                 connections: refused",
                self.prefix()
            );
            return None;
        }
        if !id.allows("LEAFNODE") {
            debug!(
                "{} - user {who:?} may not connect as a leafnode",
                self.prefix()
            );
            return None;
        }
        Some(bound.unwrap_or(id.account))
    }

    fn process_info(&mut self, json: &[u8]) {
        let Ok(info) = serde_json::from_slice::<LeafInfo>(json) else {
            debug!("{} - bad leafnode INFO", self.prefix());
            return;
        };
        if !self.solicited {
            // An INFO from a leaf (after its CONNECT) may tell its level too.
            self.peer_proto = self.peer_proto.max(info.proto);
            if let Some(leaf) = &self.leaf {
                let traces = self.peer_proto >= crate::server::trace::TRACE_PROTO;
                leaf.traces.store(traces, Ordering::Relaxed);
            }
            return;
        }
        if !info.remote_account.is_empty() {
            self.remote_account = info.remote_account.clone();
        }
        if let Some(urls) = info.leafnode_urls.as_ref().filter(|u| !u.is_empty()) {
            self.hub_urls = urls.clone();
        }
        if info.connect_info && self.leaf.is_none() {
            self.end_batch(false);
            self.register();
        }
    }

    fn remote_sub(
        &mut self,
        subject_: &[u8],
        queue: Option<(&[u8], u32)>,
    ) -> Result<(), CloseReason> {
        if subject_ == self.server.leafs.lds().as_bytes() {
            let text = format!(
                "Loop detected for leafnode account=\"{}\". Delaying attempt to reconnect for {}s",
                self.account.name,
                super::LOOP_DELAY.as_secs()
            );
            self.send_err(&text);
            log_error!("{} - {text}", self.prefix());
            self.loop_detected.set(true);
            return Err(CloseReason::ProtocolViolation);
        }
        if !subject::is_valid_subject(subject_)
            || queue.is_some_and(|(q, _)| !subject::is_valid_subject(q))
        {
            debug!("{} - Invalid leafnode subscription", self.prefix());
            return Ok(());
        }
        let queue_name = queue.map(|q| q.0);
        let mut deny_filter = None;
        if let Some(deny) = &self.export_deny {
            if !deny.can_subscribe(subject_, queue_name) {
                debug!(
                    "{} - Not permitted to subscribe to {} (deny_exports)",
                    self.prefix(),
                    String::from_utf8_lossy(subject_)
                );
                return Ok(());
            }
            // A wildcard that only overlaps the deny list: filter deliveries.
            deny_filter = Some(deny.clone());
        }
        let key = sub_key(subject_, queue_name);
        let mut subs = self.client.subs();
        if let Some(existing) = subs.get(key.as_slice()) {
            if let Some((_, weight)) = queue {
                existing.weight.store(weight, Ordering::Relaxed);
            }
            return Ok(());
        }
        if subs.len() >= MAX_LEAF_SUBS {
            drop(subs);
            warn!(
                "{} - Too many leafnode subscriptions, ignoring more",
                self.prefix()
            );
            return Ok(());
        }
        let mut sub = Subscription::remote(
            self.client.clone(),
            subject_,
            queue.map(|q| q.0),
            &key,
            queue.map_or(1, |q| q.1),
        );
        sub.leaf_cluster = cluster_id(&self.remote_cluster);
        sub.deny_filter = deny_filter;
        sub.leaf = Some(if self.spoke {
            LeafSide::Solicited
        } else {
            LeafSide::Accepted
        });
        let sub = Arc::new(sub);
        subs.insert(key.into(), sub.clone());
        drop(subs);
        self.account.sublist.insert(sub.clone());
        self.interest_changed(&sub, true);
        Ok(())
    }

    fn interest_changed(&self, sub: &Subscription, add: bool) {
        let interest = &self.server.routes.interest;
        interest
            .leaves
            .changed(&self.account, sub, self.origin(), add);
        if !self.spoke {
            interest.leaf_changed(&self.account, sub, add);
        }
    }

    fn remote_unsub(&mut self, subject_: &[u8], queue: Option<&[u8]>) {
        let key = sub_key(subject_, queue);
        let removed = self.client.subs().remove(key.as_slice());
        if let Some(sub) = removed {
            if self.account.sublist.remove(&sub) {
                self.interest_changed(&sub, false);
            }
        }
    }

    fn leaf_msg(&mut self, m: &PeerMsg<'_>) {
        self.counters
            .add(m.headers.map_or(0, <[u8]>::len) + m.payload.len());
        if let Some(deny) = &self.import_deny {
            if !deny.allows_publish(m.subject) {
                debug!(
                    "{} - Not permitted to receive from {} (deny_imports)",
                    self.prefix(),
                    String::from_utf8_lossy(m.subject)
                );
                return;
            }
        }
        let msg = Message {
            subject: m.subject,
            reply: m.reply,
            headers: m.headers,
            payload: m.payload,
        };
        let account = self.account.clone();
        if let Some(h) = m
            .headers
            .filter(|h| trace::may_request(h, account.msg_trace.enabled()))
        {
            let ingress = trace::Ingress {
                kind: crate::protocol::trace::kind::LEAF,
                cid: self.client.cid,
                name: self.remote_name.clone(),
                subject: m.subject,
            };
            let size = h.len() + m.payload.len();
            match trace::begin(&self.server, &account, h, size, ingress) {
                trace::Begin::No => {}
                trace::Begin::Skip => return,
                trace::Begin::Trace(t) => {
                    self.fanout.out.trace = Some(t);
                    self.fanout
                        .publish_from_leaf(&account, &msg, m.queues, self.client.cid);
                    trace::finish(&mut self.fanout);
                    return;
                }
            }
        }
        self.fanout
            .publish_from_leaf(&account, &msg, m.queues, self.client.cid);
    }

    /// The connection is over: unregister, drop the peer's interest.
    fn finish(&mut self, reason: CloseReason) -> Outcome {
        self.end_batch(false);
        self.client.close(reason);
        let reason = self.client.meta().close_reason.unwrap_or(reason);
        let registered = self.leaf.take().is_some();
        if registered {
            self.server.leafs.unregister(self.client.cid);
            self.server.routes.interest.leaves.detach(&self.client);
            notice!(
                "{} - Leafnode connection closed: {reason} account: {}",
                self.prefix(),
                self.account.name
            );
        } else {
            debug!("{} - Leafnode connection closed: {reason}", self.prefix());
        }
        let subs: Vec<Arc<Subscription>> = self.client.subs().drain().map(|(_, s)| s).collect();
        for sub in subs {
            if self.account.sublist.remove(&sub) {
                self.interest_changed(&sub, false);
            }
        }
        self.fanout.cache.clear();
        Outcome {
            registered,
            loop_detected: self.loop_detected.get(),
            hub_urls: std::mem::take(&mut self.hub_urls),
        }
    }
}

impl OpHandler for LeafOps {
    type Op<'a> = LeafOp<'a>;
    const PARSE: for<'a> fn(&'a [u8], &Limits) -> ParseResult<LeafOp<'a>> = parse_leaf_op;

    fn awaiting_auth(&self) -> bool {
        !self.solicited && !self.connect_seen
    }

    fn handle(&mut self, op: LeafOp<'_>) -> Result<(), CloseReason> {
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
            Some(&self.account),
            &mut self.counters,
        );
    }

    fn log_protocol_error(&self, e: &ProtocolError) {
        match e {
            ProtocolError::PeerError(text) => {
                if text.contains("Loop detected") {
                    self.loop_detected.set(true);
                }
                log_error!("{} - Leafnode Error '{text}'", self.prefix());
            }
            other => {
                log_error!("{} - Leafnode protocol error: {other:?}", self.prefix());
            }
        }
    }
}

/// A leaf subscription's key: `<subject>[ <queue>]`.
fn sub_key(subject: &[u8], queue: Option<&[u8]>) -> Vec<u8> {
    let mut key = Vec::with_capacity(subject.len() + 1 + queue.map_or(0, <[u8]>::len));
    key.extend_from_slice(subject);
    if let Some(q) = queue {
        key.push(b' ');
        key.extend_from_slice(q);
    }
    key
}
