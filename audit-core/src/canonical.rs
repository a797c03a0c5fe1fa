//! Canonical JSON (RFC 8785, the JSON Canonicalization Scheme), SPEC §2.
//!
//! ```
//! use serde_json::json;
//! let value = json!({"b": [1.0, 1e21, "é"], "a": null});
//! assert_eq!(audit_core::canonical::to_string(&value), r#"{"a":null,"b":[1,1e+21,"é"]}"#);
//! ```
//!
//! Two entry points share one set of primitives:
//! - [`write_value`] writes any [`serde_json::Value`] canonically (keys sorted by UTF-16
//!   code units, ES6 number formatting, minimal string escaping). The event writer of
//!   [`crate::event`] calls the same primitives for its typed fields, so the fast path and
//!   the generic path cannot drift apart.
//! - [`check_line`](crate::line) (in the `line` module) decides whether bytes *already are* canonical
//!   without building a tree, for the verifier.
//!
//! Numbers: RFC 8785 treats every number as an IEEE 754 double. An integer beyond
//! ±2^53 cannot be represented exactly; [`normalize_value`] turns such integers into their
//! decimal string before hashing so that nothing is lost (RFC 8785 §6 recommends strings for
//! such values). [`write_value`] itself follows RFC 8785 strictly and formats them as doubles.

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

/// The largest integer magnitude an IEEE 754 double holds exactly (2^53).
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Canonical form of `value` as a string.
pub fn to_string(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    write_value(value, &mut out);
    // Every byte written comes from `&str` data or ASCII punctuation.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Appends the canonical form of `value` to `out`.
pub fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let members = in_canonical_order(map.iter().collect());
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(key, out);
        out.push(b':');
        write_value(value, out);
    }
    out.push(b'}');
}

/// `members` sorted by their keys' UTF-16 code units (RFC 8785 §3.2.3). serde_json's map is
/// usually ordered by UTF-8 bytes already, which is UTF-16 order but for keys with characters
/// above U+FFFF next to ones in U+E000..=U+FFFF; with serde_json's `preserve_order` feature
/// (which any crate of an application's build can switch on) it is in insertion order. So the
/// order is checked, and the members sorted when it is not canonical.
fn in_canonical_order<'m>(mut members: Vec<(&'m String, &'m Value)>) -> Vec<(&'m String, &'m Value)> {
    if !members.is_sorted_by(|a, b| cmp_utf16(a.0, b.0).is_le()) {
        members.sort_by(|a, b| cmp_utf16(a.0, b.0));
    }
    members
}

/// Orders two strings by their UTF-16 code units, as RFC 8785 §3.2.3 sorts object keys.
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Appends `n` in ES6 `Number.prototype.toString` form (RFC 8785 §3.2.2.3).
pub fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64() {
        if u <= MAX_SAFE_INTEGER {
            write_u64(u, out);
            return;
        }
    } else if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= MAX_SAFE_INTEGER
    {
        out.push(b'-');
        write_u64(i.unsigned_abs(), out);
        return;
    }
    // serde_json never holds NaN or infinities; `as_f64` is always `Some` without
    // `arbitrary_precision`.
    write_f64(n.as_f64().unwrap_or(0.0), out);
}

/// Appends a finite double in ES6 form; `-0` is written `0`.
pub fn write_f64(f: f64, out: &mut Vec<u8>) {
    let mut buffer = ryu_js::Buffer::new();
    out.extend_from_slice(buffer.format_finite(f).as_bytes());
}

/// Appends an integer in decimal, as RFC 8785 writes it (exact up to ±2^53; the caller bounds
/// it).
pub fn write_i64(n: i64, out: &mut Vec<u8>) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(n.unsigned_abs(), out);
}

/// Appends an unsigned integer in decimal.
pub fn write_u64(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `s` as a JSON string with the minimal escaping of RFC 8785 §3.2.2.2.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Rewrites integers beyond ±2^53 as decimal strings, at any depth, so that RFC 8785's
/// double conversion cannot change them. Returns how many were rewritten.
pub fn normalize_value(value: &mut Value) -> usize {
    match value {
        Value::Number(n) => {
            let unsafe_integer = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u > MAX_SAFE_INTEGER,
                (None, Some(i)) => i.unsigned_abs() > MAX_SAFE_INTEGER,
                (None, None) => false,
            };
            if unsafe_integer {
                *value = Value::String(n.to_string());
                1
            } else {
                0
            }
        }
        Value::Array(items) => items.iter_mut().map(normalize_value).sum(),
        Value::Object(map) => map.values_mut().map(normalize_value).sum(),
        Value::Null | Value::Bool(_) | Value::String(_) => 0,
    }
}

