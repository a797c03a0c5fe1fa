//! The JSON Lines store: exact SPEC §3 bytes, torn-write recovery, one writer at a time.

use audit_core::store::{AppendError, AuditStore, Head, JsonlStore, Query, StoreError};
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Actor, Auditor, EventDraft, Outcome};
use futures_util::StreamExt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

async fn write_events(path: &Path, actions: &[&str]) {
    let store = JsonlStore::open(path).expect("open");
    let auditor = Auditor::builder(Arc::new(store)).build();
    let mut tickets = Vec::with_capacity(actions.len());
    for action in actions {
        tickets
            .push(auditor.record_buffered(EventDraft::new(*action).actor(Actor::user("alice"))).await.expect("queued"));
    }
    for ticket in tickets {
        ticket.await.expect("durable");
    }
    auditor.shutdown().await;
}

fn verify_file(path: &Path) -> audit_core::verify::VerifyReport {
    verify_reader(std::fs::File::open(path).expect("open"), ChainVerifier::from_genesis()).expect("read")
}

#[tokio::test]
async fn the_file_is_exactly_a_spec_export_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    write_events(&path, &["a", "b", "c"]).await;
    write_events(&path, &["d", "e"]).await; // reopened: continues the chain

    let store = JsonlStore::open(&path).expect("reopen");
    assert_eq!(store.head("default").await.expect("head").seq, 5);
    assert_eq!(store.chain().as_deref(), Some("default"));
    let lines: Vec<String> = store.read("default", 1, None).map(|l| l.expect("line")).collect().await;
    let mut expected = String::new();
    for line in &lines {
        expected.push_str(line);
        expected.push('\n');
    }
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        expected,
        "one canonical event per line, each ending in \\n"
    );
    let report = verify_file(&path);
    assert!(report.is_valid() && report.verified == 5, "{report:?}");

    let middle: Vec<String> = store.read("default", 2, Some(3)).map(|l| l.expect("line")).collect().await;
    assert_eq!(middle, lines[1..3]);
    let page = store.query(&Query::new().action("d")).await.expect("query");
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].seq(), 4);
    let page = store.query(&Query::new().actor("alice").limit(2)).await.expect("query");
    assert_eq!(page.events.iter().map(|e| e.seq()).collect::<Vec<_>>(), [1, 2]);
    let next = store.query(&Query::new().actor("alice").limit(2).after(page.next)).await.expect("query");
    assert_eq!(next.events.iter().map(|e| e.seq()).collect::<Vec<_>>(), [3, 4]);
    assert!(store.query(&Query::new().outcome(Outcome::Denied)).await.expect("query").events.is_empty());
}

#[tokio::test]
async fn a_torn_last_line_is_cut_off_on_open_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    write_events(&path, &["a", "b"]).await;
    let good = std::fs::read(&path).expect("read");
    // A crash in the middle of writing a third line.
    let torn = br#"{"action":"c","actor":{"id":"alice","ki"#;
    std::fs::OpenOptions::new().append(true).open(&path).expect("open").write_all(torn).expect("write");

    let store = JsonlStore::open(&path).expect("recovers");
    let tail = store.torn_tail().expect("reported");
    assert_eq!((tail.offset, tail.bytes.as_slice()), (good.len() as u64, &torn[..]));
    assert_eq!(std::fs::read(&path).expect("read"), good, "only the torn bytes were removed");
    assert_eq!(store.head("default").await.expect("head").seq, 2);
    drop(store);

    write_events(&path, &["c"]).await;
    let report = verify_file(&path);
    assert!(report.is_valid() && report.verified == 3, "{report:?}");
    assert!(JsonlStore::open(&path).expect("clean").torn_tail().is_none());
}

#[tokio::test]
async fn a_read_only_open_refuses_bytes_after_the_last_line_and_cuts_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    write_events(&path, &["a", "b", "c"]).await;
    let good = std::fs::read(&path).expect("read");
    assert_eq!(
        JsonlStore::open_read_only(&path).expect("a clean file opens").head("default").await.expect("head").seq,
        3
    );

    let torn = [&good[..], &br#"{"action":"d","actor":{"id":"alice","ki"#[..]].concat();
    let no_final_newline = good[..good.len() - 1].to_vec();
    let garbage = [&good[..], &b"garbage"[..]].concat();
    for (what, bytes) in [("a torn line", torn), ("no final newline", no_final_newline), ("trailing garbage", garbage)]
    {
        std::fs::write(&path, &bytes).expect("write");
        let error = JsonlStore::open_read_only(&path).expect_err(what);
        assert!(matches!(error, StoreError::Corrupt(_)), "{what}: {error}");
        assert!(error.to_string().contains("after its last complete line"), "{what}: {error}");
        assert!(!verify_file(&path).is_valid(), "{what}: verification calls it broken too");
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "{what}: nothing cut");
    }
}

