//! A store that refuses some value for good, without saying which event holds it (a
//! database's data error), costs only the events at fault: the writer narrows the refusal
//! down, refuses those events alone, and writes every other one exactly once, in order. It
//! never retries such an event for ever, holding up the chain behind it. Before it refuses
//! one, it writes a note saying so, which tells a refused value from a store refusing every
//! event: those are held, in order, and written once the store takes events again.

mod refusal_common;

use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::{Actor, Auditor, EventDraft, RecordError, SealedEvent, Ticket};
use refusal_common::{Stored, retry_every, stored};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A memory store that refuses, like a database's data error, every batch holding an event
/// of actor `poison` (naming none), and every batch of more than `max_rows` events.
struct RefusingStore {
    inner: MemoryStore,
    max_rows: usize,
    appends: AtomicU64,
}

impl RefusingStore {
    fn new(max_rows: usize) -> Arc<RefusingStore> {
        Arc::new(RefusingStore { inner: MemoryStore::new(), max_rows, appends: AtomicU64::new(0) })
    }
}

#[async_trait::async_trait]
impl AuditStore for RefusingStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if batch.iter().any(|event| event.event.actor.id == "poison") {
            return Err(AppendError::RefusedValue { reason: "value out of range (poison)".into() });
        }
        if batch.len() > self.max_rows {
            return Err(AppendError::RefusedValue { reason: "statement too complex".into() });
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

fn draft(i: usize, poisoned: bool) -> EventDraft {
    let actor = if poisoned { "poison" } else { "alice" };
    EventDraft::new("write").actor(Actor::user(actor)).detail("i", json!(i))
}

/// Queues one draft per entry of `poisoned` before the writer runs (one batch, on this
/// single-threaded runtime), and returns their tickets in order.
fn queue_all(auditor: &Auditor, poisoned: &[bool]) -> Vec<Ticket> {
    poisoned.iter().enumerate().map(|(i, &p)| auditor.try_record(draft(i, p)).expect("room in the queue")).collect()
}

/// One event of the store's chain: an event recorded by the test (its `i` detail) or the
/// writer's note that it refused the event with the id given.
#[tokio::test]
async fn only_the_events_holding_a_refused_value_are_refused_and_the_rest_keep_their_order() {
    let store = RefusingStore::new(usize::MAX);
    let auditor = Auditor::builder(store.clone()).max_batch(64).build();
    let poisoned: Vec<bool> = (0..64).map(|i| i == 3 || i == 40).collect();
    let tickets = queue_all(&auditor, &poisoned);
    let ids: Vec<uuid::Uuid> = tickets.iter().map(Ticket::id).collect();
    let mut written = Vec::new();
    for (i, ticket) in tickets.into_iter().enumerate() {
        match ticket.await {
            Ok(receipt) => {
                assert!(!poisoned[i], "event {i} holds the refused value but was written");
                written.push(receipt.seq);
            }
            Err(RecordError::Rejected(reason)) => {
                assert!(poisoned[i], "event {i} was refused: {reason}");
                assert!(reason.contains("poison"), "the store's reason is passed on: {reason}");
            }
            Err(other) => panic!("event {i}: {other}"),
        }
    }
    auditor.shutdown().await;
    // Each refused event leaves a note where it would have been.
    let mut expected: Vec<Stored> = (0..3).map(Stored::Event).collect();
    expected.push(Stored::Note(ids[3]));
    expected.extend((4..40).map(Stored::Event));
    expected.push(Stored::Note(ids[40]));
    expected.extend((41..64).map(Stored::Event));
    let trail = stored(&store.inner);
    assert_eq!(trail, expected, "every other event once, in the order recorded");
    let seq_of = |i: u64| 1 + trail.iter().position(|stored| *stored == Stored::Event(i)).expect("stored") as u64;
    let expected_seqs: Vec<u64> = (0..64).filter(|&i| i != 3 && i != 40).map(seq_of).collect();
    assert_eq!(written, expected_seqs, "receipts name the seqs the events got");
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes), (62, 2, 2), "{stats:?}");
    // Halving: a few attempts per halving for each refused event, not one per event.
    let appends = store.appends.load(Ordering::SeqCst);
    assert!(appends < 50, "{appends} appends to find 2 refused events among 64");
}

