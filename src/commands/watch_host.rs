//! `nats-lite watch-host`: the host metrics agent (issue 20). Every
//! interval it collects the load, memory, disk usage and the file changes
//! counted under some directories, and hands one report to its sinks.
//!
//! # Layout
//!
//! - [`config`]: flags and `--config` file to the [`config::Plan`].
//! - [`system`]: load average, processors, memory and swap.
//! - [`disk`]: statvfs figures per path, the default mounts.
//! - [`files`]: file-change counts from kernel notifications.
//! - [`ignore`]: which changes and directories are left out.
//! - [`report`]: one interval's figures as JSON, lines and samples.
//! - [`sinks`]: the report sinks (NATS, textfile, CloudWatch), queued and
//!   retried by the shared [`super::delivery`].
//! - [`prometheus`]: the text format, the `/metrics` listener, the textfile.
//! - [`threshold`]: `--alert`/`--clear` rules with hysteresis, whose
//!   crossings go to the alert sinks shared with watch-http
//!   ([`super::alerting`]).
//! - [`cloudwatch`]: PutMetricData; [`sigv4`] signs it, [`aws`] finds the
//!   credentials (environment, shared file, instance role over IMDSv2).
//!
//! This file holds the flags and the loop. The main thread sleeps on a
//! channel until the next interval ends (or Ctrl-C), so an idle agent
//! costs nothing: the file watcher's thread blocks in the kernel too.

mod aws;
mod cloudwatch;
mod config;
mod disk;
mod files;
mod ignore;
mod prometheus;
mod report;
mod sigv4;
mod sinks;
mod system;
mod threshold;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use self::config::Plan;
use self::files::{Backend, Tally};
use self::report::Report;
use super::alerting::{self, Alert, AlertArgs, NatsPublisher};
use super::connect::{parse_duration, ConnectArgs};
use super::delivery::{Dispatcher, Retry, Sink};
use crate::client::Options;
use crate::error::{Error, Result};

const AFTER_HELP: &str = concat!(
    "Every --interval (60s) one report: load average 1/5/15 and per processor, memory and \
     swap, disk usage of each --disk path (default: / and every mounted block device), and \
     for each DIR the files created, modified (closed after a write), deleted and moved, \
     counted from the kernel's notifications (inotify on Linux), recursively, new \
     directories included.\n",
    "\n",
    "Sinks, any combination: stdout (lines, or --json), --nats-metrics, --listen (Prometheus \
     /metrics), --textfile (node_exporter), --cloudwatch. A failing sink is retried with \
     backoff and logged on stderr; collection goes on.\n",
    "\n",
    "Alerts: --alert METRIC>N raises one alert when a figure crosses N, --clear METRIC<N one \
     recovery when it comes back (hysteresis), to the same sinks as watch-http (--nats-subject, \
     --rocketchat, --webhook, --exec). Metrics: load1 load5 load15 load_per_cpu cpus \
     memory_used_percent swap_used_percent disk_used_percent disk_inodes_used_percent \
     files_created files_modified files_deleted files_moved file_changes \
     file_changes_per_second (all: the --listen /metrics names without watch_host_); {path=/} or \
     {target=DIR} picks one.\n",
    "\n",
    "Examples:\n",
    "  nats-lite watch-host /home/makoto /tmp --ignore-extension .swp --ignore-extension .swpx \\\n",
    "      --ignore-extension .LOCK --ignore-dot-directories --cloudwatch\n",
    "  nats-lite watch-host --once --window 10s --json /srv/data\n",
    "  nats-lite -s nats://10.0.0.5:4222 watch-host --interval 10s --nats-metrics \\\n",
    "      --alert 'load_per_cpu>0.6' --clear 'load_per_cpu<0.4' --nats-subject stats.overload\n",
    "  nats-lite watch-host --listen 127.0.0.1:9101 --alert 'disk_used_percent>90' \\\n",
    "      --webhook https://hooks.slack.com/services/T/B/X\n",
    "  nats-lite watch-host --config watch-host.conf\n",
    "\n",
    "Config file (nats-server format), the original agent's keys and a block per sink:\n",
    "  targets = [\"/home/makoto\", \"/tmp\"]\n",
    "  ignore_extensions = [\".swp\", \".swpx\", \".LOCK\"]\n",
    "  ignore_dot_directory = true\n",
    "  interval: \"60s\"\n",
    "  nats { subject: \"host.metrics.web1\", server: \"nats://10.0.0.5:4222\" }\n",
    "  prometheus { listen: \"127.0.0.1:9101\", textfile: \"/var/lib/node_exporter/textfile/wh.prom\" }\n",
    "  cloudwatch { namespace: \"NatsLite/Host\", dimensions: [\"InstanceId\", \"Host\"] }\n",
    "  alerts: [ { alert: \"load_per_cpu>0.6\", clear: \"load_per_cpu<0.4\" } ]\n",
    "  nats_subject: \"host.alerts\"\n",
    "\n",
    "Exit status:\n",
    "  0  stopped with Ctrl-C, or --once done\n",
    "  1  a run-time failure (the file watcher could not start)\n",
    "  2  usage error: bad flags, bad config file"
);

