//! Sealing throughput of the SQL store: events per second written by `Auditor`s through
//! `SqlStore`, by batch size and number of concurrent writers.
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-seaorm cargo bench -p audit-seaorm --bench throughput
//! # only some backends / a quicker run:
//! AUDIT_BENCH_BACKENDS=sqlite AUDIT_BENCH_EVENTS=20000 cargo bench -p audit-seaorm --bench throughput
//! AUDIT_BENCH_BACKENDS=postgres AUDIT_BENCH_WRITERS=16 AUDIT_BENCH_BATCHES=1000 cargo bench …
//! ```
//!
//! Each configuration runs on fresh tables (a new PostgreSQL schema / MySQL database / SQLite
//! file). Writers are `Auditor`s fed with `record_buffered` so that their queues stay full and
//! every append carries `batch` events; "16 writers, 16 chains" is 16 application instances
//! each writing its own chain (e.g. per tenant), "16 writers, 1 chain" is 16 instances sharing
//! one chain (every append takes the same head row lock, and losers re-chain). Servers from
//! `AUDIT_TEST_POSTGRES_URL` / `AUDIT_TEST_MYSQL_URL` (defaults as in the tests).

use audit_core::store::{AuditStore, MemoryStore};
use audit_core::{Actor, Auditor, Context, EventDraft, Outcome};
use audit_seaorm::SqlStore;
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// No database: audit-core's MemoryStore, the ceiling set by the Auditor itself.
    Memory,
    Postgres,
    MySql,
    Sqlite,
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A realistic event: an ORM update with a diff, request context, ~600 bytes canonical.
fn draft(writer: usize, i: usize) -> EventDraft {
    EventDraft::new(if i.is_multiple_of(10) { "login" } else { "update" })
        .actor(if i.is_multiple_of(50) {
            Actor::admin(format!("admin-{writer}"))
        } else {
            Actor::user(format!("user-{}", i % 997))
        })
        .resource("orders", format!("{}", (i * 7919) % 100_003))
        .outcome(if i.is_multiple_of(40) { Outcome::Failure } else { Outcome::Success })
        .context(Context {
            ip: Some("203.0.113.7".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) bench".into()),
            request_id: Some(format!("req-{writer}-{i}")),
            method: Some("PUT".into()),
            route: Some("/orders/{id}".into()),
            path: Some(format!("/orders/{i}")),
            status: Some(200),
            duration_us: Some(1234),
        })
        .change("status", Some(json!("pending")), Some(json!("shipped")))
        .change("total", Some(json!(12.5)), Some(json!(13.75)))
}

