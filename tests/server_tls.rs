//! TLS for client connections (reliability-cases.md T02-T04, anchors.md
//! 1.1/1.2 TLS rows): INFO in plain text, then the handshake; TLS from
//! flags and from a config file; client verification; refused protocol
//! versions and cipher suites; junk on the TLS port; `allow_non_tls`,
//! `pinned_certs`, `min_version` and `handshake_first`.
//!
//! Certificates come from rcgen (`tls_support::Pki`); the clients are
//! rustls, or Python's `ssl` where a version or cipher suite must be forced.

use std::time::{Duration, Instant};

use rcgen::DnType;

use crate::config_support::{start_lite_with_conf, start_with_conf, ConfDir};
use crate::tls_support::{python_tls_probe, tls_session, ClientSpec, Pki, PyTls, TlsClient};
use crate::util::{skip_under_reference, ServerProcess, IO_TIMEOUT};

const QUIET: &str = r#"{"verbose":false}"#;
const TLS_REQUIRED: &str = "-ERR 'Secure Connection - TLS Required'";

/// A server with `--tls --tlscert --tlskey` (plus `extra`).
fn start_tls_flags(pki: &Pki, extra: &[&str]) -> ServerProcess {
    let mut args = pki.tls_flags();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServerProcess::start_selected(&args)
}

/// Config text with a `tls` block holding the server certificate and `more`.
fn tls_conf(pki: &Pki, more: &str) -> String {
    format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n{more}\n}}\n",
        pki.cert(),
        pki.key()
    )
}

/// `tls_session` must fail: the handshake, or the first PING after it (a
/// TLS 1.3 client finishes its side before the server checks its
/// certificate).
fn assert_refused(result: Result<TlsClient, String>, what: &str) {
    if let Ok(c) = result {
        panic!(
            "{what}: session worked (version {:?}), want it refused; info {}",
            c.version(),
            c.info
        );
    }
}

#[test]
fn tls_from_flags_info_and_round_trip() {
    let dir = ConfDir::new("tls-flags");
    let pki = Pki::new(dir.path(), "t");
    let server = start_tls_flags(&pki, &[]);
    let mut c = tls_session(server.addr, pki.client_config(None, false), QUIET).unwrap();
    assert_eq!(c.info["tls_required"], true, "{}", c.info);
    assert!(c.info.get("tls_verify").is_none(), "{}", c.info);
    assert!(c.info.get("tls_available").is_none(), "{}", c.info);
    c.send("SUB secure 1\r\nPUB secure 5\r\nhello\r\n");
    assert_eq!(c.flush(), ["MSG secure 1 5", "hello"]);
    // A second client over TLS 1.2 gets messages from the first.
    let mut c2 = tls_session(server.addr, pki.client_config(None, true), QUIET).unwrap();
    assert_eq!(c2.version(), Some(rustls::ProtocolVersion::TLSv1_2));
    c2.send("SUB other 1\r\n");
    c2.flush();
    c.send("PUB other 2\r\nhi\r\n");
    c.flush();
    assert_eq!(c2.flush(), ["MSG other 1 2", "hi"]);
}

/// Plain-text protocol on a TLS port is never answered: the server closes
/// the connection. (nats-server 2.9.10 closes it without a word; see the
/// next test for nats-lite's error line.)
#[test]
fn plaintext_on_tls_port_is_closed() {
    let dir = ConfDir::new("tls-plain");
    let pki = Pki::new(dir.path(), "t");
    let server = start_tls_flags(&pki, &[]);
    let mut c = server.connect();
    assert_eq!(c.read_info()["tls_required"], true);
    c.send("CONNECT {}\r\nPING\r\n");
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        closed && (lines.is_empty() || lines == [TLS_REQUIRED]),
        "got {lines:?}, closed={closed}"
    );
}

/// nats-lite says why: `-ERR 'Secure Connection - TLS Required'`, then
/// closes (tutorial-2-tls.conf's comment).
#[test]
fn plaintext_on_tls_port_gets_tls_required_error() {
    if skip_under_reference("nats-server 2.9.10 closes without an -ERR") {
        return;
    }
    let dir = ConfDir::new("tls-plain-err");
    let pki = Pki::new(dir.path(), "t");
    let server = start_tls_flags(&pki, &[]);
    let mut c = server.connect();
    c.read_info();
    c.send("CONNECT {}\r\nPING\r\n");
    c.expect_err_and_close(TLS_REQUIRED, false);
}

