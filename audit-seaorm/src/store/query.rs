//! Queries (SPEC §6 `query`) and the compliance reports, with keyset paging by `(chain, seq)`.
//!
//! Every event returned is parsed from its canonical line and checked against the filter again,
//! so a result is never wrong because of an edited column or a database's collation rules.
//! Events hidden by an edited column are found by [`SqlStore::verify_chain`].

use super::error::SqlStoreError;
use super::schema::{FAILED, PRIVILEGED};
use super::sql::{self, Dialect, EVENTS, Sql};
use super::{SqlStore, page_limit};
use audit_core::store::{Cursor, Query, QueryPage};
use audit_core::{ActorKind, Change, Event, Outcome, SealedEvent, Timestamp};
use chrono::Datelike;
use sea_orm::ConnectionTrait;
use std::collections::BTreeMap;

/// Rows fetched per query while filling a page.
const MAX_FETCH: usize = 10_000;

/// The tag that marks an event as privileged (besides admin and system actors).
const PRIVILEGED_TAG: &str = "privileged";

/// What the reports have in common: which chain, which period, which actions and outcomes,
/// and paging.
///
/// ```
/// use audit_seaorm::ReportFilter;
/// use audit_core::{Outcome, Timestamp};
/// let since: Timestamp = "2026-08-25T00:00:00.000000Z".parse().unwrap();
/// let filter = ReportFilter::new().between(Some(since), None).outcomes([Outcome::Failure, Outcome::Denied]).limit(500);
/// assert_eq!(filter.limit, 500);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFilter {
    /// Only this chain.
    pub chain: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// Only this action (e.g. `"export"`, `"login"`).
    pub action: Option<String>,
    /// Only these outcomes (empty: any).
    pub outcomes: Vec<Outcome>,
    /// Only events after this position (from [`QueryPage::next`]).
    pub after: Option<Cursor>,
    /// Page size (at least 1).
    pub limit: usize,
}

impl Default for ReportFilter {
    fn default() -> Self {
        ReportFilter::new()
    }
}

impl ReportFilter {
    /// Everything, 100 events a page.
    pub fn new() -> ReportFilter {
        ReportFilter {
            chain: None,
            since: None,
            until: None,
            action: None,
            outcomes: Vec::new(),
            after: None,
            limit: 100,
        }
    }
    /// Only `chain`.
    pub fn chain(mut self, chain: impl Into<String>) -> ReportFilter {
        self.chain = Some(chain.into());
        self
    }
    /// Only `since <= ts < until`.
    pub fn between(mut self, since: Option<Timestamp>, until: Option<Timestamp>) -> ReportFilter {
        self.since = since;
        self.until = until;
        self
    }
    /// Only `action`.
    pub fn action(mut self, action: impl Into<String>) -> ReportFilter {
        self.action = Some(action.into());
        self
    }
    /// Only these outcomes.
    pub fn outcomes(mut self, outcomes: impl IntoIterator<Item = Outcome>) -> ReportFilter {
        self.outcomes = outcomes.into_iter().collect();
        self
    }
    /// Continue after `cursor`.
    pub fn after(mut self, cursor: Option<Cursor>) -> ReportFilter {
        self.after = cursor;
        self
    }
    /// Page size.
    pub fn limit(mut self, limit: usize) -> ReportFilter {
        self.limit = limit;
        self
    }
}

/// A data subject for GDPR subject access ([`SqlStore::subject_events`]).
///
/// An event is about the subject when the subject is its actor (`actor.id == id`: what the
/// person did) or its resource (`resource.id == id`, and `resource.type` is one of
/// `resource_types` if any are given: what was done to the person's record). Events that
/// mention the person only inside `details` or `changes` are not found this way; name the
/// person in `resource` when recording them (e.g. an export of user 42's data:
/// `.resource("users", "42")`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSubject {
    /// The subject's identifier, as used in `actor.id` and `resource.id`.
    pub id: String,
    /// The resource types that hold people (e.g. `["users", "customers"]`); empty: any type.
    pub resource_types: Vec<String>,
}

impl DataSubject {
    /// The subject `id`, as actor or as a resource of any type.
    pub fn new(id: impl Into<String>) -> DataSubject {
        DataSubject { id: id.into(), resource_types: Vec::new() }
    }
    /// Counts `id` as a resource only in resources of these types.
    pub fn resource_types(mut self, types: impl IntoIterator<Item = impl Into<String>>) -> DataSubject {
        self.resource_types = types.into_iter().map(Into::into).collect();
        self
    }
}

