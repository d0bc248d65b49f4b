//! `nats-lite bench`: measure a server with publishers, subscribers,
//! requesters and responders, in the spirit of `nats bench` and
//! nats-bench. The modes are subcommands (`pub`, `sub`, `pubsub`,
//! `request`, `reply`); without one, `pubsub` runs.
//!
//! This module owns the terminal side: flags, the lines on stderr, the
//! progress bar, Ctrl-C, the report on stdout and the CSV file. The load
//! itself is [`crate::bench`]'s.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connect::{exit_status_help, parse_duration, ConnectArgs};
use crate::bench::report;
use crate::bench::runner::RESPONDER_QUEUE;
use crate::bench::stats::{commas, parse_size};
use crate::bench::{Ended, Load, Plan, Progress, Stopper};
use crate::client::rand::Rng;
use crate::error::{Error, Result};

/// The subject when none is given.
pub const DEFAULT_SUBJECT: &str = "bench";

/// The most clients of one kind: each is a connection and a thread.
pub const MAX_CLIENTS: usize = 10_000;

/// The progress bar appears only for runs longer than this.
const PROGRESS_DELAY: Duration = Duration::from_millis(500);
/// How often the progress bar is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

const AFTER_HELP: &str = concat!(
    "Examples:\n",
    "  nats-lite bench                                    # 1 publisher + 1 subscriber, 100,000 x 128 B\n",
    "  nats-lite bench pubsub --clients 4 --subs 4 --size 16 foo\n",
    "  nats-lite bench pub --msgs 1000000 --size 1KiB --csv pub.csv\n",
    "  nats-lite bench sub --clients 2 foo                # then publish 100,000 messages to foo\n",
    "  nats-lite bench request --responders 1 --msgs 20000 --size 16\n",
    "  nats-lite bench reply svc & nats-lite bench request svc\n",
    "  nats-lite bench pubsub --clients 50 --subs 1 --subject-per-publisher  # many into one\n",
    "  nats-lite bench pubsub --clients 1 --subs 50       # fan-out\n",
    "  nats-lite bench churn --clients 8 --msgs 20000     # connect, PING, close\n",
    "\n",
    "Publishers share --msgs between them and write through a buffer, flushing once at the \
     end, as nats-bench does; each subscriber expects all --msgs. The report goes to stdout, \
     in nats-bench's words (`Pub stats: 1,234,567 msgs/sec ~ 150.70 MB/sec`, with a line per \
     client and `min | avg | max | stddev` when there are several; MB means 1024 x 1024 \
     bytes there). Requesters send one request at a time and report the latency percentiles \
     p50, p90, p99 and p99.9 with min, max and mean, in microseconds.\n",
    "\n",
    "--csv writes nats-bench's columns, #RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,\
     BytesPerSec,DurationSecs, one row per client (S0... subscribers or responders, P0... \
     publishers or requesters).\n",
    "\n",
    "A run that does not complete (a --timeout, Ctrl-C, no responders, a lost connection) \
     reports what was measured, says what fell short, and exits 1.\n",
    exit_status_help!()
);

/// `nats-lite bench` arguments: a mode, or the pubsub mode's options.
#[derive(Debug, clap::Args)]
#[command(
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "MODE",
    subcommand_help_heading = "Modes"
)]
pub struct BenchArgs {
    /// What to run (default: pubsub).
    #[command(subcommand)]
    pub mode: Option<Mode>,
    /// The pubsub mode's options, when no mode is named.
    #[command(flatten)]
    pub opts: BenchOpts,
}

/// The benchmark modes.
#[derive(Debug, clap::Subcommand)]
pub enum Mode {
    /// Publishers only (--clients of them).
    #[command(after_help = AFTER_HELP)]
    Pub(BenchOpts),
    /// Subscribers only (--clients of them), each waiting for --msgs
    /// messages published by something else.
    #[command(after_help = AFTER_HELP)]
    Sub(BenchOpts),
    /// Publishers (--clients) and subscribers (--subs) together (the default).
    #[command(after_help = AFTER_HELP)]
    Pubsub(BenchOpts),
    /// Requesters (--clients), one request at a time each, with latency
    /// percentiles; responders run elsewhere (`bench reply`) or here
    /// (--responders).
    #[command(after_help = AFTER_HELP)]
    Request(BenchOpts),
    /// Responders (--clients, in one queue group) that echo requests back
    /// until --msgs are answered.
    #[command(after_help = AFTER_HELP)]
    Reply(BenchOpts),
    /// Connection churn: --clients workers at a time connect (INFO,
    /// CONNECT + PING, PONG) and close, --msgs connections in all, with the
    /// connect time's percentiles.
    #[command(after_help = AFTER_HELP)]
    Churn(BenchOpts),
}

