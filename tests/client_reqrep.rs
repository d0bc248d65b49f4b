//! `req` and `reply` as processes: echo, templated bodies, `--command`,
//! `--count`, queue sharing, several replies, and the exit codes of a
//! timeout and of no responders.

use crate::client_support::{each_server, replier, run_lite, subscriber, RUN_TIMEOUT};

#[test]
fn reply_echo_and_count() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let rep = replier(&["-s", &url, "--count", "2", "svc.echo"]);
        let r = run_lite(&["req", "-s", &url, "svc.echo", "ping"]);
        r.assert_ok();
        assert_eq!(r.out(), "ping\n");
        assert!(
            r.stderr.contains("Sending request on \"svc.echo\""),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("Received with rtt"), "{}", r.stderr);
        // Echo sends the request's headers back too.
        let r = run_lite(&["req", "-s", &url, "-H", "X-Id:7", "svc.echo", "two"]);
        assert_eq!(r.assert_ok().out(), "X-Id: 7\n\ntwo\n");
        // --count: exit 0 after answering (natscli exits 1 here).
        let done = rep.finish(RUN_TIMEOUT);
        done.assert_ok();
        assert!(
            done.stderr.contains("Answered 2 requests"),
            "{}",
            done.stderr
        );
    });
}

#[test]
fn reply_body_template_and_raw_request() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let rep = replier(&[
            "-s",
            &url,
            "--count",
            "2",
            "-H",
            "N:{{Count}}",
            "svc.tpl.*",
            "got {{Request}} #{{Count}} on {{1}}",
        ]);
        let r = run_lite(&["req", "-s", &url, "--raw", "svc.tpl.a", "x"]);
        assert_eq!(r.assert_ok().out(), "got x #1 on tpl\n");
        assert_eq!(r.stderr, "", "--raw logs nothing");
        let r = run_lite(&["req", "-s", &url, "svc.tpl.b", "y"]);
        assert_eq!(r.assert_ok().out(), "N: 2\n\ngot y #2 on tpl\n");
        rep.finish(RUN_TIMEOUT).assert_ok();
    });
}

#[test]
fn reply_with_command_output() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let rep = replier(&[
            "-s",
            &url,
            "--count",
            "1",
            "--command",
            "tr a-z A-Z; echo; echo \"$NATS_REQUEST_SUBJECT\"",
            "svc.upper",
        ]);
        let r = run_lite(&["req", "-s", &url, "--raw", "svc.upper", "shout"]);
        assert_eq!(r.assert_ok().out(), "SHOUT\nsvc.upper\n");
        rep.finish(RUN_TIMEOUT).assert_ok();
    });
}

#[test]
fn repliers_share_requests_through_the_default_queue_group() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let a = replier(&["-s", &url, "-q", "svc.shared", "A"]);
        let b = replier(&["-s", &url, "-q", "svc.shared", "B"]);
        let mut answers = Vec::new();
        for _ in 0..20 {
            let r = run_lite(&["req", "-s", &url, "--raw", "svc.shared", ""]);
            answers.push(r.assert_ok().out());
        }
        // Each request is answered once, by one of them; both take a share
        // (all 20 to one member: probability 2^-19).
        assert!(
            answers.iter().all(|a| a == "A\n" || a == "B\n"),
            "{answers:?}"
        );
        assert!(answers.contains(&"A\n".to_string()), "{answers:?}");
        assert!(answers.contains(&"B\n".to_string()), "{answers:?}");
        // Ctrl-C: unsubscribe, print the count, exit 0.
        let mut total = 0;
        for r in [a, b] {
            r.interrupt();
            let done = r.finish(RUN_TIMEOUT);
            done.assert_ok();
            let line = done
                .stderr
                .lines()
                .find(|l| l.starts_with("Answered "))
                .unwrap_or_else(|| panic!("{}", done.stderr))
                .to_string();
            total += line.split(' ').nth(1).unwrap().parse::<u32>().unwrap();
        }
        assert_eq!(total, 20);
    });
}

#[test]
fn several_replies_are_collected() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        let a = replier(&["-s", &url, "--queue", "one", "svc.many", "from one"]);
        let b = replier(&["-s", &url, "--queue", "two", "svc.many", "from two"]);
        let r = run_lite(&[
            "req",
            "-s",
            &url,
            "--raw",
            "--replies",
            "0",
            "--timeout",
            "500ms",
            "svc.many",
            "",
        ]);
        let mut lines: Vec<&str> = r
            .stdout
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        lines.sort_unstable();
        assert_eq!(lines, ["from one", "from two"]);
        r.assert_ok();
        let r = run_lite(&["req", "-s", &url, "--raw", "--replies", "2", "svc.many", ""]);
        assert_eq!(
            r.assert_ok().stdout.iter().filter(|&&c| c == b'\n').count(),
            2
        );
        for rep in [a, b] {
            rep.interrupt();
            rep.finish(RUN_TIMEOUT).assert_ok();
        }
    });
}

#[test]
fn no_responders_and_timeout_exit_1() {
    each_server(&[], |_, srv| {
        let url = srv.url();
        run_lite(&["req", "-s", &url, "svc.nobody", "x"])
            .assert_fails(1, "nats-lite: no responders available for request");
        // Someone listens but never answers.
        let silent = subscriber(&["-s", &url, "svc.silent"]);
        run_lite(&["req", "-s", &url, "--timeout", "300ms", "svc.silent", "x"])
            .assert_fails(1, "nats-lite: request timed out");
        silent.interrupt();
        silent.finish(RUN_TIMEOUT).assert_ok();
    });
}
