//! `nats-lite top`: a live view of a server's statistics, like nats-top,
//! read from its monitoring port (`/varz` and `/connz`).
//!
//! - `top/engine.rs` fetches and computes rates (no terminal);
//! - `top/render.rs` lays a poll out as text (no terminal);
//! - this file has the flags, the snapshot modes (`-o`, `-r` without a
//!   terminal) and the live view: raw mode with crossterm, keys, and a
//!   terminal that is restored on every way out (quit, Ctrl-C, SIGINT,
//!   an error, a panic).
//!
//! `-s` here is the monitoring *host*, as in nats-top; the global client
//! option `-s/--server` (a NATS URL) only supplies the host when `top`'s
//! own `-s` is not given.

mod cluster;
mod engine;
mod render;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, queue, terminal};

use self::engine::{ConnInfo, Engine, FetchError, Settings, Stats, TlsChoice};
use self::render::View;
use super::connect::ConnectArgs;
use crate::error::{Error, Result};

/// Default monitoring port (nats-server's `-m` default).
pub const DEFAULT_MONITOR_PORT: u16 = 8222;

/// Flags of `top`, named as nats-top names them.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = TOP_EXAMPLES)]
pub struct TopArgs {
    /// Monitoring host of the NATS server [default: the host of the global
    /// -s/--server or NATS_URL if given, else 127.0.0.1]; several as
    /// `a,b:8223,c` (each with its own port, -m by default) for a cluster
    /// view: one aggregated header and a row per server.
    #[arg(short = 's', long = "host", value_name = "HOST")]
    pub host: Option<String>,
    /// Monitoring (HTTP) port.
    #[arg(short = 'm', long = "port", value_name = "PORT", default_value_t = DEFAULT_MONITOR_PORT)]
    pub port: u16,
    /// Secure monitoring (HTTPS) port; overrides -m (also `-ms`).
    #[arg(long = "https-port", visible_alias = "ms", value_name = "PORT")]
    pub https_port: Option<u16>,
    /// CA certificate to verify the HTTPS monitoring port with (also `-cacert`).
    #[arg(long = "tlscacert", visible_alias = "cacert", value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Do not verify the HTTPS monitoring port's certificate.
    #[arg(short = 'k', long = "tls-insecure")]
    pub tls_insecure: bool,
    /// Maximum number of connections to poll.
    #[arg(short = 'n', long = "conns", value_name = "N", default_value_t = 1024)]
    pub conns: usize,
    /// Refresh interval in seconds.
    #[arg(short = 'd', long = "delay", value_name = "SECS", default_value_t = 1.0, value_parser = positive_secs)]
    pub delay: f64,
    /// Sort connections by this key (also `-sort`).
    #[arg(long = "sort", value_name = "BY", default_value = "cid",
          value_parser = clap::builder::PossibleValuesParser::new(engine::SORT_OPTIONS))]
    pub sort: String,
    /// Exit after this many refreshes (with -o: write this many snapshots).
    #[arg(short = 'r', long = "refresh-count", value_name = "N")]
    pub refresh_count: Option<u64>,
    /// Write a snapshot to FILE and exit (`-` for stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<String>,
    /// Delimited output (e.g. `,`) instead of the grid, for -o.
    #[arg(short = 'l', long = "delimiter", value_name = "DELIM")]
    pub delimiter: Option<String>,
    /// Show traffic in raw bytes and counts instead of K/M/G.
    #[arg(short = 'b', long = "raw-bytes")]
    pub raw_bytes: bool,
    /// Show the SUBSCRIPTIONS column from the start.
    #[arg(short = 'u', long = "display-subscriptions-column")]
    pub subs: bool,
    /// Look up client host names (reverse DNS) (also `-lookup`).
    #[arg(long = "lookup")]
    pub lookup: bool,
    /// User for a monitoring port that requires credentials (`http_auth`).
    #[arg(long = "http-user", value_name = "USER", env = "NATS_HTTP_USER")]
    pub http_user: Option<String>,
    /// Password of --http-user.
    #[arg(
        long = "http-password",
        value_name = "PASS",
        env = "NATS_HTTP_PASSWORD",
        hide_env_values = true
    )]
    pub http_password: Option<String>,
    /// Find the cluster's other servers from the one given (its /varz: the
    /// monitoring URLs nats-lite servers share, else nats-server's
    /// connect_urls with -m) and show them all, as with -s a,b,c.
    #[arg(long = "discover")]
    pub discover: bool,
    /// Bearer token for a monitoring port that requires one (`http_auth { token }`).
    #[arg(
        long = "http-token",
        value_name = "TOKEN",
        env = "NATS_HTTP_TOKEN",
        hide_env_values = true
    )]
    pub http_token: Option<String>,
}

