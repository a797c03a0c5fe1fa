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
//! values are compared as raw bytes. What keeps it cheap, in one pass and without allocating:
//! - one vectorized pass over the bytes refuses control characters and tells whether the line
//!   has bytes beyond ASCII (only then is UTF-8 checked in full) and backslashes (if none, every
//!   string ends at its next `"`, found 8 bytes at a time);
//! - the keys SPEC defines are recognized whole, in the order canonical JSON puts them, with two
//!   word compares each (`Scanner::next_member`); only other keys are compared byte by byte;
//! - `prev`, `hash`, `id` and `ts` have fixed lengths: they are parsed in place (SWAR hex), not
//!   scanned as strings first; plain integers are parsed in the pass that checks their form;
//! - the scanner is generic over how it fails (`Failure`): every line is scanned with an error
//!   that carries no message, so its results fit in registers, and only a line that fails is
//!   scanned again to say why. One piece of code decides, so both scans agree.

use crate::canonical::{MAX_SAFE_INTEGER, cmp_utf16};
use crate::event::{ActorKind, Outcome};
use crate::hash::EventHash;
use crate::timestamp::Timestamp;
use sha2::{Digest, Sha256};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

/// Deepest nesting accepted inside an event.
pub const MAX_DEPTH: usize = 64;

/// The depth at which `details` (an object) is scanned; its values are one deeper.
pub(crate) const DETAILS_DEPTH: usize = 1;
/// The depth at which a change's `old` and `new` (and members other implementations added to a
/// change) are scanned.
pub(crate) const CHANGE_VALUE_DEPTH: usize = 3;

/// A line is not a canonical SPEC §1 event ("bad format").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FormatError {
    message: String,
}

