//! Monitoring endpoints against a live server under traffic: fields and
//! counts of /varz, /connz, /subsz, /routez, /healthz, /accountz; paging,
//! sorting and closed connections in /connz; response headers; and the
//! reliability cases M01 (bad parameters, unknown paths, saturating
//! pagination) and M03 (no secrets, no JSONP by default).

use std::time::Duration;

use serde_json::Value;

use crate::monitor_util::{cids, http_get, http_raw, Monitored};
use crate::util::{nats_lite_bin, RawClient, TempDir};

const SETTLE: Duration = Duration::from_secs(5);

/// A connected raw client with a name; returns it and its cid.
fn client(m: &Monitored, name: &str) -> (RawClient, u64) {
    let mut c = m.server.connect();
    let info = c.handshake(&format!(
        r#"{{"verbose":false,"pedantic":false,"name":"{name}","lang":"raw","version":"9.9"}}"#
    ));
    let cid = info["client_id"].as_u64().expect("client_id in INFO");
    (c, cid)
}

fn publish(c: &mut RawClient, subject: &str, payload: &str, n: usize) {
    let mut out = String::new();
    for _ in 0..n {
        out.push_str(&format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()));
    }
    c.send(out);
    c.flush();
}

fn conn(connz: &Value, cid: u64) -> &Value {
    connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cid"] == cid)
        .unwrap_or_else(|| panic!("cid {cid} not in {connz:#}"))
}

#[test]
fn varz_reports_identity_limits_and_traffic() {
    let m = Monitored::start(&[]);
    let (mut sub, _) = client(&m, "sub");
    sub.send("SUB foo 1\r\n");
    sub.flush();
    let (mut publ, _) = client(&m, "pub");
    publ.send("PING\r\n");
    let info = {
        let mut c = m.server.connect();
        c.read_info()
    };
    publish(&mut publ, "foo", "hello", 10);
    for _ in 0..10 {
        assert_eq!(sub.read_msg().1, b"hello");
    }
    let v = m.poll_json("/varz", SETTLE, |v| {
        v["in_msgs"] == 10 && v["out_msgs"] == 10 && v["connections"] == 2
    });
    assert_eq!(v["in_msgs"], 10);
    assert_eq!(v["out_msgs"], 10);
    assert_eq!(v["in_bytes"], 50);
    assert_eq!(v["connections"], 2);
    assert!(v["total_connections"].as_u64().unwrap() >= 3);
    assert_eq!(v["subscriptions"], 1);
    assert_eq!(v["slow_consumers"], 0);
    assert_eq!(v["server_id"], info["server_id"]);
    assert_eq!(v["server_name"], info["server_name"]);
    assert_eq!(v["version"], info["version"]);
    assert_eq!(v["proto"], 1);
    assert_eq!(v["port"], m.server.addr.port());
    assert_eq!(v["http_port"], m.http.port());
    assert_eq!(v["http_host"], "127.0.0.1");
    assert_eq!(v["ping_interval"], 120_000_000_000u64);
    assert_eq!(v["write_deadline"], 10_000_000_000u64);
    assert_eq!(v["ping_max"], 2);
    assert_eq!(v["max_payload"], 1_048_576);
    assert_eq!(v["max_control_line"], 4096);
    assert_eq!(v["max_pending"], 67_108_864);
    assert_eq!(v["max_connections"], 65_536);
    assert_eq!(v["auth_timeout"], 2.0);
    assert_eq!(v["routes"], 0);
    assert_eq!(v["cluster"], serde_json::json!({}));
    assert!(v.get("auth_required").is_none(), "omitted when false");
    assert_eq!(v["go"], info["go"], "the toolchain, as INFO says");
    assert_eq!(v.get("git_commit"), info.get("git_commit"));
    assert!(v["cores"].as_u64().unwrap() >= 1);
    assert_eq!(v["gomaxprocs"], v["cores"]);
    assert!(v["cpu"].as_f64().unwrap() >= 0.0);
    #[cfg(target_os = "linux")]
    assert!(v["mem"].as_u64().unwrap() > 1024 * 1024);
    let uptime = v["uptime"].as_str().unwrap();
    assert!(
        uptime.ends_with('s') && uptime.chars().any(|c| c.is_ascii_digit()),
        "{uptime}"
    );
    for t in ["start", "now", "config_load_time"] {
        let s = v[t].as_str().unwrap();
        assert!(
            s.len() >= 20 && s.ends_with('Z') && &s[10..11] == "T",
            "{t}: {s}"
        );
    }
    assert!(v["start"].as_str() <= v["now"].as_str());
    assert!(v["http_req_stats"]["/varz"].as_u64().unwrap() >= 1);
    // Field order follows nats-server 2.9's Varz.
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    let text = m.get("/varz").text();
    let pos = |k: &str| text.find(&format!("\"{k}\"")).unwrap_or(usize::MAX);
    let order = [
        "server_id",
        "server_name",
        "version",
        "proto",
        "host",
        "port",
        "max_connections",
        "ping_interval",
        "ping_max",
        "http_host",
        "http_port",
        "https_port",
        "auth_timeout",
        "max_control_line",
        "max_payload",
        "max_pending",
        "cluster",
        "tls_timeout",
        "write_deadline",
        "start",
        "now",
        "uptime",
        "mem",
        "cores",
        "gomaxprocs",
        "cpu",
        "connections",
        "total_connections",
        "routes",
        "remotes",
        "leafnodes",
        "in_msgs",
        "out_msgs",
        "in_bytes",
        "out_bytes",
        "slow_consumers",
        "subscriptions",
        "http_req_stats",
        "config_load_time",
    ];
    for w in order.windows(2) {
        assert!(
            pos(w[0]) < pos(w[1]),
            "{} before {} in {keys:?}",
            w[0],
            w[1]
        );
    }
    // Pretty JSON with a two-space indent, as Go's MarshalIndent.
    assert!(text.starts_with("{\n  \"server_id\": "), "{text}");
}

