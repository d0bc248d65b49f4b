//! nats-lite as a drop-in for nats-server (issue 14): the binary run under
//! the name `nats-server` (a symlink, `exec -a`) is `nats-lite server`, and
//! names its ports file `nats-server_<pid>.ports` as nats-server does (the
//! base name of `argv[0]`), which is what launchers of nats-server wait
//! for; and the default listen address `0.0.0.0` accepts IPv6 clients too.

use std::net::{Ipv6Addr, SocketAddr, TcpListener};
#[cfg(unix)]
use std::path::Path;
#[cfg(unix)]
use std::process::Command;

#[cfg(unix)]
use crate::util::nats_lite_bin;
use crate::util::{
    skip_missing_peer, wait_for_file, RawClient, ServerProcess, TempDir, IO_TIMEOUT,
};

/// Start the server through `cmd` with `--ports_file_dir DIR`; check that
/// it speaks NATS and that its ports file is `nats-server_<pid>.ports`.
#[cfg(unix)]
fn check_runs_as_nats_server(cmd: Command, dir: &Path) {
    let ports_dir = dir.join("ports");
    std::fs::create_dir_all(&ports_dir).unwrap();
    let server =
        ServerProcess::start_command(cmd, &["--ports_file_dir", ports_dir.to_str().unwrap()]);
    let info = server.client(r#"{"verbose":false}"#).flush();
    assert!(info.is_empty(), "{info:?}");
    let file = ports_dir.join(format!("nats-server_{}.ports", server.pid()));
    let text = wait_for_file(&file, IO_TIMEOUT, |t| {
        serde_json::from_str::<serde_json::Value>(t).is_ok()
    });
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["nats"][0], format!("nats://{}", server.addr), "{text}");
    let others: Vec<_> = std::fs::read_dir(&ports_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(others.len(), 1, "{others:?}");
}

#[cfg(unix)]
#[test]
fn a_symlink_named_nats_server_is_the_server() {
    let dir = TempDir::new("alias");
    let link = dir.path().join("nats-server");
    std::os::unix::fs::symlink(nats_lite_bin(), &link).unwrap();
    check_runs_as_nats_server(Command::new(&link), dir.path());
}

#[cfg(unix)]
#[test]
fn exec_a_nats_server_is_the_server() {
    if Command::new("bash").arg("-c").arg("true").status().is_err() {
        skip_missing_peer("bash (for exec -a)");
        return;
    }
    let dir = TempDir::new("exec-a");
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"exec -a nats-server "$0" "$@""#)
        .arg(nats_lite_bin());
    check_runs_as_nats_server(cmd, dir.path());
}

/// Under its own name the ports file stays `nats-lite_<pid>.ports`.
#[test]
fn ports_file_is_named_after_argv0() {
    let dir = TempDir::new("ports-name");
    let server = ServerProcess::start(&["--ports_file_dir", dir.path().to_str().unwrap()]);
    let file = dir.path().join(format!("nats-lite_{}.ports", server.pid()));
    wait_for_file(&file, IO_TIMEOUT, |t| t.contains("nats://"));
}

/// The default host (`0.0.0.0`) takes IPv4 and IPv6 clients on one port,
/// as nats-server (Go) does: a client whose `localhost` is `::1` first is
/// not refused. Checked for the client and monitoring ports (and with
/// `NATS_TEST_REFERENCE=1` against nats-server). It listens on every
/// interface for the length of the test, as the default host does.
#[test]
fn default_host_accepts_ipv6_clients() {
    if TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        skip_missing_peer("an IPv6 loopback (::1)");
        return;
    }
    let mut server = ServerProcess::start_selected_bare(&["-p", "-1", "-m", "-1"]);
    assert!(server.addr.ip().is_unspecified(), "{}", server.addr);
    let port = server.addr.port();
    for ip in ["127.0.0.1", "::1"] {
        let addr = SocketAddr::new(ip.parse().unwrap(), port);
        let mut c = RawClient::connect(addr);
        let info = c.handshake(r#"{"verbose":false}"#);
        // An IPv4 client of the dual-stack socket is reported as IPv4 (not
        // `::ffff:127.0.0.1`), as nats-server does.
        assert_eq!(info["client_ip"], ip, "{info}");
    }
    let line = server
        .wait_for_log("Starting http monitor on", IO_TIMEOUT)
        .expect("monitor line");
    let http: SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
    let v6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), http.port());
    let request = format!("GET /varz HTTP/1.1\r\nHost: {v6}\r\nConnection: close\r\n\r\n");
    let r = crate::monitor_util::http_raw(v6, request.as_bytes());
    assert_eq!(r.status, 200);
}
