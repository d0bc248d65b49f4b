//! The official `async-nats` client against the server: connect, pub/sub,
//! flush, wildcards, request/reply, no responders, headers, queue groups,
//! auto-unsubscribe, auth, and interop with a raw-protocol client.
//!
//! Every await that waits on the server is bounded by `IO_TIMEOUT`.

use std::future::Future;

use futures::stream::{self, StreamExt};
use futures::FutureExt;

use crate::util::{ServerProcess, IO_TIMEOUT};

/// Await `f`, failing the test after `IO_TIMEOUT`.
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(IO_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out after {IO_TIMEOUT:?}"))
}

async fn connect(server: &ServerProcess) -> async_nats::Client {
    within(
        "connect",
        async_nats::ConnectOptions::new()
            .request_timeout(Some(IO_TIMEOUT))
            .connection_timeout(IO_TIMEOUT)
            .connect(server.url()),
    )
    .await
    .expect("connect")
}

/// A round trip through the server on `client`'s connection: a message to a
/// probe subscription of its own comes back, so everything it sent before
/// (a SUB above all) has been processed. async-nats' `flush()` only writes
/// the socket (no PING/PONG), so it cannot tell that another connection may
/// now publish to a subscription. Not for a `no_echo` client.
async fn synced(client: &async_nats::Client) {
    let inbox = client.new_inbox();
    let mut probe = client.subscribe(inbox.clone()).await.unwrap();
    client.publish(inbox, "sync".into()).await.unwrap();
    within("flush", client.flush()).await.unwrap();
    within("round trip", probe.next())
        .await
        .expect("probe subscription ended");
    probe.unsubscribe().await.unwrap();
}

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    within("next message", sub.next())
        .await
        .expect("subscription ended")
}

#[tokio::test]
async fn async_connect_and_server_info() {
    let server = ServerProcess::start_selected(&[]);
    let client = connect(&server).await;
    let info = client.server_info();
    assert_eq!(info.server_id.len(), 56);
    assert!(info.server_id.starts_with('N'));
    assert_eq!(info.proto, 1);
    assert!(info.headers);
    assert_eq!(info.max_payload, 1048576);
    assert_eq!(info.port, server.addr.port());
    assert!(!info.auth_required);
    assert_eq!(client.max_payload(), 1048576);
    within("flush", client.flush()).await.expect("flush");
}

#[tokio::test]
async fn async_pub_sub_in_order() {
    let server = ServerProcess::start_selected(&[]);
    let client = connect(&server).await;
    let mut sub = client.subscribe("orders.new").await.unwrap();
    synced(&client).await;
    let publisher = connect(&server).await;
    for i in 0..100 {
        publisher
            .publish("orders.new", format!("order {i}").into())
            .await
            .unwrap();
    }
    within("flush", publisher.flush()).await.unwrap();
    for i in 0..100 {
        let msg = next(&mut sub).await;
        assert_eq!(msg.subject.as_str(), "orders.new");
        assert_eq!(msg.payload, format!("order {i}"));
        assert!(msg.reply.is_none());
    }
}

#[tokio::test]
async fn async_wildcards() {
    let server = ServerProcess::start_selected(&[]);
    let client = connect(&server).await;
    let mut one = client.subscribe("w.*").await.unwrap();
    let mut tail = client.subscribe("w.>").await.unwrap();
    within("flush", client.flush()).await.unwrap();
    for subject in ["w", "w.a", "w.a.b"] {
        client.publish(subject, subject.into()).await.unwrap();
    }
    within("flush", client.flush()).await.unwrap();
    assert_eq!(next(&mut one).await.subject.as_str(), "w.a");
    assert_eq!(next(&mut tail).await.subject.as_str(), "w.a");
    assert_eq!(next(&mut tail).await.subject.as_str(), "w.a.b");
    // Everything the server sent precedes the flush's PONG.
    within("flush", client.flush()).await.unwrap();
    assert!(one.next().now_or_never().is_none(), "w.* got more");
    assert!(tail.next().now_or_never().is_none(), "w.> got more");
}

