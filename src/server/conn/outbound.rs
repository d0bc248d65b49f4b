//! The outbound side of a connection: what any thread with bytes for it
//! (a publisher whose message it is, its own reader for PONG/+OK, the timer
//! thread for PING) hands over, and how those bytes reach the socket.
//!
//! # Who writes to a connection's socket
//!
//! One thread at a time owns the socket's write side (`State::flushing`).
//! When nobody owns it, the caller takes it and writes *without blocking*
//! (`MSG_DONTWAIT` on unix) outside the lock; bytes that arrive meanwhile
//! are queued in `pending` and written by the owner before it lets go. When
//! the socket is full, what is left goes to the connection's writer thread,
//! started the first time it is needed, which writes with blocking calls
//! bounded by `write_deadline`: each of its writes hands the socket all it
//! has room for, and only a full socket is waited on (a blocking write of
//! one chunk), so a backlog goes out in few large writes. The buffers a
//! backlog grew are kept while it lasts (they take turns as `pending`) and
//! given back once the connection is idle. So a publisher never blocks on a
//! subscriber's socket, no lock is held across a socket write, and a fast
//! consumer costs no thread hand-off at all. With an encoding
//! (`transport.rs`) each flush is encoded by whoever writes it: WebSocket
//! frames are written directly as above (what the socket does not take
//! waits, encoded, for the writer thread), TLS goes through the writer
//! thread, which encrypts in order.
//!
//! # Stalls and slow consumers
//!
//! A producer whose message finds a destination with more than the stall
//! threshold queued waits for that destination's writer (nats-server's
//! fast-producer stall), which paces a publisher to a consumer that is
//! slower but keeps reading. A producer whose bytes would take a
//! destination past `max_pending` waits for room as long as the
//! destination's writer keeps making progress ([`room_for`]): a consumer
//! that keeps reading is never cut off because the machine is busy and its
//! threads ran late. One that makes no progress for `write_deadline` is a
//! slow consumer and is closed (without `-ERR`, as nats-server), as is one
//! whose own writer is stuck past `write_deadline`. Callers that must not
//! wait (the timer thread, a connection's own replies) cut off at once.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::super::close::CloseReason;
use super::super::wire;
use super::transport::Encoding;

/// Stack size of a connection's writer thread: it only moves bytes.
const WRITER_STACK: usize = 64 * 1024;
/// The stall threshold is at most this (and half of max_pending).
const STALL_THRESHOLD_MAX: usize = 2 * 1024 * 1024;
/// A stalled producer gives up on a destination whose writer made no
/// progress for this long. TCP opens a reading consumer's window in large
/// steps, so a slow but live consumer can show no progress for tens of
/// milliseconds; this is long enough for that.
pub const STALL_NO_PROGRESS: Duration = Duration::from_millis(100);
/// Once a stall saw no progress, the destination is suspected stuck and
/// later stalls wait only this long until it makes progress again.
pub const STALL_SUSPECT: Duration = Duration::from_millis(5);
/// The most a producer is stalled in one read batch by consumers that do
/// keep reading (nats-server 2.9's longest stall).
pub const STALL_TOTAL: Duration = Duration::from_secs(1);
/// The writer thread writes in chunks this large and reports progress
/// after each, so waiting producers can tell slow from stuck.
const WRITER_CHUNK: usize = 32 * 1024;
/// How many rounds a flushing thread writes bytes that other threads queued
/// meanwhile before it hands the rest to the writer thread.
const MAX_FLUSH_ROUNDS: usize = 2;
/// The largest outbound buffer an idle connection keeps.
const IDLE_BUFFER_MAX: usize = 1024 * 1024;
/// A producer waiting for room looks again at least this often.
const ROOM_RECHECK: Duration = Duration::from_millis(50);

/// What a buffer that may have grown with a backlog keeps once the backlog
/// is gone: itself when small (no allocation next time), else nothing;
/// the second part is what to free (outside any lock).
fn idle_buffer(buf: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    if buf.capacity() > IDLE_BUFFER_MAX {
        (Vec::new(), buf)
    } else {
        (buf, Vec::new())
    }
}

