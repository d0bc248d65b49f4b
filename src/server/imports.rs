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
//! forwarded on the server its publisher is on), so service imports work
//! when requester and responder share a server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use super::account::Account;
use super::deliver::{Delivery, Message};
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
        let Some(target) = f.target.upgrade() else {
            continue;
        };
        let subject = match &f.map {
            SubjectMap::Same => m.subject.to_vec(),
            SubjectMap::Literal(s) => s.clone(),
            SubjectMap::Prefix(p) => [p.as_slice(), b".", m.subject].concat(),
        };
        let reply = match (f.service, m.reply) {
            (Some(multiple), Some(reply)) => {
                Some(expect_response(&target, &f.origin, reply, multiple))
            }
            _ => m.reply.map(<[u8]>::to_vec),
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

/// Remember that a response published in `exporter` on the returned
/// subject goes back to `requester` on `reply`.
fn expect_response(
    exporter: &Account,
    requester: &Weak<Account>,
    reply: &[u8],
    multiple: bool,
) -> Vec<u8> {
    let id = exporter.imports.next_reply.fetch_add(1, Ordering::Relaxed);
    let mut subject = REPLY_PREFIX.to_vec();
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
