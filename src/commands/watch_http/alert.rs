//! Alerts: the [`Event`] a change of state becomes, and the sinks that
//! carry it (NATS, RocketChat, webhooks, a shell command).
//!
//! Each sink has its own thread and queue ([`Alerter`]), so a sink that is
//! down delays neither the checks nor the other sinks. A failed delivery
//! is retried with a doubling pause ([`Retry`]), logged on stderr, and
//! dropped after the last attempt; the checks go on regardless.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use super::check::{rfc3339_millis, short_duration};
use super::config::{RcAuth, RocketChat, Sinks, Target};
use super::probe::CheckResult;
use super::state::Change;
use crate::client::{Connection, Options};

/// Time allowed for one delivery (an HTTP call, a NATS flush).
pub const ALERT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for `--exec`'s command.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// Alerts waiting for one sink; more are dropped (and logged).
const QUEUE: usize = 256;
/// The most of an HTTP answer a sink reads.
const MAX_ANSWER: u64 = 64 * 1024;

/// What happened to a target, for people and programs.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `down`, `still_down` or `recovered`.
    pub kind: &'static str,
    /// The target's URL.
    pub url: String,
    /// The target's name, if it has one.
    pub name: Option<String>,
    /// How alerts name the target.
    pub label: String,
    /// True for a recovery.
    pub ok: bool,
    /// The fault, or `None` for a recovery.
    pub reason: Option<String>,
    /// The HTTP status of the check that raised the event.
    pub status: Option<u16>,
    /// Its duration.
    pub elapsed: Duration,
    /// Its time.
    pub time: std::time::SystemTime,
    /// Faults in a row.
    pub failures: u32,
    /// How long it has been down (reminders and recoveries).
    pub down_for: Option<Duration>,
}

impl Event {
    /// The event for `change`, raised by `result` of a check of `target`.
    pub fn new(target: &Target, result: &CheckResult, change: &Change) -> Event {
        let (kind, failures, down_for) = match *change {
            Change::Down { failures } => ("down", failures, None),
            Change::StillDown { failures, down_for } => ("still_down", failures, Some(down_for)),
            Change::Recovered { failures, down_for } => ("recovered", failures, Some(down_for)),
        };
        Event {
            kind,
            url: target.url.clone(),
            name: target.name.clone(),
            label: target.label(),
            ok: result.verdict.is_ok(),
            reason: result.verdict.fault().map(ToString::to_string),
            status: result.status,
            elapsed: result.elapsed,
            time: result.time,
            failures,
            down_for,
        }
    }

    /// The text for a chat: the target, the verdict, the reason.
    pub fn text(&self) -> String {
        let reason = self.reason.as_deref().unwrap_or("?");
        let checks = |n: u32| {
            if n == 1 {
                "1 failed check".to_string()
            } else {
                format!("{n} failed checks")
            }
        };
        let down_for = self.down_for.map(short_duration).unwrap_or_default();
        match self.kind {
            "down" if self.failures > 1 => format!(
                "FAIL {}: {reason} ({} in a row)",
                self.label,
                checks(self.failures)
            ),
            "down" => format!("FAIL {}: {reason}", self.label),
            "still_down" => format!(
                "STILL FAILING {}: {reason} (down for {down_for}, {})",
                self.label,
                checks(self.failures)
            ),
            _ => {
                let answer = match self.status {
                    Some(s) => format!("status {s} in {}", short_duration(self.elapsed)),
                    None => short_duration(self.elapsed),
                };
                format!(
                    "OK {}: recovered after {down_for} ({}); {answer}",
                    self.label,
                    checks(self.failures)
                )
            }
        }
    }

    /// The event as JSON (NATS payload, `--exec` stdin).
    pub fn json(&self) -> Json {
        let mut v = json!({
            "event": self.kind,
            "url": self.url,
            "verdict": if self.ok { "OK" } else { "FAIL" },
            "reason": self.reason,
            "status": self.status,
            "duration_ms": self.elapsed.as_secs_f64() * 1e3,
            "time": rfc3339_millis(self.time),
            "failures": self.failures,
            "text": self.text(),
        });
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        if let Some(d) = self.down_for {
            v["down_for_ms"] = json!(d.as_millis() as u64);
        }
        v
    }
}

