//! The directory resolver's store as the claim update service uses it:
//! the checks a pushed account JWT must pass, and the `<ACCOUNT>.jwt`
//! files it writes (atomically), lists, reads and deletes, as
//! nats-server's `DirJWTStore` (not sharded) names them.
//!
//! Checked beyond what nats-server 2.9.10 checks before it writes: the
//! issuer must be a trusted operator or one of its signing keys, and the
//! JWT must not be older (`iat`) than the one held. nats-server writes
//! both and replies "jwt updated" (the account then fails its checks when
//! loaded); nats-lite refuses them, so that a push can never replace a
//! working account with one that is not trusted or is stale.

use std::io;
use std::path::{Path, PathBuf};

use super::claims::{decode, AccountNats, Claims, OperatorNats};
use super::TrustOptions;
use crate::nkey::{self, Kind};

/// What a pushed account JWT is, against the one held.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The very JWT held already: nothing to do.
    Same,
    /// A JWT to write and apply.
    Newer,
}

/// Check `token` (decoded as `claims`) pushed for its account against the
/// trusted operators and the JWT `held` for the account, if any.
///
/// # Errors
///
/// Why it is refused (the text after nats-server's "jwt update resulted in
/// error - ").
pub fn check_push(
    opts: &TrustOptions,
    token: &str,
    claims: &Claims<AccountNats>,
    held: Option<&str>,
) -> Result<Pushed, String> {
    if !nkey::is_public_key(&claims.sub, Kind::Account) {
        return Err(format!("{:?} is not an account public key", claims.sub));
    }
    issuer_check(opts, &claims.iss)?;
    let Some(held) = held else {
        return Ok(Pushed::Newer);
    };
    if held.trim() == token.trim() {
        return Ok(Pushed::Same);
    }
    if let Ok(old) = decode::<AccountNats>(held, "account") {
        if old.iat > claims.iat {
            return Err(format!(
                "the JWT held was issued later (iat {} > {})",
                old.iat, claims.iat
            ));
        }
    }
    Ok(Pushed::Newer)
}

/// The issuer may sign account JWTs: a trusted operator (unless it
/// requires signing keys) or one of their signing keys.
fn issuer_check(opts: &TrustOptions, iss: &str) -> Result<(), String> {
    if opts.trusted_keys.iter().any(|k| k == iss) {
        return Ok(());
    }
    for token in &opts.operators {
        let Ok(op) = decode::<OperatorNats>(token, "operator") else {
            continue;
        };
        if op.nats.signing_keys.iter().any(|k| k == iss) {
            return Ok(());
        }
        if op.sub == iss {
            if op.nats.strict_signing_key_usage {
                return Err("operator requires issuer to be a signing key".into());
            }
            return Ok(());
        }
    }
    Err(format!(
        "issuer {iss} is not a trusted operator or signing key"
    ))
}

/// The file of `key` in `dir`.
pub fn path_of(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.jwt"))
}

/// Write `token` as `key`'s file: a temporary file renamed over it, so that
/// a reader (or a crash) never sees half a JWT.
///
/// # Errors
///
/// The directory cannot be made or written.
pub fn write(dir: &Path, key: &str, token: &str) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let target = path_of(dir, key);
    let temp = dir.join(format!(".{key}.jwt.{}.tmp", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(token.as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, &target)) {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    Ok(())
}

/// `key`'s JWT, if the directory holds one.
pub fn read(dir: &Path, key: &str) -> Option<String> {
    if !nkey::is_public_key(key, Kind::Account) {
        return None;
    }
    std::fs::read_to_string(path_of(dir, key))
        .ok()
        .map(|t| t.trim().to_string())
}

/// The accounts the directory holds, sorted (nats-server's list walks the
/// directory in lexical order): every `<ACCOUNT>.jwt` file named by an
/// account's public key.
///
/// # Errors
///
/// The directory cannot be read.
pub fn list(dir: &Path) -> Result<Vec<String>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("resolver dir {}: {e}", dir.display()))?;
    let mut keys: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let (Some(stem), Some("jwt")) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                return None;
            };
            nkey::is_public_key(stem, Kind::Account).then(|| stem.to_string())
        })
        .collect();
    keys.sort();
    Ok(keys)
}

