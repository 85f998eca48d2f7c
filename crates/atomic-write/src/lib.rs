//! Files written whole or not at all: the bytes go to a hidden temporary sibling that is then
//! renamed into place, so a reader sees the old content or all of the new, whenever the
//! writer dies.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// How far written bytes are pushed before a write returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync: survives power loss and OS crashes, not only a killed process.
    #[default]
    Fsync,
    /// Hand the bytes to the OS: survives the process being killed (kill -9 included),
    /// not a power loss.
    OsBuffer,
}

/// A file or folder the operating system refused.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {error}")]
pub struct AtomicWriteError {
    /// The file or folder.
    pub path: PathBuf,
    /// What the OS said (shown in the message, so not chained as a source).
    pub error: std::io::Error,
}

/// Writes `bytes` to `path` so that `path` holds either its old content or all of
/// `bytes`, whenever the process dies. With [`Durability::Fsync`] the file and its
/// directory are also synced, so this holds across power loss too.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), AtomicWriteError> {
    write_atomic_with(path, durability, |out| out.write_all(bytes))
}

/// Like [`write_atomic`], with the content streamed by `write` through a buffered writer
/// (for files too large to hold in memory twice).
pub fn write_atomic_with(
    path: &Path,
    durability: Durability,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), AtomicWriteError> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if durability == Durability::Fsync {
            file.sync_all()?;
        }
        Ok(())
    })();
    if let Err(error) = written {
        // A temp file left by a failed write is never read; it would only take space.
        let _ = std::fs::remove_file(&tmp);
        return Err(AtomicWriteError { path: tmp, error });
    }
    std::fs::rename(&tmp, path).map_err(|error| AtomicWriteError {
        path: path.to_path_buf(),
        error,
    })?;
    match (durability, path.parent()) {
        (Durability::Fsync, Some(dir)) => sync_dir(dir),
        _ => Ok(()),
    }
}

/// Makes a directory's entries (created, renamed or removed files) durable.
pub fn sync_dir(dir: &Path) -> Result<(), AtomicWriteError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|error| AtomicWriteError {
            path: dir.to_path_buf(),
            error,
        })
}

/// The temporary sibling [`write_atomic`] writes before renaming: hidden, named after the
/// process so that two processes writing one file never share it, and ending in `.tmp` so
/// that a crash's leftovers are recognisable.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        write_atomic(&path, b"first", Durability::Fsync).unwrap();
        write_atomic(&path, b"second", Durability::OsBuffer).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        write_atomic(&path, b"old", Durability::OsBuffer).unwrap();
        let err = write_atomic_with(&path, Durability::Fsync, |out| {
            out.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!temp_path(&path).exists());
    }
}
