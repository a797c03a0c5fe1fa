//! The independent verifier, `tools/verify_trail.py` (Python's standard library and SPEC.md
//! alone, written without reading this project's code), against what this project writes: an
//! outside auditor's tool must agree with `audit-trail` on every trail, checkpoint and proof.
//!
//! - Trails written by the real writer to SQLite and PostgreSQL, with every kind of value
//!   SPEC §2's canonical form has to get right (ES6 numbers, astral and line-separator
//!   characters, escapes, nested details), exported by `audit-trail export`: valid to both,
//!   and so are `audit-trail checkpoint`'s note and `prove`'s proofs.
//! - The same export tampered with in each way SPEC §2 names, and against a checkpoint
//!   (truncation, a rewrite with every later hash recomputed, another key): the same verdict
//!   from both (status, events verified, seq and reason, exit code).
//! - The public vectors (RFC 8785, RFC 6962, C2SP signed notes) through the Python verifier,
//!   and its own tests, which compare it with `audit-trail` on trails it writes itself.
//!
//! Needs `python3` (or `$PYTHON`): no package beyond the standard library.

mod common;

use audit_core::{Actor, Context, Event, EventDraft, Outcome, canonical};
use common::{Backend, TestDb, assert_exit, run, s, stderr, stdout};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ORIGIN: &str = "audit.example.com/default";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `tools/verify_trail.py` with `args`, to run.
fn python_command(args: &[&str]) -> Command {
    let interpreter = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut command = Command::new(interpreter);
    command.arg(repository().join("tools/verify_trail.py")).args(args);
    command
}

/// Runs `tools/verify_trail.py` with `args`.
fn python(args: &[&str]) -> Output {
    python_command(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 (set PYTHON to a Python 3 interpreter): {e}"))
}

/// Each verifier's verdict on a trail: exit code and its `--json` object.
fn verdicts(trail: &Path, checkpoint: Option<(&Path, &str)>) -> ((Option<i32>, Value), (Option<i32>, Value)) {
    let against: Vec<&str> =
        checkpoint.map_or_else(Vec::new, |(note, key)| vec!["--checkpoint", s(note), "--key", key]);
    let ours = run(&[&["verify", "--jsonl", s(trail), "--json"][..], &against].concat());
    let theirs = python(&[&["verify", s(trail), "--json"][..], &against].concat());
    (verdict("audit-trail", &ours), verdict("verify_trail.py", &theirs))
}

/// The exit code and the JSON object printed (`null` when nothing was: a usage or I/O error).
fn verdict(who: &str, output: &Output) -> (Option<i32>, Value) {
    let text = stdout(output);
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{who} printed no JSON ({e}):\n{text}\n--- stderr:\n{}", stderr(output)))
    };
    (output.status.code(), value)
}

#[track_caller]
fn assert_same_verdict(what: &str, trail: &Path, checkpoint: Option<(&Path, &str)>) -> Value {
    let (ours, theirs) = verdicts(trail, checkpoint);
    assert_eq!(ours, theirs, "{what}: audit-trail (left) and verify_trail.py (right) disagree");
    ours.1
}

