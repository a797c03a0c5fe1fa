//! The writer's handling of events a store refuses (`AppendError::RefusedValue`, the refusal
//! note, held events) when other things go wrong around it: lost answers, store errors,
//! another writer, a small `max_event_bytes`, checkpoints, shutdown, health.

mod refusal_common;

use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::publish::{CallbackSink, CheckpointPolicy};
use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::verify::verify_store;
use audit_core::{Actor, Auditor, EventDraft, REFUSAL_ACTION, RecordError, SealedEvent, Ticket};
use refusal_common::{Stored, append_log_line, retry_every, stored};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CHAIN: &str = "default";
const HANG: Duration = Duration::from_secs(20);

/// What the scripted store does with one append.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// The usual checks (refuse-all mode, poison), then the memory store.
    Pass,
    /// A store error; nothing written.
    Error,
    /// Written, but a store error is answered (a lost answer).
    Lost,
    /// A data error about some value.
    Refuse,
}

type Plan = Box<dyn FnMut(u64, &[SealedEvent]) -> Fault + Send>;

/// A memory store that refuses batches holding an event of actor `poison` (a data error naming
/// none), refuses everything while `refuse_all` is set, and applies a scripted fault plan to
/// each append (numbered from 0).
struct Scripted {
    inner: MemoryStore,
    appends: AtomicU64,
    refuse_all: AtomicBool,
    plan: Mutex<Plan>,
    /// Every append's batch (as ids) and what came of it, for failure messages.
    log: Mutex<Vec<String>>,
}

impl Scripted {
    fn new() -> Arc<Scripted> {
        Scripted::with_plan(|_, _| Fault::Pass)
    }

    fn with_plan(plan: impl FnMut(u64, &[SealedEvent]) -> Fault + Send + 'static) -> Arc<Scripted> {
        Arc::new(Scripted {
            inner: MemoryStore::new(),
            appends: AtomicU64::new(0),
            refuse_all: AtomicBool::new(false),
            plan: Mutex::new(Box::new(plan)),
            log: Mutex::new(Vec::new()),
        })
    }

    fn log(&self) -> String {
        self.log.lock().expect("lock").join("\n")
    }
}

#[async_trait::async_trait]
impl AuditStore for Scripted {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst);
        let fault = (self.plan.lock().expect("lock"))(n, batch);
        let result = match fault {
            Fault::Error => Err(AppendError::Store(StoreError::Corrupt("connection reset".into()))),
            Fault::Lost => match self.inner.append(chain, expected, batch).await {
                Ok(_) => Err(AppendError::Store(StoreError::Corrupt("answer lost".into()))),
                Err(e) => Err(e),
            },
            Fault::Refuse => Err(AppendError::RefusedValue { reason: "scripted data error".into() }),
            Fault::Pass => {
                if self.refuse_all.load(Ordering::SeqCst) {
                    Err(AppendError::RefusedValue { reason: "value too long for column".into() })
                } else if batch.iter().any(|e| e.event.actor.id == "poison") {
                    Err(AppendError::RefusedValue { reason: "value out of range (poison)".into() })
                } else {
                    self.inner.append(chain, expected, batch).await
                }
            }
        };
        self.log.lock().expect("lock").push(append_log_line(n, expected, batch, &result));
        result
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
}

fn draft(i: usize) -> EventDraft {
    EventDraft::new("write").actor(Actor::user("alice")).detail("i", json!(i))
}

fn poison(i: usize) -> EventDraft {
    EventDraft::new("write").actor(Actor::user("poison")).detail("i", json!(i))
}

async fn settle<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, future).await.unwrap_or_else(|_| panic!("{what}: still waiting after {HANG:?} (a hang)"))
}

