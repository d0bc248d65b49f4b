//! Connection options shared by the client subcommands (`-s`, credentials,
//! TLS, reconnect), named as the `nats` CLI names them, and the small helpers
//! those subcommands share: resolving the options (flags, then environment,
//! then defaults), durations, `-H` headers, reading a body from stdin,
//! Ctrl-C.
//!
//! The options may be given before the subcommand name
//! (`nats-lite -s URL pub ...`) or after it (`nats-lite pub -s URL ...`);
//! the value after it wins. Environment variables are read here rather than
//! by clap, so that a flag in either place beats the variable (a bug the
//! nats-box image once had, nats-io/nats-box#7).
//!
//! Order of precedence: a flag, then the selected `nats` CLI context
//! (`--context`, `NATS_CONTEXT`, or the one `context.txt` names; see
//! [`crate::client::context`]), then the environment (`NATS_URL`,
//! `NATS_CREDS`, ...), then the defaults. Credentials come as a whole from
//! the first of these places that has any, so a context's `creds` is not
//! mixed with a `NATS_USER` from the environment.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

use crate::client::context::{self, Context};
use crate::client::options::DEFAULT_CONNECT_TIMEOUT;
use crate::client::tls::TlsOptions;
use crate::client::url::{parse_list, DEFAULT_URL};
use crate::client::{ClientError, ErrorKind, Interrupter, Mode, Options};
use crate::error::{Error, Result};
use crate::nkey;
use crate::protocol::headers::Headers;

/// The exit status paragraph every client subcommand's `--help` ends with.
macro_rules! exit_status_help {
    () => {
        "\nExit status:\n  0  success\n  1  failure: cannot connect, timeout, no responders, \
         error from the server\n  2  usage error: bad flags, bad URL, unreadable TLS files\n\n\
         Environment: NATS_URL, NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY, \
         NATS_CERT, NATS_KEY, NATS_CA, NATS_CONTEXT. A flag wins over the selected nats \
         context, which wins over the variables."
    };
}
pub(crate) use exit_status_help;

/// How to reach and authenticate to a NATS server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Server URL(s), comma separated: nats://host:port, tls://host:port,
    /// ws://host:port, wss://host:port (a server's websocket listener),
    /// host:port, nats://user:pass@host, nats://token@host [env: NATS_URL]
    /// [default: nats://127.0.0.1:4222].
    #[arg(short = 's', long = "server", value_name = "URL")]
    pub server: Option<String>,
    /// User name, or a token when no password is given [env: NATS_USER].
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Password [env: NATS_PASSWORD].
    #[arg(long, visible_alias = "pass", value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Authentication token [env: NATS_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// User credentials file (a user JWT and its NKey seed, as nsc writes
    /// it) [env: NATS_CREDS].
    #[arg(long, value_name = "FILE")]
    pub creds: Option<PathBuf>,
    /// NKey seed file: sign the server's nonce as an NKey user [env: NATS_NKEY].
    #[arg(long, value_name = "FILE")]
    pub nkey: Option<PathBuf>,
    /// The nats CLI context to use (~/.config/nats/context/NAME.json)
    /// instead of the one selected in context.txt [env: NATS_CONTEXT].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Reply subjects of requests start with this prefix instead of _INBOX.
    #[arg(long = "inbox-prefix", value_name = "PREFIX")]
    pub inbox_prefix: Option<String>,
    /// Use TLS even if the server does not require it.
    #[arg(long)]
    pub tls: bool,
    /// Start TLS before the server's INFO (servers with handshake_first).
    #[arg(long = "tlsfirst")]
    pub tls_first: bool,
    /// Client certificate (PEM) for servers that verify clients [env: NATS_CERT].
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Private key (PEM) of the client certificate [env: NATS_KEY].
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA].
    #[arg(long, visible_alias = "tlsca", value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Do not verify the server's certificate (insecure: testing only).
    #[arg(long = "tls-insecure")]
    pub tls_insecure: bool,
    /// Try the servers of a list in the order given, not in random order.
    #[arg(long = "no-randomize")]
    pub no_randomize: bool,
    /// Exit when the connection is lost instead of reconnecting (sub, reply).
    #[arg(long = "no-reconnect")]
    pub no_reconnect: bool,
    /// Connection name shown in the server's monitoring.
    #[arg(long = "connection-name", value_name = "NAME")]
    pub connection_name: Option<String>,
    /// Time allowed to connect and for the server to answer a flush [default: 5s].
    #[arg(long = "connect-timeout", value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
}

