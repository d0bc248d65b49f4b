//! The monitoring port under hostile use (issue 16, and the HTTPS part of
//! issue 15): a per-address connection cap, the `/healthz` slot that a
//! liveness probe always gets, one absolute deadline per request that a
//! slow reader of the reply cannot stretch, and an HTTPS handshake dripped
//! a byte at a time closed at the TLS timeout.

#![cfg(unix)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use crate::monitor_util::{parse_reply, HttpReply, Monitored};
use crate::util::{ServerProcess, IO_TIMEOUT, START_TIMEOUT};

/// The caps the server applies (src/server/monitor/slots.rs).
const MAX_PER_IP: usize = 16;
const MAX_MONITOR_CONNECTIONS: usize = 64;

/// A TCP connection to `dst` from the loopback address `src` (any
/// 127.0.0.0/8 address is local), with a small receive buffer if asked.
fn connect_from(src: Ipv4Addr, dst: SocketAddr, rcvbuf: Option<libc::c_int>) -> TcpStream {
    let SocketAddr::V4(dst) = dst else {
        panic!("IPv4 monitor expected")
    };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor we own; the structures
    // outlive the calls and their sizes are given.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let stream = TcpStream::from_raw_fd(fd);
        if let Some(size) = rcvbuf {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &size as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let local = sockaddr(src, 0);
        assert_eq!(
            libc::bind(fd, &local as *const _ as *const libc::sockaddr, len),
            0,
            "bind {src}"
        );
        let remote = sockaddr(*dst.ip(), dst.port());
        assert_eq!(
            libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len),
            0,
            "connect {dst} from {src}"
        );
        stream
    }
}

/// GET `path` from the loopback address `src`.
fn get_from(src: Ipv4Addr, dst: SocketAddr, path: &str) -> HttpReply {
    let mut s = connect_from(src, dst, None);
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read reply");
    parse_reply(&raw)
}

/// Poll `probe` until it returns true or a few seconds pass.
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(4);
    while !probe() {
        assert!(Instant::now() < deadline, "{what}");
    }
}

/// One address holding its share of connections gets 503 for more, while
/// another address is served.
#[test]
fn monitor_caps_connections_per_address() {
    let m = Monitored::start(&[]);
    let greedy = Ipv4Addr::new(127, 0, 0, 2);
    let _held: Vec<TcpStream> = (0..MAX_PER_IP)
        .map(|_| connect_from(greedy, m.http, None))
        .collect();
    eventually("the greedy address was never refused", || {
        get_from(greedy, m.http, "/varz").status == 503
    });
    let other = get_from(Ipv4Addr::new(127, 0, 0, 1), m.http, "/varz");
    assert_eq!(other.status, 200, "{}", other.text());
}

/// With every ordinary slot held (four addresses, each at its cap),
/// `/healthz` is still answered 200; other endpoints get 503.
#[test]
fn healthz_is_answered_when_every_slot_is_held() {
    let m = Monitored::start(&[]);
    let _held: Vec<TcpStream> = (0..MAX_MONITOR_CONNECTIONS)
        .map(|i| {
            connect_from(
                Ipv4Addr::new(127, 0, 1, 2 + (i / MAX_PER_IP) as u8),
                m.http,
                None,
            )
        })
        .collect();
    let me = Ipv4Addr::new(127, 0, 0, 1);
    eventually("the ordinary slots never filled", || {
        get_from(me, m.http, "/varz").status == 503
    });
    let health = get_from(me, m.http, "/healthz");
    assert_eq!(health.status, 200, "{}", health.text());
    assert!(health.text().contains("ok"), "{}", health.text());
}

/// A client that reads a large reply a little at a time is cut off at the
/// request deadline (10 s), not kept as long as it makes progress.
#[test]
fn a_slow_reader_is_cut_at_the_request_deadline() {
    let m = Monitored::start(&[]);
    // A connection with 50,000 subscriptions: its /connz?subs=detail is
    // several megabytes, more than the socket buffers hold.
    let mut c = m.server.connect();
    c.handshake(r#"{"verbose":false}"#);
    let mut subs = String::new();
    for i in 0..50_000 {
        subs.push_str(&format!(
            "SUB a.rather.long.subject.name.to.make.the.reply.big.{i:08} {i}\r\n"
        ));
    }
    c.send(subs);
    c.flush();
    let started = Instant::now();
    let mut s = connect_from(Ipv4Addr::new(127, 0, 0, 1), m.http, Some(4096));
    s.write_all(b"GET /connz?subs=detail HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let mut total = 0usize;
    let ended = loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break started.elapsed(),
            Ok(n) => total += n,
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still reading after {total} bytes"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(total > 0, "no reply at all");
    assert!(
        ended >= Duration::from_secs(9) && ended < Duration::from_secs(15),
        "cut after {ended:?} and {total} bytes"
    );
    // The monitor is fine afterwards.
    assert_eq!(m.get("/healthz").status, 200);
}

/// The HTTPS monitor closes a TLS handshake that arrives a byte every 1.2 s
/// at the TLS timeout (2 s by default), however it trickles.
#[test]
fn https_monitor_closes_a_dripped_handshake_at_the_tls_timeout() {
    use crate::client_support::TestPki;
    let pki = TestPki::new();
    let (cert, key) = (pki.file("server.pem"), pki.file("server.key"));
    let mut server = ServerProcess::start(&["--tlscert", &cert, "--tlskey", &key, "-ms", "-1"]);
    let line = server
        .wait_for_log("Starting https monitor on", START_TIMEOUT)
        .expect("https monitor line");
    let addr: SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    // A handshake record header announcing 512 bytes, then a byte at a time.
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1200)))
        .unwrap();
    let mut buf = [0u8; 256];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if s.write_all(&[0x01]).is_err() {
                    break started.elapsed();
                }
            }
            Err(_) => break started.elapsed(),
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the dripped handshake is still open"
        );
    };
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_secs(4),
        "closed after {closed:?}"
    );
}

/// The HTTPS monitor's TLS handshake is the connection core's, bounded by
/// the TLS timeout: a client that sends its ClientHello, reads the
/// server's answer and then stalls (never finishes the handshake) is
/// closed once `tls { timeout: 1 }` has passed, not at the request
/// timeout.
#[test]
fn https_monitor_closes_a_stalled_handshake_at_the_tls_timeout() {
    use crate::tls_support::Pki;
    let dir = crate::util::TempDir::new("mon-stall");
    let pki = Pki::new(dir.path(), "mstall");
    let conf = dir.path().join("tls.conf");
    std::fs::write(
        &conf,
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 1\n}}\n",
            pki.cert(),
            pki.key()
        ),
    )
    .unwrap();
    let mut server = ServerProcess::start(&["-c", conf.to_str().unwrap(), "-ms", "-1"]);
    let line = server
        .wait_for_log("Starting https monitor on", START_TIMEOUT)
        .expect("https monitor line");
    let addr: SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(pki.client_config(None, false), name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    let mut s = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    s.write_all(&hello).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break started.elapsed(),
            // The server's flight; the client never sends the rest.
            Ok(n) => answered += n,
        }
    };
    assert!(answered > 0, "no ServerHello");
    assert!(
        closed >= Duration::from_millis(800) && closed < Duration::from_secs(4),
        "closed after {closed:?}"
    );
}
