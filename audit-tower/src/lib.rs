//! # audit-tower
//!
//! `AuditLayer`: records audited HTTP requests as `audit-core` events. (In progress.)
