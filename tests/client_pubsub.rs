//! `pub` and `sub` as processes: output formats, headers, templates, where
//! the server URL comes from, stdin bodies, and the `--lines` / `--raw` pipe.

use std::time::{Duration, Instant};

use crate::client_support::{each_server, lite, run, run_lite, subscriber, Client, RUN_TIMEOUT};

#[test]
fn pub_sub_default_format_with_headers_and_reply() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let sub = subscriber(&["-s", &url, "t.human", "--count", "3"]);
        let p = run_lite(&["pub", "-s", &url, "t.human", "hello"]);
        p.assert_ok();
        assert!(
            p.stderr.contains("Published 5 bytes to \"t.human\""),
            "{}",
            p.stderr
        );
        run_lite(&[
            "pub",
            "-s",
            &url,
            "-H",
            "K:v",
            "-H",
            "K: w",
            "t.human",
            "with headers",
        ])
        .assert_ok();
        run_lite(&["pub", "-s", &url, "--reply", "r.1", "-q", "t.human", ""]).assert_ok();
        let done = sub.finish(RUN_TIMEOUT);
        done.assert_ok();
        assert_eq!(
            done.out(),
            "[#1] Received on \"t.human\"\nhello\n\n\
             [#2] Received on \"t.human\"\nK: v\nK: w\n\nwith headers\n\n\
             [#3] Received on \"t.human\" with reply \"r.1\"\n\n\n"
        );
    });
}

#[test]
fn pub_sub_raw_json_and_base64() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let raw = subscriber(&["-s", &url, "--raw", "--count", "2", "t.fmt"]);
        let json = subscriber(&["-s", &url, "--json", "--count", "2", "t.fmt"]);
        let b64 = subscriber(&["-s", &url, "--json", "--base64", "--count", "2", "t.fmt"]);
        run_lite(&[
            "pub", "-s", &url, "-H", "A:1", "--reply", "rr", "t.fmt", "héllo",
        ])
        .assert_ok();
        // An empty body is empty (natscli#1328 sent `!nil!`).
        run_lite(&["pub", "-s", &url, "t.fmt", ""]).assert_ok();
        let raw = raw.finish(RUN_TIMEOUT);
        assert_eq!(raw.assert_ok().out(), "héllo\n\n");
        let json = json.finish(RUN_TIMEOUT);
        assert_eq!(
            json.assert_ok().out(),
            "{\"subject\":\"t.fmt\",\"reply\":\"rr\",\"headers\":{\"A\":[\"1\"]},\"data\":\"héllo\"}\n\
             {\"subject\":\"t.fmt\",\"reply\":null,\"headers\":{},\"data\":\"\"}\n"
        );
        let lines: Vec<serde_json::Value> = b64
            .finish(RUN_TIMEOUT)
            .out()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["data"], "aMOpbGxv");
        assert_eq!(lines[1]["data"], "");
    });
}

#[test]
fn body_templates_count_from_one_and_stdin_bodies_are_sent_as_is() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let sub = subscriber(&["-s", &url, "--raw", "--count", "4", "t.tpl"]);
        let p = run_lite(&[
            "pub",
            "-s",
            &url,
            "--count",
            "3",
            "t.tpl",
            "n={{Count}} id={{ID}}",
        ]);
        p.assert_ok();
        let piped = run(lite(&["pub", "-s", &url, "t.tpl"]), Some(b"from {{stdin}}"));
        piped.assert_ok();
        let out = sub.finish(RUN_TIMEOUT);
        let lines: Vec<String> = out.assert_ok().out().lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        for (i, l) in lines[..3].iter().enumerate() {
            assert!(l.starts_with(&format!("n={} id=", i + 1)), "{l}");
            assert_eq!(l.len(), format!("n={} id=", i + 1).len() + 22, "{l}");
        }
        assert_eq!(lines[3], "from {{stdin}}");
        let bad = run_lite(&["pub", "-s", &url, "t.tpl", "{{Nope}}"]);
        bad.assert_fails(2, "unknown template");
    });
}

#[test]
fn server_url_from_flag_before_or_after_the_subcommand_and_from_nats_url() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let sub = subscriber(&["-s", &url, "--raw", "--count", "4", "t.url"]);
        // After the subcommand.
        run_lite(&["pub", "-s", &url, "t.url", "1"]).assert_ok();
        // Before it.
        run_lite(&["-s", &url, "pub", "t.url", "2"]).assert_ok();
        // From the environment.
        let mut env = lite(&["pub", "t.url", "3"]);
        env.env("NATS_URL", &url);
        run(env, None).assert_ok();
        // A flag wins over the environment (nats-box#7).
        let mut both = lite(&["pub", "--server", &url, "t.url", "4"]);
        both.env("NATS_URL", "nats://127.0.0.1:1");
        run(both, None).assert_ok();
        assert_eq!(sub.finish(RUN_TIMEOUT).assert_ok().out(), "1\n2\n3\n4\n");
        // A list of servers where only one is up, in the order given.
        let list = format!("nats://127.0.0.1:1,{url}");
        run_lite(&["pub", "-s", &list, "--no-randomize", "t.url", "5"]).assert_ok();
    });
}

