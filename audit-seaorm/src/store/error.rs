//! [`SqlStoreError`]: what can go wrong in the SQL store, and what to do about it.

use audit_core::store::StoreError;
use sea_orm::DbErr;

/// Why an operation of [`crate::SqlStore`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SqlStoreError {
    /// The database refused or failed a statement. `context` names the operation; a hint on
    /// what to do follows for the common causes (missing tables, missing privileges, a busy
    /// SQLite file, an unreachable server).
    #[error("{context}: {source}{}", hint(source))]
    Database {
        /// What was being done (and, where it helps, what to check).
        context: String,
        /// The driver's error.
        #[source]
        source: DbErr,
    },
    /// The connection is not to PostgreSQL, SQLite or MySQL/MariaDB.
    #[error(
        "the SQL audit store supports PostgreSQL, SQLite and MySQL/MariaDB connections, not {0}: connect with a postgres://, sqlite:// or mysql:// URL"
    )]
    UnsupportedBackend(String),
    /// The tables exist but are not what this version of the store expects.
    #[error("audit schema mismatch: {0}")]
    Schema(String),
    /// A stored row is not a valid event (see [`crate::SqlStore::verify_chain`] to locate tampering).
    #[error("stored audit data is corrupt: {0}; run SqlStore::verify_chain (audit-trail verify) to locate the damage")]
    Corrupt(String),
    /// A stored line is not UTF-8 text (edited behind the store's back: SQLite keeps whatever
    /// bytes it is given). Reading the chain stops there; [`crate::SqlStore::verify_chain`]
    /// reports it as `bad format` at its seq.
    #[error(
        "the event at chain {chain:?} seq {seq} cannot be read: {detail}; run SqlStore::verify_chain (audit-trail \
         verify) to see what else was changed"
    )]
    UnreadableLine {
        /// The event's chain.
        chain: String,
        /// The event's seq.
        seq: u64,
        /// What is wrong with its line.
        detail: String,
    },
    /// An argument cannot be stored or asked for.
    #[error("{0}")]
    InvalidInput(String),
}

/// What to do about the common database errors (appended to the message).
fn hint(error: &DbErr) -> &'static str {
    let text = error.to_string().to_lowercase();
    if text.contains("no such table")
        || (text.contains("relation") && text.contains("does not exist"))
        || (text.contains("table") && text.contains("doesn't exist"))
    {
        "; the audit tables are missing: run SqlStore::migrate as the schema owner, or point the connection at the \
         schema (search_path) or database that holds them"
    } else if text.contains("permission denied") || text.contains("command denied") || text.contains("access denied") {
        "; the database user lacks a privilege: the application role needs SELECT and INSERT on audit_events and \
         SELECT, INSERT, UPDATE (seq, hash) on audit_chain_heads and SELECT, INSERT on audit_merkle_nodes (see postgres_least_privilege_sql); migrations need \
         the schema owner"
    } else if text.contains("database is locked") || text.contains("database is busy") {
        "; another connection or process holds the SQLite write lock: the Auditor retries; if it persists, look for \
         a long transaction on the same file"
    } else if text.contains("attempt to write a readonly database") {
        "; SQLite may not write to this database: the file, its -wal or -shm file or their directory is not \
         writable by this user, the file system is read-only, or the connection was opened read only"
    } else if text.contains("no database selected") {
        "; the URL names no database: put its name in the path, mysql://USER@HOST:PORT/DATABASE"
    } else if text.contains("file is not a database") {
        "; the file is not a SQLite database (or is encrypted): check the path"
    } else if matches!(error, DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) {
        "; the database is unreachable or the pool is exhausted: check the URL, the server, and max_connections"
    } else {
        ""
    }
}

impl SqlStoreError {
    /// A closure that wraps a [`DbErr`] with `context`, for `map_err`. The context becomes a
    /// `String` only if there is an error (rows are read in loops).
    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(DbErr) -> SqlStoreError {
        move |source| SqlStoreError::Database { context: context.into(), source }
    }
}

impl From<SqlStoreError> for StoreError {
    fn from(error: SqlStoreError) -> StoreError {
        match error {
            SqlStoreError::Database { context, source } => StoreError::Backend { context, source: Box::new(source) },
            SqlStoreError::Corrupt(message) => StoreError::Corrupt(message),
            SqlStoreError::UnreadableLine { seq, detail, .. } => StoreError::UnreadableLine { seq, detail },
            other => StoreError::Backend { context: "SQL audit store".to_string(), source: Box::new(other) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_database_gets_a_hint_for_writers_and_readers_alike() {
        let error = SqlStoreError::Database {
            context: "append to chain \"default\"".to_string(),
            source: DbErr::Custom("(code: 8) attempt to write a readonly database".to_string()),
        };
        let text = error.to_string();
        assert!(text.contains("not writable by this user"), "{text}");
        // Reading a copy or ?immutable=1 is advice for a reader (audit-trail gives it), not for
        // an application writing its trail.
        assert!(!text.contains("immutable") && !text.contains("a copy"), "{text}");
    }

    #[test]
    fn database_errors_become_backend_errors_with_context_and_hint() {
        let error = SqlStoreError::Database {
            context: "append to chain \"default\": insert seq 1..=3 into audit_events".to_string(),
            source: DbErr::Custom("no such table: audit_events".to_string()),
        };
        let text = error.to_string();
        assert!(text.starts_with("append to chain \"default\": insert seq 1..=3"), "{text}");
        assert!(text.contains("run SqlStore::migrate"), "{text}");
        match StoreError::from(error) {
            StoreError::Backend { context, source } => {
                assert!(context.contains("insert seq 1..=3"));
                assert!(source.to_string().contains("no such table"));
            }
            other => panic!("expected a backend error, got {other:?}"),
        }
    }
}
