//! NATS JWTs: decoding and checking one token (v2, `ed25519-nkey`).
//!
//! A token is `base64url(header).base64url(claims).base64url(signature)`;
//! the signature is the issuer's (`iss`, a public NKey) Ed25519 signature of
//! the first two parts as they appear. The `nats` object of the claims is
//! read into the structs below with unknown keys refused: what nats-lite
//! does not know it cannot enforce, and it must not grant by ignoring.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// The top-level claims of any NATS JWT.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims<T> {
    /// Issuer: the public key that signed the token.
    pub iss: String,
    /// Subject: the public key the token is about.
    pub sub: String,
    /// Name given by its issuer.
    #[serde(default)]
    pub name: String,
    /// Issued at (Unix seconds).
    #[serde(default)]
    pub iat: i64,
    /// Expires at (Unix seconds; absent or 0 never).
    #[serde(default)]
    pub exp: Option<i64>,
    /// Not valid before (Unix seconds).
    #[serde(default)]
    pub nbf: Option<i64>,
    /// The NATS-specific part.
    pub nats: T,
}

/// `nats` of an operator JWT.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorNats {
    /// Keys that may sign account JWTs besides the operator's own.
    pub signing_keys: Vec<String>,
    /// Accounts must be signed by a signing key, not the identity key.
    pub strict_signing_key_usage: bool,
    /// The system account's public key.
    pub system_account: Option<String>,
    /// Informational (an account server for `nsc push`).
    pub account_server_url: Option<String>,
    /// Informational.
    pub operator_service_urls: Option<Vec<String>>,
    /// Informational.
    pub assert_server_version: Option<String>,
    /// Informational.
    pub tags: Option<Vec<String>>,
    /// `operator`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 2.
    pub version: i64,
}

/// `nats` of an account JWT.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountNats {
    /// Limits on the account's users and resources.
    pub limits: AccountLimits,
    /// Keys that may sign the account's user JWTs (a string, or a scoped
    /// key object with a permission template).
    pub signing_keys: Vec<Value>,
    /// User public key (or `*`) -> users issued at or before this time are
    /// revoked.
    pub revocations: HashMap<String, i64>,
    /// Permissions of users whose JWT names none.
    pub default_permissions: Option<PermissionsClaim>,
    /// Subjects other accounts may use (not supported).
    pub exports: Option<Vec<Value>>,
    /// Subjects used from other accounts (not supported).
    pub imports: Option<Vec<Value>>,
    /// Subject mappings (not supported).
    pub mappings: Option<serde_json::Map<String, Value>>,
    /// Auth callout (not supported).
    pub authorization: Option<Value>,
    /// Message tracing by `traceparent`: `{dest, sampling}`.
    pub trace: Option<Value>,
    /// Which account carries its cluster traffic (nothing to do here).
    pub cluster_traffic: Option<Value>,
    /// Users may not connect with bearer tokens.
    pub disallow_bearer: bool,
    /// Informational.
    pub description: Option<String>,
    /// Informational.
    pub info_url: Option<String>,
    /// Informational.
    pub tags: Option<Vec<String>>,
    /// `account`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 2.
    pub version: i64,
}

/// `limits` of an account JWT. Absent numbers are 0, as nats-server 2.9.10
/// reads them (an account JWT without limits admits no connection there);
/// tools write -1 for "no limit".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountLimits {
    /// Subscriptions in the whole account.
    pub subs: i64,
    /// Bytes per second (not supported when set).
    pub data: i64,
    /// Largest message payload.
    pub payload: i64,
    /// Number of imports.
    pub imports: i64,
    /// Number of exports.
    pub exports: i64,
    /// Exports may use wildcards.
    pub wildcards: bool,
    /// Connections of the account.
    pub conn: i64,
    /// Leaf node connections (none here).
    pub leaf: i64,
    /// Users may not connect with bearer tokens.
    pub disallow_bearer: bool,
    /// JetStream limits: nats-lite has no JetStream, so they grant nothing.
    pub mem_storage: Option<i64>,
    /// JetStream.
    pub disk_storage: Option<i64>,
    /// JetStream.
    pub streams: Option<i64>,
    /// JetStream.
    pub consumer: Option<i64>,
    /// JetStream.
    pub max_ack_pending: Option<i64>,
    /// JetStream.
    pub mem_max_stream_bytes: Option<i64>,
    /// JetStream.
    pub disk_max_stream_bytes: Option<i64>,
    /// JetStream.
    pub max_bytes_required: Option<bool>,
    /// JetStream.
    pub tiered_limits: Option<Value>,
}

