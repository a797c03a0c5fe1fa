//! Verifying only the events after a trusted checkpoint (issue #5): the store's Merkle
//! frontier before the checkpoint's last event, plus that event, must give the checkpoint's
//! root; then the later events are checked by their hashes and links, and the tree grown from
//! the frontier gives today's root. A rewrite at or before the checkpoint (every later hash
//! recomputed, the store's subtree hashes too), a forged frontier, and removed events are
//! each reported.

mod trail_common;

use audit_core::checkpoint::Checkpoint;
use audit_core::merkle::CompactRange;
use audit_core::proof::frontier_at;
use audit_core::store::{AuditStore, Head, MemoryStore};
use audit_core::verify::{BreakReason, ChainVerifier, VerifyReport, WrongFrontier, feed_reader};
use audit_core::{Event, SealedEvent};
use trail_common::{ORIGIN, chain, checkpoint_of, rehash_from};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// The frontier of the first `size` events of a store holding `lines` (as an attacker with
/// database access would have left them: links hold, subtree hashes computed from them).
fn stored_frontier(lines: &[String], size: u64) -> CompactRange {
    runtime().block_on(async {
        let store = MemoryStore::new();
        let events: Vec<SealedEvent> =
            lines.iter().map(|l| SealedEvent::from_line(l.clone()).expect("valid")).collect();
        store.append("default", Head::EMPTY, &events).await.expect("append");
        frontier_at(&store, "default", size).await.expect("frontier")
    })
}

/// Verifies `lines` (the events from the checkpoint's last one on) after `checkpoint`, with
/// the tree kept: the report and the tree's root at the end.
fn verify_after(checkpoint: &Checkpoint, before: CompactRange, lines: &[String]) -> (VerifyReport, Option<[u8; 32]>) {
    let verifier = ChainVerifier::after_checkpoint(checkpoint, before).expect("frontier of the right size").with_tree();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let verifier = feed_reader(text.as_bytes(), verifier).expect("in memory");
    let root = verifier.tree().map(|tree| tree.root());
    (verifier.finish(), root)
}

fn broken(report: &VerifyReport) -> (u64, BreakReason) {
    let chain_break = report.broken.as_ref().expect("broken");
    (chain_break.seq, chain_break.reason.clone())
}

#[test]
fn only_the_events_from_the_checkpoints_last_one_are_checked_and_the_new_root_follows() {
    let lines = chain(50);
    let checkpoint = checkpoint_of(&lines, 20);
    let (report, root) = verify_after(&checkpoint, stored_frontier(&lines, 19), &lines[19..]);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!((report.verified, report.first_seq, report.head.seq), (31, Some(20), 50));
    assert_eq!(report.trusted_prev, None, "the first prev is vouched for by the checkpoint, not taken on trust");
    assert_eq!(root, Some(checkpoint_of(&lines, 50).root), "the tree grown from the frontier is today's");

    // At every size, the first and the last included.
    for size in [1, 2, 31, 32, 33, 49, 50] {
        let checkpoint = checkpoint_of(&lines, size);
        let (report, root) = verify_after(&checkpoint, stored_frontier(&lines, size as u64 - 1), &lines[size - 1..]);
        assert!(report.is_valid(), "size {size}: {report:?}");
        assert_eq!(report.verified, 50 - size as u64 + 1, "size {size}");
        assert_eq!(root, Some(checkpoint_of(&lines, 50).root), "size {size}");
    }
}