/// Every account's JWT as its file holds it (untrimmed: a pack's hash is
/// of the bytes), sorted by account; a file that cannot be read is left
/// out with a log line.
///
/// # Errors
///
/// The directory cannot be read.
pub fn files(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut files = Vec::new();
    for key in list(dir)? {
        let path = path_of(dir, &key);
        match std::fs::read_to_string(&path) {
            Ok(jwt) => files.push((key, jwt)),
            Err(e) => crate::warn!("resolver dir: cannot read {}: {e}", path.display()),
        }
    }
    Ok(files)
}

/// Delete `key`'s file: renamed to `<key>.jwt.deleted` (`full`, as
/// nats-server's `RenameDeleted`) or removed (`cache`, or `hard_delete`). A file that is not
/// there is no error.
///
/// # Errors
///
/// The rename or removal failed.
pub fn delete(dir: &Path, key: &str, rename: bool) -> io::Result<()> {
    let path = path_of(dir, key);
    let done = if rename {
        std::fs::rename(&path, dir.join(format!("{key}.jwt.deleted")))
    } else {
        std::fs::remove_file(&path)
    };
    match done {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::super::claims::tests::encode;
    use super::*;
    use serde_json::json;

    fn account(seed: &str, sub: &str, iat: i64) -> String {
        let iss = nkey::public_of_seed(seed).unwrap();
        encode(
            seed,
            &json!({"iss": iss, "sub": sub, "iat": iat,
                    "nats": {"type": "account", "version": 2}}),
        )
    }

    #[test]
    fn pushes_are_checked_against_the_operator_and_the_jwt_held() {
        let (oseed, opub) = nkey::generate(Kind::Operator);
        let (skseed, skpub) = nkey::generate(Kind::Operator);
        let (stranger, _) = nkey::generate(Kind::Operator);
        let (_, apub) = nkey::generate(Kind::Account);
        let op = encode(
            &oseed,
            &json!({"iss": opub, "sub": opub,
                    "nats": {"type": "operator", "version": 2, "signing_keys": [skpub]}}),
        );
        let opts = TrustOptions {
            operators: vec![op],
            ..TrustOptions::default()
        };
        let check = |token: &str, held: Option<&str>| {
            let claims = decode::<AccountNats>(token, "account").unwrap();
            check_push(&opts, token, &claims, held)
        };
        let v1 = account(&skseed, &apub, 100);
        let v2 = account(&oseed, &apub, 200);
        assert_eq!(check(&v1, None), Ok(Pushed::Newer));
        assert_eq!(check(&v2, Some(&v1)), Ok(Pushed::Newer));
        assert_eq!(check(&v1, Some(&v1)), Ok(Pushed::Same));
        assert!(check(&v1, Some(&v2)).unwrap_err().contains("iat 200 > 100"));
        let forged = account(&stranger, &apub, 300);
        assert!(check(&forged, Some(&v1))
            .unwrap_err()
            .contains("not a trusted operator"));
    }

    #[test]
    fn files_are_written_listed_read_and_deleted() {
        let dir = std::env::temp_dir().join(format!("nats-lite-store-{}", std::process::id()));
        let (_, a) = nkey::generate(Kind::Account);
        let (_, b) = nkey::generate(Kind::Account);
        write(&dir, &a, "eyJ.a.1").unwrap();
        write(&dir, &a, "eyJ.a.2").unwrap();
        write(&dir, &b, "eyJ.b.1").unwrap();
        assert_eq!(read(&dir, &a).as_deref(), Some("eyJ.a.2"));
        let mut both = vec![a.clone(), b.clone()];
        both.sort();
        assert_eq!(list(&dir).unwrap(), both);
        delete(&dir, &a, true).unwrap();
        delete(&dir, &b, false).unwrap();
        delete(&dir, &b, false).unwrap();
        assert!(list(&dir).unwrap().is_empty());
        assert!(dir.join(format!("{a}.jwt.deleted")).is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
