//! Shared by the CLI's end-to-end tests: a trail written through the real writer (to a JSON
//! Lines file or to the SQL store on SQLite, PostgreSQL or MariaDB), the binary run as a user
//! runs it, and a database superuser's tampering.
//!
//! Databases: each test gets a namespace of its own through the SQL store's test helper
//! (`audit-seaorm/tests/common/db.rs`): a schema in
//! the PostgreSQL database of `AUDIT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, reached by the CLI through
//! `?options=-c search_path=…`), a database on the server of `AUDIT_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/test`), or a SQLite file. With `CI=true` a test fails when its
//! server is unreachable; otherwise it is skipped with a loud message on stderr.
#![allow(dead_code, unreachable_pub)]

use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::publish::{CallbackSink, CheckpointPolicy};
use audit_core::store::JsonlStore;
use audit_core::{Actor, Auditor, Context, Event, EventDraft, EventHash, Outcome, Timestamp};
use audit_seaorm::SqlStore;
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// Makes an Ed25519 key for the log `origin` with `audit-trail keygen` at `dir/file`: the
/// private key file and the verifier key it prints.
pub fn keygen(dir: &Path, file: &str, origin: &str) -> (PathBuf, String) {
    let key = dir.join(file);
    let output = run(&["keygen", "--name", origin, "--out", s(&key)]);
    assert_exit(&output, 0);
    (key, stdout(&output).trim().to_string())
}

/// Writes `n` events to `dir/trail.jsonl` and returns its path.
pub fn trail(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("trail.jsonl");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let auditor = Auditor::builder(Arc::new(JsonlStore::open(&path).expect("open"))).build();
        for i in 0..n {
            auditor
                .record(EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string()))
                .await
                .expect("record");
        }
        auditor.shutdown().await;
    });
    path
}

/// Runs `audit-trail` with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_audit-trail")).args(args).output().expect("run audit-trail")
}

/// Its standard output.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The verdict line of a `checkpoint` or `prove` that refused a broken chain: the first line of
/// its standard error. Its standard output must be empty, so that a refusal redirected to a
/// file is not kept in place of a checkpoint or a proof.
pub fn refusal(output: &Output) -> String {
    assert!(output.stdout.is_empty(), "nothing on standard output: {}", stdout(output));
    let errors = stderr(output);
    errors.lines().next().map(|line| format!("{line}\n")).unwrap_or_default()
}

/// Its standard error.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code, showing stdout and stderr when it differs.
#[track_caller]
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code\n--- stdout:\n{}\n--- stderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

/// A path as `&str`.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

// ---------------------------------------------------------------------------------------------
// Databases
// ---------------------------------------------------------------------------------------------

/// The test databases of the SQL store's own tests, shared: one namespace per test, and the
/// CI policy for unreachable servers.
#[path = "../../../audit-seaorm/tests/common/db.rs"]
mod db;

pub use db::Backend;

/// One test's isolated database namespace, with a runtime for the test's own database work
/// (the CLI runs as a separate process, as a user runs it) and a directory for its files.
pub struct TestDb {
    pub backend: Backend,
    runtime: tokio::runtime::Runtime,
    /// `None` only while it is dropped.
    db: Option<db::TestDb>,
    /// The URL the CLI is given.
    url: String,
    dir: tempfile::TempDir,
}

impl TestDb {
    /// Signs a checkpoint of chain "default" as it is now with `audit-trail checkpoint` (log
    /// `origin`, private key file `key`) and keeps it at `name` in the test's directory, as an
    /// auditor keeps it somewhere the application cannot write.
    pub fn checkpoint(&self, key: &Path, origin: &str, name: &str) -> PathBuf {
        let output = run(&["checkpoint", "--db", self.url(), "--origin", origin, "--key", s(key)]);
        assert_exit(&output, 0);
        let path = self.dir().join(name);
        std::fs::write(&path, &output.stdout).expect("keep the checkpoint");
        path
    }

