//! What the event's context says of the request, whatever the client sends: the user agent
//! and the raw path are bounded (`MAX_USER_AGENT_LEN`, `MAX_PATH_LEN`) and cleaned, over real
//! TCP; the duration covers the handler.

mod common;

use audit_tower::{AuditLayer, MAX_PATH_LEN, MAX_USER_AGENT_LEN};
use axum::Router;
use axum::routing::post;
use http::StatusCode;
use std::time::Duration;

fn app(auditor: audit_core::Auditor) -> Router {
    Router::new()
        .route("/users/{id}", post(|| async { StatusCode::CREATED }))
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_millis(40)).await;
                StatusCode::OK
            }),
        )
        .layer(AuditLayer::new(auditor))
}

/// A user agent of 4 KiB with control and hidden characters in it is recorded cut to
/// `MAX_USER_AGENT_LEN` bytes, without them; the request is recorded as any other.
#[tokio::test]
async fn a_huge_user_agent_is_cut_and_cleaned() {
    let (auditor, store) = common::auditor();
    let addr = common::serve(app(auditor)).await;
    let client = common::client();
    let agent = format!("bot/1\t{}", "\u{202e}a\u{200b}b".repeat(1024));
    let reply = common::send(&client, addr, "POST", "/users/1", &[("user-agent", &agent)]).await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let events = common::events(&store);
    assert_eq!(events.len(), 1);
    let recorded = events[0].context.user_agent.as_deref().expect("a user agent");
    assert_eq!(recorded.len(), MAX_USER_AGENT_LEN);
    assert_eq!(recorded, &format!("bot/1{}", "ab".repeat(1024))[..MAX_USER_AGENT_LEN]);
    assert_eq!(common::verify_chain(&store), 1);
}

/// A path of 6 KiB is recorded cut to `MAX_PATH_LEN` bytes (without the query); the event's
/// route and resource are those of the matched route.
#[tokio::test]
async fn a_huge_path_is_cut() {
    let (auditor, store) = common::auditor();
    let addr = common::serve(app(auditor)).await;
    let client = common::client();
    let id = "7".repeat(6 * 1024);
    let reply = common::send(&client, addr, "POST", &format!("/users/{id}?q=1"), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let events = common::events(&store);
    assert_eq!(events.len(), 1);
    let path = events[0].context.path.as_deref().expect("a path");
    assert_eq!(path.len(), MAX_PATH_LEN);
    assert_eq!(path, &format!("/users/{id}")[..MAX_PATH_LEN]);
    assert_eq!(events[0].action, "POST /users/{id}");
    assert_eq!(events[0].context.route.as_deref(), Some("/users/{id}"));
    assert!(events[0].resource.id.len() < id.len(), "the resource id is bounded too: {}", events[0].resource.id);
    assert_eq!(common::verify_chain(&store), 1);
}

/// `duration_us` runs from the layer's call to the response head: at least the time the
/// handler slept (a lower bound only: no assertion on how long a machine takes).
#[tokio::test]
async fn the_duration_covers_the_handler() {
    let (auditor, store) = common::auditor();
    let addr = common::serve(app(auditor)).await;
    let client = common::client();
    let reply = common::send(&client, addr, "POST", "/slow", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let events = common::events(&store);
    assert_eq!(events.len(), 1);
    let duration = events[0].context.duration_us.expect("a duration");
    assert!(duration >= 40_000, "the handler slept 40 ms; recorded {duration} µs");
}
