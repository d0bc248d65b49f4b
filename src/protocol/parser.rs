//! The incremental protocol parser, working in place on the caller's read
//! buffer.
//!
//! [`parse_client_op`] (the server's side: ops a client sends) and
//! [`parse_server_op`] (the client's side: ops a server sends) take the bytes
//! buffered so far and return either one complete op borrowing from that
//! buffer, with the number of bytes it used, or [`Parsed::Incomplete`] with
//! the total length needed when it is known (a message whose payload has not
//! all arrived). The parser keeps no state between calls, so a read that ends
//! anywhere, even mid-verb or mid-payload, changes nothing: the caller keeps
//! the tail and calls again when more bytes arrive.
//!
//! Limits are checked before anything is buffered: a control line longer
//! than `max_control_line` is an error even while its end has not arrived,
//! and a payload size over `max_payload` is an error from the control line
//! alone. An op name that cannot become a known op is an error at the first
//! bad byte, as in nats-server's state machine. So what a peer can make the
//! caller buffer is bounded by `max_control_line + max_payload + 2`.

use std::fmt;

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest control line (the arguments after the op name), in bytes.
    pub max_control_line: usize,
    /// Largest payload (headers included) of one message, in bytes.
    pub max_payload: usize,
}

impl<Op> Parsed<Op> {
    /// Transform the op of a complete parse.
    pub fn map<T>(self, f: impl FnOnce(Op) -> T) -> Parsed<T> {
        match self {
            Parsed::Op(op, n) => Parsed::Op(f(op), n),
            Parsed::Incomplete(need) => Parsed::Incomplete(need),
        }
    }
}

/// The outcome of one parse call.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<Op> {
    /// One op, and the number of bytes of the buffer it used.
    Op(Op, usize),
    /// More bytes are needed; when known, the total number of bytes (from
    /// the start of the buffer) that the op needs.
    Incomplete(Option<usize>),
}

/// Why input was refused. The `Display` text is the reference `-ERR` text
/// where nats-server sends one; [`ProtocolError::err_text`] says whether it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// An unknown op, a bad byte in an op name, or a payload not followed by `\r\n`.
    UnknownOp,
    /// A control line over `max_control_line`.
    MaxControlLine,
    /// A PUB/HPUB/MSG size over `max_payload`.
    MaxPayload,
    /// Malformed arguments of a known op (count, sizes); closed without `-ERR`.
    BadArgs(&'static str),
    /// The peer sent `-ERR`: nothing to answer, the connection ends.
    PeerError(String),
}

