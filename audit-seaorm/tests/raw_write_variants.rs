//! Statements that write rows in many spellings (comments, quoting, case, CTEs, EXPLAIN
//! ANALYZE, code blocks, executable comments…): the strict audited connection refuses each,
//! and the rows stay.

mod orm_common;

use orm_common::{Backend, Harness, TestDb};
use sea_orm::ConnectionTrait;

async fn strict(backend: Backend, name: &str) -> Option<Harness> {
    let db = TestDb::open(backend, name).await?;
    let h = Harness::with(db, |b| b.strict()).await;
    h.conn
        .execute_unprepared(
            "INSERT INTO users (email, name, score, updated_at) VALUES ('a@x','a',0,0), ('b@x','b',0,0)",
        )
        .await
        .expect("seed rows (unaudited)");
    Some(h)
}

async fn all_refused(h: &Harness, statements: &[&str]) {
    for sql in statements {
        let error = h.db.execute_unprepared(sql).await.expect_err(&format!("not refused: {sql:?}")).to_string();
        assert!(error.contains("strict mode"), "{sql:?}: {error}");
    }
    let row = h
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            h.conn.get_database_backend(),
            "SELECT COUNT(*) FROM users WHERE score = 0".to_string(),
        ))
        .await
        .expect("count")
        .expect("row");
    assert_eq!(row.try_get_by_index::<i64>(0).expect("int"), 2);
    assert!(h.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_variants_are_refused() {
    let Some(h) = strict(Backend::Postgres, "rv_held_pg").await else { return };
    all_refused(
        &h,
        &[
            "/* x */ DELETE FROM users",
            "/* /* */ */ DELETE FROM users",
            "SELECT 1; /* a /* b */ c */ UPDATE users SET score = 1",
            r"SELECT 'a\'; DELETE FROM users; --'",
            r"SELECT E'a\''; DELETE FROM users; -- '",
            "SELECT $$ ' $$; DELETE FROM users; -- '",
            "SELECT $x_1$ $$ $x_1$; DELETE FROM users",
            "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d",
            "WITH d AS MATERIALIZED (UPDATE users SET score = 1 RETURNING *) SELECT 1",
            "EXPLAIN (ANALYZE, FORMAT JSON) DELETE FROM users",
            "EXPLAIN ANALYSE VERBOSE UPDATE users SET score = 1",
            "dElEtE\tFROM\n\"users\"",
            "DELETE FROM public.\"users\"",
            "SELECT 1 # 2; DELETE FROM users",
            "SELECT 1--1\n; DELETE FROM users",
            "SELECT a[1] FROM (SELECT ARRAY[1] a) s; DELETE FROM users",
            "DO $$BEGIN DELETE FROM users; END$$",
            "DO LANGUAGE plpgsql $f$BEGIN DELETE FROM users; END$f$",
            "MERGE INTO users u USING (SELECT 1 AS id) s ON u.id = s.id WHEN MATCHED THEN DELETE",
            "TRUNCATE ONLY users",
            "COPY (DELETE FROM users RETURNING *) TO STDOUT",
            "SELECT 'é'; DELETE FROM users",
            "SELECT '😀\\'; DELETE FROM users; --'",
        ],
    )
    .await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_variants_are_refused() {
    let Some(h) = strict(Backend::MySql, "rv_held_my").await else { return };
    all_refused(
        &h,
        &[
            "/*! DELETE FROM users */",
            "/*!50001 DELETE FROM users */",
            "SELECT 1 /*!; DELETE FROM users */",
            "/*M!100101 UPDATE users SET score = 1 */",
            r"SELECT 'a\''; DELETE FROM users; -- '",
            r#"SELECT "a\""; DELETE FROM users; -- ""#,
            "SELECT 1 # x\n; DELETE FROM users",
            "SELECT 1--1\n; DELETE FROM users",
            "BEGIN NOT ATOMIC DELETE FROM users; END",
            "BEGIN/**/NOT ATOMIC DELETE FROM users; END",
            "lbl: BEGIN NOT ATOMIC DELETE FROM users; END",
            "IF 1 THEN DELETE FROM users; END IF",
            "EXECUTE IMMEDIATE 'DELETE FROM users'",
            "ANALYZE FORMAT=JSON DELETE FROM users",
            "DELETE LOW_PRIORITY QUICK IGNORE FROM users",
            "REPLACE users (id, email, name, score, updated_at) SELECT id, email, name, 5, 0 FROM users",
            "INSERT INTO users (email, name, score, updated_at) SELECT email, name, score, 0 FROM users",
            "UPDATE `users` SET score = 1",
        ],
    )
    .await;
    h.finish().await;
}

/// Odd text read without panicking (unterminated quotes and comments, escapes before
/// multi-byte characters, stray dollar signs, NUL, huge flat inputs).
#[test]
fn odd_text_does_not_panic() {
    use audit_seaorm::orm::sql::writes;
    for sql in [
        "'",
        "\"",
        "`",
        "[",
        "/*",
        "/*!",
        "/*M!",
        "--",
        "#",
        "$",
        "$a",
        "$a$",
        "$é$x",
        "E'\\",
        "'\\é",
        "\"\\é",
        "`é",
        "[é",
        "DELETE FROM \"é",
        "DELETE FROM `é",
        "DELETE FROM [é",
        "UPDATE é SET a = 'x\\😀",
        "\0DELETE",
        "BEGIN é",
        "BEGIN\u{a0}NOT ATOMIC",
        "é;é;é",
        "WITH",
        "EXPLAIN ANALYZE",
        "COPY",
        "COPY (",
        "LOAD DATA",
    ] {
        let _ = writes(sql);
    }
    let _ = writes(&"DELETE FROM t WHERE a = 'x'; ".repeat(20_000));
    let _ = writes(&"é".repeat(1_000_000));
    let _ = writes(&format!("DELETE FROM t WHERE a = '{}'", "\\é".repeat(100_000)));
}
