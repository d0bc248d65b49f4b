//! AWS Signature Version 4 for one POST of a form body (the Query API that
//! CloudWatch's `PutMetricData` takes), with ring's SHA-256 and HMAC.
//!
//! Why not the `aws-sigv4` crate: its current releases need Rust 1.94
//! (ours is 1.85) and bring the smithy runtime types (aws-smithy-*,
//! aws-credential-types, http 0.2 and 1, time, tracing) for what is here
//! about sixty lines over ring, which is already our TLS provider and as
//! well kept as crypto crates come. The result is checked against
//! botocore's signer (the reference the AWS CLI uses) in the tests below.

use ring::{digest, hmac};

/// A key pair, and the session token of temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    /// `AKIA...` or `ASIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// With temporary credentials (instance roles): sent as X-Amz-Security-Token.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac(key: &[u8], data: &str) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
}

/// The headers to add to a `POST /` with a form `body` to `host` (as in
/// the Host header: with its port when not the scheme's default), at
/// `amz_date` (`20150830T123600Z`): X-Amz-Date, X-Amz-Security-Token when
/// there is one, and Authorization. The request must also carry the
/// Content-Type [`FORM`].
pub fn sign_form_post(
    keys: &Keys,
    host: &str,
    region: &str,
    service: &str,
    amz_date: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let date = &amz_date[..8];
    let mut headers: Vec<(&str, String)> = vec![
        ("content-type", FORM.to_string()),
        ("host", host.to_string()),
        ("x-amz-date", amz_date.to_string()),
    ];
    if let Some(t) = &keys.session_token {
        headers.push(("x-amz-security-token", t.clone()));
    }
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let signed = signed.join(";");
    let canonical_request = format!(
        "POST\n/\n\n{canonical_headers}\n{signed}\n{}",
        sha256_hex(body)
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac(format!("AWS4{}", keys.secret_access_key).as_bytes(), date);
    let k_region = hmac(k_date.as_ref(), region);
    let k_service = hmac(k_region.as_ref(), service);
    let k_signing = hmac(k_service.as_ref(), "aws4_request");
    let signature = hex(hmac(k_signing.as_ref(), &string_to_sign).as_ref());
    let mut out = vec![("X-Amz-Date", amz_date.to_string())];
    if let Some(t) = &keys.session_token {
        out.push(("X-Amz-Security-Token", t.clone()));
    }
    out.push((
        "Authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            keys.access_key_id
        ),
    ));
    out
}

/// The Content-Type of a form body.
pub const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// `20150830T123600Z` for Unix seconds.
pub fn amz_date(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = crate::civil::civil_utc(secs);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Percent-encoding as SigV4 and the Query API want it: everything but
/// `A-Z a-z 0-9 - _ . ~`.
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"Action=ListUsers&Version=2010-05-08";

    fn keys(token: Option<&str>) -> Keys {
        Keys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_string),
        }
    }

    /// The signatures botocore's SigV4Auth computes for the same requests.
    #[test]
    fn matches_botocore() {
        let date = amz_date(1_440_938_160);
        assert_eq!(date, "20150830T123600Z");
        let h = sign_form_post(
            &keys(None),
            "iam.amazonaws.com",
            "us-east-1",
            "iam",
            &date,
            BODY,
        );
        assert_eq!(
            h,
            [
                ("X-Amz-Date", "20150830T123600Z".to_string()),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, \
                     Signature=5d76d0de3e0ffe5a7a23cfce21b99d6f4e5060aad86bd9dc7c617f224e5b492a"
                        .to_string()
                )
            ]
        );
        let h = sign_form_post(
            &keys(Some("SESSIONTOKEN/+=")),
            "127.0.0.1:5000",
            "eu-west-1",
            "monitoring",
            &date,
            BODY,
        );
        assert_eq!(
            h[1],
            ("X-Amz-Security-Token", "SESSIONTOKEN/+=".to_string())
        );
        assert!(h[2].1.ends_with(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
             Signature=06b981508ce68f59d9d53eb6a3a5f13d2bcf3faad3be85289934686e97ef3520"
        ));
    }

    #[test]
    fn encoding() {
        assert_eq!(uri_encode("a b/c~d=é"), "a%20b%2Fc~d%3D%C3%A9");
    }
}
