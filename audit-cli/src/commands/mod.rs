//! One module per subcommand, and what they share: where a trail is read from (a database URL
//! or a JSON Lines file), keys and checkpoints, verdicts, times, progress bars, and output
//! formats (in [`output`]).

pub(crate) mod checkpoint;
pub(crate) mod export;
pub(crate) mod keygen;
pub(crate) mod output;
pub(crate) mod prove;
pub(crate) mod query;
pub(crate) mod report;
pub(crate) mod verify;
pub(crate) mod verify_proof;

use crate::{EXIT_BROKEN, EXIT_VALID, Failure};
use audit_core::checkpoint::{Checkpoint, KeyError, NoteSigner, NoteVerifier};
use audit_core::store::{AuditStore, Head, JsonlStore, Query};
use audit_core::verify::VerifyReport;
use audit_core::{Outcome, Timestamp};
use audit_seaorm::{SqlStore, SqlStoreError, StoreVerifyReport};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::sqlx::mysql::MySqlConnectOptions;
use sea_orm::sqlx::postgres::PgConnectOptions;
use serde_json::json;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The chain a command works on when `--chain` is not given.
pub(crate) const DEFAULT_CHAIN: &str = "default";

/// How long reaching a database server may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Where the trail is: --db URL or --jsonl FILE
// ---------------------------------------------------------------------------------------------

/// `--db URL | --jsonl FILE`: exactly one of them.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Source {
    /// The application's audit database, opened read only: sqlite://PATH,
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (a schema other than public:
    /// ?options=-c%20search_path%3DSCHEMA) or mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE.
    // The brackets are for `--help`, not links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// A JSON Lines export (SPEC §3), e.g. written by `audit-trail export`; `-` for standard
    /// input. A pipe, FIFO or `-` (e.g. `<(zcat trail.jsonl.gz)`) is read once into a
    /// temporary file without a name (in TMPDIR, gone when audit-trail ends, even killed) and
    /// checked from there.
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
}

/// Where a trail is read from.
pub(crate) enum Trail<'a> {
    /// A database URL.
    Db(&'a str),
    /// A JSON Lines file.
    Jsonl(JsonlFile),
}

impl Source {
    /// The `--jsonl` given, if any.
    pub(crate) fn jsonl(&self) -> Option<&Path> {
        self.jsonl.as_deref()
    }

    /// The one source given (clap makes sure there is exactly one). A `--jsonl` that is not a
    /// regular file (a pipe, `-` for standard input) is read once here, into a temporary file.
    pub(crate) fn trail(&self) -> Result<Trail<'_>, Failure> {
        match (&self.db, &self.jsonl) {
            (Some(url), None) => Ok(Trail::Db(url)),
            (None, Some(path)) => Ok(Trail::Jsonl(JsonlFile::open(path)?)),
            _ => Err(Failure::new("give either --db URL or --jsonl FILE")),
        }
    }
}

/// A `--jsonl` trail as a regular file that can be read more than once (the commands read
/// its first line, then the whole file): the file given, or for a pipe, a FIFO, a device or
/// `-` (standard input) a temporary copy of everything read from it, removed when dropped.
pub(crate) struct JsonlFile {
    /// The regular file to read.
    path: PathBuf,
    /// The name given, for messages.
    shown: String,
    /// The temporary copy, if `path` is one.
    copy: Option<TempCopy>,
}

/// A temporary copy of a `--jsonl` pipe, kept open (or named) while it is read.
enum TempCopy {
    /// A file without a name (removed when the process ends, however it ends), read through
    /// `/proc/self/fd/N`.
    Unlinked(#[allow(dead_code)] std::fs::File),
    /// A named file in TMPDIR (where `/proc/self/fd` is not there), removed when dropped.
    Named(#[allow(dead_code)] tempfile::TempPath),
}

impl JsonlFile {
    /// `path` itself if it is a regular file (after following links); otherwise a copy of all
    /// that can be read from it. A directory or a file that cannot be opened is an error.
    pub(crate) fn open(path: &Path) -> Result<JsonlFile, Failure> {
        let shown = path.display().to_string();
        if path.as_os_str() == "-" {
            return JsonlFile::copy(std::io::stdin().lock(), "standard input (--jsonl -)".to_string());
        }
        let metadata = std::fs::metadata(path).map_err(|e| Failure::new(format!("cannot open {shown}: {e}")))?;
        if metadata.is_file() {
            return Ok(JsonlFile { path: path.to_path_buf(), shown, copy: None });
        }
        if metadata.is_dir() {
            return Err(Failure::new(format!("--jsonl {shown} is a directory: give a JSON Lines file")));
        }
        let file = std::fs::File::open(path).map_err(|e| Failure::new(format!("cannot open {shown}: {e}")))?;
        JsonlFile::copy(file, shown)
    }

    /// Copies everything `from` gives into a temporary file (`TMPDIR`).
    fn copy(mut from: impl Read, shown: String) -> Result<JsonlFile, Failure> {
        let copy_failed = |e: std::io::Error| {
            Failure::new(format!(
                "cannot copy {shown} to a temporary file in {} (it is read once, then verified from the copy): \
                 {e}; set TMPDIR to a directory with room, or save the trail to a file and give that",
                std::env::temp_dir().display()
            ))
        };
        // Without a name, so that nothing is left in TMPDIR if the process is killed.
        let mut copy = tempfile::tempfile().map_err(copy_failed)?;
        let mut reading = None;
        // Tell a failed read (of the pipe) from a failed write (of the copy).
        let mut reader = ReadErrors { inner: &mut from, error: &mut reading };
        let copied = std::io::copy(&mut reader, &mut copy).and_then(|_| copy.flush());
        if let Some(e) = reading {
            return Err(Failure::new(format!("cannot read {shown}: {e}")));
        }
        copied.map_err(copy_failed)?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let path = PathBuf::from(format!("/proc/self/fd/{}", copy.as_raw_fd()));
            if path.is_file() {
                return Ok(JsonlFile { path, shown, copy: Some(TempCopy::Unlinked(copy)) });
            }
        }
        // No /proc: a named copy of the copy.
        let mut named = tempfile::NamedTempFile::new().map_err(copy_failed)?;
        std::io::Seek::rewind(&mut copy)
            .and_then(|()| std::io::copy(&mut copy, named.as_file_mut()))
            .and_then(|_| named.as_file_mut().flush())
            .map_err(copy_failed)?;
        let path = named.into_temp_path();
        Ok(JsonlFile { path: path.to_path_buf(), shown, copy: Some(TempCopy::Named(path)) })
    }

    /// The regular file to read.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The name given, for messages.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// True when [`JsonlFile::path`] is a temporary copy of what was given.
    pub(crate) fn is_copy(&self) -> bool {
        self.copy.is_some()
    }
}

/// A reader that keeps its first error aside, so that a copy's caller can tell reading from
/// writing failures.
struct ReadErrors<'a, R> {
    inner: &'a mut R,
    error: &'a mut Option<std::io::Error>,
}

