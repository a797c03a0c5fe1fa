//! What the connection wrapper remembers between a hook's `before_*` and `after_*` markers
//! and the write in between.
//!
//! Old row images travel from `before_save`/`before_delete` to `after_*` in a map keyed by
//! (tokio task, table, primary key), held by the transaction (or, for writes directly on
//! [`crate::orm::AuditedDb`], by the connection). Keying by task keeps concurrent requests
//! sharing one `AuditedDb` apart; keying by table and key keeps several rows written in one
//! transaction apart. A `before_*` marker also leaves a *token* ("the next INSERT/UPDATE/
//! DELETE on table T from this task is a hooked write"); the wrapper consumes it when it sees
//! that statement, so it can tell hooked writes from bulk or raw ones.

use super::event::{OrmEvent, Row};
use super::marker::KeySource;
use super::old_row::OldRowRead;
use super::sql::{Verb, Write};
use super::value::value_to_json;
use foldhash::HashMap;
use serde_json::Value as Json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::Id;

/// Entries of a tracker above which those older than [`STALE_AFTER`] are dropped: a hooked
/// write's `before_*`, statement and `after_*` follow each other at once, so an old entry is
/// one whose future was dropped (a cancelled request) and would otherwise stay for good on
/// the connection's own tracker (autocommit writes).
const PRUNE_ABOVE: usize = 256;
/// See [`PRUNE_ABOVE`].
const STALE_AFTER: Duration = Duration::from_secs(60);

/// A hooked write announced by `before_*`.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) task: Option<Id>,
    pub(crate) verb: Verb,
    pub(crate) table: String,
    /// The primary key's resource id; `None` for inserts (the key may not be known yet).
    pub(crate) key: Option<String>,
    /// The resource id the write's events record ([`super::event::shown_id`]: `key` with
    /// secrets kept as keys hidden), if the key is known (for inserts too).
    pub(crate) shown_key: Option<String>,
    /// The primary key's values (empty for inserts). SeaORM's statement for a hooked update
    /// or delete ends with them (`… WHERE pk = $n`): a statement that does not is not this
    /// write, even if it is an UPDATE of the same table from the same task (an `update_many`
    /// after a hooked update that sent no statement, or whose future was dropped).
    pub(crate) key_values: Vec<Json>,
    /// For an insert: how many values its statement binds (one row: an `insert_many` of
    /// several rows is not this write).
    pub(crate) values: Option<usize>,
    /// When `before_*` announced it.
    pub(crate) since: Instant,
    /// For an insert: what its stand-in records if its `after_save` never comes.
    pub(crate) inserted: Option<Box<Inserted>>,
    /// For an update whose old row the connection reads with the statement (PostgreSQL, SQLite).
    pub(crate) deferred: Option<Box<DeferredRead>>,
}

/// The read of an update's old row that its `before_save` left to the connection (see
/// [`super::old_row`]).
#[derive(Clone, Debug)]
pub(crate) struct DeferredRead {
    pub(crate) read: &'static OldRowRead,
    /// The entity's redacted columns (kept with the old row).
    pub(crate) redact: Vec<String>,
}

impl Token {
    /// Whether `other` announces a write of the same kind to the same row from the same task.
    fn same_row(&self, other: &Token) -> bool {
        self.task == other.task && self.verb == other.verb && self.table == other.table && self.key == other.key
    }
}

/// An insert as its `before_save` announced it: the values the model sets.
#[derive(Clone, Debug)]
pub(crate) struct Inserted {
    /// The primary key's resource id, if the model sets every key column.
    pub(crate) key: Option<String>,
    /// The columns the model sets (less the entity's ignored ones), as JSON.
    pub(crate) row: Row,
    /// The entity's redacted columns.
    pub(crate) redact: Vec<String>,
    /// On MySQL: where SeaORM takes the inserted row's key from.
    pub(crate) key_source: Option<KeySource>,
}

/// The row as it was before a hooked update or delete.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) old: Row,
    /// The entity's redacted columns (for an event built without its `after_*` hook).
    pub(crate) redact: Vec<String>,
    /// Rows the write affected, once it ran.
    pub(crate) affected: Option<u64>,
    /// An update with nothing to write (no statement follows; its `after_save` records
    /// nothing).
    pub(crate) no_statement: bool,
    /// When `before_*` read it.
    pub(crate) since: Instant,
}

pub(crate) type PendingKey = (Option<Id>, String, String);

