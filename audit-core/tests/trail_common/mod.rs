//! What the checkpoint verification tests share: a chain of plain events as canonical lines,
//! the checkpoint a log signed of its first events, and an attacker's rewrite that recomputes
//! every later hash.

#![allow(dead_code, unreachable_pub)] // each test binary uses part of it

use audit_core::checkpoint::Checkpoint;
use audit_core::merkle::{MemoryTree, leaf_hash};
use audit_core::store::MemoryStore;
use audit_core::{Actor, Auditor, Event, EventDraft, EventHash};
use serde_json::json;
use std::sync::Arc;

/// The origin of the log in these tests.
pub const ORIGIN: &str = "audit.example.com/default";

/// `n` events of chain "default" as the writer seals them (batches of 7), as lines.
pub fn chain(n: usize) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = Arc::new(MemoryStore::new());
        let auditor = Auditor::builder(store.clone()).max_batch(7).build();
        for i in 0..n {
            let draft = EventDraft::new("update").actor(Actor::user(format!("user{}", i % 3))).detail("n", json!(i));
            auditor.record_buffered(draft).await.expect("queued");
        }
        auditor.shutdown().await;
        store.events("default").into_iter().map(|e| e.line).collect()
    })
}

/// The checkpoint of the first `size` lines, as the log signed it then.
pub fn checkpoint_of(lines: &[String], size: usize) -> Checkpoint {
    let mut tree = MemoryTree::new();
    for line in &lines[..size] {
        let event = Event::from_canonical_line(line).expect("valid");
        tree.push(leaf_hash(event.hash.as_bytes())).expect("not full");
    }
    Checkpoint::new(ORIGIN, size as u64, tree.root())
}

/// Recomputes `prev` and `hash` of every line from index `from` on, as an attacker who
/// rewrote one would, so that the links hold again.
pub fn rehash_from(lines: &mut [String], from: usize) {
    let mut prev =
        if from == 0 { EventHash::ZERO } else { Event::from_canonical_line(&lines[from - 1]).expect("valid").hash };
    for line in lines[from..].iter_mut() {
        let mut event = Event::from_canonical_line(line).expect("valid");
        event.prev = prev;
        event.hash = event.compute_hash();
        prev = event.hash;
        *line = event.to_canonical_line();
    }
}