impl FormatError {
    #[cold]
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

/// How the scanner fails. A line is scanned with [`Quiet`] first; only a line that fails is
/// scanned again with [`FormatError`] to say why. The scanner is one piece of code, compiled
/// twice.
trait Failure: Sized {
    /// A failure; `message` says what is wrong.
    fn fail(message: impl FnOnce() -> String) -> Self;
}

/// A failure without a message: zero-sized, so that the scanner's results fit in registers and
/// its hot code builds no message and keeps no formatting code around.
struct Quiet;

impl Failure for Quiet {
    #[inline(always)]
    fn fail(_: impl FnOnce() -> String) -> Quiet {
        Quiet
    }
}

impl Failure for FormatError {
    #[cold]
    fn fail(message: impl FnOnce() -> String) -> FormatError {
        FormatError::new(message())
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

/// Where the values that a store keeps beside the line as query columns (SPEC §2: actor,
/// action, resource, ts, outcome, …) sit in the line: byte ranges of the JSON values as written
/// (strings with their quotes, `seq` as its digits, `tags` as the whole array). The `chain`
/// value is [`LineInfo::chain`].
///
/// A store compares each column with the bytes of its range (see [`json_string_is`]) instead of
/// parsing the line a second time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSpans {
    /// `seq`.
    pub seq: Range<usize>,
    /// `id`.
    pub id: Range<usize>,
    /// `ts`.
    pub ts: Range<usize>,
    /// `actor.id`.
    pub actor_id: Range<usize>,
    /// `actor.kind`.
    pub actor_kind: Range<usize>,
    /// `action`.
    pub action: Range<usize>,
    /// `resource.type`.
    pub resource_type: Range<usize>,
    /// `resource.id`.
    pub resource_id: Range<usize>,
    /// `outcome`.
    pub outcome: Range<usize>,
    /// `context.request_id`, when present.
    pub request_id: Option<Range<usize>>,
    /// `tags` (the array), when present.
    pub tags: Option<Range<usize>>,
}

/// Checks that `line` (without its `\n`) is one canonical SPEC event and hashes it.
pub fn inspect(line: &[u8]) -> Result<LineInfo, FormatError> {
    inspect_with_fields(line).map(|(info, _)| info)
}

/// [`inspect`], also telling where the fields a store indexes are (for comparing its columns
/// with the line in the same single pass).
pub fn inspect_with_fields(line: &[u8]) -> Result<(LineInfo, FieldSpans), FormatError> {
    match inspect_as::<Quiet>(line) {
        Ok(found) => Ok(found),
        Err(Quiet) => inspect_as::<FormatError>(line),
    }
}

fn inspect_as<E: Failure>(line: &[u8]) -> Result<(LineInfo, FieldSpans), E> {
    let escapes = check_text(line)?;
    if line.first() != Some(&b'{') {
        return Err(E::fail(|| "not a JSON object".into()));
    }
    let mut scanner = Scanner { b: line, i: 0, escapes, failure: PhantomData };
    let mut top = TopLevel::default();
    top.scan(&mut scanner)?;
    if scanner.i != line.len() {
        return Err(scanner.error("text after the event object"));
    }
    top.finish(line)
}

/// The members of an event that SPEC §1 does not define ("Implementations may add fields":
/// they are hashed, and [`crate::Event`] does not keep them), where they stand: an added
/// top-level member as it is; members added inside `actor`, `resource` or `context` under that
/// name, in an object of only them; members added to entries of `changes` under `changes`, as
/// an array of `{"field": …, <added members>}` for the entries that have any. `None` when
/// there are none. `event` is the parsed event line (`serde_json::from_str`).
///
/// ```
/// use audit_core::line::added_fields;
/// let event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
///     r#"{"action":"a","actor":{"id":"u","kind":"user","team":"x"},"region":"eu","v":1}"#,
/// ).unwrap();
/// let added = serde_json::Value::Object(added_fields(&event).unwrap());
/// assert_eq!(added, serde_json::json!({"actor": {"team": "x"}, "region": "eu"}));
/// ```
pub fn added_fields(
    event: &serde_json::Map<String, serde_json::Value>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    use serde_json::{Map, Value};
    let defined = |keys: &[Key], name: &str| keys.iter().any(|key| key.name() == name.as_bytes());
    let added_to = |value: &Value, keys: &[Key]| -> Option<Map<String, Value>> {
        let added: Map<String, Value> = value
            .as_object()?
            .iter()
            .filter(|(name, _)| !defined(keys, name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        (!added.is_empty()).then_some(added)
    };
    let mut added = Map::new();
    for (name, value) in event {
        let nested = match name.as_str() {
            "actor" => added_to(value, &ACTOR_KEYS).map(Value::Object),
            "resource" => added_to(value, &RESOURCE_KEYS).map(Value::Object),
            "context" => added_to(value, &CONTEXT_KEYS).map(Value::Object),
            "changes" => {
                let entries: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|change| {
                        let mut entry = added_to(change, &CHANGE_KEYS)?;
                        entry.insert("field".to_string(), change.get("field").cloned().unwrap_or(Value::Null));
                        Some(Value::Object(entry))
                    })
                    .collect();
                (!entries.is_empty()).then_some(Value::Array(entries))
            }
            name if defined(&top::KEYS, name) => None,
            _ => Some(value.clone()),
        };
        if let Some(nested) = nested {
            added.insert(name.clone(), nested);
        }
    }
    (!added.is_empty()).then_some(added)
}

/// Checks that `json` is one JSON value in RFC 8785 canonical form, whatever its shape.
pub fn check_canonical(json: &[u8]) -> Result<(), FormatError> {
    let escapes = check_text(json)?;
    let mut scanner: Scanner<'_, FormatError> = Scanner { b: json, i: 0, escapes, failure: PhantomData };
    scanner.value(0)?;
    if scanner.i != json.len() {
        return Err(scanner.error("text after the JSON value"));
    }
    Ok(())
}

/// The value of `raw`, a canonical JSON string with its quotes (such as a range of
/// [`FieldSpans`] in an inspected line).
pub fn json_string(raw: &[u8]) -> String {
    decode_string(raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default())
}

/// True when `raw`, a canonical JSON string with its quotes (such as a range of [`FieldSpans`]
/// in an inspected line), holds exactly the string `value` (its UTF-8 bytes; bytes that are not
/// UTF-8 are never equal to it).
///
/// Canonical escaping is one-to-one, so this compares bytes: directly when `raw` has no
/// escape (it then spells `value` as is), else with `value` written in canonical form.
pub fn json_string_is(raw: &[u8], value: impl AsRef<[u8]>) -> bool {
    let value = value.as_ref();
    let Some(inner) = raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) else { return false };
    if !inner.contains(&b'\\') {
        return inner == value;
    }
    let Ok(value) = std::str::from_utf8(value) else { return false };
    let mut written = Vec::with_capacity(raw.len());
    crate::canonical::write_str(value, &mut written);
    written == raw
}

/// Canonical JSON is UTF-8 and holds no raw control character anywhere: none between tokens
/// (no white space) and none in strings (they are escaped). Checking that once lets the
/// string scanner look for `"` and `\\` only. Returns whether the text holds a backslash (if
/// not, every string ends at its next `"`).
///
/// One pass, which the compiler vectorizes: per lane, the OR of all bytes (its high bit says
/// "not ASCII"), their minimum (below 0x20: a control character) and "is a backslash". Only
/// text that is not ASCII needs the full UTF-8 check.
fn check_text<E: Failure>(json: &[u8]) -> Result<bool, E> {
    const LANES: usize = 32;
    let (mut any, mut min, mut backslash) = ([0u8; LANES], [0xffu8; LANES], [0u8; LANES]);
    let mut fold = |chunk: &[u8; LANES]| {
        for lane in 0..LANES {
            let c = chunk[lane];
            any[lane] |= c;
            min[lane] = min[lane].min(c);
            backslash[lane] |= u8::from(c == b'\\');
        }
    };
    let (chunks, rest) = json.as_chunks::<LANES>();
    chunks.iter().for_each(&mut fold);
    if !rest.is_empty() {
        match json.last_chunk::<LANES>() {
            // The last 32 bytes overlap chunks already folded: harmless for OR and minimum.
            Some(last) => fold(last),
            None => rest.iter().for_each(|&c| {
                any[0] |= c;
                min[0] = min[0].min(c);
                backslash[0] |= u8::from(c == b'\\');
            }),
        }
    }
    // Reduce the lanes eight at a time, as words.
    let lanes = |lanes: [u8; LANES]| lanes.as_chunks::<8>().0.iter().fold(0, |acc, w| acc | u64::from_le_bytes(*w));
    if lanes(any) & HIGHS != 0 && std::str::from_utf8(json).is_err() {
        return Err(E::fail(|| "not UTF-8".into()));
    }
    if lanes(min.map(|m| u8::from(m < 0x20))) != 0 {
        return Err(E::fail(|| {
            let at = json.iter().position(|&c| c < 0x20).unwrap_or(0);
            format!("raw control character or white space at byte {at}")
        }));
    }
    Ok(lanes(backslash) != 0)
}

/// A key of an object SPEC defines, as it appears in canonical JSON: `"name":`, kept as two
/// little-endian words and masks, so that [`Key::at`] recognizes it with two compares.
#[derive(Clone, Copy)]
struct Key {
    text: [u8; 16],
    len: usize,
    words: [u64; 2],
    masks: [u64; 2],
}

impl Key {
    const fn new(name: &str) -> Key {
        let name = name.as_bytes();
        assert!(name.len() + 3 <= 16, "keys of up to 13 bytes");
        let mut text = [0u8; 16];
        text[0] = b'"';
        let mut j = 0;
        while j < name.len() {
            text[j + 1] = name[j];
            j += 1;
        }
        text[name.len() + 1] = b'"';
        text[name.len() + 2] = b':';
        let len = name.len() + 3;
        let (mut words, mut masks) = ([0u64; 2], [0u64; 2]);
        let mut j = 0;
        while j < len {
            words[j / 8] |= (text[j] as u64) << (8 * (j % 8));
            masks[j / 8] |= 0xff << (8 * (j % 8));
            j += 1;
        }
        Key { text, len, words, masks }
    }

