//! A client that meets trouble: the server restarts (`sub` and `reply`
//! reconnect and resubscribe), goes away for good (`--no-reconnect`), is
//! unreachable (`ping` as a health check), or is a rogue that sends
//! malformed protocol (a clear error, exit 1, no panic, bounded memory).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client_support::{each_server, replier, run_lite, start, subscriber, RUN_TIMEOUT};
use crate::util::START_TIMEOUT;

#[test]
fn sub_and_reply_reconnect_after_the_server_restarts() {
    for kind in crate::client_support::kinds() {
        let first = start(kind, &[]);
        let port = first.addr.port().to_string();
        let url = first.url();
        let mut sub = subscriber(&["-s", &url, "--raw", "reco.sub"]);
        let mut rep = replier(&["-s", &url, "reco.svc", "still here"]);
        drop(first);
        sub.wait_stderr("disconnected");
        rep.wait_stderr("disconnected");
        // A new server on the same port.
        let second = start(kind, &["-p", &port]);
        assert_eq!(second.url(), url);
        sub.wait_stderr("Reconnected to");
        rep.wait_stderr("Reconnected to");
        run_lite(&["pub", "-s", &url, "reco.sub", "after restart"]).assert_ok();
        sub.wait_stdout("after restart");
        let r = run_lite(&["req", "-s", &url, "--raw", "reco.svc", ""]);
        assert_eq!(r.assert_ok().out(), "still here\n");
        for c in [sub, rep] {
            c.interrupt();
            c.finish(RUN_TIMEOUT).assert_ok();
        }
    }
}

/// The first server advertises the second in its INFO `connect_urls`; when
/// the first goes away, `sub` moves to the second without being told.
#[test]
fn sub_fails_over_to_a_server_learnt_from_connect_urls() {
    let cluster = ["--cluster_name", "c", "--cluster", "nats://127.0.0.1:-1"];
    for kind in crate::client_support::kinds() {
        let mut a = start(kind, &cluster);
        let line = a
            .wait_for_log("Listening for route connections on", START_TIMEOUT)
            .expect("route listener");
        let route = format!("nats://{}", line.rsplit(' ').next().unwrap());
        let mut b = start(kind, &[&cluster[..], &["--routes", &route]].concat());
        for s in [&mut a, &mut b] {
            s.wait_for_log("Route connection created", START_TIMEOUT)
                .expect("route between the two servers");
        }
        let mut sub = subscriber(&["-s", &a.url(), "--raw", "fail.over"]);
        drop(a);
        sub.wait_stderr(&format!("Reconnected to {}", b.url()));
        run_lite(&["pub", "-s", &b.url(), "fail.over", "on b"]).assert_ok();
        sub.wait_stdout("on b");
        sub.interrupt();
        sub.finish(RUN_TIMEOUT).assert_ok();
    }
}

#[test]
fn no_reconnect_fails_fast_when_the_server_goes_away() {
    for kind in crate::client_support::kinds() {
        let srv = start(kind, &[]);
        let sub = subscriber(&["-s", &srv.url(), "--no-reconnect", "gone"]);
        drop(srv);
        sub.finish(RUN_TIMEOUT)
            .assert_fails(1, "closed the connection");
    }
}

#[test]
fn ping_is_a_health_check() {
    each_server(&[], |_, srv| {
        let p = run_lite(&["ping", "-s", &srv.url(), "--count", "3", "--interval", "0"]);
        let out = p.assert_ok().out();
        assert!(
            out.contains(&format!("Connected to {}", srv.url())),
            "{out}"
        );
        assert!(out.contains("Max payload: 1048576 bytes"), "{out}");
        assert_eq!(out.matches("PONG from").count(), 3, "{out}");
        assert!(
            out.contains("3 PINGs, 3 PONGs, round trip min/avg/max = "),
            "{out}"
        );
    });
    // Nobody listens on a port we just released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    run_lite(&["ping", "-s", &format!("127.0.0.1:{port}")])
        .assert_fails(1, "nats-lite: could not connect to nats://127.0.0.1:");
    // A bad URL is a usage error.
    run_lite(&["ping", "-s", "http://127.0.0.1:1"]).assert_fails(2, "unsupported scheme");
}

