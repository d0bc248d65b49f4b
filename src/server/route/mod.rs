//! Clustering: route connections between servers, speaking nats-server
//! 2.x's route protocol (level 2, one connection per server pair, no
//! pooling, no compression), so nats-lite and nats-server can form one
//! cluster. The wire behaviour follows `docs/route-protocol.md`.
//!
//! - this file: [`Routes`], the registry of routes and the cluster's name,
//!   the route listener, and the threads that solicit configured routes
//!   (retried forever, backing off to 30 s) and routes learnt by gossip
//!   (implicit: one attempt plus `connect_retries`).
//! - `connection.rs`: one route connection's thread (handshake checks,
//!   interest, routed messages, keepalive).
//! - `interest.rs`: local interest counts and the `RS+`/`RS-` they produce.
//! - `gossip.rs`: the route INFO and CONNECT documents, forwarding, client URLs.
//! - `tls.rs`: route TLS (handshake first, then the same core as clients).
//! - `discovery.rs`: each server's monitoring URL, told to its peers, for
//!   `top --discover`.
//!
//! Forwarding is one hop and needs a full mesh: a local client's message
//! goes to each route with interest once; a routed message only to local
//! clients. Queue groups span the cluster: the publishing server picks one
//! member per group, a local one when it has one.

mod connection;
pub mod discovery;
pub mod gossip;
mod interest;
mod tls;

pub use interest::Interest;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use super::client::Client;
use super::close::CloseReason;
use super::options::{ClusterOptions, RouteTarget};
use super::Server;
use crate::protocol::encode;
use crate::{debug, log_error, notice};
use gossip::RouteInfo;

/// Stack of a route connection's thread.
const ROUTE_STACK: usize = 512 * 1024;
/// Time to connect to a route.
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Wait between attempts at a configured route.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Attempts at the base delay before backing off.
const RECONNECT_STEADY: u32 = 10;
/// The longest wait between attempts at a configured route.
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// The route PING interval is never longer than this (nats-server 2.10+).
pub const ROUTE_MAX_PING_INTERVAL: Duration = Duration::from_secs(30);
/// The first route PING comes after about this long.
pub const ROUTE_FIRST_PING: Duration = Duration::from_secs(1);

/// A registered route: the connection and what the peer told us.
pub struct Route {
    /// The connection's shared half (outbound bytes, counters, remote subscriptions).
    pub client: Arc<Client>,
    /// The peer's server id.
    pub remote_id: String,
    /// The peer's server name.
    pub remote_name: String,
    /// We dialled it.
    pub solicited: bool,
    /// It is one of our configured routes.
    pub configured: bool,
    /// The peer's latest INFO.
    pub info: Mutex<RouteInfo>,
    /// When the route was registered.
    pub start: SystemTime,
    /// Registration order (for stable listings).
    seq: u64,
}

impl Route {
    /// The peer's latest INFO.
    pub fn info(&self) -> RouteInfo {
        self.info.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Default)]
struct Registry {
    /// Registered routes by remote server id.
    routes: HashMap<String, Arc<Route>>,
    /// Server ids (or URLs) being dialled because of gossip.
    dialing: HashSet<String>,
    seq: u64,
}

/// Why [`Routes::register`] refused a route.
pub enum Refused {
    /// A route to that server exists already.
    Duplicate,
}

/// The routes of this server and the cluster's identity.
pub struct Routes {
    /// Local interest counts and the routes told about them.
    pub interest: Arc<Interest>,
    /// Cluster options at start (`None`: no clustering).
    opts: Option<ClusterOptions>,
    /// Cluster name (may change once if it is dynamic, spec §13.2).
    name: RwLock<String>,
    /// The name was generated, not configured.
    dynamic: AtomicBool,
    /// Where the route listener is bound.
    listen: OnceLock<SocketAddr>,
    /// Route TLS, when configured.
    tls: OnceLock<tls::RouteTls>,
    /// Our monitoring listener, told to peers (see `discovery.rs`).
    pub monitor: OnceLock<discovery::MonitorListener>,
    registry: Mutex<Registry>,
    /// Signalled when the registry changes or shutdown starts.
    changed: Condvar,
    stopping: AtomicBool,
    lame_duck: AtomicBool,
}

