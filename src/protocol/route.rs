//! The route protocol between cluster servers (nats-server 2.x, protocol
//! level 2): parsing the ops a peer server sends on a route connection,
//! encoding the ones we send, and the route INFO and CONNECT documents.
//! Same framing and the same stateless, in-place parsing as
//! [`super::parser`]; see `docs/route-protocol.md` for the
//! wire behaviour this follows.
//!
//! ```text
//! INFO {json} / CONNECT {json} / PING / PONG / +OK / -ERR '<text>'
//! RS+ <acc> <subject> [<queue> <weight>]
//! RS- <acc> <subject> [<queue>]
//! RMSG <acc> <subject> [<reply> | + <reply> <q>... | \| <q>...] <size>
//! HMSG <acc> <subject> [<reply> | + <reply> <q>... | \| <q>...] <hdr size> <total size>
//! A+ <acc> / A- <acc>          (gateway interest: accepted and ignored)
//! ```
//!
//! Arguments are split on runs of blanks (2.9.10 emits double spaces in
//! some lines). Unlike nats-server, route lines and payloads are bounded
//! (the caller's [`Limits`]), so an unauthenticated peer cannot make us
//! buffer without limit.

use serde::{Deserialize, Serialize};

use super::encode::push_num;
use super::info::is_false;
use super::parser::{
    control_line, err_text, is_blank, message_body, parse_size, trim, Limits, Parsed, ProtocolError,
};

/// A route INFO (ours, a peer's, or one forwarded by gossip). Fields we do
/// not know are dropped when a peer's INFO is forwarded, as nats-server does.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RouteInfo {
    /// The sender's server id.
    pub server_id: String,
    /// Its name.
    #[serde(default)]
    pub server_name: String,
    /// Its version.
    #[serde(default)]
    pub version: String,
    /// Route protocol level (we speak 2).
    #[serde(default)]
    pub proto: i32,
    /// Cluster listen (or advertised) host.
    #[serde(default)]
    pub host: String,
    /// Cluster listen (or advertised) port.
    #[serde(default)]
    pub port: u16,
    /// HMSG understood.
    #[serde(default)]
    pub headers: bool,
    /// Route credentials are required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// Route TLS is required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Route certificates are verified.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Largest payload (informational on routes).
    #[serde(default)]
    pub max_payload: i64,
    /// The URL to dial this server at (advertised, or filled in by a forwarder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Cluster name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// The cluster name was generated, not configured.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// The sender's client URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// The sender is in lame duck mode.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// The sender's monitoring URL (`http://host:port`; an empty host:
    /// the address the route comes from). A nats-lite extension, ignored
    /// by nats-server; `top --discover` finds the cluster with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_url: Option<String>,
}

