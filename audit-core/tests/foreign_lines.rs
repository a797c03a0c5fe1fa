//! Lines another writer may write, as SPEC §1–§3 allow them: members added at every level, any
//! integer where SPEC says integer, a leap second. Verification accepts them exactly when they
//! are canonical, and a line it accepts parses back into an `Event`; `Event::from_json` refuses
//! what is not I-JSON.

use audit_core::Event;
use audit_core::canonical;
use audit_core::line::{check_canonical, inspect};
use audit_core::verify::{ChainVerifier, VerifyReport, verify_reader};
use fastrand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A SPEC §1 event at `seq` after `prev` (no hash yet).
fn event(seq: u64, prev: &str) -> Value {
    json!({
        "v": 1, "chain": "default", "seq": seq, "id": format!("0192f0c1-7b6e-7cc0-8000-{seq:012x}"),
        "ts": "2026-11-23T10:15:30.123456Z",
        "actor": {"id": "alice", "kind": "admin"},
        "action": "update", "resource": {"type": "users", "id": "42"}, "outcome": "success",
        "prev": prev,
    })
}

/// The slow path of SPEC §2: `hash` = SHA-256 of canonical(event without `hash`), then the
/// §3 line = canonical(event with `hash`). Returns (line, hash).
fn seal(mut value: Value) -> (String, String) {
    let object = value.as_object_mut().expect("an object");
    object.remove("hash");
    let hash = hex(&Sha256::digest(canonical::to_string(&value).as_bytes()));
    value.as_object_mut().expect("an object").insert("hash".into(), json!(hash));
    (canonical::to_string(&value), hash)
}

fn verify(lines: &[String], verifier: ChainVerifier) -> VerifyReport {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    verify_reader(text.as_bytes(), verifier).expect("in memory")
}

/// SPEC §1: `ts` is "UTC time, RFC 3339, exactly 6 fractional digits and `Z`". RFC 3339 §5.6
/// (`time-second = 2DIGIT ; 00-58, 00-59, 00-60 based on leap second rules`, and §5.7's
/// example `1990-12-31T23:59:60Z`) makes second 60 a valid UTC time at a leap second, such as
/// 2016-12-31T23:59:60 UTC.
#[test]
fn a_leap_second_is_an_rfc_3339_utc_time() {
    let mut value = event(1, ZERO);
    value["ts"] = json!("2016-12-31T23:59:60.500000Z");
    let (line, _) = seal(value);
    let result = inspect(line.as_bytes());
    assert!(result.is_ok(), "{result:?}");
    assert!(verify(std::slice::from_ref(&line), ChainVerifier::from_genesis()).is_valid());
    let parsed = Event::from_canonical_line(&line).expect("parses back");
    assert_eq!(parsed.to_canonical_line(), line, "written back as read");
}

/// SPEC §1: `context.status` is an integer; the line checker accepts `70000` (any integer up
/// to 2^53), and a line verification calls valid parses back (`Event::from_canonical_line`,
/// used by `SealedEvent::from_line`, hence `JsonlStore::query`, and by the CLI's export
/// checks).
#[test]
fn a_line_the_verifier_accepts_parses_back() {
    let mut value = event(1, ZERO);
    value["context"] = json!({"status": 70000});
    let (line, _) = seal(value);
    let report = verify(std::slice::from_ref(&line), ChainVerifier::from_genesis());
    assert!(report.is_valid(), "{report:?}");
    let parsed = Event::from_canonical_line(&line);
    assert!(parsed.is_ok(), "verify says valid, parse-back says {parsed:?}");
}

/// `Event::from_json` "parses and validates one event from any JSON text". RFC 8785 §3.1
/// (SPEC §2's canonical form) takes I-JSON, and RFC 7493 §2.3: "Objects in I-JSON messages
/// MUST NOT have members with duplicate names". Keeping one of two (as serde_json's map does)
/// would return another event than the text that was validated.
#[test]
fn from_json_refuses_duplicate_member_names() {
    let (line, _) = seal(event(1, ZERO));
    let duplicated = line.replacen("\"outcome\":\"success\"", "\"outcome\":\"bogus\",\"outcome\":\"success\"", 1);
    assert_ne!(duplicated, line);
    assert!(inspect(duplicated.as_bytes()).is_err(), "the line checker refuses it");
    let parsed = Event::from_json(&duplicated);
    assert!(parsed.is_err(), "duplicate \"outcome\" accepted: {:?}", parsed.map(|e| e.outcome));
}

// ---------------------------------------------------------------------------------------------
// Events with members another implementation added, at every level, with keys chosen to sit
// next to, inside and around SPEC's keys
// ---------------------------------------------------------------------------------------------

