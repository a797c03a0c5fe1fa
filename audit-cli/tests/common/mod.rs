//! Shared by the CLI's end-to-end tests: a trail written through the real writer, and the
//! binary run as a user runs it.
#![allow(dead_code, unreachable_pub)]

use audit_core::store::JsonlStore;
use audit_core::{Actor, Auditor, EventDraft};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

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

/// Its standard error.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