/// The CONNECT a soliciting server sends (and what we read of a peer's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RouteConnect {
    /// Always true.
    #[serde(default)]
    pub echo: bool,
    /// `+OK` after each op (never asked by us).
    #[serde(default)]
    pub verbose: bool,
    /// Always false.
    #[serde(default)]
    pub pedantic: bool,
    /// Route user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Route password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// TLS in use.
    #[serde(default)]
    pub tls_required: bool,
    /// HMSG understood.
    #[serde(default)]
    pub headers: bool,
    /// The solicitor's server id.
    #[serde(default)]
    pub name: String,
    /// Its cluster name.
    #[serde(default)]
    pub cluster: String,
    /// Its cluster name is generated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// Present only when a client dialled the route port by mistake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Present only when a gateway dialled the route port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// An op received on a route connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp<'a> {
    /// `INFO {json}`
    Info(&'a [u8]),
    /// `CONNECT {json}`
    Connect(&'a [u8]),
    /// `PING`
    Ping,
    /// `PONG`
    Pong,
    /// `+OK` (ignored)
    Ok,
    /// `RS+`: interest added, or a queue group's weight changed.
    Sub {
        /// Account name.
        account: &'a [u8],
        /// Subject, possibly with wildcards.
        subject: &'a [u8],
        /// Queue group and its member count on the peer.
        queue: Option<(&'a [u8], u32)>,
    },
    /// `RS-`: interest removed.
    Unsub {
        /// Account name.
        account: &'a [u8],
        /// Subject.
        subject: &'a [u8],
        /// Queue group.
        queue: Option<&'a [u8]>,
    },
    /// `RMSG` / `HMSG`: a message for our local subscribers.
    Msg(RoutedMsg<'a>),
    /// `A+` / `A-`: gateway account interest, meaningless on a route.
    AccountInterest,
}

/// A routed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedMsg<'a> {
    /// Account name.
    pub account: &'a [u8],
    /// Subject.
    pub subject: &'a [u8],
    /// Reply subject.
    pub reply: Option<&'a [u8]>,
    /// The queue groups the sender chose us for, separated by blanks
    /// (iterate with [`queue_names`]); empty for none.
    pub queues: &'a [u8],
    /// The header block of an HMSG.
    pub headers: Option<&'a [u8]>,
    /// The payload.
    pub payload: &'a [u8],
}

/// The queue group names of a [`RoutedMsg::queues`] list.
pub fn queue_names(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| is_blank(b)).filter(|q| !q.is_empty())
}

const ROUTE_OPS: &[&[u8]] = &[
    b"INFO", b"CONNECT", b"PING", b"PONG", b"+OK", b"-ERR", b"RS+", b"RS-", b"RMSG", b"HMSG",
    b"A+", b"A-",
];

/// Where the blank-separated tokens of `args` are: `(start, end)` pairs.
fn token_spans(args: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < args.len() && (is_blank(args[i]) || args[i] == b'\r') {
            i += 1;
        }
        if i >= args.len() {
            return None;
        }
        let start = i;
        while i < args.len() && !is_blank(args[i]) && args[i] != b'\r' {
            i += 1;
        }
        Some((start, i))
    })
}

/// Up to `N` tokens; `None` when there are more.
fn tokens<const N: usize>(args: &[u8]) -> Option<([&[u8]; N], usize)> {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut n = 0;
    for (s, e) in token_spans(args) {
        if n == N {
            return None;
        }
        out[n] = &args[s..e];
        n += 1;
    }
    Some((out, n))
}

