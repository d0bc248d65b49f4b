//! What servers tell each other about themselves: our route INFO and
//! CONNECT documents (their wire types are `protocol::route`'s), the INFO forwarded to the other routes when a route
//! is registered (so that a server joining through one seed meets every
//! member: spec §10.1), and the client URLs of the cluster that clients
//! get in their INFO `connect_urls`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

pub use crate::protocol::route::{RouteConnect, RouteInfo};

/// The INFO to forward to the other routes about a newly registered peer:
/// its own INFO with `ip` set (its advertised URL, or its TCP address with
/// its cluster port) and `ldm` cleared.
pub fn forwarded(info: &RouteInfo, peer: SocketAddr) -> RouteInfo {
    let mut f = info.clone();
    if f.ip.is_none() {
        f.ip = Some(format!(
            "nats-route://{}/",
            crate::server::net::display_addr(&peer.ip().to_string(), info.port)
        ));
    }
    f
}

/// `host` and `port` of a route URL such as `nats-route://1.2.3.4:6222/`.
pub fn url_host_port(url: &str) -> Option<(String, u16)> {
    let r = crate::conf::parse_route_url_flag(url).ok()?;
    Some((r.host, r.port?))
}

/// The client URL(s) of this server, as `host:port`: `client_advertise`
/// when set, else the listen address, with an unspecified address replaced
/// by this host's primary address (loopback when there is none).
pub fn own_client_urls(advertise: Option<&str>, host: &str, port: u16) -> Vec<String> {
    if let Some(a) = advertise {
        let a = a.trim_start_matches("nats://");
        let has_port = a.rsplit_once(':').is_some_and(|(h, p)| {
            p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']'))
        });
        return vec![if has_port {
            a.to_string()
        } else {
            format!("{a}:{port}")
        }];
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: Option<IpAddr> = host.parse().ok();
    let shown = match ip {
        Some(ip) if ip.is_unspecified() => primary_ip().to_string(),
        _ => host.to_string(),
    };
    vec![crate::server::net::display_addr(&shown, port)]
}

/// The address this host would use to reach the outside (no packet is
/// sent: a UDP socket is only connected); loopback when offline.
fn primary_ip() -> IpAddr {
    static IP: std::sync::OnceLock<IpAddr> = std::sync::OnceLock::new();
    *IP.get_or_init(probe_primary_ip)
}

fn probe_primary_ip() -> IpAddr {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_info_gets_an_ip() {
        let info: RouteInfo = serde_json::from_str(
            r#"{"server_id":"NFAKE","server_name":"f","proto":2,"cluster":"c1","host":"0.0.0.0","port":7000,"nonce":"x","lnoc":true}"#,
        )
        .unwrap();
        let f = forwarded(&info, "10.1.2.3:5555".parse().unwrap());
        assert_eq!(f.ip.as_deref(), Some("nats-route://10.1.2.3:7000/"));
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("nonce"), "{json}");
        assert!(
            json.contains(r#""lnoc":true"#),
            "a known field is kept: {json}"
        );
        assert_eq!(
            url_host_port(f.ip.as_deref().unwrap()),
            Some(("10.1.2.3".to_string(), 7000))
        );
    }

    #[test]
    fn client_urls() {
        assert_eq!(own_client_urls(None, "127.0.0.1", 4222), ["127.0.0.1:4222"]);
        assert_eq!(
            own_client_urls(Some("nats.example.com:5222"), "0.0.0.0", 4222),
            ["nats.example.com:5222"]
        );
        assert_eq!(
            own_client_urls(Some("nats.example.com"), "0.0.0.0", 4222),
            ["nats.example.com:4222"]
        );
        assert_eq!(own_client_urls(None, "0.0.0.0", 1).len(), 1);
    }
}
