//! Server options resolved from flags (and, later, a config file), with
//! nats-server's defaults as named constants in one place (`server/const.go`).

use std::path::PathBuf;
use std::time::Duration;

use super::permissions::Permissions;

/// Default client port.
pub const DEFAULT_PORT: u16 = 4222;
/// Default route port (nats-server's DEFAULT_ROUTE_PORT).
pub const DEFAULT_ROUTE_PORT: u16 = 6222;
/// Default bind address.
pub const DEFAULT_HOST: &str = "0.0.0.0";
/// Largest payload accepted by default (1 MiB).
pub const MAX_PAYLOAD: usize = 1024 * 1024;
/// Longest control line by default.
pub const MAX_CONTROL_LINE: usize = 4096;
/// Outbound bytes a client may have pending before it is a slow consumer (64 MiB).
pub const MAX_PENDING: usize = 64 * 1024 * 1024;
/// Connection limit by default.
pub const MAX_CONNECTIONS: usize = 64 * 1024;
/// How long one write may block before the client is a slow consumer.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Interval between server PINGs.
pub const PING_INTERVAL: Duration = Duration::from_secs(120);
/// Unanswered PINGs before 'Stale Connection'.
pub const PING_MAX: u32 = 2;
/// The first PING after CONNECT comes sooner, to learn the RTT early.
pub const FIRST_PING_INTERVAL: Duration = Duration::from_secs(2);
/// Time to send CONNECT when auth is required.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Time to finish a TLS handshake.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(2);
/// Lame duck mode: time over which clients are closed.
pub const LAME_DUCK_DURATION: Duration = Duration::from_secs(120);
/// Lame duck mode: wait before the first client is closed.
pub const LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// How many closed connections /connz remembers.
pub const MAX_CLOSED_CLIENTS: usize = 10_000;
/// Monitoring port when `-m` is given without a config file (nats-server's DEFAULT_HTTP_PORT).
pub const DEFAULT_HTTP_PORT: u16 = 8222;

/// TLS settings for client connections.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    /// Server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Server private key (PEM).
    pub key_file: PathBuf,
    /// CA certificates to verify clients with (PEM).
    pub ca_file: Option<PathBuf>,
    /// Require and verify client certificates.
    pub verify: bool,
    /// Verify client certificates and take the user from them.
    pub verify_and_map: bool,
    /// Time to finish the handshake.
    pub timeout: Duration,
    /// Allowed cipher suites by IANA/Go name (empty: rustls's defaults).
    pub cipher_suites: Vec<String>,
    /// Key exchange groups by Go name (`X25519`, `CurveP256`, `CurveP384`;
    /// empty: rustls's defaults).
    pub curve_preferences: Vec<String>,
    /// Accept TLS 1.3 only (`min_version: "1.3"`).
    pub min_version_13: bool,
    /// Hex SHA-256 of the accepted client keys (SubjectPublicKeyInfo); empty: any.
    pub pinned_certs: Vec<String>,
    /// TLS before INFO: `Some(ZERO)` always, `Some(d)` when the client starts
    /// TLS within `d` (else INFO first), `None` never.
    pub handshake_first: Option<Duration>,
}

impl TlsOptions {
    /// TLS with a certificate and key and the default timeout.
    pub fn new(cert_file: PathBuf, key_file: PathBuf) -> TlsOptions {
        TlsOptions {
            cert_file,
            key_file,
            ca_file: None,
            verify: false,
            verify_and_map: false,
            timeout: TLS_TIMEOUT,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            min_version_13: false,
            pinned_certs: Vec::new(),
            handshake_first: None,
        }
    }
}

/// One route to solicit: where, and the credentials to present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTarget {
    /// The URL as written (for logs and `/varz`).
    pub url: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User for the peer's route authorization.
    pub user: Option<String>,
    /// Password for the peer's route authorization.
    pub password: Option<String>,
}

