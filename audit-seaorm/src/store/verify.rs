//! Verification of a stored chain: the hash chain of its lines (SPEC §2, by
//! [`audit_core::verify::ChainVerifier`]), every indexed column against the value inside its
//! line, and the chain's head row against the last event.

use super::error::SqlStoreError;
use super::sql::Dialect;
use super::sql::{self, COLUMNS, EVENTS, Sql};
use super::{SeqPages, SqlStore, page_limit};
use audit_core::Event;
use audit_core::checkpoint::Checkpoint;
use audit_core::line::{FieldSpans, LineInfo, json_string, json_string_is};
use audit_core::proof::{StoreProofError, TreeHead, frontier_at};
use audit_core::store::{Head, StoreError};
use audit_core::verify::{ChainVerifier, VerifyReport};
use sea_orm::prelude::Uuid;
use sea_orm::{ConnectionTrait, QueryResult};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

/// How many column mismatches a report lists (all are counted).
const MAX_LISTED_MISMATCHES: usize = 1000;

/// An indexed column that does not hold the value inside its event's line: someone edited the
/// column (e.g. to hide the event from queries) or the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMismatch {
    /// The row's `seq` column.
    pub seq: u64,
    /// The column, e.g. `"actor_id"`.
    pub column: &'static str,
    /// What the column holds (`None`: NULL).
    pub stored: Option<String>,
    /// What the line says (`None`: absent).
    pub expected: Option<String>,
}

impl fmt::Display for ColumnMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {} of seq {} holds {} but the event says {}",
            self.column,
            self.seq,
            shown(&self.stored),
            shown(&self.expected)
        )
    }
}

fn shown(value: &Option<String>) -> String {
    value.as_ref().map_or_else(|| "NULL".to_string(), |v| format!("{v:?}"))
}

/// The result of [`SqlStore::verify_chain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreVerifyReport {
    /// The chain.
    pub chain: String,
    /// The hash chain of the stored lines, from seq 1 to the head (SPEC §2).
    pub lines: VerifyReport,
    /// The chain's head row when verification started (when that row is malformed: the last
    /// seq stored, with the zero hash, and `head_problem` says so).
    pub stored_head: Head,
    /// Columns that differ from their line (the first 1000).
    pub column_mismatches: Vec<ColumnMismatch>,
    /// How many columns differ in all.
    pub column_mismatch_count: u64,
    /// Disagreement between the head row and the events (missing or extra events at the end).
    pub head_problem: Option<String>,
    /// The Merkle tree head (SPEC §4) of the events that passed the chain checks, when the
    /// verifier kept one ([`ChainVerifier::with_tree`]): with a valid report, the size and root
    /// to sign in a checkpoint of the chain exactly as verified.
    pub tree: Option<TreeHead>,
}

impl StoreVerifyReport {
    /// True when the lines form a valid chain up to the head, every column matches its line,
    /// and the head row matches the last event.
    pub fn is_valid(&self) -> bool {
        self.lines.is_valid() && self.column_mismatch_count == 0 && self.head_problem.is_none()
    }
}

impl fmt::Display for StoreVerifyReport {
    /// `valid: N events`, or one line per problem found.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_valid() {
            return write!(f, "valid: {} events", self.lines.verified);
        }
        let mut first = true;
        let mut line = |f: &mut fmt::Formatter<'_>, text: String| {
            let sep = if first { "" } else { "\n" };
            first = false;
            write!(f, "{sep}{text}")
        };
        if let Some(broken) = &self.lines.broken {
            line(f, format!("{broken} ({})", broken.detail))?;
        }
        for mismatch in &self.column_mismatches {
            line(f, format!("BROKEN: {mismatch}"))?;
        }
        let unlisted = self.column_mismatch_count.saturating_sub(self.column_mismatches.len() as u64);
        if unlisted > 0 {
            line(f, format!("… and {unlisted} more column mismatches"))?;
        }
        if let Some(problem) = &self.head_problem {
            line(f, format!("BROKEN: {problem}"))?;
        }
        Ok(())
    }
}

