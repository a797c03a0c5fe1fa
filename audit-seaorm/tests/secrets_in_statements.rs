//! A raw statement's values stay out of its `bulk` event and strict mode's refusal, also
//! where the server reads `"…"` as a string (MySQL/MariaDB by default, SQLite) next to words
//! after which a name could stand, and where another session setting would read the text
//! otherwise; and a `redact` entry hides every column it can name.
//!
//! Each test checks with the real server that it read the double-quoted text as a string
//! value (the value is stored, or a comparison with it matched), then that the value is not
//! in the recorded `bulk` event / the refusal. Each collects what it found, cleans its
//! database up, then asserts (so a failing test leaves nothing behind on the servers).
#![allow(unreachable_pub)] // the test entities' derived items

mod orm_common;

use orm_common::entities::users;
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

const SECRET_SSN: &str = "078-05-1120";

async fn mariadb(name: &str) -> TestDb {
    TestDb::open(Backend::MySql, name).await.expect("the MariaDB test server (127.0.0.1:3306) is needed")
}

async fn sqlite(name: &str) -> TestDb {
    TestDb::open(Backend::Sqlite, name).await.expect("a SQLite file")
}

/// The JSON lines of the default chain.
fn lines(h: &Harness) -> Vec<String> {
    h.store.events("default").into_iter().map(|e| e.line).collect()
}

/// The `users` rows as (email, name, score, ssn).
async fn rows(h: &Harness) -> Vec<(String, String, i32, Option<String>)> {
    users::Entity::find()
        .all(&h.conn)
        .await
        .expect("read users")
        .into_iter()
        .map(|u| (u.email, u.name, u.score, u.ssn))
        .collect()
}

// MySQL/MariaDB accept `VALUE` for `VALUES`: the `(…)` after it holds values, not columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_value_synonym_keeps_double_quoted_values_mysql() {
    let h = Harness::new(mariadb("rv_insert_value").await).await;
    let sql = format!(r#"INSERT INTO users VALUE (NULL, "v@x", "n", 0, "{SECRET_SSN}", 0)"#);
    let result = h.db.execute_unprepared(&sql).await.map(|_| ());
    let stored = rows(&h).await;
    let lines = lines(&h);
    h.finish().await;
    result.expect("MariaDB runs INSERT … VALUE (…)");
    assert_eq!(
        stored,
        vec![("v@x".to_string(), "n".to_string(), 0, Some(SECRET_SSN.to_string()))],
        "the server read \"…\" as strings"
    );
    let bulk = lines.last().expect("a bulk event");
    assert!(!bulk.contains(SECRET_SSN), "the bulk event's statement holds the ssn in clear: {bulk}");
}

// A parenthesized query (MariaDB ≥ 10.4 accepts `INSERT INTO t (SELECT …)`) is no column list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_parenthesized_select_keeps_double_quoted_values_mysql() {
    let h = Harness::new(mariadb("rv_insert_paren_select").await).await;
    let sql = format!(r#"INSERT INTO users (SELECT NULL, "v@x", "n", 0, "{SECRET_SSN}", 0)"#);
    let result = h.db.execute_unprepared(&sql).await.map(|_| ());
    let stored = rows(&h).await;
    let lines = lines(&h);
    h.finish().await;
    result.expect("MariaDB runs INSERT INTO t (SELECT …)");
    assert_eq!(
        stored,
        vec![("v@x".to_string(), "n".to_string(), 0, Some(SECRET_SSN.to_string()))],
        "the server read \"…\" as strings"
    );
    let bulk = lines.last().expect("a bulk event");
    assert!(!bulk.contains(SECRET_SSN), "the bulk event's statement holds the ssn in clear: {bulk}");
}

