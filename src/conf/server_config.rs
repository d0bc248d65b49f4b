//! [`ServerConfig`]: what a configuration file asks of the server, typed and
//! checked, as nats-server's `processConfigFileLine` (`server/opts.go`)
//! reads it.
//!
//! Every field is what the *file* says: `None` (or empty) when the file
//! does not set it, so flags can override the file and defaults can be
//! applied in one place (the server's options). Option names are matched
//! ignoring case. A misspelt option is an error; a nats-server option that
//! nats-lite does not implement is an error when ignoring it would weaken
//! security, a [`Warning`] otherwise.

use std::path::PathBuf;
use std::time::Duration;

use super::auth::{
    check_duplicate_users, parse_accounts, parse_authorization, validate_client_authorization,
    Account, Authorization, User,
};
use super::cluster::{parse_cluster, ClusterConfig};
use super::duration::{duration_from_value, parse_signed_duration};
use super::error::{ConfError, Warning};
use super::leafnodes::{parse_leafnodes, LeafnodesConfig};
use super::tls::{parse_tls, TlsConfig};
use super::typed::{self, not_supported, unknown_field};
use super::value::{Entry, Map, Value};
use super::websocket::{parse_websocket, WebsocketConfig};

/// nats-server's default `max_pending` (64 MiB), for the `max_payload`
/// check when the file sets only `max_payload`.
const DEFAULT_MAX_PENDING: usize = 64 * 1024 * 1024;
/// `max_payload` above this gets a warning (nats-server's
/// `MAX_PAYLOAD_MAX_SIZE`, 8 MiB).
const MAX_PAYLOAD_WARN: usize = 8 * 1024 * 1024;
/// nats-server's smallest `lame_duck_duration`.
const MIN_LAME_DUCK_DURATION: Duration = Duration::from_secs(30);
/// Defaults of the lame duck options, for their cross-check.
const DEFAULT_LAME_DUCK_DURATION: Duration = Duration::from_secs(120);
const DEFAULT_LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// The server options a configuration file sets. Ports follow nats-server:
/// `-1` ("any free port") comes back as `Some(0)`, and `0` ("default", or
/// "off" for monitoring) as `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerConfig {
    /// Client listen address (`host`/`net`, or from `listen`).
    pub host: Option<String>,
    /// Client port (`port`, or from `listen`).
    pub port: Option<u16>,
    /// `server_name` (no spaces).
    pub server_name: Option<String>,
    /// `client_advertise`: `host:port` put in INFO's `connect_urls`.
    pub client_advertise: Option<String>,

    /// Monitoring address (from `http: host:port` or `https: host:port`).
    pub http_host: Option<String>,
    /// Monitoring port (`http_port`/`monitor_port`, or from `http`).
    pub http_port: Option<u16>,
    /// HTTPS monitoring port (`https_port`, or from `https`).
    pub https_port: Option<u16>,
    /// Prefix of every monitoring path.
    pub http_base_path: Option<String>,
    /// nats-lite extension: answer `?callback=` with JSONP.
    pub http_jsonp: Option<bool>,
    /// nats-lite extension: credentials the monitoring port requires.
    pub http_auth: Option<super::http_auth::HttpAuth>,

    /// The top-level `authorization` block.
    pub authorization: Option<Authorization>,
    /// The `accounts` block.
    pub accounts: Vec<Account>,
    /// `system_account` (alias `system`).
    pub system_account: Option<String>,
    /// Operator mode: `operator`, `resolver`, `resolver_preload`.
    pub operator: Option<super::operator::OperatorConfig>,
    /// `no_auth_user`: clients without credentials act as this user (who
    /// must be defined in `authorization` or `accounts`).
    pub no_auth_user: Option<String>,

    /// The client `tls` block.
    pub tls: Option<TlsConfig>,
    /// Accept plain-text clients too when TLS is configured.
    pub allow_non_tls: Option<bool>,

    /// `max_connections`/`max_conn`. As in nats-server, `Some(0)` in a
    /// file means no client may connect.
    pub max_connections: Option<usize>,
    /// `max_control_line` in bytes.
    pub max_control_line: Option<usize>,
    /// `max_payload` in bytes.
    pub max_payload: Option<usize>,
    /// `max_pending` in bytes.
    pub max_pending: Option<usize>,
    /// `max_subscriptions`/`max_subs` per connection (0: unlimited).
    pub max_subscriptions: Option<usize>,
    /// `max_sub_tokens`: most tokens in a subscription subject (1-255).
    pub max_sub_tokens: Option<u8>,
    /// `write_deadline`.
    pub write_deadline: Option<Duration>,
    /// `ping_interval`.
    pub ping_interval: Option<Duration>,
    /// `ping_max`.
    pub ping_max: Option<u32>,
    /// `lame_duck_duration` (at least 30s).
    pub lame_duck_duration: Option<Duration>,
    /// `lame_duck_grace_period`.
    pub lame_duck_grace_period: Option<Duration>,

    /// `debug`.
    pub debug: Option<bool>,
    /// `trace` (also set by `trace_verbose` and `trace_headers`).
    pub trace: Option<bool>,
    /// `trace_verbose`.
    pub trace_verbose: Option<bool>,
    /// `trace_headers`.
    pub trace_headers: Option<bool>,
    /// `logtime`.
    pub logtime: Option<bool>,
    /// nats-lite extension: `log_format: json` (true) or `text`.
    pub log_json: Option<bool>,
    /// `logtime_utc`.
    pub logtime_utc: Option<bool>,
    /// `log_file`/`logfile`.
    pub log_file: Option<PathBuf>,
    /// `log_size_limit`/`logfile_size_limit` in bytes.
    pub log_size_limit: Option<u64>,
    /// `logfile_max_num`: rotated log files to keep.
    pub logfile_max_num: Option<u64>,
    /// `pid_file`/`pidfile`.
    pub pid_file: Option<PathBuf>,
    /// `ports_file_dir`.
    pub ports_file_dir: Option<PathBuf>,
    /// `syslog`.
    pub syslog: Option<bool>,
    /// `remote_syslog` (`udp://host:514`).
    pub remote_syslog: Option<String>,
    /// `max_traced_msg_len` (0: unlimited).
    pub max_traced_msg_len: Option<usize>,

    /// `disable_sublist_cache`/`no_sublist_cache`.
    pub disable_sublist_cache: Option<bool>,
    /// `max_closed_clients`: closed connections kept for `/connz`.
    pub max_closed_clients: Option<usize>,
    /// `no_header_support`.
    pub no_header_support: Option<bool>,
    /// `connect_error_reports`.
    pub connect_error_reports: Option<u32>,
    /// `reconnect_error_reports`.
    pub reconnect_error_reports: Option<u32>,

    /// The `cluster` block.
    pub cluster: Option<ClusterConfig>,
    /// The `websocket` block.
    pub websocket: Option<WebsocketConfig>,
    /// The `leafnodes` block.
    pub leafnodes: Option<LeafnodesConfig>,
}

