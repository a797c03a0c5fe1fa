//! Output formats of `query` and `report`: a table for people, canonical JSON lines, CSV.
//!
//! - `table` (comfy-table): the columns an auditor reads first. Control and bidirectional
//!   characters inside values are shown escaped (`\u{1b}`), so a recorded value can never
//!   move the cursor, recolour or reorder what the terminal shows.
//! - `json`: for events, each event's stored canonical line (SPEC §3), byte for byte, one a
//!   line; the output is itself a (possibly partial) trail that `audit-trail verify --jsonl`
//!   checks. For summaries (the failures report), one JSON object a line.
//! - `csv` (the `csv` crate): a header row, then every field as text, values exact (nested
//!   values as canonical JSON); for events, a last column `added_fields` holds the members
//!   another implementation added to an event (SPEC §1 allows them, and they are hashed), as
//!   one canonical JSON object, empty when there are none. Exact means that a recorded value starting with `=`, `+`, `-`,
//!   `@`, a tab or a carriage return is written as it is, and a spreadsheet opening the file
//!   may take it for a formula (CSV injection, CWE-1236): the values are evidence and are not
//!   altered, so a note on stderr counts them and says to import the columns as text.
//!
//! Without `--format`, a terminal gets a table and a pipe or file gets JSON lines (the exact
//! evidence, ready for `verify --jsonl` or `jq`). JSON and CSV asked for on a terminal show
//! control and bidirectional characters escaped as a table does (canonical JSON escapes only
//! those below U+0020, and CSV none: a recorded `ESC [` sequence would reach the terminal);
//! redirected or piped, they are exact.

use crate::{EXIT_VALID, Failure};
use audit_core::store::{Cursor, QueryPage};
use audit_core::{Change, SealedEvent, canonical};
use audit_seaorm::{FailureSummary, LastChange};
use clap::{Args, ValueEnum};
use comfy_table::{ContentArrangement, Table, presets};
use std::future::Future;
use std::io::{IsTerminal, Write};

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A table for people (the default on a terminal).
    Table,
    /// One JSON value a line; for events, the stored canonical line (the default in a pipe).
    Json,
    /// Comma-separated values with a header row, values exact: a value starting with = + - @
    /// may run as a formula in a spreadsheet (import the columns as text; stderr counts them).
    Csv,
}

impl Format {
    /// The format asked for, or the default: a table on a terminal, JSON lines otherwise.
    pub(crate) fn or_default(asked: Option<Format>) -> Format {
        asked.unwrap_or_else(|| if std::io::stdout().is_terminal() { Format::Table } else { Format::Json })
    }
}

/// Events asked of the store per page.
const PAGE: usize = 500;

/// Something `query` or `report` prints, one row per item.
pub(crate) trait Record {
    /// Column names of the table.
    const TABLE_HEADER: &'static [&'static str];
    /// Column names of the CSV (all fields).
    const CSV_HEADER: &'static [&'static str];
    /// The table's cells (for people: may abbreviate).
    fn table_row(&self) -> Vec<String>;
    /// The CSV fields, exact.
    fn csv_row(&self) -> Vec<String>;
    /// One line of JSON, without its newline.
    fn json_line(&self) -> String;
}