    /// A fresh, empty namespace, or `None` (after the loud message) when the server is
    /// unreachable outside CI.
    pub fn open(backend: Backend, test: &str) -> Option<TestDb> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let db = runtime.block_on(db::TestDb::open(backend, test))?;
        let url = db.url();
        let dir = tempfile::tempdir().expect("temporary directory");
        Some(TestDb { backend, runtime, db: Some(db), url, dir })
    }

    /// The URL to give the CLI's `--db`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A temporary directory for exports, keys and checkpoints.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `future` on this test's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A new connection pool into this namespace, as the server's superuser.
    pub fn connect(&self) -> DatabaseConnection {
        self.block_on(self.connect_async())
    }

    /// [`TestDb::connect`], inside this test's async code.
    pub async fn connect_async(&self) -> DatabaseConnection {
        self.db.as_ref().expect("open until dropped").connect().await
    }

    /// Migrates, writes `drafts` to `chain` through the real writer, and closes the connections
    /// (a SQLite file is then left as an application leaves it when it stops).
    pub fn record(&self, chain: &str, drafts: Vec<EventDraft>) {
        self.block_on(async {
            let store = Arc::new(SqlStore::new(self.connect_async().await).expect("supported backend"));
            store.migrate().await.expect("migrate");
            let auditor = Auditor::builder(store.clone()).chain(chain).build();
            for draft in drafts {
                auditor.record(draft).await.expect("record");
            }
            auditor.shutdown().await;
            store.connection().clone().close().await.expect("close");
        });
    }

    /// Migrates and writes `n` plain events to `chain` (actor alice, resource doc/i).
    pub fn record_plain(&self, chain: &str, n: usize) {
        let drafts = (1..=n)
            .map(|i| EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string()))
            .collect();
        self.record(chain, drafts);
    }

    /// Sets the stored hash of subtree (`level`, `idx`) of chain "default" to `hash` (a row of
    /// `audit_merkle_nodes` gone bad: the table has no append-only triggers).
    pub fn set_node_hash(&self, level: i32, idx: i64, hash: &str) {
        self.block_on(async {
            let conn = self.connect_async().await;
            let changed = conn
                .execute_raw(self.statement(
                    "UPDATE audit_merkle_nodes SET hash = ? WHERE chain = ? AND level = ? AND idx = ?",
                    vec![hash.into(), "default".into(), level.into(), idx.into()],
                ))
                .await
                .expect("update a node row");
            assert_eq!(changed.rows_affected(), 1, "row ({level}, {idx}) exists");
            conn.close().await.expect("close");
        });
    }

    /// The application restarted with a checkpoint policy of `origin` signed by `signer`
    /// (every `every_events` events, if given; always at shutdown) records plain events `seqs`
    /// on chain "default" and shuts down. Returns the checkpoints it published: size and note.
    pub fn record_publishing(
        &self,
        origin: &str,
        signer: &NoteSigner,
        every_events: Option<u64>,
        seqs: std::ops::RangeInclusive<u64>,
    ) -> Vec<(u64, String)> {
        let notes: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
        let kept = Arc::clone(&notes);
        let sink = Arc::new(CallbackSink::new(move |checkpoint: &Checkpoint, note: &str| {
            kept.lock().expect("lock").push((checkpoint.size, note.to_string()));
            Ok(())
        }));
        self.block_on(async {
            let store = Arc::new(SqlStore::new(self.connect_async().await).expect("supported backend"));
            let policy = CheckpointPolicy::new(origin, signer.clone(), sink).expect("policy");
            let policy = match every_events {
                Some(n) => policy.every_events(n),
                None => policy,
            };
            let auditor = Auditor::builder(store.clone()).chain("default").checkpoints(policy).build();
            for i in seqs {
                auditor
                    .record(EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string()))
                    .await
                    .expect("record");
            }
            auditor.shutdown().await;
            store.connection().clone().close().await.expect("close");
        });
        notes.lock().expect("lock").clone()
    }

    /// Creates the audit tables and nothing else.
    pub fn migrate(&self) {
        self.block_on(async {
            let store = SqlStore::new(self.connect_async().await).expect("supported backend");
            store.migrate().await.expect("migrate");
            store.connection().clone().close().await.expect("close");
        });
    }

    /// `sql` with `?` placeholders turned into the backend's, bound to `values`.
    pub fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        let (backend, sql) = match self.backend {
            Backend::Sqlite => (DbBackend::Sqlite, sql.to_string()),
            Backend::MySql => (DbBackend::MySql, sql.to_string()),
            Backend::Postgres => {
                let mut out = String::new();
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push_str(&format!("${n}"));
                    } else {
                        out.push(c);
                    }
                }
                (DbBackend::Postgres, out)
            }
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// The stored `(seq, line)` rows of `chain`, in seq order.
    pub fn stored_lines(&self, chain: &str) -> Vec<(u64, String)> {
        self.block_on(async {
            let conn = self.connect_async().await;
            let rows = conn
                .query_all_raw(
                    self.statement(
                        "SELECT seq, line FROM audit_events WHERE chain = ? ORDER BY seq",
                        vec![chain.into()],
                    ),
                )
                .await
                .expect("read the stored lines");
            let lines = rows
                .iter()
                .map(|row| {
                    let seq: i64 = row.try_get_by_index(0).expect("seq");
                    let line: String = row.try_get_by_index(1).expect("line");
                    (u64::try_from(seq).expect("positive seq"), line)
                })
                .collect();
            conn.close().await.expect("close");
            lines
        })
    }

    /// Runs `statements` as a database superuser who got the append-only triggers out of the
    /// way: on PostgreSQL with `SET LOCAL session_replication_role = replica` (which only a
    /// superuser may set), elsewhere by dropping the triggers; then puts them back and checks
    /// that they refuse changes again. Each statement must change at least one row.
    pub fn as_superuser(&self, statements: Vec<Statement>) {
        self.block_on(async {
            let conn = self.connect_async().await;
            match self.backend {
                Backend::Postgres => {
                    let txn = conn.begin().await.expect("begin");
                    txn.execute_unprepared("SET LOCAL session_replication_role = replica").await.expect("replica");
                    for statement in statements {
                        let what = statement.sql.clone();
                        let changed = txn.execute_raw(statement).await.expect("tamper");
                        assert!(changed.rows_affected() > 0, "{what} changed nothing");
                    }
                    txn.commit().await.expect("commit");
                }
                Backend::MySql | Backend::Sqlite => {
                    for trigger in [
                        "audit_events_no_update",
                        "audit_events_no_delete",
                        "audit_chain_heads_forward",
                        "audit_chain_heads_no_delete",
                    ] {
                        conn.execute_unprepared(&format!("DROP TRIGGER {trigger}")).await.expect("drop a trigger");
                    }
                    for statement in statements {
                        let what = statement.sql.clone();
                        let changed = conn.execute_raw(statement).await.expect("tamper");
                        assert!(changed.rows_affected() > 0, "{what} changed nothing");
                    }
                    let store = SqlStore::new(conn.clone()).expect("supported backend");
                    store.migrate().await.expect("migrate puts the triggers back");
                }
            }
            let refused = conn.execute_unprepared("UPDATE audit_events SET actor_id = actor_id").await;
            assert!(refused.is_err(), "the append-only triggers are back");
            conn.close().await.expect("close");
        });
    }

    /// A superuser rewrites history: changes the actor of the event at `seq` of `chain` to
    /// `actor`, recomputes every later hash and prev, and updates the indexed `actor_id` column
    /// and the chain-head row to match, so that the chain alone (lines, columns, head) stays
    /// valid.
    pub fn rewrite_history(&self, chain: &str, seq: u64, actor: &str) {
        let rows = self.stored_lines(chain);
        let mut prev = EventHash::ZERO;
        let mut statements = Vec::new();
        for (at, line) in rows {
            let mut event = Event::from_canonical_line(&line).expect("a valid event");
            if at < seq {
                prev = event.hash;
                continue;
            }
            if at == seq {
                event.actor.id = actor.to_string();
            }
            event.prev = prev;
            event.hash = event.compute_hash();
            prev = event.hash;
            statements.push(self.statement(
                "UPDATE audit_events SET line = ?, actor_id = ? WHERE chain = ? AND seq = ?",
                vec![
                    event.to_canonical_line().into(),
                    event.actor.id.clone().into(),
                    chain.into(),
                    i64::try_from(at).expect("seq").into(),
                ],
            ));
        }
        statements.push(self.statement(
            "UPDATE audit_chain_heads SET hash = ? WHERE chain = ?",
            vec![prev.to_string().into(), chain.into()],
        ));
        self.as_superuser(statements);
    }

    /// A superuser deletes the events of `chain` after `keep` and moves its head row back to
    /// the last one kept, so that the chain alone stays valid.
    pub fn truncate(&self, chain: &str, keep: u64) {
        let move_head = self.head_at(chain, keep);
        let keep = i64::try_from(keep).expect("seq");
        self.as_superuser(vec![
            self.statement("DELETE FROM audit_events WHERE chain = ? AND seq > ?", vec![chain.into(), keep.into()]),
            move_head,
        ]);
    }

    /// A superuser moves the head row of `chain` back to its event `seq`, leaving the events
    /// after it in place.
    pub fn move_head_back(&self, chain: &str, seq: u64) {
        self.as_superuser(vec![self.head_at(chain, seq)]);
    }

    /// The statement that sets the head row of `chain` to its stored event `seq`.
    fn head_at(&self, chain: &str, seq: u64) -> Statement {
        let rows = self.stored_lines(chain);
        let (_, line) = rows.iter().find(|(s, _)| *s == seq).expect("the event the head moves to");
        let hash = Event::from_canonical_line(line).expect("a valid event").hash;
        let seq = i64::try_from(seq).expect("seq");
        self.statement(
            "UPDATE audit_chain_heads SET seq = ?, hash = ? WHERE chain = ?",
            vec![seq.into(), hash.to_string().into(), chain.into()],
        )
    }
}

