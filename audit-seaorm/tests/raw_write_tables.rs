//! Raw writes recorded as `bulk` events name the tables written: each table of `TRUNCATE a, b`,
//! the tables a MySQL multi-table `UPDATE` assigns to, the tables (not aliases) a multi-table
//! `DELETE` deletes from.

mod orm_common;

use orm_common::{Backend, Harness, TestDb};
use sea_orm::ConnectionTrait;

async fn harness(backend: Backend, name: &str) -> Option<Harness> {
    let db = TestDb::open(backend, name).await?;
    let h = Harness::new(db).await;
    for table in ["users", "plain_users"] {
        h.conn
            .execute_unprepared(&format!(
                "INSERT INTO {table} (email, name, score, updated_at) VALUES ('a@x','a',0,0), ('b@x','b',0,0)"
            ))
            .await
            .expect("seed rows (unaudited)");
    }
    Some(h)
}

async fn count(h: &Harness, sql: &str) -> i64 {
    let row = h
        .conn
        .query_one_raw(sea_orm::Statement::from_string(h.conn.get_database_backend(), sql.to_string()))
        .await
        .expect("count")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

fn tables(h: &Harness) -> Vec<String> {
    h.events().iter().map(|e| e.resource.kind.clone()).collect()
}

/// `TRUNCATE a, b` empties both tables; the second is named too (once only the first was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_truncate_of_two_tables_names_the_second_too() {
    let Some(h) = harness(Backend::Postgres, "rv_truncate_two").await else { return };
    h.db.execute_unprepared("TRUNCATE plain_users, users").await.expect("truncate");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM users").await, 0, "users emptied");
    let tables = tables(&h);
    assert!(tables.iter().any(|t| t == "users"), "no event names `users`, whose rows were all removed: {tables:?}");
    h.finish().await;
}

/// MySQL/MariaDB multi-table UPDATE: the table written is the one the `SET` names, and the
/// event names it (it once named the first table of the join).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_multi_table_update_names_the_table_written() {
    let Some(h) = harness(Backend::MySql, "rv_multi_update").await else { return };
    h.db.execute_unprepared("UPDATE plain_users p JOIN users u ON u.email = p.email SET u.score = 7")
        .await
        .expect("update");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM users WHERE score = 7").await, 2, "users changed");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM plain_users WHERE score = 7").await, 0, "plain_users did not");
    let tables = tables(&h);
    assert_eq!(tables, ["users"], "the event should name the table written");
    h.finish().await;
}

/// MySQL/MariaDB multi-table DELETE names its targets by alias: the event names the table
/// (it once named the alias).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_delete_by_alias_names_the_table() {
    let Some(h) = harness(Backend::MySql, "rv_delete_alias").await else { return };
    h.db.execute_unprepared("DELETE u FROM users AS u WHERE u.score = 0").await.expect("delete");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM users").await, 0, "users emptied");
    let tables = tables(&h);
    assert_eq!(tables, ["users"], "the event should name the table written");
    h.finish().await;
}

/// `DELETE t1, t2 FROM …` deletes from both; the second is named too (once only the first was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_delete_from_two_tables_names_the_second_too() {
    let Some(h) = harness(Backend::MySql, "rv_delete_two").await else { return };
    h.db.execute_unprepared("DELETE plain_users, users FROM plain_users JOIN users ON users.email = plain_users.email")
        .await
        .expect("delete");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM users").await, 0, "users emptied");
    let tables = tables(&h);
    assert!(tables.iter().any(|t| t == "users"), "no event names `users`, whose rows were all removed: {tables:?}");
    h.finish().await;
}