/// The size `check` reports for `draft` against a limit of 1 byte.
fn size_of(auditor: &Auditor, draft: EventDraft) -> usize {
    match auditor.check(draft) {
        Err(RecordError::Invalid(audit_core::DraftError::TooLarge { size, .. })) => size,
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

/// With a `max_event_bytes` that the application's own (small) events fit in but the writer's
/// note (action `audit_event_refused`, resource `audit_event/<uuid>`, a reason) would not, the
/// note is still written: it is the writer's own, not bound by the application's limit. (It
/// was not, and the refused event was held as if the store refused everything: its ticket
/// never answered, every later event waited behind it, and shutdown never returned.)
#[tokio::test]
async fn a_refused_value_is_noted_and_refused_even_when_max_event_bytes_is_below_the_notes_size() {
    let store = Scripted::new();
    // Measure: a small event of the application, and the writer's note.
    let probe = Auditor::builder(store.clone()).max_event_bytes(1).build();
    let event_size = size_of(&probe, poison(0));
    let note_size = size_of(
        &probe,
        EventDraft::new(REFUSAL_ACTION)
            .actor(Actor::system("audit-writer"))
            .resource("audit_event", uuid::Uuid::now_v7().to_string())
            .outcome(audit_core::Outcome::Failure)
            .reason("the audit store refused this event alone"),
    );
    probe.shutdown().await;
    assert!(event_size < note_size, "event {event_size} bytes, note {note_size} bytes");
    eprintln!("max_event_bytes {event_size}: the event fits, the note ({note_size} bytes) does not");
    let auditor = Auditor::builder(store.clone())
        .max_event_bytes(event_size)
        .retry(retry_every(Duration::from_millis(5)))
        .build();
    let bad = auditor.record_buffered(poison(0)).await.expect("a valid event of this auditor");
    let bad_id = bad.id();
    let answer = settle("the refused event's ticket", bad).await;
    assert!(matches!(answer, Err(RecordError::Rejected(_))), "{answer:?}");
    let good = settle("a good event after it", auditor.record(draft(1))).await.expect("written");
    assert_eq!(good.seq, 2);
    settle("shutdown", auditor.shutdown()).await;
    assert_eq!(stored(&store.inner), vec![Stored::Note(bad_id), Stored::Event(1)]);
}

/// Events held while the store refused everything make the writer unhealthy. The store is
/// repaired; the held event is then refused for good for its id (it repeats an id the chain
/// already has: `AppendError::Rejected`). Nothing waits and the store answers: healthy again.
/// (Only a written batch cleared the flag, so a health check reported an outage that was over
/// until some other event came.)
#[tokio::test]
async fn healthy_again_once_the_repaired_store_refuses_the_held_event_for_its_id() {
    let store = Scripted::new();
    let auditor = Auditor::builder(store.clone()).retry(retry_every(Duration::from_millis(5))).build();
    let taken = auditor.record(draft(0)).await.expect("written");
    store.refuse_all.store(true, Ordering::SeqCst);
    let again = auditor.record_buffered(draft(1).with_id(taken.id)).await.expect("queued");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!auditor.is_healthy(), "held while the store refuses all");
    store.refuse_all.store(false, Ordering::SeqCst);
    let answer = settle("the held event", again).await;
    assert!(matches!(answer, Err(RecordError::Rejected(_))), "{answer:?}");
    // Give the writer every chance to notice.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes), (1, 1, 0), "{stats:?}");
    assert!(auditor.is_healthy(), "the store answers and takes events again, nothing is waiting: {stats:?}");
    settle("shutdown", auditor.shutdown()).await;
    assert_eq!(stored(&store.inner), vec![Stored::Event(0)]);
}

/// A store that refuses every event (its note too) makes the writer unhealthy: a caller
/// already waiting in `Auditor::until_unhealthy` (a response under fail-open) is woken then,
/// not only by a failed append.
#[tokio::test]
async fn a_store_refusing_every_event_wakes_those_waiting_until_unhealthy() {
    let store = Scripted::new();
    let auditor = Auditor::builder(store.clone()).retry(retry_every(Duration::from_secs(60))).build();
    auditor.record(draft(0)).await.expect("written");
    let waiting = tokio::spawn(auditor.until_unhealthy());
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "the store takes events");
    store.refuse_all.store(true, Ordering::SeqCst);
    let held = auditor.record_buffered(draft(1)).await.expect("queued");
    settle("the waiter", waiting).await.expect("the waiting task");
    assert!(!auditor.is_healthy());
    store.refuse_all.store(false, Ordering::SeqCst);
    settle("shutdown", auditor.shutdown()).await;
    assert_eq!(settle("the held event", held).await.expect("written").seq, 2);
    assert_eq!(stored(&store.inner), vec![Stored::Event(0), Stored::Event(1)]);
}

