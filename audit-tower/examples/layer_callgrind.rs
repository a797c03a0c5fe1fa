//! A fixed workload for instruction counts: N requests through an axum router, with
//! `AuditLayer` (buffered, to a store that keeps only the chain's head), with the layer on a
//! route it skips (`skipped`: what it costs on requests it does not audit), or without it
//! (`bare`), on one thread. Under callgrind the difference from `bare`, divided by N, is what
//! the layer (and the writer) cost per request in instructions, free of timing noise:
//!
//! ```sh
//! cargo build --release -p audit-tower --example layer_callgrind
//! valgrind --tool=callgrind target/release/examples/layer_callgrind 4000 audited
//! valgrind --tool=callgrind target/release/examples/layer_callgrind 4000 skipped
//! valgrind --tool=callgrind target/release/examples/layer_callgrind 4000 bare
//! ```
//!
//! (valgrind's CPU has no SHA extensions, so SHA-256 counts for more there than on hardware
//! that has them.)

#[path = "../benches/support/head_only_store.rs"]
mod head_only_store;

use audit_core::Auditor;
use audit_tower::{AuditLayer, Delivery};
use axum::Router;
use axum::body::Body;
use axum::routing::post;
use head_only_store::HeadOnlyStore;
use http::{Method, Request};
use std::sync::Arc;
use tower::ServiceExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().map_or(Ok(10_000), |n| n.parse())?;
    let mode = args.next().unwrap_or_else(|| "audited".to_string());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let routes = Router::new().route("/items", post(|| async { "ok" }));
    let auditor = runtime.block_on(async { Auditor::builder(Arc::new(HeadOnlyStore::default())).build() });
    let layer = AuditLayer::new(auditor.clone()).with_delivery(Delivery::Buffered);
    let app = match mode.as_str() {
        "audited" => routes.layer(layer),
        "skipped" => routes.layer(layer.with_skipped_routes(["/items"])),
        // A layer that does nothing but wrap: what any layer costs through `Router::layer`.
        "noop" => routes.layer(tower::util::MapRequestLayer::new(|request: Request<Body>| request)),
        "bare" => routes,
        other => return Err(format!("unknown mode {other:?}: audited, skipped, noop or bare").into()),
    };
    runtime.block_on(async {
        for _ in 0..requests {
            let request = Request::builder()
                .method(Method::POST)
                .uri("/items")
                .header("user-agent", "bench")
                .body(Body::empty())?;
            app.clone().oneshot(request).await?;
            // Let the writer seal what was queued, as it would on another thread.
            tokio::task::yield_now().await;
        }
        auditor.shutdown().await;
        Ok(())
    })
}
