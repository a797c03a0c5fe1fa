//! The writer's promises: every event exactly once, in order, under load, on store errors,
//! across writers, and through shutdown.

use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::writer::TryRecordError;
use audit_core::{Actor, Auditor, DraftError, EventDraft, RecordError, RetryPolicy, SealedEvent, scope};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

fn fast_retry() -> RetryPolicy {
    RetryPolicy { initial: Duration::from_millis(1), max: Duration::from_millis(20) }
}

/// Checks the store's chain: valid from genesis, exactly `n` events, ids unique.
fn assert_exact_chain(store: &MemoryStore, n: usize) -> Vec<SealedEvent> {
    let events = store.events("default");
    assert_eq!(events.len(), n, "exactly {n} events");
    let seqs: Vec<u64> = events.iter().map(SealedEvent::seq).collect();
    assert_eq!(seqs, (1..=n as u64).collect::<Vec<_>>(), "seq 1..={n} with no gaps");
    let ids: HashSet<_> = events.iter().map(|e| e.event.id).collect();
    assert_eq!(ids.len(), n, "no event written twice");
    let mut text = String::new();
    for event in &events {
        text.push_str(&event.line);
        text.push('\n');
    }
    let report = verify_reader(text.as_bytes(), ChainVerifier::from_genesis()).expect("in memory");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.verified, n as u64);
    events
}

/// Records `per_task` events from each of `tasks` tasks, each waiting for its receipt, and
/// checks every task's events were chained in the order it recorded them.
async fn record_concurrently(auditor: &Auditor, tasks: usize, per_task: usize) -> Vec<u64> {
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let auditor = auditor.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let draft =
                        EventDraft::new("write").actor(Actor::service(format!("task{t}"))).detail("i", json!(i));
                    seqs.push(auditor.record(draft).await.expect("recorded").seq);
                }
                seqs
            })
        })
        .collect();
    let mut all = Vec::new();
    for handle in handles {
        let seqs = handle.await.expect("task");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "a task's events are chained in the order it recorded them");
        all.extend(seqs);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_tasks_times_a_thousand_events_land_exactly_once() {
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let mut receipts = record_concurrently(&auditor, 64, 1000).await;
    auditor.shutdown().await;
    receipts.sort_unstable();
    assert_eq!(receipts, (1..=64_000).collect::<Vec<_>>(), "one receipt per event, each seq once");
    assert_exact_chain(&store, 64_000);
    let stats = auditor.stats();
    assert_eq!((stats.queued, stats.written), (64_000, 64_000));
    assert!(stats.batches < 64_000, "group commit batched events: {stats:?}");
    assert_eq!(stats.batch_size_buckets.iter().sum::<u64>(), stats.batches);
}

/// A store that fails some appends, before or after writing.
struct FlakyStore {
    inner: MemoryStore,
    appends: AtomicU64,
    fail_every: u64,
    fail_after_write: bool,
    failures: AtomicU64,
}

impl FlakyStore {
    fn new(fail_every: u64, fail_after_write: bool) -> FlakyStore {
        FlakyStore {
            inner: MemoryStore::new(),
            appends: AtomicU64::new(0),
            fail_every,
            fail_after_write,
            failures: AtomicU64::new(0),
        }
    }
    fn injected() -> StoreError {
        StoreError::Backend { context: "injected failure".into(), source: "connection reset".into() }
    }
}

