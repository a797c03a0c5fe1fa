//! Latency of the auditors' questions, of proofs and of checkpoints over a large trail
//! (default 1M events), on PostgreSQL and SQLite.
//!
//! ```sh
//! cargo bench -p audit-seaorm --bench auditor_queries
//! AUDIT_BENCH_BACKENDS=postgres AUDIT_BENCH_EVENTS=10000000 cargo bench -p audit-seaorm --bench auditor_queries
//! ```
//!
//! The trail is filled once through `Auditor` + `SqlStore` (as an application would write it)
//! and kept for the next run: PostgreSQL schema `audit_bench_q_<N>` in the database of
//! `AUDIT_TEST_POSTGRES_URL`, SQLite file `target/audit_bench_q_<N>.db`
//! (`AUDIT_BENCH_REFILL=1` starts over). Its events span the last 180 days: ORM changes
//! of 5 kinds of records by 10,000 users and 20 admins, sensitive reads, logins (some failed),
//! exports of users' data. Each question is asked `AUDIT_BENCH_ROUNDS` times (default 50)
//! with other parameters each time (another actor, record, subject); the table gives p50, p95
//! and the largest latency.

use audit_core::proof::{consistency_proof, inclusion_proof, tree_head};
use audit_core::store::{AuditStore, Query};
use audit_core::{Actor, Auditor, Context, EventDraft, Outcome, Timestamp};
use audit_seaorm::{DataSubject, ReportFilter, SqlStore};
use fastrand::Rng;
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY_US: i64 = 86_400_000_000;
const USERS: u64 = 10_000;
const ADMINS: u64 = 20;
const RECORDS: u64 = 100_000;
const KINDS: [&str; 5] = ["users", "orders", "invoices", "patients", "documents"];

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Event `i` of `n`, at its time in the last 180 days.
fn draft(rng: &mut Rng, i: u64, n: u64, start_us: i64) -> EventDraft {
    let ts =
        Timestamp::from_unix_micros(start_us + (180 * DAY_US) / n as i64 * i as i64).unwrap_or_else(Timestamp::now);
    let admin = rng.u64(..100) < 2;
    let actor = if admin {
        Actor::admin(format!("admin-{}", rng.u64(..ADMINS)))
    } else {
        Actor::user(format!("user-{}", rng.u64(..USERS)))
    };
    let kind = KINDS[rng.u64(..KINDS.len() as u64) as usize];
    let record = rng.u64(..RECORDS).to_string();
    let context = Context {
        ip: Some(format!("203.0.113.{}", rng.u64(..250))),
        request_id: Some(format!("req-{i}")),
        method: Some("PUT".into()),
        route: Some(format!("/{kind}/{{id}}")),
        status: Some(200),
        ..Context::default()
    };
    let roll = rng.u64(..100);
    let draft = match roll {
        0..60 => EventDraft::new("update")
            .resource(kind, record)
            .change("status", Some(json!("pending")), Some(json!(format!("state-{}", rng.u64(..9)))))
            .change("amount", Some(json!(rng.u64(..10_000))), Some(json!(rng.u64(..10_000)))),
        60..75 => EventDraft::new("create").resource(kind, record).change("status", None, Some(json!("pending"))),
        75..80 => EventDraft::new("delete").resource(kind, record).change("status", Some(json!("closed")), None),
        80..90 => EventDraft::new("GET /patients/{id}").resource("patients", record),
        90..96 => {
            let failed = rng.u64(..10) < 3;
            EventDraft::new("login").resource("sessions", "").outcome(if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            })
        }
        96..99 => EventDraft::new("login").resource("sessions", "").outcome(Outcome::Denied).reason("bad password"),
        _ => EventDraft::new("export").resource("users", rng.u64(..USERS).to_string()),
    };
    let draft = draft.actor(actor).context(context).with_ts(ts);
    if admin { draft.tag("privileged") } else { draft }
}

