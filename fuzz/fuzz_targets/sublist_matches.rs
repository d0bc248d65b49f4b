//! S03: the subject index (`Sublist`, with and without its result cache)
//! against the naive matcher `protocol::subject::matches`, for
//! subscriptions (plain and queue, some removed again) and subjects
//! decoded from the input (see `sublist_model::decode`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/sublist_model.rs"]
mod sublist_model;

fuzz_target!(|data: &[u8]| {
    let (subs, subjects) = sublist_model::decode(data);
    let no_cache = data.first().is_some_and(|b| b & 0x80 != 0);
    sublist_model::check_sublist(&subs, &subjects, no_cache);
});