impl ConnectArgs {
    /// Combine the options given before the subcommand (`self`) with those
    /// given after it (`sub`): values after the subcommand win; switches
    /// given in either place are on.
    pub fn merged(&self, sub: &ConnectArgs) -> ConnectArgs {
        fn pick<T: Clone>(sub: &Option<T>, top: &Option<T>) -> Option<T> {
            sub.clone().or_else(|| top.clone())
        }
        ConnectArgs {
            server: pick(&sub.server, &self.server),
            user: pick(&sub.user, &self.user),
            password: pick(&sub.password, &self.password),
            token: pick(&sub.token, &self.token),
            creds: pick(&sub.creds, &self.creds),
            nkey: pick(&sub.nkey, &self.nkey),
            context: pick(&sub.context, &self.context),
            inbox_prefix: pick(&sub.inbox_prefix, &self.inbox_prefix),
            tls: sub.tls || self.tls,
            tls_first: sub.tls_first || self.tls_first,
            tlscert: pick(&sub.tlscert, &self.tlscert),
            tlskey: pick(&sub.tlskey, &self.tlskey),
            tlscacert: pick(&sub.tlscacert, &self.tlscacert),
            tls_insecure: sub.tls_insecure || self.tls_insecure,
            no_randomize: sub.no_randomize || self.no_randomize,
            no_reconnect: sub.no_reconnect || self.no_reconnect,
            connection_name: pick(&sub.connection_name, &self.connection_name),
            connect_timeout: sub.connect_timeout.or(self.connect_timeout),
        }
    }

    /// Resolve into client options: flags, then the environment (`env`
    /// looks a variable up), then defaults.
    ///
    /// # Errors
    ///
    /// A URL that does not parse (a usage error).
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<Options> {
        self.resolve_with_files(env).map(|(opts, _)| opts)
    }

