//! Running a benchmark: one connection and one thread per client, each
//! client doing its share of the load and returning a [`Sample`].
//!
//! The shape is nats-bench's. Every connection is made, and every
//! subscription confirmed by the server (a flush), before any load starts,
//! so that no message is published before its subscribers are there.
//! Publishers then start together (a barrier), publish through the client's
//! write buffer (written in 64 KiB batches, as nats.go's buffered writer
//! does) and flush at the end: a publisher's time runs until the server has
//! confirmed it processed every message. A subscriber's time runs from its
//! first message to its last, and it gives up when nothing has arrived for
//! [`Plan::timeout`]. Requesters send one request at a time and time each
//! round trip; responders echo the payload back.
//!
//! Nothing here prints. How far a run got is in [`Progress`] (read by the
//! caller's progress bar), a run is cut short from another thread (Ctrl-C)
//! through a [`Stopper`], and the end is an [`Outcome`] for the caller to
//! report.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::stats::{msgs_per_client, Group, Latencies, Sample};
use crate::client::rand::Rng;
use crate::client::{ClientError, Connection, ErrorKind, Incoming, Interrupter, Options};

/// The queue group responders join, so that several of them (in one
/// process or in several) share the requests instead of each answering.
pub const RESPONDER_QUEUE: &str = "nats-lite-bench";

/// Messages a worker handles between two updates of the shared progress
/// counter (a shared atomic touched per message would cost more than the
/// message on a busy machine).
const PROGRESS_STEP: u64 = 1024;

/// What the clients of a run do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// `pubs` publishers share the messages; each of `subs` subscribers
    /// expects every one of them. With no publisher, the subscribers wait
    /// (without a time limit) for the first message from elsewhere.
    PubSub {
        /// Publishing connections.
        pubs: usize,
        /// Subscribing connections.
        subs: usize,
    },
    /// `clients` requesters share the requests, each sending one at a time;
    /// `responders` connections of this process answer them (0: responders
    /// run elsewhere, e.g. `bench reply`).
    Request {
        /// Requesting connections.
        clients: usize,
        /// Responding connections started here.
        responders: usize,
    },
    /// `clients` responders answer the requests, in one queue group, until
    /// they have answered the number of messages in all. They wait (without
    /// a time limit) for the first request.
    Reply {
        /// Responding connections.
        clients: usize,
    },
    /// Connection churn: `clients` workers at a time each connect (INFO,
    /// CONNECT + PING, PONG) and close, until the number of messages in
    /// all connections were made; each connect is timed.
    Churn {
        /// Connections open at a time.
        clients: usize,
    },
}

/// Everything a run is made from.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Who does what.
    pub load: Load,
    /// The subject messages and requests go to.
    pub subject: String,
    /// Messages (or requests) in all, shared by the publishers (or
    /// requesters); every subscriber expects all of them.
    pub msgs: u64,
    /// Payload bytes of each message.
    pub size: usize,
    /// How long a client waits with nothing arriving before giving up; also
    /// the bound on a publisher's final flush and on each request.
    pub timeout: Duration,
    /// How to connect (every client connects with these, without
    /// reconnecting: a lost connection is a failed run).
    pub options: Options,
    /// Publisher `i` (from 1) publishes to `<subject>.<i>` and subscribers
    /// listen on `<subject>.*`: many publishers into one wildcard
    /// subscriber, each publisher's share visible on its own subject.
    pub subject_per_publisher: bool,
}

impl Plan {
    /// Messages sent plus messages received in a complete run: the 100% of
    /// the progress bar.
    pub fn expected_ops(&self) -> u64 {
        match self.load {
            Load::PubSub { pubs, subs } => {
                let sent = if pubs > 0 { self.msgs } else { 0 };
                sent.saturating_add(self.msgs.saturating_mul(subs as u64))
            }
            Load::Request { .. } | Load::Reply { .. } | Load::Churn { .. } => self.msgs,
        }
    }
}

/// How far a run got: messages sent plus received so far, updated in steps
/// of 1024 messages by each client (so it lags a little behind).
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
}

