//! TLS for client connections, with rustls: building the server
//! configuration from the options (certificates, client verification,
//! cipher suites, TLS 1.2 as the minimum), and the handshake done the NATS
//! way: INFO goes out in plain text with `tls_required`, then the client
//! starts TLS.
//!
//! After the handshake the rustls state is shared by the connection's
//! reader (which feeds it bytes read from the socket; the lock is never held
//! across a socket read) and the client's writer thread (which encrypts and
//! writes); see `client.rs`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{Connection, RootCertStore, ServerConfig, ServerConnection, SupportedCipherSuite};

use super::options::TlsOptions;

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Build the rustls server configuration.
///
/// # Errors
///
/// Unreadable certificate, key or CA files, an unknown cipher suite name.
pub fn server_config(opts: &TlsOptions) -> io::Result<Arc<ServerConfig>> {
    let provider = provider(&opts.cipher_suites, &opts.curve_preferences)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&opts.cert_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| bad_file("certificate", &opts.cert_file, e))?;
    if certs.is_empty() {
        return Err(bad_file(
            "certificate",
            &opts.cert_file,
            "no certificate found",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&opts.key_file)
        .map_err(|e| bad_file("private key", &opts.key_file, e))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = if opts.min_version_13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(io::Error::other)?;

    let builder = if opts.verify || opts.verify_and_map {
        let Some(ca_file) = &opts.ca_file else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS client verification needs a CA file (ca_file / --tlscacert)",
            ));
        };
        let mut roots = RootCertStore::empty();
        for cert in
            CertificateDer::pem_file_iter(ca_file).map_err(|e| bad_file("CA", ca_file, e))?
        {
            let cert = cert.map_err(|e| bad_file("CA", ca_file, e))?;
            roots.add(cert).map_err(|e| bad_file("CA", ca_file, e))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(io::Error::other)?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}

fn bad_file(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("TLS {what} file {}: {e}", path.display()),
    )
}

/// The ring provider, restricted to the named cipher suites when given.
/// Names are IANA's or Go's (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`,
/// `TLS_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305`).
fn provider(names: &[String], curves: &[String]) -> io::Result<Arc<CryptoProvider>> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !curves.is_empty() {
        let mut groups = Vec::new();
        for name in curves {
            let wanted = match name.to_ascii_uppercase().replace(['-', '_'], "").as_str() {
                "X25519" => rustls::NamedGroup::X25519,
                "CURVEP256" | "P256" | "SECP256R1" => rustls::NamedGroup::secp256r1,
                "CURVEP384" | "P384" | "SECP384R1" => rustls::NamedGroup::secp384r1,
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "unsupported curve preference {name:?} (X25519, CurveP256, CurveP384)"
                        ),
                    ))
                }
            };
            if let Some(g) = provider.kx_groups.iter().find(|g| g.name() == wanted) {
                groups.push(*g);
            }
        }
        provider.kx_groups = groups;
    }
    if !names.is_empty() {
        let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
        for name in names {
            let suite = provider
                .cipher_suites
                .iter()
                .find(|s| suite_name_matches(&format!("{:?}", s.suite()), name))
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("unsupported cipher suite {name:?} (only TLS 1.2+ AEAD suites are available)"),
                    )
                })?;
            chosen.push(*suite);
        }
        // TLS 1.3 needs one of its own suites; keep them when none was named.
        if !chosen
            .iter()
            .any(|s| s.version() == &rustls::version::TLS13)
        {
            chosen.extend(
                provider
                    .cipher_suites
                    .iter()
                    .filter(|s| s.version() == &rustls::version::TLS13),
            );
        }
        provider.cipher_suites = chosen;
    }
    Ok(Arc::new(provider))
}

fn suite_name_matches(rustls_name: &str, wanted: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim().to_ascii_uppercase().replace("TLS13_", "TLS_");
        s.strip_suffix("_SHA256")
            .filter(|p| p.ends_with("POLY1305"))
            .map(str::to_string)
            .unwrap_or(s)
    };
    norm(rustls_name) == norm(wanted)
}

