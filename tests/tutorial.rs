//! The classic install tutorial, run as written with `nats-lite server -c
//! gnatsd.config` in place of gnatsd and `nats-lite cat` in place of
//! catnats: first a config with port and net, then the same with a `tls {}`
//! block, then with `authorization {}` too. At each step a `cat`
//! subscriber (`printf "SUB greeting 0\r\n" | catnats --raw --no-exit
//! --pong`) receives what a `cat` publisher sends.

use crate::client_support::{lite, run, Client, RUN_TIMEOUT};
use crate::config_support::ConfDir;
use crate::tls_support::Pki;
use crate::util::ServerProcess;

/// `gnatsd.config` after each step of the tutorial (the port made free).
fn tutorial_config(pki: &Pki, tls: bool, auth: bool) -> String {
    let mut conf = String::from("port: -1\nnet: '127.0.0.1'\n");
    if tls {
        conf.push_str(&format!(
            "\ntls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 1\n}}\n",
            pki.cert(),
            pki.key()
        ));
    }
    if auth {
        conf.push_str("\nauthorization {\n  user: user1\n  password: pass1\n}\n");
    }
    conf
}

/// `nats-lite cat --raw --addr HOST:PORT` plus TLS trust and credentials.
fn cat_args(
    server: &ServerProcess,
    pki: &Pki,
    tls: bool,
    auth: bool,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = ["cat", "--raw", "--addr", &server.addr.to_string()]
        .map(String::from)
        .to_vec();
    if tls {
        args.extend(["--tlscacert".to_string(), pki.ca()]);
    }
    if auth {
        args.extend(["--user", "user1", "--pass", "pass1"].map(String::from));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// One step: start the server from `gnatsd.config`, check PING/PONG, run a
/// subscriber and a publisher with `cat`, and see the message arrive.
fn tutorial_step(dir: &ConfDir, pki: &Pki, tls: bool, auth: bool) {
    let file = dir.write("gnatsd.config", &tutorial_config(pki, tls, auth));
    let server = ServerProcess::start_selected_bare(&["-c", &file]);

    let ping = cat_args(&server, pki, tls, auth, &[]);
    let ping: Vec<&str> = ping.iter().map(String::as_str).collect();
    let out = run(lite(&ping), Some(b"PING\r\n")).assert_ok().out();
    assert!(
        out.starts_with("INFO {") && out.contains("PONG"),
        "step tls={tls} auth={auth}: {out}"
    );
    assert_eq!(out.contains("\"tls_required\":true"), tls, "{out}");

    let sub = cat_args(&server, pki, tls, auth, &["--no-exit", "--pong"]);
    let sub: Vec<&str> = sub.iter().map(String::as_str).collect();
    let mut subscriber = Client::spawn(lite(&sub), Some(b"SUB greeting 0\r\n".to_vec()));
    // The server's default is verbose: +OK once the SUB is in.
    subscriber.wait_stdout("+OK");

    if auth {
        // Without credentials the server refuses the connection: the
        // message never reaches the subscriber.
        let bare = cat_args(&server, pki, tls, false, &[]);
        let bare: Vec<&str> = bare.iter().map(String::as_str).collect();
        let _ = run(lite(&bare), Some(b"PUB greeting 7\r\nsneaky!\r\n"));
    }
    let publ = cat_args(&server, pki, tls, auth, &[]);
    let publ: Vec<&str> = publ.iter().map(String::as_str).collect();
    run(lite(&publ), Some(b"PUB greeting 5\r\nhello\r\n")).assert_ok();
    subscriber.wait_stdout("MSG greeting 0 5\r\nhello\r\n");
    subscriber.interrupt();
    let out = subscriber.finish(RUN_TIMEOUT).out();
    assert!(
        !out.contains("sneaky"),
        "an unauthenticated publish was delivered: {out}"
    );
}

#[test]
fn classic_tutorial_port_then_tls_then_authorization() {
    let dir = ConfDir::new("tutorial");
    let pki = Pki::new(dir.path(), "gnatsd");
    tutorial_step(&dir, &pki, false, false);
    tutorial_step(&dir, &pki, true, false);
    tutorial_step(&dir, &pki, true, true);
}
