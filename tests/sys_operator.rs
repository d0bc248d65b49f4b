//! Operator mode and the system account: the system requests answered for
//! the operator's system account (a user JWT of it) and for an ordinary
//! account, and activation tokens for private exports (`token_req`):
//! tests/data/jwt/make.mjs has account F import E's private services with
//! good tokens (signed by E, or by E's signing key) and bad ones (expired,
//! issued to another account, for another subject, none), and a private
//! stream. Only the good ones deliver, as with nats-server 2.9.10
//! (`NATS_TEST_REFERENCE=1`).

use serde_json::Value;

use crate::auth_jwt::{account_key, connect_raw, jwt_connect, keys, operator_conf};
use crate::config_support::{start_with_conf, ConfDir};
use crate::sys_requests::{next_msg, request, send_request};
use crate::util::{RawClient, ServerProcess};

/// Connect as `user` with headers and no_responders.
pub fn login(server: &ServerProcess, k: &Value, user: &str) -> RawClient {
    let (mut c, nonce) = connect_raw(server);
    let mut connect: Value = serde_json::from_str(&jwt_connect(k, user, &nonce)).unwrap();
    connect["headers"] = true.into();
    connect["no_responders"] = true.into();
    connect["protocol"] = 1.into();
    c.send(format!("CONNECT {connect}\r\n"));
    c.ping_pong();
    c
}

pub fn operator_server(tag: &str) -> (ServerProcess, ConfDir, Value) {
    let k = keys();
    let dir = ConfDir::new(tag);
    let conf = operator_conf(&k, "O", &["SYS", "A", "E", "F", "G", "H"]);
    let server = start_with_conf(&dir, &conf, &[]);
    (server, dir, k)
}

#[test]
fn system_requests_in_operator_mode() {
    let (server, _dir, k) = operator_server("sysop-requests");
    let sys_key = account_key(&k, "SYS");
    let mut sysop = login(&server, &k, "sysop");
    let varz = request(&mut sysop, "$SYS.REQ.SERVER.PING.VARZ", "");
    assert_eq!(varz["data"]["system_account"], sys_key.as_str(), "{varz}");
    let statsz = request(&mut sysop, "$SYS.REQ.SERVER.PING", "");
    assert!(
        statsz["statsz"]["connections"].as_u64().unwrap() >= 1,
        "{statsz}"
    );
    let mut frank = login(&server, &k, "frank");
    let connz = request(&mut frank, "$SYS.REQ.SERVER.PING.CONNZ", "");
    assert_eq!(connz["data"]["num_connections"], 1, "{connz}");
    let f_key = account_key(&k, "F");
    let connz = request(&mut sysop, &format!("$SYS.REQ.ACCOUNT.{f_key}.CONNZ"), "");
    assert_eq!(connz["data"]["num_connections"], 1, "{connz}");
    send_request(&mut frank, "_INBOX.no", "$SYS.REQ.SERVER.PING.VARZ", "");
    let (head, _) = next_msg(&mut frank);
    assert!(head.starts_with("HMSG _INBOX.no "), "{head}");
}

#[test]
fn activation_tokens_open_private_exports() {
    let (server, _dir, k) = operator_server("sysop-activation");
    let mut eve = login(&server, &k, "eve");
    let mut frank = login(&server, &k, "frank");
    eve.send("SUB private.> 1\r\n");
    eve.ping_pong();
    for (local, exported) in [("p.good", "private.good"), ("p.sk", "private.sk")] {
        send_request(&mut frank, &format!("_INBOX.{local}"), local, "q");
        // With the requesting account in a Nats-Request-Info header.
        let (head, payload) = next_msg(&mut eve);
        assert!(
            head.starts_with(&format!("HMSG {exported} 1 _R_.")),
            "{head}"
        );
        let text = String::from_utf8_lossy(&payload);
        assert!(
            text.starts_with("NATS/1.0\r\nNats-Request-Info: {"),
            "{text}"
        );
        assert!(
            text.contains(&format!("\"acc\":\"{}\"", account_key(&k, "F"))),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\nq"), "{text}");
        let reply = head.split(' ').nth(3).unwrap().to_string();
        eve.send(format!("PUB {reply} 1\r\na\r\n"));
        let (head, payload) = next_msg(&mut frank);
        assert!(head.starts_with(&format!("MSG _INBOX.{local} ")), "{head}");
        assert_eq!(payload, b"a");
    }
    // Refused imports: nobody in F answers, so no responders.
    for local in ["p.expired", "p.other", "p.wrong", "p.none"] {
        send_request(&mut frank, &format!("_INBOX.{local}"), local, "q");
        let (head, payload) = next_msg(&mut frank);
        assert!(
            head.starts_with(&format!("HMSG _INBOX.{local} ")),
            "{local}: {head}"
        );
        assert!(String::from_utf8_lossy(&payload).starts_with("NATS/1.0 503"));
    }
    // The private stream with its token.
    frank.send("SUB from_p.> 7\r\n");
    frank.ping_pong();
    eve.send("PUB pstream.x 2\r\nps\r\n");
    eve.ping_pong();
    let (head, payload) = next_msg(&mut frank);
    assert_eq!(head, "MSG from_p.pstream.x 7 2");
    assert_eq!(payload, b"ps");
    // Nothing of the refused ones reached eve.
    assert!(eve.is_quiet_for(std::time::Duration::from_millis(100)));
    // Accounts whose tokens are not theirs or not for their import.
    for user in ["gina", "hank"] {
        let (mut c, nonce) = connect_raw(&server);
        c.send(format!(
            "CONNECT {}\r\nPING\r\n",
            jwt_connect(&k, user, &nonce)
        ));
        c.expect_err_and_close("-ERR 'Authorization Violation'", false);
    }
}

#[test]
fn user_info_of_a_jwt_user() {
    if crate::util::is_reference() {
        eprintln!("skip: nats-server 2.9.10 has no $SYS.REQ.USER.INFO (2.10 added it)");
        return;
    }
    let (server, _dir, k) = operator_server("sysop-user-info");
    let mut frank = login(&server, &k, "frank");
    let info = request(&mut frank, "$SYS.REQ.USER.INFO", "");
    assert_eq!(
        info["data"]["user"], k["users"]["frank"]["public"],
        "{info}"
    );
    assert_eq!(
        info["data"]["account"],
        account_key(&k, "F").as_str(),
        "{info}"
    );
    assert!(info["data"].get("permissions").is_none(), "{info}");
    assert!(info["data"].get("expires").is_none(), "{info}");
    // A JWT that expires: the time left, in nanoseconds (whole seconds).
    let mut later = login(&server, &k, "later");
    let info = request(&mut later, "$SYS.REQ.USER.INFO", "");
    let left = info["data"]["expires"].as_u64().unwrap();
    let year = 365 * 86400 * 1_000_000_000u64;
    assert!(left > 9 * year && left <= 10 * year, "{info}");
    assert_eq!(left % 1_000_000_000, 0, "{info}");
}
