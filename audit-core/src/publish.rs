//! Signed checkpoints published by the writer (SPEC §5): [`CheckpointPolicy`] says how often
//! and where, a [`CheckpointSink`] keeps them somewhere the application cannot rewrite.
//!
//! ```
//! use audit_core::checkpoint::{Checkpoint, NoteSigner};
//! use audit_core::publish::{CheckpointPolicy, DirectorySink};
//! use audit_core::{Auditor, EventDraft, store::MemoryStore};
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let signer = NoteSigner::generate("audit.example.com/default").unwrap();
//! let verifier = signer.verifier(); // publish this one
//! let sink = Arc::new(DirectorySink::new(dir.path()).unwrap());
//! let policy = CheckpointPolicy::new("audit.example.com/default", signer, sink).unwrap().every_events(2);
//! let auditor = Auditor::builder(Arc::new(MemoryStore::new())).checkpoints(policy).build();
//! for _ in 0..3 {
//!     auditor.record(EventDraft::new("login")).await.unwrap();
//! }
//! auditor.shutdown().await; // publishes the final state too
//!
//! let note = std::fs::read_to_string(dir.path().join(DirectorySink::file_name(2))).unwrap();
//! assert_eq!(Checkpoint::verify(&note, &verifier).unwrap().size, 2);
//! assert!(dir.path().join(DirectorySink::file_name(3)).exists());
//! assert_eq!(auditor.stats().checkpoints_published, 2);
//! # });
//! ```
//!
//! # When
//! - [`CheckpointPolicy::every_events`]`(n)`: at every multiple of `n` events. When the
//!   publisher gets to several at once (one append passes several, or appends came while it
//!   was publishing or had not yet read the chain at start), the highest one only: it vouches
//!   for the others, and a slow sink cannot make the publisher fall ever further behind.
//! - [`CheckpointPolicy::every`]`(t)`: the current size, when `t` has passed since the last
//!   checkpoint and events were appended since.
//! - At [`crate::Auditor::shutdown`]: the final size, if no checkpoint has it yet.
//!
//! The chain's size when the writer starts counts as published: a previous writer published
//! it at its shutdown (after a crash it did not; the next checkpoint vouches for it). The
//! states this writer's events bring are checkpointed, also those of events it appended
//! before the publisher had read the chain.
//!
//! Only durable states are signed: the publisher learns of events once the store has
//! acknowledged them. Events appended by other writers to the same chain are read back from
//! the store and included.
//!
//! # Failures
//! Publishing runs in its own task: a slow or failing sink never delays or loses events. A
//! failure (or a sink call that takes longer than [`CheckpointPolicy::publish_timeout`]) is
//! counted in [`crate::WriterStats::checkpoint_failures`], its message kept
//! ([`crate::Auditor::last_checkpoint_error`]), and the newest due checkpoint is tried again
//! after the writer's [`crate::RetryPolicy`] backoff.
//!
//! # Cost
//! The publisher keeps the chain's Merkle frontier (O(log n) memory, two SHA-256
//! compressions per event). It builds it once at start from the chain's events
//! ([`crate::proof::frontier_from_events`]: one read of the whole chain, each line checked
//! and hashed, concurrently with the first appends; about as long as `audit-trail export` of
//! the chain), never from the subtree hashes a store keeps for proofs: those are not checked
//! against the events (see [`crate::proof`], "Trust"), and a root is signed only as computed
//! from the events. If the head it read already held some of the first appends, it builds it
//! again as it was before them.