/// Why a handshake failed.
#[derive(Debug)]
pub enum HandshakeError {
    /// The client spoke plain text on a TLS port, or said nothing in time.
    TlsRequired,
    /// The handshake itself failed (bad certificate, protocol error, I/O).
    Failed(String),
}

/// Run the server side of the handshake on `stream`, all of it before
/// `deadline` (see `conn::tls`).
pub fn handshake(
    stream: &TcpStream,
    config: &Arc<ServerConfig>,
    deadline: Instant,
) -> Result<ServerConnection, HandshakeError> {
    let mut first = [0u8; 1];
    let left = super::conn::tls::time_left(deadline).map_err(|_| HandshakeError::TlsRequired)?;
    stream
        .set_read_timeout(Some(left))
        .map_err(|e| HandshakeError::Failed(e.to_string()))?;
    let peeked = stream.peek(&mut first);
    let _ = stream.set_read_timeout(None);
    match peeked {
        Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => {}
        Ok(_) => return Err(HandshakeError::TlsRequired),
        Err(e) if is_timeout(&e) => return Err(HandshakeError::TlsRequired),
        Err(e) => return Err(HandshakeError::Failed(e.to_string())),
    }
    let mut conn =
        ServerConnection::new(config.clone()).map_err(|e| HandshakeError::Failed(e.to_string()))?;
    match super::conn::tls::complete_handshake(&mut conn, stream, deadline) {
        Ok(()) => Ok(conn),
        Err(e) if super::conn::tls::is_timeout(&e) => Err(HandshakeError::TlsRequired),
        Err(e) => Err(HandshakeError::Failed(e.to_string())),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Feed `raw` bytes read from the socket to rustls and move the plaintext
/// that results into `out`; returns the plaintext byte count (0 with
/// `closed` set when the peer sent close_notify) and whether rustls has
/// bytes to send (an alert, a key update).
pub fn decrypt(conn: &mut Connection, mut raw: &[u8], out: &mut Vec<u8>) -> io::Result<Decrypted> {
    let mut result = Decrypted::default();
    while !raw.is_empty() {
        conn.read_tls(&mut raw)?;
        let state = conn
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if state.peer_has_closed() {
            result.closed = true;
        }
        drain_plaintext(conn, out, &mut result)?;
    }
    result.wants_write = conn.wants_write();
    Ok(result)
}

fn drain_plaintext(
    conn: &mut Connection,
    out: &mut Vec<u8>,
    result: &mut Decrypted,
) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    loop {
        match conn.reader().read(&mut chunk) {
            Ok(0) => {
                result.closed = true;
                return Ok(());
            }
            Ok(n) => {
                out.extend_from_slice(&chunk[..n]);
                result.plaintext += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Plaintext already buffered by rustls (data that arrived with the last
/// handshake flight).
pub fn buffered_plaintext(conn: &mut Connection, out: &mut Vec<u8>) -> io::Result<Decrypted> {
    let mut result = Decrypted::default();
    drain_plaintext(conn, out, &mut result)?;
    Ok(result)
}

/// What one [`decrypt`] produced.
#[derive(Debug, Default, Clone, Copy)]
pub struct Decrypted {
    /// Plaintext bytes appended.
    pub plaintext: usize,
    /// The peer closed the TLS session.
    pub closed: bool,
    /// rustls has records to send.
    pub wants_write: bool,
}

/// Encrypt `plain` and append the TLS records, with anything rustls had
/// queued before, to `wire`.
pub fn encrypt(conn: &mut Connection, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
    let mut off = 0;
    loop {
        while conn.wants_write() {
            conn.write_tls(wire)?;
        }
        if off == plain.len() {
            return Ok(());
        }
        let n = conn.writer().write(&plain[off..])?;
        if n == 0 && !conn.wants_write() {
            return Err(io::ErrorKind::WriteZero.into());
        }
        off += n;
    }
}

/// The negotiated protocol version and cipher suite, for monitoring.
pub fn describe(conn: &Connection) -> (String, String) {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => String::new(),
    };
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    (version, suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_names_go_and_iana() {
        assert!(suite_name_matches(
            "TLS13_AES_128_GCM_SHA256",
            "TLS_AES_128_GCM_SHA256"
        ));
        assert!(suite_name_matches(
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"
        ));
        assert!(suite_name_matches(
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "tls_ecdhe_rsa_with_aes_256_gcm_sha384"
        ));
        assert!(!suite_name_matches(
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_RSA_WITH_AES_128_CBC_SHA"
        ));
    }

    #[test]
    fn named_suites_restrict_the_provider() {
        let p = provider(&["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into()], &[]).unwrap();
        assert!(p
            .cipher_suites
            .iter()
            .any(|s| format!("{:?}", s.suite()) == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"));
        assert!(!p.cipher_suites.iter().any(|s| format!("{:?}", s.suite())
            .contains("AES_128_GCM_SHA256")
            && s.version() == &rustls::version::TLS12));
        assert!(provider(&["TLS_RSA_WITH_RC4_128_SHA".into()], &[]).is_err());
        assert_eq!(
            provider(&[], &["CurveP256".into()])
                .unwrap()
                .kx_groups
                .len(),
            1
        );
        assert!(provider(&[], &["Curve25519x".into()]).is_err());
    }
}

/// Does the client's certificate key match `pinned` (hex SHA-256 of its
/// SubjectPublicKeyInfo)? Always true when nothing is pinned.
pub fn pinned_cert_accepted(conn: &ServerConnection, pinned: &[String]) -> bool {
    use x509_parser::prelude::{FromDer, X509Certificate};
    if pinned.is_empty() {
        return true;
    }
    let Some(der) = conn.peer_certificates().and_then(|c| c.first()) else {
        return false;
    };
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    pinned.iter().any(|p| p.eq_ignore_ascii_case(&hex))
}

/// The names a client certificate can map to a user by (`verify_and_map`),
/// in nats-server's order: SAN emails, URIs and DNS names, then the subject
/// as an RFC 2253 string (`CN=example.com,OU=CNCF`) and, as nats-server also
/// accepts, with its RDNs in certificate order.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        let general = &san.value.general_names;
        for g in general {
            if let GeneralName::RFC822Name(e) = g {
                names.push((*e).to_string());
            }
        }
        for g in general {
            if let GeneralName::URI(u) = g {
                names.push((*u).to_string());
            }
        }
        for g in general {
            if let GeneralName::DNSName(d) = g {
                names.push((*d).to_string());
            }
        }
    }
    let rdns: Vec<String> = cert
        .subject()
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let value = atv.as_str().map(escape_dn_value).unwrap_or_default();
                    format!(
                        "{}={value}",
                        attribute_name(&atv.attr_type().to_id_string())
                    )
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    if !rdns.is_empty() {
        let reversed: Vec<&str> = rdns.iter().rev().map(String::as_str).collect();
        names.push(reversed.join(","));
        let forward = rdns.join(",");
        if !names.contains(&forward) {
            names.push(forward);
        }
    }
    names
}

/// Short names Go's `pkix.Name.String` uses for the common attributes.
fn attribute_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.17" => "POSTALCODE",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        other => return other.to_string(),
    }
    .to_string()
}

/// RFC 2253 escaping of an attribute value.
fn escape_dn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == v.chars().count() - 1 && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod name_tests {
    use super::certificate_names;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn cert(dn: &[(DnType, &str)], emails: &[&str]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["client.local".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        for e in emails {
            params
                .subject_alt_names
                .push(SanType::Rfc822Name((*e).try_into().unwrap()));
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn email_first_then_dns_then_subject_dn() {
        let der = cert(
            &[
                (DnType::OrganizationalUnitName, "CNCF"),
                (DnType::CommonName, "example.com"),
            ],
            &["derek@nats.io"],
        );
        let names = certificate_names(&der);
        assert_eq!(names[0], "derek@nats.io");
        assert!(names.contains(&"client.local".to_string()));
        assert!(
            names.contains(&"CN=example.com,OU=CNCF".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn garbage_gives_no_names() {
        assert!(certificate_names(b"not a certificate").is_empty());
    }
}
