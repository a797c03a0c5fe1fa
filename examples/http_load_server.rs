//! The server side of `benches/http_load.sh`: one small JSON POST handler behind a chosen
//! middleware stack, so that the load test compares them side by side.
//!
//! ```text
//! cargo run --release --example http_load_server -- --mode audit-acknowledged --store jsonl
//! ```
//!
//! It prints `listening on ADDR` once ready and serves until killed.

use audit_core::Auditor;
use audit_core::store::{AuditStore, JsonlStore, MemoryStore};
use audit_tower::{AuditLayer, Delivery};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Parser)]
struct Args {
    /// The middleware stack in front of the handler.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Where audited events go.
    #[arg(long, value_enum, default_value = "memory")]
    store: Store,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// File for the JSONL store.
    #[arg(long, default_value = "http-load-audit.jsonl")]
    jsonl_path: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// No middleware.
    Bare,
    /// tower-http's TraceLayer (no subscriber installed).
    Trace,
    /// AuditLayer, with the route on its skip list: the cost on requests it does not audit.
    AuditSkipped,
    /// AuditLayer, buffered delivery: the response does not wait for the store.
    AuditBuffered,
    /// AuditLayer, acknowledged delivery: the response waits until the event is durable.
    AuditAcknowledged,
}

#[derive(Clone, Copy, ValueEnum)]
enum Store {
    /// In memory.
    Memory,
    /// A JSON Lines file, fsync per batch.
    Jsonl,
}

async fn create_item(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let name = body.get("name").cloned().unwrap_or(Value::Null);
    (StatusCode::CREATED, Json(json!({"id": 1, "name": name})))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let routes = Router::new().route("/items", post(create_item));
    let store: Arc<dyn AuditStore> = match args.store {
        Store::Memory => Arc::new(MemoryStore::new()),
        Store::Jsonl => {
            let _ = std::fs::remove_file(&args.jsonl_path);
            Arc::new(JsonlStore::open(&args.jsonl_path)?)
        }
    };
    let auditor = Auditor::builder(store).build();
    let audit = AuditLayer::new(auditor.clone());
    let app = match args.mode {
        Mode::Bare => routes,
        Mode::Trace => routes.layer(tower_http::trace::TraceLayer::new_for_http()),
        Mode::AuditSkipped => routes.layer(audit.with_skipped_routes(["/items"])),
        Mode::AuditBuffered => routes.layer(audit.with_delivery(Delivery::Buffered)),
        Mode::AuditAcknowledged => routes.layer(audit.with_delivery(Delivery::Acknowledged)),
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    auditor.shutdown().await;
    Ok(())
}
