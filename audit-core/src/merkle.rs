//! Merkle tree and proofs of SPEC §4 (RFC 6962 / RFC 9162 §2.1).
//!
//! ```
//! use audit_core::merkle::{ConsistencyProof, InclusionProof, MemoryTree, leaf_hash};
//!
//! // Leaves are the raw 32 bytes of event hashes, in seq order.
//! let events: Vec<[u8; 32]> = (1u8..=5).map(|i| [i; 32]).collect();
//! let mut tree = MemoryTree::new();
//! for event_hash in &events {
//!     tree.push(leaf_hash(event_hash))?;
//! }
//!
//! // Prove that seq 3 is in the tree of 5 events, as SPEC §4 JSON.
//! let proof = InclusionProof::generate(&mut tree, "default", 3, 5, events[2])?;
//! assert_eq!(proof.root, tree.root());
//! let json = serde_json::to_string(&proof)?;
//! let parsed: InclusionProof = serde_json::from_str(&json)?;
//! parsed.verify()?;
//!
//! // Prove that the tree of 2 events is a prefix of the tree of 5.
//! ConsistencyProof::generate(&mut tree, "default", 2, 5)?.verify()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Pieces
//!
//! - [`leaf_hash`], [`node_hash`], [`empty_root`]: the RFC 6962 hashes.
//! - [`CompactRange`]: the append-only frontier. O(log n) memory, gives the
//!   current root at once, and reports every [`Subtree`] a push completes so a
//!   store can persist them.
//! - [`SubtreeSource`]: anything that can return the hash of a complete aligned
//!   subtree (such as a table of the [`Subtree`]s above). [`root_from_subtrees`],
//!   [`inclusion_path`] and [`consistency_path`] need O(log n) lookups each.
//!   [`MemoryTree`] is an in-memory source for tests and small logs.
//! - [`verify_inclusion`] and [`verify_consistency`]: RFC 9162 §2.1.3.2 and
//!   §2.1.4.2, with the strict policy described on each.
//! - [`InclusionProof`] and [`ConsistencyProof`]: the JSON documents of SPEC §4.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A SHA-256 output: a leaf hash, a node hash or a root.
pub type Digest = [u8; 32];

/// Most levels a tree of `u64` leaves can have above its leaves.
const MAX_LEVEL: u32 = 63;

// ---------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ `leaf`).
///
/// In this crate a leaf is the 32 raw bytes of an event's `hash` (SPEC §4).
pub fn leaf_hash(leaf: &[u8]) -> Digest {
    Sha256::new().chain_update([0x00]).chain_update(leaf).finalize().into()
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ `left` ‖ `right`).
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// Root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Digest {
    Sha256::digest([]).into()
}

// ---------------------------------------------------------------------------
// Hex
// ---------------------------------------------------------------------------

/// Lowercase hex of `bytes`, the form SPEC §4 uses for every hash.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses 64 lowercase hex digits into a [`Digest`].
pub fn digest_from_hex(text: &str) -> Result<Digest, HexError> {
    if text.len() != 64 {
        return Err(HexError::Length { len: text.len() });
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
        let hi = hex_value(pair[0]).ok_or(HexError::Digit { position: 2 * i })?;
        let lo = hex_value(pair[1]).ok_or(HexError::Digit { position: 2 * i + 1 })?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Why a hash in hex was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The text is not 64 characters long.
    #[error("a SHA-256 hash is 64 lowercase hex digits, this one has {len} characters")]
    Length {
        /// Length of the text, in bytes.
        len: usize,
    },
    /// A character is not one of `0-9a-f`.
    #[error("character {position} is not a lowercase hex digit (0-9, a-f)")]
    Digit {
        /// Zero-based byte offset of the bad character.
        position: usize,
    },
}

// ---------------------------------------------------------------------------
// Compact range (Merkle frontier)
// ---------------------------------------------------------------------------

/// A complete, aligned subtree: the perfect subtree of 2^`level` leaves that
/// starts at leaf `index` · 2^`level`. Level 0 is a single leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subtree {
    /// Height above the leaves (0 = leaf hash).
    pub level: u32,
    /// Position among the subtrees of this level, from 0.
    pub index: u64,
    /// The subtree's Merkle hash.
    pub hash: Digest,
}

/// The Merkle frontier ("compact range") of a tree: one hash per set bit of
/// its size, the roots of its perfect subtrees from left to right.
///
/// It uses O(log n) memory and gives the root of the current tree at once.
/// [`CompactRange::push`] reports each [`Subtree`] that a new leaf completes,
/// so a store that keeps them can later answer [`SubtreeSource`] lookups and
/// build proofs in O(log n) reads. Persist it with [`CompactRange::hashes`] and
/// [`CompactRange::size`] (or serde) and restore it with
/// [`CompactRange::from_parts`] or [`CompactRange::from_source`].
///
/// ```
/// use audit_core::merkle::{CompactRange, leaf_hash};
///
/// let mut frontier = CompactRange::new();
/// let done = frontier.push(leaf_hash(&[1; 32]))?;
/// assert_eq!(done.len(), 1); // the leaf itself (level 0)
/// let done = frontier.push(leaf_hash(&[2; 32]))?;
/// assert_eq!(done.len(), 2); // leaf 1, and the level 1 node over leaves 0 and 1
/// assert_eq!(done[1].hash, frontier.root());
/// # Ok::<(), audit_core::merkle::CompactRangeError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CompactRangeRepr", into = "CompactRangeRepr")]
pub struct CompactRange {
    size: u64,
    /// Roots of the perfect subtrees, largest (leftmost) first.
    hashes: Vec<Digest>,
}

