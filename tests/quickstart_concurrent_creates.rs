//! The quickstart on each of its databases, many admins creating the same user at once:
//! exactly one `201`, every other answer `409` (never a `500`, even where the two transactions
//! run side by side and one of them meets the other's row only at its INSERT, as on
//! PostgreSQL and MySQL), one row, one `create` diff, and an HTTP event for every request.

mod common;

// The store's tests' namespaces on the real servers (it allows its own unused parts).
#[path = "../audit-seaorm/tests/common/db.rs"]
mod db;

use audit_core::Outcome;
use common::run_on;
use db::{Backend, TestDb};
use http::StatusCode;
use std::sync::Arc;

/// Requests creating each user at once.
const AT_ONCE: usize = 8;
/// Users created that way, one after the other.
const USERS: usize = 6;

async fn same_user_created_at_once(backend: Backend) {
    let Some(testdb) = TestDb::open(backend, "quickstart_creates").await else { return };
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", testdb.namespace),
        _ => testdb.url(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let app = Arc::new(run_on(&url, &[], dir).await);
    let mut statuses = Vec::new();
    for n in 0..USERS {
        let tasks: Vec<_> = (0..AT_ONCE)
            .map(|i| {
                let app = app.clone();
                tokio::spawn(async move {
                    let body = format!(
                        r#"{{"id":"twin{n}","name":"Twin {i}","email":"twin{n}.{i}@example.com","role":"user"}}"#
                    );
                    let reply = app.send_json("POST", "/users", &[("authorization", "Bearer admin")], &body).await;
                    (reply.status, reply.request_id.expect("x-request-id"))
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("a request task"));
        }
        statuses.push(answers);
    }
    let events = app.events().await;
    let report = app.store.verify_chain("default").await.expect("verify");
    app.auditor.shutdown().await;
    testdb.cleanup().await;

    assert!(report.is_valid(), "{report:?}");
    for (n, answers) in statuses.iter().enumerate() {
        let created = answers.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
        let conflicts = answers.iter().filter(|(status, _)| *status == StatusCode::CONFLICT).count();
        assert_eq!((created, conflicts), (1, AT_ONCE - 1), "twin{n}: {answers:?}");
        let diffs: Vec<_> =
            events.iter().filter(|e| e.action == "create" && e.resource.id == format!("twin{n}")).collect();
        assert_eq!(diffs.len(), 1, "twin{n}: one create diff");
        for (status, request_id) in answers {
            let http: Vec<_> = events
                .iter()
                .filter(|e| e.action == "POST /users" && e.context.request_id.as_deref() == Some(request_id.as_str()))
                .collect();
            assert_eq!(http.len(), 1, "twin{n}: one HTTP event for request {request_id}");
            let expected = if *status == StatusCode::CREATED { Outcome::Success } else { Outcome::Failure };
            assert_eq!(http[0].outcome, expected, "twin{n}: request {request_id} answered {status}");
        }
        let winner = answers.iter().find(|(status, _)| *status == StatusCode::CREATED).map(|(_, id)| id);
        assert_eq!(diffs[0].context.request_id.as_ref(), winner, "twin{n}: the diff is the 201's");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_same_user_created_at_once() {
    same_user_created_at_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_same_user_created_at_once() {
    same_user_created_at_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_same_user_created_at_once() {
    same_user_created_at_once(Backend::MySql).await;
}
