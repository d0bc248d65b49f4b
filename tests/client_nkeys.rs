//! The client commands with NKeys and `nats` CLI contexts: `--nkey FILE`
//! (`NATS_NKEY`), the warning for a seed file others may read, `--context`
//! (`NATS_CONTEXT`, `context.txt`), the order flags > context >
//! environment, and `--inbox-prefix`; against nats-server and nats-lite.

use std::path::Path;

use nats_lite::nkey::{self, Kind};

use crate::client_support::{
    kinds, lite, replier, run, run_lite, start, subscriber, Kind as ServerKind, RUN_TIMEOUT,
};
use crate::config_support::ConfDir;
use crate::util::{RawClient, ServerProcess};

/// A server of `kind` with one NKey user (and a password user `pw`);
/// returns it with the user's seed file (mode 0600).
fn nkey_server(kind: ServerKind, dir: &ConfDir) -> (ServerProcess, String) {
    let (seed, public) = nkey::generate(Kind::User);
    let conf = dir.write(
        "server.conf",
        &format!(
            "authorization {{ users: [ {{ nkey: {public} }}, {{ user: pw, password: secret }} ] }}\n"
        ),
    );
    let seed_file = dir.write("user.nk", &format!("{seed}\n"));
    set_mode(&seed_file, 0o600);
    (start(kind, &["-c", &conf]), seed_file)
}

fn set_mode(path: &str, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// Write a context NAME (a JSON object) under `dir/nats/context/`.
fn write_context(dir: &Path, name: &str, json: serde_json::Value) {
    let ctx = dir.join("nats/context");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join(format!("{name}.json")), json.to_string()).unwrap();
}

#[test]
fn nkey_seed_file_flag_and_env() {
    for kind in kinds() {
        eprintln!("--- against {kind:?}");
        let dir = ConfDir::new("cli-nkey");
        let (srv, seed_file) = nkey_server(kind, &dir);
        let url = srv.url();
        run_lite(&["pub", "-s", &url, "s", "x"]).assert_fails(1, "Authorization Violation");
        let sub = subscriber(&[
            "-s", &url, "--nkey", &seed_file, "--raw", "--count", "3", "s",
        ]);
        let done = run_lite(&["pub", "-s", &url, "--nkey", &seed_file, "s", "flag"]);
        assert!(
            !done.assert_ok().stderr.contains("WARNING"),
            "{}",
            done.stderr
        );
        let mut env = lite(&["pub", "-s", &url, "s", "env"]);
        env.env("NATS_NKEY", &seed_file);
        run(env, None).assert_ok();
        run_lite(&[
            "req",
            "-s",
            &url,
            "--nkey",
            &seed_file,
            "s",
            "req",
            "--timeout",
            "300ms",
        ]);
        assert_eq!(
            sub.finish(RUN_TIMEOUT).assert_ok().out(),
            "flag\nenv\nreq\n"
        );
        // Another key is refused; ping and cat sign too.
        let stranger = dir.write(
            "stranger.nk",
            &format!("{}\n", nkey::generate(Kind::User).0),
        );
        set_mode(&stranger, 0o600);
        run_lite(&["ping", "-s", &url, "--nkey", &stranger, "--count", "1"])
            .assert_fails(1, "Authorization Violation");
        run_lite(&["ping", "-s", &url, "--nkey", &seed_file, "--count", "1"]).assert_ok();
        let cat = run(
            lite(&["cat", "-s", &url, "--nkey", &seed_file]),
            Some(b"PING\r\n"),
        );
        assert!(cat.assert_ok().out().contains("PONG"), "{}", cat.out());
    }
}

#[cfg(unix)]
#[test]
fn seed_file_readable_by_others_gets_a_warning() {
    let dir = ConfDir::new("cli-nkey-mode");
    let (srv, seed_file) = nkey_server(ServerKind::Lite, &dir);
    set_mode(&seed_file, 0o644);
    let done = run_lite(&["pub", "-s", &srv.url(), "--nkey", &seed_file, "s", "x"]);
    assert!(
        done.assert_ok().stderr.contains("readable by others"),
        "{}",
        done.stderr
    );
}

