//! The claim update service (what `nsc push` talks to): account JWTs
//! published on the system account, answered as nats-server 2.9.10's
//! resolvers answer them (`server/accounts.go`, `server/events.go`).
//!
//! | resolver | subjects |
//! | --- | --- |
//! | `full` (directory) | `$SYS.REQ.CLAIMS.UPDATE`, `$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE`, `$SYS.ACCOUNT.<key>.CLAIMS.UPDATE`, `$SYS.REQ.ACCOUNT.<key>.CLAIMS.LOOKUP`, `$SYS.REQ.CLAIMS.PACK`, `$SYS.REQ.CLAIMS.LIST`, `$SYS.REQ.CLAIMS.DELETE` |
//! | `cache` (directory) | the same without `LOOKUP` and `PACK` |
//! | `MEMORY`, `URL(...)` | the two per-account `UPDATE` subjects (nats-server's `accountClaimUpdate`): the live account only, until a restart or reload |
//!
//! An update is checked (signature, subject, a trusted issuer, not older
//! than the JWT held: `jwt/store.rs`), written to `<dir>/<key>.jwt` by the
//! directory resolvers, and applied as a reload applies a changed account
//! (`Server::apply_account_jwt`): its users are re-checked. Replies are
//! nats-server's `respondToUpdate`: `{"data":{"account","code":200,
//! "message"}}` or `{"error":{"account","code":500,"description"}}`, with
//! the `server` block; the list is `{"data":[keys]}`, a lookup the bare JWT.
//! In a cluster a push reaches every server through the routes (the
//! subscriptions are the system account's interest). `full` also answers
//! `$SYS.REQ.CLAIMS.PACK` (queue group `responder`): every JWT it holds
//! unless the requester's hash is its own, then an empty message. Not
//! built: the periodic synchronisation of the directories between servers
//! (sending pack requests and merging the answers), and the `cache`
//! resolver's TTL and eviction.
//!
//! Only clients of the system account reach these subjects (the service
//! subscribes in the system account; no other account imports them).

use serde_json::{json, Map, Value};

use super::envelope::ServerInfo;
use crate::server::jwt::claims::{decode, decode_generic, AccountNats};
use crate::server::jwt::store::{self, Pushed};
use crate::server::jwt::DirResolver;
use crate::server::Server;
use crate::{debug, log_error};

/// The per-account update subjects every resolver answers.
const ACCOUNT_UPDATES: [&str; 2] = [
    "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE",
    "$SYS.ACCOUNT.*.CLAIMS.UPDATE",
];

/// The subjects the service subscribes to for this server's resolver
/// (none outside operator mode), each with its queue group.
pub fn subjects(server: &Server) -> Vec<(&'static str, Option<&'static str>)> {
    let opts = server.opts();
    let Some(trust) = &opts.operator else {
        return Vec::new();
    };
    let mut subjects = ACCOUNT_UPDATES.to_vec();
    if let Some(dir) = &trust.dir {
        subjects.extend([
            "$SYS.REQ.CLAIMS.UPDATE",
            "$SYS.REQ.CLAIMS.LIST",
            "$SYS.REQ.CLAIMS.DELETE",
        ]);
        if !dir.cache {
            subjects.push("$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP");
        }
    }
    let mut subjects: Vec<_> = subjects.into_iter().map(|s| (s, None)).collect();
    if trust.dir.as_ref().is_some_and(|d| !d.cache) {
        // One server of a cluster answers a pack request.
        subjects.push(("$SYS.REQ.CLAIMS.PACK", Some("responder")));
    }
    subjects
}