/// `nats` of a user JWT (and the template of a scoped signing key).
/// Absent limits are 0, as nats-server 2.9.10 reads them (no
/// subscriptions, no payload); tools write -1 for "no limit".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserNats {
    /// Publish allow/deny.
    #[serde(rename = "pub")]
    pub publish: SubjectsClaim,
    /// Subscribe allow/deny.
    #[serde(rename = "sub")]
    pub subscribe: SubjectsClaim,
    /// Replies to requests it received (`allow_responses`).
    pub resp: Option<ResponseClaim>,
    /// Networks the user may connect from (CIDRs).
    pub src: Option<Value>,
    /// Times of day the user may connect (not supported when set).
    pub times: Option<Vec<Value>>,
    /// Time zone of `times`.
    pub times_location: Option<String>,
    /// Locale of `times` (older JWTs).
    pub locale: Option<String>,
    /// Subscriptions of one connection (-1: no limit).
    pub subs: i64,
    /// Bytes per second (not supported when set).
    pub data: i64,
    /// Largest payload (-1: no limit).
    pub payload: i64,
    /// The JWT alone authenticates: no nonce signature.
    pub bearer_token: bool,
    /// Connection types allowed (empty: all).
    pub allowed_connection_types: Vec<String>,
    /// The account, when a signing key of it signed the JWT.
    pub issuer_account: Option<String>,
    /// Informational.
    pub tags: Option<Vec<String>>,
    /// `user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 2.
    pub version: i64,
}

/// `pub`/`sub` permissions default_permissions carries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PermissionsClaim {
    /// Publish allow/deny.
    #[serde(rename = "pub")]
    pub publish: SubjectsClaim,
    /// Subscribe allow/deny.
    #[serde(rename = "sub")]
    pub subscribe: SubjectsClaim,
    /// Replies allowed.
    pub resp: Option<ResponseClaim>,
}

/// Allow and deny lists.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SubjectsClaim {
    /// Subjects allowed (none given: everything not denied).
    pub allow: Vec<String>,
    /// Subjects refused.
    pub deny: Vec<String>,
}

/// `resp`: how many replies, for how long (nanoseconds).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseClaim {
    /// Replies per request.
    pub max: i64,
    /// Nanoseconds after the request.
    pub ttl: i64,
}

/// Decode `token`, check its signature by its issuer and that its `nats`
/// object is of `kind` (`operator`, `account`, `user`), version 2.
///
/// # Errors
///
/// A malformed token, an unsupported algorithm, a bad signature, a wrong
/// kind or a key of `nats` nats-lite does not know.
pub fn decode<T: DeserializeOwned + HasKind>(token: &str, kind: &str) -> Result<Claims<T>, String> {
    let raw = decode_generic(token)?;
    let claims: Claims<T> =
        serde_json::from_value(raw).map_err(|e| format!("{kind} JWT claims: {e}"))?;
    if claims.nats.kind() != kind || claims.nats.version() != 2 {
        return Err(format!(
            "not a v2 {kind} JWT (type {:?}, version {})",
            claims.nats.kind(),
            claims.nats.version()
        ));
    }
    Ok(claims)
}

/// Decode `token` of any kind and check its signature by its issuer: its
/// claims as JSON (nats-server's `DecodeGeneric`).
///
/// # Errors
///
/// A malformed token, an unsupported algorithm or a bad signature.
pub fn decode_generic(token: &str) -> Result<Value, String> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT (three dot-separated parts expected)".into());
    };
    let header: Value = serde_json::from_slice(&b64(h)?).map_err(|e| format!("JWT header: {e}"))?;
    let typ = header["typ"].as_str().unwrap_or("");
    let alg = header["alg"].as_str().unwrap_or("");
    if !typ.eq_ignore_ascii_case("JWT") {
        return Err(format!("JWT header: type {typ:?} is not JWT"));
    }
    if alg != "ed25519-nkey" {
        return Err(format!(
            "JWT header: algorithm {alg:?} is not supported (only v2 ed25519-nkey)"
        ));
    }
    let payload = b64(p)?;
    let raw: Value = serde_json::from_slice(&payload).map_err(|e| format!("JWT claims: {e}"))?;
    let iss = raw["iss"].as_str().unwrap_or("");
    let signing_input = &token[..h.len() + 1 + p.len()];
    if !crate::nkey::verify_raw(iss, signing_input.as_bytes(), &b64(s)?) {
        return Err(format!("JWT signature by {iss:?} not verified"));
    }
    Ok(raw)
}

