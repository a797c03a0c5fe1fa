//! The writer's signed checkpoints (`AuditorBuilder::checkpoints`): published at the right
//! sizes, each one verifies against the chain, and a failing or hanging sink never loses or
//! blocks an event.

use async_trait::async_trait;
use audit_core::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use audit_core::merkle::Digest;
use audit_core::publish::{CallbackSink, CheckpointPolicy, CheckpointSink, DirectorySink, PublishError};
use audit_core::store::{
    AppendError, AuditStore, Head, JsonlStore, LineStream, MemoryStore, Query, QueryPage, StoreError,
};
use audit_core::verify::{ChainVerifier, verify_reader, verify_store};
use audit_core::{Actor, Auditor, EventDraft, RetryPolicy, SealedEvent};
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ORIGIN: &str = "audit.example.com/default";

fn fast_retry() -> RetryPolicy {
    RetryPolicy { initial: Duration::from_millis(5), max: Duration::from_millis(40) }
}

fn draft(i: usize) -> EventDraft {
    EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string()).detail("i", json!(i))
}

/// Collects published notes.
#[derive(Default)]
struct Collected {
    notes: Mutex<Vec<String>>,
}

impl Collected {
    fn sink(self: &Arc<Self>) -> Arc<CallbackSink> {
        let collected = Arc::clone(self);
        Arc::new(CallbackSink::new(move |_checkpoint, note| {
            collected.notes.lock().expect("lock").push(note.to_string());
            Ok(())
        }))
    }

    /// The published checkpoints, each opened with `key`.
    fn checkpoints(&self, key: &NoteVerifier) -> Vec<Checkpoint> {
        let notes = self.notes.lock().expect("lock").clone();
        notes.iter().map(|note| Checkpoint::verify(note, key).expect("signed by the log's key")).collect()
    }
}

/// Records `draft` through the queue and waits until it is durable: the test's task hands
/// each event to the writer task and waits for it, so the publisher runs between events and
/// sees each multiple as it passes. (`Auditor::record` on an idle writer appends on the
/// calling task, which here never yields: the publisher then gets to many multiples at once
/// and publishes the highest, as `events_written_on_the_callers_task_are_checkpointed` shows.)
async fn record_queued(auditor: &Auditor, draft: EventDraft) {
    auditor.record_buffered(draft).await.expect("queued").await.expect("recorded");
}

fn sizes(checkpoints: &[Checkpoint]) -> Vec<u64> {
    checkpoints.iter().map(|c| c.size).collect()
}

/// Every checkpoint verifies against the chain as `store` keeps it.
async fn assert_all_verify(store: &dyn AuditStore, checkpoints: &[Checkpoint], events: u64) {
    assert!(!checkpoints.is_empty());
    for checkpoint in checkpoints {
        assert_eq!(checkpoint.origin, ORIGIN);
        let report = verify_store(store, "default", Some(checkpoint)).await.expect("store");
        assert!(report.is_valid(), "checkpoint at {}: {report:?}", checkpoint.size);
        assert_eq!(report.verified, events);
    }
}

#[tokio::test]
async fn checkpoints_are_published_at_every_multiple_and_at_shutdown() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let collected = Arc::new(Collected::default());
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), collected.sink()).expect("origin").every_events(10);
    let auditor = Auditor::builder(store.clone()).checkpoints(policy).build();
    for i in 0..25 {
        record_queued(&auditor, draft(i)).await;
    }
    auditor.shutdown().await;
    let checkpoints = collected.checkpoints(&signer.verifier());
    assert_eq!(sizes(&checkpoints), [10, 20, 25], "every 10 events, and the final state at shutdown");
    assert_all_verify(&*store, &checkpoints, 25).await;
    let stats = auditor.stats();
    assert_eq!((stats.checkpoints_published, stats.checkpoint_failures), (3, 0));
    assert_eq!(auditor.last_checkpoint_error(), None);
}