/// Pieces of extra keys: SPEC names and their neighbours in UTF-16 order, characters that
/// need escapes, and characters whose UTF-8 and UTF-16 orders differ.
const PIECES: &[&str] = &[
    "",
    "a",
    "act",
    "action",
    "actiom",
    "actor",
    "actos",
    "auth",
    "b",
    "chain",
    "chaim",
    "changes",
    "changer",
    "context",
    "d",
    "details",
    "field",
    "h",
    "hash",
    "hasg",
    "i",
    "id",
    "ic",
    "ie",
    "ip",
    "justification",
    "kind",
    "new",
    "old",
    "outcome",
    "prev",
    "prew",
    "reason",
    "resource",
    "session",
    "seq",
    "status",
    "tags",
    "ts",
    "tr",
    "tt",
    "type",
    "v",
    "w",
    "z",
    "é",
    "\u{e000}",
    "\u{ffff}",
    "\u{10000}",
    "\u{1f600}",
    "\"",
    "\\",
    "\n",
    "\u{1}",
    "\u{1f}",
    "\u{7f}",
    "/",
    " ",
];

fn extra_key(rng: &mut Rng, taken: &[&str]) -> Option<String> {
    let key =
        format!("{}{}", rng.choice(PIECES).expect("a non-empty list"), rng.choice(PIECES).expect("a non-empty list"));
    (!taken.contains(&key.as_str())).then_some(key)
}

/// Where an added member is: inside `details` or `changes`, where SPEC §1 allows floats, or
/// anywhere else, where its numbers must be integers.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    FloatsAllowed,
    IntegersOnly,
}

fn extra_value(rng: &mut Rng, place: Place) -> Value {
    match rng.usize(..8) {
        0 => Value::Null,
        1 => json!(rng.usize(..2) == 0),
        2 => json!(rng.u64(..) as i64 >> rng.usize(..64)),
        // Any double inside details and changes; elsewhere an integral one, which ES6 writes
        // as digits below 10^21 and as `d.ddde+NN` from there.
        3 => {
            let double = f64::from_bits(rng.u64(..)).clamp(-1e300, 1e300);
            json!(if place == Place::FloatsAllowed { double } else { double.trunc() })
        }
        4 => json!(rng.choice(PIECES).expect("a non-empty list").repeat(rng.usize(..3))),
        5 => json!([rng.usize(..100), {"k": rng.choice(PIECES).expect("a non-empty list").to_string()}]),
        6 => json!({}),
        _ => json!({ rng.choice(PIECES).expect("a non-empty list").to_string(): [], "x": {"y": rng.usize(..9)} }),
    }
}

fn add_extras(rng: &mut Rng, object: &mut Value, taken: &[&str], place: Place) {
    for _ in 0..rng.usize(..4) {
        if let Some(key) = extra_key(rng, taken) {
            let value = extra_value(rng, place);
            object.as_object_mut().expect("object").insert(key, value);
        }
    }
}

fn random_event(rng: &mut Rng) -> Value {
    let mut value = event(1 + rng.usize(..1000) as u64, &hex(&Sha256::digest(rng.u64(..).to_le_bytes())));
    if rng.usize(..2) == 0 {
        value["context"] = json!({"ip": "203.0.113.7", "status": 200});
        add_extras(
            rng,
            &mut value["context"],
            &["duration_us", "ip", "method", "path", "request_id", "route", "status", "user_agent"],
            Place::IntegersOnly,
        );
    }
    if rng.usize(..2) == 0 {
        value["changes"] = json!([{"field": "a", "new": 1}, {"field": "b", "old": null}]);
        for i in 0..2 {
            add_extras(rng, &mut value["changes"][i], &["field", "new", "old"], Place::FloatsAllowed);
        }
    }
    if rng.usize(..2) == 0 {
        value["tags"] = json!(["privileged"]);
        value["details"] = json!({"n": 1});
        add_extras(rng, &mut value["details"], &[], Place::FloatsAllowed);
    }
    add_extras(rng, &mut value["actor"], &["auth", "id", "kind", "session"], Place::IntegersOnly);
    add_extras(rng, &mut value["resource"], &["id", "type"], Place::IntegersOnly);
    let top = [
        "action",
        "actor",
        "chain",
        "changes",
        "context",
        "details",
        "hash",
        "id",
        "justification",
        "outcome",
        "prev",
        "reason",
        "resource",
        "seq",
        "tags",
        "ts",
        "v",
    ];
    add_extras(rng, &mut value, &top, Place::IntegersOnly);
    value
}

/// How to spoil the canonical text of one object.
#[derive(Clone, Copy, PartialEq)]
enum Spoil {
    None,
    /// Swap the members at these positions of the `n`-th object written.
    Swap(usize, usize),
    /// Write this member twice.
    Repeat(usize),
}

