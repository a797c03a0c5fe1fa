//! [`SqlStore`]: the audit trail in PostgreSQL (the production store), SQLite (embedded) or
//! MySQL/MariaDB, through a SeaORM [`DatabaseConnection`].
//!
//! ```
//! use audit_core::store::AuditStore;
//! use audit_core::{Actor, Auditor, EventDraft};
//! use audit_seaorm::SqlStore;
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let url = format!("sqlite://{}", dir.path().join("audit.db").display());
//! let store = Arc::new(SqlStore::connect(&url).await.unwrap());
//! store.migrate().await.unwrap(); // idempotent: run it at every start
//!
//! let auditor = Auditor::builder(store.clone()).build();
//! auditor.record(EventDraft::new("login").actor(Actor::user("alice"))).await.unwrap();
//! auditor.shutdown().await;
//!
//! assert_eq!(store.head("default").await.unwrap().seq, 1);
//! let report = store.verify_chain("default").await.unwrap();
//! assert!(report.is_valid(), "{report}");
//! # });
//! ```
//!
//! # Schema
//!
//! [`SqlStore::migrate`] creates three tables with their indexes and triggers (on PostgreSQL also
//! two trigger functions, and the partitions if asked for) in the schema or database the
//! connection points at (on PostgreSQL, the first schema of `search_path`), and nothing else.
//!
//! `audit_events`, one row per event, primary key `(chain, seq)`:
//!
//! | column | PostgreSQL | SQLite | MySQL/MariaDB | value |
//! |---|---|---|---|---|
//! | `chain` | `TEXT COLLATE "C"` | `TEXT` | `VARCHAR(512)` | `chain` |
//! | `seq` | `BIGINT` | `INTEGER` | `BIGINT` | `seq` |
//! | `id` | `UUID`, unique | `TEXT`, unique | `CHAR(36)`, unique | `id` |
//! | `ts` | `TIMESTAMPTZ` | `TEXT` (SPEC form, sorts by time) | `DATETIME(6)` (UTC) | `ts` |
//! | `actor_id`, `actor_kind` | `TEXT COLLATE "C"` | `TEXT` | `MEDIUMTEXT`, `VARCHAR(16)` | `actor.id`, `actor.kind` |
//! | `action` | `TEXT COLLATE "C"` | `TEXT` | `MEDIUMTEXT` | `action` |
//! | `resource_type`, `resource_id` | `TEXT COLLATE "C"` | `TEXT` | `MEDIUMTEXT` | `resource.type`, `resource.id` |
//! | `outcome` | `TEXT COLLATE "C"` | `TEXT` | `VARCHAR(16)` | `outcome` |
//! | `request_id` | `TEXT COLLATE "C"` NULL | `TEXT` NULL | `MEDIUMTEXT` NULL | `context.request_id` |
//! | `tags` | `TEXT COLLATE "C"` NULL | `TEXT` NULL | `MEDIUMTEXT` NULL | the canonical JSON array of `tags`, e.g. `["break_glass","privileged"]` |
//! | `line` | `TEXT` | `TEXT` | `LONGTEXT` | the event's canonical line (SPEC §3), byte for byte |
//!
//! `line` is the event; every other column is a copy of a value inside it, kept for queries.
//! The text columns compare byte for byte on every backend (`COLLATE "C"` on PostgreSQL,
//! SQLite's default `BINARY`, a binary collation on MySQL): exact, and fast to sort and index.
//! It is text, never JSON/JSONB, so the stored bytes are exactly the hashed ones.
//! [`SqlStore::verify_chain`] checks the hashes and links of the lines and that every column
//! equals the value inside its line. Queries and reports read the events from `line`, and
//! check their filters against it again; two reports lean on columns beyond that (see
//! below).
//!
//! PostgreSQL's `text` cannot hold U+0000, so there a column holds each U+0000 of its value as
//! U+0001 (the line keeps the exact value, and the column check maps it the same way). Queries
//! stay exact, since they check every event against their filters, and so does the
//! `repeated_failures` report, which counts by column and then recounts from the lines the
//! groups where a column held U+0001 (an id with U+0000 and one spelled with U+0001 in that
//! place are counted apart). A chain name with U+0000 is refused there.
//!
//! Indexes, chosen to answer the auditors' questions with few and narrow indexes:
//!
//! | index | columns | serves |
//! |---|---|---|
//! | primary key | `(chain, seq)` | reading and verifying a chain; keyset paging |
//! | `audit_events_id` (SQLite, MySQL); the constraint `audit_events_id_key` on PostgreSQL, `(id, ts)` when partitioned | `(id)` unique | ids are unique (SPEC §2) |
//! | `audit_events_actor` | `(actor_id, ts)` | all actions by actor X in a period; GDPR subject access (as actor) |
//! | `audit_events_resource` | `(resource_id, resource_type, ts)` | who touched record Y in the last 90 days; the last change of a record; subject access (as resource), e.g. all exports for subject Z |
//! | `audit_events_privileged` | `(chain, seq, ts, outcome)` where `actor_kind IN ('admin','system') OR tags LIKE '%"privileged"%'` | privileged actions in a period; failed logins of privileged accounts |
//! | `audit_events_failed` | `(chain, seq, ts)` + `outcome`, `actor_kind`, `actor_id` where `outcome <> 'success'` | failures and denials in a period; repeated failures per actor |
//!
//! The last two are partial on PostgreSQL and SQLite: they hold only the few privileged or
//! failed events, so they cost little on insert. They are ordered as reports page,
//! `(chain, seq)`, with `ts` beside it: a report over the last quarter walks the index, skips
//! older entries without reading their rows, and reads only the rows it returns; the columns
//! the reports filter or count on are in the index too (on PostgreSQL `outcome`, `actor_kind`
//! and `actor_id` as `INCLUDE` columns), so a count of failures per actor reads no row at all.
//! MySQL has no partial indexes; there `audit_events` has two more columns, `privileged` and
//! `failed` (`TINYINT AS (<the predicate>) VIRTUAL`: computed by the database, never written),
//! and the indexes lead with them (`actor_id`, a text column, is left out). On MySQL the text
//! columns are indexed by prefix (191 characters of `actor_id` and `resource_id`), and the
//! tables use a binary NO PAD collation when the server has one (`utf8mb4_nopad_bin` on
//! MariaDB, `utf8mb4_0900_bin` on MySQL 8) so that comparisons and ordering are exact, byte
//! for byte. An actor id, action and resource type and id are at most
//! [`audit_core::MAX_INDEXED_FIELD_BYTES`] long, so that every index can hold them.
//! `request_id` is a column without an index.
//!
//! `audit_chain_heads`, one row per chain: `chain` (primary key), `seq` and `hash` of its last
//! event (`0` and 64 zeros when created). An append locks this row, so two writers, even in two
//! processes, can never fork a chain.
//!
//! `audit_merkle_nodes`, primary key `(chain, level, idx)`, `hash` (64 hex digits): the Merkle
//! hash (SPEC §4) of every complete subtree of 64 leaves or more, written by the append that
//! completes it (about one row per 32 events). Tree heads, checkpoints and inclusion and
//! consistency proofs ([`audit_core::proof`]) then cost a few small reads at any chain length;
//! subtrees under 64 leaves are computed from their events. These hashes only build proofs;
//! nothing is verified with them (see [`AuditStore::merkle_nodes`]).
//!
//! # Queries and reports
//!
//! | the auditor asks | call |
//! |---|---|
//! | all actions by actor X in a period | [`AuditStore::query`] with `Query::new().actor("x").between(since, until)` |
//! | who accessed or touched record Y in the last 90 days (HIPAA, GDPR) | [`SqlStore::access_report`] |
//! | privileged actions (SOC 2, PCI DSS) | [`SqlStore::privileged_actions`] |
//! | failed logins of privileged accounts | [`SqlStore::privileged_actions`] with `.action("login").outcomes([Failure, Denied])` |
//! | actors with repeated failures (PCI DSS) | [`SqlStore::repeated_failures`] |
//! | when was this record last modified, and what was the previous value | [`SqlStore::last_change`] |
//! | every event about a data subject, e.g. all exports of their data (GDPR Art. 15) | [`SqlStore::subject_events`] |
//! | is the stored trail intact | [`SqlStore::verify_chain`], [`SqlStore::verify_all`] |
//! | the same, for an auditor's tool that must write nothing | [`SqlStore::connect_read_only`], [`SqlStore::check_schema`], [`SqlStore::verify_chain_with_progress`] |
//!
//! Results come in `(chain, seq)` order, a page at a time ([`QueryPage::next`] continues).
//! Each event is read from its line and checked against the filter again, so an edited column
//! can hide an event from a query (which verification then reports) but never make a query
//! return a wrong one. Two reports answer from columns beyond their filters: `repeated_failures`
//! counts by the `actor_id` and `outcome` columns, and `last_change` takes the latest change by
//! the `ts` column. An edited column can change their answer (count failures an actor did not
//! have, or pass over the last change for an earlier one); [`SqlStore::verify_chain`] reports
//! every such edit, so verify the chain before relying on a report as evidence.
//!
//! # Append-only, enforced by the database
//!
//! Triggers refuse `UPDATE` and `DELETE` on `audit_events` on all three backends, and `TRUNCATE`
//! on PostgreSQL (on each partition too). On SQLite an `INSERT` that would replace an event (by
//! `INSERT OR REPLACE`, which fires no delete trigger) is refused as well. A chain head may only
//! move forward: a trigger refuses lowering its `seq`, changing its hash in place, and deleting
//! it; on SQLite also giving its row another rowid (`UPDATE OR REPLACE` would delete the head
//! row holding that rowid) or a `seq` that is not an integer, and on MySQL setting a column to
//! NULL (which a session without strict mode would store as `0` or `''`). A database superuser
//! can still disable triggers and rewrite rows: such edits are found by [`SqlStore::verify_chain`]
//! (edited lines break the hash chain, edited columns are named with their `seq`), and signed
//! checkpoints kept elsewhere catch a rewrite of the whole chain.
//! On PostgreSQL run the application as a role that may only insert and select (see
//! [`postgres_least_privilege_sql`]); on MySQL grant it `SELECT, INSERT` on `audit_events` and
//! `SELECT, INSERT, UPDATE` on `audit_chain_heads`, `SELECT, INSERT` on `audit_merkle_nodes`,
//! and no `DROP` (which `TRUNCATE` needs).
//! SQLite has no users: anyone who can write the file can change it; verification finds it.
//!
//! # PostgreSQL least privilege
//!
//! ```sql
//! -- as the owner of the tables, after SqlStore::migrate:
//! CREATE ROLE audit_app LOGIN PASSWORD '…';
//! GRANT USAGE ON SCHEMA "audit" TO "audit_app";
//! GRANT SELECT, INSERT ON "audit".audit_events TO "audit_app";
//! GRANT SELECT, INSERT, UPDATE (seq, hash) ON "audit".audit_chain_heads TO "audit_app";
//! GRANT SELECT, INSERT ON "audit".audit_merkle_nodes TO "audit_app";
//! ```
//!
//! [`postgres_least_privilege_sql`] writes the grants for any schema and role. The application
//! then connects as `audit_app` and uses [`SqlStore::new`] without calling `migrate`.
//!
//! # Monthly partitions (PostgreSQL)
//!
//! [`SqlStore::with_monthly_partitions`] makes `migrate` create `audit_events` partitioned by
//! range of `ts`, one partition per month (`audit_events_y2026m11`, …) from the current month to
//! `months_ahead` months later, plus `audit_events_default` for anything outside them. Call
//! [`SqlStore::ensure_partitions`] (as the owner) at least once a month to keep creating them
//! ahead of time: a month's partition cannot be created once the default partition holds rows of
//! that month, so such a month (an event dated beyond the partitions made, by a device's clock,
//! say) keeps its events in the default partition and gets none. Old months could be detached
//! and archived as whole tables, but know what that does: a detached table keeps none of the
//! append-only triggers, and `verify_chain`, `read` and the CLI start a chain at seq 1, so the
//! chain no longer verifies in the database (it reports the first missing seq). Before
//! detaching, verify the chain, export it (`audit-trail export`) and keep a signed checkpoint
//! of its size then, where the archive is kept.
//!
//! PostgreSQL requires every unique constraint of a partitioned table to include the partition
//! key, so a partitioned `audit_events` has primary key `(chain, seq, ts)` and unique `(id, ts)`.
//! The store still never writes two events at one `(chain, seq)`: every append takes the chain's
//! head row under lock and writes exactly the seqs after it, and verification (and `read`,
//! which exports hand on) reads every row, so it reports any repeated or missing seq (a second
//! row written at a seq by a role that may insert, for one). Partitioning is chosen when the table is first created.
//!
//! For the same reason the table itself refuses an event whose id is stored already only if
//! it has the same `ts`, so the store looks up, under the chain's head lock, the ids of a
//! batch that the writer did not pick (given with
//! [`EventDraft::with_id`](audit_core::EventDraft::with_id), as an idempotency key on a
//! client's retry with a new time) and refuses those stored already, as on an unpartitioned
//! table. An id the writer picks is a new UUIDv7 of its event's millisecond and is not looked
//! up, nor is a given UUIDv7 whose millisecond is the event's own (so one given id recorded
//! twice within that very millisecond is not caught). Two chains appending one given id at
//! the same moment could both store it (each chain still verifies).
//!
//! # Concurrency
//!
//! An append is one transaction (`BEGIN IMMEDIATE` on SQLite, which takes the database's write
//! lock): the batch is checked ([`check_batch`]); a compare-and-set `UPDATE` moves the chain's
//! head row from the expected head to the batch's last event, holding the row's lock until the
//! transaction ends ([`AppendError::Conflict`] with the actual head if another writer moved it
//! first); the events go in multi-row `INSERT`s, the Merkle subtrees they complete after them;
//! commit. On PostgreSQL a batch of up to 64 events to an existing chain is all of this in one
//! statement, its own transaction: the `UPDATE … RETURNING` and the inserts as `WITH` parts,
//! the inserts gated on the update having moved the head (one round trip instead of four). The
//! head row of a new chain is created inside the transaction with `INSERT … ON CONFLICT DO
//! NOTHING` (PostgreSQL) or `INSERT IGNORE` (MySQL; on SQLite the write lock already
//! serializes it), so that of two processes creating it at once only one succeeds and the
//! other gets a conflict.
//!
//! SQLite's pool has one connection by default; [`SqlStore::connect`] keeps it so and turns on
//! WAL. Reads ([`AuditStore::read`], queries, verification) fetch pages by primary key and never
//! hold a connection between pages, so they do not block writers for long.

