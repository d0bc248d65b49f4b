//! Operator mode: trust rooted in operator JWTs (`operator`), accounts from
//! account JWTs (`resolver: MEMORY` + `resolver_preload`), users from the
//! user JWT of their CONNECT.
//!
//! A user is accepted when its JWT is signed by its account (or one of the
//! account's signing keys), the account JWT by a trusted operator (or one
//! of its signing keys), both are in their validity window, the account has
//! not revoked the user, and the nonce is signed by the user's key (unless
//! the JWT is a bearer token). Each account is a subject space of its own,
//! named by its public key. Claims nats-lite cannot enforce refuse the
//! account or user with a log line: nothing is granted by being ignored.

pub mod activation;
pub mod claims;
pub mod store;
pub mod url_resolver;
pub mod user;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use claims::{decode, AccountNats, Claims, OperatorNats, UserNats};
use serde_json::Value;

use super::account::Account;
use super::auth::Identity;
use super::nkey_auth::{UserLimits, Verdict};
use super::permissions::Permissions;
use crate::nkey::{self, Kind};
use crate::protocol::info::Connect;
use crate::warn;

/// Operator mode settings from the config file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustOptions {
    /// Operator JWTs (already read from their files).
    pub operators: Vec<String>,
    /// Operator public keys trusted without a JWT (`trusted_keys`).
    pub trusted_keys: Vec<String>,
    /// `resolver_preload`: account public key -> account JWT.
    pub preload: Vec<(String, String)>,
    /// `system_account` of the config file.
    pub system_account: Option<String>,
    /// `resolver: URL(...)`: accounts not preloaded are fetched from here.
    pub url: Option<String>,
    /// `resolver { type: full|cache, dir: DIR }`: the directory resolver.
    pub dir: Option<DirResolver>,
}

/// A directory resolver: where pushed account JWTs are written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirResolver {
    /// The directory of `<ACCOUNT>.jwt` files.
    pub path: std::path::PathBuf,
    /// `type: cache` (nats-server's `CacheDirAccResolver`), not `full`.
    pub cache: bool,
    /// `allow_delete`: `$SYS.REQ.CLAIMS.DELETE` may delete accounts.
    pub allow_delete: bool,
    /// `hard_delete`: a deleted account's file is removed, not renamed.
    pub hard_delete: bool,
}

/// The account JWTs of a directory resolver: every `<ACCOUNT>.jwt` file
/// (as nats-server's directory store names them), by account key.
///
/// # Errors
///
/// The directory cannot be read.
pub fn read_resolver_dir(dir: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    Ok(store::files(dir)?
        .into_iter()
        .map(|(key, text)| (key, text.trim().to_string()))
        .collect())
}

/// The imports of the accounts' JWTs that their exporters allow: public
/// exports (no activation token) that cover the subject, of the same type,
/// not revoked for the importer. Others are left out with a log line
/// (which grants less, never more).
pub fn import_specs(preload: &[(String, String)]) -> Vec<super::imports::ImportSpec> {
    let accounts: HashMap<&str, Claims<AccountNats>> = preload
        .iter()
        .filter_map(|(k, t)| Some((k.as_str(), decode::<AccountNats>(t, "account").ok()?)))
        .collect();
    let mut specs = Vec::new();
    for (importer, claims) in &accounts {
        for import in claims.nats.imports.iter().flatten() {
            match import_spec(importer, import, &accounts) {
                Ok(spec) => specs.push(spec),
                Err(why) => warn!("Account {importer}: import left out: {why}"),
            }
        }
    }
    specs
}

