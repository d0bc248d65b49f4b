//! WebSocket (RFC 6455) without sockets, for NATS over WebSocket: the
//! handshake's accept key, a streaming frame decoder and a frame encoder,
//! with permessage-deflate (RFC 7692) in its no-context-takeover form, the
//! only one nats-server negotiates. Shared by the server's `websocket`
//! listener and the client's `ws://` / `wss://` connections.
//!
//! The decoder never holds a whole frame: payload bytes are unmasked (and
//! inflated) as they arrive and handed on as the NATS byte stream, so a
//! frame that declares 2^63 bytes costs nothing until its bytes come, and
//! then they meet the NATS parser's limits (`max_control_line`,
//! `max_payload`) exactly as on a plain connection. Inflated output is
//! produced at most `out_limit` bytes at a time, so a small compressed frame
//! cannot make the decoder allocate much either. Control frames (at most 125
//! bytes, never fragmented) are returned to the caller to answer.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Continuation frame.
pub const OP_CONTINUATION: u8 = 0;
/// Text frame (nats-server reads it as binary).
pub const OP_TEXT: u8 = 1;
/// Binary frame: what NATS uses.
pub const OP_BINARY: u8 = 2;
/// Close frame.
pub const OP_CLOSE: u8 = 8;
/// Ping frame.
pub const OP_PING: u8 = 9;
/// Pong frame.
pub const OP_PONG: u8 = 10;

/// Close status: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close status: the server goes away (shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close status: protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close status: no status code was present.
pub const CLOSE_NO_STATUS: u16 = 1005;
/// Close status: policy violation (authentication).
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// Close status: a message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close status: an unexpected condition on the server.
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// Longest control frame payload.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Payloads this short are sent uncompressed even when compression is on
/// (nats-server's threshold).
pub const COMPRESS_THRESHOLD: usize = 64;
/// The `Sec-WebSocket-Extensions` value both sides of nats-server's
/// compression agree on.
pub const DEFLATE_EXTENSION: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// What a deflate flush ends with; stripped when sending, added back to inflate.
const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(GUID.as_bytes());
    base64(ctx.finish().as_ref())
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Which end of the connection a codec serves: a server reads masked
/// frames and writes unmasked ones; a client the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The server side.
    Server,
    /// The client side.
    Client,
}

/// A control frame the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Answer with a pong carrying the same payload.
    Ping(Vec<u8>),
    /// A pong (nothing to do).
    Pong,
    /// The peer closes: its status (if any) and reason.
    Close(Option<u16>, String),
}

/// Input that breaks RFC 6455: the connection is closed with
/// [`CLOSE_PROTOCOL_ERROR`] and this text as the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

/// What one [`Decoder::decode`] call did.
#[derive(Debug, Default)]
pub struct Step {
    /// Input bytes consumed (the rest must be offered again).
    pub consumed: usize,
    /// A control frame ended: act on it before decoding on.
    pub control: Option<Control>,
}

/// A streaming frame decoder.
pub struct Decoder {
    role: Role,
    compression: bool,
    /// Header bytes of the frame being read.
    header: [u8; 14],
    header_len: usize,
    /// Inside a frame's payload.
    in_frame: bool,
    opcode: u8,
    fin: bool,
    remaining: u64,
    mask: Option<[u8; 4]>,
    mask_pos: usize,
    /// A fragmented data message is in progress.
    in_message: bool,
    /// The current data message is compressed.
    compressed: bool,
    /// Bytes of the deflate tail still to feed at the end of a compressed message.
    tail_left: usize,
    /// A compressed message's last frame is read: its output is still being drained.
    finishing: bool,
    control: Vec<u8>,
    scratch: Vec<u8>,
    inflate: Option<Decompress>,
}

impl Decoder {
    /// A decoder for `role`; `compression` when permessage-deflate was agreed.
    pub fn new(role: Role, compression: bool) -> Decoder {
        Decoder {
            role,
            compression,
            header: [0; 14],
            header_len: 0,
            in_frame: false,
            opcode: 0,
            fin: false,
            remaining: 0,
            mask: None,
            mask_pos: 0,
            in_message: false,
            compressed: false,
            tail_left: 0,
            finishing: false,
            control: Vec::new(),
            scratch: Vec::new(),
            inflate: None,
        }
    }

