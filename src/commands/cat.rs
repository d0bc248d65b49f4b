//! `nats-lite cat` (alias `raw`): what catnats does for shell scripts. Stdin
//! goes to the server as raw protocol, everything the server sends goes to
//! stdout. CONNECT is sent only with credentials or `--verbose` (or when the
//! server requires auth), and TLS is negotiated when the server requires it.
//!
//! Unlike catnats, a blank line is an empty line (not the end of input), and
//! `--pong` answers the server's PING ops found by parsing the stream, not
//! the bytes `PING` wherever they appear in a payload.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::connect::{exit_status_help, on_ctrl_c, parse_duration, ConnectArgs};
use crate::client::options::MAX_CONTROL_LINE;
use crate::client::url::ServerUrl;
use crate::client::{Connection, ErrorKind, Incoming, Mode, RawWriter};
use crate::error::{Error, Result};
use crate::protocol::parser::{parse_client_op, ClientOp, Limits, Parsed};

const AFTER_HELP: &str = concat!(
    "Examples:\n",
    "  printf 'PUB greet 5\\r\\nhello\\r\\n' | nats-lite cat --raw --addr 127.0.0.1:4222 --user u --pass p\n",
    "  printf 'SUB stats.loadaverage 0\\r\\n' | nats-lite cat --raw --no-exit --pong\n",
    "  printf 'PUB greet 5\\nhello\\n' | nats-lite cat          # lines get \\r\\n added\n",
    "  nats-lite cat --no-exit --pong -q < commands.txt\n",
    "\n",
    "Without --no-exit, nats-lite exits about --wait (1s) after stdin ends, once a PING/PONG \
     has shown the server processed everything. Without a CONNECT the server's defaults apply \
     (verbose: every op is answered with +OK); --verbose false turns that off.\n",
    exit_status_help!()
);

/// `nats-lite cat` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct CatArgs {
    /// Server address, host[:port] (as catnats spells it; -s also works).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub addr: Option<String>,
    /// Send stdin bytes unchanged (binary safe) instead of line by line.
    #[arg(long)]
    pub raw: bool,
    /// Do not print what the server sends.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Keep running after stdin ends (until the server closes or Ctrl-C).
    #[arg(long = "no-exit")]
    pub no_exit: bool,
    /// Answer the server's PINGs with PONG.
    #[arg(long)]
    pub pong: bool,
    /// Send CONNECT with this verbose setting (`--verbose` alone means true).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub verbose: Option<bool>,
    /// How long to keep printing after stdin ends.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Duration,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Run `nats-lite cat`.
pub fn run(global: &ConnectArgs, args: CatArgs) -> Result<ExitCode> {
    let mut opts = global.options(&args.connect)?;
    if let Some(addr) = &args.addr {
        opts.servers = vec![ServerUrl::parse(addr).map_err(|e| Error::usage(e.to_string()))?];
    }
    opts.reconnect = false;
    opts.mode = Mode::Raw {
        force_connect: args.verbose.is_some(),
        verbose: args.verbose,
        answer_pings: args.pong,
    };
    let flush_timeout = opts.connect_timeout;
    let mut conn = Connection::connect(opts)?;
    on_ctrl_c(conn.interrupter());
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut show = |bytes: &[u8]| -> Result<()> {
        if args.quiet {
            return Ok(());
        }
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("writing to stdout", e))
    };
    show(&conn.take_greeting())?;

    let limits = Limits {
        max_control_line: MAX_CONTROL_LINE,
        max_payload: conn.max_payload(),
    };
    let (done_tx, done_rx) = mpsc::channel();
    let writer = conn.raw_writer();
    let waker = conn.waker();
    let raw = args.raw;
    std::thread::Builder::new()
        .name("cat-stdin".into())
        .spawn(move || {
            let res = pump_stdin(&writer, raw, limits);
            let _ = done_tx.send(res);
            waker.wake();
        })
        .map_err(|e| Error::io("starting the stdin thread", e))?;

    let mut stdin_ended: Option<Instant> = None;
    loop {
        let deadline = match stdin_ended {
            Some(t) if !args.no_exit => Some(t + args.wait),
            _ => None,
        };
        match conn.next(deadline) {
            Ok(Some(Incoming::Raw(bytes))) => show(&bytes)?,
            Ok(Some(Incoming::Interrupted)) => break,
            Ok(Some(_)) => {}
            Ok(None) => {
                if stdin_ended.is_some() {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    continue;
                }
                let Ok(res) = done_rx.try_recv() else {
                    continue;
                };
                stdin_ended = Some(Instant::now());
                if let Err(Pump::Read(e)) = res {
                    return Err(Error::io("reading stdin", e));
                }
                // A failed write means the server closed: show what it said.
                // Everything sent has been processed once this PONG is back.
                match conn.flush(flush_timeout) {
                    Ok(()) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::Connect) => {
                        drain(&mut conn, &mut show)?;
                        break;
                    }
                    Err(e) => {
                        drain(&mut conn, &mut show)?;
                        return Err(e.into());
                    }
                }
            }
            // The server closing the connection is the normal end of a session.
            Err(e) if e.kind() == ErrorKind::Closed => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Show what arrived before the connection ended: the reader may still be
/// reading it (a write can fail before the server's last words are read).
fn drain(conn: &mut Connection, show: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match conn.next(Some(deadline)) {
            Ok(Some(Incoming::Raw(bytes))) => show(&bytes)?,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return Ok(()),
        }
    }
}

