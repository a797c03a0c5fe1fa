//! CPU cost of `AuditLayer` per request, beside the same axum router without it and with a
//! layer that does nothing (axum wraps each route's service again for any layer): a request it
//! does not audit (a skipped route, a GET), and an audited one with buffered delivery. The
//! runtime has one thread, so the writer's work (sealing, hashing, the store) is counted too:
//! once with a store that keeps only the chain's head (the layer and the writer alone), once
//! with `MemoryStore` (which grows by about 1 KB per event for the whole run).
//!
//! `cargo bench -p audit-tower --bench layer`

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

#[path = "support/head_only_store.rs"]
mod head_only_store;

use audit_core::Auditor;
use audit_core::store::{AuditStore, MemoryStore};
use audit_tower::{AuditLayer, Delivery};
use axum::Router;
use axum::body::Body;
use axum::routing::post;
use criterion::{Criterion, criterion_group, criterion_main};
use head_only_store::HeadOnlyStore;
use http::{Method, Request};
use std::sync::Arc;
use tower::ServiceExt;

fn request(method: Method, path: &str) -> Request<Body> {
    Request::builder().method(method).uri(path).header("user-agent", "bench").body(Body::empty()).unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let routes = Router::new()
        .route("/health", post(|| async { "ok" }))
        .route("/items", post(|| async { "ok" }).get(|| async { "ok" }));
    let layer = |store: Arc<dyn AuditStore>| {
        let auditor = runtime.block_on(async { Auditor::builder(store).build() });
        AuditLayer::new(auditor).with_delivery(Delivery::Buffered).with_skipped_routes(["/health"])
    };
    let audited = routes.clone().layer(layer(Arc::new(HeadOnlyStore::default())));
    let audited_memory = routes.clone().layer(layer(Arc::new(MemoryStore::new())));
    // What any layer costs in axum (each route's service is wrapped and boxed again).
    let identity = routes.clone().layer(tower::layer::util::Identity::new());

    let mut group = c.benchmark_group("audit_layer_per_request");
    for (name, router, method, path) in [
        ("no layer, POST", &routes, Method::POST, "/items"),
        ("identity layer, POST", &identity, Method::POST, "/items"),
        ("skipped route, POST", &audited, Method::POST, "/health"),
        ("GET, not sensitive", &audited, Method::GET, "/items"),
        ("no layer, GET", &routes, Method::GET, "/items"),
        ("audited POST, buffered, head-only store", &audited, Method::POST, "/items"),
        ("audited POST, buffered, MemoryStore", &audited_memory, Method::POST, "/items"),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| router.clone().oneshot(request(method.clone(), path)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
