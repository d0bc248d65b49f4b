//! `nats-lite reply`: answer every request on a subject, with a fixed or
//! templated body, the request itself (`--echo`), or the output of a shell
//! command. Repliers share load through a queue group, and reconnect like
//! `sub` does.

use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};

use super::connect::{exit_status_help, headers_from, on_ctrl_c, parse_header_flags, ConnectArgs};
use super::subscribe::log_connection_event;
use crate::client::rand::Rng;
use crate::client::template::{Context, Scope, Template};
use crate::client::{Connection, Incoming, Message};
use crate::error::{Error, Result};
use crate::protocol::headers::Headers;

/// The queue group `nats reply` uses, so that repliers share requests.
pub const DEFAULT_QUEUE: &str = "NATS-RPLY-22";

const AFTER_HELP: &str = concat!(
    "Examples:\n",
    "  nats-lite reply svc.echo                      # echo each request back\n",
    "  nats-lite reply svc.hello 'hello {{Request}} (#{{Count}})'\n",
    "  nats-lite reply --command 'tr a-z A-Z' svc.upper\n",
    "  nats-lite reply --count 1 svc.once 'done'     # answer one request, exit 0\n",
    "\n",
    "Body templates: those of `pub` plus {{Request}} (the request body), {{Subject}} and \
     {{0}}, {{1}}, ... (tokens of the request subject).\n",
    "--command runs CMD with `sh -c`, the request body on its stdin and NATS_REQUEST_SUBJECT \
     and NATS_REQUEST_BODY in its environment; its stdout is the reply.\n",
    "`Listening on ...` is printed on stderr once the server has the subscription. Ctrl-C \
     unsubscribes, prints a count and exits 0.\n",
    exit_status_help!()
);

/// `nats-lite reply` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct ReplyArgs {
    /// Subject to answer requests on.
    pub subject: String,
    /// Reply body (a template); without it (and without --command) requests are echoed.
    pub body: Option<String>,
    /// Queue group, so that several repliers share the requests.
    #[arg(long, default_value = DEFAULT_QUEUE, value_name = "GROUP")]
    pub queue: String,
    /// Reply with the request's body and headers.
    #[arg(long, conflicts_with_all = ["body", "command"])]
    pub echo: bool,
    /// Reply with the stdout of this shell command (request body on its stdin).
    #[arg(long, value_name = "CMD", conflicts_with = "body")]
    pub command: Option<String>,
    /// Exit 0 after answering this many requests.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Header to add to replies, as Key:Value (repeatable; templates allowed).
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE")]
    pub headers: Vec<String>,
    /// Do not log each request.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

enum Answer {
    Echo,
    Body(Template),
    Command(String),
}

/// Run `nats-lite reply`.
pub fn run(global: &ConnectArgs, args: ReplyArgs) -> Result<ExitCode> {
    let opts = global.options(&args.connect)?;
    let flush_timeout = opts.connect_timeout;
    let reconnect = opts.reconnect;
    let template =
        |t: &[u8]| Template::parse(t, Scope::Reply).map_err(|e| Error::usage(e.to_string()));
    let answer = match (&args.body, &args.command) {
        (Some(b), _) => Answer::Body(template(b.as_bytes())?),
        (None, Some(c)) => Answer::Command(c.clone()),
        (None, None) => Answer::Echo,
    };
    let header_templates = parse_header_flags(&args.headers)?
        .into_iter()
        .map(|(k, v)| Ok((k, template(v.as_bytes())?)))
        .collect::<Result<Vec<_>>>()?;
    if args.count == Some(0) {
        return Err(Error::usage("--count must be at least 1"));
    }
    let mut conn = Connection::connect(opts)?;
    on_ctrl_c(conn.interrupter());
    let sid = conn.subscribe(&args.subject, Some(&args.queue))?;
    if let Some(c) = args.count {
        // The server stops delivering after `count`, so no request of the
        // group is left waiting for a replier that has gone.
        conn.unsubscribe(sid, Some(c))?;
    }
    conn.flush(flush_timeout)?;
    eprintln!("Listening on {:?} in group {:?}", args.subject, args.queue);
    let mut rng = Rng::new();
    let mut answered = 0u64;
    let mut last_error = String::new();
    loop {
        match conn.next(None)? {
            Some(Incoming::Msg(m)) => {
                let n = answered + 1;
                if !args.quiet {
                    eprintln!("[#{n}] Received on {:?}", m.subject);
                }
                let Some(reply_to) = m.reply.clone() else {
                    eprintln!(
                        "nats-lite: message on {:?} has no reply subject; ignored",
                        m.subject
                    );
                    continue;
                };
                let ctx = Context {
                    count: n,
                    request: Some(&m.payload),
                    subject: Some(&m.subject),
                };
                let (mut headers, payload) = match &answer {
                    Answer::Echo => (m.headers.clone(), m.payload.clone()),
                    Answer::Body(t) => (None, t.render(&ctx, &mut rng)),
                    Answer::Command(cmd) => (None, run_command(cmd, &m)),
                };
                if !header_templates.is_empty() {
                    let extra = header_templates.iter().map(|(k, t)| {
                        (
                            k.clone(),
                            String::from_utf8_lossy(&t.render(&ctx, &mut rng)).into_owned(),
                        )
                    });
                    let h = headers.get_or_insert_with(Headers::default);
                    h.entries.extend(extra);
                }
                // Status lines (such as a 503) of an echoed request are not ours to send.
                if let Some(h) = headers.as_mut() {
                    h.status = None;
                    h.description = None;
                }
                let headers = headers.and_then(|h| headers_from(h.entries));
                let sent = conn
                    .publish(&reply_to, None, headers.as_ref(), &payload)
                    .and_then(|()| conn.send_buffered());
                match sent {
                    Ok(()) => answered = n,
                    // The reader reports the loss and we reconnect.
                    Err(e) if reconnect => eprintln!("nats-lite: reply not sent: {e}"),
                    Err(e) => return Err(e.into()),
                }
                if args.count.is_some_and(|c| answered >= c) {
                    break;
                }
            }
            Some(Incoming::Interrupted) => break,
            Some(event) => log_connection_event(&event, &mut last_error),
            None => {}
        }
    }
    let _ = conn.unsubscribe(sid, None);
    let _ = conn.flush(flush_timeout);
    eprintln!("Answered {answered} requests");
    Ok(ExitCode::SUCCESS)
}

/// Run `cmd` through the shell with the request on stdin; its stdout is the
/// reply. Failures are logged and answered with what the command printed.
fn run_command(cmd: &str, m: &Message) -> Vec<u8> {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .env("NATS_REQUEST_SUBJECT", &m.subject)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // An environment value cannot hold NUL bytes.
    if !m.payload.contains(&0) {
        command.env(
            "NATS_REQUEST_BODY",
            String::from_utf8_lossy(&m.payload).as_ref(),
        );
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nats-lite: cannot run {cmd:?}: {e}");
            return Vec::new();
        }
    };
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut output = Vec::new();
    // Feed stdin from another thread so a command that writes before it has
    // read everything cannot deadlock with us.
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(mut i) = stdin.take() {
                let _ = i.write_all(&m.payload);
            }
        });
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_end(&mut output);
        }
    });
    match child.wait() {
        Ok(status) if !status.success() => eprintln!("nats-lite: {cmd:?} exited with {status}"),
        Err(e) => eprintln!("nats-lite: waiting for {cmd:?}: {e}"),
        _ => {}
    }
    output
}
