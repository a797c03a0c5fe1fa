//! The client IP: the socket peer, unless it is a trusted proxy; then the forwarded chain,
//! walked from the right.

mod common;

use audit_tower::{AuditLayer, Cidr, ForwardedHeader};
use axum::Router;
use axum::routing::post;

async fn recorded_ip(
    layer: AuditLayer,
    store: &audit_core::store::MemoryStore,
    headers: &[(&str, &str)],
) -> Option<String> {
    let app = Router::new().route("/orders", post(|| async {})).layer(layer);
    let addr = common::serve(app).await;
    common::send(&common::client(), addr, "POST", "/orders", headers).await;
    let events = common::events(store);
    assert_eq!(events.len(), 1);
    events[0].context.ip.clone()
}

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|s| s.parse().expect("network")).collect()
}

#[tokio::test]
async fn spoofed_forwarded_headers_are_ignored_without_a_trusted_proxy() {
    let (auditor, store) = common::auditor();
    let headers =
        [("x-forwarded-for", "203.0.113.66"), ("forwarded", "for=203.0.113.67"), ("x-real-ip", "203.0.113.68")];
    let ip = recorded_ip(AuditLayer::new(auditor), &store, &headers).await;
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn headers_from_a_peer_outside_the_trusted_networks_are_ignored() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor).with_trusted_proxies(cidrs(&["10.0.0.0/8"]));
    let ip = recorded_ip(layer, &store, &[("x-forwarded-for", "203.0.113.66")]).await;
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn the_chain_is_walked_from_a_trusted_proxy_to_the_first_untrusted_hop() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor).with_trusted_proxies(cidrs(&["127.0.0.1/32", "10.0.0.0/8"]));
    // The client wrote "6.6.6.6"; the edge proxy saw 198.51.100.23; an inner proxy 10.1.2.3
    // appended the edge's address... and the peer (127.0.0.1) is the last proxy.
    let headers = [("x-forwarded-for", "6.6.6.6, 198.51.100.23, 10.1.2.3")];
    let ip = recorded_ip(layer, &store, &headers).await;
    assert_eq!(ip.as_deref(), Some("198.51.100.23"));
}

#[tokio::test]
async fn a_malformed_chain_from_a_trusted_proxy_leaves_the_ip_unknown() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor).with_trusted_proxies(cidrs(&["127.0.0.1"]));
    let ip = recorded_ip(layer, &store, &[("x-forwarded-for", "6.6.6.6, not-an-ip")]).await;
    assert_eq!(ip, None, "never the leftmost entry");
}

#[tokio::test]
async fn rfc_7239_forwarded_is_read_when_configured() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor)
        .with_trusted_proxies(cidrs(&["127.0.0.0/8"]))
        .with_forwarded_header(ForwardedHeader::Forwarded);
    let headers =
        [("forwarded", "for=6.6.6.6, for=\"[2001:db8::5]:4711\";proto=https"), ("x-forwarded-for", "203.0.113.66")];
    let ip = recorded_ip(layer, &store, &headers).await;
    assert_eq!(ip.as_deref(), Some("2001:db8::5"));
}

#[tokio::test]
async fn broken_client_bytes_left_of_the_proxys_entry_do_not_blank_the_ip() {
    use http::{HeaderValue, Request};
    use http_body_util::Full;

    // A proxy that appends to the client's line (nginx's `$proxy_add_x_forwarded_for`) merges
    // the client's bytes with its own entry; only the part the walk reaches is read.
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor).with_trusted_proxies(cidrs(&["127.0.0.1"]));
    let app = Router::new().route("/orders", post(|| async {})).layer(layer);
    let addr = common::serve(app).await;
    let request = Request::post(format!("http://{addr}/orders"))
        .header("x-forwarded-for", HeaderValue::from_bytes(b"\xff, 203.0.113.7").expect("obs-text"))
        .body(Full::default())
        .expect("request");
    let response = common::client().request(request).await.expect("response");
    assert!(response.status().is_success());
    let events = common::events(&store);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].context.ip.as_deref(), Some("203.0.113.7"));

    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor)
        .with_trusted_proxies(cidrs(&["127.0.0.1"]))
        .with_forwarded_header(ForwardedHeader::Forwarded);
    // The client's open quote would, read from the left, swallow the proxy's element.
    let ip = recorded_ip(layer, &store, &[("forwarded", "for=\", for=203.0.113.7")]).await;
    assert_eq!(ip.as_deref(), Some("203.0.113.7"));
}