/// A fake server for one client: sends `greeting`, then hands each line
/// the client sends (split into words) to `on_line` with the socket, until
/// the client hangs up, `on_line` fails, or a deadline passes.
fn fake_server(
    greeting: &'static [u8],
    mut on_line: impl FnMut(&[&str], &mut TcpStream) -> std::io::Result<()> + Send + 'static,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
        if s.write_all(greeting).is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        while Instant::now() < deadline {
            let n = match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            seen.extend_from_slice(&chunk[..n]);
            while let Some(i) = find(&seen, b"\r\n") {
                let line = String::from_utf8_lossy(&seen[..i]).into_owned();
                seen.drain(..i + 2);
                let words: Vec<&str> = line.split_ascii_whitespace().collect();
                if on_line(&words, &mut s).is_err() {
                    return;
                }
            }
        }
    });
    (addr, handle)
}

/// A fake server: sends `greeting`, answers the client's PINGs with PONG,
/// and after the first PONG sends `garbage` (`repeat` times).
fn rogue(
    greeting: &'static [u8],
    garbage: &'static [u8],
    repeat: usize,
) -> (SocketAddr, JoinHandle<()>) {
    let mut sent_garbage = false;
    fake_server(greeting, move |words, s| {
        if words == ["PING"] {
            s.write_all(b"PONG\r\n")?;
            if !sent_garbage {
                sent_garbage = true;
                for _ in 0..repeat {
                    s.write_all(garbage)?;
                }
            }
        }
        Ok(())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

const INFO: &[u8] = b"INFO {\"server_id\":\"NROGUE\",\"version\":\"6.6.6\",\"headers\":true,\"max_payload\":1024}\r\n";

#[test]
fn rogue_server_malformed_messages() {
    let mb: &'static [u8] = Box::leak(vec![b'a'; 1 << 20].into_boxed_slice());
    let cases: [(&[u8], usize, &str); 6] = [
        (b"MSG foo 1 abc\r\n", 1, "invalid protocol"),
        (b"MSG foo 1 99999\r\n", 1, "Maximum Payload Violation"),
        (b"MSG foo 1 5\r\nhelloXX\r\n", 1, "invalid protocol"),
        (b"MSG foo notanumber 1\r\nx\r\n", 1, "bad sid"),
        (
            b"-ERR 'Authorization Violation'\r\n",
            1,
            "Authorization Violation",
        ),
        // 100 MB of a control line that never ends: refused at the limit.
        (b"MSG ", 1, "maximum control line exceeded"),
    ];
    for (i, (garbage, repeat, want)) in cases.into_iter().enumerate() {
        let (addr, fake) = if i == 5 {
            rogue_huge_line(mb)
        } else {
            rogue(INFO, garbage, repeat)
        };
        let url = format!("nats://{addr}");
        let started = Instant::now();
        let d = run_lite(&["sub", "-s", &url, "--no-reconnect", "foo"]);
        d.assert_fails(1, want);
        assert!(d.stderr.starts_with("nats-lite: "), "{}", d.stderr);
        assert!(started.elapsed() < Duration::from_secs(15));
        if let Some(kib) = d.max_rss_kib {
            assert!(kib < MAX_CLIENT_RSS_KIB, "{want}: peak RSS {kib} KiB");
        }
        let _ = fake.join();
    }
}

/// A fake server that, after the first PONG, sends `MSG ` and then 100 MB
/// without a newline.
fn rogue_huge_line(mb: &'static [u8]) -> (SocketAddr, JoinHandle<()>) {
    let mut garbage = b"MSG ".to_vec();
    garbage.extend_from_slice(mb);
    let garbage: &'static [u8] = Box::leak(garbage.into_boxed_slice());
    // 1 MB + 4 bytes, 100 times: "MSG aaaa...MSG aaaa..." has no newline.
    rogue(INFO, garbage, 100)
}

#[test]
fn rogue_server_bad_greetings() {
    let cases: [(&'static [u8], &str); 4] = [
        (b"INFO not json\r\n", "invalid INFO"),
        (b"HTTP/1.1 200 OK\r\n\r\n", "not a NATS server"),
        (
            b"INFO {\"server_id\":\"N\",\"max_payload\":\"big\"}\r\n",
            "invalid INFO",
        ),
        (
            b"INFO {\"server_id\":\"N\"}\r\n-ERR 'maximum connections exceeded'\r\n",
            "maximum connections exceeded",
        ),
    ];
    for (greeting, want) in cases {
        let (addr, fake) = rogue(greeting, b"", 0);
        let d = run_lite(&["ping", "-s", &format!("nats://{addr}"), "--count", "1"]);
        d.assert_fails(1, want);
        drop(fake);
    }
    // A greeting that never ends (an INFO line of 100 MB): bounded, refused.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
            let chunk = vec![b'x'; 1 << 20];
            let _ = s.write_all(b"INFO ");
            for _ in 0..100 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
    });
    run_lite(&["ping", "-s", &format!("nats://{addr}")])
        .assert_fails(1, "maximum control line exceeded");
    let _ = fake.join();
    // A server that says nothing: the connect timeout ends it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    run_lite(&[
        "ping",
        "-s",
        &format!("nats://{addr}"),
        "--connect-timeout",
        "300ms",
    ])
    .assert_fails(1, "timed out waiting for INFO");
    drop(listener);
}

