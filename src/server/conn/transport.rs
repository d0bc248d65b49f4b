//! What lies between a connection's NATS bytes and its socket when that is
//! more than plain TCP: TLS, WebSocket framing (RFC 6455, with
//! permessage-deflate when agreed; `crate::protocol::websocket` is the
//! codec), or both (`wss://`). The core reads and writes through it at the
//! socket boundary and nowhere else:
//!
//! - [`Encoding`] is what each flush passes through on its way out
//!   (`outbound.rs`): framed as one binary WebSocket message (one frame
//!   per flush, not one per NATS message) and/or encrypted. A WebSocket
//!   connection's flushes are written directly, without blocking, by
//!   whichever thread owns the write side, as on a plain connection: what
//!   the socket does not take stays here, encoded, and goes out first
//!   (through the writer thread). The flushes of a TLS connection and of
//!   a compressing WebSocket connection all go through the writer thread.
//!   The encoding also holds the bytes the transport must send on its own:
//!   pongs, the WebSocket close frame (the last thing written, with the
//!   status nats-server uses for the close reason), and TLS records rustls
//!   queued.
//! - [`WsInbound`] is what the connection's own thread (`inbound.rs`)
//!   passes the bytes it read (decrypted first for `wss://`) through:
//!   frames are unmasked (and inflated) straight into the read buffer,
//!   fragments joined, control frames answered (ping with pong, close with
//!   the same status), violations closed with status 1002.
//!
//! So buffering, limits, the slow-consumer decision and deadlines are the
//! core's for WebSocket clients as for any other.

use std::io;
use std::sync::Arc;

use super::super::client::Client;
use super::super::close::CloseReason;
use super::inbound::ReadBuffer;
use crate::protocol::websocket::{
    Control, Decoder, Encoder, Role, Violation, CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL, CLOSE_NO_STATUS, CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG,
    OP_PONG,
};
use crate::server::tls;

/// How a connection's outgoing bytes are encoded for the socket.
pub struct Encoding {
    tls: Option<rustls::Connection>,
    ws: Option<WsOutbound>,
    /// Encoded bytes the socket did not take: they go out first.
    unsent: Vec<u8>,
    /// Reused for direct writes.
    scratch: Vec<u8>,
}

/// The WebSocket half of an [`Encoding`].
struct WsOutbound {
    encoder: Encoder,
    compression: bool,
    /// Control frames (pongs) to send with the next flush.
    controls: Vec<u8>,
    /// The close frame, queued: it goes out after the data of the flush.
    close: Option<Vec<u8>>,
    /// A close frame was queued: nothing is framed after it.
    closing: bool,
    /// A flush's frames before encryption (`wss://`).
    framed: Vec<u8>,
}

impl WsOutbound {
    /// Append `plain` as one binary message, after the queued control
    /// frames and before the close frame.
    fn frame(&mut self, plain: &[u8], out: &mut Vec<u8>) {
        out.append(&mut self.controls);
        if !plain.is_empty() && (!self.closing || self.close.is_some()) {
            self.encoder.message(plain, out);
        }
        if let Some(mut close) = self.close.take() {
            out.append(&mut close);
        }
    }
}

