//! AWS credentials and the instance metadata service, for the CloudWatch
//! sink. Credentials come, as the AWS SDKs find them, from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
//! then the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE` or
//! `~/.aws/credentials`, profile `AWS_PROFILE` or `default`), then the
//! instance's IAM role through IMDSv2 (a session token from
//! `PUT /latest/api/token`, then the role's temporary keys). Role keys
//! are fetched again before they expire: at the earlier of 5 minutes
//! before and half their lifetime.
//!
//! The metadata endpoint is `AWS_EC2_METADATA_SERVICE_ENDPOINT` or
//! `http://169.254.169.254`; `AWS_EC2_METADATA_DISABLED=true` turns it off.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;

use super::sigv4::Keys;
use crate::civil::{days_from_civil, rfc3339};

/// Refresh role keys at most this long before they expire.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// The lifetime asked for an IMDSv2 session token.
const TOKEN_TTL_SECS: u32 = 21_600;

/// A client of the instance metadata service (IMDSv2).
pub struct Imds {
    base: Option<String>,
    agent: ureq::Agent,
}

impl Imds {
    /// The endpoint from the environment, or the link-local default.
    pub fn from_env() -> Imds {
        let disabled = std::env::var("AWS_EC2_METADATA_DISABLED")
            .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        let base = (!disabled).then(|| {
            std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "http://169.254.169.254".to_string())
                .trim_end_matches('/')
                .to_string()
        });
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(1)))
            .timeout_global(Some(Duration::from_secs(3)))
            .http_status_as_error(false)
            // Link-local: never through a proxy.
            .proxy(None)
            .build()
            .new_agent();
        Imds { base, agent }
    }

    fn base(&self) -> Result<&str, String> {
        self.base
            .as_deref()
            .ok_or_else(|| "the instance metadata service is disabled".to_string())
    }

    /// A session token (IMDSv2).
    fn token(&self) -> Result<String, String> {
        let url = format!("{}/latest/api/token", self.base()?);
        let resp = self
            .agent
            .put(&url)
            .header(
                "X-aws-ec2-metadata-token-ttl-seconds",
                TOKEN_TTL_SECS.to_string(),
            )
            .send_empty()
            .map_err(|e| format!("IMDSv2 token from {url}: {e}"))?;
        text(resp, &url)
    }

    /// `GET /latest/meta-data/<path>` with a fresh session token.
    pub fn get(&self, path: &str) -> Result<String, String> {
        let token = self.token()?;
        self.get_with(&token, path)
    }

    fn get_with(&self, token: &str, path: &str) -> Result<String, String> {
        let url = format!("{}/latest/meta-data/{path}", self.base()?);
        let resp = self
            .agent
            .get(&url)
            .header("X-aws-ec2-metadata-token", token)
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        text(resp, &url)
    }

    /// The instance role's temporary keys, their role name and expiry.
    pub fn role_keys(&self) -> Result<(Keys, String, SystemTime), String> {
        let token = self.token()?;
        let roles = self.get_with(&token, "iam/security-credentials/")?;
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or("the instance has no IAM role")?
            .to_string();
        let doc = self.get_with(&token, &format!("iam/security-credentials/{role}"))?;
        let v: Json = serde_json::from_str(&doc).map_err(|_| "role credentials are not JSON")?;
        let field = |k: &str| {
            v.get(k)
                .and_then(Json::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("role credentials have no {k}"))
        };
        let expires =
            parse_rfc3339(&field("Expiration")?).ok_or("role credentials have a bad Expiration")?;
        Ok((
            Keys {
                access_key_id: field("AccessKeyId")?,
                secret_access_key: field("SecretAccessKey")?,
                session_token: Some(field("Token")?),
            },
            role,
            expires,
        ))
    }
}

/// A 200 answer's body.
fn text(resp: ureq::http::Response<ureq::Body>, url: &str) -> Result<String, String> {
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .into_with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    if status == 200 {
        Ok(body)
    } else {
        Err(format!("{url} answered {status}"))
    }
}

