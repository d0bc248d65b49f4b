//! Client authentication: single user, token, and (with config files)
//! multiple users. Passwords and tokens may be stored as bcrypt hashes
//! (`$2a$`, `$2b$`, `$2x$`, `$2y$`); plain ones are compared in constant time.
//! Credentials never reach a log line: [`redacted_connect`] is what traces show.

use super::Options;
use crate::protocol::info::Connect;

/// Check a CONNECT's credentials. `Some(user)` (the user name when there is
/// one) when they hold, `None` otherwise.
pub fn authenticate(opts: &Options, c: &Connect) -> Option<Option<String>> {
    if let Some(token) = &opts.token {
        let given = c.auth_token.as_deref()?;
        return secret_matches(token, given).then_some(None);
    }
    if let Some(user) = &opts.user {
        let given_user = c.user.as_deref()?;
        let given_pass = c.pass.as_deref().unwrap_or("");
        let user_ok = constant_time_eq(user.as_bytes(), given_user.as_bytes());
        let pass_ok = secret_matches(opts.pass.as_deref().unwrap_or(""), given_pass);
        return (user_ok && pass_ok).then(|| Some(user.clone()));
    }
    Some(None)
}

/// True when `stored` looks like a bcrypt hash.
pub fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

/// Compare a given secret with a stored one (a bcrypt hash or plain text).
/// The hash string itself is never accepted as the password.
pub fn secret_matches(stored: &str, given: &str) -> bool {
    if is_bcrypt(stored) {
        bcrypt::verify(given, stored).unwrap_or(false)
    } else {
        constant_time_eq(stored.as_bytes(), given.as_bytes())
    }
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// The CONNECT as JSON with `pass` and `auth_token` replaced by `[REDACTED]`.
pub fn redacted_connect(c: &Connect) -> String {
    let mut c = c.clone();
    if c.pass.is_some() {
        c.pass = Some("[REDACTED]".into());
    }
    if c.auth_token.is_some() {
        c.auth_token = Some("[REDACTED]".into());
    }
    serde_json::to_string(&c).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(json: &str) -> Connect {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn user_password() {
        let opts = Options {
            user: Some("u".into()),
            pass: Some("p".into()),
            ..Options::default()
        };
        assert_eq!(
            authenticate(&opts, &connect(r#"{"user":"u","pass":"p"}"#)),
            Some(Some("u".into()))
        );
        for bad in [
            r#"{"user":"u","pass":"x"}"#,
            r#"{"user":"x","pass":"p"}"#,
            r#"{"user":"u"}"#,
            r#"{"auth_token":"p"}"#,
            r#"{"user":"u","pass":"p "}"#,
        ] {
            assert_eq!(authenticate(&opts, &connect(bad)), None, "{bad}");
        }
    }

    #[test]
    fn token_plain_and_bcrypt() {
        let opts = Options {
            token: Some("s3cr3t".into()),
            ..Options::default()
        };
        assert!(authenticate(&opts, &connect(r#"{"auth_token":"s3cr3t"}"#)).is_some());
        assert!(authenticate(&opts, &connect(r#"{"auth_token":"s3cr3"}"#)).is_none());
        let hash = bcrypt::hash("T0pS3cr3t", 4).unwrap();
        assert!(secret_matches(&hash, "T0pS3cr3t"));
        assert!(!secret_matches(&hash, &hash));
    }

    #[test]
    fn redaction() {
        let s = redacted_connect(&connect(r#"{"user":"u","pass":"p","auth_token":"t"}"#));
        assert!(!s.contains("\"p\"") && !s.contains("\"t\"") && s.contains("[REDACTED]"));
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"\0"));
    }
}