/// The replies to a request on a claims subject (none, one, or a pack's
/// several); `None` when `subject` is not one.
pub fn answer(server: &Server, subject: &str, payload: &[u8]) -> Option<Vec<Vec<u8>>> {
    let tokens: Vec<&str> = subject.split('.').collect();
    let dir = server.opts().operator.as_ref()?.dir.clone();
    if let (["$SYS", "REQ", "CLAIMS", "PACK"], Some(dir)) = (tokens.as_slice(), &dir) {
        return (!dir.cache).then(|| pack(dir, payload));
    }
    let one = match (tokens.as_slice(), &dir) {
        (["$SYS", "REQ", "CLAIMS", "UPDATE"], Some(dir)) => {
            Some(update(server, dir, None, payload))
        }
        (
            ["$SYS", "REQ", "ACCOUNT", key, "CLAIMS", "UPDATE"]
            | ["$SYS", "ACCOUNT", key, "CLAIMS", "UPDATE"],
            dir,
        ) => Some(match dir {
            Some(dir) => update(server, dir, Some(key), payload),
            None => update_live(server, key, payload),
        }),
        (["$SYS", "REQ", "ACCOUNT", key, "CLAIMS", "LOOKUP"], Some(dir)) if !dir.cache => {
            lookup(dir, key)
        }
        (["$SYS", "REQ", "CLAIMS", "LIST"], Some(dir)) => list(server, dir),
        (["$SYS", "REQ", "CLAIMS", "DELETE"], Some(dir)) => Some(delete(server, dir, payload)),
        _ => return None,
    };
    Some(one.into_iter().collect())
}

/// `$SYS.REQ.CLAIMS.PACK`: the body is the requester's hash of its JWTs
/// (the XOR of their SHA-256; empty asks for everything). Unless it equals
/// ours, one `<key>|<jwt>` message per account; then an empty message.
fn pack(dir: &DirResolver, theirs: &[u8]) -> Vec<Vec<u8>> {
    let files = match store::files(&dir.path) {
        Ok(files) => files,
        Err(e) => {
            log_error!("pack request error: {e}");
            return Vec::new();
        }
    };
    let mut ours = [0u8; 32];
    for (_, jwt) in &files {
        let digest = ring::digest::digest(&ring::digest::SHA256, jwt.as_bytes());
        for (o, d) in ours.iter_mut().zip(digest.as_ref()) {
            *o ^= d;
        }
    }
    let mut replies = Vec::new();
    if theirs != ours {
        replies.extend(
            files
                .into_iter()
                .map(|(key, jwt)| format!("{key}|{jwt}").into_bytes()),
        );
    }
    replies.push(Vec::new());
    replies
}

/// The messages of a directory resolver's replies (`full` and `cache`
/// word them differently).
struct Words {
    failed: &'static str,
    updated: &'static str,
    skipped: &'static str,
}

const FULL: Words = Words {
    failed: "jwt update resulted in error",
    updated: "jwt updated",
    skipped: "jwt update skipped",
};
const CACHE: Words = Words {
    failed: "jwt update cache resulted in error",
    updated: "jwt updated cache",
    skipped: "jwt update cache skipped",
};

/// An update for a directory resolver: on `$SYS.REQ.CLAIMS.UPDATE`
/// (`key` None: the JWT's subject) or a per-account subject.
fn update(server: &Server, dir: &DirResolver, key: Option<&str>, payload: &[u8]) -> Vec<u8> {
    let words = if dir.cache { &CACHE } else { &FULL };
    let token = String::from_utf8_lossy(payload);
    let claims = match decode::<AccountNats>(&token, "account") {
        Ok(c) => c,
        Err(e) => {
            // The full resolver names no account here; the cache resolver
            // names the subject's.
            let account = if dir.cache {
                key.unwrap_or("n/a")
            } else {
                "n/a"
            };
            return respond(server, Some(account), words.failed, Some(e));
        }
    };
    let key = key.unwrap_or(&claims.sub).to_string();
    if claims.sub != key {
        let why = "subject does not match jwt content".to_string();
        return respond(server, Some(&key), words.failed, Some(why));
    }
    let opts = server.opts();
    let Some(trust) = &opts.operator else {
        return respond(server, Some(&key), words.failed, Some("no operator".into()));
    };
    let preloaded = || {
        trust
            .preload
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, j)| j.clone())
    };
    let live = preloaded();
    let held = store::read(&dir.path, &key).or_else(|| live.clone());
    if dir.cache && held.is_none() {
        return respond(server, Some(&key), words.skipped, None);
    }
    match store::check_push(trust, &token, &claims, held.as_deref()) {
        Err(why) => return respond(server, Some(&key), words.failed, Some(why)),
        // Held in the file and live: nothing to do.
        Ok(Pushed::Same) if live.as_deref().map(str::trim) == Some(token.trim()) => {
            return respond(server, Some(&key), words.updated, None)
        }
        Ok(_) => {}
    }
    if let Err(e) = store::write(&dir.path, &key, token.trim()) {
        return respond(server, Some(&key), words.failed, Some(e.to_string()));
    }
    // As nats-server's change callback: the file is written, a failure to
    // apply it is logged.
    if let Err(e) = server.apply_account_jwt(&key, Some(token.trim())) {
        log_error!("update resulted in error {e}");
    }
    respond(server, Some(&key), words.updated, None)
}

