//! Proof and checkpoint latency over a MemoryStore of 1M events (`PROOF_BENCH_EVENTS` to
//! change; `PROOF_BENCH_COMPACT=1` uses ~330-byte events instead of the 829-byte reference
//! event). `PROOF_BENCH_STORE=hashes` replaces the MemoryStore by a store that keeps only the
//! event hashes and a `MemoryTree` (96 bytes per event) and regenerates an event when it is
//! read: 10M events fit in 1 GB that way, where a MemoryStore needs about 1 KB per event.
//!
//! - `tree_head`, `inclusion_proof`, `consistency_proof`: `audit_core::proof` from the store's
//!   subtree hashes (O(log n) lookups; an inclusion proof also reads and checks its event).
//! - `inclusion_proof_and_verify`: the same, plus the auditor's RFC 9162 check.
//! - `checkpoint_sign`: tree head + Ed25519 signed note, what a writer or the CLI publishes.
//! - `checkpoint_open`: the auditor's side: signature check and parse of the note.
//! - `inclusion_proof_fallback`: a store that keeps no subtree hashes (O(n): reads and hashes
//!   every event up to the size). Skipped above 1M events.
//! - `merkle_tracking`: leaf hash + `CompactRange::push` for every event, the per-event cost
//!   the checkpoint verifier and the checkpoint publisher add. Skipped above 1M events.
//! - `verify_jsonl`: verifying a JSONL trail of the same events from genesis, alone and against
//!   a checkpoint at its full size (the cost of the Merkle tracking). Skipped above 1M events.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use async_trait::async_trait;
use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::proof::{consistency_proof, inclusion_proof, tree_head};
use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Actor, Event, EventHash, Outcome, Resource, SealedEvent, Timestamp};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

#[path = "common.rs"]
mod common;

const ORIGIN: &str = "audit.example.com/default";

/// A small event: actor, action, resource, no context or diffs.
fn compact_event(seq: u64, prev: EventHash) -> Event {
    let mut event = Event {
        v: 1,
        chain: "default".into(),
        seq,
        id: uuid::Uuid::from_u128(0x0193_5c1e_7b2a_7cc0_8a5e_0000_0000_0000 + u128::from(seq)),
        ts: Timestamp::from_unix_micros(1_795_000_000_000_000 + seq as i64).unwrap_or_else(Timestamp::now),
        actor: Actor::user("alice@example.com"),
        action: "login".into(),
        resource: Resource::new("session", format!("{seq}")),
        outcome: Outcome::Success,
        reason: None,
        context: Default::default(),
        changes: Vec::new(),
        details: Default::default(),
        justification: None,
        tags: Vec::new(),
        prev,
        hash: EventHash::ZERO,
    };
    event.hash = event.compute_hash();
    event
}

/// A store of `n` chained events, appended 10 000 at a time.
async fn filled_store(n: u64, compact: bool) -> MemoryStore {
    let store = MemoryStore::new();
    let mut head = Head::EMPTY;
    let mut seq = 1;
    while seq <= n {
        let end = (seq + 10_000).min(n + 1);
        let mut batch = Vec::with_capacity((end - seq) as usize);
        let mut prev = head.hash;
        for s in seq..end {
            let event = if compact { compact_event(s, prev) } else { common::typical_event(s, prev) };
            prev = event.hash;
            let line = event.to_canonical_line();
            batch.push(SealedEvent { event, line });
        }
        head = store.append("default", head, &batch).await.expect("append");
        seq = end;
    }
    store
}

/// The same store without subtree hashes: the O(n) fallback.
struct NoNodes<'a>(&'a MemoryStore);

#[async_trait]
impl AuditStore for NoNodes<'static> {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.0.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.0.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.0.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.0.query(query).await
    }
}

/// Compact events, kept as their hashes and a Merkle tree; an event is regenerated (it is
/// deterministic) when read. Answers `merkle_nodes` like a store that persists subtrees.
struct HashStore {
    hashes: Vec<EventHash>,
    tree: audit_core::merkle::MemoryTree,
}

impl HashStore {
    fn new(n: u64) -> HashStore {
        let mut store = HashStore { hashes: Vec::with_capacity(n as usize), tree: Default::default() };
        let mut prev = EventHash::ZERO;
        for seq in 1..=n {
            prev = compact_event(seq, prev).hash;
            store.hashes.push(prev);
            store.tree.push(audit_core::merkle::leaf_hash(prev.as_bytes())).expect("not full");
        }
        store
    }
}

#[async_trait]
impl AuditStore for HashStore {
    async fn head(&self, _chain: &str) -> Result<Head, StoreError> {
        Ok(self.hashes.last().map_or(Head::EMPTY, |&hash| Head { seq: self.hashes.len() as u64, hash }))
    }
    async fn append(&self, _chain: &str, _expected: Head, _batch: &[SealedEvent]) -> Result<Head, AppendError> {
        Err(StoreError::Corrupt("read-only bench store".into()).into())
    }
    fn read(&self, _chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        let to = to.unwrap_or(self.hashes.len() as u64).min(self.hashes.len() as u64);
        let lines = (from.max(1)..=to).map(move |seq| {
            let prev = if seq == 1 { EventHash::ZERO } else { self.hashes[seq as usize - 2] };
            Ok(compact_event(seq, prev).to_canonical_line())
        });
        Box::pin(futures_util::stream::iter(lines))
    }
    async fn query(&self, _query: &Query) -> Result<QueryPage, StoreError> {
        Ok(QueryPage::default())
    }
    async fn merkle_nodes(
        &self,
        _chain: &str,
        nodes: &[(u32, u64)],
    ) -> Result<Option<Vec<audit_core::merkle::Digest>>, StoreError> {
        use audit_core::merkle::SubtreeSource;
        let mut tree = &self.tree;
        Ok(nodes.iter().map(|&(level, index)| tree.subtree(level, index).ok()).collect())
    }
}