    /// The key's name (without quotes and colon).
    fn name(&self) -> &[u8] {
        &self.text[1..self.len - 2]
    }

    /// The key with its quotes (without the colon).
    fn quoted(&self) -> &[u8] {
        &self.text[..self.len - 1]
    }

    /// True when `b[i..]` starts with this key, its quotes and its colon.
    #[inline]
    fn at(&self, b: &[u8], i: usize) -> bool {
        match b.get(i..i + 16) {
            Some(window) => {
                let (low, high) = (crate::hash::word(window, 0), crate::hash::word(window, 8));
                ((low & self.masks[0]) == self.words[0]) & ((high & self.masks[1]) == self.words[1])
            }
            None => b.get(i..).is_some_and(|rest| rest.starts_with(&self.text[..self.len])),
        }
    }
}

/// The top-level members SPEC §1 defines, in canonical order.
mod top {
    use super::Key;
    pub(super) const ACTION: usize = 0;
    pub(super) const ACTOR: usize = 1;
    pub(super) const CHAIN: usize = 2;
    pub(super) const CHANGES: usize = 3;
    pub(super) const CONTEXT: usize = 4;
    pub(super) const DETAILS: usize = 5;
    pub(super) const HASH: usize = 6;
    pub(super) const ID: usize = 7;
    pub(super) const JUSTIFICATION: usize = 8;
    pub(super) const OUTCOME: usize = 9;
    pub(super) const PREV: usize = 10;
    pub(super) const REASON: usize = 11;
    pub(super) const RESOURCE: usize = 12;
    pub(super) const SEQ: usize = 13;
    pub(super) const TAGS: usize = 14;
    pub(super) const TS: usize = 15;
    pub(super) const V: usize = 16;
    pub(super) static KEYS: [Key; 17] = [
        Key::new("action"),
        Key::new("actor"),
        Key::new("chain"),
        Key::new("changes"),
        Key::new("context"),
        Key::new("details"),
        Key::new("hash"),
        Key::new("id"),
        Key::new("justification"),
        Key::new("outcome"),
        Key::new("prev"),
        Key::new("reason"),
        Key::new("resource"),
        Key::new("seq"),
        Key::new("tags"),
        Key::new("ts"),
        Key::new("v"),
    ];
}

/// `actor`'s members, in canonical order.
static ACTOR_KEYS: [Key; 4] = [Key::new("auth"), Key::new("id"), Key::new("kind"), Key::new("session")];
/// `resource`'s members, in canonical order.
static RESOURCE_KEYS: [Key; 2] = [Key::new("id"), Key::new("type")];
/// `context`'s members, in canonical order.
static CONTEXT_KEYS: [Key; 8] = [
    Key::new("duration_us"),
    Key::new("ip"),
    Key::new("method"),
    Key::new("path"),
    Key::new("request_id"),
    Key::new("route"),
    Key::new("status"),
    Key::new("user_agent"),
];
/// The members of each of `changes`, in canonical order.
static CHANGE_KEYS: [Key; 3] = [Key::new("field"), Key::new("new"), Key::new("old")];

/// Which member [`Scanner::next_member`] reached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    /// The key at this index of the object's SPEC keys.
    Spec(usize),
    /// Any other key (added by another implementation, or any key of a free-form object).
    Other,
}

/// A walk over the members of one object (see [`Scanner::next_member`]).
struct Members {
    /// The object's SPEC keys, in canonical order (none for a free-form object).
    keys: &'static [Key],
    /// SPEC keys before this index can no longer come; the previous key, if it was a SPEC key,
    /// is the one before it.
    next: usize,
    /// The previous key (with its quotes), if it was not a SPEC key.
    previous_other: Option<Range<usize>>,
    /// A member was read (a comma comes before the next one).
    started: bool,
}

/// What one pass over the top-level members found. Nested SPEC objects (actor, resource,
/// context, changes, tags, details) are checked while they are scanned; scalar members are
/// kept as spans and checked by [`TopLevel::finish`]. `prev`, `hash`, `id` and `ts` are parsed
/// during the scan when they are well formed (their fixed length then says where they end,
/// with no string scan); a malformed one is scanned as any value and reported by `finish`.
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
    prev_value: Option<EventHash>,
    hash_value: Option<EventHash>,
    id_value: Option<u128>,
    seq_value: Option<u64>,
    ts_valid: bool,
    actor: bool,
    resource: bool,
    fields: FieldSpans,
}