/// Something that carries alerts somewhere.
pub trait Sink: Send {
    /// Its name in log lines.
    fn name(&self) -> String;
    /// Deliver one event (one attempt).
    ///
    /// # Errors
    ///
    /// Why it was not delivered.
    fn deliver(&mut self, event: &Event) -> Result<(), String>;
}

/// How often and how patiently a failed delivery is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Pause after the first failure; it doubles after each.
    pub first_pause: Duration,
    /// The longest pause.
    pub max_pause: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_pause: Duration::from_millis(500),
            max_pause: Duration::from_secs(8),
        }
    }
}

impl Retry {
    /// The pause after failed attempt `n` (from 1).
    pub fn pause(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first_pause
            .checked_mul(factor)
            .unwrap_or(self.max_pause)
            .min(self.max_pause)
    }
}

/// Deliver `event` with retries, logging failures.
fn deliver_with_retry(sink: &mut dyn Sink, event: &Event, retry: Retry, log: &dyn Fn(String)) {
    let attempts = retry.attempts.max(1);
    for n in 1..=attempts {
        match sink.deliver(event) {
            Ok(()) => return,
            Err(e) if n == attempts => log(format!(
                "{}: giving up on the alert for {} after {attempts} attempts: {e}",
                sink.name(),
                event.url
            )),
            Err(e) => {
                let pause = retry.pause(n);
                log(format!(
                    "{}: attempt {n} of {attempts} failed: {e}; retrying in {}",
                    sink.name(),
                    short_duration(pause)
                ));
                std::thread::sleep(pause);
            }
        }
    }
}

/// One queue and thread per sink.
pub struct Alerter {
    queues: Vec<(String, SyncSender<Arc<Event>>)>,
    done: Vec<Receiver<()>>,
}

impl Alerter {
    /// Start a thread for each sink.
    ///
    /// # Errors
    ///
    /// A thread could not be started.
    pub fn start(sinks: Vec<Box<dyn Sink>>, retry: Retry) -> std::io::Result<Alerter> {
        let mut queues = Vec::new();
        let mut done = Vec::new();
        for (i, mut sink) in sinks.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Arc<Event>>(QUEUE);
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let name = sink.name();
            std::thread::Builder::new()
                .name(format!("alert-{i}"))
                .spawn(move || {
                    for event in rx {
                        deliver_with_retry(sink.as_mut(), &event, retry, &log);
                    }
                    drop(done_tx);
                })?;
            queues.push((name, tx));
            done.push(done_rx);
        }
        Ok(Alerter { queues, done })
    }

    /// Queue `event` for every sink.
    pub fn send(&self, event: Event) {
        let event = Arc::new(event);
        for (name, tx) in &self.queues {
            match tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => log(format!(
                    "{name}: {QUEUE} alerts waiting; dropped the alert for {}",
                    event.url
                )),
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Let the sinks deliver what is queued, waiting at most `grace`.
    pub fn finish(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        drop(self.queues);
        for done in self.done {
            let left = deadline.saturating_duration_since(Instant::now());
            match done.recv_timeout(left) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                Err(RecvTimeoutError::Timeout) => return,
            }
        }
    }
}

/// Log a line on stderr.
pub fn log(line: String) {
    eprintln!(
        "nats-lite: watch-http: {}",
        crate::printable::printable(&line)
    );
}

/// The sinks `config` asks for; `nats` gives the NATS connection options
/// when a subject is set.
pub fn build(config: &Sinks, nats: Option<Options>) -> Vec<Box<dyn Sink>> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let (Some(subject), Some(opts)) = (&config.nats_subject, nats) {
        sinks.push(Box::new(NatsSink {
            opts,
            subject: subject.clone(),
            conn: None,
        }));
    }
    if let Some(rc) = &config.rocketchat {
        sinks.push(Box::new(RocketChatSink::new(rc.clone())));
    }
    for url in &config.webhooks {
        sinks.push(Box::new(WebhookSink {
            url: url.clone(),
            agent: http_agent(),
        }));
    }
    if let Some(cmd) = &config.exec {
        sinks.push(Box::new(ExecSink {
            command: cmd.clone(),
        }));
    }
    sinks
}