impl<R: Read> Read for ReadErrors<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != std::io::ErrorKind::Interrupted && self.error.is_none() {
                *self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// A database URL, checked before anything connects: its scheme, and for the server
/// databases the host and port to name when they cannot be reached.
struct DbUrl {
    /// The URL without its password, for messages.
    shown: String,
    /// Host and port of a server database; `None` for SQLite (or a Unix socket).
    server: Option<(String, u16)>,
}

impl DbUrl {
    const SCHEMES: &'static str =
        "sqlite://PATH, postgres://USER@HOST:PORT/DATABASE or mysql://USER@HOST:PORT/DATABASE (MySQL and MariaDB)";

    fn parse(url: &str) -> Result<DbUrl, Failure> {
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(Failure::new(format!(
                "--db {url:?} is not a database URL: give {}; for a JSON Lines export, `verify`, `query`, `prove` and `checkpoint` take --jsonl FILE",
                DbUrl::SCHEMES
            )));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let Some(path) = sqlite_url_file(rest) else {
                    return Err(Failure::new(format!(
                        "--db {url:?} names no SQLite file (an in-memory database holds no audit trail): give \
                         sqlite://PATH"
                    )));
                };
                if !path.is_file() {
                    return Err(Failure::new(format!(
                        "no SQLite database at {}: check the path (audit-trail only reads, it never creates a \
                         database; in the URL, write `%` as %25, `?` as %3F and `#` as %23)",
                        path.display()
                    )));
                }
                Ok(DbUrl { shown: url.to_string(), server: None })
            }
            "postgres" | "postgresql" | "mysql" => {
                let invalid = |e: &dyn std::fmt::Display| {
                    Failure::new(format!("--db: {:?} is not a valid URL: {e}", audit_seaorm::redact_url(url)))
                };
                url::Url::parse(url).map_err(|e| invalid(&e))?;
                // Where the driver will connect, as it reads the URL (`?port=`, `?hostaddr=`, a
                // socket path as the host, `PGHOST`/`PGPORT`, …), so that the probe tries that.
                let (host, port, socket) = if scheme.eq_ignore_ascii_case("mysql") {
                    let options = MySqlConnectOptions::from_str(url).map_err(|e| invalid(&e))?;
                    (options.get_host().to_string(), options.get_port(), options.get_socket().is_some())
                } else {
                    let options = PgConnectOptions::from_str(url).map_err(|e| invalid(&e))?;
                    (options.get_host().to_string(), options.get_port(), options.get_socket().is_some())
                };
                // A Unix socket has no host and port to name.
                let socket = socket || host.starts_with('/');
                Ok(DbUrl { shown: audit_seaorm::redact_url(url), server: (!socket).then_some((host, port)) })
            }
            other => Err(Failure::new(format!(
                "--db {:?}: unknown database URL scheme {other:?}: audit-trail reads {}",
                audit_seaorm::redact_url(url),
                DbUrl::SCHEMES
            ))),
        }
    }

    /// Fails at once, naming the host and port, when nothing accepts TCP connections there
    /// (the database pool would retry until its timeout and then only say that it timed out).
    fn probe(&self) -> Result<(), Failure> {
        use std::net::{TcpStream, ToSocketAddrs};
        let Some((host, port)) = &self.server else { return Ok(()) };
        let unreachable = |cause: String| {
            Failure::new(format!(
                "cannot connect to {}: {cause}; check that the database server is running and listening on \
                 {host}:{port}, and the host and port in the URL",
                self.shown
            ))
        };
        let addresses = (host.as_str(), *port)
            .to_socket_addrs()
            .map_err(|e| unreachable(format!("cannot resolve host {host:?} ({e})")))?;
        let mut last = None;
        for address in addresses {
            match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(unreachable(match last {
            Some(e) => format!("nothing accepts connections on {host}:{port} ({e})"),
            None => format!("host {host:?} has no address"),
        }))
    }

    /// The message for a failed connection.
    fn connect_failure(&self, error: &SqlStoreError) -> Failure {
        let cause = match error {
            SqlStoreError::Database { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        match &self.server {
            Some((host, port)) => Failure::new(format!(
                "cannot connect to {} ({host}:{port}): {cause}; check that the database server is running and \
                 accepts connections there, and the user, password and database name in the URL",
                self.shown
            )),
            // SQLite: whether the driver already reads the file while connecting depends on the
            // features sea-orm is built with (`sqlite-use-returning-for-3_35` asks for
            // `sqlite_version()`), so a file that is not a database or a WAL database whose -shm
            // cannot be made fails here or at the schema probe: the same message either way.
            None => read_failure(&self.shown, "open read only", &cause),
        }
    }
}

/// The file a `sqlite:` URL (after its `sqlite:`) names, read as the driver reads it: the
/// path percent-decoded (`%20`, and `%3F`, `%23` for a `?` or `#` in a file name); `None` for
/// no path or an in-memory database (`:memory:`, `mode=memory`).
fn sqlite_url_file(rest: &str) -> Option<PathBuf> {
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let in_memory =
        url::form_urlencoded::parse(query.as_bytes()).any(|(name, value)| name == "mode" && value == "memory");
    if path.is_empty() || path == ":memory:" || in_memory {
        return None;
    }
    Some(PathBuf::from(&*percent_encoding::percent_decode_str(path).decode_utf8_lossy()))
}

/// The SQLite database file `url` names, if it is a `sqlite:` URL naming a file (not
/// checked to exist).
pub(crate) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let (scheme, rest) = url.split_once(':')?;
    scheme.eq_ignore_ascii_case("sqlite").then(|| sqlite_url_file(rest)).flatten()
}

/// Refuses a SQLite URL with `immutable=1` (or `true`) when the database has a non-empty
/// `-wal` file: SQLite then reads the database file alone, and committed transactions wait in
/// the `-wal` file until a checkpoint, so the newest events would be left out without a word.
fn refuse_an_ignored_wal(url: &str, shown: &str) -> Result<(), Failure> {
    let Some(path) = sqlite_file(url) else { return Ok(()) };
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let immutable = url::form_urlencoded::parse(query.as_bytes())
        .any(|(name, value)| name == "immutable" && matches!(&*value, "1" | "true"));
    if !immutable {
        return Ok(());
    }
    // SQLite names the -wal file after the file a symbolic link points to.
    let file = std::fs::canonicalize(&path).unwrap_or(path);
    let mut wal = file.into_os_string();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    match std::fs::metadata(&wal) {
        Ok(metadata) if metadata.len() > 0 => Err(Failure::new(format!(
            "{shown} is opened with immutable=1, which reads no -wal file, but {} holds {} bytes of changes \
             (committed events among them, until the application checkpoints it): drop immutable=1, or read a \
             copy of the database file and its -wal file",
            wal.display(),
            metadata.len()
        ))),
        _ => Ok(()),
    }
}

/// Opens the audit store at `url` for reading only (see `SqlStore::connect_read_only`): never
/// creates a database, a table or a row (SQLite, like any reader of a database in WAL mode, may
/// create its `-wal` and `-shm` side files), and says what to do when the URL, the server or
/// the audit tables are not right.
pub(crate) async fn open_db(url: &str) -> Result<SqlStore, Failure> {
    let target = DbUrl::parse(url)?;
    target.probe()?;
    refuse_an_ignored_wal(url, &target.shown)?;
    let store =
        SqlStore::connect_read_only(&with_lowercase_scheme(url)).await.map_err(|e| target.connect_failure(&e))?;
    store.check_schema().await.map_err(|e| match e {
        SqlStoreError::Database { context, source } => read_failure(&target.shown, &context, &source),
        e => Failure::new(format!(
            "no audit trail in {}: {e}. audit-trail only reads and never creates tables: point --db at the \
             database the application writes its audit trail to (on PostgreSQL also its schema, with \
             ?options=-c%20search_path%3DSCHEMA)",
            target.shown
        )),
    })?;
    Ok(store)
}

/// `url` with its scheme in lower case, as the drivers read it. Schemes are case-insensitive
/// (RFC 3986 §3.1) and [`DbUrl::parse`] takes `SQLITE://PATH`, but the SQLite driver strips
/// only a lower-case `sqlite:` and opened the whole URL as a relative file name: "unable to
/// open database file … check the path" for a path that is right.
fn with_lowercase_scheme(url: &str) -> String {
    match url.split_once(':') {
        Some((scheme, rest)) => format!("{}:{rest}", scheme.to_ascii_lowercase()),
        None => url.to_string(),
    }
}

/// The message for a failed read of the audit tables that is not a missing table, or for a
/// SQLite file that cannot be opened: what to do about it (grant a privilege, name the
/// database, read a copy …). Used by both steps of [`open_db`] (connect and schema probe), so
/// the advice does not depend on which step met the cause.
fn read_failure(shown: &str, context: &str, source: &dyn std::fmt::Display) -> Failure {
    let text = source.to_string();
    let advice = read_advice(&format!("{context}: {text}"));
    Failure::new(format!("cannot read the audit tables in {shown} ({context}: {text}): {advice}"))
}

/// What to do about the cause `text` of a failed connect or read of the audit tables.
fn read_advice(text: &str) -> &'static str {
    let lower = text.to_lowercase();
    if lower.contains("lacks usage on schema") {
        "the database user in the URL may not look into the schema holding the audit tables: grant it USAGE on \
         that schema (as above) and SELECT on audit_events, audit_chain_heads and audit_merkle_nodes"
    } else if lower.contains("permission denied") || lower.contains("command denied") {
        "the database user in the URL may not read the audit tables: grant it SELECT (all audit-trail needs) on \
         audit_events, audit_chain_heads and audit_merkle_nodes, e.g. GRANT SELECT ON audit_events, \
         audit_chain_heads, audit_merkle_nodes TO <user> (on PostgreSQL also USAGE on their schema)"
    } else if lower.contains("attempt to write a readonly database") {
        "SQLite could not set up the -shm or -wal file of this WAL database for reading (the directory or the \
         files are not writable by this user): read a copy of the database file and its -wal file, or, if no \
         process writes to the database and it has no -wal file (or an empty one), add ?immutable=1 to the URL"
    } else if lower.contains("no database selected") {
        "the URL names no database: put its name in the path, mysql://USER@HOST:PORT/DATABASE"
    } else if lower.contains("file is not a database") {
        "the file is not a SQLite database (or it is encrypted): check the path in the URL"
    } else if lower.contains("unable to open database file") {
        "check the path in the URL and that this user may read the file and its directory"
    } else {
        "check the URL, the user's privileges (SELECT on the audit tables) and the server"
    }
}

