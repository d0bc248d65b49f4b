//! The reader thread of a connection: reads the socket (blocking, no lock,
//! see [`super::link`]), parses server ops with the shared protocol parser,
//! answers PINGs itself, and hands everything else to the connection's
//! owner over a bounded channel, in order, one batch per read.
//!
//! What waits for the owner is bounded in bytes ([`super::backlog`]): past
//! the limit, messages are dropped and counted, as an official client's
//! slow consumer. The channel is also bounded in batches (generously, so
//! that bytes are what counts); when it is full this thread stops reading
//! the socket, which pushes back on the server. What one read can add to
//! the buffer is bounded by the parser's limits (`max_control_line`,
//! `max_payload`).

use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::backlog::Backlog;
use super::error::{ClientError, ErrorKind};
use super::handshake::{is_timeout, snippet};
use super::link::{self, PingKind, ReadHalf, SharedLink};
use super::message::Message;
use super::url::ServerUrl;
use crate::protocol::encode;
use crate::protocol::headers::Headers;
use crate::protocol::info::ServerInfo;
use crate::protocol::parser::{parse_server_op, Limits, Parsed, ServerOp};

/// Batches the channel holds before the reader waits for the consumer
/// (the byte bound of the backlog usually comes first).
pub const CHANNEL_BATCHES: usize = 1024;
/// The same for a raw (`cat`) connection, whose bytes are never dropped:
/// a slow consumer pushes back on the server instead.
pub const RAW_CHANNEL_BATCHES: usize = 16;

/// One thing the server sent, in arrival order.
#[derive(Debug)]
pub enum Item {
    /// A message (MSG or HMSG).
    Msg(Message),
    /// Bytes for a raw (`cat`) connection, exactly as received.
    Raw(Vec<u8>),
    /// The PONG answering one of our flush PINGs.
    Pong,
    /// `-ERR '<text>'`.
    Err(String),
    /// An asynchronous INFO (cluster changes, lame duck mode).
    Info(Box<ServerInfo>),
}

/// What the reader thread (and the Ctrl-C handler) tells the connection.
#[derive(Debug)]
pub enum Signal {
    /// Items from one read of connection generation `gen`.
    Batch {
        /// The connection attempt these came from.
        gen: u64,
        /// What arrived.
        items: Vec<Item>,
    },
    /// The reader of generation `gen` stopped: the connection is gone.
    Closed {
        /// The connection attempt that ended.
        gen: u64,
        /// Why.
        error: ClientError,
    },
    /// Wake the owner up (an interrupt flag was set).
    Wake,
    /// Make the owner's wait return early (see `Waker`).
    Poke,
}

/// How the reader treats what it parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderMode {
    /// Parse into items; answer every PING.
    Client,
    /// Pass bytes through; answer PINGs only when asked to.
    Raw {
        /// `--pong`.
        answer_pings: bool,
    },
}

/// Everything the reader thread owns.
pub struct Reader {
    /// Connection generation, so late signals of an old connection are ignored.
    pub gen: u64,
    /// The socket's read side.
    pub read: ReadHalf,
    /// The write side, for PONGs and TLS.
    pub link: SharedLink,
    /// Plaintext received and not yet parsed.
    pub buf: Vec<u8>,
    /// Parser limits.
    pub limits: Limits,
    /// Client or raw.
    pub mode: ReaderMode,
    /// Where items go.
    pub tx: SyncSender<Signal>,
    /// The server, for error messages.
    pub url: ServerUrl,
    /// Bytes of messages waiting for the owner, and what was dropped.
    pub backlog: Arc<Backlog>,
}

