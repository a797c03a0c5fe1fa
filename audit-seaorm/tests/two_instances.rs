//! Two application instances: two `SqlStore`s on two separate connection pools, each with its
//! own `Auditor`, append to the same chain at once. The head-row lock (or SQLite's write lock)
//! serializes them: no fork, every event exactly once, the chain verifies. The first append of
//! the chain races too (both create its head row).

mod common;

use audit_core::store::AuditStore;
use audit_core::{Actor, Auditor, EventDraft, Receipt};
use common::{TestDb, read_all, verify_lines};
use std::collections::HashSet;
use std::sync::Arc;

const PER_INSTANCE: usize = 150;

async fn two_pools_one_chain(db: &TestDb) {
    // Migrate once, then open two independent pools, as two processes would.
    db.migrated_store().await;
    let stores = [Arc::new(db.store().await), Arc::new(db.store().await)];
    let mut tasks = Vec::new();
    for (n, store) in stores.iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let auditor = Auditor::builder(store).chain("shared").max_batch(10).build();
            let mut tickets = Vec::new();
            for i in 0..PER_INSTANCE {
                let draft = EventDraft::new("update")
                    .actor(Actor::service(format!("instance-{n}")))
                    .resource("rows", i.to_string());
                tickets.push(auditor.record_buffered(draft).await.expect("queue"));
                if i.is_multiple_of(25) {
                    tokio::task::yield_now().await;
                }
            }
            let mut receipts: Vec<Receipt> = Vec::new();
            for ticket in tickets {
                receipts.push(ticket.await.expect("durable"));
            }
            auditor.shutdown().await;
            receipts
        }));
    }
    let mut receipts = Vec::new();
    for task in tasks {
        receipts.extend(task.await.expect("instance task"));
    }
    let total = 2 * PER_INSTANCE;
    assert_eq!(receipts.len(), total);

    for store in &stores {
        assert_eq!(store.head("shared").await.expect("head").seq, total as u64, "both instances see one head");
    }
    let lines = read_all(stores[0].as_ref(), "shared").await;
    assert_eq!(lines.len(), total, "exactly once: no event lost or repeated");
    let report = verify_lines(&lines);
    assert!(report.is_valid(), "no fork: {:?}", report.broken);

    let ids: HashSet<String> =
        lines.iter().map(|l| audit_core::Event::from_canonical_line(l).expect("event").id.to_string()).collect();
    assert_eq!(ids.len(), total);
    for receipt in &receipts {
        assert!(ids.contains(&receipt.id.to_string()), "acknowledged event {} is stored", receipt.id);
    }
    let seqs: HashSet<u64> = receipts.iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), total, "no two receipts share a seq");
    assert!(stores[1].verify_chain("shared").await.expect("verify").is_valid());
}
on_all_backends!(two_pools_one_chain);