/// A database error met while reading, as a message.
pub(crate) fn db_failure(error: impl std::fmt::Display) -> Failure {
    Failure::new(format!("database error: {error}"))
}

/// Fails unless `chain` has a head row or events in `store` (a mistyped `--chain` must not
/// read as an empty, valid trail); the message lists the chains there are.
pub(crate) async fn require_chain(store: &SqlStore, chain: &str) -> Result<(), Failure> {
    // By name: a head row of another chain edited into something malformed must not make
    // this one's command a database error.
    let chains = store.chain_names().await.map_err(db_failure)?;
    if chains.iter().any(|name| name == chain) || has_events(store, chain).await? {
        return Ok(());
    }
    let names: Vec<String> = match store.chains().await {
        Ok(heads) => heads.iter().map(|(name, head)| format!("{name:?} ({} events)", head.seq)).collect(),
        Err(_) => chains.iter().map(|name| format!("{name:?}")).collect(),
    };
    Err(Failure::new(if names.is_empty() {
        format!("chain {chain:?} has no events in this database: it holds no chains yet")
    } else {
        format!(
            "chain {chain:?} has no events in this database; its chains are {}: pick one with --chain",
            names.join(", ")
        )
    }))
}

/// True when `store` holds an event of `chain` (whether or not the chain has a head row: the
/// row may have been deleted behind the store's back).
pub(crate) async fn has_events(store: &SqlStore, chain: &str) -> Result<bool, Failure> {
    let page = store.query(&Query::new().chain(chain).limit(1)).await.map_err(db_failure)?;
    Ok(!page.events.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Keys and checkpoints
// ---------------------------------------------------------------------------------------------

/// Most bytes read from a key file (a key is one short line).
const MAX_KEY_FILE: u64 = 64 * 1024;
/// Most bytes read from a checkpoint or proof file (a signed note with 100 signatures, or a
/// proof of 64 hashes, is a few kilobytes).
pub(crate) const MAX_NOTE_FILE: u64 = 1024 * 1024;

/// The contents of `path` (`-`: standard input when `stdin_dash`), refused beyond `limit`
/// bytes without reading further: a wrong file (or `/dev/zero`) gives an error, not an
/// exhausted memory.
pub(crate) fn read_limited(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>, Failure> {
    let shown = path.display();
    let cannot = |e: std::io::Error| Failure::new(format!("cannot read the {what} {shown}: {e}"));
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().lock().take(limit + 1).read_to_end(&mut bytes).map_err(cannot)?;
    } else {
        std::fs::File::open(path).and_then(|file| file.take(limit + 1).read_to_end(&mut bytes)).map_err(cannot)?;
    }
    if bytes.len() as u64 > limit {
        return Err(Failure::new(format!(
            "the {what} {shown} is larger than {} KiB: it is not a {what} (give the file that `audit-trail` wrote)",
            limit / 1024
        )));
    }
    Ok(bytes)
}

/// [`read_limited`] as UTF-8 text.
pub(crate) fn read_limited_text(path: &Path, what: &str, limit: u64) -> Result<String, Failure> {
    String::from_utf8(read_limited(path, what, limit)?)
        .map_err(|e| Failure::new(format!("the {what} {} is not UTF-8 text ({e})", path.display())))
}

/// Refuses standard input (`-`) for more than one of `inputs` (each a flag and its value): the
/// first read would take all of it and the others would find nothing (a checkpoint read from
/// it left an empty trail, reported as every event removed).
pub(crate) fn stdin_at_most_once(inputs: &[(&str, Option<&Path>)]) -> Result<(), Failure> {
    let from_stdin: Vec<&str> =
        inputs.iter().filter(|(_, path)| path.is_some_and(|p| p.as_os_str() == "-")).map(|(flag, _)| *flag).collect();
    if from_stdin.len() > 1 {
        return Err(Failure::new(format!(
            "{} all say `-` (standard input), which can be read only once: give all but one as files",
            from_stdin.join(" and ")
        )));
    }
    Ok(())
}

/// A verifier key given as the key itself (`<name>+<8 hex>+<base64>`) or as a file holding it.
pub(crate) fn verifier_key(arg: &str) -> Result<NoteVerifier, Failure> {
    let parse_error = match arg.trim().parse::<NoteVerifier>() {
        Ok(key) => return Ok(key),
        Err(KeyError::PrivateKeyGiven) => {
            return Err(Failure::new(format!("--key: {}", KeyError::PrivateKeyGiven)));
        }
        Err(e) => e,
    };
    let path = Path::new(arg);
    if !path.is_file() {
        return Err(Failure::new(format!(
            "--key {arg:?} is neither a verifier key (<name>+<8 hex digits>+<base64>, as `audit-trail keygen` \
             prints it) nor a file holding one ({parse_error})"
        )));
    }
    let text = read_limited_text(path, "verifier key file", MAX_KEY_FILE)?;
    without_bom(&text)
        .trim()
        .parse()
        .map_err(|e| Failure::new(format!("{} does not hold a verifier key: {e}", path.display())))
}

/// `text` without a leading UTF-8 byte order mark (which some editors add, and `trim` keeps).
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The private key in `path` (Go note form, as `audit-trail keygen` writes it).
/// Warns (on stderr) when others than its owner may read or write the file: anyone who can
/// read it can sign checkpoints in the log's name. A warning, not a refusal: secrets mounted
/// by orchestrators are often `0644` inside a private container.
pub(crate) fn signer_key(path: &Path) -> Result<NoteSigner, Failure> {
    let shown = path.display();
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: the private key file {shown} is open to others than its owner (mode {mode:03o}): anyone who \
                 can read it can sign checkpoints in this log's name; run `chmod 600 {shown}`"
            );
        }
    }
    let text = read_limited_text(path, "key file", MAX_KEY_FILE)?;
    without_bom(&text).trim().parse().map_err(|e| {
        Failure::new(format!(
            "{shown} does not hold a private key: {e} (make one with `audit-trail keygen --name NAME --out {shown}`)"
        ))
    })
}

