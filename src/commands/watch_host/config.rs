//! Flags and config file to the resolved [`Plan`]: what to watch, what to
//! ignore, how often to report, and where the reports go. A flag wins over
//! the file's key of the same meaning; lists (targets, disks, ignore rules,
//! alert rules) add up, the flags' first.
//!
//! # File format
//!
//! The nats-server config format, read by [`crate::conf::parse_file`], with
//! the original agent's keys:
//!
//! ```text
//! targets: ["/home/makoto", "/tmp"]
//! ignore_extensions: [".swp", ".swpx", ".LOCK"]
//! ignore_dot_directory: true
//! ignore: ["*.tmp", "cache/**"]
//! disks: ["/", "/data"]
//! interval: "60s"
//! nats { subject: "host.metrics.web1", server: "nats://10.0.0.5:4222" }
//! prometheus { listen: "127.0.0.1:9101", textfile: "/var/lib/node_exporter/textfile/watch_host.prom" }
//! cloudwatch { namespace: "NatsLite/Host", region: "eu-west-1",
//!              dimensions: ["InstanceId", "Host", "Env=prod"], metrics: ["load_per_cpu"] }
//! alerts: [ { alert: "load_per_cpu>0.6", clear: "load_per_cpu<0.4" } ]
//! nats_subject: "host.alerts"
//! rocketchat { url: "https://chat.example.com", user: "monitor",
//!              password: $ROCKETCHAT_PASSWORD, channel: "#ops" }
//! webhook: "https://hooks.example.com/..."
//! exec: "logger -t watch-host"
//! ```
//!
//! Also `window`, `json`, `quiet` and `procfs`. Keys ignore case, and `-` may stand
//! for `_`; an unknown key is an error naming its file, line and column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::files::Backend;
use super::ignore::Ignore;
use super::system::hostname;
use super::threshold::{self, Rule};
use super::WatchHostArgs;
use crate::commands::alerting::{self, AlertSinks, FileSinks};
use crate::conf::{self, duration_from_value, ConfError, Entry, Map, Value, ValueKind};
use crate::error::{Error, Result};
use crate::protocol::subject::is_valid_literal_subject;

/// Time between reports.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// `--once`: how long file changes are counted.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// Everything `watch-host` will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Directories whose changes are counted.
    pub targets: Vec<PathBuf>,
    /// What is not counted.
    pub ignore: Ignore,
    /// Paths whose filesystems are reported.
    pub disks: Vec<PathBuf>,
    /// Time between reports.
    pub interval: Duration,
    /// `--once`: one report after `window`.
    pub once: bool,
    /// With `once`: the counting window.
    pub window: Duration,
    /// Stdout as JSON lines.
    pub json: bool,
    /// Nothing on stdout.
    pub quiet: bool,
    /// Publish reports on this NATS subject.
    pub nats_metrics: Option<String>,
    /// The file's NATS server, when no -s is given.
    pub nats_server: Option<String>,
    /// Serve /metrics here.
    pub listen: Option<String>,
    /// Write the node_exporter textfile here.
    pub textfile: Option<PathBuf>,
    /// Send reports to CloudWatch.
    pub cloudwatch: Option<CloudWatchPlan>,
    /// The proc filesystem (Linux).
    pub procfs: PathBuf,
    /// Threshold rules.
    pub rules: Vec<Rule>,
    /// Where alerts go.
    pub alert_sinks: AlertSinks,
    /// The file watcher.
    pub backend: Backend,
    /// This host's name.
    pub host: String,
    /// Things that work but should be written differently.
    pub warnings: Vec<String>,
}

/// What the file says; `None`/empty where it says nothing.
#[derive(Debug, Default)]
struct FileConfig {
    targets: Vec<PathBuf>,
    ignore_extensions: Vec<String>,
    ignore_globs: Vec<String>,
    ignore_dot_directory: Option<bool>,
    disks: Vec<PathBuf>,
    interval: Option<Duration>,
    window: Option<Duration>,
    json: Option<bool>,
    quiet: Option<bool>,
    nats_metrics: Option<String>,
    nats_server: Option<String>,
    listen: Option<String>,
    textfile: Option<PathBuf>,
    cloudwatch: Option<FileCloudWatch>,
    procfs: Option<PathBuf>,
    alerts: Vec<String>,
    clears: Vec<String>,
    sinks: FileSinks,
}

