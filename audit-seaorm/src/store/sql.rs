//! Statement building shared by the store: placeholders per backend, the events table's
//! columns and how an event fills them, and row decoding.

use super::error::SqlStoreError;
use audit_core::canonical::write_str;
use audit_core::{SealedEvent, Timestamp};
use sea_orm::sea_query::Value;
use sea_orm::{DbBackend, DbErr, QueryResult, RuntimeErr, Statement};
use std::borrow::Cow;
use std::sync::Arc;

/// The events table.
pub(crate) const EVENTS: &str = "audit_events";
/// The chain-heads table.
pub(crate) const HEADS: &str = "audit_chain_heads";
/// The Merkle subtree hashes table.
pub(crate) const NODES: &str = "audit_merkle_nodes";

/// The events table's columns, in insert order.
pub(crate) const COLUMNS: [&str; 13] = [
    "chain",
    "seq",
    "id",
    "ts",
    "actor_id",
    "actor_kind",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "request_id",
    "tags",
    "line",
];

/// Largest number of rows in one multi-row INSERT (13 parameters each: 13,312 in all, under
/// SQLite's 32,766 and PostgreSQL's and MySQL's 65,535).
pub(crate) const MAX_INSERT_ROWS: usize = 1024;

/// The SQL dialect of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    pub(crate) fn backend(self) -> DbBackend {
        match self {
            Dialect::Postgres => DbBackend::Postgres,
            Dialect::MySql => DbBackend::MySql,
            Dialect::Sqlite => DbBackend::Sqlite,
        }
    }

    /// The value of `ts` as this backend stores it.
    ///
    /// On MySQL a `DATETIME` (UTC, as the column holds it): the driver sends a
    /// `DateTime<Utc>` as a `TIMESTAMP`, which the server turns into NULL outside 1970-01-01
    /// 00:00:01 – 2038-01-19 03:14:07 UTC, so an event of 1969 or 2040 could not be stored
    /// (and a period bound of 2050 matched nothing).
    pub(crate) fn ts_value(self, ts: Timestamp) -> Value {
        match self {
            Dialect::Sqlite => Value::String(Some(ts.to_string())),
            Dialect::Postgres => Value::ChronoDateTimeUtc(Some(ts.as_datetime())),
            Dialect::MySql => Value::ChronoDateTime(Some(ts.as_datetime().naive_utc())),
        }
    }

    /// Reads a `ts` column (or an aggregate of it) at `index`.
    pub(crate) fn ts_at(self, row: &QueryResult, index: usize) -> Result<Timestamp, SqlStoreError> {
        self.ts_or_held(row, index)?.map_err(|held| {
            SqlStoreError::Corrupt(format!("a ts column holds {held}, which is not a time an event can have"))
        })
    }

    /// [`Dialect::ts_at`], except that a PostgreSQL `timestamptz` that no [`Timestamp`] can hold
    /// (`infinity`, `-infinity`, years past 262143) is `Ok(Err(what it holds))`: sqlx's own
    /// decoding of such a value into chrono panics. So is a MySQL `DATETIME` that is no time
    /// (a zero date, a zero in a date, a day the month lacks: [`mysql_datetime_text`]), which
    /// the driver refuses to decode.
    pub(crate) fn ts_or_held(
        self,
        row: &QueryResult,
        index: usize,
    ) -> Result<Result<Timestamp, String>, SqlStoreError> {
        if let Some(micros) = pg_binary_timestamp(row, index)? {
            return Ok(pg_timestamp(micros));
        }
        match self.ts_decoded(row, index) {
            Ok(ts) => Ok(Ok(ts)),
            Err(error) => match mysql_datetime_text(row, index) {
                Some(held) => Ok(Err(held)),
                None => Err(error),
            },
        }
    }

    /// A `ts` column decoded by the driver.
    fn ts_decoded(self, row: &QueryResult, index: usize) -> Result<Timestamp, SqlStoreError> {
        match self {
            Dialect::Sqlite => {
                let text: String = row.try_get_by_index(index).map_err(SqlStoreError::db("read a ts column"))?;
                text.parse::<Timestamp>().map_err(|e| {
                    SqlStoreError::Corrupt(format!("a ts column holds {text:?}, not a SPEC timestamp ({e})"))
                })
            }
            Dialect::Postgres | Dialect::MySql => {
                let time: sea_orm::prelude::ChronoDateTimeUtc = match pg_value(row, index) {
                    Some(time) => time,
                    None => row.try_get_by_index(index),
                }
                .map_err(SqlStoreError::db("read a ts column"))?;
                Ok(Timestamp::from_datetime(time))
            }
        }
    }

    /// Reads an `id` column at `index` as lowercase hyphenated text.
    pub(crate) fn id_at(self, row: &QueryResult, index: usize) -> Result<String, SqlStoreError> {
        match self {
            Dialect::Postgres => {
                let id: sea_orm::prelude::Uuid =
                    row.try_get_by_index(index).map_err(SqlStoreError::db("read the id column"))?;
                Ok(id.hyphenated().to_string())
            }
            Dialect::MySql | Dialect::Sqlite => {
                row.try_get_by_index(index).map_err(SqlStoreError::db("read the id column"))
            }
        }
    }
}