/// The same with a plain store error: one transient error (nothing written), then the retry is
/// refused for its id. Nothing waits and the store answers: healthy.
#[tokio::test]
async fn healthy_again_when_a_retry_after_a_store_error_is_refused() {
    let store = Scripted::new();
    let auditor = Auditor::builder(store.clone()).retry(retry_every(Duration::from_millis(5))).build();
    let taken = auditor.record(draft(0)).await.expect("written");
    *store.plan.lock().expect("lock") = Box::new(|n, _| if n == 1 { Fault::Error } else { Fault::Pass });
    let answer = settle("the repeated id", auditor.record(draft(1).with_id(taken.id))).await;
    assert!(matches!(answer, Err(RecordError::Rejected(_))), "{answer:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.retries), (1, 1, 1), "{stats:?}");
    assert!(auditor.is_healthy(), "one transient error, answered since: {stats:?}");
    settle("shutdown", auditor.shutdown()).await;
    assert_eq!(stored(&store.inner), vec![Stored::Event(0)]);
}

/// Events are held while the store refuses everything; the store is repaired, then
/// `shutdown()` is called: the held events are tried at once and written. (Shutdown waited for
/// the held events' timer, a minute here: up to `RetryPolicy::max`.)
#[tokio::test]
async fn shutdown_after_a_repair_writes_held_events_without_waiting_for_their_timer() {
    let store = Scripted::new();
    store.refuse_all.store(true, Ordering::SeqCst);
    let auditor = Auditor::builder(store.clone()).retry(retry_every(Duration::from_secs(60))).build();
    let tickets: Vec<Ticket> = (0..3).map(|i| auditor.try_record(draft(i)).expect("room")).collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(auditor.stats().written, 0);
    store.refuse_all.store(false, Ordering::SeqCst);
    settle("shutdown of a repaired store", auditor.shutdown()).await;
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(ticket.await.expect("written").seq, i as u64 + 1);
    }
    assert_eq!(stored(&store.inner), (0..3).map(Stored::Event).collect::<Vec<_>>());
}

/// The note's append loses its answer (it was written), then the noted event's retry
/// loses its answer too (written): each is recognised, nothing is written twice, and the
/// counters are exact.
#[tokio::test]
async fn lost_answers_of_the_note_and_of_the_noted_event_are_recognised() {
    // Appends: 0 [P] refused (scripted) -> 1 note: lost -> 2 P again: lost (written).
    let store = Scripted::with_plan(|n, _| match n {
        0 => Fault::Refuse,
        1 | 2 => Fault::Lost,
        _ => Fault::Pass,
    });
    let auditor = Auditor::builder(store.clone()).retry(retry_every(Duration::from_millis(2))).build();
    let t = auditor.try_record(draft(0)).expect("room");
    let id = t.id();
    let receipt = settle("the event", t).await.unwrap_or_else(|e| panic!("{e}\n{}", store.log()));
    assert_eq!(receipt.seq, 2);
    assert_eq!(settle("next", auditor.record(draft(1))).await.expect("written").seq, 3);
    settle("shutdown", auditor.shutdown()).await;
    assert_eq!(stored(&store.inner), vec![Stored::Note(id), Stored::Event(0), Stored::Event(1)]);
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes, stats.recovered_writes), (2, 0, 1, 2), "{stats:?}");
    assert!(stats.healthy);
}

