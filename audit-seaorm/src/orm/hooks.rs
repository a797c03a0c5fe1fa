//! The hook helpers [`crate::audited!`] calls from `ActiveModelBehavior`. Entities with hook
//! logic of their own call them from their own `ActiveModelBehavior` impl (and implement
//! [`AuditedModel`]).

use super::event::{Row, json_null_field};
use super::marker::{self, KeySource, Message, WriteVerb};
use super::old_row;
use super::value::value_to_json;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    FromQueryResult, Iterable, ModelTrait, PrimaryKeyToColumn, PrimaryKeyTrait, QueryFilter, QuerySelect, QueryTrait,
    Value,
};
use serde_json::Value as Json;

/// An entity whose row changes are audited: the per-entity options. [`crate::audited!`]
/// implements it; implement it by hand when writing `ActiveModelBehavior` yourself.
pub trait AuditedModel: ActiveModelTrait + 'static {
    /// Columns left out of every diff (e.g. `updated_at`); an update that changes only these
    /// records nothing. Named as in [`AuditedModel::REDACT`]: by column or by field name; an
    /// entry that names no column refuses the write.
    const IGNORE: &'static [&'static str] = &[];
    /// Columns whose values are hidden (`[REDACTED]`, or a keyed token when the redaction
    /// policy tokenizes), on top of the connection's [`audit_core::RedactionPolicy`]. A change
    /// is still recorded, without its values.
    const REDACT: &'static [&'static str] = &[];
}

type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// The table name: the events' resource type.
pub(crate) fn table_of<E: EntityTrait>() -> String {
    E::default().table_name().to_string()
}

/// Every column of `model` except `ignore`, as JSON.
pub(crate) fn row_of<M: ModelTrait>(model: &M, ignore: &[&str]) -> Row {
    columns_as_json::<M::Entity>(ignore, |column| Some(model.get(column)))
}

/// The columns `am` sets (or keeps unchanged) as JSON, less `ignore`: what an insert of it
/// writes besides the database's defaults.
fn row_of_active<A: ActiveModelTrait>(am: &A, ignore: &[&str]) -> Row {
    columns_as_json::<A::Entity>(ignore, |column| am.get(column).into_value())
}

/// The columns of `E` except `ignore` that `value` gives a value for, as JSON.
fn columns_as_json<E: EntityTrait>(ignore: &[&str], value: impl Fn(E::Column) -> Option<Value>) -> Row {
    let mut row = Row::new();
    for column in <E::Column as Iterable>::iter() {
        let name = sea_orm::IdenStatic::as_str(&column);
        if !ignore.iter().any(|i| i.eq_ignore_ascii_case(name))
            && let Some(value) = value(column)
        {
            if matches!(&value, Value::Json(Some(json)) if json.is_null()) {
                row.insert(json_null_field(name), Json::Bool(true));
            }
            row.insert(name.to_string(), value_to_json(&value));
        }
    }
    row
}

/// The names of `E`'s primary key columns, in the order of [`key_values_of`].
pub(crate) fn key_columns_of<E: EntityTrait>() -> Vec<String> {
    <E::PrimaryKey as Iterable>::iter().map(|pk| sea_orm::IdenStatic::as_str(&pk.into_column()).to_string()).collect()
}

/// The primary key values of `model`.
pub(crate) fn key_values_of<M: ModelTrait>(model: &M) -> Vec<Value> {
    <<M::Entity as EntityTrait>::PrimaryKey as Iterable>::iter().map(|pk| model.get(pk.into_column())).collect()
}

/// The primary key values of `am`, if all are set.
fn key_values_of_active<A: ActiveModelTrait>(am: &A) -> Option<Vec<Value>> {
    <<A::Entity as EntityTrait>::PrimaryKey as Iterable>::iter()
        .map(|pk| am.get(pk.into_column()).into_value())
        .collect()
}

pub(crate) fn key_json(values: &[Value]) -> Vec<Json> {
    values.iter().map(value_to_json).collect()
}

