//! Bad input never panics: an unknown URL scheme, an unreachable server, a missing database or
//! missing audit tables (which the CLI never creates), a garbage checkpoint, a wrong key file,
//! a bad time: each exits 2 with an `error:` that says what to do.

mod common;
use common::*;
use sea_orm::ConnectionTrait;

/// Asserts exit 2, an `error:` on stderr containing every one of `needles`, nothing on stdout,
/// and no panic.
#[track_caller]
fn assert_error(output: &std::process::Output, needles: &[&str]) {
    assert_exit(output, 2);
    let message = stderr(output);
    assert!(message.starts_with("error: ") || message.contains("\nerror: "), "{message}");
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    assert!(!message.contains("panicked"), "{message}");
    assert!(output.stdout.is_empty(), "{}", stdout(output));
}

/// Every command that reads a database, with `url`.
fn every_db_command(url: &str, dir: &std::path::Path) -> Vec<Vec<String>> {
    let key = dir.join("log.key");
    if !key.exists() {
        assert_exit(&run(&["keygen", "--name", "example.com/log", "--out", s(&key)]), 0);
    }
    let out = dir.join("out.jsonl");
    let commands: Vec<Vec<&str>> = vec![
        vec!["verify", "--db", url],
        vec!["export", "--db", url, "--out", s(&out)],
        vec!["query", "--db", url],
        vec!["report", "access", "--db", url, "--resource-type", "users", "--resource-id", "1"],
        vec!["report", "privileged", "--db", url],
        vec!["report", "failures", "--db", url],
        vec!["checkpoint", "--db", url, "--origin", "example.com/log", "--key", s(&key)],
        vec!["prove", "--db", url, "--seq", "1"],
    ];
    commands.into_iter().map(|c| c.into_iter().map(str::to_string).collect()).collect()
}

fn run_owned(args: &[String]) -> std::process::Output {
    run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn an_unknown_url_scheme_names_the_accepted_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    for command in every_db_command("http://example.com/audit", dir.path()) {
        assert_error(
            &run_owned(&command),
            &["unknown database URL scheme \"http\"", "sqlite://", "postgres://", "mysql://"],
        );
    }
    let output = run(&["verify", "--db", "/var/lib/app/audit.db"]);
    assert_error(&output, &["not a database URL", "sqlite://PATH", "--jsonl FILE"]);
    let output = run(&["query", "--db", "sqlite::memory:"]);
    assert_error(&output, &["names no SQLite file"]);
}

#[test]
fn an_unreachable_server_is_named_with_its_host_and_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in ["postgres://postgres@127.0.0.1:1/test", "mysql://root:s3cret@127.0.0.1:1/test"] {
        for command in every_db_command(url, dir.path()) {
            let started = std::time::Instant::now();
            let output = run_owned(&command);
            assert_error(&output, &["cannot connect to", "127.0.0.1:1", "check that the database server is running"]);
            assert!(!stderr(&output).contains("s3cret"), "the password is not shown: {}", stderr(&output));
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "fails at once, not after a timeout");
        }
    }
}

/// The reachability check before connecting reads the URL as the driver does: a port given as
/// `?port=` (over the URL's), or the server's address as `?hostaddr=`, is where the driver
/// connects, and a working URL is not refused (the check tried the URL's port, or resolved the
/// host name, and failed before the driver was tried).
#[test]
fn a_postgres_url_is_probed_where_the_driver_connects() {
    let Some(db) = TestDb::open(Backend::Postgres, "url_forms") else { return };
    db.record_plain("default", 3);
    let url = db.url();
    assert!(url.contains("@127.0.0.1:5432/") && url.contains('?'), "{url}");
    let port_in_query = format!("{}&port=5432", url.replacen("127.0.0.1:5432", "127.0.0.1:1", 1));
    let address_in_query =
        format!("{}&hostaddr=127.0.0.1", url.replacen("127.0.0.1:5432", "audit-test.invalid:5432", 1));
    for url in [port_in_query, address_in_query] {
        let output = run(&["verify", "--db", &url]);
        assert_exit(&output, 0);
        assert_eq!(stdout(&output), "valid: 3 events\n", "{url}: {}", stderr(&output));
    }
    // The driver's port is the one named when nothing listens there.
    let output = run(&["verify", "--db", &format!("{url}&port=1")]);
    assert_error(&output, &["cannot connect to", "127.0.0.1:1"]);
}

#[test]
fn a_missing_sqlite_file_is_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing.db");
    let url = format!("sqlite://{}", path.display());
    for command in every_db_command(&url, dir.path()) {
        assert_error(&run_owned(&command), &["no SQLite database at", "check the path"]);
        assert!(!path.exists(), "never created");
    }
}

