//! `verify-proof --checkpoint` with a consistency proof whose older tree (`size1`) is the
//! checkpoint's: the checkpoint vouches for `root1` only. Any tree that extends the signed one,
//! whatever events were appended and by whom, has a valid proof from it, so the newer root
//! (`root2`) must not be called signed. It was: `valid: the tree of 4 events is a prefix of the
//! tree of 10, whose root checkpoint … signed`, without the note that a root is only as good
//! as where it came from, for a tree of 10 its signer never saw.

mod common;

use audit_core::store::JsonlStore;
use audit_core::{Actor, Auditor, EventDraft};
use common::{assert_exit, run, s, stderr, stdout, trail};
use std::path::Path;
use std::sync::Arc;

const ORIGIN: &str = "example.com/log";

/// Appends `n` events by `actor` to the trail at `path`.
fn append(path: &Path, n: usize, actor: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let auditor = Auditor::builder(Arc::new(JsonlStore::open(path).expect("open"))).build();
        for i in 0..n {
            auditor
                .record(EventDraft::new("delete").actor(Actor::user(actor)).resource("doc", i.to_string()))
                .await
                .expect("record");
        }
        auditor.shutdown().await;
    });
}

#[test]
fn a_consistency_proof_from_the_signed_tree_does_not_call_the_newer_root_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("log.key");
    let keygen = run(&["keygen", "--name", ORIGIN, "--out", s(&key)]);
    assert_exit(&keygen, 0);
    let verifier = stdout(&keygen).trim().to_string();

    // The log's signer checkpoints the first 4 events.
    let trail = trail(dir.path(), 4);
    let signed = run(&["checkpoint", "--jsonl", s(&trail), "--origin", ORIGIN, "--key", s(&key)]);
    assert_exit(&signed, 0);
    let cp4 = dir.path().join("cp-4");
    std::fs::write(&cp4, &signed.stdout).expect("write");

    // Someone else extends a copy of those 4 events to 10: a tree the signer never saw.
    let fork_dir = tempfile::tempdir().expect("tempdir");
    let fork = fork_dir.path().join("trail.jsonl");
    std::fs::copy(&trail, &fork).expect("copy");
    append(&fork, 6, "mallory");
    let proved = run(&["prove", "--jsonl", s(&fork), "--from", "4", "--to", "10"]);
    assert_exit(&proved, 0);
    let proof = dir.path().join("proof.json");
    std::fs::write(&proof, &proved.stdout).expect("write");
    let root2 = serde_json::from_slice::<serde_json::Value>(&proved.stdout).expect("JSON")["root2"]
        .as_str()
        .expect("root2")
        .to_string();

    // The proof is valid, and anchored by the checkpoint at its older tree only.
    let output = run(&["verify-proof", "--proof", s(&proof), "--checkpoint", s(&cp4), "--key", &verifier]);
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        format!("valid: the tree of 4 events, whose root checkpoint {ORIGIN} signed, is a prefix of the tree of 10\n"),
        "the tree of 10 is not the one the checkpoint signed"
    );
    assert!(
        stderr(&output).contains(&format!(
            "the root of the tree of 10 events ({root2}) is not signed by checkpoint {ORIGIN} (size 4)"
        )),
        "{}",
        stderr(&output)
    );

    // Signed at the newer tree's size, the newer root is the signed one.
    let signed = run(&["checkpoint", "--jsonl", s(&fork), "--origin", ORIGIN, "--key", s(&key)]);
    assert_exit(&signed, 0);
    let cp10 = dir.path().join("cp-10");
    std::fs::write(&cp10, &signed.stdout).expect("write");
    let output = run(&["verify-proof", "--proof", s(&proof), "--checkpoint", s(&cp10), "--key", &verifier]);
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        format!("valid: the tree of 4 events is a prefix of the tree of 10, whose root checkpoint {ORIGIN} signed\n")
    );
    assert!(!stderr(&output).contains("not signed"), "{}", stderr(&output));
}
