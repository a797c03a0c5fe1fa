//! `audit-trail export --db URL [--chain NAME] [--since TS] --out FILE`: a SPEC §3 JSON Lines
//! export, the stored canonical lines byte for byte, in seq order.

use super::{
    Break, DEFAULT_CHAIN, Verdict, block_on, db_failure, head_break, open_db, parse_time, progress_bar, require_chain,
    sqlite_file,
};
use crate::{EXIT_BROKEN, EXIT_VALID, Failure};
use audit_core::Timestamp;
use audit_core::store::{AuditStore, Head, Query, StoreError};
use audit_core::verify::{ChainVerifier, VerifyReport};
use audit_seaorm::SqlStore;
use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Lines written (and checked) per batch.
const BATCH: usize = 4096;

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The application's audit database (see `verify --help`), opened read only.
    #[arg(long, value_name = "URL")]
    db: String,
    /// The chain to export.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_CHAIN)]
    chain: String,
    /// Start at the first event (lowest seq) whose ts is at or after this RFC 3339 time: a part
    /// of the chain, whose first prev is then taken on trust. The stored event before it is
    /// checked: missing, not the one the first links to, or itself at or after the time (its
    /// ts column edited to hide it) is reported as BROKEN (exit 1).
    #[arg(long, value_name = "TS", value_parser = parse_time)]
    since: Option<Timestamp>,
    /// The file to write. A regular file is written to a temporary file beside it and renamed
    /// when complete, so a failed export never leaves a partial file under this name (an
    /// existing file is replaced; a symbolic link is followed and the file it points to is
    /// replaced). A FIFO or a device (e.g. /dev/stdout) is written to directly; so is the file
    /// standard output is redirected to (`--out /dev/stdout >> FILE` appends) and a regular
    /// file named through /dev/fd/N or /proc/self/fd/N (appended to). Refused: the file
    /// standard error is redirected to (the messages go there), and the SQLite database being
    /// exported (and its -wal, -shm and -journal files). `-` is standard output (e.g.
    /// `--out - | gzip > trail.jsonl.gz`); the messages and a verdict then go to standard error.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Writes the export, checking the chain as it goes: exit 0 when written and intact, 1 when
