//! Applying a parsed configuration file ([`crate::conf::ServerConfig`]) onto
//! the server's [`Options`]. Command-line flags are applied after this, so
//! they override the file, as in nats-server.

use std::time::Duration;

use super::options::{
    ClusterOptions, LeafRemote, LeafnodeOptions, NkeyUser, Options, RouteTarget, TlsOptions, User,
    WebsocketOptions, DEFAULT_HOST, WS_HANDSHAKE_TIMEOUT,
};
use super::permissions::{Permissions, ResponsePermission, SubjectRules};
use crate::conf;

/// Apply every option the file sets; returns warning lines for options
/// that are accepted but have no effect here.
///
/// # Errors
///
/// An option whose feature nats-lite does not have yet and whose silent
/// omission would surprise (a `cluster` block, monitoring ports).
pub fn apply(o: &mut Options, c: &conf::ServerConfig) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    set(&mut o.host, c.host.clone());
    set(&mut o.port, c.port);
    if c.server_name.is_some() {
        o.server_name = c.server_name.clone();
    }
    if let Some(cl) = &c.cluster {
        o.cluster = Some(cluster(cl, &mut warnings)?);
    }
    if let Some(l) = &c.leafnodes {
        o.leafnodes = Some(leafnodes(l)?);
    }
    match &c.websocket {
        Some(w) if w.port.is_some() => o.websocket = Some(websocket(w)?),
        Some(_) => warnings.push("websocket: no port is set, so the listener is off".into()),
        None => {}
    }
    if c.client_advertise.is_some() {
        o.client_advertise = c.client_advertise.clone();
    }
    if c.http_host.is_some() {
        o.http_host = c.http_host.clone();
    }
    if c.http_port.is_some() {
        o.http_port = c.http_port;
    }
    if c.https_port.is_some() {
        o.https_port = c.https_port;
    }
    set(&mut o.http_jsonp, c.http_jsonp);
    o.http_auth = c.http_auth.clone();
    if c.http_base_path.is_some() {
        return Err("http_base_path is not supported by nats-lite's monitoring".into());
    }

    if let Some(a) = &c.authorization {
        o.user = a.user.clone();
        o.pass = a.password.clone();
        o.token = a.token.clone();
        set(&mut o.auth_timeout, a.timeout);
        o.default_permissions = a.default_permissions.as_ref().map(permissions);
    }
    o.users = c.users().filter(|u| u.nkey.is_none()).map(user).collect();
    o.nkeys = c.users().filter_map(nkey_user).collect();
    o.accounts = c.accounts.iter().map(|a| a.name.clone()).collect();
    o.imports = imports(&c.accounts);
    o.msg_traces = c
        .accounts
        .iter()
        .filter_map(|a| {
            let (dest, sampling) = a.msg_trace.clone()?;
            Some((a.name.clone(), dest, sampling))
        })
        .collect();
    o.no_auth_user = c.no_auth_user.clone();
    if let Some(op) = &c.operator {
        o.operator = Some(operator(op, c, o)?);
    }
    o.system_account = system_account(c, o)?;
    if let Some(system) = &o.system_account {
        o.imports
            .extend(super::system::imports(system, &o.accounts));
    }

    if let Some(t) = &c.tls {
        o.tls = Some(tls(t)?);
    }
    set(&mut o.allow_non_tls, c.allow_non_tls);

    set(&mut o.max_connections, c.max_connections);
    set(&mut o.max_control_line, c.max_control_line);
    set(&mut o.max_payload, c.max_payload);
    set(&mut o.max_pending, c.max_pending);
    set(&mut o.max_subscriptions, c.max_subscriptions);
    if let Some(n) = c.max_sub_tokens {
        o.max_sub_tokens = usize::from(n);
    }
    set(&mut o.write_deadline, c.write_deadline);
    set(&mut o.ping_interval, c.ping_interval);
    set(&mut o.ping_max, c.ping_max);
    set(&mut o.lame_duck_duration, c.lame_duck_duration);
    set(&mut o.lame_duck_grace_period, c.lame_duck_grace_period);

    set(&mut o.debug, c.debug);
    set(&mut o.trace, c.trace.or(c.trace_verbose));
    set(&mut o.logtime, c.logtime);
    set(&mut o.log_json, c.log_json);
    set(&mut o.logtime_utc, c.logtime_utc);
    if c.log_file.is_some() {
        o.log_file = c.log_file.clone();
    }
    if let Some(limit) = c.log_size_limit {
        o.log_size_limit = limit;
    }
    set(&mut o.log_max_files, c.logfile_max_num);
    if c.pid_file.is_some() {
        o.pid_file = c.pid_file.clone();
    }
    if c.ports_file_dir.is_some() {
        o.ports_file_dir = c.ports_file_dir.clone();
    }
    set(&mut o.syslog, c.syslog);
    if c.remote_syslog.is_some() {
        o.remote_syslog = c.remote_syslog.clone();
    }
    set(&mut o.max_traced_msg_len, c.max_traced_msg_len);
    set(&mut o.disable_sublist_cache, c.disable_sublist_cache);
    set(&mut o.no_header_support, c.no_header_support);
    set(&mut o.max_closed_clients, c.max_closed_clients);
    if c.connect_error_reports.is_some() || c.reconnect_error_reports.is_some() {
        warnings
            .push("connect_error_reports and reconnect_error_reports only apply to routes".into());
    }
    Ok(warnings)
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// The server's form of a `cluster` block.
fn cluster(c: &conf::ClusterConfig, warnings: &mut Vec<String>) -> Result<ClusterOptions, String> {
    if c.pool_size.is_some() {
        warnings.push("cluster: pool_size ignored: nats-lite uses one connection per route".into());
    }
    let mut o = ClusterOptions {
        name: c.name.clone(),
        advertise: c.advertise.clone(),
        no_advertise: c.no_advertise.unwrap_or(false),
        connect_retries: c.connect_retries.unwrap_or(0),
        ping_interval: c.ping_interval,
        ping_max: c.ping_max,
        ..ClusterOptions::default()
    };
    set(&mut o.host, c.host.clone());
    set(&mut o.port, c.port);
    if let Some(a) = &c.authorization {
        o.user = a.user.clone();
        o.password = a.password.clone();
        set(&mut o.auth_timeout, a.timeout);
    }
    o.routes = c
        .routes
        .iter()
        .map(route_target)
        .collect::<Result<_, _>>()?;
    if let Some(t) = &c.tls {
        let mut t = t.clone();
        o.tls_insecure = std::mem::take(&mut t.insecure);
        o.tls = Some(tls(&t).map_err(|e| format!("cluster {e}"))?);
    }
    Ok(o)
}

