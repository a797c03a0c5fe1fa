//! The outbox: events of a transaction, written inside it just before `COMMIT`, sealed into
//! the chain after it, then deleted.
//!
//! Table (created by [`crate::orm::AuditedDb::migrate_outbox`]):
//!
//! | column | type | what |
//! |---|---|---|
//! | `id` | `VARCHAR(36)` primary key | the event id (UUIDv7, fixed before the commit) |
//! | `ts_us` | `BIGINT` | when the row was written (just before its transaction's `COMMIT`), microseconds since the Unix epoch: what [`crate::orm::AuditedDb::recover_outbox_older_than`] compares its age with |
//! | `payload` | `TEXT` (`MEDIUMTEXT` on MySQL) | the event as JSON: actor, context, resource, redacted changes |
//!
//! Exactly once: the event's id and time are fixed when the change is intercepted and kept
//! in the row. Sealing gives the auditor that id ([`audit_core::EventDraft::with_id`]);
//! recovery looks each id up in the store first and seals only those it does not find, so a
//! crash between `COMMIT` and sealing, or between sealing and deleting the row, never gives an
//! event twice or loses it. Secrets are redacted before the row is written.

use super::event::OrmEvent;
use audit_core::store::{AuditStore, Query, StoreError};
use audit_core::{Auditor, RecordError, RedactionPolicy, Ticket};
use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, DbErr, IsolationLevel, QueryResult, Statement, TransactionSession,
    TransactionTrait, Value,
};
use std::time::Duration;

/// The outbox table's default name.
pub const DEFAULT_TABLE: &str = "audit_seaorm_outbox";

/// Rows per INSERT/DELETE statement.
const CHUNK: usize = 200;

/// Bytes of payload per INSERT, at most (a larger event alone is an INSERT of its own): MySQL
/// refuses a statement larger than its `max_allowed_packet` (4 MiB by default on MySQL 5.7,
/// 16 MiB on MariaDB), and refused, the transaction could never commit. An event is at most
/// the auditor's limit, 1 MiB by default.
const CHUNK_BYTES: usize = 1 << 20;

/// What [`crate::orm::AuditedDb::recover_outbox`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Outbox rows sealed into the chain now.
    pub sealed: u64,
    /// Outbox rows whose event the store already had (sealed before a crash), not sealed again.
    pub already_sealed: u64,
    /// Outbox rows that cannot be sealed (not an event, an event the auditor refuses, e.g.
    /// over the size limit of an auditor configured lower than when the row was written, or
    /// one the store refuses, e.g. a value its database cannot take). They are left in place,
    /// as evidence of a committed change whose event is not in the chain, and reported by
    /// every recovery until someone deals with them; the rows after them are recovered all
    /// the same.
    pub unsealable: Vec<Unsealable>,
}

/// An outbox row that [`crate::orm::AuditedDb::recover_outbox`] could not seal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unsealable {
    /// The row's `id` (the event's id).
    pub id: String,
    /// Why it cannot be sealed.
    pub reason: String,
}

/// `name` as a quoted identifier of `backend`.
pub(super) fn quote(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

fn outbox_error(what: &str, e: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("audit_seaorm outbox: {what}: {e}"))
}

/// Creates the table if missing.
pub(crate) async fn migrate(conn: &impl ConnectionTrait, table: &str) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    // On MySQL utf8mb4 whatever the database's default (latin1 could not hold the events of
    // writes of text it cannot hold, and refused their commits).
    let (payload, options) =
        if backend == DbBackend::MySql { ("MEDIUMTEXT", " DEFAULT CHARSET=utf8mb4") } else { ("TEXT", "") };
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (id VARCHAR(36) NOT NULL PRIMARY KEY, ts_us BIGINT NOT NULL, payload {payload} NOT NULL){options}",
        quote(backend, table)
    );
    conn.execute_unprepared(&sql).await.map(|_| ())
}

