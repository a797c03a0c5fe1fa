//! Merkle subtree hashes kept beside the events, so that tree heads and proofs (SPEC §4) of a
//! long chain cost a few small reads instead of reading the whole chain.
//!
//! `audit_merkle_nodes` keeps, per chain, the hash of every complete, aligned subtree of
//! 2^[`STORED_LEVEL`] = 64 leaves or more: `(level, idx)` covers leaves
//! `idx · 2^level .. (idx + 1) · 2^level` (leaf = `seq − 1`), as
//! [`audit_core::store::AuditStore::merkle_nodes`] names them. That is about one row per 32
//! events, written by the append that completes them, in the same transaction. A smaller
//! subtree is computed when asked for from the (at most 64) events of its block.
//!
//! The hashes only *build* proofs. Nothing verifies a chain with them, and no checkpoint is
//! signed from them (the writer's publisher builds its tree from the events): a proof built
//! from a wrong node fails against the signed checkpoint its recipient trusts, and
//! [`audit_core::proof`] checks each stored hash it uses one level down, each proof's leaf
//! against the event and the frontier's last leaf against the chain head. So the table has
//! no append-only triggers, and an append whose older leaves cannot be read back (a corrupt
//! event) leaves its nodes out rather than fail: proofs then fall back to reading the chain,
//! which reports the damage. Rows are only inserted (the application's role has no `UPDATE`
//! on the table): after the chain's newest events were deleted behind the store's back and
//! written again, the rows of the removed events stay, and proofs built from them fail
//! against any checkpoint of the events now stored.

use super::sql::{self, Dialect, NODES, Sql};
use super::{SqlStore, SqlStoreError};
use audit_core::merkle::{CompactRange, Digest, digest_from_hex, leaf_hash, node_hash, to_hex};
use audit_core::store::Head;
use audit_core::{EventHash, SealedEvent};
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

/// Lowest level kept in the table: subtrees of 64 leaves and up.
pub(crate) const STORED_LEVEL: u32 = 6;
/// Leaves per block (a subtree at [`STORED_LEVEL`]).
const BLOCK: u64 = 1 << STORED_LEVEL;
/// Rows per multi-row INSERT of nodes, and lookups per query.
const INSERT_ROWS: usize = 256;

pub(crate) type NodeId = (u32, u64);

/// The leaf hashes of a chain's last, incomplete block as this store appended them, so that
/// the next append completing the block need not read them back.
#[derive(Debug)]
pub(crate) struct PartialBlock {
    /// The block's first leaf (a multiple of [`BLOCK`]).
    start: u64,
    /// Leaf hashes from `start` on (fewer than [`BLOCK`]).
    leaves: Vec<Digest>,
    /// Event hash of the last of them (the chain's head when they were kept).
    last_hash: EventHash,
}

/// The stored-level subtrees that appending leaves `first..=last` (0-based) completes: per
/// level, lowest first, the first and last index. A subtree is complete when its last leaf is
/// appended; if no subtree of a level completes, none above it does either.
fn completed_by(first: u64, last: u64) -> Vec<(u32, u64, u64)> {
    let mut levels = Vec::new();
    for level in STORED_LEVEL..64 {
        let width = 1u64 << level;
        // The subtrees whose last leaf, (idx + 1) · width − 1, lies in first..=last.
        let lo = (first + 1).div_ceil(width) - 1;
        let Some(hi) = ((last + 1) / width).checked_sub(1) else { break };
        if lo > hi {
            break;
        }
        levels.push((level, lo, hi));
    }
    levels
}

