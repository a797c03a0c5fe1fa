//! `AuditorBuilder::retry` keeps the writer's backoff within bounds whatever it is given: a
//! wait longer than `MAX_RETRY_WAIT` is that wait (`Duration::MAX` doubled would panic in the
//! writer's task), a first wait longer than the longest is the longest, and a wait shorter
//! than `MIN_RETRY_WAIT` is that wait (a first wait of zero doubled stays zero: the writer
//! retried a failing store without any pause for the whole outage). On tokio's paused
//! clock, which moves only when every task waits for a timer: the waits are counted in its
//! time, not measured.

use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::{Auditor, EventDraft, MAX_RETRY_WAIT, MIN_RETRY_WAIT, RetryPolicy, SealedEvent};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A store whose first `failures` appends fail without writing.
struct FailingFirst {
    inner: MemoryStore,
    failures: u64,
    appends: AtomicU64,
}

impl FailingFirst {
    fn new(failures: u64) -> FailingFirst {
        FailingFirst { inner: MemoryStore::new(), failures, appends: AtomicU64::new(0) }
    }
}

#[async_trait::async_trait]
impl AuditStore for FailingFirst {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        if self.appends.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(
                StoreError::Backend { context: "injected failure".into(), source: "connection reset".into() }.into()
            );
        }
        self.inner.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
}

/// Records one event through a store failing its first `failures` appends; returns the
/// paused clock's time it took.
async fn record_through_failures(retry: RetryPolicy, failures: u64) -> Duration {
    let store = Arc::new(FailingFirst::new(failures));
    let auditor = Auditor::builder(store.clone()).retry(retry).build();
    let started = tokio::time::Instant::now();
    auditor.record(EventDraft::new("update").resource("users", "1")).await.expect("recorded once the store works");
    let took = started.elapsed();
    auditor.shutdown().await;
    assert_eq!(store.inner.events("default").len(), 1, "the event, once");
    assert_eq!(auditor.stats().retries, failures);
    took
}

#[tokio::test(start_paused = true)]
async fn endless_waits_are_a_day_at_most() {
    let took = record_through_failures(RetryPolicy { initial: Duration::MAX, max: Duration::MAX }, 3).await;
    // Three waits of a day (the paused clock may add a millisecond per timer).
    assert!(took >= 3 * MAX_RETRY_WAIT && took < 3 * MAX_RETRY_WAIT + Duration::from_secs(1), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_first_wait_longer_than_the_longest_is_the_longest() {
    let retry = RetryPolicy { initial: Duration::from_secs(600), max: Duration::from_secs(1) };
    let took = record_through_failures(retry, 2).await;
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_first_wait_of_zero_still_doubles() {
    // Ten failures: waits of 1, 2, 4, … 512 times the shortest wait (the longest is far off).
    let retry = RetryPolicy { initial: Duration::ZERO, max: Duration::from_secs(3600) };
    let took = record_through_failures(retry, 10).await;
    let backoff = MIN_RETRY_WAIT * 1023;
    // The paused clock may add a millisecond per timer.
    assert!(took >= backoff && took <= backoff + Duration::from_millis(10), "{took:?}, not {backoff:?}");
}

#[tokio::test(start_paused = true)]
async fn a_longest_wait_of_zero_is_the_shortest_wait() {
    let retry = RetryPolicy { initial: Duration::ZERO, max: Duration::ZERO };
    let took = record_through_failures(retry, 10).await;
    let backoff = MIN_RETRY_WAIT * 10;
    assert!(took >= backoff && took <= backoff + Duration::from_millis(10), "{took:?}, not {backoff:?}");
}
