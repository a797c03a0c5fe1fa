//! The audit event of SPEC §1, drafts, and their canonical form (SPEC §2).
//!
//! ```
//! use audit_core::{Actor, EventDraft, Outcome};
//! use serde_json::json;
//!
//! let draft = EventDraft::new("update")
//!     .actor(Actor::user("alice"))
//!     .resource("users", "42")
//!     .change("email", Some(json!("a@old.example")), Some(json!("a@new.example")))
//!     .detail("ticket", json!("CHG-1234"))
//!     .tag("privileged");
//! assert_eq!(draft.outcome_ref(), Outcome::Success);
//! ```
//!
//! A draft carries what the application knows; the writer ([`crate::Auditor`]) assigns
//! `chain`, `seq`, `id`, `ts`, `prev` and `hash`. [`Event`] is the full, sealed event.
//!
//! The canonical form of an event is written by one function, `EventLayout::write`, used by
//! the writer's hot path ([`PreparedEvent::seal`]) and by [`Event::compute_hash`] alike. A
//! property test checks it byte for byte against a general RFC 8785 implementation.

use crate::canonical::{self, MAX_SAFE_INTEGER, cmp_utf16, write_i64, write_str, write_u64, write_value};
use crate::hash::EventHash;
use crate::line::{self, FormatError};
use crate::redact::RedactionPolicy;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use uuid::Uuid;

/// The format version this crate writes (`v`).
pub const FORMAT_VERSION: u64 = 1;

/// Who acted: `{"id", "kind"}` plus optional `auth` and `session` (SPEC §1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// A stable identifier of the actor (user id, service name, …).
    pub id: String,
    /// What sort of actor this is.
    pub kind: ActorKind,
    /// How the actor authenticated (e.g. `password`, `oidc`, `api_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// A session identifier, if the application has one worth keeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl Actor {
    /// An actor of the given kind.
    pub fn new(id: impl Into<String>, kind: ActorKind) -> Actor {
        Actor { id: id.into(), kind, auth: None, session: None }
    }
    /// A regular user.
    pub fn user(id: impl Into<String>) -> Actor {
        Actor::new(id, ActorKind::User)
    }
    /// A user acting with administrative rights.
    pub fn admin(id: impl Into<String>) -> Actor {
        Actor::new(id, ActorKind::Admin)
    }
    /// Another program calling this one.
    pub fn service(id: impl Into<String>) -> Actor {
        Actor::new(id, ActorKind::Service)
    }
    /// The application itself: background jobs, migrations, scripts.
    pub fn system(id: impl Into<String>) -> Actor {
        Actor::new(id, ActorKind::System)
    }
    /// Nobody known: `{"id": "anonymous", "kind": "anonymous"}`.
    pub fn anonymous() -> Actor {
        Actor::new("anonymous", ActorKind::Anonymous)
    }
    /// Sets the authentication method.
    pub fn with_auth(mut self, auth: impl Into<String>) -> Actor {
        self.auth = Some(auth.into());
        self
    }
    /// Sets the session identifier.
    pub fn with_session(mut self, session: impl Into<String>) -> Actor {
        self.session = Some(session.into());
        self
    }
    /// Admin and system actors are privileged (SOC 2, PCI DSS reports).
    pub fn is_privileged(&self) -> bool {
        matches!(self.kind, ActorKind::Admin | ActorKind::System)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(auth) = &self.auth {
            out.extend_from_slice(b"\"auth\":");
            write_str(auth, out);
            out.push(b',');
        }
        out.extend_from_slice(b"\"id\":");
        write_str(&self.id, out);
        out.extend_from_slice(b",\"kind\":\"");
        out.extend_from_slice(self.kind.as_str().as_bytes());
        out.push(b'"');
        if let Some(session) = &self.session {
            out.extend_from_slice(b",\"session\":");
            write_str(session, out);
        }
        out.push(b'}');
    }
}

/// The kinds of actor SPEC §1 allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A person using the application.
    User,
    /// A person with administrative rights.
    Admin,
    /// Another program.
    Service,
    /// The application itself.
    System,
    /// Unknown.
    Anonymous,
}

