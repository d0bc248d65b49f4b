//! `$SYS.REQ.USER.INFO`: "who am I" for a client of any account, as
//! nats-server 2.10 answers it (2.9.10 has no such service): the user, its
//! account, its permissions when restricted and the time left until its
//! JWT expires. The client's own connection thread answers, since only it
//! knows who sent the request; the reply goes to the reply subject in the
//! client's account, wrapped as every system reply.

use serde::Serialize;

use super::envelope;
use crate::server::client::Client;
use crate::server::monitor::format::nanos;
use crate::server::permissions::{Permissions, Rule, SubjectRules};
use crate::server::Server;

/// The subject.
pub const SUBJECT: &[u8] = b"$SYS.REQ.USER.INFO";

/// One direction's lists (nats-server's `SubjectPermission`).
#[derive(Debug, Default, Serialize)]
struct SubjectLists {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deny: Vec<String>,
}

/// nats-server's `ResponsePermission`.
#[derive(Debug, Serialize)]
struct Responses {
    max: usize,
    ttl: u64,
}

/// nats-server's `Permissions`.
#[derive(Debug, Serialize)]
struct PublicPermissions {
    publish: SubjectLists,
    subscribe: SubjectLists,
    #[serde(skip_serializing_if = "Option::is_none")]
    responses: Option<Responses>,
}

/// nats-server's `UserInfo`.
#[derive(Debug, Serialize)]
struct UserInfo {
    user: String,
    account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<PublicPermissions>,
    #[serde(skip_serializing_if = "is_zero")]
    expires: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn rule_text(r: &Rule) -> String {
    let mut s = String::from_utf8_lossy(&r.subject).into_owned();
    if let Some(q) = &r.queue {
        s.push(' ');
        s.push_str(&String::from_utf8_lossy(q));
    }
    s
}

fn lists(rules: Option<&SubjectRules>) -> SubjectLists {
    let Some(rules) = rules else {
        return SubjectLists::default();
    };
    SubjectLists {
        allow: rules.allow.iter().flatten().map(rule_text).collect(),
        deny: rules.deny.iter().map(rule_text).collect(),
    }
}

/// The reply for `client`, with its permissions and its JWT's expiry
/// (Unix seconds).
pub fn reply(
    server: &Server,
    client: &Client,
    permissions: Option<&Permissions>,
    expires_at: Option<i64>,
) -> Vec<u8> {
    let expires = expires_at.map_or(0, |at| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let at = std::time::Duration::from_secs(u64::try_from(at).unwrap_or(0));
        // Whole seconds, as nats-server truncates it.
        nanos(std::time::Duration::from_secs(
            at.saturating_sub(now).as_secs(),
        ))
    });
    let info = UserInfo {
        user: client.meta().user.clone().unwrap_or_default(),
        account: client.account().name.clone(),
        permissions: permissions.map(|p| PublicPermissions {
            publish: lists(p.publish.as_ref()),
            subscribe: lists(p.subscribe.as_ref()),
            responses: p.allow_responses.map(|r| Responses {
                max: r.max,
                ttl: nanos(r.expires),
            }),
        }),
        expires,
    };
    envelope::data(server, &serde_json::to_vec(&info).unwrap_or_default())
}
