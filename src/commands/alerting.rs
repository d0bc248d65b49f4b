//! Alerts and the sinks that carry them, shared by `watch-http` and
//! `watch-host`: an [`Alert`] (text for people, JSON for programs, a few
//! environment variables for `--exec`), the sinks (NATS, RocketChat with
//! its login, webhooks, a shell command), their flags ([`AlertArgs`]) and
//! config-file keys ([`read_file_key`]), resolved into [`AlertSinks`].
//! Delivery (queues, retries) is [`super::delivery`]'s.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use super::connect::short_duration;
use super::delivery::{Item, Sink};
use crate::client::{Connection, Options};
use crate::conf::{ConfError, Entry, Value, ValueKind};
use crate::error::Error;
use crate::protocol::subject::is_valid_literal_subject;

/// Time allowed for one delivery (an HTTP call, a NATS flush).
pub const ALERT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for `--exec`'s command.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an HTTP answer a sink reads.
const MAX_ANSWER: u64 = 64 * 1024;

/// One alert, ready for every sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// What it is about, for log lines (a URL, a rule).
    pub about: String,
    /// The text for a chat.
    pub text: String,
    /// The JSON (NATS payload, `--exec` stdin).
    pub json: Json,
    /// `WATCH_*` variables for `--exec` (WATCH_TEXT is added).
    pub env: Vec<(&'static str, String)>,
}

impl Item for Alert {
    fn what(&self) -> String {
        format!("the alert for {}", self.about)
    }
}

/// Log a line on stderr for `command` (`watch-http`), control characters
/// escaped: lines may quote what a watched server or a sink answered.
pub fn log_for(command: &str, line: &str) {
    eprintln!(
        "nats-lite: {command}: {}",
        crate::printable::printable(line)
    );
}

/// The sinks `config` asks for; `nats` gives the NATS connection options
/// when a subject is set.
pub fn build(config: &AlertSinks, nats: Option<Options>) -> Vec<Box<dyn Sink<Alert>>> {
    let mut sinks: Vec<Box<dyn Sink<Alert>>> = Vec::new();
    if let (Some(subject), Some(opts)) = (&config.nats_subject, nats) {
        sinks.push(Box::new(NatsPublisher::new(opts, subject.clone())));
    }
    if let Some(rc) = &config.rocketchat {
        sinks.push(Box::new(RocketChatSink::new(rc.clone())));
    }
    for url in &config.webhooks {
        sinks.push(Box::new(WebhookSink {
            url: url.clone(),
            agent: http_agent(),
        }));
    }
    if let Some(cmd) = &config.exec {
        sinks.push(Box::new(ExecSink {
            command: cmd.clone(),
        }));
    }
    sinks
}

/// The HTTP client of the sinks.
fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(ALERT_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("nats-lite/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Status and body (at most [`MAX_ANSWER`]) of an HTTP answer.
fn answer(resp: ureq::http::Response<ureq::Body>) -> (u16, Vec<u8>) {
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .into_with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .unwrap_or_default();
    (status, body)
}

/// The start of a body, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() > 200 {
        format!("{}...", text.chars().take(200).collect::<String>())
    } else {
        text.to_string()
    }
}

/// Publishes payloads on one subject. Connects on first use and again
/// after any failure. The NATS sink of alerts, and of `watch-host`'s
/// reports.
pub struct NatsPublisher {
    opts: Options,
    subject: String,
    conn: Option<Connection>,
}

impl NatsPublisher {
    /// A publisher to `subject` with the connection options `opts`.
    pub fn new(opts: Options, subject: String) -> NatsPublisher {
        NatsPublisher {
            opts,
            subject,
            conn: None,
        }
    }

    /// `nats SUBJECT`, for log lines.
    pub fn name(&self) -> String {
        format!("nats {}", self.subject)
    }

    /// Publish `payload` and flush (one attempt).
    ///
    /// # Errors
    ///
    /// No connection, or the publish or flush failed.
    pub fn publish(&mut self, payload: &[u8]) -> Result<(), String> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => Connection::connect(self.opts.clone()).map_err(|e| e.to_string())?,
        };
        let timeout = self.opts.connect_timeout;
        conn.publish(&self.subject, None, None, payload)
            .and_then(|()| conn.flush(timeout))
            .map_err(|e| e.to_string())?;
        self.conn = Some(conn);
        Ok(())
    }
}

impl Sink<Alert> for NatsPublisher {
    fn name(&self) -> String {
        NatsPublisher::name(self)
    }

    fn deliver(&mut self, event: &Alert) -> Result<(), String> {
        self.publish(event.json.to_string().as_bytes())
    }
}

