//! Real WebSocket peers against the `websocket` listener: nats-py over
//! `ws://` (with aiohttp), async-nats with its `websockets` feature, and
//! headless Chromium running the official JavaScript client
//! (`@nats-io/nats-core`'s `wsconnect`) in a page served by the test. Each
//! also exchanges messages with a TCP client. The peers come from
//! `scripts/ci/install-ws.sh` (under `target/`); a missing peer fails the
//! test when `CI` is set and skips it with a message otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{skip_missing_peer, IO_TIMEOUT};
use crate::ws_support::start_ws;

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `Some(path)` when `path` exists; otherwise fail under CI or skip.
fn peer(path: &Path, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    let msg = format!(
        "{what} missing ({}): run scripts/ci/install-ws.sh",
        path.display()
    );
    skip_missing_peer(&msg);
    None
}

/// Lines a child prints on stdout (or stderr), read in the background.
fn lines_of(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait for a line containing `needle`; returns it.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no {needle:?} line; saw:\n{}", seen.join("\n")));
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => panic!("no {needle:?} line; saw:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn nats_py_over_ws_with_a_tcp_peer() {
    let Some(python) = peer(&root().join("target/ws-venv/bin/python"), "nats-py venv") else {
        return;
    };
    let (server, addr) = start_ws("no_tls: true\n compression: true", "");
    let mut tcp = server.client("{\"verbose\":false,\"headers\":true}");
    tcp.send("SUB py.out 1\r\nPING\r\n");
    tcp.expect_line("PONG");
    let mut child = Command::new(python)
        .arg(root().join("tests/data/ws_nats_py.py"))
        .arg(format!("ws://{addr}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let rx = lines_of(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    wait_line(&rx, "ready", &mut seen);
    tcp.send("PUB py.in 8\r\nfrom tcp\r\n");
    assert_eq!(
        wait_line(&rx, "received", &mut seen),
        "received py.in from tcp"
    );
    let line = next_non_ping(&mut tcp);
    assert!(line.starts_with("HMSG py.out 1 "), "{line}");
    assert_eq!(wait_line(&rx, "reply", &mut seen), "reply answer:q");
    let status = wait_child(&mut child, IO_TIMEOUT);
    assert!(status.success(), "nats-py exited with {status}");
}

fn wait_child(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The next line that is not a server PING (those are answered).
fn next_non_ping(tcp: &mut crate::util::RawClient) -> String {
    loop {
        let line = tcp.read_line();
        if line != "PING" {
            return line;
        }
        tcp.send("PONG\r\n");
    }
}

/// Bundle `@nats-io/nats-core` into one ESM file with esbuild; its path.
fn bundle_client(out_dir: &Path) -> Option<PathBuf> {
    let js = root().join("target/ws-js");
    let esbuild = peer(&js.join("node_modules/.bin/esbuild"), "esbuild")?;
    peer(
        &js.join("node_modules/@nats-io/nats-core/package.json"),
        "@nats-io/nats-core",
    )?;
    // The entry sits next to node_modules so that esbuild resolves the package;
    // one per call, as the browser tests run in parallel in one process.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let entry = js.join(format!("entry-{}-{n}.js", std::process::id()));
    std::fs::write(
        &entry,
        "export { wsconnect, headers } from \"@nats-io/nats-core\";\n",
    )
    .unwrap();
    let out = out_dir.join("nats.js");
    let status = Command::new(esbuild)
        .arg(&entry)
        .args(["--bundle", "--format=esm", "--log-level=warning"])
        .arg(format!("--outfile={}", out.display()))
        .status()
        .unwrap();
    let _ = std::fs::remove_file(&entry);
    assert!(status.success(), "esbuild failed");
    Some(out)
}

/// Serve `/` (the page) and `/nats.js` on a free loopback port until the
/// test ends; returns the page's URL.
fn serve_page(page: String, bundle: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
            let mut head = Vec::new();
            let mut chunk = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                }
            }
            let path = String::from_utf8_lossy(&head)
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .to_string();
            let (status, kind, body): (&str, &str, &[u8]) = match path.as_str() {
                "/" => ("200 OK", "text/html", page.as_bytes()),
                "/nats.js" => ("200 OK", "text/javascript", &bundle),
                _ => ("404 Not Found", "text/plain", b"not found"),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
    });
    format!("http://{addr}/")
}

/// Run the page in headless Chromium against the server, with a TCP client
/// on the other side: a message each way (with headers), request/reply.
fn browser_round_trip(ws_block: &str, config_js: &str) {
    let Some(chromium) = which("chromium") else {
        skip_missing_peer("chromium (scripts/ci/install-ws.sh)");
        return;
    };
    let dir = crate::util::TempDir::new("browser");
    let Some(bundle) = bundle_client(dir.path()) else {
        return;
    };
    let (server, addr) = start_ws(ws_block, "");
    let config_js = config_js.replace("ADDR", &addr.to_string());
    let page = std::fs::read_to_string(root().join("tests/data/ws_browser_page.html"))
        .unwrap()
        .replace("CONFIG", &config_js);
    let url = serve_page(page, std::fs::read(bundle).unwrap());
    let mut tcp = server.client("{\"verbose\":false,\"headers\":true}");
    tcp.send("SUB web.out 1\r\nPING\r\n");
    tcp.expect_line("PONG");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--ignore-certificate-errors",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_line(&rx, "RESULT ready", &mut seen);
        tcp.send("HPUB web.in 25 33\r\nNATS/1.0\r\nX-From: tcp\r\n\r\nfrom tcp\r\n");
        wait_line(&rx, "RESULT received web.in from tcp tcp", &mut seen);
        let line = next_non_ping(&mut tcp);
        assert!(line.starts_with("HMSG web.out 1 "), "{line}");
        let block = tcp.read_line();
        assert_eq!(block, "NATS/1.0");
        assert_eq!(tcp.read_line(), "X-From: browser");
        wait_line(&rx, "RESULT reply answer:q", &mut seen);
        wait_line(&rx, "RESULT DONE", &mut seen);
        assert!(!seen.iter().any(|l| l.contains("RESULT FAIL")), "{seen:?}");
    }));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        let fails: Vec<_> = seen.iter().filter(|l| l.contains("RESULT")).collect();
        eprintln!("page results: {fails:?}");
        std::panic::resume_unwind(e);
    }
}

