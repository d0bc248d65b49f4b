//! Polling a busy connection's socket briefly before blocking on it.
//!
//! On a request/reply exchange every hop ends with a thread blocking in
//! `read` and being woken for the next message; on a virtual machine that
//! wake-up (an IPI or a halted vCPU) costs more than the rest of the hop.
//! A connection whose data has lately come back quickly (a blocking read
//! that waited less than [`HOT_GAP`], or a poll that found data) first polls
//! with a non-blocking `recv`, yielding the CPU between tries, for at most
//! [`SPIN_WINDOW`]; only then does it block. This is what Go's scheduler
//! does for nats-server (spinning Ms before parking). The CPU it costs is
//! bounded: at most one thread per two CPUs polls at once, a poll that
//! comes up empty makes the connection cold until a read is quick again,
//! and `sched_yield` gives the CPU to any runnable thread. Unix only;
//! elsewhere reads simply block.

use std::io;
use std::net::TcpStream;
#[cfg(unix)]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a hot connection polls before it blocks. Measured with the
/// request/reply scenarios (f, h) of the side-by-side benchmark (README,
/// Performance) on a 2-vCPU VM: 20 to 150 µs all took h's p50 from ~100 µs
/// to ~30 µs; longer windows only cost CPU.
#[cfg(unix)]
pub const SPIN_WINDOW: Duration = Duration::from_micros(30);

/// A blocking read that waited less than this makes the connection hot.
pub const HOT_GAP: Duration = Duration::from_micros(200);

/// How many threads may poll at the same time, process-wide: half the
/// CPUs, at least one (Go lets half its Ps spin). On the 2-vCPU bench
/// machine one poller gave the same latency as two at a fifth less CPU in
/// scenario f.
#[cfg(unix)]
fn max_spinners() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        (cpus / 2).max(1)
    })
}

#[cfg(unix)]
static SPINNERS: AtomicUsize = AtomicUsize::new(0);

#[cfg(unix)]
use std::os::unix::io::RawFd;

/// One non-blocking `recv`: `None` when nothing is there yet.
#[cfg(unix)]
fn recv_now(fd: RawFd, buf: &mut [u8]) -> Option<io::Result<usize>> {
    // SAFETY: recv writes at most buf.len() bytes into buf.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n >= 0 {
        return Some(Ok(n as usize));
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => None,
        _ => Some(Err(e)),
    }
}

/// One connection's polling state.
#[derive(Debug, Default)]
pub struct SpinPoll {
    hot: bool,
}

impl SpinPoll {
    /// Read into `buf` without blocking for up to [`SPIN_WINDOW`] when the
    /// connection is hot; `None` when it is cold, the spinners are all
    /// busy, or nothing came (then the caller blocks as usual). Bytes that
    /// are already there are taken at once, without a poller slot, so a
    /// busy publisher's reads touch no shared state.
    #[cfg(unix)]
    pub fn try_read(&mut self, stream: &TcpStream, buf: &mut [u8]) -> Option<io::Result<usize>> {
        use std::os::unix::io::AsRawFd;
        if !self.hot || buf.is_empty() {
            return None;
        }
        let fd = stream.as_raw_fd();
        if let Some(got) = recv_now(fd, buf) {
            return Some(got);
        }
        if SPINNERS.fetch_add(1, Ordering::Acquire) >= max_spinners() {
            SPINNERS.fetch_sub(1, Ordering::Release);
            return None;
        }
        let got = self.poll_window(fd, buf);
        SPINNERS.fetch_sub(1, Ordering::Release);
        got
    }

    /// Poll for up to [`SPIN_WINDOW`], yielding between tries; a window
    /// that passes empty makes the connection cold.
    #[cfg(unix)]
    fn poll_window(&mut self, fd: RawFd, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let deadline = Instant::now() + SPIN_WINDOW;
        loop {
            if let Some(got) = recv_now(fd, buf) {
                return Some(got);
            }
            if Instant::now() >= deadline {
                self.hot = false;
                return None;
            }
            std::thread::yield_now();
        }
    }

    /// Without non-blocking `recv`, never poll.
    #[cfg(not(unix))]
    pub fn try_read(&mut self, _stream: &TcpStream, _buf: &mut [u8]) -> Option<io::Result<usize>> {
        None
    }

    /// A blocking read that started at `since` returned: quick ones make
    /// the connection hot, slow ones cold.
    pub fn note_blocking_read(&mut self, since: Instant) {
        self.hot = since.elapsed() < HOT_GAP;
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::os::unix::io::AsRawFd;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    #[test]
    fn cold_connections_do_not_poll() {
        let (mut a, b) = pair();
        a.write_all(b"PING\r\n").unwrap();
        let mut spin = SpinPoll::default();
        let mut buf = [0u8; 16];
        assert!(spin.try_read(&b, &mut buf).is_none());
    }

    #[test]
    fn a_hot_connection_reads_what_is_there_and_cools_when_nothing_comes() {
        let (mut a, b) = pair();
        let mut spin = SpinPoll::default();
        spin.note_blocking_read(Instant::now());
        a.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 16];
        // The bytes may take a moment to cross loopback: poll until they do.
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while got == 0 && Instant::now() < deadline {
            if let Some(r) = spin.poll_window(b.as_raw_fd(), &mut buf) {
                got = r.unwrap();
            }
        }
        assert_eq!(&buf[..got], b"PING\r\n");
        // Nothing more to read: the window passes, and the connection is cold.
        spin.hot = true;
        let started = Instant::now();
        assert!(spin.poll_window(b.as_raw_fd(), &mut buf).is_none());
        assert!(started.elapsed() >= SPIN_WINDOW);
        assert!(!spin.hot);
    }

    #[test]
    fn a_slow_blocking_read_cools_the_connection() {
        let mut spin = SpinPoll::default();
        spin.note_blocking_read(Instant::now());
        assert!(spin.hot);
        spin.note_blocking_read(Instant::now() - HOT_GAP * 2);
        assert!(!spin.hot);
    }
}