/// written but the chain is broken (the file is what the database holds: evidence).
pub(crate) fn run(args: &ExportArgs) -> Result<u8, Failure> {
    let Exported { count, report, stored_head, malformed_head, since_break } = block_on(export(args))??;
    let to_stdout = is_stdout(&args.out);
    let shown = if to_stdout { "standard output".to_string() } else { args.out.display().to_string() };
    let chain = &args.chain;
    match (report.first_seq, report.is_valid()) {
        (Some(first), true) => {
            eprintln!("exported {count} events of chain {chain:?} (seq {first}..={}) to {shown}", report.head.seq);
        }
        _ => eprintln!("exported {count} events of chain {chain:?} to {shown}"),
    }
    if let (Some(since), Some(first)) = (args.since, report.first_seq) {
        eprintln!("note: seq {first} is the chain's first event at or after {since}");
    }
    let mut verdict = Verdict::of_lines(&report, None);
    if let (true, Some(problem)) = (verdict.is_valid(), &malformed_head) {
        // A head row edited into something no writer stores: every event was exported.
        let (seq, reason) = head_break(report.head, stored_head);
        verdict.broken = Some(Break { seq, reason: reason.to_string() });
        verdict.notes =
            vec![format!("  the chain-head row is malformed: {problem} (after {} valid events)", report.verified)];
    }
    // A --since export that found no event at or after its time has nothing to compare; a
    // whole-chain export with no event while the head row counts some lost them all.
    if verdict.is_valid() && (count > 0 || args.since.is_none()) && report.head != stored_head {
        // The lines are a valid chain but not the one the head row counts (newest events
        // deleted, or the row moved): the export is not the whole trail.
        let (seq, reason) = head_break(report.head, stored_head);
        verdict.broken = Some(Break { seq, reason: reason.to_string() });
        verdict.notes = vec![if stored_head.seq == 0 {
            format!(
                "  the events of chain {chain:?} end at seq {} but it has no chain-head row (deleted behind the \
                 store's back)",
                report.head.seq
            )
        } else if report.head.seq > stored_head.seq {
            format!(
                "  events up to seq {} are stored but the chain-head row is at seq {}: the head was moved back or \
                 deleted, or they were inserted behind the store's back (all are exported)",
                report.head.seq, stored_head.seq
            )
        } else if count == 0 {
            format!(
                "  the database holds no events of chain {chain:?} but the chain-head row is at seq {}: its events \
                 were deleted",
                stored_head.seq
            )
        } else {
            format!(
                "  the exported events end at seq {} but the chain-head row is at seq {} (after {} valid events)",
                report.head.seq, stored_head.seq, report.verified
            )
        }];
    }
    if let (true, Some((broken, detail))) = (verdict.is_valid(), since_break) {
        verdict.broken = Some(broken);
        verdict.notes = vec![detail];
    }
    if verdict.is_valid() {
        for note in &verdict.notes {
            eprintln!("{note}");
        }
        return Ok(EXIT_VALID);
    }
    // The verdict goes to standard output, unless the export itself does: then it would be a
    // line of the export (SPEC §3: nothing else in the file), and goes to standard error.
    let export_on_stdout = to_stdout
        || std::fs::metadata(&args.out).ok().and_then(|meta| StdStream::open_on(&meta)) == Some(StdStream::Stdout);
    match export_on_stdout {
        true => verdict.print_to(false, &mut std::io::stderr().lock())?,
        false => verdict.print(false)?,
    }
    eprintln!(
        "the export is kept: it is exactly what the database holds. Investigate with `audit-trail verify --db`, which \
         also checks the indexed columns and the chain head"
    );
    Ok(EXIT_BROKEN)
}

/// What [`export`] wrote and found.
struct Exported {
    /// Lines written.
    count: u64,
    /// The verification of their chain.
    report: VerifyReport,
    /// The chain-head row (for a malformed one: seq of the last stored event, hash zero).
    stored_head: Head,
    /// Why the chain-head row could not be read (edited into something no writer stores).
    malformed_head: Option<String>,
    /// For a `--since` export that found no event, the break found at the head row's event
    /// (see [`check_head_before`]); for one that did, at the event before (see
    /// [`check_event_before`]).
    since_break: Option<(Break, String)>,
}

