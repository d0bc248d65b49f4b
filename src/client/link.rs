//! The socket of one connection, plain or TLS, split so that one thread can
//! block reading while others write.
//!
//! rustls is not full duplex: reading and writing both need `&mut` on the
//! `ClientConnection` (rustls issue 288). Holding a lock across a blocking
//! read would stall every writer (the mistake STYLE.md section 6 warns
//! about), so the read side works like nats.rs' blocking connector:
//!
//! - [`ReadHalf`] owns a `try_clone` of the `TcpStream` and blocks reading
//!   raw bytes from it *without* any lock;
//! - it then locks the shared [`Link`] only to hand those bytes to rustls
//!   (`read_tls`, `process_new_packets`), take the plaintext out, and send
//!   whatever rustls wants to send back;
//! - writers lock the [`Link`], encrypt and write, and unlock.
//!
//! A plain TCP connection takes the same path without rustls, so the read
//! side never locks at all. Over WebSocket (`ws://`, `wss://`) the link
//! wraps each write in one masked binary frame and the read side unwraps
//! frames (answering pings) before the NATS parser sees the bytes. The link also keeps the order of the PINGs
//! written on it, so that a PONG can be matched to whoever sent its PING.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::ClientConnection;

use crate::protocol::encode;
use crate::protocol::websocket::{Control, Decoder, Encoder, Role, OP_PONG};

/// Bytes read from the socket in one call.
pub const READ_CHUNK: usize = 64 * 1024;

/// Who sent a PING, so that its PONG goes back to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingKind {
    /// The client, waiting in `flush` (the PONG is consumed).
    Flush,
    /// Raw bytes a user piped through `cat` (the PONG is shown).
    User,
}

/// The write side of a connection and rustls' state, behind one lock.
pub struct Link {
    tcp: TcpStream,
    tls: Option<Box<ClientConnection>>,
    pings: VecDeque<PingKind>,
    /// WebSocket framing, once the upgrade is done.
    ws: Option<Box<Encoder>>,
    frame: Vec<u8>,
}

/// A link shared between the reader thread and writers.
pub type SharedLink = Arc<Mutex<Link>>;

/// Lock a link; a panic in another thread while holding it leaves nothing
/// half-done that matters here, so a poisoned lock is used as it is.
pub fn lock(link: &SharedLink) -> MutexGuard<'_, Link> {
    link.lock().unwrap_or_else(|e| e.into_inner())
}

impl Link {
    /// A link over `tcp`, with the rustls state when TLS is on.
    pub fn new(tcp: TcpStream, tls: Option<Box<ClientConnection>>) -> Link {
        Link {
            tcp,
            tls,
            pings: VecDeque::new(),
            ws: None,
            frame: Vec::new(),
        }
    }

    /// Frame every later write as a WebSocket binary message.
    pub fn enable_websocket(&mut self) {
        self.ws = Some(Box::new(Encoder::new(Role::Client, false)));
    }

    /// The socket (for timeouts and handles before a TLS upgrade).
    pub fn socket(&self) -> &TcpStream {
        &self.tcp
    }

    /// Whether the link is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Write all of `data` (encrypting it under TLS).
    ///
    /// # Errors
    ///
    /// The socket's write error (or timeout).
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let Some(ws) = self.ws.as_mut() else {
            return self.write_raw(data);
        };
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        ws.message(data, &mut frame);
        let written = self.write_raw(&frame);
        if frame.capacity() > READ_CHUNK {
            frame = Vec::new();
        }
        self.frame = frame;
        written
    }

    /// Answer a WebSocket ping.
    fn write_pong(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut frame = Vec::new();
        if let Some(ws) = self.ws.as_mut() {
            ws.control(OP_PONG, payload, &mut frame);
        }
        self.write_raw(&frame)
    }

    /// Write `data` as it is (no WebSocket framing), encrypted under TLS.
    ///
    /// # Errors
    ///
    /// The socket's write error (or timeout).
    pub fn write_raw(&mut self, mut data: &[u8]) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else {
            return self.tcp.write_all(data);
        };
        while !data.is_empty() {
            let n = tls.writer().write(data)?;
            data = &data[n..];
            let mut wrote = false;
            while tls.wants_write() {
                tls.write_tls(&mut self.tcp)?;
                wrote = true;
            }
            if n == 0 && !wrote {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "TLS buffer full"));
            }
        }
        Ok(())
    }

    /// Write `PING` and remember who is waiting for its PONG.
    pub fn send_ping(&mut self, kind: PingKind) -> io::Result<()> {
        self.pings.push_back(kind);
        self.write_all(encode::PING)
    }

    /// Remember that `n` PINGs inside raw user data are about to be written.
    pub fn expect_user_pongs(&mut self, n: usize) {
        self.pings.extend((0..n).map(|_| PingKind::User));
    }

    /// Who the PONG that just arrived answers (`None`: nobody we know of).
    pub fn pong_received(&mut self) -> Option<PingKind> {
        self.pings.pop_front()
    }

    /// Close both directions, which also wakes a reader blocked on the socket.
    pub fn shutdown(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
            let _ = tls.write_tls(&mut self.tcp);
        }
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}

