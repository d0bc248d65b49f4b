//! Message tracing (nats-server 2.11+, ADR-41), the server side: a message
//! whose headers carry `Nats-Trace-Dest: <subject>` makes this server
//! publish one trace event (JSON, [`TraceEvent`]) to that subject in the
//! publisher's account: how the message came in (client or route, account,
//! subject, a publish permission error), the accounts it crossed (stream
//! exports, service imports) and where it went out (each client
//! subscription, each route with the hop id given to the next server, or
//! why not). `Nats-Trace-Only: true` traces without delivering to clients;
//! routes still get the message so the next server traces it too.
//!
//! The per-message path pays nothing when there is no header block, and a
//! byte search of the header block when there is one: the connection
//! threads call [`begin`] only when [`may_request`] found the header name.
//! A traced message carries a [`Trace`] in its connection's
//! `Delivery::trace` while it is fanned out; `deliver.rs` asks it about
//! each local subscription ([`Trace::local_egress`]) and route
//! ([`Trace::route_egress`]), `imports.rs` reports account crossings, and
//! the connection thread publishes the event at the end ([`finish`]),
//! gzipped on that same thread when the message asked for it
//! (`Accept-Encoding: gzip`; the compressor state is on the heap).
//!
//! Leafnodes: [`peer`] says what kind of server connection a destination
//! is; a leafnode connection is reported as kind 4 and forwarded like a
//! route (the hop header set), and a traced message that comes in over a
//! leaf connection is reported with ingress kind 4 (`leaf/connection.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::account::Account;
use super::client::Client;
use super::deliver::{Fanout, Message};
use super::subscription::Subscription;
use super::Server;
use crate::protocol::subject;
pub use crate::protocol::trace::may_request;
use crate::protocol::trace::{
    errors, kind, read_request, set_header, TraceEvent, TraceRequest, TraceRequestHeaders,
    TraceServer, TraceStep, TRACE_DEST, TRACE_DEST_DISABLED, TRACE_HOP,
};
use crate::server::INFO_VERSION;

/// The lowest route protocol level that traces (nats-server's `MsgTraceProto`).
pub const TRACE_PROTO: i32 = 3;

/// Sequence of the trace events this process sent (the event's `server.seq`).
static EVENT_SEQ: AtomicU64 = AtomicU64::new(0);

/// An account's `msg_trace`: messages with a sampled W3C `traceparent`
/// header (and no `Nats-Trace-Dest`) are traced to this subject, a
/// `sampling` percent of them (decided where they are published).
#[derive(Default)]
pub struct AccountTrace {
    /// Set: the per-message check looks for `traceparent` too.
    enabled: AtomicBool,
    dest: RwLock<Option<(String, u8)>>,
}

impl AccountTrace {
    /// True when the account traces by `traceparent`.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn get(&self) -> Option<(String, u8)> {
        self.dest.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Set each account's `msg_trace` from `traces` (account, subject, sampling).
pub fn install(accounts: &HashMap<String, Arc<Account>>, traces: &[(String, String, u8)]) {
    for (name, account) in accounts {
        let t = traces
            .iter()
            .find(|(a, _, _)| a == name)
            .map(|(_, d, s)| (d.clone(), *s));
        account
            .msg_trace
            .enabled
            .store(t.is_some(), Ordering::Relaxed);
        *account
            .msg_trace
            .dest
            .write()
            .unwrap_or_else(|e| e.into_inner()) = t;
    }
}

/// Where a traced message came from.
pub struct Ingress<'a> {
    /// [`kind`] of the connection.
    pub kind: i32,
    /// Its connection id.
    pub cid: u64,
    /// Client name, or the remote server's name.
    pub name: String,
    /// The subject it was published on.
    pub subject: &'a [u8],
}

/// What [`begin`] decided.
pub enum Begin {
    /// Not traced: process the message as usual.
    No,
    /// Not traced, and not processed either (a trace-only request that
    /// cannot be traced must not be delivered).
    Skip,
    /// Traced.
    Trace(Box<Trace>),
}

/// One traced message's event, filled while the message is fanned out.
pub struct Trace {
    server: Arc<Server>,
    /// The account the event is published in.
    account: Arc<Account>,
    dest: String,
    only: bool,
    /// Our hop id, from the `Nats-Trace-Hop` we received ("" at the origin).
    hop: String,
    /// Not sampled (`traceparent`): no event, and the servers after us are
    /// told not to trace (`Nats-Trace-Dest: trace disabled`).
    silent: bool,
    gzip: bool,
    event: TraceEvent,
}

