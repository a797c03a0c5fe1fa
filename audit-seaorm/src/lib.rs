//! # audit-seaorm
//!
//! The SQL audit store for `audit-core`: [`SqlStore`] keeps tamper-evident audit trails in
//! PostgreSQL (the production store), SQLite (embedded, the default for small deployments) or
//! MySQL/MariaDB, through a SeaORM connection. It appends without ever forking a chain (even
//! from several processes), refuses changes and deletions in the database itself, answers the
//! auditors' queries and compliance reports from indexed columns, and verifies a stored chain
//! (hashes, links, and every indexed column against its event).
//!
//! ```
//! use audit_core::store::{AuditStore, Query};
//! use audit_core::{Actor, Auditor, EventDraft, Outcome};
//! use audit_seaorm::{ReportFilter, SqlStore};
//! use serde_json::json;
//! use std::sync::Arc;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let url = format!("sqlite://{}", dir.path().join("audit.db").display());
//! let store = Arc::new(SqlStore::connect(&url).await.unwrap());
//! store.migrate().await.unwrap(); // creates what is missing; run it at every start
//!
//! let auditor = Auditor::builder(store.clone()).build();
//! auditor
//!     .record(
//!         EventDraft::new("update")
//!             .actor(Actor::admin("alice"))
//!             .resource("users", "42")
//!             .change("role", Some(json!("user")), Some(json!("admin"))),
//!     )
//!     .await
//!     .unwrap();
//! auditor
//!     .record(EventDraft::new("login").actor(Actor::user("bob")).outcome(Outcome::Denied))
//!     .await
//!     .unwrap();
//! auditor.shutdown().await;
//!
//! // Who touched users/42, and what was the role before?
//! let page = store.query(&Query::new().resource("users", Some("42".into()))).await.unwrap();
//! assert_eq!(page.events[0].event.actor.id, "alice");
//! let last = store.last_change("users", "42", None).await.unwrap().unwrap();
//! assert_eq!(last.fields[0].old, Some(json!("user")));
//!
//! // Privileged actions (SOC 2), and the whole trail verified as stored:
//! let privileged = store.privileged_actions(&ReportFilter::new()).await.unwrap();
//! assert_eq!(privileged.events.len(), 1);
//! let report = store.verify_chain("default").await.unwrap();
//! assert!(report.is_valid(), "{report}");
//! assert_eq!(report.to_string(), "valid: 2 events");
//! # });
//! ```
//!
//! The schema, the triggers, PostgreSQL's least-privilege role and monthly partitions are
//! described in [`store`].
//!
//! [`SqlCheckpointSink`] publishes the writer's signed checkpoints into a second database, where
//! whoever can rewrite the trail cannot rewrite them too.
//!
//! SeaORM hooks that record per-column old/new diffs of your own entities, buffered per
//! transaction and written only after a successful commit (with an outbox so a crash right
//! after a transaction's `COMMIT` loses nothing; writes outside a transaction are recorded
//! right after their statement, without that guarantee): see [`orm`].
//!
//! ## Cargo features
//! - `stream` (on by default): sea-orm's `StreamTrait` for [`AuditedDb`] and
//!   [`AuditedTransaction`], so `Entity::find().stream(&db)` works on the audited connection.
//!
//! The others are off by default. Each makes [`value_to_json`] (the per-column diffs) write the
//! values of a sea-orm feature as plain JSON instead of Rust debug text; enable those named
//! like the sea-orm features your application enables:
//! - `with-time`: `time` crate dates and times, as the same text as the chrono ones
//!   (`"2026-11-23T10:15:30.123456"`, `"2026-11-23T10:15:30Z"`). sea-orm enables its
//!   `with-time` by default.
//! - `with-bigdecimal`: `BigDecimal`, as a plain decimal string with its scale (`"12.50"`,
//!   `"0.00000010"`).
//! - `with-ipnetwork`, `with-mac_address`, `postgres-vector`: PostgreSQL `inet`/`cidr`
//!   (`"10.0.0.0/8"`), `macaddr` (`"08:00:2b:01:02:03"`) and pgvector's `vector` (an array of
//!   numbers).
//!
//! PostgreSQL arrays need none (a JSON array of the converted elements). Every conversion is
//! listed in the table at the top of `src/orm/value.rs`.

pub mod orm;
pub mod store;

pub use orm::{AuditedDb, AuditedDbBuilder, AuditedModel, AuditedTransaction, BulkPolicy, Delivery, value_to_json};

pub use store::{
    ColumnMismatch, DataSubject, FailureSummary, LastChange, ReportFilter, SqlCheckpointSink, SqlStore, SqlStoreError,
    StoreVerifyReport, postgres_least_privilege_sql, redact_url,
};
