//! The `tls { ... }` block (for clients at the top level, for routes in
//! `cluster`), as nats-server's `parseTLS` reads it (`server/opts.go`).
//!
//! Names are kept as written; turning cipher suite and curve names into
//! rustls values, and loading the files, is the server's job. Options that
//! change who is trusted (certificate stores, OCSP peer checks, several
//! certificates) are refused rather than ignored.

use std::path::PathBuf;
use std::time::Duration;

use super::duration::{parse_duration, seconds_from_value};
use super::error::{ConfError, Pos, Warning};
use super::typed::{self, not_supported, unknown_field};
use super::value::{Value, ValueKind};

/// nats-server's `DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY`, used by
/// `handshake_first: auto`.
pub const DEFAULT_HANDSHAKE_FIRST_FALLBACK: Duration = Duration::from_millis(50);

/// The lowest TLS version to accept (`min_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 (`"1.2"`).
    V1_2,
    /// TLS 1.3 (`"1.3"`).
    V1_3,
}

/// A `tls` block.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM).
    pub cert_file: Option<PathBuf>,
    /// The server's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// CA certificates that peers' certificates must chain to.
    pub ca_file: Option<PathBuf>,
    /// Require and verify a peer certificate (also set by `verify_and_map`).
    pub verify: bool,
    /// Take the user from the peer certificate (email SAN, ..., subject).
    pub verify_and_map: bool,
    /// Skip verifying the peer (routes only; nats-server's `insecure`).
    pub insecure: bool,
    /// Handshake timeout.
    pub timeout: Option<Duration>,
    /// Cipher suite names, as written (IANA names such as
    /// `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`); empty means the defaults.
    pub cipher_suites: Vec<String>,
    /// Curve names, as written (`X25519`, `CurveP256`, ...); empty means
    /// the defaults.
    pub curve_preferences: Vec<String>,
    /// Lowest TLS version accepted.
    pub min_version: Option<TlsVersion>,
    /// Start TLS before sending INFO.
    pub handshake_first: bool,
    /// With `handshake_first`: how long to wait for a TLS client hello
    /// before falling back to INFO first (`auto` or a duration).
    pub handshake_first_fallback: Option<Duration>,
    /// Lower-case hex SHA-256 of the peer's SubjectPublicKeyInfo (DER); when
    /// not empty, only these keys are accepted.
    pub pinned_certs: Vec<String>,
    /// Where the block starts.
    pub pos: Pos,
}

