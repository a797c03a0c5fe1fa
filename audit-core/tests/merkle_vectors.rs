//! RFC 6962 / RFC 9162 vectors from /work/shared/vectors/rfc6962.json
//! (transparency-dev/merkle and certificate-transparency-go; see PROVENANCE.md).

use audit_core::merkle::{
    CompactRange, MemoryTree, ProofError, empty_root, leaf_hash, verify_consistency, verify_inclusion,
};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/rfc6962.json");

fn load() -> Value {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| panic!("cannot read {VECTORS}: {e}"));
    serde_json::from_str(&text).expect("rfc6962.json is JSON")
}

/// Hex of any length (the vectors hold deliberately malformed hashes).
fn bytes(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length: {hex}");
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit")).collect()
}

fn str_field<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key].as_str().unwrap_or_else(|| panic!("{key} missing in {case}"))
}

fn u64_field(case: &Value, key: &str) -> u64 {
    case[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {case}"))
}

fn hex_field(case: &Value, key: &str) -> Vec<u8> {
    bytes(str_field(case, key))
}

fn path(case: &Value) -> Vec<Vec<u8>> {
    case["proof_hex"]
        .as_array()
        .unwrap_or_else(|| panic!("proof_hex missing in {case}"))
        .iter()
        .map(|p| bytes(p.as_str().expect("proof entries are strings")))
        .collect()
}

fn cases<'a>(doc: &'a Value, key: &str) -> &'a [Value] {
    let list = doc[key].as_array().unwrap_or_else(|| panic!("{key} missing"));
    assert!(!list.is_empty(), "{key} is empty");
    list
}

fn check_inclusion(case: &Value) -> Result<(), ProofError> {
    verify_inclusion(
        u64_field(case, "index"),
        u64_field(case, "size"),
        &hex_field(case, "leaf_hash_hex"),
        &path(case),
        &hex_field(case, "root_hex"),
    )
}

fn check_consistency(case: &Value) -> Result<(), ProofError> {
    verify_consistency(
        u64_field(case, "size1"),
        u64_field(case, "size2"),
        &path(case),
        &hex_field(case, "root1_hex"),
        &hex_field(case, "root2_hex"),
    )
}

/// The tree of the eight test leaves.
fn reference_tree(doc: &Value) -> (MemoryTree, Vec<Vec<u8>>) {
    let leaves: Vec<Vec<u8>> = cases(doc, "leaves_hex").iter().map(|l| bytes(l.as_str().expect("leaf hex"))).collect();
    let mut tree = MemoryTree::new();
    for leaf in &leaves {
        tree.push(leaf_hash(leaf)).expect("tree not full");
    }
    (tree, leaves)
}

#[test]
fn leaf_hashes_and_roots_by_size() {
    let doc = load();
    let (tree, leaves) = reference_tree(&doc);
    let hashes = cases(&doc, "leaf_hashes_hex");
    assert_eq!(hashes.len(), leaves.len());
    for (leaf, want) in leaves.iter().zip(hashes) {
        assert_eq!(leaf_hash(leaf).to_vec(), bytes(want.as_str().expect("hex")));
    }

    let roots = doc["roots_hex_by_size"].as_object().expect("roots_hex_by_size");
    assert_eq!(roots.len(), leaves.len() + 1);
    let mut range = CompactRange::new();
    for size in 0..=leaves.len() {
        let want = bytes(roots[&size.to_string()].as_str().expect("hex"));
        assert_eq!(range.root().to_vec(), want, "compact range, size {size}");
        assert_eq!(tree.root_at(size as u64).expect("in tree").to_vec(), want, "subtrees, size {size}");
        if let Some(leaf) = leaves.get(size) {
            range.push(leaf_hash(leaf)).expect("not full");
        }
    }
    assert_eq!(bytes(roots["0"].as_str().expect("hex")), empty_root());
}

