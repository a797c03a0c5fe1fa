//! A write of an audited entity through a non-audited connection (the plain pool, or a plain
//! transaction) fails in its `before_*` hook, before anything is written, with an error that
//! names the problem.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Harness, TestDb};
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait, Set, TransactionTrait};

fn explains(error: &DbErr) {
    let text = error.to_string();
    assert!(text.contains("must be written through AuditedDb"), "{text}");
    assert!(text.to_lowercase().contains("audit_seaorm_requires_auditeddb"), "the database error names it: {text}");
}

async fn plain_connection_write_fails_before_writing(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let new_user = users::ActiveModel {
        email: Set("plain@example.com".into()),
        name: Set("n".into()),
        score: Set(1),
        ssn: Set(None),
        updated_at: Set(0),
        ..Default::default()
    };

    // Insert through the plain pool.
    let error = new_user.clone().insert(&h.conn).await.expect_err("insert through a plain connection");
    explains(&error);
    assert_eq!(users::Entity::find().count(&h.conn).await.expect("count"), 0, "nothing was written");

    // Insert through a plain transaction.
    let plain = h.conn.begin().await.expect("begin");
    let error = new_user.clone().insert(&plain).await.expect_err("insert through a plain transaction");
    explains(&error);
    drop(plain);

    // Update and delete through the plain pool of a row written through the audited one.
    let row = new_user.insert(&h.db).await.expect("audited insert");
    let mut am = row.clone().into_active_model();
    am.score = Set(2);
    explains(&am.update(&h.conn).await.expect_err("update through a plain connection"));
    explains(&row.clone().into_active_model().delete(&h.conn).await.expect_err("delete through a plain connection"));
    let stored = users::Entity::find_by_id(row.id).one(&h.conn).await.expect("read").expect("still there");
    assert_eq!(stored.score, 1, "not updated");

    let events = h.events();
    assert_eq!(events.len(), 1, "only the audited insert: {events:#?}");
    h.finish().await;
}
on_all_backends!(plain_connection_write_fails_before_writing);
