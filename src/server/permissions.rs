//! Per-user publish and subscribe permissions, as nats-server applies them.
//!
//! - Publish: a subject is allowed when it matches an `allow` pattern (or
//!   there is no allow list) and no `deny` pattern. Deny always wins.
//! - Subscribe: a SUB is allowed when its subject is covered by an `allow`
//!   pattern and not covered by a `deny` pattern. A wildcard SUB that only
//!   overlaps a deny pattern (allow `foo.*`, deny `foo.secret`) is accepted,
//!   and the denied subjects are filtered out when messages are delivered.
//!   Entries may name a queue (`"foo q"`): they then apply to that queue only.
//! - Responses (`allow_responses`): a client that received a request may
//!   publish to its reply subject, a bounded number of times within a time.
//!
//! Decisions for literal subjects are cached by the caller (the connection
//! thread), so the pattern lists are walked once per subject.

use std::time::Duration;

use crate::protocol::subject::{is_literal, is_subset, matches};

/// One allow or deny entry: a subject pattern, optionally for one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Subject pattern.
    pub subject: Vec<u8>,
    /// Queue group the entry is limited to.
    pub queue: Option<Vec<u8>>,
}

impl Rule {
    /// Parse `"subject"` or `"subject queue"`.
    pub fn parse(text: &str) -> Rule {
        let mut parts = text.split_whitespace();
        let subject = parts.next().unwrap_or_default().as_bytes().to_vec();
        let queue = parts.next().map(|q| q.as_bytes().to_vec());
        Rule { subject, queue }
    }

    fn queue_applies(&self, queue: Option<&[u8]>) -> bool {
        match (&self.queue, queue) {
            (None, _) => true,
            (Some(want), Some(q)) => matches(want, q),
            (Some(_), None) => false,
        }
    }
}

/// Allow and deny lists for one direction. An empty allow list with
/// `allow_all` false allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectRules {
    /// Patterns allowed; `None` means everything not denied.
    pub allow: Option<Vec<Rule>>,
    /// Patterns denied.
    pub deny: Vec<Rule>,
}

impl SubjectRules {
    /// Rules from allow and deny texts (`None` allow: everything not denied).
    pub fn new(allow: Option<Vec<String>>, deny: Vec<String>) -> SubjectRules {
        SubjectRules {
            allow: allow.map(|a| a.iter().map(|s| Rule::parse(s)).collect()),
            deny: deny.iter().map(|s| Rule::parse(s)).collect(),
        }
    }

    /// May a message be published to the literal `subject`?
    pub fn allows_publish(&self, subject: &[u8]) -> bool {
        let allowed = match &self.allow {
            None => true,
            Some(list) => list.iter().any(|r| matches(&r.subject, subject)),
        };
        allowed && !self.deny.iter().any(|r| matches(&r.subject, subject))
    }

    /// May the client subscribe to `subject` (possibly a wildcard) in `queue`?
    pub fn allows_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let allowed = match &self.allow {
            None => true,
            Some(list) => list
                .iter()
                .any(|r| r.queue_applies(queue) && is_subset(subject, &r.subject)),
        };
        allowed
            && !self
                .deny
                .iter()
                .any(|r| r.queue_applies(queue) && is_subset(subject, &r.subject))
    }

    /// Must a message on the literal `subject` be held back from a
    /// subscription (in `queue`) that was allowed? (The deny list overlapped it.)
    pub fn denies_delivery(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.deny
            .iter()
            .any(|r| r.queue_applies(queue) && matches(&r.subject, subject))
    }

    /// True when some deny pattern can hold back deliveries.
    pub fn has_deny(&self) -> bool {
        !self.deny.is_empty()
    }
}

/// Publishing to reply subjects of received requests (`allow_responses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePermission {
    /// Replies allowed per request (0: unlimited).
    pub max: usize,
    /// How long after the request a reply is allowed.
    pub expires: Duration,
}

impl Default for ResponsePermission {
    /// nats-server's defaults: one reply within two minutes.
    fn default() -> Self {
        ResponsePermission {
            max: 1,
            expires: Duration::from_secs(120),
        }
    }
}