impl ProtocolError {
    /// The text sent in `-ERR '...'` before closing, when nats-server sends one.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            ProtocolError::UnknownOp => Some("Unknown Protocol Operation"),
            ProtocolError::MaxControlLine => Some("maximum control line exceeded"),
            ProtocolError::MaxPayload => Some("Maximum Payload Violation"),
            ProtocolError::BadArgs(_) | ProtocolError::PeerError(_) => None,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::BadArgs(what) => write!(f, "protocol error: {what}"),
            ProtocolError::PeerError(text) => write!(f, "-ERR {text}"),
            other => f.write_str(other.err_text().unwrap_or("protocol error")),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// An op sent by a client to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp<'a> {
    /// `CONNECT {json}`
    Connect(&'a [u8]),
    /// `PUB <subject> [reply-to] <#bytes>\r\n<payload>\r\n`, and
    /// `HPUB <subject> [reply-to] <#header bytes> <#total bytes>\r\n<headers><payload>\r\n`
    /// (`headers` is `Some` for HPUB).
    Pub {
        /// Subject published to.
        subject: &'a [u8],
        /// Reply subject, if any.
        reply: Option<&'a [u8]>,
        /// The header block of an HPUB.
        headers: Option<&'a [u8]>,
        /// The payload (after the headers).
        payload: &'a [u8],
    },
    /// `SUB <subject> [queue group] <sid>`
    Sub {
        /// Subject, possibly with wildcards.
        subject: &'a [u8],
        /// Queue group name.
        queue: Option<&'a [u8]>,
        /// Subscription id chosen by the client.
        sid: &'a [u8],
    },
    /// `UNSUB <sid> [max_msgs]`
    Unsub {
        /// Subscription id.
        sid: &'a [u8],
        /// Unsubscribe after this many messages in all.
        max: Option<u64>,
    },
    /// `PING`
    Ping,
    /// `PONG`
    Pong,
    /// `INFO {json}` from a client: ignored by servers.
    Info(&'a [u8]),
    /// `+OK` from a client: ignored.
    Ok,
}

/// An op sent by a server to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp<'a> {
    /// `INFO {json}`
    Info(&'a [u8]),
    /// `MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n`, and
    /// `HMSG <subject> <sid> [reply-to] <#hdr bytes> <#total bytes>\r\n<headers><payload>\r\n`.
    Msg {
        /// Subject the message was published to.
        subject: &'a [u8],
        /// The subscription it is delivered for.
        sid: &'a [u8],
        /// Reply subject, if any.
        reply: Option<&'a [u8]>,
        /// The header block of an HMSG.
        headers: Option<&'a [u8]>,
        /// The payload.
        payload: &'a [u8],
    },
    /// `PING`
    Ping,
    /// `PONG`
    Pong,
    /// `+OK`
    Ok,
    /// `-ERR '<text>'` (the quotes removed).
    Err(&'a [u8]),
}

/// Every op name either side knows, for the early "can this still become an
/// op?" check on a partial line.
const CLIENT_OPS: &[&[u8]] = &[
    b"CONNECT", b"PUB", b"HPUB", b"SUB", b"UNSUB", b"PING", b"PONG", b"INFO", b"+OK", b"-ERR",
];
const SERVER_OPS: &[&[u8]] = &[b"INFO", b"MSG", b"HMSG", b"PING", b"PONG", b"+OK", b"-ERR"];

/// Ops after whose name anything up to the line end is ignored, as in
/// nats-server's `OP_PING`/`OP_PONG`/`OP_PLUS_OK` states.
const BARE_OPS: &[&[u8]] = &[b"PING", b"PONG", b"+OK"];

/// The most arguments any op takes (HMSG: subject sid reply hdr total).
const MAX_ARGS: usize = 5;

/// Parse one op a client sends (the server's side).
///
/// # Errors
///
/// A [`ProtocolError`] when the input can never become a valid op; the
/// connection should then be closed (after the `-ERR` the error names).
pub fn parse_client_op<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Parsed<ClientOp<'a>>, ProtocolError> {
    match plain_pub(buf, limits) {
        Some(parsed) => parsed,
        None => parse_client_op_general(buf, limits),
    }
}

/// [`parse_client_op`] without its PUB fast path: every op and spelling
/// the slow way. It gives the same result for every input (public for the
/// differential checks of the property tests and the fuzz target).
///
/// # Errors
///
/// As [`parse_client_op`].
pub fn parse_client_op_general<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Parsed<ClientOp<'a>>, ProtocolError> {
    let line = match control_line(buf, CLIENT_OPS, limits)? {
        Some(line) => line,
        None => return Ok(Parsed::Incomplete(None)),
    };
    let op = &line.text[..line.op_len];
    let args = &line.text[line.args_start..];
    let end = line.consumed;
    let simple = |op| Ok(Parsed::Op(op, end));
    match op.len() {
        3 if op.eq_ignore_ascii_case(b"PUB") => {
            let a = split_args::<3>(args).ok_or(ProtocolError::BadArgs("PUB arguments"))?;
            let (subject, reply, size) = match a.as_slice() {
                [s, n] => (*s, None, *n),
                [s, r, n] => (*s, Some(*r), *n),
                _ => return Err(ProtocolError::BadArgs("PUB arguments")),
            };
            let size = parse_size(size).ok_or(ProtocolError::BadArgs("PUB size"))?;
            message_body(buf, end, size, 0, limits).map(|p| {
                p.map(|(hdr, payload)| {
                    debug_assert!(hdr.is_empty());
                    ClientOp::Pub {
                        subject,
                        reply,
                        headers: None,
                        payload,
                    }
                })
            })
        }
        4 if op.eq_ignore_ascii_case(b"HPUB") => {
            let a = split_args::<4>(args).ok_or(ProtocolError::BadArgs("HPUB arguments"))?;
            let (subject, reply, hdr, total) = match a.as_slice() {
                [s, h, t] => (*s, None, *h, *t),
                [s, r, h, t] => (*s, Some(*r), *h, *t),
                _ => return Err(ProtocolError::BadArgs("HPUB arguments")),
            };
            let hdr = parse_size(hdr).ok_or(ProtocolError::BadArgs("HPUB header size"))?;
            let total = parse_size(total).ok_or(ProtocolError::BadArgs("HPUB size"))?;
            if hdr > total {
                return Err(ProtocolError::BadArgs("HPUB header size over total size"));
            }
            message_body(buf, end, total, hdr, limits).map(|p| {
                p.map(|(headers, payload)| ClientOp::Pub {
                    subject,
                    reply,
                    headers: Some(headers),
                    payload,
                })
            })
        }
        3 if op.eq_ignore_ascii_case(b"SUB") => {
            let a = split_args::<3>(args).ok_or(ProtocolError::BadArgs("SUB arguments"))?;
            match a.as_slice() {
                [subject, sid] => simple(ClientOp::Sub {
                    subject,
                    queue: None,
                    sid,
                }),
                [subject, q, sid] => simple(ClientOp::Sub {
                    subject,
                    queue: Some(q),
                    sid,
                }),
                _ => Err(ProtocolError::BadArgs("SUB arguments")),
            }
        }
        5 if op.eq_ignore_ascii_case(b"UNSUB") => {
            let a = split_args::<2>(args).ok_or(ProtocolError::BadArgs("UNSUB arguments"))?;
            match a.as_slice() {
                [sid] => simple(ClientOp::Unsub { sid, max: None }),
                // A max that is not a number (`-1`, `abc`) unsubscribes at once,
                // as nats-server does.
                [sid, max] => simple(ClientOp::Unsub {
                    sid,
                    max: Some(parse_size(max).unwrap_or(0) as u64),
                }),
                _ => Err(ProtocolError::BadArgs("UNSUB arguments")),
            }
        }
        4 if op.eq_ignore_ascii_case(b"PING") => simple(ClientOp::Ping),
        4 if op.eq_ignore_ascii_case(b"PONG") => simple(ClientOp::Pong),
        7 if op.eq_ignore_ascii_case(b"CONNECT") => simple(ClientOp::Connect(trim(args))),
        4 if op.eq_ignore_ascii_case(b"INFO") => simple(ClientOp::Info(trim(args))),
        3 if op.eq_ignore_ascii_case(b"+OK") => simple(ClientOp::Ok),
        4 if op.eq_ignore_ascii_case(b"-ERR") => Err(ProtocolError::PeerError(err_text(args))),
        _ => Err(ProtocolError::UnknownOp),
    }
}

/// The fast path for the op a publisher sends most: a complete
/// `PUB <subject> [reply] <size>` line spelt in capitals with single spaces
/// and a size that parses, then its payload. Anything else (lower case,
/// tabs, runs of blanks, a partial or over-long line, a bad size) returns
/// `None` and takes the general path, which gives every such input the same
/// result it always did: this only skips the work of finding out which op
/// a line names.
#[inline]
fn plain_pub<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Option<Result<Parsed<ClientOp<'a>>, ProtocolError>> {
    let rest = buf.strip_prefix(b"PUB ")?;
    let nl = memchr::memchr(b'\n', rest)?;
    let args = rest[..nl].strip_suffix(b"\r")?;
    if args.len() > limits.max_control_line {
        return None;
    }
    let mut spaces = [0usize; 2];
    let mut count = 0;
    for (i, &b) in args.iter().enumerate() {
        if b == b' ' {
            if count == spaces.len() {
                return None;
            }
            spaces[count] = i;
            count += 1;
        } else if b == b'\t' || b == b'\r' {
            return None;
        }
    }
    let (subject, reply, size) = match count {
        1 => (&args[..spaces[0]], None, &args[spaces[0] + 1..]),
        2 => (
            &args[..spaces[0]],
            Some(&args[spaces[0] + 1..spaces[1]]),
            &args[spaces[1] + 1..],
        ),
        _ => return None,
    };
    if subject.is_empty() || reply.is_some_and(<[u8]>::is_empty) {
        return None;
    }
    let size = parse_size(size)?;
    let end = 4 + nl + 1;
    Some(message_body(buf, end, size, 0, limits).map(|p| {
        p.map(|(_, payload)| ClientOp::Pub {
            subject,
            reply,
            headers: None,
            payload,
        })
    }))
}