impl SqlStore {
    /// Verifies `chain` as stored: streams it by `seq` (one page per query) through
    /// [`ChainVerifier`] for hashes and links, checks that every indexed column equals the
    /// value inside the event's line (naming the `seq` and column of each that does not), and
    /// that the head row matches the last event (events removed from the end, or inserted after
    /// it, are reported). Appends may continue meanwhile; events after the head read at the
    /// start are left for the next run.
    ///
    /// Each page is checked on all cores (off the async runtime's threads) while the next one
    /// is fetched; the columns are compared with the values [`ChainVerifier`] finds in the line
    /// in its single pass over it, byte for byte, without copying them out of the page.
    pub async fn verify_chain(&self, chain: &str) -> Result<StoreVerifyReport, SqlStoreError> {
        self.verify_chain_with(chain, ChainVerifier::from_genesis()).await
    }

    /// [`SqlStore::verify_chain`] with a verifier of your choosing, e.g. one that also checks a
    /// signed checkpoint (the lines are fed to it from seq 1).
    pub async fn verify_chain_with(
        &self,
        chain: &str,
        verifier: ChainVerifier,
    ) -> Result<StoreVerifyReport, SqlStoreError> {
        self.verify_chain_with_progress(chain, verifier, |_| {}).await
    }

    /// [`SqlStore::verify_chain_with`], calling `progress` after each page of events with the
    /// number of events read so far (out of the head's `seq`, which [`AuditStore::head`]
    /// tells beforehand): for a progress bar.
    ///
    /// [`AuditStore::head`]: audit_core::store::AuditStore::head
    pub async fn verify_chain_with_progress(
        &self,
        chain: &str,
        verifier: ChainVerifier,
        progress: impl FnMut(u64) + Send,
    ) -> Result<StoreVerifyReport, SqlStoreError> {
        self.verify_chain_from(chain, 1, verifier, progress).await
    }

    /// Verifies `chain` from a trusted `checkpoint` (whose signature the caller has checked)
    /// without reading the events it vouches for again: the Merkle frontier before its last
    /// event comes from the stored subtree hashes ([`audit_core::proof::frontier_at`],
    /// O(log n)), and [`ChainVerifier::after_checkpoint`] checks that it and that event give
    /// the checkpoint's root; then the events after it are verified as
    /// [`SqlStore::verify_chain`] does (hashes, links, columns, head row), growing the tree to
    /// the chain's root now ([`StoreVerifyReport::tree`]). The cost is that of the events
    /// after the checkpoint, not of the whole chain.
    ///
    /// Not checked, as a verification from seq 1 does: the rows of the events before the
    /// checkpoint, which are not read (a line edited or a row deleted since the checkpoint was
    /// signed, an edited column that hides its event from queries: verify from seq 1 now and
    /// then). Where the stored subtree hashes cannot give the frontier (missing, malformed, or
    /// disagreeing with the events), the head row is malformed, or the chain is shorter than
    /// the checkpoint, the chain is verified from seq 1 against the checkpoint instead
    /// ([`VerifyReport::first_seq`] says from where it was read).
    ///
    /// [`VerifyReport::first_seq`]: audit_core::verify::VerifyReport::first_seq
    pub async fn verify_chain_after_checkpoint(
        &self,
        chain: &str,
        checkpoint: &Checkpoint,
        progress: impl FnMut(u64) + Send,
    ) -> Result<StoreVerifyReport, SqlStoreError> {
        let whole = || ChainVerifier::against_checkpoint(checkpoint).with_tree();
        let Some(before) = checkpoint.size.checked_sub(1) else {
            return self.verify_chain_from(chain, 1, whole(), progress).await;
        };
        let frontier = match frontier_at(self, chain, before).await {
            Ok(frontier) => frontier,
            Err(StoreProofError::Store(e @ (StoreError::Backend { .. } | StoreError::Io { .. }))) => {
                return Err(SqlStoreError::Database {
                    context: format!("verify chain {chain:?} after a checkpoint: read the Merkle frontier at {before}"),
                    source: sea_orm::DbErr::Custom(e.to_string()),
                });
            }
            // Too short, subtree hashes that disagree with the events, rows that are malformed
            // (the head row, a subtree hash, a line), or events that do not hold together: the
            // verification from seq 1 says what is wrong, and where.
            Err(_) => return self.verify_chain_from(chain, 1, whole(), progress).await,
        };
        match ChainVerifier::after_checkpoint(checkpoint, frontier) {
            Ok(verifier) => self.verify_chain_from(chain, checkpoint.size, verifier.with_tree(), progress).await,
            Err(wrong) => Err(SqlStoreError::Corrupt(format!("chain {chain:?}: {wrong}"))),
        }
    }

