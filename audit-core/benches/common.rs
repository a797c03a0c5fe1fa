//! A representative event (about 780 canonical bytes, the size the project's reference
//! limits were measured with), shared by the benches.

// Each bench uses some of these helpers.
#![allow(dead_code)]

use audit_core::{Actor, Change, Context, Event, EventDraft, EventHash, Outcome, Resource, Timestamp};
use serde_json::{Map, Value, json};

fn actor() -> Actor {
    Actor::admin("alice@example.com").with_auth("oidc")
}

fn context(i: u64) -> Context {
    Context {
        ip: Some("203.0.113.77".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        request_id: Some("01935c1e-7b2a-7cc0-8a5e-3f1d2b4c6e8f".into()),
        method: Some("PUT".into()),
        route: Some("/users/{id}".into()),
        path: Some(format!("/users/{}", 100_000 + i)),
        status: Some(200),
        duration_us: Some(1834),
    }
}

fn changes() -> Vec<Change> {
    vec![
        Change {
            field: "email".into(),
            old: Some(json!("bob@old.example.com")),
            new: Some(json!("bob@new.example.com")),
        },
        Change { field: "role".into(), old: Some(json!("user")), new: Some(json!("admin")) },
    ]
}

fn details() -> Map<String, Value> {
    [("ticket".to_string(), json!("CHG-2026-11-0042"))].into_iter().collect()
}

/// The draft of a typical audited admin change made over HTTP.
pub(crate) fn typical_draft(i: u64) -> EventDraft {
    let mut draft = EventDraft::new("PUT /users/{id}")
        .actor(actor())
        .resource("users", format!("{}", 100_000 + i))
        .context(context(i))
        .changes(changes())
        .tag("privileged");
    for (key, value) in details() {
        draft = draft.detail(key, value);
    }
    draft
}

/// The same event sealed by hand (no writer), as the verifier sees it.
pub(crate) fn typical_event(seq: u64, prev: EventHash) -> Event {
    let mut event = Event {
        v: 1,
        chain: "default".into(),
        seq,
        id: uuid::Uuid::from_u128(0x0193_5c1e_7b2a_7cc0_8a5e_0000_0000_0000 + u128::from(seq)),
        ts: Timestamp::from_unix_micros(1_795_000_000_000_000 + seq as i64).unwrap_or_else(Timestamp::now),
        actor: actor(),
        action: "PUT /users/{id}".into(),
        resource: Resource::new("users", format!("{}", 100_000 + seq)),
        outcome: Outcome::Success,
        reason: None,
        context: context(seq),
        changes: changes(),
        details: details(),
        justification: None,
        tags: vec!["privileged".into()],
        prev,
        hash: EventHash::ZERO,
    };
    event.hash = event.compute_hash();
    event
}

/// `n` chained events as one JSON Lines text.
pub(crate) fn chain_text(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 800);
    let mut prev = EventHash::ZERO;
    for seq in 1..=n {
        let event = typical_event(seq, prev);
        prev = event.hash;
        out.extend_from_slice(event.to_canonical_line().as_bytes());
        out.push(b'\n');
    }
    out
}
