//! Three levels (transaction, savepoint, savepoint inside it), each writing before and after the
//! next is begun, ended in every order with every mix of commit / rollback / drop, then (if the
//! transaction is still open) a savepoint begun again; also with a failed statement sent through
//! level 0 or 2. Always one event per committed row, and correctly ordered use never refused.

mod orm_common;

use orm_common::{Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, TransactionTrait};

#[derive(Clone, Copy, Debug)]
enum End {
    Commit,
    Rollback,
    Drop,
}

async fn sweep(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let ends = [End::Commit, End::Rollback, End::Drop];
    let mut n = 0;
    let mut refused_in_order = Vec::new();
    for fail in [None, Some(0usize), Some(2usize)] {
        for order in orders {
            for a in ends {
                for b in ends {
                    for c in ends {
                        n += 1;
                        let how = [a, b, c];
                        let t0 = h.db.begin().await.expect("begin");
                        let _ = user(&format!("{n}a0@x")).insert(&t0).await;
                        let t1 = t0.begin().await.expect("sp1");
                        let _ = user(&format!("{n}a1@x")).insert(&t1).await;
                        let t2 = t1.begin().await.expect("sp2");
                        let _ = user(&format!("{n}a2@x")).insert(&t2).await;
                        let _ = user(&format!("{n}b0@x")).insert(&t0).await;
                        let _ = user(&format!("{n}b1@x")).insert(&t1).await;
                        let mut levels = [Some(t0), Some(t1), Some(t2)];
                        if let Some(f) = fail {
                            // A failed statement: PostgreSQL aborts the transaction.
                            let r = levels[f]
                                .as_ref()
                                .expect("open")
                                .execute_unprepared("SELECT * FROM no_such_table_rv3")
                                .await;
                            assert!(r.is_err());
                        }
                        for (step, &level) in order.iter().enumerate() {
                            let t = levels[level].take().expect("open");
                            let r = match how[step] {
                                End::Commit => t.commit().await,
                                End::Rollback => t.rollback().await,
                                End::Drop => {
                                    drop(t);
                                    Ok(())
                                }
                            };
                            if fail.is_none() && order == [2, 1, 0] && r.is_err() {
                                refused_in_order.push(format!("{n} {order:?} {how:?} step {step}: {r:?}"));
                            }
                            // Write through whatever is still open.
                            for (l, t) in levels.iter().enumerate() {
                                if let Some(t) = t {
                                    let _ = user(&format!("{n}s{step}l{l}@x")).insert(t).await;
                                }
                            }
                            // A savepoint begun again from the transaction, once it may be.
                            if step == 1
                                && let Some(t0) = &levels[0]
                                && let Ok(again) = t0.begin().await
                            {
                                let _ = user(&format!("{n}again@x")).insert(&again).await;
                                let _ = again.commit().await;
                            }
                        }
                        let (rows, events) = h.committed_emails().await;
                        assert_eq!(events, rows, "sequence {n}: fail {fail:?} order {order:?} ends {how:?}");
                    }
                }
            }
        }
    }
    assert!(!h.committed_emails().await.0.is_empty(), "something committed");
    assert!(refused_in_order.is_empty(), "correctly ordered use refused: {refused_in_order:#?}");
    h.finish().await;
}
on_all_backends!(sweep);
