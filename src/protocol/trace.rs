//! Message tracing as nats-server 2.11+ does it (ADR-41), the wire side:
//! the headers that ask for a trace, the `Nats-Trace-Hop` header a server
//! adds to the copy it forwards to another server, and the JSON trace event
//! (`MsgTraceEvent`) each server crossed publishes to the trace subject.
//! The server emits these documents; `pub --trace` and `req --trace` read
//! them back (unknown event types are kept as [`TraceStep::Other`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The header naming the subject trace events go to.
pub const TRACE_DEST: &str = "Nats-Trace-Dest";
/// The header that asks for a trace without delivery (`1`, `true`, `on`).
pub const TRACE_ONLY: &str = "Nats-Trace-Only";
/// The header a server sets on a traced message it forwards to another
/// server: `1`, `2`... from the origin, `1.1`, `1.2`... from the next.
pub const TRACE_HOP: &str = "Nats-Trace-Hop";
/// nats-server's older cross-account header: a message carrying it is not traced.
pub const TRACE_ORIGIN_ACCOUNT: &str = "Nats-Trace-Origin-Account";
/// The W3C trace context header (tracing by the account's `msg_trace`).
pub const TRACEPARENT: &str = "traceparent";
/// The `Nats-Trace-Dest` value that turns tracing off downstream.
pub const TRACE_DEST_DISABLED: &str = "trace disabled";

/// Connection kinds, as nats-server numbers them in trace events.
pub mod kind {
    /// A client connection.
    pub const CLIENT: i32 = 0;
    /// A route to another server of the cluster.
    pub const ROUTER: i32 = 1;
    /// A gateway to another cluster.
    pub const GATEWAY: i32 = 2;
    /// The server itself.
    pub const SYSTEM: i32 = 3;
    /// A leafnode connection.
    pub const LEAF: i32 = 4;
    /// JetStream.
    pub const JETSTREAM: i32 = 5;
    /// An account (internal).
    pub const ACCOUNT: i32 = 6;
}

/// One server's trace event: who sent it, the traced message's headers and
/// size, to how many other servers it forwarded the message, and what
/// happened to it there.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TraceEvent {
    /// The server that sent this event.
    pub server: TraceServer,
    /// The traced message.
    pub request: TraceRequest,
    /// How many servers (routes, leafnodes) this server forwarded it to.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hops: u32,
    /// What happened, in order: the ingress first.
    #[serde(default)]
    pub events: Vec<TraceStep>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The server part of an event (nats-server's `ServerInfo`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TraceServer {
    /// Server name.
    pub name: String,
    /// Host the client listener is bound to.
    #[serde(default)]
    pub host: String,
    /// Server id.
    pub id: String,
    /// Cluster name, when clustered.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Version.
    #[serde(default)]
    pub ver: String,
    /// JetStream enabled.
    #[serde(default)]
    pub jetstream: bool,
    /// Flags (none).
    #[serde(default)]
    pub flags: u64,
    /// Sequence of the server's internal messages.
    #[serde(default)]
    pub seq: u64,
    /// When the event was sent (RFC 3339, nanoseconds).
    #[serde(default)]
    pub time: String,
}

