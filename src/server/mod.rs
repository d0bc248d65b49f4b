//! The broker: a listener, one thread per client connection, one timer
//! thread, one signal thread.
//!
//! - [`Server`] is the state every thread shares: options, accounts, the
//!   registry of live clients, counters, timers.
//! - `connection.rs` is a client's own thread (read, parse, process, stage);
//!   `client.rs` the part of a client other threads touch (outbound bytes,
//!   counters, close); `deliver.rs` the per-message path.
//! - `sublist.rs` is the subject index; `timers.rs` the auth timeout and
//!   PINGs; `listener.rs` the accept loop and shutdown; `thread_pool.rs`
//!   the parked connection threads reused across connections; `signals.rs`
//!   unix signals.
//! - `route/` is clustering: route connections to other servers.
//! - `imports.rs` carries messages across accounts; `jwt/` is operator
//!   mode; `system/` answers the system account's `$SYS.REQ.` requests,
//!   as an internal client whose outbound side is a queue (`internal.rs`).
//! - `leaf/` is leafnodes: connections to our hubs and from our leaves.

pub mod account;
pub mod auth;
mod auth_cost;
pub mod client;
pub mod close;
mod config_file;
mod conn;
mod connection;
mod deadline;
mod deliver;
mod identity;
pub mod imports;
mod info;
pub(crate) mod internal;
pub mod jwt;
pub mod leaf;
pub(crate) mod listener;
pub mod log;
pub mod monitor;
pub(crate) mod net;
pub mod nkey_auth;
pub mod notify;
mod options;
pub mod permissions;
mod reload;
mod rng;
pub mod route;
mod signals;
mod spin;
mod stack;
pub mod stats;
pub mod sublist;
pub mod subscription;
pub mod system;
mod thread_pool;
mod timers;
pub mod tls;
pub mod trace;
pub mod websocket;
mod wire;

pub use config_file::apply as apply_config_file;
pub use config_file::route_target;
pub use options::*;
pub use reload::Reloader;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::SystemTime;

use account::{Account, GLOBAL_ACCOUNT};
use client::Client;
use stats::ServerStats;
use timers::Timers;

use crate::protocol::info::ServerInfo;

/// nats-lite's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Our version and the nats-server protocol level we speak, without build
/// information: the version in the checked-in man pages, which must not
/// change with every commit.
pub const VERSION_PROTOCOL: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (nats-server protocol ",
    "2.9.10",
    ")"
);

/// `--version` text and the start-up log's `Version:` line:
/// [`VERSION_PROTOCOL`] and what `build.rs` recorded (git commit, target
/// triple, rustc), e.g. `0.1.0 (nats-server protocol 2.9.10) git abc1234,
/// x86_64-unknown-linux-gnu, rustc 1.95.0`.
pub const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (nats-server protocol ",
    "2.9.10",
    ") git ",
    env!("NATS_LITE_GIT"),
    ", ",
    env!("NATS_LITE_TARGET"),
    ", ",
    env!("NATS_LITE_RUSTC")
);

/// The `version` reported in INFO and /varz: the nats-server release whose
/// wire behaviour we match, with our own version as semver build metadata
/// (README, Compatibility, says why this number: the official clients'
/// version checks guard only JetStream features, and every client parses
/// it as a nats-server 2.9.10).
pub const INFO_VERSION: &str = concat!("2.9.10+nats-lite.", env!("CARGO_PKG_VERSION"));

/// The `go` field of INFO and `/varz`, where nats-server names the Go
/// toolchain it was built with: the rustc that built nats-lite.
pub const INFO_GO: &str = env!("NATS_LITE_RUSTC");

/// The `git_commit` field of INFO and `/varz`: the short commit nats-lite
/// was built from, or `None` (field left out) when the build did not know.
pub fn info_git_commit() -> Option<String> {
    let commit = env!("NATS_LITE_GIT");
    (commit != "unknown").then(|| commit.to_string())
}

/// Protocol version in INFO.
pub const PROTO: i32 = 1;

