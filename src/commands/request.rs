//! `nats-lite req`: send a request and print the reply (or several), with
//! a clear exit status: 1 on timeout and when no one is listening (the
//! server's `503` no-responders answer), unlike `nats req` (natscli#958).

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::connect::{
    body_or_stdin, exit_status_help, headers_from, parse_duration, parse_header_flags,
    show_duration, ConnectArgs,
};
use super::subscribe::{write_body_line, write_headers};
use crate::client::rand::Rng;
use crate::client::template::{Context, Scope, Template};
use crate::client::{Connection, Incoming};
use crate::error::{Error, Result};

use super::trace_view::{TraceArgs, Tracer};

const AFTER_HELP: &str = concat!(
    "Examples:\n",
    "  nats-lite req time.now ''\n",
    "  nats-lite req --timeout 500ms svc.echo 'hello {{Count}}'\n",
    "  nats-lite req --raw -H Accept:json svc.users 42 | jq .\n",
    "  nats-lite req --replies 0 --timeout 1s discover.all ''   # every answer within 1s\n",
    "  nats-lite req --trace svc.echo hi   # the reply, then the request's path through the servers\n",
    "\n",
    "The reply goes to stdout; `Sending request on ...` and the round-trip time go to stderr \
     (not with --raw). Exit 1 with `request timed out` when no reply arrives in time, and with \
     `no responders available for request` when nobody subscribes to the subject.\n",
    exit_status_help!()
);

/// `nats-lite req` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct ReqArgs {
    /// Subject to send the request to.
    pub subject: String,
    /// Request body; read from stdin when not given (never when given).
    pub body: Option<String>,
    /// How long to wait for replies.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Header to add, as Key:Value (repeatable).
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE")]
    pub headers: Vec<String>,
    /// Wait for this many replies (0: all that arrive before --timeout).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub replies: u64,
    /// Print reply bodies only, nothing on stderr.
    #[arg(short = 'r', long)]
    pub raw: bool,
    #[command(flatten)]
    pub trace: TraceArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Run `nats-lite req`.
pub fn run(global: &ConnectArgs, args: ReqArgs) -> Result<ExitCode> {
    let mut opts = global.options(&args.connect)?;
    opts.reconnect = false;
    let headers = parse_header_flags(&args.headers)?;
    let (body, from_arg) = body_or_stdin(args.body.as_deref())?;
    let mut rng = Rng::new();
    let payload = if from_arg {
        let ctx = Context {
            count: 1,
            ..Default::default()
        };
        Template::parse(&body, Scope::Publish)
            .map_err(|e| Error::usage(e.to_string()))?
            .render(&ctx, &mut rng)
    } else {
        body
    };
    let inbox = opts.inbox(&rng.nuid());
    let trace_inbox = opts.inbox(&rng.nuid());
    let mut conn = Connection::connect(opts)?;
    let mut tracer = Tracer::start(&mut conn, trace_inbox, &args.trace)?;
    let sid = conn.subscribe(&inbox, None)?;
    if args.replies > 0 {
        conn.unsubscribe(sid, Some(args.replies))?;
    }
    if !args.raw {
        eprintln!("Sending request on {:?}", args.subject);
    }
    let mut headers = headers;
    if let Some(t) = &tracer {
        headers.extend(t.headers());
    }
    conn.publish(
        &args.subject,
        Some(&inbox),
        headers_from(headers).as_ref(),
        &payload,
    )?;
    conn.send_buffered()?;
    let start = Instant::now();
    let deadline = start + args.timeout;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut got = 0u64;
    // Trace-only: nothing is delivered, so no reply comes.
    let trace_only = tracer.as_ref().is_some_and(Tracer::only);
    loop {
        if trace_only {
            break;
        }
        match conn.next(Some(deadline))? {
            Some(Incoming::Msg(m)) if tracer.as_mut().is_some_and(|t| t.take(&m)) => {}
            Some(Incoming::Msg(m)) => {
                if m.is_no_responders() {
                    if got > 0 {
                        break;
                    }
                    if let Some(t) = tracer.as_mut() {
                        t.collect(&mut conn, start)?;
                        t.print(&mut out, &args.subject)?;
                    }
                    return Err(Error::failure("no responders available for request"));
                }
                got += 1;
                if !args.raw {
                    eprintln!("Received with rtt {}", show_duration(start.elapsed()));
                    write_headers(&mut out, m.headers.as_ref())
                        .map_err(|e| Error::io("writing to stdout", e))?;
                }
                write_body_line(&mut out, &m.payload)
                    .and_then(|()| out.flush())
                    .map_err(|e| Error::io("writing to stdout", e))?;
                if args.replies > 0 && got >= args.replies {
                    break;
                }
            }
            Some(Incoming::Interrupted) => break,
            Some(_) => {}
            None if got == 0 => {
                if let Some(t) = tracer.as_mut() {
                    t.collect(&mut conn, start)?;
                    t.print(&mut out, &args.subject)?;
                }
                return Err(Error::failure("request timed out"));
            }
            None => break,
        }
    }
    if let Some(t) = tracer.as_mut() {
        t.collect(&mut conn, start)?;
        t.print(&mut out, &args.subject)?;
    }
    Ok(ExitCode::SUCCESS)
}