impl Progress {
    /// Messages sent plus received so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn add(&self, n: u64) {
        if n > 0 {
            self.done.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Counts one client's messages and hands them to [`Progress`] in steps.
struct Ticker<'a> {
    progress: &'a Progress,
    unreported: u64,
}

impl<'a> Ticker<'a> {
    fn new(progress: &'a Progress) -> Self {
        Ticker {
            progress,
            unreported: 0,
        }
    }

    #[inline]
    fn tick(&mut self) {
        self.unreported += 1;
        if self.unreported == PROGRESS_STEP {
            self.progress.add(PROGRESS_STEP);
            self.unreported = 0;
        }
    }
}

impl Drop for Ticker<'_> {
    fn drop(&mut self) {
        self.progress.add(self.unreported);
    }
}

/// Ends a run early from another thread (Ctrl-C), or every client of a run
/// once one of them failed: it sets a flag the publishing loops look at and
/// interrupts every connection's wait.
#[derive(Clone, Default)]
pub struct Stopper {
    inner: Arc<StopState>,
}

#[derive(Default)]
struct StopState {
    stopped: AtomicBool,
    /// Set only by [`Stopper::stop`]: the user asked.
    by_user: AtomicBool,
    interrupters: Mutex<Vec<Interrupter>>,
}

impl Stopper {
    /// Stop the run (the user asked: Ctrl-C).
    pub fn stop(&self) {
        self.inner.by_user.store(true, Ordering::SeqCst);
        self.halt();
    }

    /// True once [`stop`](Self::stop) was called.
    pub fn stopped_by_user(&self) -> bool {
        self.inner.by_user.load(Ordering::SeqCst)
    }

    /// Stop every client (a client failed, or the work is done).
    fn halt(&self) {
        // The flag first, then the interrupters under their lock: a
        // connection registered concurrently either is in the list or sees
        // the flag (see `register`).
        self.inner.stopped.store(true, Ordering::SeqCst);
        let list = self
            .inner
            .interrupters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for i in list.iter() {
            i.interrupt();
        }
    }

    fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Relaxed)
    }

    fn register(&self, conn: &Connection) {
        let i = conn.interrupter();
        let mut list = self
            .inner
            .interrupters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.inner.stopped.load(Ordering::SeqCst) {
            i.interrupt();
        }
        list.push(i);
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Every message was sent and received (every request answered).
    Complete,
    /// Some client waited [`Plan::timeout`] with nothing arriving.
    TimedOut,
    /// The user stopped the run.
    Interrupted,
    /// A request found nobody subscribed to its subject.
    NoResponders,
    /// A client failed (the first failure; the others stopped).
    Failed(ClientError),
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Publishers, or requesters: one sample each, in client order.
    pub pubs: Group,
    /// Subscribers, or responders of a `Reply` run: one sample each.
    pub subs: Group,
    /// Request round trips of every requester.
    pub latencies: Latencies,
    /// Messages (or requests) each subscriber (or requester) was to get.
    pub expected: Vec<u64>,
    /// How it ended; the samples hold what was done until then.
    pub ended: Ended,
}

/// How one client's work ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Done,
    TimedOut,
    Stopped,
    NoResponders,
    Failed(ClientError),
}

/// What one client returns.
struct Report {
    sample: Sample,
    latencies: Vec<Duration>,
    end: End,
}

/// Run `plan`. `on_ready` is called once every connection is made and
/// every subscription is in place, just before the load starts (the time to
/// tell the user that subscribers or responders are waiting).
///
/// # Errors
///
/// A connection could not be made, a subscription was refused, or the
/// message size is over the server's `max_payload`. Failures after the
/// load started are in [`Outcome::ended`] instead, with what was measured.
pub fn run(
    plan: &Plan,
    stopper: &Stopper,
    progress: &Arc<Progress>,
    on_ready: impl FnOnce(),
) -> Result<Outcome, ClientError> {
    let mut options = plan.options.clone();
    options.reconnect = false;
    let plan = Plan {
        options,
        ..plan.clone()
    };
    match plan.load {
        Load::PubSub { pubs, subs } => run_pubsub(&plan, pubs, subs, stopper, progress, on_ready),
        Load::Request {
            clients,
            responders,
        } => run_request(&plan, clients, responders, stopper, progress, on_ready),
        Load::Reply { clients } => run_reply(&plan, clients, stopper, progress, on_ready),
        Load::Churn { clients } => run_churn(&plan, clients, stopper, progress, on_ready),
    }
}