/// A hooked write that ran and waits for its `after_*` hook, with the `bulk` event that
/// stands in for the event the hook will send (and replace). If the hook never comes
/// (`update_without_returning`, a future dropped after the statement), the stand-in is what
/// is recorded: the write's place, actor and old values, without the new ones.
#[derive(Debug)]
pub(crate) struct Ran {
    /// The write as `before_*` announced it.
    pub(crate) token: Token,
    pub(crate) stand_in: StandIn,
    /// When its statement ran.
    pub(crate) since: Instant,
    /// Cleared when a newer announcement for the same row comes: a later `after_*` hook of
    /// that row belongs to the newer write (which may have sent no statement at all).
    pub(crate) claimable: bool,
    /// For a row of a multi-row INSERT or DELETE that wrote fewer rows than it had announced
    /// (`ON CONFLICT DO NOTHING` skipped some, rows were gone): how many `after_*` hooks of
    /// that statement are still to come, shared by its rows (see [`Tracker::ran`]).
    short: Option<Arc<AtomicUsize>>,
}

impl Ran {
    pub(crate) fn new(token: &Token, stand_in: StandIn) -> Ran {
        Ran { token: token.clone(), stand_in, since: Instant::now(), claimable: true, short: None }
    }

    /// Its held stand-in, to record now, leaving [`StandIn::Recorded`] in its place.
    fn take_held(&mut self) -> Option<OrmEvent> {
        match std::mem::replace(&mut self.stand_in, StandIn::Recorded) {
            StandIn::Held(event) => {
                self.since = Instant::now(); // kept one more expiry period, for a hook that still comes
                Some(*event)
            }
            other => {
                self.stand_in = other;
                None
            }
        }
    }

    /// For an insert whose model set its key: that key's resource id.
    fn inserted_key(&self) -> Option<&str> {
        self.token.inserted.as_ref().and_then(|inserted| inserted.key.as_deref())
    }
}

/// What [`Tracker::end`] found for an `after_*` hook.
#[derive(Debug)]
pub(crate) struct Ended {
    /// What `before_*` (or the connection) left: the old row.
    pub(crate) pending: Option<Pending>,
    /// The write's stand-in, which the hook's event replaces.
    pub(crate) stand_in: Option<StandIn>,
    /// Stand-ins of rows its statement did not write (see [`Tracker::ran`]): to drop.
    pub(crate) skipped: Vec<StandIn>,
}

/// Where a stand-in waits.
#[derive(Debug)]
pub(crate) enum StandIn {
    /// Inside a transaction: in its buffer, at the write's place (this is its id), so that a
    /// savepoint rolled back drops it too.
    Buffered(uuid::Uuid),
    /// On the autocommit connection: here, until the hook comes, or is known not to come.
    Held(Box<OrmEvent>),
    /// None: the write wrote nothing although its hook will come (see
    /// [`Tracker::insert_found`]). The hook that takes it records nothing.
    Nothing,
    /// On the autocommit connection: its stand-in was recorded already, its hook thought not
    /// to come (the task's read-back was dropped, a minute passed, `flush`). A hook that comes
    /// all the same records nothing: the write is in the trail once, as its stand-in. Kept
    /// for one more expiry period, then dropped.
    Recorded,
}

/// Tokens, old rows and writes that ran, of one transaction (or of the autocommit connection).
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub(crate) tokens: Vec<Token>,
    pub(crate) pending: HashMap<PendingKey, Pending>,
    /// In the order the writes ran.
    pub(crate) ran: Vec<Ran>,
    /// How long a held stand-in waits for its hook (default [`STALE_AFTER`]; tests shorten it).
    pub(crate) held_expiry: Option<Duration>,
}

/// How the statement's writes split.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Writes announced by a hook (their tokens, consumed).
    pub(crate) hooked: Vec<Token>,
    /// Writes no hook announced.
    pub(crate) bulk: Vec<Write>,
}

impl Plan {
    pub(crate) fn is_empty(&self) -> bool {
        self.hooked.is_empty() && self.bulk.is_empty()
    }
}

/// Whether the statement's bound values end with the key's values (always, for no key).
fn ends_with_key(values: &[sea_orm::Value], key: &[Json]) -> bool {
    values.len() >= key.len() && values[values.len() - key.len()..].iter().zip(key).all(|(v, k)| value_to_json(v) == *k)
}

pub(crate) fn same_table(a: &str, b: &str) -> bool {
    a == b || a.eq_ignore_ascii_case(b)
}