/// The traced message as the server received it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TraceRequest {
    /// Its headers, by name (sorted, as Go marshals a map), every value kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, Vec<String>>,
    /// Header and payload bytes.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub msgsize: usize,
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// One step of a message through a server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum TraceStep {
    /// How the message came in.
    #[serde(rename = "in")]
    Ingress {
        /// When.
        ts: String,
        /// Connection kind ([`kind`]).
        kind: i32,
        /// Connection id.
        cid: u64,
        /// Client name, or the remote server's for a route.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        name: String,
        /// The account it was published in.
        acc: String,
        /// Its subject.
        subj: String,
        /// Why it went no further (a publish permission violation).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        error: String,
    },
    /// A subject mapping changed the subject.
    #[serde(rename = "sm")]
    SubjectMapping {
        /// When.
        ts: String,
        /// The new subject.
        to: String,
    },
    /// A stream export took it into another account.
    #[serde(rename = "se")]
    StreamExport {
        /// When.
        ts: String,
        /// The importing account.
        acc: String,
        /// The subject there.
        to: String,
    },
    /// A service import took it into another account.
    #[serde(rename = "si")]
    ServiceImport {
        /// When.
        ts: String,
        /// The exporting account.
        acc: String,
        /// The subject in the importing account.
        from: String,
        /// The subject in the exporting account.
        to: String,
    },
    /// JetStream (never sent by nats-lite, read from others).
    #[serde(rename = "js")]
    JetStream {
        /// When.
        ts: String,
        /// Stream name.
        #[serde(default)]
        stream: String,
        /// Subject stored.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        subject: String,
        /// Not stored: an interest stream without interest.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        nointerest: bool,
        /// Why it was not stored.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        error: String,
    },
    /// Where it went out: a client's subscription, a route, a leafnode.
    #[serde(rename = "eg")]
    Egress {
        /// When.
        ts: String,
        /// Connection kind ([`kind`]).
        kind: i32,
        /// Connection id.
        cid: u64,
        /// Client name, or the remote server's.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        name: String,
        /// The hop id given to the next server (routes, leafnodes).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        hop: String,
        /// The receiving client's account, when not the ingress account.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        acc: String,
        /// The subscription's subject (clients only).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        sub: String,
        /// Its queue group.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        queue: String,
        /// Why it was not delivered (or delivered with a caveat).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        error: String,
    },
    /// A step type this version does not know.
    #[serde(other)]
    Other,
}

/// Egress errors, with nats-server's wording.
pub mod errors {
    /// Trace-only, and the next server would deliver because it does not trace.
    pub const ONLY_NO_SUPPORT: &str =
        "Not delivered because remote does not support message tracing";
    /// Delivered to a server that will send no event.
    pub const NO_SUPPORT: &str = "Message delivered but remote does not support message tracing so no trace event generated from there";
    /// The publisher's own subscription, with echo off.
    pub const NO_ECHO: &str = "Not delivered because of no echo";
    /// The subscriber's permissions deny the subject.
    pub const SUB_DENY: &str = "Not delivered because subscription denies this subject";
    /// The subscription is gone.
    pub const SUB_CLOSED: &str = "Not delivered because subscription is closed";
    /// The subscriber's connection is closed.
    pub const CLIENT_CLOSED: &str = "Not delivered because client is closed";
    /// The subscription's auto-unsubscribe count was reached.
    pub const AUTO_SUB_EXCEEDED: &str = "Not delivered because auto-unsubscribe exceeded";
}

/// What a header block asks for, read only as far as tracing needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceRequestHeaders {
    /// `Nats-Trace-Dest`, when present.
    pub dest: Option<String>,
    /// `Nats-Trace-Only` is set.
    pub only: bool,
    /// `Nats-Trace-Hop`, when present.
    pub hop: Option<String>,
    /// `Nats-Trace-Origin-Account` is present.
    pub origin_account: bool,
    /// A `traceparent` with the sampled flag.
    pub sampled_traceparent: bool,
    /// `Accept-Encoding` names gzip.
    pub gzip: bool,
    /// Every header, by name (for the event's `request.header`).
    pub all: BTreeMap<String, Vec<String>>,
}

/// True when the header block may ask for a trace: it names
/// `Nats-Trace-Dest` (case as sent, as nats-server matches it), or, when
/// `traceparent` is true, carries a `traceparent` header (any case). A
/// cheap scan; [`read_request`] says what is really asked.
#[inline]
pub fn may_request(headers: &[u8], traceparent: bool) -> bool {
    memchr::memmem::find(headers, TRACE_DEST.as_bytes()).is_some()
        || (traceparent && find_ignore_case(headers, TRACEPARENT.as_bytes()))
}

