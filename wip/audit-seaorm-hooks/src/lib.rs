//! # audit-seaorm (ORM hooks half)
//!
//! SeaORM hooks that record per-column old/new diffs of audited entities after commit:
//! see [`orm`].

pub mod orm;

pub use orm::{AuditedDb, AuditedDbBuilder, AuditedModel, AuditedTransaction, BulkPolicy, Delivery, value_to_json};
