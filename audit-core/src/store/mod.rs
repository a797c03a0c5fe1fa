//! Where sealed events are kept: the [`AuditStore`] trait and two stores, in memory and a
//! JSON Lines file. The SQL store lives in `audit-seaorm`.
//!
//! A store appends a batch only if it extends the chain's current head, so two writers can
//! never fork a chain: the loser gets [`AppendError::Conflict`] and re-chains its events on
//! top of the winner's.
//!
//! ```
//! use audit_core::store::{AuditStore, Head, MemoryStore, Query};
//! use audit_core::{Auditor, EventDraft};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = std::sync::Arc::new(MemoryStore::new());
//! let auditor = Auditor::builder(store.clone()).build();
//! auditor.record(EventDraft::new("login")).await.unwrap();
//! assert_eq!(store.head("default").await.unwrap().seq, 1);
//! let page = store.query(&Query::new().action("login")).await.unwrap();
//! assert_eq!(page.events.len(), 1);
//! # });
//! ```

mod jsonl;
mod memory;

pub use jsonl::{JsonlStore, TornTail};
pub use memory::MemoryStore;

use crate::event::{Event, Outcome, SealedEvent};
use crate::hash::EventHash;
use crate::line::FormatError;
use crate::merkle::Digest;
use crate::timestamp::Timestamp;
use futures_core::Stream;
use std::path::PathBuf;
use std::pin::Pin;

/// The last event of a chain: `seq` 0 and [`EventHash::ZERO`] for an empty chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Head {
    /// The last `seq` (0 when empty).
    pub seq: u64,
    /// The last `hash` (zeros when empty).
    pub hash: EventHash,
}

impl Head {
    /// The head of an empty chain.
    pub const EMPTY: Head = Head { seq: 0, hash: EventHash::ZERO };

    /// The head after `event`.
    pub fn of(event: &SealedEvent) -> Head {
        Head { seq: event.seq(), hash: event.hash() }
    }
}

/// Canonical lines of a chain, in `seq` order.
pub type LineStream<'a> = Pin<Box<dyn Stream<Item = Result<String, StoreError>> + Send + 'a>>;

