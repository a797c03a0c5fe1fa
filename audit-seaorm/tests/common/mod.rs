//! Helpers of the SQL store's tests: a test database per test on each backend ([`db`], shared
//! with the ORM hooks' tests), and a store that records what it appended.
#![allow(dead_code)] // each test file uses a part of this module

mod db;

pub(crate) use db::{Backend, TestDb};

use audit_core::SealedEvent;
use audit_core::store::{AppendError, AuditStore, Head, LineStream, Query, QueryPage, StoreError};
use audit_seaorm::SqlStore;
use std::sync::Mutex;

/// Runs the async test body `$body(&TestDb)` on each backend, as `$name::postgres`,
/// `$name::mysql` and `$name::sqlite`.
#[macro_export]
macro_rules! on_all_backends {
    ($name:ident) => {
        mod $name {
            use super::common::{Backend, TestDb};

            use futures_util::FutureExt as _;

            /// Runs the test; its namespace is dropped even when the test panics (the panic is
            /// then raised again), so a failing test leaves nothing on the servers.
            async fn run(backend: Backend) {
                if let Some(db) = TestDb::open(backend, stringify!($name)).await {
                    let result = std::panic::AssertUnwindSafe(super::$name(&db)).catch_unwind().await;
                    db.cleanup().await;
                    if let Err(panic) = result {
                        std::panic::resume_unwind(panic);
                    }
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

/// Switches off the append-only triggers of `audit_events`, as a database superuser would
/// before rewriting history; [`append_only_on`] puts them back.
pub(crate) async fn append_only_off(db: &TestDb, conn: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let off: &[&str] = match db.backend {
        Backend::Postgres => &["ALTER TABLE audit_events DISABLE TRIGGER USER"],
        Backend::MySql | Backend::Sqlite => {
            &["DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"]
        }
    };
    for statement in off {
        conn.execute_unprepared(statement).await.expect("switch the triggers off");
    }
}

/// Puts back what [`append_only_off`] switched off (on MySQL and SQLite `migrate` recreates
/// whatever is missing).
pub(crate) async fn append_only_on(db: &TestDb, store: &SqlStore, conn: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    match db.backend {
        Backend::Postgres => {
            conn.execute_unprepared("ALTER TABLE audit_events ENABLE TRIGGER USER").await.expect("triggers on");
        }
        Backend::MySql | Backend::Sqlite => store.migrate().await.expect("migrate restores the triggers"),
    }
}

/// Seals `drafts` (each with its chain) in the order given, as one auditor per chain would, in
/// memory. Returns every event in `(chain, seq)` order, to append with [`append_sealed`] (to
/// one store or to several) and to compute the expected answers from.
pub(crate) async fn seal(drafts: Vec<(String, audit_core::EventDraft)>) -> Vec<SealedEvent> {
    use std::collections::BTreeMap;
    let memory = std::sync::Arc::new(audit_core::store::MemoryStore::new());
    let mut auditors: BTreeMap<String, audit_core::Auditor> = BTreeMap::new();
    let capacity = drafts.len() + 10;
    for (chain, draft) in drafts {
        let auditor = auditors.entry(chain.clone()).or_insert_with(|| {
            audit_core::Auditor::builder(memory.clone()).chain(chain.clone()).queue_capacity(capacity).build()
        });
        auditor.record_buffered(draft).await.expect("record");
    }
    let mut all = Vec::new();
    for (chain, auditor) in &auditors {
        auditor.shutdown().await;
        all.extend(memory.events(chain));
    }
    all
}

/// Appends `events` (sealed by [`seal`], in `(chain, seq)` order) to `store`, chain by chain in
/// batches of 400.
pub(crate) async fn append_sealed(store: &SqlStore, events: &[SealedEvent]) {
    for chain_events in events.chunk_by(|a, b| a.event.chain == b.event.chain) {
        for part in chain_events.chunks(400) {
            let expected = Head { seq: part[0].seq() - 1, hash: part[0].event.prev };
            let chain = &part[0].event.chain;
            store.append(chain, expected, part).await.unwrap_or_else(|e| panic!("append to {chain}: {e}"));
        }
    }
}
