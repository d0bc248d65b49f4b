//! Activation tokens: the JWT an exporting account gives an importing
//! account for a private export (`token_req: true`), carried in the
//! import's `token`. Checked in two steps, as nats-server 2.9 checks them:
//!
//! - With the importing account's JWT (jwt's `Import.Validate`): a token
//!   that does not decode or verify, names another exporter, was issued to
//!   another account, is for another type or for a subject that does not
//!   cover the import's makes the whole importing account invalid
//!   ([`invalid_token`]; its users are refused).
//! - When the import is set up (the server's `checkActivation`): a token
//!   signed by a key that is not the exporter's own or one of its signing
//!   keys, or outside its validity window, leaves that import out
//!   ([`check`]); so does a private export imported without a token.

use serde::Deserialize;
use serde_json::Value;

use super::claims::{decode, AccountNats, Claims, HasKind};

/// The `nats` part of an activation JWT.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ActivationNats {
    /// The subject (possibly a wildcard) the token activates.
    pub subject: String,
    /// `service` or `stream` (JSON `kind`).
    #[serde(rename = "kind")]
    pub import_type: String,
    /// The exporting account, when a signing key of it signed the token.
    pub issuer_account: Option<String>,
    /// Optional tags.
    pub tags: Option<Vec<String>>,
    /// `activation` (JSON `type`, as in the other claims).
    #[serde(rename = "type")]
    pub kind: String,
    /// 2.
    pub version: i64,
}

impl HasKind for ActivationNats {
    fn kind(&self) -> &str {
        &self.kind
    }
    fn version(&self) -> i64 {
        self.version
    }
}

/// Why `import` (of the account `importer`'s JWT) makes that account
/// invalid, if its token does (see the module doc).
pub fn invalid_token(importer: &str, import: &Value) -> Option<String> {
    let field = |k: &str| import.get(k).and_then(Value::as_str).unwrap_or_default();
    let token = field("token");
    if token.is_empty() {
        return None;
    }
    let subject = field("subject");
    let act: Claims<ActivationNats> = match decode(token, "activation") {
        Ok(act) => act,
        Err(e) => {
            return Some(format!(
                "import {subject:?} contains an invalid activation token: {e}"
            ))
        }
    };
    let exporter = field("account");
    if act.iss != exporter && act.nats.issuer_account.as_deref() != Some(exporter) {
        return Some(format!(
            "activation token doesn't match account for import {subject:?}"
        ));
    }
    if act.sub != importer {
        return Some(format!(
            "activation token doesn't match account it is being included in, {subject:?}"
        ));
    }
    if act.nats.import_type != field("type") {
        return Some(format!(
            "mismatch between token import type {} and type of import {}",
            act.nats.import_type,
            field("type")
        ));
    }
    let covered = match (field("type"), field("to")) {
        ("service", to) if !to.is_empty() => to,
        _ => subject,
    };
    if !crate::conf::covers(&act.nats.subject, covered) {
        return Some(format!(
            "activation token import subject {:?} doesn't match import {subject:?}",
            act.nats.subject
        ));
    }
    None
}

/// Check `token` when the import of the exporter's private export is set
/// up (the account-level checks of [`invalid_token`] passed); returns when
/// the activation expires (Unix seconds), if it does.
///
/// # Errors
///
/// Why the token does not activate the import.
pub fn check(
    token: &str,
    exporter: &str,
    exporter_claims: &Claims<AccountNats>,
) -> Result<Option<i64>, String> {
    let act: Claims<ActivationNats> = decode(token, "activation")?;
    match act.nats.issuer_account.as_deref().filter(|s| !s.is_empty()) {
        None if act.iss != exporter => {
            return Err(format!("issued by {}, not by the exporter", act.iss));
        }
        Some(acc) if acc != exporter => {
            return Err(format!("issuer_account {acc} is not the exporter"));
        }
        Some(_) if !is_signing_key(exporter_claims, &act.iss) => {
            return Err(format!(
                "signed by {}, not a signing key of the exporter",
                act.iss
            ));
        }
        _ => {}
    }
    if let Some(problem) = act.time_problem(super::now()) {
        return Err(problem.to_string());
    }
    Ok(act.exp.filter(|&e| e > 0))
}

/// `key` is one of the account's signing keys (plain or scoped).
fn is_signing_key(account: &Claims<AccountNats>, key: &str) -> bool {
    account.nats.signing_keys.iter().any(|sk| match sk {
        Value::String(k) => k == key,
        Value::Object(o) => o.get("key").and_then(Value::as_str) == Some(key),
        _ => false,
    })
}
