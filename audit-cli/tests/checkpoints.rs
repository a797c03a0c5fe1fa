//! `keygen`, `checkpoint`, `verify --checkpoint`, `prove` and `verify-proof` end to end:
//! output and exit codes as SPEC §4–§6 say, and the attacks a checkpoint exists for.

use audit_core::checkpoint::Checkpoint;
use audit_core::merkle::{ConsistencyProof, InclusionProof, to_hex};
use audit_core::store::JsonlStore;
use audit_core::{Actor, Auditor, Event, EventDraft, EventHash};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const ORIGIN: &str = "audit.example.com/default";

mod common;
use common::*;

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A key pair: the private key file and the verifier key `keygen` printed.
fn keygen(dir: &Path, file: &str) -> (PathBuf, String) {
    let key = dir.join(file);
    let output = run(&["keygen", "--name", ORIGIN, "--out", s(&key)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    (key, stdout(&output).trim().to_string())
}

/// Signs a checkpoint of `trail` as it is now and keeps it in `dir/name`.
fn checkpoint(dir: &Path, trail: &Path, key: &Path, name: &str) -> PathBuf {
    let output = run(&["checkpoint", "--jsonl", s(trail), "--origin", ORIGIN, "--key", s(key)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let path = dir.join(name);
    std::fs::write(&path, output.stdout).expect("keep the checkpoint");
    path
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).expect("read").lines().map(str::to_string).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write");
}

/// Edits the event at index `at` and recomputes every later hash: the chain alone stays valid.
fn rewrite_history(path: &Path, at: usize) {
    let mut lines = lines(path);
    let mut prev =
        if at == 0 { EventHash::ZERO } else { Event::from_canonical_line(&lines[at - 1]).expect("valid").hash };
    for (i, line) in lines.iter_mut().enumerate().skip(at) {
        let mut event = Event::from_canonical_line(line).expect("valid");
        if i == at {
            event.actor = Actor::user("mallory");
        }
        event.prev = prev;
        event.hash = event.compute_hash();
        prev = event.hash;
        *line = event.to_canonical_line();
    }
    write_lines(path, &lines);
}

#[test]
fn keygen_prints_the_verifier_key_and_never_overwrites_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, verifier) = keygen(dir.path(), "log.key");
    let private = std::fs::read_to_string(&key).expect("key file");
    assert!(private.starts_with(&format!("PRIVATE+KEY+{ORIGIN}+")) && private.ends_with('\n'), "{private}");
    assert!(verifier.starts_with(&format!("{ORIGIN}+")), "{verifier}");
    let signer: audit_core::checkpoint::NoteSigner = private.trim().parse().expect("Go note form");
    assert_eq!(signer.verifier().to_string(), verifier);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("stat").permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
    }

    let output = run(&["keygen", "--name", ORIGIN, "--out", s(&key)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("refusing to overwrite"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&key).expect("key file"), private, "untouched");

    let output = run(&["keygen", "--name", "has space", "--out", s(&dir.path().join("bad.key"))]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not valid"), "{}", stderr(&output));
}

#[test]
fn a_trail_verifies_against_its_checkpoint_and_later_events_by_their_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 12);
    let (key, verifier) = keygen(dir.path(), "log.key");
    let cp = checkpoint(dir.path(), &trail, &key, "cp-12");
    let note = std::fs::read_to_string(&cp).expect("checkpoint");
    assert!(note.starts_with(&format!("{ORIGIN}\n12\n")), "{note}");
    let parsed = Checkpoint::verify(&note, &verifier.parse().expect("verifier key")).expect("signed");
    assert_eq!(parsed.size, 12);

    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "valid: 12 events\n");
    assert!(stderr(&output).contains("match checkpoint"), "{}", stderr(&output));

    // The key may also be given as a file; more events after the checkpoint are fine.
    let verifier_file = dir.path().join("log.pub");
    std::fs::write(&verifier_file, format!("{verifier}\n")).expect("write");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let auditor = Auditor::builder(Arc::new(JsonlStore::open(&trail).expect("open"))).build();
        for _ in 0..3 {
            auditor.record(EventDraft::new("login")).await.expect("record");
        }
        auditor.shutdown().await;
    });
    let output = run(&["verify", "--json", "--jsonl", s(&trail), "--checkpoint", s(&cp), "--key", s(&verifier_file)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("one JSON object");
    assert_eq!(value, serde_json::json!({"status": "valid", "verified": 15, "broken_at": null, "reason": null}));
}

#[test]
fn a_rewritten_history_passes_alone_but_not_against_an_earlier_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 12);
    let (key, verifier) = keygen(dir.path(), "log.key");
    let cp = checkpoint(dir.path(), &trail, &key, "cp-12");
    rewrite_history(&trail, 3);

    let output = run(&["verify", "--jsonl", s(&trail)]);
    assert_eq!(output.status.code(), Some(0), "the chain alone cannot tell");
    assert_eq!(stdout(&output), "valid: 12 events\n");

    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "BROKEN at seq 12: checkpoint mismatch\n");
    assert!(stderr(&output).contains(ORIGIN), "names the checkpoint: {}", stderr(&output));

    let output = run(&["verify", "--json", "--jsonl", s(&trail), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("one JSON object");
    assert_eq!(
        value,
        serde_json::json!({"status": "broken", "verified": 0, "broken_at": 12, "reason": "checkpoint mismatch"})
    );
}

#[test]
fn deleting_the_newest_events_is_reported_as_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 12);
    let (key, verifier) = keygen(dir.path(), "log.key");
    let cp = checkpoint(dir.path(), &trail, &key, "cp-12");
    let kept = lines(&trail)[..9].to_vec();
    write_lines(&trail, &kept);

    assert_eq!(run(&["verify", "--jsonl", s(&trail)]).status.code(), Some(0), "the chain alone cannot tell");
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "BROKEN at seq 10: truncated\n");
    assert!(stderr(&output).contains("events 10..=12 were removed"), "{}", stderr(&output));
    let output = run(&["verify", "--json", "--jsonl", s(&trail), "--checkpoint", s(&cp), "--key", &verifier]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("one JSON object");
    assert_eq!(value, serde_json::json!({"status": "broken", "verified": 9, "broken_at": 10, "reason": "truncated"}));
}

