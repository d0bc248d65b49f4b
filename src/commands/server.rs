//! `nats-lite server`: flags named as nats-server names them, resolved into
//! [`crate::server::Options`], then the broker runs until a signal stops it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ArgAction;

use crate::conf;
use crate::error::{Error, Result};
use crate::server::{self, Options};

/// Server flags. Names, aliases and defaults follow nats-server's `--help`.
#[derive(Debug, Default, Clone, clap::Args)]
#[command(after_help = SERVER_EXAMPLES, version = crate::server::VERSION_LONG, disable_version_flag = true, args_override_self = true)]
pub struct ServerArgs {
    /// Bind to host address.
    #[arg(short = 'a', long = "addr", visible_alias = "net", value_name = "HOST")]
    pub addr: Option<String>,
    /// Use port for clients (-1 or 0 picks a free port; the log says which).
    #[arg(
        short = 'p',
        long = "port",
        allow_negative_numbers = true,
        value_name = "PORT"
    )]
    pub port: Option<i64>,
    /// Server name (default: the server ID).
    #[arg(
        short = 'n',
        long = "name",
        visible_alias = "server_name",
        value_name = "NAME"
    )]
    pub name: Option<String>,
    /// File to store the process ID.
    #[arg(short = 'P', long = "pid", value_name = "FILE")]
    pub pid: Option<PathBuf>,
    /// Use port for HTTP monitoring (-1 or 0 picks a free port; the log says which).
    #[arg(
        short = 'm',
        long = "http_port",
        value_name = "PORT",
        allow_negative_numbers = true
    )]
    pub http_port: Option<i64>,
    /// Use port for HTTPS monitoring (also `-ms`).
    #[arg(
        long = "https_port",
        value_name = "PORT",
        allow_negative_numbers = true
    )]
    pub https_port: Option<i64>,
    /// Configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Test the configuration file and exit.
    #[arg(short = 't', action = ArgAction::SetTrue)]
    pub check_config: bool,
    /// Send a signal to a running server: ldm, stop, quit, term, reopen, reload
    /// (`CMD=PID` or `CMD=PIDFILE` picks the process; also `-sl`).
    #[arg(long = "signal", value_name = "CMD[=PID]")]
    pub signal: Option<String>,
    /// Directory where a `<exe>_<pid>.ports` file with the bound ports is written.
    #[arg(long = "ports_file_dir", value_name = "DIR")]
    pub ports_file_dir: Option<PathBuf>,
    /// Client URL to advertise to other servers.
    #[arg(long = "client_advertise", value_name = "HOST:PORT")]
    pub client_advertise: Option<String>,

    /// File to redirect log output.
    #[arg(
        short = 'l',
        long = "log",
        visible_alias = "log_file",
        value_name = "FILE"
    )]
    pub log: Option<PathBuf>,
    /// Logfile size limit (rotate when exceeded).
    #[arg(long = "log_size_limit", value_name = "SIZE")]
    pub log_size_limit: Option<String>,
    /// Timestamp log entries (default true; -T=false turns them off).
    #[arg(short = 'T', long = "logtime", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub logtime: Option<bool>,
    /// Timestamps in UTC instead of local time.
    #[arg(long = "logtime_utc", action = ArgAction::SetTrue)]
    pub logtime_utc: bool,
    /// Log line format: `text` (nats-server's) or `json` (one object a line).
    #[arg(long = "log_format", value_name = "FORMAT",
          value_parser = clap::builder::PossibleValuesParser::new(["text", "json"]))]
    pub log_format: Option<String>,
    /// Enable debugging output.
    #[arg(short = 'D', long = "debug", action = ArgAction::SetTrue)]
    pub debug: bool,
    /// Trace the raw protocol (-VV also traces the system account).
    #[arg(short = 'V', long = "trace", action = ArgAction::Count)]
    pub trace: u8,
    /// Log to syslog or windows event log.
    #[arg(short = 's', long = "syslog", action = ArgAction::SetTrue)]
    pub syslog: bool,
    /// Syslog server address (udp://localhost:514).
    #[arg(short = 'r', long = "remote_syslog", value_name = "URL")]
    pub remote_syslog: Option<String>,
    /// Maximum printable length of traced messages (0 for unlimited).
    #[arg(long = "max_traced_msg_len", value_name = "LEN")]
    pub max_traced_msg_len: Option<usize>,

    /// User required for connections.
    #[arg(long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Password required for connections.
    #[arg(long = "pass", value_name = "PASSWORD")]
    pub pass: Option<String>,
    /// Authorization token required for connections.
    #[arg(long = "auth", value_name = "TOKEN")]
    pub auth: Option<String>,

    /// Enable TLS, do not verify clients (default: false).
    #[arg(long = "tls", action = ArgAction::SetTrue)]
    pub tls: bool,
    /// Server certificate file.
    #[arg(long = "tlscert", value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Private key for server certificate.
    #[arg(long = "tlskey", value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// Enable TLS, verify client certificates.
    #[arg(long = "tlsverify", action = ArgAction::SetTrue)]
    pub tlsverify: bool,
    /// Client certificate CA for verification.
    #[arg(long = "tlscacert", value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,

    /// Routes to solicit and connect.
    #[arg(long = "routes", value_name = "URLS")]
    pub routes: Option<String>,
    /// Cluster URL for solicited routes.
    #[arg(long = "cluster", visible_alias = "cluster_listen", value_name = "URL")]
    pub cluster: Option<String>,
    /// Cluster name (default: a dynamic name agreed with the peers).
    #[arg(long = "cluster_name", value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// Cluster URL to advertise to other servers.
    #[arg(long = "cluster_advertise", value_name = "HOST:PORT")]
    pub cluster_advertise: Option<String>,
    /// Do not advertise known cluster information to clients.
    #[arg(long = "no_advertise", action = ArgAction::SetTrue)]
    pub no_advertise: bool,
    /// For implicit routes, number of connect retries.
    #[arg(long = "connect_retries", value_name = "N")]
    pub connect_retries: Option<u32>,

    /// Profiling HTTP port (not supported by nats-lite; accepted and ignored with a warning).
    #[arg(long = "profile", value_name = "PORT")]
    pub profile: Option<i64>,
    /// Enable JetStream (not supported by nats-lite; a warning is logged; also `-js`).
    #[arg(long = "jetstream", action = ArgAction::SetTrue)]
    pub jetstream: bool,
    /// JetStream storage directory (not supported; also `-sd`).
    #[arg(long = "store_dir", value_name = "DIR")]
    pub store_dir: Option<PathBuf>,

    /// Show the version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
}

