//! Store verification and export throughput: `SqlStore::verify_chain` (hash chain, every
//! indexed column against its line, the head row), `AuditStore::read` streaming every line
//! (what `audit-trail export` writes), `SqlStore::verify_chain_after_checkpoint` from a
//! checkpoint 1,000 events before the end (`audit-trail verify --since-checkpoint`), and
//! `proof::frontier_from_events` (what the writer's checkpoint publisher reads once at start),
//! on a chain of N reference events (829 canonical bytes,
//! audit-core's `benches/common.rs`).
//!
//! ```sh
//! cargo bench -p audit-seaorm --bench verify_store
//! VERIFY_STORE_EVENTS=100000 VERIFY_STORE_BACKENDS=sqlite VERIFY_STORE_RUNS=5 cargo bench …
//! VERIFY_STORE_THREADS=1 VERIFY_STORE_PAGE=20000 …   # checking threads, rows per page
//! ```
//!
//! Each backend gets fresh tables (a new PostgreSQL schema / MySQL database / SQLite file),
//! filled with `SqlStore::append` in batches of pre-sealed events; the fill is not timed as
//! part of the figures. PostgreSQL and MySQL run on the same machine: their server's CPU time
//! counts against the same cores. "client CPU" is this process's user + system time.
//! Servers from `AUDIT_TEST_POSTGRES_URL` / `AUDIT_TEST_MYSQL_URL` (defaults as in the tests).

#[path = "../../audit-core/benches/common.rs"]
mod common;

use audit_core::store::{AuditStore, Head};
use audit_core::verify::ChainVerifier;
use audit_core::{EventHash, SealedEvent};
use audit_seaorm::SqlStore;
use futures_util::StreamExt;
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn server_url(backend: Backend) -> String {
    match backend {
        Backend::Postgres => env("AUDIT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
        Backend::MySql => env("AUDIT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
        Backend::Sqlite => String::new(),
    }
}

/// User + system CPU seconds of this process so far (all threads), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Fresh tables (or the kept ones): a schema or database named `name`, or a file in `dir`.
/// `None` (with a message) when the server is unreachable.
async fn fresh_store(backend: Backend, name: &str, dir: &std::path::Path, keep: bool) -> Option<SqlStore> {
    let mut options = match backend {
        Backend::Sqlite => ConnectOptions::new(format!("sqlite://{}", dir.join("verify.db").display())),
        Backend::Postgres | Backend::MySql => {
            let mut admin_options = ConnectOptions::new(server_url(backend));
            admin_options.sqlx_logging(false);
            let admin = match Database::connect(admin_options).await {
                Ok(admin) => admin,
                Err(e) => {
                    eprintln!("SKIPPED {backend:?}: {} is unreachable ({e})", server_url(backend));
                    return None;
                }
            };
            let exists = if keep { "IF NOT EXISTS " } else { "" };
            let create = if backend == Backend::Postgres {
                format!("CREATE SCHEMA {exists}{name}")
            } else {
                format!("CREATE DATABASE {exists}{name} CHARACTER SET utf8mb4")
            };
            admin.execute_unprepared(&create).await.unwrap_or_else(|e| panic!("{create}: {e}"));
            ConnectOptions::new(server_url(backend))
        }
    };
    options.sqlx_logging(false);
    match backend {
        Backend::Sqlite => {
            options.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(60))
                    // As `SqlStore::connect` and `connect_read_only` set it.
                    .row_buffer_size(audit_seaorm::store::SQLITE_ROW_BUFFER)
            });
        }
        Backend::Postgres => {
            options.set_schema_search_path(name.to_string());
        }
        Backend::MySql => {
            let database = name.to_string();
            options.map_sqlx_mysql_opts(move |o| o.database(&database));
        }
    }
    let db = Database::connect(options).await.unwrap_or_else(|e| panic!("connect: {e}"));
    let store = SqlStore::new(db).unwrap_or_else(|e| panic!("store: {e}"));
    store.migrate().await.unwrap_or_else(|e| panic!("migrate: {e}"));
    Some(store)
}

async fn drop_namespace(backend: Backend, name: &str) {
    let sql = match backend {
        Backend::Sqlite => return,
        Backend::Postgres => format!("DROP SCHEMA {name} CASCADE"),
        Backend::MySql => format!("DROP DATABASE {name}"),
    };
    let mut options = ConnectOptions::new(server_url(backend));
    options.sqlx_logging(false);
    if let Ok(admin) = Database::connect(options).await {
        let _ = admin.execute_unprepared(&sql).await;
    }
}

/// Appends `n` chained reference events to chain "default", sealed beforehand in batches of
/// 10,000 (sealing is not what is measured).
async fn fill(store: &SqlStore, n: u64) {
    const BATCH: u64 = 10_000;
    let mut head = Head::EMPTY;
    let mut prev = EventHash::ZERO;
    let mut seq = 1;
    while seq <= n {
        let batch: Vec<SealedEvent> = (seq..=(seq + BATCH - 1).min(n))
            .map(|s| {
                let event = common::typical_event(s, prev);
                prev = event.hash;
                SealedEvent { line: event.to_canonical_line(), event }
            })
            .collect();
        seq += batch.len() as u64;
        head = store.append("default", head, &batch).await.unwrap_or_else(|e| panic!("append: {e}"));
    }
}

