//! The matrix program for async-nats (run inside the test process): the
//! scenarios of `tests/clients/README.md`, reporting `ok`/`fail`/`ready`
//! lines on a channel instead of stdout, and waiting for `go` on another.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use async_nats::{ConnectOptions, Event, HeaderMap};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;

/// Deadline of one step that waits on the server.
const STEP: Duration = Duration::from_secs(5);

type Res = Result<(), String>;

/// Run `group` with the servers `env` describes; each line goes to `out`.
pub fn run(
    group: &str,
    env: &HashMap<String, String>,
    out: mpsc::Sender<String>,
    go: UnboundedReceiver<()>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut p = Program {
        env: env.clone(),
        out,
        go,
    };
    rt.block_on(p.group(group));
}

struct Program {
    env: HashMap<String, String>,
    out: mpsc::Sender<String>,
    go: UnboundedReceiver<()>,
}

async fn within<F: Future>(what: &str, f: F) -> Result<F::Output, String> {
    tokio::time::timeout(STEP, f)
        .await
        .map_err(|_| format!("{what}: timed out after {STEP:?}"))
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl Program {
    fn var(&self, name: &str) -> String {
        self.env.get(name).cloned().unwrap_or_default()
    }

    fn say(&self, line: String) {
        let _ = self.out.send(line);
    }

    fn report(&self, scenario: &str, r: Res) {
        match r {
            Ok(()) => self.say(format!("ok {scenario}")),
            Err(e) => self.say(format!("fail {scenario} {}", e.replace('\n', " "))),
        }
    }

    /// Print `ready WHAT` and wait for the harness's `go`.
    async fn ready(&mut self, what: &str) -> Res {
        self.say(format!("ready {what}"));
        tokio::time::timeout(Duration::from_secs(30), self.go.recv())
            .await
            .map_err(|_| format!("no go after ready {what}"))?
            .ok_or_else(|| "the harness went away".to_string())
    }

    fn options(&self) -> ConnectOptions {
        ConnectOptions::new()
            .connection_timeout(STEP)
            .request_timeout(Some(STEP))
            .reconnect_delay_callback(|_| Duration::from_millis(100))
    }

    async fn connect(&self, opts: ConnectOptions) -> Result<async_nats::Client, String> {
        within("connect", opts.connect(self.var("NATS_URL")))
            .await?
            .map_err(|e| err("connect", e))
    }

    async fn group(&mut self, group: &str) {
        match group {
            "basic" => {
                let client = match self.connect(self.options()).await {
                    Ok(c) => c,
                    Err(e) => {
                        for s in [
                            "connect_plain",
                            "pubsub_wildcards",
                            "queue_group",
                            "request_reply",
                            "no_responders",
                            "headers",
                            "flush_drain",
                        ] {
                            self.report(s, Err(e.clone()));
                        }
                        return;
                    }
                };
                self.report("connect_plain", flush(&client).await);
                self.report("pubsub_wildcards", pubsub_wildcards(&client).await);
                self.report("queue_group", queue_group(&client).await);
                self.report("request_reply", request_reply(&client).await);
                self.report("no_responders", no_responders(&client).await);
                self.report("headers", headers(&client).await);
                let r = self.flush_drain().await;
                self.report("flush_drain", r);
            }
            "user" => {
                let opts = self
                    .options()
                    .user_and_password(self.var("NATS_USER"), self.var("NATS_PASSWORD"));
                let r = self.connect_and_flush(opts).await;
                self.report("connect_user", r);
            }
            "token" => {
                let opts = self.options().token(self.var("NATS_TOKEN"));
                let r = self.connect_and_flush(opts).await;
                self.report("connect_token", r);
            }
            "tls" => {
                let opts = self
                    .options()
                    .require_tls(true)
                    .add_root_certificates(PathBuf::from(self.var("NATS_CA")));
                let r = self.connect_and_flush(opts).await;
                self.report("connect_tls", r);
            }
            "tls_cert" => {
                let opts = self
                    .options()
                    .require_tls(true)
                    .add_root_certificates(PathBuf::from(self.var("NATS_CA")))
                    .add_client_certificate(
                        PathBuf::from(self.var("NATS_CERT")),
                        PathBuf::from(self.var("NATS_KEY")),
                    );
                let r = self.connect_and_flush(opts).await;
                self.report("connect_tls_cert", r);
            }
            "max_payload" => {
                let r = self.max_payload().await;
                self.report("max_payload", r);
            }
            "reconnect" => {
                let r = self.reconnect().await;
                self.report("reconnect", r);
            }
            "discovery" => {
                let r = self.discovery().await;
                self.report("discovery", r);
            }
            "lame_duck" => {
                let r = self.lame_duck().await;
                self.report("lame_duck", r);
            }
            other => self.say(format!("unknown group {other}")),
        }
    }

    async fn connect_and_flush(&self, opts: ConnectOptions) -> Res {
        let client = self.connect(opts).await?;
        flush(&client).await
    }

    async fn flush_drain(&self) -> Res {
        let client = self.connect(self.options()).await?;
        let mut sub = client
            .subscribe("matrix.drain")
            .await
            .map_err(|e| err("subscribe", e))?;
        flush(&client).await?;
        for i in 0..50 {
            client
                .publish("matrix.drain", format!("m{i}").into())
                .await
                .map_err(|e| err("publish", e))?;
        }
        // async-nats 0.51's flush() waits for the socket write, not for a
        // PONG, and drain() ends a subscription with what has been read so
        // far; so the round trip is made here: a message on a second
        // subject, sent after the 50, comes back after them.
        let mut sync = client
            .subscribe("matrix.drain.sync")
            .await
            .map_err(|e| err("subscribe", e))?;
        client
            .publish("matrix.drain.sync", "sync".into())
            .await
            .map_err(|e| err("publish", e))?;
        within("round trip", sync.next()).await?;
        client.drain().await.map_err(|e| err("drain", e))?;
        let mut n = 0;
        while let Some(m) = within("drained subscription's end", sub.next()).await? {
            if m.payload != format!("m{n}") {
                return Err(format!("message {n} is {:?}", m.payload));
            }
            n += 1;
        }
        if n != 50 {
            return Err(format!("{n} of 50 messages before the drain ended"));
        }
        Ok(())
    }

    async fn max_payload(&self) -> Res {
        let client = self.connect(self.options()).await?;
        let want: usize = self.var("NATS_MAX_PAYLOAD").parse().unwrap_or(0);
        if client.max_payload() != want {
            return Err(format!(
                "client sees max_payload {}, the server sets {want}",
                client.max_payload()
            ));
        }
        match client
            .publish("matrix.big", vec![b'x'; want * 2].into())
            .await
        {
            Err(e) if e.kind() == async_nats::client::PublishErrorKind::MaxPayloadExceeded => {
                flush(&client).await
            }
            Err(e) => Err(err("oversized publish failed otherwise", e)),
            Ok(()) => Err("an oversized publish was accepted".into()),
        }
    }

    async fn reconnect(&mut self) -> Res {
        let client = self.connect(self.options().max_reconnects(None)).await?;
        let mut sub = client
            .subscribe("matrix.reconnect")
            .await
            .map_err(|e| err("subscribe", e))?;
        flush(&client).await?;
        self.ready("restart").await?;
        round_trip_until(&client, &mut sub, "matrix.reconnect").await
    }

    async fn discovery(&mut self) -> Res {
        let client = self.connect(self.options().max_reconnects(None)).await?;
        let want = self.var("NATS_DISCOVER");
        let urls = client.server_info().connect_urls;
        if !urls.iter().any(|u| u.ends_with(&want)) {
            return Err(format!("connect_urls {urls:?} lack {want}"));
        }
        let mut sub = client
            .subscribe("matrix.discovery")
            .await
            .map_err(|e| err("subscribe", e))?;
        flush(&client).await?;
        self.ready("kill").await?;
        round_trip_until(&client, &mut sub, "matrix.discovery").await?;
        let port = client.server_info().port;
        if !want.ends_with(&format!(":{port}")) {
            return Err(format!("reconnected to port {port}, not {want}"));
        }
        Ok(())
    }

    async fn lame_duck(&mut self) -> Res {
        let seen = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let flag = seen.clone();
        let opts = self.options().event_callback(move |event| {
            let flag = flag.clone();
            let tx = tx.clone();
            async move {
                if matches!(event, Event::LameDuckMode) {
                    flag.store(true, Ordering::SeqCst);
                    let _ = tx.send(());
                }
            }
        });
        let client = self.connect(opts).await?;
        flush(&client).await?;
        self.ready("ldm").await?;
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .map_err(|_| "no lame duck event within 10 s".to_string())?;
        if !seen.load(Ordering::SeqCst) {
            return Err("no lame duck event".into());
        }
        Ok(())
    }
}

async fn flush(client: &async_nats::Client) -> Res {
    within("flush", client.flush())
        .await?
        .map_err(|e| err("flush", e))
}

/// Publish on `subject` until `sub` receives it (the connection comes
/// back after a restart); 10 s at most.
async fn round_trip_until(
    client: &async_nats::Client,
    sub: &mut async_nats::Subscriber,
    subject: &str,
) -> Res {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let _ = client.publish(subject.to_string(), "back".into()).await;
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(250), sub.next()).await {
            if m.payload == "back" {
                return Ok(());
            }
        }
    }
    Err("no message came back within 10 s of the server's restart".into())
}

