//! Operator mode keys, as nats-server's `opts.go` reads them: `operator`
//! (aliases `operators`, `root`, `roots`, `root_operator`,
//! `root_operators`; one JWT or file, or a list), `trusted` /
//! `trusted_keys` (operator public keys instead of JWTs), `resolver` and
//! `resolver_preload`.
//!
//! Resolvers: `resolver: MEMORY` (the accounts in `resolver_preload`), the
//! directory resolver `resolver { type: full|cache, dir: DIR }`, whose
//! `<ACCOUNT>.jwt` files are read at start and on reload and written by the
//! claim update service (`nsc push`; `allow_delete` lets it delete, and
//! `hard_delete` remove rather than rename), and the
//! URL resolver `resolver: URL("http://host:port/jwt/v1/accounts/")`,
//! which fetches an account's JWT from `<url><account>` when a user of it
//! first connects.

use super::error::{ConfError, Pos, Warning};
use super::typed::{self, not_supported};
use super::value::{Entry, Value, ValueKind};

/// The operator-mode part of a configuration file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperatorConfig {
    /// Each `operator` value: a JWT, or a file holding one.
    pub operators: Vec<String>,
    /// `trusted`/`trusted_keys`: operator public keys trusted without a JWT.
    pub trusted_keys: Vec<String>,
    /// `resolver: MEMORY` was given.
    pub memory_resolver: bool,
    /// `resolver { type: full|cache, dir: DIR }`: the directory.
    pub resolver_dir: Option<std::path::PathBuf>,
    /// The directory resolver is of `type: cache` (not `full`).
    pub resolver_cache: bool,
    /// The directory resolver's `allow_delete`.
    pub resolver_allow_delete: bool,
    /// The directory resolver's `hard_delete`: a deleted account's file is
    /// removed rather than renamed to `<ACCOUNT>.jwt.deleted`.
    pub resolver_hard_delete: bool,
    /// `resolver: URL(...)`: the base URL account keys are appended to.
    pub resolver_url: Option<String>,
    /// `resolver_preload`: account public key -> account JWT, in file order.
    pub preload: Vec<(String, String)>,
    /// Where `operator` was given (for errors about the combination).
    pub pos: Option<Pos>,
}