/// Why copying stdin stopped early.
enum Pump {
    /// Reading stdin failed.
    Read(io::Error),
    /// Writing to the server failed (it closed the connection).
    Write,
}

/// Copy stdin to the server: unchanged with `raw`, otherwise with every
/// line ended by `\r\n`.
fn pump_stdin(writer: &RawWriter, raw: bool, limits: Limits) -> std::result::Result<(), Pump> {
    let stdin = io::stdin();
    let mut input = io::BufReader::with_capacity(64 * 1024, stdin.lock());
    let mut pings = PingCounter::new(limits);
    let mut prev = None;
    let mut out = Vec::new();
    loop {
        let chunk = input.fill_buf().map_err(Pump::Read)?;
        if chunk.is_empty() {
            break;
        }
        out.clear();
        if raw {
            out.extend_from_slice(chunk);
        } else {
            for &b in chunk {
                if b == b'\n' && prev != Some(b'\r') {
                    out.push(b'\r');
                }
                out.push(b);
                prev = Some(b);
            }
        }
        let n = chunk.len();
        input.consume(n);
        writer
            .write(&out, pings.count(&out))
            .map_err(|_| Pump::Write)?;
    }
    // A last line without a newline still ends with \r\n.
    if !raw && prev.is_some_and(|b| b != b'\n') {
        let end = b"\r\n";
        writer
            .write(end, pings.count(end))
            .map_err(|_| Pump::Write)?;
    }
    Ok(())
}

/// Counts the PINGs in the stream the user sends, by parsing it as client
/// ops, so that their PONGs are shown and ours (the final flush) are not.
/// Gives up (counts nothing more) at the first thing it cannot parse: the
/// server will close the connection on it anyway.
struct PingCounter {
    buf: Vec<u8>,
    limits: Limits,
    broken: bool,
}

impl PingCounter {
    fn new(limits: Limits) -> PingCounter {
        PingCounter {
            buf: Vec::new(),
            limits,
            broken: false,
        }
    }

    fn count(&mut self, data: &[u8]) -> usize {
        if self.broken {
            return 0;
        }
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        let mut n = 0;
        loop {
            match parse_client_op(&self.buf[pos..], &self.limits) {
                Ok(Parsed::Op(op, used)) => {
                    n += usize::from(op == ClientOp::Ping);
                    pos += used;
                }
                Ok(Parsed::Incomplete(_)) => break,
                Err(_) => {
                    self.broken = true;
                    self.buf = Vec::new();
                    return n;
                }
            }
        }
        self.buf.drain(..pos);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_in_payloads_do_not_count() {
        let mut c = PingCounter::new(Limits {
            max_control_line: 4096,
            max_payload: 1024,
        });
        assert_eq!(c.count(b"PING\r\nPUB a 6\r\nPING\r\n\r\n"), 1);
        assert_eq!(c.count(b"PI"), 0);
        assert_eq!(c.count(b"NG\r\n"), 1);
        assert_eq!(c.count(b"bogus\r\n"), 0);
        assert_eq!(c.count(b"PING\r\n"), 0);
    }
}