mod checkpoints;
mod error;
mod merkle;
mod query;
mod read_only;
mod schema;
mod sql;
mod verify;

pub use checkpoints::SqlCheckpointSink;
pub use error::SqlStoreError;
pub use query::{DataSubject, FailureSummary, LastChange, ReportFilter};
pub use schema::postgres_least_privilege_sql;
pub use verify::{ColumnMismatch, StoreVerifyReport};

use audit_core::SealedEvent;
use audit_core::merkle::Digest;
use audit_core::store::{AppendError, AuditStore, Head, LineStream, Query, QueryPage, StoreError, check_batch};
use futures_util::Stream;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseConnectionType, DatabaseTransaction,
    DbBackend, DbErr, RuntimeErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sql::{Dialect, EVENTS, HEADS, MAX_INSERT_ROWS, NODES, Sql};
use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

/// Rows fetched per query when reading a chain (the default of
/// [`SqlStore::with_read_page_size`]).
pub const DEFAULT_READ_PAGE: usize = 5000;

/// Rows the SQLite driver's worker thread may queue for the reading task
/// (`SqliteConnectOptions::row_buffer_size`; the driver's default is 50). A page of
/// [`DEFAULT_READ_PAGE`] rows then crosses between the threads with few wake-ups: store
/// verification of 200k events went from 73–77k to 78–100k events/s (BENCHMARKS.md). Set it on
/// connection options of your own with `ConnectOptions::map_sqlx_sqlite_opts`.
pub const SQLITE_ROW_BUFFER: usize = DEFAULT_READ_PAGE;

/// Largest total of canonical line bytes in one multi-row `INSERT` (keeps a statement of
/// several rows well under MySQL's default `max_allowed_packet` of 16 MiB; a single row that
/// cannot fit the server's packet is refused: [`SqlStore::check_packet_size`]).
const MAX_INSERT_BYTES: usize = 4 << 20;

/// The longest chain name on MySQL/MariaDB, in characters (the column is `VARCHAR(512)`): a
/// sort the server does itself (when a query reads another index) compares only the first
/// `max_sort_length` bytes of the strings' sort keys, 1024 by default and up to 4 bytes a
/// character, so two longer names sharing those would sort as one chain and paging would
/// skip events.
const MYSQL_MAX_CHAIN_CHARS: usize = 255;

