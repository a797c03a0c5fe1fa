//! The ORM event as it waits in a transaction's buffer or in the outbox, and how row images
//! become SPEC §1 changes.

use audit_core::event::MAX_VALUE_DEPTH;
use audit_core::redact::RedactionPolicy;
use audit_core::{Actor, AuditScope, Auditor, Change, Context, EventDraft, Outcome, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use std::collections::BTreeSet;
use uuid::Uuid;

/// A row image: column name → value (see [`crate::orm::value_to_json`]).
///
/// A JSON column holding the JSON value `null` is `null`, as SQL `NULL` is; so that an update
/// from one to the other is still seen as a change, such a column also has an entry of its
/// own, [`json_null_field`], which no column name can be (it starts with U+0000) and which
/// [`created`], [`deleted`] and [`updated`] compare but never record.
pub(crate) type Row = Map<String, Json>;

/// The start of a [`Row`]'s entry marking a JSON `null` (not SQL `NULL`).
const JSON_NULL: &str = "\u{0}json null:";

/// The [`Row`] entry that says column `name` holds the JSON value `null`, not SQL `NULL`.
pub(crate) fn json_null_field(name: &str) -> String {
    format!("{JSON_NULL}{name}")
}

/// Whether `field` is a [`json_null_field`] entry, not a column.
fn is_json_null_field(field: &str) -> bool {
    field.starts_with(JSON_NULL)
}

/// An event intercepted by the connection wrapper, before it is handed to the
/// [`audit_core::Auditor`]. Everything the event will say is fixed here, when the change is
/// intercepted: id, time, actor and context (the request's scope), redacted values. The
/// outbox stores it as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrmEvent {
    pub(crate) id: Uuid,
    pub(crate) ts: Timestamp,
    pub(crate) action: String,
    pub(crate) resource_type: String,
    pub(crate) resource_id: String,
    pub(crate) actor: Actor,
    #[serde(default, skip_serializing_if = "Context::is_empty")]
    pub(crate) context: Context,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub(crate) details: Map<String, Json>,
    /// Set for an event of a write that may not have happened (its call failed): the event
    /// is a `failure` with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// A stand-in (see `Pending::stand_in`) whose write turned out to change nothing: left
    /// in place (savepoints remember buffer positions) and dropped at commit.
    #[serde(skip)]
    pub(crate) void: bool,
    /// The fingerprint of the connection's policy that hid its secrets ([`OrmEvent::redact`],
    /// [`RedactionPolicy::fingerprint`]); kept in the outbox, so that an event read back is
    /// marked as hidden only if that policy is still the one in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) redacted_by: Option<u128>,
}

impl OrmEvent {
    /// A new event with a fresh UUIDv7, the current time, and the current scope's actor and
    /// context (anonymous when no scope or actor is set).
    pub(crate) fn new(action: &str, resource_type: &str, resource_id: String) -> OrmEvent {
        let scope = AuditScope::current().map(|scope| scope.snapshot());
        let (actor, context) = match scope {
            Some(state) => (state.actor.unwrap_or_else(Actor::anonymous), state.context),
            None => (Actor::anonymous(), Context::default()),
        };
        OrmEvent {
            id: Uuid::now_v7(),
            ts: Timestamp::now(),
            action: action.to_string(),
            resource_type: resource_type.to_string(),
            resource_id,
            actor,
            context,
            changes: Vec::new(),
            details: Map::new(),
            reason: None,
            void: false,
            redacted_by: None,
        }
    }

    /// The draft for the auditor, with this event's id and time fixed.
    pub(crate) fn to_draft(&self) -> EventDraft {
        let mut draft = EventDraft::new(self.action.clone())
            .with_id(self.id)
            .with_ts(self.ts)
            .actor(self.actor.clone())
            .resource(self.resource_type.clone(), self.resource_id.clone())
            .context(self.context.clone())
            .changes(self.changes.iter().cloned());
        for (key, value) in &self.details {
            draft = draft.detail(key.clone(), value.clone());
        }
        if let Some(reason) = &self.reason {
            draft = draft.outcome(Outcome::Failure).reason(reason.clone());
        }
        draft
    }

    /// The draft for the auditor, marked as hidden already by `policy` (the connection's) if
    /// that policy hid it ([`EventDraft::redacted_with`]): an auditor with the same policy then
    /// does not MAC its tokens again.
    pub(crate) fn draft_for(&self, policy: &RedactionPolicy) -> EventDraft {
        let draft = self.to_draft();
        match &self.redacted_by {
            Some(by) if *by == policy.fingerprint() => draft.redacted_with(policy),
            _ => draft,
        }
    }

