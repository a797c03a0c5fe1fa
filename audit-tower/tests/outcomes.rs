//! How a request ended: 2xx/3xx success, 401/403 denied, anything else failure, a caught
//! panic included.

mod common;

use audit_core::Outcome;
use audit_tower::AuditLayer;
use axum::Router;
use axum::routing::post;
use http::StatusCode;
use tower_http::catch_panic::CatchPanicLayer;

#[tokio::test]
async fn statuses_map_to_outcomes() {
    let (auditor, store) = common::auditor();
    let app = Router::new()
        .route(
            "/status/{code}",
            post(|axum::extract::Path(code): axum::extract::Path<u16>| async move {
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
            }),
        )
        .layer(AuditLayer::new(auditor));
    let addr = common::serve(app).await;
    let client = common::client();
    let cases = [
        (200, Outcome::Success, None),
        (201, Outcome::Success, None),
        (302, Outcome::Success, None),
        (400, Outcome::Failure, Some("Bad Request")),
        (401, Outcome::Denied, Some("Unauthorized")),
        (403, Outcome::Denied, Some("Forbidden")),
        (404, Outcome::Failure, Some("Not Found")),
        (409, Outcome::Failure, Some("Conflict")),
        (500, Outcome::Failure, Some("Internal Server Error")),
        (503, Outcome::Failure, Some("Service Unavailable")),
    ];
    for (code, _, _) in cases {
        let reply = common::send(&client, addr, "POST", &format!("/status/{code}"), &[]).await;
        assert_eq!(reply.status.as_u16(), code);
    }
    let events = common::events(&store);
    assert_eq!(events.len(), cases.len());
    for (event, (code, outcome, reason)) in events.iter().zip(cases) {
        assert_eq!(event.context.status, Some(i64::from(code)));
        assert_eq!(event.outcome, outcome, "status {code}");
        assert_eq!(event.reason.as_deref(), reason, "status {code}");
    }
}

/// `POST /explode`, whose handler panics.
fn exploding() -> Router {
    Router::new().route(
        "/explode",
        post(|| async {
            if true {
                panic!("handler bug");
            }
            StatusCode::OK
        }),
    )
}

#[tokio::test]
async fn a_panic_caught_inside_the_layer_is_a_failure() {
    let (auditor, store) = common::auditor();
    let app = exploding().layer(CatchPanicLayer::new()).layer(AuditLayer::new(auditor));
    let addr = common::serve(app).await;
    let reply = common::send(&common::client(), addr, "POST", "/explode", &[]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let events = common::events(&store);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "POST /explode");
    assert_eq!(events[0].outcome, Outcome::Failure);
    assert_eq!(events[0].context.status, Some(500));
    assert_eq!(events[0].context.request_id.as_deref(), Some(reply.request_id()));
}

#[tokio::test]
async fn a_panic_caught_outside_the_layer_is_recorded_as_a_panic() {
    // CatchPanicLayer outside: the panic unwinds through the layer's future, which is dropped
    // only later, once the panic is caught (no longer while unwinding).
    let (auditor, store) = common::auditor();
    // The handler gave a reason before it panicked: the layer's own (`panic`) takes precedence.
    let app = Router::new()
        .route(
            "/explode",
            post(|audit: audit_tower::AuditHandle| async move {
                audit.set_reason("half done");
                if true {
                    panic!("handler bug");
                }
                StatusCode::OK
            }),
        )
        .layer(AuditLayer::new(auditor.clone()))
        .layer(CatchPanicLayer::new());
    let addr = common::serve(app).await;
    let reply = common::send(&common::client(), addr, "POST", "/explode", &[]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    // Queued when the layer's future was dropped, not waited for by the response.
    auditor.shutdown().await;
    let events = common::events(&store);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "POST /explode");
    assert_eq!(events[0].outcome, Outcome::Failure);
    assert_eq!(events[0].reason.as_deref(), Some("panic"), "not `aborted`: the client got a 500");
    assert_eq!(events[0].context.status, None, "the 500 is made outside the layer");
}

