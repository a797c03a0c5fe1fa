//! The auditors' questions are answered through the indexes, not by scanning the trail: the
//! statements the store actually sends (captured with SeaORM's metric callback) are run
//! through the database's EXPLAIN on a trail of a few thousand events.

mod common;

use audit_core::store::{AuditStore, Query};
use audit_core::{Actor, Auditor, EventDraft, Outcome, Timestamp};
use audit_seaorm::{DataSubject, ReportFilter, SqlStore};
use common::{Backend, TestDb};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::sync::{Arc, Mutex};

const EVENTS: usize = 3000;

async fn build(db: &TestDb) -> Arc<SqlStore> {
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).max_batch(500).build();
    let mut tickets = Vec::new();
    for i in 0..EVENTS {
        let actor = match i % 40 {
            0 => Actor::admin(format!("admin-{}", i % 3)),
            1 => Actor::system("cron"),
            _ => Actor::user(format!("user-{}", i % 300)),
        };
        let (action, outcome) = match i % 25 {
            0 => ("login", Outcome::Failure),
            1 => ("export", Outcome::Success),
            _ => ("update", Outcome::Success),
        };
        let draft = EventDraft::new(action).actor(actor).resource("users", (i % 1000).to_string()).outcome(outcome);
        tickets.push(auditor.record_buffered(draft).await.expect("queue"));
    }
    for ticket in tickets {
        ticket.await.expect("durable");
    }
    auditor.shutdown().await;
    let analyze = match db.backend {
        Backend::Postgres | Backend::Sqlite => "ANALYZE",
        Backend::MySql => "ANALYZE TABLE audit_events",
    };
    db.connect().await.execute_unprepared(analyze).await.expect("analyze");
    store
}

/// The SELECTs on `audit_events` that `call` sends.
async fn statements<F, Fut>(db: &TestDb, call: F) -> Vec<Statement>
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let seen: Arc<Mutex<Vec<Statement>>> = Arc::default();
    let mut conn = db.connect().await;
    let sink = seen.clone();
    conn.set_metric_callback(move |info| sink.lock().expect("not poisoned").push(info.statement.clone()));
    call(SqlStore::new(conn).expect("store")).await;
    let statements = seen.lock().expect("not poisoned").clone();
    let statements: Vec<Statement> =
        statements.into_iter().filter(|s| s.sql.starts_with("SELECT") && s.sql.contains("FROM audit_events")).collect();
    assert!(!statements.is_empty(), "the call sent no query");
    statements
}

/// The plan of `statement`, as text: on MySQL the chosen and possible keys.
async fn plan(db: &TestDb, conn: &DatabaseConnection, statement: &Statement) -> String {
    let (prefix, backend) = match db.backend {
        Backend::Postgres => ("EXPLAIN ", DbBackend::Postgres),
        Backend::Sqlite => ("EXPLAIN QUERY PLAN ", DbBackend::Sqlite),
        Backend::MySql => ("EXPLAIN ", DbBackend::MySql),
    };
    let explain =
        Statement { sql: format!("{prefix}{}", statement.sql), values: statement.values.clone(), db_backend: backend };
    let rows = conn.query_all_raw(explain).await.expect("explain");
    let mut text = Vec::new();
    for row in rows {
        match db.backend {
            Backend::Postgres => text.push(row.try_get_by_index::<String>(0).expect("plan line")),
            Backend::Sqlite => text.push(row.try_get::<String>("", "detail").expect("plan detail")),
            Backend::MySql => {
                let key: Option<String> = row.try_get("", "key").expect("key");
                let possible: Option<String> = row.try_get("", "possible_keys").expect("possible_keys");
                text.push(format!("key={} possible={}", key.unwrap_or_default(), possible.unwrap_or_default()));
            }
        }
    }
    text.join("\n")
}

/// Asserts that every captured statement's plan uses `index`.
async fn uses(db: &TestDb, question: &str, statements: &[Statement], index: &str) {
    uses_one_of(db, question, statements, &[index]).await;
}