/// `pk = key` for one row.
pub(crate) fn key_condition<E: EntityTrait>(key: &[Value]) -> Condition {
    let mut condition = Condition::all();
    for (pk, value) in <E::PrimaryKey as Iterable>::iter().zip(key) {
        condition = condition.add(pk.into_column().eq(value.clone()));
    }
    condition
}

async fn send<C: ConnectionTrait>(db: &C, message: Message) -> Result<(), DbErr> {
    let (statement, parked) = marker::statement(db.get_database_backend(), message);
    let sent = db.execute_raw(statement).await.map(|_| ());
    drop(parked); // taken by an audited connection; else removed here
    sent
}

/// Fails unless `db` is an audited connection, with a message that says what to do.
async fn probe<C: ConnectionTrait>(db: &C, table: &str) -> Result<(), DbErr> {
    send(db, Message::Probe).await.map_err(|e| {
        DbErr::Custom(format!(
            "audit_seaorm: `{table}` is an audited entity, so it must be written through AuditedDb or an \
             AuditedTransaction, not a plain connection; nothing was written. (The audit probe failed: {e})"
        ))
    })
}

/// The row as it is now inside the transaction, locked (`SELECT … FOR UPDATE` on
/// PostgreSQL/MySQL; SQLite has no row locks: its writer lock serializes writers, and a
/// transaction whose snapshot is stale fails with `SQLITE_BUSY` instead of writing). On the
/// autocommit connection the connection drops the `FOR UPDATE` (see [`marker::OLD_ROW_READ`]).
/// The model read, not only its row: the database may have found it under another spelling
/// of `key` (a case-insensitive collation, MySQL's default, finds `"acme"` for `"ACME"`).
async fn read_locked<A: AuditedModel, C: ConnectionTrait>(db: &C, key: &[Value]) -> Result<Option<ModelOf<A>>, DbErr> {
    let find = <A::Entity as EntityTrait>::find().filter(key_condition::<A::Entity>(key));
    let mut stmt = find.limit(1).lock_exclusive().build(db.get_database_backend());
    // Tells the connection that this is the old row's read (see marker::OLD_ROW_READ).
    stmt.sql.insert_str(0, marker::OLD_ROW_READ);
    let Some(row) = db.query_one_raw(stmt).await? else { return Ok(None) };
    decode_old_row(table_of::<A::Entity>, || <ModelOf<A> as FromQueryResult>::from_query_result(&row, "")).map(Some)
}

/// Runs `decode` on a row of `table` read for its old values, with a panic of the driver's
/// decoding turned into an error: sqlx panics on a value chrono cannot hold (a PostgreSQL
/// `infinity` or `-infinity` date or timestamp), in a row that plain SeaORM deletes (or updates
/// without `RETURNING`) without ever reading it. The write is refused: nothing was written yet.
/// (`table` is named only then: the decoding of every audited update runs here.)
pub(crate) fn decode_old_row<T>(
    table: impl FnOnce() -> String,
    decode: impl FnOnce() -> Result<T, DbErr>,
) -> Result<T, DbErr> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|text| (*text).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Err(DbErr::Type(format!(
            "audit_seaorm: the old values of a row of `{}` cannot be read for its audit event (decoding them \
             failed: {why}); nothing was written",
            table()
        )))
    })
}