/// The `Authorization` header value the monitoring credentials make.
pub fn http_authorization(
    user: Option<&str>,
    password: Option<&str>,
    token: Option<&str>,
) -> Option<String> {
    if let Some(token) = token {
        return Some(format!("Bearer {token}"));
    }
    let (user, password) = (user?, password.unwrap_or(""));
    Some(format!(
        "Basic {}",
        crate::server::monitor::access::base64_encode(format!("{user}:{password}").as_bytes())
    ))
}

const TOP_EXAMPLES: &str = "\
Examples:
  nats-lite server -m 8222 &              # a server with monitoring
  nats-lite top                           # watch 127.0.0.1:8222
  nats-lite top -s 10.0.0.5 -m 8222 --sort msgs_to -n 10
  nats-lite top -o - -r 2                 # two snapshots to stdout, no terminal needed
  nats-lite top -o stats.csv -l ,         # one delimited snapshot to a file
  nats-lite top -s n1,n2,n3:8223          # three servers: totals and a row each
  nats-lite top -s n1 --discover          # n1 and every server of its cluster

Keys: o sort, n limit, s subscriptions, d DNS, b raw bytes, space rates,
      ?/h help, q or Ctrl-C quit.";

fn positive_secs(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("invalid delay {s:?}: a positive number of seconds")),
    }
}

/// nats-top's Go-style single-dash flags longer than one letter, rewritten
/// to their long forms before parsing (see `cli::normalize_server_args`).
pub const GO_STYLE_LONG_FLAGS: &[(&str, &str)] = &[
    ("ms", "https-port"),
    ("cacert", "tlscacert"),
    ("sort", "sort"),
    ("lookup", "lookup"),
];

/// Run `nats-lite top`.
pub fn run(global: &ConnectArgs, args: TopArgs) -> Result<ExitCode> {
    let host = args
        .host
        .clone()
        .or_else(|| global.server.as_deref().and_then(host_of_url))
        .unwrap_or_else(|| "127.0.0.1".to_string());
    if args.discover || host.contains(',') {
        return run_cluster(args, &host);
    }
    let (port, tls) = match args.https_port {
        Some(p) => (
            p,
            Some(TlsChoice {
                ca_file: args.tlscacert.clone(),
                insecure: args.tls_insecure,
            }),
        ),
        None => (args.port, None),
    };
    if port == 0 {
        return Err(Error::usage("invalid monitoring port 0"));
    }
    let settings = Settings {
        limit: args.conns,
        sort: args.sort.clone(),
        subs: args.subs,
    };
    let mut engine = Engine::new(&host, port, tls.as_ref(), settings).map_err(Error::usage)?;
    engine.authorization = http_authorization(
        args.http_user.as_deref(),
        args.http_password.as_deref(),
        args.http_token.as_deref(),
    );
    let view = View {
        raw_bytes: args.raw_bytes,
        show_subs: args.subs,
        show_rates: false,
    };
    let mut top = Top {
        engine,
        view,
        lookup: args.lookup,
        dns: HashMap::new(),
        delay: Duration::from_secs_f64(args.delay),
    };
    if let Some(out) = &args.output {
        return top.snapshots(
            out,
            args.delimiter.as_deref(),
            args.refresh_count.unwrap_or(1),
        );
    }
    let interactive = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !interactive {
        let Some(n) = args.refresh_count else {
            return Err(Error::usage(
                "top needs a terminal for its live view; use -o FILE (a snapshot) or -r N (N snapshots to stdout)",
            ));
        };
        return top.snapshots("-", args.delimiter.as_deref(), n);
    }
    top.live(args.refresh_count)
}

