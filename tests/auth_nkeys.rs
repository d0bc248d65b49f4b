//! NKey users (`nkey: U...` in `users`): the nonce in INFO, CONNECT `nkey` +
//! `sig` checked over the raw protocol, with async-nats (`with_nkey`) and
//! with nats-py (`nkeys_seed`), and `nats-lite nkey gen|pub`.
//!
//! The raw tests sign with our own `nats_lite::nkey`; the peers sign with
//! their own libraries (the Rust `nkeys` crate inside async-nats, Python's
//! `nkeys`). Under `NATS_TEST_REFERENCE=1` the same expectations run
//! against nats-server.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nats_lite::nkey::{self, Kind};

use crate::config_support::{run_with_deadline, start_with_conf, ConfDir};
use crate::util::{nats_lite_bin, RawClient, ServerProcess, IO_TIMEOUT};

pub const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'";

/// A CONNECT with `nkey` and `sig` (the nonce signed by `seed`), verbose
/// off.
pub fn signed_connect(public: &str, seed: &str, nonce: &str) -> String {
    let sig = nkey::sign(seed, nonce.as_bytes()).unwrap();
    serde_json::json!({"verbose": false, "nkey": public, "sig": sig}).to_string()
}

/// Connect raw, read INFO, and return the client and the INFO's nonce.
pub fn connect_with_nonce(server: &ServerProcess) -> (RawClient, String) {
    let mut c = server.connect();
    let info = c.read_info();
    assert_eq!(info["auth_required"], true, "{info}");
    let nonce = info["nonce"].as_str().expect("a nonce in INFO").to_string();
    (c, nonce)
}

/// Send `CONNECT {opts}` and expect `Authorization Violation` and a close.
pub fn expect_refused(mut c: RawClient, opts: &str) {
    c.send(format!("CONNECT {opts}\r\nPING\r\n"));
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "{opts}: got {lines:?}, closed={closed}"
    );
}

/// The Python of the test virtualenv (scripts/ci/install-nkeys.sh), or
/// `None` with a note (a failure under CI).
pub fn python_with_nats() -> Option<PathBuf> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/nkeys-venv/bin/python");
    if python.is_file() {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: nats-py is missing (scripts/ci/install-nkeys.sh makes target/nkeys-venv)"
    );
    eprintln!("note: no target/nkeys-venv (scripts/ci/install-nkeys.sh); skipping nats-py");
    None
}