impl Tracker {
    /// Splits `writes` (of a statement with bound `values`) into hooked ones (consuming their
    /// tokens) and the others.
    pub(crate) fn plan(&mut self, task: Option<Id>, writes: Vec<Write>, values: &[sea_orm::Value]) -> Plan {
        let mut plan = Plan::default();
        for write in writes {
            let found = self.tokens.iter().position(|t| {
                t.task == task
                    && t.verb == write.verb
                    && same_table(&t.table, &write.table)
                    && ends_with_key(values, &t.key_values)
                    && t.values.is_none_or(|n| n == values.len())
            });
            match found {
                Some(index) if write.verb == Verb::Delete => {
                    // With the rows announced beside it (SeaORM's removal of many-to-many
                    // links runs `before_delete` per row, then one `DELETE … IN (…)`).
                    let mut indexes = self.announced_deletes(task, &write, values, index);
                    indexes.push(index);
                    indexes.sort_unstable();
                    let mut rows: Vec<Token> = indexes.into_iter().rev().map(|i| self.tokens.remove(i)).collect();
                    rows.reverse();
                    plan.hooked.extend(rows);
                }
                Some(index) => plan.hooked.push(self.tokens.remove(index)),
                None => match self.announced_rows(task, &write, values.len()) {
                    // One INSERT of rows each announced by its own hook (SeaORM's saving of
                    // many-to-many links runs `before_save` per row, then one `insert_many`).
                    Some(indexes) => {
                        let mut rows: Vec<Token> = indexes.into_iter().rev().map(|i| self.tokens.remove(i)).collect();
                        rows.reverse();
                        plan.hooked.extend(rows);
                    }
                    None => plan.bulk.push(write),
                },
            }
        }
        plan
    }

    /// For a DELETE whose bound values end with the key of the announced delete at `found`:
    /// the other announced deletes of its task and table, if the statement binds nothing but
    /// their keys, one whole key after the other (`… IN ((?, ?), (?, ?))`). A statement that
    /// binds anything else (`WHERE tenant = ? AND id = ?`) takes only the one at `found`.
    fn announced_deletes(
        &self,
        task: Option<Id>,
        write: &Write,
        values: &[sea_orm::Value],
        found: usize,
    ) -> Vec<usize> {
        let width = self.tokens[found].key_values.len();
        if width == 0 || !values.len().is_multiple_of(width) {
            return Vec::new();
        }
        let announced = |index: usize, t: &Token| {
            index != found
                && t.task == task
                && t.verb == Verb::Delete
                && same_table(&t.table, &write.table)
                && t.key_values.len() == width
        };
        let is_key =
            |key: &[sea_orm::Value], t: &Token| key.iter().zip(&t.key_values).all(|(v, k)| value_to_json(v) == *k);
        let mut indexes = Vec::new();
        // Every key but the last (the one at `found`).
        for key in values.chunks_exact(width).take(values.len() / width - 1) {
            match self.tokens.iter().enumerate().position(|(index, t)| announced(index, t) && is_key(key, t)) {
                Some(index) if !indexes.contains(&index) => indexes.push(index),
                _ => return Vec::new(), // a value that is not an announced key
            }
        }
        indexes
    }

    /// For a multi-row INSERT binding `bound` values: the oldest announced inserts of its task
    /// and table whose values add up to exactly `bound` (their indexes, ascending), if any.
    fn announced_rows(&self, task: Option<Id>, write: &Write, bound: usize) -> Option<Vec<usize>> {
        if write.verb != Verb::Insert {
            return None;
        }
        let mut indexes = Vec::new();
        let mut sum = 0;
        for (index, token) in self.tokens.iter().enumerate() {
            if token.task != task || token.verb != Verb::Insert || !same_table(&token.table, &write.table) {
                continue;
            }
            sum += token.values?;
            indexes.push(index);
            if sum >= bound {
                break;
            }
        }
        (sum == bound && indexes.len() > 1).then_some(indexes)
    }

