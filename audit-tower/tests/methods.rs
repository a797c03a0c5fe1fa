//! Which requests are recorded: mutations by default, reads only on sensitive routes, never
//! the skipped routes.

mod common;

use audit_tower::AuditLayer;
use axum::Router;
use axum::routing::get;
use http::{Method, StatusCode};

fn app(layer: AuditLayer) -> Router {
    let item = get(|| async { "item" })
        .post(|| async { StatusCode::CREATED })
        .put(|| async {})
        .patch(|| async {})
        .delete(|| async { StatusCode::NO_CONTENT })
        .options(|| async {});
    Router::new()
        .route("/items/{id}", item)
        .route("/patients/{id}", get(|| async { "chart" }).put(|| async {}))
        .route("/health", get(|| async { "ok" }).post(|| async { "ok" }))
        .route("/metrics", get(|| async { "# metrics" }))
        .layer(layer)
}

#[tokio::test]
async fn mutations_are_recorded_and_plain_reads_are_not() {
    let (auditor, store) = common::auditor();
    let addr = common::serve(app(AuditLayer::new(auditor))).await;
    let client = common::client();
    let mut expected = Vec::new();
    for method in ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"] {
        let reply = common::send(&client, addr, method, "/items/5", &[]).await;
        assert!(reply.status.is_success(), "{method}: {}", reply.status);
        let audited = !matches!(method, "GET" | "HEAD" | "OPTIONS");
        assert_eq!(reply.headers.contains_key("x-request-id"), audited, "{method}");
        if audited {
            expected.push(format!("{method} /items/{{id}}"));
        }
        // Acknowledged delivery: what is recorded is in the store when the response arrives.
        let actions: Vec<String> = common::events(&store).into_iter().map(|e| e.action).collect();
        assert_eq!(actions, expected, "after {method}");
    }
    let events = common::events(&store);
    assert!(events.iter().all(|e| e.resource.kind == "items" && e.resource.id == "5"));
    assert_eq!(events.iter().map(|e| e.context.status).collect::<Vec<_>>(), [201, 200, 200, 204].map(Some));
}

#[tokio::test]
async fn reads_of_sensitive_routes_are_recorded() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor).with_sensitive_routes(["/patients/{id}"]);
    let addr = common::serve(app(layer)).await;
    let client = common::client();
    common::send(&client, addr, "GET", "/items/1", &[]).await;
    let viewed = common::send(&client, addr, "GET", "/patients/7", &[]).await;
    assert_eq!(viewed.body, "chart");
    common::send(&client, addr, "HEAD", "/patients/8", &[]).await;
    common::send(&client, addr, "PUT", "/patients/9", &[]).await;

    let events = common::events(&store);
    let seen: Vec<(&str, &str)> = events.iter().map(|e| (e.action.as_str(), e.resource.id.as_str())).collect();
    assert_eq!(seen, [("GET /patients/{id}", "7"), ("HEAD /patients/{id}", "8"), ("PUT /patients/{id}", "9")]);
    assert!(events.iter().all(|e| e.resource.kind == "patients"));
    assert_eq!(events[0].context.request_id.as_deref(), Some(viewed.request_id()));
}

#[tokio::test]
async fn skipped_routes_are_never_recorded() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor)
        .with_skipped_routes(["/health", "/metrics"])
        .with_sensitive_routes(["/metrics"])
        .with_methods([Method::GET, Method::POST]);
    let addr = common::serve(app(layer)).await;
    let client = common::client();
    for (method, path) in [("POST", "/health"), ("GET", "/health"), ("GET", "/metrics")] {
        let reply = common::send(&client, addr, method, path, &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(!reply.headers.contains_key("x-request-id"));
    }
    assert!(common::events(&store).is_empty());
    // The same layer does record elsewhere.
    common::send(&client, addr, "GET", "/items/3", &[]).await;
    assert_eq!(common::events(&store).len(), 1);
}

#[tokio::test]
async fn the_method_list_can_be_replaced() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor).with_methods([Method::GET, Method::DELETE]);
    let addr = common::serve(app(layer)).await;
    let client = common::client();
    for method in ["GET", "POST", "PUT", "DELETE"] {
        common::send(&client, addr, method, "/items/1", &[]).await;
    }
    let actions: Vec<String> = common::events(&store).into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["GET /items/{id}", "DELETE /items/{id}"]);
}

#[tokio::test]
async fn unknown_routes_are_recorded_without_the_raw_path_as_action() {
    let (auditor, store) = common::auditor();
    let addr = common::serve(app(AuditLayer::new(auditor))).await;
    let client = common::client();
    let reply = common::send(&client, addr, "POST", "/items/1/%3Cinjected%3E", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // A route that exists but not for this method: axum answers 405 inside the route.
    let reply = common::send(&client, addr, "DELETE", "/patients/1", &[]).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let events = common::events(&store);
    assert_eq!(events[0].action, "POST <unmatched>");
    assert_eq!(events[0].context.path.as_deref(), Some("/items/1/%3Cinjected%3E"));
    assert_eq!(events[1].action, "DELETE /patients/{id}");
    assert!(events.iter().all(|e| e.outcome == audit_core::Outcome::Failure));
}
