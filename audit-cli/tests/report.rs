//! `audit-trail report (access|privileged|failures|subject|last-change) --db`: each report returns the
//! expected events or actors of the known trail (see `common::known_trail`), in each format.

mod common;
use common::*;

fn report(db: &TestDb, args: &[&str]) -> std::process::Output {
    let mut all = vec!["report"];
    all.extend_from_slice(&args[..1]);
    all.extend(["--db", db.url()]);
    all.extend_from_slice(&args[1..]);
    run(&all)
}

/// The seqs a JSON report of chain `default` returns (unless `args` name a chain).
fn found(db: &TestDb, args: &[&str]) -> Vec<u64> {
    let mut all = args.to_vec();
    if !args.contains(&"--chain") {
        all.extend(["--chain", "default"]);
    }
    all.extend(["--format", "json"]);
    let output = report(db, &all);
    assert_exit(&output, 0);
    seqs(&stdout(&output))
}

fn access_report_names_who_touched_a_record(db: &TestDb) {
    known_trail(db);
    let users_42 = ["access", "--resource-type", "users", "--resource-id", "42"];
    assert_eq!(found(db, &users_42), [1, 3, 6, 7, 11, 12]);
    let feb = [&users_42[..], &["--since", "2026-02-01", "--until", "2026-03-01"]].concat();
    assert_eq!(found(db, &feb), [6, 7]);
    assert_eq!(found(db, &[&users_42[..], &["--action", "export"]].concat()), [7]);
    assert_eq!(found(db, &[&users_42[..], &["--chain", "tenant-b"]].concat()), [1]);
    // Without --chain, every chain.
    let output = report(db, &[&users_42[..], &["--format", "json"]].concat());
    let chains: Vec<String> = positions(&stdout(&output)).into_iter().map(|(chain, _)| chain).collect();
    assert_eq!(chains, [&["default"; 6][..], &["tenant-b"]].concat());
    let output = report(db, &[&users_42[..], &["--chain", "default", "--limit", "4", "--format", "json"]].concat());
    assert_eq!(seqs(&stdout(&output)), [1, 3, 6, 7]);
    assert!(stderr(&output).contains("more match"), "{}", stderr(&output));

    let output = report(db, &[&users_42[..], &["--format", "table"]].concat());
    assert_exit(&output, 0);
    let table = stdout(&output);
    for who in ["alice (user)", "root (admin)", "carol (user)", "exporter (system)"] {
        assert!(table.contains(who), "{who} in\n{table}");
    }
    let output = report(db, &[&users_42[..], &["--chain", "default", "--format", "csv"]].concat());
    let rows = csv::Reader::from_reader(output.stdout.as_slice()).records().count();
    assert_eq!(rows, 6);

    let output = report(db, &["access", "--resource-type", "users"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--resource-id"), "a record needs its id: {}", stderr(&output));
}
on_all_backends!(access_report_names_who_touched_a_record);

fn privileged_report_lists_admin_system_and_tagged_actions(db: &TestDb) {
    known_trail(db);
    assert_eq!(found(db, &["privileged"]), [3, 7, 8, 9]);
    // Failed logins of privileged accounts.
    assert_eq!(found(db, &["privileged", "--action", "login", "--outcome", "failure", "--outcome", "denied"]), [8]);
    assert_eq!(found(db, &["privileged", "--since", "2026-03-01"]), Vec::<u64>::new());
    assert_eq!(found(db, &["privileged", "--chain", "tenant-b"]), Vec::<u64>::new());
    let output = report(db, &["privileged", "--format", "table"]);
    let table = stdout(&output);
    for cell in ["root (admin)", "exporter (system)", "mallory (admin)", "dave (user)", "orders/7"] {
        assert!(table.contains(cell), "{cell} in\n{table}");
    }
}
on_all_backends!(privileged_report_lists_admin_system_and_tagged_actions);

fn failures_report_counts_failed_and_denied_events_per_actor(db: &TestDb) {
    known_trail(db);
    let output = report(db, &["failures", "--min", "3", "--format", "json"]);
    assert_exit(&output, 0);
    let rows: Vec<serde_json::Value> =
        stdout(&output).lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    assert_eq!(
        rows,
        [serde_json::json!({
            "actor_id": "bob", "actor_kinds": ["user"], "failures": 4,
            "first": "2026-01-01T10:00:00.000002Z", "last": "2026-03-01T10:00:00.000013Z"
        })]
    );
    let actors = |args: &[&str]| -> Vec<(String, u64)> {
        let mut all = vec!["failures"];
        all.extend_from_slice(args);
        all.extend(["--format", "csv"]);
        let output = report(db, &all);
        assert_exit(&output, 0);
        csv::Reader::from_reader(output.stdout.as_slice())
            .records()
            .map(|r| {
                let r = r.expect("row");
                (r[0].to_string(), r[2].parse().expect("a count"))
            })
            .collect()
    };
    let pair = |actor: &str, n: u64| (actor.to_string(), n);
    assert_eq!(actors(&["--min", "1", "--chain", "default"]), [pair("bob", 4), pair("mallory", 1)], "most first");
    assert_eq!(actors(&["--min", "1"]), [pair("bob", 4), pair("eve", 1), pair("mallory", 1)], "every chain");
    assert_eq!(actors(&["--min", "1", "--chain", "tenant-b"]), [pair("eve", 1)]);
    assert_eq!(actors(&["--min", "2", "--since", "2026-02-01"]), [pair("bob", 2)]);
    assert_eq!(actors(&["--min", "1", "--action", "export"]), Vec::<(String, u64)>::new());

    // The default threshold (5) is not reached.
    let output = report(db, &["failures", "--format", "table"]);
    assert_exit(&output, 0);
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).contains("no matching rows"), "{}", stderr(&output));
    let output = report(db, &["failures", "--min", "4", "--format", "table"]);
    assert!(stdout(&output).contains("bob (user)"), "{}", stdout(&output));
    let output = report(db, &["failures", "--min", "0"]);
    assert_exit(&output, 2);
    let output = report(db, &["failures", "--chain", "tenant-c"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("chain \"tenant-c\" has no events"), "{}", stderr(&output));
}
on_all_backends!(failures_report_counts_failed_and_denied_events_per_actor);

fn subject_report_finds_the_person_as_actor_and_as_resource(db: &TestDb) {
    known_trail(db);
    // Subject 42: the actor of seq 10 (an export of users/99) and the resource of users/42.
    assert_eq!(found(db, &["subject", "--subject-id", "42"]), [1, 3, 6, 7, 10, 11, 12]);
    // Only records of the types named count as the person's; as actor, whatever the resource.
    assert_eq!(found(db, &["subject", "--subject-id", "42", "--resource-type", "orders"]), [10]);
    let both = ["subject", "--subject-id", "42", "--resource-type", "orders", "--resource-type", "users"];
    assert_eq!(found(db, &both), [1, 3, 6, 7, 10, 11, 12]);
    assert_eq!(found(db, &["subject", "--subject-id", "7"]), [9], "orders/7");
    assert_eq!(found(db, &["subject", "--subject-id", "7", "--resource-type", "users"]), Vec::<u64>::new());
    assert_eq!(found(db, &["subject", "--subject-id", "alice"]), [1, 11], "what alice did");
    // Every export of the person's data, and by them; a period.
    assert_eq!(found(db, &["subject", "--subject-id", "42", "--action", "export"]), [7, 10]);
    let february = ["subject", "--subject-id", "42", "--since", "2026-02-01", "--until", "2026-03-01"];
    assert_eq!(found(db, &february), [6, 7, 10]);

    // Without --chain, every chain.
    let output = report(db, &["subject", "--subject-id", "42", "--format", "json"]);
    assert_exit(&output, 0);
    let chains: Vec<String> = positions(&stdout(&output)).into_iter().map(|(chain, _)| chain).collect();
    assert_eq!(chains, [&["default"; 7][..], &["tenant-b"]].concat());
    let output =
        report(db, &["subject", "--subject-id", "42", "--chain", "default", "--limit", "2", "--format", "json"]);
    assert_eq!(seqs(&stdout(&output)), [1, 3]);
    assert!(stderr(&output).contains("more match"), "{}", stderr(&output));
    let output = report(db, &["subject", "--subject-id", "42", "--format", "table"]);
    assert_exit(&output, 0);
    let table = stdout(&output);
    for cell in ["42 (user)", "users/99", "exporter (system)", "users/42"] {
        assert!(table.contains(cell), "{cell} in\n{table}");
    }

    // Nobody's events: an empty answer, said on stderr.
    let output = report(db, &["subject", "--subject-id", "nobody", "--format", "json"]);
    assert_exit(&output, 0);
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).contains("no matching events"), "{}", stderr(&output));
    let output = report(db, &["subject", "--resource-type", "users"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--subject-id"), "a subject needs its id: {}", stderr(&output));
    // An empty id names no one (the known trail's sessions have one): refused, not every login.
    let output = report(db, &["subject", "--subject-id", "", "--format", "json"]);
    assert_exit(&output, 2);
    assert!(output.stdout.is_empty());
}
on_all_backends!(subject_report_finds_the_person_as_actor_and_as_resource);

fn last_change_report_gives_each_fields_value_before(db: &TestDb) {
    known_trail(db);
    db.record(
        "tenant-c",
        vec![
            audit_core::EventDraft::new("create")
                .actor(audit_core::Actor::admin("root"))
                .resource("users", "77")
                .change("email", None, Some(serde_json::json!("n@x")))
                .change("nick", None, Some(serde_json::Value::Null)),
        ],
    );
    let users_42 = ["last-change", "--resource-type", "users", "--resource-id", "42"];
    // JSON: the event's stored line, once (the evidence, old and new values inside).
    assert_eq!(found(db, &users_42), [11]);
    let output = report(db, &[&users_42[..], &["--format", "json"]].concat());
    assert_eq!(positions(&stdout(&output)), [("default".to_string(), 11)], "latest over every chain");

    // CSV: one row per changed field, values as canonical JSON.
    let rows = |args: &[&str]| -> Vec<Vec<String>> {
        let output = report(db, &[args, &["--format", "csv"]].concat());
        assert_exit(&output, 0);
        let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
        let header: Vec<String> = reader.headers().expect("a header row").iter().map(str::to_string).collect();
        assert_eq!(&header[..3], ["field", "old", "new"]);
        reader.records().map(|r| r.expect("row").iter().map(str::to_string).collect()).collect()
    };
    let found_rows = rows(&users_42);
    assert_eq!(found_rows.len(), 1);
    assert_eq!(found_rows[0][..3], ["email", r#""b@x""#, r#""c@x""#]);
    assert_eq!(found_rows[0][4..7], ["alice", "user", "update"]);
    assert_eq!(found_rows[0][10..12], ["default", "11"]);
    let orders_7 = rows(&["last-change", "--resource-type", "orders", "--resource-id", "7"]);
    assert_eq!(orders_7.iter().map(|r| &r[..3]).collect::<Vec<_>>(), [["total", "10", "12"]]);
    // A creation: no value before (empty), and a null is a value.
    let users_77 = rows(&["last-change", "--resource-type", "users", "--resource-id", "77"]);
    assert_eq!(users_77.iter().map(|r| &r[..3]).collect::<Vec<_>>(), [["email", "", r#""n@x""#], ["nick", "", "null"]]);

    let output = report(db, &["last-change", "--resource-type", "users", "--resource-id", "77", "--format", "table"]);
    assert_exit(&output, 0);
    let table = stdout(&output);
    for cell in ["email", "(absent)", r#""n@x""#, "nick", "null", "root (admin)", "create", "tenant-c"] {
        assert!(table.contains(cell), "{cell} in\n{table}");
    }

    // tenant-b's event on users/42 changed nothing: no change there.
    let output = report(db, &[&users_42[..], &["--chain", "tenant-b", "--format", "json"]].concat());
    assert_exit(&output, 0);
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).contains("no change of users/42 is stored"), "{}", stderr(&output));
    let output = report(db, &["last-change", "--resource-type", "users", "--resource-id", "1000"]);
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("no change of users/1000 is stored"), "{}", stderr(&output));

    let output = report(db, &["last-change", "--resource-type", "users"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--resource-id"), "{}", stderr(&output));
    let output = report(db, &[&users_42[..], &["--since", "2026-01-01"]].concat());
    assert_exit(&output, 2);
    let output = report(db, &[&users_42[..], &["--chain", "tenant-z"]].concat());
    assert_exit(&output, 2);
}
on_all_backends!(last_change_report_gives_each_fields_value_before);
