//! A checkpoint pending from a frontier the publisher had to give up (its catch-up read
//! failed, and the chain's newest events were rewritten meanwhile) is not signed: not after
//! the frontier is built again (the current size is marked instead), and not at shutdown when
//! no frontier can be built. A pending checkpoint is signed only while the frontier it came
//! from is kept.

mod publisher_common;
use audit_core::checkpoint::NoteSigner;
use audit_core::merkle::Digest;
use audit_core::publish::CheckpointPolicy;
use audit_core::{Auditor, RetryPolicy};
use publisher_common::{ORIGIN, Rewritable, Signed, draft, sink};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Common start: `every(100 ms)`, a fixed 300 ms retry backoff, the sink failing.
/// A records 1..=5; after 100 ms checkpoint 5 (root R of A's events 1..=5) is due and fails.
/// Events 4..=5 are deleted and writer B appends 4'..=7'; reads start failing; A records seq 8
/// (its publisher's catch-up of 6'..=7' fails: frontier None, checkpoint (5, R) still pending).
async fn start() -> (Arc<Rewritable>, Auditor, Arc<AtomicBool>, Signed) {
    let store = Rewritable::new();
    let failing_sink = Arc::new(AtomicBool::new(true));
    let (sink, published) = sink(Arc::clone(&failing_sink));
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let policy = CheckpointPolicy::new(ORIGIN, signer, sink).expect("policy").every(Duration::from_millis(100));
    let retry = RetryPolicy { initial: Duration::from_millis(300), max: Duration::from_millis(300) };
    let a = Auditor::builder(store.clone()).max_batch(1).retry(retry).checkpoints(policy).build();
    for i in 1..=5 {
        a.record(draft("alice", i)).await.expect("A records");
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(a.stats().checkpoint_failures, 1, "time-based checkpoint 5 came due and its publication failed");

    store.rewrite(3, 4).await; // 4'..=7'
    store.failing_reads.store(true, Ordering::SeqCst);
    a.record(draft("alice", 8)).await.expect("A records seq 8");
    for _ in 0..10_000 {
        if a.stats().checkpoint_failures >= 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(a.stats().checkpoint_failures, 2, "the catch-up read of 6'..=7' failed");
    (store, a, failing_sink, published)
}

fn wrong_roots(store: &Rewritable, published: &[(u64, Digest)]) -> Vec<u64> {
    published.iter().filter(|&&(size, root)| store.stored_root(size) != Some(root)).map(|p| p.0).collect()
}

/// After the start above, reads and the sink work again. The runtime thread is busy for
/// 500 ms (past the 300 ms backoff), then A records seq 9: its append is the first thing the
/// publisher sees after the backoff ended (the timer has not run yet), so `apply` builds the
/// frontier again (frontier None, retry_at passed: the fresh path), from the events as stored.
/// Every checkpoint signed after that rebuild has the root of the stored events at its size
/// (before, checkpoint 5 was signed with R, then checkpoints of the new chain: two
/// inconsistent trees under one key).
#[tokio::test]
async fn a_pending_checkpoint_of_a_given_up_frontier_is_not_signed_after_an_append_rebuilds_it() {
    let (store, a, failing_sink, published) = start().await;
    store.failing_reads.store(false, Ordering::SeqCst);
    failing_sink.store(false, Ordering::SeqCst);
    // Busy past the backoff (the writer and publisher tasks wait; not asserted on).
    std::thread::sleep(Duration::from_millis(500));
    a.record(draft("alice", 9)).await.expect("A records seq 9");
    tokio::time::sleep(Duration::from_millis(400)).await;
    a.shutdown().await;
    let published = published.lock().expect("lock").clone();
    assert!(!published.is_empty());
    assert!(
        wrong_roots(&store, &published).is_empty(),
        "checkpoints {:?} were signed (after the frontier was built again from the rewritten chain) with a root \
         that is not the stored events' root at their size; published: {:?}",
        wrong_roots(&store, &published),
        published.iter().map(|p| p.0).collect::<Vec<_>>()
    );
}

/// After the start above, the sink works again, reads still fail; A shuts down.
/// The checkpoint pending from the frontier that was given up is not signed as the final
/// state; with no frontier, nothing is signed.
#[tokio::test]
async fn shutdown_with_no_frontier_does_not_sign_the_given_up_frontiers_pending_checkpoint() {
    let (store, a, failing_sink, published) = start().await;
    failing_sink.store(false, Ordering::SeqCst);
    a.shutdown().await;
    let published = published.lock().expect("lock").clone();
    assert!(
        wrong_roots(&store, &published).is_empty(),
        "at shutdown (reads failing, frontier None) checkpoints {:?} were signed with a root that is not the \
         stored events' root at their size",
        wrong_roots(&store, &published)
    );
}
