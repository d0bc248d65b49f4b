//! The `cluster { ... }` block: where routes listen, their authorization and
//! TLS, and the routes to solicit, as nats-server's `parseCluster` reads it.

use std::time::Duration;

use super::auth::parse_authorization;
use super::duration::duration_from_value;
use super::error::{ConfError, Pos, Warning};
use super::tls::{parse_tls, TlsConfig};
use super::typed::{self, not_supported, unknown_field};
use super::value::Value;

/// A `cluster` block.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Cluster name (no spaces).
    pub name: Option<String>,
    /// Address routes listen on (`host`/`net`, or from `listen`).
    pub host: Option<String>,
    /// Route port; `Some(0)` for any free port (nats-server's `-1`).
    pub port: Option<u16>,
    /// `host:port` gossiped to other servers instead of the listen address.
    pub advertise: Option<String>,
    /// Do not gossip our client URLs to clients of other servers.
    pub no_advertise: Option<bool>,
    /// Attempts to connect to a discovered route (0: none).
    pub connect_retries: Option<u32>,
    /// What other servers must present to connect as a route.
    pub authorization: Option<ClusterAuthorization>,
    /// TLS for routes.
    pub tls: Option<TlsConfig>,
    /// Routes to connect to (`nats-route://user:pass@host:port`), without
    /// duplicates.
    pub routes: Vec<RouteUrl>,
    /// Route connections per server pair; `-1` turns pooling off.
    pub pool_size: Option<i32>,
    /// Interval between PINGs on routes.
    pub ping_interval: Option<Duration>,
    /// Unanswered route PINGs before the route is closed.
    pub ping_max: Option<u32>,
    /// Where the block starts.
    pub pos: Pos,
}

/// `cluster { authorization { user, password, timeout } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterAuthorization {
    /// The user routes must present.
    pub user: Option<String>,
    /// The password (plain or bcrypt hash).
    pub password: Option<String>,
    /// Time a route has to send CONNECT.
    pub timeout: Option<Duration>,
}

/// One route URL, as written and split into parts.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteUrl {
    /// The URL as written.
    pub url: String,
    /// `nats-route`, `nats`, ...
    pub scheme: String,
    /// User (percent-decoded), if the URL has one.
    pub user: Option<String>,
    /// Password (percent-decoded), if the URL has one.
    pub password: Option<String>,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
    /// Where it is written.
    pub pos: Pos,
}