/// Options of every mode.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOpts {
    /// Subject to publish to, subscribe to, or send requests to.
    #[arg(value_name = "SUBJECT", default_value = DEFAULT_SUBJECT)]
    pub subject: String,
    /// Clients of the mode's kind: publishers (pub, pubsub), subscribers
    /// (sub), requesters (request) or responders (reply).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub clients: usize,
    /// Subscribers, in pubsub mode (0: publishers only).
    #[arg(long, value_name = "N")]
    pub subs: Option<usize>,
    /// Responders to start in this process, in request mode (0: they run
    /// elsewhere, e.g. `nats-lite bench reply`).
    #[arg(long, value_name = "N")]
    pub responders: Option<usize>,
    /// Messages (or requests) in all, shared by the publishers (or
    /// requesters); each subscriber expects all of them.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub msgs: u64,
    /// Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units
    /// are multiples of 1024).
    #[arg(long, default_value = "128", value_name = "SIZE", value_parser = parse_size)]
    pub size: usize,
    /// Give up when nothing arrives for this long (subscribers, requesters,
    /// responders after their first request) and bound the final flush.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Publisher N (from 1) publishes to SUBJECT.N and subscribers listen
    /// on SUBJECT.* (many publishers into one wildcard subscriber; each
    /// publisher's rate is reported).
    #[arg(long = "subject-per-publisher")]
    pub subject_per_publisher: bool,
    /// Write one CSV row per client to FILE (nats-bench's columns).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// No progress bar (it is shown on a terminal only, for runs over half a second).
    #[arg(long = "no-progress")]
    pub no_progress: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// The mode names, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModeName {
    Pub,
    Sub,
    PubSub,
    Request,
    Reply,
    Churn,
}

impl ModeName {
    fn as_str(self) -> &'static str {
        match self {
            ModeName::Pub => "pub",
            ModeName::Sub => "sub",
            ModeName::PubSub => "pubsub",
            ModeName::Request => "request",
            ModeName::Reply => "reply",
            ModeName::Churn => "churn",
        }
    }
}

/// Turn a mode and its options into the load to run.
///
/// # Errors
///
/// A count of zero, or an option the mode does not take (a usage error).
fn load_of(mode: ModeName, o: &BenchOpts) -> Result<Load> {
    if o.msgs == 0 {
        return Err(Error::usage("--msgs must be at least 1"));
    }
    if o.clients == 0 {
        return Err(Error::usage("--clients must be at least 1"));
    }
    for (flag, n) in [
        ("--clients", Some(o.clients)),
        ("--subs", o.subs),
        ("--responders", o.responders),
    ] {
        if n.is_some_and(|n| n > MAX_CLIENTS) {
            return Err(Error::usage(format!(
                "{flag} must be at most {MAX_CLIENTS} (each is a connection and a thread)"
            )));
        }
    }
    if o.subs.is_some() && mode != ModeName::PubSub {
        return Err(Error::usage(format!(
            "--subs is for the pubsub mode; in {} mode use --clients",
            mode.as_str()
        )));
    }
    if o.responders.is_some() && mode != ModeName::Request {
        return Err(Error::usage("--responders is for the request mode"));
    }
    if o.subject_per_publisher && !matches!(mode, ModeName::Pub | ModeName::PubSub) {
        return Err(Error::usage(
            "--subject-per-publisher is for the pub and pubsub modes",
        ));
    }
    Ok(match mode {
        ModeName::Pub => Load::PubSub {
            pubs: o.clients,
            subs: 0,
        },
        ModeName::Sub => Load::PubSub {
            pubs: 0,
            subs: o.clients,
        },
        ModeName::PubSub => Load::PubSub {
            pubs: o.clients,
            subs: o.subs.unwrap_or(1),
        },
        ModeName::Request => Load::Request {
            clients: o.clients,
            responders: o.responders.unwrap_or(0),
        },
        ModeName::Reply => Load::Reply { clients: o.clients },
        ModeName::Churn => Load::Churn { clients: o.clients },
    })
}

