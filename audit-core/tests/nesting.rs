//! Deeply nested values: the writer writes only what every verifier reads. Verifiers read a
//! line with bounded recursion (`line::MAX_DEPTH`), so a draft whose `details` or change
//! values nest deeper than `event::MAX_VALUE_DEPTH` is refused when it is recorded, with an
//! error naming the value, and nothing is written; up to the limit, events are written,
//! verify, and a JSON Lines store holding them opens again.

use audit_core::event::{DraftError, MAX_VALUE_DEPTH};
use audit_core::store::{AuditStore, JsonlStore};
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Actor, Auditor, EventDraft, RecordError};
use serde_json::{Value, json};
use std::sync::Arc;

/// A value nesting `levels` arrays and objects, alternating, around a scalar.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!("bottom"), |inner, level| if level % 2 == 0 { json!([inner]) } else { json!({"k": inner}) })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

#[test]
fn values_up_to_the_limit_are_written_and_verify_and_the_store_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    runtime().block_on(async {
        let auditor = Auditor::builder(Arc::new(JsonlStore::open(&path).expect("open"))).build();
        let draft = EventDraft::new("import")
            .actor(Actor::service("etl"))
            .detail("tree", nested(MAX_VALUE_DEPTH))
            .change("config", Some(nested(MAX_VALUE_DEPTH)), Some(nested(MAX_VALUE_DEPTH)));
        auditor.record(draft).await.expect("at the limit: recorded");
        auditor.shutdown().await;
        let reopened = JsonlStore::open(&path).expect("the writer's own file opens again");
        assert_eq!(reopened.head("default").await.expect("head").seq, 1);
    });
    let report = verify_reader(std::fs::File::open(&path).expect("open"), ChainVerifier::from_genesis()).expect("read");
    assert!(report.is_valid() && report.verified == 1, "{report:?}");
}

#[test]
fn a_deeper_value_is_refused_when_recorded_naming_it_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    let too_deep = nested(MAX_VALUE_DEPTH + 1);
    runtime().block_on(async {
        let auditor = Auditor::builder(Arc::new(JsonlStore::open(&path).expect("open"))).build();
        let cases = [
            (EventDraft::new("import").detail("tree", too_deep.clone()), "details.tree"),
            (EventDraft::new("update").change("config", None, Some(too_deep.clone())), "changes[\"config\"].new"),
            (EventDraft::new("update").change("config", Some(too_deep.clone()), None), "changes[\"config\"].old"),
            // Far deeper (beyond what redaction walks): refused before it is walked.
            (EventDraft::new("import").detail("abyss", nested(200)), "details.abyss"),
        ];
        for (draft, field) in cases {
            let error = auditor.record(draft.actor(Actor::service("etl"))).await.expect_err("too deep");
            assert!(
                matches!(&error, RecordError::Invalid(DraftError::TooDeep { field: f, limit }) if f == field && *limit >= MAX_VALUE_DEPTH),
                "{error:?}"
            );
            assert!(error.to_string().contains(field), "{error}");
        }
        auditor.shutdown().await;
    });
    assert_eq!(std::fs::read(&path).expect("read"), b"", "nothing was written");
}

/// The limit applies to what is written: a deep value under a key the auditor's redaction
/// policy hides is written as the policy's marker, and recorded.
#[test]
fn a_deep_value_the_auditor_hides_is_recorded_hidden() {
    use audit_core::RedactionPolicy;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    runtime().block_on(async {
        let auditor = Auditor::builder(Arc::new(JsonlStore::open(&path).expect("open")))
            .redaction(RedactionPolicy::default().with_key("settings"))
            .build();
        let draft = EventDraft::new("update")
            .actor(Actor::user("alice"))
            .change("settings", None, Some(nested(MAX_VALUE_DEPTH + 1)))
            .detail("settings", nested(MAX_VALUE_DEPTH + 1));
        auditor.record(draft).await.expect("hidden, so within the limit");
        auditor.shutdown().await;
    });
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(!text.contains("bottom"), "the hidden value is not written: {text}");
    let report = verify_reader(text.as_bytes(), ChainVerifier::from_genesis()).expect("read");
    assert!(report.is_valid() && report.verified == 1, "{report:?}");
}