/// Start tracing a message published in `account` with these `headers`
/// (which [`may_request`] picked out); `size` is header and payload bytes.
#[cold]
#[inline(never)]
pub fn begin(
    server: &Arc<Server>,
    account: &Arc<Account>,
    headers: &[u8],
    size: usize,
    ingress: Ingress<'_>,
) -> Begin {
    let req: TraceRequestHeaders = read_request(headers);
    let not_traced = if req.only { Begin::Skip } else { Begin::No };
    if req.origin_account {
        return not_traced;
    }
    let mut silent = false;
    let dest = match req.dest.clone() {
        Some(d) if d == TRACE_DEST_DISABLED => return Begin::No,
        Some(d) => d,
        // W3C trace context: traced to the account's `msg_trace` subject,
        // sampled where it is published.
        None if req.sampled_traceparent => match account.msg_trace.get() {
            Some((d, sampling)) => {
                silent = ingress.kind == kind::CLIENT && !sampled(sampling);
                d
            }
            None => return Begin::No,
        },
        None => return not_traced,
    };
    let req = TraceRequestHeaders {
        only: req.only && req.dest.is_some(),
        ..req
    };
    if !subject::is_valid_literal_subject(dest.as_bytes()) {
        crate::log_error!("Destination {dest:?} is not valid, won't be able to trace events");
        return not_traced;
    }
    let hop = if ingress.kind == kind::CLIENT {
        String::new()
    } else {
        req.hop.clone().unwrap_or_default()
    };
    Begin::Trace(Box::new(Trace {
        server: server.clone(),
        account: account.clone(),
        dest,
        only: req.only,
        hop,
        silent,
        gzip: req.gzip,
        event: TraceEvent {
            server: TraceServer::default(),
            request: TraceRequest {
                header: req.all,
                msgsize: size,
            },
            hops: 0,
            events: vec![TraceStep::Ingress {
                ts: now(),
                kind: ingress.kind,
                cid: ingress.cid,
                name: ingress.name,
                acc: account.name.clone(),
                subj: String::from_utf8_lossy(ingress.subject).into_owned(),
                error: String::new(),
            }],
        },
    }))
}

/// What to do with a route (or leafnode) the traced message goes to.
pub enum RouteEgress {
    /// Do not send it there.
    Skip,
    /// Send it with these headers (the hop header set).
    Forward(Vec<u8>),
    /// Send it as it is.
    AsIs,
}

impl Trace {
    /// The subject events go to.
    pub fn dest(&self) -> &str {
        &self.dest
    }

    /// Trace without delivering to clients.
    pub fn only(&self) -> bool {
        self.only
    }

    /// The message went no further than the ingress, because of `error`.
    pub fn ingress_error(&mut self, text: &str) {
        if let Some(TraceStep::Ingress { error, .. }) = self.event.events.first_mut() {
            *error = text.to_string();
        }
    }

    /// The message crossed into another account: a stream export
    /// (`service` false: `account` imports it as `to`) or a service import
    /// (`account` exports `to`, requested as `from`).
    pub fn crossed(&mut self, service: bool, account: &str, from: &[u8], to: &[u8]) {
        if self.silent {
            return;
        }
        let acc = account.to_string();
        let to = String::from_utf8_lossy(to).into_owned();
        self.event.events.push(if service {
            TraceStep::ServiceImport {
                ts: now(),
                acc,
                from: String::from_utf8_lossy(from).into_owned(),
                to,
            }
        } else {
            TraceStep::StreamExport { ts: now(), acc, to }
        });
    }

    /// About to deliver to the local subscription `sub`: record the egress
    /// (or why not). `None`: deliver as usual; `Some(d)`: do not, and
    /// report `d` as delivered or not (trace-only counts as delivered).
    #[cold]
    #[inline(never)]
    pub fn local_egress(
        &mut self,
        sub: &Subscription,
        m: &Message<'_>,
        echo_off: Option<u64>,
    ) -> Option<bool> {
        if self.silent {
            return None;
        }
        let dest = sub.client.as_ref()?;
        let error = if echo_off == Some(dest.cid) {
            Some(errors::NO_ECHO)
        } else if sub
            .deny_filter
            .as_ref()
            .is_some_and(|p| p.denies_delivery(m.subject, sub.queue.as_deref()))
        {
            Some(errors::SUB_DENY)
        } else if sub.counts.max.load(Ordering::Relaxed) > 0
            && sub.counts.delivered.load(Ordering::Relaxed)
                >= sub.counts.max.load(Ordering::Relaxed)
        {
            Some(errors::AUTO_SUB_EXCEEDED)
        } else if dest.is_closed() {
            Some(errors::CLIENT_CLOSED)
        } else {
            None
        };
        let (kind, name, _) = peer(&self.server, dest);
        let account = dest.account();
        let acc = if self.ingress_account() == account.name {
            String::new()
        } else {
            account.name.clone()
        };
        self.event.events.push(TraceStep::Egress {
            ts: now(),
            kind,
            cid: dest.cid,
            name,
            hop: String::new(),
            acc,
            sub: String::from_utf8_lossy(&sub.subject).into_owned(),
            queue: sub
                .queue
                .as_deref()
                .map(|q| String::from_utf8_lossy(q).into_owned())
                .unwrap_or_default(),
            error: error.unwrap_or_default().to_string(),
        });
        if error.is_some() {
            return Some(false);
        }
        self.only.then_some(true)
    }

