//! The system account's client advisories, as nats-server 2.9.10 sends
//! them (`server/events.go`): `$SYS.ACCOUNT.<account>.CONNECT`
//! (`io.nats.server.advisory.v1.client_connect`) when a client's first
//! CONNECT is accepted, and `$SYS.ACCOUNT.<account>.DISCONNECT`
//! (`io.nats.server.advisory.v1.client_disconnect`, with the client's
//! `sent` and `received` counts and the close `reason`) when it closes;
//! and `$SYS.SERVER.<server id>.CLIENT.AUTH.ERR` (a disconnect event with
//! the reason `Authentication Failure`, for a client of any account) when
//! a client's credentials are refused; `$SYS.SERVER.<server id>.SHUTDOWN`
//! (the `server` block alone) when the server shuts down.
//!
//! Only with a system account; connects and disconnects only for clients
//! of an account other than the global one (nats-server ignores `$G`
//! activity). The `client`
//! block carries what nats-server's `ClientInfo` fills for these events:
//! `start`, `host`, `id`, `acc`, `user` (nkey, user name or JWT public
//! key), `name`, `lang`, `ver`, `jwt`, `issuer_key` (a JWT's issuer, or
//! the account of a configured nkey user), `name_tag` and `tags` (a
//! JWT's), `kind`, `client_type`, and for
//! a disconnect `rtt` (nanoseconds: the last PONG's, or as nats-server
//! estimates it, the time from accept to CONNECT) and `stop`; empty ones
//! are left out
//! as Go's `omitempty` does. Not filled: a token user's `user` (nats-server
//! shows the token itself).
//!
//! A connection's thread builds the event (once per connection, never on
//! the message path) and hands it to the system service's bounded queue
//! (`internal.rs`) as a delivery for [`ADVISORY_SID`]; the service's
//! thread publishes it into the system account. A full queue drops the
//! event, counted as any internal drop.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::super::account::Account;
use super::super::client::Client;
use super::super::close::CloseReason;
use super::super::deliver::Message;
use super::super::internal::Pushed;
use super::super::monitor::format::{rfc3339_nano, GoTime};
use super::super::Server;
use super::envelope::ServerInfo;
use crate::protocol::info::Connect;

/// The sid of a delivery that is an event for the service to publish on
/// its subject (the service's own subscriptions have numeric sids).
pub const ADVISORY_SID: &[u8] = b"advisory";
const CONNECT_TYPE: &str = "io.nats.server.advisory.v1.client_connect";
const DISCONNECT_TYPE: &str = "io.nats.server.advisory.v1.client_disconnect";

/// What a connection keeps once its connect was announced, for its
/// disconnect: the CONNECT's credentials that the events show.
#[derive(Debug, Default)]
pub struct Announced {
    jwt: String,
    issuer_key: String,
    /// A user JWT's `name`.
    name_tag: String,
    /// A user JWT's tags.
    tags: Vec<String>,
    /// nats-server's first estimate of the round trip: from accept to
    /// CONNECT (until a PONG measures it).
    rtt_estimate: Duration,
}

/// nats-server's `ClientInfo`, in its field order.
#[derive(Serialize)]
struct ClientInfo<'a> {
    start: String,
    host: String,
    #[serde(skip_serializing_if = "is_zero")]
    id: u64,
    acc: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    user: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    lang: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    ver: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    rtt: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    jwt: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    issuer_key: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name_tag: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    kind: &'static str,
    client_type: &'static str,
}

/// nats-server's `DataStats`.
#[derive(Serialize)]
struct DataStats {
    msgs: u64,
    bytes: u64,
}

/// Both events: `ConnectEventMsg` and `DisconnectEventMsg` (the typed
/// event's `type`, `id`, `timestamp` first, as Go embeds them).
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    timestamp: String,
    server: ServerInfo,
    client: ClientInfo<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent: Option<DataStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    received: Option<DataStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The system service runs: events have somewhere to go.
pub fn enabled(server: &Server) -> bool {
    server.system.events.get().is_some()
}