/// The read side: a clone of the socket that only the reading thread uses.
pub struct ReadHalf {
    tcp: TcpStream,
    raw: Vec<u8>,
    tls: bool,
    /// WebSocket decoding, once the upgrade is done: the decoder and the
    /// transport bytes not decoded yet.
    ws: Option<Box<(Decoder, Vec<u8>)>>,
    /// A WebSocket close frame came (after the bytes already handed out).
    ws_closed: bool,
}

impl ReadHalf {
    /// The read side of `tcp` (a clone of the link's socket).
    pub fn new(tcp: TcpStream, tls: bool) -> ReadHalf {
        ReadHalf {
            tcp,
            raw: if tls { vec![0; READ_CHUNK] } else { Vec::new() },
            tls,
            ws: None,
            ws_closed: false,
        }
    }

    /// Unwrap WebSocket frames from now on; `early` are transport bytes
    /// that came with the upgrade response.
    pub fn enable_websocket(&mut self, early: Vec<u8>) {
        self.ws = Some(Box::new((Decoder::new(Role::Client, false), early)));
    }

    /// The socket (to set timeouts).
    pub fn socket(&self) -> &TcpStream {
        &self.tcp
    }

    /// Block for one read and append the plaintext that arrived to `buf`.
    /// Returns `false` at the end of the stream (TCP EOF or TLS close_notify).
    ///
    /// # Errors
    ///
    /// Socket errors, timeouts (`WouldBlock`/`TimedOut`) and TLS errors
    /// (`InvalidData`).
    pub fn read_into(&mut self, link: &SharedLink, buf: &mut Vec<u8>) -> io::Result<bool> {
        let Some(mut ws) = self.ws.take() else {
            return self.read_transport(link, buf);
        };
        let result = self.read_websocket(link, &mut ws, buf);
        self.ws = Some(ws);
        result
    }

    /// Decode frames until NATS bytes arrive, a close frame ends the stream,
    /// or the transport does.
    fn read_websocket(
        &mut self,
        link: &SharedLink,
        ws: &mut (Decoder, Vec<u8>),
        buf: &mut Vec<u8>,
    ) -> io::Result<bool> {
        let (decoder, input) = ws;
        if self.ws_closed {
            return Ok(false);
        }
        loop {
            let before = buf.len();
            let step = decoder
                .decode(input, buf, before + 4 * READ_CHUNK)
                .map_err(|v| io::Error::other(format!("websocket: {}", v.0)))?;
            input.drain(..step.consumed);
            match step.control {
                Some(Control::Ping(payload)) => lock(link).write_pong(&payload)?,
                Some(Control::Close(..)) => {
                    // What came before the close (a final -ERR) still counts.
                    self.ws_closed = true;
                    return Ok(buf.len() > before);
                }
                Some(Control::Pong) | None => {}
            }
            if buf.len() > before {
                return Ok(true);
            }
            if step.consumed == 0 && !self.read_transport(link, input)? {
                return Ok(false);
            }
        }
    }

    /// One read of the transport (TCP or TLS), plaintext appended to `buf`.
    fn read_transport(&mut self, link: &SharedLink, buf: &mut Vec<u8>) -> io::Result<bool> {
        if !self.tls {
            let old = buf.len();
            buf.resize(old + READ_CHUNK, 0);
            let n = self.tcp.read(&mut buf[old..]);
            buf.truncate(old + *n.as_ref().unwrap_or(&0));
            return n.map(|n| n > 0);
        }
        let n = self.tcp.read(&mut self.raw)?;
        if n == 0 {
            return Ok(false);
        }
        let mut guard = lock(link);
        let link = &mut *guard;
        let Some(tls) = link.tls.as_mut() else {
            return Err(io::Error::other("TLS state missing"));
        };
        let open = feed_tls(tls, &self.raw[..n], buf)?;
        while tls.wants_write() {
            tls.write_tls(&mut link.tcp)?;
        }
        Ok(open)
    }
}

/// Give received TLS bytes to rustls and move the plaintext into `out`.
/// Returns `false` once the peer has sent close_notify.
pub fn feed_tls(
    tls: &mut ClientConnection,
    mut data: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut open = true;
    while !data.is_empty() && open {
        if tls.read_tls(&mut data)? == 0 {
            break;
        }
        tls.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        open = drain_plaintext(tls, out)?;
    }
    Ok(open)
}

/// Move the plaintext rustls holds into `out`; `false` after close_notify.
pub fn drain_plaintext(tls: &mut ClientConnection, out: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match tls.reader().read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(k) => out.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) => return Err(e),
        }
    }
}
