//! [`AuditedDb`] and [`AuditedTransaction`]: connection wrappers that see every statement,
//! take the hooks' markers, buffer events per transaction and hand them to the
//! [`Auditor`] once the transaction has committed.

use super::event::{self, OrmEvent, resource_id};
use super::hooks::{key_columns_of, key_json};
use super::marker::{self, KeySource, Message, WriteVerb};
use super::old_row::{self, Fusion};
use super::outbox;
use super::sql;
use super::tracker::{DeferredRead, Ended, Inserted, Plan, Ran, StandIn, Token, Tracker};
use audit_core::store::AuditStore;
use audit_core::{
    AuditScope, Auditor, FinishOnDrop, RecordError, RedactionPolicy, Ticket, TryRecordError, TryWriteHereError,
};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, IsolationLevel,
    QueryResult, RuntimeErr, SqliteTransactionMode, Statement, TransactionError, TransactionOptions,
    TransactionSession, TransactionTrait,
};
use serde_json::{Value as Json, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where buffered events go at commit.
#[derive(Clone)]
pub enum Delivery {
    /// The default. Inside the transaction, just before `COMMIT`, the events are inserted into
    /// an outbox table; after the commit they are sealed into the chain and the outbox rows
    /// deleted. A crash between the two leaves the rows, and
    /// [`AuditedDb::recover_outbox`] seals them (exactly once: each row carries its event id,
    /// and a row whose id the store already has is not sealed again; if a recovery and the
    /// commit that wrote the row seal it at the same moment, the store refuses the second
    /// copy and both take the event as sealed). The SQL store and `MemoryStore` refuse an id
    /// they hold; audit-core's `JsonlStore` does not look ids up, so with it run the recovery
    /// only where no commit of the outbox can be sealing (at start, before serving, as
    /// [`AuditedDb::recover_outbox`] says) or with an age that covers the sealing
    /// ([`AuditedDb::recover_outbox_older_than`]).
    Outbox {
        /// The audit store the auditor writes to (to recognise events already sealed).
        store: Arc<dyn AuditStore>,
        /// The outbox table (default [`outbox::DEFAULT_TABLE`]).
        table: String,
    },
    /// Events wait in memory and are sealed after the commit. Cheaper (no outbox writes), but
    /// a crash between `COMMIT` and the audit append loses the events of that transaction.
    Direct,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Outbox { table, .. } => f.debug_struct("Outbox").field("table", table).finish_non_exhaustive(),
            Delivery::Direct => f.write_str("Direct"),
        }
    }
}

/// What to do with a row write that no hook announced (bulk `insert_many`/`update_many`/
/// `delete_many`, `Entity::insert(..).exec`, raw SQL) through the audited connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BulkPolicy {
    /// Run it and record a `bulk` event: table, statement shape (values stripped), rows
    /// affected. The default.
    #[default]
    Record,
    /// Refuse it with an error before it runs (strict mode). Use the audited helpers of
    /// [`crate::orm::bulk`], or [`AuditedDb::unaudited`] for deliberate exceptions
    /// (migrations).
    Reject,
}

/// For tests of crash recovery: where [`AuditedTransaction::commit`] stops as if the process
/// had died.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// After `COMMIT`, before any event is handed to the auditor.
    AfterCommit,
    /// After the events are durable in the audit store, before the outbox rows are deleted.
    AfterSeal,
}

pub(crate) struct DbShared {
    /// The pool (for outbox deletes after a commit).
    conn: DatabaseConnection,
    pub(crate) auditor: Auditor,
    pub(crate) delivery: Delivery,
    pub(crate) bulk: BulkPolicy,
    pub(crate) redaction: RedactionPolicy,
    pub(super) auto: Mutex<Tracker>,
    /// Stand-ins held by `auto` (so that a statement need not lock it to know there are none).
    pub(super) auto_ran: AtomicUsize,
    crash: Mutex<Option<CrashPoint>>,
    /// Outbox rows whose events are durable, waiting to be deleted inside the next writing
    /// transaction (saves a commit, and its fsync, per transaction).
    sealed: Mutex<Vec<String>>,
    /// Work that finishes whatever happens to its caller, which [`AuditedDb::flush`] waits for.
    pub(super) in_flight: Arc<InFlight>,
}

/// What [`AuditedDb::flush`] waits for: outermost commits ([`AuditedTransaction::commit`]) and
/// hand-offs of events to the auditor queued by a task of their own (the autocommit hand-off
/// that waits for room in a full queue, stand-ins recorded without waiting), which go on when
/// their caller stops waiting; `done` wakes it as each ends.
#[derive(Default)]
pub(super) struct InFlight {
    count: AtomicUsize,
    done: tokio::sync::Notify,
}

impl InFlight {
    /// Counts one more until the returned guard is dropped.
    pub(super) fn start(self: &Arc<InFlight>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(Arc::clone(self))
    }

    /// Whether none is counted now.
    fn is_idle(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    /// Returns once none is counted.
    async fn none_left(&self) {
        loop {
            // Created before the count is read: an end between the two still wakes it.
            let done = self.done.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            done.await;
        }
    }
}

/// Counts a commit or a hand-off running (in its caller, or finished by a task of its own when
/// the caller dropped it) for as long as it lives (also when it panics).
pub(super) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        self.0.done.notify_waiters();
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a few plain map/vec operations; a panic inside cannot leave
    // them half-done in a way that matters more than the panic itself.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sealed outbox rows kept for deletion by a later transaction, at most.
const SEALED_BACKLOG: usize = 1000;

/// The last insert id a hooked MySQL insert doing nothing on a duplicate key reports when it
/// found its row there already (see [`DbShared::duplicate_key_check`]).
const FOUND_ON_DUPLICATE_KEY: u64 = u64::MAX;

/// Runs `f` outside the caller's [`AuditScope`]: an ORM event's actor and context were fixed
/// when its change was intercepted, and the auditor must not fill gaps in them from the scope
/// of whoever hands the event over (another request committing, one whose hooked write
/// expires a stand-in). (A spawned task has no scope either.)
pub(super) fn without_scope<R>(f: impl FnOnce() -> R) -> R {
    if AuditScope::current().is_some() { AuditScope::new().run_sync(f) } else { f() }
}

fn record_error(e: RecordError) -> DbErr {
    DbErr::Custom(format!("audit_seaorm: the audit event was not accepted: {e}"))
}

/// Builds an [`AuditedDb`].
pub struct AuditedDbBuilder {
    conn: DatabaseConnection,
    auditor: Auditor,
    delivery: Delivery,
    bulk: BulkPolicy,
    redaction: RedactionPolicy,
    held_expiry: Option<std::time::Duration>,
}

impl AuditedDbBuilder {
    /// Seals events after commit without an outbox ([`Delivery::Direct`]).
    pub fn direct(mut self) -> Self {
        self.delivery = Delivery::Direct;
        self
    }
    /// Names the outbox table (default `audit_seaorm_outbox`).
    pub fn outbox_table(mut self, table: impl Into<String>) -> Self {
        if let Delivery::Outbox { table: t, .. } = &mut self.delivery {
            *t = table.into();
        }
        self
    }
    /// What to do with writes that bypass the hooks (default [`BulkPolicy::Record`]).
    pub fn bulk_policy(mut self, policy: BulkPolicy) -> Self {
        self.bulk = policy;
        self
    }
    /// Strict mode: shorthand for `bulk_policy(BulkPolicy::Reject)`.
    pub fn strict(self) -> Self {
        self.bulk_policy(BulkPolicy::Reject)
    }
    /// Secrets to hide when a change is intercepted, before it is buffered or written to the
    /// outbox (default: the auditor's own policy, [`Auditor::redaction`], so that the outbox
    /// holds nothing the trail would not). With the auditor's policy, the auditor does not
    /// hide the values again, so a tokenized value gets the same token as in any other event;
    /// with another policy it does (a value both name is then MACed twice), and so it does for
    /// events a recovery reads back from the outbox if the connection's policy changed since
    /// they were written (the outbox keeps the policy's fingerprint).
    pub fn redaction(mut self, policy: RedactionPolicy) -> Self {
        self.redaction = policy;
        self
    }
    #[doc(hidden)]
    /// Test hook: how long a write directly on the connection whose `after_*` hook has not come
    /// (an `update_without_returning`) waits before its stand-in is recorded (default 60 s).
    pub fn held_stand_in_expiry(mut self, after: std::time::Duration) -> Self {
        self.held_expiry = Some(after);
        self
    }
    /// The audited connection.
    pub fn build(self) -> AuditedDb {
        AuditedDb {
            conn: self.conn.clone(),
            shared: Arc::new(DbShared {
                conn: self.conn,
                auditor: self.auditor,
                delivery: self.delivery,
                bulk: self.bulk,
                redaction: self.redaction,
                auto: Mutex::new(Tracker { held_expiry: self.held_expiry, ..Tracker::default() }),
                auto_ran: AtomicUsize::new(0),
                crash: Mutex::new(None),
                sealed: Mutex::new(Vec::new()),
                in_flight: Arc::default(),
            }),
        }
    }
}

/// A `DatabaseConnection` whose row writes are audited. Cheap to clone.
///
/// Use it wherever the application used its `DatabaseConnection`: `am.insert(&db)`,
/// `db.begin()`, `db.transaction(..)`. Writes of audited entities (see
/// [`crate::audited!`]) record one event per row change: after the outermost commit inside
/// a transaction, right after the statement without one.
#[derive(Clone)]
pub struct AuditedDb {
    conn: DatabaseConnection,
    shared: Arc<DbShared>,
}

impl std::fmt::Debug for AuditedDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditedDb")
            .field("backend", &self.conn.get_database_backend())
            .field("delivery", &self.shared.delivery)
            .field("bulk", &self.shared.bulk)
            .finish_non_exhaustive()
    }
}

