//! Verification of a chain (SPEC §2): names the first event where it breaks, and why.
//!
//! ```
//! use audit_core::verify::{ChainVerifier, verify_reader};
//! use audit_core::{Auditor, EventDraft, store::MemoryStore};
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let auditor = Auditor::builder(store.clone()).build();
//! for _ in 0..3 {
//!     auditor.record(EventDraft::new("login")).await.unwrap();
//! }
//! let mut export = String::new();
//! for event in store.events("default") {
//!     export.push_str(&event.line);
//!     export.push('\n');
//! }
//! let report = verify_reader(export.as_bytes(), ChainVerifier::new()).unwrap();
//! assert!(report.is_valid());
//! assert_eq!(report.verified, 3);
//!
//! let tampered = export.replacen("login", "logout", 1);
//! let report = verify_reader(tampered.as_bytes(), ChainVerifier::new()).unwrap();
//! assert_eq!(report.broken.unwrap().to_string(), "BROKEN at seq 1: hash mismatch");
//! # });
//! ```
//!
//! The verifier streams: memory stays constant whatever the length. Lines are checked
//! (canonical form, SPEC fields, SHA-256) in parallel on all cores, then linked in order
//! (`seq`, `prev`, ids). Duplicate ids are looked for among the last
//! [`ChainVerifier::id_window`] events (SPEC §2 lets a streaming verifier bound that memory;
//! a duplicate can only come from a faulty writer, never from tampering that keeps the links).

use crate::checkpoint::Checkpoint;
use crate::hash::EventHash;
use crate::line::{self, FormatError, LineInfo};
use crate::merkle::{CompactRange, empty_root, leaf_hash, to_hex};
use crate::store::{AuditStore, Head, LineStream, StoreError};
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;

/// Why a chain breaks, spelled as SPEC §2 says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakReason {
    /// The event's content does not match its `hash`.
    HashMismatch,
    /// `prev` is not the previous event's `hash`.
    PrevMismatch,
    /// `seq` skips ahead (an event is missing).
    SeqGap,
    /// `seq` goes back or repeats.
    SeqOutOfOrder,
    /// The id was used by an earlier event.
    DuplicateId,
    /// The line is not a canonical SPEC event.
    BadFormat,
    /// The chain ends before the size a trusted checkpoint vouches for: its newest events
    /// were removed (reported at the checkpoint's size).
    Truncated,
    /// The Merkle root of the chain's first events differs from the one a trusted checkpoint
    /// signed: an event at or before the checkpoint's size was changed, removed or inserted,
    /// and the later hashes were recomputed (reported at the checkpoint's size).
    CheckpointMismatch,
}

impl BreakReason {
    /// The SPEC wording.
    pub fn as_str(&self) -> &'static str {
        match self {
            BreakReason::HashMismatch => "hash mismatch",
            BreakReason::PrevMismatch => "prev mismatch",
            BreakReason::SeqGap => "seq gap",
            BreakReason::SeqOutOfOrder => "seq out of order",
            BreakReason::DuplicateId => "duplicate id",
            BreakReason::BadFormat => "bad format",
            BreakReason::Truncated => "truncated",
            BreakReason::CheckpointMismatch => "checkpoint mismatch",
        }
    }
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first place a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The `seq` at which the chain breaks (the position where an event was expected).
    pub seq: u64,
    /// Why.
    pub reason: BreakReason,
    /// More detail for people (which field, what was expected).
    pub detail: String,
}

impl fmt::Display for ChainBreak {
    /// `BROKEN at seq N: <reason>`, as the CLI prints it (SPEC §6).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BROKEN at seq {}: {}", self.seq, self.reason)
    }
}

/// The result of a verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events that passed every check before the break (or all of them).
    pub verified: u64,
    /// `seq` of the first event seen.
    pub first_seq: Option<u64>,
    /// The last verified event.
    pub head: Head,
    /// For a part of a chain (first `seq` > 1, no known head before it): the first event's
    /// `prev`, taken on trust.
    pub trusted_prev: Option<EventHash>,
    /// The first break, if any.
    pub broken: Option<ChainBreak>,
}

impl VerifyReport {
    /// True when nothing broke.
    pub fn is_valid(&self) -> bool {
        self.broken.is_none()
    }
}

/// Hashes a u128 id by folding it (ids are UUIDs: already well mixed).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = (n as u64) ^ ((n >> 64) as u64).rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    }
}

