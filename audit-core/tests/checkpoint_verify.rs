//! Verifying a chain against a trusted signed checkpoint (SPEC §5): what the chain alone
//! cannot show (a rewrite that recomputes every later hash, removal of the newest events) is
//! caught, from a JSON Lines file and from a store alike.

mod trail_common;

use audit_core::checkpoint::{Checkpoint, NoteError, NoteSigner};
use audit_core::merkle::empty_root;
use audit_core::store::{AuditStore, Head, MemoryStore};
use audit_core::verify::{BreakReason, ChainVerifier, VerifyReport, feed_reader, verify_reader, verify_store};
use audit_core::{Actor, Event, SealedEvent};
use trail_common::{ORIGIN, chain, checkpoint_of, rehash_from};

fn text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn verify_file(lines: &[String], checkpoint: &Checkpoint) -> VerifyReport {
    verify_reader(text(lines).as_bytes(), ChainVerifier::against_checkpoint(checkpoint)).expect("in memory")
}

fn verify_in_store(lines: &[String], checkpoint: &Checkpoint) -> VerifyReport {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = MemoryStore::new();
        let events: Vec<SealedEvent> =
            lines.iter().map(|l| SealedEvent::from_line(l.clone()).expect("valid")).collect();
        // Appended as an attacker with database access would leave them (links hold).
        if !events.is_empty() {
            store.append("default", Head::EMPTY, &events).await.expect("append");
        }
        verify_store(&store, "default", Some(checkpoint)).await.expect("memory store")
    })
}

/// Both ways must say the same.
fn verify_both(lines: &[String], checkpoint: &Checkpoint) -> VerifyReport {
    let from_file = verify_file(lines, checkpoint);
    assert_eq!(from_file, verify_in_store(lines, checkpoint), "file and store disagree");
    from_file
}

#[test]
fn a_chain_that_matches_its_checkpoints_is_valid() {
    let lines = chain(40);
    for size in [1, 2, 7, 16, 33, 40] {
        let report = verify_both(&lines, &checkpoint_of(&lines, size));
        assert!(report.is_valid(), "size {size}: {report:?}");
        assert_eq!(report.verified, 40, "events after the checkpoint are verified too");
    }
}

#[test]
fn rewriting_history_and_every_later_hash_is_caught_by_an_earlier_checkpoint() {
    let lines = chain(30);
    let checkpoint = checkpoint_of(&lines, 20);
    let mut forged = lines.clone();
    let mut event = Event::from_canonical_line(&forged[4]).expect("valid");
    event.actor = Actor::user("mallory");
    forged[4] = event.to_canonical_line();
    rehash_from(&mut forged, 4);
    assert!(verify_reader(text(&forged).as_bytes(), ChainVerifier::from_genesis()).expect("memory").is_valid());

    let report = verify_both(&forged, &checkpoint);
    let broken = report.broken.as_ref().expect("caught");
    assert_eq!((broken.seq, &broken.reason), (20, &BreakReason::CheckpointMismatch));
    assert_eq!(broken.to_string(), "BROKEN at seq 20: checkpoint mismatch");
    assert!(broken.detail.contains(ORIGIN) && broken.detail.contains("1..=20"), "{}", broken.detail);
    assert_eq!(report.verified, 0, "nothing the checkpoint covers can be trusted");

    // The last event a checkpoint covers is covered too.
    let mut forged = lines.clone();
    let mut event = Event::from_canonical_line(&forged[19]).expect("valid");
    event.action = "read".into();
    forged[19] = event.to_canonical_line();
    rehash_from(&mut forged, 19);
    let report = verify_both(&forged, &checkpoint);
    assert_eq!(report.broken.map(|b| (b.seq, b.reason)), Some((20, BreakReason::CheckpointMismatch)));
}

#[test]
fn deleting_the_newest_events_is_truncation_at_the_checkpoint_size() {
    let lines = chain(30);
    let checkpoint = checkpoint_of(&lines, 25);
    for kept in [24, 10, 1, 0] {
        let report = verify_both(&lines[..kept], &checkpoint);
        assert!(
            verify_reader(text(&lines[..kept]).as_bytes(), ChainVerifier::from_genesis()).expect("memory").is_valid(),
            "the chain alone cannot tell"
        );
        let broken = report.broken.as_ref().expect("truncated");
        assert_eq!((broken.seq, &broken.reason), (kept as u64 + 1, &BreakReason::Truncated), "kept {kept}");
        assert_eq!(report.verified, kept as u64, "what is there is verified");
        assert!(broken.detail.contains(&format!("events {}..=25 were removed", kept + 1)), "{}", broken.detail);
    }
    // Removing events after the checkpoint is not truncation of what it covers.
    assert!(verify_both(&lines[..25], &checkpoint).is_valid());
}

#[test]
fn a_chain_rewritten_after_a_checkpoint_is_checked_by_its_links() {
    let lines = chain(30);
    let checkpoint = checkpoint_of(&lines, 20);
    // Edited after the checkpoint without rehashing: the usual hash mismatch.
    let mut edited = lines.clone();
    edited[24] = edited[24].replace("\"update\"", "\"delete\"");
    let report = verify_both(&edited, &checkpoint);
    assert_eq!(report.broken.map(|b| (b.seq, b.reason)), Some((25, BreakReason::HashMismatch)));
    // Rewritten after the checkpoint with every later hash recomputed: only a newer checkpoint
    // can tell (this is why the writer publishes them regularly).
    rehash_from(&mut edited, 24);
    assert!(verify_both(&edited, &checkpoint).is_valid());
    let newer = checkpoint_of(&lines, 30);
    assert_eq!(verify_both(&edited, &newer).broken.map(|b| b.reason), Some(BreakReason::CheckpointMismatch));
}