    /// [`resolve`](Self::resolve), also returning the credentials or seed
    /// file that was read (to warn when others may read it).
    ///
    /// # Errors
    ///
    /// A URL that does not parse, an unknown context, or a credentials file
    /// that cannot be read (usage errors).
    pub fn resolve_with_files(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Options, Option<PathBuf>)> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let context_name = self.context.clone().or_else(|| env("NATS_CONTEXT"));
        let ctx = context::selected(context_name.as_deref(), &env)
            .map_err(Error::usage)?
            .unwrap_or_default();
        let path = |flag: &Option<PathBuf>, ctx: &Option<String>, var: &str| {
            flag.clone()
                .or_else(|| ctx.as_ref().map(PathBuf::from))
                .or_else(|| env(var).map(PathBuf::from))
        };
        let server = self
            .server
            .clone()
            .or_else(|| ctx.url.clone())
            .or_else(|| env("NATS_URL"))
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let servers = parse_list(&server).map_err(|e| Error::usage(e.to_string()))?;
        let creds = self.credentials(&ctx, &env)?;
        let mut opts = Options {
            servers,
            randomize: !self.no_randomize,
            user: creds.user,
            password: creds.password,
            token: creds.token,
            nkey_seed: None,
            user_jwt: None,
            inbox_prefix: self.inbox_prefix.clone().or(ctx.inbox_prefix.clone()),
            tls: TlsOptions {
                required: self.tls,
                first: self.tls_first || ctx.tls_first,
                ca_file: path(&self.tlscacert, &ctx.ca, "NATS_CA"),
                cert_file: path(&self.tlscert, &ctx.cert, "NATS_CERT"),
                key_file: path(&self.tlskey, &ctx.key, "NATS_KEY"),
                insecure: self.tls_insecure,
            },
            name: Some(
                self.connection_name
                    .clone()
                    .unwrap_or_else(|| format!("nats-lite {}", env!("CARGO_PKG_VERSION"))),
            ),
            connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            reconnect: !self.no_reconnect,
            mode: Mode::Client,
        };
        if let Some(file) = &creds.file {
            let (parsed, _) = nkey::read_creds_file(file).map_err(Error::usage)?;
            opts.nkey_seed = Some(parsed.seed);
            opts.user_jwt = parsed.jwt.or(creds.user_jwt);
        }
        Ok((opts, creds.file))
    }

    /// The credentials, as a whole from the first place that has any: the
    /// flags, the context, the environment.
    fn credentials(&self, ctx: &Context, env: &dyn Fn(&str) -> Option<String>) -> Result<Creds> {
        let from_flags = Creds {
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            file: self.creds.clone().or_else(|| self.nkey.clone()),
            user_jwt: None,
        };
        if from_flags.any() {
            return Ok(from_flags);
        }
        let from_context = Creds {
            user: ctx.user.clone(),
            password: ctx.password.clone(),
            token: ctx.token.clone(),
            file: ctx
                .creds
                .clone()
                .or_else(|| ctx.nkey.clone())
                .map(PathBuf::from),
            user_jwt: ctx.user_jwt.clone(),
        };
        if from_context.any() {
            return Ok(from_context);
        }
        Ok(Creds {
            user: env("NATS_USER"),
            password: env("NATS_PASSWORD"),
            token: env("NATS_TOKEN"),
            file: env("NATS_CREDS")
                .or_else(|| env("NATS_NKEY"))
                .map(PathBuf::from),
            user_jwt: None,
        })
    }

    /// Merge with `sub` and resolve from the process environment, warning
    /// on stderr about `--tls-insecure`.
    ///
    /// # Errors
    ///
    /// As [`resolve`](Self::resolve).
    pub fn options(&self, sub: &ConnectArgs) -> Result<Options> {
        let merged = self.merged(sub);
        let (opts, secret_file) = merged.resolve_with_files(|k| std::env::var(k).ok())?;
        if let Some(warning) = secret_file.as_deref().and_then(nkey::permission_warning) {
            eprintln!("nats-lite: {warning}");
        }
        if opts.tls.insecure {
            eprintln!(
                "nats-lite: warning: --tls-insecure: the server's certificate is not verified"
            );
        }
        Ok(opts)
    }
}

/// Credentials from one place (flags, context or environment).
#[derive(Debug, Default)]
struct Creds {
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
    /// A `.creds` or seed file.
    file: Option<PathBuf>,
    /// A context's `user_jwt` (signed for with its `nkey` seed).
    user_jwt: Option<String>,
}

impl Creds {
    fn any(&self) -> bool {
        self.user.is_some()
            || self.password.is_some()
            || self.token.is_some()
            || self.file.is_some()
    }
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        match e.kind() {
            ErrorKind::Config => Error::usage(e.message()),
            _ => Error::failure(e.message()),
        }
    }
}

/// Parse a duration: `500ms`, `2s`, `1.5s`, `1m`, `1h`, `250us`; a bare
/// number is seconds.
///
/// # Errors
///
/// Text that is not a duration (clap shows it as a usage error).
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (examples: 500ms, 2s, 1m)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        "ns" => n / 1e9,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("invalid duration unit {other:?} in {text:?}")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("duration {text:?} out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Show a duration the way people write them (`1.234ms`, `2s`).
pub fn show_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let s = format!("{:.3}", d.as_secs_f64());
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    } else if d >= Duration::from_millis(1) {
        format!("{:.3}ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1}µs", d.as_secs_f64() * 1e6)
    }
}

/// A duration for people: `850ms`, `5s`, `6.2s`, `1m30s`.
pub fn short_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        let tenths = (ms + 50) / 100;
        return if tenths % 10 == 0 {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, s) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{m}m{s}s"),
        (_, _) if m == 0 => format!("{h}h"),
        _ => format!("{h}h{m}m"),
    }
}

