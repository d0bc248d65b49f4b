//! The HTTP/1.1 upgrade to WebSocket, as nats-server answers it: `405` for
//! a method other than GET, `400` for a missing or wrong `Upgrade`,
//! `Connection`, `Sec-WebSocket-Key` or `Sec-WebSocket-Version`, `403` for
//! an origin that `same_origin` or `allowed_origins` refuses, `101` with
//! permessage-deflate when both sides want it. The whole request must come
//! before the handshake deadline; after an error status the connection is
//! closed.

use std::time::{Duration, Instant};

use super::socket::{WsSocket, RAW_READ};
use crate::protocol::websocket::{accept_key, has_token, header_value, DEFLATE_EXTENSION};
use crate::server::WebsocketOptions;

/// Longest request head accepted.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// A finished upgrade.
pub struct Upgraded {
    /// permessage-deflate was agreed.
    pub compression: bool,
    /// Bytes after the request head (the first frames).
    pub leftover: Vec<u8>,
}

/// Read the request, check it and answer it.
///
/// # Errors
///
/// Why the upgrade failed (the error status is already sent).
pub fn upgrade(
    socket: &WsSocket,
    opts: &WebsocketOptions,
    deadline: Instant,
) -> Result<Upgraded, String> {
    let mut head = Vec::new();
    let mut raw = vec![0u8; RAW_READ];
    let end = loop {
        if let Some(at) = memchr::memmem::find(&head, b"\r\n\r\n") {
            break at;
        }
        if head.len() > MAX_REQUEST_HEAD {
            refuse(socket, 431, "Request Header Fields Too Large");
            return Err("request head too large".into());
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Err("handshake timeout".into());
        };
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match socket.read(&mut raw, &mut head) {
            Ok(true) => {}
            Ok(false) => return Err("closed during the upgrade".into()),
            Err(e) => return Err(format!("upgrade read: {e}")),
        }
    };
    socket.set_read_timeout(None);
    let leftover = head.split_off(end + 4);
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let request_line = text.split("\r\n").next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("");
    let version = parts.nth(1).unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        refuse(socket, 400, "Bad Request");
        return Err(format!("not an HTTP request: {request_line:?}"));
    }
    if method != "GET" {
        refuse(socket, 405, "Method Not Allowed");
        return Err(format!("method {method} not allowed"));
    }
    let Some(host) = header_value(&text, "host") else {
        refuse(socket, 400, "Bad Request");
        return Err("missing Host header".into());
    };
    let upgrade_ok = header_value(&text, "upgrade").is_some_and(|v| has_token(v, "websocket"));
    let connection_ok = header_value(&text, "connection").is_some_and(|v| has_token(v, "upgrade"));
    let key = header_value(&text, "sec-websocket-key").filter(|k| !k.is_empty());
    let version_ok = header_value(&text, "sec-websocket-version") == Some("13");
    let Some(key) = key.filter(|_| upgrade_ok && connection_ok && version_ok) else {
        refuse(socket, 400, "Bad Request");
        return Err("invalid websocket upgrade headers".into());
    };
    if let Some(origin) = header_value(&text, "origin") {
        if !origin_allowed(origin, host, socket.is_tls(), opts) {
            refuse(socket, 403, "Forbidden");
            return Err(format!("origin {origin:?} not allowed"));
        }
    }
    let compression = opts.compression
        && header_value(&text, "sec-websocket-extensions").is_some_and(|v| {
            v.split(',')
                .any(|e| e.trim().starts_with("permessage-deflate"))
        });
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if compression {
        response.push_str(&format!(
            "Sec-WebSocket-Extensions: {DEFLATE_EXTENSION}\r\n"
        ));
    }
    response.push_str("\r\n");
    socket.set_write_timeout(Some(
        deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_default()
            .max(Duration::from_millis(1)),
    ));
    socket
        .write_all(response.as_bytes())
        .map_err(|e| format!("upgrade write: {e}"))?;
    socket.set_write_timeout(None);
    Ok(Upgraded {
        compression,
        leftover,
    })
}

/// Send an error status the way nats-server's HTTP server does, then close.
fn refuse(socket: &WsSocket, status: u16, text: &str) {
    socket.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = socket.write_all(&refusal(status, text, text));
    socket.shutdown();
}

/// An error response as nats-server's HTTP server writes it: `status` and
/// its `text`, `body` as a line of plain text.
pub fn refusal(status: u16, text: &str, body: &str) -> Vec<u8> {
    let body = format!("{body}\n");
    format!(
        "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Sec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `scheme://host[:port]` as (scheme, host, port) with the scheme's default port.
fn split_origin(origin: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.trim_end_matches('/');
    let default = if scheme == "https" || scheme == "wss" {
        443
    } else {
        80
    };
    let (host, port) = split_host(rest, default)?;
    Some((scheme, host, port))
}

fn split_host(s: &str, default: u16) -> Option<(String, u16)> {
    if let Some(stripped) = s.strip_prefix('[') {
        let (host, rest) = stripped.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        return Some((host.to_ascii_lowercase(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_ascii_lowercase(), p.parse().ok()?)),
        None => Some((s.to_ascii_lowercase(), default)),
    }
}

/// nats-server's origin check: with `same_origin` the origin's host and
/// port are the request's `Host`; with `allowed_origins` the origin is one
/// of them (scheme, host and port).
fn origin_allowed(origin: &str, host: &str, tls: bool, opts: &WebsocketOptions) -> bool {
    if !opts.same_origin && opts.allowed_origins.is_empty() {
        return true;
    }
    let Some((scheme, ohost, oport)) = split_origin(origin) else {
        return false;
    };
    if opts.same_origin {
        let default = if tls { 443 } else { 80 };
        let Some((rhost, rport)) = split_host(host, default) else {
            return false;
        };
        if ohost != rhost || oport != rport {
            return false;
        }
    }
    if !opts.allowed_origins.is_empty() {
        return opts
            .allowed_origins
            .iter()
            .filter_map(|a| split_origin(a))
            .any(|(s, h, p)| s == scheme && h == ohost && p == oport);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let mut o = WebsocketOptions {
            same_origin: true,
            ..WebsocketOptions::default()
        };
        assert!(origin_allowed("http://a.b:8080", "a.b:8080", false, &o));
        assert!(!origin_allowed("http://evil:8080", "a.b:8080", false, &o));
        assert!(origin_allowed("https://a.b", "a.b", true, &o));
        o.same_origin = false;
        o.allowed_origins = vec!["http://ok.example".into()];
        assert!(origin_allowed("http://ok.example:80", "x", false, &o));
        assert!(!origin_allowed("https://ok.example", "x", false, &o));
    }
}
