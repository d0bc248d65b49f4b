//! systemd readiness notification (`Type=notify`), without a C library:
//! datagrams to the unix socket named by `NOTIFY_SOCKET` (a path, or an
//! abstract name starting with `@` on Linux), as sd_notify(3) sends them.
//!
//! - `READY=1` once the server listens (and again after a reload);
//! - `RELOADING=1` with `MONOTONIC_USEC` when SIGHUP starts a reload;
//! - `STOPPING=1` when shutdown begins;
//! - `WATCHDOG=1` every half `WATCHDOG_USEC` when the unit sets
//!   `WatchdogSec=` (and `WATCHDOG_PID`, if set, is ours).
//!
//! Without `NOTIFY_SOCKET` (not under systemd) every call does nothing.
//! Errors are ignored: notification is advisory.

use std::sync::Once;

/// Send `state` (newline-separated `KEY=value` lines) to `NOTIFY_SOCKET`.
#[cfg(unix)]
pub fn send(state: &str) {
    use std::os::unix::net::UnixDatagram;
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return;
    };
    let target = target.to_string_lossy().into_owned();
    if let Some(name) = target.strip_prefix('@') {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::os::linux::net::SocketAddrExt;
            if let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) {
                let _ = socket.send_to_addr(state.as_bytes(), &addr);
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = name;
        return;
    }
    let _ = socket.send_to(state.as_bytes(), &target);
}

/// Not under systemd: nothing to notify.
#[cfg(not(unix))]
pub fn send(_state: &str) {}

/// The server listens (first start, or a reload finished).
pub fn ready() {
    send("READY=1\nSTATUS=Server is ready");
    static WATCHDOG: Once = Once::new();
    WATCHDOG.call_once(start_watchdog);
}

/// A reload (SIGHUP) begins; [`ready`] follows when it ends.
pub fn reloading() {
    send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
}

/// Shutdown begins.
pub fn stopping() {
    send("STOPPING=1");
}

/// The keepalive interval systemd asked for: half of `WATCHDOG_USEC`, when
/// set and meant for this process.
fn watchdog_interval() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| std::time::Duration::from_micros(usec / 2))
}

fn start_watchdog() {
    let Some(every) = watchdog_interval() else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("watchdog".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            send("WATCHDOG=1");
            std::thread::sleep(every);
        });
}

/// CLOCK_MONOTONIC in microseconds, as systemd wants it with RELOADING=1.
#[cfg(unix)]
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(not(unix))]
fn monotonic_usec() -> u64 {
    0
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn monotonic_time_moves() {
        let a = monotonic_usec();
        assert!(a > 0);
        assert!(monotonic_usec() >= a);
    }
}