/// While a writer holds the file, bytes after its last line are the write in progress: a
/// read-only open reads the complete lines before them and says how many bytes it left. Once
/// the writer is gone, the same bytes are a torn write, refused.
#[tokio::test]
async fn a_read_only_open_beside_a_writer_reads_the_lines_before_its_write_in_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    write_events(&path, &["a", "b"]).await;
    let writer = JsonlStore::open(&path).expect("the writer holds the file");
    let in_progress = br#"{"action":"c","actor":{"id":"alice","ki"#;
    std::fs::OpenOptions::new().append(true).open(&path).expect("open").write_all(in_progress).expect("write");

    let reader = JsonlStore::open_read_only(&path).expect("opens beside a writer");
    assert_eq!(reader.unfinished_write(), Some(in_progress.len() as u64));
    assert_eq!(reader.head("default").await.expect("head").seq, 2);
    let lines: Vec<String> = reader.read("default", 1, None).map(|line| line.expect("a line")).collect().await;
    assert_eq!(lines.len(), 2, "the complete lines only");
    let mut verifier = ChainVerifier::from_genesis();
    verifier.push_lines(&lines.iter().map(|line| line.as_bytes()).collect::<Vec<_>>());
    assert!(verifier.finish().is_valid());

    drop(writer);
    let error = JsonlStore::open_read_only(&path).expect_err("no writer: a torn write");
    assert!(error.to_string().contains("after its last complete line"), "{error}");
}

#[tokio::test]
async fn a_corrupt_last_line_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    write_events(&path, &["a", "b"]).await;
    let text = std::fs::read_to_string(&path).expect("read").replace("\"b\"", "\"B\"");
    std::fs::write(&path, text).expect("write");
    let error = JsonlStore::open(&path).expect_err("tampered last event");
    assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
    assert!(error.to_string().contains("audit-trail verify"), "says what to do: {error}");

    std::fs::write(&path, "not json\n").expect("write");
    assert!(matches!(JsonlStore::open(&path), Err(StoreError::Corrupt(_))));
}

#[tokio::test]
async fn opening_cuts_nothing_unless_the_tail_is_a_torn_event_after_a_valid_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    write_events(&path, &["a", "b"]).await;
    let good = std::fs::read(&path).expect("read");

    // A corrupt last line followed by a torn one: refused, and not a byte removed.
    let tampered = String::from_utf8(good.clone()).expect("utf-8").replace("\"b\"", "\"B\"");
    let damaged = [tampered.as_bytes(), br#"{"action":"c","ac"#].concat();
    std::fs::write(&path, &damaged).expect("write");
    assert!(matches!(JsonlStore::open(&path), Err(StoreError::Corrupt(_))));
    assert_eq!(std::fs::read(&path).expect("read"), damaged, "nothing was cut");

    // Bytes after the last line that no write of this store begins with: refused, untouched.
    let foreign = [good.as_slice(), b"garbage without a newline"].concat();
    std::fs::write(&path, &foreign).expect("write");
    let error = JsonlStore::open(&path).expect_err("not a torn event");
    assert!(matches!(error, StoreError::Corrupt(_)) && error.to_string().contains("left as it is"), "{error}");
    assert_eq!(std::fs::read(&path).expect("read"), foreign);

    // Some other file given by mistake (a one-line JSON document): refused, not emptied.
    let document = br#"{"name":"settings","debug":true}"#;
    std::fs::write(&path, document).expect("write");
    assert!(matches!(JsonlStore::open(&path), Err(StoreError::Corrupt(_))));
    assert_eq!(std::fs::read(&path).expect("read"), document);

    // A crash can leave NUL bytes after the last line, the first bytes of a line, or both
    // (the line's start persisted, the rest of its page not): cut.
    let short_start_then_nuls = [&b"{\"act"[..], &[0u8; 300][..]].concat();
    for tail in [&[0u8; 300][..], b"{\"act", short_start_then_nuls.as_slice()] {
        std::fs::write(&path, [good.as_slice(), tail].concat()).expect("write");
        let store = JsonlStore::open(&path).expect("a torn tail is recovered");
        assert_eq!(store.torn_tail().map(|t| t.bytes.as_slice()), Some(tail));
        assert_eq!(std::fs::read(&path).expect("read"), good);
    }
}

#[tokio::test]
async fn one_file_holds_one_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    write_events(&path, &["a"]).await;
    let store = JsonlStore::open(&path).expect("open");
    assert_eq!(store.head("other").await.expect("head"), Head::EMPTY);
    let result = store.append("other", Head::EMPTY, &[]).await;
    assert!(
        matches!(&result, Err(AppendError::Rejected { events, reason }) if events.is_empty() && reason.contains("holds chain")),
        "refused for good: {result:?}"
    );
}

#[tokio::test]
async fn a_store_stream_verifies_and_tampering_in_it_is_found() {
    use audit_core::verify::{BreakReason, verify_stream};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    let actions: Vec<String> = (0..20_000).map(|i| format!("a{i}")).collect();
    let refs: Vec<&str> = actions.iter().map(String::as_str).collect();
    write_events(&path, &refs).await;
    let store = JsonlStore::open(&path).expect("open");
    let report = verify_stream(store.read("default", 1, None), ChainVerifier::from_genesis()).await.expect("verify");
    assert!(report.is_valid() && report.verified == 20_000, "{report:?}");
    drop(store);

    let text = std::fs::read_to_string(&path).expect("read").replacen("\"a12345\"", "\"b12345\"", 1);
    std::fs::write(&path, text).expect("write");
    let store = JsonlStore::open(&path).expect("open");
    let report = verify_stream(store.read("default", 1, None), ChainVerifier::from_genesis()).await.expect("verify");
    let broken = report.broken.expect("tampering found");
    assert_eq!((broken.seq, broken.reason), (12_346, BreakReason::HashMismatch));
    assert_eq!(report.verified, 12_345);
}