#[test]
fn contexts_select_server_and_credentials_in_order() {
    for kind in kinds() {
        eprintln!("--- against {kind:?}");
        let dir = ConfDir::new("cli-context");
        let (srv, seed_file) = nkey_server(kind, &dir);
        let url = srv.url();
        let xdg = dir.path().join("xdg");
        write_context(
            &xdg,
            "lab",
            serde_json::json!({"description": "", "url": url, "user": "", "password": "",
                               "creds": "", "nkey": seed_file, "inbox_prefix": "_LAB"}),
        );
        write_context(
            &xdg,
            "pw",
            serde_json::json!({"url": url, "user": "pw", "password": "secret"}),
        );
        write_context(
            &xdg,
            "nowhere",
            serde_json::json!({"url": "nats://127.0.0.1:1", "nkey": seed_file}),
        );
        let with_ctx = |args: &[&str]| {
            let mut cmd = lite(args);
            cmd.env("XDG_CONFIG_HOME", &xdg);
            cmd
        };
        let sub = subscriber(&[
            "-s",
            &url,
            "--user",
            "pw",
            "--password",
            "secret",
            "--raw",
            "--count",
            "4",
            "c",
        ]);
        // --context NAME.
        run(with_ctx(&["pub", "--context", "lab", "c", "flag"]), None).assert_ok();
        // NATS_CONTEXT.
        let mut env = with_ctx(&["pub", "c", "env"]);
        env.env("NATS_CONTEXT", "pw");
        run(env, None).assert_ok();
        // context.txt, and the context's URL over NATS_URL.
        std::fs::write(xdg.join("nats/context.txt"), "lab\n").unwrap();
        let mut env = with_ctx(&["pub", "c", "selected"]);
        env.env("NATS_URL", "nats://127.0.0.1:1");
        run(env, None).assert_ok();
        // A flag over the context's URL.
        run(
            with_ctx(&["pub", "--context", "nowhere", "-s", &url, "c", "flag-url"]),
            None,
        )
        .assert_ok();
        assert_eq!(
            sub.finish(RUN_TIMEOUT).assert_ok().out(),
            "flag\nenv\nselected\nflag-url\n"
        );
        // Flag credentials replace the context's as a whole.
        run(
            with_ctx(&[
                "pub",
                "--context",
                "lab",
                "--user",
                "pw",
                "--password",
                "bad",
                "c",
                "x",
            ]),
            None,
        )
        .assert_fails(1, "Authorization Violation");
        run(with_ctx(&["pub", "--context", "missing", "c", "x"]), None)
            .assert_fails(2, "unknown context \"missing\"");
        // inbox_prefix of the context names the reply subject of a request.
        let mut raw = RawClient::connect(srv.addr);
        raw.read_info();
        raw.send("CONNECT {\"verbose\":false,\"user\":\"pw\",\"pass\":\"secret\"}\r\nSUB svc 1\r\nPING\r\n");
        assert_eq!(raw.read_line(), "PONG");
        let req = crate::client_support::Client::spawn(
            with_ctx(&["req", "svc", "q", "--timeout", "2s"]),
            None,
        );
        let line = raw.read_line();
        assert!(line.starts_with("MSG svc 1 _LAB."), "{line}");
        let _ = req.finish(RUN_TIMEOUT);
    }
}

#[test]
fn reply_and_sub_with_nkey_seed() {
    let dir = ConfDir::new("cli-nkey-reply");
    let (srv, seed_file) = nkey_server(ServerKind::Lite, &dir);
    let url = srv.url();
    let r = replier(&[
        "-s", &url, "--nkey", &seed_file, "svc", "pong", "--count", "1",
    ]);
    let done = run_lite(&[
        "req", "-s", &url, "--nkey", &seed_file, "svc", "ping", "--raw",
    ]);
    assert_eq!(done.assert_ok().out(), "pong\n");
    r.finish(RUN_TIMEOUT).assert_ok();
}

/// `--tlsfirst` and a context's `tls_first` against a server with
/// `handshake_first` (nats-lite only: nats-server 2.9.10 predates it).
#[test]
fn tls_first_from_flag_and_context() {
    let pki = crate::client_support::TestPki::new();
    let dir = ConfDir::new("cli-tlsfirst");
    let conf = dir.write(
        "server.conf",
        &format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  handshake_first: true\n}}\n",
            pki.file("server.pem"),
            pki.file("server.key")
        ),
    );
    let srv = start(ServerKind::Lite, &["-c", &conf]);
    let url = srv.url();
    let ca = pki.file("ca.pem");
    run_lite(&[
        "ping",
        "-s",
        &url,
        "--tlscacert",
        &ca,
        "--count",
        "1",
        "--connect-timeout",
        "2s",
    ])
    .assert_fails(1, "");
    run_lite(&[
        "ping",
        "-s",
        &url,
        "--tlsfirst",
        "--tlscacert",
        &ca,
        "--count",
        "1",
    ])
    .assert_ok();
    let xdg = dir.path().join("xdg");
    write_context(
        &xdg,
        "tlsfirst",
        serde_json::json!({"url": url, "tls_first": true, "ca": ca}),
    );
    let mut cmd = lite(&["ping", "--context", "tlsfirst", "--count", "1"]);
    cmd.env("XDG_CONFIG_HOME", &xdg);
    run(cmd, None).assert_ok();
}
