//! A JSON Lines append that fails halfway (the file size limit reached: `EFBIG` after a
//! partial write) is undone: the file is cut back to its length before the batch, the append
//! answers an error, and the store (and a reopened one) holds exactly the events before it.
//!
//! The failure is real: a child process of this test binary runs under `prlimit --fsize`
//! with `SIGXFSZ` ignored (so that the kernel answers `EFBIG` instead of killing it). In a
//! test binary of its own, so that the child runs one test only.

use audit_core::store::{AuditStore, Head, JsonlStore, MemoryStore};
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Auditor, EventDraft};
use serde_json::json;
use std::sync::Arc;

const CHILD_ENV: &str = "AUDIT_CORE_PARTIAL_WRITE_DIR";

/// The file size limit the child runs under: room for the first event, not for the batch.
const LIMIT: u64 = 16 * 1024;

#[tokio::test]
async fn partial_write_child() {
    // Runs only as the child process of `a_failed_append_is_cut_back`.
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let path = std::path::Path::new(&dir).join("trail.jsonl");
    // Three events, sealed in memory: a small one, then two of 10 KB each.
    let memory = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).build();
    auditor.record(EventDraft::new("small")).await.expect("record");
    for i in 0..2 {
        let big = EventDraft::new("big").detail("text", json!("x".repeat(10_000))).detail("i", json!(i));
        auditor.record(big).await.expect("record");
    }
    auditor.shutdown().await;
    let events = memory.events("default");

    let store = JsonlStore::open(&path).expect("open");
    let after_first = store.append("default", Head::EMPTY, &events[..1]).await.expect("the first event fits");
    let len = std::fs::metadata(&path).expect("metadata").len();
    let error = store.append("default", after_first, &events[1..]).await.expect_err("beyond the size limit");
    println!("child: append refused: {error}");
    assert_eq!(std::fs::metadata(&path).expect("metadata").len(), len, "cut back to the length before the batch");
    assert_eq!(store.head("default").await.expect("head"), after_first, "the head did not move");
    drop(store);
    let reopened = JsonlStore::open(&path).expect("reopen");
    assert_eq!(reopened.head("default").await.expect("head"), after_first);
    println!("child: cut back to {len} bytes");
}

#[test]
fn a_failed_append_is_cut_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let test_binary = std::env::current_exe().expect("test binary");
    // `trap '' XFSZ` ignores the signal, and an ignored signal stays ignored across `exec`.
    let script = format!(
        "trap '' XFSZ; exec prlimit --fsize={LIMIT} -- \"$0\" partial_write_child --exact --nocapture --test-threads=1"
    );
    let output = std::process::Command::new("bash")
        .args(["-c", &script])
        .arg(&test_binary)
        .env(CHILD_ENV, dir.path())
        .output()
        .expect("spawn bash (and prlimit, from util-linux)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the child failed: {stdout}\n{stderr}");
    assert!(stdout.contains("child: append refused") && stdout.contains("child: cut back"), "it ran: {stdout}");
    assert!(stdout.contains("File too large") || stdout.contains("too large"), "refused for the size limit: {stdout}");

    // What the file holds: the first event, whole, and nothing of the batch.
    let text = std::fs::read(dir.path().join("trail.jsonl")).expect("read the trail");
    let report = verify_reader(&text[..], ChainVerifier::from_genesis()).expect("read");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.verified, 1);
    assert!(text.len() < 1024 && text.ends_with(b"\n"), "{} bytes", text.len());
}
