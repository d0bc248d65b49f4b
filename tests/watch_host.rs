//! `nats-lite watch-host` (issue 20): file-change counts in a temp tree,
//! disk figures against statvfs, load against /proc/loadavg, and the
//! sinks: NATS, Prometheus (promtool and a client parser), CloudWatch
//! (moto), alerts with hysteresis.
//!
//! Every agent runs with short intervals and prints JSON lines; tests
//! wait for lines with deadlines. A run's file counts are synchronised by
//! a sentinel: the agent reads one kernel queue in order, so once a file
//! created in a second target after the changes is counted, every change
//! before it is counted too.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{nats_lite_bin, TempDir};

/// Deadline for anything a test waits for.
const WAIT: Duration = Duration::from_secs(20);

/// A running agent, killed by its pid when dropped.
pub struct Agent {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    pub stderr_seen: Vec<String>,
}

fn lines_of(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            let Ok(l) = l else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    rx
}

impl Agent {
    pub fn start(args: &[&str]) -> Agent {
        Agent::start_with(args, &[])
    }

    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Agent {
        let mut cmd = Command::new(nats_lite_bin());
        cmd.arg("watch-host").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-lite watch-host");
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        Agent {
            child,
            stdout,
            stderr,
            stderr_seen: Vec::new(),
        }
    }

    /// Wait for a stderr line containing `needle`.
    pub fn wait_stderr(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) => {
                    self.stderr_seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no stderr line with {needle:?}; stderr so far: {:#?}",
                    self.stderr_seen
                ),
            }
        }
    }

    /// The next JSON report on stdout.
    pub fn next_report(&mut self) -> Value {
        let line = self
            .stdout
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no report; stderr: {:#?}", self.drain_stderr()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Stderr lines so far.
    pub fn drain_stderr(&mut self) -> Vec<String> {
        while let Ok(l) = self.stderr.try_recv() {
            self.stderr_seen.push(l);
        }
        self.stderr_seen.clone()
    }

    /// Wait for the process to end by itself.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "watch-host did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The counts of target `i` added up over reports until the sentinel
/// target (`sentinel`, index 1) has counted a creation.
fn counts_until_sentinel(agent: &mut Agent, target: usize, sentinel: usize) -> [u64; 4] {
    let mut sum = [0u64; 4];
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "the sentinel was never counted");
        let r = agent.next_report();
        let f = &r["files"][target];
        for (i, k) in ["created", "modified", "deleted", "moved"]
            .iter()
            .enumerate()
        {
            sum[i] += f[k].as_u64().unwrap();
        }
        if r["files"][sentinel]["created"].as_u64().unwrap() > 0 {
            return sum;
        }
    }
}

