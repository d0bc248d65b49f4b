//! Account imports: a message published in one account also reaching the
//! subscribers of another, as the config's `exports`/`imports` allow.
//!
//! - A stream import of account B from account A: a message published in A
//!   on a subject the import names is delivered in B too (under
//!   `<prefix>.<subject>` with a prefix, or the `to` subject).
//! - A service import: a request published in B on the import's subject
//!   (or its `to`) is delivered in A on the exported subject, with the reply
//!   subject replaced by a fresh `_R_.<id>`; the first response published in
//!   A on that subject (every one until it expires, for `Stream`/`Chunked`
//!   services) goes back to B on the original reply subject.
//!
//! Forwards live in the account where the message is published and point
//! weakly at the other account. A forwarded message is never forwarded
//! again, and only a local client's message is forwarded (a routed one was
//! forwarded on the server its publisher is on).
//!
//! Across a cluster: the reply subjects a server makes are
//! `_R_.<server token>.<id>`, and the first time an account owes responses
//! the server subscribes it to `_R_.<server token>.>` (a subscription with
//! no client, for its interest only), so the routes carry a response
//! published on another server back here, where [`respond_routed`] hands
//! it to the requester.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use super::account::Account;
use super::deliver::{Delivery, Message};
use super::route::Interest;
use super::subscription::Subscription;
use crate::protocol::subject::matches;

/// How long a service response may come (nats-server's default response
/// threshold is 2 minutes).
const RESPONSE_TTL: Duration = Duration::from_secs(120);
/// Outstanding responses one account keeps at most.
const MAX_PENDING_RESPONSES: usize = 100_000;
/// The prefix of the reply subjects a service import makes.
const REPLY_PREFIX: &[u8] = b"_R_.";

/// One import, as the server runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSpec {
    /// The account that imports.
    pub importer: String,
    /// The account that exports.
    pub exporter: String,
    /// The subject in the exporting account.
    pub subject: String,
    /// A service import, else a stream import.
    pub service: bool,
    /// A stream's subjects arrive as `<prefix>.<subject>`.
    pub prefix: Option<String>,
    /// The (literal) subject in the importing account.
    pub to: Option<String>,
    /// A service may answer a request more than once.
    pub multiple_responses: bool,
    /// The import ends then (Unix seconds): its activation token expires.
    pub expires: Option<i64>,
    /// A message trace goes on into the other account (`allow_trace`: the
    /// service export's, or the stream import's); else it ends at the
    /// crossing.
    pub allow_trace: bool,
}

struct Forward {
    /// Messages published on subjects matching this (in this account)...
    filter: Vec<u8>,
    /// ...are delivered in this account...
    target: Weak<Account>,
    /// ...under this subject.
    map: SubjectMap,
    /// A service request: its reply is rewritten.
    service: Option<bool>,
    /// The account the forward belongs to (where responses go back to).
    origin: Weak<Account>,
    /// Unix seconds after which the forward is void (its activation
    /// token expired).
    expires: Option<i64>,
    /// A message trace goes on into `target`.
    allow_trace: bool,
}

enum SubjectMap {
    Same,
    Prefix(Vec<u8>),
    Literal(Vec<u8>),
}

struct Pending {
    target: Weak<Account>,
    reply: Vec<u8>,
    expires: Instant,
    multiple: bool,
}

/// An account's forwards and the service responses it owes other accounts.
#[derive(Default)]
pub struct Imports {
    /// Any forward or pending response: the per-message check.
    active: AtomicBool,
    forwards: RwLock<Vec<Forward>>,
    pending: Mutex<HashMap<Vec<u8>, Pending>>,
    next_reply: AtomicU64,
    /// `_R_.<server token>.>`, once the account owes responses: the
    /// routes' interest that brings responses from other servers here.
    response_interest: std::sync::OnceLock<Arc<Subscription>>,
}

impl Imports {
    fn add(&self, f: Forward) {
        self.forwards
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
        self.active.store(true, Ordering::Release);
    }

    fn clear(&self) {
        self.forwards
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let pending = !self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        self.active.store(pending, Ordering::Release);
    }

    /// True when messages of this account may have to go elsewhere too.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }
}

