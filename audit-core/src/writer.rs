//! [`Auditor`]: the writer that chains events and appends them to a store without losing
//! or repeating any.
//!
//! ```
//! use audit_core::{Actor, Auditor, EventDraft, store::MemoryStore};
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let auditor = Auditor::builder(Arc::new(MemoryStore::new())).chain("default").build();
//! let receipt = auditor
//!     .record(EventDraft::new("login").actor(Actor::user("alice")))
//!     .await
//!     .unwrap();
//! assert_eq!(receipt.seq, 1);
//! auditor.shutdown().await;
//! # });
//! ```
//!
//! # How it works
//! The caller's task validates, redacts and serializes the draft ([`PreparedEvent`]) and puts
//! it on a bounded queue. One background task takes whatever is queued (up to
//! [`AuditorBuilder::max_batch`]), gives each event its `seq`, `prev` and `hash`, and appends
//! them as one batch (group commit). Receipts are sent once the store says the batch is
//! durable. When someone waits for an event of the batch (a [`Ticket`]), the batch is written
//! at once; when no one does ([`Auditor::try_record_detached`]), the writer first lets the
//! tasks that are ready to run record theirs, so that they share the append.
//!
//! A caller that waits for its events anyway ([`Auditor::record`],
//! [`Auditor::try_write_here`]) and finds the writer idle — nothing queued or held, no batch
//! being written — appends them on its own task instead, with the same code and promises,
//! sparing the hand-offs to the background task and back (each a wake-up of another task, and
//! often of another thread). Meanwhile the background task waits to write what is queued
//! after them; a caller that goes away mid-append leaves the rest to a task of its own.
//!
//! # Promises
//! - **Nothing dropped**: a full queue makes [`Auditor::record`] wait (backpressure);
//!   [`Auditor::try_record`] says [`TryRecordError::Full`] and hands the draft back.
//! - **Store errors**: the batch is retried, in order, with exponential backoff, for as long
//!   as it takes. Before a retry the writer reads the store's head: if the failed append was
//!   in fact written, it is recognised there and not written again.
//! - **Values a store cannot take**: a store that refuses an append for good
//!   ([`crate::store::AppendError::Rejected`]: a repeated id;
//!   [`crate::store::AppendError::RefusedValue`]: a database's data error about some value)
//!   costs only the events at fault: the writer narrows the refusal down to them
//!   (halving the batch when the store cannot say which), answers their tickets with
//!   [`RecordError::Rejected`], counts them in [`WriterStats::rejected`], and appends the rest
//!   in order. Such an event does not hold up its chain.
//! - **A value, or the whole store?** A data error about one event alone may mean that the
//!   store refuses *every* event (a column altered under it). So before refusing an event for
//!   its value, the writer appends a note of its own in its place, a [`REFUSAL_ACTION`] event
//!   naming only the refused event's id (the trail itself then shows that the store refused an
//!   event), and appends the event alone once more right after it. It is refused only if the
//!   store takes the note and refuses the event again. If the store refuses the note too, the
//!   event and those after it are held, in order, and tried again, before any newer event,
//!   after a wait that doubles up to [`RetryPolicy::max`] and whenever new events arrive
//!   (each try appends the first held event alone: two appends while the store still refuses
//!   all). [`Auditor::is_healthy`] is false meanwhile; nothing is refused while the store
//!   refuses all, and once [`AuditorBuilder::max_batch`] events are held the writer takes no more
//!   from the queue, and callers wait when it is full (backpressure). Not decided: a store that begins to refuse everything in
//!   the moment between the note and the event's second try refuses that one event (if that
//!   try meets a store error, the writer asks again with another note).
//! - **Other writers**: if another process moved the chain's head, the batch is re-chained on
//!   top of it ([`WriterStats::conflicts`]).
//! - **Shutdown**: [`Auditor::shutdown`] stops new records and returns once everything queued
//!   is durable (held events are tried again at once, not after their wait), and once an
//!   append a caller began on its own task ([`Auditor::try_write_here`]) is done.
//! - **Checkpoints** ([`AuditorBuilder::checkpoints`]): signed only for durable states, from a
//!   task of their own; a failing sink is retried and never holds up or loses an event.
//!
//! # Delivery modes
//! [`Auditor::record`] is *acknowledged*: it returns once the event is durable.
//! [`Auditor::record_buffered`] is *buffered*: it returns once the event is queued, with a
//! [`Ticket`] that may be awaited later or dropped. In buffered mode the events still in the
//! queue (at most the queue capacity plus one batch) are lost if the process crashes or is
//! killed before they are written; a clean shutdown loses nothing.

use crate::event::{Actor, DraftError, Event, EventDraft, FORMAT_VERSION, PreparedEvent, SealedEvent};
use crate::hash::EventHash;
use crate::publish::{Appended, CheckpointPolicy, PublishState, Publisher};
use crate::redact::RedactionPolicy;
use crate::scope::AuditScope;
use crate::store::{AppendError, AuditStore, Head, StoreError};
use crate::timestamp::Timestamp;
use futures_util::{FutureExt, StreamExt};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use uuid::Uuid;

/// Proof that an event is durable in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The chain.
    pub chain: String,
    /// The event's position.
    pub seq: u64,
    /// The event's hash.
    pub hash: EventHash,
    /// The event's id.
    pub id: Uuid,
}

/// Why an event was not accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    /// The draft is not a valid event.
    #[error(transparent)]
    Invalid(#[from] DraftError),
    /// The auditor was shut down.
    #[error("the auditor is shut down: no more events are accepted")]
    Closed,
    /// The store refused the event for good (e.g. its id, given with
    /// [`EventDraft::with_id`], is already in the chain); it was not written.
    #[error("the audit store refused the event: {0}")]
    Rejected(String),
}

/// What [`Auditor::try_record_all_detached`] did not queue.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct NotQueued {
    /// The drafts from the first that met a full queue on, in order, untouched.
    pub rest: Vec<EventDraft>,
    /// How many drafts the auditor refused for good (not valid events, or the auditor is shut
    /// down).
    pub refused: usize,
}

/// Why [`Auditor::try_record`] did not queue the draft.
#[derive(Debug, thiserror::Error)]
pub enum TryRecordError {
    /// The queue is full; the draft is handed back.
    #[error("the audit queue is full ({capacity} events): wait with Auditor::record, or retry later")]
    Full {
        /// The draft, untouched.
        draft: Box<EventDraft>,
        /// The queue's capacity.
        capacity: usize,
    },
    /// Not accepted for another reason.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// An event in the queue; await it for its [`Receipt`] or drop it.
#[derive(Debug)]
pub struct Ticket {
    id: Uuid,
    receiver: oneshot::Receiver<Result<Receipt, RecordError>>,
}

impl Ticket {
    /// A ticket for the event `id`, and the sender that answers it.
    fn new(id: Uuid) -> (oneshot::Sender<Result<Receipt, RecordError>>, Ticket) {
        let (ack, receiver) = oneshot::channel();
        (ack, Ticket { id, receiver })
    }