/// The store for `backend`, filled with `n` events unless it already holds them.
async fn filled_store(backend: &str, n: u64) -> Option<SqlStore> {
    let refill = env("AUDIT_BENCH_REFILL", "0") == "1";
    let url = match backend {
        "postgres" => {
            let base = env("AUDIT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
            let schema = format!("audit_bench_q_{n}");
            let admin = match Database::connect(&base).await {
                Ok(admin) => admin,
                Err(e) => {
                    eprintln!("SKIPPED postgres: {base} is unreachable ({e})");
                    return None;
                }
            };
            if refill {
                admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.ok()?;
            }
            admin.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await.ok()?;
            format!("{base}?options=-c%20search_path%3D{schema}")
        }
        "sqlite" => {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/audit_bench_q_{n}.db"));
            if refill {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            format!("sqlite://{}?mode=rwc", path.display())
        }
        other => panic!("unknown backend {other:?} in AUDIT_BENCH_BACKENDS (postgres, sqlite)"),
    };
    let store = SqlStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let have = store.head("default").await.expect("head").seq;
    if have == n {
        eprintln!("{backend}: reusing the trail of {n} events");
        return Some(store);
    }
    assert_eq!(have, 0, "{backend}: the bench trail holds {have} events, not {n}: set AUDIT_BENCH_REFILL=1");
    let start = Instant::now();
    let auditor = Auditor::builder(Arc::new(store.clone())).max_batch(1000).queue_capacity(20_000).build();
    let mut rng = Rng::with_seed(42);
    let start_us = Timestamp::now().unix_micros() - 180 * DAY_US;
    for i in 0..n {
        auditor.record_buffered(draft(&mut rng, i, n, start_us)).await.expect("record");
    }
    auditor.shutdown().await;
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{backend}: filled {n} events in {secs:.1} s ({:.0} events/s)", n as f64 / secs);
    // What autovacuum does to a table after many inserts: statistics for the planner, and
    // the visibility map that lets index-only scans skip the rows.
    let vacuum = if backend == "postgres" { "VACUUM ANALYZE audit_events" } else { "ANALYZE" };
    store.connection().execute_unprepared(vacuum).await.expect("vacuum");
    Some(store)
}

/// Latencies of one question: p50, p95, the largest, and the mean number of answers.
type Latency = (Duration, Duration, Duration, f64);

/// Asks `question(round)` `rounds` times (it returns how many answers it got).
async fn measure<F, Fut>(rounds: u64, mut question: F) -> Latency
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = usize>,
{
    question(rounds).await; // warm up
    let mut times = Vec::with_capacity(rounds as usize);
    let mut answers = 0;
    for round in 0..rounds {
        let start = Instant::now();
        answers += question(round).await;
        times.push(start.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    (at(0.50), at(0.95), times[times.len() - 1], answers as f64 / rounds as f64)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks
    }
    let n: u64 = env("AUDIT_BENCH_EVENTS", "1000000").parse().expect("AUDIT_BENCH_EVENTS");
    let rounds: u64 = env("AUDIT_BENCH_ROUNDS", "50").parse().expect("AUDIT_BENCH_ROUNDS");
    println!("| backend | events | question | answers | p50 | p95 | max |\n|---|---:|---|---:|---:|---:|---:|");
    for backend in env("AUDIT_BENCH_BACKENDS", "postgres,sqlite").split(',') {
        let Some(store) = filled_store(backend, n).await else { continue };
        let store = &store;
        let now = Timestamp::now().unix_micros();
        let ago = |days: i64| Timestamp::from_unix_micros(now - days * DAY_US);
        let row = |question: &str, (p50, p95, max, answers): Latency| {
            println!("| {backend} | {n} | {question} | {answers:.1} | {} | {} | {} |", ms(p50), ms(p95), ms(max));
        };

        row(
            "all actions by user X in the last 30 days",
            measure(rounds, |r| async move {
                let query = Query::new().actor(format!("user-{}", r * 97 % USERS)).between(ago(30), None).limit(100);
                store.query(&query).await.expect("query").events.len()
            })
            .await,
        );
        row(
            "who touched record Y in the last 90 days",
            measure(rounds, |r| async move {
                let filter = ReportFilter::new().between(ago(90), None);
                let id = (r * 7919 % RECORDS).to_string();
                store.access_report("patients", &id, &filter).await.expect("access").events.len()
            })
            .await,
        );
        row(
            "failed logins of privileged accounts, last quarter",
            measure(rounds, |_| async move {
                let filter = ReportFilter::new()
                    .between(ago(90), None)
                    .action("login")
                    .outcomes([Outcome::Failure, Outcome::Denied]);
                store.privileged_actions(&filter).await.expect("privileged").events.len()
            })
            .await,
        );
        row(
            "privileged actions last quarter (first page of 100)",
            measure(rounds, |_| async move {
                let filter = ReportFilter::new().between(ago(90), None);
                store.privileged_actions(&filter).await.expect("privileged").events.len()
            })
            .await,
        );
        row(
            "actors with ≥ 5 failures in the last 30 days",
            measure(rounds, |_| async move {
                let filter = ReportFilter::new().between(ago(30), None);
                store.repeated_failures(5, &filter).await.expect("failures").len()
            })
            .await,
        );
        row(
            "last change of record Y, with the previous value",
            measure(rounds, |r| async move {
                let id = (r * 7919 % RECORDS).to_string();
                usize::from(store.last_change("orders", &id, None).await.expect("last change").is_some())
            })
            .await,
        );
        row(
            "all exports of subject Z's data",
            measure(rounds, |r| async move {
                let subject = DataSubject::new((r * 31 % USERS).to_string()).resource_types(["users"]);
                let filter = ReportFilter::new().action("export");
                store.subject_events(&subject, &filter).await.expect("subject").events.len()
            })
            .await,
        );
        row(
            "checkpoint: tree head of the whole chain",
            measure(
                rounds,
                |_| async move { usize::from(tree_head(store, "default").await.expect("tree head").size == n) },
            )
            .await,
        );
        row(
            "inclusion proof of a random event in the whole chain",
            measure(rounds, |r| async move {
                let seq = 1 + (r * 7_777_777 + 12_345) % n;
                let proof = inclusion_proof(store, "default", seq, n).await.expect("inclusion");
                usize::from(proof.verify().is_ok())
            })
            .await,
        );
        row(
            "consistency proof from a random earlier size",
            measure(rounds, |r| async move {
                let size1 = 1 + (r * 7_777_777 + 54_321) % n;
                let proof = consistency_proof(store, "default", size1, n).await.expect("consistency");
                usize::from(proof.verify().is_ok())
            })
            .await,
        );
    }
}
