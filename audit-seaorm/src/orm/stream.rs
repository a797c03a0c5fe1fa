//! `StreamTrait` for [`AuditedDb`](super::AuditedDb) and
//! [`AuditedTransaction`](super::AuditedTransaction), so that code written for a plain
//! connection (`Entity::find().stream(&db)`) keeps working on the audited one (sea-orm's
//! `stream` feature, one of its defaults; this crate's `stream` feature, on by default).
//!
//! - A read streams from the connection as it would without the wrapper. Inside a
//!   transaction on PostgreSQL and MySQL, an error the stream yields is noted as a failed
//!   statement is (PostgreSQL then refuses the rest of the transaction, MySQL rolled it back
//!   on a deadlock, or on a lock wait timeout when the server runs with
//!   `innodb_rollback_on_timeout`, which is read before the stream begins): the commit records
//!   nothing the server rolled back. On SQLite, which may
//!   roll a transaction back on a failed statement without saying so (only a statement of its
//!   own tells, and the stream holds the connection), a read inside a transaction is read in
//!   full first, as `query_all` reads it.
//! - A write sent this way (`INSERT … RETURNING` streamed, a data-modifying `WITH`) is recorded
//!   as when sent with `query_all` or `execute` (or refused in strict mode): its rows are read
//!   in full before the stream yields them, since its event needs the statement's outcome.

use super::conn::{
    DbShared, Target, aborted_from, failure_level, mark_aborted, refuse_after_rollback, refuse_on_mysql,
};
use super::{marker, sql};
use futures_util::TryStreamExt;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, StreamTrait};
use std::pin::Pin;

/// The stream of rows of a statement on an audited connection.
pub(crate) type RowStream<'a> = Pin<Box<dyn futures_util::Stream<Item = Result<QueryResult, DbErr>> + Send + 'a>>;

fn from_memory<'a>(rows: Vec<QueryResult>) -> RowStream<'a> {
    Box::pin(futures_util::stream::iter(rows.into_iter().map(Ok)))
}

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
        let backend = ConnectionTrait::get_database_backend(inner);
        if marker::is_marker(&stmt.sql) || !sql::writes_on_kept(&stmt.sql, backend).is_empty() {
            if sql::returns_no_rows(&stmt.sql, backend) {
                self.intercept(target, inner, stmt, |s| inner.execute_raw(s)).await?;
                return Ok(from_memory(Vec::new()));
            }
            return Ok(from_memory(self.intercept(target, inner, stmt, |s| inner.query_all_raw(s)).await?));
        }
        // A statement that writes no row may still commit (MySQL's implicit COMMIT before DDL)
        // or change when the server commits: refused as `intercept` refuses it on the paths above.
        refuse_on_mysql(target, backend, &stmt.sql)?;
        match target {
            Target::Auto => Ok(Box::pin(inner.stream_raw(stmt).await?)),
            Target::Tx(..) if backend == DbBackend::Sqlite => {
                Ok(from_memory(self.intercept(target, inner, stmt, |s| inner.query_all_raw(s)).await?))
            }
            Target::Tx(state, level) => {
                refuse_after_rollback(target, backend)?;
                // Asked before the stream holds the connection.
                let rolls_back = backend == DbBackend::MySql && self.mysql_rolls_back_on_timeout(inner).await;
                let note = move |error: &DbErr| {
                    if let Some(from) = aborted_from(backend, failure_level(state, level), error, rolls_back) {
                        mark_aborted(state, from);
                    }
                };
                match inner.stream_raw(stmt).await {
                    Ok(stream) => Ok(Box::pin(stream.inspect_err(note))),
                    Err(error) => {
                        note(&error);
                        Err(error)
                    }
                }
            }
        }
    }
}
