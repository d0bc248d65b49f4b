//! One thread for every connection's timers: the auth timeout and the
//! server's PINGs (to clients, from accept, and to routes) with
//! stale-connection detection. Connection threads can
//! then block in `read` with no timeout at all, so an idle connection never
//! wakes up, and timers cost one heap entry each.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use super::client::{unix_nanos, Client};
use super::close::CloseReason;
use super::Server;
use crate::protocol::encode;
use crate::{debug, trace};

/// How late a timer may fire so that timers due close together share one
/// wake-up of the timer thread.
const SLACK: Duration = Duration::from_millis(5);

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// Close the client if it has not sent a good CONNECT.
    AuthTimeout,
    /// Send a PING, or close the client as stale.
    Ping,
    /// The PINGs of a client that has not sent CONNECT, from accept (as
    /// nats-server's first-PING timer at accept): a silent connection is
    /// closed as stale after `ping_max` unanswered PINGs, with or without
    /// auth. They stop once CONNECT arrives (its own PINGs start then).
    PreConnectPing,
    /// The client's user JWT expired: close it.
    AuthExpiry,
    /// Send a PING on a route (never delayed by traffic), or close it as stale.
    RoutePing,
}

struct Entry {
    at: Instant,
    seq: u64,
    kind: TimerKind,
    client: Weak<Client>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

/// The timer queue shared by every connection.
#[derive(Default)]
pub struct Timers {
    queue: Mutex<Queue>,
    wake: Condvar,
    stop: AtomicBool,
}

impl Timers {
    /// Run `kind` for `client` at `at`.
    pub fn schedule(&self, at: Instant, client: &Arc<Client>, kind: TimerKind) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.seq += 1;
        let seq = q.seq;
        let earliest = q.heap.peek().is_none_or(|Reverse(e)| at < e.at);
        q.heap.push(Reverse(Entry {
            at,
            seq,
            kind,
            client: Arc::downgrade(client),
        }));
        drop(q);
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Stop the timer thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_all();
    }

    /// The timer thread's loop; returns when [`Timers::stop`] is called.
    pub fn run(&self, server: &Weak<Server>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let now = Instant::now();
            match q.heap.peek() {
                Some(Reverse(e)) if e.at <= now => {
                    let Reverse(entry) = q.heap.pop().expect("peeked");
                    drop(q);
                    if let (Some(client), Some(server)) = (entry.client.upgrade(), server.upgrade())
                    {
                        if let Some(next) = fire(&server, &client, entry.kind) {
                            self.schedule(next, &client, entry.kind);
                        }
                    }
                    q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                }
                Some(Reverse(e)) => {
                    // Timers due within the slack fire together: with many
                    // connections opening (and most of their timers finding
                    // the connection gone) the thread wakes once per slack,
                    // not once per timer.
                    let wait = (e.at - now).max(SLACK);
                    q = self
                        .wake
                        .wait_timeout(q, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => {
                    q = self.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}

/// Handle one due timer; returns when to fire again, if ever.
fn fire(server: &Server, client: &Arc<Client>, kind: TimerKind) -> Option<Instant> {
    if client.is_closed() {
        return None;
    }
    match kind {
        TimerKind::AuthTimeout => {
            if !client.connect_seen.load(Ordering::Acquire) {
                send_err_and_close(
                    client,
                    "Authentication Timeout",
                    CloseReason::AuthenticationTimeout,
                );
            }
            None
        }
        TimerKind::AuthExpiry => {
            send_err_and_close(
                client,
                "User Authentication Expired",
                CloseReason::AuthenticationExpired,
            );
            None
        }
        TimerKind::Ping => {
            let opts = server.opts();
            ping(server, client, opts.ping_interval, opts.ping_max, true)
        }
        TimerKind::PreConnectPing => {
            // A CONNECT, or a first op that settled the client, starts its own PINGs.
            if client.connect_seen.load(Ordering::Acquire)
                || client.connected.load(Ordering::Acquire)
            {
                return None;
            }
            let opts = server.opts();
            ping(server, client, opts.ping_interval, opts.ping_max, false)
        }
        TimerKind::RoutePing => {
            let opts = server.opts();
            let cluster = server.routes.opts();
            let interval = cluster
                .and_then(|c| c.ping_interval)
                .unwrap_or(opts.ping_interval)
                .min(super::route::ROUTE_MAX_PING_INTERVAL);
            let max = cluster.and_then(|c| c.ping_max).unwrap_or(opts.ping_max);
            ping(server, client, interval, max, false)
        }
    }
}

/// A PING every `interval` (skipped after recent traffic when
/// `delay_on_activity`), or 'Stale Connection' after `max` unanswered.
fn ping(
    server: &Server,
    client: &Arc<Client>,
    interval: Duration,
    max: u32,
    delay_on_activity: bool,
) -> Option<Instant> {
    let now = SystemTime::now();
    let idle = Duration::from_nanos(
        unix_nanos(now).saturating_sub(client.last_activity_nanos.load(Ordering::Relaxed)),
    );
    let rtt_known = client.meta().rtt.is_some();
    if delay_on_activity && rtt_known && idle < interval {
        debug!(
            "{} - Delaying PING due to client activity {:?} ago",
            client.log_prefix(),
            idle
        );
    } else if client.pings_out.load(Ordering::Relaxed) + 1 > max {
        debug!(
            "{} - Stale Client Connection - Closing",
            client.log_prefix()
        );
        server
            .stats
            .stale_connections
            .fetch_add(1, Ordering::Relaxed);
        send_err_and_close(client, "Stale Connection", CloseReason::StaleConnection);
        return None;
    } else {
        client.pings_out.fetch_add(1, Ordering::Relaxed);
        client
            .ping_sent_nanos
            .store(unix_nanos(now), Ordering::Relaxed);
        trace!("{} - ->> [PING]", client.log_prefix());
        let _ = client.queue_and_flush(&mut encode::PING.to_vec(), 0, 0);
    }
    Some(Instant::now() + interval)
}

/// Send `-ERR '<text>'` and close.
pub fn send_err_and_close(client: &Arc<Client>, text: &str, reason: CloseReason) {
    let mut line = Vec::new();
    encode::err(&mut line, text);
    let _ = client.queue_and_flush(&mut line, 0, 0);
    client.close(reason);
}
