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
//! LS+ <origin> <acc> <subject> [<queue> <weight>]   (a leaf's interest, `lnoc`)
//! LS- <acc> <subject> [<queue>]   (no origin: we do not announce `lnocu`)
//! LMSG <origin> <acc> <subject> [reply/queues as RMSG] <hdr size> <total size>
//! A+ <acc> / A- <acc>          (gateway interest: accepted and ignored)
//! ```
//!
//! The `L` forms carry the cluster name of the leaf a message or interest
//! came from (nats-server's "leafnode origin cluster", announced by `lnoc`
//! in the route INFO): a server never sends such a message on to a leaf of
//! that cluster. `LMSG` always has a header size (`0`: no headers).
//!
//! Arguments are split on runs of blanks (2.9.10 emits double spaces in
//! some lines). Unlike nats-server, route lines and payloads are bounded
//! (the caller's [`Limits`]), so an unauthenticated peer cannot make us
//! buffer without limit.

use serde::{Deserialize, Serialize};

use super::info::is_false;
use super::parser::{control_line, err_text, parse_size, trim, Limits, Parsed, ProtocolError};
use super::peer::{self, tokens, PeerMsg};

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
    /// The sender's leafnode URL (`host:port`), when it accepts leaves:
    /// hubs tell their leaves the whole cluster's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leafnode_urls: Vec<String>,
    /// The sender understands `LS+`/`LS-`/`LMSG` with a leaf origin
    /// cluster (nats-server's `lnoc`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lnoc: bool,
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
        /// `LS+`: the cluster of the leaf the interest comes from.
        origin: Option<&'a [u8]>,
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
    /// `LMSG`: a message that came into the peer's cluster from a leaf
    /// of cluster `origin`.
    OriginMsg {
        /// The leaf's cluster name.
        origin: &'a [u8],
        /// The message.
        msg: RoutedMsg<'a>,
    },
    /// `A+` / `A-`: gateway account interest, meaningless on a route.
    AccountInterest,
}

/// A routed message (its `account` is always set).
pub type RoutedMsg<'a> = PeerMsg<'a>;

pub use super::peer::queue_names;