fn b64(part: &str) -> Result<Vec<u8>, String> {
    crate::nkey::decode_base64(part).ok_or_else(|| "JWT: bad base64".to_string())
}

/// The `type` and `version` of a `nats` object.
pub trait HasKind {
    /// `type`.
    fn kind(&self) -> &str;
    /// `version`.
    fn version(&self) -> i64;
}

macro_rules! has_kind {
    ($t:ty) => {
        impl HasKind for $t {
            fn kind(&self) -> &str {
                &self.kind
            }
            fn version(&self) -> i64 {
                self.version
            }
        }
    };
}
has_kind!(OperatorNats);
has_kind!(AccountNats);
has_kind!(UserNats);

impl<T> Claims<T> {
    /// Why the token is not valid at `now` (Unix seconds), if it is not.
    pub fn time_problem(&self, now: i64) -> Option<&'static str> {
        if self.exp.is_some_and(|e| e > 0 && now >= e) {
            return Some("expired");
        }
        if self.nbf.is_some_and(|n| n > 0 && now < n) {
            return Some("not valid yet");
        }
        None
    }
}

/// An operator JWT given in a config: the token itself, or a file holding
/// it (alone or between `-----BEGIN ... JWT-----` lines).
///
/// # Errors
///
/// The file cannot be read.
pub fn read_jwt_or_file(value: &str, base: &std::path::Path) -> Result<String, String> {
    if value.starts_with("eyJ") {
        return Ok(value.to_string());
    }
    let path = base.join(value);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("error reading operator JWT {}: {e}", path.display()))?;
    let mut lines = text.lines().map(str::trim);
    let found = lines.find(|l| l.starts_with("eyJ"));
    found
        .map(str::to_string)
        .ok_or_else(|| format!("{}: no JWT found", path.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::nkey::{self, Kind};
    use data_encoding::BASE64URL_NOPAD;

    /// Encode claims the way the NATS libraries do (for unit tests only;
    /// the integration tests use tokens from an independent library).
    pub fn encode(seed: &str, claims: &Value) -> String {
        let h = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let p = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
        let input = format!("{h}.{p}");
        let sig = nkey::sign_raw(seed, input.as_bytes()).unwrap();
        format!("{input}.{}", BASE64URL_NOPAD.encode(&sig))
    }

    #[test]
    fn decodes_and_checks_signature_kind_and_fields() {
        let (aseed, apub) = nkey::generate(Kind::Account);
        let (_, upub) = nkey::generate(Kind::User);
        let claims = serde_json::json!({"iss": apub, "sub": upub, "iat": 1, "name": "u",
            "nats": {"type": "user", "version": 2, "pub": {"allow": ["a"]}, "subs": 3}});
        let token = encode(&aseed, &claims);
        let c: Claims<UserNats> = decode(&token, "user").unwrap();
        assert_eq!(c.sub, upub);
        assert_eq!(c.nats.publish.allow, ["a"]);
        assert_eq!((c.nats.subs, c.nats.payload), (3, 0));
        assert!(decode::<AccountNats>(&token, "account").is_err());
        // Tampered claims, another signer, unknown keys, v1 header.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut forged = claims.clone();
        forged["nats"]["subs"] = (-1).into();
        parts[1] = BASE64URL_NOPAD.encode(forged.to_string().as_bytes());
        assert!(decode::<UserNats>(&parts.join("."), "user")
            .unwrap_err()
            .contains("signature"));
        let (other, _) = nkey::generate(Kind::Account);
        assert!(decode::<UserNats>(&encode(&other, &claims), "user").is_err());
        let mut odd = claims.clone();
        odd["nats"]["future_thing"] = true.into();
        assert!(decode::<UserNats>(&encode(&aseed, &odd), "user")
            .unwrap_err()
            .contains("future_thing"));
        assert!(decode::<UserNats>("a.b", "user").is_err());
    }

    #[test]
    fn times() {
        let c = Claims {
            iss: String::new(),
            sub: String::new(),
            name: String::new(),
            iat: 0,
            exp: Some(100),
            nbf: Some(50),
            nats: (),
        };
        assert_eq!(c.time_problem(49), Some("not valid yet"));
        assert_eq!(c.time_problem(50), None);
        assert_eq!(c.time_problem(100), Some("expired"));
    }
}
