//! A small HTTP/1.1 responder for the monitoring port: read one request
//! head (bounded in size and time), answer it, close the connection.
//!
//! Only what monitoring needs: `GET` and `HEAD`, no keep-alive
//! (`Connection: close`), no request bodies, no chunked encoding. The
//! limits are what keep a thread-per-connection monitor safe from slow or
//! oversized requests: [`MAX_REQUEST_HEAD`] bytes and one deadline for the
//! whole head, which trickling bytes do not extend.
//!
//! Query values are decoded as Go's `net/url` and `strconv` do, with the
//! same error texts, so a bad value gets the reply nats-server would give.

use std::io::{self, Read, Write};
use std::time::Instant;

/// The most a request head (request line and headers) may take.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// A bad query value: the text of an HTTP 400 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub String);

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The decoded path, without the query.
    pub path: String,
    /// The query parameters.
    pub query: Query,
    /// Header fields as (lower-case name, trimmed value), in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of a header (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The head passed [`MAX_REQUEST_HEAD`]: answer 431.
    TooLarge,
    /// Not an HTTP/1.x request: answer 400.
    Malformed,
    /// The peer went away or the deadline passed: just close.
    Gone,
}

/// Read one request head from `stream` (plain or TLS, its reads bounded
/// by the same deadline), giving up at `deadline`.
pub fn read_request(stream: &mut impl Read, deadline: Instant) -> Result<Request, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&buf) {
            return parse_head(&buf[..end]).ok_or(ReadError::Malformed);
        }
        if buf.len() >= MAX_REQUEST_HEAD {
            return Err(ReadError::TooLarge);
        }
        if Instant::now() >= deadline {
            return Err(ReadError::Gone);
        }
        let room = (MAX_REQUEST_HEAD - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(ReadError::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadError::Gone),
        }
    }
}

/// Where the head ends (after the blank line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parse a request head: `METHOD TARGET HTTP/1.x`, then header fields
/// (a line without a colon is skipped).
pub fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.lines();
    let line = lines.next()?.trim_end_matches('\r');
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    // An absolute-form target (`http://host/path`) is reduced to its path.
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    if !target.starts_with('/') {
        return None;
    }
    let target = target.split('#').next().unwrap_or(target);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Some(Request {
        method: method.to_string(),
        path: percent_decode(path, false)?,
        query: Query::parse(query),
        headers,
    })
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra header lines (`Name: value`).
    pub headers: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON body (200).
    pub fn json(body: Vec<u8>) -> Response {
        Response {
            status: 200,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// A plain-text body with a status.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    /// An HTML body (200).
    pub fn html(body: String) -> Response {
        Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// Write the response; `head_only` for `HEAD` requests.
    ///
    /// # Errors
    ///
    /// The socket write failed or timed out.
    pub fn write_to(&self, w: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Access-Control-Allow-Origin: *\r\nCache-Control: no-cache\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        );
        for h in &self.headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
        if !head_only {
            w.write_all(&self.body)?;
        }
        w.flush()
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Query parameters in the order given; lookups take the first value, as
/// Go's `url.Values.Get`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parse `a=1&b=x%20y`. A pair that does not decode is dropped, as Go's
    /// `ParseQuery` drops it from `r.URL.Query()`.
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                Some((percent_decode(k, true)?, percent_decode(v, true)?))
            })
            .collect();
        Query(pairs)
    }

    /// A query of decoded pairs (the system requests' JSON options).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Query {
        Query(pairs)
    }

    /// Add decoded pairs after the others.
    pub fn extend(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        self.0.extend(pairs);
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A Go boolean (`1 t T TRUE true True 0 f F FALSE false False`); absent or empty is false.
    ///
    /// # Errors
    ///
    /// nats-server's `Error decoding boolean for 'key': ...`.
    pub fn bool(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key).unwrap_or("") {
            "" => Ok(false),
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            v => Err(ApiError(format!(
                "Error decoding boolean for '{key}': strconv.ParseBool: parsing {}: invalid syntax",
                go_quote(v)
            ))),
        }
    }

    /// A Go `int` (64-bit); absent or empty is 0.
    ///
    /// # Errors
    ///
    /// nats-server's `Error decoding int for 'key': ...`.
    pub fn int(&self, key: &str) -> Result<i64, ApiError> {
        let v = self.get(key).unwrap_or("");
        if v.is_empty() {
            return Ok(0);
        }
        v.parse::<i64>().map_err(|e| {
            ApiError(format!(
                "Error decoding int for '{key}': strconv.Atoi: parsing {}: {}",
                go_quote(v),
                num_error(&e)
            ))
        })
    }

    /// A Go `uint64`; absent or empty is 0.
    ///
    /// # Errors
    ///
    /// nats-server's `Error decoding uint64 for 'key': ...`.
    pub fn uint64(&self, key: &str) -> Result<u64, ApiError> {
        let v = self.get(key).unwrap_or("");
        if v.is_empty() {
            return Ok(0);
        }
        let parsed = if v.starts_with('+') {
            "x".parse::<u64>()
        } else {
            v.parse::<u64>()
        };
        parsed.map_err(|e| {
            ApiError(format!(
                "Error decoding uint64 for '{key}': strconv.ParseUint: parsing {}: {}",
                go_quote(v),
                num_error(&e)
            ))
        })
    }
}

fn num_error(e: &std::num::ParseIntError) -> &'static str {
    match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            "value out of range"
        }
        _ => "invalid syntax",
    }
}

/// A string in double quotes with Go-like escapes (enough for error texts).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Decode `%XX` escapes (and `+` as a space in a query); `None` when an
/// escape is broken or the result is not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = parse_head(b"GET /connz?subs=1&sort=msgs_to&x=a%20b+c HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/connz");
        assert_eq!(r.query.get("subs"), Some("1"));
        assert_eq!(r.query.get("x"), Some("a b c"));
        assert_eq!(r.header("host"), Some("x"));
        let r = parse_head(b"HEAD http://h:1/varz HTTP/1.0\n\n").unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("HEAD", "/varz"));
        for bad in [
            &b"GET\r\n\r\n"[..],
            b"GET /x\r\n\r\n",
            b"GET /x SPDY/3\r\n\r\n",
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET /x HTTP/1.1 extra\r\n\r\n",
            b"\xff\xfe /x HTTP/1.1\r\n\r\n",
        ] {
            assert!(parse_head(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn head_ends_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn query_values_decode_like_go() {
        let q = Query::parse("a=1&a=2&b&c=%zz&d=%41");
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get("b"), Some(""));
        assert_eq!(q.get("c"), None);
        assert_eq!(q.get("d"), Some("A"));
        assert_eq!(Query::parse("t=T").bool("t"), Ok(true));
        assert_eq!(Query::parse("t=").bool("t"), Ok(false));
        assert_eq!(Query::parse("n=-3").int("n"), Ok(-3));
        assert_eq!(
            Query::parse("n=%2B3").uint64("n").unwrap_err().0,
            "Error decoding uint64 for 'n': strconv.ParseUint: parsing \"+3\": invalid syntax"
        );
    }

    #[test]
    fn responses_carry_cors_and_close() {
        let mut out = Vec::new();
        Response::json(b"{}".to_vec())
            .write_to(&mut out, false)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Type: application/json\r\n"));
        assert!(text.contains("Access-Control-Allow-Origin: *\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n{}"));
        let mut out = Vec::new();
        Response::text(404, "x").write_to(&mut out, true).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with("Content-Length: 1\r\nAccess-Control-Allow-Origin: *\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"));
    }
}
