//! `top`'s data side, apart from any drawing (as nats-top's
//! `util/toputils.go`): fetch `/varz` and `/connz` from a monitoring port
//! with ureq, and turn two consecutive polls into rates. The rate
//! arithmetic is pure and unit-tested; only [`Engine::poll`] does I/O.
//! Every string fetched is made printable before anything draws it.

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Deserialize;

use crate::printable::{printable, printable_json};

/// How long one HTTP request may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest reply body accepted: a `/connz` of 1,024 connections (top's
/// default -n) is about 1 MiB, with subscription lists a few more; a
/// rogue or broken endpoint that streams without end is cut off here.
const MAX_BODY: u64 = 32 * 1024 * 1024;

/// Sort keys `top` accepts: the server's `/connz` orders that need no
/// `state=closed`.
pub const SORT_OPTIONS: &[&str] = &[
    "cid",
    "start",
    "subs",
    "pending",
    "msgs_to",
    "msgs_from",
    "bytes_to",
    "bytes_from",
    "last",
    "idle",
    "uptime",
    "rtt",
];

/// True when `s` is a sort key `top` accepts.
pub fn is_valid_sort(s: &str) -> bool {
    SORT_OPTIONS.contains(&s)
}

/// The fields of `/varz` that `top` shows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Varz {
    /// Server id.
    #[serde(default, rename = "server_id")]
    pub id: String,
    /// Server name.
    #[serde(default, rename = "server_name")]
    pub name: String,
    /// Version.
    #[serde(default)]
    pub version: String,
    /// Uptime as the server prints it.
    #[serde(default)]
    pub uptime: String,
    /// When the reply was made (RFC 3339).
    #[serde(default)]
    pub now: String,
    /// Resident memory in bytes.
    #[serde(default)]
    pub mem: i64,
    /// CPU percentage.
    #[serde(default)]
    pub cpu: f64,
    /// Slow consumers since start.
    #[serde(default)]
    pub slow_consumers: i64,
    /// Messages in.
    #[serde(default)]
    pub in_msgs: i64,
    /// Messages out.
    #[serde(default)]
    pub out_msgs: i64,
    /// Bytes in.
    #[serde(default)]
    pub in_bytes: i64,
    /// Bytes out.
    #[serde(default)]
    pub out_bytes: i64,
    /// Open client connections.
    #[serde(default)]
    pub connections: i64,
    /// Subscriptions.
    #[serde(default)]
    pub subscriptions: i64,
    /// Routes.
    #[serde(default)]
    pub routes: i64,
    /// The cluster's client URLs (`host:port`).
    #[serde(default)]
    pub connect_urls: Vec<String>,
    /// The `cluster` block.
    #[serde(default)]
    pub cluster: VarzCluster,
}

/// The part of `/varz`'s `cluster` block `top --discover` reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VarzCluster {
    /// The other servers' monitoring URLs (nats-lite only).
    #[serde(default)]
    pub monitor_urls: Vec<String>,
}

/// The fields of `/connz` that `top` shows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Connz {
    /// Connections in the reply.
    #[serde(default)]
    pub num_connections: usize,
    /// The connections.
    #[serde(default)]
    pub connections: Vec<ConnInfo>,
}

/// One connection as `top` shows it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnInfo {
    /// Connection id.
    pub cid: u64,
    /// Peer IP.
    #[serde(default)]
    pub ip: String,
    /// Peer port.
    #[serde(default)]
    pub port: u16,
    /// Client name.
    #[serde(default)]
    pub name: String,
    /// Client language.
    #[serde(default)]
    pub lang: String,
    /// Client library version.
    #[serde(default)]
    pub version: String,
    /// Number of subscriptions.
    #[serde(default, rename = "subscriptions")]
    pub num_subs: u32,
    /// Pending bytes.
    #[serde(default, rename = "pending_bytes")]
    pub pending: i64,
    /// Messages from the client.
    #[serde(default)]
    pub in_msgs: i64,
    /// Messages to the client.
    #[serde(default)]
    pub out_msgs: i64,
    /// Bytes from the client.
    #[serde(default)]
    pub in_bytes: i64,
    /// Bytes to the client.
    #[serde(default)]
    pub out_bytes: i64,
    /// Uptime as the server prints it.
    #[serde(default)]
    pub uptime: String,
    /// Last activity (RFC 3339).
    #[serde(default)]
    pub last_activity: String,
    /// Subscribed subjects (`subs=1`).
    #[serde(default, rename = "subscriptions_list")]
    pub subs: Vec<String>,
}

