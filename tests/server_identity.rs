//! Who a client is holds under hostile use and reloads (issue 16): a
//! `no_auth_user` guest that never sends CONNECT is settled at its first op
//! and re-checked by every reload; a reload that lands while a CONNECT's
//! bcrypt check runs still applies to that client; a reload that removes a
//! subscription withdraws its interest from the routes; a second CONNECT
//! may not move a client to another account; failed logins cost no more
//! CPU than good ones, whatever user name they give; and a cluster
//! authorization block that would check no route is refused.
#![cfg(unix)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster_support::{eventually, Impl, Node, MESH_TIMEOUT};
use crate::config_support::{output_text, run_lite, start_with_conf, ConfDir};
use crate::util::{
    is_reference, skip_under_reference, unsafe_kill, RawClient, ServerProcess, IO_TIMEOUT,
};

const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'";

fn user_pass(user: &str, pass: &str) -> String {
    serde_json::json!({"verbose": false, "user": user, "pass": pass}).to_string()
}

/// A bcrypt hash of `password` at `cost` (`$2a$`, as nats-server's tool).
fn bcrypt_hash(password: &str, cost: u32) -> String {
    bcrypt::hash_with_result(password, cost)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA)
}

/// Rewrite the config file, signal a reload (SIGHUP) and wait for
/// `Reloaded server configuration`.
fn reload(server: &mut ServerProcess, file: &str, conf: &str) {
    std::fs::write(file, conf).unwrap();
    let seen = server.log_lines().len();
    unsafe_kill(server.pid(), "HUP");
    server
        .wait_for_log_since(seen, "Reloaded server configuration", IO_TIMEOUT)
        .expect("no reload line");
}

/// Read lines up to the PONG of a PING sent now, answering nothing else.
fn lines_until_pong(c: &mut RawClient) -> Vec<String> {
    c.send("PING\r\n");
    let mut lines = Vec::new();
    loop {
        let l = c.read_line();
        if l == "PONG" {
            return lines;
        }
        lines.push(l);
    }
}

/// Users `admin` and `guest` (with `guest_perms`), `no_auth_user: guest`
/// unless `no_auth` is false.
fn guest_conf(guest_perms: &str, no_auth: bool) -> String {
    format!(
        "authorization {{ users: [ {{user: admin, password: s3cret}}, {{user: guest, password: g, permissions: {guest_perms}}} ] }}\n{}",
        if no_auth { "no_auth_user: guest\n" } else { "" }
    )
}

/// A guest that never sends CONNECT (the telnet case) is settled at its
/// first op, so a reload that denies its subjects takes its subscription
/// away and refuses its publish, as for a user who sent CONNECT
/// (nats-server 2.9.10 closes the guest with `Authorization Violation`).
#[test]
fn no_auth_user_guest_without_connect_is_rechecked_on_reload() {
    let dir = ConfDir::new("guest-reload");
    let file = dir.write(
        "server.conf",
        &guest_conf("{publish: \">\", subscribe: \">\"}", true),
    );
    let mut server = ServerProcess::start_selected(&["-c", &file]);
    let mut guest = server.connect();
    guest.read_info();
    guest.send("SUB secret.> 1\r\n");
    assert_eq!(lines_until_pong(&mut guest), ["+OK"]);
    reload(
        &mut server,
        &file,
        &guest_conf("{publish: \"public.>\", subscribe: \"public.>\"}", true),
    );
    let first = guest.read_line();
    if is_reference() {
        // nats-server 2.9.10 cuts the guest off instead.
        assert_eq!(first, AUTH_VIOLATION);
        return;
    }
    assert_eq!(
        first,
        "-ERR 'Permissions Violation for Subscription to \"secret.>\" (sid \"1\")'"
    );
    guest.send("PUB secret.a 1\r\nx\r\n");
    assert_eq!(
        lines_until_pong(&mut guest),
        ["-ERR 'Permissions Violation for Publish to \"secret.a\"'"]
    );
    let mut admin = server.client(&user_pass("admin", "s3cret"));
    admin.send("PUB secret.b 1\r\ny\r\n");
    admin.flush();
    assert!(
        lines_until_pong(&mut guest).is_empty(),
        "the guest still receives secret.>"
    );
}

/// A reload that removes `no_auth_user` cuts off the guest that never sent
/// CONNECT (nats-server 2.9.10 refuses such a reload: `config reload not
/// supported for NoAuthUser`).
#[test]
fn reload_removing_no_auth_user_closes_the_guest() {
    if skip_under_reference("nats-server 2.9.10 refuses to reload a changed no_auth_user") {
        return;
    }
    let dir = ConfDir::new("guest-removed");
    let file = dir.write("server.conf", &guest_conf("{subscribe: \">\"}", true));
    let mut server = ServerProcess::start_selected(&["-c", &file]);
    let mut guest = server.connect();
    guest.read_info();
    guest.send("SUB secret.> 1\r\n");
    assert_eq!(lines_until_pong(&mut guest), ["+OK"]);
    reload(&mut server, &file, &guest_conf("{subscribe: \">\"}", false));
    let (lines, closed) = guest.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "got {lines:?}, closed={closed}"
    );
}

