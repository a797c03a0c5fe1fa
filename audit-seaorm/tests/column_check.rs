//! Store verification compares each indexed column with the value where the line holds it,
//! byte for byte, without parsing the line a second time. The mismatches it reports are
//! exactly those that a plain comparison with the parsed event finds (the reference below),
//! for values with escapes, control characters and characters beyond ASCII, tags, absent
//! request ids, and for a line that is no longer canonical.

mod common;

use audit_core::store::AuditStore;
use audit_core::{Actor, Auditor, Context, Event, EventDraft, Outcome, Timestamp};
use audit_seaorm::{ColumnMismatch, SqlStore};
use common::{Backend, TestDb, append_only_off, append_only_on};
use sea_orm::prelude::{ChronoDateTimeUtc, Uuid};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};
use std::sync::Arc;

const COLUMNS: [&str; 12] = [
    "chain",
    "seq",
    "id",
    "ts",
    "actor_id",
    "actor_kind",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "request_id",
    "tags",
];

/// Events whose indexed values need escaping or are not ASCII, with and without tags and
/// request ids.
async fn record(store: &Arc<SqlStore>) {
    let auditor = Auditor::builder(store.clone()).build();
    // (actor id, action, resource id, request id, tags)
    type Values<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, &'a [&'a str]);
    let events: [Values<'_>; 6] = [
        ("alice \"the\" admin\\", "PUT /users/{id}", "a\nb", Some("req-0"), &["b", "é"]),
        ("Zoë 😀", "löschen", "ü", None, &[]),
        ("ctrl\u{1}x\u{7f}", "read", "", Some("r\"2"), &["a\\b"]),
        ("plain", "update", "42", Some("x"), &["privileged"]),
        ("tab\tuser", "update", "[1,\"2\"]", None, &["z"]),
        ("bob", "delete", "7", Some("req-5"), &[]),
    ];
    for (actor, action, resource_id, request_id, tags) in events {
        let mut draft = EventDraft::new(action)
            .actor(Actor::user(actor))
            .resource("dokumente/ä", resource_id)
            .context(Context { request_id: request_id.map(str::to_string), ..Context::default() });
        for tag in tags {
            draft = draft.tag(*tag);
        }
        auditor.record(draft).await.expect("record");
    }
    let failed = EventDraft::new("login").actor(Actor::user("eve")).resource("session", "").outcome(Outcome::Denied);
    auditor.record(failed).await.expect("record");
    auditor.shutdown().await;
}

fn placeholders(backend: Backend, sql: &str) -> String {
    // Statements below are written with `?`; PostgreSQL numbers its placeholders.
    if backend != Backend::Postgres {
        return sql.to_string();
    }
    let mut numbered = String::new();
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            numbered.push_str(&format!("${n}"));
        } else {
            numbered.push(c);
        }
    }
    numbered
}

fn db_backend(backend: Backend) -> DbBackend {
    match backend {
        Backend::Postgres => DbBackend::Postgres,
        Backend::MySql => DbBackend::MySql,
        Backend::Sqlite => DbBackend::Sqlite,
    }
}

/// Runs the statements with the append-only triggers switched off, then puts them back.
async fn tamper(db: &TestDb, store: &SqlStore, conn: &DatabaseConnection, edits: Vec<(String, Vec<Value>)>) {
    append_only_off(db, conn).await;
    for (sql, values) in edits {
        let statement = Statement::from_sql_and_values(db_backend(db.backend), placeholders(db.backend, &sql), values);
        let changed = conn.execute_raw(statement).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(changed.rows_affected(), 1, "{sql} must change one row");
    }
    append_only_on(db, store, conn).await;
}

/// Every column of a row as text, read the plain way (`ts` in SPEC form, `id` hyphenated).
fn stored(backend: Backend, row: &QueryResult) -> (u64, [Option<String>; 12], String) {
    let text = |i: usize| row.try_get_by_index::<Option<String>>(i).expect("a text column");
    let seq: i64 = row.try_get_by_index(1).expect("seq");
    let id = match backend {
        Backend::Postgres => row.try_get_by_index::<Uuid>(2).expect("id").hyphenated().to_string(),
        Backend::MySql | Backend::Sqlite => row.try_get_by_index::<String>(2).expect("id"),
    };
    let ts = match backend {
        Backend::Sqlite => text(3),
        Backend::Postgres | Backend::MySql => {
            let time: ChronoDateTimeUtc = row.try_get_by_index(3).expect("ts");
            Some(Timestamp::from_datetime(time).to_string())
        }
    };
    let values = [
        text(0),
        Some(seq.to_string()),
        Some(id),
        ts,
        text(4),
        text(5),
        text(6),
        text(7),
        text(8),
        text(9),
        text(10),
        text(11),
    ];
    (seq as u64, values, text(12).unwrap_or_default())
}