/// The file's `cloudwatch { }` block.
#[derive(Debug, Default)]
struct FileCloudWatch {
    namespace: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    dimensions: Vec<String>,
    metrics: Vec<String>,
}

fn normal_key(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}

fn unknown(entry: &Entry) -> ConfError {
    ConfError::at(&entry.key_pos, format!("unknown field \"{}\"", entry.key))
}

fn wrong(key: &str, expected: &str, value: &Value) -> ConfError {
    ConfError::at(
        &value.pos,
        format!("'{key}' expects {expected}, got {}", value.kind_name()),
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

/// A string or an array of strings.
fn strings(key: &str, value: &Value) -> std::result::Result<Vec<String>, ConfError> {
    match &value.kind {
        ValueKind::Array(items) => items.iter().map(|v| string(key, v)).collect(),
        _ => Ok(vec![string(key, value)?]),
    }
}

fn block<'a>(key: &str, value: &'a Value) -> std::result::Result<&'a Map, ConfError> {
    value
        .as_map()
        .ok_or_else(|| wrong(key, "a block { ... }", value))
}

fn read_file(map: &Map, warnings: &mut Vec<String>) -> std::result::Result<FileConfig, ConfError> {
    let mut f = FileConfig::default();
    let mut w = Vec::new();
    for entry in map {
        let key = normal_key(&entry.key);
        let value = &entry.value;
        match key.as_str() {
            "targets" | "target" => {
                f.targets = strings(&key, value)?
                    .into_iter()
                    .map(PathBuf::from)
                    .collect();
            }
            "ignore_extensions" | "ignore_extension" => {
                f.ignore_extensions = strings(&key, value)?;
            }
            "ignore" | "ignore_globs" => f.ignore_globs = strings(&key, value)?,
            "ignore_dot_directory" | "ignore_dot_directories" => {
                f.ignore_dot_directory = Some(boolean(&key, value)?);
            }
            "disks" | "disk" => {
                f.disks = strings(&key, value)?
                    .into_iter()
                    .map(PathBuf::from)
                    .collect();
            }
            "interval" => f.interval = Some(duration_from_value(&key, value, &mut w)?),
            "window" => f.window = Some(duration_from_value(&key, value, &mut w)?),
            "json" => f.json = Some(boolean(&key, value)?),
            "procfs" => f.procfs = Some(PathBuf::from(string(&key, value)?)),
            "quiet" => f.quiet = Some(boolean(&key, value)?),
            "nats" => {
                for e in block(&key, value)? {
                    match normal_key(&e.key).as_str() {
                        "subject" => f.nats_metrics = Some(string("subject", &e.value)?),
                        "server" | "url" => f.nats_server = Some(string("server", &e.value)?),
                        _ => return Err(unknown(e)),
                    }
                }
                f.nats_metrics.get_or_insert_with(String::new);
            }
            "prometheus" => {
                for e in block(&key, value)? {
                    match normal_key(&e.key).as_str() {
                        "listen" => f.listen = Some(string("listen", &e.value)?),
                        "textfile" => {
                            f.textfile = Some(PathBuf::from(string("textfile", &e.value)?));
                        }
                        _ => return Err(unknown(e)),
                    }
                }
            }
            "cloudwatch" => {
                let mut cw = FileCloudWatch::default();
                for e in block(&key, value)? {
                    let k = normal_key(&e.key);
                    match k.as_str() {
                        "namespace" => cw.namespace = Some(string(&k, &e.value)?),
                        "region" => cw.region = Some(string(&k, &e.value)?),
                        "endpoint" => cw.endpoint = Some(string(&k, &e.value)?),
                        "dimensions" => {
                            cw.dimensions = match &e.value.kind {
                                ValueKind::Map(m) => m
                                    .iter()
                                    .map(|d| {
                                        let v = string(&d.key, &d.value)?;
                                        Ok(if v.is_empty() {
                                            d.key.clone()
                                        } else {
                                            format!("{}={v}", d.key)
                                        })
                                    })
                                    .collect::<std::result::Result<_, ConfError>>()?,
                                _ => strings(&k, &e.value)?,
                            }
                        }
                        "metrics" => cw.metrics = strings(&k, &e.value)?,
                        _ => return Err(unknown(e)),
                    }
                }
                f.cloudwatch = Some(cw);
            }
            "alerts" => {
                let items = value
                    .as_array()
                    .ok_or_else(|| wrong(&key, "an array [ { alert: ..., clear: ... } ]", value))?;
                for item in items {
                    match &item.kind {
                        ValueKind::String(a) => f.alerts.push(a.clone()),
                        ValueKind::Map(m) => {
                            let mut alert = None;
                            for e in m {
                                match normal_key(&e.key).as_str() {
                                    "alert" => alert = Some(string("alert", &e.value)?),
                                    "clear" => f.clears.push(string("clear", &e.value)?),
                                    _ => return Err(unknown(e)),
                                }
                            }
                            f.alerts.push(alert.ok_or_else(|| {
                                ConfError::at(&item.pos, "an alert needs 'alert: \"METRIC>N\"'")
                            })?);
                        }
                        _ => return Err(wrong(&key, "rules or { alert: ..., clear: ... }", item)),
                    }
                }
            }
            _ if alerting::read_file_key(&key, value, &mut f.sinks)? => {}
            _ if entry.used_as_variable => {}
            _ => return Err(unknown(entry)),
        }
    }
    warnings.extend(w.iter().map(ToString::to_string));
    Ok(f)
}

