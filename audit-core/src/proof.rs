//! Merkle tree heads and proofs (SPEC §4) of a chain kept in any [`AuditStore`].
//!
//! ```
//! use audit_core::proof::{consistency_proof, inclusion_proof, tree_head};
//! use audit_core::{Auditor, EventDraft, store::MemoryStore};
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let auditor = Auditor::builder(store.clone()).build();
//! for _ in 0..5 {
//!     auditor.record(EventDraft::new("login")).await.unwrap();
//! }
//! let head = tree_head(&*store, "default").await.unwrap();
//! assert_eq!(head.size, 5);
//!
//! // Seq 3 is in the tree of 5 events; the tree of 2 is a prefix of the tree of 5.
//! let proof = inclusion_proof(&*store, "default", 3, 5).await.unwrap();
//! assert_eq!(proof.root, head.root);
//! proof.verify().unwrap();
//! consistency_proof(&*store, "default", 2, 5).await.unwrap().verify().unwrap();
//! # });
//! ```
//!
//! # Cost
//! Which subtree hashes a root or a proof needs depends only on the seq and sizes, so they
//! are listed first (O(log n) of them) and asked of the store in one call
//! ([`AuditStore::merkle_nodes`]). A store that keeps them ([`crate::store::MemoryStore`],
//! or a SQL store that persists the [`crate::merkle::Subtree`]s of each append) answers in
//! O(log n); an inclusion proof also reads the one event it is about. A store that does not
//! ([`crate::store::JsonlStore`]) makes this module read the chain's events from seq 1 up to
//! the size asked for and hash them: O(n) time, O(log n) memory (and the verifier's window of
//! recent ids). Reading them, it checks them as [`crate::verify::ChainVerifier`] does (format,
//! sequence, hashes, `prev` links, one chain, no repeated id) and refuses a broken chain
//! ([`StoreProofError::Broken`]): a proof over events spliced from two chains proves nothing.
//!
//! # Trust
//! Proofs are only as good as the root they are checked against: the recipient compares the
//! proof's root with a signed checkpoint it trusts (SPEC §5). The subtree hashes a store
//! keeps are therefore used to *build* proofs, never to *verify* a chain:
//! [`crate::verify::ChainVerifier::against_checkpoint`] recomputes the root from the events.
//! Each stored hash is checked one level down before it is used (a subtree of at most 64
//! events against their hashes, a larger one against its two stored halves), so that a
//! stored hash that disagrees with its neighbours (one corrupt row on a proof's path, under a
//! root) gives [`StoreProofError::Inconsistent`] rather than a proof that fails at its
//! recipient's. Hashes that agree with each other are not found wrong this way: a parent a
//! store computed from a corrupt row, or rows kept from before the newest events were deleted
//! and written again. A proof built from them fails against a checkpoint of the events, and
//! a checkpoint is signed only from the events themselves (the writer's publisher builds its
//! frontier with [`frontier_from_events`]; `audit-trail checkpoint` verifies the chain first).

use crate::checkpoint::Checkpoint;
use crate::hash::EventHash;
use crate::line;
use crate::merkle::{
    self, CompactRange, ConsistencyProof, Digest, InclusionProof, MissingSubtree, ProveError, SubtreeSource, leaf_hash,
    node_hash, root_from_subtrees,
};
use crate::store::{AuditStore, Head, StoreError};
use crate::verify::{BreakReason, ChainBreak, ChainVerifier};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;

/// A complete subtree: `(level, index)`, as [`AuditStore::merkle_nodes`] names it.
type NodeId = (u32, u64);

/// The size and Merkle root of a chain: what a checkpoint signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of events (the last `seq`).
    pub size: u64,
    /// Merkle root of those events (SPEC §4).
    pub root: Digest,
}

impl TreeHead {
    /// The checkpoint (SPEC §5) of this tree head for the log `origin`, ready to sign.
    pub fn checkpoint(&self, origin: impl Into<String>) -> Checkpoint {
        Checkpoint::new(origin, self.size, self.root)
    }
}