impl CompactRange {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores a frontier from a stored size and its hashes (largest subtree
    /// first, one per set bit of `size`), as [`CompactRange::hashes`] gave them.
    pub fn from_parts(size: u64, hashes: Vec<Digest>) -> Result<Self, CompactRangeError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(CompactRangeError::WrongHashCount { size, expected, got: hashes.len() });
        }
        Ok(Self { size, hashes })
    }

    /// Rebuilds the frontier of the first `size` leaves from stored subtrees,
    /// with one lookup per set bit of `size`.
    pub fn from_source<S>(source: &mut S, size: u64) -> Result<Self, S::Error>
    where
        S: SubtreeSource + ?Sized,
    {
        let mut hashes = Vec::with_capacity(size.count_ones() as usize);
        for level in set_bits_high_to_low(size) {
            hashes.push(source.subtree(level, prefix_subtree_index(size, level))?);
        }
        Ok(Self { size, hashes })
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Roots of the perfect subtrees, largest (leftmost) first; with
    /// [`CompactRange::size`] this is everything needed to restore the frontier.
    pub fn hashes(&self) -> &[Digest] {
        &self.hashes
    }

    /// Root of the tree of the leaves appended so far ([`empty_root`] if none).
    pub fn root(&self) -> Digest {
        let mut from_right = self.hashes.iter().rev();
        match from_right.next() {
            None => empty_root(),
            Some(last) => from_right.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }

    /// Appends a leaf hash (see [`leaf_hash`]) and returns the subtrees it
    /// completed, lowest level first: always the leaf itself (level 0), then
    /// each node that now has both children.
    pub fn push(&mut self, leaf_hash: Digest) -> Result<Vec<Subtree>, CompactRangeError> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(CompactRangeError::Full)?;
        // Each trailing one bit of `index` is a perfect subtree on the right
        // edge that the new leaf completes into a node one level up.
        let merges = index.trailing_ones() as usize;
        let keep = self.hashes.len().saturating_sub(merges);
        let lefts = self.hashes.split_off(keep);

        let mut completed = Vec::with_capacity(merges + 1);
        completed.push(Subtree { level: 0, index, hash: leaf_hash });
        let mut hash = leaf_hash;
        for (level, left) in (1u32..).zip(lefts.iter().rev()) {
            hash = node_hash(left, &hash);
            completed.push(Subtree { level, index: index >> level, hash });
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(completed)
    }
}

/// Why a [`CompactRange`] refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactRangeError {
    /// The stored hashes do not fit the stored size.
    #[error(
        "a frontier of size {size} has {expected} hashes (one per set bit of the size), \
         but {got} were given: the stored frontier is corrupt or from another tree"
    )]
    WrongHashCount {
        /// The stored size.
        size: u64,
        /// One per set bit of `size`.
        expected: usize,
        /// How many were given.
        got: usize,
    },
    /// The tree already has `u64::MAX` leaves.
    #[error("the tree already has u64::MAX leaves and cannot grow")]
    Full,
}

/// Serde form of [`CompactRange`]: `{"size": n, "hashes": ["<hex>", …]}`.
#[derive(Serialize, Deserialize)]
struct CompactRangeRepr {
    size: u64,
    #[serde(with = "hex_digests")]
    hashes: Vec<Digest>,
}

impl TryFrom<CompactRangeRepr> for CompactRange {
    type Error = CompactRangeError;
    fn try_from(repr: CompactRangeRepr) -> Result<Self, Self::Error> {
        Self::from_parts(repr.size, repr.hashes)
    }
}

impl From<CompactRange> for CompactRangeRepr {
    fn from(range: CompactRange) -> Self {
        Self { size: range.size, hashes: range.hashes }
    }
}

// ---------------------------------------------------------------------------
// Subtree sources and proof generation
// ---------------------------------------------------------------------------

/// Something that knows the hashes of complete aligned subtrees, such as a
/// store that persisted the [`Subtree`]s reported by [`CompactRange::push`].
///
/// The functions that build roots and proofs from a source ask only for
/// subtrees that lie entirely inside the tree size they are given, and only
/// O(log n) of them. They cannot tell how many leaves the source holds: a
/// caller must not ask for a size larger than that.
pub trait SubtreeSource {
    /// Why a lookup failed (I/O, a missing row, …).
    type Error;

    /// The hash of the perfect subtree of 2^`level` leaves that starts at leaf
    /// `index` · 2^`level`; level 0 is the leaf hash of leaf `index`.
    fn subtree(&mut self, level: u32, index: u64) -> Result<Digest, Self::Error>;
}

/// Root of the tree of the first `size` leaves, from one lookup per set bit
/// of `size` ([`empty_root`] for size 0).
pub fn root_from_subtrees<S>(source: &mut S, size: u64) -> Result<Digest, S::Error>
where
    S: SubtreeSource + ?Sized,
{
    Ok(fold_low_bits(source, size, 64)?.unwrap_or_else(empty_root))
}

/// Audit path (RFC 9162 §2.1.3.1) of leaf `index` in the tree of the first
/// `size` leaves, bottom-up, from O(log `size`) lookups.
pub fn inclusion_path<S>(source: &mut S, index: u64, size: u64) -> Result<Vec<Digest>, ProveError<S::Error>>
where
    S: SubtreeSource + ?Sized,
{
    if index >= size {
        return Err(ProveError::IndexOutOfRange { index, size });
    }
    path_from_node(source, 0, index, size).map_err(ProveError::Source)
}

