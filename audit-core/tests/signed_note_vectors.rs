//! C2SP signed-note and tlog-checkpoint vectors from
//! /work/shared/vectors/signed_note.json (golang/mod sumdb/note, C2SP,
//! transparency-dev/formats; see PROVENANCE.md).

use audit_core::checkpoint::{
    Checkpoint, CheckpointBody, CheckpointError, MalformedNote, NoteError, NoteSigner, NoteVerifier, open_note,
    sign_note,
};
use ed25519_dalek::SigningKey;
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/signed_note.json");

fn load() -> Value {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| panic!("cannot read {VECTORS}: {e}"));
    serde_json::from_str(&text).expect("signed_note.json is JSON")
}

fn list<'a>(value: &'a Value, what: &str) -> &'a [Value] {
    let list = value.as_array().unwrap_or_else(|| panic!("{what} is not a list"));
    assert!(!list.is_empty(), "{what} is empty");
    list
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("{key} missing in {value}"))
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

fn verifiers(case: &Value) -> Vec<NoteVerifier> {
    case["verify_with"]
        .as_array()
        .expect("verify_with")
        .iter()
        .map(|v| v.as_str().expect("vkey").parse().expect("vkey parses"))
        .collect()
}

fn key_name(vkey: &str) -> &str {
    vkey.split('+').next().expect("name")
}

fn case_by_id<'a>(cases: &'a [Value], id: &str) -> &'a Value {
    cases.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no case {id}"))
}

fn signer_for(doc: &Value, name: &str) -> NoteSigner {
    let key = list(&doc["keys"], "keys")
        .iter()
        .find(|k| key_name(text(k, "vkey")) == name)
        .unwrap_or_else(|| panic!("no key {name}"));
    if let Some(skey) = key["skey"].as_str() {
        return skey.parse().expect("skey parses");
    }
    let seed: [u8; 32] = hex(text(key, "skey_seed_hex")).try_into().expect("32-byte seed");
    NoteSigner::new(name, SigningKey::from_bytes(&seed)).expect("valid name")
}

/// The part of a note before the blank line, with its final newline.
fn note_text(note: &str) -> &str {
    let split = note.rfind("\n\n").expect("blank line");
    &note[..=split]
}

#[test]
fn keys() {
    let doc = load();
    let keys = list(&doc["keys"], "keys");
    for key in keys {
        let vkey = text(key, "vkey");
        let verifier: NoteVerifier = vkey.parse().unwrap_or_else(|e| panic!("{vkey}: {e}"));
        assert_eq!(verifier.to_string(), vkey);
        assert_eq!(verifier.name(), key_name(vkey));
        if let Some(pub_hex) = key["pub_hex"].as_str() {
            assert_eq!(verifier.public_key().as_bytes().to_vec(), hex(pub_hex), "{vkey}");
        }
        if key["skey"].is_string() || key["skey_seed_hex"].is_string() {
            let signer = signer_for(&doc, verifier.name());
            assert_eq!(signer.verifier(), verifier, "{vkey}: private key derives the verifier key");
            if let Some(skey) = key["skey"].as_str() {
                assert_eq!(signer.to_private_key_string(), skey);
            }
        }
    }
    assert_eq!(keys.len(), 9);
}

#[test]
fn notes() {
    let doc = load();
    let notes = list(&doc["notes"], "notes");
    for case in notes {
        let id = text(case, "id");
        let note = text(case, "note");
        let known = verifiers(case);
        let expect = text(case, "expect");
        if expect.starts_with("valid") {
            let opened = open_note(note, &known).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(opened.signatures().len(), known.len(), "{id}");
            assert!(opened.unverified_signatures().is_empty(), "{id}");
            assert_eq!(opened.text(), text(case, "text"), "{id}");
        } else {
            let err = open_note(note, &known).expect_err(id);
            assert!(matches!(err, NoteError::InvalidSignature { .. }), "{id}: {err}");
            // "error: invalid signature for key PeterNeumann+c74f20a3"
            let key = expect.rsplit(' ').next().expect("key");
            assert!(err.to_string().contains(key), "{id}: {err}");
        }
    }
    assert_eq!(notes.len(), 4);
}