impl AuditedDb {
    /// Starts building an audited connection with an outbox ([`Delivery::Outbox`], the
    /// default): `store` must be the store `auditor` writes to.
    pub fn builder(conn: DatabaseConnection, auditor: Auditor, store: Arc<dyn AuditStore>) -> AuditedDbBuilder {
        AuditedDbBuilder {
            conn,
            delivery: Delivery::Outbox { store, table: outbox::DEFAULT_TABLE.to_string() },
            bulk: BulkPolicy::default(),
            redaction: auditor.redaction().clone(),
            auditor,
            held_expiry: None,
        }
    }

    /// An audited connection without an outbox ([`Delivery::Direct`]).
    pub fn direct(conn: DatabaseConnection, auditor: Auditor) -> AuditedDb {
        AuditedDbBuilder {
            conn,
            delivery: Delivery::Direct,
            bulk: BulkPolicy::default(),
            redaction: auditor.redaction().clone(),
            auditor,
            held_expiry: None,
        }
        .build()
    }

    /// The plain connection underneath. Writes through it are **not audited** and not seen
    /// at all (for migrations and other deliberate exceptions); writes of audited entities
    /// through it fail in their hooks.
    pub fn unaudited(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The database backend (as `DatabaseConnection::get_database_backend`: an inherent
    /// method, so that calls need no trait in scope and are not ambiguous between
    /// `ConnectionTrait` and `StreamTrait`).
    pub fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Checks that the database answers (`DatabaseConnection::ping`, for health checks).
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.ping().await
    }

    /// The auditor events go to.
    pub fn auditor(&self) -> &Auditor {
        &self.shared.auditor
    }

    /// How events are delivered.
    pub fn delivery(&self) -> &Delivery {
        &self.shared.delivery
    }

    /// Creates the outbox table if it is missing (idempotent; run it at every start). Does
    /// nothing in [`Delivery::Direct`] mode.
    pub async fn migrate_outbox(&self) -> Result<(), DbErr> {
        match &self.shared.delivery {
            Delivery::Outbox { table, .. } => outbox::migrate(&self.conn, table).await,
            Delivery::Direct => Ok(()),
        }
    }

    /// Seals the events a crash left in the outbox (committed, not yet sealed), each exactly
    /// once, and empties the outbox. Run it at start, after [`AuditedDb::migrate_outbox`] and
    /// before serving. Rows it cannot seal are left in place and listed in
    /// [`Recovery::unsealable`](outbox::Recovery::unsealable): a committed change whose event
    /// is not in the chain, for someone to look at (log them, alert). With several instances sharing a database, use
    /// [`AuditedDb::recover_outbox_older_than`] so as not to race a live instance's commit.
    pub async fn recover_outbox(&self) -> Result<outbox::Recovery, DbErr> {
        self.recover_outbox_older_than(std::time::Duration::ZERO).await
    }

    /// [`AuditedDb::recover_outbox`] limited to rows written more than `age` ago (a row is
    /// written just before its transaction's `COMMIT`, so `age` needs to cover only the commit
    /// and the sealing after it, not how long the transaction was open).
    pub async fn recover_outbox_older_than(&self, age: std::time::Duration) -> Result<outbox::Recovery, DbErr> {
        match &self.shared.delivery {
            Delivery::Outbox { store, table } => {
                let shared = &self.shared;
                outbox::recover(&self.conn, table, &shared.auditor, &shared.redaction, store.as_ref(), age).await
            }
            Delivery::Direct => Ok(outbox::Recovery::default()),
        }
    }

    /// Deletes the outbox rows of events already sealed. They are normally deleted inside the
    /// next writing transaction (no extra commit); call this at shutdown to leave the outbox
    /// empty. Rows left behind are harmless: recovery finds their events in the store and
    /// does not seal them again.
    pub async fn flush_outbox(&self) -> Result<(), DbErr> {
        let Delivery::Outbox { table, .. } = &self.shared.delivery else { return Ok(()) };
        let sealed = std::mem::take(&mut *lock(&self.shared.sealed));
        if let Err(e) = outbox::delete(&self.conn, table, &sealed).await {
            lock(&self.shared.sealed).extend(sealed);
            return Err(e);
        }
        Ok(())
    }

    /// At shutdown, once the application has stopped writing: waits for the commits and the
    /// hand-offs of events whose callers stopped waiting (a request cancelled by a shutdown's
    /// deadline: a commit's `COMMIT` and hand-off go on in a task, see
    /// [`AuditedTransaction::commit`], and so does the hand-off of a write directly on this
    /// connection that waits for room in the auditor's queue, or of stand-ins recorded without
    /// waiting),
    /// records the writes directly on this connection whose `after_*` hook never came (an
    /// `update_without_returning`; see the module's limits), which would otherwise wait up to
    /// a minute (queued before this returns, waiting for room in the auditor's queue if need
    /// be), and deletes the outbox rows of sealed events ([`AuditedDb::flush_outbox`]). Then
    /// shut the auditor down. An error if the auditor refuses those events (it was shut down
    /// first).
    pub async fn flush(&self) -> Result<(), DbErr> {
        self.shared.in_flight.none_left().await;
        let held = lock(&self.shared.auto).take_all_held();
        self.shared.queue_stand_ins(held).await.map_err(record_error)?;
        self.flush_outbox().await
    }

    #[doc(hidden)]
    /// Test hook: the next commits stop at `point` as if the process had crashed there.
    pub fn simulate_crash(&self, point: Option<CrashPoint>) {
        *lock(&self.shared.crash) = point;
    }
}

/// A transaction on an [`AuditedDb`]: its events are sealed after the outermost commit, in
/// the order the writes happened; a rollback, an error or a drop discards them. A nested
/// `begin` is a savepoint: rolling it back (or dropping it) drops only its own events.
pub struct AuditedTransaction {
    inner: DriverTxn,
    shared: Arc<DbShared>,
    guard: TxGuard,
    outermost: bool,
}

impl std::fmt::Debug for AuditedTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditedTransaction").field("outermost", &self.outermost).finish_non_exhaustive()
    }
}

/// The driver's transaction (or savepoint) under an [`AuditedTransaction`]. sea-orm's own drop
/// of a `DatabaseTransaction` panics ("Fail to rollback transaction") and queues no rollback
/// if the connection is locked then, as it is while a savepoint's `RELEASE` goes on in a task
/// of its own (its `commit()` future was dropped in flight, see [`AuditedTransaction::commit`]).
/// Dropped meanwhile, this one is rolled back by a task of its own once the connection is free;
/// and sea-orm's `commit`, `rollback` and `begin`, which fail the same way when dropped while
/// they wait for the connection, are called only once no such task is left.
struct DriverTxn {
    /// `None` once taken by [`DriverTxn::take`] (or the drop).
    txn: Option<DatabaseTransaction>,
    /// The tasks of this transaction that hold or wait for its connection: `RELEASE`s, and
    /// rollbacks of levels dropped meanwhile (shared by every level).
    busy: Arc<InFlight>,
    /// The runtime the transaction began on, for a rollback by a task of its own.
    runtime: Option<tokio::runtime::Handle>,
    state: Arc<Mutex<TxState>>,
    level: u32,
}

impl DriverTxn {
    fn new(txn: DatabaseTransaction, busy: Arc<InFlight>, state: Arc<Mutex<TxState>>, level: u32) -> DriverTxn {
        DriverTxn { txn: Some(txn), busy, runtime: tokio::runtime::Handle::try_current().ok(), state, level }
    }

    /// The transaction, for statements.
    fn get(&self) -> &DatabaseTransaction {
        self.txn.as_ref().expect("a DriverTxn is taken only by `take` (consuming it) and by its drop")
    }

    /// The transaction, once no task of it uses the connection: for sea-orm's `begin`.
    async fn ready(&self) -> &DatabaseTransaction {
        self.busy.none_left().await;
        self.get()
    }

    /// The transaction, once no task of it uses the connection: for sea-orm's `commit` and
    /// `rollback`.
    async fn take(mut self) -> DatabaseTransaction {
        self.busy.none_left().await;
        self.txn.take().expect("a DriverTxn is taken only by `take` (consuming it) and by its drop")
    }
}