#[test]
fn a_checkpoint_not_signed_by_the_given_key_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 5);
    let (key, verifier) = keygen(dir.path(), "log.key");
    let (mallory_key, _) = keygen(dir.path(), "mallory.key");
    let forged = checkpoint(dir.path(), &trail, &mallory_key, "forged");

    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&forged), "--key", &verifier]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "no verdict on the trail");
    let message = stderr(&output);
    assert!(message.contains("refused") && message.contains("verifier key"), "{message}");

    // An altered checkpoint (signature no longer matches).
    let cp = checkpoint(dir.path(), &trail, &key, "cp-5");
    let altered = dir.path().join("altered");
    std::fs::write(&altered, std::fs::read_to_string(&cp).expect("read").replacen("\n5\n", "\n4\n", 1)).expect("write");
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&altered), "--key", &verifier]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("does not verify"), "{}", stderr(&output));

    // Not a checkpoint; a private key where the verifier key belongs; a missing file.
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, "hello\n").expect("write");
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&garbage), "--key", &verifier]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("malformed note"), "{}", stderr(&output));
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&cp), "--key", s(&key)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("private key"), "{}", stderr(&output));
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", "/nonexistent/cp", "--key", &verifier]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read the checkpoint /nonexistent/cp"), "{}", stderr(&output));
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&cp)]);
    assert_eq!(output.status.code(), Some(2), "--checkpoint needs --key");
}

