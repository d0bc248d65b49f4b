//! The `leafnodes { ... }` block (alias `leaf`), as nats-server's
//! `parseLeafNodes` reads it: where leaf connections are accepted (listen,
//! authorization, TLS, advertise) and the `remotes` this server solicits
//! as a leaf of a hub (URLs, credentials, bound account, TLS).

use std::path::PathBuf;
use std::time::Duration;

use super::auth::{parse_authorization, Authorization};
use super::cluster::{parse_route_url, RouteUrl};
use super::duration::duration_from_value;
use super::error::{ConfError, Pos, Warning};
use super::tls::{parse_client_tls, parse_tls, TlsConfig};
use super::typed::{self, unknown_field};
use super::value::Value;

/// A `leafnodes` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeafnodesConfig {
    /// Address leaf connections are accepted on (`host`/`net`, or `listen`).
    pub host: Option<String>,
    /// Leafnode port; `Some(0)` for any free port (nats-server's `-1`);
    /// `None`: no listener.
    pub port: Option<u16>,
    /// What leaves must present (the server's own authorization when unset).
    pub authorization: Option<Authorization>,
    /// The account leaves authenticated by the block's single user bind to.
    pub account: Option<String>,
    /// TLS for accepted leaf connections.
    pub tls: Option<TlsConfig>,
    /// `host:port` sent to leaves instead of the listen address.
    pub advertise: Option<String>,
    /// Do not tell leaves about the other servers of the cluster.
    pub no_advertise: bool,
    /// Wait between attempts at a remote.
    pub reconnect: Option<Duration>,
    /// Write deadline of leaf connections (the server's when unset).
    pub write_deadline: Option<Duration>,
    /// Leaves of an older server version are refused (`min_version`).
    pub min_version: Option<String>,
    /// The hubs to solicit.
    pub remotes: Vec<RemoteConfig>,
    /// Where the block starts.
    pub pos: Option<Pos>,
}

/// One entry of `remotes`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// The hub's URLs (`nats-leaf://[user:pass@]host[:port]`), tried in turn.
    pub urls: Vec<RouteUrl>,
    /// A credentials file (user JWT and NKey seed).
    pub credentials: Option<PathBuf>,
    /// The local account the connection binds (`$G` when unset).
    pub account: Option<String>,
    /// TLS towards the hub (also when a URL says `tls://`).
    pub tls: Option<TlsConfig>,
    /// The URLs' scheme asks for TLS.
    pub tls_scheme: bool,
    /// Do not shuffle the URLs.
    pub no_randomize: bool,
    /// `hub: true`: this server is the hub on the connection it solicits.
    pub hub: bool,
    /// `disabled: true`: the remote is configured but not solicited
    /// (nats-server 2.10+).
    pub disabled: bool,
    /// Subjects whose messages this server does not accept from the hub
    /// (`deny_imports`): the link's subscribe deny list.
    pub deny_imports: Vec<String>,
    /// Subjects whose messages this server does not send to the hub
    /// (`deny_exports`): the link's publish deny list.
    pub deny_exports: Vec<String>,
    /// How long to wait for the hub's first INFO (`first_info_timeout`,
    /// nats-server 2.10+).
    pub first_info_timeout: Option<Duration>,
    /// Where the entry starts.
    pub pos: Pos,
}