/// One actor's failures in a period ([`SqlStore::repeated_failures`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureSummary {
    /// The actor.
    pub actor_id: String,
    /// The kinds its failed events name it as, sorted (one, unless the application named the
    /// same id as, say, a `user` at login and an `admin` later).
    pub actor_kinds: Vec<ActorKind>,
    /// How many `failure` or `denied` events.
    pub failures: u64,
    /// The first one.
    pub first: Timestamp,
    /// The last one.
    pub last: Timestamp,
}

/// The last change of a record ([`SqlStore::last_change`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LastChange {
    /// The most recent successful event on the record that has `changes`.
    pub event: SealedEvent,
    /// For each changed field, sorted by name: `old` is the previous value (absent when the
    /// change created the record), `new` the value it was given (absent on delete).
    pub fields: Vec<Change>,
}

/// The conditions of one query or report, in SQL and again in Rust.
#[derive(Clone, Debug, Default)]
struct EventFilter {
    chain: Option<String>,
    id: Option<uuid::Uuid>,
    actor: Option<String>,
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    request_id: Option<String>,
    outcomes: Vec<Outcome>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    privileged: bool,
    subject: Option<DataSubject>,
}

impl EventFilter {
    fn from_report(filter: &ReportFilter) -> EventFilter {
        EventFilter {
            chain: filter.chain.clone(),
            action: filter.action.clone(),
            outcomes: filter.outcomes.clone(),
            since: filter.since,
            until: filter.until,
            ..EventFilter::default()
        }
    }

    /// True when only failed or denied events can match (see the `audit_events_failed` index).
    fn only_failed(&self) -> bool {
        !self.outcomes.is_empty() && !self.outcomes.contains(&Outcome::Success)
    }

    /// True when a text condition holds U+0000 or U+0001, which PostgreSQL's columns keep alike
    /// (`sql::postgres_text`): its SQL condition then matches both.
    fn has_mapped_text(&self) -> bool {
        [&self.chain, &self.actor, &self.action, &self.resource_type, &self.resource_id, &self.request_id]
            .into_iter()
            .flatten()
            .any(|text| text.contains(['\u{0}', '\u{1}']))
    }

    /// Appends ` AND …` for every condition.
    fn push_sql(&self, dialect: Dialect, sql: &mut Sql) {
        let text = [
            ("chain", &self.chain),
            ("actor_id", &self.actor),
            ("action", &self.action),
            ("resource_type", &self.resource_type),
            ("resource_id", &self.resource_id),
            ("request_id", &self.request_id),
        ];
        for (column, value) in text {
            if let Some(value) = value {
                sql.push(&format!(" AND {column} = ")).bind(value.as_str());
            }
        }
        if let Some(id) = self.id {
            sql.push(" AND id = ").bind(sql::id_value(dialect, id));
        }
        match self.outcomes.as_slice() {
            [] => {}
            [one] => {
                sql.push(" AND outcome = ").bind(one.as_str());
            }
            many => {
                sql.push(" AND outcome IN ");
                sql.bind_list(many.iter().map(|o| o.as_str().into()));
            }
        }
        match column_period(self.since, self.until) {
            Some((since, until)) => {
                if let Some(since) = since {
                    sql.push(" AND ts >= ").bind(dialect.ts_value(since));
                }
                if let Some(until) = until {
                    sql.push(" AND ts < ").bind(dialect.ts_value(until));
                }
            }
            None => {
                sql.push(" AND 1 = 0");
            }
        }
        // The predicates of the report indexes, spelled as the indexes spell them so that
        // PostgreSQL and SQLite may use those partial indexes (MySQL: the generated columns
        // they lead with).
        if self.privileged {
            match dialect {
                Dialect::Postgres | Dialect::Sqlite => sql.push(" AND ").push(PRIVILEGED),
                Dialect::MySql => sql.push(" AND privileged = 1"),
            };
        }
        if self.only_failed() {
            match dialect {
                Dialect::Postgres | Dialect::Sqlite => sql.push(" AND ").push(FAILED),
                Dialect::MySql => sql.push(" AND failed = 1"),
            };
        }
        if let Some(subject) = &self.subject {
            sql.push(" AND (actor_id = ")
                .bind(subject.id.as_str())
                .push(" OR (resource_id = ")
                .bind(subject.id.as_str());
            if !subject.resource_types.is_empty() {
                sql.push(" AND resource_type IN ");
                sql.bind_list(subject.resource_types.iter().map(|t| t.as_str().into()));
            }
            sql.push("))");
        }
    }

