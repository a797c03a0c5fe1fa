//! `audit-trail export --db`: SPEC §3 exactly (the stored lines, byte for byte, in seq order),
//! verifiable with `verify --jsonl`; `--since` gives a part whose first prev is on trust; a
//! failed export leaves no file under the final name.

mod common;
use common::*;

/// The stored lines of `chain` from `seq` on, as an export holds them.
fn expected_export(db: &TestDb, chain: &str, from: u64) -> String {
    db.stored_lines(chain).into_iter().filter(|(seq, _)| *seq >= from).map(|(_, line)| line + "\n").collect()
}

fn an_export_is_the_stored_lines_and_verifies(db: &TestDb) {
    known_trail(db);
    let out = db.dir().join("default.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 0);
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
    assert!(stderr(&output).contains("exported 13 events of chain \"default\" (seq 1..=13)"), "{}", stderr(&output));
    let exported = std::fs::read_to_string(&out).expect("the export");
    assert_eq!(exported, expected_export(db, "default", 1), "byte for byte, seq order, \\n-terminated");
    assert!(exported.contains("\\u001b[31m"), "the tricky actor stays escaped in canonical JSON");

    let output = run(&["verify", "--jsonl", s(&out)]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 13 events\n");

    let other = db.dir().join("tenant-b.jsonl");
    let output = run(&["export", "--db", db.url(), "--chain", "tenant-b", "--out", s(&other)]);
    assert_exit(&output, 0);
    assert_eq!(std::fs::read_to_string(&other).expect("export"), expected_export(db, "tenant-b", 1));
    let output = run(&["verify", "--jsonl", s(&other), "--chain", "tenant-b"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 2 events\n");
    let output = run(&["verify", "--jsonl", s(&other), "--chain", "default"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("holds chain \"tenant-b\", not \"default\""), "{}", stderr(&output));

    // An existing file is replaced by the complete export.
    std::fs::write(&out, "old\n").expect("write");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 0);
    assert_eq!(std::fs::read_to_string(&out).expect("export"), expected_export(db, "default", 1));
}
on_all_backends!(an_export_is_the_stored_lines_and_verifies);

fn since_exports_a_part_whose_first_prev_is_on_trust(db: &TestDb) {
    known_trail(db);
    let part = db.dir().join("since-feb.jsonl");
    // February 1st, midnight UTC, written with an offset: seq 5 is the first event of February.
    let output = run(&["export", "--db", db.url(), "--since", "2026-02-01T01:00:00+01:00", "--out", s(&part)]);
    assert_exit(&output, 0);
    let message = stderr(&output);
    assert!(message.contains("exported 9 events of chain \"default\" (seq 5..=13)"), "{message}");
    assert!(message.contains("taken on trust"), "{message}");
    assert_eq!(std::fs::read_to_string(&part).expect("export"), expected_export(db, "default", 5));

    let output = run(&["verify", "--jsonl", s(&part)]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 9 events\n");
    assert!(stderr(&output).contains("starting at seq 5; its first prev"), "{}", stderr(&output));

    // A date means midnight UTC; after the last event, the export is empty (and valid).
    let output = run(&["export", "--db", db.url(), "--since", "2026-03-01", "--out", s(&part)]);
    assert_exit(&output, 0);
    assert_eq!(seqs(&std::fs::read_to_string(&part).expect("export")), [11, 12, 13]);
    let output = run(&["export", "--db", db.url(), "--since", "2027-01-01T00:00:00Z", "--out", s(&part)]);
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("no events at or after 2027-01-01T00:00:00.000000Z"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&part).expect("export"), "");
}
on_all_backends!(since_exports_a_part_whose_first_prev_is_on_trust);

fn a_failed_export_leaves_no_file(db: &TestDb) {
    db.record_plain("default", 3);
    let out = db.dir().join("export.jsonl");
    std::fs::write(&out, "an earlier export\n").expect("write");
    let leftovers = || {
        std::fs::read_dir(db.dir())
            .expect("list")
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".partial"))
            .count()
    };

    // An unknown chain: nothing is written.
    let output = run(&["export", "--db", db.url(), "--chain", "nope", "--out", s(&out)]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("chain \"nope\" has no events"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "an earlier export\n", "untouched");
    assert_eq!(leftovers(), 0);

    // A directory that does not exist.
    let missing = db.dir().join("no/such/dir/export.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&missing)]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("cannot create a file in"), "{}", stderr(&output));
    assert!(!missing.exists());
    assert_eq!(leftovers(), 0);

    // A write that fails part way (the file size limit, `EFBIG`, under `prlimit` with
    // `SIGXFSZ` ignored; above the 32 KiB of SQLite's shared-memory file, below the export):
    // the earlier export stays, and the partial one is removed.
    db.record_plain("default", 400);
    let output = std::process::Command::new("bash")
        .args(["-c", "trap '' XFSZ; exec prlimit --fsize=65536 -- \"$0\" export --db \"$1\" --out \"$2\""])
        .arg(env!("CARGO_BIN_EXE_audit-trail"))
        .arg(db.url())
        .arg(&out)
        .output()
        .expect("run bash (and prlimit, from util-linux)");
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("File too large"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "an earlier export\n", "untouched");
    assert_eq!(leftovers(), 0, "the partial export is removed");
}
on_all_backends!(a_failed_export_leaves_no_file);

fn a_broken_chain_is_exported_as_it_is_and_exits_1(db: &TestDb) {
    db.record_plain("default", 4);
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET line = replace(line, '\"id\":\"alice\"', '\"id\":\"mallory\"') WHERE chain = ? AND seq = ?",
        vec!["default".into(), 3i64.into()],
    )]);
    let out = db.dir().join("broken.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 3: hash mismatch\n");
    assert!(stderr(&output).contains("the export is kept"), "{}", stderr(&output));
    let exported = std::fs::read_to_string(&out).expect("kept");
    assert_eq!(exported, expected_export(db, "default", 1), "exactly what the database holds");
    assert!(exported.contains("mallory"));
}
on_all_backends!(a_broken_chain_is_exported_as_it_is_and_exits_1);

/// A broken chain exported to standard output (`--out /dev/stdout | gzip`): the verdict goes to
/// standard error, so that the stream holds nothing but the events (SPEC §3).
#[test]
fn a_broken_chain_exported_to_stdout_keeps_its_verdict_out_of_the_export() {
    let Some(db) = TestDb::open(Backend::Sqlite, "a_broken_chain_exported_to_stdout") else { return };
    db.record_plain("default", 4);
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET line = replace(line, '\"id\":\"alice\"', '\"id\":\"mallory\"') WHERE chain = ? AND seq = ?",
        vec!["default".into(), 3i64.into()],
    )]);
    let output = run(&["export", "--db", db.url(), "--out", "/dev/stdout"]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), expected_export(&db, "default", 1), "the events, nothing else");
    assert!(stderr(&output).contains("BROKEN at seq 3: hash mismatch"), "{}", stderr(&output));
}

