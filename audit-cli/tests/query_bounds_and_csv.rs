//! `audit-trail query` answers faithfully to its time bounds, and its CSV holds every field.

mod common;
use common::*;

use audit_core::{Actor, Context, EventDraft};

fn query(db: &TestDb, args: &[&str]) -> std::process::Output {
    let mut all = vec!["query", "--db", db.url()];
    all.extend_from_slice(args);
    run(&all)
}

fn found(db: &TestDb, args: &[&str]) -> Vec<u64> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let output = query(db, &all);
    assert_exit(&output, 0);
    seqs(&stdout(&output))
}

/// `--since` is "at or after", `--until` "before (exclusive)", for any RFC 3339 time: a bound
/// between two microseconds is the next one (a truncation moved it earlier: `--since
/// …00.0000015` returned the event at …00.000001).
fn sub_microsecond_bounds(backend: Backend) {
    // The namespace is dropped (cleaned up) before asserting.
    let Some(db) = TestDb::open(backend, "sub_micro_bounds") else { return };
    known_trail(&db);
    // Events of the known trail: seq 1 at 2026-01-01T10:00:00.000001Z, seq 2 at …000002Z.
    let until = found(&db, &["--until", "2026-01-01T10:00:00.0000015Z"]);
    let since = found(&db, &["--since", "2026-01-01T10:00:00.0000015Z", "--until", "2026-01-01T10:00:00.000003Z"]);
    drop(db);
    assert_eq!(
        (until, since),
        (vec![1], vec![2]),
        "seq 1 (…00.000001) is before …00.0000015: --until must include it, --since must exclude it"
    );
}

#[test]
fn sub_microsecond_bounds_are_honoured_sqlite() {
    sub_microsecond_bounds(Backend::Sqlite);
}

#[test]
fn sub_microsecond_bounds_are_honoured_postgres() {
    sub_microsecond_bounds(Backend::Postgres);
}

#[test]
fn sub_microsecond_bounds_are_honoured_mysql() {
    sub_microsecond_bounds(Backend::MySql);
}

/// `--format csv`: "a header row, then every field as text, values exact" (output.rs), SPEC §1's
/// `v`, `prev`, `actor.auth`, `actor.session` and the request context included.
#[test]
fn csv_holds_every_field() {
    let Some(db) = TestDb::open(Backend::Sqlite, "csv_every_field") else { return };
    let context = Context {
        ip: Some("10.0.0.9".into()),
        method: Some("PUT".into()),
        route: Some("/users/{id}".into()),
        path: Some("/users/42".into()),
        status: Some(204),
        duration_us: Some(777_123),
        ..Context::default()
    };
    db.record(
        "default",
        vec![
            EventDraft::new("PUT /users/{id}")
                .actor(Actor::user("alice").with_auth("oidc-mfa").with_session("sess-9f3a"))
                .resource("users", "42")
                .context(context),
        ],
    );
    let output = query(&db, &["--format", "csv"]);
    let stored = db.stored_lines("default");
    drop(db); // cleaned up before asserting
    assert_exit(&output, 0);
    let csv = stdout(&output);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let fields: Vec<String> =
        reader.records().flat_map(|r| r.expect("a CSV row").iter().map(str::to_string).collect::<Vec<_>>()).collect();
    let event = audit_core::Event::from_canonical_line(&stored[0].1).expect("event");
    let prev = event.prev.to_string();
    // A value is kept if some field is that value, or holds it inside JSON.
    let kept = |value: &str| {
        fields.iter().any(|f| f == value || f.contains(&format!("\"{value}\"")) || f.contains(&format!(":{value}")))
    };
    let lost: Vec<&str> = ["oidc-mfa", "sess-9f3a", "/users/42", "204", "777123", prev.as_str()]
        .into_iter()
        .filter(|value| !kept(value))
        .collect();
    assert!(lost.is_empty(), "the CSV lost the field values {lost:?} of the event:\n{csv}");
}

