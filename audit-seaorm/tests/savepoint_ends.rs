//! The transaction ended (committed, rolled back, dropped) while a savepoint of it is open: the
//! driver ends savepoints by depth, so it ends the savepoint instead, and the transaction would
//! stay open under the savepoint, whose commit would then commit everything without events.
//! The open savepoint is refused instead, and rolls back. Savepoints dropped together (a
//! `Vec` drops the outer one first) undo, together, what both did: the transaction goes on.

mod orm_common;

use orm_common::{Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, EntityTrait, TransactionTrait};

/// `outer.commit()` with a savepoint open is refused (by design) and "rolled back": the
/// rollback the driver does is of the innermost savepoint only (it ends by depth); the open
/// savepoint's commit, at depth 1, would be the driver's `COMMIT` of the whole transaction
/// (`a@outer` and `c@savepoint` committed without events): it is refused.
async fn a_refused_outer_commit_leaves_the_savepoint_able_to_commit_everything(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let outer = h.db.begin().await.expect("begin");
    user("a@outer").insert(&outer).await.expect("insert a");
    let savepoint = outer.begin().await.expect("savepoint");
    user("b@savepoint").insert(&savepoint).await.expect("insert b");
    let refused = outer.commit().await.expect_err("commit with a savepoint open is refused");
    eprintln!("outer commit: {refused}");
    let c = user("c@savepoint").insert(&savepoint).await;
    eprintln!("insert c after the refusal: {:?}", c.as_ref().map(|m| &m.email));
    let released = savepoint.commit().await;
    eprintln!("savepoint commit after the refusal: {released:?}");
    let (rows, events) = h.committed_emails().await;
    assert_eq!(events, rows, "one event per committed row (rows committed: {rows:?})");
    h.finish().await;
}
on_all_backends!(a_refused_outer_commit_leaves_the_savepoint_able_to_commit_everything);

/// `outer.rollback()` with a savepoint open: the driver rolls back the savepoint only, the
/// transaction stays open under the savepoint, whose commit would commit `a@outer` too.
async fn an_outer_rollback_leaves_the_savepoint_able_to_commit_everything(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let outer = h.db.begin().await.expect("begin");
    user("a@outer").insert(&outer).await.expect("insert a");
    let savepoint = outer.begin().await.expect("savepoint");
    let rolled_back = outer.rollback().await;
    eprintln!("outer rollback: {rolled_back:?}");
    let c = user("c@savepoint").insert(&savepoint).await;
    eprintln!("insert c after the outer rollback: {:?}", c.as_ref().map(|m| &m.email));
    let released = savepoint.commit().await;
    eprintln!("savepoint commit after the outer rollback: {released:?}");
    let (rows, events) = h.committed_emails().await;
    assert_eq!(events, rows, "one event per committed row (rows committed: {rows:?})");
    h.finish().await;
}
on_all_backends!(an_outer_rollback_leaves_the_savepoint_able_to_commit_everything);

/// The same with the outer transaction dropped (an early return that keeps the savepoint).
async fn a_dropped_outer_leaves_the_savepoint_able_to_commit_everything(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let outer = h.db.begin().await.expect("begin");
    user("a@outer").insert(&outer).await.expect("insert a");
    let savepoint = outer.begin().await.expect("savepoint");
    drop(outer);
    let c = user("c@savepoint").insert(&savepoint).await;
    eprintln!("insert c after dropping outer: {:?}", c.as_ref().map(|m| &m.email));
    let released = savepoint.commit().await;
    eprintln!("savepoint commit after dropping outer: {released:?}");
    let (rows, events) = h.committed_emails().await;
    assert_eq!(events, rows, "one event per committed row (rows committed: {rows:?})");
    h.finish().await;
}
on_all_backends!(a_dropped_outer_leaves_the_savepoint_able_to_commit_everything);

/// Nested savepoints kept in a `Vec` (a savepoint stack) and dropped together: `Vec` drops
/// the outer one first. The driver rolls back both either way (each drop rolls back at its
/// current depth), the events of both are dropped: nothing is out of step, yet the
/// transaction is now refused for good.
async fn savepoints_dropped_together_make_the_transaction_refuse(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let outer = h.db.begin().await.expect("begin");
    user("a@outer").insert(&outer).await.expect("insert a");
    {
        let mut stack = vec![outer.begin().await.expect("savepoint 1")];
        let inner = stack[0].begin().await.expect("savepoint 2");
        stack.push(inner);
        user("b@inner").insert(&stack[1]).await.expect("insert b");
        // An error here: the stack goes out of scope, every savepoint rolled back.
    }
    user("c@outer").insert(&outer).await.expect("the transaction goes on after both savepoints rolled back");
    outer.commit().await.expect("commit");
    let (rows, events) = h.committed_emails().await;
    assert_eq!(rows, ["a@outer", "c@outer"]);
    assert_eq!(events, rows);
    h.finish().await;
}
on_all_backends!(savepoints_dropped_together_make_the_transaction_refuse);

/// Baseline for the test above: plain sea-orm, the same drop order, ends in the state the
/// correct order gives (both savepoints rolled back, the transaction usable and committed).
async fn baseline_plain_savepoints_dropped_together(testdb: TestDb) {
    use orm_common::entities::plain_users;
    use orm_common::plain_user;
    let h = Harness::new(testdb).await;
    let outer = h.conn.begin().await.expect("begin");
    plain_user("a@outer").insert(&outer).await.expect("insert a");
    {
        let mut stack = vec![outer.begin().await.expect("savepoint 1")];
        let inner = stack[0].begin().await.expect("savepoint 2");
        stack.push(inner);
        plain_user("b@inner").insert(&stack[1]).await.expect("insert b");
    }
    plain_user("c@outer").insert(&outer).await.expect("insert c");
    outer.commit().await.expect("commit");
    let mut rows: Vec<String> =
        plain_users::Entity::find().all(&h.conn).await.expect("rows").into_iter().map(|u| u.email).collect();
    rows.sort();
    assert_eq!(rows, ["a@outer", "c@outer"]);
    h.finish().await;
}
on_all_backends!(baseline_plain_savepoints_dropped_together);
