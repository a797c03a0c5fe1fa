//! The CLI never prints the database password it is given (its output ends up in CI logs and
//! terminal scrollback).

mod common;
use common::*;

// A PostgreSQL URL may carry its password as a query parameter (sqlx reads `?password=`
// like the userinfo one).
#[test]
fn a_password_given_as_a_query_parameter_is_not_printed() {
    let url = "postgres://postgres@127.0.0.1:5432/audit_no_such_database?password=hunter2-db-secret";
    let output = run(&["verify", "--db", url]);
    assert_exit(&output, 2);
    let message = stderr(&output);
    assert!(!message.contains("hunter2-db-secret"), "the password is printed: {message}");
}

// A URL the `url` crate cannot parse (here: a port out of range) is refused with a message
// that names it, without its password.
#[test]
fn a_password_in_a_url_that_does_not_parse_is_not_printed() {
    let url = "postgres://app:hunter2-db-secret@db.example:99999/audit";
    let output = run(&["verify", "--db", url]);
    assert_exit(&output, 2);
    let message = stderr(&output);
    assert!(message.contains("is not a valid URL"), "{message}");
    assert!(!message.contains("hunter2-db-secret"), "the password is printed: {message}");
}

// A password holding `#` (common in generated passwords; unencoded, the URL does not parse).
#[test]
fn a_password_holding_a_hash_is_not_printed() {
    let url = "postgres://app:hunter2#db-secret@db.example:5432/audit";
    let output = run(&["verify", "--db", url]);
    assert_exit(&output, 2);
    let message = stderr(&output);
    assert!(message.contains("is not a valid URL"), "{message}");
    assert!(!message.contains("hunter2") && !message.contains("db-secret"), "the password is printed: {message}");
}
