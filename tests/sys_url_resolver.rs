//! The URL account resolver (`resolver: URL("http://.../jwt/v1/accounts/")`)
//! against a small HTTP server in the test that serves the account JWTs of
//! tests/data/jwt and counts the requests: the system account is fetched at
//! start, a user's account when its first user connects (and the accounts
//! it imports from), once; an unknown account is refused, and a server that
//! never answers costs a bounded wait. A resolver that is not there at
//! start stops the server, as nats-server. Checked against nats-server 2.9.10
//! with `NATS_TEST_REFERENCE=1` but for nats-lite's caching of failures.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::auth_jwt::{account_key, connect_raw, jwt_connect, keys};
use crate::config_support::{start_with_conf, ConfDir};
use crate::util::{is_reference, RawClient, ServerProcess};

/// The test's account server: JWTs by account key, requests per key, and
/// a key it never answers for.
pub struct AccountServer {
    pub addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl AccountServer {
    pub fn start(jwts: HashMap<String, String>, hang_on: String) -> AccountServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counted = hits.clone();
        std::thread::spawn(move || {
            // Connections held open without an answer (the hanging key).
            let mut held: Vec<TcpStream> = Vec::new();
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                if BufReader::new(&stream).read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split(' ').nth(1).unwrap_or_default().to_string();
                let key = path.rsplit('/').next().unwrap_or_default().to_string();
                *counted.lock().unwrap().entry(key.clone()).or_insert(0) += 1;
                if key == hang_on {
                    held.push(stream);
                    continue;
                }
                let (status, body) = match jwts.get(&key) {
                    Some(jwt) if path.starts_with("/jwt/v1/accounts/") => ("200 OK", jwt.clone()),
                    // The base URL: "anyone home?" at start.
                    None if path == "/jwt/v1/accounts/" => ("200 OK", String::new()),
                    _ => ("404 Not Found", String::new()),
                };
                let mut s = &stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/jwt\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.shutdown(Shutdown::Write);
            }
        });
        AccountServer { addr, hits }
    }

    fn hits(&self, key: &str) -> usize {
        self.hits.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

fn try_connect(server: &ServerProcess, k: &Value, user: &str) -> RawClient {
    let (mut c, nonce) = connect_raw(server);
    c.send(format!(
        "CONNECT {}\r\nPING\r\n",
        jwt_connect(k, user, &nonce)
    ));
    c
}

fn connected(server: &ServerProcess, k: &Value, user: &str) -> RawClient {
    let mut c = try_connect(server, k, user);
    assert_eq!(c.read_line(), "PONG", "{user}");
    c
}

#[test]
fn url_resolver_fetches_accounts_on_demand() {
    let k = keys();
    let jwts: HashMap<String, String> = ["SYS", "A", "E", "F"]
        .iter()
        .map(|a| {
            (
                account_key(&k, a),
                k["accounts"][*a]["jwt"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Account B's users wait on a server that never answers.
    let accounts = AccountServer::start(jwts, account_key(&k, "B"));
    let dir = ConfDir::new("url-resolver");
    let conf = format!(
        "operator: {}\nsystem_account: {}\nresolver: URL(\"http://{}/jwt/v1/accounts/\")\n",
        k["operators"]["O"]["jwt"].as_str().unwrap(),
        account_key(&k, "SYS"),
        accounts.addr
    );
    let server = start_with_conf(&dir, &conf, &[]);
    assert!(
        accounts.hits(&account_key(&k, "SYS")) >= 1,
        "the system account at start"
    );

    // Fetched when its first user connects, once.
    let a = account_key(&k, "A");
    assert_eq!(accounts.hits(&a), 0);
    let mut alice = connected(&server, &k, "alice");
    let mut bob = connected(&server, &k, "bob");
    assert_eq!(accounts.hits(&a), 1, "account A fetched once");
    // The fetched account is a subject space, with the user's permissions.
    bob.send("SUB a.> 1\r\n");
    bob.ping_pong();
    alice.send("PUB a.x 2\r\nhi\r\nPUB b.no 1\r\nx\r\n");
    assert_eq!(bob.read_line(), "MSG a.x 1 2");
    assert_eq!(bob.read_line(), "hi");
    assert!(alice
        .read_line()
        .contains("Permissions Violation for Publish to \"b.no\""));

    // frank's account F imports from E: both are fetched, the import works.
    let mut frank = connected(&server, &k, "frank");
    assert_eq!(accounts.hits(&account_key(&k, "E")), 1, "E fetched with F");
    let mut eve = connected(&server, &k, "eve");
    frank.send("SUB from_e.> 1\r\n");
    frank.ping_pong();
    eve.send("PUB e.x 2\r\nev\r\n");
    eve.ping_pong();
    assert_eq!(frank.read_line(), "MSG from_e.e.x 1 2");
    assert_eq!(frank.read_line(), "ev");

    // An account the resolver does not have (404): refused.
    let mut gina = try_connect(&server, &k, "gina");
    gina.expect_err_and_close("-ERR 'Authorization Violation'", false);
    let g = account_key(&k, "G");
    assert_eq!(accounts.hits(&g), 1);
    if !is_reference() {
        // nats-lite remembers the failure for a moment: no second request.
        let mut gina = try_connect(&server, &k, "gina");
        gina.expect_err_and_close("-ERR 'Authorization Violation'", false);
        assert_eq!(accounts.hits(&g), 1, "a failure is remembered");
    }

    // A resolver that never answers: refused after a bounded wait.
    let start = Instant::now();
    let mut carol = try_connect(&server, &k, "carol");
    let (lines, closed) = carol.read_until_closed(Duration::from_secs(10));
    assert!(
        closed && lines.iter().any(|l| l.contains("Authorization Violation")),
        "{lines:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn url_resolver_not_answering_stops_the_start() {
    let k = keys();
    // A port with nothing behind it: bind, learn the port, close.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = ConfDir::new("url-resolver-down");
    let conf = format!(
        "operator: {}\nresolver: URL(http://{addr}/jwt/v1/accounts/)\n",
        k["operators"]["O"]["jwt"].as_str().unwrap(),
    );
    let file = dir.write("server.conf", &conf);
    let out = crate::config_support::run_selected(&["-c", &file], Duration::from_secs(20));
    let text = crate::config_support::output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "could not fetch <\"http://{addr}/jwt/v1/accounts/\">"
        )),
        "{text}"
    );
}
