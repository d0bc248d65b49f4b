//! Helpers for the monitoring tests: start a server with `-m -1`, learn the
//! monitor's port from its `Starting http monitor on` line, and fetch
//! endpoints over a raw socket (so that status, headers and the exact body
//! bytes are all visible). Every wait is bounded by a deadline.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::util::{ServerProcess, IO_TIMEOUT, START_TIMEOUT};

/// A server with monitoring on a free loopback port.
pub struct Monitored {
    /// The server process.
    pub server: ServerProcess,
    /// The monitoring address.
    pub http: SocketAddr,
}

impl Monitored {
    /// Start `nats-lite server -m -1` plus `extra`.
    pub fn start(extra: &[&str]) -> Monitored {
        let mut args = vec!["-m", "-1"];
        args.extend_from_slice(extra);
        Monitored::attach(ServerProcess::start(&args))
    }

    /// A started server that logs `Starting http monitor on`.
    pub fn attach(mut server: ServerProcess) -> Monitored {
        let line = server
            .wait_for_log("Starting http monitor on", START_TIMEOUT)
            .expect("no 'Starting http monitor on' line");
        let http = line
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("bad monitor address in {line:?}"));
        Monitored { server, http }
    }

    /// GET `path` (with its query).
    pub fn get(&self, path: &str) -> HttpReply {
        http_get(self.http, path)
    }

    /// GET `path`, expect 200 and JSON, and parse it.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "GET {path}"
        );
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("GET {path}: bad JSON ({e}): {}", r.text()))
    }

    /// Fetch `path` until `done` holds for its JSON or `timeout` passes;
    /// returns the last JSON either way.
    pub fn poll_json(
        &self,
        path: &str,
        timeout: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.json(path);
            if done(&v) || Instant::now() >= deadline {
                return v;
            }
            std::thread::yield_now();
        }
    }
}

/// A raw HTTP reply.
#[derive(Debug)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Header lines as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send a raw request and read the reply until the server closes.
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> HttpReply {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect monitor");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(request).expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read reply");
    parse_reply(&raw)
}

/// GET `path` with HTTP/1.1.
pub fn http_get(addr: SocketAddr, path: &str) -> HttpReply {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
}

/// Split a raw reply into status, headers and body.
pub fn parse_reply(raw: &[u8]) -> HttpReply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// The cids of a `/connz` reply's connections, in order.
pub fn cids(connz: &serde_json::Value) -> Vec<u64> {
    connz["connections"]
        .as_array()
        .expect("connections array")
        .iter()
        .map(|c| c["cid"].as_u64().unwrap())
        .collect()
}
