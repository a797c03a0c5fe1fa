//! Writes that bypass the hooks through the audited connection do not pass silently: raw SQL
//! and SeaORM's bulk statements record a `bulk` event (table, statement without values, rows
//! affected), buffered with their transaction; in strict mode they are refused before they
//! run. Statements that run code (`CALL`, `DO`, `EXECUTE` of a prepared statement) may write
//! any table: they are recorded (or refused) the same way, with an empty table.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set, Statement, TransactionTrait};
use serde_json::json;

async fn raw_writes_record_bulk_events(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let backend = h.conn.get_database_backend();
    user("a@x").insert(&h.db).await.expect("insert");
    user("b@x").insert(&h.db).await.expect("insert");
    assert_eq!(h.events().len(), 2);

    // Raw UPDATE, autocommit.
    h.db.execute_unprepared("UPDATE users SET score = 5 WHERE email LIKE '%@x'").await.expect("raw update");
    let events = h.events();
    assert_eq!(events.len(), 3);
    let bulk = &events[2];
    assert_eq!((bulk.action.as_str(), bulk.resource.kind.as_str(), bulk.resource.id.as_str()), ("bulk", "users", ""));
    assert_eq!(bulk.details.get("verb"), Some(&json!("UPDATE")));
    assert_eq!(bulk.details.get("statement"), Some(&json!("UPDATE users SET score = ? WHERE email LIKE ?")));
    assert_eq!(bulk.details.get("rows_affected"), Some(&json!(2)));

    // Raw DELETE with parameters in a transaction: buffered, dropped on rollback.
    let placeholder = if backend == sea_orm::DbBackend::Postgres { "$1" } else { "?" };
    let delete = Statement::from_sql_and_values(
        backend,
        format!("DELETE FROM users WHERE email = {placeholder}"),
        ["a@x".into()],
    );
    let txn = h.db.begin().await.expect("begin");
    txn.execute_raw(delete.clone()).await.expect("raw delete");
    txn.rollback().await.expect("rollback");
    assert_eq!(h.events().len(), 3);
    let txn = h.db.begin().await.expect("begin");
    txn.execute_raw(delete).await.expect("raw delete");
    txn.commit().await.expect("commit");
    let events = h.events();
    assert_eq!(events.len(), 4);
    assert_eq!(events[3].details.get("verb"), Some(&json!("DELETE")));
    assert_eq!(events[3].details.get("rows_affected"), Some(&json!(1)));

    // SeaORM bulk statements run no hooks: recorded as bulk too.
    users::Entity::insert_many([user("c@x"), user("d@x")]).exec(&h.db).await.expect("insert_many");
    users::Entity::delete_many().exec(&h.db).await.expect("delete_many");
    let events = h.events();
    assert_eq!(events.len(), 6);
    assert_eq!(events[4].details.get("verb"), Some(&json!("INSERT")));
    assert_eq!(events[5].details.get("verb"), Some(&json!("DELETE")));
    assert_eq!(events[5].details.get("rows_affected"), Some(&json!(3)));
    h.finish().await;
}
on_all_backends!(raw_writes_record_bulk_events);

/// Two statements of one call that write the same table are two `bulk` events, each showing
/// its own statement: one event for both showed only the first (hiding what the second set).
async fn two_statements_on_one_table_are_two_events(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    user("a@x").insert(&h.db).await.expect("insert");
    user("b@x").insert(&h.db).await.expect("insert");
    h.db.execute_unprepared(
        "UPDATE users SET score = 1 WHERE email = 'a@x'; UPDATE users SET name = 'z' WHERE email = 'b@x'",
    )
    .await
    .expect("two updates");
    let stored: Vec<(String, i32, String)> = users::Entity::find()
        .all(&h.conn)
        .await
        .expect("read")
        .into_iter()
        .map(|u| (u.email, u.score, u.name))
        .collect();
    assert!(stored.iter().any(|(e, score, _)| e == "a@x" && *score == 1), "{stored:?}");
    assert!(stored.iter().any(|(e, _, name)| e == "b@x" && name == "z"), "{stored:?}");
    let events = h.events();
    let bulk: Vec<_> = events.iter().filter(|e| e.action == "bulk").collect();
    let statements: Vec<_> = bulk.iter().map(|e| e.details.get("statement").cloned()).collect();
    assert_eq!(
        statements,
        [
            Some(json!("UPDATE users SET score = ? WHERE email = ?")),
            Some(json!("UPDATE users SET name = ? WHERE email = ?"))
        ]
    );
    for event in bulk {
        assert_eq!(event.resource.kind, "users");
        assert!(event.details.get("rows_affected").is_none(), "one count for both: {event:?}");
        assert!(event.details.contains_key("rows_affected_by_batch"), "{event:?}");
    }
    h.finish().await;
}
on_all_backends!(two_statements_on_one_table_are_two_events);

