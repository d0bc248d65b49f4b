//! `nats-lite watch-http`: poll HTTP endpoints, print one line per check,
//! and alert when a target goes down, stays down, or recovers (issue 7).
//!
//! # Layout
//!
//! - [`config`]: flags and `--config` file to the targets and sinks.
//! - [`probe`]: one HTTP request with ureq, timed, body capped.
//! - [`check`]: response to verdict (pure).
//! - [`state`]: verdicts to alert-worthy changes per target (pure).
//! - [`alert`]: events, as alerts for the shared sinks
//!   ([`super::alerting`]: NATS, RocketChat, webhook, exec).
//!
//! This file holds the flags and the loop: a thread per target runs its
//! checks on its own schedule, so a slow target does not delay the others;
//! the main thread receives every result, prints it, keeps the state
//! machines and hands events to the sinks' threads. Only the main thread
//! writes to stdout.

mod alert;
mod check;
mod config;
mod probe;
mod state;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use self::alert::Event;
use self::check::{rfc3339_millis, short_duration};
use self::config::Target;
use self::probe::CheckResult;
use self::state::Tracker;
use super::alerting::{self, Alert, AlertArgs};
use super::connect::{parse_duration, ConnectArgs};
use super::delivery::{Dispatcher, Retry};
use crate::error::{Error, Result};

/// How long queued alerts may take to go out when stopping.
const FINISH_GRACE: Duration = Duration::from_secs(5);
/// The same with `--once`, where the alerts are the point of the run: long
/// enough for every retry of a sink.
const FINISH_GRACE_ONCE: Duration = Duration::from_secs(60);

const AFTER_HELP: &str = concat!(
    "Each check prints one line: time, URL, HTTP status (- without an answer), duration, and OK \
     or FAIL with the reason (connect error, timeout after 10s, status 500, JSON status -1, \
     slow 6.2s > 5s, body not JSON, text \"x\" not found).\n",
    "\n",
    "Alerts go out on changes only: FAIL after --fail-after faults in a row, OK when it \
     recovers, and STILL FAILING every --remind while down. A sink that fails is retried \
     with backoff and logged on stderr; checks go on.\n",
    "\n",
    "With --once a run has no memory: every failing target is alerted (--fail-after does not \
     apply). HTTP_PROXY, \
     HTTPS_PROXY and NO_PROXY are honoured for the targets and the sinks.\n",
    "\n",
    "Examples:\n",
    "  nats-lite watch-http https://api.example.com/health\n",
    "  nats-lite watch-http --once --max-time 2s http://a/health http://b/health || page-someone\n",
    "  nats-lite watch-http --interval 30s --json-field /status --json-ok 0 --max-time 5s \\\n",
    "      --rocketchat https://chat.example.com --rc-user monitor --rc-channel '#ops' \\\n",
    "      http://10.0.0.1/api/status http://10.0.0.2/api/status\n",
    "      (the password from ROCKETCHAT_PASSWORD)\n",
    "  nats-lite watch-http -X POST --body '{\"q\":1}' -H Content-Type:application/json \\\n",
    "      --expect-status 200-299 --webhook https://hooks.slack.com/services/T/B/X https://api/search\n",
    "  nats-lite -s nats://127.0.0.1:4222 watch-http --nats-subject watch.http https://api/health\n",
    "  nats-lite watch-http --exec 'mail -s \"$WATCH_TEXT\" ops@example.com' https://api/health\n",
    "  nats-lite watch-http --config watch.conf\n",
    "\n",
    "Config file (nats-server format). Keys are the flags' names with _ (max_time, json_ok, \
     fail_after, ...) plus url, name and headers { Name: value }; a target's own keys override \
     the flags, which override the defaults block:\n",
    "  defaults { interval: \"10s\", timeout: \"5s\", max_time: \"2s\", fail_after: 2 }\n",
    "  targets: [\n",
    "    { url: \"http://10.0.0.1/api/status\", json_field: \"/status\", json_ok: 0 }\n",
    "    { url: \"http://10.0.0.2/\", name: \"shop\", contains: \"Welcome\", remind: \"1h\" }\n",
    "  ]\n",
    "  rocketchat { url: \"https://chat.example.com\", user: \"monitor\",\n",
    "               password: $ROCKETCHAT_PASSWORD, channel: \"#ops\" }\n",
    "  webhook: \"https://hooks.example.com/...\"\n",
    "  nats_subject: \"watch.http\"\n",
    "  exec: \"logger -t watch-http\"\n",
    "\n",
    "--exec runs CMD with sh -c, the event JSON on stdin and WATCH_EVENT (down, still_down, \
     recovered), WATCH_URL, WATCH_VERDICT, WATCH_REASON and WATCH_TEXT in the environment.\n",
    "\n",
    "Exit status:\n",
    "  0  --once: every target OK; otherwise stopped with Ctrl-C\n",
    "  1  --once: a target failed\n",
    "  2  usage error: bad flags, bad config file"
);