/// Checks lines one after another; feed it with [`ChainVerifier::push_lines`].
#[derive(Debug)]
pub struct ChainVerifier {
    /// The head the next event must follow (`None` before the first line, when accepting a
    /// part of a chain).
    after: Option<Head>,
    first_seq: Option<u64>,
    trusted_prev: Option<EventHash>,
    chain: Option<Vec<u8>>,
    ids: HashSet<u128, BuildHasherDefault<IdHasher>>,
    recent: VecDeque<u128>,
    id_window: usize,
    verified: u64,
    broken: Option<ChainBreak>,
    threads: usize,
    /// The Merkle tree of the verified events, when asked for (a checkpoint or `with_tree`).
    tree: Option<Box<TreeTrack>>,
}

/// The Merkle frontier of the events linked so far (SPEC §4), and the trusted checkpoint to
/// compare it with.
#[derive(Debug)]
struct TreeTrack {
    range: CompactRange,
    checkpoint: Option<Checkpoint>,
    /// Keep every event (`with_tree`), not only those up to the checkpoint's size.
    keep_all: bool,
    /// False once an event could not be placed (a part of a chain that starts after seq 1).
    placed: bool,
}

impl TreeTrack {
    /// Adds the event at `seq` and, at the checkpoint's size, compares the roots.
    fn push(&mut self, seq: u64, hash: &EventHash) -> Result<(), ChainBreak> {
        let wanted = self.keep_all || self.checkpoint.as_ref().is_some_and(|c| seq <= c.size);
        if !self.placed || !wanted {
            return Ok(());
        }
        if seq != self.range.size() + 1 || self.range.push(leaf_hash(hash.as_bytes())).is_err() {
            self.placed = false;
            return Ok(());
        }
        match &self.checkpoint {
            Some(checkpoint) if checkpoint.size == seq => check_root(checkpoint, &self.range.root()),
            _ => Ok(()),
        }
    }
}

/// The break if `root` (of the first `checkpoint.size` events) is not the checkpoint's.
fn check_root(checkpoint: &Checkpoint, root: &[u8; 32]) -> Result<(), ChainBreak> {
    if *root == checkpoint.root {
        return Ok(());
    }
    Err(ChainBreak {
        seq: checkpoint.size,
        reason: BreakReason::CheckpointMismatch,
        detail: format!(
            "the Merkle root of events 1..={size} is {}, but checkpoint {origin} (size {size}) signed {}: \
             an event at or before seq {size} was changed, removed or inserted and the later hashes \
             recomputed; none of events 1..={size} can be trusted",
            to_hex(root),
            to_hex(&checkpoint.root),
            size = checkpoint.size,
            origin = checkpoint.origin,
        ),
    })
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier::new()
    }
}

impl ChainVerifier {
    /// Accepts a whole chain or a part of one (whose first `prev` is taken on trust).
    pub fn new() -> ChainVerifier {
        ChainVerifier {
            after: None,
            first_seq: None,
            trusted_prev: None,
            chain: None,
            ids: HashSet::default(),
            recent: VecDeque::new(),
            id_window: 1 << 20,
            verified: 0,
            broken: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tree: None,
        }
    }

    /// Requires the chain to start at `seq` 1 with `prev` = 64 zeros.
    pub fn from_genesis() -> ChainVerifier {
        ChainVerifier::after(Head::EMPTY)
    }

    /// Requires the first event to follow `head` (e.g. a trusted checkpoint or an earlier
    /// verified export).
    pub fn after(head: Head) -> ChainVerifier {
        ChainVerifier { after: Some(head), ..ChainVerifier::new() }
    }

    /// Requires the chain to start at `seq` 1 and to match a trusted `checkpoint` (SPEC §5),
    /// whose signature the caller has checked (see [`Checkpoint::verify`]).
    ///
    /// The Merkle root of the first `checkpoint.size` events is computed from the events
    /// themselves as they are verified, never taken from a store, and compared with the
    /// checkpoint's: a difference is [`BreakReason::CheckpointMismatch`] at the checkpoint's
    /// size (a rewrite that recomputed every later hash, which the chain alone cannot show). A
    /// chain that ends before that size is [`BreakReason::Truncated`], reported at the
    /// checkpoint's size. Events after it are verified by their links as usual. The cost is
    /// two SHA-256 compressions per event up to the checkpoint's size.
    pub fn against_checkpoint(checkpoint: &Checkpoint) -> ChainVerifier {
        let track = TreeTrack {
            range: CompactRange::new(),
            checkpoint: Some(checkpoint.clone()),
            keep_all: false,
            placed: true,
        };
        ChainVerifier { tree: Some(Box::new(track)), ..ChainVerifier::from_genesis() }
    }