/// Peak memory allowed for a client fed a rogue's 100 MB: well under the
/// garbage itself, so a client that buffered it would fail the test.
const MAX_CLIENT_RSS_KIB: u64 = 48 * 1024;

/// What a rogue `req` responder sends, given the request's reply subject.
type Answer = fn(&str) -> Vec<u8>;

/// A fake server for `req`: greets with `greeting`, answers PINGs with
/// PONG, and answers each `PUB`/`HPUB` with `answer(reply_subject)` sent
/// `repeat` times.
fn rogue_responder(
    greeting: &'static [u8],
    answer: Answer,
    repeat: usize,
) -> (SocketAddr, JoinHandle<()>) {
    fake_server(greeting, move |words, s| {
        let reply = match words {
            ["PING"] => return s.write_all(b"PONG\r\n"),
            ["PUB", _, reply, _] | ["HPUB", _, reply, _, _] => reply,
            _ => return Ok(()),
        };
        let bytes = answer(reply);
        for _ in 0..repeat {
            s.write_all(&bytes)?;
        }
        Ok(())
    })
}

#[test]
fn k01_req_against_a_rogue_server() {
    let cases: [(&'static [u8], Answer, usize, &str); 6] = [
        // A well-formed answer first: the fake itself works.
        (
            INFO,
            |r| format!("MSG {r} 1 2\r\nok\r\n").into_bytes(),
            1,
            "",
        ),
        (
            INFO,
            |r| format!("MSG {r} 1 -5\r\n").into_bytes(),
            1,
            "invalid protocol",
        ),
        (
            INFO,
            |r| format!("MSG {r} 1 99999999999\r\n").into_bytes(),
            1,
            "invalid protocol (protocol error: MSG size)",
        ),
        (
            INFO,
            |r| format!("MSG {r} 1 99999\r\n").into_bytes(),
            1,
            "Maximum Payload Violation",
        ),
        // 100 MB of a MSG line that never ends (1 MiB, 100 times).
        (
            INFO,
            |r| {
                let mut b = format!("MSG {r} 1 ").into_bytes();
                b.resize(1 << 20, b'7');
                b
            },
            100,
            "maximum control line exceeded",
        ),
        (b"INFO {not json\r\n", |_| Vec::new(), 0, "invalid INFO"),
    ];
    for (greeting, answer, repeat, want) in cases {
        let (addr, fake) = rogue_responder(greeting, answer, repeat);
        let url = format!("nats://{addr}");
        let d = run_lite(&["req", "-s", &url, "--timeout", "10s", "svc", "hi"]);
        if want.is_empty() {
            d.assert_ok();
            assert_eq!(d.out(), "ok\n");
        } else {
            d.assert_fails(1, want);
            assert!(d.stderr.contains("nats-lite: "), "{}", d.stderr);
        }
        if let Some(kib) = d.max_rss_kib {
            assert!(kib < MAX_CLIENT_RSS_KIB, "{want}: peak RSS {kib} KiB");
        }
        let _ = fake.join();
    }
}