/// A client's first CONNECT into `account` was accepted: announce it.
/// Returns what its disconnect needs, or None when nothing was sent (no
/// system account, or the global account).
pub fn client_connect(
    server: &Server,
    client: &Client,
    account: &Arc<Account>,
    connect: &Connect,
) -> Option<Box<Announced>> {
    if !enabled(server) || Arc::ptr_eq(account, &server.global) {
        return None;
    }
    let jwt = connect.jwt.clone().unwrap_or_default();
    let mut announced = Box::new(if jwt.is_empty() {
        Announced::default()
    } else {
        from_jwt(&jwt)
    });
    if jwt.is_empty() && connect.nkey.is_some() {
        announced.issuer_key = account.name.to_string();
    }
    announced.jwt = jwt;
    announced.rtt_estimate = since_start(client);
    let body = event(
        server,
        client,
        &account.name,
        &Names::of(client),
        &announced,
        None,
    );
    send(
        server,
        &format!("$SYS.ACCOUNT.{}.CONNECT", account.name),
        &body,
    );
    Some(announced)
}

/// A client whose connect was announced closed for `reason`.
pub fn client_disconnect(
    server: &Server,
    client: &Client,
    account: &Account,
    announced: &Announced,
    reason: CloseReason,
) {
    let body = event(
        server,
        client,
        &account.name,
        &Names::of(client),
        announced,
        Some(reason),
    );
    send(
        server,
        &format!("$SYS.ACCOUNT.{}.DISCONNECT", account.name),
        &body,
    );
}

/// A client's credentials were refused (`connect`, or an op before any
/// CONNECT when auth is required): `$SYS.SERVER.<id>.CLIENT.AUTH.ERR`, a
/// disconnect event with the reason `Authentication Failure`, whatever
/// the account (`acc` is `$G` before a client is accepted).
pub fn auth_error(server: &Server, client: &Client, acc: &str, connect: Option<&Connect>) {
    if !enabled(server) {
        return;
    }
    let names = connect.map_or_else(Names::default, Names::refused);
    // A CONNECT gives nats-server its first round-trip estimate.
    let announced = Announced {
        rtt_estimate: connect.map_or(Duration::ZERO, |_| since_start(client)),
        ..Announced::default()
    };
    let body = event(
        server,
        client,
        acc,
        &names,
        &announced,
        Some(CloseReason::AuthenticationViolation),
    );
    send(
        server,
        &format!("$SYS.SERVER.{}.CLIENT.AUTH.ERR", server.id),
        &body,
    );
}

/// Who the client says it is: CONNECT's user (or nkey), name, lang and
/// version.
#[derive(Default)]
struct Names {
    user: String,
    name: String,
    lang: String,
    version: String,
}

impl Names {
    /// As the client was accepted.
    fn of(client: &Client) -> Names {
        let meta = client.meta();
        Names {
            user: meta.user.clone().unwrap_or_default(),
            name: meta.name.clone(),
            lang: meta.lang.clone(),
            version: meta.version.clone(),
        }
    }

    /// As a refused CONNECT says (nats-server's `getRawAuthUser`, but a
    /// token, which is never shown).
    fn refused(connect: &Connect) -> Names {
        Names {
            user: connect
                .nkey
                .clone()
                .or_else(|| connect.user.clone())
                .unwrap_or_default(),
            name: connect.name.clone().unwrap_or_default(),
            lang: connect.lang.clone().unwrap_or_default(),
            version: connect.version.clone().unwrap_or_default(),
        }
    }
}

/// The server is shutting down: `$SYS.SERVER.<server id>.SHUTDOWN`, the
/// `server` block alone, as nats-server sends it. Published on the calling
/// thread (the service stops with the server) before the clients are
/// closed, so that their connections carry it out.
pub fn server_shutdown(server: &Server) {
    let Some((account, cid)) = server.system.publisher.get() else {
        return;
    };
    let body = serde_json::to_vec(&ServerInfo::of(server)).unwrap_or_default();
    let subject = format!("$SYS.SERVER.{}.SHUTDOWN", server.id);
    let mut fanout = super::super::conn::new_fanout(server, *cid);
    let m = Message {
        subject: subject.as_bytes(),
        reply: None,
        headers: None,
        payload: &body,
    };
    fanout.publish(account, &m, None);
    fanout.out.flush();
}