/// An update for the `MEMORY` and URL resolvers (nats-server's
/// `accountClaimUpdate`): the live account only.
fn update_live(server: &Server, key: &str, payload: &[u8]) -> Vec<u8> {
    const FAILED: &str = "jwt update resulted in error";
    if payload.is_empty() {
        let why = Some("request body is empty".to_string());
        return respond(server, Some(key), "jwt update error", why);
    }
    let token = String::from_utf8_lossy(payload);
    let claims = match decode::<AccountNats>(&token, "account") {
        Ok(c) => c,
        Err(e) => return respond(server, Some(key), FAILED, Some(e)),
    };
    if claims.sub != key {
        let why = Some("subject does not match jwt content".to_string());
        return respond(server, Some(key), FAILED, why);
    }
    let opts = server.opts();
    let Some(trust) = &opts.operator else {
        return respond(server, Some(key), FAILED, Some("no operator".into()));
    };
    let Some((_, held)) = trust.preload.iter().rev().find(|(k, _)| k == key) else {
        return respond(server, Some(key), "jwt update skipped", None);
    };
    match store::check_push(trust, &token, &claims, Some(held)) {
        Err(why) => return respond(server, Some(key), FAILED, Some(why)),
        Ok(Pushed::Same) => return respond(server, Some(key), "jwt updated", None),
        Ok(Pushed::Newer) => {}
    }
    match server.apply_account_jwt(key, Some(token.trim())) {
        Ok(()) => respond(server, Some(key), "jwt updated", None),
        Err(e) => respond(server, Some(key), FAILED, Some(e)),
    }
}

/// `$SYS.REQ.ACCOUNT.<key>.CLAIMS.LOOKUP`: the bare JWT, or nothing.
fn lookup(dir: &DirResolver, key: &str) -> Option<Vec<u8>> {
    match store::read(&dir.path, key) {
        Some(jwt) => Some(jwt.into_bytes()),
        None => {
            log_error!("Merging resulted in error: no JWT for account {key}");
            None
        }
    }
}

/// `$SYS.REQ.CLAIMS.LIST`: `{"data":[keys],"server":...}`; nothing when
/// the directory cannot be read (nats-server lets the requester time out).
fn list(server: &Server, dir: &DirResolver) -> Option<Vec<u8>> {
    match store::list(&dir.path) {
        Ok(keys) => {
            debug!("list request responded with {} account ids", keys.len());
            Some(reply(server, "data", json!(keys)))
        }
        Err(e) => {
            log_error!("list request error: {e}");
            None
        }
    }
}

