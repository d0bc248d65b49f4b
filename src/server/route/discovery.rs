//! Finding the cluster's monitoring ports (`top --discover`): a server's
//! client INFO does not name its monitoring port, so each nats-lite server
//! puts its monitoring URL in its route INFO (`monitor_url`, an extension
//! nats-server ignores) and `/varz` lists the other servers' URLs
//! (`cluster.monitor_urls`, likewise an extension).
//!
//! A monitor bound to every interface (`0.0.0.0`, `::`) is advertised on
//! the cluster's advertised or listen host when that one is specific, else
//! with no host at all: the peer then uses the address the route came from.

use std::net::IpAddr;

use super::Routes;
use crate::server::net::display_addr;

/// Where the monitor listens.
#[derive(Debug, Clone)]
pub struct MonitorListener {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The bound host (possibly `0.0.0.0` or `::`).
    pub host: String,
    /// The bound port.
    pub port: u16,
}

fn unspecified(host: &str) -> bool {
    host.is_empty()
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
}

/// The `monitor_url` of our route INFO (`None` without monitoring).
pub fn advertised(routes: &Routes) -> Option<String> {
    let m = routes.monitor.get()?;
    let host = if !unspecified(&m.host) {
        m.host.clone()
    } else {
        let c = routes.opts()?;
        let advertised = c.advertise.as_deref().and_then(|a| {
            let a = a
                .trim_start_matches("nats-route://")
                .trim_start_matches("nats://");
            crate::conf::parse_route_url_flag(&format!("nats://{}", a.trim_end_matches('/')))
                .ok()
                .map(|r| r.host)
        });
        advertised
            .filter(|h| !unspecified(h))
            .or_else(|| Some(c.host.clone()).filter(|h| !unspecified(h)))
            .unwrap_or_default()
    };
    Some(format!("{}://{}", m.scheme, display_addr(&host, m.port)))
}

/// The other servers' monitoring URLs, from their route INFOs (a URL
/// without a host gets the address its route comes from).
pub fn peer_urls(routes: &Routes) -> Vec<String> {
    let mut urls: Vec<String> = routes
        .list()
        .iter()
        .filter_map(|r| {
            let url = r.info().monitor_url?;
            let (scheme, rest) = url.split_once("://")?;
            let (host, port) = rest.rsplit_once(':')?;
            let port: u16 = port.parse().ok()?;
            let host = if unspecified(host) {
                r.client.addr.ip().to_string()
            } else {
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string()
            };
            Some(format!("{scheme}://{}", display_addr(&host, port)))
        })
        .collect();
    urls.sort();
    urls.dedup();
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_hosts() {
        assert!(unspecified("0.0.0.0") && unspecified("::") && unspecified("[::]"));
        assert!(unspecified(""));
        assert!(!unspecified("127.0.0.1") && !unspecified("nats.example"));
    }
}
