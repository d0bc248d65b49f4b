//! Flags and config file to the resolved [`Plan`]: the targets to check,
//! each with every setting decided, and the alert sinks.
//!
//! Settings come in layers, weakest first: the built-in defaults (the
//! `DEFAULT_*` constants here), the file's `defaults { }` block, the
//! command-line flags, and a target's own keys in the file. A flag thus
//! overrides the file's defaults, as nats-server's flags override its
//! config file, while a key written in one target's block is about that
//! target only and wins over everything. URLs given as arguments take the
//! flags, the file's defaults and the built-in defaults.
//!
//! # File format
//!
//! The nats-server config format, read by [`crate::conf::parse_file`]:
//!
//! ```text
//! defaults { interval: "10s", timeout: "5s", max_time: "2s", fail_after: 2 }
//! targets: [
//!   "http://10.0.0.1/health"
//!   { url: "http://10.0.0.2/api/status", json_field: "/status", json_ok: 0 }
//!   { url: "http://10.0.0.3/login", method: POST, body: '{"ping":1}',
//!     headers: { "Content-Type": "application/json" }, expect_status: "200-299" }
//! ]
//! rocketchat { url: "https://chat.example.com", user: "monitor",
//!              password: $ROCKETCHAT_PASSWORD, channel: "#ops" }
//! webhook: "https://hooks.example.com/T000/B000/XXXX"
//! nats_subject: "watch.http"
//! exec: "logger -t watch-http"
//! ```
//!
//! Target and `defaults` keys are the flags' names with `_`: `method`,
//! `body`, `headers` (a map, or an array of `"Name: value"`), `interval`,
//! `timeout`, `max_time`, `expect_status` (`200`, `"200-299"` or an
//! array), `json_field`, `json_ok` (one value or an array), `contains`,
//! `insecure`, `cacert`, `fail_after`, `remind`; targets also take `url`
//! and `name`. `max_time: 0`, `remind: 0` and `json_field: ""` turn off
//! what the defaults set. Keys are matched ignoring case, and `-` may
//! stand for `_`. A key that is not known is an error naming its file,
//! line and column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as Json;

use super::check::{parse_json_ok, Expect, StatusSet};
use super::WatchHttpArgs;
pub use crate::commands::alerting::AlertSinks as Sinks;
use crate::commands::alerting::{self, check_url, FileSinks};
#[cfg(test)]
use crate::commands::alerting::{RcAuth, RocketChat};
use crate::commands::connect::parse_header_flags;
use crate::conf::{self, duration_from_value, ConfError, Entry, Map, Value, ValueKind};
use crate::error::{Error, Result};

/// Time between two checks of a target.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// How long a request may take in all (connect, send, answer, body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Faults in a row before the first alert.
pub const DEFAULT_FAIL_AFTER: u32 = 1;
/// The HTTP method without `--body`.
pub const DEFAULT_METHOD: &str = "GET";
/// The HTTP method when there is a body and no method.
pub const DEFAULT_METHOD_WITH_BODY: &str = "POST";

/// The methods a check may use.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// One endpoint to check, with every setting decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The URL (http or https).
    pub url: String,
    /// A name for people, shown in alerts beside the URL.
    pub name: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<String>,
    /// Time between the starts of two checks.
    pub interval: Duration,
    /// Time allowed for one request, body included.
    pub timeout: Duration,
    /// Do not verify the HTTPS certificate.
    pub insecure: bool,
    /// Trust the CA certificates (PEM) in this file instead of the web roots.
    pub cacert: Option<PathBuf>,
    /// What a good answer looks like.
    pub expect: Expect,
    /// Faults in a row before alerting.
    pub fail_after: u32,
    /// Repeat the alert this often while down.
    pub remind: Option<Duration>,
}

impl Target {
    /// How alerts name the target: `name (url)` or the URL.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} ({})", self.url),
            None => self.url.clone(),
        }
    }
}

/// Everything `watch-http` will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The targets, URL arguments first, then the file's in file order.
    pub targets: Vec<Target>,
    /// Where alerts go.
    pub sinks: Sinks,
    /// Things in the file that work but should be written differently.
    pub warnings: Vec<String>,
}

