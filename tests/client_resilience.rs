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

/// The connect timeout is a deadline for the whole handshake (issue 16): a
/// rogue server that answers the client's PING with a PING of its own,
/// and every PONG with another PING 200 ms later, or that drips its INFO a
/// byte at a time, cannot keep `sub` or `req` in the handshake (main gave
/// each read the whole timeout, so both went on until the fake gave up).
#[test]
fn the_connect_timeout_bounds_the_whole_handshake() {
    let (addr, fake) = fake_server(INFO, |words, s| {
        match words {
            ["PING"] => s.write_all(b"PING\r\n")?,
            ["PONG"] => {
                // Pacing the rogue, not synchronising the test.
                std::thread::sleep(Duration::from_millis(200));
                s.write_all(b"PING\r\n")?;
            }
            _ => {}
        }
        Ok(())
    });
    let started = Instant::now();
    let d = run_lite(&[
        "sub",
        "-s",
        &format!("nats://{addr}"),
        "--no-reconnect",
        "--connect-timeout",
        "1s",
        "foo",
    ]);
    d.assert_fails(1, "timed out waiting for the server to accept CONNECT");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let _ = fake.join();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let drip = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            for b in INFO.iter().cycle().take(150) {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let started = Instant::now();
    let d = run_lite(&[
        "req",
        "-s",
        &format!("nats://{addr}"),
        "--connect-timeout",
        "1s",
        "svc",
        "x",
    ]);
    d.assert_fails(1, "timed out waiting for INFO");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let _ = drip.join();
}

/// What a server sends is shown escaped where it is not the payload (issue
/// 16): a subject, a header and an `-ERR` text with terminal escape
/// sequences reach `sub`'s stdout and stderr as `\u{1b}`, never raw; the
/// payload is printed as it is, by design.
#[test]
fn sub_escapes_control_characters_from_the_server() {
    let hdr = "NATS/1.0\r\nK: v\u{1b}]0;x\u{7}\r\n\r\n";
    let frame = format!(
        "HMSG foo.\u{1b}[31m 1 {} {}\r\n{hdr}body\r\n-ERR 'bad\u{1b}[2J'\r\n",
        hdr.len(),
        hdr.len() + 4
    );
    let mut pings = 0;
    // After the PONG of the PING that follows SUB, so the message is read
    // as one, not during the subscription's flush.
    let (addr, fake) = fake_server(INFO, move |words, s| {
        if words == ["PING"] {
            s.write_all(b"PONG\r\n")?;
            pings += 1;
            if pings == 2 {
                s.write_all(frame.as_bytes())?;
            }
        }
        Ok(())
    });
    let d = run_lite(&[
        "sub",
        "-s",
        &format!("nats://{addr}"),
        "--no-reconnect",
        "foo.>",
    ]);
    d.assert_fails(1, "bad\\u{1b}[2J");
    let out = d.out();
    assert!(
        !d.stdout.contains(&0x1b) && !d.stderr.contains('\u{1b}'),
        "raw escape bytes: stdout {out:?}, stderr {:?}",
        d.stderr
    );
    assert!(out.contains("Received on \"foo.\\u{1b}[31m\""), "{out}");
    assert!(out.contains("K: v\\u{1b}]0;x\\u{7}"), "{out}");
    assert!(out.contains("body"), "{out}");
    let _ = fake.join();
}

/// `sub` with a stdout that does not keep up (a pipe nobody reads), fed 16
/// messages of 16 MiB, holds
/// at most its pending-bytes limit (64 MiB) of messages, drops the rest and
/// says how many on exit, as a slow consumer (issue 16; main buffered up to
/// 16 reads' worth of messages, 256 MiB here, and never said).
#[cfg(target_os = "linux")]
#[test]
fn sub_with_a_stalled_stdout_is_bounded_and_counts_drops() {
    use std::process::Stdio;
    const INFO_BIG: &[u8] = b"INFO {\"server_id\":\"NROGUE\",\"version\":\"2.9.10\",\"headers\":true,\"max_payload\":33554432}\r\n";
    let size = 16 << 20;
    let mut frame = format!("MSG foo 1 {size}\r\n").into_bytes();
    frame.extend(std::iter::repeat_n(b'x', size));
    frame.extend_from_slice(b"\r\n");
    let frame: &'static [u8] = Box::leak(frame.into_boxed_slice());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let mut pings = 0;
    let (addr, fake) = fake_server(INFO_BIG, move |words, s| {
        if words == ["PING"] {
            s.write_all(b"PONG\r\n")?;
            pings += 1;
            // After the PONG of the flush that follows SUB.
            if pings == 2 {
                for _ in 0..16 {
                    s.write_all(frame)?;
                }
                let _ = done_tx.send(());
            }
        }
        Ok(())
    });
    let mut child = crate::client_support::lite(&[
        "sub",
        "-s",
        &format!("nats://{addr}"),
        "--no-reconnect",
        "foo",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn sub");
    if done_rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let mut stderr = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        panic!("the fake server could not send everything; sub said: {stderr}");
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    crate::util::unsafe_kill(child.id(), "INT");
    let mut stdout = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = child.wait();
    let _ = drain.join();
    let _ = fake.join();
    eprintln!("peak RSS {} MiB; stderr: {stderr}", peak_kib / 1024);
    assert!(
        peak_kib < 160 * 1024,
        "sub held {} MiB for a stalled stdout",
        peak_kib / 1024
    );
    assert!(
        stderr.contains("slow consumer") && stderr.contains("dropped"),
        "{stderr}"
    );
}
