//! Acknowledged delivery holds the response until the event is durable; buffered releases it
//! once the event is queued.

mod common;

use audit_core::EventDraft;
use audit_tower::{AuditHandle, AuditLayer, Delivery, UnhealthyPolicy};
use axum::Router;
use axum::routing::post;
use common::TestStore;
use http::StatusCode;
use std::time::Duration;
use tower::ServiceExt;

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
    // The writer may reach the gate before such a layer's response arrives: so the response
    // must also stay held while the append is. (A correct layer cannot answer before the gate
    // opens, so the wait cannot fail it; a layer that does not wait answers within it.)
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut request).await.is_err(),
        "the response was released while its event's append was held at the gate"
    );
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

/// A handler that adds an event: acknowledged, the request's own event is queued once the
/// added one is durable.
fn app_adding_an_event(layer: AuditLayer) -> Router {
    Router::new()
        .route(
            "/items/{id}",
            post(|audit: AuditHandle| async move {
                audit.add_event(EventDraft::new("item_created"));
                StatusCode::CREATED
            }),
        )
        .layer(layer)
}

fn post_item() -> http::Request<axum::body::Body> {
    http::Request::post("/items/1").body(axum::body::Body::empty()).expect("request")
}

/// `Auditor::shutdown` while the own event waits for the added one: the place kept for it in
/// the queue is still written (before, the own event was offered after the auditor closed,
/// refused, and the client got a 500 for a change it had made).
#[tokio::test]
async fn a_shutdown_while_the_own_event_waits_still_writes_it() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone()).with_unhealthy_policy(UnhealthyPolicy::FailClosed);
    store.close_gate();
    let request = tokio::spawn(app_adding_an_event(layer.clone()).oneshot(post_item()));
    store.append_started.notified().await; // the added event is being written
    let shutdown = tokio::spawn({
        let auditor = auditor.clone();
        async move { auditor.shutdown().await }
    });
    // The writer sees the shutdown once the batch at the gate is written: it closes its queue
    // before the request, woken by the added event's receipt, offers its own event.
    tokio::time::sleep(Duration::from_millis(20)).await;
    store.open_gate();
    let response = request.await.expect("task").expect("infallible");
    shutdown.await.expect("shutdown");
    let actions: Vec<String> = common::events(&store.inner).into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["item_created", "POST /items/{id}"], "the request's own event is written too");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(layer.stats().unrecorded, 0);
    common::verify_chain(&store.inner);
}

/// The response future dropped (client gone) while the own event waits for the added one:
/// the own event is recorded once, with the handler's status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dropped_while_its_own_event_waits_records_it_once() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone());
    store.close_gate();
    let request = tokio::spawn(app_adding_an_event(layer.clone()).oneshot(post_item()));
    store.append_started.notified().await;
    tokio::time::sleep(Duration::from_millis(20)).await; // the response future waits
    request.abort();
    let _ = request.await;
    store.open_gate();
    auditor.shutdown().await;
    let events = common::events(&store.inner);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["item_created", "POST /items/{id}"]);
    assert_eq!(events[1].context.status, Some(201));
    assert_eq!(layer.stats().unrecorded, 0);
    common::verify_chain(&store.inner);
}

/// With a queue of one place, the added event takes it and the own event finds no room to
/// keep: it waits for the added event without a place, rather than holding one the added
/// event needs, and is then queued.
#[tokio::test]
async fn a_queue_of_one_does_not_hold_a_request_that_added_events() {
    let store = std::sync::Arc::new(audit_core::store::MemoryStore::new());
    let auditor = audit_core::Auditor::builder(store.clone()).queue_capacity(1).build();
    let layer = AuditLayer::new(auditor.clone());
    // A guard against a hang, not a measure of speed.
    let response =
        tokio::time::timeout(Duration::from_secs(60), app_adding_an_event(layer.clone()).oneshot(post_item()))
            .await
            .expect("the request completes")
            .expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
    auditor.shutdown().await;
    let actions: Vec<String> = common::events(&store).into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["item_created", "POST /items/{id}"]);
    assert_eq!(layer.stats().unrecorded, 0);
}

/// Under fail closed the response waits for durability whatever the ack timeout (which is
/// fail open's): released after the timeout, a client would see success for a change whose
/// event the store may never take.
#[tokio::test]
async fn fail_closed_responses_wait_for_durability_past_the_ack_timeout() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone())
        .with_unhealthy_policy(UnhealthyPolicy::FailClosed)
        .with_ack_timeout(Duration::from_millis(10));
    store.close_gate();
    let request = tokio::spawn(app_adding_an_event(layer.clone()).oneshot(post_item()));
    store.append_started.notified().await;
    tokio::time::sleep(Duration::from_millis(200)).await; // far past the ack timeout: a wait, not a measurement
    assert!(!request.is_finished(), "the response was released before its events were durable");
    store.open_gate();
    let response = request.await.expect("task").expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
    let actions: Vec<String> = common::events(&store.inner).into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["item_created", "POST /items/{id}"]);
    auditor.shutdown().await;
}

/// The response future dropped (client gone) after the handler answered, while the request's
/// own event waits for room in a full queue: the event is queued once there is room (by a task
/// of its own), once, and nothing is counted lost.
#[tokio::test]
async fn a_request_dropped_while_its_event_waits_for_room_records_it_once() {
    use futures_util::FutureExt;
    let store = TestStore::new();
    let auditor = store.auditor_with_queue(1);
    let layer = AuditLayer::new(auditor.clone());
    store.close_gate();
    // The writer holds one event at the gate; a second fills the queue.
    let held = auditor.try_record(EventDraft::new("held")).expect("queued");
    store.append_started.notified().await;
    let filler = auditor.try_record(EventDraft::new("filler")).expect("queued");
    let request = http::Request::post("/items").body(axum::body::Body::empty()).expect("request");
    let pending = app(layer.clone()).oneshot(request).now_or_never();
    assert!(pending.is_none(), "the response waits for room for its event");
    assert_eq!(layer.stats().unrecorded, 0);
    store.open_gate();
    held.await.expect("held event written");
    filler.await.expect("filler written");
    common::wait_until("the dropped request's event is written", || common::events(&store.inner).len() == 3).await;
    auditor.shutdown().await;
    let events = common::events(&store.inner);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["held", "filler", "POST /items"], "the request's event, once");
    assert_eq!(events[2].context.status, Some(201), "the handler answered before the drop");
    assert_eq!(layer.stats().unrecorded, 0);
    common::verify_chain(&store.inner);
}
