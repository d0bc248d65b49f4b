//! Property tests (proptest) of the protocol parser and the subject index,
//! the quick in-suite versions of the cargo-fuzz targets in `fuzz/`
//! (reliability-cases.md F01 and S03):
//!
//! - any split of the same bytes gives the same ops and the same ending,
//!   with the tail kept between reads within the limits, for the server's
//!   parser (client ops) and the clients' parser (server ops);
//! - the subject index matches exactly what a naive token walk matches,
//!   with and without its result cache, across removals.
//!
//! The case counts are kept small so the module runs in a few seconds; the
//! fuzz targets are for the long runs.

use nats_lite::protocol::parser::Limits;
use proptest::prelude::*;

use crate::parser_model::{check_chunking, Side};
use crate::sublist_model::{check_sublist, SubSpec, TOKENS};

/// Pieces streams are made of: whole ops of either side, fragments of
/// them, separators and a few troublemakers.
const PIECES: &[&str] = &[
    "PING\r\n",
    "pong\n",
    "+OK\r\n",
    "-ERR 'Unknown Protocol Operation'\r\n",
    "INFO {\"max_payload\":64}\r\n",
    "CONNECT {\"verbose\":false}\r\n",
    "PUB foo 5\r\nhello\r\n",
    "PUB foo reply 0\r\n\r\n",
    "pub\tfoo  2\r\n\r\n\r\n",
    "HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
    "SUB a.* q 1\r\n",
    "UNSUB 1 5\r\n",
    "MSG a 1 r 3\r\nabc\r\n",
    "MSG a 1 2\r\nPI\r\n",
    "HMSG a 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
    "PUB ",
    "MSG ",
    "foo ",
    "999999999 ",
    "18446744073709551615",
    "-1",
    "\r\n",
    "\n",
    "\r",
    " ",
    "\t",
    "x",
];

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024
        }),
        Just(Limits {
            max_control_line: 32,
            max_payload: 64
        }),
        Just(Limits {
            max_control_line: 8,
            max_payload: 0
        }),
    ]
}

/// A stream of pieces and random bytes, and cut offsets into it.
fn stream_and_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    let piece = prop_oneof![
        4 => prop::sample::select(PIECES).prop_map(|p| p.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..8),
        // A run of blanks, the way a sender may pad a control line.
        1 => (0usize..48).prop_map(|n| vec![b' '; n]),
    ];
    prop::collection::vec(piece, 0..12)
        .prop_map(|v| v.concat())
        .prop_flat_map(|bytes| {
            let n = bytes.len();
            (Just(bytes), prop::collection::vec(0..=n, 0..6))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// F01 for the server's parser of client ops.
    #[test]
    fn f01_client_ops_same_for_any_chunking((bytes, cuts) in stream_and_cuts(), limits in limits()) {
        check_chunking(Side::Server, &bytes, &cuts, &limits);
    }

    /// F01 for the clients' parser of server ops.
    #[test]
    fn f01_server_ops_same_for_any_chunking((bytes, cuts) in stream_and_cuts(), limits in limits()) {
        check_chunking(Side::Client, &bytes, &cuts, &limits);
    }
}

fn pattern(literal: bool) -> impl Strategy<Value = String> {
    let choices = if literal { 6 } else { TOKENS.len() };
    prop::collection::vec(0..choices, 1..5).prop_map(|ix| {
        ix.into_iter()
            .map(|i| TOKENS[i])
            .collect::<Vec<_>>()
            .join(".")
    })
}

fn sub_spec() -> impl Strategy<Value = SubSpec> {
    (
        pattern(false),
        prop_oneof![Just(None), Just(Some("q0")), Just(Some("q1"))],
        prop::bool::weighted(0.25),
    )
        .prop_map(|(pattern, queue, removed)| SubSpec {
            pattern,
            queue: queue.map(str::to_string),
            removed,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// S03: the index and the naive matcher agree.
    #[test]
    fn s03_sublist_matches_naive_reference(
        subs in prop::collection::vec(sub_spec(), 0..16),
        subjects in prop::collection::vec(pattern(true), 1..8),
        no_cache in any::<bool>(),
    ) {
        check_sublist(&subs, &subjects, no_cache);
    }
}

/// The cases behind the properties, pinned: `*` one token, `>` one or
/// more, a lone `w` matches neither, `*`/`>` inside a token are literal.
#[test]
fn s03_wildcard_examples() {
    let subs: Vec<SubSpec> = ["w.*", "w.>", "foo*.bar", "a.>x", ">", "*"]
        .iter()
        .map(|p| SubSpec {
            pattern: p.to_string(),
            queue: None,
            removed: false,
        })
        .collect();
    let subjects: Vec<String> = ["w", "w.x", "w.x.y", "foo*.bar", "fooX.bar", "a.>x", "a.b"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    check_sublist(&subs, &subjects, false);
}

/// F01, pinned: blanks between a control line's op name and its arguments
/// count the same whether the line arrives whole or in pieces. (Found by
/// this module: 40 blanks after `PUB` under max_control_line 32 are
/// accepted in one read but refused as `MaxControlLine` when the read ends
/// before the line does.)
#[test]
fn f01_blank_padding_same_for_any_chunking() {
    let limits = Limits {
        max_control_line: 32,
        max_payload: 64,
    };
    let pad = " ".repeat(40);
    for (side, stream) in [
        (Side::Server, format!("PUB{pad}foo 2\r\nhi\r\nPING\r\n")),
        (Side::Client, format!("MSG{pad}foo 1 2\r\nhi\r\nPING\r\n")),
    ] {
        for cut in 0..=stream.len() {
            check_chunking(side, stream.as_bytes(), &[cut], &limits);
        }
    }
}

/// F01, pinned: a control line exactly `max_control_line` long is accepted
/// whole, and so it must be when a read ends between its `\r` and `\n`.
/// (Found by the `client_ops_chunked` fuzz target: the partial line's
/// `\r` is counted against the limit.)
#[test]
fn f01_line_at_the_limit_split_before_its_lf() {
    let limits = Limits {
        max_control_line: 4096,
        max_payload: 1024 * 1024,
    };
    let subject = "s".repeat(4096 - " 2".len());
    for (side, stream) in [
        (Side::Server, format!("PUB {subject} 2\r\nhi\r\n")),
        (Side::Server, format!("-ERR '{}'\r\n", "e".repeat(4094))),
        (Side::Client, format!("MSG {} 2\r\nhi\r\n", &subject[2..])),
    ] {
        let cr = stream.find('\r').unwrap();
        check_chunking(side, stream.as_bytes(), &[cr + 1], &limits);
    }
}
