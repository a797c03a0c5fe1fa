//! The tables, indexes and triggers of the SQL store, per backend; monthly partitions on
//! PostgreSQL; the least-privilege grants.

use super::error::SqlStoreError;
use super::sql::{COLUMNS, Dialect, EVENTS, HEADS, NODES};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};

/// Privileged events: by an admin or system actor, or tagged `privileged` (SOC 2, PCI DSS).
/// The predicate of the `audit_events_privileged` partial index (PostgreSQL, SQLite) and the
/// expression of MySQL's generated column `privileged`; queries for such events repeat it word
/// for word so that the planner may use the index.
pub(crate) const PRIVILEGED: &str = "(actor_kind IN ('admin', 'system') OR tags LIKE '%\"privileged\"%')";

/// Failed or denied events: the predicate of the `audit_events_failed` partial index (and
/// MySQL's generated column `failed`).
pub(crate) const FAILED: &str = "(outcome <> 'success')";

/// The index of an earlier version, replaced by `audit_events_privileged` and
/// `audit_events_failed` (dropped by `migrate`).
const OLD_NOTABLE_INDEX: &str = "audit_events_notable";

/// Message of the triggers that refuse changes to events.
const APPEND_ONLY: &str =
    "audit_events is append-only: events can never be changed or removed; record a new event instead";
/// Message of the triggers that refuse moving a chain head back.
const FORWARD_ONLY: &str =
    "audit_chain_heads may only move forward: a chain head can never go back, change its hash or be removed";

pub(crate) async fn exec(conn: &impl ConnectionTrait, sql: &str, what: &str) -> Result<(), SqlStoreError> {
    conn.execute_unprepared(sql).await.map(|_| ()).map_err(SqlStoreError::db(format!("migrate: {what}")))
}

/// Creates whatever is missing; see the crate docs for the schema.
pub(crate) async fn migrate(
    conn: &DatabaseTransaction,
    dialect: Dialect,
    partitions: Option<u32>,
    now: DateTime<Utc>,
) -> Result<(), SqlStoreError> {
    match dialect {
        Dialect::Postgres => migrate_postgres(conn, partitions, now).await,
        Dialect::Sqlite => migrate_sqlite(conn).await,
        Dialect::MySql => migrate_mysql(conn).await,
    }
}

/// How the events table is laid out on PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PgLayout {
    Missing,
    Plain,
    Partitioned,
}

pub(crate) async fn postgres_layout(conn: &impl ConnectionTrait) -> Result<PgLayout, SqlStoreError> {
    let sql = format!("SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass('{EVENTS}')");
    let row = conn
        .query_one_raw(Statement::from_string(Dialect::Postgres.backend(), sql))
        .await
        .map_err(SqlStoreError::db(format!("migrate: look for table {EVENTS}")))?;
    let Some(row) = row else { return Ok(PgLayout::Missing) };
    let kind: String =
        row.try_get_by_index(0).map_err(SqlStoreError::db(format!("migrate: look for table {EVENTS}")))?;
    match kind.as_str() {
        "r" => Ok(PgLayout::Plain),
        "p" => Ok(PgLayout::Partitioned),
        other => Err(SqlStoreError::Schema(format!(
            "{EVENTS} exists but is not a table (pg_class.relkind {other:?}): rename it or use another schema (search_path)"
        ))),
    }
}

/// True when the events table on this PostgreSQL connection is partitioned.
pub(crate) async fn postgres_is_partitioned(conn: &impl ConnectionTrait) -> Result<bool, SqlStoreError> {
    Ok(postgres_layout(conn).await? == PgLayout::Partitioned)
}