/// A reload that lands while a CONNECT's bcrypt check (cost 10, a few
/// hundred ms in a debug build) is running: the client was checked against
/// the old password, and must be checked again against the new one.
#[test]
fn reload_during_a_bcrypt_connect_rechecks_it() {
    let dir = ConfDir::new("reload-race");
    let conf =
        |hash: &str| format!("authorization {{ users: [ {{user: u, password: \"{hash}\"}} ] }}\n");
    let file = dir.write("server.conf", &conf(&bcrypt_hash("old", 10)));
    let mut server = ServerProcess::start_selected(&["-c", &file, "-D", "-V"]);
    let new_conf = conf(&bcrypt_hash("new", 4));
    let mut c = server.connect();
    c.read_info();
    c.send(format!("CONNECT {}\r\n", user_pass("u", "old")));
    // The CONNECT is traced before its password is checked.
    server
        .wait_for_log("<<- [CONNECT", IO_TIMEOUT)
        .expect("CONNECT traced");
    reload(&mut server, &file, &new_conf);
    c.send("PING\r\n");
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "kept the old password's rights: got {lines:?}, closed={closed}"
    );
}

/// A reload that denies a subscription withdraws its interest from the
/// cluster: the other server stops listing it for the route (`RS-`).
/// (nats-server 2.9.10 does not: checked with both nodes nats-server.)
#[test]
fn reload_removing_a_subscription_withdraws_route_interest() {
    if skip_under_reference(
        "nats-server 2.9.10 keeps announcing the removed subscription to its routes",
    ) {
        return;
    }
    let dir = ConfDir::new("reload-route-interest");
    let conf = |perms: &str| {
        format!(
            "cluster {{ listen: \"127.0.0.1:-1\", name: ctest }}\nauthorization {{ users: [ {{user: u, password: p, permissions: {perms}}} ] }}\n"
        )
    };
    let file = dir.write("server.conf", &conf("{subscribe: \">\"}"));
    let mut a = Node::start(Impl::Lite, &["-c", &file]);
    let b = Node::clustered(Impl::Lite, &[a.route_url()], &[]);
    b.wait_routes(1, MESH_TIMEOUT);
    let mut u = a.server.client(&user_pass("u", "p"));
    u.send("SUB secret.x 1\r\nSUB public.y 2\r\n");
    u.flush();
    let remote_subs = |node: &Node| -> Vec<String> {
        // Through ureq, which reads a chunked reply too.
        let body = ureq::get(format!("http://{}/routez?subs=1", node.http))
            .call()
            .expect("GET /routez")
            .body_mut()
            .read_to_string()
            .expect("body");
        let routez: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        routez["routes"][0]["subscriptions_list"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        eventually(MESH_TIMEOUT, || {
            let subs = remote_subs(&b);
            subs.contains(&"secret.x".to_string()) && subs.contains(&"public.y".to_string())
        }),
        "interest never reached the other server: {:?}",
        remote_subs(&b)
    );
    reload(&mut a.server, &file, &conf("{subscribe: \"public.>\"}"));
    assert_eq!(
        u.read_line(),
        "-ERR 'Permissions Violation for Subscription to \"secret.x\" (sid \"1\")'"
    );
    assert!(
        eventually(MESH_TIMEOUT, || !remote_subs(&b)
            .contains(&"secret.x".to_string())),
        "the removed subscription is still announced: {:?}",
        remote_subs(&b)
    );
    assert!(remote_subs(&b).contains(&"public.y".to_string()));
}

/// A second CONNECT as a user of another account is refused and the
/// connection closed (nats-server 2.9.10 switches the account and leaves
/// the subscriptions in the old one, where they keep receiving); a second
/// CONNECT as another user of the same account is accepted.
#[test]
fn second_connect_may_not_change_the_account() {
    if skip_under_reference(
        "nats-server 2.9.10 moves the client and leaves its subscriptions behind",
    ) {
        return;
    }
    let dir = ConfDir::new("second-connect-account");
    let server = start_with_conf(
        &dir,
        "accounts { A { users: [ {user: a, password: pa}, {user: a2, password: pa2} ] }, B { users: [ {user: b, password: pb} ] } }\n",
        &[],
    );
    let mut c = server.client(&user_pass("a", "pa"));
    c.send(format!("SUB x 1\r\nCONNECT {}\r\n", user_pass("a2", "pa2")));
    assert!(c.flush().is_empty(), "same account: accepted");
    c.send(format!("CONNECT {}\r\nPING\r\n", user_pass("b", "pb")));
    let (lines, closed) = c.read_until_closed(IO_TIMEOUT);
    assert!(
        lines == [AUTH_VIOLATION] && closed,
        "got {lines:?}, closed={closed}"
    );
    // The old account's subscription went with the connection.
    let mut other = server.client(&user_pass("a", "pa"));
    other.send("SUB x 9\r\nPUB x 1\r\nz\r\n");
    assert_eq!(other.flush(), ["MSG x 9 1", "z"]);
}

// ---- what a failed login costs ----

/// CPU time the process `pid` has used so far (user + system), from
/// `/proc/PID/stat`.
#[cfg(target_os = "linux")]
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    let hz: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100);
    Duration::from_millis(ticks * 1000 / hz)
}

