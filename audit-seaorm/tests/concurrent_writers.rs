//! 32 `Auditor`s (writer tasks) append to one chain through one store at once: every event is
//! stored exactly once, seqs run 1..N without gaps, and the chain verifies.

mod common;

use audit_core::store::AuditStore;
use audit_core::{Actor, Auditor, EventDraft, Receipt};
use common::{TestDb, read_all, verify_lines};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

const WRITERS: usize = 32;
const PER_WRITER: usize = 20;

async fn thirty_two_writers(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let auditor = Auditor::builder(store).max_batch(8).build();
            let mut receipts: Vec<Receipt> = Vec::new();
            let mut tickets = Vec::new();
            for i in 0..PER_WRITER {
                let draft =
                    EventDraft::new("update").actor(Actor::user(format!("w{w}"))).resource("items", format!("{w}-{i}"));
                // Half acknowledged one by one, half buffered, so batches of several sizes race.
                if i.is_multiple_of(2) {
                    receipts.push(auditor.record(draft).await.expect("record"));
                } else {
                    tickets.push(auditor.record_buffered(draft).await.expect("queue"));
                }
            }
            for ticket in tickets {
                receipts.push(ticket.await.expect("durable"));
            }
            auditor.shutdown().await;
            receipts
        }));
    }
    let mut receipts = Vec::new();
    for task in tasks {
        receipts.extend(task.await.expect("writer task"));
    }
    let total = WRITERS * PER_WRITER;
    assert_eq!(receipts.len(), total);

    let head = store.head("default").await.expect("head");
    assert_eq!(head.seq, total as u64, "one seq per event, no more");

    let lines = read_all(store.as_ref(), "default").await;
    assert_eq!(lines.len(), total);
    let report = verify_lines(&lines);
    assert!(report.is_valid(), "the chain must not fork or break: {:?}", report.broken);
    assert_eq!(report.head, head);

    // Exactly once: every receipt's id is stored once, at the receipt's seq, and nothing else.
    let mut stored: HashMap<String, u64> = HashMap::new();
    let mut resources = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let event = audit_core::Event::from_canonical_line(line).expect("event");
        assert_eq!(event.seq, i as u64 + 1, "seq 1..N in order");
        assert!(stored.insert(event.id.to_string(), event.seq).is_none(), "id {} stored twice", event.id);
        assert!(resources.insert(event.resource.id.clone()), "event {} stored twice", event.resource.id);
    }
    for receipt in &receipts {
        assert_eq!(stored.get(&receipt.id.to_string()), Some(&receipt.seq), "receipt {receipt:?} matches the store");
    }
    assert!(store.verify_chain("default").await.expect("verify").is_valid());
}
on_all_backends!(thirty_two_writers);
