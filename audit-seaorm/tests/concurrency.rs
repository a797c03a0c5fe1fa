//! 32 concurrent transactions, each inserting and updating its own row: every event is
//! recorded exactly once, and the chain verifies.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Harness, TestDb};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set, TransactionTrait};
use std::collections::HashMap;

async fn concurrent_transactions_record_each_event_once(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let mut tasks = Vec::new();
    for n in 0..32 {
        let db = h.db.clone();
        tasks.push(tokio::spawn(async move {
            let txn = db.begin().await.expect("begin");
            let row = users::ActiveModel {
                email: Set(format!("user{n}@example.com")),
                name: Set(format!("user {n}")),
                score: Set(n),
                ssn: Set(None),
                updated_at: Set(0),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .expect("insert");
            let mut am = row.into_active_model();
            am.score = Set(n + 1000);
            let row = am.update(&txn).await.expect("update");
            txn.commit().await.expect("commit");
            row.id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task"));
    }
    let events = h.events(); // verifies the chain
    assert_eq!(events.len(), 64);
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for event in &events {
        *seen.entry((event.resource.id.clone(), event.action.clone())).or_default() += 1;
    }
    for id in ids {
        for action in ["create", "update"] {
            assert_eq!(seen.get(&(id.to_string(), action.to_string())), Some(&1), "{action} of row {id}");
        }
    }
    let unique_ids: std::collections::HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(unique_ids.len(), 64, "no event id twice");
    // Within each row, the create comes before the update.
    let mut first: HashMap<String, &str> = HashMap::new();
    for event in &events {
        first.entry(event.resource.id.clone()).or_insert(event.action.as_str());
    }
    assert!(first.values().all(|a| *a == "create"));
    h.finish().await;
}
on_all_backends!(concurrent_transactions_record_each_event_once);
