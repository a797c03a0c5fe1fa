//! A hostile note costs `open_note` no memory beyond the signature limit. One test only in
//! this binary: it reads the process's peak resident set size (Linux).

use audit_core::checkpoint::{NoteError, NoteSigner, open_note};
use ed25519_dalek::SigningKey;

/// A field of /proc/self/status, in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status.lines().find(|l| l.starts_with(field)).expect("field");
    line.split_whitespace().nth(1).expect("value").parse().expect("number")
}

/// At most 100 signature lines (`MAX_SIGNATURES`, as Go's `note.Open`); checkpoints come from
/// outside the application (SPEC §5). Refusing a note of 8 million signature lines must not
/// take memory in proportion to them (before, 8 bytes per byte of the note: ~130 MB here).
#[test]
fn open_note_memory_does_not_grow_with_lines_beyond_the_signature_limit() {
    let lines = 8_000_000;
    let note = format!("x\n\n{}", "a\n".repeat(lines));
    let key = NoteSigner::new("log", SigningKey::from_bytes(&[7; 32])).expect("valid").verifier();
    // Reset the peak RSS to the current RSS (Linux >= 4.0).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before = status_kb("VmRSS:");
    let err = open_note(note.as_bytes(), std::slice::from_ref(&key)).expect_err("more than 100 signature lines");
    let peak = status_kb("VmHWM:");
    assert!(matches!(err, NoteError::Malformed(_)), "{err}");
    let extra_kb = peak.saturating_sub(before);
    let note_kb = note.len() as u64 / 1024;
    assert!(
        extra_kb < note_kb,
        "open_note took {extra_kb} kB of extra memory to refuse a {note_kb} kB note with {lines} signature \
         lines; it should give up at the 101st line instead of collecting them all"
    );
}