/// Asserts that every captured statement's plan uses one of `indexes` (the planner's choice).
async fn uses_one_of(db: &TestDb, question: &str, statements: &[Statement], indexes: &[&str]) {
    let conn = db.connect().await;
    for statement in statements {
        let plan = plan(db, &conn, statement).await;
        let used = |index: &str| match db.backend {
            Backend::Postgres | Backend::Sqlite => plan.contains(index),
            // The chosen keys (an index merge lists several).
            Backend::MySql => plan
                .lines()
                .filter_map(|line| line.strip_prefix("key=")?.split(' ').next())
                .any(|keys| keys.split(',').any(|key| key == index)),
        };
        assert!(
            indexes.iter().any(|index| used(index)),
            "{question}: expected one of the indexes {indexes:?} for\n{}\nplan:\n{plan}",
            statement.sql
        );
    }
}

async fn questions_use_indexes(db: &TestDb) {
    build(db).await;
    let now = Timestamp::now();
    let ninety_days_ago = Timestamp::from_unix_micros(now.unix_micros() - 90 * 86_400 * 1_000_000).expect("in range");

    let s = statements(db, |store| async move {
        let query = Query::new().actor("user-7").between(Some(ninety_days_ago), Some(now));
        let page = store.query(&query).await.expect("query");
        assert_eq!(page.events.len(), 10);
    })
    .await;
    uses(db, "all actions by actor X in a period", &s, "audit_events_actor").await;

    let s = statements(db, |store| async move {
        let filter = ReportFilter::new().between(Some(ninety_days_ago), None);
        let page = store.access_report("users", "7", &filter).await.expect("access");
        assert_eq!(page.events.len(), 3);
    })
    .await;
    uses(db, "who touched record Y in the last 90 days", &s, "audit_events_resource").await;

    let (privileged, failed) = ("audit_events_privileged", "audit_events_failed");
    let s = statements(db, |store| async move {
        let filter = ReportFilter::new()
            .between(Some(ninety_days_ago), None)
            .action("login")
            .outcomes([Outcome::Failure, Outcome::Denied]);
        let page = store.privileged_actions(&filter).await.expect("privileged");
        assert_eq!(page.events.len(), 15, "every 200th event is an admin's failed login");
    })
    .await;
    uses_one_of(db, "failed logins of privileged accounts", &s, &[privileged, failed]).await;

    let s = statements(db, |store| async move {
        let page = store.privileged_actions(&ReportFilter::new().between(Some(ninety_days_ago), None)).await;
        assert_eq!(page.expect("privileged").events.len(), 100, "a first page of admin and system actions");
    })
    .await;
    uses(db, "privileged actions in a period", &s, privileged).await;

    let s = statements(db, |store| async move {
        let query = Query::new().outcome(Outcome::Failure).between(Some(ninety_days_ago), None);
        assert_eq!(store.query(&query).await.expect("failures").events.len(), 100);
    })
    .await;
    uses(db, "failures in a period", &s, failed).await;

    let s = statements(db, |store| async move {
        let failures = store.repeated_failures(2, &ReportFilter::new().between(Some(ninety_days_ago), None)).await;
        assert!(!failures.expect("failures").is_empty());
    })
    .await;
    uses(db, "repeated failures in a period", &s, failed).await;

    let s = statements(db, |store| async move {
        assert!(store.last_change("users", "7", None).await.expect("last change").is_none(), "no diffs recorded");
    })
    .await;
    uses(db, "last change of a record", &s, "audit_events_resource").await;

    let s = statements(db, |store| async move {
        let subject = DataSubject::new("1").resource_types(["users"]);
        let page = store.subject_events(&subject, &ReportFilter::new().action("export")).await.expect("subject");
        assert_eq!(page.events.len(), 3);
    })
    .await;
    uses(db, "all export events for subject Z (as resource)", &s, "audit_events_resource").await;
    uses(db, "all export events for subject Z (as actor)", &s, "audit_events_actor").await;
}
on_all_backends!(questions_use_indexes);
