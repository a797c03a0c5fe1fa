//! `verify --checkpoint` with a checkpoint whose origin ends in another chain's name (SPEC §5's
//! example origin, `audit.example.com/default`, ends in its chain's): the verdict stays what
//! SPEC §6 says (broken, exit 1), and a note says the break may only mean that the checkpoint
//! is another chain's, so that a checkpoint taken from the wrong folder is not read as
//! tampering alone. No note when the origin names this chain, or when the trail is valid.

mod common;

use common::{Backend, TestDb, run, s, stderr, stdout, trail};
use std::path::{Path, PathBuf};

const NOTE: &str = "if it is another chain's checkpoint, this break says nothing about chain \"default\"";

/// `keygen` in `dir`: the private key file and the verifier key.
fn keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("log.key");
    let output = run(&["keygen", "--name", "audit.example.com", "--out", s(&key)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    (key, stdout(&output).trim().to_string())
}

/// A checkpoint of `trail` under `origin`, kept in `dir/name`.
fn checkpoint(dir: &Path, trail: &Path, key: &Path, origin: &str, name: &str) -> PathBuf {
    let output = run(&["checkpoint", "--jsonl", s(trail), "--origin", origin, "--key", s(key)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let path = dir.join(name);
    std::fs::write(&path, output.stdout).expect("keep the checkpoint");
    path
}

/// Two trails of chain `default` (their events differ: ids and times), in directories of their
/// own, and a key.
fn setup(dir: &Path, events: (usize, usize)) -> (PathBuf, PathBuf, PathBuf, String) {
    let (one, other) = (dir.join("one"), dir.join("other"));
    std::fs::create_dir_all(&one).expect("mkdir");
    std::fs::create_dir_all(&other).expect("mkdir");
    let (key, verifier) = keygen(dir);
    (trail(&one, events.0), trail(&other, events.1), key, verifier)
}

fn verify(trail: &Path, checkpoint: &Path, verifier: &str) -> std::process::Output {
    run(&["verify", "--jsonl", s(trail), "--checkpoint", s(checkpoint), "--key", verifier])
}

#[test]
fn a_mismatch_against_a_checkpoint_naming_another_chain_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trail, other_trail, key, verifier) = setup(dir.path(), (3, 3));
    let theirs = checkpoint(dir.path(), &other_trail, &key, "audit.example.com/billing", "cp-billing");

    let output = verify(&trail, &theirs, &verifier);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "BROKEN at seq 3: checkpoint mismatch");
    let notes = stderr(&output);
    assert!(notes.contains("names chain \"billing\"") && notes.contains(NOTE), "{notes}");
}

#[test]
fn a_truncation_against_a_longer_checkpoint_naming_another_chain_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trail, other_trail, key, verifier) = setup(dir.path(), (3, 5));
    let theirs = checkpoint(dir.path(), &other_trail, &key, "audit.example.com/billing", "cp-billing");

    let output = verify(&trail, &theirs, &verifier);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "BROKEN at seq 4: truncated");
    assert!(stderr(&output).contains(NOTE), "{}", stderr(&output));
}

#[test]
fn no_note_when_the_origin_names_this_chain_or_nothing_broke() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trail, other_trail, key, verifier) = setup(dir.path(), (3, 3));

    // Its own chain's name: a mismatch is the checkpoint's plain verdict.
    let same_name = checkpoint(dir.path(), &other_trail, &key, "audit.example.com/default", "cp-default");
    let output = verify(&trail, &same_name, &verifier);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!stderr(&output).contains("another chain"), "{}", stderr(&output));

    // Another chain's name on a checkpoint the trail matches: valid, nothing to explain.
    let matching = checkpoint(dir.path(), &trail, &key, "audit.example.com/billing", "cp-matching");
    let output = verify(&trail, &matching, &verifier);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "valid: 3 events");
    assert!(!stderr(&output).contains("another chain"), "{}", stderr(&output));

    // An origin without a `/`: no chain name to compare.
    let bare = checkpoint(dir.path(), &other_trail, &key, "audit.example.com", "cp-bare");
    let output = verify(&trail, &bare, &verifier);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!stderr(&output).contains("another chain"), "{}", stderr(&output));
}

/// A database of per-tenant chains, verified with a checkpoint of the wrong tenant's chain:
/// the chain verified comes from `--chain`.
#[test]
fn a_stored_chain_against_another_tenants_checkpoint_says_so() {
    let Some(db) = TestDb::open(Backend::Sqlite, "checkpoint_of_another_tenants_chain") else { return };
    db.record_plain("tenant-a", 3);
    db.record_plain("tenant-b", 3);
    let (key, verifier) = keygen(db.dir());
    let output = run(&[
        "checkpoint",
        "--db",
        db.url(),
        "--chain",
        "tenant-b",
        "--origin",
        "audit.example.com/tenant-b",
        "--key",
        s(&key),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let tenant_b = db.dir().join("cp-tenant-b");
    std::fs::write(&tenant_b, output.stdout).expect("keep the checkpoint");

    let verify = |chain: &str| {
        run(&["verify", "--db", db.url(), "--chain", chain, "--checkpoint", s(&tenant_b), "--key", &verifier])
    };
    let output = verify("tenant-a");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "BROKEN at seq 3: checkpoint mismatch");
    let notes = stderr(&output);
    assert!(
        notes.contains("names chain \"tenant-b\"")
            && notes.contains("this break says nothing about chain \"tenant-a\""),
        "{notes}"
    );

    let output = verify("tenant-b");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("another chain"), "{}", stderr(&output));
}
