//! The `websocket` listener with raw WebSocket clients: the upgrade and its
//! refusals (HTTP status), INFO, the NATS protocol in binary frames (text
//! frames too), fragmentation with control frames between fragments,
//! permessage-deflate, frame violations (close status 1002), limits, auth,
//! the handshake timeout, and a WebSocket client and a TCP client talking
//! both ways. Expectations hold for nats-server too (`NATS_TEST_REFERENCE=1`).

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nats_lite::protocol::websocket::{OP_CONTINUATION, OP_PING, OP_TEXT};

use crate::monitor_util::http_get;
use crate::util::START_TIMEOUT;
use crate::util::{RawClient, IO_TIMEOUT, PARKED_CONNECTION_THREADS};
use crate::ws_support::{
    binary, frame, http_exchange, start_ws, start_ws_with, upgrade_request, Event, WsClient,
};

#[test]
fn ws_info_pubsub_and_tcp_peer_both_ways() {
    let (server, addr) = start_ws("no_tls: true", "");
    let (mut ws, info) = WsClient::connect(addr, false);
    let mut tcp = server.connect();
    let tcp_info = tcp.handshake("{\"verbose\":false}");
    for key in [
        "server_id",
        "version",
        "proto",
        "headers",
        "max_payload",
        "port",
    ] {
        assert_eq!(info[key], tcp_info[key], "{key}");
    }
    assert!(info.get("tls_required").is_none());
    assert_eq!(info["client_ip"], "127.0.0.1");
    ws.send(b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB from.tcp 1\r\nPING\r\n");
    assert_eq!(ws.line(), "PONG");
    tcp.send("SUB from.ws 7\r\nPING\r\n");
    tcp.expect_line("PONG");
    tcp.send("PUB from.tcp 5\r\nhello\r\n");
    assert_eq!(ws.line(), "MSG from.tcp 1 5");
    assert_eq!(ws.bytes(7), b"hello\r\n");
    ws.send(b"HPUB from.ws 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    let (line, payload) = tcp.read_msg();
    assert_eq!(line, "MSG from.ws 7 2");
    assert_eq!(payload, b"hi");
}

#[test]
fn ws_upgrade_refusals_get_nats_server_statuses() {
    let (server, addr) = start_ws("no_tls: true\n handshake_timeout: \"2s\"", "");
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases = [
        (
            "no key",
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            "400",
        ),
        (
            "no upgrade header",
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"),
            "400",
        ),
        (
            "no connection header",
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"),
            "400",
        ),
        (
            "version 12",
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 12\r\n\r\n"),
            "400",
        ),
        (
            "POST",
            format!("POST / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"),
            "405",
        ),
        ("not HTTP", "HELLO\r\n\r\n".to_string(), "400"),
    ];
    for (name, request, status) in cases {
        let (_s, head, _) = http_exchange(addr, &request);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{name}: {head}"
        );
    }
    // The server still serves everyone.
    let mut tcp = server.connect();
    tcp.handshake("{}");
}

#[test]
fn ws_origin_checks() {
    let (_server, addr) = start_ws(
        "no_tls: true\n same_origin: true\n allowed_origins: [\"http://127.0.0.1\"]",
        "",
    );
    let host_origin = format!("Origin: http://{addr}\r\n");
    // same_origin and allowed_origins both apply: the port must match Host
    // and the origin be listed (with its default port).
    let (_s, head, _) = http_exchange(addr, &upgrade_request(addr, &host_origin));
    assert!(head.starts_with("HTTP/1.1 403 "), "{head}");
    let (_s, head, _) = http_exchange(
        addr,
        &upgrade_request(addr, "Origin: http://evil.example\r\n"),
    );
    assert!(head.starts_with("HTTP/1.1 403 "), "{head}");
    let (_server2, addr2) = start_ws("no_tls: true\n same_origin: true", "");
    let (_s, head, _) = http_exchange(
        addr2,
        &upgrade_request(addr2, &format!("Origin: http://{addr2}\r\n")),
    );
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let (_s, head, _) = http_exchange(
        addr2,
        &upgrade_request(addr2, "Origin: http://localhost:1\r\n"),
    );
    assert!(head.starts_with("HTTP/1.1 403 "), "{head}");
    // No Origin header (not a browser): accepted.
    let (_s, head, _) = http_exchange(addr2, &upgrade_request(addr2, ""));
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}

#[test]
fn ws_unfinished_upgrade_is_dropped_at_the_handshake_timeout() {
    let (server, addr) = start_ws("no_tls: true\n handshake_timeout: \"1s\"", "");
    let threads = thread_count(&server);
    let started = Instant::now();
    let mut partial = TcpStream::connect(addr).unwrap();
    partial.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut silent = RawClient::connect(addr);
    let mut partial = RawClient::from_stream(partial);
    let (_, closed) = partial.read_bytes_until_closed(Duration::from_secs(5));
    assert!(closed, "partial upgrade still open");
    let (_, closed) = silent.read_bytes_until_closed(Duration::from_secs(5));
    assert!(closed, "silent connection still open");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    wait_threads_back(&server, threads, PARKED_CONNECTION_THREADS);
    let mut tcp = server.connect();
    tcp.handshake("{}");
}

/// The lines before a close: `want`; nats-server 2.9.10 sometimes loses
/// its last frames when it closes (it does not wait for them to be
/// written), so under the reference no line is accepted too.
fn assert_last_lines(lines: &[String], want: &str) {
    let ok = lines == [want] || (crate::util::is_reference() && lines.is_empty());
    assert!(ok, "wanted [{want:?}], got {lines:?}");
}

/// The close status a violation gets: 1002 (nats-server sometimes drops
/// the frame and only closes, so a bare close is accepted too).
fn expect_protocol_error(ws: &mut WsClient, what: &str) {
    let (_, close) = ws.until_closed(IO_TIMEOUT);
    if let Some((code, _)) = close {
        assert_eq!(code, Some(1002), "{what}");
    }
}

#[test]
fn ws_frame_violations_close_with_1002() {
    let (server, addr) = start_ws("no_tls: true", "");
    let threads = thread_count(&server);
    let mut unmasked = vec![0x82, 6];
    unmasked.extend_from_slice(b"PING\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked frame", unmasked),
        (
            "control frame of 126 bytes",
            frame(OP_PING, true, &[b'x'; 126]),
        ),
        ("fragmented ping", frame(OP_PING, false, b"x")),
        ("unknown opcode", frame(3, true, b"x")),
        (
            "continuation first",
            frame(OP_CONTINUATION, true, b"PING\r\n"),
        ),
        (
            "new message inside a fragmented one",
            [frame(2, false, b"PI"), frame(2, true, b"NG\r\n")].concat(),
        ),
    ];
    for (what, bytes) in cases {
        let (mut ws, _) = WsClient::connect(addr, false);
        ws.raw(&bytes);
        expect_protocol_error(&mut ws, what);
    }
    let mut tcp = server.connect();
    tcp.handshake("{}");
    drop(tcp);
    // Threads stay parked for reuse: the plain client's, and a few of
    // the WebSocket listener's.
    wait_threads_back(&server, threads, 1 + PARKED_CONNECTION_THREADS);
}