/// Clustering: the route listener, its authorization, the routes to solicit.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOptions {
    /// Cluster name; `None`: a dynamic name agreed with the peers.
    pub name: Option<String>,
    /// Address the route listener binds to.
    pub host: String,
    /// Route port; 0 picks a free one.
    pub port: u16,
    /// `host:port` advertised to other servers instead of the listen address.
    pub advertise: Option<String>,
    /// Do not advertise client URLs (ours to peers, peers' to our clients).
    pub no_advertise: bool,
    /// Retries when dialling a route learnt by gossip.
    pub connect_retries: u32,
    /// User other servers must present.
    pub user: Option<String>,
    /// Password other servers must present (plain or bcrypt).
    pub password: Option<String>,
    /// Time a route has to send CONNECT when authorization is required.
    pub auth_timeout: Duration,
    /// Routes to solicit.
    pub routes: Vec<RouteTarget>,
    /// Interval between route PINGs (capped at 30 s); the client one when `None`.
    pub ping_interval: Option<Duration>,
    /// Unanswered route PINGs before the route is stale; the client one when `None`.
    pub ping_max: Option<u32>,
    /// Route TLS: the route certificate, key, CA and whether peers are verified.
    pub tls: Option<TlsOptions>,
    /// Route TLS: do not verify the certificates of the servers we dial.
    pub tls_insecure: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            name: None,
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_ROUTE_PORT,
            advertise: None,
            no_advertise: false,
            connect_retries: 0,
            user: None,
            password: None,
            auth_timeout: AUTH_TIMEOUT,
            routes: Vec::new(),
            ping_interval: None,
            ping_max: None,
            tls: None,
            tls_insecure: false,
        }
    }
}

impl ClusterOptions {
    /// Routes must present credentials.
    pub fn auth_required(&self) -> bool {
        self.user.is_some()
    }
}

/// A user of a multi-user `authorization` or of an account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct User {
    /// User name (with `verify_and_map`: an email or an RFC 2253 DN).
    pub name: String,
    /// Password, plain or a bcrypt hash; `None` for certificate-mapped users.
    pub password: Option<String>,
    /// The user's permissions (`default_permissions` when `None`).
    pub permissions: Option<Permissions>,
    /// The account the user belongs to (`$G` when `None`).
    pub account: Option<String>,
    /// `allowed_connection_types`, upper-cased (`STANDARD`, `WEBSOCKET`,
    /// ...); `None`: every kind.
    pub allowed_connection_types: Option<Vec<String>>,
}

/// An NKey user: proves it holds the key by signing the server's nonce.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NkeyUser {
    /// The user's public key (`U...`).
    pub public_key: String,
    /// The user's permissions (`default_permissions` when `None`).
    pub permissions: Option<Permissions>,
    /// The account the user belongs to (`$G` when `None`).
    pub account: Option<String>,
    /// `allowed_connection_types`, upper-cased; `None`: every kind.
    pub allowed_connection_types: Option<Vec<String>>,
}

