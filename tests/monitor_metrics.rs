//! `GET /metrics`: the exposition passes `promtool check metrics`, the
//! OpenMetrics variant is served when asked, the histograms count what the
//! traffic did, and a real Prometheus server scrapes nats-lite and answers
//! a query for a counter that grew with the traffic sent.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::monitor_util::{http_raw, Monitored};
use crate::obs_support::{free_port, require_tool, write_file, Killed};
use crate::util::TempDir;

/// Publish `n` messages on `subject` from a fresh raw client, and wait
/// until the server has read them (a PING answered).
fn publish(m: &Monitored, subject: &str, n: usize) {
    let mut c = m.server.connect();
    c.handshake(r#"{"verbose":false}"#);
    let mut batch = String::new();
    for i in 0..n {
        batch.push_str(&format!("PUB {subject} 5\r\nm{i:04}\r\n"));
    }
    c.send(batch);
    c.flush();
}

/// The value of the first sample named `name` (with any labels).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn metrics(m: &Monitored, accept: Option<&str>) -> (String, String) {
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    let r = http_raw(
        m.http,
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{accept}\r\n").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    (r.header("content-type").unwrap_or("").to_string(), r.text())
}

#[test]
fn metrics_pass_promtool_and_count_the_traffic() {
    let m = Monitored::start(&[]);
    // Two subscribers on `a`, none on `b`: fan-out 2 and 0.
    let mut subs: Vec<_> = (0..2)
        .map(|i| {
            let mut s = m.server.connect();
            s.handshake(r#"{"verbose":false}"#);
            s.send(format!("SUB a {i}\r\n"));
            s.flush();
            s
        })
        .collect();
    publish(&m, "a", 10);
    publish(&m, "b", 5);
    for s in &mut subs {
        for _ in 0..10 {
            s.read_msg();
        }
    }
    let (ctype, text) = metrics(&m, None);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    for name in [
        "gnatsd_varz_in_msgs",
        "gnatsd_varz_connections",
        "gnatsd_connz_num_connections",
        "gnatsd_connz_total_connections",
        "gnatsd_routez_num_routes",
        "gnatsd_subsz_num_subscriptions",
        "gnatsd_accountz_client_connections",
        "nats_lite_in_msgs_total",
    ] {
        assert!(sample(&text, name).is_some(), "no {name} in\n{text}");
    }
    assert_eq!(sample(&text, "nats_lite_in_msgs_total"), Some(15.0));
    assert_eq!(sample(&text, "gnatsd_varz_in_msgs"), Some(15.0));
    assert_eq!(sample(&text, "gnatsd_subsz_num_subscriptions"), Some(2.0));
    assert_eq!(sample(&text, "nats_lite_publish_fanout_count"), Some(15.0));
    assert_eq!(sample(&text, "nats_lite_publish_fanout_sum"), Some(20.0));
    assert!(
        text.contains("nats_lite_publish_fanout_bucket{server_id=")
            && text.contains(",le=\"0\"} 5\n")
            && text.contains(",le=\"2\"} 15\n"),
        "{text}"
    );
    let Some(promtool) = require_tool("promtool", "prometheus") else {
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // OpenMetrics when asked: counters as families without `_total`, `# EOF`.
    let (ctype, open) = metrics(
        &m,
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    );
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(open.ends_with("# EOF\n"));
    assert!(open.contains("# TYPE nats_lite_in_msgs counter\n"));
    assert!(open.contains("# TYPE nats_lite_connection_pending_bytes gaugehistogram\n"));
}

/// Query Prometheus's HTTP API for `expr`; the first result's value.
fn query(prom: u16, expr: &str) -> Option<f64> {
    let url = format!("http://127.0.0.1:{prom}/api/v1/query");
    let body: serde_json::Value = ureq::get(&url)
        .query("query", expr)
        .call()
        .ok()?
        .body_mut()
        .read_json()
        .ok()?;
    body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_and_answers_a_query() {
    let Some(prometheus) = require_tool("prometheus", "prometheus") else {
        return;
    };
    let m = Monitored::start(&[]);
    let dir = TempDir::new("prometheus");
    let config = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: nats-lite\n    static_configs:\n\
             \x20     - targets: ['{}']\n",
            m.http
        ),
    );
    let port = free_port();
    let _prom = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    // A first scrape before the traffic, then the traffic, then a query
    // until the counter shows it (or the deadline passes).
    let deadline = Instant::now() + Duration::from_secs(60);
    while query(port, "up{job=\"nats-lite\"}") != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped nats-lite"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    publish(&m, "grow", 300);
    let mut last = None;
    while Instant::now() < deadline {
        last = query(port, "nats_lite_in_msgs_total{job=\"nats-lite\"}");
        if last == Some(300.0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        last,
        Some(300.0),
        "nats_lite_in_msgs_total as Prometheus saw it"
    );
    // The exporter-named series and a histogram made it too.
    assert_eq!(query(port, "gnatsd_varz_in_msgs"), Some(300.0));
    assert_eq!(query(port, "nats_lite_publish_fanout_count"), Some(300.0));
    let rate = query(port, "increase(nats_lite_in_msgs_total[1m])").unwrap_or(0.0);
    assert!(rate > 0.0, "increase over a minute: {rate}");
}