    /// [`SqlStore::verify_chain_with_progress`] of the events from seq `first` on (1, or a
    /// checkpoint's last event for a verifier made by [`ChainVerifier::after_checkpoint`]).
    async fn verify_chain_from(
        &self,
        chain: &str,
        first: u64,
        mut verifier: ChainVerifier,
        mut progress: impl FnMut(u64) + Send,
    ) -> Result<StoreVerifyReport, SqlStoreError> {
        // The last seq stored, then the head: appends move both in one transaction, so in a
        // consistent store the head read after is at least there. A head behind it (moved back,
        // deleted) is reported, and every stored event is verified all the same: against a
        // checkpoint, events that are there must not read as removed.
        let last_seq = self.last_stored_seq(chain).await?;
        // A head row edited into something no writer stores (a hash that is not 64 lowercase hex
        // digits, a negative seq) is a finding, not an error: the events are verified up to the
        // last one stored, and the head reported.
        let (stored_head, malformed_head) = match self.select_head(&self.db, chain, false).await {
            Ok(head) => (head.unwrap_or(Head::EMPTY), None),
            Err(SqlStoreError::Corrupt(problem)) => (Head { seq: last_seq, hash: Head::EMPTY.hash }, Some(problem)),
            Err(e) => return Err(e),
        };
        let read_to = stored_head.seq.max(last_seq);
        let mut columns = Columns::default();
        let mut read = 0u64;
        let mut from = first;
        // Every row, repeated ones too (see `SeqPages`).
        let mut paging = SeqPages::new(self.page_size);
        let mut page =
            if from <= read_to { Some(self.full_rows(chain, from, read_to, paging.limit()).await?) } else { None };
        while let Some(mut rows) = page.take() {
            let what = || format!("verify chain {chain:?}: read events from seq {from}");
            let seq_of = |row: Option<&QueryResult>| row.map(seq_at).transpose().map_err(|e| with_context(e, &what()));
            let (first, last) = (seq_of(rows.first())?, seq_of(rows.last())?);
            let (pass_over, next) = paging.arrived(rows.len(), first, last, read_to);
            if pass_over {
                rows.remove(0);
            }
            let count = rows.len();
            // Check this page on the blocking pool while the next one is fetched.
            let dialect = self.dialect;
            let checking = tokio::task::spawn_blocking(move || {
                let found = check_page(dialect, &mut verifier, &rows);
                (verifier, found)
            });
            if let Some(next) = next {
                page = Some(self.full_rows(chain, next, read_to, paging.limit()).await?);
            }
            let (checked, found) = checking.await.map_err(|e| SqlStoreError::Database {
                context: what(),
                source: sea_orm::DbErr::Custom(format!("the verifier task failed: {e}")),
            })?;
            verifier = checked;
            columns.add(found.map_err(|e| with_context(e, &what()))?);
            read += count as u64;
            progress(read);
            from = last.map_or(from, |last| last + 1);
        }
        let tree = verifier.tree().map(|range| TreeHead { size: range.size(), root: range.root() });
        let mut report = StoreVerifyReport {
            chain: chain.to_string(),
            tree,
            lines: verifier.finish(),
            stored_head,
            column_mismatches: columns.listed,
            column_mismatch_count: columns.count,
            head_problem: None,
        };
        if let Some(problem) = malformed_head {
            report.head_problem = Some(format!("the chain head row is malformed: {problem}"));
            return Ok(report);
        }
        let beyond_head = |last_seq: u64, head: Head| {
            format!(
                "events up to seq {last_seq} are stored but the chain head is at seq {}: the head was moved back or \
                 deleted, or they were not appended through it (inserted behind the store's back)",
                head.seq
            )
        };
        if last_seq > stored_head.seq {
            report.head_problem = Some(beyond_head(last_seq, stored_head));
        } else if report.lines.is_valid() && report.lines.head != stored_head {
            report.head_problem = Some(if report.lines.head.seq < stored_head.seq {
                format!(
                    "the chain head is at seq {} but the events end at seq {}: events {}..={} are missing",
                    stored_head.seq,
                    report.lines.head.seq,
                    report.lines.head.seq + 1,
                    stored_head.seq
                )
            } else {
                format!("the chain head's hash does not match the event at seq {}", stored_head.seq)
            });
        }
        // Rows beyond the head inserted while verifying: the last seq again, then the head.
        let last_seq = self.last_stored_seq(chain).await?;
        let head_now = self.select_head(&self.db, chain, false).await?.unwrap_or(Head::EMPTY);
        if last_seq > head_now.seq && report.head_problem.is_none() {
            report.head_problem = Some(beyond_head(last_seq, head_now));
        }
        Ok(report)
    }