    /// The event's id.
    pub fn id(&self) -> Uuid {
        self.id
    }
}

impl Future for Ticket {
    type Output = Result<Receipt, RecordError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // The writer only drops a sender without answering if its task was aborted
        // (runtime shut down) before the event was written.
        Pin::new(&mut self.receiver).poll(cx).map(|result| result.unwrap_or(Err(RecordError::Closed)))
    }
}

/// Why [`Auditor::try_write_here`] did not write the drafts.
#[derive(Debug, thiserror::Error)]
pub enum TryWriteHereError {
    /// The writer is not idle (events queued, held or being written), or the drafts are more
    /// than one batch: they are handed back untouched, to be queued.
    #[error("the audit writer is busy: queue the events instead")]
    Busy(Vec<EventDraft>),
    /// Not accepted for another reason; nothing was written.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Events being appended on the calling task ([`Auditor::try_write_here`]); resolves to their
/// tickets, already answered, once the append is done. Dropped before that, the append is
/// finished by a task of its own.
#[must_use = "the events are written when this is awaited, or by a task of its own if it is dropped"]
pub struct WritingHere {
    tickets: Vec<Ticket>,
    /// `None` when there is nothing to write.
    append: Option<FinishOnDrop<()>>,
}

impl std::fmt::Debug for WritingHere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WritingHere").field("tickets", &self.tickets).finish_non_exhaustive()
    }
}

impl Future for WritingHere {
    type Output = Vec<Ticket>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        if let Some(append) = self.append.as_mut() {
            ready!(Pin::new(append).poll(cx));
            self.append = None;
        }
        Poll::Ready(std::mem::take(&mut self.tickets))
    }
}

/// A future that, dropped before it is done, is finished by a task of its own (if there is a
/// tokio runtime to run one): for work that must not stop halfway because its caller went
/// away, such as writing the audit events of a change already committed. Costs one boxed
/// future; a task only if it is dropped unfinished.
///
/// ```
/// use audit_core::FinishOnDrop;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (done, finished) = tokio::sync::oneshot::channel();
/// let work = FinishOnDrop::new(async move {
///     tokio::task::yield_now().await;
///     let _ = done.send("finished");
/// });
/// drop(work); // the caller goes away: a task finishes the work
/// assert_eq!(finished.await, Ok("finished"));
/// # });
/// ```
#[must_use = "the work runs when this is awaited, or in a task of its own once this is dropped"]
pub struct FinishOnDrop<T: Send + 'static>(
    Option<Pin<Box<dyn Future<Output = T> + Send>>>,
    Option<tokio::runtime::Handle>,
);

impl<T: Send + 'static> FinishOnDrop<T> {
    /// Wraps `future`. Made on a tokio runtime, it is finished on that runtime when dropped,
    /// even where none runs (a plain thread); made elsewhere, on the runtime it is dropped on
    /// (dropped where none runs either, it is dropped unfinished).
    pub fn new(future: impl Future<Output = T> + Send + 'static) -> FinishOnDrop<T> {
        FinishOnDrop(Some(Box::pin(future)), tokio::runtime::Handle::try_current().ok())
    }
}

impl<T: Send + 'static> std::fmt::Debug for FinishOnDrop<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinishOnDrop").field("done", &self.0.is_none()).finish()
    }
}

impl<T: Send + 'static> Future for FinishOnDrop<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<T> {
        // Out while polled: one that panics is not finished by a task when dropped.
        let Some(mut future) = self.0.take() else { return Poll::Pending };
        match future.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(output),
            Poll::Pending => {
                self.0 = Some(future);
                Poll::Pending
            }
        }
    }
}

impl<T: Send + 'static> Drop for FinishOnDrop<T> {
    fn drop(&mut self) {
        // The runtime it was made on first: dropped inside another (a `block_on` of a runtime
        // that is dropped next), it would be cancelled with that one.
        let runtime = self.1.take().or_else(|| tokio::runtime::Handle::try_current().ok());
        if let (Some(future), Some(runtime)) = (self.0.take(), runtime) {
            runtime.spawn(future);
        }
    }
}

/// Counters of the writer (all monotonic except `queue_depth` and `healthy`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Events accepted: queued, or written on a caller's task ([`Auditor::try_write_here`]).
    pub queued: u64,
    /// Events durable in the store.
    pub written: u64,
    /// Events waiting now.
    pub queue_depth: u64,
    /// Batches appended.
    pub batches: u64,
    /// Appends retried after a store error.
    pub retries: u64,
    /// Failed appends found to have been written after all.
    pub recovered_writes: u64,
    /// Batches re-chained because another writer moved the head.
    pub conflicts: u64,
    /// Events the store refused for good ([`RecordError::Rejected`]), not written.
    pub rejected: u64,
    /// Notes the writer appended itself ([`REFUSAL_ACTION`]), each when the store refused an
    /// event alone; not counted in `written`.
    pub refusal_notes: u64,
    /// Batch sizes: bucket `i` counts batches of `2^i ..= 2^(i+1)-1` events.
    pub batch_size_buckets: [u64; 12],
    /// False while the store is failing.
    pub healthy: bool,
    /// Signed checkpoints published ([`AuditorBuilder::checkpoints`]).
    pub checkpoints_published: u64,
    /// Checkpoint publications (or tree computations) that failed and will be tried again;
    /// see [`Auditor::last_checkpoint_error`].
    pub checkpoint_failures: u64,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    written: AtomicU64,
    batches: AtomicU64,
    retries: AtomicU64,
    recovered_writes: AtomicU64,
    conflicts: AtomicU64,
    rejected: AtomicU64,
    refusal_notes: AtomicU64,
    buckets: [AtomicU64; 12],
    unhealthy: AtomicBool,
}

/// The most events [`AuditorBuilder::queue_capacity`] takes (a larger value is this one):
/// tokio's channel cannot count more.
pub const MAX_QUEUE_CAPACITY: usize = usize::MAX >> 4;

/// The largest batch [`AuditorBuilder::max_batch`] takes (a larger value is this one).
pub const MAX_BATCH: usize = 1 << 20;

/// The shortest wait of a [`RetryPolicy`] given to [`AuditorBuilder::retry`] (a shorter one,
/// zero included, is this one): a wait of zero doubles to zero, and the writer would retry a
/// failing store without pause for as long as it fails.
pub const MIN_RETRY_WAIT: Duration = Duration::from_millis(1);

/// The longest wait of a [`RetryPolicy`] given to [`AuditorBuilder::retry`] (a longer one is
/// this one): a day.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Retry timing after store errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { initial: Duration::from_millis(10), max: Duration::from_secs(5) }
    }
}

/// Builds an [`Auditor`].
pub struct AuditorBuilder {
    store: Arc<dyn AuditStore>,
    chain: String,
    queue_capacity: usize,
    max_batch: usize,
    max_event_bytes: usize,
    redaction: RedactionPolicy,
    retry: RetryPolicy,
    checkpoints: Option<CheckpointPolicy>,
}

