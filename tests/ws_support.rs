//! WebSocket test harness: a server with a `websocket` block on a free
//! loopback port (nats-lite, or nats-server under `NATS_TEST_REFERENCE=1`),
//! and a raw WebSocket client that can send well-formed or broken frames
//! and reads the server's frames with deadlines.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nats_lite::protocol::websocket::{
    encode_header, Control, Decoder, Encoder, Role, DEFLATE_EXTENSION, OP_BINARY, OP_CLOSE,
};

use crate::util::{read_some, time_left, ServerProcess, IO_TIMEOUT, START_TIMEOUT};

/// A server with `websocket { listen: 127.0.0.1:-1, <ws> }` and `rest` at top level.
pub fn start_ws(ws: &str, rest: &str) -> (ServerProcess, SocketAddr) {
    start_ws_with(ws, rest, &[])
}

/// [`start_ws`] with extra command-line arguments.
pub fn start_ws_with(ws: &str, rest: &str, extra: &[&str]) -> (ServerProcess, SocketAddr) {
    let config = format!("websocket {{\n listen: \"127.0.0.1:-1\"\n {ws}\n}}\n{rest}\n");
    let mut server = ServerProcess::start_selected_with_config(&config, extra);
    let line = server
        .wait_for_log("Listening for websocket clients on", START_TIMEOUT)
        .expect("websocket listener log line");
    let port: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (server, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// The request head of an upgrade to `addr` with `extra` header lines.
pub fn upgrade_request(addr: SocketAddr, extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Send `request` raw and read the HTTP response head (status line first).
pub fn http_exchange(addr: SocketAddr, request: &str) -> (TcpStream, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::new();
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).into_owned();
            let rest = buf[at + 4..].to_vec();
            return (stream, head, rest);
        }
        stream
            .set_read_timeout(Some(time_left(deadline).unwrap()))
            .unwrap();
        if let Err(e) = read_some(&mut stream, &mut buf) {
            panic!(
                "no HTTP response: {e}; got {:?}",
                String::from_utf8_lossy(&buf)
            );
        }
    }
}

/// A masked client frame (`fin` false leaves the message open).
pub fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let key = [0x37, 0xfa, 0x21, 0x3d];
    encode_header(&mut out, opcode, false, payload.len(), Some(key));
    if !fin {
        out[0] &= 0x7f;
    }
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    out
}

/// What the server sent, frame by frame.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// NATS bytes (from binary messages).
    Data(Vec<u8>),
    /// A close frame.
    Close(Option<u16>, String),
    /// A pong.
    Pong,
    /// The TCP connection ended.
    Eof,
}

/// A raw WebSocket client.
pub struct WsClient {
    /// The socket.
    pub stream: TcpStream,
    decoder: Decoder,
    encoder: Encoder,
    input: Vec<u8>,
    /// NATS bytes received and not yet taken.
    pub data: Vec<u8>,
    /// A control frame decoded right after data, for the next call.
    pending: Option<Event>,
}

impl WsClient {
    /// Upgrade (offering compression when `compress`) and read the INFO line.
    pub fn connect(addr: SocketAddr, compress: bool) -> (WsClient, serde_json::Value) {
        let ext = if compress {
            format!("Sec-WebSocket-Extensions: {DEFLATE_EXTENSION}\r\n")
        } else {
            String::new()
        };
        let (stream, head, rest) = http_exchange(addr, &upgrade_request(addr, &ext));
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        let agreed = head.to_ascii_lowercase().contains("permessage-deflate");
        assert_eq!(agreed, compress, "{head}");
        let mut c = WsClient {
            stream,
            decoder: Decoder::new(Role::Client, agreed),
            encoder: Encoder::new(Role::Client, agreed),
            input: rest,
            data: Vec::new(),
            pending: None,
        };
        let info = c.line();
        let json = info.strip_prefix("INFO ").expect("INFO first");
        (c, serde_json::from_str(json.trim()).unwrap())
    }

    /// Send raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Send NATS bytes as one binary message (compressed when agreed).
    pub fn send(&mut self, nats: &[u8]) {
        let mut out = Vec::new();
        self.encoder.message(nats, &mut out);
        self.raw(&out);
    }

    /// The next event from the server.
    pub fn event(&mut self, deadline: Instant) -> Event {
        if let Some(event) = self.pending.take() {
            return event;
        }
        loop {
            let mut out = Vec::new();
            let step = self
                .decoder
                .decode(&self.input, &mut out, usize::MAX)
                .expect("valid server frames");
            self.input.drain(..step.consumed);
            let control = match step.control {
                Some(Control::Close(code, reason)) => Some(Event::Close(code, reason)),
                Some(Control::Pong) => Some(Event::Pong),
                Some(Control::Ping(_)) | None => None,
            };
            if !out.is_empty() {
                self.pending = control;
                return Event::Data(out);
            }
            if let Some(event) = control {
                return event;
            }
            if step.consumed > 0 {
                continue;
            }
            let left = match time_left(deadline) {
                Ok(l) => l,
                Err(e) => panic!("{e} waiting for a frame"),
            };
            self.stream.set_read_timeout(Some(left)).unwrap();
            match read_some(&mut self.stream, &mut self.input) {
                Ok(()) => {}
                Err(e) if e == "connection closed" || e.starts_with("read error") => {
                    return Event::Eof
                }
                Err(e) => panic!("{e} waiting for a frame"),
            }
        }
    }

    /// The next NATS line (without `\r\n`).
    pub fn line(&mut self) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(line) = crate::util::take_line(&mut self.data) {
                return line;
            }
            match self.event(deadline) {
                Event::Data(d) => self.data.extend_from_slice(&d),
                other => panic!("wanted a line, got {other:?}"),
            }
        }
    }

    /// `n` NATS bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + IO_TIMEOUT;
        while self.data.len() < n {
            match self.event(deadline) {
                Event::Data(d) => self.data.extend_from_slice(&d),
                other => panic!("wanted data, got {other:?}"),
            }
        }
        self.data.drain(..n).collect()
    }

    /// Read until the server closes: the close frame (if one came) and the
    /// NATS lines before it.
    pub fn until_closed(
        &mut self,
        within: Duration,
    ) -> (Vec<String>, Option<(Option<u16>, String)>) {
        let deadline = Instant::now() + within;
        let mut close = None;
        loop {
            match self.event(deadline) {
                Event::Data(d) => self.data.extend_from_slice(&d),
                Event::Close(code, reason) => {
                    close = Some((code, reason));
                    self.raw(&frame(OP_CLOSE, true, &[]));
                }
                Event::Pong => {}
                Event::Eof => break,
            }
        }
        let mut lines = Vec::new();
        while let Some(l) = crate::util::take_line(&mut self.data) {
            lines.push(l);
        }
        (lines, close)
    }
}

/// A binary frame carrying `nats`.
pub fn binary(nats: &[u8]) -> Vec<u8> {
    frame(OP_BINARY, true, nats)
}