/// Whether `table` exists in the test's namespace.
fn has_table(db: &TestDb, table: &str) -> bool {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        Backend::Postgres => "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?",
        Backend::MySql => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
        }
    };
    db.block_on(async {
        let conn = db.connect_async().await;
        let row = conn.query_one_raw(db.statement(sql, vec![table.into()])).await.expect("query").expect("a row");
        let count: i64 = row.try_get_by_index(0).expect("count");
        conn.close().await.expect("close");
        count > 0
    })
}

fn missing_audit_tables_are_reported_and_never_created(db: &TestDb) {
    // A database with another application's table, and no audit trail.
    db.block_on(async {
        let conn = db.connect_async().await;
        conn.execute_unprepared("CREATE TABLE orders (id INTEGER PRIMARY KEY)").await.expect("create");
        conn.close().await.expect("close");
    });
    for command in every_db_command(db.url(), db.dir()) {
        assert_error(
            &run_owned(&command),
            &["no audit trail in", "audit_events is missing", "never creates tables", "point --db at the database"],
        );
    }
    assert!(!has_table(db, "audit_events") && !has_table(db, "audit_chain_heads"), "nothing was created");
    assert!(!db.dir().join("out.jsonl").exists(), "no export was written");
}
on_all_backends!(missing_audit_tables_are_reported_and_never_created);

/// Asserts [`assert_error`] for every command, and that the error does not call the tables
/// missing (they are not).
#[track_caller]
fn assert_every_command_fails_with(url: &str, dir: &std::path::Path, needles: &[&str]) {
    for command in every_db_command(url, dir) {
        let output = run_owned(&command);
        assert_error(&output, needles);
        let message = stderr(&output);
        assert!(!message.contains("is missing") && !message.contains("point --db at"), "{command:?}: {message}");
    }
}

#[test]
fn a_file_that_is_not_a_sqlite_database_is_named_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "not a database\n".repeat(1000)).expect("write");
    let url = format!("sqlite://{}", path.display());
    assert_every_command_fails_with(&url, dir.path(), &["cannot read the audit tables", "not a SQLite database"]);
}

#[test]
fn a_read_only_wal_database_is_told_to_use_a_copy_or_immutable() {
    use std::os::unix::fs::PermissionsExt;
    let Some(db) = TestDb::open(Backend::Sqlite, "a_read_only_wal_database") else { return };
    db.record_plain("default", 2);
    let path = std::path::PathBuf::from(db.url().strip_prefix("sqlite://").expect("a sqlite URL"));
    let dir = path.parent().expect("a directory").to_path_buf();
    // A WAL database in a directory this user cannot write (as root, run as nobody: root
    // writes anywhere).
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let as_root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
    let run_unprivileged = |args: &[&str]| {
        if as_root {
            std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_audit-trail")])
                .args(args)
                .output()
        } else {
            std::process::Command::new(env!("CARGO_BIN_EXE_audit-trail")).args(args).output()
        }
    };
    let output = run_unprivileged(&["verify", "--db", db.url()]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    let output = match output {
        Ok(output) => output,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true: cannot run the CLI as an unprivileged user (setpriv, from util-linux): {e}")
        }
        Err(e) => {
            use std::io::Write as _;
            // Straight to stderr: the test harness hides `eprintln!` of a passing test.
            let _ = writeln!(std::io::stderr(), "SKIPPED: cannot run the CLI as an unprivileged user (setpriv): {e}");
            return;
        }
    };
    assert_error(&output, &["attempt to write a readonly database", "read a copy", "?immutable=1"]);
    assert!(!stderr(&output).contains("is missing"), "{}", stderr(&output));
}