impl ActorKind {
    /// All kinds, in SPEC order.
    pub const ALL: [ActorKind; 5] =
        [ActorKind::User, ActorKind::Admin, ActorKind::Service, ActorKind::System, ActorKind::Anonymous];

    /// The SPEC spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Admin => "admin",
            ActorKind::Service => "service",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }

    /// The kind spelled `s`, if SPEC knows it.
    pub fn parse(s: &str) -> Option<ActorKind> {
        ActorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was acted on: `{"type", "id"}`. `id` may be empty.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resource {
    /// The kind of resource (ORM events: the table name).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its identifier (ORM events: the primary key).
    pub id: String,
}

impl Resource {
    /// A resource of type `kind` with id `id`.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Resource {
        Resource { kind: kind.into(), id: id.into() }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_str(&self.id, out);
        out.extend_from_slice(b",\"type\":");
        write_str(&self.kind, out);
        out.push(b'}');
    }
}

/// How it ended (SPEC §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It was done.
    #[default]
    Success,
    /// It was tried and failed.
    Failure,
    /// It was refused (authentication or authorization).
    Denied,
}

impl Outcome {
    /// All outcomes, in SPEC order.
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Denied];

    /// The SPEC spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    /// The outcome spelled `s`, if SPEC knows it.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where and how (SPEC §1 `context`). Every field is optional; an empty context is absent.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Context {
    /// The client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The request id (server-assigned or from a trusted edge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The route template, e.g. `/users/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The raw request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The HTTP status code of the response (SPEC §1 says only "integer": a line from another
    /// writer may hold any integer a verifier accepts, negative too, so this is not an `u16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// How long the request took, in microseconds (an integer, as `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<i64>,
}

impl Context {
    /// True when no field is set (the event then has no `context`).
    pub fn is_empty(&self) -> bool {
        self == &Context::default()
    }

    /// Fills each unset field from `other`.
    pub fn fill_from(&mut self, other: &Context) {
        fn fill<T: Clone>(slot: &mut Option<T>, from: &Option<T>) {
            if slot.is_none() {
                slot.clone_from(from);
            }
        }
        fill(&mut self.ip, &other.ip);
        fill(&mut self.user_agent, &other.user_agent);
        fill(&mut self.request_id, &other.request_id);
        fill(&mut self.method, &other.method);
        fill(&mut self.route, &other.route);
        fill(&mut self.path, &other.path);
        fill(&mut self.status, &other.status);
        fill(&mut self.duration_us, &other.duration_us);
    }

    fn write(&self, out: &mut Vec<u8>) {
        // Keys in canonical order: duration_us, ip, method, path, request_id, route, status, user_agent.
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &str| {
            out.push(if first { b'{' } else { b',' });
            first = false;
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
        };
        if let Some(v) = self.duration_us {
            key(out, "duration_us");
            write_i64(v, out);
        }
        let strings = [
            ("ip", &self.ip),
            ("method", &self.method),
            ("path", &self.path),
            ("request_id", &self.request_id),
            ("route", &self.route),
        ];
        for (name, value) in strings {
            if let Some(v) = value {
                key(out, name);
                write_str(v, out);
            }
        }
        if let Some(v) = self.status {
            key(out, "status");
            write_i64(v, out);
        }
        if let Some(v) = &self.user_agent {
            key(out, "user_agent");
            write_str(v, out);
        }
        out.push(b'}');
    }
}

/// One column diff: `{"field", "old"?, "new"?}`. `None` means absent, `Some(Value::Null)` a
/// real SQL NULL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The column or attribute name.
    pub field: String,
    /// The value before; absent on create.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub old: Option<Value>,
    /// The value after; absent on delete.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub new: Option<Value>,
}

/// Deserializes a present field, `null` included, as `Some`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Change {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"field\":");
        write_str(&self.field, out);
        if let Some(new) = &self.new {
            out.extend_from_slice(b",\"new\":");
            write_value(new, out);
        }
        if let Some(old) = &self.old {
            out.extend_from_slice(b",\"old\":");
            write_value(old, out);
        }
        out.push(b'}');
    }
}

