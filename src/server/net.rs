//! Socket helpers every part of the server uses: `host:port` text, the
//! listen backlog, and waking a listener blocked in `accept`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

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