/// Parse one op a server sends (the client's side).
///
/// # Errors
///
/// A [`ProtocolError`] when the input can never become a valid op.
pub fn parse_server_op<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Parsed<ServerOp<'a>>, ProtocolError> {
    let line = match control_line(buf, SERVER_OPS, limits)? {
        Some(line) => line,
        None => return Ok(Parsed::Incomplete(None)),
    };
    let op = &line.text[..line.op_len];
    let args = &line.text[line.args_start..];
    let end = line.consumed;
    let simple = |op| Ok(Parsed::Op(op, end));
    match op.len() {
        3 if op.eq_ignore_ascii_case(b"MSG") => {
            let a = split_args::<4>(args).ok_or(ProtocolError::BadArgs("MSG arguments"))?;
            let (subject, sid, reply, size) = match a.as_slice() {
                [s, i, n] => (*s, *i, None, *n),
                [s, i, r, n] => (*s, *i, Some(*r), *n),
                _ => return Err(ProtocolError::BadArgs("MSG arguments")),
            };
            let size = parse_size(size).ok_or(ProtocolError::BadArgs("MSG size"))?;
            message_body(buf, end, size, 0, limits).map(|p| {
                p.map(|(_, payload)| ServerOp::Msg {
                    subject,
                    sid,
                    reply,
                    headers: None,
                    payload,
                })
            })
        }
        4 if op.eq_ignore_ascii_case(b"HMSG") => {
            let a = split_args::<5>(args).ok_or(ProtocolError::BadArgs("HMSG arguments"))?;
            let (subject, sid, reply, hdr, total) = match a.as_slice() {
                [s, i, h, t] => (*s, *i, None, *h, *t),
                [s, i, r, h, t] => (*s, *i, Some(*r), *h, *t),
                _ => return Err(ProtocolError::BadArgs("HMSG arguments")),
            };
            let hdr = parse_size(hdr).ok_or(ProtocolError::BadArgs("HMSG header size"))?;
            let total = parse_size(total).ok_or(ProtocolError::BadArgs("HMSG size"))?;
            if hdr > total {
                return Err(ProtocolError::BadArgs("HMSG header size over total size"));
            }
            message_body(buf, end, total, hdr, limits).map(|p| {
                p.map(|(headers, payload)| ServerOp::Msg {
                    subject,
                    sid,
                    reply,
                    headers: Some(headers),
                    payload,
                })
            })
        }
        4 if op.eq_ignore_ascii_case(b"PING") => simple(ServerOp::Ping),
        4 if op.eq_ignore_ascii_case(b"PONG") => simple(ServerOp::Pong),
        4 if op.eq_ignore_ascii_case(b"INFO") => simple(ServerOp::Info(trim(args))),
        3 if op.eq_ignore_ascii_case(b"+OK") => simple(ServerOp::Ok),
        4 if op.eq_ignore_ascii_case(b"-ERR") => simple(ServerOp::Err(unquote(trim(args)))),
        _ => Err(ProtocolError::UnknownOp),
    }
}