/// Parse a `tls` block named `field`.
pub(crate) fn parse_tls(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<TlsConfig, ConfError> {
    parse_tls_with(field, value, warnings, true)
}

/// Parse the `tls` block of a connection we dial (a leafnode remote):
/// a certificate is optional there (only to present one to the peer).
pub(crate) fn parse_client_tls(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<TlsConfig, ConfError> {
    parse_tls_with(field, value, warnings, false)
}

fn parse_tls_with(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
    cert_required: bool,
) -> Result<TlsConfig, ConfError> {
    let map = typed::map(field, value)?;
    let mut tc = TlsConfig {
        cert_file: None,
        key_file: None,
        ca_file: None,
        verify: false,
        verify_and_map: false,
        insecure: false,
        timeout: None,
        cipher_suites: Vec::new(),
        curve_preferences: Vec::new(),
        min_version: None,
        handshake_first: false,
        handshake_first_fallback: None,
        pinned_certs: Vec::new(),
        pos: value.pos.clone(),
    };
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "cert_file" => tc.cert_file = Some(typed::string(k, v)?.into()),
            "key_file" => tc.key_file = Some(typed::string(k, v)?.into()),
            "ca_file" => tc.ca_file = Some(typed::string(k, v)?.into()),
            "insecure" => tc.insecure = typed::boolean(k, v)?,
            "verify" => tc.verify = typed::boolean(k, v)?,
            "verify_and_map" => {
                tc.verify_and_map = typed::boolean(k, v)?;
                tc.verify |= tc.verify_and_map;
            }
            "cipher_suites" => tc.cipher_suites = non_empty_names(k, v)?,
            "curve_preferences" => tc.curve_preferences = non_empty_names(k, v)?,
            "timeout" => tc.timeout = Some(seconds_from_value(k, v)?),
            "pinned_certs" => tc.pinned_certs = parse_pinned_certs(k, v)?,
            "handshake_first" | "first" | "immediate" => {
                let (first, fallback) = parse_handshake_first(k, v)?;
                tc.handshake_first = first;
                tc.handshake_first_fallback = fallback;
            }
            "min_version" => tc.min_version = Some(parse_min_version(k, v)?),
            "verify_cert_and_check_known_urls" => {
                return Err(not_supported(entry, "checking peers against known URLs"))
            }
            "cert_store"
            | "cert_match_by"
            | "cert_match"
            | "ca_certs_match"
            | "cert_match_skip_invalid" => return Err(not_supported(entry, "certificate stores")),
            "certs" | "certificates" => return Err(not_supported(entry, "several certificates")),
            "ocsp_peer" => return Err(not_supported(entry, "OCSP peer verification")),
            "connection_rate_limit" | "allow_insecure_cipher_suites" => {
                typed::ignored(entry, warnings)
            }
            _ => unknown_field(entry)?,
        }
    }
    match (&tc.cert_file, &tc.key_file) {
        (Some(_), Some(_)) => {}
        (None, None) if !cert_required => {}
        (None, None) => {
            return Err(ConfError::at(
                &tc.pos,
                format!("'{field}' needs a cert_file and a key_file"),
            ))
        }
        (None, Some(_)) => {
            return Err(ConfError::at(
                &tc.pos,
                format!("'{field}' has a key_file but no cert_file"),
            ))
        }
        (Some(_), None) => {
            return Err(ConfError::at(
                &tc.pos,
                format!("'{field}' has a cert_file but no key_file"),
            ))
        }
    }
    Ok(tc)
}

fn non_empty_names(field: &str, value: &Value) -> Result<Vec<String>, ConfError> {
    let names = typed::array(field, value)?
        .iter()
        .map(|v| typed::string(field, v))
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty() {
        return Err(ConfError::at(
            &value.pos,
            format!("error parsing tls config, '{field}' cannot be empty"),
        ));
    }
    Ok(names)
}

fn parse_pinned_certs(field: &str, value: &Value) -> Result<Vec<String>, ConfError> {
    let mut pins = Vec::new();
    for item in typed::array(field, value)? {
        let pin = typed::string(field, item)?.to_ascii_lowercase();
        if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfError::at(
                &item.pos,
                format!(
                    "error parsing tls config, 'pinned_certs' key {pin} does not look like \
                     hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"
                ),
            ));
        }
        pins.push(pin);
    }
    Ok(pins)
}

/// `true`/`false`, `"auto"` (fall back after 50ms) or a fallback duration.
fn parse_handshake_first(
    field: &str,
    value: &Value,
) -> Result<(bool, Option<Duration>), ConfError> {
    match &value.kind {
        ValueKind::Bool(b) => Ok((*b, None)),
        ValueKind::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "on" => Ok((true, None)),
            "false" | "off" => Ok((false, None)),
            "auto" | "auto_fallback" => Ok((true, Some(DEFAULT_HANDSHAKE_FIRST_FALLBACK))),
            _ => match parse_duration(s) {
                Ok(d) => Ok((true, Some(d))),
                Err(_) => Err(ConfError::at(
                    &value.pos,
                    format!("field \"{field}\"'s value \"{s}\" is invalid"),
                )),
            },
        },
        _ => Err(typed::wrong_type(field, "a boolean or a string", value)),
    }
}

