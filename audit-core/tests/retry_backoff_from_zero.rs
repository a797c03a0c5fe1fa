//! A `RetryPolicy` whose first wait is zero still backs off: the writer promises to retry a
//! failing store "with exponential backoff", and a zero wait doubled stays zero. Given
//! `initial: Duration::ZERO`, the writer retried a failing store (and a store refusing every
//! event) without any pause, as fast as it could, for the whole outage: a database that is down
//! was hammered with appends. Waits now are at least `MIN_RETRY_WAIT`, and double from there.
//!
//! On tokio's paused clock, which moves only when every task waits for a timer: the waits are
//! counted in its time, not measured.

use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::{Auditor, EventDraft, MIN_RETRY_WAIT, RetryPolicy, SealedEvent};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A store whose first `failures` appends fail without writing.
struct FailingFirst {
    inner: MemoryStore,
    failures: u64,
    appends: AtomicU64,
}

#[async_trait::async_trait]
impl AuditStore for FailingFirst {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        if self.appends.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(StoreError::Backend {
                context: "injected failure".into(),
                source: "connection refused".into(),
            }
            .into());
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
    let store = Arc::new(FailingFirst { inner: MemoryStore::new(), failures, appends: AtomicU64::new(0) });
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
