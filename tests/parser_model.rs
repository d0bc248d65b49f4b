//! The chunking property of the protocol parser (reliability-cases.md F01),
//! shared by the proptests in `reliability_properties.rs` and the cargo-fuzz
//! targets in `fuzz/` (which include this file by path): parse a byte stream
//! as one buffer, then again as the chunks a reader might get, and compare.
//!
//! A reader keeps the unparsed tail between reads, so for any split of the
//! same bytes it must see the same ops and end the same way (an error, or
//! waiting for more), and the tail it keeps must stay within the parser's
//! limits (`max_control_line + max_payload + 2`, plus the op name and line
//! terminators that the limits do not count).
//!
//! Only `nats_lite`'s public protocol API is used, so the file compiles in
//! the integration tests and in the fuzz crate alike.

#![allow(dead_code)]

use nats_lite::protocol::parser::{
    parse_client_op, parse_client_op_general, parse_server_op, Limits, Parsed,
};

/// Which parser: the server's (ops a client sends) or the client's (ops a
/// server sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `parse_client_op`: what the server runs on client input.
    Server,
    /// `parse_server_op`: what the clients run on server input.
    Client,
}

/// How a stream ended after its last complete op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Everything was used, or a partial op waits for more bytes.
    Incomplete,
    /// The parser refused the input (the connection would be closed).
    Error(String),
}

/// What one pass over a stream produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Each op, as its `Debug` text (so it owns its bytes).
    pub ops: Vec<String>,
    /// How the stream ended.
    pub end: End,
}

/// Room the limits do not count: the longest op name (`CONNECT`), a blank
/// and `\r\n` around the control line.
pub const LINE_OVERHEAD: usize = 16;

/// The most a reader may keep between reads under `limits`.
pub fn retained_bound(limits: &Limits) -> usize {
    limits.max_control_line + limits.max_payload + 2 + LINE_OVERHEAD
}

/// One parse step on `buf`: `Ok(Some((op, used)))`, `Ok(None)` for
/// incomplete, `Err(text)` for a refusal.
fn step(side: Side, buf: &[u8], limits: &Limits) -> Result<Option<(String, usize)>, String> {
    let r = match side {
        Side::Server => {
            let fast = parse_client_op(buf, limits).map(|p| p.map(|op| format!("{op:?}")));
            let general =
                parse_client_op_general(buf, limits).map(|p| p.map(|op| format!("{op:?}")));
            assert_eq!(
                format!("{fast:?}"),
                format!("{general:?}"),
                "the PUB fast path and the general parser differ on {:?}",
                String::from_utf8_lossy(buf)
            );
            fast
        }
        Side::Client => parse_server_op(buf, limits).map(|p| p.map(|op| format!("{op:?}"))),
    };
    match r {
        Ok(Parsed::Op(op, used)) => {
            assert!(
                used > 0 && used <= buf.len(),
                "parser used {used} of {} bytes",
                buf.len()
            );
            Ok(Some((op, used)))
        }
        Ok(Parsed::Incomplete(need)) => {
            if let Some(need) = need {
                assert!(
                    need > buf.len(),
                    "Incomplete(Some({need})) with {} bytes buffered",
                    buf.len()
                );
            }
            Ok(None)
        }
        Err(e) => Err(format!("{e:?}")),
    }
}

/// Parse `bytes` as one buffer.
pub fn parse_whole(side: Side, bytes: &[u8], limits: &Limits) -> Outcome {
    parse_chunked(side, bytes, &[], limits).0
}

/// Parse `bytes` cut at the offsets in `cuts` (any order, out-of-range
/// offsets ignored), keeping the unparsed tail between chunks as a reader
/// does. Returns the outcome and the largest tail kept between two chunks.
pub fn parse_chunked(
    side: Side,
    bytes: &[u8],
    cuts: &[usize],
    limits: &Limits,
) -> (Outcome, usize) {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < bytes.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts.push(bytes.len());
    let mut ops = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut from = 0;
    let mut max_tail = 0;
    for to in cuts {
        buf.extend_from_slice(&bytes[from..to]);
        from = to;
        let mut start = 0;
        loop {
            match step(side, &buf[start..], limits) {
                Ok(Some((op, used))) => {
                    ops.push(op);
                    start += used;
                    if start == buf.len() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return (
                        Outcome {
                            ops,
                            end: End::Error(e),
                        },
                        max_tail,
                    )
                }
            }
        }
        buf.drain(..start);
        max_tail = max_tail.max(buf.len());
    }
    (
        Outcome {
            ops,
            end: End::Incomplete,
        },
        max_tail,
    )
}

/// Check the chunking property for one stream and one set of cuts; panics
/// with both outcomes on a difference.
pub fn check_chunking(side: Side, bytes: &[u8], cuts: &[usize], limits: &Limits) {
    let whole = parse_whole(side, bytes, limits);
    let (chunked, max_tail) = parse_chunked(side, bytes, cuts, limits);
    assert_eq!(
        whole,
        chunked,
        "{side:?} parser: one buffer and chunks at {cuts:?} differ for {:?}",
        String::from_utf8_lossy(bytes)
    );
    assert!(
        max_tail <= retained_bound(limits),
        "{side:?} parser kept {max_tail} bytes between reads (bound {}) for {:?} cut at {cuts:?}",
        retained_bound(limits),
        String::from_utf8_lossy(bytes)
    );
}

/// Decode a fuzzer's input: the first byte picks the limits, the next the
/// number of cuts (0..=15), then two bytes per cut (a big-endian offset
/// into the rest), then the stream itself.
pub fn split_input(data: &[u8]) -> Option<(Limits, Vec<usize>, &[u8])> {
    let (&limit_sel, rest) = data.split_first()?;
    let (&ncuts, rest) = rest.split_first()?;
    let ncuts = (ncuts & 0x0f) as usize;
    if rest.len() < ncuts * 2 {
        return None;
    }
    let (cut_bytes, stream) = rest.split_at(ncuts * 2);
    let cuts = cut_bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as usize % (stream.len() + 1))
        .collect();
    // Small limits so that inputs of a few hundred bytes reach them; the
    // defaults once in a while.
    let limits = match limit_sel % 4 {
        0 => Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024,
        },
        1 => Limits {
            max_control_line: 32,
            max_payload: 64,
        },
        2 => Limits {
            max_control_line: 8,
            max_payload: 0,
        },
        _ => Limits {
            max_control_line: 128,
            max_payload: 16,
        },
    };
    Some((limits, cuts, stream))
}
