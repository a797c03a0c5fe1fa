//! `checkpoint --db`, `verify --db --checkpoint`, `prove --db` and `verify-proof` end to end on
//! SQLite, PostgreSQL and MariaDB: the checkpoint covers exactly the verified chain, proofs are
//! SPEC §4 JSON that verify against it, and a broken chain is neither signed nor proved.

mod common;
use audit_core::checkpoint::Checkpoint;
use audit_core::merkle::{ConsistencyProof, InclusionProof, to_hex};
use common::*;
use std::path::{Path, PathBuf};

const ORIGIN: &str = "audit.example.com/default";

/// A key pair: the private key file and the verifier key `keygen` printed.
fn keygen(dir: &Path, file: &str) -> (PathBuf, String) {
    let key = dir.join(file);
    let output = run(&["keygen", "--name", ORIGIN, "--out", s(&key)]);
    assert_exit(&output, 0);
    (key, stdout(&output).trim().to_string())
}

fn checkpoints_and_proofs_of_a_stored_chain(db: &TestDb) {
    db.record_plain("default", 21);
    let (key, verifier) = keygen(db.dir(), "log.key");
    let output = run(&["checkpoint", "--db", db.url(), "--origin", ORIGIN, "--key", s(&key)]);
    assert_exit(&output, 0);
    let note = stdout(&output);
    assert!(note.starts_with(&format!("{ORIGIN}\n21\n")), "{note}");
    let signed = Checkpoint::verify(&note, &verifier.parse().expect("verifier key")).expect("signed by the key");
    let cp = db.dir().join("cp-21");
    std::fs::write(&cp, &note).expect("keep the checkpoint");

    // The same chain exported and checkpointed from the file: the same note, byte for byte.
    let export = db.dir().join("default.jsonl");
    assert_exit(&run(&["export", "--db", db.url(), "--out", s(&export)]), 0);
    let output = run(&["checkpoint", "--jsonl", s(&export), "--origin", ORIGIN, "--key", s(&key)]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), note, "Ed25519 is deterministic: same size, same root, same signature");

    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 21 events\n");
    assert!(stderr(&output).contains(&format!("match checkpoint {ORIGIN}")), "{}", stderr(&output));

    // Inclusion: every field of SPEC §4, leading to the signed root.
    let hashes: Vec<String> = db
        .stored_lines("default")
        .iter()
        .map(|(_, line)| audit_core::Event::from_canonical_line(line).expect("event").hash.to_string())
        .collect();
    for (seq, size) in [(1u64, None), (7, None), (21, None), (5, Some(8u64))] {
        let seq_text = seq.to_string();
        let mut args = vec!["prove", "--db", db.url(), "--seq", &seq_text];
        let size_text = size.map(|n| n.to_string());
        if let Some(size) = &size_text {
            args.extend(["--size", size]);
        }
        let output = run(&args);
        assert_exit(&output, 0);
        let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
        assert_eq!(value.as_object().expect("object").len(), 6, "{value}");
        assert_eq!(value["leaf"], hashes[seq as usize - 1], "the leaf is the event's hash");
        assert_eq!(value["size"], size.unwrap_or(21));
        let proof: InclusionProof = serde_json::from_value(value).expect("SPEC §4 inclusion proof");
        proof.verify().expect("verifies");
        if size.is_none() {
            assert_eq!(proof.root, signed.root, "leads to the signed root");
        }
    }
    let proof_file = db.dir().join("proof.json");
    let output = run(&["prove", "--db", db.url(), "--seq", "7"]);
    std::fs::write(&proof_file, &output.stdout).expect("write");
    let output = run(&["verify-proof", "--proof", s(&proof_file), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 0);
    assert!(stdout(&output).starts_with("valid: event seq 7"), "{}", stdout(&output));

    // Consistency: an older tree (say an earlier checkpoint's) is a prefix of today's.
    let output = run(&["prove", "--db", db.url(), "--from", "8", "--to", "21"]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.starts_with(r#"{"chain":"default","size1":8,"size2":21,"root1":""#), "{text}");
    let proof: ConsistencyProof = serde_json::from_str(&text).expect("SPEC §4 consistency proof");
    proof.verify().expect("verifies");
    assert_eq!(to_hex(&proof.root2), to_hex(&signed.root));
    std::fs::write(&proof_file, &output.stdout).expect("write");
    let output = run(&["verify-proof", "--proof", s(&proof_file), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 0);

    // What cannot be proved.
    let output = run(&["prove", "--db", db.url(), "--seq", "3", "--size", "30"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("at most 21"), "{}", stderr(&output));
    let output = run(&["prove", "--db", db.url(), "--chain", "nope", "--seq", "1"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("chain \"nope\" has no events"), "{}", stderr(&output));
}
on_all_backends!(checkpoints_and_proofs_of_a_stored_chain);

fn a_broken_chain_is_neither_signed_nor_proved(db: &TestDb) {
    db.record_plain("default", 6);
    let (key, _) = keygen(db.dir(), "log.key");
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET line = replace(line, '\"id\":\"alice\"', '\"id\":\"mallory\"') WHERE chain = ? AND seq = ?",
        vec!["default".into(), 4i64.into()],
    )]);
    let output = run(&["checkpoint", "--db", db.url(), "--origin", ORIGIN, "--key", s(&key)]);
    assert_exit(&output, 1);
    assert_eq!(refusal(&output), "BROKEN at seq 4: hash mismatch\n");
    assert!(stderr(&output).contains("refusing to sign"), "{}", stderr(&output));
    let output = run(&["prove", "--db", db.url(), "--seq", "5"]);
    assert_exit(&output, 1);
    assert_eq!(refusal(&output), "BROKEN at seq 4: hash mismatch\n");

    // An edited column alone (the lines intact) is refused as well.
    let (key2, _) = keygen(db.dir(), "log2.key");
    let other = TestDb::open(db.backend, "broken_columns").expect("a second namespace");
    other.record_plain("default", 3);
    other.as_superuser(vec![other.statement(
        "UPDATE audit_events SET resource_id = ? WHERE chain = ? AND seq = ?",
        vec!["99".into(), "default".into(), 2i64.into()],
    )]);
    let output = run(&["checkpoint", "--db", other.url(), "--origin", ORIGIN, "--key", s(&key2)]);
    assert_exit(&output, 1);
    assert_eq!(refusal(&output), "BROKEN at seq 2: column mismatch\n");
}
on_all_backends!(a_broken_chain_is_neither_signed_nor_proved);

/// A proof over stored subtree hashes reads some blocks of events only; on a broken chain,
/// `prove` names the first break all the same, as `verify` does.
fn prove_names_the_first_break_as_verify_does(db: &TestDb) {
    // 1000 events: subtrees of 64 leaves and more are stored; a proof of seq 1000 reads only
    // events 961..=1000.
    db.record_plain("default", 1000);
    let edit = |seq: i64| {
        db.statement(
            "UPDATE audit_events SET line = replace(line, '\"id\":\"alice\"', '\"id\":\"mallory\"') WHERE chain = ? AND seq = ?",
            vec!["default".into(), seq.into()],
        )
    };
    db.as_superuser(vec![edit(3), edit(999)]);
    let verified = run(&["verify", "--db", db.url()]);
    assert_exit(&verified, 1);
    assert_eq!(stdout(&verified), "BROKEN at seq 3: hash mismatch\n");
    for args in [
        ["--seq", "1000"],
        ["--seq", "999"],
        ["--from", "990"],
        ["--from", "960"],
        ["--from", "1000"],
        ["--seq", "998"],
    ] {
        let output = run(&["prove", "--db", db.url(), args[0], args[1]]);
        assert_exit(&output, 1);
        assert_eq!(refusal(&output), stdout(&verified), "{args:?}: prove and verify name the same break");
        assert!(stderr(&output).contains("refusing to prove from a broken chain"), "{}", stderr(&output));
    }
}
on_all_backends!(prove_names_the_first_break_as_verify_does);

fn a_proof_from_a_corrupt_stored_subtree_hash_is_not_printed(db: &TestDb) {
    // 200 events: subtrees of 64 leaves and more are stored in audit_merkle_nodes.
    db.record_plain("default", 200);
    // The node of leaves 65..=128 (level 6, index 1), on the inclusion path of seq 1, gets the
    // hash of leaves 1..=64. (A derived table: MySQL cannot read the table it updates.)
    db.as_superuser(vec![db.statement(
        "UPDATE audit_merkle_nodes SET hash = (SELECT hash FROM (SELECT hash FROM audit_merkle_nodes WHERE chain = ? \
         AND level = 6 AND idx = 0) AS copied) WHERE chain = ? AND level = 6 AND idx = 1",
        vec!["default".into(), "default".into()],
    )]);
    let output = run(&["prove", "--db", db.url(), "--seq", "1"]);
    assert_exit(&output, 2);
    assert!(output.stdout.is_empty(), "no proof printed: {}", stdout(&output));
    let message = stderr(&output);
    assert!(message.contains("corrupt or stale"), "{message}");
    assert!(message.contains("though its 200 events verify"), "{message}");
    assert!(message.contains("DELETE FROM audit_merkle_nodes WHERE chain = 'default'"), "{message}");
    assert_eq!(message.matches("chain \"default\"").count(), 1, "the chain named once: {message}");

    // The events are intact: verify says so, and a proof from the export verifies.
    assert_exit(&run(&["verify", "--db", db.url()]), 0);
    let export = db.dir().join("default.jsonl");
    assert_exit(&run(&["export", "--db", db.url(), "--out", s(&export)]), 0);
    let output = run(&["prove", "--jsonl", s(&export), "--seq", "1"]);
    assert_exit(&output, 0);
    let proof: InclusionProof = serde_json::from_str(&stdout(&output)).expect("an inclusion proof");
    proof.verify().expect("a proof from the events verifies");

    // A failed read of the subtree hashes names the chain once.
    db.block_on(async {
        let conn = db.connect_async().await;
        sea_orm::ConnectionTrait::execute_unprepared(&conn, "DROP TABLE audit_merkle_nodes").await.expect("drop");
        conn.close().await.expect("close");
    });
    let output = run(&["prove", "--db", db.url(), "--seq", "1"]);
    assert_exit(&output, 2);
    let message = stderr(&output);
    assert!(message.contains("Merkle subtree hashes"), "{message}");
    assert_eq!(message.matches("chain \"default\"").count(), 1, "the chain named once: {message}");
}
on_all_backends!(a_proof_from_a_corrupt_stored_subtree_hash_is_not_printed);

fn a_corrupt_subtree_hash_feeding_path_and_root_is_found(db: &TestDb) {
    // 200 events. A stored subtree hash that the proof's path and its root both use gives a
    // proof that verifies against its own (wrong) root: the rows are checked one level down.
    db.record_plain("default", 200);
    let export = db.dir().join("default.jsonl");
    assert_exit(&run(&["export", "--db", db.url(), "--out", s(&export)]), 0);
    let corrupt = |level: i32, idx: i64| {
        db.block_on(async {
            let conn = db.connect_async().await;
            let changed = sea_orm::ConnectionTrait::execute_raw(
                &conn,
                db.statement(
                    "UPDATE audit_merkle_nodes SET hash = ? WHERE chain = ? AND level = ? AND idx = ?",
                    vec!["a".repeat(64).into(), "default".into(), level.into(), idx.into()],
                ),
            )
            .await
            .expect("update");
            assert_eq!(changed.rows_affected(), 1);
            conn.close().await.expect("close");
        });
    };
    // Leaves 129..=192 (level 6, index 2): a sibling of seq 1's path inside the right part,
    // and a part of the root. Then leaves 1..=128 (level 7, index 0) for seq 150.
    for (level, idx, seq) in [(6, 2, "1"), (7, 0, "150")] {
        let output = run(&["prove", "--jsonl", s(&export), "--seq", seq]);
        assert_exit(&output, 0);
        let good = stdout(&output);
        let output = run(&["prove", "--db", db.url(), "--seq", seq]);
        assert_exit(&output, 0);
        assert_eq!(stdout(&output), good, "the same proof from the database and from the export");
        corrupt(level, idx);
        let output = run(&["prove", "--db", db.url(), "--seq", seq]);
        assert_exit(&output, 2);
        assert!(output.stdout.is_empty(), "no proof printed: {}", stdout(&output));
        let message = stderr(&output);
        assert!(message.contains("corrupt or stale"), "{message}");
        assert!(message.contains(&format!("(level {level}, index {idx})")), "{message}");
        // A consistency proof from the same rows is refused too.
        let output = run(&["prove", "--db", db.url(), "--from", "100"]);
        assert_exit(&output, 2);
        // Rebuilt as the message says: the rows deleted, the migration stores them again.
        db.block_on(async {
            let conn = db.connect_async().await;
            sea_orm::ConnectionTrait::execute_unprepared(&conn, "DELETE FROM audit_merkle_nodes")
                .await
                .expect("delete");
            conn.close().await.expect("close");
        });
        db.migrate();
        let output = run(&["prove", "--db", db.url(), "--seq", seq]);
        assert_exit(&output, 0);
        assert_eq!(stdout(&output), good);
    }
}
on_all_backends!(a_corrupt_subtree_hash_feeding_path_and_root_is_found);
