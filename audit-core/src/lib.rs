//! # audit-core
//!
//! Tamper-evident audit trails: the event of SPEC §1, its canonical hash and the hash chain
//! (§2), verification that names the first broken event, redaction of secrets before
//! hashing, the [`store::AuditStore`] trait with in-memory and JSON Lines stores, and the
//! [`Auditor`] writer that batches events to a store without losing any.
//!
//! ```
//! use audit_core::store::JsonlStore;
//! use audit_core::verify::{ChainVerifier, verify_reader};
//! use audit_core::{Actor, Auditor, EventDraft, Outcome};
//! use serde_json::json;
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("audit.jsonl");
//! let auditor = Auditor::builder(Arc::new(JsonlStore::open(&path).unwrap())).build();
//!
//! // Who changed what, from where, and what was it before:
//! auditor
//!     .record(
//!         EventDraft::new("update")
//!             .actor(Actor::admin("alice"))
//!             .resource("users", "42")
//!             .change("role", Some(json!("user")), Some(json!("admin")))
//!             .justification("ticket CHG-1234"),
//!     )
//!     .await
//!     .unwrap();
//! auditor
//!     .record(EventDraft::new("login_failed").actor(Actor::user("bob")).outcome(Outcome::Denied))
//!     .await
//!     .unwrap();
//! auditor.shutdown().await;
//!
//! // The file is a SPEC §3 export: anyone can verify it.
//! let report = verify_reader(std::fs::File::open(&path).unwrap(), ChainVerifier::from_genesis()).unwrap();
//! assert!(report.is_valid());
//! assert_eq!(report.verified, 2);
//! # });
//! ```
//!
//! Signed checkpoints (SPEC §5) catch what the chain alone cannot: the writer publishes them
//! ([`AuditorBuilder::checkpoints`], [`publish`]), [`verify::ChainVerifier::against_checkpoint`]
//! checks a chain against one, and [`proof`] builds Merkle proofs (SPEC §4) over any store.
//!
//! The format is fixed by SPEC.md (the project's format contract); this crate owns it, and
//! the other crates call it.

pub mod canonical;
pub mod checkpoint;
mod durable;
pub mod event;
pub mod hash;
pub mod line;
pub mod merkle;
pub mod proof;
pub mod publish;
pub mod redact;
pub mod scope;
pub mod store;
pub mod text;
pub mod timestamp;
pub mod verify;
pub mod writer;

pub use event::{
    Actor, ActorKind, Change, Context, DraftError, Event, EventDraft, MAX_INDEXED_FIELD_BYTES, Outcome, PreparedEvent,
    Resource, SealedEvent,
};
pub use hash::EventHash;
pub use redact::RedactionPolicy;
pub use scope::AuditScope;
pub use timestamp::Timestamp;
pub use writer::{
    Auditor, AuditorBuilder, FinishOnDrop, MAX_BATCH, MAX_QUEUE_CAPACITY, MAX_RETRY_WAIT, MIN_RETRY_WAIT, NotQueued,
    REFUSAL_ACTION, REFUSAL_ACTOR, REFUSAL_RESOURCE, Receipt, RecordError, Reserved, RetryPolicy, Ticket,
    TryRecordError, TryWriteHereError, WriterStats, WritingHere,
};