/// Events appended on the recording task (an idle writer, `Auditor::record`), here without
/// the task ever yielding: the publisher runs only once they are all written, and publishes
/// the highest multiple they passed and the final state at shutdown, each verifying.
#[tokio::test]
async fn events_written_on_the_callers_task_are_checkpointed() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let collected = Arc::new(Collected::default());
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), collected.sink()).expect("origin").every_events(10);
    let auditor = Auditor::builder(store.clone()).checkpoints(policy).build();
    for i in 0..25 {
        auditor.record(draft(i)).await.expect("recorded");
    }
    assert_eq!(auditor.stats().batches, 25, "one append per event, each on this task");
    auditor.shutdown().await;
    let checkpoints = collected.checkpoints(&signer.verifier());
    assert_eq!(sizes(&checkpoints), [20, 25], "the highest multiple passed, and the final state at shutdown");
    assert_all_verify(&*store, &checkpoints, 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commits_publish_the_highest_multiple_they_reach() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let collected = Arc::new(Collected::default());
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), collected.sink()).expect("origin").every_events(100);
    let auditor = Auditor::builder(store.clone()).max_batch(64).checkpoints(policy).build();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let auditor = auditor.clone();
            tokio::spawn(async move {
                for i in 0..250 {
                    auditor.record(draft(t * 1000 + i)).await.expect("recorded");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    auditor.shutdown().await;
    let checkpoints = collected.checkpoints(&signer.verifier());
    let sizes = sizes(&checkpoints);
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert!(sizes.iter().all(|s| s % 100 == 0), "only multiples of 100: {sizes:?}");
    assert_eq!(sizes.last(), Some(&2000));
    // A lagging publisher skips multiples a newer one vouches for; on a quiet machine it
    // publishes nearly all 20.
    assert_all_verify(&*store, &checkpoints, 2000).await;
}

#[tokio::test]
async fn a_time_based_checkpoint_covers_events_without_more_traffic() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let collected = Arc::new(Collected::default());
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), collected.sink())
        .expect("origin")
        .every(Duration::from_millis(50));
    let auditor = Auditor::builder(store.clone()).checkpoints(policy).build();
    for i in 0..3 {
        auditor.record(draft(i)).await.expect("recorded");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    // (On a loaded machine the timer may fire between two of the three records.)
    let first = sizes(&collected.checkpoints(&signer.verifier()));
    assert_eq!(first.last(), Some(&3), "published while idle: {first:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sizes(&collected.checkpoints(&signer.verifier())), first, "nothing new, nothing published");
    auditor.record(draft(3)).await.expect("recorded");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sizes(&collected.checkpoints(&signer.verifier())).last(), Some(&4));
    let published = auditor.stats().checkpoints_published;
    auditor.shutdown().await;
    assert_eq!(auditor.stats().checkpoints_published, published, "nothing new to publish at shutdown");
    assert_all_verify(&*store, &collected.checkpoints(&signer.verifier()), 4).await;
}

/// Fails its first `failures` calls, then collects.
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
    collected: Arc<Collected>,
}

#[async_trait]
impl CheckpointSink for Flaky {
    async fn publish(&self, _checkpoint: &Checkpoint, note: &str) -> Result<(), PublishError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(PublishError::Other("the witness is down".into()));
        }
        self.collected.notes.lock().expect("lock").push(note.to_string());
        Ok(())
    }
}

fn assert_every_event_once(store: &MemoryStore, n: usize) {
    let events: Vec<SealedEvent> = store.events("default");
    assert_eq!(events.len(), n);
    let ids: HashSet<_> = events.iter().map(|e| e.event.id).collect();
    assert_eq!(ids.len(), n);
    let text: String = events.iter().map(|e| format!("{}\n", e.line)).collect();
    assert!(verify_reader(text.as_bytes(), ChainVerifier::from_genesis()).expect("memory").is_valid());
}

