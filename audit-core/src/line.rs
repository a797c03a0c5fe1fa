//! Checking one stored line without building a JSON tree: is it canonical (RFC 8785), is it
//! a SPEC §1 event, and what is the hash of it without its `hash` member (SPEC §2).
//!
//! ```
//! use audit_core::line::inspect;
//! let line = br#"{"action":"login","actor":{"id":"alice","kind":"user"},"chain":"default","hash":"5e8f4e0d4e5b4a6ac1b1d0a2c38b7d8e0e9a3a5a4e9c0d1f0b2e3c4d5e6f7a8b","id":"0192f0c1-7b6e-7cc0-8000-000000000001","outcome":"success","prev":"0000000000000000000000000000000000000000000000000000000000000000","resource":{"id":"","type":"session"},"seq":1,"ts":"2026-11-23T10:15:30.123456Z","v":1}"#;
//! let info = inspect(line).unwrap();
//! assert_eq!(info.seq, 1);
//! assert_ne!(info.computed, info.declared, "the declared hash above is made up");
//! ```
//!
//! The verifier calls [`inspect`] on every line, in parallel; it must cost little more than
//! the SHA-256 itself. Because the form is canonical, equal values have equal bytes, so field
//! values are compared as raw bytes.

use crate::canonical::{MAX_SAFE_INTEGER, cmp_utf16};
use crate::event::{ActorKind, Outcome};
use crate::hash::EventHash;
use crate::timestamp::Timestamp;
use sha2::{Digest, Sha256};
use std::fmt;
use std::ops::Range;

/// Deepest nesting accepted inside an event.
pub const MAX_DEPTH: usize = 64;

/// A line is not a canonical SPEC §1 event ("bad format").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FormatError {
    message: String,
}

impl FormatError {
    pub(crate) fn new(message: impl Into<String>) -> FormatError {
        FormatError { message: message.into() }
    }
    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What the verifier needs from one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// `seq`.
    pub seq: u64,
    /// `id` as a number (for duplicate checks).
    pub id: u128,
    /// `prev`.
    pub prev: EventHash,
    /// The `hash` written in the line.
    pub declared: EventHash,
    /// SHA-256 of the line without its `hash` member.
    pub computed: EventHash,
    /// Byte range of the `chain` value (with quotes) in the line.
    pub chain: Range<usize>,
}

/// Checks that `line` (without its `\n`) is one canonical SPEC event and hashes it.
pub fn inspect(line: &[u8]) -> Result<LineInfo, FormatError> {
    check_text(line)?;
    if line.first() != Some(&b'{') {
        return Err(FormatError::new("not a JSON object"));
    }
    let mut scanner = Scanner { b: line, i: 0 };
    let mut top = TopLevel::default();
    scanner.object(|s, key| top.member(s, key))?;
    if scanner.i != line.len() {
        return Err(scanner.error("text after the event object"));
    }
    top.finish(line)
}

/// Checks that `json` is one JSON value in RFC 8785 canonical form, whatever its shape.
pub fn check_canonical(json: &[u8]) -> Result<(), FormatError> {
    check_text(json)?;
    let mut scanner = Scanner { b: json, i: 0 };
    scanner.value(0)?;
    if scanner.i != json.len() {
        return Err(scanner.error("text after the JSON value"));
    }
    Ok(())
}

/// Canonical JSON is UTF-8 and holds no raw control character anywhere: none between tokens
/// (no white space) and none in strings (they are escaped). Checking that once, in passes the
/// compiler vectorizes, lets the string scanner look for `"` and `\\` only.
fn check_text(json: &[u8]) -> Result<(), FormatError> {
    if std::str::from_utf8(json).is_err() {
        return Err(FormatError::new("not UTF-8"));
    }
    if json.iter().fold(false, |control, &c| control | (c < 0x20)) {
        let at = json.iter().position(|&c| c < 0x20).unwrap_or(0);
        return Err(FormatError::new(format!("raw control character or white space at byte {at}")));
    }
    Ok(())
}

/// What one pass over the top-level members found. Nested SPEC objects (actor, resource,
/// context, changes, tags, details) are checked while they are scanned; scalar members are
/// kept as spans and checked by [`TopLevel::finish`].
#[derive(Default)]
struct TopLevel {
    v: Option<Range<usize>>,
    chain: Option<Range<usize>>,
    seq: Option<Range<usize>>,
    id: Option<Range<usize>>,
    ts: Option<Range<usize>>,
    action: Option<Range<usize>>,
    outcome: Option<Range<usize>>,
    reason: Option<Range<usize>>,
    justification: Option<Range<usize>>,
    prev: Option<Range<usize>>,
    hash: Option<Range<usize>>,
    /// The whole `"hash":"…"` member.
    hash_member: Option<Range<usize>>,
    actor: bool,
    resource: bool,
}