/// `name` found on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

#[test]
fn browser_js_client_over_ws_with_user_and_password() {
    browser_round_trip(
        "no_tls: true\n compression: true\n authorization { user: web, password: s3cr3t }",
        r#"{ servers: "ws://ADDR", user: "web", pass: "s3cr3t" }"#,
    );
}

#[test]
fn browser_js_client_over_wss() {
    let pki = crate::client_support::TestPki::new();
    browser_round_trip(
        &format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\" }}",
            pki.file("server.pem"),
            pki.file("server.key")
        ),
        r#"{ servers: "wss://ADDR" }"#,
    );
}

/// async-nats (its `websockets` feature is in its defaults) over `ws://`,
/// with compression offered by the server, and a TCP client both ways.
#[tokio::test]
async fn async_nats_over_ws_with_a_tcp_peer() {
    use futures::StreamExt;
    async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
        tokio::time::timeout(IO_TIMEOUT, f)
            .await
            .unwrap_or_else(|_| panic!("{what}: timed out"))
    }
    let (server, addr) = start_ws(
        "no_tls: true\n compression: true\n authorization { token: t0k }",
        "",
    );
    let ws = within(
        "connect",
        async_nats::ConnectOptions::with_token("t0k".into())
            .request_timeout(Some(IO_TIMEOUT))
            .connect(format!("ws://{addr}")),
    )
    .await
    .expect("connect over ws");
    let tcp = within("connect", async_nats::connect(server.url()))
        .await
        .expect("connect over tcp");
    let mut from_tcp = ws.subscribe("to.ws").await.unwrap();
    let mut from_ws = tcp.subscribe("to.tcp").await.unwrap();
    let mut service = ws.subscribe("svc").await.unwrap();
    within("flush", ws.flush()).await.unwrap();
    within("flush", tcp.flush()).await.unwrap();
    // async-nats over WebSocket may send a flush's PING ahead of a SUB it
    // queued before (seen in the server's trace), so the first message is
    // repeated until the subscription is in place.
    let mut h = async_nats::HeaderMap::new();
    h.insert("X-Peer", "tcp");
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    let m = loop {
        tcp.publish_with_headers("to.ws", h.clone(), "hello ws".into())
            .await
            .unwrap();
        match tokio::time::timeout(Duration::from_millis(200), from_tcp.next()).await {
            Ok(m) => break m.expect("subscription ended"),
            Err(_) => assert!(
                tokio::time::Instant::now() < deadline,
                "no message from tcp"
            ),
        }
    };
    assert_eq!(&m.payload[..], b"hello ws");
    assert_eq!(m.headers.unwrap().get("X-Peer").unwrap().as_str(), "tcp");
    let big = vec![b'z'; 200_000];
    ws.publish("to.tcp", big.clone().into()).await.unwrap();
    let m = within("200 KB message from ws", from_ws.next())
        .await
        .unwrap();
    assert_eq!(&m.payload[..], &big[..]);
    let responder = tokio::spawn(async move {
        let req = service.next().await.unwrap();
        let reply = req.reply.unwrap();
        ws.publish(reply, "answer".into()).await.unwrap();
        ws.flush().await.unwrap();
    });
    let answer = within("request", tcp.request("svc", "q".into()))
        .await
        .unwrap();
    assert_eq!(&answer.payload[..], b"answer");
    responder.await.unwrap();
}