    /// Verifies every chain (those with a head row and those with events), by name.
    pub async fn verify_all(&self) -> Result<Vec<StoreVerifyReport>, SqlStoreError> {
        let mut chains: BTreeSet<String> = self.chain_names().await?.into_iter().collect();
        let sql = format!("SELECT DISTINCT chain FROM {EVENTS}");
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(self.backend(), sql))
            .await
            .map_err(SqlStoreError::db(format!("list the chains of {EVENTS}")))?;
        for row in &rows {
            chains.insert(row.try_get_by_index(0).map_err(SqlStoreError::db("list chains"))?);
        }
        let mut reports = Vec::with_capacity(chains.len());
        for chain in chains {
            reports.push(self.verify_chain(&chain).await?);
        }
        Ok(reports)
    }

    /// The highest seq stored for `chain` (0 when it has no event), whatever its head row
    /// says: read it before the head, as appends move both in one transaction, and a head
    /// behind it was moved back or deleted, or events were inserted behind the store's back.
    pub async fn last_stored_seq(&self, chain: &str) -> Result<u64, SqlStoreError> {
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT MAX(seq) FROM {EVENTS} WHERE chain = ")).bind_chain(chain);
        let what = format!("verify chain {chain:?}: find its last seq");
        let row = self.db.query_one_raw(sql.build()).await.map_err(SqlStoreError::db(what.clone()))?;
        let max: Option<i64> = match row {
            Some(row) => row.try_get_by_index(0).map_err(SqlStoreError::db(what))?,
            None => None,
        };
        Ok(max.and_then(|m| u64::try_from(m).ok()).unwrap_or(0))
    }

    /// Up to `limit` rows of `chain` with `from <= seq <= to`, every column, as the database
    /// returned them (read where they are checked, by [`check_page`]).
    async fn full_rows(
        &self,
        chain: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<QueryResult>, SqlStoreError> {
        let mut sql = Sql::new(self.dialect);
        let columns = match self.dialect {
            Dialect::Sqlite => sqlite_packed_columns(),
            Dialect::Postgres | Dialect::MySql => COLUMNS.join(", "),
        };
        sql.push(&format!("SELECT {columns} FROM {EVENTS} WHERE chain = "))
            .bind_chain(chain)
            .push(" AND seq >= ")
            .bind(sql::seq_bound(from))
            .push(" AND seq <= ")
            .bind(sql::seq_bound(to))
            .push(" ORDER BY seq LIMIT ")
            .bind(page_limit(limit));
        let what = format!("verify chain {chain:?}: read events from seq {from}");
        self.db.query_all_raw(sql.build()).await.map_err(SqlStoreError::db(what))
    }
}

/// The `seq` column of a row.
fn seq_at(row: &QueryResult) -> Result<u64, SqlStoreError> {
    let seq: i64 = match sql::pg_value(row, 1) {
        Some(seq) => seq,
        None => row.try_get_by_index(1),
    }
    .map_err(SqlStoreError::db("read column seq"))?;
    u64::try_from(seq).map_err(|_| SqlStoreError::Corrupt(format!("an event has a negative seq {seq}")))
}

/// The `line` column of a row, borrowed from it: on PostgreSQL its bytes as they are (that they
/// are UTF-8 is checked by the verifier, in full only for a line that is not ASCII), on SQLite
/// as the bytes it holds (`CAST(line AS BLOB)`: a line edited into bytes that are not UTF-8, or
/// stored as a blob, is then the verifier's "bad format" at its seq, not a read error), on MySQL
/// as text.
fn line_at(dialect: Dialect, row: &QueryResult) -> Result<Cow<'_, [u8]>, SqlStoreError> {
    if let Some(Ok(line)) = sql::pg_value::<Option<&[u8]>>(row, 12) {
        return Ok(Cow::Borrowed(line.unwrap_or_default()));
    }
    if dialect == Dialect::Sqlite {
        use sea_orm::sqlx::Row as _;
        let row = row.try_as_sqlite_row().ok_or_else(|| SqlStoreError::Corrupt("not a SQLite row".into()))?;
        let line: Option<&[u8]> = row
            .try_get(SQLITE_LINE_INDEX)
            .map_err(|e| SqlStoreError::Corrupt(format!("read column line as bytes: {e}")))?;
        return Ok(Cow::Borrowed(line.unwrap_or_default()));
    }
    Ok(match text(row, 12)?.unwrap_or_default() {
        Cow::Borrowed(line) => Cow::Borrowed(line.as_bytes()),
        Cow::Owned(line) => Cow::Owned(line.into_bytes()),
    })
}

