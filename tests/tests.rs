//! Integration tests: each module starts the real `nats-lite` binary.

mod client_cat;
mod client_pubsub;
mod client_reqrep;
mod client_resilience;
mod client_security;
mod client_support;
mod util;