    /// Also keeps the Merkle frontier of every verified event (SPEC §4), so that the root of
    /// the verified chain is known at the end ([`ChainVerifier::tree`]): for signing a
    /// checkpoint of a chain just verified. Only a chain from `seq` 1 has a tree.
    pub fn with_tree(mut self) -> ChainVerifier {
        match &mut self.tree {
            Some(track) => track.keep_all = true,
            None => {
                let track = TreeTrack { range: CompactRange::new(), checkpoint: None, keep_all: true, placed: true };
                self.tree = Some(Box::new(track));
            }
        }
        self
    }

    /// The Merkle frontier of the events verified so far (its root and size), if
    /// [`ChainVerifier::with_tree`] asked for it and the events started at `seq` 1.
    pub fn tree(&self) -> Option<&CompactRange> {
        self.tree.as_deref().filter(|track| track.keep_all && track.placed).map(|track| &track.range)
    }

    /// How many worker threads check lines (default: all cores).
    pub fn threads(mut self, threads: usize) -> ChainVerifier {
        self.threads = threads.max(1);
        self
    }

    /// How many recent ids are remembered for the duplicate check (default 2^20).
    pub fn id_window(mut self, window: usize) -> ChainVerifier {
        self.id_window = window;
        self
    }

    /// True once a break was found (further lines are ignored).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Checks the next lines (each without its `\n`). Returns false once the chain broke.
    pub fn push_lines(&mut self, lines: &[&[u8]]) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let infos = inspect_all(lines, self.threads);
        for (line, info) in lines.iter().zip(infos) {
            if let Err(chain_break) = self.link(line, info) {
                self.broken = Some(chain_break);
                return false;
            }
        }
        true
    }

    /// Reports a line that is cut short (no final `\n`) at the next position.
    pub fn push_torn(&mut self, bytes: &[u8]) {
        if self.broken.is_none() {
            let detail = format!("the last line ({} bytes) has no newline: a torn write?", bytes.len());
            self.broken = Some(ChainBreak { seq: self.expected_seq(), reason: BreakReason::BadFormat, detail });
        }
    }

    fn expected_seq(&self) -> u64 {
        self.after.map_or(1, |head| head.seq + 1)
    }

    /// Links one checked line to the previous one.
    fn link(&mut self, line: &[u8], info: Result<LineInfo, FormatError>) -> Result<(), ChainBreak> {
        let at = |seq: u64, reason: BreakReason, detail: String| ChainBreak { seq, reason, detail };
        let info = info.map_err(|e| at(self.expected_seq(), BreakReason::BadFormat, e.message().to_string()))?;
        let chain = &line[info.chain.clone()];
        match &self.chain {
            None => self.chain = Some(chain.to_vec()),
            Some(first) if first.as_slice() != chain => {
                let detail = format!(
                    "event of chain {} in a trail of chain {}",
                    String::from_utf8_lossy(chain),
                    String::from_utf8_lossy(first)
                );
                return Err(at(self.expected_seq(), BreakReason::BadFormat, detail));
            }
            Some(_) => {}
        }
        let seq = match self.after {
            None if info.seq == 1 => {
                if info.prev != EventHash::ZERO {
                    return Err(at(1, BreakReason::PrevMismatch, "the first event's prev must be 64 zeros".into()));
                }
                1
            }
            None => {
                self.trusted_prev = Some(info.prev);
                info.seq
            }
            Some(head) => {
                let expected = head.seq + 1;
                if info.seq > expected {
                    return Err(at(
                        expected,
                        BreakReason::SeqGap,
                        format!("found seq {} where {expected} belongs", info.seq),
                    ));
                }
                if info.seq < expected {
                    return Err(at(
                        expected,
                        BreakReason::SeqOutOfOrder,
                        format!("found seq {} where {expected} belongs", info.seq),
                    ));
                }
                if info.prev != head.hash {
                    return Err(at(
                        expected,
                        BreakReason::PrevMismatch,
                        format!("prev is not the hash of seq {}", head.seq),
                    ));
                }
                expected
            }
        };
        if info.computed != info.declared {
            return Err(at(seq, BreakReason::HashMismatch, format!("content hashes to {}", info.computed)));
        }
        if self.id_window > 0 {
            if !self.ids.insert(info.id) {
                return Err(at(
                    seq,
                    BreakReason::DuplicateId,
                    format!("id {:032x} was used by an earlier event", info.id),
                ));
            }
            self.recent.push_back(info.id);
            if self.recent.len() > self.id_window
                && let Some(old) = self.recent.pop_front()
            {
                self.ids.remove(&old);
            }
        }
        self.after = Some(Head { seq, hash: info.declared });
        self.first_seq.get_or_insert(seq);
        self.verified += 1;
        if let Some(track) = self.tree.as_deref_mut()
            && let Err(chain_break) = track.push(seq, &info.declared)
        {
            // The checkpoint vouches for none of the events up to its size.
            self.verified = 0;
            self.after = Some(Head::EMPTY);
            return Err(chain_break);
        }
        Ok(())
    }

    /// After the last line: a chain shorter than the checkpoint's size is truncated; a
    /// checkpoint of size 0 must hold the empty tree's root.
    fn check_end(&mut self) {
        let Some(checkpoint) = self.tree.as_deref().and_then(|track| track.checkpoint.as_ref()) else {
            return;
        };
        if self.broken.is_some() {
            return;
        }
        let last = self.after.map_or(0, |head| head.seq);
        if checkpoint.size == 0 {
            self.broken = check_root(checkpoint, &empty_root()).err();
        } else if last < checkpoint.size {
            self.broken = Some(ChainBreak {
                seq: checkpoint.size,
                reason: BreakReason::Truncated,
                detail: format!(
                    "the chain ends at seq {last}, but checkpoint {} vouches for {} events: events {}..={} \
                     were removed (or this is an older or partial copy of the chain)",
                    checkpoint.origin,
                    checkpoint.size,
                    last + 1,
                    checkpoint.size
                ),
            });
        }
    }

    /// The report so far.
    pub fn finish(mut self) -> VerifyReport {
        self.check_end();
        VerifyReport {
            verified: self.verified,
            first_seq: self.first_seq,
            head: self.after.unwrap_or(Head::EMPTY),
            trusted_prev: self.trusted_prev,
            broken: self.broken,
        }
    }
}

