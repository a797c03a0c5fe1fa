//! Create, update and delete record the right diffs: every column on create, only the changed
//! columns (old and new) on update, every column as old on delete; ignored columns left out,
//! redacted columns hidden; composite keys as JSON array text. In a transaction and directly
//! on the connection (autocommit).

mod orm_common;

use orm_common::entities::{memberships, users};
use orm_common::{Harness, TestDb, change, fields, user};
use sea_orm::{ActiveModelTrait, IntoActiveModel, ModelTrait, Set, TransactionTrait};
use serde_json::json;

async fn create_update_delete(testdb: TestDb) {
    let h = Harness::new(testdb).await;

    let txn = h.db.begin().await.expect("begin");
    let alice = users::ActiveModel {
        email: Set("a@old.example".into()),
        name: Set("Alice".into()),
        score: Set(1),
        ssn: Set(Some("123-45-6789".into())),
        updated_at: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .expect("insert");
    let mut am = alice.clone().into_active_model();
    am.email = Set("a@new.example".into());
    am.score = Set(2);
    am.updated_at = Set(2);
    let alice = am.update(&txn).await.expect("update");
    assert!(h.events().is_empty(), "nothing is recorded before the commit");
    txn.commit().await.expect("commit");

    let events = h.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let create = &events[0];
    assert_eq!(create.action, "create");
    assert_eq!((create.resource.kind.as_str(), create.resource.id.clone()), ("users", alice.id.to_string()));
    assert_eq!(fields(create), ["email", "id", "name", "score", "ssn"], "every column but the ignored updated_at");
    assert_eq!(change(create, "email"), Some((None, Some(json!("a@old.example")))));
    assert_eq!(change(create, "id"), Some((None, Some(json!(alice.id)))));
    assert_eq!(change(create, "ssn"), Some((None, Some(json!("[REDACTED]")))), "the entity redacts ssn");
    assert_eq!(create.outcome.as_str(), "success");

    let update = &events[1];
    assert_eq!(update.action, "update");
    assert_eq!(update.resource.id, alice.id.to_string());
    assert_eq!(fields(update), ["email", "score"], "only the changed columns (updated_at is ignored)");
    assert_eq!(change(update, "email"), Some((Some(json!("a@old.example")), Some(json!("a@new.example")))));
    assert_eq!(change(update, "score"), Some((Some(json!(1)), Some(json!(2)))));

    // A redacted column that changes is recorded as changed, without its values.
    let mut am = alice.clone().into_active_model();
    am.ssn = Set(Some("987-65-4321".into()));
    let alice = am.update(&h.db).await.expect("update ssn (autocommit)");
    let events = h.events();
    assert_eq!(events.len(), 3, "autocommit writes are recorded right after the statement");
    assert_eq!(change(&events[2], "ssn"), Some((Some(json!("[REDACTED]")), Some(json!("[REDACTED]")))));
    assert_eq!(fields(&events[2]), ["ssn"]);

    // Delete, autocommit: every column as old.
    alice.clone().delete(&h.db).await.expect("delete");
    let events = h.events();
    assert_eq!(events.len(), 4);
    let delete = &events[3];
    assert_eq!(delete.action, "delete");
    assert_eq!(delete.resource.id, alice.id.to_string());
    assert_eq!(fields(delete), ["email", "id", "name", "score", "ssn"]);
    assert_eq!(change(delete, "email"), Some((Some(json!("a@new.example")), None)));
    assert_eq!(change(delete, "name"), Some((Some(json!("Alice")), None)));

    // Deleting a row that is not there records nothing.
    alice.delete(&h.db).await.expect("delete again");
    assert_eq!(h.events().len(), 4);

    // Composite key: the resource id is the JSON array text of the key values.
    let txn = h.db.begin().await.expect("begin");
    let member = memberships::ActiveModel { user_id: Set(7), org: Set("acme".into()), role: Set("member".into()) }
        .insert(&txn)
        .await
        .expect("insert membership");
    let mut am = member.into_active_model();
    am.role = Set("owner".into());
    am.update(&txn).await.expect("update membership");
    txn.commit().await.expect("commit");
    let events = h.events();
    assert_eq!(events.len(), 6);
    assert_eq!((events[4].resource.kind.as_str(), events[4].resource.id.as_str()), ("memberships", r#"[7,"acme"]"#));
    assert_eq!(events[5].resource.id, r#"[7,"acme"]"#);
    assert_eq!(change(&events[5], "role"), Some((Some(json!("member")), Some(json!("owner")))));
    assert_eq!(fields(&events[5]), ["role"]);

    h.finish().await;
}
on_all_backends!(create_update_delete);

/// `update_without_returning` runs `before_save` only: the write is recorded at commit as a
/// `bulk` event with the old values, hidden by the entity's own `redact` list too (here the
/// only protection: the policies redact nothing).
async fn an_update_without_returning_is_recorded_with_its_columns_redacted(testdb: TestDb) {
    use audit_core::RedactionPolicy;
    let conn = testdb.connect().await;
    orm_common::create_tables(&conn).await;
    let store = std::sync::Arc::new(audit_core::store::MemoryStore::new());
    let auditor = audit_core::Auditor::builder(store.clone()).redaction(RedactionPolicy::none()).build();
    let db = audit_seaorm::AuditedDb::builder(conn, auditor.clone(), store.clone())
        .redaction(RedactionPolicy::none())
        .build();
    db.migrate_outbox().await.expect("migrate the outbox");
    let alice = users::ActiveModel {
        email: Set("a@old.example".into()),
        name: Set("Alice".into()),
        score: Set(1),
        ssn: Set(Some("123-45-6789".into())),
        updated_at: Set(1),
        ..Default::default()
    }
    .insert(&db)
    .await
    .expect("insert");

    let txn = db.begin().await.expect("begin");
    let mut am = alice.clone().into_active_model();
    am.score = Set(2);
    am.update_without_returning(&txn).await.expect("update");
    txn.commit().await.expect("commit");

    let events = orm_common::verified_events(&store);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(change(&events[0], "ssn"), Some((None, Some(json!("[REDACTED]")))), "the create event");
    let bulk = &events[1];
    assert_eq!((bulk.action.as_str(), bulk.resource.id.clone()), ("bulk", alice.id.to_string()));
    assert_eq!(change(bulk, "score"), Some((Some(json!(1)), None)));
    assert_eq!(change(bulk, "ssn"), Some((Some(json!("[REDACTED]")), None)), "the entity's redacted column");
    let line = serde_json::to_string(bulk).expect("json");
    assert!(!line.contains("123-45-6789"), "the secret never reaches the trail: {line}");
    auditor.shutdown().await;
    testdb.cleanup().await;
}
on_all_backends!(an_update_without_returning_is_recorded_with_its_columns_redacted);

/// The `bulk` event of an `update_without_returning` is the write's own: it keeps its place
/// among the transaction's events, carries the actor of the scope it ran in (not of the one
/// that commits), and goes with a savepoint rolled back.
async fn an_update_without_returning_keeps_its_place_actor_and_savepoint(testdb: TestDb) {
    use audit_core::Actor;
    use audit_core::scope::AuditScope;
    let h = Harness::new(testdb).await;
    let row = |email: &str| users::ActiveModel { score: Set(1), ..user(email) };
    let kept = row("kept@x").insert(&h.db).await.expect("insert");
    let undone = row("undone@x").insert(&h.db).await.expect("insert");
    let bump = |model: &users::Model| {
        let mut am = model.clone().into_active_model();
        am.score = Set(2);
        am
    };

    let db = h.db.clone();
    let txn = AuditScope::with_actor(Actor::user("alice"))
        .run(async move {
            let txn = db.begin().await.expect("begin");
            bump(&kept).update_without_returning(&txn).await.expect("update");
            let savepoint = txn.begin().await.expect("savepoint");
            bump(&undone).update_without_returning(&savepoint).await.expect("update");
            savepoint.rollback().await.expect("roll the savepoint back");
            row("after@x").insert(&txn).await.expect("insert");
            txn
        })
        .await;
    AuditScope::with_actor(Actor::user("mallory")).run(async move { txn.commit().await.expect("commit") }).await;

    let events = h.events();
    let summary: Vec<(&str, &str, &str)> =
        events[2..].iter().map(|e| (e.action.as_str(), e.resource.id.as_str(), e.actor.id.as_str())).collect();
    let kept_id = events[0].resource.id.as_str();
    let after_id = events[3].resource.id.as_str();
    assert_eq!(
        summary,
        [("bulk", kept_id, "alice"), ("create", after_id, "alice")],
        "the rolled-back update is not recorded; the other in write order, by alice: {events:#?}"
    );
    assert_eq!(change(&events[2], "score"), Some((Some(json!(1)), None)));
    h.finish().await;
}
on_all_backends!(an_update_without_returning_keeps_its_place_actor_and_savepoint);