/// Why a tree head or proof could not be built from a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreProofError {
    /// The request itself cannot be proved (seq 0, seq beyond the size, size1 > size2,
    /// size1 = 0).
    #[error("cannot prove that: {0}")]
    Request(ProveError<Infallible>),
    /// The chain has fewer events than the size asked for.
    #[error(
        "chain {chain:?} has {available} events, but size {requested} was asked for: \
         ask for a size of at most {available}"
    )]
    BeyondHead {
        /// The chain.
        chain: String,
        /// The size asked for.
        requested: u64,
        /// The chain's size now.
        available: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event read to build the tree is malformed, out of sequence, does not match its hash
    /// or does not follow the one before (as [`crate::verify::ChainVerifier`] finds).
    #[error(
        "chain {chain:?} is broken at seq {}: {} ({}); a proof over a broken chain proves \
         nothing: run `audit-trail verify` and investigate first",
        .chain_break.seq, .chain_break.reason, .chain_break.detail
    )]
    Broken {
        /// The chain.
        chain: String,
        /// Where and why.
        chain_break: ChainBreak,
    },
    /// The subtree hashes the store keeps disagree with its events.
    #[error(
        "the Merkle subtree hashes stored for chain {chain:?} disagree with its events ({detail}): \
         they are stale or corrupt; rebuild them from the events"
    )]
    Inconsistent {
        /// The chain.
        chain: String,
        /// What disagrees.
        detail: String,
    },
}

/// The tree head of `chain` as it is now.
///
/// O(log n) with a store that keeps subtree hashes; otherwise O(n) (see the module docs).
pub async fn tree_head<S>(store: &S, chain: &str) -> Result<TreeHead, StoreProofError>
where
    S: AuditStore + ?Sized,
{
    let range = frontier(store, chain).await?;
    Ok(TreeHead { size: range.size(), root: range.root() })
}

/// The Merkle frontier of `chain` as it is now: its size, its root, and what is needed to
/// push later events (as a writer that publishes checkpoints does).
///
/// With a store that keeps subtree hashes, this is one lookup per set bit of the size, and
/// the last leaf is checked against the chain's head.
pub async fn frontier<S>(store: &S, chain: &str) -> Result<CompactRange, StoreProofError>
where
    S: AuditStore + ?Sized,
{
    build_frontier(store, chain, false).await.map(|(range, _)| range)
}

/// The Merkle frontier of the first `size` events of `chain` (`size` at most the chain's
/// size): what [`crate::verify::ChainVerifier::after_checkpoint`] grows from, to verify only
/// the events after a checkpoint.
///
/// O(log n) with a store that keeps subtree hashes (each checked one level down, see
/// "Trust"); otherwise the events up to `size` are read and checked (O(n), and a broken
/// chain is [`StoreProofError::Broken`]). Like any stored hash, it is to be checked against a
/// signed root before it is believed, as `after_checkpoint` does.
pub async fn frontier_at<S>(store: &S, chain: &str, size: u64) -> Result<CompactRange, StoreProofError>
where
    S: AuditStore + ?Sized,
{
    check_size(store, chain, size).await?;
    if size == 0 {
        return Ok(CompactRange::new());
    }
    let mut wanted = Recorder::default();
    let _ = CompactRange::from_source(&mut wanted, size);
    let (mut nodes, _) = fetch(store, chain, &wanted.nodes, None).await?;
    CompactRange::from_source(&mut nodes, size).map_err(|e| inconsistent(chain, e.to_string()))
}

/// [`frontier`] from the events alone, one read of the chain (each line checked and hashed),
/// whatever subtree hashes the store keeps: what a checkpoint may sign (see "Trust").
pub async fn frontier_from_events<S>(store: &S, chain: &str) -> Result<CompactRange, StoreProofError>
where
    S: AuditStore + ?Sized,
{
    build_frontier(store, chain, true).await.map(|(range, _)| range)
}

