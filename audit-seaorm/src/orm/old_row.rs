//! The old row of a hooked update, read by the connection in the same round trip as the
//! UPDATE (PostgreSQL and SQLite).
//!
//! On MySQL `before_save` reads the row before the write (`SELECT … FOR UPDATE`, a round trip
//! of its own). On PostgreSQL and SQLite it leaves the read to the connection instead, which
//! sends it with SeaORM's `UPDATE … RETURNING`. On PostgreSQL as a locked subquery:
//!
//! ```sql
//! UPDATE "users" SET "score" = $1
//!   FROM (SELECT "id" AS "audit_seaorm_old.id", … FROM "users" WHERE "id" = $2 FOR NO KEY UPDATE)
//!     AS "audit_seaorm_old"
//!   WHERE "users"."id" = $2
//!   RETURNING "id", "score", …, "audit_seaorm_old".*
//! ```
//!
//! The subquery locks the row and reads it as it is when the lock is granted (under READ
//! COMMITTED, the newest committed version), so the old values are exactly those the UPDATE
//! replaces, in one statement, also on the autocommit connection. SeaORM reads its model from
//! the returned row by column name and ignores the `audit_seaorm_old.*` columns.
//!
//! SQLite's `RETURNING` cannot name another table of the statement (and a subquery in it sees
//! the new row), so there the read goes first, in the same call, as a statement of its own:
//! `SELECT … WHERE "id" = ?; UPDATE "users" SET "score" = ? WHERE "users"."id" = ? RETURNING …`,
//! binding the key's values once more before the UPDATE's (the driver hands the values out
//! to the statements in order). It runs both on its thread, one after the other; the connection takes the
//! read's row (its columns are the prefixed ones) out of the result. Inside a transaction
//! (`BEGIN IMMEDIATE`) nothing can come between them; on the autocommit connection another
//! connection's write could, as between any read and write there (see the module's limits).
//!
//! The connection decodes the prefixed columns with the entity's own `FromQueryResult`
//! (registered here by the hook, since the connection is not generic over entities). A
//! statement that does not have the shape SeaORM gives it (and `update_without_returning`,
//! which returns no rows) gets the read just before it, as a statement of its own.

use super::event::Row;
use super::hooks::{AuditedModel, decode_old_row, ignored_columns, row_of, table_of};
use foldhash::HashMap;
use sea_orm::sea_query::{Expr, ExprTrait, PostgresQueryBuilder, Query, SqliteQueryBuilder};
use sea_orm::{
    ColumnTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, IdenStatic, Iterable, PrimaryKeyToColumn, QueryResult,
    QuerySelect, QueryTrait, Statement, Value,
};
use std::any::TypeId;
use std::sync::{LazyLock, RwLock};

/// The PostgreSQL subquery's alias, quoted; the read's columns are named `audit_seaorm_old.<column>`.
const ALIAS: &str = r#""audit_seaorm_old""#;
/// The prefix of the read's column names.
const PREFIX: &str = "audit_seaorm_old.";
/// PostgreSQL truncates longer names (`NAMEDATALEN - 1`).
const MAX_NAME: usize = 63;
/// Where a key test's parameter goes (see [`OldRowRead::key_tests`]).
const KEY_VALUE: &str = "audit_seaorm_key_value";

/// How to read one entity's old row on one backend.
pub(crate) struct OldRowRead {
    backend: DbBackend,
    /// `SELECT <column> AS "audit_seaorm_old.<column>", … FROM <table>`.
    select: String,
    /// One test per primary key column, in the order of its values (`"column" = value`, as
    /// sea-query writes it), [`KEY_VALUE`] standing for the parameter (the column's `save_as`
    /// applied, e.g. `CAST(… AS "mood")` for a PostgreSQL enum, as in SeaORM's own WHERE).
    key_tests: Vec<String>,
    /// The entity's model from the prefixed columns, as the hooks' row.
    decode: fn(&QueryResult) -> Result<Row, DbErr>,
    /// [`OldRowRead::fused_sql`]'s answers, by UPDATE text and first key parameter: an
    /// entity's updates come in a few shapes, and reading each again costs more than a lookup.
    /// Looked up under a read lock, so that concurrent updates of an entity do not wait on
    /// each other.
    fused: RwLock<HashMap<String, Vec<(usize, Fused)>>>,
}

