//! The server side of `benches/http_load.sh`: one small JSON POST handler behind a chosen
//! middleware stack, so that the load test compares them side by side.
//!
//! ```text
//! cargo run --release --example http_load_server -- --mode audit-acknowledged --store jsonl
//! ```
//!
//! It prints `listening on ADDR` once ready and serves until killed.

#[path = "../audit-tower/benches/support/head_only_store.rs"]
mod head_only_store;

use audit_core::Auditor;
use audit_core::store::{AuditStore, JsonlStore, MemoryStore};
use audit_seaorm::SqlStore;
use audit_tower::{AuditLayer, Delivery};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use clap::{Parser, ValueEnum};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
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
    /// File for the JSONL store, or the SQLite database file.
    #[arg(long, default_value = "http-load-audit.jsonl")]
    jsonl_path: String,
    /// The PostgreSQL server for `--store postgres` (the trail goes to a fresh schema
    /// `http_load`, dropped first).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
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
    /// Keeps only the chain's head: the layer's and the writer's cost without a store's.
    HeadOnly,
    /// In memory (grows by about 1 KB per event).
    Memory,
    /// A JSON Lines file, fsync per batch.
    Jsonl,
    /// The SQL store on an SQLite file (WAL).
    Sqlite,
    /// The SQL store on PostgreSQL.
    Postgres,
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
        Store::HeadOnly => Arc::new(head_only_store::HeadOnlyStore::default()),
        Store::Memory => Arc::new(MemoryStore::new()),
        Store::Jsonl => {
            let _ = std::fs::remove_file(&args.jsonl_path);
            Arc::new(JsonlStore::open(&args.jsonl_path)?)
        }
        Store::Sqlite => {
            let _ = std::fs::remove_file(&args.jsonl_path);
            let store = SqlStore::connect(&format!("sqlite://{}?mode=rwc", args.jsonl_path)).await?;
            store.migrate().await?;
            Arc::new(store)
        }
        Store::Postgres => {
            let admin = Database::connect(&args.postgres_url).await?;
            admin.execute_unprepared("DROP SCHEMA IF EXISTS http_load CASCADE; CREATE SCHEMA http_load").await?;
            let mut options = ConnectOptions::new(&args.postgres_url);
            options.set_schema_search_path("http_load").sqlx_logging(false);
            let store = SqlStore::new(Database::connect(options).await?)?;
            store.migrate().await?;
            Arc::new(store)
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
    let stats = auditor.stats();
    eprintln!(
        "audit writer: {} events in {} batches ({:.1} per batch), {} retries, {} conflicts",
        stats.written,
        stats.batches,
        stats.written as f64 / stats.batches.max(1) as f64,
        stats.retries,
        stats.conflicts
    );
    Ok(())
}
