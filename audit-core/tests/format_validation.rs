//! Validation: what SPEC §1 forbids is refused with a clear "bad format" error, both when
//! parsing any JSON (`Event::from_json`) and when checking a stored line (`line::inspect`).

use audit_core::Event;
use audit_core::line::inspect;
use serde_json::{Value, json};

fn valid() -> Value {
    json!({
        "v": 1, "chain": "default", "seq": 3, "id": "0192f0c1-7b6e-7cc0-8000-0000000000aa",
        "ts": "2026-11-23T10:15:30.123456Z",
        "actor": {"id": "alice", "kind": "admin", "auth": "oidc"},
        "action": "update", "resource": {"type": "users", "id": "42"}, "outcome": "success",
        "reason": "because", "context": {"ip": "203.0.113.7", "status": 200, "duration_us": 15},
        "changes": [{"field": "email", "old": "a@x", "new": "b@x"}, {"field": "role", "old": null, "new": "admin"}],
        "details": {"ticket": "CHG-1", "ratio": 0.5}, "justification": "review", "tags": ["a", "privileged"],
        "prev": "0".repeat(64), "hash": "ab".repeat(32)
    })
}

fn with(path: &[&str], value: Option<Value>) -> String {
    let mut event = valid();
    let mut target = &mut event;
    for key in &path[..path.len() - 1] {
        target = match key.parse::<usize>() {
            Ok(i) => &mut target[i],
            Err(_) => &mut target[*key],
        };
    }
    let last = path[path.len() - 1];
    let object = target.as_object_mut().expect("an object");
    match value {
        Some(value) => object.insert(last.to_string(), value),
        None => object.remove(last),
    };
    event.to_string()
}

#[test]
fn a_valid_event_parses_and_its_canonical_line_inspects() {
    let event = Event::from_json(&valid().to_string()).expect("valid");
    assert_eq!(event.seq, 3);
    assert_eq!(event.changes[1].old, Some(Value::Null), "null inside changes is kept, not dropped");
    let info = inspect(event.to_canonical_line().as_bytes()).expect("canonical");
    assert_eq!(info.seq, 3);
    assert_ne!(info.computed, info.declared, "the hash in the fixture is made up");
}

#[test]
fn what_spec_forbids_is_refused_with_a_reason() {
    let cases: Vec<(&[&str], Option<Value>, &str)> = vec![
        (&["actor", "kind"], Some(json!("root")), "actor.kind"),
        (&["actor", "id"], None, "\"actor\" needs"),
        (&["outcome"], Some(json!("ok")), "outcome"),
        (&["reason"], Some(Value::Null), "\"reason\" must be a string"),
        (&["justification"], Some(json!(5)), "\"justification\" must be a string"),
        (&["context"], Some(json!({})), "\"context\" is {}"),
        (&["context", "status"], Some(json!(200.5)), "context.status"),
        (&["context", "duration_us"], Some(json!(-9007199254740993i64)), "beyond 2^53"),
        (&["context", "status"], Some(json!(1e21)), "context.status"),
        (&["context", "ip"], Some(Value::Null), "context field"),
        (&["changes"], Some(json!([])), "\"changes\" is []"),
        (&["changes"], Some(json!([{"field": "z"}, {"field": "a"}])), "sorted by field"),
        (&["changes"], Some(json!([{"old": 1}])), "no \"field\""),
        (&["tags"], Some(json!(["z", "a"])), "\"tags\" must be sorted"),
        (&["tags"], Some(json!([])), "\"tags\" is []"),
        (&["tags"], Some(json!(["\u{e000}", "\u{1F600}"])), "\"tags\" must be sorted"),
        (&["details"], Some(json!({})), "\"details\" is {}"),
        (&["details"], Some(json!([1])), "\"details\" must be an object"),
        (&["seq"], Some(json!(1.5)), "\"seq\""),
        (&["seq"], Some(json!(0)), "starts at 1"),
        (&["seq"], Some(json!(9007199254740993u64)), "beyond 2^53"),
        (&["details", "big"], Some(json!(-9007199254740993i64)), "beyond 2^53"),
        (&["v"], Some(json!(2)), "\"v\" must be 1"),
        (&["ts"], Some(json!("2026-11-23T10:15:30Z")), "\"ts\""),
        (&["ts"], Some(json!("2026-02-30T10:15:30.123456Z")), "\"ts\""),
        (&["id"], Some(json!("0192F0C1-7B6E-7CC0-8000-0000000000AA")), "\"id\""),
        (&["prev"], Some(json!("AB".repeat(32))), "\"prev\""),
        (&["hash"], Some(json!("ab".repeat(31))), "\"hash\""),
        (&["actor"], None, "missing field \"actor\""),
        (&["resource"], Some(json!({"type": "users"})), "\"resource\" needs"),
        (&["action"], Some(json!(["update"])), "\"action\" must be a string"),
        (&["chain"], None, "missing field \"chain\""),
    ];
    assert_eq!(cases.len(), 32);
    for (path, value, expected) in cases {
        let text = with(path, value.clone());
        let error = Event::from_json(&text).expect_err(&format!("{path:?} = {value:?} must be refused"));
        assert!(error.message().contains(expected), "{path:?}: {error} (wanted {expected:?})");
    }
}

