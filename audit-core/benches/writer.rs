//! Writer throughput (events/s) to memory and to the JSONL store (fsync per batch).
//!
//! - `buffered/<store>/<max_batch>`: 64 tasks queue 200 events each, then wait for every
//!   receipt, so batches fill up to `max_batch`.
//! - `acknowledged/<store>`: 64 tasks each wait for one receipt before the next event (at most
//!   64 events are in flight, so batches hold at most 64).

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use audit_core::store::{AuditStore, JsonlStore, MemoryStore};
use audit_core::{Auditor, Ticket};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;

#[path = "common.rs"]
mod common;

const TASKS: u64 = 64;
const PER_TASK: u64 = 200;

async fn run(store: Arc<dyn AuditStore>, max_batch: usize, acknowledged: bool) {
    let auditor = Auditor::builder(store).max_batch(max_batch).build();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let auditor = auditor.clone();
            tokio::spawn(async move {
                let mut tickets: Vec<Ticket> = Vec::new();
                for i in 0..PER_TASK {
                    let draft = common::typical_draft(t * PER_TASK + i);
                    if acknowledged {
                        auditor.record(draft).await.expect("recorded");
                    } else {
                        tickets.push(auditor.record_buffered(draft).await.expect("queued"));
                    }
                }
                for ticket in tickets {
                    ticket.await.expect("durable");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    auditor.shutdown().await;
}

fn jsonl_store(dir: &tempfile::TempDir, round: &mut u32) -> Arc<dyn AuditStore> {
    *round += 1;
    Arc::new(JsonlStore::open(dir.path().join(format!("trail-{round}.jsonl"))).expect("open"))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut round = 0;
    let mut group = c.benchmark_group("writer");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TASKS * PER_TASK));
    for max_batch in [1usize, 10, 100, 1000] {
        group.bench_with_input(BenchmarkId::new("buffered/memory", max_batch), &max_batch, |b, &max_batch| {
            b.iter(|| runtime.block_on(run(Arc::new(MemoryStore::new()), max_batch, false)))
        });
    }
    // One fsync per batch: batches of 1 would take minutes per sample on this disk.
    for max_batch in [10usize, 100, 1000] {
        group.bench_with_input(BenchmarkId::new("buffered/jsonl_fsync", max_batch), &max_batch, |b, &max_batch| {
            b.iter(|| runtime.block_on(run(jsonl_store(&dir, &mut round), max_batch, false)))
        });
    }
    group.bench_function("acknowledged/memory", |b| {
        b.iter(|| runtime.block_on(run(Arc::new(MemoryStore::new()), 1000, true)))
    });
    group.bench_function("acknowledged/jsonl_fsync", |b| {
        b.iter(|| runtime.block_on(run(jsonl_store(&dir, &mut round), 1000, true)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