/// `nats-lite watch-http` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct WatchHttpArgs {
    /// URLs to check (http:// or https://).
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
    /// Targets and settings from a file (nats-server config format).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check once, print the verdicts, exit 0 if all are OK, else 1.
    #[arg(long)]
    pub once: bool,
    /// Print each check as a JSON line.
    #[arg(long)]
    pub json: bool,

    /// HTTP method [default: GET, or POST with --body].
    #[arg(short = 'X', long, value_name = "METHOD")]
    pub method: Option<String>,
    /// Request body.
    #[arg(long, value_name = "TEXT")]
    pub body: Option<String>,
    /// Request header, as Key:Value (repeatable).
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE")]
    pub headers: Vec<String>,
    /// Time between checks [default: 10s].
    #[arg(short = 'i', long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Time allowed for a request, body included [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// A slower answer is a fault ("slow 6.2s > 5s").
    #[arg(long = "max-time", value_name = "DURATION", value_parser = parse_duration)]
    pub max_time: Option<Duration>,
    /// Acceptable HTTP statuses: 200, 200,204, 200-299 [default: 200].
    #[arg(long = "expect-status", value_name = "LIST")]
    pub expect_status: Option<String>,
    /// JSON pointer (RFC 6901) to a field of the body, e.g. /status.
    #[arg(long = "json-field", value_name = "POINTER")]
    pub json_field: Option<String>,
    /// Acceptable value of --json-field, as JSON or text (repeatable: any of
    /// them). Without it the field only has to exist.
    #[arg(long = "json-ok", value_name = "VALUE", allow_hyphen_values = true)]
    pub json_ok: Vec<String>,
    /// Text the body must contain.
    #[arg(long, value_name = "TEXT")]
    pub contains: Option<String>,
    /// Do not verify HTTPS certificates of the targets (insecure).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Trust the CA certificates (PEM) in FILE for HTTPS targets.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Alert after this many faults in a row [default: 1].
    #[arg(long = "fail-after", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub fail_after: Option<u32>,
    /// Alert again this often while a target stays down.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub remind: Option<Duration>,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// What the checking threads tell the main thread.
enum Msg {
    /// Target `i` was checked.
    Checked(usize, CheckResult),
    /// Ctrl-C.
    Stop,
}