/// Connect one client and check that the server takes messages this big.
fn connect(plan: &Plan, stopper: &Stopper) -> Result<Connection, ClientError> {
    let conn = Connection::connect(plan.options.clone())?;
    if plan.size > conn.max_payload() {
        return Err(ClientError::new(
            ErrorKind::Server,
            format!(
                "messages of {} bytes are over the max_payload of {} ({} bytes)",
                plan.size,
                conn.url(),
                conn.max_payload()
            ),
        ));
    }
    stopper.register(&conn);
    Ok(conn)
}

/// Connect and subscribe, and wait until the server has the subscription.
fn subscribed(
    plan: &Plan,
    stopper: &Stopper,
    subject: &str,
    queue: Option<&str>,
) -> Result<(Connection, u64), ClientError> {
    let mut conn = connect(plan, stopper)?;
    let sid = conn.subscribe(subject, queue)?;
    conn.flush(plan.timeout)?;
    Ok((conn, sid))
}

fn spawn(
    name: String,
    work: impl FnOnce() -> Report + Send + 'static,
) -> Result<JoinHandle<Report>, ClientError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(work)
        .map_err(|e| ClientError::new(ErrorKind::Connect, format!("starting a thread: {e}")))
}

/// Wait for every client. A client whose thread died (a bug) is reported
/// as failed, not as a panic of the run.
fn join_all(handles: Vec<JoinHandle<Report>>) -> Vec<Report> {
    handles
        .into_iter()
        .map(|h| {
            h.join().unwrap_or_else(|_| {
                let now = Instant::now();
                Report {
                    sample: Sample::new(0, 0, now, now),
                    latencies: Vec::new(),
                    end: End::Failed(ClientError::new(
                        ErrorKind::Protocol,
                        "a benchmark thread panicked",
                    )),
                }
            })
        })
        .collect()
}

/// The run's end from its clients' ends: the user's Ctrl-C first, then
/// the first failure, then no responders, then a timeout.
fn ended(stopper: &Stopper, reports: &[&Report]) -> Ended {
    if stopper.stopped_by_user() {
        return Ended::Interrupted;
    }
    if let Some(e) = reports.iter().find_map(|r| match &r.end {
        End::Failed(e) => Some(e.clone()),
        _ => None,
    }) {
        return Ended::Failed(e);
    }
    if reports.iter().any(|r| r.end == End::NoResponders) {
        return Ended::NoResponders;
    }
    if reports.iter().any(|r| r.end == End::TimedOut) {
        return Ended::TimedOut;
    }
    if reports.iter().any(|r| r.end == End::Stopped) {
        // Stopped without the user or a failure: cannot happen, but a run
        // cut short must never read as complete.
        return Ended::TimedOut;
    }
    Ended::Complete
}

/// What every client of a run shares: the message size, the timeout, the
/// stopper it obeys and the progress it adds to.
#[derive(Clone)]
struct Ctx {
    size: usize,
    timeout: Duration,
    stopper: Stopper,
    progress: Arc<Progress>,
}

impl Ctx {
    fn new(plan: &Plan, stopper: &Stopper, progress: &Arc<Progress>) -> Ctx {
        Ctx {
            size: plan.size,
            timeout: plan.timeout,
            stopper: stopper.clone(),
            progress: progress.clone(),
        }
    }

    /// How a client's wait that returned nothing ended.
    fn quiet_end(&self) -> End {
        if self.stopper.is_stopped() {
            End::Stopped
        } else {
            End::TimedOut
        }
    }
}

