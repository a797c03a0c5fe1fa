//! [`SqlCheckpointSink`]: signed checkpoints (SPEC §5) kept in a table of a second database.

use super::schema::{self, exec, postgres_refusing_function, postgres_trigger};
use super::sql::{self, Dialect, Sql};
use super::{SqlStoreError, connect_error};
use audit_core::checkpoint::Checkpoint;
use audit_core::publish::{CheckpointSink, PublishError};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, TransactionTrait};

/// The checkpoints table.
const CHECKPOINTS: &str = "audit_checkpoints";

/// Message of the triggers that refuse changes to checkpoints.
const KEPT: &str = "audit_checkpoints is append-only: a published checkpoint can never be changed or removed";

/// The characters `audit_checkpoints.origin` holds on MySQL/MariaDB (`VARCHAR`, part of the
/// primary key); a longer origin is refused.
const MYSQL_ORIGIN_CHARS: usize = 512;

/// A [`CheckpointSink`] writing each signed note as a row of `audit_checkpoints` in a
/// database of its own (PostgreSQL, SQLite or MySQL/MariaDB).
///
/// A checkpoint is worth what its keeper is: kept by the application's own database, it can
/// be rewritten by whoever rewrites the trail. Point this sink at another server (or another
/// database whose credentials the application's role lacks for anything but `INSERT` and
/// `SELECT`), so that a superuser of the first one cannot make the checkpoints agree with a
/// rewritten trail.
///
/// ```
/// use audit_core::checkpoint::{Checkpoint, NoteSigner};
/// use audit_core::publish::CheckpointPolicy;
/// use audit_core::{Auditor, EventDraft, store::MemoryStore};
/// use audit_seaorm::SqlCheckpointSink;
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite://{}", dir.path().join("witness.db").display());
/// let sink = Arc::new(SqlCheckpointSink::connect(&url).await.unwrap());
/// sink.migrate().await.unwrap();
///
/// let signer = NoteSigner::generate("audit.example.com/default").unwrap();
/// let verifier = signer.verifier();
/// let policy = CheckpointPolicy::new("audit.example.com/default", signer, sink.clone()).unwrap().every_events(2);
/// let auditor = Auditor::builder(Arc::new(MemoryStore::new())).checkpoints(policy).build();
/// for _ in 0..4 {
///     auditor.record(EventDraft::new("login")).await.unwrap();
/// }
/// auditor.shutdown().await;
///
/// let latest = sink.latest("audit.example.com/default").await.unwrap().unwrap();
/// assert_eq!(Checkpoint::verify(&latest, &verifier).unwrap().size, 4);
/// # });
/// ```
///
/// Table `audit_checkpoints`: `origin`, `size` (primary key together), `note` (the signed
/// note, exactly), `published_at`. Triggers refuse `UPDATE` and `DELETE` (and `TRUNCATE` on
/// PostgreSQL), as on the audit tables.
#[derive(Clone, Debug)]
pub struct SqlCheckpointSink {
    db: DatabaseConnection,
    dialect: Dialect,
}

impl SqlCheckpointSink {
    /// A sink over an open connection (pool). Call [`SqlCheckpointSink::migrate`] once (as the
    /// schema owner) before the first checkpoint.
    pub fn new(db: DatabaseConnection) -> Result<SqlCheckpointSink, SqlStoreError> {
        let dialect = match db.get_database_backend() {
            DbBackend::Postgres => Dialect::Postgres,
            DbBackend::MySql => Dialect::MySql,
            DbBackend::Sqlite => Dialect::Sqlite,
            other => return Err(SqlStoreError::UnsupportedBackend(format!("{other:?}"))),
        };
        Ok(SqlCheckpointSink { db, dialect })
    }

    /// Connects to `url` (`postgres://…`, `mysql://…`, `sqlite://PATH`, the file created if
    /// missing) and makes a sink.
    pub async fn connect(url: &str) -> Result<SqlCheckpointSink, SqlStoreError> {
        let mut options = ConnectOptions::new(url);
        options.sqlx_logging(false);
        options.map_sqlx_sqlite_opts(|o| o.create_if_missing(true));
        let db = Database::connect(options).await.map_err(connect_error("connect to the checkpoint database", url))?;
        SqlCheckpointSink::new(db)
    }

