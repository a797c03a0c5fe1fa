//! # audit-seaorm
//!
//! The SQL audit store (PostgreSQL, SQLite, MySQL/MariaDB) for `audit-core`, and SeaORM
//! hooks that record per-column old/new diffs after commit. (In progress.)
