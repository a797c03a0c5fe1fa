//! Code written for a `DatabaseConnection` runs on `AuditedDb` and `AuditedTransaction`:
//! inherent `ping` and `get_database_backend` (not ambiguous with sea-orm's traits in scope).
//! (`StreamTrait`: `tests/streams.rs`.)

mod orm_common;

use orm_common::{Harness, TestDb};
use sea_orm::*;

async fn ping_and_backend_answer_as_on_the_plain_connection(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    h.db.ping().await.expect("ping");
    // Inherent, so not ambiguous with `ConnectionTrait` and `StreamTrait` both in scope
    // (`use sea_orm::*`).
    let backend = h.conn.get_database_backend();
    assert_eq!(h.db.get_database_backend(), backend);
    let txn = h.db.begin().await.expect("begin");
    assert_eq!(txn.get_database_backend(), backend);
    txn.rollback().await.expect("rollback");
    assert!(h.events().is_empty(), "a ping records nothing");
    h.finish().await;
}
on_all_backends!(ping_and_backend_answer_as_on_the_plain_connection);