#[cold]
fn find_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Read the tracing headers of a header block (`NATS/1.0...`).
pub fn read_request(headers: &[u8]) -> TraceRequestHeaders {
    let mut out = TraceRequestHeaders::default();
    let text = String::from_utf8_lossy(headers);
    let mut lines = text.split("\r\n");
    if !lines
        .next()
        .is_some_and(|l| l.starts_with(super::headers::VERSION_LINE))
    {
        return out;
    }
    for line in lines {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim_matches([' ', '\t']);
        if key.is_empty() || value.is_empty() {
            continue;
        }
        match key {
            TRACE_DEST if out.dest.is_none() => out.dest = Some(value.to_string()),
            TRACE_ONLY if !out.only => {
                out.only = matches!(value.to_ascii_lowercase().as_str(), "1" | "true" | "on");
            }
            TRACE_HOP if out.hop.is_none() => out.hop = Some(value.to_string()),
            TRACE_ORIGIN_ACCOUNT => out.origin_account = true,
            k if k.eq_ignore_ascii_case(TRACEPARENT) => {
                out.sampled_traceparent |= traceparent_sampled(value);
            }
            k if k.eq_ignore_ascii_case("Accept-Encoding") => {
                out.gzip |= value.to_ascii_lowercase().contains("gzip");
            }
            _ => {}
        }
        out.all
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }
    out
}

/// A W3C `traceparent` (`version-traceid-parentid-flags`) with the sampled
/// flag (bit 0 of the flags).
pub fn traceparent_sampled(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 4
        && parts[3].len() == 2
        && u8::from_str_radix(parts[3], 16).is_ok_and(|f| f & 1 == 1)
}

/// `headers` with `name: value` set: an existing `name` line is replaced
/// (the first, in place), else the line is added at the end of the block.
pub fn set_header(headers: &[u8], name: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(headers.len() + name.len() + value.len() + 4);
    let body = headers.strip_suffix(b"\r\n\r\n").unwrap_or(headers);
    let mut replaced = false;
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        let is_name = i > 0
            && line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && line[name.len()] == b':';
        if is_name && !replaced {
            out.extend_from_slice(format!("{name}: {value}").as_bytes());
            replaced = true;
        } else {
            out.extend_from_slice(line);
        }
    }
    if !replaced {
        out.extend_from_slice(format!("\r\n{name}: {value}").as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_are_read() {
        let h = b"NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Only: TRUE\r\nX: 1\r\nX: 2\r\n\r\n";
        assert!(may_request(h, false));
        let r = read_request(h);
        assert_eq!(r.dest.as_deref(), Some("tr"));
        assert!(r.only);
        assert_eq!(r.all["X"], vec!["1", "2"]);
        assert!(!may_request(b"NATS/1.0\r\nA: b\r\n\r\n", true));
        let tp = b"NATS/1.0\r\nTraceParent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
        assert!(!may_request(tp, false));
        assert!(may_request(tp, true));
        assert!(read_request(tp).sampled_traceparent);
        assert!(!traceparent_sampled("00-0af7-b7ad-00"));
    }

    #[test]
    fn hop_header_is_added_or_replaced() {
        let h = b"NATS/1.0\r\nNats-Trace-Dest: tr\r\n\r\n";
        let one = set_header(h, TRACE_HOP, "1");
        assert_eq!(
            one,
            b"NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Hop: 1\r\n\r\n".to_vec()
        );
        let again = set_header(&one, TRACE_HOP, "1.1");
        assert_eq!(
            again,
            b"NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Hop: 1.1\r\n\r\n".to_vec()
        );
        assert_eq!(
            set_header(b"NATS/1.0\r\n\r\n", "A", "b"),
            b"NATS/1.0\r\nA: b\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn events_round_trip_and_unknown_types_are_kept() {
        let json = r#"{"server":{"name":"A","host":"0.0.0.0","id":"N","ver":"2.15.1","jetstream":false,"flags":0,"seq":3,"time":"t"},
            "request":{"header":{"Nats-Trace-Dest":["tr"]},"msgsize":38},"hops":1,
            "events":[{"type":"in","ts":"t","kind":0,"cid":5,"name":"p","acc":"$G","subj":"foo"},
                      {"type":"eg","ts":"t","kind":1,"cid":8,"name":"B","hop":"1"},
                      {"type":"zz","ts":"t"}]}"#;
        let e: TraceEvent = serde_json::from_str(json).unwrap();
        assert_eq!(e.hops, 1);
        assert!(matches!(&e.events[1], TraceStep::Egress { hop, .. } if hop == "1"));
        assert_eq!(e.events[2], TraceStep::Other);
        let out = serde_json::to_value(&e.events[0]).unwrap();
        assert_eq!(out["type"], "in");
        assert!(out.get("error").is_none());
    }
}
