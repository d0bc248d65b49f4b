//! `nats-lite top` against a live server: snapshots with `-o`/`-r` (no
//! terminal), delimited output, clear errors for a client port or nothing
//! at all, and the live view driven in a tmux pseudo-terminal (keys `s`,
//! `o`, `q`; skipped with a message when tmux is not installed, failed
//! under `CI`).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::monitor_util::Monitored;
use crate::util::{nats_lite_bin, skip_missing_peer, RawClient, TempDir};

/// A named client that published `n` messages to `subject`.
fn busy_client(m: &Monitored, name: &str, subject: &str, n: usize) -> RawClient {
    let mut c = m.server.connect();
    c.handshake(&format!(
        r#"{{"verbose":false,"pedantic":false,"name":"{name}","lang":"raw","version":"1.2"}}"#
    ));
    let mut out = format!("SUB {name}.in 1\r\n");
    for _ in 0..n {
        out.push_str(&format!("PUB {subject} 3\r\nabc\r\n"));
    }
    c.send(out);
    c.flush();
    c
}

fn top(args: &[&str]) -> Output {
    Command::new(nats_lite_bin())
        .arg("top")
        .args(args)
        .output()
        .expect("run top")
}

/// Wait until /varz counts `n` messages in, so that a snapshot sees them.
fn settle(m: &Monitored, n: u64) {
    m.poll_json("/varz", Duration::from_secs(5), |v| v["in_msgs"] == n);
}

#[test]
fn snapshots_to_stdout_show_the_table() {
    let m = Monitored::start(&[]);
    let _a = busy_client(&m, "alpha", "x", 3);
    let _b = busy_client(&m, "bravo", "x", 1500);
    settle(&m, 1503);
    let port = m.http.port().to_string();
    let out = top(&[
        "-m",
        &port,
        "-r",
        "2",
        "-o",
        "-",
        "-d",
        "0.2",
        "-u",
        "--sort",
        "msgs_from",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.matches("NATS server version 2.9.10+nats-lite").count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches("Connections Polled: 2").count(), 2, "{text}");
    assert!(text.contains("  Load: CPU:  "), "{text}");
    assert!(text.contains("  In:   Msgs: 1.5K  Bytes: 4.4K"), "{text}");
    let snapshot = text.split("\n\n\n").next().unwrap();
    let lines: Vec<&str> = snapshot.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.trim_start().starts_with("HOST"))
        .unwrap_or_else(|| panic!("no table in {text}"));
    let cols: Vec<&str> = lines[head].split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "HOST",
            "CID",
            "NAME",
            "SUBS",
            "PENDING",
            "MSGS_TO",
            "MSGS_FROM",
            "BYTES_TO",
            "BYTES_FROM",
            "LANG",
            "VERSION",
            "UPTIME",
            "LAST_ACTIVITY",
            "SUBSCRIPTIONS"
        ]
    );
    // Sorted by messages from the client: bravo (1500) first.
    let bravo: Vec<&str> = lines[head + 1].split_whitespace().collect();
    let alpha: Vec<&str> = lines[head + 2].split_whitespace().collect();
    assert!(bravo[0].starts_with("127.0.0.1:"), "{bravo:?}");
    assert_eq!(&bravo[2..5], ["bravo", "1", "0"]);
    assert_eq!(bravo[6], "1.5K", "MSGS_FROM");
    assert_eq!(bravo[8], "4.4K", "BYTES_FROM");
    assert_eq!(&bravo[9..11], ["raw", "1.2"]);
    assert_eq!(*bravo.last().unwrap(), "bravo.in");
    assert_eq!(&alpha[2..7], ["alpha", "1", "0", "0", "3"]);
}