/// Events with every kind of value the canonical form must get right, in all optional fields.
fn drafts() -> Vec<EventDraft> {
    let context = Context {
        ip: Some("2001:db8::7".into()),
        user_agent: Some("curl/8.5 \"quoted\" \\ back".into()),
        request_id: Some("01938f2e-7a3b-7c4d-8e5f-000000000001".into()),
        method: Some("PUT".into()),
        route: Some("/users/{id}".into()),
        path: Some("/users/%E2%82%AC?q=1".into()),
        status: Some(200),
        duration_us: Some(1234),
    };
    let numbers = json!([
        0.1,
        1e21,
        1e-7,
        1.5e-7,
        123456789012345680000.0,
        -0.0,
        5e-324,
        1.7976931348623157e308,
        u64::MAX,
        i64::MIN,
        9007199254740993u64,
        4.35,
        0.000001,
        100,
        -7
    ]);
    vec![
        EventDraft::new("PUT /users/{id}")
            .actor(Actor::user("alice").with_auth("bearer").with_session("s-1"))
            .resource("users", "42")
            .context(context)
            .change("email", Some(json!("a@example.com")), Some(json!("b@example.com")))
            .change("age", Some(json!(41)), Some(json!(42)))
            .tag("pii")
            .tag("privileged"),
        EventDraft::new("update")
            .actor(Actor::admin("root"))
            .resource("orders", r#"[7,"eu"]"#)
            .change("total", Some(json!("10.50")), Some(json!(12.75)))
            .change("notes", None, Some(Value::Null))
            .detail("numbers", numbers)
            .justification("CHG-1234: break-glass"),
        EventDraft::new("export")
            .actor(Actor::system("exporter"))
            .resource("subject", "ünïcödé 😀 \u{2028}\u{2029} \u{7f}")
            .detail("text", json!("tab\t nl\n cr\r bs\u{8} ff\u{c} nul\u{0} esc\u{1b} slash/ quote\" back\\"))
            .detail(
                "nested",
                json!({"z": [1, {"b": 2, "a": [true, false, null]}], "é": 1, "e": 2, "\u{10000}": 3, "\u{ffff}": 4}),
            )
            .detail("empty", json!({"object": {}, "array": [], "string": ""})),
        EventDraft::new("login_failed")
            .actor(Actor::anonymous())
            .resource("session", "")
            .outcome(Outcome::Failure)
            .reason("bad password"),
        EventDraft::new("DELETE /users/{id}")
            .actor(Actor::service("billing"))
            .resource("users", "9")
            .outcome(Outcome::Denied),
    ]
}

/// `count` events: the varied ones, then plain ones.
fn trail_drafts(count: usize) -> Vec<EventDraft> {
    let mut all = drafts();
    let varied = all.len();
    all.extend(
        (varied..count).map(|i| EventDraft::new("update").actor(Actor::user("bob")).resource("doc", i.to_string())),
    );
    all
}

fn keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("log.key");
    let output = run(&["keygen", "--name", "audit.example.com", "--out", s(&key)]);
    assert_exit(&output, 0);
    (key, stdout(&output).trim().to_string())
}