/// Parses JSON text as serde_json does, but refuses an object with two members of one name
/// (at any depth): RFC 8785 takes I-JSON (RFC 7493 §2.3), and a parser that keeps one of the
/// two would hand on another text than the one it was given.
pub fn parse_unique(json: &str) -> Result<Value, serde_json::Error> {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct Unique;

    impl<'de> DeserializeSeed<'de> for Unique {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Unique {
        type Value = Value;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(Unique)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
            let mut members = Map::new();
            while let Some(name) = access.next_key::<String>()? {
                if members.contains_key(&name) {
                    return Err(de::Error::custom(format_args!("member {name:?} appears twice in one object")));
                }
                let value = access.next_value_seed(Unique)?;
                members.insert(name, value);
            }
            Ok(Value::Object(members))
        }
    }

    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value = Unique.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Members in any order come out in canonical order (serde_json's `preserve_order` feature
    /// keeps insertion order, and the writer sorted only maps with non-ASCII keys).
    #[test]
    fn members_in_insertion_order_are_sorted() {
        let (a, b, c) = ("a".to_string(), "b".to_string(), "\u{e000}".to_string());
        let (one, two) = (Value::from(1), Value::from(2));
        let keys = |members: Vec<(&String, &Value)>| members.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>();
        assert_eq!(keys(in_canonical_order(vec![(&b, &one), (&a, &two)])), ["a", "b"]);
        assert_eq!(keys(in_canonical_order(vec![(&c, &one), (&b, &two), (&a, &one)])), ["a", "b", "\u{e000}"]);
        assert_eq!(keys(in_canonical_order(vec![(&a, &one), (&b, &two)])), ["a", "b"]);
    }

    #[test]
    fn parse_unique_refuses_a_repeated_member_at_any_depth() {
        assert_eq!(parse_unique(r#"{"a":[{"b":1,"c":2}],"d":-1.5}"#).ok(), Some(json!({"a":[{"b":1,"c":2}],"d":-1.5})));
        for text in [r#"{"a":1,"a":1}"#, r#"{"x":[{"b":1,"b":2}]}"#, r#"[{"k":{},"k":null}]"#] {
            let error = parse_unique(text).expect_err(text).to_string();
            assert!(error.contains("appears twice"), "{text}: {error}");
        }
        assert!(parse_unique("{} x").is_err(), "trailing text");
    }

    #[test]
    fn escapes_minimally() {
        let mut out = Vec::new();
        write_str("a\"b\\c\u{1}\n\u{7f}é/", &mut out);
        assert_eq!(out, b"\"a\\\"b\\\\c\\u0001\\n\x7f\xc3\xa9/\"");
    }

    #[test]
    fn sorts_keys_by_utf16_not_utf8() {
        // U+FB01 (one UTF-16 unit 0xFB01) sorts after U+1F600 (surrogates 0xD83D ...),
        // though its UTF-8 bytes sort first.
        let value = json!({"\u{fb01}": 1, "\u{1f600}": 2});
        assert_eq!(to_string(&value), "{\"\u{1f600}\":2,\"\u{fb01}\":1}");
    }

    #[test]
    fn numbers_follow_es6() {
        let value = json!([0.0, -0.0, 1e21, 1e-7, 123456789012345680000.0, 4.5, -1]);
        assert_eq!(to_string(&value), "[0,0,1e+21,1e-7,123456789012345680000,4.5,-1]");
    }

    #[test]
    fn big_integers_become_strings_when_normalized() {
        let mut value = json!({"id": 9007199254740993u64, "ok": 9007199254740992u64, "n": -9007199254740993i64});
        assert_eq!(normalize_value(&mut value), 2);
        assert_eq!(to_string(&value), r#"{"id":"9007199254740993","n":"-9007199254740993","ok":9007199254740992}"#);
    }
}
