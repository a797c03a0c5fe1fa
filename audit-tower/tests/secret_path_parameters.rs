//! A path parameter the redaction policy names (`/password-resets/{token}`) is a secret: it is
//! hidden in the resource id and in `context.path`, never recorded in clear.

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_tower::AuditLayer;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use std::sync::Arc;
use tower::ServiceExt;

#[tokio::test]
async fn a_path_parameter_named_by_the_policy_is_not_recorded_in_clear() {
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    assert!(auditor.redaction().matches("token"), "the default policy hides `token`");
    let app = Router::new()
        .route("/password-resets/{token}", post(|| async { StatusCode::NO_CONTENT }))
        .layer(AuditLayer::new(auditor.clone()));
    let secret = "prt_7c1e9a4b2f6d8e03";
    let request = Request::post(format!("/password-resets/{secret}")).body(Body::empty()).expect("request");
    assert_eq!(app.oneshot(request).await.expect("response").status(), StatusCode::NO_CONTENT);
    auditor.shutdown().await;
    let sealed = store.events("default");
    assert_eq!(sealed.len(), 1);
    let event = &sealed[0].event;
    assert!(
        !sealed[0].line.contains(secret),
        "the reset token is in the trail in clear: resource.id {:?}, context.path {:?}",
        event.resource.id,
        event.context.path
    );
    assert_eq!((event.resource.kind.as_str(), event.resource.id.as_str()), ("password-resets", "[REDACTED]"));
    assert_eq!(event.context.path.as_deref(), Some("/password-resets/[REDACTED]"));
}
