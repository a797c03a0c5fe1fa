//! A savepoint that cannot be begun (here: `begin_with_config` with an isolation level, which
//! MySQL and PostgreSQL refuse inside a transaction) may have taken the enclosing transaction
//! with it: sea-orm drops its half-begun transaction, whose drop rolls back a level of the
//! transaction (on MySQL all of it) and leaves the driver's count of savepoints off by one.
//! The audited transaction then takes no more statements and refuses to commit, so that no
//! write runs outside it and no event is sealed for a row that was rolled back.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Harness, TestDb, change, user};
use sea_orm::{ActiveModelTrait, EntityTrait, IsolationLevel, TransactionTrait};

async fn a_refused_savepoint_leaves_events_and_rows_in_step(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let outer = h.db.begin().await.expect("begin");
    user("a@x").insert(&outer).await.expect("insert a");
    user("b@x").insert(&outer).await.expect("insert b");
    match outer.begin_with_config(Some(IsolationLevel::Serializable), None).await {
        // SQLite takes it (as a plain savepoint): the transaction goes on.
        Ok(nested) => {
            user("c@x").insert(&nested).await.expect("insert c");
            nested.commit().await.expect("release");
            user("d@x").insert(&outer).await.expect("insert d");
            outer.commit().await.expect("commit");
        }
        Err(_) => {
            let refused = user("d@x").insert(&outer).await.expect_err("no statement after the refused savepoint");
            assert!(refused.to_string().contains("could not be begun"), "{refused}");
            let refused = outer.begin().await.expect_err("no savepoint either");
            assert!(refused.to_string().contains("could not be begun"), "{refused}");
            let refused = outer.commit().await.expect_err("and no commit");
            assert!(refused.to_string().contains("roll the whole transaction back"), "{refused}");
        }
    }
    let rows: Vec<String> =
        users::Entity::find().all(&h.conn).await.expect("rows").into_iter().map(|u| u.email).collect();
    let events: Vec<String> = h
        .events()
        .iter()
        .filter_map(|e| change(e, "email").and_then(|c| c.1))
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(events, rows, "exactly one event per committed row, none for rows rolled back");
    match h.testdb.backend {
        orm_common::Backend::Sqlite => assert_eq!(rows, ["a@x", "b@x", "c@x", "d@x"]),
        _ => assert!(rows.is_empty(), "{rows:?}"),
    }
    h.finish().await;
}
on_all_backends!(a_refused_savepoint_leaves_events_and_rows_in_step);