/// The bytes of a text column of a row, borrowed from it (on PostgreSQL not checked to be UTF-8:
/// they are compared with bytes that are).
fn text_bytes(row: &QueryResult, column: usize) -> Result<Option<Cow<'_, [u8]>>, SqlStoreError> {
    if let Some(Ok(bytes)) = sql::pg_value::<Option<&[u8]>>(row, column) {
        return Ok(bytes.map(Cow::Borrowed));
    }
    Ok(text(row, column)?.map(|text| match text {
        Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
    }))
}

/// A text column of a row, borrowed from it.
fn text(row: &QueryResult, column: usize) -> Result<Option<Cow<'_, str>>, SqlStoreError> {
    sql::text_at(row, column).map_err(|e| SqlStoreError::db(format!("read column {}", COLUMNS[column]))(e))
}

/// The text columns other than `line`, with their index in [`COLUMNS`], as SQLite packs them.
const SQLITE_PACKED: [usize; 11] = [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/// Where `line` is in a row read on SQLite: `packed, seq, line` (as bytes).
const SQLITE_LINE_INDEX: usize = 2;

/// On SQLite, [`SqlStore::full_rows`] reads the 11 text columns besides `line` as one blob, each
/// as `LENGTH:BYTES` (its length in bytes) or `-` for NULL: the driver copies every value of a
/// row out of SQLite, and one value instead of eleven makes verification much cheaper. The
/// bytes are the text's UTF-8 in a UTF-8 database (SQLite's default, the store's own).
///
/// A value SQLite holds as another type than text (a column edited into a blob, which may
/// hold the very bytes of the text) is `!TLENGTH:BYTES`, `T` the first letter of its type
/// (`b` for blob): SQLite never finds a blob equal to text, so such a column hides its event
/// from queries whatever its bytes, and is a mismatch ([`Stored::other_type`]).
fn sqlite_packed_columns() -> String {
    let parts: Vec<String> = SQLITE_PACKED
        .iter()
        .map(|&i| {
            let c = COLUMNS[i];
            let value = format!("length(CAST({c} AS BLOB)) || ':' || CAST({c} AS BLOB)");
            format!(
                "CASE WHEN {c} IS NULL THEN '-' WHEN typeof({c}) <> 'text' THEN '!' || substr(typeof({c}), 1, 1) || {value} \
                 ELSE {value} END"
            )
        })
        .collect();
    format!("CAST({} AS BLOB), seq, CAST(line AS BLOB)", parts.join(" || "))
}

/// The stored values of a row's compared columns, by their index in [`COLUMNS`].
enum Stored<'r> {
    /// PostgreSQL and MySQL: the row's own columns.
    Row(&'r QueryResult),
    /// SQLite: the text columns unpacked from [`sqlite_packed_columns`] (`seq` not among them):
    /// their bytes, and which of them SQLite holds as another type than text.
    Packed {
        /// The bytes of each column (`None`: NULL).
        values: [Option<&'r [u8]>; 12],
        /// For each column SQLite holds as another type than text, the first letter of that
        /// type (`b` for blob, `i` integer, `r` real); 0 for text and NULL.
        other: [u8; 12],
    },
}

impl<'r> Stored<'r> {
    fn of(dialect: Dialect, row: &'r QueryResult) -> Result<Stored<'r>, SqlStoreError> {
        if dialect != Dialect::Sqlite {
            return Ok(Stored::Row(row));
        }
        let corrupt = || SqlStoreError::Corrupt("SQLite returned a malformed packed row".into());
        let packed: Option<&[u8]> = {
            use sea_orm::sqlx::Row as _;
            let row = row.try_as_sqlite_row().ok_or_else(corrupt)?;
            row.try_get(0).map_err(|e| SqlStoreError::Corrupt(format!("read the packed columns: {e}")))?
        };
        let mut rest = packed.ok_or_else(corrupt)?;
        let mut values = [None; 12];
        let mut other = [0; 12];
        for &column in &SQLITE_PACKED {
            if let Some(after) = rest.strip_prefix(b"-") {
                rest = after;
                continue;
            }
            if let Some((&kind, after)) = rest.strip_prefix(b"!").and_then(<[u8]>::split_first) {
                other[column] = kind;
                rest = after;
            }
            let colon = rest.iter().position(|&b| b == b':').ok_or_else(corrupt)?;
            let len: usize =
                std::str::from_utf8(&rest[..colon]).ok().and_then(|n| n.parse().ok()).ok_or_else(corrupt)?;
            let value = rest.get(colon + 1..colon + 1 + len).ok_or_else(corrupt)?;
            values[column] = Some(value);
            rest = &rest[colon + 1 + len..];
        }
        if !rest.is_empty() {
            return Err(corrupt());
        }
        Ok(Stored::Packed { values, other })
    }

    /// On SQLite, column `column` as SQLite holds it when that is not as text: its type and
    /// bytes, e.g. `blob X'616C696365'` (for a [`ColumnMismatch`]; queries compare such a value
    /// with no text, whatever its bytes). `None` for text, NULL, and on other databases.
    fn other_type(&self, column: usize) -> Option<String> {
        let Stored::Packed { values, other } = self else { return None };
        let kind = match other[column] {
            0 => return None,
            b'b' => "blob",
            b'i' => "integer",
            b'r' => "real",
            _ => "non-text value",
        };
        let hex: String = values[column].unwrap_or_default().iter().map(|b| format!("{b:02X}")).collect();
        Some(format!("{kind} X'{hex}'"))
    }

    /// The row, for values read with the backend's own decoders (PostgreSQL, MySQL).
    fn row(&self) -> Result<&'r QueryResult, SqlStoreError> {
        match self {
            Stored::Row(row) => Ok(row),
            Stored::Packed { .. } => Err(SqlStoreError::Corrupt("a packed SQLite row has no typed columns".into())),
        }
    }

    /// The bytes of a text column (on PostgreSQL not checked to be UTF-8: they are compared
    /// with bytes that are).
    fn bytes(&self, column: usize) -> Result<Option<Cow<'r, [u8]>>, SqlStoreError> {
        match self {
            Stored::Row(row) => text_bytes(row, column),
            Stored::Packed { values, .. } => Ok(values[column].map(Cow::Borrowed)),
        }
    }

    /// A text column.
    fn text(&self, column: usize) -> Result<Option<Cow<'r, str>>, SqlStoreError> {
        match self {
            Stored::Row(row) => text(row, column),
            Stored::Packed { values, .. } => values[column]
                .map(|bytes| {
                    std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
                        SqlStoreError::Corrupt(format!("read column {}: not UTF-8 text ({e})", COLUMNS[column]))
                    })
                })
                .transpose(),
        }
    }
}