/// The checkpoint in `path`, after checking that `key` signed it.
pub(crate) fn trusted_checkpoint(path: &Path, key: &NoteVerifier) -> Result<Checkpoint, Failure> {
    let shown = path.display();
    let note = read_limited(path, "checkpoint", MAX_NOTE_FILE)?;
    let checkpoint = Checkpoint::verify(&note, key).map_err(|e| {
        Failure::new(format!(
            "checkpoint {shown} refused, nothing was verified: {e} (the verifier key given is {})",
            key
        ))
    })?;
    // It vouches for no event, and says something false of none: not a finding about the
    // chain, a checkpoint no signer of this log's writes.
    if checkpoint.size == 0 && checkpoint.root != audit_core::merkle::empty_root() {
        return Err(Failure::new(format!(
            "checkpoint {shown} refused, nothing was verified: it is of size 0 with a root that is not the empty \
             tree's (SHA-256 of nothing, SPEC §4), so it is malformed though signed by the key given; use a \
             checkpoint `audit-trail checkpoint` made"
        )));
    }
    Ok(checkpoint)
}

// ---------------------------------------------------------------------------------------------
// Running async store code
// ---------------------------------------------------------------------------------------------

/// Runs `future` to completion on a small runtime (the store APIs are async).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

/// Opens a `--jsonl` trail to verify: all of it, or while a writer holds its lock in the middle
/// of a line (a write in progress, not tampering), its complete lines only, with a note for
/// stderr saying so. Returns the reader, its length and the note.
pub(crate) fn open_jsonl(trail: &JsonlFile) -> Result<(std::io::Take<std::fs::File>, u64, Option<String>), Failure> {
    let shown = trail.shown();
    let mut file = std::fs::File::open(trail.path()).map_err(|e| Failure::new(format!("cannot open {shown}: {e}")))?;
    let cannot_read = |e: std::io::Error| Failure::new(format!("cannot read {shown}: {e}"));
    // Measured once on this handle, and exactly that much read: a line a writer starts
    // meanwhile is not read half. A temporary copy has no writer.
    let (readable, left_out) = match trail.is_copy() {
        true => (file.metadata().map_err(cannot_read)?.len(), None),
        false => JsonlStore::readable_length(&mut file).map_err(cannot_read)?,
    };
    Ok((file.take(readable), readable, left_out.map(|bytes| unfinished_write_note(shown, bytes))))
}

