//! Server command-line flags and process behaviour: the startup log and its
//! format (`-T=false`), `-n`, `-P`, `--ports_file_dir`, `-l`, `-D`/`-V`,
//! SIGTERM/SIGINT, and `-js`/`-sd` (nats-lite only: accepted with a
//! warning).

use crate::util::{
    is_reference, skip_under_reference, wait_for_file, ServerProcess, TempDir, IO_TIMEOUT,
};

/// Split a log line `[pid] <rest>` into (pid, rest).
fn split_pid(line: &str) -> (u32, &str) {
    let rest = line
        .strip_prefix('[')
        .unwrap_or_else(|| panic!("log line without [pid]: {line:?}"));
    let (pid, rest) = rest.split_once("] ").unwrap();
    (pid.parse().unwrap(), rest)
}

/// True for `YYYY/MM/DD HH:MM:SS.uuuuuu `.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = "dddd/dd/dd dd:dd:dd.dddddd ";
    b.len() >= shape.len()
        && shape.bytes().zip(b).all(|(want, got)| match want {
            b'd' => got.is_ascii_digit(),
            other => other == *got,
        })
}

#[test]
fn startup_log_lines_and_format() {
    let mut server = ServerProcess::start_selected(&[]);
    let ready = server
        .wait_for_log("Server is ready", IO_TIMEOUT)
        .expect("Server is ready");
    let listening = server
        .wait_for_log("Listening for client connections on", IO_TIMEOUT)
        .unwrap();
    assert!(
        listening.ends_with(&format!(
            "Listening for client connections on {}",
            server.addr
        )),
        "{listening:?}"
    );
    for line in [&listening, &ready] {
        let (pid, rest) = split_pid(line);
        assert_eq!(pid, server.pid(), "{line:?}");
        assert!(is_timestamp(rest), "timestamp in {line:?}");
        assert!(rest[27..].starts_with("[INF] "), "{line:?}");
    }
    let lines = server.log_lines();
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap();
    assert!(at("Listening for client connections on") < at("Server is ready"));
}

#[test]
fn logtime_false_drops_timestamps() {
    let mut server = ServerProcess::start_selected(&["-T=false"]);
    let ready = server.wait_for_log("Server is ready", IO_TIMEOUT).unwrap();
    let (pid, rest) = split_pid(&ready);
    assert_eq!(pid, server.pid());
    assert_eq!(rest, "[INF] Server is ready");
}

#[test]
fn server_name_flag_in_info() {
    let server = ServerProcess::start_selected(&["-n", "my-broker"]);
    let info = server.connect().read_info();
    assert_eq!(info["server_name"], "my-broker");
    assert_ne!(info["server_id"], "my-broker");
}

/// `-P FILE` writes the bare pid (no newline).
#[test]
fn pid_file_holds_bare_pid() {
    let dir = TempDir::new("pid");
    let file = dir.path().join("server.pid");
    let server = ServerProcess::start_selected(&["-P", file.to_str().unwrap()]);
    let text = wait_for_file(&file, IO_TIMEOUT, |_| true);
    assert_eq!(text, server.pid().to_string());
}

/// `--ports_file_dir DIR` writes `<exe>_<pid>.ports`, JSON listing the
/// bound client URL.
#[test]
fn ports_file_lists_bound_ports() {
    let dir = TempDir::new("ports");
    let server = ServerProcess::start_selected(&["--ports_file_dir", dir.path().to_str().unwrap()]);
    let file = dir
        .path()
        .join(format!("{}_{}.ports", server.exe_name(), server.pid()));
    let text = wait_for_file(&file, IO_TIMEOUT, |t| {
        serde_json::from_str::<serde_json::Value>(t).is_ok()
    });
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let nats = json["nats"].as_array().expect("\"nats\" array");
    assert_eq!(
        nats,
        &[serde_json::Value::from(format!("nats://{}", server.addr))],
        "{text}"
    );
}

