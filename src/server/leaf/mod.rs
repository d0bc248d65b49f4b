//! Leafnodes, speaking nats-server 2.x's leafnode protocol
//! (`protocol/leaf.rs`): a hub accepts leaf connections on its leafnode
//! port, and a leaf server solicits its configured `remotes`. Each leaf
//! connection is bound to one account on each side.
//!
//! - this file: [`Leafs`], the registry of leaf connections, the leafnode
//!   listener and the threads that keep each remote connected (retried
//!   forever over its URL list and the hub cluster's leafnode URLs from
//!   its INFO, 30 s after a loop was detected).
//! - `connection.rs`: one leaf connection's thread, either side (handshake,
//!   auth, interest, messages, loop detection).
//! - `interest.rs`: what each leaf connection is told (`LS+`/`LS-`).
//!
//! Message rules (nats-server's): a message from a leaf goes everywhere
//! but back to it; a message from our hub goes to local clients and to
//! leaves of ours, never to routes; a routed message reaches the leaves
//! that connect to us, never our hub. Queue groups prefer local members.

mod connection;
pub mod interest;

pub use connection::own_url;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use super::account::Account;
use super::client::Client;
use super::close::CloseReason;
use super::deadline::DeadlineStream;
use super::net::{display_addr, listen_tcp, wake_accept, wake_address, widen_backlog};
use super::options::{LeafRemote, RouteTarget};
use super::Server;
use crate::protocol::leaf::LOOP_DETECTION_PREFIX;
use crate::{debug, log_error, notice};

/// Stack of a leaf connection's thread.
const LEAF_STACK: usize = 512 * 1024;
/// Time to connect to a hub.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);
/// Time a hub has to send its INFO unless the remote's
/// `first_info_timeout` says otherwise.
pub const FIRST_INFO_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest first INFO line we read from a hub.
const MAX_INFO_LINE: usize = 64 * 1024;
/// How long a leaf refused for its version is held before the close
/// (nats-server's `leafNodeWaitBeforeClose`).
const WAIT_BEFORE_CLOSE: Duration = Duration::from_secs(5);
/// Wait before soliciting again after a loop was detected.
pub const LOOP_DELAY: Duration = Duration::from_secs(30);

/// A registered leaf connection.
pub struct Leaf {
    /// The connection's shared half.
    pub client: Arc<Client>,
    /// The account it is bound to here.
    pub account: Arc<Account>,
    /// We dialled it (the peer is our hub).
    pub solicited: bool,
    /// The peer's server id.
    pub remote_id: String,
    /// The peer's server name.
    pub remote_name: String,
    /// The peer's account (as it told us).
    pub remote_account: String,
    /// The peer traces messages (its protocol level is at least
    /// [`crate::server::trace::TRACE_PROTO`]); a nats-server leaf tells
    /// it in an INFO that may come after registration.
    pub traces: std::sync::atomic::AtomicBool,
    /// When it registered.
    pub start: SystemTime,
}

/// The leaf connections of this server.
pub struct Leafs {
    registry: Mutex<Vec<Arc<Leaf>>>,
    changed: Condvar,
    listen: OnceLock<SocketAddr>,
    tls: OnceLock<Arc<rustls::ServerConfig>>,
    /// Our loop detection subject (`$LDS.<random>`).
    lds: String,
    stopping: AtomicBool,
}

impl Default for Leafs {
    fn default() -> Self {
        Self::new()
    }
}