/// The note on a trail read while a writer was in the middle of a line.
pub(crate) fn unfinished_write_note(shown: &str, bytes: u64) -> String {
    format!(
        "note: {shown} is being appended to (a writer holds its lock): its last {bytes} bytes, a line not yet \
         complete, are left out; the complete lines before them are checked"
    )
}

/// The first event of a JSON Lines file: its seq and chain (`None` when the first line is not
/// an event, which is left for the verifier to report).
pub(crate) fn first_event(trail: &JsonlFile) -> Result<Option<(u64, String)>, Failure> {
    let shown = trail.shown();
    let file = std::fs::File::open(trail.path()).map_err(|e| Failure::new(format!("cannot open {shown}: {e}")))?;
    let mut first = Vec::new();
    // Bounded: an over-long first line is not an event, and the verifier reports it.
    std::io::BufReader::new(file.take(audit_core::verify::MAX_LINE_BYTES as u64 + 1))
        .read_until(b'\n', &mut first)
        .map_err(|e| Failure::new(format!("cannot read {shown}: {e}")))?;
    if first.last() == Some(&b'\n') {
        first.pop();
    }
    // The chain's range holds a JSON string, quotes and escapes included.
    Ok(audit_core::line::inspect(&first)
        .ok()
        .and_then(|info| serde_json::from_slice::<String>(&first[info.chain]).ok().map(|chain| (info.seq, chain))))
}

