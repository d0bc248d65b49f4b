//! The interest each leaf connection is told about (`LS+`/`LS-`), as
//! nats-server's per-leaf subscription map: for every account, how many
//! subscriptions there are per subject (and queue group), by where they
//! come from, and which of them each leaf connection may see:
//!
//! - a connection we accepted (we are its hub) sees everything of its
//!   account except its own interest: local clients, routes, other leaves;
//! - a connection we solicited (we are a leaf of that hub) sees only local
//!   clients and the leaves that connect to us, never the routes' interest
//!   nor another hub's;
//! - a leaf of a cluster is not told the interest of another leaf of the
//!   same cluster (that cluster's routes carry it), also when that leaf
//!   links to another server of our cluster (its `LS+` names the cluster).
//!
//! - a connection we solicited with `deny_imports` is not told interest
//!   its deny list covers (nats-server's `canSubscribe` check).
//!
//! Counts and the set of attached connections share one lock, and lines
//! are appended to a connection's pending bytes under it (written after
//! it is released), so an attach (its dump) and a change elsewhere cannot
//! interleave. Plain interest is sent on 0↔1 of the visible count; a queue
//! group's `LS+ <subject> <queue> <n>` on every change, `LS-` at 0.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::protocol::leaf::{ls_minus, ls_plus};
use crate::server::account::Account;
use crate::server::client::Client;
use crate::server::permissions::SubjectRules;
use crate::server::subscription::Subscription;

/// Where a subscription comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A local client.
    Local,
    /// A route (the cluster's interest).
    Route,
    /// A route, for a leaf of cluster `cluster` behind the peer (`LS+`).
    RouteLeaf {
        /// The leaf's cluster ([`cluster_id`], not 0).
        cluster: u64,
    },
    /// A leaf connection: its id, whether we solicited it, and the
    /// cluster of the server behind it.
    Leaf {
        /// The connection's id.
        cid: u64,
        /// We dialled it (it leads to our hub).
        solicited: bool,
        /// The peer's cluster ([`cluster_id`]; 0: none).
        cluster: u64,
    },
}

impl Origin {
    /// The origin of a route's subscription `sub` (its `leaf_cluster`
    /// is the leaf cluster of an `LS+`).
    pub fn of_route(sub: &Subscription) -> Origin {
        match sub.leaf_cluster {
            0 => Origin::Route,
            cluster => Origin::RouteLeaf { cluster },
        }
    }
}