/// A client that never starts the handshake is closed at the TLS timeout
/// (0.5 s here).
#[test]
fn tls_handshake_timeout_closes() {
    let dir = ConfDir::new("tls-timeout");
    let pki = Pki::new(dir.path(), "t");
    let server = start_with_conf(&dir, &tls_conf(&pki, "  timeout: 0.5"), &[]);
    let mut c = server.connect();
    let started = Instant::now();
    c.read_info();
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    let took = started.elapsed();
    assert!(
        closed && (lines.is_empty() || lines == [TLS_REQUIRED]),
        "got {lines:?}, closed={closed}"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}, want about 0.5s"
    );
}

#[test]
fn tls10_and_tls11_refused() {
    let dir = ConfDir::new("tls-old");
    let pki = Pki::new(dir.path(), "t");
    let server = start_tls_flags(&pki, &[]);
    for version in ["TLSv1", "TLSv1_1"] {
        let got = python_tls_probe(
            server.addr,
            &PyTls {
                min_version: Some(version),
                max_version: Some(version),
                ..Default::default()
            },
        );
        assert!(got.starts_with("FAIL "), "{version}: {got}");
    }
    // The same probe with TLS 1.2 works (the refusal is the version's).
    let got = python_tls_probe(
        server.addr,
        &PyTls {
            max_version: Some("TLSv1_2"),
            ..Default::default()
        },
    );
    assert!(got.starts_with("OK TLSv1.2 "), "{got}");
    let got = python_tls_probe(server.addr, &PyTls::default());
    assert!(got.starts_with("OK TLSv1.3 "), "{got}");
}

/// T02: `--tlsverify --tlscacert`: no client certificate, one from another
/// CA, and an expired one are refused; a valid one works. INFO says
/// `tls_verify`.
#[test]
fn t02_tlsverify_requires_valid_client_cert() {
    let dir = ConfDir::new("t02");
    let pki = Pki::new(dir.path(), "t");
    let other = Pki::new(dir.path(), "other");
    let good = pki.client("good");
    let foreign = other.client("foreign");
    let expired = pki.client_with(
        "expired",
        ClientSpec {
            subject: vec![(DnType::CommonName, "expired")],
            expired: true,
            ..Default::default()
        },
    );
    let ca = pki.ca();
    let server = start_tls_flags(&pki, &["--tlsverify", "--tlscacert", &ca]);
    for tls12 in [false, true] {
        assert_refused(
            tls_session(server.addr, pki.client_config(None, tls12), QUIET),
            &format!("no client certificate (tls12_only={tls12})"),
        );
        assert_refused(
            tls_session(server.addr, pki.client_config(Some(&foreign), tls12), QUIET),
            &format!("certificate from another CA (tls12_only={tls12})"),
        );
        assert_refused(
            tls_session(server.addr, pki.client_config(Some(&expired), tls12), QUIET),
            &format!("expired certificate (tls12_only={tls12})"),
        );
        let mut c = tls_session(server.addr, pki.client_config(Some(&good), tls12), QUIET)
            .unwrap_or_else(|e| panic!("valid certificate (tls12_only={tls12}): {e}"));
        assert_eq!(c.info["tls_required"], true, "{}", c.info);
        assert_eq!(c.info["tls_verify"], true, "{}", c.info);
        c.send("SUB v 1\r\nPUB v 2\r\nok\r\n");
        assert_eq!(c.flush(), ["MSG v 1 2", "ok"]);
    }
}

/// Resident set size of a process, in KiB (linux).
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// T03: 100 connections each write 1 MiB of junk to the TLS port: the
/// server's RSS grows by less than 50 MB and it still serves TLS clients.
#[cfg(target_os = "linux")]
#[test]
fn t03_junk_on_tls_port_memory_bounded() {
    use std::io::Write;
    let dir = ConfDir::new("t03");
    let pki = Pki::new(dir.path(), "t");
    let server = start_tls_flags(&pki, &[]);
    // Warm up the TLS stack once before the baseline.
    tls_session(server.addr, pki.client_config(None, false), QUIET).unwrap();
    let before = rss_kib(server.pid());
    let mut junk = vec![0u8; 1 << 20];
    let mut x: u32 = 0x9e37_79b9;
    for b in junk.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    // A TLS handshake record header first, so the junk gets past the
    // first byte check.
    junk[..5].copy_from_slice(&[0x16, 0x03, 0x01, 0x40, 0x00]);
    let junk = std::sync::Arc::new(junk);
    let addr = server.addr;
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let junk = junk.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let mut s = std::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
                    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
                    // The server may close early: a failed write is fine.
                    let _ = s.write_all(&junk);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let after = rss_kib(server.pid());
    let grown_mb = after.saturating_sub(before) / 1024;
    assert!(
        grown_mb < 50,
        "RSS grew by {grown_mb} MiB ({before} KiB -> {after} KiB)"
    );
    tls_session(server.addr, pki.client_config(None, false), QUIET)
        .expect("server still serves TLS clients");
}

