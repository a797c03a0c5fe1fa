//! `audit-trail verify --jsonl` end to end: output and exit codes exactly as SPEC §6 says.

mod common;
use common::*;

#[test]
fn a_valid_trail_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 12);
    let output = run(&["verify", "--jsonl", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "valid: 12 events\n");

    let output = run(&["verify", "--jsonl", path.to_str().expect("utf-8 path"), "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("one JSON object");
    assert_eq!(value, serde_json::json!({"status": "valid", "verified": 12, "broken_at": null, "reason": null}));
}

#[test]
fn tampering_exits_1_and_names_the_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 12);
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    let edited = lines[6].replace("\"alice\"", "\"mallory\"");
    lines[6] = &edited;
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");

    let output = run(&["verify", "--jsonl", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "BROKEN at seq 7: hash mismatch\n");

    let output = run(&["verify", "--json", "--jsonl", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("one JSON object");
    assert_eq!(
        value,
        serde_json::json!({"status": "broken", "verified": 6, "broken_at": 7, "reason": "hash mismatch"})
    );
}

#[test]
fn a_corrupt_file_is_bad_format_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("garbage.jsonl");
    std::fs::write(&path, b"\x00\xff garbage\n{\"half\":").expect("write");
    let output = run(&["verify", "--jsonl", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "BROKEN at seq 1: bad format\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("not UTF-8"));
}

#[test]
fn a_file_without_newlines_is_bad_format_not_out_of_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("one-long-line.jsonl");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(65 << 20).expect("a sparse file of NUL bytes, longer than the longest line");
    let output = run(&["verify", "--jsonl", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout(&output), "BROKEN at seq 1: bad format\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("longer than 64 MiB"));
}

#[test]
fn errors_exit_2_with_a_message() {
    let output = run(&["verify", "--jsonl", "/nonexistent/trail.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open /nonexistent/trail.jsonl"), "{stderr}");
    assert!(output.stdout.is_empty());

    let output = run(&["verify"]);
    assert_eq!(output.status.code(), Some(2), "usage error");
    let output = run(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2), "unknown command");
    let output = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn a_part_of_a_chain_is_valid_and_says_its_first_prev_is_on_trust() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 10);
    let text = std::fs::read_to_string(&path).expect("read");
    let part: String = text.lines().skip(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, part).expect("write");
    let output = run(&["verify", "--jsonl", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "valid: 6 events\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("taken on trust"));
}

#[test]
fn an_empty_file_is_valid_alone_but_holds_no_chain_that_was_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.jsonl");
    std::fs::write(&path, b"").expect("write");
    let shown = path.to_str().expect("utf-8 path");
    let output = run(&["verify", "--jsonl", shown]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "valid: 0 events\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds no events"));

    let output = run(&["verify", "--jsonl", shown, "--chain", "prod"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is empty: it holds no events of chain \"prod\""));

    let key = dir.path().join("log.key");
    assert_eq!(
        run(&["keygen", "--name", "example.com/log", "--out", key.to_str().expect("utf-8")]).status.code(),
        Some(0)
    );
    let output =
        run(&["checkpoint", "--jsonl", shown, "--origin", "example.com/log", "--key", key.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("a checkpoint needs at least one event"));
}