/// The server's thread count (Linux; `None` elsewhere or for nats-server,
/// whose goroutines are not threads).
fn thread_count(server: &crate::util::ServerProcess) -> Option<usize> {
    if crate::util::is_reference() {
        return None;
    }
    let dir = format!("/proc/{}/task", server.pid());
    std::fs::read_dir(dir).ok().map(Iterator::count)
}

/// Every thread a connection started is gone again (bounded wait), but for
/// `parked` threads, which stay parked for reuse (the WebSocket
/// listener's pool, and the client port's).
fn wait_threads_back(server: &crate::util::ServerProcess, before: Option<usize>, parked: u64) {
    let Some(before) = before else { return };
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let now = thread_count(server).unwrap_or(0);
        if now as u64 <= before as u64 + parked {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{now} threads, {before} before the connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ws_text_fragments_pings_and_close() {
    let (_server, addr) = start_ws("no_tls: true", "");
    let (mut ws, _) = WsClient::connect(addr, false);
    // Text frames are read as NATS bytes too.
    ws.raw(&frame(OP_TEXT, true, b"CONNECT {\"verbose\":true}\r\n"));
    assert_eq!(ws.line(), "+OK");
    // A message in three fragments, a ping between two of them.
    let mut bytes = frame(2, false, b"SUB a 1\r\nPU");
    bytes.extend(frame(OP_PING, true, b"hey"));
    bytes.extend(frame(OP_CONTINUATION, false, b"B a 2\r"));
    bytes.extend(frame(OP_CONTINUATION, true, b"\nok\r\nPING\r\n"));
    ws.raw(&bytes);
    // The pong comes back; the +OK of the SUB may come before it.
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match ws.event(deadline) {
            Event::Pong => break,
            Event::Data(d) => ws.data.extend_from_slice(&d),
            other => panic!("wanted a pong, got {other:?}"),
        }
    }
    assert_eq!(ws.line(), "+OK");
    assert_eq!(ws.line(), "+OK");
    assert_eq!(ws.line(), "MSG a 1 2");
    assert_eq!(ws.bytes(4), b"ok\r\n");
    assert_eq!(ws.line(), "PONG");
    // The client closes: the server answers with the same status.
    ws.raw(&frame(8, true, &[0x03, 0xe8]));
    let (_, close) = ws.until_closed(IO_TIMEOUT);
    assert_eq!(close.map(|c| c.0), Some(Some(1000)));
}

#[test]
fn ws_compression_round_trip() {
    let (mut server, addr) = start_ws("no_tls: true\n compression: true", "");
    let (mut ws, info) = WsClient::connect(addr, true);
    assert!(info["server_id"].is_string());
    let big = "x".repeat(5000);
    ws.send(b"CONNECT {\"verbose\":false}\r\nSUB big 1\r\nPING\r\n");
    assert_eq!(ws.line(), "PONG");
    let publish = format!("PUB big {}\r\n{big}\r\n", big.len());
    // One compressed message split over fragments.
    let mut wire = Vec::new();
    let mut enc = nats_lite::protocol::websocket::Encoder::new(
        nats_lite::protocol::websocket::Role::Client,
        true,
    );
    enc.message(publish.as_bytes(), &mut wire);
    assert!(wire[0] & 0x40 != 0, "compressed");
    ws.raw(&wire);
    assert_eq!(ws.line(), format!("MSG big 1 {}", big.len()));
    assert_eq!(ws.bytes(big.len() + 2), format!("{big}\r\n").as_bytes());
    let mut tcp = server.connect();
    tcp.handshake("{}");
    // A TCP client's messages are compressed for the WebSocket subscriber
    // (by its writer thread, on a small stack: the deflate state is on the
    // heap).
    for _ in 0..3 {
        tcp.send(&publish);
        assert_eq!(ws.line(), format!("MSG big 1 {}", big.len()));
        assert_eq!(ws.bytes(big.len() + 2), format!("{big}\r\n").as_bytes());
    }
    server.wait_for_log("Listening", IO_TIMEOUT);
}

#[test]
fn ws_limits_and_errors_as_on_the_client_port() {
    let (_server, addr) = start_ws("no_tls: true", "max_payload: 100");
    let (mut ws, info) = WsClient::connect(addr, false);
    assert_eq!(info["max_payload"], 100);
    ws.send(b"CONNECT {\"verbose\":false}\r\nPUB a 101\r\n");
    let (lines, close) = ws.until_closed(IO_TIMEOUT);
    assert_last_lines(&lines, "-ERR 'Maximum Payload Violation'");
    if let Some((code, _)) = close {
        assert_eq!(code, Some(1009));
    }
    // A frame declaring far more than max_payload is read as a stream: its
    // bytes meet the same limit, nothing is allocated for its size.
    let (mut ws, _) = WsClient::connect(addr, false);
    let mut huge = vec![0x82, 0xff];
    huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
    huge.extend_from_slice(&[0, 0, 0, 0]);
    huge.extend_from_slice(b"CONNECT {\"verbose\":false}\r\nPUB a 100000\r\n");
    ws.raw(&huge);
    let (lines, _) = ws.until_closed(IO_TIMEOUT);
    assert_last_lines(&lines, "-ERR 'Maximum Payload Violation'");
}

#[test]
fn ws_authorization_of_its_own() {
    let (server, addr) = start_ws(
        "no_tls: true\n authorization { user: wsuser, password: wspass }",
        "authorization { user: tcpuser, password: tcppass }",
    );
    let (mut ws, info) = WsClient::connect(addr, false);
    assert_eq!(info["auth_required"], true);
    ws.send(b"CONNECT {\"verbose\":false,\"user\":\"tcpuser\",\"pass\":\"tcppass\"}\r\n");
    let (lines, close) = ws.until_closed(IO_TIMEOUT);
    assert_last_lines(&lines, "-ERR 'Authorization Violation'");
    if let Some((code, _)) = close {
        assert_eq!(code, Some(1008));
    }
    let (mut ws, _) = WsClient::connect(addr, false);
    ws.send(b"CONNECT {\"verbose\":false,\"user\":\"wsuser\",\"pass\":\"wspass\"}\r\nPING\r\n");
    assert_eq!(ws.line(), "PONG");
    let mut tcp = server.connect();
    tcp.read_info();
    tcp.send("CONNECT {\"verbose\":false,\"user\":\"wsuser\",\"pass\":\"wspass\"}\r\n");
    tcp.expect_err_and_close("-ERR 'Authorization Violation'", false);
}

/// `allowed_connection_types`: a user let in by one kind of connection
/// only is refused on the other, as nats-server does.
#[test]
fn ws_allowed_connection_types_are_enforced() {
    let (server, addr) = start_ws(
        "no_tls: true",
        "authorization { users: [ \
           {user: tcp, password: t, allowed_connection_types: [\"STANDARD\"]}, \
           {user: web, password: w, allowed_connection_types: [\"WEBSOCKET\"]}, \
           {user: both, password: b} ] }",
    );
    let connect = |user: &str, pass: &str| {
        format!("CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\nPING\r\n")
    };
    // Over WebSocket: web and both in, tcp refused.
    for (user, pass) in [("web", "w"), ("both", "b")] {
        let (mut ws, _) = WsClient::connect(addr, false);
        ws.send(connect(user, pass).as_bytes());
        assert_eq!(ws.line(), "PONG", "{user} over websocket");
    }
    let (mut ws, _) = WsClient::connect(addr, false);
    ws.send(connect("tcp", "t").as_bytes());
    let (lines, _) = ws.until_closed(IO_TIMEOUT);
    assert_last_lines(&lines, "-ERR 'Authorization Violation'");
    // Over TCP: tcp and both in, web refused.
    for (user, pass) in [("tcp", "t"), ("both", "b")] {
        let mut c = server.connect();
        c.read_info();
        c.send(connect(user, pass));
        assert_eq!(c.read_line(), "PONG", "{user} over tcp");
    }
    let mut c = server.connect();
    c.read_info();
    c.send(connect("web", "w").replace("PING\r\n", ""));
    c.expect_err_and_close("-ERR 'Authorization Violation'", false);
}

#[test]
fn ws_no_auth_user_and_server_users() {
    let (_server, addr) = start_ws(
        "no_tls: true\n no_auth_user: anon",
        "authorization { users: [ {user: anon, password: x, permissions: {publish: \"ok\"}}, {user: b, password: y} ] }",
    );
    let (mut ws, info) = WsClient::connect(addr, false);
    assert_eq!(info["auth_required"], true);
    ws.send(b"CONNECT {\"verbose\":false}\r\nPUB nope 0\r\n\r\nPING\r\n");
    assert_eq!(
        ws.line(),
        "-ERR 'Permissions Violation for Publish to \"nope\"'"
    );
    assert_eq!(ws.line(), "PONG");
    let (mut ws, _) = WsClient::connect(addr, false);
    ws.send(
        b"CONNECT {\"verbose\":false,\"user\":\"b\",\"pass\":\"y\"}\r\nPUB nope 0\r\n\r\nPING\r\n",
    );
    assert_eq!(ws.line(), "PONG");
    let _ = binary(b"");
}

#[test]
fn ws_varz_and_connz() {
    // Checked by hand against nats-server 2.9.10 (same block, same /varz
    // websocket object); its HTTP server keeps connections open, which the
    // raw helper does not expect.
    if crate::util::skip_under_reference("the raw HTTP helper reads until close") {
        return;
    }
    let (mut server, addr) = start_ws_with(
        "no_tls: true\n compression: true\n same_origin: true\n \
         allowed_origins: [\"http://a.example\"]\n handshake_timeout: \"3s\"\n \
         authorization { user: a, password: b, timeout: 4 }",
        "",
        &["-m", "-1"],
    );
    let line = server
        .wait_for_log("Starting http monitor on", START_TIMEOUT)
        .expect("monitor line");
    let http = line.rsplit(['/', ' ']).next().unwrap();
    let http: std::net::SocketAddr = http.parse().unwrap();
    let varz: serde_json::Value = serde_json::from_slice(&http_get(http, "/varz").body).unwrap();
    assert_eq!(
        varz["websocket"],
        serde_json::json!({
            "host": "127.0.0.1",
            "port": addr.port(),
            "handshake_timeout": 3_000_000_000u64,
            "auth_timeout": 4.0,
            "no_tls": true,
            "same_origin": true,
            "allowed_origins": ["http://a.example"],
            "compression": true,
        })
    );
    let (mut ws, _) = WsClient::connect(addr, false);
    ws.send(
        b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"b\",\"name\":\"w\"}\r\nPING\r\n",
    );
    assert_eq!(ws.line(), "PONG");
    let connz: serde_json::Value = serde_json::from_slice(&http_get(http, "/connz").body).unwrap();
    let conns = connz["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "{connz}");
    assert_eq!(conns[0]["type"], "websocket");
    assert_eq!(conns[0]["kind"], "Client");
    assert_eq!(conns[0]["name"], "w");
    assert_eq!(conns[0]["ip"], "127.0.0.1");
    assert_eq!(
        conns[0]["port"],
        ws.stream.local_addr().unwrap().port(),
        "the client's own address, not the bridge's"
    );
}

/// A reload re-checks WebSocket clients against the WebSocket
/// authorization: a change elsewhere keeps them, a changed password of
/// theirs closes them. (nats-server 2.9.10 closes every WebSocket client
/// whose user is not a top-level user on any authorization reload, with
/// "Client Closed"; nats-lite keeps the ones whose credentials still hold.)
#[cfg(unix)]
#[test]
fn ws_clients_survive_or_fail_a_reload_by_their_own_authorization() {
    if crate::util::skip_under_reference("nats-server drops WebSocket users on any auth reload") {
        return;
    }
    let dir = crate::util::TempDir::new("wsreload");
    let file = dir.path().join("ws.conf");
    let config = |ws_pass: &str, tcp_pass: &str| {
        format!(
            "websocket {{ listen: \"127.0.0.1:-1\", no_tls: true, \
             authorization {{ user: w, password: {ws_pass} }} }}\n\
             authorization {{ user: t, password: {tcp_pass} }}\n"
        )
    };
    std::fs::write(&file, config("one", "x")).unwrap();
    let mut server = crate::util::ServerProcess::start_selected(&["-c", file.to_str().unwrap()]);
    let line = server
        .wait_for_log("Listening for websocket clients on", START_TIMEOUT)
        .unwrap();
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (mut ws, _) = WsClient::connect(addr, false);
    ws.send(b"CONNECT {\"verbose\":false,\"user\":\"w\",\"pass\":\"one\"}\r\nPING\r\n");
    assert_eq!(ws.line(), "PONG");

    let reload = |server: &mut crate::util::ServerProcess| {
        let mark = server.log_lines().len();
        crate::util::unsafe_kill(server.pid(), "HUP");
        server
            .wait_for_log_since(mark, "Reloaded server configuration", IO_TIMEOUT)
            .expect("reloaded");
    };
    std::fs::write(&file, config("one", "y")).unwrap();
    reload(&mut server);
    ws.send(b"PING\r\n");
    assert_eq!(ws.line(), "PONG");

    std::fs::write(&file, config("two", "y")).unwrap();
    reload(&mut server);
    let (lines, _) = ws.until_closed(IO_TIMEOUT);
    assert_last_lines(&lines, "-ERR 'Authorization Violation'");
}

/// Over max_connections a WebSocket connection is refused before any
/// thread exists for it: nats-lite answers HTTP 503 at once (it has not
/// read the request); nats-server upgrades, then sends `-ERR 'maximum
/// connections exceeded'` and closes. Either way the client is not let in,
/// and once the slot is free a WebSocket client gets in.
#[test]
fn ws_over_max_connections_is_refused_before_any_thread() {
    let (server, addr) = start_ws("no_tls: true", "max_connections: 1");
    let mut tcp = server.client("{\"verbose\":false}");
    let threads = thread_count(&server);
    for _ in 0..3 {
        let (stream, head, rest) = http_exchange(addr, &upgrade_request(addr, ""));
        let (bytes, closed) = RawClient::from_stream(stream).read_bytes_until_closed(IO_TIMEOUT);
        assert!(closed, "refused connection left open");
        let said = String::from_utf8_lossy(&[rest, bytes].concat()).into_owned();
        if crate::util::is_reference() && head.starts_with("HTTP/1.1 101 ") {
            assert!(
                said.contains("-ERR 'maximum connections exceeded'"),
                "{said}"
            );
        } else {
            assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
            assert_eq!(said, "maximum connections exceeded\n");
        }
        assert_eq!(
            thread_count(&server),
            threads,
            "a thread for a refused connection"
        );
    }
    tcp.send("PING\r\n");
    tcp.expect_line("PONG");
    drop(tcp);
    // The slot is free once the server has seen the TCP client go.
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let (stream, head, rest) = http_exchange(addr, &upgrade_request(addr, ""));
        if head.starts_with("HTTP/1.1 101 ") {
            let mut c = RawClient::from_stream(stream);
            let (bytes, _) = c.read_bytes_until_closed(Duration::from_millis(300));
            let said = String::from_utf8_lossy(&[rest, bytes].concat()).into_owned();
            if !said.contains("maximum connections exceeded") {
                assert!(said.contains("INFO "), "{said}");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no WebSocket client let in: {head}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A WebSocket subscriber that stops reading is a slow consumer as on the
/// client port: cut off (no `-ERR`) once it falls max_pending behind or
/// blocks a write past write_deadline, while the publisher stays served.
#[test]
fn ws_slow_consumer_is_cut_off_as_on_the_client_port() {
    const MSGS: usize = 512;
    let (server, addr) = start_ws(
        "no_tls: true",
        "max_pending: 1048576\nwrite_deadline: \"1s\"",
    );
    let (mut ws, _) = WsClient::connect(addr, false);
    ws.send(b"CONNECT {\"verbose\":false}\r\nSUB flood 1\r\nPING\r\n");
    assert_eq!(ws.line(), "PONG");
    let mut publ = server.client("{\"verbose\":false}");
    publ.stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let payload = "p".repeat(64 * 1024);
    let msg = format!("PUB flood {}\r\n{payload}\r\n", payload.len());
    for _ in 0..MSGS {
        publ.send(&msg);
    }
    publ.ping_pong();
    let stalled = ws.stream.try_clone().unwrap();
    let (bytes, closed) = RawClient::from_stream(stalled).read_bytes_until_closed(IO_TIMEOUT);
    assert!(
        closed,
        "stalled subscriber not closed after {} of {} bytes",
        bytes.len(),
        MSGS * msg.len()
    );
    assert!(bytes.len() < MSGS * msg.len(), "everything was delivered");
    assert!(
        !String::from_utf8_lossy(&bytes).contains("-ERR"),
        "a slow consumer gets no -ERR"
    );
}
