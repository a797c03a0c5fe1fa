//! Savepoints end innermost first, as the driver ends them (by depth, not by name): a second
//! savepoint begun from a transaction whose first one is still open would be ended in the
//! wrong order (rolling back the first would undo the second's writes and drop the first's
//! events), so it is refused until the first is committed or rolled back.

mod orm_common;

use orm_common::{Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, TransactionTrait};

async fn a_sibling_savepoint_is_refused_while_the_first_is_open(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let outer = h.db.begin().await.expect("begin");
    let first = outer.begin().await.expect("savepoint 1");
    user("a@first").insert(&first).await.expect("insert a");
    let refused = outer.begin().await.expect_err("a sibling while savepoint 1 is open");
    assert!(refused.to_string().contains("still open"), "{refused}");
    // Deeper, from the innermost, is fine; and the transaction goes on.
    let inner = first.begin().await.expect("savepoint 2, inside 1");
    user("b@inner").insert(&inner).await.expect("insert b");
    inner.rollback().await.expect("roll back savepoint 2");
    first.rollback().await.expect("roll back savepoint 1");
    // Once the first has ended, the next may begin.
    let second = outer.begin().await.expect("savepoint 1 again");
    user("c@second").insert(&second).await.expect("insert c");
    second.commit().await.expect("release");
    user("d@outer").insert(&outer).await.expect("insert d");
    outer.commit().await.expect("commit");

    let (rows, events) = h.committed_emails().await;
    assert_eq!(rows, ["c@second", "d@outer"]);
    assert_eq!(events, rows, "exactly one event per committed row");
    h.finish().await;
}
on_all_backends!(a_sibling_savepoint_is_refused_while_the_first_is_open);

async fn a_dropped_savepoint_lets_the_next_begin(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let outer = h.db.begin().await.expect("begin");
    {
        let first = outer.begin().await.expect("savepoint");
        user("a@dropped").insert(&first).await.expect("insert a");
    } // dropped: rolled back
    let second = outer.begin().await.expect("the next savepoint");
    user("b@kept").insert(&second).await.expect("insert b");
    second.commit().await.expect("release");
    outer.commit().await.expect("commit");
    let (rows, events) = h.committed_emails().await;
    assert_eq!(rows, ["b@kept"]);
    assert_eq!(events, rows);
    h.finish().await;
}
on_all_backends!(a_dropped_savepoint_lets_the_next_begin);

async fn a_failure_through_the_outer_level_is_undone_by_the_open_savepoints_rollback(testdb: TestDb) {
    // A statement sent through the outer transaction while a savepoint is open runs inside the
    // savepoint: on PostgreSQL its failure aborts the savepoint, and rolling the savepoint back
    // recovers the transaction, which then commits as usual.
    let h = Harness::new(testdb).await;
    let outer = h.db.begin().await.expect("begin");
    let a = user("a@outer").insert(&outer).await.expect("insert a");
    let savepoint = outer.begin().await.expect("savepoint");
    user("b@savepoint").insert(&savepoint).await.expect("insert b");
    let mut duplicate = user("dup@outer");
    duplicate.id = sea_orm::Set(a.id);
    duplicate.insert(&outer).await.expect_err("a duplicate key fails");
    savepoint.rollback().await.expect("roll the savepoint back");
    user("c@outer").insert(&outer).await.expect("insert c");
    outer.commit().await.expect("the transaction recovered with the savepoint's rollback");
    let (rows, events) = h.committed_emails().await;
    assert_eq!(rows, ["a@outer", "c@outer"]);
    assert_eq!(events, rows);
    h.finish().await;
}
on_all_backends!(a_failure_through_the_outer_level_is_undone_by_the_open_savepoints_rollback);

async fn a_savepoint_ended_before_one_inside_it_refuses_until_the_inner_one_ends(testdb: TestDb) {
    // The driver ends savepoints innermost first: rolling back `first` while `inner` is open
    // ends `inner`'s savepoint instead (and committing it is refused and rolls back the same
    // way). Until `inner` has rolled back too (which ends `first`'s savepoint), statements and
    // commits are refused; then the transaction goes on.
    let h = Harness::new(testdb).await;
    for commit_first in [false, true] {
        let outer = h.db.begin().await.expect("begin");
        let first = outer.begin().await.expect("savepoint 1");
        user(&format!("a{commit_first}@first")).insert(&first).await.expect("insert a");
        let inner = first.begin().await.expect("savepoint 2");
        user(&format!("b{commit_first}@inner")).insert(&inner).await.expect("insert b");
        if commit_first {
            let refused = first.commit().await.expect_err("savepoint 1 committed before savepoint 2 ended");
            assert!(refused.to_string().contains("innermost first"), "{refused}");
        } else {
            first.rollback().await.expect("the driver takes the rollback (of the wrong savepoint)");
        }
        let refused = user(&format!("c{commit_first}@outer")).insert(&outer).await.expect_err("refused");
        assert!(refused.to_string().contains("innermost first"), "{refused}");
        inner.rollback().await.expect("the savepoint inside rolls back");
        // Both savepoints' writes are undone (by the two rollbacks together) and their events
        // dropped: the transaction goes on.
        outer.commit().await.expect("commit");
    }
    let (rows, events) = h.committed_emails().await;
    assert!(rows.is_empty(), "{rows:?}");
    assert!(events.is_empty(), "{events:?}");
    h.finish().await;
}
on_all_backends!(a_savepoint_ended_before_one_inside_it_refuses_until_the_inner_one_ends);
