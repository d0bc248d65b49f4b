//! NKeys: the Ed25519 identities of NATS, shared by the server (which
//! verifies signatures) and the clients (which sign the server's nonce).
//!
//! - Keys are base32 with a CRC16, as nats-io/nkeys encodes them: public
//!   keys start with `U` (user), `A` (account), `O` (operator), `N`
//!   (server); seeds with `S` and the same letter (`SU...`).
//! - A seed file holds one seed, alone or between `-----BEGIN ... SEED-----`
//!   lines; a credentials (`.creds`) file holds a user JWT and its seed in
//!   two such blocks, as `nsc` and the `nats` CLI write them.
//! - Signatures travel as base64url; [`verify`] also accepts padded and
//!   standard base64, as nats-server does.
//!
//! The cryptography is the `nkeys` crate's (the NATS ecosystem's Rust
//! implementation, over `ed25519-dalek`).

use std::path::Path;

use data_encoding::{BASE64, BASE64URL, BASE64URL_NOPAD, BASE64_NOPAD};
use nkeys::KeyPair;

/// The kinds of keys `nkey gen` makes and configs name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `U...`: a user, who connects.
    User,
    /// `A...`: an account, which issues user JWTs.
    Account,
    /// `O...`: an operator, which issues account JWTs.
    Operator,
}

impl Kind {
    /// The first letter of a public key of this kind.
    pub fn prefix(self) -> char {
        match self {
            Kind::User => 'U',
            Kind::Account => 'A',
            Kind::Operator => 'O',
        }
    }

    /// The kind's name, as `nk -gen` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Account => "account",
            Kind::Operator => "operator",
        }
    }
}

/// A new key pair of `kind`: (seed, public key).
pub fn generate(kind: Kind) -> (String, String) {
    let kp = match kind {
        Kind::User => KeyPair::new_user(),
        Kind::Account => KeyPair::new_account(),
        Kind::Operator => KeyPair::new_operator(),
    };
    (kp.seed().unwrap_or_default(), kp.public_key())
}

/// True when `key` is a well-formed public key of `kind` (letter and CRC).
pub fn is_public_key(key: &str, kind: Kind) -> bool {
    key.starts_with(kind.prefix()) && nkeys::from_public_key(key).is_ok()
}

/// The public key of a seed.
///
/// # Errors
///
/// The seed is malformed.
pub fn public_of_seed(seed: &str) -> Result<String, String> {
    KeyPair::from_seed(seed.trim())
        .map(|kp| kp.public_key())
        .map_err(|e| format!("invalid nkey seed: {e}"))
}

/// Sign `data` with a seed; the signature as unpadded base64url, as the
/// NATS clients send it in CONNECT `sig`.
///
/// # Errors
///
/// The seed is malformed.
pub fn sign(seed: &str, data: &[u8]) -> Result<String, String> {
    sign_raw(seed, data).map(|sig| BASE64URL_NOPAD.encode(&sig))
}

/// Sign `data` with a seed: the 64 signature bytes.
///
/// # Errors
///
/// The seed is malformed.
pub fn sign_raw(seed: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    let kp = KeyPair::from_seed(seed.trim()).map_err(|e| format!("invalid nkey seed: {e}"))?;
    kp.sign(data).map_err(|e| e.to_string())
}

/// Decode base64 in any of the forms clients use: url or standard
/// alphabet, with or without padding.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    [&BASE64URL_NOPAD, &BASE64URL, &BASE64, &BASE64_NOPAD]
        .iter()
        .find_map(|enc| enc.decode(b).ok())
}

/// True when `sig` (base64, see [`decode_base64`]) is `public`'s Ed25519
/// signature of `data`.
pub fn verify(public: &str, data: &[u8], sig: &str) -> bool {
    let Some(sig) = decode_base64(sig) else {
        return false;
    };
    verify_raw(public, data, &sig)
}

/// True when `sig` (64 bytes) is `public`'s Ed25519 signature of `data`.
pub fn verify_raw(public: &str, data: &[u8], sig: &[u8]) -> bool {
    KeyPair::from_public_key(public).is_ok_and(|kp| kp.verify(data, sig).is_ok())
}