/// Run `nats-lite bench`.
pub fn run(global: &ConnectArgs, args: BenchArgs) -> Result<ExitCode> {
    let (mode, opts) = match args.mode {
        None => (ModeName::PubSub, args.opts),
        Some(Mode::Pub(o)) => (ModeName::Pub, o),
        Some(Mode::Sub(o)) => (ModeName::Sub, o),
        Some(Mode::Pubsub(o)) => (ModeName::PubSub, o),
        Some(Mode::Request(o)) => (ModeName::Request, o),
        Some(Mode::Reply(o)) => (ModeName::Reply, o),
        Some(Mode::Churn(o)) => (ModeName::Churn, o),
    };
    let load = load_of(mode, &opts)?;
    let plan = Plan {
        load,
        subject: opts.subject.clone(),
        msgs: opts.msgs,
        size: opts.size,
        timeout: opts.timeout,
        options: global.options(&opts.connect)?,
        subject_per_publisher: opts.subject_per_publisher,
    };

    let stopper = Stopper::default();
    {
        let stopper = stopper.clone();
        // Only fails when a handler is already set (not in this process).
        let _ = ctrlc::set_handler(move || stopper.stop());
    }
    let progress = Arc::new(Progress::default());
    let show_progress = !opts.no_progress && std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    let started = crate::bench::run(&plan, &stopper, &progress, || {
        eprintln!("{}", starting_line(&plan));
        if show_progress {
            bar = Some(ProgressBar::start(progress.clone(), plan.expected_ops()));
        }
    });
    if let Some(bar) = bar {
        bar.finish();
    }
    let outcome = started?;

    print!("{}", report::text(load, &outcome));
    std::io::stdout()
        .flush()
        .map_err(|e| Error::io("writing to stdout", e))?;
    if let Some(path) = &opts.csv {
        let run_id = Rng::new().nuid();
        std::fs::write(path, report::csv(&run_id, &outcome))
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        eprintln!("Wrote the CSV results to {}", path.display());
    }
    let short = report::shortfall(load, &outcome).join("; ");
    let why = |what: &str| {
        if short.is_empty() {
            what.to_string()
        } else {
            format!("{what}: {short}")
        }
    };
    match outcome.ended {
        Ended::Complete => Ok(ExitCode::SUCCESS),
        Ended::TimedOut => Err(Error::failure(why(&format!(
            "timed out: nothing arrived for {:?}",
            plan.timeout
        )))),
        Ended::Interrupted => Err(Error::failure(why("interrupted"))),
        Ended::NoResponders => Err(Error::failure(format!(
            "no responders on {:?}: start `nats-lite bench reply {}` first, or pass --responders 1",
            plan.subject, plan.subject
        ))),
        Ended::Failed(e) => Err(Error::failure(why(e.message()))),
    }
}

/// What is about to run, for stderr (and, in sub and reply modes, the sign
/// that the other side may start).
fn starting_line(plan: &Plan) -> String {
    let msgs = commas(plan.msgs);
    let size = plan.size;
    let subject = &plan.subject;
    match plan.load {
        Load::PubSub { pubs, subs: 0 } => {
            format!("Starting pub benchmark on {subject:?} [msgs={msgs}, size={size}, pubs={pubs}]")
        }
        Load::PubSub { pubs: 0, subs } => format!(
            "Waiting for {msgs} messages on {subject:?} [size={size}, subs={subs}] (Ctrl-C to stop)"
        ),
        Load::PubSub { pubs, subs } => format!(
            "Starting pub/sub benchmark on {subject:?} [msgs={msgs}, size={size}, pubs={pubs}, subs={subs}]"
        ),
        Load::Request {
            clients,
            responders,
        } => format!(
            "Starting request benchmark on {subject:?} [msgs={msgs}, size={size}, clients={clients}, \
             responders here={responders}]"
        ),
        Load::Reply { clients } => format!(
            "Answering {msgs} requests on {subject:?} in queue group {RESPONDER_QUEUE:?} \
             [responders={clients}] (Ctrl-C to stop)"
        ),
        Load::Churn { clients } => {
            format!("Starting churn benchmark [connections={msgs}, at a time={clients}]")
        }
    }
}

/// The progress bar on stderr, drawn by its own thread.
struct ProgressBar {
    done: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl ProgressBar {
    fn start(progress: Arc<Progress>, total: u64) -> ProgressBar {
        let (done, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut drawn = false;
            // Wakes up every PROGRESS_EVERY; ends when the run does.
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(PROGRESS_EVERY) {
                let elapsed = start.elapsed();
                if elapsed < PROGRESS_DELAY {
                    continue;
                }
                let line = report::progress_line(progress.done(), total, elapsed);
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{line}");
                let _ = err.flush();
                drawn = true;
            }
            if drawn {
                // Clear the bar's line for what comes next.
                let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            }
        });
        ProgressBar { done, thread }
    }