/// Settings that may be given at any layer; `None` is "not given here".
#[derive(Debug, Clone, Default, PartialEq)]
struct Settings {
    name: Option<String>,
    method: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    interval: Option<Duration>,
    timeout: Option<Duration>,
    /// `Some(None)`: explicitly off (`max_time: 0`).
    max_time: Option<Option<Duration>>,
    insecure: Option<bool>,
    cacert: Option<PathBuf>,
    expect_status: Option<StatusSet>,
    json_field: Option<String>,
    json_ok: Option<Vec<Json>>,
    contains: Option<String>,
    fail_after: Option<u32>,
    /// `Some(None)`: explicitly off (`remind: 0`).
    remind: Option<Option<Duration>>,
}

impl Settings {
    /// `self` with `over` laid on top: what `over` gives wins. Headers
    /// add up, a later one replacing an earlier one of the same name.
    fn then(mut self, over: &Settings) -> Settings {
        fn pick<T: Clone>(base: &mut Option<T>, over: &Option<T>) {
            if over.is_some() {
                base.clone_from(over);
            }
        }
        pick(&mut self.name, &over.name);
        pick(&mut self.method, &over.method);
        for (k, v) in &over.headers {
            self.headers.retain(|(old, _)| !old.eq_ignore_ascii_case(k));
            self.headers.push((k.clone(), v.clone()));
        }
        pick(&mut self.body, &over.body);
        pick(&mut self.interval, &over.interval);
        pick(&mut self.timeout, &over.timeout);
        pick(&mut self.max_time, &over.max_time);
        pick(&mut self.insecure, &over.insecure);
        pick(&mut self.cacert, &over.cacert);
        pick(&mut self.expect_status, &over.expect_status);
        pick(&mut self.json_field, &over.json_field);
        pick(&mut self.json_ok, &over.json_ok);
        pick(&mut self.contains, &over.contains);
        pick(&mut self.fail_after, &over.fail_after);
        pick(&mut self.remind, &over.remind);
        self
    }

    /// The settings the flags give.
    fn from_args(args: &WatchHttpArgs) -> Result<Settings> {
        let expect_status = args
            .expect_status
            .as_deref()
            .map(|s| StatusSet::parse(s).map_err(|e| Error::usage(format!("--expect-status: {e}"))))
            .transpose()?;
        Ok(Settings {
            name: None,
            method: args.method.clone(),
            headers: parse_header_flags(&args.headers)?,
            body: args.body.clone(),
            interval: args.interval,
            timeout: args.timeout,
            max_time: args.max_time.map(|d| (!d.is_zero()).then_some(d)),
            insecure: args.insecure.then_some(true),
            cacert: args.cacert.clone(),
            expect_status,
            json_field: args.json_field.clone(),
            json_ok: (!args.json_ok.is_empty())
                .then(|| args.json_ok.iter().map(|s| parse_json_ok(s)).collect()),
            contains: args.contains.clone(),
            fail_after: args.fail_after,
            remind: args.remind.map(|d| (!d.is_zero()).then_some(d)),
        })
    }