/// Known changes in a temp tree, ignored ones among them, and a directory
/// made after start: the counts are exact.
fn counts_are_exact(backend: &str, new_dir: bool) {
    let tmp = TempDir::new("watch-host-files");
    let root = tmp.path().join("tree");
    let sentinel = tmp.path().join("sentinel");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join(".hidden/deep")).unwrap();
    std::fs::create_dir_all(&sentinel).unwrap();
    for i in 1..=3 {
        write(&root.join(format!("old{i}.txt")), "old\n");
    }
    let mut agent = Agent::start(&[
        "--interval",
        "300ms",
        "--json",
        "--disk",
        tmp.path().to_str().unwrap(),
        "--ignore-extension",
        ".swp",
        "--ignore-extension",
        "LOCK",
        "--ignore",
        "*.tmp",
        "--ignore-dot-directories",
        "--watch-backend",
        backend,
        root.to_str().unwrap(),
        sentinel.to_str().unwrap(),
    ]);
    agent.wait_stderr("watching");

    // 5 created (and closed after writing them).
    for i in 0..5 {
        write(&root.join(format!("f{i}.txt")), "new\n");
    }
    // Ignored: extensions, a glob, a dot-directory.
    write(&root.join("a.swp"), "x");
    write(&root.join("sub/b.lock"), "x");
    write(&root.join("c.tmp"), "x");
    write(&root.join(".hidden/deep/d.txt"), "x");
    write(&root.join(".hidden/e.txt"), "x");
    // 2 modified.
    append(&root.join("old1.txt"), "more\n");
    append(&root.join("old2.txt"), "more\n");
    // 3 deleted (ignored deletions do not count).
    std::fs::remove_file(root.join("old3.txt")).unwrap();
    std::fs::remove_file(root.join("f0.txt")).unwrap();
    std::fs::remove_file(root.join("f1.txt")).unwrap();
    std::fs::remove_file(root.join("a.swp")).unwrap();
    // 1 moved.
    std::fs::rename(root.join("f4.txt"), root.join("sub/f4-moved.txt")).unwrap();
    // A directory made after start: 4 files, 2 of them one level deeper,
    // written at once (before or after its watch is in place: the agent
    // reads a new directory after watching it). The notify fallback does
    // not (on Linux its recursive watch of a new directory races with the
    // first files), so it is checked without.
    let later = if new_dir {
        std::fs::create_dir_all(root.join("later/deeper")).unwrap();
        write(&root.join("later/g1"), "g");
        write(&root.join("later/g2"), "g");
        write(&root.join("later/deeper/g3"), "g");
        write(&root.join("later/deeper/g4"), "g");
        4
    } else {
        0
    };
    write(&sentinel.join("done"), "");
    let [created, modified, deleted, moved] = counts_until_sentinel(&mut agent, 0, 1);
    assert_eq!(
        (created, modified, deleted, moved),
        (5 + later, 5 + 2 + later, 3, 1),
        "created, modified, deleted, moved; stderr: {:#?}",
        agent.drain_stderr()
    );
}

#[test]
fn file_counts_are_exact() {
    counts_are_exact("native", true);
}

#[test]
fn file_counts_are_exact_with_the_notify_backend() {
    counts_are_exact("notify", false);
}

/// The disk figures are statvfs's of the path.
#[cfg(unix)]
#[test]
fn disk_figures_match_statvfs() {
    let tmp = TempDir::new("watch-host-disk");
    let path = tmp.path().to_str().unwrap();
    let mut agent = Agent::start(&["--once", "--window", "100ms", "--json", "--disk", path]);
    let r = agent.next_report();
    assert!(agent.wait_exit().success());
    let d = &r["disks"][0];
    assert_eq!(d["path"], path);

    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: a zeroed statvfs is a valid out value; c is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    #[allow(clippy::unnecessary_cast)]
    let (frsize, blocks, bfree, bavail, files, ffree) = (
        st.f_frsize as u64,
        st.f_blocks as u64,
        st.f_bfree as u64,
        st.f_bavail as u64,
        st.f_files as u64,
        st.f_ffree as u64,
    );
    assert_eq!(d["total_bytes"].as_u64().unwrap(), blocks * frsize);
    assert_eq!(d["inodes_total"].as_u64().unwrap(), files);
    // Others write meanwhile: the moving figures within 64 MiB and 1000 inodes.
    let near = |got: &Value, want: u64, slack: u64| {
        let got = got.as_u64().unwrap();
        assert!(got.abs_diff(want) <= slack, "{got} vs statvfs {want}");
    };
    near(&d["used_bytes"], (blocks - bfree) * frsize, 64 << 20);
    near(&d["free_bytes"], bavail * frsize, 64 << 20);
    near(&d["inodes_free"], ffree, 1000);
    let used = (blocks - bfree) as f64;
    let pct = used * 100.0 / (used + bavail as f64);
    assert!((d["used_percent"].as_f64().unwrap() - pct).abs() < 0.1);
}

