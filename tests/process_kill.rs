//! The quickstart binary killed with `SIGKILL` in the middle of its writes, then started again,
//! on each backend: the outbox's promise under a real process death, not a simulated one.
//!
//! Writers change users' names through `PUT /users/{id}` (each name used once) while the
//! process is killed at a random moment, several times over; each start seals what the outbox
//! kept (`AuditedDb::recover_outbox`), and every other start or so is killed too, within
//! 400 ms, while it creates its tables, seals or seeds; the kills go on until one has left in the outbox an
//! event the trail lacked (committed, not yet sealed), which most do. At the end, from the
//! database alone:
//! - the audit tables refuse `UPDATE` and `DELETE` (and `TRUNCATE`), and the chain verifies;
//! - no event is stored twice;
//! - each user's `update` events, linked old name → new name, form one path from the name it
//!   was created with to the name the table holds now, using every event once: a committed
//!   change without its event would break the path (or end it short of the current name), and
//!   an event sealed twice would fork it;
//! - every request answered `200` has exactly one HTTP event and one row diff, with its
//!   request id (acknowledged delivery: no client saw success for an unaudited change).
//!
//! The binary is `target/<profile>/examples/quickstart`, which `cargo test` builds.

// The store's tests' namespaces on the real servers (it allows its own unused parts).
#[path = "../audit-seaorm/tests/common/db.rs"]
mod db;

