//! Start-up, the accept loop and shutdown: bind, log the nats-server style
//! start-up lines, write the pid and ports files, serve the client port,
//! and on a stop signal close every client and remove the files.
//!
//! The client port is served by the pool of connection threads
//! (`thread_pool.rs`) themselves: up to `ACCEPTORS` of them block in
//! `accept`; the one the kernel wakes registers the connection and serves
//! it, so a new connection is served by the thread woken for it, with no
//! hand-off on its path, and goes back to `accept` afterwards (or parks
//! when enough threads wait there). The last thread to leave `accept`
//! first hands the turn to a parked thread (a new one, with a small
//! explicit stack, when none is parked), so one is always accepting. The
//! main thread waits until they have all stopped (stop signal, lame duck
//! mode: each wakes the next by connecting to the port), which closes the
//! listener.
//!
//! A connection is registered (and refused over `max_connections`) before
//! it is served. Accept errors (file descriptors exhausted, say) are
//! retried with a backoff from 10 ms to 1 s, as nats-server does, so the
//! listener neither dies nor spins a core. A thread that cannot be spawned
//! to take the turn is treated the same way: the connection is closed and
//! unregistered, and the thread backs off. Either shortage is logged once
//! when it starts and once when it ends, not per socket.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::close::CloseReason;
use super::log::{self, LogConfig};
use super::net::{display_addr, listen_tcp, nodelay_for_accepted, wake_address, widen_backlog};
use super::thread_pool::{Parking, ThreadPool};
use super::{connection, signals, Options, Server, VERSION_LONG};
use crate::{log_error, notice, warn};

/// Stack of a connection's thread: parsing, CONNECT JSON and (later) TLS
/// need little; RSS only counts the pages touched.
const CONNECTION_STACK: usize = 256 * 1024;
/// Connection threads parked for the next connections (see
/// `thread_pool.rs`; the WebSocket listener's pool too): at most 256 (more exit when their connection ends);
/// 8 of them wait 30 s for a connection, the others 2 s.
pub(super) const PARKING: Parking = Parking {
    max_parked: 256,
    warm: 8,
    warm_idle: Duration::from_secs(30),
    idle: Duration::from_secs(2),
};
/// At most this many threads wait in `accept` for the next connections:
/// they are the client port's warm threads. Those over it park in the
/// pool when their connection ends, and exit after `PARKING.idle`.
const ACCEPTORS: usize = PARKING.warm;
const CLIENT_PARKING: Parking = Parking { warm: 0, ..PARKING };
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
    super::system::start(&server)?;
    // Leaves first: the route INFO carries our leafnode URL.
    super::leaf::start(&server)?;
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
    // Returns once the listener is closed.
    accept_loop(&server, listener)?;
    if server.in_lame_duck() && !server.is_shutting_down() {
        lame_duck(&server);
        let _ = std::io::Write::flush(&mut std::io::stderr());
        shutdown(&server);
        files.remove();
        notice!("Server Exiting..");
        return Ok(());
    }

    shutdown(&server);
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

/// Serve the client port until a stop signal or lame duck mode: start the
/// first accepting thread and wait until every one has stopped (the
/// listener is closed then).
fn accept_loop(server: &Arc<Server>, listener: TcpListener) -> io::Result<()> {
    let ended = Arc::new(Ended::default());
    let state = Arc::new(AcceptState {
        server: server.clone(),
        nodelay_inherited: nodelay_for_accepted(&listener),
        listener,
        threads: ThreadPool::new("client", CONNECTION_STACK, CLIENT_PARKING, lead),
        accepting: AtomicUsize::new(0),
        troubled: AtomicBool::new(false),
        failures: AtomicU64::new(0),
        pacing: Mutex::new(Pacing::default()),
        ended: ended.clone(),
    });
    if let Err((_, e)) = state.threads.clone().execute(state.clone()) {
        return Err(io::Error::new(
            e.kind(),
            format!("cannot start the accept thread: {e}"),
        ));
    }
    ended.wait();
    // The accepting threads let go of it before they said so: this closes the listener.
    drop(state);
    Ok(())
}

/// What the threads accepting on the client port work with.
struct AcceptState {
    server: Arc<Server>,
    listener: TcpListener,
    /// Accepted sockets inherit the listener's `TCP_NODELAY`.
    nodelay_inherited: bool,
    /// Connection threads: each serves one connection at a time and
    /// accepts the next when its turn is handed to it.
    threads: ThreadPool<Arc<AcceptState>>,
    /// Threads in (or on their way to) `accept`.
    accepting: AtomicUsize,
    /// Set when accepting failed, until a connection is served again.
    troubled: AtomicBool,
    /// Accept (or thread) failures so far.
    failures: AtomicU64,
    /// Taken only after a failure.
    pacing: Mutex<Pacing>,
    ended: Arc<Ended>,
}

/// The accept errors' backoff and the shortage being logged.
#[derive(Debug)]
struct Pacing {
    backoff: Duration,
    shortage: Shortage,
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing {
            backoff: ACCEPT_MIN_SLEEP,
            shortage: Shortage::default(),
        }
    }
}

impl Pacing {
    /// A socket could not be served for `why`: log the shortage (once) and
    /// pause before the next accept, longer each time.
    fn fail(mut pacing: MutexGuard<'_, Pacing>, why: &str) {
        pacing.shortage.note(why);
        let pause = pacing.backoff;
        pacing.backoff = (pause * 2).min(ACCEPT_MAX_SLEEP);
        drop(pacing);
        std::thread::sleep(pause);
    }
}