/// State shared by every thread of the broker.
pub struct Server {
    opts: RwLock<Arc<Options>>,
    /// Server id: a public nkey (56 characters starting with `N`).
    pub id: String,
    /// Server name (the id unless configured).
    pub name: String,
    /// The address the client listener is bound to.
    pub addr: SocketAddr,
    /// The global account `$G`.
    pub global: Arc<Account>,
    /// Every account by name, `$G` included (accounts added by a reload join it).
    accounts: RwLock<HashMap<String, Arc<Account>>>,
    /// Credentials and who they make a client (replaced by a reload).
    auth: RwLock<Arc<auth::Authenticator>>,
    /// Re-reads the configuration file and the flags, for a reload.
    reloader: Option<Reloader>,
    /// Server-wide counters.
    pub stats: Arc<ServerStats>,
    /// Auth timeouts and PINGs.
    pub timers: Arc<Timers>,
    /// When the server started.
    pub start: SystemTime,
    /// Routes to the other servers of the cluster.
    pub routes: route::Routes,
    /// Leaf connections (to our hubs and from our leaves).
    pub leafs: leaf::Leafs,
    /// Recently closed connections, for `/connz?state=closed` (monitoring).
    pub closed: monitor::ClosedRing,
    /// TLS configuration for client connections (replaced by a reload).
    tls_config: RwLock<Option<Arc<rustls::ServerConfig>>>,
    clients: Mutex<HashMap<u64, Arc<Client>>>,
    /// The client INFO's server part, encoded once (see [`Server::client_info_json`]).
    info_template: Mutex<Option<Arc<info::Template>>>,
    /// The WebSocket listener's address, once bound.
    pub websocket_addr: std::sync::OnceLock<SocketAddr>,
    /// Who credentials make a WebSocket client (replaced by a reload).
    websocket_auth: RwLock<Option<Arc<auth::Authenticator>>>,
    /// The system account's request services (`system/`).
    pub system: system::SystemState,
    next_cid: AtomicU64,
    shutting_down: AtomicBool,
    lame_duck: AtomicBool,
}

impl Server {
    fn new(
        opts: Options,
        addr: SocketAddr,
        tls_config: Option<Arc<rustls::ServerConfig>>,
        reloader: Option<Reloader>,
    ) -> std::io::Result<Server> {
        let id = server_id();
        let closed = monitor::ClosedRing::new(opts.max_closed_clients);
        let mut accounts: HashMap<String, Arc<Account>> = HashMap::new();
        accounts.insert(
            GLOBAL_ACCOUNT.to_string(),
            Arc::new(Account::new(GLOBAL_ACCOUNT)),
        );
        for name in &opts.accounts {
            accounts
                .entry(name.clone())
                .or_insert_with(|| Arc::new(Account::new(name)));
        }
        if opts.disable_sublist_cache {
            accounts.values().for_each(|a| a.sublist.disable_cache());
        }
        let auth = auth::Authenticator::new(&opts, &accounts)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        imports::install(&accounts, &opts.imports);
        trace::install(&accounts, &opts.msg_traces);
        Ok(Server {
            global: accounts[GLOBAL_ACCOUNT].clone(),
            accounts: RwLock::new(accounts),
            auth: RwLock::new(Arc::new(auth)),
            reloader,
            tls_config: RwLock::new(tls_config),
            name: opts.server_name.clone().unwrap_or_else(|| id.clone()),
            routes: route::Routes::new(opts.cluster.as_ref(), opts.leafnodes.is_some()),
            leafs: leaf::Leafs::new(),
            id,
            addr,
            opts: RwLock::new(Arc::new(opts)),
            stats: Arc::new(ServerStats::default()),
            timers: Arc::new(Timers::default()),
            start: SystemTime::now(),
            closed,
            clients: Mutex::new(HashMap::new()),
            info_template: Mutex::new(None),
            websocket_addr: std::sync::OnceLock::new(),
            websocket_auth: RwLock::new(None),
            system: system::SystemState::default(),
            next_cid: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            lame_duck: AtomicBool::new(false),
        })
    }

