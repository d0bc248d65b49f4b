//! The connection core's hardening, over real sockets: a route that
//! authenticated is not timed out; declared payload sizes commit no memory;
//! a silent connection on a server without auth is closed by the PINGs
//! that start at accept; a TLS handshake dripped one byte at a time is
//! closed at the TLS timeout on the client and route ports; a connection
//! whose handler panics (a test-only trigger of debug builds) is finished
//! like any other.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster_support::{Impl, Node, CLUSTER};
use crate::monitor_util::Monitored;
use crate::tls_support::Pki;
use crate::util::{
    is_reference, nats_lite_bin, RawClient, ServerProcess, TempDir, IO_TIMEOUT, START_TIMEOUT,
};

/// Route authorization with a one-second auth timeout, plus `extra` lines
/// in the cluster block.
fn route_auth_conf(dir: &TempDir, name: &str, extra: &str) -> String {
    let conf = dir.path().join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!(
            "cluster {{\n  name: {CLUSTER}\n  listen: 127.0.0.1:-1\n  \
             authorization {{ user: ruser, password: rpass, timeout: 1 }}\n  {extra}\n}}\n"
        ),
    )
    .unwrap();
    conf.to_string_lossy().into_owned()
}

/// The route ids `/routez` lists.
fn route_ids(node: &Node) -> Vec<u64> {
    node.json("/routez")["routes"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["rid"].as_u64()).collect())
        .unwrap_or_default()
}

/// A route that authenticated correctly stays up: the auth timer is
/// cleared by its CONNECT, as a client's is (the route used to be closed
/// with 'Authentication Timeout' after every `authorization { timeout }`).
#[test]
fn an_authenticated_route_outlives_several_auth_timeouts() {
    let dir = TempDir::new("route-auth-timer");
    let a = Node::start(Impl::Lite, &["-c", &route_auth_conf(&dir, "a", "")]);
    let routes = format!("routes: [\"nats-route://ruser:rpass@{}\"]", a.route);
    let b = Node::start(Impl::Lite, &["-c", &route_auth_conf(&dir, "b", &routes)]);
    a.wait_routes(1, Duration::from_secs(10));
    b.wait_routes(1, Duration::from_secs(10));
    let first = route_ids(&a);
    // Watch for three and a half auth timeouts: the same route all along.
    let until = Instant::now() + Duration::from_millis(3500);
    while Instant::now() < until {
        assert_eq!(route_ids(&a), first, "the route was replaced");
        assert_eq!(b.num_routes(), 1);
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut a = a;
    assert!(
        !a.server
            .log_lines()
            .iter()
            .any(|l| l.contains("Authentication Timeout")),
        "a route was timed out"
    );
}

/// Resident memory of a process, in bytes.
#[cfg(target_os = "linux")]
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Send `line` after a PING and wait for the PONG: the server has parsed
/// the line (it came in the same read batch as the PING, or before the
/// PONG was flushed).
fn send_and_sync(c: &mut RawClient, line: &str) {
    c.send(format!("PING\r\n{line}"));
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let l = c
            .try_read_line(IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("no PONG after {line:?}: {e}"));
        if l == "PONG" {
            return;
        }
        assert!(Instant::now() < deadline, "no PONG after {line:?}");
    }
}

/// Twenty unauthenticated peers announce messages they never send, 64 MiB
/// on the route port and 1 MiB (max_payload) on the client port: the
/// server commits memory for bytes that arrive, not for declared sizes.
#[cfg(target_os = "linux")]
#[test]
fn declared_payload_sizes_commit_no_memory() {
    let node = Node::clustered(Impl::Lite, &[], &[]);
    let pid = node.server.pid();
    let mut routes: Vec<RawClient> = (0..10)
        .map(|_| {
            let mut c = RawClient::connect(node.route);
            c.read_info();
            c
        })
        .collect();
    let mut clients: Vec<RawClient> = (0..10)
        .map(|_| {
            let mut c = RawClient::connect(node.server.addr);
            c.read_info();
            c
        })
        .collect();
    // The connections and their threads exist; now the baseline.
    for c in routes.iter_mut().chain(clients.iter_mut()) {
        send_and_sync(c, "");
    }
    let before = rss(pid);
    for c in &mut routes {
        send_and_sync(c, "RMSG $G foo 67108864\r\nsome bytes");
    }
    for c in &mut clients {
        send_and_sync(c, "PUB foo 1048576\r\nsome bytes");
    }
    let after = rss(pid);
    let grown = after.saturating_sub(before);
    assert!(
        grown < 4 << 20,
        "RSS grew by {} KiB ({} -> {} KiB) for 20 announced messages",
        grown >> 10,
        before >> 10,
        after >> 10
    );
}

