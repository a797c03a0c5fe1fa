//! The longest line a verifier reads, `MAX_LINE_BYTES` (64 MiB, its `\n` not counted), is the
//! same wherever the line starts in the input: the input is read in blocks of 1 MiB, and a line
//! that began in an earlier block used to be taken up to 1 MiB past the limit when its newline
//! came in a later one (so a line of 64.5 MiB was valid after some lines and refused after
//! others). The independent verifier (`tools/verify_trail.py`) draws the line at the same place.

use audit_core::canonical;
use audit_core::verify::{BreakReason, ChainVerifier, MAX_LINE_BYTES, verify_reader};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn event(seq: u64, prev: &str, filler: &str) -> Value {
    json!({
        "v": 1, "chain": "default", "seq": seq, "id": format!("0192f0c1-7b6e-7cc0-8000-{seq:012x}"),
        "ts": "2026-11-23T10:15:30.123456Z",
        "actor": {"id": "alice", "kind": "admin"},
        "action": "update", "resource": {"type": "users", "id": "42"}, "outcome": "success",
        "details": {"filler": filler},
        "prev": prev,
    })
}

/// The §3 line of an event and its hash.
fn sealed(mut value: Value) -> (String, String) {
    let hash = hex(&Sha256::digest(canonical::to_string(&value).as_bytes()));
    value.as_object_mut().expect("an object").insert("hash".into(), json!(hash));
    (canonical::to_string(&value), hash)
}

/// `leading` short events, then event `leading + 1` whose line is exactly `length` bytes (its
/// text spliced, not serialized: canonical form writes a run of `x` as it is).
fn trail(leading: u64, length: usize) -> Vec<u8> {
    let mut text = Vec::new();
    let mut prev = ZERO.to_string();
    for seq in 1..=leading {
        let (line, hash) = sealed(event(seq, &prev, "short"));
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
        prev = hash;
    }
    let seq = leading + 1;
    let (short_line, _) = sealed(event(seq, &prev, ""));
    let filler = "x".repeat(length - short_line.len());
    let body = canonical::to_string(&event(seq, &prev, "")).replacen(
        "\"filler\":\"\"",
        &format!("\"filler\":\"{filler}\""),
        1,
    );
    // Over the limit the line is refused before its hash is read: no need to compute it.
    let hash = if length > MAX_LINE_BYTES { ZERO.to_string() } else { hex(&Sha256::digest(body.as_bytes())) };
    let line = body.replacen(",\"id\":\"0192", &format!(",\"hash\":\"{hash}\",\"id\":\"0192"), 1);
    assert_eq!(line.len(), length);
    text.extend_from_slice(line.as_bytes());
    text.push(b'\n');
    text
}

#[test]
fn a_line_of_64_mib_is_read_and_one_byte_more_is_not_wherever_it_starts() {
    // The long line starting at the input's first byte, and just before the end of the first
    // block of 1 MiB (each short line is about 400 bytes).
    for leading in [0, 2600] {
        let report =
            verify_reader(&trail(leading, MAX_LINE_BYTES)[..], ChainVerifier::from_genesis()).expect("in memory");
        assert!(report.is_valid(), "{leading} lines before: {report:?}");
        assert_eq!(report.verified, leading + 1);

        let report =
            verify_reader(&trail(leading, MAX_LINE_BYTES + 1)[..], ChainVerifier::from_genesis()).expect("in memory");
        let broken = report.broken.expect("a line longer than the limit");
        assert_eq!((broken.seq, broken.reason), (leading + 1, BreakReason::BadFormat), "{}", broken.detail);
        assert!(broken.detail.contains("longer than 64 MiB"), "{}", broken.detail);
        assert_eq!(report.verified, leading);
    }
}
