//! [`HeadOnlyStore`]: a store for benchmarks that keeps each chain's head and nothing else.
//!
//! With it, a benchmark measures what the layer and the writer cost (drafting, redaction,
//! canonical form, hashing, chaining, the head check) without a store's own work, and without
//! `MemoryStore`'s growth by about 1 KB per event for the whole run. Shared by
//! `audit-tower/benches/layer.rs` and `examples/http_load_server.rs`.

use audit_core::SealedEvent;
use audit_core::store::{AppendError, AuditStore, Head, LineStream, Query, QueryPage, StoreError, check_batch};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Checks every batch like a real store (it must extend the head) and keeps only the new head.
#[derive(Debug, Default)]
pub(crate) struct HeadOnlyStore(Mutex<HashMap<String, Head>>);

impl HeadOnlyStore {
    fn heads(&self) -> MutexGuard<'_, HashMap<String, Head>> {
        // A head is replaced whole, so a poisoned lock holds a consistent map.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait::async_trait]
impl AuditStore for HeadOnlyStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        Ok(self.heads().get(chain).copied().unwrap_or_default())
    }

    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let mut heads = self.heads();
        let actual = heads.get(chain).copied().unwrap_or_default();
        if actual != expected {
            return Err(AppendError::Conflict { expected, actual });
        }
        let head = check_batch(chain, expected, batch)?;
        match heads.get_mut(chain) {
            Some(stored) => *stored = head,
            None => drop(heads.insert(chain.to_owned(), head)),
        }
        Ok(head)
    }

    fn read(&self, _chain: &str, _from: u64, _to: Option<u64>) -> LineStream<'_> {
        Box::pin(futures_util::stream::empty())
    }

    async fn query(&self, _query: &Query) -> Result<QueryPage, StoreError> {
        Ok(QueryPage { events: Vec::new(), next: None })
    }
}
