//! PostgreSQL's `relation_expr` also has the form `ONLY ( name )`: `TRUNCATE a, ONLY (b)` and
//! `UPDATE ONLY (b) …` name `b` in their `bulk` events.

mod orm_common;

use audit_seaorm::orm::sql::writes_on;
use orm_common::{Backend, Harness, TestDb};
use sea_orm::{ConnectionTrait, DbBackend};

fn tables(sql: &str) -> Vec<String> {
    writes_on(sql, DbBackend::Postgres).into_iter().map(|w| w.table).collect()
}

#[test]
fn truncate_only_parenthesized_names_the_table() {
    let sql = "TRUNCATE plain_users, ONLY (users)";
    assert!(tables(sql).iter().any(|t| t == "users"), "{sql}: {:?}", tables(sql));
}

#[test]
fn update_only_parenthesized_names_the_table() {
    let sql = "UPDATE ONLY (users) SET score = 1";
    assert_eq!(tables(sql), ["users"], "{sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_truncate_only_parenthesized_event_names_it() {
    let Some(db) = TestDb::open(Backend::Postgres, "rv3_truncate_only_paren").await else { return };
    let h = Harness::new(db).await;
    for table in ["users", "plain_users"] {
        h.conn
            .execute_unprepared(&format!(
                "INSERT INTO {table} (email, name, score, updated_at) VALUES ('a@x','a',0,0), ('b@x','b',0,0)"
            ))
            .await
            .expect("seed");
    }
    h.db.execute_unprepared("TRUNCATE plain_users, ONLY (users)").await.expect("truncate");
    let left = h
        .conn
        .query_one_raw(sea_orm::Statement::from_string(DbBackend::Postgres, "SELECT COUNT(*) FROM users"))
        .await
        .expect("count")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("int");
    assert_eq!(left, 0, "users emptied");
    let kinds: Vec<String> = h.events().iter().map(|e| e.resource.kind.clone()).collect();
    assert!(kinds.iter().any(|t| t == "users"), "no event names `users`, whose rows were all removed: {kinds:?}");
    h.finish().await;
}