use crate::checkpoint::{Checkpoint, CheckpointError, NoteSigner};
use crate::event::SealedEvent;
use crate::hash::EventHash;
use crate::merkle::{CompactRange, Digest, leaf_hash};
use crate::proof::{self, StoreProofError};
use crate::store::{AppendError, AuditStore, Head, LineStream, Query, QueryPage, StoreError};
use crate::writer::RetryPolicy;
use futures_util::StreamExt;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Where signed checkpoints go: somewhere the application cannot rewrite (another system,
/// WORM storage, a witness).
#[async_trait::async_trait]
pub trait CheckpointSink: Send + Sync + 'static {
    /// Keeps `note`, the signed note of `checkpoint`, durably. Called again with the same
    /// checkpoint after a failure, and possibly after a restart: publishing the same note
    /// twice must succeed.
    async fn publish(&self, checkpoint: &Checkpoint, note: &str) -> Result<(), PublishError>;
}

/// Why a checkpoint was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, on which file.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A different checkpoint of the same size is already published there.
    #[error(
        "{} already holds a different checkpoint of size {size}: the chain was rewritten or forked, \
         or two logs publish to one directory (give each origin its own directory); nothing was overwritten",
        path.display()
    )]
    Conflict {
        /// The existing file.
        path: PathBuf,
        /// The checkpoint's size.
        size: u64,
    },
    /// The checkpoint could not be signed.
    #[error("cannot sign the checkpoint: {0}")]
    Sign(String),
    /// The sink did not answer in time.
    #[error("the checkpoint sink did not answer within {0:?}; it is tried again later")]
    Timeout(Duration),
    /// The writer could not compute the chain's tree.
    #[error("cannot compute the chain's Merkle tree: {0}")]
    Tree(String),
    /// Another sink's error.
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// How often, under which origin and key, and where the writer publishes checkpoints.
#[derive(Clone)]
pub struct CheckpointPolicy {
    origin: String,
    signer: NoteSigner,
    sink: Arc<dyn CheckpointSink>,
    every_events: Option<u64>,
    every: Option<Duration>,
    publish_timeout: Duration,
}

impl std::fmt::Debug for CheckpointPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointPolicy")
            .field("origin", &self.origin)
            .field("signer", &self.signer)
            .field("every_events", &self.every_events)
            .field("every", &self.every)
            .field("publish_timeout", &self.publish_timeout)
            .finish_non_exhaustive()
    }
}

impl CheckpointPolicy {
    /// Checkpoints of log `origin` (unique to the deployment and chain, e.g.
    /// `audit.example.com/default`), signed by `signer`, published to `sink`.
    ///
    /// Set [`CheckpointPolicy::every_events`] and/or [`CheckpointPolicy::every`]; with
    /// neither, a checkpoint is published only at shutdown.
    pub fn new(
        origin: impl Into<String>,
        signer: NoteSigner,
        sink: Arc<dyn CheckpointSink>,
    ) -> Result<CheckpointPolicy, CheckpointError> {
        let origin = origin.into();
        Checkpoint::new(origin.clone(), 0, [0; 32]).to_body()?;
        Ok(CheckpointPolicy {
            origin,
            signer,
            sink,
            every_events: None,
            every: None,
            publish_timeout: Duration::from_secs(30),
        })
    }

    /// A checkpoint at every multiple of `n` events (`n` ≥ 1); of several multiples that the
    /// publisher gets to at once, the highest only (see the [module docs](self)).
    pub fn every_events(mut self, n: u64) -> Self {
        self.every_events = Some(n.max(1));
        self
    }

    /// A checkpoint of the current size when `interval` has passed since the last one and
    /// events were appended since.
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = Some(interval);
        self
    }

    /// How long one call to the sink may take before it counts as failed (default 30 s).
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// The origin line of the checkpoints.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Publishes each checkpoint as a file of its own in a directory, named by size
/// ([`DirectorySink::file_name`]), so that nothing is ever overwritten: suitable for WORM
/// storage or a directory another system collects.
///
/// A note appears under its name whole or not at all: it is written and synced under a
/// temporary name of its own (`.<file name>.<pid>-<n>.partial`, which no `*.checkpoint`
/// pattern matches), then hard-linked to its name (a link never replaces a file) and the
/// temporary name removed. A crash leaves at most such a temporary file, never a torn note
/// that a collector would read, and that nothing would complete (after a restart the writer
/// does not publish that size again). On a file system without hard links the note is
/// written in place, in a file created with `create_new`.
///
/// Publishing a checkpoint whose file already holds the same note succeeds (notes are
/// deterministic), and so does one whose file holds the start of it, maybe followed by NUL
/// bytes (a write in place a crash cut off: the rest is written after the start, over the
/// NULs); a different note of the same size is [`PublishError::Conflict`]. Use one directory
/// per origin.
#[derive(Debug, Clone)]
pub struct DirectorySink {
    dir: PathBuf,
    /// Held while a note is written: a retry after a call that timed out waits for that call
    /// (still running on its blocking thread) to finish, instead of finding its half-written
    /// or not yet synced file.
    writing: Arc<std::sync::Mutex<()>>,
}