impl Drop for DriverTxn {
    fn drop(&mut self) {
        let Some(txn) = self.txn.take() else { return };
        if self.busy.is_idle() {
            return; // sea-orm's own drop queues the rollback
        }
        let Some(runtime) = self.runtime.take().or_else(|| tokio::runtime::Handle::try_current().ok()) else {
            return;
        };
        if self.level > 0 {
            lock(&self.state).rolled_back_late = true;
        }
        let in_use = self.busy.start();
        drop(runtime.spawn(async move {
            let _in_use = in_use;
            // Waits for the connection. A failure ends the transaction all the same (sea-orm's
            // drop queues the rollback again, the connection being free by then).
            let _ = txn.rollback().await;
        }));
    }
}

/// The state shared by a transaction and its savepoints.
#[derive(Debug)]
pub(crate) struct TxState {
    pub(crate) tracker: Tracker,
    pub(crate) events: Vec<OrmEvent>,
    /// PostgreSQL: the nesting level at which a statement failed. The transaction is then
    /// aborted until a savepoint at or above that level is rolled back, and a `COMMIT` of it
    /// silently rolls back, so its events must not be sealed. MySQL: 0 after a deadlock, which
    /// rolled the whole transaction back.
    pub(crate) aborted_at: Option<u32>,
    /// A savepoint could not be begun: sea-orm drops its half-begun transaction, whose drop
    /// rolls back the enclosing level (on MySQL the whole transaction: its `SET TRANSACTION` is
    /// refused inside one) and leaves the driver's count of savepoints one below ours. Nothing
    /// but a rollback of the whole transaction is sure to end it as the database sees it: every
    /// statement, savepoint and commit through it is refused.
    pub(crate) lost: bool,
    /// A savepoint was dropped while a task of the transaction held its connection (the
    /// `RELEASE` of a savepoint begun inside it, whose `commit()` future was dropped): its
    /// rollback was left to a task, which waits for the connection and may come after
    /// statements sent meanwhile through the enclosing levels. As for [`TxState::lost`],
    /// every statement, savepoint and commit through it is refused.
    rolled_back_late: bool,
    /// Which levels are open (index: level; 0 is the transaction itself). The driver ends
    /// savepoints by depth, not by name: savepoints must end innermost first.
    open: Vec<bool>,
    /// The lowest level that ended while a level begun inside it was still open. The driver
    /// then ended the innermost savepoint instead of that level's, so until every level from
    /// there up has ended (rolled back: their rollbacks undo, together, what those levels did,
    /// and their events go with them), every statement and commit is refused.
    out_of_order_from: Option<u32>,
}

impl Default for TxState {
    fn default() -> TxState {
        TxState {
            tracker: Tracker::default(),
            events: Vec::new(),
            aborted_at: None,
            lost: false,
            rolled_back_late: false,
            open: vec![true],
            out_of_order_from: None,
        }
    }
}

impl TxState {
    /// The innermost level still open.
    pub(crate) fn innermost(&self) -> u32 {
        self.open.iter().rposition(|&open| open).map_or(0, |level| u32::try_from(level).unwrap_or(u32::MAX))
    }

    /// Why statements and commits are refused because of how savepoints began or ended.
    fn refusal(&self) -> Option<&'static str> {
        if self.lost {
            Some(SAVEPOINT_NOT_BEGUN)
        } else if self.rolled_back_late {
            Some(DROPPED_DURING_RELEASE)
        } else if self.out_of_order_from.is_some() {
            Some(ENDED_OUT_OF_ORDER)
        } else {
            None
        }
    }

    /// Level `level` has ended.
    fn end(&mut self, level: u32) {
        let level = level as usize;
        if self.open.iter().skip(level + 1).any(|&open| open) {
            let from = self.out_of_order_from.map_or(level as u32, |from| from.min(level as u32));
            self.out_of_order_from = Some(from);
        }
        if let Some(open) = self.open.get_mut(level) {
            *open = false;
        }
        if let Some(from) = self.out_of_order_from
            && !self.open.iter().skip(from as usize).any(|&open| open)
        {
            // Every level from there up has ended: the driver and the levels agree again.
            self.out_of_order_from = None;
        }
    }
}

/// MySQL's "Lock wait timeout exceeded" (SQLSTATE HY000).
const MYSQL_LOCK_WAIT_TIMEOUT: u16 = 1205;

/// MySQL's "The total number of locks exceeds the lock table size" (SQLSTATE HY000): InnoDB
/// rolls the whole transaction back, as after a deadlock (`convert_error_code_to_mysql` marks
/// the transaction for rollback on `DB_LOCK_TABLE_FULL`).
const MYSQL_LOCK_TABLE_FULL: u16 = 1206;