/// Refuses a trail that is a part of a chain (its first event is not seq 1): checkpoints and
/// proofs cover whole chains.
pub(crate) fn require_whole_chain(trail: &JsonlFile, what: &str) -> Result<(), Failure> {
    match first_event(trail)? {
        Some((seq, _)) if seq != 1 => Err(Failure::new(format!(
            "{} starts at seq {seq}: {what} needs the whole chain from seq 1 (export it from the start)",
            trail.shown()
        ))),
        _ => Ok(()),
    }
}

/// Refuses a JSON Lines file whose events belong to another chain than `--chain` asked for,
/// or that is empty when a chain was asked for (a mistyped path or a failed export must not
/// read as an empty, valid trail of that chain).
pub(crate) fn require_jsonl_chain(trail: &JsonlFile, chain: Option<&str>) -> Result<(), Failure> {
    match (first_event(trail)?, chain) {
        (Some((_, found)), Some(asked)) if found != asked => Err(Failure::new(format!(
            "{} holds chain {found:?}, not {asked:?} (a JSON Lines export holds one chain)",
            trail.shown()
        ))),
        (None, Some(asked)) if is_empty(trail.path()) => Err(Failure::new(format!(
            "{} is empty: it holds no events of chain {asked:?} (check the path, or export the chain again)",
            trail.shown()
        ))),
        _ => Ok(()),
    }
}

/// Refuses an empty JSON Lines file where events are needed.
pub(crate) fn require_events(trail: &JsonlFile, what: &str) -> Result<(), Failure> {
    if is_empty(trail.path()) {
        return Err(Failure::new(format!("{} is empty: {what} needs at least one event", trail.shown())));
    }
    Ok(())
}

fn is_empty(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() == 0)
}

// ---------------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------------

/// Parses `--since` / `--until`: an RFC 3339 time with any offset (kept to the microsecond),
/// or a date, meaning midnight UTC.
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        // Events are timed to the microsecond: a bound between two microseconds is the next
        // one, exactly ("at or after" and "before" both keep their meaning).
        let time = time.to_utc();
        if chrono::Timelike::nanosecond(&time) >= 1_000_000_000 {
            // In a leap second (`23:59:60.5`), which no event is in: the next second's start,
            // exactly (chrono's microseconds would put it half a second into that second).
            let next = time.timestamp().checked_add(1).and_then(|s| s.checked_mul(1_000_000));
            if let Some(ts) = next.and_then(Timestamp::from_unix_micros) {
                return Ok(ts);
            }
        }
        let below = i64::from(chrono::Timelike::nanosecond(&time) % 1000);
        let time = match below {
            0 => time,
            _ => time.checked_add_signed(chrono::TimeDelta::nanoseconds(1000 - below)).unwrap_or(time),
        };
        return Ok(Timestamp::from_datetime(time));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(midnight) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(Timestamp::from_datetime(midnight.and_utc()));
    }
    Err(format!(
        "{text:?} is not an RFC 3339 time: write e.g. 2026-11-23T10:15:30Z, 2026-11-23T11:15:30.5+01:00, or a \
         date (2026-11-23, midnight UTC)"
    ))
}

/// `--since` / `--until` of queries and reports.
#[derive(Args)]
pub(crate) struct Period {
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z, or a date:
    /// midnight UTC).
    #[arg(long, value_name = "TS", value_parser = parse_time)]
    pub(crate) since: Option<Timestamp>,
    /// Only events before this time (exclusive: --until 2026-11-30 leaves 30 November out).
    #[arg(long, value_name = "TS", value_parser = parse_time)]
    pub(crate) until: Option<Timestamp>,
}

impl Period {
    /// Refuses a period with no time in it: "nothing found" would read as an answer.
    pub(crate) fn check(&self) -> Result<(), Failure> {
        match (self.since, self.until) {
            (Some(since), Some(until)) if since >= until => Err(Failure::new(format!(
                "--since {since} is not before --until {until}: no time is in that period (--until is exclusive); \
                 swap them, or widen the period"
            ))),
            _ => Ok(()),
        }
    }
}

/// `--outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutcomeArg {
    /// It worked.
    Success,
    /// It failed.
    Failure,
    /// It was refused.
    Denied,
}