/// The columns `entries` name, by their names in the table. An entry names every column it
/// can name: the column of that name (in any case) and the column of the model's field of
/// that name (`taxpayer_id` for a column renamed `taxpayerId`); where these differ, both. The
/// first entry that names no column is the error.
fn columns_named<A: AuditedModel>(entries: &[&str]) -> Result<Vec<&'static str>, String> {
    type Column<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Column;
    let mut names = Vec::with_capacity(entries.len());
    for entry in entries {
        let by_field = entry.parse::<Column<A>>().ok().map(|column| sea_orm::IdenStatic::as_str(&column));
        let mut found = false;
        for column in <Column<A> as Iterable>::iter() {
            let name = sea_orm::IdenStatic::as_str(&column);
            if name.eq_ignore_ascii_case(entry) || by_field == Some(name) {
                found = true;
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        if !found {
            let table = table_of::<A::Entity>();
            let columns: Vec<&str> =
                <Column<A> as Iterable>::iter().map(|column| sea_orm::IdenStatic::as_str(&column)).collect();
            return Err(format!(
                "the entity of table {table} names {entry:?}, which is not one of its columns ({})",
                columns.join(", ")
            ));
        }
    }
    Ok(names)
}

/// The columns `A::REDACT` names ([`columns_named`]). An entry that names no column is an
/// error, not a column left in clear: the write is refused, so that a misspelled secret is
/// found at the first write.
pub(crate) fn redacted_columns<A: AuditedModel>() -> Result<Vec<String>, DbErr> {
    match columns_named::<A>(A::REDACT) {
        Ok(names) => Ok(names.into_iter().map(str::to_string).collect()),
        Err(why) => Err(DbErr::Custom(format!(
            "audit_seaorm: {why} in `redact`: nothing was written; name the column or its field in `redact` (a \
             value named wrongly would be recorded in clear)"
        ))),
    }
}

/// The columns `A::IGNORE` names ([`columns_named`]). An entry that names no column refuses
/// the write, as in `redact`: a column meant to stay out of the trail would be recorded in
/// every event.
pub(crate) fn ignored_columns<A: AuditedModel>() -> Result<Vec<&'static str>, DbErr> {
    if A::IGNORE.is_empty() {
        return Ok(Vec::new());
    }
    columns_named::<A>(A::IGNORE).map_err(|why| {
        DbErr::Custom(format!(
            "audit_seaorm: {why} in `ignore`: nothing was written; name the column or its field in `ignore` (a \
             column named wrongly would be recorded in every event)"
        ))
    })
}

/// `ActiveModelBehavior::before_save`: refuses a non-audited connection before anything is
/// written, reads the old row of an update (or, on PostgreSQL and SQLite, leaves that read
/// to the connection, which sends it with the UPDATE) and announces the write.
///
/// An entity with hook logic of its own calls it *last*, on the model as it will be written:
/// an insert is matched to its statement by the number of columns the model sets, so a
/// column set after this call makes the statement look like a bulk write (a `bulk` event, or
/// a refusal in strict mode).
pub async fn before_save<A, C>(am: A, db: &C, insert: bool) -> Result<A, DbErr>
where
    A: AuditedModel,
    C: ConnectionTrait,
{
    let table = table_of::<A::Entity>();
    probe(db, &table).await?;
    if insert {
        // SeaORM's INSERT binds one value per column set (or unchanged) in the model.
        let values = <<A::Entity as EntityTrait>::Column as Iterable>::iter()
            .filter(|column| !matches!(am.get(*column), ActiveValue::NotSet))
            .count();
        let key = key_values_of_active(&am).map(|key| key_json(&key));
        let key_source = match (db.get_database_backend(), key.is_some()) {
            (DbBackend::MySql, _) if <<A::Entity as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::auto_increment() => {
                Some(KeySource::LastInsertId)
            }
            (DbBackend::MySql, true) => Some(KeySource::Model),
            _ => None,
        };
        let begin = Message::Begin {
            table,
            verb: WriteVerb::Insert,
            key,
            stored_key: None,
            key_columns: key_columns_of::<A::Entity>(),
            old: None,
            redact: redacted_columns::<A>()?,
            values: Some(values),
            no_statement: false,
            new: Some(row_of_active(&am, &ignored_columns::<A>()?)),
            old_read: None,
            key_source,
        };
        send(db, begin).await?;
        return Ok(am);
    }
    let Some(key) = key_values_of_active(&am) else {
        return Ok(am); // SeaORM refuses an update without its key
    };
    // SeaORM sends an UPDATE only if a column besides the key is set: otherwise there is
    // nothing to read or to announce.
    let sends = <<A::Entity as EntityTrait>::Column as Iterable>::iter()
        .filter(|column| <<A::Entity as EntityTrait>::PrimaryKey as PrimaryKeyToColumn>::from_column(*column).is_none())
        .any(|column| matches!(am.get(column), ActiveValue::Set(_)));
    // On PostgreSQL and SQLite the connection reads the old row with the UPDATE (see old_row).
    let old_read = if sends { old_row::register::<A>(db.get_database_backend()) } else { None };
    let read = if sends && old_read.is_none() { read_locked::<A, C>(db, &key).await? } else { None };
    let key = key_json(&key);
    // SeaORM reads the updated row back by the model's key, and hands `after_save` the row as
    // stored: its key is the one the write's events name.
    let ignore = ignored_columns::<A>()?;
    let old = read.as_ref().map(|model| row_of(model, &ignore));
    let stored_key = read.map(|model| key_json(&key_values_of(&model))).filter(|stored| *stored != key);
    let begin = Message::Begin {
        table,
        verb: WriteVerb::Update,
        key: Some(key),
        stored_key,
        key_columns: key_columns_of::<A::Entity>(),
        old,
        redact: redacted_columns::<A>()?,
        values: None,
        no_statement: !sends,
        new: None,
        old_read,
        key_source: None,
    };
    send(db, begin).await?;
    Ok(am)
}