/// Consistency proof (RFC 9162 §2.1.4.1) that the tree of `size1` leaves is a
/// prefix of the tree of `size2` leaves, from O(log `size2`) lookups.
///
/// Refuses `size1 = 0` (see [`verify_consistency`]) and `size1 > size2`;
/// `size1 == size2` gives an empty path.
pub fn consistency_path<S>(source: &mut S, size1: u64, size2: u64) -> Result<Vec<Digest>, ProveError<S::Error>>
where
    S: SubtreeSource + ?Sized,
{
    check_consistency_sizes(size1, size2)?;
    if size1 == size2 {
        return Ok(Vec::new());
    }
    // The last perfect subtree of the old tree: its root seeds the proof,
    // and the rest is the audit path of that subtree in the new tree.
    let level = size1.trailing_zeros();
    let index = (size1 - 1) >> level;
    let mut path = Vec::new();
    if index != 0 {
        // size1 is not a power of two, so the verifier cannot know this hash.
        path.push(source.subtree(level, index).map_err(ProveError::Source)?);
    }
    path.extend(path_from_node(source, level, index, size2).map_err(ProveError::Source)?);
    Ok(path)
}

fn check_consistency_sizes<E>(size1: u64, size2: u64) -> Result<(), ProveError<E>> {
    if size1 == 0 {
        return Err(ProveError::EmptyFirstTree);
    }
    if size1 > size2 {
        return Err(ProveError::SizesOutOfOrder { size1, size2 });
    }
    Ok(())
}

/// Siblings on the way from node (`level`, `index`) up to the root of the tree
/// of `size` leaves, bottom-up. The node must be complete inside that tree.
///
/// Below the "fork" (the highest ancestor that is still a complete subtree)
/// every sibling is a complete subtree; the fork's right sibling, if any, is
/// the incomplete right edge of the tree, hashed from the perfect subtrees of
/// `size` under the fork's level; above the fork every sibling is on the left
/// and is a perfect subtree of `size`'s decomposition.
fn path_from_node<S>(source: &mut S, level: u32, index: u64, size: u64) -> Result<Vec<Digest>, S::Error>
where
    S: SubtreeSource + ?Sized,
{
    let nodes_at_level = size >> level;
    // index < nodes_at_level, so they differ; the highest differing bit is
    // how many levels up the fork is.
    let inner = MAX_LEVEL.saturating_sub((index ^ nodes_at_level).leading_zeros());
    let fork_level = level + inner;

    let mut path = Vec::with_capacity(inner as usize + 1 + size.count_ones() as usize);
    for up in 0..inner {
        path.push(source.subtree(level + up, (index >> up) ^ 1)?);
    }
    if let Some(right_edge) = fold_low_bits(source, size, fork_level)? {
        path.push(right_edge);
    }
    let left = size & !low_mask(fork_level + 1);
    for left_level in set_bits_low_to_high(left) {
        path.push(source.subtree(left_level, prefix_subtree_index(size, left_level))?);
    }
    Ok(path)
}

/// Hash of the perfect subtrees of `size`'s decomposition for its set bits
/// below `below`, folded from the right; `None` if there are none.
fn fold_low_bits<S>(source: &mut S, size: u64, below: u32) -> Result<Option<Digest>, S::Error>
where
    S: SubtreeSource + ?Sized,
{
    let mut acc: Option<Digest> = None;
    for level in set_bits_low_to_high(size & low_mask(below)) {
        let hash = source.subtree(level, prefix_subtree_index(size, level))?;
        acc = Some(match acc {
            None => hash,
            Some(right) => node_hash(&hash, &right),
        });
    }
    Ok(acc)
}

/// Index, at `level`, of the perfect subtree that bit `level` of `size`
/// stands for in the decomposition of `[0, size)`.
fn prefix_subtree_index(size: u64, level: u32) -> u64 {
    (size >> level).saturating_sub(1)
}

/// Mask of the `bits` lowest bits (all bits when `bits >= 64`).
fn low_mask(bits: u32) -> u64 {
    1u64.checked_shl(bits).map_or(u64::MAX, |bit| bit - 1)
}

fn set_bits_low_to_high(mut bits: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let level = bits.trailing_zeros();
            bits &= bits - 1;
            level
        })
    })
}

fn set_bits_high_to_low(mut bits: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let level = MAX_LEVEL - bits.leading_zeros();
            bits &= !(1u64 << level);
            level
        })
    })
}

/// Why a proof could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProveError<E> {
    /// The leaf is not inside the tree.
    #[error("leaf index {index} is not inside a tree of {size} leaves")]
    IndexOutOfRange {
        /// Zero-based leaf index (seq − 1).
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// `seq` 0 was asked for; seqs start at 1.
    #[error("seq 0 does not exist: the first event of a chain has seq 1")]
    SeqZero,
    /// A consistency proof from the empty tree was asked for.
    #[error(
        "a consistency proof from the empty tree (size1 = 0) proves nothing and is refused; \
         ask for one from a size of at least 1"
    )]
    EmptyFirstTree,
    /// `size1` is larger than `size2`.
    #[error("size1 ({size1}) is larger than size2 ({size2}): swap them")]
    SizesOutOfOrder {
        /// The older size.
        size1: u64,
        /// The newer size.
        size2: u64,
    },
    /// The tree holds fewer leaves than the requested size.
    #[error("the tree has {available} leaves, a proof for size {requested} was asked for")]
    TreeTooSmall {
        /// Requested tree size.
        requested: u64,
        /// Leaves available.
        available: u64,
    },
    /// The event hash given does not hash to the stored leaf.
    #[error(
        "the event hash given for seq {seq} is not the leaf stored at that position: \
         pass the hash of the event with that seq"
    )]
    LeafMismatch {
        /// The seq whose leaf was checked.
        seq: u64,
    },
    /// The subtree source failed.
    #[error("looking up a stored subtree hash failed: {0}")]
    Source(#[source] E),
}

// ---------------------------------------------------------------------------
// In-memory tree
// ---------------------------------------------------------------------------

