//! Tree heads and proofs over stores (`audit_core::proof`): every proof verifies, its root is
//! the RFC 9162 root of the chain's events, a store's subtree hashes are used when it keeps
//! them, and the O(n) fallback gives the same answers.

use async_trait::async_trait;
use audit_core::merkle::{Digest, MemoryTree, ProveError, empty_root, leaf_hash, node_hash};
use audit_core::proof::{StoreProofError, consistency_proof, frontier, inclusion_proof, tree_head};
use audit_core::store::{
    AppendError, AuditStore, Head, JsonlStore, LineStream, MemoryStore, Query, QueryPage, StoreError,
};
use audit_core::verify::BreakReason;
use audit_core::{Actor, Auditor, Event, EventDraft, SealedEvent};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// `n` events of chain "default", sealed by the writer.
async fn events(n: usize) -> Vec<SealedEvent> {
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).max_batch(13).build();
    for i in 0..n {
        let draft = EventDraft::new("update").actor(Actor::user(format!("u{}", i % 5))).detail("i", json!(i));
        auditor.record_buffered(draft).await.expect("queued");
    }
    auditor.shutdown().await;
    store.events("default")
}

/// RFC 9162 §2.1.1, straight from the definition.
fn reference_root(leaves: &[Digest]) -> Digest {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

fn leaves(events: &[SealedEvent]) -> Vec<Digest> {
    events.iter().map(|e| leaf_hash(e.hash().as_bytes())).collect()
}

async fn memory_store(events: &[SealedEvent]) -> MemoryStore {
    let store = MemoryStore::new();
    for chunk in events.chunks(17) {
        let head = store.head("default").await.expect("head");
        store.append("default", head, chunk).await.expect("append");
    }
    store
}

fn jsonl_file(dir: &std::path::Path, events: &[SealedEvent]) -> std::path::PathBuf {
    let path = dir.join("trail.jsonl");
    let text: String = events.iter().map(|e| format!("{}\n", e.line)).collect();
    std::fs::write(&path, text).expect("write trail");
    path
}

/// Delegates to a store but keeps no subtree hashes (the fallback path), and counts what is
/// read.
struct Plain<S> {
    inner: S,
    lines_read: AtomicU64,
    node_requests: AtomicU64,
    forward_nodes: bool,
}

impl<S> Plain<S> {
    fn without_nodes(inner: S) -> Plain<S> {
        Plain { inner, lines_read: AtomicU64::new(0), node_requests: AtomicU64::new(0), forward_nodes: false }
    }
    fn with_nodes(inner: S) -> Plain<S> {
        Plain { forward_nodes: true, ..Plain::without_nodes(inner) }
    }
    fn lines_read(&self) -> u64 {
        self.lines_read.swap(0, Ordering::SeqCst)
    }
}

#[async_trait]
impl<S: AuditStore> AuditStore for Plain<S> {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.inner.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        Box::pin(self.inner.read(chain, from, to).inspect(|_| {
            self.lines_read.fetch_add(1, Ordering::SeqCst);
        }))
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        self.node_requests.fetch_add(nodes.len() as u64, Ordering::SeqCst);
        if self.forward_nodes { self.inner.merkle_nodes(chain, nodes).await } else { Ok(None) }
    }
}

#[tokio::test]
async fn tree_head_is_the_rfc_root_at_every_size_in_every_store() {
    let events = events(40).await;
    let all = leaves(&events);
    let dir = tempfile::tempdir().expect("tempdir");
    let memory = MemoryStore::new();
    let plain = Plain::without_nodes(MemoryStore::new());
    let jsonl = JsonlStore::open(dir.path().join("trail.jsonl")).expect("open");
    let mut tree = MemoryTree::new();
    for size in 0..=events.len() {
        let expected = reference_root(&all[..size]);
        assert_eq!(tree.root(), expected, "MemoryTree, size {size}");
        let stores: [&dyn AuditStore; 3] = [&memory, &plain, &jsonl];
        for (name, store) in ["memory", "fallback", "jsonl"].iter().zip(stores) {
            let head = tree_head(store, "default").await.expect("tree head");
            assert_eq!((head.size, head.root), (size as u64, expected), "{name}, size {size}");
            let range = frontier(store, "default").await.expect("frontier");
            assert_eq!((range.size(), range.root()), (size as u64, expected), "{name} frontier, size {size}");
        }
        if let Some(event) = events.get(size) {
            for store in [&memory as &dyn AuditStore, &plain, &jsonl] {
                let head = store.head("default").await.expect("head");
                store.append("default", head, std::slice::from_ref(event)).await.expect("append");
            }
            tree.push(all[size]).expect("not full");
        }
    }
}