    /// Read one setting `key` from the file; false when `key` is not a
    /// setting.
    fn read(
        &mut self,
        key: &str,
        value: &Value,
        warnings: &mut Vec<String>,
    ) -> std::result::Result<bool, ConfError> {
        let mut w = Vec::new();
        match key {
            "name" => self.name = Some(string(key, value)?),
            "method" => self.method = Some(string(key, value)?),
            "headers" | "header" => self.headers = headers(key, value)?,
            "body" => self.body = Some(string(key, value)?),
            "interval" => self.interval = Some(duration_from_value(key, value, &mut w)?),
            "timeout" => self.timeout = Some(duration_from_value(key, value, &mut w)?),
            "max_time" => {
                let d = duration_from_value(key, value, &mut w)?;
                self.max_time = Some((!d.is_zero()).then_some(d));
            }
            "remind" => {
                let d = duration_from_value(key, value, &mut w)?;
                self.remind = Some((!d.is_zero()).then_some(d));
            }
            "insecure" => self.insecure = Some(boolean(key, value)?),
            "cacert" => {
                // A relative path is from the working directory, as
                // nats-server takes its TLS files.
                self.cacert = Some(PathBuf::from(string(key, value)?));
            }
            "expect_status" => self.expect_status = Some(status_set(key, value)?),
            "json_field" => self.json_field = Some(string(key, value)?),
            "json_ok" => {
                let values = match &value.kind {
                    ValueKind::Array(items) => {
                        items.iter().map(|v| json_value(key, v)).collect::<Vec<_>>()
                    }
                    _ => vec![json_value(key, value)],
                };
                self.json_ok = Some(values.into_iter().collect::<std::result::Result<_, _>>()?);
            }
            "contains" => self.contains = Some(string(key, value)?),
            "fail_after" => {
                let n = value
                    .as_int()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| {
                        ConfError::at(
                            &value.pos,
                            format!("'{key}' expects a whole number from 1, got {}", show(value)),
                        )
                    })?;
                self.fail_after = Some(n);
            }
            _ => return Ok(false),
        }
        warnings.extend(w.iter().map(ToString::to_string));
        Ok(true)
    }

    /// The settings of a `defaults { }` or target `{ }` block; `url` is
    /// returned apart (only targets may have one).
    fn from_map(
        map: &Map,
        allow_url: bool,
        warnings: &mut Vec<String>,
    ) -> std::result::Result<(Settings, Option<(String, Value)>), ConfError> {
        let mut s = Settings::default();
        let mut url = None;
        for entry in map {
            let key = normal_key(&entry.key);
            if allow_url && key == "url" {
                url = Some((string("url", &entry.value)?, entry.value.clone()));
            } else if !s.read(&key, &entry.value, warnings)? {
                return Err(unknown(entry));
            }
        }
        Ok((s, url))
    }
}

/// `Max-Time` and `max_time` alike.
fn normal_key(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}

fn unknown(entry: &Entry) -> ConfError {
    ConfError::at(&entry.key_pos, format!("unknown field \"{}\"", entry.key))
}

fn show(value: &Value) -> String {
    match &value.kind {
        ValueKind::String(s) if s.chars().count() <= 40 => format!("a string (\"{s}\")"),
        ValueKind::Integer(n) => format!("an integer ({n})"),
        _ => value.kind_name().to_string(),
    }
}

fn wrong(key: &str, expected: &str, value: &Value) -> ConfError {
    ConfError::at(
        &value.pos,
        format!("'{key}' expects {expected}, got {}", show(value)),
    )
}

fn string(key: &str, value: &Value) -> std::result::Result<String, ConfError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| wrong(key, "a string", value))
}

fn boolean(key: &str, value: &Value) -> std::result::Result<bool, ConfError> {
    value
        .as_bool()
        .ok_or_else(|| wrong(key, "true or false", value))
}

/// `200`, `"200,204"`, `"200-299"` or an array of those.
fn status_set(key: &str, value: &Value) -> std::result::Result<StatusSet, ConfError> {
    let text = match &value.kind {
        ValueKind::Integer(n) => n.to_string(),
        ValueKind::String(s) => s.clone(),
        ValueKind::Array(items) => items
            .iter()
            .map(|v| match &v.kind {
                ValueKind::Integer(n) => Ok(n.to_string()),
                ValueKind::String(s) => Ok(s.clone()),
                _ => Err(wrong(key, "statuses such as 200 or \"200-299\"", v)),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?
            .join(","),
        _ => return Err(wrong(key, "statuses such as 200 or \"200-299\"", value)),
    };
    StatusSet::parse(&text).map_err(|e| ConfError::at(&value.pos, format!("'{key}': {e}")))
}

/// A scalar as the JSON value it stands for (`0`, `"ok"`, `true`).
fn json_value(key: &str, value: &Value) -> std::result::Result<Json, ConfError> {
    Ok(match &value.kind {
        ValueKind::Integer(n) => Json::from(*n),
        ValueKind::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .ok_or_else(|| wrong(key, "a finite number", value))?,
        ValueKind::Bool(b) => Json::Bool(*b),
        ValueKind::String(s) => Json::String(s.clone()),
        _ => return Err(wrong(key, "a number, a string or a boolean", value)),
    })
}

/// `{ "Content-Type": "application/json" }` or `["Content-Type: application/json"]`.
fn headers(key: &str, value: &Value) -> std::result::Result<Vec<(String, String)>, ConfError> {
    let lines: Vec<(String, &Value)> = match &value.kind {
        ValueKind::Map(map) => map
            .iter()
            .map(|e| Ok((format!("{}:{}", e.key, string(&e.key, &e.value)?), &e.value)))
            .collect::<std::result::Result<_, ConfError>>()?,
        ValueKind::Array(items) => items
            .iter()
            .map(|v| Ok((string(key, v)?, v)))
            .collect::<std::result::Result<_, ConfError>>()?,
        _ => return Err(wrong(key, "a map of names to values", value)),
    };
    lines
        .into_iter()
        .map(|(line, v)| {
            let mut parsed = parse_header_flags(std::slice::from_ref(&line))
                .map_err(|e| ConfError::at(&v.pos, e.to_string()))?;
            let (name, val) = parsed.remove(0);
            check_header(&name, &val).map_err(|e| ConfError::at(&v.pos, e))?;
            Ok((name, val))
        })
        .collect()
}

/// A header HTTP can carry.
fn check_header(name: &str, value: &str) -> std::result::Result<(), String> {
    ureq::http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))?;
    ureq::http::HeaderValue::from_str(value)
        .map_err(|_| format!("invalid value for header {name:?}"))?;
    Ok(())
}

