//! Many concurrent requests: every event exactly once, and the chain valid.

mod common;

use audit_core::Actor;
use audit_tower::{AuditHandle, AuditLayer, Delivery};
use axum::Router;
use axum::extract::Path;
use axum::routing::post;
use std::collections::{BTreeSet, HashMap};
use tokio::task::JoinSet;

const REQUESTS: usize = 200;

async fn run(delivery: Delivery) {
    let (auditor, store) = common::auditor();
    let app = Router::new()
        .route(
            "/items/{id}",
            post(|Path(id): Path<String>, audit: AuditHandle| async move {
                audit.set_actor(Actor::user(format!("user-{id}")));
                // Let other requests run between naming the actor and answering.
                tokio::task::yield_now().await;
            })
            .get(|| async {}),
        )
        .layer(AuditLayer::new(auditor.clone()).with_delivery(delivery));
    let addr = common::serve(app).await;
    let client = common::client();
    let mut tasks = JoinSet::new();
    for i in 0..REQUESTS {
        let client = client.clone();
        tasks.spawn(async move {
            // Unaudited reads interleaved with the audited writes.
            common::send(&client, addr, "GET", &format!("/items/{i}"), &[]).await;
            let reply = common::send(&client, addr, "POST", &format!("/items/{i}"), &[]).await;
            (i.to_string(), reply.request_id().to_owned())
        });
    }
    let mut sent = HashMap::new();
    while let Some(result) = tasks.join_next().await {
        let (id, request_id) = result.expect("request task");
        sent.insert(request_id, id);
    }
    assert_eq!(sent.len(), REQUESTS, "request ids are unique");
    auditor.shutdown().await;

    let events = common::events(&store);
    assert_eq!(events.len(), REQUESTS, "one event per audited request, no more");
    let ids: BTreeSet<&str> = events.iter().map(|e| e.resource.id.as_str()).collect();
    assert_eq!(ids.len(), REQUESTS, "no request recorded twice");
    for event in &events {
        let request_id = event.context.request_id.as_deref().expect("request id");
        assert_eq!(sent.get(request_id).map(String::as_str), Some(event.resource.id.as_str()));
        assert_eq!(event.action, "POST /items/{id}");
        // No actor leaked from one concurrent request to another.
        assert_eq!(event.actor.id, format!("user-{}", event.resource.id));
    }
    assert_eq!(common::verify_chain(&store), REQUESTS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_each_recorded_once_acknowledged() {
    run(Delivery::Acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_each_recorded_once_buffered() {
    run(Delivery::Buffered).await;
}