#[tokio::test]
async fn an_empty_or_unknown_chain_has_the_empty_root() {
    let store = MemoryStore::new();
    let head = tree_head(&store, "nothing").await.expect("tree head");
    assert_eq!((head.size, head.root), (0, empty_root()));
    let err = inclusion_proof(&store, "nothing", 1, 1).await.expect_err("no events");
    assert!(matches!(err, StoreProofError::BeyondHead { requested: 1, available: 0, .. }), "{err}");
}

#[tokio::test]
async fn inclusion_proofs_from_a_memory_store_verify_for_every_seq_and_size() {
    let events = events(64).await;
    let all = leaves(&events);
    let store = memory_store(&events).await;
    for size in 1..=64u64 {
        let root = reference_root(&all[..size as usize]);
        for seq in 1..=size {
            let proof = inclusion_proof(&store, "default", seq, size).await.expect("proof");
            proof.verify().unwrap_or_else(|e| panic!("seq {seq} size {size}: {e}"));
            assert_eq!((proof.seq, proof.size, proof.chain.as_str()), (seq, size, "default"));
            assert_eq!(proof.leaf, *events[seq as usize - 1].hash().as_bytes(), "the leaf is the event's hash");
            assert_eq!(proof.root, root, "the root is the chain's root at size {size}");
            // The same path does not prove another event.
            let mut other = proof.clone();
            other.leaf = *events[(seq as usize) % 64].hash().as_bytes();
            assert!(other.verify().is_err(), "seq {seq} size {size}: another leaf must fail");
        }
    }
}

