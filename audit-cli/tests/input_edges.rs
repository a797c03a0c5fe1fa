//! Hostile or edge input through the `audit-trail` binary, run as a user runs it.

mod common;
use common::*;

use audit_core::{Actor, EventDraft, Outcome};

/// `query --format table` shows U+061C ARABIC LETTER MARK escaped, as the other bidirectional
/// controls: a login name `evil<U+061C>gpj.exe` reached the auditor's terminal raw.
#[test]
fn query_table_escapes_the_arabic_letter_mark() {
    let Some(db) = TestDb::open(Backend::Sqlite, "cli_alm") else { return };
    db.record(
        "default",
        vec![EventDraft::new("login_failed").actor(Actor::user("evil\u{61c}gpj.exe")).outcome(Outcome::Denied)],
    );
    let output = run(&["query", "--db", db.url(), "--format", "table"]);
    assert_exit(&output, 0);
    let shown = stdout(&output);
    assert!(shown.contains("evil"), "{shown}");
    assert!(!shown.contains('\u{61c}'), "U+061C reaches the terminal raw:\n{shown}");
}

/// `verify-proof` refuses a proof that names a member twice (exit 2): it kept the last of each,
/// so `{"seq":1,"leaf":"000…",…,"seq":2,"leaf":"<real>"}` was `valid` while a reader keeping the
/// first members (or a person reading the file) sees a proof for seq 1.
#[test]
fn verify_proof_refuses_a_proof_with_repeated_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 3);
    let key = dir.path().join("log.key");
    let keygen = run(&["keygen", "--name", "example.com/log", "--out", s(&key)]);
    assert_exit(&keygen, 0);
    let verifier = stdout(&keygen).lines().next().expect("verifier key").trim().to_string();
    let checkpoint = run(&["checkpoint", "--jsonl", s(&trail), "--origin", "example.com/log", "--key", s(&key)]);
    assert_exit(&checkpoint, 0);
    let checkpoint_file = dir.path().join("checkpoint.txt");
    std::fs::write(&checkpoint_file, &checkpoint.stdout).expect("write checkpoint");
    let proof = run(&["prove", "--jsonl", s(&trail), "--seq", "2"]);
    assert_exit(&proof, 0);
    let text = stdout(&proof);
    let doubled = format!("{{\"seq\":1,\"leaf\":\"{}\",{}", "0".repeat(64), &text.trim()[1..]);
    let proof_file = dir.path().join("proof.json");
    std::fs::write(&proof_file, &doubled).expect("write proof");
    let output =
        run(&["verify-proof", "--proof", s(&proof_file), "--checkpoint", s(&checkpoint_file), "--key", &verifier]);
    assert!(
        !stdout(&output).starts_with("valid"),
        "a proof with two \"seq\" and two \"leaf\" members is called valid:\n{doubled}\n{}",
        stdout(&output)
    );
    assert_exit(&output, 2);
}

/// `verify-proof` refuses one object holding both an inclusion proof (`seq`) and a consistency
/// proof (`size1`) (exit 2, as the independent verifier `tools/verify_trail.py` does): it checked
/// the inclusion members alone and said `valid`, exit 0, while the consistency members beside
/// them (here a `root2` no tree has) were never looked at.
#[test]
fn verify_proof_refuses_an_inclusion_and_a_consistency_proof_in_one_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 3);
    let proof = run(&["prove", "--jsonl", s(&trail), "--seq", "2"]);
    assert_exit(&proof, 0);
    let mut both: serde_json::Value = serde_json::from_slice(&proof.stdout).expect("JSON");
    let root = both["root"].clone();
    let members = both.as_object_mut().expect("an object");
    members.insert("size1".into(), 3.into());
    members.insert("size2".into(), 4.into());
    members.insert("root1".into(), root);
    members.insert("root2".into(), "0".repeat(64).into());
    let proof_file = dir.path().join("proof.json");
    std::fs::write(&proof_file, both.to_string()).expect("write proof");
    let output = run(&["verify-proof", "--proof", s(&proof_file)]);
    assert!(!stdout(&output).starts_with("valid"), "called valid:\n{both}\n{}", stdout(&output));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("holds both an inclusion proof"), "{}", stderr(&output));
}

/// MySQL/MariaDB: `query --actor alice --since 1960-01-01` finds alice's events (it found none,
/// exit 0: the bound was sent as a TIMESTAMP, NULL before 1970; see
/// audit-seaorm/tests/mysql_times.rs).
#[test]
fn mysql_query_by_actor_since_1960_finds_todays_events() {
    let Some(db) = TestDb::open(Backend::MySql, "cli_since") else { return };
    db.record_plain("default", 3);
    let all = run(&["query", "--db", db.url(), "--format", "json"]);
    assert_exit(&all, 0);
    assert_eq!(seqs(&stdout(&all)), [1, 2, 3]);
    let since = run(&["query", "--db", db.url(), "--format", "json", "--actor", "alice", "--since", "1960-01-01"]);
    let until = run(&["query", "--db", db.url(), "--format", "json", "--actor", "alice", "--until", "2050-01-01"]);
    assert_exit(&since, 0);
    assert_exit(&until, 0);
    assert_eq!(
        (seqs(&stdout(&since)), seqs(&stdout(&until))),
        (vec![1, 2, 3], vec![1, 2, 3]),
        "--since 1960-01-01 and --until 2050-01-01 must find today's events"
    );
}

