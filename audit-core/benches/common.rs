//! A representative event (~780 canonical bytes) shared by the benches.
// Each bench uses some of these helpers.
#![allow(dead_code)]

use audit_core::{Actor, Context, Event, EventDraft, EventHash, Outcome, Resource, Timestamp};
use serde_json::json;

/// The draft of a typical audited admin change made over HTTP.
pub(crate) fn typical_draft(i: u64) -> EventDraft {
    EventDraft::new("PUT /users/{id}")
        .actor(Actor::admin("alice@example.com").with_auth("oidc").with_session("s-5f2c9a61d1e04b7f"))
        .resource("users", format!("{}", 100_000 + i))
        .context(Context {
            ip: Some("203.0.113.77".into()),
            user_agent: Some(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
                    .into(),
            ),
            request_id: Some("01935c1e-7b2a-7cc0-8a5e-3f1d2b4c6e8f".into()),
            method: Some("PUT".into()),
            route: Some("/users/{id}".into()),
            path: Some(format!("/users/{}", 100_000 + i)),
            status: Some(200),
            duration_us: Some(1834),
        })
        .change("email", Some(json!("bob@old.example.com")), Some(json!("bob@new.example.com")))
        .change("display_name", Some(json!("Bob Example")), Some(json!("Robert Example")))
        .change("role", Some(json!("user")), Some(json!("admin")))
        .detail("ticket", json!("CHG-2026-11-0042"))
        .detail("approved_by", json!("carol@example.com"))
        .justification("quarterly access review")
        .tag("privileged")
}

/// The same event sealed by hand (no writer), as the verifier sees it.
pub(crate) fn typical_event(seq: u64, prev: EventHash) -> Event {
    let mut event = Event {
        v: 1,
        chain: "default".into(),
        seq,
        id: uuid::Uuid::from_u128(0x0193_5c1e_7b2a_7cc0_8a5e_0000_0000_0000 + u128::from(seq)),
        ts: Timestamp::from_unix_micros(1_795_000_000_000_000 + seq as i64).unwrap_or_else(Timestamp::now),
        actor: Actor::admin("alice@example.com").with_auth("oidc").with_session("s-5f2c9a61d1e04b7f"),
        action: "PUT /users/{id}".into(),
        resource: Resource::new("users", format!("{}", 100_000 + seq)),
        outcome: Outcome::Success,
        reason: None,
        context: Context {
            ip: Some("203.0.113.77".into()),
            user_agent: Some(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
                    .into(),
            ),
            request_id: Some("01935c1e-7b2a-7cc0-8a5e-3f1d2b4c6e8f".into()),
            method: Some("PUT".into()),
            route: Some("/users/{id}".into()),
            path: Some(format!("/users/{}", 100_000 + seq)),
            status: Some(200),
            duration_us: Some(1834),
        },
        changes: vec![
            audit_core::Change {
                field: "display_name".into(),
                old: Some(json!("Bob Example")),
                new: Some(json!("Robert Example")),
            },
            audit_core::Change {
                field: "email".into(),
                old: Some(json!("bob@old.example.com")),
                new: Some(json!("bob@new.example.com")),
            },
            audit_core::Change { field: "role".into(), old: Some(json!("user")), new: Some(json!("admin")) },
        ],
        details: [
            ("approved_by".to_string(), json!("carol@example.com")),
            ("ticket".to_string(), json!("CHG-2026-11-0042")),
        ]
        .into_iter()
        .collect(),
        justification: Some("quarterly access review".into()),
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
