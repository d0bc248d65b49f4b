//! Helpers for the cluster tests: start servers clustered on free loopback
//! ports (nats-lite, or the real nats-server for mixed clusters), learn each
//! one's client, route and monitoring ports from its log lines, wait for the
//! mesh through `/routez`, and make sure interest has crossed the cluster
//! with a probe message (PING/PONG-barriered) before counting messages.
//! Every wait has a deadline; nothing sleeps to synchronise.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::monitor_util::http_raw;
use crate::util::{RawClient, ServerProcess, IO_TIMEOUT, START_TIMEOUT};

/// How long a cluster may take to form or to heal.
pub const MESH_TIMEOUT: Duration = Duration::from_secs(20);
/// The cluster name every test uses.
pub const CLUSTER: &str = "ctest";

/// Which server a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// nats-lite.
    Lite,
    /// The real nats-server.
    Reference,
}

/// One server of a test cluster.
pub struct Node {
    /// The process.
    pub server: ServerProcess,
    /// Which server it is.
    pub kind: Impl,
    /// Where its route listener is.
    pub route: SocketAddr,
    /// Where its monitor is.
    pub http: SocketAddr,
    /// The flags it was started with (to restart it).
    pub args: Vec<String>,
}

fn addr_in(line: &str) -> SocketAddr {
    line.rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("bad address in {line:?}"))
}

impl Node {
    /// Start a server with `-m -1 --cluster_name ctest` plus `args` (which
    /// should contain `--cluster nats://127.0.0.1:-1` or a config file).
    pub fn start(kind: Impl, args: &[&str]) -> Node {
        let mut all: Vec<String> = vec!["-m".into(), "-1".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        Self::start_args(kind, all)
    }

    fn start_args(kind: Impl, args: Vec<String>) -> Node {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = match kind {
            Impl::Lite => ServerProcess::start(&refs),
            Impl::Reference => {
                ServerProcess::start_reference(&refs).expect("nats-server is installed")
            }
        };
        let route = server
            .wait_for_log("Listening for route connections on", START_TIMEOUT)
            .map(|l| addr_in(&l))
            .expect("no route listener line");
        let http = server
            .wait_for_log("Starting http monitor on", START_TIMEOUT)
            .map(|l| addr_in(&l))
            .expect("no monitor line");
        Node {
            server,
            kind,
            route,
            http,
            args,
        }
    }

    /// A cluster node: `--cluster` on a free port, our cluster name, and
    /// `routes` to solicit.
    pub fn clustered(kind: Impl, routes: &[String], extra: &[&str]) -> Node {
        let mut args = vec![
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            CLUSTER,
        ];
        let joined = routes.join(",");
        if !routes.is_empty() {
            args.extend(["--routes", joined.as_str()]);
        }
        args.extend_from_slice(extra);
        Node::start(kind, &args)
    }

    /// Start the same server again (the same flags; its ports are chosen
    /// anew unless the flags fix them).
    pub fn restart(kind: Impl, args: &[String]) -> Node {
        Self::start_args(kind, args.to_vec())
    }

    /// `nats-route://127.0.0.1:PORT` for other servers' `--routes`.
    pub fn route_url(&self) -> String {
        format!("nats-route://{}", self.route)
    }

    /// The client URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// GET a monitoring endpoint's JSON.
    pub fn json(&self, path: &str) -> serde_json::Value {
        // `Connection: close`: nats-server keeps HTTP/1.1 connections open.
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        );
        let r = http_raw(self.http, request.as_bytes());
        assert_eq!(r.status, 200, "GET {path}");
        serde_json::from_slice(&r.body).expect("JSON")
    }

    /// The number of routes `/routez` shows.
    pub fn num_routes(&self) -> u64 {
        self.json("/routez")["num_routes"].as_u64().unwrap_or(0)
    }

