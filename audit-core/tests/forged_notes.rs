//! Forged or malformed notes, keys and checkpoints (SPEC §5) are refused, and proofs with
//! hostile sizes (SPEC §4) are refused quickly, without a panic.

use audit_core::checkpoint::{Checkpoint, NoteSigner, NoteVerifier, sign_note};
use audit_core::merkle::{MemoryTree, leaf_hash, verify_consistency, verify_inclusion};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;

fn signer(name: &str) -> NoteSigner {
    NoteSigner::new(name, SigningKey::from_bytes(&[7; 32])).expect("valid name")
}

/// Notes a forger can make from a genuine one: every one must be refused.
#[test]
fn forged_variants_of_a_genuine_checkpoint_are_refused() {
    let s = signer("audit.example.com/default");
    let v = s.verifier();
    let note = Checkpoint::new("audit.example.com/default", 5, [9; 32]).sign(&s).expect("signs");
    Checkpoint::verify(&note, &v).expect("genuine");
    let (text, sig_line) = note.split_once("\n\n").expect("blank line");
    let text = format!("{text}\n");
    let b64 = sig_line.trim_end().rsplit(' ').next().expect("base64").to_string();
    let bytes = BASE64.decode(&b64).expect("base64");

    // Non-canonical base64: same bytes with a non-zero padding bit (last char before '=').
    let last = b64.trim_end_matches('=');
    let mut chars: Vec<char> = last.chars().collect();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let idx = alphabet.find(*chars.last().expect("char")).expect("b64 char");
    *chars.last_mut().expect("char") = alphabet.chars().nth(idx | 1).expect("char");
    let noncanonical = format!("{}{}", chars.iter().collect::<String>(), &b64[last.len()..]);
    assert_ne!(noncanonical, b64);
    assert_eq!(BASE64.decode(&noncanonical).ok(), None, "the base64 engine should refuse it");

    // The signature without padding.
    let unpadded = b64.trim_end_matches('=').to_string();
    // The signature with a 65th byte appended / the last byte removed.
    let longer = BASE64.encode([&bytes[..], &[0u8]].concat());
    let shorter = BASE64.encode(&bytes[..bytes.len() - 1]);

    let forged: Vec<(&str, String)> = vec![
        ("non-canonical base64", format!("{text}\n\u{2014} audit.example.com/default {noncanonical}\n")),
        ("unpadded base64", format!("{text}\n\u{2014} audit.example.com/default {unpadded}\n")),
        ("65-byte signature", format!("{text}\n\u{2014} audit.example.com/default {longer}\n")),
        ("63-byte signature", format!("{text}\n\u{2014} audit.example.com/default {shorter}\n")),
        ("two spaces", format!("{text}\n\u{2014} audit.example.com/default  {b64}\n")),
        ("trailing space", format!("{text}\n\u{2014} audit.example.com/default {b64} \n")),
        ("CRLF", format!("{text}\n\u{2014} audit.example.com/default {b64}\r\n")),
        ("CR in text", note.replacen("\n5\n", "\r\n5\n", 1)),
        ("extra blank line", format!("{text}\n\n\u{2014} audit.example.com/default {b64}\n")),
        ("missing blank line", format!("{text}\u{2014} audit.example.com/default {b64}\n")),
        ("no final newline", format!("{text}\n\u{2014} audit.example.com/default {b64}")),
        ("trailing text", format!("{note}trailing\n")),
        ("trailing blank line", format!("{note}\n")),
        ("hyphen instead of em dash", format!("{text}\n- audit.example.com/default {b64}\n")),
        ("en dash", format!("{text}\n\u{2013} audit.example.com/default {b64}\n")),
        ("other name, same key id", format!("{text}\n\u{2014} audit.example.com/other {b64}\n")),
        ("size with leading zero", note.replacen("\n5\n", "\n05\n", 1)),
        ("size with plus sign", note.replacen("\n5\n", "\n+5\n", 1)),
        ("NUL in body", note.replacen("\n5\n", "\n5\0\n", 1)),
        ("BOM before the note", format!("\u{feff}{note}")),
    ];
    for (what, forged) in forged {
        assert!(Checkpoint::verify(&forged, &v).is_err(), "{what}: accepted\n{forged}");
    }
    // Not UTF-8.
    let mut bytes = note.clone().into_bytes();
    bytes[0] = 0xff;
    assert!(Checkpoint::verify(&bytes, &v).is_err());
}