/// The accounts' `trace` claims (`{dest, sampling}`): account, trace
/// subject, sampling percent (100 when 0 or absent, as nats-server).
pub fn msg_traces(preload: &[(String, String)]) -> Vec<(String, String, u8)> {
    preload
        .iter()
        .filter_map(|(key, token)| {
            let claims = decode::<AccountNats>(token, "account").ok()?;
            let trace = claims.nats.trace?;
            let dest = trace.get("dest")?.as_str()?.to_string();
            if !crate::protocol::subject::is_valid_literal_subject(dest.as_bytes()) {
                warn!("Account {key}: trace destination {dest:?} is not valid");
                return None;
            }
            let sampling = match trace.get("sampling").and_then(Value::as_i64) {
                Some(n @ 1..=100) => n as u8,
                _ => 100,
            };
            Some((key.clone(), dest, sampling))
        })
        .collect()
}

fn import_spec(
    importer: &str,
    import: &Value,
    accounts: &HashMap<&str, Claims<AccountNats>>,
) -> Result<super::imports::ImportSpec, String> {
    let field = |k: &str| {
        import
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let imported = field("subject").ok_or("no subject")?;
    let exporter = field("account").ok_or("no account")?;
    let service = match field("type") {
        Some("service") => true,
        Some("stream") => false,
        other => return Err(format!("unknown import type {other:?}")),
    };
    // As nats-server 2.9 reads them: a service's local_subject is where the
    // importer publishes and subject the exporter's; without it, subject is
    // the importer's and `to` (if any) the exporter's. A stream's `to` is a
    // prefix.
    let (subject, local) = match (service, field("local_subject"), field("to")) {
        (_, Some(local), _) => (imported, Some(local)),
        (true, None, Some(to)) => (to, Some(imported)),
        _ => (imported, None),
    };
    let export = accounts
        .get(exporter)
        .and_then(|a| {
            a.nats.exports.iter().flatten().find(|e| {
                e.get("type").and_then(Value::as_str)
                    == Some(if service { "service" } else { "stream" })
                    && e.get("subject")
                        .and_then(Value::as_str)
                        .is_some_and(|x| crate::conf::covers(x, subject))
            })
        })
        .ok_or_else(|| format!("{subject}: not exported by {exporter}"))?;
    // A public export needs no token (nats-server does not look at one
    // then); a private one needs a valid activation from the exporter.
    let mut expires = None;
    if export.get("token_req").and_then(Value::as_bool) == Some(true) {
        let token = field("token")
            .ok_or_else(|| format!("{subject}: the export requires an activation token"))?;
        let exporter_claims = &accounts[exporter];
        expires = activation::check(token, exporter, exporter_claims)
            .map_err(|why| format!("{subject}: activation token refused: {why}"))?;
    }
    if export
        .get("revocations")
        .and_then(|r| r.get(importer).or_else(|| r.get("*")))
        .is_some()
    {
        return Err(format!("{subject}: the export is revoked for this account"));
    }
    let prefix = field("to").filter(|_| !service).map(str::to_string);
    let literal = |s: &str| crate::protocol::subject::is_literal(s.as_bytes());
    if local.is_some_and(|l| !(literal(l) && literal(subject))) {
        return Err(format!(
            "{subject}: a local subject with wildcards is not supported"
        ));
    }
    let multiple_responses = matches!(
        export.get("response_type").and_then(Value::as_str),
        Some("Stream" | "Chunked")
    );
    let allow_trace = if service { export } else { import }
        .get("allow_trace")
        .and_then(Value::as_bool)
        == Some(true);
    Ok(super::imports::ImportSpec {
        importer: importer.to_string(),
        exporter: exporter.to_string(),
        subject: subject.to_string(),
        service,
        prefix,
        to: local.map(str::to_string),
        multiple_responses,
        expires,
        allow_trace,
    })
}

/// nats-server's start-up checks of the system account in operator mode:
/// the config's must be the operator's, and it must be resolvable.
///
/// # Errors
///
/// As nats-server's messages.
pub fn check_system_account(opts: &TrustOptions) -> Result<(), String> {
    let mut from_operator = None;
    for token in &opts.operators {
        let op: Claims<OperatorNats> = decode(token, "operator")?;
        if let Some(sys) = op.nats.system_account.filter(|s| !s.is_empty()) {
            from_operator = Some(sys);
        }
    }
    if let (Some(config), Some(op)) = (&opts.system_account, &from_operator) {
        if config != op {
            return Err("system_account in config and operator JWT must be identical".into());
        }
    }
    if let Some(sys) = opts.system_account.as_ref().or(from_operator.as_ref()) {
        if !opts.preload.iter().any(|(k, _)| k == sys) {
            return Err("error resolving system account: account missing".into());
        }
    }
    Ok(())
}

/// Why a user is refused when its account revoked it (a re-check closes
/// it with nats-server's `User Authentication Revoked`).
pub const REVOKED: &str = "User authentication revoked";

struct TrustedOperator {
    public: String,
    signing_keys: Vec<String>,
    strict: bool,
}

/// An account from the resolver, checked.
struct AccountEntry {
    account: Arc<Account>,
    claims: Claims<AccountNats>,
    /// Signing key -> its scope template (`None`: an unscoped key).
    signing_keys: HashMap<String, Option<UserNats>>,
    default_permissions: Option<Permissions>,
    /// Why its users are refused, when they are.
    refused: Option<String>,
}

/// The trusted operators and the accounts they vouch for.
pub struct Trust {
    operators: Vec<TrustedOperator>,
    accounts: HashMap<String, AccountEntry>,
}

/// Now, in Unix seconds.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Trust {
    /// Check the operators and the preloaded accounts. An account that
    /// fails its checks is kept as refused (its users get `Authorization
    /// Violation`), with a log line saying why.
    ///
    /// # Errors
    ///
    /// An operator JWT that does not decode, verify, or is expired.
    pub fn new(
        opts: &TrustOptions,
        accounts: &HashMap<String, Arc<Account>>,
    ) -> Result<Self, String> {
        let mut operators = Vec::new();
        for token in &opts.operators {
            let op: Claims<OperatorNats> = decode(token, "operator")?;
            if op.iss != op.sub || !nkey::is_public_key(&op.sub, Kind::Operator) {
                return Err(format!("operator JWT of {:?} is not self-signed", op.sub));
            }
            if let Some(p) = op.time_problem(now()) {
                return Err(format!("operator JWT of {:?} is {p}", op.name));
            }
            operators.push(TrustedOperator {
                public: op.sub,
                signing_keys: op.nats.signing_keys,
                strict: op.nats.strict_signing_key_usage,
            });
        }
        operators.extend(opts.trusted_keys.iter().map(|k| TrustedOperator {
            public: k.clone(),
            signing_keys: Vec::new(),
            strict: false,
        }));
        let mut trust = Trust {
            operators,
            accounts: HashMap::new(),
        };
        for (key, token) in &opts.preload {
            let Some(account) = accounts.get(key) else {
                continue;
            };
            match trust.account_entry(key, token, account.clone()) {
                Ok(entry) => {
                    if let Some(why) = &entry.refused {
                        warn!("Account {key} ({:?}) refused: {why}", entry.claims.name);
                    }
                    trust.accounts.insert(key.clone(), entry);
                }
                Err(e) => warn!("Account {key} in resolver_preload refused: {e}"),
            }
        }
        Ok(trust)
    }

    fn account_entry(
        &self,
        key: &str,
        token: &str,
        account: Arc<Account>,
    ) -> Result<AccountEntry, String> {
        let claims: Claims<AccountNats> = decode(token, "account")?;
        if claims.sub != key {
            return Err(format!("its JWT is for account {}", claims.sub));
        }
        let mut signing_keys = HashMap::new();
        let mut refused = self.issuer_problem(&claims.iss);
        for sk in &claims.nats.signing_keys {
            match sk {
                Value::String(k) => {
                    signing_keys.insert(k.clone(), None);
                }
                Value::Object(o) if o.get("kind").and_then(Value::as_str) == Some("user_scope") => {
                    let k = o.get("key").and_then(Value::as_str).unwrap_or_default();
                    let template = o.get("template").cloned().unwrap_or(Value::Null);
                    match serde_json::from_value::<UserNats>(template) {
                        Ok(t) => {
                            signing_keys.insert(k.to_string(), Some(t));
                        }
                        Err(e) => refused = Some(format!("scoped signing key {k}: {e}")),
                    }
                }
                other => refused = Some(format!("unknown signing key form {other}")),
            }
        }
        refused = refused.or_else(|| account_unsupported(&claims.nats));
        refused = refused.or_else(|| {
            let imports = claims.nats.imports.iter().flatten();
            imports
                .filter_map(|i| activation::invalid_token(key, i))
                .next()
        });
        let default_permissions = claims
            .nats
            .default_permissions
            .as_ref()
            .and_then(user::default_permissions);
        Ok(AccountEntry {
            account,
            claims,
            signing_keys,
            default_permissions,
            refused,
        })
    }

    /// Why `iss` may not sign account JWTs, if it may not.
    fn issuer_problem(&self, iss: &str) -> Option<String> {
        let trusted = self
            .operators
            .iter()
            .any(|o| (o.public == iss && !o.strict) || o.signing_keys.iter().any(|k| k == iss));
        (!trusted).then(|| format!("issuer {iss} is not a trusted operator or signing key"))
    }

    /// Check a CONNECT's user JWT; `nonce` is `None` on a reload's re-check
    /// (the signature was checked when the client connected).
    pub fn authenticate(
        &self,
        c: &Connect,
        nonce: Option<&str>,
        recheck: bool,
        ip: IpAddr,
    ) -> Verdict {
        match self.check(c, nonce, recheck, ip) {
            Ok(accepted) => accepted,
            Err(why) => Verdict::Refused(why),
        }
    }

    fn check(
        &self,
        c: &Connect,
        nonce: Option<&str>,
        recheck: bool,
        ip: IpAddr,
    ) -> Result<Verdict, String> {
        let token = c
            .jwt
            .as_deref()
            .ok_or("Authentication requires a user JWT")?;
        let user: Claims<UserNats> =
            decode(token, "user").map_err(|e| format!("User JWT not valid: {e}"))?;
        if let Some(p) = user.time_problem(now()) {
            return Err(format!("User JWT {p}"));
        }
        let account_key = user.nats.issuer_account.as_deref().unwrap_or(&user.iss);
        let entry = self
            .accounts
            .get(account_key)
            .ok_or_else(|| format!("Account JWT lookup error: unknown account {account_key}"))?;
        if let Some(why) = &entry.refused {
            return Err(format!("account {account_key} refused: {why}"));
        }
        if let Some(p) = entry.claims.time_problem(now()) {
            return Err(format!("Account JWT {p}"));
        }
        let scope = if user.iss == account_key {
            None
        } else {
            entry
                .signing_keys
                .get(&user.iss)
                .ok_or("User JWT issuer is not a signing key of the account")?
                .as_ref()
        };
        if entry.is_revoked(&user.sub, user.iat) {
            return Err(REVOKED.into());
        }
        if user.nats.bearer_token {
            if entry.claims.nats.disallow_bearer || entry.claims.nats.limits.disallow_bearer {
                return Err("User JWT is a bearer token, which the account disallows".into());
            }
        } else if !recheck {
            let sig = c.sig.as_deref().ok_or("Signature missing")?;
            let nonce = nonce.ok_or("no nonce was sent")?;
            if !nkey::verify(&user.sub, nonce.as_bytes(), sig) {
                return Err("Signature not verified".into());
            }
        }
        let granted = scope.unwrap_or(&user.nats);
        if let Some(why) = user::unsupported(granted) {
            warn!("User {} ({:?}) refused: {why}", user.sub, user.name);
            return Err(why);
        }
        if !user::source_allowed(granted, ip) {
            return Err(format!("Bad src Ip {ip}"));
        }
        let permissions = if user::has_permissions(granted) {
            user::permissions(granted)
        } else {
            entry.default_permissions.clone()
        };
        let limit = |n: i64| usize::try_from(n).ok();
        let max_payload = match (
            limit(granted.payload),
            limit(entry.claims.nats.limits.payload),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Verdict::Accepted(
            Identity {
                user: Some(user.sub.clone()),
                permissions: permissions.map(Arc::new),
                account: entry.account.clone(),
                connection_types: (!granted.allowed_connection_types.is_empty()).then(|| {
                    granted
                        .allowed_connection_types
                        .iter()
                        .map(|t| t.to_ascii_uppercase())
                        .collect()
                }),
            },
            UserLimits {
                max_subs: limit(granted.subs),
                max_payload,
                expires_at: user.exp.filter(|&e| e > 0),
            },
        ))
    }
}

