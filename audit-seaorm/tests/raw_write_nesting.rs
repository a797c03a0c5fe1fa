//! Odd SQL text never brings the process down: statements nested in statements (`COPY (…)`)
//! are read to a bounded depth (the reader once recursed once per `COPY (` until the stack
//! overflowed, aborting the whole process); deeper, the statement is taken for code that may
//! write anything, and the server refuses it anyway.

mod orm_common;

use orm_common::{Backend, Harness, TestDb};
use sea_orm::ConnectionTrait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_copy_statement_overflows_the_stack() {
    let Some(db) = TestDb::open(Backend::Postgres, "rv_deep_copy").await else { return };
    let h = Harness::new(db).await;
    // 600 kB of text: well within what a server takes in one query.
    let sql = "COPY (".repeat(100_000);
    let result = h.db.execute_unprepared(&sql).await;
    assert!(result.is_err(), "the server refuses the text (syntax error)");
    h.finish().await;
}