/// The fused statement's SQL and how it is fused, or `None` for an UPDATE of another shape.
type Fused = Option<(String, Fusion)>;

/// How many UPDATE texts [`OldRowRead::fused`] keeps per entity before it starts again.
const FUSED_KEPT: usize = 256;

impl std::fmt::Debug for OldRowRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OldRowRead").field("select", &self.select).finish_non_exhaustive()
    }
}

/// The reads built so far (see [`register`]): one per audited entity type and backend, built
/// by its first hooked update there; a read's number is its place in `list`.
#[derive(Default)]
struct Reads {
    numbers: HashMap<(TypeId, &'static str), usize>,
    list: Vec<&'static OldRowRead>,
}

static READS: LazyLock<RwLock<Reads>> = LazyLock::new(Default::default);

fn decode<A: AuditedModel>(row: &QueryResult) -> Result<Row, DbErr> {
    let model = decode_old_row(table_of::<A::Entity>, || {
        <<A::Entity as EntityTrait>::Model as FromQueryResult>::from_query_result(row, PREFIX)
    })?;
    Ok(row_of(&model, &ignored_columns::<A>()?))
}

/// The number under which the connection knows how to read `A`'s old row on `backend`, or
/// `None` where the hook must read it itself (MySQL, or a column name too long to prefix).
pub(crate) fn register<A: AuditedModel>(backend: DbBackend) -> Option<usize> {
    let tag = match backend {
        DbBackend::Postgres => "postgres",
        DbBackend::Sqlite => "sqlite",
        _ => return None,
    };
    let key = (TypeId::of::<A>(), tag);
    if let Some(number) = READS.read().unwrap_or_else(|e| e.into_inner()).numbers.get(&key) {
        return Some(*number);
    }
    let columns: Vec<_> = <<A::Entity as EntityTrait>::Column as Iterable>::iter().collect();
    if backend == DbBackend::Postgres && columns.iter().any(|c| PREFIX.len() + c.as_str().len() > MAX_NAME) {
        return None;
    }
    let mut select = <A::Entity as EntityTrait>::find().select_only();
    for column in columns {
        select = select.column_as(column, format!("{PREFIX}{}", column.as_str()));
    }
    let read = OldRowRead {
        backend,
        select: select.build(backend).sql,
        key_tests: <<A::Entity as EntityTrait>::PrimaryKey as Iterable>::iter()
            .map(|pk| {
                let column = pk.into_column();
                key_test(backend, ExprTrait::eq(Expr::col(column), column.save_as(Expr::cust(KEY_VALUE))))
            })
            .collect(),
        decode: decode::<A>,
        fused: RwLock::default(),
    };
    let mut reads = READS.write().unwrap_or_else(|e| e.into_inner());
    let Reads { numbers, list } = &mut *reads;
    let number = *numbers.entry(key).or_insert_with(|| {
        list.push(Box::leak(Box::new(read)));
        list.len() - 1
    });
    Some(number)
}

/// `test` as SQL text.
fn key_test(backend: DbBackend, test: Expr) -> String {
    let select = Query::select().expr(test).to_owned();
    let sql = match backend {
        DbBackend::Postgres => select.to_string(PostgresQueryBuilder),
        _ => select.to_string(SqliteQueryBuilder),
    };
    sql.strip_prefix("SELECT ").map_or(sql.clone(), str::to_string)
}

/// The read registered under `number`.
pub(crate) fn lookup(number: usize) -> Option<&'static OldRowRead> {
    READS.read().unwrap_or_else(|e| e.into_inner()).list.get(number).copied()
}

/// How the read goes with the UPDATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fusion {
    /// PostgreSQL: a subquery; the old row's columns come in the UPDATE's returned row.
    Subquery,
    /// SQLite: a statement before it, in the same call; the old row comes as a row of its own.
    Prepended,
}

impl OldRowRead {
    /// The read of the row whose key values are parameters `$first`, `$first + 1`, … of the
    /// statement's values on PostgreSQL (locked where asked), the next ones (`?`) on SQLite.
    fn sql(&self, first: usize, lock: bool) -> String {
        let mut sql = format!("{} WHERE ", self.select);
        for (i, test) in self.key_tests.iter().enumerate() {
            if i > 0 {
                sql.push_str(" AND ");
            }
            let parameter = match self.backend {
                DbBackend::Postgres => format!("${}", first + i),
                _ => "?".to_string(),
            };
            sql.push_str(&test.replace(KEY_VALUE, &parameter));
        }
        // The lock an UPDATE that leaves the key alone takes itself: `FOR UPDATE` would also
        // wait for the `FOR KEY SHARE` locks of foreign-key checks (a child row being
        // inserted), where the plain UPDATE does not.
        if lock && self.backend == DbBackend::Postgres {
            sql.push_str(" FOR NO KEY UPDATE");
        }
        sql
    }

