//! Interleaved A/B latency of audited vs plain SeaORM writes (medians), robust to a noisy,
//! shared machine where sequential benchmarks drift: each round runs one plain and one
//! audited operation back to back, alternating which goes first. Then throughput: 16 tasks
//! writing at once (each its own rows), every variant in turn, the whole sequence twice
//! (the second time in reverse order); operations per second of each pass.
//!
//! `cargo run --release --example orm_ab -- [sqlite|postgres] [rounds] [--throughput N]`
//! (`N` operations per task and pass; no throughput phase without the flag)
//!
//! The audit events go to a `MemoryStore` (what is measured is the ORM side), or with
//! `ORM_AB_AUDIT_STORE=sql` to a `SqlStore` on the same database (its own pool), as an
//! application keeping its trail beside its data would run.
//!
//! Everything runs in a task spawned on the runtime's workers, as a web application's
//! handlers do (until 2026-12-02 the rounds ran on the main thread's `block_on`, where the
//! audited path's hand-offs to the writer task cost more: see BENCHMARKS.md).
#![allow(missing_docs, unreachable_pub)]

#[path = "../tests/orm_common/mod.rs"]
mod orm_common;

use audit_core::Auditor;
use audit_core::store::{AuditStore, MemoryStore};
use audit_seaorm::SqlStore;
use audit_seaorm::orm::AuditedDb;
use orm_common::entities::{plain_users, users};
use orm_common::{Backend, TestDb, create_tables, plain_user, user};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set, TransactionTrait};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // On a runtime worker, as an application's request handlers run, not on the main
    // thread's `block_on`: from there every wake-up of a task is a hand-off to another thread.
    if let Err(e) = tokio::spawn(run()).await {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn run() {
    let args: Vec<String> = std::env::args().collect();
    let backend = if args.iter().any(|a| a == "sqlite") { Backend::Sqlite } else { Backend::Postgres };
    let rounds: usize = args.iter().filter_map(|a| a.parse().ok()).next().unwrap_or(400);
    let testdb = TestDb::open(backend, "ab").await.expect("database");
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let store: Arc<dyn AuditStore> = if std::env::var("ORM_AB_AUDIT_STORE").as_deref() == Ok("sql") {
        let store = SqlStore::new(testdb.connect().await).expect("a supported backend");
        store.migrate().await.expect("migrate the audit store");
        Arc::new(store)
    } else {
        Arc::new(MemoryStore::new())
    };
    let auditor = Auditor::builder(store.clone()).build();
    let outbox = AuditedDb::builder(conn.clone(), auditor.clone(), store).build();
    outbox.migrate_outbox().await.expect("migrate");
    let direct = AuditedDb::direct(conn.clone(), auditor.clone());
    let id = user("u0@example.com").insert(&direct).await.expect("insert").id;
    let plain_id = plain_user("p@example.com").insert(&conn).await.expect("insert").id;
    // Plain: the same update of the same columns on a table without hooks.
    let plain_update = |k: i32| plain_users::ActiveModel { id: Set(plain_id), score: Set(k), ..Default::default() };
    let mut k = 1;
    let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        for step in 0..5 {
            let which = (step + round) % 5;
            let start = Instant::now();
            match which {
                0 => {
                    plain_update(k).update(&conn).await.expect("plain update");
                }
                1 => {
                    users::ActiveModel { id: Set(id), score: Set(k), ..Default::default() }
                        .update(&direct)
                        .await
                        .expect("audited update");
                }
                2 => {
                    let txn = conn.begin().await.expect("begin");
                    plain_update(k).update(&txn).await.expect("update");
                    txn.commit().await.expect("commit");
                }
                3 => {
                    let txn = direct.begin().await.expect("begin");
                    users::ActiveModel { id: Set(id), score: Set(k), ..Default::default() }
                        .update(&txn)
                        .await
                        .expect("update");
                    txn.commit().await.expect("commit");
                }
                _ => {
                    let txn = outbox.begin().await.expect("begin");
                    users::ActiveModel { id: Set(id), score: Set(k), ..Default::default() }
                        .update(&txn)
                        .await
                        .expect("update");
                    txn.commit().await.expect("commit");
                }
            }
            t[which].push(start.elapsed());
            k += 1;
        }
    }
    let [plain, audited, plain_txn, direct_txn, outbox_txn] = t.map(median);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("{backend:?}, {rounds} rounds, median latency per operation:");
    println!("  update (autocommit): plain {plain:?}, audited {audited:?}  -> {:.2}x", ratio(audited, plain));
    println!(
        "  begin+update+commit: plain {plain_txn:?}, audited direct {direct_txn:?} ({:.2}x), audited outbox {outbox_txn:?} ({:.2}x)",
        ratio(direct_txn, plain_txn),
        ratio(outbox_txn, plain_txn)
    );
    println!("  events written: {}", auditor.stats().written);
    if let Some(at) = args.iter().position(|a| a == "--throughput") {
        let per_task = args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(200);
        throughput(&conn, &direct, &outbox, per_task).await;
    }
    auditor.shutdown().await;
    testdb.cleanup().await;
}

