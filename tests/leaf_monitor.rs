//! Leafnode monitoring: `/leafz` (with `subs=1`), the `leaf` block and
//! `leafnodes` count of `/varz` on a hub and on its leaf, compared key by
//! key with nats-server 2.9.10 in the same setup; `/metrics` leaf gauges
//! (checked by promtool).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster_support::{sync_interest, Impl};
use crate::leaf_support::{reference_or_skip, start};
use crate::monitor_util::{http_raw, Monitored};

/// GET `path`'s JSON (`Connection: close`: nats-server keeps HTTP/1.1
/// connections open).
fn get(m: &Monitored, path: &str) -> Value {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        m.http
    );
    let r = http_raw(m.http, request.as_bytes());
    assert_eq!(r.status, 200, "GET {path}");
    serde_json::from_slice(&r.body).expect("JSON")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// GET `/metrics` as text.
fn metrics_text(m: &Monitored) -> String {
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        m.http
    );
    let r = http_raw(m.http, request.as_bytes());
    assert_eq!(r.status, 200);
    r.text()
}

#[test]
fn metrics_count_leaf_connections_and_pass_promtool() {
    let hub = start(
        Impl::Lite,
        "leafnodes { listen: 127.0.0.1:-1 }",
        &["-m", "-1"],
    );
    let url = hub.leaf_url("");
    let leaf = start(
        Impl::Lite,
        &format!("leafnodes {{ remotes = [ {{ url: \"{url}\" }} ] }}"),
        &[],
    );
    let mut leaf_client = leaf.client();
    leaf_client.send("SUB watched 1\r\n");
    let mut hub_client = hub.client();
    sync_interest(&mut leaf_client, &mut hub_client);
    let hub_mon = Monitored::attach(hub.server);
    let text = metrics_text(&hub_mon);
    for want in [
        "gnatsd_varz_leafnodes{server_id=",
        "gnatsd_leafz_leafnodes{server_id=",
        "gnatsd_leafz_leaf_info{server_id=",
        "gnatsd_leafz_leaf_subscriptions{server_id=",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("gnatsd_leafz_leafnodes{") && l.ends_with(" 1")),
        "{text}"
    );
    let Some(promtool) = crate::obs_support::require_tool("promtool", "prometheus") else {
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A hub and its leaf of `kind`, monitored, with a subscription on the
/// leaf: (hub /leafz?subs=1, hub /varz, leaf /varz).
fn observe(kind: Impl) -> (Value, Value, Value) {
    let hub = start(
        kind,
        "leafnodes { listen: 127.0.0.1:-1, authorization { user: u, password: p } }",
        &["-m", "-1"],
    );
    let url = hub.leaf_url("u:p");
    let leaf = start(
        kind,
        &format!("leafnodes {{ remotes = [ {{ url: \"{url}\" }} ] }}"),
        &["-m", "-1"],
    );
    let mut leaf_client = leaf.client();
    leaf_client.send("SUB watched 1\r\n");
    let mut hub_client = hub.client();
    sync_interest(&mut leaf_client, &mut hub_client);
    let hub_mon = Monitored::attach(hub.server);
    let leaf_mon = Monitored::attach(leaf.server);
    let deadline = Instant::now() + Duration::from_secs(10);
    let leafz = loop {
        let v = get(&hub_mon, "/leafz?subs=1");
        let seen = v["leafs"][0]["subscriptions_list"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s == "watched"));
        if seen || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (leafz, get(&hub_mon, "/varz"), get(&leaf_mon, "/varz"))
}

#[test]
fn leafz_and_varz_show_leaves_with_nats_server_fields() {
    let (leafz, hub_varz, leaf_varz) = observe(Impl::Lite);
    assert_eq!(leafz["leafnodes"], 1);
    let leaf = &leafz["leafs"][0];
    assert_eq!(leaf["account"], "$G");
    assert_eq!(leaf["ip"], "127.0.0.1");
    assert!(leaf["subscriptions"].as_u64().unwrap() >= 2, "{leaf}");
    assert_eq!(hub_varz["leafnodes"], 1);
    assert_eq!(leaf_varz["leafnodes"], 1);
    assert!(hub_varz["leaf"]["port"].as_u64().unwrap() > 0);
    assert_eq!(leaf_varz["leaf"]["remotes"][0]["local_account"], "$G");
    if !reference_or_skip() {
        return;
    }
    let (ref_leafz, ref_hub_varz, ref_leaf_varz) = observe(Impl::Reference);
    assert_eq!(keys(&leafz), keys(&ref_leafz), "/leafz");
    assert_eq!(keys(leaf), keys(&ref_leafz["leafs"][0]), "/leafz leafs[0]");
    assert_eq!(
        keys(&hub_varz["leaf"]),
        keys(&ref_hub_varz["leaf"]),
        "hub /varz leaf"
    );
    assert_eq!(
        keys(&leaf_varz["leaf"]),
        keys(&ref_leaf_varz["leaf"]),
        "leaf /varz leaf"
    );
    assert_eq!(
        keys(&leaf_varz["leaf"]["remotes"][0]),
        keys(&ref_leaf_varz["leaf"]["remotes"][0])
    );
}