/// The longest chain name on PostgreSQL, in bytes: the chain is part of B-tree keys (the
/// heads, the events, the Merkle nodes), whose entries take at most 2704 bytes, and
/// `audit_events_failed` holds it beside an actor id of up to
/// [`audit_core::MAX_INDEXED_FIELD_BYTES`] (1024), its outcome, kind, `seq` and `ts`.
const POSTGRES_MAX_CHAIN_BYTES: usize = 1500;

/// An [`AuditStore`] in PostgreSQL, SQLite or MySQL/MariaDB. Cheap to clone (the connection
/// pool is shared).
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: DatabaseConnection,
    dialect: Dialect,
    months_ahead: Option<u32>,
    page_size: usize,
    /// Per chain, the leaf hashes of its last incomplete Merkle block (see [`merkle`]).
    partial_blocks: Arc<Mutex<HashMap<String, merkle::PartialBlock>>>,
    /// MySQL: the server's `max_allowed_packet`, read at the first append.
    mysql_packet: Arc<OnceLock<usize>>,
    /// PostgreSQL: whether `audit_events` is partitioned, read at the first append of an
    /// event with an id of its own (see [`SqlStore::ids_to_look_up`]).
    postgres_partitioned: Arc<OnceLock<bool>>,
}

impl SqlStore {
    /// A store over an open connection (pool). Does not touch the database: call
    /// [`SqlStore::migrate`] once (as the schema owner) before the first append.
    pub fn new(db: DatabaseConnection) -> Result<SqlStore, SqlStoreError> {
        if matches!(db.inner, DatabaseConnectionType::Disconnected) {
            return Err(SqlStoreError::UnsupportedBackend("a disconnected DatabaseConnection".to_string()));
        }
        let dialect = match db.get_database_backend() {
            DbBackend::Postgres => Dialect::Postgres,
            DbBackend::MySql => Dialect::MySql,
            DbBackend::Sqlite => Dialect::Sqlite,
            other => return Err(SqlStoreError::UnsupportedBackend(format!("{other:?}"))),
        };
        Ok(SqlStore {
            db,
            dialect,
            months_ahead: None,
            page_size: DEFAULT_READ_PAGE,
            partial_blocks: Arc::default(),
            mysql_packet: Arc::default(),
            postgres_partitioned: Arc::default(),
        })
    }

