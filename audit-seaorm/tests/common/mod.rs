//! Test databases for the SQL store, one isolated namespace per test:
//! - PostgreSQL: a schema of its own (`search_path`) in the database of
//!   `AUDIT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! - MariaDB/MySQL: a database of its own on the server of `AUDIT_TEST_MYSQL_URL` (default
//!   `mysql://root@127.0.0.1:3306/test`);
//! - SQLite: a file in a temporary directory.
//!
//! Policy: with `CI=true` a test fails when its server is unreachable; otherwise it is skipped
//! with a loud message on stderr.
#![allow(dead_code)] // each test file uses a part of this module

use audit_core::SealedEvent;
use audit_core::store::{AppendError, AuditStore, Head, LineStream, Query, QueryPage, StoreError};
use audit_seaorm::SqlStore;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The database servers the store supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

pub(crate) fn postgres_url() -> String {
    std::env::var("AUDIT_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub(crate) fn mysql_url() -> String {
    std::env::var("AUDIT_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_string())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Applies the policy to an unreachable server: panic in CI, else a loud skip.
fn unreachable_server(backend: Backend, url: &str, error: &DbErr) {
    if in_ci() {
        panic!("CI=true: {backend:?} at {url} is unreachable, so this test cannot run: {error}");
    }
    eprintln!(
        "\n################################################################################\n\
         # SKIPPED: {backend:?} at {url} is unreachable ({error}).\n\
         # This test did NOT run. Start the server or set AUDIT_TEST_*_URL; CI=true makes this a failure.\n\
         ################################################################################\n"
    );
}

/// A unique, SQL-safe name for this test's schema or database.
fn unique_name(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let test: String = test.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(30).collect();
    format!("audit_t_{test}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// One test's isolated database namespace.
pub(crate) struct TestDb {
    pub(crate) backend: Backend,
    /// The schema (PostgreSQL) or database (MySQL) name; the file path for SQLite.
    pub(crate) namespace: String,
    admin: Option<DatabaseConnection>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh namespace, or `None` (after the loud message) when the server is unreachable
    /// outside CI.
    pub(crate) async fn open(backend: Backend, test: &str) -> Option<TestDb> {
        let name = unique_name(test);
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path = dir.path().join(format!("{name}.db")).display().to_string();
                Some(TestDb { backend, namespace: path, admin: None, _dir: Some(dir) })
            }
            Backend::Postgres | Backend::MySql => {
                let url = if backend == Backend::Postgres { postgres_url() } else { mysql_url() };
                let mut options = ConnectOptions::new(url.clone());
                options.max_connections(2).connect_timeout(Duration::from_secs(5)).sqlx_logging(false);
                let admin = match Database::connect(options).await {
                    Ok(admin) => admin,
                    Err(e) => {
                        unreachable_server(backend, &url, &e);
                        return None;
                    }
                };
                let create = if backend == Backend::Postgres {
                    format!("CREATE SCHEMA \"{name}\"")
                } else {
                    format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
                };
                admin.execute_unprepared(&create).await.expect("create the test namespace");
                Some(TestDb { backend, namespace: name, admin: Some(admin), _dir: None })
            }
        }
    }

    /// A new connection pool into this test's namespace (as the server's admin user).
    pub(crate) async fn connect(&self) -> DatabaseConnection {
        self.connect_as(None).await
    }

    /// A new pool into this test's namespace, as `user` (PostgreSQL) if given.
    pub(crate) async fn connect_as(&self, user: Option<&str>) -> DatabaseConnection {
        let options = match self.backend {
            Backend::Sqlite => {
                let mut options = ConnectOptions::new(format!("sqlite://{}", self.namespace));
                options.map_sqlx_sqlite_opts(|o| {
                    o.create_if_missing(true)
                        .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .busy_timeout(Duration::from_secs(60))
                });
                options
            }
            Backend::Postgres => {
                let mut options = ConnectOptions::new(postgres_url());
                options.set_schema_search_path(self.namespace.clone()).max_connections(8);
                if let Some(user) = user {
                    let user = user.to_string();
                    options.map_sqlx_postgres_opts(move |o| o.username(&user));
                }
                options
            }
            Backend::MySql => {
                let mut options = ConnectOptions::new(mysql_url());
                let database = self.namespace.clone();
                options.map_sqlx_mysql_opts(move |o| o.database(&database)).max_connections(8);
                options
            }
        };
        let mut options = options;
        options.sqlx_logging(false).connect_timeout(Duration::from_secs(10));
        Database::connect(options).await.expect("connect to the test namespace")
    }

    /// A URL that reaches this test's namespace by itself (PostgreSQL: `search_path` in its
    /// `options` parameter), for `SqlStore::connect_read_only` and the command line.
    pub(crate) fn url(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.namespace),
            Backend::Postgres => format!("{}?options=-c%20search_path%3D{}", postgres_url(), self.namespace),
            Backend::MySql => {
                let url = mysql_url();
                let server = url.rsplit_once('/').map_or(url.as_str(), |(server, _)| server);
                format!("{server}/{}", self.namespace)
            }
        }
    }

    /// A store on a new pool (not migrated).
    pub(crate) async fn store(&self) -> SqlStore {
        SqlStore::new(self.connect().await).expect("a supported backend")
    }

    /// A store on a new pool, migrated.
    pub(crate) async fn migrated_store(&self) -> SqlStore {
        let store = self.store().await;
        store.migrate().await.expect("migrate");
        store
    }

    /// Drops the namespace (best effort; a failed test leaves it for inspection).
    pub(crate) async fn cleanup(self) {
        if let Some(admin) = &self.admin {
            let drop = match self.backend {
                Backend::Postgres => format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.namespace),
                Backend::MySql => format!("DROP DATABASE IF EXISTS `{}`", self.namespace),
                Backend::Sqlite => return,
            };
            if let Err(e) = admin.execute_unprepared(&drop).await {
                eprintln!("warning: could not drop test namespace {}: {e}", self.namespace);
            }
        }
    }

    /// The admin connection (PostgreSQL and MySQL), outside the test's namespace.
    pub(crate) fn admin(&self) -> Option<&DatabaseConnection> {
        self.admin.as_ref()
    }
}

