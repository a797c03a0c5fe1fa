//! One isolated database namespace per test, on the real servers:
//! - PostgreSQL: a schema of its own (`search_path`) in the database of
//!   `AUDIT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! - MariaDB/MySQL: a database of its own on the server of `AUDIT_TEST_MYSQL_URL` (default
//!   `mysql://root@127.0.0.1:3306/test`);
//! - SQLite: a file in a temporary directory.
//!
//! Policy: with `CI=true` a test fails when its server is unreachable; otherwise it is skipped
//! with a loud message on stderr.
//!
//! Shared by the store's tests (`common`) and the ORM hooks' tests (`orm_common`).
#![allow(dead_code, unreachable_pub)] // each test file uses a part of this module

use audit_seaorm::SqlStore;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The database servers the store supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

pub fn postgres_url() -> String {
    std::env::var("AUDIT_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub fn mysql_url() -> String {
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
    // Straight to stderr, not `eprintln!`: the test harness keeps a passing test's
    // `eprintln!` to itself, and this skip must be seen.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
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
    let test: String = test.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(24).collect();
    format!("audit_t_{test}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// One test's isolated database namespace.
pub struct TestDb {
    pub backend: Backend,
    /// The schema (PostgreSQL) or database (MySQL) name; the file path for SQLite.
    pub namespace: String,
    /// The server's URL (PostgreSQL, MySQL); empty for SQLite.
    server: String,
    admin: Option<DatabaseConnection>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh namespace, or `None` (after the loud message) when the server is unreachable
    /// outside CI.
    pub async fn open(backend: Backend, test: &str) -> Option<TestDb> {
        let server = match backend {
            Backend::Postgres => postgres_url(),
            Backend::MySql => mysql_url(),
            Backend::Sqlite => String::new(),
        };
        TestDb::open_on(backend, &server, test).await
    }

    /// A fresh namespace on the server at `server` (ignored for SQLite), or `None` as
    /// [`TestDb::open`] says.
    pub async fn open_on(backend: Backend, server: &str, test: &str) -> Option<TestDb> {
        let name = unique_name(test);
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path = dir.path().join(format!("{name}.db")).display().to_string();
                Some(TestDb { backend, namespace: path, server: String::new(), admin: None, _dir: Some(dir) })
            }
            Backend::Postgres | Backend::MySql => {
                let url = server.to_string();
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
                Some(TestDb { backend, namespace: name, server: url, admin: Some(admin), _dir: None })
            }
        }
    }

    /// A new connection pool into this test's namespace (as the server's admin user).
    pub async fn connect(&self) -> DatabaseConnection {
        self.connect_as(None).await
    }

    /// A new pool of one connection into this test's namespace: the connection every
    /// statement on it shares, handed out in turn.
    pub async fn connect_one(&self) -> DatabaseConnection {
        let mut options = ConnectOptions::new(self.url());
        options.max_connections(1).sqlx_logging(false);
        Database::connect(options).await.expect("connect")
    }

    /// A new pool into this test's namespace, as `user` (PostgreSQL) if given.
    pub async fn connect_as(&self, user: Option<&str>) -> DatabaseConnection {
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
                let mut options = ConnectOptions::new(self.server.clone());
                options.set_schema_search_path(self.namespace.clone()).max_connections(8);
                if let Some(user) = user {
                    let user = user.to_string();
                    options.map_sqlx_postgres_opts(move |o| o.username(&user));
                }
                options
            }
            Backend::MySql => {
                let mut options = ConnectOptions::new(self.server.clone());
                let database = self.namespace.clone();
                options.map_sqlx_mysql_opts(move |o| o.database(&database)).max_connections(8);
                options
            }
        };
        let mut options = options;
        options.sqlx_logging(false).connect_timeout(Duration::from_secs(10)).acquire_timeout(Duration::from_secs(120));
        Database::connect(options).await.expect("connect to the test namespace")
    }

    /// A URL that reaches this test's namespace by itself (PostgreSQL: `search_path` in its
    /// `options` parameter), for `SqlStore::connect_read_only` and the command line.
    pub fn url(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.namespace),
            Backend::Postgres => format!("{}?options=-c%20search_path%3D{}", self.server, self.namespace),
            Backend::MySql => {
                let url = &self.server;
                let server = url.rsplit_once('/').map_or(url.as_str(), |(server, _)| server);
                format!("{server}/{}", self.namespace)
            }
        }
    }

    /// A store on a new pool (not migrated).
    pub async fn store(&self) -> SqlStore {
        SqlStore::new(self.connect().await).expect("a supported backend")
    }

    /// A store on a new pool, migrated.
    pub async fn migrated_store(&self) -> SqlStore {
        let store = self.store().await;
        store.migrate().await.expect("migrate");
        store
    }

    /// Drops the namespace (best effort).
    pub async fn cleanup(self) {
        self.cleanup_handle().run().await;
    }

    /// What [`TestDb::cleanup`] needs, kept apart from the `TestDb` (which a test body may
    /// take by value), so that a runner can drop the namespace after the body panicked.
    pub fn cleanup_handle(&self) -> Cleanup {
        Cleanup { backend: self.backend, namespace: self.namespace.clone(), admin: self.admin.clone() }
    }

    /// The admin connection (PostgreSQL and MySQL), outside the test's namespace.
    pub fn admin(&self) -> Option<&DatabaseConnection> {
        self.admin.as_ref()
    }
}

/// Drops a test's namespace: [`TestDb::cleanup_handle`].
pub struct Cleanup {
    backend: Backend,
    namespace: String,
    admin: Option<DatabaseConnection>,
}

impl Cleanup {
    /// Drops the namespace (best effort; SQLite's file goes with its temporary directory).
    pub async fn run(self) {
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
}
