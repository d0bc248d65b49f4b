//! From a response to a verdict: what a check expects ([`Expect`]), what
//! came back ([`Response`]), and whether that is OK or which [`Fault`] it
//! is. Pure: no sockets, no clocks, so every rule is unit-tested here.
//! Fetching the response is [`super::probe`]'s job.
//!
//! The rules run in a fixed order and the first fault wins: the HTTP
//! status, then the body (JSON field, then text), then the response time.
//! A check that needs the body fails with "body over 1 MiB" when the body
//! is larger than what is read of it ([`MAX_BODY`]).

use std::fmt;
use std::time::Duration;

use serde_json::Value as Json;

/// The most of a body that is read and looked at.
pub const MAX_BODY: usize = 1024 * 1024;

/// What a check expects of a response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    /// Acceptable HTTP statuses.
    pub status: StatusSet,
    /// A JSON pointer (RFC 6901) into the body, e.g. `/status`.
    pub json_field: Option<String>,
    /// Acceptable values of `json_field` (any of them); empty means the
    /// field only has to exist.
    pub json_ok: Vec<Json>,
    /// Text the body must contain.
    pub contains: Option<String>,
    /// A response slower than this is a fault.
    pub max_time: Option<Duration>,
}

/// A set of HTTP statuses: single codes and inclusive ranges
/// (`200`, `200,204`, `200-299`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    /// Just 200.
    fn default() -> Self {
        StatusSet(vec![(200, 200)])
    }
}

impl StatusSet {
    /// Parse `200`, `200,204`, `200-299`, or a mix (`200-204,304`).
    ///
    /// # Errors
    ///
    /// Anything that is not a list of statuses from 100 to 999 or ranges
    /// of them.
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let bad = || format!("invalid status list {text:?} (examples: 200, 200,204, 200-299)");
        let code = |s: &str| -> Result<u16, String> {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=999).contains(c))
                .ok_or_else(bad)
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(bad());
            }
            ranges.push(range);
        }
        Ok(StatusSet(ranges))
    }

    /// True when `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// A response as far as the checks care.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body, at most [`MAX_BODY`] bytes of it.
    pub body: Vec<u8>,
    /// True when the body was longer than what was read.
    pub truncated: bool,
    /// From sending the request to the end of the body.
    pub elapsed: Duration,
}

/// Why a check failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// No connection (refused, reset, unknown host).
    Connect(String),
    /// No complete answer within the request timeout.
    Timeout(Duration),
    /// TLS failed (certificate, handshake).
    Tls(String),
    /// Another HTTP-level error (a malformed response, too many redirects).
    Http(String),
    /// A status outside the expected set.
    Status(u16),
    /// The JSON field has a value that is not one of the expected ones.
    JsonValue {
        /// The pointer, as configured.
        field: String,
        /// The value found, as compact JSON.
        found: String,
    },
    /// The JSON field is not in the body.
    JsonMissing {
        /// The pointer, as configured.
        field: String,
    },
    /// The body is not JSON (and a JSON field is to be checked).
    NotJson,
    /// The body is larger than [`MAX_BODY`] and a rule needs all of it.
    TooLarge,
    /// The text to look for is not in the body.
    TextNotFound(String),
    /// The answer is right but came too late.
    Slow {
        /// How long it took.
        took: Duration,
        /// The limit (`max_time`).
        limit: Duration,
    },
}

/// The name a JSON pointer gets in messages: `/status` is "status",
/// `/data/health` is "data/health", the whole body is "body".
fn field_name(pointer: &str) -> &str {
    match pointer.strip_prefix('/') {
        Some(name) if !name.is_empty() => name,
        _ => "body",
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Connect(e) => write!(f, "connect error: {e}"),
            Fault::Timeout(d) => write!(f, "timeout after {}", short_duration(*d)),
            Fault::Tls(e) => write!(f, "TLS error: {e}"),
            Fault::Http(e) => write!(f, "HTTP error: {e}"),
            Fault::Status(s) => write!(f, "status {s}"),
            Fault::JsonValue { field, found } => write!(f, "JSON {} {found}", field_name(field)),
            Fault::JsonMissing { field } => write!(f, "JSON {} missing", field_name(field)),
            Fault::NotJson => f.write_str("body not JSON"),
            Fault::TooLarge => write!(f, "body over {} MiB", MAX_BODY / (1024 * 1024)),
            Fault::TextNotFound(t) => write!(f, "text {t:?} not found"),
            Fault::Slow { took, limit } => write!(
                f,
                "slow {} > {}",
                short_duration(*took),
                short_duration(*limit)
            ),
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Everything as expected.
    Ok,
    /// Something is wrong.
    Fail(Fault),
}

impl Verdict {
    /// True for [`Verdict::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok)
    }

    /// `OK` or `FAIL`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Fail(_) => "FAIL",
        }
    }

    /// The fault, if any.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Verdict::Ok => None,
            Verdict::Fail(f) => Some(f),
        }
    }
}

