//! The inbound side of a connection: the read buffer, reading into it
//! (plain, through TLS, through WebSocket framing, or both: see
//! `transport.rs`), and the parse loop that hands each complete op to the
//! connection's handler.
//!
//! The buffer starts small (an idle connection costs little) and doubles
//! while reads fill it, up to the kind's `max` (nats-server's read buffer
//! does the same). Memory is committed only as bytes arrive: a message
//! whose control line declares a large payload makes the buffer grow only
//! when reads fill it, never to the declared size up front, so a peer that
//! announces 64 MiB and sends nothing costs nothing. What a peer can make
//! the buffer hold is bounded by the parser's limits (control line plus
//! payload) and at most twice what it actually sent.
//!
//! Parsing is in place: [`parse_and_handle`] lends each op (slices of the
//! buffer) to the handler, so no byte is copied between the socket and the
//! per-destination staging.

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::super::client::{unix_nanos, Client};
use super::super::close::CloseReason;
use super::super::deliver::Batch;
use super::super::spin::SpinPoll;
use super::super::tls;
use super::transport::{WsEvent, WsInbound};
use crate::protocol::parser::{Limits, Parsed, ProtocolError};

/// Consecutive short reads after which a large, empty buffer shrinks back.
const SHRINK_AFTER_SHORT_READS: u32 = 16;
/// Raw read buffer of a TLS connection: one whole record and then some.
const TLS_READ_BUFFER: usize = 17 * 1024;

/// A connection's read buffer: bytes read and not yet parsed are
/// `buf[start..filled]`.
#[derive(Debug)]
pub struct ReadBuffer {
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// Size of a new (or shrunk) buffer.
    min: usize,
    /// Reads that fill the buffer double it up to this.
    max: usize,
    short_reads: u32,
    /// The last read filled the buffer: double it at the batch end.
    grow: bool,
    /// Total bytes (from `start`) the op being received needs, when known.
    want: usize,
}

impl ReadBuffer {
    /// An empty buffer of `min` bytes that grows to `max` while reads fill it.
    pub fn new(min: usize, max: usize) -> ReadBuffer {
        ReadBuffer {
            buf: vec![0; min],
            start: 0,
            filled: 0,
            min,
            max: max.max(min),
            short_reads: 0,
            grow: false,
            want: 0,
        }
    }

    /// The buffer's current size (what it commits).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Read but not yet parsed.
    #[cfg(test)]
    pub fn unparsed(&self) -> &[u8] {
        &self.buf[self.start..self.filled]
    }