    /// Hides secrets (the columns the entity names, and the keys of the connection's `policy`
    /// at any depth), then fits the values into the auditor's size limit (see
    /// [`MAX_VALUE_BYTES`]).
    pub(crate) fn redact(&mut self, policy: &RedactionPolicy, columns: &[&str], auditor: &Auditor) {
        self.hide_secrets(policy, columns);
        self.redacted_by = Some(policy.fingerprint());
        self.fit(value_budget(auditor.max_event_bytes()), auditor.redaction());
    }

    /// Shortens every value over [`MAX_VALUE_BYTES`]; then, largest first, other values until
    /// the JSON text of all of them together is at most `budget` bytes. The auditor will hide
    /// what its `policy` names (after this, when it records the event): a column it names is
    /// left to it, and a value shortened here is hashed with the keys it names hidden, so that
    /// no digest covers a secret.
    fn fit(&mut self, budget: usize, policy: &RedactionPolicy) {
        let mut total = 0;
        let mut kept = Vec::new(); // (size, change, new side)
        for (index, change) in self.changes.iter_mut().enumerate() {
            total += change.field.len() + 32; // the field's name and the change's own JSON
            if policy.matches(&change.field) {
                total += 2 * MARKER_LEN; // hidden whole by the auditor
                continue;
            }
            for (new, value) in [(false, change.old.as_mut()), (true, change.new.as_mut())] {
                let Some(value) = value else { continue };
                if audit_core::event::nests_deeper_than(value, MAX_VALUE_DEPTH) {
                    shorten(value, policy, "TOO DEEP");
                    total += MARKER_LEN;
                    continue;
                }
                let size = json_len(value);
                if size > MAX_VALUE_BYTES {
                    shorten(value, policy, "TOO LARGE");
                    total += MARKER_LEN;
                } else {
                    total += size;
                    kept.push((size, index, new));
                }
            }
        }
        if total <= budget {
            return;
        }
        kept.sort_unstable_by_key(|&(size, ..)| std::cmp::Reverse(size));
        for (size, index, new) in kept {
            if total <= budget || size <= MARKER_LEN {
                break;
            }
            let change = &mut self.changes[index];
            if let Some(value) = if new { change.new.as_mut() } else { change.old.as_mut() } {
                shorten(value, policy, "TOO LARGE");
                total = total - size + MARKER_LEN;
            }
        }
    }

    fn hide_secrets(&mut self, policy: &RedactionPolicy, columns: &[&str]) {
        for change in &mut self.changes {
            let whole = policy.matches(&change.field) || columns.iter().any(|c| c.eq_ignore_ascii_case(&change.field));
            for value in change.old.iter_mut().chain(change.new.iter_mut()) {
                if whole {
                    *value = policy.hide(value);
                } else {
                    policy.apply_to_value(value);
                }
            }
        }
        for (key, value) in self.details.iter_mut() {
            if policy.matches(key) {
                *value = policy.hide(value);
            } else {
                policy.apply_to_value(value);
            }
        }
    }
}

/// The largest value a change keeps, in bytes of its JSON text: 64 KiB.
///
/// A row may hold far more than an audit event can (1 MiB by default, see
/// [`audit_core::AuditorBuilder::max_event_bytes`]), and a change whose event is refused
/// cannot be committed (in a transaction) or goes unrecorded (autocommit). So a larger value,
/// and, largest first, as many other values as it takes for the values of one event to fit
/// in the auditor's limit less 16 KiB (half the limit below 32 KiB) for the rest of the event,
/// are recorded as the string `"[TOO LARGE: <n> bytes, sha256:<64 hex>]"`: `n` is the size of
/// the value's canonical JSON text, the digest is the SHA-256 of the string's UTF-8 bytes for
/// a text value (base64 text for binary columns), and of the value's canonical JSON (RFC 8785)
/// otherwise, so that an auditor holding the value can check it. Secrets are hidden first
/// (the connection's and the auditor's redaction policies), so no digest covers one.
/// (Values are not otherwise changed: the auditor applies its policy to the event later.)
///
/// A JSON value that nests arrays and objects deeper than [`MAX_VALUE_DEPTH`] levels (which
/// the auditor refuses: verifiers read lines with bounded recursion) is recorded the same way
/// as `"[TOO DEEP: <n> bytes, sha256:<64 hex>]"`, whatever its size.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// What a shortened value counts for in [`OrmEvent::fit`] (its text is about 100 bytes).
const MARKER_LEN: usize = 110;

