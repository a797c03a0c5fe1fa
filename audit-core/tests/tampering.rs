//! Every kind of tampering SPEC §2 names is reported, at the right seq, with the right reason.

use audit_core::store::{Head, MemoryStore};
use audit_core::verify::{BreakReason, ChainVerifier, VerifyReport, verify_reader};
use audit_core::{Actor, Auditor, Event, EventDraft, EventHash};
use serde_json::json;
use std::sync::Arc;

/// A valid chain of `n` events, as canonical lines.
fn chain(n: usize) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = Arc::new(MemoryStore::new());
        let auditor = Auditor::builder(store.clone()).max_batch(7).build();
        let tickets: Vec<_> = futures_util::future::join_all((0..n).map(|i| {
            auditor.record_buffered(
                EventDraft::new("update")
                    .actor(Actor::user(format!("user{}", i % 3)))
                    .resource("doc", i.to_string())
                    .detail("n", json!(i)),
            )
        }))
        .await;
        assert!(tickets.iter().all(Result::is_ok));
        auditor.shutdown().await;
        store.events("default").into_iter().map(|e| e.line).collect()
    })
}

fn verify_with(lines: &[String], verifier: ChainVerifier) -> VerifyReport {
    let mut text = lines.join("\n");
    text.push('\n');
    verify_reader(text.as_bytes(), verifier).expect("reading from memory cannot fail")
}

fn verify(lines: &[String]) -> VerifyReport {
    verify_with(lines, ChainVerifier::from_genesis())
}

fn assert_broken(report: &VerifyReport, seq: u64, reason: BreakReason) {
    assert_break(report, seq, reason);
    assert_eq!(report.verified, seq - 1, "every event before the break is verified");
}

/// Like `assert_broken`, for verifiers that do not start at seq 1.
fn assert_break(report: &VerifyReport, seq: u64, reason: BreakReason) {
    let broken = report.broken.as_ref().unwrap_or_else(|| panic!("expected a break at {seq}, got {report:?}"));
    assert_eq!((broken.seq, &broken.reason), (seq, &reason), "{}", broken.detail);
}

fn parse(line: &str) -> Event {
    Event::from_canonical_line(line).expect("valid event")
}

/// Rewrites events from index `from` on so that every hash and link holds again.
fn rehash_from(lines: &mut [String], from: usize) {
    let mut prev = if from == 0 { EventHash::ZERO } else { parse(&lines[from - 1]).hash };
    for line in lines[from..].iter_mut() {
        let mut event = parse(line);
        event.prev = prev;
        event.hash = event.compute_hash();
        prev = event.hash;
        *line = event.to_canonical_line();
    }
}

#[test]
fn an_untouched_chain_is_valid() {
    let lines = chain(10);
    let report = verify(&lines);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.verified, 10);
    assert_eq!(report.head.seq, 10);
    assert_eq!(report.trusted_prev, None);
}

#[test]
fn an_edited_event_is_a_hash_mismatch_at_its_seq() {
    let mut lines = chain(10);
    lines[3] = lines[3]
        .replace("\"user0\"", "\"mallory\"")
        .replace("\"user1\"", "\"mallory\"")
        .replace("\"user2\"", "\"mallory\"");
    assert!(lines[3].contains("mallory"));
    assert_broken(&verify(&lines), 4, BreakReason::HashMismatch);
}

/// SPEC §2: `hash mismatch` is "the event was altered", `prev mismatch` "an event before it was
/// removed, inserted or replaced". An edit of an event's own `prev` or `seq` (not rehashed)
/// alters that event: nothing before it changed, nothing is missing.
#[test]
fn an_edited_prev_or_seq_field_is_a_hash_mismatch_not_a_broken_link() {
    let lines = chain(6);
    let hash_of_2 = parse(&lines[1]).hash.to_string();
    let hash_of_3 = parse(&lines[2]).hash.to_string();
    let mut edited = lines.clone();
    edited[3] = edited[3].replacen(&hash_of_3, &hash_of_2, 1); // as if 3 had been removed
    assert_ne!(edited[3], lines[3]);
    assert_broken(&verify(&edited), 4, BreakReason::HashMismatch);
    let mut edited = lines.clone();
    edited[3] = edited[3].replacen("\"seq\":4,", "\"seq\":9,", 1); // as if 4..=8 were missing
    assert_ne!(edited[3], lines[3]);
    assert_broken(&verify(&edited), 4, BreakReason::HashMismatch);
}