/// Everything the broker needs to know to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to bind the client listener to.
    pub host: String,
    /// Client port; 0 picks a free one.
    pub port: u16,
    /// Server name; the server id when not set.
    pub server_name: Option<String>,
    /// Write the pid here.
    pub pid_file: Option<PathBuf>,
    /// Write `<exe>_<pid>.ports` here.
    pub ports_file_dir: Option<PathBuf>,
    /// Log to this file instead of stderr.
    pub log_file: Option<PathBuf>,
    /// Timestamps on log lines.
    pub logtime: bool,
    /// Log lines as JSON objects (`log_format: json`) instead of text.
    pub log_json: bool,
    /// Timestamps in UTC.
    pub logtime_utc: bool,
    /// Debug log lines.
    pub debug: bool,
    /// Protocol trace log lines.
    pub trace: bool,
    /// Longest traced payload (0: unlimited).
    pub max_traced_msg_len: usize,
    /// Single-user auth: user.
    pub user: Option<String>,
    /// Single-user auth: password.
    pub pass: Option<String>,
    /// Token auth.
    pub token: Option<String>,
    /// Multi-user auth (from `authorization { users }` and `accounts`).
    pub users: Vec<User>,
    /// Permissions for users that have none of their own.
    pub default_permissions: Option<Permissions>,
    /// Clients without credentials act as this user.
    pub no_auth_user: Option<String>,
    /// Accounts besides `$G`.
    pub accounts: Vec<String>,
    /// NKey users (from `authorization { users }` and `accounts`).
    pub nkeys: Vec<NkeyUser>,
    /// Account imports (streams and services) from `accounts`.
    pub imports: Vec<super::imports::ImportSpec>,
    /// The system account (`system_account`; in operator mode the
    /// operator's), whose clients may send the system requests.
    pub system_account: Option<String>,
    /// Accounts' `msg_trace`: account name, trace subject, sampling percent.
    pub msg_traces: Vec<(String, String, u8)>,
    /// Operator mode: trusted operators and the accounts they sign.
    pub operator: Option<super::jwt::TrustOptions>,
    /// Time allowed for CONNECT when auth is required.
    pub auth_timeout: Duration,
    /// See [`MAX_PAYLOAD`].
    pub max_payload: usize,
    /// See [`MAX_CONTROL_LINE`].
    pub max_control_line: usize,
    /// See [`MAX_PENDING`].
    pub max_pending: usize,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Subscriptions per connection; 0 is unlimited.
    pub max_subscriptions: usize,
    /// See [`WRITE_DEADLINE`].
    pub write_deadline: Duration,
    /// See [`PING_INTERVAL`].
    pub ping_interval: Duration,
    /// See [`PING_MAX`].
    pub ping_max: u32,
    /// Monitoring: host to bind (the client `host` when not set).
    pub http_host: Option<String>,
    /// Monitoring: HTTP port (`Some(0)` picks a free one; `None`: no monitor).
    pub http_port: Option<u16>,
    /// Monitoring: HTTPS port (needs TLS; refused until TLS is built).
    pub https_port: Option<u16>,
    /// Monitoring: wrap JSON in `?callback=` (JSONP). Off by default; nats-server removed it.
    pub http_jsonp: bool,
    /// Credentials the monitoring port requires (`http_auth`); none by default.
    pub http_auth: Option<crate::conf::HttpAuth>,
    /// See [`MAX_CLOSED_CLIENTS`]; 0 keeps none.
    pub max_closed_clients: usize,
    /// TLS for client connections.
    pub tls: Option<TlsOptions>,
    /// Lame duck mode: time over which clients are closed.
    pub lame_duck_duration: Duration,
    /// Lame duck mode: wait before closing the first client.
    pub lame_duck_grace_period: Duration,
    /// With TLS configured, accept plain-text clients too.
    pub allow_non_tls: bool,
    /// Most tokens in a subscription subject (0: unlimited).
    pub max_sub_tokens: usize,
    /// Rotate the log file past this size in bytes (0: never).
    pub log_size_limit: u64,
    /// Rotated log files to keep (0: all).
    pub log_max_files: u64,
    /// Log to the local syslog.
    pub syslog: bool,
    /// Log to a remote syslog (`udp://host:514`).
    pub remote_syslog: Option<String>,
    /// Do not cache subject matches.
    pub disable_sublist_cache: bool,
    /// Do not offer headers (HPUB/HMSG).
    pub no_header_support: bool,
    /// Client URL (`host:port`) advertised to the cluster instead of ours.
    pub client_advertise: Option<String>,
    /// Clustering, when a route listener is configured.
    pub cluster: Option<ClusterOptions>,
    /// The WebSocket listener (`websocket { }`).
    pub websocket: Option<WebsocketOptions>,
    /// Leafnodes (`leafnodes { }`): the listener for leaves and the hubs
    /// to solicit.
    pub leafnodes: Option<LeafnodeOptions>,
}

