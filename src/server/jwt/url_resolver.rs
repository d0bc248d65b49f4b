//! The URL account resolver (`resolver: URL("http://host/jwt/v1/accounts/")`):
//! an account's JWT is fetched with `GET <url><account public key>` when a
//! user of an account the server does not know yet connects, bounded by
//! [`FETCH_TIMEOUT`] (nats-server's default fetch timeout), as nats-server's
//! `URLAccResolver` does.
//!
//! What was fetched is kept for the life of the process, by URL and
//! account, so reloads and later connections do not fetch again (nothing
//! pushes account updates to nats-lite: restart, or serve the update under
//! a directory resolver, to change an account). A failed fetch is
//! remembered for [`RETRY_AFTER`], so a client retrying in a loop does not
//! turn into a stream of HTTP requests. The fetched JWT is then checked as
//! a preloaded one (`Trust`): fetching grants nothing by itself.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::nkey::{self, Kind};

/// Time allowed for one fetch, connect to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_millis(1900);
/// A failed fetch of an account is not tried again before this.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);
/// The largest account JWT read.
const MAX_JWT_BYTES: u64 = 1024 * 1024;
/// Accounts remembered per URL at most (fetched and failed).
const MAX_ENTRIES: usize = 100_000;

enum Entry {
    Fetched(String),
    Failed(Instant),
}

fn cache() -> &'static Mutex<HashMap<(String, String), Entry>> {
    static CACHE: OnceLock<Mutex<HashMap<(String, String), Entry>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// Every account JWT fetched from `url` so far: (account, JWT).
pub fn cached(url: &str) -> Vec<(String, String)> {
    let cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    let mut v: Vec<(String, String)> = cache
        .iter()
        .filter_map(|((u, account), entry)| match entry {
            Entry::Fetched(jwt) if u == url => Some((account.clone(), jwt.clone())),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// The JWT of `account` from `url`: from the cache, or fetched now.
///
/// # Errors
///
/// Not an account key, the fetch failed (or failed less than
/// [`RETRY_AFTER`] ago), or the server did not answer 200 with a JWT.
pub fn fetch(url: &str, account: &str) -> Result<String, String> {
    if !nkey::is_public_key(account, Kind::Account) {
        return Err(format!("{account:?} is not an account public key"));
    }
    let key = (url.to_string(), account.to_string());
    match cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        Some(Entry::Fetched(jwt)) => return Ok(jwt.clone()),
        Some(Entry::Failed(at)) if at.elapsed() < RETRY_AFTER => {
            return Err(format!(
                "fetching {account} failed less than {RETRY_AFTER:?} ago"
            ))
        }
        _ => {}
    }
    let result = get(&format!("{url}{account}"));
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= MAX_ENTRIES {
        cache.retain(|_, e| matches!(e, Entry::Fetched(_)));
    }
    if cache.len() < MAX_ENTRIES {
        let entry = match &result {
            Ok(jwt) => Entry::Fetched(jwt.clone()),
            Err(_) => Entry::Failed(Instant::now()),
        };
        cache.insert(key, entry);
    }
    result
}

/// nats-server's start-up check that "anyone is home": `GET <url>` must
/// answer 200.
///
/// # Errors
///
/// nats-server's `could not fetch <"URL">: 404 Not Found` and the like.
pub fn check_reachable(url: &str) -> Result<(), String> {
    let resp = agent()
        .get(url)
        .call()
        .map_err(|e| format!("could not fetch <{url:?}>: {e}"))?;
    match resp.status() {
        s if s.as_u16() == 200 => Ok(()),
        s => Err(format!(
            "could not fetch <{url:?}>: {} {}",
            s.as_u16(),
            s.canonical_reason().unwrap_or_default()
        )),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// One GET: the body of a 200 answer, trimmed.
fn get(url: &str) -> Result<String, String> {
    let resp = agent()
        .get(url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .into_with_config()
        .limit(MAX_JWT_BYTES)
        .read_to_string()
        .map_err(|e| format!("GET {url}: {e}"))?;
    if status != 200 {
        return Err(format!("GET {url}: status {status}"));
    }
    let jwt = body.trim();
    if !jwt.starts_with("eyJ") {
        return Err(format!("GET {url}: the answer is not a JWT"));
    }
    Ok(jwt.to_string())
}