/// Writes the export.
async fn export(args: &ExportArgs) -> Result<Exported, Failure> {
    // Before connecting: a refused --out is a usage error, whatever the database holds.
    let target = resolve_out(&args.out, &args.db)?;
    let store = open_db(&args.db).await?;
    let chain = args.chain.as_str();
    // The last seq stored, then the head row: appends move both in one transaction, so in a
    // consistent store the head read after is at least there (as `verify --db` reads them).
    let last_stored = store.last_stored_seq(chain).await.map_err(db_failure)?;
    let (head, malformed_head) = match store.head(chain).await {
        Ok(head) => (head, None),
        Err(StoreError::Corrupt(problem)) => (Head { seq: last_stored, hash: Head::EMPTY.hash }, Some(problem)),
        Err(e) => return Err(db_failure(e)),
    };
    if head.seq == 0 {
        require_chain(&store, chain).await?;
    }
    // Up to the head read above: a consistent end even while the application appends; and
    // beyond it to the last event stored before it was read, if the head is behind that (moved
    // back: the comparison with the head row then reports the break). With no head row but
    // events (the row deleted behind the store's back), every event.
    let end = (head.seq > 0).then_some(head.seq.max(last_stored));
    let from = match args.since {
        None => Some(1),
        Some(since) => first_seq_since(&store, chain, since, end.unwrap_or(u64::MAX)).await?,
    };
    let mut file = Out::new(target)?;
    let mut verifier = if from == Some(1) { ChainVerifier::from_genesis() } else { ChainVerifier::new() };
    let mut count = 0u64;
    if let Some(from) = from.filter(|from| end.is_none_or(|end| *from <= end)) {
        let bar = progress_bar(end.map_or(0, |end| end - from + 1), "events");
        bar.set_message(format!("exporting chain {chain}"));
        let mut lines = store.read(chain, from, end).ready_chunks(BATCH);
        while let Some(chunk) = lines.next().await {
            let mut read = Vec::with_capacity(chunk.len());
            // A line that is not text ends the read: the export stops before it, and the
            // verdict is the verifier's (`bad format` there).
            let mut unreadable = None;
            for line in chunk {
                match line {
                    Ok(line) => read.push(line),
                    Err(StoreError::UnreadableLine { seq, detail }) => {
                        unreadable = Some((seq, detail));
                        break;
                    }
                    Err(e) => return Err(db_failure(e)),
                }
            }
            for line in &read {
                file.write_line(line)?;
            }
            let refs: Vec<&[u8]> = read.iter().map(|line| line.as_bytes()).collect();
            verifier.push_lines(&refs);
            count += read.len() as u64;
            bar.inc(read.len() as u64);
            if let Some((seq, detail)) = unreadable {
                eprintln!("note: the export stops before seq {seq}: {detail}");
                verifier.push_unreadable(detail);
                break;
            }
        }
        bar.finish_and_clear();
    } else if let Some(since) = args.since {
        eprintln!("note: chain {chain:?} has no events at or after {since}");
    }
    file.commit()?;
    // (A malformed head row is the finding already; the checks below read the head's event.)
    let since_break = match (args.since.filter(|_| malformed_head.is_none()), from) {
        (Some(since), _) if count == 0 && head.seq > 0 => check_head_before(&store, chain, head, since).await?,
        // The chain has events (`require_chain` above) but no chain-head row to vouch that none
        // is at or after `since`: it was deleted behind the store's back, maybe with them.
        (Some(since), _) if count == 0 => Some((
            Break { seq: 1, reason: "head mismatch".to_string() },
            format!(
                "  no event of chain {chain:?} at or after {since}, but the chain has events and no chain-head row \
                 (deleted behind the store's back): nothing vouches that its newest events are all there \
                 (`audit-trail verify --db` checks the whole chain)"
            ),
        )),
        (Some(since), Some(first)) if count > 0 && first > 1 => check_event_before(&store, chain, first, since).await?,
        _ => None,
    };
    Ok(Exported { count, report: verifier.finish(), stored_head: head, malformed_head, since_break })
}

/// For a `--since` export that found no event at or after `since`: the chain-head row `head`
/// (seq > 0) vouches for that only if its event is there, is the one the row names, and
/// happened before `since`. Otherwise events were deleted (or changed) behind the store's
/// back, and an empty export must not read as valid: the break and its detail.
async fn check_head_before(
    store: &SqlStore,
    chain: &str,
    head: Head,
    since: Timestamp,
) -> Result<Option<(Break, String)>, Failure> {
    let mut lines = store.read(chain, head.seq, Some(head.seq));
    let line = lines.next().await.transpose().map_err(db_failure)?;
    let seq = head.seq;
    let broken = |reason: &str, detail: String| Some((Break { seq, reason: reason.to_string() }, detail));
    let Some(line) = line else {
        return Ok(broken(
            "truncated",
            format!(
                "  no event of chain {chain:?} at or after {since}, but the chain-head row is at seq {seq} and event \
                 {seq} is missing: events were deleted behind the store's back (`audit-trail verify --db` finds the \
                 first missing one)"
            ),
        ));
    };
    let event = match StoredEvent::read(&line) {
        Ok(event) => event,
        Err(e) => {
            return Ok(broken("hash mismatch", format!("  event {seq} of chain {chain:?} is not a valid event: {e}")));
        }
    };
    if event.declared != head.hash || event.computed != head.hash {
        return Ok(broken(
            "head mismatch",
            format!(
                "  no event of chain {chain:?} at or after {since}, but event {seq} is not the one the chain-head row \
                 names (hash {}): it was changed or replaced behind the store's back",
                head.hash
            ),
        ));
    }
    if event.ts >= since {
        return Ok(broken(
            "column mismatch",
            format!(
                "  event {seq} of chain {chain:?} happened at {}, at or after {since}, yet the query by time did not \
                 find it: its indexed columns were edited behind the store's back",
                event.ts
            ),
        ));
    }
    Ok(None)
}

