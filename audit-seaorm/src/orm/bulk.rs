//! Audited bulk writes: one event per row, with old and new values, like the hooks record.
//!
//! SeaORM's `insert_many`, `update_many` and `delete_many` run no hooks. These helpers do the
//! same work and record per-row diffs; each runs in a transaction (a savepoint when given an
//! [`AuditedTransaction`]). Where the backend has `RETURNING` (PostgreSQL; SQLite with
//! sea-orm's default `sqlite-use-returning-for-3_35`), a delete returns the rows it deleted
//! and an update the rows as it left them; otherwise the rows are read before (locked, see
//! [`crate::orm::hooks`] on locks) and after.
//!
//! ```
//! # mod users {
//! #     use sea_orm::entity::prelude::*;
//! #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
//! #     #[sea_orm(table_name = "users")]
//! #     pub struct Model {
//! #         #[sea_orm(primary_key)]
//! #         pub id: i32,
//! #         pub team: String,
//! #         pub score: i32,
//! #     }
//! #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! #     pub enum Relation {}
//! #     audit_seaorm::audited!(ActiveModel);
//! # }
//! use audit_seaorm::orm::bulk;
//! use audit_seaorm::AuditedDb;
//! use sea_orm::{ColumnTrait, Condition, DbErr, ExprTrait, sea_query::Expr};
//!
//! // UPDATE users SET score = score + 1 WHERE team = 'red', one `update` event per row:
//! async fn reward_red_team(db: &AuditedDb) -> Result<Vec<users::Model>, DbErr> {
//!     let red = Condition::all().add(users::Column::Team.eq("red"));
//!     bulk::update_many::<users::Entity, _>(db, red, |u| {
//!         u.col_expr(users::Column::Score, Expr::col(users::Column::Score).add(1))
//!     })
//!     .await
//! }
//! ```

use super::conn::AuditedTransaction;
use super::event::{self, OrmEvent, resource_id};
use super::hooks::{
    AuditedModel, ignored_columns, key_condition, key_json, key_values_of, redacted_columns, row_of, table_of,
};
use sea_orm::{
    Condition, ConnectionTrait, DbErr, EntityTrait, IdenStatic, IntoActiveModel, Iterable, PrimaryKeyToColumn,
    QueryFilter, QuerySelect, QueryTrait, TransactionTrait, UpdateMany, Value,
};
use std::collections::HashMap;

/// Rows per statement when the helpers name rows by key.
const CHUNK: usize = 200;

fn keys_condition<E: EntityTrait>(keys: &[Vec<Value>]) -> Condition {
    keys.iter().fold(Condition::any(), |any, key| any.add(key_condition::<E>(key)))
}

/// Inserts `models` and records a `create` event per row (every column as `new`). Returns
/// the inserted rows. Uses one multi-row `INSERT … RETURNING` where the backend supports
/// it, else one `INSERT` per row.
pub async fn insert_many<A, D>(
    db: &D,
    models: impl IntoIterator<Item = A>,
) -> Result<Vec<<A::Entity as EntityTrait>::Model>, DbErr>
where
    A: AuditedModel + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    D: TransactionTrait<Transaction = AuditedTransaction>,
{
    let models: Vec<A> = models.into_iter().collect();
    let redact = redacted_columns::<A>()?;
    let redact: Vec<&str> = redact.iter().map(String::as_str).collect();
    let ignore = ignored_columns::<A>()?;
    let txn = db.begin().await?;
    let raw = txn.raw();
    let inserted = if raw.support_returning() {
        txn.raw_result(<A::Entity as EntityTrait>::insert_many(models).exec_with_returning(raw).await).await?
    } else {
        let mut inserted = Vec::with_capacity(models.len());
        for model in models {
            inserted
                .push(txn.raw_result(<A::Entity as EntityTrait>::insert(model).exec_with_returning(raw).await).await?);
        }
        inserted
    };
    let table = table_of::<A::Entity>();
    let events = inserted
        .iter()
        .map(|model| {
            let mut event = OrmEvent::new("create", &table, txn.shown_id::<A::Entity>(&key_values_of(model), &redact));
            event.changes = event::created(row_of(model, &ignore));
            txn.redact(&mut event, &redact);
            event
        })
        .collect();
    txn.push_events(events);
    txn.commit().await?;
    Ok(inserted)
}