/// Keeps chains of sealed events. Implementations must make [`AuditStore::append`]
/// atomic (the whole batch or nothing) and conditional on the head.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// The chain's current head ([`Head::EMPTY`] if it has no events).
    async fn head(&self, chain: &str) -> Result<Head, StoreError>;

    /// Appends `batch` (consecutive events of `chain`, the first at `expected.seq + 1` with
    /// `prev == expected.hash`) if and only if `expected` is still the head. Returns the new
    /// head.
    ///
    /// An append that answers [`AppendError::Rejected`] or [`AppendError::RefusedValue`]
    /// must have found `expected` still the head after every earlier append to the chain
    /// ended: the writer then takes it that none of its earlier attempts, whose answers were
    /// lost, can still commit. (The SQL store takes the chain's head row under lock before it
    /// inserts, so an earlier commit still in flight makes it wait, and then answer
    /// [`AppendError::Conflict`].)
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError>;

    /// The canonical lines of `chain` with `from <= seq <= to` (`to: None` = to the end).
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_>;

    /// Events matching `query`, in `(chain, seq)` order, one page at a time.
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError>;

    /// The hashes of these complete Merkle subtrees of `chain` (SPEC §4), if the store keeps
    /// them: `nodes[i] = (level, index)` is the perfect subtree of 2^level leaves that starts
    /// at leaf `index · 2^level` (leaf = `seq − 1`); level 0 is the leaf hash
    /// SHA-256(0x00 ‖ event hash). Returns one hash per node, in the order asked, or `None` if
    /// the store does not keep them (or lacks any of them).
    ///
    /// [`crate::proof`] asks only for subtrees that lie inside the chain's current size, and
    /// falls back to reading the chain's events (O(n)) on `None`. A store that keeps the
    /// [`crate::merkle::Subtree`]s that [`crate::merkle::CompactRange::push`] reports for each
    /// appended event (about two per event, written in the same transaction as the events)
    /// answers in O(log n). The default keeps none.
    async fn merkle_nodes(&self, chain: &str, nodes: &[(u32, u64)]) -> Result<Option<Vec<Digest>>, StoreError> {
        let _ = (chain, nodes);
        Ok(None)
    }
}

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, on which file.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the file's lock.
    #[error("{} is locked by another process: only one writer may append to a JSONL trail; stop the other process or write to another file", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The stored data is not a valid trail.
    #[error("{0}")]
    Corrupt(String),
    /// A line is not a SPEC event.
    #[error("stored event is malformed: {0}")]
    Format(#[from] FormatError),
    /// A stored line cannot be handed over as text: its bytes are not UTF-8, or it is longer
    /// than any event line ([`crate::verify::MAX_LINE_BYTES`]). The stream of
    /// [`AuditStore::read`] ends with it; a verifier ([`crate::verify::verify_store`]) reports
    /// the chain broken there (`bad format`), as it reports such a line in a file.
    #[error(
        "the stored line at seq {seq} cannot be read as an event line: {detail}; the trail was damaged or edited: \
         verify it (audit-trail verify) to find where it breaks"
    )]
    UnreadableLine {
        /// The line's seq (where the store numbers its lines; as the verifier counts them, the
        /// line after the last one it was handed).
        seq: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// The store holds another chain than the one asked for.
    #[error("this store holds chain {stored:?}, not {asked:?}: one JSONL file holds one chain")]
    WrongChain {
        /// The chain in the store.
        stored: String,
        /// The chain asked for.
        asked: String,
    },
    /// The batch does not follow from the expected head.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// A database or other backend failed.
    #[error("{context}: {source}")]
    Backend {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> StoreError {
        StoreError::Io { context: context.into(), source }
    }
}

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer moved the head first; nothing was written.
    #[error("chain head moved: expected seq {} but the store is at seq {}", expected.seq, actual.seq)]
    Conflict {
        /// The head the batch was chained on.
        expected: Head,
        /// The store's head now.
        actual: Head,
    },
    /// The store refused the batch for good: nothing was written, and appending it unchanged
    /// can never succeed. `events` names the events at fault (e.g. an id the chain already
    /// has); none of the batch's means all of them. The writer takes them out of the batch,
    /// answers their tickets with [`crate::RecordError::Rejected`], and appends the rest.
    #[error("the store refused the batch: {reason}")]
    Rejected {
        /// Ids of the events at fault.
        events: Vec<uuid::Uuid>,
        /// Why, for people.
        reason: String,
    },
    /// The store refused the batch for good because of a value in it, without saying in which
    /// event (a database's data error: a character, number or length a column cannot take):
    /// nothing was written. The writer appends the first half of the batch, and so on, until
    /// such a refusal is of one event alone; then it appends a note of its own in its place
    /// ([`crate::REFUSAL_ACTION`]) and the event alone again: refused again, it is refused
    /// for good ([`crate::RecordError::Rejected`]). If the note is refused too, the store
    /// refuses every event (a column altered under it): the events are held and appended
    /// again, as after [`AppendError::Store`].
    #[error("the store refused a value of the batch: {reason}")]
    RefusedValue {
        /// Why, for people (the database's message).
        reason: String,
    },
    /// The store failed; the batch may or may not have been written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks that `batch` extends `expected` link by link (stores call it before writing).
pub fn check_batch(chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, StoreError> {
    let mut head = expected;
    for event in batch {
        let e = &event.event;
        if e.chain != chain || e.seq != head.seq + 1 || e.prev != head.hash {
            return Err(StoreError::InvalidBatch(format!(
                "event {} (chain {:?}, seq {}) does not follow seq {} of chain {chain:?}",
                e.id, e.chain, e.seq, head.seq
            )));
        }
        head = Head::of(event);
    }
    Ok(head)
}

/// The filters of SPEC §6 `query`, plus keyset paging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Only this chain.
    pub chain: Option<String>,
    /// Only the event with this id.
    pub id: Option<uuid::Uuid>,
    /// Only this actor id.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this resource type.
    pub resource_type: Option<String>,
    /// Only this resource id.
    pub resource_id: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only events of the request with this id (`context.request_id`): an HTTP request's own
    /// event and the row changes it made share it.
    pub request_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// Only events after this position (from [`QueryPage::next`]).
    pub after: Option<Cursor>,
    /// Page size.
    pub limit: usize,
}

/// A position in `(chain, seq)` order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The chain.
    pub chain: String,
    /// The seq.
    pub seq: u64,
}

