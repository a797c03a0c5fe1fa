//! A database superuser against `audit-trail verify --since-checkpoint`: every row it reads
//! (the checkpoint's last event and those after it, the chain-head row, the stored Merkle
//! subtree hashes) is rewritten, and the verdict must be the one a verification from seq 1
//! gives, at the same seq. Where a row it reads is malformed (the head row, a subtree hash)
//! that is a finding or a reason to read the whole chain, never a failure to verify (exit 2).
//!
//! What it does not see, by design, and says so: the rows of the events before the checkpoint
//! (lines, columns, rows removed), which it does not read.

mod common;
use common::*;
use sea_orm::sea_query::Value;
use std::path::{Path, PathBuf};

const ORIGIN: &str = "audit.example.com/default";

/// Records `n` plain events on chain "default", signs a checkpoint of them, then records
/// `more`: the checkpoint's path and verifier key.
fn checkpointed(db: &TestDb, n: usize, more: usize) -> (PathBuf, String) {
    db.record_plain("default", n);
    let (key, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let cp = db.checkpoint(&key, ORIGIN, "cp");
    if more > 0 {
        db.record_plain("default", more);
    }
    (cp, verifier)
}

fn verify(db: &TestDb, cp: &Path, verifier: &str, since: bool) -> std::process::Output {
    let mut args = vec!["verify", "--db", db.url(), "--checkpoint", s(cp), "--key", verifier];
    if since {
        args.push("--since-checkpoint");
    }
    run(&args)
}

/// Both verifications give `expected` on stdout with exit code `code`; returns the stderr of
/// the one from the checkpoint.
fn both_say(db: &TestDb, cp: &Path, verifier: &str, code: i32, expected: &str) -> String {
    let full = verify(db, cp, verifier, false);
    assert_exit(&full, code);
    assert_eq!(stdout(&full), expected, "from seq 1: {}", stderr(&full));
    let since = verify(db, cp, verifier, true);
    assert_exit(&since, code);
    assert_eq!(stdout(&since), expected, "from the checkpoint: {}", stderr(&since));
    stderr(&since)
}

/// Both verifications find the trail valid: `full` events from seq 1, `since` from the
/// checkpoint's last one.
fn both_valid(db: &TestDb, cp: &Path, verifier: &str, full: u64, since: u64) {
    let output = verify(db, cp, verifier, false);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("valid: {full} events\n"), "from seq 1: {}", stderr(&output));
    let output = verify(db, cp, verifier, true);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("valid: {since} events\n"), "from the checkpoint: {}", stderr(&output));
}

fn line_at(db: &TestDb, seq: u64) -> String {
    db.stored_lines("default").into_iter().find(|(s, _)| *s == seq).expect("the event").1
}

fn set_line(db: &TestDb, seq: u64, line: String) -> sea_orm::Statement {
    let seq = i64::try_from(seq).expect("seq");
    db.statement(
        "UPDATE audit_events SET line = ? WHERE chain = ? AND seq = ?",
        vec![line.into(), "default".into(), seq.into()],
    )
}

/// The row at the checkpoint's size is the first one read: an edited line there that claims
/// another seq breaks the chain at the checkpoint's size, as from seq 1 (not at the seq the
/// line claims).
fn the_checkpoints_last_row_is_checked_where_it_stands(db: &TestDb) {
    let (cp, verifier) = checkpointed(db, 150, 5);
    let genuine = line_at(db, 150);
    assert!(genuine.contains("\"seq\":150,"), "{genuine}");

    // Edited (its hash no longer matches) to claim seq 3.
    db.as_superuser(vec![set_line(db, 150, genuine.replacen("\"seq\":150,", "\"seq\":3,", 1))]);
    let message = both_say(db, &cp, &verifier, 1, "BROKEN at seq 150: hash mismatch\n");
    assert!(message.contains("after 0 valid events"), "{message}");
    assert!(message.contains("--since-checkpoint: no event was verified"), "{message}");

    // The next event's line (a valid event, of seq 151) there instead: a gap at 150.
    db.as_superuser(vec![set_line(db, 150, line_at(db, 151))]);
    both_say(db, &cp, &verifier, 1, "BROKEN at seq 150: seq gap\n");

    // The genuine line back, behind a superuser's back too: valid again.
    db.as_superuser(vec![set_line(db, 150, genuine)]);
    both_valid(db, &cp, &verifier, 155, 6);
}
on_all_backends!(the_checkpoints_last_row_is_checked_where_it_stands);

