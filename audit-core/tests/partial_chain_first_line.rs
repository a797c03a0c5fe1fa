//! Where a part of a chain (`ChainVerifier::new`, as `audit-trail verify --jsonl` runs it
//! without a checkpoint) is reported broken when its first line is not a valid event: at the
//! seq the line claims when it is still JSON and that is a seq a valid event could have (1 to
//! 2^53), else at 1.

use audit_core::canonical;
use audit_core::verify::{BreakReason, ChainVerifier, VerifyReport, verify_reader};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn event(seq: Value, prev: &str) -> Value {
    json!({
        "v": 1, "chain": "default", "seq": seq, "id": "0192f0c1-7b6e-7cc0-8000-000000000007",
        "ts": "2026-11-23T10:15:30.123456Z",
        "actor": {"id": "alice", "kind": "admin"},
        "action": "update", "resource": {"type": "users", "id": "42"}, "outcome": "success",
        "prev": prev,
    })
}

/// Canonical line with a correct hash (SPEC §2 slow path).
fn seal(mut value: Value) -> String {
    value.as_object_mut().expect("object").remove("hash");
    let hash = hex(&Sha256::digest(canonical::to_string(&value).as_bytes()));
    value.as_object_mut().expect("object").insert("hash".into(), json!(hash));
    canonical::to_string(&value)
}

fn verify_part(line: &str) -> VerifyReport {
    let text = format!("{line}\n");
    verify_reader(text.as_bytes(), ChainVerifier::new()).expect("in memory")
}

/// A first line that claims `"seq":0` (SPEC §1: seqs are 1, 2, 3, …; the line checker says
/// "\"seq\" starts at 1"): reported at 1, not at a position that does not exist.
#[test]
fn a_first_line_claiming_seq_0_is_not_reported_at_seq_0() {
    let line = seal(event(json!(0), ZERO));
    let report = verify_part(&line);
    let broken = report.broken.expect("seq 0 is bad format");
    assert_eq!(broken.reason, BreakReason::BadFormat, "{}", broken.detail);
    assert!(broken.seq >= 1, "reported at seq {} ({})", broken.seq, broken.detail);
}

/// A first line that claims `"seq":18446744073709551615` (beyond the 2^53 the line checker
/// takes: "\"seq\" must be a non-negative integer up to 2^53"): reported at 1, not at a
/// number JSON consumers using doubles cannot even hold (`broken_at` in `verify --json`).
#[test]
fn a_first_line_claiming_a_seq_beyond_2_pow_53_is_not_reported_there() {
    let line = seal(event(json!(u64::MAX), ZERO)).replace("18446744073709552000", "18446744073709551615");
    assert!(line.contains("\"seq\":18446744073709551615"), "{line}");
    let report = verify_part(&line);
    let broken = report.broken.expect("bad format");
    assert_eq!(broken.reason, BreakReason::BadFormat, "{}", broken.detail);
    assert!(broken.seq <= 1 << 53, "reported at seq {} ({})", broken.seq, broken.detail);
}

/// A first line with a byte that is not UTF-8 inside a string is not JSON at all (RFC 8259 §8.1),
/// so its `"seq":7` names nothing: reported at 1, as the independent verifier
/// (`tools/verify_trail.py`) reports it. serde_json skips the bytes of strings it ignores
/// without checking them, so this needs its own check.
#[test]
fn a_first_line_that_is_not_utf8_is_reported_at_seq_1() {
    let line = seal(event(json!(7), ZERO));
    let mut bytes = line.into_bytes();
    let at = bytes.windows(7).position(|w| w == b"\"alice\"").expect("the actor id") + 2;
    bytes[at] = 0xff;
    bytes.push(b'\n');
    let report = verify_reader(&bytes[..], ChainVerifier::new()).expect("in memory");
    let broken = report.broken.expect("not UTF-8 is bad format");
    assert_eq!((broken.seq, broken.reason), (1, BreakReason::BadFormat), "{}", broken.detail);

    // The same line in UTF-8, still not canonical: at the seq it claims.
    let spaced = seal(event(json!(7), ZERO)).replacen(',', ", ", 1);
    let broken = verify_part(&spaced).broken.expect("not canonical is bad format");
    assert_eq!((broken.seq, broken.reason), (7, BreakReason::BadFormat), "{}", broken.detail);
}

/// A first line that is a JSON array is no object and claims no seq: reported at 1, as the
/// independent verifier (`tools/verify_trail.py`) reports it. (serde's derived structs also
/// read an array as their fields in order, so `[7]` was reported at seq 7.)
#[test]
fn a_first_line_that_is_an_array_claims_no_seq() {
    for line in ["[7]", " [7]", "[7,\"default\"]"] {
        let broken = verify_part(line).broken.expect("an array is bad format");
        assert_eq!((broken.seq, broken.reason), (1, BreakReason::BadFormat), "{line}: {}", broken.detail);
    }
    // An object claiming seq 7, white space before it included: at 7.
    for line in [r#"{"seq":7}"#, r#" {"seq": 7, "x": [7]}"#] {
        let broken = verify_part(line).broken.expect("not an event");
        assert_eq!((broken.seq, broken.reason), (7, BreakReason::BadFormat), "{line}: {}", broken.detail);
    }
    // "seq" twice claims nothing.
    let broken = verify_part(r#"{"seq":7,"seq":7}"#).broken.expect("not an event");
    assert_eq!(broken.seq, 1, "{}", broken.detail);
}

/// A member name with an unpaired surrogate escape (`"\ud800"`) is still JSON text (RFC 8259
/// §8.2: its grammar allows it, only its meaning is unpredictable), so the object's `"seq":7`
/// is claimed, as the independent verifier reads it; serde_json refuses such a name as a
/// string, which made the whole line claim nothing.
#[test]
fn a_member_name_with_an_unpaired_surrogate_escape_keeps_the_claimed_seq() {
    for line in [r#"{"\ud800":1,"seq":7}"#, r#"{"a\udc00b":{"\ud83d":[]},"seq":7}"#, r#"{"s\u0065q":7}"#] {
        let broken = verify_part(line).broken.expect("not an event");
        assert_eq!((broken.seq, broken.reason), (7, BreakReason::BadFormat), "{line}: {}", broken.detail);
    }
}
