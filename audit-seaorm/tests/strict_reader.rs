//! Row writes hidden from a naive reading of the SQL are still seen on the real servers:
//! PostgreSQL's `EXPLAIN ANALYZE DELETE` runs the DELETE, and MariaDB runs the content of an
//! executable comment `/*! ... */`. Strict mode refuses them before they run (the rows are
//! still there); the default mode records them as `bulk` events.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Statement};
use serde_json::json;

/// Two users, inserted through the hooks.
async fn two_users(h: &Harness) {
    user("a@x").insert(&h.db).await.expect("insert");
    user("b@x").insert(&h.db).await.expect("insert");
    assert_eq!(h.events().len(), 2);
}

async fn user_count(h: &Harness) -> usize {
    users::Entity::find().all(&h.conn).await.expect("read users").len()
}

fn assert_refused(error: &sea_orm::DbErr) {
    let message = error.to_string();
    assert!(message.contains("strict mode"), "{message}");
    assert!(message.contains("DELETE on table `users`"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_refuses_explain_analyze_delete_on_postgres() {
    let Some(testdb) = TestDb::open(Backend::Postgres, "strict_explain_analyze").await else { return };
    let h = Harness::with(testdb, |b| b.strict()).await;
    two_users(&h).await;
    let backend = h.conn.get_database_backend();

    let error = h.db.execute_unprepared("EXPLAIN ANALYZE DELETE FROM users").await.expect_err("refused");
    assert_refused(&error);
    let explain = Statement::from_string(backend, "EXPLAIN (ANALYZE, FORMAT JSON) DELETE FROM users");
    let error = h.db.query_all_raw(explain).await.expect_err("refused");
    assert_refused(&error);

    // Plain EXPLAIN does not run the statement: allowed.
    h.db.execute_unprepared("EXPLAIN DELETE FROM users").await.expect("plain EXPLAIN is a read");

    assert_eq!(user_count(&h).await, 2, "nothing was deleted");
    assert_eq!(h.events().len(), 2);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_analyze_delete_is_recorded_on_postgres() {
    let Some(testdb) = TestDb::open(Backend::Postgres, "record_explain_analyze").await else { return };
    let h = Harness::new(testdb).await;
    two_users(&h).await;

    h.db.execute_unprepared("EXPLAIN ANALYZE DELETE FROM users").await.expect("explain analyze");
    assert_eq!(user_count(&h).await, 0, "PostgreSQL ran the DELETE");
    let events = h.events();
    assert_eq!(events.len(), 3);
    let bulk = &events[2];
    assert_eq!((bulk.action.as_str(), bulk.resource.kind.as_str(), bulk.resource.id.as_str()), ("bulk", "users", ""));
    assert_eq!(bulk.details.get("verb"), Some(&json!("DELETE")));
    assert_eq!(bulk.details.get("statement"), Some(&json!("EXPLAIN ANALYZE DELETE FROM users")));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_refuses_an_executable_comment_delete_on_mysql() {
    let Some(testdb) = TestDb::open(Backend::MySql, "strict_exec_comment").await else { return };
    let h = Harness::with(testdb, |b| b.strict()).await;
    two_users(&h).await;

    for sql in [
        "/*! DELETE FROM users */",
        "/*!50001 DELETE FROM users WHERE score = 0 */",
        "SELECT 1; /*!DELETE FROM users*/",
    ] {
        let error = h.db.execute_unprepared(sql).await.expect_err(sql);
        assert_refused(&error);
    }

    assert_eq!(user_count(&h).await, 2, "nothing was deleted");
    assert_eq!(h.events().len(), 2);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executable_comment_delete_is_recorded_on_mysql() {
    let Some(testdb) = TestDb::open(Backend::MySql, "record_exec_comment").await else { return };
    let h = Harness::new(testdb).await;
    two_users(&h).await;

    h.db.execute_unprepared("/*! DELETE FROM users */").await.expect("executable comment");
    assert_eq!(user_count(&h).await, 0, "the server ran the DELETE");
    let events = h.events();
    assert_eq!(events.len(), 3);
    let bulk = &events[2];
    assert_eq!((bulk.action.as_str(), bulk.resource.kind.as_str(), bulk.resource.id.as_str()), ("bulk", "users", ""));
    assert_eq!(bulk.details.get("verb"), Some(&json!("DELETE")));
    assert_eq!(bulk.details.get("statement"), Some(&json!("DELETE FROM users")));
    assert_eq!(bulk.details.get("rows_affected"), Some(&json!(2)));
    h.finish().await;
}