/// Resolve the flags and the `--config` file, if any.
///
/// # Errors
///
/// A usage error: a bad flag value, a file that cannot be read or parsed,
/// a bad or unknown key in it (with its position).
pub fn plan(args: &WatchHostArgs) -> Result<Plan> {
    let map = match &args.config {
        Some(path) => Some(read_config(path)?),
        None => None,
    };
    plan_from(args, map.as_ref())
}

fn read_config(path: &Path) -> Result<Map> {
    conf::parse_file(path).map_err(|e| Error::usage(e.to_string()))
}

/// Resolve the flags and a parsed file.
///
/// # Errors
///
/// As [`plan`].
pub fn plan_from(args: &WatchHostArgs, map: Option<&Map>) -> Result<Plan> {
    let mut warnings = Vec::new();
    let f = match map {
        Some(m) => read_file(m, &mut warnings).map_err(|e| Error::usage(e.to_string()))?,
        None => FileConfig::default(),
    };
    let add = |flags: &[PathBuf], file: &[PathBuf]| -> Vec<PathBuf> {
        let mut v = flags.to_vec();
        v.extend(file.iter().filter(|p| !flags.contains(p)).cloned());
        v
    };
    let add_s = |flags: &[String], file: &[String]| -> Vec<String> {
        let mut v = flags.to_vec();
        v.extend(file.iter().filter(|p| !flags.contains(p)).cloned());
        v
    };
    let interval = args.interval.or(f.interval).unwrap_or(DEFAULT_INTERVAL);
    if interval.is_zero() {
        return Err(Error::usage("--interval must be more than 0"));
    }
    let window = args.window.or(f.window).unwrap_or(DEFAULT_WINDOW);
    let mut disks = add(&args.disks, &f.disks);
    if disks.is_empty() {
        disks = super::disk::default_paths();
    }
    let host = hostname();
    let nats_metrics = match args.nats_metrics.as_deref().or(f.nats_metrics.as_deref()) {
        None => None,
        Some("") => Some(default_subject(&host)),
        Some(s) => Some(s.to_string()),
    };
    if let Some(s) = &nats_metrics {
        if !is_valid_literal_subject(s.as_bytes()) {
            return Err(Error::usage(format!(
                "invalid --nats-metrics subject {s:?}: a subject to publish to has no spaces or wildcards"
            )));
        }
    }
    let alerts = add_s(&args.alert_rules, &f.alerts);
    let clears = add_s(&args.clear_rules, &f.clears);
    Ok(Plan {
        targets: add(&args.targets, &f.targets),
        ignore: Ignore::new(
            &add_s(&args.ignore_extensions, &f.ignore_extensions),
            &add_s(&args.ignore_globs, &f.ignore_globs),
            args.ignore_dot_directories || f.ignore_dot_directory.unwrap_or(false),
        ),
        disks,
        interval,
        once: args.once,
        window,
        json: args.json || f.json.unwrap_or(false),
        quiet: args.quiet || f.quiet.unwrap_or(false),
        nats_metrics,
        nats_server: f.nats_server,
        listen: args.listen.clone().or(f.listen),
        textfile: args.textfile.clone().or(f.textfile),
        cloudwatch: cloudwatch_plan(args, f.cloudwatch)?,
        procfs: args
            .procfs
            .clone()
            .or(f.procfs)
            .unwrap_or_else(|| PathBuf::from("/proc")),
        rules: threshold::rules(&alerts, &clears).map_err(Error::usage)?,
        alert_sinks: alerting::resolve(&args.alerts, f.sinks)?,
        backend: args.watch_backend,
        host,
        warnings,
    })
}