/// `nats-lite watch-host` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct WatchHostArgs {
    /// Directories whose file changes are counted (recursively).
    #[arg(value_name = "DIR")]
    pub targets: Vec<PathBuf>,
    /// Settings from a file (nats-server config format).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Collect one report (file changes over --window) and exit.
    #[arg(long)]
    pub once: bool,
    /// With --once: how long file changes are counted [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<Duration>,
    /// Time between reports [default: 60s].
    #[arg(short = 'i', long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Print each report as one JSON line.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on stdout (the other sinks still get every report).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Report the disk usage of this path's filesystem (repeatable)
    /// [default: / and every mounted block device].
    #[arg(long = "disk", value_name = "PATH")]
    pub disks: Vec<PathBuf>,
    /// Do not count files with this extension, e.g. .swp (repeatable).
    #[arg(long = "ignore-extension", value_name = "EXT")]
    pub ignore_extensions: Vec<String>,
    /// Do not count (or watch) what matches GLOB: *.tmp, build/**, logs (repeatable).
    #[arg(long = "ignore", value_name = "GLOB")]
    pub ignore_globs: Vec<String>,
    /// Do not count (or watch) anything under a directory whose name starts with a dot.
    #[arg(long = "ignore-dot-directories")]
    pub ignore_dot_directories: bool,
    /// Publish each report (JSON) on NATS: --nats-metrics on
    /// host.metrics.<hostname>, --nats-metrics=SUBJECT on SUBJECT; the
    /// server from -s, with the usual user, token and TLS flags.
    #[arg(
        long = "nats-metrics",
        value_name = "SUBJECT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub nats_metrics: Option<String>,
    /// Serve the latest report to Prometheus at http://ADDR/metrics (e.g. 127.0.0.1:9101).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Write each report to FILE (a node_exporter textfile, e.g.
    /// /var/lib/node_exporter/textfile/watch_host.prom), atomically.
    #[arg(long, value_name = "FILE")]
    pub textfile: Option<PathBuf>,

    /// Send each report to CloudWatch (PutMetricData). Credentials from the
    /// environment, the shared credentials file or the instance role (IMDSv2).
    #[arg(long)]
    pub cloudwatch: bool,
    /// CloudWatch namespace of the metrics [default: NatsLite/Host].
    #[arg(long = "cw-namespace", value_name = "NAMESPACE")]
    pub cw_namespace: Option<String>,
    /// A dimension of every metric (repeatable): NAME=VALUE, or InstanceId
    /// or Host alone for this instance's [default: InstanceId (on EC2) and Host].
    #[arg(long = "cw-dimension", value_name = "NAME[=VALUE]")]
    pub cw_dimensions: Vec<String>,
    /// AWS region [default: AWS_REGION, AWS_DEFAULT_REGION, or the instance's].
    #[arg(long = "cw-region", value_name = "REGION")]
    pub cw_region: Option<String>,
    /// CloudWatch endpoint URL [default: https://monitoring.REGION.amazonaws.com].
    #[arg(long = "cw-endpoint", value_name = "URL")]
    pub cw_endpoint: Option<String>,
    /// Send only this metric to CloudWatch (repeatable) [default: all].
    #[arg(long = "cw-metric", value_name = "NAME")]
    pub cw_metrics: Vec<String>,

    /// Alert when a figure crosses this threshold: load_per_cpu>0.6,
    /// disk_used_percent{path=/}>=90, file_changes_per_second>100 (repeatable).
    #[arg(long = "alert", value_name = "METRIC>N")]
    pub alert_rules: Vec<String>,
    /// Clear the alert on the same metric only past this (lower) threshold:
    /// load_per_cpu<0.4 [default: when the alert's condition no longer holds].
    #[arg(long = "clear", value_name = "METRIC<N")]
    pub clear_rules: Vec<String>,
    #[command(flatten)]
    pub alerts: AlertArgs,

    /// Where the proc filesystem is (Linux: loadavg, meminfo), e.g. the
    /// host's /proc mounted into a container [default: /proc].
    #[arg(long, value_name = "DIR")]
    pub procfs: Option<PathBuf>,

    /// Which notification mechanism counts file changes.
    #[arg(
        long = "watch-backend",
        value_enum,
        default_value = "native",
        hide = true
    )]
    pub watch_backend: Backend,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// How long queued reports and alerts may take to go out when stopping.