/// What the checks of a `--since` export need of a stored line: its hashes as
/// [`audit_core::line::inspect`] finds them (members another writer added included), and its
/// time.
struct StoredEvent {
    seq: u64,
    prev: audit_core::EventHash,
    declared: audit_core::EventHash,
    computed: audit_core::EventHash,
    ts: Timestamp,
}

impl StoredEvent {
    fn read(line: &str) -> Result<StoredEvent, audit_core::line::FormatError> {
        let info = audit_core::line::inspect(line.as_bytes())?;
        let ts = audit_core::Event::from_canonical_line(line)?.ts;
        Ok(StoredEvent { seq: info.seq, prev: info.prev, declared: info.declared, computed: info.computed, ts })
    }
}

/// For a `--since` export that starts at seq `first` > 1 (the first event the query by time
/// found): the event before it must be there, be the one `first` links to, and have happened
/// before `since`. Otherwise events at or after `since` may be missing from the export: deleted,
/// or hidden from the query by an edited `ts` column (the attack SPEC §2's column check is
/// for); the break and its detail.
async fn check_event_before(
    store: &SqlStore,
    chain: &str,
    first: u64,
    since: Timestamp,
) -> Result<Option<(Break, String)>, Failure> {
    let before = first - 1;
    let lines: Vec<String> = store.read(chain, before, Some(first)).try_collect().await.map_err(db_failure)?;
    let events: Vec<StoredEvent> = lines.iter().filter_map(|line| StoredEvent::read(line).ok()).collect();
    let (Some(previous), Some(next)) =
        (events.iter().find(|e| e.seq == before), events.iter().find(|e| e.seq == first))
    else {
        return Ok(Some((
            Break { seq: first, reason: "prev mismatch".to_string() },
            format!(
                "  event {before} of chain {chain:?}, just before the first event at or after {since}, is missing or \
                 not a valid event: events before the export may have been deleted behind the store's back \
                 (`audit-trail verify --db` names the first break)"
            ),
        )));
    };
    if next.prev != previous.declared || previous.computed != previous.declared {
        return Ok(Some((
            Break { seq: first, reason: "prev mismatch".to_string() },
            format!(
                "  event {first} of chain {chain:?} does not link to the stored event {before}: events were removed, \
                 inserted or replaced behind the store's back (`audit-trail verify --db` names the first break)"
            ),
        )));
    }
    if previous.ts >= since {
        return Ok(Some((
            Break { seq: before, reason: "column mismatch".to_string() },
            format!(
                "  event {before} of chain {chain:?} happened at {}, at or after {since}, yet the query by time did not \
                 find it: its indexed columns were edited behind the store's back, and the export leaves it out",
                previous.ts
            ),
        )));
    }
    Ok(None)
}

/// The seq of the first event of `chain` (lowest seq) with `ts >= since`, through the store's
/// query (its filter is checked against each event's line); `None` if there is none.
async fn first_seq_since(store: &SqlStore, chain: &str, since: Timestamp, last: u64) -> Result<Option<u64>, Failure> {
    let query = Query::new().chain(chain).between(Some(since), None).limit(1);
    let page = store.query(&query).await.map_err(db_failure)?;
    Ok(page.events.first().map(|event| event.seq()).filter(|seq| *seq <= last))
}