impl From<OutcomeArg> for Outcome {
    fn from(outcome: OutcomeArg) -> Outcome {
        match outcome {
            OutcomeArg::Success => Outcome::Success,
            OutcomeArg::Failure => Outcome::Failure,
            OutcomeArg::Denied => Outcome::Denied,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

/// A progress bar on stderr counting to `len` `unit`s, hidden when stderr is not a terminal
/// (so pipes, files and tests see nothing of it).
pub(crate) fn progress_bar(len: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!("{{msg}} [{{bar:40}}] {{human_pos}}/{{human_len}} {unit} ({{eta}} left)");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

// ---------------------------------------------------------------------------------------------
// Verdicts (SPEC §6 `verify` output)
// ---------------------------------------------------------------------------------------------

/// The first break a verification found, as SPEC §6 prints it.
pub(crate) struct Break {
    /// Where.
    pub(crate) seq: u64,
    /// Why: a SPEC §2 reason (`hash mismatch`, …, `truncated`, `checkpoint mismatch`), or for a
    /// database also `column mismatch` (an indexed column differs from its event) and
    /// `head mismatch` (the chain-head row disagrees with the events).
    pub(crate) reason: String,
}

/// The outcome of verifying a trail: what `verify` prints, and its exit code.
pub(crate) struct Verdict {
    /// Events that passed every check before the first break (or all of them).
    pub(crate) verified: u64,
    /// The first break.
    pub(crate) broken: Option<Break>,
    /// Lines for stderr: what broke in detail, or notes on a valid trail.
    pub(crate) notes: Vec<String>,
}

/// Where and why a chain whose events (read up to the head row) end at `events` breaks
/// against the chain-head row `stored`: fewer events than the row counts is `truncated` at the
/// first missing seq; otherwise `head mismatch`: at the row's seq when the hashes differ, after
/// it when events go beyond it or agree with it (then the problem is events stored beyond the
/// row, e.g. all of them when the row is missing: seq 1, never the seq 0 no event has).
pub(crate) fn head_break(events: Head, stored: Head) -> (u64, &'static str) {
    if events.seq < stored.seq {
        (events.seq + 1, "truncated")
    } else if events.seq == stored.seq && events.hash != stored.hash {
        (stored.seq, "head mismatch")
    } else {
        (stored.seq + 1, "head mismatch")
    }
}

/// How many column mismatches are listed on stderr (all are counted).
const LISTED_MISMATCHES: usize = 20;

impl Verdict {
    /// The verdict on a chain of lines (a JSON Lines file), checked against `checkpoint` if given.
    pub(crate) fn of_lines(report: &VerifyReport, checkpoint: Option<&Checkpoint>) -> Verdict {
        let broken = report.broken.as_ref().map(|b| Break { seq: b.seq, reason: b.reason.as_str().to_string() });
        let mut notes = Vec::new();
        match (&report.broken, report.trusted_prev) {
            (Some(broken), _) => notes.push(format!("  {} (after {} valid events)", broken.detail, report.verified)),
            (None, Some(prev)) => notes.push(format!(
                "note: this is a part of a chain starting at seq {}; its first prev ({prev}) is taken on trust",
                report.first_seq.unwrap_or(0)
            )),
            (None, None) => {
                if let Some(checkpoint) = checkpoint {
                    notes.push(checkpoint_note(checkpoint));
                }
            }
        }
        Verdict { verified: report.verified, broken, notes }
    }

    /// The verdict on a chain as a database stores it: its lines, and every indexed column and
    /// the chain-head row against them. The break reported is the one at the lowest seq (a
    /// break of the lines wins a tie); the others are listed on stderr.
    pub(crate) fn of_store(report: &StoreVerifyReport, checkpoint: Option<&Checkpoint>) -> Verdict {
        let lines = &report.lines;
        // (seq, reason, detail) of each kind of problem.
        let mut problems: Vec<(u64, &str, String)> = Vec::new();
        if let Some(broken) = &lines.broken {
            problems.push((broken.seq, broken.reason.as_str(), broken.detail.clone()));
        }
        if let Some(first) = report.column_mismatches.first() {
            let mut detail = report
                .column_mismatches
                .iter()
                .take(LISTED_MISMATCHES)
                .map(|m| format!("{m} (edited behind the store's back: queries on it miss or misplace the event)"))
                .collect::<Vec<_>>()
                .join("\n  ");
            let unlisted = report.column_mismatch_count.saturating_sub(LISTED_MISMATCHES as u64);
            if unlisted > 0 {
                detail.push_str(&format!("\n  … and {unlisted} more column mismatches"));
            }
            problems.push((first.seq, "column mismatch", detail));
        }
        if let Some(problem) = &report.head_problem {
            // Where the lines broke, the verifier's head is where it stopped (back at seq 0
            // after a checkpoint's mismatch), not where the events end: the head row's problem
            // is then events stored beyond it (or the row malformed), not a truncation.
            let events = if lines.broken.is_some() { report.stored_head } else { lines.head };
            let (seq, reason) = head_break(events, report.stored_head);
            problems.push((seq, reason, problem.clone()));
        }
        let first = problems.iter().enumerate().min_by_key(|(i, (seq, ..))| (*seq, *i)).map(|(i, _)| i);
        let Some(first) = first else {
            let notes = checkpoint.map(checkpoint_note).into_iter().collect();
            return Verdict { verified: lines.verified, broken: None, notes };
        };
        let (seq, reason, detail) = problems.remove(first);
        let from_lines = lines.broken.as_ref().is_some_and(|b| b.seq == seq && b.reason.as_str() == reason);
        // (Events before `seq`, counted from the first read: after a checkpoint, not seq 1.)
        let before = seq.saturating_sub(lines.first_seq.unwrap_or(1));
        let verified = if from_lines { lines.verified } else { lines.verified.min(before) };
        let mut notes = vec![format!("  {detail} (after {verified} valid events)")];
        for (seq, reason, detail) in problems {
            notes.push(format!("also BROKEN at seq {seq}: {reason}\n  {detail}"));
        }
        Verdict { verified, broken: Some(Break { seq, reason: reason.to_string() }), notes }
    }

    /// True when nothing broke.
    pub(crate) fn is_valid(&self) -> bool {
        self.broken.is_none()
    }

    /// The exit code of SPEC §6: 0 valid, 1 tampering found.
    pub(crate) fn exit_code(&self) -> u8 {
        if self.is_valid() { EXIT_VALID } else { EXIT_BROKEN }
    }

    /// The SPEC §6 line: `valid: N events` or `BROKEN at seq N: <reason>`.
    pub(crate) fn line(&self) -> String {
        match &self.broken {
            None => format!("valid: {} events", self.verified),
            Some(broken) => format!("BROKEN at seq {}: {}", broken.seq, broken.reason),
        }
    }

    /// Prints the verdict on stdout (the SPEC §6 line, or its JSON object) and the notes on stderr.
    pub(crate) fn print(&self, as_json: bool) -> Result<(), Failure> {
        self.print_to(as_json, &mut std::io::stdout().lock())
    }

    /// [`Verdict::print`] to standard error: for commands whose standard output carries
    /// what they make (a checkpoint, a proof), so that a refusal is not saved in its place.
    pub(crate) fn print_refusal(&self) -> Result<(), Failure> {
        self.print_to(false, &mut std::io::stderr().lock())
    }

    /// [`Verdict::print`] to `out` (standard error where standard output carries data).
    pub(crate) fn print_to(&self, as_json: bool, out: &mut dyn Write) -> Result<(), Failure> {
        let written = if as_json {
            let value = json!({
                "status": if self.is_valid() { "valid" } else { "broken" },
                "verified": self.verified,
                "broken_at": self.broken.as_ref().map(|b| b.seq),
                "reason": self.broken.as_ref().map(|b| b.reason.as_str()),
            });
            writeln!(out, "{value}")
        } else {
            writeln!(out, "{}", self.line())
        };
        written.and_then(|()| out.flush()).map_err(|e| Failure::new(format!("cannot write the verdict: {e}")))?;
        for note in &self.notes {
            eprintln!("{note}");
        }
        Ok(())
    }
}

/// Writes `text` to standard output (a closed pipe or a full disk is an error to report,
/// not a panic as with `print!`).
pub(crate) fn print_out(text: impl std::fmt::Display) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    write!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("cannot write to standard output: {e}")))
}

/// [`print_out`] with a newline.
pub(crate) fn println_out(text: impl std::fmt::Display) -> Result<(), Failure> {
    print_out(format_args!("{text}\n"))
}

/// The note on a trail that matched a checkpoint.
fn checkpoint_note(checkpoint: &Checkpoint) -> String {
    if checkpoint.size == 0 {
        return format!(
            "note: checkpoint {} is of the empty log (size 0): it vouches for no event; every event is checked by \
             its links only",
            checkpoint.origin
        );
    }
    format!(
        "note: events 1..={} match checkpoint {} (size {}); later events are checked by their links only",
        checkpoint.size, checkpoint.origin, checkpoint.size
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bound in a leap second is the next second's start (no event is in a leap second):
    /// `23:59:60.5` was read as half a second into the next day, and `--since` then passed over
    /// the events of that half second.
    #[test]
    fn a_time_in_a_leap_second_is_the_next_seconds_start() {
        let midnight = parse_time("2017-01-01T00:00:00Z").expect("a time");
        for leap in ["2016-12-31T23:59:60Z", "2016-12-31T23:59:60.5Z", "2016-12-31T23:59:60.999999999Z"] {
            assert_eq!(parse_time(leap), Ok(midnight), "{leap}");
        }
        assert_eq!(parse_time("2017-01-01T05:29:60.5+05:30"), Ok(midnight));
        assert_eq!(parse_time("2016-12-31T23:59:59.9999999Z"), Ok(midnight), "rounded up to the microsecond");
        assert_eq!(
            parse_time("2017-01-01T00:00:00.4Z").map(|ts| ts.unix_micros() - midnight.unix_micros()),
            Ok(400_000)
        );
    }

    /// The SQLite causes get the same advice whether connecting or the schema probe meets them
    /// (which one does depends on the features sea-orm is built with).
    #[test]
    fn sqlite_causes_get_the_same_advice_at_connect_and_at_the_probe() {
        let url = "sqlite:///tmp/x.db";
        let target = DbUrl { shown: url.to_string(), server: None };
        for (cause, advice) in [
            ("(code: 26) file is not a database", "not a SQLite database"),
            ("(code: 1544) attempt to write a readonly database", "read a copy"),
        ] {
            let error = SqlStoreError::Database {
                context: "connect".to_string(),
                source: sea_orm::DbErr::Custom(cause.to_string()),
            };
            let at_connect = target.connect_failure(&error).0;
            let at_probe = read_failure(url, "probe", &cause).0;
            for message in [&at_connect, &at_probe] {
                assert!(message.contains("cannot read the audit tables"), "{message}");
                assert!(message.contains(advice), "{message}");
            }
        }
    }
}
