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

#[test]
fn top_discover_finds_a_server_that_joins_later() {
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite]);
    let seed = nodes[0].http;
    // About 9 s of snapshots, 0.3 s apart; the third server joins meanwhile.
    let top = Command::new(nats_lite_bin())
        .args(["top", "-s", &seed.ip().to_string(), "-m"])
        .arg(seed.port().to_string())
        .args(["--discover", "-r", "30", "-d", "0.3", "-o", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run top");
    // Once top has asked the seed for /connz, it has discovered the two.
    let polled = crate::cluster_support::eventually(Duration::from_secs(10), || {
        nodes[0].json("/varz")["http_req_stats"]["/connz"]
            .as_u64()
            .is_some_and(|n| n >= 1)
    });
    assert!(polled, "top never polled the seed");
    let third = crate::cluster_support::Node::clustered(Impl::Lite, &[nodes[0].route_url()], &[]);
    let all = [&nodes[0], &nodes[1], &third];
    for n in all {
        n.wait_routes(2, crate::cluster_support::MESH_TIMEOUT);
    }
    let out = top.wait_with_output().expect("top output");
    let text = text_of(&out);
    let first = text.split("NATS cluster view").nth(1).unwrap_or_default();
    let last = text.rsplit("NATS cluster view").next().unwrap_or_default();
    assert!(first.contains(": 2 servers"), "{text}");
    assert!(last.contains(": 3 servers, 3 answering"), "{text}");
    assert!(last.contains(&format!("\n{} ", third.http)), "{last}");
}

/// The live view (in a tmux terminal) of `top --discover` shows the three.
#[test]
fn top_discover_live_view_in_a_terminal() {
    let Some(tmux) = crate::monitor_top::Tmux::new("discover") else {
        crate::util::skip_missing_peer("tmux (apt-get install -y tmux)");
        return;
    };
    let nodes = seed_cluster(&[Impl::Lite, Impl::Lite, Impl::Lite]);
    let script = format!(
        "{} top -s 127.0.0.1 -m {} --discover -d 0.3; echo TOP-EXITED rc=$?; sleep 60",
        nats_lite_bin().display(),
        nodes[1].http.port()
    );
    tmux.run((200, 30), &script);
    let s = tmux.wait_for("three servers", |s| s.contains("3 servers, 3 answering"));
    for n in &nodes {
        assert!(
            s.contains(&n.http.to_string()),
            "no row for {}:\n{s}",
            n.http
        );
    }
    tmux.keys(&["q"]);
    tmux.wait_for("top to exit", |s| s.contains("TOP-EXITED rc=0"));
}