/// Runs [`line::inspect`] on every line, spread over `threads` threads.
fn inspect_all(lines: &[&[u8]], threads: usize) -> Vec<Result<LineInfo, FormatError>> {
    const MIN_PER_THREAD: usize = 512;
    let threads = threads.min(lines.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return lines.iter().map(|l| line::inspect(l)).collect();
    }
    let per_thread = lines.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = lines
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(|l| line::inspect(l)).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker.join().unwrap_or_else(|_| vec![Err(FormatError::new("verifier thread panicked"))])
            })
            .collect()
    })
}

/// Verifies a JSON Lines export (SPEC §3) read from `reader`.
///
/// A reader thread reads and splits blocks of lines while the verifier checks the previous
/// block on all cores, so reading overlaps checking.
pub fn verify_reader(reader: impl Read + Send, verifier: ChainVerifier) -> std::io::Result<VerifyReport> {
    feed_reader(reader, verifier).map(ChainVerifier::finish)
}

/// [`verify_reader`], returning the verifier instead of its report, so that what it tracked
/// (such as [`ChainVerifier::tree`]) can be read before [`ChainVerifier::finish`].
pub fn feed_reader(reader: impl Read + Send, mut verifier: ChainVerifier) -> std::io::Result<ChainVerifier> {
    std::thread::scope(|scope| {
        let (blocks, received) = std::sync::mpsc::sync_channel(2);
        scope.spawn(move || read_blocks(reader, &blocks));
        // Returning early drops `received`; the reader thread then stops at its next send.
        for block in received {
            match block? {
                Block::Lines(bytes, ranges) => {
                    let lines: Vec<&[u8]> = ranges.into_iter().map(|range| &bytes[range]).collect();
                    if !verifier.push_lines(&lines) {
                        return Ok(verifier);
                    }
                }
                Block::Torn(bytes) => verifier.push_torn(&bytes),
            }
        }
        Ok(verifier)
    })
}

/// What the reader thread hands over.
enum Block {
    /// Complete lines: the bytes and each line's range (without `\n`).
    Lines(Vec<u8>, Vec<std::ops::Range<usize>>),
    /// Bytes after the last `\n` at the end of the input.
    Torn(Vec<u8>),
}

