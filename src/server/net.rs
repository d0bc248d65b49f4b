//! Socket helpers every part of the server uses: binding a listener (dual
//! stack for `0.0.0.0`), a peer's address as nats-server reports it,
//! `host:port` text, the listen backlog, `TCP_NODELAY` set once on a
//! listener for the sockets it accepts, waiting (bounded) for a socket to
//! become readable, waking a listener blocked in `accept`, and what the
//! peer links (routes, leafnodes) share: the accept loop of their ports and
//! the reconnect delay that a shutdown cuts short.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Condvar, MutexGuard};
use std::time::{Duration, Instant};

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

/// Set `TCP_NODELAY` on a listening socket, which Linux copies into every
/// socket it accepts: true when that worked, so accepted sockets need no
/// `setsockopt` of their own (one system call less per connection).
#[cfg(target_os = "linux")]
pub fn nodelay_for_accepted(listener: &TcpListener) -> bool {
    socket2::SockRef::from(listener)
        .set_tcp_nodelay(true)
        .is_ok()
}

/// Elsewhere each accepted socket sets it itself.
#[cfg(not(target_os = "linux"))]
pub fn nodelay_for_accepted(_listener: &TcpListener) -> bool {
    false
}

/// Wait up to `timeout` for `stream` to have bytes to read (or to be
/// closed by the peer); false when it stays quiet that long.
#[cfg(unix)]
pub fn readable_within(stream: &TcpStream, timeout: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: poll(2) on one pollfd we own, for a descriptor the stream owns.
    let n = unsafe { libc::poll(&mut fd, 1, ms) };
    // An error (EINTR) counts as readable: the caller just reads.
    n != 0
}

/// Elsewhere: report readable at once (the caller reads).
#[cfg(not(unix))]
pub fn readable_within(_stream: &TcpStream, _timeout: Duration) -> bool {
    true
}

/// `host:port`, with brackets for IPv6 as Go's JoinHostPort.
pub fn display_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An address that reaches the listener, for waking `accept` at shutdown.
pub fn wake_address(bound: SocketAddr) -> SocketAddr {
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

/// Accept connections on a peer port (`kind`: "Route", "Leafnode") until
/// `stopping()`: each accepted stream and its peer's address go to `serve`
/// on a thread of its own (`thread` name, `stack` bytes). Accept errors are
/// logged as nats-server logs them and retried after a pause that grows
/// from 10 ms to 1 s; a thread that cannot be started is logged and its
/// connection dropped.
pub fn accept_peers<S, F>(
    kind: &str,
    thread: &str,
    stack: usize,
    listener: &TcpListener,
    stopping: S,
    serve: F,
) where
    S: Fn() -> bool,
    F: Fn(TcpStream, SocketAddr) + Clone + Send + 'static,
{
    let mut backoff = Duration::from_millis(10);
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                if stopping() {
                    return;
                }
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::log_error!(
                        "Temporary {kind} Accept Error ({e}), sleeping {}ms",
                        backoff.as_millis()
                    );
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                continue;
            }
        };
        if stopping() {
            return;
        }
        backoff = Duration::from_millis(10);
        let serve = serve.clone();
        let spawned = std::thread::Builder::new()
            .name(thread.into())
            .stack_size(stack)
            .spawn(move || {
                let Ok(peer) = stream.peer_addr() else { return };
                serve(stream, unmapped(peer));
            });
        if let Err(e) = spawned {
            crate::log_error!(
                "Cannot start a thread for a {} connection: {e}",
                kind.to_lowercase()
            );
        }
    }
}

/// Wait up to `d` on `changed` (holding `guard`'s registry between
/// wake-ups), or until `stopping` says so; true when stopping. A peer
/// link's reconnect delay: shutdown notifies `changed` to end it at once.
pub fn wait_unless_stopping<T>(
    mut guard: MutexGuard<'_, T>,
    changed: &Condvar,
    d: Duration,
    stopping: impl Fn() -> bool,
) -> bool {
    let deadline = Instant::now() + d;
    while !stopping() {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        guard = changed
            .wait_timeout(guard, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    stopping()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_the_listeners_nodelay() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(nodelay_for_accepted(&l));
        let _peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (accepted, _) = l.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