/// A whole Merkle tree in memory: every complete subtree hash, level by
/// level. For tests and small logs; a store keeps the same [`Subtree`]s in a
/// table instead.
///
/// ```
/// use audit_core::merkle::{MemoryTree, leaf_hash, verify_inclusion};
///
/// let mut tree = MemoryTree::new();
/// for i in 0u8..10 {
///     tree.push(leaf_hash(&[i; 32]))?;
/// }
/// let path = tree.inclusion_path(7, 10)?;
/// verify_inclusion(7, 10, &leaf_hash(&[7; 32]), &path, &tree.root())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of subtree (l, i).
    levels: Vec<Vec<Digest>>,
    frontier: CompactRange,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root of the whole tree.
    pub fn root(&self) -> Digest {
        self.frontier.root()
    }

    /// The frontier of the whole tree.
    pub fn frontier(&self) -> &CompactRange {
        &self.frontier
    }

    /// Appends a leaf hash (see [`leaf_hash`]) and keeps every subtree it completes.
    pub fn push(&mut self, leaf_hash: Digest) -> Result<(), CompactRangeError> {
        for node in self.frontier.push(leaf_hash)? {
            let level = node.level as usize;
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            self.levels[level].push(node.hash);
        }
        Ok(())
    }

    /// Root of the tree of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Digest, ProveError<MissingSubtree>> {
        self.check_size(size)?;
        root_from_subtrees(&mut &*self, size).map_err(ProveError::Source)
    }

    /// Audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_path(&self, index: u64, size: u64) -> Result<Vec<Digest>, ProveError<MissingSubtree>> {
        self.check_size(size)?;
        inclusion_path(&mut &*self, index, size)
    }

    /// Consistency path from the first `size1` to the first `size2` leaves.
    pub fn consistency_path(&self, size1: u64, size2: u64) -> Result<Vec<Digest>, ProveError<MissingSubtree>> {
        self.check_size(size2)?;
        consistency_path(&mut &*self, size1, size2)
    }

    fn check_size(&self, size: u64) -> Result<(), ProveError<MissingSubtree>> {
        if size > self.size() {
            return Err(ProveError::TreeTooSmall { requested: size, available: self.size() });
        }
        Ok(())
    }

    fn lookup(&self, level: u32, index: u64) -> Result<Digest, MissingSubtree> {
        usize::try_from(level)
            .ok()
            .and_then(|l| self.levels.get(l))
            .and_then(|nodes| nodes.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MissingSubtree { level, index, size: self.size() })
    }
}

impl SubtreeSource for MemoryTree {
    type Error = MissingSubtree;
    fn subtree(&mut self, level: u32, index: u64) -> Result<Digest, MissingSubtree> {
        self.lookup(level, index)
    }
}

impl SubtreeSource for &MemoryTree {
    type Error = MissingSubtree;
    fn subtree(&mut self, level: u32, index: u64) -> Result<Digest, MissingSubtree> {
        self.lookup(level, index)
    }
}

/// A [`MemoryTree`] was asked for a subtree it has not completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no complete subtree at level {level}, index {index} in a tree of {size} leaves")]
pub struct MissingSubtree {
    /// Requested level.
    pub level: u32,
    /// Requested index.
    pub index: u64,
    /// Leaves in the tree.
    pub size: u64,
}

// ---------------------------------------------------------------------------
// Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)
// ---------------------------------------------------------------------------

/// Which hash of a proof an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofField {
    /// The leaf hash.
    LeafHash,
    /// The root of an inclusion proof.
    Root,
    /// The root of the older tree of a consistency proof.
    Root1,
    /// The root of the newer tree of a consistency proof.
    Root2,
    /// Path element at this zero-based position.
    Path(usize),
}

impl std::fmt::Display for ProofField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LeafHash => f.write_str("leaf hash"),
            Self::Root => f.write_str("root"),
            Self::Root1 => f.write_str("root1"),
            Self::Root2 => f.write_str("root2"),
            Self::Path(i) => write!(f, "path[{i}]"),
        }
    }
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not inside a tree of {size} leaves")]
    IndexOutOfRange {
        /// Zero-based leaf index (seq − 1).
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// An inclusion proof names seq 0; seqs start at 1.
    #[error("the proof names seq 0, but the first event of a chain has seq 1")]
    SeqZero,
    /// A hash is not 32 bytes long.
    #[error("{field} is {len} bytes long, but a SHA-256 hash is 32 bytes")]
    HashLength {
        /// Which hash.
        field: ProofField,
        /// Its length in bytes.
        len: usize,
    },
    /// The path does not have the one length these sizes allow.
    #[error("the proof path has {got} hashes, but a proof for these sizes has exactly {expected}")]
    WrongPathLength {
        /// The only valid length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The root recomputed from the proof differs from the claimed one.
    #[error(
        "the {field} recomputed from the proof is {computed}, not the claimed {claimed}: \
         the leaf, the path, the sizes or the root were altered, or belong to another tree"
    )]
    RootMismatch {
        /// [`ProofField::Root`], [`ProofField::Root1`] or [`ProofField::Root2`].
        field: ProofField,
        /// Lowercase hex of the recomputed root.
        computed: String,
        /// Lowercase hex of the claimed root.
        claimed: String,
    },
    /// Consistency from the empty tree is refused (strict policy).
    #[error(
        "a consistency proof from the empty tree (size1 = 0) proves nothing and is refused; \
         use a proof from a checkpoint of at least 1 event"
    )]
    EmptyFirstTree,
    /// `size1` is larger than `size2`.
    #[error("size1 ({size1}) is larger than size2 ({size2}): a log never shrinks")]
    SizesOutOfOrder {
        /// The older size.
        size1: u64,
        /// The newer size.
        size2: u64,
    },
    /// Equal sizes with a non-empty path.
    #[error("size1 = size2 = {size}, so the path must be empty, but it has {len} hashes")]
    NonEmptyPathForEqualSizes {
        /// The common size.
        size: u64,
        /// Path length given.
        len: usize,
    },
    /// Equal sizes with different roots: the log forked or a root is wrong.
    #[error(
        "size1 = size2 = {size} but root1 differs from root2: the two checkpoints disagree \
         about the same tree, so the log forked or one root is wrong"
    )]
    EqualSizesRootsDiffer {
        /// The common size.
        size: u64,
    },
}

