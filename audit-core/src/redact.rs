//! Redaction of secrets before an event is hashed, so that a secret never reaches a store.
//!
//! ```
//! use audit_core::{EventDraft, RedactionPolicy};
//! use serde_json::json;
//!
//! let policy = RedactionPolicy::default();
//! let mut draft = EventDraft::new("update")
//!     .detail("login", json!({"user": "alice", "Password": "hunter2"}))
//!     .change("api_key", Some(json!("old-key")), Some(json!("new-key")));
//! policy.apply(&mut draft);
//! assert_eq!(draft.details_mut()["login"], json!({"user": "alice", "Password": "[REDACTED]"}));
//! assert_eq!(draft.changes_ref()[0].new, Some(json!("[REDACTED]")));
//! ```
//!
//! Keys match at any depth of `details` and of `changes[].old/new` by their letters and digits,
//! whatever their case and whatever stands between the words (`_`, `-`, `.`, spaces): `api_key`
//! hides `apiKey`, `API-KEY` and `"api key "` too, and `apı_key` (`API_KEY` lowercased in a
//! Turkish locale); a key `κωδικός` hides `ΚΩΔΙΚΌΣ`. A change whose `field` matches has both
//! values replaced. With [`RedactionPolicy::tokenize`]
//! values become `hmac-sha256:<64 hex>` under a secret key instead: equal inputs give equal
//! tokens (so an auditor can still see "the same card was used twice") without revealing
//! them. Strings are MACed as their UTF-8 bytes, other values as their canonical JSON (an integer
//! beyond ±2^53 as the decimal string the event keeps it as, so that two such integers never
//! share a token).

use crate::canonical;
use crate::event::EventDraft;
use foldhash::HashSet;
use foldhash::HashSetExt;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::fmt;

/// The keys redacted by default.
pub const DEFAULT_KEYS: [&str; 13] = [
    "password",
    "password_hash",
    "passwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "authorization",
    "cookie",
    "ssn",
    "card_number",
    "cvv",
];

/// The longest ASCII key [`RedactionPolicy::matches`] brings to its form without allocating.
const ASCII_FORM_MAX: usize = 64;

/// What a key is matched by: its letters and digits, uppercased and then lowercased, so that
/// every case of a letter gives one form. Lowercasing alone keeps apart the letters with two
/// lowercase forms, or none of their capital's: `ſ` and `s`, final `ς` and `σ` (`ΚΩΔΙΚΌΣ`
/// lowercases to `κωδικόσ`, not `κωδικός`), Turkish `ı` and `i` (`API_KEY` lowercased in a
/// Turkish locale is `apı_key`), `µ` and `μ`.
fn key_form(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The marker SPEC §1 gives redacted values.
pub const REDACTED: &str = "[REDACTED]";

/// Which keys to hide and how.
#[derive(Clone)]
pub struct RedactionPolicy {
    keys: HashSet<String>,
    hmac_key: Option<Vec<u8>>,
    /// Tells policies apart (keys and HMAC key), for the mark [`RedactionPolicy::apply`]
    /// leaves on a draft ([`RedactionPolicy::fingerprint`]).
    fingerprint: u128,
}

impl PartialEq for RedactionPolicy {
    /// The same keys, and the same HMAC key (or none).
    fn eq(&self, other: &RedactionPolicy) -> bool {
        self.fingerprint == other.fingerprint && self.keys == other.keys && self.hmac_key == other.hmac_key
    }
}

impl Eq for RedactionPolicy {}

impl Default for RedactionPolicy {
    /// [`DEFAULT_KEYS`], redacted.
    fn default() -> Self {
        RedactionPolicy { keys: DEFAULT_KEYS.iter().map(|k| key_form(k)).collect(), hmac_key: None, fingerprint: 0 }
            .fingerprinted()
    }
}

impl fmt::Debug for RedactionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.keys.iter().collect();
        keys.sort();
        f.debug_struct("RedactionPolicy").field("keys", &keys).field("tokenize", &self.hmac_key.is_some()).finish()
    }
}

impl RedactionPolicy {
    /// A policy that hides nothing.
    pub fn none() -> RedactionPolicy {
        RedactionPolicy { keys: HashSet::new(), hmac_key: None, fingerprint: 0 }.fingerprinted()
    }

