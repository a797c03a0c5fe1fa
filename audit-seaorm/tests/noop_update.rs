//! An update that changes nothing records nothing: nothing `Set`, values `Set` to what they
//! already are, or only ignored columns changed.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Harness, TestDb};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set, TransactionTrait};

async fn noop_update_records_nothing(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let alice = users::ActiveModel {
        email: Set("a@example.com".into()),
        name: Set("Alice".into()),
        score: Set(1),
        ssn: Set(None),
        updated_at: Set(1),
        ..Default::default()
    }
    .insert(&h.db)
    .await
    .expect("insert");
    assert_eq!(h.events().len(), 1);

    let txn = h.db.begin().await.expect("begin");
    // Nothing set: SeaORM sends no UPDATE.
    alice.clone().into_active_model().update(&txn).await.expect("update with nothing set");
    // Set to the same values: an UPDATE is sent, but nothing changes.
    let mut am = alice.clone().into_active_model();
    am.email = Set("a@example.com".into());
    am.score = Set(1);
    am.update(&txn).await.expect("update to the same values");
    // Only an ignored column changes.
    let mut am = alice.clone().into_active_model();
    am.updated_at = Set(99);
    am.update(&txn).await.expect("update of an ignored column");
    txn.commit().await.expect("commit");

    // Same, directly on the connection.
    let mut am = alice.clone().into_active_model();
    am.name = Set("Alice".into());
    am.update(&h.db).await.expect("autocommit no-op update");

    let events = h.events();
    assert_eq!(events.len(), 1, "only the create: {events:#?}");
    let stored = users::Entity::find_by_id(alice.id).one(&h.conn).await.expect("read").expect("row");
    assert_eq!(stored.updated_at, 99, "the ignored column was written");
    h.finish().await;
}
on_all_backends!(noop_update_records_nothing);
