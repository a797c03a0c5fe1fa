//! Client CPU per update, plain against audited: on a shared two-core machine the process's
//! CPU time (user + system, from `/proc/self/stat`) is a steadier figure than latency, and it
//! shows what the audited path costs beyond its waits. Autocommit updates of one row, 4,000
//! plain then 4,000 audited (direct delivery to a `MemoryStore`), three rounds, on a runtime
//! worker as request handlers run.
//!
//! `cargo run --release -p audit-seaorm --example orm_cpu -- [sqlite|postgres] [plain|audited]`
//! (only that variant, e.g. under `perf stat -e context-switches`; both without it)
#![allow(missing_docs, unreachable_pub)]

#[path = "../tests/orm_common/mod.rs"]
mod orm_common;

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_seaorm::orm::AuditedDb;
use orm_common::entities::{plain_users, users};
use orm_common::{Backend, TestDb, create_tables, plain_user, user};
use sea_orm::{ActiveModelTrait, Set};
use std::sync::Arc;
use std::time::Instant;

const UPDATES: i32 = 4_000;

/// This process's CPU time so far, in seconds (user + system, all threads).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; the clock
    // ticks 100 times a second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = tokio::spawn(run()).await {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn run() {
    let args: Vec<String> = std::env::args().collect();
    let backend = if args.iter().any(|a| a == "sqlite") { Backend::Sqlite } else { Backend::Postgres };
    let variants: &[bool] = if args.iter().any(|a| a == "plain") {
        &[false]
    } else if args.iter().any(|a| a == "audited") {
        &[true]
    } else {
        &[false, true]
    };
    let testdb = TestDb::open(backend, "cpu").await.expect("database");
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let auditor = Auditor::builder(Arc::new(MemoryStore::new())).build();
    let direct = AuditedDb::direct(conn.clone(), auditor.clone());
    let id = user("u0@example.com").insert(&direct).await.expect("insert").id;
    let plain_id = plain_user("p@example.com").insert(&conn).await.expect("insert").id;
    println!("{backend:?}, {UPDATES} autocommit updates per variant and round:");
    for round in 1..=3 {
        for &audited in variants {
            let (cpu, start) = (cpu_seconds(), Instant::now());
            for k in 0..UPDATES {
                if audited {
                    users::ActiveModel { id: Set(id), score: Set(k), ..Default::default() }
                        .update(&direct)
                        .await
                        .expect("audited update");
                } else {
                    plain_users::ActiveModel { id: Set(plain_id), score: Set(k), ..Default::default() }
                        .update(&conn)
                        .await
                        .expect("plain update");
                }
            }
            let per_op = |seconds: f64| seconds * 1e6 / f64::from(UPDATES);
            println!(
                "  round {round}, {}: {:.1} µs wall, {:.1} µs client CPU per update",
                if audited { "audited" } else { "plain" },
                per_op(start.elapsed().as_secs_f64()),
                per_op(cpu_seconds() - cpu)
            );
        }
    }
    auditor.shutdown().await;
    testdb.cleanup().await;
}
