//! The claim update service (`nsc push`): account JWTs published on the
//! system account's `$SYS.REQ.CLAIMS.UPDATE` (and the per-account
//! subjects) to a server with a `full` directory resolver are checked,
//! written to `<dir>/<ACCOUNT>.jwt`, applied to the connected clients and
//! kept over a restart; `$SYS.REQ.CLAIMS.LIST`, `.LOOKUP`, `.PACK` and
//! `.DELETE`;
//! the `cache` and `MEMORY` resolvers; a push in a cluster.
//! The keys and JWTs are made here with fresh keys (the JWTs of
//! tests/data/jwt cannot be re-signed: their seeds are not kept), so that
//! each test has the `iat` it needs. The replies are checked against
//! nats-server 2.9.10 with `NATS_TEST_REFERENCE=1`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nats_lite::nkey::{generate, sign, Kind};
use serde_json::{json, Value};

use crate::auth_jwt::{connect_raw, encode_jwt};
use crate::config_support::ConfDir;
use crate::sys_requests::{next_msg, request, send_request};
use crate::util::{is_reference, RawClient, ServerProcess, IO_TIMEOUT};

/// A key pair: seed and public key.
struct Pair {
    seed: String,
    public: String,
}

fn pair(kind: Kind) -> Pair {
    let (seed, public) = generate(kind);
    Pair { seed, public }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An operator with a signing key, its system account SYS and an account
/// APP, each with users.
struct Setup {
    operator: Pair,
    signing_key: Pair,
    sys: Pair,
    app: Pair,
    sysop: Pair,
    alice: Pair,
    bob: Pair,
}

const NO_LIMITS: &str = r#"{"subs": -1, "data": -1, "payload": -1, "imports": -1,
    "exports": -1, "wildcards": true, "conn": -1, "leaf": -1}"#;

impl Setup {
    fn new() -> Setup {
        Setup {
            operator: pair(Kind::Operator),
            signing_key: pair(Kind::Operator),
            sys: pair(Kind::Account),
            app: pair(Kind::Account),
            sysop: pair(Kind::User),
            alice: pair(Kind::User),
            bob: pair(Kind::User),
        }
    }

    fn operator_jwt(&self) -> String {
        encode_jwt(
            &self.operator.seed,
            &json!({"iss": self.operator.public, "sub": self.operator.public,
                "iat": now() - 1000, "jti": "op", "name": "O",
                "nats": {"type": "operator", "version": 2,
                         "signing_keys": [self.signing_key.public],
                         "system_account": self.sys.public}}),
        )
    }

    /// An account JWT for `account` issued at `iat` by `signer`, with
    /// `extra` merged into its `nats`.
    fn account_jwt(&self, signer: &Pair, account: &Pair, iat: i64, extra: Value) -> String {
        let mut nats = json!({"type": "account", "version": 2,
            "limits": serde_json::from_str::<Value>(NO_LIMITS).unwrap()});
        for (k, v) in extra.as_object().unwrap() {
            nats[k] = v.clone();
        }
        encode_jwt(
            &signer.seed,
            &json!({"iss": signer.public, "sub": account.public, "iat": iat,
                "jti": format!("{}-{iat}", &account.public[..8]), "name": "acc", "nats": nats}),
        )
    }

    fn app_jwt(&self, iat: i64, extra: Value) -> String {
        self.account_jwt(&self.signing_key, &self.app, iat, extra)
    }

    /// A newer APP JWT that revokes alice.
    fn app_jwt_revoking_alice(&self) -> String {
        self.app_jwt(
            now() - 50,
            json!({"revocations": {self.alice.public.clone(): now() - 10}}),
        )
    }