/// A complete control line found at the start of a buffer.
pub(crate) struct Line<'a> {
    /// The line without its `\r\n` / `\n`.
    pub(crate) text: &'a [u8],
    /// Length of the op name at the start of `text`.
    pub(crate) op_len: usize,
    /// Where the arguments start in `text` (after the op name and blanks).
    pub(crate) args_start: usize,
    /// Bytes used by the line, terminator included.
    pub(crate) consumed: usize,
}

pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Find the control line at the start of `buf`, checking the op name and the
/// line-length limit even when the line is not complete yet.
pub(crate) fn control_line<'a>(
    buf: &'a [u8],
    ops: &[&[u8]],
    limits: &Limits,
) -> Result<Option<Line<'a>>, ProtocolError> {
    let nl = memchr::memchr(b'\n', buf);
    // A partial line is measured exactly as the complete line would be (a
    // trailing `\r` is not counted), so the verdict cannot depend on where
    // the input was split.
    let text = match nl {
        Some(i) => &buf[..i],
        None => buf,
    };
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let op_len = text
        .iter()
        .position(|&b| is_blank(b) || b == b'\r')
        .unwrap_or(text.len());
    let op = &text[..op_len];
    let complete_name = op_len < text.len() || nl.is_some();
    let known = |name: &&&[u8]| {
        if complete_name {
            name.eq_ignore_ascii_case(op)
        } else {
            name.len() >= op.len() && name[..op.len()].eq_ignore_ascii_case(op)
        }
    };
    let Some(name) = ops.iter().find(known) else {
        return Err(ProtocolError::UnknownOp);
    };
    // Ops with arguments need a blank after the name (`PUB\r\n` is unknown,
    // as in nats-server); bare ops ignore anything up to the line end.
    let bare = BARE_OPS.iter().any(|b| b.eq_ignore_ascii_case(name));
    if !bare && complete_name && op_len == text.len() && !name.eq_ignore_ascii_case(b"CONNECT") {
        return Err(ProtocolError::UnknownOp);
    }
    let args_start = text[op_len..]
        .iter()
        .position(|&b| !is_blank(b))
        .map_or(text.len(), |p| op_len + p);
    // Everything after the op name and its first separator is held to
    // max_control_line: measured the same way for a partial line as for a
    // complete one, and only growing as bytes arrive, so a partial line is
    // refused exactly when the whole line would be, and a line that never
    // ends (even one of blanks) cannot grow the buffer.
    if text.len().saturating_sub(op_len + 1) > limits.max_control_line {
        return Err(ProtocolError::MaxControlLine);
    }
    Ok(nl.map(|i| Line {
        text,
        op_len,
        args_start,
        consumed: i + 1,
    }))
}