/// `"1.2"` or `"1.3"` (a bare `1.2`, read as a float, is accepted too).
fn parse_min_version(field: &str, value: &Value) -> Result<TlsVersion, ConfError> {
    let text = match &value.kind {
        ValueKind::String(s) => s.clone(),
        ValueKind::Float(f) => format!("{f:.1}"),
        _ => return Err(typed::wrong_type(field, "a version such as \"1.2\"", value)),
    };
    match text.as_str() {
        "1.2" => Ok(TlsVersion::V1_2),
        "1.3" => Ok(TlsVersion::V1_3),
        "1.0" | "1.1" => Err(ConfError::at(
            &value.pos,
            format!("error parsing tls config: unsupported TLS version: TLS {text}"),
        )),
        _ => Err(ConfError::at(
            &value.pos,
            format!("error parsing tls config: unknown version: {text}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::parse_str;
    use std::path::Path;

    fn tls(body: &str) -> Result<(TlsConfig, Vec<Warning>), String> {
        let text = format!("tls {{\n  cert_file: c.pem\n  key_file: k.pem\n{body}\n}}");
        let map = parse_str(&text, Path::new("t.conf")).map_err(|e| e.to_string())?;
        let mut w = Vec::new();
        let tc = parse_tls("tls", map.get("tls").unwrap(), &mut w).map_err(|e| e.to_string())?;
        Ok((tc, w))
    }

    #[test]
    fn options() {
        let (tc, w) = tls(
            "ca_file: ca.pem\nverify: true\ntimeout: 0.5\nmin_version: \"1.3\"\n\
             cipher_suites: [\"TLS_AES_128_GCM_SHA256\"]\ncurve_preferences: [X25519]\n\
             handshake_first: auto\npinned_certs: [\"A6D5A2A4C3F1A5D0E5F0A6D5A2A4C3F1A5D0E5F0A6D5A2A4C3F1A5D0E5F0ABCD\"]\n\
             connection_rate_limit: 100",
        )
        .unwrap();
        assert_eq!(tc.cert_file.as_deref(), Some(Path::new("c.pem")));
        assert_eq!(tc.ca_file.as_deref(), Some(Path::new("ca.pem")));
        assert!(tc.verify && !tc.verify_and_map);
        assert_eq!(tc.timeout, Some(Duration::from_millis(500)));
        assert_eq!(tc.min_version, Some(TlsVersion::V1_3));
        assert_eq!(tc.cipher_suites, ["TLS_AES_128_GCM_SHA256"]);
        assert_eq!(tc.curve_preferences, ["X25519"]);
        assert!(tc.handshake_first);
        assert_eq!(
            tc.handshake_first_fallback,
            Some(DEFAULT_HANDSHAKE_FIRST_FALLBACK)
        );
        assert!(tc.pinned_certs[0].ends_with("abcd"));
        assert_eq!(w.len(), 1);
        assert!(w[0]
            .to_string()
            .starts_with("t.conf:12:1: 'connection_rate_limit' is not supported"));
        let (tc, _) =
            tls("verify_and_map: true\nhandshake_first: \"300ms\"\nmin_version: 1.2").unwrap();
        assert!(tc.verify && tc.verify_and_map);
        assert_eq!(
            tc.handshake_first_fallback,
            Some(Duration::from_millis(300))
        );
        assert_eq!(tc.min_version, Some(TlsVersion::V1_2));
    }

    #[test]
    fn errors() {
        assert_eq!(
            tls("cipher_suites: []").unwrap_err(),
            "t.conf:4:16: error parsing tls config, 'cipher_suites' cannot be empty"
        );
        assert_eq!(
            tls("verfy: true").unwrap_err(),
            "t.conf:4:1: unknown field \"verfy\""
        );
        assert!(tls("min_version: \"1.1\"")
            .unwrap_err()
            .contains("unsupported TLS version"));
        assert!(tls("min_version: \"2\"")
            .unwrap_err()
            .contains("unknown version"));
        assert!(tls("pinned_certs: [abc]")
            .unwrap_err()
            .contains("does not look like hex-encoded sha256"));
        assert!(tls("handshake_first: sometimes")
            .unwrap_err()
            .contains("is invalid"));
        assert!(tls("verify: 1")
            .unwrap_err()
            .contains("'verify' expects a boolean"));
        assert!(tls("cert_store: WindowsCurrentUser")
            .unwrap_err()
            .contains("not supported by nats-lite"));
        assert!(tls("ocsp_peer: true")
            .unwrap_err()
            .contains("not supported by nats-lite"));
        let map = parse_str("tls { key_file: k }", Path::new("t.conf")).unwrap();
        let e = parse_tls("tls", map.get("tls").unwrap(), &mut Vec::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.conf:1:5: 'tls' has a key_file but no cert_file"
        );
    }
}