    /// Adds the read to `update`, an `UPDATE … WHERE … RETURNING …` whose values end with the
    /// row's key (see the module's documentation), and says how; `None`, with `update`
    /// unchanged, if the statement does not have that shape.
    pub(crate) fn fuse(&self, update: &mut Statement) -> Option<Fusion> {
        let bound = update.values.as_ref().map_or(0, |v| v.0.len());
        let first = bound.checked_sub(self.key_tests.len())? + 1;
        let (sql, fusion) = self.fused_sql_kept(&update.sql, first)?;
        if fusion == Fusion::Prepended {
            // The key's values once more, in front, for the read that goes first.
            let values = &mut update.values.as_mut()?.0;
            let key: Vec<Value> = values[first - 1..].to_vec();
            values.splice(0..0, key);
        }
        update.sql = sql;
        Some(fusion)
    }

    /// [`OldRowRead::fused_sql`], from [`OldRowRead::fused`] when this UPDATE text came before.
    fn fused_sql_kept(&self, update: &str, first: usize) -> Fused {
        let kept = self.fused.read().unwrap_or_else(|e| e.into_inner());
        if let Some((_, fused)) = kept.get(update).and_then(|kept| kept.iter().find(|(f, _)| *f == first)) {
            return fused.clone();
        }
        drop(kept);
        let fused = self.fused_sql(update, first);
        let mut kept = self.fused.write().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= FUSED_KEPT {
            kept.clear();
        }
        kept.entry(update.to_string()).or_default().push((first, fused.clone()));
        fused
    }

    /// The SQL of `update` (an `UPDATE … WHERE … RETURNING …` whose key values are bound from
    /// parameter `first` on) with the read added, and how; `None` if it does not have that shape.
    fn fused_sql(&self, update: &str, first: usize) -> Fused {
        let (where_at, returning_at) = super::sql::update_clauses(update)?;
        returning_at?;
        if self.backend == DbBackend::Sqlite {
            // The values bound in front shift positional parameters only: SeaORM's are plain
            // `?`; one with a number or a name (`?2`, `:a`, `@a`, `$a`) keeps its own read.
            let bytes = update.as_bytes();
            let numbered = bytes.windows(2).any(|w| w[0] == b'?' && w[1].is_ascii_digit());
            if numbered || update.contains([':', '@', '$']) {
                return None;
            }
            return Some((format!("{}; {}", self.sql(1, false), update), Fusion::Prepended));
        }
        let subquery = self.sql(first, true);
        let alias = ALIAS;
        let sql =
            format!("{}FROM ({subquery}) AS {alias} {}, {alias}.*", &update[..where_at], update[where_at..].trim_end());
        Some((sql, Fusion::Subquery))
    }

    /// The read as a statement of its own, binding `key` (the write's last values); locked
    /// inside a transaction (PostgreSQL).
    pub(crate) fn separate(&self, key: &[Value], lock: bool) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql(1, lock), key.iter().cloned())
    }

    /// The row the read returned.
    pub(crate) fn decode(&self, row: &QueryResult) -> Result<Row, DbErr> {
        (self.decode)(row)
    }

    /// How many key values the read binds.
    pub(crate) fn key_len(&self) -> usize {
        self.key_tests.len()
    }
}