/// Read `entry` when it is an operator-mode key; false when it is not one.
pub(crate) fn apply(
    config: &mut Option<OperatorConfig>,
    entry: &Entry,
    warnings: &mut Vec<Warning>,
) -> Result<bool, ConfError> {
    let (k, v) = (entry.key.as_str(), &entry.value);
    match k.to_ascii_lowercase().as_str() {
        "operator" | "operators" | "root" | "roots" | "root_operator" | "root_operators" => {
            let c = config.get_or_insert_with(OperatorConfig::default);
            match &v.kind {
                ValueKind::Array(_) => c.operators.extend(typed::string_list(k, v)?),
                _ => c.operators.push(typed::string(k, v)?),
            }
            c.pos = Some(v.pos.clone());
        }
        "trusted" | "trusted_keys" => {
            let c = config.get_or_insert_with(OperatorConfig::default);
            let keys = match &v.kind {
                ValueKind::Array(_) => typed::string_list(k, v)?,
                _ => vec![typed::string(k, v)?],
            };
            for key in keys {
                if !crate::nkey::is_public_key(&key, crate::nkey::Kind::Operator) {
                    return Err(ConfError::at(
                        &v.pos,
                        format!("trust key \"{key}\" required to be a valid public operator nkey"),
                    ));
                }
                c.trusted_keys.push(key);
            }
            c.pos.get_or_insert_with(|| v.pos.clone());
        }
        "resolver" | "account_resolver" | "accounts_resolver" => {
            let c = config.get_or_insert_with(OperatorConfig::default);
            match &v.kind {
                ValueKind::String(s)
                    if matches!(s.to_ascii_uppercase().as_str(), "MEMORY" | "MEM") =>
                {
                    c.memory_resolver = true
                }
                ValueKind::String(s) => match resolver_url(s) {
                    Some(url) => c.resolver_url = Some(url),
                    None => return Err(not_supported(entry, "this account resolver")),
                },
                ValueKind::Map(_) => resolver_dir(c, k, v, warnings)?,
                _ => return Err(typed::wrong_type(k, "MEMORY or a resolver block", v)),
            }
        }
        "resolver_preload" => {
            let c = config.get_or_insert_with(OperatorConfig::default);
            for e in typed::map(k, v)? {
                c.preload
                    .push((e.key.clone(), preload_jwt(&e.key, &e.value)?));
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The URL of `URL(http://...)` or `URL("http://...")`, as nats-server's
/// pattern reads it (case-insensitive `URL`, optional quotes and spaces).
pub fn resolver_url(text: &str) -> Option<String> {
    let t = text.trim();
    if !t.get(..4)?.eq_ignore_ascii_case("URL(") || !t.ends_with(')') {
        return None;
    }
    let url = t[4..t.len() - 1].trim().trim_matches('"').trim();
    let lower = url.to_ascii_lowercase();
    // As nats-server's NewURLAccResolver: account keys follow a `/`.
    let url = if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    };
    (lower.starts_with("http://") || lower.starts_with("https://")).then_some(url)
}

/// `resolver { type: full|cache, dir: DIR, allow_delete: BOOL, ... }`.
fn resolver_dir(
    c: &mut OperatorConfig,
    field: &str,
    v: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfError> {
    let mut dir = None;
    for e in typed::map(field, v)? {
        let (k, v) = (e.key.as_str(), &e.value);
        match k.to_ascii_lowercase().as_str() {
            "type" => {
                let t = typed::string(k, v)?.to_ascii_lowercase();
                if !matches!(t.as_str(), "full" | "cache") {
                    return Err(ConfError::at(
                        &v.pos,
                        format!("resolver type {t:?}: expected full or cache"),
                    ));
                }
                c.resolver_cache = t == "cache";
            }
            "dir" => dir = Some(std::path::PathBuf::from(typed::string(k, v)?)),
            "allow_delete" => c.resolver_allow_delete = typed::boolean(k, v)?,
            "hard_delete" => c.resolver_hard_delete = typed::boolean(k, v)?,
            // How nats-server syncs directories between servers, fetches
            // unknown accounts from them, and bounds and expires a cache:
            // not built, so said rather than silently dropped.
            "interval" | "limit" | "ttl" | "timeout" => typed::ignored(e, warnings),
            _ => typed::unknown_field(e)?,
        }
    }
    c.resolver_dir = Some(dir.ok_or_else(|| ConfError::at(&v.pos, "resolver: dir is required"))?);
    // As nats-server 2.10, which added `hard_delete`.
    if c.resolver_hard_delete && c.resolver_cache {
        return Err(ConfError::at(&v.pos, "CACHE does not accept hard_delete"));
    }
    if c.resolver_hard_delete && !c.resolver_allow_delete {
        return Err(ConfError::at(
            &v.pos,
            "hard_delete has no effect without delete",
        ));
    }
    Ok(())
}

fn preload_jwt(key: &str, v: &Value) -> Result<String, ConfError> {
    let jwt = typed::string(key, v)?;
    // As nats-server: the JWT must at least look like one at parse time.
    if jwt.split('.').count() != 3 || !jwt.starts_with("eyJ") {
        return Err(ConfError::at(&v.pos, "invalid account JWT"));
    }
    Ok(jwt)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::conf::{parse_str, ServerConfig};

    fn config(text: &str) -> Result<ServerConfig, String> {
        let map = parse_str(text, Path::new("o.conf")).map_err(|e| e.to_string())?;
        ServerConfig::from_value(&map)
            .map(|(c, _)| c)
            .map_err(|e| e.to_string())
    }

    /// What `nsc generate config --nats-resolver` writes: the sync
    /// interval and the lookup timeout between servers are not built, and
    /// each says so.
    #[test]
    fn resolver_options_not_built_are_warned_about() {
        let text = "resolver {\n type: full\n dir: './jwt'\n allow_delete: false\n \
                    interval: \"2m\"\n timeout: \"1.9s\"\n}";
        let map = parse_str(text, Path::new("o.conf")).unwrap();
        let (_, w) = ServerConfig::from_value(&map).unwrap();
        let w: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            [
                "o.conf:5:2: 'interval' is not supported by nats-lite and is ignored",
                "o.conf:6:2: 'timeout' is not supported by nats-lite and is ignored"
            ]
        );
    }

    #[test]
    fn operator_resolver_and_preload() {
        let c = config(
            "operator: ./op.jwt\nresolver: MEMORY\nresolver_preload: {\n  AAA: eyJ.x.y\n  AB: \"eyJ.z.w\"\n}",
        )
        .unwrap();
        let o = c.operator.unwrap();
        assert_eq!(o.operators, ["./op.jwt"]);
        assert!(o.memory_resolver);
        assert_eq!(
            o.preload,
            [
                ("AAA".into(), "eyJ.x.y".into()),
                ("AB".into(), "eyJ.z.w".into())
            ]
        );
        let key = crate::nkey::generate(crate::nkey::Kind::Operator).1;
        let c = config(&format!("trusted: [ {key} ]")).unwrap();
        assert_eq!(c.operator.unwrap().trusted_keys, [key]);
        assert_eq!(
            config("trusted: [ BAD ]").unwrap_err(),
            "o.conf:1:10: trust key \"BAD\" required to be a valid public operator nkey"
        );
        let c = config("operators: [a.jwt, b.jwt]").unwrap();
        assert_eq!(c.operator.unwrap().operators.len(), 2);
        assert_eq!(
            config("resolver_preload: { A: nope }").unwrap_err(),
            "o.conf:1:24: invalid account JWT"
        );
        let c = config("resolver: URL(http://x/accounts)").unwrap();
        assert_eq!(
            c.operator.unwrap().resolver_url.as_deref(),
            Some("http://x/accounts/")
        );
        let c = config("resolver: \"URL(\\\"https://x/a/\\\")\"").unwrap();
        assert_eq!(
            c.operator.unwrap().resolver_url.as_deref(),
            Some("https://x/a/")
        );
        assert!(config("resolver: URL(ftp://x)").is_err());
        assert!(config("resolver: SOMETHING").is_err());
        let c = config("resolver { type: full, dir: x, allow_delete: false }").unwrap();
        let o = c.operator.unwrap();
        assert_eq!(o.resolver_dir, Some("x".into()));
        assert!(!o.resolver_cache && !o.resolver_allow_delete);
        let c = config("resolver { type: CACHE, dir: x, allow_delete: true }").unwrap();
        let o = c.operator.unwrap();
        assert!(o.resolver_cache && o.resolver_allow_delete);
        assert!(config("resolver { type: full, dir: x, allow_delete: 3 }").is_err());
        let c = config("resolver { type: full, dir: x, allow_delete: true, hard_delete: true }");
        assert!(c.unwrap().operator.unwrap().resolver_hard_delete);
        let e = config("resolver { type: full, dir: x, hard_delete: true }").unwrap_err();
        assert!(
            e.contains("hard_delete has no effect without delete"),
            "{e}"
        );
        let e = config("resolver { type: cache, dir: x, hard_delete: true }").unwrap_err();
        assert!(e.contains("CACHE does not accept hard_delete"), "{e}");
        assert!(config("resolver { type: url, dir: x }").is_err());
        assert!(config("resolver { type: full }")
            .unwrap_err()
            .contains("dir is required"));
    }
}