/// Parse a `leafnodes` block.
pub(crate) fn parse_leafnodes(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<LeafnodesConfig, ConfError> {
    let map = typed::map(field, value)?;
    let mut l = LeafnodesConfig {
        pos: Some(value.pos.clone()),
        ..LeafnodesConfig::default()
    };
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "listen" => (l.host, l.port) = typed::host_port(k, v)?,
            "port" => l.port = typed::port(k, v)?,
            "host" | "net" => l.host = Some(typed::string(k, v)?),
            "authorization" => {
                let auth_map = typed::map(k, v)?;
                // nats-server's leaf authorization may bind its single user
                // to an account; the rest is a client authorization.
                l.account = match auth_map.get("account") {
                    Some(a) => Some(typed::string("account", a)?),
                    None => None,
                };
                let (stripped, user_accounts) = strip_user_accounts(&strip_key(v, "account"))?;
                let mut auth = parse_authorization(k, &stripped, warnings)?;
                // Each leaf user may name the account it binds leaves to.
                if let Some(users) = auth.users.as_mut() {
                    for (u, account) in users.iter_mut().zip(user_accounts) {
                        if account.is_some() {
                            u.account = account;
                        }
                    }
                }
                if auth
                    .users
                    .as_ref()
                    .is_some_and(|u| u.iter().any(|u| u.nkey.is_some()))
                {
                    return Err(ConfError::at(
                        &entry.key_pos,
                        "nkey users in the leafnodes authorization are not supported by \
                         nats-lite (put them in the top-level authorization)",
                    ));
                }
                l.authorization = Some(auth);
            }
            "tls" => l.tls = Some(parse_tls(k, v, warnings)?),
            "advertise" | "leafnode_advertise" => l.advertise = Some(typed::string(k, v)?),
            "no_advertise" => l.no_advertise = typed::boolean(k, v)?,
            "reconnect" | "reconnect_delay" | "reconnect_interval" => {
                l.reconnect = Some(duration_from_value(k, v, warnings)?)
            }
            "remotes" => {
                for item in typed::array(k, v)? {
                    l.remotes.push(parse_remote(k, item, warnings)?);
                }
            }
            // Compression is negotiated (nats-server 2.10+): a peer that
            // does not offer it ends with an uncompressed link, which is
            // what a nats-lite leaf connection is. So ignoring it is a
            // valid outcome, with a warning.
            "compression" => typed::ignored(entry, warnings),
            "min_version" | "minimum_version" => {
                let version = typed::string(k, v)?;
                let low = crate::protocol::leaf::LOWEST_MIN_VERSION;
                match crate::protocol::leaf::version_components(&version) {
                    Err(e) => {
                        return Err(ConfError::at(
                            &entry.key_pos,
                            format!("invalid leafnode's minimum version: {e}"),
                        ))
                    }
                    Ok(v) if v < low => {
                        return Err(ConfError::at(
                            &entry.key_pos,
                            format!(
                                "the minimum version should be at least {}.{}.{}",
                                low.0, low.1, low.2
                            ),
                        ))
                    }
                    Ok(_) => l.min_version = Some(version),
                }
            }
            "write_deadline" => l.write_deadline = Some(duration_from_value(k, v, warnings)?),
            "write_timeout" => {
                return Err(typed::not_supported(
                    entry,
                    "a leafnode write timeout policy",
                ))
            }
            "isolate_leafnode_interest" => {
                return Err(typed::not_supported(entry, "isolated leafnode interest"))
            }
            "tls_handshake_first" | "handshake_first" => {
                return Err(typed::not_supported(entry, "TLS before the leafnode INFO"))
            }
            _ => unknown_field(entry)?,
        }
    }
    Ok(l)
}

/// `value` (a map) without `key`, for a parser that does not know it.
fn strip_key(value: &Value, key: &str) -> Value {
    let mut v = value.clone();
    if let super::value::ValueKind::Map(m) = &value.kind {
        let mut kept = super::value::Map::new();
        for e in m.iter().filter(|e| !e.key.eq_ignore_ascii_case(key)) {
            kept.insert(e.key.clone(), e.key_pos.clone(), e.value.clone());
        }
        v.kind = super::value::ValueKind::Map(kept);
    }
    v
}

/// The `users` of a leafnode authorization without their `account`
/// keys (a client user has none), and those accounts in order.
#[allow(clippy::type_complexity)]
fn strip_user_accounts(value: &Value) -> Result<(Value, Vec<Option<String>>), ConfError> {
    let mut v = value.clone();
    let mut accounts = Vec::new();
    let super::value::ValueKind::Map(m) = &value.kind else {
        return Ok((v, accounts));
    };
    let Some(users) = m.entry("users") else {
        return Ok((v, accounts));
    };
    let super::value::ValueKind::Array(list) = &users.value.kind else {
        return Ok((v, accounts));
    };
    let mut stripped = Vec::with_capacity(list.len());
    for u in list {
        let account = match &u.kind {
            super::value::ValueKind::Map(um) => match um.get("account") {
                Some(a) => Some(typed::string("account", a)?),
                None => None,
            },
            _ => None,
        };
        accounts.push(account);
        stripped.push(strip_key(u, "account"));
    }
    let mut kept = super::value::Map::new();
    for e in m.iter() {
        if e.key.eq_ignore_ascii_case("users") {
            let mut users_value = e.value.clone();
            users_value.kind = super::value::ValueKind::Array(stripped.clone());
            kept.insert(e.key.clone(), e.key_pos.clone(), users_value);
        } else {
            kept.insert(e.key.clone(), e.key_pos.clone(), e.value.clone());
        }
    }
    v.kind = super::value::ValueKind::Map(kept);
    Ok((v, accounts))
}