impl Leafs {
    /// No leaf connections yet.
    pub fn new() -> Leafs {
        let mut lds = String::from(LOOP_DETECTION_PREFIX);
        lds.push_str(&super::server_id()[1..23]);
        Leafs {
            registry: Mutex::default(),
            changed: Condvar::new(),
            listen: OnceLock::new(),
            tls: OnceLock::new(),
            lds,
            stopping: AtomicBool::new(false),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Vec<Arc<Leaf>>> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The registered leaf connections, oldest first.
    pub fn list(&self) -> Vec<Arc<Leaf>> {
        self.registry().clone()
    }

    /// Number of registered leaf connections.
    pub fn count(&self) -> usize {
        self.registry().len()
    }

    /// Where the leafnode listener is bound.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.get().copied()
    }

    /// Our loop detection subject.
    pub fn lds(&self) -> &str {
        &self.lds
    }

    fn register(&self, leaf: Arc<Leaf>) {
        self.registry().push(leaf);
        self.changed.notify_all();
    }

    fn unregister(&self, cid: u64) {
        self.registry().retain(|l| l.client.cid != cid);
        self.changed.notify_all();
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Wait up to `d`, or until shutdown; true when stopping.
    fn wait(&self, d: Duration) -> bool {
        super::net::wait_unless_stopping(self.registry(), &self.changed, d, || self.is_stopping())
    }

    /// Stop accepting and soliciting, and close every leaf connection.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        self.changed.notify_all();
        if let Some(addr) = self.listen_addr() {
            wake_accept(wake_address(addr));
        }
        for l in self.list() {
            l.client.close(CloseReason::ServerShutdown);
        }
    }
}

/// Bind the leafnode listener (when configured), log where, and start
/// soliciting the remotes.
///
/// # Errors
///
/// The listener could not be bound, its TLS loaded, or a thread started.
pub fn start(server: &Arc<Server>) -> io::Result<()> {
    let opts = server.opts();
    let Some(lo) = opts.leafnodes.clone() else {
        return Ok(());
    };
    if let Some(port) = lo.port {
        if let Some(t) = &lo.tls {
            let _ = server.leafs.tls.set(super::tls::server_config(t)?);
        }
        let host = lo.host.trim_start_matches('[').trim_end_matches(']');
        let (listener, addr) = listen_tcp(host, port).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot listen for leafnode connections on {}: {e}",
                    display_addr(host, port)
                ),
            )
        })?;
        widen_backlog(&listener);
        let _ = server.leafs.listen.set(addr);
        notice!(
            "Listening for leafnode connections on {}",
            display_addr(&lo.host, addr.port())
        );
        let srv = server.clone();
        std::thread::Builder::new()
            .name("leaf-accept".into())
            .spawn(move || accept_loop(&srv, &listener))?;
    }
    for remote in lo.remotes {
        if remote.disabled {
            // The address only: the URL may carry a password.
            let url = remote
                .urls
                .first()
                .map_or(String::new(), |u| display_addr(&u.host, u.port));
            notice!("Leafnode remote \"{url}\" is disabled, not soliciting it");
            continue;
        }
        let srv = server.clone();
        std::thread::Builder::new()
            .name("leaf-solicit".into())
            .stack_size(LEAF_STACK)
            .spawn(move || solicit_forever(&srv, &remote))?;
    }
    Ok(())
}

fn accept_loop(server: &Arc<Server>, listener: &TcpListener) {
    let srv = server.clone();
    super::net::accept_peers(
        "Leafnode",
        "leaf",
        LEAF_STACK,
        listener,
        || server.leafs.is_stopping() || server.is_shutting_down(),
        move |stream, peer| connection::accepted(srv.clone(), stream, peer),
    );
}

/// How a solicited connection ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// It registered (and then was lost).
    pub registered: bool,
    /// A loop was detected: wait [`LOOP_DELAY`] before trying again.
    pub loop_detected: bool,
    /// The hub cluster's leafnode URLs (`host:port`) its INFOs listed.
    pub hub_urls: Vec<String>,
}

