//! `audit-trail verify --db` on SQLite, PostgreSQL and MariaDB: output and exit codes as SPEC §6
//! says, and every way a stored chain can break (lines, indexed columns, the head row).

mod common;
use common::*;
use serde_json::json;

fn verify(db: &TestDb, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["verify", "--db", db.url()];
    args.extend_from_slice(extra);
    run(&args)
}

fn json_of(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output)).expect("one JSON object")
}

fn a_stored_trail_is_valid(db: &TestDb) {
    db.record_plain("default", 12);
    db.record_plain("tenant-b", 3);
    let output = verify(db, &[]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 12 events\n");
    assert!(output.stderr.is_empty(), "nothing else to say: {}", stderr(&output));

    let output = verify(db, &["--chain", "tenant-b", "--json"]);
    assert_exit(&output, 0);
    assert_eq!(json_of(&output), json!({"status": "valid", "verified": 3, "broken_at": null, "reason": null}));

    // The application still has the database open (on SQLite: WAL files present).
    let live = db.connect();
    let output = verify(db, &[]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 12 events\n");
    db.block_on(live.close()).expect("close");

    // A mistyped chain is not an empty, valid trail.
    let output = verify(db, &["--chain", "defualt"]);
    assert_exit(&output, 2);
    assert!(output.stdout.is_empty());
    let message = stderr(&output);
    assert!(message.contains("chain \"defualt\" has no events"), "{message}");
    assert!(message.contains("\"default\" (12 events)") && message.contains("\"tenant-b\" (3 events)"), "{message}");
}
on_all_backends!(a_stored_trail_is_valid);

fn an_edited_line_is_a_hash_mismatch(db: &TestDb) {
    db.record_plain("default", 5);
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET line = replace(line, '\"action\":\"update\"', '\"action\":\"delete\"') WHERE chain = ? AND seq = ?",
        vec!["default".into(), 2i64.into()],
    )]);
    let output = verify(db, &[]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 2: hash mismatch\n");
    let message = stderr(&output);
    assert!(message.contains("after 1 valid events"), "{message}");
    assert!(message.contains("also BROKEN at seq 2: column mismatch"), "the action column too: {message}");
    let output = verify(db, &["--json"]);
    assert_exit(&output, 1);
    assert_eq!(json_of(&output), json!({"status": "broken", "verified": 1, "broken_at": 2, "reason": "hash mismatch"}));
}
on_all_backends!(an_edited_line_is_a_hash_mismatch);