    /// After the statement of `plan` ran (`Some(affected)`) or failed (`None`). Returns the
    /// hooked writes that ran and changed something (each needs a stand-in), with their old
    /// rows where `before_*` read one.
    pub(crate) fn settle<'p>(
        &mut self,
        plan: &'p Plan,
        outcome: Option<Option<u64>>,
    ) -> Vec<(&'p Token, Option<u64>, Option<&Pending>)> {
        let Some(affected) = outcome else {
            for token in &plan.hooked {
                if let Some(key) = &token.key {
                    self.pending.remove(&(token.task, token.table.clone(), key.clone()));
                }
            }
            return Vec::new();
        };
        for token in &plan.hooked {
            if let Some(key) = &token.key
                && let Some(pending) = self.pending.get_mut(&(token.task, token.table.clone(), key.clone()))
            {
                pending.affected = affected;
            }
        }
        if affected == Some(0) {
            return Vec::new(); // nothing was written
        }
        // A multi-row DELETE that found fewer rows than announced: the rows whose
        // `before_delete` found none are the ones gone already. They get no stand-in (which
        // would record a removal that did not happen, and count towards the rows written).
        let short_delete = plan.hooked.len() > 1
            && plan.hooked.iter().all(|t| t.verb == Verb::Delete)
            && affected.is_some_and(|n| usize::try_from(n).is_ok_and(|n| n < plan.hooked.len()));
        plan.hooked
            .iter()
            .map(|token| {
                let pending = token
                    .key
                    .as_ref()
                    .and_then(|key| self.pending.get(&(token.task, token.table.clone(), key.clone())));
                (token, affected, pending)
            })
            .filter(|(_, _, pending)| !short_delete || pending.is_some())
            .collect()
    }

    /// Keeps the hooked writes of one statement that ran (see [`Tracker::settle`]), `affected`
    /// rows in all. A multi-row INSERT that wrote fewer rows than it had announced skipped
    /// some (`ON CONFLICT DO NOTHING`, as SeaORM 2 inserts many-to-many links), and SeaORM
    /// calls `after_save` only for the rows it wrote: once that many hooks have come, the
    /// stand-ins left are of rows that were not written, and [`Tracker::end`] drops them. The
    /// same for a multi-row DELETE that found fewer rows than announced (SeaORM calls
    /// `after_delete` for the rows its `RETURNING` gave back).
    pub(crate) fn ran(&mut self, mut ran: Vec<Ran>, affected: Option<u64>) {
        let written = affected.and_then(|n| usize::try_from(n).ok());
        if let Some(written) = written
            && written < ran.len()
            && (ran.iter().all(|r| r.token.verb == Verb::Insert) || ran.iter().all(|r| r.token.verb == Verb::Delete))
        {
            let to_come = Arc::new(AtomicUsize::new(written));
            for r in &mut ran {
                r.short = Some(to_come.clone());
            }
        }
        self.ran.extend(ran);
    }

    /// Takes the held stand-ins whose hook has not come for [`STALE_AFTER`] (an
    /// `update_without_returning` on the autocommit connection): they are to be recorded now.
    pub(crate) fn expire(&mut self) -> Vec<OrmEvent> {
        let after = self.held_expiry.unwrap_or(STALE_AFTER);
        let mut expired = Vec::new();
        self.ran.retain_mut(|r| {
            if r.since.elapsed() < after {
                return true;
            }
            // A held stand-in is recorded and its mark kept; anything else old goes.
            r.take_held().map(|event| expired.push(event)).is_some()
        });
        expired
    }

    /// Takes every held stand-in (at shutdown).
    pub(crate) fn take_all_held(&mut self) -> Vec<OrmEvent> {
        self.ran.iter_mut().filter_map(Ran::take_held).collect()
    }

    /// The held stand-ins of `task` that a statement (`sql` binding `values`) may be the
    /// read-back of: it names their table and, for an update or delete, ends with their key
    /// values (SeaORM reads a written row back by its key).
    pub(crate) fn held_for(&self, task: Option<Id>, sql: &str, values: &[sea_orm::Value]) -> Vec<uuid::Uuid> {
        if sql.starts_with(super::marker::OLD_ROW_READ) {
            return Vec::new(); // a hook's read of the row before a write, never a read-back
        }
        self.ran
            .iter()
            .filter(|r| {
                r.token.task == task
                    && sql.contains(r.token.table.as_str())
                    && ends_with_key(values, &r.token.key_values)
            })
            .filter_map(|r| match &r.stand_in {
                StandIn::Held(event) => Some(event.id),
                StandIn::Buffered(_) | StandIn::Nothing | StandIn::Recorded => None,
            })
            .collect()
    }

    /// Takes the held stand-ins `ids` (their task's future was dropped before their hooks
    /// came).
    pub(crate) fn take_held(&mut self, ids: &[uuid::Uuid]) -> Vec<OrmEvent> {
        self.ran
            .iter_mut()
            .filter(|r| matches!(&r.stand_in, StandIn::Held(event) if ids.contains(&event.id)))
            .filter_map(Ran::take_held)
            .collect()
    }

    /// Registers a `before_*` announcement. Returns the held stand-ins whose hook has not come
    /// for [`STALE_AFTER`] (an `update_without_returning` on the autocommit connection), and
    /// those of earlier writes of the same row by the same task (whose hooks will not come
    /// now): they are recorded now, before this write.
    pub(crate) fn begin(
        &mut self,
        token: Token,
        old: Option<Row>,
        redact: Vec<String>,
        no_statement: bool,
    ) -> Vec<OrmEvent> {
        if self.tokens.len() + self.pending.len() > PRUNE_ABOVE {
            self.tokens.retain(|t| t.since.elapsed() < STALE_AFTER);
            self.pending.retain(|_, p| p.since.elapsed() < STALE_AFTER);
        }
        let mut expired = self.expire();
        if token.key.is_some() {
            for ran in &mut self.ran {
                if ran.token.same_row(&token) {
                    ran.claimable = false;
                }
                // The same task writes the row again: the hook of its earlier write, which
                // would have come before this, will not come. Its held stand-in is recorded now,
                // before this write, not after it at the expiry (a record's last change would
                // read as an update after its deletion).
                if ran.token.task == token.task && ran.token.table == token.table && ran.token.key == token.key {
                    expired.extend(ran.take_held());
                }
            }
            // A new announcement for the row replaces one that sent no statement. (Inserts,
            // whose key is not known, are told apart by their statements' values instead: two
            // of one table may be under way in one task, e.g. with `join!`.)
            self.tokens.retain(|t| !t.same_row(&token));
        }
        if no_statement {
            // Nothing to match a statement to: only the coming `after_save` is told to record
            // nothing.
            if let Some(key) = &token.key {
                let pending =
                    Pending { old: Row::new(), redact, affected: None, no_statement: true, since: token.since };
                self.pending.insert((token.task, token.table.clone(), key.clone()), pending);
            }
            return expired;
        }
        if let Some(key) = &token.key {
            let at = (token.task, token.table.clone(), key.clone());
            match old {
                Some(old) => {
                    self.pending
                        .insert(at, Pending { old, redact, affected: None, no_statement: false, since: token.since });
                }
                // None read yet (the connection reads it with the statement), or no row: an
                // old row left by an earlier write of this row (one that changed nothing, or
                // was cancelled) must not stand for this one's.
                None => {
                    self.pending.remove(&at);
                }
            }
        }
        self.tokens.push(token);
        expired
    }

    /// `token`'s insert (`INSERT … ON DUPLICATE KEY UPDATE` doing nothing, on MySQL) found its
    /// row there already and wrote nothing, yet SeaORM will call its `after_save` (the driver
    /// counts the row as affected, and SeaORM reads the existing row back as the one
    /// inserted): that hook takes a stand-in that records nothing. (Taken like any insert's
    /// stand-in, so also by a hook whose key differs from the model's, as a key that a
    /// case-insensitive collation matched does.)
    pub(crate) fn insert_found(&mut self, token: &Token) {
        self.ran.push(Ran::new(token, StandIn::Nothing));
    }

    /// Keeps the old row that the connection read for `token`'s write (see [`DeferredRead`])
    /// where `before_*` would have left it.
    pub(crate) fn old_row_read(&mut self, token: &Token, old: Row) {
        if let (Some(key), Some(deferred)) = (&token.key, &token.deferred) {
            let pending = Pending {
                old,
                redact: deferred.redact.clone(),
                affected: None,
                no_statement: false,
                since: token.since,
            };
            self.pending.insert((token.task, token.table.clone(), key.clone()), pending);
        }
    }

    /// Takes what `before_*` left for this row and the write's stand-in, dropping a token no
    /// statement consumed (an update with nothing to write sends no SQL). An insert's
    /// stand-in is the newest of its task and table whose model set this key, or else (the
    /// key was generated, or the database changed it) the newest whose model set no key, or
    /// else the newest of its task and table.
    pub(crate) fn end(&mut self, task: Option<Id>, verb: Verb, table: &str, key: &str) -> Ended {
        if verb != Verb::Insert {
            self.tokens
                .retain(|t| !(t.task == task && t.verb == verb && t.table == table && t.key.as_deref() == Some(key)));
        }
        // The newest: an earlier insert of the table whose hook did not come keeps its own.
        let candidate = |r: &Ran| {
            let t = &r.token;
            r.claimable
                && t.task == task
                && t.verb == verb
                && t.table == table
                && match &t.key {
                    Some(ran_key) => ran_key == key,
                    None => verb == Verb::Insert,
                }
        };
        let ran = self
            .ran
            .iter()
            .rposition(|r| candidate(r) && r.inserted_key() == Some(key))
            .or_else(|| self.ran.iter().rposition(|r| candidate(r) && r.inserted_key().is_none()))
            .or_else(|| self.ran.iter().rposition(candidate));
        let mut skipped = Vec::new();
        let stand_in = ran.map(|index| {
            let ran = self.ran.remove(index);
            if let Some(to_come) = &ran.short
                && to_come.fetch_sub(1, Ordering::Relaxed) == 1
            {
                // The statement's last hook: its rows left were not written.
                let (rows_left, others): (Vec<Ran>, Vec<Ran>) = std::mem::take(&mut self.ran)
                    .into_iter()
                    .partition(|r| r.short.as_ref().is_some_and(|s| Arc::ptr_eq(s, to_come)));
                self.ran = others;
                skipped = rows_left.into_iter().map(|r| r.stand_in).collect();
            }
            ran.stand_in
        });
        Ended { pending: self.pending.remove(&(task, table.to_string(), key.to_string())), stand_in, skipped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(key: i64, since: Instant) -> Token {
        Token {
            task: None,
            verb: Verb::Update,
            table: "t".into(),
            key: Some(key.to_string()),
            shown_key: Some(key.to_string()),
            key_values: vec![Json::from(key)],
            values: None,
            since,
            inserted: None,
            deferred: None,
        }
    }

    #[test]
    fn a_statement_is_matched_by_the_key_it_ends_with() {
        let mut tracker = Tracker::default();
        tracker.begin(token(7, Instant::now()), Some(Row::new()), Vec::new(), false);
        let write = || Write { verb: Verb::Update, table: "t".into(), shape: String::new() };
        let other = tracker.plan(None, vec![write()], &[sea_orm::Value::Int(Some(1)), sea_orm::Value::BigInt(Some(8))]);
        assert_eq!((other.hooked.len(), other.bulk.len()), (0, 1), "another row: not the hooked write");
        let own = tracker.plan(None, vec![write()], &[sea_orm::Value::Int(Some(1)), sea_orm::Value::BigInt(Some(7))]);
        assert_eq!((own.hooked.len(), own.bulk.len()), (1, 0));
        assert!(tracker.tokens.is_empty(), "the token is consumed");
    }

    #[test]
    fn a_new_announcement_clears_the_old_row_an_earlier_write_of_its_row_left() {
        let mut tracker = Tracker::default();
        let mut old = Row::new();
        old.insert("score".into(), Json::from(1));
        tracker.begin(token(7, Instant::now()), Some(old), Vec::new(), false);
        let write = Write { verb: Verb::Update, table: "t".into(), shape: String::new() };
        let plan = tracker.plan(None, vec![write], &[sea_orm::Value::Int(Some(2)), sea_orm::Value::BigInt(Some(7))]);
        assert!(tracker.settle(&plan, Some(Some(0))).is_empty(), "it changed nothing");
        assert_eq!(tracker.pending.len(), 1, "its old row stays (its after_save may still come)");
        // The next write of row 7 announces no old row (the connection reads it with the
        // statement, or there was none): the earlier one's must not stand for it.
        tracker.begin(token(7, Instant::now()), None, Vec::new(), false);
        assert!(tracker.pending.is_empty());
    }

    fn insert_token(values: usize) -> Token {
        Token {
            task: None,
            verb: Verb::Insert,
            table: "t".into(),
            key: None,
            shown_key: None,
            key_values: Vec::new(),
            values: Some(values),
            since: Instant::now(),
            inserted: None,
            deferred: None,
        }
    }

    #[test]
    fn a_multi_row_insert_takes_the_announcements_its_values_add_up_to() {
        let insert = || Write { verb: Verb::Insert, table: "t".into(), shape: String::new() };
        let bound = |n: usize| vec![sea_orm::Value::Int(Some(1)); n];
        let mut tracker = Tracker::default();
        for _ in 0..3 {
            tracker.begin(insert_token(3), None, Vec::new(), false);
        }
        let plan = tracker.plan(None, vec![insert()], &bound(5));
        assert_eq!((plan.hooked.len(), plan.bulk.len()), (0, 1), "5 values are no whole rows");
        let plan = tracker.plan(None, vec![insert()], &bound(6));
        assert_eq!((plan.hooked.len(), plan.bulk.len()), (2, 0), "two announced rows");
        assert_eq!(tracker.tokens.len(), 1);
        let plan = tracker.plan(None, vec![insert()], &bound(6));
        assert_eq!((plan.hooked.len(), plan.bulk.len()), (0, 1), "one announcement left: not two rows");
    }

    #[test]
    fn a_multi_row_delete_takes_the_announced_rows_whose_whole_keys_it_binds() {
        let delete = |table: &str, key: [i64; 2]| Token {
            verb: Verb::Delete,
            table: table.into(),
            key: Some(format!("{key:?}")),
            key_values: key.iter().map(|k| Json::from(*k)).collect(),
            ..token(0, Instant::now())
        };
        let mut tracker = Tracker::default();
        for (table, key) in [("t", [1, 2]), ("t", [2, 1]), ("u", [1, 2]), ("t", [1, 3]), ("t", [9, 9])] {
            tracker.tokens.push(delete(table, key));
        }
        let write = Write { verb: Verb::Delete, table: "t".into(), shape: String::new() };
        // `DELETE FROM t WHERE (a, b) IN ((1, 2), (1, 3))`: [2, 1] is bound only across two keys.
        let bound: Vec<sea_orm::Value> = [1, 2, 1, 3].into_iter().map(|v: i64| v.into()).collect();
        let plan = tracker.plan(None, vec![write], &bound);
        let keys: Vec<&str> = plan.hooked.iter().filter_map(|t| t.key.as_deref()).collect();
        assert_eq!(keys, ["[1, 2]", "[1, 3]"], "in the order announced");
        let left: Vec<(&str, &str)> =
            tracker.tokens.iter().map(|t| (t.table.as_str(), t.key.as_deref().unwrap_or_default())).collect();
        assert_eq!(left, [("t", "[2, 1]"), ("u", "[1, 2]"), ("t", "[9, 9]")]);

        // A statement binding something besides announced keys (here `3, 3` before `9, 9`)
        // takes only the key it ends with.
        tracker.tokens.push(delete("t", [7, 7]));
        let bound: Vec<sea_orm::Value> = [3, 3, 9, 9].into_iter().map(|v: i64| v.into()).collect();
        let write = Write { verb: Verb::Delete, table: "t".into(), shape: String::new() };
        let plan = tracker.plan(None, vec![write], &bound);
        let keys: Vec<&str> = plan.hooked.iter().filter_map(|t| t.key.as_deref()).collect();
        assert_eq!(keys, ["[9, 9]"]);
    }

    /// Inserts of table `t` that ran, with these keys set by their models, and their
    /// stand-ins' ids.
    fn inserts(keys: &[Option<&str>]) -> (Vec<Ran>, Vec<uuid::Uuid>) {
        keys.iter()
            .map(|key| {
                let mut token = insert_token(3);
                token.inserted = Some(Box::new(Inserted {
                    key: key.map(str::to_string),
                    row: Row::new(),
                    redact: Vec::new(),
                    key_source: None,
                }));
                let held = OrmEvent::new("bulk", "t", String::new());
                let id = held.id;
                (Ran::new(&token, StandIn::Held(Box::new(held))), id)
            })
            .unzip()
    }

    /// [`inserts`], held in `tracker`.
    fn inserts_ran(tracker: &mut Tracker, keys: &[Option<&str>]) -> Vec<uuid::Uuid> {
        let (ran, ids) = inserts(keys);
        tracker.ran.extend(ran);
        ids
    }

    fn held(stand_in: Option<&StandIn>) -> Option<uuid::Uuid> {
        match stand_in {
            Some(StandIn::Held(event)) => Some(event.id),
            _ => None,
        }
    }

    #[test]
    fn the_rows_a_multi_row_insert_skipped_are_dropped_once_its_last_hook_came() {
        let mut tracker = Tracker::default();
        let (ran, ids) = inserts(&[Some("a"), Some("b"), Some("c")]);
        tracker.ran(ran, Some(2)); // `ON CONFLICT DO NOTHING` skipped one
        let ended = tracker.end(None, Verb::Insert, "t", "c");
        assert_eq!((held(ended.stand_in.as_ref()), ended.skipped.len()), (Some(ids[2]), 0), "one hook to come");
        let ended = tracker.end(None, Verb::Insert, "t", "a");
        assert_eq!(held(ended.stand_in.as_ref()), Some(ids[0]));
        let skipped: Vec<_> = ended.skipped.iter().map(|s| held(Some(s))).collect();
        assert_eq!(skipped, [Some(ids[1])], "b was not written");
        assert!(tracker.ran.is_empty());

        // Every row written, or a single row: nothing is dropped.
        let (ran, _) = inserts(&[Some("x"), Some("y")]);
        tracker.ran(ran, Some(2));
        assert!(tracker.end(None, Verb::Insert, "t", "x").skipped.is_empty());
        assert_eq!(tracker.ran.len(), 1, "y waits for its hook");
        let (ran, _) = inserts(&[Some("z")]);
        tracker.ran(ran, Some(1));
        assert!(tracker.end(None, Verb::Insert, "t", "z").skipped.is_empty());
        assert_eq!(tracker.ran.len(), 1);
    }

    #[test]
    fn an_insert_hook_takes_the_stand_in_of_its_own_key_or_else_the_newest() {
        let mut tracker = Tracker::default();
        let ids = inserts_ran(&mut tracker, &[Some("a"), Some("b"), None]);
        // Hooks come back in another order than the statements ran (`join!`).
        assert_eq!(held(tracker.end(None, Verb::Insert, "t", "a").stand_in.as_ref()), Some(ids[0]), "its own key");
        assert_eq!(
            held(tracker.end(None, Verb::Insert, "t", "42").stand_in.as_ref()),
            Some(ids[2]),
            "generated: the keyless one"
        );
        assert_eq!(held(tracker.end(None, Verb::Insert, "t", "b").stand_in.as_ref()), Some(ids[1]));
        assert!(tracker.ran.is_empty());

        // The newest set a key; a generated key's hook takes the keyless one, not it.
        let ids = inserts_ran(&mut tracker, &[None, Some("a")]);
        assert_eq!(held(tracker.end(None, Verb::Insert, "t", "42").stand_in.as_ref()), Some(ids[0]));
        assert_eq!(held(tracker.end(None, Verb::Insert, "t", "a").stand_in.as_ref()), Some(ids[1]));
    }

    #[test]
    fn held_stand_ins_whose_hook_did_not_come_for_a_minute_are_handed_back() {
        let Some(long_ago) = Instant::now().checked_sub(STALE_AFTER + Duration::from_secs(1)) else { return };
        let mut tracker = Tracker::default();
        let held = OrmEvent::new("bulk", "t", "1".into());
        let id = held.id;
        let mut ran = Ran::new(&token(1, long_ago), StandIn::Held(Box::new(held)));
        ran.since = long_ago;
        tracker.ran.push(ran);
        tracker
            .ran
            .push(Ran::new(&token(2, Instant::now()), StandIn::Held(Box::new(OrmEvent::new("bulk", "t", "2".into())))));
        let expired = tracker.begin(token(3, Instant::now()), None, Vec::new(), false);
        assert_eq!(expired.iter().map(|e| e.id).collect::<Vec<_>>(), [id], "only the old one");
        // Its place is kept, marked recorded, for a hook that still comes: it records nothing.
        assert_eq!(tracker.ran.len(), 2);
        let ended = tracker.end(None, Verb::Update, "t", "1");
        assert!(matches!(ended.stand_in, Some(StandIn::Recorded)), "{:?}", ended.stand_in);
        // A mark whose hook never came goes at the next expiry; the held one is recorded.
        tracker.held_expiry = Some(Duration::ZERO);
        tracker.ran.push(Ran::new(&token(4, Instant::now()), StandIn::Recorded));
        assert_eq!(tracker.expire().len(), 1, "the held one");
        assert_eq!(tracker.expire().len(), 0);
        assert!(tracker.ran.is_empty(), "{:?}", tracker.ran);
    }

    #[test]
    fn entries_left_by_dropped_futures_are_pruned() {
        let Some(long_ago) = Instant::now().checked_sub(STALE_AFTER + Duration::from_secs(1)) else { return };
        let mut tracker = Tracker::default();
        for key in 0..=PRUNE_ABOVE as i64 {
            // As `begin` leaves them, without its pruning.
            let pending =
                Pending { old: Row::new(), redact: Vec::new(), affected: None, no_statement: false, since: long_ago };
            tracker.pending.insert((None, "t".into(), key.to_string()), pending);
            tracker.tokens.push(token(key, long_ago));
        }
        assert!(tracker.tokens.len() + tracker.pending.len() > PRUNE_ABOVE);
        tracker.begin(token(-1, Instant::now()), Some(Row::new()), Vec::new(), false);
        assert_eq!(tracker.tokens.len(), 1, "only the fresh token is left");
        assert_eq!(tracker.pending.len(), 1);
    }
}