impl TopLevel {
    /// Scans the event object.
    fn scan<E: Failure>(&mut self, s: &mut Scanner<'_, E>) -> Result<(), E> {
        let mut members = s.members(&top::KEYS)?;
        while let Some(member) = s.next_member(&mut members)? {
            let Member::Spec(key) = member else {
                s.added_value(1, "a field another implementation added")?;
                continue;
            };
            let start = s.i;
            let slot = match key {
                top::ACTOR => {
                    self.actor = true;
                    check_actor(s, &mut self.fields)?;
                    continue;
                }
                top::RESOURCE => {
                    self.resource = true;
                    check_resource(s, &mut self.fields)?;
                    continue;
                }
                top::CONTEXT => {
                    check_context(s, &mut self.fields)?;
                    continue;
                }
                top::CHANGES => {
                    check_changes(s)?;
                    continue;
                }
                top::TAGS => {
                    check_tags(s)?;
                    self.fields.tags = Some(start..s.i);
                    continue;
                }
                top::DETAILS => {
                    check_details(s)?;
                    continue;
                }
                top::PREV => {
                    self.prev_value = s.fixed_string(64, EventHash::from_hex);
                    &mut self.prev
                }
                top::HASH => {
                    self.hash_value = s.fixed_string(64, EventHash::from_hex);
                    &mut self.hash
                }
                top::ID => {
                    self.id_value = s.fixed_string(36, crate::hash::parse_uuid);
                    &mut self.id
                }
                top::TS => {
                    self.ts_valid = s.fixed_string(27, |ts| Timestamp::is_spec_form(ts).then_some(())).is_some();
                    &mut self.ts
                }
                top::V => &mut self.v,
                top::CHAIN => &mut self.chain,
                top::SEQ => {
                    if let Some((seq, len)) = plain_integer(s.b, s.i) {
                        self.seq_value = Some(seq);
                        s.i += len;
                    }
                    &mut self.seq
                }
                top::ACTION => &mut self.action,
                top::OUTCOME => &mut self.outcome,
                top::REASON => &mut self.reason,
                top::JUSTIFICATION => &mut self.justification,
                _ => {
                    s.value(1)?;
                    continue;
                }
            };
            if s.i == start {
                if s.peek() == Some(b'"') {
                    s.string()?;
                } else {
                    s.value(1)?;
                }
            }
            *slot = Some(start..s.i);
            if key == top::HASH {
                self.hash_member = Some(start - top::KEYS[top::HASH].len..s.i);
            }
        }
        Ok(())
    }

    fn finish<E: Failure>(self, line: &[u8]) -> Result<(LineInfo, FieldSpans), E> {
        let get =
            |slot: Option<Range<usize>>, name: &str| slot.ok_or_else(|| E::fail(|| format!("missing field {name:?}")));
        if line[get(self.v, "v")?] != *b"1" {
            return Err(E::fail(|| "\"v\" must be 1".into()));
        }
        let chain = get(self.chain, "chain")?;
        string_field(line, &chain, "chain")?;
        let seq_span = get(self.seq, "seq")?;
        let seq = match self.seq_value {
            Some(seq) => seq,
            None => integer_field(line, seq_span.clone(), "seq")?,
        };
        if seq == 0 {
            return Err(E::fail(|| "\"seq\" starts at 1".into()));
        }
        let id_span = get(self.id, "id")?;
        let id = match self.id_value {
            Some(id) => id,
            None => uuid_field(string_field(line, &id_span, "id")?)?,
        };
        let ts_span = get(self.ts, "ts")?;
        let ts = string_field(line, &ts_span, "ts")?;
        if !self.ts_valid && Timestamp::parse_bytes(ts).is_none() {
            return Err(E::fail(|| {
                "\"ts\" is not UTC with 6 fractional digits, like 2026-11-23T10:15:30.123456Z".into()
            }));
        }
        if !self.actor {
            return Err(E::fail(|| "missing field \"actor\"".into()));
        }
        let action = get(self.action, "action")?;
        string_field(line, &action, "action")?;
        if !self.resource {
            return Err(E::fail(|| "missing field \"resource\"".into()));
        }
        let outcome_span = get(self.outcome, "outcome")?;
        let outcome = string_field(line, &outcome_span, "outcome")?;
        if !Outcome::ALL.iter().any(|o| o.as_str().as_bytes() == outcome) {
            return Err(E::fail(|| "\"outcome\" must be success, failure or denied".into()));
        }
        for (slot, name) in [(&self.reason, "reason"), (&self.justification, "justification")] {
            if let Some(span) = slot {
                string_field(line, span, name)?;
            }
        }
        let prev = match self.prev_value {
            Some(prev) => prev,
            None => hash_field(line, get(self.prev, "prev")?, "prev")?,
        };
        let declared = match self.hash_value {
            Some(hash) => hash,
            None => hash_field(line, get(self.hash, "hash")?, "hash")?,
        };
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
        let fields =
            FieldSpans { seq: seq_span, id: id_span, ts: ts_span, action, outcome: outcome_span, ..self.fields };
        Ok((LineInfo { seq, id, prev, declared, computed, chain }, fields))
    }
}