/// Feeds the lines of a page to `verifier` and compares every row's columns with its line;
/// returns the mismatches in row and column order.
fn check_page(
    dialect: Dialect,
    verifier: &mut ChainVerifier,
    rows: &[QueryResult],
) -> Result<Vec<ColumnMismatch>, SqlStoreError> {
    let mut seqs = Vec::with_capacity(rows.len());
    let mut bytes = Vec::with_capacity(rows.len());
    for row in rows {
        seqs.push(seq_at(row)?);
        bytes.push(line_at(dialect, row)?);
    }
    let lines: Vec<&[u8]> = bytes.iter().map(|line| &line[..]).collect();
    let found = verifier.push_lines_with(&lines, |i, line, inspected| {
        let stored = Stored::of(dialect, &rows[i])?;
        match inspected {
            Ok((info, fields)) => compare(dialect, &stored, seqs[i], line, info, fields),
            // Not a canonical event (the verifier reports it): compared as any JSON, as far as
            // it parses (bytes that are not UTF-8 replaced).
            Err(_) => compare_parsed(dialect, &stored, seqs[i], &String::from_utf8_lossy(line)),
        }
    });
    let mut mismatches = Vec::new();
    for row in found {
        mismatches.extend(row?);
    }
    Ok(mismatches)
}