/// A sealed event: every SPEC §1 field.
///
/// Fields that SPEC marks optional are empty (`None`, empty vector or map) when absent.
/// Fields an outside implementation added are not kept in this typed view; the stored
/// canonical line keeps them and the verifier hashes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Format version, `1`.
    pub v: u64,
    /// The chain (log) it belongs to.
    pub chain: String,
    /// Position in its chain, from 1.
    pub seq: u64,
    /// Unique id (UUIDv7).
    pub id: Uuid,
    /// When it was recorded.
    pub ts: Timestamp,
    /// Who.
    pub actor: Actor,
    /// The verb.
    pub action: String,
    /// On what.
    pub resource: Resource,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed or was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where and how.
    #[serde(default, skip_serializing_if = "Context::is_empty")]
    pub context: Context,
    /// Column diffs, sorted by field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Anything else the application records.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    /// Why a person did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// Sorted labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Hash of the previous event in the chain.
    pub prev: EventHash,
    /// Hash of this event (SPEC §2).
    pub hash: EventHash,
}

impl Event {
    /// Parses and validates one event from any JSON text (not necessarily canonical). An object
    /// with two members of one name is refused (RFC 8785 takes I-JSON).
    ///
    /// Integers beyond ±2^53 are refused: RFC 8785 would hash them as rounded doubles, so
    /// the event could not keep the value it claims.
    pub fn from_json(json: &str) -> Result<Event, FormatError> {
        let value = canonical::parse_unique(json).map_err(|e| FormatError::new(format!("not I-JSON: {e}")))?;
        if canonical::normalize_value(&mut value.clone()) > 0 {
            return Err(FormatError::new(
                "an integer beyond 2^53 cannot be hashed exactly (RFC 8785 uses doubles): write it as a string",
            ));
        }
        let canonical = canonical::to_string(&value);
        Event::from_canonical_line(&canonical)
    }

    /// Parses one event from its canonical line, checking SPEC §1 and §2 form (not the hash).
    pub fn from_canonical_line(line: &str) -> Result<Event, FormatError> {
        line::inspect(line.as_bytes())?;
        serde_json::from_str(line).map_err(|e| FormatError::new(format!("not a SPEC event: {e}")))
    }

    /// SHA-256 of the canonical form without `hash` (SPEC §2).
    pub fn compute_hash(&self) -> EventHash {
        EventLayout::write(self).hash(self.seq, &self.prev)
    }

    /// The canonical line (SPEC §3) of this event, with its `hash` field as stored.
    pub fn to_canonical_line(&self) -> String {
        EventLayout::write(self).line(self.seq, &self.prev, &self.hash)
    }

    /// True when the stored `hash` matches the content.
    pub fn hash_is_valid(&self) -> bool {
        self.compute_hash() == self.hash
    }
}

/// The canonical bytes of an event minus its chain position, cut where `hash`, `prev` and
/// `seq` go. Sorted keys put them between fixed runs of other fields:
///
/// `{action,actor,chain,changes,context,details` ‖ `[hash]` ‖ `,id,justification,outcome` ‖
/// `,prev` ‖ `,reason,resource` ‖ `,seq` ‖ `,tags,ts,v}`.
#[derive(Clone, Debug)]
pub(crate) struct EventLayout {
    body: Vec<u8>,
    /// End of the part before `hash`, before `prev`, and before `seq`.
    cuts: [usize; 3],
}

