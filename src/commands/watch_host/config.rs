//! Flags and config file to the resolved [`Plan`]: what to watch, what to
//! ignore, how often to report, and where the reports go. A flag wins over
//! the file's key of the same meaning; lists (targets, disks, ignore rules)
//! add up.

use std::path::PathBuf;
use std::time::Duration;

use super::files::Backend;
use super::ignore::Ignore;
use super::system::hostname;
use super::threshold::{self, Rule};
use super::WatchHostArgs;
use crate::commands::alerting::{self, AlertSinks, FileSinks};
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
    /// Serve /metrics here.
    pub listen: Option<String>,
    /// Write the node_exporter textfile here.
    pub textfile: Option<PathBuf>,
    /// Send reports to CloudWatch.
    pub cloudwatch: Option<CloudWatchPlan>,
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

/// Resolve the flags (and the file, if any).
///
/// # Errors
///
/// A usage error: a bad flag value or file.
pub fn plan(args: &WatchHostArgs) -> Result<Plan> {
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);
    if interval.is_zero() {
        return Err(Error::usage("--interval must be more than 0"));
    }
    let window = args.window.unwrap_or(DEFAULT_WINDOW);
    let disks = if args.disks.is_empty() {
        super::disk::default_paths()
    } else {
        args.disks.clone()
    };
    let host = hostname();
    let nats_metrics = match args.nats_metrics.as_deref() {
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
    Ok(Plan {
        targets: args.targets.clone(),
        ignore: Ignore::new(
            &args.ignore_extensions,
            &args.ignore_globs,
            args.ignore_dot_directories,
        ),
        disks,
        interval,
        once: args.once,
        window,
        json: args.json,
        quiet: args.quiet,
        nats_metrics,
        listen: args.listen.clone(),
        textfile: args.textfile.clone(),
        cloudwatch: cloudwatch_plan(args)?,
        rules: threshold::rules(&args.alert_rules, &args.clear_rules).map_err(Error::usage)?,
        alert_sinks: alerting::resolve(&args.alerts, FileSinks::default())?,
        backend: args.watch_backend,
        host,
        warnings: Vec::new(),
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

fn cloudwatch_plan(args: &WatchHostArgs) -> Result<Option<CloudWatchPlan>> {
    let given = args.cw_namespace.is_some()
        || !args.cw_dimensions.is_empty()
        || args.cw_region.is_some()
        || args.cw_endpoint.is_some()
        || !args.cw_metrics.is_empty();
    if !args.cloudwatch {
        if given {
            return Err(Error::usage("the --cw-* flags need --cloudwatch"));
        }
        return Ok(None);
    }
    let mut dimensions = Vec::new();
    for d in &args.cw_dimensions {
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
    for m in &args.cw_metrics {
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
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
        region: args.cw_region.clone(),
        endpoint: args.cw_endpoint.clone(),
        dimensions,
        metrics: args.cw_metrics.clone(),
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