/// `2026-12-05T15:00:00Z` (seconds may have a fraction) to a time.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim().strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let sec: f64 = t.next()?.parse().ok()?;
    let secs = days_from_civil(y, mo, day) * 86_400 + h * 3600 + mi * 60 + sec as i64;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// The keys of `profile` in a shared credentials file's text.
pub fn keys_from_ini(text: &str, profile: &str) -> Option<Keys> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = Some(v.trim().to_string());
            match k.trim().to_ascii_lowercase().as_str() {
                "aws_access_key_id" => id = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    Some(Keys {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

/// Where the keys in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Environment,
    File(PathBuf),
    Role,
}

/// The credential chain, with the keys in use cached until their refresh.
pub struct Credentials {
    imds: Imds,
    cached: Option<(Keys, Option<SystemTime>)>,
    origin: Option<Origin>,
}

impl Credentials {
    /// A chain that asks `imds` last.
    pub fn new(imds: Imds) -> Credentials {
        Credentials {
            imds,
            cached: None,
            origin: None,
        }
    }

    /// The keys to sign with now; `log` is told where new keys came from.
    pub fn get(&mut self, log: &dyn Fn(String)) -> Result<Keys, String> {
        if let Some((keys, refresh)) = &self.cached {
            if refresh.is_none_or(|at| SystemTime::now() < at) {
                return Ok(keys.clone());
            }
        }
        let (keys, origin, refresh, said) = self.find()?;
        if self.origin.as_ref() != Some(&origin) || origin == Origin::Role {
            log(said);
        }
        self.origin = Some(origin);
        self.cached = Some((keys.clone(), refresh));
        Ok(keys)
    }

    #[allow(clippy::type_complexity)]
    fn find(&self) -> Result<(Keys, Origin, Option<SystemTime>, String), String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            let said = format!("CloudWatch credentials from the environment ({id})");
            let keys = Keys {
                access_key_id: id,
                secret_access_key: secret,
                session_token: env("AWS_SESSION_TOKEN"),
            };
            return Ok((keys, Origin::Environment, None, said));
        }
        let file = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")));
        let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
        if let Some(path) = file {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Some(keys) = keys_from_ini(&text, &profile) {
                    let said = format!(
                        "CloudWatch credentials from {} [{profile}] ({})",
                        path.display(),
                        keys.access_key_id
                    );
                    return Ok((keys, Origin::File(path), None, said));
                }
            }
        }
        let (keys, role, expires) = self.imds.role_keys().map_err(|e| {
            format!(
                "no AWS credentials: none in the environment or the shared credentials \
                 file, and the instance role: {e}"
            )
        })?;
        let now = SystemTime::now();
        let life = expires.duration_since(now).unwrap_or_default();
        let refresh = expires
            .checked_sub(REFRESH_BEFORE.min(life / 2))
            .unwrap_or(now);
        let secs = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        };
        let said = format!(
            "CloudWatch credentials from the instance role {role} ({}), expiring {}, \
             refreshed at {}",
            keys.access_key_id,
            rfc3339(secs(expires)),
            rfc3339(secs(refresh))
        );
        Ok((keys, Origin::Role, Some(refresh), said))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_rfc3339("2015-08-30T12:36:00Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_440_938_160
        );
        assert!(parse_rfc3339("2015-08-30 12:36:00").is_none());
    }

    #[test]
    fn shared_file() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key=S\n\n\
                    [ops]\n# comment\naws_access_key_id=B\naws_secret_access_key=T\naws_session_token=X\n";
        let k = keys_from_ini(text, "default").unwrap();
        assert_eq!((k.access_key_id.as_str(), k.session_token), ("A", None));
        let k = keys_from_ini(text, "ops").unwrap();
        assert_eq!(k.session_token.as_deref(), Some("X"));
        assert!(keys_from_ini(text, "none").is_none());
    }
}
