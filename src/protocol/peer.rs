//! What the server-to-server protocols share (routes in [`super::route`],
//! leafnodes in [`super::leaf`]): splitting arguments on runs of blanks,
//! and the message op both speak, which differs only in its leading
//! account token (`RMSG <acc> ...` on a route, `LMSG ...` on a leaf
//! connection, bound to one account).
//!
//! ```text
//! <op> [<acc>] <subject> [<reply> | + <reply> <q>... | \| <q>...] [<hdr size>] <total size>
//! ```

use super::encode::push_num;
use super::parser::{is_blank, message_body, parse_size, trim, Limits, Parsed, ProtocolError};

/// Where the blank-separated tokens of `args` are: `(start, end)` pairs.
pub(crate) fn token_spans(args: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
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
pub(crate) fn tokens<const N: usize>(args: &[u8]) -> Option<([&[u8]; N], usize)> {
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

/// A message received from a peer server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMsg<'a> {
    /// Account name (empty on a leaf connection).
    pub account: &'a [u8],
    /// Subject.
    pub subject: &'a [u8],
    /// Reply subject.
    pub reply: Option<&'a [u8]>,
    /// The queue groups the sender chose us for, separated by blanks
    /// (iterate with [`queue_names`]); empty for none.
    pub queues: &'a [u8],
    /// The header block (`HMSG`).
    pub headers: Option<&'a [u8]>,
    /// The payload.
    pub payload: &'a [u8],
}

/// The queue group names of a [`PeerMsg::queues`] list.
pub fn queue_names(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| is_blank(b)).filter(|q| !q.is_empty())
}

/// The arguments and body of a peer message op whose control line ended
/// at `end`; `with_account`: the first token is an account (routes).
pub(crate) fn parse_msg<'a>(
    buf: &'a [u8],
    args: &'a [u8],
    end: usize,
    with_headers: bool,
    with_account: bool,
    limits: &Limits,
) -> Result<Parsed<PeerMsg<'a>>, ProtocolError> {
    const BAD: ProtocolError = ProtocolError::BadArgs("message arguments");
    let sizes = if with_headers { 2 } else { 1 };
    let lead = usize::from(with_account) + 1;
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
    if count < lead + sizes {
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
    let middle = count - lead - sizes;
    let (reply, queues): (Option<&[u8]>, &[u8]) = match middle {
        0 => (None, &[]),
        1 => (Some(tok(head[lead])), &[]),
        _ => {
            let indicator = tok(head[lead]);
            // The queue list runs from after the indicator (or the reply) up
            // to the first size token.
            let sizes_start = if with_headers { tail[0].0 } else { tail[1].0 };
            match indicator {
                b"+" => {
                    let mut spans = token_spans(args).skip(lead + 1);
                    let reply = spans.next().ok_or(BAD)?;
                    if middle < 3 {
                        return Err(BAD);
                    }
                    (Some(tok(reply)), &args[reply.1..sizes_start])
                }
                b"|" => (None, &args[head[lead].1..sizes_start]),
                _ => return Err(BAD),
            }
        }
    };
    let account: &[u8] = if with_account { tok(head[0]) } else { &[] };
    let subject = tok(head[lead - 1]);
    message_body(buf, end, total, hdr, limits).map(|p| {
        p.map(|(h, payload)| PeerMsg {
            account,
            subject,
            reply,
            queues: trim(queues),
            headers: with_headers.then_some(h),
            payload,
        })
    })
}

/// A message op for a peer: `op` is `RMSG ` or `LMSG ` (`HMSG ` when
/// there are headers), `account` present on routes only; `queues` are
/// the groups chosen for the peer, separated by single spaces.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_msg(
    out: &mut Vec<u8>,
    op: &[u8],
    account: Option<&[u8]>,
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[u8],
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    out.extend_from_slice(if headers.is_some() { b"HMSG " } else { op });
    encode_msg_args(
        out, account, subject, reply, queues, headers, false, payload,
    );
}

/// The rest of a message op after its op name: `[<acc> ]<subject> ...`;
/// `always_hdr`: the header size is written even without headers (`0`),
/// as a route `LMSG` (leaf-origin message) always has it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_msg_args(
    out: &mut Vec<u8>,
    account: Option<&[u8]>,
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[u8],
    headers: Option<&[u8]>,
    always_hdr: bool,
    payload: &[u8],
) {
    let hdr_len = headers.map_or(0, <[u8]>::len);
    out.reserve(account.map_or(0, <[u8]>::len) + subject.len() + hdr_len + payload.len() + 48);
    if let Some(a) = account {
        out.extend_from_slice(a);
        out.push(b' ');
    }
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
    if headers.is_some() || always_hdr {
        push_num(out, hdr_len);
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

/// An interest line: `<op> [<acc> ]<subject>[ <queue> <weight>]\r\n`
/// (`RS+`/`LS+`), or without weight for a removal (`RS-`/`LS-`).
pub(crate) fn encode_interest(
    out: &mut Vec<u8>,
    op: &[u8],
    account: Option<&[u8]>,
    subject: &[u8],
    queue: Option<&[u8]>,
    weight: Option<u32>,
) {
    out.extend_from_slice(op);
    out.push(b' ');
    if let Some(a) = account {
        out.extend_from_slice(a);
        out.push(b' ');
    }
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        if let Some(w) = weight {
            out.push(b' ');
            push_num(out, w as usize);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Test help for the peer protocols' parsers.
#[cfg(test)]
pub(crate) mod test_parse {
    use super::{Limits, Parsed, ProtocolError};
    use std::fmt::Debug;

    /// The limits the parser tests use.
    pub const L: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1 << 20,
    };

    /// The one op `parse` makes of all of `input` (panics otherwise).
    pub fn whole<'a, Op: Debug>(
        parse: fn(&'a [u8], &Limits) -> Result<Parsed<Op>, ProtocolError>,
        input: &'a [u8],
    ) -> Op {
        match parse(input, &L) {
            Ok(Parsed::Op(op, n)) => {
                assert_eq!(n, input.len(), "{:?}", String::from_utf8_lossy(input));
                op
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }
}