/// The JSON of a connect event, or of a disconnect one with `reason`.
fn event(
    server: &Server,
    client: &Client,
    acc: &str,
    names: &Names,
    announced: &Announced,
    reason: Option<CloseReason>,
) -> Vec<u8> {
    let meta = client.meta().clone();
    let now = SystemTime::now();
    let stop = reason.map(|_| meta.stop.unwrap_or(now));
    let rtt = match reason {
        Some(_) => rtt_nanos(meta.rtt.unwrap_or(announced.rtt_estimate)),
        None => 0,
    };
    let stats = &client.stats;
    let timestamp = rfc3339_nano(GoTime::from_system(stop.unwrap_or(now)).0);
    let e = Event {
        kind: if reason.is_some() {
            DISCONNECT_TYPE
        } else {
            CONNECT_TYPE
        },
        id: event_id(),
        timestamp,
        server: ServerInfo::of(server),
        client: ClientInfo {
            start: rfc3339_nano(GoTime::from_system(client.start).0),
            host: client.addr.ip().to_string(),
            id: client.cid,
            acc,
            user: &names.user,
            name: &names.name,
            lang: &names.lang,
            ver: &names.version,
            rtt,
            stop: stop.map(|t| rfc3339_nano(GoTime::from_system(t).0)),
            jwt: &announced.jwt,
            issuer_key: &announced.issuer_key,
            name_tag: &announced.name_tag,
            tags: &announced.tags,
            kind: "Client",
            client_type: if meta.websocket { "websocket" } else { "nats" },
        },
        sent: reason.map(|_| DataStats {
            msgs: stats.in_msgs.load(Ordering::Relaxed),
            bytes: stats.in_bytes.load(Ordering::Relaxed),
        }),
        received: reason.map(|_| DataStats {
            msgs: stats.out_msgs.load(Ordering::Relaxed),
            bytes: stats.out_bytes.load(Ordering::Relaxed),
        }),
        reason: reason.map(|r| r.to_string()),
    };
    serde_json::to_vec(&e).unwrap_or_default()
}

/// The time since the client's connection was accepted.
fn since_start(client: &Client) -> Duration {
    SystemTime::now()
        .duration_since(client.start)
        .unwrap_or_default()
        .max(Duration::from_nanos(1))
}

/// A round trip as nats-server's `getRTT` shows it: to the microsecond
/// between one microsecond and one millisecond.
fn rtt_nanos(rtt: Duration) -> u64 {
    let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
    if rtt > Duration::from_micros(1) && rtt < Duration::from_millis(1) {
        nanos / 1000 * 1000
    } else {
        nanos
    }
}

/// What the events show of a (verified) user JWT: its issuer (the
/// account's key or its signing key), `name` and tags.
fn from_jwt(jwt: &str) -> Announced {
    let Ok(claims) = super::super::jwt::claims::decode_generic(jwt) else {
        return Announced::default();
    };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    Announced {
        issuer_key: text(&claims["iss"]),
        name_tag: text(&claims["name"]),
        tags: claims["nats"]["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        ..Announced::default()
    }
}

/// An event id as nats-server's (a NUID: 22 base-62 characters).
fn event_id() -> String {
    super::super::rng::nuid()
}

/// Hand `body` to the system service to publish on `subject`.
fn send(server: &Server, subject: &str, body: &[u8]) {
    let Some(queue) = server.system.events.get() else {
        return;
    };
    let mut op = Vec::with_capacity(subject.len() + body.len() + 32);
    crate::protocol::encode::msg(&mut op, subject.as_bytes(), ADVISORY_SID, None, None, body);
    if queue.push(&mut op, 1) == Pushed::Dropped {
        server
            .stats
            .internal_dropped
            .fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_22_base62_characters() {
        let id = event_id();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        assert_ne!(id, event_id());
    }

    #[test]
    fn round_trips_under_a_millisecond_are_whole_microseconds() {
        assert_eq!(rtt_nanos(Duration::from_nanos(105_432)), 105_000);
        assert_eq!(rtt_nanos(Duration::from_nanos(1_500_123)), 1_500_123);
        assert_eq!(rtt_nanos(Duration::from_nanos(800)), 800);
    }
}
