//! While the audit store is failing: fail open (serve, events wait in the writer) or fail
//! closed (refuse audited requests with 503, and record the refusal).

mod common;

use audit_core::{Auditor, EventDraft, Outcome, Ticket};
use audit_tower::{AuditLayer, MAX_DETACHED_WAITERS, UnhealthyPolicy};
use axum::Router;
use axum::routing::post;
use common::TestStore;
use futures_util::FutureExt;
use http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tower::ServiceExt;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_releases_responses_already_waiting_once_the_store_fails() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone()); // FailOpen and Acknowledged are the defaults
    let handled = Arc::new(AtomicUsize::new(0));
    let addr = common::serve(app(layer.clone(), handled.clone())).await;

    // The store stops answering: the writer's append of the request's event hangs, so the
    // auditor still reports the store healthy and the response waits for durability.
    store.close_gate();
    let client = common::client();
    let request = tokio::spawn(async move { common::send(&client, addr, "POST", "/items/1", &[]).await });
    store.append_started.notified().await;
    assert!(auditor.is_healthy());
    assert!(!request.is_finished(), "acknowledged: held while the append is in flight");

    // The hanging append fails (a connection or statement timeout): the store is unhealthy
    // now, and the response already waiting is released with its event still queued.
    store.set_failing(true);
    store.open_gate();
    common::wait_until("the response is released while the store is failing", || request.is_finished()).await;
    let reply = request.await.expect("request task");
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(!auditor.is_healthy());
    assert!(common::events(&store.inner).is_empty(), "released before the store recovered");

    store.set_failing(false);
    auditor.shutdown().await;
    let events = common::events(&store.inner);
    assert_eq!(events.len(), 1, "written exactly once after recovery");
    assert_eq!(events[0].action, "POST /items/{id}");
    assert_eq!(events[0].context.request_id.as_deref(), Some(reply.request_id()));
    assert_eq!(layer.stats().unrecorded, 0);
    common::verify_chain(&store.inner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_with_an_ack_timeout_releases_responses_a_hanging_store_holds() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone()).with_ack_timeout(Duration::from_millis(50));
    let handled = Arc::new(AtomicUsize::new(0));
    let addr = common::serve(app(layer.clone(), handled.clone())).await;

    // The append hangs and never fails: the auditor keeps reporting the store healthy, and
    // only the ack timeout releases the response.
    store.close_gate();
    let client = common::client();
    let request = tokio::spawn(async move { common::send(&client, addr, "POST", "/items/1", &[]).await });
    store.append_started.notified().await;
    common::wait_until("the ack timeout releases the response", || request.is_finished()).await;
    let reply = request.await.expect("request task");
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(auditor.is_healthy(), "a hanging store is not seen as failing");
    assert!(common::events(&store.inner).is_empty(), "released while the append still hangs");

    store.open_gate();
    auditor.shutdown().await;
    let events = common::events(&store.inner);
    assert_eq!(events.len(), 1, "written exactly once when the store answers");
    assert_eq!(events[0].context.request_id.as_deref(), Some(reply.request_id()));
    assert_eq!(layer.stats().unrecorded, 0);
    common::verify_chain(&store.inner);
}

#[tokio::test(start_paused = true)]
async fn fail_open_releases_a_waiting_response_the_moment_the_store_is_found_failing() {
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone()); // FailOpen and Acknowledged are the defaults
    let handled = Arc::new(AtomicUsize::new(0));
    let app = app(layer.clone(), handled.clone());

    store.close_gate();
    let request = tokio::spawn(app.oneshot(post_request("/items/1")));
    store.append_started.notified().await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!request.is_finished(), "acknowledged: held while the append is in flight");

    // The clock is paused: it moves only when every task waits for a timer. A response
    // released by a periodic health check would show the check's period here; released by
    // the writer's signal, it is out at the very instant the append failed.
    let failed_at = tokio::time::Instant::now();
    store.set_failing(true);
    store.open_gate();
    let response = request.await.expect("request task").expect("infallible");
    assert_eq!(tokio::time::Instant::now(), failed_at, "released without waiting for a timer");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(!auditor.is_healthy());
    assert!(common::events(&store.inner).is_empty(), "released before the store recovered");

    store.set_failing(false);
    auditor.shutdown().await;
    let events = common::events(&store.inner);
    assert_eq!(events.len(), 1, "written exactly once after recovery");
    assert_eq!(layer.stats().unrecorded, 0);
    common::verify_chain(&store.inner);
}