/// The Merkle hash of a perfect subtree over `leaves` (a power of two of leaf hashes).
fn perfect_root(leaves: &[Digest]) -> Digest {
    let mut level: Vec<Digest> = leaves.to_vec();
    while level.len() > 1 {
        level = level.chunks_exact(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
    }
    level.first().copied().unwrap_or_else(audit_core::merkle::empty_root)
}

/// `(?, ?, ?, ?), …`: the `(chain, level, idx, hash)` rows of `nodes`.
pub(crate) fn push_node_rows(sql: &mut Sql, chain: &str, nodes: &[(NodeId, Digest)]) -> Result<(), SqlStoreError> {
    for (i, &((level, idx), hash)) in nodes.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        let level = sea_orm::Value::Int(Some(i32::try_from(level).unwrap_or(i32::MAX)));
        sql.bind_list([chain.into(), level, sql::seq_value(idx)?.into(), to_hex(&hash).into()]);
    }
    Ok(())
}

/// A `(chain, level, idx, hash)` row of NULLs typed as [`push_node_rows`] types them: padding
/// that a `WHERE chain IS NOT NULL` leaves out.
pub(crate) fn push_null_node_row(sql: &mut Sql) {
    sql.bind_list([
        sea_orm::Value::String(None),
        sea_orm::Value::Int(None),
        sea_orm::Value::BigInt(None),
        sea_orm::Value::String(None),
    ]);
}

/// Leaf hashes of the stored lines `(seq, line)`, which must be `first_seq, first_seq + 1, …`;
/// `None` if one is missing, malformed or does not match its hash.
fn leaves_of(first_seq: u64, rows: &[(u64, String)]) -> Option<Vec<Digest>> {
    rows.iter()
        .enumerate()
        .map(|(i, (seq, line))| {
            let info = audit_core::line::inspect(line.as_bytes()).ok()?;
            let expected = first_seq.checked_add(i as u64)?;
            (*seq == expected && info.seq == expected && info.computed == info.declared)
                .then(|| leaf_hash(info.declared.as_bytes()))
        })
        .collect()
}

impl SqlStore {
    /// Inside the append transaction, after the events of `batch` (which extends `expected`)
    /// are inserted: stores the subtrees the batch completes.
    ///
    /// The first completed block may begin before the batch; its older leaves come from the
    /// [`PartialBlock`] this store kept after its previous append, or, when another writer
    /// appended in between, from the events themselves.
    pub(crate) async fn write_merkle_nodes(
        &self,
        txn: &impl ConnectionTrait,
        chain: &str,
        expected: Head,
        batch: &[SealedEvent],
    ) -> Result<(), SqlStoreError> {
        let nodes = self.merkle_nodes_completed_by(txn, chain, expected, batch).await?;
        self.insert_nodes(txn, chain, nodes.into_iter()).await
    }

