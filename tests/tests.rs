//! Integration tests: each module starts the real `nats-lite` binary (or,
//! with `NATS_TEST_REFERENCE=1`, nats-server, to check the expectations).

// async-nats (the official client): pub/sub, request/reply, headers, queues.
mod server_async_nats;
// The -ERR catalogue and authentication errors, closed or kept.
mod server_errors;
// Command-line flags, log lines, pid/ports files, signals.
mod server_flags;
// Limits from a config file: payload, control line, connections, subs,
// pending bytes, ping interval.
mod server_limits;
// The raw client protocol: INFO, PING, verbose, pub/sub, wildcards, queues,
// headers, no responders, UNSUB max, echo, lexing, split input.
mod server_protocol;
// Harness: start a server on a free port, raw clients with deadlines.
mod util;
