//! One writer per JSON Lines file: a second opener is refused, in this process and in another.
//!
//! In a test binary of its own: the child process it spawns inherits, until it execs, every
//! file of this process, and with them their locks, so that another test of the same binary
//! could see a lock its own store had already released.

use audit_core::store::{JsonlStore, StoreError};

const CHILD_ENV: &str = "AUDIT_CORE_LOCK_TEST_PATH";

#[test]
fn lock_probe_child() {
    // Runs only as the child process of `a_second_process_is_refused`.
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    match JsonlStore::open(&path) {
        Err(StoreError::Locked { .. }) => println!("child: locked out as expected"),
        other => panic!("the second process was not refused: {other:?}"),
    }
}

#[tokio::test]
async fn a_second_writer_is_refused_in_this_process_and_in_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    let store = JsonlStore::open(&path).expect("first opener");
    let error = JsonlStore::open(&path).expect_err("second opener in this process");
    assert!(matches!(error, StoreError::Locked { .. }), "{error}");
    assert!(error.to_string().contains("locked by another process"));

    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["lock_probe_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .output()
        .expect("spawn child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("child: locked out as expected"), "the child really tried: {stdout}");

    drop(store);
    JsonlStore::open(&path).expect("free again once the first store is dropped");
}
