//! `cat` (alias `raw`): the catnats tutorial commands, line mode, and
//! `--pong` answering PINGs found by parsing, not by matching payloads.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::client_support::{each_server, lite, run, run_lite, subscriber, Client, RUN_TIMEOUT};

/// `printf "PUB subj N\r\n...\r\n" | catnats --raw --addr ... --user ... --pass ...`
#[test]
fn catnats_publish_with_credentials() {
    each_server(&["--user", "u", "--pass", "p"], |_, srv| {
        let addr = srv.addr.to_string();
        let sub = subscriber(&[
            "-s",
            &srv.url(),
            "--user",
            "u",
            "--password",
            "p",
            "--raw",
            "--count",
            "1",
            "subj",
        ]);
        let d = run(
            lite(&[
                "cat", "--raw", "--addr", &addr, "--user", "u", "--pass", "p",
            ]),
            Some(b"PUB subj 5\r\nhello\r\n"),
        );
        let out = d.assert_ok().out();
        assert!(out.starts_with("INFO {"), "{out}");
        // CONNECT without "verbose" keeps the server's default: +OK after each op.
        assert!(out.contains("+OK"), "{out}");
        assert!(
            !out.contains("PONG"),
            "our own flush PONG is not shown: {out}"
        );
        assert_eq!(sub.finish(RUN_TIMEOUT).assert_ok().out(), "hello\n");
        // Without credentials the server refuses, and says so on stdout.
        let d = run(
            lite(&["raw", "--raw", "--addr", &addr, "--wait", "0"]),
            Some(b"PUB subj 1\r\nx\r\n"),
        );
        assert!(d.out().contains("Authorization Violation"), "{}", d.out());
    });
}

/// `printf "SUB stats.loadaverage 0\r\n" | catnats --raw --no-exit --pong`
#[test]
fn catnats_subscribe_and_keep_reading() {
    each_server(&[], |_, srv| {
        let mut cat = Client::spawn(
            lite(&[
                "cat",
                "--raw",
                "--no-exit",
                "--pong",
                "--addr",
                &srv.addr.to_string(),
            ]),
            Some(b"SUB stats.loadaverage 0\r\n".to_vec()),
        );
        cat.wait_stdout("+OK");
        run_lite(&["pub", "-s", &srv.url(), "stats.loadaverage", "0.42"]).assert_ok();
        cat.wait_stdout("MSG stats.loadaverage 0 4\r\n0.42\r\n");
        cat.interrupt();
        cat.finish(RUN_TIMEOUT).assert_ok();
    });
}

#[test]
fn line_mode_adds_crlf_and_a_blank_line_is_not_the_end() {
    each_server(&[], |_, srv| {
        let d = run(
            lite(&["cat", "-s", &srv.url(), "--verbose", "false", "--wait", "0"]),
            Some(b"SUB a 1\nPUB a 0\n\nPUB a 2\r\nhi\nPING\nPUB a 3\nend"),
        );
        let out = d.assert_ok().out();
        assert!(!out.contains("+OK"), "verbose false: {out}");
        assert!(
            out.contains("MSG a 1 0\r\n\r\nMSG a 1 2\r\nhi\r\n"),
            "{out}"
        );
        // The user's PING is answered and shown; the final flush's is not.
        assert_eq!(out.matches("PONG").count(), 1, "{out}");
        // The last line had no newline and was still sent, before the flush.
        assert!(out.ends_with("MSG a 1 3\r\nend\r\n"), "{out}");
        // --quiet shows nothing.
        let q = run(
            lite(&["cat", "-q", "-s", &srv.url(), "--wait", "0"]),
            Some(b"PING\n"),
        );
        assert_eq!(q.assert_ok().out(), "");
    });
}

/// `--pong` answers PING ops, not the bytes `PING` inside a payload.
#[test]
fn pong_parses_the_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"INFO {\"server_id\":\"NFAKE\",\"max_payload\":1024}\r\n")
            .unwrap();
        s.write_all(b"MSG a 1 6\r\nPING\r\n\r\nPING\r\n").unwrap();
        let mut got = Vec::new();
        let mut answered_pings = 0;
        let mut second_ping_sent = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut chunk = [0u8; 1024];
        while Instant::now() < deadline {
            let n = s.read(&mut chunk).unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
            // Answer the client's own PINGs (its flush after stdin ends).
            let pings = String::from_utf8_lossy(&got).matches("PING\r\n").count();
            while answered_pings < pings {
                s.write_all(b"PONG\r\n").unwrap();
                answered_pings += 1;
            }
            let pongs = String::from_utf8_lossy(&got).matches("PONG\r\n").count();
            if pongs == 1 && !second_ping_sent {
                second_ping_sent = true;
                s.write_all(b"PING\r\n").unwrap();
            }
            if pongs >= 2 {
                break;
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    });
    let cat = Client::spawn(
        lite(&[
            "cat",
            "--no-exit",
            "--pong",
            "-s",
            &format!("nats://{addr}"),
        ]),
        None,
    );
    let sent = fake.join().unwrap();
    assert_eq!(sent.matches("PONG\r\n").count(), 2, "{sent:?}");
    let d = cat.finish(RUN_TIMEOUT);
    d.assert_ok();
    assert!(
        d.out().contains("MSG a 1 6\r\nPING\r\n\r\nPING\r\n"),
        "{}",
        d.out()
    );
}
