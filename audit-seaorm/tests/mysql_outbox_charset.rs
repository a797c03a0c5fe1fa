//! MySQL/MariaDB: the outbox table is utf8mb4 whatever the database's default, as the audit
//! store's tables are. It took the default: in a latin1 database its `payload` could not hold
//! an emoji, and every audited transactional write of such text was refused at commit.

mod orm_common;

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_seaorm::orm::AuditedDb;
use orm_common::{Backend, TestDb, verified_events};
use sea_orm::entity::prelude::*;
use sea_orm::{Set, Statement, TransactionTrait};
use std::sync::Arc;

#[allow(unreachable_pub)] // the derives make public items
mod notes {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

/// A latin1 database with an application table that is utf8mb4 (as a careful application
/// makes it): a note "hi 😀" written in a transaction commits, with its event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_outbox_in_a_latin1_database_takes_an_emoji() {
    let Some(testdb) = TestDb::open(Backend::MySql, "outbox_latin1").await else { return };
    let conn = testdb.connect().await;
    let backend = conn.get_database_backend();
    for sql in [
        format!("ALTER DATABASE `{}` CHARACTER SET latin1 COLLATE latin1_swedish_ci", testdb.namespace),
        "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT NOT NULL) DEFAULT CHARSET=utf8mb4".to_string(),
    ] {
        conn.execute_raw(Statement::from_string(backend, sql.clone())).await.expect(&sql);
    }
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");

    let txn = db.begin().await.expect("begin");
    notes::ActiveModel { id: Set(1), body: Set("hi 😀".into()) }.insert(&txn).await.expect("insert");
    let committed = txn.commit().await.map_err(|e| e.to_string());
    let rows = notes::Entity::find().count(&conn).await.expect("count");
    auditor.shutdown().await;
    let events = verified_events(&store);
    testdb.cleanup().await;
    assert_eq!(committed, Ok(()), "the write of an emoji is refused by the audit outbox");
    assert_eq!((rows, events.len()), (1, 1));
}