async fn pubsub_wildcards(client: &async_nats::Client) -> Res {
    let mut star = client
        .subscribe("matrix.*")
        .await
        .map_err(|e| err("subscribe", e))?;
    let mut gt = client
        .subscribe("matrix.>")
        .await
        .map_err(|e| err("subscribe", e))?;
    flush(client).await?;
    for s in ["matrix.a", "matrix.a.b", "matrix.end"] {
        client
            .publish(s, "x".into())
            .await
            .map_err(|e| err("publish", e))?;
    }
    flush(client).await?;
    for (sub, want) in [
        (&mut star, vec!["matrix.a", "matrix.end"]),
        (&mut gt, vec!["matrix.a", "matrix.a.b", "matrix.end"]),
    ] {
        let mut got = Vec::new();
        while got.last().map(String::as_str) != Some("matrix.end") {
            let m = within("wildcard message", sub.next())
                .await?
                .ok_or("subscription ended")?;
            got.push(m.subject.to_string());
        }
        if got != want {
            return Err(format!("got {got:?}, want {want:?}"));
        }
    }
    Ok(())
}

async fn queue_group(client: &async_nats::Client) -> Res {
    let mut a = client
        .queue_subscribe("matrix.q", "workers".into())
        .await
        .map_err(|e| err("queue_subscribe", e))?;
    let mut b = client
        .queue_subscribe("matrix.q", "workers".into())
        .await
        .map_err(|e| err("queue_subscribe", e))?;
    flush(client).await?;
    for i in 0..100 {
        client
            .publish("matrix.q", format!("{i}").into())
            .await
            .map_err(|e| err("publish", e))?;
    }
    flush(client).await?;
    let (mut na, mut nb) = (0, 0);
    while na + nb < 100 {
        tokio::select! {
            m = a.next() => { m.ok_or("subscription ended")?; na += 1; }
            m = b.next() => { m.ok_or("subscription ended")?; nb += 1; }
            _ = tokio::time::sleep(STEP) => {
                return Err(format!("only {} of 100 messages ({na} + {nb})", na + nb));
            }
        }
    }
    if na == 0 || nb == 0 {
        return Err(format!("not shared: {na} + {nb}"));
    }
    Ok(())
}