/// `$SYS.REQ.CLAIMS.DELETE`: a JWT self-signed by a trusted operator whose
/// `nats.accounts` lists the accounts to delete (nats-server's
/// `handleDeleteRequest`). Only with `allow_delete` (the `cache`
/// resolver deletes regardless, as nats-server's).
fn delete(server: &Server, dir: &DirResolver, payload: &[u8]) -> Vec<u8> {
    let (subject, checked) = delete_request(server, dir, payload);
    let accounts = match checked {
        Ok(accounts) => accounts,
        Err(e) => {
            let what = format!("delete accounts request by {subject} failed");
            return respond(server, None, &what, Some(e));
        }
    };
    let mut errors = Vec::new();
    for key in &accounts {
        match store::delete(&dir.path, key, !dir.cache && !dir.hard_delete) {
            Ok(()) => {
                if let Err(e) = server.apply_account_jwt(key, None) {
                    log_error!("delete of account {key} resulted in error {e}");
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let passed = accounts.len() - errors.len();
    if errors.is_empty() {
        respond(server, None, &format!("deleted {passed} accounts"), None)
    } else {
        let what = format!("deleted {passed} accounts, failed for {}", errors.len());
        respond(server, None, &what, Some(errors.join("\n")))
    }
}

/// The requester (the JWT's subject) and the accounts to delete, or why not.
fn delete_request(
    server: &Server,
    dir: &DirResolver,
    payload: &[u8],
) -> (String, Result<Vec<String>, String>) {
    let claims = match decode_generic(&String::from_utf8_lossy(payload)) {
        Ok(c) => c,
        Err(e) => return (String::new(), Err(e)),
    };
    let text = |k: &str| claims[k].as_str().unwrap_or_default().to_string();
    let (subject, issuer) = (text("sub"), text("iss"));
    let checked = (|| {
        if !dir.allow_delete && !dir.cache {
            return Err("delete must be enabled in server config".to_string());
        }
        if subject != issuer {
            return Err("not self signed".into());
        }
        if !operator_keys(server).contains(&issuer) {
            return Err("not trusted".into());
        }
        let system = server.opts().system_account.clone().unwrap_or_default();
        let list = claims["nats"]["accounts"]
            .as_array()
            .ok_or("malformed request")?;
        let mut accounts = Vec::new();
        for entry in list {
            let key = entry.as_str().unwrap_or_default();
            if !crate::nkey::is_public_key(key, crate::nkey::Kind::Account) {
                return Err("malformed request".into());
            }
            if key == system {
                return Err("not allowed to delete system account".into());
            }
            accounts.push(key.to_string());
        }
        Ok(accounts)
    })();
    (subject, checked)
}

/// The keys that may sign a delete request: the first operator's own key
/// (unless it requires signing keys) and its signing keys (nats-server's
/// `getOperatorKeys`).
fn operator_keys(server: &Server) -> Vec<String> {
    use crate::server::jwt::claims::OperatorNats;
    let opts = server.opts();
    let Some(token) = opts.operator.as_ref().and_then(|t| t.operators.first()) else {
        return Vec::new();
    };
    let Ok(op) = decode::<OperatorNats>(token, "operator") else {
        return Vec::new();
    };
    let mut keys = op.nats.signing_keys;
    if !op.nats.strict_signing_key_usage {
        keys.push(op.sub);
    }
    keys
}

/// nats-server's `respondToUpdate`: `data` (code 200, the message) or
/// `error` (code 500, "message - why"), logged as it logs them.
fn respond(server: &Server, account: Option<&str>, message: &str, err: Option<String>) -> Vec<u8> {
    let mut m = Map::new();
    if let Some(a) = account {
        m.insert("account".into(), a.into());
    }
    let label = account.map(|a| format!(" - {a}")).unwrap_or_default();
    match err {
        None => {
            debug!("{message}{label}");
            m.insert("code".into(), 200.into());
            m.insert("message".into(), message.into());
            reply(server, "data", Value::Object(m))
        }
        Some(why) => {
            log_error!("{message}{label} - {why}");
            m.insert("code".into(), 500.into());
            m.insert("description".into(), format!("{message} - {why}").into());
            reply(server, "error", Value::Object(m))
        }
    }
}

/// `{"<key>":value,"server":{...}}` (nats-server marshals a map: the keys
/// in order).
fn reply(server: &Server, key: &str, value: Value) -> Vec<u8> {
    let mut out = format!("{{\"{key}\":").into_bytes();
    out.extend_from_slice(&serde_json::to_vec(&value).unwrap_or_default());
    out.extend_from_slice(b",\"server\":");
    out.extend_from_slice(&serde_json::to_vec(&ServerInfo::of(server)).unwrap_or_default());
    out.push(b'}');
    out
}