fn run_pubsub(
    plan: &Plan,
    pubs: usize,
    subs: usize,
    stopper: &Stopper,
    progress: &Arc<Progress>,
    on_ready: impl FnOnce(),
) -> Result<Outcome, ClientError> {
    let sub_subject = if plan.subject_per_publisher {
        format!("{}.*", plan.subject)
    } else {
        plan.subject.clone()
    };
    let mut sub_conns = Vec::with_capacity(subs);
    for _ in 0..subs {
        sub_conns.push(subscribed(plan, stopper, &sub_subject, None)?);
    }
    let mut pub_conns = Vec::with_capacity(pubs);
    for _ in 0..pubs {
        pub_conns.push(connect(plan, stopper)?);
    }
    let payload: Arc<[u8]> = vec![0u8; plan.size].into();
    let ctx = Ctx::new(plan, stopper, progress);
    on_ready();

    // With publishers here, the clock of a subscriber's wait starts now;
    // without, it starts at its first message (publishers come later).
    let first_wait = (pubs > 0).then(|| Instant::now() + plan.timeout);
    let mut sub_handles = Vec::with_capacity(subs);
    for (i, (conn, sid)) in sub_conns.into_iter().enumerate() {
        let (ctx, msgs) = (ctx.clone(), plan.msgs);
        sub_handles.push(spawn(format!("bench-sub-{}", i + 1), move || {
            subscriber(conn, &ctx, sid, msgs, first_wait)
        })?);
    }
    let shares = msgs_per_client(plan.msgs, pubs);
    let barrier = Arc::new(Barrier::new(pubs));
    let mut pub_handles = Vec::with_capacity(pubs);
    for (i, (conn, count)) in pub_conns.into_iter().zip(shares).enumerate() {
        let (ctx, barrier, payload) = (ctx.clone(), barrier.clone(), payload.clone());
        let subject = if plan.subject_per_publisher {
            format!("{}.{}", plan.subject, i + 1)
        } else {
            plan.subject.clone()
        };
        pub_handles.push(spawn(format!("bench-pub-{}", i + 1), move || {
            barrier.wait();
            publisher(conn, &ctx, &subject, count, &payload)
        })?);
    }
    let pub_reports = join_all(pub_handles);
    let sub_reports = join_all(sub_handles);
    let all: Vec<&Report> = pub_reports.iter().chain(&sub_reports).collect();
    let ended = ended(stopper, &all);
    Ok(Outcome {
        pubs: Group::new(pub_reports.iter().map(|r| r.sample).collect()),
        subs: Group::new(sub_reports.iter().map(|r| r.sample).collect()),
        latencies: Latencies::default(),
        expected: vec![plan.msgs; subs],
        ended,
    })
}

fn run_request(
    plan: &Plan,
    clients: usize,
    responders: usize,
    stopper: &Stopper,
    progress: &Arc<Progress>,
    on_ready: impl FnOnce(),
) -> Result<Outcome, ClientError> {
    // Responders of this process are helpers: they are stopped (through
    // their own stopper) once the requesters are done, and not reported.
    let helpers = Ctx::new(plan, &Stopper::default(), &Arc::default());
    let mut helper_conns = Vec::with_capacity(responders);
    for _ in 0..responders {
        let conn = subscribed(plan, &helpers.stopper, &plan.subject, Some(RESPONDER_QUEUE))?;
        // Ctrl-C reaches them too.
        stopper.register(&conn.0);
        helper_conns.push(conn);
    }
    let mut rng = Rng::new();
    let mut requesters = Vec::with_capacity(clients);
    for _ in 0..clients {
        // One inbox per requester, one reply subject per request under it,
        // so that a late answer to an abandoned request is never taken for
        // the answer to the next one.
        let inbox = plan.options.inbox(&rng.nuid());
        let (conn, _) = subscribed(plan, stopper, &format!("{inbox}.*"), None)?;
        requesters.push((conn, inbox));
    }
    let payload: Arc<[u8]> = vec![0u8; plan.size].into();
    let ctx = Ctx::new(plan, stopper, progress);
    on_ready();

    let answered = Arc::new(AtomicU64::new(0));
    let mut helper_handles = Vec::with_capacity(responders);
    for (i, (conn, sid)) in helper_conns.into_iter().enumerate() {
        let (helpers, answered) = (helpers.clone(), answered.clone());
        helper_handles.push(spawn(format!("bench-responder-{}", i + 1), move || {
            responder(conn, &helpers, sid, None, &answered)
        })?);
    }
    let shares = msgs_per_client(plan.msgs, clients);
    let barrier = Arc::new(Barrier::new(clients));
    let mut handles = Vec::with_capacity(clients);
    for (i, ((conn, inbox), count)) in requesters.into_iter().zip(shares.clone()).enumerate() {
        let (ctx, barrier, payload) = (ctx.clone(), barrier.clone(), payload.clone());
        let subject = plan.subject.clone();
        handles.push(spawn(format!("bench-req-{}", i + 1), move || {
            barrier.wait();
            requester(conn, &ctx, &subject, &inbox, count, &payload)
        })?);
    }
    let reports = join_all(handles);
    helpers.stopper.halt();
    let helper_reports = join_all(helper_handles);
    let mut all: Vec<&Report> = reports.iter().collect();
    // A helper's failure matters (the requests then time out); that it was
    // stopped does not.
    all.extend(
        helper_reports
            .iter()
            .filter(|r| matches!(r.end, End::Failed(_))),
    );
    let ended = ended(stopper, &all);
    let latencies = reports.iter().flat_map(|r| r.latencies.iter().copied());
    Ok(Outcome {
        pubs: Group::new(reports.iter().map(|r| r.sample).collect()),
        subs: Group::default(),
        latencies: Latencies::new(latencies.collect()),
        expected: shares,
        ended,
    })
}

