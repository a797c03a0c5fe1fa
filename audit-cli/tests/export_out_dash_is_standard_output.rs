//! `audit-trail export --out -` writes the export to standard output, as `-` means standard
//! input for `--jsonl`, `--checkpoint` and `--key`: `export --out - | gzip > trail.jsonl.gz`.
//! It used to write a file named `-` in the working directory and leave standard output empty,
//! while saying it had exported the events "to -".

mod common;
use common::*;
use std::process::Command;

/// The stored lines of chain "default", as an export holds them.
fn expected_export(db: &TestDb) -> String {
    db.stored_lines("default").into_iter().map(|(_, line)| line + "\n").collect()
}

/// Runs `audit-trail` with `args` in the directory `cwd`.
fn run_in(cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_audit-trail")).current_dir(cwd).args(args).output().expect("run audit-trail")
}

#[test]
fn out_dash_writes_the_export_to_standard_output() {
    let Some(db) = TestDb::open(Backend::Sqlite, "out_dash_writes_the_export") else { return };
    known_trail(&db);
    let cwd = tempfile::tempdir().expect("a working directory");
    let output = run_in(cwd.path(), &["export", "--db", db.url(), "--out", "-"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), expected_export(&db), "the events on standard output, nothing else");
    assert!(!cwd.path().join("-").exists(), "no file named `-` is written");
    assert!(stderr(&output).contains("to standard output"), "{}", stderr(&output));

    // What it wrote is a SPEC §3 export.
    let saved = cwd.path().join("saved.jsonl");
    std::fs::write(&saved, &output.stdout).expect("save the export");
    let output = run(&["verify", "--jsonl", s(&saved)]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 13 events\n");
}

/// A broken chain exported with `--out -`: the verdict goes to standard error, so that the
/// stream holds nothing but the events (SPEC §3), and the exit code is still 1.
#[test]
fn out_dash_keeps_the_verdict_of_a_broken_chain_out_of_the_export() {
    let Some(db) = TestDb::open(Backend::Sqlite, "out_dash_keeps_the_verdict") else { return };
    db.record_plain("default", 4);
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET line = replace(line, '\"id\":\"alice\"', '\"id\":\"mallory\"') WHERE chain = ? AND seq = ?",
        vec!["default".into(), 3i64.into()],
    )]);
    let cwd = tempfile::tempdir().expect("a working directory");
    let output = run_in(cwd.path(), &["export", "--db", db.url(), "--out", "-"]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), expected_export(&db), "the events, nothing else");
    assert!(stderr(&output).contains("BROKEN at seq 3: hash mismatch"), "{}", stderr(&output));
    assert!(!cwd.path().join("-").exists(), "no file named `-` is written");
}