impl TopLevel {
    /// Scans the value of top-level member `key`.
    fn member(&mut self, s: &mut Scanner<'_>, key: Range<usize>) -> Result<(), FormatError> {
        let b = s.b;
        let start = s.i;
        let slot = match &b[key.clone()] {
            b"\"actor\"" => {
                self.actor = true;
                return check_actor(s);
            }
            b"\"resource\"" => {
                self.resource = true;
                return check_resource(s);
            }
            b"\"context\"" => return check_context(s),
            b"\"changes\"" => return check_changes(s),
            b"\"tags\"" => return check_tags(s),
            b"\"details\"" => return check_details(s),
            b"\"v\"" => &mut self.v,
            b"\"chain\"" => &mut self.chain,
            b"\"seq\"" => &mut self.seq,
            b"\"id\"" => &mut self.id,
            b"\"ts\"" => &mut self.ts,
            b"\"action\"" => &mut self.action,
            b"\"outcome\"" => &mut self.outcome,
            b"\"reason\"" => &mut self.reason,
            b"\"justification\"" => &mut self.justification,
            b"\"prev\"" => &mut self.prev,
            b"\"hash\"" => &mut self.hash,
            _ => return s.value(1), // a field another implementation added: hashed, not checked
        };
        s.value(1)?;
        *slot = Some(start..s.i);
        if &b[key.clone()] == b"\"hash\"" {
            self.hash_member = Some(key.start..s.i);
        }
        Ok(())
    }

    fn finish(self, line: &[u8]) -> Result<LineInfo, FormatError> {
        let get = |slot: Option<Range<usize>>, name: &str| {
            slot.ok_or_else(|| FormatError::new(format!("missing field {name:?}")))
        };
        if line[get(self.v, "v")?] != *b"1" {
            return Err(FormatError::new("\"v\" must be 1"));
        }
        let chain = get(self.chain, "chain")?;
        string_field(line, &chain, "chain")?;
        let seq = integer_field(line, get(self.seq, "seq")?, "seq")?;
        if seq == 0 {
            return Err(FormatError::new("\"seq\" starts at 1"));
        }
        let id = uuid_field(string_field(line, &get(self.id, "id")?, "id")?)?;
        let ts = string_field(line, &get(self.ts, "ts")?, "ts")?;
        if Timestamp::parse_bytes(ts).is_none() {
            return Err(FormatError::new(
                "\"ts\" is not UTC with 6 fractional digits, like 2026-11-23T10:15:30.123456Z",
            ));
        }
        if !self.actor {
            return Err(FormatError::new("missing field \"actor\""));
        }
        string_field(line, &get(self.action, "action")?, "action")?;
        if !self.resource {
            return Err(FormatError::new("missing field \"resource\""));
        }
        let outcome = string_field(line, &get(self.outcome, "outcome")?, "outcome")?;
        if !Outcome::ALL.iter().any(|o| o.as_str().as_bytes() == outcome) {
            return Err(FormatError::new("\"outcome\" must be success, failure or denied"));
        }
        for (slot, name) in [(&self.reason, "reason"), (&self.justification, "justification")] {
            if let Some(span) = slot {
                string_field(line, span, name)?;
            }
        }
        let prev = hash_field(line, get(self.prev, "prev")?, "prev")?;
        let declared = hash_field(line, get(self.hash, "hash")?, "hash")?;
        let member = get(self.hash_member, "hash")?;
        // Remove `"hash":"…"` and one comma next to it.
        let cut = if line[member.start - 1] == b',' {
            member.start - 1..member.end
        } else {
            member.start..member.end + usize::from(line[member.end] == b',')
        };
        let mut sha = Sha256::new();
        sha.update(&line[..cut.start]);
        sha.update(&line[cut.end..]);
        let computed = EventHash(sha.finalize().into());
        Ok(LineInfo { seq, id, prev, declared, computed, chain })
    }
}

/// The raw content of a string member (between the quotes), or an error naming the field.
fn string_field<'a>(line: &'a [u8], span: &Range<usize>, name: &str) -> Result<&'a [u8], FormatError> {
    let raw = &line[span.clone()];
    if raw.first() != Some(&b'"') {
        return Err(FormatError::new(format!("{name:?} must be a string")));
    }
    Ok(&raw[1..raw.len() - 1])
}

