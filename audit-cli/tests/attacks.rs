//! A database superuser attacks a stored trail (the append-only triggers do not stop them):
//! what `verify --db` finds alone, and what only a checkpoint kept elsewhere catches.
//!
//! (a) history rewritten with every later hash, the indexed columns and the head row
//!     recomputed: the chain alone is valid (this is why checkpoints exist); the checkpoint
//!     names the rewrite.
//! (b) the newest events deleted and the head row moved back: valid alone; truncation against
//!     the checkpoint.
//! (c) a checkpoint signed by another key: refused, nothing verified.
//! (d) an indexed column edited, the line untouched: broken, naming the column.

mod common;
use common::*;
use serde_json::json;

const ORIGIN: &str = "audit.example.com/default";

fn a_rewritten_history_passes_alone_but_not_against_an_earlier_checkpoint(db: &TestDb) {
    db.record_plain("default", 10);
    let (key, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let cp = db.checkpoint(&key, ORIGIN, "cp-10");
    db.record_plain("default", 5); // the application goes on: seq 11..=15

    db.rewrite_history("default", 4, "mallory");
    let rewritten = db.stored_lines("default");
    assert!(rewritten[3].1.contains("\"id\":\"mallory\""), "the attack changed event 4");

    // Lines, columns and head row all agree: the chain alone cannot tell.
    let output = run(&["verify", "--db", db.url()]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 15 events\n", "a consistent rewrite passes verification alone");
    let output = run(&["query", "--db", db.url(), "--actor", "mallory", "--format", "json"]);
    assert_eq!(seqs(&stdout(&output)), [4], "and queries see the forged actor");

    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 10: checkpoint mismatch\n");
    let message = stderr(&output);
    assert!(message.contains(&format!("checkpoint {ORIGIN} (size 10)")), "names the checkpoint: {message}");
    assert!(message.contains("none of events 1..=10 can be trusted"), "{message}");
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier, "--json"]);
    assert_exit(&output, 1);
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(value, json!({"status": "broken", "verified": 0, "broken_at": 10, "reason": "checkpoint mismatch"}));

    // The export carries the rewrite too, and the file is caught the same way.
    let export = db.dir().join("rewritten.jsonl");
    assert_exit(&run(&["export", "--db", db.url(), "--out", s(&export)]), 0);
    let output = run(&["verify", "--jsonl", s(&export), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 10: checkpoint mismatch\n");
}
on_all_backends!(a_rewritten_history_passes_alone_but_not_against_an_earlier_checkpoint);

fn deleting_the_newest_events_is_truncation_against_the_checkpoint(db: &TestDb) {
    db.record_plain("default", 12);
    let (key, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let cp = db.checkpoint(&key, ORIGIN, "cp-12");
    db.truncate("default", 9);

    let output = run(&["verify", "--db", db.url()]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 9 events\n", "events and head row agree: the chain alone cannot tell");

    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 10: truncated\n");
    let message = stderr(&output);
    assert!(message.contains("events 10..=12 were removed"), "{message}");
    assert!(message.contains(ORIGIN), "names the checkpoint: {message}");
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier, "--json"]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(value, json!({"status": "broken", "verified": 9, "broken_at": 10, "reason": "truncated"}));
}
on_all_backends!(deleting_the_newest_events_is_truncation_against_the_checkpoint);

/// A chain with neither events nor a head row, checked against a checkpoint: it may be every
/// event deleted with its head row (so the verdict stays "truncated", exit 1), or a mistyped
/// `--chain`: a note names the chains the database holds (it said only "truncated at seq 1").
fn a_chain_with_nothing_stored_against_a_checkpoint_is_truncated_and_the_chains_are_named(db: &TestDb) {
    db.record_plain("default", 4);
    let (key, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let cp = db.checkpoint(&key, ORIGIN, "cp-4");

    let output = run(&["verify", "--db", db.url(), "--chain", "defualt", "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 1: truncated\n");
    let message = stderr(&output);
    assert!(
        message.contains("chain \"defualt\" has no events") && message.contains("\"default\" (4 events)"),
        "{message}"
    );

    // Every event and the head row deleted: the same verdict; the note names what is left.
    db.record_plain("other", 1);
    db.as_superuser(vec![
        db.statement("DELETE FROM audit_events WHERE chain = ?", vec!["default".into()]),
        db.statement("DELETE FROM audit_chain_heads WHERE chain = ?", vec!["default".into()]),
    ]);
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 1: truncated\n");
    let message = stderr(&output);
    assert!(message.contains("events 1..=4 were removed"), "{message}");
    assert!(message.contains("its chains are \"other\" (1 events)"), "{message}");
}
on_all_backends!(a_chain_with_nothing_stored_against_a_checkpoint_is_truncated_and_the_chains_are_named);

fn a_checkpoint_signed_by_another_key_is_refused(db: &TestDb) {
    db.record_plain("default", 5);
    let (_, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let (mallory_key, _) = keygen(db.dir(), "mallory.key", ORIGIN);
    let forged = db.checkpoint(&mallory_key, ORIGIN, "forged");

    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&forged), "--key", &verifier]);
    assert_exit(&output, 2);
    assert!(output.stdout.is_empty(), "no verdict on the trail: {}", stdout(&output));
    let message = stderr(&output);
    assert!(message.starts_with("error: checkpoint"), "{message}");
    assert!(message.contains("refused, nothing was verified") && message.contains(&verifier), "{message}");
    assert!(!message.contains("panicked"));
}
on_all_backends!(a_checkpoint_signed_by_another_key_is_refused);

fn an_edited_indexed_column_is_broken(db: &TestDb) {
    db.record_plain("default", 6);
    // Hide event 3 from "everything alice did": the line, and so every hash, stay as they were.
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET actor_id = ? WHERE chain = ? AND seq = ?",
        vec!["mallory".into(), "default".into(), 3i64.into()],
    )]);
    let output = run(&["query", "--db", db.url(), "--actor", "alice", "--format", "json"]);
    assert_eq!(seqs(&stdout(&output)), [1, 2, 4, 5, 6], "the edit does hide the event from queries");

    let output = run(&["verify", "--db", db.url()]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 3: column mismatch\n");
    let message = stderr(&output);
    assert!(message.contains("column actor_id of seq 3 holds \"mallory\" but the event says \"alice\""), "{message}");
    let output = run(&["verify", "--db", db.url(), "--json"]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(value, json!({"status": "broken", "verified": 2, "broken_at": 3, "reason": "column mismatch"}));

    // A JSON Lines export has no columns: its lines are intact and verify.
    let export = db.dir().join("export.jsonl");
    assert_exit(&run(&["export", "--db", db.url(), "--out", s(&export)]), 0);
    assert_exit(&run(&["verify", "--jsonl", s(&export)]), 0);
}
on_all_backends!(an_edited_indexed_column_is_broken);
