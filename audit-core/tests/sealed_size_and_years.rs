//! The writer seals no line a verifier cannot read, and no time SPEC cannot write.
//!
//! - Size: `max_event_bytes` (capped at `verify::MAX_LINE_BYTES`) bounds the sealed line, with
//!   `seq`, `prev` and `hash`. It bounded the line without them (about 160 bytes less): at the
//!   cap the writer acknowledged events whose lines were longer than a verifier reads, and an
//!   untouched trail was then reported broken ("tampering found").
//! - Years: a time outside 0000–9999 (`EventDraft::with_ts`, from an import) is refused when
//!   recorded (`DraftError::YearOutOfRange`). It was sealed in chrono's own form
//!   (`+10000-01-01T…`): every verifier called the trail broken, and `JsonlStore::open` refused
//!   the application's own file at the next start.

use audit_core::store::{JsonlStore, MemoryStore};
use audit_core::verify::{ChainVerifier, MAX_LINE_BYTES, verify_reader};
use audit_core::{Actor, Auditor, DraftError, EventDraft, RecordError};
use serde_json::json;
use std::sync::Arc;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn draft(pad: usize) -> EventDraft {
    EventDraft::new("export").actor(Actor::user("alice")).resource("files", "1").detail("blob", json!("x".repeat(pad)))
}

/// The largest padding `auditor` accepts: learned from the size its refusal reports.
async fn largest_accepted_pad(auditor: &Auditor) -> usize {
    let probe = auditor.max_event_bytes();
    match auditor.check(draft(probe)) {
        Err(RecordError::Invalid(DraftError::TooLarge { size, limit })) => probe - (size - limit),
        other => panic!("expected TooLarge for a padding of the whole limit, got {other:?}"),
    }
}

/// At the cap, the longest event the writer accepts seals into a line of at most
/// `MAX_LINE_BYTES`.
#[test]
fn an_event_the_writer_accepts_is_not_longer_than_a_verifier_reads() {
    runtime().block_on(async {
        let store = Arc::new(MemoryStore::new());
        let auditor = Auditor::builder(store.clone()).max_event_bytes(usize::MAX).build();
        assert_eq!(auditor.max_event_bytes(), MAX_LINE_BYTES, "capped at the verifier's limit, as documented");
        let pad = largest_accepted_pad(&auditor).await;
        auditor.record(draft(pad)).await.expect("accepted: at the limit the writer checks");
        auditor.shutdown().await;
        let events = store.events("default");
        let line = &events[0].line;
        assert!(
            line.len() <= MAX_LINE_BYTES,
            "the writer sealed a line of {} bytes, {} more than MAX_LINE_BYTES ({MAX_LINE_BYTES}), the longest a \
             verifier reads",
            line.len(),
            line.len() - MAX_LINE_BYTES
        );
    });
}

/// A trail the writer wrote at its size limit (JSON Lines store, nothing touched) verifies. The
/// longest line is the second one, placed so that it starts a few bytes before a 1 MiB read
/// boundary of the verifier (where its reader notices a line over the limit before its
/// newline).
#[test]
fn a_trail_the_writer_wrote_at_its_size_limit_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    runtime().block_on(async {
        // Measure how long the first line is for a given padding (seq 1 in both stores).
        let probe_store = Arc::new(MemoryStore::new());
        let probe = Auditor::builder(probe_store.clone()).build();
        probe.record(draft(1000)).await.expect("probe");
        probe.shutdown().await;
        let per_1000 = probe_store.events("default")[0].line.len() + 1; // with its newline
        let overhead = per_1000 - 1000;
        // First line (with newline) ends 40 bytes before the 1 MiB boundary.
        let first_pad = (1 << 20) - 40 - overhead;

        let auditor =
            Auditor::builder(Arc::new(JsonlStore::open(&path).expect("open"))).max_event_bytes(usize::MAX).build();
        auditor.record(draft(first_pad)).await.expect("first event");
        let pad = largest_accepted_pad(&auditor).await;
        auditor.record(draft(pad)).await.expect("second event, accepted by the writer");
        auditor.shutdown().await;
    });
    let bytes = std::fs::metadata(&path).expect("file").len();
    let report = verify_reader(std::fs::File::open(&path).expect("open"), ChainVerifier::from_genesis()).expect("read");
    assert!(
        report.is_valid(),
        "a trail of {bytes} bytes written by the writer, untouched, is reported broken: {:?}",
        report.broken
    );
    assert_eq!(report.verified, 2);
}

/// A time in year 10000 is refused when recorded; had it been written, every verifier would
/// call the trail broken, and the JSON Lines store would not open the application's own file
/// again (its last line not a valid event).
#[test]
fn an_event_time_spec_cannot_write_is_refused_and_the_trail_opens_again() {
    use audit_core::Timestamp;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    // 253402300800 s is 10000-01-01T00:00:00Z.
    let far = Timestamp::from_datetime(chrono::DateTime::from_timestamp(253_402_300_800, 0).expect("chrono holds it"));
    let recorded = runtime().block_on(async {
        let auditor = Auditor::builder(Arc::new(JsonlStore::open(&path).expect("open"))).build();
        let result = auditor.record(EventDraft::new("import").actor(Actor::system("etl")).with_ts(far)).await;
        auditor.shutdown().await;
        result
    });
    assert!(matches!(recorded, Err(RecordError::Invalid(DraftError::YearOutOfRange(ts))) if ts == far), "{recorded:?}");
    let reopened = JsonlStore::open(&path);
    assert!(reopened.is_ok(), "the writer's own file does not open again: {:?}", reopened.err());
}