/// A route URL to solicit (port 6222 when the URL has none).
pub fn route_target(r: &conf::RouteUrl) -> Result<RouteTarget, String> {
    Ok(RouteTarget {
        url: r.url.clone(),
        host: r.host.clone(),
        port: r.port.unwrap_or(super::options::DEFAULT_ROUTE_PORT),
        user: r.user.clone(),
        password: r.password.clone(),
    })
}

/// The TLS options a leafnode listener does not apply (the client port
/// does): refused rather than ignored.
fn leaf_listen_tls_unsupported(t: &conf::TlsConfig) -> Option<&'static str> {
    if t.handshake_first {
        Some("handshake_first")
    } else if !t.pinned_certs.is_empty() {
        Some("pinned_certs")
    } else if t.verify_and_map {
        Some("verify_and_map")
    } else {
        None
    }
}

/// The TLS options a leafnode remote does not apply. `min_version: 1.2`
/// is what rustls always enforces, so only 1.3 is refused.
fn leaf_remote_tls_unsupported(t: &conf::TlsConfig) -> Option<&'static str> {
    if t.handshake_first {
        Some("handshake_first")
    } else if t.min_version == Some(conf::TlsVersion::V1_3) {
        Some("min_version 1.3")
    } else if !t.pinned_certs.is_empty() {
        Some("pinned_certs")
    } else if !t.cipher_suites.is_empty() {
        Some("cipher_suites")
    } else if !t.curve_preferences.is_empty() {
        Some("curve_preferences")
    } else {
        None
    }
}

