//! Audited vs plain SeaORM writes, per operation, on SQLite and PostgreSQL.
//!
//! `cargo bench --bench orm` (PostgreSQL from `AUDIT_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; skipped with a message when unreachable).
//!
//! - `insert`, `update`: one row, autocommit, plain connection vs `AuditedDb` (the audited
//!   update reads the old row first: on PostgreSQL inside the UPDATE, on SQLite in the same
//!   call; the event is durable in a `MemoryStore` before the call returns).
//! - `txn_update`: `begin; update; commit` — plain, audited with the outbox (default), audited
//!   direct.

#[path = "../tests/orm_common/mod.rs"]
mod orm_common;

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_seaorm::orm::AuditedDb;
use criterion::{Criterion, criterion_group, criterion_main};
use orm_common::entities::{plain_users, users};
use orm_common::{Backend, TestDb, create_tables};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

struct Setup {
    testdb: TestDb,
    conn: DatabaseConnection,
    audited: AuditedDb,
    direct: AuditedDb,
    auditor: Auditor,
    plain_id: i32,
    audited_id: i32,
}

async fn setup(backend: Backend) -> Option<Setup> {
    let testdb = TestDb::open(backend, "bench").await?;
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let audited = AuditedDb::builder(conn.clone(), auditor.clone(), store).build();
    audited.migrate_outbox().await.expect("migrate");
    let direct = AuditedDb::direct(conn.clone(), auditor.clone());
    let plain_id = plain_users::ActiveModel {
        email: Set("p@example.com".into()),
        name: Set("p".into()),
        score: Set(0),
        ssn: Set(None),
        updated_at: Set(0),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .expect("insert")
    .id;
    let audited_id = users::ActiveModel {
        email: Set("a@example.com".into()),
        name: Set("a".into()),
        score: Set(0),
        ssn: Set(None),
        updated_at: Set(0),
        ..Default::default()
    }
    .insert(&audited)
    .await
    .expect("insert")
    .id;
    Some(Setup { testdb, conn, audited, direct, auditor, plain_id, audited_id })
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, backend: Backend) {
    let Some(s) = rt.block_on(setup(backend)) else { return };
    let name = format!("{backend:?}").to_lowercase();
    let counter = AtomicI32::new(1);
    let next = || counter.fetch_add(1, Ordering::Relaxed);

    let mut group = c.benchmark_group(format!("{name}/insert"));
    group.bench_function("plain", |b| {
        b.to_async(rt).iter(|| async {
            plain_users::ActiveModel {
                email: Set("x@example.com".into()),
                name: Set("x".into()),
                score: Set(next()),
                ssn: Set(None),
                updated_at: Set(0),
                ..Default::default()
            }
            .insert(&s.conn)
            .await
            .expect("insert")
        })
    });
    group.bench_function("audited", |b| {
        b.to_async(rt).iter(|| async {
            users::ActiveModel {
                email: Set("x@example.com".into()),
                name: Set("x".into()),
                score: Set(next()),
                ssn: Set(None),
                updated_at: Set(0),
                ..Default::default()
            }
            .insert(&s.audited)
            .await
            .expect("insert")
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{name}/update"));
    group.bench_function("plain", |b| {
        b.to_async(rt).iter(|| async {
            plain_users::ActiveModel { id: Set(s.plain_id), score: Set(next()), ..Default::default() }
                .update(&s.conn)
                .await
                .expect("update")
        })
    });
    group.bench_function("audited", |b| {
        b.to_async(rt).iter(|| async {
            users::ActiveModel { id: Set(s.audited_id), score: Set(next()), ..Default::default() }
                .update(&s.audited)
                .await
                .expect("update")
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{name}/txn_update"));
    group.bench_function("plain", |b| {
        b.to_async(rt).iter(|| async {
            let txn = s.conn.begin().await.expect("begin");
            plain_users::ActiveModel { id: Set(s.plain_id), score: Set(next()), ..Default::default() }
                .update(&txn)
                .await
                .expect("update");
            txn.commit().await.expect("commit");
        })
    });
    for (label, db) in [("audited_outbox", &s.audited), ("audited_direct", &s.direct)] {
        group.bench_function(label, |b| {
            b.to_async(rt).iter(|| async {
                let txn = db.begin().await.expect("begin");
                users::ActiveModel { id: Set(s.audited_id), score: Set(next()), ..Default::default() }
                    .update(&txn)
                    .await
                    .expect("update");
                txn.commit().await.expect("commit");
            })
        });
    }
    group.finish();

    rt.block_on(async {
        let rows = users::Entity::find().all(&s.conn).await.map(|r| r.len()).unwrap_or(0);
        eprintln!("{name}: {rows} audited rows, {} events written", s.auditor.stats().written);
        s.auditor.shutdown().await;
        s.testdb.cleanup().await;
    });
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    bench_backend(c, &rt, Backend::Sqlite);
    bench_backend(c, &rt, Backend::Postgres);
}

#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
    name = orm;
    config = Criterion::default().sample_size(40).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = benches
    }
}
criterion_main!(group::orm);