    /// Connects to `url` (`postgres://…`, `mysql://…`, `sqlite://PATH`) and makes a store.
    ///
    /// For SQLite the file is created if missing, the journal is switched to WAL (readers do
    /// not block the writer), a writer waits up to 30 s for another process's write lock, and
    /// the driver may hand over a whole page of rows at once ([`SQLITE_ROW_BUFFER`]).
    /// Statement logging is off (event lines would flood the log). A pooled connection is
    /// pinged before use only after 30 s idle, not before every append (a ping is a round trip
    /// on the append's critical path; a connection that died is still found, by the append's
    /// error, and the writer retries).
    pub async fn connect(url: &str) -> Result<SqlStore, SqlStoreError> {
        let mut options = ConnectOptions::new(url);
        options.sqlx_logging(false).test_before_acquire_if_idle_for(Duration::from_secs(30));
        if url.starts_with("sqlite:") {
            options.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(30))
                    .row_buffer_size(SQLITE_ROW_BUFFER)
            });
        }
        let db = Database::connect(options).await.map_err(connect_error("connect to", url))?;
        SqlStore::new(db)
    }

    /// Makes [`SqlStore::migrate`] create the events table partitioned by month on PostgreSQL,
    /// with partitions from the current month to `months_ahead` months later (see the module
    /// docs). Ignored on SQLite and MySQL.
    pub fn with_monthly_partitions(mut self, months_ahead: u32) -> SqlStore {
        self.months_ahead = Some(months_ahead);
        self
    }

    /// Rows per query when reading or verifying a chain (default [`DEFAULT_READ_PAGE`]; at
    /// least 1). Memory use is about this many events.
    pub fn with_read_page_size(mut self, rows: usize) -> SqlStore {
        self.page_size = rows.max(1);
        self
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The kind of database.
    pub fn backend(&self) -> DbBackend {
        self.dialect.backend()
    }

    /// Creates the tables, indexes and triggers that are missing (and, with monthly
    /// partitions, the partitions due), and stores the Merkle subtree hashes of events that
    /// lack them (a store made by an earlier version: this reads each such chain once, under
    /// its head lock; a chain whose head row is malformed, edited behind the store's back, is
    /// passed over and left to [`SqlStore::verify_chain`] to report); safe to run at every start and from several processes at once. Needs the rights to create tables and triggers (the schema owner, not the
    /// least-privilege application role).
    pub async fn migrate(&self) -> Result<(), SqlStoreError> {
        let txn = match self.dialect {
            Dialect::Sqlite => self.begin_immediate("migrate").await?,
            Dialect::Postgres | Dialect::MySql => {
                self.db.begin().await.map_err(SqlStoreError::db("migrate: begin a transaction"))?
            }
        };
        match schema::migrate(&txn, self.dialect, self.months_ahead, chrono::Utc::now()).await {
            Ok(()) => txn.commit().await.map_err(SqlStoreError::db("migrate: commit"))?,
            Err(e) => {
                rollback(txn).await;
                return Err(e);
            }
        }
        schema::check_columns(&self.db, self.dialect).await?;
        if self.dialect == Dialect::Sqlite {
            // SQLite plans without statistics until someone runs ANALYZE, and then picks poor
            // indexes for the reports (a failures count over 1M events: 550 ms instead of
            // 30 ms). This gathers them for tables and indexes that have none or stale ones;
            // it does nothing when they are current.
            self.db
                .execute_unprepared("PRAGMA optimize=0x10002")
                .await
                .map_err(SqlStoreError::db("migrate: gather SQLite's planner statistics (PRAGMA optimize)"))?;
        }
        self.backfill_merkle_nodes().await
    }

    /// On PostgreSQL with a partitioned events table: creates the monthly partitions from the
    /// current month to `months_ahead` months later that are missing (see the module docs).
    /// Does nothing on an unpartitioned table or another database. Run it as the owner.
    ///
    /// Appends wait while it runs (it locks the events table against writes, reads go on),
    /// and it waits for appends in flight: an event stored meanwhile into a month it makes
    /// would otherwise make the creation fail. `migrate` does the same on a partitioned table.
    pub async fn ensure_partitions(&self, months_ahead: u32) -> Result<(), SqlStoreError> {
        if self.dialect != Dialect::Postgres || !schema::postgres_is_partitioned(&self.db).await? {
            return Ok(());
        }
        let txn = self.db.begin().await.map_err(SqlStoreError::db("create partitions: begin a transaction"))?;
        let created = async {
            schema::take_migration_lock(&txn).await?;
            schema::ensure_partitions(&txn, months_ahead, chrono::Utc::now()).await
        };
        match created.await {
            Ok(()) => txn.commit().await.map_err(SqlStoreError::db("create partitions: commit")),
            Err(e) => {
                rollback(txn).await;
                Err(e)
            }
        }
    }

    /// Every chain with its head, by name: the chains with a head row (a chain whose row was
    /// deleted behind the store's back is not listed; [`SqlStore::verify_all`] also finds
    /// chains by their events).
    pub async fn chains(&self) -> Result<Vec<(String, Head)>, SqlStoreError> {
        let sql = format!("SELECT chain, seq, hash FROM {HEADS} ORDER BY chain");
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(self.backend(), sql))
            .await
            .map_err(SqlStoreError::db(format!("list chains ({HEADS})")))?;
        rows.iter()
            .map(|row| {
                let chain: String = row.try_get_by_index(0).map_err(SqlStoreError::db("list chains"))?;
                let head = head_at(row, &chain, 1)?;
                Ok((chain, head))
            })
            .collect()
    }

    /// The names of the chains that have a head row, in order, without reading the heads
    /// (one edited into something malformed does not hide the others, as it fails
    /// [`SqlStore::chains`]).
    pub async fn chain_names(&self) -> Result<Vec<String>, SqlStoreError> {
        let sql = format!("SELECT chain FROM {HEADS} ORDER BY chain");
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(self.backend(), sql))
            .await
            .map_err(SqlStoreError::db(format!("list chains ({HEADS})")))?;
        rows.iter().map(|row| row.try_get_by_index(0).map_err(SqlStoreError::db("list chains"))).collect()
    }

    async fn begin_immediate(&self, what: &str) -> Result<DatabaseTransaction, SqlStoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        self.db.begin_with_options(options).await.map_err(SqlStoreError::db(format!(
            "{what}: begin an immediate transaction (BEGIN IMMEDIATE); if the database is busy, another process \
             holds its write lock"
        )))
    }

    /// The chain's head, read in `conn` (locked with `FOR UPDATE` when `lock`).
    async fn select_head(
        &self,
        conn: &impl ConnectionTrait,
        chain: &str,
        lock: bool,
    ) -> Result<Option<Head>, SqlStoreError> {
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT seq, hash FROM {HEADS} WHERE chain = ")).bind_chain(chain);
        if lock {
            sql.push(" FOR UPDATE");
        }
        let what = if lock { "lock the chain head (SELECT … FOR UPDATE)" } else { "read the chain head" };
        let row = conn
            .query_one_raw(sql.build())
            .await
            .map_err(SqlStoreError::db(format!("chain {chain:?}: {what} in {HEADS}")))?;
        row.map(|row| head_at(&row, chain, 0)).transpose()
    }

    fn check_chain_name(&self, chain: &str) -> Result<(), SqlStoreError> {
        if self.dialect == Dialect::Postgres && chain.len() > POSTGRES_MAX_CHAIN_BYTES {
            return Err(SqlStoreError::InvalidInput(format!(
                "chain names are at most {POSTGRES_MAX_CHAIN_BYTES} bytes on PostgreSQL (a B-tree index entry takes \
                 at most 2704); {chain:?} is longer: choose a shorter chain name"
            )));
        }
        if self.dialect == Dialect::Postgres && chain.contains('\0') {
            // Stored as U+0001 (sql::postgres_text), it would share a head row with the chain
            // spelled with U+0001.
            return Err(SqlStoreError::InvalidInput(format!(
                "PostgreSQL cannot store U+0000 in a chain name; {chain:?} has one: choose a chain name without it"
            )));
        }
        if self.dialect != Dialect::MySql {
            return Ok(());
        }
        if chain.chars().count() > MYSQL_MAX_CHAIN_CHARS {
            return Err(SqlStoreError::InvalidInput(format!(
                "chain names are at most {MYSQL_MAX_CHAIN_CHARS} characters on MySQL; {chain:?} is longer: choose a \
                 shorter chain name"
            )));
        }
        if chain.ends_with(' ') {
            // Without a NO PAD collation (MySQL 5.7) "a" and "a " would be one chain.
            return Err(SqlStoreError::InvalidInput(format!(
                "chain {chain:?} ends with a space, which MySQL may ignore when comparing: choose a chain name \
                 without trailing spaces"
            )));
        }
        Ok(())
    }

    /// Begins the append transaction with the chain's head row locked; creates the row first
    /// for a new chain.
    async fn lock_head(&self, chain: &str) -> Result<(DatabaseTransaction, Head), SqlStoreError> {
        if self.dialect == Dialect::Sqlite {
            let txn = self.begin_immediate(&format!("append to chain {chain:?}")).await?;
            let head = match self.select_head(&txn, chain, false).await {
                Ok(Some(head)) => head,
                Ok(None) => match self.insert_head_row(&txn, chain).await {
                    Ok(()) => Head::EMPTY,
                    Err(e) => {
                        rollback(txn).await;
                        return Err(e);
                    }
                },
                Err(e) => {
                    rollback(txn).await;
                    return Err(e);
                }
            };
            return Ok((txn, head));
        }
        for _ in 0..3 {
            let txn = self
                .db
                .begin()
                .await
                .map_err(SqlStoreError::db(format!("append to chain {chain:?}: begin a transaction")))?;
            match self.select_head(&txn, chain, true).await {
                Ok(Some(head)) => return Ok((txn, head)),
                Ok(None) => {
                    rollback(txn).await;
                    // Outside the transaction: two processes creating it at once both succeed.
                    self.insert_head_row(&self.db, chain).await?;
                }
                Err(e) => {
                    rollback(txn).await;
                    return Err(e);
                }
            }
        }
        Err(SqlStoreError::Corrupt(format!(
            "the head row of chain {chain:?} in {HEADS} was created but cannot be found"
        )))
    }

    /// Inserts the head row of an empty chain unless it exists.
    async fn insert_head_row(&self, conn: &impl ConnectionTrait, chain: &str) -> Result<(), SqlStoreError> {
        let zeros = audit_core::EventHash::ZERO.to_string();
        let mut sql = Sql::new(self.dialect);
        match self.dialect {
            Dialect::Postgres => sql.push(&format!("INSERT INTO {HEADS} (chain, seq, hash) VALUES (")),
            Dialect::MySql => sql.push(&format!("INSERT IGNORE INTO {HEADS} (chain, seq, hash) VALUES (")),
            // Inside the immediate transaction: nobody else can insert it meanwhile.
            Dialect::Sqlite => sql.push(&format!("INSERT INTO {HEADS} (chain, seq, hash) VALUES (")),
        };
        sql.bind_chain(chain).push(", 0, ").bind(zeros).push(")");
        if self.dialect == Dialect::Postgres {
            sql.push(" ON CONFLICT (chain) DO NOTHING");
        }
        conn.execute_raw(sql.build())
            .await
            .map(|_| ())
            .map_err(SqlStoreError::db(format!("create the head row of chain {chain:?} in {HEADS}")))
    }

    async fn append_batch(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let store_error = |e: SqlStoreError| AppendError::Store(e.into());
        // A name the store cannot take is refused for good: retrying cannot help.
        self.check_chain_name(chain)
            .map_err(|e| AppendError::Rejected { events: Vec::new(), reason: e.to_string() })?;
        let head = check_batch(chain, expected, batch)?;
        // A time in a leap second (`23:59:60`, which another writer's line may hold; this
        // crate's writer refuses it) cannot be kept by the `ts` column (PostgreSQL moves it to
        // the next second): the column would differ from the line, and the event be missed by
        // queries of its period.
        let leap: Vec<uuid::Uuid> =
            batch.iter().filter(|event| event.event.ts.is_leap_second()).map(|event| event.event.id).collect();
        if !leap.is_empty() {
            return Err(AppendError::Rejected {
                events: leap,
                reason: "its time is in a leap second (23:59:60), which the SQL store's ts column cannot keep".into(),
            });
        }
        if self.dialect == Dialect::MySql {
            self.check_packet_size(batch).await?;
        }
        if batch.is_empty() {
            let actual = self.select_head(&self.db, chain, false).await.map_err(store_error)?.unwrap_or(Head::EMPTY);
            return if actual == expected { Ok(head) } else { Err(AppendError::Conflict { expected, actual }) };
        }
        let look_up = self.ids_to_look_up(batch).await.map_err(store_error)?;
        if self.dialect == Dialect::Postgres
            && look_up.is_empty()
            && expected != Head::EMPTY
            && batch.len() <= EXACT_INSERT_ROWS
        {
            return match self.append_in_one_statement(chain, expected, head, batch).await {
                Ok(Ok(head)) => Ok(head),
                Ok(Err(actual)) => Err(AppendError::Conflict { expected, actual }),
                Err(e) => Err(self.refusal_or(e, batch).await),
            };
        }
        let txn = match self.move_head(chain, expected, head).await.map_err(store_error)? {
            Ok(txn) => txn,
            Err(actual) => return Err(AppendError::Conflict { expected, actual }),
        };
        if !look_up.is_empty() {
            // Under the head row's lock: no other append of this chain can store them now.
            match self.stored_ids(&txn, look_up.into_iter()).await {
                Ok(taken) if taken.is_empty() => {}
                Ok(taken) => {
                    rollback(txn).await;
                    return Err(AppendError::Rejected {
                        events: taken,
                        reason: "an event with this id is already stored".into(),
                    });
                }
                Err(e) => {
                    rollback(txn).await;
                    return Err(store_error(e));
                }
            }
        }
        if let Err(e) = self.insert_batch(&txn, chain, expected, batch).await {
            rollback(txn).await;
            return Err(self.refusal_or(e, batch).await);
        }
        txn.commit().await.map_err(|e| {
            store_error(SqlStoreError::Database {
                context: format!(
                    "append to chain {chain:?}: commit seq {}..={} (the batch may or may not be written)",
                    expected.seq + 1,
                    head.seq
                ),
                source: e,
            })
        })?;
        Ok(head)
    }

    /// MySQL: refuses for good the events of `batch` whose row cannot fit in one packet
    /// (`max_allowed_packet`, 16 MiB by default on MariaDB, 64 MiB on MySQL 8): the server
    /// refuses such a statement, or drops the connection, whatever the retries.
    async fn check_packet_size(&self, batch: &[SealedEvent]) -> Result<(), AppendError> {
        // The row holds the line, the tags and the request id again (each at most as long),
        // and the other columns (each at most MAX_INDEXED_FIELD_BYTES, or short).
        const OTHER_COLUMNS: usize = 16 << 10;
        let Some(longest) = batch.iter().map(|e| e.line.len()).max() else { return Ok(()) };
        let packet = match self.mysql_packet.get() {
            Some(packet) => *packet,
            None => {
                let row = self
                    .db
                    .query_one_raw(sea_orm::Statement::from_string(
                        self.dialect.backend(),
                        "SELECT @@max_allowed_packet",
                    ))
                    .await
                    .map_err(|e| AppendError::Store(SqlStoreError::db("read max_allowed_packet")(e).into()))?;
                // BIGINT UNSIGNED on MySQL, BIGINT on some servers; the default if unreadable.
                let packet = row
                    .and_then(|row| {
                        row.try_get_by_index::<u64>(0)
                            .ok()
                            .or_else(|| row.try_get_by_index::<i64>(0).ok().and_then(|v| u64::try_from(v).ok()))
                    })
                    .and_then(|packet| usize::try_from(packet).ok())
                    .unwrap_or(16 << 20);
                *self.mysql_packet.get_or_init(|| packet)
            }
        };
        if 2 * longest + OTHER_COLUMNS <= packet {
            return Ok(());
        }
        let too_long: Vec<uuid::Uuid> = batch
            .iter()
            .filter(|e| {
                let tags = sql::tags_column(&e.event.tags).map_or(0, |tags| tags.len());
                let request_id = e.event.context.request_id.as_ref().map_or(0, String::len);
                e.line.len() + tags + request_id + OTHER_COLUMNS > packet
            })
            .map(|e| e.event.id)
            .collect();
        if too_long.is_empty() {
            return Ok(());
        }
        Err(AppendError::Rejected {
            events: too_long,
            reason: format!(
                "its row does not fit in one packet of this MySQL server (max_allowed_packet is {packet} bytes): raise \
                 max_allowed_packet on the server, or lower the auditor's max_event_bytes"
            ),
        })
    }

    /// What an append that failed with `error` tells the writer. If the database itself
    /// refused the statement (so nothing of it was written) and the table already has some of
    /// the batch's ids, the refusal is for good ([`AppendError::Rejected`] of those events: a
    /// unique index refused them, or on SQLite the trigger that forbids replacing an event).
    /// If it refused a value ([`refuses_a_value`]), [`AppendError::RefusedValue`]: the writer
    /// narrows it down to the events at fault. Otherwise the error, to be retried.
    async fn refusal_or(&self, error: SqlStoreError, batch: &[SealedEvent]) -> AppendError {
        let SqlStoreError::Database {
            source: DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)),
            ..
        } = &error
        else {
            return AppendError::Store(error.into());
        };
        let sea_orm::sqlx::Error::Database(refusal) = &**e else { return AppendError::Store(error.into()) };
        if let Ok(taken) = self.stored_ids(&self.db, batch.iter()).await
            && !taken.is_empty()
        {
            return AppendError::Rejected { events: taken, reason: "an event with this id is already stored".into() };
        }
        if refuses_a_value(self.dialect, refusal.as_ref()) {
            return AppendError::RefusedValue { reason: error.to_string() };
        }
        AppendError::Store(error.into())
    }

    /// PostgreSQL with a partitioned events table: the events of `batch` whose id may be
    /// stored already with another `ts`, which the table's unique `(id, ts)` cannot refuse.
    /// Those are ids given with the draft ([`audit_core::EventDraft::with_id`]): an id the
    /// writer picks is a new UUIDv7 of the millisecond of the event's `ts`, so such ids (a
    /// given one of the event's own millisecond too) need no look-up. Empty elsewhere.
    async fn ids_to_look_up<'a>(&self, batch: &'a [SealedEvent]) -> Result<Vec<&'a SealedEvent>, SqlStoreError> {
        if self.dialect != Dialect::Postgres {
            return Ok(Vec::new());
        }
        let given: Vec<&SealedEvent> = batch.iter().filter(|event| !id_of_its_own_time(&event.event)).collect();
        if given.is_empty() {
            return Ok(given);
        }
        let partitioned = match self.postgres_partitioned.get() {
            Some(partitioned) => *partitioned,
            None => match schema::postgres_layout(&self.db).await? {
                schema::PgLayout::Partitioned => *self.postgres_partitioned.get_or_init(|| true),
                schema::PgLayout::Plain => *self.postgres_partitioned.get_or_init(|| false),
                // The append will say what is missing.
                schema::PgLayout::Missing => false,
            },
        };
        Ok(if partitioned { given } else { Vec::new() })
    }

    /// Which of the events' ids the events table has (in any chain: ids are unique).
    async fn stored_ids<'a>(
        &self,
        conn: &impl ConnectionTrait,
        events: impl Iterator<Item = &'a SealedEvent>,
    ) -> Result<Vec<uuid::Uuid>, SqlStoreError> {
        let column = if self.dialect == Dialect::Postgres { "id::text" } else { "id" };
        let events: Vec<&SealedEvent> = events.collect();
        let mut taken = Vec::new();
        for chunk in events.chunks(500) {
            let mut sql = Sql::new(self.dialect);
            sql.push(&format!("SELECT {column} FROM {EVENTS} WHERE id IN "))
                .bind_list(chunk.iter().map(|event| sql::id_value(self.dialect, event.event.id)));
            let rows = conn.query_all_raw(sql.build()).await.map_err(SqlStoreError::db("look up stored ids"))?;
            for row in rows {
                let id: String = row.try_get_by_index(0).map_err(SqlStoreError::db("look up stored ids"))?;
                if let Ok(id) = uuid::Uuid::parse_str(&id) {
                    taken.push(id);
                }
            }
        }
        Ok(taken)
    }

    /// The append of a batch of up to [`EXACT_INSERT_ROWS`] events to an existing chain on
    /// PostgreSQL, as one statement (one round trip, its own transaction): the compare-and-set
    /// of the head, then, only if it moved, the events' and the completed subtrees' inserts,
    /// as data-modifying `WITH` parts of one statement.
    ///
    /// A concurrent append that moved the head first makes the `UPDATE` match no row (under
    /// READ COMMITTED it waits for the other's commit, then re-checks the row), so nothing is
    /// inserted: `Ok(Err(actual))`. The Merkle subtrees the batch completes are worked out
    /// before, with reads of older leaves or nodes if needed (these never change once written).
    ///
    /// Events and nodes are padded to a power of two of rows with NULL rows that are filtered
    /// out, so that the statement takes few shapes and stays prepared on each connection.
    async fn append_in_one_statement(
        &self,
        chain: &str,
        expected: Head,
        new: Head,
        batch: &[SealedEvent],
    ) -> Result<Result<Head, Head>, SqlStoreError> {
        let nodes = self.merkle_nodes_completed_by(&self.db, chain, expected, batch).await?;
        let mut sql = Sql::new(self.dialect);
        sql.push("WITH head AS (");
        push_move_head(&mut sql, chain, expected, new)?;
        sql.push(" RETURNING 1), ");
        let columns = sql::COLUMNS.join(", ");
        sql.push(&format!("events AS (INSERT INTO {EVENTS} ({columns}) SELECT * FROM (VALUES "));
        for (i, event) in batch.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql::push_event_values(self.dialect, event, &mut sql)?;
        }
        for _ in batch.len()..batch.len().next_power_of_two() {
            sql.push(", ");
            sql::push_null_event_values(&mut sql);
        }
        sql.push(&format!(") AS v ({columns}) WHERE v.chain IS NOT NULL AND EXISTS (SELECT 1 FROM head))"));
        if !nodes.is_empty() {
            sql.push(&format!(", nodes AS (INSERT INTO {NODES} (chain, level, idx, hash) SELECT * FROM (VALUES "));
            merkle::push_node_rows(&mut sql, chain, &nodes)?;
            for _ in nodes.len()..nodes.len().next_power_of_two() {
                sql.push(", ");
                merkle::push_null_node_row(&mut sql);
            }
            sql.push(
                ") AS n (chain, level, idx, hash) WHERE n.chain IS NOT NULL AND EXISTS (SELECT 1 FROM head) \
                 ON CONFLICT DO NOTHING)",
            );
        }
        sql.push(" SELECT count(*) FROM head");
        let what = || {
            format!(
                "append to chain {chain:?}: seq {}..={} in one statement (the batch may or may not be written)",
                expected.seq + 1,
                new.seq
            )
        };
        let row = self.db.query_one_raw(sql.build()).await.map_err(SqlStoreError::db(what()))?;
        let moved: i64 = match row {
            Some(row) => row.try_get_by_index(0).map_err(SqlStoreError::db(what()))?,
            None => 0,
        };
        match moved {
            1 => Ok(Ok(new)),
            0 => Ok(Err(self.select_head(&self.db, chain, false).await?.unwrap_or(Head::EMPTY))),
            n => Err(SqlStoreError::Corrupt(format!("chain {chain:?} has {n} head rows in {HEADS}, not 1"))),
        }
    }

    /// Begins the append transaction and, in it, moves the chain's head from `expected` to
    /// `new` with a compare-and-set `UPDATE` (which holds the head row's lock until the
    /// transaction ends, so no other writer can append meanwhile); creates the head row of a
    /// new chain at `new`. `Ok(Err(actual))` when the head is not at `expected`.
    ///
    /// One statement instead of a locking read and a later update: an append is `BEGIN`, this,
    /// the inserts and `COMMIT`.
    async fn move_head(
        &self,
        chain: &str,
        expected: Head,
        new: Head,
    ) -> Result<Result<DatabaseTransaction, Head>, SqlStoreError> {
        let txn = match self.dialect {
            Dialect::Sqlite => self.begin_immediate(&format!("append to chain {chain:?}")).await?,
            Dialect::Postgres | Dialect::MySql => self
                .db
                .begin()
                .await
                .map_err(SqlStoreError::db(format!("append to chain {chain:?}: begin a transaction")))?,
        };
        match self.try_move_head(&txn, chain, expected, new).await {
            Ok(true) => Ok(Ok(txn)),
            Ok(false) => {
                let actual = self.select_head(&txn, chain, false).await;
                rollback(txn).await;
                Ok(Err(actual?.unwrap_or(Head::EMPTY)))
            }
            Err(e) => {
                rollback(txn).await;
                Err(e)
            }
        }
    }

    /// The compare-and-set of [`SqlStore::move_head`]: true if the head moved (or a new
    /// chain's head row was created at `new`).
    async fn try_move_head(
        &self,
        txn: &DatabaseTransaction,
        chain: &str,
        expected: Head,
        new: Head,
    ) -> Result<bool, SqlStoreError> {
        let mut sql = Sql::new(self.dialect);
        push_move_head(&mut sql, chain, expected, new)?;
        let what = format!("append to chain {chain:?}: move its head from seq {} to seq {}", expected.seq, new.seq);
        let moved = txn.execute_raw(sql.build()).await.map_err(SqlStoreError::db(what))?.rows_affected();
        match moved {
            1 => return Ok(true),
            0 => {}
            n => return Err(SqlStoreError::Corrupt(format!("chain {chain:?} has {n} head rows in {HEADS}, not 1"))),
        }
        if expected != Head::EMPTY || self.select_head(txn, chain, false).await?.is_some() {
            return Ok(false);
        }
        // A new chain: create its head row at `new`. Two processes creating it at once: the
        // second one's insert waits for the first to commit, then inserts nothing.
        let mut sql = Sql::new(self.dialect);
        sql.push(match self.dialect {
            Dialect::Postgres | Dialect::Sqlite => "INSERT INTO ",
            Dialect::MySql => "INSERT IGNORE INTO ",
        })
        .push(&format!("{HEADS} (chain, seq, hash) VALUES ("))
        .bind_chain(chain)
        .push(", ")
        .bind(sql::seq_value(new.seq)?)
        .push(", ")
        .bind(new.hash.to_string())
        .push(")");
        if self.dialect == Dialect::Postgres {
            sql.push(" ON CONFLICT (chain) DO NOTHING");
        }
        let what = format!("append to chain {chain:?}: create its head row in {HEADS}");
        Ok(txn.execute_raw(sql.build()).await.map_err(SqlStoreError::db(what))?.rows_affected() == 1)
    }

    /// Inserts `batch` (which extends `expected`) and its Merkle subtree hashes, inside the
    /// append transaction that already moved the head.
    async fn insert_batch(
        &self,
        txn: &DatabaseTransaction,
        chain: &str,
        expected: Head,
        batch: &[SealedEvent],
    ) -> Result<(), SqlStoreError> {
        // On MySQL the statement must fit the server's packet (read by `check_packet_size`),
        // less room for the statement's text.
        let packet = match self.dialect {
            Dialect::MySql => self.mysql_packet.get().map(|packet| packet.saturating_sub(64 << 10)),
            Dialect::Postgres | Dialect::Sqlite => None,
        };
        for range in insert_chunks(batch, packet) {
            let rows = &batch[range];
            let mut sql = Sql::new(self.dialect);
            sql.push(&format!("INSERT INTO {EVENTS} ({}) VALUES ", sql::COLUMNS.join(", ")));
            for (i, event) in rows.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql::push_event_values(self.dialect, event, &mut sql)?;
            }
            let (first, last) = (rows.first().map_or(0, SealedEvent::seq), rows.last().map_or(0, SealedEvent::seq));
            txn.execute_raw(sql.build()).await.map_err(SqlStoreError::db(format!(
                "append to chain {chain:?}: insert seq {first}..={last} into {EVENTS}"
            )))?;
        }
        self.write_merkle_nodes(txn, chain, expected, batch).await
    }

    /// One page of `(seq, line)` of `chain` with `from <= seq <= to`.
    async fn line_page(&self, chain: &str, from: u64, to: u64, limit: usize) -> Result<LinePage, SqlStoreError> {
        self.line_page_on(&self.db, chain, from, to, limit).await
    }

    /// [`SqlStore::line_page`] through `conn` (a transaction, say).
    async fn line_page_on(
        &self,
        conn: &impl ConnectionTrait,
        chain: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<LinePage, SqlStoreError> {
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT chain, seq, line FROM {EVENTS} WHERE chain = "))
            .bind_chain(chain)
            .push(" AND seq >= ")
            .bind(sql::seq_bound(from))
            .push(" AND seq <= ")
            .bind(sql::seq_bound(to))
            .push(" ORDER BY seq LIMIT ")
            .bind(page_limit(limit));
        let rows = conn
            .query_all_raw(sql.build())
            .await
            .map_err(SqlStoreError::db(format!("read chain {chain:?} from seq {from}")))?;
        let mut page = LinePage { lines: Vec::with_capacity(rows.len()), unreadable: None };
        for row in &rows {
            match sql::line_from_row(row) {
                Ok((_, seq, line)) => page.lines.push((seq, line)),
                Err(e @ SqlStoreError::UnreadableLine { .. }) => {
                    page.unreadable = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(page)
    }

    /// Streams the lines of `chain` with `from <= seq <= to`, one page per query (see [`Lines`]).
    fn lines(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        let (from, last) = (from.max(1), to.unwrap_or(u64::MAX));
        let mut lines = Lines {
            store: self,
            chain: chain.to_string(),
            last,
            page: Vec::new().into_iter(),
            unreadable: None,
            next: None,
            fetched: None,
            paging: SeqPages::new(self.page_size),
        };
        if from <= last {
            lines.next = Some(lines.fetch(from));
        }
        Box::pin(lines)
    }
}

/// Paging through a chain by seq so that every row is read (`read` and `verify_chain`). On
/// PostgreSQL with monthly partitions the key is `(chain, seq, ts)`, so a second row may stand
/// at a seq; one at the end of a page could be cut off by the page's `LIMIT`. So each page
/// starts again at the last seq of the page before, asking for one row more, and passes over
/// its first row if it is at that seq (read already); a repeated row is read, and the chain
/// found broken there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeqPages {
    page_size: usize,
    /// The last seq of the page before, where the page being fetched starts.
    overlap: Option<u64>,
}

impl SeqPages {
    pub(crate) fn new(page_size: usize) -> SeqPages {
        SeqPages { page_size, overlap: None }
    }

    /// The rows the page being fetched asks for.
    pub(crate) fn limit(&self) -> usize {
        self.page_size.saturating_add(usize::from(self.overlap.is_some()))
    }

    /// A page of `len` rows arrived, from seq `first` to `last`, of a chain read up to seq `to`:
    /// whether to pass its first row over, and the seq the next page starts at, if there is
    /// one (none after a page that is not full, or whose rows were all at the seq it started
    /// from: repeated rows, handed on, which make no progress).
    pub(crate) fn arrived(
        &mut self,
        len: usize,
        first: Option<u64>,
        last: Option<u64>,
        to: u64,
    ) -> (bool, Option<u64>) {
        let full = len >= self.limit();
        let seen = self.overlap.take();
        let pass_over = seen.is_some() && first == seen;
        self.overlap = last.filter(|&last| full && last <= to && seen.is_none_or(|seen| last > seen));
        (pass_over, self.overlap)
    }
}

/// A page of lines read by seq: the lines up to the first that could not be read, if any.
#[derive(Debug)]
pub(crate) struct LinePage {
    /// `(seq, line)`, in seq order.
    pub(crate) lines: Vec<(u64, String)>,
    /// The [`SqlStoreError::UnreadableLine`] of the row after the last of `lines`: the page,
    /// and a read of the chain, ends there.
    pub(crate) unreadable: Option<SqlStoreError>,
}

impl LinePage {
    /// The lines, or the error of an unreadable one among them (for reads that need them all).
    pub(crate) fn all(self) -> Result<Vec<(u64, String)>, SqlStoreError> {
        match self.unreadable {
            Some(e) => Err(e),
            None => Ok(self.lines),
        }
    }
}

/// A page of `(seq, line)` rows being fetched.
type PageQuery<'a> = Pin<Box<dyn Future<Output = Result<LinePage, SqlStoreError>> + Send + 'a>>;

/// The lines of a chain, one page per query. The query for the next page is sent as soon as a
/// page arrives and is polled whenever a line is asked for, so the database works on it while
/// the caller consumes this page (on any runtime, with no task spawned).
struct Lines<'a> {
    store: &'a SqlStore,
    chain: String,
    /// The last seq wanted.
    last: u64,
    page: std::vec::IntoIter<(u64, String)>,
    /// The unreadable line after `page`, handed on as the stream's last item.
    unreadable: Option<SqlStoreError>,
    next: Option<PageQuery<'a>>,
    /// The next page, arrived before this one was consumed.
    fetched: Option<Result<LinePage, SqlStoreError>>,
    paging: SeqPages,
}

impl<'a> Lines<'a> {
    fn fetch(&self, from: u64) -> PageQuery<'a> {
        let (store, chain, last, limit) = (self.store, self.chain.clone(), self.last, self.paging.limit());
        Box::pin(async move { store.line_page(&chain, from, last, limit).await })
    }

    /// Polls the query for the next page, keeping the page if it arrived.
    fn poll_next_page(&mut self, cx: &mut Context<'_>) {
        if let Some(query) = &mut self.next
            && let Poll::Ready(page) = query.as_mut().poll(cx)
        {
            self.next = None;
            self.fetched = Some(page);
        }
    }
}