/// The payload (and header block) of a message op whose control line ended at
/// `start`: `size` bytes, the first `hdr` of them headers, then `\r\n`.
#[allow(clippy::type_complexity)]
pub(crate) fn message_body<'a>(
    buf: &'a [u8],
    start: usize,
    size: usize,
    hdr: usize,
    limits: &Limits,
) -> Result<Parsed<(&'a [u8], &'a [u8])>, ProtocolError> {
    if size > limits.max_payload {
        return Err(ProtocolError::MaxPayload);
    }
    let need = start + size + 2;
    if buf.len() < need {
        // Check the terminator's first byte early when it is there already.
        if buf.len() > start + size && buf[start + size] != b'\r' {
            return Err(ProtocolError::UnknownOp);
        }
        return Ok(Parsed::Incomplete(Some(need)));
    }
    if &buf[start + size..need] != b"\r\n" {
        return Err(ProtocolError::UnknownOp);
    }
    let body = &buf[start..start + size];
    Ok(Parsed::Op((&body[..hdr], &body[hdr..]), need))
}

/// Split arguments on runs of blanks into at most `N` pieces; `None` when
/// there are more.
fn split_args<const N: usize>(args: &[u8]) -> Option<ArgList<'_>> {
    let mut list = ArgList {
        items: [&[]; MAX_ARGS],
        len: 0,
    };
    for piece in args
        .split(|&b| is_blank(b) || b == b'\r')
        .filter(|p| !p.is_empty())
    {
        if list.len == N.min(MAX_ARGS) {
            return None;
        }
        list.items[list.len] = piece;
        list.len += 1;
    }
    Some(list)
}