/// The connection an [`Outbound`] belongs to: how to close it, and the
/// name of its writer thread.
pub trait Peer: Send + Sync + 'static {
    /// The connection's outbound side.
    fn outbound(&self) -> &Outbound;
    /// Close the connection for `reason`.
    fn close(&self, reason: CloseReason);
    /// The connection id (names the writer thread).
    fn id(&self) -> u64;
}

/// What to do with bytes for a destination that has `queued` bytes queued
/// or being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Take them.
    Take,
    /// Wait for the writer to make room.
    Wait,
    /// A slow consumer: close it.
    SlowConsumer,
}

/// The slow-consumer decision. Bytes that fit under `max_pending` are
/// taken. Otherwise a caller that `may_wait` waits while the destination's
/// writer keeps making progress: it is cut off only after no progress for
/// `patience` (its write deadline) while the caller waited
/// (`since_progress`), or when the bytes could never fit.
pub fn room_for(
    queued: usize,
    incoming: usize,
    max_pending: usize,
    may_wait: bool,
    since_progress: Duration,
    patience: Duration,
) -> Room {
    if queued + incoming <= max_pending {
        Room::Take
    } else if !may_wait || incoming > max_pending || queued == 0 || since_progress >= patience {
        Room::SlowConsumer
    } else {
        Room::Wait
    }
}

/// The stall decision: with `queued` bytes above `threshold` a producer
/// waits, giving up after `STALL_NO_PROGRESS` without progress (only
/// `STALL_SUSPECT` for a destination that already looked stuck).
pub fn stall_patience(suspect_stuck: bool) -> Duration {
    if suspect_stuck {
        STALL_SUSPECT
    } else {
        STALL_NO_PROGRESS
    }
}

/// Bytes waiting for the socket and who is writing them.
#[derive(Default)]
struct State {
    /// Bytes queued while another thread owns the socket's write side.
    pending: Vec<u8>,
    /// Bytes the writer thread has taken and is writing now.
    inflight: usize,
    /// Chunks the writer thread has written (stalled producers watch it).
    progress: u64,
    /// The last stall on this connection saw no progress.
    suspect_stuck: bool,
    /// Producers stalled in [`Outbound::wait_drained`].
    stalled: u32,
    /// How many times stalled producers were released (the backlog came
    /// down to the resume threshold with producers stalled).
    releases: u64,
    /// Producers waiting in [`Outbound::queue`] for room under max_pending.
    room_waiting: u32,
    /// A thread owns the socket's write side now.
    flushing: bool,
    /// The writer thread exists.
    writer_started: bool,
    /// The writer thread has bytes to write.
    writer_has_work: bool,
    /// Shut the socket down once what is pending is written (after a final `-ERR`).
    close_when_flushed: bool,
    /// Nothing more is written.
    closed: bool,
}

impl State {
    fn queued(&self) -> usize {
        self.pending.len() + self.inflight
    }
}

/// A connection's outbound side.
pub struct Outbound {
    /// The socket, shared with the connection's reader.
    stream: Arc<TcpStream>,
    /// The encoding (TLS once the handshake is done, WebSocket framing
    /// once the upgrade is done); none for plain TCP.
    encoding: OnceLock<Box<Mutex<Encoding>>>,
    /// Every write goes through the writer thread (the encoding is TLS).
    via_writer: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
    writer_wake: Condvar,
    /// Signalled when the writer takes or writes bytes (waiting producers watch it).
    drained: Condvar,
    max_pending: usize,
    write_deadline: Duration,
}

/// How [`Outbound::queue`] took bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Taken; true when the producer should stall ([`Outbound::wait_drained`]).
    Taken(bool),
    /// Dropped: the connection is closed or closing.
    Dropped,
    /// Over max_pending: the connection must be closed as a slow consumer.
    SlowConsumer,
}