impl EventLayout {
    /// Writes every field of `event` except `hash`, `prev` and `seq`.
    pub(crate) fn write(event: &Event) -> EventLayout {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"action\":");
        write_str(&event.action, &mut out);
        out.extend_from_slice(b",\"actor\":");
        event.actor.write(&mut out);
        out.extend_from_slice(b",\"chain\":");
        write_str(&event.chain, &mut out);
        if !event.changes.is_empty() {
            out.extend_from_slice(b",\"changes\":[");
            for (i, change) in event.changes.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                change.write(&mut out);
            }
            out.push(b']');
        }
        if !event.context.is_empty() {
            out.extend_from_slice(b",\"context\":");
            event.context.write(&mut out);
        }
        if !event.details.is_empty() {
            out.extend_from_slice(b",\"details\":");
            write_value_map(&event.details, &mut out);
        }
        let before_hash = out.len();
        out.extend_from_slice(b",\"id\":\"");
        out.extend_from_slice(event.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
        out.push(b'"');
        if let Some(justification) = &event.justification {
            out.extend_from_slice(b",\"justification\":");
            write_str(justification, &mut out);
        }
        out.extend_from_slice(b",\"outcome\":\"");
        out.extend_from_slice(event.outcome.as_str().as_bytes());
        out.push(b'"');
        let before_prev = out.len();
        if let Some(reason) = &event.reason {
            out.extend_from_slice(b",\"reason\":");
            write_str(reason, &mut out);
        }
        out.extend_from_slice(b",\"resource\":");
        event.resource.write(&mut out);
        let before_seq = out.len();
        if !event.tags.is_empty() {
            out.extend_from_slice(b",\"tags\":[");
            for (i, tag) in event.tags.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(tag, &mut out);
            }
            out.push(b']');
        }
        out.extend_from_slice(b",\"ts\":\"");
        event.ts.write(&mut out);
        out.extend_from_slice(b"\",\"v\":");
        write_u64(event.v, &mut out);
        out.push(b'}');
        EventLayout { body: out, cuts: [before_hash, before_prev, before_seq] }
    }

    /// Length of the body (the event's canonical size, give or take 100 bytes).
    pub(crate) fn len(&self) -> usize {
        self.body.len()
    }

    /// The hash of the event at `seq` after `prev`.
    pub(crate) fn hash(&self, seq: u64, prev: &EventHash) -> EventHash {
        let [a, b, c] = self.cuts;
        let mut scratch = Vec::with_capacity(96);
        let mut sha = Sha256::new();
        sha.update(&self.body[..a]);
        sha.update(&self.body[a..b]);
        write_prev(prev, &mut scratch);
        sha.update(&scratch);
        sha.update(&self.body[b..c]);
        scratch.clear();
        write_seq(seq, &mut scratch);
        sha.update(&scratch);
        sha.update(&self.body[c..]);
        EventHash(sha.finalize().into())
    }

    /// The hash and the full canonical line at (`seq`, `prev`), built in one buffer: the
    /// line with the `hash` member's digits zeroed is written first, the bytes around that
    /// member (exactly the canonical form without it) are hashed, then the digits filled in.
    /// The same bytes as [`EventLayout::hash`] and [`EventLayout::line`] produce (the writer's
    /// property test checks its lines against a reference RFC 8785 serializer and its hashes
    /// against the line checker).
    pub(crate) fn sealed(&self, seq: u64, prev: &EventHash) -> (EventHash, String) {
        let [a, b, c] = self.cuts;
        let mut out = Vec::with_capacity(self.body.len() + 180);
        out.extend_from_slice(&self.body[..a]);
        out.extend_from_slice(b",\"hash\":\"");
        let digits = out.len();
        out.extend_from_slice(&[b'0'; 64]);
        out.push(b'"');
        let after_member = out.len();
        out.extend_from_slice(&self.body[a..b]);
        write_prev(prev, &mut out);
        out.extend_from_slice(&self.body[b..c]);
        write_seq(seq, &mut out);
        out.extend_from_slice(&self.body[c..]);
        let mut sha = Sha256::new();
        sha.update(&out[..a]);
        sha.update(&out[after_member..]);
        let hash = EventHash(sha.finalize().into());
        out[digits..digits + 64].copy_from_slice(&hash.hex_digits());
        // Built from `&str` pieces and ASCII punctuation only.
        let line = String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        (hash, line)
    }

    /// The full canonical line with `hash`.
    pub(crate) fn line(&self, seq: u64, prev: &EventHash, hash: &EventHash) -> String {
        let [a, b, c] = self.cuts;
        let mut out = Vec::with_capacity(self.body.len() + 180);
        out.extend_from_slice(&self.body[..a]);
        out.extend_from_slice(b",\"hash\":\"");
        hash.write_hex(&mut out);
        out.push(b'"');
        out.extend_from_slice(&self.body[a..b]);
        write_prev(prev, &mut out);
        out.extend_from_slice(&self.body[b..c]);
        write_seq(seq, &mut out);
        out.extend_from_slice(&self.body[c..]);
        // Built from `&str` pieces and ASCII punctuation only.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

fn write_prev(prev: &EventHash, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"prev\":\"");
    prev.write_hex(out);
    out.push(b'"');
}

