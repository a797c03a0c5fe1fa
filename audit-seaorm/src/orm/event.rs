//! The ORM event as it waits in a transaction's buffer or in the outbox, and how row images
//! become SPEC §1 changes.

use audit_core::redact::RedactionPolicy;
use audit_core::{Actor, AuditScope, Change, Context, EventDraft, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

/// A row image: column name → value (see [`crate::orm::value_to_json`]).
pub(crate) type Row = Map<String, Json>;

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
    /// A stand-in (see `Pending::stand_in`) whose write turned out to change nothing: left
    /// in place (savepoints remember buffer positions) and dropped at commit.
    #[serde(skip)]
    pub(crate) void: bool,
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
            void: false,
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
        draft
    }

    /// Hides secrets (columns the entity names, and keys of `policy` at any depth), then
    /// stands in for values too large to keep (see [`shorten`]).
    pub(crate) fn redact(&mut self, policy: &RedactionPolicy, columns: &[&str]) {
        self.hide_secrets(policy, columns);
        for change in &mut self.changes {
            for value in change.old.iter_mut().chain(change.new.iter_mut()) {
                shorten(value);
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
/// could not be committed (in a transaction) or would go unrecorded (autocommit). A larger
/// value is recorded as the string `"[TOO LARGE: <n> bytes, sha256:<64 hex>]"`: `n` is the
/// size of its JSON text, the digest is the SHA-256 of the string's UTF-8 bytes for a text
/// value (base64 text for binary columns), and of the value's canonical JSON (RFC 8785)
/// otherwise, so that an auditor holding the value can check it.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Replaces `value` by the stand-in of [`MAX_VALUE_BYTES`] if its JSON text is larger.
pub(crate) fn shorten(value: &mut Json) {
    use sha2::{Digest, Sha256};
    let (size, digest) = match value {
        // A string's JSON text is at least its length and at most six times it: measure
        // exactly only where it may be over.
        Json::String(text) if text.len() > MAX_VALUE_BYTES / 6 => {
            let size = serde_json::to_string(text).map_or(text.len(), |json| json.len());
            if size <= MAX_VALUE_BYTES {
                return;
            }
            (size, Sha256::digest(text.as_bytes()))
        }
        Json::Array(_) | Json::Object(_) => {
            let canonical = audit_core::canonical::to_string(value);
            if canonical.len() <= MAX_VALUE_BYTES {
                return;
            }
            (canonical.len(), Sha256::digest(canonical.as_bytes()))
        }
        _ => return,
    };
    *value = Json::String(format!("[TOO LARGE: {size} bytes, sha256:{}]", audit_core::EventHash(digest.into())));
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

/// Every column as `new` (create).
pub(crate) fn created(row: Row) -> Vec<Change> {
    row.into_iter().map(|(field, new)| Change { field, old: None, new: Some(new) }).collect()
}

/// Every column as `old` (delete).
pub(crate) fn deleted(row: Row) -> Vec<Change> {
    row.into_iter().map(|(field, old)| Change { field, old: Some(old), new: None }).collect()
}

/// The columns whose value differs, with old and new (update). A column missing on one
/// side counts as `null` there.
pub(crate) fn updated(mut old: Row, new: Row) -> Vec<Change> {
    let mut changes = Vec::new();
    for (field, new_value) in new {
        let old_value = old.remove(&field).unwrap_or(Json::Null);
        if old_value != new_value {
            changes.push(Change { field, old: Some(old_value), new: Some(new_value) });
        }
    }
    for (field, old_value) in old {
        if !old_value.is_null() {
            changes.push(Change { field, old: Some(old_value), new: Some(Json::Null) });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_over_the_limit_are_shortened_to_size_and_digest() {
        use sha2::{Digest, Sha256};
        // A JSON column: measured and hashed as canonical JSON.
        let mut array = json!(vec!["ab"; 20_000]);
        let canonical = audit_core::canonical::to_string(&array);
        assert_eq!(canonical.len(), 100_001);
        shorten(&mut array);
        let expected = format!("[TOO LARGE: 100001 bytes, sha256:{:x}]", Sha256::digest(canonical.as_bytes()));
        assert_eq!(array, json!(expected));
        // Text whose escapes take it over the limit: the JSON text counts, the digest is of the text.
        let text = "\n".repeat(MAX_VALUE_BYTES / 2);
        let mut value = json!(text);
        shorten(&mut value);
        let expected =
            format!("[TOO LARGE: {} bytes, sha256:{:x}]", MAX_VALUE_BYTES + 2, Sha256::digest(text.as_bytes()));
        assert_eq!(value, json!(expected));
        // Small values, numbers and null stay.
        for small in
            [json!("short"), json!({"a": [1, 2]}), json!(12345), json!(null), json!("x".repeat(MAX_VALUE_BYTES - 2))]
        {
            let mut kept = small.clone();
            shorten(&mut kept);
            assert_eq!(kept, small);
        }
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
    fn outbox_form_round_trips() {
        let mut event = OrmEvent::new("update", "users", "1".into());
        event.changes = vec![Change { field: "a".into(), old: Some(Json::Null), new: Some(json!(1)) }];
        let text = serde_json::to_string(&event).unwrap_or_default();
        let back: Option<OrmEvent> = serde_json::from_str(&text).ok();
        assert_eq!(back, Some(event));
    }
}