/// Posts to a RocketChat channel through its REST API, logging in first
/// (and again when the token has expired) unless given a personal access
/// token.
struct RocketChatSink {
    config: RocketChat,
    agent: ureq::Agent,
    /// `(X-Auth-Token, X-User-Id)` once known.
    session: Option<(String, String)>,
}

impl RocketChatSink {
    fn new(config: RocketChat) -> RocketChatSink {
        let session = match &config.auth {
            RcAuth::Token { token, user_id } => Some((token.clone(), user_id.clone())),
            RcAuth::Login { .. } => None,
        };
        RocketChatSink {
            config,
            agent: http_agent(),
            session,
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.config.url.trim_end_matches('/'))
    }

    /// `POST /api/v1/login`: the token and user id from `data`.
    fn login(&self) -> Result<(String, String), String> {
        let RcAuth::Login { user, password } = &self.config.auth else {
            return Err("the access token was refused".into());
        };
        let resp = self
            .agent
            .post(&self.endpoint("login"))
            .send_json(json!({ "user": user, "password": password }))
            .map_err(|e| format!("login: {e}"))?;
        let (status, body) = answer(resp);
        if status != 200 {
            return Err(format!("login answered {status}: {}", snippet(&body)));
        }
        let v: Json =
            serde_json::from_slice(&body).map_err(|_| "login answer is not JSON".to_string())?;
        let field = |name: &str| {
            v.pointer(&format!("/data/{name}"))
                .and_then(Json::as_str)
                .map(str::to_string)
        };
        match (field("authToken"), field("userId")) {
            (Some(token), Some(id)) => Ok((token, id)),
            _ => Err("login answer has no data.authToken and data.userId".into()),
        }
    }

    /// `POST /api/v1/chat.postMessage`: the HTTP status and body.
    fn post(&self, session: &(String, String), text: &str) -> Result<(u16, Vec<u8>), String> {
        let resp = self
            .agent
            .post(&self.endpoint("chat.postMessage"))
            .header("X-Auth-Token", &session.0)
            .header("X-User-Id", &session.1)
            .send_json(json!({ "channel": self.config.channel, "text": text }))
            .map_err(|e| format!("chat.postMessage: {e}"))?;
        Ok(answer(resp))
    }
}

impl Sink<Alert> for RocketChatSink {
    fn name(&self) -> String {
        format!("rocketchat {}", self.config.url)
    }

    fn deliver(&mut self, event: &Alert) -> Result<(), String> {
        let text = event.text.clone();
        let mut relogged = false;
        loop {
            let session = match self.session.take() {
                Some(s) => s,
                None => {
                    relogged = true;
                    self.login()?
                }
            };
            let (status, body) = self.post(&session, &text)?;
            let is_login = matches!(self.config.auth, RcAuth::Login { .. });
            match status {
                200..=299 => {
                    self.session = Some(session);
                    let refused = serde_json::from_slice::<Json>(&body)
                        .ok()
                        .and_then(|v| v.get("success").and_then(Json::as_bool))
                        == Some(false);
                    return if refused {
                        Err(format!("chat.postMessage refused: {}", snippet(&body)))
                    } else {
                        Ok(())
                    };
                }
                // The token expired (or the server restarted): log in again, once.
                401 if is_login && !relogged => continue,
                _ => {
                    if status != 401 || !is_login {
                        self.session = Some(session);
                    }
                    return Err(format!(
                        "chat.postMessage answered {status}: {}",
                        snippet(&body)
                    ));
                }
            }
        }
    }
}

/// POSTs `{"text": ...}`, as Slack and Mattermost incoming webhooks take it.
struct WebhookSink {
    url: String,
    agent: ureq::Agent,
}

impl Sink<Alert> for WebhookSink {
    fn name(&self) -> String {
        format!("webhook {}", self.url)
    }

    fn deliver(&mut self, event: &Alert) -> Result<(), String> {
        let resp = self
            .agent
            .post(&self.url)
            .send_json(json!({ "text": event.text }))
            .map_err(|e| e.to_string())?;
        match answer(resp) {
            (200..=299, _) => Ok(()),
            (status, body) => Err(format!("answered {status}: {}", snippet(&body))),
        }
    }
}

/// Runs a shell command with the event JSON on stdin and the main fields
/// in `WATCH_*` environment variables; its output goes to our stderr.
struct ExecSink {
    command: String,
}

impl Sink<Alert> for ExecSink {
    fn name(&self) -> String {
        format!("exec {:?}", self.command)
    }