/// What the file says.
#[derive(Debug, Default)]
struct FileConfig {
    defaults: Settings,
    /// Each target's settings, its URL and where the target is.
    targets: Vec<(Settings, String, Value)>,
    sinks: FileSinks,
}

fn read_file_config(
    map: &Map,
    warnings: &mut Vec<String>,
) -> std::result::Result<FileConfig, ConfError> {
    let mut fc = FileConfig::default();
    for entry in map {
        let key = normal_key(&entry.key);
        let value = &entry.value;
        match key.as_str() {
            "defaults" => {
                let m = value
                    .as_map()
                    .ok_or_else(|| wrong("defaults", "a map { ... }", value))?;
                fc.defaults = Settings::from_map(m, false, warnings)?.0;
            }
            "targets" => {
                let items = value
                    .as_array()
                    .ok_or_else(|| wrong("targets", "an array [ ... ]", value))?;
                for item in items {
                    fc.targets.push(match &item.kind {
                        ValueKind::String(url) => (Settings::default(), url.clone(), item.clone()),
                        ValueKind::Map(m) => {
                            let (s, url) = Settings::from_map(m, true, warnings)?;
                            let (url, at) = url.ok_or_else(|| {
                                ConfError::at(&item.pos, "a target needs a 'url'")
                            })?;
                            (s, url, at)
                        }
                        _ => return Err(wrong("targets", "URLs or maps { url: ... }", item)),
                    });
                }
            }
            _ if alerting::read_file_key(&key, value, &mut fc.sinks)? => {}
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    Ok(fc)
}

/// Apply the built-in defaults and check the result.
fn resolve(url: &str, s: Settings) -> std::result::Result<Target, String> {
    check_url(url)?;
    let method = match &s.method {
        Some(m) => {
            let m = m.to_ascii_uppercase();
            if !METHODS.contains(&m.as_str()) {
                return Err(format!(
                    "unsupported method {m:?} (use one of {})",
                    METHODS.join(", ")
                ));
            }
            m
        }
        None if s.body.is_some() => DEFAULT_METHOD_WITH_BODY.to_string(),
        None => DEFAULT_METHOD.to_string(),
    };
    for (k, v) in &s.headers {
        check_header(k, v)?;
    }
    if let Some(p) = &s.json_field {
        if !p.is_empty() && !p.starts_with('/') {
            return Err(format!(
                "json_field {p:?} is not a JSON pointer: write \"/{p}\""
            ));
        }
    }
    if s.json_ok.as_ref().is_some_and(|v| !v.is_empty()) && s.json_field.is_none() {
        return Err("json_ok needs json_field (the JSON pointer to look at, e.g. /status)".into());
    }
    // An empty json_field turns off the one inherited from the defaults.
    let json_field = s.json_field.filter(|p| !p.is_empty());
    let interval = s.interval.unwrap_or(DEFAULT_INTERVAL);
    if interval.is_zero() {
        return Err("interval must be more than 0".into());
    }
    let timeout = s.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        return Err("timeout must be more than 0".into());
    }
    Ok(Target {
        url: url.to_string(),
        name: s.name,
        method,
        headers: s.headers,
        body: s.body,
        interval,
        timeout,
        insecure: s.insecure.unwrap_or(false),
        cacert: s.cacert,
        expect: Expect {
            status: s.expect_status.unwrap_or_default(),
            json_ok: if json_field.is_some() {
                s.json_ok.unwrap_or_default()
            } else {
                Vec::new()
            },
            json_field,
            contains: s.contains,
            max_time: s.max_time.flatten(),
        },
        fail_after: s.fail_after.unwrap_or(DEFAULT_FAIL_AFTER),
        remind: s.remind.flatten(),
    })
}

/// Resolve the flags and the file (`map`, already parsed) into a plan.
///
/// # Errors
///
/// A usage error: a bad flag value, a bad or unknown key in the file (with
/// its position), no target at all, incomplete sink settings.
pub fn plan_from(args: &WatchHttpArgs, map: Option<&Map>) -> Result<Plan> {
    let mut warnings = Vec::new();
    let flags = Settings::from_args(args)?;
    let file = match map {
        Some(m) => read_file_config(m, &mut warnings).map_err(|e| Error::usage(e.to_string()))?,
        None => FileConfig::default(),
    };
    let base = Settings::default().then(&file.defaults).then(&flags);
    let mut targets = Vec::new();
    for url in &args.urls {
        targets.push(resolve(url, base.clone()).map_err(Error::usage)?);
    }
    for (own, url, at) in file.targets {
        let t = resolve(&url, base.clone().then(&own))
            .map_err(|e| Error::usage(ConfError::at(&at.pos, e).to_string()))?;
        targets.push(t);
    }
    if targets.is_empty() {
        return Err(Error::usage(
            "nothing to watch: give URLs, or a --config file with targets",
        ));
    }
    Ok(Plan {
        targets,
        sinks: alerting::resolve(&args.alerts, file.sinks)?,
        warnings,
    })
}

/// Resolve the flags and the `--config` file, if any.
///
/// # Errors
///
/// As [`plan_from`], and a file that cannot be read or parsed.
pub fn plan(args: &WatchHttpArgs) -> Result<Plan> {
    let map = match &args.config {
        Some(path) => Some(read_config(path)?),
        None => None,
    };
    plan_from(args, map.as_ref())
}

fn read_config(path: &Path) -> Result<Map> {
    conf::parse_file(path).map_err(|e| Error::usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: WatchHttpArgs,
    }

    fn args(a: &[&str]) -> WatchHttpArgs {
        let mut v = vec!["watch-http"];
        v.extend_from_slice(a);
        Cli::try_parse_from(v).unwrap().args
    }

    fn with_file(a: &[&str], text: &str) -> Result<Plan> {
        let map =
            conf::parse_str(text, Path::new("w.conf")).map_err(|e| Error::usage(e.to_string()))?;
        plan_from(&args(a), Some(&map))
    }

    fn err(r: Result<Plan>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn built_in_defaults() {
        let p = plan_from(&args(&["http://a/"]), None).unwrap();
        let t = &p.targets[0];
        assert_eq!(t.method, "GET");
        assert_eq!(t.interval, DEFAULT_INTERVAL);
        assert_eq!(t.timeout, DEFAULT_TIMEOUT);
        assert_eq!(t.fail_after, 1);
        assert_eq!(t.expect, Expect::default());
        assert_eq!(t.remind, None);
        assert!(p.sinks.is_empty());
    }

    #[test]
    fn flags() {
        let p = plan_from(
            &args(&[
                "http://a/",
                "https://b:8443/x?y=1",
                "--interval",
                "5s",
                "--max-time",
                "2s",
                "--expect-status",
                "200-299",
                "--json-field",
                "/status",
                "--json-ok",
                "-1",
                "--json-ok",
                "ok",
                "--body",
                "{}",
                "-H",
                "Content-Type: application/json",
                "--fail-after",
                "3",
                "--remind",
                "1h",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(p.targets.len(), 2);
        let t = &p.targets[1];
        assert_eq!(t.method, "POST", "a body means POST");
        assert_eq!(t.interval, Duration::from_secs(5));
        assert_eq!(t.expect.max_time, Some(Duration::from_secs(2)));
        assert!(t.expect.status.contains(204));
        assert_eq!(t.expect.json_ok, vec![json!(-1), json!("ok")]);
        assert_eq!(
            t.headers,
            [("Content-Type".into(), "application/json".into())]
        );
        assert_eq!(t.fail_after, 3);
        assert_eq!(t.remind, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn bad_flags() {
        let e = |a: &[&str]| err(plan_from(&args(a), None));
        assert!(e(&[]).contains("nothing to watch"));
        assert!(e(&["ftp://a/"]).contains("http:// or https://"));
        assert!(e(&["not a url"]).contains("invalid URL"));
        assert!(e(&["http://a/", "-X", "BREW"]).contains("unsupported method"));
        assert!(e(&["http://a/", "--json-field", "status"]).contains("\"/status\""));
        assert!(e(&["http://a/", "--json-ok", "0"]).contains("needs json_field"));
        assert!(e(&["http://a/", "--expect-status", "2xx"]).contains("--expect-status"));
        assert!(e(&["http://a/", "--interval", "0"]).contains("interval"));
        assert!(e(&["http://a/", "--rc-channel", "#x"]).contains("need --rocketchat"));
        assert!(e(&["http://a/", "--rocketchat", "http://rc"]).contains("--rc-channel"));
        assert!(e(&[
            "http://a/",
            "--rocketchat",
            "http://rc",
            "--rc-channel",
            "#x"
        ])
        .contains("--rc-user and --rc-password"));
        assert!(e(&[
            "http://a/",
            "--rocketchat",
            "http://rc",
            "--rc-channel",
            "#x",
            "--rc-token",
            "t"
        ])
        .contains("--rc-user-id"));
        assert!(e(&["http://a/", "--nats-subject", "a.*"]).contains("wildcards"));
        assert!(e(&["http://a/", "--webhook", "hook"]).contains("--webhook"));
    }

    #[test]
    fn sinks_from_flags() {
        let p = plan_from(
            &args(&[
                "http://a/",
                "--rocketchat",
                "http://rc:3000",
                "--rc-user",
                "bot",
                "--rc-password",
                "pw",
                "--rc-channel",
                "#ops",
                "--webhook",
                "http://hook/1",
                "--nats-subject",
                "watch.http",
                "--exec",
                "cat",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            p.sinks,
            Sinks {
                nats_subject: Some("watch.http".into()),
                rocketchat: Some(RocketChat {
                    url: "http://rc:3000".into(),
                    auth: RcAuth::Login {
                        user: "bot".into(),
                        password: "pw".into()
                    },
                    channel: "#ops".into()
                }),
                webhooks: vec!["http://hook/1".into()],
                exec: Some("cat".into()),
            }
        );
    }

    const CLASSIC: &str = r##"
# The classic four.
defaults { interval: "5s", max_time: "2s", json_field: "/status", json_ok: 0 }
targets: [
  { url: "http://api/ok" }
  { url: "http://api/slow", name: "slow one", max_time: "500ms", interval: "1s" }
  "http://api/plain"
  { url: "http://api/post", method: post, body: '{"a":1}',
    headers: { "Content-Type": "application/json" }, expect_status: [200, "300-399"],
    json_ok: ["ok", 0], fail_after: 2, remind: "10m", max_time: 0 }
]
rocketchat { url: "http://rc", token: "tok", user_id: "uid", channel: "#ops" }
webhook: ["http://hook/a", "http://hook/b"]
"##;

    #[test]
    fn file_targets_and_layers() {
        let p = with_file(&["--interval", "3s"], CLASSIC).unwrap();
        assert_eq!(p.targets.len(), 4);
        let [ok, slow, plain, post] = &p.targets[..] else {
            unreachable!()
        };
        // A flag beats the file's defaults ...
        assert_eq!(ok.interval, Duration::from_secs(3));
        // ... and a target's own key beats the flag.
        assert_eq!(slow.interval, Duration::from_secs(1));
        assert_eq!(ok.expect.max_time, Some(Duration::from_secs(2)));
        assert_eq!(slow.expect.max_time, Some(Duration::from_millis(500)));
        assert_eq!(slow.label(), "slow one (http://api/slow)");
        assert_eq!(plain.expect.json_field.as_deref(), Some("/status"));
        assert_eq!(plain.expect.json_ok, vec![json!(0)]);
        assert_eq!(post.method, "POST");
        assert_eq!(post.body.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(post.expect.max_time, None, "max_time: 0 turns it off");
        assert!(post.expect.status.contains(301) && !post.expect.status.contains(404));
        assert_eq!(post.expect.json_ok, vec![json!("ok"), json!(0)]);
        assert_eq!(
            (post.fail_after, post.remind),
            (2, Some(Duration::from_secs(600)))
        );
        assert_eq!(
            p.sinks.rocketchat.unwrap().auth,
            RcAuth::Token {
                token: "tok".into(),
                user_id: "uid".into()
            }
        );
        assert_eq!(p.sinks.webhooks, ["http://hook/a", "http://hook/b"]);
    }

    #[test]
    fn url_arguments_and_file_targets_together() {
        let p = with_file(&["http://cli/"], "targets: [\"http://file/\"]").unwrap();
        let urls: Vec<_> = p.targets.iter().map(|t| t.url.as_str()).collect();
        assert_eq!(urls, ["http://cli/", "http://file/"]);
    }

    #[test]
    fn flags_override_file_sinks() {
        let p = with_file(
            &["--rc-channel", "#other", "--webhook", "http://hook/c"],
            CLASSIC,
        )
        .unwrap();
        assert_eq!(p.sinks.rocketchat.unwrap().channel, "#other");
        assert_eq!(
            p.sinks.webhooks,
            ["http://hook/c", "http://hook/a", "http://hook/b"]
        );
    }

    #[test]
    fn file_errors_have_positions() {
        let e = |text: &str| err(with_file(&[], text));
        assert_eq!(
            e("targets: [ { url: \"http://a/\", max_tme: \"1s\" } ]"),
            "w.conf:1:32: unknown field \"max_tme\""
        );
        assert_eq!(
            e("defaults {\n  intervall: 5s\n}"),
            "w.conf:2:3: unknown field \"intervall\""
        );
        assert_eq!(e("target: []"), "w.conf:1:1: unknown field \"target\"");
        assert_eq!(
            e("rocketchat { url: \"http://rc\", pasword: x }"),
            "w.conf:1:32: unknown field \"pasword\""
        );
        assert!(e("targets: [ { name: x } ]").starts_with("w.conf:1:12: a target needs a 'url'"));
        assert!(e("targets: [ \"ftp://x\" ]").starts_with("w.conf:1:12: invalid URL"));
        assert!(e("targets: [ { url: \"http://a/\", interval: \"5\" } ]").contains("missing unit"));
        assert!(e("targets: [ { url: \"http://a/\", fail_after: 0 } ]")
            .contains("'fail_after' expects a whole number from 1"));
        assert!(
            e("targets: [ { url: \"http://a/\", expect_status: \"2xx\" } ]")
                .starts_with("w.conf:1:47: 'expect_status'")
        );
        assert!(e("targets: [ { url: \"http://a/\", json_field: status } ]")
            .starts_with("w.conf:1:19:"));
        assert!(e("targets: http://a/").contains("'targets' expects an array"));
        assert!(
            e("targets: [ { url: \"http://a/\", headers: { \"Bad Name\": x } } ]")
                .contains("invalid header name")
        );
    }

    #[test]
    fn dashes_case_and_variables() {
        let p = with_file(
            &[],
            "LIMIT: \"750ms\"\ntargets: [ { URL: \"http://a/\", Max-Time: $LIMIT, Fail-After: 2 } ]",
        )
        .unwrap();
        assert_eq!(
            p.targets[0].expect.max_time,
            Some(Duration::from_millis(750))
        );
        assert_eq!(p.targets[0].fail_after, 2);
    }

    #[test]
    fn plain_seconds_warn() {
        let p = with_file(&[], "targets: [ { url: \"http://a/\", interval: 5 } ]").unwrap();
        assert_eq!(p.targets[0].interval, Duration::from_secs(5));
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("write \"5s\""), "{:?}", p.warnings);
    }
}
