//! `nats-lite watch-http` (issue 7): verdicts, alerts on change, the sinks
//! (RocketChat with re-login, webhook, NATS, exec), `--once`, concurrency
//! and config files.
//!
//! Each test runs its own HTTP server on 127.0.0.1:0 (a std::net thread
//! here, [`HttpServer`], which `watch_host` uses too) that plays the
//! watched endpoints, a webhook receiver or a fake RocketChat API, and
//! records every request. Nothing
//! sleeps to synchronise: tests wait, with deadlines, for output lines or
//! recorded requests. The only sleeps are the slow endpoints' own delays.
//! Every process is killed by its pid when its guard is dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{nats_lite_bin, ServerProcess, TempDir};

/// Deadline for anything a test waits for.
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------
// A tiny HTTP server.

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// The status the handler answered.
    pub(crate) status: u16,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What the handler answers.
pub(crate) struct Reply {
    status: u16,
    body: String,
    /// Wait this long before answering (a slow endpoint).
    delay: Duration,
}

pub(crate) fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        body: body.into(),
        delay: Duration::ZERO,
    }
}

type Log = Arc<(Mutex<Vec<Request>>, Condvar)>;

/// An HTTP/1.1 server on a free loopback port: one thread per connection,
/// `Connection: close`, every request recorded.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    log: Log,
    stop: Arc<AtomicBool>,
}

impl HttpServer {
    pub(crate) fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Log = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let (log, handler) = (log.clone(), handler.clone());
                    std::thread::spawn(move || serve(conn, &*handler, &log));
                }
            });
        }
        HttpServer { addr, log, stop }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.log.0.lock().unwrap().clone()
    }

    /// Requests to `path` so far.
    fn to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Wait until `n` requests to `path` were recorded; returns them.
    pub(crate) fn wait_for(&self, path: &str, n: usize) -> Vec<Request> {
        let deadline = Instant::now() + WAIT;
        let (lock, cv) = &*self.log;
        let mut log = lock.lock().unwrap();
        loop {
            let got: Vec<Request> = log.iter().filter(|r| r.path == path).cloned().collect();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "waited {WAIT:?} for {n} requests to {path}; got {got:#?}"
            );
            log = cv.wait_timeout(log, left).unwrap().0;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut conn: TcpStream, handler: &(dyn Fn(&Request) -> Reply + Send + Sync), log: &Log) {
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let mut req = Request {
        method,
        path,
        headers,
        body,
        status: 0,
    };
    let r = handler(&req);
    req.status = r.status;
    {
        let (lock, cv) = &**log;
        lock.lock().unwrap().push(req);
        cv.notify_all();
    }
    if !r.delay.is_zero() {
        std::thread::sleep(r.delay);
    }
    let _ = write!(
        conn,
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{}",
        r.status,
        r.body.len(),
        r.body
    );
}

/// How slow the slow endpoint is; the tests' `--max-time` is under it.
const SLOW: Duration = Duration::from_millis(400);