/// Per-second rates between two polls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// Messages in per second.
    pub in_msgs: f64,
    /// Messages out per second.
    pub out_msgs: f64,
    /// Bytes in per second.
    pub in_bytes: f64,
    /// Bytes out per second.
    pub out_bytes: f64,
    /// Per connection (by cid), for connections seen in both polls.
    pub connections: HashMap<u64, ConnRates>,
}

/// One connection's rates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConnRates {
    /// Messages from it per second.
    pub in_msgs: f64,
    /// Messages to it per second.
    pub out_msgs: f64,
    /// Bytes from it per second.
    pub in_bytes: f64,
    /// Bytes to it per second.
    pub out_bytes: f64,
}

/// One poll: the replies and the rates since the previous poll.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// `/varz`.
    pub varz: Varz,
    /// `/connz`.
    pub connz: Connz,
    /// Rates since the previous poll (zero on the first).
    pub rates: Rates,
}

/// Rates from the previous poll to this one, over the time between the
/// two replies' `now` (zero on the first poll or when time did not move).
pub fn compute_rates(prev: Option<&Stats>, varz: &Varz, connz: &Connz) -> Rates {
    let Some(prev) = prev else {
        return Rates::default();
    };
    let secs = match (parse_rfc3339(&varz.now), parse_rfc3339(&prev.varz.now)) {
        (Some(now), Some(then)) if now > then => (now - then) as f64 / 1e9,
        _ => return Rates::default(),
    };
    let rate = |now: i64, then: i64| (now.saturating_sub(then)).max(0) as f64 / secs;
    let before: HashMap<u64, &ConnInfo> =
        prev.connz.connections.iter().map(|c| (c.cid, c)).collect();
    let connections = connz
        .connections
        .iter()
        .filter_map(|c| {
            let p = before.get(&c.cid)?;
            Some((
                c.cid,
                ConnRates {
                    in_msgs: rate(c.in_msgs, p.in_msgs),
                    out_msgs: rate(c.out_msgs, p.out_msgs),
                    in_bytes: rate(c.in_bytes, p.in_bytes),
                    out_bytes: rate(c.out_bytes, p.out_bytes),
                },
            ))
        })
        .collect();
    Rates {
        in_msgs: rate(varz.in_msgs, prev.varz.in_msgs),
        out_msgs: rate(varz.out_msgs, prev.varz.out_msgs),
        in_bytes: rate(varz.in_bytes, prev.varz.in_bytes),
        out_bytes: rate(varz.out_bytes, prev.varz.out_bytes),
        connections,
    }
}

/// Unix nanoseconds of an RFC 3339 time (`2006-01-02T15:04:05.999Z`,
/// `...+01:00`), as Go's `time.Time` JSON.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let text = &frac[..digits.min(9)];
        nanos = format!("{text:0<9}").parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = crate::civil::days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(secs * 1_000_000_000 + nanos)
}