/// Options nats-lite refuses because ignoring them would weaken security,
/// with what they are.
const REFUSED: &[(&str, &str)] = &[
    ("resolver_tls", "account resolvers"),
    ("resolver_pinned_accounts", "account resolvers"),
    ("default_sentinel", "JWT authentication"),
    ("proxies", "trusted proxies"),
];

/// nats-server options nats-lite ignores with a warning.
const IGNORED: &[&str] = &[
    "jetstream",
    "store_dir",
    "storedir",
    "mqtt",
    "gateway",
    "server_tags",
    "server_metadata",
    "mappings",
    "maps",
    "prof_port",
    "prof_block_rate",
    "write_timeout",
    "ocsp",
    "ocsp_cache",
    "feature_flags",
    "default_js_domain",
    "no_fast_producer_stall",
    "no_system_account",
    "no_system",
    "no_sys_acc",
    "proxy_protocol",
];

impl ServerConfig {
    /// Read the options of a parsed configuration file.
    ///
    /// # Errors
    ///
    /// The first problem in file order: an unknown or refused option, a
    /// value of the wrong type or out of range, or an invalid combination
    /// (`Cannot have a user/pass and token`, a duplicate user, `max_payload`
    /// above `max_pending`, ...).
    pub fn from_value(map: &Map) -> Result<(ServerConfig, Vec<Warning>), ConfError> {
        let mut config = ServerConfig::default();
        let mut warnings = Vec::new();
        for entry in map {
            config.apply(entry, &mut warnings)?;
        }
        config.validate(map)?;
        Ok((config, warnings))
    }