impl Outbound {
    /// The outbound side of a connection on `stream`.
    pub fn new(stream: Arc<TcpStream>, max_pending: usize, write_deadline: Duration) -> Outbound {
        Outbound {
            stream,
            encoding: OnceLock::new(),
            via_writer: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new(State::default()),
            writer_wake: Condvar::new(),
            drained: Condvar::new(),
            max_pending,
            write_deadline,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes queued or being written and not yet taken by the socket.
    pub fn pending_bytes(&self) -> usize {
        self.state().queued()
    }

    fn stall_threshold(&self) -> usize {
        (self.max_pending / 2).min(STALL_THRESHOLD_MAX)
    }

    /// A stalled producer goes on once the backlog is down to this: half
    /// the stall threshold, so that producers stalled together are woken
    /// once per half threshold drained, not once per chunk written.
    fn resume_threshold(&self) -> usize {
        self.stall_threshold() / 2
    }

    /// Wake the producers waiting on this connection, if any wait for what
    /// just happened: room under max_pending (any progress may make it),
    /// or a backlog down to the resume threshold, which releases every
    /// stalled producer. Nobody waiting costs no wake-up call; a hundred
    /// stalled publishers are not woken for every chunk the writer writes.
    fn wake_waiters(&self, out: &mut State) {
        let release = out.stalled > 0 && out.queued() <= self.resume_threshold();
        if release {
            out.releases += 1;
        }
        if release || out.room_waiting > 0 {
            self.drained.notify_all();
        }
    }

    /// Install the encoding (TLS after the handshake, WebSocket framing
    /// after the upgrade); from now on every write goes through it.
    pub fn set_encoding(&self, encoding: Encoding) {
        let via_writer = !encoding.writes_directly();
        if self.encoding.set(Box::new(Mutex::new(encoding))).is_ok() {
            self.via_writer
                .store(via_writer, std::sync::atomic::Ordering::Release);
        }
    }

    /// Every write goes through the writer thread.
    fn via_writer(&self) -> bool {
        self.via_writer.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Write `buf` without blocking, through the encoding if there is one.
    /// Returns how much of `buf` is taken and whether the socket is full.
    /// With an encoding all of `buf` is taken: what the socket did not take
    /// waits, encoded, in the encoding.
    fn send_direct(&self, buf: &[u8]) -> io::Result<(usize, bool)> {
        let Some(encoding) = self.encoding.get() else {
            let n = wire::send_nonblocking(&self.stream, buf)?;
            return Ok((n, n < buf.len()));
        };
        let lock = || encoding.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = lock().encode_for_direct_write(buf)?;
        // Only the owner of the write side encodes: nothing can come in between.
        let written = wire::send_nonblocking(&self.stream, &bytes);
        let n = written.as_ref().map_or(0, |&n| n);
        let full = n < bytes.len();
        lock().sent(bytes, n);
        written?;
        Ok((buf.len(), full))
    }

    /// Run `f` on the encoding, if there is one (the reader queueing a pong).
    pub fn with_encoding<R>(&self, f: impl FnOnce(&mut Encoding) -> R) -> Option<R> {
        let encoding = self.encoding.get()?;
        let mut encoding = encoding.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(&mut encoding))
    }

    /// Run `f` on the TLS session (the reader decrypting).
    pub fn with_tls<R>(&self, f: impl FnOnce(&mut rustls::Connection) -> R) -> Option<R> {
        self.with_encoding(|e| e.tls_session().map(f)).flatten()
    }

    /// The encoding has bytes of its own to send.
    fn encoding_has_output(&self) -> bool {
        self.with_encoding(|e| e.has_output()).unwrap_or(false)
    }

    /// Hand `staged` (left empty, its allocation kept or swapped) to the
    /// connection: written now as far as the socket takes it, the rest
    /// queued for whoever owns the write side. With `may_wait`, bytes that
    /// would pass max_pending wait for room while the writer makes progress
    /// (see [`room_for`]).
    pub fn queue<P: Peer>(peer: &Arc<P>, staged: &mut Vec<u8>, may_wait: bool) -> Queued {
        let this = peer.outbound();
        let mut out = this.state();
        // While waiting for room: the writer's progress count last seen, and since when.
        let mut watch: Option<(u64, Instant)> = None;
        loop {
            if out.closed || out.close_when_flushed {
                staged.clear();
                return Queued::Dropped;
            }
            if out.queued() + staged.len() <= this.max_pending {
                break;
            }
            let since = match watch {
                Some((seen, _)) if seen != out.progress => {
                    watch = Some((out.progress, Instant::now()));
                    Duration::ZERO
                }
                Some((_, at)) => at.elapsed(),
                None => Duration::ZERO,
            };
            match room_for(
                out.queued(),
                staged.len(),
                this.max_pending,
                may_wait,
                since,
                this.write_deadline,
            ) {
                Room::Take => break,
                Room::SlowConsumer => {
                    staged.clear();
                    return Queued::SlowConsumer;
                }
                Room::Wait => {
                    if watch.is_none() {
                        watch = Some((out.progress, Instant::now()));
                    }
                    let left = this.write_deadline.saturating_sub(since);
                    out.room_waiting += 1;
                    out = this
                        .drained
                        .wait_timeout(out, left.min(ROOM_RECHECK))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    out.room_waiting -= 1;
                }
            }
        }
        if out.flushing || this.via_writer() {
            out.pending.extend_from_slice(staged);
            staged.clear();
            if !out.flushing {
                out.flushing = true;
                Self::start_writer(peer, &mut out);
            }
            return Queued::Taken(out.queued() > this.stall_threshold());
        }
        debug_assert!(out.pending.is_empty());
        out.flushing = true;
        drop(out);
        Self::write_as_owner(peer, staged);
        Queued::Taken(false)
    }

    /// Append `bytes` to what waits for the socket, without writing, for a
    /// caller that holds a lock no socket write may happen under. Returns
    /// `Ok(true)` when the caller now owns the write side and must call
    /// [`Outbound::kick`] once it has let go of its lock; `Err` when the
    /// connection must be closed as a slow consumer.
    pub fn append_deferred(&self, bytes: &[u8]) -> Result<bool, CloseReason> {
        let mut out = self.state();
        if out.closed || out.close_when_flushed {
            return Ok(false);
        }
        if out.queued() + bytes.len() > self.max_pending {
            return Err(CloseReason::SlowConsumerPendingBytes);
        }
        out.pending.extend_from_slice(bytes);
        if out.flushing {
            return Ok(false);
        }
        out.flushing = true;
        Ok(true)
    }

    /// Write what [`Outbound::append_deferred`] queued, as the owner of the
    /// write side it handed over.
    pub fn kick<P: Peer>(peer: &Arc<P>) {
        let this = peer.outbound();
        let mut out = this.state();
        if out.closed {
            out.flushing = false;
            return;
        }
        if this.via_writer() {
            Self::start_writer(peer, &mut out);
            return;
        }
        let mut buf = std::mem::take(&mut out.pending);
        drop(out);
        Self::write_as_owner(peer, &mut buf);
    }

    /// The encoding has bytes of its own to send (a TLS alert or key
    /// update, a WebSocket pong): have the writer send them.
    pub fn kick_tls<P: Peer>(peer: &Arc<P>) {
        let this = peer.outbound();
        let mut out = this.state();
        if out.closed || out.flushing {
            return;
        }
        out.flushing = true;
        if this.via_writer() {
            Self::start_writer(peer, &mut out);
            return;
        }
        let mut buf = std::mem::take(&mut out.pending);
        drop(out);
        Self::write_as_owner(peer, &mut buf);
    }

    /// Wait while this connection's writer works through a backlog above
    /// the stall threshold: until the backlog is down to the resume
    /// threshold, `deadline` passes, or the writer makes no progress for
    /// [`stall_patience`] (progress is read when the wait times out: the
    /// writer does not wake stalled producers for each chunk).
    ///
    /// Every producer stalled when the backlog reaches the resume threshold
    /// goes on, even if others refilled it before this one ran: the first
    /// few threads the scheduler happens to run would otherwise take every
    /// turn, and many publishers into one subscriber would not get fair
    /// shares. What they add is bounded (one batch each, under max_pending).
    pub fn wait_drained(&self, deadline: Instant) {
        let mut out = self.state();
        if out.queued() <= self.stall_threshold() {
            return;
        }
        let resume = self.resume_threshold();
        let mut watched = Instant::now();
        let mut seen = out.progress;
        let releases = out.releases;
        out.stalled += 1;
        while out.queued() > resume && out.releases == releases && !out.closed {
            let now = Instant::now();
            let give_up = deadline.min(watched + stall_patience(out.suspect_stuck));
            let Some(left) = give_up.checked_duration_since(now) else {
                // No progress for the whole patience window: stuck, or out of time.
                out.suspect_stuck = out.progress == seen;
                break;
            };
            out = self
                .drained
                .wait_timeout(out, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if out.progress != seen {
                seen = out.progress;
                watched = Instant::now();
                out.suspect_stuck = false;
            }
        }
        out.stalled -= 1;
    }

    /// Write `buf` and then whatever others queued, without blocking, as the
    /// owner of the write side. Leaves `buf` empty.
    fn write_as_owner<P: Peer>(peer: &Arc<P>, buf: &mut Vec<u8>) {
        let this = peer.outbound();
        for round in 0.. {
            let (written, full) = match this.send_direct(buf) {
                Ok(sent) => sent,
                Err(_) => {
                    buf.clear();
                    this.release_write_side();
                    peer.close(CloseReason::WriteError);
                    return;
                }
            };
            let mut out = this.state();
            this.wake_waiters(&mut out);
            if full || (round >= MAX_FLUSH_ROUNDS && !out.pending.is_empty()) {
                // The socket is full (or others keep queueing): the writer thread takes over.
                out.pending.splice(0..0, buf.drain(written..));
                buf.clear();
                Self::start_writer(peer, &mut out);
                return;
            }
            buf.clear();
            // Under the state lock, as in the writer: bytes the encoding
            // queued meanwhile (a pong) go out in another round.
            if out.pending.is_empty() && !this.encoding_has_output() {
                out.flushing = false;
                if out.close_when_flushed {
                    out.closed = true;
                    drop(out);
                    let _ = this.stream.shutdown(Shutdown::Both);
                }
                return;
            }
            std::mem::swap(buf, &mut out.pending);
        }
    }

    /// Give up the write side after a failed write.
    fn release_write_side(&self) {
        let mut out = self.state();
        out.flushing = false;
        out.pending = Vec::new();
    }

    /// Wake (or start) the writer thread; the caller keeps `flushing` set,
    /// which now belongs to the writer.
    fn start_writer<P: Peer>(peer: &Arc<P>, out: &mut State) {
        let this = peer.outbound();
        out.writer_has_work = true;
        if out.writer_started {
            this.writer_wake.notify_one();
            return;
        }
        out.writer_started = true;
        let owner = Arc::clone(peer);
        let spawned = std::thread::Builder::new()
            .name(format!("writer-{}", peer.id()))
            .stack_size(WRITER_STACK)
            .spawn(move || Self::writer_loop(&owner));
        if spawned.is_err() {
            // No thread to be had: treat it as a consumer we cannot serve.
            out.writer_started = false;
            out.closed = true;
            out.pending = Vec::new();
            this.drained.notify_all();
            let _ = this.stream.shutdown(Shutdown::Both);
        }
    }

    /// The writer thread: blocking writes bounded by `write_deadline`;
    /// with an encoding it also encodes (frames, encrypts), so what goes
    /// out stays in order.
    fn writer_loop<P: Peer>(peer: &Arc<P>) {
        let this = peer.outbound();
        if this
            .stream
            .set_write_timeout(Some(this.write_deadline))
            .is_err()
        {
            peer.close(CloseReason::WriteError);
        }
        let mut buf = Vec::new();
        let mut wire_buf = Vec::new();
        loop {
            {
                let mut out = this.state();
                while !out.writer_has_work && !out.closed {
                    out = this
                        .writer_wake
                        .wait(out)
                        .unwrap_or_else(|e| e.into_inner());
                }
                if out.closed {
                    return;
                }
                if out.pending.is_empty() && this.encoding.get().is_none() {
                    if this.writer_idle(out) {
                        return;
                    }
                    continue;
                }
                std::mem::swap(&mut buf, &mut out.pending);
                out.inflight = buf.len();
                this.wake_waiters(&mut out);
            }
            let bytes: &[u8] = match this.encoding.get() {
                Some(encoding) => {
                    wire_buf.clear();
                    let mut encoding = encoding.lock().unwrap_or_else(|e| e.into_inner());
                    if encoding.encode(&buf, &mut wire_buf).is_err() {
                        drop(encoding);
                        this.release_write_side();
                        peer.close(CloseReason::WriteError);
                        return;
                    }
                    &wire_buf
                }
                None => &buf,
            };
            let written = this.write_chunks(bytes);
            this.state().inflight = 0;
            if let Err(e) = written {
                let reason = match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        CloseReason::SlowConsumerWriteDeadline
                    }
                    _ => CloseReason::WriteError,
                };
                this.release_write_side();
                peer.close(reason);
                return;
            }
            buf.clear();
            let mut out = this.state();
            // Under the state lock: bytes the encoding queued meanwhile (a
            // pong) are seen here, or their producer sees the write side free.
            if out.pending.is_empty() && !this.encoding_has_output() {
                // The backlog is gone: give its large buffers back (freed
                // once the lock is released). While busy they are kept:
                // `pending` and `buf` take turns, and a buffer grown again
                // from nothing costs a page fault per page.
                let idle_pending = std::mem::take(&mut out.pending);
                let give_back = idle_buffer(idle_pending);
                out.pending = give_back.0;
                if this.writer_idle(out) {
                    return;
                }
                drop(give_back.1);
                buf = idle_buffer(buf).0;
                wire_buf = idle_buffer(wire_buf).0;
            }
        }
    }

    /// Write `bytes`, reporting progress after each write (what stalled
    /// producers wait for). Each write hands the socket all it has room
    /// for in one call; only a full socket is waited on, with a blocking
    /// write of at most [`WRITER_CHUNK`], which returns once there is room
    /// again (the kernel wakes a blocked writer when a large part of the
    /// send buffer is free, which the next non-blocking write then fills).
    fn write_chunks(&self, bytes: &[u8]) -> io::Result<()> {
        let mut off = 0;
        let mut full = false;
        while off < bytes.len() {
            let n = if full {
                let chunk = &bytes[off..bytes.len().min(off + WRITER_CHUNK)];
                wire::send_blocking(&self.stream, chunk)?;
                full = false;
                chunk.len()
            } else {
                let n = wire::send_nonblocking(&self.stream, &bytes[off..])?;
                full = off + n < bytes.len();
                n
            };
            off += n;
            if n == 0 {
                continue;
            }
            let mut out = self.state();
            out.inflight = out.inflight.saturating_sub(n);
            out.progress += 1;
            self.wake_waiters(&mut out);
            drop(out);
        }
        Ok(())
    }

    /// Nothing left to write: give up the write side (and shut the socket
    /// down if a close was waiting for this). True when the writer should exit.
    fn writer_idle(&self, mut out: MutexGuard<'_, State>) -> bool {
        out.writer_has_work = false;
        out.flushing = false;
        if out.close_when_flushed {
            out.closed = true;
            drop(out);
            let _ = self.stream.shutdown(Shutdown::Both);
            return true;
        }
        false
    }

    /// The connection is closing: unless the reason is a write problem,
    /// bytes already queued (a final `-ERR`, the encoding's last words such
    /// as a WebSocket close frame) are still written and the socket is shut
    /// down after them; otherwise at once, which ends the reader's blocking
    /// read.
    pub fn close(&self, write_problem: bool) {
        let mut out = self.state();
        if out.flushing && !write_problem {
            out.close_when_flushed = true;
            return;
        }
        if !write_problem && !out.closed && self.encoding_has_output() {
            // Nobody owns the write side: take it for the last words,
            // written without blocking (they are small).
            out.flushing = true;
            out.close_when_flushed = true;
            drop(out);
            let mut wire = Vec::new();
            if let Some(Ok(())) = self.with_encoding(|e| e.encode(&[], &mut wire)) {
                let _ = wire::send_nonblocking(&self.stream, &wire);
            }
            out = self.state();
        }
        out.closed = true;
        out.pending = Vec::new();
        self.wake_for_close(&out);
        drop(out);
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// The connection is closed (`out.closed`): wake its writer thread and
    /// the producers waiting on it, if there are any. Each notify is a
    /// system call even with nobody waiting, and most connections never
    /// start a writer or make a producer wait.
    fn wake_for_close(&self, out: &State) {
        if out.writer_started {
            self.writer_wake.notify_all();
        }
        if out.stalled > 0 || out.room_waiting > 0 {
            self.drained.notify_all();
        }
    }

    /// Close a connection whose writes are stuck in a close-when-flushed
    /// state for too long (used at server shutdown).
    pub fn force_shutdown(&self) {
        let mut out = self.state();
        out.closed = true;
        out.pending = Vec::new();
        self.wake_for_close(&out);
        drop(out);
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU8, Ordering};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn bytes_that_fit_are_taken() {
        assert_eq!(room_for(0, 100, 100, false, MS, MS), Room::Take);
        assert_eq!(room_for(60, 40, 100, false, MS, MS), Room::Take);
    }

    #[test]
    fn a_reader_making_progress_is_waited_for_not_cut_off() {
        let deadline = Duration::from_secs(10);
        // Late by a whole second on a busy machine: still waited for.
        assert_eq!(
            room_for(90, 20, 100, true, Duration::from_secs(1), deadline),
            Room::Wait
        );
        // No progress for the whole write deadline: a slow consumer.
        assert_eq!(
            room_for(90, 20, 100, true, deadline, deadline),
            Room::SlowConsumer
        );
    }

    #[test]
    fn callers_that_cannot_wait_and_impossible_sizes_cut_off() {
        assert_eq!(
            room_for(90, 20, 100, false, MS, MS * 100),
            Room::SlowConsumer
        );
        assert_eq!(
            room_for(0, 101, 100, true, MS, MS * 100),
            Room::SlowConsumer
        );
    }

    #[test]
    fn a_suspect_destination_gets_less_patience() {
        assert!(stall_patience(true) < stall_patience(false));
        assert_eq!(stall_patience(false), STALL_NO_PROGRESS);
    }

    /// A peer over one end of a loopback pair.
    struct TestPeer {
        out: Outbound,
        closed: AtomicU8,
    }

    impl Peer for TestPeer {
        fn outbound(&self) -> &Outbound {
            &self.out
        }
        fn close(&self, reason: CloseReason) {
            self.closed.store(1 + reason as u8, Ordering::Relaxed);
            self.out.close(reason.is_write_problem());
        }
        fn id(&self) -> u64 {
            7
        }
    }

    fn pair(max_pending: usize, deadline: Duration) -> (Arc<TestPeer>, std::net::TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        let peer = Arc::new(TestPeer {
            out: Outbound::new(Arc::new(b), max_pending, deadline),
            closed: AtomicU8::new(0),
        });
        (peer, a)
    }

    #[test]
    fn a_direct_write_reaches_the_socket_and_leaves_nothing_pending() {
        let (peer, mut reader) = pair(1024, Duration::from_secs(1));
        let mut staged = b"PONG\r\n".to_vec();
        assert_eq!(
            Outbound::queue(&peer, &mut staged, false),
            Queued::Taken(false)
        );
        assert!(staged.is_empty());
        let mut got = [0u8; 6];
        reader
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        reader.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"PONG\r\n");
        assert_eq!(peer.out.pending_bytes(), 0);
    }

    #[test]
    fn websocket_frames_stay_whole_when_the_socket_fills_mid_frame() {
        use crate::protocol::websocket::{Decoder, Role};
        let (peer, mut reader) = pair(64 << 20, Duration::from_secs(10));
        peer.out
            .set_encoding(super::super::transport::Encoding::websocket(None, false));
        // Flushes queued while nobody reads: the socket fills in the middle
        // of a frame and the writer thread takes over from there.
        let mut want = Vec::new();
        for i in 0..200u32 {
            let mut staged = vec![(i % 251) as u8; 64 * 1024 + i as usize];
            want.extend_from_slice(&staged);
            assert_ne!(
                Outbound::queue(&peer, &mut staged, false),
                Queued::SlowConsumer
            );
        }
        reader
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut decoder = Decoder::new(Role::Client, false);
        let (mut got, mut raw) = (Vec::new(), vec![0u8; 1 << 16]);
        while got.len() < want.len() {
            let n = reader.read(&mut raw).unwrap();
            assert!(n > 0, "closed after {} bytes", got.len());
            let mut off = 0;
            while off < n {
                let step = decoder.decode(&raw[off..n], &mut got, usize::MAX).unwrap();
                assert!(step.control.is_none());
                off += step.consumed;
            }
        }
        assert!(got == want, "the stream differs");
        assert_eq!(peer.closed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn an_idle_connection_keeps_small_buffers_and_gives_large_ones_back() {
        let (kept, freed) = idle_buffer(Vec::with_capacity(64 * 1024));
        assert_eq!((kept.capacity() >= 64 * 1024, freed.capacity()), (true, 0));
        let (kept, freed) = idle_buffer(Vec::with_capacity(IDLE_BUFFER_MAX + 1));
        assert_eq!(kept.capacity(), 0);
        assert!(freed.capacity() > IDLE_BUFFER_MAX);
    }

    #[test]
    fn a_backlog_reaches_a_late_reader_whole_and_in_order_then_its_buffers_go() {
        let (peer, mut reader) = pair(64 << 20, Duration::from_secs(10));
        // Far more than the socket holds: the writer thread takes over and
        // writes in large non-blocking writes and blocking waits for room.
        let mut want = Vec::new();
        for i in 0..64u32 {
            let mut staged: Vec<u8> = (0..128 * 1024u32)
                .map(|j| (i.wrapping_mul(31) ^ j) as u8)
                .collect();
            want.extend_from_slice(&staged);
            assert!(matches!(
                Outbound::queue(&peer, &mut staged, true),
                Queued::Taken(_)
            ));
        }
        reader
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = vec![0u8; want.len()];
        reader.read_exact(&mut got).unwrap();
        assert!(got == want, "the stream differs");
        // Once the writer is idle, the backlog's buffers are given back.
        let started = Instant::now();
        loop {
            let out = peer.out.state();
            if !out.flushing && out.pending.capacity() <= IDLE_BUFFER_MAX {
                break;
            }
            drop(out);
            assert!(started.elapsed() < Duration::from_secs(10), "still busy");
            std::thread::yield_now();
        }
        assert_eq!(peer.closed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_consumer_that_never_reads_is_cut_off_at_the_write_deadline() {
        let deadline = Duration::from_millis(300);
        let (peer, _reader) = pair(64 * 1024, deadline);
        let started = Instant::now();
        let mut cut = false;
        while started.elapsed() < Duration::from_secs(10) {
            let mut staged = vec![b'x'; 16 * 1024];
            match Outbound::queue(&peer, &mut staged, true) {
                Queued::SlowConsumer => {
                    peer.close(CloseReason::SlowConsumerPendingBytes);
                    cut = true;
                    break;
                }
                Queued::Dropped => {
                    cut = true;
                    break;
                }
                Queued::Taken(_) => {}
            }
        }
        assert!(cut, "never cut off");
        assert!(
            started.elapsed() >= deadline / 2,
            "cut off after {:?}, before the write deadline",
            started.elapsed()
        );
        assert!(peer.out.pending_bytes() <= 64 * 1024);
    }
}