async fn migrate_postgres(
    conn: &DatabaseTransaction,
    partitions: Option<u32>,
    now: DateTime<Utc>,
) -> Result<(), SqlStoreError> {
    // Two processes migrating at once would race on CREATE … IF NOT EXISTS.
    take_migration_lock(conn).await?;
    let layout = postgres_layout(conn).await?;
    let partitioned = match (layout, partitions) {
        (PgLayout::Missing, ahead) => ahead.is_some(),
        (PgLayout::Partitioned, _) => true,
        (PgLayout::Plain, None) => false,
        (PgLayout::Plain, Some(_)) => {
            return Err(SqlStoreError::Schema(format!(
                "monthly partitions were asked for, but {EVENTS} already exists unpartitioned; partitioning is chosen \
                 when the table is first created: drop with_monthly_partitions, or create the store in a new schema"
            )));
        }
    };
    let (keys, tail) = if partitioned {
        (
            "CONSTRAINT audit_events_pkey PRIMARY KEY (chain, seq, ts),\n    CONSTRAINT audit_events_id_key UNIQUE (id, ts)",
            " PARTITION BY RANGE (ts)",
        )
    } else {
        ("CONSTRAINT audit_events_pkey PRIMARY KEY (chain, seq),\n    CONSTRAINT audit_events_id_key UNIQUE (id)", "")
    };
    let events = format!(
        "CREATE TABLE IF NOT EXISTS {EVENTS} (
    chain         TEXT COLLATE \"C\" NOT NULL,
    seq           BIGINT NOT NULL CHECK (seq > 0),
    id            UUID NOT NULL,
    ts            TIMESTAMPTZ NOT NULL,
    actor_id      TEXT COLLATE \"C\" NOT NULL,
    actor_kind    TEXT COLLATE \"C\" NOT NULL,
    action        TEXT COLLATE \"C\" NOT NULL,
    resource_type TEXT COLLATE \"C\" NOT NULL,
    resource_id   TEXT COLLATE \"C\" NOT NULL,
    outcome       TEXT COLLATE \"C\" NOT NULL,
    request_id    TEXT COLLATE \"C\",
    tags          TEXT COLLATE \"C\",
    line          TEXT NOT NULL,
    {keys}
){tail}"
    );
    exec(conn, &events, &format!("create table {EVENTS}")).await?;
    check_table(conn, Dialect::Postgres, EVENTS).await?;
    for (name, sql) in index_statements(Dialect::Postgres) {
        exec(conn, &sql, &format!("create index {name}")).await?;
    }
    let heads = format!(
        "CREATE TABLE IF NOT EXISTS {HEADS} (
    chain TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,
    seq   BIGINT NOT NULL CHECK (seq >= 0),
    hash  TEXT NOT NULL
)"
    );
    exec(conn, &heads, &format!("create table {HEADS}")).await?;
    check_table(conn, Dialect::Postgres, HEADS).await?;
    let nodes = format!(
        "CREATE TABLE IF NOT EXISTS {NODES} (
    chain TEXT COLLATE \"C\" NOT NULL,
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  TEXT NOT NULL,
    PRIMARY KEY (chain, level, idx)
)"
    );
    exec(conn, &nodes, &format!("create table {NODES}")).await?;
    check_table(conn, Dialect::Postgres, NODES).await?;
    let events_fn = postgres_refusing_function("audit_events_append_only", APPEND_ONLY);
    exec(conn, &events_fn, "create function audit_events_append_only").await?;
    let heads_fn = format!(
        "CREATE OR REPLACE FUNCTION audit_chain_heads_forward_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION '{FORWARD_ONLY} (% refused)', TG_OP USING ERRCODE = 'P0001';
    END IF;
    IF NEW.chain <> OLD.chain OR NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) THEN
        RAISE EXCEPTION '{FORWARD_ONLY} (chain %: seq % to % refused)', OLD.chain, OLD.seq, NEW.seq
            USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END
$fn$"
    );
    exec(conn, &heads_fn, "create function audit_chain_heads_forward_only").await?;
    let triggers = [
        (EVENTS, "audit_events_no_change", "BEFORE UPDATE OR DELETE", "ROW", "audit_events_append_only"),
        (EVENTS, "audit_events_no_truncate", "BEFORE TRUNCATE", "STATEMENT", "audit_events_append_only"),
        (HEADS, "audit_chain_heads_forward", "BEFORE UPDATE OR DELETE", "ROW", "audit_chain_heads_forward_only"),
        (HEADS, "audit_chain_heads_no_truncate", "BEFORE TRUNCATE", "STATEMENT", "audit_chain_heads_forward_only"),
    ];
    for (table, name, when, each, function) in triggers {
        exec(conn, &postgres_trigger(table, name, when, each, function), &format!("create trigger {name}")).await?;
    }
    if partitioned {
        ensure_partitions(conn, partitions.unwrap_or(DEFAULT_MONTHS_AHEAD), now).await?;
    }
    Ok(())
}

/// A trigger function that refuses its statement with `message` (and the operation's name).
pub(crate) fn postgres_refusing_function(name: &str, message: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '{message} (% refused)', TG_OP USING ERRCODE = 'P0001';
END
$fn$"
    )
}