const ROUTE_OPS: &[&[u8]] = &[
    b"INFO", b"CONNECT", b"PING", b"PONG", b"+OK", b"-ERR", b"RS+", b"RS-", b"RMSG", b"HMSG",
    b"A+", b"A-", b"LS+", b"LS-", b"LMSG",
];

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
    // `LS+`: as `RS+` with the origin cluster first. `LS-`: as `RS-`, for it has no origin unless the peer was
    // told `lnocu` (2.10.23+), which we do not announce; 2.9.10 sends
    // `LS-  <acc> ...` (two spaces). See `docs/route-protocol.md` §11.
    let mut origin = None;
    let (op, args) = if op.eq_ignore_ascii_case(b"LS+") {
        let rest = skip_token(args).ok_or(ProtocolError::BadArgs("LS+ arguments"))?;
        origin = peer::token_spans(args).next().map(|(s, e)| &args[s..e]);
        (&b"RS+"[..], rest)
    } else if op.eq_ignore_ascii_case(b"LS-") {
        (&b"RS-"[..], args)
    } else {
        (op, args)
    };
    match (op.len(), op.first().map(|&b| upper(b))) {
        (4, Some(b'L')) if op.eq_ignore_ascii_case(b"LMSG") => {
            let origin = peer::token_spans(args).next().map(|(s, e)| &args[s..e]);
            let rest = skip_token(args);
            let (Some(origin), Some(rest)) = (origin, rest) else {
                return Err(ProtocolError::BadArgs("LMSG arguments"));
            };
            let parsed = peer::parse_msg(buf, rest, end, true, true, limits)?;
            Ok(parsed.map(|mut msg| {
                msg.headers = msg.headers.filter(|h| !h.is_empty());
                RouteOp::OriginMsg { origin, msg }
            }))
        }
        (3, Some(b'R')) if op.eq_ignore_ascii_case(b"RS+") => {
            let (a, n) = tokens::<4>(args).ok_or(ProtocolError::BadArgs("RS+ arguments"))?;
            match n {
                2 => simple(RouteOp::Sub {
                    account: a[0],
                    subject: a[1],
                    queue: None,
                    origin,
                }),
                4 => {
                    let w = parse_size(a[3]).ok_or(ProtocolError::BadArgs("RS+ queue weight"))?;
                    simple(RouteOp::Sub {
                        account: a[0],
                        subject: a[1],
                        queue: Some((a[2], u32::try_from(w).unwrap_or(u32::MAX))),
                        origin,
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

/// `args` after its first token (None when there is only one, or none).
fn skip_token(args: &[u8]) -> Option<&[u8]> {
    let (_, end) = peer::token_spans(args).next()?;
    let rest = &args[end..];
    peer::token_spans(rest).next().map(|(s, _)| &rest[s..])
}

/// The arguments and body of an RMSG/HMSG whose control line ended at `end`.
fn routed_msg<'a>(
    buf: &'a [u8],
    args: &'a [u8],
    end: usize,
    with_headers: bool,
    limits: &Limits,
) -> Result<Parsed<RouteOp<'a>>, ProtocolError> {
    peer::parse_msg(buf, args, end, with_headers, true, limits).map(|p| p.map(RouteOp::Msg))
}

/// `RS+ <acc> <subject>[ <queue> <weight>]\r\n`
pub fn rs_plus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<(&[u8], u32)>) {
    peer::encode_interest(
        out,
        b"RS+",
        Some(account),
        subject,
        queue.map(|q| q.0),
        queue.map(|q| q.1),
    );
}

/// `RS- <acc> <subject>[ <queue>]\r\n`
pub fn rs_minus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    peer::encode_interest(out, b"RS-", Some(account), subject, queue, None);
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
    peer::encode_msg(
        out,
        b"RMSG ",
        Some(account),
        subject,
        reply,
        queues,
        headers,
        payload,
    );
}

/// `LMSG <origin> <acc> ...` for a peer that announced `lnoc`: a message
/// that came to us from a leaf of cluster `origin` (header size always
/// written, `0` without headers).
#[allow(clippy::too_many_arguments)]
pub fn routed_from_leaf(
    out: &mut Vec<u8>,
    origin: &[u8],
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[u8],
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    out.extend_from_slice(b"LMSG ");
    out.extend_from_slice(origin);
    out.push(b' ');
    peer::encode_msg_args(
        out,
        Some(account),
        subject,
        reply,
        queues,
        headers,
        true,
        payload,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::protocol::peer::test_parse::{whole, L};

    fn one(input: &[u8]) -> RouteOp<'_> {
        whole(parse_route_op, input)
    }

    fn msg(input: &[u8]) -> RoutedMsg<'_> {
        match one(input) {
            RouteOp::Msg(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn leaf_origin_ops() {
        assert_eq!(
            one(b"LS+ edge $G foo q 2\r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: Some((b"q", 2)),
                origin: Some(b"edge"),
            }
        );
        assert_eq!(
            one(b"LS-  $G foo\r\n"),
            RouteOp::Unsub {
                account: b"$G",
                subject: b"foo",
                queue: None,
            }
        );
        let RouteOp::OriginMsg { origin, msg } =
            one(b"LMSG edge $G foo + r q1 q2 0 5\r\nhello\r\n")
        else {
            panic!("not an LMSG");
        };
        assert_eq!(origin, b"edge");
        assert_eq!((msg.account, msg.subject), (&b"$G"[..], &b"foo"[..]));
        assert_eq!((msg.reply, msg.queues), (Some(&b"r"[..]), &b"q1 q2"[..]));
        assert_eq!((msg.headers, msg.payload), (None, &b"hello"[..]));
        let RouteOp::OriginMsg { msg, .. } = one(b"LMSG e $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        else {
            panic!("not an LMSG");
        };
        assert_eq!(msg.headers, Some(&b"NATS/1.0\r\n\r\n"[..]));
        assert!(parse_route_op(b"LMSG edge\r\n", &L).is_err());
        assert!(parse_route_op(b"LS+ edge\r\n", &L).is_err());
    }

    #[test]
    fn leaf_origin_msg_encoding() {
        let mut out = Vec::new();
        routed_from_leaf(
            &mut out,
            b"edge",
            b"$G",
            b"foo",
            Some(b"r"),
            b"",
            None,
            b"hi",
        );
        assert_eq!(out, b"LMSG edge $G foo r 0 2\r\nhi\r\n");
        out.clear();
        routed_from_leaf(&mut out, b"e", b"A", b"f", None, b"q", Some(b"H"), b"x");
        assert_eq!(out, b"LMSG e A f | q 1 2\r\nHx\r\n");
    }

    #[test]
    fn interest_ops() {
        assert_eq!(
            one(b"RS+ $G foo\r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: None,
                origin: None
            }
        );
        assert_eq!(
            one(b"rs+  $G\tfoo  q1 2 \r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: Some((b"q1", 2)),
                origin: None
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