/// A second auditor moves the head between the note and the noted event's retry, and
/// between halvings: the poison event is refused once with one note, everything else of both
/// writers is written once, the chain verifies.
#[tokio::test]
async fn another_writer_moving_the_head_between_note_and_retry_changes_nothing() {
    let store = Scripted::new();
    let other = Auditor::builder(store.clone()).chain(CHAIN).build();
    let other_store = Arc::clone(&store);
    let other_for_plan = other.clone();
    // Whenever our writer appends a note, the other writer appends right after (from the
    // plan, via a spawned task that the note's append does not wait for).
    *store.plan.lock().expect("lock") = Box::new(move |_, batch| {
        if batch.iter().any(|e| e.event.action == REFUSAL_ACTION || e.event.actor.id == "poison") {
            let other = other_for_plan.clone();
            let _ = other.try_record(EventDraft::new("other").actor(Actor::user("bob")).detail("i", json!(1000)));
        }
        Fault::Pass
    });
    let _ = other_store;
    let auditor = Auditor::builder(store.clone()).retry(retry_every(Duration::from_millis(2))).max_batch(8).build();
    let tickets: Vec<Ticket> =
        (0..8).map(|i| auditor.try_record(if i == 5 { poison(i) } else { draft(i) }).expect("room")).collect();
    let bad = tickets[5].id();
    for (i, t) in tickets.into_iter().enumerate() {
        let r = settle("ticket", t).await;
        if i == 5 {
            assert!(matches!(r, Err(RecordError::Rejected(_))), "{r:?}");
        } else {
            r.unwrap_or_else(|e| panic!("event {i}: {e}\n{}", store.log()));
        }
    }
    settle("shutdown", auditor.shutdown()).await;
    settle("other shutdown", other.shutdown()).await;
    let trail = stored(&store.inner);
    let ours: Vec<Stored> = trail.iter().copied().filter(|s| *s != Stored::Event(1000)).collect();
    let mut expected: Vec<Stored> = (0..5).map(Stored::Event).collect();
    expected.push(Stored::Note(bad));
    expected.extend((6..8).map(Stored::Event));
    assert_eq!(ours, expected, "{}", store.log());
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes), (7, 1, 1), "{stats:?}");
    assert_eq!(other.stats().written, trail.len() as u64 - 8);
}

/// max_batch 1, queue 1: one held event fills the writer, `try_record` answers Full
/// for the second beyond the queue, and everything is written in order once repaired.
#[tokio::test]
async fn held_events_apply_backpressure_with_max_batch_one_and_queue_one() {
    let store = Scripted::new();
    store.refuse_all.store(true, Ordering::SeqCst);
    let auditor = Auditor::builder(store.clone())
        .max_batch(1)
        .queue_capacity(1)
        .retry(retry_every(Duration::from_millis(5)))
        .build();
    let a = auditor.try_record(draft(0)).expect("room");
    tokio::time::sleep(Duration::from_millis(30)).await;
    let b = auditor.try_record(draft(1)).expect("room in the queue");
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(matches!(auditor.try_record(draft(2)), Err(audit_core::TryRecordError::Full { .. })));
    assert_eq!(auditor.stats().queue_depth, 1);
    store.refuse_all.store(false, Ordering::SeqCst);
    assert_eq!(settle("a", a).await.expect("written").seq, 1);
    assert_eq!(settle("b", b).await.expect("written").seq, 2);
    settle("shutdown", auditor.shutdown()).await;
    assert_eq!(stored(&store.inner), vec![Stored::Event(0), Stored::Event(1)]);
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes, stats.queued), (2, 0, 0, 2), "{stats:?}");
    assert!(stats.healthy);
}

/// Checkpoints while notes are written and events are refused: every published
/// checkpoint verifies against the chain the store holds (notes included).
#[tokio::test]
async fn checkpoints_published_while_notes_are_written_verify() {
    const ORIGIN: &str = "audit.example.com/default";
    let store = Scripted::new();
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let notes: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = {
        let notes = Arc::clone(&notes);
        Arc::new(CallbackSink::new(move |_c, note| {
            notes.lock().expect("lock").push(note.to_string());
            Ok(())
        }))
    };
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), sink).expect("origin").every_events(3);
    let auditor = Auditor::builder(store.clone()).max_batch(16).checkpoints(policy).build();
    let tickets: Vec<Ticket> =
        (0..16).map(|i| auditor.try_record(if i % 5 == 2 { poison(i) } else { draft(i) }).expect("room")).collect();
    for t in tickets {
        let _ = settle("ticket", t).await;
    }
    settle("shutdown", auditor.shutdown()).await;
    let trail = stored(&store.inner);
    let checkpoints: Vec<Checkpoint> = notes
        .lock()
        .expect("lock")
        .iter()
        .map(|n| Checkpoint::verify(n, &signer.verifier()).expect("signed"))
        .collect();
    assert!(!checkpoints.is_empty());
    assert_eq!(checkpoints.last().expect("a checkpoint").size, trail.len() as u64, "the final state");
    for c in &checkpoints {
        let report = verify_store(&*store, CHAIN, Some(c)).await.expect("store");
        assert!(report.is_valid(), "checkpoint at {}: {report:?}", c.size);
    }
    let stats = auditor.stats();
    assert_eq!((stats.written, stats.rejected, stats.refusal_notes), (13, 3, 3), "{stats:?}");
}
