//! [`JsonlStore`]: one chain in a JSON Lines file whose bytes are exactly a SPEC §3 export.
//!
//! - Each batch is written with one `write` and made durable with `fsync` before
//!   [`AuditStore::append`] returns; a failed write or `fsync` is undone (the file is cut back
//!   to its previous length, before the next append if cutting failed at once), so a running
//!   store never keeps part of a batch. A crash in the middle of a write can leave the
//!   batch's first lines complete: they are valid events of the chain, never acknowledged.
//! - Ids are not looked up (that would mean reading the whole file): an id given twice with
//!   [`crate::EventDraft::with_id`] is written twice, and verification reports the second as
//!   `duplicate id`. The writer refuses an id repeated within one batch; the in-memory and
//!   SQL stores refuse any id their chain already has.
//! - The trail is a regular file: a path that names anything else (a device such as
//!   `/dev/null`, a directory) is refused on open, with an error that says so.
//! - The file is locked exclusively while the store is open: a second process (or a second
//!   store in this one) gets [`StoreError::Locked`].
//! - On open, a torn last line (a crash mid-write leaves bytes after the last `\n`) is
//!   detected, cut off and reported by [`JsonlStore::torn_tail`]; nothing else is touched.
//!   The last complete line must be a valid event whose hash recomputes, and the bytes after
//!   it must be the start of an event line (or NUL bytes), or opening fails and nothing is cut.

use super::{AppendError, AuditStore, Head, LineStream, Query, QueryPage, StoreError, check_batch};
use crate::event::SealedEvent;
use crate::line;
use crate::verify::MAX_LINE_BYTES;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A chain in a JSON Lines file.
#[derive(Debug)]
pub struct JsonlStore {
    path: PathBuf,
    state: Arc<Mutex<State>>,
    torn_tail: Option<TornTail>,
    /// Bytes after the last line left unread by [`JsonlStore::open_read_only`]: a write in
    /// progress.
    unfinished: Option<u64>,
    read_only: bool,
}

#[derive(Debug)]
struct State {
    file: File,
    len: u64,
    head: Head,
    chain: Option<String>,
    /// A failed write could not be cut back: the file holds bytes after `len`, cut before
    /// the next append.
    dirty: bool,
}

/// Bytes after the last complete line, found and removed when the file was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Where they started.
    pub offset: u64,
    /// What they were (a partial event; never acknowledged to anyone).
    pub bytes: Vec<u8>,
}

