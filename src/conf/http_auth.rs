//! The `http_auth` block (a nats-lite extension): credentials the
//! monitoring port requires.
//!
//! ```text
//! http_auth {
//!   token: "s3cr3t"                              # Authorization: Bearer s3cr3t
//!   users: [ { user: ops, password: "$2a$11$..." } ]   # Basic auth (bcrypt or plain)
//!   public_healthz: true                         # /healthz without credentials
//! }
//! ```
//!
//! A token, users, or both; at least one. Off (no block) by default, as in
//! nats-server, whose monitoring port has no authentication.

use super::error::ConfError;
use super::typed::{self, unknown_field};
use super::value::Value;

/// Credentials for the monitoring port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAuth {
    /// A bearer token (plain or a bcrypt hash).
    pub token: Option<String>,
    /// Users for Basic auth: (name, password plain or bcrypt).
    pub users: Vec<(String, String)>,
    /// `/healthz` answers without credentials.
    pub public_healthz: bool,
}

/// Parse an `http_auth` block.
///
/// # Errors
///
/// Not a map, unknown fields, a user without a name or password, or a
/// block that names no credentials at all (it would lock everyone out).
pub(crate) fn parse_http_auth(field: &str, value: &Value) -> Result<HttpAuth, ConfError> {
    let map = typed::map(field, value)?;
    let mut auth = HttpAuth::default();
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "token" => auth.token = Some(typed::string(k, v)?),
            "public_healthz" => auth.public_healthz = typed::boolean(k, v)?,
            "users" => {
                for item in typed::array(k, v)? {
                    let user = item.as_map().ok_or_else(|| {
                        typed::wrong_type("users", "user entries that are maps", item)
                    })?;
                    let (mut name, mut password) = (None, None);
                    for e in user {
                        let (k, v) = (e.key.as_str(), &e.value);
                        match k.to_ascii_lowercase().as_str() {
                            "user" | "username" => name = Some(typed::string(k, v)?),
                            "pass" | "password" => password = Some(typed::string(k, v)?),
                            _ => unknown_field(e)?,
                        }
                    }
                    match (name, password) {
                        (Some(n), Some(p)) if !n.is_empty() && !p.is_empty() => {
                            auth.users.push((n, p))
                        }
                        _ => {
                            return Err(ConfError::at(
                                &item.pos,
                                "http_auth users need a user and a password",
                            ))
                        }
                    }
                }
            }
            _ => unknown_field(entry)?,
        }
    }
    if auth.token.as_deref().is_none_or(str::is_empty) && auth.users.is_empty() {
        return Err(ConfError::at(
            &value.pos,
            "http_auth needs a token or users (an empty block would lock everyone out)",
        ));
    }
    Ok(auth)
}

#[cfg(test)]
mod tests {
    use crate::conf::{parse_str, ServerConfig};

    fn parse(text: &str) -> Result<ServerConfig, String> {
        let map = parse_str(text, std::path::Path::new("test.conf")).map_err(|e| e.to_string())?;
        ServerConfig::from_value(&map)
            .map(|(c, _)| c)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn token_users_and_public_healthz() {
        let c = parse(
            "http_auth { token: t1, users: [{user: ops, password: pw}], public_healthz: true }",
        )
        .unwrap();
        let a = c.http_auth.unwrap();
        assert_eq!(a.token.as_deref(), Some("t1"));
        assert_eq!(a.users, vec![("ops".to_string(), "pw".to_string())]);
        assert!(a.public_healthz);
        assert!(parse("").unwrap().http_auth.is_none());
    }

    #[test]
    fn empty_or_incomplete_blocks_are_errors() {
        assert!(parse("http_auth {}")
            .unwrap_err()
            .contains("token or users"));
        assert!(parse("http_auth { users: [{user: a}] }")
            .unwrap_err()
            .contains("need a user and a password"));
        assert!(parse("http_auth { tokn: x }").is_err());
    }
}