    fn user_jwt(&self, account: &Pair, user: &Pair) -> String {
        encode_jwt(
            &account.seed,
            &json!({"iss": account.public, "sub": user.public, "iat": now() - 500,
                "jti": format!("u-{}", &user.public[..8]),
                "nats": {"type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1}}),
        )
    }

    /// The directory resolver's config, `dir` holding SYS's and APP's
    /// JWTs (APP's first version, issued 100 s ago).
    fn full_resolver(&self, dir: &ConfDir) -> (String, PathBuf) {
        let jwt_dir = dir.path().join("jwt");
        std::fs::create_dir_all(&jwt_dir).unwrap();
        let sys = self.account_jwt(&self.signing_key, &self.sys, now() - 1000, json!({}));
        write_jwt(&jwt_dir, &self.sys.public, &sys);
        write_jwt(
            &jwt_dir,
            &self.app.public,
            &self.app_jwt(now() - 100, json!({})),
        );
        let conf = format!(
            "operator: {}\nsystem_account: {}\nresolver: {{ type: full, dir: \"{}\" }}\n",
            self.operator_jwt(),
            self.sys.public,
            jwt_dir.display()
        );
        (conf, jwt_dir)
    }

    /// Connect `user` of `account` with headers and no_responders.
    fn login(&self, server: &ServerProcess, account: &Pair, user: &Pair) -> RawClient {
        let (mut c, nonce) = connect_raw(server);
        let sig = sign(&user.seed, nonce.as_bytes()).unwrap();
        let connect = json!({"verbose": false, "jwt": self.user_jwt(account, user), "sig": sig,
            "headers": true, "no_responders": true, "protocol": 1});
        c.send(format!("CONNECT {connect}\r\nPING\r\n"));
        assert_eq!(c.read_line(), "PONG");
        c
    }
}

fn write_jwt(dir: &Path, key: &str, jwt: &str) {
    std::fs::write(dir.join(format!("{key}.jwt")), jwt).unwrap();
}

fn read_jwt(dir: &Path, key: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{key}.jwt"))).unwrap()
}

fn start(dir: &ConfDir, conf: &str) -> ServerProcess {
    let file = dir.write("server.conf", conf);
    ServerProcess::start_selected(&["-c", &file])
}

/// The `server` block and the `data` of a successful update.
fn assert_updated(reply: &Value, account: &str) {
    assert_eq!(
        reply["data"],
        json!({"account": account, "code": 200, "message": "jwt updated"}),
        "{reply}"
    );
    assert!(reply["server"]["id"].is_string(), "{reply}");
    assert!(reply.get("error").is_none(), "{reply}");
}

#[test]
fn push_to_full_resolver_applies_writes_and_survives_restart() {
    let s = Setup::new();
    let dir = ConfDir::new("claims-full");
    let (conf, jwt_dir) = s.full_resolver(&dir);
    let mut server = start(&dir, &conf);
    let mut sysop = s.login(&server, &s.sys, &s.sysop);
    let mut alice = s.login(&server, &s.app, &s.alice);
    let mut bob = s.login(&server, &s.app, &s.bob);
    let revoking = s.app_jwt_revoking_alice();
    let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", &revoking);
    assert_updated(&reply, &s.app.public);
    let (lines, closed) = alice.read_until_closed(IO_TIMEOUT);
    assert!(closed, "alice stays connected: {lines:?}");
    assert_eq!(lines, ["-ERR 'User Authentication Revoked'"]);
    assert!(bob.flush().is_empty(), "bob is kept");
    assert_eq!(read_jwt(&jwt_dir, &s.app.public), revoking);
    // The same JWT again: nothing changes, the reply is the same.
    let again = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", &revoking);
    assert_updated(&again, &s.app.public);
    // After a restart the revocation holds: alice is refused, bob is not.
    drop((sysop, bob));
    server.terminate(IO_TIMEOUT);
    let server = start(&dir, &conf);
    let (mut c, nonce) = connect_raw(&server);
    let sig = sign(&s.alice.seed, nonce.as_bytes()).unwrap();
    c.send(format!(
        "CONNECT {}\r\nPING\r\n",
        json!({"verbose": false, "jwt": s.user_jwt(&s.app, &s.alice), "sig": sig})
    ));
    c.expect_err_and_close("-ERR 'Authorization Violation'", false);
    s.login(&server, &s.app, &s.bob);
}

/// The `error` of a refused update.
fn assert_refused(reply: &Value, account: &str, description: &str) {
    let error = &reply["error"];
    assert_eq!(error["account"], account, "{reply}");
    assert_eq!(error["code"], 500, "{reply}");
    let text = error["description"].as_str().unwrap_or_default();
    assert!(text.starts_with(description), "{reply}");
    assert!(reply.get("data").is_none(), "{reply}");
    assert!(reply["server"]["id"].is_string(), "{reply}");
}

/// Refusals: an update for another account than its subject says, one
/// that is not a JWT, one older than the JWT held, one signed by a key
/// the operator does not know (nats-server 2.9.10 writes those last two
/// and replies "jwt updated"; nats-lite refuses them); and a client of
/// another account cannot push at all (the subjects are the system
/// account's).
#[test]
fn push_refusals() {
    let s = Setup::new();
    let dir = ConfDir::new("claims-refused");
    let (conf, jwt_dir) = s.full_resolver(&dir);
    let server = start(&dir, &conf);
    let mut sysop = s.login(&server, &s.sys, &s.sysop);
    let held = read_jwt(&jwt_dir, &s.app.public);
    let newer = s.app_jwt(now() - 20, json!({}));
    let subject = format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", s.sys.public);
    let reply = request(&mut sysop, &subject, &newer);
    assert_refused(
        &reply,
        &s.sys.public,
        "jwt update resulted in error - subject does not match jwt content",
    );
    for garbage in ["not a jwt", ""] {
        let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", garbage);
        assert_refused(&reply, "n/a", "jwt update resulted in error - ");
    }
    // A client of APP: nobody in its account answers.
    let mut alice = s.login(&server, &s.app, &s.alice);
    send_request(&mut alice, "_INBOX.x", "$SYS.REQ.CLAIMS.UPDATE", &newer);
    let (head, payload) = next_msg(&mut alice);
    assert!(head.starts_with("HMSG _INBOX.x "), "{head}");
    assert!(String::from_utf8_lossy(&payload).starts_with("NATS/1.0 503"));
    assert_eq!(read_jwt(&jwt_dir, &s.app.public), held);
    if is_reference() {
        eprintln!("skip: nats-server 2.9.10 writes older and untrusted account JWTs");
        return;
    }
    let older = s.app_jwt(now() - 200, json!({}));
    let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", &older);
    assert_refused(
        &reply,
        &s.app.public,
        "jwt update resulted in error - the JWT held was issued later",
    );
    let stranger = pair(Kind::Operator);
    let untrusted = s.account_jwt(&stranger, &s.app, now() - 20, json!({}));
    let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", &untrusted);
    assert_refused(
        &reply,
        &s.app.public,
        &format!(
            "jwt update resulted in error - issuer {} is not a trusted operator",
            stranger.public
        ),
    );
    assert_eq!(read_jwt(&jwt_dir, &s.app.public), held);
    // APP's users are still served.
    alice.send("SUB a 1\r\nPUB a 2\r\nhi\r\n");
    assert_eq!(
        next_msg(&mut alice),
        ("MSG a 1 2".to_string(), b"hi".to_vec())
    );
}

/// The per-account subjects (the old one without a reply too), a new
/// account pushed in, the list, a lookup, and a delete refused without
/// `allow_delete`.
#[test]
fn account_subjects_list_lookup_and_delete() {
    let s = Setup::new();
    let dir = ConfDir::new("claims-list");
    let (conf, jwt_dir) = s.full_resolver(&dir);
    let server = start(&dir, &conf);
    let mut sysop = s.login(&server, &s.sys, &s.sysop);
    let v2 = s.app_jwt(now() - 50, json!({}));
    let subject = format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", s.app.public);
    assert_updated(&request(&mut sysop, &subject, &v2), &s.app.public);
    assert_eq!(read_jwt(&jwt_dir, &s.app.public), v2);
    // The old subject, published without a reply: applied all the same.
    let v3 = s.app_jwt(now() - 40, json!({}));
    let old = format!("$SYS.ACCOUNT.{}.CLAIMS.UPDATE", s.app.public);
    sysop.send(format!("PUB {old} {}\r\n{v3}\r\n", v3.len()));
    sysop.ping_pong();
    crate::util::wait_for_file(
        &jwt_dir.join(format!("{}.jwt", s.app.public)),
        IO_TIMEOUT,
        |t| t == v3,
    );
    // A new account: written, and its users are admitted.
    let extra = pair(Kind::Account);
    let extra_jwt = s.account_jwt(&s.signing_key, &extra, now() - 30, json!({}));
    let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", &extra_jwt);
    assert_updated(&reply, &extra.public);
    let user = pair(Kind::User);
    s.login(&server, &extra, &user);
    let list = request(&mut sysop, "$SYS.REQ.CLAIMS.LIST", "");
    let mut keys = vec![
        s.sys.public.clone(),
        s.app.public.clone(),
        extra.public.clone(),
    ];
    keys.sort();
    assert_eq!(list["data"], json!(keys), "{list}");
    assert!(list["server"]["id"].is_string(), "{list}");
    let lookup = format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.LOOKUP", extra.public);
    send_request(&mut sysop, "_INBOX.lookup", &lookup, "");
    let (head, payload) = next_msg(&mut sysop);
    assert!(head.starts_with("MSG _INBOX.lookup "), "{head}");
    assert_eq!(String::from_utf8_lossy(&payload), extra_jwt);
    // Delete without allow_delete: refused, nothing deleted.
    let request_jwt = encode_jwt(
        &s.operator.seed,
        &json!({"iss": s.operator.public, "sub": s.operator.public, "iat": now(),
                "jti": "del", "nats": {"accounts": [extra.public]}}),
    );
    let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.DELETE", &request_jwt);
    assert_eq!(
        reply["error"],
        json!({"code": 500, "description": format!(
            "delete accounts request by {} failed - delete must be enabled in server config",
            s.operator.public)}),
        "{reply}"
    );
    assert_eq!(read_jwt(&jwt_dir, &extra.public), extra_jwt);
}

/// `resolver: MEMORY`: only the per-account subjects, applied to the live
/// account (nats-server's `accountClaimUpdate`); `$SYS.REQ.CLAIMS.UPDATE`
/// has no responder.
#[test]
fn memory_resolver_takes_per_account_updates() {
    let s = Setup::new();
    let dir = ConfDir::new("claims-memory");
    let sys = s.account_jwt(&s.signing_key, &s.sys, now() - 1000, json!({}));
    let conf = format!(
        "operator: {}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {}\n  {}: {}\n}}\n",
        s.operator_jwt(),
        s.sys.public,
        s.sys.public,
        sys,
        s.app.public,
        s.app_jwt(now() - 100, json!({})),
    );
    let server = start(&dir, &conf);
    let mut sysop = s.login(&server, &s.sys, &s.sysop);
    let mut alice = s.login(&server, &s.app, &s.alice);
    let mut bob = s.login(&server, &s.app, &s.bob);
    let revoking = s.app_jwt_revoking_alice();
    send_request(
        &mut sysop,
        "_INBOX.all",
        "$SYS.REQ.CLAIMS.UPDATE",
        &revoking,
    );
    let (head, payload) = next_msg(&mut sysop);
    assert!(head.starts_with("HMSG _INBOX.all "), "{head}");
    assert!(String::from_utf8_lossy(&payload).starts_with("NATS/1.0 503"));
    let subject = format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", s.app.public);
    assert_updated(&request(&mut sysop, &subject, &revoking), &s.app.public);
    let (lines, closed) = alice.read_until_closed(IO_TIMEOUT);
    assert!(closed, "alice stays connected: {lines:?}");
    assert_eq!(lines, ["-ERR 'User Authentication Revoked'"]);
    assert!(bob.flush().is_empty(), "bob is kept");
    let reply = request(&mut sysop, &subject, "");
    assert_refused(
        &reply,
        &s.app.public,
        "jwt update error - request body is empty",
    );
}

/// `allow_delete: true`: a delete request signed by the operator renames
/// the account's file to `<key>.jwt.deleted` and closes its clients.
#[test]
fn delete_with_allow_delete() {
    delete_an_account("allow_delete: true", true);
}

/// With `hard_delete: true` as well the file is removed, not renamed
/// (nats-server 2.10 and later; 2.9.10 has no `hard_delete`).
#[test]
fn delete_with_hard_delete() {
    if crate::util::skip_under_reference("nats-server 2.9.10 has no hard_delete") {
        return;
    }
    delete_an_account("allow_delete: true, hard_delete: true", false);
}

/// Delete the application account with `options` in the `full` resolver
/// block; `renamed`: its file is kept as `<key>.jwt.deleted`.
fn delete_an_account(options: &str, renamed: bool) {
    let s = Setup::new();
    let dir = ConfDir::new("claims-delete");
    let (conf, jwt_dir) = s.full_resolver(&dir);
    let conf = conf.replace("type: full,", &format!("type: full, {options},"));
    let server = start(&dir, &conf);
    let mut sysop = s.login(&server, &s.sys, &s.sysop);
    let mut alice = s.login(&server, &s.app, &s.alice);
    let delete = |accounts: Value| {
        encode_jwt(
            &s.operator.seed,
            &json!({"iss": s.operator.public, "sub": s.operator.public, "iat": now(),
                    "jti": "del", "nats": {"accounts": accounts}}),
        )
    };
    let reply = request(
        &mut sysop,
        "$SYS.REQ.CLAIMS.DELETE",
        &delete(json!([s.sys.public])),
    );
    assert_eq!(
        reply["error"]["description"],
        format!(
            "delete accounts request by {} failed - not allowed to delete system account",
            s.operator.public
        ),
        "{reply}"
    );
    let reply = request(
        &mut sysop,
        "$SYS.REQ.CLAIMS.DELETE",
        &delete(json!([s.app.public])),
    );
    assert_eq!(
        reply["data"],
        json!({"code": 200, "message": "deleted 1 accounts"}),
        "{reply}"
    );
    let (lines, closed) = alice.read_until_closed(IO_TIMEOUT);
    assert!(closed, "alice stays connected: {lines:?}");
    assert_eq!(lines, ["-ERR 'Account Authentication Expired'"]);
    assert!(!jwt_dir.join(format!("{}.jwt", s.app.public)).exists());
    assert_eq!(
        jwt_dir
            .join(format!("{}.jwt.deleted", s.app.public))
            .is_file(),
        renamed
    );
    let list = request(&mut sysop, "$SYS.REQ.CLAIMS.LIST", "");
    assert_eq!(list["data"], json!([s.sys.public]), "{list}");
}

/// `type: cache`: the same updates with the cache resolver's words, an
/// account it does not hold skipped, and no LOOKUP.
#[test]
fn cache_resolver_updates() {
    let s = Setup::new();
    let dir = ConfDir::new("claims-cache");
    let (conf, jwt_dir) = s.full_resolver(&dir);
    let conf = conf.replace("type: full,", "type: cache,");
    let server = start(&dir, &conf);
    let mut sysop = s.login(&server, &s.sys, &s.sysop);
    s.login(&server, &s.app, &s.alice);
    let v2 = s.app_jwt(now() - 50, json!({}));
    let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", &v2);
    assert_eq!(
        reply["data"],
        json!({"account": s.app.public, "code": 200, "message": "jwt updated cache"}),
        "{reply}"
    );
    assert_eq!(read_jwt(&jwt_dir, &s.app.public), v2);
    let extra = pair(Kind::Account);
    let extra_jwt = s.account_jwt(&s.signing_key, &extra, now() - 30, json!({}));
    let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", &extra_jwt);
    assert_eq!(
        reply["data"],
        json!({"account": extra.public, "code": 200, "message": "jwt update cache skipped"}),
        "{reply}"
    );
    assert!(!jwt_dir.join(format!("{}.jwt", extra.public)).exists());
    let lookup = format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.LOOKUP", s.app.public);
    send_request(&mut sysop, "_INBOX.lookup", &lookup, "");
    let (head, payload) = next_msg(&mut sysop);
    assert!(head.starts_with("HMSG _INBOX.lookup "), "{head}");
    assert!(String::from_utf8_lossy(&payload).starts_with("NATS/1.0 503"));
}

/// In a cluster the push reaches every server through the routes (the
/// service's subscriptions are the system account's interest): each
/// writes its own directory and applies the update.
#[test]
fn push_reaches_every_server_of_a_cluster() {
    use crate::cluster_support::{sync_interest, wait_mesh, Impl, Node};
    let kind = if is_reference() {
        Impl::Reference
    } else {
        Impl::Lite
    };
    let s = Setup::new();
    let (dir1, dir2) = (ConfDir::new("claims-c1"), ConfDir::new("claims-c2"));
    let (conf1, jwt1) = s.full_resolver(&dir1);
    let (conf2, jwt2) = s.full_resolver(&dir2);
    let file1 = dir1.write("server.conf", &conf1);
    let file2 = dir2.write("server.conf", &conf2);
    let n1 = Node::clustered(kind, &[], &["-c", &file1]);
    let n2 = Node::clustered(kind, &[n1.route_url()], &["-c", &file2]);
    let nodes = [n1, n2];
    wait_mesh(&nodes);
    let mut alice = s.login(&nodes[1].server, &s.app, &s.alice);
    let mut sysop = s.login(&nodes[0].server, &s.sys, &s.sysop);
    // The second server's service subscriptions reached the first one
    // before a probe subscribed there after them.
    let mut probe = s.login(&nodes[1].server, &s.sys, &s.sysop);
    sync_interest(&mut probe, &mut sysop);
    let revoking = s.app_jwt_revoking_alice();
    // Both servers answer: the first reply is enough here.
    let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", &revoking);
    assert_updated(&reply, &s.app.public);
    for dir in [&jwt1, &jwt2] {
        let file = dir.join(format!("{}.jwt", s.app.public));
        crate::util::wait_for_file(&file, IO_TIMEOUT, |t| t == revoking);
    }
    let (lines, closed) = alice.read_until_closed(IO_TIMEOUT);
    assert!(closed, "alice stays connected: {lines:?}");
    assert_eq!(lines, ["-ERR 'User Authentication Revoked'"]);
}

/// A client command with the system user's creds file pushes as `nsc
/// push` does (one request on `$SYS.REQ.CLAIMS.UPDATE`) and prints the
/// reply; the account's new limit holds for a client that connects next.
#[test]
fn client_command_with_system_creds_pushes() {
    use crate::client_support::{lite, run};
    let s = Setup::new();
    let dir = ConfDir::new("claims-cli");
    let (conf, jwt_dir) = s.full_resolver(&dir);
    let server = start(&dir, &conf);
    let creds = dir.write(
        "sys.creds",
        &format!(
            "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            s.user_jwt(&s.sys, &s.sysop),
            s.sysop.seed
        ),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(&creds, mode).unwrap();
    }
    let mut limits: Value = serde_json::from_str(NO_LIMITS).unwrap();
    limits["payload"] = 4.into();
    let limited = s.app_jwt(now() - 50, json!({ "limits": limits }));
    let url = server.url();
    let done = run(
        lite(&[
            "req",
            "-s",
            &url,
            "--creds",
            &creds,
            "$SYS.REQ.CLAIMS.UPDATE",
            &limited,
        ]),
        None,
    );
    done.assert_ok();
    assert!(
        done.out().contains("\"message\":\"jwt updated\""),
        "{}",
        done.out()
    );
    assert_eq!(read_jwt(&jwt_dir, &s.app.public), limited);
    let mut bob = s.login(&server, &s.app, &s.bob);
    bob.send("PUB a 5\r\nhello\r\n");
    // (nats-server first sends an INFO with the account's max_payload.)
    let (lines, closed) = bob.read_until_closed(IO_TIMEOUT);
    assert!(closed, "{lines:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("-ERR 'Maximum Payload Violation'")
    );
}

/// `$SYS.REQ.CLAIMS.PACK` (`full`): every JWT as `<key>|<jwt>`, then an
/// empty message; only the empty message when the request carries the
/// XOR of the JWTs' SHA-256 (the requester holds the same).
#[test]
fn pack_sends_every_jwt_unless_the_hash_matches() {
    let s = Setup::new();
    let dir = ConfDir::new("claims-pack");
    let (conf, jwt_dir) = s.full_resolver(&dir);
    let server = start(&dir, &conf);
    let mut sysop = s.login(&server, &s.sys, &s.sysop);
    let mut keys = [s.sys.public.clone(), s.app.public.clone()];
    keys.sort();
    let mut hash = [0u8; 32];
    for key in &keys {
        let digest =
            ring::digest::digest(&ring::digest::SHA256, read_jwt(&jwt_dir, key).as_bytes());
        for (h, d) in hash.iter_mut().zip(digest.as_ref()) {
            *h ^= d;
        }
    }
    sysop.send("SUB _INBOX.pack 1\r\nPUB $SYS.REQ.CLAIMS.PACK _INBOX.pack 0\r\n\r\n");
    for key in &keys {
        let (_, payload) = next_msg(&mut sysop);
        assert_eq!(
            String::from_utf8_lossy(&payload),
            format!("{key}|{}", read_jwt(&jwt_dir, key))
        );
    }
    assert_eq!(next_msg(&mut sysop).1, b"");
    sysop.send("PUB $SYS.REQ.CLAIMS.PACK _INBOX.pack 32\r\n");
    sysop.send(hash);
    sysop.send("\r\n");
    // The JWTs would come before the empty message.
    assert_eq!(next_msg(&mut sysop).1, b"");
}

/// A pushed account JWT's payload limit holds for a client already
/// connected (nats-server re-applies the account's limits to them).
#[test]
fn pushed_limit_holds_for_a_connected_client() {
    let s = Setup::new();
    let dir = ConfDir::new("claims-limit");
    let (conf, _) = s.full_resolver(&dir);
    let server = start(&dir, &conf);
    let mut sysop = s.login(&server, &s.sys, &s.sysop);
    let mut bob = s.login(&server, &s.app, &s.bob);
    bob.send("SUB a 1\r\nPUB a 5\r\nhello\r\n");
    assert_eq!(
        next_msg(&mut bob),
        ("MSG a 1 5".to_string(), b"hello".to_vec())
    );
    let mut limits: Value = serde_json::from_str(NO_LIMITS).unwrap();
    limits["payload"] = 4.into();
    let limited = s.app_jwt(now() - 50, json!({ "limits": limits }));
    let reply = request(&mut sysop, "$SYS.REQ.CLAIMS.UPDATE", &limited);
    assert_updated(&reply, &s.app.public);
    bob.send("PUB a 4\r\nfour\r\n");
    assert_eq!(
        next_msg(&mut bob),
        ("MSG a 1 4".to_string(), b"four".to_vec())
    );
    bob.send("PUB a 5\r\nhello\r\n");
    let (lines, closed) = bob.read_until_closed(IO_TIMEOUT);
    assert!(closed, "{lines:?}");
    assert_eq!(lines, ["-ERR 'Maximum Payload Violation'"]);
}