#[test]
fn a_user_without_select_is_told_to_grant_it() {
    let Some(db) = TestDb::open(Backend::Postgres, "a_user_without_select_is_told_to_grant_it") else { return };
    db.migrate();
    let role = format!("audit_cli_noselect_{}", std::process::id());
    let schema = db.url().rsplit_once("search_path%3D").expect("a search_path").1.to_string();
    db.block_on(async {
        let conn = db.connect_async().await;
        conn.execute_unprepared(&format!("CREATE ROLE {role} LOGIN")).await.expect("create role");
        conn.execute_unprepared(&format!("GRANT USAGE ON SCHEMA \"{schema}\" TO {role}")).await.expect("grant");
        conn.close().await.expect("close");
    });
    let url = db.url().replacen("postgres@", &format!("{role}@"), 1);
    assert!(url.contains(&role), "{url}");
    // The role is dropped whatever the outcome (roles are the server's, not the schema's).
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_every_command_fails_with(&url, db.dir(), &["permission denied", "grant it SELECT", "audit_events"])
    }));
    db.block_on(async {
        let conn = db.connect_async().await;
        conn.execute_unprepared(&format!("DROP OWNED BY {role}")).await.expect("drop owned");
        conn.execute_unprepared(&format!("DROP ROLE {role}")).await.expect("drop role");
        conn.close().await.expect("close");
    });
    if let Err(panic) = failed {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn a_mysql_url_without_a_database_is_told_to_name_one() {
    let Some(db) = TestDb::open(Backend::MySql, "a_mysql_url_without_a_database_is_told_to_name_one") else {
        return;
    };
    let server = db.url().rsplit_once('/').expect("a database in the URL").0.to_string();
    assert_every_command_fails_with(&server, db.dir(), &["No database selected", "put its name in the path"]);
}

fn the_cli_never_writes_to_the_database(db: &TestDb) {
    db.record_plain("default", 4);
    let before = db.stored_lines("default");
    let sqlite_bytes = || match db.backend {
        Backend::Sqlite => std::fs::read(db.url().trim_start_matches("sqlite://")).ok(),
        Backend::Postgres | Backend::MySql => None,
    };
    let bytes = sqlite_bytes();
    for command in every_db_command(db.url(), db.dir()) {
        let output = run_owned(&command);
        assert!(output.status.code() == Some(0), "{command:?}: {}", stderr(&output));
    }
    assert_eq!(db.stored_lines("default"), before);
    assert_eq!(sqlite_bytes(), bytes, "the SQLite file is byte for byte the same");
}
on_all_backends!(the_cli_never_writes_to_the_database);

#[test]
fn bad_checkpoints_keys_and_times_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 3);
    let key = dir.path().join("log.key");
    let output = run(&["keygen", "--name", "example.com/log", "--out", s(&key)]);
    let verifier = stdout(&output).trim().to_string();
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, "\u{0}\u{ff}not a checkpoint\n").expect("write");

    // A garbage checkpoint, with a database or a file.
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&garbage), "--key", &verifier]);
    assert_error(&output, &["checkpoint", "refused, nothing was verified"]);
    let output = run(&[
        "verify",
        "--db",
        "postgres://postgres@127.0.0.1:1/test",
        "--checkpoint",
        s(&garbage),
        "--key",
        &verifier,
    ]);
    assert_error(&output, &["refused, nothing was verified"]);

    // Wrong keys: garbage where a private key belongs, garbage or a private key where a verifier
    // key belongs.
    let output = run(&["checkpoint", "--jsonl", s(&trail), "--origin", "example.com/log", "--key", s(&garbage)]);
    assert_error(&output, &["does not hold a private key", "audit-trail keygen"]);
    let output =
        run(&["checkpoint", "--db", "sqlite:///nonexistent.db", "--origin", "example.com/log", "--key", s(&garbage)]);
    assert_error(&output, &["does not hold a private key"]);
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&garbage), "--key", s(&garbage)]);
    assert_error(&output, &["does not hold a verifier key"]);
    let output = run(&["verify", "--jsonl", s(&trail), "--checkpoint", s(&garbage), "--key", "not-a-key"]);
    assert_error(&output, &["neither a verifier key", "nor a file holding one"]);
    let output = run(&["checkpoint", "--jsonl", s(&trail), "--origin", "example.com/log", "--key", "/nonexistent/key"]);
    assert_error(&output, &["cannot read the key file /nonexistent/key"]);

    // Times.
    for (command, bad) in [
        (vec!["query", "--db", "sqlite:///x.db", "--since", "yesterday"], "yesterday"),
        (vec!["query", "--db", "sqlite:///x.db", "--until", "2026-13-01"], "2026-13-01"),
        (vec!["export", "--db", "sqlite:///x.db", "--out", "x", "--since", "2026-02-30T00:00:00Z"], "2026-02-30"),
        (vec!["report", "privileged", "--db", "sqlite:///x.db", "--since", "12:00"], "12:00"),
    ] {
        let output = run(&command);
        assert_error(&output, &[bad, "not an RFC 3339 time", "2026-11-23T10:15:30Z"]);
    }

    // Usage.
    assert_error(&run(&["verify", "--db", "sqlite:///x.db", "--jsonl", s(&trail)]), &["cannot be used with"]);
    assert_error(&run(&["query", "--db", "sqlite:///x.db", "--format", "xml"]), &["xml"]);
    assert_error(&run(&["query", "--db", "sqlite:///x.db", "--limit", "many"]), &["many", "--limit"]);
    assert_error(&run(&["query", "--db", "sqlite:///x.db", "--outcome", "maybe"]), &["maybe"]);
}