/// Parse a `cluster` block.
pub(crate) fn parse_cluster(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<ClusterConfig, ConfError> {
    let map = typed::map(field, value)?;
    let mut c = ClusterConfig {
        name: None,
        host: None,
        port: None,
        advertise: None,
        no_advertise: None,
        connect_retries: None,
        authorization: None,
        tls: None,
        routes: Vec::new(),
        pool_size: None,
        ping_interval: None,
        ping_max: None,
        pos: value.pos.clone(),
    };
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "name" => {
                let name = typed::string(k, v)?;
                if name.contains(' ') {
                    return Err(ConfError::at(&v.pos, "cluster name cannot contain spaces"));
                }
                c.name = Some(name);
            }
            "listen" => (c.host, c.port) = typed::host_port(k, v)?,
            "port" => c.port = typed::port(k, v)?,
            "host" | "net" => c.host = Some(typed::string(k, v)?),
            "authorization" => {
                let auth = parse_authorization(k, v, warnings)?;
                if auth.users.as_ref().is_some_and(Vec::is_empty) {
                    return Err(ConfError::at(
                        &entry.key_pos,
                        "cluster authorization has an empty users list, so it would check \
                         nothing and any server could join the cluster (give user and password)",
                    ));
                }
                if auth.users.is_some() {
                    return Err(ConfError::at(
                        &entry.key_pos,
                        "Cluster authorization does not allow multiple users",
                    ));
                }
                if auth.token.is_some() {
                    return Err(ConfError::at(
                        &entry.key_pos,
                        "Cluster authorization does not support tokens",
                    ));
                }
                if auth.default_permissions.is_some() {
                    return Err(ConfError::at(
                        &entry.key_pos,
                        "route permissions are not supported by nats-lite; refusing to start \
                         without them",
                    ));
                }
                if auth.user.is_none() && auth.token.is_none() {
                    return Err(ConfError::at(
                        &entry.key_pos,
                        "cluster authorization has no user, so it would check nothing and any \
                         server could join the cluster (give user and password)",
                    ));
                }
                c.authorization = Some(ClusterAuthorization {
                    user: auth.user,
                    password: auth.password,
                    timeout: auth.timeout,
                });
            }
            "routes" => c.routes = parse_routes(k, v, warnings)?,
            "tls" => c.tls = Some(parse_tls(k, v, warnings)?),
            "cluster_advertise" | "advertise" => c.advertise = Some(typed::string(k, v)?),
            "no_advertise" => c.no_advertise = Some(typed::boolean(k, v)?),
            "connect_retries" => c.connect_retries = Some(typed::count(k, v)?),
            "pool_size" => {
                let n = typed::integer(k, v)?;
                c.pool_size =
                    Some(i32::try_from(n).ok().filter(|n| *n >= -1).ok_or_else(|| {
                        ConfError::at(
                            &v.pos,
                            format!("'{k}' must be -1 (no pooling) or more, got {n}"),
                        )
                    })?);
            }
            "ping_interval" => c.ping_interval = Some(duration_from_value(k, v, warnings)?),
            "ping_max" => c.ping_max = Some(typed::count(k, v)?),
            "permissions" => return Err(not_supported(entry, "route permissions")),
            "compression" | "connect_backoff" | "write_deadline" | "write_timeout" | "accounts" => {
                typed::ignored(entry, warnings)
            }
            _ => unknown_field(entry)?,
        }
    }
    Ok(c)
}