/// A `DO` block creating a trigger unless it exists (works on PostgreSQL 13 and later).
pub(crate) fn postgres_trigger(table: &str, name: &str, when: &str, each: &str, function: &str) -> String {
    format!(
        "DO $do$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('{table}') AND tgname = '{name}') THEN
        CREATE TRIGGER {name} {when} ON {table} FOR EACH {each} EXECUTE FUNCTION {function}();
    END IF;
END $do$"
    )
}

/// Months created ahead when partitioning is on and no number was given.
pub(crate) const DEFAULT_MONTHS_AHEAD: u32 = 3;

/// The monthly partitions from the month of `now` to `months_ahead` months later:
/// `(name, first instant, first instant of the next month)`.
pub(crate) fn month_ranges(now: DateTime<Utc>, months_ahead: u32) -> Vec<(String, NaiveDate, NaiveDate)> {
    let first = |year: i32, month: u32| NaiveDate::from_ymd_opt(year, month, 1);
    let next = |year: i32, month: u32| if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let (mut year, mut month) = (now.year(), now.month());
    let mut out = Vec::new();
    for _ in 0..=months_ahead {
        let (next_year, next_month) = next(year, month);
        if let (Some(from), Some(to)) = (first(year, month), first(next_year, next_month)) {
            out.push((format!("{EVENTS}_y{year:04}m{month:02}"), from, to));
        }
        (year, month) = (next_year, next_month);
    }
    out
}

/// PostgreSQL: the lock that `migrate` and `ensure_partitions` take for their transaction, one
/// per schema: two of them at once would race on `CREATE … IF NOT EXISTS` (the second fails
/// with "already exists" once the first commits).
pub(crate) async fn take_migration_lock(conn: &impl ConnectionTrait) -> Result<(), SqlStoreError> {
    exec(
        conn,
        "SELECT pg_advisory_xact_lock(hashtext('audit-trail migrate ' || current_schema()))",
        "take the migration lock",
    )
    .await
}

/// Creates the monthly partitions of the current month and the next `months_ahead`, and the
/// default partition, each with the TRUNCATE-refusing trigger (statement triggers are not
/// inherited by partitions; row triggers are).
///
/// A month of which the default partition already holds events (dated beyond the partitions
/// made ahead, e.g. a device's clock, or stored before the month's partition was made) keeps
/// them there, and gets no partition: PostgreSQL cannot make one while the default partition
/// holds rows of its range, and moving them would mean deleting from an append-only table.
///
/// Run in a transaction: it first locks the events table against writes (`SHARE ROW
/// EXCLUSIVE`, which waits for appends in flight and holds new ones until the transaction
/// ends; reads go on), so that no event lands in the default partition between the look for
/// a month's events there and the creation of its partition, which would then fail.
pub(crate) async fn ensure_partitions(
    conn: &impl ConnectionTrait,
    months_ahead: u32,
    now: DateTime<Utc>,
) -> Result<(), SqlStoreError> {
    let default = format!("{EVENTS}_default");
    exec(conn, &format!("LOCK TABLE {EVENTS} IN SHARE ROW EXCLUSIVE MODE"), "lock the events table against writes")
        .await?;
    for (name, from, to) in month_ranges(now, months_ahead) {
        if default_holds(conn, &default, &name, &format!("{from} 00:00:00+00"), &format!("{to} 00:00:00+00")).await? {
            continue;
        }
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {EVENTS} FOR VALUES FROM ('{from} 00:00:00+00') TO ('{to} 00:00:00+00')"
        );
        conn.execute_unprepared(&sql).await.map_err(SqlStoreError::db(format!("create partition {name}")))?;
        let trigger = postgres_trigger(
            &name,
            &format!("{name}_no_truncate"),
            "BEFORE TRUNCATE",
            "STATEMENT",
            "audit_events_append_only",
        );
        exec(conn, &trigger, &format!("create the TRUNCATE trigger of {name}")).await?;
    }
    exec(
        conn,
        &format!("CREATE TABLE IF NOT EXISTS {default} PARTITION OF {EVENTS} DEFAULT"),
        "create the default partition",
    )
    .await?;
    let trigger = postgres_trigger(
        &default,
        &format!("{default}_no_truncate"),
        "BEFORE TRUNCATE",
        "STATEMENT",
        "audit_events_append_only",
    );
    exec(conn, &trigger, &format!("create the TRUNCATE trigger of {default}")).await
}