/// How many threads of process `pid` are running or waiting for a CPU
/// (state `R` in `/proc/PID/task/*/stat`).
#[cfg(target_os = "linux")]
fn runnable_threads(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next().map(|s| s == "R"))
                .unwrap_or(false)
        })
        .count()
}

/// Send `CONNECT {connect}` on `n` new connections, one after the other,
/// each refused: (server CPU used, median time from CONNECT to the close).
#[cfg(target_os = "linux")]
fn refusals(server: &ServerProcess, connect: &str, n: usize) -> (Duration, Duration) {
    let cpu_before = cpu_time(server.pid());
    let mut times = Vec::new();
    for _ in 0..n {
        let mut c = server.connect();
        c.read_info();
        let start = Instant::now();
        c.send(format!("CONNECT {connect}\r\nPING\r\n"));
        let (lines, closed) = c.read_until_closed(Duration::from_secs(10));
        times.push(start.elapsed());
        assert!(
            lines == [AUTH_VIOLATION] && closed,
            "{connect}: got {lines:?}, closed={closed}"
        );
    }
    times.sort();
    (cpu_time(server.pid()) - cpu_before, times[n / 2])
}

/// Single-user auth with a bcrypt password: a wrong user name computes no
/// hash (main computed one for any name), yet is refused no sooner than a
/// wrong password, so the time does not tell whether the name is right.
#[cfg(target_os = "linux")]
#[test]
fn wrong_user_name_costs_no_hash_and_no_less_time() {
    if skip_under_reference("nats-server refuses a wrong user name at once") {
        return;
    }
    // Cost 8: about 80 ms per check in a debug build.
    let conf = format!(
        "authorization {{ user: alice, password: \"{}\" }}\n",
        bcrypt_hash("right", 8)
    );
    let dir = ConfDir::new("wrong-user-cost");
    let server = start_with_conf(&dir, &conf, &[]);
    let (cpu_pass, time_pass) = refusals(&server, &user_pass("alice", "wrong"), 5);
    let (cpu_user, time_user) = refusals(&server, &user_pass("mallory", "wrong"), 5);
    eprintln!(
        "wrong password: cpu {cpu_pass:?}, median {time_pass:?}; wrong user: cpu {cpu_user:?}, median {time_user:?}"
    );
    assert!(
        cpu_user * 4 < cpu_pass,
        "a wrong user name costs CPU: {cpu_user:?} for 5, against {cpu_pass:?} for 5 wrong passwords"
    );
    assert!(
        time_user * 2 > time_pass,
        "a wrong user name is refused sooner ({time_user:?}) than a wrong password ({time_pass:?})"
    );
}

/// Multi-user auth: a user that does not exist is refused no sooner than
/// a wrong password for one that does (main answered at once), and without
/// a hash.
#[cfg(target_os = "linux")]
#[test]
fn unknown_user_is_refused_as_slowly_as_a_wrong_password() {
    if skip_under_reference("nats-server refuses an unknown user at once") {
        return;
    }
    let conf = format!(
        "authorization {{ users: [ {{user: alice, password: \"{}\"}}, {{user: bob, password: \"{}\"}} ] }}\n",
        bcrypt_hash("a", 8),
        bcrypt_hash("b", 8)
    );
    let dir = ConfDir::new("unknown-user-time");
    let server = start_with_conf(&dir, &conf, &[]);
    let (cpu_pass, time_pass) = refusals(&server, &user_pass("alice", "wrong"), 5);
    let (cpu_user, time_user) = refusals(&server, &user_pass("mallory", "wrong"), 5);
    eprintln!(
        "wrong password: cpu {cpu_pass:?}, median {time_pass:?}; unknown user: cpu {cpu_user:?}, median {time_user:?}"
    );
    assert!(
        time_user * 2 > time_pass,
        "an unknown user is refused sooner ({time_user:?}) than a wrong password ({time_pass:?})"
    );
    assert!(cpu_user * 4 < cpu_pass, "{cpu_user:?} vs {cpu_pass:?}");
}

