//! # ORM hooks: per-column diffs of SeaORM writes, recorded after commit
//!
//! ```
//! # mod users {
//! #     use sea_orm::entity::prelude::*;
//! #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
//! #     #[sea_orm(table_name = "users")]
//! #     pub struct Model {
//! #         #[sea_orm(primary_key)]
//! #         pub id: i32,
//! #         pub email: String,
//! #         pub ssn: Option<String>,
//! #         pub updated_at: i64,
//! #     }
//! #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! #     pub enum Relation {}
//! // In the entity's module, instead of `impl ActiveModelBehavior for ActiveModel {}`:
//! audit_seaorm::audited!(ActiveModel, ignore = ["updated_at"], redact = ["ssn"]);
//! # }
//! use audit_core::store::{AuditStore, Query};
//! use audit_core::Auditor;
//! use audit_seaorm::{AuditedDb, SqlStore};
//! use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, Schema, Set, TransactionTrait};
//! use std::sync::Arc;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let url = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
//! # let audit_url = format!("sqlite://{}", dir.path().join("audit.db").display());
//! # let app = Database::connect(&url).await?;
//! # let schema = Schema::new(app.get_database_backend());
//! # app.execute(&schema.create_table_from_entity(users::Entity)).await?;
//! // At start:
//! let store = Arc::new(SqlStore::connect(&audit_url).await?);
//! store.migrate().await?; // idempotent
//! let auditor = Auditor::builder(store.clone()).build();
//! let db = AuditedDb::builder(app, auditor.clone(), store.clone()).build();
//! db.migrate_outbox().await?; // idempotent
//! db.recover_outbox().await?; // seals what a crash left behind
//!
//! // Then use `db` like a DatabaseConnection:
//! let txn = db.begin().await?;
//! let user = users::ActiveModel {
//!     id: Set(1),
//!     email: Set("a@example.com".into()),
//!     ssn: Set(Some("078-05-1120".into())),
//!     updated_at: Set(0),
//! }
//! .insert(&txn)
//! .await?;
//! txn.commit().await?; // returns once the `create` event is durable in the audit trail
//!
//! let mut change = users::ActiveModel::from(user);
//! change.email = Set("b@example.com".into());
//! change.updated_at = Set(1);
//! change.update(&db).await?; // autocommit: recorded right after the statement
//!
//! let page = store.query(&Query::new().resource("users", Some("1".into()))).await?;
//! let [created, updated] = &page.events[..] else { panic!("two events, got {}", page.events.len()) };
//! assert_eq!(created.event.action, "create");
//! assert!(created.line.contains("\"[REDACTED]\"") && !created.line.contains("078-05-1120"));
//! assert_eq!(updated.event.action, "update");
//! assert_eq!(updated.event.changes.len(), 1); // email only: updated_at is ignored
//! # auditor.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## What is recorded
//! One event per row change: `action` `create`/`update`/`delete`, `resource` = table name and
//! primary key (a single key as its string form, a composite key as the JSON array text of
//! its values), `outcome` `success`, and `changes`: every column as `new` on create, only the
//! changed columns with `old` and `new` on update (an update that changes nothing records
//! nothing), every column as `old` on delete. Values are converted without loss by
//! [`value_to_json`]; in a JSON column, SQL `NULL` and the JSON value `null` are both `null`,
//! but an update that turns one into the other is a change all the same, recorded as `null` →
//! `null`. Columns an entity ignores are left out; columns it redacts and keys of
//! the [`audit_core::RedactionPolicy`] (by default the auditor's own,
//! [`AuditedDbBuilder::redaction`]) are hidden before the event is buffered, also where such
//! a column is (part of) the primary key: the resource id then holds the hidden value. A
//! `redact` entry names a column as the table does or by the model's field name; one that
//! names no column makes every write of the entity fail with an error that says so (a
//! misspelled secret is found at the first write, not in the trail).
//!
//! Actor and context (IP, request id, route…) are taken from [`audit_core::AuditScope`] when
//! the change is intercepted (in the `after_*` hook), so every diff of one HTTP request
//! carries that request's id even if the commit runs elsewhere; background jobs name their
//! actor with [`audit_core::scope::with_actor`]. Without a scope the actor is `anonymous`.
//!
//! [`AuditedDb`] and [`AuditedTransaction`] implement `ConnectionTrait`, `TransactionTrait`
//! and (with the `stream` feature, on by default) `StreamTrait`, so code written for a
//! `DatabaseConnection` runs on them unchanged.
//!
//! ## How it works
//! SeaORM's hooks are generic over the connection and cannot downcast it, so they talk to
//! [`AuditedDb`] / [`AuditedTransaction`] through `ConnectionTrait` itself, with *marker
//! statements* ([`marker`]) that the wrappers intercept and never send to the database:
//! 1. `before_save`/`before_delete` send a probe (on a plain connection it reaches the
//!    database and fails, naming `audit_seaorm_requires_AuditedDb`, before anything is
//!    written), read the old row inside the transaction with `SELECT … FOR UPDATE`
//!    (PostgreSQL/MySQL; SQLite has no row locks but one writer at a time), and announce the
//!    write: the wrapper keeps the old row keyed by (task, table, key) and a token for the
//!    coming statement. On PostgreSQL and SQLite an update leaves the read to the wrapper,
//!    which sends it with SeaORM's `UPDATE … RETURNING` (no round trip of its own): on
//!    PostgreSQL as a locked subquery (`FROM (SELECT … FOR NO KEY UPDATE)`), whose values are
//!    exactly those the update replaced, also in autocommit mode; on SQLite as a `SELECT`
//!    before it in the same call (when sea-orm's `sqlite-use-returning-for-3_35` feature,
//!    one of its defaults, gives SQLite updates a `RETURNING`).
//! 2. The wrapper sees the INSERT/UPDATE/DELETE, consumes the token, and notes whether it
//!    succeeded (a failed write drops the old row; nothing is recorded).
//! 3. `after_save`/`after_delete` send the row as written; the wrapper builds the event.
//!    Recording in `after_*` matters: on SQLite and MySQL a failed statement leaves the
//!    transaction usable, so a diff taken in `before_*` could describe a write that never
//!    happened.
//!
//! ## Transactions
//! Inside a transaction events are buffered and handed to the auditor only after the
//! outermost commit, in the order the writes happened; `commit()` returns once they are
//! durable. Rollback, an error, or dropping the transaction records nothing; so does a
//! transaction the database itself rolled back (PostgreSQL after a failed statement, MySQL
//! after a deadlock, or a lock wait timeout on a server run with `innodb_rollback_on_timeout`
//! (asked after such a timeout; that case is not tested here, the option being read-only while
//! the server runs), SQLite after errors such as `SQLITE_FULL` or `RAISE(ROLLBACK)`; the
//! last two then refuse further statements through it), even if `commit()` is called; the
//! same holds for statements of the bulk helpers below. Nested transactions are savepoints:
//! rolling one back (or dropping it) drops only its events. They end innermost first, as the
//! driver ends them (by depth): a second savepoint begun from a transaction whose first one is
//! still open is refused; and when a savepoint (or the transaction) ends while one begun
//! inside it is still open, statements and commits are refused until every savepoint from
//! there up has rolled back. A savepoint that cannot be begun (e.g. `begin_with_config` with an
//! isolation level, which MySQL and PostgreSQL refuse inside a transaction) may take the
//! enclosing transaction with it (sea-orm's drop of the half-begun one rolls a level back):
//! the transaction then takes no more statements or savepoints and refuses to commit; roll it
//! back and retry.
//! Before `COMMIT` every event is checked as the auditor will check it (indexed fields'
//! lengths, e.g. an actor id over [`audit_core::MAX_INDEXED_FIELD_BYTES`]; the event's size),
//! and the auditor must be running: otherwise the transaction is rolled back and `commit()`
//! says which write's event and why, so that no change commits without its event. (An
//! auditor shut down between that check and the hand-off after `COMMIT` still loses a
//! direct-delivery transaction's events; with the outbox they wait there for recovery.)
//! Values larger than [`MAX_VALUE_BYTES`], JSON values nested deeper than
//! [`audit_core::event::MAX_VALUE_DEPTH`], and the largest values of a row too large for one
//! event, are recorded by their size and SHA-256, so such rows still commit.
//! Writes directly on [`AuditedDb`] (autocommit) are recorded right after the statement.
//!
//! ## Delivery: outbox (default) or direct
//! [`Delivery::Outbox`] is the default because an audit trail must not miss a committed
//! change: the events are inserted into an outbox table inside the transaction, so they
//! commit or vanish with the data; after the commit they are sealed into the chain, and
//! [`AuditedDb::recover_outbox`] seals, exactly once, what a crash left. It costs one
//! multi-row INSERT inside each writing transaction; the rows of sealed events are deleted by
//! the next writing transaction (in the same statement on PostgreSQL and SQLite), by
//! [`AuditedDb::flush`] or [`AuditedDb::flush_outbox`], or once 1,000 wait, right after the
//! commit that brought them there (a failure of that delete is not the commit's: the rows
//! wait for the next one, and recovery never seals them twice).
//! [`Delivery::Direct`] skips the outbox: a crash between `COMMIT` and the audit append loses
//! that transaction's events, and so does a `COMMIT` whose answer is lost (the connection
//! breaks after the server committed): `commit()` then returns the driver's error and records
//! nothing, not knowing whether the change was committed (with the outbox, the events' rows
//! committed with it, and recovery seals them). Autocommit writes have no transaction to share, so they are
//! recorded directly in both modes: use a transaction where a crash must not lose an event.
//!
//! While the audit store does not answer or fails, `commit()` waits for the events to be
//! durable in it (the change itself is committed by then), in both modes. To bound that wait,
//! put a timeout around `commit()`: a commit future dropped after `COMMIT` loses no event (they
//! are queued, or queued by a task of their own, and written once the store answers), and with
//! the outbox a later [`AuditedDb::recover_outbox`] finds their rows sealed and seals nothing
//! twice.
//!
//! ## Writes that bypass the hooks
//! `insert_many`, `update_many`, `delete_many`, `Entity::insert(..).exec`, `delete_by_id`
//! and raw SQL run no hooks. The audited helpers of [`bulk`] do the same work and record a
//! diff per row. Anything else that writes through the audited connection is seen by the
//! wrapper (it reads every statement for INSERT/UPDATE/DELETE/REPLACE/TRUNCATE/MERGE, COPY
//! FROM and LOAD DATA, in data-modifying `WITH` parts and `EXPLAIN ANALYZE` too) and, by
//! [`BulkPolicy`], recorded as a `bulk` event (table, statement with values stripped, rows
//! affected) or refused before it runs (strict mode). Statements that run code which may
//! write any table — `CALL` of a procedure, a `DO` block, `EXECUTE` of a prepared statement,
//! a MariaDB compound statement (`BEGIN NOT ATOMIC`, `IF`, `WHILE`, …) — are treated the same
//! way, with an empty table (`verb` says which). Writes through
//! [`AuditedDb::unaudited`] or another pool are not seen, but writes of audited entities
//! through them fail in their hooks.
//!
//! ## Limits
//! - Transaction control sent as SQL (`SAVEPOINT`, `ROLLBACK TO SAVEPOINT`, `COMMIT`, `BEGIN`,
//!   …, through `execute_unprepared` or a raw statement) is refused before it runs: it would
//!   end or split the transaction whose events are buffered. Use `begin()` (a savepoint inside
//!   a transaction), `commit()` and `rollback()`. So are, inside an audited transaction on
//!   MySQL/MariaDB, the statements those servers precede with an implicit `COMMIT` (schema
//!   statements but for temporary tables, `TRUNCATE`, `LOCK TABLES`, `SET autocommit`, `GRANT`,
//!   table maintenance, …): run them on [`AuditedDb`] outside a transaction. Not seen: such a
//!   statement run as code (in a procedure, a prepared statement, a MariaDB `IF` or loop).
//! - A call of several statements (`execute_unprepared("…; …")`) that fails: MySQL and SQLite
//!   ran the statements before the failing one, so each write in the call is recorded as a
//!   `bulk` event with outcome `failure` and a reason saying it may have run (PostgreSQL runs
//!   such a call as one transaction: nothing is recorded).
//! - A hooked write is matched to its statement by the key values exactly as bound. Where the
//!   database takes another spelling for the same key (a case-insensitive collation, as
//!   MySQL's default, `citext`, SQLite's `COLLATE NOCASE`, a padded `char(n)` key): on
//!   MySQL/MariaDB an update by `"ACME"` of the row keyed `"acme"` is one `update` diff named
//!   by the key as stored (the hooks read the old row first, and see its key), and a delete
//!   is named by the model's spelling, its old values showing the stored one (both tested in
//!   `mysql_case_insensitive_keys.rs`). On PostgreSQL and SQLite, where the old row is read by
//!   the UPDATE itself, such an update is not matched to its row (tested in
//!   `case_insensitive_keys.rs`): two events, the `bulk` stand-in
//!   under the model's spelling with the old values and an `update` under the stored one
//!   with `old_unknown`. Nothing is lost, but use the key as stored.
//! - MySQL/MariaDB tables that are not transactional (MyISAM, Aria, MEMORY) keep what a
//!   rolled-back transaction or a statement failing partway wrote, while the events of those
//!   writes are dropped with the rollback or the failure: audit InnoDB tables only.
//! - MariaDB with `sql_mode=ORACLE` runs anonymous blocks (`BEGIN DELETE …; END`, `DECLARE …
//!   BEGIN … END`), which this reader takes for transaction control or misses: not supported.
//! - A raw write read through `query_one`/`query_all`/`stream` is a `bulk` event whose
//!   `rows_affected` is the number of rows the statement returned, not of rows it wrote.
//! - The body of a stored procedure, function or trigger created through the connection is
//!   read statement by statement: its writes show as `bulk` events (refused in strict mode)
//!   though creating it writes no row.
//! - A floating-point column changed from `0` to `-0` (or back) records nothing, and a `-0`
//!   is recorded as `0`: canonical JSON (SPEC §1, RFC 8785) writes both as `0`. So does a JSON
//!   column written again with the same numbers spelled otherwise (`10.0` for `10`, at any
//!   depth; integers beyond ±2^53, which the trail keeps exactly, compare exactly).
//! - Writes the statement's text does not show are not seen: a function that writes, called
//!   from a `SELECT`; a trigger's own writes (they belong to the write that fired it, which is
//!   recorded); the body of a MySQL/MariaDB scheduled event (`CREATE EVENT … DO DELETE …`
//!   writes nothing itself: the server's scheduler runs the body later, on no connection of
//!   the application). Where such code matters, record what it does with an explicit event.
//! - Schema statements are not row writes to the wrapper, even those that change rows:
//!   `ALTER TABLE … ALTER COLUMN … TYPE … USING expression` rewrites every row, `SELECT … INTO
//!   new_table` and `CREATE TABLE … AS` fill a new table. Run migrations through the plain
//!   connection (or [`AuditedDb::unaudited`]) and record them with an explicit event.
//! - Old values read in autocommit mode are not locked across the write (there is no
//!   transaction to hold the lock, so they are read without `FOR UPDATE`; excepted are
//!   PostgreSQL updates through SeaORM's `update`/`save`, whose read is part of the UPDATE
//!   statement itself, not `update_without_returning`): a concurrent
//!   writer in between can make `old` stale. Use a transaction when exact old values matter.
//! - `update_without_returning` runs `before_save` only, and a hooked write's future may be
//!   dropped between its statement and its `after_*` hook (on MySQL SeaORM reads the written
//!   row back in between, a round trip that a client disconnect can cancel). Such a write is
//!   recorded by the `bulk` event that stood in for it from the moment its statement ran:
//!   old values, no new ones (for an insert: the values its model set, as `new`, and its key
//!   if the model sets it; what the database generated is not known), the actor of that
//!   moment. Inside a
//!   transaction it is sealed at commit in the write's place (and dropped with a savepoint
//!   rolled back); on the autocommit connection it is recorded when the task's read-back of
//!   the row (a statement that names its table and binds its key) is dropped, and an
//!   `update_without_returning` there when the same task writes the row again (before that
//!   write), or after its hook has not come for 60 s, at the next hooked write or statement,
//!   or at [`AuditedDb::flush`]. A hook that comes after its stand-in was recorded so records
//!   nothing: the write is in the trail once, as its stand-in. (The mark that says so is kept
//!   for another 60 s: a hook later than that, two minutes after its statement, records its
//!   event as well.)
//! - Hooked writes are matched to their statement by task, verb and table, and by what the
//!   statement binds: for updates and deletes the key values it ends with (`… WHERE pk =
//!   $n`), for inserts one value per column the model sets (a multi-row INSERT takes the
//!   oldest announced inserts whose values add up to its own). So an `update_many`, or an
//!   `insert_many` of several rows, is not taken for a hooked write that sent no statement,
//!   and hooked writes interleaved within one task (`join!`) keep apart. An `insert_many` of
//!   one row with the same number of columns, in the same task as an insert whose future was
//!   dropped before its statement, is taken for that insert: it is recorded by the insert's
//!   stand-in (`bulk`, verb `INSERT`, rows affected) rather than refused in strict mode.
//! - A multi-row DELETE that binds nothing but announced keys, one after the other (SeaORM
//!   removes many-to-many links with one `DELETE … IN (…)` after `before_delete` of each),
//!   takes all of those announcements, so each removed row has its stand-in with its old
//!   values. Where it found fewer rows than announced, the rows whose `before_delete` found
//!   none (gone already) get no stand-in, and the others wait until as many hooks as rows
//!   deleted have come. A row that another connection inserts between its `before_delete`
//!   and such a DELETE, on the autocommit connection, is deleted unrecorded.
//! - Many-to-many links saved again (SeaORM inserts them `ON CONFLICT DO NOTHING` and calls
//!   `after_save` only for those it inserted) record only the links written. Where a multi-row
//!   INSERT skipped rows, its rows' stand-ins wait until as many hooks as rows written have
//!   come; if the task's future is dropped before that, the stand-ins left are recorded,
//!   the skipped rows' too. On MySQL the driver's row count does not tell a row found from one
//!   inserted (sqlx asks for found rows), so a hooked `INSERT … ON DUPLICATE KEY UPDATE a = a`
//!   of one row is told by its last insert id: 0 for an auto-increment key (as SeaORM tells
//!   it); for a key the model sets, the statement gets one more assignment, which keeps the
//!   column and, on a duplicate only, sets the statement's last insert id (and the session's
//!   `LAST_INSERT_ID()`) to `u64::MAX`. With sea-orm's `mariadb-use-returning`, MariaDB
//!   returns the rows found with those inserted, and SeaORM calls `after_save` for both:
//!   links found are then recorded as `create`. A hooked upsert that changes an existing
//!   row (`ON CONFLICT DO UPDATE`, `ON DUPLICATE KEY UPDATE b = …`) is not told apart from
//!   an insert: its event is a `create` with the row its `after_save` is given.
//! - On the autocommit connection a write has happened by the time its event is built: an
//!   event the auditor refuses (an actor id or entity key over
//!   [`audit_core::MAX_INDEXED_FIELD_BYTES`], an auditor shut down) is not recorded, and the
//!   call returns the error. Inside a
//!   transaction the same event rolls the transaction back instead (see above).
//! - Over SeaORM's `MockDatabase` the wrapper's own statements reach the mock: the hooks'
//!   old-row reads (MySQL updates, deletes), the outbox's insert before `COMMIT`, and on
//!   PostgreSQL and SQLite the UPDATE with its old-row read added. A mock must be given
//!   results for them; testing audited code against SQLite (a file in a temporary directory)
//!   is simpler and closer to production.