const SERVER_EXAMPLES: &str = "\
Examples:
  nats-lite server                      # clients on 0.0.0.0:4222
  nats-lite server -a 127.0.0.1 -p -1   # a free port on loopback; the log says which
  nats-lite server -DV                  # debug and protocol trace
  printf 'PING\\r\\n' | nc 127.0.0.1 4222   # INFO then PONG";

/// Run `nats-lite server`.
pub fn run(args: ServerArgs) -> Result<ExitCode> {
    if let Some(spec) = &args.signal {
        super::signal::send(spec)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (opts, mut warnings) = resolve_options(&args)?;
    if args.check_config {
        let path = args.config.as_ref().ok_or_else(|| {
            Error::usage("-t needs a configuration file: nats-lite server -t -c FILE")
        })?;
        if let Some(tls) = &opts.tls {
            server::tls::server_config(tls)
                .map_err(|e| Error::usage(format!("{}: {e}", path.display())))?;
        }
        for w in &warnings {
            eprintln!("nats-lite: warning: {w}");
        }
        eprintln!("nats-lite: configuration file {} is valid", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    warnings.extend(unsupported_warnings(&args));
    let reloader: Option<server::Reloader> = args.config.is_some().then(|| {
        let args = args.clone();
        Box::new(move || resolve_options(&args).map_err(|e| e.to_string())) as server::Reloader
    });
    server::run(opts, &warnings, reloader).map_err(|e| Error::failure(format!("server: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// The configuration file (when given) on top of the defaults, then the
/// flags on top of that, as in nats-server. Returns the options and the
/// warning lines for what is accepted but ignored.
pub fn resolve_options(args: &ServerArgs) -> Result<(Options, Vec<String>)> {
    let mut o = Options::default();
    let mut warnings = Vec::new();
    if let Some(path) = &args.config {
        let (config, conf_warnings) =
            conf::load_server_config(path).map_err(|e| Error::usage(e.to_string()))?;
        warnings.extend(conf_warnings.iter().map(ToString::to_string));
        let applied = server::apply_config_file(&mut o, &config)
            .map_err(|e| Error::usage(format!("{}: {e}", path.display())))?;
        warnings.extend(applied);
    }
    apply_flags(&mut o, args)?;
    Ok((o, warnings))
}

/// Flags given on the command line override the file.
fn apply_flags(o: &mut Options, args: &ServerArgs) -> Result<()> {
    if let Some(a) = &args.addr {
        o.host = a.clone();
    }
    if let Some(p) = args.port {
        o.port = port_flag(p, "port")?;
    }
    if let Some(n) = &args.name {
        if n.contains(char::is_whitespace) {
            return Err(Error::usage("server name cannot contain spaces"));
        }
        o.server_name = Some(n.clone());
    }
    let some = |v: &Option<std::path::PathBuf>, field: &mut Option<std::path::PathBuf>| {
        if v.is_some() {
            *field = v.clone();
        }
    };
    some(&args.pid, &mut o.pid_file);
    some(&args.ports_file_dir, &mut o.ports_file_dir);
    some(&args.log, &mut o.log_file);
    if let Some(t) = args.logtime {
        o.logtime = t;
    }
    o.logtime_utc |= args.logtime_utc;
    if let Some(f) = &args.log_format {
        o.log_json = f == "json";
    }
    o.debug |= args.debug;
    o.trace |= args.trace > 0;
    o.syslog |= args.syslog;
    if o.syslog && cfg!(not(unix)) && args.remote_syslog.is_none() {
        return Err(Error::usage(
            "the local syslog is only supported on unix (use --remote_syslog)",
        ));
    }
    if args.remote_syslog.is_some() {
        o.remote_syslog = args.remote_syslog.clone();
    }
    if args.user.is_some() || args.pass.is_some() || args.auth.is_some() {
        if args.auth.is_some() && (args.user.is_some() || args.pass.is_some()) {
            return Err(Error::usage("Cannot have a user/pass and token"));
        }
        if args.pass.is_some() && args.user.is_none() {
            return Err(Error::usage("--pass needs --user"));
        }
        o.user = args.user.clone();
        o.pass = args.pass.clone();
        o.token = args.auth.clone();
    }
    if let Some(limit) = &args.log_size_limit {
        o.log_size_limit = parse_size_flag(limit).ok_or_else(|| {
            Error::usage(format!(
                "invalid --log_size_limit {limit:?}: use e.g. 100MB"
            ))
        })?;
    }
    if let Some(len) = args.max_traced_msg_len {
        o.max_traced_msg_len = len;
    }
    if args.tls || args.tlsverify || args.tlscert.is_some() || args.tlskey.is_some() {
        let file_tls = o.tls.take();
        let cert = args
            .tlscert
            .clone()
            .or_else(|| file_tls.as_ref().map(|t| t.cert_file.clone()));
        let key = args
            .tlskey
            .clone()
            .or_else(|| file_tls.as_ref().map(|t| t.key_file.clone()));
        let cert = cert.ok_or_else(|| {
            Error::usage("TLS Server certificate must be present and valid (--tlscert)")
        })?;
        let key = key.ok_or_else(|| {
            Error::usage("TLS Server private key must be present and valid (--tlskey)")
        })?;
        let mut tls =
            file_tls.unwrap_or_else(|| server::TlsOptions::new(cert.clone(), key.clone()));
        tls.cert_file = cert;
        tls.key_file = key;
        if args.tlscacert.is_some() {
            tls.ca_file = args.tlscacert.clone();
        }
        tls.verify |= args.tlsverify;
        if tls.verify && tls.ca_file.is_none() {
            return Err(Error::usage(
                "--tlsverify needs --tlscacert FILE to verify clients with",
            ));
        }
        o.tls = Some(tls);
    }
    apply_cluster_flags(o, args)?;
    if let Some(p) = args.http_port {
        o.http_port = Some(port_flag(p, "http_port")?);
    }
    if let Some(p) = args.https_port {
        o.https_port = Some(port_flag(p, "https_port")?);
    }
    if o.max_payload > o.max_pending {
        return Err(Error::usage(format!(
            "max_payload ({}) cannot be higher than max_pending ({})",
            o.max_payload, o.max_pending
        )));
    }
    Ok(())
}

/// `--cluster`, `--routes` and the other cluster flags, over the file's
/// `cluster` block. Unlike nats-server, a `--cluster` URL without
/// credentials keeps the file's route authorization.
fn apply_cluster_flags(o: &mut Options, args: &ServerArgs) -> Result<()> {
    if let Some(a) = &args.client_advertise {
        o.client_advertise = Some(a.clone());
    }
    if let Some(url) = &args.cluster {
        let listen = cluster_listen_flag(url)?;
        let c = o
            .cluster
            .get_or_insert_with(server::ClusterOptions::default);
        c.host = listen.host;
        c.port = listen.port;
        if listen.user.is_some() {
            c.user = listen.user;
            c.password = listen.password;
        }
    }
    let any = args.routes.is_some()
        || args.cluster_name.is_some()
        || args.cluster_advertise.is_some()
        || args.no_advertise
        || args.connect_retries.is_some();
    if !any {
        return Ok(());
    }
    let Some(c) = o.cluster.as_mut() else {
        if args.routes.is_some() {
            return Err(Error::usage(
                "solicited routes require cluster capabilities, e.g. --cluster",
            ));
        }
        return Err(Error::usage(
            "cluster options (--cluster_name, --cluster_advertise, --no_advertise, \
             --connect_retries) require a cluster listener, e.g. --cluster",
        ));
    };
    if let Some(routes) = &args.routes {
        c.routes.clear();
        for url in routes.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let r = conf::parse_route_url_flag(url).map_err(Error::usage)?;
            let target = server::route_target(&r).map_err(Error::usage)?;
            if !c.routes.contains(&target) {
                c.routes.push(target);
            }
        }
    }
    if let Some(name) = &args.cluster_name {
        if name.contains(char::is_whitespace) || name.is_empty() {
            return Err(Error::usage(
                "cluster name cannot be empty or contain spaces",
            ));
        }
        c.name = Some(name.clone());
    }
    if let Some(a) = &args.cluster_advertise {
        c.advertise = Some(a.clone());
    }
    c.no_advertise |= args.no_advertise;
    if let Some(n) = args.connect_retries {
        c.connect_retries = n;
    }
    Ok(())
}

/// The parts of a `--cluster` URL.
struct ClusterListen {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
}

/// `nats://[user:pass@]host:port`, where port -1 (or 0) picks a free port.
fn cluster_listen_flag(url: &str) -> Result<ClusterListen> {
    let bad = |why: &str| Error::usage(format!("invalid --cluster {url:?}: {why}"));
    let (free, text) = match url.strip_suffix(":-1") {
        Some(rest) => (true, format!("{rest}:0")),
        None => (false, url.to_string()),
    };
    let r = conf::parse_route_url_flag(&text).map_err(|e| bad(&e))?;
    let port = match (free, r.port) {
        (true, _) | (false, Some(0)) => 0,
        (false, Some(p)) => p,
        (false, None) => return Err(bad("a port is required")),
    };
    Ok(ClusterListen {
        host: r.host,
        port,
        user: r.user,
        password: r.password,
    })
}

/// One warning line per accepted flag whose feature nats-lite does not have,
/// so that nats-lite can stand in for nats-server in a project's CI.
fn unsupported_warnings(args: &ServerArgs) -> Vec<String> {
    let mut w = Vec::new();
    if args.jetstream || args.store_dir.is_some() {
        w.push("JetStream is not supported by nats-lite; -js/--store_dir ignored".to_string());
    }
    if args.profile.is_some() {
        w.push("profiling is not supported by nats-lite; --profile ignored".to_string());
    }
    w
}

/// A size such as `1048576`, `100KB`, `10M`, `1GiB` (k/m/g: 1000; kb/ki/kib: 1024).
fn parse_size_flag(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..digits].parse().ok()?;
    let mult: u64 = match t[digits..].trim() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" | "ki" | "kib" => 1024,
        "m" => 1000 * 1000,
        "mb" | "mi" | "mib" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" | "gi" | "gib" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// A port flag: -1 and 0 both mean "pick a free port".
fn port_flag(p: i64, what: &str) -> Result<u16> {
    match p {
        -1 | 0 => Ok(0),
        1..=65535 => Ok(p as u16),
        _ => Err(Error::usage(format!(
            "invalid {what} {p}: use 1-65535, or -1 for a free port"
        ))),
    }
}
