//! Leafnode remote options beyond the URL: `disabled` (the remote is not
//! solicited), `deny_imports` / `deny_exports` (the link's permissions,
//! checked with a nats-server 2.9.10 hub and a nats-lite one).

use crate::cluster_support::Impl;
use crate::leaf_support::{exchange, start};
use crate::util::START_TIMEOUT;

/// A remote with `disabled: true` is not dialled; the other remote of the
/// same server (to the same hub) links and carries traffic.
#[test]
fn a_disabled_remote_is_not_solicited() {
    let mut hub = start(Impl::Lite, "leafnodes { listen: 127.0.0.1:-1 }", &[]);
    let url = hub.leaf_url("");
    let conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"{url}\", disabled: true }}, {{ url: \"{url}\" }} ] }}"
    );
    let mut leaf = start(Impl::Lite, &conf, &[]);
    leaf.server
        .wait_for_log("is disabled, not soliciting it", START_TIMEOUT)
        .expect("no line for the disabled remote");
    hub.wait_leaf();
    // Round trips both ways: a second link (or a loop refusal between
    // the two) would have formed by the end.
    exchange(&mut hub.client(), &mut leaf.client());
    let created = |lines: Vec<String>| {
        lines
            .iter()
            .filter(|l| l.contains("Leafnode connection created"))
            .count()
    };
    assert_eq!(created(hub.server.log_lines()), 1);
    assert_eq!(created(leaf.server.log_lines()), 1);
    assert!(!leaf
        .server
        .log_lines()
        .iter()
        .any(|l| l.contains("Loop detected")));
}