/// The HTTP client of the sinks.
fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(ALERT_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("nats-lite-watch-http/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Status and body (at most [`MAX_ANSWER`]) of an HTTP answer.
fn answer(resp: ureq::http::Response<ureq::Body>) -> (u16, Vec<u8>) {
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .into_with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .unwrap_or_default();
    (status, body)
}

/// The start of a body, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() > 200 {
        format!("{}...", text.chars().take(200).collect::<String>())
    } else {
        text.to_string()
    }
}

/// Publishes the event JSON on a subject. Connects on first use and again
/// after any failure.
struct NatsSink {
    opts: Options,
    subject: String,
    conn: Option<Connection>,
}

impl Sink for NatsSink {
    fn name(&self) -> String {
        format!("nats {}", self.subject)
    }

    fn deliver(&mut self, event: &Event) -> Result<(), String> {
        let payload = event.json().to_string();
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => Connection::connect(self.opts.clone()).map_err(|e| e.to_string())?,
        };
        let timeout = self.opts.connect_timeout;
        conn.publish(&self.subject, None, None, payload.as_bytes())
            .and_then(|()| conn.flush(timeout))
            .map_err(|e| e.to_string())?;
        self.conn = Some(conn);
        Ok(())
    }
}

/// Posts to a RocketChat channel through its REST API, logging in first
/// (and again when the token has expired) unless given a personal access
/// token.
struct RocketChatSink {
    config: RocketChat,
    agent: ureq::Agent,
    /// `(X-Auth-Token, X-User-Id)` once known.
    session: Option<(String, String)>,
}

impl RocketChatSink {
    fn new(config: RocketChat) -> RocketChatSink {
        let session = match &config.auth {
            RcAuth::Token { token, user_id } => Some((token.clone(), user_id.clone())),
            RcAuth::Login { .. } => None,
        };
        RocketChatSink {
            config,
            agent: http_agent(),
            session,
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.config.url.trim_end_matches('/'))
    }

    /// `POST /api/v1/login`: the token and user id from `data`.
    fn login(&self) -> Result<(String, String), String> {
        let RcAuth::Login { user, password } = &self.config.auth else {
            return Err("the access token was refused".into());
        };
        let resp = self
            .agent
            .post(&self.endpoint("login"))
            .send_json(json!({ "user": user, "password": password }))
            .map_err(|e| format!("login: {e}"))?;
        let (status, body) = answer(resp);
        if status != 200 {
            return Err(format!("login answered {status}: {}", snippet(&body)));
        }
        let v: Json =
            serde_json::from_slice(&body).map_err(|_| "login answer is not JSON".to_string())?;
        let field = |name: &str| {
            v.pointer(&format!("/data/{name}"))
                .and_then(Json::as_str)
                .map(str::to_string)
        };
        match (field("authToken"), field("userId")) {
            (Some(token), Some(id)) => Ok((token, id)),
            _ => Err("login answer has no data.authToken and data.userId".into()),
        }
    }

    /// `POST /api/v1/chat.postMessage`: the HTTP status and body.
    fn post(&self, session: &(String, String), text: &str) -> Result<(u16, Vec<u8>), String> {
        let resp = self
            .agent
            .post(&self.endpoint("chat.postMessage"))
            .header("X-Auth-Token", &session.0)
            .header("X-User-Id", &session.1)
            .send_json(json!({ "channel": self.config.channel, "text": text }))
            .map_err(|e| format!("chat.postMessage: {e}"))?;
        Ok(answer(resp))
    }
}

impl Sink for RocketChatSink {
    fn name(&self) -> String {
        format!("rocketchat {}", self.config.url)
    }