/// A PostgreSQL `timestamp(tz)` value at `index` of `row` in binary form, as microseconds from
/// 2000-01-01 (`None`: not a PostgreSQL row, NULL, or not in binary form; decode it otherwise).
fn pg_binary_timestamp(row: &QueryResult, index: usize) -> Result<Option<i64>, SqlStoreError> {
    use sea_orm::sqlx::postgres::PgValueFormat;
    use sea_orm::sqlx::{Row, ValueRef};
    let Some(row) = row.try_as_pg_row() else { return Ok(None) };
    let value = row.try_get_raw(index).map_err(|e| SqlStoreError::db("read a ts column")(sqlx_error(e)))?;
    if value.is_null() || value.format() != PgValueFormat::Binary {
        return Ok(None);
    }
    let bytes = value.as_bytes().ok().and_then(|bytes| <[u8; 8]>::try_from(bytes).ok());
    let bytes = bytes.ok_or_else(|| SqlStoreError::Corrupt("a ts column is not an 8-byte timestamp".into()))?;
    Ok(Some(i64::from_be_bytes(bytes)))
}

/// A MySQL `DATETIME` at `index` of `row` as MySQL writes it, e.g. `0000-00-00 00:00:00.000000`
/// (`None`: not a MySQL row, or NULL). For a value the driver cannot decode into a time: a zero
/// date, a zero in a date (`2026-03-00`), a day the month lacks (`2026-02-30`), which a session
/// without `NO_ZERO_DATE`, `NO_ZERO_IN_DATE` or strict mode (or with `ALLOW_INVALID_DATES`)
/// stores. A zero date sorts before every time: it hides its event from queries with a start.
fn mysql_datetime_text(row: &QueryResult, index: usize) -> Option<String> {
    use sea_orm::sqlx::Row;
    // Not as an `Option`: the driver takes a zero date for NULL.
    let bytes = row.try_as_mysql_row()?.try_get_unchecked::<&[u8], _>(index).ok()?;
    match bytes.split_first() {
        // Binary protocol: its length (0, 4, 7 or 11), then the year (2 bytes, little-endian),
        // month, day, hour, minute, second and microseconds (4 bytes), as far as the length goes.
        Some((&len, rest)) if matches!(len, 0 | 4 | 7 | 11) && rest.len() == usize::from(len) => {
            let byte = |i: usize| rest.get(i).copied().unwrap_or(0);
            let year = u16::from_le_bytes([byte(0), byte(1)]);
            let micros = u32::from_le_bytes([byte(7), byte(8), byte(9), byte(10)]);
            Some(format!(
                "{year:04}-{:02}-{:02} {:02}:{:02}:{:02}.{micros:06}",
                byte(2),
                byte(3),
                byte(4),
                byte(5),
                byte(6)
            ))
        }
        // Text protocol: as it is.
        _ => std::str::from_utf8(bytes).ok().map(str::to_string),
    }
}

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch for binary timestamps, in µs from the Unix epoch.
const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// A PostgreSQL binary timestamp (µs from 2000-01-01) as a [`Timestamp`], or what it holds in
/// words when no [`Timestamp`] can hold it.
pub(crate) fn pg_timestamp(micros: i64) -> Result<Timestamp, String> {
    micros.checked_add(POSTGRES_EPOCH_UNIX_MICROS).and_then(Timestamp::from_unix_micros).ok_or_else(|| match micros {
        i64::MAX => "infinity".to_string(),
        i64::MIN => "-infinity".to_string(),
        _ => format!("{micros} µs from 2000-01-01 (beyond the years a timestamp can have here)"),
    })
}