    /// The first `n` unparsed bytes were used.
    #[cfg(test)]
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.filled);
    }

    /// The free part to read into. A full buffer first doubles (to no more
    /// than the op being received needs, when that is known): room is made
    /// only for bytes that are arriving.
    #[inline]
    pub fn spare(&mut self) -> &mut [u8] {
        if self.filled == self.buf.len() {
            self.compact();
        }
        if self.filled == self.buf.len() {
            let len = self.buf.len();
            let needed = self.start + self.want;
            let grown = if needed > len {
                (len * 2).min(needed)
            } else {
                len * 2
            };
            self.buf.resize(grown.max(self.min), 0);
        }
        &mut self.buf[self.filled..]
    }

    /// `n` bytes were read into [`ReadBuffer::spare`]; note whether reads
    /// fill the buffer (grow) or stay short (shrink when idle).
    #[inline]
    pub fn filled(&mut self, n: usize) {
        let free = self.buf.len() - self.filled;
        self.filled += n;
        if n == free {
            self.grow = self.buf.len() < self.max;
            self.short_reads = 0;
        } else if n < self.buf.len() / 4 {
            self.short_reads = self.short_reads.saturating_add(1);
        } else {
            self.short_reads = 0;
        }
    }

    /// Let `fill` append bytes (decoded WebSocket frames) to the buffer's
    /// filled part, given as a `Vec` that it may fill up to the length
    /// `limit` (what the buffer has room for now, grown as by a read that
    /// fills it). Returns what `fill` returned and how many bytes it added.
    pub fn fill_with<R>(&mut self, fill: impl FnOnce(&mut Vec<u8>, usize) -> R) -> (R, usize) {
        let room = self.spare().len();
        let size = self.buf.len();
        self.buf.truncate(self.filled);
        let result = fill(&mut self.buf, self.filled + room);
        let added = self.buf.len() - self.filled;
        debug_assert!(added <= room);
        self.buf.resize(size.max(self.buf.len()), 0);
        self.filled(added);
        (result, added)
    }

    /// Append bytes that came from elsewhere (TLS plaintext).
    pub fn append(&mut self, bytes: &[u8]) {
        let end = self.filled + bytes.len();
        if end > self.buf.len() {
            self.compact();
        }
        let end = self.filled + bytes.len();
        if end > self.buf.len() {
            self.buf.resize(end, 0);
        }
        self.buf[self.filled..end].copy_from_slice(bytes);
        self.filled = end;
    }

    /// The parser needs more bytes; `need` is the total length of the op
    /// being received when known. Nothing is reserved for it.
    pub fn incomplete(&mut self, need: Option<usize>) {
        self.want = need.unwrap_or(0);
        if self.start + self.want > self.buf.len() {
            self.compact();
        }
    }

    /// Move the unparsed tail to the front.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
    }

    /// After a batch: keep the unparsed tail at the front, double the buffer
    /// when the last read filled it, and shrink it back once reads have
    /// stayed short and nothing is buffered. True when it shrank.
    pub fn end_batch(&mut self) -> bool {
        self.compact();
        if self.grow {
            self.grow = false;
            let grown = (self.buf.len() * 2).min(self.max);
            if grown > self.buf.len() {
                self.buf.resize(grown, 0);
            }
        }
        let large = self.buf.len() > self.min;
        if self.filled == 0
            && large
            && (self.short_reads >= SHRINK_AFTER_SHORT_READS || self.buf.len() > self.max)
        {
            self.buf = vec![0; self.min];
            self.short_reads = 0;
            self.want = 0;
            return true;
        }
        false
    }
}

/// Reading a connection's bytes: from the socket (polling a busy one
/// briefly before blocking), through TLS once a session is installed, and
/// through WebSocket framing for a WebSocket client.
pub struct Inbound {
    /// The bytes read and not yet parsed.
    pub buf: ReadBuffer,
    spin: Option<SpinPoll>,
    /// TLS: ciphertext read from the socket (empty without TLS).
    tls_raw: Vec<u8>,
    /// TLS: decrypted bytes, reused between reads.
    tls_plain: Vec<u8>,
    /// Bytes already in the buffer that the next read reports at once
    /// (plaintext that came with the TLS handshake).
    ready: usize,
    /// WebSocket: the frame decoder and the framed bytes not yet decoded.
    ws: Option<Box<WsInbound>>,
}

impl Inbound {
    /// A connection's inbound side; `spin` polls a busy socket before
    /// blocking (see `spin.rs`).
    pub fn new(min: usize, max: usize, spin: bool) -> Inbound {
        Inbound {
            buf: ReadBuffer::new(min, max),
            spin: spin.then(SpinPoll::default),
            tls_raw: Vec::new(),
            tls_plain: Vec::new(),
            ready: 0,
            ws: None,
        }
    }

    /// The handshake is done: install `session` in the connection's shared
    /// half (its writer encrypts from now on) and decrypt what is read from
    /// now on; plaintext that came with the last handshake flight is
    /// reported by the next read.
    pub fn secure(&mut self, client: &Client, mut session: rustls::Connection) {
        let mut early = Vec::new();
        if tls::buffered_plaintext(&mut session, &mut early).is_err() {
            early.clear();
        }
        client.set_tls(session);
        self.tls_raw = vec![0; TLS_READ_BUFFER];
        if !early.is_empty() {
            self.buf.append(&early);
            self.ready = early.len();
        }
    }