impl Encoding {
    /// TLS only (the client and route ports).
    pub fn tls(session: rustls::Connection) -> Encoding {
        Encoding {
            tls: Some(session),
            ws: None,
            unsent: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// WebSocket framing (the server's side), inside TLS for `wss://`.
    pub fn websocket(tls: Option<rustls::Connection>, compression: bool) -> Encoding {
        Encoding {
            tls,
            ws: Some(WsOutbound {
                encoder: Encoder::new(Role::Server, compression),
                compression,
                controls: Vec::new(),
                close: None,
                closing: false,
                framed: Vec::new(),
            }),
            unsent: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Flushes may be written directly by whichever thread owns the write
    /// side (WebSocket); otherwise they all go through the writer thread:
    /// TLS, and compressing WebSocket connections, whose compression is
    /// better spread over the destinations' writers than done in turn by
    /// a publisher (the deflate state is on the heap: flate2's zlib-rs
    /// backend, see Cargo.toml; the writer's small stack is enough).
    pub fn writes_directly(&self) -> bool {
        self.ws.as_ref().is_some_and(|ws| !ws.compression)
    }

    /// Encode `plain` (see [`Encoding::encode`]) into a reused buffer, for
    /// a direct write; hand it back with [`Encoding::sent`].
    ///
    /// # Errors
    ///
    /// The TLS session failed.
    pub fn encode_for_direct_write(&mut self, plain: &[u8]) -> io::Result<Vec<u8>> {
        let mut wire = std::mem::take(&mut self.scratch);
        wire.clear();
        self.encode(plain, &mut wire)?;
        Ok(wire)
    }

    /// A direct write of `wire` took its first `written` bytes: the rest
    /// goes out first next time.
    pub fn sent(&mut self, mut wire: Vec<u8>, written: usize) {
        if written < wire.len() {
            self.unsent.extend_from_slice(&wire[written..]);
        }
        wire.clear();
        if wire.capacity() <= 1024 * 1024 {
            self.scratch = wire;
        }
    }

    /// The TLS session, if there is one.
    pub fn tls_session(&mut self) -> Option<&mut rustls::Connection> {
        self.tls.as_mut()
    }

    /// Encode one flush, `plain` (possibly empty: then only what the
    /// transport has of its own), appending the wire bytes to `wire`.
    ///
    /// # Errors
    ///
    /// The TLS session failed.
    pub fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        wire.append(&mut self.unsent);
        match (&mut self.ws, &mut self.tls) {
            (None, None) => {
                wire.extend_from_slice(plain);
                Ok(())
            }
            (None, Some(session)) => tls::encrypt(session, plain, wire),
            (Some(ws), None) => {
                ws.frame(plain, wire);
                Ok(())
            }
            (Some(ws), Some(session)) => {
                let mut framed = std::mem::take(&mut ws.framed);
                framed.clear();
                ws.frame(plain, &mut framed);
                let result = tls::encrypt(session, &framed, wire);
                if framed.capacity() <= 1024 * 1024 {
                    ws.framed = framed;
                }
                result
            }
        }
    }

    /// The transport has bytes of its own to send (a pong, a close frame,
    /// TLS records).
    pub fn has_output(&self) -> bool {
        let ws = self
            .ws
            .as_ref()
            .is_some_and(|ws| !ws.controls.is_empty() || ws.close.is_some());
        ws || !self.unsent.is_empty() || self.tls.as_ref().is_some_and(|c| c.wants_write())
    }

    /// Queue a pong answering a ping's `payload` (WebSocket only).
    pub fn pong(&mut self, payload: &[u8]) {
        if let Some(ws) = &mut self.ws {
            if !ws.closing {
                let mut frame = std::mem::take(&mut ws.controls);
                ws.encoder.control(OP_PONG, payload, &mut frame);
                ws.controls = frame;
            }
        }
    }

    /// Queue the close frame, `code` and `reason`, after what is pending
    /// (WebSocket only; once).
    pub fn close_frame(&mut self, code: u16, reason: &str) {
        if let Some(ws) = &mut self.ws {
            if !ws.closing {
                let mut frame = Vec::with_capacity(4 + reason.len().min(123));
                ws.encoder.close(code, reason, &mut frame);
                ws.close = Some(frame);
                ws.closing = true;
            }
        }
    }

    /// The connection closes for `reason`: queue the close frame with the
    /// status nats-server sends for it (WebSocket only; once).
    pub fn goodbye(&mut self, reason: CloseReason) {
        if self.ws.is_some() {
            let (code, text) = close_status(reason);
            self.close_frame(code, &text);
        }
    }
}

/// The close status and text nats-server sends for a close reason.
pub fn close_status(reason: CloseReason) -> (u16, String) {
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

/// Size of a new (or shrunk) buffer of framed bytes: an idle WebSocket
/// client costs little.
const WS_RAW_MIN: usize = 1024;
/// Reads that fill the buffer of framed bytes double it up to this.
const WS_RAW_MAX: usize = 64 * 1024;
/// Consecutive short reads after which a large, empty buffer shrinks back.
const WS_SHRINK_AFTER_SHORT_READS: u32 = 16;

/// What [`WsInbound::decode`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsEvent {
    /// This many NATS bytes were added to the read buffer.
    Data(usize),
    /// Everything read is decoded: read more.
    NeedInput,
    /// The peer closed (its close frame is echoed) or broke the protocol
    /// (the connection is closed with 1002): the read side is over.
    Closed,
}

/// The WebSocket half of a connection's inbound side: the framed bytes read
/// and not yet decoded, and the frame decoder.
pub struct WsInbound {
    decoder: Decoder,
    /// Framed bytes: `raw[start..end]` are still to decode. Grows while
    /// reads fill it, shrinks back once they stay short (as the read buffer).
    raw: Vec<u8>,
    start: usize,
    end: usize,
    short_reads: u32,
}

impl WsInbound {
    /// After the upgrade: `leftover` is what came after the request head
    /// (the first frames); `compression` when permessage-deflate was agreed.
    pub fn new(compression: bool, mut leftover: Vec<u8>) -> WsInbound {
        let end = leftover.len();
        leftover.resize(end.max(WS_RAW_MIN), 0);
        WsInbound {
            decoder: Decoder::new(Role::Server, compression),
            raw: leftover,
            start: 0,
            end,
            short_reads: 0,
        }
    }

    /// Room to read framed bytes into (whole when everything was decoded).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.short_reads >= WS_SHRINK_AFTER_SHORT_READS && self.raw.len() > WS_RAW_MIN {
                self.raw = vec![0; WS_RAW_MIN];
                self.short_reads = 0;
            }
        } else if self.end == self.raw.len() {
            self.raw.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.raw[self.end..]
    }

    /// `n` bytes were read into [`WsInbound::spare`]: a read that filled
    /// it doubles the buffer (up to a limit), short ones let it shrink.
    pub fn filled(&mut self, n: usize) {
        let free = self.raw.len() - self.end;
        self.end += n;
        if n == free && self.raw.len() < WS_RAW_MAX {
            let grown = (self.raw.len() * 2).min(WS_RAW_MAX);
            self.raw.resize(grown, 0);
            self.short_reads = 0;
        } else if n < self.raw.len() / 4 {
            self.short_reads = self.short_reads.saturating_add(1);
        } else {
            self.short_reads = 0;
        }
    }

    /// The buffer of framed bytes' current size.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.raw.len()
    }