/// CBC suites (none of which the server may accept) and a GCM control.
const CBC_ONLY: &str =
    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:AES128-SHA:AES256-SHA";
const GCM: &str = "ECDHE-ECDSA-AES128-GCM-SHA256";

fn assert_cbc_refused_gcm_accepted(server: &ServerProcess, how: &str) {
    let cbc = python_tls_probe(
        server.addr,
        &PyTls {
            max_version: Some("TLSv1_2"),
            ciphers: Some(CBC_ONLY),
            ..Default::default()
        },
    );
    assert!(cbc.starts_with("FAIL "), "TLS from {how}, CBC only: {cbc}");
    let gcm = python_tls_probe(
        server.addr,
        &PyTls {
            max_version: Some("TLSv1_2"),
            ciphers: Some(GCM),
            ..Default::default()
        },
    );
    assert!(
        gcm.starts_with("OK TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"),
        "TLS from {how}, GCM: {gcm}"
    );
}

/// T04 (CVE-2021-32026): TLS set by flags and TLS set by a config file
/// both refuse a TLS 1.2 client offering only CBC suites.
#[test]
fn t04_cbc_suites_refused_from_flags_and_config() {
    let dir = ConfDir::new("t04");
    let pki = Pki::new(dir.path(), "t");
    let server = start_tls_flags(&pki, &[]);
    assert_cbc_refused_gcm_accepted(&server, "flags");
    drop(server);
    let server = start_with_conf(&dir, &tls_conf(&pki, ""), &[]);
    assert_cbc_refused_gcm_accepted(&server, "a config file");
    drop(server);
    // Flags on top of a config file's tls block.
    let conf = dir.write("other.conf", &tls_conf(&pki, "  timeout: 2"));
    let mut args = vec!["-c".to_string(), conf];
    args.extend(pki.tls_flags());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = ServerProcess::start_selected(&args);
    assert_cbc_refused_gcm_accepted(&server, "a config file and flags");
}

/// `allow_non_tls`: INFO offers TLS (`tls_available`) without requiring
/// it; plain-text and TLS clients both work and talk to each other.
#[test]
fn allow_non_tls_accepts_plain_and_tls_clients() {
    let dir = ConfDir::new("tls-mixed");
    let pki = Pki::new(dir.path(), "t");
    let server = start_with_conf(
        &dir,
        &format!("{}allow_non_tls: true\n", tls_conf(&pki, "")),
        &[],
    );
    let mut plain = server.connect();
    let info = plain.handshake(QUIET);
    assert_eq!(info["tls_available"], true, "{info}");
    assert!(
        info.get("tls_required").is_none() || info["tls_required"] == false,
        "{info}"
    );
    plain.send("SUB mixed 1\r\n");
    plain.flush();
    let mut tls = tls_session(server.addr, pki.client_config(None, false), QUIET).unwrap();
    tls.send("PUB mixed 3\r\nabc\r\n");
    tls.flush();
    assert_eq!(plain.flush(), ["MSG mixed 1 3", "abc"]);
}

/// `pinned_certs`: only client keys whose SHA-256 is listed are accepted,
/// even among certificates of the trusted CA.
#[test]
fn pinned_certs_limit_client_keys() {
    let dir = ConfDir::new("tls-pinned");
    let pki = Pki::new(dir.path(), "t");
    let pinned = pki.client("pinned");
    let unpinned = pki.client("unpinned");
    let conf = tls_conf(
        &pki,
        &format!(
            "  ca_file: \"{}\"\n  verify: true\n  pinned_certs: [\"{}\"]",
            pki.ca(),
            pinned.spki_sha256
        ),
    );
    let server = start_with_conf(&dir, &conf, &[]);
    tls_session(server.addr, pki.client_config(Some(&pinned), false), QUIET)
        .expect("pinned client");
    assert_refused(
        tls_session(
            server.addr,
            pki.client_config(Some(&unpinned), false),
            QUIET,
        ),
        "unpinned client",
    );
}