#[tokio::test]
async fn async_request_reply() {
    let server = ServerProcess::start_selected(&[]);
    let responder = connect(&server).await;
    let mut requests = responder.subscribe("svc.upper").await.unwrap();
    synced(&responder).await;
    let service = tokio::spawn(async move {
        for _ in 0..3 {
            let req = requests.next().await.expect("request");
            let reply = req.reply.expect("request has a reply subject");
            let body = String::from_utf8_lossy(&req.payload).to_uppercase();
            responder.publish(reply, body.into()).await.unwrap();
        }
        responder.flush().await.unwrap();
    });
    let client = connect(&server).await;
    for word in ["one", "two", "three"] {
        let resp = within("request", client.request("svc.upper", word.into()))
            .await
            .expect("request");
        assert_eq!(resp.payload, word.to_uppercase());
    }
    within("service", service).await.unwrap();
}

/// A request to a subject with no subscribers fails at once with
/// NoResponders (the server's 503), not a timeout.
#[tokio::test]
async fn async_no_responders() {
    let server = ServerProcess::start_selected(&[]);
    let client = connect(&server).await;
    let started = std::time::Instant::now();
    let err = within("request", client.request("nobody.here", "x".into()))
        .await
        .expect_err("no responders");
    assert_eq!(
        err.kind(),
        async_nats::RequestErrorKind::NoResponders,
        "{err}"
    );
    assert!(
        started.elapsed() < IO_TIMEOUT / 2,
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn async_headers() {
    let server = ServerProcess::start_selected(&[]);
    let client = connect(&server).await;
    let mut sub = client.subscribe("hdr").await.unwrap();
    synced(&client).await;
    // A raw subscriber without header support gets the payload only.
    let mut raw = server.client(r#"{"verbose":false}"#);
    raw.send("SUB hdr 1\r\n");
    raw.flush();

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("X-Trace", "abc123");
    headers.insert("X-Multi", "v1");
    headers.append("X-Multi", "v2");
    client
        .publish_with_headers("hdr", headers, "body".into())
        .await
        .unwrap();
    within("flush", client.flush()).await.unwrap();
    let msg = next(&mut sub).await;
    assert_eq!(msg.payload, "body");
    let got = msg.headers.expect("headers");
    assert_eq!(got.get("X-Trace").map(|v| v.as_str()), Some("abc123"));
    let multi: Vec<&str> = got.get_all("X-Multi").map(|v| v.as_str()).collect();
    assert_eq!(multi, ["v1", "v2"]);
    assert_eq!(raw.read_msg(), ("MSG hdr 1 4".into(), b"body".to_vec()));
}

/// Each message goes to exactly one member of a queue group, and all
/// members get a share.
#[tokio::test]
async fn async_queue_groups() {
    const N: usize = 300;
    let server = ServerProcess::start_selected(&[]);
    let mut clients = Vec::new();
    let mut members = Vec::new();
    for _ in 0..3 {
        let c = connect(&server).await;
        members.push(c.queue_subscribe("jobs", "workers".into()).await.unwrap());
        synced(&c).await;
        clients.push(c);
    }
    let publisher = connect(&server).await;
    for i in 0..N {
        publisher
            .publish("jobs", i.to_string().into())
            .await
            .unwrap();
    }
    within("flush", publisher.flush()).await.unwrap();

    let mut merged = stream::select_all(
        members
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.map(move |m| (i, m))),
    );
    let mut counts = [0usize; 3];
    let mut seen = std::collections::HashSet::new();
    for _ in 0..N {
        let (i, msg) = within("queue message", merged.next()).await.unwrap();
        counts[i] += 1;
        let n = String::from_utf8_lossy(&msg.payload).to_string();
        assert!(seen.insert(n.clone()), "message {n} delivered twice");
    }
    for c in &clients {
        within("flush", c.flush()).await.unwrap();
    }
    assert!(merged.next().now_or_never().is_none(), "extra deliveries");
    assert!(counts.iter().all(|&n| n > 0), "shares: {counts:?}");
}

#[tokio::test]
async fn async_unsubscribe_after() {
    let server = ServerProcess::start_selected(&[]);
    let client = connect(&server).await;
    let mut sub = client.subscribe("limited").await.unwrap();
    sub.unsubscribe_after(2).await.unwrap();
    within("flush", client.flush()).await.unwrap();
    for i in 0..5 {
        client
            .publish("limited", i.to_string().into())
            .await
            .unwrap();
    }
    within("flush", client.flush()).await.unwrap();
    assert_eq!(next(&mut sub).await.payload, "0");
    assert_eq!(next(&mut sub).await.payload, "1");
    // The client ends the subscription after its max.
    assert!(within("end", sub.next()).await.is_none());
}

/// async-nats and a raw client see each other's messages.
#[tokio::test]
async fn async_interop_with_raw_client() {
    let server = ServerProcess::start_selected(&[]);
    let client = connect(&server).await;
    let mut sub = client.subscribe("mix.to_async").await.unwrap();
    synced(&client).await;
    let mut raw = server.client(r#"{"verbose":false}"#);
    raw.send("SUB mix.to_raw 1\r\nPUB mix.to_async r.1 5\r\nhello\r\n");
    raw.flush();
    let msg = next(&mut sub).await;
    assert_eq!(msg.payload, "hello");
    assert_eq!(msg.reply.as_ref().map(|r| r.as_str()), Some("r.1"));
    client
        .publish_with_reply("mix.to_raw", "r.2", "world".into())
        .await
        .unwrap();
    within("flush", client.flush()).await.unwrap();
    assert_eq!(
        raw.read_msg(),
        ("MSG mix.to_raw 1 r.2 5".into(), b"world".to_vec())
    );
}

#[tokio::test]
async fn async_auth_user_pass() {
    let server = ServerProcess::start_selected(&["--user", "u", "--pass", "p"]);
    let good = within(
        "connect",
        async_nats::ConnectOptions::with_user_and_password("u".into(), "p".into())
            .connect(server.url()),
    )
    .await
    .expect("good credentials");
    assert!(good.server_info().auth_required);
    within("flush", good.flush()).await.unwrap();
    let bad = within(
        "connect",
        async_nats::ConnectOptions::with_user_and_password("u".into(), "nope".into())
            .connect(server.url()),
    )
    .await;
    assert!(bad.is_err(), "bad credentials accepted");
}

#[tokio::test]
async fn async_auth_token() {
    let server = ServerProcess::start_selected(&["--auth", "tok"]);
    let good = within(
        "connect",
        async_nats::ConnectOptions::with_token("tok".into()).connect(server.url()),
    )
    .await
    .expect("good token");
    within("flush", good.flush()).await.unwrap();
    let bad = within(
        "connect",
        async_nats::ConnectOptions::with_token("bad".into()).connect(server.url()),
    )
    .await;
    assert!(bad.is_err(), "bad token accepted");
}

#[tokio::test]
async fn async_echo_off() {
    let server = ServerProcess::start_selected(&[]);
    let client = within(
        "connect",
        async_nats::ConnectOptions::new()
            .no_echo()
            .connect(server.url()),
    )
    .await
    .unwrap();
    let mut sub = client.subscribe("echo").await.unwrap();
    client.publish("echo", "mine".into()).await.unwrap();
    within("flush", client.flush()).await.unwrap();
    assert!(sub.next().now_or_never().is_none(), "own message echoed");
    let other = connect(&server).await;
    other.publish("echo", "theirs".into()).await.unwrap();
    within("flush", other.flush()).await.unwrap();
    assert_eq!(next(&mut sub).await.payload, "theirs");
}
