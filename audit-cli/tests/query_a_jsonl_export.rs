//! `audit-trail query --jsonl FILE`: the auditors' questions asked of a JSON Lines export
//! (SPEC §3), as issue 5 asks of every command ("against SQLite, PostgreSQL and MySQL URLs and
//! JSONL files"), and as `query --db trail.jsonl` advises (it said "for a JSON Lines export use
//! --jsonl FILE"). `query` used to take only `--db`, so following that advice was a usage error.
//! (The advice now names the commands that take `--jsonl`; `report` and `export` do not.)

mod common;
use common::*;

/// Exports chain "default" of the known trail to a file, and returns the file and its lines.
fn exported(db: &TestDb) -> (std::path::PathBuf, Vec<(u64, String)>) {
    known_trail(db);
    let out = db.dir().join("default.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 0);
    (out, db.stored_lines("default"))
}

/// The seqs a JSON query of `file` returns, after checking that each line is the stored one.
fn found(file: &std::path::Path, stored: &[(u64, String)], args: &[&str]) -> Vec<u64> {
    let mut all = vec!["query", "--jsonl", s(file), "--format", "json"];
    all.extend_from_slice(args);
    let output = run(&all);
    assert_exit(&output, 0);
    let text = stdout(&output);
    for line in text.lines() {
        assert!(stored.iter().any(|(_, stored)| stored == line), "a stored canonical line, byte for byte: {line}");
    }
    seqs(&text)
}

#[test]
fn a_jsonl_export_answers_the_same_questions_as_its_database() {
    let Some(db) = TestDb::open(Backend::Sqlite, "a_jsonl_export_answers") else { return };
    let (file, stored) = exported(&db);
    let everything: Vec<u64> = (1..=13).collect();
    assert_eq!(found(&file, &stored, &[]), everything);
    assert_eq!(found(&file, &stored, &["--actor", "bob"]), [2, 4, 5, 13]);
    assert_eq!(
        found(&file, &stored, &["--resource-type", "users", "--resource-id", "42", "--action", "read"]),
        [6, 12]
    );
    assert_eq!(found(&file, &stored, &["--outcome", "denied"]), [5]);
    assert_eq!(found(&file, &stored, &["--request-id", "req-1"]), [1]);
    // February, written with an offset: at or after its first midnight UTC, before March's.
    assert_eq!(
        found(&file, &stored, &["--since", "2026-02-01T01:00:00+01:00", "--until", "2026-03-01"]),
        [5, 6, 7, 8, 9, 10]
    );
    assert_eq!(found(&file, &stored, &["--chain", "default", "--actor", "alice"]), [1, 11]);
    // Paged through the store's cursor: every match, in order, whatever the page.
    assert_eq!(found(&file, &stored, &["--limit", "0"]), everything);

    // --limit says when more match.
    let output = run(&["query", "--jsonl", s(&file), "--format", "json", "--limit", "2"]);
    assert_exit(&output, 0);
    assert_eq!(seqs(&stdout(&output)), [1, 2]);
    assert!(stderr(&output).contains("more match"), "{}", stderr(&output));

    // CSV from the file, as from the database.
    let output = run(&["query", "--jsonl", s(&file), "--format", "csv", "--actor", "root"]);
    assert_exit(&output, 0);
    let from_db = run(&["query", "--db", db.url(), "--chain", "default", "--format", "csv", "--actor", "root"]);
    assert_exit(&from_db, 0);
    assert_eq!(stdout(&output), stdout(&from_db));
}

#[test]
fn a_jsonl_export_of_another_chain_or_a_bad_source_is_refused() {
    let Some(db) = TestDb::open(Backend::Sqlite, "a_jsonl_export_of_another_chain") else { return };
    let (file, _) = exported(&db);
    // A mistyped --chain must not read as "no matching events".
    let output = run(&["query", "--jsonl", s(&file), "--chain", "tenant-b"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("holds chain \"default\", not \"tenant-b\""), "{}", stderr(&output));
    // One source, not two.
    let output = run(&["query", "--jsonl", s(&file), "--db", db.url()]);
    assert_exit(&output, 2);
    // A missing file is named.
    let missing = db.dir().join("missing.jsonl");
    let output = run(&["query", "--jsonl", s(&missing)]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("missing.jsonl"), "{}", stderr(&output));
}