#[test]
fn a_corrupt_jsonl_file_is_reported_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("garbage.jsonl");
    std::fs::write(&path, b"\x00\xff garbage\n{\"half\":").expect("write");
    // SPEC §2: a line that is not an event breaks the chain ("bad format", exit 1).
    let output = run(&["verify", "--jsonl", s(&path)]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "BROKEN at seq 1: bad format\n");
    let key = dir.path().join("log.key");
    assert_exit(&run(&["keygen", "--name", "example.com/log", "--out", s(&key)]), 0);
    let output = run(&["checkpoint", "--jsonl", s(&path), "--origin", "example.com/log", "--key", s(&key)]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("refusing to sign"), "{}", stderr(&output));
    // prove cannot open a trail that does not end with a complete event: it reports the break
    // as verify does (exit 1), as checkpoint does.
    let output = run(&["prove", "--jsonl", s(&path), "--seq", "1"]);
    assert_exit(&output, 1);
    assert_eq!(refusal(&output), "BROKEN at seq 1: bad format\n");
    assert!(stderr(&output).contains("refusing to prove from a broken chain"), "{}", stderr(&output));
    // Also when the last line is complete but not an event.
    std::fs::write(&path, b"\x00\xff garbage\n{\"half\":1}\n").expect("write");
    let output = run(&["prove", "--jsonl", s(&path), "--seq", "1"]);
    assert_exit(&output, 1);
    assert_eq!(refusal(&output), "BROKEN at seq 1: bad format\n");
    let output = run(&["verify", "--jsonl", s(&dir.path().join("missing.jsonl"))]);
    assert_error(&output, &["cannot open"]);
}

/// Runs audit-trail with its standard output on `/dev/full`, where every write fails.
fn run_to_full_disk(args: &[&str]) -> std::process::Output {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    std::process::Command::new(env!("CARGO_BIN_EXE_audit-trail"))
        .args(args)
        .stdout(full)
        .output()
        .expect("run audit-trail")
}

/// The same for the database commands: query and report in each format, and an export to
/// standard output.
#[test]
fn a_failing_standard_output_of_the_database_commands_is_an_error_not_a_panic() {
    let Some(db) = TestDb::open(Backend::Sqlite, "full_stdout_db") else { return };
    db.record("default", vec![audit_core::EventDraft::new("delete").actor(audit_core::Actor::admin("root"))]);
    db.record_plain("default", 3);
    for format in ["json", "csv", "table"] {
        for command in [&["query"][..], &["report", "privileged"][..]] {
            let mut args = command.to_vec();
            args.extend_from_slice(&["--db", db.url(), "--format", format]);
            assert_error(&run_to_full_disk(&args), &["cannot write"]);
        }
    }
    assert_error(&run_to_full_disk(&["export", "--db", db.url(), "--out", "/dev/stdout"]), &["cannot write"]);
}

#[test]
fn a_failing_standard_output_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 4);
    let key = dir.path().join("log.key");
    assert_exit(&run(&["keygen", "--name", "example.com/log", "--out", s(&key)]), 0);
    let proof = dir.path().join("proof.json");
    let output = run(&["prove", "--jsonl", s(&trail), "--seq", "2"]);
    assert_exit(&output, 0);
    std::fs::write(&proof, output.stdout).expect("write the proof");

    let commands: [&[&str]; 4] = [
        &["checkpoint", "--jsonl", s(&trail), "--origin", "example.com/log", "--key", s(&key)],
        &["prove", "--jsonl", s(&trail), "--seq", "2"],
        &["verify-proof", "--proof", s(&proof)],
        &["verify", "--jsonl", s(&trail)],
    ];
    for args in commands {
        let output = run_to_full_disk(args);
        assert_error(&output, &["cannot write"]);
    }

    // keygen: a key whose verifier key was never shown is taken back.
    let lost = dir.path().join("lost.key");
    let output = run_to_full_disk(&["keygen", "--name", "example.com/log", "--out", s(&lost)]);
    assert_error(&output, &["cannot write to standard output", "was removed"]);
    assert!(!lost.exists());
}

