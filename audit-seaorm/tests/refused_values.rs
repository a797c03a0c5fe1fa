//! A value the database refuses for good (a data error: here raised by a test trigger for the
//! actor `poison`, standing for a limit or character no one has found yet) costs only the
//! event that holds it. Before, the store reported such an error like an unreachable server,
//! and the writer retried the batch for ever: every event behind it waited (an acknowledged
//! request hung). Now the store says a value was refused (`AppendError::RefusedValue`), the
//! writer narrows it down to the event, refuses it alone ([`RecordError::Rejected`], with the
//! database's message) once another event was written, and writes every other event once, in
//! order.

mod common;

use audit_core::store::AuditStore;
use audit_core::{Actor, Auditor, EventDraft, RecordError};
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
    // ... and a lone one: refused once the next event is written, not retried for ever.
    let lone = auditor.try_record(draft(40, true)).expect("room in the queue");
    let next = auditor.record(draft(41, false)).await.expect("the chain goes on");
    assert_eq!(next.seq, 39);
    let lone = lone.await;
    assert!(matches!(lone, Err(RecordError::Rejected(_))), "{lone:?}");
    auditor.shutdown().await;
    assert_eq!((auditor.stats().written, auditor.stats().rejected), (39, 3));

    let report = store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.lines.verified, 39);
    let lines = common::read_all(store.as_ref(), "default").await;
    let order: Vec<u64> = lines
        .iter()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("a stored line is JSON");
            event["details"]["i"].as_u64().expect("i")
        })
        .collect();
    let expected: Vec<u64> = (0..42).filter(|&i| !poisoned(i) && i != 40).collect();
    assert_eq!(order, expected, "every other event exactly once, in the order recorded");
    assert_eq!(store.head("default").await.expect("head").seq, 39);
}

on_all_backends!(only_the_refused_event_is_left_out);