/// The verifier, on `VERIFY_STORE_THREADS` threads if set (default: all cores).
fn verifier() -> ChainVerifier {
    match std::env::var("VERIFY_STORE_THREADS").ok().and_then(|t| t.parse().ok()) {
        Some(threads) => ChainVerifier::from_genesis().threads(threads),
        None => ChainVerifier::from_genesis(),
    }
}

async fn run(backend: Backend, n: u64, runs: usize) {
    // VERIFY_STORE_KEEP=NAME keeps the filled tables (schema, database, or file in the
    // temporary directory) for the next run, which then skips the fill: for quick iterations.
    let kept = std::env::var("VERIFY_STORE_KEEP").ok();
    let name = kept.clone().unwrap_or_else(|| format!("audit_bench_verify_{}", std::process::id()));
    let dir = match &kept {
        Some(keep) => std::env::temp_dir().join(keep),
        None => tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")).keep(),
    };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let Some(mut store) = fresh_store(backend, &name, &dir, kept.is_some()).await else { return };
    // VERIFY_STORE_PAGE: rows per page read (default `DEFAULT_READ_PAGE`).
    if let Some(rows) = std::env::var("VERIFY_STORE_PAGE").ok().and_then(|p| p.parse().ok()) {
        store = store.with_read_page_size(rows);
    }
    let head = store.head("default").await.unwrap_or_else(|e| panic!("head: {e}"));
    if head.seq != n {
        assert_eq!(head.seq, 0, "VERIFY_STORE_KEEP={name} holds {} events, not {n}", head.seq);
        let start = Instant::now();
        fill(&store, n).await;
        println!("{backend:?}: filled {n} events in {:.1} s", start.elapsed().as_secs_f64());
    }
    for _ in 0..runs {
        let (start, cpu) = (Instant::now(), cpu_seconds());
        let report = store.verify_chain_with("default", verifier()).await.unwrap_or_else(|e| panic!("verify: {e}"));
        let (seconds, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        assert!(report.is_valid() && report.lines.verified == n, "{report}");
        println!(
            "{backend:?}: verify_chain {n} events: {seconds:.2} s, {:.0} events/s, client CPU {cpu:.2} s",
            n as f64 / seconds
        );

        let (start, cpu) = (Instant::now(), cpu_seconds());
        let (mut lines, mut bytes) = (0u64, 0usize);
        let mut stream = store.read("default", 1, None);
        while let Some(line) = stream.next().await {
            bytes += line.unwrap_or_else(|e| panic!("read: {e}")).len() + 1;
            lines += 1;
        }
        let (seconds, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        assert_eq!(lines, n);
        println!(
            "{backend:?}: read (export) {n} events: {seconds:.2} s, {:.0} events/s, {:.0} MB/s, client CPU {cpu:.2} s",
            n as f64 / seconds,
            bytes as f64 / seconds / 1e6
        );

        // From a checkpoint 1,000 events before the end (`verify --since-checkpoint`): the
        // frontier before it from the stored subtree hashes, then the events after it.
        let size = n.saturating_sub(999).max(1);
        let root = audit_core::proof::frontier_at(&store, "default", size)
            .await
            .unwrap_or_else(|e| panic!("frontier at {size}: {e}"))
            .root();
        let checkpoint = audit_core::checkpoint::Checkpoint::new("bench/default", size, root);
        let (start, cpu) = (Instant::now(), cpu_seconds());
        let report = store
            .verify_chain_after_checkpoint("default", &checkpoint, |_| {})
            .await
            .unwrap_or_else(|e| panic!("verify after a checkpoint: {e}"));
        let (seconds, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        assert!(report.is_valid() && report.lines.first_seq == Some(size), "{report}");
        println!(
            "{backend:?}: verify_chain_after_checkpoint (checkpoint at {size} of {n}, {} events read): {:.1} ms, client \
             CPU {:.1} ms",
            report.lines.verified,
            seconds * 1e3,
            cpu * 1e3
        );

        // What the writer's checkpoint publisher does once at start.
        let (start, cpu) = (Instant::now(), cpu_seconds());
        let frontier = audit_core::proof::frontier_from_events(&store, "default")
            .await
            .unwrap_or_else(|e| panic!("frontier: {e}"));
        let (seconds, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        assert_eq!(frontier.size(), n);
        println!(
            "{backend:?}: frontier_from_events (publisher start) {n} events: {seconds:.2} s, {:.0} events/s, client \
             CPU {cpu:.2} s",
            n as f64 / seconds
        );
    }
    drop(store);
    if kept.is_none() {
        drop_namespace(backend, &name).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: run a tiny chain there so
    // the harness is exercised without taking minutes.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: u64 = env("VERIFY_STORE_EVENTS", if quick { "2000" } else { "1000000" }).parse().unwrap_or(1_000_000);
    let runs: usize = env("VERIFY_STORE_RUNS", if quick { "1" } else { "3" }).parse().unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    for name in env("VERIFY_STORE_BACKENDS", "postgres,sqlite").split(',') {
        let backend = match name.trim() {
            "postgres" => Backend::Postgres,
            "mysql" => Backend::MySql,
            "sqlite" => Backend::Sqlite,
            other => panic!("unknown backend {other:?} in VERIFY_STORE_BACKENDS"),
        };
        runtime.block_on(run(backend, n, runs));
    }
}