/// A flood of CONNECTs with wrong passwords (6 threads, 8 connections
/// each at a time, 3 s): bcrypt checks take turns, so no more server
/// threads are runnable than the permits allow (main ran every check at
/// once), and a connected client's round trips stay fast.
#[cfg(target_os = "linux")]
#[test]
fn wrong_password_flood_is_bounded_and_others_stay_fast() {
    if skip_under_reference("nats-server checks bcrypt passwords without a bound") {
        return;
    }
    let conf = format!(
        "authorization {{ user: alice, password: \"{}\" }}\n",
        bcrypt_hash("right", 8)
    );
    let dir = ConfDir::new("flood");
    let server = start_with_conf(&dir, &conf, &[]);
    let mut good = server.client(&user_pass("alice", "right"));
    let stop = Arc::new(AtomicBool::new(false));
    let addr = server.addr;
    let flooders: Vec<_> = (0..6)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut attempts = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    // Eight at once, as a flood would.
                    let mut batch: Vec<RawClient> = (0..8)
                        .map(|_| {
                            let mut c = RawClient::connect(addr);
                            c.read_info();
                            c.send(format!(
                                "CONNECT {}\r\nPING\r\n",
                                user_pass("alice", "wrong")
                            ));
                            c
                        })
                        .collect();
                    for c in &mut batch {
                        let _ = c.read_until_closed(Duration::from_secs(60));
                        attempts += 1;
                    }
                }
                attempts
            })
        })
        .collect();
    let wall = Instant::now();
    let mut round_trips = Vec::new();
    let mut runnable = Vec::new();
    while wall.elapsed() < Duration::from_secs(3) {
        runnable.push(runnable_threads(server.pid()));
        let start = Instant::now();
        let lines = good.flush();
        round_trips.push(start.elapsed());
        for l in lines {
            // The server's own keepalive.
            assert_eq!(l, "PING");
            good.send("PONG\r\n");
        }
        // A round trip every 10 ms: the client is well behaved.
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let attempts: u32 = flooders.into_iter().map(|t| t.join().unwrap()).sum();
    round_trips.sort();
    runnable.sort();
    let median = round_trips[round_trips.len() / 2];
    let runnable_median = runnable[runnable.len() / 2];
    let permits = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
    eprintln!(
        "{attempts} refused logins; server threads runnable: median {runnable_median}, max {} (bcrypt permits {permits}); {} round trips, median {median:?}, max {:?}",
        runnable.last().unwrap(),
        round_trips.len(),
        round_trips.last().unwrap()
    );
    // Runnable, not running: the count does not depend on how busy the
    // machine is. The connection threads' other work is short.
    assert!(
        runnable_median <= permits + 2,
        "{runnable_median} server threads runnable at once (median), with {permits} bcrypt permits"
    );
    assert!(
        median < Duration::from_millis(100),
        "round trips slowed to {median:?} (median)"
    );
}

// ---- who a route is ----

/// A cluster `authorization` block that checks no one (a password without
/// a user, an empty users list, only a timeout) is a configuration error,
/// at start and on reload: nats-server 2.9.10 accepts any route then.
#[test]
fn cluster_authorization_that_checks_no_one_is_refused_at_start_and_on_reload() {
    let dir = ConfDir::new("cluster-auth-no-one");
    let conf = |auth: &str| {
        format!("cluster {{ listen: \"127.0.0.1:-1\", name: ctest, authorization {auth} }}\n")
    };
    for auth in ["{ password: secret }", "{ users: [] }", "{ timeout: 2 }"] {
        let file = dir.write("start.conf", &conf(auth));
        let out = run_lite(&["-c", &file, "-a", "127.0.0.1", "-p", "-1"], IO_TIMEOUT);
        let text = output_text(&out);
        assert!(
            !out.status.success() && text.contains("any server could join the cluster"),
            "{auth}: {text}"
        );
    }
    let file = dir.write("server.conf", &conf("{ user: ru, password: rp }"));
    let mut server = ServerProcess::start(&["-c", &file]);
    std::fs::write(&file, conf("{ password: rp }")).unwrap();
    let seen = server.log_lines().len();
    unsafe_kill(server.pid(), "HUP");
    let line = server
        .wait_for_log_since(seen, "any server could join the cluster", IO_TIMEOUT)
        .expect("the reload names the problem");
    assert!(line.contains("[ERR]"), "{line}");
    assert!(!server
        .log_lines()
        .iter()
        .skip(seen)
        .any(|l| l.contains("Reloaded server configuration")));
}