/// Writes `value` canonically, except that the `target`-th object (depth-first) is spoilt.
fn write(value: &Value, target: usize, spoil: Spoil, counter: &mut usize, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| canonical::cmp_utf16(a.0, b.0));
            let this = *counter;
            *counter += 1;
            if this == target {
                let n = members.len();
                match spoil {
                    Spoil::Swap(i, j) if n > 1 => {
                        let (i, j) = (i % n, j % n);
                        members.swap(i, if i == j { (i + 1) % n } else { j });
                    }
                    Spoil::Repeat(i) if n > 0 => members.insert(i % n, members[i % n]),
                    _ => {}
                }
            }
            out.push('{');
            for (k, (key, member)) in members.into_iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                out.push_str(&canonical::to_string(&json!(key)));
                out.push(':');
                write(member, target, spoil, counter, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write(item, target, spoil, counter, out);
            }
            out.push(']');
        }
        other => out.push_str(&canonical::to_string(other)),
    }
}

/// Over 20 000 generated events with added members at every level, `inspect` accepts
/// every canonical line, its hash equals SHA-256 of canonical(event without hash) computed
/// the slow way (serde_json + the canonical module), and every line with two members of one
/// object swapped or one member written twice is refused — exactly when re-canonicalizing
/// the parsed text changes it.
#[test]
fn members_added_at_every_level_agree_with_the_slow_path() {
    let mut rng = Rng::with_seed(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..20_000 {
        let mut value = random_event(&mut rng);
        let (line, hash) = seal(value.clone());
        let info = inspect(line.as_bytes()).unwrap_or_else(|e| panic!("case {case}: {e}: {line}"));
        assert_eq!(info.computed.to_string(), hash, "case {case}: {line}");
        assert_eq!(info.declared.to_string(), hash, "case {case}");
        accepted += 1;

        value.as_object_mut().expect("object").insert("hash".into(), json!(hash));
        let objects = {
            let mut n = 0;
            write(&value, usize::MAX, Spoil::None, &mut n, &mut String::new());
            n
        };
        let target = rng.usize(..objects);
        let spoil = if rng.usize(..2) == 0 {
            Spoil::Swap(rng.usize(..20), rng.usize(..20))
        } else {
            Spoil::Repeat(rng.usize(..20))
        };
        let mut text = String::new();
        write(&value, target, spoil, &mut 0, &mut text);
        let reparsed: Value = serde_json::from_str(&text).expect("still JSON");
        let canonical_again = canonical::to_string(&reparsed) == text;
        let judged = inspect(text.as_bytes()).is_ok();
        assert_eq!(judged, canonical_again, "case {case}: inspect {judged}, slow path {canonical_again}: {text}");
        assert_eq!(check_canonical(text.as_bytes()).is_ok(), canonical_again, "case {case}: {text}");
        if !canonical_again {
            refused += 1;
        }
    }
    assert!(accepted == 20_000 && refused > 15_000, "{accepted} accepted, {refused} spoilt and refused");
}

/// SPEC §1: "Numbers in fields defined here are integers. Floats may appear only inside
/// `details` and `changes`": a member another implementation added, at the top or inside
/// `actor`, `resource` or `context`, may hold any JSON value but a number with a fraction
/// (however deep), while an integral double written in exponent form is an integer.
#[test]
fn floats_are_refused_outside_details_and_changes() {
    let places: [&[&str]; 4] = [&[], &["actor"], &["resource"], &["context"]];
    for place in places {
        for (number, integral) in [
            (json!(0.5), false),
            (json!(1e-7), false),
            (json!(-12.25), false),
            (json!(1.5e21), true),
            (json!(1e300), true),
            (json!(-7), true),
            (json!(9007199254740993u64), true),
        ] {
            for added in [number.clone(), json!([1, {"deep": [number.clone()]}])] {
                let mut value = event(1, ZERO);
                value["context"] = json!({"status": 200});
                let mut object = &mut value;
                for key in place {
                    object = &mut object[*key];
                }
                object["x_added"] = added.clone();
                let (line, _) = seal(value);
                let result = inspect(line.as_bytes());
                assert_eq!(result.is_ok(), integral, "{place:?} x_added = {added}: {result:?}");
                if let Err(error) = result {
                    assert!(error.message().contains("floats may appear only inside"), "{error}");
                }
                let report = verify(std::slice::from_ref(&line), ChainVerifier::from_genesis());
                assert_eq!(report.is_valid(), integral, "{place:?} x_added = {added}: {report:?}");
            }
        }
    }
    // Inside details and changes, members added there included, a float is a float.
    let mut value = event(1, ZERO);
    value["details"] = json!({"ratio": 0.5, "x": [{"y": 1e-7}]});
    value["changes"] = json!([{"field": "price", "old": 1.25, "new": 2.5, "x_added": 0.75}]);
    let (line, _) = seal(value);
    assert!(inspect(line.as_bytes()).is_ok(), "{line}");
}