/// `host.metrics.<hostname>`, the host name's dots and anything a subject
/// token cannot hold made `_`.
pub fn default_subject(host: &str) -> String {
    let token: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("host.metrics.{token}")
}

/// The CloudWatch namespace without `--cw-namespace`.
pub const DEFAULT_NAMESPACE: &str = "NatsLite/Host";

/// The CloudWatch settings as given; the instance's region and id are
/// looked up when the sink starts ([`cloudwatch_target`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWatchPlan {
    /// Namespace of the metrics.
    pub namespace: String,
    /// Region, if given.
    pub region: Option<String>,
    /// Endpoint, if given.
    pub endpoint: Option<String>,
    /// Dimensions: a value, or `None` for this instance's (InstanceId, Host).
    pub dimensions: Vec<(String, Option<String>)>,
    /// Only these metrics (all when empty).
    pub metrics: Vec<String>,
}

/// The instance's own dimensions, which may go without a value.
const OWN_DIMENSIONS: &[&str] = &["InstanceId", "Host"];

fn cloudwatch_plan(
    args: &WatchHostArgs,
    file: Option<FileCloudWatch>,
) -> Result<Option<CloudWatchPlan>> {
    let given = args.cw_namespace.is_some()
        || !args.cw_dimensions.is_empty()
        || args.cw_region.is_some()
        || args.cw_endpoint.is_some()
        || !args.cw_metrics.is_empty();
    if !args.cloudwatch && file.is_none() {
        if given {
            return Err(Error::usage("the --cw-* flags need --cloudwatch"));
        }
        return Ok(None);
    }
    let file = file.unwrap_or_default();
    let dims_given = if args.cw_dimensions.is_empty() {
        &file.dimensions
    } else {
        &args.cw_dimensions
    };
    let metrics = if args.cw_metrics.is_empty() {
        &file.metrics
    } else {
        &args.cw_metrics
    };
    let mut dimensions = Vec::new();
    for d in dims_given {
        let (name, value) = match d.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.to_string())),
            None => (d.trim(), None),
        };
        if name.is_empty() || (value.is_none() && !OWN_DIMENSIONS.contains(&name)) {
            return Err(Error::usage(format!(
                "--cw-dimension {d:?}: write NAME=VALUE, or InstanceId or Host alone"
            )));
        }
        dimensions.push((name.to_string(), value));
    }
    if dimensions.is_empty() {
        dimensions = OWN_DIMENSIONS
            .iter()
            .map(|n| (n.to_string(), None))
            .collect();
    }
    for m in metrics {
        if super::report::metric(m).is_none() {
            return Err(Error::usage(format!(
                "--cw-metric {m:?}: no such metric (see the JSON report's names, e.g. load_per_cpu, disk_used_percent)"
            )));
        }
    }
    Ok(Some(CloudWatchPlan {
        namespace: args
            .cw_namespace
            .clone()
            .or(file.namespace)
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
        region: args.cw_region.clone().or(file.region),
        endpoint: args.cw_endpoint.clone().or(file.endpoint),
        dimensions,
        metrics: metrics.clone(),
    }))
}