/// The server's form of a `leafnodes` block.
fn leafnodes(l: &conf::LeafnodesConfig) -> Result<LeafnodeOptions, String> {
    if let Some(what) = l.tls.as_ref().and_then(leaf_listen_tls_unsupported) {
        return Err(format!(
            "leafnodes tls: '{what}' is not supported by nats-lite on the leafnode port"
        ));
    }
    if let Some(what) = l
        .remotes
        .iter()
        .find_map(|r| r.tls.as_ref().and_then(leaf_remote_tls_unsupported))
    {
        return Err(format!(
            "leafnodes remote tls: '{what}' is not supported by nats-lite for leafnode remotes"
        ));
    }
    let tls_opts = l
        .tls
        .as_ref()
        .map(tls)
        .transpose()
        .map_err(|e| format!("leafnodes {e}"))?;
    let auth = l.authorization.as_ref();
    let mut remotes = Vec::new();
    for r in &l.remotes {
        let urls = r
            .urls
            .iter()
            .map(|u| RouteTarget {
                url: u.url.clone(),
                host: u.host.clone(),
                port: u.port.unwrap_or(super::options::DEFAULT_LEAF_PORT),
                user: u.user.clone(),
                password: u.password.clone(),
            })
            .collect();
        let client_tls = if r.tls.is_some() || r.tls_scheme {
            let t = r.tls.clone();
            Some(crate::tls::TlsOptions {
                required: true,
                ca_file: t.as_ref().and_then(|t| t.ca_file.clone()),
                cert_file: t.as_ref().and_then(|t| t.cert_file.clone()),
                key_file: t.as_ref().and_then(|t| t.key_file.clone()),
                insecure: t.as_ref().is_some_and(|t| t.insecure),
                first: false,
            })
        } else {
            None
        };
        remotes.push(LeafRemote {
            urls,
            credentials: r.credentials.clone(),
            account: r
                .account
                .clone()
                .unwrap_or_else(|| super::account::GLOBAL_ACCOUNT.to_string()),
            tls: client_tls,
            tls_timeout: r
                .tls
                .as_ref()
                .and_then(|t| t.timeout)
                .unwrap_or(super::options::TLS_TIMEOUT),
            hub: r.hub,
            disabled: r.disabled,
            deny_imports: r.deny_imports.clone(),
            deny_exports: r.deny_exports.clone(),
            first_info_timeout: r
                .first_info_timeout
                .unwrap_or(super::leaf::FIRST_INFO_TIMEOUT),
        });
    }
    Ok(LeafnodeOptions {
        host: l.host.clone().unwrap_or_else(|| DEFAULT_HOST.to_string()),
        port: l.port,
        advertise: l.advertise.clone(),
        no_advertise: l.no_advertise,
        tls: tls_opts,
        user: auth.and_then(|a| a.user.clone()),
        pass: auth.and_then(|a| a.password.clone()),
        token: auth.and_then(|a| a.token.clone()),
        users: auth.and_then(|a| a.users.as_ref().map(|u| u.iter().map(user).collect())),
        account: l.account.clone(),
        auth_timeout: auth.and_then(|a| a.timeout),
        reconnect: l.reconnect.unwrap_or(super::options::LEAF_RECONNECT),
        write_deadline: l.write_deadline,
        min_version: l.min_version.clone(),
        remotes,
    })
}

/// The server's form of a `websocket` block.
fn websocket(w: &conf::WebsocketConfig) -> Result<WebsocketOptions, String> {
    let tls = match &w.tls {
        Some(t) if !w.no_tls => Some(tls(t).map_err(|e| format!("websocket {e}"))?),
        _ => None,
    };
    let auth = w.authorization.as_ref();
    if auth.is_some_and(|a| a.users.iter().flatten().any(|u| u.nkey.is_some())) {
        return Err(
            "websocket: nkey users in the websocket authorization block are not \
                    supported by nats-lite (put them in the top-level authorization)"
                .into(),
        );
    }
    Ok(WebsocketOptions {
        host: w.host.clone().unwrap_or_else(|| DEFAULT_HOST.to_string()),
        port: w.port.unwrap_or(0),
        advertise: w.advertise.clone(),
        tls,
        same_origin: w.same_origin,
        allowed_origins: w.allowed_origins.clone(),
        compression: w.compression,
        handshake_timeout: w.handshake_timeout.unwrap_or(WS_HANDSHAKE_TIMEOUT),
        handshake_timeout_set: w.handshake_timeout.is_some(),
        user: auth.and_then(|a| a.user.clone()),
        pass: auth.and_then(|a| a.password.clone()),
        token: auth.and_then(|a| a.token.clone()),
        users: auth.and_then(|a| a.users.as_ref().map(|u| u.iter().map(user).collect())),
        auth_timeout: auth.and_then(|a| a.timeout),
        no_auth_user: w.no_auth_user.clone(),
    })
}

