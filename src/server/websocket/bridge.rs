//! Moving bytes between a WebSocket and the client connection code.
//!
//! The client connection code gets one end of a loopback TCP pair and sees
//! a plain NATS byte stream. The inbound pump reads the WebSocket, decodes
//! frames (answering pings, echoing a close) and writes the NATS bytes to
//! the pair; the outbound pump reads what the server writes to the pair and
//! sends each read as one binary message. Both are bounded: the inbound
//! pump hands on at most [`INBOUND_CHUNK`] decoded bytes at a time and
//! blocks while the server is busy, the outbound pump's writes are bounded
//! by `write_deadline`, and the pair's socket buffers carry the server's
//! slow-consumer accounting as on any client socket. When the connection
//! ends, the client gets a close frame with the status nats-server uses for
//! the reason, and every thread and socket of the connection is gone.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::handshake::Upgraded;
use super::socket::{WsSocket, RAW_READ};
use super::{Via, STACK};
use crate::protocol::websocket::{
    Control, Decoder, Encoder, Role, Violation, CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL, CLOSE_NO_STATUS, CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG,
    OP_PONG,
};
use crate::server::close::CloseReason;
use crate::server::Server;

/// Decoded bytes handed to the server per write.
const INBOUND_CHUNK: usize = 64 * 1024;
/// Server bytes framed per WebSocket message.
const OUTBOUND_CHUNK: usize = 64 * 1024;
/// How long the close handshake may take once the connection is over.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The write side of the WebSocket, shared by both pumps.
struct Writer {
    encoder: Encoder,
    frame: Vec<u8>,
    /// A close frame went out: nothing more is sent.
    closed: bool,
}

impl Writer {
    fn message(&mut self, socket: &WsSocket, payload: &[u8]) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.frame.clear();
        self.encoder.message(payload, &mut self.frame);
        socket.write_all(&self.frame)
    }

    fn control(&mut self, socket: &WsSocket, opcode: u8, payload: &[u8]) {
        if self.closed {
            return;
        }
        self.frame.clear();
        self.encoder.control(opcode, payload, &mut self.frame);
        let _ = socket.write_all(&self.frame);
    }

    fn close(&mut self, socket: &WsSocket, code: u16, reason: &str) {
        if self.closed {
            return;
        }
        self.frame.clear();
        self.encoder.close(code, reason, &mut self.frame);
        let _ = socket.write_all(&self.frame);
        self.closed = true;
    }
}

/// Serve an upgraded WebSocket until it closes.
pub fn run(
    server: Arc<Server>,
    socket: WsSocket,
    up: Upgraded,
    via: Via,
    write_deadline: Duration,
) {
    let socket = Arc::new(socket);
    let Ok((inner, outer)) = loopback_pair() else {
        socket.shutdown();
        return;
    };
    let outer = Arc::new(outer);
    socket.set_write_timeout(Some(write_deadline));
    let writer = Arc::new(Mutex::new(Writer {
        encoder: Encoder::new(Role::Server, up.compression),
        frame: Vec::new(),
        closed: false,
    }));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let inbound = {
        let (socket, outer, writer) = (socket.clone(), outer.clone(), writer.clone());
        let (leftover, compression) = (up.leftover, up.compression);
        std::thread::Builder::new()
            .name("ws-in".into())
            .stack_size(STACK)
            .spawn(move || {
                inbound(&socket, &outer, &writer, leftover, compression);
                drop(done_tx);
            })
    };
    let (reason_tx, reason_rx) = mpsc::channel();
    let outbound = {
        let (socket, outer, writer) = (socket.clone(), outer.clone(), writer.clone());
        std::thread::Builder::new()
            .name("ws-out".into())
            .stack_size(STACK)
            .spawn(move || outbound(&socket, &outer, &writer, &reason_rx))
    };
    let (Ok(inbound), Ok(outbound)) = (inbound, outbound) else {
        socket.shutdown();
        let _ = outer.shutdown(Shutdown::Both);
        return;
    };
    let reason = super::super::connection::serve_via(server, inner, Some(via));
    let _ = reason_tx.send(reason);
    let _ = outbound.join();
    // Let the client answer the close frame, briefly; then cut it off.
    let _ = done_rx.recv_timeout(CLOSE_LINGER);
    socket.shutdown();
    let _ = inbound.join();
}