/// Where `--out` leads, decided before anything is read or written.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// A regular file (or a name not yet taken), after following symbolic links: written to a
    /// temporary file beside it and renamed over it when complete.
    Replace(PathBuf),
    /// An existing file that is not a regular one (a FIFO, `/dev/stdout`, `/dev/null`, another
    /// device), or a regular file reached through `/dev/fd` or `/proc/self/fd`: written to
    /// directly (a regular file appended to, never truncated); a rename would replace it.
    Direct(PathBuf),
    /// The file standard output or standard error is open on (`--out /dev/stdout` with
    /// `>> archive.jsonl`, or that file's own name): written through that descriptor, so its
    /// offset and `O_APPEND` are kept, as the shell set them up.
    Inherited(PathBuf, StdStream),
}

/// Standard output or standard error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StdStream {
    Stdout,
    Stderr,
}

impl StdStream {
    /// A new descriptor of the stream (a `dup`: same open file, offset and flags).
    fn file(self) -> std::io::Result<std::fs::File> {
        use std::os::fd::AsFd;
        let fd = match self {
            StdStream::Stdout => std::io::stdout().as_fd().try_clone_to_owned()?,
            StdStream::Stderr => std::io::stderr().as_fd().try_clone_to_owned()?,
        };
        Ok(std::fs::File::from(fd))
    }

    /// Whether the stream is open on the file of `metadata`.
    fn is_on(self, metadata: &std::fs::Metadata) -> bool {
        self.file().and_then(|f| f.metadata()).is_ok_and(|m| same_inode(&m, metadata))
    }

    /// The stream open on the file of `metadata`, if one is.
    fn open_on(metadata: &std::fs::Metadata) -> Option<StdStream> {
        [StdStream::Stdout, StdStream::Stderr].into_iter().find(|stream| stream.is_on(metadata))
    }
}

/// True when `out`, or a symbolic link it leads through, names an open descriptor
/// (`/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N` …): opening it opens the file behind the
/// descriptor, which a rename would replace rather than write.
fn through_descriptor(out: &Path) -> bool {
    let own = format!("/proc/{}/fd", std::process::id());
    let names_descriptor = |path: &Path| {
        ["/dev/stdout", "/dev/stderr", "/dev/stdin"].iter().any(|name| path == Path::new(name))
            || ["/dev/fd", "/proc/self/fd", "/proc/thread-self/fd", own.as_str()]
                .iter()
                .any(|dir| path.starts_with(dir))
    };
    let mut path = out.to_path_buf();
    for _ in 0..40 {
        if names_descriptor(&path) {
            return true;
        }
        let Ok(link) = std::fs::read_link(&path) else { return false };
        path = match path.parent() {
            Some(dir) if link.is_relative() => dir.join(link),
            _ => link,
        };
    }
    false
}