/// Room for the values of one event under an auditor's `max_event_bytes`.
fn value_budget(max_event_bytes: usize) -> usize {
    if max_event_bytes > 32 * 1024 { max_event_bytes - 16 * 1024 } else { max_event_bytes / 2 }
}

/// The length of `value`'s JSON text: exact for strings (RFC 8785 escaping), within a few
/// bytes for other values (serde_json's number formatting), without building the text.
fn json_len(value: &Json) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    match value {
        Json::String(text) => string_json_len(text),
        Json::Array(_) | Json::Object(_) => {
            let mut count = Count(0);
            serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.0)
        }
        Json::Number(_) => 24,
        Json::Bool(_) | Json::Null => 5,
    }
}

/// The length of `text` as a canonical JSON string (RFC 8785 §3.2.2.2 escaping).
fn string_json_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | 0x08 | 0x09 | 0x0a | 0x0c | 0x0d => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Replaces a text, array or object value by the marker of [`MAX_VALUE_BYTES`] (`what` is
/// `TOO LARGE` or `TOO DEEP`); an array or object is measured and hashed with the keys
/// `policy` names hidden.
fn shorten(value: &mut Json, policy: &RedactionPolicy, what: &str) {
    use sha2::{Digest, Sha256};
    let (size, digest) = match value {
        Json::String(text) => (string_json_len(text), Sha256::digest(text.as_bytes())),
        Json::Array(_) | Json::Object(_) => {
            let mut redacted = value.clone();
            policy.apply_to_value(&mut redacted);
            let canonical = audit_core::canonical::to_string(&redacted);
            (canonical.len(), Sha256::digest(canonical.as_bytes()))
        }
        Json::Number(_) | Json::Bool(_) | Json::Null => return,
    };
    *value = Json::String(format!("[{what}: {size} bytes, sha256:{}]", audit_core::EventHash(digest.into())));
}

/// SPEC §1 resource id of a primary key: a single key as its string form, a composite key
/// as the JSON array text of its values.
pub(crate) fn resource_id(key: &[Json]) -> String {
    match key {
        [Json::String(s)] => s.clone(),
        [single] => audit_core::canonical::to_string(single),
        many => audit_core::canonical::to_string(&Json::Array(many.to_vec())),
    }
}

/// The resource id an event records for the row whose key columns `key_columns` hold `key`:
/// [`resource_id`], with the value of each key column the entity redacts (`redact`) or a
/// redaction policy names hidden as that column's change ends up hidden (by the connection's
/// `policy`, then by the auditor's `auditor_policy` if it names the column too), so that a
/// secret used as a key is not recorded in clear as the resource, and its token there equals
/// the one in the change.
pub(crate) fn shown_id(
    key_columns: &[String],
    key: &[Json],
    policy: &RedactionPolicy,
    auditor_policy: &RedactionPolicy,
    redact: &[impl AsRef<str>],
) -> String {
    let by_connection =
        |column: &str| policy.matches(column) || redact.iter().any(|c| c.as_ref().eq_ignore_ascii_case(column));
    if !key_columns.iter().any(|column| by_connection(column) || auditor_policy.matches(column)) {
        return resource_id(key);
    }
    let shown: Vec<Json> = key
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let Some(column) = key_columns.get(i) else { return value.clone() };
            let value = if by_connection(column) { policy.hide(value) } else { value.clone() };
            // The auditor hides the change again only under another policy (see
            // `DbShared::draft_of`).
            if auditor_policy.matches(column) && (auditor_policy != policy || !by_connection(column)) {
                auditor_policy.hide(&value)
            } else {
                value
            }
        })
        .collect();
    resource_id(&shown)
}

/// Every column as `new` (create).
pub(crate) fn created(row: Row) -> Vec<Change> {
    row.into_iter()
        .filter(|(field, _)| !is_json_null_field(field))
        .map(|(field, new)| Change { field, old: None, new: Some(new) })
        .collect()
}

/// Every column as `old` (delete).
pub(crate) fn deleted(row: Row) -> Vec<Change> {
    row.into_iter()
        .filter(|(field, _)| !is_json_null_field(field))
        .map(|(field, old)| Change { field, old: Some(old), new: None })
        .collect()
}