/// A connection that never sends CONNECT on a server without auth is
/// bounded from accept, as nats-server's first-PING timer at accept: PINGs
/// from min(ping_interval, 2 s), and `Stale Connection` after `ping_max`
/// unanswered ones (here 1 s + 1 x 1 s).
#[test]
fn a_silent_connection_without_auth_is_closed() {
    let server =
        ServerProcess::start_selected_with_config(r#"{"ping_interval": "1s", "ping_max": 1}"#, &[]);
    let started = Instant::now();
    let mut c = RawClient::connect(server.addr);
    c.read_info();
    let (lines, closed) = c.read_until_closed(Duration::from_secs(8));
    assert!(
        closed,
        "still open after {:?}: {lines:?}",
        started.elapsed()
    );
    assert_eq!(lines, ["PING", "-ERR 'Stale Connection'"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
}

/// The bytes of a TLS ClientHello for `server_name`.
fn client_hello(config: std::sync::Arc<rustls::ClientConfig>) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    hello
}

/// Drip `hello` into `addr` one byte every 1.2 s (after reading INFO when
/// `info_first`), and return how long after the first byte the server
/// closed the connection (at most `limit`: then the test fails).
fn drip_until_closed(
    addr: SocketAddr,
    hello: Vec<u8>,
    info_first: bool,
    limit: Duration,
) -> Duration {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    if info_first {
        let mut c = RawClient::from_stream(s.try_clone().unwrap());
        c.read_info();
    }
    let mut writer = s.try_clone().unwrap();
    let started = Instant::now();
    let drip = std::thread::spawn(move || {
        for b in hello {
            if writer.write_all(&[b]).is_err() {
                return;
            }
            // The peer's pace, not a synchronisation: the server must not wait on it.
            std::thread::sleep(Duration::from_millis(1200));
            if started.elapsed() > Duration::from_secs(12) {
                return;
            }
        }
    });
    let mut buf = [0u8; 512];
    loop {
        let left = limit
            .checked_sub(started.elapsed())
            .unwrap_or_else(|| panic!("the dripped handshake was still open after {limit:?}"));
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) | Err(_) if started.elapsed() < limit => break,
            Ok(0) | Err(_) => panic!("the dripped handshake was still open after {limit:?}"),
            Ok(_) => {}
        }
    }
    let took = started.elapsed();
    let _ = s.shutdown(std::net::Shutdown::Both);
    drip.join().unwrap();
    took
}

/// Client port, `tls { timeout: 2 }`: a ClientHello dripped one byte every
/// 1.2 s is closed about 2 s after it began, not one timeout after its
/// latest byte.
#[test]
fn a_dripped_tls_handshake_is_closed_at_the_timeout_on_the_client_port() {
    let dir = TempDir::new("tls-drip");
    let pki = Pki::new(dir.path(), "drip");
    let conf = dir.path().join("tls.conf");
    std::fs::write(
        &conf,
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 2\n}}\n",
            pki.cert(),
            pki.key()
        ),
    )
    .unwrap();
    let server = ServerProcess::start_selected(&["-c", conf.to_str().unwrap()]);
    let hello = client_hello(pki.client_config(None, false));
    let took = drip_until_closed(server.addr, hello, true, Duration::from_secs(6));
    assert!(took >= Duration::from_millis(1500), "closed after {took:?}");
}

/// Route port with `tls { timeout: 2 }`: the same.
#[test]
fn a_dripped_tls_handshake_is_closed_at_the_timeout_on_the_route_port() {
    if is_reference() {
        return;
    }
    let dir = TempDir::new("route-tls-drip");
    let pki = Pki::new(dir.path(), "rdrip");
    let conf = dir.path().join("routes.conf");
    std::fs::write(
        &conf,
        format!(
            "cluster {{\n  name: {CLUSTER}\n  listen: 127.0.0.1:-1\n  tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    timeout: 2\n  }}\n}}\n",
            pki.cert(),
            pki.key()
        ),
    )
    .unwrap();
    let node = Node::start(Impl::Lite, &["-c", conf.to_str().unwrap()]);
    let hello = client_hello(pki.client_config(None, false));
    let took = drip_until_closed(node.route, hello, false, Duration::from_secs(6));
    assert!(took >= Duration::from_millis(1500), "closed after {took:?}");
}

/// A server started with the test-only panic trigger on `subject`, with
/// monitoring and a route listener.
fn with_panic_trigger(subject: &str) -> (Monitored, SocketAddr) {
    let mut cmd = Command::new(nats_lite_bin());
    cmd.arg("server")
        .env("NATS_LITE_TEST_PANIC_SUBJECT", subject);
    let mut server = ServerProcess::start_command(
        cmd,
        &[
            "-m",
            "-1",
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            CLUSTER,
        ],
    );
    let addr = |line: Option<String>| -> SocketAddr {
        let line = line.expect("listener line");
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let http = addr(server.wait_for_log("Starting http monitor on", START_TIMEOUT));
    let route = addr(server.wait_for_log("Listening for route connections on", START_TIMEOUT));
    (Monitored { server, http }, route)
}

/// Read route lines until `want`, answering the server's route PINGs.
fn expect_route_line(route: &mut RawClient, want: &str) {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let line = route.read_line();
        if line == want {
            return;
        }
        if line == "PING" {
            route.send("PONG\r\n");
        }
        assert!(Instant::now() < deadline, "no {want:?} on the route");
    }
}