/// An event another implementation wrote, with members SPEC §1 does not define (it lets them;
/// they are hashed): the CSV's last column `added_fields` holds them, where they stand, as one
/// JSON object (the CSV dropped them: an auditor's spreadsheet lacked recorded, hashed data).
#[test]
fn csv_keeps_the_members_another_implementation_added() {
    use audit_core::store::{AuditStore, Head};
    use audit_core::{EventHash, SealedEvent};
    use audit_seaorm::SqlStore;
    let Some(db) = TestDb::open(Backend::Sqlite, "csv_added_fields") else { return };
    let mut event = serde_json::json!({
        "v": 1, "chain": "default", "seq": 1, "id": "0192f0c1-7b6e-7cc0-8000-000000000001",
        "ts": "2026-01-01T00:00:00.000000Z", "actor": {"id": "alice", "kind": "user", "team": "ops"},
        "action": "update", "resource": {"type": "users", "id": "42"}, "outcome": "success",
        "context": {"ip": "10.0.0.9", "geo": {"cc": "de"}},
        "changes": [{"field": "weight", "old": 1, "new": 2, "unit": "kg"}],
        "x_writer": "another implementation", "prev": EventHash::ZERO, "hash": EventHash::ZERO,
    });
    let unhashed = audit_core::canonical::to_string(&event);
    event["hash"] = serde_json::json!(audit_core::line::inspect(unhashed.as_bytes()).expect("canonical").computed);
    let line = audit_core::canonical::to_string(&event);
    db.block_on(async {
        let store = SqlStore::new(db.connect_async().await).expect("supported backend");
        store.migrate().await.expect("schema");
        let sealed = SealedEvent::from_line(line).expect("a stored line");
        store.append("default", Head::EMPTY, &[sealed]).await.expect("appended");
        store.connection().clone().close().await.expect("close");
    });
    let output = query(&db, &["--format", "csv"]);
    drop(db);
    assert_exit(&output, 0);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let header = reader.headers().expect("a header").clone();
    let column = header.iter().position(|name| name == "added_fields").expect("an added_fields column");
    let rows: Vec<csv::StringRecord> = reader.records().map(|row| row.expect("a row")).collect();
    assert_eq!(rows.len(), 1);
    let added: serde_json::Value = serde_json::from_str(&rows[0][column]).expect("JSON");
    assert_eq!(
        added,
        serde_json::json!({
            "actor": {"team": "ops"},
            "changes": [{"field": "weight", "unit": "kg"}],
            "context": {"geo": {"cc": "de"}},
            "x_writer": "another implementation",
        })
    );
}

/// A period with no time in it (`--since` at or after `--until`) is a usage error, not "no
/// matching events", which an auditor would read as an answer.
#[test]
fn an_empty_period_is_refused() {
    let Some(db) = TestDb::open(Backend::Sqlite, "empty_period") else { return };
    known_trail(&db);
    for (since, until) in [("2026-12-01", "2026-11-01"), ("2026-01-01T10:00:00Z", "2026-01-01T11:00:00+01:00")] {
        for args in [
            vec!["query", "--db", db.url(), "--since", since, "--until", until],
            vec!["report", "failures", "--db", db.url(), "--since", since, "--until", until],
            vec![
                "report",
                "access",
                "--db",
                db.url(),
                "--resource-type",
                "doc",
                "--resource-id",
                "x",
                "--since",
                since,
                "--until",
                until,
            ],
            vec!["report", "privileged", "--db", db.url(), "--since", since, "--until", until],
        ] {
            let output = run(&args);
            assert_exit(&output, 2);
            assert!(stderr(&output).contains("is not before --until"), "{args:?}: {}", stderr(&output));
            assert!(output.stdout.is_empty(), "{args:?}");
        }
    }
}

/// `--format csv` and `--format json` on a terminal show control and bidirectional characters
/// escaped, as the table does: a recorded `ESC [` sequence or a C1 control (U+009B, CSI)
/// reached the auditor's terminal raw. Piped, the output stays exact. (Run under a pseudo
/// terminal by util-linux `script`.)
#[test]
fn csv_and_json_on_a_terminal_escape_control_characters() {
    let Some(db) = TestDb::open(Backend::Sqlite, "terminal_escapes") else { return };
    let context = Context { user_agent: Some("evil\u{1b}[2Jagent".into()), ..Context::default() };
    db.record("default", vec![EventDraft::new("update").resource("doc", "x\u{9b}31my").context(context)]);
    let on_terminal = |format: &str| {
        let command = format!("'{}' query --db '{}' --format {format}", env!("CARGO_BIN_EXE_audit-trail"), db.url());
        let output = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .output()
            .expect("run util-linux script");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let (csv, json) = (on_terminal("csv"), on_terminal("json"));
    let piped = stdout(&query(&db, &["--format", "csv"]));
    drop(db);
    for (format, shown) in [("csv", &csv), ("json", &json)] {
        assert!(!shown.contains(['\u{1b}', '\u{9b}']), "{format} on a terminal: {shown:?}");
        assert!(shown.contains("\\u{9b}31my"), "{format}: the value is shown, escaped: {shown:?}");
    }
    assert!(csv.contains("evil\\u{1b}[2Jagent"), "{csv:?}");
    assert!(piped.contains("evil\u{1b}[2Jagent") && piped.contains("x\u{9b}31my"), "piped: exact: {piped:?}");
}