#[test]
fn an_edited_and_rehashed_event_breaks_the_next_link() {
    let mut lines = chain(10);
    let mut event = parse(&lines[3]);
    event.actor = Actor::user("mallory");
    event.hash = event.compute_hash();
    lines[3] = event.to_canonical_line();
    assert_broken(&verify(&lines), 5, BreakReason::PrevMismatch);
}

#[test]
fn rewriting_every_later_hash_is_invisible_to_the_chain_alone() {
    // What signed checkpoints (SPEC §5) exist for: the chain by itself cannot tell.
    let mut lines = chain(10);
    let mut event = parse(&lines[3]);
    event.actor = Actor::user("mallory");
    lines[3] = event.to_canonical_line();
    rehash_from(&mut lines, 3);
    assert!(verify(&lines).is_valid());
}

#[test]
fn a_deleted_event_is_a_seq_gap_where_it_was() {
    let mut lines = chain(10);
    lines.remove(3);
    assert_broken(&verify(&lines), 4, BreakReason::SeqGap);
}

#[test]
fn an_inserted_event_shows_where_the_numbering_collides() {
    let mut lines = chain(10);
    let mut forged = parse(&lines[4]);
    forged.id = uuid::Uuid::now_v7();
    forged.actor = Actor::admin("mallory");
    forged.hash = forged.compute_hash(); // seq 5, prev = hash of seq 4: a perfect link
    lines.insert(4, forged.to_canonical_line());
    assert_broken(&verify(&lines), 6, BreakReason::SeqOutOfOrder);
}

#[test]
fn an_inserted_and_renumbered_event_breaks_the_link_after_it() {
    let mut lines = chain(10);
    let mut forged = parse(&lines[4]);
    forged.id = uuid::Uuid::now_v7();
    forged.hash = forged.compute_hash();
    lines.insert(4, forged.to_canonical_line());
    // Renumber the old events after it, keeping their hashes honest but not their links.
    for line in lines[5..].iter_mut() {
        let mut event = parse(line);
        event.seq += 1;
        event.hash = event.compute_hash();
        *line = event.to_canonical_line();
    }
    assert_broken(&verify(&lines), 6, BreakReason::PrevMismatch);
}

#[test]
fn swapped_events_are_out_of_order() {
    let mut lines = chain(10);
    lines.swap(3, 4);
    let report = verify(&lines);
    assert_broken(&report, 4, BreakReason::SeqGap);
    assert!(report.broken.expect("broken").detail.contains("found seq 5"));
}

#[test]
fn a_repeated_line_is_out_of_order() {
    let mut lines = chain(10);
    let copy = lines[4].clone();
    lines.insert(5, copy);
    assert_broken(&verify(&lines), 6, BreakReason::SeqOutOfOrder);
}

#[test]
fn a_duplicate_id_is_reported_even_when_every_link_holds() {
    let mut lines = chain(10);
    let first = parse(&lines[3]);
    let mut second = parse(&lines[4]);
    second.id = first.id;
    lines[4] = second.to_canonical_line();
    rehash_from(&mut lines, 4);
    assert_broken(&verify(&lines), 5, BreakReason::DuplicateId);
}

#[test]
fn a_wrong_genesis_is_a_prev_mismatch_at_seq_1() {
    let mut lines = chain(5);
    let mut first = parse(&lines[0]);
    first.prev = EventHash([7; 32]);
    lines[0] = first.to_canonical_line();
    rehash_from(&mut lines, 0);
    // rehash_from(0) resets prev to zeros; put the wrong genesis back and rehash the rest.
    let mut first = parse(&lines[0]);
    first.prev = EventHash([7; 32]);
    first.hash = first.compute_hash();
    lines[0] = first.to_canonical_line();
    rehash_from(&mut lines, 1);
    assert_broken(&verify(&lines), 1, BreakReason::PrevMismatch);
    assert_broken(&verify_with(&lines, ChainVerifier::new()), 1, BreakReason::PrevMismatch);
}

#[test]
fn a_torn_last_line_is_bad_format_at_its_seq() {
    let lines = chain(10);
    let mut text = lines.join("\n");
    text.truncate(text.len() - 40); // the last line lost its end and its newline
    let report = verify_reader(text.as_bytes(), ChainVerifier::from_genesis()).expect("in memory");
    assert_broken(&report, 10, BreakReason::BadFormat);

    // A complete last line without its newline is not a SPEC §3 file either.
    let report = verify_reader(lines.join("\n").as_bytes(), ChainVerifier::from_genesis()).expect("in memory");
    assert_broken(&report, 10, BreakReason::BadFormat);

    // The only line of a partial export (seq 10), without its newline: at the seq it says it
    // has, as any other malformed first line (it was seq 1, a seq the file does not hold).
    let report = verify_reader(lines[9].as_bytes(), ChainVerifier::new()).expect("in memory");
    assert_break(&report, 10, BreakReason::BadFormat);
}