    /// Read more bytes into the buffer; `Ok(0)` when the peer closed.
    pub fn read(&mut self, stream: &TcpStream, client: &Arc<Client>) -> io::Result<usize> {
        if self.ready > 0 {
            return Ok(std::mem::take(&mut self.ready));
        }
        if self.ws.is_some() {
            return self.read_websocket(stream, client);
        }
        if self.tls_raw.is_empty() {
            self.read_plain(stream)
        } else {
            self.read_tls(stream, client)
        }
    }

    #[inline]
    fn read_plain(&mut self, stream: &TcpStream) -> io::Result<usize> {
        let n = socket_read(self.spin.as_mut(), stream, self.buf.spare())?;
        self.buf.filled(n);
        Ok(n)
    }

    fn read_tls(&mut self, stream: &TcpStream, client: &Arc<Client>) -> io::Result<usize> {
        let n = tls_read(stream, client, &mut self.tls_raw, &mut self.tls_plain)?;
        if n > 0 {
            self.buf.append(&self.tls_plain);
        }
        Ok(n)
    }

    /// The connection is a WebSocket client from now on (its upgrade is
    /// done): install its outbound encoding (framing, inside `session` for
    /// `wss://`) in the connection's shared half and decode frames from now
    /// on, starting with `leftover` (what came after the request head).
    pub fn websocket(
        &mut self,
        client: &Client,
        session: Option<rustls::Connection>,
        compression: bool,
        leftover: Vec<u8>,
    ) {
        if session.is_some() {
            self.tls_raw = vec![0; TLS_READ_BUFFER];
        }
        client.set_websocket(session, compression);
        self.ws = Some(Box::new(WsInbound::new(compression, leftover)));
    }

    /// Decode frames already read; read (and decrypt) more when they are
    /// used up. `Ok(0)` when the peer closed (a close frame included).
    fn read_websocket(&mut self, stream: &TcpStream, client: &Arc<Client>) -> io::Result<usize> {
        let Some(ws) = self.ws.as_mut() else {
            return Ok(0);
        };
        loop {
            match ws.decode(&mut self.buf, client) {
                WsEvent::Data(n) => return Ok(n),
                WsEvent::Closed => return Ok(0),
                WsEvent::NeedInput => {}
            }
            let n = if self.tls_raw.is_empty() {
                let n = socket_read(self.spin.as_mut(), stream, ws.spare())?;
                ws.filled(n);
                n
            } else {
                let n = tls_read(stream, client, &mut self.tls_raw, &mut self.tls_plain)?;
                if n > 0 {
                    ws.push(&self.tls_plain);
                }
                n
            };
            if n == 0 {
                return Ok(0);
            }
        }
    }
}

/// One read from the socket into `spare`, polling a busy socket first
/// when `spin` is given.
#[inline]
fn socket_read(
    spin: Option<&mut SpinPoll>,
    stream: &TcpStream,
    spare: &mut [u8],
) -> io::Result<usize> {
    match spin {
        Some(spin) => match spin.try_read(stream, spare) {
            Some(polled) => polled,
            None => {
                let since = Instant::now();
                let n = (&*stream).read(spare)?;
                spin.note_blocking_read(since);
                Ok(n)
            }
        },
        None => (&*stream).read(spare),
    }
}

/// Read from the socket and decrypt until there is plaintext, left in
/// `plain`; returns its length, 0 when the peer closed.
fn tls_read(
    stream: &TcpStream,
    client: &Arc<Client>,
    raw_buf: &mut [u8],
    plain: &mut Vec<u8>,
) -> io::Result<usize> {
    loop {
        let n = (&*stream).read(raw_buf)?;
        if n == 0 {
            return Ok(0);
        }
        plain.clear();
        let raw = &raw_buf[..n];
        let decrypted = match client.with_tls(|conn| tls::decrypt(conn, raw, plain)) {
            Some(d) => d?,
            None => return Err(io::ErrorKind::NotConnected.into()),
        };
        if decrypted.wants_write {
            client.kick_tls();
        }
        if !plain.is_empty() {
            return Ok(plain.len());
        }
        if decrypted.closed {
            return Ok(0);
        }
    }
}

