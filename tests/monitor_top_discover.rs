//! `top --discover`: pointed at one server, `top` finds the rest of its
//! cluster: nats-lite servers tell their route peers their monitoring URL
//! and list the others' in `/varz` (`cluster.monitor_urls`); against
//! nats-server, the hosts of `connect_urls` with the given `-m` port.

use std::process::{Command, Output};
use std::time::Duration;

use crate::cluster_support::{seed_cluster, Impl, CLUSTER};
use crate::util::{nats_lite_bin, nats_server_or_skip, ServerProcess};

fn top(args: &[&str]) -> Output {
    Command::new(nats_lite_bin())
        .arg("top")
        .args(args)
        .output()
        .expect("run top")
}

fn text_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "top failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn top_discovers_a_nats_lite_cluster_from_one_server() {
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    // Each server lists the other two's monitoring URLs.
    let urls = nodes[0].json("/varz")["cluster"]["monitor_urls"].clone();
    let want: Vec<String> = nodes[1..]
        .iter()
        .map(|n| format!("http://{}", n.http))
        .collect();
    let mut got: Vec<String> = urls
        .as_array()
        .unwrap_or_else(|| panic!("no cluster.monitor_urls: {urls}"))
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got, want_sorted);

    let seed = nodes[2].http;
    let out = top(&[
        "-s",
        &seed.ip().to_string(),
        "-m",
        &seed.port().to_string(),
        "--discover",
        "-o",
        "-",
    ]);
    let text = text_of(&out);
    assert!(text.contains("3 servers, 3 answering"), "{text}");
    assert!(text.contains("Routes: 6"), "{text}");
    for n in &nodes {
        let name = n.json("/varz")["server_name"].as_str().unwrap().to_string();
        let row = text
            .lines()
            .find(|l| l.starts_with(&n.http.to_string()))
            .unwrap_or_else(|| panic!("no row for {}: {text}", n.http));
        assert!(row.contains(&name[..name.len().min(24)]), "{row}");
    }
}

#[test]
fn top_discovers_a_nats_server_cluster_through_connect_urls() {
    let Some(_) = nats_server_or_skip() else {
        return;
    };
    // Two nats-server 2.9.10 on two loopback addresses, the same
    // monitoring port (as on two hosts).
    let port = crate::obs_support::free_port().to_string();
    let route_port = crate::obs_support::free_port();
    let a = ServerProcess::start_reference(&[
        "-m",
        &port,
        "--cluster",
        &format!("nats://127.0.0.1:{route_port}"),
        "--cluster_name",
        CLUSTER,
    ])
    .unwrap();
    let b = ServerProcess::start_reference(&[
        "-a",
        "127.0.0.2",
        "-m",
        &port,
        "--cluster",
        "nats://127.0.0.2:-1",
        "--cluster_name",
        CLUSTER,
        "--routes",
        &format!("nats://127.0.0.1:{route_port}"),
    ])
    .unwrap();
    // Until the route is up, a's connect_urls name only itself.
    let mut text = String::new();
    let found = crate::cluster_support::eventually(Duration::from_secs(20), || {
        text = text_of(&top(&[
            "-s",
            "127.0.0.1",
            "-m",
            &port,
            "--discover",
            "-o",
            "-",
        ]));
        text.contains("2 servers, 2 answering")
    });
    assert!(found, "never found both: {text}");
    assert!(text.contains(&format!("\n127.0.0.1:{port} ")), "{text}");
    assert!(text.contains(&format!("\n127.0.0.2:{port} ")), "{text}");
    drop((a, b));
}