    /// Every user: those of `authorization`, then those of each account.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        let top = self
            .authorization
            .iter()
            .flat_map(|a| a.users.iter().flatten());
        top.chain(self.accounts.iter().flat_map(|a| a.users.iter()))
    }

    fn apply(&mut self, entry: &Entry, warnings: &mut Vec<Warning>) -> Result<(), ConfError> {
        if super::operator::apply(&mut self.operator, entry, warnings)? {
            return Ok(());
        }
        let (k, v) = (entry.key.as_str(), &entry.value);
        let lower = k.to_ascii_lowercase();
        match lower.as_str() {
            "listen" => (self.host, self.port) = typed::host_port(k, v)?,
            "port" => self.port = typed::port(k, v)?,
            "host" | "net" => self.host = Some(typed::string(k, v)?),
            "server_name" => {
                let name = typed::string(k, v)?;
                if name.contains(' ') {
                    return Err(ConfError::at(&v.pos, "server name cannot contain spaces"));
                }
                self.server_name = Some(name);
            }
            "client_advertise" => self.client_advertise = Some(typed::string(k, v)?),
            "http" => (self.http_host, self.http_port) = typed::host_port(k, v)?,
            "https" => (self.http_host, self.https_port) = typed::host_port(k, v)?,
            "http_port" | "monitor_port" => self.http_port = typed::port(k, v)?,
            "https_port" => self.https_port = typed::port(k, v)?,
            "http_base_path" => self.http_base_path = Some(typed::string(k, v)?),
            "http_jsonp" => self.http_jsonp = Some(typed::boolean(k, v)?),
            "http_auth" => self.http_auth = Some(super::http_auth::parse_http_auth(k, v)?),
            "authorization" => {
                let auth = parse_authorization(k, v, warnings)?;
                validate_client_authorization(&auth, &entry.key_pos)?;
                self.authorization = Some(auth);
            }
            "accounts" => self.accounts = parse_accounts(k, v, warnings)?,
            "system_account" | "system" => self.system_account = Some(typed::string(k, v)?),
            "no_auth_user" => self.no_auth_user = Some(typed::string(k, v)?),
            "tls" => self.tls = Some(parse_tls(k, v, warnings)?),
            "allow_non_tls" => self.allow_non_tls = Some(typed::boolean(k, v)?),
            "max_connections" | "max_conn" => self.max_connections = Some(typed::count(k, v)?),
            "max_control_line" => self.max_control_line = Some(int32_size(k, v)?),
            "max_payload" => {
                let n = int32_size(k, v)?;
                if n > MAX_PAYLOAD_WARN {
                    warnings.push(Warning::at(
                        &v.pos,
                        "Maximum payloads over 8.00 MB are generally discouraged and could \
                         lead to poor performance",
                    ));
                }
                self.max_payload = Some(n);
            }
            "max_pending" => self.max_pending = Some(typed::count(k, v)?),
            "max_subscriptions" | "max_subs" => self.max_subscriptions = Some(typed::count(k, v)?),
            "max_sub_tokens" | "max_subscription_tokens" => {
                let n = typed::integer(k, v)?;
                if n <= 0 {
                    return Err(ConfError::at(
                        &v.pos,
                        format!("{k} value can not be negative or zero"),
                    ));
                }
                let n = u8::try_from(n)
                    .map_err(|_| ConfError::at(&v.pos, format!("{k} value is too big")))?;
                self.max_sub_tokens = Some(n);
            }
            "write_deadline" => self.write_deadline = Some(duration_from_value(k, v, warnings)?),
            "ping_interval" => self.ping_interval = Some(duration_from_value(k, v, warnings)?),
            "ping_max" => self.ping_max = Some(typed::count(k, v)?),
            "lame_duck_duration" => {
                let d = duration_from_value(k, v, warnings)?;
                if d < MIN_LAME_DUCK_DURATION {
                    return Err(ConfError::at(
                        &v.pos,
                        format!("invalid lame_duck_duration of {d:?}, minimum is 30 seconds"),
                    ));
                }
                self.lame_duck_duration = Some(d);
            }
            "lame_duck_grace_period" => {
                self.lame_duck_grace_period = Some(lame_duck_grace_period(k, v, warnings)?)
            }
            "debug" => self.debug = Some(typed::boolean(k, v)?),
            "trace" => self.trace = Some(typed::boolean(k, v)?),
            "trace_verbose" => {
                let b = typed::boolean(k, v)?;
                self.trace_verbose = Some(b);
                self.trace = Some(b);
            }
            "trace_headers" => {
                let b = typed::boolean(k, v)?;
                self.trace_headers = Some(b);
                self.trace = Some(b);
            }
            "logtime" => self.logtime = Some(typed::boolean(k, v)?),
            "log_format" => {
                self.log_json = Some(match typed::string(k, v)?.to_ascii_lowercase().as_str() {
                    "json" => true,
                    "text" => false,
                    other => {
                        return Err(ConfError::at(
                            &v.pos,
                            format!("log_format must be \"text\" or \"json\", not {other:?}"),
                        ))
                    }
                })
            }
            "logtime_utc" => self.logtime_utc = Some(typed::boolean(k, v)?),
            "log_file" | "logfile" => self.log_file = Some(typed::string(k, v)?.into()),
            "log_size_limit" | "logfile_size_limit" => {
                self.log_size_limit = Some(typed::count(k, v)?)
            }
            "logfile_max_num" | "log_max_num" => self.logfile_max_num = Some(typed::count(k, v)?),
            "pid_file" | "pidfile" => self.pid_file = Some(typed::string(k, v)?.into()),
            "ports_file_dir" => self.ports_file_dir = Some(typed::string(k, v)?.into()),
            "syslog" => self.syslog = Some(typed::boolean(k, v)?),
            "remote_syslog" => self.remote_syslog = Some(typed::string(k, v)?),
            "max_traced_msg_len" => self.max_traced_msg_len = Some(typed::count(k, v)?),
            "disable_sublist_cache" | "no_sublist_cache" => {
                self.disable_sublist_cache = Some(typed::boolean(k, v)?)
            }
            "max_closed_clients" => self.max_closed_clients = Some(typed::count(k, v)?),
            "no_header_support" => self.no_header_support = Some(typed::boolean(k, v)?),
            "connect_error_reports" => self.connect_error_reports = Some(typed::count(k, v)?),
            "reconnect_error_reports" => self.reconnect_error_reports = Some(typed::count(k, v)?),
            "cluster" => self.cluster = Some(parse_cluster(k, v, warnings)?),
            "websocket" | "ws" => self.websocket = Some(parse_websocket(k, v, warnings)?),
            "leafnodes" | "leaf" => self.leafnodes = Some(parse_leafnodes(k, v, warnings)?),
            name => {
                if let Some((_, what)) = REFUSED.iter().find(|(n, _)| *n == name) {
                    return Err(not_supported(entry, what));
                }
                if IGNORED.contains(&name) {
                    typed::ignored(entry, warnings);
                    return Ok(());
                }
                unknown_field(entry)?;
            }
        }
        Ok(())
    }

    /// Checks across options, as nats-server's `validateOptions` (with its
    /// defaults for what the file does not set).
    fn validate(&self, map: &Map) -> Result<(), ConfError> {
        if let (Some(payload), Some(entry)) = (self.max_payload, map.entry("max_payload")) {
            let pending = self.max_pending.unwrap_or(DEFAULT_MAX_PENDING);
            super::rules::payload_within_pending(payload, pending)
                .map_err(|e| ConfError::at(&entry.value.pos, e))?;
        }
        if self.lame_duck_duration.is_some() || self.lame_duck_grace_period.is_some() {
            let duration = self
                .lame_duck_duration
                .unwrap_or(DEFAULT_LAME_DUCK_DURATION);
            let grace = self
                .lame_duck_grace_period
                .unwrap_or(DEFAULT_LAME_DUCK_GRACE_PERIOD);
            let at = map
                .entry("lame_duck_grace_period")
                .or_else(|| map.entry("lame_duck_duration"));
            if let (Err(e), Some(at)) = (
                super::rules::lame_duck_grace_within_duration(grace, duration),
                at,
            ) {
                return Err(ConfError::at(&at.value.pos, e));
            }
        }
        check_duplicate_users(self.users())?;
        if let (Some(name), Some(entry)) = (&self.no_auth_user, map.entry("no_auth_user")) {
            // In operator mode the server refuses no_auth_user itself.
            if self.operator.is_none() && !self.users().any(|u| &u.user == name) {
                return Err(ConfError::at(
                    &entry.value.pos,
                    format!(
                        "no_auth_user: \"{name}\" not present as user in authorization block \
                         or account configuration"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A size that nats-server keeps in an `int32`.
fn int32_size(field: &str, value: &Value) -> Result<usize, ConfError> {
    let n: usize = typed::count(field, value)?;
    if n > i32::MAX as usize {
        return Err(ConfError::at(
            &value.pos,
            format!("{field} value is too big"),
        ));
    }
    Ok(n)
}

fn lame_duck_grace_period(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<Duration, ConfError> {
    if let Some(text) = value.as_str() {
        let (negative, d) = parse_signed_duration(text)
            .map_err(|e| ConfError::at(&value.pos, format!("error parsing {field}: {e}")))?;
        if negative && !d.is_zero() {
            return Err(ConfError::at(
                &value.pos,
                "invalid lame_duck_grace_period, needs to be positive",
            ));
        }
        return Ok(d);
    }
    duration_from_value(field, value, warnings)
}