#[tokio::test]
async fn a_failing_sink_loses_no_events_and_is_tried_again() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let collected = Arc::new(Collected::default());
    let sink = Arc::new(Flaky { failures: 4, calls: AtomicUsize::new(0), collected: Arc::clone(&collected) });
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), sink.clone()).expect("origin").every_events(5);
    let auditor = Auditor::builder(store.clone()).retry(fast_retry()).checkpoints(policy).build();
    for i in 0..12 {
        record_queued(&auditor, draft(i)).await;
    }
    // The failed checkpoint is retried after the backoff, without new events.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = auditor.stats();
    assert_eq!(stats.written, 12);
    assert_eq!(stats.checkpoint_failures, 4);
    assert!(auditor.last_checkpoint_error().expect("kept").contains("the witness is down"));
    let early = sizes(&collected.checkpoints(&signer.verifier()));
    assert_eq!(early.last(), Some(&10), "the newest due checkpoint: {early:?}");
    for i in 12..23 {
        record_queued(&auditor, draft(i)).await;
    }
    auditor.shutdown().await;
    assert_every_event_once(&store, 23);
    let checkpoints = collected.checkpoints(&signer.verifier());
    assert!(sizes(&checkpoints).ends_with(&[10, 15, 20, 23]), "{:?}", sizes(&checkpoints));
    assert_all_verify(&*store, &checkpoints, 23).await;
}

/// Never answers.
struct Hanging;

#[async_trait]
impl CheckpointSink for Hanging {
    async fn publish(&self, _checkpoint: &Checkpoint, _note: &str) -> Result<(), PublishError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_hanging_sink_neither_blocks_events_nor_shutdown() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let policy = CheckpointPolicy::new(ORIGIN, signer, Arc::new(Hanging))
        .expect("origin")
        .every_events(2)
        .publish_timeout(Duration::from_millis(30));
    let auditor = Auditor::builder(store.clone()).retry(fast_retry()).checkpoints(policy).build();
    let started = std::time::Instant::now();
    for i in 0..50 {
        auditor.record(draft(i)).await.expect("recorded");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "events waited for the sink: {:?}", started.elapsed());
    tokio::time::timeout(Duration::from_secs(5), auditor.shutdown()).await.expect("shutdown returns");
    assert_every_event_once(&store, 50);
    let stats = auditor.stats();
    assert_eq!(stats.checkpoints_published, 0);
    assert!(stats.checkpoint_failures >= 1);
    assert!(auditor.last_checkpoint_error().expect("kept").contains("did not answer"));
}

#[tokio::test]
async fn the_directory_sink_keeps_one_file_per_checkpoint_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = DirectorySink::new(dir.path().join("checkpoints")).expect("dir");
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let checkpoint = Checkpoint::new(ORIGIN, 1000, [3; 32]);
    let note = checkpoint.sign(&signer).expect("signs");
    sink.publish(&checkpoint, &note).await.expect("published");
    let path = sink.dir().join("00000000000000001000.checkpoint");
    assert_eq!(std::fs::read_to_string(&path).expect("file"), note);
    sink.publish(&checkpoint, &note).await.expect("the same note again is fine");

    let other = Checkpoint::new(ORIGIN, 1000, [4; 32]);
    let err = sink.publish(&other, &other.sign(&signer).expect("signs")).await.expect_err("conflict");
    assert!(matches!(err, PublishError::Conflict { size: 1000, .. }), "{err}");
    assert!(err.to_string().contains("nothing was overwritten"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("file"), note, "untouched");
}

/// Directories the sink creates, several levels of them, are there and take notes (each
/// directory's entry synced on the way); one that exists already is taken as it is.
#[tokio::test]
async fn the_directory_sink_creates_nested_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a").join("b").join("checkpoints");
    let sink = DirectorySink::new(&nested).expect("created");
    assert!(nested.is_dir());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let checkpoint = Checkpoint::new(ORIGIN, 7, [5; 32]);
    let note = checkpoint.sign(&signer).expect("signs");
    sink.publish(&checkpoint, &note).await.expect("published");
    let again = DirectorySink::new(&nested).expect("exists");
    let path = again.dir().join(DirectorySink::file_name(7));
    assert_eq!(std::fs::read_to_string(path).expect("file"), note);
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    assert!(DirectorySink::new(file.join("checkpoints")).is_err(), "under a file: refused");
}