/// Judge a response.
pub fn judge(expect: &Expect, response: &Response) -> Verdict {
    match first_fault(expect, response) {
        Some(fault) => Verdict::Fail(fault),
        None => Verdict::Ok,
    }
}

fn first_fault(expect: &Expect, r: &Response) -> Option<Fault> {
    if !expect.status.contains(r.status) {
        return Some(Fault::Status(r.status));
    }
    if let Some(pointer) = &expect.json_field {
        if r.truncated {
            return Some(Fault::TooLarge);
        }
        let Ok(json) = serde_json::from_slice::<Json>(&r.body) else {
            return Some(Fault::NotJson);
        };
        match json.pointer(pointer) {
            None => {
                return Some(Fault::JsonMissing {
                    field: pointer.clone(),
                })
            }
            Some(found) => {
                if !expect.json_ok.is_empty() && !expect.json_ok.iter().any(|w| json_eq(found, w)) {
                    return Some(Fault::JsonValue {
                        field: pointer.clone(),
                        found: show_json(found),
                    });
                }
            }
        }
    }
    if let Some(text) = &expect.contains {
        if memchr::memmem::find(&r.body, text.as_bytes()).is_none() {
            return Some(if r.truncated {
                Fault::TooLarge
            } else {
                Fault::TextNotFound(text.clone())
            });
        }
    }
    match expect.max_time {
        Some(limit) if r.elapsed > limit => Some(Fault::Slow {
            took: r.elapsed,
            limit,
        }),
        _ => None,
    }
}

/// A JSON value in a message: compact, and cut short when long.
fn show_json(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// Does `found` match the expected value `want`? Equal JSON, equal
/// numbers (`0` and `0.0`), or a string holding the expected number or
/// boolean (`"0"` for `0`), since APIs disagree on how to write a status.
pub fn json_eq(found: &Json, want: &Json) -> bool {
    match (found, want) {
        (Json::Number(a), Json::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => a.as_f64() == b.as_f64(),
        },
        (Json::String(s), Json::Number(_) | Json::Bool(_)) => {
            let text = want.to_string();
            *s == text
        }
        (Json::Number(_) | Json::Bool(_), Json::String(s)) => {
            let text = found.to_string();
            *s == text
        }
        _ => found == want,
    }
}

/// An expected JSON value as written on the command line: JSON when it
/// parses (`0`, `-1`, `true`, `"ok"`), else the text as a string (`ok`).
pub fn parse_json_ok(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_string()))
}