/// Accepting is over (stop signal or lame duck): the main thread waits for it.
#[derive(Debug, Default)]
struct Ended {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Ended {
    fn set(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }

    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.cv.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A connection thread's turn at the client port: accept a connection,
/// register it (or refuse it over `max_connections`) and serve it on this
/// thread, so a new connection is served by the thread the kernel woke
/// for it, with no hand-off on its path; then go back to `accept` while
/// fewer than [`ACCEPTORS`] threads wait there, else park in the pool.
/// The last thread to leave `accept` for a connection first hands the
/// turn to a parked thread (a new one when none is parked), so one is
/// always accepting; without a thread for it the connection is refused,
/// and this thread backs off and keeps accepting.
fn lead(state: Arc<AcceptState>) {
    let mut state = state;
    // Handed the turn: by now others may have come back to accept.
    if !state.join() {
        return;
    }
    loop {
        if state.stopping() {
            state.leave();
            return;
        }
        let Some(admitted) = accept_one(&state) else {
            state.leave();
            return;
        };
        let weak = Arc::downgrade(&state);
        drop(state);
        connection::serve(admitted);
        match weak.upgrade() {
            Some(s) if s.join() => state = s,
            _ => return,
        }
    }
}

/// Accept and register the next connection; `None` on a stop signal or
/// lame duck mode (this thread still counts as accepting then).
fn accept_one(state: &Arc<AcceptState>) -> Option<connection::Admitted> {
    let server = &state.server;
    loop {
        // Failures so far: only an accept that started after the last one
        // ends a shortage (not one that raced with it on another thread).
        let epoch = state.failures.load(Ordering::Acquire);
        let accepted = state.listener.accept();
        if state.stopping() {
            return None;
        }
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                state.fail(&format!("Temporary Client Accept Error ({e})"));
                continue;
            }
        };
        // Registered (or refused over max_connections) before it is served.
        let Some(admitted) = connection::admit(server, stream, peer, state.nodelay_inherited)
        else {
            continue;
        };
        if state.accepting.fetch_sub(1, Ordering::SeqCst) > 1 {
            state.recovered(epoch);
            return Some(admitted);
        }
        match state.threads.execute(state.clone()) {
            Ok(()) => {
                state.recovered(epoch);
                return Some(admitted);
            }
            Err((_, e)) => {
                // Refused cleanly: closed, unregistered; the others keep going.
                state.accepting.fetch_add(1, Ordering::SeqCst);
                connection::abandon(admitted);
                state.fail(&format!("Cannot start a thread for a new connection ({e})"));
            }
        }
    }
}

impl AcceptState {
    /// Count this thread in `accept` if fewer than [`ACCEPTORS`] are there
    /// (checked and counted in one step: threads finish together).
    fn join(&self) -> bool {
        self.accepting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < ACCEPTORS).then_some(n + 1)
            })
            .is_ok()
    }

    fn stopping(&self) -> bool {
        self.server.is_shutting_down() || self.server.in_lame_duck()
    }

    /// Stop accepting on a stop signal: wake the next thread in `accept`
    /// (by connecting to the port), or, for the last one, tell the main
    /// thread that the listener can be closed.
    fn leave(self: Arc<Self>) {
        let left = self.accepting.fetch_sub(1, Ordering::SeqCst) - 1;
        let (ended, wake) = (self.ended.clone(), wake_address(self.server.addr));
        drop(self);
        if left > 0 {
            super::net::wake_accept(wake);
        } else {
            ended.set();
        }
    }

    /// A socket could not be served for `why`: log the shortage (once) and
    /// pause before the next accept, longer each time.
    fn fail(&self, why: &str) {
        let pacing = lock(&self.pacing);
        self.failures.fetch_add(1, Ordering::AcqRel);
        self.troubled.store(true, Ordering::Release);
        Pacing::fail(pacing, why);
    }

    /// A connection accepted (by an accept that started when `epoch`
    /// failures had been seen) has a thread: the shortage is over.
    fn recovered(&self, epoch: u64) {
        if !self.troubled.load(Ordering::Acquire) {
            return;
        }
        let mut pacing = lock(&self.pacing);
        if self.failures.load(Ordering::Acquire) == epoch {
            self.troubled.store(false, Ordering::Release);
            pacing.backoff = ACCEPT_MIN_SLEEP;
            pacing.shortage.over();
        }
    }
}

fn lock<V>(m: &Mutex<V>) -> MutexGuard<'_, V> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A shortage of threads or descriptors, logged once when it starts and
/// once when it ends, not for every refused socket.
#[derive(Debug, Default)]
pub(crate) struct Shortage {
    /// Connections refused (or accepts that failed) since it started.
    refused: u64,
}

impl Shortage {
    /// A socket could not be served for `why`.
    pub(crate) fn note(&mut self, why: &str) {
        if self.refused == 0 {
            log_error!(
                "{why}: refusing new connections until resources are available \
                 (existing connections are served; this is logged once)"
            );
        }
        self.refused += 1;
    }

    /// A socket was served again.
    pub(crate) fn over(&mut self) {
        if self.refused > 0 {
            notice!(
                "Accepting connections again ({} refused or failed meanwhile)",
                self.refused
            );
            self.refused = 0;
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
    super::system::advisories::server_shutdown(server);
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
    server.leafs.shutdown();
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