fn a_removed_newest_event_disagrees_with_the_head_row(db: &TestDb) {
    db.record_plain("default", 6);
    db.as_superuser(vec![
        db.statement("DELETE FROM audit_events WHERE chain = ? AND seq = ?", vec!["default".into(), 6i64.into()]),
    ]);
    let output = verify(db, &[]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 6: truncated\n");
    assert!(stderr(&output).contains("events 6..=6 are missing"), "{}", stderr(&output));
    let output = verify(db, &["--json"]);
    assert_eq!(json_of(&output), json!({"status": "broken", "verified": 5, "broken_at": 6, "reason": "truncated"}));
}
on_all_backends!(a_removed_newest_event_disagrees_with_the_head_row);

fn a_head_row_moved_off_its_event_is_a_head_mismatch(db: &TestDb) {
    db.record_plain("default", 4);
    let forged = "ab".repeat(32);
    db.as_superuser(vec![
        db.statement("UPDATE audit_chain_heads SET hash = ? WHERE chain = ?", vec![forged.into(), "default".into()]),
    ]);
    let output = verify(db, &[]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 4: head mismatch\n");
    assert!(stderr(&output).contains("head's hash does not match"), "{}", stderr(&output));
}
on_all_backends!(a_head_row_moved_off_its_event_is_a_head_mismatch);

/// A head row edited into a hash no writer stores (uppercase hex here) is tampering (exit 1,
/// `head mismatch`), not a database error (it was exit 2 with "database error", and `--json`
/// printed nothing).
fn a_malformed_head_row_is_a_head_mismatch(db: &TestDb) {
    db.record_plain("default", 4);
    let upper = "AB".repeat(32);
    db.as_superuser(vec![
        db.statement("UPDATE audit_chain_heads SET hash = ? WHERE chain = ?", vec![upper.into(), "default".into()]),
    ]);
    let output = verify(db, &[]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 4: head mismatch\n");
    assert!(stderr(&output).contains("head row is malformed"), "{}", stderr(&output));
    let output = verify(db, &["--json"]);
    assert_exit(&output, 1);
    assert_eq!(json_of(&output), json!({"status": "broken", "verified": 3, "broken_at": 4, "reason": "head mismatch"}));
}
on_all_backends!(a_malformed_head_row_is_a_head_mismatch);

/// The head row moved back over events that are still there, verified against a checkpoint
/// they are in: `head mismatch` where the head left them, not `truncated` (the events were
/// read only up to the head, and the checkpoint's were reported removed).
fn a_head_moved_back_under_a_checkpoint_is_a_head_mismatch(db: &TestDb) {
    db.record_plain("default", 5);
    let key = db.dir().join("log.key");
    let verifier = stdout(&run(&["keygen", "--name", "example.com/log", "--out", s(&key)])).trim().to_string();
    let output = run(&["checkpoint", "--db", db.url(), "--origin", "example.com/log", "--key", s(&key)]);
    assert_exit(&output, 0);
    let checkpoint = db.dir().join("cp5");
    std::fs::write(&checkpoint, &output.stdout).expect("write the checkpoint");
    db.record_plain("default", 1);
    db.move_head_back("default", 3);
    let output = verify(db, &["--checkpoint", s(&checkpoint), "--key", &verifier]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 4: head mismatch\n", "{}", stderr(&output));
    assert!(
        stderr(&output).contains("events up to seq 6 are stored but the chain head is at seq 3"),
        "{}",
        stderr(&output)
    );
}
on_all_backends!(a_head_moved_back_under_a_checkpoint_is_a_head_mismatch);

/// The same head moved back, verified against a checkpoint that does not match the chain (here
/// another chain's): the lines break at the checkpoint, and the head row's problem is still
/// named where the head left the events, never `truncated` at seq 1 (the verifier's position
/// after a checkpoint's mismatch is seq 0, and was taken for where the events end).
fn a_head_moved_back_under_a_checkpoint_that_does_not_match_is_not_a_truncation(db: &TestDb) {
    db.record_plain("default", 6);
    db.record_plain("tenant-b", 6);
    let key = db.dir().join("log.key");
    let verifier = stdout(&run(&["keygen", "--name", "example.com/log", "--out", s(&key)])).trim().to_string();
    let output =
        run(&["checkpoint", "--db", db.url(), "--chain", "tenant-b", "--origin", "example.com/log", "--key", s(&key)]);
    assert_exit(&output, 0);
    let checkpoint = db.dir().join("cp-b");
    std::fs::write(&checkpoint, &output.stdout).expect("write the checkpoint");
    db.move_head_back("default", 3);
    let output = verify(db, &["--checkpoint", s(&checkpoint), "--key", &verifier]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 4: head mismatch\n", "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("events up to seq 6 are stored but the chain head is at seq 3"), "{message}");
    assert!(message.contains("also BROKEN at seq 6: checkpoint mismatch"), "{message}");
}
on_all_backends!(a_head_moved_back_under_a_checkpoint_that_does_not_match_is_not_a_truncation);

/// SQLite: a line edited into bytes that are not UTF-8, or into a blob, is `bad format` at its
/// seq (exit 1); read as text it was a database error (exit 2).
#[test]
fn sqlite_a_line_that_is_not_text_is_bad_format() {
    let Some(db) = TestDb::open(Backend::Sqlite, "sqlite_line_not_text") else { return };
    db.record_plain("default", 5);
    db.as_superuser(vec![
        db.statement(
            "UPDATE audit_events SET line = CAST(X'7BFF7D' AS TEXT) WHERE chain = ? AND seq = ?",
            vec!["default".into(), 3i64.into()],
        ),
        db.statement(
            "UPDATE audit_events SET line = CAST(line AS BLOB) WHERE chain = ? AND seq = ?",
            vec!["default".into(), 4i64.into()],
        ),
    ]);
    let output = verify(&db, &[]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 3: bad format\n");
    assert!(!stderr(&output).contains("database error"), "{}", stderr(&output));

    // The export keeps the events before it and says where it stopped, with the same verdict
    // (it failed with exit 2, "database error", and kept nothing).
    let out = db.dir().join("export.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 3: bad format\n");
    assert!(
        stderr(&output).contains("stops before seq 3") && stderr(&output).contains("not UTF-8"),
        "{}",
        stderr(&output)
    );
    assert_eq!(seqs(&std::fs::read_to_string(&out).expect("kept")), [1, 2]);

    // Nothing is proved from it: a refusal with the verdict, not a database error.
    for args in [&["--seq", "1"][..], &["--from", "1"]] {
        let mut all = vec!["prove", "--db", db.url()];
        all.extend_from_slice(args);
        let output = run(&all);
        assert_exit(&output, 1);
        assert_eq!(refusal(&output), "BROKEN at seq 3: bad format\n", "{}", stderr(&output));
    }

    // Queries that meet it name the event and what to do.
    let output = run(&["query", "--db", db.url(), "--format", "json"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("seq 3") && stderr(&output).contains("audit-trail verify"), "{}", stderr(&output));
}

/// MySQL/MariaDB: `ts` edited to a zero date (written in a session whose `sql_mode` allows it),
/// which hides the event from queries with a start, is a column mismatch at its seq (exit 1);
/// the driver cannot decode it, and it was a database error (exit 2).
#[test]
fn mysql_a_zero_date_ts_is_a_column_mismatch() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(db) = TestDb::open(Backend::MySql, "mysql_zero_date_ts") else { return };
    db.record_plain("default", 4);
    db.block_on(async {
        let conn = db.connect_async().await;
        for trigger in ["audit_events_no_update", "audit_events_no_delete"] {
            conn.execute_unprepared(&format!("DROP TRIGGER {trigger}")).await.expect("drop a trigger");
        }
        // One connection for both: the session's mode lets the zero date in.
        let txn = conn.begin().await.expect("begin");
        txn.execute_unprepared("SET SESSION sql_mode = ''").await.expect("sql_mode");
        let changed = txn
            .execute_unprepared("UPDATE audit_events SET ts = '0000-00-00 00:00:00' WHERE seq = 3")
            .await
            .expect("tamper");
        assert_eq!(changed.rows_affected(), 1);
        txn.commit().await.expect("commit");
        audit_seaorm::SqlStore::new(conn.clone()).expect("MySQL").migrate().await.expect("triggers back");
        conn.close().await.expect("close");
    });
    let output = run(&["query", "--db", db.url(), "--since", "2000-01-01T00:00:00Z", "--format", "json"]);
    assert_exit(&output, 0);
    assert_eq!(seqs(&stdout(&output)), [1, 2, 4], "the zero date hides seq 3 from the query");
    let output = verify(&db, &[]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 3: column mismatch\n");
    assert!(stderr(&output).contains("0000-00-00 00:00:00"), "{}", stderr(&output));
}

fn a_deleted_head_row_is_a_head_mismatch_at_seq_1_and_its_events_stay_visible(db: &TestDb) {
    db.record_plain("default", 4);
    db.as_superuser(vec![db.statement("DELETE FROM audit_chain_heads WHERE chain = ?", vec!["default".into()])]);
    let output = verify(db, &[]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 1: head mismatch\n", "no event has seq 0");
    assert!(
        stderr(&output).contains("events up to seq 4 are stored but the chain head is at seq 0"),
        "{}",
        stderr(&output)
    );

    // The events are still there to query and report on.
    let output = run(&["query", "--db", db.url(), "--format", "json"]);
    assert_exit(&output, 0);
    assert_eq!(seqs(&stdout(&output)), [1, 2, 3, 4]);
    let output = run(&["report", "access", "--db", db.url(), "--resource-type", "doc", "--resource-id", "2"]);
    assert_exit(&output, 0);

    // Exported as they are, and broken as verify says.
    let out = db.dir().join("export.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 1: head mismatch\n");
    assert!(stderr(&output).contains("no chain-head row"), "{}", stderr(&output));
    assert_eq!(seqs(&std::fs::read_to_string(&out).expect("kept")), [1, 2, 3, 4]);

    // Nothing is proved from it.
    let output = run(&["prove", "--db", db.url(), "--seq", "1"]);
    assert_exit(&output, 1);
    assert_eq!(refusal(&output), "BROKEN at seq 1: head mismatch\n", "{}", stderr(&output));

    // A chain that has neither is still unknown.
    let output = run(&["query", "--db", db.url(), "--chain", "nope"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("chain \"nope\" has no events"), "{}", stderr(&output));
}
on_all_backends!(a_deleted_head_row_is_a_head_mismatch_at_seq_1_and_its_events_stay_visible);