/// Bodies that are not valid tlog-checkpoints, correctly signed by the trusted key: the
/// signature is good, the checkpoint must still be refused.
#[test]
fn correctly_signed_but_invalid_checkpoint_bodies_are_refused() {
    let s = signer("log");
    let v = s.verifier();
    let root = BASE64.encode([1u8; 32]);
    let short = BASE64.encode([1u8; 31]);
    let long = BASE64.encode([1u8; 33]);
    let bodies = [
        format!("\n5\n{root}\n"),                       // missing origin (text starts with a blank line)
        format!("log\n05\n{root}\n"),                   // leading zero
        format!("log\n+5\n{root}\n"),                   // sign
        format!("log\n-0\n{root}\n"),                   // sign
        format!("log\n 5\n{root}\n"),                   // space
        format!("log\n5 \n{root}\n"),                   // space
        format!("log\n18446744073709551616\n{root}\n"), // 2^64
        format!("log\n5\n{short}\n"),                   // 31-byte root
        format!("log\n5\n{long}\n"),                    // 33-byte root
        format!("log\n5\n{}\n", root.trim_end_matches('=')), // unpadded
        format!("log\n5\n{root}\n\next\n"),             // empty extension line
        "log\n5\n".to_string(),                         // no root
        format!("log\n5\n{root}x\n"),                   // trailing junk in the root line
        format!("log\n\u{0665}\n{root}\n"),             // Arabic-Indic digit five
    ];
    for body in bodies {
        let note = match sign_note(&body, std::slice::from_ref(&s)) {
            Ok(note) => note,
            Err(_) => continue, // cannot even be signed: fine
        };
        assert!(Checkpoint::verify(&note, &v).is_err(), "accepted body {body:?}");
    }
    // Largest size is fine.
    let note = sign_note(&format!("log\n18446744073709551615\n{root}\n"), std::slice::from_ref(&s)).expect("signs");
    assert_eq!(Checkpoint::verify(&note, &v).expect("u64::MAX").size, u64::MAX);
}

/// Verifier keys that are subtly wrong are refused, never silently accepted as another key.
#[test]
fn altered_verifier_keys_are_refused() {
    let v = signer("log").verifier().to_string();
    let (name, rest) = v.split_once('+').expect("name");
    let (id, key) = rest.split_once('+').expect("id");
    let raw = BASE64.decode(key).expect("b64");
    let bad = [
        format!("Log+{id}+{key}"),                                           // other name, same id
        format!("{name}+{}+{key}", id.to_uppercase() + "0"),                 // 9 hex digits
        format!("{name}+{id}+{key}\n"), // newline (the CLI trims, the parser must not)
        format!("{name}+{id}+{}", BASE64.encode([&raw[..], &[0]].concat())), // 33-byte key
        format!("{name}+{id}+{}", BASE64.encode(&raw[..32])), // 31-byte key
        format!("{name}++{id}+{key}"),
        format!("+{id}+{key}"),
        format!("{name}+{id}"),
    ];
    for text in bad {
        assert!(text.parse::<NoteVerifier>().is_err(), "accepted {text:?}");
    }
    // Upper-case hex is accepted (as Go's ParseUint does).
    let upper = format!("{name}+{}+{key}", id.to_uppercase());
    assert_eq!(upper.parse::<NoteVerifier>().expect("upper case id").to_string(), v);
}

/// Hostile sizes in proofs: no panic, no long loop; index >= size, size 0 and path lengths.
#[test]
fn proofs_with_hostile_sizes_are_refused_quickly() {
    let h = [0u8; 32];
    let path: Vec<[u8; 32]> = vec![[1; 32]; 64];
    for (index, size) in [(0, 0), (u64::MAX, u64::MAX), (1 << 63, 1 << 63), (5, 5)] {
        assert!(verify_inclusion(index, size, &h, &path, &h).is_err(), "{index} {size}");
    }
    for len in 0..=64 {
        let _ = verify_inclusion(u64::MAX - 1, u64::MAX, &h, &path[..len], &h);
        let _ = verify_inclusion(0, 1 << 63, &h, &path[..len], &h);
        let _ = verify_consistency(1, u64::MAX, &path[..len], &h, &h);
        let _ = verify_consistency(u64::MAX - 1, u64::MAX, &path[..len], &h, &h);
        let _ = verify_consistency((1 << 63) + 1, u64::MAX, &path[..len], &h, &h);
    }
    assert!(verify_consistency::<[u8; 32]>(0, 0, &[], &h, &h).is_err());
    assert!(verify_consistency::<[u8; 32]>(0, 5, &[], &h, &h).is_err());

    // In a real tree, one hash too many or too few is refused for every index and size.
    let mut tree = MemoryTree::new();
    for i in 0u8..40 {
        tree.push(leaf_hash(&[i; 32])).expect("push");
    }
    for size in 1..=40u64 {
        let root = tree.root_at(size).expect("root");
        for index in 0..size {
            let leaf = leaf_hash(&[index as u8; 32]);
            let path = tree.inclusion_path(index, size).expect("path");
            verify_inclusion(index, size, &leaf, &path, &root).expect("valid");
            let mut longer = path.clone();
            longer.push([0; 32]);
            assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
            if let Some((_, shorter)) = path.split_last() {
                assert!(verify_inclusion(index, size, &leaf, shorter, &root).is_err());
            }
            assert!(verify_inclusion(index + size, size, &leaf, &path, &root).is_err());
        }
        for size1 in 1..size {
            let root1 = tree.root_at(size1).expect("root");
            let path = tree.consistency_path(size1, size).expect("path");
            verify_consistency(size1, size, &path, &root1, &root).expect("valid");
            let mut longer = path.clone();
            longer.push([0; 32]);
            assert!(verify_consistency(size1, size, &longer, &root1, &root).is_err());
            longer.insert(0, root1);
            longer.pop();
            assert!(verify_consistency(size1, size, &longer, &root1, &root).is_err(), "{size1} {size} seeded");
            if let Some((_, shorter)) = path.split_last() {
                assert!(verify_consistency(size1, size, shorter, &root1, &root).is_err());
            }
        }
    }
}