fn parse_remote(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<RemoteConfig, ConfError> {
    let map = typed::map(field, value)?;
    let mut r = RemoteConfig {
        urls: Vec::new(),
        credentials: None,
        account: None,
        tls: None,
        tls_scheme: false,
        no_randomize: false,
        hub: false,
        disabled: false,
        deny_imports: Vec::new(),
        deny_exports: Vec::new(),
        first_info_timeout: None,
        pos: value.pos.clone(),
    };
    for entry in map {
        let (k, v) = (entry.key.as_str(), &entry.value);
        match k.to_ascii_lowercase().as_str() {
            "url" | "urls" => {
                let list = match &v.kind {
                    super::value::ValueKind::Array(_) => typed::string_list(k, v)?,
                    _ => vec![typed::string(k, v)?],
                };
                for u in list {
                    let url = parse_route_url(u.trim(), &v.pos)?;
                    match url.scheme.as_str() {
                        "nats-leaf" | "nats" => {}
                        "tls" => r.tls_scheme = true,
                        "ws" | "wss" => {
                            return Err(ConfError::at(
                                &v.pos,
                                "websocket leafnode remotes are not supported by nats-lite",
                            ))
                        }
                        other => {
                            return Err(ConfError::at(
                                &v.pos,
                                format!("unsupported leafnode remote scheme {other:?}"),
                            ))
                        }
                    }
                    r.urls.push(url);
                }
            }
            "credentials" | "creds" => r.credentials = Some(typed::string(k, v)?.into()),
            "account" | "local" => r.account = Some(typed::string(k, v)?),
            "tls" => r.tls = Some(parse_client_tls(k, v, warnings)?),
            "no_randomize" | "dont_randomize" => r.no_randomize = typed::boolean(k, v)?,
            "hub" => r.hub = typed::boolean(k, v)?,
            "deny_imports" | "deny_import" => r.deny_imports = typed::string_list(k, v)?,
            "deny_exports" | "deny_export" => r.deny_exports = typed::string_list(k, v)?,
            "disabled" => r.disabled = typed::boolean(k, v)?,
            // Negotiated: an uncompressed link is a valid outcome (see the
            // listen block's `compression`).
            "compression" => typed::ignored(entry, warnings),
            "websocket" | "ws" => {
                return Err(typed::not_supported(entry, "websocket leafnode remotes"))
            }
            "first_info_timeout" => {
                r.first_info_timeout = Some(duration_from_value(k, v, warnings)?)
            }
            _ => unknown_field(entry)?,
        }
    }
    if r.urls.is_empty() {
        return Err(ConfError::at(&r.pos, "leafnode remote has no url"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::parse_str;
    use std::path::Path;

    fn leaf(text: &str) -> Result<(LeafnodesConfig, Vec<Warning>), String> {
        let map = parse_str(text, Path::new("l.conf")).map_err(|e| e.to_string())?;
        let mut w = Vec::new();
        let l = parse_leafnodes("leafnodes", map.get("leafnodes").unwrap(), &mut w)
            .map_err(|e| e.to_string())?;
        Ok((l, w))
    }

    #[test]
    fn hub_block() {
        let (l, w) = leaf(
            "leafnodes { listen: 127.0.0.1:-1, advertise: \"h:7422\", no_advertise: true, \
             authorization { user: a, password: b, timeout: 2, account: ACC } }",
        )
        .unwrap();
        assert!(w.is_empty());
        assert_eq!((l.host.as_deref(), l.port), (Some("127.0.0.1"), Some(0)));
        assert_eq!(l.advertise.as_deref(), Some("h:7422"));
        assert!(l.no_advertise);
        assert_eq!(l.account.as_deref(), Some("ACC"));
        let (mv, _) = leaf("leafnodes { port: 1, min_version: \"2.10.0-beta\" }").unwrap();
        assert_eq!(mv.min_version.as_deref(), Some("2.10.0-beta"));
        for (bad, err) in [
            ("\"2.7.0\"", "the minimum version should be at least 2.8.0"),
            (
                "\"abc\"",
                "invalid leafnode's minimum version: invalid semver",
            ),
            (
                "\"2.10\"",
                "invalid leafnode's minimum version: strconv.Atoi",
            ),
            ("2", "min_version"),
        ] {
            let e = leaf(&format!("leafnodes {{ port: 1, min_version: {bad} }}")).unwrap_err();
            assert!(e.contains(err), "{bad}: {e}");
        }
        let (wd, _) = leaf("leafnodes { port: 1, write_deadline: \"500ms\" }").unwrap();
        assert_eq!(wd.write_deadline, Some(Duration::from_millis(500)));
        let a = l.authorization.unwrap();
        assert_eq!(
            (a.user.as_deref(), a.password.as_deref()),
            (Some("a"), Some("b"))
        );
        assert_eq!(a.timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn leaf_users_name_their_account() {
        let (l, _) = leaf(
            "leafnodes { authorization { users: [ { user: a, password: b, account: ACC }, \
             { user: c, password: d } ] } }",
        )
        .unwrap();
        let users = l.authorization.unwrap().users.unwrap();
        assert_eq!(users[0].account.as_deref(), Some("ACC"));
        assert_eq!(users[1].account, None);
    }

    #[test]
    fn remotes() {
        let (l, _) = leaf(
            "leafnodes { remotes = [ { url: \"nats-leaf://u:p@127.0.0.1:7422\", account: A }, \
             { urls: [\"tls://h1:1\", \"nats-leaf://h2\"], credentials: \"x.creds\" } ] }",
        )
        .unwrap();
        assert_eq!(l.port, None);
        assert_eq!(l.remotes.len(), 2);
        let r = &l.remotes[0];
        assert_eq!(r.urls[0].user.as_deref(), Some("u"));
        assert_eq!(r.account.as_deref(), Some("A"));
        let r = &l.remotes[1];
        assert!(r.tls_scheme);
        assert_eq!(r.urls.len(), 2);
        assert_eq!(r.credentials.as_deref(), Some(Path::new("x.creds")));
        assert!(!r.disabled);
        let (l, w) =
            leaf("leafnodes { remotes = [ { url: \"nats-leaf://h:1\", disabled: true } ] }")
                .unwrap();
        assert!(l.remotes[0].disabled);
        assert!(!l.remotes[0].hub);
        let (l, _) =
            leaf("leafnodes { remotes = [ { url: \"nats://h:1\", hub: true } ] }").unwrap();
        assert!(l.remotes[0].hub);
        let (l, _) =
            leaf("leafnodes { remotes = [ { url: \"nats://h:1\", first_info_timeout: \"3s\" } ] }")
                .unwrap();
        assert_eq!(
            l.remotes[0].first_info_timeout,
            Some(Duration::from_secs(3))
        );
        assert!(w.is_empty(), "{w:?}");
        let (l, _) = leaf(
            "leafnodes { remotes = [ { url: \"nats-leaf://h:1\", deny_imports: [a, \"b.>\"], \
             deny_export: c } ] }",
        )
        .unwrap();
        assert_eq!(l.remotes[0].deny_imports, ["a", "b.>"]);
        assert_eq!(l.remotes[0].deny_exports, ["c"]);
        for bad in [
            "leafnodes { remotes = [ { account: A } ] }",
            "leafnodes { remotes = [ { url: \"ws://h:1\" } ] }",
            "leafnodes { remotes = [ { url: \"h:1\" } ] }",
            "leafnodes { prot: 1 }",
        ] {
            assert!(leaf(bad).is_err(), "{bad}");
        }
    }

    /// Options a nats-lite leafnode does not apply are refused, not
    /// ignored; compression alone is ignored (negotiated off is valid).
    #[test]
    fn options_without_an_effect_are_refused() {
        for bad in [
            "leafnodes { port: 1, write_timeout: retry }",
            "leafnodes { port: 1, isolate_leafnode_interest: true }",
            "leafnodes { port: 1, tls_handshake_first: true }",
            "leafnodes { remotes = [ { url: \"nats://h:1\", ws { no_masking: true } } ] }",
        ] {
            let e = leaf(bad).unwrap_err();
            assert!(e.contains("not supported by nats-lite"), "{bad}: {e}");
        }
        let (_, w) = leaf("leafnodes { port: 1, compression: off }").unwrap();
        assert_eq!(w.len(), 1);
        let (_, w) =
            leaf("leafnodes { remotes = [ { url: \"nats://h:1\", compression: s2_auto } ] }")
                .unwrap();
        assert_eq!(w.len(), 1);
    }
}