/// A JSON document nested one level deeper than an event's values may be.
fn too_deep() -> String {
    let depth = audit_core::event::MAX_VALUE_DEPTH + 1;
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn an_added_event_that_cannot_be_recorded_makes_the_request_a_recorded_500() {
    // The handler adds a business event with a detail (the JSON document of the request's
    // body) nested deeper than an event may be: it cannot be recorded, so the client gets a
    // 500, and the request's own event says 500 too instead of the handler's 401.
    let (auditor, store) = common::auditor();
    let app = Router::new()
        .route(
            "/login",
            post(|audit: audit_tower::AuditHandle, body: String| async move {
                let document = serde_json::from_str(&body).unwrap_or_default();
                audit.add_event(
                    audit_core::EventDraft::new("login_failed").detail("document", document).outcome(Outcome::Denied),
                );
                StatusCode::UNAUTHORIZED
            }),
        )
        .layer(AuditLayer::new(auditor));
    let request = http::Request::post("/login").body(axum::body::Body::from(too_deep())).expect("request");
    let response = tower::ServiceExt::oneshot(app, request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let events = common::events(&store);
    assert_eq!(events.len(), 1, "the request's own event only");
    assert_eq!(events[0].action, "POST /login");
    assert_eq!(events[0].context.status, Some(500), "the status the client got");
    assert_eq!(events[0].outcome, Outcome::Failure);
    let reason = events[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("could not be recorded"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_event_that_cannot_be_recorded_after_waiting_for_room_makes_a_recorded_500() {
    // As above, but the writer's queue is full when the request's events are handed over:
    // the invalid event is refused after waiting for room, and the own event still says 500.
    let store = common::TestStore::new();
    let auditor = store.auditor_with_queue(1);
    let app = Router::new()
        .route(
            "/login",
            post(|audit: audit_tower::AuditHandle, body: String| async move {
                let document = serde_json::from_str(&body).unwrap_or_default();
                audit.add_event(
                    audit_core::EventDraft::new("login_failed").detail("document", document).outcome(Outcome::Denied),
                );
                StatusCode::UNAUTHORIZED
            }),
        )
        .layer(AuditLayer::new(auditor.clone()));

    // Fill the queue: the writer holds `probe` in a hanging append, `filler` waits in the
    // queue (capacity 1).
    store.close_gate();
    let probe = auditor.try_record(audit_core::EventDraft::new("probe")).expect("queued");
    store.append_started.notified().await;
    let _filler = auditor.try_record(audit_core::EventDraft::new("filler")).expect("queued");

    let request = http::Request::post("/login").body(axum::body::Body::from(too_deep())).expect("request");
    let pending = tokio::spawn(tower::ServiceExt::oneshot(app, request));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!pending.is_finished(), "the request waits for room in the queue");
    store.open_gate();
    let response = pending.await.expect("task").expect("infallible");
    probe.await.expect("probe written");
    auditor.shutdown().await;

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let events = common::events(&store.inner);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["probe", "filler", "POST /login"], "the invalid event is not recorded");
    let own = &events[2];
    assert_eq!(own.context.status, Some(500), "the status the client got");
    assert_eq!(own.outcome, Outcome::Failure);
    let reason = own.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("could not be recorded"), "{reason}");
}

#[tokio::test]
async fn an_added_event_the_store_refuses_makes_a_recorded_500() {
    let (auditor, store) = common::auditor();
    added_event_refused_by_the_store(auditor, &store).await;
}

/// The same with a queue of one place: the added event takes it, so no place can be kept for
/// the own event while it waits. It waited all the same (before, it was queued at once, with
/// the handler's status, while the client got a 500).
#[tokio::test]
async fn an_added_event_the_store_refuses_makes_a_recorded_500_with_a_queue_of_one() {
    let store = std::sync::Arc::new(audit_core::store::MemoryStore::new());
    let auditor = audit_core::Auditor::builder(store.clone()).queue_capacity(1).build();
    added_event_refused_by_the_store(auditor, &store).await;
}

/// Records a `payment` event with an id, then sends `POST /payments/p1` through `layer` to a
/// handler that adds a `payment` event with that same id (an idempotency key on a client's
/// retry), which the store refuses once it is queued; shuts the auditor down and returns the
/// response.
async fn pay_twice(auditor: &audit_core::Auditor, layer: AuditLayer) -> http::Response<axum::body::Body> {
    let id = uuid::Uuid::now_v7();
    auditor.record(audit_core::EventDraft::new("payment").with_id(id)).await.expect("the first payment event");
    let app = Router::new()
        .route(
            "/payments/{id}",
            post(move |audit: audit_tower::AuditHandle| async move {
                audit.add_event(audit_core::EventDraft::new("payment").with_id(id));
                StatusCode::OK
            }),
        )
        .layer(layer);
    let request = http::Request::post("/payments/p1").body(axum::body::Body::empty()).expect("request");
    let response = tower::ServiceExt::oneshot(app, request).await.expect("infallible");
    auditor.shutdown().await;
    response
}

async fn added_event_refused_by_the_store(auditor: audit_core::Auditor, store: &audit_core::store::MemoryStore) {
    // Acknowledged delivery: the handler adds an event whose id (an idempotency key) the
    // chain already holds. The store refuses it only once it is queued; the request's own
    // event, queued once the added events are settled, records the 500 the client gets.
    let response = pay_twice(&auditor, AuditLayer::new(auditor.clone())).await;

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().contains_key("x-request-id"));
    let events = common::events(store);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["payment", "POST /payments/{id}"], "the refused event is not written");
    let own = &events[1];
    assert_eq!(own.context.status, Some(500), "the status the client got");
    assert_eq!(own.outcome, Outcome::Failure);
    let reason = own.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("could not be recorded") && reason.contains("refused"), "{reason}");
}