fn run_reply(
    plan: &Plan,
    clients: usize,
    stopper: &Stopper,
    progress: &Arc<Progress>,
    on_ready: impl FnOnce(),
) -> Result<Outcome, ClientError> {
    // The responders stop one another (when the last request is answered,
    // or one of them gave up) through a stopper of their own, so that this
    // does not read as a Ctrl-C; Ctrl-C reaches them through `stopper`.
    let ctx = Ctx::new(plan, &Stopper::default(), progress);
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        let conn = subscribed(plan, &ctx.stopper, &plan.subject, Some(RESPONDER_QUEUE))?;
        stopper.register(&conn.0);
        conns.push(conn);
    }
    on_ready();
    let answered = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::with_capacity(clients);
    for (i, (conn, sid)) in conns.into_iter().enumerate() {
        let (ctx, answered, msgs) = (ctx.clone(), answered.clone(), plan.msgs);
        handles.push(spawn(format!("bench-responder-{}", i + 1), move || {
            let report = responder(conn, &ctx, sid, Some(msgs), &answered);
            if report.end != End::Done {
                ctx.stopper.halt();
            }
            report
        })?);
    }
    let reports = join_all(handles);
    let complete = answered.load(Ordering::SeqCst) >= plan.msgs;
    let all: Vec<&Report> = reports.iter().collect();
    let ended = match ended(stopper, &all) {
        // The others were stopped because the work was done.
        Ended::TimedOut if complete => Ended::Complete,
        other => other,
    };
    Ok(Outcome {
        pubs: Group::default(),
        subs: Group::new(reports.iter().map(|r| r.sample).collect()),
        latencies: Latencies::default(),
        expected: vec![plan.msgs],
        ended,
    })
}

fn run_churn(
    plan: &Plan,
    clients: usize,
    stopper: &Stopper,
    progress: &Arc<Progress>,
    on_ready: impl FnOnce(),
) -> Result<Outcome, ClientError> {
    // One connection first, so that a server that is not there (or refuses
    // us) is an error before the run, as in the other modes.
    let mut probe = connect(plan, stopper)?;
    probe.close();
    let ctx = Ctx::new(plan, stopper, progress);
    on_ready();
    let shares = msgs_per_client(plan.msgs, clients);
    let barrier = Arc::new(Barrier::new(clients));
    let mut handles = Vec::with_capacity(clients);
    for (i, count) in shares.iter().copied().enumerate() {
        let (ctx, barrier, options) = (ctx.clone(), barrier.clone(), plan.options.clone());
        handles.push(spawn(format!("bench-churn-{}", i + 1), move || {
            barrier.wait();
            churner(&options, &ctx, count)
        })?);
    }
    let reports = join_all(handles);
    let all: Vec<&Report> = reports.iter().collect();
    let ended = ended(stopper, &all);
    let latencies = reports.iter().flat_map(|r| r.latencies.iter().copied());
    Ok(Outcome {
        pubs: Group::new(reports.iter().map(|r| r.sample).collect()),
        subs: Group::default(),
        latencies: Latencies::new(latencies.collect()),
        expected: shares,
        ended,
    })
}