#[test]
fn a_rewrite_at_or_before_the_checkpoint_is_caught_by_its_root() {
    let lines = chain(50);
    let checkpoint = checkpoint_of(&lines, 20);
    for rewritten_at in [0, 5, 18, 19] {
        let mut forged = lines.clone();
        let mut event = Event::from_canonical_line(&forged[rewritten_at]).expect("valid");
        event.outcome = audit_core::Outcome::Denied;
        forged[rewritten_at] = event.to_canonical_line();
        rehash_from(&mut forged, rewritten_at);
        // The forged store's subtree hashes agree with its forged events.
        let (report, _) = verify_after(&checkpoint, stored_frontier(&forged, 19), &forged[19..]);
        assert_eq!(broken(&report), (20, BreakReason::CheckpointMismatch), "rewritten at seq {}", rewritten_at + 1);
        assert_eq!(report.verified, 0, "nothing is vouched for");
        // Nor does the genuine frontier save a forged last event, or the reverse.
        if rewritten_at == 19 {
            let (report, _) = verify_after(&checkpoint, stored_frontier(&lines, 19), &forged[19..]);
            assert_eq!(broken(&report), (20, BreakReason::CheckpointMismatch));
        } else {
            let (report, _) = verify_after(&checkpoint, stored_frontier(&forged, 19), &lines[19..]);
            assert_eq!(broken(&report), (20, BreakReason::CheckpointMismatch));
        }
    }
}

#[test]
fn a_frontier_of_another_chain_is_caught() {
    let lines = chain(50);
    let other = chain(50);
    let checkpoint = checkpoint_of(&lines, 20);
    let (report, _) = verify_after(&checkpoint, stored_frontier(&other, 19), &lines[19..]);
    assert_eq!(broken(&report), (20, BreakReason::CheckpointMismatch));
}

#[test]
fn events_after_the_checkpoint_are_checked_by_their_hashes_and_links() {
    let lines = chain(50);
    let checkpoint = checkpoint_of(&lines, 20);
    let before = || stored_frontier(&lines, 19);

    let mut edited = lines.clone();
    edited[29] = edited[29].replace("\"n\":29}", "\"n\":1029}");
    assert_ne!(edited[29], lines[29]);
    let (report, _) = verify_after(&checkpoint, before(), &edited[19..]);
    assert_eq!(broken(&report), (30, BreakReason::HashMismatch));
    assert_eq!(report.verified, 10, "seq 20..=29");

    let mut removed = lines[19..].to_vec();
    removed.remove(15);
    let (report, _) = verify_after(&checkpoint, before(), &removed);
    assert_eq!(broken(&report), (35, BreakReason::SeqGap));
}

#[test]
fn no_event_at_the_checkpoints_size_is_reported() {
    let lines = chain(30);
    let checkpoint = checkpoint_of(&lines, 20);
    let before = || stored_frontier(&lines, 19);
    let (report, _) = verify_after(&checkpoint, before(), &[]);
    assert_eq!(broken(&report), (20, BreakReason::Truncated), "{report:?}");
    assert!(report.broken.as_ref().is_some_and(|b| b.detail.contains(ORIGIN)), "names the checkpoint");
    let (report, _) = verify_after(&checkpoint, before(), &lines[20..]);
    assert_eq!(broken(&report), (20, BreakReason::SeqGap));
    let (report, _) = verify_after(&checkpoint, before(), &lines[18..]);
    assert_eq!(broken(&report), (20, BreakReason::SeqOutOfOrder));
    let (report, _) = verify_after(&checkpoint, before(), &["not an event".to_string()]);
    assert_eq!(broken(&report), (20, BreakReason::BadFormat));
}

#[test]
fn a_frontier_of_another_size_is_refused_and_size_zero_vouches_for_nothing() {
    let lines = chain(30);
    let checkpoint = checkpoint_of(&lines, 20);
    let error = ChainVerifier::after_checkpoint(&checkpoint, stored_frontier(&lines, 18)).expect_err("size 18");
    assert_eq!(error, WrongFrontier { expected: 19, given: 18 });
    assert!(error.to_string().contains("frontier_at"), "says what to do: {error}");

    // Size 0: every event is after it, from seq 1.
    let empty = checkpoint_of(&lines, 0);
    let verifier = ChainVerifier::after_checkpoint(&empty, CompactRange::new()).expect("size 0");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let report = feed_reader(text.as_bytes(), verifier).expect("in memory").finish();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.verified, 30);
}
