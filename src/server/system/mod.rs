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
//!   which knows who the requester is.
//!
//! The service is an internal client of the system account: its
//! subscriptions are ordinary ones (so routes learn the interest and
//! forward requests from other servers), its messages arrive over a
//! loopback socket pair as MSG ops, so the delivery path needs nothing of
//! its own, and one thread answers them, building the replies with the
//! HTTP monitor's builders (`requests.rs`). It is not in the registry of
//! clients: `/connz` does not list it, as nats-server's does not. Its
//! connection has the limits of any other (`max_pending`): a flood that
//! makes it a slow consumer closes it, and the service starts again.

mod absent;
mod envelope;
mod requests;
pub mod user_info;

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock, Weak};

use super::account::Account;
use super::client::Client;
use super::deliver::Message;
use super::imports::ImportSpec;
use super::monitor::Monitor;
use super::subscription::Subscription;
use super::Server;
use crate::protocol::parser::{parse_server_op, Limits, Parsed, ServerOp};
use crate::{debug, log_error, warn};

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
/// Pause before the service starts again after its connection closed.
const RESTART_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);
/// Most bytes the service keeps unparsed (a request larger than this is
/// dropped with its connection's buffer: requests are small).
const MAX_BUFFER: usize = 8 * 1024 * 1024;

/// What the server keeps of its system services.
#[derive(Default)]
pub struct SystemState {
    /// The HTTP monitor, when one runs (its ports and request counts go
    /// into VARZ).
    monitor: OnceLock<Arc<Monitor>>,
    /// Sequence number of the replies (the `seq` of their `server` block).
    seq: std::sync::atomic::AtomicU64,
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
/// The loopback pair or the thread could not be made.
pub fn start(server: &Arc<Server>) -> io::Result<()> {
    let Some(name) = server.opts().system_account.clone() else {
        return Ok(());
    };
    let Some(account) = server.account(&name) else {
        warn!("system account {name} is not known: no system services");
        return Ok(());
    };
    let (server_side, service_side) = loopback_pair()?;
    let addr = server_side.peer_addr()?;
    let opts = server.opts();
    let client = Arc::new(Client::new(
        server.next_cid(),
        Arc::new(server_side),
        addr,
        account.clone(),
        opts.max_pending,
        opts.write_deadline,
        server.stats.clone(),
    ));
    client
        .headers
        .store(true, std::sync::atomic::Ordering::Relaxed);
    client
        .connected
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut subjects = vec![SERVER_PING.to_string()];
    for kind in SERVER_KINDS {
        subjects.push(format!("{SERVER_PING}.{kind}"));
        subjects.push(format!("$SYS.REQ.SERVER.{}.{kind}", server.id));
    }
    for kind in ACCOUNT_KINDS {
        subjects.push(format!("$SYS.REQ.ACCOUNT.*.{kind}"));
    }
    for (i, subject) in subjects.iter().enumerate() {
        subscribe(server, &account, &client, subject, i);
    }
    let monitor = server
        .system
        .monitor
        .get()
        .cloned()
        .unwrap_or_else(|| Arc::new(Monitor::detached(server)));
    let service = Service {
        server: Arc::downgrade(server),
        account,
        client,
        monitor,
    };
    std::thread::Builder::new()
        .name("system".into())
        .stack_size(SERVICE_STACK)
        .spawn(move || service.run(service_side))?;
    Ok(())
}

fn subscribe(
    server: &Server,
    account: &Arc<Account>,
    client: &Arc<Client>,
    subject: &str,
    i: usize,
) {
    let sid = format!("{i}");
    let sub = Arc::new(Subscription::new(
        client.clone(),
        subject.as_bytes(),
        None,
        sid.as_bytes(),
    ));
    client.subs().insert(sid.as_bytes().into(), sub.clone());
    account.sublist.insert(sub.clone());
    server.routes.interest.added(account, &sub);
}

/// Two connected loopback sockets.
fn loopback_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let service_side = TcpStream::connect(listener.local_addr()?)?;
    let ours: SocketAddr = service_side.local_addr()?;
    loop {
        let (server_side, from) = listener.accept()?;
        // Anyone else on the machine could connect to the port first.
        if from == ours {
            return Ok((server_side, service_side));
        }
    }
}

/// The running service: what its thread needs.
struct Service {
    server: Weak<Server>,
    account: Arc<Account>,
    client: Arc<Client>,
    monitor: Arc<Monitor>,
}

impl Service {
    /// Read the MSG ops the server delivers and answer each request.
    fn run(self, mut socket: TcpStream) {
        let limits = Limits {
            max_control_line: usize::MAX / 2,
            max_payload: MAX_BUFFER,
        };
        let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut fanout = None;
        loop {
            let n = match socket.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let Some(server) = self.server.upgrade() else {
                break;
            };
            let fanout =
                fanout.get_or_insert_with(|| super::conn::new_fanout(&server, self.client.cid));
            let mut used = 0;
            loop {
                match parse_server_op(&buf[used..], &limits) {
                    Ok(Parsed::Op(op, len)) => {
                        if let ServerOp::Msg {
                            subject,
                            reply: Some(reply),
                            payload,
                            ..
                        } = op
                        {
                            self.answer(&server, fanout, subject, reply, payload);
                        }
                        used += len;
                    }
                    Ok(Parsed::Incomplete(_)) => break,
                    Err(e) => {
                        debug!("system service: unreadable delivery: {e}");
                        used = buf.len();
                        break;
                    }
                }
            }
            buf.drain(..used);
            if buf.len() > MAX_BUFFER {
                buf.clear();
            }
            fanout.out.flush();
        }
        self.restart();
    }

    /// The internal client was closed (a flood of requests made it a slow
    /// consumer, say): unless the server is stopping, withdraw its
    /// subscriptions and start the service again, after a pause that
    /// bounds how often a flood can make it restart.
    fn restart(&self) {
        let Some(server) = self.server.upgrade() else {
            return;
        };
        self.client.close(super::close::CloseReason::ServerShutdown);
        let subs: Vec<Arc<Subscription>> = self.client.subs().values().cloned().collect();
        for sub in &subs {
            super::deliver::remove_subscription(&self.client, sub, &server.routes.interest);
        }
        if server.is_shutting_down() {
            debug!("system service stopped");
            return;
        }
        let reason = self.client.meta().close_reason;
        warn!("system service restarting (its connection closed: {reason:?})");
        std::thread::sleep(RESTART_PAUSE);
        if let Err(e) = start(&server) {
            log_error!("system service not restarted: {e}");
        }
    }

    /// Answer one request (nothing for one filtered out or not ours).
    fn answer(
        &self,
        server: &Arc<Server>,
        fanout: &mut super::deliver::Fanout,
        subject: &[u8],
        reply: &[u8],
        payload: &[u8],
    ) {
        let Ok(subject) = std::str::from_utf8(subject) else {
            return;
        };
        let Some(body) = requests::answer(server, &self.monitor, subject, payload) else {
            return;
        };
        let m = Message {
            subject: reply,
            reply: None,
            headers: None,
            payload: &body,
        };
        fanout.publish(&self.account, &m, None);
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