    /// About to forward to the route `route` with `headers`: give the next
    /// server its hop id, or say why it gets nothing (trace-only, and the
    /// peer does not trace: it would deliver).
    #[cold]
    #[inline(never)]
    pub fn route_egress(&mut self, route: &Arc<Client>, headers: Option<&[u8]>) -> RouteEgress {
        if self.silent {
            return match headers {
                Some(h) => RouteEgress::Forward(set_header(h, TRACE_DEST, TRACE_DEST_DISABLED)),
                None => RouteEgress::AsIs,
            };
        }
        let (kind, name, traces) = peer(&self.server, route);
        self.event.hops += 1;
        let hop = if self.hop.is_empty() {
            self.event.hops.to_string()
        } else {
            format!("{}.{}", self.hop, self.event.hops)
        };
        let traces = traces && headers.is_some();
        let (error, verdict) = match (traces, headers) {
            (true, Some(h)) => ("", RouteEgress::Forward(set_header(h, TRACE_HOP, &hop))),
            _ if self.only => (errors::ONLY_NO_SUPPORT, RouteEgress::Skip),
            _ => (errors::NO_SUPPORT, RouteEgress::AsIs),
        };
        self.event.events.push(TraceStep::Egress {
            ts: now(),
            kind,
            cid: route.cid,
            name,
            hop,
            acc: String::new(),
            sub: String::new(),
            queue: String::new(),
            error: error.to_string(),
        });
        verdict
    }

    fn ingress_account(&self) -> &str {
        match self.event.events.first() {
            Some(TraceStep::Ingress { acc, .. }) => acc,
            _ => "",
        }
    }

    /// The event as the payload and headers of the message that carries it.
    fn into_message(mut self) -> (Arc<Account>, String, Option<Vec<u8>>, Vec<u8>) {
        let server = &self.server;
        self.event.server = TraceServer {
            name: server.name.clone(),
            host: server.opts().host.clone(),
            id: server.id.clone(),
            // As nats-server: a server that solicits leaf connections
            // without a cluster of its own is its own cluster.
            cluster: if server.routes.enabled() {
                server.routes.name()
            } else if server
                .opts()
                .leafnodes
                .as_ref()
                .is_some_and(|l| !l.remotes.is_empty())
            {
                server.name.clone()
            } else {
                String::new()
            },
            ver: INFO_VERSION.to_string(),
            jetstream: false,
            flags: 0,
            seq: EVENT_SEQ.fetch_add(1, Ordering::Relaxed) + 1,
            time: now(),
        };
        let json = serde_json::to_vec(&self.event).unwrap_or_default();
        if self.gzip {
            if let Some(body) = gzip(&json) {
                let headers = b"NATS/1.0\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
                return (self.account, self.dest, Some(headers), body);
            }
        }
        (self.account, self.dest, None, json)
    }
}

/// `data` gzipped (`Accept-Encoding: gzip`), on the caller's thread:
/// flate2's zlib-rs backend keeps the compressor state on the heap, so a
/// connection thread's stack is enough (miniz_oxide, the default backend,
/// built some 300 KB of it on the stack in debug builds). `None` if that
/// fails.
fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).ok()?;
    gz.finish().ok()
}

/// Publish the event of the message `fanout` just traced (if any) to its
/// trace subject, as the server: to local subscribers and across routes.
#[cold]
#[inline(never)]
pub fn finish(fanout: &mut Fanout) {
    let Some(trace) = fanout.out.trace.take() else {
        return;
    };
    if trace.silent {
        return;
    }
    let (account, dest, headers, payload) = trace.into_message();
    let m = Message {
        subject: dest.as_bytes(),
        reply: None,
        headers: headers.as_deref(),
        payload: &payload,
    };
    fanout.publish(&account, &m, None);
}

/// What kind of connection `client` is, its name in events, and whether
/// the server behind it traces: a route (kind 1, the peer server's name,
/// its route protocol level), a leaf connection (kind 4, the peer
/// server's name, its protocol level), else a client (kind 0, its CONNECT
/// name).
pub fn peer(server: &Server, client: &Client) -> (i32, String, bool) {
    if let Some(route) = server
        .routes
        .list()
        .into_iter()
        .find(|r| r.client.cid == client.cid)
    {
        let proto = route.info.lock().unwrap_or_else(|e| e.into_inner()).proto;
        return (
            kind::ROUTER,
            route.remote_name.clone(),
            proto >= TRACE_PROTO,
        );
    }
    if let Some(leaf) = server
        .leafs
        .list()
        .into_iter()
        .find(|l| l.client.cid == client.cid)
    {
        let traces = leaf.traces.load(Ordering::Relaxed);
        return (kind::LEAF, leaf.remote_name.clone(), traces);
    }
    (kind::CLIENT, client.meta().name.clone(), true)
}

/// True for `percent` percent of the calls.
fn sampled(percent: u8) -> bool {
    if percent >= 100 {
        return true;
    }
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let seed = nanos ^ EVENT_SEQ.load(Ordering::Relaxed).rotate_left(32);
    super::rng::Rng::new(seed).below(100) < usize::from(percent)
}

/// Now, as Go's RFC 3339 with nanoseconds (trailing zeros dropped).
fn now() -> String {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut s = crate::civil::rfc3339(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    s.pop();
    crate::civil::push_frac(&mut s, u64::from(d.subsec_nanos()), 9);
    s.push('Z');
    s
}
