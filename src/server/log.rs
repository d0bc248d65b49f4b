//! The server's log, in nats-server's format:
//! `[pid] 2006/01/02 15:04:05.000000 [INF] message` (labels INF, DBG, TRC,
//! WRN, ERR, FTL), to stderr, a file (rotated by size, old files pruned),
//! the local syslog (unix) or a remote syslog over UDP or TCP. Debug and
//! trace lines cost one relaxed atomic load when they are off.
//!
//! With `log_format: json` (or `--log_format json`), stderr and file lines
//! are instead one JSON object each, for log shippers:
//! `{"time":"2026-12-05T09:03:04.123456Z","level":"info","pid":7,"msg":"..."}`
//! (time always UTC, RFC 3339), plus the connection's fields when the line
//! is about one (`"conn_addr":"127.0.0.1:5222","cid":5`, or `"rid"` for a
//! route), taken from nats-server's `ADDR - cid:N - ` prefix. The syslog
//! sinks keep their own framing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

static DEBUG: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);
static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Where and how log lines are written.
struct Logger {
    pid: u32,
    json: AtomicBool,
    logtime: AtomicBool,
    utc: AtomicBool,
    sink: Mutex<Sink>,
}

/// The destination of log lines.
enum Sink {
    Stderr,
    File(LogFile),
    #[cfg(unix)]
    Syslog,
    Remote(RemoteSyslog),
}

/// A log file, rotated when it passes `limit` bytes.
struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    limit: u64,
    max_files: u64,
}

/// A syslog server reached over UDP or TCP (RFC 3164 lines).
struct RemoteSyslog {
    udp: Option<UdpSocket>,
    tcp: Option<TcpStream>,
    addr: String,
    hostname: String,
}

/// Log settings.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    /// Timestamps on lines.
    pub logtime: bool,
    /// Timestamps in UTC.
    pub utc: bool,
    /// One JSON object per line.
    pub json: bool,
    /// Debug lines.
    pub debug: bool,
    /// Trace lines.
    pub trace: bool,
    /// Write to this file instead of stderr.
    pub file: Option<PathBuf>,
    /// Rotate the file past this many bytes (0: never).
    pub size_limit: u64,
    /// Rotated files to keep (0: all).
    pub max_files: u64,
    /// Log to the local syslog.
    pub syslog: bool,
    /// Log to a remote syslog: `udp://host:port` or `tcp://host:port`.
    pub remote_syslog: Option<String>,
}

impl LogConfig {
    /// The log settings of the server's options.
    pub fn from_options(o: &super::Options) -> LogConfig {
        LogConfig {
            logtime: o.logtime,
            utc: o.logtime_utc,
            json: o.log_json,
            debug: o.debug,
            trace: o.trace,
            file: o.log_file.clone(),
            size_limit: o.log_size_limit,
            max_files: o.log_max_files,
            syslog: o.syslog,
            remote_syslog: o.remote_syslog.clone(),
        }
    }
}

/// Set up (or change) the log: a remote syslog when given, else the local
/// syslog, else a file, else stderr (nats-server's order). Errors when the
/// destination cannot be opened.
pub fn configure(cfg: &LogConfig) -> std::io::Result<()> {
    let logger = LOGGER.get_or_init(|| Logger {
        pid: std::process::id(),
        json: AtomicBool::new(false),
        logtime: AtomicBool::new(true),
        utc: AtomicBool::new(false),
        sink: Mutex::new(Sink::Stderr),
    });
    let sink = if let Some(url) = &cfg.remote_syslog {
        Sink::Remote(RemoteSyslog::connect(url)?)
    } else if cfg.syslog {
        local_syslog()?
    } else if let Some(path) = &cfg.file {
        let file = open_log(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Sink::File(LogFile {
            path: path.clone(),
            file,
            size,
            limit: cfg.size_limit,
            max_files: cfg.max_files,
        })
    } else {
        Sink::Stderr
    };
    logger.logtime.store(cfg.logtime, Ordering::Relaxed);
    logger.json.store(cfg.json, Ordering::Relaxed);
    logger.utc.store(cfg.utc, Ordering::Relaxed);
    DEBUG.store(cfg.debug, Ordering::Relaxed);
    TRACE.store(cfg.trace, Ordering::Relaxed);
    *logger.sink.lock().unwrap_or_else(|e| e.into_inner()) = sink;
    Ok(())
}

#[cfg(unix)]
fn local_syslog() -> std::io::Result<Sink> {
    static IDENT: &[u8] = b"nats-lite\0";
    // SAFETY: the identity string is static and NUL-terminated, as openlog keeps the pointer.
    unsafe { libc::openlog(IDENT.as_ptr().cast(), libc::LOG_PID, libc::LOG_DAEMON) };
    Ok(Sink::Syslog)
}

#[cfg(not(unix))]
fn local_syslog() -> std::io::Result<Sink> {
    Err(std::io::Error::other(
        "the local syslog is only supported on unix (use --remote_syslog)",
    ))
}

impl RemoteSyslog {
    fn connect(url: &str) -> std::io::Result<RemoteSyslog> {
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "bad remote syslog address {url:?}: use udp://host:port or tcp://host:port"
                ),
            )
        };
        let (scheme, addr) = url.split_once("://").unwrap_or(("udp", url));
        let addr = if addr.contains(':') {
            addr.to_string()
        } else {
            format!("{addr}:514")
        };
        let hostname = hostname();
        match scheme {
            "udp" => {
                let target = addr.to_socket_addrs()?.next().ok_or_else(bad)?;
                let local: SocketAddr = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                }
                .parse()
                .map_err(|_| bad())?;
                let udp = UdpSocket::bind(local)?;
                udp.connect(target)?;
                Ok(RemoteSyslog {
                    udp: Some(udp),
                    tcp: None,
                    addr,
                    hostname,
                })
            }
            "tcp" => {
                let tcp = TcpStream::connect(&addr)?;
                Ok(RemoteSyslog {
                    udp: None,
                    tcp: Some(tcp),
                    addr,
                    hostname,
                })
            }
            _ => Err(bad()),
        }
    }

    fn send(&mut self, severity: u8, pid: u32, msg: &str) {
        // Facility daemon (3); RFC 3164 line with an RFC 3339 time stamp, as Go's log/syslog.
        let pri = 3 * 8 + u32::from(severity);
        let now = timestamp(SystemTime::now(), true)
            .replace('/', "-")
            .replacen(' ', "T", 1);
        let line = format!("<{pri}>{now}Z {} nats-lite[{pid}]: {msg}\n", self.hostname);
        if let Some(u) = &self.udp {
            let _ = u.send(line.as_bytes());
        } else if let Some(t) = &mut self.tcp {
            if t.write_all(line.as_bytes()).is_err() {
                if let Ok(again) = TcpStream::connect(&self.addr) {
                    *t = again;
                    let _ = t.write_all(line.as_bytes());
                }
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

fn open_log(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("could not open log file {}: {e}", path.display()),
            )
        })
}