#[tokio::test]
async fn a_lone_refused_event_is_refused_at_once_with_a_note_and_shutdown_returns() {
    let store = RefusingStore::new(usize::MAX);
    // No other event will come to tell a bad value from a broken store: the note does.
    let auditor = Auditor::builder(store.clone()).retry(retry_every(Duration::from_secs(3600))).build();
    let refused = auditor.try_record(draft(0, true)).expect("room");
    let id = refused.id();
    let refused = refused.await;
    assert!(matches!(&refused, Err(RecordError::Rejected(reason)) if reason.contains("poison")), "{refused:?}");
    auditor.shutdown().await;
    assert_eq!(stored(&store.inner), vec![Stored::Note(id)]);
    assert!(auditor.is_healthy(), "the store writes events: healthy");
}

#[tokio::test]
async fn a_lone_refused_event_queued_before_shutdown_does_not_hold_it_up() {
    let store = RefusingStore::new(usize::MAX);
    let auditor = Auditor::builder(store.clone()).build();
    let refused = auditor.try_record(draft(0, true)).expect("room");
    auditor.shutdown().await;
    assert!(matches!(refused.await, Err(RecordError::Rejected(_))));
    assert_eq!(auditor.stats().rejected, 1);
}

#[tokio::test]
async fn a_batch_of_nothing_but_refused_values_is_refused_each_with_its_note() {
    let store = RefusingStore::new(usize::MAX);
    let auditor = Auditor::builder(store.clone()).max_batch(32).build();
    let tickets = queue_all(&auditor, &[true; 32]);
    let ids: Vec<uuid::Uuid> = tickets.iter().map(Ticket::id).collect();
    for ticket in tickets {
        assert!(matches!(ticket.await, Err(RecordError::Rejected(_))));
    }
    let receipt = auditor.record(draft(32, false)).await.expect("written after them");
    assert_eq!(receipt.seq, 33);
    auditor.shutdown().await;
    assert_eq!(auditor.stats().rejected, 32);
    let mut expected: Vec<Stored> = ids.into_iter().map(Stored::Note).collect();
    expected.push(Stored::Event(32));
    assert_eq!(stored(&store.inner), expected);
}

/// A memory store that refuses every event, as a database does whose table was altered so
/// that no event fits, until it is repaired.
struct BrokenStore {
    inner: MemoryStore,
    repaired: std::sync::atomic::AtomicBool,
    appends: AtomicU64,
}

impl BrokenStore {
    fn new() -> Arc<BrokenStore> {
        Arc::new(BrokenStore {
            inner: MemoryStore::new(),
            repaired: std::sync::atomic::AtomicBool::new(false),
            appends: AtomicU64::new(0),
        })
    }
}

#[async_trait::async_trait]
impl AuditStore for BrokenStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if !self.repaired.load(Ordering::SeqCst) {
            return Err(AppendError::RefusedValue { reason: "value too long for column".into() });
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

#[tokio::test]
async fn events_a_store_refuses_all_alike_are_held_in_order_not_refused() {
    let store = BrokenStore::new();
    let auditor = Auditor::builder(store.clone()).max_batch(8).retry(retry_every(Duration::from_millis(5))).build();
    let mut tickets = queue_all(&auditor, &[false; 5]);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // More arrive while the store refuses: held too, behind the first.
    for i in 5..12 {
        tickets.push(auditor.try_record(draft(i, false)).expect("room"));
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes), (0, 0, 0), "{stats:?}");
    assert!(!auditor.is_healthy(), "a store that writes nothing is not healthy");
    store.repaired.store(true, Ordering::SeqCst);
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(ticket.await.expect("written once repaired").seq, i as u64 + 1);
    }
    auditor.shutdown().await;
    assert!(auditor.is_healthy());
    assert_eq!(stored(&store.inner), (0..12).map(Stored::Event).collect::<Vec<_>>(), "every event once, in order");
}

#[tokio::test]
async fn events_held_through_an_outage_are_all_written_once_it_is_repaired_whatever_comes_first() {
    let store = BrokenStore::new();
    // No timer: only new events make the writer try the store again.
    let auditor = Auditor::builder(store.clone()).max_batch(200).retry(retry_every(Duration::from_secs(3600))).build();
    let mut tickets = Vec::new();
    for i in 0..100 {
        tickets.push(auditor.try_record(draft(i, false)).expect("room"));
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }
    while auditor.stats().queue_depth > 0 {
        tokio::task::yield_now().await;
    }
    // Held events are not each tried again when another arrives: a try is a probe of one.
    let appends = store.appends.load(Ordering::SeqCst);
    assert!(appends <= 3 * 100, "{appends} appends for 100 events arriving one by one while the store refused all");
    store.repaired.store(true, Ordering::SeqCst);
    // The first event after the repair: the held ones go first, in order, then it.
    tickets.push(auditor.try_record(draft(100, false)).expect("room"));
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(ticket.await.expect("written once repaired").seq, i as u64 + 1);
    }
    auditor.shutdown().await;
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes), (101, 0, 0), "{stats:?}");
    assert_eq!(stored(&store.inner), (0..101).map(Stored::Event).collect::<Vec<_>>());
}

