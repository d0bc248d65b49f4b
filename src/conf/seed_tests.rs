//! The configuration examples of the classic NATS documentation
//! (`tests/data/seed-configs`): every one parses, with no warning, into
//! the [`ServerConfig`] its comments describe. Plus end-to-end checks of the
//! option rules on small inline files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/seed-configs");

fn seed(name: &str) -> ServerConfig {
    let path = Path::new(SEEDS).join(name);
    let (config, warnings) =
        load_server_config(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(warnings.is_empty(), "{name}: {warnings:?}");
    config
}

fn auth(config: &ServerConfig) -> &Authorization {
    config
        .authorization
        .as_ref()
        .expect("an authorization block")
}

fn users(config: &ServerConfig) -> &[User] {
    auth(config).users.as_deref().expect("a users array")
}

fn user<'a>(config: &'a ServerConfig, name: &str) -> &'a User {
    users(config)
        .iter()
        .find(|u| u.user == name)
        .unwrap_or_else(|| panic!("no user {name}"))
}

fn allow(perm: &Option<SubjectPermission>) -> Vec<&str> {
    let perm = perm.as_ref().expect("a permission");
    assert_eq!(perm.deny, None);
    perm.allow.iter().flatten().map(String::as_str).collect()
}

fn route_hosts(cluster: &ClusterConfig) -> Vec<(String, Option<u16>)> {
    cluster
        .routes
        .iter()
        .map(|r| (r.host.clone(), r.port))
        .collect()
}

fn path(p: &Option<PathBuf>) -> &str {
    p.as_deref().and_then(Path::to_str).expect("a path")
}

const DEREK_HASH: &str = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG";