/// SPEC §1 says only "integer" for `context.status` and `context.duration_us`, and "sorted" for
/// `tags` and `changes`: negative integers, and a tag or a field twice, are valid events. (The
/// verifier refused them: an outside writer's trail that the SPEC calls valid was "bad
/// format" here.) They verify in a chain and keep their bytes.
#[test]
fn what_spec_allows_is_accepted_and_verifies() {
    use audit_core::EventHash;
    use audit_core::verify::{ChainVerifier, verify_reader};
    let cases: Vec<(&[&str], Value)> = vec![
        (&["context", "status"], json!(-1)),
        (&["context", "duration_us"], json!(-15)),
        (&["context", "status"], json!(9007199254740992u64)),
        (&["context", "duration_us"], json!(-9007199254740992i64)),
        (&["context", "status"], json!(0)),
        (&["tags"], json!(["a", "a", "privileged"])),
        (&["tags"], json!(["\u{1F600}", "\u{e000}"])), // UTF-16 order: a surrogate before U+E000
        (&["changes"], json!([{"field": "email", "old": "a@x"}, {"field": "email", "new": "b@x"}])),
    ];
    for (path, value) in cases {
        let mut event = Event::from_json(&with(path, Some(value.clone())))
            .unwrap_or_else(|e| panic!("{path:?} = {value} is a valid event: {e}"));
        event.seq = 1;
        event.prev = EventHash::ZERO;
        event.hash = event.compute_hash();
        let line = event.to_canonical_line();
        assert!(line.contains(&value.to_string()), "{path:?}: {value} kept as written in {line}");
        let report = verify_reader(format!("{line}\n").as_bytes(), ChainVerifier::from_genesis()).expect("in memory");
        assert!(report.is_valid(), "{path:?} = {value}: {report:?}");
        assert_eq!(Event::from_canonical_line(&line).expect("parses").to_canonical_line(), line, "{path:?}");
    }
}

#[test]
fn non_canonical_lines_are_refused_by_inspect() {
    let line = Event::from_json(&valid().to_string()).expect("valid").to_canonical_line();
    let variants = [
        line.replacen(",\"actor\"", ", \"actor\"", 1),       // white space
        line.replacen("\"ratio\":0.5", "\"ratio\":5e-1", 1), // number form
        line.replacen("\"CHG-1\"", "\"CHG\\u002d1\"", 1),    // needless escape
        line.replacen("{\"auth\":\"oidc\",\"id\":\"alice\"", "{\"id\":\"alice\",\"auth\":\"oidc\"", 1), // key order
        format!("{line} "),                                  // trailing bytes
        line.replacen("\"ticket\":\"CHG-1\"", "\"ticket\":\"CHG-1\",\"ticket\":\"CHG-2\"", 1), // repeated key
    ];
    for (i, variant) in variants.iter().enumerate() {
        assert_ne!(variant, &line, "variant {i} changed nothing");
        assert!(inspect(variant.as_bytes()).is_err(), "variant {i} accepted: {variant}");
    }
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let nested = line.replacen("\"ratio\":0.5", &format!("\"ratio\":{deep}"), 1);
    assert!(inspect(nested.as_bytes()).expect_err("too deep").message().contains("nested too deep"));
}

#[test]
fn huge_or_garbage_input_is_an_error_not_a_panic() {
    for input in ["", "{", "}", "[]", "null", "{\"v\":1", "\u{0}", "{\"a\":\"\\ud800\"}"] {
        assert!(Event::from_json(input).is_err(), "{input:?}");
        assert!(inspect(input.as_bytes()).is_err(), "{input:?}");
    }
    assert!(inspect(b"{\"action\":\"\xff\"}").is_err());
    // A huge but well-formed event is not an error (the writer's size limit is a policy).
    let huge = with(&["details", "blob"], Some(json!("x".repeat(5_000_000))));
    let event = Event::from_json(&huge).expect("well-formed");
    assert!(inspect(event.to_canonical_line().as_bytes()).is_ok());
}

#[test]
fn raw_control_characters_are_refused_anywhere() {
    let line = Event::from_json(&valid().to_string()).expect("valid").to_canonical_line();
    for (what, variant) in [
        ("in a string", line.replacen("CHG-1", "CHG\u{1}1", 1)),
        ("a raw tab in a string", line.replacen("CHG-1", "CHG\t1", 1)),
        ("a newline between tokens", line.replacen(",\"actor\"", ",\n\"actor\"", 1)),
    ] {
        let error = inspect(variant.as_bytes()).expect_err(what);
        assert!(error.message().contains("raw control character"), "{what}: {error}");
    }
}
