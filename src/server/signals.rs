//! Signals. On unix one thread waits for them with `sigwait` (the other
//! threads have them blocked): SIGINT and SIGTERM shut the server down,
//! SIGUSR1 reopens the log file, SIGHUP (reload) and SIGUSR2 (lame duck)
//! are logged until those features exist. Elsewhere Ctrl-C shuts down.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Server;
use crate::notice;
#[cfg(unix)]
use crate::warn;

/// Block the handled signals in the calling thread (and so in every thread
/// it spawns afterwards).
#[cfg(unix)]
pub fn block_signals() {
    // SAFETY: a zeroed sigset filled by sigemptyset/sigaddset, passed by pointer.
    unsafe {
        let set = handled_set();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(unix)]
unsafe fn handled_set() -> libc::sigset_t {
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        libc::sigaddset(&mut set, sig);
    }
    set
}

#[cfg(not(unix))]
pub fn block_signals() {}

/// Start the thread that turns signals into actions.
#[cfg(unix)]
pub fn spawn_handler(server: &Arc<Server>, wake: SocketAddr) -> std::io::Result<()> {
    let server = Arc::downgrade(server);
    std::thread::Builder::new()
        .name("signals".into())
        // A reload runs here: it parses the config and, in operator mode,
        // decodes and verifies every JWT (128 KiB overflowed in debug
        // builds). One thread: the larger stack costs nothing resident.
        .stack_size(1024 * 1024)
        .spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: sigwait reads the set and writes the signal number we own.
            let rc = unsafe {
                let set = handled_set();
                libc::sigwait(&set, &mut sig)
            };
            if rc != 0 {
                continue;
            }
            let Some(server) = server.upgrade() else {
                return;
            };
            match sig {
                libc::SIGTERM if server.in_lame_duck() => {
                    notice!("Trapped \"terminated\" signal; ignored in lame duck mode");
                }
                libc::SIGINT | libc::SIGTERM => {
                    let name = if sig == libc::SIGINT {
                        "interrupt"
                    } else {
                        "terminated"
                    };
                    notice!("Trapped \"{name}\" signal");
                    begin_shutdown(&server, wake);
                    return;
                }
                libc::SIGUSR1 => match super::log::reopen() {
                    Ok(()) => notice!("Reopened log file"),
                    Err(e) => warn!("Could not reopen log file: {e}"),
                },
                libc::SIGHUP => {
                    notice!("Trapped \"hangup\" signal");
                    super::notify::reloading();
                    if let Err(e) = server.reload() {
                        crate::log_error!("Failed to reload server configuration: {e}");
                    }
                    super::notify::ready();
                }
                libc::SIGUSR2 => {
                    notice!("Trapped \"user defined signal 2\" signal");
                    begin_lame_duck(&server, wake);
                }
                _ => {}
            }
        })?;
    Ok(())
}

/// Start the Ctrl-C handler.
#[cfg(not(unix))]
pub fn spawn_handler(server: &Arc<Server>, wake: SocketAddr) -> std::io::Result<()> {
    let server = Arc::downgrade(server);
    ctrlc::set_handler(move || {
        if let Some(server) = server.upgrade() {
            notice!("Trapped \"interrupt\" signal");
            begin_shutdown(&server, wake);
        }
    })
    .map_err(std::io::Error::other)
}

/// Enter lame duck mode: stop accepting; the listener thread then warns
/// the clients and closes them over the lame duck duration. SIGUSR2 asks
/// for it, so only on unix.
#[cfg(unix)]
pub fn begin_lame_duck(server: &Server, wake: SocketAddr) {
    if !server.lame_duck.swap(true, Ordering::AcqRel) {
        super::net::wake_accept(wake);
    }
}

/// Flag the shutdown and wake the accept loop.
pub fn begin_shutdown(server: &Server, wake: SocketAddr) {
    server.shutting_down.store(true, Ordering::Release);
    super::net::wake_accept(wake);
}
