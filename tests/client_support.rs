//! Helpers for the client tests (`client_*.rs`): run each test against every
//! server available (the real nats-server, and `nats-lite server` once it
//! is built), drive `nats-lite` client processes with deadlines, and a test
//! CA for TLS.
//!
//! Servers come from [`crate::util`]; nothing here duplicates it. Waiting
//! is always on output with a deadline (a `Subscribing on ...` line, a
//! `+OK`), never a sleep.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::util::{nats_lite_bin, nats_server_or_skip, ServerProcess, TempDir};

/// Deadline for a client process to finish.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(20);
/// Deadline for a client to print an expected line.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which server a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The real nats-server.
    Reference,
    /// `nats-lite server`.
    Lite,
}

/// Start a server of `kind` with extra flags, on a free loopback port.
pub fn start(kind: Kind, extra: &[&str]) -> ServerProcess {
    match kind {
        Kind::Reference => ServerProcess::start_reference(extra).expect("nats-server installed"),
        Kind::Lite => ServerProcess::start(extra),
    }
}

/// The server kinds a test runs against: nats-server when installed (when
/// not, [`skip_missing_peer`] says so, or fails under `CI`), and always
/// nats-lite.
pub fn kinds() -> Vec<Kind> {
    let mut kinds = Vec::new();
    if nats_server_or_skip().is_some() {
        kinds.push(Kind::Reference);
    }
    kinds.push(Kind::Lite);
    kinds
}

/// Run `test` once per server kind, each with a fresh server started with
/// `extra` flags.
pub fn each_server(extra: &[&str], test: impl Fn(Kind, &mut ServerProcess)) {
    for kind in kinds() {
        eprintln!("--- against {kind:?}");
        let mut server = start(kind, extra);
        test(kind, &mut server);
    }
}

/// Read lines from a pipe in a thread.
fn line_reader(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A `nats-lite` command with none of the NATS_* variables of the caller's
/// environment (the tests set what they need).
pub fn lite(args: &[&str]) -> Command {
    let mut cmd = Command::new(nats_lite_bin());
    cmd.args(args);
    for var in [
        "NATS_URL",
        "NATS_USER",
        "NATS_PASSWORD",
        "NATS_TOKEN",
        "NATS_CERT",
        "NATS_KEY",
        "NATS_CA",
        "NATS_CREDS",
        "NATS_NKEY",
        "NATS_CONTEXT",
    ] {
        cmd.env_remove(var);
    }
    // No `nats` CLI context of the caller's (a test sets its own).
    cmd.env(
        "XDG_CONFIG_HOME",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-nats-config"),
    );
    cmd
}

/// A finished client process.
#[derive(Debug)]
pub struct Done {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything printed on stderr.
    pub stderr: String,
    /// The process's own peak resident memory in KiB, where it is known
    /// (debug builds on Linux report it at exit: see `peak_rss_file`).
    pub max_rss_kib: Option<u64>,
}

impl Done {
    /// stdout as text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The exit code (panics when killed by a signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal; stderr:\n{}", self.stderr))
    }

    /// Assert exit 0, showing both outputs otherwise.
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.status.success(),
            "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.out(),
            self.stderr
        );
        self
    }

    /// Assert exit `code` and a stderr containing `needle`, without a panic.
    pub fn assert_fails(&self, code: i32, needle: &str) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "exit status; stdout:\n{}\nstderr:\n{}",
            self.out(),
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr should contain {needle:?}:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        self
    }
}

/// A running client process whose stdout and stderr are read in threads.
pub struct Client {
    child: Child,
    stdout: Receiver<Vec<u8>>,
    stderr: Receiver<String>,
    out: Vec<u8>,
    err: Vec<String>,
    /// Where the process writes its peak resident memory at exit.
    peak_rss: crate::util::TempDir,
}

/// The file a debug nats-lite writes its peak resident memory (`VmHWM`,
/// KiB) to at exit, under `NATS_LITE_TEST_PEAK_RSS_FILE`. Not `wait4`'s
/// `ru_maxrss`: a child spawned with vfork (std's way) inherits the test
/// runner's peak at exec, so that figure is at least the runner's own peak
/// (231 MiB seen while other tests ran), whatever the child used.
fn peak_rss_file(dir: &crate::util::TempDir) -> std::path::PathBuf {
    dir.path().join("peak-rss-kib")
}

