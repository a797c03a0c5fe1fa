//! A chain-head row edited behind the store's back, as the commands besides `verify` see it
//! (`verify_db.rs` has `verify`'s): tampering (exit 1), never a database error (exit 2); and
//! no other chain's command fails because of it.

mod common;
use common::*;

/// Edits `chain`'s head row into a hash no writer stores (uppercase hex).
fn malform_head(db: &TestDb, chain: &str) {
    let upper = "AB".repeat(32);
    db.as_superuser(vec![
        db.statement("UPDATE audit_chain_heads SET hash = ? WHERE chain = ?", vec![upper.into(), chain.into()]),
    ]);
}

/// Export keeps every event as evidence and says BROKEN; checkpoint and prove refuse, exit 1.
/// (They exited 2 with "database error", and export wrote nothing.)
fn a_malformed_head_row_is_tampering_for_export_checkpoint_and_prove(db: &TestDb) {
    db.record_plain("default", 4);
    malform_head(db, "default");

    let out = db.dir().join("export.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 4: head mismatch\n", "{}", stderr(&output));
    assert!(stderr(&output).contains("chain-head row is malformed"), "{}", stderr(&output));
    let exported = std::fs::read_to_string(&out).expect("the export is kept");
    assert_eq!(exported.lines().count(), 4, "every event is exported");

    let key = db.dir().join("log.key");
    assert_exit(&run(&["keygen", "--name", "example.com/log", "--out", s(&key)]), 0);
    let output = run(&["checkpoint", "--db", db.url(), "--origin", "example.com/log", "--key", s(&key)]);
    assert_exit(&output, 1);
    assert_eq!(refusal(&output), "BROKEN at seq 4: head mismatch\n", "no checkpoint: {}", stderr(&output));

    for proof in [&["--seq", "1"][..], &["--from", "1", "--to", "2"][..]] {
        let mut args = vec!["prove", "--db", db.url()];
        args.extend_from_slice(proof);
        let output = run(&args);
        assert_exit(&output, 1);
        assert_eq!(refusal(&output), "BROKEN at seq 4: head mismatch\n", "no proof: {}", stderr(&output));
    }
}
on_all_backends!(a_malformed_head_row_is_tampering_for_export_checkpoint_and_prove);

/// Another chain's malformed head row does not fail the commands on this one (`query
/// --chain` listed the chains with their heads first, and exited 2 with "database error").
fn another_chains_malformed_head_row_leaves_this_ones_commands_alone(db: &TestDb) {
    db.record_plain("default", 3);
    db.record_plain("tenant-b", 2);
    malform_head(db, "tenant-b");
    let out = db.dir().join("export.jsonl");
    for args in [
        vec!["query", "--db", db.url(), "--chain", "default", "--format", "json"],
        vec!["report", "privileged", "--db", db.url(), "--chain", "default", "--format", "json"],
        vec!["verify", "--db", db.url(), "--chain", "default"],
        vec!["export", "--db", db.url(), "--chain", "default", "--out", s(&out)],
        vec!["prove", "--db", db.url(), "--chain", "default", "--seq", "2"],
    ] {
        let output = run(&args);
        assert_exit(&output, 0);
    }
    let output = run(&["query", "--db", db.url(), "--chain", "default", "--format", "json"]);
    assert_eq!(stdout(&output).lines().count(), 3);
    // A mistyped chain is still a usage error naming the chains there are.
    let output = run(&["query", "--db", db.url(), "--chain", "defualt"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("\"tenant-b\""), "{}", stderr(&output));
}
on_all_backends!(another_chains_malformed_head_row_leaves_this_ones_commands_alone);

/// The head row moved back over events that are still there: export writes them all and says
/// BROKEN where the head left them (it read only up to the head and exited 0).
fn events_beyond_the_head_row_are_exported_and_reported(db: &TestDb) {
    db.record_plain("default", 5);
    db.move_head_back("default", 3);
    let out = db.dir().join("export.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 4: head mismatch\n", "{}", stderr(&output));
    assert!(
        stderr(&output).contains("events up to seq 5 are stored but the chain-head row is at seq 3"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&out).expect("kept").lines().count(), 5, "every event is exported");
}
on_all_backends!(events_beyond_the_head_row_are_exported_and_reported);