/// Inserts `rows` (inside the caller's transaction), in INSERTs of `lens` rows ([`chunk_lens`]).
async fn insert_rows(
    conn: &impl ConnectionTrait,
    table: &str,
    rows: Vec<OutboxRow>,
    lens: &[usize],
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let mut rows = rows.into_iter();
    for &len in lens {
        let mut values = Vec::with_capacity(len * 3);
        let sql = insert_sql(backend, table, rows.by_ref().take(len), &mut values);
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    Ok(())
}

/// In the caller's transaction: deletes the rows of `sealed` (events sealed since) and
/// inserts `events`. When both fit in one statement's chunk, in one call: on PostgreSQL one
/// statement (`WITH … DELETE … INSERT`), on SQLite two statements in one call (`DELETE …;
/// INSERT …`, which the driver runs one after the other on its thread): a round trip less in
/// every writing transaction.
pub(crate) async fn replace(
    conn: &impl ConnectionTrait,
    table: &str,
    sealed: &[String],
    events: &[OrmEvent],
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let rows = rows_of(events)?;
    let one_call = matches!(backend, DbBackend::Postgres | DbBackend::Sqlite);
    let lens = chunk_lens(&rows);
    if !one_call || sealed.is_empty() || sealed.len() > CHUNK || lens.len() > 1 {
        // The inserts first. On MySQL a DELETE of an id that is gone already (a recovery
        // deleted the row of an event it found sealed) locks the gap up to the next id, in a
        // small outbox the end of the index, where every new UUIDv7 id goes: two transactions
        // that each took such a gap lock before inserting deadlocked (MariaDB 10.11).
        insert_rows(conn, table, rows, &lens).await?;
        return delete(conn, table, sealed).await;
    }
    let mut values: Vec<Value> = sealed.iter().map(|id| Value::String(Some(id.clone()))).collect();
    let list: Vec<String> = (1..=sealed.len()).map(|n| placeholder(backend, n)).collect();
    let insert = insert_sql(backend, table, rows, &mut values);
    let (table, list) = (quote(backend, table), list.join(", "));
    let sql = match backend {
        DbBackend::Postgres => format!("WITH sealed AS (DELETE FROM {table} WHERE id IN ({list})) {insert}"),
        _ => format!("DELETE FROM {table} WHERE id IN ({list}); {insert}"),
    };
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(())
}

/// An event as its outbox row holds it.
struct OutboxRow {
    id: String,
    payload: String,
}

fn rows_of(events: &[OrmEvent]) -> Result<Vec<OutboxRow>, DbErr> {
    events
        .iter()
        .map(|event| {
            let payload = serde_json::to_string(event).map_err(|e| outbox_error("cannot serialize an event", e))?;
            Ok(OutboxRow { id: event.id.to_string(), payload })
        })
        .collect()
}

/// How many of `rows`, in order, each INSERT that writes them takes: at most [`CHUNK`] rows
/// and [`CHUNK_BYTES`] of payload each (a row larger than that alone is an INSERT of its own).
fn chunk_lens(rows: &[OutboxRow]) -> Vec<usize> {
    let mut lens = Vec::new();
    let (mut len, mut bytes) = (0, 0);
    for row in rows {
        if len > 0 && (len == CHUNK || bytes + row.payload.len() > CHUNK_BYTES) {
            lens.push(len);
            (len, bytes) = (0, 0);
        }
        len += 1;
        bytes += row.payload.len();
    }
    if len > 0 {
        lens.push(len);
    }
    lens
}

/// `INSERT INTO table … VALUES …` for `rows`, their values appended to `values` (numbered
/// after those already there).
fn insert_sql(
    backend: DbBackend,
    table: &str,
    rows: impl IntoIterator<Item = OutboxRow>,
    values: &mut Vec<Value>,
) -> String {
    let mut sql = format!("INSERT INTO {} (id, ts_us, payload) VALUES ", quote(backend, table));
    // Not the events' own time (when the changes were intercepted, maybe long before): a
    // recovery that spares rows younger than an age must spare a transaction committing now.
    let written_at = audit_core::Timestamp::now().unix_micros();
    for (i, row) in rows.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let n = values.len();
        sql.push_str(&format!(
            "({}, {}, {})",
            placeholder(backend, n + 1),
            placeholder(backend, n + 2),
            placeholder(backend, n + 3)
        ));
        values.push(Value::String(Some(row.id)));
        values.push(Value::BigInt(Some(written_at)));
        values.push(Value::String(Some(row.payload)));
    }
    sql
}