#[test]
fn a_line_longer_than_the_limit_is_bad_format_and_reading_stops() {
    use audit_core::verify::MAX_LINE_BYTES;
    use std::io::Read;
    // Two good events, then bytes without a newline forever (as `--jsonl /dev/zero` would be).
    let lines = chain(2);
    let start = format!("{}\n{}\n", lines[0], lines[1]);
    let endless = start.as_bytes().chain(std::io::repeat(b'a'));
    let report = verify_reader(endless, ChainVerifier::from_genesis()).expect("in memory");
    assert_broken(&report, 3, BreakReason::BadFormat);
    let detail = &report.broken.as_ref().expect("broken").detail;
    assert!(detail.contains(&format!("longer than {} MiB", MAX_LINE_BYTES >> 20)), "{detail}");
    assert_eq!(report.verified, 2);
}

#[test]
fn garbage_and_non_canonical_lines_are_bad_format() {
    let mut lines = chain(10);
    lines[5] = "garbage".to_string();
    assert_broken(&verify(&lines), 6, BreakReason::BadFormat);

    let mut lines = chain(10);
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&lines[2]).expect("json"))
        .expect("json")
        .replace('\n', "");
    lines[2] = pretty;
    assert_broken(&verify(&lines), 3, BreakReason::BadFormat);

    let mut lines = chain(10);
    lines[7] = String::new();
    assert_broken(&verify(&lines), 8, BreakReason::BadFormat);

    let mut text = chain(3).join("\n").into_bytes();
    text.extend_from_slice(b"\n\xff\xfe\n");
    let report = verify_reader(text.as_slice(), ChainVerifier::from_genesis()).expect("in memory");
    assert_broken(&report, 4, BreakReason::BadFormat);
}

#[test]
fn an_event_of_another_chain_is_bad_format() {
    let mut lines = chain(4);
    let mut other = parse(&lines[2]);
    other.chain = "tenant-b".to_string();
    other.hash = other.compute_hash();
    lines[2] = other.to_canonical_line();
    assert_broken(&verify(&lines), 3, BreakReason::BadFormat);
}

#[test]
fn a_part_of_a_chain_verifies_with_its_first_prev_on_trust() {
    let lines = chain(10);
    let part = &lines[3..];
    let report = verify_with(part, ChainVerifier::new());
    assert!(report.is_valid(), "{report:?}");
    assert_eq!((report.first_seq, report.verified), (Some(4), 7));
    assert_eq!(report.trusted_prev, Some(parse(&lines[2]).hash));

    // Not accepted where the whole chain is required ...
    assert_break(&verify(part), 1, BreakReason::SeqGap);
    // ... and accepted without trust when the head before it is known.
    let known = Head { seq: 3, hash: parse(&lines[2]).hash };
    let report = verify_with(part, ChainVerifier::after(known));
    assert!(report.is_valid() && report.trusted_prev.is_none(), "{report:?}");
    let wrong = Head { seq: 3, hash: EventHash([1; 32]) };
    assert_break(&verify_with(part, ChainVerifier::after(wrong)), 4, BreakReason::PrevMismatch);
}

/// A part of a chain (an export from a later seq) whose first line is not a valid event: the
/// break is named by the seq that line says it has, not seq 1 (which is not in the file).
#[test]
fn a_bad_first_line_of_a_part_of_a_chain_is_named_by_its_own_seq() {
    let lines = chain(10);
    let mut part = lines[4..].to_vec();
    part[0] = part[0].replacen(",\"actor\"", ", \"actor\"", 1);
    assert_break(&verify_with(&part, ChainVerifier::new()), 5, BreakReason::BadFormat);
    // Where nothing can be read, the verifier still names a seq: the first it could expect.
    part[0] = "not an event".to_string();
    assert_break(&verify_with(&part, ChainVerifier::new()), 1, BreakReason::BadFormat);
}

#[test]
fn tampering_is_found_at_the_right_seq_when_checked_in_parallel() {
    let mut lines = chain(5000);
    lines[3776] = lines[3776].replace("\"update\"", "\"delete\"");
    for threads in [1, 2, 4] {
        let report = verify_with(&lines, ChainVerifier::from_genesis().threads(threads));
        let broken = report.broken.as_ref().expect("broken");
        assert_eq!((broken.seq, &broken.reason), (3777, &BreakReason::HashMismatch), "threads={threads}");
        assert_eq!(report.verified, 3776);
    }
}