/// [`frontier_from_events`] and the head it ends at (the frontier's last leaf is the hash of
/// that head's event).
pub(crate) async fn frontier_and_head_from_events<S>(
    store: &S,
    chain: &str,
) -> Result<(CompactRange, Head), StoreProofError>
where
    S: AuditStore + ?Sized,
{
    build_frontier(store, chain, true).await
}

async fn build_frontier<S>(store: &S, chain: &str, from_events: bool) -> Result<(CompactRange, Head), StoreProofError>
where
    S: AuditStore + ?Sized,
{
    let head = store.head(chain).await?;
    let size = head.seq;
    if size == 0 {
        return Ok((CompactRange::new(), head));
    }
    let mut wanted = Recorder::default();
    let _ = CompactRange::from_source(&mut wanted, size);
    let _ = wanted.subtree(0, size - 1);
    let (mut nodes, _) = if from_events {
        scan(store, chain, &wanted.nodes, None, size).await?
    } else {
        fetch(store, chain, &wanted.nodes, None).await?
    };
    let last = nodes.subtree(0, size - 1).map_err(|e| inconsistent(chain, e.to_string()))?;
    if last != leaf_hash(head.hash.as_bytes()) {
        return Err(inconsistent(chain, format!("the leaf at seq {size} is not the hash of the chain's head")));
    }
    let range = CompactRange::from_source(&mut nodes, size).map_err(|e| inconsistent(chain, e.to_string()))?;
    Ok((range, head))
}

/// Proof that the event at `seq` is in the tree of the first `size` events of `chain`
/// (SPEC §4 inclusion proof); `seq <= size <= ` the chain's size.
///
/// O(log n) lookups and one event read with a store that keeps subtree hashes; otherwise
/// O(n) (see the module docs).
pub async fn inclusion_proof<S>(store: &S, chain: &str, seq: u64, size: u64) -> Result<InclusionProof, StoreProofError>
where
    S: AuditStore + ?Sized,
{
    check_size(store, chain, size).await?;
    let index = seq.checked_sub(1).ok_or(StoreProofError::Request(ProveError::SeqZero))?;
    let mut wanted = Recorder::default();
    merkle::inclusion_path(&mut wanted, index, size).map_err(request)?;
    let _ = wanted.subtree(0, index);
    let _ = root_from_subtrees(&mut wanted, size);
    let (mut nodes, leaf) = fetch(store, chain, &wanted.nodes, Some(seq)).await?;
    let leaf = leaf.ok_or_else(|| inconsistent(chain, format!("no event was found at seq {seq}")))?;
    InclusionProof::generate(&mut nodes, chain, seq, size, *leaf.as_bytes()).map_err(|e| generated(chain, e))
}

/// Proof that the first `size1` events of `chain` are a prefix of its first `size2`
/// (SPEC §4 consistency proof); `1 <= size1 <= size2 <=` the chain's size.
///
/// O(log n) lookups with a store that keeps subtree hashes; otherwise O(n) (see the module
/// docs).
pub async fn consistency_proof<S>(
    store: &S,
    chain: &str,
    size1: u64,
    size2: u64,
) -> Result<ConsistencyProof, StoreProofError>
where
    S: AuditStore + ?Sized,
{
    check_size(store, chain, size2).await?;
    let mut wanted = Recorder::default();
    ConsistencyProof::generate(&mut wanted, chain, size1, size2).map_err(request)?;
    let (mut nodes, _) = fetch(store, chain, &wanted.nodes, None).await?;
    ConsistencyProof::generate(&mut nodes, chain, size1, size2).map_err(|e| generated(chain, e))
}

async fn check_size<S>(store: &S, chain: &str, size: u64) -> Result<(), StoreProofError>
where
    S: AuditStore + ?Sized,
{
    let available = store.head(chain).await?.seq;
    if size > available {
        return Err(StoreProofError::BeyondHead { chain: chain.to_string(), requested: size, available });
    }
    Ok(())
}

fn inconsistent(chain: &str, detail: impl Into<String>) -> StoreProofError {
    StoreProofError::Inconsistent { chain: chain.to_string(), detail: detail.into() }
}