/// The columns of `row` that differ from its line, compared with the values where the line
/// holds them (`fields`): a text column equals its value when it is the string that the JSON
/// string in the line spells (see [`json_string_is`]), `tags` when it holds the same canonical
/// array. Values are decoded and copied only to report a mismatch.
fn compare(
    dialect: Dialect,
    row: &Stored<'_>,
    seq: u64,
    line: &[u8],
    info: &LineInfo,
    fields: &FieldSpans,
) -> Result<Vec<ColumnMismatch>, SqlStoreError> {
    let raw = |span: &Range<usize>| &line[span.clone()];
    let mut found = Vec::new();
    let mut differs = |column: usize, stored: Option<String>, expected: Option<String>| {
        found.push(ColumnMismatch { seq, column: COLUMNS[column], stored, expected });
    };
    if let Some((stored, expected)) = string_differs(dialect, row, 0, Some(raw(&info.chain)))? {
        differs(0, stored, expected);
    }
    if seq != info.seq {
        differs(1, Some(seq.to_string()), Some(info.seq.to_string()));
    }
    if let Some(stored) = id_differs(dialect, row, info.id, raw(&fields.id))? {
        differs(2, Some(stored), Some(json_string(raw(&fields.id))));
    }
    if let Some(stored) = ts_differs(dialect, row, raw(&fields.ts))? {
        differs(3, stored, Some(json_string(raw(&fields.ts))));
    }
    let strings = [
        (4, Some(&fields.actor_id)),
        (5, Some(&fields.actor_kind)),
        (6, Some(&fields.action)),
        (7, Some(&fields.resource_type)),
        (8, Some(&fields.resource_id)),
        (9, Some(&fields.outcome)),
        (10, fields.request_id.as_ref()),
    ];
    for (column, expected) in strings {
        if let Some((stored, expected)) = string_differs(dialect, row, column, expected.map(raw))? {
            differs(column, stored, expected);
        }
    }
    let tags = fields.tags.as_ref().map(raw);
    let held = row.other_type(11);
    if held.is_some() || row.bytes(11)?.as_deref() != tags {
        let stored = match held {
            Some(held) => Some(held),
            None => row.text(11)?.map(Cow::into_owned),
        };
        differs(11, stored, tags.map(|tags| String::from_utf8_lossy(tags).into_owned()));
    }
    Ok(found)
}

/// What a column holds and what its line says, for a [`ColumnMismatch`].
type StoredExpected = (Option<String>, Option<String>);

/// `(stored, expected)` when text column `column` of `row` does not hold the string that
/// `expected` spells (a JSON string of the line with its quotes; `None`: the field is absent),
/// as the backend stores it (on PostgreSQL, U+0000 as U+0001: [`sql::postgres_text`]).
fn string_differs(
    dialect: Dialect,
    row: &Stored<'_>,
    column: usize,
    expected: Option<&[u8]>,
) -> Result<Option<StoredExpected>, SqlStoreError> {
    if let Some(held) = row.other_type(column) {
        return Ok(Some((Some(held), expected.map(json_string))));
    }
    let equal = match (row.bytes(column)?, expected) {
        (Some(stored), Some(expected)) => {
            json_string_is(expected, &stored)
                || (dialect == Dialect::Postgres
                    && expected.windows(6).any(|w| w == b"\\u0000")
                    && sql::postgres_text(&json_string(expected)).as_bytes() == &stored[..])
        }
        (None, None) => true,
        _ => false,
    };
    if equal {
        return Ok(None);
    }
    // Read as text to report it (a column that is not UTF-8 is an error, as when reading rows).
    let stored = row.text(column)?.map(Cow::into_owned);
    Ok(Some((stored, expected.map(json_string))))
}

/// The `id` column as text, when it is not the UUID of the line (`expected`: its JSON string).
fn id_differs(
    dialect: Dialect,
    stored: &Stored<'_>,
    id: u128,
    expected: &[u8],
) -> Result<Option<String>, SqlStoreError> {
    if let Some(held) = stored.other_type(2) {
        return Ok(Some(held));
    }
    match dialect {
        Dialect::Postgres => {
            let row = stored.row()?;
            let stored: Uuid = match sql::pg_value(row, 2) {
                Some(id) => id,
                None => row.try_get_by_index(2),
            }
            .map_err(SqlStoreError::db("read the id column"))?;
            Ok((stored.as_u128() != id).then(|| stored.hyphenated().to_string()))
        }
        Dialect::MySql | Dialect::Sqlite => match stored.text(2)? {
            Some(stored) => Ok((!json_string_is(expected, stored.as_bytes())).then(|| stored.into_owned())),
            // NULL: reading it as the id says what is wrong.
            None => match stored {
                Stored::Row(row) => dialect.id_at(row, 2).map(Some),
                Stored::Packed { .. } => Err(SqlStoreError::Corrupt("an event's id column is NULL".into())),
            },
        },
    }
}

