//! Helpers shared by the integration tests: start a server process on a free
//! port (ours, or the real nats-server when installed), talk raw protocol to
//! it with deadlines, and stop it by its pid.
//!
//! Servers are started with `-a 127.0.0.1 -p -1`; the port is learnt from
//! the `Listening for client connections on HOST:PORT` log line, which
//! nats-server and nats-lite both print. Nothing sleeps to synchronise: every
//! wait is a read with a deadline.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How long a server may take to say it is listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Default deadline for one expected protocol exchange.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connection threads nats-lite keeps parked for reuse after their
/// connections end (its listener's `warm` threads; any more exit within
/// 2 s): what a thread count may stay above its baseline once a burst of
/// connections is over.
pub const PARKED_CONNECTION_THREADS: u64 = 8;

/// True when `NATS_TEST_REFERENCE` selects the real nats-server.
pub fn is_reference() -> bool {
    std::env::var_os("NATS_TEST_REFERENCE").is_some()
}

/// For a test of nats-lite-only behaviour (something the reference does
/// differently or not at all): returns true, after saying so on stderr, when
/// the reference is selected, so the test can `return` early.
pub fn skip_under_reference(why: &str) -> bool {
    if is_reference() {
        eprintln!("skipped under NATS_TEST_REFERENCE: {why}");
        return true;
    }
    false
}

/// True when the environment variable `CI` is set (to anything but empty,
/// `0` or `false`), as `.ci/run` sets it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// For a test whose peer (a program, an interpreter, a package) is
/// missing: under `CI` this fails the test, since CI must install every
/// peer and no test may pass there by skipping; elsewhere it says so on
/// stderr, and the caller returns early. The one place that decides.
pub fn skip_missing_peer(what: &str) {
    assert!(
        !in_ci(),
        "{what}: missing, and CI is set (.ci/run must install it)"
    );
    eprintln!("skipped: {what} (missing here; under CI=true this fails)");
}

/// The real nats-server, or `None` after [`skip_missing_peer`] (which
/// fails under `CI`).
pub fn nats_server_or_skip() -> Option<PathBuf> {
    let bin = nats_server_bin();
    if bin.is_none() {
        skip_missing_peer("nats-server (the reference server)");
    }
    bin
}

/// The nats-lite binary built for these tests.
pub fn nats_lite_bin() -> PathBuf {
    // `NATS_LITE_BIN` names another build (to run the client matrix
    // against it, say).
    match std::env::var_os("NATS_LITE_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_nats-lite")),
    }
}

/// The real nats-server, when installed (CI installs it); `None` otherwise.
pub fn nats_server_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        return Some(PathBuf::from(p));
    }
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join("nats-server");
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// A running server process, killed (by its own pid) when dropped.
pub struct ServerProcess {
    child: Child,
    /// The executable that was started.
    pub bin: PathBuf,
    /// Address of the client listener.
    pub addr: SocketAddr,
    /// Log lines the server printed so far (read in the background).
    log: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Directories (config files...) that must live as long as the server.
    dirs: Vec<TempDir>,
    /// Tells the log-file tailing thread to end.
    stop: Arc<AtomicBool>,
}

impl ServerProcess {
    /// Start `nats-lite server` with extra arguments, on a free loopback port.
    pub fn start(extra: &[&str]) -> ServerProcess {
        let mut cmd = Command::new(nats_lite_bin());
        cmd.arg("server");
        Self::spawn(cmd, extra)
    }

    /// Start the real nats-server with extra arguments, when installed.
    pub fn start_reference(extra: &[&str]) -> Option<ServerProcess> {
        nats_server_bin().map(|bin| Self::spawn(Command::new(bin), extra))
    }

    /// Start a server through `cmd` (a wrapper such as `bash -c 'ulimit
    /// -n 40; exec "$0" server "$@"' nats-lite`), which gets the usual
    /// `-a 127.0.0.1 -p -1` and `extra` appended.
    pub fn start_command(cmd: Command, extra: &[&str]) -> ServerProcess {
        Self::spawn(cmd, extra)
    }

