//! `RedactionPolicy::apply` marks a draft it hid, so an equal policy does not hide it again;
//! a change of the draft afterwards clears the mark, so a secret added later is still hidden
//! by the auditor (the mark once outlived such changes: the values were stored in clear).

use audit_core::store::MemoryStore;
use audit_core::{Auditor, EventDraft, RedactionPolicy};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn a_secret_added_after_apply_is_still_hidden_by_the_auditor() {
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build(); // RedactionPolicy::default()

    // The application hides its draft's secrets itself (say, to log the draft), then adds
    // more to it before recording it.
    let mut draft = EventDraft::new("login").detail("user", json!("alice"));
    RedactionPolicy::default().apply(&mut draft);
    let draft = draft.detail("password", json!("hunter2")).change("api_key", None, Some(json!("sk_live_123")));
    let mut draft = draft;
    draft.details_mut().insert("token".into(), json!("tok_secret"));

    auditor.record(draft).await.expect("record");
    auditor.shutdown().await;

    let lines: Vec<String> = store.events("default").iter().map(|e| e.line.clone()).collect();
    assert_eq!(lines.len(), 1);
    for secret in ["hunter2", "sk_live_123", "tok_secret"] {
        assert!(
            !lines[0].contains(secret),
            "the auditor's policy names this key, yet {secret:?} was stored in clear: {}",
            lines[0]
        );
    }
}
