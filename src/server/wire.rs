//! Socket writes for the outbound path: a write that never blocks, used by
//! whichever thread happens to own a client's write side, and a blocking
//! write for the client's writer thread.
//!
//! On unix the non-blocking write is `send(2)` with `MSG_DONTWAIT` on the
//! client's ordinary blocking socket, so the client's reader can keep
//! blocking in `read` on the same socket. Elsewhere there is no such flag:
//! the non-blocking write writes nothing and every flush goes through the
//! writer thread, which is correct, only slower.

use std::io::{self, Write};
use std::net::TcpStream;

/// Write as much of `buf` as the socket takes without blocking; returns how
/// much that was. `Ok(n < buf.len())` means the socket is full.
///
/// # Errors
///
/// The socket failed (peer reset, closed).
pub fn send_nonblocking(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut off = 0;
    while off < buf.len() {
        match send_dontwait(stream, &buf[off..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(off)
}

#[cfg(unix)]
fn send_dontwait(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = libc::MSG_DONTWAIT;
    // SAFETY: the pointer and length come from a live slice, and the fd is
    // owned by `stream` for the duration of the call.
    let n = unsafe { libc::send(stream.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(not(unix))]
fn send_dontwait(_stream: &TcpStream, _buf: &[u8]) -> io::Result<usize> {
    Err(io::ErrorKind::WouldBlock.into())
}

/// Write all of `buf`, blocking; a write timeout set on the socket bounds
/// each wait (`WouldBlock`/`TimedOut` then).
pub fn send_blocking(mut stream: &TcpStream, buf: &[u8]) -> io::Result<()> {
    stream.write_all(buf)
}