/// Two connected loopback sockets: (the server's end, the pumps' end).
fn loopback_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let outer = TcpStream::connect(listener.local_addr()?)?;
    loop {
        let (inner, from) = listener.accept()?;
        if from == outer.local_addr()? {
            let _ = inner.set_nodelay(true);
            let _ = outer.set_nodelay(true);
            return Ok((inner, outer));
        }
    }
}

fn lock(writer: &Mutex<Writer>) -> std::sync::MutexGuard<'_, Writer> {
    writer.lock().unwrap_or_else(|e| e.into_inner())
}

/// WebSocket to server: decode frames, write the NATS bytes to the pair.
fn inbound(
    socket: &WsSocket,
    outer: &TcpStream,
    writer: &Mutex<Writer>,
    mut input: Vec<u8>,
    compression: bool,
) {
    let mut decoder = Decoder::new(Role::Server, compression);
    let mut raw = vec![0u8; RAW_READ];
    let mut out = Vec::new();
    'read: loop {
        let mut off = 0;
        loop {
            out.clear();
            let step = match decoder.decode(&input[off..], &mut out, INBOUND_CHUNK) {
                Ok(step) => step,
                Err(Violation(why)) => {
                    lock(writer).close(socket, CLOSE_PROTOCOL_ERROR, &why);
                    break 'read;
                }
            };
            off += step.consumed;
            if !out.is_empty() && (&*outer).write_all(&out).is_err() {
                break 'read;
            }
            match step.control {
                Some(Control::Ping(payload)) => lock(writer).control(socket, OP_PONG, &payload),
                Some(Control::Pong) => {}
                Some(Control::Close(code, _)) => {
                    let code = code.unwrap_or(CLOSE_NO_STATUS);
                    lock(writer).close(socket, code, "");
                    break 'read;
                }
                None if out.is_empty() => break,
                None => {}
            }
        }
        input.drain(..off);
        if input.capacity() > 4 * RAW_READ {
            input.shrink_to(RAW_READ);
        }
        match socket.read(&mut raw, &mut input) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
    }
    // The server sees the client go away (its read ends).
    let _ = outer.shutdown(Shutdown::Both);
}

/// Server to WebSocket: each read of the pair becomes one binary message;
/// at the end, a close frame for the reason the server closed.
fn outbound(
    socket: &WsSocket,
    outer: &TcpStream,
    writer: &Mutex<Writer>,
    reason: &mpsc::Receiver<CloseReason>,
) {
    let mut buf = vec![0u8; OUTBOUND_CHUNK];
    loop {
        let n = match (&*outer).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if lock(writer).message(socket, &buf[..n]).is_err() {
            // The client does not take its bytes: the server's write fails next.
            socket.shutdown();
            let _ = outer.shutdown(Shutdown::Both);
            return;
        }
    }
    let reason = reason.recv_timeout(CLOSE_LINGER).ok();
    let (code, text) = close_status(reason);
    lock(writer).close(socket, code, &text);
}

/// The close status and text nats-server sends for a close reason.
fn close_status(reason: Option<CloseReason>) -> (u16, String) {
    let Some(reason) = reason else {
        return (CLOSE_GOING_AWAY, String::new());
    };
    let code = match reason {
        CloseReason::ClientClosed => CLOSE_NORMAL,
        CloseReason::AuthenticationTimeout
        | CloseReason::AuthenticationViolation
        | CloseReason::AuthenticationExpired
        | CloseReason::SlowConsumerPendingBytes
        | CloseReason::SlowConsumerWriteDeadline
        | CloseReason::MaxConnectionsExceeded
        | CloseReason::MaxControlLineExceeded => CLOSE_POLICY_VIOLATION,
        CloseReason::ParseError
        | CloseReason::ProtocolViolation
        | CloseReason::BadClientProtocolVersion => CLOSE_PROTOCOL_ERROR,
        CloseReason::MaxPayloadExceeded => CLOSE_TOO_BIG,
        CloseReason::ServerShutdown => CLOSE_GOING_AWAY,
        _ => CLOSE_INTERNAL_ERROR,
    };
    (code, reason.to_string())
}
