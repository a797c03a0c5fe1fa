//! Canonicalize + hash one ~780-byte event: the writer's fast path against the general
//! RFC 8785 path and against parsing + re-serializing.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use std::hint::black_box;

#[path = "common.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let event = common::typical_event(42, audit_core::EventHash([7; 32]));
    let line = event.to_canonical_line();
    println!("typical event: {} canonical bytes", line.len());
    let mut group = c.benchmark_group("canonicalize_and_hash");
    group.throughput(Throughput::Elements(1));
    group.bench_function("fast_path (Event::compute_hash)", |b| b.iter(|| black_box(&event).compute_hash()));
    group.bench_function("sha256_only (the floor)", |b| b.iter(|| Sha256::digest(black_box(line.as_bytes()))));
    group.bench_function("reference (serde_json_canonicalizer + sha256)", |b| {
        b.iter(|| {
            let value = serde_json::to_value(black_box(&event)).expect("serializes");
            Sha256::digest(serde_json_canonicalizer::to_vec(&value).expect("canonical"))
        })
    });
    group.bench_function("parse line + re-serialize + hash", |b| {
        b.iter(|| audit_core::Event::from_canonical_line(black_box(&line)).expect("valid").compute_hash())
    });
    group.bench_function("inspect line (verifier: form + fields + hash)", |b| {
        b.iter(|| audit_core::line::inspect(black_box(line.as_bytes())).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