impl AuditorBuilder {
    /// The chain to append to (default `"default"`).
    pub fn chain(mut self, chain: impl Into<String>) -> Self {
        self.chain = chain.into();
        self
    }
    /// How many events may wait (default 16 384, at most [`MAX_QUEUE_CAPACITY`]). Callers
    /// wait when it is full.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.clamp(1, MAX_QUEUE_CAPACITY);
        self
    }
    /// The largest batch (default 1 000, at most [`MAX_BATCH`]).
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.clamp(1, MAX_BATCH);
        self
    }
    /// The largest canonical event accepted (default 1 MiB; at most
    /// [`crate::verify::MAX_LINE_BYTES`], the longest line a verifier reads).
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes.min(crate::verify::MAX_LINE_BYTES);
        self
    }
    /// What to hide (default [`RedactionPolicy::default`]).
    pub fn redaction(mut self, policy: RedactionPolicy) -> Self {
        self.redaction = policy;
        self
    }
    /// Backoff after store errors (and after failed checkpoint publications). Waits are at
    /// least [`MIN_RETRY_WAIT`] and at most [`MAX_RETRY_WAIT`], and the first at most the
    /// longest.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        let max = retry.max.clamp(MIN_RETRY_WAIT, MAX_RETRY_WAIT);
        self.retry = RetryPolicy { initial: retry.initial.clamp(MIN_RETRY_WAIT, max), max };
        self
    }
    /// Signs and publishes checkpoints of the chain (SPEC §5) as `policy` says, from a task
    /// of their own: see [`crate::publish`].
    pub fn checkpoints(mut self, policy: CheckpointPolicy) -> Self {
        self.checkpoints = Some(policy);
        self
    }

    /// Starts the writer task on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn build(self) -> Auditor {
        let (sender, receiver) = mpsc::channel(self.queue_capacity);
        let shared = Arc::new(Shared {
            chain: self.chain.clone(),
            max_batch: self.max_batch,
            max_event_bytes: self.max_event_bytes,
            queue_capacity: self.queue_capacity,
            redaction: self.redaction,
            counters: Counters::default(),
            stop: Notify::new(),
            writer_done: watch::Sender::new(false),
            publish: Arc::default(),
            publisher_done: watch::Sender::new(self.checkpoints.is_none()),
            health: Arc::default(),
            pending: AtomicUsize::new(0),
            held_changed: Notify::new(),
            held: AtomicUsize::new(0),
        });
        let appended = self.checkpoints.map(|policy| {
            let (sender, receiver) = mpsc::unbounded_channel();
            let publisher = Publisher::new(
                Arc::clone(&self.store),
                self.chain.clone(),
                policy,
                self.retry,
                Arc::clone(&shared.publish),
            );
            let done = DoneOnDrop(Arc::clone(&shared), |shared| &shared.publisher_done);
            tokio::spawn(async move {
                let _done = done;
                publisher.run(receiver).await;
            });
            sender
        });
        let writer = Writer {
            store: self.store,
            chain: self.chain,
            retry: self.retry,
            shared: Arc::clone(&shared),
            head: None,
            appended,
            held: Vec::new(),
            closed: false,
        };
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let done = DoneOnDrop(Arc::clone(&shared), |shared| &shared.writer_done);
        let background = Arc::clone(&writer);
        let (task_shared, retry) = (Arc::clone(&shared), self.retry);
        tokio::spawn(async move {
            let _done = done;
            Writer::run(background, task_shared, retry, receiver).await;
        });
        Auditor { sender, shared, writer: Arc::downgrade(&writer) }
    }
}

/// Runs a store call, turning a panic in it into a store error: the writer task must outlive
/// a faulty store, or the events it holds would be lost with it. The call is then retried
/// like any failed one (an append that panicked is in doubt until the store says otherwise).
pub(crate) async fn unpanicking<T>(call: impl Future<Output = T>) -> Result<T, StoreError> {
    caught(call)
        .await
        .map_err(|message| StoreError::Backend { context: "the store panicked".to_string(), source: message.into() })
}

/// Runs `call`, turning a panic in it into its message.
pub(crate) async fn caught<T>(call: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(call).catch_unwind().await.map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// Sets a "task ended" flag of [`Shared`] when dropped: at the end of the task that owns it,
/// however it ends.
struct DoneOnDrop(Arc<Shared>, fn(&Shared) -> &watch::Sender<bool>);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        (self.1)(&self.0).send_replace(true);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Shared {
    chain: String,
    max_batch: usize,
    max_event_bytes: usize,
    queue_capacity: usize,
    redaction: RedactionPolicy,
    counters: Counters,
    stop: Notify,
    /// Set when the writer task has ended (drained, or stopped by the runtime).
    writer_done: watch::Sender<bool>,
    publish: Arc<PublishState>,
    /// Set when the checkpoint publisher has ended (from the start if there is none).
    publisher_done: watch::Sender<bool>,
    /// Wakes [`Auditor::until_unhealthy`] when the store is found failing.
    health: Arc<Notify>,
    /// Events sent to the queue and not yet through the background task's `write` (written,
    /// refused or held): while any is, no caller writes on its own task
    /// ([`Auditor::try_write_here`]), so that none overtakes an event queued before it.
    pending: AtomicUsize,
    /// Wakes the background task when a caller writing on its own task left events held.
    held_changed: Notify,
    /// How many events the writer holds (`Writer::held`), for the background task to read
    /// without taking the writer; set with it.
    held: AtomicUsize,
}

impl Shared {
    /// Counts an event about to be sent to the queue: accepted, and pending until the
    /// background task has written it (see `pending`). Called before the send, so that a
    /// caller looking for an idle writer never misses it.
    fn sending_one(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// The store was found failing: [`Auditor::is_healthy`] says so from now, and those
    /// waiting in [`Auditor::until_unhealthy`] are woken (once per change).
    fn set_unhealthy(&self) {
        if !self.counters.unhealthy.swap(true, Ordering::SeqCst) {
            self.health.notify_waiters();
        }
    }

    /// Turns a draft into an event ready to queue: actor and context from the current scope,
    /// id and time assigned, secrets redacted, canonical form written.
    fn prepare(&self, draft: EventDraft) -> Result<PreparedEvent, RecordError> {
        self.prepare_within(draft, self.max_event_bytes)
    }

    /// [`Shared::prepare`], with `max_bytes` for the largest canonical form.
    fn prepare_within(&self, mut draft: EventDraft, max_bytes: usize) -> Result<PreparedEvent, RecordError> {
        crate::event::check_depth(&draft.changes, &draft.details, crate::event::MAX_DRAFT_DEPTH)?;
        let scope = AuditScope::current().map(|scope| scope.snapshot());
        let actor = match (draft.actor.take(), &scope) {
            (Some(actor), _) => actor,
            (None, Some(scope)) => scope.actor.clone().unwrap_or_else(Actor::anonymous),
            (None, None) => Actor::anonymous(),
        };
        if let Some(scope) = &scope {
            draft.context.fill_from(&scope.context);
        }
        self.redaction.apply(&mut draft);
        let id = draft.id.unwrap_or_else(Uuid::now_v7);
        let event = Event {
            v: FORMAT_VERSION,
            chain: self.chain.clone(),
            seq: 0,
            id,
            ts: draft.ts.unwrap_or_else(Timestamp::now),
            actor,
            action: draft.action,
            resource: draft.resource,
            outcome: draft.outcome,
            reason: draft.reason,
            context: draft.context,
            changes: draft.changes,
            details: draft.details,
            justification: draft.justification,
            tags: draft.tags,
            prev: EventHash::ZERO,
            hash: EventHash::ZERO,
        };
        Ok(PreparedEvent::new(event, max_bytes)?)
    }

    /// The writer's note that the store refused `event` alone ([`REFUSAL_ACTION`]).
    fn refusal_note(&self, event: &SealedEvent) -> Result<PreparedEvent, RecordError> {
        // Nothing of the refused event but its id, a UUID: the value at fault must not be
        // copied into the note, or the note would be refused for it too.
        let draft = EventDraft::new(REFUSAL_ACTION)
            .actor(Actor::system(REFUSAL_ACTOR))
            .resource(REFUSAL_RESOURCE, event.event.id.to_string())
            .outcome(crate::event::Outcome::Failure)
            .reason("the audit store refused this event alone");
        // The note is the writer's own and of a bounded size (the chain's name is its largest
        // part): the limit set for the application's events is not its own, or a small
        // `max_event_bytes` would leave the writer no note to tell with. Its own in scope too:
        // written on a caller's task, it must take nothing of that task's scope (the request's
        // context may hold the very value refused).
        AuditScope::new().run_sync(|| self.prepare_within(draft, crate::verify::MAX_LINE_BYTES))
    }
}

struct Queued {
    event: PreparedEvent,
    /// `None` when no one will wait for the receipt ([`Auditor::try_record_detached`]).
    ack: Option<Ack>,
}

/// A place kept in the auditor's queue for one event ([`Auditor::try_reserve_place`]). Dropping it
/// gives the place back.
pub struct Reserved {
    auditor: Auditor,
    permit: mpsc::OwnedPermit<Queued>,
}

impl std::fmt::Debug for Reserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reserved").field("chain", &self.auditor.chain()).finish_non_exhaustive()
    }
}