/// What one throughput variant does.
#[derive(Clone, Copy, Debug)]
enum Variant {
    PlainInsert,
    AuditedInsert,
    PlainUpdate,
    AuditedUpdate,
    PlainTxnUpdate,
    DirectTxnUpdate,
    OutboxTxnUpdate,
}

const TASKS: i32 = 16;
/// The updated rows' ids, far above what the inserts generate.
const ROW_IDS: i32 = 2_000_000_000;

/// Operations per second of `variant` with [`TASKS`] tasks doing `per_task` operations each.
async fn pass(
    variant: Variant,
    conn: &DatabaseConnection,
    direct: &AuditedDb,
    outbox: &AuditedDb,
    per_task: i32,
) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (conn, direct, outbox) = (conn.clone(), direct.clone(), outbox.clone());
        tasks.push(tokio::spawn(async move {
            // Each task its own row: id ROW_IDS + task in both tables (see `throughput`).
            let id = ROW_IDS + task;
            for k in 0..per_task {
                let n = task * 1_000_000 + k;
                let plain = || plain_users::ActiveModel { id: Set(id), score: Set(n), ..Default::default() };
                let audited = || users::ActiveModel { id: Set(id), score: Set(n), ..Default::default() };
                let new_plain =
                    || plain_users::ActiveModel { score: Set(n), ..plain_user(&format!("p{n}@example.com")) };
                let new_audited = || users::ActiveModel { score: Set(n), ..user(&format!("a{n}@example.com")) };
                match variant {
                    Variant::PlainInsert => drop(new_plain().insert(&conn).await.expect("insert")),
                    Variant::AuditedInsert => drop(new_audited().insert(&direct).await.expect("insert")),
                    Variant::PlainUpdate => drop(plain().update(&conn).await.expect("update")),
                    Variant::AuditedUpdate => drop(audited().update(&direct).await.expect("update")),
                    Variant::PlainTxnUpdate => {
                        let txn = conn.begin().await.expect("begin");
                        plain().update(&txn).await.expect("update");
                        txn.commit().await.expect("commit");
                    }
                    Variant::DirectTxnUpdate | Variant::OutboxTxnUpdate => {
                        let db = if matches!(variant, Variant::DirectTxnUpdate) { &direct } else { &outbox };
                        let txn = db.begin().await.expect("begin");
                        audited().update(&txn).await.expect("update");
                        txn.commit().await.expect("commit");
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    f64::from(TASKS * per_task) / start.elapsed().as_secs_f64()
}

async fn throughput(conn: &DatabaseConnection, direct: &AuditedDb, outbox: &AuditedDb, per_task: i32) {
    for task in 0..TASKS {
        let (id, email) = (ROW_IDS + task, format!("t{task}@example.com"));
        let plain = plain_users::ActiveModel { id: Set(id), ..plain_user(&email) };
        plain.insert(conn).await.expect("insert a plain row");
        let audited = users::ActiveModel { id: Set(id), ..user(&email) };
        audited.insert(direct).await.expect("insert an audited row");
    }
    use Variant::*;
    const VARIANTS: [Variant; 7] =
        [PlainInsert, AuditedInsert, PlainUpdate, AuditedUpdate, PlainTxnUpdate, DirectTxnUpdate, OutboxTxnUpdate];
    let mut ops = [[0.0; 2]; VARIANTS.len()];
    for (pass_no, order) in
        [(0..VARIANTS.len()).collect::<Vec<_>>(), (0..VARIANTS.len()).rev().collect()].into_iter().enumerate()
    {
        for i in order {
            ops[i][pass_no] = pass(VARIANTS[i], conn, direct, outbox, per_task).await;
        }
    }
    println!(
        "throughput, {TASKS} tasks × {per_task} operations, two passes (operations/s, audited as a share of plain):"
    );
    for (plain, audited) in [(0, &[1][..]), (2, &[3]), (4, &[5, 6])] {
        let p = ops[plain];
        print!("  {:?}: {:.0} / {:.0}", VARIANTS[plain], p[0], p[1]);
        for &a in audited {
            let r = ops[a];
            print!(";  {:?}: {:.0} / {:.0} ({:.2} / {:.2})", VARIANTS[a], r[0], r[1], r[0] / p[0], r[1] / p[1]);
        }
        println!();
    }
}
