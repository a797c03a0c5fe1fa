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
use crate::line::{self, FieldSpans, FormatError, LineInfo};
use crate::merkle::{CompactRange, empty_root, leaf_hash, to_hex};
use crate::store::{AuditStore, Head, LineStream, StoreError};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

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
    /// were removed (reported at the first missing seq).
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

/// The ids of the last `window` events, for the duplicate-id check (SPEC §2).
///
/// The trick: ids are time-ordered UUIDv7 in practice (SPEC §1 recommends them), and while
/// every id is larger than the one before, the remembered ids are sorted and a new id larger
/// than the last cannot repeat any of them: appending it is the whole check, with no hashing
/// and no random memory access. The first id that is not larger is looked up by binary search;
/// from then on a hash set is kept as well (the classic way, as for any order of ids), with
/// std's randomly keyed hasher: ids come from the file being checked, and ids chosen to
/// collide under a fixed hash would make each lookup scan the whole window.
#[derive(Debug)]
struct RecentIds {
    window: usize,
    /// The remembered ids, oldest first (sorted while `set` is `None`).
    order: VecDeque<u128>,
    set: Option<HashSet<u128>>,
}

impl RecentIds {
    fn new(window: usize) -> RecentIds {
        RecentIds { window, order: VecDeque::new(), set: None }
    }

    /// Remembers `id`; false if it is among the remembered ones.
    fn insert(&mut self, id: u128) -> bool {
        if self.window == 0 {
            return true;
        }
        match &mut self.set {
            Some(set) => {
                if !set.insert(id) {
                    return false;
                }
            }
            None if self.order.back().is_none_or(|&last| id > last) => {}
            None => {
                if self.order.binary_search(&id).is_ok() {
                    return false;
                }
                let mut set: HashSet<u128> = self.order.iter().copied().collect();
                set.insert(id);
                self.set = Some(set);
            }
        }
        self.order.push_back(id);
        if self.order.len() > self.window
            && let Some(old) = self.order.pop_front()
            && let Some(set) = &mut self.set
        {
            set.remove(&old);
        }
        true
    }
}

/// Checks lines one after another; feed it with [`ChainVerifier::push_lines`].
#[derive(Debug)]
pub struct ChainVerifier {
    /// The head the next event must follow (`None` before the first line, when accepting a
    /// part of a chain).
    after: Option<Head>,
    /// The seq the first event must have, when verifying from a checkpoint's last event
    /// ([`ChainVerifier::after_checkpoint`]); its `prev` is then vouched for by the checkpoint.
    first_at: Option<u64>,
    first_seq: Option<u64>,
    trusted_prev: Option<EventHash>,
    chain: Option<Vec<u8>>,
    ids: RecentIds,
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

/// [`ChainVerifier::after_checkpoint`] was given the frontier of another size than the events
/// before the checkpoint's last one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Merkle frontier before a checkpoint of size {} must hold {expected} events, not {given}: \
         build it with audit_core::proof::frontier_at(store, chain, checkpoint.size - 1)", expected + 1)]
pub struct WrongFrontier {
    /// The size it must have (the checkpoint's size − 1).
    pub expected: u64,
    /// The size it had.
    pub given: u64,
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
            first_at: None,
            first_seq: None,
            trusted_prev: None,
            chain: None,
            ids: RecentIds::new(1 << 20),
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
    /// chain that ends before that size is [`BreakReason::Truncated`], reported at the first
    /// missing seq. Events after it are verified by their links as usual. The cost is
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

