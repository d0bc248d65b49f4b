//! The system account's request subjects, answered as nats-server 2.9
//! answers them (`server/events.go`):
//!
//! - `$SYS.REQ.SERVER.PING` (statsz), `$SYS.REQ.SERVER.PING.<KIND>` and
//!   `$SYS.REQ.SERVER.<server id>.<KIND>`, KIND one of `STATSZ`, `VARZ`,
//!   `CONNZ`, `SUBSZ`, `ROUTEZ`, `ACCOUNTZ`, `HEALTHZ`, and `JSZ`, `LEAFZ`,
//!   `GATEWAYZ` as a server without those features answers them
//!   (`absent.rs`): every server of a cluster answers the PING ones, the
//!   requester collects the answers;
//! - `$SYS.REQ.ACCOUNT.<account>.<CONNZ|SUBSZ|INFO>`: one account's view;
//!   ordinary accounts import `$SYS.REQ.SERVER.PING.CONNZ` and
//!   `$SYS.REQ.ACCOUNT.PING.CONNZ` as their own account's CONNZ, as
//!   nats-server's `registerSystemImports` sets up (`imports()`);
//! - `$SYS.REQ.USER.INFO` (nats-server 2.10's "who am I"), answered for a
//!   client of any account by its own connection thread (`user_info.rs`),
//!   which knows who the requester is;
//! - in operator mode, the claim update service (`nsc push`): account JWTs
//!   pushed on `$SYS.REQ.CLAIMS.UPDATE` and the per-account subjects, and a
//!   directory resolver's list, lookup and delete (`claims.rs`).
//!
//! It also publishes the client connect and disconnect advisories
//! (`$SYS.ACCOUNT.<account>.CONNECT` / `.DISCONNECT`) and auth errors
//! (`$SYS.SERVER.<id>.CLIENT.AUTH.ERR`) that connections' threads queue
//! for it, and the stopping server publishes `$SYS.SERVER.<id>.SHUTDOWN`
//! (`advisories.rs`).
//!
//! The service is an internal client of the system account, as
//! nats-server's `INTERNAL` client kind, without a socket: its
//! subscriptions are ordinary ones in the account's subject index (so
//! routes learn the interest and forward requests from other servers),
//! and what the delivery path stages for it (`MSG`/`HMSG` bytes, as for
//! any client) goes to a bounded in-memory queue (`internal.rs`) instead
//! of a socket. A publisher's thread only hands the bytes over; the
//! service's one thread takes them, parses the ops and answers each,
//! building the replies with the HTTP monitor's builders (`requests.rs`),
//! which take locks no publisher may wait on. The replies are published
//! into the delivery path as the server's own (so they cross routes and
//! service imports like any message). It is not in the registry of
//! clients: `/connz` does not list it, as nats-server's does not.
//!
//! The queue holds at most `max_pending` bytes: requests that come faster
//! than the service answers them are dropped (at most once, as any NATS
//! delivery), counted in `nats_lite_internal_dropped` of `/metrics` and
//! logged by the service's thread, at most once a second. The service
//! itself goes on.

mod absent;
pub mod advisories;
mod claims;
mod envelope;
mod requests;
pub mod user_info;

use std::io;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::account::Account;
use super::client::Client;
use super::deliver::Message;
use super::imports::ImportSpec;
use super::internal::InternalQueue;
use super::monitor::Monitor;
use super::subscription::Subscription;
use super::Server;
use crate::protocol::parser::{parse_server_op, Limits, Parsed, ServerOp};
use crate::{debug, warn};

/// The kinds of server-level requests answered (`$SYS.REQ.SERVER.PING.<KIND>`).
pub const SERVER_KINDS: &[&str] = &[
    "STATSZ", "VARZ", "CONNZ", "SUBSZ", "ROUTEZ", "ACCOUNTZ", "HEALTHZ", "JSZ", "LEAFZ", "GATEWAYZ",
];
/// The kinds of account-level requests answered (`$SYS.REQ.ACCOUNT.<acc>.<KIND>`).
pub const ACCOUNT_KINDS: &[&str] = &["CONNZ", "SUBSZ", "INFO"];
/// The subject of the legacy statsz ping.
pub const SERVER_PING: &str = "$SYS.REQ.SERVER.PING";
/// Stack of the service thread: JSON building is shallow.
const SERVICE_STACK: usize = 256 * 1024;
/// The largest buffer the service keeps between two batches.
const KEPT_BUFFER: usize = 256 * 1024;
/// How often the idle service looks whether the server is still there,
/// and the least time between two of its log lines about drops.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// What the server keeps of its system services.
#[derive(Default)]
pub struct SystemState {
    /// The HTTP monitor, when one runs (its ports and request counts go
    /// into VARZ).
    monitor: OnceLock<Arc<Monitor>>,
    /// Sequence number of the replies (the `seq` of their `server` block).
    seq: std::sync::atomic::AtomicU64,
    /// The service's queue, once it runs: advisories go through it
    /// (`advisories.rs`).
    events: OnceLock<Arc<InternalQueue>>,
    /// The system account and the service's client id, for the shutdown
    /// event, which the stopping server publishes itself.
    publisher: OnceLock<(Arc<Account>, u64)>,
}

