//! The configuration file parser: `conf::parse_str` then
//! `ServerConfig::from_value` on arbitrary text. Either may refuse the
//! input; neither may panic, loop or blow the stack. Includes are resolved
//! against a directory that does not exist.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nats_lite::conf::{parse_str, ServerConfig};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(map) = parse_str(&text, Path::new("/nonexistent-nats-lite-fuzz/fuzz.conf")) {
        let _ = ServerConfig::from_value(&map);
    }
});