/// Why a poll failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Nothing answers there (refused, timed out, no such host).
    Unreachable(String),
    /// A NATS server's client port answered with `INFO`: wrong port.
    ClientPort(String),
    /// The server answered with an HTTP error.
    Status(u16, String),
    /// The reply was not the JSON expected.
    BadReply(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Unreachable(m) => write!(f, "{m}"),
            FetchError::ClientPort(url) => write!(
                f,
                "{url} is a NATS client port, not the monitoring port \
                 (start the server with -m PORT and point -m at that port)"
            ),
            FetchError::Status(code, body) => write!(f, "stats request failed {code}: {body:?}"),
            FetchError::BadReply(m) => write!(f, "could not decode the server's reply: {m}"),
        }
    }
}

/// Where to poll and what to ask for.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How many connections to ask for.
    pub limit: usize,
    /// Sort key.
    pub sort: String,
    /// Ask for subscription lists.
    pub subs: bool,
}

/// Polls one monitoring endpoint and keeps the previous poll for rates.
pub struct Engine {
    agent: ureq::Agent,
    /// `http://host:port` or `https://host:port`.
    pub base: String,
    host: String,
    port: u16,
    /// What to ask for; may change between polls.
    pub settings: Settings,
    /// The `Authorization` header sent with every request, if any.
    pub authorization: Option<String>,
    last: Option<Stats>,
}

/// TLS for `-ms`: a CA file to trust instead of the web roots, or no
/// verification at all.
#[derive(Debug, Clone, Default)]
pub struct TlsChoice {
    /// Trust the certificates in this PEM file.
    pub ca_file: Option<std::path::PathBuf>,
    /// Do not verify the server's certificate.
    pub insecure: bool,
}

impl Engine {
    /// An engine for `host:port`, over HTTPS when `tls` is given.
    ///
    /// # Errors
    ///
    /// The CA file cannot be read.
    pub fn new(
        host: &str,
        port: u16,
        tls: Option<&TlsChoice>,
        settings: Settings,
    ) -> Result<Engine, String> {
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0);
        if let Some(tls) = tls {
            let mut t = ureq::tls::TlsConfig::builder().disable_verification(tls.insecure);
            if let Some(ca) = &tls.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| format!("cannot read CA file {}: {e}", ca.display()))?;
                let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(format!("no certificate in CA file {}", ca.display()));
                }
                t = t.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
            }
            config = config.tls_config(t.build());
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        Ok(Engine {
            agent: config.build().into(),
            base: format!("{scheme}://{shown_host}:{port}"),
            host: host.to_string(),
            port,
            settings,
            authorization: None,
            last: None,
        })
    }

    /// The `/connz` path with the current settings (nats-top's query).
    pub fn connz_path(&self) -> String {
        let mut p = format!(
            "/connz?limit={}&sort={}",
            self.settings.limit, self.settings.sort
        );
        if self.settings.subs {
            p.push_str("&subs=1");
        }
        p
    }

    /// Fetch `/varz` and `/connz` and compute rates against the previous poll.
    ///
    /// # Errors
    ///
    /// See [`FetchError`].
    pub fn poll(&mut self) -> Result<Stats, FetchError> {
        let varz: Varz = self.get_json("/varz")?;
        let connz: Connz = self.get_json(&self.connz_path())?;
        let rates = compute_rates(self.last.as_ref(), &varz, &connz);
        let stats = Stats { varz, connz, rates };
        self.last = Some(stats.clone());
        Ok(stats)
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, FetchError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let mut resp = match req.call() {
            Ok(r) => r,
            Err(e) => return Err(self.explain(&url, &e)),
        };
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| FetchError::BadReply(format!("{url}: {e}")))?;
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            let first: String = text.lines().next().unwrap_or("").chars().take(80).collect();
            return Err(FetchError::Status(status, printable(&first).into_owned()));
        }
        // Every string is made printable here, so nothing drawn later can
        // carry a terminal escape sequence from the network.
        let bad = |e: serde_json::Error| FetchError::BadReply(format!("{url}: {e}"));
        let mut json: serde_json::Value = serde_json::from_slice(&body).map_err(bad)?;
        printable_json(&mut json);
        serde_json::from_value(json).map_err(bad)
    }

    /// Turn a transport error into a clear one: a NATS client port answers
    /// with `INFO` instead of HTTP (nats-top#103 shows the cryptic error
    /// users got otherwise).
    fn explain(&self, url: &str, e: &ureq::Error) -> FetchError {
        if let Some(addr) = self.resolve() {
            if greets_with_info(addr) {
                return FetchError::ClientPort(self.base.clone());
            }
        }
        FetchError::Unreachable(format!("could not get stats from {url}: {e}"))
    }

    fn resolve(&self) -> Option<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()?
            .next()
    }
}

