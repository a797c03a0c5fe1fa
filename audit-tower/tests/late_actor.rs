//! The actor is named late: by authentication inside the layer, by the handler, or derived
//! from the request when authentication runs outside.

mod common;

use audit_core::{Actor, EventDraft, Outcome};
use audit_tower::{AuditHandle, AuditLayer};
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use http::StatusCode;

/// Bearer-token authentication, inside the audit layer.
async fn authenticate(audit: Option<AuditHandle>, request: Request, next: Next) -> Result<Response, StatusCode> {
    let token =
        request.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let actor = match token {
        Some("alice-token") => Actor::user("alice").with_auth("bearer"),
        Some("root-token") => Actor::admin("root").with_auth("bearer"),
        Some(_) => {
            if let Some(audit) = &audit {
                audit.set_reason("invalid token");
            }
            return Err(StatusCode::FORBIDDEN);
        }
        None => return Err(StatusCode::UNAUTHORIZED),
    };
    if let Some(audit) = &audit {
        audit.set_actor(actor);
    }
    Ok(next.run(request).await)
}

#[tokio::test]
async fn authentication_inside_the_layer_names_the_actor() {
    let (auditor, store) = common::auditor();
    let app = Router::new()
        .route(
            "/documents/{id}",
            // The handler sees the actor authentication named.
            post(|audit: AuditHandle| async move { audit.actor().map(|a| a.id).unwrap_or_default() }),
        )
        .route_layer(middleware::from_fn(authenticate))
        .layer(AuditLayer::new(auditor));
    let addr = common::serve(app).await;
    let client = common::client();

    let ok = common::send(&client, addr, "POST", "/documents/1", &[("authorization", "Bearer alice-token")]).await;
    assert_eq!((ok.status, ok.body.as_str()), (StatusCode::OK, "alice"));
    let missing = common::send(&client, addr, "POST", "/documents/2", &[]).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    let forged = common::send(&client, addr, "POST", "/documents/3", &[("authorization", "Bearer forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let events = common::events(&store);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].actor, Actor::user("alice").with_auth("bearer"));
    assert_eq!(events[0].outcome, Outcome::Success);
    assert_eq!(events[1].actor, Actor::anonymous());
    assert_eq!((events[1].outcome, events[1].reason.as_deref()), (Outcome::Denied, Some("Unauthorized")));
    assert_eq!(events[2].actor, Actor::anonymous());
    assert_eq!((events[2].outcome, events[2].reason.as_deref()), (Outcome::Denied, Some("invalid token")));
}

#[tokio::test]
async fn a_failed_login_is_recorded_as_its_own_event() {
    let (auditor, store) = common::auditor();
    let app = Router::new()
        .route(
            "/login",
            post(|audit: AuditHandle, body: String| async move {
                let (user, password) = body.split_once(':').unwrap_or((&body, ""));
                if password != "correct horse" {
                    audit.add_event(
                        EventDraft::new("login_failed")
                            .actor(Actor::user(user))
                            .outcome(Outcome::Denied)
                            .tag("security"),
                    );
                    return StatusCode::UNAUTHORIZED;
                }
                audit.set_actor(Actor::user(user).with_auth("password"));
                StatusCode::NO_CONTENT
            }),
        )
        .layer(AuditLayer::new(auditor));
    let addr = common::serve(app).await;
    let client = common::client();
    for body in ["bob:guess", "bob:correct horse"] {
        let request = http::Request::post(format!("http://{addr}/login"))
            .body(http_body_util::Full::new(axum::body::Bytes::from(body)))
            .expect("request");
        client.request(request).await.expect("response");
    }
    let events = common::events(&store);
    let summary: Vec<(&str, &str, Outcome)> =
        events.iter().map(|e| (e.action.as_str(), e.actor.id.as_str(), e.outcome)).collect();
    assert_eq!(
        summary,
        [
            ("login_failed", "bob", Outcome::Denied),
            ("POST /login", "anonymous", Outcome::Denied),
            ("POST /login", "bob", Outcome::Success),
        ]
    );
    assert_eq!(events[0].tags, ["security"]);
    assert_eq!(events[0].context.request_id, events[1].context.request_id, "one request, one id");
    assert_eq!(events[0].context.status, Some(401));
    assert_eq!(events[2].actor.auth.as_deref(), Some("password"));
}

/// Set by authentication that runs outside the audit layer.
#[derive(Clone)]
struct CurrentUser(String);

#[tokio::test]
async fn authentication_outside_the_layer_is_read_by_on_actor() {
    let (auditor, store) = common::auditor();
    let layer =
        AuditLayer::new(auditor).on_actor(|parts| parts.extensions.get::<CurrentUser>().map(|u| Actor::user(&u.0)));
    let app = Router::new()
        .route("/notes", post(|| async { StatusCode::CREATED }))
        .route("/sudo", post(|audit: AuditHandle| async move { audit.set_actor(Actor::admin("erin")) }))
        .layer(layer)
        // Outside the audit layer: runs first.
        .layer(middleware::from_fn(|mut request: Request, next: Next| async move {
            let user = request.headers().get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned);
            if let Some(user) = user {
                request.extensions_mut().insert(CurrentUser(user));
            }
            next.run(request).await
        }));
    let addr = common::serve(app).await;
    let client = common::client();
    common::send(&client, addr, "POST", "/notes", &[("x-user", "erin")]).await;
    common::send(&client, addr, "POST", "/notes", &[]).await;
    common::send(&client, addr, "POST", "/sudo", &[("x-user", "erin")]).await;
    let actors: Vec<Actor> = common::events(&store).into_iter().map(|e| e.actor).collect();
    assert_eq!(actors, [Actor::user("erin"), Actor::anonymous(), Actor::admin("erin")]);
}

/// An actor taken from the request as it came (`on_actor` reading a header, a login form's
/// user name) may be empty or longer than an event's actor id may be: the request is still
/// recorded, with the empty actor as `anonymous` and the long one cut and marked with a hash of
/// its whole value (the auditor refused such an event, and the request left no trace: a forged
/// 2 KB API key hid even the `401`).
#[tokio::test]
async fn an_empty_or_huge_actor_from_the_request_is_fitted_and_recorded() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor).on_actor(|parts| {
        parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(|key| Actor::service(key).with_auth(key))
    });
    let app = Router::new()
        .route("/keys", post(|| async { StatusCode::UNAUTHORIZED }))
        .route(
            "/login",
            post(|audit: AuditHandle, user: String| async move {
                audit.add_event(EventDraft::new("login_failed").actor(Actor::user(&user)).resource("users", &user));
                StatusCode::UNAUTHORIZED
            }),
        )
        .layer(layer);
    let addr = common::serve(app).await;
    let client = common::client();
    let huge = "k".repeat(2000);
    let refused = common::send(&client, addr, "POST", "/keys", &[("x-api-key", &huge)]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "the handler's answer, not a 500 for a lost event");
    let empty = common::send(&client, addr, "POST", "/keys", &[("x-api-key", "")]).await;
    assert_eq!(empty.status, StatusCode::UNAUTHORIZED);
    let request = http::Request::post(format!("http://{addr}/login"))
        .body(http_body_util::Full::new(axum::body::Bytes::from("u".repeat(3000))))
        .expect("request");
    assert_eq!(client.request(request).await.expect("response").status(), StatusCode::UNAUTHORIZED);

    let events = common::events(&store);
    let max = audit_core::event::MAX_INDEXED_FIELD_BYTES;
    let summary: Vec<(&str, Outcome)> = events.iter().map(|e| (e.action.as_str(), e.outcome)).collect();
    assert_eq!(
        summary,
        [
            ("POST /keys", Outcome::Denied),
            ("POST /keys", Outcome::Denied),
            ("login_failed", Outcome::Success),
            ("POST /login", Outcome::Denied),
        ]
    );
    let cut = &events[0].actor;
    assert!(cut.id.starts_with("kkkk") && cut.id.len() <= max && cut.id.contains('\u{2026}'), "{}", cut.id);
    assert_eq!(cut.auth.as_deref(), Some(cut.id.as_str()), "auth cut the same way");
    assert_eq!(events[1].actor, Actor::anonymous().with_auth(""), "an empty id names no one");
    let login = &events[2];
    assert!(login.actor.id.starts_with("uuuu") && login.actor.id.len() <= max, "{}", login.actor.id);
    assert_eq!(login.resource.id, login.actor.id, "the resource id cut the same way");
    assert_ne!(cut.id, login.actor.id);
    assert_eq!(common::verify_chain(&store), 4);
}
