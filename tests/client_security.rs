//! Credentials (user/password, token; flags, URL, environment) and TLS
//! (server verified against a test CA made at test time, `--tls-insecure`,
//! client certificates).

use crate::client_support::{each_server, lite, run, run_lite, subscriber, TestPki, RUN_TIMEOUT};

#[test]
fn user_and_password() {
    each_server(&["--user", "u", "--pass", "p"], |_, srv| {
        let url = srv.url();
        let host = srv.addr.to_string();
        run_lite(&["pub", "-s", &url, "s", "x"]).assert_fails(1, "Authorization Violation");
        run_lite(&[
            "pub",
            "-s",
            &url,
            "--user",
            "u",
            "--password",
            "bad",
            "s",
            "x",
        ])
        .assert_fails(1, "Authorization Violation");
        let sub = subscriber(&[
            "-s", &url, "--user", "u", "--pass", "p", "--raw", "--count", "2", "s",
        ]);
        run_lite(&["pub", "-s", &format!("nats://u:p@{host}"), "s", "url"]).assert_ok();
        let mut env = lite(&["pub", "-s", &url, "s", "env"]);
        env.env("NATS_USER", "u").env("NATS_PASSWORD", "p");
        run(env, None).assert_ok();
        assert_eq!(sub.finish(RUN_TIMEOUT).assert_ok().out(), "url\nenv\n");
    });
}

#[test]
fn token() {
    each_server(&["--auth", "s3cr3t"], |_, srv| {
        let url = srv.url();
        let host = srv.addr.to_string();
        run_lite(&["ping", "-s", &url, "--count", "1"]).assert_fails(1, "Authorization Violation");
        run_lite(&["ping", "-s", &url, "--token", "wrong", "--count", "1"])
            .assert_fails(1, "Authorization Violation");
        let p = run_lite(&["ping", "-s", &url, "--token", "s3cr3t", "--count", "1"]);
        assert!(
            p.assert_ok().out().contains("Auth:        required"),
            "{}",
            p.out()
        );
        run_lite(&[
            "ping",
            "-s",
            &format!("nats://s3cr3t@{host}"),
            "--count",
            "1",
        ])
        .assert_ok();
        let mut env = lite(&["ping", "-s", &url, "--count", "1"]);
        env.env("NATS_TOKEN", "s3cr3t");
        run(env, None).assert_ok();
    });
}

#[test]
fn tls_server_verified_with_a_test_ca() {
    let pki = TestPki::new();
    let (cert, key, ca) = (
        pki.file("server.pem"),
        pki.file("server.key"),
        pki.file("ca.pem"),
    );
    each_server(
        &["--tls", "--tlscert", &cert, "--tlskey", &key],
        |_, srv| {
            let port = srv.addr.port();
            let tls_url = format!("tls://127.0.0.1:{port}");
            // The server's INFO says tls_required: a nats:// URL upgrades too.
            let p = run_lite(&["ping", "-s", &srv.url(), "--tlscacert", &ca, "--count", "1"]);
            assert!(
                p.assert_ok().out().contains("this connection is encrypted"),
                "{}",
                p.out()
            );
            // Not trusted without the CA: a clear message, exit 1.
            run_lite(&["ping", "-s", &tls_url, "--count", "1"]).assert_fails(1, "--tlscacert");
            // --tls-insecure connects and warns.
            let p = run_lite(&["ping", "-s", &tls_url, "--tls-insecure", "--count", "1"]);
            p.assert_ok();
            assert!(p.stderr.contains("warning: --tls-insecure"), "{}", p.stderr);
            // A message round trip over TLS; the name must match (localhost is in the cert).
            let local = format!("tls://localhost:{port}");
            let sub = subscriber(&[
                "-s",
                &local,
                "--tlscacert",
                &ca,
                "--raw",
                "--count",
                "1",
                "secure",
            ]);
            run_lite(&["pub", "-s", &tls_url, "--tlsca", &ca, "secure", "over tls"]).assert_ok();
            assert_eq!(sub.finish(RUN_TIMEOUT).assert_ok().out(), "over tls\n");
        },
    );
}

#[test]
fn tls_client_certificates() {
    let pki = TestPki::new();
    let (cert, key, ca) = (
        pki.file("server.pem"),
        pki.file("server.key"),
        pki.file("ca.pem"),
    );
    let args = [
        "--tlsverify",
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
        "--tlscacert",
        &ca,
    ];
    each_server(&args, |_, srv| {
        let url = format!("tls://127.0.0.1:{}", srv.addr.port());
        let d = run_lite(&["ping", "-s", &url, "--tlscacert", &ca, "--count", "1"]);
        assert_eq!(d.code(), 1, "{}", d.stderr);
        assert!(d.stderr.starts_with("nats-lite: "), "{}", d.stderr);
        let (ccert, ckey) = (pki.file("client.pem"), pki.file("client.key"));
        let mut env = lite(&["ping", "-s", &url, "--tlscacert", &ca, "--count", "2"]);
        env.env("NATS_CERT", &ccert).env("NATS_KEY", &ckey);
        run(env, None).assert_ok();
        run_lite(&[
            "pub",
            "-s",
            &url,
            "--tlscacert",
            &ca,
            "--tlscert",
            &ccert,
            "--tlskey",
            &ckey,
            "s",
            "x",
        ])
        .assert_ok();
        // Unreadable files are usage errors (exit 2).
        run_lite(&["ping", "-s", &url, "--tlscacert", "/nonexistent/ca.pem"])
            .assert_fails(2, "/nonexistent/ca.pem");
    });
}