// A value follows `FROM` in `IS [NOT] DISTINCT FROM "…"` (SQLite ≥ 3.39) and inside calls
// (`TRIM(… FROM "…")` on MySQL/MariaDB): a table name only follows a statement's own `FROM`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_not_distinct_from_keeps_double_quoted_value_sqlite() {
    let h = Harness::new(sqlite("rv_distinct_from").await).await;
    let mut u = user("a@x");
    u.ssn = Set(Some(SECRET_SSN.into()));
    u.insert(&h.db).await.expect("insert");
    let sql = format!(r#"UPDATE users SET score = 7 WHERE ssn IS NOT DISTINCT FROM "{SECRET_SSN}""#);
    let result = h.db.execute_unprepared(&sql).await.map(|_| ());
    let stored = rows(&h).await;
    let lines = lines(&h);
    h.finish().await;
    result.expect("SQLite runs IS NOT DISTINCT FROM");
    assert_eq!(stored[0].2, 7, "the server compared ssn with the string \"{SECRET_SSN}\" and it matched");
    assert_eq!(lines.len(), 2, "the create event and the bulk event");
    assert!(!lines[1].contains(SECRET_SSN), "the bulk event's statement holds the ssn in clear: {}", lines[1]);
}

// Strict mode quotes the same shape in its refusal (applications log such errors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_refusal_echoes_value_after_distinct_from_sqlite() {
    let h = Harness::with(sqlite("rv_distinct_strict").await, |b| b.strict()).await;
    let sql = format!(r#"DELETE FROM users WHERE ssn IS NOT DISTINCT FROM "{SECRET_SSN}""#);
    let error = h.db.execute_unprepared(&sql).await.map(|_| ());
    h.finish().await;
    let error = error.expect_err("strict mode refuses a raw write").to_string();
    assert!(error.contains("strict mode"), "{error}");
    assert!(!error.contains(SECRET_SSN), "the refusal echoes the ssn in clear: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trim_from_keeps_double_quoted_value_mysql() {
    let h = Harness::new(mariadb("rv_trim_from").await).await;
    user("a@x").insert(&h.db).await.expect("insert");
    let sql = format!(r#"UPDATE users SET ssn = TRIM(LEADING "x" FROM "x{SECRET_SSN}") WHERE email = 'a@x'"#);
    let result = h.db.execute_unprepared(&sql).await.map(|_| ());
    let stored = rows(&h).await;
    let lines = lines(&h);
    h.finish().await;
    result.expect("MariaDB runs TRIM(LEADING … FROM …)");
    assert_eq!(stored[0].3.as_deref(), Some(SECRET_SSN), "the server read \"x{SECRET_SSN}\" as a string");
    let bulk = lines.last().expect("a bulk event");
    assert!(!bulk.contains(SECRET_SSN), "the bulk event's statement holds the ssn in clear: {bulk}");
}

// Only the start of a `SET` item at the list's own depth is an assigned column: a `"…" = c`
// inside a function's argument (`IF(cond, "…" = ssn, 0)`) is a value compared with a column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comparison_inside_set_expression_keeps_double_quoted_value_mysql() {
    let h = Harness::new(mariadb("rv_set_if").await).await;
    let mut u = user("a@x");
    u.ssn = Set(Some(SECRET_SSN.into()));
    u.insert(&h.db).await.expect("insert");
    let sql = format!(r#"UPDATE users SET score = IF(email = 'a@x', "{SECRET_SSN}" = ssn, 0)"#);
    let result = h.db.execute_unprepared(&sql).await.map(|_| ());
    let stored = rows(&h).await;
    let lines = lines(&h);
    h.finish().await;
    result.expect("MariaDB runs the UPDATE");
    assert_eq!(stored[0].2, 1, "the server compared ssn with the string \"{SECRET_SSN}\" and it matched");
    let bulk = lines.last().expect("a bulk event");
    assert!(!bulk.contains(SECRET_SSN), "the bulk event's statement holds the ssn in clear: {bulk}");
}

// On MySQL a text with a backslash is also read as with `NO_BACKSLASH_ESCAPES` and with
// `ANSI_QUOTES` (a session may set them), where a value holding `\'` ends early and the text
// the server reads inside the next string is words. A write only such a reading finds is
// recorded without the statement, so the secret the server stored as a string is in no event.
const SECRET_TOKEN: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslash_readings_record_a_string_value_in_clear_mysql() {
    let h = Harness::new(mariadb("rv_nbe_reading").await).await;
    user("a@x").insert(&h.db).await.expect("insert");
    // A name holding one `'`, escaped as MySQL escapes it, and a secret in another column.
    let name = "O'Brien; DELETE FROM users WHERE x = ";
    let sql =
        format!("UPDATE users SET name = '{}', ssn = '{SECRET_TOKEN}' WHERE email = 'a@x'", name.replace('\'', "\\'"));
    let result = h.db.execute_unprepared(&sql).await.map(|_| ());
    let stored = rows(&h).await;
    let lines = lines(&h);
    h.finish().await;
    result.expect("MariaDB runs the UPDATE");
    assert_eq!(
        stored,
        vec![("a@x".to_string(), name.to_string(), 0, Some(SECRET_TOKEN.to_string()))],
        "one UPDATE ran (no DELETE), and the server read both values as strings"
    );
    let leaking: Vec<&String> = lines.iter().filter(|line| line.contains(SECRET_TOKEN)).collect();
    assert!(leaking.is_empty(), "the secret is in the trail in clear: {leaking:#?}");
}

// The `ANSI_QUOTES` reading finds a DELETE the server as configured by default does not run
// (it would, were the session's `sql_mode` so set: the connection cannot tell). Its `bulk`
// event says so, and shows no statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_only_another_quoting_reading_finds_is_recorded_as_such_mysql() {
    let h = Harness::new(mariadb("rv_ansi_phantom").await).await;
    user("a@x").insert(&h.db).await.expect("insert");
    let sql = r#"UPDATE users SET name = "a\"; DELETE FROM users WHERE \"" WHERE email = 'a@x'"#;
    let result = h.db.execute_unprepared(sql).await.map(|_| ());
    let count = rows(&h).await.len();
    let events = h.events();
    h.finish().await;
    result.expect("MariaDB runs the UPDATE");
    assert_eq!(count, 1, "nothing was deleted");
    let bulk: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.action == "bulk")
        .map(|e| {
            let text = |key: &str| e.details.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            (text("verb"), text("statement"))
        })
        .collect();
    assert_eq!(bulk.len(), 2, "{bulk:#?}");
    assert_eq!(bulk[0].0, "UPDATE");
    assert!(bulk[0].1.starts_with("UPDATE users SET name = ? WHERE email = ?"), "{bulk:#?}");
    assert_eq!(bulk[1].0, "DELETE");
    assert!(bulk[1].1.starts_with("DELETE users (a write only if the session reads quotes"), "{bulk:#?}");
}

