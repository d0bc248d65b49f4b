//! Integration tests: each module starts the real `nats-lite` binary (or,
//! with `NATS_TEST_REFERENCE=1`, nats-server, to check the expectations).
//!
//! - `auth_jwt`: operator mode (operator, resolver MEMORY, resolver_preload)
//!   with JWTs made by the JavaScript library: chains, refusals,
//!   permissions and limits, async-nats, nats-py, client commands.
//! - `auth_nkeys`: NKey users (nonce, signed CONNECT, accounts and
//!   permissions) with raw clients, async-nats and nats-py; `nkey gen|pub`.
//! - `client_nkeys`: client commands with `--nkey`, contexts (`--context`,
//!   `NATS_CONTEXT`, `context.txt`) and their order of precedence.
//! - `client_matrix`: every official client (async-nats in process; the
//!   programs under `tests/clients/`) through one scenario list, against
//!   nats-lite and nats-server; prints a table.
//! - `cluster_*`: clustering. `cluster_support` starts servers clustered on
//!   free ports (nats-lite or nats-server) and waits through `/routez` and
//!   probe messages; `cluster_mesh` (full mesh, one copy, queue groups
//!   across servers, unsubscribe propagation, client URLs), `cluster_failover`
//!   (kill, rejoin, rolling upgrade, a flapping route), `cluster_lifecycle`
//!   (dynamic names, ports file, stale routes, lame duck), `cluster_mixed`
//!   (with nats-server), `cluster_queue` (Q02, C06), `cluster_security`
//!   (route auth, name mismatch, bad peers), `cluster_tls` (route TLS).
//! - `compat_dropin`: the binary run as `nats-server` (symlink, `exec -a`),
//!   its `nats-server_<pid>.ports` file, IPv6 clients on the default host.
//! - `compat_info`: INFO, `/varz` and the other monitoring JSON match
//!   nats-server's (every field, same JSON types) with auth, TLS, an
//!   advertised address, a cluster, lame duck.
//! - `conn_hardening`: the connection core's bounds (route auth timer,
//!   declared payloads, silent connections, dripped TLS handshakes, a
//!   panicking handler).
//! - `conn_threads`: connection threads reused across connections (few
//!   threads for many sequential connections, max_connections, fresh state
//!   on a reused thread, a burst served in full).
//! - `config_support`: temporary config files, the seed configs with their
//!   paths rewritten, one-shot runs of the server binary (`-t`, `--signal`).
//! - `leaf_*`: leafnodes. `leaf_support` starts hubs and leaves (nats-lite or
//!   nats-server) and runs traffic both ways; `leaf_interop` (both
//!   directions with nats-server 2.9.10, TLS, credentials, a hub restart),
//!   `leaf_topology` (a cluster of hubs with leaves, queue groups, loops,
//!   failover inside a hub cluster, a cluster of edges),
//!   `leaf_monitor` (`/leafz`, `/varz` against nats-server's keys, `/metrics`),
//!   `leaf_faults` (bad input on the leafnode port, refused credentials),
//!   `leaf_options` (remote `disabled`, `deny_imports` / `deny_exports`,
//!   `first_info_timeout`, `hub`; the block's `write_deadline`, `min_version`).
//! - `monitor_auth`: `http_auth` on every endpoint, `public_healthz`, `top`
//!   with credentials.
//! - `monitor_dashboard`: the live dashboard in headless Chromium
//!   (WebDriver), and as text without scripts.
//! - `monitor_guard`: the monitoring port under hostile use (per-address
//!   cap, the `/healthz` slot, request deadlines, a dripped HTTPS handshake).
//! - `monitor_top_discover`: `top --discover` finds a nats-lite cluster
//!   (monitoring URLs over routes, `/varz` `cluster.monitor_urls`) and a
//!   nats-server one (`connect_urls`) from one server, a server joining later,
//!   the live view in tmux.
//! - `monitor_metrics`: `/metrics` checked by promtool and scraped by a
//!   real Prometheus server.
//! - `obs_logs`: `--log_format json` parsed line by line; sd_notify READY,
//!   WATCHDOG, RELOADING, STOPPING to a fake NOTIFY_SOCKET.
//! - `obs_support`: external tools (promtool, prometheus, chromium), free
//!   ports, children killed on drop.
//! - `peer_websocket`: real WebSocket peers (nats-py, async-nats, headless
//!   Chromium with the official JavaScript client).
//! - `sys_advisories`: the system account's advisories: client connect, disconnect, auth error,
//!   server shutdown; JWT users; across a cluster.
//! - `sys_cluster_imports`: service and stream imports with requester and
//!   responder on different servers; the system CONNZ import answered by every server.
//! - `sys_claims`: the claim update service (`nsc push`): updates to the `full`, `cache` and
//!   `MEMORY` resolvers, refusals, list, lookup, pack, delete, a restart, a cluster.
//! - `sys_operator`: operator mode: the system requests for the operator's system
//!   account, activation tokens for private exports (good and refused ones).
//! - `sys_requests`: the system account's request subjects (`$SYS.REQ.SERVER.PING`,
//!   monitoring kinds, account requests, `$SYS.REQ.USER.INFO`), in a cluster, nats-py.
//! - `sys_url_resolver`: `resolver: URL(...)` against an account server in the test
//!   (on-demand fetches, caching, imports, 404, a server that never answers).
//! - `parser_model`, `sublist_model`: the parser's chunking property and the
//!   subject index against a naive matcher, shared with the fuzz targets.
//! - `reliability_auth`: no password or token in the trace log.
//! - `reliability_cluster`: Q02, C02, C05, S04 over routes.
//! - `reliability_fairness`: 100 publishers into one subscriber each get a
//!   fair share.
//! - `reliability_load`: thread-per-connection hazards (storms, 1,000 idle
//!   clients, fd exhaustion, fan-out with a stalled subscriber, SIGTERM
//!   under load, junk on the TLS port).
//! - `reliability_properties`: proptests of the parser and subject index.
//! - `reliability_protocol`: bad input over sockets (split control lines,
//!   odd subject bytes, lines that never end, random bytes).
//! - `server_async_nats`: the official client (pub/sub, request/reply,
//!   headers, queue groups, no responders, auth).
//! - `server_auth`: auth from a config file (token, users, bcrypt,
//!   accounts, no_auth_user) and A01/A04/A08 variants.
//! - `server_config`: every seed config starts and behaves as its comments
//!   say; `-t`, config errors with positions, flags over the file.
//! - `server_errors`: the -ERR catalogue and auth errors, closed or kept.
//! - `server_flags`: command-line flags, log lines, pid/ports files, signals.
//! - `server_imports`: account exports and imports (streams, services)
//!   from the config file.
//! - `server_identity`: who a client is, under hostile use and reloads
//!   (`no_auth_user` guests, reload during CONNECT, second CONNECT, the CPU
//!   cost of failed logins).
//! - `server_limits`: limits from a config file (payload, control line,
//!   connections, subscriptions, pending bytes, ping interval).
//! - `server_permissions`: publish/subscribe permissions, deny over allow,
//!   wildcard overlap filtering (plain and queue subs), Z03, allow_responses.
//! - `server_protocol`: the raw client protocol (INFO, PING, verbose,
//!   pub/sub, wildcards, queues, headers, no responders, UNSUB max, echo,
//!   lexing, split input).
//! - `server_signals`: SIGUSR1 log reopen, SIGUSR2 lame duck, `--signal`
//!   with pid files, SIGHUP reload, log rotation, remote syslog.
//! - `server_tls`: TLS from flags and config, T02-T04, allow_non_tls,
//!   pinned_certs, min_version, handshake_first.
//! - `ship_completions`: completion scripts and man pages kept in git match
//!   the CLI and work in bash, zsh, fish and man; `--version`.
//! - `ship_dist`: dist/: configurations, the systemd unit, and the
//!   service's configuration running with reload and logrotate.
//! - `trace_cli`: `pub --trace` and `req --trace` (tree, `--json`,
//!   `--trace-only`) across a cluster and against nats-server 2.15.
//! - `trace_events`: message tracing (`Nats-Trace-Dest`): ingress and
//!   egress events, trace-only, permission errors, hops across a route,
//!   the events' shape against nats-server 2.15 (one server and a route).
//! - `tls_support`: rcgen certificates, a rustls NATS client, a Python
//!   `ssl` probe.
//! - `client_websocket`: the client commands with `ws://` and `wss://` URLs.
//! - `server_websocket`: the `websocket` listener with raw WebSocket
//!   clients (upgrade refusals, frames, compression, limits, auth, timeout);
//!   `ws_support` is its harness.
//! - `watch_host`: `watch-host`'s file counts, disk and load figures, sinks
//!   (NATS, Prometheus, CloudWatch on moto) and alerts.
//! - `util`: the harness (a server on a free port, raw clients with
//!   deadlines).