#[test]
fn inclusion_proofs_verify_and_are_regenerated_exactly() {
    let doc = load();
    let (tree, _) = reference_tree(&doc);
    let list = cases(&doc, "inclusion");
    for case in list {
        check_inclusion(case).unwrap_or_else(|e| panic!("{case}: {e}"));
        let generated = tree.inclusion_path(u64_field(case, "index"), u64_field(case, "size")).expect("in tree");
        let generated: Vec<Vec<u8>> = generated.iter().map(|d| d.to_vec()).collect();
        assert_eq!(generated, path(case), "generated path for {case}");
    }
    assert_eq!(list.len(), 7);
}

#[test]
fn consistency_proofs_verify_and_are_regenerated_exactly() {
    let doc = load();
    let (tree, _) = reference_tree(&doc);
    let list = cases(&doc, "consistency");
    for case in list {
        check_consistency(case).unwrap_or_else(|e| panic!("{case}: {e}"));
        let generated = tree.consistency_path(u64_field(case, "size1"), u64_field(case, "size2")).expect("valid sizes");
        let generated: Vec<Vec<u8>> = generated.iter().map(|d| d.to_vec()).collect();
        assert_eq!(generated, path(case), "generated path for {case}");
    }
    assert_eq!(list.len(), 5);
}

#[test]
fn inclusion_must_fail() {
    let doc = load();
    let list = cases(&doc, "inclusion_must_fail");
    for case in list {
        let err = check_inclusion(case).expect_err(str_field(case, "desc"));
        let desc = str_field(case, "desc");
        // Policy cases (policy_notes): a leaf hash that is not 32 bytes.
        if desc.starts_with("empty leaf") || desc == "empty root and leaf" {
            assert!(matches!(err, ProofError::HashLength { .. }), "{desc}: {err}");
        }
    }
    assert_eq!(list.len(), 80);
}

#[test]
fn consistency_must_fail() {
    let doc = load();
    let list = cases(&doc, "consistency_must_fail");
    for case in list {
        let desc = str_field(case, "desc");
        let err = check_consistency(case).expect_err(desc);
        // Policy cases (policy_notes): size1 = 0 is refused even when size2 = 0.
        if u64_field(case, "size1") == 0 && u64_field(case, "size2") >= u64_field(case, "size1") {
            assert_eq!(err, ProofError::EmptyFirstTree, "{desc}");
        }
    }
    assert_eq!(list.len(), 92);
}

#[test]
fn other_valid_cases() {
    let doc = load();
    let inclusion = cases(&doc, "inclusion_other_valid");
    for case in inclusion {
        check_inclusion(case).unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    let consistency = cases(&doc, "consistency_other_valid");
    for case in consistency {
        check_consistency(case).unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    assert_eq!(inclusion.len() + consistency.len(), 2);
}

/// The vectors' policy notes hold for this code: every consistency proof from size 0 is
/// refused (also 0 to 0 with an empty proof, and 0 to n whatever the roots), and a leaf hash or
/// root that is not 32 bytes fails.
#[test]
fn policy_notes_are_the_ones_this_code_follows() {
    let doc = load();
    let notes: Vec<&str> = cases(&doc, "policy_notes").iter().map(|n| n.as_str().expect("note")).collect();
    assert!(notes.iter().any(|n| n.contains("size1 == 0")) && notes.iter().any(|n| n.contains("exactly 32 bytes")));
    let (tree, _) = reference_tree(&doc);
    let (empty, none): (_, &[Vec<u8>]) = (empty_root(), &[]);
    let root = tree.root_at(8).expect("root of 8");
    assert!(verify_consistency(0, 0, none, &empty, &empty).is_err(), "0 to 0");
    assert!(verify_consistency(0, 8, none, &empty, &root).is_err(), "0 to 8");
    let leaf = leaf_hash(b"x");
    assert!(verify_inclusion(0, 1, &leaf, none, &leaf).is_ok(), "a one-leaf tree, as a control");
    assert!(verify_inclusion(0, 1, &[], none, &[]).is_err(), "an empty leaf hash and root");
    assert!(verify_inclusion(0, 1, &leaf[..31], none, &leaf[..31]).is_err(), "31 bytes");
}