impl JsonlStore {
    /// Opens (creating if needed) and locks the trail at `path`, recovering a torn tail.
    ///
    /// The directory entry is made durable too (at every open). Bytes after the last `\n` are cut
    /// only if they can be the start of an event line (or are NUL, or such a start followed
    /// by NUL, as a crash can leave them) and the last complete line is a valid event;
    /// otherwise opening fails and the
    /// file is left as it is.
    ///
    /// A path that names no regular file (a device such as `/dev/null`, a directory, a FIFO) is
    /// refused with [`StoreError::Io`] before it is opened: nothing could be made durable there.
    pub fn open(path: impl AsRef<Path>) -> Result<JsonlStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        refuse_what_is_not_a_file(&path, &shown)?;
        let mut file = open_or_create(&path).map_err(|e| StoreError::io(format!("cannot open {shown}"), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::Locked { path }),
            Err(TryLockError::Error(e)) => return Err(StoreError::io(format!("cannot lock {shown}"), e)),
        }
        // Else a power loss can lose the file with the events acknowledged in it. Every time,
        // not only when this open created the file: an open that created it and then failed to
        // sync leaves a file the next open finds, whose entry may not be durable.
        crate::durable::sync_parent_dir(&path)
            .map_err(|e| StoreError::io(format!("cannot sync the directory of {shown}"), e))?;
        let len = file.metadata().map_err(|e| StoreError::io(format!("cannot stat {shown}"), e))?.len();
        let complete = end_of_last_line(&mut file, len)
            .map_err(|e| StoreError::io(format!("cannot read {shown}"), e))?
            .ok_or_else(|| overlong_tail(&shown))?;
        // Check what stays before cutting anything.
        let (head, chain) = head_of(&mut file, complete, &shown)?;
        let mut torn_tail = None;
        if complete < len {
            let not_torn = || {
                StoreError::Corrupt(format!(
                    "{shown} ends with {} bytes after its last line that are not the start of an event; \
                     the file is left as it is: check that it is an audit trail, then run \
                     `audit-trail verify --jsonl {shown}`",
                    len - complete
                ))
            };
            // No line is longer: not read into memory.
            if len - complete > MAX_LINE_BYTES as u64 {
                return Err(not_torn());
            }
            let mut bytes = vec![0; usize::try_from(len - complete).unwrap_or(0)];
            file.seek(SeekFrom::Start(complete))
                .and_then(|_| file.read_exact(&mut bytes))
                .map_err(|e| StoreError::io(format!("cannot read the end of {shown}"), e))?;
            if !is_torn_line(&bytes) {
                return Err(not_torn());
            }
            file.set_len(complete)
                .and_then(|_| file.sync_all())
                .map_err(|e| StoreError::io(format!("cannot cut the torn last line of {shown}"), e))?;
            torn_tail = Some(TornTail { offset: complete, bytes });
        }
        let state = State { file, len: complete, head, chain, dirty: false };
        Ok(JsonlStore { path, state: Arc::new(Mutex::new(state)), torn_tail, unfinished: None, read_only: false })
    }

    /// Opens an existing trail for reading only: nothing is created, locked, cut or written
    /// ([`AuditStore::append`] fails). For auditors' tools (proofs) and for files another
    /// process is appending to: it reads the complete lines present when it was opened.
    ///
    /// Bytes after the last `\n` while a writer ([`JsonlStore::open`]) holds the file's lock
    /// are its write in progress: only the complete lines before them are read, and
    /// [`JsonlStore::unfinished_write`] says how many bytes were left. Without a writer, such
    /// bytes (a torn write, a last line without its newline, trailing garbage) are
    /// [`StoreError::Corrupt`]: verification calls such a file broken, so nothing is read from
    /// it. (Only [`JsonlStore::open`], the writer recovering from a crash, cuts a torn tail.)
    /// A path that names no regular file is refused, as by [`JsonlStore::open`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<JsonlStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        refuse_what_is_not_a_file(&path, &shown)?;
        let mut file = File::open(&path).map_err(|e| StoreError::io(format!("cannot open {shown}"), e))?;
        let len = file.metadata().map_err(|e| StoreError::io(format!("cannot stat {shown}"), e))?.len();
        let complete = end_of_last_line(&mut file, len)
            .map_err(|e| StoreError::io(format!("cannot read {shown}"), e))?
            .ok_or_else(|| overlong_tail(&shown))?;
        let in_progress = write_in_progress(&mut file, complete, len)
            .map_err(|e| StoreError::io(format!("cannot read {shown}"), e))?;
        let unfinished = in_progress.then_some(len - complete);
        if complete < len && unfinished.is_none() {
            return Err(StoreError::Corrupt(format!(
                "{shown} ends with {} bytes after its last complete line (from byte {complete}): a torn or \
                 unfinished write, a last line without its newline, or trailing garbage; run `audit-trail verify \
                 --jsonl {shown}` to see where it breaks (if a writer is appending to it right now, open it again \
                 once the write is done)",
                len - complete
            )));
        }
        let len = complete;
        let (head, chain) = head_of(&mut file, len, &shown)?;
        let state = State { file, len, head, chain, dirty: false };
        Ok(JsonlStore { path, state: Arc::new(Mutex::new(state)), torn_tail: None, unfinished, read_only: true })
    }

    /// For a store from [`JsonlStore::open_read_only`]: how many bytes after the last complete
    /// line were left unread because a writer held the file's lock (a write in progress).
    pub fn unfinished_write(&self) -> Option<u64> {
        self.unfinished
    }

    /// How much of the trail open in `file` to read, measured once: `(len, None)`, all of it,
    /// when it ends with a complete line, or when what follows its last `\n` is no write in
    /// progress (then a torn write or garbage, for verification to report);
    /// `(complete, Some(bytes))` when a writer ([`JsonlStore::open`], which locks the file
    /// exclusively while open) holds the file's lock and the `bytes` after its complete lines
    /// look like the start of a line: its write in progress, to leave out. Read exactly the
    /// length returned (a line the writer adds meanwhile is not part of this reading); `file`
    /// is left at its start.
    pub fn readable_length(file: &mut File) -> std::io::Result<(u64, Option<u64>)> {
        let len = file.metadata()?.len();
        let readable = match end_of_last_line(file, len)? {
            Some(complete) if write_in_progress(file, complete, len)? => (complete, Some(len - complete)),
            _ => (len, None),
        };
        file.seek(SeekFrom::Start(0))?;
        Ok(readable)
    }

    /// The torn last line removed on open, if there was one.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn_tail.as_ref()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The chain this file holds (`None` while empty).
    pub fn chain(&self) -> Option<String> {
        lock(&self.state).chain.clone()
    }
}