impl Reader {
    /// Start the thread.
    ///
    /// # Errors
    ///
    /// The OS refused to create a thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("nats-reader".into())
            .spawn(move || {
                let mut me = self;
                let error = me.run();
                let _ = me.tx.send(Signal::Closed { gen: me.gen, error });
            })
    }

    fn run(&mut self) -> ClientError {
        let mut buf = std::mem::take(&mut self.buf);
        let mut passthrough = false;
        loop {
            let mut items = Vec::new();
            if passthrough {
                if !buf.is_empty() {
                    items.push(Item::Raw(std::mem::take(&mut buf)));
                }
            } else {
                let mut pos = 0;
                let mut raw = Vec::new();
                loop {
                    match parse_server_op(&buf[pos..], &self.limits) {
                        Ok(Parsed::Op(op, n)) => {
                            let bytes = &buf[pos..pos + n];
                            if let Err(e) = self.handle(op, bytes, &mut items, &mut raw) {
                                self.flush_items(items, raw);
                                return e;
                            }
                            pos += n;
                        }
                        Ok(Parsed::Incomplete(_)) => break,
                        Err(e) => {
                            if let ReaderMode::Raw { .. } = self.mode {
                                raw.extend_from_slice(&buf[pos..]);
                                pos = buf.len();
                                passthrough = true;
                                break;
                            }
                            let err = ClientError::new(
                                ErrorKind::Protocol,
                                format!(
                                    "{}: the server sent invalid protocol ({e}): {}",
                                    self.url,
                                    snippet(&buf[pos..])
                                ),
                            );
                            self.flush_items(items, raw);
                            return err;
                        }
                    }
                }
                if !raw.is_empty() {
                    items.push(Item::Raw(raw));
                }
                buf.drain(..pos);
            }
            if !items.is_empty()
                && self
                    .tx
                    .send(Signal::Batch {
                        gen: self.gen,
                        items,
                    })
                    .is_err()
            {
                return ClientError::new(ErrorKind::Closed, "connection closed");
            }
            match self.read.read_into(&self.link, &mut buf) {
                Ok(true) => {}
                Ok(false) => {
                    return ClientError::new(
                        ErrorKind::Closed,
                        format!("{} closed the connection", self.url),
                    )
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return ClientError::new(
                        ErrorKind::Tls,
                        format!("TLS error from {}: {e}", self.url),
                    )
                }
                Err(e) if is_timeout(&e) => {
                    return ClientError::new(
                        ErrorKind::Connect,
                        format!("reading from {} timed out", self.url),
                    )
                }
                Err(e) => {
                    return ClientError::new(
                        ErrorKind::Connect,
                        format!("connection to {} lost: {e}", self.url),
                    )
                }
            }
        }
    }

    /// Send what was gathered before an error, so nothing received is lost.
    fn flush_items(&self, mut items: Vec<Item>, raw: Vec<u8>) {
        if !raw.is_empty() {
            items.push(Item::Raw(raw));
        }
        if !items.is_empty() {
            let _ = self.tx.send(Signal::Batch {
                gen: self.gen,
                items,
            });
        }
    }

    fn handle(
        &self,
        op: ServerOp<'_>,
        bytes: &[u8],
        items: &mut Vec<Item>,
        raw: &mut Vec<u8>,
    ) -> Result<(), ClientError> {
        let lost = |e: std::io::Error| {
            ClientError::new(
                ErrorKind::Connect,
                format!("connection to {} lost: {e}", self.url),
            )
        };
        if let ReaderMode::Raw { answer_pings } = self.mode {
            if matches!(op, ServerOp::Ping) && answer_pings {
                link::lock(&self.link)
                    .write_all(encode::PONG)
                    .map_err(lost)?;
            }
            // Every PONG answers the oldest PING; ours (a flush) are not shown.
            let our_pong = matches!(op, ServerOp::Pong)
                && link::lock(&self.link).pong_received() == Some(PingKind::Flush);
            if our_pong {
                if !raw.is_empty() {
                    items.push(Item::Raw(std::mem::take(raw)));
                }
                items.push(Item::Pong);
                return Ok(());
            }
            raw.extend_from_slice(bytes);
            return Ok(());
        }
        match op {
            ServerOp::Msg {
                subject,
                sid,
                reply,
                headers,
                payload,
            } => {
                let sid = std::str::from_utf8(sid)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        ClientError::new(
                            ErrorKind::Protocol,
                            format!(
                                "{}: the server sent a message with a bad sid: {}",
                                self.url,
                                snippet(bytes)
                            ),
                        )
                    })?;
                let m = Message {
                    subject: String::from_utf8_lossy(subject).into_owned(),
                    sid,
                    reply: reply.map(|r| String::from_utf8_lossy(r).into_owned()),
                    headers: headers.map(|h| Headers::parse(h).unwrap_or_default()),
                    payload: payload.to_vec(),
                };
                if self.backlog.admit(&m) {
                    items.push(Item::Msg(m));
                }
            }
            ServerOp::Ping => link::lock(&self.link)
                .write_all(encode::PONG)
                .map_err(lost)?,
            ServerOp::Pong => {
                link::lock(&self.link).pong_received();
                items.push(Item::Pong);
            }
            ServerOp::Ok => {}
            ServerOp::Err(text) => {
                items.push(Item::Err(String::from_utf8_lossy(text).into_owned()))
            }
            ServerOp::Info(json) => {
                let info: ServerInfo = serde_json::from_slice(json).map_err(|e| {
                    ClientError::new(
                        ErrorKind::Protocol,
                        format!("{}: invalid INFO from the server ({e})", self.url),
                    )
                })?;
                items.push(Item::Info(Box::new(info)));
            }
        }
        Ok(())
    }
}