// A `redact` entry hides every column it can name: after a migration, the field `pin` stored
// in `pin_hash` and the old clear-text column `pin` kept as the field `legacy_pin`:
// `redact = ["pin"]` hides both.
mod pins {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pins")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(column_name = "pin_hash")]
        pub pin: String,
        #[sea_orm(column_name = "pin")]
        pub legacy_pin: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel, redact = ["pin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redact_entry_naming_a_column_hides_that_column_not_a_field_of_that_name() {
    let h = Harness::new(sqlite("rv_redact_field").await).await;
    let schema = sea_orm::Schema::new(h.conn.get_database_backend());
    h.conn.execute(&schema.create_table_from_entity(pins::Entity)).await.expect("create pins");
    let clear_pin = "4921";
    let inserted = pins::ActiveModel {
        pin: Set("sha256:9f86d081".into()),
        legacy_pin: Set(clear_pin.into()),
        ..Default::default()
    }
    .insert(&h.db)
    .await
    .map(|_| ());
    let events = h.events();
    h.finish().await;
    inserted.expect("insert");
    let column_pin = events[0].changes.iter().find(|c| c.field == "pin").and_then(|c| c.new.clone());
    assert_eq!(
        column_pin,
        Some(serde_json::json!("[REDACTED]")),
        "redact = [\"pin\"] left the column `pin` (the clear PIN) in clear; changes: {:?}",
        events[0].changes
    );
}
