//! While the audit store is failing: fail open (serve, events wait in the writer) or fail
//! closed (refuse audited requests with 503, and record the refusal).

mod common;

use audit_core::{Auditor, EventDraft, Outcome, Ticket};
use audit_tower::{AuditLayer, UnhealthyPolicy};
use axum::Router;
use axum::routing::post;
use common::TestStore;
use http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Makes the store fail and waits until the auditor has noticed (one append failed).
async fn break_store(store: &TestStore, auditor: &Auditor) -> Ticket {
    store.set_failing(true);
    let probe = auditor.try_record(EventDraft::new("probe")).expect("queued");
    common::wait_until("the auditor reports the store unhealthy", || !auditor.is_healthy()).await;
    probe
}

fn app(layer: AuditLayer, handled: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route(
            "/items/{id}",
            post(move || async move {
                handled.fetch_add(1, Ordering::SeqCst);
                StatusCode::CREATED
            })
            .get(|| async { "item" }),
        )
        .layer(layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_refuses_audited_requests_and_records_the_refusal() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone()).with_unhealthy_policy(UnhealthyPolicy::FailClosed);
    let handled = Arc::new(AtomicUsize::new(0));
    let addr = common::serve(app(layer.clone(), handled.clone())).await;
    let client = common::client();

    let probe = break_store(&store, &auditor).await;
    let refused = common::send(&client, addr, "POST", "/items/1", &[]).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(handled.load(Ordering::SeqCst), 0, "the handler did not run");
    // Unaudited requests are served.
    let read = common::send(&client, addr, "GET", "/items/1", &[]).await;
    assert_eq!(read.status, StatusCode::OK);

    store.set_failing(false);
    probe.await.expect("the probe is written once the store recovers");
    // (The writer acknowledges a batch just before it clears its unhealthy flag.)
    common::wait_until("the auditor reports the store healthy", || auditor.is_healthy()).await;
    let served = common::send(&client, addr, "POST", "/items/2", &[]).await;
    assert_eq!(served.status, StatusCode::CREATED);
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    auditor.shutdown().await;

    let events = common::events(&store.inner);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["probe", "POST /items/{id}", "POST /items/{id}"]);
    let refusal = &events[1];
    assert_eq!(refusal.outcome, Outcome::Failure);
    assert_eq!(refusal.reason.as_deref(), Some("audit store unavailable"));
    assert_eq!(refusal.context.status, Some(503));
    assert_eq!(refusal.context.request_id.as_deref(), Some(refused.request_id()));
    assert_eq!(events[2].outcome, Outcome::Success);
    assert_eq!(layer.stats().refused, 1);
    common::verify_chain(&store.inner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_serves_requests_and_records_them_once_the_store_recovers() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone()); // FailOpen and Acknowledged are the defaults
    let handled = Arc::new(AtomicUsize::new(0));
    let addr = common::serve(app(layer.clone(), handled.clone())).await;
    let client = common::client();

    let probe = break_store(&store, &auditor).await;
    let reply = common::send(&client, addr, "POST", "/items/1", &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    assert!(common::events(&store.inner).is_empty(), "released while the store was still failing");

    store.set_failing(false);
    probe.await.expect("written after recovery");
    auditor.shutdown().await;
    let events = common::events(&store.inner);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["probe", "POST /items/{id}"]);
    assert_eq!(events[1].context.request_id.as_deref(), Some(reply.request_id()));
    assert_eq!(events[1].outcome, Outcome::Success);
    assert_eq!(layer.stats().refused, 0);
    common::verify_chain(&store.inner);
}
