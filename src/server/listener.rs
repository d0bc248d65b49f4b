//! Start-up, the accept loop and shutdown: bind, log the nats-server style
//! start-up lines, write the pid and ports files, spawn a thread per
//! accepted connection (with a small explicit stack), and on a stop signal
//! close every client and remove the files.
//!
//! Accept errors (file descriptors exhausted, say) are retried with a
//! backoff from 10 ms to 1 s, as nats-server does, so the listener neither
//! dies nor spins a core. A thread that cannot be spawned is treated the
//! same way: the connection is dropped and the loop backs off.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::close::CloseReason;
use super::log::{self, LogConfig};
use super::{connection, signals, Options, Server, VERSION_LONG};
use crate::{error, notice, warn};

/// Stack of a connection's thread: parsing, CONNECT JSON and (later) TLS
/// need little; RSS only counts the pages touched.
const CONNECTION_STACK: usize = 256 * 1024;
/// Accept error backoff, as nats-server's ACCEPT_MIN_SLEEP / ACCEPT_MAX_SLEEP.
const ACCEPT_MIN_SLEEP: Duration = Duration::from_millis(10);
const ACCEPT_MAX_SLEEP: Duration = Duration::from_secs(1);
/// How long shutdown waits for connection threads to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Run the server until a stop signal; see [`super::run`].
pub fn run(
    opts: Options,
    warnings: &[String],
    reloader: Option<super::Reloader>,
) -> io::Result<()> {
    log::configure(&LogConfig::from_options(&opts))?;
    // Before any other thread exists, so that every thread inherits the mask.
    signals::block_signals();
    raise_fd_limit();

    let tls_config = opts
        .tls
        .as_ref()
        .map(super::tls::server_config)
        .transpose()?;
    let (listener, addr) = bind(&opts.host, opts.port)?;
    let server = Arc::new(Server::new(opts, addr, tls_config, reloader)?);

    notice!("Starting nats-lite");
    notice!("  Version:  {VERSION_LONG}");
    notice!("  Name:     {}", server.name);
    notice!("  ID:       {}", server.id);
    for w in warnings {
        warn!("{w}");
    }
    let monitor_addr = super::monitor::start(&server)?;
    super::route::start(&server)?;
    if let Some(ws) = super::websocket::start(&server)? {
        let _ = server.websocket_addr.set(ws);
    }
    let files = RunFiles::write(&server, monitor_addr)?;

    let timers = server.timers.clone();
    let weak: Weak<Server> = Arc::downgrade(&server);
    std::thread::Builder::new()
        .name("timers".into())
        .stack_size(CONNECTION_STACK)
        .spawn(move || timers.run(&weak))?;
    signals::spawn_handler(&server, wake_address(addr))?;

    notice!(
        "Listening for client connections on {}",
        display_addr(&server.opts().host, addr.port())
    );
    notice!("Server is ready");
    super::notify::ready();
    accept_loop(&server, &listener);
    if server.in_lame_duck() && !server.is_shutting_down() {
        drop(listener);
        lame_duck(&server);
        let _ = std::io::Write::flush(&mut std::io::stderr());
        shutdown(&server);
        files.remove();
        notice!("Server Exiting..");
        return Ok(());
    }

    shutdown(&server);
    drop(listener);
    files.remove();
    notice!("Server Exiting..");
    Ok(())
}

fn bind(host: &str, port: u16) -> io::Result<(TcpListener, SocketAddr)> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let (listener, addr) = listen_tcp(host, port).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", display_addr(host, port)),
        )
    })?;
    widen_backlog(&listener);
    Ok((listener, addr))
}

/// Bind a listening socket on `host:port` (`host` without brackets), and
/// the address to report for it. `0.0.0.0`, nats-server's default, means
/// every interface of both families, as in Go: the IPv6 wildcard with
/// IPV6_V6ONLY off, so a client whose `localhost` resolves to `::1` first
/// is accepted too; reported as `0.0.0.0:PORT`. Where the host has no
/// IPv6, IPv4 alone.
pub(crate) fn listen_tcp(host: &str, port: u16) -> io::Result<(TcpListener, SocketAddr)> {
    if host == "0.0.0.0" {
        match listen_dual_stack(port) {
            Ok(listener) => {
                let port = listener.local_addr()?.port();
                return Ok((listener, SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(e),
            Err(_) => {}
        }
    }
    let listener = TcpListener::bind((host, port))?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// A peer's address as nats-server reports it: an IPv4 client of a
/// dual-stack listener (`::ffff:127.0.0.1`) as plain IPv4, as Go does.
pub(crate) fn unmapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

fn listen_dual_stack(port: u16) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    // As std's TcpListener::bind on unix: a restarted server may rebind a
    // port whose old connections are in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// Listen with the system's largest accept queue, as Go (and so
/// nats-server) does. std listens with a backlog of 128: a burst of
/// thousands of connects (a reconnect storm) then overflows the queue and
/// each dropped client waits for a SYN retransmit, a second or more.
/// Calling listen(2) again on a listening socket only changes its backlog.
#[cfg(unix)]
pub fn widen_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<libc::c_int>().ok())
        .unwrap_or(4096);
    // SAFETY: listen(2) on the fd the listener owns; it touches no memory of ours.
    unsafe { libc::listen(listener.as_raw_fd(), somaxconn.max(128)) };
}

/// Windows: std's backlog stays.
#[cfg(not(unix))]
pub fn widen_backlog(_listener: &TcpListener) {}

/// `host:port`, with brackets for IPv6 as Go's JoinHostPort.
pub fn display_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An address that reaches the listener, for waking `accept` at shutdown.
pub(super) fn wake_address(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// Wake a blocked `accept` so the loop sees the shutdown flag.
pub fn wake_accept(addr: SocketAddr) {
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}

fn accept_loop(server: &Arc<Server>, listener: &TcpListener) {
    let mut backoff = ACCEPT_MIN_SLEEP;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                if server.is_shutting_down() || server.in_lame_duck() {
                    return;
                }
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                error!(
                    "Temporary Client Accept Error ({e}), sleeping {}ms",
                    backoff.as_millis()
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(ACCEPT_MAX_SLEEP);
                continue;
            }
        };
        if server.is_shutting_down() || server.in_lame_duck() {
            return;
        }
        backoff = ACCEPT_MIN_SLEEP;
        let srv = server.clone();
        let spawned = std::thread::Builder::new()
            .name("client".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    connection::serve(srv, stream);
                }));
                if result.is_err() {
                    error!("a connection thread panicked; the connection was dropped");
                }
            });
        if let Err(e) = spawned {
            error!(
                "Cannot start a thread for a new connection ({e}), sleeping {}ms",
                backoff.as_millis()
            );
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(ACCEPT_MAX_SLEEP);
        }
    }
}