impl DirectorySink {
    /// Publishes into `dir`, creating it if needed (and syncing the entry of each directory
    /// it creates, so that a crash cannot lose a directory whose checkpoints were reported
    /// published).
    pub fn new(dir: impl AsRef<Path>) -> Result<DirectorySink, PublishError> {
        let dir = dir.as_ref().to_path_buf();
        let missing: Vec<&Path> = dir.ancestors().take_while(|at| !at.as_os_str().is_empty() && !at.exists()).collect();
        std::fs::create_dir_all(&dir)
            .map_err(|source| PublishError::Io { context: format!("cannot create {}", dir.display()), source })?;
        for created in missing {
            crate::durable::sync_parent_dir(created).map_err(io_error("sync the directory holding", created))?;
        }
        Ok(DirectorySink { dir, writing: Arc::default() })
    }

    /// The file name of the checkpoint of `size` events: the size in 20 digits (so that
    /// names sort by size) and `.checkpoint`, e.g. `00000000000000001000.checkpoint`.
    pub fn file_name(size: u64) -> String {
        format!("{size:020}.checkpoint")
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write(&self, size: u64, note: &str) -> Result<(), PublishError> {
        let path = self.dir.join(Self::file_name(size));
        let _one_at_a_time = self.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(published) = self.published_before(&path, size, note) {
            return published;
        }
        // Whole under a temporary name first, so that the checkpoint's name never holds a torn
        // note (see the type's docs). Created new, never shared: another process publishing the
        // same log (maybe with the same pid, in another container) or a crashed one left it.
        static TEMPORARY: AtomicU64 = AtomicU64::new(0);
        let mut attempts = 0;
        let (temporary, mut file) = loop {
            let n = TEMPORARY.fetch_add(1, Ordering::Relaxed);
            let temporary = self.dir.join(format!(".{}.{}-{n}.partial", Self::file_name(size), std::process::id()));
            attempts += 1;
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&temporary) {
                Ok(file) => break (temporary, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 64 => continue,
                Err(e) => return Err(io_error("create", &temporary)(e)),
            }
        };
        if let Err(e) = file.write_all(note.as_bytes()).and_then(|()| file.sync_all()) {
            let _ = std::fs::remove_file(&temporary);
            return Err(io_error("write", &temporary)(e));
        }
        drop(file);
        let linked = std::fs::hard_link(&temporary, &path);
        // If this fails the stray file is harmless: hidden, and named as no checkpoint is.
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => self.sync_dir(),
            // Published meanwhile (another process publishing the same log): compared as any
            // file found there.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.published_before(&path, size, note).unwrap_or_else(|| Err(io_error("link", &path)(e)))
            }
            // A file system without hard links (or that refuses this one): written in place.
            Err(_) => self.write_in_place(&path, size, note),
        }
    }

    /// Writes the note of `size` directly into a new file at `path` (where no hard link can
    /// be made): a crash can cut it off, which publishing it again completes.
    fn write_in_place(&self, path: &Path, size: u64, note: &str) -> Result<(), PublishError> {
        let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return self.published_before(path, size, note).unwrap_or_else(|| Err(io_error("create", path)(e)));
            }
            Err(e) => return Err(io_error("create", path)(e)),
        };
        if let Err(e) = file.write_all(note.as_bytes()).and_then(|()| file.sync_all()) {
            // Leave no partial note behind to block the retry (if the storage allows removal).
            let _ = std::fs::remove_file(path);
            return Err(io_error("write", path)(e));
        }
        self.sync_dir()
    }

    /// What publishing `note` of `size` comes to when a file is at `path` already: done (the
    /// same note, or the start of it completed), or [`PublishError::Conflict`]. `None` if
    /// there is no file at `path`.
    fn published_before(&self, path: &Path, size: u64, note: &str) -> Option<Result<(), PublishError>> {
        let existing = match std::fs::read(path) {
            Ok(existing) => existing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return Some(Err(io_error("read", path)(e))),
        };
        // Up to the last byte that is not NUL: a crash can leave a file at its length with
        // blocks that were never written, read as NUL (a note has none).
        let written = existing.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
        if existing.as_slice() != note.as_bytes()
            && existing.len() <= note.len()
            && note.as_bytes().starts_with(&existing[..written])
        {
            // The start of this very note: a write in place cut off by a crash (or by a full
            // disk whose removal failed), or left by an earlier version of this sink. Completed,
            // not rewritten: only the missing bytes are written, over the NULs if any.
            let completed = std::fs::OpenOptions::new().write(true).open(path).and_then(|mut file| {
                file.seek(std::io::SeekFrom::Start(written as u64))
                    .and_then(|_| file.write_all(&note.as_bytes()[written..]))
                    .and_then(|()| file.sync_all())
            });
            return Some(completed.map_err(io_error("complete", path)).and_then(|()| self.sync_dir()));
        }
        if existing != note.as_bytes() {
            return Some(Err(PublishError::Conflict { path: path.to_path_buf(), size }));
        }
        // The same note, maybe left by an earlier call that failed after writing it (its
        // directory sync): made durable as a new one is.
        let synced = std::fs::File::open(path).and_then(|file| file.sync_all()).map_err(io_error("sync", path));
        Some(synced.and_then(|()| self.sync_dir()))
    }

    /// Makes the directory's entries durable.
    fn sync_dir(&self) -> Result<(), PublishError> {
        crate::durable::sync_dir(&self.dir).map_err(io_error("sync", &self.dir))
    }
}