#[test]
fn delimited_snapshot_to_a_file_with_raw_bytes() {
    let m = Monitored::start(&[]);
    let _a = busy_client(&m, "alpha", "x", 1500);
    settle(&m, 1500);
    let dir = TempDir::new("top-out");
    let file = dir.path().join("snap.csv");
    let port = m.http.port().to_string();
    let out = top(&["-m", &port, "-o", file.to_str().unwrap(), "-l", ",", "-b"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NATS server version,"), "{text}");
    assert!(lines.contains(&"Connections Polled:,1"), "{text}");
    assert!(
        lines.contains(&"In:,Msgs:,1500,Bytes:,4500,Msgs/Sec:,0.0,Bytes/Sec:,0"),
        "{text}"
    );
    let row = lines.last().unwrap();
    let cells: Vec<&str> = row.split(',').collect();
    // BYTES_TO (cells[7]) counts protocol bytes too (INFO, PONG): not checked.
    assert_eq!(&cells[2..7], ["alpha", "1", "0", "0", "1500"], "{row}");
    assert_eq!(cells[8], "4500", "{row}");
}

#[test]
fn pointing_at_the_client_port_says_so() {
    let m = Monitored::start(&[]);
    let port = m.server.addr.port().to_string();
    let out = top(&["-m", &port, "-o", "-"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is a NATS client port, not the monitoring port"),
        "{err}"
    );
}

#[test]
fn an_unreachable_port_is_a_clear_error() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let out = top(&["-m", &port, "-o", "-"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("could not get stats from http://127.0.0.1:"),
        "{err}"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["--sort", "bogus"][..],
        &["-sort", "stop"],
        &["-d", "0"],
        &["-m", "0", "-o", "-"],
    ] {
        let out = top(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    // Without a terminal and without -o/-r, top says what to do.
    let out = top(&["-m", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-o FILE"));
}

/// A tmux server on a private socket, killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn new(tag: &str) -> Option<Tmux> {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return None;
        }
        Some(Tmux {
            socket: format!("nats-lite-top-test-{}-{tag}", std::process::id()),
        })
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux")
    }

    /// Start the session `top`, a `(columns, rows)` terminal running `script`
    /// with `sh -c`.
    pub fn run(&self, (columns, rows): (u16, u16), script: &str) {
        let (x, y) = (columns.to_string(), rows.to_string());
        let started = self.cmd(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            &x,
            "-y",
            &y,
            "sh",
            "-c",
            script,
        ]);
        assert!(
            started.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&started.stderr)
        );
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    }

    /// Poll the pane until `done` holds (or panic with the screen after 10 s).
    pub fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn row_of(screen: &str, name: &str) -> usize {
    screen
        .lines()
        .position(|l| l.contains(&format!(" {name} ")))
        .unwrap_or_else(|| panic!("no row for {name} in\n{screen}"))
}

#[test]
fn live_view_keys_in_a_terminal() {
    let Some(tmux) = Tmux::new("keys") else {
        skip_missing_peer("tmux (apt-get install -y tmux)");
        return;
    };
    let m = Monitored::start(&[]);
    let _a = busy_client(&m, "alpha", "x", 1);
    let _b = busy_client(&m, "bravo", "x", 9);
    settle(&m, 10);
    let script = format!(
        "{} top -m {} -d 0.2; echo TOP-EXITED rc=$?; sleep 60",
        nats_lite_bin().display(),
        m.http.port()
    );
    tmux.run((220, 40), &script);

    let s = tmux.wait_for("the first poll", |s| s.contains("Connections Polled: 2"));
    assert!(s.contains("NATS server version"));
    assert!(
        row_of(&s, "alpha") < row_of(&s, "bravo"),
        "sorted by cid:\n{s}"
    );
    assert!(!s.contains("SUBSCRIPTIONS"));

    tmux.keys(&["s"]);
    let s = tmux.wait_for("the subscriptions column", |s| s.contains("bravo.in"));
    assert!(s.contains("SUBSCRIPTIONS"), "{s}");

    tmux.keys(&["o"]);
    tmux.wait_for("the sort prompt", |s| s.contains("sort by [cid]:"));
    tmux.keys(&["msgs_from", "Enter"]);
    let s = tmux.wait_for("rows sorted by msgs_from", |s| {
        s.contains("Connections Polled: 2") && row_of(s, "bravo") < row_of(s, "alpha")
    });
    assert!(!s.contains("sort by ["), "the prompt is gone:\n{s}");

    tmux.keys(&["o"]);
    tmux.keys(&["bogus", "Enter"]);
    tmux.wait_for("the invalid order message", |s| {
        s.contains("invalid order: bogus")
    });

    tmux.keys(&["?"]);
    tmux.wait_for("the help", |s| {
        s.contains("Toggle displaying connection subscriptions")
    });
    tmux.keys(&["x"]);
    tmux.wait_for("the table again", |s| s.contains("Connections Polled: 2"));

    tmux.keys(&["q"]);
    let s = tmux.wait_for("top to exit", |s| s.contains("TOP-EXITED rc=0"));
    // The alternate screen is gone: the table is no longer on the screen.
    assert!(!s.contains("Connections Polled"), "{s}");
}

#[test]
fn live_view_quits_on_ctrl_c_and_restores_the_terminal() {
    let Some(tmux) = Tmux::new("ctrl-c") else {
        skip_missing_peer("tmux (apt-get install -y tmux)");
        return;
    };
    let m = Monitored::start(&[]);
    let script = format!(
        "{} top -m {} -d 0.2; echo TOP-EXITED rc=$?; stty -a | grep -o ' icanon'; sleep 60",
        nats_lite_bin().display(),
        m.http.port()
    );
    tmux.run((200, 40), &script);
    tmux.wait_for("the first poll", |s| s.contains("Connections Polled: 0"));
    tmux.keys(&["C-c"]);
    let s = tmux.wait_for("top to exit", |s| s.contains("TOP-EXITED rc=0"));
    // Canonical mode is back (raw mode would show -icanon).
    tmux.wait_for("stty", |s| s.contains(" icanon"));
    assert!(!s.contains("Connections Polled"), "{s}");
}

#[test]
fn live_view_retries_an_unreachable_port() {
    let Some(tmux) = Tmux::new("retry") else {
        skip_missing_peer("tmux (apt-get install -y tmux)");
        return;
    };
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let script = format!(
        "{} top -m {port} -d 0.2; echo TOP-EXITED rc=$?; sleep 60",
        nats_lite_bin().display()
    );
    tmux.run((200, 40), &script);
    let s = tmux.wait_for("the error", |s| s.contains("could not get stats from"));
    assert!(s.contains("retrying every 0.2s"), "{s}");
    tmux.keys(&["q"]);
    tmux.wait_for("top to exit", |s| s.contains("TOP-EXITED rc=0"));
}

/// A fake monitoring endpoint: answers every HTTP request on one
/// connection with `head`, then `body_mib` MiB of `fill` (stopping when
/// `top` hangs up). Serves connections until the test drops it.
fn rogue_http(head: &'static str, fill: u8, body_mib: usize) -> std::net::SocketAddr {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        // Bounded: top makes one request per poll, -r 1 polls once (a
        // second connection is the client-port probe after an error).
        for _ in 0..4 {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            std::thread::spawn(move || {
                let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
                let mut req = [0u8; 4096];
                let _ = std::io::Read::read(&mut s, &mut req);
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![fill; 1 << 20];
                for _ in 0..body_mib {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// K01 for `top`: a monitoring endpoint that misbehaves gets a clear
/// error and exit 1, no panic, and memory bounded below what it sends.
#[test]
fn k01_top_against_a_rogue_http_server() {
    use crate::client_support::{lite, run};
    let cases: [(&'static str, u8, usize, &str); 4] = [
        // A status line that never ends (100 MiB, no newline).
        ("HTTP/1.1 200 OK", b'x', 100, "could not get stats from"),
        // A length far beyond any reply, then 100 MiB of body.
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n",
            b' ',
            100,
            "could not decode the server's reply",
        ),
        // JSON that does not parse.
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"server_id\"",
            b'x',
            0,
            "could not decode the server's reply",
        ),
        // Not even HTTP.
        ("SSH-2.0-OpenSSH_9.6\r\n", b'x', 0, "could not get stats from"),
    ];
    for (head, fill, mib, want) in cases {
        let addr = rogue_http(head, fill, mib);
        let port = addr.port().to_string();
        let d = run(lite(&["top", "-m", &port, "-o", "-"]), None);
        d.assert_fails(1, want);
        assert!(d.stderr.starts_with("nats-lite: "), "{}", d.stderr);
        if let Some(kib) = d.max_rss_kib {
            assert!(kib < 80 * 1024, "{head:?}: peak RSS {kib} KiB");
        }
    }
}

/// `top -s a,b,c` against three clustered servers: one aggregated header
/// (sums of every server's figures) and a row for each server by name; a
/// server that does not answer gets a DOWN row, the others still show.
#[test]
fn top_shows_three_clustered_servers() {
    use crate::cluster_support::{seed_cluster, Impl};
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    // One client on each of the first two servers, two messages from one.
    let mut a = nodes[0].client();
    a.send("SUB top.x 1\r\n");
    a.flush();
    let mut b = nodes[1].client();
    b.send("PUB top.y 2\r\nhi\r\nPUB top.y 2\r\nhi\r\n");
    b.flush();
    // The counters are added at the end of a read batch: wait for them.
    assert!(crate::cluster_support::eventually(
        Duration::from_secs(5),
        || { nodes[1].json("/varz")["in_msgs"] == 2 }
    ));
    let list = nodes
        .iter()
        .map(|n| n.http.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let out = std::process::Command::new(nats_lite_bin())
        .args(["top", "-s", &list, "-o", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("3 servers, 3 answering"), "{text}");
    assert!(text.contains("Connections: 2 "), "{text}");
    assert!(text.contains("Routes: 6"), "{text}");
    assert!(text.contains("In:   Msgs: 2 "), "{text}");
    for n in &nodes {
        let name = n.json("/varz")["server_name"].as_str().unwrap().to_string();
        let row = text
            .lines()
            .find(|l| l.starts_with(&n.http.to_string()))
            .unwrap_or_else(|| panic!("no row for {}: {text}", n.http));
        assert!(row.contains(&name[..name.len().min(24)]), "{row}");
    }
    // One server down: still a view, with its row marked.
    let dead = crate::obs_support::free_port();
    let list = format!("{list},127.0.0.1:{dead}");
    let out = std::process::Command::new(nats_lite_bin())
        .args(["top", "-s", &list, "-o", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("4 servers, 3 answering"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("127.0.0.1:{dead}")) && l.contains("DOWN")),
        "{text}"
    );
}

/// Client-supplied `name` and `lang` carry terminal escape sequences: `top`
/// shows them escaped (`\u{1b}`), never as raw control bytes (issue 16).
#[test]
fn top_escapes_control_characters_from_clients() {
    let m = Monitored::start(&[]);
    let mut c = m.server.connect();
    c.handshake(
        r#"{"verbose":false,"name":"evil\u001b]0;pwned\u0007\u001b[2J","lang":"\u001b[31mred","version":"1\u009b2"}"#,
    );
    c.send("SUB odd.\u{1b}[5m 1\r\n");
    c.flush();
    let port = m.http.port().to_string();
    let out = top(&["-m", &port, "-r", "1", "-o", "-", "-u"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.bytes().any(|b| b == 0x1b || b == 0x07),
        "raw control bytes in top's output: {text:?}"
    );
    assert!(
        text.contains("evil\\u{1b}]0;pwned\\u{7}\\u{1b}[2J"),
        "{text}"
    );
    assert!(text.contains("\\u{1b}[31mred"), "{text}");
    assert!(text.contains("1\\u{9b}2"), "{text}");
    assert!(text.contains("odd.\\u{1b}[5m"), "{text}");
}
