//! The SQL reader reads a statement as its server does, with the session settings that change
//! how strings and identifiers are read (MySQL's `ANSI_QUOTES`, PostgreSQL's continued `E'…'`
//! strings, SQLite's Tcl-style `$name(…)` parameters), and names the tables of multi-table
//! writes past their modifiers (`UPDATE IGNORE a, b`, `TRUNCATE a, ONLY b`).

mod orm_common;

use audit_seaorm::orm::sql::{writes, writes_on};
use orm_common::{Backend, Harness, TestDb};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait};

fn tables_on(sql: &str, backend: DbBackend) -> Vec<String> {
    writes_on(sql, backend).into_iter().map(|w| w.table).collect()
}

async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), sql.to_string()))
        .await
        .expect("count")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

async fn seeded(backend: Backend, name: &str, strict: bool) -> Option<Harness> {
    let db = TestDb::open(backend, name).await?;
    let h = if strict { Harness::with(db, |b| b.strict()).await } else { Harness::new(db).await };
    for table in ["users", "plain_users"] {
        h.conn
            .execute_unprepared(&format!(
                "INSERT INTO {table} (email, name, score, updated_at) VALUES ('a@x','a',0,0), ('b@x','b',0,0), ('c@x','c',0,0)"
            ))
            .await
            .expect("seed rows (unaudited)");
    }
    Some(h)
}

// ---- MySQL/MariaDB with ANSI_QUOTES ------------------------------------------------------

/// `sql_mode` ANSI_QUOTES (part of `sql_mode = ANSI`): `"…"` is an identifier, read without
/// backslash escapes, while `'…'` keeps them. `writes_on(MySql)` reads either both with
/// escapes (default) or neither (NO_BACKSLASH_ESCAPES); the old `writes` (lenient reading:
/// escapes in `'…'`, none in `"…"`) saw the DELETE.
const ANSI_QUOTES_HIDDEN: &str = "SELECT 1 AS \"\\\", '\\'' ; DELETE FROM users; -- '\"";

