//! F01, server side: `parse_client_op` (what the server runs on a client's
//! bytes) fed arbitrary bytes cut at fuzzer-chosen points. No panic; the
//! same ops and the same ending for any split; the tail kept between reads
//! within `max_control_line + max_payload + 2` (plus the op name and line
//! terminators). Input layout: see `parser_model::split_input`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/parser_model.rs"]
mod parser_model;

fuzz_target!(|data: &[u8]| {
    if let Some((limits, cuts, stream)) = parser_model::split_input(data) {
        parser_model::check_chunking(parser_model::Side::Server, stream, &cuts, &limits);
    }
});