/// A connection whose handler panics is finished like any other: no longer
/// listed, its subscriptions gone from the index and from the routes (an
/// `RS-`), recorded as closed with a reason, and the panic logged.
#[test]
fn a_connection_whose_handler_panics_leaves_nothing_registered() {
    if is_reference() {
        return;
    }
    let (server, route_addr) = with_panic_trigger("test.panic.now");
    // A raw route peer, to see the interest come and go.
    let mut route = RawClient::connect(route_addr);
    route.read_info();
    route.send(format!(
        "CONNECT {{\"name\":\"NPEER\",\"cluster\":\"{CLUSTER}\"}}\r\n\
         INFO {{\"server_id\":\"NPEER\",\"cluster\":\"{CLUSTER}\",\"port\":1}}\r\nPING\r\n"
    ));
    expect_route_line(&mut route, "PONG");
    let mut c = server.server.client(r#"{"verbose":false}"#);
    c.send("SUB doomed.interest 1\r\n");
    c.flush();
    expect_route_line(&mut route, "RS+ $G doomed.interest");
    assert_eq!(server.json("/connz")["num_connections"], 1);

    c.send("PUB test.panic.now 1\r\nx\r\n");
    let (_, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(closed, "the panicking connection stayed open");
    expect_route_line(&mut route, "RS- $G doomed.interest");
    let connz = server.poll_json("/connz", IO_TIMEOUT, |v| v["num_connections"] == 0);
    assert_eq!(connz["num_connections"], 0, "{connz}");
    let subsz = server.json("/subsz");
    assert_eq!(subsz["num_subscriptions"], 0, "{subsz}");
    let closed = server.json("/connz?state=closed");
    let reasons: Vec<&str> = closed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"Internal Server Error"),
        "closed connections: {closed}"
    );
    let mut server = server;
    server
        .server
        .wait_for_log("connection handler panicked", IO_TIMEOUT)
        .expect("the panic is logged with the connection");
    // The server serves others as before.
    let mut other = server.server.client(r#"{"verbose":false}"#);
    assert!(other.flush().is_empty());
}

/// A subscriber that keeps reading but now and then does not run for a
/// while (a busy machine: here it pauses 300 ms after every MiB, far
/// longer than a producer's stall patience, with more in flight than the
/// kernel buffers) is paced, not cut off: bytes that would pass max_pending
/// wait while its writer makes progress.
#[test]
fn a_reader_that_pauses_is_paced_not_cut_off() {
    const MSGS: usize = 256;
    let server = ServerProcess::start_selected_with_config(r#"{"max_pending": 1048576}"#, &[]);
    let quiet = r#"{"verbose":false}"#;
    let mut reader = server.client(quiet);
    reader.send("SUB paced 1\r\n");
    reader.flush();
    let payload = "p".repeat(64 * 1024);
    let msg = format!("PUB paced {}\r\n{payload}\r\n", payload.len());
    let want = MSGS * (payload.len() + 2 + "MSG paced 1 65536\r\n".len());
    let mut stream = reader.stream.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut since_pause = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        while total < want {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n;
                    since_pause += n;
                }
            }
            if since_pause >= 1024 * 1024 {
                since_pause = 0;
                // The peer's pace (a descheduled reader), not a synchronisation.
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        total
    });
    let mut publ = server.client(quiet);
    publ.stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    for _ in 0..MSGS {
        publ.send(&msg);
    }
    publ.ping_pong();
    // The bytes may include the server's PINGs (6 bytes each).
    let total = drain.join().unwrap();
    assert!(
        total >= want && (total - want) % 6 == 0,
        "the pausing reader was cut off after {total} of {want} bytes"
    );
}

/// Out of file descriptors (`ulimit -n 40`, 60 connections), the listener
/// refuses new sockets without spinning, keeps serving the connections it
/// has, and says so in the log once when it starts and once when it ends,
/// not at every retry.
#[cfg(unix)]
#[test]
fn fd_exhaustion_is_logged_once_and_existing_clients_are_served() {
    if is_reference() {
        return;
    }
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"ulimit -n 40 && exec "$0" server "$@""#)
        .arg(nats_lite_bin());
    let mut server = ServerProcess::start_command(cmd, &[]);
    let mut keeper = server.client(r#"{"verbose":false}"#);
    let conns: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect_timeout(&server.addr, IO_TIMEOUT).unwrap())
        .collect();
    server
        .wait_for_log("refusing new connections", IO_TIMEOUT)
        .expect("the shortage is logged");
    // A measurement window (not a wait for the server): the accept loop
    // retries with its backoff meanwhile (10 ms doubling to 1 s).
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        keeper.flush().is_empty(),
        "an existing client is still served"
    );
    drop(conns);
    server
        .wait_for_log("Accepting connections again", Duration::from_secs(10))
        .expect("the end of the shortage is logged");
    let log = server.log_lines();
    let shortage_lines = log
        .iter()
        .filter(|l| l.contains("refusing new connections") || l.contains("Accept Error"))
        .count();
    assert_eq!(shortage_lines, 1, "logged more than once: {log:#?}");
    let mut c = server.client(r#"{"verbose":false}"#);
    assert!(c.flush().is_empty(), "a new client is served again");
}