    /// Creates the table and its triggers if missing (idempotent).
    pub async fn migrate(&self) -> Result<(), SqlStoreError> {
        let txn = self.db.begin().await.map_err(SqlStoreError::db("migrate checkpoints: begin a transaction"))?;
        let created = self.create(&txn).await;
        match created {
            Ok(()) => txn.commit().await.map_err(SqlStoreError::db("migrate checkpoints: commit")),
            Err(e) => {
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }

    async fn create(&self, conn: &impl ConnectionTrait) -> Result<(), SqlStoreError> {
        // On MySQL origins compare exactly ('a' and 'a ' are two logs), as chains do.
        let exact = match self.dialect {
            Dialect::MySql => schema::mysql_exact_collation(conn).await?,
            Dialect::Postgres | Dialect::Sqlite => String::new(),
        };
        let (origin, note, at, options) = match self.dialect {
            Dialect::Postgres => ("TEXT COLLATE \"C\"".to_string(), "TEXT", "TIMESTAMPTZ NOT NULL DEFAULT now()", ""),
            Dialect::Sqlite => {
                ("TEXT".to_string(), "TEXT", "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", "")
            }
            Dialect::MySql => (
                format!("VARCHAR({MYSQL_ORIGIN_CHARS}) CHARACTER SET utf8mb4 COLLATE {exact}"),
                "MEDIUMTEXT",
                "DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)",
                " DEFAULT CHARSET=utf8mb4",
            ),
        };
        let table = format!(
            "CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (
    origin       {origin} NOT NULL,
    size         BIGINT NOT NULL CHECK (size >= 0),
    note         {note} NOT NULL,
    published_at {at},
    PRIMARY KEY (origin, size)
){options}"
        );
        exec(conn, &table, &format!("create table {CHECKPOINTS}")).await?;
        match self.dialect {
            Dialect::Postgres => {
                let function = postgres_refusing_function("audit_checkpoints_kept", KEPT);
                exec(conn, &function, "create function audit_checkpoints_kept").await?;
                for (name, when, each) in [
                    ("audit_checkpoints_no_change", "BEFORE UPDATE OR DELETE", "ROW"),
                    ("audit_checkpoints_no_truncate", "BEFORE TRUNCATE", "STATEMENT"),
                ] {
                    let trigger = postgres_trigger(CHECKPOINTS, name, when, each, "audit_checkpoints_kept");
                    exec(conn, &trigger, &format!("create trigger {name}")).await?;
                }
            }
            Dialect::Sqlite => {
                // INSERT OR REPLACE deletes the row it replaces without firing DELETE triggers:
                // refused by rowid, and by key unless the note is the one kept (publishing the
                // same note again is a no-op, `ON CONFLICT DO NOTHING`).
                let replacing = format!(
                    "BEFORE INSERT ON {CHECKPOINTS} WHEN EXISTS (SELECT 1 FROM {CHECKPOINTS} WHERE origin = NEW.origin \
                     AND size = NEW.size AND note IS NOT NEW.note) \
                     OR EXISTS (SELECT 1 FROM {CHECKPOINTS} WHERE rowid = NEW.rowid)"
                );
                for (name, when) in [
                    ("audit_checkpoints_no_update", format!("BEFORE UPDATE ON {CHECKPOINTS}")),
                    ("audit_checkpoints_no_delete", format!("BEFORE DELETE ON {CHECKPOINTS}")),
                    ("audit_checkpoints_no_replacing_insert", replacing),
                ] {
                    let trigger =
                        format!("CREATE TRIGGER IF NOT EXISTS {name} {when} BEGIN SELECT RAISE(ABORT, '{KEPT}'); END");
                    exec(conn, &trigger, &format!("create trigger {name}")).await?;
                }
            }
            Dialect::MySql => {
                for (name, when) in
                    [("audit_checkpoints_no_update", "UPDATE"), ("audit_checkpoints_no_delete", "DELETE")]
                {
                    let trigger = format!(
                        "CREATE TRIGGER IF NOT EXISTS {name} BEFORE {when} ON {CHECKPOINTS} FOR EACH ROW \
                         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{KEPT}'"
                    );
                    exec(conn, &trigger, &format!("create trigger {name}")).await?;
                }
            }
        }
        Ok(())
    }

    /// The note published for `origin` at `size`, if any.
    pub async fn note(&self, origin: &str, size: u64) -> Result<Option<String>, SqlStoreError> {
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT note FROM {CHECKPOINTS} WHERE origin = "))
            .bind(origin)
            .push(" AND size = ")
            .bind(sql::seq_value(size)?);
        self.one_note(sql, &format!("read the checkpoint of {origin:?} at size {size}")).await
    }

    /// The newest (largest) note published for `origin`, if any: what an auditor checks the
    /// trail against.
    pub async fn latest(&self, origin: &str) -> Result<Option<String>, SqlStoreError> {
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT note FROM {CHECKPOINTS} WHERE origin = "))
            .bind(origin)
            .push(" ORDER BY size DESC LIMIT 1");
        self.one_note(sql, &format!("read the latest checkpoint of {origin:?}")).await
    }

    async fn one_note(&self, sql: Sql, what: &str) -> Result<Option<String>, SqlStoreError> {
        let row = self.db.query_one_raw(sql.build()).await.map_err(SqlStoreError::db(what.to_string()))?;
        row.map(|row| row.try_get_by_index::<String>(0).map_err(SqlStoreError::db(what.to_string()))).transpose()
    }

    async fn insert(&self, checkpoint: &Checkpoint, note: &str) -> Result<(), PublishError> {
        let (origin, size) = (checkpoint.origin.as_str(), checkpoint.size);
        let other = |e: SqlStoreError| PublishError::Other(Box::new(e));
        // `INSERT IGNORE` would store a longer origin cut to the column's length (a row under
        // another log's name) with a warning only.
        if self.dialect == Dialect::MySql && origin.chars().count() > MYSQL_ORIGIN_CHARS {
            return Err(other(SqlStoreError::InvalidInput(format!(
                "the origin {origin:?} is longer than the {MYSQL_ORIGIN_CHARS} characters {CHECKPOINTS}.origin holds \
                 on MySQL/MariaDB: nothing was published; use a shorter origin (SPEC §5: it names the log, e.g. \
                 audit.example.com/default)"
            ))));
        }
        let mut sql = Sql::new(self.dialect);
        sql.push(match self.dialect {
            Dialect::Postgres | Dialect::Sqlite => "INSERT INTO ",
            Dialect::MySql => "INSERT IGNORE INTO ",
        })
        .push(&format!("{CHECKPOINTS} (origin, size, note) VALUES ("))
        .bind(origin)
        .push(", ")
        .bind(sql::seq_value(size).map_err(other)?)
        .push(", ")
        .bind(note)
        .push(")");
        match self.dialect {
            Dialect::Postgres => sql.push(" ON CONFLICT (origin, size) DO NOTHING"),
            Dialect::Sqlite => sql.push(" ON CONFLICT (origin, size) DO NOTHING"),
            Dialect::MySql => &mut sql,
        };
        let what = format!("publish the checkpoint of {origin:?} at size {size} into {CHECKPOINTS}");
        let inserted = self.db.execute_raw(sql.build()).await.map_err(|e| other(SqlStoreError::db(what)(e)));
        // Published now, or before (a retry, a restart): the same note is fine, another is not
        // (on SQLite, the trigger that refuses replacing inserts refuses that one already).
        if let Err(refused) = inserted {
            return match self.note(origin, size).await {
                Ok(Some(kept)) if kept != note => Err(different(origin, size)),
                _ => Err(refused),
            };
        }
        match self.note(origin, size).await.map_err(other)? {
            Some(kept) if kept == note => Ok(()),
            Some(_) => Err(different(origin, size)),
            None => Err(PublishError::Other(
                format!(
                    "the checkpoint of {origin:?} at size {size} was written to {CHECKPOINTS} but cannot be read back"
                )
                .into(),
            )),
        }
    }
}

/// Another note than the one being published is kept at its size.
fn different(origin: &str, size: u64) -> PublishError {
    PublishError::Other(
        format!(
            "{CHECKPOINTS} already holds a different checkpoint of {origin:?} at size {size}: the chain was rewritten \
             or forked, or two logs publish under one origin; nothing was overwritten"
        )
        .into(),
    )
}

#[async_trait::async_trait]
impl CheckpointSink for SqlCheckpointSink {
    async fn publish(&self, checkpoint: &Checkpoint, note: &str) -> Result<(), PublishError> {
        self.insert(checkpoint, note).await
    }
}
