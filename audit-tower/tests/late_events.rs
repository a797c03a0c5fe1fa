//! What the request's context says reaches every event of the request: one a handle that
//! outlived the request adds too; and a resource the handler names is recorded whatever its
//! length.

mod common;

use audit_core::{Actor, EventDraft};
use audit_tower::{AuditHandle, AuditLayer};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tower::ServiceExt;

/// `AuditHandle::add_event`: an event added through a handle that outlived the request (a
/// spawned task) is queued "with the request's actor and context", status and duration
/// included, as one added in time (the late one once lacked them).
#[tokio::test]
async fn an_event_added_after_the_request_gets_the_requests_status_and_duration() {
    let (auditor, store) = common::auditor();
    let (tx, rx) = oneshot::channel::<AuditHandle>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let app = Router::new()
        .route(
            "/exports/{id}",
            post(move |audit: AuditHandle| async move {
                audit.set_actor(Actor::user("erin"));
                if let Some(tx) = tx.lock().expect("lock").take() {
                    let _ = tx.send(audit);
                }
                StatusCode::ACCEPTED
            }),
        )
        .layer(AuditLayer::new(auditor.clone()));
    let request = http::Request::post("/exports/9").body(axum::body::Body::empty()).expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // A task the handler spawned finishes its work after the response and reports it.
    let handle = rx.await.expect("handle");
    handle.add_event(EventDraft::new("export_finished"));
    auditor.shutdown().await;

    let events = common::events(&store);
    assert_eq!(events.len(), 2);
    let (own, late) = (&events[0], &events[1]);
    assert_eq!(own.context.status, Some(202));
    assert_eq!(late.action, "export_finished");
    assert_eq!(late.actor, Actor::user("erin"), "the request's actor (holds)");
    assert_eq!(late.context.request_id, own.context.request_id, "the request's id (holds)");
    assert_eq!(
        (late.context.status, late.context.duration_us.is_some()),
        (own.context.status, true),
        "the request's context includes its status and duration: {:?}",
        late.context
    );
}

/// `AuditHandle::set_resource` with an id over `MAX_INDEXED_FIELD_BYTES` (here a client's value
/// the handler passes on): the id is cut and marked, and the request's event is recorded (it
/// was refused as invalid, and the request left no event).
#[tokio::test]
async fn a_long_resource_the_handler_names_is_cut_and_recorded() {
    let (auditor, store) = common::auditor();
    let long = "x".repeat(2000);
    let id = long.clone();
    let app = Router::new()
        .route(
            "/imports",
            post(move |audit: AuditHandle| async move {
                audit.set_resource("imports", id);
                StatusCode::CREATED
            }),
        )
        .layer(AuditLayer::new(auditor.clone()));
    let request = http::Request::post("/imports").body(axum::body::Body::empty()).expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
    auditor.shutdown().await;
    let events = common::events(&store);
    assert_eq!(events.len(), 1);
    let id = &events[0].resource.id;
    assert!(id.len() <= audit_core::event::MAX_INDEXED_FIELD_BYTES, "{}", id.len());
    assert!(long.starts_with(id.split('…').next().unwrap_or_default()) && id.contains('…'), "{id}");
}

/// `AuditHandle::set_actor` on a handle that outlived its request "has no effect": an event it
/// adds later keeps the request's actor (a late `set_actor` once renamed the actor of every
/// later event of that request id).
#[tokio::test]
async fn a_late_set_actor_does_not_rename_the_requests_actor() {
    let (auditor, store) = common::auditor();
    let (tx, rx) = oneshot::channel::<AuditHandle>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let app = Router::new()
        .route(
            "/exports/{id}",
            post(move |audit: AuditHandle| async move {
                audit.set_actor(Actor::user("erin"));
                if let Some(tx) = tx.lock().expect("lock").take() {
                    let _ = tx.send(audit);
                }
                StatusCode::ACCEPTED
            }),
        )
        .layer(AuditLayer::new(auditor.clone()));
    let request = http::Request::post("/exports/9").body(axum::body::Body::empty()).expect("request");
    assert_eq!(app.oneshot(request).await.expect("infallible").status(), StatusCode::ACCEPTED);
    let handle = rx.await.expect("handle");
    handle.set_actor(Actor::admin("mallory"));
    assert_eq!(handle.actor(), Some(Actor::user("erin")));
    handle.add_event(EventDraft::new("export_finished"));
    auditor.shutdown().await;

    let actors: Vec<(String, Actor)> = common::events(&store).into_iter().map(|e| (e.action, e.actor)).collect();
    assert_eq!(
        actors,
        [("POST /exports/{id}".to_string(), Actor::user("erin")), ("export_finished".to_string(), Actor::user("erin"))]
    );
}

/// An event added through a handle that outlived its request, from code running in another
/// audited request (a job's completion reported by a worker's call, say), carries the first
/// request's context only: where that request had no client IP (unknown, as a malformed
/// forwarded chain leaves it) or no user agent, the event has none either, never those of the
/// request that happens to add it (they were filled in from its scope).
#[tokio::test]
async fn a_late_event_added_from_another_request_keeps_its_own_requests_context() {
    let (auditor, store) = common::auditor();
    let stored = Arc::new(Mutex::new(None::<AuditHandle>));
    let (keep, take) = (stored.clone(), stored);
    let app = Router::new()
        .route(
            "/exports/{id}",
            post(move |audit: AuditHandle| async move {
                audit.set_actor(Actor::user("erin"));
                *keep.lock().expect("lock") = Some(audit);
                StatusCode::ACCEPTED
            }),
        )
        .route(
            "/exports/{id}/done",
            post(move |audit: AuditHandle| async move {
                audit.set_actor(Actor::service("export-worker"));
                let Some(export) = take.lock().expect("lock").take() else { return StatusCode::NOT_FOUND };
                export.add_event(EventDraft::new("export_finished"));
                StatusCode::NO_CONTENT
            }),
        )
        .layer(AuditLayer::new(auditor.clone()));

    // The export's request: no connect info (its IP unknown), no user agent.
    let request = http::Request::post("/exports/9").body(axum::body::Body::empty()).expect("request");
    assert_eq!(app.clone().oneshot(request).await.expect("infallible").status(), StatusCode::ACCEPTED);
    // The worker's call, from another address and with a user agent of its own.
    let worker = std::net::SocketAddr::from(([203, 0, 113, 9], 40_000));
    let request = http::Request::post("/exports/9/done")
        .header("user-agent", "export-worker/1")
        .extension(axum::extract::connect_info::MockConnectInfo(worker))
        .body(axum::body::Body::empty())
        .expect("request");
    assert_eq!(app.oneshot(request).await.expect("infallible").status(), StatusCode::NO_CONTENT);
    auditor.shutdown().await;

    let events = common::events(&store);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["POST /exports/{id}", "export_finished", "POST /exports/{id}/done"]);
    let (export, late, done) = (&events[0], &events[1], &events[2]);
    assert_eq!(done.context.ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(late.actor, Actor::user("erin"));
    assert_eq!(late.context.request_id, export.context.request_id);
    assert_eq!(
        (late.context.ip.as_deref(), late.context.user_agent.as_deref()),
        (None, None),
        "the export request's IP and user agent (unknown), not the worker's: {:?}",
        late.context
    );
    assert_eq!(late.context, export.context, "the export request's context, whole");
}