/// A text column of `row` at `index`, borrowed from the driver's row where it allows that
/// (PostgreSQL, MySQL, SQLite), copied otherwise: reading a page of events allocates nothing
/// per column.
///
/// On PostgreSQL every column has the one type the schema gave it, so the driver's check of
/// each value's type (most of the cost of reading a row) is skipped ([`pg_value`]); SQLite
/// keeps values of any type in any column, MySQL converts: there the check stays.
pub(crate) fn text_at(row: &QueryResult, index: usize) -> Result<Option<Cow<'_, str>>, DbErr> {
    use sea_orm::sqlx::Row;
    let borrowed = if let Some(row) = row.try_as_pg_row() {
        row.try_get_unchecked::<Option<&str>, _>(index)
    } else if let Some(row) = row.try_as_mysql_row() {
        row.try_get::<Option<&str>, _>(index)
    } else if let Some(row) = row.try_as_sqlite_row() {
        row.try_get::<Option<&str>, _>(index)
    } else {
        return row.try_get_by_index::<Option<String>>(index).map(|text| text.map(Cow::Owned));
    };
    borrowed.map(|text| text.map(Cow::Borrowed)).map_err(sqlx_error)
}

/// Column `index` of a PostgreSQL row as `T`, without the driver's check of the value's type
/// (the schema fixes it); `None` for a row of another backend.
pub(crate) fn pg_value<'r, T>(row: &'r QueryResult, index: usize) -> Option<Result<T, DbErr>>
where
    T: sea_orm::sqlx::Decode<'r, sea_orm::sqlx::Postgres>,
{
    use sea_orm::sqlx::Row;
    row.try_as_pg_row().map(|row| row.try_get_unchecked::<T, _>(index).map_err(sqlx_error))
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
}