    /// Decode from `input`, appending data bytes to `out` until `out` holds
    /// `out_limit` bytes, the input is used up, or a control frame ends.
    ///
    /// # Errors
    ///
    /// The input breaks the protocol (see [`Violation`]).
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        out_limit: usize,
    ) -> Result<Step, Violation> {
        let mut step = Step::default();
        loop {
            if out.len() >= out_limit {
                return Ok(step);
            }
            if self.in_frame && self.remaining == 0 && self.is_data() {
                self.end_data_frame();
            }
            if self.finishing {
                // The end of a compressed message: drain the inflater.
                if !self.finish_inflate(out, out_limit)? {
                    return Ok(step);
                }
                continue;
            }
            let rest = &input[step.consumed..];
            if !self.in_frame {
                if rest.is_empty() {
                    return Ok(step);
                }
                let used = self.read_header(rest)?;
                step.consumed += used;
                continue;
            }
            if self.is_data() {
                if rest.is_empty() {
                    return Ok(step);
                }
                let take = rest
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                let used = self.data(&rest[..take], out, out_limit)?;
                step.consumed += used;
                self.remaining -= used as u64;
                continue;
            }
            // A control frame: collect it whole (it is at most 125 bytes).
            let take = rest.len().min(self.remaining as usize);
            let start = self.control.len();
            self.control.extend_from_slice(&rest[..take]);
            self.unmask(start);
            step.consumed += take;
            self.remaining -= take as u64;
            if self.remaining > 0 {
                return Ok(step);
            }
            self.in_frame = false;
            step.control = Some(self.take_control());
            return Ok(step);
        }
    }

    fn is_data(&self) -> bool {
        self.opcode < OP_CLOSE
    }

    /// Read (part of) a frame header; returns the bytes used.
    fn read_header(&mut self, input: &[u8]) -> Result<usize, Violation> {
        let mut used = 0;
        if self.header_len < 2 {
            let take = (2 - self.header_len).min(input.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
            self.header_len += take;
            used += take;
            if self.header_len < 2 {
                return Ok(used);
            }
        }
        let b0 = self.header[0];
        let b1 = self.header[1];
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7f;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let need = 2 + ext + if masked { 4 } else { 0 };
        let take = (need - self.header_len).min(input.len() - used);
        self.header[self.header_len..self.header_len + take]
            .copy_from_slice(&input[used..used + take]);
        self.header_len += take;
        used += take;
        if self.header_len < need {
            return Ok(used);
        }
        self.header_len = 0;
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        let opcode = b0 & 0x0f;
        if b0 & 0x30 != 0 {
            return Err(Violation("RSV2 and RSV3 must be clear".into()));
        }
        match (self.role, masked) {
            (Role::Server, false) => return Err(Violation("mask bit missing".into())),
            (Role::Client, true) => return Err(Violation("masked frame from the server".into())),
            _ => {}
        }
        let len = match ext {
            2 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            8 => u64::from_be_bytes(self.header[2..10].try_into().unwrap_or([0; 8])),
            _ => u64::from(len7),
        };
        self.mask = masked.then(|| {
            let at = 2 + ext;
            [
                self.header[at],
                self.header[at + 1],
                self.header[at + 2],
                self.header[at + 3],
            ]
        });
        self.mask_pos = 0;
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin {
                    return Err(Violation("control frame is fragmented".into()));
                }
                if len > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(Violation(format!(
                        "control frame length bigger than maximum allowed of \
                         {MAX_CONTROL_PAYLOAD} bytes"
                    )));
                }
                if rsv1 {
                    return Err(Violation("control frame is compressed".into()));
                }
                self.control.clear();
            }
            OP_TEXT | OP_BINARY => {
                if self.in_message {
                    return Err(Violation("new message started before final frame".into()));
                }
                if rsv1 && !self.compression {
                    return Err(Violation("RSV1 set without compression".into()));
                }
                self.in_message = !fin;
                self.compressed = rsv1;
            }
            OP_CONTINUATION => {
                if !self.in_message {
                    return Err(Violation("continuation frame without a message".into()));
                }
                if rsv1 {
                    return Err(Violation("RSV1 set on a continuation frame".into()));
                }
                self.in_message = !fin;
            }
            other => return Err(Violation(format!("unknown opcode {other}"))),
        }
        self.opcode = opcode;
        self.fin = fin;
        self.remaining = len;
        self.in_frame = true;
        Ok(used)
    }

    /// Unmask `self.control[start..]`.
    fn unmask(&mut self, start: usize) {
        if let Some(mask) = self.mask {
            for b in &mut self.control[start..] {
                *b ^= mask[self.mask_pos & 3];
                self.mask_pos += 1;
            }
        }
    }

    fn take_control(&mut self) -> Control {
        let payload = std::mem::take(&mut self.control);
        match self.opcode {
            OP_PING => Control::Ping(payload),
            OP_PONG => Control::Pong,
            _ => {
                if payload.len() < 2 {
                    Control::Close(None, String::new())
                } else {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    Control::Close(
                        Some(code),
                        String::from_utf8_lossy(&payload[2..]).into_owned(),
                    )
                }
            }
        }
    }

    /// Payload bytes of a data frame; returns how many were used.
    fn data(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        out_limit: usize,
    ) -> Result<usize, Violation> {
        if !self.compressed {
            let take = input.len().min(out_limit - out.len());
            let start = out.len();
            out.extend_from_slice(&input[..take]);
            if let Some(mask) = self.mask {
                for b in &mut out[start..] {
                    *b ^= mask[self.mask_pos & 3];
                    self.mask_pos += 1;
                }
            }
            return Ok(take);
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(input);
        if let Some(mask) = self.mask {
            for (pos, b) in (self.mask_pos..).zip(self.scratch.iter_mut()) {
                *b ^= mask[pos & 3];
            }
        }
        let scratch = std::mem::take(&mut self.scratch);
        let used = self.inflate_into(&scratch, out, out_limit);
        self.scratch = scratch;
        let used = used?;
        self.mask_pos += used;
        Ok(used)
    }

    /// Inflate `input` into `out` (up to `out_limit`); returns input used.
    fn inflate_into(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        out_limit: usize,
    ) -> Result<usize, Violation> {
        let inflate = self.inflate.get_or_insert_with(|| Decompress::new(false));
        let before = inflate.total_in();
        let mut off = 0;
        loop {
            let room = out_limit.saturating_sub(out.len()).min(64 * 1024);
            if room == 0 {
                break;
            }
            let start = out.len();
            out.resize(start + room, 0);
            let in_before = inflate.total_in();
            let out_before = inflate.total_out();
            let result =
                inflate.decompress(&input[off..], &mut out[start..], FlushDecompress::Sync);
            let produced = (inflate.total_out() - out_before) as usize;
            out.truncate(start + produced);
            let status = result.map_err(|e| Violation(format!("invalid compressed data: {e}")))?;
            off += (inflate.total_in() - in_before) as usize;
            if matches!(status, Status::StreamEnd) || produced < room && off == input.len() {
                break;
            }
            if produced == 0 && inflate.total_in() == in_before {
                break;
            }
        }
        Ok((inflate.total_in() - before) as usize)
    }

    /// The data frame's payload is all read.
    fn end_data_frame(&mut self) {
        self.in_frame = false;
        if self.fin && self.compressed {
            self.tail_left = DEFLATE_TAIL.len();
            self.finishing = true;
        } else if self.fin {
            self.compressed = false;
        }
    }

    /// Feed the deflate tail and drain the inflater; true once the message
    /// is complete (false: `out` is full, call again).
    fn finish_inflate(&mut self, out: &mut Vec<u8>, out_limit: usize) -> Result<bool, Violation> {
        let tail = &DEFLATE_TAIL[DEFLATE_TAIL.len() - self.tail_left..];
        let used = self.inflate_into(tail, out, out_limit)?;
        self.tail_left -= used;
        if self.tail_left > 0 || out.len() >= out_limit {
            return Ok(false);
        }
        self.finishing = false;
        // Everything fed and the output not full: the message is done.
        // No context takeover: the next message starts a fresh window.
        if let Some(inflate) = &mut self.inflate {
            inflate.reset(false);
        }
        self.compressed = false;
        Ok(true)
    }
}

