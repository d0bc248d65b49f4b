//! Operator mode keys, as nats-server's `opts.go` reads them: `operator`
//! (aliases `operators`, `root`, `roots`, `root_operator`,
//! `root_operators`; one JWT or file, or a list), `resolver` and
//! `resolver_preload`.
//!
//! Only the memory resolver is supported (`resolver: MEMORY` with the
//! accounts in `resolver_preload`); a URL or directory resolver is refused
//! rather than ignored.

use super::error::{ConfError, Pos};
use super::typed::{self, not_supported};
use super::value::{Entry, Value, ValueKind};

/// The operator-mode part of a configuration file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperatorConfig {
    /// Each `operator` value: a JWT, or a file holding one.
    pub operators: Vec<String>,
    /// `resolver: MEMORY` was given.
    pub memory_resolver: bool,
    /// `resolver_preload`: account public key -> account JWT, in file order.
    pub preload: Vec<(String, String)>,
    /// Where `operator` was given (for errors about the combination).
    pub pos: Option<Pos>,
}

/// Read `entry` when it is an operator-mode key; false when it is not one.
pub(crate) fn apply(config: &mut Option<OperatorConfig>, entry: &Entry) -> Result<bool, ConfError> {
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
        "resolver" | "account_resolver" | "accounts_resolver" => {
            let c = config.get_or_insert_with(OperatorConfig::default);
            match &v.kind {
                ValueKind::String(s)
                    if matches!(s.to_ascii_uppercase().as_str(), "MEMORY" | "MEM") =>
                {
                    c.memory_resolver = true
                }
                ValueKind::String(_) => return Err(not_supported(entry, "URL account resolvers")),
                _ => return Err(not_supported(entry, "directory account resolvers")),
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
        let c = config("operators: [a.jwt, b.jwt]").unwrap();
        assert_eq!(c.operator.unwrap().operators.len(), 2);
        assert_eq!(
            config("resolver_preload: { A: nope }").unwrap_err(),
            "o.conf:1:24: invalid account JWT"
        );
        assert!(config("resolver: URL(http://x)")
            .unwrap_err()
            .contains("URL account resolvers"));
        assert!(config("resolver { type: full, dir: x }")
            .unwrap_err()
            .contains("directory account resolvers"));
    }
}
