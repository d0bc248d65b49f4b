//! One system request in, one reply out: the subject says which endpoint,
//! the JSON body carries the endpoint's options (the HTTP endpoints' query
//! options under nats-server's JSON names) and the filters of
//! `envelope.rs`. The data is built by the HTTP monitor's builders, so the
//! two paths cannot drift apart.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::envelope::{self, Filter};
use crate::server::monitor::format::GoTime;
use crate::server::monitor::http::{ApiError, Query};
use crate::server::monitor::{connz, subsz, Monitor};
use crate::server::Server;

/// The reply to a request on `subject` with body `payload`; `None` when
/// this server stays silent (a filter excludes it, or the subject is not
/// one it answers).
pub fn answer(
    server: &Server,
    monitor: &Monitor,
    subject: &str,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let tokens: Vec<&str> = subject.split('.').collect();
    match tokens.as_slice() {
        ["$SYS", "REQ", "SERVER", "PING"] => statsz_request(server, monitor, payload),
        ["$SYS", "REQ", "SERVER", target, kind] if *target == "PING" || *target == server.id => {
            if *kind == "STATSZ" {
                return statsz_request(server, monitor, payload);
            }
            if_addressed(server, payload, |fields| {
                Some(reply(
                    server,
                    server_endpoint(server, monitor, kind, fields)?,
                ))
            })
        }
        ["$SYS", "REQ", "ACCOUNT", account, kind] => if_addressed(server, payload, |fields| {
            Some(reply(
                server,
                account_endpoint(server, account, kind, fields)?,
            ))
        }),
        _ => None,
    }
}

/// The envelope around an endpoint's result.
fn reply(server: &Server, result: Result<Vec<u8>, ApiError>) -> Vec<u8> {
    match result {
        Ok(data) => envelope::data(server, &data),
        Err(ApiError(text)) => envelope::error(server, 500, text.trim_end().to_string(), true),
    }
}

/// A request body: the filters, and the rest as JSON fields.
struct Options {
    filter: Filter,
    fields: Map<String, Value>,
}

/// Decode a request body (empty: no options).
fn options(payload: &[u8]) -> Result<Options, String> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Options {
            filter: Filter::default(),
            fields: Map::new(),
        });
    }
    let value: Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let filter: Filter = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let fields = match value {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(Options { filter, fields })
}

/// The HTTP query equivalent of JSON options: `names` maps a JSON name to
/// the query's.
fn query(fields: &Map<String, Value>, names: &[(&str, &str)]) -> Query {
    let mut pairs = Vec::new();
    for (json, q) in names {
        let text = match fields.get(*json) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(v) => v.to_string(),
        };
        pairs.push(((*q).to_string(), text));
    }
    Query::from_pairs(pairs)
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Connz's options: `state` is a number in JSON (0 open, 1 closed, 2 all),
/// `subscriptions`/`subscriptions_detail` are the query's `subs`.
fn connz_options(fields: &Map<String, Value>) -> Result<connz::ConnzOptions, ApiError> {
    let mut q = query(
        fields,
        &[
            ("sort", "sort"),
            ("auth", "auth"),
            ("offset", "offset"),
            ("limit", "limit"),
            ("cid", "cid"),
            ("user", "user"),
            ("acc", "acc"),
        ],
    );
    let mut extra = Vec::new();
    match fields.get("state").and_then(Value::as_i64) {
        Some(1) => extra.push(("state".to_string(), "closed".to_string())),
        Some(2) => extra.push(("state".to_string(), "all".to_string())),
        _ => {}
    }
    extra.extend(subs_option(fields));
    q.extend(extra);
    connz::ConnzOptions::from_query(&q)
}

/// `subscriptions_detail` / `subscriptions` as the query's `subs`.
fn subs_option(fields: &Map<String, Value>) -> Option<(String, String)> {
    let on = |k: &str| fields.get(k).and_then(Value::as_bool) == Some(true);
    if on("subscriptions_detail") {
        Some(("subs".into(), "detail".into()))
    } else if on("subscriptions") {
        Some(("subs".into(), "true".into()))
    } else {
        None
    }
}

/// `$SYS.REQ.SERVER.<PING|id>.<kind>`.
fn server_endpoint(
    server: &Server,
    monitor: &Monitor,
    kind: &str,
    fields: &Map<String, Value>,
) -> Option<Result<Vec<u8>, ApiError>> {
    use crate::server::monitor::misc;
    Some(match kind {
        "VARZ" => Ok(json(&crate::server::monitor::varz::varz(server, monitor))),
        "CONNZ" => {
            connz_options(fields).map(|o| json(&connz::connz(server, server.closed.snapshot(), &o)))
        }
        "SUBSZ" => {
            let mut q = query(
                fields,
                &[
                    ("offset", "offset"),
                    ("limit", "limit"),
                    ("account", "acc"),
                    ("test", "test"),
                ],
            );
            if fields.get("subscriptions").and_then(Value::as_bool) == Some(true) {
                q.extend([("subs".into(), "true".into())]);
            }
            subsz::SubszOptions::from_query(&q).map(|o| json(&subsz::subsz(server, &o)))
        }
        "ROUTEZ" => {
            let mut q = Query::default();
            q.extend(subs_option(fields));
            misc::routez(server, &q).map(|r| json(&r))
        }
        "ACCOUNTZ" => {
            misc::accountz(server, &query(fields, &[("account", "acc")])).map(|a| json(&a))
        }
        "HEALTHZ" => misc::healthz(&Query::default()).map(|h| json(&h)),
        "JSZ" => Ok(json(&super::absent::jsz(server))),
        "LEAFZ" => Ok(json(&super::absent::leafz(server))),
        "GATEWAYZ" => Ok(json(&super::absent::gatewayz(server))),
        _ => return None,
    })
}