/// A frame encoder.
pub struct Encoder {
    role: Role,
    deflate: Option<Compress>,
    mask_seed: u32,
    scratch: Vec<u8>,
}

impl Encoder {
    /// An encoder for `role`; `compression` when permessage-deflate was agreed.
    pub fn new(role: Role, compression: bool) -> Encoder {
        let mut seed = [0u8; 4];
        let _ = getrandom::fill(&mut seed);
        Encoder {
            role,
            deflate: compression.then(|| Compress::new(Compression::fast(), false)),
            mask_seed: u32::from_le_bytes(seed) | 1,
            scratch: Vec::new(),
        }
    }

    /// Append `payload` as one binary message (compressed when agreed and
    /// worth it).
    pub fn message(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        if payload.len() > COMPRESS_THRESHOLD {
            if let Some(deflate) = &mut self.deflate {
                let mut compressed = std::mem::take(&mut self.scratch);
                compressed.clear();
                compressed.reserve(payload.len() / 2 + 64);
                let mut ok = true;
                let mut off = 0;
                loop {
                    if compressed.capacity() - compressed.len() < 64 {
                        compressed.reserve(compressed.capacity().max(1024));
                    }
                    let before = deflate.total_in();
                    if deflate
                        .compress_vec(&payload[off..], &mut compressed, FlushCompress::Sync)
                        .is_err()
                    {
                        ok = false;
                        break;
                    }
                    off += (deflate.total_in() - before) as usize;
                    if off == payload.len() && compressed.len() < compressed.capacity() {
                        break;
                    }
                }
                deflate.reset();
                if ok && compressed.ends_with(&DEFLATE_TAIL) {
                    compressed.truncate(compressed.len() - DEFLATE_TAIL.len());
                    self.frame(OP_BINARY, true, &compressed, out);
                    self.scratch = compressed;
                    return;
                }
                self.scratch = compressed;
            }
        }
        self.frame(OP_BINARY, false, payload, out);
    }