#[test]
fn other_breaks_before_the_checkpoint_size_keep_their_spec_reason() {
    let lines = chain(30);
    let checkpoint = checkpoint_of(&lines, 20);
    let mut removed = lines.clone();
    removed.remove(5);
    // (A store refuses to append a gap, so only the file can show one.)
    let report = verify_file(&removed, &checkpoint);
    assert_eq!(report.broken.map(|b| (b.seq, b.reason)), Some((6, BreakReason::SeqGap)));
    // A part of a chain cannot be checked against a checkpoint: it must start at seq 1.
    let report = verify_file(&lines[3..], &checkpoint);
    assert_eq!(report.broken.map(|b| (b.seq, b.reason)), Some((1, BreakReason::SeqGap)));
}

#[test]
fn the_empty_tree_checkpoint() {
    let empty = Checkpoint::new(ORIGIN, 0, empty_root());
    assert!(verify_both(&[], &empty).is_valid());
    assert!(verify_both(&chain(3), &empty).is_valid());
    let forged = Checkpoint::new(ORIGIN, 0, [7; 32]);
    assert_eq!(verify_both(&[], &forged).broken.map(|b| b.reason), Some(BreakReason::CheckpointMismatch));
}

#[test]
fn only_a_checkpoint_signed_by_the_given_key_is_trusted() {
    let lines = chain(10);
    let log = NoteSigner::generate(ORIGIN).expect("key");
    let other = NoteSigner::generate(ORIGIN).expect("key");
    let note = checkpoint_of(&lines, 10).sign(&log).expect("signs");
    let trusted = Checkpoint::verify(&note, &log.verifier()).expect("signed by the log");
    assert!(verify_both(&lines, &trusted).is_valid());

    let forged = checkpoint_of(&lines, 10).sign(&other).expect("signs");
    let err = Checkpoint::verify(&forged, &log.verifier()).expect_err("another key");
    assert!(matches!(err, NoteError::NoKnownSignature { .. }), "{err}");
    assert!(err.to_string().contains("check that you passed the verifier key"), "{err}");
    let altered = note.replacen("\n10\n", "\n9\n", 1);
    let err = Checkpoint::verify(&altered, &log.verifier()).expect_err("altered");
    assert!(matches!(err, NoteError::InvalidSignature { .. }), "{err}");
}

/// A cosignature by an unknown key is ignored (C2SP signed note) whatever its key name, as
/// long as the name is one a note may carry (non-empty, no `+`, no white space): a name with
/// DEL or a C1 control character made the whole note malformed.
#[test]
fn an_unknown_cosigners_odd_key_name_does_not_refuse_the_note() {
    let lines = chain(3);
    let log = NoteSigner::generate(ORIGIN).expect("key");
    let note = checkpoint_of(&lines, 3).sign(&log).expect("signs");
    // Any 4-byte key id and 64 bytes of signature (an unknown key's is not checked).
    let signature = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    for name in ["witness", "wit\u{7f}ness", "wit\u{80}ness", "wit\u{9f}ness", "wit\u{e9}ness"] {
        let cosigned = format!("{note}\u{2014} {name} {signature}\n");
        let opened = Checkpoint::verify(&cosigned, &log.verifier()).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(opened.size, 3);
    }
    for name in ["wit ness", "wit\u{a0}ness", "wit+ness"] {
        let cosigned = format!("{note}\u{2014} {name} {signature}\n");
        assert!(Checkpoint::verify(&cosigned, &log.verifier()).is_err(), "{name:?}");
    }
}

#[test]
fn with_tree_gives_the_root_of_the_verified_chain() {
    let lines = chain(77);
    let verifier = feed_reader(text(&lines).as_bytes(), ChainVerifier::from_genesis().with_tree()).expect("memory");
    let tree = verifier.tree().expect("from seq 1").clone();
    assert!(verifier.finish().is_valid());
    assert_eq!((tree.size(), tree.root()), (77, checkpoint_of(&lines, 77).root));
    // A part of a chain has no tree.
    let part = feed_reader(text(&lines[5..]).as_bytes(), ChainVerifier::new().with_tree()).expect("memory");
    assert!(part.tree().is_none());
    // Combined with a checkpoint, the tree still covers everything.
    let both = ChainVerifier::against_checkpoint(&checkpoint_of(&lines, 10)).with_tree();
    let verifier = feed_reader(text(&lines).as_bytes(), both).expect("memory");
    assert_eq!(verifier.tree().map(|t| t.root()), Some(tree.root()));
    assert!(verifier.finish().is_valid());
}

#[test]
fn verify_store_without_a_checkpoint_is_the_chain_check() {
    let events: Vec<SealedEvent> = chain(12).into_iter().map(|l| SealedEvent::from_line(l).expect("valid")).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = MemoryStore::new();
        store.append("default", Head::EMPTY, &events).await.expect("append");
        let report = verify_store(&store, "default", None).await.expect("memory");
        assert!(report.is_valid());
        assert_eq!(report.verified, 12);
        assert_eq!(store.head("default").await.expect("head"), report.head);
    });
}