/// The reference: parse each line as an event and compare every column with its field.
async fn plain_comparison(backend: Backend, conn: &DatabaseConnection) -> Vec<ColumnMismatch> {
    let sql = format!("SELECT {}, line FROM audit_events WHERE chain = 'default' ORDER BY seq", COLUMNS.join(", "));
    let rows = conn.query_all_raw(Statement::from_string(db_backend(backend), sql)).await.expect("read the rows");
    let mut found = Vec::new();
    for row in &rows {
        let (seq, values, line) = stored(backend, row);
        let Ok(e) = serde_json::from_str::<Event>(&line) else { continue };
        let tags = (!e.tags.is_empty()).then(|| audit_core::canonical::to_string(&serde_json::json!(e.tags)));
        let expected = [
            Some(e.chain.clone()),
            Some(e.seq.to_string()),
            Some(e.id.hyphenated().to_string()),
            Some(e.ts.to_string()),
            Some(e.actor.id.clone()),
            Some(e.actor.kind.as_str().to_string()),
            Some(e.action.clone()),
            Some(e.resource.kind.clone()),
            Some(e.resource.id.clone()),
            Some(e.outcome.as_str().to_string()),
            e.context.request_id.clone(),
            tags,
        ];
        for (i, (stored, expected)) in values.into_iter().zip(expected).enumerate() {
            if stored != expected {
                found.push(ColumnMismatch { seq, column: COLUMNS[i], stored, expected });
            }
        }
    }
    found
}

fn edit(sql: &str, values: Vec<Value>) -> (String, Vec<Value>) {
    (sql.to_string(), values)
}

fn text(value: &str) -> Value {
    Value::String(Some(value.to_string()))
}

async fn edited_columns_are_reported_as_a_plain_comparison_would(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    record(&store).await;
    let conn = db.connect().await;
    let report = store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report}");
    assert!(plain_comparison(db.backend, &conn).await.is_empty(), "the reference agrees on an intact store");

    let null = Value::String(None);
    let (ts_sql, ts_value) = match db.backend {
        Backend::Sqlite => ("UPDATE audit_events SET ts = ? WHERE seq = 6", text("2001-01-01T00:00:00.000000Z")),
        Backend::Postgres | Backend::MySql => (
            "UPDATE audit_events SET ts = ? WHERE seq = 6",
            Value::ChronoDateTimeUtc(Some(Timestamp::from_unix_micros(1).expect("a time").as_datetime())),
        ),
    };
    let id = match db.backend {
        Backend::Postgres => Value::Uuid(Some(Uuid::from_u128(7))),
        Backend::MySql | Backend::Sqlite => text("00000000-0000-0000-0000-000000000007"),
    };
    let edits = vec![
        // The JSON spelling of the value instead of the value: escapes are not values.
        edit("UPDATE audit_events SET actor_id = ? WHERE seq = 1", vec![text("alice \\\"the\\\" admin\\\\")]),
        // The same tags in another order.
        edit("UPDATE audit_events SET tags = ? WHERE seq = 1", vec![text("[\"é\",\"b\"]")]),
        // A request id where the event has none, and an empty one.
        edit("UPDATE audit_events SET request_id = ? WHERE seq = 2", vec![text("")]),
        edit("UPDATE audit_events SET action = ? WHERE seq = 2", vec![text("LÖSCHEN")]),
        // No request id, no tags where the event has them.
        edit("UPDATE audit_events SET request_id = ?, tags = ? WHERE seq = 3", vec![null.clone(), null.clone()]),
        edit("UPDATE audit_events SET actor_id = ? WHERE seq = 3", vec![text("ctrl\\u0001x\u{7f}")]),
        edit(
            "UPDATE audit_events SET resource_type = ?, resource_id = ? WHERE seq = 4",
            vec![text("dokumente/a"), text("42 ")],
        ),
        edit("UPDATE audit_events SET outcome = ?, actor_kind = ? WHERE seq = 5", vec![text("failure"), text("admin")]),
        // A value that looks like SQLite's packed reading of columns (`LENGTH:BYTES`, `-` for NULL).
        edit("UPDATE audit_events SET resource_id = ? WHERE seq = 5", vec![text("-3:ab:1:")]),
        edit("UPDATE audit_events SET id = ? WHERE seq = 6", vec![id]),
        edit(ts_sql, vec![ts_value]),
        // Tags where the event has none.
        edit("UPDATE audit_events SET tags = ? WHERE seq = 6", vec![text("[\"x\"]")]),
        // A line that is no longer canonical (still JSON, still the same values) and a column.
        edit(
            "UPDATE audit_events SET line = replace(line, '\"actor\":{', '\"actor\": {'), request_id = ? WHERE seq = 7",
            vec![text("req-7")],
        ),
    ];
    tamper(db, &store, &conn, edits).await;

    let report = store.verify_chain("default").await.expect("verify");
    let expected = plain_comparison(db.backend, &conn).await;
    let named: Vec<(u64, &str)> = expected.iter().map(|m| (m.seq, m.column)).collect();
    assert_eq!(
        named,
        [
            (1, "actor_id"),
            (1, "tags"),
            (2, "action"),
            (2, "request_id"),
            (3, "actor_id"),
            (3, "request_id"),
            (3, "tags"),
            (4, "resource_type"),
            (4, "resource_id"),
            (5, "actor_kind"),
            (5, "resource_id"),
            (5, "outcome"),
            (6, "id"),
            (6, "ts"),
            (6, "tags"),
            (7, "request_id"),
        ],
        "the reference finds every edit"
    );
    assert_eq!(report.column_mismatches, expected);
    assert_eq!(report.column_mismatch_count, expected.len() as u64);
    // The non-canonical line is bad format at its seq; the hashes before it hold.
    let broken = report.lines.broken.clone().expect("seq 7 is not canonical any more");
    assert_eq!((broken.seq, broken.reason.as_str()), (7, "bad format"));
}
on_all_backends!(edited_columns_are_reported_as_a_plain_comparison_would);

