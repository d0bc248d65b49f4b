//! The leafnode protocol (nats-server 2.x) between a hub and a leaf
//! server: parsing what a peer sends on a leaf connection, encoding what
//! we send, and the leafnode INFO and CONNECT documents. A leaf
//! connection is bound to one account on each side, so unlike routes no
//! op names an account. Same framing and in-place parsing as
//! [`super::route`].
//!
//! ```text
//! INFO {json} / CONNECT {json} / PING / PONG / +OK / -ERR '<text>'
//! LS+ <subject> [<queue> <weight>]
//! LS- <subject> [<queue>]
//! LMSG <subject> [<reply> | + <reply> <q>... | \| <q>...] <size>
//! HMSG <subject> [<reply> | + <reply> <q>... | \| <q>...] <hdr size> <total size>
//! ```
//!
//! The accepting side (the hub) sends its INFO first, with a `nonce`, the
//! connection's id and `leafnode_urls` (a soliciting nats-server refuses
//! an INFO without them: "attempted to connect to wrong port"); the
//! soliciting side answers CONNECT; the hub then sends a second INFO with
//! `connect_info: true` and both sides send their interest (`LS+`),
//! including each side's loop detection subject `$LDS.<id>`.

use serde::{Deserialize, Serialize};

use super::info::is_false;
use super::parser::{control_line, err_text, parse_size, trim, Limits, Parsed, ProtocolError};
use super::peer::{self, tokens, PeerMsg};

/// Prefix of the loop detection subject each server subscribes to on its
/// leaf connections: seeing our own come back means a loop.
pub const LOOP_DETECTION_PREFIX: &str = "$LDS.";

/// The lowest `min_version` a leafnodes block may ask for.
pub const LOWEST_MIN_VERSION: (u64, u64, u64) = (2, 8, 0);

/// `(major, minor, patch)` of a server version as nats-server reads it:
/// an optional `v`, then three dot-separated numbers at the start (what
/// follows, such as `-beta` or `+build`, is not looked at).
///
/// # Errors
///
/// nats-server's texts: `invalid semver` when it does not start with a
/// number, a parse error when a part is missing.
pub fn version_components(version: &str) -> Result<(u64, u64, u64), String> {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits(rest);
    if n == 0 {
        return Err("invalid semver".into());
    }
    let mut parts = [0u64; 3];
    let mut at = rest;
    for (i, part) in parts.iter_mut().enumerate() {
        if i > 0 {
            at = at.strip_prefix('.').unwrap_or(at);
        }
        let n = digits(at);
        *part = at[..n]
            .parse()
            .map_err(|_| "strconv.Atoi: parsing \"\": invalid syntax".to_string())?;
        at = &at[n..];
    }
    Ok(parts.into())
}

/// `version` is at least `min` (`false` when it cannot be read).
pub fn version_at_least(version: &str, min: (u64, u64, u64)) -> bool {
    version_components(version).is_ok_and(|v| v >= min)
}

/// The INFO a hub sends on its leafnode port (and a leaf's INFO, which a
/// hub reads only for its updates).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LeafInfo {
    /// The sender's server id.
    pub server_id: String,
    /// Its name.
    #[serde(default)]
    pub server_name: String,
    /// Its version.
    #[serde(default)]
    pub version: String,
    /// Protocol (1).
    #[serde(default)]
    pub proto: i32,
    /// Its toolchain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub go: String,
    /// Leafnode listen (or advertised) host.
    #[serde(default)]
    pub host: String,
    /// Leafnode listen (or advertised) port.
    #[serde(default)]
    pub port: u16,
    /// Headers understood.
    #[serde(default)]
    pub headers: bool,
    /// Always true on a hub (a leaf must send CONNECT).
    #[serde(default, skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// TLS is required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Leaf certificates are verified.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Largest payload.
    #[serde(default)]
    pub max_payload: i64,
    /// `host:port` of the leafnode listener.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// The connection's id on the hub (never 0 from a hub).
    #[serde(default, rename = "client_id", skip_serializing_if = "is_zero")]
    pub cid: u64,
    /// What a leaf signs with credentials (first INFO only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The hub's cluster.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// The hub sends a second INFO once CONNECT is processed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub info_on_connect: bool,
    /// This is that second INFO.
    #[serde(default, skip_serializing_if = "is_false")]
    pub connect_info: bool,
    /// The hub cluster's leafnode URLs (`host:port`), to reconnect to.
    /// Always present from a hub, if empty.
    #[serde(default)]
    pub leafnode_urls: Option<Vec<String>>,
    /// The account the leaf is bound to on the hub.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The CONNECT a soliciting leaf sends (and what a hub reads of it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LeafConnect {
    /// The leaf's version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// User JWT (credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Signature of the hub's nonce (credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// User.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Token (as a client's `auth_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// The leaf's server id.
    #[serde(
        default,
        rename = "server_id",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    /// The leaf's server name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The soliciting side declares itself the hub.
    #[serde(default, rename = "is_hub", skip_serializing_if = "is_false")]
    pub hub: bool,
    /// The leaf's cluster.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Headers understood.
    #[serde(default, skip_serializing_if = "is_false")]
    pub headers: bool,
    /// Present when a client dialled the leafnode port by mistake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Present when a gateway dialled the leafnode port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The account the leaf binds on its own side.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
    /// The leaf's protocol level (3: it traces messages; nats-server 2.11+
    /// sends it, 2.9 does not).
    #[serde(default, rename = "protocol", skip_serializing_if = "is_no_proto")]
    pub proto: i32,
}