/// True when partition `name` does not exist yet and the default partition (if it exists)
/// holds events of its range `[from, to)`.
async fn default_holds(
    conn: &impl ConnectionTrait,
    default: &str,
    name: &str,
    from: &str,
    to: &str,
) -> Result<bool, SqlStoreError> {
    let what = || format!("create partition {name}: look for its events in {default}");
    let ask = |sql: String| async move {
        let row = conn.query_one_raw(Statement::from_string(Dialect::Postgres.backend(), sql)).await?;
        row.map_or(Ok(false), |row| row.try_get_by_index::<bool>(0))
    };
    let missing = format!("SELECT to_regclass('{default}') IS NOT NULL AND to_regclass('{name}') IS NULL");
    if !ask(missing).await.map_err(SqlStoreError::db(what()))? {
        return Ok(false);
    }
    let held = format!("SELECT EXISTS (SELECT 1 FROM {default} WHERE ts >= '{from}' AND ts < '{to}')");
    ask(held).await.map_err(SqlStoreError::db(what()))
}

/// The secondary indexes: `(name, CREATE INDEX …)` (MySQL declares them in CREATE TABLE).
///
/// The two partial indexes hold only the few privileged or failed events, in `(chain, seq)`
/// order (the order reports page in) with `ts` beside it: a report over a period walks the
/// index, skips earlier entries without reading their rows, and reads only rows it returns.
/// They also hold what the reports filter or count on (`outcome`; `actor_kind`, `actor_id`),
/// so that those are answered from the index alone.
fn index_statements(dialect: Dialect) -> Vec<(&'static str, String)> {
    let unique_id = match dialect {
        // PostgreSQL declares it as a table constraint (it must include ts when partitioned).
        Dialect::Postgres | Dialect::MySql => None,
        Dialect::Sqlite => {
            Some(("audit_events_id", format!("CREATE UNIQUE INDEX IF NOT EXISTS audit_events_id ON {EVENTS} (id)")))
        }
    };
    let failed_columns = match dialect {
        Dialect::Postgres => "(chain, seq, ts) INCLUDE (outcome, actor_kind, actor_id)",
        Dialect::Sqlite | Dialect::MySql => "(chain, seq, ts, outcome, actor_kind, actor_id)",
    };
    unique_id
        .into_iter()
        .chain([
            ("audit_events_actor", format!("CREATE INDEX IF NOT EXISTS audit_events_actor ON {EVENTS} (actor_id, ts)")),
            (
                "audit_events_resource",
                format!(
                    "CREATE INDEX IF NOT EXISTS audit_events_resource ON {EVENTS} (resource_id, resource_type, ts)"
                ),
            ),
            (
                "audit_events_privileged",
                format!(
                    "CREATE INDEX IF NOT EXISTS audit_events_privileged ON {EVENTS} (chain, seq, ts, outcome) \
                     WHERE {PRIVILEGED}"
                ),
            ),
            (
                "audit_events_failed",
                format!("CREATE INDEX IF NOT EXISTS audit_events_failed ON {EVENTS} {failed_columns} WHERE {FAILED}"),
            ),
            ("drop the index of an earlier version", format!("DROP INDEX IF EXISTS {OLD_NOTABLE_INDEX}")),
        ])
        .collect()
}

/// Triggers of earlier versions on SQLite, dropped by `migrate`.
const SQLITE_EARLIER_TRIGGERS: [&str; 2] = ["audit_events_no_replace", "audit_chain_heads_no_replace"];

