//! F01, client side: `parse_server_op` (what `sub`, `req`, `top`... run on
//! a server's bytes) fed arbitrary bytes cut at fuzzer-chosen points. Same
//! properties as `client_ops_chunked`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/parser_model.rs"]
mod parser_model;

fuzz_target!(|data: &[u8]| {
    if let Some((limits, cuts, stream)) = parser_model::split_input(data) {
        parser_model::check_chunking(parser_model::Side::Client, stream, &cuts, &limits);
    }
});
