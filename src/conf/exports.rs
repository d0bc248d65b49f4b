//! Account `exports` and `imports` (streams and services), as
//! nats-server's `parseAccountExports`/`parseAccountImports` read them.
//!
//! ```text
//! A: { exports: [ {stream: "e.>"}, {service: "svc.>", accounts: [B]} ] }
//! B: { imports: [ {stream: {account: A, subject: "e.>"}, prefix: from_a},
//!                 {service: {account: A, subject: "svc.time"}, to: time} ] }
//! ```
//!
//! An import that no export of the other account allows is an error, as in
//! nats-server (`stream import not authorized`). What nats-lite cannot do
//! (latency tracking, token-required exports, `to` mappings with
//! wildcards) is refused.

use super::error::{ConfError, Pos};
use super::typed::{self, not_supported, unknown_field};
use super::value::Value;
use crate::protocol::subject::{is_literal, is_valid_subject};

/// One export.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// Subject (wildcards allowed).
    pub subject: String,
    /// A service (requests), else a stream (messages).
    pub service: bool,
    /// Only these accounts may import it (`None`: every account).
    pub accounts: Option<Vec<String>>,
    /// A service's responses: more than one per request (`Stream`,
    /// `Chunked`) rather than one (`Singleton`, the default).
    pub multiple_responses: bool,
    /// Message traces go on into the importing account (`allow_trace`).
    pub allow_trace: bool,
    /// Where it is defined.
    pub pos: Pos,
}

/// One import.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The exporting account.
    pub account: String,
    /// The subject in the exporting account.
    pub subject: String,
    /// A service import, else a stream import.
    pub service: bool,
    /// A stream's subjects arrive as `<prefix>.<subject>`.
    pub prefix: Option<String>,
    /// A service is requested on this subject in the importing account
    /// (a literal subject replacing the exported one).
    pub to: Option<String>,
    /// Message traces go on into this account (`allow_trace`, streams).
    pub allow_trace: bool,
    /// Where it is defined.
    pub pos: Pos,
}

/// Parse an `exports` array.
pub(crate) fn parse_exports(field: &str, value: &Value) -> Result<Vec<Export>, ConfError> {
    let mut exports = Vec::new();
    for item in typed::array(field, value)? {
        let map = item
            .as_map()
            .ok_or_else(|| typed::wrong_type(field, "export entries that are maps", item))?;
        let mut subject = None;
        let mut service = false;
        let mut accounts = None;
        let mut multiple_responses = false;
        let mut allow_trace = false;
        for e in map {
            let (k, v) = (e.key.as_str(), &e.value);
            match k.to_ascii_lowercase().as_str() {
                "stream" => subject = Some(typed::string(k, v)?),
                "service" => {
                    subject = Some(typed::string(k, v)?);
                    service = true;
                }
                "accounts" => accounts = Some(typed::string_list(k, v)?),
                "response" | "response_type" => {
                    let t = typed::string(k, v)?;
                    multiple_responses = match t.to_ascii_lowercase().as_str() {
                        "singleton" => false,
                        "stream" | "chunked" => true,
                        _ => {
                            return Err(ConfError::at(
                                &v.pos,
                                format!("unknown response type: {t:?}"),
                            ))
                        }
                    };
                }
                "allow_trace" => allow_trace = typed::boolean(k, v)?,
                "threshold" | "response_threshold" | "description" | "info_url" => {}
                "latency" => return Err(not_supported(e, "service latency tracking")),
                "account_token_position" | "token_req" => {
                    return Err(not_supported(e, "token-required exports"))
                }
                _ => unknown_field(e)?,
            }
        }
        let subject = subject
            .filter(|s| is_valid_subject(s.as_bytes()))
            .ok_or_else(|| {
                ConfError::at(&item.pos, "Expected a valid stream or service subject")
            })?;
        exports.push(Export {
            subject,
            service,
            accounts,
            multiple_responses,
            allow_trace,
            pos: item.pos.clone(),
        });
    }
    Ok(exports)
}