impl Stream for Lines<'_> {
    type Item = Result<String, StoreError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        this.poll_next_page(cx);
        loop {
            if let Some((_, line)) = this.page.next() {
                return Poll::Ready(Some(Ok(line)));
            }
            if let Some(e) = this.unreadable.take() {
                // The stream ends with it (no page is being fetched after it).
                return Poll::Ready(Some(Err(e.into())));
            }
            match this.fetched.take() {
                Some(Ok(LinePage { lines: mut rows, unreadable })) => {
                    let (first, last) = (rows.first().map(|&(seq, _)| seq), rows.last().map(|&(seq, _)| seq));
                    let (pass_over, next) = this.paging.arrived(rows.len(), first, last, this.last);
                    if pass_over {
                        rows.remove(0);
                    }
                    // A full page may have more after it: ask for the next one right away
                    // (unless a line of it could not be read: the read ends there).
                    if let (Some(from), None) = (next, &unreadable) {
                        this.next = Some(this.fetch(from));
                        this.poll_next_page(cx);
                    }
                    this.page = rows.into_iter();
                    this.unreadable = unreadable;
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                // Woken when the query makes progress (it was just polled).
                None if this.next.is_some() => return Poll::Pending,
                None => return Poll::Ready(None),
            }
        }
    }
}