fn read_blocks(mut reader: impl Read, blocks: &std::sync::mpsc::SyncSender<std::io::Result<Block>>) {
    const BLOCK: usize = 4 << 20;
    let mut buffer: Vec<u8> = Vec::with_capacity(BLOCK * 2);
    loop {
        let start = buffer.len();
        // `read_to_end` on a `take` fills spare capacity without zeroing it first.
        let read = match (&mut reader).take(BLOCK as u64).read_to_end(&mut buffer) {
            Ok(read) => read,
            Err(e) => {
                let _ = blocks.send(Err(e));
                return;
            }
        };
        if read == 0 {
            if !buffer.is_empty() {
                let _ = blocks.send(Ok(Block::Torn(buffer)));
            }
            return;
        }
        let Some(last_newline) = memchr::memrchr(b'\n', &buffer[start..]).map(|i| start + i) else {
            continue;
        };
        let mut rest = Vec::with_capacity(BLOCK * 2);
        rest.extend_from_slice(&buffer[last_newline + 1..]);
        buffer.truncate(last_newline + 1);
        let mut ranges = Vec::with_capacity(buffer.len() / 512);
        let mut line_start = 0;
        for newline in memchr::memchr_iter(b'\n', &buffer) {
            ranges.push(line_start..newline);
            line_start = newline + 1;
        }
        if blocks.send(Ok(Block::Lines(std::mem::replace(&mut buffer, rest), ranges))).is_err() {
            return;
        }
    }
}

/// Verifies the lines a store streams (see [`crate::store::AuditStore::read`]).
///
/// Checking runs on tokio's blocking pool (never on the async worker threads), one chunk
/// while the next is fetched.
pub async fn verify_stream(lines: LineStream<'_>, verifier: ChainVerifier) -> Result<VerifyReport, StoreError> {
    feed_stream(lines, verifier).await.map(ChainVerifier::finish)
}

/// Verifies `chain` as `store` keeps it, from seq 1, and against `checkpoint` if one is given
/// (see [`ChainVerifier::against_checkpoint`]; check its signature first with
/// [`Checkpoint::verify`]).
///
/// ```
/// use audit_core::checkpoint::{Checkpoint, NoteSigner};
/// use audit_core::verify::{BreakReason, verify_store};
/// use audit_core::{Auditor, EventDraft, proof, store::MemoryStore};
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let auditor = Auditor::builder(store.clone()).build();
/// for _ in 0..3 {
///     auditor.record(EventDraft::new("login")).await.unwrap();
/// }
/// // The log signs a checkpoint; the auditor keeps the note and the verifier key.
/// let signer = NoteSigner::generate("audit.example.com/default").unwrap();
/// let head = proof::tree_head(&*store, "default").await.unwrap();
/// let note = head.checkpoint("audit.example.com/default").sign(&signer).unwrap();
///
/// // Later: check the signature, then the chain against it.
/// let trusted = Checkpoint::verify(&note, &signer.verifier()).unwrap();
/// let report = verify_store(&*store, "default", Some(&trusted)).await.unwrap();
/// assert!(report.is_valid());
///
/// // A store that lost its newest events no longer reaches the checkpoint.
/// let shorter = MemoryStore::new();
/// let events = store.events("default");
/// use audit_core::store::{AuditStore, Head};
/// shorter.append("default", Head::EMPTY, &events[..2]).await.unwrap();
/// let report = verify_store(&shorter, "default", Some(&trusted)).await.unwrap();
/// let broken = report.broken.unwrap();
/// assert_eq!((broken.seq, broken.reason), (3, BreakReason::Truncated));
/// # });
/// ```
pub async fn verify_store<S>(
    store: &S,
    chain: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<VerifyReport, StoreError>
where
    S: AuditStore + ?Sized,
{
    let verifier = checkpoint.map_or_else(ChainVerifier::from_genesis, ChainVerifier::against_checkpoint);
    verify_stream(store.read(chain, 1, None), verifier).await
}

/// [`verify_stream`], returning the verifier instead of its report (see [`feed_reader`]).
pub async fn feed_stream(lines: LineStream<'_>, verifier: ChainVerifier) -> Result<ChainVerifier, StoreError> {
    use futures_util::StreamExt;
    const CHUNK: usize = 8192;
    let lost = |e: tokio::task::JoinError| StoreError::Backend {
        context: "the verifier task failed".into(),
        source: Box::new(e),
    };
    let mut lines = lines.fuse();
    let mut checking = tokio::task::spawn_blocking(move || verifier);
    loop {
        let mut chunk: Vec<String> = Vec::with_capacity(CHUNK);
        while chunk.len() < CHUNK {
            match lines.next().await {
                Some(line) => chunk.push(line?),
                None => break,
            }
        }
        let mut verifier = checking.await.map_err(lost)?;
        if verifier.is_broken() || chunk.is_empty() {
            return Ok(verifier);
        }
        checking = tokio::task::spawn_blocking(move || {
            let refs: Vec<&[u8]> = chunk.iter().map(|line| line.as_bytes()).collect();
            verifier.push_lines(&refs);
            verifier
        });
    }
}