fn integer_field(line: &[u8], span: Range<usize>, name: &str) -> Result<u64, FormatError> {
    let raw = &line[span];
    let parsed = raw.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() { acc.checked_mul(10)?.checked_add(u64::from(c - b'0')) } else { None }
    });
    match parsed {
        Some(n) if n <= MAX_SAFE_INTEGER => Ok(n),
        _ => Err(FormatError::new(format!("{name:?} must be a non-negative integer up to 2^53"))),
    }
}

fn hash_field(line: &[u8], span: Range<usize>, name: &str) -> Result<EventHash, FormatError> {
    let raw = string_field(line, &span, name)?;
    EventHash::from_hex(raw).ok_or_else(|| FormatError::new(format!("{name:?} must be 64 lowercase hex digits")))
}

fn uuid_field(raw: &[u8]) -> Result<u128, FormatError> {
    let bad = || FormatError::new("\"id\" must be a lowercase hyphenated UUID");
    if raw.len() != 36 {
        return Err(bad());
    }
    let mut id = 0u128;
    for (i, &c) in raw.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return Err(bad());
            }
            continue;
        }
        id = (id << 4) | u128::from(crate::hash::lower_hex_digit(c).ok_or_else(bad)?);
    }
    Ok(id)
}

fn check_actor(s: &mut Scanner<'_>) -> Result<(), FormatError> {
    s.require(b'{', "\"actor\" must be an object")?;
    let (mut id, mut kind) = (false, false);
    s.object(|s, key| match &s.b[key] {
        b"\"id\"" => {
            id = true;
            s.string_value("actor.id").map(drop)
        }
        b"\"kind\"" => {
            kind = true;
            let raw = s.string_value("actor.kind")?;
            if ActorKind::ALL.iter().any(|k| k.as_str().as_bytes() == raw) {
                Ok(())
            } else {
                Err(FormatError::new("\"actor.kind\" must be user, admin, service, system or anonymous"))
            }
        }
        b"\"auth\"" => s.string_value("actor.auth").map(drop),
        b"\"session\"" => s.string_value("actor.session").map(drop),
        _ => s.value(2),
    })?;
    if id && kind { Ok(()) } else { Err(FormatError::new("\"actor\" needs \"id\" and \"kind\"")) }
}

fn check_resource(s: &mut Scanner<'_>) -> Result<(), FormatError> {
    s.require(b'{', "\"resource\" must be an object")?;
    let (mut id, mut kind) = (false, false);
    s.object(|s, key| match &s.b[key] {
        b"\"id\"" => {
            id = true;
            s.string_value("resource.id").map(drop)
        }
        b"\"type\"" => {
            kind = true;
            s.string_value("resource.type").map(drop)
        }
        _ => s.value(2),
    })?;
    if id && kind { Ok(()) } else { Err(FormatError::new("\"resource\" needs \"type\" and \"id\"")) }
}

fn check_context(s: &mut Scanner<'_>) -> Result<(), FormatError> {
    s.require(b'{', "\"context\" must be an object")?;
    let mut members = 0;
    s.object(|s, key| {
        members += 1;
        match &s.b[key] {
            b"\"ip\"" | b"\"user_agent\"" | b"\"request_id\"" | b"\"method\"" | b"\"route\"" | b"\"path\"" => {
                s.string_value("a context field").map(drop)
            }
            b"\"status\"" => s.integer_value("context.status").map(drop),
            b"\"duration_us\"" => s.integer_value("context.duration_us").map(drop),
            _ => s.value(2),
        }
    })?;
    if members == 0 { Err(FormatError::new("\"context\" is {}: leave it out instead")) } else { Ok(()) }
}

fn check_details(s: &mut Scanner<'_>) -> Result<(), FormatError> {
    s.require(b'{', "\"details\" must be an object")?;
    let start = s.i;
    s.value(1)?;
    if s.i - start == 2 { Err(FormatError::new("\"details\" is {}: leave it out instead")) } else { Ok(()) }
}

fn check_changes(s: &mut Scanner<'_>) -> Result<(), FormatError> {
    s.require(b'[', "\"changes\" must be an array")?;
    let mut previous: Option<Range<usize>> = None;
    s.array(|s| {
        s.require(b'{', "each change must be an object")?;
        let mut field = None;
        s.object(|s, key| {
            if s.b[key] == *b"\"field\"" {
                let start = s.i;
                s.string_value("changes[].field")?;
                field = Some(start..s.i);
                Ok(())
            } else {
                s.value(3)
            }
        })?;
        let field = field.ok_or_else(|| FormatError::new("a change has no \"field\""))?;
        if let Some(before) = previous.replace(field.clone())
            && key_order(&s.b[before], &s.b[field]) != std::cmp::Ordering::Less
        {
            return Err(FormatError::new("\"changes\" must be sorted by field, each field once"));
        }
        Ok(())
    })?;
    if previous.is_none() { Err(FormatError::new("\"changes\" is []: leave it out instead")) } else { Ok(()) }
}