/// Run tests/data/nkeys/nats_py_probe.py with `args`; returns its stdout
/// (`ok ...` or `error ...`).
pub fn nats_py_probe(python: &PathBuf, args: &[&str]) -> String {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/nkeys/nats_py_probe.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).args(args);
    let out = run_with_deadline(cmd, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!(
        "nats-py {args:?}: {text} (stderr {})",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

struct NkeyServer {
    server: ServerProcess,
    _dir: ConfDir,
    /// (seed, public) of a user of account A allowed to publish `a.>` only.
    limited: (String, String),
    /// (seed, public) of a user of the global account.
    global: (String, String),
}

fn nkey_server(tag: &str) -> NkeyServer {
    let dir = ConfDir::new(tag);
    let limited = nkey::generate(Kind::User);
    let global = nkey::generate(Kind::User);
    let conf = format!(
        "authorization {{\n  users: [ {{ nkey: {g} }}, {{ user: pw, password: secret }} ]\n}}\n\
         accounts {{\n  A: {{ users: [ {{ nkey: {l}, permissions: {{ publish: \"a.>\", subscribe: \">\" }} }} ] }}\n}}\n",
        g = global.1,
        l = limited.1
    );
    let server = start_with_conf(&dir, &conf, &[]);
    NkeyServer {
        server,
        _dir: dir,
        limited,
        global,
    }
}

#[test]
fn nkey_info_carries_a_fresh_nonce_and_signed_connect_is_checked() {
    let s = nkey_server("nkey-raw");
    let (seed, public) = &s.global;
    let (mut c, nonce) = connect_with_nonce(&s.server);
    let (_, other_nonce) = connect_with_nonce(&s.server);
    assert_ne!(nonce, other_nonce, "each connection gets its own nonce");
    // Without NKey users there is no nonce.
    let plain = ServerProcess::start_selected(&[]);
    let info = plain.connect().read_info();
    assert!(info.get("nonce").is_none(), "{info}");
    assert!(nonce.len() >= 11, "{nonce}");
    c.send(format!(
        "CONNECT {}\r\nSUB g 1\r\nPUB g 2\r\nhi\r\n",
        signed_connect(public, seed, &nonce)
    ));
    assert_eq!(c.flush(), ["MSG g 1 2", "hi"]);

    // Signature forms: padded standard base64 is accepted too.
    let (c, nonce) = connect_with_nonce(&s.server);
    let raw = nkey::sign_raw(seed, nonce.as_bytes()).unwrap();
    let padded = data_encoding::BASE64.encode(&raw);
    let mut c = c;
    c.send(format!(
        "CONNECT {}\r\nPING\r\n",
        serde_json::json!({"verbose": false, "nkey": public, "sig": padded})
    ));
    assert_eq!(c.read_line(), "PONG");

    // Refused: a signature of another nonce, by another key, none at all,
    // an unknown key, a key with no signature and a garbage signature.
    let (stranger_seed, stranger) = nkey::generate(Kind::User);
    type Case<'a> = Box<dyn Fn(&str) -> String + 'a>;
    let cases: Vec<Case> = vec![
        Box::new(|_| signed_connect(public, seed, "not-the-nonce")),
        Box::new(|n| signed_connect(public, &stranger_seed, n)),
        Box::new(|n| signed_connect(&stranger, &stranger_seed, n)),
        Box::new(|_| serde_json::json!({"verbose": false, "nkey": public}).to_string()),
        Box::new(|_| {
            serde_json::json!({"verbose": false, "nkey": public, "sig": "!!"}).to_string()
        }),
        Box::new(|_| r#"{"verbose":false}"#.to_string()),
    ];
    for case in cases {
        let (c, nonce) = connect_with_nonce(&s.server);
        expect_refused(c, &case(&nonce));
    }
    // Password users still log in beside the nkey users.
    let mut c = s
        .server
        .client(r#"{"verbose":false,"user":"pw","pass":"secret"}"#);
    c.send("PING\r\n");
    assert_eq!(c.read_line(), "PONG");
}

#[test]
fn nkey_users_live_in_their_account_with_their_permissions() {
    let s = nkey_server("nkey-account");
    let (seed, public) = &s.limited;
    let (mut a, nonce) = connect_with_nonce(&s.server);
    a.send(format!(
        "CONNECT {}\r\nSUB > 1\r\nPING\r\n",
        signed_connect(public, seed, &nonce)
    ));
    assert_eq!(a.read_line(), "PONG");
    let (gseed, gpublic) = &s.global;
    let (mut g, nonce) = connect_with_nonce(&s.server);
    g.send(format!(
        "CONNECT {}\r\nPUB a.x 1\r\ng\r\nPING\r\n",
        signed_connect(gpublic, gseed, &nonce)
    ));
    assert_eq!(g.read_line(), "PONG");
    // Account A does not see the global account's message; its own
    // permitted publish arrives, a denied one is refused.
    a.send("PUB a.y 1\r\na\r\nPUB b.y 1\r\nb\r\nPING\r\n");
    assert_eq!(
        a.flush(),
        [
            "MSG a.y 1 1",
            "a",
            "-ERR 'Permissions Violation for Publish to \"b.y\"'"
        ]
    );
}

#[test]
fn nkey_config_errors() {
    let dir = ConfDir::new("nkey-conf-errors");
    let (_, public) = nkey::generate(Kind::User);
    let (_, account) = nkey::generate(Kind::Account);
    for (conf, want) in [
        (
            format!("authorization {{ users: [ {{ nkey: {account} }} ] }}"),
            "Not a valid public nkey for a user",
        ),
        (
            format!("authorization {{ users: [ {{ nkey: {public}, user: x, password: y }} ] }}"),
            "Nkey users do not take usernames or passwords",
        ),
    ] {
        let file = dir.write("bad.conf", &conf);
        let out = crate::config_support::run_selected(&["-t", "-c", &file], IO_TIMEOUT * 2);
        let text = crate::config_support::output_text(&out);
        assert!(
            !out.status.success() && text.contains(want),
            "{conf}: {text}"
        );
    }
}

#[tokio::test]
async fn async_nats_connects_with_an_nkey_seed() {
    let s = nkey_server("nkey-async");
    let (seed, _) = s.global.clone();
    let client = tokio::time::timeout(
        IO_TIMEOUT,
        async_nats::ConnectOptions::with_nkey(seed)
            .connection_timeout(IO_TIMEOUT)
            .connect(s.server.url()),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let mut sub = client.subscribe("k").await.unwrap();
    client.publish("k", "v".into()).await.unwrap();
    let msg = tokio::time::timeout(IO_TIMEOUT, futures::StreamExt::next(&mut sub))
        .await
        .expect("message in time")
        .expect("a message");
    assert_eq!(&msg.payload[..], b"v");
    // A key the server does not know is refused.
    let (stranger, _) = nkey::generate(Kind::User);
    let refused = async_nats::ConnectOptions::with_nkey(stranger)
        .connection_timeout(IO_TIMEOUT)
        .connect(s.server.url());
    let err = tokio::time::timeout(IO_TIMEOUT * 2, refused)
        .await
        .expect("an answer in time")
        .expect_err("an unknown nkey must be refused");
    assert!(
        err.to_string().to_lowercase().contains("authorization"),
        "{err}"
    );
}

#[test]
fn nats_py_connects_with_an_nkey_seed_file() {
    let Some(python) = python_with_nats() else {
        return;
    };
    let s = nkey_server("nkey-py");
    let dir = ConfDir::new("nkey-py-seed");
    let seed_file = dir.write("user.nk", &format!("{}\n", s.global.0));
    let url = s.server.url();
    let out = nats_py_probe(&python, &["--url", &url, "--nkeys-seed", &seed_file]);
    assert_eq!(out, "ok", "nats-py with the seed file");
    let stranger = dir.write(
        "stranger.nk",
        &format!("{}\n", nkey::generate(Kind::User).0),
    );
    let out = nats_py_probe(&python, &["--url", &url, "--nkeys-seed", &stranger]);
    assert!(
        out.starts_with("error") && out.contains("Authorization Violation"),
        "{out}"
    );
}

#[test]
fn nkey_gen_and_pub_commands() {
    let dir = ConfDir::new("nkey-cmd");
    for kind in ["user", "account", "operator"] {
        let mut cmd = Command::new(nats_lite_bin());
        cmd.args(["nkey", "gen", kind]);
        let out = run_with_deadline(cmd, IO_TIMEOUT);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let letter = kind[..1].to_ascii_uppercase();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with(&format!("S{letter}")), "{text}");
        assert!(
            lines[1].starts_with(&letter) && lines[1].len() == 56,
            "{text}"
        );
        let file = dir.write("seed.nk", &format!("{}\n", lines[0]));
        let mut cmd = Command::new(nats_lite_bin());
        cmd.args(["nkey", "pub", &file]);
        let out = run_with_deadline(cmd, IO_TIMEOUT);
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), lines[1]);
    }
}

/// A reload that drops an NKey user closes its connection; the others stay.
#[cfg(unix)]
#[test]
fn reload_removes_nkey_users() {
    let dir = ConfDir::new("nkey-reload");
    let keep = nkey::generate(Kind::User);
    let gone = nkey::generate(Kind::User);
    let conf = |keys: &[&str]| {
        let users: Vec<String> = keys.iter().map(|k| format!("{{ nkey: {k} }}")).collect();
        format!("authorization {{ users: [ {} ] }}\n", users.join(", "))
    };
    let file = dir.write("server.conf", &conf(&[&keep.1, &gone.1]));
    let mut server = ServerProcess::start_selected(&["-c", &file]);
    let join = |(seed, public): &(String, String)| {
        let (mut c, nonce) = connect_with_nonce(&server);
        c.send(format!(
            "CONNECT {}\r\nPING\r\n",
            signed_connect(public, seed, &nonce)
        ));
        assert_eq!(c.read_line(), "PONG");
        c
    };
    let mut kept = join(&keep);
    let mut dropped = join(&gone);
    crate::auth_jwt::reload(&mut server, &file, &conf(&[&keep.1]));
    let (lines, closed) = dropped.read_until_closed(IO_TIMEOUT);
    assert!(closed, "a removed nkey user stays connected: {lines:?}");
    assert!(kept.flush().is_empty());
}
