//! Redaction matches a key "whatever its case" (the `redact` module docs), also for letters
//! that lowercasing alone does not bring together with their capital: Greek final sigma `ς`
//! (capital `Σ`, which lowercases to `σ`), Turkish dotless `ı` (what `API_KEY` lowercases to in
//! a Turkish locale), the micro sign `µ` (capital `Μ`, lowercase `μ`). Keys lowercased only
//! were told apart by case, and their values were stored in clear.

use audit_core::store::MemoryStore;
use audit_core::{Auditor, EventDraft, RedactionPolicy};
use serde_json::json;
use std::sync::Arc;

/// Pairs of keys that differ in case only: the first is the policy's, the second the event's.
const SAME_KEY_OTHER_CASE: [(&str, &str); 6] = [
    ("κωδικός", "ΚΩΔΙΚΌΣ"),
    ("ΚΩΔΙΚΌΣ", "κωδικός"),
    ("api_key", "apı_key"),
    ("authorization", "AUTHORİZATİON"),
    ("authorization", "authorızatıon"),
    ("µg_secret", "ΜG_SECRET"),
];

#[test]
fn keys_that_differ_in_case_only_match() {
    for (key, other_case) in SAME_KEY_OTHER_CASE {
        let policy = RedactionPolicy::none().with_key(key);
        assert!(policy.matches(other_case), "{other_case:?} is {key:?} in another case");
        assert!(policy.matches(key));
        assert_eq!(policy, RedactionPolicy::none().with_key(other_case), "{key:?} and {other_case:?} are one key");
    }
    // Still only letters and digits, whatever their case: other words stay apart.
    let policy = RedactionPolicy::none().with_key("κωδικός");
    assert!(!policy.matches("κωδικοί") && !policy.matches("κωδικ"));
}

#[tokio::test]
async fn a_value_under_a_key_in_another_case_is_not_stored_in_clear() {
    let policy = RedactionPolicy::default().with_key("κωδικός").with_key("µg_secret");
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).redaction(policy).build();
    let draft = EventDraft::new("update")
        .detail("ΚΩΔΙΚΌΣ", json!("secret-1"))
        .detail("apı_key", json!("secret-2"))
        .detail("login", json!({"authorızatıon": "secret-3", "ΜG_SECRET": "secret-4"}))
        .change("apı_key", Some(json!("secret-5")), Some(json!("secret-6")));
    auditor.record(draft).await.expect("recorded");
    auditor.shutdown().await;

    let events = store.events("default");
    assert_eq!(events.len(), 1);
    let line = &events[0].line;
    for i in 1..=6 {
        assert!(!line.contains(&format!("secret-{i}")), "secret-{i} was stored in clear: {line}");
    }
    assert_eq!(line.matches("[REDACTED]").count(), 6, "{line}");
}