/// The raw content of a string member (between the quotes), or an error naming the field.
fn string_field<'a, E: Failure>(line: &'a [u8], span: &Range<usize>, name: &str) -> Result<&'a [u8], E> {
    let raw = &line[span.clone()];
    if raw.first() != Some(&b'"') {
        return Err(E::fail(|| format!("{name:?} must be a string")));
    }
    Ok(&raw[1..raw.len() - 1])
}

fn integer_field<E: Failure>(line: &[u8], span: Range<usize>, name: &str) -> Result<u64, E> {
    safe_integer(&line[span]).ok_or_else(|| E::fail(|| format!("{name:?} must be a non-negative integer up to 2^53")))
}

/// The value of `digits` when they are ASCII digits only and it is at most 2^53.
fn safe_integer(digits: &[u8]) -> Option<u64> {
    let value = digits.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() { acc.checked_mul(10)?.checked_add(u64::from(c - b'0')) } else { None }
    })?;
    (value <= MAX_SAFE_INTEGER).then_some(value)
}

fn hash_field<E: Failure>(line: &[u8], span: Range<usize>, name: &str) -> Result<EventHash, E> {
    let raw = string_field(line, &span, name)?;
    EventHash::from_hex(raw).ok_or_else(|| E::fail(|| format!("{name:?} must be 64 lowercase hex digits")))
}

fn uuid_field<E: Failure>(raw: &[u8]) -> Result<u128, E> {
    crate::hash::parse_uuid(raw).ok_or_else(|| E::fail(|| "\"id\" must be a lowercase hyphenated UUID".into()))
}

#[inline(never)]
fn check_actor<E: Failure>(s: &mut Scanner<'_, E>, fields: &mut FieldSpans) -> Result<(), E> {
    s.require(b'{', "\"actor\" must be an object")?;
    let (mut id, mut kind) = (false, false);
    let mut members = s.members(&ACTOR_KEYS)?;
    while let Some(member) = s.next_member(&mut members)? {
        match member {
            Member::Spec(0) => {
                s.string_span("actor.auth")?;
            }
            Member::Spec(1) => {
                id = true;
                fields.actor_id = s.string_span("actor.id")?;
            }
            Member::Spec(2) => {
                kind = true;
                let span = s.string_span("actor.kind")?;
                let raw = &s.b[span.start + 1..span.end - 1];
                if !ActorKind::ALL.iter().any(|k| k.as_str().as_bytes() == raw) {
                    return Err(E::fail(|| "\"actor.kind\" must be user, admin, service, system or anonymous".into()));
                }
                fields.actor_kind = span;
            }
            Member::Spec(_) => {
                s.string_span("actor.session")?;
            }
            Member::Other => s.added_value(2, "an added member of actor")?,
        }
    }
    if id && kind { Ok(()) } else { Err(E::fail(|| "\"actor\" needs \"id\" and \"kind\"".into())) }
}

#[inline(never)]
fn check_resource<E: Failure>(s: &mut Scanner<'_, E>, fields: &mut FieldSpans) -> Result<(), E> {
    s.require(b'{', "\"resource\" must be an object")?;
    let (mut id, mut kind) = (false, false);
    let mut members = s.members(&RESOURCE_KEYS)?;
    while let Some(member) = s.next_member(&mut members)? {
        match member {
            Member::Spec(0) => {
                id = true;
                fields.resource_id = s.string_span("resource.id")?;
            }
            Member::Spec(_) => {
                kind = true;
                fields.resource_type = s.string_span("resource.type")?;
            }
            Member::Other => s.added_value(2, "an added member of resource")?,
        }
    }
    if id && kind { Ok(()) } else { Err(E::fail(|| "\"resource\" needs \"type\" and \"id\"".into())) }
}

#[inline(never)]
fn check_context<E: Failure>(s: &mut Scanner<'_, E>, fields: &mut FieldSpans) -> Result<(), E> {
    s.require(b'{', "\"context\" must be an object")?;
    let start = s.i;
    let mut members = s.members(&CONTEXT_KEYS)?;
    while let Some(member) = s.next_member(&mut members)? {
        match member {
            Member::Spec(0) => s.integer_value("context.duration_us")?,
            Member::Spec(4) => fields.request_id = Some(s.string_span("a context field")?),
            Member::Spec(6) => s.integer_value("context.status")?,
            Member::Spec(_) => {
                s.string_span("a context field")?;
            }
            Member::Other => s.added_value(2, "an added member of context")?,
        }
    }
    if s.i - start == 2 { Err(E::fail(|| "\"context\" is {}: leave it out instead".into())) } else { Ok(()) }
}