async fn migrate_sqlite(conn: &DatabaseTransaction) -> Result<(), SqlStoreError> {
    let events = format!(
        "CREATE TABLE IF NOT EXISTS {EVENTS} (
    chain         TEXT NOT NULL,
    seq           INTEGER NOT NULL CHECK (seq > 0),
    id            TEXT NOT NULL,
    ts            TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    actor_kind    TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    request_id    TEXT,
    tags          TEXT,
    line          TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
)"
    );
    exec(conn, &events, &format!("create table {EVENTS}")).await?;
    check_table(conn, Dialect::Sqlite, EVENTS).await?;
    for (name, sql) in index_statements(Dialect::Sqlite) {
        exec(conn, &sql, &format!("create index {name}")).await?;
    }
    let heads = format!(
        "CREATE TABLE IF NOT EXISTS {HEADS} (
    chain TEXT NOT NULL PRIMARY KEY,
    seq   INTEGER NOT NULL CHECK (seq >= 0),
    hash  TEXT NOT NULL
)"
    );
    exec(conn, &heads, &format!("create table {HEADS}")).await?;
    check_table(conn, Dialect::Sqlite, HEADS).await?;
    let nodes = format!(
        "CREATE TABLE IF NOT EXISTS {NODES} (
    chain TEXT NOT NULL,
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  TEXT NOT NULL,
    PRIMARY KEY (chain, level, idx)
)"
    );
    exec(conn, &nodes, &format!("create table {NODES}")).await?;
    check_table(conn, Dialect::Sqlite, NODES).await?;
    let raise = |message: &str| format!("BEGIN SELECT RAISE(ABORT, '{message}'); END");
    let triggers = [
        ("audit_events_no_update", format!("BEFORE UPDATE ON {EVENTS}"), raise(APPEND_ONLY)),
        ("audit_events_no_delete", format!("BEFORE DELETE ON {EVENTS}"), raise(APPEND_ONLY)),
        // INSERT OR REPLACE deletes the old row without firing DELETE triggers (unless
        // recursive_triggers is on): refuse any insert that would replace an event, by its
        // key, its id or its rowid (the tables have rowids; an insert given an event's rowid
        // replaces that event).
        (
            "audit_events_no_replacing_insert",
            format!(
                "BEFORE INSERT ON {EVENTS} WHEN EXISTS (SELECT 1 FROM {EVENTS} WHERE chain = NEW.chain AND seq = NEW.seq) \
                 OR EXISTS (SELECT 1 FROM {EVENTS} WHERE id = NEW.id) \
                 OR EXISTS (SELECT 1 FROM {EVENTS} WHERE rowid = NEW.rowid)"
            ),
            raise(APPEND_ONLY),
        ),
        (
            "audit_chain_heads_forward",
            format!(
                "BEFORE UPDATE ON {HEADS} WHEN NEW.chain <> OLD.chain OR NEW.seq < OLD.seq \
                 OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash)"
            ),
            raise(FORWARD_ONLY),
        ),
        // An update that keeps chain, seq and hash passes the trigger above, yet may give the
        // row another rowid (by `UPDATE OR REPLACE`, that of another chain's head row, which is
        // then deleted without firing a DELETE trigger) or a seq that is no integer (text and
        // blobs sort after every number: the CHECK passes, and no append can move on from it).
        (
            "audit_chain_heads_same_row",
            format!("BEFORE UPDATE ON {HEADS} WHEN NEW.rowid <> OLD.rowid OR typeof(NEW.seq) <> 'integer'"),
            raise(FORWARD_ONLY),
        ),
        ("audit_chain_heads_no_delete", format!("BEFORE DELETE ON {HEADS}"), raise(FORWARD_ONLY)),
        (
            "audit_chain_heads_no_replacing_insert",
            format!(
                "BEFORE INSERT ON {HEADS} WHEN EXISTS (SELECT 1 FROM {HEADS} WHERE chain = NEW.chain) \
                 OR EXISTS (SELECT 1 FROM {HEADS} WHERE rowid = NEW.rowid)"
            ),
            raise(FORWARD_ONLY),
        ),
    ];
    for (name, when, body) in triggers {
        exec(conn, &format!("CREATE TRIGGER IF NOT EXISTS {name} {when} {body}"), &format!("create trigger {name}"))
            .await?;
    }
    // Replaced, in the same transaction, by the `no_replacing_insert` ones above (which also
    // refuse a replace by rowid).
    for old in SQLITE_EARLIER_TRIGGERS {
        exec(conn, &format!("DROP TRIGGER IF EXISTS {old}"), &format!("drop trigger {old}")).await?;
    }
    Ok(())
}

/// MySQL has no partial indexes: generated columns (computed from the others, never written)
/// say whether an event is privileged or failed, and the report indexes lead with them.
fn mysql_report_columns() -> [String; 2] {
    [format!("privileged TINYINT AS {PRIVILEGED} VIRTUAL"), format!("failed TINYINT AS {FAILED} VIRTUAL")]
}

/// The report indexes on MySQL (see [`mysql_report_columns`]); `actor_id` is text, which
/// MySQL indexes only by prefix, so it is left out.
const MYSQL_REPORT_KEYS: [&str; 2] = [
    "KEY audit_events_privileged (privileged, chain, seq, ts, outcome)",
    "KEY audit_events_failed (failed, chain, seq, ts, outcome, actor_kind)",
];

