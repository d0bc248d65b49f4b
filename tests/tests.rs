//! Integration tests: each module starts the real `nats-lite` binary.

mod util;
