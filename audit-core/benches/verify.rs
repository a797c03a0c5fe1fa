//! Verify throughput on a 1M-event JSON Lines trail, on one core and on all cores.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use audit_core::verify::{ChainVerifier, verify_reader};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "common.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let n: u64 = std::env::var("VERIFY_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    std::fs::write(&path, common::chain_text(n)).expect("write trail");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group(format!("verify_jsonl_{n}_events"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    for threads in [1, cores] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| {
                let file = std::fs::File::open(&path).expect("open");
                let report = verify_reader(file, ChainVerifier::from_genesis().threads(threads)).expect("read");
                assert!(report.is_valid() && report.verified == n);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