/// `min_version: "1.3"` refuses TLS 1.2 clients.
#[test]
fn min_version_13_refuses_tls12() {
    if skip_under_reference("nats-server 2.9.10 refuses min_version as an unknown field") {
        return;
    }
    let dir = ConfDir::new("tls-min13");
    let pki = Pki::new(dir.path(), "t");
    let server = start_lite_with_conf(&dir, &tls_conf(&pki, "  min_version: \"1.3\""), &[]);
    assert_refused(
        tls_session(server.addr, pki.client_config(None, true), QUIET),
        "TLS 1.2 client",
    );
    let c = tls_session(server.addr, pki.client_config(None, false), QUIET).unwrap();
    assert_eq!(c.version(), Some(rustls::ProtocolVersion::TLSv1_3));
}

/// `handshake_first` (nats-server 2.10+): the TLS handshake comes first
/// and INFO is sent over TLS.
#[test]
fn handshake_first_sends_info_over_tls() {
    if skip_under_reference("handshake_first is newer than nats-server 2.9.10") {
        return;
    }
    let dir = ConfDir::new("tls-first");
    let pki = Pki::new(dir.path(), "t");
    let server = start_lite_with_conf(&dir, &tls_conf(&pki, "  handshake_first: true"), &[]);
    let mut c = TlsClient::connect_tls_first(server.addr, pki.client_config(None, false))
        .expect("TLS first");
    assert_eq!(c.info["tls_required"], true, "{}", c.info);
    c.try_handshake(QUIET).unwrap();
}

/// verify_and_map with identities beyond the seed's: every email SAN is
/// tried (not only the first), then DNS SANs, then the subject DN; a user
/// with a password is not a certificate identity.
#[test]
fn verify_and_map_identities() {
    let dir = ConfDir::new("tls-map");
    let pki = Pki::new(dir.path(), "t");
    let conf = format!(
        "{}authorization {{\n  users = [\n    {{user: \"second@nats.io\", permissions: {{publish: \"second\"}}}}\n    {{user: \"svc.example.com\", permissions: {{publish: \"dns\"}}}}\n    {{user: \"CN=withpass\", password: \"secret\"}}\n  ]\n}}\n",
        tls_conf(
            &pki,
            &format!("  ca_file: \"{}\"\n  verify_and_map: true", pki.ca())
        )
    );
    let server = start_with_conf(&dir, &conf, &[]);
    let cases: [(&str, ClientSpec, Option<&str>); 3] = [
        (
            "second-email",
            ClientSpec {
                subject: vec![(DnType::CommonName, "x")],
                emails: vec!["first@nats.io", "second@nats.io"],
                ..Default::default()
            },
            Some("second"),
        ),
        (
            "dns",
            ClientSpec {
                subject: vec![(DnType::CommonName, "y")],
                dns: vec!["svc.example.com"],
                ..Default::default()
            },
            Some("dns"),
        ),
        (
            "withpass",
            ClientSpec {
                subject: vec![(DnType::CommonName, "withpass")],
                ..Default::default()
            },
            None,
        ),
    ];
    for (name, spec, subject) in cases {
        let cert = pki.client_with(name, spec);
        let mut c = TlsClient::connect(server.addr, pki.client_config(Some(&cert), false))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        match subject {
            Some(subject) => {
                c.try_handshake(QUIET)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                c.send(format!("PUB {subject} 1\r\nx\r\nPUB other 1\r\nx\r\n"));
                assert_eq!(
                    c.flush(),
                    ["-ERR 'Permissions Violation for Publish to \"other\"'"],
                    "{name}"
                );
            }
            None => {
                c.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
                let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
                assert!(
                    lines == ["-ERR 'Authorization Violation'"] && closed,
                    "{name}: got {lines:?}, closed={closed}"
                );
            }
        }
    }
}

/// `curve_preferences` limits the key exchange groups: a client offering
/// only an unlisted group fails, one offering a listed group works.
#[test]
fn curve_preferences_limit_key_exchange() {
    let dir = ConfDir::new("tls-curves");
    let pki = Pki::new(dir.path(), "t");
    let server = start_with_conf(
        &dir,
        &tls_conf(&pki, "  curve_preferences: [\"CurveP384\"]"),
        &[],
    );
    for (group, works) in [
        (rustls::NamedGroup::X25519, false),
        (rustls::NamedGroup::secp256r1, false),
        (rustls::NamedGroup::secp384r1, true),
    ] {
        for tls12 in [false, true] {
            let config = pki.client_config_with_groups(&[group], tls12);
            let result = tls_session(server.addr, config, QUIET);
            if works {
                result.unwrap_or_else(|e| panic!("{group:?} tls12={tls12}: {e}"));
            } else {
                assert_refused(result, &format!("{group:?} tls12={tls12}"));
            }
        }
    }
}