/// Set up the forwards of `specs` (replacing those of an earlier call).
pub fn install(accounts: &HashMap<String, Arc<Account>>, specs: &[ImportSpec]) {
    accounts.values().for_each(|a| a.imports.clear());
    for spec in specs {
        let (Some(importer), Some(exporter)) =
            (accounts.get(&spec.importer), accounts.get(&spec.exporter))
        else {
            continue;
        };
        if spec.service {
            // Requests go from the importer to the exporter.
            importer.imports.add(Forward {
                filter: spec
                    .to
                    .as_ref()
                    .unwrap_or(&spec.subject)
                    .as_bytes()
                    .to_vec(),
                target: Arc::downgrade(exporter),
                map: match &spec.to {
                    Some(_) => SubjectMap::Literal(spec.subject.as_bytes().to_vec()),
                    None => SubjectMap::Same,
                },
                service: Some(spec.multiple_responses),
                origin: Arc::downgrade(importer),
                expires: spec.expires,
                allow_trace: spec.allow_trace,
            });
        } else {
            exporter.imports.add(Forward {
                filter: spec.subject.as_bytes().to_vec(),
                target: Arc::downgrade(importer),
                map: match (&spec.prefix, &spec.to) {
                    (Some(p), _) => SubjectMap::Prefix(p.as_bytes().to_vec()),
                    (None, Some(t)) => SubjectMap::Literal(t.as_bytes().to_vec()),
                    (None, None) => SubjectMap::Same,
                },
                service: None,
                origin: Arc::downgrade(exporter),
                expires: spec.expires,
                allow_trace: spec.allow_trace,
            });
        }
    }
}

/// Deliver a local client's message, published in `account`, wherever the
/// account's imports send it. True when it reached anyone.
pub fn forward(account: &Account, m: &Message<'_>, out: &mut Delivery) -> bool {
    let mut delivered = false;
    if m.subject.starts_with(REPLY_PREFIX) {
        delivered |= respond(account, m, out);
    }
    let forwards = account
        .imports
        .forwards
        .read()
        .unwrap_or_else(|e| e.into_inner());
    for f in forwards.iter().filter(|f| matches(&f.filter, m.subject)) {
        if f.expires.is_some_and(has_passed) {
            continue;
        }
        let Some(target) = f.target.upgrade() else {
            continue;
        };
        let subject = match &f.map {
            SubjectMap::Same => m.subject.to_vec(),
            SubjectMap::Literal(s) => s.clone(),
            SubjectMap::Prefix(p) => [p.as_slice(), b".", m.subject].concat(),
        };
        let reply = match (f.service, m.reply) {
            (Some(multiple), Some(reply)) => Some(expect_response(
                &target,
                &f.origin,
                reply,
                multiple,
                out.interest(),
            )),
            _ => m.reply.map(<[u8]>::to_vec),
        };
        // A request: the exporter learns the requesting account from a
        // `Nats-Request-Info` header, as nats-server adds it.
        let info_headers = f
            .service
            .is_some()
            .then(|| request_info_headers(m.headers, &account.name));
        let with_info;
        let m = match &info_headers {
            Some(headers) => {
                with_info = Message {
                    headers: Some(headers),
                    ..*m
                };
                &with_info
            }
            None => m,
        };
        if let Some(trace) = out.trace.as_deref_mut() {
            trace.crossed(f.service.is_some(), &target.name, m.subject, &subject);
            if !f.allow_trace {
                // The trace ends here: trace-only stops, else untraced.
                if trace.only() {
                    continue;
                }
                let paused = out.trace.take();
                delivered |= deliver_in(&target, &subject, reply.as_deref(), m, out);
                out.trace = paused;
                continue;
            }
        }
        delivered |= deliver_in(&target, &subject, reply.as_deref(), m, out);
    }
    delivered
}

