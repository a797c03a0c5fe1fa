//! Shared helpers of the ORM hook tests: one isolated database namespace per test on real
//! servers, the test entities, and an audited connection writing to a `MemoryStore`.
//! - PostgreSQL: a schema of its own (`search_path`) in the database of
//!   `AUDIT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! - MariaDB/MySQL: a database of its own on the server of `AUDIT_TEST_MYSQL_URL` (default
//!   `mysql://root@127.0.0.1:3306/test`);
//! - SQLite: a file in a temporary directory.
//!
//! Policy: with `CI=true` a test fails when its server is unreachable; otherwise it is skipped
//! with a loud message on stderr.
#![allow(dead_code, unreachable_pub)] // each test file uses a part of this module

use audit_core::store::MemoryStore;
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Auditor, Event};
use audit_seaorm::orm::{AuditedDb, AuditedDbBuilder};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Schema};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The database servers.
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

fn unique_name(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let test: String = test.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(24).collect();
    format!("orm_t_{test}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// One test's isolated namespace.
pub struct TestDb {
    pub backend: Backend,
    /// Schema (PostgreSQL), database (MySQL) or file path (SQLite).
    pub namespace: String,
    admin: Option<DatabaseConnection>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn open(backend: Backend, test: &str) -> Option<TestDb> {
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

    /// A new pool into this namespace. SQLite gets one connection (its writer lock admits one
    /// writer anyway).
    pub async fn connect(&self) -> DatabaseConnection {
        let mut options = match self.backend {
            Backend::Sqlite => {
                let mut options = ConnectOptions::new(format!("sqlite://{}", self.namespace));
                options.map_sqlx_sqlite_opts(|o| {
                    o.create_if_missing(true)
                        .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .busy_timeout(Duration::from_secs(60))
                });
                options.max_connections(1).min_connections(1);
                options
            }
            Backend::Postgres => {
                let mut options = ConnectOptions::new(postgres_url());
                options.set_schema_search_path(self.namespace.clone()).max_connections(8);
                options
            }
            Backend::MySql => {
                let mut options = ConnectOptions::new(mysql_url());
                let database = self.namespace.clone();
                options.map_sqlx_mysql_opts(move |o| o.database(&database)).max_connections(8);
                options
            }
        };
        options.sqlx_logging(false).connect_timeout(Duration::from_secs(10)).acquire_timeout(Duration::from_secs(120));
        Database::connect(options).await.expect("connect to the test namespace")
    }

    pub async fn cleanup(self) {
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

/// Creates the test tables (and PostgreSQL's enum type).
pub async fn create_tables(conn: &DatabaseConnection) {
    let backend = conn.get_database_backend();
    let schema = Schema::new(backend);
    if backend == DbBackend::Postgres
        && let Some(create) = schema.create_enum_from_active_enum::<entities::Mood>()
    {
        conn.execute(&create).await.expect("create the enum type");
    }
    conn.execute(&schema.create_table_from_entity(entities::users::Entity)).await.expect("create users");
    conn.execute(&schema.create_table_from_entity(entities::memberships::Entity)).await.expect("create memberships");
    conn.execute(&schema.create_table_from_entity(entities::kitchen::Entity)).await.expect("create kitchen");
    conn.execute(&schema.create_table_from_entity(entities::plain_users::Entity)).await.expect("create plain_users");
}

/// An audited connection on a fresh namespace, writing to a `MemoryStore`.
pub struct Harness {
    pub testdb: TestDb,
    pub conn: DatabaseConnection,
    pub store: Arc<MemoryStore>,
    pub auditor: Auditor,
    pub db: AuditedDb,
}

impl Harness {
    /// Tables created, outbox migrated, default options (outbox delivery, bulk writes recorded).
    pub async fn new(testdb: TestDb) -> Harness {
        Harness::with(testdb, |b| b).await
    }

    /// Like [`Harness::new`], with the builder adjusted by `configure`.
    pub async fn with(testdb: TestDb, configure: impl FnOnce(AuditedDbBuilder) -> AuditedDbBuilder) -> Harness {
        let conn = testdb.connect().await;
        create_tables(&conn).await;
        let store = Arc::new(MemoryStore::new());
        let auditor = Auditor::builder(store.clone()).build();
        let db = configure(AuditedDb::builder(conn.clone(), auditor.clone(), store.clone())).build();
        db.migrate_outbox().await.expect("migrate the outbox");
        db.migrate_outbox().await.expect("migrate_outbox is idempotent");
        Harness { testdb, conn, store, auditor, db }
    }

    /// Every event of the chain, after checking that the chain verifies.
    pub fn events(&self) -> Vec<Event> {
        verified_events(&self.store)
    }

    pub async fn finish(self) {
        self.auditor.shutdown().await;
        self.testdb.cleanup().await;
    }
}

/// The events of `store`'s default chain; panics unless the chain verifies (SPEC §2).
pub fn verified_events(store: &MemoryStore) -> Vec<Event> {
    let sealed = store.events("default");
    let mut export = String::new();
    for event in &sealed {
        export.push_str(&event.line);
        export.push('\n');
    }
    let report = verify_reader(export.as_bytes(), ChainVerifier::from_genesis()).expect("read the export");
    assert!(report.is_valid(), "the chain does not verify: {:?}", report.broken);
    assert_eq!(report.verified, sealed.len() as u64);
    sealed.into_iter().map(|e| e.event).collect()
}

/// The change of `field` in `event`, as (old, new).
pub fn change(event: &Event, field: &str) -> Option<(Option<serde_json::Value>, Option<serde_json::Value>)> {
    event.changes.iter().find(|c| c.field == field).map(|c| (c.old.clone(), c.new.clone()))
}

/// The fields `event` changes, sorted.
pub fn fields(event: &Event) -> Vec<&str> {
    event.changes.iter().map(|c| c.field.as_str()).collect()
}

pub mod entities {
    use sea_orm::entity::prelude::*;

    #[derive(Debug, Clone, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
    #[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "mood")]
    pub enum Mood {
        #[sea_orm(string_value = "happy")]
        Happy,
        #[sea_orm(string_value = "sad")]
        Sad,
    }

    pub mod users {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "users")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub email: String,
            pub name: String,
            pub score: i32,
            pub ssn: Option<String>,
            pub updated_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        audit_seaorm::audited!(ActiveModel, ignore = ["updated_at"], redact = ["ssn"]);
    }

    /// The same columns as `users`, not audited (benchmark baseline).
    pub mod plain_users {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "plain_users")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub email: String,
            pub name: String,
            pub score: i32,
            pub ssn: Option<String>,
            pub updated_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod memberships {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "memberships")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub user_id: i32,
            #[sea_orm(primary_key, auto_increment = false)]
            pub org: String,
            pub role: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        audit_seaorm::audited!(ActiveModel);
    }

    pub mod kitchen {
        use super::Mood;
        use sea_orm::entity::prelude::*;

        /// Every column type the hooks convert.
        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "kitchen")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub int: i32,
            pub big: i64,
            pub float: f32,
            pub double: f64,
            #[sea_orm(column_type = "Decimal(Some((30, 10)))")]
            pub dec: Decimal,
            pub flag: bool,
            pub text: String,
            pub bytes: Vec<u8>,
            pub date: Date,
            pub time: Time,
            pub datetime: DateTime,
            pub tstz: DateTimeUtc,
            pub uuid: Uuid,
            pub json: Json,
            pub nullable: Option<String>,
            pub mood: Mood,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        audit_seaorm::audited!(ActiveModel);
    }
}

/// Runs `async fn $name(db: TestDb)` on each backend, as `$name::postgres`, `$name::mysql`,
/// `$name::sqlite`.
#[macro_export]
macro_rules! on_all_backends {
    ($name:ident) => {
        mod $name {
            use super::orm_common::{Backend, TestDb};

            async fn run(backend: Backend) {
                if let Some(db) = TestDb::open(backend, stringify!($name)).await {
                    super::$name(db).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Backend::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                run(Backend::MySql).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite).await;
            }
        }
    };
}