/// A refused request, found while listing the nodes (no lookups happened yet).
fn request(error: ProveError<Infallible>) -> StoreProofError {
    StoreProofError::Request(error)
}

/// An error of the second, real run: the request was already accepted by the first, so
/// what fails here is the store's data.
fn generated(chain: &str, error: ProveError<MissingSubtree>) -> StoreProofError {
    let detail = match error {
        ProveError::LeafMismatch { seq } => format!("the leaf at seq {seq} is not the hash of the event at seq {seq}"),
        other => other.to_string(),
    };
    inconsistent(chain, detail)
}

/// Lists the subtrees a computation asks for, answering zeros. What a root or proof asks for
/// depends only on indices and sizes, never on the hashes, so the list is exact.
#[derive(Default)]
struct Recorder {
    nodes: Vec<NodeId>,
}

impl SubtreeSource for Recorder {
    type Error = Infallible;
    fn subtree(&mut self, level: u32, index: u64) -> Result<Digest, Infallible> {
        if !self.nodes.contains(&(level, index)) {
            self.nodes.push((level, index));
        }
        Ok([0; 32])
    }
}

/// The subtree hashes fetched for one computation.
struct Nodes {
    hashes: HashMap<NodeId, Digest>,
    size: u64,
}

impl SubtreeSource for Nodes {
    type Error = MissingSubtree;
    fn subtree(&mut self, level: u32, index: u64) -> Result<Digest, MissingSubtree> {
        self.hashes.get(&(level, index)).copied().ok_or(MissingSubtree { level, index, size: self.size })
    }
}

/// Fetches `wanted` (and the event hash at `leaf_seq`) from the store's subtree hashes, or
/// else from its events.
async fn fetch<S>(
    store: &S,
    chain: &str,
    wanted: &[NodeId],
    leaf_seq: Option<u64>,
) -> Result<(Nodes, Option<EventHash>), StoreProofError>
where
    S: AuditStore + ?Sized,
{
    let needed = wanted.iter().map(|&(level, index)| end_of(level, index)).chain(leaf_seq).max().unwrap_or(0);
    if let Some(hashes) = store.merkle_nodes(chain, wanted).await? {
        if hashes.len() != wanted.len() {
            let detail = format!("{} subtree hashes were asked for, {} returned", wanted.len(), hashes.len());
            return Err(inconsistent(chain, detail));
        }
        let hashes: HashMap<NodeId, Digest> = wanted.iter().copied().zip(hashes).collect();
        check_stored(store, chain, &hashes).await?;
        let leaf = match leaf_seq {
            Some(seq) => Some(event_hash(store, chain, seq).await?),
            None => None,
        };
        return Ok((Nodes { hashes, size: needed }, leaf));
    }
    scan(store, chain, wanted, leaf_seq, needed).await
}

/// Subtrees of at most this level (64 leaves) are checked against their events; higher ones
/// against their two stored children.
const CHECKED_FROM_EVENTS: u32 = 6;