    /// Verifies only the events from a trusted `checkpoint`'s last one on (whose signature the
    /// caller has checked), not the whole chain again: `before` is the Merkle frontier of the
    /// events before it (size `checkpoint.size - 1`), as a store gives it
    /// ([`crate::proof::frontier_at`], O(log n) with stored subtree hashes).
    ///
    /// The frontier is not trusted: the first event must be at `checkpoint.size`, and its hash
    /// pushed onto the frontier must give the checkpoint's root, or the chain is broken there
    /// ([`BreakReason::CheckpointMismatch`]). When it does, the frontier and that event are
    /// the ones the checkpoint signed (a different frontier or event with the same root would
    /// be a SHA-256 collision), so the history up to the checkpoint, as the store's subtree
    /// hashes record it, is the one it signed; each later event is verified by its hash and
    /// link, growing the tree from
    /// that frontier: with [`ChainVerifier::with_tree`] its root at the end is the new tree's,
    /// whose consistency with the checkpoint's holds by construction. No event at the
    /// checkpoint's size is [`BreakReason::Truncated`].
    ///
    /// What this does not see, and a verification from seq 1 does: the events before the
    /// checkpoint as a store holds them now (a line edited or removed since it was signed,
    /// columns a store keeps beside them; the checkpoint vouches for their hashes as it signed
    /// them, not for the rows), and an id repeated across the checkpoint (a faulty writer, not
    /// tampering; see SPEC §2).
    ///
    /// A checkpoint of size 0 vouches for nothing: it is [`ChainVerifier::against_checkpoint`].
    /// A frontier of another size than `checkpoint.size - 1` is refused.
    pub fn after_checkpoint(checkpoint: &Checkpoint, before: CompactRange) -> Result<ChainVerifier, WrongFrontier> {
        let Some(expected) = checkpoint.size.checked_sub(1) else {
            return Ok(ChainVerifier::against_checkpoint(checkpoint));
        };
        if before.size() != expected {
            return Err(WrongFrontier { expected, given: before.size() });
        }
        let track = TreeTrack { range: before, checkpoint: Some(checkpoint.clone()), keep_all: false, placed: true };
        Ok(ChainVerifier { tree: Some(Box::new(track)), first_at: Some(checkpoint.size), ..ChainVerifier::new() })
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
    /// [`ChainVerifier::with_tree`] asked for it and the events started at `seq` 1 (or at a
    /// checkpoint's last event, [`ChainVerifier::after_checkpoint`]).
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
        self.ids = RecentIds::new(window);
        self
    }

    /// True once a break was found (further lines are ignored).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The break found so far, if any (the same as [`VerifyReport::broken`] will hold, but for
    /// a missing end that only [`ChainVerifier::finish`] can tell).
    pub fn chain_break(&self) -> Option<&ChainBreak> {
        self.broken.as_ref()
    }

    /// Checks the next lines (each without its `\n`). Returns false once the chain broke.
    pub fn push_lines(&mut self, lines: &[&[u8]]) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let infos = inspect_all(lines.len(), self.threads, |i| line::inspect(lines[i]));
        self.link_all(lines.iter().copied().zip(&infos))
    }

    /// [`ChainVerifier::push_lines`] for a store that also checks what it keeps beside each
    /// line: `visit(index, line, inspected)` runs on the thread that checked the line, with what
    /// [`line::inspect_with_fields`] found in it, and what it returns comes back in line order.
    /// Lines are inspected and visited even once the chain is broken (they are then no longer
    /// linked), so that a store checks every row.
    pub fn push_lines_with<R: Send + Sync>(
        &mut self,
        lines: &[&[u8]],
        visit: impl Fn(usize, &[u8], &Result<(LineInfo, FieldSpans), FormatError>) -> R + Sync,
    ) -> Vec<R> {
        let checked = inspect_all(lines.len(), self.threads, |i| {
            let inspected = line::inspect_with_fields(lines[i]);
            let visited = visit(i, lines[i], &inspected);
            (inspected.map(|(info, _)| info), visited)
        });
        let (infos, visited): (Vec<_>, Vec<_>) = checked.into_iter().unzip();
        self.link_all(lines.iter().copied().zip(&infos));
        visited
    }