/// A call of several statements that fails after a write in it ran: MySQL and SQLite run the
/// statements one by one, so the write stands (in autocommit, committed) though the call
/// returns an error. It is recorded as a `failure` that says the write may have run; with
/// rows that may or may not have changed, the event is there either way. PostgreSQL runs the
/// call as one transaction: nothing stands, nothing is recorded.
async fn a_call_that_fails_after_a_write_still_records_it(testdb: TestDb) {
    let postgres = testdb.backend == orm_common::Backend::Postgres;
    let h = Harness::new(testdb).await;
    for email in ["a@x", "b@x", "c@x"] {
        user(email).insert(&h.db).await.expect("insert");
    }
    let created = h.events().len();
    let emails = |conn: sea_orm::DatabaseConnection| async move {
        let mut emails: Vec<String> =
            users::Entity::find().all(&conn).await.expect("read").into_iter().map(|u| u.email).collect();
        emails.sort();
        emails
    };

    // A single failing statement wrote nothing: nothing to record.
    h.db.execute_unprepared("DELETE FROM no_such_table").await.expect_err("no such table");
    assert_eq!(h.events().len(), created);

    // Autocommit.
    h.db.execute_unprepared("DELETE FROM users WHERE email = 'a@x'; SELECT * FROM no_such_table")
        .await
        .expect_err("the second statement fails");
    // In a transaction that goes on and commits (not on PostgreSQL: the failure aborted it).
    if !postgres {
        let txn = h.db.begin().await.expect("begin");
        txn.execute_unprepared("UPDATE users SET score = 7 WHERE email = 'b@x'; SELECT * FROM no_such_table")
            .await
            .expect_err("the second statement fails");
        txn.commit().await.expect("commit");
        // And one rolled back: its event goes with it.
        let txn = h.db.begin().await.expect("begin");
        txn.execute_unprepared("DELETE FROM users WHERE email = 'c@x'; SELECT * FROM no_such_table")
            .await
            .expect_err("the second statement fails");
        txn.rollback().await.expect("rollback");
    }

    let left = emails(h.conn.clone()).await;
    let scores: Vec<i32> =
        users::Entity::find().all(&h.conn).await.expect("read").into_iter().map(|u| u.score).collect();
    let events = h.events();
    let failed: Vec<_> = events[created..].iter().collect();
    if postgres {
        assert_eq!(left, ["a@x", "b@x", "c@x"], "PostgreSQL ran the call as one transaction");
        assert!(failed.is_empty(), "{failed:?}");
    } else {
        assert_eq!(left, ["b@x", "c@x"], "the DELETE before the failing statement stands");
        assert!(scores.contains(&7), "the committed UPDATE stands: {scores:?}");
        let verbs: Vec<_> = failed.iter().map(|e| e.details.get("verb").cloned()).collect();
        assert_eq!(verbs, [Some(json!("DELETE")), Some(json!("UPDATE"))], "{failed:?}");
        for event in failed {
            assert_eq!((event.action.as_str(), event.resource.kind.as_str()), ("bulk", "users"));
            assert_eq!(event.outcome, audit_core::Outcome::Failure);
            let reason = event.reason.as_deref().unwrap_or_default();
            assert!(reason.contains("may have run"), "{reason}");
            assert!(!event.details.contains_key("rows_affected"), "no count is known: {event:?}");
        }
    }
    h.finish().await;
}
on_all_backends!(a_call_that_fails_after_a_write_still_records_it);

