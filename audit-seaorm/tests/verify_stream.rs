//! How store verification reads a chain, a page of rows per query: the connection it reads on
//! goes back to the pool usable (also when verification stops halfway, and on a pool of one
//! connection, where the head is read again after the pages), and any chain name can be
//! verified.

mod common;

use audit_core::store::AuditStore;
use audit_core::verify::ChainVerifier;
use audit_core::{Actor, Auditor, EventDraft};
use audit_seaorm::SqlStore;
use common::TestDb;
use futures_util::FutureExt;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Records `count` events on `chain`.
async fn record(store: Arc<SqlStore>, chain: &str, count: usize) {
    let auditor = Auditor::builder(store).chain(chain).build();
    for i in 0..count {
        let draft = EventDraft::new("update").actor(Actor::user("alice")).resource("documents", i.to_string());
        auditor.record(draft).await.expect("record");
    }
    auditor.shutdown().await;
}

/// A pool of a single connection that is not tested before it is handed out: a connection left
/// in the middle of a read would fail (or hang) whoever gets it next.
async fn one_connection(db: &TestDb) -> DatabaseConnection {
    let mut options = ConnectOptions::new(db.url());
    options.max_connections(1).min_connections(0).test_before_acquire(false).sqlx_logging(false);
    Database::connect(options).await.expect("connect")
}

/// A store on [`one_connection`].
async fn one_connection_store(db: &TestDb, page: usize) -> SqlStore {
    SqlStore::new(one_connection(db).await).expect("a supported backend").with_read_page_size(page)
}

async fn any_chain_name_can_be_verified(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await.with_read_page_size(2));
    let chains = ["o'brien", "back\\slash \"quoted\" $1 $$x$$ ;--", "é 😀"];
    for (i, chain) in chains.iter().enumerate() {
        record(store.clone(), chain, 3 + i).await;
    }
    for (i, chain) in chains.iter().enumerate() {
        let report = store.verify_chain(chain).await.expect("verify");
        assert!(report.is_valid(), "{chain}: {report}");
        assert_eq!(report.lines.verified, 3 + i as u64, "{chain}: only its own events");
    }
    let unknown = store.verify_chain("o'").await.expect("verify an empty chain");
    assert_eq!(unknown.lines.verified, 0);
}
on_all_backends!(any_chain_name_can_be_verified);

async fn verifying_on_a_pool_of_one_connection_leaves_it_usable(db: &TestDb) {
    record(Arc::new(db.migrated_store().await), "default", 7).await;
    // Pages of 3 and of more than the chain: the last page short, and the only page short.
    for page in [3, 7, 100] {
        let store = one_connection_store(db, page).await;
        for _ in 0..2 {
            let report = store.verify_chain("default").await.expect("verify");
            assert!(report.is_valid(), "pages of {page}: {report}");
            assert_eq!(report.lines.verified, 7);
            assert_eq!(store.head("default").await.expect("the connection is usable").seq, 7);
        }
    }
}
on_all_backends!(verifying_on_a_pool_of_one_connection_leaves_it_usable);

async fn a_verification_that_stops_halfway_leaves_the_pool_usable(db: &TestDb) {
    record(Arc::new(db.migrated_store().await), "default", 50).await;
    let store = one_connection_store(db, 2).await;
    // Stop after the first page: the progress callback panics, and unwinding drops the read in
    // the middle of the chain, as any early exit would.
    let first_page = AtomicU64::new(0);
    let stopped =
        AssertUnwindSafe(store.verify_chain_with_progress("default", ChainVerifier::from_genesis(), |read| {
            first_page.store(read, Ordering::SeqCst);
            panic!("stop the verification after {read} events");
        }))
        .catch_unwind()
        .await;
    assert!(stopped.is_err(), "the verification stopped at its first page");
    assert_eq!(first_page.load(Ordering::SeqCst), 2, "it stopped with 48 events unread");
    // The single connection was not left in the middle of the read.
    assert_eq!(store.head("default").await.expect("the pool is usable").seq, 50);
    let report = store.verify_chain("default").await.expect("verify again");
    assert!(report.is_valid(), "{report}");
    assert_eq!(report.lines.verified, 50);
}
on_all_backends!(a_verification_that_stops_halfway_leaves_the_pool_usable);