/// Keep a remote connected: dial its URLs in turn, run the connection,
/// and after a loss or a failed attempt try again after the reconnect
/// interval plus up to as much again (nats-server's jitter), forever.
fn solicit_forever(server: &Arc<Server>, remote: &LeafRemote) {
    let reconnect = server
        .opts()
        .leafnodes
        .as_ref()
        .map_or(super::options::LEAF_RECONNECT, |l| l.reconnect);
    let mut rng = super::rng::Rng::new(u64::from(remote.urls.first().map_or(0, |u| u.port)));
    let mut attempts = 0u64;
    let mut next = 0usize;
    let mut urls = remote.urls.clone();
    loop {
        if server.leafs.is_stopping() || server.is_shutting_down() {
            return;
        }
        let target = &urls[next % urls.len()].clone();
        next += 1;
        debug!(
            "Trying to connect as leafnode to remote server on \"{}\"",
            display_addr(&target.host, target.port)
        );
        let mut delay = reconnect;
        match dial(target) {
            Ok((stream, addr)) => {
                let outcome = connection::solicited(server.clone(), stream, addr, remote, target);
                if outcome.registered {
                    attempts = 0;
                }
                if !outcome.hub_urls.is_empty() {
                    urls = with_hub_urls(remote, &outcome.hub_urls);
                    next = 0;
                }
                if outcome.loop_detected {
                    delay = LOOP_DELAY;
                }
            }
            Err(e) => {
                attempts += 1;
                if attempts == 1 || attempts % 30 == 0 {
                    log_error!(
                        "Error trying to connect as leafnode to remote server \"{}\" (attempt {attempts}): {e}",
                        display_addr(&target.host, target.port)
                    );
                } else {
                    debug!(
                        "Error trying to connect as leafnode to remote server \"{}\" (attempt {attempts}): {e}",
                        display_addr(&target.host, target.port)
                    );
                }
            }
        }
        // nats-server's jitter: up to one more reconnect interval.
        let spread = usize::try_from(reconnect.as_millis())
            .unwrap_or(usize::MAX)
            .max(1);
        let jitter = Duration::from_millis(rng.below(spread) as u64);
        if server.leafs.wait(delay + jitter) {
            return;
        }
    }
}

/// The URLs to try: the hub cluster's (as its INFO listed them, with the
/// credentials of the configured URLs) first, then the configured ones,
/// as nats-server's leaf does.
fn with_hub_urls(remote: &LeafRemote, hub_urls: &[String]) -> Vec<RouteTarget> {
    let creds = remote.urls.iter().find(|u| u.user.is_some());
    let mut urls: Vec<RouteTarget> = hub_urls
        .iter()
        .filter_map(|u| {
            let (host, port) = u.rsplit_once(':')?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port: u16 = port.parse().ok()?;
            let known = remote.urls.iter().any(|c| c.host == host && c.port == port);
            (!known).then(|| RouteTarget {
                url: format!("nats-leaf://{u}"),
                host: host.to_string(),
                port,
                user: creds.and_then(|c| c.user.clone()),
                password: creds.and_then(|c| c.password.clone()),
            })
        })
        .collect();
    urls.extend(remote.urls.iter().cloned());
    urls
}

fn dial(target: &RouteTarget) -> io::Result<(TcpStream, SocketAddr)> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in (target.host.as_str(), target.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(s) => return Ok((s, addr)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Read the hub's first INFO line from the raw socket (before any TLS),
/// byte by byte so that nothing after it is consumed, within `wait` in
/// all: a hub that drips its INFO cannot stretch the wait.
fn read_info_line(stream: &TcpStream, wait: Duration) -> io::Result<Vec<u8>> {
    let mut within = DeadlineStream::new(stream, Instant::now() + wait);
    let mut line = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    loop {
        match within.read(&mut byte) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {
                if byte[0] == b'\n' {
                    break;
                }
                line.push(byte[0]);
                if line.len() > MAX_INFO_LINE {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "INFO too long"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let whole = if line.is_empty() { "" } else { " whole" };
                let msg = format!("no{whole} INFO within {wait:?}");
                return Err(io::Error::new(io::ErrorKind::TimedOut, msg));
            }
            Err(e) => return Err(e),
        }
    }
    stream.set_read_timeout(None)?;
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}