fn post_request(path: &str) -> http::Request<axum::body::Body> {
    http::Request::post(path).body(axum::body::Body::empty()).expect("request")
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

#[tokio::test]
async fn fail_closed_refusals_that_meet_a_full_queue_are_counted_and_spawn_nothing() {
    let store = TestStore::new();
    // The writer holds the probe (retrying it); the queue has room for one more event.
    let auditor = store.auditor_with_queue(1);
    let layer = AuditLayer::new(auditor.clone()).with_unhealthy_policy(UnhealthyPolicy::FailClosed);
    let handled = Arc::new(AtomicUsize::new(0));
    let app = app(layer.clone(), handled.clone());
    let probe = break_store(&store, &auditor).await;

    let tasks = alive_tasks();
    for i in 0..10 {
        let response = app.clone().oneshot(post_request(&format!("/items/{i}"))).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(handled.load(Ordering::SeqCst), 0);
    let stats = layer.stats();
    assert_eq!((stats.audited, stats.refused), (10, 10));
    assert_eq!(stats.unrecorded, 9, "the first refusal is queued, the other nine meet a full queue");
    assert_eq!(alive_tasks(), tasks, "no task waits for room on behalf of a refusal");

    store.set_failing(false);
    probe.await.expect("written after recovery");
    auditor.shutdown().await;
    let actions: Vec<String> = common::events(&store.inner).into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["probe", "POST /items/{id}"]);
    assert_eq!(layer.stats().unrecorded, 9);
}

#[tokio::test]
async fn fail_open_aborted_requests_wait_for_room_in_at_most_max_detached_waiters_tasks() {
    let store = TestStore::new();
    let auditor = store.auditor_with_queue(1);
    let layer = AuditLayer::new(auditor.clone()); // fail open
    // The handler never answers: each request below is dropped after its first poll, as when
    // the client goes away.
    let app = Router::new().route("/items/{id}", post(std::future::pending::<()>)).layer(layer.clone());
    let probe = break_store(&store, &auditor).await;

    let tasks = alive_tasks();
    let requests = 1 + MAX_DETACHED_WAITERS + 10;
    for i in 0..requests {
        let pending = app.clone().oneshot(post_request(&format!("/items/{i}"))).now_or_never();
        assert!(pending.is_none(), "the handler does not answer");
    }
    let stats = layer.stats();
    assert_eq!(stats.aborted, requests as u64);
    // One event fits in the queue, MAX_DETACHED_WAITERS tasks wait for room, the rest are lost.
    assert_eq!(alive_tasks() - tasks, MAX_DETACHED_WAITERS);
    assert_eq!(stats.unrecorded, 10);

    store.set_failing(false);
    probe.await.expect("written after recovery");
    common::wait_until("the waiting tasks queued their events", || alive_tasks() == tasks).await;
    auditor.shutdown().await;
    let events = common::events(&store.inner);
    assert_eq!(events.len(), 1 + 1 + MAX_DETACHED_WAITERS);
    assert!(events[1..].iter().all(|e| e.reason.as_deref() == Some("aborted")));
    assert_eq!(layer.stats().unrecorded, 10);
    common::verify_chain(&store.inner);
}

#[tokio::test]
async fn fail_closed_refuses_requests_once_the_auditor_is_shut_down() {
    // A shut-down auditor takes no more events although its store is healthy: fail closed,
    // the mutation must not be made without its event.
    let (auditor, store) = common::auditor();
    let handled = Arc::new(AtomicUsize::new(0));
    let layer = AuditLayer::new(auditor.clone()).with_unhealthy_policy(UnhealthyPolicy::FailClosed);
    let app = app(layer.clone(), handled.clone());
    auditor.shutdown().await;
    assert!(auditor.is_healthy(), "the store itself never failed");
    let response = app.oneshot(post_request("/items/1")).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "fail closed: refused");
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(handled.load(Ordering::SeqCst), 0, "the handler did not run");
    assert!(common::events(&store).is_empty(), "nothing can be recorded");
    assert_eq!(layer.stats().refused, 1);
    assert_eq!(layer.stats().unrecorded, 1, "the refusal's event is counted as lost");
}