#[test]
fn ansi_quotes_are_read_as_mysql_reads_them() {
    assert!(
        writes(ANSI_QUOTES_HIDDEN).iter().any(|w| w.table == "users"),
        "the old reader saw the DELETE: {:?}",
        writes(ANSI_QUOTES_HIDDEN)
    );
    assert!(
        tables_on(ANSI_QUOTES_HIDDEN, DbBackend::MySql).iter().any(|t| t == "users"),
        "writes_on(MySql) misses the DELETE that MySQL with ANSI_QUOTES runs: {:?}",
        writes_on(ANSI_QUOTES_HIDDEN, DbBackend::MySql)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_ansi_quotes_hides_a_delete_from_strict_mode() {
    let Some(h) = seeded(Backend::MySql, "rv2_ansi_quotes", true).await else { return };
    let txn = h.db.begin().await.expect("begin");
    txn.execute_unprepared("SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')")
        .await
        .expect("set sql_mode (no write)");
    let result = txn.execute_unprepared(ANSI_QUOTES_HIDDEN).await;
    let committed = match &result {
        Ok(_) => txn.commit().await,
        Err(_) => txn.rollback().await,
    };
    let after = count(&h.conn, "SELECT COUNT(*) FROM users").await;
    let events = h.events();
    assert!(
        !events.is_empty() || after == 3,
        "strict mode let a write through silently\n  result: {:?}, commit: {committed:?}\n  rows: 3 -> {after}\n  events: {}",
        result.map(|r| r.rows_affected()),
        events.len()
    );
    h.finish().await;
}

// ---- multi-table UPDATE with a modifier ----------------------------------------------------

/// `UPDATE IGNORE a, b SET a.x = …` / `UPDATE LOW_PRIORITY a JOIN b … SET a.x = …`: the
/// modifier is taken for the first table (its alias the real table's name).
#[test]
fn update_modifier_taken_for_a_table() {
    let sql = "UPDATE IGNORE users, plain_users SET users.score = 7 WHERE users.email = plain_users.email";
    assert_eq!(tables_on(sql, DbBackend::MySql), ["users"], "{sql}");
}

#[test]
fn update_low_priority_join_taken_for_a_table() {
    let sql = "UPDATE LOW_PRIORITY users JOIN plain_users ON users.email = plain_users.email SET users.score = 7";
    assert_eq!(tables_on(sql, DbBackend::MySql), ["users"], "{sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_update_ignore_multi_table_event_names_ignore() {
    let Some(h) = seeded(Backend::MySql, "rv2_update_ignore", false).await else { return };
    h.db.execute_unprepared(
        "UPDATE IGNORE users, plain_users SET users.score = 7 WHERE users.email = plain_users.email",
    )
    .await
    .expect("update");
    assert_eq!(count(&h.conn, "SELECT COUNT(*) FROM users WHERE score = 7").await, 3, "users changed");
    let tables: Vec<String> = h.events().iter().map(|e| e.resource.kind.clone()).collect();
    assert_eq!(tables, ["users"], "the bulk event should name the table written");
    h.finish().await;
}

// ---- TRUNCATE a, ONLY b ---------------------------------------------------------------------

#[test]
fn truncate_list_with_only_on_a_later_item() {
    let sql = "TRUNCATE plain_users, ONLY users";
    assert_eq!(tables_on(sql, DbBackend::Postgres), ["plain_users", "users"], "{sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_truncate_only_second_item_event_names_only() {
    let Some(h) = seeded(Backend::Postgres, "rv2_truncate_only", false).await else { return };
    h.db.execute_unprepared("TRUNCATE plain_users, ONLY users").await.expect("truncate");
    assert_eq!(count(&h.conn, "SELECT COUNT(*) FROM users").await, 0, "users emptied");
    let tables: Vec<String> = h.events().iter().map(|e| e.resource.kind.clone()).collect();
    assert!(tables.iter().any(|t| t == "users"), "no event names `users`, whose rows were all removed: {tables:?}");
    h.finish().await;
}

// ---- PostgreSQL: an E'' string continued on the next line keeps its escapes ----------------

/// PostgreSQL concatenates `E'x'` and a string on the next line into one escape string (the
/// lexer returns to the `xe` state): `'\''` there is one quote. Read with escapes only in
/// `E'…'` (the continuation is a plain string) or in every string, the DELETE is inside a
/// string; PostgreSQL runs it.
const CONTINUED_E_STRING: &str = "SELECT E'x'\n'\\'', '\\'; DELETE FROM users; -- '";

#[test]
fn postgres_continued_escape_string() {
    assert!(
        tables_on(CONTINUED_E_STRING, DbBackend::Postgres).iter().any(|t| t == "users"),
        "writes_on(Postgres) misses the DELETE: {:?} (old reader: {:?})",
        writes_on(CONTINUED_E_STRING, DbBackend::Postgres),
        writes(CONTINUED_E_STRING)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_continued_escape_string_hides_a_delete_from_strict_mode() {
    let Some(h) = seeded(Backend::Postgres, "rv2_e_continued", true).await else { return };
    let result = h.db.execute_unprepared(CONTINUED_E_STRING).await;
    let after = count(&h.conn, "SELECT COUNT(*) FROM users").await;
    let events = h.events();
    assert!(
        !events.is_empty() || after == 3,
        "strict mode let a write through silently\n  result: {:?}\n  rows: 3 -> {after}\n  events: {}",
        result.map(|r| r.rows_affected()),
        events.len()
    );
    h.finish().await;
}

// ---- SQLite: a Tcl-style parameter `$a(…)` swallows a quote ---------------------------------

/// SQLite reads `$name(…)` (also `:name(…)`, `@name(…)`) up to `)` as one parameter, quotes
/// included; the reader takes the `'` for the start of a string that hides the DELETE.
const TCL_PARAMETER: &str = "SELECT $a(') ; DELETE FROM users; SELECT 1 --'";

#[test]
fn sqlite_tcl_parameter() {
    assert!(
        tables_on(TCL_PARAMETER, DbBackend::Sqlite).iter().any(|t| t == "users"),
        "writes_on(Sqlite) misses the DELETE: {:?} (old reader: {:?})",
        writes_on(TCL_PARAMETER, DbBackend::Sqlite),
        writes(TCL_PARAMETER)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_tcl_parameter_hides_a_delete_from_strict_mode() {
    let Some(h) = seeded(Backend::Sqlite, "rv2_tcl_param", true).await else { return };
    let result = h.db.execute_unprepared(TCL_PARAMETER).await;
    let after = count(&h.conn, "SELECT COUNT(*) FROM users").await;
    let events = h.events();
    assert!(
        !events.is_empty() || after == 3,
        "strict mode let a write through silently\n  result: {:?}\n  rows: 3 -> {after}\n  events: {}",
        result.map(|r| r.rows_affected()),
        events.len()
    );
    h.finish().await;
}
