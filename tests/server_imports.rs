//! Account exports and imports from the config file: a stream import (with
//! a prefix) delivers an exporting account's messages in the importing
//! account, a service import carries requests over and the reply back, an
//! export limited to some accounts, and the start-up error for an import
//! nothing exports. Raw clients; checked against nats-server with
//! `NATS_TEST_REFERENCE=1`.

use crate::config_support::{output_text, run_selected, start_with_conf, ConfDir};
use crate::util::{RawClient, ServerProcess, IO_TIMEOUT};

const CONF: &str = r#"
accounts: {
  A: {
    users: [ {user: a, password: a} ]
    exports: [ {stream: "e.>"}, {service: "svc.>"}, {stream: "priv.>", accounts: [C]} ]
  }
  B: {
    users: [ {user: b, password: b} ]
    imports: [
      {stream: {account: A, subject: "e.>"}, prefix: "from_a"}
      {service: {account: A, subject: "svc.time"}, to: "time"}
    ]
  }
  C: {
    users: [ {user: c, password: c} ]
    imports: [ {stream: {account: A, subject: "priv.>"}} ]
  }
}
"#;

fn login(server: &ServerProcess, user: &str) -> RawClient {
    let mut c = server
        .client(&serde_json::json!({"verbose": false, "user": user, "pass": user}).to_string());
    c.send("PING\r\n");
    assert_eq!(c.read_line(), "PONG");
    c
}

#[test]
fn stream_imports_deliver_across_accounts() {
    let dir = ConfDir::new("imports-stream");
    let server = start_with_conf(&dir, CONF, &[]);
    let mut a = login(&server, "a");
    let mut b = login(&server, "b");
    let mut c = login(&server, "c");
    b.send("SUB > 1\r\n");
    c.send("SUB > 1\r\n");
    assert!(b.flush().is_empty() && c.flush().is_empty());
    a.send("PUB e.x 5\r\nhello\r\nPUB priv.y 6\r\nsecret\r\nPUB other 1\r\nx\r\n");
    assert!(a.flush().is_empty());
    assert_eq!(b.flush(), ["MSG from_a.e.x 1 5", "hello"]);
    assert_eq!(c.flush(), ["MSG priv.y 1 6", "secret"]);
    // B's own messages stay in B.
    b.send("PUB e.z 1\r\nb\r\n");
    assert_eq!(b.flush(), ["MSG e.z 1 1", "b"]);
    assert!(c.flush().is_empty());
}

#[test]
fn service_imports_carry_the_request_and_one_reply() {
    let dir = ConfDir::new("imports-service");
    let server = start_with_conf(&dir, CONF, &[]);
    let mut a = login(&server, "a");
    a.send("SUB svc.time 1\r\n");
    assert!(a.flush().is_empty());
    let mut b = login(&server, "b");
    b.send("SUB _INBOX.b1 9\r\nPUB time _INBOX.b1 2\r\nq?\r\n");
    assert!(b.flush().is_empty());
    let (head, body) = a.read_msg();
    assert_eq!(body, b"q?");
    let parts: Vec<&str> = head.split(' ').collect();
    assert_eq!(&parts[..3], ["MSG", "svc.time", "1"], "{head}");
    let reply = parts[3];
    assert!(reply.starts_with("_R_."), "{head}");
    a.send(format!("PUB {reply} 2\r\nt1\r\nPUB {reply} 2\r\nt2\r\n"));
    assert!(a.flush().is_empty());
    assert_eq!(b.flush(), ["MSG _INBOX.b1 9 2", "t1"]);
}

#[test]
fn an_import_nothing_exports_is_a_config_error() {
    let dir = ConfDir::new("imports-error");
    let conf = "accounts: {\n  A: { users: [ {user: a, password: a} ] }\n  B: { imports: [ {stream: {account: A, subject: \"e.>\"}} ] }\n}\n";
    let file = dir.write("bad.conf", conf);
    let mut args = vec!["-c", file.as_str()];
    if !crate::util::is_reference() {
        args.insert(0, "-t");
    }
    let out = run_selected(
        &[&args[..], &["-a", "127.0.0.1", "-p", "-1"]].concat(),
        IO_TIMEOUT * 2,
    );
    let text = output_text(&out);
    assert!(
        !out.status.success()
            && text.contains("Error adding stream import \"e.>\": stream import not authorized"),
        "{text}"
    );
}

/// async-nats on both sides of a service import: the responder in A, the
/// requester in B (whose muxed inbox reply must come back through `_R_.`).
#[tokio::test]
async fn async_nats_request_through_a_service_import() {
    use futures::StreamExt;
    let dir = ConfDir::new("imports-async");
    let server = start_with_conf(&dir, CONF, &[]);
    let connect = |user: &'static str| {
        async_nats::ConnectOptions::with_user_and_password(user.into(), user.into())
            .connection_timeout(IO_TIMEOUT)
            .connect(server.url())
    };
    let a = tokio::time::timeout(IO_TIMEOUT, connect("a"))
        .await
        .unwrap()
        .unwrap();
    let b = tokio::time::timeout(IO_TIMEOUT, connect("b"))
        .await
        .unwrap()
        .unwrap();
    let mut requests = a.subscribe("svc.time").await.unwrap();
    a.flush().await.unwrap();
    let responder = tokio::spawn(async move {
        while let Some(req) = requests.next().await {
            a.publish(req.reply.expect("a reply subject"), "noon".into())
                .await
                .unwrap();
            a.flush().await.unwrap();
        }
    });
    // Retried: the responder's subscription may reach the server after a
    // first request from the other connection.
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    let answer = loop {
        let attempt = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            b.request("time", "?".into()),
        )
        .await;
        match attempt {
            Ok(Ok(answer)) => break answer,
            _ if tokio::time::Instant::now() < deadline => continue,
            other => panic!("no answer: {other:?}"),
        }
    };
    assert_eq!(&answer.payload[..], b"noon");
    responder.abort();
}