impl Routes {
    /// The routes for `opts` (nothing happens until [`start`]); `leaves`:
    /// leafnodes are configured, so interest is counted for them from the
    /// first subscription on.
    pub fn new(opts: Option<&ClusterOptions>, leaves: bool) -> Routes {
        let (name, dynamic) = match opts.and_then(|c| c.name.clone()) {
            Some(n) => (n, false),
            None => (dynamic_name(), true),
        };
        let interest = Interest::new(opts.is_some());
        if leaves {
            interest.leaves.activate();
        }
        Routes {
            interest: Arc::new(interest),
            opts: opts.cloned(),
            name: RwLock::new(name),
            dynamic: AtomicBool::new(dynamic),
            listen: OnceLock::new(),
            tls: OnceLock::new(),
            monitor: OnceLock::new(),
            registry: Mutex::default(),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
            lame_duck: AtomicBool::new(false),
        }
    }

    /// Clustering is configured.
    pub fn enabled(&self) -> bool {
        self.opts.is_some()
    }

    /// The cluster options (when clustering is configured).
    pub fn opts(&self) -> Option<&ClusterOptions> {
        self.opts.as_ref()
    }

    /// The cluster name.
    pub fn name(&self) -> String {
        self.name.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The cluster name was generated.
    pub fn is_dynamic(&self) -> bool {
        self.dynamic.load(Ordering::Acquire)
    }

    /// Adopt `name` (a dynamic name meeting a peer's, spec §13.2); the
    /// other routes are closed so that they reconnect under it.
    fn adopt_name(&self, name: &str, keep: u64, configured: bool) {
        *self.name.write().unwrap_or_else(|e| e.into_inner()) = name.to_string();
        if configured {
            self.dynamic.store(false, Ordering::Release);
        }
        notice!("Cluster name updated to {name}");
        for r in self.list() {
            if r.client.cid != keep {
                r.client.close(CloseReason::ClusterNameConflict);
            }
        }
    }

    /// Where the route listener is bound.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.get().copied()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The registered routes, in registration order.
    pub fn list(&self) -> Vec<Arc<Route>> {
        let mut v: Vec<Arc<Route>> = self.registry().routes.values().cloned().collect();
        v.sort_by_key(|r| r.seq);
        v
    }

    /// Number of registered routes.
    pub fn count(&self) -> usize {
        self.registry().routes.len()
    }

    /// A route to server `id` is registered.
    pub fn is_connected(&self, id: &str) -> bool {
        self.registry().routes.contains_key(id)
    }

    /// Register a route whose peer sent its first INFO, and start telling
    /// it about interest (the dump is queued before the registry lock is
    /// released, so no interest change can be missed).
    fn register(
        &self,
        client: &Arc<Client>,
        info: &RouteInfo,
        solicited: bool,
        configured: bool,
    ) -> Result<Arc<Route>, Refused> {
        let kick;
        let route;
        {
            let mut reg = self.registry();
            if reg.routes.contains_key(&info.server_id) {
                return Err(Refused::Duplicate);
            }
            reg.seq += 1;
            route = Arc::new(Route {
                client: client.clone(),
                remote_id: info.server_id.clone(),
                remote_name: info.server_name.clone(),
                solicited,
                configured,
                info: Mutex::new(info.clone()),
                start: SystemTime::now(),
                seq: reg.seq,
            });
            reg.routes.insert(info.server_id.clone(), route.clone());
            kick = self.interest.attach(client);
        }
        if kick {
            client.kick();
        }
        self.changed.notify_all();
        Ok(route)
    }

    /// Forget a registered route (its connection closed).
    fn unregister(&self, route: &Route) {
        {
            let mut reg = self.registry();
            if reg
                .routes
                .get(&route.remote_id)
                .is_some_and(|r| r.client.cid == route.client.cid)
            {
                reg.routes.remove(&route.remote_id);
            }
            self.interest.detach(&route.client);
        }
        self.changed.notify_all();
    }

    /// Claim the right to dial a server learnt by gossip; false when a
    /// dial is under way already.
    fn claim_dial(&self, key: &str) -> bool {
        self.registry().dialing.insert(key.to_string())
    }

    fn release_dial(&self, key: &str) {
        self.registry().dialing.remove(key);
    }

    /// Wait up to `d`, or until shutdown; true when stopping.
    fn wait(&self, d: Duration) -> bool {
        super::net::wait_unless_stopping(self.registry(), &self.changed, d, || self.is_stopping())
    }

    /// Wait while a route to `id` is registered (or until shutdown).
    fn wait_while_connected(&self, id: &str) {
        let mut reg = self.registry();
        while reg.routes.contains_key(id) && !self.is_stopping() {
            reg = self
                .changed
                .wait_timeout(reg, Duration::from_secs(1))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Our client URLs plus those of every route (not in lame duck mode),
    /// for client INFO `connect_urls`; empty without clustering, with
    /// `no_advertise`, or until a first route has registered (as
    /// nats-server: a lone cluster member sends none; once it has had a
    /// peer, its own URL stays when the peers are gone).
    pub fn client_connect_urls(&self, own: Vec<String>) -> Vec<String> {
        let Some(opts) = &self.opts else {
            return Vec::new();
        };
        if opts.no_advertise || self.registry().seq == 0 {
            return Vec::new();
        }
        let mut urls = own;
        for r in self.list() {
            let info = r.info();
            if info.ldm {
                continue;
            }
            for u in info.connect_urls {
                if !urls.contains(&u) {
                    urls.push(u);
                }
            }
        }
        urls
    }

    /// A configured route points at `host:port`.
    fn is_configured(&self, host: &str, port: u16) -> bool {
        let Some(opts) = &self.opts else { return false };
        opts.routes
            .iter()
            .any(|r| r.port == port && (r.host == host || resolves_to_same(&r.host, host, port)))
    }

    /// Lame duck mode: tell every route (`"ldm":true`), so their clients
    /// stop being sent our URL.
    pub fn enter_lame_duck(&self, server: &Server) {
        self.lame_duck.store(true, Ordering::Release);
        let mut line = Vec::new();
        encode::json_op(&mut line, "INFO", &connection::route_info_json(server));
        for r in self.list() {
            let _ = r.client.queue_and_flush(&mut line.clone(), 0, 0);
        }
    }

    /// In lame duck mode.
    pub fn in_lame_duck(&self) -> bool {
        self.lame_duck.load(Ordering::Acquire)
    }

    /// Routes use TLS; peers' certificates are verified.
    pub fn tls(&self) -> (bool, bool) {
        self.tls.get().map_or((false, false), |t| (true, t.verify))
    }

    /// Stop soliciting and accepting, and close every route.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        self.changed.notify_all();
        if let Some(addr) = self.listen_addr() {
            super::net::wake_accept(super::net::wake_address(addr));
        }
        for r in self.list() {
            r.client.close(CloseReason::ServerShutdown);
        }
    }
}

/// Send clients that understand async INFO (protocol 1) a new INFO: the
/// cluster's client URLs changed.
pub fn notify_clients(server: &Server) {
    for client in server.client_list() {
        if client.async_info.load(Ordering::Relaxed) && !client.is_closed() {
            let json = server.client_info_json(&client);
            let mut line = Vec::with_capacity(json.len() + 7);
            encode::json_op(&mut line, "INFO", &json);
            let _ = client.queue_and_flush(&mut line, 0, 0);
        }
    }
}

/// True when `a` and `b` resolve to a common address (with `port`).
fn resolves_to_same(a: &str, b: &str, port: u16) -> bool {
    let addrs = |h: &str| -> Vec<SocketAddr> {
        (h, port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .unwrap_or_default()
    };
    let a = addrs(a);
    !a.is_empty() && addrs(b).iter().any(|x| a.contains(x))
}

/// A generated cluster name: 22 random base-62 characters, as nats-server's.
fn dynamic_name() -> String {
    super::rng::nuid()
}

/// Bind the route listener, log where, and start accepting and soliciting.
///
/// # Errors
///
/// The route listener could not be bound or a thread started.
pub fn start(server: &Arc<Server>) -> io::Result<()> {
    let Some(opts) = server.routes.opts().cloned() else {
        return Ok(());
    };
    if let Some(t) = &opts.tls {
        let _ = server
            .routes
            .tls
            .set(tls::RouteTls::new(t, opts.tls_insecure)?);
    }
    let host = opts.host.trim_start_matches('[').trim_end_matches(']');
    let (listener, addr) = super::net::listen_tcp(host, opts.port).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot listen for routes on {}: {e}",
                super::net::display_addr(host, opts.port)
            ),
        )
    })?;
    crate::server::net::widen_backlog(&listener);
    let _ = server.routes.listen.set(addr);
    let verified = opts.tls.as_ref().is_some_and(|t| t.verify);
    if let Some(w) = open_route_port_warning(addr.ip(), opts.auth_required() || verified) {
        crate::warn!("{w}");
    }
    notice!("Cluster name is {}", server.routes.name());
    if server.routes.is_dynamic() {
        crate::warn!("Cluster name was dynamically generated, consider setting one");
    }
    notice!(
        "Listening for route connections on {}",
        super::net::display_addr(&opts.host, addr.port())
    );
    let srv = server.clone();
    std::thread::Builder::new()
        .name("route-accept".into())
        .spawn(move || accept_loop(&srv, &listener))?;
    for target in &opts.routes {
        let srv = server.clone();
        let target = target.clone();
        std::thread::Builder::new()
            .name("route-solicit".into())
            .stack_size(ROUTE_STACK)
            .spawn(move || solicit_forever(&srv, &target))?;
    }
    Ok(())
}

