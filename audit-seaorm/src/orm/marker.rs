//! The marker statements hooks use to talk to the connection wrapper through
//! `ConnectionTrait` (hooks are generic over the connection and cannot downcast it).
//!
//! A marker is `SELECT audit_seaorm_requires_AuditedDb, <param>` whose one parameter is a
//! number: the hook parks its `Message` in this process under that number, and the
//! connection wrapper takes it from there, so the message (rows of values) is moved, not
//! serialized and parsed again. [`crate::orm::AuditedDb`] and
//! [`crate::orm::AuditedTransaction`] recognise the marker and never send it to the database.
//! On any other connection it reaches the database and fails on all three backends with an
//! error that names the problem ("no such column: audit_seaorm_requires_AuditedDb"), before
//! the hook lets the write happen (the message is then removed with its `Parked` place).

use super::event::Row;
use super::sql::Verb;
use sea_orm::{DbBackend, DbErr, ExecResult, Statement, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// The start of every marker statement.
pub const MARKER_PREFIX: &str = "SELECT audit_seaorm_requires_AuditedDb, ";

/// The marker statement's SQL for `backend`: it selects a column that does not exist, so that
/// a plain connection fails with an error naming `audit_seaorm_requires_AuditedDb`.
pub fn marker_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "SELECT audit_seaorm_requires_AuditedDb, $1",
        _ => "SELECT audit_seaorm_requires_AuditedDb, ?",
    }
}

/// Begins the hooks' read of a row's old values (`SELECT … FOR UPDATE`). The lock keeps the
/// row as read until the write in a transaction; on the autocommit connection it would end
/// with the read itself, and on PostgreSQL make the read a transaction that waits for a WAL
/// flush, so the connection drops the `FOR UPDATE` there.
pub(crate) const OLD_ROW_READ: &str = "/* audit_seaorm: old row */ ";

/// True when `sql` is a marker statement.
pub(crate) fn is_marker(sql: &str) -> bool {
    sql.starts_with(MARKER_PREFIX)
}

/// What a hook tells the wrapper.
#[derive(Debug)]
pub(crate) enum Message {
    /// "Am I on an audited connection?" Fails on any other connection.
    Probe,
    /// "The next `verb` on `table` (row `key`) comes from a hook; here is the row before, and
    /// the columns to redact in it." For an insert, `values`: how many values its statement
    /// binds (one per column the model sets).
    Begin {
        table: String,
        verb: WriteVerb,
        key: Option<Vec<Json>>,
        /// For an update whose old row the hook read: the row's key as stored, where the
        /// database found the row under another spelling of `key` (a case-insensitive
        /// collation). `key` is what the statement binds; this is what the write's `after_save`
        /// and events carry.
        stored_key: Option<Vec<Json>>,
        /// The names of the key columns, in the order of `key`'s values.
        key_columns: Vec<String>,
        old: Option<Row>,
        redact: Vec<String>,
        values: Option<usize>,
        /// An update with nothing to write: SeaORM sends no statement (the hook's `after_save`
        /// may still come, and records nothing).
        no_statement: bool,
        /// For an insert: the columns the model sets (for its stand-in). `key` is then the
        /// key the model sets, if it sets all of it (inserts are not matched by key).
        new: Option<Row>,
        /// For an update on PostgreSQL or SQLite: `old` is left to the connection, which reads it with
        /// the statement (the number [`super::old_row::register`] gave the entity's read).
        old_read: Option<usize>,
        /// For an insert on MySQL: where SeaORM takes the inserted row's key from (the
        /// connection tells by the driver's last insert id whether an `ON DUPLICATE KEY UPDATE`
        /// insert found its row there already, see [`super::conn`]).
        key_source: Option<KeySource>,
    },
    /// "The write of `key` is done; here is the row after (none for a delete)."
    End {
        table: String,
        verb: WriteVerb,
        key: Vec<Json>,
        key_columns: Vec<String>,
        row: Option<Row>,
        redact: Vec<String>,
    },
}

/// Where SeaORM takes an inserted row's key from, on a backend without `RETURNING`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// The model sets all of the key, which is not auto-increment.
    Model,
    /// The key is auto-increment: from the driver's last insert id (0 meaning "not inserted").
    LastInsertId,
}

/// The three writes hooks perform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteVerb {
    Insert,
    Update,
    Delete,
}

impl WriteVerb {
    pub(crate) fn sql(self) -> Verb {
        match self {
            WriteVerb::Insert => Verb::Insert,
            WriteVerb::Update => Verb::Update,
            WriteVerb::Delete => Verb::Delete,
        }
    }

    pub(crate) fn action(self) -> &'static str {
        match self {
            WriteVerb::Insert => "create",
            WriteVerb::Update => "update",
            WriteVerb::Delete => "delete",
        }
    }
}

/// Messages parked by hooks until the wrapper takes them, by number.
static PARKED: Mutex<BTreeMap<i64, Message>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicI64 = AtomicI64::new(1);

fn parked() -> std::sync::MutexGuard<'static, BTreeMap<i64, Message>> {
    // A panic while holding the lock leaves the map as it was between two whole operations.
    PARKED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A parked message's place: dropped, it removes the message if the wrapper has not taken it
/// (the statement failed on a plain connection, or the hook's future was dropped).
pub(crate) struct Parked(i64);

impl Drop for Parked {
    fn drop(&mut self) {
        parked().remove(&self.0);
    }
}

/// The marker statement carrying `message`, parked until [`decode`] takes it; keep the
/// [`Parked`] until the statement has run.
pub(crate) fn statement(backend: DbBackend, message: Message) -> (Statement, Parked) {
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    parked().insert(number, message);
    let statement = Statement::from_sql_and_values(backend, marker_sql(backend), [Value::BigInt(Some(number))]);
    (statement, Parked(number))
}

/// The message a marker statement carries, taken from where its hook parked it.
pub(crate) fn decode(stmt: Statement) -> Result<Message, DbErr> {
    let number = stmt.values.and_then(|values| values.0.into_iter().next());
    match number {
        Some(Value::BigInt(Some(number))) => parked().remove(&number).ok_or_else(|| {
            DbErr::Custom(format!("audit_seaorm: marker statement {number} has no message (sent twice?)"))
        }),
        _ => Err(DbErr::Custom("audit_seaorm: marker statement without its number".into())),
    }
}

/// The result a marker returns instead of touching the database.
pub(crate) fn fake_result(backend: DbBackend) -> ExecResult {
    match backend {
        DbBackend::Postgres => ExecResult::from(sea_orm::sqlx::postgres::PgQueryResult::default()),
        DbBackend::MySql => ExecResult::from(sea_orm::sqlx::mysql::MySqlQueryResult::default()),
        _ => ExecResult::from(sea_orm::sqlx::sqlite::SqliteQueryResult::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_message_is_taken_once() {
        let (statement, parked) = super::statement(DbBackend::Sqlite, Message::Probe);
        let again = statement.clone();
        assert!(matches!(decode(statement), Ok(Message::Probe)));
        assert!(decode(again).is_err(), "taken twice");
        drop(parked);
    }

    #[test]
    fn a_message_not_taken_goes_with_its_place() {
        let (statement, parked) = super::statement(DbBackend::Postgres, Message::Probe);
        drop(parked); // the statement failed, say, on a plain connection
        let Err(e) = decode(statement) else { panic!("the message outlived its place") };
        assert!(e.to_string().contains("has no message"), "{e}");
    }
}
