//! The server's log, in nats-server's format:
//! `[pid] 2006/01/02 15:04:05.000000 [INF] message` (labels INF, DBG, TRC,
//! WRN, ERR, FTL), to stderr or a file. Debug and trace lines cost one
//! relaxed atomic load when they are off.

use std::fs::{File, OpenOptions};
use std::io::Write;
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
    logtime: AtomicBool,
    utc: AtomicBool,
    file: Mutex<Option<(PathBuf, File)>>,
}

/// Log settings.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    /// Timestamps on lines.
    pub logtime: bool,
    /// Timestamps in UTC.
    pub utc: bool,
    /// Debug lines.
    pub debug: bool,
    /// Trace lines.
    pub trace: bool,
    /// Write to this file instead of stderr.
    pub file: Option<PathBuf>,
}

impl LogConfig {
    /// The log settings of the server's options.
    pub fn from_options(o: &super::Options) -> LogConfig {
        LogConfig {
            logtime: o.logtime,
            utc: o.logtime_utc,
            debug: o.debug,
            trace: o.trace,
            file: o.log_file.clone(),
        }
    }
}

/// Set up (or change) the log. Errors when the log file cannot be opened.
pub fn configure(cfg: &LogConfig) -> std::io::Result<()> {
    let logger = LOGGER.get_or_init(|| Logger {
        pid: std::process::id(),
        logtime: AtomicBool::new(true),
        utc: AtomicBool::new(false),
        file: Mutex::new(None),
    });
    logger.logtime.store(cfg.logtime, Ordering::Relaxed);
    logger.utc.store(cfg.utc, Ordering::Relaxed);
    DEBUG.store(cfg.debug, Ordering::Relaxed);
    TRACE.store(cfg.trace, Ordering::Relaxed);
    let file = match &cfg.file {
        Some(path) => Some((path.clone(), open_log(path)?)),
        None => None,
    };
    *logger.file.lock().unwrap_or_else(|e| e.into_inner()) = file;
    Ok(())
}

fn open_log(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reopen the log file (after logrotate moved it; SIGUSR1).
pub fn reopen() -> std::io::Result<()> {
    if let Some(logger) = LOGGER.get() {
        let mut guard = logger.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((path, file)) = guard.as_mut() {
            *file = open_log(path)?;
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

/// Write one line with a label (`INF`, `DBG`, ...).
pub fn write(label: &str, msg: std::fmt::Arguments<'_>) {
    let Some(logger) = LOGGER.get() else {
        eprintln!("[{}] [{label}] {msg}", std::process::id());
        return;
    };
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
    line.push_str(&msg.to_string());
    line.push('\n');
    let mut guard = logger.file.lock().unwrap_or_else(|e| e.into_inner());
    match guard.as_mut() {
        Some((_, f)) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
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

/// Broken-down UTC time from Unix seconds (Howard Hinnant's days-to-civil).
pub fn civil_utc(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(unix)]
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
    fn utc_civil_dates() {
        assert_eq!(civil_utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_utc(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil_utc(1_795_467_164), (2026, 11, 23, 20, 52, 44));
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_500_000);
        assert_eq!(timestamp(t, true), "1970/01/01 00:00:01.500000");
    }
}