/// A head row edited into something no writer stores is a finding of the verification from
/// seq 1 (exit 1); from the checkpoint it is the same finding, not a database error (exit 2).
fn a_malformed_head_row_is_a_finding_from_the_checkpoint_too(db: &TestDb) {
    let (cp, verifier) = checkpointed(db, 20, 3);
    db.as_superuser(vec![db.statement(
        "UPDATE audit_chain_heads SET hash = ? WHERE chain = ?",
        vec!["not a hash".into(), "default".into()],
    )]);
    let full = verify(db, &cp, &verifier, false);
    assert_exit(&full, 1);
    let since = verify(db, &cp, &verifier, true);
    assert_exit(&since, 1);
    assert_eq!(stdout(&since), stdout(&full), "from the checkpoint: {}", stderr(&since));
    assert!(stdout(&since).starts_with("BROKEN at seq "), "{}", stdout(&since));
}
on_all_backends!(a_malformed_head_row_is_a_finding_from_the_checkpoint_too);

/// A subtree hash row that holds no hash cannot give the frontier: the whole chain is read, as
/// for a wrong hash, and it is valid (the table is no part of the chain).
fn a_malformed_subtree_hash_means_reading_the_whole_chain(db: &TestDb) {
    let (cp, verifier) = checkpointed(db, 100, 3);
    db.set_node_hash(6, 0, "not a hash");
    let since = verify(db, &cp, &verifier, true);
    assert_exit(&since, 0);
    assert_eq!(stdout(&since), "valid: 103 events\n", "{}", stderr(&since));
    assert!(stderr(&since).contains("the whole chain was read from seq 1"), "{}", stderr(&since));
}
on_all_backends!(a_malformed_subtree_hash_means_reading_the_whole_chain);

/// History rewritten at or before the checkpoint (every later hash, the columns and the head
/// recomputed): a checkpoint mismatch from the checkpoint as from seq 1, and the note does not
/// claim that the stored subtree hashes gave the checkpoint's root.
fn a_rewrite_is_a_mismatch_and_the_note_does_not_vouch(db: &TestDb) {
    let (cp, verifier) = checkpointed(db, 150, 5);
    db.rewrite_history("default", 150, "mallory");
    let message = both_say(db, &cp, &verifier, 1, "BROKEN at seq 150: checkpoint mismatch\n");
    assert!(message.contains("after 0 valid events"), "{message}");
    assert!(!message.contains("vouched for"), "nothing is vouched for: {message}");
    assert!(message.contains("do not give its root"), "{message}");

    db.rewrite_history("default", 70, "mallory");
    let message = both_say(db, &cp, &verifier, 1, "BROKEN at seq 150: checkpoint mismatch\n");
    assert!(!message.contains("vouched for"), "nothing is vouched for: {message}");
}
on_all_backends!(a_rewrite_is_a_mismatch_and_the_note_does_not_vouch);

/// Rows of another chain moved into this one after the checkpoint (and its head row with
/// them): the lines say which chain they belong to.
fn another_chains_rows_after_the_checkpoint_are_caught(db: &TestDb) {
    let (cp, verifier) = checkpointed(db, 20, 3);
    db.record_plain("other", 23);
    let other = db.stored_lines("other");
    let head = audit_core::Event::from_canonical_line(&other[22].1).expect("an event").hash;
    db.as_superuser(vec![
        db.statement("DELETE FROM audit_events WHERE chain = ? AND seq > ?", vec!["default".into(), 20i64.into()]),
        db.statement(
            "UPDATE audit_events SET chain = ? WHERE chain = ? AND seq > ?",
            vec!["default".into(), "other".into(), 20i64.into()],
        ),
        db.statement(
            "UPDATE audit_chain_heads SET hash = ? WHERE chain = ?",
            vec![head.to_string().into(), "default".into()],
        ),
    ]);
    both_say(db, &cp, &verifier, 1, "BROKEN at seq 21: bad format\n");
}
on_all_backends!(another_chains_rows_after_the_checkpoint_are_caught);