/// The load average is /proc/loadavg's (read before and after the run: it
/// changes at most every 5 seconds, so the report is one of the two).
#[cfg(target_os = "linux")]
#[test]
fn load_matches_proc_loadavg() {
    let read = || -> Vec<f64> {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap()
            .split_whitespace()
            .take(3)
            .map(|w| w.parse().unwrap())
            .collect()
    };
    let before = read();
    let mut agent = Agent::start(&["--once", "--window", "50ms", "--json", "--disk", "/"]);
    let r = agent.next_report();
    let after = read();
    let got = [&r["load1"], &r["load5"], &r["load15"]].map(|v| v.as_f64().unwrap());
    assert!(
        got[..] == before[..] || got[..] == after[..],
        "{got:?} vs /proc/loadavg {before:?} / {after:?}"
    );
    let cpus = r["cpus"].as_f64().unwrap();
    // SAFETY: sysconf has no preconditions.
    assert_eq!(cpus, unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }
        as f64);
    assert!((r["load_per_cpu"].as_f64().unwrap() - got[0] / cpus).abs() < 1e-3);
}

/// A directory that does not exist is a usage error (exit 2).
#[test]
fn a_missing_target_is_a_usage_error() {
    let tmp = TempDir::new("watch-host-missing");
    let mut agent = Agent::start(&["--once", tmp.path().join("nope").to_str().unwrap()]);
    assert_eq!(agent.wait_exit().code(), Some(2));
}

// ---------------------------------------------------------------------
// Peers: promtool and the Python venv of scripts/ci/install-watch-host.sh.

/// Says why a peer is missing: a failure under CI, a skip otherwise.
fn missing(what: &str) -> bool {
    crate::util::skip_missing_peer(&format!("{what} (run scripts/ci/install-watch-host.sh)"));
    true
}

/// The venv's python, with moto, boto3 and prometheus_client.
fn venv_python() -> Option<std::path::PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/watch-host-venv/bin/python");
    if p.is_file() {
        Some(p)
    } else {
        missing("the Python venv target/watch-host-venv");
        None
    }
}

fn promtool() -> Option<std::path::PathBuf> {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join("promtool");
        if p.is_file() {
            return Some(p);
        }
    }
    missing("promtool (Debian package prometheus)");
    None
}

