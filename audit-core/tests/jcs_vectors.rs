//! RFC 8785 conformance: every vector in `shared/vectors/jcs/` (cyberphone's test data and
//! the first 10 000 lines of the ES6 number table).

use audit_core::canonical;
use audit_core::line::check_canonical;
use std::path::{Path, PathBuf};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/jcs")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read vector {}: {e}", path.display()))
}

#[test]
fn every_input_canonicalizes_to_its_output_and_hex() {
    let mut names: Vec<_> = std::fs::read_dir(vectors().join("input"))
        .expect("shared/vectors/jcs/input must exist")
        .map(|entry| entry.expect("directory entry").file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "expected the six cyberphone vectors, found {names:?}");
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let input = read(&vectors().join("input").join(&name));
        let expected = read(&vectors().join("output").join(&name));
        let hex_name = name.replace(".json", ".txt");
        let hex_text = String::from_utf8(read(&vectors().join("outhex").join(hex_name))).expect("hex is text");
        let expected_from_hex: Vec<u8> = hex_text
            .split_whitespace()
            .map(|byte| u8::from_str_radix(byte, 16).expect("outhex holds hex bytes"))
            .collect();
        assert_eq!(expected, expected_from_hex, "{name}: output and outhex disagree");

        let value: serde_json::Value = serde_json::from_slice(&input).expect("input is JSON");
        let ours = canonical::to_string(&value);
        assert_eq!(ours.as_bytes(), expected.as_slice(), "{name}: canonical form differs");

        // The reference crate agrees, and the checker accepts exactly the canonical bytes.
        let reference = serde_json_canonicalizer::to_string(&value).expect("reference canonicalizes");
        assert_eq!(ours, reference, "{name}: differs from serde_json_canonicalizer");
        check_canonical(&expected).unwrap_or_else(|e| panic!("{name}: output judged not canonical: {e}"));
        if input != expected {
            assert!(check_canonical(&input).is_err(), "{name}: pretty input judged canonical");
        }
    }
}

#[test]
fn es6_number_formatting_matches_the_table() {
    let table = String::from_utf8(read(&vectors().join("es6numbers_first10000.txt"))).expect("table is text");
    let mut checked = 0;
    for (i, line) in table.lines().enumerate() {
        let (bits, expected) = line.split_once(',').unwrap_or_else(|| panic!("line {i}: no comma"));
        let value = f64::from_bits(u64::from_str_radix(bits, 16).unwrap_or_else(|e| panic!("line {i}: {e}")));
        assert!(value.is_finite(), "line {i}: the table holds only finite numbers");
        let mut out = Vec::new();
        canonical::write_f64(value, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), expected, "line {i}: {bits}");
        // The checker accepts the ES6 form, and the ES6 form only.
        check_canonical(expected.as_bytes())
            .unwrap_or_else(|e| panic!("line {i}: {expected} judged not canonical: {e}"));
        if !expected.contains('e') && expected.contains('.') {
            let padded = format!("{expected}0");
            assert!(check_canonical(padded.as_bytes()).is_err(), "line {i}: {padded} judged canonical");
        }
        checked += 1;
    }
    assert_eq!(checked, 10_000);
}