impl SystemState {
    /// The HTTP monitor started: VARZ replies show it.
    pub fn set_monitor(&self, monitor: &Arc<Monitor>) {
        let _ = self.monitor.set(monitor.clone());
    }
}

/// The service imports every ordinary account gets from the system
/// account `system` (nats-server's `registerSystemImports`): its own
/// account's CONNZ under the server-wide ping subjects.
pub fn imports(system: &str, accounts: &[String]) -> Vec<ImportSpec> {
    let mut specs = Vec::new();
    for account in accounts.iter().filter(|a| *a != system) {
        for local in ["$SYS.REQ.SERVER.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.CONNZ"] {
            specs.push(ImportSpec {
                importer: account.clone(),
                exporter: system.to_string(),
                subject: format!("$SYS.REQ.ACCOUNT.{account}.CONNZ"),
                service: true,
                prefix: None,
                to: Some(local.to_string()),
                multiple_responses: true,
                expires: None,
                allow_trace: false,
            });
        }
    }
    specs
}

/// Start the system services when a system account is configured.
///
/// # Errors
///
/// The thread could not be made.
pub fn start(server: &Arc<Server>) -> io::Result<()> {
    let Some(name) = server.opts().system_account.clone() else {
        return Ok(());
    };
    let Some(account) = server.account(&name) else {
        warn!("system account {name} is not known: no system services");
        return Ok(());
    };
    let queue = Arc::new(InternalQueue::new(server.opts().max_pending));
    let client = Arc::new(Client::internal(
        server.next_cid(),
        account.clone(),
        queue.clone(),
        server.stats.clone(),
    ));
    let mut subjects = vec![SERVER_PING.to_string()];
    for kind in SERVER_KINDS {
        subjects.push(format!("{SERVER_PING}.{kind}"));
        subjects.push(format!("$SYS.REQ.SERVER.{}.{kind}", server.id));
    }
    for kind in ACCOUNT_KINDS {
        subjects.push(format!("$SYS.REQ.ACCOUNT.*.{kind}"));
    }
    let mut queued: Vec<(String, Option<&str>)> = subjects.into_iter().map(|s| (s, None)).collect();
    queued.extend(
        claims::subjects(server)
            .into_iter()
            .map(|(s, q)| (s.to_string(), q)),
    );
    for (i, (subject, queue)) in queued.iter().enumerate() {
        subscribe(server, &account, &client, subject, *queue, i);
    }
    let monitor = server
        .system
        .monitor
        .get()
        .cloned()
        .unwrap_or_else(|| Arc::new(Monitor::detached(server)));
    let service_account = account.clone();
    let service = Service {
        server: Arc::downgrade(server),
        account,
        client: client.clone(),
        monitor,
        queue: queue.clone(),
    };
    let spawned = std::thread::Builder::new()
        .name("system".into())
        .stack_size(SERVICE_STACK)
        .spawn(move || service.run());
    if let Err(e) = spawned {
        // No thread, no service: withdraw its interest, so that requests
        // get no-responders rather than silence.
        withdraw(server, &client);
        return Err(e);
    }
    let _ = server.system.events.set(queue);
    let _ = server.system.publisher.set((service_account, client.cid));
    Ok(())
}

fn subscribe(
    server: &Server,
    account: &Arc<Account>,
    client: &Arc<Client>,
    subject: &str,
    queue: Option<&str>,
    i: usize,
) {
    let sid = format!("{i}");
    let sub = Arc::new(Subscription::new(
        client.clone(),
        subject.as_bytes(),
        queue.map(str::as_bytes),
        sid.as_bytes(),
    ));
    client.subs().insert(sid.as_bytes().into(), sub.clone());
    account.sublist.insert(sub.clone());
    server.routes.interest.added(account, &sub);
}