    /// The same conditions, on the event itself.
    fn matches(&self, e: &Event) -> bool {
        let eq = |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|f| f == value);
        eq(&self.chain, &e.chain)
            && self.id.is_none_or(|id| e.id == id)
            && eq(&self.actor, &e.actor.id)
            && eq(&self.action, &e.action)
            && eq(&self.resource_type, &e.resource.kind)
            && eq(&self.resource_id, &e.resource.id)
            && self.request_id.as_ref().is_none_or(|r| e.context.request_id.as_ref() == Some(r))
            && (self.outcomes.is_empty() || self.outcomes.contains(&e.outcome))
            && self.since.is_none_or(|t| e.ts >= t)
            && self.until.is_none_or(|t| e.ts < t)
            && (!self.privileged || e.actor.is_privileged() || e.tags.iter().any(|t| t == PRIVILEGED_TAG))
            && self.subject.as_ref().is_none_or(|s| {
                e.actor.id == s.id
                    || (e.resource.id == s.id
                        && (s.resource_types.is_empty() || s.resource_types.contains(&e.resource.kind)))
            })
    }
}

impl SqlStore {
    pub(crate) async fn run_query(&self, query: &Query) -> Result<QueryPage, SqlStoreError> {
        let filter = EventFilter {
            chain: query.chain.clone(),
            id: query.id,
            actor: query.actor.clone(),
            action: query.action.clone(),
            resource_type: query.resource_type.clone(),
            resource_id: query.resource_id.clone(),
            request_id: query.request_id.clone(),
            outcomes: query.outcome.into_iter().collect(),
            since: query.since,
            until: query.until,
            ..EventFilter::default()
        };
        self.page(&filter, query.after.clone(), query.limit).await
    }

    /// Fills one page of events matching `filter` after `after`, in `(chain, seq)` order.
    ///
    /// Every row is read once, also where two rows stand at one `(chain, seq)` (a partitioned
    /// PostgreSQL table's key is `(chain, seq, ts)`, so a forged row can): a fetch continues at
    /// the last seq it read, passing over the rows read there already, and a page never ends
    /// between rows of one seq (it holds more than `limit` events then), since the next page
    /// starts after that seq. Otherwise a `LIMIT` cut between such rows hid the rest.
    async fn page(
        &self,
        filter: &EventFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<QueryPage, SqlStoreError> {
        let limit = limit.max(1);
        let mut fetch = limit.saturating_add(1).min(MAX_FETCH);
        // The position last read, and the hashes of its rows read so far: a fetch continues at
        // that position (`seq >=`), passing those rows over; the first starts after `after`.
        let mut seen: Option<(Cursor, Vec<audit_core::EventHash>)> = None;
        let mut events: Vec<SealedEvent> = Vec::new();
        // Once the page holds `limit` events: the position of the last (the page takes the rest
        // of its rows, and ends before the next match elsewhere).
        let mut full_at: Option<Cursor> = None;
        let mut more = false;
        'fetching: loop {
            let mut sql = Sql::new(self.dialect);
            sql.push(&format!("SELECT chain, seq, line FROM {EVENTS} WHERE 1 = 1"));
            filter.push_sql(self.dialect, &mut sql);
            let from = seen.as_ref().map(|(at, _)| at).or(after.as_ref());
            if let Some(c) = from {
                let after_seq = if seen.is_some() { " AND seq >= " } else { " AND seq > " };
                if filter.chain.as_deref() == Some(c.chain.as_str()) {
                    sql.push(after_seq).bind(sql::seq_bound(c.seq));
                } else {
                    sql.push(" AND (chain > ")
                        .bind(c.chain.as_str())
                        .push(" OR (chain = ")
                        .bind(c.chain.as_str())
                        .push(after_seq)
                        .bind(sql::seq_bound(c.seq))
                        .push("))");
                }
            }
            sql.push(" ORDER BY chain, seq LIMIT ").bind(page_limit(fetch));
            let rows =
                self.db.query_all_raw(sql.build()).await.map_err(SqlStoreError::db(format!("query {EVENTS}")))?;
            let fetched = rows.len();
            let mut new_rows = 0;
            for row in &rows {
                let (chain, seq, line) = sql::line_from_row(row)?;
                let sealed = sql::sealed_from_line(&chain, seq, line)?;
                let hash = sealed.event.hash;
                match &mut seen {
                    Some((at, hashes)) if at.seq == seq && at.chain == chain => {
                        if hashes.contains(&hash) {
                            continue;
                        }
                        hashes.push(hash);
                    }
                    Some((at, hashes)) => {
                        (at.seq, at.chain) = (seq, chain);
                        hashes.clear();
                        hashes.push(hash);
                    }
                    None => seen = Some((Cursor { chain, seq }, vec![hash])),
                }
                new_rows += 1;
                if !filter.matches(&sealed.event) {
                    continue;
                }
                let position = seen.as_ref().map(|(at, _)| at);
                if full_at.is_some() && full_at.as_ref() != position {
                    more = true;
                    break 'fetching;
                }
                events.push(sealed);
                if events.len() == limit {
                    full_at = position.cloned();
                }
            }
            if fetched < fetch {
                break;
            }
            if new_rows == 0 {
                // Every row of a full fetch was at the last position and read already: more rows
                // stand there than a fetch takes.
                fetch = fetch.saturating_mul(2);
            }
        }
        let next = if more { full_at } else { None };
        Ok(QueryPage { events, next })
    }

