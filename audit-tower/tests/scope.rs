//! The request's audit scope is current inside the handler: events the handler records
//! through the `Auditor` without an actor get the request's actor, request id and context; the
//! events of another audited request served inside that handler take nothing of it.

mod common;

use audit_core::{Actor, AuditScope, Auditor, EventDraft};
use audit_tower::{AuditHandle, AuditLayer};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use http::StatusCode;
use serde_json::json;

async fn authenticate(audit: Option<AuditHandle>, request: Request, next: Next) -> Response {
    if let Some(audit) = audit {
        audit.set_actor(Actor::user("alice"));
    }
    next.run(request).await
}

/// What a SeaORM hook does: record a row change with no actor of its own.
async fn update_user(State(auditor): State<Auditor>, Path(id): Path<String>) -> Result<String, StatusCode> {
    let in_scope = AuditScope::current().is_some();
    auditor
        .record(EventDraft::new("update").resource("users", id).change(
            "role",
            Some(json!("user")),
            Some(json!("admin")),
        ))
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(in_scope.to_string())
}

#[tokio::test]
async fn events_recorded_in_the_handler_get_the_request_actor_and_id() {
    let (auditor, store) = common::auditor();
    let app = Router::new()
        .route("/users/{id}", put(update_user))
        .route("/open/{id}", get(update_user))
        .with_state(auditor.clone())
        .route_layer(middleware::from_fn(authenticate))
        .layer(AuditLayer::new(auditor));
    let addr = common::serve(app).await;
    let client = common::client();
    let reply = common::send(&client, addr, "PUT", "/users/42", &[("user-agent", "admin-ui/2")]).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "true"));

    let events = common::events(&store);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["update", "PUT /users/{id}"]);
    let row = &events[0];
    assert_eq!(row.actor, Actor::user("alice"));
    assert_eq!(row.context.request_id.as_deref(), Some(reply.request_id()));
    assert_eq!(row.context.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(row.context.user_agent.as_deref(), Some("admin-ui/2"));
    assert_eq!(row.context.route.as_deref(), Some("/users/{id}"));
    assert_eq!(row.context.method.as_deref(), Some("PUT"));
    assert_eq!(row.context.status, None, "the status is not known while the handler runs");
    assert_eq!(events[1].context.request_id, row.context.request_id);

    // A request the layer does not audit has no scope: the handler's event is anonymous.
    let reply = common::send(&client, addr, "GET", "/open/7", &[]).await;
    assert_eq!(reply.body, "false");
    let events = common::events(&store);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].actor, Actor::anonymous());
    assert_eq!(events[2].context.request_id, None);
}

/// A request served in-process from inside another request's handler (a batch endpoint
/// dispatching its parts to an audited service) is recorded with its own context: the scope
/// current where its events are handed to the auditor is the outer request's, and its gaps
/// (no client IP, no user agent, no matched route) were filled in from it, so the inner
/// event claimed the outer client's address and the route `/batch` beside the action
/// `POST <unmatched>`.
#[tokio::test]
async fn a_request_served_inside_another_ones_handler_keeps_its_own_context() {
    use tower::ServiceExt;

    let (auditor, store) = common::auditor();
    let inner =
        Router::new().route("/jobs", post(|| async { StatusCode::CREATED })).layer(AuditLayer::new(auditor.clone()));
    let outer = Router::new()
        .route(
            "/batch",
            post(move || async move {
                let part = http::Request::post("/nowhere").body(axum::body::Body::empty()).expect("request");
                inner.oneshot(part).await.map(|response| response.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }),
        )
        .layer(AuditLayer::new(auditor.clone()));
    let client = std::net::SocketAddr::from(([198, 51, 100, 4], 50_000));
    let request = http::Request::post("/batch")
        .header("user-agent", "batch-client/1")
        .extension(axum::extract::connect_info::MockConnectInfo(client))
        .body(axum::body::Body::empty())
        .expect("request");
    assert_eq!(outer.oneshot(request).await.expect("infallible").status(), StatusCode::NOT_FOUND);
    auditor.shutdown().await;

    let events = common::events(&store);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["POST <unmatched>", "POST /batch"]);
    let (part, batch) = (&events[0].context, &events[1].context);
    assert_eq!(batch.ip.as_deref(), Some("198.51.100.4"));
    assert_ne!(part.request_id, batch.request_id);
    assert_eq!(
        (part.ip.as_deref(), part.user_agent.as_deref(), part.route.as_deref()),
        (None, None, None),
        "the part's own context, nothing of the batch's: {part:?}"
    );
}
