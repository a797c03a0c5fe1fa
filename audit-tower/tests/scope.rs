//! The request's audit scope is current inside the handler: events the handler records
//! through the `Auditor` without an actor get the request's actor, request id and context.

mod common;

use audit_core::{Actor, AuditScope, Auditor, EventDraft};
use audit_tower::{AuditHandle, AuditLayer};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, put};
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