/// The columns whose value differs ([`same_value`]), with old and new (update). A column
/// missing on one side counts as `null` there. A JSON column that went from SQL `NULL` to JSON
/// `null` or back differs (its [`json_null_field`] entry does), and is recorded as `null` →
/// `null`.
pub(crate) fn updated(mut old: Row, mut new: Row) -> Vec<Change> {
    let (old_json_nulls, new_json_nulls) = (take_json_nulls(&mut old), take_json_nulls(&mut new));
    let null_kind_changed = |field: &str| old_json_nulls.contains(field) != new_json_nulls.contains(field);
    let mut changes = Vec::new();
    for (field, new_value) in new {
        let old_value = old.remove(&field).unwrap_or(Json::Null);
        if !same_value(&old_value, &new_value) || null_kind_changed(&field) {
            changes.push(Change { field, old: Some(old_value), new: Some(new_value) });
        }
    }
    for (field, old_value) in old {
        if !old_value.is_null() || null_kind_changed(&field) {
            changes.push(Change { field, old: Some(old_value), new: Some(Json::Null) });
        }
    }
    changes
}

/// Whether `a` and `b` are the same value as the trail records values: numbers compare as
/// the IEEE doubles RFC 8785 writes (`10.0` and `1e1` are `10`, `-0` is `0`), at any depth of
/// a JSON column, except integers beyond ±2^53, which the trail keeps exactly (as their
/// digits) and which compare exactly. A JSON document written again with its numbers spelled
/// otherwise is no change: recorded, its old and new values would read the same.
fn same_value(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            x == y || (!beyond_doubles(x) && !beyond_doubles(y) && x.as_f64().is_some() && x.as_f64() == y.as_f64())
        }
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(key, a)| y.get(key).is_some_and(|b| same_value(a, b)))
        }
        _ => a == b,
    }
}

/// Whether `n` is an integer beyond ±2^53, which the trail keeps as its digits (see
/// [`audit_core::canonical::normalize_value`]).
fn beyond_doubles(n: &serde_json::Number) -> bool {
    let max = audit_core::canonical::MAX_SAFE_INTEGER;
    n.as_u64().map(|u| u > max).or_else(|| n.as_i64().map(|i| i.unsigned_abs() > max)).unwrap_or(false)
}