#[tokio::test]
async fn consistency_proofs_from_a_memory_store_verify_for_every_pair_of_sizes() {
    let events = events(64).await;
    let all = leaves(&events);
    let store = memory_store(&events).await;
    for size2 in 1..=64u64 {
        for size1 in 1..=size2 {
            let proof = consistency_proof(&store, "default", size1, size2).await.expect("proof");
            proof.verify().unwrap_or_else(|e| panic!("{size1} -> {size2}: {e}"));
            assert_eq!(proof.root1, reference_root(&all[..size1 as usize]));
            assert_eq!(proof.root2, reference_root(&all[..size2 as usize]));
            if size1 < size2 {
                let mut forged = proof.clone();
                forged.root1 = reference_root(&all[1..size1 as usize + 1]);
                assert!(forged.verify().is_err(), "{size1} -> {size2}: another old root must fail");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_from_a_jsonl_file_and_the_fallback_equal_the_memory_store_ones() {
    let events = events(300).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = jsonl_file(dir.path(), &events);
    let memory = memory_store(&events).await;
    let jsonl = JsonlStore::open_read_only(&path).expect("open read-only");
    let plain = Plain::without_nodes(memory_store(&events).await);
    let pairs = (1..=20u64).flat_map(|size| (1..=size).map(move |seq| (seq, size))).chain([
        (1, 300),
        (300, 300),
        (129, 300),
        (128, 256),
        (255, 256),
        (77, 129),
        (200, 257),
    ]);
    for (seq, size) in pairs {
        let expected = inclusion_proof(&memory, "default", seq, size).await.expect("memory proof");
        for (name, store) in [("jsonl", &jsonl as &dyn AuditStore), ("fallback", &plain)] {
            let proof = inclusion_proof(store, "default", seq, size).await.expect("proof");
            assert_eq!(proof, expected, "{name}: seq {seq} size {size}");
            let proof = consistency_proof(store, "default", seq, size).await.expect("proof");
            assert_eq!(proof, consistency_proof(&memory, "default", seq, size).await.expect("memory"), "{name}");
            proof.verify().expect("verifies");
        }
    }
    // Reading the file did not change it.
    let text: String = events.iter().map(|e| format!("{}\n", e.line)).collect();
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_subtree_hashes_make_proofs_logarithmic_and_the_fallback_reads_the_chain() {
    let events = events(10_000).await;
    let fast = Plain::with_nodes(memory_store(&events).await);
    let slow = Plain::without_nodes(memory_store(&events).await);
    let log = 14; // ceil(log2(10_000))
    // Each stored hash is checked one level down: a subtree of at most 64 events against
    // them (the path's low subtrees lie in at most a few blocks of 64), a larger one against
    // its two halves (one more lookup). Bounded, whatever the chain's length.
    let checked = 4 * 64;
    for (seq, size) in [(1, 10_000), (5_000, 10_000), (10_000, 10_000), (4_097, 8_193)] {
        let proof = inclusion_proof(&fast, "default", seq, size).await.expect("proof");
        let read = fast.lines_read();
        assert!((1..=checked + 1).contains(&read), "the event itself and its checks: {read} lines read");
        // The proof's subtrees (at most 3 log n + 1), and the two halves of each.
        assert!(fast.node_requests.swap(0, Ordering::SeqCst) <= 3 * (3 * log + 1));
        assert_eq!(proof, inclusion_proof(&slow, "default", seq, size).await.expect("fallback proof"));
        assert_eq!(slow.lines_read(), size, "the fallback reads events 1..=size");
    }
    let proof = consistency_proof(&fast, "default", 3_333, 9_999).await.expect("proof");
    assert!(fast.lines_read() <= checked, "only the checks read events");
    assert_eq!(proof, consistency_proof(&slow, "default", 3_333, 9_999).await.expect("fallback proof"));
    tree_head(&fast, "default").await.expect("tree head");
    assert!(fast.lines_read() <= checked);
}

/// Events of one chain with the subtree hashes of another: a store whose Merkle table is
/// stale (e.g. restored from an older backup than the events).
struct Stale {
    events: MemoryStore,
    nodes: MemoryStore,
}

#[async_trait]
impl AuditStore for Stale {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.events.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.events.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.events.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.events.query(query).await
    }
    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        self.nodes.merkle_nodes(chain, nodes).await
    }
}

#[tokio::test]
async fn stale_subtree_hashes_are_reported_not_proved() {
    let store = Stale { events: memory_store(&events(20).await).await, nodes: memory_store(&events(20).await).await };
    let err = tree_head(&store, "default").await.expect_err("stale");
    assert!(matches!(err, StoreProofError::Inconsistent { .. }), "{err}");
    assert!(err.to_string().contains("rebuild them from the events"), "{err}");
    let err = inclusion_proof(&store, "default", 7, 20).await.expect_err("stale");
    assert!(err.to_string().contains("disagrees with its events"), "{err}");
}

#[tokio::test]
async fn requests_that_cannot_be_proved_are_refused_with_a_reason() {
    let store = memory_store(&events(10).await).await;
    let err = inclusion_proof(&store, "default", 0, 5).await.expect_err("seq 0");
    assert!(matches!(err, StoreProofError::Request(ProveError::SeqZero)), "{err}");
    let err = inclusion_proof(&store, "default", 6, 5).await.expect_err("seq beyond size");
    assert!(matches!(err, StoreProofError::Request(ProveError::IndexOutOfRange { index: 5, size: 5 })), "{err}");
    let err = inclusion_proof(&store, "default", 3, 11).await.expect_err("size beyond head");
    assert!(matches!(err, StoreProofError::BeyondHead { requested: 11, available: 10, .. }), "{err}");
    assert!(err.to_string().contains("at most 10"), "{err}");
    let err = consistency_proof(&store, "default", 0, 5).await.expect_err("empty first tree");
    assert!(matches!(err, StoreProofError::Request(ProveError::EmptyFirstTree)), "{err}");
    let err = consistency_proof(&store, "default", 6, 5).await.expect_err("sizes out of order");
    assert!(matches!(err, StoreProofError::Request(ProveError::SizesOutOfOrder { .. })), "{err}");
    assert!(consistency_proof(&store, "default", 5, 5).await.expect("equal sizes").path.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_refuses_to_prove_from_a_broken_chain() {
    let events = events(30).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut edited = events.clone();
    let mut event = Event::from_canonical_line(&edited[11].line).expect("valid");
    event.action = "delete".into();
    edited[11].line = event.to_canonical_line(); // hash not recomputed
    let path = jsonl_file(dir.path(), &edited);
    let store = JsonlStore::open_read_only(&path).expect("open");
    let err = inclusion_proof(&store, "default", 20, 30).await.expect_err("broken");
    let StoreProofError::Broken { chain_break, .. } = &err else { panic!("{err}") };
    assert_eq!((chain_break.seq, &chain_break.reason), (12, &BreakReason::HashMismatch));
    // Proofs of the intact prefix only read the intact prefix.
    inclusion_proof(&store, "default", 5, 11).await.expect("prefix before the edit").verify().expect("verifies");
}