#[async_trait::async_trait]
impl AuditStore for SqlStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        Ok(self.select_head(&self.db, chain, false).await?.unwrap_or(Head::EMPTY))
    }

    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.append_batch(chain, expected, batch).await
    }

    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.lines(chain, from, to)
    }

    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        Ok(self.run_query(query).await?)
    }

    /// From `audit_merkle_nodes` (subtrees of 64 leaves and more) and the events (smaller
    /// ones): a few small reads, whatever the chain's length. See the module docs.
    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        Ok(self.merkle_node_hashes(chain, nodes).await?)
    }
}

/// Reads `(seq, hash)` of a head row starting at column `at`.
fn head_at(row: &sea_orm::QueryResult, chain: &str, at: usize) -> Result<Head, SqlStoreError> {
    let what = || format!("read the head of chain {chain:?}");
    let seq: i64 = row.try_get_by_index(at).map_err(SqlStoreError::db(what()))?;
    let hash: String = row.try_get_by_index(at + 1).map_err(SqlStoreError::db(what()))?;
    let seq = u64::try_from(seq)
        .map_err(|_| SqlStoreError::Corrupt(format!("the head of chain {chain:?} has a negative seq {seq}")))?;
    let hash = audit_core::EventHash::from_hex(hash.as_bytes()).ok_or_else(|| {
        SqlStoreError::Corrupt(format!("the head of chain {chain:?} has hash {hash:?}, not 64 lowercase hex digits"))
    })?;
    Ok(Head { seq, hash })
}