fn write_seq(seq: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"seq\":");
    write_u64(seq, out);
}

fn write_value_map(map: &Map<String, Value>, out: &mut Vec<u8>) {
    // Reuse the generic writer's key ordering for objects.
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|a, b| cmp_utf16(a.0, b.0));
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

/// What the application knows about an event; the writer seals it into an [`Event`].
///
/// Its `Debug` form shows no value of `details` or `changes` (only their keys and fields):
/// a draft is not yet redacted, and errors that hand one back
/// ([`TryRecordError::Full`](crate::TryRecordError::Full)) end up in logs.
#[derive(Clone, PartialEq, Default)]
pub struct EventDraft {
    pub(crate) actor: Option<Actor>,
    pub(crate) action: String,
    pub(crate) resource: Resource,
    pub(crate) outcome: Outcome,
    pub(crate) reason: Option<String>,
    pub(crate) context: Context,
    pub(crate) changes: Vec<Change>,
    pub(crate) details: Map<String, Value>,
    pub(crate) justification: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) id: Option<Uuid>,
    pub(crate) ts: Option<Timestamp>,
    /// The policy that hid this draft's secrets already ([`RedactionPolicy::apply`]); cleared
    /// by any change of `details` or `changes`.
    pub(crate) redacted_by: Option<u128>,
}

impl fmt::Debug for EventDraft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let details: Vec<&String> = self.details.keys().collect();
        let changes: Vec<&String> = self.changes.iter().map(|change| &change.field).collect();
        f.debug_struct("EventDraft")
            .field("action", &self.action)
            .field("actor", &self.actor)
            .field("resource", &self.resource)
            .field("outcome", &self.outcome)
            .field("details (keys; values not shown)", &details)
            .field("changes (fields; values not shown)", &changes)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl EventDraft {
    /// A draft of a successful `action` on no particular resource.
    pub fn new(action: impl Into<String>) -> EventDraft {
        EventDraft { action: action.into(), ..EventDraft::default() }
    }
    /// Sets who acted. Without it, the actor of the current [`crate::scope`] is used, else
    /// `anonymous`.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }
    /// Marks this draft's values as hidden already by `policy`, as [`RedactionPolicy::apply`]
    /// hides them (say, by a connection that hid them before keeping the draft in an
    /// outbox): an auditor with an equal policy does not hide them again, so a tokenized value
    /// is MACed once. Only for values that policy did hide: nothing is checked. A change of
    /// the draft's `details` or `changes` afterwards clears the mark.
    pub fn redacted_with(mut self, policy: &RedactionPolicy) -> Self {
        self.redacted_by = Some(policy.fingerprint());
        self
    }
    /// Sets what was acted on.
    pub fn resource(mut self, kind: impl Into<String>, id: impl Into<String>) -> Self {
        self.resource = Resource::new(kind, id);
        self
    }
    /// Sets how it ended.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
    /// Sets why it failed or was denied.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    /// Sets the context. Unset fields are filled from the current [`crate::scope`].
    pub fn context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }
    /// Adds a column diff (`old: None` on create, `new: None` on delete).
    pub fn change(mut self, field: impl Into<String>, old: Option<Value>, new: Option<Value>) -> Self {
        self.changes.push(Change { field: field.into(), old, new });
        self.redacted_by = None;
        self
    }
    /// Adds diffs.
    pub fn changes(mut self, changes: impl IntoIterator<Item = Change>) -> Self {
        self.changes.extend(changes);
        self.redacted_by = None;
        self
    }
    /// Adds one detail.
    pub fn detail(mut self, key: impl Into<String>, value: Value) -> Self {
        self.details.insert(key.into(), value);
        self.redacted_by = None;
        self
    }
    /// Sets why a person did it.
    pub fn justification(mut self, justification: impl Into<String>) -> Self {
        self.justification = Some(justification.into());
        self
    }
    /// Adds a tag (tags are sorted and deduplicated when sealed).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Fixes the event's id instead of letting the writer pick a UUIDv7. For outboxes and
    /// replays that must recognise an event already written (ids are unique in a chain: a
    /// store that already has the id refuses the event, [`crate::RecordError::Rejected`];
    /// the JSON Lines store does not look ids up, see [`crate::store::JsonlStore`]).
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }
    /// Fixes the event's time instead of "now" (e.g. when it happened, for an event sealed
    /// later from an outbox).
    pub fn with_ts(mut self, ts: Timestamp) -> Self {
        self.ts = Some(ts);
        self
    }

    /// The outcome set so far.
    pub fn outcome_ref(&self) -> Outcome {
        self.outcome
    }
    /// The action.
    pub fn action_ref(&self) -> &str {
        &self.action
    }
    /// The actor set explicitly, if any.
    pub fn actor_ref(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }
    /// The resource set so far (empty type and id when none was).
    pub fn resource_ref(&self) -> &Resource {
        &self.resource
    }
    /// The context set so far.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }
    /// The details set so far.
    pub fn details_ref(&self) -> &Map<String, Value> {
        &self.details
    }
    /// The details set so far (to change: a redaction mark is cleared).
    pub fn details_mut(&mut self) -> &mut Map<String, Value> {
        self.redacted_by = None;
        &mut self.details
    }
    /// The changes set so far.
    pub fn changes_ref(&self) -> &[Change] {
        &self.changes
    }
}