/// Whether `row` is the old row's read (its columns are the prefixed ones) rather than a row
/// the UPDATE returned.
pub(crate) fn is_old_row(row: &QueryResult) -> bool {
    row.column_names().first().is_some_and(|name| name.starts_with(PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users_read() -> OldRowRead {
        OldRowRead {
            backend: DbBackend::Postgres,
            select: r#"SELECT "users"."id" AS "audit_seaorm_old.id" FROM "users""#.into(),
            key_tests: vec![format!(r#""id" = {KEY_VALUE}"#)],
            decode: |_| Ok(Row::new()),
            fused: RwLock::default(),
        }
    }

    fn statement(sql: &str, values: usize) -> Statement {
        Statement::from_sql_and_values(DbBackend::Postgres, sql, (0..values).map(|v| Value::Int(Some(v as i32))))
    }

    /// The statement `read` makes of `update` binding `values` values, if any.
    fn fused(read: &OldRowRead, update: &str, values: usize) -> Option<(String, Vec<Value>)> {
        let mut stmt = statement(update, values);
        read.fuse(&mut stmt)?;
        Some((stmt.sql, stmt.values.map(|v| v.0).unwrap_or_default()))
    }

    #[test]
    fn a_kept_fusion_is_the_one_made_anew() {
        let postgres = r#"UPDATE "users" SET "score" = $1 WHERE "users"."id" = $2 RETURNING "id""#;
        let sqlite = r#"UPDATE "users" SET "score" = ? WHERE "users"."id" = ? RETURNING "id""#;
        let other = r#"UPDATE "users" SET "score" = $1 WHERE "users"."id" = $2"#; // no RETURNING
        for (read, update) in
            [(users_read(), postgres), (OldRowRead { backend: DbBackend::Sqlite, ..users_read() }, sqlite)]
        {
            for values in [2, 3, 2] {
                let anew = read.fused_sql(update, values);
                assert!(anew.is_some(), "{update}");
                assert_eq!(read.fused_sql_kept(update, values), anew, "{update} binding {values}");
                assert_eq!(read.fused_sql_kept(update, values), anew, "{update} binding {values}, kept");
                // The statement made from the kept SQL: the SQLite read's key bound in front.
                let (sql, bound) = fused(&read, update, values).expect("fused");
                assert_eq!(Some(sql), anew.map(|(sql, _)| sql));
                let expected = if read.backend == DbBackend::Sqlite { values + 1 } else { values };
                assert_eq!(bound.len(), expected);
            }
            assert_eq!(fused(&read, other, 2), None);
            assert_eq!(fused(&read, other, 2), None, "kept as not fusable");
        }
    }

    #[test]
    fn the_read_goes_into_the_update_as_a_locked_subquery_reusing_its_key_parameter() {
        let update = r#"UPDATE "users" SET "score" = $1, "name" = $2 WHERE "users"."id" = $3 RETURNING "id", "score""#;
        let (sql, values) = fused(&users_read(), update, 3).expect("SeaORM's shape");
        assert_eq!(values.len(), 3, "the values stay as they are");
        assert_eq!(
            Some(sql.as_str()),
            Some(
                r#"UPDATE "users" SET "score" = $1, "name" = $2 FROM (SELECT "users"."id" AS "audit_seaorm_old.id" FROM "users" WHERE "id" = $3 FOR NO KEY UPDATE) AS "audit_seaorm_old" WHERE "users"."id" = $3 RETURNING "id", "score", "audit_seaorm_old".*"#
            )
        );
    }

    #[test]
    fn on_sqlite_the_read_goes_first_binding_the_key_once_more() {
        let sqlite = OldRowRead { backend: DbBackend::Sqlite, ..users_read() };
        let update = r#"UPDATE "users" SET "score" = ?, "name" = ? WHERE "users"."id" = ? RETURNING "id", "score""#;
        let (sql, values) = fused(&sqlite, update, 3).expect("SeaORM's shape");
        assert_eq!(
            sql,
            format!(r#"SELECT "users"."id" AS "audit_seaorm_old.id" FROM "users" WHERE "id" = ?; {update}"#)
        );
        let ints: Vec<_> = values.iter().map(|v| if let Value::Int(Some(i)) = v { *i } else { -1 }).collect();
        assert_eq!(ints, [2, 0, 1, 2], "the key's value, then the UPDATE's");
        for numbered in [
            r#"UPDATE "users" SET "score" = ?1 WHERE "users"."id" = ?2 RETURNING "id""#,
            r#"UPDATE "users" SET "score" = :score WHERE "users"."id" = :id RETURNING "id""#,
        ] {
            assert_eq!(fused(&sqlite, numbered, 2), None, "{numbered}");
        }
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
            assert_eq!(fused(&read, update, values), None, "{update}");
            let sqlite = OldRowRead { backend: DbBackend::Sqlite, ..users_read() };
            assert_eq!(fused(&sqlite, update, values), None, "{update}");
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