    fn deliver(&mut self, event: &Event) -> Result<(), String> {
        let text = event.text();
        let mut relogged = false;
        loop {
            let session = match self.session.take() {
                Some(s) => s,
                None => {
                    relogged = true;
                    self.login()?
                }
            };
            let (status, body) = self.post(&session, &text)?;
            let is_login = matches!(self.config.auth, RcAuth::Login { .. });
            match status {
                200..=299 => {
                    self.session = Some(session);
                    let refused = serde_json::from_slice::<Json>(&body)
                        .ok()
                        .and_then(|v| v.get("success").and_then(Json::as_bool))
                        == Some(false);
                    return if refused {
                        Err(format!("chat.postMessage refused: {}", snippet(&body)))
                    } else {
                        Ok(())
                    };
                }
                // The token expired (or the server restarted): log in again, once.
                401 if is_login && !relogged => continue,
                _ => {
                    if status != 401 || !is_login {
                        self.session = Some(session);
                    }
                    return Err(format!(
                        "chat.postMessage answered {status}: {}",
                        snippet(&body)
                    ));
                }
            }
        }
    }
}

/// POSTs `{"text": ...}`, as Slack and Mattermost incoming webhooks take it.
struct WebhookSink {
    url: String,
    agent: ureq::Agent,
}

impl Sink for WebhookSink {
    fn name(&self) -> String {
        format!("webhook {}", self.url)
    }

    fn deliver(&mut self, event: &Event) -> Result<(), String> {
        let resp = self
            .agent
            .post(&self.url)
            .send_json(json!({ "text": event.text() }))
            .map_err(|e| e.to_string())?;
        match answer(resp) {
            (200..=299, _) => Ok(()),
            (status, body) => Err(format!("answered {status}: {}", snippet(&body))),
        }
    }
}

/// Runs a shell command with the event JSON on stdin and the main fields
/// in `WATCH_*` environment variables; its output goes to our stderr.
struct ExecSink {
    command: String,
}

impl Sink for ExecSink {
    fn name(&self) -> String {
        format!("exec {:?}", self.command)
    }

