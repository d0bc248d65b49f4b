//! Leafnodes and clusters: two nats-lite hubs in a cluster with a leaf on
//! each (a nats-lite leaf and a nats-server leaf). Every subscriber gets
//! each message once whoever publishes, a queue group spread over hubs
//! and leaves gets each message once, local members first (also when its
//! members live across the route); a leaf whose two remotes lead into
//! the same cluster is refused with nats-server's "Loop detected" error; a
//! leaf fails over to the hub URLs its hub cluster told it (nats-server and
//! nats-lite hubs); a cluster of edges with a link each delivers once,
//! also when the edges link to different servers of the hub cluster
//! (nats-lite and nats-lite, nats-lite and nats-server: `lnoc`), to plain
//! subscribers and to a queue group on the other edge.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cluster_support::{
    collect, publish_n, seed_cluster_with, sync_interest, Impl, Node, CLUSTER,
};
use crate::config_support::ConfDir;
use crate::leaf_support::{reference_or_skip, start, LeafServer, LEAF_TIMEOUT};
use crate::util::RawClient;

const QUIET: Duration = Duration::from_millis(300);

fn leaf_addr(node: &mut Node) -> SocketAddr {
    let line = node
        .server
        .wait_for_log("Listening for leafnode connections on", LEAF_TIMEOUT)
        .expect("leafnode listener");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Two clustered nats-lite hubs with a leafnode listener each.
fn hubs(dir: &ConfDir) -> (Vec<Node>, Vec<SocketAddr>) {
    hubs_of(dir, &[Impl::Lite, Impl::Lite])
}

/// Clustered hubs of `kinds` with a leafnode listener each.
fn hubs_of(dir: &ConfDir, kinds: &[Impl]) -> (Vec<Node>, Vec<SocketAddr>) {
    let conf = dir.write("hub.conf", "leafnodes { listen: 127.0.0.1:-1 }\n");
    let mut nodes = seed_cluster_with(
        kinds,
        &[
            "-c",
            &conf,
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            CLUSTER,
        ],
    );
    let addrs = nodes.iter_mut().map(leaf_addr).collect();
    (nodes, addrs)
}

fn leaf_of(kind: Impl, hub: SocketAddr) -> LeafServer {
    let conf = format!("leafnodes {{ remotes = [ {{ url: \"nats-leaf://{hub}\" }} ] }}");
    start(kind, &conf, &[])
}

fn wait_leaf(node: &mut Node) {
    node.server
        .wait_for_log("Leafnode connection created", LEAF_TIMEOUT)
        .expect("leaf connection");
}

/// [`hubs`], with a nats-lite leaf on the first and a nats-server leaf on
/// the second, both linked.
fn hubs_with_a_leaf_each(dir: &ConfDir) -> (Vec<Node>, LeafServer, LeafServer) {
    let (mut nodes, addrs) = hubs(dir);
    let leaf_a = leaf_of(Impl::Lite, addrs[0]);
    let leaf_b = leaf_of(Impl::Reference, addrs[1]);
    wait_leaf(&mut nodes[0]);
    wait_leaf(&mut nodes[1]);
    (nodes, leaf_a, leaf_b)
}

#[test]
fn a_cluster_with_a_leaf_on_each_hub_delivers_once_everywhere() {
    if !reference_or_skip() {
        return;
    }
    let dir = ConfDir::new("leaf-topo");
    let (nodes, leaf_a, leaf_b) = hubs_with_a_leaf_each(&dir);

    let mut subs = [
        nodes[0].client(),
        nodes[1].client(),
        leaf_a.client(),
        leaf_b.client(),
    ];
    let mut pubs = [
        nodes[0].client(),
        nodes[1].client(),
        leaf_a.client(),
        leaf_b.client(),
    ];
    every_subscriber_gets_each_publisher_once(&mut subs, &mut pubs, "t");
}

#[test]
fn a_queue_group_over_hubs_and_leaves_gets_each_message_once_local_first() {
    if !reference_or_skip() {
        return;
    }
    let dir = ConfDir::new("leaf-topo-q");
    let (nodes, leaf_a, leaf_b) = hubs_with_a_leaf_each(&dir);

    let mut members = [nodes[0].client(), leaf_a.client(), leaf_b.client()];
    let mut publisher = nodes[1].client();
    let mut on_leaf_a = leaf_a.client();
    for m in members.iter_mut() {
        m.send("SUB work crew 5\r\n");
    }
    for m in members.iter_mut() {
        sync_interest(m, &mut publisher);
        sync_interest(m, &mut on_leaf_a);
    }
    publish_n(&mut publisher, "work", "job", 60);
    let mut total = 0;
    for m in members.iter_mut() {
        let got = collect(m, 0, QUIET);
        total += got.get("5").map_or(0, Vec::len);
    }
    assert_eq!(total, 60, "each job exactly once across the group");

    // A publisher on leaf A: its local member takes everything.
    publish_n(&mut on_leaf_a, "work", "local", 30);
    let got = collect(&mut members[1], 30, QUIET);
    assert_eq!(got["5"].len(), 30);
    for i in [0, 2] {
        let got = collect(&mut members[i], 0, QUIET);
        assert!(got.is_empty(), "member {i} got {got:?}");
    }
}

#[test]
fn two_remotes_into_one_cluster_are_a_loop_refused_with_its_error() {
    let dir = ConfDir::new("leaf-loop");
    let (mut nodes, addrs) = hubs(&dir);
    let conf = format!(
        "leafnodes {{ remotes = [ {{ url: \"nats-leaf://{}\" }}, {{ url: \"nats-leaf://{}\" }} ] }}",
        addrs[0], addrs[1]
    );
    let mut leaf = start(Impl::Lite, &conf, &[]);
    // Each remote's loop detection subject comes back through the other
    // hub and the route: the leaf refuses the link with nats-server's error.
    let loop_error =
        "Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s";
    leaf.server
        .wait_for_log(loop_error, LEAF_TIMEOUT)
        .unwrap_or_else(|| panic!("no loop detected: {:?}", leaf.server.log_lines()));
    let hub_saw_it = nodes.iter_mut().any(|n| {
        n.server
            .wait_for_log("Leafnode Error 'Loop detected", Duration::from_secs(5))
            .is_some()
    });
    assert!(hub_saw_it, "no hub got the -ERR");
}

#[test]
fn a_leaf_reaches_a_queue_group_that_lives_across_the_route() {
    if !reference_or_skip() {
        return;
    }
    let dir = ConfDir::new("leaf-topo-qr");
    let (nodes, leaf_a, leaf_b) = hubs_with_a_leaf_each(&dir);
    // The only members are clients of the hub the leaf is not on.
    let mut on_h2 = nodes[1].client();
    let mut on_h1 = nodes[0].client();
    on_h2.send("SUB ajobs crew 5\r\n");
    on_h1.send("SUB bjobs crew 6\r\n");
    let mut from_a = leaf_a.client();
    let mut from_b = leaf_b.client();
    sync_interest(&mut on_h2, &mut from_a);
    sync_interest(&mut on_h1, &mut from_b);
    publish_n(&mut from_a, "ajobs", "a", 25);
    publish_n(&mut from_b, "bjobs", "b", 25);
    assert_eq!(collect(&mut on_h2, 25, QUIET)["5"].len(), 25);
    assert_eq!(collect(&mut on_h1, 25, QUIET)["6"].len(), 25);
}

#[test]
fn a_leaf_fails_over_to_the_hub_urls_a_nats_server_cluster_told_it() {
    if reference_or_skip() {
        fail_over(Impl::Reference);
    }
}

#[test]
fn a_leaf_fails_over_to_the_hub_urls_a_nats_lite_cluster_told_it() {
    fail_over(Impl::Lite);
}

/// A leaf configured with the first hub of a `kind` cluster only: the
/// hub's INFO lists the second, which the leaf reaches once the first is gone.
fn fail_over(kind: Impl) {
    let dir = ConfDir::new("leaf-failover");
    let conf = dir.write("hub.conf", "leafnodes { listen: 127.0.0.1:-1 }\n");
    let mut nodes = seed_cluster_with(
        &[kind, kind],
        &[
            "-c",
            &conf,
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            CLUSTER,
        ],
    );
    let first = leaf_addr(&mut nodes[0]);
    // Only the first hub is configured; its INFO lists the second.
    let leaf = start(
        Impl::Lite,
        &format!(
            "leafnodes {{ reconnect: \"100ms\", remotes = [ {{ url: \"nats-leaf://{first}\" }} ] }}"
        ),
        &[],
    );
    wait_leaf(&mut nodes[0]);
    let mut sub = leaf.client();
    sub.send("SUB after 1\r\n");
    drop(nodes.remove(0));
    let mut survivor = nodes.remove(0);
    wait_leaf(&mut survivor);
    let mut p = survivor.client();
    sync_interest(&mut sub, &mut p);
    publish_n(&mut p, "after", "m", 10);
    assert_eq!(collect(&mut sub, 10, QUIET)["1"].len(), 10);
}

/// Two clustered nats-lite edge servers, each with its own link to one
/// `hub_kind` hub: subscribers on one edge and on the hub get each
/// message once, whoever publishes (the hub does not tell one edge the
/// other's interest: their route carries it).
fn edge_cluster(hub_kind: Impl) {
    let hub = start(hub_kind, "leafnodes { listen: 127.0.0.1:-1 }", &[]);
    let dir = ConfDir::new("leaf-edge");
    let conf = dir.write(
        "edge.conf",
        &format!(
            "leafnodes {{ remotes = [ {{ url: \"{}\" }} ] }}\n",
            hub.leaf_url("")
        ),
    );
    let nodes = seed_cluster_with(
        &[Impl::Lite, Impl::Lite],
        &[
            "-c",
            &conf,
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            "edge",
        ],
    );
    let mut subs = [nodes[0].client(), hub.client()];
    let mut pubs = [nodes[0].client(), nodes[1].client(), hub.client()];
    every_subscriber_gets_each_publisher_once(&mut subs, &mut pubs, "e");
}

#[test]
fn a_cluster_of_edges_each_linked_to_a_nats_lite_hub_delivers_once() {
    edge_cluster(Impl::Lite);
}

#[test]
fn a_cluster_of_edges_each_linked_to_a_nats_server_hub_delivers_once() {
    if reference_or_skip() {
        edge_cluster(Impl::Reference);
    }
}

#[test]
fn edges_linked_to_different_servers_of_a_nats_lite_hub_cluster_deliver_once() {
    split_edges(&[Impl::Lite, Impl::Lite]);
}

#[test]
fn edges_linked_to_a_nats_lite_and_a_nats_server_hub_of_one_cluster_deliver_once() {
    if reference_or_skip() {
        split_edges(&[Impl::Lite, Impl::Reference]);
    }
}

/// Edge servers of one cluster linked to DIFFERENT servers of a hub
/// cluster of `hub_kinds`: the hubs carry the edge cluster's name over
/// their route with leaf-origin traffic (nats-server's `lnoc`, `LMSG`), so
/// a message that came in from the edge cluster is not sent back into it
/// by the other hub, and every subscriber (both edges, both hubs) gets
/// each message once, whoever publishes.
fn split_edges(hub_kinds: &[Impl]) {
    let dir = ConfDir::new("leaf-edge-split");
    let (hub_nodes, addrs) = hubs_of(&dir, hub_kinds);
    let confs: Vec<String> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            dir.write(
                &format!("edge{i}.conf"),
                &format!("leafnodes {{ remotes = [ {{ url: \"nats-leaf://{a}\" }} ] }}\n"),
            )
        })
        .collect();
    let edge_args = |i: usize| {
        vec![
            "-c",
            confs[i].as_str(),
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            "edge",
        ]
    };
    let seed = Node::start(Impl::Lite, &edge_args(0));
    let seed_url = seed.route_url();
    let mut second = edge_args(1);
    second.extend(["--routes", seed_url.as_str()]);
    let mut edges = vec![seed, Node::start(Impl::Lite, &second)];
    crate::cluster_support::wait_mesh(&edges);
    wait_leaf(&mut edges[0]);
    wait_leaf(&mut edges[1]);

    let mut subs = [
        edges[0].client(),
        edges[1].client(),
        hub_nodes[0].client(),
        hub_nodes[1].client(),
    ];
    let mut pubs = [
        edges[0].client(),
        edges[1].client(),
        hub_nodes[0].client(),
        hub_nodes[1].client(),
    ];
    every_subscriber_gets_each_publisher_once(&mut subs, &mut pubs, "s");

    // A queue group whose only member is on one edge, the publisher on
    // the other (both ways): the publishing edge may send a message
    // through the hubs (when its hub told it the group's interest), and
    // each still arrives once.
    for (m, p) in [(1, 0), (0, 1)] {
        let mut member = edges[m].client();
        member.send(format!("SUB q{m}.* grp 2\r\n"));
        sync_interest(&mut member, &mut pubs[p]);
        sync_interest(&mut member, &mut pubs[2]);
        sync_interest(&mut member, &mut pubs[3]);
        publish_n(&mut pubs[p], &format!("q{m}.x"), "q", 40);
        let got = collect(&mut member, 40, QUIET);
        assert_eq!(got["2"].len(), 40, "queue member on edge {m}: {got:?}");
    }
}

/// Every subscriber (on `<prefix>.*`) gets each publisher's 20 messages
/// (publisher i on `<prefix>.i`) exactly once: no loss, no duplicate.
fn every_subscriber_gets_each_publisher_once(
    subs: &mut [RawClient],
    pubs: &mut [RawClient],
    prefix: &str,
) {
    for s in subs.iter_mut() {
        s.send(format!("SUB {prefix}.* 1\r\n"));
    }
    for s in subs.iter_mut() {
        for p in pubs.iter_mut() {
            sync_interest(s, p);
        }
    }
    for (i, p) in pubs.iter_mut().enumerate() {
        publish_n(p, &format!("{prefix}.{i}"), &format!("from{i}"), 20);
    }
    let total = 20 * pubs.len();
    for (i, s) in subs.iter_mut().enumerate() {
        let got = collect(s, total, QUIET);
        let all = &got["1"];
        for p in 0..pubs.len() {
            let n = all
                .iter()
                .filter(|m| m.starts_with(&format!("from{p}-")))
                .count();
            assert_eq!(n, 20, "subscriber {i} got {n} from publisher {p}: {all:?}");
        }
        assert_eq!(all.len(), total, "subscriber {i}");
    }
}