/// Why a draft cannot become an event.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DraftError {
    /// The action is empty.
    #[error("the event has no action: give EventDraft::new a verb such as \"update\" or \"POST /users\"")]
    EmptyAction,
    /// The actor id is empty.
    #[error("the actor has an empty id: use Actor::anonymous() when nobody is known")]
    EmptyActorId,
    /// Two changes name the same field.
    #[error("field {0:?} appears twice in changes: record one diff per field")]
    DuplicateChange(String),
    /// A field that stores index (actor id, action, resource type or id) is longer than
    /// [`MAX_INDEXED_FIELD_BYTES`].
    #[error(
        "{field} is {len} bytes, over the limit of {limit} for fields that audit stores index: keep it short (an \
         identifier) and put longer text in details"
    )]
    FieldTooLong {
        /// Which field (`actor.id`, `action`, `resource.type`, `resource.id`).
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A value in `details` or in a change nests arrays and objects deeper than
    /// [`MAX_VALUE_DEPTH`].
    #[error(
        "{field} nests arrays and objects more than {limit} levels deep, deeper than a verifier reads: flatten \
         it, or record it as text"
    )]
    TooDeep {
        /// Where: `details.<key>`, or `changes[<field>].old` / `.new`.
        field: String,
        /// The limit ([`MAX_VALUE_DEPTH`]).
        limit: usize,
    },
    /// An integer field of the context is beyond ±2^53 (RFC 8785 numbers are doubles).
    #[error("{field} is {value}, beyond ±2^53: no verifier reads such an integer (RFC 8785 numbers are doubles)")]
    IntegerTooLarge {
        /// `context.status` or `context.duration_us`.
        field: &'static str,
        /// The value.
        value: i64,
    },
    /// The event's time is a leap second (`23:59:60`), which SQL stores' time columns cannot
    /// keep (PostgreSQL moves it to the next minute, MySQL to zero).
    #[error(
        "ts {0} is a leap second, which SQL stores' time columns cannot keep: record it at 23:59:59.999999 and \
         keep the exact time in details"
    )]
    LeapSecond(Timestamp),
    /// The time's year is outside 0000–9999, which SPEC times cannot write.
    #[error("ts {0} is outside the years 0000 to 9999 that SPEC times can write: check where the time came from")]
    YearOutOfRange(Timestamp),
    /// The canonical event would exceed the configured limit.
    #[error(
        "the event is up to {size} bytes canonical, over the limit of {limit}: move large payloads out of \
         details/changes"
    )]
    TooLarge {
        /// Its canonical size once sealed, at most (with `seq`, `prev` and `hash`, `seq` counted
        /// at its longest).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// The longest actor id, action, resource type or resource id an event may have, in bytes.
///
/// SQL stores index these fields, and an index entry has a size limit (PostgreSQL's B-tree
/// refuses entries over about 2.7 KB): an event over it could never be stored, and the writer
/// would retry it forever, holding up every event behind it. Such a draft is refused when it is
/// recorded instead, with [`DraftError::FieldTooLong`]. Identifiers are far shorter; longer
/// text belongs in `details`.
pub const MAX_INDEXED_FIELD_BYTES: usize = 1024;

/// The deepest nesting of arrays and objects a value in `details` or in a change's `old` or
/// `new` may have (`[1]` and `{"a": 1}` nest 1 level, `[[1]]` 2; a scalar 0).
///
/// Verifiers read a line with bounded recursion ([`crate::line::MAX_DEPTH`] levels from the
/// line itself, which leaves 61 for a change's values): a deeper value would be written but
/// then refused as `bad format` by every verification, so a draft holding one (after the
/// auditor's redaction: a hidden value counts as its marker) is refused when it is recorded
/// instead, with [`DraftError::TooDeep`].
pub const MAX_VALUE_DEPTH: usize = 60;

// What a verifier reads must hold every event the writer writes.
const _: () = assert!(MAX_VALUE_DEPTH + crate::line::CHANGE_VALUE_DEPTH < crate::line::MAX_DEPTH);
const _: () = assert!(MAX_VALUE_DEPTH + crate::line::DETAILS_DEPTH + 1 < crate::line::MAX_DEPTH);

/// True when `value` nests arrays and objects more than `limit` levels deep (see
/// [`MAX_VALUE_DEPTH`]); it looks no deeper than that.
pub fn nests_deeper_than(value: &Value, limit: usize) -> bool {
    match value {
        Value::Array(items) => limit == 0 || items.iter().any(|item| nests_deeper_than(item, limit - 1)),
        Value::Object(members) => limit == 0 || members.values().any(|member| nests_deeper_than(member, limit - 1)),
        _ => false,
    }
}

/// The deepest nesting a draft's values may have before redaction, which walks them
/// recursively (a guard for the stack; JSON parsed by serde_json nests at most 128 levels).
/// Redaction can only make values shallower; [`MAX_VALUE_DEPTH`] applies after it.
pub(crate) const MAX_DRAFT_DEPTH: usize = 128;

/// Refuses values that nest deeper than `limit` (see [`MAX_VALUE_DEPTH`]).
pub(crate) fn check_depth(changes: &[Change], details: &Map<String, Value>, limit: usize) -> Result<(), DraftError> {
    for change in changes {
        for (side, value) in [("old", &change.old), ("new", &change.new)] {
            if value.as_ref().is_some_and(|v| nests_deeper_than(v, limit)) {
                let field = format!("changes[{:?}].{side}", change.field);
                return Err(DraftError::TooDeep { field, limit });
            }
        }
    }
    match details.iter().find(|(_, v)| nests_deeper_than(v, limit)) {
        Some((key, _)) => Err(DraftError::TooDeep { field: format!("details.{key}"), limit }),
        None => Ok(()),
    }
}

/// The most bytes sealing adds to an [`EventLayout`]: `,"hash":"<64 hex>"` and
/// `,"prev":"<64 hex>"` (74 each) and `,"seq":<up to 20 digits>` (27).
const SEALED_MEMBERS_MAX_BYTES: usize = 74 + 74 + 27;

/// A draft made ready to chain: validated, normalized, redacted and serialized except for
/// its chain position. The writer calls [`PreparedEvent::seal`] with the next `seq`/`prev`.
#[derive(Clone, Debug)]
pub struct PreparedEvent {
    event: Event,
    layout: EventLayout,
}

impl PreparedEvent {
    /// Validates `event` (its `seq`, `prev`, `hash` are ignored) and serializes it.
    pub(crate) fn new(mut event: Event, max_bytes: usize) -> Result<PreparedEvent, DraftError> {
        if event.action.is_empty() {
            return Err(DraftError::EmptyAction);
        }
        if event.actor.id.is_empty() {
            return Err(DraftError::EmptyActorId);
        }
        let indexed = [
            ("actor.id", &event.actor.id),
            ("action", &event.action),
            ("resource.type", &event.resource.kind),
            ("resource.id", &event.resource.id),
        ];
        if let Some((field, value)) = indexed.into_iter().find(|(_, value)| value.len() > MAX_INDEXED_FIELD_BYTES) {
            return Err(DraftError::FieldTooLong { field, len: value.len(), limit: MAX_INDEXED_FIELD_BYTES });
        }
        check_depth(&event.changes, &event.details, MAX_VALUE_DEPTH)?;
        let integers = [("context.status", event.context.status), ("context.duration_us", event.context.duration_us)];
        if let Some((field, Some(value))) =
            integers.into_iter().find(|(_, v)| v.is_some_and(|v| v.unsigned_abs() > MAX_SAFE_INTEGER))
        {
            return Err(DraftError::IntegerTooLarge { field, value });
        }
        if event.ts.is_leap_second() {
            return Err(DraftError::LeapSecond(event.ts));
        }
        if !event.ts.has_spec_year() {
            return Err(DraftError::YearOutOfRange(event.ts));
        }
        event.changes.sort_by(|a, b| cmp_utf16(&a.field, &b.field));
        if let Some(pair) = event.changes.windows(2).find(|w| w[0].field == w[1].field) {
            return Err(DraftError::DuplicateChange(pair[0].field.clone()));
        }
        for change in &mut event.changes {
            change.old.iter_mut().chain(change.new.iter_mut()).for_each(|v| {
                canonical::normalize_value(v);
            });
        }
        event.details.values_mut().for_each(|v| {
            canonical::normalize_value(v);
        });
        event.tags.sort_by(|a, b| cmp_utf16(a, b));
        event.tags.dedup();
        let layout = EventLayout::write(&event);
        // The line the writer seals also holds `seq`, `prev` and `hash`.
        let sealed = layout.len() + SEALED_MEMBERS_MAX_BYTES;
        if sealed > max_bytes {
            return Err(DraftError::TooLarge { size: sealed, limit: max_bytes });
        }
        Ok(PreparedEvent { event, layout })
    }

    /// The event's unique id.
    pub fn id(&self) -> Uuid {
        self.event.id
    }

    /// Chains the event at `seq` after `prev`.
    pub fn seal(self, seq: u64, prev: EventHash) -> SealedEvent {
        let (hash, line) = self.layout.sealed(seq, &prev);
        let mut event = self.event;
        event.seq = seq;
        event.prev = prev;
        event.hash = hash;
        SealedEvent { event, line }
    }
}

/// An event with its place in the chain and its canonical line (SPEC §3, without `\n`).
#[derive(Clone, Debug, PartialEq)]
pub struct SealedEvent {
    /// The typed event.
    pub event: Event,
    /// Its canonical JSON: what stores keep and what the hash covers.
    pub line: String,
}

impl SealedEvent {
    /// Position in the chain.
    pub fn seq(&self) -> u64 {
        self.event.seq
    }
    /// The event's hash.
    pub fn hash(&self) -> EventHash {
        self.event.hash
    }
    /// Moves the event to another place in the chain (when another writer got there first).
    pub fn reseal(&mut self, seq: u64, prev: EventHash) {
        let (hash, line) = EventLayout::write(&self.event).sealed(seq, &prev);
        self.line = line;
        self.event.seq = seq;
        self.event.prev = prev;
        self.event.hash = hash;
    }

    /// Parses a canonical line (checking form, not the hash).
    pub fn from_line(line: String) -> Result<SealedEvent, FormatError> {
        let event = Event::from_canonical_line(&line)?;
        Ok(SealedEvent { event, line })
    }
}
