//! Helpers for the leafnode tests: start a hub (nats-lite or the real
//! nats-server) with a leafnode listener on a free port, start a leaf that
//! solicits it, wait for the leaf connection from the log, and the traffic
//! scenario every pairing runs (plain, wildcard and queue subscriptions,
//! request/reply and headers, both ways). Every wait has a deadline.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use crate::cluster_support::{sync_interest, Impl};
use crate::config_support::ConfDir;
use crate::util::{in_ci, nats_server_bin, RawClient, ServerProcess, START_TIMEOUT};

/// How long a leaf connection may take to form.
pub const LEAF_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server and its config directory.
pub struct LeafServer {
    /// The process.
    pub server: ServerProcess,
    /// Its leafnode listener, when it has one.
    pub leaf_addr: Option<SocketAddr>,
    /// Its config file and the files it names.
    pub dir: ConfDir,
}

/// True when nats-server is there; otherwise a message (and a failure
/// under CI).
pub fn reference_or_skip() -> bool {
    if nats_server_bin().is_some() {
        return true;
    }
    assert!(!in_ci(), "nats-server 2.9.10 is required under CI");
    eprintln!("skipped: nats-server is not installed");
    false
}

/// Start `kind` with the config `conf` (`-c`) plus `extra` flags; learn
/// the leafnode port from its log when it listens for leaves.
pub fn start(kind: Impl, conf: &str, extra: &[&str]) -> LeafServer {
    let dir = ConfDir::new("leaf");
    start_in(kind, dir, conf, extra)
}

/// [`start`] with a directory that already holds files the config names.
pub fn start_in(kind: Impl, dir: ConfDir, conf: &str, extra: &[&str]) -> LeafServer {
    let file = dir.write("server.conf", conf);
    let mut args = vec!["-c", file.as_str()];
    args.extend_from_slice(extra);
    let mut server = match kind {
        Impl::Lite => ServerProcess::start(&args),
        Impl::Reference => ServerProcess::start_reference(&args).expect("nats-server"),
    };
    let leaf_addr = if conf.contains("listen") {
        let line = server
            .wait_for_log("Listening for leafnode connections on", START_TIMEOUT)
            .expect("no leafnode listener line");
        Some(line.rsplit(' ').next().unwrap().parse().expect("address"))
    } else {
        None
    };
    LeafServer {
        server,
        leaf_addr,
        dir,
    }
}

impl LeafServer {
    /// `nats-leaf://[creds@]127.0.0.1:PORT` of its leafnode listener.
    pub fn leaf_url(&self, creds: &str) -> String {
        let at = if creds.is_empty() {
            String::new()
        } else {
            format!("{creds}@")
        };
        format!(
            "nats-leaf://{at}{}",
            self.leaf_addr.expect("a leafnode listener")
        )
    }

    /// Wait for the log line of a new leaf connection.
    pub fn wait_leaf(&mut self) {
        self.server
            .wait_for_log("Leafnode connection created", LEAF_TIMEOUT)
            .unwrap_or_else(|| panic!("no leaf connection: {:?}", self.server.log_lines()));
    }

    /// A raw client (headers on).
    pub fn client(&self) -> RawClient {
        self.server
            .client(r#"{"verbose":false,"protocol":1,"headers":true}"#)
    }
}

/// Read one message, answering PINGs: (control line, payload).
pub fn next_msg(c: &mut RawClient) -> (String, String) {
    loop {
        let (line, payload) = match c.read_line() {
            l if l == "PING" => {
                c.send("PONG\r\n");
                continue;
            }
            l if l.starts_with("INFO ") || l == "PONG" => continue,
            l => {
                let parts: Vec<&str> = l.split_whitespace().collect();
                assert!(
                    matches!(parts[0], "MSG" | "HMSG"),
                    "expected a message, got {l:?}"
                );
                let size: usize = parts.last().unwrap().parse().unwrap();
                let body = c.read_exact_bytes(size + 2);
                (
                    l.clone(),
                    String::from_utf8_lossy(&body[..size]).into_owned(),
                )
            }
        };
        return (line, payload);
    }
}

/// Traffic both ways between a client of the hub and a client of the leaf:
/// plain, wildcard and queue subscriptions, request/reply, headers.
pub fn exchange(hub: &mut RawClient, leaf: &mut RawClient) {
    leaf.send("SUB from.hub.* 1\r\nSUB work workers 2\r\nSUB svc.echo 3\r\n");
    hub.send("SUB from.leaf.> 1\r\nSUB jobs crew 2\r\nSUB _INBOX.reply 3\r\n");
    sync_interest(leaf, hub);
    sync_interest(hub, leaf);

    // Hub to leaf: wildcard, queue group.
    hub.send("PUB from.hub.a 5\r\nhello\r\nPUB work 3\r\njob\r\n");
    hub.flush();
    assert_eq!(
        next_msg(leaf),
        ("MSG from.hub.a 1 5".into(), "hello".into())
    );
    assert_eq!(next_msg(leaf), ("MSG work 2 3".into(), "job".into()));

    // Leaf to hub: full wildcard, queue group, headers.
    leaf.send("PUB from.leaf.x.y 2\r\nup\r\nPUB jobs 1\r\nj\r\n");
    leaf.send("HPUB from.leaf.h 23 25\r\nNATS/1.0\r\nX-Leaf: 1\r\n\r\nhi\r\n");
    leaf.flush();
    assert_eq!(next_msg(hub), ("MSG from.leaf.x.y 1 2".into(), "up".into()));
    assert_eq!(next_msg(hub), ("MSG jobs 2 1".into(), "j".into()));
    assert_eq!(
        next_msg(hub),
        (
            "HMSG from.leaf.h 1 23 25".into(),
            "NATS/1.0\r\nX-Leaf: 1\r\n\r\nhi".into()
        )
    );

    // Request from the hub, served on the leaf, answered back.
    hub.send("PUB svc.echo _INBOX.reply 4\r\nping\r\n");
    hub.flush();
    let (line, body) = next_msg(leaf);
    assert_eq!(
        (line.as_str(), body.as_str()),
        ("MSG svc.echo 3 _INBOX.reply 4", "ping")
    );
    leaf.send("PUB _INBOX.reply 4\r\npong\r\n");
    leaf.flush();
    assert_eq!(
        next_msg(hub),
        ("MSG _INBOX.reply 3 4".into(), "pong".into())
    );

    // Nothing else (no duplicate) arrived on either side.
    assert!(hub.flush().is_empty());
    assert!(leaf.flush().is_empty());
}