impl Drop for TestDb {
    /// Drops the namespace, unless the test failed (it is then left for inspection).
    fn drop(&mut self) {
        let Some(db) = self.db.take() else { return };
        if std::thread::panicking() {
            eprintln!("test failed: left {} for inspection", db.namespace);
            return;
        }
        self.runtime.block_on(db.cleanup());
    }
}

/// Runs the test body `$name(&TestDb)` on each backend, as `$name::sqlite`,
/// `$name::postgres` and `$name::mysql`.
#[macro_export]
macro_rules! on_all_backends {
    ($name:ident) => {
        mod $name {
            use super::common::{Backend, TestDb};

            fn run(backend: Backend) {
                if let Some(db) = TestDb::open(backend, stringify!($name)) {
                    super::$name(&db);
                }
            }

            #[test]
            fn sqlite() {
                run(Backend::Sqlite);
            }

            #[test]
            fn postgres() {
                run(Backend::Postgres);
            }

            #[test]
            fn mysql() {
                run(Backend::MySql);
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// A known trail for queries and reports
// ---------------------------------------------------------------------------------------------

/// `2026-MM-DDT10:00:00.0000SSZ`: the events of the known trail happen in January, February
/// and March 2026.
pub fn ts(month: u32, day: u32, seq: u32) -> Timestamp {
    format!("2026-{month:02}-{day:02}T10:00:00.{seq:06}Z").parse().expect("a SPEC timestamp")
}

/// An actor id with a comma, quotes and an ANSI escape: CSV must quote it, tables must not
/// let it reach the terminal.
pub const TRICKY_ACTOR: &str = "carol, \"the auditor\"\u{1b}[31m";

/// Writes the known trail: chain `default` seq 1..=13 and chain `tenant-b` seq 1..=2.
///
/// | seq | month | actor | action | resource | outcome |
/// |---|---|---|---|---|---|
/// | 1 | Jan | alice (user) | update | users/42 | success (ip 10.0.0.1, req-1) |
/// | 2 | Jan | bob | login | session | failure |
/// | 3 | Jan | root (admin) | update | users/42 | success |
/// | 4 | Jan | bob | login | session | failure |
/// | 5 | Feb | bob | login | session | denied |
/// | 6 | Feb | carol | read | users/42 | success |
/// | 7 | Feb | exporter (system) | export | users/42 | success |
/// | 8 | Feb | mallory (admin) | login | session | failure |
/// | 9 | Feb | dave, tagged privileged | update | orders/7 | success |
/// | 10 | Feb | 42 | export | users/99 | success |
/// | 11 | Mar | alice | update | users/42 | success |
/// | 12 | Mar | [`TRICKY_ACTOR`] | read | users/42 | success |
/// | 13 | Mar | bob | login | session | failure |
///
/// tenant-b: 1 alice update users/42 (Feb), 2 eve login denied (Feb).
pub fn known_trail(db: &TestDb) {
    let login = |who: Actor, outcome: Outcome, seq: u32, month: u32| {
        EventDraft::new("login")
            .actor(who)
            .resource("session", "")
            .outcome(outcome)
            .reason("bad password")
            .with_ts(ts(month, 1, seq))
    };
    let on_users_42 = |action: &str, who: Actor, seq: u32, month: u32| {
        EventDraft::new(action).actor(who).resource("users", "42").with_ts(ts(month, 1, seq))
    };
    let context = Context { ip: Some("10.0.0.1".into()), request_id: Some("req-1".into()), ..Context::default() };
    db.record(
        "default",
        vec![
            on_users_42("update", Actor::user("alice"), 1, 1)
                .change("email", Some(json!("a@x")), Some(json!("b@x")))
                .context(context),
            login(Actor::user("bob"), Outcome::Failure, 2, 1),
            on_users_42("update", Actor::admin("root"), 3, 1)
                .change("role", Some(json!("user")), Some(json!("admin")))
                .justification("CHG-1"),
            login(Actor::user("bob"), Outcome::Failure, 4, 1),
            login(Actor::user("bob"), Outcome::Denied, 5, 2),
            on_users_42("read", Actor::user("carol"), 6, 2),
            on_users_42("export", Actor::system("exporter"), 7, 2),
            login(Actor::admin("mallory"), Outcome::Failure, 8, 2),
            EventDraft::new("update")
                .actor(Actor::user("dave"))
                .resource("orders", "7")
                .tag("privileged")
                .change("total", Some(json!(10)), Some(json!(12)))
                .with_ts(ts(2, 1, 9)),
            EventDraft::new("export").actor(Actor::user("42")).resource("users", "99").with_ts(ts(2, 1, 10)),
            on_users_42("update", Actor::user("alice"), 11, 3).change("email", Some(json!("b@x")), Some(json!("c@x"))),
            on_users_42("read", Actor::user(TRICKY_ACTOR), 12, 3),
            login(Actor::user("bob"), Outcome::Failure, 13, 3),
        ],
    );
    db.record(
        "tenant-b",
        vec![on_users_42("update", Actor::user("alice"), 1, 2), login(Actor::user("eve"), Outcome::Denied, 2, 2)],
    );
}

/// The `(chain, seq)` of each event of a JSON lines output (one canonical event a line).
pub fn positions(json_lines: &str) -> Vec<(String, u64)> {
    json_lines
        .lines()
        .map(|line| {
            let event = Event::from_canonical_line(line).expect("a canonical event line");
            (event.chain, event.seq)
        })
        .collect()
}

/// The seqs of a JSON lines output (one canonical event a line).
pub fn seqs(json_lines: &str) -> Vec<u64> {
    json_lines.lines().map(|line| Event::from_canonical_line(line).expect("a canonical event line").seq).collect()
}