/// Resolves `--out`: follows symbolic links, refuses a directory, and refuses the SQLite
/// database being exported (`db_url`) and its `-wal`, `-shm` and `-journal` files, which the
/// export would overwrite.
fn resolve_out(out: &Path, db_url: &str) -> Result<Target, Failure> {
    if is_stdout(out) {
        return stdout_target(db_url);
    }
    let shown = out.display();
    let (resolved, metadata) = match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (out.to_path_buf(), None),
        Err(e) => return Err(Failure::new(format!("cannot inspect --out {shown}: {e}"))),
        Ok(meta) if meta.file_type().is_symlink() => {
            let meta = std::fs::metadata(out).map_err(|e| {
                let link = std::fs::read_link(out).map_or_else(|_| "?".to_string(), |l| l.display().to_string());
                Failure::new(format!(
                    "--out {shown} is a symbolic link to {link}, which cannot be followed ({e}): give the path of \
                     the file to write, or remove the link"
                ))
            })?;
            // A link to a regular file: that file is replaced (the link kept). Any other is
            // opened through the link (`/dev/stdout` leads to `/proc/self/fd/1`, itself a link
            // to no path when it is a pipe).
            let target = if meta.is_file() {
                std::fs::canonicalize(out)
                    .map_err(|e| Failure::new(format!("cannot follow the symbolic link --out {shown}: {e}")))?
            } else {
                out.to_path_buf()
            };
            (target, Some(meta))
        }
        Ok(meta) => (out.to_path_buf(), Some(meta)),
    };
    if metadata.as_ref().is_some_and(std::fs::Metadata::is_dir) {
        return Err(Failure::new(format!("--out {shown} is a directory: give the path of a file to write")));
    }
    if let Some(db) = sqlite_file(db_url).and_then(|db| std::fs::canonicalize(db).ok()) {
        refuse_database(out, &resolved, &db)?;
    }
    Ok(match metadata {
        Some(meta) if !meta.is_file() => Target::Direct(resolved),
        // The messages (and a verdict) go to standard error: in the export's file, they would
        // be lines of it (SPEC §3: nothing else in the file).
        Some(meta) if StdStream::Stderr.is_on(&meta) => {
            return Err(Failure::new(format!(
                "--out {shown} is the file standard error is written to, where the export's messages go: they \
                 would end up in the export. Send standard error elsewhere (2>/dev/null, 2>FILE), or write the \
                 export to another file"
            )));
        }
        Some(meta) => match StdStream::open_on(&meta) {
            Some(stream) => Target::Inherited(resolved, stream),
            None if through_descriptor(out) => Target::Direct(resolved),
            None => Target::Replace(resolved),
        },
        None => Target::Replace(resolved),
    })
}

/// True when `--out` is `-`: standard output, as `-` is standard input for `--jsonl`.
fn is_stdout(out: &Path) -> bool {
    out.as_os_str() == "-"
}

/// `--out -`: standard output, written through its descriptor (so a shell's `>>` appends), as
/// `--out /dev/stdout` is. Refused, as for any other name, when standard output is the regular
/// file standard error goes to (the messages would end up in the export), or the SQLite
/// database being exported or one of its side files (`--out - >> audit.db`).
fn stdout_target(db_url: &str) -> Result<Target, Failure> {
    let metadata = StdStream::Stdout
        .file()
        .and_then(|file| file.metadata())
        .map_err(|e| Failure::new(format!("--out -: cannot write to standard output: {e}")))?;
    if metadata.is_file() && StdStream::Stderr.is_on(&metadata) {
        return Err(Failure::new(
            "--out - (standard output) goes to the same file as standard error, where the export's messages go: \
             they would end up in the export. Send standard error elsewhere (2>/dev/null, 2>FILE), or give --out \
             FILE",
        ));
    }
    #[cfg(unix)]
    if let Some(db) = sqlite_file(db_url).and_then(|db| std::fs::canonicalize(db).ok()) {
        // `/dev/stdout` leads to the file standard output is open on.
        refuse_database(Path::new("-"), Path::new("/dev/stdout"), &db)?;
    }
    #[cfg(not(unix))]
    let _ = db_url;
    Ok(Target::Inherited(PathBuf::from("standard output"), StdStream::Stdout))
}