/// The `ts` column as text (`Some(None)`: NULL), when it is not the time of the line
/// (`expected`: its JSON string).
fn ts_differs(dialect: Dialect, row: &Stored<'_>, expected: &[u8]) -> Result<Option<Option<String>>, SqlStoreError> {
    match dialect {
        Dialect::Sqlite => {
            if let Some(held) = row.other_type(3) {
                return Ok(Some(Some(held)));
            }
            let stored = row.text(3)?;
            Ok(match stored {
                Some(stored) if json_string_is(expected, stored.as_bytes()) => None,
                stored => Some(stored.map(Cow::into_owned)),
            })
        }
        Dialect::Postgres | Dialect::MySql => {
            let stored = match dialect.ts_or_held(row.row()?, 3)? {
                Ok(stored) => stored,
                Err(held) => return Ok(Some(Some(held))),
            };
            let mut written = Vec::with_capacity(27);
            stored.write(&mut written);
            Ok((expected.get(1..expected.len() - 1) != Some(&written[..])).then(|| Some(stored.to_string())))
        }
    }
}

/// The columns of `row` that differ from its line when the line is not a canonical event but
/// may still be JSON: parsed as an [`Event`] (a line that is not even that is only reported by
/// the chain verifier, as bad format).
fn compare_parsed(
    dialect: Dialect,
    row: &Stored<'_>,
    seq: u64,
    line: &str,
) -> Result<Vec<ColumnMismatch>, SqlStoreError> {
    let Ok(e) = serde_json::from_str::<Event>(line) else { return Ok(Vec::new()) };
    let owned = |column: usize| match row.other_type(column) {
        Some(held) => Ok(Some(held)),
        None => row.text(column).map(|value| value.map(Cow::into_owned)),
    };
    let (id, ts) = match row {
        Stored::Packed { .. } => (owned(2)?, owned(3)?),
        Stored::Row(row) => {
            let ts = dialect.ts_or_held(row, 3)?.map_or_else(|held| held, |ts| ts.to_string());
            (Some(dialect.id_at(row, 2)?), Some(ts))
        }
    };
    let stored: [Option<String>; 12] = [
        owned(0)?,
        Some(seq.to_string()),
        id,
        ts,
        owned(4)?,
        owned(5)?,
        owned(6)?,
        owned(7)?,
        owned(8)?,
        owned(9)?,
        owned(10)?,
        owned(11)?,
    ];
    let expected: [Option<String>; 12] = [
        Some(e.chain.clone()),
        Some(e.seq.to_string()),
        Some(e.id.hyphenated().to_string()),
        Some(e.ts.to_string()),
        Some(e.actor.id.clone()),
        Some(e.actor.kind.as_str().to_string()),
        Some(e.action.clone()),
        Some(e.resource.kind.clone()),
        Some(e.resource.id.clone()),
        Some(e.outcome.as_str().to_string()),
        e.context.request_id.clone(),
        sql::tags_column(&e.tags),
    ];
    Ok(stored
        .into_iter()
        .zip(expected)
        .enumerate()
        .filter(|(i, (stored, expected))| stored != expected || row.other_type(*i).is_some())
        .map(|(i, (stored, expected))| ColumnMismatch { seq, column: COLUMNS[i], stored, expected })
        .collect())
}

/// Column mismatches found so far.
#[derive(Default)]
struct Columns {
    listed: Vec<ColumnMismatch>,
    count: u64,
}

impl Columns {
    /// Counts `found` and lists it, up to [`MAX_LISTED_MISMATCHES`] in all.
    fn add(&mut self, found: Vec<ColumnMismatch>) {
        self.count += found.len() as u64;
        let room = MAX_LISTED_MISMATCHES.saturating_sub(self.listed.len());
        self.listed.extend(found.into_iter().take(room));
    }
}

fn with_context(error: SqlStoreError, context: &str) -> SqlStoreError {
    match error {
        SqlStoreError::Database { context: inner, source } => {
            SqlStoreError::Database { context: format!("{context}: {inner}"), source }
        }
        other => other,
    }
}