#[test]
fn a_user_without_usage_on_the_schema_is_told_to_grant_it() {
    let Some(db) = TestDb::open(Backend::Postgres, "a_user_without_usage_on_the_schema_is_told_to_grant_it") else {
        return;
    };
    db.migrate();
    let role = format!("audit_cli_nousage_{}", std::process::id());
    let schema = db.url().rsplit_once("search_path%3D").expect("a search_path").1.to_string();
    db.block_on(async {
        let conn = db.connect_async().await;
        conn.execute_unprepared(&format!("CREATE ROLE {role} LOGIN")).await.expect("create role");
        conn.close().await.expect("close");
    });
    let url = db.url().replacen("postgres@", &format!("{role}@"), 1);
    // The role is dropped whatever the outcome (roles are the server's, not the schema's).
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let grant = format!("GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\"");
        assert_every_command_fails_with(&url, db.dir(), &[grant.as_str(), "grant it USAGE"]);
        let output = run(&["verify", "--db", &url]);
        assert!(!stderr(&output).contains("is missing"), "{}", stderr(&output));
    }));
    db.block_on(async {
        let conn = db.connect_async().await;
        conn.execute_unprepared(&format!("DROP OWNED BY {role}")).await.expect("drop owned");
        conn.execute_unprepared(&format!("DROP ROLE {role}")).await.expect("drop role");
        conn.close().await.expect("close");
    });
    if let Err(panic) = failed {
        std::panic::resume_unwind(panic);
    }
}

/// A checkpoint is outside input (SPEC §5: kept by another system); a signed note is a few
/// kilobytes. A huge file (here 64 MiB, under a 400 MB address-space limit as on a small
/// container) is refused after its first MiB, with exit 2, never read whole: before, it took
/// 600 MB and aborted the process under the limit. (`--checkpoint /dev/zero` likewise.)
#[test]
fn a_huge_checkpoint_file_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 3);
    let cp = dir.path().join("huge.cp");
    std::fs::write(&cp, format!("x\n\n{}", "a\n".repeat(32 << 20))).expect("write a 64 MiB file");
    let verifier =
        audit_core::checkpoint::NoteSigner::generate("audit.example.com/default").expect("key").verifier().to_string();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 400000 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_audit-trail"))
        .args(["verify", "--jsonl", s(&trail), "--checkpoint", s(&cp), "--key", &verifier])
        .output()
        .expect("run audit-trail");
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("is larger than 1024 KiB: it is not a checkpoint"), "{}", stderr(&output));
}

/// A proof about the tree of no events cannot exist (no event is in it; consistency proofs
/// with it are refused): the advice names the size and a range that works.
#[test]
fn a_proof_about_the_empty_tree_is_refused_with_advice_that_can_be_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 10);
    let output = run(&["prove", "--jsonl", s(&trail), "--seq", "1", "--size", "0"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--size 0: the tree of no events proves nothing"), "{}", stderr(&output));
    assert!(stderr(&output).contains("give --size from 1 to 10"), "{}", stderr(&output));
    let output = run(&["prove", "--jsonl", s(&trail), "--from", "1", "--to", "0"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("give --to from 1 to 10"), "{}", stderr(&output));
}

/// A key file that cannot be written whole (here the file size limit: `EFBIG`, under `prlimit`
/// with `SIGXFSZ` ignored) is removed again: left empty or cut, it made the next `keygen` to
/// that path refuse to overwrite "a key".
#[test]
fn a_key_file_that_cannot_be_written_is_not_left_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("log.key");
    let output = std::process::Command::new("bash")
        .args(["-c", "trap '' XFSZ; exec prlimit --fsize=16 -- \"$0\" keygen --name example.com/log --out \"$1\""])
        .arg(env!("CARGO_BIN_EXE_audit-trail"))
        .arg(&key)
        .output()
        .expect("run bash (and prlimit, from util-linux)");
    assert_error(&output, &["cannot write", "removed again"]);
    assert!(!key.exists(), "no partial key file is left");
    assert_exit(&run(&["keygen", "--name", "example.com/log", "--out", s(&key)]), 0);
}

/// A reader that goes away (`audit-trail query … | head -1`) stops the command quietly, exit 0:
/// no error, no panic (Rust ignores SIGPIPE, so the write fails with `EPIPE`).
#[test]
fn a_closed_pipe_stops_quietly() {
    use std::io::{BufRead, BufReader};
    let Some(db) = TestDb::open(Backend::Sqlite, "closed_pipe") else { return };
    db.record_plain("default", 600); // well beyond a pipe's 64 KiB buffer
    for format in ["json", "csv"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_audit-trail"))
            .args(["query", "--db", db.url(), "--format", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run audit-trail");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("a first line");
        assert!(!first.is_empty());
        // The reader is dropped here: the pipe is closed with most of the output unread.
        let output = child.wait_with_output().expect("wait");
        assert_exit(&output, 0);
        let message = stderr(&output);
        assert!(!message.contains("error") && !message.contains("panicked"), "{format}: {message}");
    }
}