/// Deletes the rows of `ids` (after their events are durable).
///
/// On MySQL one row per statement, by primary-key equality: InnoDB locks every row a `DELETE`
/// scans, and for `id IN (…)` on a small outbox it scans the whole primary key (even told to
/// use it), locking rows that concurrent transactions just inserted; their own outbox inserts
/// then wait on this transaction's locks while it waits on theirs, a deadlock. An equality
/// lookup of an existing row locks that row alone.
pub(crate) async fn delete(conn: &impl ConnectionTrait, table: &str, ids: &[String]) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let table = quote(backend, table);
    if backend == DbBackend::MySql {
        for id in ids {
            let sql = format!("DELETE FROM {table} WHERE id = ?");
            conn.execute_raw(Statement::from_sql_and_values(backend, sql, [Value::String(Some(id.clone()))])).await?;
        }
        return Ok(());
    }
    for chunk in ids.chunks(CHUNK) {
        let list: Vec<String> = (1..=chunk.len()).map(|n| placeholder(backend, n)).collect();
        let sql = format!("DELETE FROM {table} WHERE id IN ({})", list.join(", "));
        let values: Vec<Value> = chunk.iter().map(|id| Value::String(Some(id.clone()))).collect();
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    Ok(())
}

/// How an outbox event reached the chain.
pub(crate) enum Sealed {
    /// Through this ticket.
    Now,
    /// Before (the store refused it as a repeat): another sealing of the same outbox row
    /// won, a live commit's or a recovery's.
    Before,
}

/// Awaits the ticket of outbox event `id`. A refusal is "sealed before" if the store has the
/// event: the outbox row was sealed twice at once (a recovery racing the commit that wrote
/// it, or two recoveries) and the other one won.
pub(crate) async fn sealed(ticket: Ticket, id: uuid::Uuid, store: &dyn AuditStore) -> Result<Sealed, RecordError> {
    match ticket.await {
        Ok(_) => Ok(Sealed::Now),
        Err(RecordError::Rejected(reason)) => match is_stored(store, id).await {
            Ok(true) => Ok(Sealed::Before),
            _ => Err(RecordError::Rejected(reason)),
        },
        Err(other) => Err(other),
    }
}

/// Whether the store already holds event `id`, in any chain: instances that share the
/// application's database (and so its outbox) may each write a chain of their own, and a row
/// one of them sealed before it died is found in its chain (ids are unique across chains).
async fn is_stored(store: &dyn AuditStore, id: uuid::Uuid) -> Result<bool, StoreError> {
    let page = store.query(&Query::new().id(id).limit(1)).await?;
    Ok(!page.events.is_empty())
}

/// The rows `stmt` reads, committed ones only. On MySQL/MariaDB in a read-only transaction of
/// its own at `READ COMMITTED`: a pool whose sessions default to `READ UNCOMMITTED` (a
/// server's `transaction_isolation`, a pool's own setting) would otherwise read the outbox rows
/// of a transaction still in flight in another process, and seal the events of a change that
/// may yet roll back. (PostgreSQL reads `READ UNCOMMITTED` as `READ COMMITTED`; SQLite reads
/// uncommitted rows only in shared-cache mode with `read_uncommitted`, which its driver does
/// not turn on.)
async fn committed_rows(
    conn: &(impl ConnectionTrait + TransactionTrait),
    stmt: Statement,
) -> Result<Vec<QueryResult>, DbErr> {
    if conn.get_database_backend() != DbBackend::MySql {
        return conn.query_all_raw(stmt).await;
    }
    let txn = conn.begin_with_config(Some(IsolationLevel::ReadCommitted), Some(AccessMode::ReadOnly)).await?;
    let rows = txn.query_all_raw(stmt).await?;
    txn.commit().await?;
    Ok(rows)
}

