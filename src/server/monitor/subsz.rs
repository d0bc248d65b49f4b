//! `/subsz` (also `/subscriptionsz`): the subject index's statistics and,
//! with `subs=1`, a page of the subscriptions themselves, optionally only
//! those a message on the literal subject `test=` would reach.

use serde::Serialize;

use super::connz::{page, SubDetail, DEFAULT_LIMIT};
use super::format::GoTime;
use super::http::{ApiError, Query};
use std::sync::Arc;

use crate::protocol::subject::{is_valid_literal_subject, matches};
use crate::server::account::Account;
use crate::server::sublist::SublistStats;
use crate::server::subscription::Subscription;
use crate::server::Server;

/// The `/subsz` reply, as nats-server's `Subsz` (its `SublistStats` inline).
#[derive(Debug, Serialize)]
pub struct Subsz {
    /// Server id.
    pub server_id: String,
    /// Now.
    pub now: GoTime,
    /// The index's counters, inline as nats-server's `SublistStats`.
    #[serde(flatten)]
    pub stats: SublistStats,
    /// Subscriptions matching the query, before paging (`subs=1`).
    pub total: usize,
    /// Page offset.
    pub offset: i64,
    /// Page size.
    pub limit: i64,
    /// The page (`subs=1`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<SubDetail>,
}

/// The query of one `/subsz` request.
#[derive(Debug, Clone, Default)]
pub struct SubszOptions {
    /// List subscriptions.
    pub subs: bool,
    /// Page offset (never negative).
    pub offset: i64,
    /// Page size (positive).
    pub limit: i64,
    /// Only subscriptions matching this literal subject.
    pub test: Option<String>,
    /// Only this account's subscriptions.
    pub acc: Option<String>,
}

impl SubszOptions {
    /// Decode the query string as nats-server's `HandleSubsz`.
    ///
    /// # Errors
    ///
    /// The text of the HTTP 400 reply for a bad value.
    pub fn from_query(q: &Query) -> Result<SubszOptions, ApiError> {
        let subs = q.bool("subs")?;
        let offset = q.int("offset")?;
        let limit = q.int("limit")?;
        let test = match q.get("test") {
            None | Some("") => None,
            Some(t) if is_valid_literal_subject(t.as_bytes()) => Some(t.to_string()),
            Some(t) => {
                return Err(ApiError(format!(
                    "invalid test subject, must be valid publish subject: {t}"
                )))
            }
        };
        Ok(SubszOptions {
            subs,
            offset: offset.max(0),
            limit: if limit <= 0 { DEFAULT_LIMIT } else { limit },
            test,
            acc: q.get("acc").filter(|a| !a.is_empty()).map(str::to_string),
        })
    }
}

/// Build the `/subsz` reply: the statistics of every account's index
/// added up (or of the account `acc` only).
pub fn subsz(server: &Server, o: &SubszOptions) -> Subsz {
    let accounts: Vec<Arc<Account>> = super::accounts(server)
        .into_iter()
        .filter(|a| o.acc.as_deref().is_none_or(|name| a.name == name))
        .collect();
    let st = add_stats(accounts.iter().map(|a| a.sublist.stats()));
    let mut list = Vec::new();
    let mut total = 0;
    if o.subs {
        let mut subs: Vec<Arc<Subscription>> =
            accounts.iter().flat_map(|a| a.sublist.all()).collect();
        if let Some(test) = &o.test {
            subs.retain(|s| matches(&s.subject, test.as_bytes()));
        }
        subs.retain(|s| s.client.is_some());
        // A stable order (by connection, then sid) so that pages do not overlap.
        let cid = |s: &Subscription| s.client.as_ref().map_or(0, |c| c.cid);
        subs.sort_by(|a, b| cid(a).cmp(&cid(b)).then_with(|| a.sid.cmp(&b.sid)));
        total = subs.len();
        let (from, to) = page(total, o.offset, o.limit);
        list = subs[from..to].iter().map(|s| SubDetail::of(s)).collect();
    }
    Subsz {
        server_id: server.id.clone(),
        now: GoTime::now(),
        stats: st,
        total,
        offset: o.offset,
        limit: o.limit,
        subscriptions_list: list,
    }
}

/// Add up several indexes' statistics as nats-server's `SublistStats.add`:
/// counts are summed, the hit rate and mean fan-out are recomputed from
/// the hits and misses behind them.
pub fn add_stats(all: impl Iterator<Item = SublistStats>) -> SublistStats {
    let mut sum = SublistStats::default();
    let (mut hits, mut fanout_total, mut misses) = (0.0, 0.0, 0.0);
    for st in all {
        sum.num_subscriptions += st.num_subscriptions;
        sum.num_cache += st.num_cache;
        sum.num_inserts += st.num_inserts;
        sum.num_removes += st.num_removes;
        sum.num_matches += st.num_matches;
        sum.max_fanout = sum.max_fanout.max(st.max_fanout);
        let h = st.cache_hit_rate * st.num_matches as f64;
        let m = st.num_matches as f64 - h;
        hits += h;
        misses += m;
        fanout_total += st.avg_fanout * m;
    }
    if sum.num_matches > 0 {
        sum.cache_hit_rate = hits / sum.num_matches as f64;
    }
    if misses > 0.0 {
        sum.avg_fanout = fanout_total / misses;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_subject_must_be_literal() {
        let err = |s: &str| SubszOptions::from_query(&Query::parse(s)).unwrap_err().0;
        assert_eq!(
            err("test=foo.*"),
            "invalid test subject, must be valid publish subject: foo.*"
        );
        assert_eq!(
            err("test=foo..bar"),
            "invalid test subject, must be valid publish subject: foo..bar"
        );
        let o = SubszOptions::from_query(&Query::parse("subs=1&test=foo.bar&limit=0")).unwrap();
        assert_eq!(o.test.as_deref(), Some("foo.bar"));
        assert_eq!(o.limit, DEFAULT_LIMIT);
        assert!(o.subs);
    }

    #[test]
    fn stats_add_up() {
        let a = SublistStats {
            num_subscriptions: 2,
            num_matches: 10,
            cache_hit_rate: 0.5,
            max_fanout: 3,
            avg_fanout: 2.0,
            ..SublistStats::default()
        };
        let b = SublistStats {
            num_subscriptions: 1,
            num_matches: 10,
            cache_hit_rate: 1.0,
            max_fanout: 1,
            avg_fanout: 0.0,
            ..SublistStats::default()
        };
        let s = add_stats([a, b].into_iter());
        assert_eq!(
            (s.num_subscriptions, s.num_matches, s.max_fanout),
            (3, 20, 3)
        );
        assert_eq!(s.cache_hit_rate, 0.75);
        assert_eq!(s.avg_fanout, 2.0);
    }
}
