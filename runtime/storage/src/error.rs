//! The crate's error type: every failure of the block log, the Merkle tree or the state store.

use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout `hanok-storage`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in storage.
///
/// Any of these stops block production: a storage error is never recorded as
/// a transaction outcome (see STYLE.md, "Errors").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call on a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file the call was made on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded database failed (I/O or its own corruption check).
    #[error("state database error: {0}")]
    Db(#[source] DbError),
    /// The file does not start with the block-log magic bytes.
    #[error("{path} is not a hanok block log (bad magic)")]
    BadMagic {
        /// The file that was opened.
        path: PathBuf,
    },
    /// The block log was written by an incompatible format version.
    #[error("block log format version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion {
        /// Version found in the header.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },
    /// The block log is damaged somewhere other than its tail, so it cannot be
    /// repaired by cutting: valid records follow the damage, or a record with a
    /// valid checksum carries the wrong height.
    #[error("block log {path} is corrupt at byte {offset}: {reason}")]
    CorruptLog {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the first bad record.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A block or state commit was offered out of order.
    #[error("height {got} does not follow: expected {expected}")]
    HeightMismatch {
        /// The height that would have been accepted.
        expected: u64,
        /// The height offered.
        got: u64,
    },
    /// A record is larger than the log accepts.
    #[error("record of {len} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// Payload size offered.
        len: usize,
        /// The limit, [`crate::MAX_RECORD_LEN`].
        max: u32,
    },
    /// An earlier `fsync` of the block log failed; after such a failure the
    /// kernel may have dropped the dirty pages, so nothing later can be trusted
    /// to be durable. Restart the node, which re-scans the log.
    #[error("block log is unusable after a failed fsync; restart the node")]
    LogPoisoned,
    /// The state database was written by an older build in a tree format this one does not
    /// read. State is derived data: delete it and it is rebuilt from the block log.
    #[error("the state database uses an older tree format; rebuild it from the block log")]
    StateFormat,
    /// Data in the state database does not decode or is inconsistent.
    #[error("corrupt state database: {0}")]
    CorruptState(String),
}

/// An error from the embedded database; opaque so the database engine is not
/// part of this crate's public API.
pub struct DbError(sled::Error);

impl fmt::Debug for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Wraps a sled error; a function rather than a `From` impl so that sled does
/// not appear in the public trait impls of [`Error`].
pub(crate) fn db(e: sled::Error) -> Error {
    Error::Db(DbError(e))
}

/// Builds a closure that wraps an `io::Error` with the path it concerns.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