    fn deliver(&mut self, event: &Event) -> Result<(), String> {
        let mut cmd = if cfg!(windows) {
            let mut c = Command::new("cmd");
            c.arg("/C").arg(&self.command);
            c
        } else {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&self.command);
            c
        };
        cmd.env("WATCH_EVENT", event.kind)
            .env("WATCH_URL", &event.url)
            .env("WATCH_VERDICT", if event.ok { "OK" } else { "FAIL" })
            .env("WATCH_REASON", event.reason.as_deref().unwrap_or(""))
            .env("WATCH_TEXT", event.text())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| format!("cannot run it: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let mut payload = event.json().to_string();
            payload.push('\n');
            // A command that does not read its input is fine.
            let _ = stdin.write_all(payload.as_bytes());
        }
        let deadline = Instant::now() + EXEC_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("it exited with {status}")),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "it did not finish within {}; killed",
                        short_duration(EXEC_TIMEOUT)
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::watch_http::check::{Fault, Verdict};
    use std::sync::Mutex;
    use std::time::UNIX_EPOCH;

    fn event(change: Change, verdict: Verdict) -> Event {
        let target = Target {
            url: "http://api/health".into(),
            name: None,
            method: "GET".into(),
            headers: vec![],
            body: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            insecure: false,
            cacert: None,
            expect: Default::default(),
            fail_after: 1,
            remind: None,
        };
        let result = CheckResult {
            time: UNIX_EPOCH,
            status: Some(if verdict.is_ok() { 200 } else { 500 }),
            elapsed: Duration::from_millis(12),
            verdict,
        };
        Event::new(&target, &result, &change)
    }

    #[test]
    fn texts_name_target_verdict_and_reason() {
        let fail = Verdict::Fail(Fault::Status(500));
        assert_eq!(
            event(Change::Down { failures: 1 }, fail.clone()).text(),
            "FAIL http://api/health: status 500"
        );
        assert_eq!(
            event(Change::Down { failures: 3 }, fail.clone()).text(),
            "FAIL http://api/health: status 500 (3 failed checks in a row)"
        );
        assert_eq!(
            event(
                Change::StillDown {
                    failures: 60,
                    down_for: Duration::from_secs(600)
                },
                fail
            )
            .text(),
            "STILL FAILING http://api/health: status 500 (down for 10m, 60 failed checks)"
        );
        assert_eq!(
            event(
                Change::Recovered {
                    failures: 1,
                    down_for: Duration::from_secs(10)
                },
                Verdict::Ok
            )
            .text(),
            "OK http://api/health: recovered after 10s (1 failed check); status 200 in 12ms"
        );
    }

    #[test]
    fn event_json() {
        let v = event(
            Change::Down { failures: 2 },
            Verdict::Fail(Fault::Status(500)),
        )
        .json();
        assert_eq!(v["event"], "down");
        assert_eq!(v["verdict"], "FAIL");
        assert_eq!(v["reason"], "status 500");
        assert_eq!(v["status"], 500);
        assert_eq!(v["failures"], 2);
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert!(v.get("name").is_none() && v.get("down_for_ms").is_none());
    }

    #[test]
    fn pauses_double_up_to_the_max() {
        let r = Retry::default();
        let p: Vec<_> = (1..=6).map(|n| r.pause(n).as_millis()).collect();
        assert_eq!(p, [500, 1000, 2000, 4000, 8000, 8000]);
        assert_eq!(r.pause(200), r.max_pause);
    }

    struct Flaky {
        fail_first: u32,
        calls: Arc<Mutex<u32>>,
    }

    impl Sink for Flaky {
        fn name(&self) -> String {
            "flaky".into()
        }
        fn deliver(&mut self, _: &Event) -> Result<(), String> {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            if *c <= self.fail_first {
                Err(format!("failure {c}"))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn retries_are_bounded_and_logged() {
        let retry = Retry {
            attempts: 3,
            first_pause: Duration::ZERO,
            max_pause: Duration::ZERO,
        };
        let ev = event(
            Change::Down { failures: 1 },
            Verdict::Fail(Fault::Status(500)),
        );
        let lines = Mutex::new(Vec::new());
        let log = |l: String| lines.lock().unwrap().push(l);

        let calls = Arc::new(Mutex::new(0));
        let mut sink = Flaky {
            fail_first: 1,
            calls: calls.clone(),
        };
        deliver_with_retry(&mut sink, &ev, retry, &log);
        assert_eq!(*calls.lock().unwrap(), 2);
        assert_eq!(
            lines.lock().unwrap().as_slice(),
            ["flaky: attempt 1 of 3 failed: failure 1; retrying in 0ms"]
        );

        let calls = Arc::new(Mutex::new(0));
        let mut sink = Flaky {
            fail_first: 10,
            calls: calls.clone(),
        };
        lines.lock().unwrap().clear();
        deliver_with_retry(&mut sink, &ev, retry, &log);
        assert_eq!(*calls.lock().unwrap(), 3);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[2],
            "flaky: giving up on the alert for http://api/health after 3 attempts: failure 3"
        );
    }

    #[test]
    fn a_failing_sink_does_not_hold_up_another() {
        let calls = Arc::new(Mutex::new(0));
        let (tx, rx) = mpsc::channel();
        struct Record(mpsc::Sender<String>);
        impl Sink for Record {
            fn name(&self) -> String {
                "record".into()
            }
            fn deliver(&mut self, e: &Event) -> Result<(), String> {
                self.0.send(e.text()).map_err(|e| e.to_string())
            }
        }
        let alerter = Alerter::start(
            vec![
                Box::new(Flaky {
                    fail_first: u32::MAX,
                    calls,
                }),
                Box::new(Record(tx)),
            ],
            Retry {
                attempts: 3,
                first_pause: Duration::from_secs(60),
                max_pause: Duration::from_secs(60),
            },
        )
        .unwrap();
        alerter.send(event(
            Change::Down { failures: 1 },
            Verdict::Fail(Fault::Status(500)),
        ));
        let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(got.starts_with("FAIL "));
        alerter.finish(Duration::from_millis(10));
    }
}
