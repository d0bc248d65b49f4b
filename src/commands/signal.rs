//! `nats-lite server --signal CMD[=PID|PIDFILE]`: send a signal to a running
//! server, as `nats-server --signal` does. Commands: `ldm` (SIGUSR2),
//! `stop` (SIGKILL), `quit` (SIGINT), `term` (SIGTERM), `reopen` (SIGUSR1),
//! `reload` (SIGHUP). Without a pid, the one running `nats-lite` process is
//! found with `pgrep`; several are an error.

use crate::error::{Error, Result};

/// The signal a `--signal` command sends.
#[cfg(unix)]
fn signal_of(cmd: &str) -> Option<(libc::c_int, &'static str)> {
    Some(match cmd {
        "ldm" => (libc::SIGUSR2, "SIGUSR2"),
        "stop" => (libc::SIGKILL, "SIGKILL"),
        "quit" => (libc::SIGINT, "SIGINT"),
        "term" => (libc::SIGTERM, "SIGTERM"),
        "reopen" => (libc::SIGUSR1, "SIGUSR1"),
        "reload" => (libc::SIGHUP, "SIGHUP"),
        _ => return None,
    })
}

/// Parse `CMD[=PID|PIDFILE]` and signal the process.
#[cfg(unix)]
pub fn send(spec: &str) -> Result<()> {
    let (cmd, target) = match spec.split_once('=') {
        Some((c, t)) => (c, Some(t)),
        None => (spec, None),
    };
    let (sig, name) = signal_of(cmd).ok_or_else(|| {
        Error::usage(format!(
            "unknown signal {cmd:?}: use ldm, stop, quit, term, reopen or reload"
        ))
    })?;
    let pid = match target {
        Some(t) => pid_from(t)?,
        None => find_pid()?,
    };
    // SAFETY: kill takes a pid and a signal number and touches no memory of ours.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    if rc != 0 {
        return Err(Error::failure(format!(
            "could not send {name} to process {pid}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn send(_spec: &str) -> Result<()> {
    Err(Error::usage("--signal is only supported on unix"))
}

/// A pid given directly, or read from a pid file.
#[cfg(unix)]
fn pid_from(target: &str) -> Result<u32> {
    if let Ok(pid) = target.trim().parse::<u32>() {
        return Ok(pid);
    }
    let text = std::fs::read_to_string(target)
        .map_err(|e| Error::usage(format!("could not read pid file {target}: {e}")))?;
    text.trim().parse().map_err(|_| {
        Error::usage(format!(
            "pid file {target} does not hold a pid: {:?}",
            text.trim()
        ))
    })
}

/// The one other running nats-lite process.
#[cfg(unix)]
fn find_pid() -> Result<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-x", "nats-lite"])
        .output()
        .map_err(|e| Error::failure(format!("could not run pgrep to find the server: {e}")))?;
    let me = std::process::id();
    let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| p != me)
        .collect();
    match pids.as_slice() {
        [] => Err(Error::failure("no nats-lite processes running")),
        [pid] => Ok(*pid),
        many => Err(Error::failure(format!(
            "multiple nats-lite processes running:\n{}\n(name one: --signal CMD=PID)",
            many.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ))),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn commands_and_targets() {
        assert!(signal_of("reload").is_some());
        assert!(signal_of("bogus").is_none());
        assert!(matches!(send("bogus=1"), Err(Error::Usage(_))));
        assert_eq!(pid_from(" 42 ").unwrap(), 42);
        assert!(pid_from("/nonexistent/pidfile").is_err());
    }
}
