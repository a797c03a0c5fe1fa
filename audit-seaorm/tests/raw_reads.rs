//! A read is no write: on PostgreSQL, `/*! … */` is an ordinary comment (only MySQL and
//! MariaDB run its content), so a read with one is neither recorded as a `bulk` write nor
//! refused in strict mode.

mod orm_common;

use orm_common::{Backend, Harness, TestDb};
use sea_orm::ConnectionTrait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_comment_starting_with_bang_makes_a_read_a_bulk_event() {
    let Some(db) = TestDb::open(Backend::Postgres, "rv_bang_comment").await else { return };
    let h = Harness::new(db).await;
    let sql = "/*! DELETE FROM users (kept for reference) */ SELECT COUNT(*) FROM users";
    h.db.query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql.to_string()))
        .await
        .expect("a read");
    let events = h.events();
    assert!(
        events.is_empty(),
        "a read produced {} event(s): {:?}",
        events.len(),
        events.iter().map(|e| (&e.action, &e.resource.kind, e.details.get("verb"))).collect::<Vec<_>>()
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_comment_starting_with_bang_makes_strict_mode_refuse_a_read() {
    let Some(db) = TestDb::open(Backend::Postgres, "rv_bang_strict").await else { return };
    let h = Harness::with(db, |b| b.strict()).await;
    let sql = "/*! DELETE FROM users (kept for reference) */ SELECT COUNT(*) FROM users";
    let result =
        h.db.query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql.to_string())).await;
    assert!(result.is_ok(), "strict mode refused a read: {:?}", result.err());
    h.finish().await;
}
