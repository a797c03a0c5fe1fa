//! Shared helpers of the ORM hook tests: the test entities, and an audited connection on a
//! fresh test database (`../common/db.rs`, shared with the store's tests) writing to a
//! `MemoryStore`.
#![allow(dead_code, unreachable_pub)] // each test file uses a part of this module

#[path = "../common/db.rs"]
mod db;

pub use db::{Backend, TestDb};

use audit_core::store::MemoryStore;
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Auditor, Event};
use audit_seaorm::orm::{AuditedDb, AuditedDbBuilder};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Schema};
use std::sync::Arc;

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
    conn.execute(&schema.create_table_from_entity(entities::labels::Entity)).await.expect("create labels");
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
    /// The emails of the committed `users` rows and those the sealed events set, each sorted:
    /// equal when every committed row has exactly one event and no event is for a row that was
    /// rolled back.
    pub async fn committed_emails(&self) -> (Vec<String>, Vec<String>) {
        use sea_orm::EntityTrait;
        let mut rows: Vec<String> =
            entities::users::Entity::find().all(&self.conn).await.expect("rows").into_iter().map(|u| u.email).collect();
        let mut events: Vec<String> = self
            .events()
            .iter()
            .filter_map(|e| change(e, "email").and_then(|c| c.1))
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        rows.sort();
        events.sort();
        (rows, events)
    }

    pub fn events(&self) -> Vec<Event> {
        verified_events(&self.store)
    }

    pub async fn finish(self) {
        self.auditor.shutdown().await;
        self.testdb.cleanup().await;
    }
}

/// The rows of outbox `table` (the default one is `audit_seaorm_outbox`).
pub async fn outbox_rows(conn: &DatabaseConnection, table: &str) -> i64 {
    let backend = conn.get_database_backend();
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await
        .expect("count the outbox")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

/// A recovery report of `sealed` and `already_sealed` rows and no unsealable one.
pub fn recovered(sealed: u64, already_sealed: u64) -> audit_seaorm::orm::Recovery {
    let mut report = audit_seaorm::orm::Recovery::default();
    report.sealed = sealed;
    report.already_sealed = already_sealed;
    report
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

/// Streams `stmt` on `conn` (`StreamTrait::stream_raw`) and reads the stream to its end: the
/// error the statement or any item of the stream brings.
pub async fn stream_all<C: sea_orm::StreamTrait>(
    conn: &C,
    stmt: sea_orm::Statement,
) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
    use futures_util::TryStreamExt;
    conn.stream_raw(stmt).await?.try_collect().await
}

/// MySQL: another transaction (on the plain pool) holding the lock of row `id` of `users`.
pub async fn hold_lock(h: &Harness, id: i32) -> sea_orm::DatabaseTransaction {
    use sea_orm::TransactionTrait;
    let holder = h.conn.begin().await.expect("begin");
    holder.execute_unprepared(&format!("SELECT id FROM users WHERE id = {id} FOR UPDATE")).await.expect("lock the row");
    holder
}

/// MySQL: a locking read of row `id` of `users`, streamed through `txn` to its end.
pub async fn stream_locking_read<C: sea_orm::StreamTrait>(
    txn: &C,
    id: i32,
) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
    let sql = format!("SELECT id FROM users WHERE id = {id} FOR UPDATE");
    stream_all(txn, sea_orm::Statement::from_string(DbBackend::MySql, sql)).await
}

/// Whether `error` is MySQL's lock wait timeout (1205).
pub fn is_lock_wait_timeout(error: &sea_orm::DbErr) -> bool {
    let text = error.to_string();
    text.contains("1205") || text.contains("Lock wait timeout")
}

/// The MySQL server's `innodb_rollback_on_timeout` (0 or 1).
pub async fn rollback_on_timeout(h: &Harness) -> i64 {
    let stmt = sea_orm::Statement::from_string(DbBackend::MySql, "SELECT @@innodb_rollback_on_timeout");
    let row = h.conn.query_one_raw(stmt).await.expect("ask").expect("a row");
    row.try_get_by_index::<i64>(0).expect("a number")
}

/// A `MemoryStore` whose appends wait for permits of `gate` (closed at first): holds the
/// writer while a test lines events up. `entered` tells that an append is waiting.
pub struct GatedStore {
    pub inner: MemoryStore,
    pub gate: tokio::sync::Semaphore,
    pub entered: std::sync::atomic::AtomicBool,
}

impl GatedStore {
    /// A store whose gate is closed.
    pub fn closed() -> GatedStore {
        GatedStore {
            inner: MemoryStore::new(),
            gate: tokio::sync::Semaphore::new(0),
            entered: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

#[async_trait::async_trait]
impl audit_core::store::AuditStore for GatedStore {
    async fn head(&self, chain: &str) -> Result<audit_core::store::Head, audit_core::store::StoreError> {
        self.inner.head(chain).await
    }
    async fn append(
        &self,
        chain: &str,
        expected: audit_core::store::Head,
        batch: &[audit_core::SealedEvent],
    ) -> Result<audit_core::store::Head, audit_core::store::AppendError> {
        self.entered.store(true, std::sync::atomic::Ordering::SeqCst);
        self.gate.acquire().await.expect("gate open").forget();
        self.inner.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> audit_core::store::LineStream<'_> {
        self.inner.read(chain, from, to)
    }
    async fn query(
        &self,
        query: &audit_core::store::Query,
    ) -> Result<audit_core::store::QueryPage, audit_core::store::StoreError> {
        self.inner.query(query).await
    }
}

/// A new `users` row to insert (score 0, no ssn).
pub fn user(email: &str) -> entities::users::ActiveModel {
    use sea_orm::Set;
    entities::users::ActiveModel {
        email: Set(email.into()),
        name: Set("n".into()),
        score: Set(0),
        ssn: Set(None),
        updated_at: Set(0),
        ..Default::default()
    }
}

/// The same row for the unaudited `plain_users` table (baselines).
pub fn plain_user(email: &str) -> entities::plain_users::ActiveModel {
    use sea_orm::Set;
    entities::plain_users::ActiveModel {
        email: Set(email.into()),
        name: Set("n".into()),
        score: Set(0),
        ssn: Set(None),
        updated_at: Set(0),
        ..Default::default()
    }
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

    /// A primary key whose value SeaORM casts when it writes it (a PostgreSQL enum).
    pub mod labels {
        use super::Mood;
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "labels")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub mood: Mood,
            pub note: String,
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
            use futures_util::FutureExt as _;

            /// Runs the test, which cleans up when it passes; after a panic its namespace is
            /// dropped here (the panic is then raised again).
            async fn run(backend: Backend) {
                if let Some(db) = TestDb::open(backend, stringify!($name)).await {
                    let cleanup = db.cleanup_handle();
                    if let Err(panic) = std::panic::AssertUnwindSafe(super::$name(db)).catch_unwind().await {
                        cleanup.run().await;
                        std::panic::resume_unwind(panic);
                    }
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