/// Seals every row older than `age`, in id (time) order, skipping events the store already
/// has, and deletes the rows. A row that cannot be sealed (not an event, an event the auditor
/// or the store refuses) is left in place and reported ([`Recovery::unsealable`]); the rows
/// after it are recovered all the same (a store that refuses every event, e.g. a JSONL store
/// of another chain, has every row reported). Errors that are not about one row (the
/// database, the store failing, an auditor shut down) end the recovery.
pub(crate) async fn recover(
    conn: &(impl ConnectionTrait + TransactionTrait),
    table: &str,
    auditor: &Auditor,
    policy: &RedactionPolicy,
    store: &dyn AuditStore,
    age: Duration,
) -> Result<Recovery, DbErr> {
    let backend = conn.get_database_backend();
    let cutoff = audit_core::Timestamp::now().unix_micros() - i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
    let mut report = Recovery::default();
    // Keyset paging: rows left in place are not read again.
    let mut after = String::new();
    loop {
        let sql = format!(
            "SELECT id, payload FROM {} WHERE ts_us <= {} AND id > {} ORDER BY id LIMIT {CHUNK}",
            quote(backend, table),
            placeholder(backend, 1),
            placeholder(backend, 2)
        );
        let values = [Value::BigInt(Some(cutoff)), Value::String(Some(after.clone()))];
        let rows = committed_rows(conn, Statement::from_sql_and_values(backend, sql, values)).await?;
        if rows.is_empty() {
            return Ok(report);
        }
        let mut done = Vec::with_capacity(rows.len());
        let mut waiting = Vec::new();
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let payload: String = row.try_get("", "payload")?;
            after.clone_from(&id);
            let event: OrmEvent = match serde_json::from_str(&payload) {
                Ok(event) => event,
                Err(e) => {
                    report.unsealable.push(Unsealable { id, reason: format!("the payload is not an event: {e}") });
                    continue;
                }
            };
            let stored = is_stored(store, event.id)
                .await
                .map_err(|e| outbox_error("cannot look the event up in the audit store", e))?;
            if stored {
                report.already_sealed += 1;
                done.push(id);
                continue;
            }
            // The event's actor and context are in the row: none of the caller's scope.
            // Marked as hidden if the connection's policy is still the one that hid it.
            let queued = audit_core::AuditScope::new().run(auditor.record_buffered(event.draft_for(policy)));
            match queued.await {
                Ok(ticket) => waiting.push((ticket, event.id, id)),
                Err(e @ RecordError::Invalid(_)) => report.unsealable.push(Unsealable { id, reason: e.to_string() }),
                Err(e) => return Err(outbox_error("cannot seal", e)),
            }
        }
        for (ticket, event_id, id) in waiting {
            match sealed(ticket, event_id, store).await {
                Ok(Sealed::Now) => report.sealed += 1,
                Ok(Sealed::Before) => report.already_sealed += 1,
                // The store refused this event for good (not for an id it holds: that is
                // `Sealed::Before`), e.g. a value its database cannot take: the row stays.
                Err(e @ RecordError::Rejected(_)) => {
                    report.unsealable.push(Unsealable { id, reason: e.to_string() });
                    continue;
                }
                Err(e) => return Err(outbox_error("cannot seal", e)),
            }
            done.push(id);
        }
        delete(conn, table, &done).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::{CHUNK, CHUNK_BYTES, OutboxRow, chunk_lens};

    fn rows(sizes: &[usize]) -> Vec<OutboxRow> {
        sizes.iter().map(|&n| OutboxRow { id: String::new(), payload: "x".repeat(n) }).collect()
    }

    fn lengths(rows: &[OutboxRow]) -> Vec<usize> {
        chunk_lens(rows)
    }

    #[test]
    fn inserts_are_cut_by_rows_and_by_bytes() {
        assert_eq!(lengths(&rows(&[])), Vec::<usize>::new());
        assert_eq!(lengths(&rows(&[10; 450])), [CHUNK, CHUNK, 50]);
        let third = CHUNK_BYTES / 3;
        assert_eq!(lengths(&rows(&[third; 7])), [3, 3, 1], "at most CHUNK_BYTES of payload each");
        // A row larger than the budget alone is an INSERT of its own; nothing is dropped.
        assert_eq!(lengths(&rows(&[10, CHUNK_BYTES + 1, 10])), [1, 1, 1]);
        let all = rows(&[third, CHUNK_BYTES * 2, 5, 5]);
        assert_eq!(chunk_lens(&all).iter().sum::<usize>(), all.len());
    }
}
