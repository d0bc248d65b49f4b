//! One HTTP request to a target, with ureq: send, read at most
//! [`MAX_BODY`] of the body, time it, and hand the response to
//! [`check::judge`](super::check::judge). Transport failures (refused,
//! timeout, TLS) become faults here.

use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use super::check::{judge, Fault, Response, Verdict, MAX_BODY};
use super::config::Target;

/// What one check found.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// When the request was sent.
    pub time: SystemTime,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// How long it took (to the error, for a failed request).
    pub elapsed: Duration,
    /// The verdict.
    pub verdict: Verdict,
}

/// The HTTP client of one target: its timeout and TLS settings.
///
/// # Errors
///
/// The CA file cannot be read or holds no certificate.
pub fn agent(target: &Target) -> Result<ureq::Agent, String> {
    let mut tls = ureq::tls::TlsConfig::builder().disable_verification(target.insecure);
    if let Some(ca) = &target.cacert {
        let pem =
            std::fs::read(ca).map_err(|e| format!("cannot read CA file {}: {e}", ca.display()))?;
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(format!("no certificate in CA file {}", ca.display()));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(target.timeout))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .user_agent(concat!("nats-lite-watch-http/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent())
}

/// Check `target` once.
pub fn probe(agent: &ureq::Agent, target: &Target) -> CheckResult {
    let time = SystemTime::now();
    let start = Instant::now();
    match fetch(agent, target, start) {
        Ok(resp) => CheckResult {
            time,
            status: Some(resp.status),
            // The time the verdict judged, so "slow" and the line agree.
            elapsed: resp.elapsed,
            verdict: judge(&target.expect, &resp),
        },
        Err(fault) => CheckResult {
            time,
            status: None,
            elapsed: start.elapsed(),
            verdict: Verdict::Fail(fault),
        },
    }
}

fn fetch(
    agent: &ureq::Agent,
    target: &Target,
    start: Instant,
) -> std::result::Result<Response, Fault> {
    let mut req = ureq::http::Request::builder()
        .method(target.method.as_str())
        .uri(target.url.as_str());
    for (k, v) in &target.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let sent = match &target.body {
        Some(body) => req
            .body(body.as_bytes())
            .map(|r| agent.run(r))
            .map_err(|e| Fault::Http(e.to_string()))?,
        None => req
            .body(())
            .map(|r| agent.run(r))
            .map_err(|e| Fault::Http(e.to_string()))?,
    };
    let resp = sent.map_err(|e| fault_of(&e, target.timeout))?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let mut reader = resp.into_body().into_reader().take(MAX_BODY as u64 + 1);
    if let Err(e) = reader.read_to_end(&mut body) {
        return Err(io_fault(&e, target.timeout, "reading the body"));
    }
    let truncated = body.len() > MAX_BODY;
    body.truncate(MAX_BODY);
    Ok(Response {
        status,
        body,
        truncated,
        elapsed: start.elapsed(),
    })
}

/// The fault a ureq error stands for.
fn fault_of(e: &ureq::Error, timeout: Duration) -> Fault {
    match e {
        ureq::Error::Timeout(_) => Fault::Timeout(timeout),
        ureq::Error::Io(io) => io_fault(io, timeout, "connect error"),
        ureq::Error::HostNotFound => Fault::Connect("host not found".into()),
        ureq::Error::ConnectionFailed => Fault::Connect("connection failed".into()),
        ureq::Error::Tls(m) => Fault::Tls((*m).to_string()),
        ureq::Error::Rustls(r) => Fault::Tls(r.to_string()),
        other => Fault::Http(other.to_string()),
    }
}

/// An I/O error as a fault: timeouts apart, the kind's short text for the
/// usual connection failures, the full text otherwise.
fn io_fault(e: &std::io::Error, timeout: Duration, context: &str) -> Fault {
    use std::io::ErrorKind as K;
    // ureq hands its own errors (a timeout while reading the body) back
    // through io::Error.
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        return fault_of(inner, timeout);
    }
    // A failed TLS handshake comes as an I/O error around rustls's.
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return Fault::Tls(tls.to_string());
    }
    match e.kind() {
        K::TimedOut | K::WouldBlock => Fault::Timeout(timeout),
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::AddrNotAvailable
        | K::BrokenPipe
        | K::UnexpectedEof => Fault::Connect(e.kind().to_string()),
        _ if context == "connect error" => Fault::Connect(e.to_string()),
        _ => Fault::Http(format!("{context}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn errors_to_faults() {
        let t = Duration::from_secs(3);
        assert_eq!(
            fault_of(
                &ureq::Error::Io(Error::from(ErrorKind::ConnectionRefused)),
                t
            )
            .to_string(),
            "connect error: connection refused"
        );
        assert_eq!(
            fault_of(&ureq::Error::Timeout(ureq::Timeout::Global), t),
            Fault::Timeout(t)
        );
        assert_eq!(
            io_fault(&Error::from(ErrorKind::TimedOut), t, "reading the body"),
            Fault::Timeout(t)
        );
        let wrapped = Error::other(ureq::Error::Timeout(ureq::Timeout::RecvBody));
        assert_eq!(io_fault(&wrapped, t, "reading the body"), Fault::Timeout(t));
        let tls = Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            fault_of(&ureq::Error::Io(tls), t).to_string(),
            "TLS error: invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(
            fault_of(&ureq::Error::HostNotFound, t).to_string(),
            "connect error: host not found"
        );
    }
}