/// With `?immutable=1` SQLite reads no `-wal` file, where an idle or killed application leaves
/// its newest committed events: `verify` said `valid: 2 events` for a trail of 5, without a
/// word. It now refuses such a URL while the `-wal` file is not empty (exit 2, naming it).
#[test]
fn sqlite_immutable_does_not_silently_skip_committed_events_in_the_wal() {
    let Some(db) = TestDb::open(Backend::Sqlite, "cli_immutable") else { return };
    let store = trail_with_three_events_in_the_wal(&db);
    let plain = run(&["verify", "--db", db.url()]);
    let immutable_url = format!("{}?immutable=1", db.url());
    let immutable = run(&["verify", "--db", &immutable_url]);
    drop(store);
    assert_exit(&plain, 0);
    assert_eq!(stdout(&plain), "valid: 5 events\n");
    assert_exit(&immutable, 2);
    assert!(stdout(&immutable).is_empty(), "{}", stdout(&immutable));
    assert!(
        stderr(&immutable).contains("-wal") && stderr(&immutable).contains("immutable=1"),
        "{}",
        stderr(&immutable)
    );
}

/// The same through a symbolic link to the database file (`/srv/app/audit.db` ->
/// `/data/audit.db`): SQLite names the -wal file after the link's target, and the check looked
/// for `<link>-wal`, found nothing, and let `?immutable=1` leave out the newest events.
#[test]
fn sqlite_immutable_through_a_symlink_does_not_silently_skip_the_wal() {
    let Some(db) = TestDb::open(Backend::Sqlite, "cli_immutable_link") else { return };
    let store = trail_with_three_events_in_the_wal(&db);
    let file = db
        .url()
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .expect("a path")
        .to_string();
    let links = tempfile::tempdir().expect("tempdir");
    let link = links.path().join("audit-link.db");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    let url = format!("sqlite://{}?immutable=1", link.display());
    let immutable = run(&["verify", "--db", &url]);
    let wal = std::fs::metadata(format!("{file}-wal")).map(|m| m.len()).unwrap_or(0);
    drop(store);
    assert!(wal > 0, "the -wal file should hold the three newest events");
    assert!(
        stdout(&immutable) != "valid: 2 events\n",
        "verify through a symlink with immutable=1 left out the 3 events in {file}-wal:\nstdout: {}stderr: {}",
        stdout(&immutable),
        stderr(&immutable)
    );
    assert_exit(&immutable, 2);
}

/// Two events, then three more written by an application that is still running (idle): they
/// are committed, and stay in the `-wal` file while the returned store (its pool) lives.
fn trail_with_three_events_in_the_wal(db: &TestDb) -> std::sync::Arc<audit_seaorm::SqlStore> {
    db.record_plain("default", 2);
    db.block_on(async {
        let store = std::sync::Arc::new(audit_seaorm::SqlStore::new(db.connect_async().await).expect("sqlite"));
        let auditor = audit_core::Auditor::builder(store.clone()).build();
        for i in 0..3 {
            let draft = EventDraft::new("delete").actor(Actor::user("mallory")).resource("doc", i.to_string());
            auditor.record(draft).await.expect("record");
        }
        auditor.shutdown().await;
        store
    })
}

/// A SQLite URL's path is percent-decoded, as the driver decodes the file it opens: a file
/// named `audit trail#1.db` is `sqlite://…/audit%20trail%231.db` (it was looked for undecoded,
/// "no SQLite database at …/audit%20trail%231.db"). `mode=memory` names no file.
#[test]
fn sqlite_url_paths_are_percent_decoded() {
    let Some(db) = TestDb::open(Backend::Sqlite, "cli_percent_path") else { return };
    db.record_plain("default", 3);
    let stored = db.url().trim_start_matches("sqlite://").split('?').next().expect("path").to_string();
    let renamed = db.dir().join("audit trail#1.db");
    std::fs::copy(&stored, &renamed).expect("copy the database");
    let url = format!("sqlite://{}", renamed.display()).replace(' ', "%20").replace('#', "%23");
    let output = run(&["verify", "--db", &url]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 3 events\n");

    let output = run(&["verify", "--db", &format!("sqlite://{stored}?mode=memory")]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("names no SQLite file"), "{}", stderr(&output));
}

/// A URL's scheme is case-insensitive (RFC 3986 §3.1), and `--db` takes `SQLite://PATH` as it
/// takes `Postgres://…`: it was found to name an existing file, then handed to the driver as
/// it was, which strips only a lower-case `sqlite:` and opened the whole URL as a relative
/// file name ("unable to open database file … check the path", exit 2, for a path that is
/// right).
#[test]
fn a_sqlite_url_scheme_in_capitals_opens_the_file_it_names() {
    let Some(db) = TestDb::open(Backend::Sqlite, "cli_scheme_case") else { return };
    db.record_plain("default", 3);
    let rest = db.url().strip_prefix("sqlite:").expect("a sqlite: URL");
    for scheme in ["SQLite", "SQLITE"] {
        let output = run(&["verify", "--db", &format!("{scheme}:{rest}")]);
        assert_eq!(stdout(&output), "valid: 3 events\n", "{scheme}: {}", stderr(&output));
        assert_exit(&output, 0);
    }
}
