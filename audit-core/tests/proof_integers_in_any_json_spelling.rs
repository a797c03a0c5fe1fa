//! SPEC §4 proofs are JSON documents, and JSON (RFC 8259, and RFC 8785 which reads every number
//! as a double) has one kind of number: `3`, `3.0` and `3e0` are the same number. A proof whose
//! `seq`, `size`, `size1` or `size2` another tool wrote as `3.0` (Python's `json.dumps` of a
//! float, say) is the same proof, and the independent verifier (`tools/verify_trail.py proof`)
//! accepts it; `InclusionProof`/`ConsistencyProof` refused it ("invalid type: floating point"),
//! so `audit-trail verify-proof` answered exit 2 for a valid proof. A number that is not a
//! whole number, or not exact as a double (beyond 2^53), still names no position and is refused.

use audit_core::merkle::{ConsistencyProof, InclusionProof, MemoryTree, leaf_hash};

fn tree() -> (MemoryTree, Vec<[u8; 32]>) {
    let events: Vec<[u8; 32]> = (1u8..=7).map(|i| [i; 32]).collect();
    let mut tree = MemoryTree::new();
    for event in &events {
        tree.push(leaf_hash(event)).expect("room");
    }
    (tree, events)
}

#[test]
fn an_inclusion_proof_with_its_integers_spelled_as_other_json_numbers_is_the_same_proof() {
    let (mut tree, events) = tree();
    let proof = InclusionProof::generate(&mut tree, "default", 3, 7, events[2]).expect("proof");
    let json = serde_json::to_string(&proof).expect("serializes");
    for (seq, size) in [("3.0", "7.0"), ("3e0", "7E0"), ("0.3e1", "70e-1"), ("3", "7.000")] {
        let respelled = json.replacen("\"seq\":3", &format!("\"seq\":{seq}"), 1).replacen(
            "\"size\":7",
            &format!("\"size\":{size}"),
            1,
        );
        assert_ne!(respelled, json, "{seq} {size}: the test changed nothing");
        let parsed: InclusionProof = serde_json::from_str(&respelled)
            .unwrap_or_else(|e| panic!("seq {seq}, size {size} is the same proof: {e}"));
        assert_eq!(parsed, proof, "seq {seq}, size {size}");
        parsed.verify().expect("verifies");
    }
}

#[test]
fn a_consistency_proof_with_its_sizes_spelled_as_other_json_numbers_is_the_same_proof() {
    let (mut tree, _) = tree();
    let proof = ConsistencyProof::generate(&mut tree, "default", 3, 7).expect("proof");
    let json = serde_json::to_string(&proof).expect("serializes");
    let respelled = json.replacen("\"size1\":3", "\"size1\":3.0", 1).replacen("\"size2\":7", "\"size2\":7e0", 1);
    assert_ne!(respelled, json);
    let parsed: ConsistencyProof = serde_json::from_str(&respelled).expect("the same proof");
    assert_eq!(parsed, proof);
    parsed.verify().expect("verifies");
}

#[test]
fn numbers_that_name_no_position_are_still_refused() {
    let (mut tree, events) = tree();
    let json = serde_json::to_string(&InclusionProof::generate(&mut tree, "default", 3, 7, events[2]).expect("proof"))
        .expect("serializes");
    for seq in ["3.5", "-3", "-3.0", "1e300", "9007199254740994.0", "\"3\"", "null", "true"] {
        let respelled = json.replacen("\"seq\":3", &format!("\"seq\":{seq}"), 1);
        let error = serde_json::from_str::<InclusionProof>(&respelled).expect_err(seq).to_string();
        assert!(!error.is_empty(), "{seq}");
    }
    // Plain integers keep their whole u64 range, as before.
    let big = json.replacen("\"size\":7", "\"size\":18446744073709551615", 1);
    let parsed: InclusionProof = serde_json::from_str(&big).expect("a u64");
    assert_eq!(parsed.size, u64::MAX);
}
