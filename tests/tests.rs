//! Integration tests: each module starts the real `nats-lite` binary (or,
//! with `NATS_TEST_REFERENCE=1`, nats-server, to check the expectations).
//!
//! - `server_async_nats`: the official client (pub/sub, request/reply,
//!   headers, queue groups, no responders, auth).
//! - `server_errors`: the -ERR catalogue and auth errors, closed or kept.
//! - `server_flags`: command-line flags, log lines, pid/ports files, signals.
//! - `server_limits`: limits from a config file (payload, control line,
//!   connections, subscriptions, pending bytes, ping interval).
//! - `server_protocol`: the raw client protocol (INFO, PING, verbose,
//!   pub/sub, wildcards, queues, headers, no responders, UNSUB max, echo,
//!   lexing, split input).
//! - `util`: the harness (a server on a free port, raw clients with
//!   deadlines).

mod client_cat;
mod client_pubsub;
mod client_recipes;
mod client_reqrep;
mod client_resilience;
mod client_security;
mod client_support;
mod cluster_failover;
mod cluster_lifecycle;
mod cluster_mesh;
mod cluster_mixed;
mod cluster_queue;
mod cluster_security;
mod cluster_support;
mod monitor_endpoints;
mod monitor_top;
mod monitor_util;
mod server_async_nats;
mod server_errors;
mod server_flags;
mod server_limits;
mod server_protocol;
mod util;
