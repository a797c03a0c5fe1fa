//! What the tests of refused events share: reading a chain back as recorded events and the
//! writer's refusal notes (checking that it verifies), a fixed retry wait, and a line for a
//! scripted store's log of appends.

#![allow(dead_code)] // each test binary uses part of it

use audit_core::store::{AppendError, Head, MemoryStore};
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Actor, REFUSAL_ACTION, REFUSAL_RESOURCE, RetryPolicy, SealedEvent};
use std::time::Duration;

/// One event of the chain: a recorded one (its `i` detail) or a note naming a refused id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Stored {
    Event(u64),
    Note(uuid::Uuid),
}

/// The chain `default` of `store`, which must verify from genesis, in order.
pub(crate) fn stored(store: &MemoryStore) -> Vec<Stored> {
    let events = store.events("default");
    let text: String = events.iter().map(|event| format!("{}\n", event.line)).collect();
    let report = verify_reader(text.as_bytes(), ChainVerifier::from_genesis()).expect("in memory");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.verified, events.len() as u64);
    events
        .iter()
        .map(|event| match event.event.details.get("i") {
            Some(i) => Stored::Event(i.as_u64().expect("i")),
            None => {
                assert_eq!(event.event.action, REFUSAL_ACTION);
                assert_eq!(event.event.actor, Actor::system("audit-writer"));
                let resource = &event.event.resource;
                assert_eq!(resource.kind, REFUSAL_RESOURCE);
                Stored::Note(resource.id.parse().expect("a UUID"))
            }
        })
        .collect()
}

/// Retries after the same wait every time.
pub(crate) fn retry_every(wait: Duration) -> RetryPolicy {
    RetryPolicy { initial: wait, max: wait }
}

/// One append for a scripted store's log: its number, the head it expected, its events
/// (`e<i>`, `P<i>` for an event of actor `poison`, `note`, each `@seq`) and what came of it.
pub(crate) fn append_log_line(
    n: u64,
    expected: Head,
    batch: &[SealedEvent],
    result: &Result<Head, AppendError>,
) -> String {
    let events: Vec<String> = batch
        .iter()
        .map(|e| match e.event.details.get("i") {
            Some(i) => format!("{}{i}@{}", if e.event.actor.id == "poison" { "P" } else { "e" }, e.seq()),
            None if e.event.action == REFUSAL_ACTION => format!("note@{}", e.seq()),
            None => format!("?@{}", e.seq()),
        })
        .collect();
    let outcome = match result {
        Ok(h) => format!("ok -> {}", h.seq),
        Err(AppendError::Conflict { actual, .. }) => format!("conflict (head {})", actual.seq),
        Err(AppendError::Rejected { .. }) => "rejected".to_string(),
        Err(AppendError::RefusedValue { .. }) => "refused value".to_string(),
        Err(AppendError::Store(e)) => format!("store error: {e}"),
    };
    format!("#{n} on {} [{}]: {outcome}", expected.seq, events.join(","))
}