fn parse_routes(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<RouteUrl>, ConfError> {
    let mut routes: Vec<RouteUrl> = Vec::new();
    for item in typed::array(field, value)? {
        let url = typed::string(field, item)?;
        let url = url.trim();
        if routes.iter().any(|r| r.url == url) {
            warnings.push(Warning::at(
                &item.pos,
                format!("Duplicate route entry detected: {url}"),
            ));
            continue;
        }
        routes.push(parse_route_url(url, &item.pos)?);
    }
    Ok(routes)
}

/// Split `scheme://[user[:password]@]host[:port][/...]`.
pub(crate) fn parse_route_url(url: &str, pos: &Pos) -> Result<RouteUrl, ConfError> {
    let bad = |why: &str| ConfError::at(pos, format!("error parsing route url [\"{url}\"]: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://host:port"))?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return Err(bad("bad scheme"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (user, pass) = match u.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (u, None),
            };
            let decode =
                |s: &str| crate::urlenc::percent_decode(s).ok_or_else(|| bad("bad %-escape"));
            (Some(decode(user)?), pass.map(decode).transpose()?)
        }
    };
    let (host, port) = if host_port.starts_with('[') || host_port.contains(':') {
        typed::split_host_port(host_port).ok_or_else(|| bad("bad host:port"))?
    } else {
        (host_port, "")
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = if port.is_empty() {
        None
    } else {
        Some(port.parse::<u16>().map_err(|_| bad("bad port"))?)
    };
    Ok(RouteUrl {
        url: url.to_string(),
        scheme: scheme.to_string(),
        user,
        password,
        host: host.to_string(),
        port,
        pos: pos.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::parse_str;
    use std::path::Path;
    use std::sync::Arc;

    fn pos() -> Pos {
        Pos::new(Arc::from(Path::new("c.conf")), 1, 1)
    }

    fn cluster(text: &str) -> Result<(ClusterConfig, Vec<Warning>), String> {
        let map = parse_str(text, Path::new("c.conf")).map_err(|e| e.to_string())?;
        let mut w = Vec::new();
        let c = parse_cluster("cluster", map.get("cluster").unwrap(), &mut w)
            .map_err(|e| e.to_string())?;
        Ok((c, w))
    }

    #[test]
    fn route_urls() {
        let r = parse_route_url("nats-route://user1:p%40ss@127.0.0.1:4245", &pos()).unwrap();
        assert_eq!(r.scheme, "nats-route");
        assert_eq!(
            (r.user.as_deref(), r.password.as_deref()),
            (Some("user1"), Some("p@ss"))
        );
        assert_eq!((r.host.as_str(), r.port), ("127.0.0.1", Some(4245)));
        let r = parse_route_url("nats://[::1]:6222/", &pos()).unwrap();
        assert_eq!((r.host.as_str(), r.port, r.user), ("::1", Some(6222), None));
        let r = parse_route_url("nats://otherhost", &pos()).unwrap();
        assert_eq!((r.host.as_str(), r.port), ("otherhost", None));
        for bad in [
            "127.0.0.1:4245",
            "://h:1",
            "nats://:1",
            "nats://h:x",
            "nats://u%zz@h:1",
            "nats://h:99999",
        ] {
            assert!(parse_route_url(bad, &pos()).is_err(), "{bad}");
        }
    }

    #[test]
    fn block() {
        let (c, w) = cluster(
            "cluster {\n name: east\n listen: 0.0.0.0:6222\n advertise: \"10.0.0.1:6222\"\n \
             no_advertise: true\n connect_retries: 3\n pool_size: -1\n ping_interval: \"30s\"\n ping_max: 3\n \
             routes: [ nats://a:6222, nats://a:6222, nats://b:6222 ]\n compression: s2_auto\n}",
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("east"));
        assert_eq!((c.host.as_deref(), c.port), (Some("0.0.0.0"), Some(6222)));
        assert_eq!(c.advertise.as_deref(), Some("10.0.0.1:6222"));
        assert_eq!(
            (c.no_advertise, c.connect_retries, c.pool_size),
            (Some(true), Some(3), Some(-1))
        );
        assert_eq!(
            (c.ping_interval, c.ping_max),
            (Some(Duration::from_secs(30)), Some(3))
        );
        assert_eq!(c.routes.len(), 2);
        assert_eq!(w.len(), 2);
        assert_eq!(
            w[0].to_string(),
            "c.conf:10:27: Duplicate route entry detected: nats://a:6222"
        );
        assert!(w[1].message.contains("'compression' is not supported"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            cluster("cluster { name: \"a b\" }").unwrap_err(),
            "c.conf:1:17: cluster name cannot contain spaces"
        );
        assert!(
            cluster("cluster { authorization { users: [ {user: a, password: b} ] } }")
                .unwrap_err()
                .contains("does not allow multiple users")
        );
        // Blocks that would authenticate no route, so let any in (issue 16).
        for no_one in [
            "cluster { authorization { users: [] } }",
            "cluster { authorization { password: secret } }",
            "cluster { authorization { timeout: 2 } }",
        ] {
            assert!(
                cluster(no_one)
                    .unwrap_err()
                    .contains("any server could join the cluster"),
                "{no_one}"
            );
        }
        assert!(cluster("cluster { authorization { token: t } }")
            .unwrap_err()
            .contains("does not support tokens"));
        assert!(cluster("cluster { permissions { publish: x } }")
            .unwrap_err()
            .contains("not supported by nats-lite"));
        assert!(cluster("cluster { routes: [ \"not a url\" ] }")
            .unwrap_err()
            .contains("error parsing route url"));
        assert_eq!(
            cluster("cluster { prot: 1 }").unwrap_err(),
            "c.conf:1:11: unknown field \"prot\""
        );
        assert!(cluster("cluster { pool_size: -2 }").is_err());
    }
}