#[inline(never)]
fn check_details<E: Failure>(s: &mut Scanner<'_, E>) -> Result<(), E> {
    s.require(b'{', "\"details\" must be an object")?;
    let start = s.i;
    s.value(DETAILS_DEPTH)?;
    if s.i - start == 2 { Err(E::fail(|| "\"details\" is {}: leave it out instead".into())) } else { Ok(()) }
}

#[inline(never)]
fn check_changes<E: Failure>(s: &mut Scanner<'_, E>) -> Result<(), E> {
    s.require(b'[', "\"changes\" must be an array")?;
    let mut previous: Option<Range<usize>> = None;
    s.array(|s| {
        s.require(b'{', "each change must be an object")?;
        let mut field = None;
        let mut members = s.members(&CHANGE_KEYS)?;
        while let Some(member) = s.next_member(&mut members)? {
            match member {
                Member::Spec(0) => field = Some(s.string_span("changes[].field")?),
                Member::Spec(_) | Member::Other => s.value(CHANGE_VALUE_DEPTH)?,
            }
        }
        let field = field.ok_or_else(|| E::fail(|| "a change has no \"field\"".into()))?;
        if let Some(before) = previous.replace(field.clone())
            && key_order(&s.b[before], &s.b[field]) == std::cmp::Ordering::Greater
        {
            // SPEC §1 says "sorted": in the order canonical JSON sorts keys (UTF-16 code
            // units); a field twice is out of place but not out of order.
            return Err(E::fail(|| "\"changes\" must be sorted by field (UTF-16 code units)".into()));
        }
        Ok(())
    })?;
    if previous.is_none() { Err(E::fail(|| "\"changes\" is []: leave it out instead".into())) } else { Ok(()) }
}

#[inline(never)]
fn check_tags<E: Failure>(s: &mut Scanner<'_, E>) -> Result<(), E> {
    s.require(b'[', "\"tags\" must be an array")?;
    let mut previous: Option<Range<usize>> = None;
    s.array(|s| {
        let tag = s.string_span("tags[]")?;
        if let Some(before) = previous.replace(tag.clone())
            && key_order(&s.b[before], &s.b[tag]) == std::cmp::Ordering::Greater
        {
            // SPEC §1 says "sorted" (as for `changes`): a tag twice is not out of order.
            return Err(E::fail(|| "\"tags\" must be sorted (UTF-16 code units)".into()));
        }
        Ok(())
    })?;
    if previous.is_none() { Err(E::fail(|| "\"tags\" is []: leave it out instead".into())) } else { Ok(()) }
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

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` (little endian) that are zero, as a mask with the high bit of each such
/// byte set (SWAR). Bytes above the first zero may be flagged falsely; the lowest flagged byte
/// is always a real zero, and a zero mask means there is none.
#[inline]
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// The bytes of `word` that are `"` or `\\` (see [`zero_bytes`] for what the mask promises).
#[inline]
fn stop_mask(word: u64) -> u64 {
    zero_bytes(word ^ (ONES * u64::from(b'"'))) | zero_bytes(word ^ (ONES * u64::from(b'\\')))
}

/// A validating cursor over canonical JSON, failing with `E` (see [`Failure`]).
struct Scanner<'a, E> {
    b: &'a [u8],
    i: usize,
    /// The text holds a backslash somewhere (if not, every string ends at its next `"`).
    escapes: bool,
    failure: PhantomData<E>,
}

impl<'a, E: Failure> Scanner<'a, E> {
    #[inline]
    fn error(&self, what: &str) -> E {
        E::fail(|| format!("{what} at byte {}", self.i))
    }

