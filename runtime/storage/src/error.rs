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
    /// A complete record of the block log fails its checksum, carries the wrong height, or
    /// damage hides where the records continue. A complete record was fully written and fsynced
    /// once, so it may hold acknowledged transactions: it is never cut.
    #[error(
        "block log {} is damaged: record #{index} ({}) at byte {offset}{} is complete but {reason}. \
         A complete record was fully written and may hold transactions clients were told are \
         committed, so the node will not run on this log and changed nothing on disk. Restore \
         the record from a backup of this block log taken after that height or, in a \
         consortium, from another member's block log (an intact copy of this chain's log holds \
         the same bytes at the same offset), then start the node again; see \
         docs/operations.md, \"The block log is damaged\"",
        path.display(),
        match height { Some(h) => format!("block height {h}"), None => "height unknown".into() },
        match len {
            Some(l) => format!(", bytes {offset}..{} ({l} bytes)", offset.saturating_add(*l)),
            None => ", length unknown".into(),
        }
    )]
    DamagedRecord {
        /// The log file.
        path: PathBuf,
        /// Position of the record in the file, from 0.
        index: u64,
        /// The block height it holds (or must hold).
        height: Option<u64>,
        /// Byte offset where it starts.
        offset: u64,
        /// Its length in bytes, head and checksum included, when its head is intact.
        len: Option<u64>,
        /// What is wrong with it.
        reason: String,
    },
    /// A version-1 block log could not be converted to the current format without guessing.
    #[error(
        "block log {} is in the format of an earlier hanok build (version 1) and was not \
         converted: at byte {offset} it holds {reason}. Version 1 cannot tell a record torn by a \
         crash from a damaged one, so nothing was cut or changed; see docs/operations.md, \
         \"The block log is in an older format\"",
        path.display()
    )]
    OldFormat {
        /// The log file.
        path: PathBuf,
        /// Where the conversion stopped.
        offset: u64,
        /// What it found there.
        reason: String,
    },
    /// Another process has the block log open.
    #[error(
        "block log {} is in use by another process (another node on this data directory?); \
         stop it first",
        path.display()
    )]
    Locked {
        /// The log file.
        path: PathBuf,
    },
    /// [`crate::BlockLog::append`] before the torn tail found by `open` was cut.
    #[error("the block log's torn tail at byte {offset} must be cut before appending")]
    TornTailPending {
        /// Where the torn record starts.
        offset: u64,
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
    /// The block log's `fsync` failed: whether the record reached the disk is unknown, and
    /// the log is poisoned ([`Error::LogPoisoned`]).
    #[error(
        "syncing the block log {} failed: {source}; the node stops producing blocks until it \
         is restarted (check the disk first)",
        path.display()
    )]
    SyncFailed {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An earlier `fsync` of the block log failed; after such a failure the
    /// kernel may have dropped the dirty pages, so nothing later can be trusted
    /// to be durable. Restart the node, which re-scans the log.
    #[error("block log is unusable after a failed fsync; restart the node")]
    LogPoisoned,
    /// The state database was written by an older build in a layout this one does not read.
    /// State is derived data: it is rebuilt from the block log.
    #[error("the state database uses an older layout; rebuild it from the block log")]
    StateFormat {
        /// The height it says it applied, so the caller can check it is not ahead of the log
        /// before deleting it.
        applied_height: Option<u64>,
    },
    /// The state database fails to open or fails its own checks (the database engine reports
    /// corruption or panics, or our metadata does not decode). It is derived data: rebuild it
    /// from the block log.
    /// Writing a committed block's state to sled behind the log failed (a full disk, an I/O
    /// error). The block is durable in the log; the store must be reopened, which replays it.
    #[error(
        "writing the state database behind the block log failed at {0}; the blocks are in the \
         log and are replayed when the state store is reopened"
    )]
    StateWrite(String),
    #[error("the state database is damaged: {0}")]
    DamagedState(String),
    /// Data in the state database does not decode or is inconsistent.
    #[error("corrupt state database: {0}")]
    CorruptState(String),
}

/// An error from the embedded database; opaque so the database engine is not
/// part of this crate's public API.
pub struct DbError(sled::Error);

impl DbError {
    pub(crate) fn as_sled(&self) -> &sled::Error {
        &self.0
    }
}

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