/// The error of a failed file operation `what` ("read", "create", …) on `path`.
fn io_error(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> PublishError {
    let context = format!("cannot {what} {}", path.display());
    move |source| PublishError::Io { context, source }
}

#[async_trait::async_trait]
impl CheckpointSink for DirectorySink {
    async fn publish(&self, checkpoint: &Checkpoint, note: &str) -> Result<(), PublishError> {
        let sink = self.clone();
        let (size, note) = (checkpoint.size, note.to_string());
        tokio::task::spawn_blocking(move || sink.write(size, &note))
            .await
            .map_err(|e| PublishError::Other(Box::new(e)))?
    }
}

/// The signature of a [`CallbackSink`]'s function.
type Callback = dyn Fn(&Checkpoint, &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Send + Sync;

/// Hands each checkpoint and its signed note to a function. It runs on the async runtime:
/// keep it quick (queue the note, send it on a channel); for slow I/O implement
/// [`CheckpointSink`] instead.
pub struct CallbackSink {
    callback: Box<Callback>,
}

impl CallbackSink {
    /// A sink calling `callback(checkpoint, note)`; an `Err` counts as a failed publication.
    pub fn new(
        callback: impl Fn(&Checkpoint, &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Send + Sync + 'static,
    ) -> CallbackSink {
        CallbackSink { callback: Box::new(callback) }
    }
}

impl std::fmt::Debug for CallbackSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSink").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl CheckpointSink for CallbackSink {
    async fn publish(&self, checkpoint: &Checkpoint, note: &str) -> Result<(), PublishError> {
        (self.callback)(checkpoint, note).map_err(PublishError::Other)
    }
}

// ---------------------------------------------------------------------------
// The publisher task (driven by the writer)
// ---------------------------------------------------------------------------

/// Events the store acknowledged: seqs `first_seq..` with these hashes, appended after the
/// event at `first_seq - 1` whose hash is `prev`.
pub(crate) struct Appended {
    pub(crate) first_seq: u64,
    pub(crate) prev: EventHash,
    pub(crate) hashes: Vec<EventHash>,
}

/// What the publisher shares with [`crate::Auditor`].
#[derive(Default)]
pub(crate) struct PublishState {
    pub(crate) published: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl PublishState {
    fn fail(&self, error: &PublishError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error.to_string());
    }
}

/// A tree head due for publication.
#[derive(Clone, Copy)]
struct Due {
    size: u64,
    root: [u8; 32],
}

pub(crate) struct Publisher {
    store: Arc<dyn AuditStore>,
    chain: String,
    policy: CheckpointPolicy,
    retry: RetryPolicy,
    state: Arc<PublishState>,
    /// The chain's Merkle frontier; `None` until built (or after a failed catch-up).
    frontier: Option<CompactRange>,
    /// The hash of the frontier's last event: an append that does not follow it (the chain's
    /// newest events were deleted and written again) makes the frontier be built again.
    tip: EventHash,
    /// Size of the newest published checkpoint, or else of the chain when the publisher
    /// started: as it read it, or as the writer's first append found it if that is smaller
    /// (`u64::MAX` while neither is known).
    published: u64,
    /// Whether an append of the writer was applied yet.
    started: bool,
    pending: Option<Due>,
    last_published_at: Instant,
    retry_at: Option<Instant>,
    delay: Duration,
}

impl Publisher {
    pub(crate) fn new(
        store: Arc<dyn AuditStore>,
        chain: String,
        policy: CheckpointPolicy,
        retry: RetryPolicy,
        state: Arc<PublishState>,
    ) -> Publisher {
        Publisher {
            store,
            chain,
            policy,
            retry,
            state,
            frontier: None,
            tip: EventHash::ZERO,
            published: u64::MAX,
            started: false,
            pending: None,
            last_published_at: Instant::now(),
            retry_at: None,
            delay: retry.initial,
        }
    }

    pub(crate) async fn run(mut self, mut appended: mpsc::UnboundedReceiver<Appended>) {
        if self.ensure_frontier().await {
            self.published = self.frontier.as_ref().map_or(0, CompactRange::size);
        }
        loop {
            let wake = self.next_wake();
            tokio::select! {
                message = appended.recv() => match message {
                    Some(first) => {
                        self.apply(first).await;
                        while let Ok(more) = appended.try_recv() {
                            self.apply(more).await;
                        }
                    }
                    None => {
                        self.finish().await;
                        return;
                    }
                },
                () = sleep_until(wake), if wake.is_some() => {
                    if self.frontier.is_none() && self.ensure_frontier().await {
                        self.mark_missed();
                    }
                    self.time_due();
                }
            }
            if self.pending.is_some() && self.retry_at.is_none_or(|at| Instant::now() >= at) {
                self.publish().await;
            }
        }
    }

    /// When the timer should fire: a retry, or the next time-based checkpoint.
    fn next_wake(&self) -> Option<Instant> {
        let retry = if self.pending.is_some() || self.frontier.is_none() { self.retry_at } else { None };
        let unpublished = self.frontier.as_ref().is_some_and(|f| f.size() > self.published);
        // While a checkpoint waits for its retry, the timer has nothing to mark (it would
        // fire at once, again and again, until the retry).
        let timed = self
            .policy
            .every
            .filter(|_| unpublished && self.pending.is_none())
            .and_then(|every| self.last_published_at.checked_add(every));
        match (retry, timed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Builds the frontier from the store if there is none; false if that failed.
    async fn ensure_frontier(&mut self) -> bool {
        if self.frontier.is_some() {
            return true;
        }
        let store = Arc::clone(&self.store);
        match unpanicking(self.checked_frontier(&*store)).await {
            Ok(frontier) => {
                self.frontier = Some(frontier);
                true
            }
            Err(e) => {
                self.failed(&PublishError::Tree(e.to_string()));
                false
            }
        }
    }

    /// The chain's frontier in `store`, from its events alone ([`proof::frontier_from_events`]),
    /// never from the subtree hashes a store keeps: a checkpoint signs the root of the events.
    /// A stored hash can be wrong in ways no cheap check finds (a corrupt row that later
    /// appends copied into its parents, rows left from before the newest events were deleted
    /// and written again), and a root built from one would be signed: a false alarm against
    /// untouched events, or, worse, a checkpoint of rewritten events that is consistent with
    /// the checkpoints signed before the rewrite.
    async fn checked_frontier(&mut self, store: &dyn AuditStore) -> Result<CompactRange, StoreProofError> {
        let (frontier, head) = proof::frontier_and_head_from_events(store, &self.chain).await?;
        self.tip = head.hash;
        if self.frontier.is_none() {
            // Reading the store works again: the next failure (of the sink) is a first one.
            self.delay = self.retry.initial;
        }
        Ok(frontier)
    }

    /// Drops the frontier, and with it a checkpoint still pending from it: that one is signed
    /// only while the frontier it came from is kept (after a failed read or a rewrite the
    /// events may no longer be those it covers). A checkpoint still due is marked again from
    /// the frontier built next ([`Publisher::mark_missed`], the timer, or at shutdown). So a
    /// shutdown while the store cannot be read signs nothing, also not a checkpoint that was
    /// pending and still true (the publisher cannot tell the two apart without reading); the
    /// next start publishes the chain as it is then.
    fn give_up_frontier(&mut self) {
        self.frontier = None;
        self.pending = None;
    }

    /// After the frontier was built again (following a failure, or a rewrite of the chain's
    /// newest events): a checkpoint that came due in events it did not push (an `every_events`
    /// multiple passed since the last published one) is due now, at the current size.
    fn mark_missed(&mut self) {
        let (Some(n), Some(frontier)) = (self.policy.every_events, &self.frontier) else { return };
        if self.published != u64::MAX && frontier.size() / n > self.published / n {
            self.mark_current();
        }
    }

    /// Adds acknowledged events (and any other writer's events before them) to the tree.
    async fn apply(&mut self, appended: Appended) {
        let before = Head { seq: appended.first_seq - 1, hash: appended.prev };
        if !self.started {
            // What the writer's first append found is not published by this writer: not
            // even if the head the publisher read at start already held this append.
            self.started = true;
            self.published = self.published.min(before.seq);
        }
        let follows = |frontier: &CompactRange, tip: EventHash| match frontier.size().cmp(&before.seq) {
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => tip == before.hash,
            std::cmp::Ordering::Less => true, // another writer's events between: caught up below
        };
        if self.frontier.is_none() && self.retry_at.is_some_and(|at| Instant::now() < at) {
            // Building it failed: it is built again after the backoff (from the store, so with
            // these events), not once per append meanwhile.
            return;
        }
        let mut fresh = !self.frontier.as_ref().is_some_and(|frontier| follows(frontier, self.tip));
        loop {
            if fresh {
                // None; read from the store after these events were appended (at start, or
                // after a failure); or not what they follow (the chain's newest events were
                // deleted and written again): build it as it was before them, so that they
                // are pushed and their checkpoints marked.
                if self.frontier.is_some() {
                    // Replacing a frontier the events no longer follow.
                    self.give_up_frontier();
                }
                let as_of = AsOf { store: Arc::clone(&self.store), head: before };
                match unpanicking(self.checked_frontier(&as_of)).await {
                    Ok(frontier) => self.frontier = Some(frontier),
                    Err(e) => {
                        self.give_up_frontier();
                        self.failed(&PublishError::Tree(e.to_string()));
                        return; // a frontier built later from the store includes these events
                    }
                }
                // Events this publisher did not push (while it could not read the store, or
                // another writer's after a rewrite) may have passed a checkpoint that is due.
                self.mark_missed();
            }
            let size = self.frontier.as_ref().map_or(0, CompactRange::size);
            if appended.first_seq <= size + 1 {
                break;
            }
            match unpanicking(self.catch_up(appended.first_seq - 1)).await {
                Ok(()) if self.tip == before.hash => break,
                // The events read do not end where these follow: built again from the store.
                Ok(()) if !fresh => fresh = true,
                Ok(()) => {
                    self.give_up_frontier();
                    let detail = format!("the events read up to seq {} do not end at {}", before.seq, before.hash);
                    self.failed(&PublishError::Tree(detail));
                    return;
                }
                Err(e) => {
                    self.give_up_frontier();
                    self.failed(&PublishError::Tree(e.to_string()));
                    return;
                }
            }
        }
        for (seq, hash) in (appended.first_seq..).zip(&appended.hashes) {
            self.push(seq, hash);
        }
    }

    /// Reads the events after the frontier up to `to` from the store (another writer's).
    async fn catch_up(&mut self, to: u64) -> Result<(), StoreProofError> {
        let from = self.frontier.as_ref().map_or(0, CompactRange::size) + 1;
        let store = Arc::clone(&self.store);
        let mut lines = store.read(&self.chain, from, Some(to));
        let mut seq = from;
        while let Some(line) = lines.next().await {
            let info = crate::line::inspect(line?.as_bytes())
                .map_err(|e| StoreError::Corrupt(format!("event at seq {seq} of chain {:?}: {e}", self.chain)))?;
            if info.seq != seq || info.computed != info.declared {
                let detail = format!("the event read at seq {seq} is not a valid event of that seq");
                return Err(StoreError::Corrupt(detail).into());
            }
            if info.prev != self.tip {
                // Not the events the frontier ends with: stop here, the caller builds it again.
                return Ok(());
            }
            self.push(seq, &info.declared);
            seq += 1;
        }
        if seq <= to {
            let detail = format!("events up to seq {to} were expected, the store returned up to {}", seq - 1);
            return Err(StoreError::Corrupt(detail).into());
        }
        Ok(())
    }

    /// Pushes the event at `seq` if it is the next one; marks multiples of `every_events`.
    fn push(&mut self, seq: u64, hash: &EventHash) {
        let Some(frontier) = self.frontier.as_mut() else { return };
        if seq != frontier.size() + 1 || frontier.push(leaf_hash(hash.as_bytes())).is_err() {
            return;
        }
        self.tip = *hash;
        if self.policy.every_events.is_some_and(|n| seq.is_multiple_of(n)) && seq > self.published {
            self.pending = Some(Due { size: seq, root: frontier.root() });
        }
    }

    /// Marks the current size due if the interval has passed.
    fn time_due(&mut self) {
        let Some(every) = self.policy.every else { return };
        if self.last_published_at.checked_add(every).is_some_and(|at| Instant::now() >= at) {
            self.mark_current();
        }
    }

    /// Marks the current size due, if it is newer than what is published or pending.
    fn mark_current(&mut self) {
        let Some(frontier) = &self.frontier else { return };
        let newest = self.pending.map_or(self.published, |due| due.size.max(self.published));
        if frontier.size() > newest {
            self.pending = Some(Due { size: frontier.size(), root: frontier.root() });
        }
    }

    /// The writer stopped: publish the final state once.
    async fn finish(&mut self) {
        if self.ensure_frontier().await {
            self.mark_current();
        }
        if self.pending.is_some() {
            self.publish().await;
        }
    }

    async fn publish(&mut self) {
        let Some(due) = self.pending else { return };
        let checkpoint = Checkpoint::new(self.policy.origin.clone(), due.size, due.root);
        let result = match checkpoint.sign(&self.policy.signer) {
            Err(e) => Err(PublishError::Sign(e.to_string())),
            Ok(note) => {
                let timeout = self.policy.publish_timeout;
                // A sink that panics (a callback's `unwrap`) fails this publication, not the
                // publisher: its task ending would stop every checkpoint after it, unseen.
                let publish = crate::writer::caught(self.policy.sink.publish(&checkpoint, &note));
                match tokio::time::timeout(timeout, publish).await {
                    Ok(Ok(published)) => published,
                    Ok(Err(panic)) => Err(PublishError::Other(format!("the checkpoint sink panicked: {panic}").into())),
                    Err(_) => Err(PublishError::Timeout(timeout)),
                }
            }
        };
        match result {
            Ok(()) => {
                self.state.published.fetch_add(1, Ordering::Relaxed);
                self.published = self.published.max(due.size);
                self.pending = None;
                self.last_published_at = Instant::now();
                self.retry_at = None;
                self.delay = self.retry.initial;
            }
            Err(e) => self.failed(&e),
        }
    }

    fn failed(&mut self, error: &PublishError) {
        self.state.fail(error);
        self.retry_at = Some(Instant::now() + self.delay);
        self.delay = (self.delay * 2).min(self.retry.max);
    }
}

/// The chain as it was at `head` (an earlier head of `store`), to build the frontier of.
struct AsOf {
    store: Arc<dyn AuditStore>,
    head: Head,
}

#[async_trait::async_trait]
impl AuditStore for AsOf {
    async fn head(&self, _chain: &str) -> Result<Head, StoreError> {
        Ok(self.head)
    }
    async fn append(&self, _chain: &str, _expected: Head, _batch: &[SealedEvent]) -> Result<Head, AppendError> {
        Err(AppendError::Rejected { events: Vec::new(), reason: "a past state of the chain is read-only".into() })
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.store.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.store.query(query).await
    }
    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        self.store.merkle_nodes(chain, nodes).await
    }
}

/// Runs a store call of the publisher, turning a panic in it into a store error (retried
/// after the backoff), as the writer does: a panic would end the publisher's task, and with
/// it every checkpoint after, unseen.
async fn unpanicking<T>(call: impl Future<Output = Result<T, StoreProofError>>) -> Result<T, StoreProofError> {
    crate::writer::unpanicking(call).await?
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    /// A failed frontier build doubles the backoff; once the store can be read again, the
    /// next failure (of the sink, say) waits the initial backoff, not the doubled one.
    #[tokio::test]
    async fn the_backoff_starts_over_once_the_store_can_be_read_again() {
        let store: Arc<dyn AuditStore> = Arc::new(MemoryStore::new());
        let sink = Arc::new(CallbackSink::new(|_: &Checkpoint, _: &str| Ok(())));
        let signer = NoteSigner::generate("log.example/a").expect("key");
        let policy = CheckpointPolicy::new("log.example/a", signer, sink).expect("policy");
        let retry = RetryPolicy { initial: Duration::from_millis(10), max: Duration::from_secs(5) };
        let state = Arc::new(PublishState::default());
        let mut publisher = Publisher::new(Arc::clone(&store), "default".into(), policy, retry, state);
        for _ in 0..7 {
            publisher.failed(&PublishError::Tree("the store cannot be read".into()));
        }
        assert_eq!(publisher.delay, Duration::from_millis(1280));
        assert!(publisher.ensure_frontier().await, "the store can be read again");
        assert_eq!(publisher.delay, retry.initial);
        // A rebuild of a frontier that was there (no failure before it) leaves it alone.
        publisher.failed(&PublishError::Timeout(Duration::from_secs(1))); // the sink
        assert_eq!(publisher.delay, Duration::from_millis(20));
        publisher.checked_frontier(&*store).await.expect("built again");
        assert_eq!(publisher.delay, Duration::from_millis(20));
    }
}