/// `POST /items/{id}`, whose handler adds an `item_created` event, behind `layer`.
fn adding_an_event(layer: AuditLayer) -> Router {
    Router::new()
        .route(
            "/items/{id}",
            post(|audit: audit_tower::AuditHandle| async move {
                audit.add_event(EventDraft::new("item_created"));
                StatusCode::CREATED
            }),
        )
        .layer(layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_with_an_ack_timeout_releases_a_request_with_added_events() {
    // The request's own event waits for the handler's added events before it is queued; the
    // ack timeout that gives up on theirs releases the response without a second wait.
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone()).with_ack_timeout(Duration::from_millis(50));
    let app = adding_an_event(layer.clone());

    store.close_gate();
    let request = tokio::spawn(app.oneshot(post_request("/items/1")));
    store.append_started.notified().await;
    common::wait_until("the ack timeout releases the response", || request.is_finished()).await;
    let response = request.await.expect("request task").expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(common::events(&store.inner).is_empty(), "released while the append still hangs");

    store.open_gate();
    auditor.shutdown().await;
    let actions: Vec<String> = common::events(&store.inner).into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["item_created", "POST /items/{id}"], "both written, in order, when the store answers");
    assert_eq!(layer.stats().unrecorded, 0);
    common::verify_chain(&store.inner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_releases_a_request_with_added_events_when_the_store_fails_during_its_wait() {
    // The defaults (acknowledged, fail open, no ack timeout). The store starts failing while
    // the handler's added event is being appended: the wait for it is given up, the own event
    // is queued and not waited for (the store is known to be failing), and the response is
    // released. (The wait for the store's failure was once polled again after it had
    // finished, which panicked the request's task.)
    let store = TestStore::new();
    let auditor = store.auditor();
    let layer = AuditLayer::new(auditor.clone());
    let app = adding_an_event(layer.clone());

    store.close_gate();
    let request = tokio::spawn(app.oneshot(post_request("/items/1")));
    store.append_started.notified().await;
    store.set_failing(true);
    store.open_gate();
    common::wait_until("the failing store releases the response", || request.is_finished()).await;
    let response = request.await.expect("the request's task did not panic").expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(common::events(&store.inner).is_empty(), "released while the store fails");

    store.set_failing(false);
    auditor.shutdown().await;
    let actions: Vec<String> = common::events(&store.inner).into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["item_created", "POST /items/{id}"], "both written, in order, once the store recovers");
    assert_eq!(layer.stats().unrecorded, 0);
    common::verify_chain(&store.inner);
}

/// Tasks waiting for room in the queue when the runtime shuts down are dropped with it: the
/// events they held are counted as unrecorded, as every other loss is.
#[test]
fn events_waiting_for_room_when_the_runtime_shuts_down_are_counted_as_lost() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let (layer, store) = runtime.block_on(async {
        let store = TestStore::new();
        let auditor = store.auditor_with_queue(1);
        let layer = AuditLayer::new(auditor.clone()); // fail open
        let app = Router::new().route("/items/{id}", post(std::future::pending::<()>)).layer(layer.clone());
        // Held by the failing store, the probe leaves room for one event in the queue.
        let _probe = break_store(&store, &auditor).await;
        for i in 0..4 {
            let pending = app.clone().oneshot(post_request(&format!("/items/{i}"))).now_or_never();
            assert!(pending.is_none(), "the handler does not answer");
        }
        (layer, store)
    });
    let stats = layer.stats();
    assert_eq!((stats.aborted, stats.unrecorded), (4, 0), "one event queued, three wait for room");
    drop(runtime);
    assert_eq!(layer.stats().unrecorded, 3, "the three waiting tasks were dropped with the runtime");
    drop(store);
}
