//! [`MemoryStore`]: chains kept in memory, for tests and examples.

use super::{AppendError, AuditStore, Head, LineStream, Query, QueryPage, StoreError, check_batch};
use crate::event::SealedEvent;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// A store in memory. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    chains: Mutex<BTreeMap<String, Vec<SealedEvent>>>,
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
        events.extend_from_slice(batch);
        Ok(head)
    }

    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        let lines: Vec<Result<String, StoreError>> = self
            .chains()
            .get(chain)
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e.seq() >= from && to.is_none_or(|to| e.seq() <= to))
                    .map(|e| Ok(e.line.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Box::pin(futures_util::stream::iter(lines))
    }

    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        let chains = self.chains();
        let matching = chains.values().flatten().filter(|e| query.matches(&e.event)).cloned();
        Ok(query.page(matching))
    }
}
