//! A JSON Lines trail with a line that cannot be read as text (bytes that are not UTF-8, or a
//! line longer than any event line): verification from the store reports the chain broken
//! there (`bad format`, as `verify_reader` does on the same file), never an I/O error, and
//! nothing reads a file that is no trail into memory whole.

use audit_core::store::{AuditStore, JsonlStore, StoreError};
use audit_core::verify::{BreakReason, ChainVerifier, MAX_LINE_BYTES, verify_reader, verify_store, verify_stream};
use audit_core::{Actor, Auditor, EventDraft};
use futures_util::StreamExt;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

async fn write_events(path: &Path, n: usize) {
    let auditor = Auditor::builder(Arc::new(JsonlStore::open(path).expect("open"))).build();
    for i in 0..n {
        auditor.record(EventDraft::new(format!("a{i}")).actor(Actor::user("alice"))).await.expect("recorded");
    }
    auditor.shutdown().await;
}

/// One byte of event 2 flipped to 0xff: the store's stream ends there with
/// `StoreError::UnreadableLine`, and `verify_store` says `bad format` at seq 2 (it said
/// "cannot read", an I/O error, where `verify_reader` found the break).
#[tokio::test]
async fn a_line_that_is_not_utf8_is_bad_format_at_its_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    write_events(&path, 3).await;
    let mut bytes = std::fs::read(&path).expect("read");
    let second = bytes.iter().position(|&b| b == b'\n').expect("a line") + 1;
    let at = second + bytes[second..].windows(4).position(|w| w == b"\"a1\"").expect("event 2") + 1;
    bytes[at] = 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let from_file = verify_reader(std::fs::File::open(&path).expect("open"), ChainVerifier::from_genesis())
        .expect("read")
        .broken
        .expect("broken");
    assert_eq!((from_file.seq, from_file.reason), (2, BreakReason::BadFormat));

    let store = JsonlStore::open_read_only(&path).expect("open");
    let report = verify_store(&store, "default", None).await.expect("a verdict, not an I/O error");
    let broken = report.broken.expect("broken");
    assert_eq!((broken.seq, broken.reason), (2, BreakReason::BadFormat), "{}", broken.detail);
    assert!(broken.detail.contains("not UTF-8"), "{}", broken.detail);
    assert_eq!(report.verified, 1);

    let mut lines = store.read("default", 1, None);
    assert!(lines.next().await.expect("seq 1").is_ok());
    match lines.next().await.expect("seq 2") {
        Err(StoreError::UnreadableLine { seq: 2, detail }) => assert!(detail.contains("not UTF-8"), "{detail}"),
        other => panic!("expected the unreadable line at seq 2: {other:?}"),
    }
    assert!(lines.next().await.is_none(), "the stream ends there");
    // Read from after it, the line is only counted.
    let after: Vec<String> = store.read("default", 3, None).map(|line| line.expect("seq 3")).collect().await;
    assert_eq!(after.len(), 1);
    assert!(after[0].contains("\"seq\":3"), "{}", after[0]);
}

/// A trail with a line of 64 GiB (a sparse file: a corrupt trail, or the wrong file given as
/// one) between two events: reading it stops after `MAX_LINE_BYTES`, and verification says
/// `bad format` at seq 2 (the whole line was read into one string: an allocation the machine
/// cannot make, and the process aborted).
#[tokio::test]
async fn a_line_longer_than_any_event_is_not_read_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    write_events(&path, 2).await;
    let text = std::fs::read_to_string(&path).expect("read");
    let (first, last) = text.trim_end().split_once('\n').expect("two lines");
    let mut file = std::fs::File::create(&path).expect("create");
    writeln!(file, "{first}").expect("write");
    let hole = 64u64 << 30;
    file.seek(SeekFrom::Current(hole as i64)).expect("seek");
    writeln!(file, "\n{last}").expect("write");
    drop(file);

    let store = JsonlStore::open_read_only(&path).expect("the last line is an event");
    let report = verify_store(&store, "default", None).await.expect("a verdict");
    let broken = report.broken.expect("broken");
    assert_eq!((broken.seq, broken.reason), (2, BreakReason::BadFormat), "{}", broken.detail);
    assert!(broken.detail.contains(&format!("longer than {} MiB", MAX_LINE_BYTES >> 20)), "{}", broken.detail);
    let report = verify_stream(store.read("default", 1, None), ChainVerifier::from_genesis()).await.expect("verdict");
    assert_eq!(report.broken.map(|b| b.seq), Some(2));
}

/// A file whose end holds no newline for 64 GiB (after a valid event) is refused at open, by
/// the writer and by a reader, without reading the tail into memory (the writer allocated it
/// whole to see whether it was a torn line).
#[test]
fn a_tail_longer_than_any_line_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    tokio::runtime::Runtime::new().expect("runtime").block_on(write_events(&path, 1));
    let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open");
    let len = file.metadata().expect("stat").len();
    file.set_len(len + (64 << 30)).expect("a sparse tail");
    drop(file);
    for error in [JsonlStore::open(&path).err(), JsonlStore::open_read_only(&path).err()] {
        let error = error.expect("refused");
        assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
        assert!(error.to_string().contains("longer than any event line"), "{error}");
    }
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), len + (64 << 30), "left as it is");
}
