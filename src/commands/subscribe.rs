//! `nats-lite sub`: subscribe to subjects and print what arrives, in a
//! human form, raw (bodies only, for pipes) or as JSON lines. Reconnects and
//! resubscribes when the server goes away (unless `--no-reconnect`).
//!
//! The message formats live here and are shared with `req` and `reply`.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::connect::{exit_status_help, on_ctrl_c, parse_duration, show_duration, ConnectArgs};
use crate::printable::printable;

use crate::client::{Connection, Incoming, Message};
use crate::error::{Error, Result};
use crate::protocol::headers::Headers;

const AFTER_HELP: &str = concat!(
    "Examples:\n",
    "  nats-lite sub 'orders.>'\n",
    "  nats-lite sub --queue workers jobs\n",
    "  nats-lite sub --count 1 --timeout 5s health.ping\n",
    "  nats-lite sub --raw logs.app > app.log\n",
    "  nats-lite sub --json --base64 'binary.*' | jq .\n",
    "\n",
    "Messages go to stdout (flushed after each one), logs to stderr. `Subscribing on ...` is \
     printed once the server has the subscriptions. Ctrl-C unsubscribes, prints a count and \
     exits 0.\n",
    "--timeout: exit 1 when nothing arrived within DURATION, or fewer than --count messages; \
     exit 0 when some messages arrived and then none for DURATION.\n",
    exit_status_help!()
);

/// `nats-lite sub` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct SubArgs {
    /// Subjects to subscribe to (wildcards `*` and `>` allowed).
    #[arg(required = true, value_name = "SUBJECT")]
    pub subjects: Vec<String>,
    /// Join this queue group (each message goes to one member).
    #[arg(long, value_name = "GROUP")]
    pub queue: Option<String>,
    /// Exit 0 after this many messages.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop when no message arrives for this long (see below).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Print bodies only, one per line.
    #[arg(short = 'r', long, conflicts_with = "json")]
    pub raw: bool,
    /// Print one JSON object per message: subject, reply, headers, data.
    #[arg(long)]
    pub json: bool,
    /// With --json: data as base64 (for binary payloads).
    #[arg(long, requires = "json")]
    pub base64: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// How messages are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `[#N] Received on "subj"`, headers, body.
    Human,
    /// Body only, with a newline added when missing.
    Raw,
    /// One JSON object per line (data as text or base64).
    Json {
        /// Data as base64.
        base64: bool,
    },
}

/// Run `nats-lite sub`.
pub fn run(global: &ConnectArgs, args: SubArgs) -> Result<ExitCode> {
    let opts = global.options(&args.connect)?;
    let flush_timeout = opts.connect_timeout;
    let format = if args.raw {
        Format::Raw
    } else if args.json {
        Format::Json {
            base64: args.base64,
        }
    } else {
        Format::Human
    };
    if args.count == Some(0) {
        return Err(Error::usage("--count must be at least 1"));
    }
    let mut conn = Connection::connect(opts)?;
    on_ctrl_c(conn.interrupter());
    let mut sids = Vec::new();
    for s in &args.subjects {
        sids.push(conn.subscribe(s, args.queue.as_deref())?);
    }
    if let (Some(c), [sid]) = (args.count, sids.as_slice()) {
        // One subject: the server stops after `count` (in a queue group the
        // rest go to the other members).
        conn.unsubscribe(*sid, Some(c))?;
    }
    conn.flush(flush_timeout)?;
    match &args.queue {
        Some(q) => eprintln!("Subscribing on {} in group {q:?}", args.subjects.join(", ")),
        None => eprintln!("Subscribing on {}", args.subjects.join(", ")),
    }

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut received = 0u64;
    let mut last_reconnect_error = String::new();
    let mut dropping = false;
    let outcome = loop {
        let deadline = args.timeout.map(|t| Instant::now() + t);
        match conn.next(deadline)? {
            Some(Incoming::Msg(m)) => {
                received += 1;
                write_message(&mut out, format, received, &m)
                    .and_then(|()| out.flush())
                    .map_err(|e| Error::io("writing to stdout", e))?;
                if !dropping && conn.dropped().0 > 0 {
                    dropping = true;
                    eprintln!(
                        "nats-lite: slow consumer: stdout is not keeping up, messages are dropped"
                    );
                }
                if args.count.is_some_and(|c| received >= c) {
                    break Ok(());
                }
            }
            Some(Incoming::Interrupted) => {
                eprintln!("Received {received} messages");
                break Ok(());
            }
            Some(event) => log_connection_event(&event, &mut last_reconnect_error),
            None => {
                let t = show_duration(args.timeout.unwrap_or_default());
                break match (received, args.count) {
                    (0, _) => Err(Error::failure(format!("no message received within {t}"))),
                    (n, Some(c)) if n < c => Err(Error::failure(format!(
                        "received {n} of {c} messages, then none within {t}"
                    ))),
                    _ => Ok(()),
                };
            }
        }
    };
    let (dropped, dropped_bytes) = conn.dropped();
    if dropped > 0 {
        eprintln!(
            "nats-lite: dropped {dropped} messages ({dropped_bytes} bytes) as a slow consumer: \
             stdout did not keep up"
        );
    }
    for sid in sids {
        let _ = conn.unsubscribe(sid, None);
    }
    let _ = conn.flush(flush_timeout);
    outcome.map(|()| ExitCode::SUCCESS)
}