/// Takes the [`json_null_field`] entries out of `row`: the columns that hold JSON `null`.
fn take_json_nulls(row: &mut Row) -> BTreeSet<String> {
    let markers: Vec<String> = row.keys().filter(|field| is_json_null_field(field)).cloned().collect();
    markers
        .into_iter()
        .map(|marker| {
            row.remove(&marker);
            marker[JSON_NULL.len()..].to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event_with(values: Vec<Json>) -> OrmEvent {
        let mut event = OrmEvent::new("create", "t", "1".into());
        event.changes = values
            .into_iter()
            .enumerate()
            .map(|(n, new)| Change { field: format!("c{n:02}"), old: None, new: Some(new) })
            .collect();
        event
    }

    fn marker(size: usize, digest_of: &[u8]) -> Json {
        use sha2::{Digest, Sha256};
        json!(format!("[TOO LARGE: {size} bytes, sha256:{:x}]", Sha256::digest(digest_of)))
    }

    #[test]
    fn values_over_the_limit_are_shortened_to_size_and_digest() {
        // A JSON column: measured and hashed as canonical JSON.
        let array = json!(vec!["ab"; 20_000]);
        let canonical = audit_core::canonical::to_string(&array);
        assert_eq!(canonical.len(), 100_001);
        // Text whose escapes take it over the limit: the JSON text counts, the digest is of the text.
        let text = "\n".repeat(MAX_VALUE_BYTES / 2);
        let small =
            [json!("short"), json!({"a": [1, 2]}), json!(12345), json!(null), json!("x".repeat(MAX_VALUE_BYTES - 2))];
        let mut values = vec![array, json!(text)];
        values.extend(small.iter().cloned());
        let mut event = event_with(values);
        event.fit(value_budget(1 << 20), &RedactionPolicy::default());
        let new: Vec<Json> = event.changes.iter().map(|c| c.new.clone().expect("new")).collect();
        assert_eq!(new[0], marker(100_001, canonical.as_bytes()));
        assert_eq!(new[1], marker(MAX_VALUE_BYTES + 2, text.as_bytes()));
        assert_eq!(new[2..], small, "values under the limit stay");
    }

    #[test]
    fn values_nested_deeper_than_the_auditor_takes_are_shortened_to_size_and_digest() {
        let nest = |levels: usize| (0..levels).fold(json!(1), |inner, _| json!([inner]));
        let mut event = event_with(vec![nest(MAX_VALUE_DEPTH), nest(MAX_VALUE_DEPTH + 1)]);
        event.fit(value_budget(1 << 20), &RedactionPolicy::default());
        let new: Vec<Json> = event.changes.iter().map(|c| c.new.clone().expect("new")).collect();
        assert_eq!(new[0], nest(MAX_VALUE_DEPTH), "at the limit: kept");
        let canonical = audit_core::canonical::to_string(&nest(MAX_VALUE_DEPTH + 1));
        let expected = marker(canonical.len(), canonical.as_bytes());
        assert_eq!(new[1], json!(expected.as_str().expect("text").replace("TOO LARGE", "TOO DEEP")));
    }

    #[test]
    fn an_event_is_fitted_largest_values_first() {
        // 17 values just under the limit: over 1 MiB together.
        let values: Vec<Json> = (0..17).map(|n| json!("v".repeat(MAX_VALUE_BYTES - 100 - n))).collect();
        let sizes: Vec<usize> = values.iter().map(json_len).collect();
        let mut event = event_with(values.clone());
        let budget = value_budget(1 << 20);
        assert_eq!(budget, (1 << 20) - 16 * 1024);
        event.fit(budget, &RedactionPolicy::default());
        let shortened = event
            .changes
            .iter()
            .filter(|c| c.new.as_ref().and_then(Json::as_str).is_some_and(|v| v.starts_with("[TOO LARGE:")))
            .count();
        let total: usize =
            event.changes.iter().map(|c| json_len(c.new.as_ref().expect("new")) + c.field.len() + 32).sum();
        assert!(total <= budget, "{total} > {budget}");
        // Only as many as needed went, the largest first (c00 is the largest).
        assert_eq!(shortened, 2);
        assert_eq!(event.changes[0].new, Some(marker(sizes[0], values[0].as_str().expect("text").as_bytes())));
        assert_eq!(event.changes[1].new, Some(marker(sizes[1], values[1].as_str().expect("text").as_bytes())));
        assert_eq!(event.changes[2].new.as_ref(), Some(&values[2]));
        // Under a small auditor limit, half of it is the budget.
        assert_eq!(value_budget(10_000), 5_000);
    }

    #[test]
    fn no_digest_covers_what_the_auditors_policy_hides() {
        let document = json!({"password": "hunter2", "data": "x".repeat(MAX_VALUE_BYTES)});
        let big_secret = json!("s".repeat(MAX_VALUE_BYTES + 1));
        let mut event = event_with(vec![document]);
        event.changes.push(Change { field: "token".into(), old: None, new: Some(big_secret.clone()) });
        event.fit(value_budget(1 << 20), &RedactionPolicy::default());
        let hidden = json!({"password": "[REDACTED]", "data": "x".repeat(MAX_VALUE_BYTES)});
        let canonical = audit_core::canonical::to_string(&hidden);
        assert_eq!(event.changes[0].new, Some(marker(canonical.len(), canonical.as_bytes())));
        assert_eq!(event.changes[1].new, Some(big_secret), "left whole for the auditor to hide");
    }

    #[test]
    fn string_lengths_are_canonical() {
        for text in ["", "plain", "quote\"back\\slash", "\u{0}\u{1f}\u{7f}\n\t\u{8}\u{c}\r", "é€😀\u{2028}"] {
            assert_eq!(string_json_len(text), audit_core::canonical::to_string(&json!(text)).len(), "{text:?}");
        }
    }

    #[test]
    fn secret_keys_are_hidden_in_resource_ids() {
        let policy = RedactionPolicy::default();
        let tokens = RedactionPolicy::none().with_key("pan").tokenize(b"k".to_vec());
        let columns = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(shown_id(&columns(&["id"]), &[json!(42)], &policy, &policy, &[""; 0]), "42");
        assert_eq!(shown_id(&columns(&["token"]), &[json!("s3cret")], &policy, &policy, &[""; 0]), "[REDACTED]");
        assert_eq!(shown_id(&columns(&["pan"]), &[json!("4111")], &policy, &policy, &["PAN"]), "[REDACTED]");
        assert_eq!(
            shown_id(&columns(&["user", "api_key"]), &[json!(1), json!("k")], &policy, &policy, &[""; 0]),
            r#"[1,"[REDACTED]"]"#
        );
        // A key column only the auditor's policy names is hidden as the auditor hides it; one
        // both name, as the change ends up: once under one policy, twice under two.
        let token = tokens.hide(&json!("4111"));
        let shown = |policy: &RedactionPolicy, auditor: &RedactionPolicy| {
            shown_id(&columns(&["pan"]), &[json!("4111")], policy, auditor, &[""; 0])
        };
        assert_eq!(shown(&policy, &tokens), token.as_str().unwrap_or(""));
        assert_eq!(shown(&tokens, &tokens), token.as_str().unwrap_or(""));
        let other = RedactionPolicy::none().with_key("pan").tokenize(b"k2".to_vec());
        let twice = tokens.hide(&other.hide(&json!("4111")));
        assert_eq!(shown(&other, &tokens), twice.as_str().unwrap_or(""));
    }

    #[test]
    fn resource_ids() {
        assert_eq!(resource_id(&[json!(42)]), "42");
        assert_eq!(resource_id(&[json!("a-b")]), "a-b");
        assert_eq!(resource_id(&[json!(1), json!("x")]), r#"[1,"x"]"#);
    }

    #[test]
    fn update_diff_keeps_only_changes() {
        let old: Row = json!({"a": 1, "b": "x", "c": null}).as_object().cloned().unwrap_or_default();
        let new: Row = json!({"a": 1, "b": "y", "c": 2}).as_object().cloned().unwrap_or_default();
        let changes = updated(old, new);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0], Change { field: "b".into(), old: Some(json!("x")), new: Some(json!("y")) });
        assert_eq!(changes[1], Change { field: "c".into(), old: Some(Json::Null), new: Some(json!(2)) });
    }

    #[test]
    fn numbers_spelled_otherwise_are_no_change() {
        let row = |value: Json| -> Row { json!({ "a": value }).as_object().cloned().unwrap_or_default() };
        let float: Json = serde_json::from_str(r#"{"x": [1e1, 2.0]}"#).unwrap_or_default();
        assert_eq!(updated(row(json!({"x": [10, 2]})), row(float)), []);
        assert_eq!(updated(row(json!(-0.0)), row(json!(0))), []);
        let beyond = json!(9_007_199_254_740_993u64);
        assert_eq!(updated(row(beyond.clone()), row(json!(9_007_199_254_740_992.0))).len(), 1);
        assert_eq!(updated(row(json!({"x": 1})), row(json!({"x": 1, "y": 1}))).len(), 1);
        assert_eq!(updated(row(json!([1])), row(json!(["1"]))).len(), 1);
        assert_eq!(updated(row(beyond.clone()), row(beyond)), []);
    }

    #[test]
    fn json_null_and_sql_null_differ_but_are_not_recorded_as_fields() {
        let mut sql_null: Row = json!({"a": null, "b": 1}).as_object().cloned().unwrap_or_default();
        let mut json_null = sql_null.clone();
        json_null.insert(json_null_field("a"), Json::Bool(true));
        let changes = updated(sql_null.clone(), json_null.clone());
        assert_eq!(changes, [Change { field: "a".into(), old: Some(Json::Null), new: Some(Json::Null) }]);
        assert_eq!(updated(json_null.clone(), sql_null.clone()).len(), 1);
        assert_eq!(updated(json_null.clone(), json_null.clone()), []);
        let fields = |changes: Vec<Change>| changes.into_iter().map(|c| c.field).collect::<Vec<_>>();
        assert_eq!(fields(created(json_null.clone())), ["a", "b"]);
        assert_eq!(fields(deleted(json_null)), ["a", "b"]);
        sql_null.remove("b");
        assert_eq!(updated(sql_null, Row::new()), [], "missing counts as SQL NULL");
    }

    #[test]
    fn outbox_form_round_trips() {
        let mut event = OrmEvent::new("update", "users", "1".into());
        event.changes = vec![Change { field: "a".into(), old: Some(Json::Null), new: Some(json!(1)) }];
        let text = serde_json::to_string(&event).unwrap_or_default();
        let back: Option<OrmEvent> = serde_json::from_str(&text).ok();
        assert_eq!(back, Some(event));
    }
}
