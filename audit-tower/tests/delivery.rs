//! Acknowledged delivery holds the response until the event is durable; buffered releases it
//! once the event is queued.

mod common;

use audit_tower::{AuditLayer, Delivery};
use axum::Router;
use axum::routing::post;
use common::TestStore;
use http::StatusCode;
use std::time::Duration;

fn app(layer: AuditLayer) -> Router {
    Router::new().route("/items", post(|| async { StatusCode::CREATED })).layer(layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_delivery_holds_the_response_until_the_event_is_durable() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let addr = common::serve(app(AuditLayer::new(auditor.clone()))).await;
    store.close_gate();

    let client = common::client();
    let mut request = tokio::spawn(async move { common::send(&client, addr, "POST", "/items", &[]).await });
    // The writer has started appending the request's event and is held at the gate: the
    // response must not have been released (a layer that answered once the event was queued
    // would have answered before the append started).
    tokio::select! {
        biased;
        reply = &mut request => panic!("the response was released before its event was durable: {reply:?}"),
        () = store.append_started.notified() => {}
    }
    assert!(common::events(&store.inner).is_empty());
    store.open_gate();
    let reply = request.await.expect("request task");
    assert_eq!(reply.status, StatusCode::CREATED);
    // Durable when the response arrives: no waiting.
    let events = common::events(&store.inner);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].context.request_id.as_deref(), Some(reply.request_id()));
    auditor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_delivery_releases_the_response_once_the_event_is_queued() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let addr = common::serve(app(AuditLayer::new(auditor.clone()).with_delivery(Delivery::Buffered))).await;
    store.close_gate();

    // The store holds every append; the response comes anyway (the timeout only keeps a
    // broken layer from hanging the test).
    let client = common::client();
    let reply = tokio::time::timeout(Duration::from_secs(60), common::send(&client, addr, "POST", "/items", &[]))
        .await
        .expect("a buffered response does not wait for the store");
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(common::events(&store.inner).is_empty(), "not durable yet");

    store.open_gate();
    auditor.shutdown().await;
    let events = common::events(&store.inner);
    assert_eq!(events.len(), 1, "queued events are written: nothing lost");
    assert_eq!(events[0].context.request_id.as_deref(), Some(reply.request_id()));
}