/// A checkpoint of one event (its prev must be 64 zeros), and one of the whole chain (one event
/// read): each edit of the rows they read is found, as from seq 1.
fn checkpoints_of_one_event_and_of_the_whole_chain(db: &TestDb) {
    let (cp, verifier) = checkpointed(db, 1, 4);
    both_valid(db, &cp, &verifier, 5, 5);
    let first = line_at(db, 1);
    db.as_superuser(vec![set_line(db, 1, first.replacen("alice", "mallory", 1))]);
    both_say(db, &cp, &verifier, 1, "BROKEN at seq 1: hash mismatch\n");
    db.as_superuser(vec![set_line(db, 1, first)]);

    let output = run(&["checkpoint", "--db", db.url(), "--origin", ORIGIN, "--key", s(&db.dir().join("log.key"))]);
    assert_exit(&output, 0);
    std::fs::write(&cp, &output.stdout).expect("a checkpoint of all 5");
    both_valid(db, &cp, &verifier, 5, 1);
    db.rewrite_history("default", 5, "mallory");
    both_say(db, &cp, &verifier, 1, "BROKEN at seq 5: checkpoint mismatch\n");
    // The head moved back off the checkpoint's last event, which is still stored.
    db.move_head_back("default", 4);
    let full = verify(db, &cp, &verifier, false);
    assert_exit(&full, 1);
    let since = verify(db, &cp, &verifier, true);
    assert_exit(&since, 1);
    assert_eq!(stdout(&since), stdout(&full), "{}", stderr(&since));
}
on_all_backends!(checkpoints_of_one_event_and_of_the_whole_chain);

/// What it does not read: the events before the checkpoint. A line edited and a row deleted
/// among them are found from seq 1 only (the stored subtree hashes of events 1..=128 are
/// checked against each other, not against those events); the note says so.
fn the_events_before_the_checkpoint_are_not_read(db: &TestDb) {
    let (cp, verifier) = checkpointed(db, 129, 20);
    let fifth = line_at(db, 5);
    db.as_superuser(vec![
        set_line(db, 5, fifth.replacen("alice", "mallory", 1)),
        db.statement("DELETE FROM audit_events WHERE chain = ? AND seq = ?", vec!["default".into(), 6i64.into()]),
    ]);
    let full = verify(db, &cp, &verifier, false);
    assert_exit(&full, 1);
    assert_eq!(stdout(&full), "BROKEN at seq 5: hash mismatch\n");
    let since = verify(db, &cp, &verifier, true);
    assert_exit(&since, 0);
    assert_eq!(stdout(&since), "valid: 21 events\n");
    let message = stderr(&since);
    assert!(
        message.contains("events 1..=128 is the one checkpoint") && message.contains("their rows were not read"),
        "{message}"
    );
    assert!(message.contains("verify without --since-checkpoint"), "{message}");
}
on_all_backends!(the_events_before_the_checkpoint_are_not_read);

/// PostgreSQL with monthly partitions: the key is `(chain, seq, ts)`, so a second row can stand
/// at the checkpoint's seq (or at the head's). Every row read from there is verified.
#[test]
fn postgres_a_second_row_at_the_checkpoints_seq_breaks_the_chain() {
    let Some(db) = TestDb::open(Backend::Postgres, "since_cp_dup_seq") else { return };
    let record = |n: usize| {
        db.block_on(async {
            let store = audit_seaorm::SqlStore::new(db.connect_async().await).expect("PostgreSQL");
            let store = std::sync::Arc::new(store.with_monthly_partitions(2));
            store.migrate().await.expect("migrate partitioned");
            let auditor = audit_core::Auditor::builder(store.clone()).build();
            for i in 0..n {
                let draft = audit_core::EventDraft::new("update").resource("doc", i.to_string());
                auditor.record(draft).await.expect("record");
            }
            auditor.shutdown().await;
            store.connection().clone().close().await.expect("close");
        });
    };
    record(20);
    let (key, verifier) = keygen(db.dir(), "log.key", ORIGIN);
    let cp = db.checkpoint(&key, ORIGIN, "cp");
    record(3);
    let second_row = |seq: i64, line: Value| {
        db.statement(
            "INSERT INTO audit_events SELECT chain, seq, id, ts + interval '1 microsecond', actor_id, actor_kind, \
             action, resource_type, resource_id, outcome, request_id, tags, COALESCE(?, line) FROM audit_events \
             WHERE chain = 'default' AND seq = ?",
            vec![line, seq.into()],
        )
    };
    // The same line twice at seq 20: the second one stands where seq 21 belongs.
    db.as_superuser(vec![second_row(20, Value::String(None))]);
    // (Its ts column is a microsecond later than its line's: a column mismatch at seq 20 first.)
    let message = both_say(&db, &cp, &verifier, 1, "BROKEN at seq 20: column mismatch\n");
    assert!(message.contains("also BROKEN at seq 21: seq out of order"), "{message}");
    db.as_superuser(vec![db.statement(
        "DELETE FROM audit_events WHERE chain = 'default' AND seq = ? AND ts > (SELECT MIN(ts) FROM audit_events \
         WHERE chain = 'default' AND seq = ?)",
        vec![20i64.into(), 20i64.into()],
    )]);
    both_valid(&db, &cp, &verifier, 23, 4);
}