/// The compare-and-set of a chain's head: `UPDATE` its row to `new` where it is at `expected`.
fn push_move_head(sql: &mut Sql, chain: &str, expected: Head, new: Head) -> Result<(), SqlStoreError> {
    sql.push(&format!("UPDATE {HEADS} SET seq = "))
        .bind(sql::seq_value(new.seq)?)
        .push(", hash = ")
        .bind(new.hash.to_string())
        .push(" WHERE chain = ")
        .bind_chain(chain)
        .push(" AND seq = ")
        .bind(sql::seq_value(expected.seq)?)
        .push(" AND hash = ")
        .bind(expected.hash.to_string());
    Ok(())
}

/// Whether `event`'s id is a UUIDv7 of the millisecond of its `ts`, as the writer picks it.
fn id_of_its_own_time(event: &audit_core::Event) -> bool {
    event.id.get_version_num() == 7
        && event.id.get_timestamp().is_some_and(|time| {
            let (seconds, nanos) = time.to_unix();
            i64::try_from(seconds).is_ok_and(|seconds| {
                seconds.checked_mul(1000).map(|ms| ms + i64::from(nanos / 1_000_000))
                    == Some(event.ts.unix_micros().div_euclid(1000))
            })
        })
}

/// Whether the database refused a statement for a value in it, so that the same values can
/// never be stored whatever the retries: PostgreSQL's data exceptions (SQLSTATE class 22: a
/// character or number it cannot take, a value too long) and program limits (class 54: an
/// index entry too large); MySQL's data errors (class 22, and an incorrect string value,
/// 1366, or a row too large, 1118, in strict mode); SQLite's "string or blob too big" (18)
/// and datatype mismatch (20); and on all three a NOT NULL or CHECK constraint. Not a busy or
/// unreachable server, a full disk, a deadlock or a unique index (another writer, or a
/// repeated id, which [`SqlStore::stored_ids`] names). A refusal of *every* write that
/// carries such a code (PostgreSQL near transaction-id wraparound answers 54000; a column
/// altered so that no event fits) is told apart by the writer: its note about the refused
/// event is refused too, and the events wait (see `audit_core::writer`).
fn refuses_a_value(dialect: Dialect, refusal: &dyn sea_orm::sqlx::error::DatabaseError) -> bool {
    use sea_orm::sqlx::error::ErrorKind;
    if matches!(refusal.kind(), ErrorKind::NotNullViolation | ErrorKind::CheckViolation) {
        return true;
    }
    let code = refusal.code();
    let code = code.as_deref().unwrap_or("");
    match dialect {
        Dialect::Postgres => code.starts_with("22") || code.starts_with("54"),
        Dialect::MySql => {
            code.starts_with("22")
                || refusal
                    .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
                    .is_some_and(|mysql| matches!(mysql.number(), 1366 | 1118))
        }
        Dialect::Sqlite => matches!(code, "18" | "20"),
    }
}

/// Rolls back, ignoring errors (the connection discards the transaction anyway).
async fn rollback(txn: DatabaseTransaction) {
    let _ = txn.rollback().await;
}

/// A LIMIT value.
fn page_limit(rows: usize) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