/// A note whose write a crash cut off (its file holds the start of it, or nothing, maybe
/// followed by NUL bytes) is completed when the same checkpoint is published again, instead of blocking that size with
/// a conflict for ever; the start of another note is still a conflict.
#[tokio::test]
async fn the_directory_sink_completes_a_note_a_crash_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = DirectorySink::new(dir.path().join("checkpoints")).expect("dir");
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    // (size, bytes written, NUL bytes after them: a file the crash left at its length whose
    // blocks were never written, as some file systems leave it)
    for (size, cut, nul) in [(1000, 40, 0), (2000, 0, 0), (4000, 0, usize::MAX), (5000, 30, 20)] {
        let checkpoint = Checkpoint::new(ORIGIN, size, [3; 32]);
        let note = checkpoint.sign(&signer).expect("signs");
        let path = sink.dir().join(DirectorySink::file_name(size));
        let mut torn = note.as_bytes()[..cut].to_vec();
        torn.resize(cut + nul.min(note.len() - cut), 0);
        std::fs::write(&path, &torn).expect("a torn note");
        sink.publish(&checkpoint, &note).await.expect("completed");
        assert_eq!(std::fs::read_to_string(&path).expect("file"), note);
    }
    let checkpoint = Checkpoint::new(ORIGIN, 3000, [3; 32]);
    let other = Checkpoint::new(ORIGIN, 3000, [4; 32]).sign(&signer).expect("signs");
    let path = sink.dir().join(DirectorySink::file_name(3000));
    let torn = &other.as_bytes()[..other.len() - 10];
    std::fs::write(&path, torn).expect("the start of another note");
    let err = sink.publish(&checkpoint, &checkpoint.sign(&signer).expect("signs")).await.expect_err("conflict");
    assert!(matches!(err, PublishError::Conflict { size: 3000, .. }), "{err}");
    assert_eq!(std::fs::read(&path).expect("file"), torn, "untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_writer_continues_the_tree_from_a_jsonl_trail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = dir.path().join("trail.jsonl");
    let published = dir.path().join("checkpoints");
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    for (run, count) in [(0, 15), (1, 10)] {
        let sink = Arc::new(DirectorySink::new(&published).expect("dir"));
        let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), sink).expect("origin").every_events(10);
        let auditor = Auditor::builder(Arc::new(JsonlStore::open(&trail).expect("open"))).checkpoints(policy).build();
        for i in 0..count {
            auditor.record(draft(run * 100 + i)).await.expect("recorded");
        }
        auditor.shutdown().await;
        assert_eq!(auditor.stats().checkpoint_failures, 0, "{:?}", auditor.last_checkpoint_error());
    }
    let mut names: Vec<String> = std::fs::read_dir(&published)
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: Vec<String> = [10, 15, 20, 25].iter().map(|&size| DirectorySink::file_name(size)).collect();
    assert_eq!(names, expected);
    for name in names {
        let note = std::fs::read_to_string(published.join(&name)).expect("note");
        let checkpoint = Checkpoint::verify(&note, &signer.verifier()).expect("signed");
        let file = std::fs::File::open(&trail).expect("trail");
        let report = verify_reader(file, ChainVerifier::against_checkpoint(&checkpoint)).expect("read");
        assert!(report.is_valid(), "{name}: {report:?}");
        assert_eq!(report.verified, 25);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_include_the_events_of_another_writer() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let collected = Arc::new(Collected::default());
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), collected.sink()).expect("origin").every_events(7);
    let publishing = Auditor::builder(store.clone()).checkpoints(policy).build();
    let other = Auditor::builder(store.clone()).build();
    for i in 0..30 {
        publishing.record(draft(i)).await.expect("recorded");
        other.record(draft(1000 + i)).await.expect("recorded");
        if i % 4 == 0 {
            other.record(draft(2000 + i)).await.expect("recorded");
        }
    }
    publishing.shutdown().await;
    other.shutdown().await;
    assert_every_event_once(&store, 68);
    let checkpoints = collected.checkpoints(&signer.verifier());
    let sizes = sizes(&checkpoints);
    assert_eq!(sizes.last(), Some(&67), "the final state the publishing writer saw: {sizes:?}");
    assert!(sizes[..sizes.len() - 1].iter().all(|s| s % 7 == 0), "{sizes:?}");
    assert_all_verify(&*store, &checkpoints, 68).await;
}

/// A memory store whose first `head` call after `heads` is reset (the checkpoint publisher's,
/// spawned first) is slow: as a pooled database's first query can be, or a pool of one
/// connection the writer holds.
struct SlowFirstHead {
    inner: MemoryStore,
    heads: AtomicU64,
}