#[test]
fn second_signature_by_unknown_key_is_ignored() {
    let doc = load();
    let case = case_by_id(list(&doc["notes"], "notes"), "peter_enoch");
    let peter_only = &verifiers(case)[..1];
    let opened = open_note(text(case, "note"), peter_only).expect("Peter's signature verifies");
    assert_eq!(opened.signatures().len(), 1);
    assert_eq!(opened.signatures()[0].name, "PeterNeumann");
    assert_eq!(opened.unverified_signatures().len(), 1);
    assert_eq!(opened.unverified_signatures()[0].name, "EnochRoot");
}

#[test]
fn signing_reproduces_the_notes() {
    // Ed25519 is deterministic, so the same key and text give the same note.
    let doc = load();
    let notes = list(&doc["notes"], "notes");
    let peter = signer_for(&doc, "PeterNeumann");
    let enoch = signer_for(&doc, "EnochRoot");
    let one = case_by_id(notes, "peter");
    assert_eq!(sign_note(text(one, "text"), std::slice::from_ref(&peter)).expect("signs"), text(one, "note"));
    let two = case_by_id(notes, "peter_enoch");
    assert_eq!(sign_note(text(two, "text"), &[peter, enoch]).expect("signs"), text(two, "note"));
}

#[test]
fn malformed_notes_are_refused() {
    let doc = load();
    let group = &doc["malformed_notes_from_note_test_go"];
    let cases = list(&group["cases"], "malformed cases");
    let notes = list(&doc["notes"], "notes");
    let peter_case = case_by_id(notes, "peter");
    let peter = verifiers(peter_case);
    let peter_text = text(peter_case, "text");
    let peter_sig_line = &text(peter_case, "note")[peter_text.len() + 1..];

    let mut built = 0;
    for case in cases {
        let description = case.as_str().expect("string case");
        let bytes: Vec<u8> = if description.starts_with("(0xff byte prefix") {
            built += 1;
            [b"\xff", peter_text.as_bytes(), b"\n", peter_sig_line.as_bytes()].concat()
        } else if description.starts_with("(101 copies") {
            built += 1;
            format!("{peter_text}\n{}", peter_sig_line.repeat(101)).into_bytes()
        } else {
            assert!(!description.starts_with('('), "unknown constructed case: {description}");
            description.as_bytes().to_vec()
        };
        let err = open_note(&bytes, &peter).expect_err(description);
        assert!(matches!(err, NoteError::Malformed(_)), "{description:?}: {err}");
        assert!(err.to_string().starts_with("malformed note"), "{err}");
    }
    assert_eq!(built, 2);
    assert_eq!(cases.len(), 8);

    // The limit is Go's: 100 signature lines are still accepted.
    let hundred = format!("{peter_text}\n{}", peter_sig_line.repeat(100));
    open_note(&hundred, &peter).expect("100 signatures are within the limit");
    let err = open_note(format!("{peter_text}\n{}", peter_sig_line.repeat(101)), &peter).expect_err("101");
    assert_eq!(err, NoteError::Malformed(MalformedNote::TooManySignatures { count: 101, limit: 100 }));
}

fn assert_parsed(checkpoint: &Checkpoint, parsed: &Value, id: &str) {
    assert_eq!(checkpoint.origin, text(parsed, "origin"), "{id}");
    assert_eq!(checkpoint.size, parsed["size"].as_u64().expect("size"), "{id}");
    assert_eq!(checkpoint.root.to_vec(), hex(text(parsed, "root_hash_hex")), "{id}");
    assert!(checkpoint.extension_lines.is_empty(), "{id}");
}