impl Record for SealedEvent {
    const TABLE_HEADER: &'static [&'static str] =
        &["chain", "seq", "ts", "actor", "action", "resource", "outcome", "ip", "request id"];
    const CSV_HEADER: &'static [&'static str] = &[
        "chain",
        "seq",
        "ts",
        "id",
        "actor_id",
        "actor_kind",
        "actor_auth",
        "actor_session",
        "action",
        "resource_type",
        "resource_id",
        "outcome",
        "reason",
        "ip",
        "user_agent",
        "request_id",
        "method",
        "route",
        "path",
        "status",
        "duration_us",
        "justification",
        "tags",
        "changes",
        "details",
        "prev",
        "hash",
        "v",
        "added_fields",
    ];

    fn table_row(&self) -> Vec<String> {
        let e = &self.event;
        let resource = if e.resource.id.is_empty() {
            e.resource.kind.clone()
        } else {
            format!("{}/{}", e.resource.kind, e.resource.id)
        };
        let outcome = match &e.reason {
            Some(reason) => format!("{} ({reason})", e.outcome),
            None => e.outcome.to_string(),
        };
        vec![
            e.chain.clone(),
            e.seq.to_string(),
            e.ts.to_string(),
            format!("{} ({})", e.actor.id, e.actor.kind),
            e.action.clone(),
            resource,
            outcome,
            e.context.ip.clone().unwrap_or_default(),
            e.context.request_id.clone().unwrap_or_default(),
        ]
    }

    fn csv_row(&self) -> Vec<String> {
        let e = &self.event;
        let tags = (!e.tags.is_empty()).then(|| serde_json::json!(e.tags));
        let changes = (!e.changes.is_empty()).then(|| serde_json::to_value(&e.changes).ok()).flatten();
        let details = (!e.details.is_empty()).then(|| serde_json::Value::Object(e.details.clone()));
        vec![
            e.chain.clone(),
            e.seq.to_string(),
            e.ts.to_string(),
            e.id.hyphenated().to_string(),
            e.actor.id.clone(),
            e.actor.kind.to_string(),
            e.actor.auth.clone().unwrap_or_default(),
            e.actor.session.clone().unwrap_or_default(),
            e.action.clone(),
            e.resource.kind.clone(),
            e.resource.id.clone(),
            e.outcome.to_string(),
            e.reason.clone().unwrap_or_default(),
            e.context.ip.clone().unwrap_or_default(),
            e.context.user_agent.clone().unwrap_or_default(),
            e.context.request_id.clone().unwrap_or_default(),
            e.context.method.clone().unwrap_or_default(),
            e.context.route.clone().unwrap_or_default(),
            e.context.path.clone().unwrap_or_default(),
            e.context.status.map(|s| s.to_string()).unwrap_or_default(),
            e.context.duration_us.map(|d| d.to_string()).unwrap_or_default(),
            e.justification.clone().unwrap_or_default(),
            json_or_empty(tags.as_ref()),
            json_or_empty(changes.as_ref()),
            json_or_empty(details.as_ref()),
            e.prev.to_string(),
            e.hash.to_string(),
            e.v.to_string(),
            json_or_empty(added_fields(&self.line).as_ref()),
        ]
    }

    fn json_line(&self) -> String {
        self.line.clone()
    }
}

impl Record for FailureSummary {
    const TABLE_HEADER: &'static [&'static str] = &["actor", "failures", "first", "last"];
    const CSV_HEADER: &'static [&'static str] = &["actor_id", "actor_kinds", "failures", "first", "last"];

    fn table_row(&self) -> Vec<String> {
        vec![
            format!("{} ({})", self.actor_id, kinds(self, ", ")),
            self.failures.to_string(),
            self.first.to_string(),
            self.last.to_string(),
        ]
    }

    fn csv_row(&self) -> Vec<String> {
        vec![
            self.actor_id.clone(),
            kinds(self, " "),
            self.failures.to_string(),
            self.first.to_string(),
            self.last.to_string(),
        ]
    }

    fn json_line(&self) -> String {
        let kinds: Vec<&str> = self.actor_kinds.iter().map(|kind| kind.as_str()).collect();
        let value = serde_json::json!({
            "actor_id": self.actor_id,
            "actor_kinds": kinds,
            "failures": self.failures,
            "first": self.first.to_string(),
            "last": self.last.to_string(),
        });
        canonical::to_string(&value)
    }
}

/// One changed field of a record's last change (`report last-change`): its value before and
/// after, with who changed it, when and from where.
pub(crate) struct ChangedField<'e> {
    event: &'e SealedEvent,
    change: &'e Change,
}

