//! Signals and the files they act on (anchors.md 1.1 `--signal`, 1.5
//! "Signals"; 1.2 "Lame duck", "Reload", "Logging"): SIGUSR1 reopens a
//! moved log file, SIGUSR2 is lame duck mode, `--signal CMD=PID|PIDFILE`,
//! SIGHUP re-reads the config file (auth, permissions, limits and log
//! options change; clients whose credentials no longer hold are cut off; a
//! changed listen address is refused), log rotation by size, remote syslog.
//! (Plain SIGTERM/SIGINT are in server_flags.rs.)
#![cfg(unix)]

use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config_support::{output_text, run_with_deadline, selected_command, ConfDir};
use crate::util::{
    is_reference, nats_lite_bin, nats_server_bin, unsafe_kill, wait_for_file, RawClient,
    ServerProcess, IO_TIMEOUT,
};

const QUIET: &str = r#"{"verbose":false}"#;
const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'";

fn user_pass(user: &str, pass: &str) -> String {
    serde_json::json!({"verbose": false, "user": user, "pass": pass}).to_string()
}

/// `<server> --signal SPEC`, bounded in time; panics unless it succeeds.
fn send_signal(spec: &str) {
    let mut cmd = selected_command();
    cmd.args(["--signal", spec]);
    let out = run_with_deadline(cmd, IO_TIMEOUT);
    assert!(
        out.status.success(),
        "--signal {spec}: {}",
        output_text(&out)
    );
}

/// Start the selected server with `-c FILE -P PIDFILE` plus `extra`, where
/// FILE holds `conf`; returns the server and the config and pid paths.
fn start_conf_pid(dir: &ConfDir, conf: &str, extra: &[&str]) -> (ServerProcess, String, String) {
    let file = dir.write("server.conf", conf);
    let pid = dir.file_str("server.pid");
    let mut args = vec!["-c", file.as_str(), "-P", pid.as_str()];
    args.extend_from_slice(extra);
    let server = ServerProcess::start_selected(&args);
    wait_for_file(Path::new(&pid), IO_TIMEOUT, |t| !t.trim().is_empty());
    (server, file, pid)
}

// ---- SIGUSR1: reopen the log file ----

/// Move the log file away, signal a reopen (`how` does it), and check that
/// new lines go to a new file at the old path while the moved file stops
/// growing.
fn check_log_reopen(how: &dyn Fn(&ServerProcess, &str)) {
    let dir = ConfDir::new("reopen");
    let log = dir.file_str("server.log");
    let pid = dir.file_str("server.pid");
    let mut server = ServerProcess::start_selected(&["-l", &log, "-P", &pid, "-DV"]);
    server.wait_for_log("Server is ready", IO_TIMEOUT).unwrap();
    wait_for_file(Path::new(&pid), IO_TIMEOUT, |t| !t.trim().is_empty());
    let moved = dir.file("server.log.1");
    std::fs::rename(&log, &moved).unwrap();
    how(&server, &pid);
    // The reopened file appears (the server notes the reopen in it).
    let first = wait_for_file(Path::new(&log), IO_TIMEOUT, |_| true);
    let moved_len = std::fs::metadata(&moved).unwrap().len();
    let mut c = server.client(QUIET);
    c.send("PUB after.reopen 2\r\nhi\r\n");
    c.flush();
    let text = wait_for_file(Path::new(&log), IO_TIMEOUT, |t| t.contains("after.reopen"));
    assert!(text.len() > first.len());
    assert_eq!(
        std::fs::metadata(&moved).unwrap().len(),
        moved_len,
        "the moved file still grows"
    );
    let old = std::fs::read_to_string(&moved).unwrap();
    assert!(old.contains("Server is ready"), "{old}");
    assert!(!old.contains("after.reopen"), "{old}");
}

#[test]
fn sigusr1_reopens_moved_log_file() {
    check_log_reopen(&|server, _| unsafe_kill(server.pid(), "USR1"));
}

#[test]
fn signal_reopen_with_pid_file() {
    check_log_reopen(&|_, pid| send_signal(&format!("reopen={pid}")));
}

// ---- SIGUSR2: lame duck mode ----

/// Lame duck config: the shortest duration nats-server allows (30 s) and
/// a 1 s grace period.
const LDM_CONF: &str = "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n";

