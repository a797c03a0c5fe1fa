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

/// Runs `audit-trail` with `args`, its standard input a pipe fed `input` (by a thread: the
/// command may stop reading early).
fn run_piped(args: &[&str], input: Vec<u8>) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_audit-trail"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run audit-trail");
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait");
    feeder.join().expect("feeder");
    output
}

#[test]
fn a_trail_read_from_a_pipe_is_verified_checkpointed_and_proved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 12);
    let bytes = std::fs::read(&path).expect("read");
    for source in ["/dev/stdin", "-"] {
        let output = run_piped(&["verify", "--jsonl", source], bytes.clone());
        assert_exit(&output, 0);
        assert_eq!(stdout(&output), "valid: 12 events\n", "{source}");
        let output = run_piped(&["verify", "--jsonl", source, "--chain", "other"], bytes.clone());
        assert_exit(&output, 2);
        assert!(stderr(&output).contains("holds chain \"default\", not \"other\""), "{}", stderr(&output));
    }

    // A FIFO (as `<(zcat trail.jsonl.gz)` gives).
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let feeder = {
        let (fifo, bytes) = (fifo.clone(), bytes.clone());
        std::thread::spawn(move || {
            let _ = std::fs::write(fifo, bytes);
        })
    };
    let output = run(&["verify", "--jsonl", s(&fifo)]);
    feeder.join().expect("feeder");
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 12 events\n");

    // A checkpoint of a piped trail, and a piped trail checked against it.
    let key = dir.path().join("log.key");
    let output = run(&["keygen", "--name", "example.com/log", "--out", s(&key)]);
    assert_exit(&output, 0);
    let verifier = stdout(&output).trim().to_string();
    let output = run_piped(
        &["checkpoint", "--jsonl", "/dev/stdin", "--origin", "example.com/log", "--key", s(&key)],
        bytes.clone(),
    );
    assert_exit(&output, 0);
    let checkpoint = dir.path().join("cp");
    std::fs::write(&checkpoint, &output.stdout).expect("write");
    let output = run_piped(
        &["verify", "--jsonl", "/dev/stdin", "--checkpoint", s(&checkpoint), "--key", &verifier],
        bytes.clone(),
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 12 events\n");

    // A proof from a piped trail.
    let output = run_piped(&["prove", "--jsonl", "/dev/stdin", "--seq", "3"], bytes.clone());
    assert_exit(&output, 0);
    let proof: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("a JSON proof");
    assert_eq!(proof["seq"], 3);
    assert_eq!(proof["size"], 12);

    // An empty pipe holds no events; a directory is not a trail.
    let output =
        run_piped(&["checkpoint", "--jsonl", "-", "--origin", "example.com/log", "--key", s(&key)], Vec::new());
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("is empty"), "{}", stderr(&output));
    let output = run(&["verify", "--jsonl", s(dir.path())]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("is a directory"), "{}", stderr(&output));
}

#[test]
fn a_trail_a_writer_is_in_the_middle_of_is_read_up_to_its_last_complete_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 5);
    let key = dir.path().join("log.key");
    assert_exit(&run(&["keygen", "--name", "example.com/log", "--out", s(&key)]), 0);
    // A writer (JsonlStore::open) is in the middle of its next line and holds the exclusive
    // lock it keeps while open.
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
    std::io::Write::write_all(&mut file, b"{\"action\":\"upd").expect("write");
    file.try_lock().expect("the writer's lock");
    let checks: [&[&str]; 3] = [
        &["verify", "--jsonl", s(&path)],
        &["prove", "--jsonl", s(&path), "--seq", "2"],
        &["checkpoint", "--jsonl", s(&path), "--origin", "example.com/log", "--key", s(&key)],
    ];
    for args in checks {
        let output = run(args);
        assert_exit(&output, 0);
        assert!(stderr(&output).contains("is being appended to"), "{args:?}: {}", stderr(&output));
    }
    assert_eq!(stdout(&run(checks[0])), "valid: 5 events\n");
    // Without a writer, the same bytes are a torn line: broken.
    file.unlock().expect("unlock");
    drop(file);
    for args in checks {
        let output = run(args);
        assert_exit(&output, 1);
        let verdict = if args[0] == "verify" { stdout(&output) } else { refusal(&output) };
        assert_eq!(verdict, "BROKEN at seq 6: bad format\n", "{args:?}");
    }
}

/// Anyone who can read a trail can lock it: a lock held over bytes that are not the start of
/// a line (an altered or garbage tail) does not make them a write in progress.
#[test]
fn a_lock_over_bytes_that_are_no_line_in_progress_hides_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 5);
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
    std::io::Write::write_all(&mut file, b"not the start of an event").expect("write");
    file.try_lock().expect("a lock");
    for args in [&["verify", "--jsonl", s(&path)][..], &["prove", "--jsonl", s(&path), "--seq", "2"]] {
        let output = run(args);
        assert_exit(&output, 1);
        let verdict = if args[0] == "verify" { stdout(&output) } else { refusal(&output) };
        assert_eq!(verdict, "BROKEN at seq 6: bad format\n", "{args:?}");
    }
}