impl AccountEntry {
    /// Revoked: the account lists the user (or `*`) at or after the time
    /// its JWT was issued.
    fn is_revoked(&self, user: &str, issued_at: i64) -> bool {
        let revocations = &self.claims.nats.revocations;
        [user, "*"]
            .iter()
            .any(|k| revocations.get(*k).is_some_and(|&t| t >= issued_at))
    }
}

/// Why nats-lite cannot honour this account's claims, if it cannot.
fn account_unsupported(a: &AccountNats) -> Option<String> {
    if a.mappings.as_ref().is_some_and(|m| !m.is_empty()) {
        return Some("subject mappings are not supported".into());
    }
    // Go's encoder writes `"authorization": {}` even when no callout is
    // set; a callout names its auth users.
    let auth_users = a.authorization.as_ref().and_then(|v| v.get("auth_users"));
    if auth_users.is_some_and(|u| u.as_array().is_some_and(|l| !l.is_empty())) {
        return Some("authorization callout is not supported".into());
    }
    let l = &a.limits;
    if l.subs != -1 {
        return Some(format!(
            "an account subscription limit ({}) is not supported",
            l.subs
        ));
    }
    if l.conn != -1 {
        return Some(format!(
            "an account connection limit ({}) is not supported",
            l.conn
        ));
    }
    if l.data != -1 {
        return Some(format!(
            "an account data limit ({}) is not supported",
            l.data
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::claims::tests::encode;
    use super::*;
    use serde_json::json;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    struct Fixture {
        trust: Trust,
        aseed: String,
        apub: String,
        skseed: String,
    }

    fn fixture(account_nats: Value) -> Fixture {
        let (oseed, opub) = nkey::generate(Kind::Operator);
        let (aseed, apub) = nkey::generate(Kind::Account);
        let (skseed, skpub) = nkey::generate(Kind::Account);
        let op = encode(
            &oseed,
            &json!({"iss": opub, "sub": opub, "nats": {"type": "operator", "version": 2}}),
        );
        let mut nats = json!({"type": "account", "version": 2, "signing_keys": [skpub],
            "limits": {"subs": -1, "conn": -1, "data": -1, "payload": -1}});
        for (k, v) in account_nats.as_object().unwrap() {
            nats[k] = v.clone();
        }
        let acc = encode(
            &oseed,
            &json!({"iss": opub, "sub": apub, "iat": 1, "nats": nats}),
        );
        let accounts = HashMap::from([(apub.clone(), Arc::new(Account::new(&apub)))]);
        let opts = TrustOptions {
            operators: vec![op],
            trusted_keys: Vec::new(),
            preload: vec![(apub.clone(), acc)],
            system_account: None,
            url: None,
            dir: None,
        };
        Fixture {
            trust: Trust::new(&opts, &accounts).unwrap(),
            aseed,
            apub,
            skseed,
        }
    }

    fn user_jwt(issuer_seed: &str, account: &str, upub: &str, nats: Value) -> String {
        let iss = nkey::public_of_seed(issuer_seed).unwrap();
        let mut n = json!({"type": "user", "version": 2});
        for (k, v) in nats.as_object().unwrap() {
            n[k] = v.clone();
        }
        if iss != account {
            n["issuer_account"] = account.into();
        }
        encode(
            issuer_seed,
            &json!({"iss": iss, "sub": upub, "iat": 100, "nats": n}),
        )
    }

    fn connect(jwt: String, seed: &str, nonce: &str) -> Connect {
        Connect {
            jwt: Some(jwt),
            sig: Some(nkey::sign(seed, nonce.as_bytes()).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn user_chain_signature_and_revocation() {
        let (useed, upub) = nkey::generate(Kind::User);
        let f = fixture(json!({"revocations": {"UREVOKED": 200}}));
        let ok = |v: Verdict| matches!(v, Verdict::Accepted(..));
        let jwt = user_jwt(
            &f.aseed,
            &f.apub,
            &upub,
            json!({"pub": {"allow": ["a"]}, "subs": 2, "data": -1, "payload": -1}),
        );
        match f
            .trust
            .authenticate(&connect(jwt.clone(), &useed, "n"), Some("n"), false, LOCAL)
        {
            Verdict::Accepted(id, limits) => {
                assert_eq!(id.account.name, f.apub);
                assert!(id.permissions.unwrap().can_publish(b"a"));
                assert_eq!(limits.max_subs, Some(2));
            }
            v => panic!("{v:?}"),
        }
        // Wrong nonce, no signature; a signing key of the account is fine.
        assert!(!ok(f.trust.authenticate(
            &connect(jwt.clone(), &useed, "x"),
            Some("n"),
            false,
            LOCAL
        )));
        let bare = Connect {
            jwt: Some(jwt),
            ..Default::default()
        };
        assert!(!ok(f.trust.authenticate(&bare, Some("n"), false, LOCAL)));
        assert!(ok(f.trust.authenticate(&bare, None, true, LOCAL)));
        let by_sk = user_jwt(&f.skseed, &f.apub, &upub, json!({"data": -1}));
        assert!(ok(f.trust.authenticate(
            &connect(by_sk, &useed, "n"),
            Some("n"),
            false,
            LOCAL
        )));
        // Signed by a key the account does not know.
        let (stranger, _) = nkey::generate(Kind::Account);
        let forged = user_jwt(&stranger, &f.apub, &upub, json!({}));
        assert!(!ok(f.trust.authenticate(
            &connect(forged, &useed, "n"),
            Some("n"),
            false,
            LOCAL
        )));
        // Unsupported claims refuse the user.
        let timed = user_jwt(
            &f.aseed,
            &f.apub,
            &upub,
            json!({"times": [{"start": "00:00:00", "end": "23:00:00"}]}),
        );
        assert!(!ok(f.trust.authenticate(
            &connect(timed, &useed, "n"),
            Some("n"),
            false,
            LOCAL
        )));
    }

    #[test]
    fn refused_accounts_and_untrusted_issuers() {
        let f = fixture(json!({"mappings": {"a": [{"subject": "b", "weight": 100}]}}));
        let (useed, upub) = nkey::generate(Kind::User);
        let jwt = user_jwt(&f.aseed, &f.apub, &upub, json!({}));
        match f
            .trust
            .authenticate(&connect(jwt, &useed, "n"), Some("n"), false, LOCAL)
        {
            Verdict::Refused(why) => assert!(why.contains("mappings"), "{why}"),
            v => panic!("{v:?}"),
        }
        let f = fixture(json!({"limits": {"conn": 5}}));
        assert!(f.trust.accounts.values().all(|a| a.refused.is_some()));
        // What Go's jwt library writes for an account without a callout.
        let f = fixture(json!({"authorization": {}}));
        assert!(f.trust.accounts.values().all(|a| a.refused.is_none()));
        let f = fixture(json!({"authorization": {"auth_users": ["UABC"]}}));
        assert!(f.trust.accounts.values().all(|a| a.refused.is_some()));
    }
}
