//! Writing on the recording task: when the writer is idle, `Auditor::record` and
//! `Auditor::try_write_here` append on the caller's task instead of handing the events to the
//! writer task and waiting for it. The promises stay those of the writer task: nothing
//! overtakes an event queued before it, nothing is lost when the caller goes away, store
//! errors are retried without writing twice, events the store refuses for now are retried by
//! the writer task, and a shutdown waits for an append in progress.

use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::verify::verify_store;
use audit_core::{Actor, Auditor, EventDraft, RecordError, RetryPolicy, SealedEvent, TryWriteHereError};
use futures_util::FutureExt;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// A [`MemoryStore`] whose appends can be held at a gate, can lose their answer once written,
/// or can refuse every event; it logs the task that made each append and its actions.
struct Store {
    inner: MemoryStore,
    gated: AtomicBool,
    gate: Semaphore,
    /// Appends still to be written with their answer lost (a store error).
    lose_answers: AtomicUsize,
    refuse_all: AtomicBool,
    appends: Mutex<Vec<(Option<tokio::task::Id>, Vec<String>)>>,
}

impl Store {
    fn new() -> Arc<Store> {
        Arc::new(Store {
            inner: MemoryStore::new(),
            gated: AtomicBool::new(false),
            gate: Semaphore::new(0),
            lose_answers: AtomicUsize::new(0),
            refuse_all: AtomicBool::new(false),
            appends: Mutex::new(Vec::new()),
        })
    }

    fn appends(&self) -> Vec<(Option<tokio::task::Id>, Vec<String>)> {
        self.appends.lock().expect("lock").clone()
    }

    /// The actions of the stored chain, in order.
    async fn actions(&self) -> Vec<String> {
        let page = self.inner.query(&Query::new().limit(10_000)).await.expect("query");
        let mut events: Vec<_> = page.events.into_iter().map(|sealed| (sealed.seq(), sealed.event.action)).collect();
        events.sort();
        events.into_iter().map(|(_, action)| action).collect()
    }
}