    fn deliver(&mut self, event: &Alert) -> Result<(), String> {
        let mut cmd = if cfg!(windows) {
            let mut c = Command::new("cmd");
            c.arg("/C").arg(&self.command);
            c
        } else {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&self.command);
            c
        };
        cmd.envs(event.env.iter().map(|(k, v)| (*k, v)))
            .env("WATCH_TEXT", &event.text)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| format!("cannot run it: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let mut payload = event.json.to_string();
            payload.push('\n');
            // A command that does not read its input is fine.
            let _ = stdin.write_all(payload.as_bytes());
        }
        let deadline = Instant::now() + EXEC_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("it exited with {status}")),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "it did not finish within {}; killed",
                        short_duration(EXEC_TIMEOUT)
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// The alert sinks' flags, the same for every command that alerts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AlertArgs {
    /// Publish alert events (JSON) on this NATS subject (server from -s).
    #[arg(long = "nats-subject", value_name = "SUBJECT")]
    pub nats_subject: Option<String>,
    /// Post alerts to this RocketChat server (https://chat.example.com).
    #[arg(long, value_name = "URL")]
    pub rocketchat: Option<String>,
    /// RocketChat user to log in as.
    #[arg(long = "rc-user", value_name = "USER")]
    pub rc_user: Option<String>,
    /// RocketChat password.
    #[arg(
        long = "rc-password",
        value_name = "PASSWORD",
        env = "ROCKETCHAT_PASSWORD",
        hide_env_values = true
    )]
    pub rc_password: Option<String>,
    /// RocketChat personal access token (instead of user and password).
    #[arg(
        long = "rc-token",
        value_name = "TOKEN",
        env = "ROCKETCHAT_TOKEN",
        hide_env_values = true
    )]
    pub rc_token: Option<String>,
    /// The user id that goes with --rc-token.
    #[arg(long = "rc-user-id", value_name = "ID")]
    pub rc_user_id: Option<String>,
    /// RocketChat channel ('#ops') or user ('@someone').
    #[arg(long = "rc-channel", value_name = "CHANNEL")]
    pub rc_channel: Option<String>,
    /// POST alerts as {"text": ...} to this URL (Slack, Mattermost; repeatable).
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// Run this shell command for each alert, the event JSON on stdin.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
}

/// How to log in to RocketChat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcAuth {
    /// `POST /api/v1/login` with these, again when the token expires.
    Login {
        /// User name (or e-mail).
        user: String,
        /// Password.
        password: String,
    },
    /// A personal access token: no login.
    Token {
        /// The token (`X-Auth-Token`).
        token: String,
        /// Its user's id (`X-User-Id`).
        user_id: String,
    },
}

/// The RocketChat sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocketChat {
    /// Base URL of the server, e.g. `https://chat.example.com`.
    pub url: String,
    /// Credentials.
    pub auth: RcAuth,
    /// `#channel` or `@user`.
    pub channel: String,
}

/// Where alerts go; any combination, or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertSinks {
    /// Publish the event JSON on this NATS subject.
    pub nats_subject: Option<String>,
    /// Post to RocketChat.
    pub rocketchat: Option<RocketChat>,
    /// POST `{"text": ...}` to these URLs.
    pub webhooks: Vec<String>,
    /// Run this shell command with the event JSON on stdin.
    pub exec: Option<String>,
}

impl AlertSinks {
    /// True when no alert goes anywhere.
    pub fn is_empty(&self) -> bool {
        self.nats_subject.is_none()
            && self.rocketchat.is_none()
            && self.webhooks.is_empty()
            && self.exec.is_none()
    }
}

/// The file's sink settings, each `None` when not given.
#[derive(Debug, Default)]
pub struct FileSinks {
    nats_subject: Option<String>,
    webhooks: Vec<String>,
    exec: Option<String>,
    rc_url: Option<String>,
    rc_user: Option<String>,
    rc_password: Option<String>,
    rc_token: Option<String>,
    rc_user_id: Option<String>,
    rc_channel: Option<String>,
}

fn normal_key(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}

fn unknown(entry: &Entry) -> ConfError {
    ConfError::at(&entry.key_pos, format!("unknown field \"{}\"", entry.key))
}

fn wrong(key: &str, expected: &str, value: &Value) -> ConfError {
    let got = match &value.kind {
        ValueKind::String(s) if s.chars().count() <= 40 => format!("a string (\"{s}\")"),
        ValueKind::Integer(n) => format!("an integer ({n})"),
        _ => value.kind_name().to_string(),
    };
    ConfError::at(&value.pos, format!("'{key}' expects {expected}, got {got}"))
}

fn string(key: &str, value: &Value) -> std::result::Result<String, ConfError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| wrong(key, "a string", value))
}

