//! Integration tests: each module starts the real `nats-lite` binary.

mod monitor_endpoints;
mod monitor_util;
mod util;