/// Verifies an inclusion proof: that `leaf_hash` is leaf `index` of the tree
/// of `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// Strict: `index >= size` is refused, `leaf_hash`, `root` and every path
/// element must be 32 bytes, and the path must have exactly the length the
/// index and size call for. `root` should come from a checkpoint you trust.
pub fn verify_inclusion<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    path: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let leaf = to_digest(leaf_hash, ProofField::LeafHash)?;
    let root = to_digest(root, ProofField::Root)?;
    let path = to_digests(path)?;
    let expected = inclusion_path_len(index, size);
    if path.len() != expected {
        return Err(wrong_length(expected, path.len()));
    }

    // RFC 9162 §2.1.3.2, steps 2-5.
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = leaf;
    for p in &path {
        if snode == 0 {
            return Err(wrong_length(expected, path.len()));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(wrong_length(expected, path.len()));
    }
    check_root(ProofField::Root, &r, &root)
}

/// Verifies a consistency proof: that the tree of `size1` leaves with root
/// `root1` is a prefix of the tree of `size2` leaves with root `root2`
/// (RFC 9162 §2.1.4.2).
///
/// Strict policy, as transparency-dev/merkle:
/// - `size1 = 0` is refused, even with `size2 = 0`: RFC 9162 does not define
///   it, and every tree extends the empty one, so it proves nothing;
/// - `size1 > size2` is refused;
/// - `size1 == size2` needs an empty path and `root1 == root2` (compared as
///   given, byte for byte);
/// - otherwise both roots and every path element must be 32 bytes and the
///   path must have exactly the length the sizes call for.
pub fn verify_consistency<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    path: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ProofError> {
    if size1 == 0 {
        return Err(ProofError::EmptyFirstTree);
    }
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == size2 {
        return verify_equal_sizes(size1, path.len(), root1, root2);
    }
    let root1 = to_digest(root1, ProofField::Root1)?;
    let root2 = to_digest(root2, ProofField::Root2)?;
    let mut path = to_digests(path)?;
    let (expected, given) = (consistency_path_len(size1, size2), path.len());
    if given != expected {
        return Err(wrong_length(expected, given));
    }

    // RFC 9162 §2.1.4.2, steps 2-7.
    if size1.is_power_of_two() {
        path.insert(0, root1);
    }
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (first, rest) = path.split_first().ok_or_else(|| wrong_length(expected, given))?;
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return Err(wrong_length(expected, given));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(wrong_length(expected, given));
    }
    check_root(ProofField::Root1, &fr, &root1)?;
    check_root(ProofField::Root2, &sr, &root2)
}

fn verify_equal_sizes(size: u64, path_len: usize, root1: &[u8], root2: &[u8]) -> Result<(), ProofError> {
    if path_len != 0 {
        return Err(ProofError::NonEmptyPathForEqualSizes { size, len: path_len });
    }
    if root1 != root2 {
        return Err(ProofError::EqualSizesRootsDiffer { size });
    }
    Ok(())
}

/// Length of the audit path of `index` in a tree of `size` leaves
/// (`0 <= index < size`): levels below the fork plus left siblings above it.
fn inclusion_path_len(index: u64, size: u64) -> usize {
    let inner = bit_len(index ^ (size - 1));
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Length of a consistency path for `0 < size1 < size2`.
fn consistency_path_len(size1: u64, size2: u64) -> usize {
    let shift = size1.trailing_zeros();
    let inner = bit_len((size1 - 1) ^ (size2 - 1));
    let border = (size1 - 1).checked_shr(inner).unwrap_or(0).count_ones();
    let seed = usize::from(!size1.is_power_of_two());
    seed + (inner.saturating_sub(shift) + border) as usize
}

fn bit_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

fn wrong_length(expected: usize, got: usize) -> ProofError {
    ProofError::WrongPathLength { expected, got }
}

fn check_root(field: ProofField, computed: &Digest, claimed: &Digest) -> Result<(), ProofError> {
    if computed == claimed {
        return Ok(());
    }
    Err(ProofError::RootMismatch { field, computed: to_hex(computed), claimed: to_hex(claimed) })
}

fn to_digest(bytes: &[u8], field: ProofField) -> Result<Digest, ProofError> {
    Digest::try_from(bytes).map_err(|_| ProofError::HashLength { field, len: bytes.len() })
}

fn to_digests<P: AsRef<[u8]>>(path: &[P]) -> Result<Vec<Digest>, ProofError> {
    path.iter().enumerate().map(|(i, p)| to_digest(p.as_ref(), ProofField::Path(i))).collect()
}

// ---------------------------------------------------------------------------
// Proof documents (SPEC §4)
// ---------------------------------------------------------------------------

/// An inclusion proof as SPEC §4 writes it:
/// `{"chain", "seq", "size", "leaf", "root", "path"}`, hashes in lowercase hex.
///
/// `leaf` is the event's `hash` (the leaf data), not the leaf hash. A valid
/// proof only shows the event is in the tree with root `root`: compare `root`
/// with a checkpoint you trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The chain (log) the event belongs to.
    pub chain: String,
    /// The event's seq (leaf index + 1).
    #[serde(deserialize_with = "json_integer::deserialize")]
    pub seq: u64,
    /// Tree size the proof is for.
    #[serde(deserialize_with = "json_integer::deserialize")]
    pub size: u64,
    /// The event's `hash`.
    #[serde(with = "hex_digest")]
    pub leaf: Digest,
    /// Root of the tree of `size` leaves.
    #[serde(with = "hex_digest")]
    pub root: Digest,
    /// Audit path, bottom-up.
    #[serde(with = "hex_digests")]
    pub path: Vec<Digest>,
}