/// Fails when `resolved` (what `--out` `out` leads to) is the SQLite database file `db`
/// (canonical), one of its side files, or another name (a hard link) of one of them.
fn refuse_database(out: &Path, resolved: &Path, db: &Path) -> Result<(), Failure> {
    let mut files = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        files.push(PathBuf::from(side));
    }
    // The canonical path of the file to be written, whether it exists or not.
    let dir = match resolved.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let canonical = match (std::fs::canonicalize(dir), resolved.file_name()) {
        (Ok(dir), Some(name)) => Some(dir.join(name)),
        _ => None,
    };
    let same_file = |file: &Path| match (std::fs::metadata(resolved), std::fs::metadata(file)) {
        (Ok(a), Ok(b)) => same_inode(&a, &b),
        _ => false,
    };
    match files.iter().find(|file| canonical.as_deref() == Some(file.as_path()) || same_file(file)) {
        Some(file) => Err(Failure::new(format!(
            "--out {} is {}, the SQLite database being exported: writing the export there would destroy the audit \
             trail; give another file",
            out.display(),
            if file == db {
                db.display().to_string()
            } else {
                format!("{} (a side file of {})", file.display(), db.display())
            }
        ))),
        None => Ok(()),
    }
}

/// True when `a` and `b` are the metadata of the same file.
#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// True when `a` and `b` are the metadata of the same file (not known here: the canonical
/// paths are compared instead).
#[cfg(not(unix))]
fn same_inode(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// The export being written: to a temporary file renamed into place, or straight into a
/// file that is not a regular one.
enum Out {
    Replace(TempOut),
    Direct { path: PathBuf, file: std::io::BufWriter<std::fs::File> },
}

impl Out {
    fn new(target: Target) -> Result<Out, Failure> {
        match target {
            Target::Replace(path) => Ok(Out::Replace(TempOut::new(path)?)),
            Target::Direct(path) => {
                // A regular file (through /dev/fd/N) is appended to: its content is kept.
                let regular = std::fs::metadata(&path).is_ok_and(|m| m.is_file());
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .append(regular)
                    .open(&path)
                    .map_err(|e| Failure::new(format!("cannot open {} for writing: {e}", path.display())))?;
                Ok(Out::Direct { path, file: std::io::BufWriter::with_capacity(1 << 20, file) })
            }
            Target::Inherited(path, stream) => {
                let file =
                    stream.file().map_err(|e| Failure::new(format!("cannot write to {}: {e}", path.display())))?;
                Ok(Out::Direct { path, file: std::io::BufWriter::with_capacity(1 << 20, file) })
            }
        }
    }

    fn write_line(&mut self, line: &str) -> Result<(), Failure> {
        let (file, path): (&mut dyn Write, &Path) = match self {
            Out::Replace(temp) => (&mut temp.file, &temp.path),
            Out::Direct { path, file } => (file, path),
        };
        file.write_all(line.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .map_err(|e| Failure::new(format!("cannot write the export to {}: {e}", path.display())))
    }

    /// Completes the export: renames the temporary file into place, or flushes the direct one.
    fn commit(self) -> Result<(), Failure> {
        match self {
            Out::Replace(temp) => temp.commit(),
            Out::Direct { path, mut file } => {
                file.flush().map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))
            }
        }
    }
}

/// A temporary file beside the output, renamed over it on [`TempOut::commit`] and removed if
/// dropped before.
struct TempOut {
    path: PathBuf,
    file: std::io::BufWriter<tempfile::NamedTempFile>,
}

impl TempOut {
    fn new(path: PathBuf) -> Result<TempOut, Failure> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = path.file_name().map_or_else(|| "export".into(), |n| n.to_string_lossy().into_owned());
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|e| Failure::new(format!("cannot create a file in {}: {e}", dir.display())))?;
        Ok(TempOut { path, file: std::io::BufWriter::with_capacity(1 << 20, file) })
    }

    /// Flushes, syncs and renames the file to its final name.
    fn commit(self) -> Result<(), Failure> {
        let shown = self.path.display();
        let file = self.file.into_inner().map_err(|e| Failure::new(format!("cannot write {shown}: {}", e.error())))?;
        file.as_file().sync_all().map_err(|e| Failure::new(format!("cannot write {shown}: {e}")))?;
        file.persist(&self.path).map_err(|e| Failure::new(format!("cannot write {shown}: {}", e.error)))?;
        Ok(())
    }
}
