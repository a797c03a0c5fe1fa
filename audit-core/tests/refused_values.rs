//! A store that refuses some value for good, without saying which event holds it (a
//! database's data error), costs only the events at fault: the writer narrows the refusal
//! down, refuses those events alone, and writes every other one exactly once, in order. It
//! never retries such an event for ever, holding up the chain behind it.

use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Actor, Auditor, EventDraft, RecordError, SealedEvent, Ticket};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// The store's chain is valid from genesis; returns each event's `i` detail, in chain order.
fn chain_order(store: &MemoryStore) -> Vec<u64> {
    let events = store.events("default");
    let text: String = events.iter().map(|event| format!("{}\n", event.line)).collect();
    let report = verify_reader(text.as_bytes(), ChainVerifier::from_genesis()).expect("in memory");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.verified, events.len() as u64);
    events.iter().map(|event| event.event.details["i"].as_u64().expect("i")).collect()
}

#[tokio::test]
async fn only_the_events_holding_a_refused_value_are_refused_and_the_rest_keep_their_order() {
    let store = RefusingStore::new(usize::MAX);
    let auditor = Auditor::builder(store.clone()).max_batch(64).build();
    let poisoned: Vec<bool> = (0..64).map(|i| i == 3 || i == 40).collect();
    let tickets = queue_all(&auditor, &poisoned);
    let mut written = Vec::new();
    for (i, ticket) in tickets.into_iter().enumerate() {
        match ticket.await {
            Ok(receipt) => {
                assert!(!poisoned[i], "event {i} holds the refused value but was written");
                written.push((receipt.seq, i as u64));
            }
            Err(RecordError::Rejected(reason)) => {
                assert!(poisoned[i], "event {i} was refused: {reason}");
                assert!(reason.contains("poison"), "the store's reason is passed on: {reason}");
            }
            Err(other) => panic!("event {i}: {other}"),
        }
    }
    auditor.shutdown().await;
    let expected: Vec<u64> = (0..64).filter(|&i| i != 3 && i != 40).collect();
    assert_eq!(chain_order(&store.inner), expected, "every other event once, in the order recorded");
    let receipts: Vec<u64> = written.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(receipts, (1..=62).collect::<Vec<u64>>(), "receipts name the seqs the events got");
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected), (62, 2), "{stats:?}");
    // Halving: a few attempts per halving for each refused event, not one per event.
    let appends = store.appends.load(Ordering::SeqCst);
    assert!(appends < 40, "{appends} appends to find 2 refused events among 64");
}

#[tokio::test]
async fn a_lone_refused_event_is_refused_once_the_next_event_is_written() {
    let store = RefusingStore::new(usize::MAX);
    let auditor = Auditor::builder(store.clone()).build();
    let refused = auditor.try_record(draft(0, true)).expect("room");
    // Alone, the refusal could be the store's refusing everything: it waits for a witness.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(auditor.stats().rejected, 0, "not refused while nothing else was written");
    let receipt = auditor.record(draft(1, false)).await.expect("the next event is written");
    assert_eq!(receipt.seq, 1);
    let refused = refused.await;
    assert!(matches!(&refused, Err(RecordError::Rejected(reason)) if reason.contains("poison")), "{refused:?}");
    auditor.shutdown().await;
    assert_eq!(chain_order(&store.inner), vec![1]);
}

#[tokio::test]
async fn a_batch_of_nothing_but_refused_values_is_refused_once_another_event_is_written() {
    let store = RefusingStore::new(usize::MAX);
    let auditor = Auditor::builder(store.clone()).max_batch(32).build();
    let tickets = queue_all(&auditor, &[true; 32]);
    let receipt = auditor.record(draft(32, false)).await.expect("written after them");
    assert_eq!(receipt.seq, 1);
    for ticket in tickets {
        assert!(matches!(ticket.await, Err(RecordError::Rejected(_))));
    }
    auditor.shutdown().await;
    assert_eq!(auditor.stats().rejected, 32);
    assert_eq!(chain_order(&store.inner), vec![32]);
}

/// A memory store that refuses every event, as a database does whose table was altered so
/// that no event fits, until it is repaired.
struct BrokenStore {
    inner: MemoryStore,
    repaired: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl AuditStore for BrokenStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
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
    let store =
        Arc::new(BrokenStore { inner: MemoryStore::new(), repaired: std::sync::atomic::AtomicBool::new(false) });
    let retry = audit_core::RetryPolicy {
        initial: std::time::Duration::from_millis(1),
        max: std::time::Duration::from_millis(20),
    };
    let auditor = Auditor::builder(store.clone()).max_batch(8).retry(retry).build();
    let mut tickets = queue_all(&auditor, &[false; 5]);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // More arrive while the store refuses: held too, behind the first.
    for i in 5..12 {
        tickets.push(auditor.try_record(draft(i, false)).expect("room"));
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected), (0, 0), "{stats:?}");
    assert!(!auditor.is_healthy(), "a store that writes nothing is not healthy");
    store.repaired.store(true, Ordering::SeqCst);
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(ticket.await.expect("written once repaired").seq, i as u64 + 1);
    }
    auditor.shutdown().await;
    assert!(auditor.is_healthy());
    assert_eq!(chain_order(&store.inner), (0..12).collect::<Vec<u64>>(), "every event once, in order");
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
    assert_eq!(chain_order(&store.inner), (0..100).collect::<Vec<u64>>());
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected), (100, 0), "{stats:?}");
}