#[test]
fn checkpoints() {
    let doc = load();
    let cases = list(&doc["checkpoints"], "checkpoints");
    for case in cases {
        let id = text(case, "id");
        let note = text(case, "note");
        let known = verifiers(case);
        match known.as_slice() {
            [verifier] => {
                let checkpoint = Checkpoint::verify(note, verifier).unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_parsed(&checkpoint, &case["parsed"], id);
                let again = Checkpoint::verify_origin(note, verifier, text(&case["parsed"], "origin"));
                assert_eq!(again.expect("origin matches"), checkpoint);
            }
            [] => {
                // No published key: the signature is unknown, so the note is refused,
                // and the body still parses.
                let err = open_note(note, &[]).expect_err(id);
                assert!(matches!(err, NoteError::NoKnownSignature { .. }), "{id}: {err}");
                let checkpoint = Checkpoint::parse_body(note_text(note)).expect("body parses");
                assert_parsed(&checkpoint, &case["parsed"], id);
            }
            _ => panic!("{id}: one verifier expected"),
        }
        assert_eq!(text(case, "expect").starts_with("valid"), !known.is_empty(), "{id}");
    }
    assert_eq!(cases.len(), 2);
}

#[test]
fn sum_golang_org_checkpoint_tampered_or_wrong_key_is_refused() {
    let doc = load();
    let case = case_by_id(list(&doc["checkpoints"], "checkpoints"), "sum.golang.org");
    let note = text(case, "note");
    let verifier = &verifiers(case)[0];
    let tampered = note.replacen("\n6476701\n", "\n6476702\n", 1);
    assert_ne!(tampered, note);
    let err = Checkpoint::verify(&tampered, verifier).expect_err("tampered size");
    assert!(matches!(err, NoteError::InvalidSignature { .. }), "{err}");

    let peter: NoteVerifier = text(&list(&doc["keys"], "keys")[0], "vkey").parse().expect("vkey");
    let err = Checkpoint::verify(note, &peter).expect_err("other key");
    assert!(matches!(err, NoteError::NoKnownSignature { .. }), "{err}");
    assert!(err.to_string().contains("sum.golang.org+033de0ae"), "{err}");
}

#[test]
fn cosigned_checkpoint_ignores_unknown_signatures() {
    let doc = load();
    let cases = list(&doc["checkpoints_multi"], "checkpoints_multi");
    for case in cases {
        let id = text(case, "id");
        let note = text(case, "note");
        let known = verifiers(case);
        let opened = open_note(note, &known).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(opened.signatures().len(), 4, "{id}");
        let names: Vec<&str> = opened.unverified_signatures().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["random1", "random2"], "{id}");
        // Each key alone is enough; the others are then unknown and ignored.
        for verifier in &known {
            let checkpoint = Checkpoint::verify(note, verifier).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(checkpoint.origin, "go.sum database tree");
            assert_eq!(checkpoint.size, 6476701);
        }
    }
    assert_eq!(cases.len(), 1);
}

#[test]
fn checkpoint_bodies() {
    let doc = load();
    let group = &doc["checkpoint_body_vectors"];
    let valid = list(&group["valid"], "valid bodies");
    for case in valid {
        let body = text(case, "body");
        let parsed = CheckpointBody::parse(body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        if let Some(origin) = case["origin"].as_str() {
            assert_eq!(parsed.origin, origin);
        }
        if let Some(size) = case["size"].as_u64() {
            assert_eq!(parsed.size, size);
        }
        if let Some(hash) = case["hash_utf8"].as_str() {
            assert_eq!(parsed.root, hash.as_bytes());
        }
        let rest: Vec<&str> = case["rest"].as_str().map(|r| r.lines().collect()).unwrap_or_default();
        assert_eq!(parsed.extension_lines, rest, "{body:?}");
        assert_eq!(parsed.to_text().expect("formats"), body);
        // These roots are not SHA-256 sized, so the strict checkpoint refuses them.
        let err = Checkpoint::parse_body(body).expect_err("root is not 32 bytes");
        assert!(matches!(err, CheckpointError::RootLength { .. }), "{err}");
    }
    let invalid = list(&group["invalid"], "invalid bodies");
    for case in invalid {
        let body = case.as_str().expect("string");
        assert!(CheckpointBody::parse(body).is_err(), "{body:?}");
        assert!(Checkpoint::parse_body(body).is_err(), "{body:?}");
    }
    assert_eq!(valid.len() + invalid.len(), 11);
}