    #[inline]
    fn expected(&self, c: u8) -> E {
        E::fail(|| format!("expected {:?} (no white space allowed) at byte {}", c as char, self.i))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Result<(), E> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.expected(c))
        }
    }

    /// Errors with `what` unless the next byte is `c` (not consumed).
    #[inline]
    fn require(&self, c: u8, what: &str) -> Result<(), E> {
        if self.peek() == Some(c) { Ok(()) } else { Err(E::fail(|| what.into())) }
    }

    /// Any JSON value.
    fn value(&mut self, depth: usize) -> Result<(), E> {
        self.value_of::<false>(depth, "")
    }

    /// The value of a member SPEC §1 does not define (a field another implementation added,
    /// or an extra member of `actor`, `resource` or `context`, named by `name`): any JSON value,
    /// hashed and not otherwise checked, except that its numbers must be integers ("floats may
    /// appear only inside `details` and `changes`").
    fn added_value(&mut self, depth: usize, name: &str) -> Result<(), E> {
        self.value_of::<true>(depth, name)
    }

    /// Any JSON value; with `INTEGERS_ONLY`, one whose numbers (however deep) have no fraction,
    /// else naming `name`.
    fn value_of<const INTEGERS_ONLY: bool>(&mut self, depth: usize, name: &str) -> Result<(), E> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deep"));
        }
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'{') => {
                let mut members = self.members(&[])?;
                while self.next_member(&mut members)?.is_some() {
                    self.value_of::<INTEGERS_ONLY>(depth + 1, name)?;
                }
                Ok(())
            }
            Some(b'[') => self.array(|s| s.value_of::<INTEGERS_ONLY>(depth + 1, name)),
            Some(b'-' | b'0'..=b'9') if INTEGERS_ONLY => {
                let start = self.i;
                self.number()?;
                if number_has_fraction(&self.b[start..self.i]) {
                    Err(E::fail(|| {
                        format!(
                            "{name} holds a number that is not an integer: floats may appear only inside \"details\" and \"changes\""
                        )
                    }))
                } else {
                    Ok(())
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => Err(self.error("expected a JSON value")),
        }
    }

    /// A string value; returns its span (with the quotes).
    #[inline]
    fn string_span(&mut self, name: &str) -> Result<Range<usize>, E> {
        if self.peek() != Some(b'"') {
            return Err(E::fail(|| format!("{name:?} must be a string")));
        }
        let start = self.i;
        self.string()?;
        Ok(start..self.i)
    }

    /// A string of exactly `len` bytes that `parse` accepts, skipped without a string scan;
    /// anything else is left unscanned (`None`). Whatever `parse` accepts must hold no `"` and
    /// no `\\` (hex digits, a UUID, a timestamp), so the string surely ends after `len` bytes.
    #[inline]
    fn fixed_string<T>(&mut self, len: usize, parse: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
        let raw = self.b.get(self.i..self.i + len + 2)?;
        if raw[0] != b'"' || raw[len + 1] != b'"' {
            return None;
        }
        let parsed = parse(&raw[1..=len])?;
        self.i += len + 2;
        Some(parsed)
    }

    /// An integer value (SPEC §1: the numbers of the fields it defines are integers), negative
    /// too, in RFC 8785 form and within ±2^53 (beyond, a double is not exact: RFC 8785's
    /// numbers are I-JSON's).
    fn integer_value(&mut self, name: &str) -> Result<(), E> {
        if let Some((_, len)) = plain_integer(self.b, self.i) {
            self.i += len;
            return Ok(());
        }
        let start = self.i;
        if !matches!(self.peek(), Some(b'0'..=b'9' | b'-')) {
            return Err(E::fail(|| format!("{name:?} must be an integer")));
        }
        self.number()?;
        let raw = &self.b[start..self.i];
        match safe_integer(raw.strip_prefix(b"-").unwrap_or(raw)) {
            Some(_) => Ok(()),
            None => Err(E::fail(|| format!("{name:?} must be an integer within ±2^53"))),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), E> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    /// Errors unless `key` (at `key_start`) comes after `previous` in canonical order (both
    /// with their quotes).
    fn check_key_order(&self, previous: &[u8], key_start: usize, key: &[u8]) -> Result<(), E> {
        if key_order(previous, key) == std::cmp::Ordering::Less {
            Ok(())
        } else {
            Err(E::fail(|| format!("keys not in canonical order (or repeated) at byte {key_start}")))
        }
    }

    /// Starts a walk over the members of the object here, whose SPEC keys are `keys` (in
    /// canonical order; none for a free-form object).
    #[inline(always)]
    fn members(&mut self, keys: &'static [Key]) -> Result<Members, E> {
        self.expect(b'{')?;
        Ok(Members { keys, next: 0, previous_other: None, started: false })
    }

    /// Moves past the next key and its colon (`None` after the closing `}`); the caller then
    /// scans the member's value.
    ///
    /// The trick: canonical order is fixed, so the next key is almost always the next SPEC key,
    /// or one a little further on when optional ones are absent. [`Key::at`] recognizes a whole
    /// `"name":` with two word compares, and keys recognized that way are in order by
    /// construction (their index only grows). Only other keys are scanned as strings and
    /// compared with their neighbours byte by byte. A SPEC key out of order or repeated is not
    /// looked for, so it is scanned as another key and fails that comparison.
    #[inline(always)]
    fn next_member(&mut self, members: &mut Members) -> Result<Option<Member>, E> {
        let first = !members.started;
        match self.peek() {
            Some(b'}') => {
                self.i += 1;
                return Ok(None);
            }
            Some(b',') if !first => self.i += 1,
            _ if first => {}
            _ => return Err(self.error("expected ',' or '}'")),
        }
        members.started = true;
        let key_start = self.i;
        if let Some(k) = (members.next..members.keys.len()).find(|&k| members.keys[k].at(self.b, key_start)) {
            let key = &members.keys[k];
            if let Some(before) = members.previous_other.take() {
                self.check_key_order(&self.b[before], key_start, key.quoted())?;
            }
            members.next = k + 1;
            self.i = key_start + key.len;
            return Ok(Some(Member::Spec(k)));
        }
        self.string()?;
        let key = &self.b[key_start..self.i];
        let previous_spec = members.next.checked_sub(1).and_then(|k| members.keys.get(k));
        match (members.previous_other.replace(key_start..self.i), previous_spec) {
            (Some(before), _) => self.check_key_order(&self.b[before], key_start, key)?,
            (None, Some(before)) if !first => self.check_key_order(before.quoted(), key_start, key)?,
            (None, _) => {}
        }
        self.expect(b':')?;
        Ok(Some(Member::Other))
    }

    /// An array; `element(scanner)` must scan each element.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Result<(), E>) -> Result<(), E> {
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

    /// The position of the next `"` or `\\` at or after `i` (the end of the text if none).
    ///
    /// Strings are most of an event's bytes: look 8 bytes at a time (control characters were
    /// refused up front), and for `"` alone when the text has no backslash at all.
    #[inline]
    fn next_stop(&self, mut i: usize) -> usize {
        while let Some(chunk) = self.b.get(i..i + 8) {
            let word = crate::hash::word(chunk, 0);
            let mask = if self.escapes { stop_mask(word) } else { zero_bytes(word ^ (ONES * u64::from(b'"'))) };
            if mask != 0 {
                return i + (mask.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while self.b.get(i).is_some_and(|&c| c != b'"' && c != b'\\') {
            i += 1;
        }
        i
    }

    /// A string with RFC 8785's minimal escaping (the text is known to be UTF-8).
    #[inline]
    fn string(&mut self) -> Result<(), E> {
        if self.peek() != Some(b'"') {
            return Err(self.expected(b'"'));
        }
        let end = self.next_stop(self.i + 1);
        if self.b.get(end) == Some(&b'"') {
            self.i = end + 1;
            Ok(())
        } else {
            self.string_rest(end)
        }
    }

    /// The rest of a string from `at`: a backslash, or the end of the text.
    #[inline(never)]
    fn string_rest(&mut self, at: usize) -> Result<(), E> {
        self.i = at;
        loop {
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
            self.i = self.next_stop(self.i);
        }
    }

    fn escape(&mut self) -> Result<(), E> {
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

    fn number(&mut self) -> Result<(), E> {
        if let Some((_, len)) = plain_integer(self.b, self.i) {
            self.i += len;
            return Ok(());
        }
        let start = self.i;
        let rest = &self.b[start..];
        let len = rest
            .iter()
            .position(|c| !matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
            .unwrap_or(rest.len());
        self.i += len;
        if number_is_canonical(&rest[..len]) {
            Ok(())
        } else {
            Err(E::fail(|| format!("number not in RFC 8785 form at byte {start}")))
        }
    }
}

/// The value and length of the number at `b[i..]` when it is a non-negative integer below
/// 10^15 written as RFC 8785 writes it (no sign, no leading zero, not followed by anything that
/// continues a number): the common case, in one pass over its digits. `None` for any other
/// number (checked the long way) or anything else.
#[inline]
fn plain_integer(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let rest = b.get(i..)?;
    let (mut value, mut len) = (0u64, 0);
    while let Some(digit) = rest.get(len).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        len += 1;
    }
    let plain = (1..=15).contains(&len)
        && (rest[0] != b'0' || len == 1)
        && !matches!(rest.get(len), Some(b'.' | b'e' | b'E' | b'+' | b'-'));
    plain.then_some((value, len))
}

/// True when a number in canonical (ES6) form has a fractional part: ES6 writes an integral
/// double as its digits below 10^21 and as `d.ddde+NN` from there, and any other double with a
/// `.` before 10^21 or with `e-` below 10^-6.
fn number_has_fraction(token: &[u8]) -> bool {
    let exponent = token.iter().position(|&c| c == b'e');
    match exponent {
        Some(e) => token.get(e + 1) == Some(&b'-'),
        None => token.contains(&b'.'),
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
    fn added_fields_are_found_at_every_level_and_only_there() {
        let event =
            |json: &str| -> serde_json::Map<String, serde_json::Value> { serde_json::from_str(json).expect("json") };
        let spec = r#"{"action":"a","actor":{"auth":"p","id":"u","kind":"user","session":"s"},"chain":"c","changes":[{"field":"f","new":1,"old":0}],"context":{"duration_us":1,"ip":"i","method":"m","path":"p","request_id":"r","route":"r","status":200,"user_agent":"u"},"details":{"x":1},"hash":"h","id":"i","justification":"j","outcome":"success","prev":"p","reason":"r","resource":{"id":"1","type":"t"},"seq":1,"tags":["t"],"ts":"t","v":1}"#;
        assert_eq!(added_fields(&event(spec)), None, "every SPEC field, at every level");
        let extended = r#"{"action":"a","actor":{"id":"u","kind":"user","team":7},"changes":[{"field":"f","new":1},{"field":"g","new":2,"unit":"kg"}],"context":{"geo":{"cc":"de"},"ip":"i"},"details":{"also":"free"},"resource":{"id":"1","tenant":"t1","type":"t"},"x-region":"eu"}"#;
        let added = serde_json::Value::Object(added_fields(&event(extended)).expect("added"));
        assert_eq!(
            added,
            serde_json::json!({
                "actor": {"team": 7},
                "changes": [{"field": "g", "unit": "kg"}],
                "context": {"geo": {"cc": "de"}},
                "resource": {"tenant": "t1"},
                "x-region": "eu",
            }),
            "details is free-form: nothing in it is added"
        );
    }

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