/// A table made by an earlier version has one generated column `notable` and its index:
/// replace them with the report columns and keys.
async fn upgrade_mysql_report_keys(conn: &DatabaseTransaction) -> Result<(), SqlStoreError> {
    let sql = format!(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{EVENTS}' \
         AND COLUMN_NAME = 'privileged'"
    );
    let what = "migrate: look for the report columns";
    let row = conn
        .query_one_raw(Statement::from_string(Dialect::MySql.backend(), sql))
        .await
        .map_err(SqlStoreError::db(what))?;
    let present: i64 = match row {
        Some(row) => row.try_get_by_index(0).map_err(SqlStoreError::db(what))?,
        None => 0,
    };
    if present > 0 {
        return Ok(());
    }
    let changes: Vec<String> = mysql_report_columns()
        .iter()
        .map(|column| format!("ADD COLUMN {column}"))
        .chain(MYSQL_REPORT_KEYS.iter().map(|key| format!("ADD {key}")))
        .chain([format!("DROP KEY {OLD_NOTABLE_INDEX}"), "DROP COLUMN notable".to_string()])
        .collect();
    let alter = format!("ALTER TABLE {EVENTS} {}", changes.join(", "));
    exec(conn, &alter, "replace the notable column with the report columns").await
}

/// MySQL: a binary, NO PAD utf8mb4 collation when the server has one (comparisons and ordering
/// are then exact, byte for byte, and 'a' and 'a ' are two values; `utf8mb4_bin` pads with
/// spaces), else `utf8mb4_bin`.
pub(crate) async fn mysql_exact_collation(conn: &impl ConnectionTrait) -> Result<String, SqlStoreError> {
    let row = conn
        .query_one_raw(Statement::from_string(
            Dialect::MySql.backend(),
            "SELECT COLLATION_NAME FROM information_schema.COLLATIONS \
             WHERE COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin') ORDER BY COLLATION_NAME LIMIT 1",
        ))
        .await
        .map_err(SqlStoreError::db("migrate: look up collations"))?;
    match row {
        Some(row) => row.try_get_by_index::<String>(0).map_err(SqlStoreError::db("migrate: look up collations")),
        None => Ok("utf8mb4_bin".to_string()),
    }
}

async fn migrate_mysql(conn: &DatabaseTransaction) -> Result<(), SqlStoreError> {
    let collation = mysql_exact_collation(conn).await?;
    let generated = mysql_report_columns().join(",\n    ");
    let report_keys = MYSQL_REPORT_KEYS.join(",\n    ");
    let events = format!(
        "CREATE TABLE IF NOT EXISTS {EVENTS} (
    chain         VARCHAR(512) NOT NULL,
    seq           BIGINT NOT NULL CHECK (seq > 0),
    id            CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ts            DATETIME(6) NOT NULL,
    actor_id      MEDIUMTEXT NOT NULL,
    actor_kind    VARCHAR(16) NOT NULL,
    action        MEDIUMTEXT NOT NULL,
    resource_type MEDIUMTEXT NOT NULL,
    resource_id   MEDIUMTEXT NOT NULL,
    outcome       VARCHAR(16) NOT NULL,
    request_id    MEDIUMTEXT NULL,
    tags          MEDIUMTEXT NULL,
    line          LONGTEXT NOT NULL,
    {generated},
    PRIMARY KEY (chain, seq),
    UNIQUE KEY audit_events_id (id),
    KEY audit_events_actor (actor_id(191), ts),
    KEY audit_events_resource (resource_id(191), resource_type(64), ts),
    {report_keys}
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
    );
    exec(conn, &events, &format!("create table {EVENTS}")).await?;
    check_table(conn, Dialect::MySql, EVENTS).await?;
    upgrade_mysql_report_keys(conn).await?;
    let heads = format!(
        "CREATE TABLE IF NOT EXISTS {HEADS} (
    chain VARCHAR(512) NOT NULL PRIMARY KEY,
    seq   BIGINT NOT NULL CHECK (seq >= 0),
    hash  CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
    );
    exec(conn, &heads, &format!("create table {HEADS}")).await?;
    check_table(conn, Dialect::MySql, HEADS).await?;
    let nodes = format!(
        "CREATE TABLE IF NOT EXISTS {NODES} (
    chain VARCHAR(512) NOT NULL,
    level INT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    PRIMARY KEY (chain, level, idx)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
    );
    exec(conn, &nodes, &format!("create table {NODES}")).await?;
    check_table(conn, Dialect::MySql, NODES).await?;
    let signal = |message: &str| format!("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'");
    let triggers = [
        ("audit_events_no_update", format!("BEFORE UPDATE ON {EVENTS} FOR EACH ROW {}", signal(APPEND_ONLY))),
        ("audit_events_no_delete", format!("BEFORE DELETE ON {EVENTS} FOR EACH ROW {}", signal(APPEND_ONLY))),
        (
            "audit_chain_heads_forward",
            format!(
                "BEFORE UPDATE ON {HEADS} FOR EACH ROW BEGIN \
                 IF NEW.chain <> OLD.chain OR NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) THEN {}; \
                 END IF; END",
                signal(FORWARD_ONLY)
            ),
        ),
        // Without strict mode (which any session may turn off for itself) a NOT NULL column
        // set to NULL takes its implicit default (seq 0, hash '', chain '') after the trigger
        // above compared the NULL as neither smaller nor different: refuse NULL here.
        (
            "audit_chain_heads_not_null",
            format!(
                "BEFORE UPDATE ON {HEADS} FOR EACH ROW BEGIN \
                 IF NEW.chain IS NULL OR NEW.seq IS NULL OR NEW.hash IS NULL THEN {}; END IF; END",
                signal(FORWARD_ONLY)
            ),
        ),
        ("audit_chain_heads_no_delete", format!("BEFORE DELETE ON {HEADS} FOR EACH ROW {}", signal(FORWARD_ONLY))),
    ];
    for (name, body) in triggers {
        exec(conn, &format!("CREATE TRIGGER IF NOT EXISTS {name} {body}"), &format!("create trigger {name}")).await?;
    }
    Ok(())
}