/// `ActiveModelBehavior::after_save`: hands the row as written to the connection, which
/// records it (create: every column; update: the changed columns with old and new).
pub async fn after_save<A, C>(model: ModelOf<A>, db: &C, insert: bool) -> Result<ModelOf<A>, DbErr>
where
    A: AuditedModel,
    C: ConnectionTrait,
{
    let message = Message::End {
        table: table_of::<A::Entity>(),
        verb: if insert { WriteVerb::Insert } else { WriteVerb::Update },
        key: key_json(&key_values_of(&model)),
        key_columns: key_columns_of::<A::Entity>(),
        row: Some(row_of(&model, &ignored_columns::<A>()?)),
        redact: redacted_columns::<A>()?,
    };
    send(db, message).await?;
    Ok(model)
}

/// `ActiveModelBehavior::before_delete`: refuses a non-audited connection, reads the row
/// about to be deleted and announces the delete.
pub async fn before_delete<A, C>(am: A, db: &C) -> Result<A, DbErr>
where
    A: AuditedModel,
    C: ConnectionTrait,
{
    let table = table_of::<A::Entity>();
    probe(db, &table).await?;
    let Some(key) = key_values_of_active(&am) else {
        return Ok(am);
    };
    // (`after_delete` is handed the model as deleted, with its own spelling of the key.)
    let ignore = ignored_columns::<A>()?;
    let old = read_locked::<A, C>(db, &key).await?.map(|model| row_of(&model, &ignore));
    let redact = redacted_columns::<A>()?;
    let begin = Message::Begin {
        table,
        verb: WriteVerb::Delete,
        key: Some(key_json(&key)),
        stored_key: None,
        key_columns: key_columns_of::<A::Entity>(),
        old,
        redact,
        values: None,
        no_statement: false,
        new: None,
        old_read: None,
        key_source: None,
    };
    send(db, begin).await?;
    Ok(am)
}

/// `ActiveModelBehavior::after_delete`: records the deleted row (every column as `old`), if
/// a row was deleted.
pub async fn after_delete<A, C>(am: A, db: &C) -> Result<A, DbErr>
where
    A: AuditedModel,
    C: ConnectionTrait,
{
    let Some(key) = key_values_of_active(&am) else {
        return Ok(am);
    };
    let message = Message::End {
        table: table_of::<A::Entity>(),
        verb: WriteVerb::Delete,
        key: key_json(&key),
        key_columns: key_columns_of::<A::Entity>(),
        row: None,
        redact: redacted_columns::<A>()?,
    };
    send(db, message).await?;
    Ok(am)
}
