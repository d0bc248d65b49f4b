//! A socket whose every read and write is bounded by one absolute
//! deadline: each call sets the socket's timeout to the time left, and
//! past the deadline a call fails with `TimedOut` at once. A peer that
//! trickles bytes (a dripped TLS handshake, a request head a byte at a
//! time, a reply read a little at a time, a leafnode hub's INFO dripped
//! byte by byte) cannot extend it.

use std::borrow::Borrow;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A TCP stream (owned, or borrowed with `S = &TcpStream`) bounded by
/// [`DeadlineStream::deadline`].
pub struct DeadlineStream<S = TcpStream> {
    socket: S,
    /// Every read and write must end before this instant.
    pub deadline: Instant,
}

impl<S: Borrow<TcpStream>> DeadlineStream<S> {
    /// Bound `socket` by `deadline`.
    pub fn new(socket: S, deadline: Instant) -> DeadlineStream<S> {
        DeadlineStream { socket, deadline }
    }

    /// The time left, or `TimedOut` when none is.
    fn left(&self) -> io::Result<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
    }
}

impl<S: Borrow<TcpStream>> Read for DeadlineStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut socket: &TcpStream = self.socket.borrow();
        socket.set_read_timeout(Some(self.left()?))?;
        socket.read(buf)
    }
}

impl<S: Borrow<TcpStream>> Write for DeadlineStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut socket: &TcpStream = self.socket.borrow();
        socket.set_write_timeout(Some(self.left()?))?;
        socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_trickle_does_not_extend_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            let mut peer = TcpStream::connect(addr).unwrap();
            for _ in 0..20 {
                if peer.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let (socket, _) = listener.accept().unwrap();
        let start = Instant::now();
        let mut s = DeadlineStream::new(socket, start + Duration::from_millis(300));
        let mut buf = [0u8; 8];
        let err = loop {
            match s.read(&mut buf) {
                Ok(0) => panic!("peer closed before the deadline"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "{:?}",
            start.elapsed()
        );
        assert!(matches!(
            err.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ));
        drop(s);
        writer.join().unwrap();
    }
}