#[tokio::test]
async fn held_events_are_written_on_the_timer_after_a_repair_and_shutdown_waits_for_them() {
    let store = BrokenStore::new();
    let auditor = Auditor::builder(store.clone()).retry(retry_every(Duration::from_millis(5))).build();
    let tickets = queue_all(&auditor, &[false; 10]);
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let stopping = tokio::spawn({
        let auditor = auditor.clone();
        async move { auditor.shutdown().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert!(!stopping.is_finished(), "shutdown waits for the held events");
    store.repaired.store(true, Ordering::SeqCst);
    stopping.await.expect("shutdown returns once they are written");
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(ticket.await.expect("written").seq, i as u64 + 1);
    }
    assert_eq!(stored(&store.inner), (0..10).map(Stored::Event).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_batch_too_large_for_the_store_is_written_in_parts_and_nothing_is_refused() {
    let store = RefusingStore::new(10);
    let auditor = Auditor::builder(store.clone()).max_batch(100).build();
    let tickets = queue_all(&auditor, &[false; 100]);
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(ticket.await.expect("written").seq, i as u64 + 1);
    }
    auditor.shutdown().await;
    assert_eq!(stored(&store.inner), (0..100).map(Stored::Event).collect::<Vec<_>>());
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes), (100, 0, 0), "{stats:?}");
}

/// A store that refuses every event (a data error) for its first `broken_for` appends, then
/// takes them: repaired at a moment chosen by the test.
struct RepairedStore {
    inner: MemoryStore,
    broken_for: u64,
    appends: AtomicU64,
}

#[async_trait::async_trait]
impl AuditStore for RepairedStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        if self.appends.fetch_add(1, Ordering::SeqCst) < self.broken_for {
            return Err(AppendError::RefusedValue { reason: "value too long for column".into() });
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

#[tokio::test]
async fn a_store_repaired_at_any_moment_loses_no_event() {
    // Repaired after each number of refused appends in turn: while narrowing a batch down,
    // while trying a note, while probing held events.
    for broken_for in 0..24 {
        let store = Arc::new(RepairedStore { inner: MemoryStore::new(), broken_for, appends: AtomicU64::new(0) });
        let auditor =
            Auditor::builder(store.clone()).max_batch(16).retry(retry_every(Duration::from_millis(1))).build();
        let tickets = queue_all(&auditor, &[false; 16]);
        let mut seqs = Vec::new();
        for (i, ticket) in tickets.into_iter().enumerate() {
            let receipt = ticket.await.unwrap_or_else(|e| panic!("repaired after {broken_for}: event {i}: {e}"));
            seqs.push(receipt.seq);
        }
        auditor.shutdown().await;
        let stats = auditor.stats();
        assert_eq!((stats.written, stats.rejected), (16, 0), "repaired after {broken_for}: {stats:?}");
        // Repaired just as the writer tried its note: the note stands (the store did refuse
        // the event alone), and the event after it.
        let trail = stored(&store.inner);
        let notes = trail.iter().filter(|stored| matches!(stored, Stored::Note(_))).count();
        assert_eq!(notes as u64, stats.refusal_notes, "repaired after {broken_for}");
        let events: Vec<(u64, Stored)> =
            (1..).zip(trail).filter(|(_, stored)| matches!(stored, Stored::Event(_))).collect();
        let expected: Vec<(u64, Stored)> = seqs.into_iter().zip((0..).map(Stored::Event)).collect();
        assert_eq!(events, expected, "repaired after {broken_for}: every event once, in order, at its receipt's seq");
    }
}

#[tokio::test]
async fn a_repeated_id_waits_for_the_held_event_with_that_id() {
    let store = BrokenStore::new();
    let auditor = Auditor::builder(store.clone()).retry(retry_every(Duration::from_millis(2))).build();
    let id = uuid::Uuid::now_v7();
    let first = auditor.try_record(draft(0, false).with_id(id)).expect("room");
    let again = auditor.try_record(draft(0, false).with_id(id)).expect("room");
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    // The first is not written: the second is not refused for its id meanwhile.
    assert_eq!(auditor.stats().rejected, 0);
    store.repaired.store(true, Ordering::SeqCst);
    assert_eq!(first.await.expect("written once repaired").seq, 1);
    assert!(matches!(again.await, Err(RecordError::Rejected(reason)) if reason.contains("same batch has its id")));
    auditor.shutdown().await;
    assert_eq!(stored(&store.inner), vec![Stored::Event(0)]);
}