#[test]
fn checkpoint_refuses_a_broken_chain_and_a_verifier_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 6);
    let (key, verifier) = keygen(dir.path(), "log.key");
    let verifier_file = dir.path().join("log.pub");
    std::fs::write(&verifier_file, &verifier).expect("write");
    let output = run(&["checkpoint", "--jsonl", s(&trail), "--origin", ORIGIN, "--key", s(&verifier_file)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not a private key"), "{}", stderr(&output));
    let output = run(&["checkpoint", "--jsonl", s(&trail), "--origin", "", "--key", s(&key)]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));

    let mut edited = lines(&trail);
    edited[2] = edited[2].replace("\"alice\"", "\"mallory\"");
    write_lines(&trail, &edited);
    let output = run(&["checkpoint", "--jsonl", s(&trail), "--origin", ORIGIN, "--key", s(&key)]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(refusal(&output), "BROKEN at seq 3: hash mismatch\n");
    assert!(stderr(&output).contains("refusing to sign"), "{}", stderr(&output));
}

#[test]
fn prove_prints_spec_proofs_that_verify_against_the_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 21);
    let (key, verifier) = keygen(dir.path(), "log.key");
    let cp = checkpoint(dir.path(), &trail, &key, "cp-21");
    let signed =
        Checkpoint::verify(std::fs::read(&cp).expect("read"), &verifier.parse().expect("key")).expect("signed");
    let hashes: Vec<[u8; 32]> =
        lines(&trail).iter().map(|l| *Event::from_canonical_line(l).expect("valid").hash.as_bytes()).collect();

    for (seq, size) in [(1, 21), (7, 21), (21, 21), (5, 8), (9, 9)] {
        let mut args = vec!["prove", "--jsonl", s(&trail)];
        let (seq_text, size_text) = (seq.to_string(), size.to_string());
        args.extend(["--seq", &seq_text]);
        if size != 21 {
            args.extend(["--size", &size_text]);
        }
        let output = run(&args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
        let keys: Vec<&str> = value.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6, "{value}");
        for key in ["chain", "seq", "size", "leaf", "root", "path"] {
            assert!(keys.contains(&key), "{key} in {value}");
        }
        assert_eq!(
            (value["chain"].as_str(), value["seq"].as_u64(), value["size"].as_u64()),
            (Some("default"), Some(seq), Some(size))
        );
        assert_eq!(value["leaf"], to_hex(&hashes[seq as usize - 1]), "the leaf is the event's hash");
        let proof: InclusionProof = serde_json::from_value(value).expect("SPEC §4 inclusion proof");
        proof.verify().expect("verifies");
        if size == 21 {
            assert_eq!(proof.root, signed.root, "the proof leads to the signed root");
        }
    }

    let output = run(&["prove", "--jsonl", s(&trail), "--from", "8", "--to", "21"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with(r#"{"chain":"default","size1":8,"size2":21,"root1":""#), "{text}");
    let proof: ConsistencyProof = serde_json::from_str(&text).expect("SPEC §4 consistency proof");
    proof.verify().expect("verifies");
    assert_eq!(proof.root2, signed.root);
    let output = run(&["prove", "--jsonl", s(&trail), "--from", "8"]);
    assert_eq!(
        serde_json::from_str::<ConsistencyProof>(&stdout(&output)).expect("proof"),
        proof,
        "--to defaults to all"
    );

    // verify-proof: valid against the checkpoint, refused when altered.
    let proof_file = dir.path().join("proof.json");
    let output = run(&["prove", "--jsonl", s(&trail), "--seq", "7"]);
    std::fs::write(&proof_file, &output.stdout).expect("write");
    let output = run(&["verify-proof", "--proof", s(&proof_file), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("valid: event seq 7"), "{}", stdout(&output));
    let altered = std::fs::read_to_string(&proof_file).expect("read").replace("\"seq\":7", "\"seq\":8");
    std::fs::write(&proof_file, altered).expect("write");
    let output = run(&["verify-proof", "--proof", s(&proof_file)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("INVALID proof"), "{}", stdout(&output));
}

#[test]
fn prove_refuses_what_cannot_be_proved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 10);
    let output = run(&["prove", "--jsonl", s(&trail), "--seq", "3", "--size", "11"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("at most 10"), "{}", stderr(&output));
    let output = run(&["prove", "--jsonl", s(&trail), "--seq", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("seq 0"), "{}", stderr(&output));
    let output = run(&["prove", "--jsonl", s(&trail), "--from", "0", "--to", "5"]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&["prove", "--jsonl", s(&trail), "--seq", "3", "--from", "2"]);
    assert_eq!(output.status.code(), Some(2), "one kind of proof at a time");
    let output = run(&["prove", "--jsonl", s(&trail)]);
    assert_eq!(output.status.code(), Some(2), "which proof?");
    let output = run(&["prove", "--jsonl", "/nonexistent/trail.jsonl", "--seq", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot open /nonexistent/trail.jsonl"), "{}", stderr(&output));

    let mut edited = lines(&trail);
    edited[4] = edited[4].replace("\"alice\"", "\"mallory\"");
    write_lines(&trail, &edited);
    let output = run(&["prove", "--jsonl", s(&trail), "--seq", "7"]);
    assert_eq!(output.status.code(), Some(1), "tampering found");
    assert_eq!(refusal(&output), "BROKEN at seq 5: hash mismatch\n");
}

#[test]
fn prove_refuses_a_file_that_verify_calls_broken_at_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 10);
    let good = std::fs::read(&trail).expect("read");
    let torn = [&good[..], &br#"{"action":"update","actor":{"id":"al"#[..]].concat();
    let no_final_newline = good[..good.len() - 1].to_vec();
    let garbage = [&good[..], &b"garbage"[..]].concat();
    for (what, bytes) in [("a torn line", torn), ("no final newline", no_final_newline), ("trailing garbage", garbage)]
    {
        std::fs::write(&trail, &bytes).expect("write");
        let verified = run(&["verify", "--jsonl", s(&trail)]);
        assert_exit(&verified, 1);
        let output = run(&["prove", "--jsonl", s(&trail), "--seq", "3"]);
        assert_exit(&output, 1);
        assert_eq!(refusal(&output), stdout(&verified), "{what}: prove and verify agree");
        assert!(stderr(&output).contains("refusing to prove from a broken chain"), "{what}: {}", stderr(&output));
    }
}

#[test]
fn prove_refuses_a_file_that_verify_calls_broken_where_the_store_cannot_read_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 10);
    let good = std::fs::read(&trail).expect("read");
    let starts: Vec<usize> =
        std::iter::once(0).chain(good.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1)).collect();
    // A byte that is not UTF-8 inside a string of the fifth line.
    let mut not_utf8 = good.clone();
    let fifth = &good[starts[4]..starts[5]];
    let at = starts[4] + fifth.windows(10).position(|w| w == b"\"action\":\"").expect("an action") + 10;
    not_utf8[at] = 0xff;
    // A first line in a spelling canonical JSON refuses (it fixes the numbering of the rest).
    let malformed_first = [&b"{ "[..], &good[1..]].concat();
    for (what, bytes) in [("a byte that is not UTF-8", not_utf8), ("a malformed first line", malformed_first)] {
        std::fs::write(&trail, &bytes).expect("write");
        let verified = run(&["verify", "--jsonl", s(&trail)]);
        assert_exit(&verified, 1);
        let output = run(&["prove", "--jsonl", s(&trail), "--seq", "3"]);
        assert_exit(&output, 1);
        assert_eq!(refusal(&output), stdout(&verified), "{what}: prove and verify agree");
        assert!(stderr(&output).contains("refusing to prove from a broken chain"), "{what}: {}", stderr(&output));
    }
}

#[test]
fn a_part_of_a_chain_cannot_be_checkpointed_proved_or_checked_against_a_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 10);
    let (key, verifier) = keygen(dir.path(), "log.key");
    let cp = checkpoint(dir.path(), &trail, &key, "cp-10");
    let part = dir.path().join("part.jsonl");
    write_lines(&part, &lines(&trail)[4..]);
    assert_eq!(run(&["verify", "--jsonl", s(&part)]).status.code(), Some(0), "a part verifies by itself");
    for args in [
        vec!["verify", "--jsonl", s(&part), "--checkpoint", s(&cp), "--key", &verifier],
        vec!["checkpoint", "--jsonl", s(&part), "--origin", ORIGIN, "--key", s(&key)],
        vec!["prove", "--jsonl", s(&part), "--seq", "7"],
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: not tampering, a usage error");
        assert!(stderr(&output).contains("starts at seq 5"), "{}", stderr(&output));
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn messages_name_what_was_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 10);
    let (key, verifier) = keygen(dir.path(), "log.key");

    // Key files saved by an editor that adds a UTF-8 byte order mark.
    let bom_key = dir.path().join("bom.key");
    std::fs::write(&bom_key, format!("\u{feff}{}", std::fs::read_to_string(&key).expect("key"))).expect("write");
    let cp = checkpoint(dir.path(), &trail, &bom_key, "cp-10");
    let bom_verifier = dir.path().join("bom.vkey");
    std::fs::write(&bom_verifier, format!("\u{feff}{verifier}\n")).expect("write");
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&cp), "--key", s(&bom_verifier)]);
    assert_exit(&output, 0);

    // Proofs beyond the chain name the seq, size and chain length given.
    let output = run(&["prove", "--jsonl", s(&trail), "--seq", "11"]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output)
            .contains("--seq 11 is not in the tree of the first 10 events (chain \"default\" has 10 events)"),
        "{}",
        stderr(&output)
    );
    let output = run(&["prove", "--jsonl", s(&trail), "--seq", "8", "--size", "5"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--seq 8 is not in the tree of the first 5 events"), "{}", stderr(&output));
    let output = run(&["prove", "--jsonl", s(&trail), "--from", "11"]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("--from 11 is beyond chain \"default\", which has 10 events"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("swap"), "no size2 was given: {}", stderr(&output));
    let output = run(&["prove", "--jsonl", s(&trail), "--from", "7", "--to", "5"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("swap them"), "both given: {}", stderr(&output));

    // A checkpoint of the empty log vouches for no event.
    let signer: audit_core::checkpoint::NoteSigner =
        std::fs::read_to_string(&key).expect("key").trim().parse().expect("a private key");
    let empty = Checkpoint::new(ORIGIN, 0, audit_core::merkle::CompactRange::new().root()).sign(&signer).expect("sign");
    let cp0 = dir.path().join("cp-0");
    std::fs::write(&cp0, empty).expect("write");
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&cp0), "--key", &verifier]);
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("empty log (size 0)"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("1..=0"), "{}", stderr(&output));

    // One of size 0 with another root is malformed, though validly signed: refused as bad
    // input, not taken for tampering with a chain it says nothing about.
    let bad = Checkpoint::new(ORIGIN, 0, [7u8; 32]).sign(&signer).expect("sign");
    std::fs::write(&cp0, bad).expect("write");
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&cp0), "--key", &verifier]);
    assert_exit(&output, 2);
    assert!(output.stdout.is_empty(), "no verdict: {}", stdout(&output));
    assert!(stderr(&output).contains("size 0 with a root that is not the empty tree's"), "{}", stderr(&output));
}