async fn strict_mode_refuses_unaudited_writes(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.strict()).await;
    let row = user("a@x").insert(&h.db).await.expect("hooked insert is fine in strict mode");

    let error = h.db.execute_unprepared("UPDATE users SET score = 5").await.expect_err("refused");
    assert!(error.to_string().contains("strict mode"), "{error}");
    let error = users::Entity::update_many()
        .col_expr(users::Column::Score, sea_orm::sea_query::Expr::value(6))
        .exec(&h.db)
        .await
        .expect_err("update_many refused");
    assert!(error.to_string().contains("table `users`"), "{error}");
    let txn = h.db.begin().await.expect("begin");
    txn.execute_unprepared("DELETE FROM users").await.expect_err("refused in a transaction too");
    txn.rollback().await.expect("rollback");

    let stored = users::Entity::find_by_id(row.id).one(&h.conn).await.expect("read").expect("row");
    assert_eq!(stored.score, 0, "nothing was written");

    let mut am = stored.into_active_model();
    am.score = Set(1);
    am.update(&h.db).await.expect("hooked update is fine in strict mode");
    let events = h.events();
    assert_eq!(events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["create", "update"]);
    h.finish().await;
}
on_all_backends!(strict_mode_refuses_unaudited_writes);

/// A `CALL` (PostgreSQL, MariaDB), a `DO` block and an `EXECUTE` of a prepared statement
/// (PostgreSQL), a `BEGIN NOT ATOMIC` block (MariaDB) that write rows: each recorded as a `bulk`
/// event naming what ran. (SQLite has none of these statements.)
async fn code_that_writes_is_recorded(testdb: TestDb) {
    let postgres = testdb.backend == orm_common::Backend::Postgres;
    let h = Harness::new(testdb).await;
    user("a@x").insert(&h.db).await.expect("insert");
    let procedure = if postgres {
        "CREATE PROCEDURE bump_scores(n INT) LANGUAGE SQL AS $$ UPDATE users SET score = score + n $$"
    } else {
        "CREATE PROCEDURE bump_scores(n INT) UPDATE users SET score = score + n"
    };
    h.conn.execute_unprepared(procedure).await.expect("create the procedure (unaudited connection)");

    h.db.execute_unprepared("CALL bump_scores(2)").await.expect("call");
    let mut statements = vec![("CALL", "CALL bump_scores (?)")];
    if !postgres {
        // MariaDB runs compound statements outside a stored program too.
        h.db.execute_unprepared("BEGIN NOT ATOMIC UPDATE users SET score = score + 1; END").await.expect("block");
        statements.push(("DO", "BEGIN NOT ATOMIC UPDATE users SET score = score + ?"));
    }
    if postgres {
        h.db.execute_unprepared("DO $$BEGIN UPDATE users SET score = score + 1; END$$").await.expect("do");
        // A prepared statement lives on its connection: one transaction keeps it.
        let txn = h.db.begin().await.expect("begin");
        txn.execute_unprepared("PREPARE bump AS UPDATE users SET score = score + 1").await.expect("prepare");
        txn.execute_unprepared("EXECUTE bump").await.expect("execute");
        txn.commit().await.expect("commit");
        statements.extend([("DO", "DO ?"), ("EXECUTE", "EXECUTE bump")]);
    }
    let stored = users::Entity::find().one(&h.conn).await.expect("read").expect("row");
    assert_eq!(stored.score, if postgres { 4 } else { 3 }, "the code did write");
    let events = h.events();
    assert_eq!(events.len(), 1 + statements.len(), "the insert, then one event per statement that ran code");
    for (event, (verb, statement)) in events[1..].iter().zip(statements) {
        assert_eq!((event.action.as_str(), event.resource.kind.as_str()), ("bulk", ""), "{event:?}");
        assert_eq!(event.details.get("verb"), Some(&json!(verb)));
        assert_eq!(event.details.get("statement"), Some(&json!(statement)));
    }
    h.finish().await;
}
mod code_that_writes_is_recorded {
    use super::orm_common::{Backend, TestDb};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(db) = TestDb::open(Backend::Postgres, "code_that_writes_is_recorded").await {
            super::code_that_writes_is_recorded(db).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        if let Some(db) = TestDb::open(Backend::MySql, "code_that_writes_is_recorded").await {
            super::code_that_writes_is_recorded(db).await;
        }
    }
}

