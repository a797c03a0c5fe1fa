//! Interleaved A/B latency of audited vs plain SeaORM writes (medians), robust to a noisy,
//! shared machine where sequential benchmarks drift: each round runs one plain and one
//! audited operation back to back, alternating which goes first.
//!
//! `cargo run --release --example orm_ab -- [sqlite|postgres] [rounds]`
#![allow(missing_docs, unreachable_pub)]

#[path = "../tests/orm_common/mod.rs"]
mod orm_common;

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_seaorm::orm::AuditedDb;
use orm_common::entities::{plain_users, users};
use orm_common::{Backend, TestDb, create_tables};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = if args.iter().any(|a| a == "sqlite") { Backend::Sqlite } else { Backend::Postgres };
    let rounds: usize = args.iter().filter_map(|a| a.parse().ok()).next().unwrap_or(400);
    let testdb = TestDb::open(backend, "ab").await.expect("database");
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let outbox = AuditedDb::builder(conn.clone(), auditor.clone(), store).build();
    outbox.migrate_outbox().await.expect("migrate");
    let direct = AuditedDb::direct(conn.clone(), auditor.clone());
    let new_user = |n: i32| users::ActiveModel {
        email: Set(format!("u{n}@example.com")),
        name: Set("n".into()),
        score: Set(n),
        ssn: Set(None),
        updated_at: Set(0),
        ..Default::default()
    };
    let id = new_user(0).insert(&direct).await.expect("insert").id;
    let plain_id = plain_users::ActiveModel {
        email: Set("p@example.com".into()),
        name: Set("n".into()),
        score: Set(0),
        ssn: Set(None),
        updated_at: Set(0),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .expect("insert")
    .id;
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
    auditor.shutdown().await;
    testdb.cleanup().await;
}