/// A file spliced from two chains (each line valid, seqs in order, hashes intact, but the
/// `prev` link broken where they meet): `prove` refuses it as `verify` does (it built a proof
/// from it before).
#[test]
fn prove_refuses_a_chain_whose_links_verify_calls_broken() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&a).expect("mkdir");
    std::fs::create_dir(&b).expect("mkdir");
    let (first, second) = (lines(&trail(&a, 10)), lines(&trail(&b, 10)));
    let spliced = dir.path().join("spliced.jsonl");
    write_lines(&spliced, &first[..5].iter().chain(&second[5..]).cloned().collect::<Vec<_>>());
    let verified = run(&["verify", "--jsonl", s(&spliced)]);
    assert_exit(&verified, 1);
    assert_eq!(stdout(&verified), "BROKEN at seq 6: prev mismatch\n");
    for proof in [&["--seq", "3"][..], &["--from", "2", "--to", "9"]] {
        let output = run(&[&["prove", "--jsonl", s(&spliced)][..], proof].concat());
        assert_exit(&output, 1);
        assert_eq!(refusal(&output), stdout(&verified), "{proof:?}: prove and verify agree");
        assert!(stderr(&output).contains("refusing to prove from a broken chain"), "{proof:?}: {}", stderr(&output));
    }
}