/// Batches of up to this many rows are inserted by one statement of their own size.
const EXACT_INSERT_ROWS: usize = 64;

/// Splits a batch into multi-row INSERTs of at most [`MAX_INSERT_BYTES`] of lines (on MySQL,
/// `packet`: also at most that many bytes of rows, each counted as its line twice — the tags
/// column repeats the tags — and 8 KiB for the other columns), a batch of
/// up to [`EXACT_INSERT_ROWS`] events in one statement (each round trip is on the append's
/// critical path, and the 64 shapes are prepared once per connection), a larger one in
/// statements of 1024, 512, … 1 rows (few shapes, so prepared statements are reused).
fn insert_chunks(batch: &[SealedEvent], packet: Option<usize>) -> Vec<Range<usize>> {
    let too_big = |rows: &[SealedEvent]| {
        let lines: usize = rows.iter().map(|e| e.line.len()).sum();
        lines > MAX_INSERT_BYTES || packet.is_some_and(|packet| 2 * lines + 8192 * rows.len() > packet)
    };
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < batch.len() {
        let remaining = (batch.len() - start).min(MAX_INSERT_ROWS);
        let mut size = if remaining <= EXACT_INSERT_ROWS {
            remaining
        } else {
            1usize << (usize::BITS - 1 - remaining.leading_zeros())
        };
        while size > 1 && too_big(&batch[start..start + size]) {
            size /= 2;
        }
        chunks.push(start..start + size);
        start += size;
    }
    chunks
}

/// A database URL as it may be shown in messages and logs: the password of its user part
/// (`postgres://app:***@db/audit`) and the values of password parameters (`?password=***`,
/// which PostgreSQL URLs may carry) replaced by `***`. Works on text that is not a valid URL
/// too (a message about a bad URL must not show its password either): the user part ends at
/// the URL's last `@`, since a password may hold `/`, `?`, `#` or `@`.
///
/// ```
/// assert_eq!(audit_seaorm::redact_url("postgres://app:s3cret@db/audit"), "postgres://app:***@db/audit");
/// assert_eq!(audit_seaorm::redact_url("postgres://db/audit?user=app&password=s3cret"), "postgres://db/audit?user=app&password=***");
/// ```
pub fn redact_url(url: &str) -> String {
    hide_url_secrets(url, url)
}

/// `text` with every password `url` holds (as written, and percent-decoded) replaced by `***`:
/// for a driver's message that quotes the URL.
pub(crate) fn hide_url_secrets(text: &str, url: &str) -> String {
    let mut secrets: Vec<String> = Vec::new();
    for secret in url_secrets(url) {
        let decoded = percent_decode(secret);
        secrets.push(secret.to_string());
        secrets.push(decoded);
    }
    // Longest first, so that a secret holding another is replaced whole.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

/// The passwords in `url`: its user part's, and the values of its password parameters.
fn url_secrets(url: &str) -> Vec<&str> {
    let mut secrets = Vec::new();
    let after_user = match url.split_once("://") {
        Some((_, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, after)) => {
                if let Some((_, password)) = userinfo.split_once(':') {
                    secrets.push(password);
                }
                after
            }
            None => rest,
        },
        None => url,
    };
    if let Some((_, query)) = after_user.split_once('?') {
        let query = query.split('#').next().unwrap_or_default();
        for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
            let key = percent_decode(key);
            if PASSWORD_PARAMETERS.iter().any(|p| key.eq_ignore_ascii_case(p)) {
                secrets.push(value);
            }
        }
    }
    secrets
}

/// `%XX` as the byte it names (lossy UTF-8); anything else as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, ..) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters of database URLs that carry a password (libpq's and sqlx's names).
const PASSWORD_PARAMETERS: [&str; 4] = ["password", "pass", "pwd", "sslpassword"];

/// The error of a failed connection to `url` (`doing` what): the driver's message may quote
/// the URL, so its passwords are hidden there too.
pub(crate) fn connect_error(doing: &str, url: &str) -> impl FnOnce(DbErr) -> SqlStoreError {
    let context = format!("{doing} {}", redact_url(url));
    let url = url.to_string();
    move |source| {
        let message = source.to_string();
        let hidden = hide_url_secrets(&message, &url);
        let source = if hidden == message { source } else { DbErr::Custom(hidden) };
        SqlStoreError::Database { context, source }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seq_pages_read_every_row_and_end() {
        let mut paging = SeqPages::new(3);
        assert_eq!(paging.limit(), 3);
        // Rows 1..=3: full; the next page starts at 3 again, one row longer.
        assert_eq!(paging.arrived(3, Some(1), Some(3), 10), (false, Some(3)));
        assert_eq!(paging.limit(), 4);
        // 3 (read already), 4, 5, 6: the first passed over.
        assert_eq!(paging.arrived(4, Some(3), Some(6), 10), (true, Some(6)));
        // 6, then a second row at 6 and 7, 8: only the first 6 passed over (the second is read).
        assert_eq!(paging.arrived(4, Some(6), Some(8), 10), (true, Some(8)));
        // A page not full: the end.
        assert_eq!(paging.arrived(2, Some(8), Some(9), 10), (true, None));
        // Every row at the seq the page started from: handed on, and no next page.
        let mut paging = SeqPages::new(3);
        assert_eq!(paging.arrived(3, Some(1), Some(3), 10), (false, Some(3)));
        assert_eq!(paging.arrived(4, Some(3), Some(3), 10), (true, None));
        // At the last seq wanted, a full page asks once more (a second row may be there).
        let mut paging = SeqPages::new(2);
        assert_eq!(paging.arrived(2, Some(1), Some(2), 2), (false, Some(2)));
        assert_eq!(paging.arrived(1, Some(2), Some(2), 2), (true, None));
    }

    use super::*;

    #[test]
    fn small_batches_are_one_insert_and_large_ones_powers_of_two() {
        let auditor_events = |n: usize| -> Vec<SealedEvent> {
            let line = String::from("{}");
            (0..n).map(|_| SealedEvent { event: sample_event(), line: line.clone() }).collect()
        };
        let sizes = |n: usize| insert_chunks(&auditor_events(n), None).iter().map(|r| r.len()).collect::<Vec<_>>();
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(27), [27]);
        assert_eq!(sizes(64), [64]);
        assert_eq!(sizes(100), [64, 36]);
        assert_eq!(sizes(1000), [512, 256, 128, 64, 40]);
        assert_eq!(sizes(2049), [1024, 1024, 1]);
    }

    fn sample_event() -> audit_core::Event {
        let line = r#"{"action":"login","actor":{"id":"alice","kind":"user"},"chain":"default","hash":"0000000000000000000000000000000000000000000000000000000000000000","id":"0192f0c1-7b6e-7cc0-8000-000000000001","outcome":"success","prev":"0000000000000000000000000000000000000000000000000000000000000000","resource":{"id":"","type":"session"},"seq":1,"ts":"2026-11-23T10:15:30.123456Z","v":1}"#;
        match serde_json::from_str(line) {
            Ok(event) => event,
            Err(e) => panic!("sample event: {e}"),
        }
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(redact_url("postgres://app:secret@db:5432/audit"), "postgres://app:***@db:5432/audit");
        assert_eq!(redact_url("postgres://app@db/audit"), "postgres://app@db/audit");
        assert_eq!(redact_url("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        assert_eq!(redact_url("sqlite://a.db?mode=rwc"), "sqlite://a.db?mode=rwc");
        // A password holding `/`, `@` or `?`-free punctuation, and one in the query.
        assert_eq!(redact_url("postgres://app:pa/s@s@db:5432/audit"), "postgres://app:***@db:5432/audit");
        assert_eq!(
            redact_url("postgres://app@db/audit?sslmode=require&PASSWORD=xyz&note=a"),
            "postgres://app@db/audit?sslmode=require&PASSWORD=***&note=a"
        );
        assert_eq!(redact_url("postgres://db/a?pass%77ord=hunter2"), "postgres://db/a?pass%77ord=***");
        assert_eq!(redact_url("postgres://app:hun#ter?2@db/a"), "postgres://app:***@db/a");
        assert_eq!(redact_url("postgres://app:p%40ss@db/a"), "postgres://app:***@db/a");
        assert_eq!(
            hide_url_secrets("bad 'postgres://u:p%40ss@h' or p@ss", "postgres://u:p%40ss@h"),
            "bad 'postgres://u:***@h' or ***"
        );
        // Not a valid URL (port out of range): still no password.
        assert_eq!(redact_url("postgres://app:secret@db:99999/audit"), "postgres://app:***@db:99999/audit");
    }
}