/// Run `program args` with `input` on stdin; its status and output.
fn run_with_input(program: &Path, args: &[&str], input: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Each report's JSON arrives on NATS, on host.metrics.<hostname> by default.
#[test]
fn nats_sink_documents_arrive_at_a_sub() {
    let server = crate::util::ServerProcess::start(&[]);
    let mut sub = server.connect();
    sub.handshake("{}");
    sub.send("SUB host.metrics.> 1\r\n");
    sub.flush();
    let tmp = TempDir::new("watch-host-nats");
    let url = server.url();
    let mut agent = Agent::start(&[
        "-s",
        &url,
        "--interval",
        "200ms",
        "--json",
        "--nats-metrics",
        "--disk",
        tmp.path().to_str().unwrap(),
        tmp.path().to_str().unwrap(),
    ]);
    agent.wait_stderr("watching");
    write(&tmp.path().join("one"), "1");
    let mut created = 0;
    let mut subjects = Vec::new();
    let deadline = Instant::now() + WAIT;
    while created == 0 {
        assert!(Instant::now() < deadline, "no document counted the file");
        let (line, payload) = sub.read_msg();
        let doc: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(doc["disks"][0]["path"], tmp.path().to_str().unwrap());
        assert!(doc["cpus"].as_u64().unwrap() >= 1);
        created += doc["files"][0]["created"].as_u64().unwrap();
        subjects.push(line.split_whitespace().nth(1).unwrap().to_string());
    }
    assert_eq!(created, 1);
    let host = subjects[0]
        .strip_prefix("host.metrics.")
        .unwrap()
        .to_string();
    assert!(!host.is_empty() && !host.contains('.'), "{subjects:?}");
    assert!(subjects.iter().all(|s| *s == subjects[0]));
    // The document is the one printed on stdout.
    let printed = agent.next_report();
    assert_eq!(printed["host"].as_str().unwrap().replace('.', "_"), host);
}

/// `/metrics` and the textfile pass `promtool check metrics` and parse
/// with prometheus_client; their figures are the report's.
#[test]
fn prometheus_output_passes_promtool_and_parses() {
    let (Some(promtool), Some(python)) = (promtool(), venv_python()) else {
        return;
    };
    let tmp = TempDir::new("watch-host-prom");
    let textfile = tmp.path().join("watch_host.prom");
    let tree = tmp.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let mut agent = Agent::start(&[
        "--interval",
        "1s",
        "--json",
        "--listen",
        "127.0.0.1:0",
        "--textfile",
        textfile.to_str().unwrap(),
        "--disk",
        tmp.path().to_str().unwrap(),
        tree.to_str().unwrap(),
    ]);
    let line = agent.wait_stderr("serving Prometheus metrics at ");
    let url = line.rsplit(' ').next().unwrap().to_string();
    // Before the first interval ends: the machine's figures already.
    let early = ureq::get(&url)
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(early.contains("\nwatch_host_cpus "), "{early}");
    write(&tree.join("a"), "a");
    write(&tree.join("b"), "b");
    let mut created = 0;
    let report = loop {
        let r = agent.next_report();
        created += r["files"][0]["created"].as_u64().unwrap();
        if created >= 2 {
            break r;
        }
    };
    let body = ureq::get(&url)
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    // The textfile is complete by the time the next report is out.
    agent.next_report();
    let file = std::fs::read_to_string(&textfile).unwrap();
    for text in [&body, &file] {
        let (ok, out) = run_with_input(&promtool, &["check", "metrics"], text);
        assert!(ok, "promtool check metrics: {out}\n{text}");
    }
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        key = s.name + "".join("|%s=%s" % kv for kv in sorted(s.labels.items()))
        out[key] = s.value
print(json.dumps(out))
"#;
    let (ok, out) = run_with_input(&python, &["-c", script], &body);
    assert!(ok, "prometheus_client: {out}");
    let parsed: Value = serde_json::from_str(out.trim()).unwrap();
    let path = tmp.path().to_str().unwrap();
    let target = tree.to_str().unwrap();
    assert_eq!(parsed["watch_host_cpus"], report["cpus"].as_f64().unwrap());
    assert_eq!(
        parsed[format!("watch_host_disk_total_bytes|path={path}")],
        report["disks"][0]["total_bytes"].as_f64().unwrap()
    );
    assert_eq!(
        parsed[format!("watch_host_disk_inodes|path={path}")],
        report["disks"][0]["inodes_total"].as_f64().unwrap()
    );
    assert_eq!(
        parsed[format!("watch_host_file_changes_total|change=created|target={target}")],
        2.0,
        "{body}"
    );
    assert!(parsed["watch_host_load1"].as_f64().is_some());
}

// ---------------------------------------------------------------------
// CloudWatch against moto, with credentials from a fake IMDSv2.

/// moto's server on a free loopback port, killed by its pid on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start(python: &Path, log: &Path) -> Moto {
        // A free port: bind, read it, let it go (moto binds it next).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::create(log.with_extension("err")).unwrap(),
            ))
            .spawn()
            .expect("start moto.server");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Credential=KEY/...` of an Authorization header.
fn access_key_of(authorization: &str) -> String {
    let cred = authorization
        .split("Credential=")
        .nth(1)
        .unwrap_or_default();
    cred.split('/').next().unwrap_or_default().to_string()
}

/// A recording proxy in front of moto: which keys signed what.
fn recording_proxy(moto_url: &str) -> crate::watch_http::HttpServer {
    use crate::watch_http::{reply, HttpServer};
    let moto_url = moto_url.to_string();
    HttpServer::start(move |req| {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut r = agent.post(&moto_url);
        for h in [
            "Content-Type",
            "X-Amz-Date",
            "X-Amz-Security-Token",
            "Authorization",
        ] {
            if let Some(v) = req.header(h) {
                r = r.header(h, v);
            }
        }
        match r.send(&req.body[..]) {
            Ok(resp) => {
                let status = resp.status().as_u16();
                reply(
                    status,
                    resp.into_body().read_to_string().unwrap_or_default(),
                )
            }
            Err(e) => reply(502, e.to_string()),
        }
    })
}

/// Keys from the shared credentials file (profile from AWS_PROFILE), the
/// instance metadata service turned off: the requests are signed with them
/// and moto takes the data.
#[test]
fn cloudwatch_sink_uses_the_shared_credentials_file() {
    let Some(python) = venv_python() else {
        return;
    };
    let tmp = TempDir::new("watch-host-cw-file");
    let moto = Moto::start(&python, &tmp.path().join("moto.log"));
    let proxy = recording_proxy(&moto.url);
    let creds = tmp.path().join("credentials");
    write(
        &creds,
        "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = x\n\n\
         [ops]\naws_access_key_id = AKIAOPSPROFILE\naws_secret_access_key = y\n",
    );
    let endpoint = proxy.url("/");
    let disk = tmp.path().to_str().unwrap();
    let mut agent = Agent::start_with(
        &[
            "--interval",
            "300ms",
            "--quiet",
            "--cloudwatch",
            "--cw-endpoint",
            &endpoint,
            "--cw-region",
            "us-west-2",
            "--cw-dimension",
            "Host",
            "--cw-metric",
            "disk_used_percent",
            "--disk",
            disk,
        ],
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ("AWS_PROFILE", "ops"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
        ],
    );
    let line = agent.wait_stderr("CloudWatch credentials from");
    assert!(line.contains("[ops] (AKIAOPSPROFILE)"), "{line}");
    let reqs = proxy.wait_for("/", 1);
    let auth = reqs[0].header("Authorization").unwrap();
    assert_eq!(access_key_of(auth), "AKIAOPSPROFILE");
    assert!(
        auth.contains("/us-west-2/monitoring/aws4_request"),
        "{auth}"
    );
    assert!(reqs[0].header("X-Amz-Security-Token").is_none());
    assert_eq!(
        reqs[0].status,
        200,
        "{}",
        String::from_utf8_lossy(&reqs[0].body)
    );
    let body = String::from_utf8_lossy(&reqs[0].body);
    assert!(
        body.contains("MetricName=disk_used_percent") && !body.contains("load1"),
        "{body}"
    );
}

/// The metrics arrive in moto with their dimensions and are read back;
/// the keys come from the instance role through a fake IMDSv2, are used
/// (with their session token) and refreshed before they expire.
#[test]
fn cloudwatch_sink_puts_metrics_into_moto_with_instance_role_keys() {
    use crate::watch_http::{reply, HttpServer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let Some(python) = venv_python() else {
        return;
    };
    let tmp = TempDir::new("watch-host-cw");
    let tree = tmp.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let moto = Moto::start(&python, &tmp.path().join("moto.log"));

    let proxy = recording_proxy(&moto.url);

    // IMDSv2: a session token first, then role keys that live 4 seconds.
    let fetches = Arc::new(AtomicUsize::new(0));
    let imds = {
        let fetches = fetches.clone();
        HttpServer::start(move |req| {
            let path = req.path.as_str();
            if req.method == "PUT" && path == "/latest/api/token" {
                return match req.header("X-aws-ec2-metadata-token-ttl-seconds") {
                    Some(_) => reply(200, "TOKEN-v2"),
                    None => reply(400, ""),
                };
            }
            if req.header("X-aws-ec2-metadata-token") != Some("TOKEN-v2") {
                return reply(401, "");
            }
            match path {
                "/latest/meta-data/instance-id" => reply(200, "i-0123456789abcdef0"),
                "/latest/meta-data/placement/region" => reply(200, "eu-west-1"),
                "/latest/meta-data/iam/security-credentials/" => reply(200, "watch-role"),
                "/latest/meta-data/iam/security-credentials/watch-role" => {
                    let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs() as i64;
                    reply(
                        200,
                        serde_json::json!({
                            "Code": "Success",
                            "Type": "AWS-HMAC",
                            "AccessKeyId": format!("ASIATEST{n}"),
                            "SecretAccessKey": format!("secret-{n}"),
                            "Token": format!("session-{n}"),
                            "Expiration": nats_lite::civil::rfc3339(now + 4),
                        })
                        .to_string(),
                    )
                }
                _ => reply(404, ""),
            }
        })
    };

    let home = tmp.path().to_str().unwrap().to_string();
    let mut cmd_env = vec![
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url("")),
        ("HOME", home.clone()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            format!("{home}/no-such-file"),
        ),
    ];
    cmd_env.push(("AWS_ACCESS_KEY_ID", String::new()));
    cmd_env.push(("AWS_SECRET_ACCESS_KEY", String::new()));
    cmd_env.push(("AWS_REGION", String::new()));
    cmd_env.push(("AWS_DEFAULT_REGION", String::new()));
    let env: Vec<(&str, &str)> = cmd_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let disk = tmp.path().to_str().unwrap();
    let endpoint = proxy.url("/");
    let mut agent = Agent::start_with(
        &[
            "--interval",
            "400ms",
            "--json",
            "--cloudwatch",
            "--cw-endpoint",
            &endpoint,
            "--cw-namespace",
            "Test/WatchHost",
            "--disk",
            disk,
            tree.to_str().unwrap(),
        ],
        &env,
    );
    let report = agent.next_report();

    // Wait for requests signed with the second role keys.
    let deadline = Instant::now() + WAIT;
    let requests = loop {
        let reqs = proxy.requests();
        let keys: Vec<String> = reqs
            .iter()
            .map(|r| access_key_of(r.header("Authorization").unwrap_or("")))
            .collect();
        if keys.iter().any(|k| k == "ASIATEST2") {
            break reqs;
        }
        assert!(
            Instant::now() < deadline,
            "no request signed with refreshed keys: {keys:?}; stderr: {:#?}",
            agent.drain_stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for r in &requests {
        let auth = r.header("Authorization").unwrap();
        let key = access_key_of(auth);
        let n = key.strip_prefix("ASIATEST").expect(auth);
        assert_eq!(
            r.header("X-Amz-Security-Token"),
            Some(format!("session-{n}").as_str())
        );
        assert!(
            auth.contains("/eu-west-1/monitoring/aws4_request"),
            "{auth}"
        );
        assert_eq!(
            r.status,
            200,
            "moto refused: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let stderr = agent.drain_stderr().join("\n");
    assert!(
        stderr.contains("from the instance role watch-role (ASIATEST1)")
            && stderr.contains("from the instance role watch-role (ASIATEST2)"),
        "{stderr}"
    );
    drop(agent);

    // Read back with boto3: the dimensions, and a value.
    let host = report["host"].as_str().unwrap();
    let script = format!(
        r#"
import boto3, datetime, json
c = boto3.client("cloudwatch", endpoint_url="{moto}", region_name="eu-west-1",
                 aws_access_key_id="x", aws_secret_access_key="y")
metrics = c.list_metrics(Namespace="Test/WatchHost")["Metrics"]
out = {{"metrics": metrics}}
dims = [{{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}}, {{"Name": "Host", "Value": "{host}"}}]
now = datetime.datetime.now(datetime.timezone.utc)
stats = c.get_metric_statistics(Namespace="Test/WatchHost", MetricName="cpus", Dimensions=dims,
    StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(hours=1),
    Period=60, Statistics=["Maximum"])
out["cpus"] = [p["Maximum"] for p in stats["Datapoints"]]
print(json.dumps(out))
"#,
        moto = moto.url
    );
    let (ok, out) = run_with_input(&python, &["-c", &script], "");
    assert!(ok, "boto3: {out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let find = |name: &str| -> Vec<Value> {
        v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["MetricName"] == name)
            .cloned()
            .collect()
    };
    let dims_of = |m: &Value| -> Vec<(String, String)> {
        let mut d: Vec<(String, String)> = m["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["Name"].as_str().unwrap().into(),
                    d["Value"].as_str().unwrap().into(),
                )
            })
            .collect();
        d.sort();
        d
    };
    // moto lists a metric once per put: every entry must have the dimensions.
    let load = find("load_per_cpu");
    assert!(
        !load.is_empty(),
        "no load_per_cpu among {} metrics",
        v["metrics"].as_array().unwrap().len()
    );
    for m in &load {
        assert_eq!(
            dims_of(m),
            [
                ("Host".to_string(), host.to_string()),
                ("InstanceId".to_string(), "i-0123456789abcdef0".to_string())
            ]
        );
    }
    let disk_metric = find("disk_used_percent");
    assert!(!disk_metric.is_empty());
    for m in &disk_metric {
        assert!(dims_of(m).contains(&("Path".to_string(), disk.to_string())));
    }
    let files = find("files_created");
    assert!(!files.is_empty());
    for m in &files {
        assert!(dims_of(m).contains(&("Target".to_string(), tree.to_str().unwrap().to_string())));
    }
    let cpus = report["cpus"].as_f64().unwrap();
    assert!(
        !v["cpus"].as_array().unwrap().is_empty()
            && v["cpus"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c.as_f64() == Some(cpus)),
        "{}",
        v["cpus"]
    );
}

/// A sink that fails (no NATS server there) is retried and logged; the
/// reports go on.
#[test]
fn a_failing_sink_is_retried_and_collection_goes_on() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = TempDir::new("watch-host-failing");
    let url = format!("nats://127.0.0.1:{port}");
    let mut agent = Agent::start(&[
        "-s",
        &url,
        "--interval",
        "200ms",
        "--json",
        "--nats-metrics=metrics.here",
        "--disk",
        tmp.path().to_str().unwrap(),
    ]);
    agent.wait_stderr("nats metrics.here: attempt 1 of 4 failed");
    for _ in 0..3 {
        assert!(agent.next_report()["cpus"].as_u64().unwrap() >= 1);
    }
}

/// A threshold with hysteresis: one alert on the way up, one on recovery,
/// on the alert sinks shared with watch-http (NATS and a webhook here).
#[test]
fn alerts_fire_once_up_and_once_down() {
    let hook = crate::watch_http::HttpServer::start(|_| crate::watch_http::reply(200, "ok"));
    let hook_url = hook.url("/hook");
    let server = crate::util::ServerProcess::start(&[]);
    let mut sub = server.connect();
    sub.handshake("{}");
    sub.send("SUB host.alerts 1\r\n");
    sub.flush();
    let tmp = TempDir::new("watch-host-alerts");
    let tree = tmp.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let url = server.url();
    let mut agent = Agent::start(&[
        "-s",
        &url,
        "--interval",
        "300ms",
        "--json",
        "--disk",
        tmp.path().to_str().unwrap(),
        "--alert",
        "file_changes>=4",
        "--clear",
        "file_changes<1",
        "--nats-subject",
        "host.alerts",
        "--webhook",
        &hook_url,
        tree.to_str().unwrap(),
    ]);
    agent.wait_stderr("watching");
    // 5 files: 10 changes, in one interval or split over two (one of them
    // then has at least 5).
    for i in 0..5 {
        write(&tree.join(format!("f{i}")), "x");
    }
    let (_, up) = sub.read_msg();
    let up: Value = serde_json::from_slice(&up).unwrap();
    assert_eq!(up["event"], "alert", "{up}");
    assert_eq!(up["metric"], "file_changes");
    assert_eq!(up["target"], tree.to_str().unwrap());
    assert!(up["value"].as_f64().unwrap() >= 4.0);
    assert!(up["text"].as_str().unwrap().starts_with("ALERT "), "{up}");
    let (_, down) = sub.read_msg();
    let down: Value = serde_json::from_slice(&down).unwrap();
    assert_eq!(down["event"], "clear", "{down}");
    assert_eq!(down["value"], 0.0);
    // Quiet intervals say nothing more.
    for _ in 0..3 {
        agent.next_report();
    }
    assert!(sub.is_quiet_for(Duration::from_millis(300)));
    let stderr = agent.drain_stderr();
    let alerts: Vec<_> = stderr.iter().filter(|l| l.contains(": alert: ")).collect();
    assert_eq!(alerts.len(), 2, "{stderr:#?}");
    let posts = hook.wait_for("/hook", 2);
    let texts: Vec<String> = posts
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_slice(&p.body).unwrap();
            v["text"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let host = up["host"].as_str().unwrap();
    assert_eq!(texts, [format!("ALERT {host}"), format!("OK {host}")]);
    assert_eq!(hook.requests().len(), 2);
}

/// The original agent's setup as a config file, and `--once`: one report
/// of the changes over `--window`, then exit 0.
#[test]
fn config_file_with_the_originals_keys_and_once() {
    let tmp = TempDir::new("watch-host-conf");
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join(".cache")).unwrap();
    let conf = tmp.path().join("watch-host.conf");
    write(
        &conf,
        &format!(
            "# The original's keys.\ntargets = [\"{}\"]\nignore_extensions = [\".swp\", \".swpx\", \".LOCK\"]\n\
             ignore_dot_directory = true\ndisks: [\"{}\"]\njson: true\n",
            tree.display(),
            tmp.path().display()
        ),
    );
    let mut agent = Agent::start(&[
        "--config",
        conf.to_str().unwrap(),
        "--once",
        "--window",
        "2s",
    ]);
    agent.wait_stderr("watching");
    write(&tree.join("a.txt"), "a");
    write(&tree.join("b.swp"), "b");
    write(&tree.join("c.LOCK"), "c");
    write(&tree.join(".cache/d"), "d");
    let r = agent.next_report();
    assert!(agent.wait_exit().success());
    let f = &r["files"][0];
    assert_eq!(
        (f["created"].as_u64(), f["modified"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    let span = r["interval_s"].as_f64().unwrap();
    assert!((1.9..5.0).contains(&span), "{span}");
}

/// At the kernel's watch limit (4 here, set in a user namespace of its
/// own), the directories left unwatched are counted exactly and stderr
/// says which sysctl to raise. Needs user namespaces (allowed on the
/// machines this project runs on): without them it skips, and fails
/// under CI like any missing peer.
#[cfg(target_os = "linux")]
#[test]
fn the_watch_limit_is_reported() {
    let probe = Command::new("unshare")
        .args([
            "-Ur",
            "sh",
            "-c",
            "echo 4 > /proc/sys/user/max_inotify_watches",
        ])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        crate::util::skip_missing_peer(&format!(
            "a user namespace to lower the inotify watch limit in ({probe:?})"
        ));
        return;
    }
    let tmp = TempDir::new("watch-host-limit");
    let tree = tmp.path().join("tree");
    for i in 0..10 {
        std::fs::create_dir_all(tree.join(format!("d{i}"))).unwrap();
    }
    let script = format!(
        "echo 4 > /proc/sys/user/max_inotify_watches && exec \"$0\" watch-host --once \
         --window 50ms --json --disk {tmp} {tree}",
        tmp = tmp.path().display(),
        tree = tree.display()
    );
    let out = Command::new("unshare")
        .args(["-Ur", "sh", "-c", &script])
        .arg(nats_lite_bin())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 11 directories (the tree and 10 under it), 4 watches.
    assert_eq!(r["files"][0]["unwatched_dirs"], 7, "{r}");
    assert!(
        stderr.contains(&format!(
            "7 directories under {} are not watched",
            tree.display()
        )) && stderr.contains("fs.inotify.max_user_watches"),
        "{stderr}"
    );
}

/// With `--once`, an alert raised by the one report goes out before the
/// exit (here through `--exec`, the event JSON on its stdin).
#[cfg(unix)]
#[test]
fn once_delivers_its_alert_before_exiting() {
    let tmp = TempDir::new("watch-host-once-alert");
    let out = tmp.path().join("alert.json");
    let cmd = format!(
        "cat > '{}'; echo \"$WATCH_EVENT $WATCH_METRIC\" >> '{}'",
        out.display(),
        out.display()
    );
    let mut agent = Agent::start(&[
        "--once",
        "--window",
        "50ms",
        "--quiet",
        "--disk",
        tmp.path().to_str().unwrap(),
        "--alert",
        "cpus>=1",
        "--exec",
        &cmd,
    ]);
    assert!(agent.wait_exit().success());
    let text = std::fs::read_to_string(&out).unwrap();
    let (json, env) = text.trim_end().rsplit_once('\n').unwrap();
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["event"], "alert");
    assert_eq!(v["alert"], "cpus>=1");
    assert_eq!(env, "alert cpus");
}