impl LogFile {
    fn write(&mut self, line: &[u8]) {
        let _ = self.file.write_all(line);
        self.size += line.len() as u64;
        if self.limit > 0 && self.size > self.limit {
            self.rotate();
        }
    }

    /// Move the file aside (`FILE.2006.01.02.15.04.05.000000`), start a new
    /// one, and keep at most `max_files` rotated files.
    fn rotate(&mut self) {
        let stamp = timestamp(SystemTime::now(), false).replace(['/', ' ', ':'], ".");
        let rotated = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        if std::fs::rename(&self.path, &rotated).is_err() {
            return;
        }
        if let Ok(f) = open_log(&self.path) {
            self.file = f;
            self.size = 0;
        }
        if self.max_files > 0 {
            self.prune();
        }
    }

    fn prune(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut rotated: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
            .collect();
        rotated.sort();
        let excess = rotated.len().saturating_sub(self.max_files as usize);
        for old in &rotated[..excess] {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// Reopen the log file (after logrotate moved it; SIGUSR1).
pub fn reopen() -> std::io::Result<()> {
    if let Some(logger) = LOGGER.get() {
        let mut guard = logger.sink.lock().unwrap_or_else(|e| e.into_inner());
        if let Sink::File(f) = &mut *guard {
            f.file = open_log(&f.path)?;
            f.size = f.file.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    Ok(())
}

/// Debug lines are on.
#[inline]
pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Trace lines are on.
#[inline]
pub fn trace_enabled() -> bool {
    TRACE.load(Ordering::Relaxed)
}

/// Syslog severity of a label.
fn severity(label: &str) -> u8 {
    match label {
        "FTL" => 2,
        "ERR" => 3,
        "WRN" => 4,
        "INF" => 6,
        _ => 7,
    }
}

/// Write one line with a label (`INF`, `DBG`, ...).
pub fn write(label: &str, msg: std::fmt::Arguments<'_>) {
    // What peers sent (subjects, error texts) must not reach a terminal raw.
    let text = msg.to_string();
    let msg = crate::printable::printable_lines(&text);
    let Some(logger) = LOGGER.get() else {
        eprintln!("[{}] [{label}] {msg}", std::process::id());
        return;
    };
    let mut guard = logger.sink.lock().unwrap_or_else(|e| e.into_inner());
    match &mut *guard {
        #[cfg(unix)]
        Sink::Syslog => {
            let text = format!("[{label}] {msg}").replace('\0', " ");
            if let Ok(c) = std::ffi::CString::new(text) {
                let priority = libc::LOG_DAEMON | libc::c_int::from(severity(label));
                // SAFETY: a "%s" format with one NUL-terminated string argument.
                unsafe { libc::syslog(priority, c"%s".as_ptr(), c.as_ptr()) };
            }
        }
        Sink::Remote(r) => r.send(severity(label), logger.pid, &format!("[{label}] {msg}")),
        sink if logger.json.load(Ordering::Relaxed) => {
            let line = json_line(SystemTime::now(), label, logger.pid, msg.as_ref());
            match sink {
                Sink::File(f) => f.write(line.as_bytes()),
                _ => {
                    let _ = std::io::stderr().lock().write_all(line.as_bytes());
                }
            }
        }
        sink => {
            let mut line = format!("[{}] ", logger.pid);
            if logger.logtime.load(Ordering::Relaxed) {
                line.push_str(&timestamp(
                    SystemTime::now(),
                    logger.utc.load(Ordering::Relaxed),
                ));
                line.push(' ');
            }
            line.push('[');
            line.push_str(label);
            line.push_str("] ");
            line.push_str(&msg);
            line.push('\n');
            match sink {
                Sink::File(f) => f.write(line.as_bytes()),
                _ => {
                    let _ = std::io::stderr().lock().write_all(line.as_bytes());
                }
            }
        }
    }
}

/// The JSON level name of a label.
fn level_name(label: &str) -> &'static str {
    match label {
        "FTL" => "fatal",
        "ERR" => "error",
        "WRN" => "warn",
        "INF" => "info",
        "DBG" => "debug",
        "TRC" => "trace",
        _ => "info",
    }
}

/// The connection a message is about: nats-server's `ADDR - cid:N - text`
/// (or `rid:N` for a route) split into (addr, kind, id, text).
fn connection_prefix(msg: &str) -> Option<(&str, &str, u64, &str)> {
    let (addr, rest) = msg.split_once(" - ")?;
    if addr.contains(' ') || addr.is_empty() {
        return None;
    }
    let (tag, text) = rest.split_once(" - ").unwrap_or((rest, ""));
    let (kind, id) = tag.split_once(':')?;
    if kind != "cid" && kind != "rid" {
        return None;
    }
    Some((addr, kind, id.parse().ok()?, text))
}

/// One log line as a JSON object (with its newline).
pub fn json_line(t: SystemTime, label: &str, pid: u32, msg: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let stamp = timestamp(t, true).replace('/', "-").replacen(' ', "T", 1);
    let mut line = format!(
        "{{\"time\":\"{stamp}Z\",\"level\":\"{}\",\"pid\":{pid},",
        level_name(label)
    );
    match connection_prefix(msg) {
        Some((addr, kind, id, text)) => line.push_str(&format!(
            "\"msg\":{},\"conn_addr\":{},\"{kind}\":{id}}}\n",
            quote(text),
            quote(addr)
        )),
        None => line.push_str(&format!("\"msg\":{}}}\n", quote(msg))),
    }
    line
}

/// `2006/01/02 15:04:05.000000` in local time (UTC when asked, or where
/// local time is not available).
pub fn timestamp(t: SystemTime, utc: bool) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, mo, da, h, mi, s) = if utc {
        civil_utc(secs)
    } else {
        civil_local(secs)
    };
    format!(
        "{y:04}/{mo:02}/{da:02} {h:02}:{mi:02}:{s:02}.{:06}",
        d.subsec_micros()
    )
}

pub use crate::civil::civil_utc;

// The libc crate marks musl's `time_t` deprecated because its width will
// follow musl 1.2's 64-bit change (rust-lang/libc#1848); it is the type
// localtime_r takes, whatever its width, so the warning does not apply.
#[cfg(unix)]
#[cfg_attr(target_env = "musl", allow(deprecated))]
fn civil_local(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own and reads `t`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return civil_utc(secs);
    }
    (
        i64::from(tm.tm_year) + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
    )
}

#[cfg(not(unix))]
fn civil_local(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    civil_utc(secs)
}

/// An informational line.
#[macro_export]
macro_rules! notice {
    ($($arg:tt)*) => { $crate::server::log::write("INF", format_args!($($arg)*)) };
}

/// A warning line.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::server::log::write("WRN", format_args!($($arg)*)) };
}

