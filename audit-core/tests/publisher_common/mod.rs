//! What the checkpoint publisher's tests share: a store whose chain can be rewritten (and
//! whose reads can fail) under a running writer, and a sink that keeps what it signed.

#![allow(dead_code)] // each test binary uses part of it

use audit_core::checkpoint::Checkpoint;
use audit_core::merkle::{CompactRange, Digest, leaf_hash};
use audit_core::publish::CallbackSink;
use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::{Actor, Auditor, EventDraft, SealedEvent};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub(crate) const ORIGIN: &str = "audit.example.com/default";

pub(crate) fn draft(who: &str, i: u64) -> EventDraft {
    EventDraft::new("update").actor(Actor::user(who)).resource("doc", i.to_string())
}

/// A store whose chain can be replaced under a running writer (the newest events deleted and
/// written again, as a superuser and another writer would), and whose reads fail while
/// `failing_reads` is set.
pub(crate) struct Rewritable {
    inner: RwLock<Arc<MemoryStore>>,
    pub failing_reads: AtomicBool,
}

impl Rewritable {
    pub(crate) fn new() -> Arc<Rewritable> {
        Arc::new(Rewritable { inner: RwLock::new(Arc::new(MemoryStore::new())), failing_reads: AtomicBool::new(false) })
    }
    fn current(&self) -> Arc<MemoryStore> {
        Arc::clone(&self.inner.read().expect("lock"))
    }
    /// Keeps events 1..=keep, then writer B (another process) appends `by_b` events.
    pub(crate) async fn rewrite(&self, keep: usize, by_b: u64) {
        let old = self.current().events("default");
        let fresh = Arc::new(MemoryStore::new());
        fresh.append("default", Head::EMPTY, &old[..keep]).await.expect("copy the kept events");
        let b = Auditor::builder(fresh.clone()).build();
        for i in 0..by_b {
            b.record(draft("bob", i)).await.expect("B records");
        }
        b.shutdown().await;
        *self.inner.write().expect("lock") = fresh;
    }
    /// The root of the first `size` events as stored now.
    pub(crate) fn stored_root(&self, size: u64) -> Option<Digest> {
        let events = self.current().events("default");
        if (events.len() as u64) < size {
            return None;
        }
        let mut range = CompactRange::new();
        for event in &events[..size as usize] {
            range.push(leaf_hash(event.hash().as_bytes())).expect("push");
        }
        Some(range.root())
    }
}

#[async_trait::async_trait]
impl AuditStore for Rewritable {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.current().head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.current().append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        if self.failing_reads.load(Ordering::SeqCst) {
            return futures_util::stream::once(async { Err(StoreError::Corrupt("transient read error".into())) })
                .boxed();
        }
        let store = self.current();
        let chain = chain.to_string();
        futures_util::stream::once(async move { store.read(&chain, from, to).collect::<Vec<_>>().await })
            .flat_map(futures_util::stream::iter)
            .boxed()
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.current().query(query).await
    }
    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        self.current().merkle_nodes(chain, nodes).await
    }
}

/// The (size, root) of each checkpoint a sink took.
pub(crate) type Signed = Arc<Mutex<Vec<(u64, Digest)>>>;

/// A sink keeping (size, root) of each checkpoint, failing while `failing` is set.
pub(crate) fn sink(failing: Arc<AtomicBool>) -> (Arc<CallbackSink>, Signed) {
    let published: Signed = Arc::default();
    let kept = Arc::clone(&published);
    let sink = Arc::new(CallbackSink::new(move |checkpoint: &Checkpoint, _: &str| {
        if failing.load(Ordering::SeqCst) {
            return Err("sink unavailable".into());
        }
        kept.lock().expect("lock").push((checkpoint.size, checkpoint.root));
        Ok(())
    }));
    (sink, published)
}