/// Log a connection event of a long-running command on stderr; repeated
/// reconnect failures with the same reason are logged once.
pub fn log_connection_event(event: &Incoming, last_error: &mut String) {
    match event {
        Incoming::Disconnected(e) => {
            eprintln!(
                "nats-lite: disconnected: {}; reconnecting",
                printable(&e.to_string())
            );
        }
        Incoming::Reconnected(url) => {
            last_error.clear();
            eprintln!("Reconnected to {url}");
        }
        Incoming::ReconnectFailed(e) => {
            let text = e.to_string();
            if *last_error != text {
                eprintln!(
                    "nats-lite: reconnect failed: {}; retrying",
                    printable(&text)
                );
                *last_error = text;
            }
        }
        Incoming::Msg(_) | Incoming::Raw(_) | Incoming::Interrupted => {}
    }
}

/// Print one message in `format`; `n` counts from 1.
///
/// # Errors
///
/// Writing failed (a closed pipe is a `BrokenPipe` error).
pub fn write_message(out: &mut impl Write, format: Format, n: u64, m: &Message) -> io::Result<()> {
    match format {
        Format::Raw => write_body_line(out, &m.payload),
        Format::Json { base64 } => {
            let data = if base64 {
                base64_encode(&m.payload)
            } else {
                String::from_utf8_lossy(&m.payload).into_owned()
            };
            let headers: BTreeMap<&str, Vec<&str>> = m
                .headers
                .iter()
                .flat_map(|h| &h.entries)
                .fold(BTreeMap::new(), |mut acc, (k, v)| {
                    acc.entry(k.as_str()).or_default().push(v.as_str());
                    acc
                });
            write!(
                out,
                "{{\"subject\":{},\"reply\":{},\"headers\":{},",
                json(&m.subject),
                json(&m.reply),
                json(&headers)
            )?;
            if let Some(s) = m.status() {
                write!(out, "\"status\":{s},")?;
            }
            writeln!(out, "\"data\":{}}}", json(&data))
        }
        Format::Human => {
            write!(out, "[#{n}] Received on {:?}", m.subject)?;
            if let Some(r) = &m.reply {
                write!(out, " with reply {r:?}")?;
            }
            writeln!(out)?;
            write_headers(out, m.headers.as_ref())?;
            write_body_line(out, &m.payload)?;
            writeln!(out)
        }
    }
}

/// `Key: Value` lines and a blank line, when there are headers.
pub fn write_headers(out: &mut impl Write, headers: Option<&Headers>) -> io::Result<()> {
    let Some(h) = headers else {
        return Ok(());
    };
    if let Some(s) = h.status {
        writeln!(
            out,
            "Status: {s}{}",
            h.description
                .as_deref()
                .map(|d| format!(" {}", printable(d)))
                .unwrap_or_default()
        )?;
    }
    for (k, v) in &h.entries {
        writeln!(out, "{}: {}", printable(k), printable(v))?;
    }
    if h.status.is_some() || !h.entries.is_empty() {
        writeln!(out)?;
    }
    Ok(())
}

/// The body, plus a newline when it does not end with one.
pub fn write_body_line(out: &mut impl Write, body: &[u8]) -> io::Result<()> {
    out.write_all(body)?;
    if body.last() != Some(&b'\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Standard base64 with padding (RFC 4648).
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// JSON text of a value (strings escaped as JSON requires).
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(headers: Option<&[u8]>, payload: &[u8]) -> Message {
        Message {
            subject: "a.b".into(),
            sid: 1,
            reply: Some("r".into()),
            headers: headers.and_then(Headers::parse),
            payload: payload.to_vec(),
        }
    }

    fn show(format: Format, m: &Message) -> String {
        let mut out = Vec::new();
        write_message(&mut out, format, 1, m).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats() {
        let m = msg(Some(b"NATS/1.0\r\nK: v\r\nK: w\r\n\r\n"), b"hi");
        assert_eq!(
            show(Format::Human, &m),
            "[#1] Received on \"a.b\" with reply \"r\"\nK: v\nK: w\n\nhi\n\n"
        );
        assert_eq!(show(Format::Raw, &m), "hi\n");
        assert_eq!(
            show(Format::Json { base64: false }, &m),
            "{\"subject\":\"a.b\",\"reply\":\"r\",\"headers\":{\"K\":[\"v\",\"w\"]},\"data\":\"hi\"}\n"
        );
        let plain = msg(None, b"");
        assert_eq!(
            show(Format::Json { base64: true }, &plain),
            "{\"subject\":\"a.b\",\"reply\":\"r\",\"headers\":{},\"data\":\"\"}\n"
        );
        assert_eq!(show(Format::Raw, &plain), "\n");
    }

    #[test]
    fn base64_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(i.as_bytes()), o);
        }
        assert_eq!(base64_encode(&[0xff, 0xfe]), "//4=");
    }
}