fn is_no_proto(n: &i32) -> bool {
    *n == 0
}

/// An op received on a leaf connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafOp<'a> {
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
    /// `LS+`: interest added, or a queue group's weight changed.
    Sub {
        /// Subject, possibly with wildcards.
        subject: &'a [u8],
        /// Queue group and its weight on the peer.
        queue: Option<(&'a [u8], u32)>,
    },
    /// `LS-`: interest removed.
    Unsub {
        /// Subject.
        subject: &'a [u8],
        /// Queue group.
        queue: Option<&'a [u8]>,
    },
    /// `LMSG` / `HMSG`: a message (its `account` is empty).
    Msg(PeerMsg<'a>),
}

const LEAF_OPS: &[&[u8]] = &[
    b"INFO", b"CONNECT", b"PING", b"PONG", b"+OK", b"-ERR", b"LS+", b"LS-", b"LMSG", b"HMSG",
];

/// Parse one op a peer server sends on a leaf connection.
///
/// # Errors
///
/// A [`ProtocolError`] when the input can never become a valid op:
/// `UnknownOp` deserves `-ERR 'Unknown Protocol Operation'`, `MaxControlLine`
/// and `MaxPayload` their `-ERR`; `BadArgs` closes; `PeerError` is a
/// received `-ERR`.
pub fn parse_leaf_op<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Parsed<LeafOp<'a>>, ProtocolError> {
    let Some(line) = control_line(buf, LEAF_OPS, limits)? else {
        return Ok(Parsed::Incomplete(None));
    };
    let op = &line.text[..line.op_len];
    let args = &line.text[line.args_start..];
    let end = line.consumed;
    let simple = |op| Ok(Parsed::Op(op, end));
    let is = |name: &[u8]| op.eq_ignore_ascii_case(name);
    if is(b"LS+") {
        let (a, n) = tokens::<3>(args).ok_or(ProtocolError::BadArgs("LS+ arguments"))?;
        return match n {
            1 => simple(LeafOp::Sub {
                subject: a[0],
                queue: None,
            }),
            3 => {
                let w = parse_size(a[2]).ok_or(ProtocolError::BadArgs("LS+ queue weight"))?;
                simple(LeafOp::Sub {
                    subject: a[0],
                    queue: Some((a[1], u32::try_from(w).unwrap_or(u32::MAX))),
                })
            }
            _ => Err(ProtocolError::BadArgs("LS+ arguments")),
        };
    }
    if is(b"LS-") {
        let (a, n) = tokens::<2>(args).ok_or(ProtocolError::BadArgs("LS- arguments"))?;
        return match n {
            1 | 2 => simple(LeafOp::Unsub {
                subject: a[0],
                queue: (n == 2).then_some(a[1]),
            }),
            _ => Err(ProtocolError::BadArgs("LS- arguments")),
        };
    }
    if is(b"LMSG") || is(b"HMSG") {
        let with_headers = op[0].eq_ignore_ascii_case(&b'H');
        return peer::parse_msg(buf, args, end, with_headers, false, limits)
            .map(|p| p.map(LeafOp::Msg));
    }
    match () {
        () if is(b"PING") => simple(LeafOp::Ping),
        () if is(b"PONG") => simple(LeafOp::Pong),
        () if is(b"INFO") => simple(LeafOp::Info(trim(args))),
        () if is(b"CONNECT") => simple(LeafOp::Connect(trim(args))),
        () if is(b"+OK") => simple(LeafOp::Ok),
        () if is(b"-ERR") => Err(ProtocolError::PeerError(err_text(args))),
        () => Err(ProtocolError::UnknownOp),
    }
}

