//! A value the database refuses for good (a data error: here raised by a test trigger for the
//! actor `poison`, standing for a limit or character no one has found yet) costs only the
//! event that holds it. Before, the store reported such an error like an unreachable server,
//! and the writer retried the batch for ever: every event behind it waited (an acknowledged
//! request hung). Now the store says a value was refused (`AppendError::RefusedValue`), the
//! writer narrows it down to the event, writes a note that the store refused it
//! (`audit_event_refused`), refuses it ([`RecordError::Rejected`], with the database's message)
//! once the store took the note but not the event again, and writes every other event once, in
//! order. A trigger that refuses every event is a broken table, not a bad value: the events
//! wait, and are all written once it is repaired.

mod common;

use audit_core::store::AuditStore;
use audit_core::{Actor, Auditor, EventDraft, REFUSAL_ACTION, RecordError, RetryPolicy};
use common::{Backend, TestDb};
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::sync::Arc;

/// A trigger that refuses every event row of actor `poison` with a data error: SQLSTATE 22003
/// on PostgreSQL and MySQL, "string or blob too big" on SQLite.
async fn refuse_the_poison_actor(db: &TestDb) {
    let conn = db.connect().await;
    let statements: &[&str] = match db.backend {
        Backend::Postgres => &[
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             RAISE EXCEPTION 'value out of range: poison' USING ERRCODE = '22003'; END $$",
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events FOR EACH ROW \
             WHEN (NEW.actor_id = 'poison') EXECUTE FUNCTION refuse_poison()",
        ],
        Backend::MySql => &["CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events FOR EACH ROW BEGIN \
             IF NEW.actor_id = 'poison' THEN SIGNAL SQLSTATE '22003' SET MESSAGE_TEXT = 'value out of range: poison'; \
             END IF; END"],
        Backend::Sqlite => &["CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events \
             WHEN NEW.actor_id = 'poison' BEGIN SELECT zeroblob(2000000000); END"],
    };
    for statement in statements {
        conn.execute_unprepared(statement).await.expect("create the refusing trigger");
    }
}

fn draft(i: u64, poisoned: bool) -> EventDraft {
    let actor = if poisoned { "poison" } else { "alice" };
    EventDraft::new("write").actor(Actor::user(actor)).detail("i", json!(i))
}

async fn only_the_refused_event_is_left_out(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    refuse_the_poison_actor(db).await;
    let auditor = Auditor::builder(store.clone()).max_batch(64).build();
    // One batch of 40 with two refused events (queued before the writer takes any) ...
    let poisoned = |i: u64| i == 5 || i == 31;
    let tickets: Vec<_> =
        (0..40).map(|i| auditor.try_record(draft(i, poisoned(i))).expect("room in the queue")).collect();
    for (i, ticket) in (0u64..).zip(tickets) {
        match ticket.await {
            Ok(_) => assert!(!poisoned(i), "event {i} holds the refused value but was written"),
            Err(RecordError::Rejected(reason)) => {
                assert!(poisoned(i), "event {i} was refused: {reason}");
                let told = ["poison", "too big"].iter().any(|said| reason.contains(said));
                assert!(told, "the database's message is passed on: {reason}");
            }
            Err(other) => panic!("event {i}: {other}"),
        }
    }
    // ... and a lone one, with no other event to write: refused all the same.
    let lone = auditor.try_record(draft(40, true)).expect("room in the queue");
    let lone_id = lone.id();
    let lone = lone.await;
    assert!(matches!(lone, Err(RecordError::Rejected(_))), "{lone:?}");
    let next = auditor.record(draft(41, false)).await.expect("the chain goes on");
    assert_eq!(next.seq, 42, "39 events and 3 notes");
    auditor.shutdown().await;
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes), (39, 3, 3), "{stats:?}");

    let report = store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.lines.verified, 42);
    let lines = common::read_all(store.as_ref(), "default").await;
    let (mut order, mut noted) = (Vec::new(), Vec::new());
    for line in &lines {
        let event: serde_json::Value = serde_json::from_str(line).expect("a stored line is JSON");
        match event["details"]["i"].as_u64() {
            Some(i) => order.push(i),
            None => {
                assert_eq!(event["action"], REFUSAL_ACTION, "{line}");
                noted.push(event["resource"]["id"].as_str().expect("the refused event's id").to_string());
            }
        }
    }
    let expected: Vec<u64> = (0..42).filter(|&i| !poisoned(i) && i != 40).collect();
    assert_eq!(order, expected, "every other event exactly once, in the order recorded");
    assert_eq!(noted.len(), 3);
    assert_eq!(noted[2], lone_id.to_string(), "the note names the refused event");
    assert_eq!(store.head("default").await.expect("head").seq, 42);
}

on_all_backends!(only_the_refused_event_is_left_out);

/// A trigger that refuses every event row with a data error, as a table altered so that no
/// event fits: nothing is refused, and every event is written once, in order, when the
/// trigger is dropped (the table repaired) — also while the writer was narrowing a batch
/// down or trying its note.
async fn events_refused_all_alike_are_written_once_the_table_is_repaired(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let conn = db.connect().await;
    let (create, drop): (&[&str], &str) = match db.backend {
        Backend::Postgres => (
            &[
                "CREATE FUNCTION refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 RAISE EXCEPTION 'value too long for the column' USING ERRCODE = '22001'; END $$",
                "CREATE TRIGGER refuse_all BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_all()",
            ],
            "DROP TRIGGER refuse_all ON audit_events",
        ),
        Backend::MySql => (
            &["CREATE TRIGGER refuse_all BEFORE INSERT ON audit_events FOR EACH ROW \
               SIGNAL SQLSTATE '22001' SET MESSAGE_TEXT = 'value too long for the column'"],
            "DROP TRIGGER refuse_all",
        ),
        Backend::Sqlite => (
            &["CREATE TRIGGER refuse_all BEFORE INSERT ON audit_events BEGIN SELECT zeroblob(2000000000); END"],
            "DROP TRIGGER refuse_all",
        ),
    };
    for statement in create {
        conn.execute_unprepared(statement).await.expect("create the refusing trigger");
    }
    let retry = RetryPolicy { initial: std::time::Duration::from_millis(5), max: std::time::Duration::from_millis(50) };
    let auditor = Auditor::builder(store.clone()).max_batch(64).retry(retry).build();
    let mut tickets = Vec::new();
    for i in 0..100 {
        tickets.push(auditor.try_record(draft(i, false)).expect("room in the queue"));
        if i % 10 == 9 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    while auditor.is_healthy() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    conn.execute_unprepared(drop).await.expect("repair the table");
    let mut seqs = Vec::new();
    for (i, ticket) in tickets.into_iter().enumerate() {
        let receipt = ticket.await.unwrap_or_else(|e| panic!("event {i} was lost: {e}"));
        seqs.push(receipt.seq);
    }
    auditor.shutdown().await;
    assert_eq!(auditor.stats().rejected, 0);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in the order recorded: {seqs:?}");
    let report = store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    let lines = common::read_all(store.as_ref(), "default").await;
    let order: Vec<u64> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON")["details"]["i"].as_u64())
        .collect();
    assert_eq!(order, (0..100).collect::<Vec<u64>>(), "every event exactly once, in order");
}

on_all_backends!(events_refused_all_alike_are_written_once_the_table_is_repaired);
