//! Opening a store the way an auditor's tool must: for reading only, creating nothing.
//!
//! [`SqlStore::connect`] is for the application: it creates a missing SQLite file and turns
//! on WAL, and the application then runs [`SqlStore::migrate`]. An auditor pointing a tool at
//! a production database wants the opposite: nothing written, no table created, and a clear
//! error when the audit tables are not there. [`SqlStore::connect_read_only`] and
//! [`SqlStore::check_schema`] give that.

use super::error::SqlStoreError;
use super::{SQLITE_ROW_BUFFER, SqlStore, connect_error, schema};
use sea_orm::{ConnectOptions, Database};
use std::time::Duration;

/// How long connecting (and waiting for a pooled connection) may take before it fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl SqlStore {
    /// Connects to `url` (`postgres://…`, `mysql://…`, `sqlite://PATH`) for reading only, and
    /// makes a store that can read, query, prove and verify but never write:
    ///
    /// - SQLite: the file is opened read-only (`SQLITE_OPEN_READONLY`); a missing file is an
    ///   error, never created; the journal mode is left as it is.
    /// - PostgreSQL: every transaction is read-only (`default_transaction_read_only = on`).
    /// - MySQL/MariaDB: every session is read-only (`SET SESSION TRANSACTION READ ONLY`).
    ///
    /// At most two connections, and a connect timeout of 10 s (an unreachable server is
    /// reported rather than waited for). Nothing is checked about the tables: call
    /// [`SqlStore::check_schema`].
    ///
    /// ```
    /// use audit_seaorm::SqlStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let url = format!("sqlite://{}", dir.path().join("missing.db").display());
    /// assert!(SqlStore::connect_read_only(&url).await.is_err());
    /// assert!(!dir.path().join("missing.db").exists(), "never created");
    /// # });
    /// ```
    pub async fn connect_read_only(url: &str) -> Result<SqlStore, SqlStoreError> {
        let mut options = ConnectOptions::new(url);
        options
            .sqlx_logging(false)
            .max_connections(2)
            .min_connections(0)
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(CONNECT_TIMEOUT);
        options.map_sqlx_sqlite_opts(|o| o.read_only(true).create_if_missing(false).row_buffer_size(SQLITE_ROW_BUFFER));
        options.map_sqlx_postgres_opts(|o| o.options([("default_transaction_read_only", "on")]));
        options.map_sqlx_mysql_pool_opts(|pool| {
            pool.after_connect(|conn, _| {
                Box::pin(async move {
                    sea_orm::sqlx::Executor::execute(&mut *conn, "SET SESSION TRANSACTION READ ONLY").await.map(|_| ())
                })
            })
        });
        let db = Database::connect(options).await.map_err(connect_error("connect (read only) to", url))?;
        SqlStore::new(db)
    }

    /// Checks that both audit tables exist with every column the store uses, creating and
    /// changing nothing. A missing or foreign table is [`SqlStoreError::Schema`], naming it;
    /// any other failure of the probe (no privilege to read a table, no database selected, a
    /// file that is not a database) is [`SqlStoreError::Database`].
    pub async fn check_schema(&self) -> Result<(), SqlStoreError> {
        schema::probe_tables(&self.db, self.dialect).await
    }
}
