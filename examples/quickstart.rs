//! Quickstart: record a few audit events to a JSON Lines trail, then verify it.
//!
//! ```text
//! cargo run --example quickstart            # writes quickstart-audit.jsonl
//! cargo run -p audit-cli -- verify --jsonl quickstart-audit.jsonl
//! ```
//!
//! (The axum + SeaORM quickstart replaces this once `audit-tower` and `audit-seaorm` land.)

use audit_core::store::JsonlStore;
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Actor, Auditor, Context, EventDraft, Outcome};
use serde_json::json;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "quickstart-audit.jsonl".to_string());
    let store = JsonlStore::open(&path)?;
    if let Some(torn) = store.torn_tail() {
        eprintln!("recovered: cut {} bytes of a torn last line at offset {}", torn.bytes.len(), torn.offset);
    }
    let auditor = Auditor::builder(Arc::new(store)).build();

    let from_office =
        Context { ip: Some("203.0.113.7".into()), request_id: Some("req-0001".into()), ..Context::default() };
    let receipts = [
        auditor
            .record(
                EventDraft::new("login_failed")
                    .actor(Actor::user("bob"))
                    .outcome(Outcome::Denied)
                    .reason("wrong password")
                    .context(from_office.clone()),
            )
            .await?,
        auditor
            .record(
                EventDraft::new("update")
                    .actor(Actor::admin("alice").with_auth("password"))
                    .resource("users", "bob")
                    .change("role", Some(json!("user")), Some(json!("admin")))
                    .change("password_hash", Some(json!("$argon2id$old")), Some(json!("$argon2id$new")))
                    .justification("ticket CHG-1234")
                    .tag("privileged")
                    .context(from_office),
            )
            .await?,
    ];
    auditor.shutdown().await;
    for receipt in &receipts {
        println!("recorded seq {} hash {}", receipt.seq, receipt.hash);
    }

    let report = verify_reader(std::fs::File::open(&path)?, ChainVerifier::from_genesis())?;
    match &report.broken {
        None => println!("{path}: valid: {} events", report.verified),
        Some(broken) => println!("{path}: {broken} ({})", broken.detail),
    }
    println!("try: cargo run -q -p audit-cli -- verify --jsonl {path}");
    Ok(())
}