async fn strict_mode_refuses_code_that_may_write(testdb: TestDb) {
    let postgres = testdb.backend == orm_common::Backend::Postgres;
    let h = Harness::with(testdb, |b| b.strict()).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let mut refused = vec!["CALL bump_scores(2)"];
    if postgres {
        refused.extend(["DO $$BEGIN UPDATE users SET score = 9; END$$", "EXECUTE bump"]);
    } else {
        refused.push("BEGIN NOT ATOMIC UPDATE users SET score = 9; END");
    }
    for sql in refused {
        let error = h.db.execute_unprepared(sql).await.expect_err("refused before it runs");
        assert!(error.to_string().contains("runs code whose writes the audit hooks cannot see"), "{sql}: {error}");
    }
    let stored = users::Entity::find_by_id(row.id).one(&h.conn).await.expect("read").expect("row");
    assert_eq!(stored.score, 0, "nothing ran");
    assert_eq!(h.events().len(), 1);
    h.finish().await;
}
on_all_backends!(strict_mode_refuses_code_that_may_write);

/// PostgreSQL folds unquoted names to lower case: `UPDATE Users …` writes table `users`, and
/// its `bulk` event names `users`, the resource type of the table's row events, so that a
/// question about that table finds it (it named `Users`).
async fn postgresql_names_the_table_a_capitalized_name_writes(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    user("a@x").insert(&h.db).await.expect("insert");
    h.db.execute_unprepared("UPDATE Users SET score = 5 WHERE email = 'a@x'").await.expect("raw update");
    let events = h.events();
    let bulk: Vec<(&str, &str)> = events[1..].iter().map(|e| (e.action.as_str(), e.resource.kind.as_str())).collect();
    assert_eq!(bulk, [("bulk", "users")], "{events:?}");
    assert_eq!(events[1].details.get("statement"), Some(&json!("UPDATE Users SET score = ? WHERE email = ?")));
    h.finish().await;
}
mod postgresql_names_the_table_a_capitalized_name_writes {
    use super::orm_common::{Backend, TestDb};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(db) = TestDb::open(Backend::Postgres, "capitalized_table_name").await {
            super::postgresql_names_the_table_a_capitalized_name_writes(db).await;
        }
    }
}

/// MariaDB's `DELETE HISTORY FROM t` deletes the history rows of a system-versioned table:
/// its `bulk` event names `t` (it named a table `HISTORY`, which no question about `t` finds).
async fn mariadb_delete_history_names_its_table(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    h.conn
        .execute_unprepared("CREATE TABLE versioned (id INT PRIMARY KEY, a INT) WITH SYSTEM VERSIONING")
        .await
        .expect("a system-versioned table (MariaDB)");
    h.conn.execute_unprepared("INSERT INTO versioned VALUES (1, 1)").await.expect("insert");
    h.conn.execute_unprepared("UPDATE versioned SET a = 2").await.expect("update, keeping a history row");
    let deleted = h.db.execute_unprepared("DELETE HISTORY FROM versioned").await.expect("delete history");
    assert_eq!(deleted.rows_affected(), 1, "the history row of the update");
    let events = h.events();
    let bulk: Vec<(&str, &str)> = events.iter().map(|e| (e.action.as_str(), e.resource.kind.as_str())).collect();
    assert_eq!(bulk, [("bulk", "versioned")], "{events:?}");
    assert_eq!(events[0].details.get("verb"), Some(&json!("DELETE")));
    assert_eq!(events[0].details.get("rows_affected"), Some(&json!(1)));
    h.finish().await;
}
mod mariadb_delete_history_names_its_table {
    use super::orm_common::{Backend, TestDb};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        if let Some(db) = TestDb::open(Backend::MySql, "delete_history").await {
            super::mariadb_delete_history_names_its_table(db).await;
        }
    }
}