#[test]
fn the_copy_of_a_pipe_leaves_nothing_in_tmpdir_when_killed() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let tmpdir = dir.path().join("tmp");
    std::fs::create_dir(&tmpdir).expect("mkdir");
    let path = trail(dir.path(), 3);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_audit-trail"))
        .args(["verify", "--jsonl", "-"])
        .env("TMPDIR", &tmpdir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run audit-trail");
    // Half the trail written, the pipe kept open: audit-trail is copying it.
    let mut stdin = child.stdin.take().expect("stdin");
    let bytes = std::fs::read(&path).expect("trail");
    stdin.write_all(&bytes[..bytes.len() / 2]).expect("write");
    stdin.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().expect("kill");
    child.wait().expect("wait");
    let left: Vec<_> = std::fs::read_dir(&tmpdir).expect("list").filter_map(Result::ok).map(|e| e.path()).collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");

    // And a whole trail through the pipe still verifies.
    let output = run_piped(&["verify", "--jsonl", "-"], bytes);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 3 events\n");
}

/// SPEC §3: an export may be a part of a chain, starting at any seq; SPEC §2/§6: the verifier
/// names the first seq where the chain breaks, `BROKEN at seq N: <reason>`. Here the file holds
/// events 5..=10 and event 5's line has a space added after a comma (its `seq` is still 5):
/// the break is named by that seq, not seq 1 (which is not in the file).
#[test]
fn a_bad_first_line_of_a_part_of_a_chain_is_named_by_its_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 10);
    let text = std::fs::read_to_string(&path).expect("read");
    let mut part: Vec<String> = text.lines().skip(4).map(str::to_string).collect();
    assert!(part[0].contains("\"seq\":5,"));
    part[0] = part[0].replacen(",\"actor\"", ", \"actor\"", 1);
    std::fs::write(&path, part.join("\n") + "\n").expect("write");
    let output = run(&["verify", "--jsonl", s(&path)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 5: bad format\n");
}

/// SPEC §2: `hash mismatch` = the event was altered; `prev mismatch` = an event before it was
/// removed, inserted or replaced. Here only event 7's `prev` field is edited (to event 5's
/// hash, as if 6 were gone; events 1..=6 untouched): the event at fault is 7 itself, whose
/// hash no longer recomputes.
#[test]
fn an_edited_prev_field_is_reported_as_the_event_altered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 10);
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let hash_of = |line: &str| {
        let at = line.find("\"hash\":\"").expect("hash") + 8;
        line[at..at + 64].to_string()
    };
    let hash_of_5 = hash_of(&lines[4]);
    let at = lines[6].find("\"prev\":\"").expect("prev") + 8;
    lines[6].replace_range(at..at + 64, &hash_of_5);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let output = run(&["verify", "--jsonl", s(&path)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 7: hash mismatch\n");
}

/// `-` (standard input) for both the trail and the checkpoint is a usage error: the checkpoint
/// was read first and took all of it, the trail read nothing, and an intact trail was reported
/// as every event removed (exit 1). The same for `verify-proof --proof - --checkpoint -` and
/// `checkpoint --jsonl - --key -`.
#[test]
fn standard_input_for_two_inputs_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 5);
    let key = dir.path().join("log.key");
    let verifier = stdout(&run(&["keygen", "--name", "example.com/log", "--out", s(&key)])).trim().to_string();
    let output = run(&["checkpoint", "--jsonl", s(&path), "--origin", "example.com/log", "--key", s(&key)]);
    assert_exit(&output, 0);
    let note = output.stdout;
    for args in [
        vec!["verify", "--jsonl", "-", "--checkpoint", "-", "--key", &verifier],
        vec!["verify-proof", "--proof", "-", "--checkpoint", "-", "--key", &verifier],
    ] {
        let output = run_piped(&args, note.clone());
        assert_exit(&output, 2);
        let message = stderr(&output);
        assert!(message.contains("can be read only once") && message.contains("--checkpoint"), "{args:?}: {message}");
        assert!(output.stdout.is_empty(), "{}", stdout(&output));
    }
    // `checkpoint --jsonl - --key -`: the key read first took it all (the error named a key).
    let output = run_piped(&["checkpoint", "--jsonl", "-", "--origin", "example.com/log", "--key", "-"], note.clone());
    assert_exit(&output, 2);
    let message = stderr(&output);
    assert!(message.contains("can be read only once") && message.contains("--key"), "{message}");
    // One of them from standard input is fine.
    let checkpoint = dir.path().join("cp");
    std::fs::write(&checkpoint, &note).expect("write the checkpoint");
    let output = run_piped(
        &["verify", "--jsonl", "-", "--checkpoint", s(&checkpoint), "--key", &verifier],
        std::fs::read(&path).expect("read"),
    );
    assert_exit(&output, 0);
}