fn an_export_missing_the_newest_events_exits_1(db: &TestDb) {
    // The newest events deleted behind the store's back, the chain-head row left at seq 12:
    // the exported lines are a valid chain, but not the whole trail.
    db.record_plain("default", 12);
    db.as_superuser(vec![
        db.statement("DELETE FROM audit_events WHERE chain = ? AND seq > ?", vec!["default".into(), 9i64.into()]),
    ]);
    let out = db.dir().join("short.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 10: truncated\n");
    assert!(stderr(&output).contains("the chain-head row is at seq 12"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&out).expect("kept"), expected_export(db, "default", 1));

    let output = run(&["verify", "--db", db.url()]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 10: truncated\n", "export and verify agree");
}
on_all_backends!(an_export_missing_the_newest_events_exits_1);

/// The file of a SQLite test database.
fn sqlite_path(db: &TestDb) -> std::path::PathBuf {
    std::path::PathBuf::from(db.url().strip_prefix("sqlite://").expect("a sqlite:// URL"))
}

#[test]
fn the_sqlite_database_itself_is_refused_as_out() {
    let Some(db) = TestDb::open(Backend::Sqlite, "the_sqlite_database_itself_is_refused_as_out") else { return };
    db.record_plain("default", 3);
    let path = sqlite_path(&db);
    let before = std::fs::read(&path).expect("the database");
    let side = |suffix: &str| std::path::PathBuf::from(format!("{}{suffix}", path.display()));
    let name = path.file_name().expect("a file name");
    // Other names of the database: through `..`, a symbolic link, a hard link.
    let dotted = path.parent().expect("a directory").join("sub/..").join(name);
    std::fs::create_dir(path.parent().expect("a directory").join("sub")).expect("mkdir");
    let symlink = db.dir().join("link.db");
    std::os::unix::fs::symlink(&path, &symlink).expect("symlink");
    let hard = db.dir().join("hard.db");
    std::fs::hard_link(&path, &hard).expect("hard link");
    for out in [path.clone(), side("-wal"), side("-shm"), side("-journal"), dotted, symlink, hard] {
        let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
        assert_exit(&output, 2);
        assert!(
            stderr(&output).contains("the SQLite database being exported"),
            "{}: {}",
            out.display(),
            stderr(&output)
        );
        assert_eq!(std::fs::read(&path).expect("the database"), before, "{}: the database is untouched", out.display());
    }
    let output = run(&["verify", "--db", db.url()]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 3 events\n");
}

#[test]
fn an_out_that_is_not_a_regular_file_is_written_through() {
    let Some(db) = TestDb::open(Backend::Sqlite, "an_out_that_is_not_a_regular_file_is_written_through") else {
        return;
    };
    db.record_plain("default", 3);
    let expected = expected_export(&db, "default", 1);

    // A symbolic link to a regular file: the file is replaced, the link kept.
    let file = db.dir().join("real.jsonl");
    std::fs::write(&file, "old\n").expect("write");
    let link = db.dir().join("link.jsonl");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    assert_exit(&run(&["export", "--db", db.url(), "--out", s(&link)]), 0);
    assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink(), "the link is kept");
    assert_eq!(std::fs::read_to_string(&file).expect("the export"), expected);

    // A FIFO: written to, not replaced.
    let fifo = db.dir().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the FIFO"))
    };
    assert_exit(&run(&["export", "--db", db.url(), "--out", s(&fifo)]), 0);
    assert_eq!(reader.join().expect("reader"), expected);
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::metadata(&fifo).expect("fifo").file_type()));

    // Standard output, through a link to /dev/stdout (the link is not replaced either).
    let to_stdout = db.dir().join("stdout");
    std::os::unix::fs::symlink("/dev/stdout", &to_stdout).expect("symlink");
    let output = run(&["export", "--db", db.url(), "--out", s(&to_stdout)]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), expected);
    assert!(std::fs::symlink_metadata(&to_stdout).expect("link").file_type().is_symlink(), "the link is kept");
    let output = run(&["export", "--db", db.url(), "--out", "/dev/stdout"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), expected);

    // A directory, and a link to nothing: refused.
    let output = run(&["export", "--db", db.url(), "--out", s(db.dir())]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("is a directory"), "{}", stderr(&output));
    let dangling = db.dir().join("dangling");
    std::os::unix::fs::symlink(db.dir().join("nowhere/x"), &dangling).expect("symlink");
    let output = run(&["export", "--db", db.url(), "--out", s(&dangling)]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("cannot be followed"), "{}", stderr(&output));
}