impl Reserved {
    /// Queues `draft` in the place kept, never waiting, even if the auditor was shut down
    /// since the place was kept. Fails only if the draft is not a valid event.
    pub fn record(self, draft: EventDraft) -> Result<Ticket, RecordError> {
        let event = self.auditor.prepare(draft)?;
        let (ack, ticket) = Ticket::new(event.id());
        self.auditor.shared.sending_one();
        self.permit.send(Queued { event, ack: Some(ack) });
        Ok(ticket)
    }
}

/// A handle to the writer: cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Auditor {
    sender: mpsc::Sender<Queued>,
    shared: Arc<Shared>,
    /// The writer: taken by the background task for each batch from the queue, and by a
    /// caller that writes on its own task while the background task is idle. The task owns
    /// it: when the task ends, the writer and its store are dropped (a file store's lock
    /// released), whatever handles remain.
    writer: Weak<tokio::sync::Mutex<Writer>>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor").field("chain", &self.shared.chain).finish_non_exhaustive()
    }
}

impl Auditor {
    /// Starts building an auditor that writes to `store`.
    pub fn builder(store: Arc<dyn AuditStore>) -> AuditorBuilder {
        AuditorBuilder {
            store,
            chain: "default".to_string(),
            queue_capacity: 16_384,
            max_batch: 1_000,
            max_event_bytes: 1 << 20,
            redaction: RedactionPolicy::default(),
            retry: RetryPolicy::default(),
            checkpoints: None,
        }
    }

    /// The chain this auditor appends to.
    pub fn chain(&self) -> &str {
        &self.shared.chain
    }

    /// Records `draft` and returns once it is durable (acknowledged delivery). When the
    /// writer is idle the event is appended on the calling task ([`Auditor::try_write_here`]);
    /// otherwise it is queued, waiting for room.
    pub async fn record(&self, draft: EventDraft) -> Result<Receipt, RecordError> {
        match self.try_write_here(vec![draft]) {
            Ok(writing) => match writing.await.pop() {
                Some(ticket) => ticket.await,
                None => Err(RecordError::Closed),
            },
            Err(TryWriteHereError::Busy(drafts)) => match drafts.into_iter().next() {
                Some(draft) => self.record_buffered(draft).await?.await,
                None => Err(RecordError::Closed),
            },
            Err(TryWriteHereError::Record(e)) => Err(e),
        }
    }