#[test]
fn connz_lists_connections_with_their_counters() {
    let m = Monitored::start(&[]);
    let (mut sub, sub_cid) = client(&m, "the-sub");
    sub.send("SUB foo 1\r\nSUB bar.* q 2\r\nUNSUB 2 5\r\n");
    sub.flush();
    let (mut publ, pub_cid) = client(&m, "the-pub");
    publish(&mut publ, "foo", "0123456789", 7);
    for _ in 0..7 {
        sub.read_msg();
    }
    let c = m.poll_json("/connz", SETTLE, |c| {
        c["num_connections"] == 2
            && conn(c, sub_cid)["out_msgs"] == 7
            && conn(c, pub_cid)["in_msgs"] == 7
    });
    assert_eq!(c["total"], 2);
    assert_eq!(c["offset"], 0);
    assert_eq!(c["limit"], 1024);
    assert!(c["server_id"].as_str().unwrap().starts_with('N'));
    assert_eq!(cids(&c), vec![sub_cid, pub_cid], "sorted by cid");
    let s = conn(&c, sub_cid);
    assert_eq!(s["kind"], "Client");
    assert_eq!(s["type"], "nats");
    assert_eq!(s["ip"], "127.0.0.1");
    assert_eq!(s["port"], sub.stream.local_addr().unwrap().port());
    assert_eq!(s["name"], "the-sub");
    assert_eq!(s["lang"], "raw");
    assert_eq!(s["version"], "9.9");
    assert_eq!(s["subscriptions"], 2);
    assert_eq!(s["out_msgs"], 7);
    assert_eq!(s["in_msgs"], 0);
    assert_eq!(s["pending_bytes"], 0);
    assert!(s.get("subscriptions_list").is_none());
    assert!(s.get("authorized_user").is_none());
    assert!(s.get("stop").is_none() && s.get("reason").is_none());
    for k in ["rtt", "uptime", "idle", "start", "last_activity"] {
        assert!(s[k].is_string(), "{k}");
    }
    let p = conn(&c, pub_cid);
    assert_eq!(
        (p["in_msgs"].as_u64(), p["in_bytes"].as_u64()),
        (Some(7), Some(70))
    );
    assert_eq!(p["out_msgs"], 0);
    assert_eq!(p["subscriptions"], 0);

    let c = m.json("/connz?subs=1");
    let mut subjects: Vec<&str> = conn(&c, sub_cid)["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["bar.*", "foo"]);
    assert!(conn(&c, pub_cid).get("subscriptions_list").is_none());

    let c = m.json("/connz?subs=detail");
    let mut detail = conn(&c, sub_cid)["subscriptions_list_detail"]
        .as_array()
        .unwrap()
        .clone();
    detail.sort_by_key(|d| d["sid"].as_str().unwrap().to_string());
    assert_eq!(detail[0]["subject"], "foo");
    assert_eq!(detail[0]["sid"], "1");
    assert_eq!(detail[0]["msgs"], 7);
    assert_eq!(detail[0]["cid"], sub_cid);
    assert_eq!(detail[0]["account"], "$G");
    assert!(detail[0].get("max").is_none());
    assert_eq!(detail[1]["subject"], "bar.*");
    assert_eq!(detail[1]["qgroup"], "q");
    assert_eq!(detail[1]["max"], 5);

    let c = m.json(&format!("/connz?cid={pub_cid}"));
    assert_eq!(cids(&c), vec![pub_cid]);
    assert_eq!(c["limit"], 1);
    let c = m.json("/connz?cid=999999");
    assert_eq!(c["num_connections"], 0);
    assert_eq!(c["connections"], serde_json::json!([]));
}

#[test]
fn connz_pages_and_sorts() {
    let m = Monitored::start(&[]);
    let mut clients = Vec::new();
    // Client i publishes i+1 messages of i+1 bytes and subscribes i times.
    for i in 0..5usize {
        let (mut c, cid) = client(&m, &format!("c{i}"));
        for s in 0..i {
            c.send(format!("SUB s{s} {s}\r\n"));
        }
        publish(&mut c, "nobody", &"x".repeat(i + 1), i + 1);
        clients.push((c, cid));
    }
    let all: Vec<u64> = clients.iter().map(|(_, cid)| *cid).collect();
    let by_cid = m.poll_json("/connz", SETTLE, |c| {
        c["num_connections"] == 5 && c["connections"][4]["in_msgs"] == 5
    });
    assert_eq!(cids(&by_cid), all);
    let rev: Vec<u64> = all.iter().rev().copied().collect();
    for sort in ["msgs_from", "bytes_from", "subs"] {
        let c = m.json(&format!("/connz?sort={sort}"));
        assert_eq!(cids(&c), rev, "sort={sort}");
    }
    assert_eq!(cids(&m.json("/connz?sort=start")), all);
    for sort in [
        "pending", "msgs_to", "bytes_to", "last", "idle", "uptime", "rtt",
    ] {
        let c = m.json(&format!("/connz?sort={sort}"));
        assert_eq!(c["num_connections"], 5, "sort={sort}");
    }
    // Paging.
    let c = m.json("/connz?sort=msgs_from&limit=2&offset=1");
    assert_eq!(cids(&c), rev[1..3].to_vec());
    assert_eq!(
        (c["total"].as_u64(), c["num_connections"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(
        (c["offset"].as_u64(), c["limit"].as_u64()),
        (Some(1), Some(2))
    );
    let c = m.json("/connz?offset=4&limit=10");
    assert_eq!(cids(&c), all[4..].to_vec());
    let c = m.json("/connz?offset=5");
    assert_eq!(c["num_connections"], 0);
    assert_eq!(c["total"], 5);
}

#[test]
fn closed_connections_keep_their_reason() {
    let m = Monitored::start(&[]);
    let (mut bad, bad_cid) = client(&m, "bad");
    bad.send("ZZZ\r\n");
    let (_, closed) = bad.read_until_closed(Duration::from_secs(5));
    assert!(closed);
    let (good, good_cid) = client(&m, "good");
    drop(good);
    let (_open, open_cid) = client(&m, "open");
    let c = m.poll_json("/connz?state=closed", SETTLE, |c| c["total"] == 2);
    assert_eq!(c["total"], 2, "{c:#}");
    let b = conn(&c, bad_cid);
    assert_eq!(b["reason"], "Parse Error");
    assert_eq!(b["name"], "bad");
    assert!(b["stop"].is_string());
    assert_eq!(conn(&c, good_cid)["reason"], "Client Closed");
    assert!(!cids(&c).contains(&open_cid));

    let all = m.json("/connz?state=all");
    assert_eq!(cids(&all), vec![bad_cid, good_cid, open_cid]);
    assert!(conn(&all, open_cid).get("reason").is_none());
    let by_reason = m.json("/connz?state=closed&sort=reason");
    assert_eq!(
        cids(&by_reason),
        vec![good_cid, bad_cid],
        "Client Closed < Parse Error"
    );
    let by_stop = m.json("/connz?state=closed&sort=stop");
    assert_eq!(cids(&by_stop), vec![good_cid, bad_cid], "latest stop first");
    assert_eq!(
        cids(&m.json(&format!("/connz?state=closed&cid={good_cid}"))),
        vec![good_cid]
    );
}

#[test]
fn many_closed_connections_are_remembered() {
    // There is no flag for max_closed_clients yet; the ring's bound is
    // checked in its unit tests.
    let m = Monitored::start(&[]);
    for i in 0..20 {
        let (c, _) = client(&m, &format!("x{i}"));
        drop(c);
    }
    let c = m.poll_json("/connz?state=closed&limit=5", SETTLE, |c| c["total"] == 20);
    assert_eq!(c["total"], 20);
    assert_eq!(c["num_connections"], 5);
}

#[test]
fn subsz_reports_stats_and_filters_by_test_subject() {
    let m = Monitored::start(&[]);
    let (mut c, cid) = client(&m, "s");
    c.send("SUB foo.bar 1\r\nSUB foo.* 2\r\nSUB baz 3\r\nSUB > 4\r\nUNSUB 4\r\n");
    publish(&mut c, "foo.bar", "x", 1);
    let s = m.poll_json("/subsz", SETTLE, |s| s["num_matches"].as_u64() >= Some(1));
    assert_eq!(s["num_subscriptions"], 3);
    assert_eq!(s["num_inserts"], 4);
    assert_eq!(s["num_removes"], 1);
    assert!(s["num_matches"].as_u64().unwrap() >= 1);
    assert_eq!(s["max_fanout"], 2);
    for k in [
        "num_cache",
        "cache_hit_rate",
        "avg_fanout",
        "server_id",
        "now",
    ] {
        assert!(s.get(k).is_some(), "{k}");
    }
    assert!(s.get("subscriptions_list").is_none());
    let s = m.json("/subsz?subs=1");
    assert_eq!(s["total"], 3);
    let list = s["subscriptions_list"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|d| d["cid"] == cid && d["account"] == "$G"));
    let s = m.json("/subscriptionsz?subs=1&test=foo.bar");
    let mut subjects: Vec<&str> = s["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["foo.*", "foo.bar"]);
    let s = m.json("/subsz?subs=1&limit=2&offset=2");
    assert_eq!(s["subscriptions_list"].as_array().unwrap().len(), 1);
    let r = m.get("/subsz?subs=1&test=foo.*");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "invalid test subject, must be valid publish subject: foo.*"
    );
}

#[test]
fn routez_healthz_accountz_and_index() {
    let m = Monitored::start(&[]);
    let r = m.json("/routez?subs=1");
    assert_eq!(r["num_routes"], 0);
    assert_eq!(r["routes"], serde_json::json!([]));
    let h = m.get("/healthz");
    assert_eq!(h.status, 200);
    assert_eq!(h.text(), r#"{"status":"ok"}"#);
    let a = m.json("/accountz");
    assert_eq!(a["accounts"], serde_json::json!(["$G"]));
    let a = m.json("/accountz?acc=$G");
    assert_eq!(a["account_detail"]["account_name"], "$G");
    assert_eq!(m.get("/accountz?acc=nope").status, 400);
    let index = m.get("/");
    assert_eq!(index.status, 200);
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    for p in ["varz", "connz", "subsz", "routez", "healthz"] {
        assert!(index.text().contains(&format!("/{p}")), "{p}");
    }
    let v = m.json("/varz");
    for p in ["/", "/routez", "/healthz", "/accountz", "/varz"] {
        assert!(v["http_req_stats"][p].as_u64() >= Some(1), "{p}: {v:#}");
    }
}

#[test]
fn headers_cors_head_and_methods() {
    let m = Monitored::start(&[]);
    let r = m.get("/varz");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(
        r.header("content-length").and_then(|l| l.parse().ok()),
        Some(r.body.len())
    );
    let head = http_raw(m.http, b"HEAD /connz HTTP/1.1\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
    let post = http_raw(m.http, b"POST /varz HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(http_raw(m.http, b"NOT-HTTP\r\n\r\n").status, 400);
    let big = format!("GET /varz HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(http_raw(m.http, big.as_bytes()).status, 431);
}

/// nats-server removed JSONP (548e57548); nats-lite keeps it off unless
/// the config enables it, so `callback=` is ignored.
#[test]
fn m03_jsonp_is_off_by_default() {
    let m = Monitored::start(&[]);
    for path in [
        "/varz?callback=cb",
        "/connz?callback=alert",
        "/subsz?callback=x",
    ] {
        let r = m.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
        assert!(r.body.starts_with(b"{"), "{path}: {}", r.text());
    }
}

/// M01: bad values are 400 with nats-server's texts; unknown paths 404;
/// pagination saturates.
#[test]
fn m01_bad_parameters_unknown_paths_and_saturating_pages() {
    let m = Monitored::start(&[]);
    let (_c, _) = client(&m, "one");
    let bad: &[(&str, &str)] = &[
        ("/connz?sort=bogus", "invalid sorting option: bogus"),
        ("/connz?cid=abc", "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"abc\": invalid syntax"),
        ("/connz?cid=-1", "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax"),
        ("/connz?state=bogus", "Error decoding state for bogus"),
        ("/connz?subs=bogus", "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"bogus\": invalid syntax"),
        ("/connz?auth=2", "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"2\": invalid syntax"),
        ("/connz?limit=x", "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax"),
        ("/connz?offset=99999999999999999999", "Error decoding int for 'offset': strconv.Atoi: parsing \"99999999999999999999\": value out of range"),
        ("/connz?sort=stop", "sort by stop only valid on closed connections"),
        ("/connz?sort=reason&state=open", "sort by reason only valid on closed connections"),
        ("/subsz?subs=maybe", "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax"),
        ("/subsz?test=a..b", "invalid test subject, must be valid publish subject: a..b"),
        ("/routez?subs=x", "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"x\": invalid syntax"),
        ("/healthz?js-enabled-only=x", "Error decoding boolean for 'js-enabled-only': strconv.ParseBool: parsing \"x\": invalid syntax"),
    ];
    for (path, text) in bad {
        let r = m.get(path);
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.text(), *text, "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    }
    for path in ["/nope", "/varz/", "/connzz", "/VARZ", "/stacksz", "/jsz"] {
        let r = m.get(path);
        assert_eq!(r.status, 404, "{path}");
    }
    let huge = i64::MAX;
    for path in [
        format!("/connz?offset={huge}&limit={huge}"),
        format!("/connz?offset=1&limit={huge}"),
        "/connz?limit=-1".to_string(),
        "/connz?offset=-5".to_string(),
        format!("/connz?state=all&offset={huge}"),
        format!("/subsz?subs=1&offset={huge}&limit={huge}"),
        "/subsz?subs=1&limit=-1&offset=-9".to_string(),
    ] {
        let v = m.json(&path);
        assert!(v.is_object(), "{path}");
    }
    let v = m.json(&format!("/connz?offset={huge}&limit={huge}"));
    assert_eq!(v["connections"], serde_json::json!([]));
    assert_eq!(v["total"], 1);
    let v = m.json("/connz?limit=-1&offset=-5");
    assert_eq!(
        (v["limit"].as_i64(), v["offset"].as_i64()),
        (Some(1024), Some(0))
    );
    assert_eq!(v["num_connections"], 1);
    // Still serving.
    assert_eq!(m.get("/healthz").status, 200);
}

fn every_endpoint() -> Vec<&'static str> {
    vec![
        "/",
        "/varz",
        "/connz",
        "/connz?auth=1",
        "/connz?auth=1&state=all&subs=detail",
        "/routez?subs=detail",
        "/subsz?subs=1",
        "/healthz",
        "/accountz",
        "/accountz?acc=$G",
    ]
}

/// M03: started with a user and password, no endpoint shows the password
/// (nor argv); `auth=1` shows the user name only.
#[test]
fn m03_no_password_in_any_endpoint() {
    let m = Monitored::start(&["--user", "u", "--pass", "secretpw"]);
    let mut c = m.server.connect();
    c.handshake(r#"{"verbose":false,"user":"u","pass":"secretpw","name":"authd"}"#);
    c.send("SUB secret.stuff 1\r\n");
    c.flush();
    let mut gone = m.server.connect();
    gone.handshake(r#"{"verbose":false,"user":"u","pass":"secretpw"}"#);
    drop(gone);
    m.poll_json("/connz?state=closed", SETTLE, |v| v["total"] == 1);
    for path in every_endpoint() {
        let r = m.get(path);
        assert_eq!(r.status, 200, "{path}");
        let text = r.text();
        assert!(
            !text.contains("secretpw"),
            "{path} shows the password: {text}"
        );
        assert!(!text.contains("--pass"), "{path} shows argv: {text}");
    }
    let v = m.json("/varz");
    assert_eq!(v["auth_required"], true);
    let all = m.json("/connz?auth=1&state=all");
    let users: Vec<&Value> = all["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["authorized_user"])
        .collect();
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| *u == "u"), "{all:#}");
    assert!(m.json("/connz")["connections"][0]
        .get("authorized_user")
        .is_none());
    assert_eq!(m.json("/connz?auth=1&user=u")["num_connections"], 1);
    assert_eq!(m.json("/connz?auth=1&user=x")["num_connections"], 0);
}

/// A token is a secret too: it shows as `[REDACTED]`.
#[test]
fn m03_token_user_is_redacted() {
    let m = Monitored::start(&["--auth", "s3cr3t-token"]);
    let mut c = m.server.connect();
    c.handshake(r#"{"verbose":false,"auth_token":"s3cr3t-token"}"#);
    let v = m.json("/connz?auth=1");
    assert_eq!(v["connections"][0]["authorized_user"], "[REDACTED]");
    for path in every_endpoint() {
        let text = m.get(path).text();
        assert!(!text.contains("s3cr3t"), "{path} shows the token: {text}");
    }
}

/// A client that sends a request head a byte at a time is cut off when the
/// head's deadline passes, however it trickles; others are served meanwhile.
#[test]
fn slowloris_is_closed_after_the_request_timeout() {
    use std::io::{Read, Write};
    use std::time::Instant;
    let m = Monitored::start(&[]);
    let mut slow = std::net::TcpStream::connect(m.http).unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /varz HTTP/1.1\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let closed_after = loop {
        // Trickle a header byte every half second; stop when the server closes.
        let _ = slow.write_all(b"X");
        match slow.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(_) => panic!("the server answered an incomplete request"),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break started.elapsed(),
        }
        assert_eq!(m.get("/healthz").status, 200, "others are served meanwhile");
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "slowloris still open"
        );
    };
    assert!(
        closed_after >= Duration::from_secs(4) && closed_after < Duration::from_secs(9),
        "closed after {closed_after:?}"
    );
}

/// Past 64 monitoring connections at once, a new one gets 503; once they
/// go, monitoring works again.
#[test]
fn monitor_connections_are_capped() {
    let m = Monitored::start(&[]);
    let idle: Vec<std::net::TcpStream> = (0..64)
        .map(|_| std::net::TcpStream::connect(m.http).unwrap())
        .collect();
    // The 64 are accepted in order; poll until the cap is reached.
    let deadline = std::time::Instant::now() + SETTLE;
    let refused = loop {
        let r = http_get(m.http, "/healthz");
        if r.status == 503 || std::time::Instant::now() >= deadline {
            break r;
        }
    };
    assert_eq!(refused.status, 503, "{}", refused.text());
    drop(idle);
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        if http_get(m.http, "/healthz").status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "monitor did not recover"
        );
    }
}

#[test]
fn ports_file_lists_the_monitoring_url() {
    let dir = TempDir::new("monports");
    let m = Monitored::start(&["--ports_file_dir", dir.path().to_str().unwrap()]);
    let path = dir
        .path()
        .join(format!("nats-lite_{}.ports", m.server.pid()));
    let ports: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        ports["monitoring"],
        serde_json::json!([format!("http://{}", m.http)])
    );
    assert_eq!(ports["nats"], serde_json::json!([m.server.url()]));
}

/// `--https_port` serves the same endpoints over TLS with the server's
/// certificate, never asking for a client certificate (even under
/// `--tlsverify`); `top -ms` reads it.
#[test]
fn https_monitoring_uses_the_server_certificate() {
    use crate::client_support::TestPki;
    use crate::util::{ServerProcess, START_TIMEOUT};
    let pki = TestPki::new();
    let (cert, key, ca) = (
        pki.file("server.pem"),
        pki.file("server.key"),
        pki.file("ca.pem"),
    );
    let mut server = ServerProcess::start(&[
        "--tlsverify",
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
        "--tlscacert",
        &ca,
        "-ms",
        "-1",
    ]);
    let line = server
        .wait_for_log("Starting https monitor on", START_TIMEOUT)
        .expect("https monitor line");
    let port = line.rsplit(':').next().unwrap().to_string();
    let top = |extra: &[&str]| {
        std::process::Command::new(nats_lite_bin())
            .args(["top", "-s", "127.0.0.1", "-ms", &port, "-o", "-"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = top(&["--tlscacert", &ca]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Connections Polled: 0"));
    let out = top(&["-k"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = top(&[]);
    assert_eq!(out.status.code(), Some(1), "an unknown issuer is refused");
    // Plain HTTP on the HTTPS port gets no reply.
    let plain = std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    let mut plain = plain;
    use std::io::{Read, Write};
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain.write_all(b"GET /varz HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("server_id"));
}

#[test]
fn http_and_https_ports_together_are_refused() {
    let out = std::process::Command::new(nats_lite_bin())
        .args([
            "server",
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-m",
            "-1",
            "-ms",
            "-1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("can't specify both HTTP"), "{err}");
    let out = std::process::Command::new(nats_lite_bin())
        .args(["server", "-a", "127.0.0.1", "-p", "-1", "-ms", "-1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS cert and key required"), "{err}");
}