    /// What tells this policy apart from another: the first 16 bytes of SHA-256 over its
    /// sorted keys and its HMAC key, so equal policies have equal fingerprints in any process
    /// (e.g. to tell, reading back drafts kept in an outbox, whether the policy that hid them
    /// is still the one in use; see [`EventDraft::redacted_with`]).
    pub fn fingerprint(&self) -> u128 {
        self.fingerprint
    }

    fn fingerprinted(mut self) -> RedactionPolicy {
        use sha2::Digest;
        let mut keys: Vec<&String> = self.keys.iter().collect();
        keys.sort();
        let mut hasher = Sha256::new();
        hasher.update(b"audit-trail redaction policy\0");
        for key in keys {
            hasher.update((key.len() as u64).to_be_bytes());
            hasher.update(key.as_bytes());
        }
        match &self.hmac_key {
            Some(secret) => {
                hasher.update([1]);
                hasher.update(secret);
            }
            None => hasher.update([0]),
        }
        let digest = hasher.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        self.fingerprint = u128::from_be_bytes(first);
        self
    }

    /// Also hides `key` (matched by its letters and digits, whatever their case: see the
    /// module docs).
    pub fn with_key(mut self, key: impl AsRef<str>) -> RedactionPolicy {
        self.keys.insert(key_form(key.as_ref()));
        self.fingerprinted()
    }

    /// Replaces values with keyed HMAC tokens instead of `[REDACTED]`. Keep `secret` out of
    /// the audit store; rotating it changes every later token.
    pub fn tokenize(mut self, secret: impl Into<Vec<u8>>) -> RedactionPolicy {
        self.hmac_key = Some(secret.into());
        self.fingerprinted()
    }

