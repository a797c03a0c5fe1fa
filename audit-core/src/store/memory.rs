//! [`MemoryStore`]: chains kept in memory, for tests and examples.

use super::{AppendError, AuditStore, Head, LineStream, Query, QueryPage, StoreError, check_batch};
use crate::event::SealedEvent;
use crate::merkle::{Digest, MemoryTree, SubtreeSource as _, leaf_hash};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

/// A store in memory. Nothing survives the process.
///
/// It keeps each chain's Merkle tree beside its events (64 bytes per event), so that
/// [`AuditStore::merkle_nodes`] answers and proofs cost O(log n).
#[derive(Debug, Default)]
pub struct MemoryStore {
    chains: Mutex<BTreeMap<String, Vec<SealedEvent>>>,
    /// Locked after `chains` when both are needed.
    trees: Mutex<BTreeMap<String, MemoryTree>>,
    /// Each chain's event ids (ids are unique in a chain). Locked after `chains`.
    ids: Mutex<BTreeMap<String, HashSet<Uuid>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn chains(&self) -> MutexGuard<'_, BTreeMap<String, Vec<SealedEvent>>> {
        // Appends are all-or-nothing pushes, so a poisoned lock holds consistent data.
        self.chains.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of every event of `chain`.
    pub fn events(&self, chain: &str) -> Vec<SealedEvent> {
        self.chains().get(chain).cloned().unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl AuditStore for MemoryStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        Ok(self.chains().get(chain).and_then(|events| events.last()).map(Head::of).unwrap_or(Head::EMPTY))
    }

    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let mut chains = self.chains();
        let events = chains.entry(chain.to_string()).or_default();
        let actual = events.last().map(Head::of).unwrap_or(Head::EMPTY);
        if actual != expected {
            return Err(AppendError::Conflict { expected, actual });
        }
        let head = check_batch(chain, expected, batch)?;
        let mut ids = self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ids = ids.entry(chain.to_string()).or_default();
        let mut in_batch = HashSet::new();
        let taken: Vec<Uuid> =
            batch.iter().map(|e| e.event.id).filter(|id| ids.contains(id) || !in_batch.insert(*id)).collect();
        if !taken.is_empty() {
            return Err(AppendError::Rejected {
                events: taken,
                reason: "the chain already has an event with this id".into(),
            });
        }
        let mut trees = self.trees.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tree = trees.entry(chain.to_string()).or_default();
        if tree.size().checked_add(batch.len() as u64).is_none() {
            return Err(StoreError::InvalidBatch(format!("chain {chain:?} cannot grow beyond u64::MAX events")).into());
        }
        for event in batch {
            // Cannot fail: the size was checked above.
            let _ = tree.push(leaf_hash(event.hash().as_bytes()));
        }
        events.extend_from_slice(batch);
        ids.extend(batch.iter().map(|e| e.event.id));
        Ok(head)
    }

    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        // Seqs are 1, 2, 3, … (appends are checked), so `seq` is at index `seq - 1`.
        let lines: Vec<Result<String, StoreError>> = self
            .chains()
            .get(chain)
            .map(|events| {
                let start = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX).min(events.len());
                let end = to.map_or(events.len(), |to| usize::try_from(to).unwrap_or(usize::MAX).min(events.len()));
                events.get(start..end.max(start)).unwrap_or_default().iter().map(|e| Ok(e.line.clone())).collect()
            })
            .unwrap_or_default();
        Box::pin(futures_util::stream::iter(lines))
    }

    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        let chains = self.chains();
        let matching = chains.values().flatten().filter(|e| query.matches(&e.event)).cloned();
        Ok(query.page(matching))
    }

    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        let trees = self.trees.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(mut tree) = trees.get(chain) else {
            return Ok(None);
        };
        Ok(nodes.iter().map(|&(level, index)| tree.subtree(level, index).ok()).collect())
    }
}
