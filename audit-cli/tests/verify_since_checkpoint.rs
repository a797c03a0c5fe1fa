//! `audit-trail verify --db URL --checkpoint FILE --key KEY --since-checkpoint` checks only
//! the events from the checkpoint's last one on (issue #5: "check only the events after it,
//! plus the consistency proof from the checkpoint to now"): the store's Merkle subtree hashes
//! and that event must give the checkpoint's root, then the later events are verified as
//! usual. The attacks a checkpoint exists for are still caught (history rewritten with every
//! later hash recomputed, the newest events deleted); where the stored subtree hashes are bad,
//! the whole chain is read instead and the verdict is the same.

mod common;
use common::*;
use serde_json::json;
use std::path::Path;

const ORIGIN: &str = "audit.example.com/default";

fn verify_since(db: &TestDb, cp: &Path, verifier: &str, json: bool) -> std::process::Output {
    let mut args = vec!["verify", "--db", db.url(), "--checkpoint", s(cp), "--key", verifier, "--since-checkpoint"];
    if json {
        args.push("--json");
    }
    run(&args)
}

fn only_the_events_after_the_checkpoint_are_read(db: &TestDb) {
    // 150 events: two blocks of 64 have stored subtree hashes, the rest come from events.
    db.record_plain("default", 150);
    let (key, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let cp = db.checkpoint(&key, ORIGIN, "cp-150");
    db.record_plain("default", 20); // seq 151..=170

    let output = verify_since(db, &cp, &verifier, false);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 21 events\n", "seq 150..=170: {}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("events from seq 150 on were read"), "{message}");
    assert!(message.contains(&format!("events 1..=149 is the one checkpoint {ORIGIN} signed")), "{message}");
    assert!(message.contains("their rows were not read"), "{message}");
    let output = verify_since(db, &cp, &verifier, true);
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(value, json!({"status": "valid", "verified": 21, "broken_at": null, "reason": null}));

    // What it does not read: a column edited before the checkpoint (documented); the full
    // verification finds it. After the checkpoint, a column edit is found.
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET actor_id = ? WHERE chain = ? AND seq = ?",
        vec!["mallory".into(), "default".into(), 3i64.into()],
    )]);
    assert_exit(&verify_since(db, &cp, &verifier, false), 0);
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 3: column mismatch\n");
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET actor_id = ? WHERE chain = ? AND seq = ?",
        vec!["mallory".into(), "default".into(), 160i64.into()],
    )]);
    let output = verify_since(db, &cp, &verifier, false);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 160: column mismatch\n");
    assert!(stderr(&output).contains("after 10 valid events"), "seq 150..=159: {}", stderr(&output));
}
on_all_backends!(only_the_events_after_the_checkpoint_are_read);

fn a_rewritten_history_is_caught_from_the_checkpoint(db: &TestDb) {
    db.record_plain("default", 10);
    let (key, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let cp = db.checkpoint(&key, ORIGIN, "cp-10");
    db.record_plain("default", 5);
    // Lines, columns and head row all recomputed; below 64 events the subtree hashes come
    // from the (rewritten) events themselves, so they agree with the rewrite.
    db.rewrite_history("default", 4, "mallory");
    assert_exit(&run(&["verify", "--db", db.url()]), 0);

    let output = verify_since(db, &cp, &verifier, false);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 10: checkpoint mismatch\n");
    let message = stderr(&output);
    assert!(message.contains(&format!("checkpoint {ORIGIN} (size 10)")), "names the checkpoint: {message}");
    let value: serde_json::Value =
        serde_json::from_str(&stdout(&verify_since(db, &cp, &verifier, true))).expect("JSON");
    assert_eq!(value, json!({"status": "broken", "verified": 0, "broken_at": 10, "reason": "checkpoint mismatch"}));
}
on_all_backends!(a_rewritten_history_is_caught_from_the_checkpoint);

fn deleted_newest_events_are_truncation_from_the_checkpoint(db: &TestDb) {
    db.record_plain("default", 12);
    let (key, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let cp = db.checkpoint(&key, ORIGIN, "cp-12");

    // The checkpoint's last event gone: the frontier before it is there, the event is not.
    db.truncate("default", 11);
    let output = verify_since(db, &cp, &verifier, false);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 12: truncated\n");
    assert!(stderr(&output).contains(ORIGIN), "names the checkpoint: {}", stderr(&output));

    // More gone: the tree before the checkpoint cannot be had; the whole chain is read.
    db.truncate("default", 9);
    let output = verify_since(db, &cp, &verifier, false);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 10: truncated\n");
    assert!(stderr(&output).contains("events 10..=12 were removed"), "{}", stderr(&output));
}
on_all_backends!(deleted_newest_events_are_truncation_from_the_checkpoint);

fn bad_stored_subtree_hashes_mean_reading_the_whole_chain(db: &TestDb) {
    db.record_plain("default", 100);
    let (key, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let cp = db.checkpoint(&key, ORIGIN, "cp-100");
    db.record_plain("default", 3);
    db.set_node_hash(6, 0, &"00".repeat(32));

    let output = verify_since(db, &cp, &verifier, false);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 103 events\n");
    assert!(stderr(&output).contains("the whole chain was read from seq 1"), "{}", stderr(&output));
}
on_all_backends!(bad_stored_subtree_hashes_mean_reading_the_whole_chain);

#[test]
fn since_checkpoint_needs_a_checkpoint_and_a_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trail = trail(dir.path(), 3);
    let output = run(&["verify", "--jsonl", s(&trail), "--since-checkpoint"]);
    assert_exit(&output, 2);
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", "cp", "--key", "k", "--since-checkpoint"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--since-checkpoint"), "{}", stderr(&output));
}