    /// The options in force.
    pub fn opts(&self) -> Arc<Options> {
        self.opts.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Who credentials make a client, under the options in force.
    pub fn auth(&self) -> Arc<auth::Authenticator> {
        self.auth.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The rules `client` authenticates under: the WebSocket listener's for
    /// a WebSocket client, the server's otherwise.
    pub fn auth_for(&self, client: &Client) -> Arc<auth::Authenticator> {
        if client.meta().websocket {
            if let Some(ws) = self.websocket_auth() {
                return ws;
            }
        }
        self.auth()
    }

    /// The WebSocket listener's authentication rules, when it has a listener.
    pub fn websocket_auth(&self) -> Option<Arc<auth::Authenticator>> {
        self.websocket_auth
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Install the WebSocket listener's rules (at start and by a reload).
    pub fn set_websocket_auth(&self, auth: Option<Arc<auth::Authenticator>>) {
        *self
            .websocket_auth
            .write()
            .unwrap_or_else(|e| e.into_inner()) = auth;
    }

    /// The TLS configuration for new client connections.
    pub fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls_config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// An account by name.
    pub fn account(&self, name: &str) -> Option<Arc<Account>> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Every account by name (for an authenticator of another listener).
    pub fn accounts_snapshot(&self) -> HashMap<String, Arc<Account>> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn clients(&self) -> MutexGuard<'_, HashMap<u64, Arc<Client>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection id.
    pub fn next_cid(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    /// Add a client to the registry; false when that passes max_connections
    /// (it is not added then).
    pub fn register(&self, client: &Arc<Client>) -> bool {
        self.stats.total_connections.fetch_add(1, Ordering::Relaxed);
        let max = self.opts().max_connections;
        let mut clients = self.clients();
        if clients.len() >= max || self.is_shutting_down() {
            return false;
        }
        clients.insert(client.cid, client.clone());
        true
    }

    /// Remove a closed client from the registry (and remember it for monitoring).
    pub fn unregister(&self, client: &Client) {
        self.clients().remove(&client.cid);
        self.closed.record(client, self.opts().token.is_some());
    }

    /// Remove a client that never got to be one (a WebSocket connection
    /// whose upgrade failed): not counted, not remembered as closed.
    pub fn forget(&self, client: &Client) {
        if self.clients().remove(&client.cid).is_some() {
            self.stats.total_connections.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Number of connected clients.
    pub fn num_clients(&self) -> usize {
        self.clients().len()
    }

    /// A snapshot of the connected clients.
    pub fn client_list(&self) -> Vec<Arc<Client>> {
        self.clients().values().cloned().collect()
    }

    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// True once lame duck mode has begun.
    pub fn in_lame_duck(&self) -> bool {
        self.lame_duck.load(Ordering::Acquire)
    }

    /// This server's client URLs (`host:port`) as the cluster knows them.
    pub fn own_client_urls(&self) -> Vec<String> {
        let opts = self.opts();
        route::gossip::own_client_urls(
            opts.client_advertise.as_deref(),
            &opts.host,
            self.addr.port(),
        )
    }

    /// The `host` and `port` INFO tells clients: the `client_advertise`
    /// address when one is set (its port defaulting to ours), as
    /// nats-server does, else the listen host and the bound port.
    fn advertised_host_port(&self) -> (String, u16) {
        let opts = self.opts();
        let port = self.addr.port();
        let Some(advertise) = opts.client_advertise.as_deref() else {
            return (opts.host.clone(), port);
        };
        let url = route::gossip::own_client_urls(Some(advertise), &opts.host, port);
        let url = url.first().map(String::as_str).unwrap_or_default();
        match url.rsplit_once(':') {
            Some((h, p)) => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse().unwrap_or(port),
            ),
            None => (url.to_string(), port),
        }
    }

    /// The INFO JSON for one client: the server's part is encoded once and
    /// reused until something in it changes (options or auth reloaded, lame
    /// duck); with routes (whose client URLs come and go) it is encoded each
    /// time.
    pub fn client_info_json(&self, client: &Client) -> Vec<u8> {
        match self.info_template() {
            Some(t) => t.for_client(client.cid, client.addr.ip()),
            None => self.client_info_json_with_nonce(client, None),
        }
    }

    /// Append the whole `INFO <json>\r\n` line for one client to `out` (see
    /// [`Server::client_info_json`]).
    pub fn write_client_info_line(&self, client: &Client, out: &mut Vec<u8>) {
        if let Some(t) = self.info_template() {
            return t.write_line(out, client.cid, client.addr.ip());
        }
        let json = self.client_info_json_with_nonce(client, None);
        out.reserve(json.len() + 7);
        crate::protocol::encode::json_op(out, "INFO", &json);
    }

    /// The client INFO's template, when one applies (no routes).
    pub(crate) fn info_template(&self) -> Option<Arc<info::Template>> {
        if self.routes.enabled() {
            return None;
        }
        let opts = self.opts();
        let auth = self.auth();
        let ldm = self.in_lame_duck();
        let template = {
            let mut cached = self.info_template.lock().unwrap_or_else(|e| e.into_inner());
            match &*cached {
                Some(t) if t.fits(&opts, &auth, ldm) => t.clone(),
                _ => {
                    let json = self.info_json(&opts, &auth, ldm, info::CLIENT_MARK_ID, "", None);
                    let t = Arc::new(info::Template::new(opts, auth, ldm, json));
                    *cached = Some(t.clone());
                    t
                }
            }
        };
        Some(template)
    }

    /// The INFO JSON for one client, with the `nonce` it must sign (the
    /// first INFO, when NKey or JWT auth is possible).
    pub fn client_info_json_with_nonce(&self, client: &Client, nonce: Option<&str>) -> Vec<u8> {
        let ip = client.addr.ip().to_string();
        let (opts, auth) = (self.opts(), self.auth());
        self.info_json(&opts, &auth, self.in_lame_duck(), client.cid, &ip, nonce)
    }

    /// The INFO JSON under `opts` and `auth` for connection `cid` from `ip`.
    fn info_json(
        &self,
        opts: &Options,
        auth: &auth::Authenticator,
        ldm: bool,
        cid: u64,
        ip: &str,
        nonce: Option<&str>,
    ) -> Vec<u8> {
        let (host, port) = self.advertised_host_port();
        let info = ServerInfo {
            ldm,
            server_id: self.id.clone(),
            server_name: self.name.clone(),
            version: INFO_VERSION.to_string(),
            proto: PROTO,
            git_commit: info_git_commit(),
            go: INFO_GO.to_string(),
            host,
            port,
            headers: !opts.no_header_support,
            auth_required: auth.anonymous().is_none(),
            tls_required: opts.tls.is_some() && !opts.allow_non_tls,
            tls_available: opts.tls.is_some() && opts.allow_non_tls,
            tls_verify: opts
                .tls
                .as_ref()
                .is_some_and(|t| t.verify || t.verify_and_map),
            max_payload: opts.max_payload,
            client_id: Some(cid),
            client_ip: Some(ip.to_string()),
            nonce: nonce.map(str::to_string),
            ..ServerInfo::default()
        };
        let info = if self.routes.enabled() {
            ServerInfo {
                cluster: Some(self.routes.name()),
                connect_urls: self.routes.client_connect_urls(self.own_client_urls()),
                ..info
            }
        } else {
            info
        };
        serde_json::to_vec(&info).unwrap_or_default()
    }
}

/// Run the broker until a signal stops it; `warnings` are logged at start.
///
/// # Errors
///
/// The listener could not be bound, or the pid/ports/log file written.
pub fn run(opts: Options, warnings: &[String], reloader: Option<Reloader>) -> std::io::Result<()> {
    listener::run(opts, warnings, reloader)
}

/// A server id in the form of a public server nkey: base32 of a prefix byte,
/// 32 random bytes and a CRC16, 56 characters starting with `N`.
pub fn server_id() -> String {
    let mut raw = vec![13u8 << 3];
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        let t = client::unix_nanos(SystemTime::now()).to_le_bytes();
        for (i, b) in seed.iter_mut().enumerate() {
            *b = t[i % 8] ^ (i as u8).wrapping_mul(151) ^ (std::process::id() as u8);
        }
    }
    raw.extend_from_slice(&seed);
    let crc = crc16_xmodem(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32(&raw)
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Path of the ports file nats-server writes: `<dir>/<exe>_<pid>.ports`,
/// `<exe>` being the base name of `argv[0]` as nats-server takes it (so
/// the binary run as `nats-server` writes `nats-server_<pid>.ports`, the
/// file a launcher of nats-server waits for).
pub fn ports_file_path(dir: &std::path::Path) -> PathBuf {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let exe = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "nats-lite".to_string());
    dir.join(format!("{exe}_{}.ports", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_look_like_server_nkeys() {
        let id = server_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_ne!(id, server_id());
    }

    #[test]
    fn crc16_matches_xmodem() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }
}