/// True when a plain TCP connection to `addr` is greeted with `INFO `.
pub fn greets_with_info(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 5];
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    &buf[..got] == b"INFO "
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varz(now: &str, in_msgs: i64, out_bytes: i64) -> Varz {
        Varz {
            now: now.into(),
            in_msgs,
            out_bytes,
            ..Varz::default()
        }
    }

    fn conn(cid: u64, in_msgs: i64) -> ConnInfo {
        ConnInfo {
            cid,
            in_msgs,
            ..ConnInfo::default()
        }
    }

    #[test]
    fn parses_go_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00-00:30"),
            Some(1_709_166_600 * 1_000_000_000)
        );
        assert_eq!(parse_rfc3339("nonsense"), None);
        assert_eq!(parse_rfc3339(""), None);
        assert_eq!(parse_rfc3339("2023-13-14T22:13:20Z"), None);
    }

    #[test]
    fn first_poll_has_no_rates() {
        let r = compute_rates(None, &varz("2024-01-01T00:00:00Z", 5, 0), &Connz::default());
        assert_eq!(r, Rates::default());
    }

    #[test]
    fn rates_are_per_second_between_replies() {
        let prev = Stats {
            varz: varz("2024-01-01T00:00:00Z", 100, 1000),
            connz: Connz {
                connections: vec![conn(1, 10), conn(2, 0)],
                ..Connz::default()
            },
            rates: Rates::default(),
        };
        let connz = Connz {
            connections: vec![conn(1, 30), conn(3, 7)],
            ..Connz::default()
        };
        let r = compute_rates(
            Some(&prev),
            &varz("2024-01-01T00:00:02Z", 300, 5000),
            &connz,
        );
        assert_eq!(r.in_msgs, 100.0);
        assert_eq!(r.out_bytes, 2000.0);
        assert_eq!(r.connections[&1].in_msgs, 10.0);
        assert!(
            !r.connections.contains_key(&3),
            "new connection: no rate yet"
        );
        // Time that does not move, or counters that go back (a restart), give no nonsense.
        let same = compute_rates(Some(&prev), &varz("2024-01-01T00:00:00Z", 300, 0), &connz);
        assert_eq!(same, Rates::default());
        let back = compute_rates(Some(&prev), &varz("2024-01-01T00:00:01Z", 0, 0), &connz);
        assert_eq!(back.in_msgs, 0.0);
    }

    #[test]
    fn sort_keys() {
        assert!(is_valid_sort("msgs_to"));
        assert!(!is_valid_sort("stop"));
        assert!(!is_valid_sort("bogus"));
    }

    #[test]
    fn connz_query_as_nats_top() {
        let mut e = Engine::new(
            "127.0.0.1",
            1,
            None,
            Settings {
                limit: 5,
                sort: "subs".into(),
                subs: false,
            },
        )
        .unwrap();
        assert_eq!(e.base, "http://127.0.0.1:1");
        assert_eq!(e.connz_path(), "/connz?limit=5&sort=subs");
        e.settings.subs = true;
        assert_eq!(e.connz_path(), "/connz?limit=5&sort=subs&subs=1");
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = FetchError::ClientPort("http://127.0.0.1:4222".into());
        assert!(e
            .to_string()
            .contains("is a NATS client port, not the monitoring port"));
    }
}