const FINISH_GRACE: Duration = Duration::from_secs(5);
/// The same with `--once`, where delivery is the point of the run: long
/// enough for every retry of a sink.
const FINISH_GRACE_ONCE: Duration = Duration::from_secs(60);

/// The NATS connection options of the sinks: the flags, else the file's
/// `nats { server }`. The sinks reconnect themselves on their next attempt.
fn nats_options(global: &ConnectArgs, args: &WatchHostArgs, plan: &Plan) -> Result<Options> {
    let mut connect = args.connect.clone();
    if connect.server.is_none() && global.server.is_none() {
        connect.server.clone_from(&plan.nats_server);
    }
    let mut opts = global.options(&connect)?;
    opts.reconnect = false;
    Ok(opts)
}

/// The report sinks the plan asks for.
fn report_sinks(
    global: &ConnectArgs,
    args: &WatchHostArgs,
    plan: &Plan,
) -> Result<Vec<Box<dyn Sink<Report>>>> {
    let mut out: Vec<Box<dyn Sink<Report>>> = Vec::new();
    if let Some(subject) = &plan.nats_metrics {
        let opts = nats_options(global, args, plan)?;
        out.push(Box::new(sinks::NatsReports(NatsPublisher::new(
            opts,
            subject.clone(),
        ))));
    }
    if let Some(path) = &plan.textfile {
        out.push(Box::new(prometheus::Textfile { path: path.clone() }));
    }
    if let Some(cw) = &plan.cloudwatch {
        let target = config::cloudwatch_target(cw, &plan.host)?;
        sinks::log(format!(
            "CloudWatch: namespace {}, region {}, endpoint {}, dimensions {}",
            target.namespace,
            target.region,
            target.endpoint,
            target
                .dimensions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        out.push(Box::new(
            cloudwatch::CloudWatch::new(target).map_err(Error::usage)?,
        ));
    }
    Ok(out)
}

/// What wakes the main thread before the interval ends.
enum Msg {
    Stop,
}

/// Run `nats-lite watch-host`.
pub fn run(global: &ConnectArgs, args: WatchHostArgs) -> Result<ExitCode> {
    let plan = config::plan(&args)?;
    for w in &plan.warnings {
        eprintln!("nats-lite: warning: {w}");
    }
    say_what_is_missing(&plan);
    let tally = files::start(&plan.targets, plan.ignore.clone(), plan.backend)?;
    let reports = Dispatcher::start(
        report_sinks(global, &args, &plan)?,
        Retry::default(),
        sinks::log,
    )
    .map_err(|e| Error::io("starting the sink threads", e))?;
    let nats_alerts = match &plan.alert_sinks.nats_subject {
        Some(_) => Some(nats_options(global, &args, &plan)?),
        None => None,
    };
    let alerter: Dispatcher<Alert> = Dispatcher::start(
        alerting::build(&plan.alert_sinks, nats_alerts),
        Retry::default(),
        sinks::log,
    )
    .map_err(|e| Error::io("starting the alert threads", e))?;
    let mut thresholds = threshold::Thresholds::new(plan.rules.clone());
    let latest: Option<prometheus::Latest> = match &plan.listen {
        Some(addr) => {
            let latest = prometheus::Latest::default();
            let bound = prometheus::serve(addr, latest.clone())
                .map_err(|e| Error::usage(format!("--listen {addr}: {e}")))?;
            // Until the first interval ends, the machine's figures now
            // (and no file changes yet), so a scrape is never empty.
            let first = collect(&plan, &tally, Duration::ZERO, false);
            *latest.lock().unwrap_or_else(|e| e.into_inner()) = prometheus::render(&first);
            sinks::log(format!(
                "serving Prometheus metrics at http://{bound}/metrics"
            ));
            Some(latest)
        }
        None => None,
    };

    let (tx, rx) = mpsc::channel::<Msg>();
    // Only the first handler of a process counts; we are the only one.
    let _ = ctrlc::set_handler(move || {
        let _ = tx.send(Msg::Stop);
    });
    let period = if plan.once {
        plan.window
    } else {
        plan.interval
    };
    let mut last = Instant::now();
    let mut next = last + period;
    loop {
        match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        let report = collect(&plan, &tally, now - last, true);
        last = now;
        // The next report an interval after this one was due; if the
        // machine was suspended, from now.
        next = (next + period).max(now);
        if !plan.quiet {
            print_report(&report, plan.json)?;
        }
        if let Some(latest) = &latest {
            *latest.lock().unwrap_or_else(|e| e.into_inner()) = prometheus::render(&report);
        }
        for crossing in thresholds.observe(&report) {
            let alert = crossing.alert(&plan.host, report.time);
            sinks::log(format!("alert: {}", alert.text));
            alerter.send(alert);
        }
        if !reports.is_empty() {
            reports.send(report);
        }
        if plan.once {
            break;
        }
    }
    // Queued alerts and reports go out (within a grace) before exiting.
    let grace = if plan.once {
        FINISH_GRACE_ONCE
    } else {
        FINISH_GRACE
    };
    alerter.finish(grace);
    reports.finish(grace);
    Ok(ExitCode::SUCCESS)
}

/// What the platform cannot give, said once.
fn say_what_is_missing(plan: &Plan) {
    let mut missing = Vec::new();
    if system::load(&plan.procfs).is_none() {
        missing.push("the load average");
    }
    if system::memory(&plan.procfs).is_none() {
        missing.push("memory and swap");
    }
    if !disk::AVAILABLE && !plan.disks.is_empty() {
        missing.push("disk usage");
    }
    if !missing.is_empty() {
        eprintln!(
            "nats-lite: watch-host: not available on this platform, left out of every report: {}",
            missing.join(", ")
        );
    }
}

/// One report: the machine's figures now, the file counts since the last
/// (taken, so the next report starts from 0, when `take`).
fn collect(plan: &Plan, tally: &Tally, span: Duration, take: bool) -> Report {
    let disks = plan
        .disks
        .iter()
        .filter_map(|p| match disk::usage(p) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("nats-lite: watch-host: disk {}: {e}", p.display());
                None
            }
        })
        .collect();
    Report {
        time: SystemTime::now(),
        host: plan.host.clone(),
        interval: span,
        cpus: system::cpus(),
        load: system::load(&plan.procfs),
        memory: system::memory(&plan.procfs),
        disks,
        files: if take { tally.take() } else { tally.peek() },
    }
}

/// The report on stdout, as lines or one JSON line.
fn print_report(report: &Report, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let write = |out: &mut std::io::StdoutLock, l: &str| {
        writeln!(out, "{l}").map_err(|e| Error::io("writing to stdout", e))
    };
    if json {
        write(&mut out, &report.json().to_string())?;
    } else {
        for l in report.lines() {
            write(&mut out, &l)?;
        }
    }
    out.flush().map_err(|e| Error::io("writing to stdout", e))
}
