//! An event the database refuses for good (here a test trigger refuses the actor `poison`
//! with a data error, standing for a value no column can take) is not in the trail, but the
//! writer's note about it is: `audit-trail query --action audit_event_refused` lists it,
//! naming the refused event's id, and the chain verifies.

mod common;
use common::*;

use audit_core::{Actor, Auditor, EventDraft, RecordError};
use audit_seaorm::SqlStore;
use sea_orm::ConnectionTrait;
use std::sync::Arc;

/// A trigger that refuses every event row of actor `poison` with a data error.
fn refuse_the_poison_actor(db: &TestDb) -> &'static [&'static str] {
    match db.backend {
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
    }
}

fn an_auditor_finds_the_refused_event_by_its_note(db: &TestDb) {
    let refused_id = db.block_on(async {
        let conn = db.connect_async().await;
        let store = Arc::new(SqlStore::new(conn.clone()).expect("supported backend"));
        store.migrate().await.expect("migrate");
        for statement in refuse_the_poison_actor(db) {
            conn.execute_unprepared(statement).await.expect("create the refusing trigger");
        }
        let auditor = Auditor::builder(store.clone()).build();
        let draft = |actor: &str| EventDraft::new("update").actor(Actor::user(actor)).resource("doc", "1");
        auditor.record(draft("alice")).await.expect("written");
        let poisoned = auditor.try_record(draft("poison")).expect("room");
        let refused_id = poisoned.id();
        assert!(matches!(poisoned.await, Err(RecordError::Rejected(_))));
        auditor.record(draft("bob")).await.expect("written");
        auditor.shutdown().await;
        conn.close().await.expect("close");
        refused_id
    });

    let verify = run(&["verify", "--db", db.url()]);
    assert_exit(&verify, 0);
    assert!(stdout(&verify).contains("valid: 3 events"), "{}", stdout(&verify));
    let notes = run(&["query", "--db", db.url(), "--action", "audit_event_refused", "--format", "json"]);
    assert_exit(&notes, 0);
    let lines: Vec<serde_json::Value> =
        stdout(&notes).lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 1, "{}", stdout(&notes));
    assert_eq!(lines[0]["seq"], 2);
    assert_eq!(lines[0]["resource"]["type"], "audit_event");
    assert_eq!(lines[0]["resource"]["id"], refused_id.to_string());
    assert_eq!(lines[0]["actor"]["id"], "audit-writer");
    assert_eq!(lines[0]["outcome"], "failure");
    let poison = run(&["query", "--db", db.url(), "--actor", "poison", "--format", "json"]);
    assert_exit(&poison, 0);
    assert!(stdout(&poison).is_empty(), "the refused event itself is not stored: {}", stdout(&poison));
}
on_all_backends!(an_auditor_finds_the_refused_event_by_its_note);