/// What a parser returns for one op.
pub type ParseResult<Op> = Result<Parsed<Op>, ProtocolError>;

/// What a kind of connection does with its ops: the parser it speaks and
/// the handling of each op. The read loop, the buffer, the error mapping
/// and the staging of replies are the core's.
pub trait OpHandler {
    /// One parsed op, borrowing the read buffer.
    type Op<'a>;

    /// The kind's parser: one op at the start of a buffer.
    const PARSE: for<'a> fn(&'a [u8], &Limits) -> ParseResult<Self::Op<'a>>;

    /// The parser's limits for this connection.
    fn limits(&self) -> &Limits;

    /// Handle one op; an error closes the connection.
    fn handle(&mut self, op: Self::Op<'_>) -> Result<(), CloseReason>;

    /// The peer must still authenticate (CONNECT first): a message line is
    /// then refused from its control line, its payload never awaited.
    fn awaiting_auth(&self) -> bool;

    /// A message's control line is in and its payload is not (and the peer
    /// is authenticated): refuse it now when it can never be accepted.
    fn check_partial(&mut self, _line: &[u8]) -> Result<(), CloseReason> {
        Ok(())
    }

    /// The connection's shared half and the batch its replies are staged in.
    fn staging(&mut self) -> (&Arc<Client>, &mut Batch);

    /// The connection's socket.
    fn stream(&self) -> &TcpStream;

    /// Log a refused input (`ProtocolError::BadArgs`, `PeerError`).
    fn log_protocol_error(&self, e: &ProtocolError);

    /// Before each read (a client releases its handshake's stack here).
    fn before_read(&mut self) {}

    /// Bytes arrived, before they are parsed (a client adopts reloaded
    /// permissions here).
    fn before_parse(&mut self) {}

    /// End of a read batch: hand every destination its bytes (see
    /// [`super::end_batch`]); `shrunk` says the read buffer went back to its
    /// idle size.
    fn end_batch(&mut self, shrunk: bool);

    /// Stage raw protocol bytes (PONG, +OK, INFO, -ERR) for the peer.
    fn push(&mut self, bytes: &[u8]) {
        let (client, batch) = self.staging();
        batch.push_proto(client, bytes);
    }

    /// Stage `-ERR '<text>'` for the peer.
    fn send_err(&mut self, text: &str) {
        let mut line = Vec::with_capacity(text.len() + 9);
        crate::protocol::encode::err(&mut line, text);
        let (client, batch) = self.staging();
        crate::trace!("{} - ->> [-ERR '{text}']", client.log_prefix());
        batch.push_proto(client, &line);
    }
}

/// A connection's read loop: read, parse and handle every complete op,
/// end the batch; until the peer closes, a read fails, a handler refuses
/// an op or the connection is closed from elsewhere.
#[inline(never)]
pub fn read_loop<H: OpHandler>(io: &mut Inbound, handler: &mut H) -> CloseReason {
    loop {
        let client = handler.staging().0.clone();
        if client.is_closed() {
            return CloseReason::ClientClosed;
        }
        handler.before_read();
        match io.read(handler.stream(), &client) {
            Ok(0) => return CloseReason::ClientClosed,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return CloseReason::ReadError,
        }
        client.touch(unix_nanos(SystemTime::now()));
        handler.before_parse();
        let outcome = parse_and_handle(&mut io.buf, handler);
        let shrunk = io.buf.end_batch();
        handler.end_batch(shrunk);
        if let Err(reason) = outcome {
            return reason;
        }
    }
}