/// One page of query results.
#[derive(Clone, Debug, Default)]
pub struct QueryPage {
    /// The events, in `(chain, seq)` order.
    pub events: Vec<SealedEvent>,
    /// Where the next page starts, if there may be more.
    pub next: Option<Cursor>,
}

impl Default for Query {
    fn default() -> Self {
        Query::new()
    }
}

impl Query {
    /// Everything, 100 at a time.
    pub fn new() -> Query {
        Query {
            chain: None,
            id: None,
            actor: None,
            action: None,
            resource_type: None,
            resource_id: None,
            outcome: None,
            request_id: None,
            since: None,
            until: None,
            after: None,
            limit: 100,
        }
    }
    /// Only `chain`.
    pub fn chain(mut self, chain: impl Into<String>) -> Query {
        self.chain = Some(chain.into());
        self
    }
    /// Only the event with this id.
    pub fn id(mut self, id: uuid::Uuid) -> Query {
        self.id = Some(id);
        self
    }
    /// Only actor `id`.
    pub fn actor(mut self, id: impl Into<String>) -> Query {
        self.actor = Some(id.into());
        self
    }
    /// Only `action`.
    pub fn action(mut self, action: impl Into<String>) -> Query {
        self.action = Some(action.into());
        self
    }
    /// Only resources of `kind` (and `id`, if given).
    pub fn resource(mut self, kind: impl Into<String>, id: Option<String>) -> Query {
        self.resource_type = Some(kind.into());
        self.resource_id = id;
        self
    }
    /// Only `outcome`.
    pub fn outcome(mut self, outcome: Outcome) -> Query {
        self.outcome = Some(outcome);
        self
    }
    /// Only the events of request `id` (`context.request_id`).
    pub fn request_id(mut self, id: impl Into<String>) -> Query {
        self.request_id = Some(id.into());
        self
    }
    /// Only `since <= ts < until`.
    pub fn between(mut self, since: Option<Timestamp>, until: Option<Timestamp>) -> Query {
        self.since = since;
        self.until = until;
        self
    }
    /// Page size.
    pub fn limit(mut self, limit: usize) -> Query {
        self.limit = limit;
        self
    }
    /// Continue after `cursor`.
    pub fn after(mut self, cursor: Option<Cursor>) -> Query {
        self.after = cursor;
        self
    }

    /// True when `event` passes every filter (the cursor included).
    pub fn matches(&self, event: &Event) -> bool {
        let eq = |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|f| f == value);
        eq(&self.chain, &event.chain)
            && self.id.is_none_or(|id| id == event.id)
            && eq(&self.actor, &event.actor.id)
            && eq(&self.action, &event.action)
            && eq(&self.resource_type, &event.resource.kind)
            && eq(&self.resource_id, &event.resource.id)
            && self.outcome.is_none_or(|o| o == event.outcome)
            && self.request_id.as_ref().is_none_or(|r| event.context.request_id.as_ref() == Some(r))
            && self.since.is_none_or(|t| event.ts >= t)
            && self.until.is_none_or(|t| event.ts < t)
            && self.after.as_ref().is_none_or(|c| (event.chain.as_str(), event.seq) > (c.chain.as_str(), c.seq))
    }

    /// Builds a page from matching events in order, stopping at the limit.
    pub fn page(&self, matching: impl Iterator<Item = SealedEvent>) -> QueryPage {
        let limit = self.limit.max(1);
        let mut events: Vec<SealedEvent> = matching.take(limit.saturating_add(1)).collect();
        let more = events.len() > limit;
        events.truncate(limit);
        let next =
            if more { events.last().map(|e| Cursor { chain: e.event.chain.clone(), seq: e.seq() }) } else { None };
        QueryPage { events, next }
    }
}
