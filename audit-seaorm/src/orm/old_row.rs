//! The old row of a hooked update on PostgreSQL, read by the UPDATE statement itself.
//!
//! Elsewhere `before_save` reads the row before the write (`SELECT … FOR UPDATE`, a round
//! trip of its own). On PostgreSQL it leaves the read to the connection instead, which puts
//! it into SeaORM's `UPDATE … RETURNING` as a locked subquery:
//!
//! ```sql
//! UPDATE "users" SET "score" = $1
//!   FROM (SELECT "id" AS "audit_seaorm_old.id", … FROM "users" WHERE "id" = $2 FOR UPDATE)
//!     AS "audit_seaorm_old"
//!   WHERE "users"."id" = $2
//!   RETURNING "id", "score", …, "audit_seaorm_old".*
//! ```
//!
//! The subquery locks the row and reads it as it is when the lock is granted (under READ
//! COMMITTED, the newest committed version), so the old values are exactly those the UPDATE
//! replaces, in one statement, also on the autocommit connection. SeaORM reads its model from
//! the returned row by column name and ignores the `audit_seaorm_old.*` columns; the connection
//! decodes those with the entity's own `FromQueryResult` (registered here by the hook, since
//! the connection is not generic over entities). A statement that does not have the shape
//! SeaORM gives it (and `update_without_returning`, which sends no `RETURNING`) gets the
//! subquery as a read of its own just before it, as on the other backends.

use super::event::Row;
use super::hooks::{AuditedModel, row_of};
use sea_orm::{
    DbBackend, DbErr, EntityTrait, FromQueryResult, IdenStatic, Iterable, PrimaryKeyToColumn, QueryResult, QuerySelect,
    QueryTrait, Statement, Value,
};
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

/// The subquery's alias; its columns are named `audit_seaorm_old.<column>`.
const ALIAS: &str = "audit_seaorm_old";
/// The prefix of the subquery's column names.
const PREFIX: &str = "audit_seaorm_old.";
/// PostgreSQL truncates longer names (`NAMEDATALEN - 1`).
const MAX_NAME: usize = 63;

/// How to read one entity's old row.
pub(crate) struct OldRowRead {
    /// `SELECT <column> AS "audit_seaorm_old.<column>", … FROM <table>`.
    select: String,
    /// The primary key's columns, quoted, in the order of its values.
    key_columns: Vec<String>,
    /// The entity's model from the prefixed columns, as the hooks' row.
    decode: fn(&QueryResult) -> Result<Row, DbErr>,
}

impl std::fmt::Debug for OldRowRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OldRowRead").field("select", &self.select).finish_non_exhaustive()
    }
}

/// One entry per audited entity type (by type name), built by its first hooked update.
static READS: LazyLock<RwLock<HashMap<&'static str, &'static OldRowRead>>> = LazyLock::new(Default::default);

fn decode<A: AuditedModel>(row: &QueryResult) -> Result<Row, DbErr> {
    let model = <<A::Entity as EntityTrait>::Model as FromQueryResult>::from_query_result(row, PREFIX)?;
    Ok(row_of(&model, A::IGNORE))
}

/// `"name"`, PostgreSQL-quoted.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The name under which the connection knows how to read `A`'s old row, or `None` where
/// the hook must read it itself (another backend, or a column name too long to prefix).
pub(crate) fn register<A: AuditedModel>(backend: DbBackend) -> Option<&'static str> {
    if backend != DbBackend::Postgres {
        return None;
    }
    let name = std::any::type_name::<A>();
    if READS.read().unwrap_or_else(|e| e.into_inner()).contains_key(name) {
        return Some(name);
    }
    let columns: Vec<_> = <<A::Entity as EntityTrait>::Column as Iterable>::iter().collect();
    if columns.iter().any(|c| PREFIX.len() + c.as_str().len() > MAX_NAME) {
        return None;
    }
    let mut select = <A::Entity as EntityTrait>::find().select_only();
    for column in columns {
        select = select.column_as(column, format!("{PREFIX}{}", column.as_str()));
    }
    let read = OldRowRead {
        select: select.build(backend).sql,
        key_columns: <<A::Entity as EntityTrait>::PrimaryKey as Iterable>::iter()
            .map(|pk| quoted(pk.into_column().as_str()))
            .collect(),
        decode: decode::<A>,
    };
    let mut reads = READS.write().unwrap_or_else(|e| e.into_inner());
    reads.entry(name).or_insert_with(|| Box::leak(Box::new(read)));
    Some(name)
}

/// The read registered under `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static OldRowRead> {
    READS.read().unwrap_or_else(|e| e.into_inner()).get(name).copied()
}