/// The peak the process reported, if it did.
fn reported_peak_rss(dir: &crate::util::TempDir) -> Option<u64> {
    std::fs::read_to_string(peak_rss_file(dir))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Client {
    /// Spawn `cmd`; `stdin` is written (then closed) by a thread, or stdin
    /// is empty when `None`.
    pub fn spawn(mut cmd: Command, stdin: Option<Vec<u8>>) -> Client {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let peak_rss = crate::util::TempDir::new("peak-rss");
        cmd.env("NATS_LITE_TEST_PEAK_RSS_FILE", peak_rss_file(&peak_rss));
        let mut child = cmd.spawn().expect("spawn nats-lite");
        if let Some(data) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        let mut so = child.stdout.take().unwrap();
        let (tx, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match so.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(chunk[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stderr = line_reader(child.stderr.take().unwrap());
        Client {
            child,
            stdout,
            stderr,
            out: Vec::new(),
            err: Vec::new(),
            peak_rss,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for a stderr line containing `needle`; returns it.
    pub fn wait_stderr(&mut self, needle: &str) -> String {
        if let Some(l) = self.err.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.err.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no stderr line with {needle:?} ({e:?}); stderr so far:\n{}",
                    self.err.join("\n")
                ),
            }
        }
    }

    /// Wait until stdout contains `needle`.
    pub fn wait_stdout(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        while !String::from_utf8_lossy(&self.out).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(chunk) => self.out.extend(chunk),
                Err(e) => panic!(
                    "stdout has no {needle:?} ({e:?}); stdout so far:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&self.out),
                    self.err.join("\n")
                ),
            }
        }
    }

    /// Like [`Client::wait_stdout`], but false instead of a panic after `timeout`.
    pub fn try_wait_stdout(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !String::from_utf8_lossy(&self.out).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(chunk) => self.out.extend(chunk),
                Err(_) => return false,
            }
        }
        true
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Send SIGINT (as Ctrl-C does).
    pub fn interrupt(&self) {
        crate::util::unsafe_kill(self.pid(), "INT");
    }

    /// Wait for the process to exit (killing it and panicking after
    /// `timeout`), and collect its output.
    pub fn finish(mut self, timeout: Duration) -> Done {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.drain();
                panic!(
                    "client did not exit within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&self.out),
                    self.err.join("\n")
                );
            }
            // Poll the outputs while waiting so that pipes never fill.
            match self.stdout.recv_timeout(Duration::from_millis(20)) {
                Ok(chunk) => self.out.extend(chunk),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
            }
        };
        self.drain();
        Done {
            status,
            stdout: std::mem::take(&mut self.out),
            stderr: self.err.join("\n"),
            max_rss_kib: reported_peak_rss(&self.peak_rss),
        }
    }

    /// Take everything the reader threads have (they end at EOF).
    fn drain(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(chunk) = self
            .stdout
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.out.extend(chunk);
        }
        while let Ok(line) = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.err.push(line);
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a client to completion with `stdin` (empty when `None`).
pub fn run(cmd: Command, stdin: Option<&[u8]>) -> Done {
    Client::spawn(cmd, stdin.map(<[u8]>::to_vec)).finish(RUN_TIMEOUT)
}

/// Run `nats-lite ARGS` to completion with an empty stdin.
pub fn run_lite(args: &[&str]) -> Done {
    run(lite(args), None)
}

/// Start `nats-lite sub ARGS` and wait until it is subscribed.
pub fn subscriber(args: &[&str]) -> Client {
    let mut sub = Client::spawn(lite(&[&["sub"][..], args].concat()), None);
    sub.wait_stderr("Subscribing on");
    sub
}

/// Start `nats-lite reply ARGS` and wait until it listens.
pub fn replier(args: &[&str]) -> Client {
    let mut r = Client::spawn(lite(&[&["reply"][..], args].concat()), None);
    r.wait_stderr("Listening on");
    r
}

/// A test PKI: a CA, a server certificate for 127.0.0.1/localhost and a
/// client certificate, as PEM files in a temporary directory.
pub struct TestPki {
    pub dir: TempDir,
}

impl TestPki {
    /// Generate the certificates.
    pub fn new() -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        };
        let dir = TempDir::new("pki");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "nats-lite test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, cn: &str| {
            let mut p = CertificateParams::new(names).unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            p.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            "nats-lite test server",
        );
        let (client_cert, client_key) = leaf(
            vec!["client.test".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
            "nats-lite test client",
        );
        for (name, pem) in [
            ("ca.pem", ca.pem()),
            ("server.pem", server_cert),
            ("server.key", server_key),
            ("client.pem", client_cert),
            ("client.key", client_key),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        TestPki { dir }
    }

    /// Path of one of the files (`ca.pem`, `server.pem`, ...), as a string.
    pub fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}
