//! Ops to bytes, appended to a caller's buffer so that many ops can be
//! coalesced into one write. No allocation beyond the buffer's growth.

/// Append a decimal number.
#[inline]
pub fn push_num(out: &mut Vec<u8>, n: usize) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(n).as_bytes());
}

/// `MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n`, or `HMSG` when
/// `headers` is given.
#[inline]
pub fn msg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    message(
        out,
        b"MSG ",
        b"HMSG ",
        subject,
        Some(sid),
        reply,
        headers,
        payload,
    );
}

/// One message's `MSG` op encoded once for many subscribers: everything
/// but the sid, which is all that differs between them. A fan-out then
/// costs each subscriber one copy of three pieces instead of the whole
/// op's encoding.
#[derive(Debug, Default)]
pub struct MsgTemplate {
    /// `MSG <subject> `
    head: Vec<u8>,
    /// ` [reply ]<size>\r\n<payload>\r\n`
    tail: Vec<u8>,
}

impl MsgTemplate {
    /// Encode the message (no header block: `HMSG` depends on whether the
    /// subscriber's connection takes headers), its buffers reused.
    pub fn prepare(&mut self, subject: &[u8], reply: Option<&[u8]>, payload: &[u8]) {
        self.head.clear();
        self.head.extend_from_slice(b"MSG ");
        self.head.extend_from_slice(subject);
        self.head.push(b' ');
        self.tail.clear();
        self.tail.push(b' ');
        if let Some(r) = reply {
            self.tail.extend_from_slice(r);
            self.tail.push(b' ');
        }
        push_num(&mut self.tail, payload.len());
        self.tail.extend_from_slice(b"\r\n");
        self.tail.extend_from_slice(payload);
        self.tail.extend_from_slice(b"\r\n");
    }

    /// Append the op for subscription `sid`: the same bytes as [`msg`].
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>, sid: &[u8]) {
        out.reserve(self.head.len() + sid.len() + self.tail.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(sid);
        out.extend_from_slice(&self.tail);
    }
}

/// `PUB <subject> [reply] <size>\r\n<payload>\r\n`, or `HPUB` when `headers` is given.
#[inline]
pub fn publish(
    out: &mut Vec<u8>,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    message(
        out, b"PUB ", b"HPUB ", subject, None, reply, headers, payload,
    );
}

/// The shape every message op shares: verb, subject, [sid], [reply],
/// [header size], total size, then the header block and payload.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn message(
    out: &mut Vec<u8>,
    verb: &[u8],
    verb_with_headers: &[u8],
    subject: &[u8],
    sid: Option<&[u8]>,
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let hdr_len = headers.map_or(0, <[u8]>::len);
    out.reserve(
        subject.len()
            + sid.map_or(0, <[u8]>::len)
            + reply.map_or(0, <[u8]>::len)
            + hdr_len
            + payload.len()
            + 40,
    );
    out.extend_from_slice(if headers.is_some() {
        verb_with_headers
    } else {
        verb
    });
    out.extend_from_slice(subject);
    out.push(b' ');
    for arg in [sid, reply].into_iter().flatten() {
        out.extend_from_slice(arg);
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

/// `SUB <subject> [queue] <sid>\r\n`
pub fn sub(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
    out.extend_from_slice(b"SUB ");
    out.extend_from_slice(subject);
    out.push(b' ');
    if let Some(q) = queue {
        out.extend_from_slice(q);
        out.push(b' ');
    }
    out.extend_from_slice(sid);
    out.extend_from_slice(b"\r\n");
}

/// `UNSUB <sid> [max]\r\n`
pub fn unsub(out: &mut Vec<u8>, sid: &[u8], max: Option<u64>) {
    out.extend_from_slice(b"UNSUB ");
    out.extend_from_slice(sid);
    if let Some(m) = max {
        out.push(b' ');
        push_num(out, m as usize);
    }
    out.extend_from_slice(b"\r\n");
}

/// `<OP> <json>\r\n` for INFO and CONNECT.
pub fn json_op(out: &mut Vec<u8>, op: &str, json: &[u8]) {
    out.extend_from_slice(op.as_bytes());
    out.push(b' ');
    out.extend_from_slice(json);
    out.extend_from_slice(b"\r\n");
}

/// `-ERR '<text>'\r\n`
pub fn err(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"'\r\n");
}

/// `PING\r\n`
pub const PING: &[u8] = b"PING\r\n";
/// `PONG\r\n`
pub const PONG: &[u8] = b"PONG\r\n";
/// `+OK\r\n`
pub const OK: &[u8] = b"+OK\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parser::{
        parse_client_op, parse_server_op, ClientOp, Limits, Parsed, ServerOp,
    };

    #[test]
    fn a_msg_template_writes_what_msg_writes_for_every_sid() {
        let mut t = MsgTemplate::default();
        for (subject, reply, payload) in [
            (&b"foo"[..], None, &b"0123456789abcdef"[..]),
            (b"a.b.c", Some(&b"_INBOX.x.1"[..]), b""),
            (b"x", None, b"payload\r\nwith CRLF"),
        ] {
            t.prepare(subject, reply, payload);
            for sid in [&b"1"[..], b"42", b"sid-with-text"] {
                let (mut want, mut got) = (b"prefix".to_vec(), b"prefix".to_vec());
                msg(&mut want, subject, sid, reply, None, payload);
                t.write(&mut got, sid);
                assert_eq!(got, want);
            }
        }
    }

    const L: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1 << 20,
    };

    #[test]
    fn msg_round_trips_through_the_parser() {
        let mut out = Vec::new();
        msg(
            &mut out,
            b"a.b",
            b"7",
            Some(b"r"),
            Some(b"NATS/1.0\r\n\r\n"),
            b"x\r\ny",
        );
        assert_eq!(out, b"HMSG a.b 7 r 12 16\r\nNATS/1.0\r\n\r\nx\r\ny\r\n");
        let Ok(Parsed::Op(ServerOp::Msg { payload, .. }, n)) = parse_server_op(&out, &L) else {
            panic!()
        };
        assert_eq!((payload, n), (&b"x\r\ny"[..], out.len()));
        out.clear();
        msg(&mut out, b"a", b"1", None, None, b"");
        assert_eq!(out, b"MSG a 1 0\r\n\r\n");
    }

    #[test]
    fn client_ops_round_trip() {
        let mut out = Vec::new();
        publish(&mut out, b"s", Some(b"r"), None, b"hi");
        sub(&mut out, b"s", Some(b"q"), b"1");
        unsub(&mut out, b"1", Some(3));
        assert_eq!(out, b"PUB s r 2\r\nhi\r\nSUB s q 1\r\nUNSUB 1 3\r\n");
        let Ok(Parsed::Op(ClientOp::Pub { payload, .. }, _)) = parse_client_op(&out, &L) else {
            panic!()
        };
        assert_eq!(payload, b"hi");
    }
}