/// Up to [`MAX_ARGS`] argument slices without allocating.
struct ArgList<'a> {
    items: [&'a [u8]; MAX_ARGS],
    len: usize,
}

impl<'a> ArgList<'a> {
    fn as_slice(&self) -> &[&'a [u8]] {
        &self.items[..self.len]
    }
}

/// The longest size nats-server parses: 9 digits (999,999,999).
const MAX_SIZE_DIGITS: usize = 9;

/// A decimal size as nats-server's `parseSize` reads it: 1 to 9 ASCII digits.
pub fn parse_size(d: &[u8]) -> Option<usize> {
    if d.is_empty() || d.len() > MAX_SIZE_DIGITS {
        return None;
    }
    d.iter().try_fold(0usize, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + (b - b'0') as usize)
    })
}

pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| !is_blank(b) && b != b'\r')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_blank(b) && b != b'\r')
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// `'text'` -> `text`.
fn unquote(s: &[u8]) -> &[u8] {
    match s {
        [b'\'', inner @ .., b'\''] => inner,
        _ => s,
    }
}

pub(crate) fn err_text(args: &[u8]) -> String {
    String::from_utf8_lossy(unquote(trim(args))).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1024 * 1024,
    };

    fn one(input: &[u8]) -> ClientOp<'_> {
        match parse_client_op(input, &LIMITS) {
            Ok(Parsed::Op(op, used)) => {
                assert_eq!(used, input.len(), "whole input used for {input:?}");
                op
            }
            other => panic!("{input:?}: {other:?}"),
        }
    }

    fn err(input: &[u8]) -> ProtocolError {
        match parse_client_op(input, &LIMITS) {
            Err(e) => e,
            other => panic!("{input:?}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn ops_are_case_insensitive_and_lf_is_enough() {
        assert_eq!(one(b"PING\r\n"), ClientOp::Ping);
        assert_eq!(one(b"ping\r\n"), ClientOp::Ping);
        assert_eq!(one(b"PiNg\n"), ClientOp::Ping);
        assert_eq!(one(b"pong\r\n"), ClientOp::Pong);
        assert_eq!(one(b"+ok\r\n"), ClientOp::Ok);
    }

    #[test]
    fn pub_with_and_without_reply() {
        assert_eq!(
            one(b"PUB foo 5\r\nhello\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: None,
                headers: None,
                payload: b"hello"
            }
        );
        assert_eq!(
            one(b"pub\tfoo \t bar  2\r\nhi\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: Some(b"bar"),
                headers: None,
                payload: b"hi"
            }
        );
        assert_eq!(
            one(b"PUB foo 4\r\n\r\n\r\n\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: None,
                headers: None,
                payload: b"\r\n\r\n"
            }
        );
    }

    #[test]
    fn hpub_splits_headers_from_payload() {
        assert_eq!(
            one(b"HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: Some(b"r"),
                headers: Some(b"NATS/1.0\r\n\r\n"),
                payload: b"hi"
            }
        );
        assert!(matches!(
            err(b"HPUB foo 5 2\r\n"),
            ProtocolError::BadArgs(_)
        ));
    }

    #[test]
    fn sub_and_unsub() {
        assert_eq!(
            one(b"SUB foo 1\r\n"),
            ClientOp::Sub {
                subject: b"foo",
                queue: None,
                sid: b"1"
            }
        );
        assert_eq!(
            one(b"SUB foo q 1\r\n"),
            ClientOp::Sub {
                subject: b"foo",
                queue: Some(b"q"),
                sid: b"1"
            }
        );
        assert_eq!(
            one(b"UNSUB 1\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: None
            }
        );
        assert_eq!(
            one(b"UNSUB 1 5\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: Some(5)
            }
        );
    }

    #[test]
    fn connect_keeps_its_json() {
        assert_eq!(
            one(b"CONNECT {\"verbose\":false}\r\n"),
            ClientOp::Connect(b"{\"verbose\":false}")
        );
    }

    #[test]
    fn reference_errors() {
        for bad in [
            &b"ZZZ\r\n"[..],
            b" PING\r\n",
            b"\r\n",
            b"GET / HTTP/1.1\r\n",
            b"MSG a 1 2\r\n",
        ] {
            assert_eq!(err(bad), ProtocolError::UnknownOp, "{bad:?}");
        }
        // Known early, before the line ends.
        assert_eq!(err(b"ZZ"), ProtocolError::UnknownOp);
        assert_eq!(err(b"PUBX"), ProtocolError::UnknownOp);
        // Ops with arguments need them: `UNSUB` alone is unknown (as nats-server).
        assert_eq!(err(b"UNSUB\r\n"), ProtocolError::UnknownOp);
        for bad in [
            &b"PUB f\r\n"[..],
            b"PUB f -1\r\n",
            b"PUB f a b c 1\r\n",
            b"SUB foo\r\n",
        ] {
            assert!(matches!(err(bad), ProtocolError::BadArgs(_)), "{bad:?}");
        }
        assert!(matches!(
            err(b"PUB f 18446744073709551615123\r\n"),
            ProtocolError::BadArgs(_)
        ));
        assert!(matches!(err(b"SUB a b c d\r\n"), ProtocolError::BadArgs(_)));
        assert!(matches!(err(b"UNSUB 1 2 3\r\n"), ProtocolError::BadArgs(_)));
        assert_eq!(
            one(b"UNSUB 1 -1\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: Some(0)
            }
        );
        assert_eq!(err(b"PUB foo 5\r\nhelloXX"), ProtocolError::UnknownOp);
        assert_eq!(err(b"PUB foo 5\r\nhello\n"), ProtocolError::UnknownOp);
        assert!(matches!(err(b"-ERR 'x'\r\n"), ProtocolError::PeerError(t) if t == "x"));
    }

    #[test]
    fn payload_limit_is_checked_from_the_control_line() {
        let limits = Limits {
            max_control_line: 4096,
            max_payload: 1024,
        };
        assert_eq!(
            parse_client_op(b"PUB foo 1025\r\n", &limits),
            Err(ProtocolError::MaxPayload)
        );
        assert_eq!(
            parse_client_op(b"PUB foo 1024\r\n", &limits),
            Ok(Parsed::Incomplete(Some(14 + 1024 + 2)))
        );
    }

    /// The PUB fast path gives exactly what the general path gives, for
    /// every input it takes, and leaves the rest to it.
    #[test]
    fn plain_pub_agrees_with_the_general_path() {
        let lines: &[&[u8]] = &[
            b"PUB foo 5\r\nhello\r\n",
            b"PUB foo bar 5\r\nhello\r\n",
            b"PUB foo bar 5\r\nhel",
            b"PUB foo bar 5\r\nhelloX\r\n",
            b"PUB foo bar 5\r\nhello\rX",
            b"PUB foo 0\r\n\r\n",
            b"PUB foo 0\r\n",
            b"PUB foo\t5\r\nhello\r\n",
            b"PUB foo  5\r\nhello\r\n",
            b"PUB  foo 5\r\nhello\r\n",
            b"PUB foo 5 \r\nhello\r\n",
            b"PUB foo a b 5\r\nhello\r\n",
            b"PUB foo -5\r\n",
            b"PUB foo 1000000000\r\n",
            b"PUB foo 2000000\r\n",
            b"PUB foo 5\n",
            b"PUB foo 5\r\r\nhello\r\n",
            b"PUB foo\r\n",
            b"PUB \r\n",
            b"PUB foo 5",
            b"pub foo 5\r\nhello\r\n",
        ];
        let long = [b"PUB ".as_slice(), &[b'a'; 4095], b" 1\r\nx\r\n"].concat();
        let at_limit = [b"PUB ".as_slice(), &[b'a'; 4092], b" 1\r\nx\r\n"].concat();
        for input in lines.iter().copied().chain([&long[..], &at_limit[..]]) {
            let general = format!("{:?}", parse_client_op_general(input, &LIMITS));
            let fast = format!("{:?}", parse_client_op(input, &LIMITS));
            assert_eq!(fast, general, "{:?}", String::from_utf8_lossy(input));
        }
        assert!(plain_pub(b"PUB foo bar 5\r\nhello\r\n", &LIMITS).is_some());
        assert!(plain_pub(b"PUB foo\t5\r\nhello\r\n", &LIMITS).is_none());
    }

    #[test]
    fn control_line_limit_applies_to_partial_lines() {
        let long = [b"SUB ".as_slice(), &[b'a'; 5000]].concat();
        assert_eq!(err(&long), ProtocolError::MaxControlLine);
        let endless_ping = [b"PING ".as_slice(), &[b'x'; 5000]].concat();
        assert_eq!(err(&endless_ping), ProtocolError::MaxControlLine);
        let ok = [b"SUB ".as_slice(), &[b'a'; 4000], b" 1\r\n"].concat();
        assert!(matches!(parse_client_op(&ok, &LIMITS), Ok(Parsed::Op(..))));
    }

    /// Every split of a stream of ops gives the same ops.
    #[test]
    fn any_split_gives_the_same_ops() {
        let stream: &[u8] = b"CONNECT {}\r\nSUB foo q 1\r\nPUB foo bar 5\r\nhello\r\n\
            HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1 2\r\nPING\r\npong\n";
        let whole = collect_ops(&[stream]);
        assert_eq!(whole.len(), 7);
        for cut in 0..stream.len() {
            assert_eq!(
                collect_ops(&[&stream[..cut], &stream[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(collect_ops(&bytes), whole);
    }

    /// Feed chunks as reads would arrive, keeping the unused tail.
    fn collect_ops(chunks: &[&[u8]]) -> Vec<String> {
        let mut buf = Vec::new();
        let mut ops = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            let mut pos = 0;
            while let Parsed::Op(op, used) = parse_client_op(&buf[pos..], &LIMITS).unwrap() {
                ops.push(format!("{op:?}"));
                pos += used;
            }
            buf.drain(..pos);
        }
        assert!(buf.is_empty());
        ops
    }

    #[test]
    fn server_ops() {
        let p = |b: &'static [u8]| match parse_server_op(b, &LIMITS) {
            Ok(Parsed::Op(op, n)) => {
                assert_eq!(n, b.len());
                op
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            p(b"MSG foo 1 5\r\nhello\r\n"),
            ServerOp::Msg {
                subject: b"foo",
                sid: b"1",
                reply: None,
                headers: None,
                payload: b"hello"
            }
        );
        assert_eq!(
            p(b"HMSG foo 1 r 12 12\r\nNATS/1.0\r\n\r\n\r\n"),
            ServerOp::Msg {
                subject: b"foo",
                sid: b"1",
                reply: Some(b"r"),
                headers: Some(b"NATS/1.0\r\n\r\n"),
                payload: b""
            }
        );
        assert_eq!(
            p(b"-ERR 'Stale Connection'\r\n"),
            ServerOp::Err(b"Stale Connection")
        );
        assert_eq!(p(b"INFO {}\r\n"), ServerOp::Info(b"{}"));
        assert!(parse_server_op(b"MSG a 1 -5\r\n", &LIMITS).is_err());
        assert!(parse_server_op(b"MSG a 1 99999999999\r\n", &LIMITS).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size(b"0"), Some(0));
        assert_eq!(parse_size(b"999999999"), Some(999_999_999));
        assert_eq!(parse_size(b"1000000000"), None);
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"1a"), None);
    }
}
