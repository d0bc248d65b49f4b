//! TLS helpers: a test certificate authority with a server certificate and
//! client certificates made with rcgen; a NATS client over rustls (INFO in
//! plain text, then the TLS handshake, then the protocol as [`RawClient`]
//! speaks it); and a Python `ssl` probe for the cases where a protocol
//! version or cipher suite must be forced (rustls will not offer TLS 1.0 or
//! CBC suites).
//!
//! [`RawClient`]: crate::util::RawClient

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use crate::config_support::run_with_deadline;
use crate::util::{read_some, take_line, time_left, IO_TIMEOUT};

/// A certificate authority with a server certificate for `localhost` and
/// `127.0.0.1`, written as PEM files into a directory.
pub struct Pki {
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
    dir: PathBuf,
    prefix: String,
    /// The CA certificate (PEM file).
    pub ca_file: PathBuf,
    /// The server certificate (PEM file), signed by the CA.
    pub server_cert_file: PathBuf,
    /// The server key (PKCS#8 PEM file).
    pub server_key_file: PathBuf,
}

/// A client certificate and its key, as files and as DER.
pub struct ClientCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub cert_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
    /// Hex SHA-256 of the SubjectPublicKeyInfo (what `pinned_certs` lists).
    pub spki_sha256: String,
}

/// What goes into a client certificate.
#[derive(Default)]
pub struct ClientSpec<'a> {
    /// Subject attributes in certificate (ASN.1) order; RFC 2253 prints
    /// them reversed.
    pub subject: Vec<(DnType, &'a str)>,
    /// Email SANs.
    pub emails: Vec<&'a str>,
    /// DNS SANs (after the emails).
    pub dns: Vec<&'a str>,
    /// Valid only in 2000.
    pub expired: bool,
}

impl Pki {
    /// A new CA (`prefix` names it and its files) writing into `dir`.
    pub fn new(dir: &Path, prefix: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "nats-lite tests");
        dn.push(DnType::CommonName, format!("{prefix} test CA"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let ca_file = dir.join(format!("{prefix}-ca.pem"));
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();

        let mut pki = Pki {
            ca_cert,
            ca_key,
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            ca_file,
            server_cert_file: PathBuf::new(),
            server_key_file: PathBuf::new(),
        };
        let server_key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // Python >= 3.13 verifies strictly (VERIFY_X509_STRICT) and wants
        // the authority key identifier, as every real CA issues it.
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params
            .signed_by(&server_key, &pki.ca_cert, &pki.ca_key)
            .unwrap();
        pki.server_cert_file = dir.join(format!("{prefix}-server-cert.pem"));
        pki.server_key_file = dir.join(format!("{prefix}-server-key.pem"));
        std::fs::write(&pki.server_cert_file, cert.pem()).unwrap();
        std::fs::write(&pki.server_key_file, server_key.serialize_pem()).unwrap();
        pki
    }

    /// `ca_file` as a string, for config texts and flags.
    pub fn ca(&self) -> String {
        self.ca_file.to_str().unwrap().to_string()
    }

    /// `server_cert_file` as a string.
    pub fn cert(&self) -> String {
        self.server_cert_file.to_str().unwrap().to_string()
    }

    /// `server_key_file` as a string.
    pub fn key(&self) -> String {
        self.server_key_file.to_str().unwrap().to_string()
    }

    /// The `--tls --tlscert C --tlskey K` flags for this server certificate.
    pub fn tls_flags(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "--tlscert".into(),
            self.cert(),
            "--tlskey".into(),
            self.key(),
        ]
    }

    /// A client certificate with CN=`name`, signed by this CA.
    pub fn client(&self, name: &str) -> ClientCert {
        self.client_with(
            name,
            ClientSpec {
                subject: vec![(DnType::CommonName, name)],
                ..Default::default()
            },
        )
    }