#[async_trait::async_trait]
impl AuditStore for FlakyStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
        if !n.is_multiple_of(self.fail_every) {
            return self.inner.append(chain, expected, batch).await;
        }
        self.failures.fetch_add(1, Ordering::SeqCst);
        if self.fail_after_write {
            self.inner.append(chain, expected, batch).await?;
        }
        Err(FlakyStore::injected().into())
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failing_every_seventh_append_loses_and_repeats_nothing() {
    let store = Arc::new(FlakyStore::new(7, false));
    let auditor = Auditor::builder(store.clone()).max_batch(16).retry(fast_retry()).build();
    record_concurrently(&auditor, 8, 250).await;
    auditor.shutdown().await;
    assert_exact_chain(&store.inner, 2000);
    let failures = store.failures.load(Ordering::SeqCst);
    assert!(failures > 0, "the store did fail");
    assert_eq!(auditor.stats().retries, failures);
    assert_eq!(auditor.stats().recovered_writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_that_failed_after_writing_is_recognised_not_repeated() {
    let store = Arc::new(FlakyStore::new(5, true));
    let auditor = Auditor::builder(store.clone()).max_batch(16).retry(fast_retry()).build();
    record_concurrently(&auditor, 8, 250).await;
    auditor.shutdown().await;
    assert_exact_chain(&store.inner, 2000);
    let failures = store.failures.load(Ordering::SeqCst);
    assert!(failures > 0);
    assert_eq!(auditor.stats().recovered_writes, failures, "every written-then-failed batch was recognised");
}

/// A store whose every `every`-th append is written but reported failed, after which its
/// head is unreadable for the next `blind_heads` calls (the connection is still down).
struct BlindAfterWriteStore {
    inner: MemoryStore,
    appends: AtomicU64,
    every: u64,
    blind_heads: u64,
    blind_left: AtomicU64,
    failures: AtomicU64,
}

#[async_trait::async_trait]
impl AuditStore for BlindAfterWriteStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        if self.blind_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(FlakyStore::injected());
        }
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let head = self.inner.append(chain, expected, batch).await?;
        if (self.appends.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(self.every) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            self.blind_left.store(self.blind_heads, Ordering::SeqCst);
            return Err(FlakyStore::injected().into());
        }
        Ok(head)
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_written_append_is_not_repeated_while_the_store_cannot_say_so() {
    // Before the fix the writer forgot the failed append when it could not read the head,
    // then chained the batch again on top of itself.
    let store = Arc::new(BlindAfterWriteStore {
        inner: MemoryStore::new(),
        appends: AtomicU64::new(0),
        every: 4,
        blind_heads: 3,
        blind_left: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    });
    let auditor = Auditor::builder(store.clone()).max_batch(16).retry(fast_retry()).build();
    record_concurrently(&auditor, 8, 200).await;
    auditor.shutdown().await;
    assert_exact_chain(&store.inner, 1600);
    let failures = store.failures.load(Ordering::SeqCst);
    assert!(failures > 0);
    assert_eq!(auditor.stats().recovered_writes, failures);
}

/// A store whose every `every`-th append fails without writing, and is written after all
/// just before the next append arrives (a commit the server finished after the client gave
/// up on it).
struct LateLandingStore {
    inner: MemoryStore,
    appends: AtomicU64,
    every: u64,
    pending: std::sync::Mutex<Option<(Head, Vec<SealedEvent>)>>,
    landed: AtomicU64,
}

#[async_trait::async_trait]
impl AuditStore for LateLandingStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let late = self.pending.lock().expect("lock").take();
        if let Some((late_expected, late_batch)) = late {
            self.inner.append(chain, late_expected, &late_batch).await?;
            self.landed.fetch_add(1, Ordering::SeqCst);
        }
        if (self.appends.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(self.every) {
            *self.pending.lock().expect("lock") = Some((expected, batch.to_vec()));
            return Err(FlakyStore::injected().into());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_written_after_its_failure_was_reported_is_recognised_not_repeated() {
    let store = Arc::new(LateLandingStore {
        inner: MemoryStore::new(),
        appends: AtomicU64::new(0),
        every: 3,
        pending: std::sync::Mutex::new(None),
        landed: AtomicU64::new(0),
    });
    let auditor = Auditor::builder(store.clone()).max_batch(16).retry(fast_retry()).build();
    record_concurrently(&auditor, 8, 200).await;
    auditor.shutdown().await;
    assert_exact_chain(&store.inner, 1600);
    let landed = store.landed.load(Ordering::SeqCst);
    assert!(landed > 0, "some failed appends landed late");
    assert_eq!(auditor.stats().recovered_writes, landed, "each late landing was recognised as the batch's own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_recognised_after_another_writer_appended_on_top() {
    // Writer A's append is written but reported failed; writer B appends before A looks.
    let store = Arc::new(FlakyStore::new(2, true));
    let a = Auditor::builder(store.clone())
        .retry(RetryPolicy { initial: Duration::from_millis(200), max: Duration::from_millis(200) })
        .build();
    a.record(EventDraft::new("first")).await.expect("first"); // append #1 succeeds
    let ticket = a.record_buffered(EventDraft::new("second")).await.expect("queued"); // append #2: written, then fails
    while store.failures.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let b = Auditor::builder(store.clone()).build();
    b.record(EventDraft::new("third")).await.expect("third"); // append #3 succeeds while A backs off
    let receipt = ticket.await.expect("second recorded");
    assert_eq!(receipt.seq, 2);
    a.shutdown().await;
    b.shutdown().await;
    let events = assert_exact_chain(&store.inner, 3);
    let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions, ["first", "second", "third"]);
    assert_eq!(a.stats().recovered_writes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_chain_never_fork_it() {
    let store = Arc::new(MemoryStore::new());
    let a = Auditor::builder(store.clone()).max_batch(8).build();
    let b = Auditor::builder(store.clone()).max_batch(8).build();
    let (ra, rb) = tokio::join!(record_concurrently(&a, 4, 250), record_concurrently(&b, 4, 250));
    a.shutdown().await;
    b.shutdown().await;
    let mut all: Vec<u64> = ra.into_iter().chain(rb).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=2000).collect::<Vec<_>>());
    assert_exact_chain(&store, 2000);
}

#[tokio::test]
async fn a_stale_head_is_rechained_on_top_of_the_other_writer() {
    let store = Arc::new(MemoryStore::new());
    let a = Auditor::builder(store.clone()).build();
    a.record(EventDraft::new("a1")).await.expect("a1");
    let b = Auditor::builder(store.clone()).build();
    for _ in 0..5 {
        b.record(EventDraft::new("b")).await.expect("b");
    }
    let receipt = a.record(EventDraft::new("a2")).await.expect("a2");
    assert_eq!(receipt.seq, 7);
    assert_eq!(a.stats().conflicts, 1);
    assert_exact_chain(&store, 7);
}

/// A store whose appends wait for permits, to hold the writer still.
struct GatedStore {
    inner: MemoryStore,
    gate: Semaphore,
    failing: AtomicBool,
}

#[async_trait::async_trait]
impl AuditStore for GatedStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.gate.acquire().await.expect("gate open").forget();
        if self.failing.load(Ordering::SeqCst) {
            return Err(FlakyStore::injected().into());
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

fn gated(failing: bool) -> Arc<GatedStore> {
    Arc::new(GatedStore { inner: MemoryStore::new(), gate: Semaphore::new(0), failing: AtomicBool::new(failing) })
}

#[tokio::test]
async fn a_full_queue_waits_or_says_full_and_drops_nothing() {
    let store = gated(false);
    let auditor = Auditor::builder(store.clone()).queue_capacity(4).max_batch(1).build();
    let mut tickets = Vec::new();
    let mut full = None;
    // One event is taken by the writer (held at the gate), four wait in the queue.
    for i in 0..20 {
        match auditor.try_record(EventDraft::new("e").detail("i", json!(i))) {
            Ok(ticket) => tickets.push(ticket),
            Err(TryRecordError::Full { draft, capacity }) => {
                assert_eq!(capacity, 4);
                full = Some(*draft);
                break;
            }
            Err(other) => panic!("unexpected {other}"),
        }
        tokio::task::yield_now().await;
    }
    let draft = full.expect("the queue filled up");
    let queued = tickets.len();
    assert!((4..=5).contains(&queued), "queue of 4 (+1 in the writer's hands): {queued}");

    // record() waits for room instead of failing.
    let waiting = tokio::spawn({
        let auditor = auditor.clone();
        async move { auditor.record(draft).await }
    });
    store.gate.add_permits(1000);
    let last = waiting.await.expect("task").expect("recorded after waiting");
    for ticket in tickets {
        ticket.await.expect("durable");
    }
    assert_eq!(last.seq, queued as u64 + 1);
    auditor.shutdown().await;
    assert_exact_chain(&store.inner, queued + 1);
}

#[tokio::test]
async fn try_record_all_detached_hands_back_the_rest_in_order_from_the_first_that_does_not_fit() {
    let store = gated(false);
    let auditor = Auditor::builder(store.clone()).queue_capacity(4).max_batch(1).build();
    let drafts = |range: std::ops::Range<i64>| range.map(|i| EventDraft::new("e").detail("i", json!(i)));
    let first = auditor.try_record_all_detached(drafts(0..1));
    assert!(first.rest.is_empty() && first.refused == 0);
    // The queue holds four (event 0 among them, unless the writer took it and waits at the
    // gate): 19 more do not fit.
    let too_long = EventDraft::new("x".repeat(audit_core::MAX_INDEXED_FIELD_BYTES + 1));
    let not_queued = auditor.try_record_all_detached(std::iter::once(too_long).chain(drafts(1..20)));
    assert_eq!(not_queued.refused, 1, "the invalid draft");
    assert!((15..=16).contains(&not_queued.rest.len()), "the rest: {}", not_queued.rest.len());

    store.gate.add_permits(1000);
    for draft in not_queued.rest {
        auditor.record_buffered(draft).await.expect("queued after waiting");
    }
    auditor.shutdown().await;
    let events = assert_exact_chain(&store.inner, 20);
    let order: Vec<i64> = events.iter().map(|e| e.event.details["i"].as_i64().expect("i")).collect();
    assert_eq!(order, (0..20).collect::<Vec<_>>(), "written in the order offered: the rest came back in order");
}

#[tokio::test]
async fn detached_events_are_written_once_and_tickets_beside_them_get_their_own_receipts() {
    let store = gated(false);
    let auditor = Auditor::builder(store.clone()).queue_capacity(4).build();
    // Alternate: ticketed, detached, ticketed, … in one batch (the writer is held at the gate).
    let mut tickets = Vec::new();
    let mut detached = Vec::new();
    for i in 0..4 {
        let draft = EventDraft::new("e").detail("i", json!(i));
        if i % 2 == 0 {
            tickets.push(auditor.try_record(draft).expect("room"));
        } else {
            detached.push(auditor.try_record_detached(draft).expect("room"));
        }
        tokio::task::yield_now().await;
    }
    // A full queue hands the draft back, ticket or not.
    let mut refused = None;
    for i in 4..10 {
        match auditor.try_record_detached(EventDraft::new("e").detail("i", json!(i))) {
            Ok(id) => detached.push(id),
            Err(TryRecordError::Full { draft, .. }) => {
                refused = Some(*draft);
                break;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(refused.is_some(), "the queue of 4 filled up");
    store.gate.add_permits(1000);
    let ticketed = tickets.len();
    for ticket in tickets {
        let id = ticket.id();
        let receipt = ticket.await.expect("durable");
        assert_eq!(receipt.id, id, "each ticket answered with its own event");
    }
    auditor.shutdown().await;
    let events = assert_exact_chain(&store.inner, ticketed + detached.len());
    let written: HashSet<_> = events.iter().map(|e| e.event.id).collect();
    assert!(detached.iter().all(|id| written.contains(id)), "every detached event written");
    assert_eq!(auditor.stats().written, events.len() as u64);
}

#[tokio::test]
async fn buffered_tickets_resolve_once_durable_and_health_follows_the_store() {
    let store = gated(true);
    let auditor = Auditor::builder(store.clone()).retry(fast_retry()).build();
    let ticket = auditor.record_buffered(EventDraft::new("e")).await.expect("queued at once");
    assert!(auditor.is_healthy());
    store.gate.add_permits(1); // first append fails
    while auditor.is_healthy() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(!auditor.stats().healthy);
    assert!(store.inner.events("default").is_empty());
    store.failing.store(false, Ordering::SeqCst);
    store.gate.add_permits(1000);
    let receipt = ticket.await.expect("durable after the store recovered");
    assert_eq!(receipt.seq, 1);
    assert!(auditor.is_healthy());
    auditor.shutdown().await;
    assert_exact_chain(&store.inner, 1);
}

#[tokio::test]
async fn until_unhealthy_wakes_its_waiters_when_an_append_fails_and_not_while_the_store_works() {
    use futures_util::FutureExt;
    let store = gated(true);
    let auditor = Auditor::builder(store.clone()).retry(fast_retry()).build();
    // Waiting from before anything was recorded, and while an append hangs in the store.
    let mut early = std::pin::pin!(auditor.until_unhealthy());
    let ticket = auditor.record_buffered(EventDraft::new("e")).await.expect("queued");
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(auditor.is_healthy(), "an append in flight is not a failure");
    assert!(early.as_mut().now_or_never().is_none(), "pending while the store has not failed");
    store.gate.add_permits(1); // that append fails
    tokio::time::timeout(Duration::from_secs(20), early).await.expect("woken when the append failed");
    assert!(!auditor.is_healthy());
    assert!(auditor.until_unhealthy().now_or_never().is_some(), "ready at once while unhealthy");

    store.failing.store(false, Ordering::SeqCst);
    store.gate.add_permits(1000);
    ticket.await.expect("durable after the store recovered");
    assert!(auditor.is_healthy());
    let mut late = std::pin::pin!(auditor.until_unhealthy());
    for i in 0..5 {
        auditor.record(EventDraft::new(format!("ok {i}"))).await.expect("durable");
    }
    assert!(late.as_mut().now_or_never().is_none(), "pending again once healthy: appends that work wake nothing");

    // A second outage wakes a waiter of the healthy time.
    store.failing.store(true, Ordering::SeqCst);
    let _queued = auditor.record_buffered(EventDraft::new("during the second outage")).await.expect("queued");
    tokio::time::timeout(Duration::from_secs(20), late).await.expect("woken by the second outage");
    store.failing.store(false, Ordering::SeqCst);
    auditor.shutdown().await;
    assert_exact_chain(&store.inner, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_under_load_loses_nothing_that_was_accepted() {
    let store = Arc::new(FlakyStore::new(11, false));
    let auditor = Auditor::builder(store.clone()).queue_capacity(256).max_batch(64).retry(fast_retry()).build();
    let accepted = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..16)
        .map(|t| {
            let (auditor, accepted) = (auditor.clone(), accepted.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    match auditor
                        .record_buffered(EventDraft::new("load").detail("t", json!(t)).detail("i", json!(i)))
                        .await
                    {
                        Ok(_ticket) => accepted.fetch_add(1, Ordering::SeqCst),
                        Err(RecordError::Closed) => return,
                        Err(other) => panic!("unexpected {other}"),
                    };
                }
            })
        })
        .collect();
    while accepted.load(Ordering::SeqCst) < 5_000 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    auditor.shutdown().await;
    for producer in producers {
        producer.await.expect("producer stopped cleanly");
    }
    let accepted = accepted.load(Ordering::SeqCst) as usize;
    assert_exact_chain(&store.inner, accepted);
    assert_eq!(auditor.record(EventDraft::new("late")).await, Err(RecordError::Closed));
}

#[tokio::test]
async fn actor_and_context_come_from_the_scope_and_secrets_never_reach_the_store() {
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    scope::with_actor(Actor::system("nightly"), async {
        let scope = audit_core::AuditScope::current().expect("in scope");
        scope.update_context(|c| c.request_id = Some("req-1".into()));
        auditor.record(EventDraft::new("purge").detail("password", json!("hunter2"))).await.expect("recorded");
        auditor.record(EventDraft::new("explicit").actor(Actor::admin("alice"))).await.expect("recorded");
    })
    .await;
    auditor.record(EventDraft::new("outside")).await.expect("recorded");
    auditor.shutdown().await;
    let events = assert_exact_chain(&store, 3);
    assert_eq!(events[0].event.actor, Actor::system("nightly"));
    assert_eq!(events[0].event.context.request_id.as_deref(), Some("req-1"));
    assert!(!events[0].line.contains("hunter2") && events[0].line.contains("[REDACTED]"));
    assert_eq!(events[1].event.actor, Actor::admin("alice"));
    assert_eq!(events[2].event.actor, Actor::anonymous());
    assert!(events[2].event.context.is_empty());
}

#[tokio::test]
async fn invalid_drafts_are_refused_and_never_half_written() {
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).max_event_bytes(4096).build();
    let cases = [
        (EventDraft::new(""), "no action"),
        (EventDraft::new("x").actor(Actor::user("")), "empty actor"),
        (EventDraft::new("x").change("a", None, Some(json!(1))).change("a", None, Some(json!(2))), "duplicate field"),
        (EventDraft::new("x").detail("blob", json!("x".repeat(10_000))), "too large"),
    ];
    for (draft, what) in cases {
        let error = auditor.record(draft).await.expect_err(what);
        assert!(matches!(error, RecordError::Invalid(_)), "{what}: {error}");
    }
    assert!(matches!(
        auditor.record(EventDraft::new("x").detail("blob", json!("x".repeat(10_000)))).await,
        Err(RecordError::Invalid(DraftError::TooLarge { limit: 4096, .. }))
    ));
    // Fields that stores index are bounded (an SQL index entry has a size limit).
    let long = "x".repeat(audit_core::MAX_INDEXED_FIELD_BYTES + 1);
    let too_long = [
        (EventDraft::new("x").actor(Actor::user(long.clone())), "actor.id"),
        (EventDraft::new(long.clone()), "action"),
        (EventDraft::new("x").resource(long.clone(), "1"), "resource.type"),
        (EventDraft::new("x").resource("users", long.clone()), "resource.id"),
    ];
    for (draft, field) in too_long {
        match auditor.record(draft).await {
            Err(RecordError::Invalid(DraftError::FieldTooLong { field: named, len, .. })) => {
                assert_eq!((named, len), (field, long.len()));
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    let longest = "y".repeat(audit_core::MAX_INDEXED_FIELD_BYTES);
    auditor.record(EventDraft::new("x").actor(Actor::user(longest))).await.expect("at the limit is fine");
    auditor.record(EventDraft::new("fine")).await.expect("a valid draft still works");
    auditor.shutdown().await;
    assert_exact_chain(&store, 2);
}

#[tokio::test]
async fn a_fixed_id_and_time_are_kept_and_findable() {
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let id = uuid::Uuid::now_v7();
    let ts: audit_core::Timestamp = "2026-01-02T03:04:05.000006Z".parse().expect("timestamp");
    auditor.record(EventDraft::new("replayed").with_id(id).with_ts(ts)).await.expect("recorded");
    auditor.record(EventDraft::new("other")).await.expect("recorded");
    auditor.shutdown().await;
    let page = store.query(&audit_core::store::Query::new().id(id)).await.expect("query");
    assert_eq!(page.events.len(), 1);
    assert_eq!((page.events[0].event.id, page.events[0].event.ts), (id, ts));
    assert_exact_chain(&store, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shutdown_call_waits_until_everything_is_durable() {
    // Before: the second of two concurrent calls returned at once, before the flush.
    let store = gated(false);
    let auditor = Auditor::builder(store.clone()).max_batch(1).build();
    for i in 0..50 {
        auditor.record_buffered(EventDraft::new("e").detail("i", json!(i))).await.expect("queued");
    }
    let first = tokio::spawn({
        let auditor = auditor.clone();
        async move { auditor.shutdown().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await; // the first call is waiting
    let second = tokio::spawn({
        let (auditor, store) = (auditor.clone(), store.clone());
        async move {
            auditor.shutdown().await;
            store.inner.events("default").len()
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    store.gate.add_permits(1000); // let the writer go
    assert_eq!(second.await.expect("task"), 50, "the second call returned only once all 50 were durable");
    first.await.expect("task");
    assert_exact_chain(&store.inner, 50);
    auditor.shutdown().await; // and later calls return at once
}

/// A store that panics in `append`: before writing on the 3rd call, after writing on the 6th.
struct PanickingStore {
    inner: MemoryStore,
    appends: AtomicU64,
}

#[async_trait::async_trait]
impl AuditStore for PanickingStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
        assert_ne!(n, 3, "a store bug, before writing");
        let head = self.inner.append(chain, expected, batch).await?;
        assert_ne!(n, 6, "a store bug, after writing");
        Ok(head)
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_panics_loses_and_repeats_nothing() {
    // Before: the panic ended the writer task and every queued event was lost.
    let store = Arc::new(PanickingStore { inner: MemoryStore::new(), appends: AtomicU64::new(0) });
    let auditor = Auditor::builder(store.clone()).max_batch(8).retry(fast_retry()).build();
    record_concurrently(&auditor, 4, 50).await;
    auditor.shutdown().await;
    assert_exact_chain(&store.inner, 200);
    assert!(store.appends.load(Ordering::SeqCst) >= 6, "both panics happened");
    assert_eq!(auditor.stats().recovered_writes, 1, "the batch written before the panic was recognised");
}

/// A store whose 4th append writes and then fails, and whose 2nd `head` panics: the one that
/// asks whether that append was written (the 1st is the writer's start).
struct PanickingHeadStore {
    inner: MemoryStore,
    appends: AtomicU64,
    heads: AtomicU64,
}

#[async_trait::async_trait]
impl AuditStore for PanickingHeadStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        let n = self.heads.fetch_add(1, Ordering::SeqCst) + 1;
        assert_ne!(n, 2, "a store bug in head");
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
        let head = self.inner.append(chain, expected, batch).await?;
        if n == 4 {
            return Err(FlakyStore::injected().into());
        }
        Ok(head)
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_panics_while_asked_about_a_failed_append_loses_and_repeats_nothing() {
    let store = Arc::new(PanickingHeadStore {
        inner: MemoryStore::new(),
        appends: AtomicU64::new(0),
        heads: AtomicU64::new(0),
    });
    let auditor = Auditor::builder(store.clone()).max_batch(8).retry(fast_retry()).build();
    record_concurrently(&auditor, 4, 50).await;
    auditor.shutdown().await;
    assert_exact_chain(&store.inner, 200);
    assert!(store.heads.load(Ordering::SeqCst) >= 3, "the head was asked again after the panic");
    assert_eq!(auditor.stats().recovered_writes, 1, "the batch written before the failure was recognised");
}

#[tokio::test]
async fn an_id_the_chain_already_has_is_refused_and_the_rest_of_its_batch_written() {
    // Before: the store's refusal was retried forever and every later event waited behind it.
    let store = gated(false);
    let auditor = Auditor::builder(store.clone()).retry(fast_retry()).build();
    let id = uuid::Uuid::now_v7();
    store.gate.add_permits(1);
    auditor.record(EventDraft::new("first").with_id(id)).await.expect("first");

    // One batch: a replay of that id, a fresh event, the same new id twice.
    let twice = uuid::Uuid::now_v7();
    let replay = auditor.record_buffered(EventDraft::new("replay").with_id(id)).await.expect("queued");
    let fresh = auditor.record_buffered(EventDraft::new("fresh")).await.expect("queued");
    let once = auditor.record_buffered(EventDraft::new("once").with_id(twice)).await.expect("queued");
    let again = auditor.record_buffered(EventDraft::new("again").with_id(twice)).await.expect("queued");
    store.gate.add_permits(1000);

    let refused = replay.await.expect_err("the chain has this id");
    assert!(matches!(&refused, RecordError::Rejected(reason) if reason.contains(&id.to_string())), "{refused}");
    let refused = again.await.expect_err("an earlier event of the batch has this id");
    assert!(matches!(refused, RecordError::Rejected(_)), "{refused}");
    assert_eq!(fresh.await.expect("written").seq, 2);
    assert_eq!(once.await.expect("written").seq, 3);
    auditor.record(EventDraft::new("later")).await.expect("the writer carries on");
    auditor.shutdown().await;
    let events = assert_exact_chain(&store.inner, 4);
    let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions, ["first", "fresh", "once", "later"]);
    assert_eq!(auditor.stats().rejected, 2);
}

#[tokio::test]
async fn an_auditor_on_a_jsonl_file_of_another_chain_refuses_instead_of_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    let first = Auditor::builder(Arc::new(audit_core::store::JsonlStore::open(&path).expect("open"))).build();
    first.record(EventDraft::new("a")).await.expect("recorded");
    first.shutdown().await;

    let store = Arc::new(audit_core::store::JsonlStore::open(&path).expect("reopen"));
    let other = Auditor::builder(store).chain("other").retry(fast_retry()).build();
    let refused = other.record(EventDraft::new("b")).await.expect_err("the file holds chain default");
    assert!(matches!(&refused, RecordError::Rejected(reason) if reason.contains("holds chain")), "{refused}");
    other.shutdown().await; // returns: nothing is stuck
}

/// A store opened read-only refuses appends for good: the writer refuses the events instead
/// of retrying them (and holding its shutdown) for ever.
#[tokio::test]
async fn an_auditor_on_a_read_only_jsonl_store_refuses_instead_of_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    let first = Auditor::builder(Arc::new(audit_core::store::JsonlStore::open(&path).expect("open"))).build();
    first.record(EventDraft::new("a")).await.expect("recorded");
    first.shutdown().await;

    let store = Arc::new(audit_core::store::JsonlStore::open_read_only(&path).expect("open read-only"));
    let auditor = Auditor::builder(store).retry(fast_retry()).build();
    // A guard against a hang, not a measure of speed.
    let refused = tokio::time::timeout(std::time::Duration::from_secs(60), auditor.record(EventDraft::new("b")))
        .await
        .expect("answered, not retried for ever");
    assert!(matches!(&refused, Err(RecordError::Rejected(reason)) if reason.contains("read-only")), "{refused:?}");
    auditor.shutdown().await; // returns: nothing is stuck
    let lines = std::fs::read_to_string(&path).expect("read");
    assert_eq!(lines.lines().count(), 1, "nothing appended");
}

/// A place kept in the queue (`Auditor::try_reserve_place`) before a shutdown is written by
/// it, in queue order; a place asked for after the shutdown is refused.
#[tokio::test]
async fn a_place_kept_before_shutdown_is_written_by_it() {
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let first = auditor.try_record(EventDraft::new("first")).expect("queued");
    let place = auditor.try_reserve_place().expect("room in the queue");
    let shutdown = tokio::spawn({
        let auditor = auditor.clone();
        async move { auditor.shutdown().await }
    });
    first.await.expect("written");
    while !auditor.is_closed() {
        tokio::task::yield_now().await;
    }
    assert!(auditor.try_record(EventDraft::new("refused")).is_err(), "closed");
    assert!(auditor.try_reserve_place().is_none(), "no place after the shutdown");
    let kept = place.record(EventDraft::new("kept")).expect("the kept place takes it");
    shutdown.await.expect("shutdown");
    kept.await.expect("written by the shutdown");
    let actions: Vec<String> = store.events("default").into_iter().map(|e| e.event.action).collect();
    assert_eq!(actions, ["first", "kept"]);
    assert_exact_chain(&store, 2);
}

/// Sizes too large to be meant ("no limit") are taken as the largest the writer can handle:
/// `queue_capacity(usize::MAX)` made `build` panic (tokio's semaphore), `max_batch(usize::MAX)`
/// the writer's task (a batch buffer of that capacity), every record answering "shut down".
#[tokio::test]
async fn unbounded_sizes_are_taken_as_the_largest() {
    for (queue, batch) in [(usize::MAX, 1_000), (16, usize::MAX), (usize::MAX, usize::MAX)] {
        let store = Arc::new(MemoryStore::new());
        let auditor =
            Auditor::builder(store.clone()).queue_capacity(queue).max_batch(batch).retry(fast_retry()).build();
        for i in 0..3 {
            auditor.record_buffered(EventDraft::new("write").detail("i", json!(i))).await.expect("queued");
        }
        auditor.record(EventDraft::new("write").detail("i", json!(3))).await.expect("recorded");
        auditor.shutdown().await;
        assert_exact_chain(&store, 4);
    }
}

/// The writer's task dropped with its runtime (an application that ends without
/// `Auditor::shutdown`): the events it held answer `Closed`, not written, the auditor says it
/// is closed, and later calls fail at once instead of waiting for a writer that is gone.
#[test]
fn a_writer_dropped_with_its_runtime_answers_closed() {
    let store = gated(false);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (auditor, held, queued) = runtime.block_on(async {
        let auditor = Auditor::builder(store.clone()).max_batch(1).build();
        let held = auditor.try_record(EventDraft::new("held")).expect("queued");
        // The writer takes the first event to the gate (given the time to); the second waits
        // in the queue. Either way both are held when the runtime goes.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let queued = auditor.try_record(EventDraft::new("queued")).expect("queued");
        (auditor, held, queued)
    });
    drop(runtime);
    let other = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // The timeouts guard against a hang; they measure nothing.
    let guard = |future| tokio::time::timeout(Duration::from_secs(60), future);
    other.block_on(async {
        let held = guard(held).await.expect("the first event answers");
        assert!(matches!(held, Err(RecordError::Closed)), "{held:?}");
        let queued = guard(queued).await.expect("the second event answers");
        assert!(matches!(queued, Err(RecordError::Closed)), "{queued:?}");
        assert!(auditor.is_closed());
        let later = tokio::time::timeout(Duration::from_secs(60), auditor.record(EventDraft::new("later")))
            .await
            .expect("a later record answers");
        assert!(matches!(later, Err(RecordError::Closed)), "{later:?}");
        assert!(matches!(
            auditor.try_record(EventDraft::new("later")),
            Err(TryRecordError::Record(RecordError::Closed))
        ));
    });
    assert!(store.inner.events("default").is_empty(), "nothing was written");
}
