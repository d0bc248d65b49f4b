//! Helpers for tests that need configuration files: a temporary directory
//! to write them (and the certificates, logs and pid files they name) into,
//! the seed configurations of the classic NATS documentation with their file
//! paths rewritten into that directory, and running the selected server
//! binary for a one-shot command (`-t -c FILE`, `--signal ...`) with a
//! deadline.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{is_reference, nats_lite_bin, nats_server_bin, ServerProcess, TempDir};

/// Where the seed configurations live (`tests/data/seed-configs`, as the
/// conf unit tests find them); `NATS_SEED_CONFIGS` overrides.
pub fn seed_dir() -> PathBuf {
    match std::env::var_os("NATS_SEED_CONFIGS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/seed-configs"),
    }
}

/// The text of one seed configuration, e.g. `seed("bcrypt.conf")`.
pub fn seed(name: &str) -> String {
    let path = seed_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Replace each `from` with its `to`, insisting that every `from` occurs
/// (so a changed seed cannot silently skip a rewrite).
pub fn rewrite(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (from, to) in pairs {
        assert!(out.contains(from), "{from:?} not found in:\n{text}");
        out = out.replace(from, to);
    }
    out
}

/// A temporary directory for a config file and the files it names.
pub struct ConfDir {
    dir: TempDir,
}

impl ConfDir {
    pub fn new(tag: &str) -> ConfDir {
        ConfDir {
            dir: TempDir::new(tag),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `name` inside the directory (not created).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// [`file`](Self::file) as a `String`, for building config texts.
    pub fn file_str(&self, name: &str) -> String {
        self.file(name).to_str().unwrap().to_string()
    }

    /// Write `text` to `name`; returns the path as a `String` (for `-c`).
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.file(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }
}

/// Start the selected server with `-c FILE` (FILE = `conf` written into
/// `dir` as `server.conf`) followed by `extra`.
pub fn start_with_conf(dir: &ConfDir, conf: &str, extra: &[&str]) -> ServerProcess {
    let file = dir.write("server.conf", conf);
    let mut args = vec!["-c", file.as_str()];
    args.extend_from_slice(extra);
    ServerProcess::start_selected(&args)
}

/// Like [`start_with_conf`] but always nats-lite (for nats-lite-only
/// behaviour).
pub fn start_lite_with_conf(dir: &ConfDir, conf: &str, extra: &[&str]) -> ServerProcess {
    let file = dir.write("server.conf", conf);
    let mut args = vec!["-c", file.as_str()];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

/// The selected server binary and the arguments that come before its
/// server flags (`nats-lite server ...` or `nats-server ...`).
pub fn selected_command() -> Command {
    if is_reference() {
        Command::new(nats_server_bin().expect("NATS_TEST_REFERENCE set but no nats-server"))
    } else {
        let mut cmd = Command::new(nats_lite_bin());
        cmd.arg("server");
        cmd
    }
}

/// Run the selected server binary with `args` to completion (killed after
/// `timeout`); returns its output. Panics when it does not finish in time.
pub fn run_selected(args: &[&str], timeout: Duration) -> Output {
    let mut cmd = selected_command();
    cmd.args(args);
    run_with_deadline(cmd, timeout)
}

/// Run nats-lite (`nats-lite server ARGS`) to completion, bounded in time.
pub fn run_lite(args: &[&str], timeout: Duration) -> Output {
    let mut cmd = Command::new(nats_lite_bin());
    cmd.arg("server").args(args);
    run_with_deadline(cmd, timeout)
}

/// Run `cmd` with stdin closed and outputs captured; kill it after
/// `timeout` and panic. Both pipes are read while it runs, so a child with
/// a lot to say never blocks on a full pipe.
pub fn run_with_deadline(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let stdout = read_all_in_background(child.stdout.take().expect("piped stdout"));
    let stderr = read_all_in_background(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Read `pipe` to its end on a thread; join for the bytes.
fn read_all_in_background(
    mut pipe: impl Read + Send + 'static,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Stdout and stderr of `out` as text, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
