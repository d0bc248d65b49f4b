//! What a user JWT grants: permissions, per-connection limits, the networks
//! it may connect from, and the claims nats-lite cannot enforce (which
//! refuse the user rather than being ignored).

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use super::claims::{PermissionsClaim, ResponseClaim, SubjectsClaim, UserNats};
use crate::server::permissions::{Permissions, ResponsePermission, SubjectRules};

/// Why nats-lite cannot honour this user's claims, if it cannot.
pub fn unsupported(u: &UserNats) -> Option<String> {
    if u.times.as_ref().is_some_and(|t| !t.is_empty()) {
        return Some("connection time restrictions (times) are not supported".into());
    }
    if u.data != -1 {
        return Some(format!("a data rate limit ({}) is not supported", u.data));
    }
    if let Err(e) = sources(u) {
        return Some(e);
    }
    None
}

/// The networks of `src` (a list, or one comma-separated string).
fn sources(u: &UserNats) -> Result<Vec<(IpAddr, u8)>, String> {
    let items: Vec<String> = match &u.src {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or("src: not a string"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("src: not a list of networks".into()),
    };
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| parse_cidr(s).ok_or_else(|| format!("src: bad network {s:?}")))
        .collect()
}

fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = match text.split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?),
        None => {
            let ip: IpAddr = text.parse().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn in_network(ip: IpAddr, (net, bits): (IpAddr, u8)) -> bool {
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// True when `ip` may connect under `src` (no `src`: from anywhere).
pub fn source_allowed(u: &UserNats, ip: IpAddr) -> bool {
    match sources(u) {
        Ok(nets) => nets.is_empty() || nets.into_iter().any(|n| in_network(ip, n)),
        Err(_) => false,
    }
}

/// True when the claims restrict nothing (then the account's
/// `default_permissions` apply).
pub fn has_permissions(u: &UserNats) -> bool {
    u.publish != SubjectsClaim::default()
        || u.subscribe != SubjectsClaim::default()
        || u.resp.is_some()
}

/// The user's permissions, as nats-server builds them from a JWT; `None`
/// when it restricts nothing.
pub fn permissions(u: &UserNats) -> Option<Permissions> {
    build(&u.publish, &u.subscribe, u.resp.as_ref())
}

/// An account's `default_permissions`.
pub fn default_permissions(p: &PermissionsClaim) -> Option<Permissions> {
    build(&p.publish, &p.subscribe, p.resp.as_ref())
}

fn build(
    publish: &SubjectsClaim,
    subscribe: &SubjectsClaim,
    resp: Option<&ResponseClaim>,
) -> Option<Permissions> {
    let rules = |s: &SubjectsClaim| {
        (!s.allow.is_empty() || !s.deny.is_empty()).then(|| {
            SubjectRules::new(
                (!s.allow.is_empty()).then(|| s.allow.clone()),
                s.deny.clone(),
            )
        })
    };
    let mut p = Permissions {
        publish: rules(publish),
        subscribe: rules(subscribe),
        allow_responses: None,
    };
    if let Some(r) = resp {
        // As nats-server's validateResponsePermissions: responses alone
        // allow publishing nothing else; 0 means the defaults.
        let defaults = ResponsePermission::default();
        p.allow_responses = Some(ResponsePermission {
            max: match r.max {
                0 => defaults.max,
                m if m < 0 => 0,
                m => usize::try_from(m).unwrap_or(usize::MAX),
            },
            expires: match r.ttl {
                0 => defaults.expires,
                t if t < 0 => Duration::MAX,
                t => Duration::from_nanos(t.unsigned_abs()),
            },
        });
        if p.publish.is_none() {
            p.publish = Some(SubjectRules::new(Some(Vec::new()), Vec::new()));
        }
    }
    (p.publish.is_some() || p.subscribe.is_some() || p.allow_responses.is_some()).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(json: &str) -> UserNats {
        let mut u: UserNats = serde_json::from_str(json).unwrap();
        if !json.contains("\"data\"") {
            u.data = -1;
        }
        u
    }

    #[test]
    fn networks() {
        let u = user(r#"{"src": ["10.0.0.0/8", "::1/128"]}"#);
        assert!(source_allowed(&u, "10.1.2.3".parse().unwrap()));
        assert!(!source_allowed(&u, "127.0.0.1".parse().unwrap()));
        assert!(source_allowed(&u, "::1".parse().unwrap()));
        let u = user(r#"{"src": "127.0.0.1/32, 192.168.0.0/16"}"#);
        assert!(source_allowed(&u, "192.168.4.4".parse().unwrap()));
        assert!(source_allowed(&u, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(source_allowed(&user("{}"), "1.2.3.4".parse().unwrap()));
        assert!(unsupported(&user(r#"{"src": ["nonsense"]}"#)).is_some());
    }

    #[test]
    fn unsupported_claims() {
        assert!(unsupported(&user("{}")).is_none());
        assert!(unsupported(&user(
            r#"{"times":[{"start":"00:00:00","end":"01:00:00"}]}"#
        ))
        .is_some());
        assert!(unsupported(&user(r#"{"data": 1000}"#)).is_some());
        // Enforced when the client settles (Identity::allows), not refused here.
        assert!(unsupported(&user(r#"{"allowed_connection_types": ["WEBSOCKET"]}"#)).is_none());
        assert!(unsupported(&user(r#"{"allowed_connection_types": ["STANDARD"]}"#)).is_none());
    }

    #[test]
    fn permissions_from_claims() {
        assert!(permissions(&user(r#"{"pub": {}, "sub": {}}"#)).is_none());
        let p = permissions(&user(r#"{"pub": {"allow": ["a.>"], "deny": ["a.b"]}}"#)).unwrap();
        assert!(p.can_publish(b"a.c") && !p.can_publish(b"a.b") && !p.can_publish(b"b"));
        assert!(p.subscribe.is_none());
        let p = permissions(&user(r#"{"resp": {"max": 0, "ttl": 0}}"#)).unwrap();
        assert!(!p.can_publish(b"x"));
        assert_eq!(p.allow_responses, Some(ResponsePermission::default()));
    }
}
