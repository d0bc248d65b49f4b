//! Who may read the monitoring port when `http_auth` is configured: a
//! bearer token (`Authorization: Bearer TOKEN`), or Basic auth as one of
//! its users (or any user name with the token as password, so a browser's
//! login prompt works with a token too). `/healthz` may be left open for
//! liveness probes (`public_healthz`).
//!
//! Passwords and tokens may be bcrypt hashes. A bcrypt check costs about
//! 100 ms of CPU, which a dashboard polling every second would pay per
//! request; so a successful check is remembered as a SHA-256 of the stored
//! hash and the given secret (never the secret itself), in a small bounded
//! set, and the same credentials are then accepted without bcrypt. A
//! changed configuration changes the stored hash, so old entries no longer
//! match anything.

use std::collections::HashSet;
use std::sync::Mutex;

use super::http::{Request, Response};
use crate::conf::HttpAuth;
use crate::server::auth::{constant_time_eq, is_bcrypt, secret_matches};

/// How many verified bcrypt credentials are remembered.
const REMEMBERED: usize = 256;

/// The remembered bcrypt successes.
#[derive(Default)]
pub struct Verified {
    seen: Mutex<HashSet<[u8; 32]>>,
}

impl Verified {
    fn key(stored: &str, given: &str) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(stored.as_bytes());
        ctx.update(&[0]);
        ctx.update(given.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        key
    }

    /// [`secret_matches`], remembering bcrypt successes.
    fn matches(&self, stored: &str, given: &str) -> bool {
        if !is_bcrypt(stored) {
            return constant_time_eq(stored.as_bytes(), given.as_bytes());
        }
        let key = Verified::key(stored, given);
        let lock = || self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if lock().contains(&key) {
            return true;
        }
        if !secret_matches(stored, given) {
            return false;
        }
        let mut seen = lock();
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(key);
        true
    }
}

/// The credentials a request carries.
#[derive(Debug, PartialEq, Eq)]
enum Given {
    None,
    Bearer(String),
    Basic(String, String),
}

fn given(req: &Request) -> Given {
    let Some(value) = req.header("authorization") else {
        return Given::None;
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Given::Bearer(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        if let Some(pair) = base64_decode(rest).and_then(|b| String::from_utf8(b).ok()) {
            if let Some((user, pass)) = pair.split_once(':') {
                return Given::Basic(user.to_string(), pass.to_string());
            }
        }
    }
    Given::None
}

/// True when `req` may be answered under `auth`.
pub fn allowed(auth: &HttpAuth, verified: &Verified, req: &Request) -> bool {
    if auth.public_healthz && req.path == "/healthz" {
        return true;
    }
    let token_ok = |t: &str| {
        auth.token
            .as_deref()
            .is_some_and(|stored| !t.is_empty() && verified.matches(stored, t))
    };
    match given(req) {
        Given::None => false,
        Given::Bearer(t) => token_ok(&t),
        Given::Basic(user, pass) => {
            // Every configured user is compared, so the time taken does not
            // tell which names exist; the password is checked for the match.
            let mut found = None;
            for (name, stored) in &auth.users {
                if constant_time_eq(name.as_bytes(), user.as_bytes()) {
                    found = Some(stored);
                }
            }
            match found {
                Some(stored) => verified.matches(stored, &pass),
                None => token_ok(&pass),
            }
        }
    }
}

/// The reply to a request without valid credentials: 401 with a Basic
/// challenge (browsers then prompt for a login).
pub fn refusal() -> Response {
    let mut r = Response::text(401, "401 Unauthorized\n");
    r.headers
        .push("WWW-Authenticate: Basic realm=\"nats-lite monitoring\", charset=\"UTF-8\"".into());
    r
}

/// Standard base64 (with or without padding); `None` when malformed.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64 with padding (for clients sending Basic auth).
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::monitor::http::parse_head;

    fn req(path: &str, authorization: Option<&str>) -> Request {
        let h = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        parse_head(format!("GET {path} HTTP/1.1\r\n{h}\r\n").as_bytes()).unwrap()
    }

    fn basic(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64_encode(format!("{user}:{pass}").as_bytes())
        )
    }

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "ops:pässword"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(base64_encode(b"ops:pw"), "b3BzOnB3");
        assert!(base64_decode("a*b").is_none());
    }

    #[test]
    fn tokens_users_and_open_healthz() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let auth = HttpAuth {
            token: Some("tok".into()),
            users: vec![("ops".into(), hash.clone())],
            public_healthz: true,
        };
        let v = Verified::default();
        assert!(!allowed(&auth, &v, &req("/varz", None)));
        assert!(allowed(&auth, &v, &req("/healthz", None)));
        assert!(allowed(&auth, &v, &req("/varz", Some("Bearer tok"))));
        assert!(!allowed(&auth, &v, &req("/varz", Some("Bearer tok2"))));
        assert!(allowed(&auth, &v, &req("/varz", Some(&basic("ops", "pw")))));
        assert!(
            allowed(&auth, &v, &req("/varz", Some(&basic("ops", "pw")))),
            "remembered"
        );
        assert!(!allowed(
            &auth,
            &v,
            &req("/varz", Some(&basic("ops", "px")))
        ));
        assert!(
            !allowed(&auth, &v, &req("/varz", Some(&basic("ops", &hash)))),
            "the hash is no password"
        );
        assert!(allowed(
            &auth,
            &v,
            &req("/varz", Some(&basic("any", "tok")))
        ));
        assert!(!allowed(
            &auth,
            &v,
            &req("/varz", Some(&basic("nobody", "pw")))
        ));
        let closed = HttpAuth {
            public_healthz: false,
            ..auth
        };
        assert!(!allowed(&closed, &v, &req("/healthz", None)));
    }
}