fn user(u: &conf::User) -> User {
    User {
        name: u.user.clone(),
        password: u.password.clone(),
        permissions: u.permissions.as_ref().map(permissions),
        account: u.account.clone(),
        allowed_connection_types: u.allowed_connection_types.clone(),
    }
}

/// The imports of the config's accounts, with what their exports say.
fn imports(accounts: &[conf::Account]) -> Vec<super::imports::ImportSpec> {
    let mut specs = Vec::new();
    for a in accounts {
        for i in &a.imports {
            let multiple_responses = accounts
                .iter()
                .find(|x| x.name == i.account)
                .is_some_and(|x| x.exports.iter().any(|e| e.service && e.multiple_responses));
            // A service export lets traces in; a stream import takes them.
            let allow_trace = if i.service {
                accounts
                    .iter()
                    .find(|x| x.name == i.account)
                    .is_some_and(|x| {
                        x.exports.iter().any(|e| {
                            e.service
                                && e.allow_trace
                                && crate::conf::covers(&e.subject, &i.subject)
                        })
                    })
            } else {
                i.allow_trace
            };
            specs.push(super::imports::ImportSpec {
                importer: a.name.clone(),
                exporter: i.account.clone(),
                subject: i.subject.clone(),
                service: i.service,
                prefix: i.prefix.clone(),
                to: i.to.clone(),
                multiple_responses,
                expires: None,
                allow_trace,
            });
        }
    }
    specs
}

fn nkey_user(u: &conf::User) -> Option<NkeyUser> {
    Some(NkeyUser {
        public_key: u.nkey.clone()?,
        permissions: u.permissions.as_ref().map(permissions),
        account: u.account.clone(),
        allowed_connection_types: u.allowed_connection_types.clone(),
    })
}

/// Operator mode, checked as nats-server's `validateTrustedOperators`; the
/// preloaded accounts join `o.accounts`, named by their public keys.
fn operator(
    op: &conf::OperatorConfig,
    c: &conf::ServerConfig,
    o: &mut Options,
) -> Result<super::jwt::TrustOptions, String> {
    if op.operators.is_empty() && op.trusted_keys.is_empty() {
        return Err("resolver and resolver_preload need an operator".into());
    }
    if !op.memory_resolver && op.resolver_dir.is_none() && op.resolver_url.is_none() {
        return Err(
            "operators require an account resolver: nats-lite supports resolver: MEMORY \
             with resolver_preload, resolver { type: full, dir: DIR } and resolver: URL(...)"
                .into(),
        );
    }
    if !o.users.is_empty() || !o.nkeys.is_empty() {
        return Err("operators do not allow users to be configured directly".into());
    }
    if !c.accounts.is_empty() {
        return Err("operators do not allow Accounts to be configured directly".into());
    }
    if c.no_auth_user.is_some() {
        return Err("no_auth_user not compatible with Trusted Operator".into());
    }
    let base = op
        .pos
        .as_ref()
        .and_then(|p| p.file.parent().map(std::path::Path::to_path_buf))
        .unwrap_or_default();
    let operators = op
        .operators
        .iter()
        .map(|v| super::jwt::claims::read_jwt_or_file(v, &base))
        .collect::<Result<Vec<_>, _>>()?;
    let mut preload = op.preload.clone();
    if let Some(dir) = &op.resolver_dir {
        preload.extend(super::jwt::read_resolver_dir(dir)?);
    }
    if let Some(url) = &op.resolver_url {
        super::jwt::url_resolver::check_reachable(url)?;
        resolved_accounts(url, &operators, c.system_account.as_deref(), &mut preload);
    }
    let trust = super::jwt::TrustOptions {
        operators,
        trusted_keys: op.trusted_keys.clone(),
        preload,
        system_account: c.system_account.clone(),
        url: op.resolver_url.clone(),
        dir: op
            .resolver_dir
            .as_ref()
            .map(|path| super::jwt::DirResolver {
                path: path.clone(),
                cache: op.resolver_cache,
                allow_delete: op.resolver_allow_delete,
                hard_delete: op.resolver_hard_delete,
            }),
    };
    if op.resolver_dir.is_none() && op.resolver_url.is_none() {
        // A directory resolver's system account may arrive later.
        super::jwt::check_system_account(&trust)?;
    }
    o.imports = super::jwt::import_specs(&trust.preload);
    o.msg_traces = super::jwt::msg_traces(&trust.preload);
    o.accounts
        .extend(trust.preload.iter().map(|(k, _)| k.clone()));
    Ok(trust)
}

