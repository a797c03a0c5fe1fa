//! The quickstart's rules hold for odd requests: an empty login name is a failed login with
//! its `login_failed` event; who may act is checked before the body or the id in the path is
//! read (a refusal is `denied`); ids and roles are checked on create and update alike.

mod common;

use audit_core::Outcome;
use http::StatusCode;
use serde_json::json;

async fn run() -> common::Running {
    common::run(&[]).await
}

const JSON: (&str, &str) = ("content-type", "application/json");

/// "`POST /login {"user","password"}`: 200, or 401 and a `login_failed` event", also for an
/// empty user name (whose event names an anonymous actor: an actor needs an id).
#[tokio::test]
async fn a_login_with_an_empty_user_name_is_a_401_with_a_login_failed_event() {
    let app = run().await;
    let reply = app.send("POST", "/login", &[JSON], r#"{"user":"","password":"guess"}"#).await;
    let request_id = reply.request_id.clone().expect("x-request-id");
    let events = app.events_of_request(&request_id).await;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "a failed login is a 401: {reply:?}, events {actions:?}");
    assert!(actions.contains(&"login_failed"), "a failed login records login_failed: {actions:?}");
    app.auditor.shutdown().await;
}

/// "POST /users admin only (else 403)", recorded as `denied`, whatever the body (an
/// incomplete or non-JSON body once got a 422/415, a mere `failure`); the same for
/// `PUT /users/{other}`.
#[tokio::test]
async fn a_non_admin_create_is_forbidden_and_denied_whatever_the_body() {
    let app = run().await;
    let bob = ("authorization", "Bearer bob");
    let mut seen = Vec::new();
    for (path, method, headers, body) in [
        ("/users", "POST", vec![bob, JSON], "{}"),
        ("/users", "POST", vec![bob], "not json"),
        ("/users/alice", "PUT", vec![bob], "not json"),
    ] {
        let reply = app.send(method, path, &headers, body).await;
        let events = app.events_of_request(reply.request_id.as_deref().expect("x-request-id")).await;
        seen.push((method, path, body, reply.status, events.last().map(|e| e.outcome)));
    }
    for (method, path, body, status, outcome) in &seen {
        assert_eq!(
            (*status, *outcome),
            (StatusCode::FORBIDDEN, Some(Outcome::Denied)),
            "bob's {method} {path} with body {body:?}: all {seen:?}"
        );
    }
    app.auditor.shutdown().await;
}

