//! The core `Auditor` writes through the SQL store; `head` and `read` give back exactly what
//! was written: the stored text is byte-identical to `SealedEvent::line`, and the core verifier
//! says the streamed chain is valid.

mod common;

use audit_core::store::{AuditStore, Head};
use audit_core::{Actor, Auditor, Context, EventDraft, Outcome};
use common::{Recording, TestDb, read_all, verify_lines};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;

/// Events with awkward text: non-ASCII, an emoji (4-byte UTF-8), escapes, U+2028, big numbers.
fn drafts() -> Vec<EventDraft> {
    let mut drafts = Vec::new();
    for i in 0..40u32 {
        let mut draft = EventDraft::new(if i.is_multiple_of(3) { "update" } else { "login" })
            .actor(if i.is_multiple_of(5) {
                Actor::admin("alice").with_auth("oidc")
            } else {
                Actor::user(format!("user-{i}"))
            })
            .resource("users", i.to_string())
            .context(Context {
                ip: Some("203.0.113.9".into()),
                request_id: Some(format!("req-{i}")),
                ..Context::default()
            });
        if i.is_multiple_of(3) {
            draft = draft.change("name", Some(json!("Zoë \"Z\" 🦀\u{2028}")), Some(json!({"nested": [1, 2.5, null]})));
        }
        if i.is_multiple_of(7) {
            draft = draft.outcome(Outcome::Denied).reason("wrong password").tag("privileged").tag("break_glass");
        }
        drafts.push(draft.detail("n", json!(9_007_199_254_740_991u64)).detail("ünïcödé", json!("\\ \t \u{1}")));
    }
    drafts
}

async fn round_trip(db: &TestDb) {
    let store = db.migrated_store().await.with_read_page_size(7);
    assert_eq!(store.head("default").await.expect("head"), Head::EMPTY, "an empty chain has the empty head");
    let recording = Arc::new(Recording::new(store.clone()));
    let auditor = Auditor::builder(recording.clone()).max_batch(16).build();
    let mut receipts = Vec::new();
    for draft in drafts() {
        receipts.push(auditor.record(draft).await.expect("record"));
    }
    auditor.shutdown().await;

    let appended = recording.appended();
    assert_eq!(appended.len(), 40);
    let head = store.head("default").await.expect("head");
    assert_eq!(head.seq, 40);
    assert_eq!(head.hash, receipts[39].hash, "the head is the last acknowledged event");

    // Read in pages of 7: byte-identical, in seq order.
    let lines = read_all(&store, "default").await;
    let expected: Vec<&str> = appended.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, expected, "stored text must be byte-identical to SealedEvent.line");
    let report = verify_lines(&lines);
    assert!(report.is_valid(), "{:?}", report.broken);
    assert_eq!(report.verified, 40);
    assert_eq!(report.head, head);

    // Ranges.
    let some: Vec<String> = store.read("default", 8, Some(22)).map(|l| l.expect("line")).collect::<Vec<_>>().await;
    assert_eq!(some, expected[7..22].to_vec());
    let tail: Vec<String> = store.read("default", 36, None).map(|l| l.expect("line")).collect::<Vec<_>>().await;
    assert_eq!(tail, expected[35..].to_vec());
    assert_eq!(store.read("default", 41, None).count().await, 0);
    assert_eq!(store.read("other", 1, None).count().await, 0, "another chain is empty");

    // The store's own verification agrees.
    let verified = store.verify_chain("default").await.expect("verify");
    assert!(verified.is_valid(), "{verified}");
    assert_eq!(verified.lines.verified, 40);
    assert_eq!(verified.to_string(), "valid: 40 events");
}
on_all_backends!(round_trip);

/// A second Auditor on the same store (a restart) continues the chain where it is.
async fn restart_continues_the_chain(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    for round in 0..3 {
        let auditor = Auditor::builder(store.clone()).chain("tenant-a").build();
        for i in 0..5 {
            let receipt = auditor.record(EventDraft::new("read").resource("files", format!("{round}-{i}"))).await;
            assert_eq!(receipt.expect("record").seq, round * 5 + i + 1);
        }
        auditor.shutdown().await;
    }
    let lines = read_all(store.as_ref(), "tenant-a").await;
    assert_eq!(lines.len(), 15);
    assert!(verify_lines(&lines).is_valid());
    assert_eq!(store.head("default").await.expect("head"), Head::EMPTY, "chains are separate");
}
on_all_backends!(restart_continues_the_chain);

/// The longest actor id, action and resource the core accepts (`MAX_INDEXED_FIELD_BYTES`),
/// as text that does not compress, fit the indexes of every backend: such an event is stored
/// like any other, instead of failing its append forever.
async fn longest_indexed_fields_are_stored(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    let noise = |seed: u8| -> String {
        let mut text = String::new();
        let mut n = u64::from(seed) + 1;
        while text.len() < audit_core::MAX_INDEXED_FIELD_BYTES {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            text.push_str(&format!("{:016x}", n));
        }
        text.truncate(audit_core::MAX_INDEXED_FIELD_BYTES);
        text
    };
    let draft = EventDraft::new(noise(1))
        .actor(Actor::admin(noise(2)))
        .resource(noise(3), noise(4))
        .outcome(Outcome::Failure)
        .tag("privileged");
    auditor.record(draft).await.expect("stored");
    auditor.shutdown().await;
    let lines = read_all(store.as_ref(), "default").await;
    assert_eq!(lines.len(), 1);
    assert!(store.verify_chain("default").await.expect("verify").is_valid());
}
on_all_backends!(longest_indexed_fields_are_stored);