/// Parse `-H Key:Value` flags into name/value pairs.
///
/// # Errors
///
/// A header without `:`, or with an empty or blank name.
pub fn parse_header_flags(flags: &[String]) -> Result<Vec<(String, String)>> {
    flags
        .iter()
        .map(|h| {
            let (k, v) = h
                .split_once(':')
                .ok_or_else(|| Error::usage(format!("invalid header {h:?}: use -H Key:Value")))?;
            let k = k.trim();
            if k.is_empty() || k.contains(|c: char| c.is_whitespace() || c.is_control()) {
                return Err(Error::usage(format!("invalid header name in {h:?}")));
            }
            if v.contains(['\r', '\n']) {
                return Err(Error::usage(format!(
                    "header value in {h:?} has a line break"
                )));
            }
            Ok((k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Headers from name/value pairs (`None` when there are none).
pub fn headers_from(entries: Vec<(String, String)>) -> Option<Headers> {
    (!entries.is_empty()).then(|| Headers {
        entries,
        ..Default::default()
    })
}

/// The message body: the argument when given (stdin is then never read,
/// natscli#1426), otherwise all of stdin.
///
/// # Errors
///
/// Reading stdin failed.
pub fn body_or_stdin(arg: Option<&str>) -> Result<(Vec<u8>, bool)> {
    if let Some(b) = arg {
        return Ok((b.as_bytes().to_vec(), true));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Reading the body from stdin; end it with Ctrl-D");
    }
    let mut body = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut body)
        .map_err(|e| Error::io("reading stdin", e))?;
    Ok((body, false))
}

/// Route Ctrl-C to `interrupter` (the first call wins; later calls in the
/// same process keep the first handler).
pub fn on_ctrl_c(interrupter: Interrupter) {
    let _ = ctrlc::set_handler(move || interrupter.interrupt());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(server: Option<&str>) -> ConnectArgs {
        ConnectArgs {
            server: server.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn flag_after_subcommand_wins_then_before_then_env() {
        let env = |k: &str| (k == "NATS_URL").then(|| "nats://env:1".to_string());
        let o = args(Some("top:2"))
            .merged(&args(Some("sub:3")))
            .resolve(env)
            .unwrap();
        assert_eq!(o.servers[0].host, "sub");
        let o = args(Some("top:2"))
            .merged(&args(None))
            .resolve(env)
            .unwrap();
        assert_eq!(o.servers[0].host, "top");
        let o = args(None).merged(&args(None)).resolve(env).unwrap();
        assert_eq!(o.servers[0].host, "env");
        let o = args(None).resolve(|_| None).unwrap();
        assert_eq!(o.servers[0].to_string(), "nats://127.0.0.1:4222");
        assert!(args(Some("http://x")).resolve(|_| None).is_err());
    }

    #[test]
    fn env_credentials() {
        let env = |k: &str| match k {
            "NATS_USER" => Some("u".to_string()),
            "NATS_PASSWORD" => Some("p".to_string()),
            _ => None,
        };
        let o = args(None).resolve(env).unwrap();
        assert_eq!(
            (o.user.as_deref(), o.password.as_deref()),
            (Some("u"), Some("p"))
        );
        let flag = ConnectArgs {
            user: Some("f".into()),
            ..Default::default()
        };
        assert_eq!(flag.resolve(env).unwrap().user.as_deref(), Some("f"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(show_duration(Duration::from_secs(2)), "2s");
        assert_eq!(show_duration(Duration::from_micros(1500)), "1.500ms");
    }

    #[test]
    fn header_flags() {
        let h = parse_header_flags(&["A: 1".into(), "B:x:y".into()]).unwrap();
        assert_eq!(h, [("A".into(), "1".into()), ("B".into(), "x:y".into())]);
        assert!(parse_header_flags(&["nocolon".into()]).is_err());
        assert!(parse_header_flags(&[":v".into()]).is_err());
    }
}