    /// Append a control frame (`payload` of at most 125 bytes).
    pub fn control(&mut self, opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
        let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        self.frame(opcode, false, payload, out);
    }

    /// Append a close frame with `code` and `reason` (cut to fit).
    pub fn close(&mut self, code: u16, reason: &str, out: &mut Vec<u8>) {
        let mut payload = code.to_be_bytes().to_vec();
        let mut reason = reason;
        while reason.len() > MAX_CONTROL_PAYLOAD - 2 {
            let mut cut = MAX_CONTROL_PAYLOAD - 2;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason = &reason[..cut];
        }
        payload.extend_from_slice(reason.as_bytes());
        self.frame(OP_CLOSE, false, &payload, out);
    }

    fn frame(&mut self, opcode: u8, rsv1: bool, payload: &[u8], out: &mut Vec<u8>) {
        let mask = self.role == Role::Client;
        encode_header(
            out,
            opcode,
            rsv1,
            payload.len(),
            mask.then(|| self.next_mask()),
        );
        let start = out.len();
        out.extend_from_slice(payload);
        if mask {
            let key = self.mask_seed.to_le_bytes();
            for (i, b) in out[start..].iter_mut().enumerate() {
                *b ^= key[i & 3];
            }
        }
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift: masking keys need only be unpredictable to scripts in
        // the page, which never see them; a fresh random seed per encoder.
        let mut x = self.mask_seed;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_seed = x;
        x.to_le_bytes()
    }
}