/// The header block of a request crossing into an exporting account:
/// `headers` (or a new block) with `Nats-Request-Info: {"acc":...}` in
/// place of any such header the requester sent.
fn request_info_headers(headers: Option<&[u8]>, account: &str) -> Vec<u8> {
    const NAME: &str = "Nats-Request-Info";
    let info = serde_json::json!({ "acc": account }).to_string();
    let mut out = Vec::with_capacity(headers.map_or(0, <[u8]>::len) + info.len() + 40);
    match headers.and_then(|h| std::str::from_utf8(h).ok()) {
        Some(text) if text.starts_with("NATS/1.0") => {
            let mut lines = text.split("\r\n");
            out.extend_from_slice(lines.next().unwrap_or("NATS/1.0").as_bytes());
            out.extend_from_slice(b"\r\n");
            for line in lines.filter(|l| !l.is_empty()) {
                let name = line.split(':').next().unwrap_or_default();
                if !name.trim().eq_ignore_ascii_case(NAME) {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        _ => out.extend_from_slice(b"NATS/1.0\r\n"),
    }
    out.extend_from_slice(format!("{NAME}: {info}\r\n\r\n").as_bytes());
    out
}

/// True once the Unix time `at` (seconds) has come.
fn has_passed(at: i64) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    now >= at
}

/// Remember that a response published in `exporter` on the returned
/// subject goes back to `requester` on `reply`.
fn expect_response(
    exporter: &Account,
    requester: &Weak<Account>,
    reply: &[u8],
    multiple: bool,
    interest: &Interest,
) -> Vec<u8> {
    exporter.imports.response_interest.get_or_init(|| {
        let mut filter = server_reply_prefix().to_vec();
        filter.push(b'>');
        let sub = Arc::new(Subscription::detached(&filter, None, b"_R_"));
        exporter.sublist.insert(sub.clone());
        interest.added(exporter, &sub);
        sub
    });
    let id = exporter.imports.next_reply.fetch_add(1, Ordering::Relaxed);
    let mut subject = server_reply_prefix().to_vec();
    subject.extend_from_slice(crate::server::nkey_auth::new_nonce().as_bytes());
    subject.extend_from_slice(format!("{id}").as_bytes());
    let now = Instant::now();
    let mut pending = exporter
        .imports
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if pending.len() >= MAX_PENDING_RESPONSES {
        pending.retain(|_, p| p.expires > now);
    }
    if pending.len() < MAX_PENDING_RESPONSES {
        pending.insert(
            subject.clone(),
            Pending {
                target: requester.clone(),
                reply: reply.to_vec(),
                expires: now + RESPONSE_TTL,
                multiple,
            },
        );
        exporter.imports.active.store(true, Ordering::Release);
    }
    subject
}

/// `_R_.<server token>.`: the start of every reply subject this server
/// makes (the token is random per process).
fn server_reply_prefix() -> &'static [u8] {
    static PREFIX: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| {
        let token: String = crate::server::nkey_auth::new_nonce()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect();
        [REPLY_PREFIX, token.as_bytes(), b"."].concat()
    })
}

/// A message a route brought, published in `account` on another server:
/// when it is a response to a request this server forwarded, hand it to
/// the requesting account. True when it reached anyone.
pub fn respond_routed(account: &Account, m: &Message<'_>, out: &mut Delivery) -> bool {
    m.subject.starts_with(server_reply_prefix()) && respond(account, m, out)
}

/// Deliver a response published in `account` on a `_R_.` subject back to
/// the requesting account.
fn respond(account: &Account, m: &Message<'_>, out: &mut Delivery) -> bool {
    let entry = {
        let mut pending = account
            .imports
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match pending.get(m.subject) {
            Some(p) if p.expires <= Instant::now() => {
                pending.remove(m.subject);
                None
            }
            Some(p) if p.multiple => Some((p.target.clone(), p.reply.clone())),
            Some(_) => pending.remove(m.subject).map(|p| (p.target, p.reply)),
            None => None,
        }
    };
    let Some((target, reply)) = entry else {
        return false;
    };
    let Some(target) = target.upgrade() else {
        return false;
    };
    deliver_in(&target, &reply, None, m, out)
}

fn deliver_in(
    target: &Account,
    subject: &[u8],
    reply: Option<&[u8]>,
    m: &Message<'_>,
    out: &mut Delivery,
) -> bool {
    let (result, _) = target.sublist.match_subject(subject);
    let forwarded = Message {
        subject,
        reply,
        headers: m.headers,
        payload: m.payload,
    };
    out.publish(target, &result, &forwarded, None)
}