/// Every audited request is recorded: an admin's `POST /users` with an id over 64
/// characters is refused (422) and recorded (an id over 1024 bytes once made the request's
/// event invalid: no event at all).
#[tokio::test]
async fn an_admin_create_with_a_long_id_is_still_recorded() {
    let app = run().await;
    let id = "x".repeat(1100);
    let body = format!(r#"{{"id":"{id}","name":"X","email":"x@example.com","role":"user"}}"#);
    let reply = app.send("POST", "/users", &[("authorization", "Bearer admin"), JSON], &body).await;
    let request_id = reply.request_id.clone().expect("x-request-id");
    let events = app.events_of_request(&request_id).await;
    assert!(
        events.iter().any(|e| e.action == "POST /users"),
        "the admin's POST /users is in the trail; got status {} body {:?} and events {:?}",
        reply.status,
        reply.body,
        events.iter().map(|e| &e.action).collect::<Vec<_>>()
    );
    app.auditor.shutdown().await;
}

/// `role` is "`admin` or `user`" on update as on create.
#[tokio::test]
async fn an_update_cannot_set_a_role_create_refuses() {
    let app = run().await;
    let admin = ("authorization", "Bearer admin");
    let created = app
        .send("POST", "/users", &[admin, JSON], r#"{"id":"carol","name":"C","email":"c@example.com","role":"root"}"#)
        .await;
    assert_eq!(created.status, StatusCode::UNPROCESSABLE_ENTITY, "create refuses the role: {created:?}");
    let updated = app.send("PUT", "/users/alice", &[admin, JSON], r#"{"role":"root"}"#).await;
    assert_eq!(updated.status, StatusCode::UNPROCESSABLE_ENTITY, "update should refuse it too: {updated:?}");
    app.auditor.shutdown().await;
}

/// An id is what a bearer token carries: visible ASCII. `josé` or `" carol "` were created
/// (201) and could then never log in (a header cannot carry `é`; `bearer` trims the spaces).
#[tokio::test]
async fn ids_a_bearer_token_cannot_carry_are_refused() {
    let app = run().await;
    let admin = ("authorization", "Bearer admin");
    for id in ["jos\u{e9}", " carol ", "a b"] {
        let body = json!({"id": id, "name": "N", "email": "n@example.com", "role": "user"}).to_string();
        let reply = app.send("POST", "/users", &[admin, JSON], &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{id:?}: {reply:?}");
    }
    let body = json!({"id": "dave", "name": "D", "email": "d@example.com", "role": "user"}).to_string();
    assert_eq!(app.send("POST", "/users", &[admin, JSON], &body).await.status, StatusCode::CREATED);
    assert_eq!(app.send("POST", "/users", &[admin, JSON], &body).await.status, StatusCode::CONFLICT, "a duplicate");
    app.auditor.shutdown().await;
}

/// A login name is checked as sent: one longer than 64 characters is no one's (it was cut to
/// 64 characters first, so the id of 64 and anything after it logged in). A successful admin
/// login is recorded with an admin actor, as the admin's other requests are.
#[tokio::test]
async fn login_checks_the_whole_name_and_records_admins_as_admins() {
    let app = run().await;
    let admin = ("authorization", "Bearer admin");
    let long = "l".repeat(64);
    let body = json!({"id": long, "name": "L", "email": "l@example.com", "role": "user"}).to_string();
    assert_eq!(app.send("POST", "/users", &[admin, JSON], &body).await.status, StatusCode::CREATED);
    let login = |user: String| json!({"user": user, "password": "demo"}).to_string();
    assert_eq!(app.send("POST", "/login", &[JSON], &login(long.clone())).await.status, StatusCode::OK);
    let reply = app.send("POST", "/login", &[JSON], &login(format!("{long}junk"))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");

    let reply = app.send("POST", "/login", &[JSON], &login("admin".into())).await;
    assert_eq!(reply.status, StatusCode::OK);
    let events = app.events_of_request(reply.request_id.as_deref().expect("x-request-id")).await;
    let kinds: Vec<_> = events.iter().map(|e| (e.actor.id.as_str(), e.actor.kind)).collect();
    assert_eq!(kinds, [("admin", audit_core::ActorKind::Admin)]);
    app.auditor.shutdown().await;
}

/// `PUT /users/{id}` takes an object of `name`, `email`, `role` as strings: anything else is
/// a 422 that changes nothing (it was a 200 that changed nothing). A user may not change their
/// own role, whatever they send for it.
#[tokio::test]
async fn an_update_refuses_what_it_cannot_apply() {
    let app = run().await;
    let alice = ("authorization", "Bearer alice");
    for body in [r#"{"name":42}"#, r#"{"email":null}"#, r#"{"id":"x"}"#, "[]", r#""str""#] {
        let reply = app.send("PUT", "/users/alice", &[alice, JSON], body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {reply:?}");
    }
    for body in [r#"{"role":"admin"}"#, r#"{"role":"user"}"#] {
        let reply = app.send("PUT", "/users/alice", &[alice, JSON], body).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{body}: {reply:?}");
    }
    let reply = app.send("PUT", "/users/alice", &[alice, JSON], r#"{"name":"Alice B"}"#).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    app.auditor.shutdown().await;
}

/// A failed login on a privileged account is what PCI DSS and SOC 2 ask about: the
/// `login_failed` event of a wrong password for `admin` is tagged `privileged`, so `report
/// privileged --action login_failed` (the README's recipe) finds it; one for `alice` is not.
#[tokio::test]
async fn a_failed_login_on_a_privileged_account_is_in_the_privileged_report() {
    let app = run().await;
    for user in ["admin", "alice"] {
        let body = json!({"user": user, "password": "wrong"}).to_string();
        assert_eq!(app.send("POST", "/login", &[JSON], &body).await.status, StatusCode::UNAUTHORIZED);
    }
    app.auditor.shutdown().await;
    let filter = audit_seaorm::ReportFilter::new().action("login_failed");
    let page = app.store.privileged_actions(&filter).await.expect("report");
    let found: Vec<(&str, &str)> =
        page.events.iter().map(|e| (e.event.action.as_str(), e.event.resource.id.as_str())).collect();
    assert_eq!(found, [("login_failed", "admin")]);
}

/// Methods a `/users` route does not have get the 405 that axum gives them, and
/// without a bearer token the 401 of "every `/users` route": the authentication layer runs for
/// them too, and once required an audit handle those unaudited requests have not (500). The
/// layer records none of them (GET of a route not marked sensitive, OPTIONS, TRACE).
#[tokio::test]
async fn methods_a_route_does_not_have_are_405_or_401_and_not_recorded() {
    let app = run().await;
    let bob = ("authorization", "Bearer bob");
    let before = app.events().await.len();
    let mut seen = Vec::new();
    for (method, path, headers, expected) in [
        ("GET", "/users", vec![bob], StatusCode::METHOD_NOT_ALLOWED),
        ("HEAD", "/users", vec![bob], StatusCode::METHOD_NOT_ALLOWED),
        ("OPTIONS", "/users/alice", vec![bob], StatusCode::METHOD_NOT_ALLOWED),
        ("TRACE", "/users", vec![bob], StatusCode::METHOD_NOT_ALLOWED),
        ("GET", "/users", vec![], StatusCode::UNAUTHORIZED),
        ("OPTIONS", "/users/alice", vec![], StatusCode::UNAUTHORIZED),
    ] {
        let reply = app.send(method, path, &headers, "").await;
        seen.push((method, path, headers.len(), reply.status, expected, reply.body));
    }
    for (method, path, token, status, expected, body) in &seen {
        assert_eq!(status, expected, "{method} {path} with {token} token(s): {body:?}; all {seen:?}");
    }
    assert_eq!(app.events().await.len(), before, "none of these requests is audited");
    app.auditor.shutdown().await;
}

/// "`Authorization: Bearer <user id>`": the scheme is case-insensitive (RFC 9110 §11.1), so
/// `bearer alice` is alice (it was a 401 recorded as "no bearer token"). A token sent that no
/// user id can be (over 64 characters) is an unknown one, not a missing one.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_a_sent_token_is_never_missing() {
    let app = run().await;
    let mut seen = Vec::new();
    for header in ["Bearer alice", "bearer alice", "BEARER alice", "Bearer  alice "] {
        let reply = app.send("GET", "/users/alice", &[("authorization", header)], "").await;
        let events = app.events_of_request(reply.request_id.as_deref().expect("x-request-id")).await;
        seen.push((header, reply.status, events.first().map(|e| e.actor.id.clone())));
    }
    for (header, status, actor) in &seen {
        assert_eq!((*status, actor.as_deref()), (StatusCode::OK, Some("alice")), "{header:?}: all {seen:?}");
    }
    let long = format!("Bearer {}", "x".repeat(65));
    for (header, reason) in [(long.as_str(), "unknown bearer token"), ("Basic YWxpY2U6ZGVtbw==", "no bearer token")] {
        let reply = app.send("GET", "/users/alice", &[("authorization", header)], "").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{header:?}: {reply:?}");
        let events = app.events_of_request(reply.request_id.as_deref().expect("x-request-id")).await;
        assert_eq!(events.first().and_then(|e| e.reason.as_deref()), Some(reason), "{header:?}");
    }
    app.auditor.shutdown().await;
}

/// "`PUT /users/{id}` admin or the user themself (else 403); `DELETE /users/{id}` admin only":
/// who may act is checked before the id in the path is read, as `POST /users` checks it before
/// the body. An id that is not UTF-8 once percent-decoded (`/users/%FF`) can be no one, so a
/// non-admin's attempt on it is a `403`, recorded as `denied` (axum's `Path` rejected it first
/// with a `400`, a mere `failure`, so the refused attempt was missing from the denied ones).
#[tokio::test]
async fn a_non_admin_write_to_an_id_that_is_not_utf8_is_forbidden_and_denied() {
    let app = run().await;
    let mut seen = Vec::new();
    for (method, user, body) in [("DELETE", "bob", ""), ("PUT", "alice", r#"{"name":"X"}"#)] {
        let token = format!("Bearer {user}");
        let reply = app.send(method, "/users/%FF", &[("authorization", &token), JSON], body).await;
        let events = app.events_of_request(reply.request_id.as_deref().expect("x-request-id")).await;
        seen.push((method, user, reply.status, events.last().map(|e| e.outcome)));
    }
    for (method, user, status, outcome) in &seen {
        assert_eq!(
            (*status, *outcome),
            (StatusCode::FORBIDDEN, Some(Outcome::Denied)),
            "{user}'s {method} /users/%FF: all {seen:?}"
        );
    }
    // An admin may act on any id: theirs is refused for the path itself, not forbidden.
    let reply = app.send("DELETE", "/users/%FF", &[("authorization", "Bearer admin")], "").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    app.auditor.shutdown().await;
}

/// A bearer token that is not visible ASCII (`Bearer josé`, sent as the UTF-8 bytes a client
/// writes) was sent: it is an unknown token, recorded as `unknown bearer token`, not as a
/// missing one (`to_str` failed on it, and the refusal read `no bearer token`).
#[tokio::test]
async fn a_bearer_token_that_is_not_ascii_is_unknown_not_missing() {
    let app = run().await;
    let mut seen = Vec::new();
    for header in ["Bearer jos\u{e9}", "Bearer \u{1f600}"] {
        let reply = app.send("GET", "/users/alice", &[("authorization", header)], "").await;
        let events = app.events_of_request(reply.request_id.as_deref().expect("x-request-id")).await;
        seen.push((header, reply.status, events.first().and_then(|e| e.reason.clone())));
    }
    for (header, status, reason) in &seen {
        assert_eq!(
            (*status, reason.as_deref()),
            (StatusCode::UNAUTHORIZED, Some("unknown bearer token")),
            "{header:?}: all {seen:?}"
        );
    }
    app.auditor.shutdown().await;
}