/// Decide the region, endpoint and dimension values, asking the instance
/// metadata service for what is not given (InstanceId, the region).
///
/// # Errors
///
/// No region anywhere.
pub fn cloudwatch_target(plan: &CloudWatchPlan, host: &str) -> Result<super::cloudwatch::Target> {
    let imds = super::aws::Imds::from_env();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let region = match plan
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
    {
        Some(r) => r,
        None => imds
            .get("placement/region")
            .map(|r| r.trim().to_string())
            .map_err(|e| {
                Error::usage(format!(
                    "CloudWatch needs a region: --cw-region, AWS_REGION, or the instance's ({e})"
                ))
            })?,
    };
    let mut dimensions = Vec::new();
    for (name, value) in &plan.dimensions {
        match (name.as_str(), value) {
            (_, Some(v)) => dimensions.push((name.clone(), v.clone())),
            ("Host", None) => dimensions.push((name.clone(), host.to_string())),
            (_, None) => match imds.get("instance-id") {
                Ok(id) => dimensions.push((name.clone(), id.trim().to_string())),
                Err(e) => super::sinks::log(format!(
                    "CloudWatch: no InstanceId dimension (not on EC2? {e})"
                )),
            },
        }
    }
    Ok(super::cloudwatch::Target {
        namespace: plan.namespace.clone(),
        endpoint: plan
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://monitoring.{region}.amazonaws.com")),
        region,
        dimensions,
        metrics: plan.metrics.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: WatchHostArgs,
    }

    fn args(a: &[&str]) -> WatchHostArgs {
        let mut v = vec!["watch-host"];
        v.extend_from_slice(a);
        Cli::try_parse_from(v).unwrap().args
    }

    fn with_file(a: &[&str], text: &str) -> Result<Plan> {
        let map =
            conf::parse_str(text, Path::new("h.conf")).map_err(|e| Error::usage(e.to_string()))?;
        plan_from(&args(a), Some(&map))
    }

    const ORIGINAL: &str = r#"
targets = ["/home/makoto", "/tmp"]
ignore_extensions = [".swp", ".swpx", ".LOCK"]
ignore_dot_directory = true
disks: ["/"]
interval: "30s"
nats { subject: "host.metrics.web1", server: "nats://10.0.0.5:4222" }
prometheus { listen: "127.0.0.1:9101", textfile: "/var/lib/node_exporter/textfile/wh.prom" }
cloudwatch { region: "eu-west-1", dimensions: { InstanceId: "", Env: "prod" }, metrics: ["load_per_cpu"] }
alerts: [ { alert: "load_per_cpu>0.6", clear: "load_per_cpu<0.4" }, "disk_used_percent>90" ]
nats_subject: "host.alerts"
exec: "logger -t watch-host"
"#;

    #[test]
    fn the_originals_file() {
        let p = with_file(&["--interval", "5s", "/srv"], ORIGINAL).unwrap();
        assert_eq!(
            p.targets,
            [PathBuf::from("/srv"), "/home/makoto".into(), "/tmp".into()]
        );
        assert!(p.ignore.ignores_file(Path::new("a.LOCK")));
        assert!(p.ignore.ignores_file(Path::new(".git/x")));
        assert_eq!(p.interval, Duration::from_secs(5), "the flag wins");
        assert_eq!(p.nats_metrics.as_deref(), Some("host.metrics.web1"));
        assert_eq!(p.nats_server.as_deref(), Some("nats://10.0.0.5:4222"));
        assert_eq!(p.listen.as_deref(), Some("127.0.0.1:9101"));
        let cw = p.cloudwatch.unwrap();
        assert_eq!(cw.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            cw.dimensions,
            [
                ("InstanceId".to_string(), None),
                ("Env".to_string(), Some("prod".to_string()))
            ]
        );
        assert_eq!(p.rules.len(), 2);
        assert!(p.rules[0].clear.is_some() && p.rules[1].clear.is_none());
        assert_eq!(p.alert_sinks.nats_subject.as_deref(), Some("host.alerts"));
        assert_eq!(p.alert_sinks.exec.as_deref(), Some("logger -t watch-host"));
    }

    #[test]
    fn defaults_and_errors() {
        let p = plan_from(&args(&["--nats-metrics", "/tmp"]), None).unwrap();
        assert_eq!(p.interval, DEFAULT_INTERVAL);
        assert!(p.nats_metrics.unwrap().starts_with("host.metrics."));
        assert!(p.cloudwatch.is_none());
        let e = |a: &[&str], text: &str| with_file(a, text).unwrap_err().to_string();
        assert_eq!(
            e(&[], "targes: [\"/x\"]"),
            "h.conf:1:1: unknown field \"targes\""
        );
        assert_eq!(
            e(&[], "prometheus { lisen: x }"),
            "h.conf:1:14: unknown field \"lisen\""
        );
        assert!(e(&[], "interval: \"5\"").contains("missing unit"));
        assert!(e(&[], "alerts: [\"load>1\"]").contains("no metric"));
        assert!(e(&["--cw-region", "x"], "").contains("need --cloudwatch"));
        assert!(e(&["--nats-metrics=a.*"], "").contains("wildcards"));
        assert!(e(&["--clear", "load1<1"], "").contains("no --alert"));
    }

    #[test]
    fn subjects_from_host_names() {
        assert_eq!(
            default_subject("web1.example.com"),
            "host.metrics.web1_example_com"
        );
    }
}