/// A cluster name as a number for [`Origin`] (0 for none).
pub fn cluster_id(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    if name.is_empty() {
        return 0;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    h.finish() | 1
}

/// `(subject, queue)`.
type Key = (Box<[u8]>, Option<Box<[u8]>>);

struct Attached {
    client: Arc<Client>,
    account: String,
    solicited: bool,
    /// The peer's cluster ([`cluster_id`]).
    cluster: u64,
    /// Interest this connection is never told (a remote's `deny_imports`).
    hidden: Option<Arc<SubjectRules>>,
}

impl Attached {
    /// The interest of `origin` is told to this connection. Never a
    /// leaf's own, nor that of another leaf of the same cluster (the
    /// cluster's routes carry it there, as in nats-server).
    fn sees(&self, origin: Origin) -> bool {
        match origin {
            Origin::Local => true,
            Origin::Route => !self.solicited,
            Origin::RouteLeaf { cluster } => !self.solicited && cluster != self.cluster,
            Origin::Leaf {
                cid,
                solicited,
                cluster,
            } => {
                cid != self.client.cid
                    && !(self.solicited && solicited)
                    && (cluster == 0 || cluster != self.cluster)
            }
        }
    }

    fn visible(&self, key: &Key, per_origin: &HashMap<Origin, u32>) -> u32 {
        if let Some(hidden) = &self.hidden {
            if !hidden.allows_subscribe(&key.0, key.1.as_deref()) {
                return 0;
            }
        }
        per_origin
            .iter()
            .filter(|(o, _)| self.sees(**o))
            .map(|(_, n)| *n)
            .sum()
    }
}

#[derive(Default)]
struct State {
    counts: HashMap<String, HashMap<Key, HashMap<Origin, u32>>>,
    attached: Vec<Attached>,
}

/// Interest counts by origin and the leaf connections told about them.
#[derive(Default)]
pub struct LeafInterest {
    /// Leafnodes are configured: nothing is counted otherwise.
    active: AtomicBool,
    state: Mutex<State>,
}

impl LeafInterest {
    /// Start counting (leafnodes are configured).
    pub fn activate(&self) {
        self.active.store(true, Ordering::Release);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A subscription from `origin` was added to (`add`) or removed from
    /// `account`'s index.
    #[inline]
    pub fn changed(&self, account: &Account, sub: &Subscription, origin: Origin, add: bool) {
        if self.active.load(Ordering::Acquire) {
            self.change(account, sub, origin, add);
        }
    }

    #[inline(never)]
    fn change(&self, account: &Account, sub: &Subscription, origin: Origin, add: bool) {
        let mut kicks = Vec::new();
        {
            let mut guard = self.state();
            let st = &mut *guard;
            let counts = st.counts.entry(account.name.clone()).or_default();
            let key: Key = (sub.subject.clone(), sub.queue.clone());
            let per_origin = counts.entry(key.clone()).or_default();
            let before: Vec<u32> = st
                .attached
                .iter()
                .map(|a| {
                    if a.account == account.name {
                        a.visible(&key, per_origin)
                    } else {
                        0
                    }
                })
                .collect();
            let n = per_origin.entry(origin).or_insert(0);
            *n = if add {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            };
            if *n == 0 {
                per_origin.remove(&origin);
            }
            let per_origin = per_origin.clone();
            if per_origin.is_empty() {
                counts.remove(&key);
            }
            for (a, before) in st.attached.iter().zip(before) {
                if a.account != account.name {
                    continue;
                }
                let after = a.visible(&key, &per_origin);
                let mut line = Vec::new();
                interest_line(&mut line, &key, before, after);
                if !line.is_empty() && a.client.append_deferred(&line) {
                    kicks.push(a.client.clone());
                }
            }
        }
        for c in kicks {
            c.kick();
        }
    }

    /// Start telling `client` (bound to `account`) about interest: what it
    /// may see now, then every change; `lds` is our loop detection subject,
    /// sent first. Returns true when the caller must [`Client::kick`] it.
    pub fn attach(&self, client: &Arc<Client>, account: &str, origin: Origin, lds: &str) -> bool {
        self.attach_hiding(client, account, origin, lds, None)
    }

    /// [`LeafInterest::attach`], never telling the interest `hidden`
    /// denies (the deny list of a remote's `deny_imports`).
    pub fn attach_hiding(
        &self,
        client: &Arc<Client>,
        account: &str,
        origin: Origin,
        lds: &str,
        hidden: Option<Arc<SubjectRules>>,
    ) -> bool {
        let (solicited, cluster) = match origin {
            Origin::Leaf {
                solicited, cluster, ..
            } => (solicited, cluster),
            _ => (false, 0),
        };
        let mut st = self.state();
        let a = Attached {
            client: client.clone(),
            account: account.to_string(),
            solicited,
            cluster,
            hidden,
        };
        let mut dump = Vec::new();
        ls_plus(&mut dump, lds.as_bytes(), None);
        if let Some(counts) = st.counts.get(account) {
            for (key, per_origin) in counts {
                interest_line(&mut dump, key, 0, a.visible(key, per_origin));
            }
        }
        st.attached.push(a);
        client.append_deferred(&dump)
    }

    /// Stop telling `client` about interest.
    pub fn detach(&self, client: &Client) {
        self.state().attached.retain(|a| a.client.cid != client.cid);
    }
}

/// The line for a visible count going from `before` to `after`.
fn interest_line(out: &mut Vec<u8>, key: &Key, before: u32, after: u32) {
    let (subject, queue) = key;
    match (queue, before, after) {
        (_, b, a) if b == a => {}
        (None, 0, _) => ls_plus(out, subject, None),
        (None, _, 0) => ls_minus(out, subject, None),
        (None, _, _) => {}
        (Some(q), _, 0) => ls_minus(out, subject, Some(q)),
        (Some(q), _, n) => ls_plus(out, subject, Some((q, n))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpStream;
    use std::time::Duration;

    /// A leaf connection's shared half over a loopback pair, and the peer.
    fn conn(cid: u64) -> (Arc<Client>, TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (ours, _) = l.accept().unwrap();
        let client = Arc::new(Client::new(
            cid,
            Arc::new(ours),
            peer.local_addr().unwrap(),
            Arc::new(Account::new("$G")),
            1 << 20,
            Duration::from_secs(1),
            Arc::default(),
        ));
        (client, peer)
    }

    /// What `client` was told since last asked.
    fn told(client: &Arc<Client>, peer: &mut TcpStream) -> String {
        client.kick();
        peer.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = peer.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(out).unwrap()
    }

    fn sub(subject: &str, queue: Option<&str>) -> Subscription {
        Subscription::detached(subject.as_bytes(), queue.map(str::as_bytes), b"1")
    }

    #[test]
    fn each_connection_is_told_what_nats_server_would_tell_it() {
        let li = LeafInterest::default();
        li.activate();
        let acc = Account::new("$G");
        let edge = cluster_id("edge");
        // A leaf of ours from cluster "edge", another from the same
        // cluster, and our own link to a hub.
        let (a, mut pa) = conn(1);
        let (b, mut pb) = conn(2);
        let (hub, mut ph) = conn(3);
        let leaf = |cid, solicited| Origin::Leaf {
            cid,
            solicited,
            cluster: if solicited { 0 } else { edge },
        };
        assert!(li.attach(&a, "$G", leaf(1, false), "$LDS.x"));
        li.attach(&b, "$G", leaf(2, false), "$LDS.x");
        li.attach(&hub, "$G", leaf(3, true), "$LDS.x");
        for (c, p) in [(&a, &mut pa), (&b, &mut pb), (&hub, &mut ph)] {
            assert_eq!(told(c, p), "LS+ $LDS.x\r\n");
        }

        // A local client's interest goes to every link.
        li.changed(&acc, &sub("local", None), Origin::Local, true);
        for (c, p) in [(&a, &mut pa), (&b, &mut pb), (&hub, &mut ph)] {
            assert_eq!(told(c, p), "LS+ local\r\n");
        }
        // The cluster's interest goes to our leaves, not to our hub.
        li.changed(&acc, &sub("routed", None), Origin::Route, true);
        assert_eq!(told(&a, &mut pa), "LS+ routed\r\n");
        assert_eq!(told(&b, &mut pb), "LS+ routed\r\n");
        assert_eq!(told(&hub, &mut ph), "");
        // A leaf's interest: not back to it, not to its cluster's other
        // leaf, but to our hub.
        li.changed(&acc, &sub("froma", None), leaf(1, false), true);
        assert_eq!(told(&a, &mut pa), "");
        assert_eq!(told(&b, &mut pb), "");
        assert_eq!(told(&hub, &mut ph), "LS+ froma\r\n");
        // The hub's interest goes to our leaves only.
        li.changed(&acc, &sub("fromhub", None), leaf(3, true), true);
        assert_eq!(told(&a, &mut pa), "LS+ fromhub\r\n");
        assert_eq!(told(&hub, &mut ph), "");
        told(&b, &mut pb);

        // Plain interest on 0 <-> 1 only; a queue group's count each time.
        li.changed(&acc, &sub("local", None), Origin::Local, true);
        assert_eq!(told(&a, &mut pa), "");
        li.changed(&acc, &sub("local", None), Origin::Local, false);
        li.changed(&acc, &sub("local", None), Origin::Local, false);
        assert_eq!(told(&a, &mut pa), "LS- local\r\n");
        li.changed(&acc, &sub("work", Some("q")), Origin::Local, true);
        li.changed(&acc, &sub("work", Some("q")), Origin::Route, true);
        assert_eq!(told(&a, &mut pa), "LS+ work q 1\r\nLS+ work q 2\r\n");
        assert_eq!(told(&hub, &mut ph), "LS- local\r\nLS+ work q 1\r\n");
        li.changed(&acc, &sub("work", Some("q")), Origin::Local, false);
        li.changed(&acc, &sub("work", Some("q")), Origin::Route, false);
        assert_eq!(told(&a, &mut pa), "LS+ work q 1\r\nLS- work q\r\n");

        // A connection attached later gets the same view as a dump.
        li.detach(&b);
        let (c, mut pc) = conn(4);
        li.attach(&c, "$G", leaf(4, false), "$LDS.x");
        let dump = told(&c, &mut pc);
        assert!(dump.starts_with("LS+ $LDS.x\r\n"), "{dump}");
        for line in ["LS+ routed\r\n", "LS+ fromhub\r\n"] {
            assert!(dump.contains(line), "{dump}");
        }
        // (a leaf of the same cluster as the one that announced it)
        assert!(!dump.contains("froma"), "{dump}");
        // Other accounts are not told.
        li.changed(&Account::new("B"), &sub("other", None), Origin::Local, true);
        assert_eq!(told(&a, &mut pa), "");
    }
}