/// The warning for a route port that any host can reach and that checks
/// no credentials (no `authorization`, no verified route TLS): whoever
/// connects joins the cluster, sees every message and can steer clients.
fn open_route_port_warning(ip: std::net::IpAddr, authenticated: bool) -> Option<String> {
    (!authenticated && !ip.is_loopback()).then(|| {
        format!(
            "The route port on {ip} is reachable from other hosts and checks no credentials: \
             any server can join the cluster. Set cluster {{ authorization {{ user, password }} }} \
             or verified route TLS"
        )
    })
}

fn accept_loop(server: &Arc<Server>, listener: &TcpListener) {
    let srv = server.clone();
    super::net::accept_peers(
        "Route",
        "route",
        ROUTE_STACK,
        listener,
        || server.routes.is_stopping() || server.is_shutting_down(),
        move |stream, peer| {
            let tls = match srv.routes.tls.get() {
                Some(t) => match t.accept(&stream) {
                    Ok(session) => Some(session),
                    Err(e) => {
                        log_error!("{peer} - TLS route handshake error: {e}");
                        return;
                    }
                },
                None => None,
            };
            let _ = connection::run(srv.clone(), stream, peer, None, tls);
        },
    );
}

/// Where to dial and how (for solicited routes).
#[derive(Debug, Clone)]
pub struct Dial {
    /// The route URL (for logs and monitoring).
    pub url: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Credentials to present.
    pub user: Option<String>,
    /// Password to present.
    pub password: Option<String>,
    /// A configured route (else learnt by gossip).
    pub configured: bool,
}