    /// Framed bytes that came from elsewhere (TLS plaintext).
    pub fn push(&mut self, bytes: &[u8]) {
        self.spare();
        let end = self.end + bytes.len();
        if end > self.raw.len() {
            self.raw.resize(end, 0);
        }
        self.raw[self.end..end].copy_from_slice(bytes);
        self.end = end;
        if bytes.len() < self.raw.len() / 4 {
            self.short_reads = self.short_reads.saturating_add(1);
        } else {
            self.short_reads = 0;
        }
    }

    /// Decode what was read into `buf` (no more than it has room for now),
    /// answering control frames through `client`'s outbound side.
    pub fn decode(&mut self, buf: &mut ReadBuffer, client: &Arc<Client>) -> WsEvent {
        loop {
            let input = &self.raw[self.start..self.end];
            let decoder = &mut self.decoder;
            let (step, added) = buf.fill_with(|out, limit| decoder.decode(input, out, limit));
            let step = match step {
                Ok(step) => step,
                Err(Violation(why)) => {
                    crate::debug!("{} - websocket protocol error: {why}", client.log_prefix());
                    client.with_encoding(|e| e.close_frame(CLOSE_PROTOCOL_ERROR, &why));
                    client.close(CloseReason::ProtocolViolation);
                    return WsEvent::Closed;
                }
            };
            self.start += step.consumed;
            match step.control {
                None if added > 0 => return WsEvent::Data(added),
                None => return WsEvent::NeedInput,
                Some(Control::Ping(payload)) => {
                    client.with_encoding(|e| e.pong(&payload));
                    client.kick_tls();
                }
                Some(Control::Pong) => {}
                Some(Control::Close(code, _)) => {
                    let code = code.unwrap_or(CLOSE_NO_STATUS);
                    client.with_encoding(|e| e.close_frame(code, ""));
                    return WsEvent::Closed;
                }
            }
            if added > 0 {
                return WsEvent::Data(added);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::websocket::{OP_BINARY, OP_CLOSE};

    /// Decode what a server-side encoding wrote, as a client would.
    fn client_view(wire: &[u8]) -> (Vec<u8>, Vec<Control>) {
        let mut d = Decoder::new(Role::Client, true);
        let (mut out, mut controls, mut off) = (Vec::new(), Vec::new(), 0);
        loop {
            let step = d.decode(&wire[off..], &mut out, usize::MAX).unwrap();
            off += step.consumed;
            match step.control {
                Some(c) => controls.push(c),
                None if off == wire.len() => return (out, controls),
                None => {}
            }
        }
    }

    #[test]
    fn one_frame_per_flush_pongs_first_and_the_close_frame_last() {
        let mut e = Encoding::websocket(None, false);
        assert!(e.writes_directly());
        let mut wire = Vec::new();
        e.encode(b"MSG a 1 2\r\nhi\r\nMSG a 1 2\r\nho\r\n", &mut wire)
            .unwrap();
        assert_eq!(wire[0], 0x80 | OP_BINARY, "one final binary frame");
        assert_eq!(usize::from(wire[1]), wire.len() - 2, "one frame");
        assert!(!e.has_output());
        e.pong(b"p");
        e.goodbye(CloseReason::MaxPayloadExceeded);
        assert!(e.has_output());
        let mut wire = Vec::new();
        e.encode(b"-ERR 'Maximum Payload Violation'\r\n", &mut wire)
            .unwrap();
        let (data, controls) = client_view(&wire);
        assert_eq!(data, b"-ERR 'Maximum Payload Violation'\r\n");
        assert_eq!(
            controls,
            vec![
                Control::Pong,
                Control::Close(
                    Some(CLOSE_TOO_BIG),
                    "Maximum Message Payload Exceeded".into()
                )
            ]
        );
        assert_eq!(wire.iter().filter(|&&b| b == 0x80 | OP_CLOSE).count(), 1);
        // After the close frame nothing more goes out, and only one close frame.
        e.goodbye(CloseReason::ClientClosed);
        let mut wire = Vec::new();
        e.encode(b"PING\r\n", &mut wire).unwrap();
        assert!(wire.is_empty());
        assert!(!e.has_output());
    }

    #[test]
    fn the_framed_bytes_buffer_grows_with_full_reads_and_shrinks_when_idle() {
        let mut ws = WsInbound::new(false, Vec::new());
        assert_eq!(ws.capacity(), WS_RAW_MIN);
        while ws.capacity() < WS_RAW_MAX {
            let n = ws.spare().len();
            ws.filled(n);
            ws.start = ws.end; // all decoded
        }
        assert_eq!(ws.capacity(), WS_RAW_MAX);
        for _ in 0..WS_SHRINK_AFTER_SHORT_READS {
            ws.spare();
            ws.filled(1);
            ws.start = ws.end;
        }
        assert_eq!(ws.spare().len(), WS_RAW_MIN);
    }

    #[test]
    fn compressed_flushes_round_trip() {
        let mut e = Encoding::websocket(None, true);
        assert!(!e.writes_directly(), "deflate runs on the writer's stack");
        let payload = b"MSG big 1 5\r\nhello\r\n".repeat(200);
        let mut wire = Vec::new();
        e.encode(&payload, &mut wire).unwrap();
        assert!(wire[0] & 0x40 != 0, "compressed");
        assert!(wire.len() < payload.len() / 4);
        let (data, _) = client_view(&wire);
        assert_eq!(data, payload);
    }
}