    /// Wait until `/routez` shows `n` routes.
    pub fn wait_routes(&self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.num_routes();
            if got == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{:?} node {}: {got} routes, expected {n} within {timeout:?}",
                self.kind,
                self.url()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A raw client: CONNECT (protocol 1, headers) and PONG.
    pub fn client(&self) -> RawClient {
        self.server
            .client(r#"{"verbose":false,"protocol":1,"headers":true}"#)
    }
}

/// A seed and `n - 1` servers pointing at it, of the given kinds
/// (`kinds[0]` is the seed); returns once every node has `n - 1` routes.
pub fn seed_cluster(kinds: &[Impl]) -> Vec<Node> {
    let seed = Node::clustered(kinds[0], &[], &[]);
    let url = seed.route_url();
    let mut nodes = vec![seed];
    for &k in &kinds[1..] {
        nodes.push(Node::clustered(k, std::slice::from_ref(&url), &[]));
    }
    wait_mesh(&nodes);
    nodes
}

/// Like [`seed_cluster`], every server started with `args` only (a config
/// file with its `cluster` block, say) plus `--routes` to the seed.
pub fn seed_cluster_with(kinds: &[Impl], args: &[&str]) -> Vec<Node> {
    let seed = Node::start(kinds[0], args);
    let url = seed.route_url();
    let mut nodes = vec![seed];
    for &k in &kinds[1..] {
        let mut a = args.to_vec();
        a.extend(["--routes", url.as_str()]);
        nodes.push(Node::start(k, &a));
    }
    wait_mesh(&nodes);
    nodes
}

/// Wait until every node has a route to every other.
pub fn wait_mesh(nodes: &[Node]) {
    for n in nodes {
        n.wait_routes(nodes.len() as u64 - 1, MESH_TIMEOUT);
    }
}

/// The probe subject's sid in [`sync_interest`]: messages with it are not
/// counted by [`collect`].
pub const PROBE_SID: &str = "999999";

/// Make sure the interest of `sub` (registered on its server) is known on
/// `publisher`'s server: `sub` subscribes a probe subject, `publisher`
/// publishes it (PING/PONG-barriered) until a copy arrives. Interest
/// travels in order on each route, so interest `sub` registered before is
/// there too.
pub fn sync_interest(sub: &mut RawClient, publisher: &mut RawClient) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = format!("probe.{}.{n}", std::process::id());
    sub.send(format!("SUB {probe} {PROBE_SID}\r\n"));
    sub.flush();
    let deadline = Instant::now() + MESH_TIMEOUT;
    loop {
        publisher.send(format!("PUB {probe} 0\r\n\r\n"));
        publisher.flush();
        if let Ok(line) = sub.try_read_line(Duration::from_millis(50)) {
            if line == "PING" {
                sub.send("PONG\r\n");
            } else if !line.starts_with("INFO ") {
                assert!(line.starts_with("MSG probe."), "unexpected {line:?}");
                sub.read_exact_bytes(2);
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "interest did not cross the cluster"
        );
    }
    sub.send(format!("UNSUB {PROBE_SID}\r\n"));
    sub.flush();
}

/// Read messages until `want` non-probe messages arrived, or nothing came
/// for `quiet` after that (to catch extras): (sid → payloads).
pub fn collect(
    client: &mut RawClient,
    want: usize,
    quiet: Duration,
) -> HashMap<String, Vec<String>> {
    let mut got: HashMap<String, Vec<String>> = HashMap::new();
    let mut count = 0;
    let deadline = Instant::now() + MESH_TIMEOUT;
    loop {
        let wait = if count >= want {
            quiet
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        let line = match client.try_read_line(wait) {
            Ok(l) => l,
            Err(e) if e == "timed out" => {
                assert!(count >= want, "only {count} of {want} messages: {got:?}");
                return got;
            }
            Err(e) => panic!("collect: {e} after {count} of {want} messages: {got:?}"),
        };
        if line == "PING" {
            client.send("PONG\r\n");
            continue;
        }
        if line.starts_with("INFO ") || line == "PONG" {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert!(
            matches!(parts.first(), Some(&"MSG") | Some(&"HMSG")),
            "unexpected line {line:?}"
        );
        let size: usize = parts.last().unwrap().parse().unwrap();
        let body = client.read_exact_bytes(size + 2);
        let sid = parts[2].to_string();
        if sid == PROBE_SID {
            continue;
        }
        count += 1;
        got.entry(sid)
            .or_default()
            .push(String::from_utf8_lossy(&body[..size]).into_owned());
    }
}

/// Publish `n` messages `prefix-i` on `subject`, then PING/PONG.
pub fn publish_n(client: &mut RawClient, subject: &str, prefix: &str, n: usize) {
    let mut out = String::new();
    for i in 0..n {
        let body = format!("{prefix}-{i}");
        out.push_str(&format!("PUB {subject} {}\r\n{body}\r\n", body.len()));
        if out.len() > 32 * 1024 {
            client.send(&out);
            out.clear();
        }
    }
    client.send(&out);
    client.flush();
}

/// Poll `done` until it holds or `timeout` passes; true when it held.
pub fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Default deadline for one exchange.
pub const EXCHANGE: Duration = IO_TIMEOUT;