/// True when the `len - complete` bytes after the complete lines of `file` are a writer's line
/// in progress: no longer than a line may be, the start of a line as the writer writes it, and
/// a writer holds the file's lock. (A lock alone is not enough: anyone who can read the file
/// can lock it.)
fn write_in_progress(file: &mut File, complete: u64, len: u64) -> std::io::Result<bool> {
    if complete >= len || len - complete > crate::verify::MAX_LINE_BYTES as u64 {
        return Ok(false);
    }
    let mut tail = vec![0u8; (len - complete) as usize];
    file.seek(SeekFrom::Start(complete))?;
    file.read_exact(&mut tail)?;
    Ok(is_torn_line(&tail) && is_being_written(file))
}

/// True when another open file holds the exclusive lock a writer ([`JsonlStore::open`]) takes:
/// a shared lock cannot be taken (one that can is released at once).
fn is_being_written(file: &File) -> bool {
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every mutation restores `len`/`head` consistency before returning, even on error.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Refuses a `path` that names something other than a regular file (a device such as
/// `/dev/null`, a directory, a FIFO), before opening it: a trail is kept in a file and made
/// durable with `fsync`, which a device refuses, so every append would fail and be retried
/// for ever (and opening a FIFO to read waits for a writer). A missing path passes: [`JsonlStore::open`]
/// creates it, and [`JsonlStore::open_read_only`] reports it when it opens it.
fn refuse_what_is_not_a_file(path: &Path, shown: &str) -> Result<(), StoreError> {
    let file_type = match std::fs::metadata(path) {
        Ok(metadata) => metadata.file_type(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(format!("cannot stat {shown}"), e)),
    };
    if file_type.is_file() {
        return Ok(());
    }
    let kind = if file_type.is_dir() { "a directory" } else { special_file_kind(file_type) };
    Err(StoreError::io(
        format!("{shown} is {kind}, not a regular file"),
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a JSON Lines trail is kept in a regular file: give the path of a file (it is created if missing)",
        ),
    ))
}

/// What a file that is neither a regular file nor a directory is, for people.
fn special_file_kind(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    let _ = file_type;
    "a special file"
}

/// Opens `path` for reading and appending, creating it if missing.
fn open_or_create(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).append(true).create(true).open(path)
}

/// How every event line starts (canonical JSON sorts the keys; `action` is first).
const LINE_START: &[u8] = b"{\"action\":\"";

/// Whether bytes after the last `\n` can be a line this store began to write: the start of
/// an event, or NUL bytes, or the first bytes of an event followed by NUL bytes (a crash can
/// leave the file's new length with no data, or some of it).
fn is_torn_line(bytes: &[u8]) -> bool {
    let written = bytes.iter().rposition(|&b| b != 0).map_or(&bytes[..0], |last| &bytes[..=last]);
    bytes.starts_with(LINE_START) || LINE_START.starts_with(written)
}

/// The head and chain of a file whose complete lines end at `len`, from its last line.
fn head_of(file: &mut File, len: u64, shown: &str) -> Result<(Head, Option<String>), StoreError> {
    if len == 0 {
        return Ok((Head::EMPTY, None));
    }
    let last = last_line(file, len).map_err(|e| StoreError::io(format!("cannot read {shown}"), e))?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "the last line of {shown} is longer than {} MiB: not an event; run `audit-trail verify --jsonl {shown}`",
            MAX_LINE_BYTES >> 20
        ))
    })?;
    let info = line::inspect(&last).map_err(|e| {
        StoreError::Corrupt(format!(
            "the last line of {shown} is not a valid event ({e}); run `audit-trail verify --jsonl {shown}`"
        ))
    })?;
    if info.computed != info.declared {
        return Err(StoreError::Corrupt(format!(
            "the last event of {shown} (seq {}) does not match its hash; run `audit-trail verify --jsonl {shown}`",
            info.seq
        )));
    }
    let chain: String =
        serde_json::from_slice(&last[info.chain.clone()]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((Head { seq: info.seq, hash: info.declared }, Some(chain)))
}

/// Offset just after the last `\n` (0 if none), reading backwards; `None` when the last
/// [`MAX_LINE_BYTES`] bytes and one hold none, so that what follows it is longer than any line
/// (a file that is no trail is not read whole).
fn end_of_last_line(file: &mut File, len: u64) -> std::io::Result<Option<u64>> {
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    let window = len.saturating_sub(MAX_LINE_BYTES as u64 + 1);
    while end > 0 {
        if end <= window {
            return Ok(None);
        }
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64 + 1));
        }
        end = start;
    }
    Ok(Some(0))
}