/// Connect and close `count` times, one after the other, timing each
/// connect from the dial to the server's PONG.
fn churner(options: &Options, ctx: &Ctx, count: u64) -> Report {
    let mut latencies = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 24));
    let mut ticker = Ticker::new(&ctx.progress);
    let start = Instant::now();
    let mut end = End::Done;
    for _ in 0..count {
        if ctx.stopper.is_stopped() {
            end = End::Stopped;
            break;
        }
        let dialed = Instant::now();
        match Connection::connect(options.clone()) {
            Ok(mut conn) => {
                latencies.push(dialed.elapsed());
                ticker.tick();
                conn.close();
            }
            Err(e) => {
                ctx.stopper.halt();
                end = End::Failed(e);
                break;
            }
        }
    }
    drop(ticker);
    Report {
        sample: Sample::new(latencies.len() as u64, 0, start, Instant::now()),
        latencies,
        end,
    }
}

/// Publish `count` messages, then flush: the sample ends once the server
/// has confirmed it processed them all.
fn publisher(mut conn: Connection, ctx: &Ctx, subject: &str, count: u64, payload: &[u8]) -> Report {
    let start = Instant::now();
    let mut ticker = Ticker::new(&ctx.progress);
    let mut sent = 0u64;
    let mut end = End::Done;
    while sent < count {
        if sent % PROGRESS_STEP == 0 && ctx.stopper.is_stopped() {
            end = End::Stopped;
            break;
        }
        if let Err(e) = conn.publish(subject, None, None, payload) {
            end = End::Failed(e);
            break;
        }
        sent += 1;
        ticker.tick();
    }
    if end == End::Done {
        if let Err(e) = conn.flush(ctx.timeout) {
            end = End::Failed(e);
        }
    }
    let finish = Instant::now();
    if matches!(end, End::Failed(_)) {
        ctx.stopper.halt();
    }
    conn.close();
    Report {
        sample: Sample::new(sent, payload.len(), start, finish),
        latencies: Vec::new(),
        end,
    }
}

/// Count the messages of subscription `sid` until `expect` have arrived,
/// or nothing arrived for the timeout (the first wait ends at `first_wait`,
/// or never).
fn subscriber(
    mut conn: Connection,
    ctx: &Ctx,
    sid: u64,
    expect: u64,
    first_wait: Option<Instant>,
) -> Report {
    let mut ticker = Ticker::new(&ctx.progress);
    let mut got = 0u64;
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    let mut deadline = first_wait;
    let mut end = End::Done;
    while got < expect {
        match conn.next(deadline) {
            Ok(Some(Incoming::Msg(m))) if m.sid == sid => {
                let now = Instant::now();
                got += 1;
                ticker.tick();
                first.get_or_insert(now);
                last = Some(now);
                deadline = Some(now + ctx.timeout);
            }
            Ok(Some(Incoming::Interrupted)) => {
                end = End::Stopped;
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                end = ctx.quiet_end();
                break;
            }
            Err(e) => {
                ctx.stopper.halt();
                end = End::Failed(e);
                break;
            }
        }
    }
    drop(ticker);
    conn.close();
    let now = Instant::now();
    Report {
        sample: Sample::new(got, ctx.size, first.unwrap_or(now), last.unwrap_or(now)),
        latencies: Vec::new(),
        end,
    }
}