/// Parse every complete op in the buffer and hand it to `handler`; the
/// unparsed tail stays for the next read. Never inlined into the read
/// loop: the frame an idle connection's thread sleeps under stays small
/// (its stack pages are what thousands of idle connections cost).
#[inline(never)]
pub fn parse_and_handle<H: OpHandler>(
    buf: &mut ReadBuffer,
    handler: &mut H,
) -> Result<(), CloseReason> {
    let need = {
        // The ops borrow the bytes while the parse position moves on.
        let bytes = &buf.buf;
        let filled = buf.filled;
        let start = &mut buf.start;
        loop {
            match H::PARSE(&bytes[*start..filled], handler.limits()) {
                Ok(Parsed::Op(op, used)) => {
                    let r = handler.handle(op);
                    *start += used;
                    r?;
                }
                Ok(Parsed::Incomplete(need)) => {
                    if need.is_some() {
                        if handler.awaiting_auth() {
                            handler.send_err("Authorization Violation");
                            return Err(CloseReason::AuthenticationViolation);
                        }
                        handler.check_partial(&bytes[*start..filled])?;
                    }
                    break need;
                }
                Err(e) => {
                    if let Some(text) = e.err_text() {
                        handler.send_err(text);
                    }
                    handler.log_protocol_error(&e);
                    return Err(close_reason(&e));
                }
            }
        }
    };
    buf.incomplete(need);
    Ok(())
}