#[test]
fn every_seed_config_parses_without_warnings() {
    let mut names: Vec<_> = std::fs::read_dir(SEEDS)
        .expect("the seed configs directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    assert!(names.len() >= 19, "{names:?}");
    for name in &names {
        seed(name);
    }
}

#[test]
fn bcrypt_conf() {
    let c = seed("bcrypt.conf");
    let a = auth(&c);
    assert_eq!(a.user.as_deref(), Some("derek"));
    assert_eq!(a.password.as_deref(), Some(DEREK_HASH));
    assert!(is_bcrypt(DEREK_HASH));
    assert_eq!(a.pos.line, 2);
    // The comment's password matches the hash (cost 11: the slowest test).
    assert!(bcrypt::verify("T0pS3cr3t", DEREK_HASH).unwrap());
}

#[test]
fn clusters_of_three() {
    for (name, port, cluster_port, routes) in [
        ("cluster-a.conf", 7222, 7244, [7246, 7248]),
        ("cluster-b.conf", 8222, 7246, [7244, 7248]),
        ("cluster-c.conf", 9222, 7248, [7244, 7246]),
    ] {
        let c = seed(name);
        assert_eq!(c.port, Some(port), "{name}");
        let cluster = c.cluster.as_ref().unwrap();
        assert_eq!(cluster.host.as_deref(), Some("0.0.0.0"));
        assert_eq!(cluster.port, Some(cluster_port));
        let expected: Vec<_> = routes
            .iter()
            .map(|p| ("127.0.0.1".to_string(), Some(*p)))
            .collect();
        assert_eq!(route_hosts(cluster), expected, "{name}");
        assert!(cluster
            .routes
            .iter()
            .all(|r| r.scheme == "nats-route" && r.user.is_none()));
    }
}

#[test]
fn cluster_seed_conf() {
    let c = seed("cluster-seed.conf");
    assert_eq!((c.host.as_deref(), c.port), (Some("127.0.0.1"), Some(4222)));
    assert_eq!((c.http_host.as_deref(), c.http_port), (None, Some(8222)));
    let cluster = c.cluster.unwrap();
    assert_eq!(
        (cluster.host.as_deref(), cluster.port),
        (Some("127.0.0.1"), Some(4248))
    );
    assert!(cluster.routes.is_empty());
}

#[test]
fn cluster_tls_conf() {
    let c = seed("cluster-tls.conf");
    assert!(c.tls.is_none());
    let cluster = c.cluster.unwrap();
    assert_eq!(
        (cluster.host.as_deref(), cluster.port),
        (Some("127.0.0.1"), Some(4244))
    );
    let tls = cluster.tls.as_ref().unwrap();
    assert_eq!(path(&tls.cert_file), "./configs/certs/srva-cert.pem");
    assert_eq!(path(&tls.key_file), "./configs/certs/srva-key.pem");
    assert_eq!(path(&tls.ca_file), "./configs/certs/ca.pem");
    assert_eq!(
        route_hosts(&cluster),
        [("127.0.0.1".to_string(), Some(4246))]
    );
}

#[test]
fn docker_routes_auth_conf() {
    let c = seed("docker-routes-auth.conf");
    assert_eq!((c.port, c.http_port), (Some(4222), Some(8222)));
    let cluster = c.cluster.unwrap();
    assert_eq!(cluster.port, Some(6222));
    let auth = cluster.authorization.unwrap();
    assert_eq!(auth.user.as_deref(), Some("ruser"));
    assert_eq!(auth.password.as_deref(), Some("T0pS3cr3t"));
    assert_eq!(auth.timeout, Some(Duration::from_secs(2)));
}

#[test]
fn full_example_conf() {
    let c = seed("full-example.conf");
    assert_eq!((c.host.as_deref(), c.port), (Some("localhost"), Some(4242)));
    assert_eq!(c.http_port, Some(8222));
    let a = auth(&c);
    assert_eq!(a.user.as_deref(), Some("derek"));
    assert_eq!(a.password.as_deref(), Some(DEREK_HASH));
    assert_eq!(a.timeout, Some(Duration::from_secs(1)));
    let cluster = c.cluster.as_ref().unwrap();
    assert_eq!(
        (cluster.host.as_deref(), cluster.port),
        (Some("localhost"), Some(4244))
    );
    let ra = cluster.authorization.as_ref().unwrap();
    assert_eq!(ra.user.as_deref(), Some("route_user"));
    assert!(is_bcrypt(ra.password.as_deref().unwrap()));
    assert_eq!(ra.timeout, Some(Duration::from_millis(500)));
    let creds: Vec<_> = cluster
        .routes
        .iter()
        .map(|r| {
            (
                r.user.as_deref().unwrap(),
                r.password.as_deref().unwrap(),
                r.port.unwrap(),
            )
        })
        .collect();
    assert_eq!(creds, [("user1", "pass1", 4245), ("user2", "pass2", 4246)]);
    assert_eq!(
        (c.debug, c.trace, c.logtime),
        (Some(false), Some(true), Some(false))
    );
    assert_eq!(path(&c.log_file), "/tmp/nats-server.log");
    assert_eq!(path(&c.pid_file), "/tmp/nats-server.pid");
    assert_eq!(c.max_connections, Some(100));
    assert_eq!(c.max_control_line, Some(512));
    assert_eq!(c.max_payload, Some(65536));
    assert_eq!(c.write_deadline, Some(Duration::from_secs(2)));
}

#[test]
fn multi_user_and_variables_conf() {
    for name in ["multi-user.conf", "variables.conf"] {
        let c = seed(name);
        let pw: Vec<_> = users(&c)
            .iter()
            .map(|u| (u.user.as_str(), u.password.as_deref().unwrap()))
            .collect();
        assert_eq!(
            pw,
            [
                ("alice", "foo"),
                ("bob", "bar"),
                ("joe", "abcdefghijklmnopqrstuvwxyz0123456789")
            ],
            "{name}"
        );
        assert!(users(&c)
            .iter()
            .all(|u| u.permissions.is_none() && u.account.is_none()));
        assert_eq!(auth(&c).user, None);
    }
}

#[test]
fn permissions_conf() {
    let c = seed("permissions.conf");
    let perms = |name| user(&c, name).permissions.as_ref().unwrap();
    let joe = perms("joe");
    assert_eq!(
        (allow(&joe.publish), allow(&joe.subscribe)),
        (vec![">"], vec![">"])
    );
    let alice = perms("alice");
    assert_eq!(allow(&alice.publish), ["req.foo", "req.bar"]);
    assert_eq!(allow(&alice.subscribe), ["_INBOX.>"]);
    let bob = perms("bob");
    assert_eq!(allow(&bob.publish), ["_INBOX.>"]);
    assert_eq!(allow(&bob.subscribe), ["req.foo", "req.bar"]);
    assert_eq!(
        user(&c, "bob").password.as_deref(),
        Some("abcdefghijklmnopqrstuvwxwz0123456789")
    );
    // charlie has none of his own: the default permissions.
    let charlie = perms("charlie");
    assert_eq!(allow(&charlie.publish), ["SANDBOX.*"]);
    assert_eq!(allow(&charlie.subscribe), ["PUBLIC.>", "_INBOX.>"]);
    assert_eq!(auth(&c).default_permissions.as_ref(), Some(charlie));
}

#[test]
fn single_user_conf() {
    let c = seed("single-user.conf");
    let a = auth(&c);
    assert_eq!(
        (a.user.as_deref(), a.password.as_deref()),
        (Some("derek"), Some("T0pS3cr3t"))
    );
    assert_eq!(a.timeout, Some(Duration::from_secs(1)));
    assert!(!is_bcrypt("T0pS3cr3t"));
}

#[test]
fn tls_ciphers_conf() {
    let c = seed("tls-ciphers.conf");
    let tls = c.tls.unwrap();
    assert_eq!(
        tls.cipher_suites,
        [
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
        ]
    );
    assert_eq!(tls.timeout, Some(Duration::from_secs(2)));
    assert_eq!(path(&tls.cert_file), "./configs/certs/server.pem");
    assert_eq!(path(&tls.key_file), "./configs/certs/key.pem");
    assert!(!tls.verify);
}

#[test]
fn tls_simple_conf() {
    let c = seed("tls-simple.conf");
    assert_eq!((c.host.as_deref(), c.port), (Some("127.0.0.1"), Some(4443)));
    let tls = c.tls.as_ref().unwrap();
    assert_eq!(path(&tls.cert_file), "./configs/certs/server-cert.pem");
    assert_eq!(tls.timeout, Some(Duration::from_secs(2)));
    let a = auth(&c);
    assert_eq!(
        (a.user.as_deref(), a.password.as_deref()),
        (Some("derek"), Some(DEREK_HASH))
    );
    assert_eq!(a.timeout, Some(Duration::from_secs(1)));
}

#[test]
fn tls_verify_confs() {
    let c = seed("tls-verify.conf");
    let tls = c.tls.unwrap();
    assert!(tls.verify && !tls.verify_and_map);
    assert_eq!(path(&tls.ca_file), "./configs/certs/ca.pem");

    let c = seed("tls-verify-and-map.conf");
    let tls = c.tls.as_ref().unwrap();
    assert!(tls.verify && tls.verify_and_map);
    let names: Vec<_> = users(&c).iter().map(|u| u.user.as_str()).collect();
    assert_eq!(names, ["derek@nats.io", "CN=example.com,OU=CNCF"]);
    for u in users(&c) {
        assert_eq!(u.password, None);
        assert_eq!(allow(&u.permissions.as_ref().unwrap().publish), ["foo"]);
        assert_eq!(u.permissions.as_ref().unwrap().subscribe, None);
    }
}

#[test]
fn tutorial_confs() {
    for name in [
        "tutorial-1-basic.conf",
        "tutorial-2-tls.conf",
        "tutorial-3-auth.conf",
    ] {
        let c = seed(name);
        assert_eq!(
            (c.host.as_deref(), c.port),
            (Some("127.0.0.1"), Some(4222)),
            "{name}"
        );
    }
    assert!(seed("tutorial-1-basic.conf").tls.is_none());
    let c = seed("tutorial-2-tls.conf");
    let tls = c.tls.unwrap();
    assert_eq!(path(&tls.cert_file), "/srv/nats/priv/gnatsd.crt");
    assert_eq!(path(&tls.key_file), "/srv/nats/priv/gnatsd.key");
    assert_eq!(tls.timeout, Some(Duration::from_secs(1)));
    assert!(c.authorization.is_none());
    let c = seed("tutorial-3-auth.conf");
    assert!(c.tls.is_some());
    let a = auth(&c);
    assert_eq!(
        (a.user.as_deref(), a.password.as_deref()),
        (Some("user1"), Some("pass1"))
    );
}

// ---- The option rules, end to end on small files. ----

fn config(text: &str) -> Result<(ServerConfig, Vec<Warning>), String> {
    let map = parse_str(text, Path::new("s.conf")).map_err(|e| e.to_string())?;
    ServerConfig::from_value(&map).map_err(|e| e.to_string())
}

fn config_err(text: &str) -> String {
    match config(text) {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_options_are_errors_with_positions() {
    assert_eq!(
        config_err("port: 4222\n  max_paylod: 10"),
        "s.conf:2:3: unknown field \"max_paylod\""
    );
    assert_eq!(
        config_err("authorization {\n  user: a\n  pasword: b\n}"),
        "s.conf:3:3: unknown field \"pasword\""
    );
    // Keys match without case.
    let (c, _) = config("PORT: 1\nMax_Payload: 2\nDebug: true").unwrap();
    assert_eq!(
        (c.port, c.max_payload, c.debug),
        (Some(1), Some(2), Some(true))
    );
    // Used variables are not unknown options; unused ones are.
    let (c, _) = config("P: 4000\nport: $P").unwrap();
    assert_eq!(c.port, Some(4000));
    assert_eq!(
        config_err("P: 4000\nport: 1"),
        "s.conf:1:1: unknown field \"P\""
    );
}

#[test]
fn refused_and_ignored_options() {
    for (text, col) in [
        ("resolver_tls {}", 1),
        ("authorization {\n  auth_callout { issuer: x }\n}", 3),
    ] {
        let e = config_err(text);
        assert!(e.contains("is not supported by nats-lite"), "{e}");
        assert!(e.contains(&format!(":{col}: ")), "{text}: {e}");
    }
    let e = config_err("accounts {\n  A { exports [ {service: x, latency: y} ] }\n}");
    assert!(e.contains("service latency tracking"), "{e}");
    let e = config_err("accounts { A { imports [ {service: {account: B, subject: x}} ] } }");
    assert!(e.contains("service import not authorized"), "{e}");

    let (c, w) = config(
        "jetstream { store_dir: /tmp }\nmqtt { port: 1883 }\n\
         leafnodes { port: 7422 }\ngateway { name: a }\nserver_tags: [a]\n\
         server_metadata { a: b }\nmappings { a: b }\nport: 1",
    )
    .unwrap();
    assert_eq!(c.port, Some(1));
    let named: Vec<_> = w
        .iter()
        .map(|w| w.message.split('\'').nth(1).unwrap())
        .collect();
    assert_eq!(
        named,
        [
            "jetstream",
            "mqtt",
            "gateway",
            "server_tags",
            "server_metadata",
            "mappings"
        ]
    );
    assert_eq!(
        w[2].to_string(),
        "s.conf:4:1: 'gateway' is not supported by nats-lite and is ignored"
    );
}

#[test]
fn validation_as_nats_server() {
    assert_eq!(
        config_err("port: 1\nauthorization {\n user: a, password: b, token: c\n}"),
        "s.conf:2:1: Cannot have a user/pass and token"
    );
    assert_eq!(
        config_err(
            "authorization { users: [ {user: a} ] }\naccounts { A { users: [\n {user: a} ] } }"
        ),
        "s.conf:3:2: Duplicate user \"a\" detected"
    );
    assert_eq!(
        config_err("accounts { A { users: [ {user: a} ] }, B { users: [ {user: a} ] } }"),
        "s.conf:1:53: Duplicate user \"a\" detected"
    );
    assert_eq!(
        config_err("server_name: \"my server\""),
        "s.conf:1:14: server name cannot contain spaces"
    );
    assert_eq!(
        config_err("max_pending: 1kb\nmax_payload: 2kb"),
        "s.conf:2:14: max_payload (2048) cannot be higher than max_pending (1024)"
    );
    assert_eq!(
        config_err("max_payload: 100MB"),
        "s.conf:1:14: max_payload (104857600) cannot be higher than max_pending (67108864)"
    );
    let (c, w) = config("max_payload: 20MB\nmax_pending: 100MB").unwrap();
    assert_eq!(c.max_payload, Some(20 << 20));
    assert!(w[0].message.contains("Maximum payloads over 8.00 MB"));
    assert!(config_err("max_payload: 3gb").contains("max_payload value is too big"));
    assert!(config_err("max_sub_tokens: 256").contains("too big"));
    assert!(config_err("max_sub_tokens: 0").contains("can not be negative or zero"));
    assert!(config_err("max_connections: -1").contains("can not be negative"));
    assert_eq!(
        config_err("no_auth_user: bob\nauthorization { users: [ {user: alice} ] }"),
        "s.conf:1:15: no_auth_user: \"bob\" not present as user in authorization block or account configuration"
    );
    let (c, _) = config("no_auth_user: bob\naccounts { A { users: [ {user: bob} ] } }").unwrap();
    assert_eq!(c.no_auth_user.as_deref(), Some("bob"));
    assert_eq!(c.users().next().unwrap().account.as_deref(), Some("A"));
    assert!(config_err("lame_duck_duration: \"10s\"").contains("minimum is 30 seconds"));
    assert!(config_err("lame_duck_grace_period: \"-1s\"").contains("needs to be positive"));
    assert!(
        config_err("lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"30s\"")
            .contains("strictly lower")
    );
    let (c, _) = config("lame_duck_duration: \"1m\"\nlame_duck_grace_period: \"5s\"").unwrap();
    assert_eq!(
        (c.lame_duck_duration, c.lame_duck_grace_period),
        (Some(Duration::from_secs(60)), Some(Duration::from_secs(5)))
    );
    // Wrong types name the option and what it got.
    assert_eq!(
        config_err("debug: 1"),
        "s.conf:1:8: 'debug' expects a boolean (true/false), got an integer (1)"
    );
    assert_eq!(
        config_err("port: \"4222\""),
        "s.conf:1:7: 'port' expects an integer, got a string (\"4222\")"
    );
    assert_eq!(
        config_err("authorization: 1"),
        "s.conf:1:16: 'authorization' expects a map { ... }, got an integer (1)"
    );
}

#[test]
fn durations_and_sizes() {
    let (c, w) =
        config("write_deadline: \"500ms\"\nping_interval: \"1m30s\"\nping_max: 3").unwrap();
    assert_eq!(c.write_deadline, Some(Duration::from_millis(500)));
    assert_eq!(c.ping_interval, Some(Duration::from_secs(90)));
    assert_eq!(c.ping_max, Some(3));
    assert!(w.is_empty());
    // A plain number is seconds, with a warning.
    let (c, w) = config("ping_interval: 30\nwrite_deadline: 2").unwrap();
    assert_eq!(c.ping_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.write_deadline, Some(Duration::from_secs(2)));
    assert_eq!(w.len(), 2);
    assert!(w[0]
        .to_string()
        .starts_with("s.conf:1:16: ping_interval should be converted to a duration"));
    assert_eq!(
        config_err("ping_interval: \"30\""),
        "s.conf:1:16: error parsing ping_interval: time: missing unit in duration \"30\""
    );
    let (c, _) =
        config("max_payload: 1MB\nmax_pending: 2m\nlog_size_limit: 1GiB\nmax_control_line: 4k")
            .unwrap();
    assert_eq!(c.max_payload, Some(1 << 20));
    assert_eq!(c.max_pending, Some(2_000_000));
    assert_eq!(c.log_size_limit, Some(1 << 30));
    assert_eq!(c.max_control_line, Some(4000));
    // A high auth timeout (an unquoted 1m is one million seconds).
    let (_, w) = config("authorization { user: a, password: b, timeout: 1m }").unwrap();
    assert!(w[0].message.contains("is high"), "{w:?}");
}

#[test]
fn listen_and_monitoring_addresses() {
    let (c, _) = config("listen: \"[::1]:4223\"\nhttp: localhost:8223\nhttps_port: 8443\nhttp_base_path: /nats\nhttp_jsonp: true").unwrap();
    assert_eq!((c.host.as_deref(), c.port), (Some("::1"), Some(4223)));
    assert_eq!(
        (c.http_host.as_deref(), c.http_port, c.https_port),
        (Some("localhost"), Some(8223), Some(8443))
    );
    assert_eq!(
        (c.http_base_path.as_deref(), c.http_jsonp),
        (Some("/nats"), Some(true))
    );
    let (c, _) = config("port: -1\nmonitor_port: -1").unwrap();
    assert_eq!((c.port, c.http_port), (Some(0), Some(0)));
    let (c, _) =
        config("https: 0.0.0.0:8443\nnet: 10.0.0.1\nclient_advertise: \"nats.example.com:4222\"")
            .unwrap();
    assert_eq!(
        (c.http_host.as_deref(), c.https_port, c.http_port),
        (Some("0.0.0.0"), Some(8443), None)
    );
    assert_eq!(c.host.as_deref(), Some("10.0.0.1"));
    assert_eq!(c.client_advertise.as_deref(), Some("nats.example.com:4222"));
    assert_eq!(
        config_err("listen: 4222x"),
        "s.conf:1:9: 'listen': could not parse address string \"4222x\" (expected host:port)"
    );
}

#[test]
fn every_scalar_option() {
    let (c, w) = config(
        "server_name: n1\nallow_non_tls: true\nmax_conn: 5\nmax_subs: 6\nmax_sub_tokens: 7\n\
         trace_verbose: true\nlogtime_utc: true\nlogfile: /tmp/l\nlogfile_max_num: 3\n\
         pidfile: /tmp/p\nports_file_dir: /tmp\nsyslog: false\nremote_syslog: \"udp://h:514\"\n\
         max_traced_msg_len: 100\ndisable_sublist_cache: true\nmax_closed_clients: 9\n\
         no_header_support: yes\nconnect_error_reports: 10\nreconnect_error_reports: 11\n\
         system_account: SYS\naccounts { SYS {} }\ntrace_headers: off",
    )
    .unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.server_name.as_deref(), Some("n1"));
    assert_eq!(
        (
            c.allow_non_tls,
            c.max_connections,
            c.max_subscriptions,
            c.max_sub_tokens
        ),
        (Some(true), Some(5), Some(6), Some(7))
    );
    // trace_headers (last) sets trace after trace_verbose did.
    assert_eq!(
        (c.trace_verbose, c.trace_headers, c.trace),
        (Some(true), Some(false), Some(false))
    );
    assert_eq!(
        (c.logtime_utc, c.logfile_max_num, c.syslog),
        (Some(true), Some(3), Some(false))
    );
    assert_eq!(
        (
            path(&c.log_file),
            path(&c.pid_file),
            path(&c.ports_file_dir)
        ),
        ("/tmp/l", "/tmp/p", "/tmp")
    );
    assert_eq!(c.remote_syslog.as_deref(), Some("udp://h:514"));
    assert_eq!(
        (
            c.max_traced_msg_len,
            c.disable_sublist_cache,
            c.max_closed_clients
        ),
        (Some(100), Some(true), Some(9))
    );
    assert_eq!(
        (
            c.no_header_support,
            c.connect_error_reports,
            c.reconnect_error_reports
        ),
        (Some(true), Some(10), Some(11))
    );
    assert_eq!(c.system_account.as_deref(), Some("SYS"));
    assert_eq!(c.accounts[0].name, "SYS");
}

#[test]
fn permissions_from_variables_at_any_level() {
    let (c, _) = config(
        "PUB_ONLY = { publish: { allow: [\"a.>\"], deny: \"a.secret\" }, subscribe: { deny: \">\" } }\n\
         authorization {\n  users: [ {user: u, password: p, permissions: $PUB_ONLY} ]\n}",
    )
    .unwrap();
    let u = c.users().next().unwrap();
    let p = u.permissions.as_ref().unwrap();
    let publish = p.publish.as_ref().unwrap();
    assert_eq!(publish.allow.as_deref(), Some(&["a.>".to_string()][..]));
    assert_eq!(publish.deny.as_deref(), Some(&["a.secret".to_string()][..]));
    let subscribe = p.subscribe.as_ref().unwrap();
    assert_eq!(
        (
            subscribe.allow.as_ref(),
            subscribe.deny.as_ref().map(Vec::len)
        ),
        (None, Some(1))
    );
}

#[test]
fn a_json_file_is_a_config() {
    let (c, _) = config(
        r#"{"port": 4223, "authorization": {"users": [{"user": "a", "password": "b",
           "permissions": {"publish": ["x"]}}]}, "write_deadline": "3s"}"#,
    )
    .unwrap();
    assert_eq!(c.port, Some(4223));
    assert_eq!(c.write_deadline, Some(Duration::from_secs(3)));
    assert_eq!(c.users().count(), 1);
}