impl Record for ChangedField<'_> {
    const TABLE_HEADER: &'static [&'static str] =
        &["field", "old", "new", "ts", "actor", "action", "ip", "request id", "chain", "seq"];
    const CSV_HEADER: &'static [&'static str] = &[
        "field",
        "old",
        "new",
        "ts",
        "actor_id",
        "actor_kind",
        "action",
        "ip",
        "request_id",
        "justification",
        "chain",
        "seq",
        "id",
    ];

    fn table_row(&self) -> Vec<String> {
        let (e, change) = (&self.event.event, self.change);
        let shown = |value: Option<&serde_json::Value>| value.map_or_else(|| "(absent)".into(), canonical::to_string);
        vec![
            change.field.clone(),
            shown(change.old.as_ref()),
            shown(change.new.as_ref()),
            e.ts.to_string(),
            format!("{} ({})", e.actor.id, e.actor.kind),
            e.action.clone(),
            e.context.ip.clone().unwrap_or_default(),
            e.context.request_id.clone().unwrap_or_default(),
            e.chain.clone(),
            e.seq.to_string(),
        ]
    }

    fn csv_row(&self) -> Vec<String> {
        let (e, change) = (&self.event.event, self.change);
        vec![
            change.field.clone(),
            json_or_empty(change.old.as_ref()),
            json_or_empty(change.new.as_ref()),
            e.ts.to_string(),
            e.actor.id.clone(),
            e.actor.kind.to_string(),
            e.action.clone(),
            e.context.ip.clone().unwrap_or_default(),
            e.context.request_id.clone().unwrap_or_default(),
            e.justification.clone().unwrap_or_default(),
            e.chain.clone(),
            e.seq.to_string(),
            e.id.hyphenated().to_string(),
        ]
    }

    fn json_line(&self) -> String {
        self.event.line.clone()
    }
}

/// The members of a stored line that SPEC §1 does not define (another implementation's
/// additions, hashed with the rest), as one object (see [`audit_core::line::added_fields`]).
fn added_fields(line: &str) -> Option<serde_json::Value> {
    let event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
    audit_core::line::added_fields(&event).map(serde_json::Value::Object)
}

/// A CSV field: `value` as canonical JSON (`null` is a value), empty when absent (no tags; no
/// value before a creation or after a deletion).
fn json_or_empty(value: Option<&serde_json::Value>) -> String {
    value.map(canonical::to_string).unwrap_or_default()
}

/// The kinds of a [`FailureSummary`]'s actor, joined by `separator`.
fn kinds(summary: &FailureSummary, separator: &str) -> String {
    summary.actor_kinds.iter().map(|kind| kind.as_str()).collect::<Vec<_>>().join(separator)
}

/// Writes records to stdout in a format: JSON lines and CSV as they come (page by page), a
/// table at the end (its column widths depend on every row).
pub(crate) struct Output<R: Record> {
    sink: Sink,
    rows: u64,
    /// Whether the CSV header is written.
    header: bool,
    /// CSV fields written that a spreadsheet may take for a formula.
    formula_like: u64,
    /// JSON and CSV go to a terminal: control and bidirectional characters are shown escaped,
    /// as in a table (see the module docs).
    on_terminal: bool,
    _record: std::marker::PhantomData<fn(&R)>,
}

/// Where the rows go, per format.
enum Sink {
    Json(std::io::BufWriter<std::io::Stdout>),
    Csv(Box<csv::Writer<std::io::Stdout>>),
    Table(Box<Table>),
}

/// Why writing stopped.
pub(crate) enum WriteError {
    /// The reader went away (`| head`): not an error, stop quietly.
    Closed,
    /// Anything else.
    Failed(Failure),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> WriteError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            WriteError::Closed
        } else {
            WriteError::Failed(Failure::new(format!("cannot write to standard output: {e}")))
        }
    }
}