/// SIGTERM: the process exits promptly, clients see EOF and the ports file
/// is removed. The issue asks nats-lite to exit 0 and remove the pid file
/// too; nats-server 2.9.10 exits 1 on SIGTERM and leaves its pid file.
#[cfg(unix)]
#[test]
fn sigterm_exits_and_removes_files() {
    let dir = TempDir::new("term");
    let pid_file = dir.path().join("server.pid");
    let mut server = ServerProcess::start_selected(&[
        "-P",
        pid_file.to_str().unwrap(),
        "--ports_file_dir",
        dir.path().to_str().unwrap(),
    ]);
    let ports_file = dir
        .path()
        .join(format!("{}_{}.ports", server.exe_name(), server.pid()));
    wait_for_file(&pid_file, IO_TIMEOUT, |_| true);
    wait_for_file(&ports_file, IO_TIMEOUT, |t| t.contains('}'));
    let mut client = server.client(r#"{"verbose":false}"#);
    let status = server.terminate(IO_TIMEOUT).expect("exit after SIGTERM");
    let (_, closed) = client.read_until_closed(IO_TIMEOUT);
    assert!(closed, "client connection closed at shutdown");
    assert!(!ports_file.exists(), "ports file removed");
    if is_reference() {
        assert_eq!(
            status.code(),
            Some(1),
            "nats-server 2.9.10 exits 1 on SIGTERM"
        );
        assert!(pid_file.exists(), "nats-server 2.9.10 keeps its pid file");
    } else {
        assert!(status.success(), "exit 0 after SIGTERM, got {status:?}");
        assert!(!pid_file.exists(), "pid file removed");
    }
}

/// SIGINT: exit 0, ports file removed.
#[cfg(unix)]
#[test]
fn sigint_exits_zero() {
    let dir = TempDir::new("int");
    let mut server =
        ServerProcess::start_selected(&["--ports_file_dir", dir.path().to_str().unwrap()]);
    let ports_file = dir
        .path()
        .join(format!("{}_{}.ports", server.exe_name(), server.pid()));
    wait_for_file(&ports_file, IO_TIMEOUT, |t| t.contains('}'));
    crate::util::unsafe_kill(server.pid(), "INT");
    let status = server.wait_exit(IO_TIMEOUT).expect("exit after SIGINT");
    assert!(status.success(), "exit 0 after SIGINT, got {status:?}");
    assert!(!ports_file.exists(), "ports file removed");
}

/// `-l FILE` sends the log to the file.
#[test]
fn log_file_flag() {
    let dir = TempDir::new("log");
    let file = dir.path().join("server.log");
    let mut server = ServerProcess::start_selected(&["-l", file.to_str().unwrap()]);
    assert!(server.wait_for_log("Server is ready", IO_TIMEOUT).is_some());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("Listening for client connections on"),
        "{text}"
    );
    assert!(text.contains("Server is ready"), "{text}");
    assert!(server.client(r#"{"verbose":false}"#).flush().is_empty());
}

/// `-D` logs client connections at debug level; `-V` traces protocol.
#[test]
fn debug_and_trace_flags() {
    let mut server = ServerProcess::start_selected(&["-DV"]);
    let mut c = server.client(r#"{"verbose":false}"#);
    c.send("SUB tr 1\r\nPUB tr 5\r\nhello\r\n");
    c.flush();
    for needle in [
        "<<- [SUB tr 1]",
        "<<- [PUB tr 5]",
        "<<- [PING]",
        "->> [PONG]",
    ] {
        let line = server
            .wait_for_log(needle, IO_TIMEOUT)
            .unwrap_or_else(|| panic!("no trace {needle:?} in {:#?}", server.log_lines()));
        assert!(line.contains("[TRC] "), "{line:?}");
    }
    let dbg = server
        .log_lines()
        .into_iter()
        .find(|l| l.contains("[DBG] "));
    assert!(dbg.is_some(), "no debug line: {:#?}", server.log_lines());
}

#[test]
fn without_trace_no_protocol_lines() {
    let mut server = ServerProcess::start_selected(&[]);
    let mut c = server.client(r#"{"verbose":false}"#);
    c.send("PUB tr 5\r\nhello\r\n");
    c.flush();
    drop(c);
    // Stop the server so its log is complete, then look.
    server.terminate(IO_TIMEOUT);
    let lines = server.log_until_exit(IO_TIMEOUT);
    assert!(!lines.iter().any(|l| l.contains("[TRC]")), "{lines:#?}");
}

/// `-js` (and `-sd DIR`) are accepted with one warning line; the broker
/// works. nats-lite only: the reference supports JetStream.
#[test]
fn js_flag_accepted_with_one_warning() {
    if skip_under_reference("nats-server supports JetStream") {
        return;
    }
    let dir = TempDir::new("js");
    for args in [
        vec!["-js"],
        vec!["-js", "-sd", dir.path().to_str().unwrap()],
        vec!["--jetstream", "--store_dir", dir.path().to_str().unwrap()],
    ] {
        let mut server = ServerProcess::start_selected(&args);
        server.wait_for_log("Server is ready", IO_TIMEOUT).unwrap();
        let warnings: Vec<String> = server
            .log_lines()
            .into_iter()
            .filter(|l| l.contains("[WRN]"))
            .collect();
        assert_eq!(warnings.len(), 1, "{args:?}: {warnings:#?}");
        assert!(
            warnings[0].to_ascii_lowercase().contains("jetstream"),
            "{args:?}: {warnings:?}"
        );
        assert!(server.client(r#"{"verbose":false}"#).flush().is_empty());
    }
}

/// A peer's bytes reach the log escaped (issue 16): with `-D -V` a subject
/// carrying terminal escape sequences is traced as `\u{1b}`, never raw, so
/// a client cannot write to the terminal of an operator reading the log.
#[test]
fn traced_subjects_are_escaped_in_the_log() {
    if skip_under_reference("nats-server logs what clients send raw") {
        return;
    }
    let mut server = ServerProcess::start(&["-D", "-V"]);
    let mut c = server.client(r#"{"verbose":false}"#);
    c.send("SUB odd.\u{1b}]0;pwned\u{7} 1\r\nPUB odd.\u{1b}]0;pwned\u{7} 2\r\nhi\r\n");
    c.flush();
    server
        .wait_for_log("odd.\\u{1b}]0;pwned\\u{7}", IO_TIMEOUT)
        .expect("the subject traced, escaped");
    let raw: Vec<String> = server
        .log_lines()
        .into_iter()
        .filter(|l| l.contains('\u{1b}') || l.contains('\u{7}'))
        .collect();
    assert!(raw.is_empty(), "raw control characters in the log: {raw:?}");
}