/// Spread-out seqs (a fixed multiplicative walk), so lookups do not stay in one cache line.
fn seqs(n: u64) -> impl Iterator<Item = u64> {
    let mut x = 1u64;
    std::iter::from_fn(move || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        Some((x >> 11) % n + 1)
    })
}

fn bench(c: &mut Criterion) {
    let n: u64 = std::env::var("PROOF_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let compact = std::env::var("PROOF_BENCH_COMPACT").is_ok_and(|v| v == "1");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let hashes_only = std::env::var("PROOF_BENCH_STORE").is_ok_and(|v| v == "hashes");
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier();
    let started = std::time::Instant::now();
    if hashes_only {
        let store = HashStore::new(n);
        eprintln!("filled a HashStore with {n} events in {:.1?}", started.elapsed());
        latency(c, &format!("proofs_hash_store_{n}_events"), &runtime, &store, n, &signer);
        return;
    }
    // Leaked: lives as long as the bench, and NoNodes needs a 'static store.
    let store: &'static MemoryStore = Box::leak(Box::new(runtime.block_on(filled_store(n, compact))));
    eprintln!("filled a MemoryStore with {n} events in {:.1?}", started.elapsed());
    latency(c, &format!("proofs_memory_store_{n}_events"), &runtime, store, n, &signer);
    let note =
        runtime.block_on(tree_head(store, "default")).expect("head").checkpoint(ORIGIN).sign(&signer).expect("signs");
    let mut walk = seqs(n);
    if n > 1_000_000 {
        return;
    }
    fallback_and_verify(c, &runtime, store, n, &note, &verifier, &mut walk);
}

/// Latency of tree heads, proofs and checkpoints from a store that keeps subtree hashes.
fn latency<S: AuditStore>(
    c: &mut Criterion,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    store: &S,
    n: u64,
    signer: &NoteSigner,
) {
    let verifier = signer.verifier();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("tree_head", |b| {
        b.iter(|| runtime.block_on(async { black_box(tree_head(store, "default").await.expect("head")) }))
    });
    let mut walk = seqs(n);
    group.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            let seq = walk.next().unwrap_or(1);
            runtime.block_on(async { black_box(inclusion_proof(store, "default", seq, n).await.expect("proof")) })
        })
    });
    group.bench_function("inclusion_proof_and_verify", |b| {
        b.iter(|| {
            let seq = walk.next().unwrap_or(1);
            let proof = runtime.block_on(inclusion_proof(store, "default", seq, n)).expect("proof");
            proof.verify().expect("verifies");
        })
    });
    group.bench_function("consistency_proof", |b| {
        b.iter(|| {
            let size1 = walk.next().unwrap_or(1);
            runtime.block_on(async { black_box(consistency_proof(store, "default", size1, n).await.expect("proof")) })
        })
    });
    group.bench_function("checkpoint_sign", |b| {
        b.iter(|| {
            let head = runtime.block_on(tree_head(store, "default")).expect("head");
            black_box(head.checkpoint(ORIGIN).sign(signer).expect("signs"))
        })
    });
    let note =
        runtime.block_on(tree_head(store, "default")).expect("head").checkpoint(ORIGIN).sign(signer).expect("signs");
    group.bench_function("checkpoint_open", |b| {
        b.iter(|| black_box(Checkpoint::verify(&note, &verifier).expect("verifies")))
    });
    group.finish();
}

/// The O(n) fallback, and verification of a JSONL trail with and without a checkpoint.
fn fallback_and_verify(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    store: &'static MemoryStore,
    n: u64,
    note: &str,
    verifier: &audit_core::checkpoint::NoteVerifier,
    walk: &mut impl Iterator<Item = u64>,
) {
    let mut group = c.benchmark_group(format!("proofs_fallback_{n}_events"));
    group.sample_size(10);
    let plain = NoNodes(store);
    group.bench_function("inclusion_proof_fallback", |b| {
        b.iter(|| {
            let seq = walk.next().unwrap_or(1);
            runtime.block_on(async { black_box(inclusion_proof(&plain, "default", seq, n).await.expect("proof")) })
        })
    });
    group.finish();

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    {
        let mut text = Vec::new();
        for event in store.events("default") {
            text.extend_from_slice(event.line.as_bytes());
            text.push(b'\n');
        }
        std::fs::write(&path, text).expect("write trail");
    }
    // What the verifier (against a checkpoint) and the checkpoint publisher add per event.
    let hashes: Vec<EventHash> = store.events("default").iter().map(SealedEvent::hash).collect();
    let mut group = c.benchmark_group(format!("merkle_tracking_{n}_events"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function("leaf_hash_and_compact_range_push", |b| {
        b.iter(|| {
            let mut range = audit_core::merkle::CompactRange::new();
            for hash in &hashes {
                range.push(audit_core::merkle::leaf_hash(hash.as_bytes())).expect("not full");
            }
            black_box(range.root())
        })
    });
    group.finish();

    let checkpoint = Checkpoint::verify(note, verifier).expect("verifies");
    let mut group = c.benchmark_group(format!("verify_jsonl_{n}_events"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function("chain_only", |b| {
        b.iter(|| {
            let report = verify_reader(std::fs::File::open(&path).expect("open"), ChainVerifier::from_genesis());
            assert!(report.expect("read").is_valid());
        })
    });
    group.bench_function("against_checkpoint", |b| {
        b.iter(|| {
            let verifier = ChainVerifier::against_checkpoint(&checkpoint);
            let report = verify_reader(std::fs::File::open(&path).expect("open"), verifier);
            assert!(report.expect("read").is_valid());
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
