//! Database passwords stay out of messages: `redact_url` hides them wherever the URL holds
//! them, and a failed connection's error hides them in the driver's own text too.

const PASSWORD: &str = "hunter2-db-secret";

// SeaORM's own error quotes the whole URL for a URL it cannot parse ("The connection string
// '…' cannot be parsed.") and for a scheme it has no driver for (`mariadb://`).
#[tokio::test]
async fn connect_error_for_an_unparsable_url_does_not_show_the_password() {
    // Port out of range: the case redact_url's own unit test covers.
    let url = format!("postgres://app:{PASSWORD}@127.0.0.1:99999/audit");
    let error = match audit_seaorm::SqlStore::connect(&url).await {
        Ok(_) => panic!("connected with an invalid port"),
        Err(error) => error.to_string(),
    };
    assert!(!error.contains(PASSWORD), "the error message shows the password: {error}");
}

#[tokio::test]
async fn connect_error_for_an_unknown_scheme_does_not_show_the_password() {
    let url = format!("mariadb://root:{PASSWORD}@127.0.0.1:3306/test");
    let error = match audit_seaorm::SqlStore::connect(&url).await {
        Ok(_) => panic!("connected with a mariadb:// URL"),
        Err(error) => error.to_string(),
    };
    assert!(!error.contains(PASSWORD), "the error message shows the password: {error}");
}

// A password holding `#` or `?` (common in generated passwords; unencoded, the URL does not
// parse, which is exactly when messages show it through `redact_url`).
#[test]
fn redact_url_hides_a_password_holding_a_hash_or_question_mark() {
    for url in ["postgres://app:hunter2#db-secret@db.example/audit", "mysql://app:hunter2?db-secret@db.example/audit"] {
        let shown = audit_seaorm::redact_url(url);
        assert!(!shown.contains("hunter2") && !shown.contains("db-secret"), "{url} is shown as {shown}");
    }
}

// sqlx reads `?password=` from a PostgreSQL URL through `Url::query_pairs`, which
// percent-decodes the key: `?pass%77ord=…` is the password too.
#[test]
fn redact_url_hides_a_percent_encoded_password_parameter() {
    let url = format!("postgres://app@db.example/audit?pass%77ord={PASSWORD}");
    let options: sea_orm::sqlx::postgres::PgConnectOptions = url.parse().expect("sqlx reads the URL");
    assert!(
        format!("{options:?}").contains(&format!("password: Some({PASSWORD:?})")),
        "sqlx takes it for the password"
    );
    let shown = audit_seaorm::redact_url(&url);
    assert!(!shown.contains(PASSWORD), "{url} is shown as {shown}");
}