    /// Access report (HIPAA access logs, GDPR): every event on resource `(resource_type,
    /// resource_id)`, reads included when the application records them, in `(chain, seq)`
    /// order. Each event names who (`actor`), when, from where (`context`) and how it ended.
    pub async fn access_report(
        &self,
        resource_type: &str,
        resource_id: &str,
        filter: &ReportFilter,
    ) -> Result<QueryPage, SqlStoreError> {
        let events = EventFilter {
            resource_type: Some(resource_type.to_string()),
            resource_id: Some(resource_id.to_string()),
            ..EventFilter::from_report(filter)
        };
        self.page(&events, filter.after.clone(), filter.limit).await
    }

    /// Privileged actions (SOC 2, PCI DSS 10.2.1.2): events by `admin` or `system` actors, or
    /// tagged `privileged`. With `outcomes` failure and denied and action `login`, these are
    /// the failed logins of privileged accounts.
    pub async fn privileged_actions(&self, filter: &ReportFilter) -> Result<QueryPage, SqlStoreError> {
        let events = EventFilter { privileged: true, ..EventFilter::from_report(filter) };
        self.page(&events, filter.after.clone(), filter.limit).await
    }

    /// Repeated failures (PCI DSS 8.3.4): actors with at least `min_failures` events whose
    /// outcome is `failure` or `denied` (or those of `filter.outcomes`, if given) in the
    /// filter's period, most failures first. An actor is its id: failures recorded under
    /// several kinds count together. Counted from the indexed columns (which
    /// [`SqlStore::verify_chain`] checks against the lines); `after` and `limit` are ignored.
    pub async fn repeated_failures(
        &self,
        min_failures: u64,
        filter: &ReportFilter,
    ) -> Result<Vec<FailureSummary>, SqlStoreError> {
        let mut events = EventFilter::from_report(filter);
        if events.outcomes.is_empty() {
            events.outcomes = vec![Outcome::Failure, Outcome::Denied];
        }
        // One group per actor id, counted in one pass (a window over (id, kind) groups cost as
        // much again): the id's events of each SPEC kind are counted beside, and any other
        // kind in the column comes back, to be reported.
        let mut sql = Sql::new(self.dialect);
        let kinds = ActorKind::ALL.map(|kind| kind.as_str());
        let mut columns = String::from("actor_id, COUNT(*) AS n, MIN(ts), MAX(ts)");
        for kind in kinds {
            columns.push_str(&format!(", COUNT(CASE WHEN actor_kind = '{kind}' THEN 1 END)"));
        }
        columns.push_str(&format!(
            ", MIN(CASE WHEN actor_kind IN ('{}') THEN NULL ELSE actor_kind END)",
            kinds.join("', '")
        ));
        sql.push(&format!("SELECT {columns} FROM {EVENTS} WHERE 1 = 1"));
        events.push_sql(self.dialect, &mut sql);
        sql.push(" GROUP BY actor_id HAVING COUNT(*) >= ")
            .bind(i64::try_from(min_failures.max(1)).unwrap_or(i64::MAX))
            .push(" ORDER BY n DESC, actor_id");
        let what = "repeated failures report";
        let rows = self.db.query_all_raw(sql.build()).await.map_err(SqlStoreError::db(what))?;
        let mut summaries: Vec<FailureSummary> = Vec::with_capacity(rows.len());
        for row in &rows {
            let actor_id: String = row.try_get_by_index(0).map_err(SqlStoreError::db(what))?;
            let failures: i64 = row.try_get_by_index(1).map_err(SqlStoreError::db(what))?;
            let (first, last) = (self.dialect.ts_at(row, 2)?, self.dialect.ts_at(row, 3)?);
            let other: Option<String> = row.try_get_by_index(4 + kinds.len()).map_err(SqlStoreError::db(what))?;
            if let Some(kind) = other {
                return Err(SqlStoreError::Corrupt(format!(
                    "actor {actor_id:?} has actor_kind {kind:?}, not a SPEC actor kind"
                )));
            }
            let mut actor_kinds = Vec::new();
            for (i, kind) in ActorKind::ALL.into_iter().enumerate() {
                let named: i64 = row.try_get_by_index(4 + i).map_err(SqlStoreError::db(what))?;
                if named != 0 {
                    actor_kinds.push(kind);
                }
            }
            actor_kinds.sort_by_key(|kind| kind.as_str());
            let failures = u64::try_from(failures).unwrap_or(0);
            summaries.push(FailureSummary { actor_id, actor_kinds, failures, first, last });
        }
        if self.dialect == Dialect::Postgres {
            // A condition on U+0000 or U+0001 matched both in the columns: count every group
            // again from the lines.
            let all = events.has_mapped_text();
            if all || summaries.iter().any(|s| s.actor_id.contains('\u{1}')) {
                summaries = self.recount_mapped_actors(summaries, &events, min_failures, all).await?;
            }
        }
        Ok(summaries)
    }

