//! The checkpoint publisher outlives what panics around it: a sink that panics (a callback's
//! `unwrap`), a store whose read panics, an interval too long to add to an instant. Each once
//! ended the publisher's task: no checkpoint after it, the shutdown's included, and no failure
//! counted or kept.

use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::merkle::Digest;
use audit_core::publish::{CallbackSink, CheckpointPolicy};
use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::{Actor, Auditor, EventDraft, RetryPolicy, SealedEvent};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ORIGIN: &str = "audit.example.com/default";

fn fast_retry() -> RetryPolicy {
    RetryPolicy { initial: Duration::from_millis(5), max: Duration::from_millis(40) }
}

fn draft(i: usize) -> EventDraft {
    EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string())
}

/// A sink that keeps the sizes it was given, after panicking on its first `panics` calls.
fn sink(panics: usize, sizes: &Arc<Mutex<Vec<u64>>>, signer: &NoteSigner) -> Arc<CallbackSink> {
    let (calls, sizes, verifier) = (AtomicUsize::new(0), Arc::clone(sizes), signer.verifier());
    Arc::new(CallbackSink::new(move |checkpoint: &Checkpoint, note: &str| {
        assert!(calls.fetch_add(1, Ordering::SeqCst) >= panics, "the witness's client is gone");
        let opened = Checkpoint::verify(note, &verifier).expect("signed by the log's key");
        sizes.lock().expect("lock").push(opened.size);
        assert_eq!(opened.size, checkpoint.size);
        Ok(())
    }))
}

/// Records `n` events one at a time through the queue (the publisher runs between them).
async fn record(auditor: &Auditor, range: std::ops::Range<usize>) {
    for i in range {
        auditor.record_buffered(draft(i)).await.expect("queued").await.expect("recorded");
    }
}

#[tokio::test]
async fn a_panicking_sink_is_a_failed_publication_tried_again() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let policy =
        CheckpointPolicy::new(ORIGIN, signer.clone(), sink(1, &sizes, &signer)).expect("origin").every_events(2);
    let auditor = Auditor::builder(store).retry(fast_retry()).checkpoints(policy).build();
    record(&auditor, 0..5).await;
    auditor.shutdown().await;
    let stats = auditor.stats();
    assert!(stats.checkpoint_failures >= 1, "{stats:?}");
    let error = auditor.last_checkpoint_error().expect("the panic is kept as the last error");
    assert!(error.contains("panicked") && error.contains("the witness's client is gone"), "{error}");
    let sizes = sizes.lock().expect("lock").clone();
    assert_eq!(sizes.last(), Some(&5), "checkpoints go on after the panic, the shutdown's included: {sizes:?}");
    assert_eq!(stats.checkpoints_published, sizes.len() as u64);
}

/// A store whose first `panics` reads panic.
struct PanickingReads {
    inner: MemoryStore,
    panics: AtomicUsize,
}

#[async_trait::async_trait]
impl AuditStore for PanickingReads {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.inner.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        let left = self.panics.load(Ordering::SeqCst);
        if left > 0 {
            self.panics.store(left - 1, Ordering::SeqCst);
            panic!("a row the driver cannot decode");
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

/// The publisher reads the chain at start (3 events there already); that read panics once.
#[tokio::test]
async fn a_store_read_that_panics_is_a_failure_tried_again() {
    let store = Arc::new(PanickingReads { inner: MemoryStore::new(), panics: AtomicUsize::new(0) });
    let first = Auditor::builder(store.clone()).build();
    record(&first, 0..3).await;
    first.shutdown().await;
    store.panics.store(1, Ordering::SeqCst);

    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let policy =
        CheckpointPolicy::new(ORIGIN, signer.clone(), sink(0, &sizes, &signer)).expect("origin").every_events(2);
    let auditor = Auditor::builder(store.clone()).retry(fast_retry()).checkpoints(policy).build();
    record(&auditor, 3..6).await;
    auditor.shutdown().await;
    assert_eq!(store.panics.load(Ordering::SeqCst), 0, "the read panicked");
    let stats = auditor.stats();
    assert!(stats.checkpoint_failures >= 1, "{stats:?}");
    let error = auditor.last_checkpoint_error().expect("kept");
    assert!(error.contains("panicked") && error.contains("cannot decode"), "{error}");
    let sizes = sizes.lock().expect("lock").clone();
    assert_eq!(sizes.last(), Some(&6), "the final size is published at shutdown: {sizes:?}");
}

/// `every(Duration::MAX)` as "never by time": the timer's instant overflowed (a panic) at the
/// first event that was not a checkpoint.
#[tokio::test]
async fn an_interval_too_long_to_add_never_comes_due() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), sink(0, &sizes, &signer))
        .expect("origin")
        .every_events(2)
        .every(Duration::MAX);
    let auditor = Auditor::builder(store).retry(fast_retry()).checkpoints(policy).build();
    record(&auditor, 0..5).await;
    auditor.shutdown().await;
    assert_eq!(sizes.lock().expect("lock").clone(), [2, 4, 5]);
    assert_eq!(auditor.stats().checkpoint_failures, 0);
}