/// The MySQL error number of an error the database returned.
fn mysql_error_number(error: &DbErr) -> Option<u16> {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match &**e {
            sea_orm::sqlx::Error::Database(e) => {
                e.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>().map(|e| e.number())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether `error` is MySQL's lock wait timeout.
fn is_lock_wait_timeout(error: &DbErr) -> bool {
    mysql_error_number(error) == Some(MYSQL_LOCK_WAIT_TIMEOUT)
}

/// The MySQL server's `innodb_rollback_on_timeout`, if it can be read through `conn`.
async fn read_rollback_on_timeout(conn: &impl ConnectionTrait) -> Option<bool> {
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::MySql, "SELECT @@innodb_rollback_on_timeout"))
        .await
        .ok()??;
    row.try_get_by_index::<i64>(0).map(|on| on != 0).or_else(|_| row.try_get_by_index::<bool>(0)).ok()
}

/// The SQLSTATE of an error the database returned.
fn sqlstate(error: &DbErr) -> Option<String> {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match &**e {
            sea_orm::sqlx::Error::Database(e) => e.code().map(|code| code.into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// The reason of a `bulk` event recorded for a call that failed ([`may_fail_partway`]).
const FAILED_PARTWAY: &str =
    "the call of several statements failed; this write may have run before the statement that failed";

/// Whether a call of `plan` that fails may still have written rows, if its text holds several
/// statements ([`sql::several_statements`], read only after a failure): MySQL and SQLite run
/// the statements of a call one by one, each in effect once it has run (in autocommit,
/// committed), so the bulk writes before a failing one stand. (PostgreSQL runs a call's
/// statements as one transaction; transaction control that would end it early is refused.)
fn may_fail_partway(backend: DbBackend, plan: &Plan) -> bool {
    backend != DbBackend::Postgres && !plan.bulk.is_empty()
}

/// MySQL and MariaDB statements an audited connection refuses, however they are sent (`execute`,
/// `query_*`, `stream_raw`): one the server precedes with an implicit COMMIT, inside an audited
/// transaction; one that changes when the server commits, anywhere.
pub(super) fn refuse_on_mysql(target: Target<'_>, backend: DbBackend, sql: &str) -> Result<(), DbErr> {
    if backend == DbBackend::MySql
        && matches!(target, Target::Tx(..))
        && let Some(statement) = sql::implicit_commit_on_mysql(sql)
    {
        return Err(DbErr::Custom(format!(
            "audit_seaorm: refused a statement that MySQL and MariaDB precede with an implicit COMMIT \
             ({statement}) inside an audited transaction: it would make the transaction's changes durable \
             while their audit events wait for its commit, and a later rollback would drop the events of \
             committed changes. Run it outside the transaction (on AuditedDb, where each statement commits \
             on its own), or through AuditedDb::unaudited() for a deliberate exception"
        )));
    }
    if backend == DbBackend::MySql
        && let Some(statement) = sql::sets_commit_mode_on_mysql(sql)
    {
        return Err(DbErr::Custom(format!(
            "audit_seaorm: refused a statement that changes when MySQL and MariaDB commit ({statement}): \
             with autocommit off, or completion_type CHAIN, the pooled connection's later statements stay in \
             a transaction no one commits, so that writes recorded as committed are lost when it closes. \
             Leave autocommit and completion_type at their defaults on an audited connection and use \
             begin() and commit(), or AuditedDb::unaudited() for a deliberate exception"
        )));
    }
    Ok(())
}

/// On MySQL and SQLite, a transaction the database rolled back (a deadlock; `SQLITE_FULL`,
/// `RAISE(ROLLBACK)`…) is over: a statement sent through it would run and commit on its own
/// (autocommit), outside what `commit()` or `rollback()` decides.
pub(super) fn refuse_after_rollback(target: Target<'_>, backend: DbBackend) -> Result<(), DbErr> {
    let Target::Tx(state, _) = target else { return Ok(()) };
    let (refusal, aborted) = {
        let state = lock(state);
        (state.refusal(), state.aborted_at.is_some())
    };
    if let Some(why) = refusal {
        return Err(DbErr::Custom(why.into()));
    }
    if backend != DbBackend::Postgres && aborted {
        let why = if backend == DbBackend::MySql {
            "MySQL (a deadlock, a full lock table, or a lock wait timeout under innodb_rollback_on_timeout)"
        } else {
            "SQLite (after a failed statement)"
        };
        return Err(DbErr::Custom(format!(
            "audit_seaorm: {why} rolled this transaction back; roll it back and retry the whole transaction"
        )));
    }
    Ok(())
}

/// Why statements through a transaction whose savepoint could not be begun are refused.
const SAVEPOINT_NOT_BEGUN: &str = "audit_seaorm: a savepoint of this transaction could not be begun, and the driver \
                                   rolled back part of the transaction or all of it as it gave up; roll the whole \
                                   transaction back and retry it";

/// Why statements through a transaction are refused after one of its savepoints was dropped
/// while a savepoint begun inside it was being released ([`TxState::rolled_back_late`]).
const DROPPED_DURING_RELEASE: &str = "audit_seaorm: a savepoint of this transaction was dropped while a savepoint begun \
                                      inside it was still being released (its commit() future was dropped), and \
                                      its rollback waits for that release, after statements sent meanwhile: roll \
                                      the whole transaction back and retry it";

/// Why statements through a transaction whose savepoints ended out of order are refused.
const ENDED_OUT_OF_ORDER: &str = "audit_seaorm: a savepoint (or the transaction) ended while a savepoint begun inside it \
                                  was still open, and the driver ended the inner one instead (it ends savepoints \
                                  innermost first): roll back the savepoints still open inside it before using the \
                                  transaction again (committing them is refused); end savepoints innermost first";

/// After a failed statement at nesting `level` of a PostgreSQL or MySQL transaction: from which
/// level the server rolled the transaction back (see `DbShared::note_failure`), if it did.
/// `rolls_back_on_timeout`: the MySQL server's `innodb_rollback_on_timeout`
/// ([`DbShared::mysql_rolls_back_on_timeout`]).
pub(super) fn aborted_from(backend: DbBackend, level: u32, error: &DbErr, rolls_back_on_timeout: bool) -> Option<u32> {
    match backend {
        DbBackend::Postgres => Some(level),
        DbBackend::MySql if sqlstate(error).as_deref() == Some("40001") => Some(0),
        DbBackend::MySql if rolls_back_on_timeout && is_lock_wait_timeout(error) => Some(0),
        DbBackend::MySql if mysql_error_number(error) == Some(MYSQL_LOCK_TABLE_FULL) => Some(0),
        _ => None,
    }
}

/// The level a statement sent through nesting `level` failed at, as the database sees it: the
/// innermost savepoint open (a statement sent through an enclosing level runs inside it), the
/// one whose rollback undoes a PostgreSQL abort.
pub(super) fn failure_level(state: &Mutex<TxState>, level: u32) -> u32 {
    lock(state).innermost().max(level)
}

/// Notes that the transaction was rolled back from nesting level `from`.
pub(super) fn mark_aborted(state: &Mutex<TxState>, from: u32) {
    let mut state = lock(state);
    state.aborted_at = Some(state.aborted_at.map_or(from, |at| at.min(from)));
}

/// The SQLite probe after a failed statement at nesting `level`: `BEGIN`, then the savepoints
/// sqlx would have open at that level (`SAVEPOINT _sqlx_savepoint_N` for N = 1..=level, its
/// names for nested transactions), in case the database rolled everything back.
fn reopen_sql(level: u32) -> String {
    let mut sql = String::from("BEGIN");
    for n in 1..=level {
        sql.push_str(&format!("; SAVEPOINT _sqlx_savepoint_{n}"));
    }
    sql
}

/// Drops the events of a transaction (or savepoint) that ends without commit.
struct TxGuard {
    state: Arc<Mutex<TxState>>,
    /// How many events were buffered when this (sub)transaction began.
    mark: usize,
    /// 0 for the outermost transaction, 1 for its savepoints, …
    level: u32,
    finished: bool,
}

impl Drop for TxGuard {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.end(self.level);
        if !self.finished {
            state.events.truncate(self.mark);
            if state.aborted_at.is_some_and(|at| at >= self.level) {
                state.aborted_at = None; // rolled back to before the failure
            }
        }
    }
}

/// Where a statement's events go.
#[derive(Clone, Copy)]
pub(super) enum Target<'a> {
    /// Directly on the connection (autocommit): recorded right after the statement.
    Auto,
    /// Inside a transaction (at this nesting level): buffered until the outermost commit.
    Tx(&'a Mutex<TxState>, u32),
}

/// The hooks' read of an old row without its `FOR UPDATE` on the autocommit connection,
/// where the lock would not outlive the read (see [`marker::OLD_ROW_READ`]).
fn unlock_old_row_read(target: Target<'_>, mut stmt: Statement) -> Statement {
    if matches!(target, Target::Auto)
        && stmt.sql.starts_with(marker::OLD_ROW_READ)
        && let Some(unlocked) = stmt.sql.strip_suffix(" FOR UPDATE")
    {
        stmt.sql = unlocked.to_string();
    }
    stmt
}

impl DbShared {
    fn with_tracker<R>(&self, target: Target<'_>, f: impl FnOnce(&mut Tracker) -> R) -> R {
        match target {
            Target::Auto => f(&mut lock(&self.auto)),
            Target::Tx(state, _) => f(&mut lock(state).tracker),
        }
    }

    async fn emit(&self, target: Target<'_>, events: Vec<OrmEvent>) -> Result<(), DbErr> {
        match target {
            Target::Tx(state, _) => {
                lock(state).events.extend(events);
                Ok(())
            }
            Target::Auto => {
                for ticket in self.hand_off(&events).await? {
                    ticket.await.map_err(record_error)?;
                }
                Ok(())
            }
        }
    }

    /// Hands the events of a committed change to the auditor in order and returns their
    /// tickets.
    ///
    /// When the writer is idle they are appended here, on the caller's task
    /// ([`audit_core::Auditor::try_write_here`]), sparing the hand-offs to the writer's task and
    /// back; the tickets are then answered already. Otherwise they are queued. The change is
    /// in the database already, so its events must reach the writer even if the caller's
    /// future is dropped (a cancelled request, a timeout): an append begun here is finished
    /// by a task of its own, and what cannot be queued at once is queued by a task of its
    /// own, which finishes whatever happens to the caller. (Dropping a ticket does not
    /// withdraw its event.) When there is room, nothing is spawned.
    async fn hand_off(&self, events: &[OrmEvent]) -> Result<Vec<Ticket>, DbErr> {
        let writing =
            without_scope(|| self.auditor.try_write_here(events.iter().map(|event| self.draft_of(event)).collect()));
        let drafts = match writing {
            Ok(writing) => return Ok(writing.await),
            Err(TryWriteHereError::Record(e)) => return Err(record_error(e)),
            Err(TryWriteHereError::Busy(drafts)) => drafts,
        };
        let mut tickets = Vec::with_capacity(drafts.len());
        let mut drafts = drafts.into_iter();
        let rest = without_scope(|| {
            while let Some(draft) = drafts.next() {
                match self.auditor.try_record(draft) {
                    Ok(ticket) => tickets.push(ticket),
                    Err(TryRecordError::Record(e)) => return Err(record_error(e)),
                    Err(TryRecordError::Full { draft, .. }) => {
                        return Ok(std::iter::once(*draft).chain(drafts.by_ref()).collect::<Vec<_>>());
                    }
                }
            }
            Ok(Vec::new())
        })?;
        if !rest.is_empty() {
            let auditor = self.auditor.clone();
            // Counted until the task ends, for `flush`, after which the auditor is shut down.
            let in_flight = self.in_flight.start();
            let queueing = tokio::spawn(async move {
                let _in_flight = in_flight;
                let mut tickets = Vec::with_capacity(rest.len());
                for draft in rest {
                    tickets.push(auditor.record_buffered(draft).await?);
                }
                Ok::<_, RecordError>(tickets)
            });
            let rest = queueing
                .await
                .map_err(|e| DbErr::Custom(format!("audit_seaorm: the task queueing audit events failed: {e}")))?;
            tickets.extend(rest.map_err(record_error)?);
        }
        Ok(tickets)
    }

    /// Checks, before a transaction commits, that the auditor will take each of its events
    /// (indexed fields' lengths, canonical size): an event refused after `COMMIT` would leave a
    /// committed change without its event (and, with the outbox, a row no recovery can seal).
    fn check_before_commit(&self, events: &[OrmEvent]) -> Result<(), DbErr> {
        if self.auditor.is_closed() {
            return Err(DbErr::Custom(
                "audit_seaorm: the transaction was rolled back, nothing was committed: the auditor is shut down and \
                 records no more events (commit audited changes before Auditor::shutdown)"
                    .into(),
            ));
        }
        without_scope(|| {
            for event in events {
                if let Err(e) = self.auditor.check(self.draft_of(event)) {
                    return Err(DbErr::Custom(format!(
                        "audit_seaorm: the transaction was rolled back, nothing was committed: the audit event of its \
                         {} of {} {} cannot be recorded: {e}",
                        event.action, event.resource_type, event.resource_id
                    )));
                }
            }
            Ok(())
        })
    }

    /// Settles the hooked writes of `plan` and gives each that ran a stand-in, kept where
    /// `place` puts it. Returns how many ran.
    fn settle_with_stand_ins(
        &self,
        tracker: &mut Tracker,
        plan: &Plan,
        outcome: Option<Option<u64>>,
        mut place: impl FnMut(OrmEvent) -> StandIn,
    ) -> usize {
        let ran: Vec<Ran> = tracker
            .settle(plan, outcome)
            .into_iter()
            .map(|(token, affected, pending)| Ran::new(token, place(self.stand_in(token, affected, pending))))
            .collect();
        let count = ran.len();
        tracker.ran(ran, outcome.flatten());
        count
    }

    /// Before a statement runs: which of its writes are hooked, which are not (and whether
    /// strict mode refuses it).
    fn plan(
        &self,
        target: Target<'_>,
        backend: DbBackend,
        sql: &str,
        values: &[sea_orm::Value],
    ) -> Result<Plan, DbErr> {
        refuse_on_mysql(target, backend, sql)?;
        let writes = sql::writes_on_kept(sql, backend);
        if writes.is_empty() {
            return Ok(Plan::default());
        }
        if let Some(control) = writes.iter().find(|write| write.verb == sql::Verb::Transaction) {
            return Err(DbErr::Custom(format!(
                "audit_seaorm: refused transaction control sent as SQL ({}): it would end or split the \
                 transaction whose audit events are kept until it commits, so that the trail and the \
                 database disagree. Use begin(), commit() and rollback() of AuditedDb and AuditedTransaction \
                 (begin() on a transaction opens a savepoint), or AuditedDb::unaudited() for a deliberate exception",
                control.shape
            )));
        }
        let task = tokio::task::try_id();
        let plan = self.with_tracker(target, |tracker| tracker.plan(task, writes, values));
        if self.bulk == BulkPolicy::Reject
            && let Some(write) = plan.bulk.first()
        {
            self.with_tracker(target, |tracker| {
                tracker.settle(&plan, None);
            });
            let what = if write.verb.runs_code() {
                format!("a {} statement, which runs code whose writes the audit hooks cannot see", write.verb.as_str())
            } else {
                format!("a {} on table `{}` that bypasses the audit hooks", write.verb.as_str(), write.table)
            };
            return Err(DbErr::Custom(format!(
                "audit_seaorm strict mode: refused {what} ({}). \
                 Write through ActiveModel insert/update/delete or the audited helpers of audit_seaorm::orm::bulk, \
                 or use AuditedDb::unaudited() for a deliberate exception",
                write.shape
            )));
        }
        Ok(plan)
    }

    /// After a statement: settle hooked writes (with stand-ins for those that ran), record
    /// bulk ones: those that ran (`outcome`: `Some(rows affected, if known)`), or, for a call
    /// that failed (`None`), those that may have run before the failing statement of a call of
    /// several (`partway`, see [`may_fail_partway`]), as `failure`s saying so.
    async fn finish(
        &self,
        target: Target<'_>,
        plan: Plan,
        outcome: Option<Option<u64>>,
        partway: bool,
    ) -> Result<(), DbErr> {
        match target {
            Target::Tx(state, _) => {
                let mut state = lock(state);
                let TxState { tracker, events, .. } = &mut *state;
                // In the buffer, at the write's place.
                self.settle_with_stand_ins(tracker, &plan, outcome, |event| {
                    let id = event.id;
                    events.push(event);
                    StandIn::Buffered(id)
                });
            }
            Target::Auto => {
                let expired = {
                    let mut tracker = lock(&self.auto);
                    let expired = tracker.expire();
                    let held = self
                        .settle_with_stand_ins(&mut tracker, &plan, outcome, |event| StandIn::Held(Box::new(event)));
                    self.auto_ran.fetch_add(held, Ordering::Relaxed);
                    expired
                };
                self.record_stand_ins(expired);
            }
        }
        let affected = match outcome {
            Some(affected) => affected,
            None if partway => None,
            None => return Ok(()),
        };
        if plan.bulk.is_empty() {
            return Ok(());
        }
        let several = plan.bulk.len() + plan.hooked.len() > 1;
        let events = plan
            .bulk
            .into_iter()
            .map(|write| {
                let mut event = OrmEvent::new("bulk", &write.table, String::new());
                event.details.insert("verb".into(), json!(write.verb.as_str()));
                event.details.insert("statement".into(), json!(write.shape));
                if let Some(rows) = affected {
                    let key = if several { "rows_affected_by_batch" } else { "rows_affected" };
                    event.details.insert(key.into(), json!(rows));
                }
                if partway {
                    event.reason = Some(FAILED_PARTWAY.into());
                }
                event.redact(&self.redaction, &[], &self.auditor);
                event
            })
            .collect();
        self.emit(target, events).await
    }

    /// The draft of `event` for the auditor: marked as hidden already by this connection's
    /// policy when it was ([`EventDraft::redacted_with`](audit_core::EventDraft::redacted_with)),
    /// so that an auditor with the same policy does not MAC its tokens again.
    pub(super) fn draft_of(&self, event: &OrmEvent) -> audit_core::EventDraft {
        event.draft_for(&self.redaction)
    }

    /// The resource id events record for a row of `key` ([`event::shown_id`]): secrets kept
    /// as keys hidden.
    pub(super) fn shown_id(&self, key_columns: &[String], key: &[Json], redact: &[impl AsRef<str>]) -> String {
        event::shown_id(key_columns, key, &self.redaction, self.auditor.redaction(), redact)
    }

    async fn on_marker(&self, target: Target<'_>, stmt: Statement) -> Result<(), DbErr> {
        let task = tokio::task::try_id();
        match marker::decode(stmt)? {
            Message::Probe => Ok(()),
            Message::Begin {
                table,
                verb,
                key,
                stored_key,
                key_columns,
                old,
                redact,
                values,
                no_statement,
                new,
                old_read,
                key_source,
            } => {
                // The statement is matched by the key it binds; the row is named as stored.
                let mut key_values = key.unwrap_or_default();
                let named = stored_key.as_ref().unwrap_or(&key_values);
                let mut key = (!named.is_empty()).then(|| resource_id(named));
                let shown_key = key.as_ref().map(|_| self.shown_id(&key_columns, named, &redact));
                let mut inserted = None;
                if verb == WriteVerb::Insert {
                    // Inserts are matched by their statements' values, not by key: the key
                    // only names the row in the stand-in.
                    key_values = Vec::new();
                    inserted =
                        new.map(|row| Box::new(Inserted { key: key.take(), row, redact: redact.clone(), key_source }));
                }
                let deferred = old_read
                    .and_then(old_row::lookup)
                    .map(|read| Box::new(DeferredRead { read, redact: redact.clone() }));
                let since = std::time::Instant::now();
                let token = Token {
                    task,
                    verb: verb.sql(),
                    table,
                    key,
                    shown_key,
                    key_values,
                    values,
                    since,
                    inserted,
                    deferred,
                };
                let expired = self.with_tracker(target, |tracker| tracker.begin(token, old, redact, no_statement));
                self.record_stand_ins(expired);
                Ok(())
            }
            Message::End { table, verb, key: key_values, key_columns, row, redact } => {
                let key = resource_id(&key_values);
                let shown_key = self.shown_id(&key_columns, &key_values, &redact);
                let Ended { pending, stand_in, skipped } =
                    self.with_tracker(target, |tracker| tracker.end(task, verb.sql(), &table, &key));
                self.drop_stand_ins(target, skipped);
                let old_known = pending.is_some() || verb == WriteVerb::Insert;
                let mut details = serde_json::Map::new();
                let changes = match (verb, row, pending) {
                    (WriteVerb::Insert, Some(row), _) => event::created(row),
                    (WriteVerb::Update, _, Some(pending)) if pending.no_statement => Vec::new(),
                    (WriteVerb::Update, Some(row), Some(pending)) => event::updated(pending.old, row),
                    (WriteVerb::Update, Some(row), None) => {
                        // before_save found no row, yet the update went through.
                        details.insert("old_unknown".into(), Json::Bool(true));
                        event::created(row)
                    }
                    (WriteVerb::Delete, _, Some(pending)) if pending.affected != Some(0) => event::deleted(pending.old),
                    _ => Vec::new(),
                };
                let event = (!changes.is_empty()).then(|| {
                    let mut event = OrmEvent::new(verb.action(), &table, shown_key);
                    event.changes = changes;
                    event.details = details;
                    let redact: Vec<&str> = redact.iter().map(String::as_str).collect();
                    event.redact(&self.redaction, &redact, &self.auditor);
                    event
                }); // None: nothing changed, or nothing was deleted
                match self.replace_stand_in(target, stand_in, event, old_known) {
                    Some(event) => self.emit(target, vec![event]).await,
                    None => Ok(()),
                }
            }
        }
    }

    /// Runs one statement through `run` (a call of `inner`), with marker handling and write
    /// tracking around it.
    pub(super) async fn intercept<T, I, F, Fut>(
        &self,
        target: Target<'_>,
        inner: &I,
        stmt: Statement,
        run: F,
    ) -> Result<T, DbErr>
    where
        T: Outcome,
        I: ConnectionTrait,
        F: FnOnce(Statement) -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        let backend = inner.get_database_backend();
        if marker::is_marker(&stmt.sql) {
            self.on_marker(target, stmt).await?;
            return Ok(T::from_marker(marker::fake_result(backend)));
        }
        let mut stmt = unlock_old_row_read(target, stmt);
        refuse_after_rollback(target, backend)?;
        let values = stmt.values.as_ref().map_or(&[][..], |v| &v.0[..]);
        let plan = self.plan(target, backend, &stmt.sql, values)?;
        let mut guard = self.guard_stand_ins(target, &stmt.sql, values);
        let found_if = self.duplicate_key_check(&mut stmt, &plan, backend, T::ROWS);
        // Kept, where it can matter, to read after a failure ([`may_fail_partway`]).
        let text = may_fail_partway(backend, &plan).then(|| stmt.sql.clone());
        let result = match self.read_old_rows(target, inner, &mut stmt, &plan, T::ROWS).await {
            Ok(None) => run(stmt).await,
            // The old row's columns come with the row the UPDATE returns.
            Ok(Some((index, Fusion::Subquery))) => {
                let result = run(stmt).await;
                if let Ok(result) = &result {
                    self.keep_fused_old_row(target, &plan.hooked[index], result.first_row());
                }
                result
            }
            // The old row comes first, as a row of its own (more than one only if the key is
            // not unique: a view, a table without its key constraint).
            Ok(Some((index, Fusion::Prepended))) => inner.query_all_raw(stmt).await.and_then(|rows| {
                let (old, rows): (Vec<_>, Vec<_>) = rows.into_iter().partition(old_row::is_old_row);
                self.keep_fused_old_row(target, &plan.hooked[index], old.first());
                T::from_rows(rows)
            }),
            Err(e) => Err(e),
        };
        guard.held.clear();
        self.note_failure(target, backend, result.as_ref().err(), inner).await;
        if plan.is_empty() {
            return result;
        }
        let partway = result.is_err() && text.is_some_and(|sql| sql::several_statements(&sql, backend));
        let mut outcome = result.as_ref().ok().map(T::affected);
        if let Some(found) = found_if
            && result.as_ref().is_ok_and(|r| r.last_insert_id() == Some(found))
        {
            // The row was there: nothing written, whatever the count says.
            outcome = Some(Some(0));
            if found == FOUND_ON_DUPLICATE_KEY {
                self.with_tracker(target, |tracker| tracker.insert_found(&plan.hooked[0]));
            }
        }
        self.finish(target, plan, outcome, partway).await?;
        result
    }

    /// On MySQL, a hooked insert sent as `INSERT … ON DUPLICATE KEY UPDATE a = a` (SeaORM's
    /// `on_conflict_do_nothing`, as in its saving of many-to-many links) that finds its row
    /// there already writes nothing, yet the driver counts the row as affected (sqlx asks the
    /// server for found rows). Returns the statement's last insert id that then tells so:
    /// - 0 where SeaORM takes the inserted row's key from that id (an auto-increment key): it
    ///   takes 0 for "not inserted" too, and calls no `after_save`;
    /// - where SeaORM takes the key from the model (see [`KeySource`]), it reads the
    ///   existing row back and calls `after_save` with it as if inserted. The statement gets
    ///   one more assignment that keeps the column as it is but runs only on a duplicate, and
    ///   sets the last insert id to [`FOUND_ON_DUPLICATE_KEY`] (a new row without an
    ///   auto-increment key reports 0).
    ///
    /// Only for a statement run for its `ExecResult` (as SeaORM runs inserts on MySQL).
    fn duplicate_key_check(&self, stmt: &mut Statement, plan: &Plan, backend: DbBackend, rows: bool) -> Option<u64> {
        let ([token], true) = (&plan.hooked[..], plan.bulk.is_empty() && !rows) else { return None };
        let inserted = token.inserted.as_deref().filter(|_| backend == DbBackend::MySql)?;
        let column = sql::insert_doing_nothing_on_duplicate_key(&stmt.sql)?;
        match inserted.key_source? {
            KeySource::LastInsertId => return Some(0),
            KeySource::Model => {}
        }
        let column = outbox::quote(backend, &column);
        stmt.sql
            .push_str(&format!(", {column} = IF(LAST_INSERT_ID({FOUND_ON_DUPLICATE_KEY}) = 0, {column}, {column})"));
        Some(FOUND_ON_DUPLICATE_KEY)
    }

    /// Reads the old rows that hooks left to the connection (updates on PostgreSQL and
    /// SQLite, see [`old_row`]): with the statement itself when it returns rows and has
    /// SeaORM's shape (then returns that write's index in `plan.hooked` and how its old row
    /// comes back with the statement's result), otherwise each with a read of its own just
    /// before the statement, locked inside a transaction.
    async fn read_old_rows<I: ConnectionTrait>(
        &self,
        target: Target<'_>,
        inner: &I,
        stmt: &mut Statement,
        plan: &Plan,
        returns_rows: bool,
    ) -> Result<Option<(usize, Fusion)>, DbErr> {
        let mut fused = None;
        for (index, token) in plan.hooked.iter().enumerate() {
            let Some(deferred) = &token.deferred else { continue };
            if returns_rows
                && plan.hooked.len() == 1
                && plan.bulk.is_empty()
                && let Some(fusion) = deferred.read.fuse(stmt)
            {
                fused = Some((index, fusion));
                continue;
            }
            let values = stmt.values.as_ref().map_or(&[][..], |v| &v.0[..]);
            let key = &values[values.len().saturating_sub(deferred.read.key_len())..];
            let read = deferred.read.separate(key, matches!(target, Target::Tx(..)));
            if let Some(row) = inner.query_one_raw(read).await? {
                let old = deferred.read.decode(&row)?;
                self.with_tracker(target, |tracker| tracker.old_row_read(token, old));
            }
        }
        Ok(fused)
    }

    /// Keeps the old row that came back with a hooked update (see [`old_row`]). The update
    /// has happened: if the row cannot be read (SeaORM, which reads the same columns for its
    /// model, would then fail as well), its event says `old_unknown`.
    fn keep_fused_old_row(&self, target: Target<'_>, token: &Token, row: Option<&QueryResult>) {
        let (Some(deferred), Some(row)) = (&token.deferred, row) else { return };
        if let Ok(old) = deferred.read.decode(row) {
            self.with_tracker(target, |tracker| tracker.old_row_read(token, old));
        }
    }

    async fn intercept_unprepared<I: ConnectionTrait>(
        &self,
        target: Target<'_>,
        inner: &I,
        sql: &str,
    ) -> Result<ExecResult, DbErr> {
        let backend = inner.get_database_backend();
        refuse_after_rollback(target, backend)?;
        let plan = self.plan(target, backend, sql, &[])?;
        let mut guard = self.guard_stand_ins(target, sql, &[]);
        let result = inner.execute_unprepared(sql).await;
        guard.held.clear();
        self.note_failure(target, backend, result.as_ref().err(), inner).await;
        if plan.is_empty() {
            return result;
        }
        let partway = result.is_err() && may_fail_partway(backend, &plan) && sql::several_statements(sql, backend);
        let outcome = result.as_ref().ok().map(|r| Some(r.rows_affected()));
        self.finish(target, plan, outcome, partway).await?;
        result
    }

    /// PostgreSQL aborts a transaction at its first failed statement; MySQL rolls the whole
    /// transaction back on a deadlock (SQLSTATE 40001) or a full lock table (1206), savepoints
    /// included; SQLite rolls it back on some errors (`SQLITE_FULL`, `SQLITE_IOERR`, `SQLITE_NOMEM`, `RAISE(ROLLBACK)` in a
    /// trigger…), which the error alone does not tell: after a failed statement, `reopen`
    /// sends `BEGIN` through `inner`, which succeeds only if no transaction was open any more. (The transaction
    /// it opens, and the savepoints [`reopen_sql`] opens in it, stand in for the lost ones, so
    /// that the driver's `ROLLBACK TO SAVEPOINT`s and final `ROLLBACK` still have something to
    /// end and the connection goes back to its pool outside any transaction.)
    async fn note_failure<I: ConnectionTrait>(
        &self,
        target: Target<'_>,
        backend: DbBackend,
        error: Option<&DbErr>,
        inner: &I,
    ) {
        let (Some(error), Target::Tx(state, level)) = (error, target) else { return };
        let level = failure_level(state, level);
        let from = match backend {
            DbBackend::Sqlite if inner.execute_unprepared(&reopen_sql(level)).await.is_ok() => 0,
            _ => {
                // A lock wait timeout rolls back the statement, or the whole transaction when
                // the server runs with `innodb_rollback_on_timeout`.
                let rolls_back = backend == DbBackend::MySql
                    && is_lock_wait_timeout(error)
                    && self.mysql_rolls_back_on_timeout(inner).await;
                match aborted_from(backend, level, error, rolls_back) {
                    Some(from) => from,
                    None => return,
                }
            }
        };
        mark_aborted(state, from);
    }

    /// Whether the MySQL server rolls a whole transaction back on a lock wait timeout
    /// (`innodb_rollback_on_timeout`), read through `conn` each time it is needed: after a
    /// timeout, and before a streamed read in a transaction. Not kept: the setting is read-only
    /// while a server runs, but the server may be restarted with another one while the
    /// application runs, and a setting turned on taken for off would record writes the
    /// server rolled back. If it cannot be told, yes: the transaction is then refused its
    /// commit (the application retries it) rather than risk recording rolled-back writes.
    pub(super) async fn mysql_rolls_back_on_timeout(&self, conn: &impl ConnectionTrait) -> bool {
        read_rollback_on_timeout(conn).await.unwrap_or(true)
    }

    /// Hands a committed transaction's events to the auditor, in order, and returns once they
    /// are durable; then deletes their outbox rows.
    async fn seal(&self, events: Vec<OrmEvent>) -> Result<(), DbErr> {
        let crash = *lock(&self.crash);
        if crash == Some(CrashPoint::AfterCommit) {
            return Err(DbErr::Custom("audit_seaorm: simulated crash after COMMIT".into()));
        }
        let tickets = self.hand_off(&events).await?;
        for (ticket, event) in tickets.into_iter().zip(&events) {
            match &self.delivery {
                // A recovery may have sealed the outbox row meanwhile: that is sealed too.
                Delivery::Outbox { store, .. } => {
                    outbox::sealed(ticket, event.id, &**store).await.map_err(record_error)?;
                }
                Delivery::Direct => {
                    ticket.await.map_err(record_error)?;
                }
            }
        }
        if let Delivery::Outbox { table, .. } = &self.delivery {
            if crash == Some(CrashPoint::AfterSeal) {
                return Err(DbErr::Custom("audit_seaorm: simulated crash after sealing".into()));
            }
            let overflow = {
                let mut sealed = lock(&self.sealed);
                sealed.extend(events.iter().map(|e| e.id.to_string()));
                if sealed.len() >= SEALED_BACKLOG { std::mem::take(&mut *sealed) } else { Vec::new() }
            };
            if !overflow.is_empty() {
                // No writing transaction came along to take them: delete them now. The commit
                // and its events are done whatever happens here: a failed delete leaves the
                // rows for a later one (a recovery finds their events sealed), and is no error
                // of this commit's.
                if outbox::delete(&self.conn, table, &overflow).await.is_err() {
                    lock(&self.sealed).extend(overflow);
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// ConnectionTrait

/// What a statement returns, as [`DbShared::intercept`] reads it.
pub(super) trait Outcome: Sized {
    /// Whether the statement returns rows (an UPDATE's `RETURNING` can then carry its old
    /// row, see [`old_row`]).
    const ROWS: bool;
    /// The answer to a marker statement, which never reaches the database.
    fn from_marker(result: ExecResult) -> Self;
    /// Rows affected (or returned), if known.
    fn affected(&self) -> Option<u64>;
    /// The first row returned.
    fn first_row(&self) -> Option<&QueryResult>;
    /// The last insert id, from a statement run for its `ExecResult`.
    fn last_insert_id(&self) -> Option<u64> {
        None
    }
    /// The outcome of a query that returned `rows` (the UPDATE's, after SQLite's read of its old
    /// row, see [`old_row`]).
    fn from_rows(rows: Vec<QueryResult>) -> Result<Self, DbErr>;
}

impl Outcome for ExecResult {
    const ROWS: bool = false;
    fn from_marker(result: ExecResult) -> Self {
        result
    }
    fn affected(&self) -> Option<u64> {
        Some(self.rows_affected())
    }
    fn first_row(&self) -> Option<&QueryResult> {
        None
    }
    fn last_insert_id(&self) -> Option<u64> {
        Some(ExecResult::last_insert_id(self))
    }
    fn from_rows(_: Vec<QueryResult>) -> Result<Self, DbErr> {
        // Never asked: a statement run for its ExecResult returns no rows to carry an old row.
        Err(DbErr::Custom("audit_seaorm: rows where a statement's result was expected".into()))
    }
}

impl Outcome for Option<QueryResult> {
    const ROWS: bool = true;
    fn from_marker(_: ExecResult) -> Self {
        None
    }
    fn affected(&self) -> Option<u64> {
        Some(u64::from(self.is_some()))
    }
    fn first_row(&self) -> Option<&QueryResult> {
        self.as_ref()
    }
    fn from_rows(rows: Vec<QueryResult>) -> Result<Self, DbErr> {
        Ok(rows.into_iter().next())
    }
}

impl Outcome for Vec<QueryResult> {
    const ROWS: bool = true;
    fn from_marker(_: ExecResult) -> Self {
        Vec::new()
    }
    fn affected(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
    fn first_row(&self) -> Option<&QueryResult> {
        self.first()
    }
    fn from_rows(rows: Vec<QueryResult>) -> Result<Self, DbErr> {
        Ok(rows)
    }
}

/// `ConnectionTrait` for a wrapper: every statement goes to the connection or transaction that
/// `$inner` names (with `$this` the wrapper) through [`DbShared::intercept`], on behalf of the
/// transaction (or autocommit) that `$target` names.
macro_rules! intercepting_connection {
    ($wrapper:ty, |$this:ident| $inner:expr, $target:expr) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $wrapper {
            fn get_database_backend(&self) -> DbBackend {
                let $this = self;
                ConnectionTrait::get_database_backend($inner)
            }

            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                let $this = self;
                let inner = $inner;
                self.shared.intercept($target, inner, stmt, |s| inner.execute_raw(s)).await
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                let $this = self;
                self.shared.intercept_unprepared($target, $inner, sql).await
            }

            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                let $this = self;
                let inner = $inner;
                self.shared.intercept($target, inner, stmt, |s| inner.query_one_raw(s)).await
            }

            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                let $this = self;
                let inner = $inner;
                self.shared.intercept($target, inner, stmt, |s| inner.query_all_raw(s)).await
            }

            fn support_returning(&self) -> bool {
                let $this = self;
                ConnectionTrait::support_returning($inner)
            }
        }

        /// Reads stream from the connection; a write (an `INSERT … RETURNING` streamed, say)
        /// is recorded like any other (see the `stream` module).
        #[cfg(feature = "stream")]
        impl sea_orm::StreamTrait for $wrapper {
            type Stream<'a> = super::stream::RowStream<'a>;

            fn get_database_backend(&self) -> DbBackend {
                let $this = self;
                ConnectionTrait::get_database_backend($inner)
            }

            fn stream_raw<'a>(
                &'a self,
                stmt: Statement,
            ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + Send + 'a>> {
                let $this = self;
                Box::pin(self.shared.stream($target, $inner, stmt))
            }
        }
    };
}

intercepting_connection!(AuditedDb, |db| &db.conn, Target::Auto);
intercepting_connection!(AuditedTransaction, |txn| txn.inner.get(), txn.target());

// ---------------------------------------------------------------------------------------
// Transactions

impl AuditedDb {
    fn wrap(&self, inner: DatabaseTransaction) -> AuditedTransaction {
        let state = Arc::new(Mutex::new(TxState::default()));
        AuditedTransaction {
            inner: DriverTxn::new(inner, Arc::default(), Arc::clone(&state), 0),
            shared: Arc::clone(&self.shared),
            guard: TxGuard { state, mark: 0, level: 0, finished: false },
            outermost: true,
        }
    }
}

impl AuditedTransaction {
    /// Whether a savepoint may be begun from this (sub)transaction: only from the innermost
    /// open one (a sibling savepoint would be ended by the driver in the wrong order), and not
    /// once the database or the driver ended the transaction.
    fn may_nest(&self) -> Result<(), DbErr> {
        refuse_after_rollback(self.target(), self.get_database_backend())?;
        if lock(&self.guard.state).innermost() != self.guard.level {
            return Err(DbErr::Custom(
                "audit_seaorm: a savepoint begun from this transaction is still open: commit or roll it back before \
                 beginning another from here (savepoints end innermost first)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The savepoint `begun` opened, or why not (then the transaction is [`TxState::lost`]).
    fn nested(&self, begun: Result<DatabaseTransaction, DbErr>) -> Result<AuditedTransaction, DbErr> {
        match begun {
            Ok(inner) => Ok(self.nest(inner)),
            Err(e) => {
                lock(&self.guard.state).lost = true;
                Err(e)
            }
        }
    }

    fn nest(&self, inner: DatabaseTransaction) -> AuditedTransaction {
        let mark = {
            let mut state = lock(&self.guard.state);
            let level = self.guard.level as usize + 1;
            if state.open.len() <= level {
                state.open.resize(level + 1, false);
            }
            state.open[level] = true;
            state.events.len()
        };
        let level = self.guard.level + 1;
        AuditedTransaction {
            inner: DriverTxn::new(inner, Arc::clone(&self.inner.busy), Arc::clone(&self.guard.state), level),
            shared: Arc::clone(&self.shared),
            guard: TxGuard { state: Arc::clone(&self.guard.state), mark, level, finished: false },
            outermost: false,
        }
    }

    fn target(&self) -> Target<'_> {
        Target::Tx(&self.guard.state, self.guard.level)
    }

    /// The database backend (inherent, as on [`AuditedDb::get_database_backend`]).
    pub fn get_database_backend(&self) -> DbBackend {
        ConnectionTrait::get_database_backend(self.inner.get())
    }

    /// The plain transaction underneath (writes through it are neither seen nor audited).
    pub(crate) fn raw(&self) -> &DatabaseTransaction {
        self.inner.get()
    }

    /// `result` of a statement an audited helper ran on [`AuditedTransaction::raw`]: a failure
    /// is noted as one through the wrapper is (the database may have rolled the transaction
    /// back), and statements are refused once the database ended the transaction.
    pub(crate) async fn raw_result<T>(&self, result: Result<T, DbErr>) -> Result<T, DbErr> {
        let backend = self.get_database_backend();
        self.shared.note_failure(self.target(), backend, result.as_ref().err(), self.inner.get()).await;
        result
    }

    /// Buffers events produced by the audited helpers.
    pub(crate) fn push_events(&self, events: Vec<OrmEvent>) {
        lock(&self.guard.state).events.extend(events);
    }

    /// The resource id events record for the row of `E` whose key is `key`
    /// ([`event::shown_id`]); `redact` are the entity's redacted columns.
    pub(crate) fn shown_id<E: sea_orm::EntityTrait>(&self, key: &[sea_orm::Value], redact: &[&str]) -> String {
        self.shared.shown_id(&key_columns_of::<E>(), &key_json(key), redact)
    }

    /// Hides `event`'s secrets and fits its values into the auditor's limit
    /// ([`OrmEvent::redact`]); `columns` are the entity's redacted columns.
    pub(crate) fn redact(&self, event: &mut OrmEvent, columns: &[&str]) {
        event.redact(&self.shared.redaction, columns, &self.shared.auditor);
    }

    /// Commits. For the outermost transaction: writes the outbox rows, commits, then hands the
    /// events to the auditor and returns once they are durable. Once called, it finishes even
    /// if the caller stops waiting (the change may be committed, and then its events must
    /// follow): dropped, it goes on in a task of its own, which [`AuditedDb::flush`] waits
    /// for. For a savepoint: releases it (its events stay with the enclosing transaction);
    /// dropped, the `RELEASE` goes on in a task of its own too. An enclosing level dropped
    /// meanwhile (the handler holding both was dropped) is rolled back once it is done; a
    /// savepoint dropped so leaves its enclosing transaction to be rolled back whole
    /// (statements and commit refused), its rollback coming late.
    pub async fn commit(self) -> Result<(), DbErr> {
        let AuditedTransaction { inner, shared, mut guard, outermost } = self;
        let busy = Arc::clone(&inner.busy);
        let inner = inner.take().await;
        let refused = {
            let state = lock(&guard.state);
            // Committing with a savepoint still open inside would end them out of order.
            state.refusal().or((state.innermost() > guard.level).then_some(ENDED_OUT_OF_ORDER))
        };
        if let Some(why) = refused {
            // Whatever a commit would end, it could be the wrong savepoint: rolled back instead
            // (the guard's drop notes how it ended), refused.
            let _ = inner.rollback().await;
            return Err(DbErr::Custom(why.into()));
        }
        if !outermost {
            // `RELEASE` too finishes if the caller stops waiting: once sent, the server may have
            // released the savepoint into the enclosing transaction, whose commit would then
            // commit its rows, and the savepoint's events must stay with it. Counted while it
            // runs: an enclosing level dropped meanwhile is rolled back after it (`DriverTxn`).
            let in_use = busy.start();
            let release = async move {
                let _in_use = in_use;
                let mut guard = guard;
                inner.commit().await?;
                guard.finished = true;
                Ok(())
            };
            return FinishOnDrop::new(release).await;
        }
        let (events, aborted) = {
            let mut state = lock(&guard.state);
            let mut events = std::mem::take(&mut state.events);
            events.retain(|event| !event.void);
            (events, state.aborted_at.is_some())
        };
        if aborted {
            // PostgreSQL would answer a COMMIT with a rollback; MySQL already rolled back after
            // a deadlock, SQLite after some failed statements. Nothing is committed, so nothing
            // may be recorded.
            inner.rollback().await?;
            return Err(DbErr::Custom(
                "audit_seaorm: the transaction was aborted by an earlier failed statement (PostgreSQL) or rolled \
                 back by the database (a MySQL deadlock, full lock table or lock wait timeout under innodb_rollback_on_timeout, an SQLite error such as SQLITE_FULL or RAISE(ROLLBACK)): \
                 it was rolled back, nothing was committed and nothing was recorded"
                    .into(),
            ));
        }
        if events.is_empty() {
            inner.commit().await?;
            guard.finished = true;
            return Ok(());
        }
        if let Err(refused) = shared.check_before_commit(&events) {
            // The refusal is the news; a failed rollback ends the transaction all the same.
            let _ = inner.rollback().await;
            return Err(refused);
        }
        // COMMIT and the hand-off of the events finish even if the caller stops waiting (a
        // cancelled request, a timeout): the server may have committed, and the events must
        // follow (direct delivery has no other copy of them; the outbox's would wait for the
        // next start). They run here, and in a task of their own only if this is dropped
        // before they are done.
        let in_flight = shared.in_flight.start();
        let finish = async move {
            let _in_flight = in_flight;
            let mut guard = guard; // the whole guard: it notes, when dropped, how the commit ended
            if let Delivery::Outbox { table, .. } = &shared.delivery {
                let sealed = std::mem::take(&mut *lock(&shared.sealed));
                let written = outbox::replace(&inner, table, &sealed, &events).await;
                if let Err(e) = written {
                    lock(&shared.sealed).extend(sealed);
                    return Err(e);
                }
                if let Err(e) = inner.commit().await {
                    lock(&shared.sealed).extend(sealed);
                    return Err(e);
                }
                guard.finished = true;
                return shared.seal(events).await;
            }
            inner.commit().await?;
            guard.finished = true;
            shared.seal(events).await
        };
        FinishOnDrop::new(finish).await
    }

    /// Rolls back (the savepoint, if nested) and drops the events it buffered.
    pub async fn rollback(self) -> Result<(), DbErr> {
        let AuditedTransaction { inner, guard, .. } = self;
        let result = inner.take().await.rollback().await;
        drop(guard); // not finished: truncates to its mark
        result
    }

    async fn run<F, T, E>(self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c AuditedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let result = callback(&self).await.map_err(TransactionError::Transaction);
        if result.is_ok() {
            self.commit().await.map_err(TransactionError::Connection)?;
        } else {
            self.rollback().await.map_err(TransactionError::Connection)?;
        }
        result
    }
}

#[async_trait::async_trait]
impl TransactionSession for AuditedTransaction {
    async fn commit(self) -> Result<(), DbErr> {
        AuditedTransaction::commit(self).await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        AuditedTransaction::rollback(self).await
    }
}

#[async_trait::async_trait]
impl TransactionTrait for AuditedDb {
    type Transaction = AuditedTransaction;

    /// Begins a transaction; on SQLite it is `BEGIN IMMEDIATE` (see [`AuditedDb::begin_with_options`]).
    async fn begin(&self) -> Result<AuditedTransaction, DbErr> {
        self.begin_with_options(TransactionOptions::default()).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<AuditedTransaction, DbErr> {
        self.begin_with_options(TransactionOptions { isolation_level, access_mode, ..Default::default() }).await
    }

    /// Begins a transaction with `options`. On SQLite a transaction whose mode is not given is
    /// `BEGIN IMMEDIATE`: it takes the write lock at once, so the old values the hooks read
    /// cannot change before the write, and a transaction that reads and then writes is never
    /// refused with `SQLITE_BUSY_SNAPSHOT` because another connection (the audit store's, say)
    /// wrote in between: it waits for the lock (the pool's busy timeout) instead.
    async fn begin_with_options(&self, mut options: TransactionOptions) -> Result<AuditedTransaction, DbErr> {
        if self.conn.get_database_backend() == DbBackend::Sqlite && options.sqlite_transaction_mode.is_none() {
            options.sqlite_transaction_mode = Some(SqliteTransactionMode::Immediate);
        }
        Ok(self.wrap(self.conn.begin_with_options(options).await?))
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c AuditedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let transaction = self.begin().await.map_err(TransactionError::Connection)?;
        transaction.run(callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c AuditedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let transaction =
            self.begin_with_config(isolation_level, access_mode).await.map_err(TransactionError::Connection)?;
        transaction.run(callback).await
    }
}

#[async_trait::async_trait]
impl TransactionTrait for AuditedTransaction {
    type Transaction = AuditedTransaction;

    async fn begin(&self) -> Result<AuditedTransaction, DbErr> {
        self.may_nest()?;
        self.nested(self.inner.ready().await.begin().await)
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<AuditedTransaction, DbErr> {
        self.may_nest()?;
        self.nested(self.inner.ready().await.begin_with_config(isolation_level, access_mode).await)
    }

    async fn begin_with_options(&self, options: TransactionOptions) -> Result<AuditedTransaction, DbErr> {
        self.may_nest()?;
        self.nested(self.inner.ready().await.begin_with_options(options).await)
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c AuditedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let transaction = self.begin().await.map_err(TransactionError::Connection)?;
        transaction.run(callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c AuditedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let transaction =
            self.begin_with_config(isolation_level, access_mode).await.map_err(TransactionError::Connection)?;
        transaction.run(callback).await
    }
}