pub mod bulk;
mod conn;
mod event;
pub mod hooks;
pub mod marker;
mod old_row;
pub mod outbox;
pub mod sql;
mod stand_in;
#[cfg(feature = "stream")]
mod stream;
mod tracker;
pub mod value;

pub use conn::{AuditedDb, AuditedDbBuilder, AuditedTransaction, BulkPolicy, CrashPoint, Delivery};
pub use event::MAX_VALUE_BYTES;
pub use hooks::{AuditedModel, after_delete, after_save, before_delete, before_save};
pub use outbox::{Recovery, Unsealable};
pub use value::value_to_json;

#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use sea_orm::{ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait};
}

/// Makes an entity audited: writes its `ActiveModelBehavior` (calling the hook helpers of
/// [`crate::orm::hooks`]) and its [`AuditedModel`] options. Use it in the entity's module in
/// place of `impl ActiveModelBehavior for ActiveModel {}`:
///
/// ```
/// # macro_rules! entity {
/// #     ($table:literal) => {
/// #         use sea_orm::entity::prelude::*;
/// #         #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
/// #         #[sea_orm(table_name = $table)]
/// #         pub struct Model {
/// #             #[sea_orm(primary_key)]
/// #             pub id: i32,
/// #             pub ssn: String,
/// #             pub dob: String,
/// #             pub updated_at: i64,
/// #         }
/// #         #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #         pub enum Relation {}
/// #     };
/// # }
/// # mod a { entity!("a");
/// audit_seaorm::audited!(ActiveModel);
/// # }
/// # mod b { entity!("b");
/// audit_seaorm::audited!(ActiveModel, ignore = ["updated_at"]);
/// # }
/// # mod c { entity!("c");
/// audit_seaorm::audited!(ActiveModel, ignore = ["updated_at"], redact = ["ssn", "dob"]);
/// # }
/// # mod d { entity!("d");
/// audit_seaorm::audited!(ActiveModel, redact = ["ssn"]);
/// # }
/// # use audit_seaorm::AuditedModel;
/// # assert_eq!(<c::ActiveModel as AuditedModel>::REDACT, ["ssn", "dob"]);
/// # assert_eq!(<b::ActiveModel as AuditedModel>::IGNORE, ["updated_at"]);
/// ```
///
/// An entity with hook logic of its own implements [`AuditedModel`] and calls
/// [`before_save`], [`after_save`], [`before_delete`] and [`after_delete`] from its own impl.
#[macro_export]
macro_rules! audited {
    ($am:ty $(, ignore = [$($ignore:expr),* $(,)?])? $(, redact = [$($redact:expr),* $(,)?])? $(,)?) => {
        impl $crate::orm::AuditedModel for $am {
            const IGNORE: &'static [&'static str] = &[$($($ignore),*)?];
            const REDACT: &'static [&'static str] = &[$($($redact),*)?];
        }

        #[$crate::orm::__private::async_trait]
        impl $crate::orm::__private::ActiveModelBehavior for $am {
            async fn before_save<C>(self, db: &C, insert: bool) -> ::core::result::Result<Self, $crate::orm::__private::DbErr>
            where
                C: $crate::orm::__private::ConnectionTrait,
            {
                $crate::orm::before_save(self, db, insert).await
            }

            async fn after_save<C>(
                model: <<Self as $crate::orm::__private::ActiveModelTrait>::Entity as $crate::orm::__private::EntityTrait>::Model,
                db: &C,
                insert: bool,
            ) -> ::core::result::Result<
                <<Self as $crate::orm::__private::ActiveModelTrait>::Entity as $crate::orm::__private::EntityTrait>::Model,
                $crate::orm::__private::DbErr,
            >
            where
                C: $crate::orm::__private::ConnectionTrait,
            {
                $crate::orm::after_save::<Self, C>(model, db, insert).await
            }

            async fn before_delete<C>(self, db: &C) -> ::core::result::Result<Self, $crate::orm::__private::DbErr>
            where
                C: $crate::orm::__private::ConnectionTrait,
            {
                $crate::orm::before_delete(self, db).await
            }

            async fn after_delete<C>(self, db: &C) -> ::core::result::Result<Self, $crate::orm::__private::DbErr>
            where
                C: $crate::orm::__private::ConnectionTrait,
            {
                $crate::orm::after_delete(self, db).await
            }
        }
    };
}
