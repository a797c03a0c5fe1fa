//! `JsonlStore` keeps a trail in a regular file, made durable with `fsync` before an append
//! returns. A path that names no regular file (a device such as `/dev/null`, a directory) is
//! refused when the store is opened, with an error that names the path and says what to give
//! instead. `JsonlStore::open("/dev/null")` used to succeed: every append then failed its
//! `fsync` (a device cannot be synced) and the writer retried it for ever, so `record` and
//! `shutdown` never returned, with no error anywhere but an unhealthy writer; and a second
//! store on the same device was refused as "locked by another process".

use audit_core::store::{JsonlStore, StoreError};

/// Checks that `error` says the path is no regular file and what to give instead.
fn assert_not_a_file(error: &StoreError, path: &str) {
    let message = error.to_string();
    assert!(message.contains(path), "names the path: {message}");
    assert!(message.contains("not a regular file"), "says what is wrong: {message}");
    assert!(message.contains("path of a file"), "says what to give instead: {message}");
}

#[test]
fn a_device_is_refused_when_opened_for_writing() {
    let error = JsonlStore::open("/dev/null").expect_err("/dev/null keeps nothing: no trail can be written there");
    assert_not_a_file(&error, "/dev/null");
    // Nothing was locked: asking again gives the same answer, not `Locked`.
    let again = JsonlStore::open("/dev/null").expect_err("still refused");
    assert_not_a_file(&again, "/dev/null");
}

#[test]
fn a_device_is_refused_when_opened_for_reading() {
    let error = JsonlStore::open_read_only("/dev/null").expect_err("/dev/null holds no trail");
    assert_not_a_file(&error, "/dev/null");
}

#[test]
fn a_directory_is_refused_for_writing_and_for_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shown = dir.path().display().to_string();
    assert_not_a_file(&JsonlStore::open(dir.path()).expect_err("a directory is no trail"), &shown);
    assert_not_a_file(&JsonlStore::open_read_only(dir.path()).expect_err("a directory is no trail"), &shown);
}

#[test]
fn a_regular_file_and_a_missing_one_still_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    drop(JsonlStore::open(&path).expect("a missing file is created"));
    drop(JsonlStore::open(&path).expect("an existing empty trail opens"));
    drop(JsonlStore::open_read_only(&path).expect("and opens for reading"));
}