#[test]
fn sub_timeout_and_count_exit_codes() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let d = run_lite(&["sub", "-s", &url, "--timeout", "200ms", "t.none"]);
        d.assert_fails(1, "nats-lite: no message received within");
        let mut sub = Client::spawn(
            lite(&[
                "sub",
                "-s",
                &url,
                "--count",
                "2",
                "--timeout",
                "300ms",
                "t.few",
            ]),
            None,
        );
        sub.wait_stderr("Subscribing on");
        run_lite(&["pub", "-s", &url, "t.few", "x"]).assert_ok();
        sub.finish(RUN_TIMEOUT)
            .assert_fails(1, "received 1 of 2 messages");
    });
}

#[test]
fn sub_exits_0_on_ctrl_c_and_on_a_closed_stdout_pipe() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let mut sub = Client::spawn(lite(&["sub", "-s", &url, "a.b", "c.*"]), None);
        sub.wait_stderr("Subscribing on a.b, c.*");
        run_lite(&["pub", "-s", &url, "c.d", "x"]).assert_ok();
        sub.wait_stdout("Received on \"c.d\"");
        sub.interrupt();
        let done = sub.finish(RUN_TIMEOUT);
        done.assert_ok();
        assert!(
            done.stderr.contains("Received 1 messages"),
            "{}",
            done.stderr
        );

        // `sub | head -n 1`: the pipe closes after one line; the next write
        // fails with EPIPE, which is a normal end (exit 0).
        let mut cmd = std::process::Command::new("bash");
        cmd.arg("-c").arg(format!(
            "set -o pipefail; {} sub -s {url} --raw t.pipe | head -n 1",
            crate::util::nats_lite_bin().display()
        ));
        let mut pipe = Client::spawn(cmd, None);
        pipe.wait_stderr("Subscribing on t.pipe");
        run_lite(&["pub", "-s", &url, "-q", "t.pipe", "line"]).assert_ok();
        pipe.wait_stdout("line");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pipe.has_exited() && Instant::now() < deadline {
            run_lite(&["pub", "-s", &url, "-q", "t.pipe", "more"]).assert_ok();
        }
        let done = pipe.finish(RUN_TIMEOUT);
        assert_eq!(done.out(), "line\n");
        done.assert_ok();
    });
}

/// The pipe round trip of the issue: 10,000 lines through `pub --lines`
/// into `sub --raw`, none lost, in order.
#[test]
fn lines_pipe_round_trip_10000() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let input: String = (1..=10_000)
            .map(|i| format!("line {i} {}\n", "x".repeat(i % 50)))
            .collect();
        let sub = subscriber(&["-s", &url, "--raw", "--count", "10000", "logs.app"]);
        let p = run(
            lite(&["pub", "-s", &url, "--lines", "logs.app"]),
            Some(input.as_bytes()),
        );
        p.assert_ok();
        assert!(
            p.stderr.contains("Published 10000 messages"),
            "{}",
            p.stderr
        );
        let out = sub.finish(RUN_TIMEOUT);
        assert_eq!(out.assert_ok().out(), input);
    });
}

/// Not a timed test: prints how much faster `pub --lines` is than one
/// process per message. Run with `--ignored --nocapture`.
#[test]
#[ignore]
fn measure_pub_lines_vs_one_process_per_line() {
    let srv = crate::client_support::start(crate::client_support::Kind::Reference, &[]);
    let url = srv.url();
    let input: String = (1..=100_000)
        .map(|i| format!("log line number {i}\n"))
        .collect();
    let t = Instant::now();
    run(
        lite(&["pub", "-s", &url, "-q", "--lines", "bench.lines"]),
        Some(input.as_bytes()),
    )
    .assert_ok();
    let lines = t.elapsed();
    let t = Instant::now();
    for i in 0..1000 {
        run_lite(&[
            "pub",
            "-s",
            &url,
            "-q",
            "bench.procs",
            &format!("log line number {i}"),
        ])
        .assert_ok();
    }
    let procs = t.elapsed();
    let per_msg_lines = lines.as_secs_f64() / 100_000.0;
    let per_msg_procs = procs.as_secs_f64() / 1000.0;
    println!(
        "pub --lines: 100000 lines in {lines:?} ({:.0} msgs/s); one process per line: 1000 in {procs:?} \
         (100000 extrapolated: {:.1}s); speed-up {:.0}x",
        1.0 / per_msg_lines,
        per_msg_procs * 100_000.0,
        per_msg_procs / per_msg_lines
    );
    assert!(per_msg_procs / per_msg_lines >= 10.0);
}