/// A user's permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Publish rules (`None`: anything).
    pub publish: Option<SubjectRules>,
    /// Subscribe rules (`None`: anything).
    pub subscribe: Option<SubjectRules>,
    /// Replies to received requests.
    pub allow_responses: Option<ResponsePermission>,
}

impl Permissions {
    /// May the client publish to `subject` (ignoring response permissions)?
    pub fn can_publish(&self, subject: &[u8]) -> bool {
        self.publish
            .as_ref()
            .is_none_or(|r| r.allows_publish(subject))
    }

    /// May the client subscribe?
    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.subscribe
            .as_ref()
            .is_none_or(|r| r.allows_subscribe(subject, queue))
    }

    /// Must a delivery to a subscription of this client be held back?
    pub fn denies_delivery(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.subscribe
            .as_ref()
            .is_some_and(|r| r.has_deny() && r.denies_delivery(subject, queue))
    }
}

/// The `-ERR` text for a publish violation.
pub fn publish_violation(subject: &[u8]) -> String {
    format!("Permissions Violation for Publish to {}", go_quote(subject))
}

/// The `-ERR` text for a subscription violation.
pub fn subscribe_violation(subject: &[u8], queue: Option<&[u8]>) -> String {
    match queue {
        Some(q) => format!(
            "Permissions Violation for Subscription to {} using queue {}",
            go_quote(subject),
            go_quote(q)
        ),
        None => format!(
            "Permissions Violation for Subscription to {}",
            go_quote(subject)
        ),
    }
}

/// Quote as Go's `%q` does for the ASCII range.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// True when `subject` has no wildcard token (a decision about it can be cached).
pub fn cacheable(subject: &[u8]) -> bool {
    is_literal(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: Option<&[&str]>, deny: &[&str]) -> SubjectRules {
        SubjectRules::new(
            allow.map(|a| a.iter().map(|s| s.to_string()).collect()),
            deny.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn publish_allow_and_deny() {
        let r = rules(Some(&["foo.*", "bar"]), &["foo.secret"]);
        assert!(r.allows_publish(b"foo.x"));
        assert!(r.allows_publish(b"bar"));
        assert!(!r.allows_publish(b"foo.secret"));
        assert!(!r.allows_publish(b"baz"));
        let deny_only = rules(None, &["admin.>"]);
        assert!(deny_only.allows_publish(b"anything"));
        assert!(!deny_only.allows_publish(b"admin.x.y"));
    }

    #[test]
    fn subscribe_wildcards_overlapping_a_deny_are_allowed_but_filtered() {
        let r = rules(Some(&["foo.*"]), &["foo.secret"]);
        assert!(r.allows_subscribe(b"foo.*", None));
        assert!(r.allows_subscribe(b"foo.x", None));
        assert!(!r.allows_subscribe(b"foo.secret", None));
        assert!(!r.allows_subscribe(b"foo.>", None));
        assert!(r.denies_delivery(b"foo.secret", None));
        assert!(!r.denies_delivery(b"foo.x", None));
    }

    #[test]
    fn queue_scoped_entries() {
        let r = rules(Some(&["jobs q1"]), &[]);
        assert!(r.allows_subscribe(b"jobs", Some(b"q1")));
        assert!(!r.allows_subscribe(b"jobs", Some(b"q2")));
        assert!(!r.allows_subscribe(b"jobs", None));
        let d = rules(None, &["jobs q1"]);
        assert!(!d.allows_subscribe(b"jobs", Some(b"q1")));
        assert!(d.allows_subscribe(b"jobs", None));
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            publish_violation(b"foo"),
            "Permissions Violation for Publish to \"foo\""
        );
        assert_eq!(
            subscribe_violation(b"foo", Some(b"q")),
            "Permissions Violation for Subscription to \"foo\" using queue \"q\""
        );
        assert_eq!(go_quote(b"a\"b\x01"), "\"a\\\"b\\x01\"");
    }
}