pub use crate::civil::rfc3339_millis;
pub use crate::commands::connect::short_duration;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    fn response(status: u16, body: &str, ms: u64) -> Response {
        Response {
            status,
            body: body.as_bytes().to_vec(),
            truncated: false,
            elapsed: Duration::from_millis(ms),
        }
    }

    fn classic() -> Expect {
        Expect {
            json_field: Some("/status".into()),
            json_ok: vec![json!(0)],
            max_time: Some(Duration::from_secs(5)),
            ..Default::default()
        }
    }

    fn reason(e: &Expect, r: &Response) -> String {
        judge(e, r)
            .fault()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    #[test]
    fn the_four_classic_cases() {
        let e = classic();
        assert_eq!(
            judge(&e, &response(200, r#"{"status":0}"#, 12)),
            Verdict::Ok
        );
        assert_eq!(
            reason(&e, &response(200, r#"{"status":-1}"#, 12)),
            "JSON status -1"
        );
        assert_eq!(reason(&e, &response(500, "oops", 12)), "status 500");
        assert_eq!(
            reason(&e, &response(200, r#"{"status":0}"#, 6200)),
            "slow 6.2s > 5s"
        );
    }

    #[test]
    fn status_comes_before_body_and_time() {
        let e = classic();
        assert_eq!(reason(&e, &response(503, "not json", 9000)), "status 503");
        assert_eq!(
            reason(&e, &response(200, "not json", 9000)),
            "body not JSON"
        );
    }

    #[test]
    fn json_fields() {
        let e = classic();
        assert_eq!(reason(&e, &response(200, "{}", 1)), "JSON status missing");
        assert_eq!(reason(&e, &response(200, "", 1)), "body not JSON");
        assert_eq!(
            reason(&e, &response(200, r#"{"status":"down"}"#, 1)),
            "JSON status \"down\""
        );
        assert!(judge(&e, &response(200, r#"{"status":"0"}"#, 1)).is_ok());
        assert!(judge(&e, &response(200, r#"{"status":0.0}"#, 1)).is_ok());
        let nested = Expect {
            json_field: Some("/data/a~1b".into()),
            json_ok: vec![json!("ok"), json!("degraded")],
            ..Default::default()
        };
        assert!(judge(&nested, &response(200, r#"{"data":{"a/b":"degraded"}}"#, 1)).is_ok());
        assert_eq!(
            reason(&nested, &response(200, r#"{"data":{"a/b":"down"}}"#, 1)),
            "JSON data/a~1b \"down\""
        );
        let exists = Expect {
            json_field: Some("/ready".into()),
            ..Default::default()
        };
        assert!(judge(&exists, &response(200, r#"{"ready":false}"#, 1)).is_ok());
        let big = "x".repeat(200);
        assert!(reason(&e, &response(200, &format!(r#"{{"status":"{big}"}}"#), 1)).len() < 100);
    }

    #[test]
    fn json_equality() {
        assert!(json_eq(&json!(0), &json!(0)));
        assert!(json_eq(&json!(1.0), &json!(1)));
        assert!(!json_eq(&json!(-1), &json!(0)));
        assert!(json_eq(&json!("0"), &json!(0)));
        assert!(json_eq(&json!(0), &json!("0")));
        assert!(json_eq(&json!("true"), &json!(true)));
        assert!(!json_eq(&json!(null), &json!(0)));
        assert!(json_eq(&json!({"a": 1}), &json!({"a": 1})));
        assert_eq!(parse_json_ok("0"), json!(0));
        assert_eq!(parse_json_ok("-1"), json!(-1));
        assert_eq!(parse_json_ok("ok"), json!("ok"));
        assert_eq!(parse_json_ok("\"ok\""), json!("ok"));
        assert_eq!(parse_json_ok("true"), json!(true));
    }

    #[test]
    fn text_and_size() {
        let e = Expect {
            contains: Some("healthy".into()),
            ..Default::default()
        };
        assert!(judge(&e, &response(200, "all healthy", 1)).is_ok());
        assert_eq!(
            reason(&e, &response(200, "sick", 1)),
            "text \"healthy\" not found"
        );
        let mut r = response(200, "sick", 1);
        r.truncated = true;
        assert_eq!(reason(&e, &r), "body over 1 MiB");
        let mut r = response(200, "healthy...", 1);
        r.truncated = true;
        assert!(judge(&e, &r).is_ok());
        // Without a body rule a large body is fine.
        assert!(judge(&Expect::default(), &r).is_ok());
        let mut r = response(200, r#"{"status":0"#, 1);
        r.truncated = true;
        assert_eq!(reason(&classic(), &r), "body over 1 MiB");
    }

    #[test]
    fn status_sets() {
        let s = StatusSet::parse("200,204").unwrap();
        assert!(s.contains(204) && !s.contains(201));
        let s = StatusSet::parse("200-299, 304").unwrap();
        assert!(s.contains(250) && s.contains(304) && !s.contains(300));
        assert_eq!(s.to_string(), "200-299,304");
        assert_eq!(StatusSet::default().to_string(), "200");
        for bad in ["", "abc", "2000", "299-200", "200,", "99", "-"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad:?}");
        }
        let e = Expect {
            status: StatusSet::parse("500").unwrap(),
            ..Default::default()
        };
        assert!(judge(&e, &response(500, "", 1)).is_ok());
        assert_eq!(reason(&e, &response(200, "", 1)), "status 200");
    }

    #[test]
    fn slow_is_strictly_over() {
        let e = Expect {
            max_time: Some(Duration::from_millis(200)),
            ..Default::default()
        };
        assert!(judge(&e, &response(200, "", 200)).is_ok());
        assert_eq!(reason(&e, &response(200, "", 312)), "slow 312ms > 200ms");
    }

    #[test]
    fn times() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_042);
        assert_eq!(rfc3339_millis(t), "2023-11-14T22:13:20.042Z");
    }

    #[test]
    fn durations_for_people() {
        let d = |ms| short_duration(Duration::from_millis(ms));
        assert_eq!(d(0), "0ms");
        assert_eq!(d(999), "999ms");
        assert_eq!(d(1000), "1s");
        assert_eq!(d(6200), "6.2s");
        assert_eq!(d(59_990), "60s");
        assert_eq!(d(90_000), "1m30s");
        assert_eq!(d(120_000), "2m");
        assert_eq!(d(3_600_000), "1h");
        assert_eq!(d(3_720_000), "1h2m");
        assert_eq!(
            Fault::Timeout(Duration::from_secs(5)).to_string(),
            "timeout after 5s"
        );
        assert_eq!(
            Fault::Connect("connection refused".into()).to_string(),
            "connect error: connection refused"
        );
    }
}