/// How a route connection ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The peer's server id, when it told us.
    pub remote_id: Option<String>,
    /// It was registered (and then lost).
    pub registered: bool,
    /// It was a route to ourselves.
    pub to_self: bool,
    /// It was closed as a duplicate of a registered route.
    pub duplicate: bool,
}

/// A dialled route: the socket, the peer's address, the TLS session.
type Dialled = (TcpStream, SocketAddr, Option<rustls::Connection>);

/// Connect to a route (and do the TLS handshake when routes use TLS):
/// the socket, the peer's address and the TLS session when there is one.
fn dial(server: &Server, d: &Dial) -> io::Result<Dialled> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in (d.host.as_str(), d.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(s) => {
                let tls = match server.routes.tls.get() {
                    Some(t) => Some(t.connect(&s, &d.host).map_err(|e| {
                        io::Error::new(e.kind(), format!("TLS route handshake error: {e}"))
                    })?),
                    None => None,
                };
                return Ok((s, addr, tls));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Keep a configured route connected: dial, run, and after a loss or a
/// failed dial try again after a second (backing off to 30 s), forever.
fn solicit_forever(server: &Arc<Server>, target: &RouteTarget) {
    let d = Dial {
        url: target.url.clone(),
        host: target.host.clone(),
        port: target.port,
        user: target.user.clone(),
        password: target.password.clone(),
        configured: true,
    };
    let mut failures = 0u32;
    let mut rng = super::rng::Rng::new(target.port.into());
    loop {
        if server.routes.is_stopping() || server.is_shutting_down() {
            return;
        }
        match dial(server, &d) {
            Ok((stream, peer, tls)) => {
                let outcome = connection::run(server.clone(), stream, peer, Some(d.clone()), tls);
                if outcome.to_self {
                    debug!("Route {} is this server: not soliciting it again", d.url);
                    return;
                }
                if let (true, Some(id)) = (outcome.duplicate, &outcome.remote_id) {
                    server.routes.wait_while_connected(id);
                }
                if outcome.registered {
                    failures = 0;
                } else {
                    failures = failures.saturating_add(1);
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                if e.to_string().contains("TLS") {
                    log_error!("Error trying to connect to route {}: {e}", d.url);
                } else if failures == 1 || failures % 30 == 0 {
                    debug!("Error trying to connect to route {}: {e}", d.url);
                }
            }
        }
        let delay = if failures <= RECONNECT_STEADY {
            RECONNECT_DELAY
        } else {
            (RECONNECT_DELAY * 2u32.saturating_pow((failures - RECONNECT_STEADY).min(5)))
                .min(RECONNECT_MAX)
        };
        let jitter = Duration::from_millis(rng.below(100) as u64);
        if server.routes.wait(delay + jitter) {
            return;
        }
    }
}

/// Dial a server learnt by gossip (`url` from its forwarded INFO): one
/// attempt plus `connect_retries`; after a registered route is lost, one
/// more attempt.
fn solicit_implicit(server: &Arc<Server>, id: String, url: String, auth_required: bool) {
    let Some((host, port)) = gossip::url_host_port(&url) else {
        return;
    };
    if !server.routes.claim_dial(&id) {
        return;
    }
    let opts = server.routes.opts().cloned().unwrap_or_default();
    let (user, password) = if auth_required {
        (opts.user.clone(), opts.password.clone())
    } else {
        (None, None)
    };
    let d = Dial {
        url,
        host,
        port,
        user,
        password,
        configured: false,
    };
    let srv = server.clone();
    let key = id.clone();
    let spawned = std::thread::Builder::new()
        .name("route-implicit".into())
        .stack_size(ROUTE_STACK)
        .spawn(move || {
            let mut attempts = 1 + opts.connect_retries;
            let mut rng = super::rng::Rng::new(port.into());
            while attempts > 0 && !srv.routes.is_stopping() {
                attempts -= 1;
                if srv.routes.is_connected(&id) {
                    break;
                }
                match dial(&srv, &d) {
                    Ok((stream, peer, tls)) => {
                        let outcome =
                            connection::run(srv.clone(), stream, peer, Some(d.clone()), tls);
                        if outcome.registered {
                            attempts = attempts.max(1);
                        } else if outcome.to_self || outcome.duplicate {
                            break;
                        }
                    }
                    Err(e) => debug!("Error trying to connect to route {}: {e}", d.url),
                }
                if attempts > 0
                    && srv
                        .routes
                        .wait(Duration::from_millis(rng.below(100) as u64))
                {
                    break;
                }
            }
            srv.routes.release_dial(&id);
        });
    if spawned.is_err() {
        server.routes.release_dial(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::open_route_port_warning;

    #[test]
    fn an_open_route_port_reachable_from_other_hosts_is_warned_about() {
        for ip in ["0.0.0.0", "::", "192.0.2.7"] {
            let w = open_route_port_warning(ip.parse().unwrap(), false);
            assert!(w.is_some_and(|w| w.contains("any server can join")), "{ip}");
            assert!(open_route_port_warning(ip.parse().unwrap(), true).is_none());
        }
        for ip in ["127.0.0.1", "::1"] {
            assert!(open_route_port_warning(ip.parse().unwrap(), false).is_none());
        }
    }
}
