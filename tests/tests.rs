//! Integration tests: each module starts the real `nats-lite` binary (or,
//! with `NATS_TEST_REFERENCE=1`, nats-server, to check the expectations).

mod client_cat;
mod client_pubsub;
mod client_reqrep;
mod client_resilience;
mod client_security;
mod client_support;
mod server_async_nats;
mod server_errors;
mod server_flags;
mod server_limits;
mod server_protocol;
mod util;
mod watch_http;