/// A statement being written: SQL text plus its bound values, with the backend's placeholders.
#[derive(Debug)]
pub(crate) struct Sql {
    dialect: Dialect,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect) -> Sql {
        Sql { dialect, text: String::with_capacity(256), values: Vec::new() }
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Sql {
        self.text.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value` (on PostgreSQL, text as [`postgres_text`] stores it).
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Sql {
        let mut value = value.into();
        if self.dialect == Dialect::Postgres
            && let Value::String(Some(text)) = &mut value
            && let Cow::Owned(stored) = postgres_text(text)
        {
            *text = stored;
        }
        self.values.push(value);
        match self.dialect {
            Dialect::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            Dialect::MySql | Dialect::Sqlite => self.text.push('?'),
        }
        self
    }

    /// Appends a placeholder bound to the chain name `chain`. On PostgreSQL a name with U+0000
    /// is bound as NULL, which equals no chain: no such chain can be stored there (appends
    /// refuse it), and mapped as other text it would name the chain spelled with U+0001.
    pub(crate) fn bind_chain(&mut self, chain: &str) -> &mut Sql {
        if self.dialect == Dialect::Postgres && chain.contains('\0') {
            return self.bind(Value::String(None));
        }
        self.bind(chain)
    }

    /// Appends `(?, ?, …)` bound to `values`.
    pub(crate) fn bind_list(&mut self, values: impl IntoIterator<Item = Value>) -> &mut Sql {
        self.text.push('(');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(value);
        }
        self.text.push(')');
        self
    }

    pub(crate) fn build(self) -> Statement {
        Statement::from_sql_and_values(self.dialect.backend(), self.text, self.values)
    }
}

/// A text value as PostgreSQL's `text` columns hold it: with each U+0000 as U+0001.
///
/// PostgreSQL cannot store U+0000 in text and refuses the whole statement that tries, so an
/// event with U+0000 in an indexed field (an actor id taken from a login form, say) would fail
/// every append and hold up the chain behind it. Its line keeps the exact value: the column
/// check compares a column with the line's value mapped the same way, and queries, which bind
/// their values through [`Sql::bind`] too, check each event again against the exact filter.
/// U+0001 keeps the value's length (the index entries' size limits hold as without U+0000).
pub(crate) fn postgres_text(text: &str) -> Cow<'_, str> {
    if text.contains('\0') { Cow::Owned(text.replace('\0', "\u{1}")) } else { Cow::Borrowed(text) }
}

/// `seq` as the BIGINT it is stored as.
pub(crate) fn seq_value(seq: u64) -> Result<i64, SqlStoreError> {
    i64::try_from(seq)
        .map_err(|_| SqlStoreError::InvalidInput(format!("seq {seq} is beyond the BIGINT range of the store")))
}

/// A `u64` bound for seq comparisons, clamped to the BIGINT range.
pub(crate) fn seq_bound(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// The `tags` column: the canonical JSON array of the event's tags (exactly as the line
/// spells it), or NULL when it has none.
pub(crate) fn tags_column(tags: &[String]) -> Option<String> {
    if tags.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(tags.iter().map(|t| t.len() + 3).sum::<usize>() + 2);
    out.push(b'[');
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(tag, &mut out);
    }
    out.push(b']');
    // Written from `&str`s and ASCII punctuation only.
    Some(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// An event id as the `id` column holds it (PostgreSQL `uuid`, text elsewhere).
pub(crate) fn id_value(dialect: Dialect, id: uuid::Uuid) -> Value {
    match dialect {
        Dialect::Postgres => Value::Uuid(Some(id)),
        Dialect::MySql | Dialect::Sqlite => Value::String(Some(id.hyphenated().to_string())),
    }
}

/// Appends the 13 column values of `sealed`, in [`COLUMNS`] order.
pub(crate) fn push_event_values(dialect: Dialect, sealed: &SealedEvent, sql: &mut Sql) -> Result<(), SqlStoreError> {
    let e = &sealed.event;
    let id = id_value(dialect, e.id);
    let values = [
        Value::String(Some(e.chain.clone())),
        Value::BigInt(Some(seq_value(e.seq)?)),
        id,
        dialect.ts_value(e.ts),
        Value::String(Some(e.actor.id.clone())),
        Value::String(Some(e.actor.kind.as_str().to_string())),
        Value::String(Some(e.action.clone())),
        Value::String(Some(e.resource.kind.clone())),
        Value::String(Some(e.resource.id.clone())),
        Value::String(Some(e.outcome.as_str().to_string())),
        Value::String(e.context.request_id.clone()),
        Value::String(tags_column(&e.tags)),
        Value::String(Some(sealed.line.clone())),
    ];
    sql.bind_list(values);
    Ok(())
}

/// Appends a row of 13 NULLs typed as [`push_event_values`] types them (PostgreSQL): padding
/// that a `WHERE chain IS NOT NULL` leaves out.
pub(crate) fn push_null_event_values(sql: &mut Sql) {
    // chain, seq, id, ts; then the nine text columns.
    let typed = [Value::String(None), Value::BigInt(None), Value::Uuid(None), Value::ChronoDateTimeUtc(None)];
    sql.bind_list(typed.into_iter().chain(std::iter::repeat_n(Value::String(None), COLUMNS.len() - 4)));
}

/// Reads a `(chain, seq, line)` row. A line that is not UTF-8 text (SQLite keeps any bytes,
/// as text or as a blob) is [`SqlStoreError::UnreadableLine`]; one stored as a blob of UTF-8
/// text is read as that text (as `verify_chain`, which reads every line's bytes, reads it).
pub(crate) fn line_from_row(row: &QueryResult) -> Result<(String, u64, String), SqlStoreError> {
    let chain: String = row.try_get_by_index(0).map_err(SqlStoreError::db("read an event row"))?;
    let seq: i64 = row.try_get_by_index(1).map_err(SqlStoreError::db("read an event row"))?;
    let seq = u64::try_from(seq)
        .map_err(|_| SqlStoreError::Corrupt(format!("an event of chain {chain:?} has a negative seq {seq}")))?;
    let line = match row.try_get_by_index::<String>(2) {
        Ok(line) => line,
        // Only SQLite hands a text column over as bytes; elsewhere the first error stands.
        Err(error) => match row.try_get_by_index::<Vec<u8>>(2) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|e| SqlStoreError::UnreadableLine {
                chain: chain.clone(),
                seq,
                detail: format!("its line is not UTF-8 text ({})", e.utf8_error()),
            })?,
            Err(_) => return Err(SqlStoreError::db("read an event row")(error)),
        },
    };
    Ok((chain, seq, line))
}

/// Parses a stored line into a [`SealedEvent`], naming the row if it is not a SPEC event.
pub(crate) fn sealed_from_line(chain: &str, seq: u64, line: String) -> Result<SealedEvent, SqlStoreError> {
    SealedEvent::from_line(line)
        .map_err(|e| SqlStoreError::Corrupt(format!("the event at chain {chain:?} seq {seq} is not a SPEC event: {e}")))
}