/// Parse an `imports` array.
pub(crate) fn parse_imports(field: &str, value: &Value) -> Result<Vec<Import>, ConfError> {
    let mut imports = Vec::new();
    for item in typed::array(field, value)? {
        let map = item
            .as_map()
            .ok_or_else(|| typed::wrong_type(field, "import entries that are maps", item))?;
        let mut source = None;
        let mut service = false;
        let mut prefix = None;
        let mut to = None;
        let mut allow_trace = false;
        for e in map {
            let (k, v) = (e.key.as_str(), &e.value);
            match k.to_ascii_lowercase().as_str() {
                "stream" | "service" => {
                    service = k.eq_ignore_ascii_case("service");
                    let mut account = None;
                    let mut subject = None;
                    for f in typed::map(k, v)? {
                        match f.key.to_ascii_lowercase().as_str() {
                            "account" => account = Some(typed::string(&f.key, &f.value)?),
                            "subject" => subject = Some(typed::string(&f.key, &f.value)?),
                            _ => unknown_field(f)?,
                        }
                    }
                    let (Some(a), Some(s)) = (account, subject) else {
                        return Err(ConfError::at(
                            &v.pos,
                            format!("{k} import needs an account and a subject"),
                        ));
                    };
                    source = Some((a, s));
                }
                "prefix" => prefix = Some(typed::string(k, v)?),
                "to" => to = Some(typed::string(k, v)?),
                "allow_trace" => allow_trace = typed::boolean(k, v)?,
                "share" => {}
                _ => unknown_field(e)?,
            }
        }
        let Some((account, subject)) = source else {
            return Err(ConfError::at(
                &item.pos,
                "import needs a stream or a service",
            ));
        };
        if !is_valid_subject(subject.as_bytes()) {
            return Err(ConfError::at(
                &item.pos,
                format!("invalid import subject {subject:?}"),
            ));
        }
        // A stream's `to` with a wildcard subject is a prefix (nats-server's
        // legacy form); a literal stream or service subject is replaced.
        let (prefix, to) = match (service, to, is_literal(subject.as_bytes())) {
            (false, Some(t), false) => (prefix.or(Some(t)), None),
            (_, Some(t), true) if is_literal(t.as_bytes()) => (prefix, Some(t)),
            (_, Some(_), _) => {
                return Err(ConfError::at(
                    &item.pos,
                    "an import 'to' mapping with wildcards is not supported by nats-lite",
                ))
            }
            (_, None, _) => (prefix, None),
        };
        if service && prefix.is_some() {
            return Err(ConfError::at(
                &item.pos,
                "a service import takes 'to', not 'prefix'",
            ));
        }
        imports.push(Import {
            account,
            subject,
            service,
            prefix,
            to,
            allow_trace,
            pos: item.pos.clone(),
        });
    }
    Ok(imports)
}

/// True when every subject `import` can match, `export` matches too (an
/// import is allowed by an export that covers it).
pub fn covers(export: &str, import: &str) -> bool {
    let e: Vec<&str> = export.split('.').collect();
    let i: Vec<&str> = import.split('.').collect();
    for (n, et) in e.iter().enumerate() {
        match (*et, i.get(n)) {
            (">", Some(_)) => return true,
            (_, None) => return false,
            ("*", Some(&">")) => return false,
            ("*", Some(_)) => {}
            (lit, Some(it)) if lit == *it => {}
            _ => return false,
        }
    }
    e.len() == i.len()
}

/// Every import must name an account and a subject that account exports
/// to it (nats-server: `Error adding stream import "x": stream import not
/// authorized`).
pub(crate) fn check_imports(accounts: &[super::auth::Account]) -> Result<(), ConfError> {
    for importer in accounts {
        for imp in &importer.imports {
            let kind = if imp.service { "service" } else { "stream" };
            let authorized = accounts
                .iter()
                .find(|a| a.name == imp.account)
                .is_some_and(|a| {
                    a.exports.iter().any(|x| {
                        x.service == imp.service
                            && covers(&x.subject, &imp.subject)
                            && x.accounts
                                .as_ref()
                                .is_none_or(|l| l.contains(&importer.name))
                    })
                });
            if !authorized {
                return Err(ConfError::at(
                    &imp.pos,
                    format!(
                        "Error adding {kind} import \"{}\": {kind} import not authorized",
                        imp.subject
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_covers_import() {
        assert!(covers("e.>", "e.x"));
        assert!(covers("e.>", "e.>"));
        assert!(covers("e.*", "e.x"));
        assert!(covers("e.*", "e.*"));
        assert!(!covers("e.*", "e.>"));
        assert!(!covers("e.x", "e.*"));
        assert!(!covers("e.*", "e.x.y"));
        assert!(covers(">", "a.b"));
        assert!(!covers("e.x", "f.x"));
    }
}
