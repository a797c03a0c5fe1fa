//! A layer that fails closed keeps failing closed when an outer layer records its requests:
//! an app-wide layer that fails open, and a nested router's layer (admin actions, say) that
//! must refuse its requests while the audit store is failing.

mod common;

use audit_core::{EventDraft, Outcome};
use audit_tower::{AuditLayer, UnhealthyPolicy};
use axum::Router;
use axum::routing::put;
use http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inner_fail_closed_layer_refuses_a_request_an_outer_layer_records() {
    let store = common::TestStore::new();
    let auditor = store.auditor();
    let handled = Arc::new(AtomicUsize::new(0));
    let counter = handled.clone();
    let strict = AuditLayer::new(auditor.clone()).with_unhealthy_policy(UnhealthyPolicy::FailClosed);
    let admin = Router::new()
        .route(
            "/users/{id}",
            put(move || async move {
                counter.fetch_add(1, Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }),
        )
        .layer(strict.clone());
    // The outer layer fails open (the default) and audits the same request.
    let app = Router::new().nest("/admin", admin).layer(AuditLayer::new(auditor.clone()));
    let addr = common::serve(app).await;
    let client = common::client();

    store.set_failing(true);
    let probe = auditor.try_record(EventDraft::new("probe")).expect("queued");
    common::wait_until("the auditor reports the store unhealthy", || !auditor.is_healthy()).await;

    let refused = common::send(&client, addr, "PUT", "/admin/users/1", &[]).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "the inner layer fails closed");
    assert_eq!(handled.load(Ordering::SeqCst), 0, "the handler did not run while the store failed");
    assert_eq!(strict.stats().refused, 1);

    store.set_failing(false);
    probe.await.expect("the probe is written once the store recovers");
    auditor.shutdown().await;
    let events = common::events(&store.inner);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    // Recorded once, by the outer layer, with the status the client got and why.
    assert_eq!(actions, ["probe", "PUT /admin/users/{id}"]);
    let refusal = &events[1];
    assert_eq!(refusal.outcome, Outcome::Failure);
    assert_eq!(refusal.context.status, Some(503));
    assert_eq!(refusal.reason.as_deref(), Some("audit store unavailable"));
    assert_eq!(refusal.context.request_id.as_deref(), Some(refused.request_id()));
    common::verify_chain(&store.inner);
}
