//! The quickstart app end to end: a real server on 127.0.0.1, a real HTTP client, the audit
//! trail in a real SQLite file (the quickstart's default kind of database).

mod common;

use audit_core::{ActorKind, Event, Outcome};
use common::run;
use http::StatusCode;
use std::sync::Arc;

const ADMIN: (&str, &str) = ("authorization", "Bearer admin");

#[tokio::test]
async fn a_write_records_the_http_event_and_the_row_diff_with_one_request_id() {
    let app = run(&[]).await;
    let reply = app
        .send_json(
            "POST",
            "/users",
            &[ADMIN],
            r#"{"id":"carol","name":"Carol","email":"carol@example.com","role":"user"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let request_id = reply.request_id.expect("x-request-id");
    let events = app.events_of_request(&request_id).await;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "POST /users"], "the diff is durable at commit, before the response");
    for event in &events {
        assert_eq!((event.actor.id.as_str(), event.actor.kind), ("admin", ActorKind::Admin));
        assert_eq!((event.resource.kind.as_str(), event.resource.id.as_str()), ("users", "carol"));
        assert_eq!(event.context.ip.as_deref(), Some("127.0.0.1"));
    }
    let fields: Vec<&str> = events[0].changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["email", "id", "name", "role"]);
    assert!(events[0].changes.iter().all(|c| c.old.is_none() && c.new.is_some()));

    // The user updates their own email: only that column, old and new.
    let reply = app
        .send_json("PUT", "/users/carol", &[("authorization", "Bearer carol")], r#"{"email":"c@example.org"}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let events = app.events_of_request(&reply.request_id.expect("id")).await;
    assert_eq!(events[0].action, "update");
    assert_eq!(events[0].changes.len(), 1);
    assert_eq!(events[0].changes[0].old, Some(serde_json::json!("carol@example.com")));
    assert_eq!(events[0].changes[0].new, Some(serde_json::json!("c@example.org")));
    assert_eq!(events[0].actor.id, "carol");

    // Deleted by the admin: every column as old.
    let reply = app.send_json("DELETE", "/users/carol", &[ADMIN], "").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let events = app.events_of_request(&reply.request_id.expect("id")).await;
    assert_eq!(events[0].action, "delete");
    assert!(events[0].changes.iter().all(|c| c.new.is_none() && c.old.is_some()));
    app.auditor.shutdown().await;
    let report = app.store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test]
async fn refusals_are_recorded_as_denied_and_change_nothing() {
    let app = run(&[]).await;
    let reply = app.send_json("DELETE", "/users/alice", &[("authorization", "Bearer bob")], "").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let events = app.events_of_request(&reply.request_id.expect("id")).await;
    assert_eq!(events.len(), 1, "no row diff: nothing was deleted");
    assert_eq!((events[0].action.as_str(), events[0].outcome), ("DELETE /users/{id}", Outcome::Denied));
    assert_eq!(events[0].actor.id, "bob");

    let reply = app.send_json("PUT", "/users/alice", &[], r#"{"name":"x"}"#).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let events = app.events_of_request(&reply.request_id.expect("id")).await;
    assert_eq!((events[0].actor.kind, events[0].outcome), (ActorKind::Anonymous, Outcome::Denied));

    let reply = app
        .send_json(
            "POST",
            "/users",
            &[("authorization", "Bearer alice")],
            r#"{"id":"x","name":"x","email":"x","role":"admin"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    app.auditor.shutdown().await;
}

#[tokio::test]
async fn a_failed_login_records_login_failed_and_a_sensitive_read_is_recorded() {
    let app = run(&[]).await;
    let reply = app.send_json("POST", "/login", &[], r#"{"user":"alice","password":"wrong"}"#).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let events = app.events_of_request(&reply.request_id.expect("id")).await;
    let failed = events.iter().find(|e| e.action == "login_failed").expect("login_failed event");
    assert_eq!((failed.actor.id.as_str(), failed.outcome), ("alice", Outcome::Denied));
    assert!(events.iter().any(|e| e.action == "POST /login" && e.outcome == Outcome::Denied));

    let reply = app.send_json("POST", "/login", &[], r#"{"user":"alice","password":"demo"}"#).await;
    assert_eq!(reply.status, StatusCode::OK);

    let reply = app.send_json("GET", "/users/alice", &[("authorization", "Bearer bob")], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    let events = app.events_of_request(&reply.request_id.expect("id")).await;
    assert_eq!((events[0].action.as_str(), events[0].actor.id.as_str()), ("GET /users/{id}", "bob"));

    let reply = app.send_json("GET", "/health", &[], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.request_id.is_none(), "health checks are not audited");
    app.auditor.shutdown().await;
}

#[tokio::test]
async fn forwarded_headers_count_only_from_a_trusted_proxy() {
    let spoofed = ("x-forwarded-for", "6.6.6.6");
    let app = run(&[]).await;
    let reply = app.send_json("PUT", "/users/alice", &[ADMIN, spoofed], r#"{"name":"A"}"#).await;
    let events = app.events_of_request(&reply.request_id.expect("id")).await;
    assert!(events.iter().all(|e| e.context.ip.as_deref() == Some("127.0.0.1")), "spoofed header ignored");
    app.auditor.shutdown().await;

    let app = run(&["127.0.0.1/32"]).await;
    let reply = app
        .send_json("PUT", "/users/alice", &[ADMIN, ("x-forwarded-for", "6.6.6.6, 203.0.113.9")], r#"{"name":"B"}"#)
        .await;
    let events = app.events_of_request(&reply.request_id.expect("id")).await;
    assert!(events.iter().all(|e| e.context.ip.as_deref() == Some("203.0.113.9")), "rightmost untrusted hop");
    app.auditor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_are_each_recorded_exactly_once() {
    let app = Arc::new(run(&[]).await);
    let before = app.events().await.len();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let body = format!(r#"{{"id":"u{i}","name":"U{i}","email":"u{i}@example.com","role":"user"}}"#);
                let reply = app.send_json("POST", "/users", &[ADMIN], &body).await;
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
                reply.request_id.expect("id")
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task"));
    }
    let events = app.events().await;
    assert_eq!(events.len() - before, 80, "one HTTP event and one diff per request");
    for id in ids {
        let mine: Vec<&Event> =
            events.iter().filter(|e| e.context.request_id.as_deref() == Some(id.as_str())).collect();
        assert_eq!(mine.len(), 2, "request {id}");
    }
    let unique: std::collections::HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(unique.len(), events.len());
    app.auditor.shutdown().await;
    let report = app.store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
}