/// Checks each subtree hash a store gave one level down before it is used: a subtree of at
/// most 64 leaves against the hashes of its events, a larger one against its two stored
/// children. A stored hash its neighbours disagree with is found
/// ([`StoreProofError::Inconsistent`]); hashes that agree with each other are not (see the
/// module's "Trust"). Cost: one lookup of the children and a read of at most a few blocks of
/// 64 events, whatever the chain's length.
async fn check_stored<S>(store: &S, chain: &str, given: &HashMap<NodeId, Digest>) -> Result<(), StoreProofError>
where
    S: AuditStore + ?Sized,
{
    let name = |(level, index): NodeId| {
        format!("the subtree of seq {}..={} (level {level}, index {index})", (index << level) + 1, end_of(level, index))
    };
    let mut high: Vec<(NodeId, Digest)> =
        given.iter().filter(|((level, _), _)| *level > CHECKED_FROM_EVENTS).map(|(n, h)| (*n, *h)).collect();
    high.sort_unstable_by_key(|(node, _)| *node);
    if !high.is_empty() {
        let children: Vec<NodeId> =
            high.iter().flat_map(|&((level, index), _)| [(level - 1, 2 * index), (level - 1, 2 * index + 1)]).collect();
        let Some(hashes) = store.merkle_nodes(chain, &children).await? else {
            return Err(inconsistent(chain, format!("the children of {} are not stored", name(high[0].0))));
        };
        for (i, &(node, hash)) in high.iter().enumerate() {
            if !matches!((hashes.get(2 * i), hashes.get(2 * i + 1)), (Some(l), Some(r)) if node_hash(l, r) == hash) {
                return Err(inconsistent(chain, format!("{} disagrees with its two halves", name(node))));
            }
        }
    }
    // The lower ones from their events, each block of 64 read once (up to its last leaf needed).
    let mut blocks: BTreeMap<u64, u64> = BTreeMap::new();
    for &(level, index) in given.keys().filter(|(level, _)| *level <= CHECKED_FROM_EVENTS) {
        let end = blocks.entry((index << level) >> CHECKED_FROM_EVENTS).or_default();
        *end = (*end).max(end_of(level, index));
    }
    let mut built: HashMap<NodeId, Digest> = HashMap::new();
    let checker = Scan::new(chain, Vec::new(), None);
    for (block, last_seq) in blocks {
        let first_seq = (block << CHECKED_FROM_EVENTS) + 1;
        let mut range = CompactRange::new();
        let mut lines = store.read(chain, first_seq, Some(last_seq));
        for seq in first_seq..=last_seq {
            let line =
                lines.next().await.ok_or_else(|| inconsistent(chain, format!("no event was found at seq {seq}")))??;
            let hash = checker.check(line.as_bytes(), seq)?;
            let completed = range.push(leaf_hash(hash.as_bytes())).map_err(|e| inconsistent(chain, e.to_string()))?;
            for node in completed {
                // The block starts at a multiple of 64 leaves: its subtrees' indices are offset.
                let offset = (first_seq - 1) >> node.level;
                built.insert((node.level, node.index + offset), node.hash);
            }
        }
    }
    for (&node, hash) in given.iter().filter(|((level, _), _)| *level <= CHECKED_FROM_EVENTS) {
        if built.get(&node) != Some(hash) {
            return Err(inconsistent(chain, format!("{} disagrees with its events", name(node))));
        }
    }
    Ok(())
}

/// The last seq covered by subtree (`level`, `index`).
fn end_of(level: u32, index: u64) -> u64 {
    index
        .checked_add(1)
        .and_then(|count| count.checked_shl(level).filter(|end| end >> level == count))
        .unwrap_or(u64::MAX)
}

/// The hash of the event at `seq`, read from the store and checked.
async fn event_hash<S>(store: &S, chain: &str, seq: u64) -> Result<EventHash, StoreProofError>
where
    S: AuditStore + ?Sized,
{
    let mut lines = store.read(chain, seq, Some(seq));
    let line = lines.next().await.ok_or_else(|| inconsistent(chain, format!("no event was found at seq {seq}")))??;
    let scan = Scan::new(chain, Vec::new(), None);
    scan.check(line.as_bytes(), seq)
}

/// Reads events 1..=`needed` and keeps the subtrees in `wanted` as the tree grows.
async fn scan<S>(
    store: &S,
    chain: &str,
    wanted: &[NodeId],
    leaf_seq: Option<u64>,
    needed: u64,
) -> Result<(Nodes, Option<EventHash>), StoreProofError>
where
    S: AuditStore + ?Sized,
{
    const CHUNK: usize = 8192;
    let lost = |e: tokio::task::JoinError| StoreError::Backend {
        context: "the Merkle tree task failed".into(),
        source: Box::new(e),
    };
    let mut lines = store.read(chain, 1, Some(needed)).fuse();
    let mut state = Scan::new(chain, wanted.to_vec(), leaf_seq);
    loop {
        let mut chunk: Vec<String> = Vec::with_capacity(CHUNK);
        while chunk.len() < CHUNK {
            match lines.next().await {
                Some(line) => chunk.push(line?),
                None => break,
            }
        }
        if chunk.is_empty() {
            break;
        }
        // Hashing is CPU work: keep it off the async worker threads.
        state = tokio::task::spawn_blocking(move || state.push_lines(&chunk).map(|()| state)).await.map_err(lost)??;
    }
    if state.range.size() < needed {
        let detail = format!("the store has events up to seq {}, but seq {needed} was needed", state.range.size());
        return Err(inconsistent(chain, detail));
    }
    Ok((Nodes { hashes: state.found, size: needed }, state.leaf))
}

