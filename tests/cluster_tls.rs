//! Route TLS (`cluster { tls { ... } }`): the handshake comes first on the
//! route port; servers that verify each other's certificates form a mesh
//! and route messages (with nats-server too, when installed); a plain-text
//! peer gets nothing; a certificate from another CA is refused.

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

use crate::cluster_support::{seed_cluster_with, sync_interest, wait_mesh, Impl, Node, CLUSTER};
use crate::util::{nats_server_or_skip, RawClient, TempDir};

/// A CA and a route certificate for 127.0.0.1 (server and client use),
/// as `ca.pem`, `route.pem`, `route.key` in `dir`.
fn route_pki(dir: &TempDir, tag: &str) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("route CA {tag}"));
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, "route");
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("route.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("route.key"), key.serialize_pem()).unwrap();
}

/// A config file with route TLS (verify on) from the PKI in `dir`.
fn tls_conf(dir: &TempDir) -> String {
    let f = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let conf = dir.path().join("routes-tls.conf");
    std::fs::write(
        &conf,
        format!(
            "cluster {{\n  name: {CLUSTER}\n  listen: 127.0.0.1:-1\n  tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    ca_file: \"{}\"\n    verify: true\n    timeout: 2\n  }}\n}}\n",
            f("route.pem"),
            f("route.key"),
            f("ca.pem")
        ),
    )
    .unwrap();
    conf.to_string_lossy().into_owned()
}

fn check_messages(nodes: &[Node]) {
    let mut sub = nodes[0].client();
    sub.send("SUB tls.x 1\r\n");
    sub.flush();
    let mut publisher = nodes[nodes.len() - 1].client();
    sync_interest(&mut sub, &mut publisher);
    publisher.send("PUB tls.x 6\r\nsecret\r\n");
    publisher.flush();
    let (line, body) = sub.read_msg();
    assert_eq!(
        (line.as_str(), body.as_slice()),
        ("MSG tls.x 1 6", &b"secret"[..])
    );
}

#[test]
fn tls_routes_form_a_mesh_and_route_messages() {
    let dir = TempDir::new("route-tls");
    route_pki(&dir, "a");
    let conf = tls_conf(&dir);
    let nodes = seed_cluster_with(&[Impl::Lite, Impl::Lite, Impl::Lite], &["-c", &conf]);
    check_messages(&nodes);
    // The route port speaks TLS first: a plain-text peer hears nothing.
    let mut plain = RawClient::connect(nodes[0].route);
    assert!(plain.try_read_line(Duration::from_millis(500)).is_err());
    plain.send("CONNECT {}\r\nINFO {\"server_id\":\"NPLAIN\"}\r\n");
    let (lines, _) = plain.read_until_closed(Duration::from_secs(5));
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(nodes[0].num_routes(), 2);
}

#[test]
fn a_route_certificate_from_another_ca_is_refused() {
    let dir = TempDir::new("route-tls-a");
    route_pki(&dir, "a");
    let other = TempDir::new("route-tls-b");
    route_pki(&other, "b");
    let a = Node::start(Impl::Lite, &["-c", &tls_conf(&dir)]);
    let mut b = Node::start(
        Impl::Lite,
        &["-c", &tls_conf(&other), "--routes", &a.route_url()],
    );
    b.server
        .wait_for_log("TLS route handshake error", Duration::from_secs(10))
        .expect("the dialling side reports the failed handshake");
    assert_eq!((a.num_routes(), b.num_routes()), (0, 0));
}

#[test]
fn tls_routes_with_nats_server() {
    if nats_server_or_skip().is_none() {
        return;
    }
    let dir = TempDir::new("route-tls-mixed");
    route_pki(&dir, "m");
    let conf = tls_conf(&dir);
    let nodes = seed_cluster_with(&[Impl::Reference, Impl::Lite, Impl::Lite], &["-c", &conf]);
    check_messages(&nodes);
    let nodes2 = seed_cluster_with(&[Impl::Lite, Impl::Reference], &["-c", &conf]);
    wait_mesh(&nodes2);
    check_messages(&nodes2);
}