/// Append a frame header (FIN set).
pub fn encode_header(out: &mut Vec<u8>, opcode: u8, rsv1: bool, len: usize, mask: Option<[u8; 4]>) {
    let b0 = 0x80 | if rsv1 { 0x40 } else { 0 } | (opcode & 0x0f);
    let m = if mask.is_some() { 0x80 } else { 0 };
    out.push(b0);
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// The value of `name` in an HTTP header block (case-insensitive name).
pub fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// True when the comma-separated header `value` has `token` (case-insensitive).
pub fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(op: u8, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let key = [1, 2, 3, 4];
        encode_header(&mut out, op, rsv1, payload.len(), Some(key));
        if !fin {
            out[0] &= 0x7f;
        }
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
        out
    }

    fn decode_all(d: &mut Decoder, input: &[u8]) -> Result<(Vec<u8>, Vec<Control>), Violation> {
        let (mut out, mut controls, mut off) = (Vec::new(), Vec::new(), 0);
        loop {
            let step = d.decode(&input[off..], &mut out, usize::MAX)?;
            off += step.consumed;
            match step.control {
                Some(c) => controls.push(c),
                None if off == input.len() => return Ok((out, controls)),
                None => {}
            }
        }
    }

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn fragments_with_a_ping_between_byte_by_byte() {
        let mut input = masked(OP_BINARY, false, false, b"PI");
        input.extend(masked(OP_PING, true, false, b"p"));
        input.extend(masked(OP_CONTINUATION, true, false, b"NG\r\n"));
        let mut d = Decoder::new(Role::Server, false);
        let (mut out, mut controls) = (Vec::new(), Vec::new());
        for b in &input {
            let step = d
                .decode(std::slice::from_ref(b), &mut out, usize::MAX)
                .unwrap();
            assert_eq!(step.consumed, 1);
            controls.extend(step.control);
        }
        assert_eq!(out, b"PING\r\n");
        assert_eq!(controls, vec![Control::Ping(b"p".to_vec())]);
    }

    #[test]
    fn violations() {
        let mut unmasked = Vec::new();
        encode_header(&mut unmasked, OP_BINARY, false, 1, None);
        unmasked.push(b'x');
        let cases = [
            unmasked,
            masked(OP_PING, true, false, &[0; 126]),
            masked(OP_CONTINUATION, true, false, b"x"),
            masked(3, true, false, b"x"),
            masked(OP_BINARY, true, true, b"x"),
        ];
        for case in cases {
            let mut d = Decoder::new(Role::Server, false);
            assert!(decode_all(&mut d, &case).is_err(), "{case:?}");
        }
    }

    #[test]
    fn compressed_round_trip_in_small_output_steps() {
        let payload: Vec<u8> = b"PUB a 5\r\nhello\r\n".repeat(500);
        let mut enc = Encoder::new(Role::Client, true);
        let mut wire = Vec::new();
        enc.message(&payload, &mut wire);
        enc.message(b"PING\r\n", &mut wire);
        enc.message(&payload, &mut wire);
        assert!(wire[0] & 0x40 != 0, "compressed");
        let mut d = Decoder::new(Role::Server, true);
        let (mut out, mut off) = (Vec::new(), 0);
        let mut want = payload.clone();
        want.extend_from_slice(b"PING\r\n");
        want.extend_from_slice(&payload);
        while out.len() < want.len() {
            let limit = out.len() + 100;
            let step = d.decode(&wire[off..], &mut out, limit).unwrap();
            assert!(out.len() <= limit);
            off += step.consumed;
        }
        assert_eq!(off, wire.len());
        assert_eq!(out, want);
    }

    #[test]
    fn huge_declared_frame_allocates_nothing_up_front() {
        let mut input = Vec::new();
        encode_header(&mut input, OP_BINARY, false, 1 << 40, Some([0; 4]));
        input.extend_from_slice(b"PING");
        let mut d = Decoder::new(Role::Server, false);
        let (out, _) = decode_all(&mut d, &input).unwrap();
        assert_eq!(out, b"PING");
        assert!(out.capacity() < 1024);
    }

    #[test]
    fn close_and_headers() {
        let mut d = Decoder::new(Role::Server, false);
        let (_, c) = decode_all(&mut d, &masked(OP_CLOSE, true, false, b"\x03\xe8bye")).unwrap();
        assert_eq!(c, vec![Control::Close(Some(1000), "bye".into())]);
        let head = "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nHost: x";
        assert!(has_token(
            header_value(head, "connection").unwrap(),
            "upgrade"
        ));
    }
}