    /// The subtree hashes that appending `batch` (which extends `expected`) completes, in the
    /// order to store them (see [`SqlStore::write_merkle_nodes`]); reads through `conn` what
    /// it needs (older leaves or nodes, which never change once written).
    pub(crate) async fn merkle_nodes_completed_by(
        &self,
        conn: &impl ConnectionTrait,
        chain: &str,
        expected: Head,
        batch: &[SealedEvent],
    ) -> Result<Vec<(NodeId, Digest)>, SqlStoreError> {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else { return Ok(Vec::new()) };
        let (first_leaf, last_leaf) = (first.seq() - 1, last.seq() - 1);
        let block_start = first_leaf / BLOCK * BLOCK;
        let plan = completed_by(first_leaf, last_leaf);

        // The leaves from the start of the block that holds the batch's first leaf.
        let cached = self.partial_block(chain, block_start, expected);
        let older = match cached {
            Some(older) => Some(older),
            None if plan.is_empty() || block_start == first_leaf => (block_start == first_leaf).then(Vec::new),
            None => {
                let rows = self.line_range(conn, chain, block_start + 1, first_leaf).await?;
                leaves_of(block_start + 1, &rows).filter(|old| old.len() as u64 == first_leaf - block_start)
            }
        };
        let Some(mut leaves) = older else {
            // See the module docs: proofs fall back to reading the chain.
            self.forget_partial_block(chain);
            return Ok(Vec::new());
        };
        leaves.extend(batch.iter().map(|e| leaf_hash(e.hash().as_bytes())));
        let tail = ((last_leaf + 1) / BLOCK * BLOCK - block_start) as usize;
        self.keep_partial_block(chain, block_start + tail as u64, &leaves[tail..], last.hash());
        let Some(&(_, lowest, highest)) = plan.first() else { return Ok(Vec::new()) };

        let mut new: HashMap<NodeId, Digest> = HashMap::new();
        let mut order = Vec::new();
        for idx in lowest..=highest {
            let at = ((idx * BLOCK - block_start) as usize)..(((idx + 1) * BLOCK - block_start) as usize);
            new.insert((STORED_LEVEL, idx), perfect_root(&leaves[at]));
            order.push((STORED_LEVEL, idx));
        }
        // Above: the right child of a completed node was completed too; the left child of the
        // first one at each level may be older (completed by an earlier append).
        let completed_now =
            |(level, idx): NodeId| plan.iter().any(|&(l, lo, hi)| l == level && (lo..=hi).contains(&idx));
        let older: Vec<NodeId> =
            plan.iter().skip(1).map(|&(level, lo, _)| (level - 1, 2 * lo)).filter(|&id| !completed_now(id)).collect();
        let known = self.select_nodes(conn, chain, &older).await?;
        for &(level, lo, hi) in plan.iter().skip(1) {
            for idx in lo..=hi {
                let (left, right) = ((level - 1, 2 * idx), (level - 1, 2 * idx + 1));
                let (Some(l), Some(r)) = (new.get(&left).or(known.get(&left)), new.get(&right)) else {
                    break; // an older node is missing: leave the rest out (see the module docs)
                };
                let hash = node_hash(l, r);
                new.insert((level, idx), hash);
                order.push((level, idx));
            }
        }
        Ok(order.iter().map(|id| (*id, new[id])).collect())
    }

    /// The leaf hashes `block_start..` kept after this store's last append to `chain`, if they
    /// end where `expected` (the head the append extends) is: its hash is the last one's
    /// event hash, which commits to all before it through the `prev` links.
    fn partial_block(&self, chain: &str, block_start: u64, expected: Head) -> Option<Vec<Digest>> {
        let blocks = self.partial_blocks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let kept = blocks.get(chain)?;
        let ends_at_head = kept.start + kept.leaves.len() as u64 == expected.seq && kept.last_hash == expected.hash;
        (kept.start == block_start && ends_at_head).then(|| kept.leaves.clone())
    }

    fn keep_partial_block(&self, chain: &str, start: u64, leaves: &[Digest], last_hash: EventHash) {
        let mut blocks = self.partial_blocks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let kept = PartialBlock { start, leaves: leaves.to_vec(), last_hash };
        match blocks.get_mut(chain) {
            Some(slot) => *slot = kept,
            None => {
                blocks.insert(chain.to_string(), kept);
            }
        }
    }

    fn forget_partial_block(&self, chain: &str) {
        self.partial_blocks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(chain);
    }

    /// The hashes of `nodes` (level ≥ [`STORED_LEVEL`]) that the table has.
    async fn select_nodes(
        &self,
        conn: &impl ConnectionTrait,
        chain: &str,
        nodes: &[NodeId],
    ) -> Result<HashMap<NodeId, Digest>, SqlStoreError> {
        let mut found = HashMap::with_capacity(nodes.len());
        for part in nodes.chunks(INSERT_ROWS) {
            // One primary-key lookup per node (SQLite would answer an OR of them by scanning
            // every node of the chain).
            let mut sql = Sql::new(self.dialect);
            for (i, &(level, idx)) in part.iter().enumerate() {
                if i > 0 {
                    sql.push(" UNION ALL ");
                }
                sql.push(&format!("SELECT level, idx, hash FROM {NODES} WHERE chain = "))
                    .bind_chain(chain)
                    .push(" AND level = ")
                    .bind(i32::try_from(level).unwrap_or(i32::MAX))
                    .push(" AND idx = ")
                    .bind(sql::seq_bound(idx));
            }
            let what = || format!("chain {chain:?}: read Merkle subtree hashes from {NODES}");
            let rows = conn.query_all_raw(sql.build()).await.map_err(SqlStoreError::db(what()))?;
            for row in &rows {
                let level: i32 = row.try_get_by_index(0).map_err(SqlStoreError::db(what()))?;
                let idx: i64 = row.try_get_by_index(1).map_err(SqlStoreError::db(what()))?;
                let hash: String = row.try_get_by_index(2).map_err(SqlStoreError::db(what()))?;
                let (Ok(level), Ok(idx), Ok(hash)) = (u32::try_from(level), u64::try_from(idx), digest_from_hex(&hash))
                else {
                    return Err(SqlStoreError::Corrupt(format!(
                        "{NODES} of chain {chain:?} has a row ({level}, {idx}, {hash:?}) that is not a subtree hash"
                    )));
                };
                found.insert((level, idx), hash);
            }
        }
        Ok(found)
    }