impl InclusionProof {
    /// Builds the proof that the event with `seq` and hash `leaf` is in the
    /// tree of the first `size` events, from O(log `size`) lookups. Checks that
    /// `leaf` hashes to the stored leaf of that seq.
    pub fn generate<S>(
        source: &mut S,
        chain: impl Into<String>,
        seq: u64,
        size: u64,
        leaf: Digest,
    ) -> Result<Self, ProveError<S::Error>>
    where
        S: SubtreeSource + ?Sized,
    {
        let index = seq.checked_sub(1).ok_or(ProveError::SeqZero)?;
        let path = inclusion_path(source, index, size)?;
        let stored = source.subtree(0, index).map_err(ProveError::Source)?;
        if stored != leaf_hash(&leaf) {
            return Err(ProveError::LeafMismatch { seq });
        }
        let root = root_from_subtrees(source, size).map_err(ProveError::Source)?;
        Ok(Self { chain: chain.into(), seq, size, leaf, root, path })
    }

    /// Checks the proof against its own `root` (see [`verify_inclusion`]).
    pub fn verify(&self) -> Result<(), ProofError> {
        let index = self.seq.checked_sub(1).ok_or(ProofError::SeqZero)?;
        verify_inclusion(index, self.size, &leaf_hash(&self.leaf), &self.path, &self.root)
    }
}

/// A consistency proof as SPEC §4 writes it:
/// `{"chain", "size1", "size2", "root1", "root2", "path"}`, hashes in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The chain (log).
    pub chain: String,
    /// Older tree size (at least 1).
    #[serde(deserialize_with = "json_integer::deserialize")]
    pub size1: u64,
    /// Newer tree size.
    #[serde(deserialize_with = "json_integer::deserialize")]
    pub size2: u64,
    /// Root of the older tree.
    #[serde(with = "hex_digest")]
    pub root1: Digest,
    /// Root of the newer tree.
    #[serde(with = "hex_digest")]
    pub root2: Digest,
    /// Consistency path.
    #[serde(with = "hex_digests")]
    pub path: Vec<Digest>,
}

impl ConsistencyProof {
    /// Builds the proof that the first `size1` events are a prefix of the
    /// first `size2`, from O(log `size2`) lookups.
    pub fn generate<S>(
        source: &mut S,
        chain: impl Into<String>,
        size1: u64,
        size2: u64,
    ) -> Result<Self, ProveError<S::Error>>
    where
        S: SubtreeSource + ?Sized,
    {
        let path = consistency_path(source, size1, size2)?;
        let root1 = root_from_subtrees(source, size1).map_err(ProveError::Source)?;
        let root2 = root_from_subtrees(source, size2).map_err(ProveError::Source)?;
        Ok(Self { chain: chain.into(), size1, size2, root1, root2, path })
    }

    /// Checks the proof (see [`verify_consistency`]).
    pub fn verify(&self) -> Result<(), ProofError> {
        verify_consistency(self.size1, self.size2, &self.path, &self.root1, &self.root2)
    }
}

/// Reads a seq or a tree size of a proof document from any JSON spelling of a whole number.
///
/// JSON has one kind of number (RFC 8785 reads each as a double): `3`, `3.0` and `3e0` are the
/// same number, and a proof another tool wrote with `3.0` is the same proof. A plain integer
/// keeps the whole `u64` range; any other spelling must be a whole number that a double holds
/// exactly (at most 2^53), else it names no position and is refused.
mod json_integer {
    use crate::canonical::MAX_SAFE_INTEGER;
    use serde::Deserializer;
    use serde::de::{Error, Unexpected, Visitor};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(WholeNumber)
    }

    struct WholeNumber;

    impl Visitor<'_> for WholeNumber {
        type Value = u64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a non-negative whole number (at most 2^53 when written with a fraction or an exponent)")
        }

        fn visit_u64<E: Error>(self, value: u64) -> Result<u64, E> {
            Ok(value)
        }

        fn visit_i64<E: Error>(self, value: i64) -> Result<u64, E> {
            u64::try_from(value).map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
        }

        fn visit_f64<E: Error>(self, value: f64) -> Result<u64, E> {
            // Exact: a whole double in 0..=2^53 (`-0.0` is 0, as RFC 8785 writes it) converts
            // to u64 without rounding.
            let whole = value.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER as f64).contains(&value);
            if whole { Ok(value as u64) } else { Err(E::invalid_value(Unexpected::Float(value), &self)) }
        }
    }
}

/// Serde of one [`Digest`] as 64 lowercase hex digits.
mod hex_digest {
    use super::{Digest, digest_from_hex, to_hex};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        digest_from_hex(&text).map_err(D::Error::custom)
    }
}