    /// PostgreSQL keeps U+0000 of an actor id as U+0001 in the column (`sql::postgres_text`),
    /// so ids that differ only there share a group. The groups whose id has U+0001 are counted
    /// again from their events' lines, by exact id (merging only adds failures up, so no actor
    /// at the threshold is missed), and the summaries sorted again. With `all`, every group is
    /// (the filter's own text held U+0000 or U+0001, so its groups may hold other events).
    async fn recount_mapped_actors(
        &self,
        summaries: Vec<FailureSummary>,
        events: &EventFilter,
        min_failures: u64,
        all: bool,
    ) -> Result<Vec<FailureSummary>, SqlStoreError> {
        let what = "repeated failures report: count actor ids with U+0000 or U+0001";
        let mut out = Vec::with_capacity(summaries.len());
        for summary in summaries {
            if !all && !summary.actor_id.contains('\u{1}') {
                out.push(summary);
                continue;
            }
            let mut sql = Sql::new(self.dialect);
            sql.push(&format!("SELECT chain, seq, line FROM {EVENTS} WHERE 1 = 1"));
            events.push_sql(self.dialect, &mut sql);
            sql.push(" AND actor_id = ").bind(summary.actor_id.as_str());
            let rows = self.db.query_all_raw(sql.build()).await.map_err(SqlStoreError::db(what))?;
            let mut exact: BTreeMap<String, FailureSummary> = BTreeMap::new();
            for row in &rows {
                let (chain, seq, line) = sql::line_from_row(row)?;
                let event = sql::sealed_from_line(&chain, seq, line)?.event;
                if !events.matches(&event) {
                    continue;
                }
                let entry = exact.entry(event.actor.id.clone()).or_insert_with(|| FailureSummary {
                    actor_id: event.actor.id.clone(),
                    actor_kinds: Vec::new(),
                    failures: 0,
                    first: event.ts,
                    last: event.ts,
                });
                if !entry.actor_kinds.contains(&event.actor.kind) {
                    entry.actor_kinds.push(event.actor.kind);
                }
                entry.failures += 1;
                entry.first = entry.first.min(event.ts);
                entry.last = entry.last.max(event.ts);
            }
            out.extend(exact.into_values().filter(|s| s.failures >= min_failures.max(1)).map(|mut s| {
                s.actor_kinds.sort_by_key(|kind| kind.as_str());
                s
            }));
        }
        out.sort_by(|a, b| b.failures.cmp(&a.failures).then_with(|| a.actor_id.cmp(&b.actor_id)));
        Ok(out)
    }