/// Lame duck mode: `protocol:1` clients get an INFO with `"ldm":true` at
/// once, `protocol:0` clients get nothing; no new connection is accepted;
/// after the grace period the clients are closed (no more than a second
/// apart, as nats-server spreads them), and the server exits 0.
fn check_lame_duck(how: &dyn Fn(&ServerProcess, &str)) {
    let dir = ConfDir::new("ldm");
    let (mut server, _, pid) = start_conf_pid(&dir, LDM_CONF, &[]);
    let mut modern: Vec<RawClient> = (0..2)
        .map(|_| server.client(r#"{"verbose":false,"protocol":1}"#))
        .collect();
    let mut old = server.client(r#"{"verbose":false,"protocol":0}"#);
    let started = Instant::now();
    how(&server, &pid);
    for c in modern.iter_mut() {
        let line = c.read_line();
        let info: serde_json::Value = serde_json::from_str(
            line.strip_prefix("INFO ")
                .unwrap_or_else(|| panic!("expected INFO, got {line:?}")),
        )
        .unwrap();
        assert_eq!(info["ldm"], true, "{info}");
    }
    // The listener is closed: a new connection is refused or closed
    // without an INFO.
    match TcpStream::connect_timeout(&server.addr, IO_TIMEOUT) {
        Err(_) => {}
        Ok(s) => {
            let mut c = RawClient::from_stream(s);
            let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
            assert!(
                closed && lines.iter().all(|l| !l.starts_with("INFO")),
                "a new connection was served in lame duck mode: {lines:?}"
            );
        }
    }
    // The protocol-0 client got nothing: still quiet, and served.
    assert!(old.flush().is_empty(), "protocol 0 client got an INFO");
    // nats-server closes the 3 clients at about 1 s, 1.5-2 s and 2-3 s.
    // Each is watched by its own thread, which notes when it was closed.
    let deadline = started + Duration::from_secs(8);
    let watchers: Vec<_> = modern
        .into_iter()
        .chain(std::iter::once(old))
        .map(|mut c| {
            std::thread::spawn(move || {
                let left = deadline.saturating_duration_since(Instant::now());
                let (_, closed) = c.read_until_closed(left);
                closed.then(|| started.elapsed())
            })
        })
        .collect();
    let results: Vec<Option<Duration>> = watchers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        results.iter().all(Option::is_some),
        "not every client was closed within 8 s of lame duck mode: {results:?}"
    );
    let closed_at: Vec<Duration> = results.into_iter().flatten().collect();
    let first = closed_at.iter().min().unwrap();
    let last = closed_at.iter().max().unwrap();
    assert!(
        *first >= Duration::from_millis(900),
        "closed before the grace period: {closed_at:?}"
    );
    assert!(
        *last < Duration::from_secs(6),
        "3 clients should be closed within about grace + 3 x 1 s: {closed_at:?}"
    );
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("server exits after lame duck mode");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigusr2_lame_duck_mode() {
    check_lame_duck(&|server, _| unsafe_kill(server.pid(), "USR2"));
}

#[test]
fn signal_ldm_with_pid_file() {
    check_lame_duck(&|_, pid| send_signal(&format!("ldm={pid}")));
}

/// Lame duck mode without clients: the server exits at once, with 0.
#[test]
fn lame_duck_without_clients_exits() {
    let dir = ConfDir::new("ldm-empty");
    let (mut server, _, _) = start_conf_pid(&dir, LDM_CONF, &[]);
    unsafe_kill(server.pid(), "USR2");
    let status = server
        .wait_exit(Duration::from_secs(3))
        .expect("exit after lame duck mode with no clients");
    assert!(status.success(), "{status:?}");
}

// ---- --signal ----

/// `--signal term=PIDFILE` and `quit=PID` stop the server; clients see EOF.
#[test]
fn signal_term_and_quit() {
    for spec in ["term", "quit"] {
        let dir = ConfDir::new("sig-stop");
        let (mut server, _, pid) = start_conf_pid(&dir, "", &[]);
        let mut c = server.client(QUIET);
        let target = if spec == "quit" {
            server.pid().to_string()
        } else {
            pid.clone()
        };
        send_signal(&format!("{spec}={target}"));
        let (_, closed) = c.read_until_closed(IO_TIMEOUT);
        assert!(closed, "{spec}: client not closed");
        let status = server.wait_exit(IO_TIMEOUT).expect("exit");
        if spec == "quit" || !is_reference() {
            assert!(status.success(), "{spec}: {status:?}");
        }
    }
}

/// `--signal stop=PIDFILE` kills the server (SIGKILL).
#[test]
fn signal_stop_kills() {
    use std::os::unix::process::ExitStatusExt;
    let dir = ConfDir::new("sig-kill");
    let (mut server, _, pid) = start_conf_pid(&dir, "", &[]);
    send_signal(&format!("stop={pid}"));
    let status = server.wait_exit(IO_TIMEOUT).expect("exit after stop");
    assert_eq!(status.signal(), Some(9), "{status:?}");
}

/// An unknown command or an unreadable pid file is an error (non-zero
/// exit with a message).
#[test]
fn signal_bad_command_or_pid_file() {
    let dir = ConfDir::new("sig-bad");
    let missing = dir.file_str("missing.pid");
    for spec in ["bogus=1".to_string(), format!("term={missing}")] {
        let mut cmd = selected_command();
        cmd.args(["--signal", &spec]);
        let out = run_with_deadline(cmd, IO_TIMEOUT);
        assert!(!out.status.success(), "{spec}: {}", output_text(&out));
        assert!(!out.stderr.is_empty(), "{spec}: no message");
    }
}

/// SIGTERM is ignored in lame duck mode; SIGINT still stops the server.
#[test]
fn sigterm_ignored_in_lame_duck_mode() {
    let dir = ConfDir::new("ldm-term");
    let (mut server, _, _) = start_conf_pid(&dir, LDM_CONF, &[]);
    let mut c = server.client(r#"{"verbose":false,"protocol":1}"#);
    unsafe_kill(server.pid(), "USR2");
    assert!(c.read_line().starts_with("INFO "));
    unsafe_kill(server.pid(), "TERM");
    // Still serving its client within the grace period.
    assert!(c.flush().is_empty());
    assert!(server.wait_exit(Duration::from_millis(300)).is_none());
    unsafe_kill(server.pid(), "INT");
    server.wait_exit(IO_TIMEOUT).expect("exit after SIGINT");
}

// ---- SIGHUP: reload ----

/// Rewrite the config file and signal a reload (SIGHUP), then wait for
/// nats-server's `Reloaded server configuration` log line.
fn reload(server: &mut ServerProcess, file: &str, conf: &str) {
    std::fs::write(file, conf).unwrap();
    let seen = server.log_lines().len();
    unsafe_kill(server.pid(), "HUP");
    wait_log_after(server, seen, "Reloaded server configuration");
}

/// Wait for a log line containing `needle` among those after the first
/// `seen` lines; panics with the log after the signal when none comes.
fn wait_log_after(server: &mut ServerProcess, seen: usize, needle: &str) -> String {
    server
        .wait_for_log_since(seen, needle, IO_TIMEOUT)
        .unwrap_or_else(|| {
            panic!(
                "no log line with {needle:?}; log after the signal:\n{}",
                server.log_lines()[seen..].join("\n")
            )
        })
}

/// Reload with changed users: a client whose password changed is cut off
/// with `Authorization Violation`; one whose user is gone is closed
/// (nats-server 2.9.10 closes that one without an `-ERR`: it counts as a
/// client that moved accounts); others stay; the new user can log in and
/// the old credentials cannot.
#[test]
fn reload_changes_users_and_cuts_off_stale_clients() {
    let dir = ConfDir::new("reload-users");
    let (mut server, file, _) = start_conf_pid(
        &dir,
        "authorization { users: [ {user: a, password: pa}, {user: b, password: pb}, {user: k, password: pk} ] }\n",
        &[],
    );
    let mut a = server.client(&user_pass("a", "pa"));
    let mut b = server.client(&user_pass("b", "pb"));
    let mut k = server.client(&user_pass("k", "pk"));
    reload(
        &mut server,
        &file,
        "authorization { users: [ {user: b, password: pb2}, {user: k, password: pk}, {user: c, password: pc} ] }\n",
    );
    let (lines, closed) = b.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "changed password: got {lines:?}, closed={closed}"
    );
    let (lines, closed) = a.read_until_closed(IO_TIMEOUT);
    assert!(
        (lines.is_empty() || lines == [AUTH_VIOLATION]) && closed,
        "removed user: got {lines:?}, closed={closed}"
    );
    assert!(k.flush().is_empty(), "unchanged user kept");
    assert!(server.client(&user_pass("c", "pc")).flush().is_empty());
    assert!(server.client(&user_pass("b", "pb2")).flush().is_empty());
    for (u, p) in [("a", "pa"), ("b", "pb")] {
        let mut again = server.connect();
        again.read_info();
        again.send(format!("CONNECT {}\r\n", user_pass(u, p)));
        let (lines, closed) = again.read_until_closed(IO_TIMEOUT);
        assert!(lines == [AUTH_VIOLATION] && closed, "{u}: got {lines:?}");
    }
}

/// Reload from no auth to auth: connected clients without credentials are
/// cut off.
#[test]
fn reload_adds_auth() {
    let dir = ConfDir::new("reload-add-auth");
    let (mut server, file, _) = start_conf_pid(&dir, "max_payload: 2048\n", &[]);
    let mut anon = server.client(QUIET);
    reload(
        &mut server,
        &file,
        "max_payload: 2048\nauthorization { token: t0k }\n",
    );
    let (lines, closed) = anon.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "got {lines:?}, closed={closed}"
    );
    let mut c = server.connect();
    assert_eq!(c.read_info()["auth_required"], true);
    assert!(server
        .client(r#"{"verbose":false,"auth_token":"t0k"}"#)
        .flush()
        .is_empty());
}

/// Reload with changed permissions: new PUBs are checked against them, and
/// an existing subscription no longer allowed is removed with
/// `Permissions Violation for Subscription to "foo" (sid "1")`.
#[test]
fn reload_changes_permissions() {
    let dir = ConfDir::new("reload-perms");
    let users = |perms: &str| {
        format!(
            "authorization {{ users: [ {{user: admin, password: p}}, {{user: u, password: p, permissions: {perms}}} ] }}\n"
        )
    };
    let (mut server, file, _) =
        start_conf_pid(&dir, &users("{publish: \">\", subscribe: \">\"}"), &[]);
    let mut u = server.client(&user_pass("u", "p"));
    u.send("SUB foo 1\r\nSUB bar 2\r\n");
    u.flush();
    reload(
        &mut server,
        &file,
        &users("{publish: \"bar\", subscribe: \"bar\"}"),
    );
    assert_eq!(
        u.read_line(),
        "-ERR 'Permissions Violation for Subscription to \"foo\" (sid \"1\")'"
    );
    u.send("PUB foo 1\r\nx\r\n");
    assert_eq!(
        u.flush(),
        ["-ERR 'Permissions Violation for Publish to \"foo\"'"]
    );
    let mut admin = server.client(&user_pass("admin", "p"));
    admin.send("PUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\n");
    admin.flush();
    assert_eq!(u.flush(), ["MSG bar 2 1", "y"], "foo sub removed");
}

/// Reload with changed limits: new connections see the new max_payload.
#[test]
fn reload_changes_limits() {
    let dir = ConfDir::new("reload-limits");
    let (mut server, file, _) = start_conf_pid(&dir, "max_payload: 1024\n", &[]);
    assert_eq!(server.connect().read_info()["max_payload"], 1024);
    reload(&mut server, &file, "max_payload: 4096\n");
    assert_eq!(server.connect().read_info()["max_payload"], 4096);
    let mut c = server.client(QUIET);
    let big = "x".repeat(3000);
    c.send(format!("SUB big 1\r\nPUB big 3000\r\n{big}\r\n"));
    let (line, _) = c.read_msg();
    assert_eq!(line, "MSG big 1 3000");
}

/// Reload with changed log options: trace switched on shows the protocol.
#[test]
fn reload_changes_log_options() {
    let dir = ConfDir::new("reload-log");
    let (mut server, file, _) = start_conf_pid(&dir, "trace: false\n", &[]);
    let mut c = server.client(QUIET);
    c.send("PUB before.reload 1\r\nx\r\n");
    c.flush();
    reload(&mut server, &file, "trace: true\n");
    c.send("PUB after.reload 1\r\nx\r\n");
    c.flush();
    assert!(server.wait_for_log("after.reload", IO_TIMEOUT).is_some());
    let lines = server.log_lines();
    assert!(
        !lines.iter().any(|l| l.contains("before.reload")),
        "traced before trace was on"
    );
}

/// A reload that changes the listen port or host is refused: the server
/// logs an error and keeps serving on the old address.
#[test]
fn reload_refuses_listen_change() {
    let dir = ConfDir::new("reload-port");
    let file = dir.write("server.conf", "listen: 127.0.0.1:-1\n");
    let mut server = ServerProcess::start_selected_bare(&["-c", &file]);
    let mut c = server.client(QUIET);
    let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = spare.local_addr().unwrap().port();
    drop(spare);
    for conf in [
        format!("listen: 127.0.0.1:{other_port}\n"),
        format!("listen: 127.0.0.2:{}\n", server.addr.port()),
    ] {
        std::fs::write(&file, &conf).unwrap();
        let seen = server.log_lines().len();
        unsafe_kill(server.pid(), "HUP");
        let line = wait_log_after(&mut server, seen, "config reload not supported for");
        assert!(line.contains("[ERR]"), "{line:?}");
        assert!(c.flush().is_empty(), "{conf}: old client still served");
        assert!(server.client(QUIET).flush().is_empty(), "old address works");
    }
    assert!(
        TcpStream::connect_timeout(
            &format!("127.0.0.1:{other_port}").parse().unwrap(),
            Duration::from_millis(500)
        )
        .is_err(),
        "the new port was bound"
    );
}

/// A reload from a broken file is refused with an error; the server keeps
/// its old configuration.
#[test]
fn reload_with_bad_file_keeps_old_config() {
    let dir = ConfDir::new("reload-bad");
    let (mut server, file, _) = start_conf_pid(&dir, "authorization { token: t0k }\n", &[]);
    let mut c = server.client(r#"{"verbose":false,"auth_token":"t0k"}"#);
    std::fs::write(&file, "authorization { token: \n").unwrap();
    let seen = server.log_lines().len();
    unsafe_kill(server.pid(), "HUP");
    let line = wait_log_after(&mut server, seen, "[ERR]");
    assert!(line.to_lowercase().contains("reload"), "{line:?}");
    assert!(c.flush().is_empty());
    assert!(server
        .client(r#"{"verbose":false,"auth_token":"t0k"}"#)
        .flush()
        .is_empty());
}

/// `--signal reload=PIDFILE` reloads like SIGHUP.
#[test]
fn signal_reload_with_pid_file() {
    let dir = ConfDir::new("reload-signal");
    let (mut server, file, pid) = start_conf_pid(&dir, "max_payload: 1024\n", &[]);
    std::fs::write(&file, "max_payload: 2048\n").unwrap();
    let seen = server.log_lines().len();
    send_signal(&format!("reload={pid}"));
    wait_log_after(&mut server, seen, "Reloaded server configuration");
    assert_eq!(server.connect().read_info()["max_payload"], 2048);
}

// ---- log rotation, syslog ----

/// `--log_size_limit`: past the limit the log file is renamed to a backup
/// (`<file>.<timestamp>`) and a new one started.
#[test]
fn log_size_limit_rotates() {
    let dir = ConfDir::new("rotate");
    let log = dir.file_str("server.log");
    let server = ServerProcess::start_selected(&["-l", &log, "--log_size_limit", "2048", "-V"]);
    let mut c = server.client(QUIET);
    for i in 0..100 {
        c.send(format!("PUB rotate.{i} 10\r\n0123456789\r\n"));
    }
    c.flush();
    let deadline = Instant::now() + IO_TIMEOUT;
    let backups = loop {
        let backups: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("server.log."))
            .collect();
        if backups.len() >= 2 || Instant::now() >= deadline {
            break backups;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(backups.len() >= 2, "backups: {backups:?}");
    let current = std::fs::metadata(&log).unwrap().len();
    assert!(current < 8192, "current log is {current} bytes");
    let mut all = String::new();
    for name in &backups {
        all.push_str(&std::fs::read_to_string(dir.file(name)).unwrap());
    }
    all.push_str(&std::fs::read_to_string(&log).unwrap());
    assert!(all.contains("rotate.99"), "last trace line kept somewhere");
}

/// A process started without the harness (its log goes to syslog, not
/// stderr), killed on drop.
struct Bare(Child);

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `-r udp://127.0.0.1:PORT`: log lines arrive as syslog datagrams.
#[test]
fn remote_syslog_receives_log_lines() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!("udp://{}", sock.local_addr().unwrap());
    let mut cmd = if is_reference() {
        Command::new(nats_server_bin().unwrap())
    } else {
        let mut c = Command::new(nats_lite_bin());
        c.arg("server");
        c
    };
    cmd.args(["-a", "127.0.0.1", "-p", "-1", "-r", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _server = Bare(cmd.spawn().unwrap());
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = text.contains("Server is ready");
            got.push(text);
            if done {
                break;
            }
        }
    }
    assert!(
        got.iter()
            .any(|t| t.contains("Listening for client connections on 127.0.0.1:")),
        "datagrams: {got:?}"
    );
    assert!(
        got.iter().any(|t| t.contains("Server is ready")),
        "datagrams: {got:?}"
    );
}