fn an_export_of_a_chain_whose_events_were_all_deleted_exits_1(db: &TestDb) {
    // Every event deleted behind the store's back, the chain-head row left at seq 5.
    db.record_plain("default", 5);
    // (Another chain keeps the table from being empty: the helper checks that the triggers
    // refuse an update again.)
    db.record_plain("other", 1);
    db.as_superuser(vec![db.statement("DELETE FROM audit_events WHERE chain = ?", vec!["default".into()])]);
    let out = db.dir().join("none.jsonl");
    let output = run(&["export", "--db", db.url(), "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 1: truncated\n");
    assert!(stderr(&output).contains("the chain-head row is at seq 5"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&out).expect("kept"), "");

    let output = run(&["verify", "--db", db.url()]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 1: truncated\n", "export and verify agree");

    let output = run(&["prove", "--db", db.url(), "--seq", "1"]);
    assert_exit(&output, 1);
    assert_eq!(refusal(&output), "BROKEN at seq 1: truncated\n", "{}", stderr(&output));
}
on_all_backends!(an_export_of_a_chain_whose_events_were_all_deleted_exits_1);

fn a_since_export_whose_events_were_all_deleted_exits_1(db: &TestDb) {
    // The March events (seq 11..=13) deleted behind the store's back, the chain-head row left
    // at seq 13: an export since March finds no event, which must not read as valid.
    known_trail(db);
    db.as_superuser(vec![
        db.statement("DELETE FROM audit_events WHERE chain = ? AND seq > ?", vec!["default".into(), 10i64.into()]),
    ]);
    let out = db.dir().join("march.jsonl");
    let output = run(&["export", "--db", db.url(), "--since", "2026-03-01", "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 13: truncated\n");
    assert!(stderr(&output).contains("event 13 is missing"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&out).expect("kept"), "");

    // Since a time after the events kept, too: the head row's event is still missing.
    let output = run(&["export", "--db", db.url(), "--since", "2026-02-15", "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 13: truncated\n");
    // With the chain-head row deleted too, nothing vouches for the end: still broken (it read
    // as valid before), at seq 1 as `verify --db` reports a missing head row.
    db.as_superuser(vec![db.statement("DELETE FROM audit_chain_heads WHERE chain = ?", vec!["default".into()])]);
    let output = run(&["export", "--db", db.url(), "--since", "2026-03-01", "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 1: head mismatch\n");
    assert!(stderr(&output).contains("no chain-head row"), "{}", stderr(&output));
    assert_eq!(stdout(&run(&["verify", "--db", db.url()])), "BROKEN at seq 1: head mismatch\n");
    // An untouched chain with no event since: valid (its head event is there, and older).
    let output = run(&["export", "--db", db.url(), "--chain", "tenant-b", "--since", "2027-01-01", "--out", s(&out)]);
    assert_exit(&output, 0);
}
on_all_backends!(a_since_export_whose_events_were_all_deleted_exits_1);

fn a_since_export_that_finds_no_event_checks_the_head_event(db: &TestDb) {
    // The chain-head row names another hash than its event's: an export since after the last
    // event finds nothing, but the head row does not vouch for that.
    known_trail(db);
    let other = "a".repeat(64);
    db.as_superuser(vec![
        db.statement("UPDATE audit_chain_heads SET hash = ? WHERE chain = ?", vec![other.into(), "default".into()]),
    ]);
    let out = db.dir().join("none.jsonl");
    let output = run(&["export", "--db", db.url(), "--since", "2027-01-01", "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 13: head mismatch\n");
}
on_all_backends!(a_since_export_that_finds_no_event_checks_the_head_event);

#[test]
fn out_dev_stdout_redirected_to_a_file_appends_to_it() {
    use std::os::unix::fs::PermissionsExt;
    let Some(db) = TestDb::open(Backend::Sqlite, "out_dev_stdout_redirected_to_a_file_appends_to_it") else { return };
    db.record_plain("default", 3);
    let expected = expected_export(&db, "default", 1);
    // `audit-trail export --out /dev/stdout >> archive.jsonl`: the archive keeps what it held
    // (and its mode), the export is appended.
    let archive = db.dir().join("archive.jsonl");
    std::fs::write(&archive, "earlier\n").expect("write");
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    for out in ["/dev/stdout", "/proc/self/fd/1"] {
        let appending = std::fs::OpenOptions::new().append(true).open(&archive).expect("open");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_audit-trail"))
            .args(["export", "--db", db.url(), "--out", out])
            .stdout(appending)
            .output()
            .expect("run");
        assert_exit(&output, 0);
    }
    assert_eq!(std::fs::read_to_string(&archive).expect("archive"), format!("earlier\n{expected}{expected}"));
    let mode = std::fs::metadata(&archive).expect("archive").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the archive's mode is kept");
    let leftovers: Vec<_> = std::fs::read_dir(db.dir())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn a_since_export_checks_the_event_before_its_first(db: &TestDb) {
    // Seq 5 is the first event of February. Its ts column moved back to January hides it from
    // the query by time: an export since February would start at seq 6 and read as valid.
    known_trail(db);
    let january = match db.backend {
        Backend::Sqlite => "2026-01-15T00:00:00.000000Z",
        Backend::Postgres | Backend::MySql => "2026-01-15 00:00:00",
    };
    db.as_superuser(vec![db.statement(
        &format!("UPDATE audit_events SET ts = '{january}' WHERE chain = ? AND seq = ?"),
        vec!["default".into(), 5i64.into()],
    )]);
    let out = db.dir().join("feb.jsonl");
    let output = run(&["export", "--db", db.url(), "--since", "2026-02-01", "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 5: column mismatch\n");
    assert!(stderr(&output).contains("the export leaves it out"), "{}", stderr(&output));
    assert_eq!(seqs(&std::fs::read_to_string(&out).expect("kept")), [6, 7, 8, 9, 10, 11, 12, 13]);

    // The event before the first deleted: the export's first prev links to nothing stored.
    db.as_superuser(vec![
        db.statement("DELETE FROM audit_events WHERE chain = ? AND seq = ?", vec!["default".into(), 10i64.into()]),
    ]);
    let output = run(&["export", "--db", db.url(), "--since", "2026-03-01", "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 11: prev mismatch\n");
    assert!(stderr(&output).contains("event 10 of chain \"default\", just before"), "{}", stderr(&output));
    // (An intact event before the first passes: `since_exports_a_part_whose_first_prev_is_on_trust`.)
}
on_all_backends!(a_since_export_checks_the_event_before_its_first);

/// The event before a `--since` export's first is there but replaced (its line edited, so its
/// hash no longer matches): the first does not link to it.
fn a_since_export_whose_event_before_was_replaced_exits_1(db: &TestDb) {
    known_trail(db);
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET line = replace(line, '\"id\":\"42\"', '\"id\":\"43\"') WHERE chain = ? AND seq = ?",
        vec!["default".into(), 10i64.into()],
    )]);
    let out = db.dir().join("march.jsonl");
    let output = run(&["export", "--db", db.url(), "--since", "2026-03-01", "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 11: prev mismatch\n", "{}", stderr(&output));
    assert!(stderr(&output).contains("does not link to the stored event 10"), "{}", stderr(&output));
    assert_eq!(seqs(&std::fs::read_to_string(&out).expect("kept")), [11, 12, 13]);
}
on_all_backends!(a_since_export_whose_event_before_was_replaced_exits_1);

/// Every event at or after the time hidden from the query by an edited ts column: the export
/// finds none, and the head row's event, which happened at or after the time, says so.
fn a_since_export_whose_events_were_all_hidden_exits_1(db: &TestDb) {
    known_trail(db);
    let january = match db.backend {
        Backend::Sqlite => "2026-01-15T00:00:00.000000Z",
        Backend::Postgres | Backend::MySql => "2026-01-15 00:00:00",
    };
    db.as_superuser(vec![db.statement(
        &format!("UPDATE audit_events SET ts = '{january}' WHERE chain = ? AND seq > ?"),
        vec!["default".into(), 10i64.into()],
    )]);
    let out = db.dir().join("march.jsonl");
    let output = run(&["export", "--db", db.url(), "--since", "2026-03-01", "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 13: column mismatch\n", "{}", stderr(&output));
    assert!(stderr(&output).contains("yet the query by time did not find it"), "{}", stderr(&output));
}
on_all_backends!(a_since_export_whose_events_were_all_hidden_exits_1);

/// A `--since` export that finds no event, whose head row's event is not a valid line.
fn a_since_export_whose_head_event_is_not_an_event_exits_1(db: &TestDb) {
    known_trail(db);
    db.as_superuser(vec![db.statement(
        "UPDATE audit_events SET line = ? WHERE chain = ? AND seq = ?",
        vec!["not an event".into(), "default".into(), 13i64.into()],
    )]);
    let out = db.dir().join("none.jsonl");
    let output = run(&["export", "--db", db.url(), "--since", "2027-01-01", "--out", s(&out)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 13: hash mismatch\n", "{}", stderr(&output));
    assert!(stderr(&output).contains("event 13 of chain \"default\" is not a valid event"), "{}", stderr(&output));
}
on_all_backends!(a_since_export_whose_head_event_is_not_an_event_exits_1);

/// Lines another writer wrote, with a member SPEC does not name (SPEC §1 lets it: it is hashed
/// like any other): the `--since` checks of the event before the first, and of the head when
/// nothing is at or after the time, read the line as stored, not the typed event (which would
/// drop the member and recompute another hash).
fn since_checks_take_lines_with_added_members(db: &TestDb) {
    use audit_core::store::{AuditStore, Head};
    use audit_core::{Actor, Event, EventHash, SealedEvent};
    use audit_seaorm::SqlStore;
    let mut prev = EventHash::ZERO;
    let mut batch = Vec::new();
    for seq in 1..=3u64 {
        let month = if seq < 3 { 1 } else { 2 };
        let mut event: Event = serde_json::from_value(serde_json::json!({
            "v": 1, "chain": "default", "seq": seq, "id": format!("0192f0c1-7b6e-7cc0-8000-{seq:012x}"), "ts": ts(month, 1, seq as u32),
            "actor": Actor::user("alice"), "action": "update", "resource": {"type": "users", "id": "42"},
            "outcome": "success", "prev": prev, "hash": EventHash::ZERO,
        }))
        .expect("an event");
        event.hash = EventHash::ZERO;
        let mut value: serde_json::Value = serde_json::from_str(&event.to_canonical_line()).expect("JSON");
        value["x_writer"] = serde_json::json!({"name": "another implementation"});
        let unhashed = audit_core::canonical::to_string(&value);
        let hash = audit_core::line::inspect(unhashed.as_bytes()).expect("a canonical line").computed;
        let line = unhashed.replace(&EventHash::ZERO.to_string(), &hash.to_string()).replacen(
            &format!("\"prev\":\"{hash}\""),
            &format!("\"prev\":\"{prev}\""),
            1,
        );
        let info = audit_core::line::inspect(line.as_bytes()).expect("canonical");
        assert_eq!((info.declared, info.computed, info.prev), (hash, hash, prev));
        batch.push(SealedEvent::from_line(line).expect("a stored line"));
        prev = hash;
    }
    db.block_on(async {
        let store = SqlStore::new(db.connect_async().await).expect("supported backend");
        store.migrate().await.expect("schema");
        store.append("default", Head::EMPTY, &batch).await.expect("appended");
        store.connection().clone().close().await.expect("close");
    });
    let out = db.dir().join("part.jsonl");
    // The first event at or after February is seq 3: the check of seq 2 takes its member.
    let output = run(&["export", "--db", db.url(), "--since", "2026-02-01", "--out", s(&out)]);
    assert_exit(&output, 0);
    assert_eq!(seqs(&std::fs::read_to_string(&out).expect("export")), [3]);
    // Nothing after March: the check of the head (seq 3) takes its member.
    let output = run(&["export", "--db", db.url(), "--since", "2026-03-01", "--out", s(&out)]);
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("no events at or after"), "{}", stderr(&output));
}
on_all_backends!(since_checks_take_lines_with_added_members);

/// `--out` naming the file standard error goes to (`--out /dev/stderr 2>FILE`, or `--out
/// /dev/stdout >FILE 2>&1`): the messages would be lines of the export, which `verify` then
/// calls broken. Refused before anything is written (exit 2), the file left as it was.
#[test]
fn out_on_the_file_standard_error_goes_to_is_refused() {
    let Some(db) = TestDb::open(Backend::Sqlite, "out_on_standard_error") else { return };
    db.record_plain("default", 3);
    let log = db.dir().join("log.txt");
    for (out, both) in [("/dev/stderr", false), ("/dev/stdout", true)] {
        std::fs::write(&log, "").expect("write");
        let file = || std::fs::OpenOptions::new().append(true).open(&log).expect("open");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_audit-trail"));
        command.args(["export", "--db", db.url(), "--out", out]).stderr(file());
        if both {
            command.stdout(file());
        }
        let output = command.output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{out}");
        let written = std::fs::read_to_string(&log).expect("read");
        assert!(written.contains("standard error is written to"), "{out}: {written}");
        assert!(!written.contains("\"seq\":"), "{out}: no event was written: {written}");
    }
}