/// Why a connection that sent `e` is closed.
pub fn close_reason(e: &ProtocolError) -> CloseReason {
    match e {
        ProtocolError::UnknownOp | ProtocolError::PeerError(_) => CloseReason::ParseError,
        ProtocolError::MaxControlLine => CloseReason::MaxControlLineExceeded,
        ProtocolError::MaxPayload => CloseReason::MaxPayloadExceeded,
        ProtocolError::BadArgs(_) => CloseReason::ProtocolViolation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parser::{parse_client_op, ClientOp};

    #[test]
    fn a_declared_payload_reserves_nothing() {
        let mut b = ReadBuffer::new(512, 64 * 1024);
        let line = b"PUB foo 67108864\r\n";
        b.spare()[..line.len()].copy_from_slice(line);
        b.filled(line.len());
        b.incomplete(Some(line.len() + 67_108_864 + 2));
        b.end_batch();
        assert_eq!(b.capacity(), 512);
        assert_eq!(b.unparsed(), line);
    }

    #[test]
    fn full_reads_double_up_to_what_the_op_needs() {
        let mut b = ReadBuffer::new(512, 64 * 1024);
        // A full read doubles the buffer at the batch end.
        let n = b.spare().len();
        b.filled(n);
        b.incomplete(Some(2000));
        b.end_batch();
        assert_eq!(b.capacity(), 1024);
        let n = b.spare().len();
        b.filled(n);
        // Full again, op needs 2000: the next room is capped at that.
        assert_eq!(b.spare().len(), 2000 - 1024);
        b.filled(2000 - 1024);
        assert_eq!(b.unparsed().len(), 2000);
    }

    #[test]
    fn growth_stops_at_max_and_idle_buffers_shrink() {
        let mut b = ReadBuffer::new(512, 2048);
        for _ in 0..4 {
            let n = b.spare().len();
            b.filled(n);
            let all = b.unparsed().len();
            b.consume(all);
            b.end_batch();
        }
        assert_eq!(b.capacity(), 2048);
        for _ in 0..SHRINK_AFTER_SHORT_READS {
            b.spare();
            b.filled(1);
            b.consume(1);
            b.end_batch();
        }
        assert_eq!(b.capacity(), 512);
    }

    #[test]
    fn the_tail_of_a_partial_op_moves_to_the_front() {
        let mut b = ReadBuffer::new(16, 64);
        b.append(b"PING\r\nPO");
        b.consume(6);
        b.end_batch();
        assert_eq!(b.unparsed(), b"PO");
        b.append(b"NG\r\n");
        assert_eq!(b.unparsed(), b"PONG\r\n");
    }

    /// A handler that records what it saw.
    struct Recorder {
        ops: Vec<String>,
        errs: Vec<String>,
        limits: Limits,
    }

    /// A connection's shared half over a loopback pair, for the handlers.
    fn test_client() -> (Arc<Client>, TcpStream, TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        let client = Arc::new(Client::new(
            1,
            Arc::new(b.try_clone().unwrap()),
            a.local_addr().unwrap(),
            Arc::new(crate::server::account::Account::new("$G")),
            1 << 20,
            std::time::Duration::from_secs(1),
            Arc::default(),
        ));
        (client, a, b)
    }

    impl OpHandler for Recorder {
        type Op<'a> = ClientOp<'a>;
        const PARSE: for<'a> fn(&'a [u8], &Limits) -> ParseResult<ClientOp<'a>> = parse_client_op;
        fn limits(&self) -> &Limits {
            &self.limits
        }
        fn awaiting_auth(&self) -> bool {
            false
        }
        fn handle(&mut self, op: ClientOp<'_>) -> Result<(), CloseReason> {
            self.ops.push(format!("{op:?}"));
            Ok(())
        }
        fn send_err(&mut self, text: &str) {
            self.errs.push(text.to_string());
        }
        fn staging(&mut self) -> (&Arc<Client>, &mut Batch) {
            unreachable!("the recorder stages nothing")
        }
        fn stream(&self) -> &TcpStream {
            unreachable!("the recorder reads nothing")
        }
        fn end_batch(&mut self, _shrunk: bool) {}
        fn log_protocol_error(&self, _e: &ProtocolError) {}
    }

    #[test]
    fn the_parse_loop_hands_over_whole_ops_and_maps_errors() {
        let mut h = Recorder {
            ops: Vec::new(),
            errs: Vec::new(),
            limits: Limits {
                max_control_line: 4096,
                max_payload: 8,
            },
        };
        let mut b = ReadBuffer::new(64, 1024);
        b.append(b"PING\r\nPUB a 2\r\nhi\r\nPUB a 5\r\nhe");
        assert_eq!(parse_and_handle(&mut b, &mut h), Ok(()));
        assert_eq!(h.ops.len(), 2);
        assert_eq!(b.unparsed(), b"PUB a 5\r\nhe");
        b.append(b"llo\r\nPUB a 9\r\n");
        assert_eq!(
            parse_and_handle(&mut b, &mut h),
            Err(CloseReason::MaxPayloadExceeded)
        );
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.errs, ["Maximum Payload Violation"]);
    }

    /// A handler that answers PINGs through the core's staging.
    struct Echo {
        client: Arc<Client>,
        stream: TcpStream,
        batch: Batch,
        limits: Limits,
        batches: usize,
    }

    impl OpHandler for Echo {
        type Op<'a> = ClientOp<'a>;
        const PARSE: for<'a> fn(&'a [u8], &Limits) -> ParseResult<ClientOp<'a>> = parse_client_op;
        fn limits(&self) -> &Limits {
            &self.limits
        }
        fn awaiting_auth(&self) -> bool {
            false
        }
        fn handle(&mut self, op: ClientOp<'_>) -> Result<(), CloseReason> {
            if op == ClientOp::Ping {
                self.push(b"PONG\r\n");
            }
            Ok(())
        }
        fn staging(&mut self) -> (&Arc<Client>, &mut Batch) {
            (&self.client, &mut self.batch)
        }
        fn stream(&self) -> &TcpStream {
            &self.stream
        }
        fn end_batch(&mut self, _shrunk: bool) {
            self.batch.flush();
            self.batches += 1;
        }
        fn log_protocol_error(&self, _e: &ProtocolError) {}
    }

    #[test]
    fn the_read_loop_answers_each_batch_and_ends_when_the_peer_closes() {
        use std::io::Write;
        let (client, mut peer, ours) = test_client();
        let mut h = Echo {
            client,
            stream: ours,
            batch: Batch::for_owner(1),
            limits: Limits {
                max_control_line: 4096,
                max_payload: 1024,
            },
            batches: 0,
        };
        peer.write_all(b"PING\r\nPING\r\nPI").unwrap();
        peer.write_all(b"NG\r\n").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        let mut io = Inbound::new(16, 64, false);
        assert_eq!(read_loop(&mut io, &mut h), CloseReason::ClientClosed);
        assert!(h.batches >= 1);
        let mut got = Vec::new();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        while got.len() < 18 {
            let mut buf = [0u8; 64];
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(got, b"PONG\r\nPONG\r\nPONG\r\n");
    }
}