/// Parse one op a peer server sends on a route.
///
/// # Errors
///
/// A [`ProtocolError`] when the input can never become a valid op:
/// `UnknownOp` deserves `-ERR 'Unknown Protocol Operation'`; `BadArgs`
/// closes silently, as nats-server does; `PeerError` is a received `-ERR`.
pub fn parse_route_op<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Parsed<RouteOp<'a>>, ProtocolError> {
    let line = match control_line(buf, ROUTE_OPS, limits)? {
        Some(line) => line,
        None => return Ok(Parsed::Incomplete(None)),
    };
    let op = &line.text[..line.op_len];
    let args = &line.text[line.args_start..];
    let end = line.consumed;
    let simple = |op| Ok(Parsed::Op(op, end));
    let upper = |b: u8| b.to_ascii_uppercase();
    match (op.len(), op.first().map(|&b| upper(b))) {
        (3, Some(b'R')) if op.eq_ignore_ascii_case(b"RS+") => {
            let (a, n) = tokens::<4>(args).ok_or(ProtocolError::BadArgs("RS+ arguments"))?;
            match n {
                2 => simple(RouteOp::Sub {
                    account: a[0],
                    subject: a[1],
                    queue: None,
                }),
                4 => {
                    let w = parse_size(a[3]).ok_or(ProtocolError::BadArgs("RS+ queue weight"))?;
                    simple(RouteOp::Sub {
                        account: a[0],
                        subject: a[1],
                        queue: Some((a[2], u32::try_from(w).unwrap_or(u32::MAX))),
                    })
                }
                _ => Err(ProtocolError::BadArgs("RS+ arguments")),
            }
        }
        (3, Some(b'R')) if op.eq_ignore_ascii_case(b"RS-") => {
            let (a, n) = tokens::<3>(args).ok_or(ProtocolError::BadArgs("RS- arguments"))?;
            match n {
                2 | 3 => simple(RouteOp::Unsub {
                    account: a[0],
                    subject: a[1],
                    queue: (n == 3).then_some(a[2]),
                }),
                _ => Err(ProtocolError::BadArgs("RS- arguments")),
            }
        }
        (4, Some(b'R' | b'H'))
            if op.eq_ignore_ascii_case(b"RMSG") || op.eq_ignore_ascii_case(b"HMSG") =>
        {
            let with_headers = upper(op[0]) == b'H';
            routed_msg(buf, args, end, with_headers, limits)
        }
        (4, _) if op.eq_ignore_ascii_case(b"PING") => simple(RouteOp::Ping),
        (4, _) if op.eq_ignore_ascii_case(b"PONG") => simple(RouteOp::Pong),
        (4, _) if op.eq_ignore_ascii_case(b"INFO") => simple(RouteOp::Info(trim(args))),
        (7, _) if op.eq_ignore_ascii_case(b"CONNECT") => simple(RouteOp::Connect(trim(args))),
        (3, _) if op.eq_ignore_ascii_case(b"+OK") => simple(RouteOp::Ok),
        (4, _) if op.eq_ignore_ascii_case(b"-ERR") => Err(ProtocolError::PeerError(err_text(args))),
        (2, _) if op.eq_ignore_ascii_case(b"A+") || op.eq_ignore_ascii_case(b"A-") => {
            simple(RouteOp::AccountInterest)
        }
        _ => Err(ProtocolError::UnknownOp),
    }
}

/// The arguments and body of an RMSG/HMSG whose control line ended at `end`.
fn routed_msg<'a>(
    buf: &'a [u8],
    args: &'a [u8],
    end: usize,
    with_headers: bool,
    limits: &Limits,
) -> Result<Parsed<RouteOp<'a>>, ProtocolError> {
    const BAD: ProtocolError = ProtocolError::BadArgs("RMSG/HMSG arguments");
    let sizes = if with_headers { 2 } else { 1 };
    // The first three tokens, the last `sizes`, and how many in all.
    let mut head: [(usize, usize); 3] = [(0, 0); 3];
    let mut tail: [(usize, usize); 2] = [(0, 0); 2];
    let mut count = 0usize;
    for span in token_spans(args) {
        if count < 3 {
            head[count] = span;
        }
        tail[0] = tail[1];
        tail[1] = span;
        count += 1;
    }
    let tok = |(s, e): (usize, usize)| &args[s..e];
    if count < 2 + sizes {
        return Err(BAD);
    }
    let (hdr, total) = if with_headers {
        let hdr = parse_size(tok(tail[0])).ok_or(BAD)?;
        let total = parse_size(tok(tail[1])).ok_or(BAD)?;
        if hdr > total {
            return Err(BAD);
        }
        (hdr, total)
    } else {
        (0, parse_size(tok(tail[1])).ok_or(BAD)?)
    };
    let middle = count - 2 - sizes;
    let (reply, queues): (Option<&[u8]>, &[u8]) = match middle {
        0 => (None, &[]),
        1 => (Some(tok(head[2])), &[]),
        _ => {
            let indicator = tok(head[2]);
            // The queue list runs from after the indicator (or the reply) up
            // to the first size token.
            let sizes_start = if with_headers { tail[0].0 } else { tail[1].0 };
            match indicator {
                b"+" => {
                    let mut spans = token_spans(args).skip(3);
                    let reply = spans.next().ok_or(BAD)?;
                    if middle < 3 {
                        return Err(BAD);
                    }
                    (Some(tok(reply)), &args[reply.1..sizes_start])
                }
                b"|" => (None, &args[head[2].1..sizes_start]),
                _ => return Err(BAD),
            }
        }
    };
    let _ = head[1];
    let account = tok(head[0]);
    let subject = tok(head[1]);
    message_body(buf, end, total, hdr, limits).map(|p| {
        p.map(|(h, payload)| {
            RouteOp::Msg(RoutedMsg {
                account,
                subject,
                reply,
                queues: trim(queues),
                headers: with_headers.then_some(h),
                payload,
            })
        })
    })
}