/// `LS+ <subject>[ <queue> <weight>]\r\n`
pub fn ls_plus(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], u32)>) {
    peer::encode_interest(
        out,
        b"LS+",
        None,
        subject,
        queue.map(|q| q.0),
        queue.map(|q| q.1),
    );
}

/// `LS- <subject>[ <queue>]\r\n`
pub fn ls_minus(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    peer::encode_interest(out, b"LS-", None, subject, queue, None);
}

/// `LMSG`/`HMSG` for a leaf connection: `queues` are the groups chosen
/// for it, separated by single spaces (empty for none).
pub fn leaf_msg(
    out: &mut Vec<u8>,
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[u8],
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    peer::encode_msg(
        out, b"LMSG ", None, subject, reply, queues, headers, payload,
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_read_as_nats_server_reads_them() {
        assert_eq!(version_components("2.9.10"), Ok((2, 9, 10)));
        assert_eq!(version_components("v2.10.0-beta"), Ok((2, 10, 0)));
        assert_eq!(version_components("2.9.10+nats-lite.0.1.0"), Ok((2, 9, 10)));
        assert_eq!(version_components("abc"), Err("invalid semver".into()));
        assert!(version_components("2.10").is_err());
        assert!(version_components("").is_err());
        assert!(version_at_least("2.10.1", (2, 10, 0)));
        assert!(!version_at_least("2.9.10", (2, 10, 0)));
        assert!(!version_at_least("", (2, 8, 0)));
    }

    use super::*;

    use crate::protocol::peer::test_parse::{whole, L};

    fn one(input: &[u8]) -> LeafOp<'_> {
        whole(parse_leaf_op, input)
    }

    fn msg(input: &[u8]) -> PeerMsg<'_> {
        match one(input) {
            LeafOp::Msg(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn interest_ops_as_nats_server_sends_them() {
        assert_eq!(
            one(b"LS+ $LDS.pM2vTWzNXc5YcCHr6rCJI9\r\n"),
            LeafOp::Sub {
                subject: b"$LDS.pM2vTWzNXc5YcCHr6rCJI9",
                queue: None
            }
        );
        assert_eq!(
            one(b"LS+ hq.* qq 1\r\n"),
            LeafOp::Sub {
                subject: b"hq.*",
                queue: Some((b"qq", 1))
            }
        );
        assert_eq!(
            one(b"ls-  hq.*\tqq\r\n"),
            LeafOp::Unsub {
                subject: b"hq.*",
                queue: Some(b"qq")
            }
        );
        for bad in [
            &b"LS+ a q\r\n"[..],
            b"LS+ a q x\r\n",
            b"LS+ a b c d\r\n",
            b"LS- a b c\r\n",
        ] {
            assert!(
                matches!(parse_leaf_op(bad, &L), Err(ProtocolError::BadArgs(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_leaf_op(b"LS+\r\n", &L), Err(ProtocolError::UnknownOp));
    }

    #[test]
    fn message_forms_as_nats_server_sends_them() {
        let m = msg(b"LMSG leaffoo r1 2\r\nhi\r\n");
        assert_eq!(
            (m.subject, m.reply, m.queues, m.payload, m.account),
            (
                &b"leaffoo"[..],
                Some(&b"r1"[..]),
                &b""[..],
                &b"hi"[..],
                &b""[..]
            )
        );
        let m = msg(b"LMSG leafq | grp 2\r\nhi\r\n");
        assert_eq!((m.reply, m.queues), (None, &b"grp"[..]));
        let m = msg(b"LMSG foo.bar + rep g1 g2 2\r\nhi\r\n");
        assert_eq!((m.reply, m.queues), (Some(&b"rep"[..]), &b"g1 g2"[..]));
        let m = msg(b"HMSG leaffoo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
        assert_eq!(m.headers, Some(&b"NATS/1.0\r\n\r\n"[..]));
        assert_eq!(m.payload, b"hi");
        let m = msg(b"LMSG x 0\r\n\r\n");
        assert_eq!(m.payload, b"");
        for bad in [
            &b"LMSG foo\r\n"[..],
            b"LMSG foo x\r\n",
            b"LMSG foo * q 1\r\n",
            b"HMSG foo 5 4\r\n",
        ] {
            assert!(
                matches!(parse_leaf_op(bad, &L), Err(ProtocolError::BadArgs(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn other_ops_limits_and_errors() {
        assert_eq!(one(b"PING\r\n"), LeafOp::Ping);
        assert_eq!(one(b"PONG\r\n"), LeafOp::Pong);
        assert_eq!(one(b"INFO {\"a\":1} \r\n"), LeafOp::Info(b"{\"a\":1}"));
        assert_eq!(one(b"CONNECT {}\r\n"), LeafOp::Connect(b"{}"));
        for unknown in [
            &b"RMSG $G foo 1\r\n"[..],
            b"RS+ $G foo\r\n",
            b"PUB foo 1\r\n",
        ] {
            assert_eq!(parse_leaf_op(unknown, &L), Err(ProtocolError::UnknownOp));
        }
        assert_eq!(
            parse_leaf_op(b"-ERR 'Loop detected'\r\n", &L),
            Err(ProtocolError::PeerError("Loop detected".into()))
        );
        assert_eq!(
            parse_leaf_op(b"LMSG foo 2000000\r\n", &L),
            Err(ProtocolError::MaxPayload)
        );
        let mut long = b"LS+ ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 5000));
        assert_eq!(parse_leaf_op(&long, &L), Err(ProtocolError::MaxControlLine));
        assert_eq!(
            parse_leaf_op(b"LMSG foo 5\r\nhel", &L),
            Ok(Parsed::Incomplete(Some(19)))
        );
    }

    /// Arbitrary input never panics, whatever the split.
    #[test]
    fn no_input_panics() {
        let pieces: [&[u8]; 13] = [
            b"LMSG ", b"HMSG ", b"LS+ ", b"LS- ", b"foo ", b"+ ", b"| ", b"q ", b"5 ", b"12 ",
            b"\r\n", b"  ", b"hello",
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
                let _ = parse_leaf_op(&input[..end], &L);
            }
        }
    }

    #[test]
    fn encoders_round_trip() {
        let mut out = Vec::new();
        ls_plus(&mut out, b"foo", Some((b"q", 3)));
        ls_plus(&mut out, b"bar", None);
        ls_minus(&mut out, b"foo", Some(b"q"));
        assert_eq!(out, b"LS+ foo q 3\r\nLS+ bar\r\nLS- foo q\r\n");
        for (reply, queues, headers) in [
            (None, &b""[..], None),
            (Some(&b"r"[..]), &b""[..], None),
            (None, &b"q1 q2"[..], None),
            (Some(&b"r"[..]), &b"q1"[..], Some(&b"NATS/1.0\r\n\r\n"[..])),
        ] {
            out.clear();
            leaf_msg(&mut out, b"s", reply, queues, headers, b"data");
            let m = msg(&out);
            assert_eq!(
                (m.reply, m.queues, m.headers, m.payload),
                (reply, queues, headers, &b"data"[..])
            );
        }
    }

    #[test]
    fn info_and_connect_keep_nats_server_field_names() {
        let info: LeafInfo = serde_json::from_str(
            r#"{"server_id":"N1","server_name":"hub","version":"2.9.10","proto":1,"host":"h",
            "port":7422,"headers":true,"auth_required":true,"max_payload":1048576,"ip":"h:7422",
            "client_id":4,"nonce":"abc","info_on_connect":true,"leafnode_urls":["h:7422"]}"#,
        )
        .unwrap();
        assert_eq!((info.cid, info.nonce.as_deref()), (4, Some("abc")));
        assert_eq!(info.leafnode_urls, Some(vec!["h:7422".to_string()]));
        let c = LeafConnect {
            id: "N2".into(),
            name: "leaf".into(),
            headers: true,
            remote_account: "$G".into(),
            ..LeafConnect::default()
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"server_id":"N2","name":"leaf","headers":true,"remote_account":"$G"}"#
        );
    }
}