/// Checks that both tables have every column the store uses.
pub(crate) async fn check_columns(conn: &impl ConnectionTrait, dialect: Dialect) -> Result<(), SqlStoreError> {
    check_table(conn, dialect, EVENTS).await?;
    check_table(conn, dialect, HEADS).await?;
    check_table(conn, dialect, NODES).await
}

/// Checks that `table` has every column the store uses (a table of that name that is not the
/// store's is reported before anything is added to it).
async fn check_table(conn: &impl ConnectionTrait, dialect: Dialect, table: &str) -> Result<(), SqlStoreError> {
    probe_table(conn, dialect, table).await.map_err(|problem| match problem {
        Probe::Missing(problem) => SqlStoreError::Schema(format!(
            "{problem}: if it is another application's table, give the audit store its own schema (search_path) or \
             database; otherwise run SqlStore::migrate as the schema owner"
        )),
        Probe::Failed(error) => error,
    })
}

/// Checks that both tables have every column the store uses, creating nothing; the error says
/// what is missing (for readers, who cannot migrate): [`SqlStoreError::Schema`] for a missing
/// table or column, [`SqlStoreError::Database`] when the probe failed otherwise (no privilege
/// to read the table, no database selected, a file that is not a database, …).
pub(crate) async fn probe_tables(conn: &impl ConnectionTrait, dialect: Dialect) -> Result<(), SqlStoreError> {
    for table in [EVENTS, HEADS] {
        probe_table(conn, dialect, table).await.map_err(|problem| match problem {
            Probe::Missing(problem) => SqlStoreError::Schema(problem),
            Probe::Failed(error) => error,
        })?;
    }
    Ok(())
}

/// Why [`probe_table`] found a table unusable.
enum Probe {
    /// The table, or one of its columns, does not exist: what is wrong.
    Missing(String),
    /// The probe failed for another reason (privileges, connection, not a database).
    Failed(SqlStoreError),
}

/// `Err` unless `table` exists with every column the store uses.
async fn probe_table(conn: &impl ConnectionTrait, dialect: Dialect, table: &str) -> Result<(), Probe> {
    let columns = match table {
        EVENTS => COLUMNS.join(", "),
        NODES => "chain, level, idx, hash".to_string(),
        _ => "chain, seq, hash".to_string(),
    };
    let sql = format!("SELECT {columns} FROM {table} WHERE 1 = 0");
    match conn.query_all_raw(Statement::from_string(dialect.backend(), sql)).await {
        Ok(_) => Ok(()),
        Err(e) if is_missing_table_or_column(&e) => match schemas_without_usage(conn, dialect, table).await {
            // The table is there, in a schema this role may not look into (PostgreSQL then
            // skips the schema in search_path and says the relation does not exist).
            Some((schemas, role)) => Err(Probe::Failed(SqlStoreError::Database {
                context: format!(
                    "read table {table} (schema {schemas} holds a table {table}, but role {role} lacks USAGE on \
                     schema {schemas}: GRANT USAGE ON SCHEMA {schemas} TO {role})"
                ),
                source: e,
            })),
            None => {
                Err(Probe::Missing(format!("table {table} is missing or lacks some of the columns {columns} ({e})")))
            }
        },
        Err(e) => Err(Probe::Failed(SqlStoreError::Database { context: format!("read table {table}"), source: e })),
    }
}