    /// Inserts subtree hashes, skipping any already there.
    async fn insert_nodes(
        &self,
        conn: &impl ConnectionTrait,
        chain: &str,
        nodes: impl Iterator<Item = (NodeId, Digest)>,
    ) -> Result<(), SqlStoreError> {
        let nodes: Vec<(NodeId, Digest)> = nodes.collect();
        for part in nodes.chunks(INSERT_ROWS) {
            let mut sql = Sql::new(self.dialect);
            sql.push(match self.dialect {
                Dialect::MySql => "INSERT IGNORE INTO ",
                Dialect::Sqlite => "INSERT OR IGNORE INTO ",
                Dialect::Postgres => "INSERT INTO ",
            })
            .push(&format!("{NODES} (chain, level, idx, hash) VALUES "));
            push_node_rows(&mut sql, chain, part)?;
            if self.dialect == Dialect::Postgres {
                sql.push(" ON CONFLICT DO NOTHING");
            }
            conn.execute_raw(sql.build())
                .await
                .map_err(SqlStoreError::db(format!("chain {chain:?}: store Merkle subtree hashes in {NODES}")))?;
        }
        Ok(())
    }

    /// Answers [`audit_core::store::AuditStore::merkle_nodes`]: stored levels from the table,
    /// lower ones from the events of their block. `None` if any is missing.
    pub(crate) async fn merkle_node_hashes(
        &self,
        chain: &str,
        nodes: &[NodeId],
    ) -> Result<Option<Vec<Digest>>, SqlStoreError> {
        let stored: Vec<NodeId> = nodes.iter().copied().filter(|&(level, _)| level >= STORED_LEVEL).collect();
        let mut found = self.select_nodes(&self.db, chain, &stored).await?;
        let mut blocks: Vec<u64> = nodes
            .iter()
            .filter(|&&(level, _)| level < STORED_LEVEL)
            .map(|&(level, idx)| idx >> (STORED_LEVEL - level))
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        for block in blocks {
            let rows = self.line_range(&self.db, chain, block * BLOCK + 1, (block + 1) * BLOCK).await?;
            let Some(leaves) = leaves_of(block * BLOCK + 1, &rows) else { return Ok(None) };
            for &(level, idx) in
                nodes.iter().filter(|&&(level, idx)| level < STORED_LEVEL && idx >> (STORED_LEVEL - level) == block)
            {
                let from = ((idx << level) - block * BLOCK) as usize;
                let Some(span) = leaves.get(from..from + (1usize << level)) else { return Ok(None) };
                found.insert((level, idx), perfect_root(span));
            }
        }
        Ok(nodes.iter().map(|id| found.get(id).copied()).collect())
    }

