//! With a time-based policy (`every`) and a failing sink, the publisher waits idle for its
//! retry backoff. (Before, the timer fired at once again and again at `last_published_at +
//! every`, already past, until the retry: a CPU kept busy for the whole outage.)
//!
//! Observed without timing assertions: tokio's runtime metric `worker_park_count` counts how
//! often the runtime's thread went idle. While the application only waits (a 1 s sleep), the
//! publisher waiting for its 10 s backoff, the thread must park at least once.

use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::publish::{CallbackSink, CheckpointPolicy};
use audit_core::store::MemoryStore;
use audit_core::{Actor, Auditor, EventDraft, RetryPolicy};
use std::sync::Arc;
use std::time::Duration;

const ORIGIN: &str = "audit.example.com/default";

/// `every(100 ms)`, a sink that always fails, a retry backoff of 10 s (current-thread runtime).
/// One event is recorded; after 300 ms the time-based checkpoint of size 1 has come due and
/// failed once; the application then sleeps 1 s.
/// The publisher waits idle until its retry (10 s later), so during the 1 s sleep the runtime's
/// only thread parks.
#[tokio::test]
async fn a_failed_time_based_checkpoint_waits_for_its_backoff_idle() {
    let sink = Arc::new(CallbackSink::new(|_: &Checkpoint, _: &str| Err("sink unavailable".into())));
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let policy = CheckpointPolicy::new(ORIGIN, signer, sink).expect("policy").every(Duration::from_millis(100));
    let retry = RetryPolicy { initial: Duration::from_secs(10), max: Duration::from_secs(10) };
    let auditor = Auditor::builder(Arc::new(MemoryStore::new())).retry(retry).checkpoints(policy).build();
    auditor.record(EventDraft::new("login").actor(Actor::user("alice"))).await.expect("record");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(auditor.stats().checkpoint_failures, 1, "checkpoint 1 came due and failed; retried in 10 s");

    let metrics = tokio::runtime::Handle::current().metrics();
    let parks_before = metrics.worker_park_count(0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let parks = metrics.worker_park_count(0) - parks_before;
    let failures = auditor.stats().checkpoint_failures;
    auditor.shutdown().await;
    assert_eq!(failures, 1, "no retry was due within the backoff");
    assert!(
        parks > 0,
        "the runtime's thread never went idle while the application slept and the publisher waited for its \
         retry backoff: the publisher loops on a timer that is already past"
    );
}