mod auth_jwt;
mod auth_nkeys;
mod bench_cmd;
mod client_cat;
mod client_matrix;
mod client_nkeys;
mod client_pubsub;
mod client_recipes;
mod client_reqrep;
mod client_resilience;
mod client_security;
mod client_support;
mod client_websocket;
mod cluster_failover;
mod cluster_lifecycle;
mod cluster_mesh;
mod cluster_mixed;
mod cluster_queue;
mod cluster_security;
mod cluster_support;
mod cluster_tls;
mod compat_dropin;
mod compat_info;
mod config_support;
mod conn_hardening;
mod conn_threads;
mod leaf_faults;
mod leaf_interop;
mod leaf_monitor;
mod leaf_options;
mod leaf_support;
mod leaf_topology;
mod monitor_auth;
mod monitor_dashboard;
mod monitor_endpoints;
mod monitor_guard;
mod monitor_metrics;
mod monitor_top;
mod monitor_top_discover;
mod monitor_util;
mod obs_logs;
mod obs_support;
mod parser_model;
mod peer_websocket;
mod reliability_auth;
mod reliability_cluster;
mod reliability_fairness;
mod reliability_load;
mod reliability_properties;
mod reliability_protocol;
mod server_async_nats;
mod server_auth;
mod server_config;
mod server_errors;
mod server_flags;
mod server_identity;
mod server_imports;
mod server_limits;
mod server_permissions;
mod server_protocol;
mod server_signals;
mod server_tls;
mod server_websocket;
mod ship_completions;
mod ship_dist;
mod sublist_model;
mod sys_advisories;
mod sys_claims;
mod sys_cluster_imports;
mod sys_operator;
mod sys_requests;
mod sys_url_resolver;
mod tls_support;
mod trace_cli;
mod trace_events;
mod tutorial;
mod util;
mod watch_host;
mod watch_http;
mod ws_support;