    /// Appends `drafts`, in order and as one batch, on the calling task, if the writer is idle
    /// now: nothing queued or held, no batch being written, at most
    /// [`AuditorBuilder::max_batch`] drafts. Await the returned [`WritingHere`]: it resolves,
    /// once the events are durable (or refused), to their tickets, already answered. Otherwise
    /// the drafts come back untouched in [`TryWriteHereError::Busy`], to be queued
    /// ([`Auditor::try_record`], [`Auditor::record_buffered`]).
    ///
    /// For a caller that waits for its events anyway (acknowledged delivery, the events of a
    /// committed transaction): writing on its own task spares the hand-offs to the background
    /// task and back, each a wake-up of another task and often of another thread. The append
    /// is the background task's own code, with its promises: retried on store errors for as
    /// long as it takes, never written twice, a refused value costing only its event. Dropping
    /// the [`WritingHere`] before it resolves does not withdraw the events: the append is then
    /// finished by a task of its own (on the runtime this was called on, wherever it is
    /// dropped). While it runs, the background task waits to write what was queued meanwhile,
    /// after it: the [`WritingHere`] holds the writer from this call on, so await it (or drop
    /// it) before anything that waits for the writer, such as [`Auditor::record`] or
    /// [`Auditor::shutdown`] on the same task, which would otherwise wait for ever.
    ///
    /// The events before an invalid draft are not written either: a draft that is not a valid
    /// event gives [`TryWriteHereError::Record`] and nothing is written.
    pub fn try_write_here(&self, drafts: Vec<EventDraft>) -> Result<WritingHere, TryWriteHereError> {
        if drafts.is_empty() {
            return Ok(WritingHere { tickets: Vec::new(), append: None });
        }
        if drafts.len() > self.shared.max_batch {
            return Err(TryWriteHereError::Busy(drafts));
        }
        if self.is_closed() {
            return Err(TryWriteHereError::Record(RecordError::Closed));
        }
        let Some(writer) = self.writer.upgrade() else {
            return Err(TryWriteHereError::Record(RecordError::Closed)); // the task has ended
        };
        let Ok(mut writer) = writer.try_lock_owned() else {
            return Err(TryWriteHereError::Busy(drafts));
        };
        if writer.closed {
            return Err(TryWriteHereError::Record(RecordError::Closed));
        }
        // Read while holding the writer: the background task lowers it only while it holds
        // the writer, so an event queued before this call (counted before it was sent) is
        // seen here until it is written.
        if !writer.held.is_empty() || self.shared.pending.load(Ordering::SeqCst) != 0 {
            return Err(TryWriteHereError::Busy(drafts));
        }
        let mut batch = Vec::with_capacity(drafts.len());
        let mut tickets = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let event = self.prepare(draft).map_err(TryWriteHereError::Record)?;
            let (ack, ticket) = Ticket::new(event.id());
            batch.push(Queued { event, ack: Some(ack) });
            tickets.push(ticket);
        }
        self.shared.counters.queued.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let shared = Arc::clone(&self.shared);
        let append = async move {
            let held = writer.write(Vec::new(), &mut batch).await;
            if !held.is_empty() {
                // The store refuses every event now: the background task tries them again.
                shared.held.store(held.len(), Ordering::SeqCst);
                writer.held = held;
                drop(writer);
                shared.held_changed.notify_one();
            }
        };
        Ok(WritingHere { tickets, append: Some(FinishOnDrop::new(append)) })
    }

    /// Makes the checks that recording `draft` would make (its indexed fields' lengths, its
    /// canonical size after redaction), without queuing it: for a caller that must refuse a
    /// change before committing it rather than find, after the commit, that its event cannot
    /// be recorded. It does not check that the auditor is still running (see
    /// [`Auditor::is_closed`]), nor what only the store knows (an id already used).
    pub fn check(&self, draft: EventDraft) -> Result<(), RecordError> {
        self.prepare(draft).map(drop)
    }

    /// The largest event, in bytes of its canonical form, that this auditor records
    /// ([`AuditorBuilder::max_event_bytes`]).
    pub fn max_event_bytes(&self) -> usize {
        self.shared.max_event_bytes
    }

    /// The redaction policy this auditor applies to every event ([`AuditorBuilder::redaction`]).
    pub fn redaction(&self) -> &RedactionPolicy {
        &self.shared.redaction
    }

    /// True once the auditor takes no more events ([`Auditor::shutdown`] or its writer task
    /// gone): every record call then fails with [`RecordError::Closed`].
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Queues `draft`, waiting for room, and returns once it is queued (buffered delivery).
    pub async fn record_buffered(&self, draft: EventDraft) -> Result<Ticket, RecordError> {
        let event = self.prepare(draft)?;
        let (ack, ticket) = Ticket::new(event.id());
        let permit = self.sender.reserve().await.map_err(|_| RecordError::Closed)?;
        self.shared.sending_one();
        permit.send(Queued { event, ack: Some(ack) });
        Ok(ticket)
    }

    /// Queues `draft` if there is room now; never waits.
    pub fn try_record(&self, draft: EventDraft) -> Result<Ticket, TryRecordError> {
        let (draft, permit) = self.try_reserve(draft)?;
        let event = self.prepare(draft)?;
        let (ack, ticket) = Ticket::new(event.id());
        self.shared.sending_one();
        permit.send(Queued { event, ack: Some(ack) });
        Ok(ticket)
    }

    /// Queues `draft` if there is room now, like [`Auditor::try_record`], without a
    /// [`Ticket`]: for callers that will not wait for the event to be durable (buffered
    /// delivery), at a little less cost. Returns the event's id.
    pub fn try_record_detached(&self, draft: EventDraft) -> Result<Uuid, TryRecordError> {
        let (draft, permit) = self.try_reserve(draft)?;
        let event = self.prepare(draft)?;
        let id = event.id();
        self.shared.sending_one();
        permit.send(Queued { event, ack: None });
        Ok(id)
    }

    /// Queues `drafts` in order without waiting, each as [`Auditor::try_record_detached`]
    /// does, until one meets a full queue: that one and those after it are not offered (so
    /// their order is kept) and come back in [`NotQueued::rest`], for the caller to queue later
    /// in that order (e.g. from a task that waits with [`Auditor::record_buffered`]) or to
    /// count as lost. Drafts the auditor refuses for good are counted in
    /// [`NotQueued::refused`].
    pub fn try_record_all_detached(&self, drafts: impl IntoIterator<Item = EventDraft>) -> NotQueued {
        let mut not_queued = NotQueued::default();
        let mut drafts = drafts.into_iter();
        while let Some(draft) = drafts.next() {
            match self.try_record_detached(draft) {
                Ok(_) => {}
                Err(TryRecordError::Full { draft, .. }) => {
                    not_queued.rest.push(*draft);
                    not_queued.rest.extend(drafts);
                    break;
                }
                Err(TryRecordError::Record(_)) => not_queued.refused += 1,
            }
        }
        not_queued
    }

    /// Keeps a place in the queue for one event to be recorded later with
    /// [`Reserved::record`], if there is room now (`None` when the queue is full or the
    /// auditor is shut down). A shutdown waits for the places kept before it and writes what
    /// is recorded through them: for an event that must follow others already queued (e.g.
    /// once they are durable) without being refused because the auditor closed meanwhile.
    /// Use or drop a place soon: until then it holds one place of the queue, and a shutdown.
    pub fn try_reserve_place(&self) -> Option<Reserved> {
        let permit = self.sender.clone().try_reserve_owned().ok()?;
        Some(Reserved { auditor: self.clone(), permit })
    }

    /// A place in the queue for `draft`, or the draft back if there is none now.
    fn try_reserve(&self, draft: EventDraft) -> Result<(EventDraft, mpsc::Permit<'_, Queued>), TryRecordError> {
        match self.sender.try_reserve() {
            Ok(permit) => Ok((draft, permit)),
            Err(mpsc::error::TrySendError::Full(())) => {
                Err(TryRecordError::Full { draft: Box::new(draft), capacity: self.shared.queue_capacity })
            }
            Err(mpsc::error::TrySendError::Closed(())) => Err(RecordError::Closed.into()),
        }
    }

    fn prepare(&self, draft: EventDraft) -> Result<PreparedEvent, RecordError> {
        self.shared.prepare(draft)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> WriterStats {
        let c = &self.shared.counters;
        let mut buckets = [0; 12];
        for (out, bucket) in buckets.iter_mut().zip(&c.buckets) {
            *out = bucket.load(Ordering::Relaxed);
        }
        WriterStats {
            queued: c.queued.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            queue_depth: (self.sender.max_capacity() - self.sender.capacity()) as u64,
            batches: c.batches.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            recovered_writes: c.recovered_writes.load(Ordering::Relaxed),
            conflicts: c.conflicts.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            refusal_notes: c.refusal_notes.load(Ordering::Relaxed),
            batch_size_buckets: buckets,
            healthy: !c.unhealthy.load(Ordering::Relaxed),
            checkpoints_published: self.shared.publish.published.load(Ordering::Relaxed),
            checkpoint_failures: self.shared.publish.failures.load(Ordering::Relaxed),
        }
    }

    /// The message of the last failed checkpoint publication, if any failed.
    pub fn last_checkpoint_error(&self) -> Option<String> {
        lock(&self.shared.publish.last_error).clone()
    }

    /// False while appends to the store are failing (events wait in the queue meanwhile).
    pub fn is_healthy(&self) -> bool {
        !self.shared.counters.unhealthy.load(Ordering::SeqCst)
    }

    /// Resolves once the store is found failing: at once if [`Auditor::is_healthy`] is false
    /// now, otherwise when the writer next finds an append or a read of the store failing
    /// (or the store refusing every event). It stays pending while the store works, however
    /// slowly. For a caller that waits for durability only while the store is healthy, e.g.
    /// a response under a fail-open policy, with no timer to check the health again and
    /// again.
    pub fn until_unhealthy(&self) -> impl Future<Output = ()> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        async move {
            let notified = Arc::clone(&shared.health).notified_owned();
            let mut notified = std::pin::pin!(notified);
            // Registered before the flag is read: a change after the read wakes it.
            notified.as_mut().enable();
            if shared.counters.unhealthy.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Stops accepting events and waits until every queued event is durable (and, with
    /// [`AuditorBuilder::checkpoints`], until a checkpoint of the final state was tried once).
    /// Places kept with [`Auditor::try_reserve_place`] are waited for too: until each is used
    /// or dropped.
    /// Every call, from any clone and at any time, waits for that; once it is done they
    /// return at once.
    pub async fn shutdown(&self) {
        self.shared.stop.notify_one();
        // The senders live in `shared`, so waiting ends only when the flag is set: by the
        // task's guard when it ends (also if its runtime stops it).
        let _ = self.shared.writer_done.subscribe().wait_for(|done| *done).await;
        // The writer task has ended and dropped its sender: the publisher finishes.
        let _ = self.shared.publisher_done.subscribe().wait_for(|done| *done).await;
    }
}

/// The writer: chains batches and appends them. The background task takes it for each batch
/// from the queue; a caller takes it to write on its own task ([`Auditor::try_write_here`]).
struct Writer {
    store: Arc<dyn AuditStore>,
    chain: String,
    retry: RetryPolicy,
    shared: Arc<Shared>,
    head: Option<Head>,
    /// Acknowledged events, for the checkpoint publisher.
    appended: Option<mpsc::UnboundedSender<Appended>>,
    /// Events the store refused alone while it refused even the writer's own note of it
    /// (see `write`): tried again, before any newer event, after a wait or with the next
    /// events that arrive.
    held: Vec<Held>,
    /// Set by the background task when it ends: no caller writes any more.
    closed: bool,
}

/// Whether any earlier attempt of a batch reached the store after all.
enum Resolution {
    /// An attempt was written; the head is now the first field. `None`: the one just made;
    /// otherwise the earlier attempt that was.
    Written(Head, Option<Vec<SealedEvent>>),
    /// None was (so far); chain again on this head.
    NotWritten(Head),
}

impl Writer {
    /// The background task: writes what is queued, batch by batch, taking the writer for
    /// each; ends once the queue is closed and drained and nothing is held.
    async fn run(
        writer: Arc<tokio::sync::Mutex<Writer>>,
        shared: Arc<Shared>,
        retry: RetryPolicy,
        mut receiver: mpsc::Receiver<Queued>,
    ) {
        let max_batch = shared.max_batch;
        let mut batch = Vec::with_capacity(max_batch.min(4096));
        let mut held_delay = retry.initial;
        let mut drained = false;
        loop {
            if drained && shared.held.load(Ordering::SeqCst) == 0 {
                // Taken here, so no caller is writing on its own task (it would hold the
                // writer), and none will: the auditor is done.
                let mut writer = writer.lock().await;
                if writer.held.is_empty() {
                    writer.closed = true;
                    return;
                }
            }
            // Read without taking the writer, which a caller may hold while it writes on its
            // own task: the queue is still received meanwhile (and a shutdown seen).
            let held = shared.held.load(Ordering::SeqCst);
            // Held events count against the batch: a store that refuses everything stops
            // taking events from the queue, and callers wait (backpressure).
            let room = max_batch.saturating_sub(held);
            tokio::select! {
                biased;
                () = shared.stop.notified() => {
                    // No new events; the loop drains what is queued, then recv_many returns 0
                    // (once every place kept in the queue is used or given back). Held events
                    // are tried at once: a shutdown does not wait for their timer.
                    receiver.close();
                    if held == 0 {
                        continue;
                    }
                }
                () = shared.held_changed.notified() => {
                    // A caller writing on its own task left events held: wait for them as for
                    // our own.
                    continue;
                }
                received = receiver.recv_many(&mut batch, room), if room > 0 && !drained => {
                    if received == 0 {
                        drained = true; // closed and drained
                        if held == 0 {
                            continue;
                        }
                    }
                }
                () = tokio::time::sleep(held_delay), if held > 0 => {
                    held_delay = (held_delay * 2).min(retry.max);
                }
            }
            if !batch.is_empty() && batch.len() < room && batch.iter().all(|queued| queued.ack.is_none()) {
                // No one waits for these events (detached): under load, let the tasks that are
                // about to record run first, since one larger batch costs far less than many
                // appends. When someone waits for an event, it is written at once: on a
                // multi-threaded runtime a yield also wakes an idle worker to take the writer
                // over (a futex wake, and often a move of the writer to that thread), which the
                // waiting caller pays for on every event.
                tokio::task::yield_now().await;
                while batch.len() < room {
                    match receiver.try_recv() {
                        Ok(queued) => batch.push(queued),
                        Err(_) => break,
                    }
                }
            }
            let received = batch.len();
            let mut writer = writer.lock().await;
            let held = std::mem::take(&mut writer.held);
            writer.held = writer.write(held, &mut batch).await;
            shared.held.store(writer.held.len(), Ordering::SeqCst);
            // Written, refused or held now (held ones keep callers from writing on their own
            // task until they are written).
            shared.pending.fetch_sub(received, Ordering::SeqCst);
            batch.clear();
            if writer.held.is_empty() {
                held_delay = retry.initial;
            }
        }
    }

    /// Appends `held` and then `batch` durably, however many tries it takes, then
    /// acknowledges them; returns the events it holds (below). The first held event is tried
    /// alone: while the store refuses all, a try costs two appends, not one per event.
    ///
    /// An append that fails with a store error may have been written anyway (the commit
    /// succeeded but its answer was lost), or may still be written later (a commit the
    /// server finishes after the client gave up). Each such attempt is kept *in doubt*
    /// until the batch is done: the writer appends again only once the store has said that
    /// none of them is written, and when a later append finds the head moved it first looks
    /// whether the mover was one of them. So a batch is never written twice.
    ///
    /// A refusal for good of some value ([`AppendError::RefusedValue`]: a database's data
    /// error, which does not say of which event) is narrowed down: the writer appends the first
    /// half of what it tried, and so on, until a refusal is of one event alone; after each
    /// success it tries twice as many again. Refused alone, the event's value is at fault, or
    /// the store refuses every event (a column altered under it). To tell, the writer appends
    /// a note of its own in its place: an [`REFUSAL_ACTION`] event naming it. If the store
    /// writes the note, the event is appended alone once more, right after it: refused again,
    /// it is refused for good. If the store refuses the note too, that event and all the rest
    /// are held, in order, and returned: nothing is refused while the store refuses all.
    async fn write(&mut self, held: Vec<Held>, batch: &mut Vec<Queued>) -> Vec<Held> {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        let mut delay = self.retry.initial;
        let (mut sealed, mut acks): (Vec<SealedEvent>, Vec<Option<Ack>>) = held.into_iter().unzip();
        let was_held = !sealed.is_empty();
        let (events, new_acks): (Vec<PreparedEvent>, Vec<Option<Ack>>) =
            batch.drain(..).map(|queued| (queued.event, queued.ack)).unzip();
        let mut sealed_on = self.current_head(&mut delay).await;
        sealed.extend(seal(events, sealed_on));
        acks.extend(new_acks);
        if was_held {
            reseal(&mut sealed, sealed_on);
        }
        // An event whose id an earlier one of the batch has waits for that one: refused once
        // it is written or refused (then the event with the id is in the store, or was refused
        // too: an outbox sealing twice at once looks it up), held with it if it is held.
        let mut repeats: Vec<Held> = Vec::new();
        if has_repeated_ids(&sealed) {
            let mut seen = std::collections::HashSet::new();
            let kept: (Vec<SealedEvent>, Vec<Option<Ack>>) = sealed
                .drain(..)
                .zip(acks.drain(..))
                .filter_map(|(event, ack)| {
                    if seen.insert(event.event.id) {
                        Some((event, ack))
                    } else {
                        repeats.push((event, ack));
                        None
                    }
                })
                .unzip();
            (sealed, acks) = kept;
            reseal(&mut sealed, sealed_on);
        }
        // Attempts in doubt are always a first part of `sealed`: events leave it from the
        // front when written, and from elsewhere only once nothing is in doubt.
        let mut in_doubt: Vec<Vec<SealedEvent>> = Vec::new();
        // How many of `sealed`, from the first, this attempt appends: held events are probed
        // with the first alone (a store still refusing all costs one append, not one each).
        let mut take = if was_held { 1 } else { sealed.len() };
        // While the writer's note about a refused event is `sealed[0]`: that event.
        let mut probing: Option<Probe> = None;
        // An event appended again right after the store wrote the note about it.
        let mut noted: Option<Uuid> = None;
        let mut holding: Vec<Held> = Vec::new();
        while !sealed.is_empty() {
            let head = self.current_head(&mut delay).await;
            if head != sealed_on {
                reseal(&mut sealed, head);
                sealed_on = head;
            }
            let appended = unpanicking(self.store.append(&self.chain, head, &sealed[..take])).await;
            let resolution = match appended.unwrap_or_else(|panicked| Err(AppendError::Store(panicked))) {
                Ok(new_head) => Resolution::Written(new_head, None),
                Err(AppendError::Conflict { actual, .. }) => {
                    counters.conflicts.fetch_add(1, Ordering::Relaxed);
                    if in_doubt.is_empty() {
                        Resolution::NotWritten(actual)
                    } else {
                        self.resolve(&mut in_doubt, &mut delay).await
                    }
                }
                Err(refusal @ (AppendError::Rejected { .. } | AppendError::RefusedValue { .. })) => {
                    // One of our earlier attempts may be what the store now holds.
                    let earlier =
                        if in_doubt.is_empty() { None } else { Some(self.resolve(&mut in_doubt, &mut delay).await) };
                    match earlier {
                        Some(written @ Resolution::Written(..)) => written,
                        _ => {
                            // The store refused this attempt with the head in place, so no
                            // earlier one can land any more.
                            in_doubt.clear();
                            match (refusal, probing.take()) {
                                (_, Some(probe)) => {
                                    // Even the writer's note: the store refuses every event now.
                                    sealed.remove(0);
                                    acks.remove(0);
                                    holding.push((probe.event, probe.ack));
                                    holding.extend(sealed.drain(..).zip(acks.drain(..)));
                                    shared.set_unhealthy();
                                }
                                (AppendError::RefusedValue { .. }, None) if take > 1 => take /= 2,
                                (AppendError::RefusedValue { .. }, None) if noted != Some(sealed[0].event.id) => {
                                    // Alone: its value, or every event? The note tells.
                                    match self.shared.refusal_note(&sealed[0]) {
                                        Ok(note) => {
                                            probing = Some(Probe { event: sealed.remove(0), ack: acks.remove(0) });
                                            sealed.insert(0, note.seal(head.seq + 1, head.hash));
                                            acks.insert(0, None);
                                        }
                                        Err(_) => {
                                            // No note to tell with (not seen: the note has no
                                            // size limit but a line's, and a chain name that
                                            // makes no valid event makes no event at all):
                                            // hold, as if the note were refused.
                                            holding.extend(sealed.drain(..).zip(acks.drain(..)));
                                            shared.set_unhealthy();
                                        }
                                    }
                                }
                                (refusal, None) => {
                                    // Those named, else every event of this attempt (or the one).
                                    let (named, reason) = match refusal {
                                        AppendError::Rejected { events, reason } => (events, reason),
                                        AppendError::RefusedValue { reason } => (Vec::new(), reason),
                                        other => (Vec::new(), other.to_string()),
                                    };
                                    let all = !sealed[..take].iter().any(|event| named.contains(&event.event.id));
                                    let mut index = 0;
                                    let in_attempt = |event: &SealedEvent| {
                                        index += 1;
                                        index <= take && (all || named.contains(&event.event.id))
                                    };
                                    let before = sealed.len();
                                    let refusals = self.refuse(&mut sealed, &mut acks, in_attempt, || reason.clone());
                                    answer(refusals);
                                    take = take.saturating_sub(before - sealed.len()).max(1);
                                }
                            }
                            take = take.min(sealed.len());
                            reseal(&mut sealed, head);
                            Resolution::NotWritten(head)
                        }
                    }
                }
                Err(AppendError::Store(_)) => {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    // The store failed since the note was written: what it refuses after this
                    // is asked anew (another note), not taken as the value's fault.
                    noted = None;
                    if in_doubt.last().map(Vec::as_slice) != Some(&sealed[..take]) {
                        in_doubt.push(sealed[..take].to_vec());
                    }
                    self.back_off(&mut delay).await;
                    self.resolve(&mut in_doubt, &mut delay).await
                }
            };
            match resolution {
                Resolution::NotWritten(actual) => self.head = Some(actual),
                Resolution::Written(new_head, attempt) => {
                    self.head = Some(new_head);
                    counters.unhealthy.store(false, Ordering::SeqCst);
                    // What the store holds: this attempt, or an earlier one (of these same
                    // first events, perhaps chained on another head or fewer of them).
                    let written = match attempt {
                        Some(attempt) => {
                            sealed.drain(..attempt.len());
                            attempt
                        }
                        None if take == sealed.len() => std::mem::take(&mut sealed),
                        None => sealed.drain(..take).collect(),
                    };
                    in_doubt.clear();
                    if let (Some(appended), Some(first)) = (&self.appended, written.first()) {
                        let hashes = written.iter().map(SealedEvent::hash).collect();
                        // Durable now; the publisher may have stopped only if its task died.
                        let _ = appended.send(Appended { first_seq: first.seq(), prev: first.event.prev, hashes });
                    }
                    let rest = acks.split_off(written.len());
                    take = (written.len() * 2).min(sealed.len());
                    self.acknowledge(std::mem::replace(&mut acks, rest), written);
                    if let Some(probe) = probing.take() {
                        // The note is written (it is always appended alone): the store takes
                        // events. The refused one once more, alone, right after it.
                        counters.written.fetch_sub(1, Ordering::Relaxed);
                        counters.refusal_notes.fetch_add(1, Ordering::Relaxed);
                        noted = Some(probe.event.event.id);
                        sealed.insert(0, probe.event);
                        acks.insert(0, probe.ack);
                        take = 1;
                    }
                }
            }
        }
        if holding.is_empty() {
            // Every event is written or refused for good: the store answers (a batch that
            // ends with a refusal wrote nothing that would have said so).
            counters.unhealthy.store(false, Ordering::SeqCst);
        }
        // The store wrote or refused each one's first (or holds it).
        for (event, ack) in repeats {
            if holding.iter().any(|(held, _)| held.event.id == event.event.id) {
                holding.push((event, ack));
            } else {
                answer(
                    self.refusal(&event, ack, "an earlier event of the same batch has its id").into_iter().collect(),
                );
            }
        }
        holding
    }

    /// The chain's head as last seen, or read from the store (retrying until it answers).
    async fn current_head(&mut self, delay: &mut Duration) -> Head {
        loop {
            if let Some(head) = self.head {
                return head;
            }
            match unpanicking(self.store.head(&self.chain)).await.and_then(|head| head) {
                Ok(head) => self.head = Some(head),
                Err(_) => self.back_off(delay).await,
            }
        }
    }

    async fn back_off(&self, delay: &mut Duration) {
        self.shared.set_unhealthy();
        tokio::time::sleep(*delay).await;
        *delay = (*delay * 2).min(self.retry.max);
    }

    /// Asks the store, until it answers, whether one of the attempts `in_doubt` was written.
    async fn resolve(&self, in_doubt: &mut Vec<Vec<SealedEvent>>, delay: &mut Duration) -> Resolution {
        loop {
            match self.find_written(in_doubt).await {
                Ok((head, Some(attempt))) => {
                    self.shared.counters.recovered_writes.fetch_add(1, Ordering::Relaxed);
                    return Resolution::Written(head, Some(in_doubt.swap_remove(attempt)));
                }
                Ok((head, None)) => return Resolution::NotWritten(head),
                Err(_) => self.back_off(delay).await,
            }
        }
    }

    /// One look at the store: its head, and which attempt in `in_doubt`, if any, stands in
    /// the chain. An append is all or nothing, so an attempt's last event tells.
    async fn find_written(&self, in_doubt: &[Vec<SealedEvent>]) -> Result<(Head, Option<usize>), StoreError> {
        let head = unpanicking(self.store.head(&self.chain)).await??;
        for (i, attempt) in in_doubt.iter().enumerate() {
            let Some(last) = attempt.last() else { continue };
            if head.seq < last.seq() {
                continue;
            }
            if head == Head::of(last) {
                return Ok((head, Some(i)));
            }
            // Others appended after: look at what stands at the attempt's last seq.
            let read = unpanicking(async { self.store.read(&self.chain, last.seq(), Some(last.seq())).next().await });
            match read.await? {
                Some(Ok(stored)) if stored == last.line => return Ok((head, Some(i))),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(StoreError::Backend {
                        context: format!("chain {:?}: read seq {} below the head", self.chain, last.seq()),
                        source: "the store returned no line".into(),
                    });
                }
            }
        }
        Ok((head, None))
    }

    /// Takes the events `is_refused` picks (in batch order) out of the batch; returns their
    /// tickets' answers, [`RecordError::Rejected`] with `reason`, to send with [`answer`].
    /// Chain what is left again.
    fn refuse(
        &self,
        sealed: &mut Vec<SealedEvent>,
        acks: &mut Vec<Option<Ack>>,
        mut is_refused: impl FnMut(&SealedEvent) -> bool,
        reason: impl Fn() -> String,
    ) -> Vec<(Ack, RecordError)> {
        let mut kept = (Vec::with_capacity(sealed.len()), Vec::with_capacity(acks.len()));
        let mut refusals = Vec::new();
        for (event, ack) in sealed.drain(..).zip(acks.drain(..)) {
            if is_refused(&event) {
                refusals.extend(self.refusal(&event, ack, &reason()));
            } else {
                kept.0.push(event);
                kept.1.push(ack);
            }
        }
        (*sealed, *acks) = kept;
        refusals
    }

    /// Counts `event` as refused for good; its ticket's answer, if it has one.
    fn refusal(&self, event: &SealedEvent, ack: Option<Ack>, reason: &str) -> Option<(Ack, RecordError)> {
        self.shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
        ack.map(|ack| (ack, RecordError::Rejected(format!("event {}: {reason}", event.event.id))))
    }

    fn acknowledge(&self, acks: Vec<Option<Ack>>, sealed: Vec<SealedEvent>) {
        let counters = &self.shared.counters;
        let n = sealed.len() as u64;
        counters.written.fetch_add(n, Ordering::Relaxed);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        let bucket = (63 - n.max(1).leading_zeros()) as usize;
        counters.buckets[bucket.min(11)].fetch_add(1, Ordering::Relaxed);
        for (ack, event) in acks.into_iter().zip(sealed) {
            let Some(ack) = ack else { continue };
            let receipt =
                Receipt { chain: event.event.chain, seq: event.event.seq, hash: event.event.hash, id: event.event.id };
            // The caller may have stopped waiting (buffered mode); that is fine.
            let _ = ack.send(Ok(receipt));
        }
    }
}

/// The answer to a ticket.
type Ack = oneshot::Sender<Result<Receipt, RecordError>>;

/// An event the writer holds, to append again (see [`Writer::write`]).
type Held = (SealedEvent, Option<Ack>);

/// The action of the note the writer appends when the store refuses an event alone (see
/// the module docs): its resource is `audit_event` with the refused event's id, its actor the
/// system actor `audit-writer`, its outcome `failure`.
pub const REFUSAL_ACTION: &str = "audit_event_refused";

/// The actor of a [`REFUSAL_ACTION`] note (of kind `system`).
pub const REFUSAL_ACTOR: &str = "audit-writer";

/// The resource type of a [`REFUSAL_ACTION`] note; its id is the refused event's.
pub const REFUSAL_RESOURCE: &str = "audit_event";

/// An event refused alone, while the writer's note about it is tried.
struct Probe {
    event: SealedEvent,
    ack: Option<Ack>,
}

/// Sends refusals to their tickets (a caller that stopped waiting is fine).
fn answer(refusals: Vec<(Ack, RecordError)>) {
    for (ack, error) in refusals {
        let _ = ack.send(Err(error));
    }
}

/// Whether two events of `batch` have one id (only [`EventDraft::with_id`] can do that).
/// The writer's own UUIDv7 ids increase: then the answer needs no sorting (this runs on
/// every batch).
fn has_repeated_ids(batch: &[SealedEvent]) -> bool {
    if batch.windows(2).all(|w| w[0].event.id < w[1].event.id) {
        return false;
    }
    let mut ids: Vec<Uuid> = batch.iter().map(|event| event.event.id).collect();
    ids.sort_unstable();
    ids.windows(2).any(|w| w[0] == w[1])
}

/// Chains `events` on `head`.
fn seal(events: Vec<PreparedEvent>, head: Head) -> Vec<SealedEvent> {
    let mut prev = head.hash;
    let mut sealed = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let event = event.seal(head.seq + 1 + i as u64, prev);
        prev = event.hash();
        sealed.push(event);
    }
    sealed
}

/// Chains already sealed events again, on a new `head`.
fn reseal(events: &mut [SealedEvent], head: Head) {
    let mut prev = head.hash;
    for (i, event) in events.iter_mut().enumerate() {
        event.reseal(head.seq + 1 + i as u64, prev);
        prev = event.hash();
    }
}
