//! Two `AuditLayer`s on one request (one on the whole router, another on a nested router, to
//! audit its reads too): the request is recorded once, by the outer layer, with the actor the
//! authentication inside both names and the request id the client gets back; the inner layer
//! records what the outer one does not audit.

mod common;

use audit_core::{Actor, Outcome};
use audit_tower::{AuditHandle, AuditLayer};
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use http::StatusCode;

async fn authenticate(audit: Option<AuditHandle>, request: Request, next: Next) -> Response {
    if let Some(audit) = &audit {
        audit.set_actor(Actor::admin("root").with_auth("bearer"));
    }
    next.run(request).await
}

#[tokio::test]
async fn a_request_audited_by_two_layers_is_recorded_once() {
    let (auditor, store) = common::auditor();
    let admin = Router::new()
        .route("/users/{id}", get(|| async { "user" }).put(|| async { StatusCode::NO_CONTENT }))
        .route_layer(middleware::from_fn(authenticate))
        .layer(AuditLayer::new(auditor.clone()).with_sensitive_routes(["/admin/users/{id}"]));
    let app = Router::new().nest("/admin", admin).layer(AuditLayer::new(auditor));
    let addr = common::serve(app).await;
    let client = common::client();

    // Audited by both: recorded once.
    let put = common::send(&client, addr, "PUT", "/admin/users/1", &[]).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    // A read only the inner layer audits (a sensitive route there): recorded by it.
    let read = common::send(&client, addr, "GET", "/admin/users/2", &[]).await;
    assert_eq!(read.status, StatusCode::OK);

    let events = common::events(&store);
    assert_eq!(events.len(), 2, "{events:#?}");
    let (write, read_event) = (&events[0], &events[1]);
    assert_eq!(write.action, "PUT /admin/users/{id}");
    assert_eq!(write.actor, Actor::admin("root").with_auth("bearer"), "the actor authentication named");
    assert_eq!(write.context.request_id.as_deref(), Some(put.request_id()), "the id the client got back");
    assert!(!write.details.contains_key("client_request_id"), "no id of one layer taken for a client's");
    assert_eq!(write.outcome, Outcome::Success);
    assert_eq!(read_event.action, "GET /admin/users/{id}");
    assert_eq!(read_event.actor, Actor::admin("root").with_auth("bearer"));
    assert_eq!(read_event.context.request_id.as_deref(), Some(read.request_id()));
    assert_eq!(common::verify_chain(&store), 2);
}
