//! The checkpoint publisher when it builds its frontier again (after the chain's newest events
//! were deleted and written again, or while the store cannot be read): due checkpoints are
//! not skipped, a checkpoint of the removed events is not signed after the rewrite, and a
//! chain that cannot be read is not read again on every append.

mod publisher_common;
use audit_core::checkpoint::NoteSigner;
use audit_core::merkle::Digest;
use audit_core::publish::CheckpointPolicy;
use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::{Auditor, RetryPolicy, SealedEvent};
use futures_util::StreamExt;
use publisher_common::{ORIGIN, Rewritable, draft, sink};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

fn fast_retry() -> RetryPolicy {
    RetryPolicy { initial: Duration::from_millis(10), max: Duration::from_millis(40) }
}

/// every_events(5). A records 1..=8 (checkpoint 5 published). Seq 8 is deleted and writer B
/// appends 8'..=12' (the multiple 10 passes, by B's events, as in any two-writer chain). A
/// records one more event (seq 13, chained on 12').
/// A checkpoint covering 10 (the size of the rebuilt frontier) is published once A's append is
/// applied, as 10 is when B's events are appended without the rewrite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multiple_passed_by_events_read_after_a_tail_rewrite_is_checkpointed() {
    let store = Rewritable::new();
    let (sink, published) = sink(Arc::default());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let policy = CheckpointPolicy::new(ORIGIN, signer, sink).expect("policy").every_events(5);
    let a = Auditor::builder(store.clone()).retry(fast_retry()).checkpoints(policy).build();
    for i in 1..=8 {
        a.record(draft("alice", i)).await.expect("A records");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(published.lock().expect("lock").iter().map(|p| p.0).collect::<Vec<_>>(), [5]);

    store.rewrite(7, 5).await; // 8'..=12'
    a.record(draft("alice", 13)).await.expect("A records seq 13");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_shutdown = published.lock().expect("lock").clone();
    a.shutdown().await;
    for &(size, root) in published.lock().expect("lock").iter() {
        assert_eq!(Some(root), store.stored_root(size), "checkpoint {size} has the stored events' root");
    }
    let sizes: Vec<u64> = before_shutdown.iter().map(|p| p.0).collect();
    assert!(
        sizes.iter().any(|&s| (10..=13).contains(&s)),
        "the multiple 10 passed (B's events 8'..=12', then A's seq 13), but no checkpoint covering it was \
         published before shutdown: {sizes:?}"
    );
}

/// every_events(5); the sink fails. A records 1..=5: checkpoint 5 (root R of events 1..=5) is
/// due, its publication fails and is retried. Events 4..=5 are deleted, writer B appends
/// 4'..=7', A records seq 8 (its publisher notices the rewrite and builds the frontier again).
/// The sink works again.
/// Every checkpoint signed after the rewrite has the root of the events stored at its size:
/// the pending checkpoint of the removed events is dropped with the frontier it came from (and
/// the current size marked due instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_checkpoint_of_removed_events_is_not_signed_after_the_rebuild() {
    let store = Rewritable::new();
    let failing = Arc::new(AtomicBool::new(true));
    let (sink, published) = sink(Arc::clone(&failing));
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let policy = CheckpointPolicy::new(ORIGIN, signer, sink).expect("policy").every_events(5);
    let a = Auditor::builder(store.clone()).retry(fast_retry()).checkpoints(policy).build();
    for i in 1..=5 {
        a.record(draft("alice", i)).await.expect("A records");
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(a.stats().checkpoint_failures > 0, "checkpoint 5 was due and failed");

    store.rewrite(3, 4).await; // 4'..=7'
    a.record(draft("alice", 8)).await.expect("A records seq 8");
    tokio::time::sleep(Duration::from_millis(150)).await;
    failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.shutdown().await;
    let published = published.lock().expect("lock").clone();
    assert!(!published.is_empty());
    for &(size, root) in &published {
        assert_eq!(
            Some(root),
            store.stored_root(size),
            "checkpoint {size}, signed after the rebuild that followed the rewrite, does not have the root of \
             the stored events at that size (published: {:?})",
            published.iter().map(|p| p.0).collect::<Vec<_>>()
        );
    }
}

/// A store whose stored event at `bad_seq` is read back altered (a corrupt row), counting the
/// lines it returns.
struct CorruptRow {
    inner: MemoryStore,
    bad_seq: u64,
    lines_read: AtomicU64,
}

#[async_trait::async_trait]
impl AuditStore for CorruptRow {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.inner.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        let bad = self.bad_seq;
        let mut seq = from;
        self.inner
            .read(chain, from, to)
            .map(move |line| {
                self.lines_read.fetch_add(1, Ordering::Relaxed);
                let this = seq;
                seq += 1;
                line.map(|l| if this == bad { l.replacen("alice", "mallory", 1) } else { l })
            })
            .boxed()
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        self.inner.merkle_nodes(chain, nodes).await
    }
}

/// A chain of 2,000 events whose seq 1,990 reads back corrupt (the frontier cannot be built);
/// a writer with checkpoints and a retry backoff of 10 s records 20 events, one at a time.
/// Within the backoff the chain is read about once (before, once per append applied: 18,028
/// lines for the 20 appends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frontier_that_cannot_be_built_is_not_read_again_on_every_append() {
    let store = Arc::new(CorruptRow { inner: MemoryStore::new(), bad_seq: 1990, lines_read: AtomicU64::new(0) });
    let first = Auditor::builder(store.clone()).build();
    for i in 1..=2000 {
        first.record(draft("alice", i)).await.expect("record");
    }
    first.shutdown().await;
    store.lines_read.store(0, Ordering::SeqCst);

    let (sink, _published) = sink(Arc::default());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let policy = CheckpointPolicy::new(ORIGIN, signer, sink).expect("policy").every_events(1000);
    let retry = RetryPolicy { initial: Duration::from_secs(10), max: Duration::from_secs(10) };
    let a = Auditor::builder(store.clone()).retry(retry).checkpoints(policy).build();
    for i in 1..=20 {
        a.record(draft("alice", 2000 + i)).await.expect("record");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = store.lines_read.load(Ordering::SeqCst);
    let failures = a.stats().checkpoint_failures;
    assert!(
        lines <= 3 * 2000,
        "{lines} lines were read for 20 appends within one retry backoff ({failures} failures counted): \
         the whole chain is read again on every append"
    );
}