fn check_tags(s: &mut Scanner<'_>) -> Result<(), FormatError> {
    s.require(b'[', "\"tags\" must be an array")?;
    let mut previous: Option<Range<usize>> = None;
    s.array(|s| {
        let start = s.i;
        s.string_value("tags[]")?;
        let tag = start..s.i;
        if let Some(before) = previous.replace(tag.clone())
            && key_order(&s.b[before], &s.b[tag]) != std::cmp::Ordering::Less
        {
            return Err(FormatError::new("\"tags\" must be sorted, each tag once"));
        }
        Ok(())
    })?;
    if previous.is_none() { Err(FormatError::new("\"tags\" is []: leave it out instead")) } else { Ok(()) }
}

/// Decodes the raw content of a canonical JSON string (escapes already checked).
fn decode_string(raw: &[u8]) -> String {
    if !raw.contains(&b'\\') {
        return String::from_utf8_lossy(raw).into_owned();
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).unwrap_or_default()
}

/// The bytes of `word` (little endian) that are `"` or `\\`, as a mask with the high bit of
/// each such byte set (SWAR). Bytes above the first match may be flagged falsely; the lowest
/// flagged byte is always a real match, and a zero mask means there is none.
#[inline]
fn stop_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    has_zero(word ^ (ONES * u64::from(b'"'))) | has_zero(word ^ (ONES * u64::from(b'\\')))
}

/// A validating cursor over canonical JSON.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn error(&self, what: &str) -> FormatError {
        FormatError::new(format!("{what} at byte {}", self.i))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Result<(), FormatError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {:?} (no white space allowed)", c as char)))
        }
    }

    /// Errors with `what` unless the next byte is `c` (not consumed).
    fn require(&self, c: u8, what: &str) -> Result<(), FormatError> {
        if self.peek() == Some(c) { Ok(()) } else { Err(FormatError::new(what)) }
    }

    fn value(&mut self, depth: usize) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deep"));
        }
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'{') => self.object(|s, _key| s.value(depth + 1)),
            Some(b'[') => self.array(|s| s.value(depth + 1)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => Err(self.error("expected a JSON value")),
        }
    }

    /// A string value; returns its raw content (between the quotes).
    fn string_value(&mut self, name: &str) -> Result<&'a [u8], FormatError> {
        if self.peek() != Some(b'"') {
            return Err(FormatError::new(format!("{name:?} must be a string")));
        }
        let start = self.i;
        self.string()?;
        Ok(&self.b[start + 1..self.i - 1])
    }

    /// A non-negative integer value up to 2^53.
    fn integer_value(&mut self, name: &str) -> Result<u64, FormatError> {
        let start = self.i;
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(FormatError::new(format!("{name:?} must be a non-negative integer")));
        }
        self.number()?;
        integer_field(self.b, start..self.i, name)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), FormatError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    /// An object; `member(scanner, key span with quotes)` must scan each member's value.
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Range<usize>) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let mut previous_key: Option<Range<usize>> = None;
        loop {
            let key_start = self.i;
            self.string()?;
            let key = key_start..self.i;
            if let Some(previous) = previous_key.replace(key.clone())
                && key_order(&self.b[previous], &self.b[key.clone()]) != std::cmp::Ordering::Less
            {
                return Err(FormatError::new(format!("keys not in canonical order (or repeated) at byte {key_start}")));
            }
            self.expect(b':')?;
            member(self, key)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// An array; `element(scanner)` must scan each element.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Result<(), FormatError>) -> Result<(), FormatError> {
        self.expect(b'[')?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    /// A string with RFC 8785's minimal escaping (the line is known to be UTF-8).
    fn string(&mut self) -> Result<(), FormatError> {
        self.expect(b'"')?;
        loop {
            // Strings are most of an event's bytes: find the next `"` or `\\` 8 bytes at a
            // time (control characters were refused up front).
            loop {
                let Some(Ok(chunk)) = self.b.get(self.i..self.i + 8).map(<[u8; 8]>::try_from) else {
                    // Fewer than 8 bytes left.
                    while self.peek().is_some_and(|c| c != b'"' && c != b'\\') {
                        self.i += 1;
                    }
                    break;
                };
                let mask = stop_mask(u64::from_le_bytes(chunk));
                if mask != 0 {
                    self.i += (mask.trailing_zeros() / 8) as usize;
                    break;
                }
                self.i += 8;
            }
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(_) => {
                    self.i += 1;
                    self.escape()?; // a backslash
                }
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn escape(&mut self) -> Result<(), FormatError> {
        let Some(c) = self.peek() else {
            return Err(self.error("unterminated escape"));
        };
        self.i += 1;
        match c {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            b'u' => {
                let hex = self.b.get(self.i..self.i + 4).ok_or_else(|| self.error("short \\u escape"))?;
                let canonical = hex.starts_with(b"00")
                    && matches!(hex[2], b'0' | b'1')
                    && crate::hash::lower_hex_digit(hex[3]).is_some()
                    && !matches!(&hex[2..], b"08" | b"09" | b"0a" | b"0c" | b"0d");
                if !canonical {
                    return Err(self.error("escape not in canonical form (only control characters use \\u00xx)"));
                }
                self.i += 4;
                Ok(())
            }
            _ => Err(self.error("escape not in canonical form")),
        }
    }

    fn number(&mut self) -> Result<(), FormatError> {
        let start = self.i;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        let token = &self.b[start..self.i];
        if number_is_canonical(token) {
            Ok(())
        } else {
            Err(FormatError::new(format!("number not in RFC 8785 form at byte {start}")))
        }
    }
}

/// True when `token` is exactly what ES6 prints for the double it denotes.
fn number_is_canonical(token: &[u8]) -> bool {
    let digits = token.strip_prefix(b"-").unwrap_or(token);
    if !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        // An integer below 10^15 is exact and printed as is, unless it has a leading zero
        // or is "-0".
        return (digits[0] != b'0' || digits.len() == 1) && token != b"-0";
    }
    let valid_grammar = {
        let s = digits;
        let int_len = s.iter().take_while(|c| c.is_ascii_digit()).count();
        int_len > 0 && (s[0] != b'0' || int_len == 1)
    };
    if !valid_grammar {
        return false;
    }
    let Ok(text) = std::str::from_utf8(token) else { return false };
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => ryu_js::Buffer::new().format_finite(f).as_bytes() == token,
        _ => false,
    }
}