/// A URL resolver's accounts: the system account (fetched now if it was
/// not yet) and every account fetched so far, after the preloaded ones.
fn resolved_accounts(
    url: &str,
    operators: &[String],
    system_account: Option<&str>,
    preload: &mut Vec<(String, String)>,
) {
    use super::jwt::claims::{decode, OperatorNats};
    let from_operator = operators.iter().find_map(|token| {
        decode::<OperatorNats>(token, "operator")
            .ok()?
            .nats
            .system_account
            .filter(|s| !s.is_empty())
    });
    if let Some(sys) = system_account.map(str::to_string).or(from_operator) {
        if !preload.iter().any(|(k, _)| *k == sys) {
            if let Err(e) = super::jwt::url_resolver::fetch(url, &sys) {
                crate::warn!("system account {sys} not resolved: {e}");
            }
        }
    }
    for (key, jwt) in super::jwt::url_resolver::cached(url) {
        if !preload.iter().any(|(k, _)| *k == key) {
            preload.push((key, jwt));
        }
    }
}

/// The system account: the config's (which must be one of its accounts),
/// or in operator mode the operator JWT's.
fn system_account(c: &conf::ServerConfig, o: &Options) -> Result<Option<String>, String> {
    let from_operator = o.operator.as_ref().and_then(|trust| {
        trust.operators.iter().find_map(|token| {
            super::jwt::claims::decode::<super::jwt::claims::OperatorNats>(token, "operator")
                .ok()?
                .nats
                .system_account
                .filter(|s| !s.is_empty())
        })
    });
    let Some(name) = c.system_account.clone().or(from_operator) else {
        return Ok(None);
    };
    if o.operator.is_none() && !o.accounts.contains(&name) {
        return Err("error resolving system account: account missing".into());
    }
    Ok(Some(name))
}

/// The server's form of a permissions block.
pub fn permissions(p: &conf::Permissions) -> Permissions {
    let rules = |s: &conf::SubjectPermission| {
        SubjectRules::new(s.allow.clone(), s.deny.clone().unwrap_or_default())
    };
    Permissions {
        publish: p.publish.as_ref().map(rules),
        subscribe: p.subscribe.as_ref().map(rules),
        allow_responses: p.allow_responses.as_ref().map(|r| ResponsePermission {
            max: r.max_msgs.unwrap_or(0),
            expires: r.expires.unwrap_or(Duration::MAX),
        }),
    }
}