/// Writes 13 events to `db`, exports them, and checks the export, a checkpoint and proofs with
/// both verifiers; returns the export, the checkpoint and the verifier key.
fn written_exported_and_proved(db: &TestDb) -> (PathBuf, PathBuf, String) {
    db.record("default", trail_drafts(13));
    let export = db.dir().join("default.jsonl");
    assert_exit(&run(&["export", "--db", db.url(), "--out", s(&export)]), 0);

    let output = python(&["verify", s(&export)]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 13 events\n", "{}", stderr(&output));
    let valid = assert_same_verdict("the export", &export, None);
    assert_eq!(valid["status"], "valid");

    let (key, verifier) = keygen(db.dir());
    let output = run(&["checkpoint", "--db", db.url(), "--origin", ORIGIN, "--key", s(&key)]);
    assert_exit(&output, 0);
    let checkpoint = db.dir().join("cp-13");
    std::fs::write(&checkpoint, &output.stdout).expect("keep the checkpoint");
    let output = python(&["verify", s(&export), "--checkpoint", s(&checkpoint), "--key", &verifier]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 13 events\n", "{}", stderr(&output));
    assert_same_verdict("the export against its checkpoint", &export, Some((&checkpoint, &verifier)));

    let proofs: [&[&str]; 5] = [
        &["--seq", "1"],
        &["--seq", "13"],
        &["--seq", "5", "--size", "8"],
        &["--from", "1", "--to", "13"],
        &["--from", "6", "--to", "11"],
    ];
    for (i, proof_args) in proofs.iter().enumerate() {
        let mut args = vec!["prove", "--db", db.url()];
        args.extend(*proof_args);
        let output = run(&args);
        assert_exit(&output, 0);
        let proof = db.dir().join(format!("proof-{i}.json"));
        std::fs::write(&proof, &output.stdout).expect("keep the proof");
        let output = python(&["proof", s(&proof), "--trail", s(&export)]);
        assert_exit(&output, 0);
        assert!(stdout(&output).starts_with("valid"), "{proof_args:?}: {}{}", stdout(&output), stderr(&output));

        // One bit of one path hash flipped: refused by both.
        let mut value: Value = serde_json::from_slice(&std::fs::read(&proof).expect("read")).expect("proof JSON");
        let Some(first) = value["path"].get(0).and_then(Value::as_str).map(str::to_string) else { continue };
        let flipped = format!("{}{}", if first.starts_with('0') { '1' } else { '0' }, &first[1..]);
        value["path"][0] = Value::String(flipped);
        std::fs::write(&proof, value.to_string()).expect("write the bad proof");
        let output = python(&["proof", s(&proof), "--trail", s(&export)]);
        assert_exit(&output, 1);
        assert_exit(&run(&["verify-proof", "--proof", s(&proof)]), 1);
    }
    (export, checkpoint, verifier)
}

#[test]
fn a_sqlite_trail_its_checkpoint_and_proofs_are_valid_to_the_independent_verifier() {
    let Some(db) = TestDb::open(Backend::Sqlite, "indep_sqlite") else { return };
    written_exported_and_proved(&db);
}

#[test]
fn a_postgres_trail_its_checkpoint_and_proofs_are_valid_to_the_independent_verifier() {
    let Some(db) = TestDb::open(Backend::Postgres, "indep_pg") else { return };
    written_exported_and_proved(&db);
}

/// The export's lines, each without its `\n`.
fn lines(export: &Path) -> Vec<String> {
    std::fs::read_to_string(export).expect("read the export").lines().map(str::to_string).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(path, text).expect("write a tampered copy");
}

/// `line` with its event changed by `edit` and its hash recomputed (the chain after it then
/// breaks at the next event's `prev`).
fn rehashed(line: &str, edit: impl FnOnce(&mut Event)) -> String {
    let mut event = Event::from_canonical_line(line).expect("a valid line");
    edit(&mut event);
    event.hash = event.compute_hash();
    event.to_canonical_line()
}

#[test]
fn tampered_exports_get_the_same_verdict_from_both_verifiers() {
    let Some(db) = TestDb::open(Backend::Sqlite, "indep_tamper") else { return };
    db.record("default", trail_drafts(9));
    let export = db.dir().join("default.jsonl");
    assert_exit(&run(&["export", "--db", db.url(), "--out", s(&export)]), 0);
    let good = lines(&export);
    let tampered = db.dir().join("tampered.jsonl");

    // What is done to the lines, and where and why both must then say the chain breaks (when
    // that is certain from SPEC §2; otherwise they must only agree).
    type Tamper = fn(&mut Vec<String>);
    type Expected = Option<(u64, &'static str)>;
    let cases: Vec<(&str, Tamper, Expected)> = vec![
        ("a value edited", |l| l[3] = l[3].replace("login_failed", "login_passed"), Some((4, "hash mismatch"))),
        (
            "an actor edited, hash recomputed",
            |l| l[2] = rehashed(&l[2], |e| e.actor.id = "nobody".into()),
            Some((4, "prev mismatch")),
        ),
        ("a middle event removed", |l| drop(l.remove(4)), None),
        ("two events swapped", |l| l.swap(5, 6), None),
        ("an event repeated", |l| l.insert(6, l[5].clone()), None),
        ("the newest events removed", |l| l.truncate(6), None),
        ("the first event removed", |l| drop(l.remove(0)), None),
        ("white space added", |l| l[1] = l[1].replacen(",", ", ", 1), Some((2, "bad format"))),
        ("keys reordered", |l| l[1] = reordered(&l[1]), Some((2, "bad format"))),
        ("a number written another way", |l| l[1] = l[1].replace("1e+21", "1E21"), Some((2, "bad format"))),
        ("an escape written another way", |l| l[2] = l[2].replace("\\n", "\\u000a"), Some((3, "bad format"))),
        ("an empty line", |l| l.insert(3, String::new()), None),
        ("a line that is not JSON", |l| l[7] = "{\"v\":1,".into(), Some((8, "bad format"))),
        ("a required field removed, hash recomputed", |l| l[4] = without_field(&l[4], "outcome"), None),
        ("a null optional field, hash recomputed", |l| l[4] = with_field(&l[4], "reason", Value::Null), None),
        ("another chain's name, hash recomputed", |l| l[0] = rehashed(&l[0], |e| e.chain = "other".into()), None),
    ];
    for (what, tamper, expected) in cases {
        let mut copy = good.clone();
        tamper(&mut copy);
        assert_ne!(copy, good, "{what}: the tampering changed nothing");
        write_lines(&tampered, &copy);
        let value = assert_same_verdict(what, &tampered, None);
        if let Some((seq, reason)) = expected {
            assert_eq!((&value["broken_at"], &value["reason"]), (&json!(seq), &json!(reason)), "{what}: {value}");
        }
    }

    // Bytes no line may hold, and a last line without its `\n`.
    let text = std::fs::read(&export).expect("read");
    for (what, bytes) in [
        ("a byte that is not UTF-8", [&text[..40], &[0xff][..], &text[41..]].concat()),
        ("CRLF line ends", String::from_utf8(text.clone()).expect("UTF-8").replace('\n', "\r\n").into_bytes()),
        ("no final newline", text[..text.len() - 1].to_vec()),
    ] {
        std::fs::write(&tampered, bytes).expect("write");
        assert_same_verdict(what, &tampered, None);
    }
}

/// `line` with its last member (`"v"`, last in canonical order) moved to the front: still a
/// valid event with a valid hash, but not in canonical form.
fn reordered(line: &str) -> String {
    let rest = line.strip_prefix('{').and_then(|rest| rest.strip_suffix(",\"v\":1}")).expect("an event of v 1");
    format!("{{\"v\":1,{rest}}}")
}

/// `line` as canonical JSON with `edit` applied to its object, and the hash recomputed over the
/// result by SPEC §2.
fn edited_json(line: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut value: Value = serde_json::from_str(line).expect("JSON");
    let object = value.as_object_mut().expect("an object");
    edit(object);
    object.remove("hash");
    let digest = Sha256::digest(canonical::to_string(&value).as_bytes());
    let hash = digest.iter().map(|b| format!("{b:02x}")).collect();
    value.as_object_mut().expect("an object").insert("hash".into(), Value::String(hash));
    canonical::to_string(&value)
}

fn without_field(line: &str, field: &str) -> String {
    edited_json(line, |object| drop(object.remove(field)))
}

fn with_field(line: &str, field: &str, value: Value) -> String {
    edited_json(line, |object| drop(object.insert(field.to_string(), value)))
}

#[test]
fn checkpoint_attacks_get_the_same_verdict_from_both_verifiers() {
    let Some(db) = TestDb::open(Backend::Sqlite, "indep_checkpoint") else { return };
    let (export, checkpoint, verifier) = written_exported_and_proved(&db);
    let good = lines(&export);
    let tampered = db.dir().join("tampered.jsonl");

    // The newest events removed: the chain alone holds, the checkpoint does not.
    write_lines(&tampered, &good[..10]);
    let value = assert_same_verdict("truncated", &tampered, Some((&checkpoint, &verifier)));
    assert_eq!(value["status"], "broken", "{value}");

    // History rewritten by someone who recomputed every later hash (a superuser).
    let mut rewritten = good.clone();
    let mut prev = None;
    for line in rewritten.iter_mut().skip(4) {
        *line = rehashed(line, |event| {
            if event.seq == 5 {
                event.actor.id = "mallory".into();
            }
            if let Some(prev) = prev {
                event.prev = prev;
            }
        });
        prev = Some(Event::from_canonical_line(line).expect("valid").hash);
    }
    write_lines(&tampered, &rewritten);
    assert_eq!(assert_same_verdict("rewritten, chain alone", &tampered, None)["status"], "valid");
    let value = assert_same_verdict("rewritten, against the checkpoint", &tampered, Some((&checkpoint, &verifier)));
    assert_eq!(value["status"], "broken", "{value}");

    // A checkpoint checked with another log's key, and one whose signature was altered.
    let other = db.dir().join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let (_, other_verifier) = keygen(&other);
    assert_same_verdict("another key", &export, Some((&checkpoint, &other_verifier)));
    let note = std::fs::read_to_string(&checkpoint).expect("read");
    let altered = db.dir().join("cp-altered");
    let at = note.rfind(' ').expect("a signature") + 10;
    let flip = if note.as_bytes()[at] == b'A' { "B" } else { "A" };
    std::fs::write(&altered, format!("{}{flip}{}", &note[..at], &note[at + 1..])).expect("write");
    assert_same_verdict("an altered signature", &export, Some((&altered, &verifier)));
}

#[test]
fn the_public_vectors_pass_the_independent_verifier() {
    let vectors = repository().join("../shared/vectors");
    let output = python(&["selftest", s(&vectors)]);
    assert_exit(&output, 0);
    assert!(!stdout(&output).trim().is_empty(), "the self-test says what it ran");
}

#[test]
fn the_independent_verifiers_own_tests_pass_against_audit_trail() {
    let interpreter = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = Command::new(&interpreter)
        .arg(repository().join("tools/test_verify_trail.py"))
        .env("AUDIT_TRAIL_BIN", env!("CARGO_BIN_EXE_audit-trail"))
        .env("VECTORS_DIR", repository().join("../shared/vectors"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {interpreter}: {e}"));
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    // unittest reports on stderr: make sure the comparison with audit-trail ran.
    let report = stderr(&output);
    assert!(report.contains("OK") && !report.contains("skipped"), "{report}");
}

/// The database's own command-line client, printing the chain's stored lines in seq order (as
/// the README shows), for a test database's `--db` URL.
fn client_printing_lines(backend: Backend, url: &str) -> Command {
    const QUERY: &str = "SELECT line FROM audit_events WHERE chain = 'default' ORDER BY seq";
    match backend {
        Backend::Sqlite => {
            let mut command = Command::new("sqlite3");
            command.args([url.strip_prefix("sqlite://").expect("a sqlite URL"), QUERY]);
            command
        }
        // libpq takes the same URL, `options=-c search_path=…` included.
        Backend::Postgres => {
            let mut command = Command::new("psql");
            command.args(["-At", url, "-c", QUERY]);
            command
        }
        Backend::MySql => {
            let rest = url.strip_prefix("mysql://").expect("a mysql URL");
            let (user, rest) = rest.split_once('@').expect("user@host");
            let (server, database) = rest.split_once('/').expect("host/database");
            let (host, port) = server.split_once(':').unwrap_or((server, "3306"));
            let mut command = Command::new("mariadb");
            // Its default character set here is utf8mb3: characters beyond U+FFFF come out as `?`.
            command.args(["--default-character-set=utf8mb4", "-N", "-r", "-B", "-h", host, "-P", port, "-u", user]);
            command.args([database, "-e", QUERY]);
            command
        }
    }
}

/// README: the independent verifier reads a database through its own client (`sqlite3`,
/// `psql -At`, `mariadb --default-character-set=utf8mb4 -N -r -B`) piped to `verify -`: valid
/// for every backend on a trail whose lines hold backslashes, quotes, escapes and characters
/// beyond U+FFFF, and broken where a superuser edited a line.
#[test]
fn each_database_read_through_its_own_client_is_valid_to_the_independent_verifier() {
    for (backend, name) in
        [(Backend::Sqlite, "indep_cli_sqlite"), (Backend::Postgres, "indep_cli_pg"), (Backend::MySql, "indep_cli_my")]
    {
        let Some(db) = TestDb::open(backend, name) else { continue };
        db.record("default", trail_drafts(9));
        // The client's output, piped to `verify -`.
        let verify = || {
            let lines = client_printing_lines(backend, db.url())
                .output()
                .unwrap_or_else(|e| panic!("{backend:?}: cannot run the database's client (install it): {e}"));
            assert!(lines.status.success(), "{backend:?}: {}", stderr(&lines));
            assert!(lines.stdout.contains(&b'\\'), "{backend:?}: the lines hold escapes");
            let mut verifier = python_command(&["verify", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("run the verifier");
            verifier.stdin.take().expect("stdin").write_all(&lines.stdout).expect("pipe the lines");
            let output = verifier.wait_with_output().expect("the verifier's answer");
            (stdout(&output), output.status.code())
        };
        assert_eq!(verify(), ("valid: 9 events\n".to_string(), Some(0)), "{backend:?}");

        db.as_superuser(vec![db.statement(
            "UPDATE audit_events SET line = REPLACE(line, ?, ?) WHERE chain = ? AND seq = ?",
            vec!["login_failed".into(), "login_passed".into(), "default".into(), 4i64.into()],
        )]);
        assert_eq!(verify(), ("BROKEN at seq 4: hash mismatch\n".to_string(), Some(1)), "{backend:?}");
    }
}