/// The error for a file whose last `\n` is more than [`MAX_LINE_BYTES`] from its end.
fn overlong_tail(shown: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "{shown} ends with more than {} MiB after its last line, longer than any event line: the file is left as \
         it is; check that it is an audit trail, then run `audit-trail verify --jsonl {shown}`",
        MAX_LINE_BYTES >> 20
    ))
}

/// The last line (without `\n`) of a file of `len` bytes that ends with `\n`; `None` when it is
/// longer than any event line ([`MAX_LINE_BYTES`]: not read into memory).
fn last_line(file: &mut File, len: u64) -> std::io::Result<Option<Vec<u8>>> {
    let Some(start) = end_of_last_line(file, len - 1)? else { return Ok(None) };
    let mut bytes = vec![0u8; (len - 1 - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut bytes)?;
    Ok(Some(bytes))
}

/// Writes `bytes` (the batch's lines) if the head is still `expected`, then moves it.
fn append_blocking(
    state: &Mutex<State>,
    chain: &str,
    expected: Head,
    after: Head,
    bytes: &[u8],
    shown: &str,
) -> Result<Head, AppendError> {
    let mut state = lock(state);
    if let Some(stored) = &state.chain
        && stored != chain
    {
        // For good: the file holds one chain.
        let reason = StoreError::WrongChain { stored: stored.clone(), asked: chain.to_string() }.to_string();
        return Err(AppendError::Rejected { events: Vec::new(), reason });
    }
    if state.head != expected {
        return Err(AppendError::Conflict { expected, actual: state.head });
    }
    let old_len = state.len;
    if state.dirty {
        state.file.set_len(old_len).and_then(|_| state.file.sync_data()).map_err(|e| {
            StoreError::io(format!("cannot cut back the partial write left in {shown}; reopen the store to recover"), e)
        })?;
        state.dirty = false;
    }
    let written = state.file.write_all(bytes).and_then(|_| state.file.sync_data());
    if let Err(e) = written {
        // Undo a partial write so the file never holds half a batch.
        let undone = state.file.set_len(old_len).and_then(|_| state.file.sync_data());
        let context = match undone {
            Ok(()) => format!("cannot append to {shown} (nothing was kept)"),
            Err(undo) => {
                state.dirty = true; // the next append cuts it back first
                format!("cannot append to {shown}, and cutting back the partial write failed too ({undo})")
            }
        };
        return Err(StoreError::io(context, e).into());
    }
    state.len = old_len + bytes.len() as u64;
    state.head = after;
    state.chain.get_or_insert_with(|| chain.to_string());
    Ok(after)
}

/// Reads the lines of `path` up to byte `len` and sends those with `from <= seq <= to`.
fn read_blocking(
    path: &Path,
    len: u64,
    from: u64,
    to: Option<u64>,
    tx: &tokio::sync::mpsc::Sender<Result<String, StoreError>>,
) {
    let shown = path.display().to_string();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            let _ = tx.blocking_send(Err(StoreError::io(format!("cannot open {shown}"), e)));
            return;
        }
    };
    let mut reader = BufReader::with_capacity(1 << 20, file.take(len));
    let mut seq: Option<u64> = None;
    loop {
        // At most one byte more than a line may have: a file without newlines (a corrupt
        // trail, the wrong file) is not read into memory whole.
        let mut bytes = Vec::new();
        match (&mut reader).take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut bytes) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                let _ = tx.blocking_send(Err(StoreError::io(format!("cannot read {shown}"), e)));
                return;
            }
        }
        let next = seq.map_or(1, |previous| previous + 1);
        let unreadable = |detail: String| Err(StoreError::UnreadableLine { seq: next, detail });
        if bytes.pop_if(|last| *last == b'\n').is_none() && bytes.len() > MAX_LINE_BYTES {
            let detail = format!("a line of {shown} is longer than {} MiB: not an event", MAX_LINE_BYTES >> 20);
            let _ = tx.blocking_send(unreadable(detail));
            return;
        }
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            // Before the lines asked for, only counted; the first line fixes the numbering, so
            // the file cannot be read past it.
            Err(_) if seq.is_some() && next < from => {
                seq = Some(next);
                continue;
            }
            Err(e) => {
                if to.is_none_or(|to| next <= to) {
                    let detail = format!("a line of {shown} is not UTF-8 text ({})", e.utf8_error());
                    let _ = tx.blocking_send(unreadable(detail));
                }
                return;
            }
        };
        // One chain per file, consecutive seq: the first line fixes the numbering.
        let current = match seq {
            Some(previous) => previous + 1,
            None => match line::inspect(text.as_bytes()) {
                Ok(info) => info.seq,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                    return;
                }
            },
        };
        seq = Some(current);
        if to.is_some_and(|to| current > to) {
            return;
        }
        if current >= from && tx.blocking_send(Ok(text)).is_err() {
            return;
        }
    }
}

