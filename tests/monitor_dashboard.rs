//! The live dashboard at `/`, in a real browser: headless Chromium driven
//! through chromedriver's WebDriver HTTP API loads the page from a server
//! carrying traffic, sees the message rates go from 0 to non-zero while a
//! publisher runs, sees a new connection appear in the table, and takes a
//! screenshot whose size shows it is not blank (kept under the target
//! directory as `dashboard.png`). With scripts off, the page is a text
//! snapshot (checked over plain HTTP).

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::monitor_util::Monitored;
use crate::obs_support::{free_port, require_tool, Killed};
use crate::util::TempDir;

/// A WebDriver session, deleted (closing the browser) when dropped.
struct Session {
    base: String,
}

impl Session {
    fn start(driver: u16, profile: &std::path::Path, chromium: &std::path::Path) -> Session {
        let root = format!("http://127.0.0.1:{driver}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{root}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,1100",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let reply: Value = ureq::post(&format!("{root}/session"))
            .send_json(&caps)
            .expect("new session")
            .body_mut()
            .read_json()
            .unwrap();
        let id = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}"))
            .to_string();
        Session {
            base: format!("{root}/session/{id}"),
        }
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let mut r = ureq::post(&format!("{}/{path}", self.base))
            .send_json(&body)
            .unwrap_or_else(|e| panic!("webdriver {path}: {e}"));
        r.body_mut().read_json::<Value>().unwrap()["value"].take()
    }

    fn goto(&self, url: &str) {
        self.post("url", json!({ "url": url }));
    }

    /// The text of the element with this id.
    fn text(&self, id: &str) -> String {
        let v = self.post(
            "execute/sync",
            json!({"script": "const e=document.getElementById(arguments[0]);return e?e.textContent:null",
                   "args": [id]}),
        );
        v.as_str().unwrap_or_default().to_string()
    }

    /// Poll the text of `id` until `ok` holds; the last text either way.
    fn wait_text(&self, id: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.text(id);
            if ok(&t) || Instant::now() >= deadline {
                return t;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn screenshot(&self) -> Vec<u8> {
        let mut r = ureq::get(&format!("{}/screenshot", self.base))
            .call()
            .expect("screenshot");
        let v: Value = r.body_mut().read_json().unwrap();
        nats_lite::server::monitor::access::base64_decode(v["value"].as_str().unwrap())
            .expect("base64 PNG")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.base).call();
    }
}

/// A dashboard figure ("0", "12.5", "1.2K") as a number.
fn figure(text: &str) -> f64 {
    let t = text.trim();
    let (num, mul) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    num.parse::<f64>().map_or(-1.0, |n| n * mul)
}

/// Publish on `subject` from a named raw connection until `stop`.
fn publisher(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"CONNECT {\"verbose\":false,\"name\":\"dash-publisher\"}\r\n")
            .unwrap();
        let batch = "PUB dash.load 16\r\n0123456789abcdef\r\n".repeat(200);
        while !stop.load(Ordering::Relaxed) {
            if s.write_all(batch.as_bytes()).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

#[test]
fn dashboard_shows_live_rates_and_new_connections() {
    let (Some(chromium), Some(chromedriver)) = (
        require_tool("chromium", "chromium"),
        require_tool("chromedriver", "chromium-driver"),
    ) else {
        return;
    };
    let m = Monitored::start(&[]);
    let mut sub = m.server.connect();
    sub.handshake(r#"{"verbose":false,"name":"dash-subscriber"}"#);
    sub.send("SUB dash.> 1\r\n");
    sub.flush();
    // Drain what the subscriber gets, so it is never a slow consumer.
    let mut sink = sub.stream.try_clone().unwrap();
    sink.set_read_timeout(None).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = std::io::Read::read(&mut sink, &mut buf) {
            if n == 0 {
                break;
            }
        }
    });
    let profile = TempDir::new("chromium-profile");
    let port = free_port();
    let _driver = Killed(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let s = Session::start(port, profile.path(), &chromium);
    s.goto(&format!("http://{}/", m.http));
    let status = s.wait_text("status", Duration::from_secs(20), |t| t.starts_with("live"));
    assert!(
        status.starts_with("live"),
        "the page never went live: {status:?}"
    );
    // No traffic yet: the rate shows 0 after two polls.
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(figure(&s.text("in-msgs-rate")), 0.0);

    let stop = Arc::new(AtomicBool::new(false));
    let pubs = publisher(m.server.addr, stop.clone());
    let rate = s.wait_text("in-msgs-rate", Duration::from_secs(15), |t| figure(t) > 0.0);
    assert!(
        figure(&rate) > 0.0,
        "msgs/s in stayed {rate:?} while publishing"
    );
    let out = s.wait_text("out-msgs-rate", Duration::from_secs(15), |t| {
        figure(t) > 0.0
    });
    assert!(figure(&out) > 0.0, "msgs/s out stayed {out:?}");
    let rows = s.wait_text("conn-rows", Duration::from_secs(10), |t| {
        t.contains("dash-publisher")
    });
    assert!(rows.contains("dash-subscriber"), "{rows}");

    // A new connection appears in the table.
    let mut newcomer = m.server.connect();
    newcomer.handshake(r#"{"verbose":false,"name":"dash-newcomer"}"#);
    let rows = s.wait_text("conn-rows", Duration::from_secs(10), |t| {
        t.contains("dash-newcomer")
    });
    assert!(
        rows.contains("dash-newcomer"),
        "the new connection never showed: {rows}"
    );
    assert_eq!(s.text("connections"), "3");

    let png = s.screenshot();
    stop.store(true, Ordering::Relaxed);
    pubs.join().unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 1000 && height >= 800, "{width}x{height}");
    // A blank page of this size compresses to a few KB; ours has text,
    // tables and two charts.
    assert!(png.len() > 40_000, "screenshot only {} bytes", png.len());
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!(
        "dashboard screenshot: {} ({} bytes, {width}x{height})",
        shot.display(),
        png.len()
    );
}

/// Without scripts the page still carries the figures as text.
#[test]
fn dashboard_is_a_text_snapshot_without_scripts() {
    let m = Monitored::start(&[]);
    let mut c = m.server.connect();
    c.handshake(r#"{"verbose":false}"#);
    c.send("PUB x 1\r\na\r\n");
    c.flush();
    m.poll_json("/varz", Duration::from_secs(5), |v| v["in_msgs"] == 1);
    let page = m.get("/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let text = page.text();
    assert!(!text.contains("{{"), "unfilled placeholder");
    assert!(text.contains("<b id=\"connections\">1</b>"), "{text}");
    assert!(text.contains("<b id=\"in-msgs\">1</b>"), "{text}");
    assert!(text.len() < 16 * 1024, "{} bytes", text.len());
    let index = m.get("/index");
    assert!(index.text().contains("href=./varz"));
}