    /// Start whichever server `NATS_TEST_REFERENCE=1` selects: the real
    /// nats-server then (to check a test's expectations against the
    /// reference), nats-lite otherwise.
    pub fn start_selected(extra: &[&str]) -> ServerProcess {
        if is_reference() {
            Self::start_reference(extra).expect("NATS_TEST_REFERENCE set but no nats-server")
        } else {
            Self::start(extra)
        }
    }

    /// Like [`start_selected`](Self::start_selected) with a config file
    /// holding `config` (a JSON object is a valid nats-server config),
    /// passed as `-c FILE` before `extra`.
    pub fn start_selected_with_config(config: &str, extra: &[&str]) -> ServerProcess {
        let dir = TempDir::new("conf");
        let file = dir.path().join("server.conf");
        std::fs::write(&file, config).unwrap();
        let file = file.to_str().unwrap().to_string();
        let mut args = vec!["-c", file.as_str()];
        args.extend_from_slice(extra);
        let mut server = Self::start_selected(&args);
        server.dirs.push(dir);
        server
    }

    /// Like [`start_selected`](Self::start_selected) without the default
    /// `-a 127.0.0.1 -p -1`: `args` (or the config file they name) must
    /// choose a loopback address and a free port.
    pub fn start_selected_bare(args: &[&str]) -> ServerProcess {
        let cmd = if is_reference() {
            Command::new(nats_server_bin().expect("NATS_TEST_REFERENCE set but no nats-server"))
        } else {
            let mut cmd = Command::new(nats_lite_bin());
            cmd.arg("server");
            cmd
        };
        Self::spawn_with(cmd, &[], args)
    }

    fn spawn(cmd: Command, extra: &[&str]) -> ServerProcess {
        Self::spawn_with(cmd, &["-a", "127.0.0.1", "-p", "-1"], extra)
    }

    fn spawn_with(mut cmd: Command, defaults: &[&str], extra: &[&str]) -> ServerProcess {
        let bin = PathBuf::from(cmd.get_program());
        cmd.args(defaults).args(extra);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // With `-l FILE` the log goes to the file, not stderr: tail it.
        let log_file = extra
            .windows(2)
            .find(|w| matches!(w[0], "-l" | "--log" | "--log_file"))
            .map(|w| PathBuf::from(w[1]));
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(file) = log_file {
            let tx = tx.clone();
            let stop = stop.clone();
            std::thread::spawn(move || tail_file(&file, tx, stop));
        }
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = ServerProcess {
            child,
            bin,
            addr: "127.0.0.1:0".parse().unwrap(),
            log: rx,
            seen: Vec::new(),
            dirs: Vec::new(),
            stop,
        };
        let line = server
            .wait_for_log("Listening for client connections on", START_TIMEOUT)
            .unwrap_or_else(|| {
                panic!("server did not start; its log:\n{}", server.seen.join("\n"))
            });
        let addr = line.rsplit(' ').next().unwrap();
        server.addr = addr
            .parse()
            .unwrap_or_else(|_| panic!("bad address in {line:?}"));
        server
    }