fn tls(t: &conf::TlsConfig) -> Result<TlsOptions, String> {
    let cert = t.cert_file.clone().ok_or("tls: cert_file is required")?;
    let key = t.key_file.clone().ok_or("tls: key_file is required")?;
    let mut o = TlsOptions::new(cert, key);
    o.ca_file = t.ca_file.clone();
    o.verify = t.verify || t.verify_and_map;
    o.verify_and_map = t.verify_and_map;
    if let Some(timeout) = t.timeout {
        o.timeout = timeout;
    }
    o.cipher_suites = t.cipher_suites.clone();
    o.curve_preferences = t.curve_preferences.clone();
    o.min_version_13 = t.min_version == Some(conf::TlsVersion::V1_3);
    o.pinned_certs = t.pinned_certs.clone();
    if t.handshake_first {
        o.handshake_first = Some(t.handshake_first_fallback.unwrap_or(Duration::ZERO));
    }
    if t.insecure {
        return Err("tls: insecure only applies to routes".into());
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn apply_text(text: &str) -> Result<Options, String> {
        let map = conf::parse_str(text, Path::new("t.conf")).map_err(|e| e.to_string())?;
        let (c, _) = conf::ServerConfig::from_value(&map).map_err(|e| e.to_string())?;
        let mut o = Options::default();
        apply(&mut o, &c)?;
        Ok(o)
    }

    #[test]
    fn leafnode_tls_options_without_an_effect_are_refused() {
        let pem = "cert_file: c.pem, key_file: k.pem";
        for (bad, what) in [
            (
                format!("leafnodes {{ port: 1, tls {{ {pem}, handshake_first: true }} }}"),
                "handshake_first",
            ),
            (
                format!("leafnodes {{ port: 1, tls {{ {pem}, verify_and_map: true }} }}"),
                "verify_and_map",
            ),
            (
                "leafnodes { remotes = [ { url: \"tls://h:1\", tls { min_version: \"1.3\" } } ] }"
                    .into(),
                "min_version 1.3",
            ),
            (
                "leafnodes { remotes = [ { url: \"tls://h:1\", tls { handshake_first: true } } ] }"
                    .into(),
                "handshake_first",
            ),
        ] {
            let e = apply_text(&bad).unwrap_err();
            assert!(
                e.contains(what) && e.contains("not supported"),
                "{bad}: {e}"
            );
        }
        let o = apply_text(
            "leafnodes { remotes = [ { url: \"tls://h:1\", tls { min_version: \"1.2\" } } ] }",
        )
        .unwrap();
        assert!(o.leafnodes.unwrap().remotes[0].tls.is_some());
    }

    #[test]
    fn limits_and_listen() {
        let o = apply_text(
            "listen: 127.0.0.1:4333\nmax_payload: 2KB\nping_interval: \"1s\"\nping_max: 3",
        )
        .unwrap();
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
        assert_eq!(o.max_payload, 2048);
        assert_eq!(o.ping_interval, Duration::from_secs(1));
        assert_eq!(o.ping_max, 3);
    }

    #[test]
    fn users_and_permissions() {
        let o = apply_text(
            r#"authorization {
                 default_permissions { publish: "pub.>" }
                 users: [ {user: a, password: pa}, {user: b, password: pb, permissions: {subscribe: {deny: "x"}}} ]
               }"#,
        )
        .unwrap();
        assert_eq!(o.users.len(), 2);
        let a = &o.users[0];
        assert!(a.permissions.as_ref().unwrap().can_publish(b"pub.x"));
        assert!(!a.permissions.as_ref().unwrap().can_publish(b"other"));
        let b = o.users[1].permissions.as_ref().unwrap();
        assert!(!b.can_subscribe(b"x", None));
    }

    #[test]
    fn cluster_block() {
        let o = apply_text(
            "cluster { name: c1, listen: 127.0.0.1:-1, pool_size: 3, \
             authorization { user: ru, password: rp, timeout: 3 }, \
             routes: [nats-route://a:b@127.0.0.1:7244, nats://h] }",
        )
        .unwrap();
        let c = o.cluster.unwrap();
        assert_eq!(
            (c.name.as_deref(), c.host.as_str(), c.port),
            (Some("c1"), "127.0.0.1", 0)
        );
        assert_eq!(
            (c.user.as_deref(), c.password.as_deref()),
            (Some("ru"), Some("rp"))
        );
        assert_eq!(c.auth_timeout, Duration::from_secs(3));
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[0].user.as_deref(), Some("a"));
        assert_eq!((c.routes[1].host.as_str(), c.routes[1].port), ("h", 6222));
        let o =
            apply_text("cluster { tls { cert_file: a, key_file: b, insecure: true } }").unwrap();
        let c = o.cluster.unwrap();
        assert!(c.tls.is_some() && c.tls_insecure);
    }
}