impl<R: Record> Output<R> {
    /// An output in `format`.
    pub(crate) fn new(format: Format) -> Output<R> {
        let sink = match format {
            Format::Json => Sink::Json(std::io::BufWriter::new(std::io::stdout())),
            Format::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(std::io::stdout()))),
            Format::Table => {
                let mut table = Table::new();
                table.load_style(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
                table.set_header(R::TABLE_HEADER.iter().copied());
                Sink::Table(Box::new(table))
            }
        };
        let on_terminal = std::io::stdout().is_terminal();
        Output { sink, rows: 0, header: false, formula_like: 0, on_terminal, _record: std::marker::PhantomData }
    }

    /// How many records were written.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes `records` (JSON and CSV at once; a table holds them until [`Output::finish`]).
    pub(crate) fn write(&mut self, records: &[R]) -> Result<(), WriteError> {
        match &mut self.sink {
            Sink::Json(out) => {
                for record in records {
                    let line = record.json_line();
                    let line = if self.on_terminal { for_terminal(&line) } else { line };
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                }
            }
            Sink::Csv(csv) => {
                if !self.header {
                    csv.write_record(R::CSV_HEADER).map_err(csv_error)?;
                    self.header = true;
                }
                for record in records {
                    let mut row = record.csv_row();
                    self.formula_like += row.iter().filter(|field| looks_like_a_formula(field)).count() as u64;
                    if self.on_terminal {
                        row = row.iter().map(|field| for_terminal(field)).collect();
                    }
                    csv.write_record(row).map_err(csv_error)?;
                }
            }
            Sink::Table(table) => {
                for record in records {
                    table.add_row(record.table_row().iter().map(|cell| for_terminal(cell)));
                }
            }
        }
        self.rows += records.len() as u64;
        Ok(())
    }

    /// Writes what is held back (the table, or the CSV header of an empty result) and flushes.
    pub(crate) fn finish(mut self) -> Result<(), WriteError> {
        self.write(&[])?;
        match &mut self.sink {
            Sink::Json(out) => out.flush()?,
            Sink::Csv(csv) => {
                csv.flush()?;
                if self.formula_like > 0 {
                    eprintln!(
                        "note: {} CSV values start with =, +, -, @, a tab or a carriage return and are written \
                         exactly as recorded: a spreadsheet may run them as formulas. Import the file with every \
                         column as text, or use --format json",
                        self.formula_like
                    );
                }
            }
            Sink::Table(table) => {
                if self.rows > 0 {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{table}")?;
                    out.flush()?;
                }
            }
        }
        Ok(())
    }
}

/// True when a spreadsheet may take `field` for a formula (OWASP's list of leading
/// characters).
fn looks_like_a_formula(field: &str) -> bool {
    field.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

fn csv_error(e: csv::Error) -> WriteError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e.into(),
        other => WriteError::Failed(Failure::new(format!("cannot write CSV: {other:?}"))),
    }
}

