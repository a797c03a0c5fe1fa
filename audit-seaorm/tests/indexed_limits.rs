//! Values within every documented limit are stored, or refused for good
//! (`AppendError::Rejected`, which the writer answers to the caller) — never failed with a
//! `Store` error, which the writer retries forever while every later event of the chain waits.
//!
//! - PostgreSQL: `audit_events_failed` holds the chain and the actor id in one B-tree entry
//!   (at most 2704 bytes). Chain names were allowed 2000 bytes: a failed login with a 1 KB user
//!   name on such a chain was refused by the server. Now chain names are at most 1500 bytes.
//! - MySQL/MariaDB: a row must fit in one packet (`max_allowed_packet`); an event whose row
//!   does not (with `max_event_bytes` raised) is refused for good, the rest of its batch stored.
//!
//! The store's answers are checked directly (no timing).

mod common;

use audit_core::store::{AppendError, AuditStore, Head, MemoryStore};
use audit_core::{Actor, Auditor, EventDraft, MAX_INDEXED_FIELD_BYTES, Outcome, RecordError};
use common::{Backend, TestDb};
use serde_json::json;
use std::sync::Arc;

/// `len` characters of a 64-letter alphabet from a pseudo-random sequence (`seed`): too little
/// repetition for PostgreSQL's index-entry compression to shrink it.
fn incompressible(len: usize, seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ALPHABET[(state >> 58) as usize] as char
        })
        .collect()
}

/// Sealed in memory: the events of `drafts` on `chain`.
async fn sealed(chain: &str, max_event_bytes: usize, drafts: Vec<EventDraft>) -> Vec<audit_core::SealedEvent> {
    let memory = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).chain(chain).max_event_bytes(max_event_bytes).build();
    for draft in drafts {
        auditor.record(draft).await.expect("the core accepts the event");
    }
    auditor.shutdown().await;
    memory.events(chain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failed_events_of_long_actors_on_the_longest_chains_are_stored() {
    let Some(db) = TestDb::open(Backend::Postgres, "pg_failed_idx").await else { return };
    let store = db.migrated_store().await;
    let chain = incompressible(1500, 1);
    // An actor id at the limit, and one of U+0000 between letters (stored with U+0001 there).
    let with_nul: String = incompressible(MAX_INDEXED_FIELD_BYTES / 2, 3).chars().flat_map(|c| [c, '\0']).collect();
    let drafts = [incompressible(MAX_INDEXED_FIELD_BYTES, 2), with_nul]
        .into_iter()
        .map(|actor| EventDraft::new("login").actor(Actor::user(actor)).outcome(Outcome::Failure))
        .collect();
    let events = sealed(&chain, 1 << 20, drafts).await;
    let stored = store.append(&chain, Head::EMPTY, &events).await;
    let longer = incompressible(1501, 4);
    let refused = store.append(&longer, Head::EMPTY, &sealed(&longer, 1 << 20, vec![EventDraft::new("x")]).await).await;
    let report = store.verify_chain(&chain).await.expect("verify");
    db.cleanup().await;
    let shown = |result: &Result<Head, AppendError>| format!("{result:?}").chars().take(600).collect::<String>();
    assert!(stored.is_ok(), "{}", shown(&stored));
    assert!(report.is_valid() && report.column_mismatches.is_empty(), "{report:?}");
    assert!(matches!(refused, Err(AppendError::Rejected { .. })), "a 1501-byte chain name: {}", shown(&refused));
}

/// `result` refused the event `big` alone, for good, naming the server's packet limit.
#[track_caller]
fn assert_refused_for_the_packet(result: &Result<Head, AppendError>, big: uuid::Uuid) {
    match result {
        Err(AppendError::Rejected { events: refused, reason }) => {
            assert_eq!(refused, &[big]);
            assert!(reason.contains("max_allowed_packet"), "{reason}");
        }
        other => panic!(
            "expected Rejected of the big event: {:?}",
            format!("{other:?}").chars().take(400).collect::<String>()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_an_event_over_the_servers_packet_is_rejected_and_the_rest_stored() {
    let Some(db) = TestDb::open(Backend::MySql, "my_packet").await else { return };
    let store = Arc::new(db.migrated_store().await);
    let big = || EventDraft::new("upload").actor(Actor::user("alice")).detail("blob", json!("x".repeat(17 << 20)));
    let small = || EventDraft::new("x");

    // Straight to the store: the big event is named, nothing is written.
    let events = sealed("default", 32 << 20, vec![small(), big(), small()]).await;
    let result = store.append("default", Head::EMPTY, &events).await;
    assert_refused_for_the_packet(&result, events[1].event.id);
    assert_eq!(store.head("default").await.expect("head"), Head::EMPTY);

    // Through the writer: the big event's caller is told, the others are stored.
    let auditor = Auditor::builder(store.clone()).max_event_bytes(32 << 20).build();
    auditor.record(small()).await.expect("first");
    let refused = auditor.record(big()).await;
    auditor.record(small()).await.expect("third");
    auditor.shutdown().await;
    let report = store.verify_chain("default").await.expect("verify");
    db.cleanup().await;
    assert!(matches!(refused, Err(RecordError::Rejected(_))), "{refused:?}");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.lines.verified, 2);
}

/// The row holds the request id again, in its own column: an event whose line fits in a
/// packet but whose row does not (a request id of 9 MiB on a server with 16 MiB packets) is
/// refused for good too, not retried for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_an_event_whose_request_id_overflows_the_packet_is_rejected() {
    let Some(db) = TestDb::open(Backend::MySql, "my_packet_request_id").await else { return };
    let store = Arc::new(db.migrated_store().await);
    let mut big = EventDraft::new("upload").actor(Actor::user("alice"));
    big.context_mut().request_id = Some("r".repeat(9 << 20));
    let events = sealed("default", 32 << 20, vec![EventDraft::new("x"), big, EventDraft::new("x")]).await;
    let result = store.append("default", Head::EMPTY, &events).await;
    let head = store.head("default").await.expect("head");
    db.cleanup().await;
    assert_refused_for_the_packet(&result, events[1].event.id);
    assert_eq!(head, Head::EMPTY, "nothing written");
}