/// A flag the checking threads sleep on, so that stopping wakes them.
#[derive(Default)]
struct StopFlag {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopFlag {
    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    /// Sleep until `deadline`; true when stopped meanwhile.
    fn sleep_until(&self, deadline: Instant) -> bool {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *stopped {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Run `nats-lite watch-http`.
pub fn run(global: &ConnectArgs, args: WatchHttpArgs) -> Result<ExitCode> {
    let plan = config::plan(&args)?;
    for w in &plan.warnings {
        eprintln!("nats-lite: warning: {w}");
    }
    let nats = match &plan.sinks.nats_subject {
        Some(_) => {
            let mut opts = global.options(&args.connect)?;
            // The sink reconnects itself on its next attempt.
            opts.reconnect = false;
            Some(opts)
        }
        None => None,
    };
    let has_sinks = !plan.sinks.is_empty();
    let alerter = Dispatcher::start(
        alerting::build(&plan.sinks, nats),
        Retry::default(),
        alert::log,
    )
    .map_err(|e| Error::io("starting the alert threads", e))?;

    let (tx, rx) = mpsc::channel::<Msg>();
    let stop = Arc::new(StopFlag::default());
    {
        let tx = tx.clone();
        // Only the first handler of a process counts; we are the only one.
        let _ = ctrlc::set_handler(move || {
            let _ = tx.send(Msg::Stop);
        });
    }
    let targets: Vec<Arc<Target>> = plan.targets.into_iter().map(Arc::new).collect();
    let agents = targets
        .iter()
        .map(|t| probe::agent(t).map_err(Error::usage))
        .collect::<Result<Vec<_>>>()?;
    for (i, (target, agent)) in targets.iter().zip(agents).enumerate() {
        spawn_checker(
            i,
            target.clone(),
            agent,
            tx.clone(),
            stop.clone(),
            args.once,
        )?;
    }
    drop(tx);

    let mut alerts = Alerts {
        trackers: targets
            .iter()
            // A --once run has one check per target: it cannot count
            // faults in a row, so every fault is alerted.
            .map(|t| match args.once {
                true => Tracker::new(1, None),
                false => Tracker::new(t.fail_after, t.remind),
            })
            .collect(),
        alerter,
        // A --once run without sinks says it all on stdout.
        log: !args.once || has_sinks,
    };
    let mut results: Vec<Option<CheckResult>> = vec![None; targets.len()];
    let mut pending = targets.len();
    let interrupted = loop {
        let (i, result) = match rx.recv() {
            Ok(Msg::Checked(i, r)) => (i, r),
            Ok(Msg::Stop) | Err(_) => break true,
        };
        if !args.once {
            print_lines(std::iter::once(line(&targets[i], &result, args.json)))?;
        }
        alerts.take(&targets[i], i, &result);
        if args.once {
            results[i] = Some(result);
            pending -= 1;
            if pending == 0 {
                break false;
            }
        }
    };
    stop.stop();
    if !args.once || interrupted {
        alerts.alerter.finish(FINISH_GRACE);
        return Ok(ExitCode::SUCCESS);
    }
    print_lines(
        targets
            .iter()
            .zip(&results)
            .filter_map(|(t, r)| r.as_ref().map(|r| line(t, r, args.json))),
    )?;
    alerts.alerter.finish(FINISH_GRACE_ONCE);
    let all_ok = results
        .iter()
        .all(|r| r.as_ref().is_some_and(|r| r.verdict.is_ok()));
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::error::EXIT_FAILURE)
    })
}

/// The main thread's alert side: a state machine per target and the sinks.
struct Alerts {
    trackers: Vec<Tracker>,
    alerter: Dispatcher<Alert>,
    /// Log each alert on stderr too.
    log: bool,
}

impl Alerts {
    /// Feed the result of a check of target `i`; alert on a change.
    fn take(&mut self, target: &Target, i: usize, result: &CheckResult) {
        let Some(change) = self.trackers[i].observe(result.verdict.is_ok(), Instant::now()) else {
            return;
        };
        let event = Event::new(target, result, &change);
        if self.log {
            alert::log(format!("alert: {}", event.text()));
        }
        self.alerter.send(event.alert());
    }
}

/// Write lines to stdout and flush.
fn print_lines(lines: impl Iterator<Item = String>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for l in lines {
        // Lines may quote what a watched server answered.
        writeln!(out, "{}", crate::printable::printable(&l))
            .map_err(|e| Error::io("writing to stdout", e))?;
    }
    out.flush().map_err(|e| Error::io("writing to stdout", e))
}

/// Start the thread that checks target `i` every interval (once with
/// `once`) and reports to `tx`.
fn spawn_checker(
    i: usize,
    target: Arc<Target>,
    agent: ureq::Agent,
    tx: Sender<Msg>,
    stop: Arc<StopFlag>,
    once: bool,
) -> Result<()> {
    std::thread::Builder::new()
        .name(format!("watch-{i}"))
        .spawn(move || loop {
            let start = Instant::now();
            let result = probe::probe(&agent, &target);
            if tx.send(Msg::Checked(i, result)).is_err() || once {
                return;
            }
            // The next check starts an interval after this one started,
            // or at once if this one took longer than that.
            if stop.sleep_until(start + target.interval) {
                return;
            }
        })
        .map(drop)
        .map_err(|e| Error::io("starting a checking thread", e))
}

/// One output line: text or JSON.
fn line(target: &Target, r: &CheckResult, as_json: bool) -> String {
    let reason = r.verdict.fault().map(ToString::to_string);
    if as_json {
        let mut v = json!({
            "time": rfc3339_millis(r.time),
            "url": target.url,
            "status": r.status,
            "duration_ms": (r.elapsed.as_secs_f64() * 1e6).round() / 1e3,
            "verdict": r.verdict.word(),
            "reason": reason,
        });
        if let Some(n) = &target.name {
            v["name"] = json!(n);
        }
        return v.to_string();
    }
    let status = r.status.map_or_else(|| "-".to_string(), |s| s.to_string());
    let mut text = format!(
        "{} {} {status} {} {}",
        rfc3339_millis(r.time),
        target.url,
        short_duration(r.elapsed),
        r.verdict.word()
    );
    if let Some(reason) = reason {
        text.push(' ');
        text.push_str(&reason);
    }
    text
}