/// Send `count` requests one after the other, each to its own reply
/// subject under `inbox`, and time every round trip.
fn requester(
    mut conn: Connection,
    ctx: &Ctx,
    subject: &str,
    inbox: &str,
    count: u64,
    payload: &[u8],
) -> Report {
    let mut latencies = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 24));
    let start = Instant::now();
    let mut end = End::Done;
    let mut reply = String::with_capacity(inbox.len() + 21);
    'requests: for i in 0..count {
        if ctx.stopper.is_stopped() {
            end = End::Stopped;
            break;
        }
        reply.clear();
        reply.push_str(inbox);
        reply.push('.');
        reply.push_str(itoa::Buffer::new().format(i));
        let sent_at = Instant::now();
        let sent = conn
            .publish(subject, Some(&reply), None, payload)
            .and_then(|()| conn.send_buffered());
        if let Err(e) = sent {
            end = End::Failed(e);
            break;
        }
        let deadline = sent_at + ctx.timeout;
        loop {
            match conn.next(Some(deadline)) {
                Ok(Some(Incoming::Msg(m))) if m.subject == reply => {
                    if m.is_no_responders() {
                        end = End::NoResponders;
                        break 'requests;
                    }
                    latencies.push(sent_at.elapsed());
                    ctx.progress.add(1);
                    break;
                }
                Ok(Some(Incoming::Interrupted)) => {
                    end = End::Stopped;
                    break 'requests;
                }
                // A late answer to an earlier request, or nothing of ours.
                Ok(Some(_)) => {}
                Ok(None) => {
                    end = ctx.quiet_end();
                    break 'requests;
                }
                Err(e) => {
                    end = End::Failed(e);
                    break 'requests;
                }
            }
        }
    }
    if matches!(end, End::Failed(_) | End::NoResponders) {
        ctx.stopper.halt();
    }
    let finish = Instant::now();
    conn.close();
    Report {
        sample: Sample::new(latencies.len() as u64, payload.len(), start, finish),
        latencies,
        end,
    }
}

/// Echo every request's payload to its reply subject. Replies are written
/// as soon as no other request is waiting, so that a lone request is not
/// delayed and a burst is answered in few writes. Ends when `answered`
/// (shared by the responders) reaches `limit`, when stopped, or (only with
/// a limit) when no request arrived for the timeout after the first one.
fn responder(
    mut conn: Connection,
    ctx: &Ctx,
    sid: u64,
    limit: Option<u64>,
    answered: &AtomicU64,
) -> Report {
    let mut ticker = Ticker::new(&ctx.progress);
    let mut mine = 0u64;
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    let mut idle_deadline: Option<Instant> = None;
    let mut unsent = false;
    let mut end = End::Done;
    loop {
        // With replies not yet written, only take what has already arrived.
        let deadline = if unsent {
            Some(Instant::now())
        } else {
            idle_deadline
        };
        match conn.next(deadline) {
            Ok(Some(Incoming::Msg(m))) if m.sid == sid => {
                let Some(reply) = m.reply.as_deref() else {
                    continue;
                };
                if let Err(e) = conn.publish(reply, None, None, &m.payload) {
                    end = End::Failed(e);
                    break;
                }
                unsent = true;
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
                if limit.is_some() {
                    idle_deadline = Some(now + ctx.timeout);
                }
                mine += 1;
                ticker.tick();
                let total = answered.fetch_add(1, Ordering::SeqCst) + 1;
                if limit.is_some_and(|l| total >= l) {
                    ctx.stopper.halt();
                    break;
                }
            }
            Ok(Some(Incoming::Interrupted)) => {
                end = End::Stopped;
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) if unsent => {
                if let Err(e) = conn.send_buffered() {
                    end = End::Failed(e);
                    break;
                }
                unsent = false;
            }
            Ok(None) => {
                end = ctx.quiet_end();
                break;
            }
            Err(e) => {
                end = End::Failed(e);
                break;
            }
        }
    }
    // The server must have the last replies before the connection goes.
    if !matches!(end, End::Failed(_)) {
        if let Err(e) = conn.flush(ctx.timeout) {
            end = End::Failed(e);
        }
    }
    drop(ticker);
    conn.close();
    let now = Instant::now();
    Report {
        sample: Sample::new(mine, ctx.size, first.unwrap_or(now), last.unwrap_or(now)),
        latencies: Vec::new(),
        end,
    }
}