    /// Links checked lines in order; false once the chain broke.
    fn link_all<'l>(
        &mut self,
        checked: impl IntoIterator<Item = (&'l [u8], &'l Result<LineInfo, FormatError>)>,
    ) -> bool {
        if self.broken.is_some() {
            return false;
        }
        for (line, info) in checked {
            if let Err(chain_break) = self.link(line, info) {
                self.broken = Some(chain_break);
                return false;
            }
        }
        true
    }

    /// Reports a line that is cut short (no final `\n`) at the next position (as the first line
    /// of a partial trail: at the seq it says it has, when that can be read, as for any other
    /// malformed first line).
    pub fn push_torn(&mut self, bytes: &[u8]) {
        if self.broken.is_none() {
            let detail = format!("the last line ({} bytes) has no newline: a torn write?", bytes.len());
            self.broken = Some(ChainBreak { seq: self.break_seq(bytes), reason: BreakReason::BadFormat, detail });
        }
    }

    /// Reports a line longer than [`MAX_LINE_BYTES`] (of which `read` bytes were read before
    /// giving up) at the next position.
    pub fn push_overlong(&mut self, read: usize) {
        if self.broken.is_none() {
            let detail = format!(
                "a line longer than {} MiB (no newline in its first {read} bytes): not an event",
                MAX_LINE_BYTES >> 20
            );
            self.broken = Some(ChainBreak { seq: self.expected_seq(), reason: BreakReason::BadFormat, detail });
        }
    }

    /// Reports a line that could not be read at all (a store's
    /// [`StoreError::UnreadableLine`]: not UTF-8, or too long) at the next position, as
    /// `bad format`.
    pub fn push_unreadable(&mut self, detail: impl Into<String>) {
        if self.broken.is_none() {
            let detail = detail.into();
            self.broken = Some(ChainBreak { seq: self.expected_seq(), reason: BreakReason::BadFormat, detail });
        }
    }

    fn expected_seq(&self) -> u64 {
        self.after.map_or(self.first_at.unwrap_or(1), |head| head.seq + 1)
    }

    /// Where a line that is not a valid event breaks the chain: the seq expected next, or,
    /// before the first event of a part of a chain (no seq expected), the seq the line says it
    /// has when it is still JSON (UTF-8 text: serde_json does not check the bytes of strings
    /// it skips) holding an object with one `seq` (see [`ClaimedSeq`]).
    fn break_seq(&self, line: &[u8]) -> u64 {
        match self.after {
            Some(head) => head.seq + 1,
            None if self.first_at.is_some() => self.expected_seq(),
            // A seq a valid event could have; otherwise the first one.
            None => std::str::from_utf8(line)
                .ok()
                .and_then(|text| serde_json::from_str::<ClaimedSeq>(text).ok())
                .map(|claimed| claimed.0)
                .filter(|seq| (1..=crate::canonical::MAX_SAFE_INTEGER).contains(seq))
                .unwrap_or(1),
        }
    }

    /// Links one checked line to the previous one.
    fn link(&mut self, line: &[u8], info: &Result<LineInfo, FormatError>) -> Result<(), ChainBreak> {
        let at = |seq: u64, reason: BreakReason, detail: String| ChainBreak { seq, reason, detail };
        let info =
            info.as_ref().map_err(|e| at(self.break_seq(line), BreakReason::BadFormat, e.message().to_string()))?;
        if info.computed != info.declared {
            // The event itself was altered (SPEC §2), whatever its seq and prev now say: where
            // it stands (after a checkpoint too), or, at the start of a part of a chain, at the
            // seq it claims.
            let seq = if self.after.is_some() || self.first_at.is_some() { self.expected_seq() } else { info.seq };
            return Err(at(seq, BreakReason::HashMismatch, format!("content hashes to {}", info.computed)));
        }
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
        if let (None, Some(first)) = (self.after, self.first_at)
            && info.seq != first
        {
            let reason = if info.seq > first { BreakReason::SeqGap } else { BreakReason::SeqOutOfOrder };
            let detail = format!("found seq {} where {first}, the checkpoint's last event, belongs", info.seq);
            return Err(at(first, reason, detail));
        }
        let seq = match self.after {
            None if info.seq == 1 => {
                if info.prev != EventHash::ZERO {
                    return Err(at(1, BreakReason::PrevMismatch, "the first event's prev must be 64 zeros".into()));
                }
                1
            }
            // After a checkpoint, the first event's prev is vouched for by its root.
            None if self.first_at.is_some() => info.seq,
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
        if !self.ids.insert(info.id) {
            return Err(at(seq, BreakReason::DuplicateId, format!("id {:032x} was used by an earlier event", info.id)));
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
        if self.after.is_none() && self.first_at.is_some() {
            self.broken = Some(ChainBreak {
                seq: checkpoint.size,
                reason: BreakReason::Truncated,
                detail: format!(
                    "no event at seq {size}, the last that checkpoint {origin} vouches for: events up to it were \
                     removed (or this is an older copy of the chain)",
                    size = checkpoint.size,
                    origin = checkpoint.origin
                ),
            });
        } else if checkpoint.size == 0 {
            self.broken = check_root(checkpoint, &empty_root()).err();
        } else if last < checkpoint.size {
            self.broken = Some(ChainBreak {
                seq: last + 1,
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

/// The `seq` a line that is not a valid event claims ([`ChainVerifier::break_seq`]): the value
/// of the one `seq` member of a JSON object.
///
/// Read as a map only: a struct derived with serde also takes a JSON array as its fields in
/// order, and `[7]` names no member. Member names are read as bytes, so that one with an
/// unpaired surrogate escape (`"\ud800"`: JSON text by RFC 8259's grammar, though serde_json
/// hands out no such string) does not hide the object's `seq`. A `seq` twice claims nothing.
struct ClaimedSeq(u64);

impl<'de> serde::Deserialize<'de> for ClaimedSeq {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ClaimedSeq, D::Error> {
        use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};

        /// Whether a member name is `seq`.
        struct IsSeq(bool);

        impl<'de> serde::Deserialize<'de> for IsSeq {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<IsSeq, D::Error> {
                deserializer.deserialize_bytes(Name)
            }
        }

        /// Reads a member name as the bytes it stands for.
        struct Name;

        impl Visitor<'_> for Name {
            type Value = IsSeq;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_bytes<E>(self, name: &[u8]) -> Result<IsSeq, E> {
                Ok(IsSeq(name == b"seq"))
            }
            fn visit_str<E>(self, name: &str) -> Result<IsSeq, E> {
                Ok(IsSeq(name == "seq"))
            }
        }

        /// Walks the object's members, skipping all but `seq`.
        struct Members;

        impl<'de> Visitor<'de> for Members {
            type Value = ClaimedSeq;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<ClaimedSeq, A::Error> {
                let mut seq = None;
                while let Some(IsSeq(is_seq)) = members.next_key()? {
                    if !is_seq {
                        members.next_value::<IgnoredAny>()?;
                    } else if seq.replace(members.next_value::<u64>()?).is_some() {
                        return Err(A::Error::duplicate_field("seq"));
                    }
                }
                seq.map(ClaimedSeq).ok_or_else(|| A::Error::missing_field("seq"))
            }
        }

        deserializer.deserialize_map(Members)
    }
}

/// `check(i)` for every `i` in `0..count`, spread over `threads` threads, results in order.
///
/// The indices are cut into small chunks that the threads take one after another, so that a
/// thread the machine runs later than the others (on a busy machine) delays nothing.
fn inspect_all<R: Send + Sync>(count: usize, threads: usize, check: impl Fn(usize) -> R + Sync) -> Vec<R> {
    const CHUNK: usize = 256;
    let threads = threads.min(count.div_ceil(CHUNK));
    if threads <= 1 {
        return (0..count).map(check).collect();
    }
    let chunks: Vec<Range<usize>> = (0..count).step_by(CHUNK).map(|start| start..(start + CHUNK).min(count)).collect();
    let results: Vec<OnceLock<Vec<R>>> = chunks.iter().map(|_| OnceLock::new()).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let (Some(chunk), Some(slot)) = (chunks.get(k), results.get(k)) else { return };
            let _ = slot.set(chunk.clone().map(&check).collect());
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    // Every chunk was taken and set before the scope ended (a thread that panics makes the
    // scope panic too).
    results.into_iter().flat_map(|slot| slot.into_inner().unwrap_or_default()).collect()
}

/// Verifies a JSON Lines export (SPEC §3) read from `reader`.
///
/// A reader thread reads the input in blocks of whole lines, [`ChainVerifier::threads`]
/// threads check blocks (canonical form, fields, SHA-256), and the calling thread links them
/// in order (seq, prev, ids): reading, checking and linking overlap.
pub fn verify_reader(reader: impl Read + Send, verifier: ChainVerifier) -> std::io::Result<VerifyReport> {
    feed_reader(reader, verifier).map(ChainVerifier::finish)
}

/// [`verify_reader`], returning the verifier instead of its report, so that what it tracked
/// (such as [`ChainVerifier::tree`]) can be read before [`ChainVerifier::finish`].
pub fn feed_reader(reader: impl Read + Send, mut verifier: ChainVerifier) -> std::io::Result<ChainVerifier> {
    let checkers = verifier.threads;
    let (filled, to_check) = sync_channel::<Numbered>(checkers + 1);
    let (checked, to_link) = sync_channel::<Numbered>(checkers + 1);
    let (recycle, empties) = channel::<Batch>();
    // Shared by the checking threads only: when the last of them stops, the reader's next
    // send fails and it stops too.
    let to_check = Arc::new(Mutex::new(to_check));
    std::thread::scope(|scope| {
        scope.spawn(move || read_batches(reader, &filled, &empties));
        for _ in 0..checkers {
            let (to_check, checked) = (Arc::clone(&to_check), checked.clone());
            scope.spawn(move || check_batches(&to_check, &checked));
        }
        drop((to_check, checked));
        // Returning early drops `to_link`: the checking threads then stop at their next send.
        link_batches(&mut verifier, to_link, &recycle)?;
        Ok(verifier)
    })
}

/// Bytes read at a time: a batch holds the whole lines among them (more when a line is longer).
const BATCH_BYTES: usize = 1 << 20;

/// The longest line a verifier reads (64 MiB, its `\n` not counted), wherever it starts in the
/// input: a longer one is [`BreakReason::BadFormat`] and ends the verification, so that a file
/// without newlines cannot exhaust memory. The writer never seals a longer event
/// ([`crate::AuditorBuilder::max_event_bytes`] is capped at it).
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Lines of a JSON Lines input on their way from the reader thread, through a checking thread,
/// to the linking one, and back to the reader to be filled again (their memory is allocated
/// once, not per block).
#[derive(Default)]
struct Batch {
    /// Whole lines, each with its `\n`; or, when `torn`, the bytes after the last `\n`.
    bytes: Vec<u8>,
    /// Each line's range in `bytes` (without its `\n`).
    lines: Vec<Range<usize>>,
    /// [`line::inspect`] of each line.
    infos: Vec<Result<LineInfo, FormatError>>,
    /// The input ended with these bytes and no `\n`.
    torn: bool,
    /// These bytes, the start of one line, are already longer than [`MAX_LINE_BYTES`].
    overlong: bool,
}

/// A batch, or the read error that ended the input, numbered in reading order.
type Numbered = (u64, std::io::Result<Batch>);

fn read_batches(mut reader: impl Read, filled: &SyncSender<Numbered>, empties: &Receiver<Batch>) {
    let mut carry: Vec<u8> = Vec::new();
    for number in 0.. {
        let mut batch = empties.try_recv().unwrap_or_default();
        batch.bytes.clear();
        batch.bytes.append(&mut carry);
        batch.lines.clear();
        batch.torn = false;
        batch.overlong = false;
        let last_newline = loop {
            let start = batch.bytes.len();
            batch.bytes.reserve(BATCH_BYTES);
            // `read_to_end` on a `take` fills spare capacity without zeroing it first.
            match (&mut reader).take(BATCH_BYTES as u64).read_to_end(&mut batch.bytes) {
                Ok(0) => break None,
                Ok(_) => {
                    // The bytes before `start` are one line begun in an earlier read (they hold
                    // no newline): it ends at this read's first newline, or goes on. Only a
                    // batch already past the limit can hold a line that is.
                    let first_line_end = if batch.bytes.len() > MAX_LINE_BYTES {
                        memchr::memchr(b'\n', &batch.bytes[start..]).map_or(batch.bytes.len(), |at| start + at)
                    } else {
                        0
                    };
                    if first_line_end > MAX_LINE_BYTES {
                        // One line, too long to be an event: reported, and reading stops.
                        batch.bytes.truncate(first_line_end);
                        batch.overlong = true;
                        let _ = filled.send((number, Ok(batch)));
                        return;
                    }
                    if let Some(at) = memchr::memrchr(b'\n', &batch.bytes[start..]) {
                        break Some(start + at);
                    }
                }
                Err(e) => {
                    let _ = filled.send((number, Err(e)));
                    return;
                }
            }
        };
        let Some(last_newline) = last_newline else {
            // The end of the input: what is left has no newline.
            if !batch.bytes.is_empty() {
                batch.torn = true;
                let _ = filled.send((number, Ok(batch)));
            }
            return;
        };
        carry.extend_from_slice(&batch.bytes[last_newline + 1..]);
        batch.bytes.truncate(last_newline + 1);
        let mut line_start = 0;
        for newline in memchr::memchr_iter(b'\n', &batch.bytes) {
            batch.lines.push(line_start..newline);
            line_start = newline + 1;
        }
        if filled.send((number, Ok(batch))).is_err() {
            return;
        }
    }
}

fn check_batches(to_check: &Mutex<Receiver<Numbered>>, checked: &SyncSender<Numbered>) {
    loop {
        let next = match to_check.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok((number, mut batch)) = next else { return };
        if let Ok(batch) = &mut batch {
            batch.infos.clear();
            let Batch { bytes, lines, infos, .. } = batch;
            infos.extend(lines.iter().map(|range| line::inspect(&bytes[range.clone()])));
        }
        if checked.send((number, batch)).is_err() {
            return;
        }
    }
}

/// Links the checked batches in reading order.
fn link_batches(
    verifier: &mut ChainVerifier,
    to_link: Receiver<Numbered>,
    recycle: &Sender<Batch>,
) -> std::io::Result<()> {
    let mut early: BTreeMap<u64, std::io::Result<Batch>> = BTreeMap::new();
    let mut next = 0;
    for (number, batch) in to_link {
        early.insert(number, batch);
        while let Some(batch) = early.remove(&next) {
            next += 1;
            let batch = batch?;
            if batch.overlong {
                verifier.push_overlong(batch.bytes.len());
            } else if batch.torn {
                verifier.push_torn(&batch.bytes);
            } else if !verifier.link_all(batch.lines.iter().map(|range| &batch.bytes[range.clone()]).zip(&batch.infos))
            {
                return Ok(());
            }
            let _ = recycle.send(batch);
        }
    }
    if early.is_empty() {
        Ok(())
    } else {
        Err(std::io::Error::other("a verifier thread stopped before checking its lines"))
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
        // A line the store could not hand over ends the stream: the chain breaks there.
        let mut unreadable = None;
        while chunk.len() < CHUNK {
            match lines.next().await {
                Some(Ok(line)) => chunk.push(line),
                Some(Err(StoreError::UnreadableLine { detail, .. })) => {
                    unreadable = Some(detail);
                    break;
                }
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        let mut verifier = checking.await.map_err(lost)?;
        if verifier.is_broken() || (chunk.is_empty() && unreadable.is_none()) {
            return Ok(verifier);
        }
        let last = unreadable.is_some();
        checking = tokio::task::spawn_blocking(move || {
            let refs: Vec<&[u8]> = chunk.iter().map(|line| line.as_bytes()).collect();
            verifier.push_lines(&refs);
            if let Some(detail) = unreadable {
                verifier.push_unreadable(detail);
            }
            verifier
        });
        if last {
            return checking.await.map_err(lost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Context, Event, Outcome, Resource, Timestamp};

    /// `n` chained events as JSON Lines, each with a `details` value of `pad` bytes.
    fn chain_text(n: u64, pad: usize) -> Vec<u8> {
        let mut text = Vec::new();
        let mut prev = EventHash::ZERO;
        for seq in 1..=n {
            let mut event = Event {
                v: 1,
                chain: "default".into(),
                seq,
                id: uuid::Uuid::from_u128(u128::from(seq) << 64),
                ts: Timestamp::from_unix_micros(1_795_000_000_000_000 + seq as i64).unwrap_or_else(Timestamp::now),
                actor: Actor::user("u"),
                action: "read".into(),
                resource: Resource::new("doc", seq.to_string()),
                outcome: Outcome::Success,
                reason: None,
                context: Context::default(),
                changes: Vec::new(),
                details: [("pad".to_string(), serde_json::json!("x".repeat(pad)))].into_iter().collect(),
                justification: None,
                tags: Vec::new(),
                prev,
                hash: EventHash::ZERO,
            };
            event.hash = event.compute_hash();
            prev = event.hash;
            text.extend_from_slice(event.to_canonical_line().as_bytes());
            text.push(b'\n');
        }
        text
    }

    /// Hands out at most `step` bytes per read, and fails once `fail_at` bytes were read.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
        fail_at: Option<usize>,
        at: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.fail_at.is_some_and(|fail_at| self.at >= fail_at) {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = buf.len().min(self.step).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn trickle(bytes: &[u8], step: usize) -> Trickle<'_> {
        Trickle { bytes, step, fail_at: None, at: 0 }
    }

    #[test]
    fn batches_of_any_size_are_linked_in_order() {
        // About 3.5 MiB: several batches; events of 2 MiB: lines longer than a batch.
        for (n, pad, step) in [(5000, 600, 1 << 16), (3, 2 << 20, 1 << 20), (40, 100, 7)] {
            let text = chain_text(n, pad);
            for threads in [1, 2, 3] {
                let report = verify_reader(trickle(&text, step), ChainVerifier::from_genesis().threads(threads))
                    .expect("in memory");
                assert!(report.is_valid(), "{n} events, {threads} threads: {report:?}");
                assert_eq!(report.verified, n);
            }
        }
    }

    /// A store checks every row's columns through the visit: lines after a break, in the
    /// same call and in later ones, are still inspected and visited, though no longer linked.
    #[test]
    fn push_lines_with_visits_every_line_after_a_break() {
        let mut text = chain_text(6, 10);
        let pattern = b"{\"id\":\"2\",\"type\":\"doc\"}";
        let at = memchr::memmem::find(&text, pattern).map(|i| i + pattern.len() - 4).expect("event 2");
        text[at] = b'i'; // "doc" -> "dic" in event 2
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|line| !line.is_empty()).collect();
        let mut verifier = ChainVerifier::from_genesis().threads(2);
        let visit = |i: usize, line: &[u8], inspected: &Result<(LineInfo, FieldSpans), FormatError>| {
            (i, line.len(), inspected.as_ref().map(|(info, _)| info.seq).ok())
        };
        let first = verifier.push_lines_with(&lines[..4], visit);
        assert!(verifier.is_broken());
        let rest = verifier.push_lines_with(&lines[4..], visit);
        let seqs: Vec<Option<u64>> = first.iter().chain(&rest).map(|&(_, _, seq)| seq).collect();
        assert_eq!(seqs, (1..=6).map(Some).collect::<Vec<_>>(), "every line inspected and visited, in order");
        assert_eq!(first.iter().map(|&(i, _, _)| i).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(
            rest.iter().map(|&(i, len, _)| (i, len)).collect::<Vec<_>>(),
            [(0, lines[4].len()), (1, lines[5].len())]
        );
        let report = verifier.finish();
        let broken = report.broken.expect("broken");
        assert_eq!((broken.seq, broken.reason, report.verified), (2, BreakReason::HashMismatch, 1));
    }

    #[test]
    fn a_break_in_a_late_batch_is_found_at_its_seq() {
        let mut text = chain_text(5000, 600);
        let pattern = b"{\"id\":\"4321\",\"type\":\"doc\"}";
        let at = memchr::memmem::find(&text, pattern).map(|i| i + pattern.len() - 4).expect("event 4321");
        text[at] = b'i'; // "doc" -> "dic" in event 4321
        for threads in [1, 2] {
            let report =
                verify_reader(text.as_slice(), ChainVerifier::from_genesis().threads(threads)).expect("memory");
            let broken = report.broken.expect("broken");
            assert_eq!((broken.seq, broken.reason, report.verified), (4321, BreakReason::HashMismatch, 4320));
        }
    }

    #[test]
    fn a_torn_end_after_many_batches_is_bad_format() {
        let mut text = chain_text(3000, 600);
        text.truncate(text.len() - 10);
        let report = verify_reader(trickle(&text, 1 << 16), ChainVerifier::from_genesis()).expect("memory");
        let broken = report.broken.expect("broken");
        assert_eq!((broken.seq, broken.reason, report.verified), (3000, BreakReason::BadFormat, 2999));
    }

    #[test]
    fn a_read_error_is_returned_not_reported_as_valid() {
        let text = chain_text(3000, 600);
        let reader = Trickle { bytes: &text, step: 1 << 16, fail_at: Some(text.len() / 2), at: 0 };
        let error = verify_reader(reader, ChainVerifier::from_genesis()).expect_err("the read fails");
        assert_eq!(error.to_string(), "the disk went away");
    }

    /// The ids remembered the plain way: a list of the last `window`.
    fn naive_duplicates(ids: &[u128], window: usize) -> Vec<bool> {
        let mut recent: VecDeque<u128> = VecDeque::new();
        ids.iter()
            .map(|id| {
                if window == 0 {
                    return false;
                }
                if recent.contains(id) {
                    return true;
                }
                recent.push_back(*id);
                if recent.len() > window {
                    recent.pop_front();
                }
                false
            })
            .collect()
    }

    #[test]
    fn recent_ids_find_the_same_duplicates_as_a_plain_list() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..200 {
            // Mostly increasing ids (UUIDv7), with repeats and steps back of various sizes.
            let mut ids = Vec::new();
            let mut id = 1000u128;
            for _ in 0..300 {
                id += u128::from(random() % 5) + 1;
                let pick = match random() % 10 {
                    0 => id - u128::from(random() % 40),
                    1 if case % 2 == 0 => u128::from(random() % 2000),
                    _ => id,
                };
                ids.push(pick);
            }
            let window = [0, 1, 7, 50, 1000][case % 5];
            let mut recent = RecentIds::new(window);
            let found: Vec<bool> = ids.iter().map(|&id| !recent.insert(id)).collect();
            // A duplicate ends a verification: compare up to the first one.
            let expected = naive_duplicates(&ids, window);
            let first = expected.iter().position(|&d| d).unwrap_or(ids.len());
            assert_eq!(found[..=first.min(ids.len() - 1)], expected[..=first.min(ids.len() - 1)], "case {case}");
        }
    }
}