/// Close the internal client and withdraw its subscriptions.
fn withdraw(server: &Server, client: &Arc<Client>) {
    client.close(super::close::CloseReason::ServerShutdown);
    let subs: Vec<Arc<Subscription>> = client.subs().values().cloned().collect();
    for sub in &subs {
        super::deliver::remove_subscription(client, sub, &server.routes.interest);
    }
}

/// The running service: what its thread needs.
struct Service {
    server: Weak<Server>,
    account: Arc<Account>,
    client: Arc<Client>,
    monitor: Arc<Monitor>,
    /// The internal client's deliveries.
    queue: Arc<InternalQueue>,
}

impl Service {
    /// Take the MSG ops the delivery path queued and answer each request,
    /// until the server stops.
    fn run(self) {
        let limits = Limits {
            max_control_line: usize::MAX / 2,
            max_payload: usize::MAX / 2,
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut fanout = None;
        let mut dropped = Drops::default();
        loop {
            let open = self.queue.take(&mut buf, IDLE_CHECK);
            let server = match self.server.upgrade() {
                Some(server) if open && !server.is_shutting_down() => server,
                Some(server) => {
                    withdraw(&server, &self.client);
                    break;
                }
                None => break,
            };
            dropped.note(self.queue.dropped(), server.opts().max_pending);
            let fanout =
                fanout.get_or_insert_with(|| super::conn::new_fanout(&server, self.client.cid));
            let mut used = 0;
            while used < buf.len() {
                match parse_server_op(&buf[used..], &limits) {
                    Ok(Parsed::Op(op, len)) => {
                        if let ServerOp::Msg {
                            subject,
                            sid,
                            reply,
                            payload,
                            ..
                        } = op
                        {
                            if sid == advisories::ADVISORY_SID {
                                self.publish(fanout, subject, payload);
                            } else {
                                self.answer(&server, fanout, subject, reply, payload);
                            }
                        }
                        used += len;
                    }
                    // The queue holds whole ops only: a remainder is a bug,
                    // not something to wait for.
                    Ok(Parsed::Incomplete(_)) | Err(_) => {
                        debug!(
                            "system service: unreadable delivery ({} bytes)",
                            buf.len() - used
                        );
                        break;
                    }
                }
            }
            fanout.out.flush();
            self.queue.done();
            if buf.capacity() > KEPT_BUFFER {
                // A flood's buffer is not kept for an idle service.
                buf = Vec::new();
            }
        }
        debug!("system service stopped");
    }

    /// Publish an event a connection's thread queued (`advisories.rs`).
    fn publish(&self, fanout: &mut super::deliver::Fanout, subject: &[u8], payload: &[u8]) {
        let m = Message {
            subject,
            reply: None,
            headers: None,
            payload,
        };
        fanout.publish(&self.account, &m, None);
    }

    /// Answer one request (nothing for one filtered out or not ours). A
    /// claim update is applied even without a reply subject.
    fn answer(
        &self,
        server: &Arc<Server>,
        fanout: &mut super::deliver::Fanout,
        subject: &[u8],
        reply: Option<&[u8]>,
        payload: &[u8],
    ) {
        let Ok(subject) = std::str::from_utf8(subject) else {
            return;
        };
        let bodies = match claims::answer(server, subject, payload) {
            Some(bodies) => bodies,
            None if reply.is_some() => requests::answer(server, &self.monitor, subject, payload)
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        let Some(reply) = reply else {
            return;
        };
        for body in &bodies {
            let m = Message {
                subject: reply,
                reply: None,
                headers: None,
                payload: body,
            };
            fanout.publish(&self.account, &m, None);
        }
    }
}

/// Requests dropped because the queue was full, and when that was last
/// logged: one line a second at most, however long a flood lasts.
#[derive(Default)]
struct Drops {
    unlogged: u64,
    total: u64,
    logged_at: Option<Instant>,
}

impl Drops {
    /// `n` more were dropped (the queue holds `bound` bytes): log them
    /// unless a line went out less than a second ago.
    fn note(&mut self, n: u64, bound: usize) {
        self.unlogged += n;
        self.total += n;
        if self.unlogged == 0 || self.logged_at.is_some_and(|t| t.elapsed() < IDLE_CHECK) {
            return;
        }
        warn!(
            "system service: dropped {} requests or advisories, its queue was full \
             (max_pending {bound} bytes; {} dropped since start)",
            self.unlogged, self.total
        );
        self.unlogged = 0;
        self.logged_at = Some(Instant::now());
    }
}

/// The next `seq` of a reply's `server` block.
fn next_seq(server: &Server) -> u64 {
    server
        .system
        .seq
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1
}
