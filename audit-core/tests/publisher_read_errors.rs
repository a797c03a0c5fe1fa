//! The checkpoint publisher with a store whose reads fail for a while (it builds its frontier
//! from the events, one read of the whole chain): a chain of 5 events; a writer with
//! `every_events(10)` starts while reading the store fails, and records seq 6..=10; reads work
//! again; after the retry backoff it records seq 11..=15. Checkpoint 10, due when event 10 was
//! acknowledged, is published once the frontier could be built ("the newest due checkpoint is
//! tried again after the writer's RetryPolicy backoff", publish.rs).

use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::merkle::Digest;
use audit_core::publish::{CallbackSink, CheckpointPolicy};
use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::{Actor, Auditor, EventDraft, RetryPolicy, SealedEvent};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct FlakyReads {
    inner: MemoryStore,
    failing: AtomicBool,
}

#[async_trait::async_trait]
impl AuditStore for FlakyReads {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.inner.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        if self.failing.load(Ordering::SeqCst) {
            return futures_util::stream::once(async { Err(StoreError::Corrupt("transient read error".into())) })
                .boxed();
        }
        self.inner.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        self.inner.merkle_nodes(chain, nodes).await
    }
}

fn draft(i: u64) -> EventDraft {
    EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_due_while_reads_failed_is_published_once_they_work() {
    let store = Arc::new(FlakyReads { inner: MemoryStore::new(), failing: AtomicBool::new(false) });
    let first = Auditor::builder(store.clone()).build();
    for i in 1..=5 {
        first.record(draft(i)).await.expect("record");
    }
    first.shutdown().await;

    store.failing.store(true, Ordering::SeqCst);
    let sizes: Arc<Mutex<Vec<u64>>> = Arc::default();
    let kept = Arc::clone(&sizes);
    let sink = Arc::new(CallbackSink::new(move |checkpoint: &Checkpoint, _: &str| {
        kept.lock().expect("lock").push(checkpoint.size);
        Ok(())
    }));
    let signer = NoteSigner::generate("audit.example.com/default").expect("key");
    let policy = CheckpointPolicy::new("audit.example.com/default", signer, sink).expect("policy").every_events(10);
    let retry = RetryPolicy { initial: Duration::from_millis(20), max: Duration::from_millis(50) };
    let auditor = Auditor::builder(store.clone()).retry(retry).checkpoints(policy).build();
    for i in 6..=10 {
        auditor.record(draft(i)).await.expect("record");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(auditor.stats().checkpoint_failures > 0, "the failed reads were counted");

    store.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await; // several retry backoffs
    for i in 11..=15 {
        auditor.record(draft(i)).await.expect("record");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let published = sizes.lock().expect("lock").clone();
    auditor.shutdown().await;
    assert!(
        published.contains(&10),
        "checkpoint 10 (due at event 10, while reads failed) was never published once reads worked again; \
         published before shutdown: {published:?}; at shutdown: {:?}",
        sizes.lock().expect("lock")
    );
}
