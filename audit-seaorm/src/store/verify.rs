//! Verification of a stored chain: the hash chain of its lines (SPEC §2, by
//! [`audit_core::verify::ChainVerifier`]), every indexed column against the value inside its
//! line, and the chain's head row against the last event.

use super::error::SqlStoreError;
use super::sql::{self, COLUMNS, EVENTS, Sql};
use super::{SqlStore, page_limit};
use audit_core::Event;
use audit_core::proof::TreeHead;
use audit_core::store::Head;
use audit_core::verify::{ChainVerifier, VerifyReport};
use sea_orm::{ConnectionTrait, QueryResult};
use std::collections::BTreeSet;
use std::fmt;

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
    /// The chain's head row when verification started.
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

/// One stored row, every column as text (`ts` in SPEC form, `id` lowercase hyphenated).
struct Row {
    values: [Option<String>; 12],
    seq: u64,
    line: String,
}

impl SqlStore {
    /// Verifies `chain` as stored: streams it by `seq` (one page per query) through
    /// [`ChainVerifier`] for hashes and links, checks that every indexed column equals the
    /// value inside the event's line (naming the `seq` and column of each that does not), and
    /// that the head row matches the last event (events removed from the end, or inserted after
    /// it, are reported). Appends may continue meanwhile; events after the head read at the
    /// start are left for the next run.
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
        mut verifier: ChainVerifier,
        mut progress: impl FnMut(u64) + Send,
    ) -> Result<StoreVerifyReport, SqlStoreError> {
        let stored_head = self.select_head(&self.db, chain, false).await?.unwrap_or(Head::EMPTY);
        let mut columns = Columns::default();
        let mut next = 1u64;
        let mut read = 0u64;
        while next <= stored_head.seq {
            let rows = self.full_rows(chain, next, stored_head.seq).await?;
            for row in &rows {
                columns.compare(row);
            }
            let lines: Vec<&[u8]> = rows.iter().map(|row| row.line.as_bytes()).collect();
            verifier.push_lines(&lines);
            read += rows.len() as u64;
            progress(read);
            match rows.last() {
                Some(row) if rows.len() >= self.page_size => next = row.seq.saturating_add(1),
                _ => break,
            }
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
        if report.lines.is_valid() && report.lines.head != stored_head {
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
        // Rows beyond the head: read the last seq first, then the head again (appends move both
        // in one transaction, so a consistent store never shows a last seq above a later head).
        let last_seq = self.last_seq(chain).await?;
        let head_now = self.select_head(&self.db, chain, false).await?.unwrap_or(Head::EMPTY);
        if last_seq > head_now.seq && report.head_problem.is_none() {
            report.head_problem = Some(format!(
                "events up to seq {last_seq} are stored but the chain head is at seq {}: they were not appended \
                 through the head (inserted behind the store's back)",
                head_now.seq
            ));
        }
        Ok(report)
    }

    /// Verifies every chain (those with a head row and those with events), by name.
    pub async fn verify_all(&self) -> Result<Vec<StoreVerifyReport>, SqlStoreError> {
        let mut chains: BTreeSet<String> = self.chains().await?.into_iter().map(|(chain, _)| chain).collect();
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

    async fn last_seq(&self, chain: &str) -> Result<u64, SqlStoreError> {
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT MAX(seq) FROM {EVENTS} WHERE chain = ")).bind(chain);
        let what = format!("verify chain {chain:?}: find its last seq");
        let row = self.db.query_one_raw(sql.build()).await.map_err(SqlStoreError::db(what.clone()))?;
        let max: Option<i64> = match row {
            Some(row) => row.try_get_by_index(0).map_err(SqlStoreError::db(what))?,
            None => None,
        };
        Ok(max.and_then(|m| u64::try_from(m).ok()).unwrap_or(0))
    }

    async fn full_rows(&self, chain: &str, from: u64, to: u64) -> Result<Vec<Row>, SqlStoreError> {
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT {} FROM {EVENTS} WHERE chain = ", COLUMNS.join(", ")))
            .bind(chain)
            .push(" AND seq >= ")
            .bind(sql::seq_bound(from))
            .push(" AND seq <= ")
            .bind(sql::seq_bound(to))
            .push(" ORDER BY seq LIMIT ")
            .bind(page_limit(self.page_size));
        let what = || format!("verify chain {chain:?}: read events from seq {from}");
        let rows = self.db.query_all_raw(sql.build()).await.map_err(SqlStoreError::db(what()))?;
        rows.iter().map(|row| self.decode_row(row).map_err(|e| with_context(e, &what()))).collect()
    }

    fn decode_row(&self, row: &QueryResult) -> Result<Row, SqlStoreError> {
        let text = |i: usize| -> Result<Option<String>, SqlStoreError> {
            row.try_get_by_index::<Option<String>>(i).map_err(SqlStoreError::db(format!("read column {}", COLUMNS[i])))
        };
        let seq: i64 = row.try_get_by_index(1).map_err(SqlStoreError::db("read column seq"))?;
        let seq =
            u64::try_from(seq).map_err(|_| SqlStoreError::Corrupt(format!("an event has a negative seq {seq}")))?;
        let ts = match self.dialect {
            sql::Dialect::Sqlite => text(3)?,
            sql::Dialect::Postgres | sql::Dialect::MySql => Some(self.dialect.ts_at(row, 3)?.to_string()),
        };
        let line = text(12)?.unwrap_or_default();
        Ok(Row {
            values: [
                text(0)?,
                Some(seq.to_string()),
                Some(self.dialect.id_at(row, 2)?),
                ts,
                text(4)?,
                text(5)?,
                text(6)?,
                text(7)?,
                text(8)?,
                text(9)?,
                text(10)?,
                text(11)?,
            ],
            seq,
            line,
        })
    }
}

/// Column mismatches found so far.
#[derive(Default)]
struct Columns {
    listed: Vec<ColumnMismatch>,
    count: u64,
}

impl Columns {
    /// Compares each column of `row` with its line (a line that is not an event is left to the
    /// chain verifier, which reports it as bad format).
    fn compare(&mut self, row: &Row) {
        let Ok(e) = serde_json::from_str::<Event>(&row.line) else { return };
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
        for (i, (stored, expected)) in row.values.iter().zip(expected).enumerate() {
            if *stored != expected {
                self.count += 1;
                if self.listed.len() < MAX_LISTED_MISMATCHES {
                    self.listed.push(ColumnMismatch {
                        seq: row.seq,
                        column: COLUMNS[i],
                        stored: stored.clone(),
                        expected,
                    });
                }
            }
        }
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