impl OldRowRead {
    /// The read of the row whose key values are parameters `$first`, `$first + 1`, …
    fn sql(&self, first: usize, lock: bool) -> String {
        let mut sql = format!("{} WHERE ", self.select);
        for (i, column) in self.key_columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(" AND ");
            }
            sql.push_str(&format!("{column} = ${}", first + i));
        }
        if lock {
            sql.push_str(" FOR UPDATE");
        }
        sql
    }

    /// `update`, an `UPDATE … WHERE … RETURNING …` binding `values` values that end with the
    /// row's key, with the read as a locked subquery and its columns added to what it
    /// returns; `None` if the statement does not have that shape.
    pub(crate) fn fused(&self, update: &str, values: usize) -> Option<String> {
        let first = values.checked_sub(self.key_columns.len())? + 1;
        let (where_at, returning_at) = super::sql::update_clauses(update)?;
        returning_at?;
        let subquery = self.sql(first, true);
        let alias = quoted(ALIAS);
        Some(format!(
            "{}FROM ({subquery}) AS {alias} {}, {alias}.*",
            &update[..where_at],
            update[where_at..].trim_end()
        ))
    }

    /// The read as a statement of its own, binding `key` (the write's last values); locked
    /// inside a transaction.
    pub(crate) fn separate(&self, key: &[Value], lock: bool) -> Statement {
        Statement::from_sql_and_values(DbBackend::Postgres, self.sql(1, lock), key.iter().cloned())
    }

    /// The row the read returned.
    pub(crate) fn decode(&self, row: &QueryResult) -> Result<Row, DbErr> {
        (self.decode)(row)
    }

    /// How many key values the read binds.
    pub(crate) fn key_len(&self) -> usize {
        self.key_columns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users_read() -> OldRowRead {
        OldRowRead {
            select: r#"SELECT "users"."id" AS "audit_seaorm_old.id" FROM "users""#.into(),
            key_columns: vec![quoted("id")],
            decode: |_| Ok(Row::new()),
        }
    }

    #[test]
    fn the_read_goes_into_the_update_as_a_locked_subquery_reusing_its_key_parameter() {
        let update = r#"UPDATE "users" SET "score" = $1, "name" = $2 WHERE "users"."id" = $3 RETURNING "id", "score""#;
        assert_eq!(
            users_read().fused(update, 3).as_deref(),
            Some(
                r#"UPDATE "users" SET "score" = $1, "name" = $2 FROM (SELECT "users"."id" AS "audit_seaorm_old.id" FROM "users" WHERE "id" = $3 FOR UPDATE) AS "audit_seaorm_old" WHERE "users"."id" = $3 RETURNING "id", "score", "audit_seaorm_old".*"#
            )
        );
    }

    #[test]
    fn statements_of_another_shape_keep_a_read_of_their_own() {
        let read = users_read();
        for (update, values) in [
            (r#"UPDATE "users" SET "score" = $1 WHERE "users"."id" = $2"#, 2), // no RETURNING
            (r#"UPDATE "users" SET "score" = $1 FROM t WHERE "users"."id" = $2 RETURNING "id""#, 2),
            (r#"WITH x AS (SELECT 1) UPDATE "users" SET "score" = $1 WHERE "id" = $2 RETURNING "id""#, 2),
            (r#"UPDATE "users" SET "score" = $1 WHERE "id" = $2 RETURNING "id" -- note"#, 2),
            (r#"UPDATE "users" SET "score" = $1 WHERE "id" = $2 RETURNING "id";"#, 2),
            (r#"UPDATE "users" SET "score" = $1 RETURNING "id""#, 1), // no WHERE
            (r#"DELETE FROM "users" WHERE "id" = $1 RETURNING "id""#, 1),
            (r#"UPDATE "users" SET "score" = $1 WHERE "id" = $2 RETURNING "id""#, 0), // fewer values than the key
        ] {
            assert_eq!(read.fused(update, values), None, "{update}");
        }
    }

    #[test]
    fn clauses_inside_parentheses_literals_and_quoted_names_are_not_the_statements_own() {
        let update = r#"UPDATE "users" SET "note" = 'WHERE', "n" = (SELECT n FROM c WHERE c.id = $1), "WHERE" = $2 WHERE "id" = $3 RETURNING "id""#;
        let (where_at, returning_at) = crate::orm::sql::update_clauses(update).expect("SeaORM's shape");
        assert!(update[where_at..].starts_with(r#"WHERE "id" = $3"#));
        assert!(update[returning_at.expect("a RETURNING")..].starts_with("RETURNING"));
    }
}
