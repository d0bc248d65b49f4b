//! The connection core every kind of connection (client, websocket client,
//! route, leafnode) runs on. A kind brings only its op handlers (an
//! [`inbound::OpHandler`]); the core owns:
//!
//! - `inbound.rs`: the read buffer, which grows only as bytes arrive;
//!   reading plain, through TLS or through WebSocket framing; the parse
//!   loop, generic over the kind's parser; the mapping of protocol errors
//!   to `-ERR` text and close reason.
//! - `outbound.rs`: what other threads touch to send to a connection:
//!   pending bytes, the non-blocking direct write, the writer thread,
//!   producer stalls and the slow-consumer decision.
//! - `transport.rs`: what lies between the NATS bytes and the socket
//!   besides plain TCP (TLS, WebSocket frames), at the read/write boundary.
//! - `tls.rs`: handshakes with an absolute deadline (client, route,
//!   websocket and HTTPS monitor ports, dialled routes).
//! - this file: the end of a read batch (every destination gets its bytes
//!   once), and running a connection's body so that a panic finishes the
//!   connection like any other close.

pub mod inbound;
pub mod outbound;
pub mod tls;
pub mod transport;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::account::Account;
use super::client::Client;
use super::close::CloseReason;
use super::deliver::Fanout;
use super::Server;

/// The shared half of a new connection of `server` on `stream` from `addr`
/// (in the global account until it authenticates).
pub fn new_client(server: &Server, stream: Arc<TcpStream>, addr: SocketAddr) -> Arc<Client> {
    new_client_with_deadline(server, stream, addr, None)
}

/// [`new_client`] with its own write deadline (a connection kind's, e.g.
/// `leafnodes { write_deadline }`) instead of the server's.
pub fn new_client_with_deadline(
    server: &Server,
    stream: Arc<TcpStream>,
    addr: SocketAddr,
    write_deadline: Option<std::time::Duration>,
) -> Arc<Client> {
    let opts = server.opts();
    Arc::new(Client::new(
        server.next_cid(),
        stream,
        addr,
        server.global.clone(),
        opts.max_pending,
        write_deadline.unwrap_or(opts.write_deadline),
        server.stats.clone(),
    ))
}

/// The message path of connection `cid`'s thread (its match cache as the
/// options say, its route interest).
pub fn new_fanout(server: &Server, cid: u64) -> Fanout {
    Fanout::new(
        !server.opts().disable_sublist_cache,
        cid,
        server.routes.interest.clone(),
    )
}

/// Messages and payload bytes a connection received in the current batch.
#[derive(Debug, Default, Clone, Copy)]
pub struct InCounters {
    /// Messages received.
    pub msgs: u64,
    /// Their payload bytes (headers included).
    pub bytes: u64,
}

impl InCounters {
    /// One message of `bytes` received.
    #[inline]
    pub fn add(&mut self, bytes: usize) {
        self.msgs += 1;
        self.bytes += bytes as u64;
    }
}

/// End of a read batch: hand every destination its bytes, once (stalling
/// on destinations that are far behind), and add the batch's counters to
/// the connection's and the server's; `account` gets the match cache's hits.
#[inline(never)]
pub fn end_batch(
    fanout: &mut Fanout,
    client: &Client,
    server: &Server,
    account: Option<&Account>,
    counters: &mut InCounters,
) {
    // Counted before the batch's bytes go out: a client that got an
    // answer (a PONG) finds its messages in `/metrics`.
    fanout.end_batch();
    fanout.out.flush();
    let batch = &mut fanout.out.batch;
    if counters.msgs > 0 {
        let stats = &client.stats;
        stats.in_msgs.fetch_add(counters.msgs, Ordering::Relaxed);
        stats.in_bytes.fetch_add(counters.bytes, Ordering::Relaxed);
    }
    server.stats.add_batch(
        counters.msgs,
        counters.bytes,
        batch.out_msgs,
        batch.out_bytes,
    );
    if fanout.cache.hits > 0 {
        if let Some(a) = account {
            a.sublist.note_cached_matches(fanout.cache.hits);
        }
        fanout.cache.hits = 0;
    }
    *counters = InCounters::default();
    batch.out_msgs = 0;
    batch.out_bytes = 0;
}

/// Run a connection's body. A panic in it is caught, logged with the
/// connection and turned into [`CloseReason::InternalError`], so that the
/// caller finishes the connection (deregistered, subscriptions and route
/// interest removed, recorded as closed) as after any other close.
pub fn run_guarded(client: &Client, kind: &str, body: impl FnOnce() -> CloseReason) -> CloseReason {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(reason) => reason,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".to_string());
            crate::log_error!(
                "{} - {kind} connection handler panicked ({what}); closing the connection",
                client.log_prefix()
            );
            CloseReason::InternalError
        }
    }
}

/// Test-only: in debug builds, a message published to the subject named by
/// the environment variable `NATS_LITE_TEST_PANIC_SUBJECT` makes its
/// connection's handler panic, so integration tests can check that such a
/// connection is finished like any other. Release builds have no trigger.
#[cfg(debug_assertions)]
pub fn test_panic_trigger(subject: &[u8]) {
    static SUBJECT: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    let wanted = SUBJECT.get_or_init(|| {
        std::env::var("NATS_LITE_TEST_PANIC_SUBJECT")
            .ok()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes)
    });
    if wanted.as_deref() == Some(subject) {
        panic!("test-only panic trigger");
    }
}

/// Release builds: no trigger.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn test_panic_trigger(_subject: &[u8]) {}