/// Serde of a list of [`Digest`]s as lowercase hex strings.
mod hex_digests {
    use super::{Digest, digest_from_hex, to_hex};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(list: &[Digest], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|d| to_hex(d)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Digest>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .enumerate()
            .map(|(i, text)| digest_from_hex(text).map_err(|e| D::Error::custom(format_args!("path[{i}]: {e}"))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference root straight from RFC 9162 §2.1.1 (recursive split).
    fn reference_root(leaves: &[Digest]) -> Digest {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n);
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    /// Largest power of two smaller than `n` (n >= 2).
    fn split_point(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// A 32-byte stand-in for the event hash of leaf `index`.
    fn event(index: u64) -> Digest {
        let mut event = [0u8; 32];
        event[..8].copy_from_slice(&index.to_be_bytes());
        event
    }

    fn leaves(n: u64) -> Vec<Digest> {
        (0..n).map(|i| leaf_hash(&event(i))).collect()
    }

    fn tree_of(n: u64) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for leaf in leaves(n) {
            tree.push(leaf).expect("tree not full");
        }
        tree
    }

    /// Counts lookups made through it.
    struct Counting<'a> {
        tree: &'a MemoryTree,
        lookups: usize,
    }

    impl SubtreeSource for Counting<'_> {
        type Error = MissingSubtree;
        fn subtree(&mut self, level: u32, index: u64) -> Result<Digest, MissingSubtree> {
            self.lookups += 1;
            self.tree.lookup(level, index)
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(to_hex(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(CompactRange::new().root(), empty_root());
        assert_eq!(MemoryTree::new().root(), empty_root());
    }

    #[test]
    fn compact_range_root_matches_memory_tree_and_reference_for_sizes_0_to_300() {
        let all = leaves(300);
        let mut tree = MemoryTree::new();
        let mut range = CompactRange::new();
        for size in 0..=300u64 {
            let reference = reference_root(&all[..size as usize]);
            assert_eq!(range.root(), reference, "compact range, size {size}");
            assert_eq!(tree.root(), reference, "memory tree, size {size}");
            assert_eq!(tree.root_at(size).expect("size in tree"), reference);
            assert_eq!(range.size(), size);
            if let Some(leaf) = all.get(size as usize) {
                range.push(*leaf).expect("not full");
                tree.push(*leaf).expect("not full");
            }
        }
        // Roots of every prefix from the full tree's stored subtrees.
        for size in 0..=300u64 {
            assert_eq!(tree.root_at(size).expect("size in tree"), reference_root(&all[..size as usize]));
        }
    }

    #[test]
    fn push_reports_exactly_the_completed_subtrees() {
        let all = leaves(64);
        let mut range = CompactRange::new();
        for (i, leaf) in all.iter().enumerate() {
            let done = range.push(*leaf).expect("not full");
            let i = i as u64;
            assert_eq!(done.len() as u32, (i + 1).trailing_zeros() + 1);
            for node in done {
                let width = 1usize << node.level;
                let start = node.index as usize * width;
                assert_eq!(node.hash, reference_root(&all[start..start + width]));
                assert_eq!(start + width, i as usize + 1, "ends at the new leaf");
            }
        }
    }

    #[test]
    fn compact_range_persists_and_restores() {
        let tree = tree_of(77);
        let range = tree.frontier().clone();
        let restored = CompactRange::from_parts(range.size(), range.hashes().to_vec()).expect("valid");
        assert_eq!(restored, range);
        let rebuilt = CompactRange::from_source(&mut &tree, 77).expect("stored");
        assert_eq!(rebuilt, range);

        let json = serde_json::to_string(&range).expect("serializes");
        let back: CompactRange = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, range);

        let err = CompactRange::from_parts(77, vec![[0; 32]; 3]).expect_err("77 has 4 bits");
        assert_eq!(err, CompactRangeError::WrongHashCount { size: 77, expected: 4, got: 3 });
        let bad = r#"{"size":3,"hashes":[]}"#;
        assert!(serde_json::from_str::<CompactRange>(bad).is_err());
    }

    #[test]
    fn full_compact_range_refuses_to_grow() {
        let mut range = CompactRange::from_parts(u64::MAX, vec![[7; 32]; 64]).expect("valid");
        assert_eq!(range.push([1; 32]), Err(CompactRangeError::Full));
        assert_eq!(range.size(), u64::MAX);
    }

    #[test]
    fn all_inclusion_proofs_up_to_64_verify_and_tampering_fails() {
        let tree = tree_of(64);
        let all = leaves(64);
        for size in 1..=64u64 {
            let root = tree.root_at(size).expect("in tree");
            for index in 0..size {
                let path = tree.inclusion_path(index, size).expect("in range");
                let leaf = all[index as usize];
                assert_eq!(path.len(), inclusion_path_len(index, size));
                verify_inclusion(index, size, &leaf, &path, &root)
                    .unwrap_or_else(|e| panic!("index {index} size {size}: {e}"));
                let other = leaf_hash(b"other");
                assert!(verify_inclusion(index, size, &other, &path, &root).is_err());
                if let Some(first) = path.first() {
                    let mut bad = path.clone();
                    bad[0] = node_hash(first, first);
                    assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
                }
            }
            assert_eq!(
                verify_inclusion(size, size, &all[0], &Vec::<Digest>::new(), &root),
                Err(ProofError::IndexOutOfRange { index: size, size })
            );
        }
    }

    #[test]
    fn all_consistency_proofs_up_to_64_verify_and_tampering_fails() {
        let tree = tree_of(64);
        for size2 in 1..=64u64 {
            let root2 = tree.root_at(size2).expect("in tree");
            for size1 in 1..=size2 {
                let root1 = tree.root_at(size1).expect("in tree");
                let path = tree.consistency_path(size1, size2).expect("valid sizes");
                verify_consistency(size1, size2, &path, &root1, &root2)
                    .unwrap_or_else(|e| panic!("{size1} -> {size2}: {e}"));
                if size1 < size2 {
                    assert!(verify_consistency(size1, size2, &path, &root2, &root2).is_err());
                    assert!(verify_consistency(size1, size2, &path[1..], &root1, &root2).is_err());
                }
            }
        }
    }

    #[test]
    fn consistency_strict_policy() {
        let tree = tree_of(8);
        let root = tree.root();
        let none: [Digest; 0] = [];
        assert_eq!(verify_consistency(0, 0, &none, &empty_root(), &empty_root()), Err(ProofError::EmptyFirstTree));
        assert_eq!(verify_consistency(0, 8, &none, &empty_root(), &root), Err(ProofError::EmptyFirstTree));
        assert_eq!(
            verify_consistency(8, 4, &none, &root, &root),
            Err(ProofError::SizesOutOfOrder { size1: 8, size2: 4 })
        );
        assert_eq!(
            verify_consistency(8, 8, &[root], &root, &root),
            Err(ProofError::NonEmptyPathForEqualSizes { size: 8, len: 1 })
        );
        assert_eq!(
            verify_consistency(8, 8, &none, &root, &empty_root()),
            Err(ProofError::EqualSizesRootsDiffer { size: 8 })
        );
        assert!(matches!(tree.consistency_path(0, 8), Err(ProveError::EmptyFirstTree)));
        assert!(matches!(tree.consistency_path(5, 3), Err(ProveError::SizesOutOfOrder { .. })));
        assert!(matches!(tree.consistency_path(5, 9), Err(ProveError::TreeTooSmall { .. })));
    }

    #[test]
    fn proofs_from_stored_subtrees_need_logarithmic_lookups() {
        let size = 100_000u64;
        let tree = tree_of(size);
        let all = leaves(size);
        let log = u64::BITS - size.leading_zeros(); // 17
        let mut worst = 0;
        for index in (0..size).step_by(997).chain([0, size - 1, 65_535, 65_536]) {
            let mut src = Counting { tree: &tree, lookups: 0 };
            let proof = InclusionProof::generate(&mut src, "c", index + 1, size, event(index)).expect("in tree");
            worst = worst.max(src.lookups);
            // path + leaf check + root
            assert!(src.lookups <= 3 * log as usize + 1, "{} lookups", src.lookups);
            assert_eq!(leaf_hash(&proof.leaf), all[index as usize]);
            proof.verify().expect("verifies");
        }
        for size1 in [1, 2, 3, 1000, 4096, 65_535, 65_536, 99_999] {
            let mut src = Counting { tree: &tree, lookups: 0 };
            let proof = ConsistencyProof::generate(&mut src, "c", size1, size).expect("valid");
            assert!(src.lookups <= 4 * log as usize + 1, "{} lookups", src.lookups);
            worst = worst.max(src.lookups);
            proof.verify().expect("verifies");
        }
        assert!(worst > 0);
    }

    #[test]
    fn proof_documents_round_trip_through_spec_json() {
        // Leaves here are hashes of 32-byte "event hashes".
        let events: Vec<Digest> = (0u8..7).map(|i| [i; 32]).collect();
        let mut tree = MemoryTree::new();
        for e in &events {
            tree.push(leaf_hash(e)).expect("not full");
        }
        let proof = InclusionProof::generate(&mut tree, "default", 4, 7, events[3]).expect("ok");
        let json = serde_json::to_value(&proof).expect("serializes");
        let keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6);
        for key in ["chain", "seq", "size", "leaf", "root", "path"] {
            assert!(keys.contains(&key), "{key}");
        }
        assert_eq!(json["seq"], 4);
        assert_eq!(json["leaf"], to_hex(&events[3]));
        assert_eq!(json["root"], to_hex(&tree.root()));
        let back: InclusionProof = serde_json::from_value(json).expect("parses");
        assert_eq!(back, proof);
        back.verify().expect("verifies");

        let mut wrong_seq = proof.clone();
        wrong_seq.seq = 5;
        assert!(wrong_seq.verify().is_err());
        wrong_seq.seq = 0;
        assert_eq!(wrong_seq.verify(), Err(ProofError::SeqZero));

        let err = InclusionProof::generate(&mut tree, "default", 4, 7, events[2]);
        assert!(matches!(err, Err(ProveError::LeafMismatch { seq: 4 })));

        let c = ConsistencyProof::generate(&mut tree, "default", 3, 7).expect("ok");
        let json = serde_json::to_string(&c).expect("serializes");
        assert!(json.starts_with(r#"{"chain":"default","size1":3,"size2":7,"root1":""#));
        let back: ConsistencyProof = serde_json::from_str(&json).expect("parses");
        back.verify().expect("verifies");

        let upper = json.replace(&to_hex(&c.root1), &to_hex(&c.root1).to_uppercase());
        assert!(serde_json::from_str::<ConsistencyProof>(&upper).is_err());
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let d = leaf_hash(b"x");
        assert_eq!(digest_from_hex(&to_hex(&d)), Ok(d));
        assert_eq!(digest_from_hex("ab"), Err(HexError::Length { len: 2 }));
        let mut bad = to_hex(&d);
        bad.replace_range(10..11, "G");
        assert_eq!(digest_from_hex(&bad), Err(HexError::Digit { position: 10 }));
    }

    #[test]
    fn wrong_path_lengths_are_named() {
        let tree = tree_of(10);
        let root = tree.root();
        let leaf = leaves(10)[3];
        let mut path = tree.inclusion_path(3, 10).expect("ok");
        path.push(root);
        assert_eq!(
            verify_inclusion(3, 10, &leaf, &path, &root),
            Err(ProofError::WrongPathLength { expected: path.len() - 1, got: path.len() })
        );
        assert_eq!(
            verify_inclusion(3, 10, &leaf[..31], &path, &root),
            Err(ProofError::HashLength { field: ProofField::LeafHash, len: 31 })
        );
    }
}