/// The classic endpoints, plus a few more. `/flip` answers like `/ok`
/// while `healthy` is set, like `/error` otherwise.
fn endpoints(healthy: Arc<AtomicBool>) -> HttpServer {
    HttpServer::start(move |req| match req.path.as_str() {
        "/ok" | "/echo" => reply(200, r#"{"status":0}"#),
        "/fault" => reply(200, r#"{"status":-1,"message":"database down"}"#),
        "/error" => reply(500, "internal error"),
        "/slow" => Reply {
            delay: SLOW,
            ..reply(200, r#"{"status":0}"#)
        },
        "/very-slow" => Reply {
            delay: Duration::from_millis(1200),
            ..reply(200, r#"{"status":0}"#)
        },
        "/html" => reply(200, "<html>hello</html>"),
        "/huge" => reply(
            200,
            format!("{{\"status\":0,\"pad\":\"{}\"}}", "x".repeat(2 << 20)),
        ),
        "/flip" if healthy.load(Ordering::SeqCst) => reply(200, r#"{"status":0}"#),
        "/flip" => reply(500, "down"),
        _ => reply(404, "not found"),
    })
}

/// A webhook receiver (answers 200 to everything).
fn webhook_receiver() -> HttpServer {
    HttpServer::start(|_| reply(200, "ok"))
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------
// The watch-http process.

/// A running `nats-lite watch-http`, killed by its pid when dropped.
struct Watch {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    /// Every stdout line read so far.
    lines: Vec<String>,
    /// Every stderr line read so far.
    errors: Vec<String>,
}

fn lines_of(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        Self::start_with(args, |_| {})
    }

    fn start_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Watch {
        let mut cmd = Command::new(nats_lite_bin());
        cmd.arg("watch-http")
            .args(args)
            .env_remove("ROCKETCHAT_PASSWORD")
            .env_remove("ROCKETCHAT_TOKEN")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        setup(&mut cmd);
        let mut child = cmd.spawn().expect("spawn nats-lite watch-http");
        let out = lines_of(child.stdout.take().unwrap());
        let err = lines_of(child.stderr.take().unwrap());
        Watch {
            child,
            out,
            err,
            lines: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Wait for a stdout line that `pred` accepts; returns it.
    fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no stdout line {what} within {WAIT:?}\nstdout:\n{}\nstderr:\n{}",
                    self.lines.join("\n"),
                    self.stderr_now().join("\n")
                ),
            }
        }
    }

    /// Wait for a stderr line containing `needle`.
    fn wait_stderr(&mut self, needle: &str) -> String {
        if let Some(l) = self.errors.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.err.recv_timeout(left) {
                Ok(line) => {
                    self.errors.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no stderr line with {needle:?} within {WAIT:?}\nstderr:\n{}",
                    self.errors.join("\n")
                ),
            }
        }
    }

    fn stderr_now(&mut self) -> Vec<String> {
        while let Ok(l) = self.err.try_recv() {
            self.errors.push(l);
        }
        self.errors.clone()
    }

    /// Wait for the process to exit; then every line it printed.
    fn finish(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "watch-http did not exit within {WAIT:?}; stdout:\n{}",
                self.lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        // The pipes close with the process: read them to the end.
        while let Ok(l) = self.out.recv_timeout(WAIT) {
            self.lines.push(l);
        }
        while let Ok(l) = self.err.recv_timeout(WAIT) {
            self.errors.push(l);
        }
        status
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `watch-http --once ARGS`: (exit code, stdout lines, stderr lines).
fn once(args: &[&str]) -> (i32, Vec<String>, Vec<String>) {
    let mut all = vec!["--once"];
    all.extend_from_slice(args);
    let mut w = Watch::start(&all);
    let status = w.finish();
    (
        status.code().unwrap_or(-1),
        w.lines.clone(),
        w.errors.clone(),
    )
}

/// The fields of a text output line: time, URL, status, duration, verdict,
/// reason.
fn fields(line: &str) -> (String, String, String, String, String, String) {
    let mut it = line.splitn(6, ' ');
    let mut next = || it.next().unwrap_or_default().to_string();
    (next(), next(), next(), next(), next(), next())
}

fn is_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    t.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && t.ends_with('Z')
}

// ---------------------------------------------------------------------
// Verdicts and --once.

#[test]
fn verdicts_of_the_classic_endpoints() {
    let http = endpoints(Arc::default());
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let urls = ["/ok", "/fault", "/error", "/slow", "/html"].map(|p| http.url(p));
    let mut args = vec![
        "--json-field",
        "/status",
        "--json-ok",
        "0",
        "--max-time",
        "200ms",
    ];
    args.extend(urls.iter().map(String::as_str));
    args.push(&refused);
    let (code, lines, _) = once(&args);
    assert_eq!(code, 1, "{lines:#?}");
    assert_eq!(lines.len(), 6, "one line per target: {lines:#?}");
    let want = [
        (urls[0].as_str(), "200", "OK", ""),
        (urls[1].as_str(), "200", "FAIL", "JSON status -1"),
        (urls[2].as_str(), "500", "FAIL", "status 500"),
        (urls[3].as_str(), "200", "FAIL", "slow "),
        (urls[4].as_str(), "200", "FAIL", "body not JSON"),
        (
            refused.as_str(),
            "-",
            "FAIL",
            "connect error: connection refused",
        ),
    ];
    for (line, (url, status, verdict, reason)) in lines.iter().zip(want) {
        let (time, u, s, dur, v, r) = fields(line);
        assert!(is_rfc3339(&time), "time in {line:?}");
        assert_eq!(
            (u.as_str(), s.as_str(), v.as_str()),
            (url, status, verdict),
            "{line}"
        );
        assert!(r.starts_with(reason), "reason {reason:?} in {line:?}");
        assert!(
            dur.ends_with("ms") || dur.ends_with('s'),
            "duration in {line:?}"
        );
    }
    assert!(lines[3].ends_with("> 200ms"), "{}", lines[3]);
}

#[test]
fn once_exits_0_when_all_ok_and_prints_json() {
    let http = endpoints(Arc::default());
    let (code, lines, _) = once(&[
        "--json",
        "--json-field",
        "/status",
        "--json-ok",
        "0",
        &http.url("/ok"),
        &http.url("/echo"),
    ]);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(lines.len(), 2);
    let v: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["url"], http.url("/ok"));
    assert_eq!(v["status"], 200);
    assert_eq!(v["verdict"], "OK");
    assert_eq!(v["reason"], Value::Null);
    assert!(v["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(is_rfc3339(v["time"].as_str().unwrap()));

    let (code, lines, _) = once(&["--json", &http.url("/error")]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (v["verdict"].as_str(), v["reason"].as_str()),
        (Some("FAIL"), Some("status 500"))
    );
}

#[test]
fn timeout_status_list_text_and_huge_bodies() {
    let http = endpoints(Arc::default());
    let (code, lines, _) = once(&["--timeout", "100ms", &http.url("/slow")]);
    assert_eq!(code, 1);
    let (_, _, status, _, verdict, reason) = fields(&lines[0]);
    assert_eq!(
        (status.as_str(), verdict.as_str()),
        ("-", "FAIL"),
        "{lines:?}"
    );
    assert_eq!(reason, "timeout after 100ms");
    let (code, lines, _) = once(&["--expect-status", "500-599", &http.url("/error")]);
    assert_eq!(code, 0, "{lines:?}");
    let (code, lines, _) = once(&["--contains", "hello", &http.url("/html")]);
    assert_eq!(code, 0, "{lines:?}");
    let (code, lines, _) = once(&["--contains", "bye", &http.url("/html")]);
    assert_eq!(code, 1);
    assert!(
        lines[0].ends_with("FAIL text \"bye\" not found"),
        "{lines:?}"
    );
}

#[test]
fn post_with_body_and_headers() {
    let http = endpoints(Arc::default());
    let (code, _, _) = once(&[
        "--body",
        r#"{"ping":1}"#,
        "-H",
        "Content-Type: application/json",
        "-H",
        "X-Probe:yes",
        &http.url("/echo"),
    ]);
    assert_eq!(code, 0);
    let req = &http.to("/echo")[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.json(), json!({"ping": 1}));
    assert_eq!(req.header("x-probe"), Some("yes"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("nats-lite"));

    let (code, _, _) = once(&["-X", "delete", &http.url("/echo")]);
    assert_eq!(code, 0);
    assert_eq!(http.to("/echo")[1].method, "DELETE");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["ftp://x/"],
        &["http://x/", "--json-field", "status"],
        &["http://x/", "--rocketchat", "http://rc/"],
        &["http://x/", "--expect-status", "ok"],
        &["http://x/", "--fail-after", "0"],
    ] {
        let (code, lines, errors) = once(args);
        assert_eq!(code, 2, "{args:?}: {lines:?} {errors:?}");
        assert!(lines.is_empty());
    }
}

// ---------------------------------------------------------------------
// Config files.

#[test]
fn config_file_targets_and_overrides() {
    let http = endpoints(Arc::default());
    let dir = TempDir::new("watch-conf");
    let file = dir.path().join("watch.conf");
    std::fs::write(
        &file,
        format!(
            r#"
# The classic four, with per-target overrides.
defaults {{
  interval: "5s"
  max_time: "200ms"
  json_field: "/status"
  json_ok: 0
}}
targets: [
  {{ url: "{ok}", name: "api ok" }}
  {{ url: "{fault}" }}
  {{ url: "{error}", expect_status: "500", json_field: "" }}
  {{ url: "{slow}", max_time: "2s" }}
  {{ url: "{slow}", timeout: "100ms" }}
  {{ url: "{html}", json_field: "", contains: "hello" }}
  {{ url: "{html}" }}
]
"#,
            ok = http.url("/ok"),
            fault = http.url("/fault"),
            error = http.url("/error"),
            slow = http.url("/slow"),
            html = http.url("/html"),
        ),
    )
    .unwrap();
    let (code, lines, errors) = once(&["--json", "--config", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{lines:#?} {errors:#?}");
    let v: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdicts: Vec<(&str, Option<&str>)> = v
        .iter()
        .map(|v| (v["verdict"].as_str().unwrap(), v["reason"].as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("OK", None),
            ("FAIL", Some("JSON status -1")),
            ("OK", None),
            ("OK", None),
            ("FAIL", Some("timeout after 100ms")),
            ("OK", None),
            ("FAIL", Some("body not JSON")),
        ],
        "{lines:#?}"
    );
    assert_eq!(v[0]["name"], "api ok");
}

#[test]
fn config_file_misspelt_key_is_an_error_with_its_position() {
    let dir = TempDir::new("watch-conf-bad");
    let file = dir.path().join("bad.conf");
    std::fs::write(
        &file,
        "targets: [\n  { url: \"http://127.0.0.1:1/\", max_tim: \"1s\" }\n]\n",
    )
    .unwrap();
    let (code, _, errors) = once(&["-c", file.to_str().unwrap()]);
    assert_eq!(code, 2);
    let want = format!("{}:2:33: unknown field \"max_tim\"", file.display());
    assert!(
        errors.iter().any(|l| l.contains(&want)),
        "want {want:?} in {errors:#?}"
    );
}

// ---------------------------------------------------------------------
// Alerts.

/// The texts the webhook receiver got.
fn texts(hook: &HttpServer) -> Vec<String> {
    hook.to("/hook")
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn alerts_once_per_change_with_recovery() {
    let healthy = Arc::new(AtomicBool::new(true));
    let http = endpoints(healthy.clone());
    let hook = webhook_receiver();
    let url = http.url("/flip");
    let mut w = Watch::start(&["--interval", "50ms", "--webhook", &hook.url("/hook"), &url]);
    for _ in 0..3 {
        w.wait_line("OK", |l| l.ends_with(" OK"));
    }
    assert!(hook.requests().is_empty(), "no alert while OK");

    healthy.store(false, Ordering::SeqCst);
    w.wait_line("FAIL", |l| l.contains(" FAIL status 500"));
    let posts = hook.wait_for("/hook", 1);
    assert_eq!(texts(&hook), [format!("FAIL {url}: status 500")]);
    assert_eq!(posts[0].method, "POST");
    // More faults: no more alerts.
    for _ in 0..4 {
        w.wait_line("FAIL", |l| l.contains(" FAIL "));
    }
    w.wait_stderr("alert: FAIL");

    healthy.store(true, Ordering::SeqCst);
    w.wait_line("OK again", |l| l.ends_with(" OK"));
    hook.wait_for("/hook", 2);
    for _ in 0..3 {
        w.wait_line("OK", |l| l.ends_with(" OK"));
    }
    let t = texts(&hook);
    assert_eq!(t.len(), 2, "one alert per change: {t:#?}");
    assert!(
        t[1].starts_with(&format!("OK {url}: recovered after ")),
        "{t:#?}"
    );
}

#[test]
fn fail_after_and_remind() {
    let http = endpoints(Arc::default());
    let hook = webhook_receiver();
    let url = http.url("/error");
    let mut w = Watch::start(&[
        "--interval",
        "50ms",
        "--fail-after",
        "3",
        "--remind",
        "300ms",
        "--webhook",
        &hook.url("/hook"),
        &url,
    ]);
    hook.wait_for("/hook", 2);
    let t = texts(&hook);
    // The first alert came with the third fault in a row, not before.
    assert_eq!(
        t[0],
        format!("FAIL {url}: status 500 (3 failed checks in a row)")
    );
    assert!(
        t[1].starts_with(&format!("STILL FAILING {url}: status 500 (down for ")),
        "{t:#?}"
    );
    w.wait_stderr("alert: STILL FAILING");
}

/// A fake RocketChat: `/api/v1/login` gives `tok-N` to bot/secret;
/// `chat.postMessage` takes only the newest token, and none after
/// `expire`.
struct FakeRocketChat {
    http: HttpServer,
    valid: Arc<Mutex<Option<String>>>,
}

impl FakeRocketChat {
    fn start() -> FakeRocketChat {
        let valid: Arc<Mutex<Option<String>>> = Arc::default();
        let logins = Arc::new(Mutex::new(0u32));
        let v = valid.clone();
        let http = HttpServer::start(move |req| match req.path.as_str() {
            "/api/v1/login" => {
                let body = req.json();
                if body != json!({"user": "bot", "password": "secret"}) {
                    return reply(401, r#"{"status":"error","message":"Unauthorized"}"#);
                }
                let mut n = logins.lock().unwrap();
                *n += 1;
                let token = format!("tok-{n}");
                *v.lock().unwrap() = Some(token.clone());
                reply(
                    200,
                    json!({"status": "success", "data": {"authToken": token, "userId": "uid-bot"}})
                        .to_string(),
                )
            }
            "/api/v1/chat.postMessage" => {
                let ok_token = v.lock().unwrap().clone();
                let pat = req.header("x-auth-token") == Some("pat-1")
                    && req.header("x-user-id") == Some("uid-pat");
                if pat || (ok_token.is_some() && req.header("x-auth-token") == ok_token.as_deref())
                {
                    reply(200, r#"{"success":true}"#)
                } else {
                    reply(
                        401,
                        r#"{"status":"error","message":"You must be logged in to do this."}"#,
                    )
                }
            }
            _ => reply(404, "{}"),
        });
        FakeRocketChat { http, valid }
    }

    /// The token expires (as RocketChat's do, or after a restart).
    fn expire(&self) {
        *self.valid.lock().unwrap() = None;
    }
}

#[test]
fn rocketchat_login_post_and_relogin_on_401() {
    let healthy = Arc::new(AtomicBool::new(false));
    let http = endpoints(healthy.clone());
    let rc = FakeRocketChat::start();
    let url = http.url("/flip");
    let base = rc.http.url("");
    let mut w = Watch::start_with(
        &[
            "--interval",
            "50ms",
            "--rocketchat",
            &base,
            "--rc-user",
            "bot",
            "--rc-channel",
            "#ops",
            &url,
        ],
        |cmd| {
            cmd.env("ROCKETCHAT_PASSWORD", "secret");
        },
    );
    let posts = rc.http.wait_for("/api/v1/chat.postMessage", 1);
    assert_eq!(rc.http.to("/api/v1/login").len(), 1);
    let post = &posts[0];
    assert_eq!(post.status, 200);
    assert_eq!(post.header("x-auth-token"), Some("tok-1"));
    assert_eq!(post.header("x-user-id"), Some("uid-bot"));
    assert_eq!(post.json()["channel"], "#ops");
    assert_eq!(post.json()["text"], format!("FAIL {url}: status 500"));

    // The token expires; the recovery is posted after a second login.
    rc.expire();
    healthy.store(true, Ordering::SeqCst);
    w.wait_line("OK", |l| l.ends_with(" OK"));
    let posts = rc.http.wait_for("/api/v1/chat.postMessage", 3);
    let logins = rc.http.wait_for("/api/v1/login", 2);
    assert_eq!(logins.len(), 2);
    assert_eq!(
        posts.iter().map(|p| p.status).collect::<Vec<_>>(),
        [200, 401, 200]
    );
    assert_eq!(posts[2].header("x-auth-token"), Some("tok-2"));
    assert!(posts[2].json()["text"]
        .as_str()
        .unwrap()
        .starts_with(&format!("OK {url}: recovered")));
}

#[test]
fn rocketchat_personal_access_token_skips_login() {
    let http = endpoints(Arc::default());
    let rc = FakeRocketChat::start();
    let (code, _, errors) = once(&[
        "--rocketchat",
        &rc.http.url("/"),
        "--rc-token",
        "pat-1",
        "--rc-user-id",
        "uid-pat",
        "--rc-channel",
        "@oncall",
        &http.url("/error"),
    ]);
    assert_eq!(code, 1, "{errors:#?}");
    let posts = rc.http.to("/api/v1/chat.postMessage");
    assert_eq!(posts.len(), 1, "--once waits for the sinks: {errors:#?}");
    assert_eq!(posts[0].status, 200);
    assert_eq!(posts[0].json()["channel"], "@oncall");
    assert!(rc.http.to("/api/v1/login").is_empty());
}

#[test]
fn nats_sink_publishes_the_event() {
    let server = ServerProcess::start(&[]);
    let mut sub = server.client(r#"{"verbose":false}"#);
    sub.send("SUB watch.http 1\r\n");
    sub.flush();
    let http = endpoints(Arc::default());
    let url = http.url("/error");
    // --once alerts every fault: --fail-after needs faults in a row.
    let (code, _, errors) = once(&[
        "-s",
        &server.url(),
        "--nats-subject",
        "watch.http",
        "--fail-after",
        "3",
        &url,
    ]);
    assert_eq!(code, 1, "{errors:#?}");
    let (line, payload) = sub.read_msg();
    assert!(line.starts_with("MSG watch.http 1 "), "{line}");
    let v: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["event"], "down");
    assert_eq!(v["url"], url);
    assert_eq!(v["verdict"], "FAIL");
    assert_eq!(v["reason"], "status 500");
    assert_eq!(v["status"], 500);
    assert_eq!(v["text"], format!("FAIL {url}: status 500"));
}

#[test]
fn a_failing_sink_does_not_stop_the_checks_or_the_other_sinks() {
    let http = endpoints(Arc::default());
    let hook = webhook_receiver();
    let dead = format!("http://127.0.0.1:{}/hook", closed_port());
    let mut w = Watch::start(&[
        "--interval",
        "50ms",
        "--webhook",
        &dead,
        "--webhook",
        &hook.url("/hook"),
        &http.url("/error"),
    ]);
    w.wait_stderr("attempt 1 of 4 failed");
    hook.wait_for("/hook", 1);
    let seen = w.lines.len();
    // Checks keep coming while the dead sink is retried.
    for _ in 0..5 {
        w.wait_line("FAIL", |l| l.contains(" FAIL status 500"));
    }
    assert!(w.lines.len() >= seen + 5);
    w.wait_stderr("attempt 2 of 4 failed");
}

#[cfg(unix)]
#[test]
fn exec_sink_gets_the_event_on_stdin() {
    let http = endpoints(Arc::default());
    let dir = TempDir::new("watch-exec");
    let file = dir.path().join("event.json");
    let cmd = format!(
        "cat > '{}'; echo \"$WATCH_EVENT $WATCH_VERDICT\" >> '{}'",
        file.display(),
        file.display()
    );
    let (code, _, errors) = once(&[
        "--json-field",
        "/status",
        "--json-ok",
        "0",
        "--exec",
        &cmd,
        &http.url("/fault"),
    ]);
    assert_eq!(code, 1, "{errors:#?}");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines = text.lines();
    let v: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(v["event"], "down");
    assert_eq!(v["reason"], "JSON status -1");
    assert_eq!(lines.next(), Some("down FAIL"));
}

// ---------------------------------------------------------------------
// Scheduling and stopping.

#[test]
fn a_slow_target_does_not_delay_the_others() {
    let http = endpoints(Arc::default());
    let slow = http.url("/very-slow");
    let fast = http.url("/ok");
    let mut w = Watch::start(&["--interval", "100ms", &slow, &fast]);
    w.wait_line("from the slow target", |l| l.contains(&format!(" {slow} ")));
    let fast_before = w
        .lines
        .iter()
        .filter(|l| l.contains(&format!(" {fast} ")))
        .count();
    // 1.2s at one check per 100ms: about 12; be generous to a busy machine.
    assert!(
        fast_before >= 4,
        "only {fast_before} checks of the fast target while the slow one took 1.2s: {:#?}",
        w.lines
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_with_exit_0() {
    let http = endpoints(Arc::default());
    let mut w = Watch::start(&["--interval", "50ms", &http.url("/error")]);
    w.wait_line("a check", |l| l.contains(" FAIL "));
    crate::util::unsafe_kill(w.child.id(), "INT");
    let status = w.finish();
    assert_eq!(status.code(), Some(0), "{:#?}", w.errors);
}

// ---------------------------------------------------------------------
// HTTPS.

/// An HTTPS target: nats-lite's own `/healthz` on its https monitoring
/// port, with a certificate from a test CA.
#[test]
fn https_targets_with_cacert_or_insecure() {
    use crate::client_support::TestPki;
    use crate::util::START_TIMEOUT;
    let pki = TestPki::new();
    let mut server = ServerProcess::start(&[
        "--tlscert",
        &pki.file("server.pem"),
        "--tlskey",
        &pki.file("server.key"),
        "-ms",
        "-1",
    ]);
    let line = server
        .wait_for_log("Starting https monitor on", START_TIMEOUT)
        .expect("https monitor line");
    let port = line.rsplit(':').next().unwrap().to_string();
    let url = format!("https://127.0.0.1:{port}/healthz");
    let check = ["--json-field", "/status", "--json-ok", "ok", url.as_str()];

    let (code, lines, _) = once(&check);
    assert_eq!(code, 1, "unknown CA: {lines:?}");
    assert!(lines[0].contains(" FAIL TLS error: "), "{lines:?}");

    let ca = pki.file("ca.pem");
    let (code, lines, errors) = once(&[&["--cacert", ca.as_str()][..], &check].concat());
    assert_eq!(code, 0, "{lines:?} {errors:?}");
    assert!(lines[0].contains(&format!(" {url} 200 ")), "{lines:?}");

    let (code, lines, _) = once(&[&["-k"][..], &check].concat());
    assert_eq!(code, 0, "{lines:?}");

    let missing = pki.file("missing.pem");
    let (code, _, errors) = once(&[&["--cacert", missing.as_str()][..], &check].concat());
    assert_eq!(code, 2);
    assert!(errors[0].contains("cannot read CA file"), "{errors:?}");
}