#[async_trait::async_trait]
impl AuditStore for JsonlStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        let state = lock(&self.state);
        match &state.chain {
            Some(stored) if stored != chain => Ok(Head::EMPTY),
            _ => Ok(state.head),
        }
    }

    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        if self.read_only {
            // For good, as a file of another chain: retried, the append would never succeed,
            // and the writer would hold every event (and its shutdown) for ever.
            let reason = format!(
                "{} was opened read-only (JsonlStore::open_read_only): nothing can be appended; open it with \
                 JsonlStore::open to write",
                self.path.display()
            );
            return Err(AppendError::Rejected { events: Vec::new(), reason });
        }
        let after = check_batch(chain, expected, batch)?;
        let mut bytes = Vec::with_capacity(batch.iter().map(|e| e.line.len() + 1).sum());
        for event in batch {
            bytes.extend_from_slice(event.line.as_bytes());
            bytes.push(b'\n');
        }
        let state = Arc::clone(&self.state);
        let chain = chain.to_string();
        let shown = self.path.display().to_string();
        tokio::task::spawn_blocking(move || append_blocking(&state, &chain, expected, after, &bytes, &shown))
            .await
            .map_err(|e| StoreError::Backend { context: "the JSONL append task failed".into(), source: Box::new(e) })?
    }

    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        let (len, same_chain) = {
            let state = lock(&self.state);
            (state.len, state.chain.as_deref().is_none_or(|c| c == chain))
        };
        let len = if same_chain { len } else { 0 };
        let path = self.path.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        // The reader thread starts on the first poll and stops when the stream is dropped.
        let stream = futures_util::stream::unfold((rx, Some((path, tx))), move |(mut rx, start)| async move {
            if let Some((path, tx)) = start {
                tokio::task::spawn_blocking(move || read_blocking(&path, len, from, to, &tx));
            }
            rx.recv().await.map(|item| (item, (rx, None)))
        });
        Box::pin(futures_util::StreamExt::fuse(stream))
    }

    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        use futures_util::StreamExt;
        let chain = lock(&self.state).chain.clone();
        let Some(chain) = chain else {
            return Ok(QueryPage::default());
        };
        if query.chain.as_deref().is_some_and(|c| c != chain) {
            return Ok(QueryPage::default());
        }
        // Events come after the cursor in (chain, seq) order: all of this chain's after a
        // cursor of an earlier chain, none after one of a later chain.
        let from = match &query.after {
            None => 1,
            Some(cursor) => match cursor.chain.as_str().cmp(chain.as_str()) {
                std::cmp::Ordering::Less => 1,
                std::cmp::Ordering::Equal if cursor.seq < u64::MAX => cursor.seq + 1,
                _ => return Ok(QueryPage::default()),
            },
        };
        let mut lines = self.read(&chain, from, None);
        let mut matching = Vec::new();
        while let Some(line) = lines.next().await {
            let event = SealedEvent::from_line(line?)?;
            if query.matches(&event.event) {
                matching.push(event);
                if matching.len() > query.limit.max(1) {
                    break;
                }
            }
        }
        Ok(query.page(matching.into_iter()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventDraft;
    use crate::writer::Auditor;

    #[tokio::test]
    async fn a_partial_write_left_behind_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("trail.jsonl");
        let store = Arc::new(JsonlStore::open(&path).expect("open"));
        let auditor = Auditor::builder(store.clone()).build();
        auditor.record(EventDraft::new("a")).await.expect("recorded");
        // As after a write that failed halfway and whose undo failed too.
        let good_len = std::fs::metadata(&path).expect("stat").len();
        OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"{\"action\":\"half"))
            .expect("write");
        lock(&store.state).dirty = true;

        auditor.record(EventDraft::new("b")).await.expect("recorded");
        auditor.shutdown().await;
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("half"), "the partial bytes were cut first");
        assert!(text.len() as u64 > good_len);
        let report = crate::verify::verify_reader(text.as_bytes(), crate::verify::ChainVerifier::from_genesis())
            .expect("in memory");
        assert!(report.is_valid() && report.verified == 2, "{report:?}");
    }
}