async fn many_pages_are_compared_in_order(db: &TestDb) {
    // Pages of 3 rows: mismatches on several pages come back in seq order, and every page is
    // compared after the chain broke.
    let store = Arc::new(db.migrated_store().await.with_read_page_size(3));
    record(&store).await;
    let conn = db.connect().await;
    let edits = vec![
        edit("UPDATE audit_events SET line = replace(line, '\"read\"', '\"READ\"') WHERE seq = 3", vec![]),
        edit("UPDATE audit_events SET actor_id = ? WHERE seq = 7", vec![text("mallory")]),
        edit("UPDATE audit_events SET actor_id = ? WHERE seq = 2", vec![text("mallory")]),
    ];
    tamper(db, &store, &conn, edits).await;
    let report = store.verify_chain("default").await.expect("verify");
    assert_eq!(report.column_mismatches, plain_comparison(db.backend, &conn).await);
    let named: Vec<(u64, &str)> = report.column_mismatches.iter().map(|m| (m.seq, m.column)).collect();
    assert_eq!(named, [(2, "actor_id"), (3, "action"), (7, "actor_id")]);
    let broken = report.lines.broken.clone().expect("seq 3 was edited");
    assert_eq!((broken.seq, broken.reason.as_str()), (3, "hash mismatch"));
    assert_eq!(store.head("default").await.expect("head").seq, 7);
}
on_all_backends!(many_pages_are_compared_in_order);

/// SQLite stores whatever bytes it is given as TEXT: a column edited to bytes that are not
/// UTF-8 stops verification with an error naming the column, never a silent pass or a panic.
#[tokio::test]
async fn a_column_that_is_not_utf8_is_an_error_naming_it_on_sqlite() {
    let Some(db) = TestDb::open(Backend::Sqlite, "not_utf8").await else { return };
    let store = Arc::new(db.migrated_store().await);
    record(&store).await;
    let conn = db.connect().await;
    let edits = vec![edit("UPDATE audit_events SET actor_id = CAST(X'616cff' AS TEXT) WHERE seq = 2", vec![])];
    tamper(&db, &store, &conn, edits).await;
    let error = store.verify_chain("default").await.expect_err("a column that is not text cannot verify");
    let message = error.to_string();
    assert!(message.contains("actor_id") && message.contains("UTF-8"), "{message}");
    db.cleanup().await;
}