    /// True when `key` is to be hidden.
    pub fn matches(&self, key: &str) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        // An ASCII key (nearly every one) is brought to its form on the stack: this runs for
        // every detail and changed field of every event.
        if key.is_ascii() && key.len() <= ASCII_FORM_MAX {
            let mut form = [0u8; ASCII_FORM_MAX];
            let mut len = 0;
            for byte in key.bytes().filter(u8::is_ascii_alphanumeric) {
                form[len] = byte.to_ascii_lowercase();
                len += 1;
            }
            return std::str::from_utf8(&form[..len]).is_ok_and(|form| self.keys.contains(form));
        }
        self.keys.contains(&key_form(key))
    }

    /// What a hidden value becomes.
    pub fn hide(&self, value: &Value) -> Value {
        let Some(secret) = &self.hmac_key else {
            return Value::String(REDACTED.to_string());
        };
        // HMAC accepts keys of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return Value::String(REDACTED.to_string());
        };
        // As the event keeps it: an integer beyond ±2^53 as its decimal string, not the double
        // canonical JSON would round it to (two such integers would share a token).
        let mut kept = value.clone();
        canonical::normalize_value(&mut kept);
        match &kept {
            Value::String(s) => mac.update(s.as_bytes()),
            other => mac.update(canonical::to_string(other).as_bytes()),
        }
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(12 + 64);
        out.push_str("hmac-sha256:");
        for byte in digest {
            out.push_str(&format!("{byte:02x}"));
        }
        Value::String(out)
    }

    /// Hides matching keys at any depth of `value`.
    pub fn apply_to_value(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if self.matches(key) {
                        *inner = self.hide(inner);
                    } else {
                        self.apply_to_value(inner);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.apply_to_value(item)),
            _ => {}
        }
    }

    /// Hides secrets in a draft's `details` and `changes`, once: the draft is marked, and a
    /// draft this policy (an equal one) already hid, or one marked with
    /// [`EventDraft::redacted_with`] it, is left as it is, so that a tokenized value is MACed
    /// once, not a token of its token.
    pub fn apply(&self, draft: &mut EventDraft) {
        if draft.redacted_by == Some(self.fingerprint) || self.keys.is_empty() {
            return;
        }
        draft.redacted_by = Some(self.fingerprint);
        for (key, value) in draft.details.iter_mut() {
            if self.matches(key) {
                *value = self.hide(value);
            } else {
                self.apply_to_value(value);
            }
        }
        for change in &mut draft.changes {
            let whole = self.matches(&change.field);
            for value in change.old.iter_mut().chain(change.new.iter_mut()) {
                if whole {
                    *value = self.hide(value);
                } else {
                    self.apply_to_value(value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_at_any_depth_case_insensitively() {
        let policy = RedactionPolicy::default();
        let mut value = json!({"a": [{"TOKEN": 1, "keep": 2}], "Card_Number": "4111"});
        policy.apply_to_value(&mut value);
        assert_eq!(value, json!({"a": [{"TOKEN": "[REDACTED]", "keep": 2}], "Card_Number": "[REDACTED]"}));
    }

    #[test]
    fn tokens_are_keyed_and_stable() {
        let a = RedactionPolicy::default().tokenize(b"k1".to_vec());
        let b = RedactionPolicy::default().tokenize(b"k2".to_vec());
        let ssn = json!("123-45-6789");
        let token = a.hide(&ssn);
        assert_eq!(token, a.hide(&ssn));
        assert_ne!(token, b.hide(&ssn));
        let text = token.as_str().unwrap_or_default();
        assert!(text.starts_with("hmac-sha256:") && text.len() == 12 + 64, "{text}");
    }

    #[test]
    fn a_draft_is_hidden_once_by_one_policy() {
        let policy = RedactionPolicy::default().tokenize(b"k".to_vec());
        let mut draft = EventDraft::new("x").detail("token", json!("s3cret"));
        policy.apply(&mut draft);
        let once = draft.details_ref()["token"].clone();
        assert_eq!(once, policy.hide(&json!("s3cret")));
        policy.clone().apply(&mut draft);
        assert_eq!(draft.details_ref()["token"], once, "an equal policy hides it once");
        RedactionPolicy::default().tokenize(b"other".to_vec()).apply(&mut draft);
        assert_ne!(draft.details_ref()["token"], once, "another policy hides it again");
        // Marked as hidden by the connection that hid it already.
        let mut draft = EventDraft::new("x").detail("token", once.clone()).redacted_with(&policy);
        policy.apply(&mut draft);
        assert_eq!(draft.details_ref()["token"], once);
        assert_ne!(policy, RedactionPolicy::default());
        // A change after the mark clears it: what was added is hidden too.
        let mut draft = EventDraft::new("x").detail("token", json!("a"));
        policy.apply(&mut draft);
        let mut draft = draft.detail("password", json!("b"));
        policy.apply(&mut draft);
        assert_eq!(draft.details_ref()["password"], policy.hide(&json!("b")));
        assert_eq!(policy.fingerprint(), policy.clone().fingerprint());
        assert_ne!(policy.fingerprint(), RedactionPolicy::default().fingerprint());
        assert_eq!(RedactionPolicy::none().with_key("a"), RedactionPolicy::none().with_key("A"));
    }

    /// Keys are matched by their letters and digits: the usual JSON spellings of the default
    /// keys (and `ſ`, which case folding makes an `s` but lowercasing does not) were stored in
    /// clear.
    #[test]
    fn keys_match_whatever_their_case_and_word_separators() {
        let policy = RedactionPolicy::default().with_key("session_id");
        for key in ["apiKey", "API-KEY", "api key ", "accessToken", "cardNumber", "ſecret", "Session.Id", "password"] {
            assert!(policy.matches(key), "{key}");
        }
        for key in ["password_hint", "keep", "api", "tokens"] {
            assert!(!policy.matches(key), "{key}");
        }
        assert_eq!(RedactionPolicy::none().with_key("api_key"), RedactionPolicy::none().with_key("ApiKey"));
        // A key longer than the stack form is matched the same way.
        let long = "k".repeat(ASCII_FORM_MAX + 6);
        let policy = RedactionPolicy::none().with_key(&long);
        assert!(policy.matches(&long.to_uppercase()) && policy.matches(&format!("_{long}_")));
        assert!(!policy.matches(&long[1..]));
    }

    /// Integers beyond ±2^53 are MACed as the event keeps them (a decimal string), not as the
    /// double canonical JSON would round them to: 2^53 and 2^53 + 1 shared a token.
    #[test]
    fn large_integers_get_tokens_of_their_own() {
        let policy = RedactionPolicy::default().tokenize(b"k".to_vec());
        let (a, b) = (json!(9_007_199_254_740_992u64), json!(9_007_199_254_740_993u64));
        assert_ne!(policy.hide(&a), policy.hide(&b));
        assert_ne!(policy.hide(&json!({"n": a})), policy.hide(&json!({"n": b})));
        assert_eq!(policy.hide(&b), policy.hide(&json!("9007199254740993")), "as the event keeps it");
        assert_eq!(policy.hide(&json!(12)), policy.hide(&json!(12)));
    }

    #[test]
    fn none_hides_nothing() {
        let mut value = json!({"password": "x"});
        RedactionPolicy::none().apply_to_value(&mut value);
        assert_eq!(value, json!({"password": "x"}));
    }
}
