//! `nats-lite pub`: publish one message, N templated messages, or one
//! message per stdin line (streaming), then wait for the server's PONG so
//! that nothing is lost when the process exits.

use std::io::{BufRead, Read};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::connect::{
    body_or_stdin, exit_status_help, headers_from, parse_duration, parse_header_flags, ConnectArgs,
};
use crate::client::rand::Rng;
use crate::client::template::{Context, Scope, Template};
use crate::client::Connection;
use crate::error::{Error, Result};
use crate::protocol::headers::Headers;

use super::trace_view::{TraceArgs, Tracer};

const AFTER_HELP: &str = concat!(
    "Examples:\n",
    "  nats-lite pub greet.joe 'hello'\n",
    "  echo 'hello' | nats-lite pub greet.joe\n",
    "  nats-lite pub -s nats://u:p@host:4222 orders '{\"id\":1}' -H Content-Type:application/json\n",
    "  nats-lite pub --count 10 --sleep 100ms tick 'tick {{Count}} at {{TimeStamp}}'\n",
    "  tail -f app.log | nats-lite pub --lines logs.app\n",
    "  nats-lite pub --trace orders '{\"id\":1}'   # where it went, server by server\n",
    "\n",
    "Templates in the body argument and in header values: {{Count}} (from 1), {{TimeStamp}} \
     (RFC 3339, UTC), {{Time}}, {{Unix}}, {{UnixNano}}, {{ID}}, {{Random}}, {{Random MIN MAX}}.\n",
    "A body read from stdin, and --lines, are sent as they are.\n",
    exit_status_help!()
);

/// `nats-lite pub` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct PubArgs {
    /// Subject to publish to.
    pub subject: String,
    /// Message body; read from stdin when not given (never when given).
    pub body: Option<String>,
    /// Publish this many messages ({{Count}} goes from 1 to N).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub count: u64,
    /// Wait this long between messages (e.g. 100ms, 1s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub sleep: Option<Duration>,
    /// Header to add, as Key:Value (repeatable).
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE")]
    pub headers: Vec<String>,
    /// Reply subject to send with the message.
    #[arg(long, value_name = "SUBJECT")]
    pub reply: Option<String>,
    /// One message per stdin line, sent as lines arrive (for `tail -f | ...`).
    #[arg(long, conflicts_with_all = ["body", "count"])]
    pub lines: bool,
    /// Do not log what was published.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub trace: TraceArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Run `nats-lite pub`.
pub fn run(global: &ConnectArgs, args: PubArgs) -> Result<ExitCode> {
    let mut opts = global.options(&args.connect)?;
    // A publisher fails fast: a lost connection may have lost messages.
    opts.reconnect = false;
    let flush_timeout = opts.connect_timeout;
    let header_templates = parse_header_flags(&args.headers)?
        .into_iter()
        .map(|(k, v)| Ok((k, template(v.as_bytes())?)))
        .collect::<Result<Vec<_>>>()?;
    if args.count == 0 {
        return Err(Error::usage("--count must be at least 1"));
    }
    // Read the body before connecting, so a slow stdin does not hold a
    // connection open.
    let body = if args.lines {
        None
    } else {
        Some(body_or_stdin(args.body.as_deref())?)
    };
    if args.trace.trace && (args.lines || args.count > 1) {
        return Err(Error::usage(
            "--trace traces one message: not with --lines or --count",
        ));
    }
    let mut rng = Rng::new();
    let trace_inbox = opts.inbox(&rng.nuid());
    let mut conn = Connection::connect(opts)?;
    let mut tracer = Tracer::start(&mut conn, trace_inbox, &args.trace)?;
    let headers_for = |count: u64, rng: &mut Rng| -> Option<Headers> {
        let ctx = Context {
            count,
            ..Default::default()
        };
        headers_from(
            header_templates
                .iter()
                .map(|(k, t)| {
                    (
                        k.clone(),
                        String::from_utf8_lossy(&t.render(&ctx, rng)).into_owned(),
                    )
                })
                .collect(),
        )
    };
    let subject = args.subject.as_str();
    let reply = args.reply.as_deref();

    if let Some((body, from_arg)) = body {
        let body_template = if from_arg {
            template(&body)?
        } else {
            Template::parse(b"", Scope::Publish).map_err(|e| Error::usage(e.to_string()))?
        };
        for count in 1..=args.count {
            let payload = if from_arg {
                body_template.render(
                    &Context {
                        count,
                        ..Default::default()
                    },
                    &mut rng,
                )
            } else {
                body.clone()
            };
            let mut headers = headers_for(count, &mut rng);
            if let Some(t) = &tracer {
                headers
                    .get_or_insert_with(Headers::default)
                    .entries
                    .extend(t.headers());
            }
            conn.publish(subject, reply, headers.as_ref(), &payload)?;
            if !args.quiet {
                eprintln!("Published {} bytes to {subject:?}", payload.len());
            }
            if let Some(pause) = args.sleep.filter(|_| count < args.count) {
                conn.send_buffered()?;
                std::thread::sleep(pause);
            }
        }
        let published = Instant::now();
        let flushed = conn.flush(flush_timeout);
        if let Some(t) = tracer.as_mut() {
            // The trace says why, also when the server refused the message.
            t.collect(&mut conn, published)?;
            t.print(&mut std::io::stdout().lock(), subject)?;
        }
        flushed?;
        return Ok(ExitCode::SUCCESS);
    }

    // --lines: stream stdin, one message per line, bounded by max_payload.
    let max = conn.max_payload();
    let stdin = std::io::stdin();
    let mut input = std::io::BufReader::with_capacity(64 * 1024, stdin.lock());
    let mut line = Vec::new();
    let (mut sent, mut bytes) = (0u64, 0usize);
    loop {
        line.clear();
        let n = (&mut input)
            .take(max as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("reading stdin", e))?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        } else if line.len() > max {
            return Err(Error::failure(format!(
                "line {} is longer than the server's max_payload of {max} bytes",
                sent + 1
            )));
        }
        sent += 1;
        bytes += line.len();
        let headers = headers_for(sent, &mut rng);
        conn.publish(subject, reply, headers.as_ref(), &line)?;
        // Send as soon as stdin has nothing more ready, so `tail -f` lines
        // go out at once while a fast pipe still gets big writes.
        if input.buffer().is_empty() {
            conn.send_buffered()?;
            // Take note of an -ERR the server may have sent meanwhile.
            conn.next(Some(Instant::now()))?;
        }
    }
    conn.flush(flush_timeout)?;
    if !args.quiet {
        eprintln!("Published {sent} messages ({bytes} bytes) to {subject:?}");
    }
    Ok(ExitCode::SUCCESS)
}

fn template(text: &[u8]) -> Result<Template> {
    Template::parse(text, Scope::Publish).map_err(|e| Error::usage(e.to_string()))
}