    fn finish(self) {
        let _ = self.done.send(());
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(args: &[&str]) -> std::result::Result<(ModeName, BenchOpts), clap::Error> {
        let w = Wrap::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))?;
        Ok(match w.args.mode {
            None => (ModeName::PubSub, w.args.opts),
            Some(Mode::Pub(o)) => (ModeName::Pub, o),
            Some(Mode::Sub(o)) => (ModeName::Sub, o),
            Some(Mode::Pubsub(o)) => (ModeName::PubSub, o),
            Some(Mode::Request(o)) => (ModeName::Request, o),
            Some(Mode::Reply(o)) => (ModeName::Reply, o),
            Some(Mode::Churn(o)) => (ModeName::Churn, o),
        })
    }

    #[test]
    fn defaults_are_nats_bench_s() {
        let (mode, o) = parse(&[]).unwrap();
        assert_eq!(mode, ModeName::PubSub);
        assert_eq!(
            (o.subject.as_str(), o.clients, o.msgs, o.size),
            ("bench", 1, 100_000, 128)
        );
        assert_eq!(
            load_of(mode, &o).unwrap(),
            Load::PubSub { pubs: 1, subs: 1 }
        );
    }

    #[test]
    fn modes_and_their_loads() {
        let (m, o) = parse(&["pub", "foo", "--clients", "3", "--size", "1KiB"]).unwrap();
        assert_eq!(
            (m, o.subject.as_str(), o.size),
            (ModeName::Pub, "foo", 1024)
        );
        assert_eq!(load_of(m, &o).unwrap(), Load::PubSub { pubs: 3, subs: 0 });
        let (m, o) = parse(&["sub", "--clients", "2"]).unwrap();
        assert_eq!(load_of(m, &o).unwrap(), Load::PubSub { pubs: 0, subs: 2 });
        let (m, o) = parse(&["--subs", "4", "--clients", "2", "x"]).unwrap();
        assert_eq!(o.subject, "x");
        assert_eq!(load_of(m, &o).unwrap(), Load::PubSub { pubs: 2, subs: 4 });
        let (m, o) = parse(&["request", "--responders", "1"]).unwrap();
        assert_eq!(
            load_of(m, &o).unwrap(),
            Load::Request {
                clients: 1,
                responders: 1
            }
        );
        let (m, o) = parse(&["reply", "--clients", "2"]).unwrap();
        assert_eq!(load_of(m, &o).unwrap(), Load::Reply { clients: 2 });
        let (m, o) = parse(&["churn", "--clients", "8"]).unwrap();
        assert_eq!(load_of(m, &o).unwrap(), Load::Churn { clients: 8 });
        let (m, o) = parse(&["--clients", "100", "--subject-per-publisher"]).unwrap();
        assert!(o.subject_per_publisher);
        assert_eq!(load_of(m, &o).unwrap(), Load::PubSub { pubs: 100, subs: 1 });
        let (m, o) = parse(&["request", "--subject-per-publisher"]).unwrap();
        assert!(matches!(load_of(m, &o), Err(Error::Usage(_))));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(parse(&["--size", "12XB"]).is_err());
        assert!(parse(&["--size", "-1"]).is_err());
        assert!(parse(&["--msgs", "many"]).is_err());
        let (m, o) = parse(&["--msgs", "0"]).unwrap();
        assert!(matches!(load_of(m, &o), Err(Error::Usage(_))));
        let (m, o) = parse(&["pub", "--clients", "0"]).unwrap();
        assert!(matches!(load_of(m, &o), Err(Error::Usage(_))));
        let (m, o) = parse(&["pub", "--clients", "18446744073709551615"]).unwrap();
        assert!(matches!(load_of(m, &o), Err(Error::Usage(_))));
        let (m, o) = parse(&["--subs", "10001"]).unwrap();
        assert!(matches!(load_of(m, &o), Err(Error::Usage(_))));
        let (m, o) = parse(&["pub", "--subs", "2"]).unwrap();
        assert!(matches!(load_of(m, &o), Err(Error::Usage(_))));
        let (m, o) = parse(&["pubsub", "--responders", "2"]).unwrap();
        assert!(matches!(load_of(m, &o), Err(Error::Usage(_))));
    }
}