/// Orders two raw keys (with quotes) as RFC 8785 does.
#[inline]
fn key_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let (a_inner, b_inner) = (&a[1..a.len() - 1], &b[1..b.len() - 1]);
    // Fast path: at the first difference both bytes are ASCII (not a backslash) and no escape
    // came before it. Then raw byte order is UTF-16 order.
    let first_difference = a_inner.iter().zip(b_inner).position(|(x, y)| x != y);
    match first_difference {
        Some(d) => {
            let (x, y) = (a_inner[d], b_inner[d]);
            if x < 0x80 && y < 0x80 && x != b'\\' && y != b'\\' && !a_inner[..d].contains(&b'\\') {
                return x.cmp(&y);
            }
        }
        None if !a_inner.contains(&b'\\') && !b_inner.contains(&b'\\') => return a_inner.len().cmp(&b_inner.len()),
        None => {}
    }
    cmp_utf16(&decode_string(a_inner), &decode_string(b_inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_mask_finds_the_first_stop_byte() {
        for stop in [b'"', b'\\'] {
            for position in 0..8 {
                let mut bytes = *b"abcdefgh";
                bytes[position] = stop;
                bytes[7] = if position == 7 { stop } else { b'"' };
                let mask = stop_mask(u64::from_le_bytes(bytes));
                assert_eq!(mask.trailing_zeros() / 8, position as u32, "{stop:#x} at {position}");
            }
        }
        for c in 0u8..=0xff {
            if c != b'"' && c != b'\\' {
                assert_eq!(stop_mask(u64::from_le_bytes([c; 8])), 0, "{c:#x}");
            }
        }
    }

    #[test]
    fn canonical_numbers() {
        for good in ["0", "-1", "123", "1e+21", "1.5", "-0.001", "1e-7", "999999999999999"] {
            assert!(number_is_canonical(good.as_bytes()), "{good}");
        }
        for bad in ["-0", "01", "1.0", "1E+21", "1e21", "+1", "1.", ".5", "0.10", "1e+1", "", "-", "9007199254740993"] {
            assert!(!number_is_canonical(bad.as_bytes()), "{bad}");
        }
    }
}
