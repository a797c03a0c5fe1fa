//! Secrets a draft holds do not reach the application's logs through the auditor's error
//! values: a draft's `Debug` shows no values (it is not redacted yet).

use audit_core::store::MemoryStore;
use audit_core::{Auditor, EventDraft, TryRecordError};
use serde_json::json;
use std::sync::Arc;

// `try_record` hands a draft back in `TryRecordError::Full`; its `Debug` is what `.expect()`
// panics print and what `tracing`'s `error = ?e` logs.
#[tokio::test]
async fn a_full_queue_error_does_not_print_the_secret_it_hands_back() {
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store).queue_capacity(1).build();
    // The queue's only place is kept: the next try_record meets a full queue (no timing).
    let place = auditor.try_reserve_place().expect("a place");
    let draft = EventDraft::new("login").detail("password", json!("hunter2-secret"));
    let error = auditor.try_record(draft).expect_err("the queue is full");
    assert!(matches!(error, TryRecordError::Full { .. }), "{error}");
    let printed = format!("{error:?}");
    assert!(!printed.contains("hunter2-secret"), "Debug of the error shows the password: {printed}");
    drop(place);
    auditor.shutdown().await;
}