#[async_trait::async_trait]
impl AuditStore for Store {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        if self.gated.load(Ordering::SeqCst) {
            self.gate.acquire().await.expect("gate open").forget();
        }
        if self.refuse_all.load(Ordering::SeqCst) {
            return Err(AppendError::RefusedValue { reason: "value too long for column".into() });
        }
        let head = self.inner.append(chain, expected, batch).await?;
        let actions = batch.iter().map(|sealed| sealed.event.action.clone()).collect();
        self.appends.lock().expect("lock").push((tokio::task::try_id(), actions));
        let lose = self.lose_answers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if lose {
            return Err(AppendError::Store(StoreError::Corrupt("answer lost".into())));
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

fn fast_retry() -> RetryPolicy {
    RetryPolicy { initial: Duration::from_millis(5), max: Duration::from_millis(20) }
}

fn draft(action: &str) -> EventDraft {
    EventDraft::new(action).actor(Actor::user("alice"))
}

async fn assert_chain_valid(store: &Store, events: u64) {
    let report = verify_store(&store.inner, "default", None).await.expect("read");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.verified, events);
}

#[tokio::test]
async fn an_idle_writer_appends_on_the_recording_task() {
    let store = Store::new();
    let auditor = Auditor::builder(store.clone()).build();
    let recording = auditor.clone();
    let (task, receipt) = tokio::spawn(async move {
        let receipt = recording.record(draft("first")).await.expect("recorded");
        (tokio::task::id(), receipt)
    })
    .await
    .expect("task");
    assert_eq!(receipt.seq, 1);
    assert_eq!(store.appends(), [(Some(task), vec!["first".to_string()])], "appended by the recording task");
    auditor.shutdown().await;
    assert_chain_valid(&store, 1).await;
}

#[tokio::test]
async fn events_queued_before_are_not_overtaken() {
    let store = Store::new();
    let auditor = Auditor::builder(store.clone()).build();
    // Queued; the writer task has not run yet (current-thread runtime, no yield so far).
    for action in ["q1", "q2", "q3"] {
        auditor.try_record_detached(draft(action)).expect("queued");
    }
    let handed_back = match auditor.try_write_here(vec![draft("here")]) {
        Err(TryWriteHereError::Busy(drafts)) => drafts,
        other => panic!("events are queued: the writer is not idle, got {other:?}"),
    };
    assert_eq!(handed_back.len(), 1);
    for draft in handed_back {
        auditor.record(draft).await.expect("recorded");
    }
    assert_eq!(store.actions().await, ["q1", "q2", "q3", "here"], "the draft came back untouched, and after them");
    // Once what was queued is written, the writer is idle again.
    let tickets = auditor.try_write_here(vec![draft("a"), draft("b")]).expect("idle").await;
    for ticket in tickets {
        ticket.await.expect("written");
    }
    assert_eq!(store.actions().await, ["q1", "q2", "q3", "here", "a", "b"]);
    auditor.shutdown().await;
    assert_chain_valid(&store, 6).await;
}

#[tokio::test]
async fn an_invalid_draft_writes_none_of_its_batch() {
    let store = Store::new();
    let auditor = Auditor::builder(store.clone()).build();
    let invalid = EventDraft::new("invalid").actor(Actor::user("x".repeat(audit_core::MAX_INDEXED_FIELD_BYTES + 1)));
    match auditor.try_write_here(vec![draft("valid"), invalid]) {
        Err(TryWriteHereError::Record(RecordError::Invalid(_))) => {}
        other => panic!("an invalid draft is refused, got {other:?}"),
    }
    auditor.record(draft("next")).await.expect("recorded");
    let none = auditor.try_write_here(Vec::new()).expect("nothing to write").await;
    assert!(none.is_empty());
    auditor.shutdown().await;
    assert_eq!(store.actions().await, ["next"]);
    assert_eq!(store.appends().len(), 1, "no append for an empty batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_append_is_finished_by_a_task_of_its_own() {
    let store = Store::new();
    store.gated.store(true, Ordering::SeqCst);
    let auditor = Auditor::builder(store.clone()).build();
    let mut writing = auditor.try_write_here(vec![draft("dropped")]).expect("idle");
    // The append begins and waits at the gate.
    assert!((&mut writing).now_or_never().is_none(), "the append waits at the gate");
    drop(writing);
    let ticket = auditor.record_buffered(draft("queued")).await.expect("queued");
    store.gate.add_permits(2);
    ticket.await.expect("the queued event is written after the dropped one");
    auditor.shutdown().await;
    assert_eq!(store.actions().await, ["dropped", "queued"], "each once, in order");
    assert_eq!(store.appends().len(), 2);
    assert_chain_valid(&store, 2).await;
}

/// Dropped on a thread where no runtime runs (a plain thread the caller handed it to), the
/// append is still finished, on the runtime it was made on: it was dropped unfinished, its
/// events lost without a word, while the docs promised that dropping never withdraws them.
#[tokio::test]
async fn an_append_dropped_on_a_plain_thread_is_finished_on_its_runtime() {
    let store = Store::new();
    let auditor = Auditor::builder(store.clone()).build();
    let writing = auditor.try_write_here(vec![draft("dropped elsewhere")]).expect("idle");
    std::thread::spawn(move || drop(writing)).join().expect("the thread drops it");
    auditor.record(draft("after")).await.expect("recorded");
    auditor.shutdown().await;
    assert_eq!(store.actions().await, ["dropped elsewhere", "after"], "each once, in order");
    assert_chain_valid(&store, 2).await;
}

/// Dropped inside another runtime (a `block_on` of a second runtime, which is then dropped),
/// the append is finished on the runtime it was made on, as the docs say: it was spawned on
/// the runtime current at the drop, and dropping that runtime cancelled it, the events lost.
#[test]
fn an_append_dropped_inside_another_runtime_is_finished_on_its_own() {
    let own = tokio::runtime::Runtime::new().expect("runtime");
    let store = Store::new();
    let auditor = own.block_on(async { Auditor::builder(store.clone()).build() });
    let writing = {
        let _on_own = own.enter();
        auditor.try_write_here(vec![draft("dropped elsewhere")]).expect("idle")
    };
    let other = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    other.block_on(async move { drop(writing) });
    drop(other);
    own.block_on(async {
        auditor.record(draft("after")).await.expect("recorded");
        auditor.shutdown().await;
        assert_eq!(store.actions().await, ["dropped elsewhere", "after"], "each once, in order");
        assert_chain_valid(&store, 2).await;
    });
}

#[tokio::test]
async fn a_lost_answer_on_the_recording_task_is_not_written_twice() {
    let store = Store::new();
    store.lose_answers.store(1, Ordering::SeqCst);
    let auditor = Auditor::builder(store.clone()).retry(fast_retry()).build();
    let receipt = auditor.record(draft("once")).await.expect("recorded");
    assert_eq!(receipt.seq, 1);
    let stats = auditor.stats();
    assert_eq!((stats.retries, stats.recovered_writes, stats.written), (1, 1, 1), "{stats:?}");
    auditor.record(draft("next")).await.expect("recorded");
    auditor.shutdown().await;
    assert_eq!(store.actions().await, ["once", "next"]);
    assert_chain_valid(&store, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_held_on_the_recording_task_are_retried_by_the_writer_task() {
    let store = Store::new();
    store.refuse_all.store(true, Ordering::SeqCst);
    let auditor = Auditor::builder(store.clone()).retry(fast_retry()).build();
    let recording = auditor.clone();
    let record = tokio::spawn(async move {
        let receipt = recording.record(draft("held")).await;
        (tokio::task::id(), receipt)
    });
    // The store refuses even the writer's note: the event is held, the auditor unhealthy.
    auditor.until_unhealthy().await;
    store.refuse_all.store(false, Ordering::SeqCst);
    // No other event arrives: the writer task must take the held event up on its own.
    let (task, receipt) = tokio::time::timeout(Duration::from_secs(30), record)
        .await
        .expect("the held event is written once the store takes events again")
        .expect("task");
    assert_eq!(receipt.expect("recorded").seq, 1);
    let appends = store.appends();
    assert_eq!(appends.len(), 1, "{appends:?}");
    assert_ne!(appends[0].0, Some(task), "written by the writer task, not the recording one");
    assert!(auditor.is_healthy());
    auditor.shutdown().await;
    assert_eq!(store.actions().await, ["held"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_an_append_on_a_recording_task() {
    let store = Store::new();
    store.gated.store(true, Ordering::SeqCst);
    let auditor = Auditor::builder(store.clone()).build();
    let writing = auditor.try_write_here(vec![draft("in progress")]).expect("idle");
    let record = tokio::spawn(writing);
    let closing = auditor.clone();
    let shutdown = tokio::spawn(async move { closing.shutdown().await });
    // The shutdown closes the queue; the writer task then waits for the writer.
    let closed = async {
        while !auditor.is_closed() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), closed).await.expect("the queue is closed while an append waits");
    assert!(!shutdown.is_finished(), "an append is in progress");
    assert!(store.appends().is_empty());
    store.gate.add_permits(1);
    shutdown.await.expect("shutdown");
    assert_eq!(store.actions().await, ["in progress"], "written before the shutdown returned");
    for ticket in record.await.expect("task") {
        assert_eq!(ticket.await.expect("written").seq, 1);
    }
    match auditor.try_write_here(vec![draft("late")]) {
        Err(TryWriteHereError::Record(RecordError::Closed)) => {}
        other => panic!("shut down: {other:?}"),
    }
    assert_eq!(auditor.record(draft("late")).await, Err(RecordError::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_each_event_once_and_each_tasks_events_in_order() {
    const TASKS: usize = 16;
    const EACH: usize = 100;
    let store = Store::new();
    let auditor = Auditor::builder(store.clone()).build();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let auditor = auditor.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let draft = EventDraft::new(format!("t{task}")).detail("i", json!(i));
                // Acknowledged (on this task when the writer is idle), buffered, and detached.
                match (task + i) % 3 {
                    0 => drop(auditor.record(draft).await.expect("recorded")),
                    1 => drop(auditor.record_buffered(draft).await.expect("queued")),
                    _ => loop {
                        match auditor.try_record_detached(draft.clone()) {
                            Ok(_) => break,
                            Err(_) => tokio::task::yield_now().await,
                        }
                    },
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    auditor.shutdown().await;
    assert_chain_valid(&store, (TASKS * EACH) as u64).await;
    let page = store.inner.query(&Query::new().limit(10_000)).await.expect("query");
    let mut events: Vec<_> = page.events.into_iter().map(|sealed| (sealed.seq(), sealed.event)).collect();
    events.sort_by_key(|(seq, _)| *seq);
    for task in 0..TASKS {
        let order: Vec<u64> = events
            .iter()
            .filter(|(_, event)| event.action == format!("t{task}"))
            .map(|(_, event)| event.details["i"].as_u64().expect("i"))
            .collect();
        assert_eq!(order, (0..EACH as u64).collect::<Vec<_>>(), "task {task}: each event once, in its order");
    }
    let stats = auditor.stats();
    assert_eq!((stats.queued, stats.written), ((TASKS * EACH) as u64, (TASKS * EACH) as u64), "{stats:?}");
}
