//! Numbers at the edges of what RFC 8785 (ES6 formatting of IEEE 754 doubles) can say — the
//! smallest subnormal, the largest double, -0, 1e21 where ES6 switches to exponents, 1e-7,
//! 2^53 and an integer beyond it — are stored byte for byte on every backend and in a JSON
//! Lines file reopened, and every verifier agrees with the writer's hash: the canonical line is
//! kept in a text column, never re-encoded (JSONB or a JSON column would rewrite numbers).

mod common;

use audit_core::store::{AuditStore, Head, JsonlStore, MemoryStore};
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Auditor, EventDraft, SealedEvent};
use common::TestDb;
use serde_json::{Value, json};
use std::sync::Arc;

/// Each edge value with the canonical text RFC 8785 gives it.
fn edges() -> Vec<(Value, &'static str)> {
    vec![
        (json!(5e-324), "5e-324"),
        (json!(1.7976931348623157e308), "1.7976931348623157e+308"),
        (json!(-0.0), "0"),
        (json!(1e21), "1e+21"),
        (json!(1e20), "100000000000000000000"),
        (json!(1e-7), "1e-7"),
        (json!(0.000001), "0.000001"),
        (json!(0.1 + 0.2), "0.30000000000000004"),
        (json!(9007199254740992u64), "9007199254740992"),
        (json!(-9007199254740992i64), "-9007199254740992"),
        // Beyond 2^53 an integer is kept as its decimal string (a double would round it).
        (json!(9007199254740993u64), "\"9007199254740993\""),
        (json!(u64::MAX), "\"18446744073709551615\""),
    ]
}

/// The events of `chain`, sealed in memory by the writer.
async fn sealed(chain: &str) -> Vec<SealedEvent> {
    let memory = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).chain(chain).build();
    for (i, (value, _)) in edges().into_iter().enumerate() {
        auditor.record(EventDraft::new("measure").detail("n", value).detail("i", json!(i))).await.expect("record");
    }
    auditor.shutdown().await;
    memory.events(chain)
}

fn assert_canonical(lines: &[String]) {
    for (line, (_, text)) in lines.iter().zip(edges()) {
        assert!(line.contains(&format!("\"n\":{text}")), "{text} in {line}");
    }
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let report = verify_reader(text.as_bytes(), ChainVerifier::from_genesis()).expect("in memory");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.verified, edges().len() as u64);
}

#[tokio::test]
async fn a_json_lines_file_keeps_them_when_reopened() {
    let events = sealed("default").await;
    let written: Vec<String> = events.iter().map(|event| event.line.clone()).collect();
    assert_canonical(&written);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    JsonlStore::open(&path).expect("open").append("default", Head::EMPTY, &events).await.expect("append");
    // Reopening reads and checks the whole file.
    let reopened = JsonlStore::open(&path).expect("reopen");
    let lines = common::read_all(&reopened, "default").await;
    assert_eq!(lines, written, "byte for byte");
}

async fn stored_byte_for_byte(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let events = sealed("batch").await;
    let written: Vec<String> = events.iter().map(|event| event.line.clone()).collect();
    store.append("batch", Head::EMPTY, &events).await.expect("append");
    assert_eq!(common::read_all(store.as_ref(), "batch").await, written, "byte for byte");
    // And through the writer, one event at a time.
    let auditor = Auditor::builder(store.clone()).build();
    for (value, _) in edges() {
        auditor.record(EventDraft::new("measure").detail("n", value)).await.expect("record");
    }
    auditor.shutdown().await;
    for chain in ["batch", "default"] {
        let report = store.verify_chain(chain).await.expect("verify");
        assert!(report.is_valid(), "{chain}: {report:?}");
        assert_eq!(report.lines.verified, edges().len() as u64, "{chain}");
    }
    let lines = common::read_all(store.as_ref(), "default").await;
    for (line, (_, text)) in lines.iter().zip(edges()) {
        assert!(line.contains(&format!("\"n\":{text}")), "{text} in {line}");
    }
    assert_canonical(&written);
}

on_all_backends!(stored_byte_for_byte);
