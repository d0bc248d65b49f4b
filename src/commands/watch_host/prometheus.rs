//! Prometheus: the text exposition format of a report (every sample as a
//! gauge named `watch_host_<metric>`, with `path` or `target` labels, and
//! the counter `watch_host_file_changes_total{target, change}` since
//! start, for `rate()`), a
//! tiny HTTP listener that serves the latest at `/metrics`, and the
//! node_exporter textfile, written to a temporary file and renamed over the
//! old one so the collector never reads half a file.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::report::{metric, Report};
use crate::commands::delivery::Sink;
use crate::deadline::DeadlineStream;

/// The prefix of every metric name.
pub const PREFIX: &str = "watch_host_";

/// `"` `\` and newlines escaped, as label values need.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The report in the text exposition format (version 0.0.4).
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut last = "";
    for s in report.samples() {
        if s.name != last {
            last = s.name;
            let help = metric(s.name).map_or("", |m| m.help);
            let _ = writeln!(out, "# HELP {PREFIX}{} {help}", s.name);
            let _ = writeln!(out, "# TYPE {PREFIX}{} gauge", s.name);
        }
        let labels = match &s.label {
            Some(l) => format!("{{{}=\"{}\"}}", l.key(), escape(&l.value())),
            None => String::new(),
        };
        let _ = writeln!(out, "{PREFIX}{}{labels} {}", s.name, number(s.value));
    }
    if !report.files.is_empty() {
        let _ = writeln!(
            out,
            "# HELP {PREFIX}file_changes_total File changes since the agent started, by change"
        );
        let _ = writeln!(out, "# TYPE {PREFIX}file_changes_total counter");
        for f in &report.files {
            let target = escape(&f.target.display().to_string());
            let t = f.totals;
            for (change, n) in [
                ("created", t.created),
                ("modified", t.modified),
                ("deleted", t.deleted),
                ("moved", t.moved),
            ] {
                let _ = writeln!(
                    out,
                    "{PREFIX}file_changes_total{{target=\"{target}\",change=\"{change}\"}} {n}"
                );
            }
        }
    }
    out
}

/// A sample value: integers without a fraction, NaN and infinities by name.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The latest text, shared by the collector and the listener.
pub type Latest = Arc<Mutex<String>>;

/// How the exporter's listener bounds a scraper: the time from accept to
/// the end of the answer, and how many requests are served at once (more
/// are closed at once, unanswered).
#[derive(Clone, Copy)]
struct Limits {
    per_request: Duration,
    at_once: usize,
}

/// Prometheus scrapes once per interval; a peer that takes longer than
/// this over one request, or opens more at once, is not a scraper.
const LIMITS: Limits = Limits {
    per_request: Duration::from_secs(10),
    at_once: 16,
};

/// Serve `GET /metrics` on `addr` from `latest`, one short-lived thread per
/// request. Returns the bound address.
///
/// # Errors
///
/// The address cannot be bound.
pub fn serve(addr: &str, latest: Latest) -> std::io::Result<SocketAddr> {
    serve_within(addr, latest, LIMITS)
}

fn serve_within(addr: &str, latest: Latest, limits: Limits) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("prometheus".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                if busy.fetch_add(1, Ordering::SeqCst) >= limits.at_once {
                    busy.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
                let (latest, done) = (latest.clone(), busy.clone());
                let conn = DeadlineStream::new(conn, Instant::now() + limits.per_request);
                let spawned = std::thread::Builder::new()
                    .name("prometheus-conn".into())
                    .spawn(move || {
                        answer(conn, &latest);
                        done.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })?;
    Ok(bound)
}

/// Read one request, answer it, close; all within the stream's deadline.
fn answer(mut conn: DeadlineStream, latest: &Latest) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            latest.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        ),
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/html; charset=utf-8",
            "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n".to_string(),
        ),
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".to_string(),
        ),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        resp.extend_from_slice(body.as_bytes());
    }
    let _ = conn.write_all(&resp);
}

/// Writes the node_exporter textfile (`*.prom`) atomically.
pub struct Textfile {
    /// The file the collector reads.
    pub path: PathBuf,
}

impl Sink<Report> for Textfile {
    fn name(&self) -> String {
        format!("textfile {}", self.path.display())
    }

    fn deliver(&mut self, report: &Report) -> Result<(), String> {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(render(report).as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            e.to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    fn exporter(limits: Limits) -> SocketAddr {
        let latest: Latest = Arc::new(Mutex::new("up 1\n".into()));
        serve_within("127.0.0.1:0", latest, limits).unwrap()
    }

    /// Read until the exporter closes the connection (or 10 s pass).
    fn read_to_close(conn: &mut TcpStream) -> String {
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    }

    /// A peer dripping its request a byte at a time, each well within the
    /// limit, is cut off at the limit for the whole request.
    #[test]
    fn a_dripped_request_is_cut_off_at_the_request_deadline() {
        let addr = exporter(Limits {
            per_request: Duration::from_millis(300),
            at_once: 16,
        });
        let mut conn = TcpStream::connect(addr).unwrap();
        let mut dripper = conn.try_clone().unwrap();
        let started = Instant::now();
        std::thread::spawn(move || {
            for b in b"GET /metrics HTTP/1.1\r\nX: ".repeat(100) {
                if dripper.write_all(&[b]).is_err() {
                    break;
                }
                // Pacing the drip, not synchronisation.
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        assert_eq!(read_to_close(&mut conn), "");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    /// Over the limit of requests at once a connection is closed at once,
    /// and once they are done the next is answered.
    #[test]
    fn requests_over_the_limit_at_once_are_closed() {
        let addr = exporter(Limits {
            per_request: Duration::from_secs(10),
            at_once: 2,
        });
        let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let mut extra = TcpStream::connect(addr).unwrap();
        extra.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(read_to_close(&mut extra), "");
        drop(held);
        // The two held ones end (their peer hung up); then one is answered.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut conn = TcpStream::connect(addr).unwrap();
            conn.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
            let answer = read_to_close(&mut conn);
            if answer.starts_with("HTTP/1.1 200 OK") {
                assert!(answer.ends_with("up 1\n"), "{answer}");
                break;
            }
            assert!(Instant::now() < deadline, "never answered again");
        }
    }

    #[test]
    fn numbers_and_escapes() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