struct Namespace {
    backend: Backend,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

async fn fresh(backend: Backend, n: usize) -> Option<(Namespace, String)> {
    let name = format!("audit_bench_{}_{n}", std::process::id());
    match backend {
        Backend::Memory => Some((Namespace { backend, name, _dir: None }, String::new())),
        Backend::Sqlite => {
            let dir = tempfile::tempdir().ok()?;
            let path = dir.path().join("bench.db");
            let url = format!("sqlite://{}", path.display());
            Some((Namespace { backend, name, _dir: Some(dir) }, url))
        }
        Backend::Postgres | Backend::MySql => {
            let base = if backend == Backend::Postgres {
                env("AUDIT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
            } else {
                env("AUDIT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
            };
            let mut options = ConnectOptions::new(base.clone());
            options.sqlx_logging(false);
            let admin = match Database::connect(options).await {
                Ok(admin) => admin,
                Err(e) => {
                    eprintln!("SKIPPED {backend:?}: {base} is unreachable ({e})");
                    return None;
                }
            };
            let create = if backend == Backend::Postgres {
                format!("CREATE SCHEMA {name}")
            } else {
                format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")
            };
            admin.execute_unprepared(&create).await.ok()?;
            Some((Namespace { backend, name, _dir: None }, base))
        }
    }
}

async fn drop_namespace(ns: &Namespace) {
    let (base, sql) = match ns.backend {
        Backend::Sqlite | Backend::Memory => return,
        Backend::Postgres => (
            env("AUDIT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
            format!("DROP SCHEMA {} CASCADE", ns.name),
        ),
        Backend::MySql => {
            (env("AUDIT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"), format!("DROP DATABASE {}", ns.name))
        }
    };
    let mut options = ConnectOptions::new(base);
    options.sqlx_logging(false);
    if let Ok(admin) = Database::connect(options).await {
        let _ = admin.execute_unprepared(&sql).await;
    }
}

async fn store_for(ns: &Namespace, url: &str, pool: u32) -> SqlStore {
    let mut options = ConnectOptions::new(url.to_string());
    options.sqlx_logging(false);
    match ns.backend {
        Backend::Memory => unreachable!("no SQL store for the memory baseline"),
        Backend::Sqlite => {
            options.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(60))
            });
        }
        Backend::Postgres => {
            options.set_schema_search_path(ns.name.clone()).max_connections(pool);
        }
        Backend::MySql => {
            let database = ns.name.clone();
            options.map_sqlx_mysql_opts(move |o| o.database(&database)).max_connections(pool);
        }
    }
    let db = Database::connect(options).await.unwrap_or_else(|e| panic!("connect: {e}"));
    SqlStore::new(db).unwrap_or_else(|e| panic!("store: {e}"))
}

/// Events/s for `writers` Auditors (on `chains` chains) writing `total` events in batches of `batch`.
async fn run(backend: Backend, n: usize, batch: usize, writers: usize, chains: usize, total: usize) -> Option<f64> {
    let (ns, url) = fresh(backend, n).await?;
    let (store, sql): (Arc<dyn AuditStore>, Option<Arc<SqlStore>>) = if backend == Backend::Memory {
        (Arc::new(MemoryStore::new()), None)
    } else {
        let store = Arc::new(store_for(&ns, &url, (writers as u32).clamp(2, 16)).await);
        store.migrate().await.unwrap_or_else(|e| panic!("migrate: {e}"));
        (store.clone(), Some(store))
    };
    let per_writer = total / writers;
    // Prepare the drafts before the clock starts.
    let drafts: Vec<Vec<EventDraft>> = (0..writers).map(|w| (0..per_writer).map(|i| draft(w, i)).collect()).collect();
    let auditors: Vec<Auditor> = (0..writers)
        .map(|w| {
            Auditor::builder(store.clone())
                .chain(format!("chain-{}", w % chains))
                .max_batch(batch)
                .queue_capacity((batch * 4).max(64))
                .build()
        })
        .collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (auditor, drafts) in auditors.into_iter().zip(drafts) {
        tasks.push(tokio::spawn(async move {
            let mut last = None;
            for draft in drafts {
                last = Some(auditor.record_buffered(draft).await.unwrap_or_else(|e| panic!("record: {e}")));
            }
            if let Some(ticket) = last {
                ticket.await.unwrap_or_else(|e| panic!("ack: {e}"));
            }
            auditor.shutdown().await;
        }));
    }
    for task in tasks {
        task.await.unwrap_or_else(|e| panic!("writer task: {e}"));
    }
    let elapsed = start.elapsed();
    let mut written = 0;
    for c in 0..chains {
        written += store.head(&format!("chain-{c}")).await.unwrap_or_else(|e| panic!("head: {e}")).seq;
    }
    assert_eq!(written as usize, per_writer * writers, "every event written exactly once");
    drop((store, sql));
    drop_namespace(&ns).await;
    Some(written as f64 / elapsed.as_secs_f64())
}

/// A comma-separated list of numbers.
fn list(text: &str) -> Vec<usize> {
    text.split(',').filter_map(|n| n.trim().parse().ok()).collect()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run a tiny
    // configuration there so the harness is exercised without taking minutes.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let backends = env("AUDIT_BENCH_BACKENDS", "postgres,sqlite,mysql");
    let total: usize = env("AUDIT_BENCH_EVENTS", if quick { "200" } else { "40000" }).parse().unwrap_or(40_000);
    let mut n = 0;
    let mut configs: Vec<(Backend, usize, usize, usize)> = Vec::new();
    for name in backends.split(',') {
        let backend = match name.trim() {
            "postgres" => Backend::Postgres,
            "mysql" => Backend::MySql,
            "sqlite" => Backend::Sqlite,
            "memory" => Backend::Memory,
            other => panic!("unknown backend {other:?} in AUDIT_BENCH_BACKENDS"),
        };
        let default_writers = if matches!(backend, Backend::Sqlite | Backend::Memory) { "1" } else { "1,16" };
        for writers in list(&env("AUDIT_BENCH_WRITERS", default_writers)) {
            for batch in list(&env("AUDIT_BENCH_BATCHES", "1,10,100,1000")) {
                if quick && batch > 10 {
                    continue;
                }
                configs.push((backend, batch, writers, writers));
                if writers > 1 {
                    configs.push((backend, batch, writers, 1));
                }
            }
        }
    }
    println!("{:<9} {:>6} {:>8} {:>7} {:>9} {:>12}", "backend", "batch", "writers", "chains", "events", "events/s");
    for (backend, batch, writers, chains) in configs {
        n += 1;
        // Batches of 1 are slow (one transaction per event): fewer events keep the run short.
        let events = if batch == 1 { total / 10 } else { total }.max(writers);
        if let Some(rate) = runtime.block_on(run(backend, n, batch, writers, chains, events)) {
            println!(
                "{:<9} {:>6} {:>8} {:>7} {:>9} {:>12.0}",
                format!("{backend:?}"),
                batch,
                writers,
                chains,
                events,
                rate
            );
        }
    }
}