/// Read a top-level config key that configures an alert sink
/// (`rocketchat { }`, `webhook`, `nats_subject`, `exec`) into `f`; false
/// when `key` (already lower case, `_` for `-`) is not one.
///
/// # Errors
///
/// A bad value or an unknown key inside `rocketchat { }`, with its position.
pub fn read_file_key(
    key: &str,
    value: &Value,
    f: &mut FileSinks,
) -> std::result::Result<bool, ConfError> {
    match key {
        "rocketchat" => {
            let m = value
                .as_map()
                .ok_or_else(|| wrong("rocketchat", "a map { url: ..., channel: ... }", value))?;
            for e in m {
                let k = normal_key(&e.key);
                let slot = match k.as_str() {
                    "url" => &mut f.rc_url,
                    "user" => &mut f.rc_user,
                    "password" => &mut f.rc_password,
                    "token" => &mut f.rc_token,
                    "user_id" => &mut f.rc_user_id,
                    "channel" => &mut f.rc_channel,
                    _ => return Err(unknown(e)),
                };
                let text = string(&k, &e.value)?;
                if k == "url" {
                    check_url(&text).map_err(|err| ConfError::at(&e.value.pos, err))?;
                }
                *slot = Some(text);
            }
        }
        "webhook" | "webhooks" => {
            let items: Vec<&Value> = match &value.kind {
                ValueKind::Array(items) => items.iter().collect(),
                _ => vec![value],
            };
            f.webhooks = items
                .into_iter()
                .map(|v| {
                    let url = string(key, v)?;
                    check_url(&url).map_err(|e| ConfError::at(&v.pos, e))?;
                    Ok(url)
                })
                .collect::<std::result::Result<_, ConfError>>()?;
        }
        "nats_subject" => f.nats_subject = Some(string(key, value)?),
        "exec" => f.exec = Some(string(key, value)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// An http or https URL with a host.
///
/// # Errors
///
/// Why it is not one.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    let uri: ureq::http::Uri = url.parse().map_err(|_| format!("invalid URL {url:?}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "invalid URL {url:?}: it must start with http:// or https://"
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("invalid URL {url:?}: no host"));
    }
    Ok(())
}

/// Flags, then the file's sinks where a flag is not given.
pub fn resolve(args: &AlertArgs, f: FileSinks) -> crate::error::Result<AlertSinks> {
    let pick = |flag: &Option<String>, file: Option<String>| flag.clone().or(file);
    let rc_url = pick(&args.rocketchat, f.rc_url);
    let user = pick(&args.rc_user, f.rc_user);
    let password = pick(&args.rc_password, f.rc_password);
    let token = pick(&args.rc_token, f.rc_token);
    let user_id = pick(&args.rc_user_id, f.rc_user_id);
    let channel = pick(&args.rc_channel, f.rc_channel);
    let rocketchat = match rc_url {
        None => {
            let given = [&user, &token, &user_id, &channel];
            if given.iter().any(|o| o.is_some()) {
                return Err(Error::usage(
                    "--rc-user, --rc-token, --rc-user-id and --rc-channel need --rocketchat URL",
                ));
            }
            None
        }
        Some(url) => {
            check_url(&url).map_err(|e| Error::usage(format!("--rocketchat: {e}")))?;
            let channel = channel.ok_or_else(|| {
                Error::usage("--rocketchat needs --rc-channel (e.g. '#ops' or '@someone')")
            })?;
            let auth = match (token, user_id, user, password) {
                (Some(token), Some(user_id), _, _) => RcAuth::Token { token, user_id },
                (Some(_), None, _, _) => {
                    return Err(Error::usage("--rc-token needs --rc-user-id"));
                }
                (None, _, Some(user), Some(password)) => RcAuth::Login { user, password },
                (None, _, Some(_), None) => {
                    return Err(Error::usage(
                        "--rc-user needs --rc-password (or ROCKETCHAT_PASSWORD)",
                    ));
                }
                _ => {
                    return Err(Error::usage(
                        "--rocketchat needs --rc-user and --rc-password (or ROCKETCHAT_PASSWORD), \
                         or --rc-token and --rc-user-id",
                    ));
                }
            };
            Some(RocketChat { url, auth, channel })
        }
    };
    let mut webhooks = args.webhook.clone();
    for url in &webhooks {
        check_url(url).map_err(|e| Error::usage(format!("--webhook: {e}")))?;
    }
    webhooks.extend(f.webhooks.into_iter().filter(|u| !args.webhook.contains(u)));
    let nats_subject = pick(&args.nats_subject, f.nats_subject);
    if let Some(s) = &nats_subject {
        if !is_valid_literal_subject(s.as_bytes()) {
            return Err(Error::usage(format!(
                "invalid --nats-subject {s:?}: a subject to publish to has no spaces or wildcards"
            )));
        }
    }
    Ok(AlertSinks {
        nats_subject,
        rocketchat,
        webhooks,
        exec: pick(&args.exec, f.exec),
    })
}