/// `UPDATE … WHERE filter` with what `set` adds to the `UpdateMany` (`col_expr`, `set`),
/// recording an `update` event per changed row (changed columns, old and new). Returns the
/// rows after the update. An update whose `set` assigns a primary-key column is refused
/// before anything runs (each event names its row by key, and the rows after the update
/// are matched to those before by key): delete the rows and insert them under their new
/// keys ([`delete_many`] and [`insert_many`] record both).
pub async fn update_many<E, D>(
    db: &D,
    filter: Condition,
    set: impl Fn(UpdateMany<E>) -> UpdateMany<E> + Send + Sync,
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::ActiveModel: AuditedModel,
    D: TransactionTrait<Transaction = AuditedTransaction>,
{
    if let Some(column) = key_column_set(&set(E::update_many())) {
        return Err(DbErr::Custom(format!(
            "audit_seaorm bulk::update_many: refused an update that sets the primary-key column `{column}` of `{}`: \
             its events could not name the rows it moves. Nothing was written. Delete the rows and insert them \
             under their new keys (bulk::delete_many and bulk::insert_many record both)",
            table_of::<E>()
        )));
    }
    let redact = redacted_columns::<E::ActiveModel>()?;
    let redact: Vec<&str> = redact.iter().map(String::as_str).collect();
    let ignore = ignored_columns::<E::ActiveModel>()?;
    let txn = db.begin().await?;
    let raw = txn.raw();
    let old = txn.raw_result(E::find().filter(filter.clone()).lock_exclusive().all(raw).await).await?;
    let keys: Vec<Vec<Value>> = old.iter().map(key_values_of).collect();
    let mut after: HashMap<String, E::Model> = HashMap::with_capacity(old.len());
    for chunk in keys.chunks(CHUNK) {
        let update = set(E::update_many()).filter(filter.clone()).filter(keys_condition::<E>(chunk));
        let updated = if raw.support_returning() {
            txn.raw_result(update.exec_with_returning(raw).await).await?
        } else {
            txn.raw_result(update.exec(raw).await).await?;
            txn.raw_result(E::find().filter(keys_condition::<E>(chunk)).all(raw).await).await?
        };
        for model in updated {
            after.insert(resource_id(&key_json(&key_values_of(&model))), model);
        }
    }
    let table = table_of::<E>();
    let mut events = Vec::new();
    let mut rows = Vec::with_capacity(old.len());
    for (before, key) in old.iter().zip(&keys) {
        let id = resource_id(&key_json(key));
        let Some(model) = after.remove(&id) else { continue };
        let changes = event::updated(row_of(before, &ignore), row_of(&model, &ignore));
        if !changes.is_empty() {
            let mut event = OrmEvent::new("update", &table, txn.shown_id::<E>(key, &redact));
            event.changes = changes;
            txn.redact(&mut event, &redact);
            events.push(event);
        }
        rows.push(model);
    }
    txn.push_events(events);
    txn.commit().await?;
    Ok(rows)
}

/// The primary-key column that `update` assigns, if any.
fn key_column_set<E: EntityTrait>(update: &UpdateMany<E>) -> Option<String> {
    let keys: Vec<&str> = <E::PrimaryKey as Iterable>::iter().map(|pk| pk.into_column().as_str()).collect();
    update
        .as_query()
        .get_values()
        .iter()
        .map(|(column, _)| column.inner())
        .find(|column| keys.contains(&column.as_ref()))
        .map(String::from)
}

/// `DELETE … WHERE filter`, recording a `delete` event per row (every column as `old`).
/// Returns the number of rows deleted.
pub async fn delete_many<E, D>(db: &D, filter: Condition) -> Result<u64, DbErr>
where
    E: EntityTrait,
    E::ActiveModel: AuditedModel,
    D: TransactionTrait<Transaction = AuditedTransaction>,
{
    let redact = redacted_columns::<E::ActiveModel>()?;
    let redact: Vec<&str> = redact.iter().map(String::as_str).collect();
    let ignore = ignored_columns::<E::ActiveModel>()?;
    let txn = db.begin().await?;
    let raw = txn.raw();
    // The rows as they were when deleted: returned by the DELETE itself, or read (locked)
    // before it and deleted by key.
    let (old, deleted) = if raw.support_returning() {
        let old = txn.raw_result(E::delete_many().filter(filter).exec_with_returning(raw).await).await?;
        let deleted = old.len() as u64;
        (old, deleted)
    } else {
        let old = txn.raw_result(E::find().filter(filter.clone()).lock_exclusive().all(raw).await).await?;
        let keys: Vec<Vec<Value>> = old.iter().map(key_values_of).collect();
        let mut deleted = 0;
        for chunk in keys.chunks(CHUNK) {
            let delete = E::delete_many().filter(filter.clone()).filter(keys_condition::<E>(chunk));
            deleted += txn.raw_result(delete.exec(raw).await).await?.rows_affected;
        }
        (old, deleted)
    };
    let table = table_of::<E>();
    let events = old
        .iter()
        .map(|before| {
            let mut event = OrmEvent::new("delete", &table, txn.shown_id::<E>(&key_values_of(before), &redact));
            event.changes = event::deleted(row_of(before, &ignore));
            txn.redact(&mut event, &redact);
            event
        })
        .collect();
    txn.push_events(events);
    txn.commit().await?;
    Ok(deleted)
}