    /// A client certificate as `spec` says, signed by this CA; its files
    /// are named after `name`.
    pub fn client_with(&self, name: &str, spec: ClientSpec) -> ClientCert {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for (ty, value) in &spec.subject {
            dn.push(ty.clone(), *value);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = spec
            .emails
            .iter()
            .map(|e| SanType::Rfc822Name((*e).try_into().unwrap()))
            .chain(
                spec.dns
                    .iter()
                    .map(|d| SanType::DnsName((*d).try_into().unwrap())),
            )
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if spec.expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2000, 12, 31);
        }
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        let cert_file = self.dir.join(format!("{}-{name}-cert.pem", self.prefix));
        let key_file = self.dir.join(format!("{}-{name}-key.pem", self.prefix));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let spki = ring::digest::digest(&ring::digest::SHA256, &key.public_key_der());
        ClientCert {
            cert_file,
            key_file,
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
            spki_sha256: spki.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// A rustls client configuration (no client certificate) offering only
    /// the key exchange `groups`.
    pub fn client_config_with_groups(
        &self,
        groups: &[rustls::NamedGroup],
        tls12_only: bool,
    ) -> Arc<rustls::ClientConfig> {
        let mut provider = rustls::crypto::ring::default_provider();
        provider.kx_groups.retain(|g| groups.contains(&g.name()));
        self.config_from(provider, None, tls12_only)
    }

    /// A rustls client configuration trusting this CA, presenting
    /// `client` when given, limited to TLS 1.2 when `tls12_only`.
    pub fn client_config(
        &self,
        client: Option<&ClientCert>,
        tls12_only: bool,
    ) -> Arc<rustls::ClientConfig> {
        self.config_from(rustls::crypto::ring::default_provider(), client, tls12_only)
    }

    fn config_from(
        &self,
        provider: rustls::crypto::CryptoProvider,
        client: Option<&ClientCert>,
        tls12_only: bool,
    ) -> Arc<rustls::ClientConfig> {
        let ca = std::fs::read(&self.ca_file).unwrap();
        let ca = rustls::pki_types::pem::PemObject::from_pem_slice(&ca).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let provider = Arc::new(provider);
        let versions: &[&'static rustls::SupportedProtocolVersion] = if tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        let config = match client {
            Some(c) => builder
                .with_client_auth_cert(
                    vec![c.cert_der.clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

/// A NATS connection over TLS (rustls), with deadline-bounded line reads.
pub struct TlsClient {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
    /// The INFO the server sent before the handshake (or after it, with
    /// handshake_first).
    pub info: serde_json::Value,
}

/// Read one plain-text line byte by byte (so nothing after it is consumed).
fn read_plain_line(sock: &mut TcpStream) -> Result<String, String> {
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match sock.read(&mut byte) {
            Ok(0) => {
                return Err(format!(
                    "closed before a line ended: {:?}",
                    String::from_utf8_lossy(&line)
                ))
            }
            Ok(_) => {
                if byte[0] == b'\n' {
                    let text = String::from_utf8_lossy(&line);
                    return Ok(text.trim_end_matches('\r').to_string());
                }
                line.push(byte[0]);
                if line.len() > 1 << 16 {
                    return Err("line too long".into());
                }
            }
            Err(e) => return Err(format!("reading a plain-text line: {e}")),
        }
    }
}

fn parse_info(line: &str) -> Result<serde_json::Value, String> {
    let json = line
        .strip_prefix("INFO ")
        .ok_or_else(|| format!("expected INFO, got {line:?}"))?;
    serde_json::from_str(json).map_err(|e| format!("INFO JSON: {e}: {json}"))
}

impl TlsClient {
    /// Connect to `addr`, read the plain-text INFO, then do the TLS
    /// handshake. `Err` says why the handshake (or the INFO) failed.
    pub fn connect(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<TlsClient, String> {
        let mut sock = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
        sock.set_nodelay(true).unwrap();
        let info = parse_info(&read_plain_line(&mut sock)?)?;
        let mut client = Self::handshake_on(sock, config)?;
        client.info = info;
        Ok(client)
    }

    /// TLS first (`handshake_first`): the handshake starts at once and INFO
    /// comes over TLS.
    pub fn connect_tls_first(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<TlsClient, String> {
        let sock = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
        sock.set_nodelay(true).unwrap();
        let mut client = Self::handshake_on(sock, config)?;
        let line = client.try_read_line(IO_TIMEOUT)?;
        client.info = parse_info(&line)?;
        Ok(client)
    }

    fn handshake_on(
        mut sock: TcpStream,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<TlsClient, String> {
        let name = ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)
                .map_err(|e| format!("TLS handshake: {e}"))?;
        }
        Ok(TlsClient {
            tls: rustls::StreamOwned::new(conn, sock),
            buf: Vec::new(),
            info: serde_json::Value::Null,
        })
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls.conn.protocol_version()
    }

    /// Write raw bytes; `Err` when the server has closed the connection.
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> Result<(), String> {
        self.tls
            .write_all(bytes.as_ref())
            .and_then(|()| self.tls.flush())
            .map_err(|e| e.to_string())
    }

    /// Write raw bytes.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.try_send(bytes).expect("send over TLS");
    }

    fn fill(&mut self, deadline: Instant) -> Result<(), String> {
        self.tls
            .sock
            .set_read_timeout(Some(time_left(deadline)?))
            .unwrap();
        read_some(&mut self.tls, &mut self.buf)
    }

    /// One line without `\r\n`, or an error (`timed out`, `connection
    /// closed`, `read error: ...`).
    pub fn try_read_line(&mut self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = take_line(&mut self.buf) {
                return Ok(line);
            }
            self.fill(deadline)?;
        }
    }

    /// One line; panics on EOF or after `IO_TIMEOUT`.
    pub fn read_line(&mut self) -> String {
        self.try_read_line(IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("read_line over TLS: {e}"))
    }

    /// Send `CONNECT {connect}` and PING; `Ok` once the PONG arrives,
    /// `Err` with what came instead.
    pub fn try_handshake(&mut self, connect: &str) -> Result<(), String> {
        self.try_send(format!("CONNECT {connect}\r\nPING\r\n"))?;
        let mut seen = Vec::new();
        loop {
            match self.try_read_line(IO_TIMEOUT) {
                Ok(l) if l == "PONG" => return Ok(()),
                Ok(l) if l == "+OK" => {}
                Ok(l) => seen.push(l),
                Err(e) => return Err(format!("{e}; lines before: {seen:?}")),
            }
        }
    }

    /// Send PING and return the lines before its PONG.
    pub fn flush(&mut self) -> Vec<String> {
        self.send("PING\r\n");
        let mut before = Vec::new();
        loop {
            match self.try_read_line(IO_TIMEOUT) {
                Ok(l) if l == "PONG" => return before,
                Ok(l) => before.push(l),
                Err(e) => panic!("flush over TLS: {e}; read before: {before:?}"),
            }
        }
    }

    /// Lines until the server closes (true) or `timeout` passes (false).
    pub fn read_until_closed(&mut self, timeout: Duration) -> (Vec<String>, bool) {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_read_line(left) {
                Ok(l) => lines.push(l),
                Err(e) if e == "timed out" => return (lines, false),
                Err(_) => return (lines, true),
            }
        }
    }
}

/// Connect over TLS and prove the session works: CONNECT, PING, PONG.
/// `Err` says where it failed (handshake, or no PONG).
pub fn tls_session(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    connect: &str,
) -> Result<TlsClient, String> {
    let mut c = TlsClient::connect(addr, config)?;
    c.try_handshake(connect)?;
    Ok(c)
}

/// Options of a Python `ssl` probe.
#[derive(Default)]
pub struct PyTls<'a> {
    /// `ssl.TLSVersion` member names, e.g. `"TLSv1_2"`.
    pub min_version: Option<&'a str>,
    pub max_version: Option<&'a str>,
    /// An OpenSSL cipher string for TLS 1.2 and below (`@SECLEVEL=0` is
    /// appended so that legacy suites and versions can be offered at all).
    pub ciphers: Option<&'a str>,
    /// `CONNECT` options sent after the handshake.
    pub connect: Option<&'a str>,
}

const PY_PROBE: &str = r#"
import socket, ssl, sys
host, port, minv, maxv, ciphers, connect = sys.argv[1:7]
try:
    s = socket.create_connection((host, int(port)), timeout=5)
    line = b""
    while not line.endswith(b"\n"):
        ch = s.recv(1)
        if not ch:
            raise Exception("closed before INFO ended")
        line += ch
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
    if minv:
        ctx.minimum_version = getattr(ssl.TLSVersion, minv)
    if maxv:
        ctx.maximum_version = getattr(ssl.TLSVersion, maxv)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.sendall(b"CONNECT " + connect.encode() + b"\r\nPING\r\n")
    got = b""
    while b"PONG\r\n" not in got:
        chunk = t.recv(4096)
        if not chunk:
            raise Exception("closed after handshake; got %r" % got)
        got += chunk
    print("OK", t.version(), t.cipher()[0])
except Exception as e:
    print("FAIL", type(e).__name__, e)
"#;

/// Connect with Python's `ssl` module as `opts` says; returns its one
/// output line: `OK <version> <cipher>` after a PING got its PONG, or
/// `FAIL <error>`.
pub fn python_tls_probe(addr: SocketAddr, opts: &PyTls) -> String {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-W",
        "ignore",
        "-c",
        PY_PROBE,
        &addr.ip().to_string(),
        &addr.port().to_string(),
        opts.min_version.unwrap_or(""),
        opts.max_version.unwrap_or(""),
        opts.ciphers.unwrap_or(""),
        opts.connect.unwrap_or(r#"{"verbose":false}"#),
    ]);
    let out = run_with_deadline(cmd, Duration::from_secs(15));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        text.starts_with("OK ") || text.starts_with("FAIL "),
        "python probe: {text:?}; stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}