    /// The last change of record `(resource_type, resource_id)`: the most recent successful
    /// event on it that has `changes` (latest `ts`; of events at the same time, the last in
    /// `(chain, seq)` order), with each changed field's previous value. `None` if no such event
    /// is stored. An attempt that was denied or failed changed nothing, though its event may
    /// say what it tried: it is passed over. Latest by the `ts` column (which
    /// [`SqlStore::verify_chain`] checks against the lines): an edited `ts` can pass over the
    /// last change.
    pub async fn last_change(
        &self,
        resource_type: &str,
        resource_id: &str,
        chain: Option<&str>,
    ) -> Result<Option<LastChange>, SqlStoreError> {
        const PAGE: usize = 200;
        let mut cursor: Option<(Timestamp, String, u64)> = None;
        loop {
            let mut sql = Sql::new(self.dialect);
            sql.push(&format!("SELECT chain, seq, line, ts FROM {EVENTS} WHERE resource_id = "))
                .bind(resource_id)
                .push(" AND resource_type = ")
                .bind(resource_type);
            if let Some(chain) = chain {
                sql.push(" AND chain = ").bind_chain(chain);
            }
            if let Some((ts, c, seq)) = &cursor {
                let ts = self.dialect.ts_value(*ts);
                sql.push(" AND (ts < ")
                    .bind(ts.clone())
                    .push(" OR (ts = ")
                    .bind(ts)
                    .push(" AND (chain < ")
                    .bind(c.as_str())
                    .push(" OR (chain = ")
                    .bind(c.as_str())
                    .push(" AND seq < ")
                    .bind(sql::seq_bound(*seq))
                    .push("))))");
            }
            sql.push(" ORDER BY ts DESC, chain DESC, seq DESC LIMIT ").bind(page_limit(PAGE));
            let rows = self
                .db
                .query_all_raw(sql.build())
                .await
                .map_err(SqlStoreError::db(format!("last change of {resource_type}/{resource_id}")))?;
            for row in &rows {
                let (row_chain, seq, line) = sql::line_from_row(row)?;
                let ts = self.dialect.ts_at(row, 3)?;
                let sealed = sql::sealed_from_line(&row_chain, seq, line)?;
                cursor = Some((ts, row_chain, seq));
                let e = &sealed.event;
                let on_record = e.resource.kind == resource_type
                    && e.resource.id == resource_id
                    && chain.is_none_or(|c| c == e.chain);
                if on_record && e.outcome == audit_core::Outcome::Success && !e.changes.is_empty() {
                    let fields = e.changes.clone();
                    return Ok(Some(LastChange { event: sealed, fields }));
                }
            }
            if rows.len() < PAGE {
                return Ok(None);
            }
        }
    }

    /// GDPR subject access (Art. 15): every event about `subject` (as actor or as resource,
    /// see [`DataSubject`]), in `(chain, seq)` order. With `action("export")`: all exports of
    /// the subject's data.
    pub async fn subject_events(
        &self,
        subject: &DataSubject,
        filter: &ReportFilter,
    ) -> Result<QueryPage, SqlStoreError> {
        let events = EventFilter { subject: Some(subject.clone()), ..EventFilter::from_report(filter) };
        self.page(&events, filter.after.clone(), filter.limit).await
    }
}

/// The period `since <= ts < until` as bounds every backend's `ts` column can compare (`None`:
/// nothing can match). A stored event's time is within the years 0000–9999 and never in a leap
/// second (the store refuses those), so a bound in a leap second (`23:59:60`) becomes the next
/// second's start (no stored time lies between), and a bound beyond those years is dropped or
/// matches nothing; bound as they were, SQLite compared `+10000-…` as text and MySQL's
/// `DATETIME` could not hold them (a period to the year 10000 found nothing).
fn column_period(since: Option<Timestamp>, until: Option<Timestamp>) -> Option<(Option<Timestamp>, Option<Timestamp>)> {
    let whole_second = |ts: Timestamp| {
        if ts.is_leap_second() {
            Timestamp::from_unix_micros(ts.unix_micros().div_euclid(1_000_000) * 1_000_000).unwrap_or(ts)
        } else {
            ts
        }
    };
    let year = |ts: &Timestamp| ts.as_datetime().year();
    let (since, until) = (since.map(whole_second), until.map(whole_second));
    if since.is_some_and(|since| year(&since) > 9999) || until.is_some_and(|until| year(&until) < 0) {
        return None;
    }
    Some((since.filter(|since| year(since) >= 0), until.filter(|until| year(until) <= 9999)))
}