/// What a credentials or seed file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    /// The user JWT (`None` for a bare seed file).
    pub jwt: Option<String>,
    /// The user's seed.
    pub seed: String,
}

/// Read a `.creds` file (a JWT block then a seed block) or a seed file (a
/// bare seed, or one seed block).
///
/// # Errors
///
/// The text holds no seed.
pub fn parse_creds(text: &str) -> Result<Creds, String> {
    let blocks = decorated_blocks(text);
    let (jwt, seed) = match blocks.as_slice() {
        [] => (None, bare_seed(text)),
        [one] if one.starts_with('S') => (None, Some(one.clone())),
        [jwt, seed, ..] => (Some(jwt.clone()), Some(seed.clone())),
        [_] => (None, None),
    };
    let seed = seed
        .filter(|s| s.starts_with('S'))
        .ok_or("no nkey seed found")?;
    Ok(Creds { jwt, seed })
}

/// The contents of `-----BEGIN X-----` ... `------END X------` blocks.
fn decorated_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("---") && line.contains("BEGIN") {
            if let Some(body) = lines.next().filter(|l| !l.starts_with("---")) {
                blocks.push(body.to_string());
            }
        }
    }
    blocks
}

fn bare_seed(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with('S') && l.len() > 2)
        .map(str::to_string)
}

/// Read and parse a credentials or seed file; the second value is a
/// warning when others than the owner may read it.
///
/// # Errors
///
/// The file cannot be read or holds no seed.
pub fn read_creds_file(path: &Path) -> Result<(Creds, Option<String>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let creds = parse_creds(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((creds, permission_warning(path)))
}

/// A warning when a secret file may be read by its group or others (unix
/// modes), as the nats CLI gives one.
pub fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o077 != 0).then(|| {
            format!(
                "WARNING: {} is readable by others than its owner (mode {:o}); \
                 restrict it with chmod 0600",
                path.display(),
                mode & 0o777
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// A credentials file as `nsc` writes it.
pub fn format_creds(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_their_kind_and_sign() {
        for kind in [Kind::User, Kind::Account, Kind::Operator] {
            let (seed, public) = generate(kind);
            assert!(seed.starts_with(&format!("S{}", kind.prefix())), "{seed}");
            assert!(is_public_key(&public, kind));
            assert_eq!(public_of_seed(&seed).unwrap(), public);
            let sig = sign(&seed, b"nonce").unwrap();
            assert!(verify(&public, b"nonce", &sig));
            assert!(!verify(&public, b"other", &sig));
        }
        let (_, user) = generate(Kind::User);
        assert!(!is_public_key(&user, Kind::Account));
        let mut bad = user.clone();
        bad.replace_range(10..11, if &user[10..11] == "A" { "B" } else { "A" });
        assert!(!is_public_key(&bad, Kind::User));
    }

    #[test]
    fn signatures_in_every_base64_form() {
        let (seed, public) = generate(Kind::User);
        let raw = sign_raw(&seed, b"n0nce").unwrap();
        for enc in [&BASE64URL_NOPAD, &BASE64URL, &BASE64, &BASE64_NOPAD] {
            assert!(verify(&public, b"n0nce", &enc.encode(&raw)));
        }
        assert!(!verify(&public, b"n0nce", "not base64!"));
        assert!(!verify(&public, b"n0nce", ""));
    }

    #[test]
    fn creds_and_seed_files() {
        let (seed, _) = generate(Kind::User);
        let creds = parse_creds(&format_creds("eyJ.a.b", &seed)).unwrap();
        assert_eq!(creds.jwt.as_deref(), Some("eyJ.a.b"));
        assert_eq!(creds.seed, seed);
        let bare = parse_creds(&format!("{seed}\n")).unwrap();
        assert_eq!((bare.jwt, bare.seed), (None, seed.clone()));
        let block =
            format!("-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n");
        assert_eq!(parse_creds(&block).unwrap().seed, seed);
        assert!(parse_creds("nothing here").is_err());
    }
}