    /// Wait until a log line containing `needle` appears; returns it.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Like [`wait_for_log`](Self::wait_for_log), counting only the lines
    /// after the first `mark` (a `log_lines().len()` taken earlier).
    pub fn wait_for_log_since(
        &mut self,
        mark: usize,
        needle: &str,
        timeout: Duration,
    ) -> Option<String> {
        let from = mark.min(self.seen.len());
        if let Some(l) = self.seen[from..].iter().find(|l| l.contains(needle)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Every log line read so far (draining what has arrived).
    pub fn log_lines(&mut self) -> Vec<String> {
        while let Ok(line) = self.log.try_recv() {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    /// Every log line until the server's stderr closes (after it exited),
    /// or until `timeout`.
    pub fn log_until_exit(&mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => return self.seen.clone(),
            }
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Send SIGTERM (unix) and wait up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        #[cfg(unix)]
        unsafe_kill(self.child.id(), "TERM");
        #[cfg(not(unix))]
        let _ = self.child.kill();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Open a raw client connection.
    pub fn connect(&self) -> RawClient {
        RawClient::connect(self.addr)
    }

    /// Open a raw connection, send `CONNECT {connect}` and wait for the PONG
    /// of a PING (so the server has processed the CONNECT).
    pub fn client(&self, connect: &str) -> RawClient {
        let mut c = self.connect();
        c.handshake(connect);
        c
    }

    /// The file name of the executable (`nats-server` or `nats-lite`), as
    /// used in `<exe>_<pid>.ports`.
    pub fn exe_name(&self) -> String {
        self.bin.file_name().unwrap().to_string_lossy().into_owned()
    }

    /// Wait up to `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Send the lines appended to `file` (created later, maybe) to `tx`, until
/// `stop` is set (when the server is dropped) or the receiver is gone.
fn tail_file(file: &Path, tx: mpsc::Sender<String>, stop: Arc<AtomicBool>) {
    let mut offset = 0usize;
    let mut partial = String::new();
    loop {
        if let Ok(bytes) = std::fs::read(file) {
            if bytes.len() > offset {
                partial.push_str(&String::from_utf8_lossy(&bytes[offset..]));
                offset = bytes.len();
                while let Some(i) = partial.find('\n') {
                    let line: String = partial.drain(..=i).collect();
                    if tx.send(line.trim_end().to_string()).is_err() {
                        return;
                    }
                }
            }
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait up to `timeout` for `path` to exist and hold a non-empty text that
/// `ready` accepts (a file another process writes while we watch).
pub fn wait_for_file(path: &Path, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() && ready(&text) {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} did not appear (or was not complete) within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Send a signal by name to a pid we started, with the `kill` command (no
/// unsafe code in tests).
#[cfg(unix)]
pub fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw protocol connection with deadline-bounded reads.
pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    /// Connect to `addr`.
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// Wrap a connected stream.
    pub fn from_stream(stream: TcpStream) -> RawClient {
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// Write raw bytes.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).expect("send");
    }

    /// Send PING and read up to its PONG, answering the server's own PINGs
    /// on the way: everything sent before has been processed. Panics on any
    /// other line.
    pub fn ping_pong(&mut self) {
        self.send("PING\r\n");
        loop {
            match self.read_line().as_str() {
                "PONG" => return,
                "PING" => self.send("PONG\r\n"),
                other => panic!("expected PONG, got {other:?}"),
            }
        }
    }

    /// Read until one `\n`-terminated line is available; returns it without
    /// `\r\n`. Panics on EOF or after `IO_TIMEOUT`.
    pub fn read_line(&mut self) -> String {
        self.try_read_line(IO_TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "read_line: {e}; buffered {:?}",
                String::from_utf8_lossy(&self.buf)
            )
        })
    }

    /// Like [`read_line`](Self::read_line) with an error instead of a panic.
    pub fn try_read_line(&mut self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = take_line(&mut self.buf) {
                return Ok(line);
            }
            self.fill(deadline)?;
        }
    }

    /// Read exactly `n` bytes (a payload plus its `\r\n`).
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + IO_TIMEOUT;
        while self.buf.len() < n {
            self.fill(deadline)
                .unwrap_or_else(|e| panic!("read_exact_bytes({n}): {e}"));
        }
        self.buf.drain(..n).collect()
    }

    fn fill(&mut self, deadline: Instant) -> Result<(), String> {
        self.stream
            .set_read_timeout(Some(time_left(deadline)?))
            .unwrap();
        read_some(&mut self.stream, &mut self.buf)
    }

    /// Read the INFO line and return its JSON.
    pub fn read_info(&mut self) -> serde_json::Value {
        let line = self.read_line();
        let json = line
            .strip_prefix("INFO ")
            .unwrap_or_else(|| panic!("expected INFO, got {line:?}"));
        serde_json::from_str(json).expect("INFO JSON")
    }

    /// Expect the next line to be exactly `want`.
    pub fn expect_line(&mut self, want: &str) {
        let got = self.read_line();
        assert_eq!(got, want, "expected {want:?}, got {got:?}");
    }

    /// Read lines until EOF (or until `timeout`); returns them and whether
    /// the connection was closed by the server.
    pub fn read_until_closed(&mut self, timeout: Duration) -> (Vec<String>, bool) {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_read_line(left) {
                Ok(l) => lines.push(l),
                Err(e) if e == "connection closed" || e.starts_with("read error") => {
                    return (lines, true)
                }
                Err(_) => return (lines, false),
            }
        }
    }

    /// True when nothing arrives within `wait` (and the connection is open).
    pub fn is_quiet_for(&mut self, wait: Duration) -> bool {
        matches!(self.try_read_line(wait), Err(e) if e == "timed out")
    }

    /// Read INFO, send `CONNECT {connect}` then PING, and expect PONG.
    pub fn handshake(&mut self, connect: &str) -> serde_json::Value {
        let info = self.read_info();
        self.send(format!("CONNECT {connect}\r\nPING\r\n"));
        loop {
            let l = self.read_line();
            if l == "PONG" {
                break;
            }
            assert_eq!(l, "+OK", "unexpected line during handshake");
        }
        info
    }

    /// Send PING and read lines up to its PONG, returning the lines before it.
    pub fn flush(&mut self) -> Vec<String> {
        self.send("PING\r\n");
        let mut before = Vec::new();
        loop {
            match self.try_read_line(IO_TIMEOUT) {
                Ok(l) if l == "PONG" => return before,
                Ok(l) => before.push(l),
                Err(e) => panic!("flush: {e} waiting for PONG; read before: {before:?}"),
            }
        }
    }

    /// Expect the server to send exactly `want` (compared ASCII
    /// case-insensitively when `nocase`) and then close the connection.
    pub fn expect_err_and_close(&mut self, want: &str, nocase: bool) {
        let (lines, closed) = self.read_until_closed(IO_TIMEOUT);
        let matches = lines.len() == 1
            && if nocase {
                lines[0].eq_ignore_ascii_case(want)
            } else {
                lines[0] == want
            };
        assert!(
            matches && closed,
            "expected {want:?} then close; got {lines:?}, closed={closed}"
        );
    }

    /// Expect the server to close the connection without a word, except
    /// that `-ERR 'Unknown Protocol Operation'` is tolerated first (the
    /// reliability catalogue allows nats-lite to say why where nats-server
    /// is silent).
    pub fn expect_silent_close(&mut self) {
        let (lines, closed) = self.read_until_closed(IO_TIMEOUT);
        let ok = lines.is_empty() || lines == ["-ERR 'Unknown Protocol Operation'"];
        assert!(
            ok && closed,
            "expected a silent close; got {lines:?}, closed={closed}"
        );
    }

    /// Read raw bytes until the server closes the connection or `timeout`
    /// passes: (bytes read, closed).
    pub fn read_bytes_until_closed(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline) {
                Ok(()) => {}
                Err(e) => {
                    let closed = e != "timed out";
                    return (std::mem::take(&mut self.buf), closed);
                }
            }
        }
    }

    /// Read one `MSG`/`HMSG` and its payload: (control line, payload).
    pub fn read_msg(&mut self) -> (String, Vec<u8>) {
        let line = self.read_line();
        let parts: Vec<&str> = line.split_whitespace().collect();
        let size: usize = match parts.first() {
            Some(&"MSG") | Some(&"HMSG") => parts.last().unwrap().parse().unwrap(),
            _ => panic!("expected MSG, got {line:?}"),
        };
        let mut payload = self.read_exact_bytes(size + 2);
        assert_eq!(&payload[size..], b"\r\n", "payload terminator");
        payload.truncate(size);
        (line, payload)
    }
}

/// A fresh temporary directory under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("nats-lite-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What is left until `deadline` as a read timeout (at least 1 ms), or
/// `timed out`.
pub fn time_left(deadline: Instant) -> Result<Duration, String> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .ok_or("timed out")?;
    Ok(left.max(Duration::from_millis(1)))
}

/// One read from `reader` (whose socket has a read timeout) appended to
/// `buf`; errors as text: `timed out`, `connection closed`, `read error: ...`.
pub fn read_some(reader: &mut impl Read, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 65536];
    match reader.read(&mut chunk) {
        Ok(0) => Err("connection closed".into()),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err("timed out".into())
        }
        Err(e) => Err(format!("read error: {e}")),
    }
}

/// Take the first `\n`-terminated line out of `buf`, without `\r\n`.
pub fn take_line(buf: &mut Vec<u8>) -> Option<String> {
    let i = buf.iter().position(|&b| b == b'\n')?;
    let line: Vec<u8> = buf.drain(..=i).collect();
    Some(
        String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string(),
    )
}
