//! Operator mode: `operator` + `resolver: MEMORY` + `resolver_preload`,
//! users authenticating with user JWTs. The JWTs and creds files in
//! tests/data/jwt were made by the official JavaScript library
//! (tests/data/jwt/make.mjs), so our decoder is checked against an
//! independent encoder. Raw clients, async-nats, nats-py and our own client
//! commands; the same expectations hold for nats-server 2.9.10
//! (`NATS_TEST_REFERENCE=1`) except where a test says otherwise.

use std::path::PathBuf;

use serde_json::Value;

use crate::auth_nkeys::{expect_refused, nats_py_probe, python_with_nats};
use crate::client_support::{kinds, lite, run, start, subscriber, RUN_TIMEOUT};
use crate::config_support::{start_with_conf, ConfDir};
use crate::util::{skip_under_reference, RawClient, ServerProcess, IO_TIMEOUT};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jwt")
}

/// tests/data/jwt/keys.json: operators, accounts and users by name.
pub fn keys() -> Value {
    let text = std::fs::read_to_string(data_dir().join("keys.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn account_key(k: &Value, name: &str) -> String {
    k["accounts"][name]["public"].as_str().unwrap().to_string()
}

/// An operator-mode config trusting `operator` with `accounts` preloaded
/// (the first one the system account).
pub fn operator_conf(k: &Value, operator: &str, accounts: &[&str]) -> String {
    let preload: String = accounts
        .iter()
        .map(|a| {
            format!(
                "  {}: {}\n",
                account_key(k, a),
                k["accounts"][a]["jwt"].as_str().unwrap()
            )
        })
        .collect();
    format!(
        "operator: {}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n{preload}}}\n",
        k["operators"][operator]["jwt"].as_str().unwrap(),
        account_key(k, accounts[0]),
    )
}

pub const ACCOUNTS: &[&str] = &["SYS", "A", "B", "E", "F", "M", "S"];

fn operator_server(tag: &str) -> (ServerProcess, ConfDir, Value) {
    let k = keys();
    let dir = ConfDir::new(tag);
    let server = start_with_conf(&dir, &operator_conf(&k, "O", ACCOUNTS), &[]);
    (server, dir, k)
}

/// CONNECT with `user`'s JWT and the nonce signed by its seed.
pub fn jwt_connect(k: &Value, user: &str, nonce: &str) -> String {
    let u = &k["users"][user];
    let sig = nats_lite::nkey::sign(u["seed"].as_str().unwrap(), nonce.as_bytes()).unwrap();
    serde_json::json!({"verbose": false, "jwt": u["jwt"], "sig": sig}).to_string()
}

pub fn connect_raw(server: &ServerProcess) -> (RawClient, String) {
    crate::auth_nkeys::connect_with_nonce(server)
}

/// Connect as `user` and expect PONG.
pub fn connected(server: &ServerProcess, k: &Value, user: &str) -> RawClient {
    let (mut c, nonce) = connect_raw(server);
    c.send(format!(
        "CONNECT {}\r\nPING\r\n",
        jwt_connect(k, user, &nonce)
    ));
    assert_eq!(c.read_line(), "PONG", "{user}");
    c
}

/// A creds file of tests/data/jwt copied to `dir` with mode 0600.
pub fn creds(dir: &ConfDir, user: &str) -> String {
    let text = std::fs::read_to_string(data_dir().join(format!("{user}.creds"))).unwrap();
    let path = dir.write(&format!("{user}.creds"), &text);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

#[test]
fn jwt_users_connect_and_accounts_are_isolated() {
    let (server, _dir, k) = operator_server("jwt-basic");
    let mut alice = connected(&server, &k, "alice");
    alice.send("SUB a.> 1\r\nPING\r\n");
    assert_eq!(alice.read_line(), "PONG");
    // carol (account B) publishes into her own subject space.
    let mut carol = connected(&server, &k, "carol");
    carol.send("PUB a.x 4\r\nfrom\r\nPING\r\n");
    assert_eq!(carol.read_line(), "PONG");
    // bob (signed by A's signing key) reaches alice.
    let mut bob = connected(&server, &k, "bob");
    bob.send("PUB a.y 3\r\nbob\r\nPING\r\n");
    assert_eq!(bob.read_line(), "PONG");
    assert_eq!(alice.flush(), ["MSG a.y 1 3", "bob"]);
    // A bearer JWT needs no signature.
    let (mut bearer, _) = connect_raw(&server);
    bearer.send(format!(
        "CONNECT {}\r\nPING\r\n",
        serde_json::json!({"verbose": false, "jwt": k["users"]["bearer"]["jwt"]})
    ));
    assert_eq!(bearer.read_line(), "PONG");
}

#[test]
fn jwt_refusals_get_authorization_violation() {
    let (server, _dir, k) = operator_server("jwt-refused");
    for user in ["expired", "notyet", "revoked", "remote", "dave"] {
        let (c, nonce) = connect_raw(&server);
        eprintln!("{user}");
        expect_refused(c, &jwt_connect(&k, user, &nonce));
    }
    let alice = &k["users"]["alice"];
    let other_seed = k["users"]["bob"]["seed"].as_str().unwrap();
    let (c, nonce) = connect_raw(&server);
    let bad_sig = nats_lite::nkey::sign(other_seed, nonce.as_bytes()).unwrap();
    expect_refused(
        c,
        &serde_json::json!({"verbose": false, "jwt": alice["jwt"], "sig": bad_sig}).to_string(),
    );
    let (c, _) = connect_raw(&server);
    expect_refused(
        c,
        &serde_json::json!({"verbose": false, "jwt": alice["jwt"]}).to_string(),
    );
    // A JWT whose claims were changed after signing.
    let jwt = alice["jwt"].as_str().unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims: Value = serde_json::from_slice(
        &data_encoding::BASE64URL_NOPAD
            .decode(parts[1].as_bytes())
            .unwrap(),
    )
    .unwrap();
    claims["nats"]["pub"] = serde_json::json!({});
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        data_encoding::BASE64URL_NOPAD.encode(claims.to_string().as_bytes()),
        parts[2]
    );
    let (c, nonce) = connect_raw(&server);
    let sig = nats_lite::nkey::sign(alice["seed"].as_str().unwrap(), nonce.as_bytes()).unwrap();
    expect_refused(
        c,
        &serde_json::json!({"verbose": false, "jwt": forged, "sig": sig}).to_string(),
    );
    // No JWT at all.
    let (c, _) = connect_raw(&server);
    expect_refused(c, r#"{"verbose":false,"user":"a","pass":"b"}"#);
}

#[test]
fn jwt_permissions_and_limits_are_enforced() {
    let (server, _dir, k) = operator_server("jwt-perms");
    let mut alice = connected(&server, &k, "alice");
    alice.send("SUB a.> 1\r\nSUB b.x 2\r\nPUB a.secret 1\r\nx\r\nPUB b.x 1\r\nx\r\nPUB a.ok 1\r\ny\r\nPING\r\n");
    assert_eq!(
        alice.flush(),
        [
            "-ERR 'Permissions Violation for Subscription to \"b.x\"'",
            "-ERR 'Permissions Violation for Publish to \"a.secret\"'",
            "-ERR 'Permissions Violation for Publish to \"b.x\"'",
            "MSG a.ok 1 1",
            "y"
        ]
    );
    // subs: 1, payload: 16.
    let mut limited = connected(&server, &k, "limited");
    limited.send("SUB x 1\r\nSUB y 2\r\n");
    assert_eq!(limited.flush(), ["-ERR 'maximum subscriptions exceeded'"]);
    limited.send(format!("PUB x 17\r\n{}\r\n", "z".repeat(17)));
    let (lines, closed) = limited.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == ["-ERR 'Maximum Payload Violation'"] && closed,
        "{lines:?} {closed}"
    );
    // A scoped signing key's template replaces the user's permissions.
    let mut scoped = connected(&server, &k, "scoped");
    scoped.send("SUB s.> 1\r\nPUB s.a 1\r\n1\r\nPUB t.a 1\r\n2\r\nPING\r\n");
    assert_eq!(
        scoped.flush(),
        [
            "MSG s.a 1 1",
            "1",
            "-ERR 'Permissions Violation for Publish to \"t.a\"'"
        ]
    );
}

/// What nats-lite does not enforce refuses the user or account, with a log
/// line (nats-server enforces these and lets the users in).
#[test]
fn unenforced_claims_refuse_with_a_log_line() {
    if skip_under_reference("nats-server enforces time windows and subject mappings") {
        return;
    }
    let (mut server, _dir, k) = operator_server("jwt-unenforced");
    let log = server
        .wait_for_log("refused: subject mappings are not supported", IO_TIMEOUT)
        .expect("a log line for the account with mappings");
    assert!(log.contains(&account_key(&k, "M")), "{log}");
    for user in ["mike", "timed"] {
        let (c, nonce) = connect_raw(&server);
        expect_refused(c, &jwt_connect(&k, user, &nonce));
    }
    server
        .wait_for_log(
            "refused: connection time restrictions (times) are not supported",
            IO_TIMEOUT,
        )
        .expect("a log line for the user with times");
}

/// Account F imports account E's stream (with a prefix) and service (on a
/// subject of its own), as their JWTs say.
#[test]
fn jwt_account_imports_deliver_across() {
    let (server, _dir, k) = operator_server("jwt-imports");
    let mut frank = connected(&server, &k, "frank");
    let mut eve = connected(&server, &k, "eve");
    frank.send("SUB > 1\r\n");
    eve.send("SUB svc.time 1\r\n");
    assert!(frank.flush().is_empty() && eve.flush().is_empty());
    eve.send("PUB e.x 2\r\nev\r\n");
    assert!(eve.flush().is_empty());
    assert_eq!(frank.flush(), ["MSG from_e.e.x 1 2", "ev"]);
    frank.send("PUB time _INBOX.f 1\r\n?\r\n");
    let mut own = frank.flush();
    let head = loop {
        match eve.read_line() {
            line if line == "PING" => eve.send("PONG\r\n"),
            line => break line,
        }
    };
    assert!(head.starts_with("MSG svc.time 1 "), "{head}");
    assert_eq!(eve.read_line(), "?");
    let reply = head.split(' ').nth(3).expect("a reply subject").to_string();
    eve.send(format!("PUB {reply} 4\r\nnoon\r\n"));
    assert!(eve.flush().is_empty());
    // frank's own request (its SUB > sees it), then the answer.
    own.extend(frank.flush());
    assert_eq!(
        own,
        ["MSG time 1 _INBOX.f 1", "?", "MSG _INBOX.f 1 4", "noon"]
    );
}

#[test]
fn untrusted_operator_refuses_the_other_operators_users() {
    let k = keys();
    let dir = ConfDir::new("jwt-o2");
    // Trust O2 only; alice's account A is O's.
    let conf = format!(
        "operator: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {}\n  {}: {}\n}}\n",
        k["operators"]["O2"]["jwt"].as_str().unwrap(),
        account_key(&k, "A2"),
        k["accounts"]["A2"]["jwt"].as_str().unwrap(),
        account_key(&k, "A"),
        k["accounts"]["A"]["jwt"].as_str().unwrap(),
    );
    let server = start_with_conf(&dir, &conf, &[]);
    connected(&server, &k, "dave");
    let (c, nonce) = connect_raw(&server);
    expect_refused(c, &jwt_connect(&k, "alice", &nonce));
}

#[test]
fn operator_config_errors_as_nats_server() {
    let k = keys();
    let dir = ConfDir::new("jwt-conf-errors");
    let base = operator_conf(&k, "O", ACCOUNTS);
    let no_sys = operator_conf(&k, "O", &["A"])
        .replace(&format!("system_account: {}\n", account_key(&k, "A")), "");
    for (conf, want) in [
        (
            format!("{base}authorization {{ users: [ {{user: a, password: b}} ] }}\n"),
            "operators do not allow users to be configured directly",
        ),
        (
            format!("{base}accounts {{ X: {{}} }}\n"),
            "operators do not allow Accounts to be configured directly",
        ),
        (
            format!("{base}no_auth_user: a\n"),
            "no_auth_user not compatible with Trusted Operator",
        ),
        (no_sys, "error resolving system account: account missing"),
    ] {
        let file = dir.write("bad.conf", &conf);
        let mut cmd = crate::config_support::selected_command();
        cmd.args(["-a", "127.0.0.1", "-p", "-1", "-c", &file]);
        let out = crate::config_support::run_with_deadline(cmd, IO_TIMEOUT * 2);
        let text = crate::config_support::output_text(&out);
        assert!(
            !out.status.success() && text.contains(want),
            "{want}: {text}"
        );
    }
}

#[tokio::test]
async fn async_nats_with_creds_file_and_refused_creds() {
    let (server, dir, _k) = operator_server("jwt-async");
    let alice = creds(&dir, "alice");
    let client = tokio::time::timeout(
        IO_TIMEOUT,
        async_nats::ConnectOptions::with_credentials_file(&alice)
            .await
            .unwrap()
            .connection_timeout(IO_TIMEOUT)
            .connect(server.url()),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let mut sub = client.subscribe("a.async").await.unwrap();
    client.publish("a.async", "v".into()).await.unwrap();
    let msg = tokio::time::timeout(IO_TIMEOUT, futures::StreamExt::next(&mut sub))
        .await
        .expect("message in time")
        .expect("a message");
    assert_eq!(&msg.payload[..], b"v");
    for user in ["expired", "revoked"] {
        let path = creds(&dir, user);
        let refused = async_nats::ConnectOptions::with_credentials_file(&path)
            .await
            .unwrap()
            .connection_timeout(IO_TIMEOUT)
            .connect(server.url());
        let err = tokio::time::timeout(IO_TIMEOUT * 2, refused)
            .await
            .expect("an answer in time")
            .expect_err("refused");
        assert!(
            err.to_string().to_lowercase().contains("authorization"),
            "{user}: {err}"
        );
    }
}

#[test]
fn nats_py_with_creds_and_bearer_jwt() {
    let Some(python) = python_with_nats() else {
        return;
    };
    let (server, dir, k) = operator_server("jwt-py");
    let url = server.url();
    let alice = creds(&dir, "alice");
    assert_eq!(
        nats_py_probe(
            &python,
            &["--url", &url, "--creds", &alice, "--subject", "a.py"]
        ),
        "ok"
    );
    let denied = nats_py_probe(
        &python,
        &[
            "--url",
            &url,
            "--creds",
            &alice,
            "--subject",
            "a.py",
            "--denied",
            "b.no",
        ],
    );
    assert!(
        denied.starts_with("ok")
            && denied
                .to_lowercase()
                .contains("permissions violation for publish to \"b.no\""),
        "{denied}"
    );
    let bearer = k["users"]["bearer"]["jwt"].as_str().unwrap();
    assert_eq!(
        nats_py_probe(&python, &["--url", &url, "--jwt", bearer]),
        "ok"
    );
    let expired = creds(&dir, "expired");
    let out = nats_py_probe(&python, &["--url", &url, "--creds", &expired]);
    assert!(
        out.starts_with("error") && out.contains("Authorization Violation"),
        "{out}"
    );
}

#[test]
fn client_commands_with_creds_env_and_context() {
    let k = keys();
    for kind in kinds() {
        eprintln!("--- against {kind:?}");
        let dir = ConfDir::new("jwt-cli");
        let conf = dir.write("server.conf", &operator_conf(&k, "O", ACCOUNTS));
        let server = start(kind, &["-c", &conf]);
        let url = server.url();
        let alice = creds(&dir, "alice");
        let bob = creds(&dir, "bob");
        let sub = subscriber(&[
            "-s", &url, "--creds", &alice, "--raw", "--count", "3", "a.cli",
        ]);
        run(
            lite(&["pub", "-s", &url, "--creds", &bob, "a.cli", "flag"]),
            None,
        )
        .assert_ok();
        let mut env = lite(&["pub", "-s", &url, "a.cli", "env"]);
        env.env("NATS_CREDS", &bob);
        run(env, None).assert_ok();
        let xdg = dir.path().join("xdg");
        std::fs::create_dir_all(xdg.join("nats/context")).unwrap();
        std::fs::write(
            xdg.join("nats/context/op.json"),
            serde_json::json!({"url": url, "creds": bob}).to_string(),
        )
        .unwrap();
        let mut ctx = lite(&["pub", "--context", "op", "a.cli", "context"]);
        ctx.env("XDG_CONFIG_HOME", &xdg);
        run(ctx, None).assert_ok();
        assert_eq!(
            sub.finish(RUN_TIMEOUT).assert_ok().out(),
            "flag\nenv\ncontext\n"
        );
        let expired = creds(&dir, "expired");
        run(
            lite(&["pub", "-s", &url, "--creds", &expired, "a.cli", "x"]),
            None,
        )
        .assert_fails(1, "Authorization Violation");
    }
}

/// Rewrite the config and SIGHUP; wait for the reload's log line.
#[cfg(unix)]
pub fn reload(server: &mut ServerProcess, file: &str, conf: &str) {
    std::fs::write(file, conf).unwrap();
    let seen = server.log_lines().len();
    crate::util::unsafe_kill(server.pid(), "HUP");
    server
        .wait_for_log_since(seen, "Reloaded server configuration", IO_TIMEOUT)
        .expect("a reload log line");
}

/// A reload with an account JWT that now revokes alice closes her
/// connection; other users of the account stay.
#[cfg(unix)]
#[test]
fn reload_of_resolver_preload_applies_revocations() {
    let k = keys();
    let dir = ConfDir::new("jwt-reload");
    let conf = operator_conf(&k, "O", ACCOUNTS);
    let file = dir.write("server.conf", &conf);
    let mut server = crate::util::ServerProcess::start_selected(&["-c", &file]);
    let mut alice = connected(&server, &k, "alice");
    let mut bob = connected(&server, &k, "bob");
    let revoking = conf.replace(
        k["accounts"]["A"]["jwt"].as_str().unwrap(),
        k["accounts"]["A"]["jwt_revoking_alice"].as_str().unwrap(),
    );
    reload(&mut server, &file, &revoking);
    let (lines, closed) = alice.read_until_closed(IO_TIMEOUT);
    assert!(closed, "alice stays connected: {lines:?}");
    assert_eq!(lines, ["-ERR 'User Authentication Revoked'"]);
    assert!(bob.flush().is_empty(), "bob is kept");
    let (c, nonce) = connect_raw(&server);
    expect_refused(c, &jwt_connect(&k, "alice", &nonce));
}

/// Encode claims as a NATS v2 JWT signed by `seed` (for a token that must
/// expire seconds from now; the decoder is checked against the JavaScript
/// library's tokens elsewhere).
pub fn encode_jwt(seed: &str, claims: &Value) -> String {
    use data_encoding::BASE64URL_NOPAD;
    let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let payload = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let sig = nats_lite::nkey::sign_raw(seed, input.as_bytes()).unwrap();
    format!("{input}.{}", BASE64URL_NOPAD.encode(&sig))
}

/// A connected client is closed with `User Authentication Expired` when
/// its user JWT expires.
#[test]
fn connection_closed_when_the_user_jwt_expires() {
    use nats_lite::nkey::{generate, Kind};
    let (operator_seed, operator) = generate(Kind::Operator);
    let (account_seed, account) = generate(Kind::Account);
    let (user_seed, user) = generate(Kind::User);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let op_jwt = encode_jwt(
        &operator_seed,
        &serde_json::json!({"iss": operator, "sub": operator, "iat": now, "jti": "o",
                            "nats": {"type": "operator", "version": 2}}),
    );
    let acc_jwt = encode_jwt(
        &operator_seed,
        &serde_json::json!({"iss": operator, "sub": account, "iat": now, "jti": "a",
                            "nats": {"type": "account", "version": 2, "limits": {
                                "subs": -1, "data": -1, "payload": -1, "imports": -1,
                                "exports": -1, "wildcards": true, "conn": -1, "leaf": -1}}}),
    );
    let user_jwt = encode_jwt(
        &account_seed,
        &serde_json::json!({"iss": account, "sub": user, "iat": now, "exp": now + 2, "jti": "u",
                            "nats": {"type": "user", "version": 2,
                                     "subs": -1, "data": -1, "payload": -1}}),
    );
    let dir = ConfDir::new("jwt-expiry");
    let conf = format!(
        "operator: {op_jwt}\nresolver: MEMORY\nresolver_preload: {{\n  {account}: {acc_jwt}\n}}\n"
    );
    let server = start_with_conf(&dir, &conf, &[]);
    let (mut c, nonce) = connect_raw(&server);
    let sig = nats_lite::nkey::sign(&user_seed, nonce.as_bytes()).unwrap();
    c.send(format!(
        "CONNECT {}\r\nPING\r\n",
        serde_json::json!({"verbose": false, "jwt": user_jwt, "sig": sig})
    ));
    assert_eq!(c.read_line(), "PONG");
    c.send("SUB x 1\r\nPUB x 2\r\nhi\r\n");
    assert_eq!(c.flush(), ["MSG x 1 2", "hi"]);
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines.contains(&"-ERR 'User Authentication Expired'".to_string()) && closed,
        "{lines:?} closed={closed}"
    );
}

/// `resolver { type: full, dir: DIR }`: account JWTs from `<ACCOUNT>.jwt`
/// files; a file added later counts after a reload.
#[cfg(unix)]
#[test]
fn directory_resolver_reads_account_files() {
    let k = keys();
    let dir = ConfDir::new("jwt-dir");
    let jwt_dir = dir.path().join("jwt");
    std::fs::create_dir_all(&jwt_dir).unwrap();
    let write_account = |name: &str| {
        let file = jwt_dir.join(format!("{}.jwt", account_key(&k, name)));
        std::fs::write(file, k["accounts"][name]["jwt"].as_str().unwrap()).unwrap();
    };
    write_account("SYS");
    write_account("A");
    let conf = format!(
        "operator: {}\nsystem_account: {}\nresolver: {{ type: full, dir: \"{}\" }}\n",
        k["operators"]["O"]["jwt"].as_str().unwrap(),
        account_key(&k, "SYS"),
        jwt_dir.display()
    );
    let file = dir.write("server.conf", &conf);
    let mut server = crate::util::ServerProcess::start_selected(&["-c", &file]);
    connected(&server, &k, "alice");
    write_account("B");
    reload(&mut server, &file, &conf);
    connected(&server, &k, "carol");
}

/// `trusted_keys`: an operator trusted by its public key alone (no JWT, so
/// none of its signing keys): accounts it signed itself are accepted.
#[test]
fn trusted_keys_trust_accounts_the_operator_signed_itself() {
    let k = keys();
    let dir = ConfDir::new("jwt-trusted-keys");
    let conf = format!(
        "trusted_keys: [ {} ]\nresolver: MEMORY\nresolver_preload: {{\n  {}: {}\n  {}: {}\n}}\n",
        k["operators"]["O"]["public"].as_str().unwrap(),
        account_key(&k, "B"),
        k["accounts"]["B"]["jwt"].as_str().unwrap(),
        account_key(&k, "A"),
        k["accounts"]["A"]["jwt"].as_str().unwrap(),
    );
    let server = start_with_conf(&dir, &conf, &[]);
    connected(&server, &k, "carol");
    // Account A was signed by the operator's signing key, which a bare
    // trusted key does not name.
    let (c, nonce) = connect_raw(&server);
    expect_refused(c, &jwt_connect(&k, "alice", &nonce));
}

/// `operator` naming a file (decorated as nsc writes it, relative to the
/// config file), async-nats with a bearer JWT (`with_jwt`), and `bench`
/// with `--creds`.
#[tokio::test]
async fn operator_file_bearer_jwt_and_bench() {
    let k = keys();
    let dir = ConfDir::new("jwt-opfile");
    dir.write(
        "operator.jwt",
        &format!(
            "-----BEGIN NATS OPERATOR JWT-----\n{}\n------END NATS OPERATOR JWT------\n",
            k["operators"]["O"]["jwt"].as_str().unwrap()
        ),
    );
    let inline = operator_conf(&k, "O", ACCOUNTS);
    let conf = inline.replace(
        k["operators"]["O"]["jwt"].as_str().unwrap(),
        &format!("\"{}\"", dir.file_str("operator.jwt")),
    );
    let server = start_with_conf(&dir, &conf, &[]);
    let bearer = k["users"]["bearer"]["jwt"].as_str().unwrap().to_string();
    // async-nats signs the nonce with a key that is not the user's: a
    // bearer JWT is accepted without looking at the signature.
    let (stranger, _) = nats_lite::nkey::generate(nats_lite::nkey::Kind::User);
    let client =
        tokio::time::timeout(
            IO_TIMEOUT,
            async_nats::ConnectOptions::with_jwt(bearer, move |nonce| {
                let seed = stranger.clone();
                async move {
                    nats_lite::nkey::sign_raw(&seed, &nonce).map_err(async_nats::AuthError::new)
                }
            })
            .connection_timeout(IO_TIMEOUT)
            .connect(server.url()),
        )
        .await
        .expect("connect in time")
        .expect("bearer JWT accepted");
    tokio::time::timeout(IO_TIMEOUT, client.flush())
        .await
        .expect("flush in time")
        .expect("flush");
    let alice = creds(&dir, "alice");
    let done = run(
        lite(&[
            "bench",
            "-s",
            &server.url(),
            "--creds",
            &alice,
            "--msgs",
            "200",
            "--size",
            "8",
            "a.bench",
        ]),
        None,
    );
    done.assert_ok();
}

/// JWTs made by nats-server's own Go library (`tests/data/jwt/go`, built
/// offline from Debian's golang-github-nats-io-jwt-dev): our client
/// commands connect with its creds file and its permissions hold.
#[test]
fn jwts_from_the_go_library() {
    let gopath = std::path::Path::new("/usr/share/gocode");
    let have_go = std::process::Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_go || !gopath.join("src/github.com/nats-io/jwt/v2").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: go and golang-github-nats-io-jwt-dev are missing (scripts/ci/install-nkeys.sh)"
        );
        eprintln!("note: no go or Go JWT library; skipping");
        return;
    }
    let dir = ConfDir::new("jwt-go");
    let creds = dir.file_str("go.creds");
    let mut cmd = std::process::Command::new("go");
    cmd.arg("run")
        .arg(data_dir().join("go/main.go"))
        .arg(&creds)
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOFLAGS", "")
        .env(
            "GOCACHE",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        );
    let out = crate::config_support::run_with_deadline(cmd, std::time::Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{}",
        crate::config_support::output_text(&out)
    );
    let conf = dir.write("server.conf", &String::from_utf8(out.stdout).unwrap());
    let server = crate::util::ServerProcess::start_selected(&["-c", &conf]);
    let url = server.url();
    let sub = subscriber(&[
        "-s", &url, "--creds", &creds, "--raw", "--count", "1", "go.x",
    ]);
    run(
        lite(&["pub", "-s", &url, "--creds", &creds, "go.x", "from go"]),
        None,
    )
    .assert_ok();
    assert_eq!(sub.finish(RUN_TIMEOUT).assert_ok().out(), "from go\n");
    run(
        lite(&["sub", "-s", &url, "--creds", &creds, "no.x", "--count", "1"]),
        None,
    )
    .assert_fails(1, "Permissions Violation for Subscription to \"no.x\"");
}