/// Runs the async test body `$body(&TestDb)` on each backend, as `$name::postgres`,
/// `$name::mysql` and `$name::sqlite`.
#[macro_export]
macro_rules! on_all_backends {
    ($name:ident) => {
        mod $name {
            use super::common::{Backend, TestDb};

            async fn run(backend: Backend) {
                if let Some(db) = TestDb::open(backend, stringify!($name)).await {
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                run(Backend::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn mysql() {
                run(Backend::MySql).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                run(Backend::Sqlite).await;
            }
        }
    };
}

/// A store that remembers every batch it appended (to compare stored bytes with
/// `SealedEvent::line`). It delegates everything to the real store.
pub(crate) struct Recording {
    pub(crate) inner: SqlStore,
    pub(crate) appended: Mutex<Vec<SealedEvent>>,
}

impl Recording {
    pub(crate) fn new(inner: SqlStore) -> Recording {
        Recording { inner, appended: Mutex::new(Vec::new()) }
    }

    pub(crate) fn appended(&self) -> Vec<SealedEvent> {
        self.appended.lock().expect("not poisoned").clone()
    }
}

#[async_trait::async_trait]
impl AuditStore for Recording {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }

    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let head = self.inner.append(chain, expected, batch).await?;
        self.appended.lock().expect("not poisoned").extend_from_slice(batch);
        Ok(head)
    }

    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }

    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
}

/// Every line of `chain`, through `AuditStore::read`.
pub(crate) async fn read_all(store: &dyn AuditStore, chain: &str) -> Vec<String> {
    use futures_util::StreamExt;
    let mut lines = Vec::new();
    let mut stream = store.read(chain, 1, None);
    while let Some(line) = stream.next().await {
        lines.push(line.expect("read a line"));
    }
    lines
}

/// Verifies `lines` with the core verifier, from genesis.
pub(crate) fn verify_lines(lines: &[String]) -> audit_core::verify::VerifyReport {
    let mut verifier = audit_core::verify::ChainVerifier::from_genesis();
    let refs: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    verifier.push_lines(&refs);
    verifier.finish()
}