async fn request_reply(client: &async_nats::Client) -> Res {
    let mut service = client
        .subscribe("matrix.service")
        .await
        .map_err(|e| err("subscribe", e))?;
    flush(client).await?;
    let responder = client.clone();
    let task = tokio::spawn(async move {
        if let Some(m) = service.next().await {
            let mut body = b"re:".to_vec();
            body.extend_from_slice(&m.payload);
            let _ = responder.publish(m.reply.unwrap(), body.into()).await;
        }
    });
    let reply = within("request", client.request("matrix.service", "ping".into()))
        .await?
        .map_err(|e| err("request", e))?;
    task.abort();
    if reply.payload != "re:ping" {
        return Err(format!("reply {:?}", reply.payload));
    }
    Ok(())
}

async fn no_responders(client: &async_nats::Client) -> Res {
    match within("request", client.request("nobody.home", "x".into())).await? {
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(()),
        Err(e) => Err(err("not a no-responders error", e)),
        Ok(m) => Err(format!("a reply: {m:?}")),
    }
}

async fn headers(client: &async_nats::Client) -> Res {
    let mut sub = client
        .subscribe("matrix.headers")
        .await
        .map_err(|e| err("subscribe", e))?;
    flush(client).await?;
    let mut h = HeaderMap::new();
    h.insert("X-Matrix", "one");
    h.insert("X-Other", "two words");
    client
        .publish_with_headers("matrix.headers", h, "body".into())
        .await
        .map_err(|e| err("publish", e))?;
    let m = within("message", sub.next())
        .await?
        .ok_or("subscription ended")?;
    let h = m.headers.ok_or("no headers")?;
    let one = h.get("X-Matrix").map(|v| v.as_str().to_string());
    let two = h.get("X-Other").map(|v| v.as_str().to_string());
    if one.as_deref() != Some("one") || two.as_deref() != Some("two words") || m.payload != "body" {
        return Err(format!("got {one:?} {two:?} {:?}", m.payload));
    }
    Ok(())
}