/// Leafnodes: where leaf connections are accepted and how they
/// authenticate, and the remotes (hubs) this server is a leaf of.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeafnodeOptions {
    /// Bind address of the leafnode listener.
    pub host: String,
    /// Leafnode port (0 picks a free one); `None`: no listener.
    pub port: Option<u16>,
    /// `host:port` sent to leaves instead of the listen address.
    pub advertise: Option<String>,
    /// Do not send leaves the URLs of the cluster's other servers.
    pub no_advertise: bool,
    /// TLS on the leafnode listener.
    pub tls: Option<TlsOptions>,
    /// Single user of the block's authorization.
    pub user: Option<String>,
    /// Its password.
    pub pass: Option<String>,
    /// Token of the block's authorization.
    pub token: Option<String>,
    /// Users of the block's authorization (`None`: the block has no users).
    pub users: Option<Vec<User>>,
    /// The account the block's single user (or token) binds leaves to.
    pub account: Option<String>,
    /// Time a leaf has to send CONNECT (the server's `auth_timeout` when unset).
    pub auth_timeout: Option<Duration>,
    /// Wait between attempts at a remote.
    pub reconnect: Duration,
    /// Write deadline of leaf connections (the server's when unset).
    pub write_deadline: Option<Duration>,
    /// Leaves older than this server version are refused.
    pub min_version: Option<String>,
    /// The hubs to solicit.
    pub remotes: Vec<LeafRemote>,
}

impl LeafnodeOptions {
    /// True when the block has an authorization of its own.
    pub fn has_own_auth(&self) -> bool {
        self.user.is_some() || self.token.is_some() || self.users.is_some()
    }
}

/// One hub to solicit as a leaf.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeafRemote {
    /// The hub's URLs, tried in turn (credentials from the URL).
    pub urls: Vec<RouteTarget>,
    /// A credentials file (user JWT and NKey seed) to authenticate with.
    pub credentials: Option<PathBuf>,
    /// The local account the connection binds.
    pub account: String,
    /// TLS towards the hub.
    pub tls: Option<crate::tls::TlsOptions>,
    /// Time to finish the TLS handshake.
    pub tls_timeout: Duration,
    /// We are the hub on this connection (`hub: true`).
    pub hub: bool,
    /// Configured but not solicited (`disabled: true`).
    pub disabled: bool,
    /// Messages on these subjects are not accepted from the hub, nor is
    /// interest in them sent to it (`deny_imports`).
    pub deny_imports: Vec<String>,
    /// Messages on these subjects are not sent to the hub, nor is its
    /// interest in them accepted (`deny_exports`).
    pub deny_exports: Vec<String>,
    /// How long the hub has to send its first INFO.
    pub first_info_timeout: Duration,
}

/// nats-server's default wait between attempts at a leafnode remote.
pub const LEAF_RECONNECT: Duration = Duration::from_secs(1);
/// The leafnode port when a URL has none.
pub const DEFAULT_LEAF_PORT: u16 = 7422;

/// The WebSocket listener: where, TLS, origins, compression, and its own
/// authorization (when set, WebSocket clients authenticate against it
/// instead of the server's).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebsocketOptions {
    /// Bind address.
    pub host: String,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// `host:port` advertised instead of the listen address.
    pub advertise: Option<String>,
    /// TLS (`wss://`); `None` with `no_tls`.
    pub tls: Option<TlsOptions>,
    /// Accept only an `Origin` equal to the request's `Host`.
    pub same_origin: bool,
    /// Origins accepted; empty: any.
    pub allowed_origins: Vec<String>,
    /// Offer permessage-deflate.
    pub compression: bool,
    /// Time from accept to the end of the upgrade (TLS included).
    pub handshake_timeout: Duration,
    /// `handshake_timeout` was configured (not our default).
    pub handshake_timeout_set: bool,
    /// Single user of the block's authorization.
    pub user: Option<String>,
    /// Its password.
    pub pass: Option<String>,
    /// Token of the block's authorization.
    pub token: Option<String>,
    /// Users of the block's authorization (`None`: the block has no users).
    pub users: Option<Vec<User>>,
    /// Time to send CONNECT (the server's `auth_timeout` when unset).
    pub auth_timeout: Option<Duration>,
    /// `no_auth_user` for WebSocket clients.
    pub no_auth_user: Option<String>,
}