/// `text` with the characters that are invisible or change how text displays
/// ([`audit_core::text::is_hidden`]: control characters, bidirectional formatting, zero-width
/// and other default-ignorable characters, …) escaped as `\u{X}`, so that it shows as it is,
/// cannot drive the terminal or reorder what it shows, and `alice` and `al\u{ad}ice` look apart.
pub(crate) fn for_terminal(text: &str) -> String {
    let hidden = audit_core::text::is_hidden;
    if !text.chars().any(hidden) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Rows a table shows unless `--limit` says otherwise.
const TABLE_ROWS: u64 = 100;

/// `--limit` / `--format`.
#[derive(Args)]
pub(crate) struct OutputArgs {
    /// At most this many rows (0: all of them); stderr says when more match. Default: 100 in a
    /// table (for people), all of them in json and csv (for machines, which must not get a
    /// silently shortened answer).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<u64>,
    /// table (for people; the default on a terminal), json (the stored canonical lines, one a
    /// line; the default in a pipe) or csv (with a header row; values exact, so a recorded
    /// value starting with = + - @ may run as a formula in a spreadsheet: import as text). On a
    /// terminal every format shows control characters escaped; piped, json and csv are exact.
    #[arg(long, value_enum)]
    pub(crate) format: Option<Format>,
}

/// Prints the events of successive pages (`page(after, limit)` fetches one, in `(chain, seq)`
/// order) in the format asked for, up to `--limit`, and says on stderr when more match.
pub(crate) async fn print_pages<F, Fut>(output: &OutputArgs, mut page: F) -> Result<u8, Failure>
where
    F: FnMut(Option<Cursor>, usize) -> Fut,
    Fut: Future<Output = Result<QueryPage, Failure>>,
{
    let format = Format::or_default(output.format);
    let limit = output.limit.unwrap_or(if format == Format::Table { TABLE_ROWS } else { 0 });
    let mut out: Output<SealedEvent> = Output::new(format);
    let mut after = None;
    let mut more = false;
    loop {
        let remaining = if limit == 0 { u64::MAX } else { limit.saturating_sub(out.rows()) };
        if remaining == 0 {
            more = after.is_some();
            break;
        }
        let fetched = page(after.clone(), usize::try_from(remaining).unwrap_or(PAGE).min(PAGE)).await?;
        // A page may hold more than asked when forged rows share a seq (see `SqlStore::page`):
        // --limit still holds.
        let take = fetched.events.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
        if let Some(code) = written(out.write(&fetched.events[..take]))? {
            return Ok(code);
        }
        if take < fetched.events.len() {
            more = true;
            break;
        }
        match fetched.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let rows = out.rows();
    if let Some(code) = written(out.finish())? {
        return Ok(code);
    }
    if more {
        eprintln!("note: showing the first {rows} matching events; more match (raise --limit, or --limit 0 for all)");
    } else if rows == 0 {
        eprintln!("no matching events");
    }
    Ok(EXIT_VALID)
}

/// `Ok(None)` to go on; `Ok(Some(0))` when the reader went away (stop quietly); the error
/// otherwise.
pub(crate) fn written(result: Result<(), WriteError>) -> Result<Option<u8>, Failure> {
    match result {
        Ok(()) => Ok(None),
        Err(WriteError::Closed) => Ok(Some(EXIT_VALID)),
        Err(WriteError::Failed(failure)) => Err(failure),
    }
}

/// Prints a record's last change: in JSON the event's stored line, once; as a table or CSV one
/// row per changed field. When there is none, an empty table or a CSV header, and a note on
/// stderr naming the record.
pub(crate) fn print_last_change(
    format: Option<Format>,
    (kind, id): (&str, &str),
    found: Option<&LastChange>,
) -> Result<u8, Failure> {
    let format = Format::or_default(format);
    let code = if format == Format::Json {
        write_all(format, found.map(|last| std::slice::from_ref(&last.event)).unwrap_or_default())?
    } else {
        let rows: Vec<ChangedField<'_>> = found
            .map(|last| last.fields.iter().map(|change| ChangedField { event: &last.event, change }).collect())
            .unwrap_or_default();
        write_all(format, &rows)?
    };
    if code.is_none() && found.is_none() {
        eprintln!("no change of {kind}/{id} is stored (no successful event on it with changes)");
    }
    Ok(code.unwrap_or(EXIT_VALID))
}

/// Prints `records` (all of them: a summary, not pages).
pub(crate) fn print_all<R: Record>(format: Option<Format>, records: &[R]) -> Result<u8, Failure> {
    if let Some(code) = write_all(Format::or_default(format), records)? {
        return Ok(code);
    }
    if records.is_empty() {
        eprintln!("no matching rows");
    }
    Ok(EXIT_VALID)
}

/// Writes `records` in `format`; `Some(code)` when the reader went away.
fn write_all<R: Record>(format: Format, records: &[R]) -> Result<Option<u8>, Failure> {
    let mut out: Output<R> = Output::new(format);
    if let Some(code) = written(out.write(records))? {
        return Ok(Some(code));
    }
    written(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_cannot_reach_the_terminal() {
        assert_eq!(for_terminal("alice"), "alice");
        assert_eq!(for_terminal("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(for_terminal("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(for_terminal("tab\there\u{85}"), "tab\\u{9}here\\u{85}");
        assert_eq!(for_terminal("naïve ✓"), "naïve ✓");
        assert_eq!(for_terminal("al\u{ad}ice\u{e0041}"), "al\\u{ad}ice\\u{e0041}");
    }
}