    /// Stores the subtree hashes of every chain's events that lack them (a store created
    /// before the table existed, or nodes left out after a corrupt event was repaired). Runs
    /// under each chain's head lock; a chain whose nodes are all there costs one count, one
    /// whose head row is malformed is passed over.
    pub(crate) async fn backfill_merkle_nodes(&self) -> Result<(), SqlStoreError> {
        for chain in self.chain_names().await? {
            let (txn, head) = match self.lock_head(&chain).await {
                Ok(locked) => locked,
                // A head row edited into something no writer stores: no subtree hashes for that
                // chain (proofs read its events instead), and no failed start either;
                // `verify_chain` reports the row (`head mismatch`).
                Err(SqlStoreError::Corrupt(_)) => continue,
                Err(e) => return Err(e),
            };
            let result = self.backfill_chain(&txn, &chain, head.seq).await;
            match result {
                Ok(()) => txn
                    .commit()
                    .await
                    .map_err(SqlStoreError::db(format!("chain {chain:?}: commit its Merkle subtree hashes")))?,
                Err(e) => {
                    super::rollback(txn).await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn backfill_chain(&self, txn: &impl ConnectionTrait, chain: &str, size: u64) -> Result<(), SqlStoreError> {
        let expected: u64 = (STORED_LEVEL..64).map(|level| size >> level).sum();
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT COUNT(*) FROM {NODES} WHERE chain = ")).bind_chain(chain);
        let what = format!("chain {chain:?}: count its Merkle subtree hashes");
        let row = txn.query_one_raw(sql.build()).await.map_err(SqlStoreError::db(what.clone()))?;
        let stored: i64 = match row {
            Some(row) => row.try_get_by_index(0).map_err(SqlStoreError::db(what))?,
            None => 0,
        };
        if u64::try_from(stored).is_ok_and(|stored| stored >= expected) {
            return Ok(());
        }
        let mut frontier = CompactRange::new();
        let mut pending = Vec::new();
        let mut next = 1;
        while next <= size {
            let rows = self.line_range(txn, chain, next, size).await?;
            let Some(leaves) = leaves_of(next, &rows).filter(|l| !l.is_empty()) else {
                return Err(SqlStoreError::Corrupt(format!(
                    "chain {chain:?} cannot be read back from seq {next} to build its Merkle subtree hashes (an event \
                     is missing, malformed or altered)"
                )));
            };
            next += leaves.len() as u64;
            for leaf in leaves {
                let done = frontier.push(leaf).map_err(|e| SqlStoreError::Corrupt(e.to_string()))?;
                pending
                    .extend(done.into_iter().filter(|s| s.level >= STORED_LEVEL).map(|s| ((s.level, s.index), s.hash)));
            }
            if pending.len() >= INSERT_ROWS {
                self.insert_nodes(txn, chain, pending.drain(..)).await?;
            }
        }
        self.insert_nodes(txn, chain, pending.into_iter()).await
    }

    /// `(seq, line)` of `chain` with `from <= seq <= to` (at most a block), read through
    /// `conn`: a whole block whatever the read page size (a page smaller than a block cut the
    /// read short, and every node of such a block, and of the blocks after it, was left out).
    async fn line_range(
        &self,
        conn: &impl ConnectionTrait,
        chain: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, String)>, SqlStoreError> {
        let block = usize::try_from(BLOCK).unwrap_or(usize::MAX);
        self.line_page_on(conn, chain, from, to, self.page_size.max(block)).await?.all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stored-level subtree whose last leaf is in `first..=last`, by brute force.
    fn brute(first: u64, last: u64) -> Vec<(u32, u64, u64)> {
        let mut out = Vec::new();
        for level in STORED_LEVEL..20 {
            let width = 1u64 << level;
            let idxs: Vec<u64> =
                (0..=last / width).filter(|i| (first..=last).contains(&((i + 1) * width - 1))).collect();
            match (idxs.first(), idxs.last()) {
                (Some(&lo), Some(&hi)) => out.push((level, lo, hi)),
                _ => break,
            }
        }
        out
    }

    #[test]
    fn completed_subtrees_match_brute_force() {
        for first in 0..300 {
            for last in first..first + 300 {
                assert_eq!(completed_by(first, last), brute(first, last), "leaves {first}..={last}");
            }
        }
        assert_eq!(completed_by(0, 62), []);
        assert_eq!(completed_by(0, 63), [(6, 0, 0)]);
        assert_eq!(completed_by(64, 127), [(6, 1, 1), (7, 0, 0)]);
    }
}
