//! `StreamTrait` for [`AuditedDb`](super::AuditedDb) and
//! [`AuditedTransaction`](super::AuditedTransaction), so that code written for a plain
//! connection (`Entity::find().stream(&db)`) keeps working on the audited one (sea-orm's
//! `stream` feature, one of its defaults; this crate's `stream` feature, on by default).
//!
//! A read streams from the connection as it would without the wrapper. A write sent this way
//! (`INSERT … RETURNING` streamed, a data-modifying `WITH`) is recorded as when it is sent with
//! `query_all` or `execute`: its rows are read in full before the stream yields them, since
//! its event needs the statement's outcome.

use super::conn::{DbShared, Target, refuse_after_rollback};
use super::{marker, sql};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, StreamTrait};
use std::pin::Pin;

/// The stream of rows of a statement on an audited connection.
pub(crate) type RowStream<'a> = Pin<Box<dyn futures_util::Stream<Item = Result<QueryResult, DbErr>> + Send + 'a>>;

impl DbShared {
    /// Streams the rows of `stmt` on `inner`, on behalf of `target` (see the module's doc).
    pub(super) async fn stream<'a, I>(
        &'a self,
        target: Target<'a>,
        inner: &'a I,
        stmt: Statement,
    ) -> Result<RowStream<'a>, DbErr>
    where
        I: ConnectionTrait + StreamTrait,
    {
        if marker::is_marker(&stmt.sql) || !sql::writes(&stmt.sql).is_empty() {
            let rows = if returns_rows(&stmt.sql) {
                self.intercept(target, inner, stmt, |s| inner.query_all_raw(s)).await?
            } else {
                // Without `RETURNING` a write returns no rows: run it for its row count.
                self.intercept(target, inner, stmt, |s| inner.execute_raw(s)).await?;
                Vec::new()
            };
            return Ok(Box::pin(futures_util::stream::iter(rows.into_iter().map(Ok))));
        }
        refuse_after_rollback(target, ConnectionTrait::get_database_backend(inner))?;
        Ok(Box::pin(inner.stream_raw(stmt).await?))
    }
}

/// Whether a write's text has a `RETURNING` (read loosely: a literal that spells it makes the
/// write run as a query, whose row count is then the rows it returned).
fn returns_rows(sql: &str) -> bool {
    sql.as_bytes().windows(9).any(|w| w.eq_ignore_ascii_case(b"RETURNING"))
}