/// On PostgreSQL, the schemas of `search_path` (quoted, comma-separated) holding a table named
/// `table` on which the current role lacks USAGE, and the role (quoted); `None` if there are none, on
/// other databases, or if the catalog cannot be read.
async fn schemas_without_usage(conn: &impl ConnectionTrait, dialect: Dialect, table: &str) -> Option<(String, String)> {
    if dialect != Dialect::Postgres {
        return None;
    }
    let sql = "SELECT n.nspname::text, current_user::text FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
               WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'v') AND NOT has_schema_privilege(n.oid, 'USAGE') \
               AND n.nspname IN (SELECT replace(btrim(btrim(s), '\"'), '$user', current_user::text) \
               FROM unnest(string_to_array(current_setting('search_path'), ',')) AS s) \
               ORDER BY 1";
    let rows = conn.query_all_raw(Statement::from_sql_and_values(dialect.backend(), sql, [table.into()])).await.ok()?;
    let mut role = None;
    let mut schemas = Vec::new();
    for row in &rows {
        schemas.push(quote_ident(&row.try_get_by_index::<String>(0).ok()?));
        role = Some(quote_ident(&row.try_get_by_index::<String>(1).ok()?));
    }
    Some((schemas.join(", "), role?))
}

/// True when `error` says that a table or column does not exist (SQLite, PostgreSQL,
/// MySQL/MariaDB messages).
fn is_missing_table_or_column(error: &sea_orm::DbErr) -> bool {
    let text = error.to_string().to_lowercase();
    text.contains("no such table")
        || text.contains("no such column")
        || ((text.contains("relation") || text.contains("column")) && text.contains("does not exist"))
        || (text.contains("table") && text.contains("doesn't exist"))
        || text.contains("unknown column")
}

/// Quotes a PostgreSQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The grants that let PostgreSQL role `role` write and read the audit trail in `schema` and
/// nothing more: `SELECT` and `INSERT` on the events table and the Merkle subtree hashes (no
/// `UPDATE`, `DELETE` or `TRUNCATE`), and on the heads table `SELECT`, `INSERT` (a new chain)
/// and `UPDATE` of `seq` and `hash` only (moving a head, which the trigger allows forward
/// only; `SELECT … FOR UPDATE` needs it too).
///
/// Create the role yourself (with a password or certificate), and run these as the owner of the
/// tables, after [`crate::SqlStore::migrate`]. The role must not own the tables: an owner can
/// disable triggers and drop tables.
///
/// ```
/// let sql = audit_seaorm::store::postgres_least_privilege_sql("audit", "audit_app");
/// assert_eq!(
///     sql,
///     "GRANT USAGE ON SCHEMA \"audit\" TO \"audit_app\";\n\
///      GRANT SELECT, INSERT ON \"audit\".audit_events TO \"audit_app\";\n\
///      GRANT SELECT, INSERT, UPDATE (seq, hash) ON \"audit\".audit_chain_heads TO \"audit_app\";\n\
///      GRANT SELECT, INSERT ON \"audit\".audit_merkle_nodes TO \"audit_app\";\n"
/// );
/// ```
pub fn postgres_least_privilege_sql(schema: &str, role: &str) -> String {
    let (schema, role) = (quote_ident(schema), quote_ident(role));
    format!(
        "GRANT USAGE ON SCHEMA {schema} TO {role};\n\
         GRANT SELECT, INSERT ON {schema}.{EVENTS} TO {role};\n\
         GRANT SELECT, INSERT, UPDATE (seq, hash) ON {schema}.{HEADS} TO {role};\n\
         GRANT SELECT, INSERT ON {schema}.{NODES} TO {role};\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn month_ranges_cross_the_year() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).single().unwrap_or_default();
        let names: Vec<String> =
            month_ranges(now, 2).into_iter().map(|(n, from, to)| format!("{n} {from} {to}")).collect();
        assert_eq!(
            names,
            [
                "audit_events_y2026m11 2026-11-01 2026-12-01",
                "audit_events_y2026m12 2026-12-01 2027-01-01",
                "audit_events_y2027m01 2027-01-01 2027-02-01"
            ]
        );
    }
}