/// Buffered delivery does not wait for the store, so a refusal after queuing (an id the chain
/// holds) is not seen by the layer: as documented, the response and the request's own event
/// keep the handler's status, and the writer counts the refused event.
#[tokio::test]
async fn under_buffered_delivery_a_late_refusal_keeps_the_status_and_is_counted() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor.clone()).with_delivery(audit_tower::Delivery::Buffered);
    let response = pay_twice(&auditor, layer).await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = common::events(&store);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["payment", "POST /payments/{id}"], "the refused event is not written");
    assert_eq!(events[1].context.status, Some(200));
    assert_eq!(events[1].outcome, Outcome::Success);
    assert_eq!(auditor.stats().rejected, 1, "the refusal is counted");
}

/// A service (no axum handler: its error type is not `Infallible`) whose request adds `event`
/// through the handle and then fails with an error, not a response.
fn failing_after_adding(
    event: audit_core::EventDraft,
) -> impl tower::Service<
    http::Request<axum::body::Body>,
    Response = http::Response<axum::body::Body>,
    Error = std::io::Error,
    Future = impl Future<Output = Result<http::Response<axum::body::Body>, std::io::Error>>,
> + Clone {
    tower::service_fn(move |request: http::Request<axum::body::Body>| {
        let event = event.clone();
        async move {
            let audit = audit_tower::AuditHandle::from_extensions(request.extensions()).expect("audited");
            audit.add_event(event);
            Err::<http::Response<axum::body::Body>, _>(std::io::Error::other("backend down"))
        }
    })
}

/// The service error reaches the client (no `500` is made of it): the request's own event says
/// what the client got (no status, `service error`), even when an event the handler added could
/// not be recorded (it was amended to a `500` the client never got).
async fn assert_a_service_error_is_recorded_as_one(
    auditor: audit_core::Auditor,
    store: &audit_core::store::MemoryStore,
    event: audit_core::EventDraft,
    written_before: usize,
) {
    let layer = AuditLayer::new(auditor.clone());
    let service = tower::Layer::layer(&layer, failing_after_adding(event));
    let request = http::Request::put("/things/1").body(axum::body::Body::empty()).expect("request");
    let result = tower::ServiceExt::oneshot(service, request).await;
    assert!(result.is_err(), "the client gets the service's error, not a response");
    auditor.shutdown().await;
    let events = common::events(store);
    assert_eq!(events.len(), written_before + 1, "the request's own event, not the refused one: {events:?}");
    let own = &events[written_before];
    assert_eq!(own.action, "PUT <unmatched>");
    assert_eq!(own.outcome, Outcome::Failure);
    assert_eq!(own.context.status, None, "no response, no status: the client got no 500");
    assert_eq!(own.reason.as_deref(), Some("service error"));
    assert_eq!(layer.stats().unrecorded, 1, "the added event is counted as lost");
}

#[tokio::test]
async fn a_service_error_after_an_invalid_added_event_is_recorded_without_a_status() {
    let (auditor, store) = common::auditor();
    let deep = serde_json::from_str::<serde_json::Value>(&too_deep()).expect("json");
    let event = audit_core::EventDraft::new("export").detail("document", deep);
    assert_a_service_error_is_recorded_as_one(auditor, &store, event, 0).await;
}

#[tokio::test]
async fn a_service_error_after_an_added_event_the_store_refuses_is_recorded_without_a_status() {
    let (auditor, store) = common::auditor();
    let id = uuid::Uuid::now_v7();
    auditor.record(audit_core::EventDraft::new("payment").with_id(id)).await.expect("the first payment event");
    let event = audit_core::EventDraft::new("payment").with_id(id);
    assert_a_service_error_is_recorded_as_one(auditor, &store, event, 1).await;
}
