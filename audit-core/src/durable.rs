//! Making directory entries durable: a file or directory just created is lost in a power
//! failure unless the directory holding its entry is synced too.

use std::path::Path;

/// Syncs the directory holding `path`'s entry (`.` for a bare name). A no-op where
/// directories cannot be opened to be synced (not Unix).
pub(crate) fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    sync_dir(dir)
}

/// Syncs directory `dir`, so that the entries made in it so far survive a power failure.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