/// Lame duck mode, as nats-server: the listener is closed; clients that
/// understand async INFO are told `"ldm":true`; after the grace period
/// the clients are closed a few at a time, spread over the rest of the lame
/// duck duration, so that they reconnect elsewhere gradually. A stop signal
/// meanwhile (SIGINT) ends it early.
fn lame_duck(server: &Arc<Server>) {
    let opts = server.opts();
    notice!("Entering lame duck mode, stop accepting new clients");
    server.routes.enter_lame_duck(server);
    for client in server.client_list() {
        if client.async_info.load(std::sync::atomic::Ordering::Relaxed) {
            let json = server.client_info_json(&client);
            let mut line = Vec::with_capacity(json.len() + 7);
            crate::protocol::encode::json_op(&mut line, "INFO", &json);
            let _ = client.queue_and_flush(&mut line, 0, 0);
        }
    }
    let grace = opts.lame_duck_grace_period.min(opts.lame_duck_duration);
    notice!("Waiting {:?} before closing clients", grace);
    if wait_unless_stopped(server, grace) {
        return;
    }
    let clients = server.client_list();
    let spread = opts.lame_duck_duration.saturating_sub(grace);
    // As nats-server: spread over the duration, but never more than 1 s apart.
    let pause = (spread / clients.len().max(1) as u32).min(Duration::from_secs(1));
    notice!(
        "Closing {} existing clients over {:?}",
        clients.len(),
        spread
    );
    for client in &clients {
        client.close(CloseReason::ServerShutdown);
        if wait_unless_stopped(server, pause) {
            return;
        }
    }
}

/// Wait up to `d`; true when a stop signal came meanwhile.
fn wait_unless_stopped(server: &Server, d: Duration) -> bool {
    let deadline = Instant::now() + d;
    while Instant::now() < deadline {
        if server.is_shutting_down() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20).min(deadline - Instant::now()));
    }
    server.is_shutting_down()
}

/// Close every client and wait (bounded) for their threads to finish.
fn shutdown(server: &Arc<Server>) {
    notice!("Initiating Shutdown...");
    super::notify::stopping();
    for client in server.client_list() {
        client.close(CloseReason::ServerShutdown);
    }
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    let mut forced = false;
    while server.num_clients() > 0 && Instant::now() < deadline {
        if !forced && Instant::now() + SHUTDOWN_GRACE / 2 > deadline {
            // Writers still flushing a final error: cut them off.
            for client in server.client_list() {
                client.force_shutdown();
            }
            forced = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    server.routes.shutdown();
    server.timers.stop();
}

/// The pid and ports files, removed at shutdown.
struct RunFiles {
    pid: Option<std::path::PathBuf>,
    ports: Option<std::path::PathBuf>,
}

impl RunFiles {
    fn write(server: &Server, monitor: Option<super::monitor::Started>) -> io::Result<RunFiles> {
        let opts = server.opts();
        let mut files = RunFiles {
            pid: None,
            ports: None,
        };
        if let Some(path) = &opts.pid_file {
            std::fs::write(path, std::process::id().to_string()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("could not write pidfile {}: {e}", path.display()),
                )
            })?;
            files.pid = Some(path.clone());
        }
        if let Some(dir) = &opts.ports_file_dir {
            let path = super::ports_file_path(dir);
            let host = wake_address(server.addr).ip().to_string();
            let url = format!("nats://{}", display_addr(&host, server.addr.port()));
            let mut json = serde_json::json!({ "nats": [url] });
            if let Some(m) = monitor {
                let host = wake_address(m.addr).ip().to_string();
                let scheme = if m.secure { "https" } else { "http" };
                let url = format!("{scheme}://{}", display_addr(&host, m.addr.port()));
                json["monitoring"] = serde_json::json!([url]);
            }
            if let Some(addr) = server.routes.listen_addr() {
                let host = wake_address(addr).ip().to_string();
                let url = format!("nats://{}", display_addr(&host, addr.port()));
                json["cluster"] = serde_json::json!([url]);
            }
            std::fs::write(&path, json.to_string()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("could not write ports file {}: {e}", path.display()),
                )
            })?;
            files.ports = Some(path);
        }
        Ok(files)
    }

    fn remove(&self) {
        for path in self.pid.iter().chain(self.ports.iter()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Raise the soft limit on open files to the hard limit, as Go does for
/// nats-server, so that thousands of clients fit.
#[cfg(unix)]
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(not(unix))]
fn raise_fd_limit() {}
