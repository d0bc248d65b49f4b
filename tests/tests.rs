//! Integration tests: each module starts the real `nats-lite` binary (or,
//! with `NATS_TEST_REFERENCE=1`, nats-server, to check the expectations).

mod config_support;
mod server_async_nats;
mod server_auth;
mod server_config;
mod server_errors;
mod server_flags;
mod server_limits;
mod server_permissions;
mod server_protocol;
mod server_signals;
mod server_tls;
mod tls_support;
mod util;
