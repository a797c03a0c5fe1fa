//! Property tests: the hand-written fast path agrees byte for byte with a general RFC 8785
//! implementation (serde_json_canonicalizer), and canonical lines round-trip.

use audit_core::canonical::{self, cmp_utf16};
use audit_core::line::{self, check_canonical};
use audit_core::store::MemoryStore;
use audit_core::{
    Actor, ActorKind, Auditor, Change, Context, Event, EventDraft, EventHash, Outcome, RedactionPolicy, Resource,
    Timestamp,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::sync::Arc;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        (-1000i32..1000, -30i32..30).prop_map(|(m, e)| Value::from(f64::from(m) * 10f64.powi(e))),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn actor() -> impl Strategy<Value = Actor> {
    (any::<String>(), 0usize..5, proptest::option::of(any::<String>()), proptest::option::of(any::<String>()))
        .prop_map(|(id, kind, auth, session)| Actor { id, kind: ActorKind::ALL[kind], auth, session })
}

fn context() -> impl Strategy<Value = Context> {
    let s = || proptest::option::of(any::<String>());
    let n = || proptest::option::of(-(1i64 << 53)..=1 << 53);
    (s(), s(), s(), s(), s(), s(), n(), n()).prop_map(
        |(ip, user_agent, request_id, method, route, path, status, duration_us)| Context {
            ip,
            user_agent,
            request_id,
            method,
            route,
            path,
            status,
            duration_us,
        },
    )
}

fn changes() -> impl Strategy<Value = Vec<Change>> {
    vec((any::<String>(), proptest::option::of(json_value()), proptest::option::of(json_value())), 0..4).prop_map(
        |items| {
            let mut changes: Vec<Change> =
                items.into_iter().map(|(field, old, new)| Change { field, old, new }).collect();
            changes.sort_by(|a, b| cmp_utf16(&a.field, &b.field));
            changes.dedup_by(|a, b| a.field == b.field);
            changes
        },
    )
}

fn event() -> impl Strategy<Value = Event> {
    (
        (any::<String>(), 1u64..1 << 53, any::<u128>(), 0i64..253_402_300_799_000_000, actor(), any::<String>()),
        (any::<String>(), any::<String>(), 0usize..3, proptest::option::of(any::<String>()), context()),
        (changes(), btree_map(any::<String>(), json_value(), 0..4), proptest::option::of(any::<String>())),
        (vec(any::<String>(), 0..4), any::<[u8; 32]>()),
    )
        .prop_map(|(a, b, c, d)| {
            let (chain, seq, id, micros, actor, action) = a;
            let (resource_type, resource_id, outcome, reason, context) = b;
            let (changes, details, justification) = c;
            let (mut tags, prev) = d;
            tags.sort_by(|x, y| cmp_utf16(x, y));
            tags.dedup();
            let mut event = Event {
                v: 1,
                chain,
                seq,
                id: uuid::Uuid::from_u128(id),
                ts: Timestamp::from_unix_micros(micros).expect("in range"),
                actor,
                action,
                resource: Resource::new(resource_type, resource_id),
                outcome: Outcome::ALL[outcome],
                reason,
                context,
                changes,
                details: details.into_iter().collect::<Map<String, Value>>(),
                justification,
                tags,
                prev: EventHash(prev),
                hash: EventHash::ZERO,
            };
            event.hash = event.compute_hash();
            event
        })
}

fn reference(value: &impl serde::Serialize) -> String {
    let value = serde_json::to_value(value).expect("serializes");
    serde_json_canonicalizer::to_string(&value).expect("reference canonicalizes")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_json_value_matches_the_reference_and_is_judged_canonical(value in json_value()) {
        let ours = canonical::to_string(&value);
        prop_assert_eq!(&ours, &serde_json_canonicalizer::to_string(&value).expect("reference"));
        prop_assert!(check_canonical(ours.as_bytes()).is_ok(), "{}", ours);
        // Canonicalizing the canonical form changes nothing.
        let reparsed: Value = serde_json::from_str(&ours).expect("canonical output is JSON");
        prop_assert_eq!(canonical::to_string(&reparsed), ours);
    }

    #[test]
    fn event_fast_path_equals_reference_and_round_trips(event in event()) {
        let line = event.to_canonical_line();
        prop_assert_eq!(&line, &reference(&event));

        // The line checker agrees on form and hash.
        let info = line::inspect(line.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
        prop_assert_eq!(info.computed, event.hash);
        prop_assert_eq!(info.declared, event.hash);
        prop_assert_eq!(info.seq, event.seq);

        // Where the indexed fields are: each span holds the event's value.
        let (_, fields) = line::inspect_with_fields(line.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bytes = line.as_bytes();
        let strings = [
            (&fields.actor_id, &event.actor.id),
            (&fields.action, &event.action),
            (&fields.resource_type, &event.resource.kind),
            (&fields.resource_id, &event.resource.id),
        ];
        for (span, value) in strings {
            prop_assert_eq!(&line::json_string(&bytes[span.clone()]), value);
            prop_assert!(line::json_string_is(&bytes[span.clone()], value));
            let changed = format!("{value}\n");
            prop_assert!(!line::json_string_is(&bytes[span.clone()], &changed));
        }
        prop_assert_eq!(line::json_string(&bytes[fields.actor_kind.clone()]), event.actor.kind.as_str());
        prop_assert_eq!(line::json_string(&bytes[fields.outcome.clone()]), event.outcome.as_str());
        prop_assert_eq!(line::json_string(&bytes[fields.ts.clone()]), event.ts.to_string());
        prop_assert_eq!(line::json_string(&bytes[fields.id.clone()]), event.id.hyphenated().to_string());
        prop_assert_eq!(&line[fields.seq.clone()], event.seq.to_string());
        let request_id = fields.request_id.map(|span| line::json_string(&bytes[span]));
        prop_assert_eq!(request_id, event.context.request_id.clone());
        let tags = fields.tags.map(|span| line[span].to_string());
        prop_assert_eq!(tags, (!event.tags.is_empty()).then(|| canonical::to_string(&serde_json::json!(event.tags))));

        // Parsing the line and writing it again gives the same bytes.
        let parsed = Event::from_canonical_line(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.to_canonical_line(), line);
        prop_assert!(parsed.hash_is_valid());
    }

    #[test]
    fn a_damaged_line_is_accepted_only_if_it_is_still_canonical(event in event(), edits in vec((any::<prop::sample::Index>(), 0usize..4, any::<u8>(), 0usize..12), 1..4)) {
        // Damage the line with edits aimed at what the scanner checks: punctuation, quotes,
        // escapes, digits, bytes that are not ASCII, keys.
        const PIECES: [&str; 12] = ["\"", "\\", ",", ":", "}", "\\u0001", "0", "-", "é", "\u{1}", "\"id\":", " "];
        let mut bytes = event.to_canonical_line().into_bytes();
        for (at, kind, byte, piece) in edits {
            let at = at.index(bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 if at < bytes.len() => drop(bytes.remove(at)),
                2 => drop(bytes.splice(at..at, PIECES[piece].bytes()).count()),
                _ => drop(bytes.splice(at..(at + 1).min(bytes.len()), PIECES[piece].bytes()).count()),
            }
        }
        let accepted = line::inspect(&bytes).is_ok();
        let canonical = check_canonical(&bytes).is_ok();
        if accepted {
            // Accepted: RFC 8785 canonical JSON (a fixed point of canonicalization).
            prop_assert!(canonical);
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let again = canonical::to_string(&value);
            prop_assert_eq!(again.as_bytes(), &bytes[..]);
        }
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            // Judged canonical exactly when canonicalizing changes nothing (numbers beyond
            // 2^53 aside: the canonical writer keeps them as doubles).
            if canonical::normalize_value(&mut value.clone()) == 0 {
                let again = canonical::to_string(&value);
                prop_assert_eq!(canonical, again.as_bytes() == &bytes[..], "{}", String::from_utf8_lossy(&bytes));
            }
        } else {
            prop_assert!(!canonical && !accepted);
        }
    }

    #[test]
    fn writer_output_equals_reference(details in btree_map(any::<String>(), json_value(), 0..4), changes in changes(), tags in vec(any::<String>(), 0..4), action in "[a-z_]{1,12}") {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let store = Arc::new(MemoryStore::new());
            let auditor = Auditor::builder(store.clone()).redaction(RedactionPolicy::none()).build();
            let mut draft = EventDraft::new(action).actor(Actor::user("u")).changes(changes).resource("t", "1");
            for tag in tags {
                draft = draft.tag(tag);
            }
            for (key, value) in details {
                draft = draft.detail(key, value);
            }
            auditor.record(draft).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            auditor.shutdown().await;
            let sealed = store.events("default").pop().ok_or_else(|| TestCaseError::fail("no event"))?;
            prop_assert_eq!(&sealed.line, &reference(&sealed.event));
            prop_assert_eq!(line::inspect(sealed.line.as_bytes()).map(|i| i.computed).ok(), Some(sealed.hash()));
            Ok(())
        })?;
    }
}