impl WebsocketOptions {
    /// True when the block has an authorization of its own.
    pub fn has_own_auth(&self) -> bool {
        self.user.is_some() || self.token.is_some() || self.users.is_some()
    }
}

/// nats-lite's default WebSocket handshake timeout (nats-server 2.9.10 sets
/// none): a client that never finishes the upgrade holds nothing for long.
pub const WS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

impl Default for Options {
    fn default() -> Self {
        Options {
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            server_name: None,
            pid_file: None,
            ports_file_dir: None,
            log_file: None,
            logtime: true,
            log_json: false,
            logtime_utc: false,
            debug: false,
            trace: false,
            max_traced_msg_len: 0,
            user: None,
            pass: None,
            token: None,
            users: Vec::new(),
            default_permissions: None,
            no_auth_user: None,
            accounts: Vec::new(),
            msg_traces: Vec::new(),
            nkeys: Vec::new(),
            imports: Vec::new(),
            operator: None,
            system_account: None,
            auth_timeout: AUTH_TIMEOUT,
            max_payload: MAX_PAYLOAD,
            max_control_line: MAX_CONTROL_LINE,
            max_pending: MAX_PENDING,
            max_connections: MAX_CONNECTIONS,
            max_subscriptions: 0,
            write_deadline: WRITE_DEADLINE,
            ping_interval: PING_INTERVAL,
            ping_max: PING_MAX,
            http_host: None,
            http_port: None,
            https_port: None,
            http_jsonp: false,
            http_auth: None,
            max_closed_clients: MAX_CLOSED_CLIENTS,
            tls: None,
            lame_duck_duration: LAME_DUCK_DURATION,
            lame_duck_grace_period: LAME_DUCK_GRACE_PERIOD,
            allow_non_tls: false,
            max_sub_tokens: 0,
            log_size_limit: 0,
            log_max_files: 0,
            syslog: false,
            remote_syslog: None,
            disable_sublist_cache: false,
            no_header_support: false,
            client_advertise: None,
            cluster: None,
            websocket: None,
            leafnodes: None,
        }
    }
}

impl Options {
    /// True when clients must authenticate.
    pub fn auth_required(&self) -> bool {
        self.user.is_some()
            || self.token.is_some()
            || !self.users.is_empty()
            || !self.nkeys.is_empty()
            || self.operator.is_some()
            || self.tls.as_ref().is_some_and(|t| t.verify_and_map)
    }

    /// Consistency rules across options (nats-server's `validateOptions`),
    /// for the options the server finally runs with: the file's and the
    /// flags'. The rules themselves are `conf::rules` (the configuration
    /// file applies them too, with positions).
    ///
    /// # Errors
    ///
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), String> {
        crate::conf::rules::payload_within_pending(self.max_payload, self.max_pending)?;
        crate::conf::rules::lame_duck_grace_within_duration(
            self.lame_duck_grace_period,
            self.lame_duck_duration,
        )?;
        Ok(())
    }

    /// The auth timeout in force: with TLS and the default auth timeout, the
    /// TLS timeout plus a second, as nats-server's `getDefaultAuthTimeout`.
    pub fn effective_auth_timeout(&self) -> Duration {
        match &self.tls {
            Some(tls) if self.auth_timeout == AUTH_TIMEOUT => {
                self.auth_timeout.max(tls.timeout + Duration::from_secs(1))
            }
            _ => self.auth_timeout,
        }
    }
}