/// The tree being built from events read in order.
struct Scan {
    chain: String,
    /// Checks the events as `verify` does.
    verifier: ChainVerifier,
    range: CompactRange,
    wanted: HashSet<NodeId>,
    found: HashMap<NodeId, Digest>,
    leaf_seq: Option<u64>,
    leaf: Option<EventHash>,
}

impl Scan {
    fn new(chain: &str, wanted: Vec<NodeId>, leaf_seq: Option<u64>) -> Scan {
        Scan {
            chain: chain.to_string(),
            verifier: ChainVerifier::from_genesis(),
            range: CompactRange::new(),
            found: HashMap::with_capacity(wanted.len()),
            wanted: wanted.into_iter().collect(),
            leaf_seq,
            leaf: None,
        }
    }

    fn push_lines(&mut self, lines: &[String]) -> Result<(), StoreProofError> {
        let refs: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
        let hashes = self
            .verifier
            .push_lines_with(&refs, |_, _, inspected| inspected.as_ref().ok().map(|(info, _)| info.declared));
        if let Some(chain_break) = self.verifier.chain_break() {
            return Err(StoreProofError::Broken { chain: self.chain.clone(), chain_break: chain_break.clone() });
        }
        for hash in hashes {
            let seq = self.range.size() + 1;
            // (Every line of an unbroken chain was read.)
            let hash = hash.ok_or_else(|| inconsistent(&self.chain, format!("event {seq} could not be read")))?;
            if self.leaf_seq == Some(seq) {
                self.leaf = Some(hash);
            }
            let completed =
                self.range.push(leaf_hash(hash.as_bytes())).map_err(|e| inconsistent(&self.chain, e.to_string()))?;
            for node in completed {
                if self.wanted.contains(&(node.level, node.index)) {
                    self.found.insert((node.level, node.index), node.hash);
                }
            }
        }
        Ok(())
    }

    /// The declared hash of `line`, which must be a valid event at `seq`.
    fn check(&self, line: &[u8], seq: u64) -> Result<EventHash, StoreProofError> {
        let broken = |reason, detail: String| StoreProofError::Broken {
            chain: self.chain.clone(),
            chain_break: ChainBreak { seq, reason, detail },
        };
        let info = line::inspect(line).map_err(|e| broken(BreakReason::BadFormat, e.message().to_string()))?;
        if info.seq != seq {
            let reason = if info.seq > seq { BreakReason::SeqGap } else { BreakReason::SeqOutOfOrder };
            return Err(broken(reason, format!("found seq {} where {seq} belongs", info.seq)));
        }
        if info.computed != info.declared {
            return Err(broken(BreakReason::HashMismatch, format!("content hashes to {}", info.computed)));
        }
        Ok(info.declared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_subtrees() {
        assert_eq!(end_of(0, 0), 1);
        assert_eq!(end_of(0, 9), 10);
        assert_eq!(end_of(3, 1), 16);
        assert_eq!(end_of(63, 1), u64::MAX);
        assert_eq!(end_of(0, u64::MAX), u64::MAX);
    }

    #[test]
    fn the_recorder_lists_each_node_once() {
        let mut recorder = Recorder::default();
        let _ = root_from_subtrees(&mut recorder, 7);
        let _ = root_from_subtrees(&mut recorder, 7);
        assert_eq!(recorder.nodes, vec![(0, 6), (1, 2), (2, 0)]);
    }
}