/// `RS+ <acc> <subject>[ <queue> <weight>]\r\n`
pub fn rs_plus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<(&[u8], u32)>) {
    out.extend_from_slice(b"RS+ ");
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some((q, w)) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        out.push(b' ');
        push_num(out, w as usize);
    }
    out.extend_from_slice(b"\r\n");
}

/// `RS- <acc> <subject>[ <queue>]\r\n`
pub fn rs_minus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(b"RS- ");
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

/// `RMSG`/`HMSG` for a peer: `queues` are the groups chosen for it,
/// separated by single spaces (empty for none).
#[allow(clippy::too_many_arguments)]
pub fn routed(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[u8],
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let hdr_len = headers.map_or(0, <[u8]>::len);
    out.reserve(account.len() + subject.len() + hdr_len + payload.len() + 48);
    out.extend_from_slice(if headers.is_some() {
        b"HMSG "
    } else {
        b"RMSG "
    });
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    out.push(b' ');
    if !queues.is_empty() {
        match reply {
            Some(r) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(r);
                out.push(b' ');
            }
            None => out.extend_from_slice(b"| "),
        }
        out.extend_from_slice(queues);
        out.push(b' ');
    } else if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    if let Some(h) = headers {
        push_num(out, h.len());
        out.push(b' ');
    }
    push_num(out, hdr_len + payload.len());
    out.extend_from_slice(b"\r\n");
    if let Some(h) = headers {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1 << 20,
    };

    fn one(input: &[u8]) -> RouteOp<'_> {
        match parse_route_op(input, &L) {
            Ok(Parsed::Op(op, n)) => {
                assert_eq!(n, input.len(), "{:?}", String::from_utf8_lossy(input));
                op
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn msg(input: &[u8]) -> RoutedMsg<'_> {
        match one(input) {
            RouteOp::Msg(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn interest_ops() {
        assert_eq!(
            one(b"RS+ $G foo\r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: None
            }
        );
        assert_eq!(
            one(b"rs+  $G\tfoo  q1 2 \r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: Some((b"q1", 2))
            }
        );
        assert_eq!(
            one(b"RS- $G foo q1\r\n"),
            RouteOp::Unsub {
                account: b"$G",
                subject: b"foo",
                queue: Some(b"q1")
            }
        );
        for bad in [
            &b"RS+ $G\r\n"[..],
            b"RS+ $G foo q\r\n",
            b"RS+ $G foo q x\r\n",
            b"RS+ a b c d e\r\n",
            b"RS- $G\r\n",
        ] {
            assert!(
                matches!(parse_route_op(bad, &L), Err(ProtocolError::BadArgs(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn message_forms() {
        let m = msg(b"RMSG $G foo 5\r\nhello\r\n");
        assert_eq!(
            (m.subject, m.reply, m.queues, m.payload),
            (&b"foo"[..], None, &b""[..], &b"hello"[..])
        );
        let m = msg(b"RMSG $G foo _INBOX.x 2\r\nhi\r\n");
        assert_eq!(m.reply, Some(&b"_INBOX.x"[..]));
        let m = msg(b"RMSG $G foo | q2 q1 5\r\nhello\r\n");
        assert_eq!((m.reply, m.queues), (None, &b"q2 q1"[..]));
        assert_eq!(
            queue_names(m.queues).collect::<Vec<_>>(),
            [&b"q2"[..], b"q1"]
        );
        let m = msg(b"RMSG  $G foo + r.1  qx 2\r\nab\r\n");
        assert_eq!((m.reply, m.queues), (Some(&b"r.1"[..]), &b"qx"[..]));
        let m = msg(b"HMSG $G foo | q1 12 14\r\nNATS/1.0\r\n\r\nr6\r\n");
        assert_eq!(m.headers, Some(&b"NATS/1.0\r\n\r\n"[..]));
        assert_eq!(m.payload, b"r6");
        let m = msg(b"HMSG $G foo rep 12 12\r\nNATS/1.0\r\n\r\n\r\n");
        assert_eq!((m.reply, m.payload), (Some(&b"rep"[..]), &b""[..]));
        let m = msg(b"RMSG $G wild.y 0\r\n\r\n");
        assert_eq!(m.payload, b"");
        for bad in [
            &b"RMSG $G\r\n"[..],
            b"RMSG $G foo\r\n",
            b"RMSG $G foo x\r\n",
            b"RMSG $G foo * q 1\r\n",
            b"RMSG $G foo + r 1\r\n",
            b"HMSG $G foo 5 4\r\n",
        ] {
            assert!(
                matches!(parse_route_op(bad, &L), Err(ProtocolError::BadArgs(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn other_ops_and_errors() {
        assert_eq!(one(b"PING\r\n"), RouteOp::Ping);
        assert_eq!(one(b"A+ $G\r\n"), RouteOp::AccountInterest);
        assert_eq!(one(b"INFO {\"a\":1} \r\n"), RouteOp::Info(b"{\"a\":1}"));
        assert_eq!(
            parse_route_op(b"FOO bar\r\n", &L),
            Err(ProtocolError::UnknownOp)
        );
        assert_eq!(
            parse_route_op(b"PUB foo 1\r\n", &L),
            Err(ProtocolError::UnknownOp)
        );
        assert_eq!(
            parse_route_op(b"-ERR 'x y'\r\n", &L),
            Err(ProtocolError::PeerError("x y".into()))
        );
        assert_eq!(
            parse_route_op(b"RMSG $G foo 2000000\r\n", &L),
            Err(ProtocolError::MaxPayload)
        );
        assert_eq!(
            parse_route_op(b"RMSG $G foo 5\r\nhel", &L),
            Ok(Parsed::Incomplete(Some(22)))
        );
    }

    /// Arbitrary input never panics, whatever the split.
    #[test]
    fn no_input_panics() {
        let pieces: [&[u8]; 14] = [
            b"RMSG ", b"HMSG ", b"RS+ ", b"RS- ", b"$G ", b"foo ", b"+ ", b"| ", b"q ", b"5 ",
            b"12 ", b"\r\n", b"  ", b"hello",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut input = Vec::new();
            for _ in 0..(x % 9) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                input.extend_from_slice(pieces[(x % pieces.len() as u64) as usize]);
            }
            for end in 0..=input.len() {
                let _ = parse_route_op(&input[..end], &L);
            }
        }
    }

    #[test]
    fn encoders_round_trip() {
        let mut out = Vec::new();
        rs_plus(&mut out, b"$G", b"foo", Some((b"q", 3)));
        rs_minus(&mut out, b"$G", b"foo", None);
        assert_eq!(out, b"RS+ $G foo q 3\r\nRS- $G foo\r\n");
        for (reply, queues, headers) in [
            (None, &b""[..], None),
            (Some(&b"r"[..]), &b""[..], None),
            (None, &b"q1 q2"[..], None),
            (Some(&b"r"[..]), &b"q1"[..], Some(&b"NATS/1.0\r\n\r\n"[..])),
        ] {
            out.clear();
            routed(&mut out, b"$G", b"s", reply, queues, headers, b"data");
            let m = msg(&out);
            assert_eq!(
                (m.reply, m.headers, m.payload),
                (reply, headers, &b"data"[..])
            );
            assert_eq!(m.queues, queues);
        }
    }
}