#[async_trait]
impl AuditStore for SlowFirstHead {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        if self.heads.fetch_add(1, Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.inner.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        self.inner.merkle_nodes(chain, nodes).await
    }
}

/// Records `count` events through a publishing writer on `store`, waits until the publisher
/// has read the head it starts from, shuts down; returns the checkpoints published.
async fn slow_start_run(
    store: &Arc<SlowFirstHead>,
    signer: &NoteSigner,
    first: usize,
    count: usize,
) -> Vec<Checkpoint> {
    store.heads.store(0, Ordering::SeqCst);
    let collected = Arc::new(Collected::default());
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), collected.sink()).expect("origin").every_events(2);
    let auditor = Auditor::builder(store.clone()).retry(fast_retry()).checkpoints(policy).build();
    for i in first..first + count {
        record_queued(&auditor, draft(i)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    auditor.shutdown().await;
    assert_eq!(auditor.stats().checkpoint_failures, 0, "{:?}", auditor.last_checkpoint_error());
    collected.checkpoints(&signer.verifier())
}

/// The writer's first events are appended while the publisher still reads the chain's head
/// at start (so that head already holds them): they are checkpointed all the same, at their
/// multiples and at shutdown. On a restart only the new events are: the chain's size when
/// the writer starts counts as published.
#[tokio::test]
async fn events_appended_while_the_publisher_starts_are_checkpointed() {
    let store = Arc::new(SlowFirstHead { inner: MemoryStore::new(), heads: AtomicU64::new(0) });
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let checkpoints = slow_start_run(&store, &signer, 0, 3).await;
    assert_eq!(sizes(&checkpoints), [2, 3], "a checkpoint at 2 (every 2 events) and the final state at shutdown");
    assert_all_verify(&store.inner, &checkpoints, 3).await;
    let checkpoints = slow_start_run(&store, &signer, 3, 4).await;
    // All four are acknowledged before the publisher has its tree: the highest multiple (6)
    // vouches for 4. Nothing at or below 3 (published by the first run) again.
    assert_eq!(sizes(&checkpoints), [6, 7], "the restarted writer's events only");
    assert_all_verify(&store.inner, &checkpoints, 7).await;
}

#[test]
fn a_policy_refuses_an_origin_that_cannot_be_signed() {
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let sink = Arc::new(CallbackSink::new(|_, _| Ok(())));
    assert!(CheckpointPolicy::new("two\nlines", signer.clone(), sink.clone()).is_err());
    assert!(CheckpointPolicy::new("", signer, sink).is_err());
}

/// A sink whose first publication waits until the test releases it; records what it published.
struct Busy {
    entered: tokio::sync::Notify,
    release: tokio::sync::Semaphore,
    sizes: Mutex<Vec<u64>>,
}

#[async_trait]
impl CheckpointSink for Busy {
    async fn publish(&self, checkpoint: &Checkpoint, _note: &str) -> Result<(), PublishError> {
        if self.sizes.lock().expect("lock").is_empty() {
            self.entered.notify_one();
            let _ = self.release.acquire().await.expect("not closed");
        }
        self.sizes.lock().expect("lock").push(checkpoint.size);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiples_passed_while_the_sink_is_busy_give_the_highest_one_only() {
    let store = Arc::new(MemoryStore::new());
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let sink = Arc::new(Busy {
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Semaphore::new(0),
        sizes: Mutex::default(),
    });
    let policy = CheckpointPolicy::new(ORIGIN, signer, sink.clone()).expect("origin").every_events(2);
    let auditor = Auditor::builder(store.clone()).checkpoints(policy).build();
    for i in 0..2 {
        auditor.record(draft(i)).await.expect("recorded");
    }
    sink.entered.notified().await; // publishing size 2, held
    for i in 2..10 {
        auditor.record(draft(i)).await.expect("a busy sink does not hold events up");
    }
    assert_eq!(auditor.stats().written, 10);
    sink.release.add_permits(1);
    auditor.shutdown().await;
    // 4, 6 and 8 came due while the sink was busy: 10 vouches for them.
    assert_eq!(*sink.sizes.lock().expect("lock"), [2, 10]);
    assert_every_event_once(&store, 10);
}