use audit_core::store::AuditStore;
use audit_core::{Event, Outcome};
use audit_seaorm::SqlStore;
use axum::body::Bytes;
use db::{Backend, TestDb};
use futures_util::StreamExt;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Concurrent writers, each changing its own user.
const WRITERS: usize = 6;
/// Kills per backend, at least; more until one has left the outbox an event the trail lacks
/// (most do), at most [`MAX_KILLS`].
const KILLS: usize = 4;
const MAX_KILLS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_quickstart_killed_mid_write_loses_and_repeats_no_event() {
    killed_and_restarted(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_quickstart_killed_mid_write_loses_and_repeats_no_event() {
    killed_and_restarted(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_quickstart_killed_mid_write_loses_and_repeats_no_event() {
    killed_and_restarted(Backend::MySql).await;
}

/// The quickstart example's binary, beside this test's in the target directory.
fn quickstart_binary() -> PathBuf {
    // target/<profile>/deps/process_kill-… → target/<profile>/examples/quickstart
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe.parent().and_then(Path::parent).expect("the test binary is in target/<profile>/deps");
    let binary = profile.join("examples").join(format!("quickstart{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --workspace` builds it; after `cargo test --test process_kill` alone, run \
         `cargo build --example quickstart` first",
        binary.display()
    );
    binary
}

/// A running quickstart process.
struct App {
    child: Child,
    addr: SocketAddr,
    _stdout: BufReader<ChildStdout>,
}

impl Drop for App {
    /// A test that fails half-way leaves no server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts the quickstart on `url` and waits for it to serve (after its outbox recovery); its
/// stderr goes to `log`.
fn start(url: &str, log: &Path) -> App {
    let mut child = spawn(url, log);
    let mut stdout = BufReader::new(child.stdout.take().expect("its stdout"));
    let mut first = String::new();
    let _ = stdout.read_line(&mut first);
    // "quickstart: serving http://127.0.0.1:PORT, audit trail in …"
    let addr = first.split("serving http://").nth(1).and_then(|rest| rest.split(',').next()?.parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the quickstart did not start: {first:?}\n{}", std::fs::read_to_string(log).unwrap_or_default());
    };
    App { child, addr, _stdout: stdout }
}

/// The quickstart on `url`, its stderr appended to `log`.
fn spawn(url: &str, log: &Path) -> Child {
    let log_file = std::fs::File::options().create(true).append(true).open(log).expect("the log file");
    Command::new(quickstart_binary())
        .args(["--db", url, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("start the quickstart")
}

/// Starts the quickstart and kills it `after` that, while it creates its tables (the first
/// time), seals what the last kill left in the outbox, or seeds (or, if it was quick, serves).
async fn kill_while_starting(url: &str, log: &Path, after: Duration) {
    let mut child = spawn(url, log);
    tokio::time::sleep(after).await;
    child.kill().expect("SIGKILL the quickstart");
    child.wait().expect("reap it");
}

/// What a writer's request got.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    request_id: Option<String>,
    user: String,
    name: String,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn send(
    client: &HttpClient,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: String,
) -> Result<(StatusCode, Option<String>), String> {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("authorization", "Bearer admin")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    response.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok((status, request_id))
}

/// One writer: renames `user` again and again until the server goes away.
async fn rename_until_killed(addr: SocketAddr, user: String, round: usize, answers: Arc<Mutex<Vec<Answer>>>) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    for k in 0.. {
        let name = format!("{user}-r{round}-{k}");
        let body = serde_json::json!({ "name": name }).to_string();
        match send(&client, addr, Method::PUT, &format!("/users/{user}"), body).await {
            Ok((status, request_id)) => {
                answers.lock().expect("answers").push(Answer { status, request_id, user: user.clone(), name })
            }
            Err(_) => return, // killed (or refused: the port is closed)
        }
    }
}

async fn trail(store: &SqlStore) -> Vec<Event> {
    let mut events = Vec::new();
    let mut lines = store.read("default", 1, None);
    while let Some(line) = lines.next().await {
        let line = line.expect("read the trail");
        events.push(serde_json::from_str(&line).expect("an event"));
    }
    events
}

async fn column_values(conn: &DatabaseConnection, sql: &str) -> Vec<(String, String)> {
    let rows = conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql)).await.expect(sql);
    rows.iter()
        .map(|row| {
            let a: String = row.try_get_by_index(0).expect("first column");
            let b: String = row.try_get_by_index(1).unwrap_or_default();
            (a, b)
        })
        .collect()
}

async fn killed_and_restarted(backend: Backend) {
    let Some(testdb) = TestDb::open(backend, "process_kill").await else { return };
    let cleanup = testdb.cleanup_handle();
    let body = tokio::spawn(kill_and_check(testdb));
    let result = body.await;
    cleanup.run().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn kill_and_check(testdb: TestDb) {
    let url = match testdb.backend {
        Backend::Sqlite => format!("{}?mode=rwc", testdb.url()),
        _ => testdb.url(),
    };
    let dir = tempfile::tempdir().expect("a directory for the log");
    let log = dir.path().join("quickstart.log");
    let users: Vec<String> = (0..WRITERS).map(|i| format!("w{i}")).collect();
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let answers = Arc::new(Mutex::new(Vec::new()));
    let (mut left_in_outbox, mut unsealed_in_outbox) = (0, 0);

    let mut round = 0;
    while round < KILLS || (unsealed_in_outbox == 0 && round < MAX_KILLS) {
        if rng.bool() {
            kill_while_starting(&url, &log, Duration::from_millis(rng.u64(0..400))).await;
        }
        let mut app = start(&url, &log);
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        if round == 0 {
            for user in &users {
                let body = serde_json::json!({"id": user, "name": user.to_uppercase(), "email": format!("{user}@example.com"), "role": "user"});
                let (status, _) =
                    send(&client, app.addr, Method::POST, "/users", body.to_string()).await.expect("create a user");
                assert_eq!(status, StatusCode::CREATED, "create {user}");
            }
        }
        let writers: Vec<_> = users
            .iter()
            .map(|user| tokio::spawn(rename_until_killed(app.addr, user.clone(), round, answers.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.u64(150..1200))).await;
        app.child.kill().expect("SIGKILL the quickstart");
        app.child.wait().expect("reap it");
        for writer in writers {
            tokio::time::timeout(Duration::from_secs(60), writer)
                .await
                .expect("a writer stops once the server is gone")
                .expect("writer task");
        }
        // What the kill left in the outbox, and how much of it the trail lacks.
        let conn = testdb.connect().await;
        let outbox = column_values(&conn, "SELECT id, id FROM audit_seaorm_outbox").await;
        let store = SqlStore::new(conn).expect("a supported backend");
        let sealed: HashSet<String> = trail(&store).await.iter().map(|e| e.id.to_string()).collect();
        left_in_outbox += outbox.len();
        unsealed_in_outbox += outbox.iter().filter(|(id, _)| !sealed.contains(id)).count();
        round += 1;
    }

    // A last start seals what the last kill left; then a graceful stop (Ctrl-C).
    let mut app = start(&url, &log);
    // Served once, it polls its Ctrl-C handler, which it installs only then.
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let health = Request::get(format!("http://{}/health", app.addr)).body(Full::new(Bytes::new())).expect("request");
    let health = client.request(health).await.expect("GET /health");
    assert_eq!(health.status(), StatusCode::OK);
    let stopped = Command::new("kill").args(["-INT", &app.child.id().to_string()]).status().expect("run kill");
    assert!(stopped.success(), "kill -INT");
    let status = app.child.wait().expect("wait for the quickstart");
    assert!(
        status.success(),
        "the quickstart ended with {status}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let conn = testdb.connect().await;
    let current: HashMap<String, String> =
        column_values(&conn, "SELECT id, name FROM users").await.into_iter().collect();
    // The store's tables were created by a process that may have been killed half-way: still
    // append-only.
    let mut edits = vec!["UPDATE audit_events SET action = 'edited'", "DELETE FROM audit_events"];
    if testdb.backend == Backend::Postgres {
        edits.push("TRUNCATE audit_events");
    }
    for edit in edits {
        assert!(conn.execute_unprepared(edit).await.is_err(), "{edit} was not refused");
    }
    let store = SqlStore::new(conn).expect("a supported backend");
    let report = store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report}");
    let events = trail(&store).await;
    let ids: HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), events.len(), "an event is stored twice");

    let answers = std::mem::take(&mut *answers.lock().expect("answers"));
    let answered = answers.iter().filter(|a| a.status == StatusCode::OK).count();
    eprintln!(
        "{:?} (seed {seed}): {} events, {answered} renames answered 200 of {} answered, outbox rows left by the \
         {round} kills {left_in_outbox} (not yet in the trail: {unsealed_in_outbox})",
        testdb.backend,
        events.len(),
        answers.len()
    );
    assert!(answered > 0, "no rename was answered: the kills came too early to test anything");
    assert!(
        unsealed_in_outbox > 0,
        "no kill of {round} left the outbox an event the trail lacked: the recovery was not exercised"
    );

    // Every committed rename has its event, once: the names link up from the first to the last.
    for user in &users {
        let mut next: HashMap<String, String> = HashMap::new();
        for event in events.iter().filter(|e| e.action == "update" && e.resource.id == *user) {
            for change in event.changes.iter().filter(|c| c.field == "name") {
                let old = change.old.as_ref().and_then(|v| v.as_str()).expect("an old name").to_string();
                let new = change.new.as_ref().and_then(|v| v.as_str()).expect("a new name").to_string();
                assert!(next.insert(old.clone(), new).is_none(), "{user}: two events rename {old:?}");
            }
        }
        let mut name = user.to_uppercase();
        let mut steps = 0;
        while let Some(new) = next.get(&name) {
            name = new.clone();
            steps += 1;
            assert!(steps <= next.len(), "{user}: the renames loop");
        }
        assert_eq!(steps, next.len(), "{user}: renames recorded apart from the path from its first name");
        assert_eq!(Some(&name), current.get(user), "{user}: the table's name is not the last recorded one");
    }

    // Every rename answered 200 was recorded before the answer: its HTTP event and its diff.
    for answer in answers.iter().filter(|a| a.status == StatusCode::OK) {
        let request_id = answer.request_id.as_deref().expect("an x-request-id");
        let mine: Vec<&Event> = events.iter().filter(|e| e.context.request_id.as_deref() == Some(request_id)).collect();
        let http: Vec<_> = mine.iter().filter(|e| e.action == "PUT /users/{id}").collect();
        let diffs: Vec<_> = mine.iter().filter(|e| e.action == "update").collect();
        assert_eq!(http.len(), 1, "{answer:?}: its HTTP events {http:?}");
        assert_eq!(http[0].outcome, Outcome::Success, "{answer:?}");
        assert_eq!(diffs.len(), 1, "{answer:?}: its diffs {diffs:?}");
        let renamed = diffs[0].changes.iter().find(|c| c.field == "name").and_then(|c| c.new.as_ref());
        assert_eq!(renamed.and_then(|v| v.as_str()), Some(answer.name.as_str()), "{answer:?}");
        assert_eq!(diffs[0].resource.id, answer.user, "{answer:?}");
    }
}