/// `$SYS.REQ.ACCOUNT.<account>.<kind>`: the endpoint narrowed to one account.
fn account_endpoint(
    server: &Server,
    account: &str,
    kind: &str,
    fields: &Map<String, Value>,
) -> Option<Result<Vec<u8>, ApiError>> {
    Some(match kind {
        "CONNZ" => connz_options(fields).map(|mut o| {
            o.acc = account.to_string();
            json(&connz::connz(server, server.closed.snapshot(), &o))
        }),
        "SUBSZ" => {
            let q = query(
                fields,
                &[("offset", "offset"), ("limit", "limit"), ("test", "test")],
            );
            subsz::SubszOptions::from_query(&q).map(|mut o| {
                o.subs = true;
                o.acc = Some(account.to_string());
                json(&subsz::subsz(server, &o))
            })
        }
        "INFO" => crate::server::monitor::misc::accountz(
            server,
            &Query::from_pairs(vec![("acc".into(), account.into())]),
        )
        .map(|a| json(&a.account_detail)),
        _ => return None,
    })
}

/// `$SYS.REQ.SERVER.PING` and `...STATSZ`: `{"server":...,"statsz":...}`.
fn statsz_request(server: &Server, monitor: &Monitor, payload: &[u8]) -> Option<Vec<u8>> {
    if_addressed(server, payload, |_| {
        Some(envelope::wrap(
            server,
            "statsz",
            &json(&statsz(server, monitor)),
        ))
    })
}

/// `build`'s reply from the body's endpoint options, if the body's filters
/// address this server; a body that does not parse gets a 400 reply.
fn if_addressed(
    server: &Server,
    payload: &[u8],
    build: impl FnOnce(&Map<String, Value>) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let options = match options(payload) {
        Ok(o) => o,
        Err(e) => return Some(envelope::error(server, 400, e, false)),
    };
    if options.filter.excludes(server) {
        return None;
    }
    build(&options.fields)
}

/// Messages and bytes (nats-server's `DataStats`).
#[derive(Debug, Serialize)]
struct DataStats {
    msgs: u64,
    bytes: u64,
}

/// One route's figures (nats-server's `RouteStat`).
#[derive(Debug, Serialize)]
struct RouteStat {
    rid: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    sent: DataStats,
    received: DataStats,
    pending: usize,
}

/// The server's figures (nats-server's `ServerStats`), from `/varz`'s.
#[derive(Debug, Serialize)]
struct Statsz {
    start: GoTime,
    mem: u64,
    cores: usize,
    cpu: f64,
    connections: usize,
    total_connections: u64,
    active_accounts: usize,
    subscriptions: u64,
    sent: DataStats,
    received: DataStats,
    slow_consumers: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteStat>,
    active_servers: usize,
}

fn statsz(server: &Server, monitor: &Monitor) -> Statsz {
    let varz = crate::server::monitor::varz::varz(server, monitor);
    let clients = server.client_list();
    let active_accounts = clients
        .iter()
        .map(|c| Arc::as_ptr(&c.account()) as usize)
        .collect::<HashSet<_>>()
        .len();
    let routes_list = server.routes.list();
    let routes: Vec<RouteStat> = routes_list
        .iter()
        .map(|r| RouteStat {
            rid: r.client.cid,
            name: r.remote_name.clone(),
            sent: DataStats {
                msgs: r.client.stats.out_msgs.load(Relaxed),
                bytes: r.client.stats.out_bytes.load(Relaxed),
            },
            received: DataStats {
                msgs: r.client.stats.in_msgs.load(Relaxed),
                bytes: r.client.stats.in_bytes.load(Relaxed),
            },
            pending: r.client.pending_bytes(),
        })
        .collect();
    let servers: HashSet<&str> = routes_list.iter().map(|r| r.remote_id.as_str()).collect();
    Statsz {
        start: varz.start,
        mem: varz.mem,
        cores: varz.cores,
        cpu: varz.cpu,
        connections: varz.connections,
        total_connections: varz.total_connections,
        active_accounts,
        subscriptions: varz.subscriptions,
        sent: DataStats {
            msgs: varz.out_msgs,
            bytes: varz.out_bytes,
        },
        received: DataStats {
            msgs: varz.in_msgs,
            bytes: varz.in_bytes,
        },
        slow_consumers: varz.slow_consumers,
        routes,
        active_servers: 1 + servers.len(),
    }
}