/// An error line.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::server::log::write("ERR", format_args!($($arg)*)) };
}

/// A debug line (only with -D).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::server::log::debug_enabled() {
            $crate::server::log::write("DBG", format_args!($($arg)*))
        }
    };
}

/// A protocol trace line (only with -V).
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::server::log::trace_enabled() {
            $crate::server::log::write("TRC", format_args!($($arg)*))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_parse_and_carry_the_connection() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_500_000);
        let line = json_line(t, "INF", 7, "127.0.0.1:5222 - cid:5 - Client \"x\" closed");
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["time"], "1970-01-01T00:00:01.500000Z");
        assert_eq!(v["level"], "info");
        assert_eq!(v["msg"], "Client \"x\" closed");
        assert_eq!(v["conn_addr"], "127.0.0.1:5222");
        assert_eq!(v["cid"], 5);
        let v: serde_json::Value =
            serde_json::from_str(&json_line(t, "TRC", 7, "[::1]:4 - rid:2 - \"<<- [PING]\""))
                .unwrap();
        assert_eq!(
            (v["rid"].as_u64(), v["conn_addr"].as_str()),
            (Some(2), Some("[::1]:4"))
        );
        let v: serde_json::Value =
            serde_json::from_str(&json_line(t, "WRN", 7, "plain - text\u{1}")).unwrap();
        assert_eq!(v["msg"], "plain - text\u{1}");
        assert!(v.get("cid").is_none());
    }

    #[test]
    fn timestamps() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_500_000);
        assert_eq!(timestamp(t, true), "1970/01/01 00:00:01.500000");
    }
}