/// `top -s a,b,c` (or `--discover`): several servers, an aggregated
/// header and a row each.
fn run_cluster(args: TopArgs, host_list: &str) -> Result<ExitCode> {
    let tls = TlsChoice {
        ca_file: args.tlscacert.clone(),
        insecure: args.tls_insecure,
    };
    let https = args.https_port.is_some();
    let default_port = args.https_port.unwrap_or(args.port);
    let mut hosts: Vec<cluster::Target> = cluster::parse_hosts(host_list, default_port)
        .map_err(Error::usage)?
        .into_iter()
        .map(|(h, p)| (h, p, https))
        .collect();
    let authorization = http_authorization(
        args.http_user.as_deref(),
        args.http_password.as_deref(),
        args.http_token.as_deref(),
    );
    // Only the aggregate figures are shown: ask /connz for one entry.
    let settings = Settings {
        limit: 1,
        sort: "cid".into(),
        subs: false,
    };
    let engine_for = |host: &str, port: u16, secure: bool| -> Result<Engine> {
        let mut engine = Engine::new(host, port, secure.then_some(&tls), settings.clone())
            .map_err(Error::usage)?;
        engine.authorization = authorization.clone();
        Ok(engine)
    };
    if args.discover {
        let seeds = hosts.clone();
        for (host, port, secure) in seeds {
            let mut seed = engine_for(&host, port, secure)?;
            let found = cluster::discover(&mut seed, default_port, https)
                .map_err(|e| Error::failure(format!("top --discover: {e}")))?;
            for t in found {
                if !hosts.contains(&t) {
                    hosts.push(t);
                }
            }
        }
    }
    let member_for = |target: cluster::Target| -> Result<cluster::Member> {
        let (host, port, secure) = &target;
        let engine = engine_for(host, *port, *secure)?;
        let label = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(cluster::Member {
            label,
            target,
            engine,
            last: Err("not polled yet".into()),
        })
    };
    let mut members = hosts
        .into_iter()
        .map(member_for)
        .collect::<Result<Vec<_>>>()?;
    // --discover: servers that join later are found in the /varz of the
    // ones polled (no extra request), polled from the next refresh on.
    let grow = |members: &mut Vec<cluster::Member>| -> Result<()> {
        if !args.discover {
            return Ok(());
        }
        cluster::drop_duplicates(members);
        let found: Vec<cluster::Target> = members
            .iter()
            .filter_map(|m| m.last.as_ref().ok())
            .flat_map(|s| cluster::targets_in(&s.varz, default_port, https))
            .collect();
        for t in found {
            if !members.iter().any(|m| m.target == t) {
                members.push(member_for(t)?);
            }
        }
        Ok(())
    };
    if args.discover {
        cluster::poll_all(&mut members);
        cluster::drop_duplicates(&mut members);
    }
    let delay = Duration::from_secs_f64(args.delay);
    let interactive = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if args.output.is_some() || !interactive {
        let count = match (&args.output, args.refresh_count) {
            (_, Some(n)) => n.max(1),
            (Some(_), None) => 1,
            (None, None) => {
                return Err(Error::usage(
                    "top needs a terminal for its live view; use -o FILE (a snapshot) or -r N (N snapshots to stdout)",
                ))
            }
        };
        let mut text = String::new();
        for i in 0..count {
            if i > 0 {
                // The user's refresh interval, not a synchronisation.
                std::thread::sleep(delay);
                text.push('\n');
            }
            cluster::poll_all(&mut members);
            if members.iter().all(|m| m.last.is_err()) {
                let why = members
                    .iter()
                    .filter_map(|m| m.last.as_ref().err())
                    .next()
                    .cloned()
                    .unwrap_or_default();
                return Err(Error::failure(format!("top: no server answered ({why})")));
            }
            text.push_str(&cluster::render(&members, args.raw_bytes));
            grow(&mut members)?;
        }
        match args.output.as_deref() {
            Some(out) if out != "-" => {
                std::fs::write(out, text).map_err(|e| Error::io(format!("writing {out}"), e))?
            }
            _ => {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout.flush())
                    .map_err(|e| Error::io("writing to stdout", e))?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let quit = Arc::new(AtomicBool::new(false));
    {
        let quit = quit.clone();
        let _ = ctrlc::set_handler(move || quit.store(true, Ordering::SeqCst));
    }
    let _guard = TerminalGuard::enter().map_err(|e| Error::io("setting up the terminal", e))?;
    let mut refreshes = 0u64;
    loop {
        cluster::poll_all(&mut members);
        grow(&mut members)?;
        let lines: Vec<String> = cluster::render(&members, args.raw_bytes)
            .lines()
            .map(str::to_string)
            .collect();
        paint(&lines).map_err(|e| Error::io("drawing", e))?;
        refreshes += 1;
        if args.refresh_count.is_some_and(|m| m > 0 && refreshes >= m) {
            return Ok(ExitCode::SUCCESS);
        }
        let next = Instant::now() + delay;
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            if quit.load(Ordering::SeqCst) {
                return Ok(ExitCode::SUCCESS);
            }
            if event::poll(left.min(Duration::from_millis(100)))
                .map_err(|e| Error::io("reading keys", e))?
            {
                if let Event::Key(k) = event::read().map_err(|e| Error::io("reading keys", e))? {
                    let ctrl_c =
                        k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
                    if k.kind != KeyEventKind::Release && (ctrl_c || k.code == KeyCode::Char('q')) {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            }
        }
    }
}

/// The host of a NATS URL (`nats://user:pass@host:4222,...` -> `host`).
fn host_of_url(url: &str) -> Option<String> {
    let first = url.split(',').next()?.trim();
    let rest = first.split_once("://").map_or(first, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        rest.split([':', '/']).next()?
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// The state of one `top` run.
struct Top {
    engine: Engine,
    view: View,
    lookup: bool,
    dns: HashMap<String, String>,
    delay: Duration,
}

impl Top {
    /// The host column of a connection: `ip:port`, or its DNS name.
    fn host_of(&mut self, stats: &Stats) -> HashMap<u64, String> {
        let mut out = HashMap::new();
        for c in &stats.connz.connections {
            let plain = format!("{}:{}", c.ip, c.port);
            let name = if self.lookup {
                self.dns
                    .entry(c.ip.clone())
                    .or_insert_with(|| reverse_dns(&c.ip).unwrap_or_else(|| plain.clone()))
                    .clone()
            } else {
                plain
            };
            out.insert(c.cid, name);
        }
        out
    }

    fn text(&mut self, stats: &Stats, error: &str, delim: Option<&str>) -> String {
        let hosts = self.host_of(stats);
        let host = |c: &ConnInfo| hosts.get(&c.cid).cloned().unwrap_or_default();
        match delim {
            Some(d) if !d.is_empty() => render::delimited(stats, &self.view, d, &host),
            _ => render::grid(stats, &self.view, error, &host),
        }
    }

    /// `-o`/`-r` without a terminal: `count` snapshots, `delay` apart.
    fn snapshots(&mut self, out: &str, delim: Option<&str>, count: u64) -> Result<ExitCode> {
        let mut text = String::new();
        for i in 0..count.max(1) {
            if i > 0 {
                // The user's refresh interval, not a synchronisation.
                std::thread::sleep(self.delay);
                text.push('\n');
            }
            let stats = self
                .engine
                .poll()
                .map_err(|e| Error::failure(format!("top: {e}")))?;
            let snapshot = self.text(&stats, "", delim);
            if out == "-" {
                let mut stdout = std::io::stdout().lock();
                let sep = if i > 0 { "\n" } else { "" };
                stdout
                    .write_all(format!("{sep}{snapshot}").as_bytes())
                    .and_then(|()| stdout.flush())
                    .map_err(|e| Error::io("writing to stdout", e))?;
            } else {
                text.push_str(&snapshot);
            }
        }
        if out != "-" {
            std::fs::write(out, text).map_err(|e| Error::io(format!("writing {out}"), e))?;
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The live view, until `q`, Ctrl-C or `max_refreshes` refreshes.
    fn live(&mut self, max_refreshes: Option<u64>) -> Result<ExitCode> {
        let quit = Arc::new(AtomicBool::new(false));
        {
            // SIGINT from elsewhere (in raw mode Ctrl-C is a key): leave cleanly.
            let quit = quit.clone();
            let _ = ctrlc::set_handler(move || quit.store(true, Ordering::SeqCst));
        }
        let guard = TerminalGuard::enter().map_err(|e| Error::io("setting up the terminal", e))?;
        let result = self.live_loop(max_refreshes, &quit);
        drop(guard);
        result
    }

    fn live_loop(&mut self, max_refreshes: Option<u64>, quit: &AtomicBool) -> Result<ExitCode> {
        let mut ui = Ui::default();
        let mut refreshes = 0u64;
        loop {
            match self.engine.poll() {
                Ok(stats) => {
                    ui.stats = stats;
                    ui.error.clear();
                }
                Err(e @ FetchError::ClientPort(_)) => {
                    return Err(Error::failure(format!("top: {e}")))
                }
                Err(e) => {
                    ui.error = format!("({e}; retrying every {}s)", self.delay.as_secs_f64());
                }
            }
            refreshes += 1;
            self.draw(&ui).map_err(|e| Error::io("drawing", e))?;
            if max_refreshes.is_some_and(|m| m > 0 && refreshes >= m) {
                return Ok(ExitCode::SUCCESS);
            }
            let next = Instant::now() + self.delay;
            loop {
                if quit.load(Ordering::SeqCst) {
                    return Ok(ExitCode::SUCCESS);
                }
                let Some(left) = next.checked_duration_since(Instant::now()) else {
                    break;
                };
                let ready = event::poll(left.min(Duration::from_millis(100)))
                    .map_err(|e| Error::io("reading keys", e))?;
                if !ready {
                    continue;
                }
                match event::read().map_err(|e| Error::io("reading keys", e))? {
                    Event::Key(k) if k.kind != KeyEventKind::Release => {
                        match self.key(&mut ui, k) {
                            Action::Quit => return Ok(ExitCode::SUCCESS),
                            Action::Redraw => {
                                self.draw(&ui).map_err(|e| Error::io("drawing", e))?
                            }
                            Action::Refetch => break,
                            Action::None => {}
                        }
                    }
                    Event::Resize(..) => self.draw(&ui).map_err(|e| Error::io("drawing", e))?,
                    _ => {}
                }
            }
        }
    }

    /// Handle one key in the live view.
    fn key(&mut self, ui: &mut Ui, k: KeyEvent) -> Action {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if ui.help {
            ui.help = false;
            return Action::Redraw;
        }
        if let Some(prompt) = &mut ui.prompt {
            match k.code {
                KeyCode::Enter => {
                    let (kind, text) = (prompt.kind, prompt.text.trim().to_string());
                    ui.prompt = None;
                    return self.apply_prompt(ui, kind, &text);
                }
                KeyCode::Esc => ui.prompt = None,
                KeyCode::Backspace => {
                    prompt.text.pop();
                }
                KeyCode::Char(c) if prompt.text.len() < 32 => prompt.text.push(c),
                _ => {}
            }
            return Action::Redraw;
        }
        ui.message.clear();
        match k.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('o') => {
                ui.prompt = Some(Prompt {
                    kind: PromptKind::Sort,
                    text: String::new(),
                });
                Action::Redraw
            }
            KeyCode::Char('n') => {
                ui.prompt = Some(Prompt {
                    kind: PromptKind::Limit,
                    text: String::new(),
                });
                Action::Redraw
            }
            KeyCode::Char('s') => {
                self.view.show_subs = !self.view.show_subs;
                self.engine.settings.subs = self.view.show_subs;
                Action::Refetch
            }
            KeyCode::Char('d') => {
                self.lookup = !self.lookup;
                Action::Redraw
            }
            KeyCode::Char('b') => {
                self.view.raw_bytes = !self.view.raw_bytes;
                Action::Redraw
            }
            KeyCode::Char(' ') => {
                self.view.show_rates = !self.view.show_rates;
                Action::Redraw
            }
            KeyCode::Char('?') | KeyCode::Char('h') => {
                ui.help = true;
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    fn apply_prompt(&mut self, ui: &mut Ui, kind: PromptKind, text: &str) -> Action {
        match kind {
            PromptKind::Sort if engine::is_valid_sort(text) => {
                self.engine.settings.sort = text.to_string();
                Action::Refetch
            }
            PromptKind::Sort => {
                ui.message = format!("invalid order: {text}");
                Action::Redraw
            }
            PromptKind::Limit => match text.parse::<usize>() {
                Ok(n) => {
                    self.engine.settings.limit = n;
                    Action::Refetch
                }
                Err(_) => {
                    ui.message = format!("invalid limit: {text}");
                    Action::Redraw
                }
            },
        }
    }

    /// Draw the view: each line from the top left, cut to the terminal's
    /// width, the rest of the screen cleared.
    fn draw(&mut self, ui: &Ui) -> std::io::Result<()> {
        let body = if ui.help {
            render::HELP.to_string()
        } else {
            self.text(&ui.stats, &ui.error, None)
        };
        let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
        if !ui.help {
            // The prompt or message goes on the blank line under the header (as nats-top).
            let status = match &ui.prompt {
                Some(p) if p.kind == PromptKind::Sort => {
                    format!("sort by [{}]: {}", self.engine.settings.sort, p.text)
                }
                Some(p) => format!("limit   [{}]: {}", self.engine.settings.limit, p.text),
                None => ui.message.clone(),
            };
            if lines.len() > 6 {
                lines[6] = status;
            }
        }
        paint(&lines)
    }
}

/// Write `lines` over the screen (cut to its size), clearing the rest.
fn paint(lines: &[String]) -> std::io::Result<()> {
    let (width, height) = terminal::size().unwrap_or((80, 24));
    let mut out = std::io::stdout().lock();
    for (row, line) in lines.iter().take(height as usize).enumerate() {
        let cut: String = line.chars().take(width as usize).collect();
        queue!(
            out,
            cursor::MoveTo(0, row as u16),
            crossterm::style::Print(cut),
            terminal::Clear(terminal::ClearType::UntilNewLine)
        )?;
    }
    queue!(
        out,
        cursor::MoveTo(0, lines.len().min(height as usize) as u16),
        terminal::Clear(terminal::ClearType::FromCursorDown)
    )?;
    out.flush()
}

/// What a key asks for.
enum Action {
    None,
    Redraw,
    Refetch,
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PromptKind {
    Sort,
    Limit,
}

struct Prompt {
    kind: PromptKind,
    text: String,
}

/// What the live view shows besides the data.
#[derive(Default)]
struct Ui {
    stats: Stats,
    error: String,
    help: bool,
    prompt: Option<Prompt>,
    message: String,
}

/// Raw mode, the alternate screen and a hidden cursor while it lives; the
/// terminal is restored on drop and, through a panic hook, on a panic.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard;
        crossterm::execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn restore_terminal() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        cursor::Show,
        terminal::LeaveAlternateScreen
    );
    let _ = terminal::disable_raw_mode();
}

/// The host name of an IP address (reverse DNS), if it has one.
#[cfg(unix)]
fn reverse_dns(ip: &str) -> Option<String> {
    use std::net::IpAddr;
    let ip: IpAddr = ip.parse().ok()?;
    let mut host = [0 as libc::c_char; 256];
    // SAFETY: the sockaddr structs are zeroed and filled in full before
    // getnameinfo reads them (with their exact length); it writes at most
    // `host.len()` bytes, NUL-terminated, into `host`.
    let rc = unsafe {
        match ip {
            IpAddr::V4(v4) => {
                let mut sa: libc::sockaddr_in = std::mem::zeroed();
                sa.sin_family = libc::AF_INET as libc::sa_family_t;
                #[cfg(any(
                    target_os = "macos",
                    target_os = "ios",
                    target_os = "freebsd",
                    target_os = "openbsd",
                    target_os = "netbsd",
                    target_os = "dragonfly"
                ))]
                {
                    // BSD sockaddrs carry their length; their getnameinfo
                    // checks it against the length argument.
                    sa.sin_len = std::mem::size_of::<libc::sockaddr_in>() as u8;
                }
                sa.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
                libc::getnameinfo(
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
            IpAddr::V6(v6) => {
                let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
                sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                #[cfg(any(
                    target_os = "macos",
                    target_os = "ios",
                    target_os = "freebsd",
                    target_os = "openbsd",
                    target_os = "netbsd",
                    target_os = "dragonfly"
                ))]
                {
                    sa.sin6_len = std::mem::size_of::<libc::sockaddr_in6>() as u8;
                }
                sa.sin6_addr.s6_addr = v6.octets();
                libc::getnameinfo(
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo succeeded, so `host` holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    name.to_str().ok().map(str::to_string)
}

#[cfg(not(unix))]
fn reverse_dns(_ip: &str) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_from_a_nats_url() {
        assert_eq!(
            host_of_url("nats://a.example:4222").as_deref(),
            Some("a.example")
        );
        assert_eq!(
            host_of_url("nats://u:p@b:4222,nats://c:1").as_deref(),
            Some("b")
        );
        assert_eq!(host_of_url("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(host_of_url("tls://[::1]:4222").as_deref(), Some("::1"));
        assert_eq!(host_of_url(""), None);
    }

    #[test]
    fn delay_must_be_positive() {
        assert_eq!(positive_secs("0.5"), Ok(0.5));
        assert!(positive_secs("0").is_err());
        assert!(positive_secs("-1").is_err());
        assert!(positive_secs("x").is_err());
    }
}
