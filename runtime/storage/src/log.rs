//! The append-only, checksummed block log: the node's source of truth.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{io, Error, Result};

/// First eight bytes of every block log.
pub const LOG_MAGIC: [u8; 8] = *b"HANOKLOG";
/// Format version written after the magic (u32 LE). Version 1 (one checksum over the whole
/// record) is migrated on open; see [`BlockLog::open`].
pub const LOG_VERSION: u32 = 2;
/// Size of the file header: magic + version.
pub const LOG_HEADER_LEN: u64 = 12;
/// Largest payload accepted by [`BlockLog::append`]. It also bounds how much of a damaged tail
/// `open` has to examine: only the last append can be torn (every earlier one was fsynced).
pub const MAX_RECORD_LEN: u32 = 64 << 20;
/// A record's head: `u32 LE len | u64 LE height | first 8 bytes of sha256(len | height)`.
pub const RECORD_HEAD_LEN: u64 = 20;
/// A record's tail: `sha256(len | height | payload)`.
pub const RECORD_CHECKSUM_LEN: u64 = 32;
/// Bytes a record adds to its payload.
pub const RECORD_OVERHEAD: u64 = RECORD_HEAD_LEN + RECORD_CHECKSUM_LEN;

/// The length, height and head checksum at the start of a record.
const HEAD_SUM_LEN: usize = 8;
/// Granularity at which a crash can leave a file longer than its data: a file system that
/// journals the new size before the data blocks land (ext4 `data=writeback`, some network and
/// older file systems) shows the missing sectors as zeros. See `written_end`.
const SECTOR: u64 = 512;

/// Version 1 record layout (migration only): `u32 len | u64 height | payload | sha256`.
const V1_HEAD_LEN: u64 = 12;

/// What [`BlockLog::open`] found at the end of the file and left in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset where the incomplete record starts (the end of the last complete one).
    pub offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub len: u64,
    /// The height the incomplete record would have had (`None` on an empty log whose first
    /// record's head is itself incomplete).
    pub height: Option<u64>,
    /// Why it is incomplete, in words.
    pub reason: String,
}

/// What [`BlockLog::open`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// An incomplete last record (a crash while it was being appended), not yet cut: the caller
    /// checks first that nothing derived from the log has applied it, then calls
    /// [`BlockLog::cut_torn_tail`].
    pub torn: Option<TornTail>,
    /// Height of the last complete record, `None` if there is none.
    pub last_height: Option<u64>,
    /// Bytes of a torn *file header* reset on open (a crash while the file was created).
    pub reset_header_bytes: u64,
    /// Set when the file was in format version 1 and was rewritten in the current format; the
    /// old file is kept beside it as `<name>.v1`.
    pub migrated_from: Option<PathBuf>,
}

/// Append-only log of opaque, height-numbered records (encoded blocks).
///
/// Record layout after a 12-byte header (`"HANOKLOG"`, u32 LE version 2): a 20-byte head
/// (`u32 LE len | u64 LE height | sha256(len | height)[..8]`), the payload, and
/// `sha256(len | height | payload)`. The head's own checksum makes a record's length
/// trustworthy before its body is read, so "the file ends inside this record" (torn) can be
/// told from "this complete record fails its checksum" (damaged). Heights are consecutive; the
/// first record may have any height (genesis is usually 0, and a pruned log may start later).
///
/// The file is locked (`flock`, exclusive) while open, so a second node on the same data
/// directory cannot cut or append behind the first one's back.
#[derive(Debug)]
pub struct BlockLog {
    path: PathBuf,
    file: File,
    /// Height of the first record, once there is one.
    first_height: Option<u64>,
    /// Byte offset of each record, indexed by `height - first_height`.
    offsets: Vec<u64>,
    /// Offset one past the last complete record: where the next append goes.
    end: u64,
    /// The incomplete last record found by `open`, until [`Self::cut_torn_tail`].
    torn: Option<TornTail>,
    /// A write failed and the file may hold bytes past `end`; cut them before the next append.
    dirty_tail: bool,
    /// Set when an fsync failed; see [`Error::LogPoisoned`].
    poisoned: bool,
}

/// How the open-time scan classifies the record at some offset.
enum Scan {
    /// A complete record that verifies, of `len` bytes in all.
    Valid { height: u64, len: u64 },
    /// A record that does not verify.
    Bad(Bad),
}

/// Why the record at some offset does not verify.
enum Bad {
    /// The file (or its written part) ends inside the record.
    Torn { height: Option<u64>, reason: String },
    /// A complete record (or a complete head) that fails its checksum or is out of order.
    Damaged {
        height: Option<u64>,
        len: Option<u64>,
        reason: String,
    },
}

impl BlockLog {
    /// Opens (or creates) the log at `path`, verifying every record, and changes nothing in an
    /// existing log's records.
    ///
    /// A record is *torn* only when it is incomplete: the file ends inside it (after a crash
    /// mid-append), or everything from a sector boundary inside it to the end of the file is
    /// zero (a size the file system recorded before the data landed). A torn last record is
    /// reported in [`Recovery::torn`] and left in place; [`Self::cut_torn_tail`] cuts it. A
    /// *complete* record that fails its checksum is damage, anywhere in the file.
    ///
    /// A version-1 log (one checksum per record, so completeness was undecidable) is rewritten
    /// in the current format if every record verifies and the file ends at a record boundary;
    /// the original stays beside it as `<name>.v1`. Otherwise it is refused untouched.
    ///
    /// # Errors
    /// [`Error::DamagedRecord`] for a complete record that fails its checksum, carries the wrong
    /// height or cannot be read past, or for damage longer than one record;
    /// [`Error::OldFormat`] for a version-1 log that cannot be converted safely;
    /// [`Error::Locked`] if another process has the log open; [`Error::BadMagic`] /
    /// [`Error::UnsupportedVersion`] for a foreign file; [`Error::Io`].
    pub fn open(path: impl AsRef<Path>) -> Result<(Self, Recovery)> {
        let path = path.as_ref().to_path_buf();
        let (file, file_len) = open_locked(&path)?;
        let mut recovery = Recovery {
            torn: None,
            last_height: None,
            reset_header_bytes: 0,
            migrated_from: None,
        };
        let mut log = BlockLog {
            path,
            file,
            first_height: None,
            offsets: Vec::new(),
            end: LOG_HEADER_LEN,
            torn: None,
            dirty_tail: false,
            poisoned: false,
        };
        if file_len < LOG_HEADER_LEN {
            // Empty, or a header torn while the file was being created: only then may we
            // (re)write the header; anything else is not our file.
            let mut head = vec![0; file_len as usize];
            log.file
                .read_exact_at(&mut head, 0)
                .map_err(io(&log.path))?;
            let prefix_of = |h: [u8; 12]| head[..] == h[..head.len()];
            if !prefix_of(log_header(LOG_VERSION)) && !prefix_of(log_header(1)) {
                return Err(Error::BadMagic { path: log.path });
            }
            log.file.set_len(0).map_err(io(&log.path))?;
            log.file
                .write_all_at(&log_header(LOG_VERSION), 0)
                .map_err(io(&log.path))?;
            log.file.sync_all().map_err(io(&log.path))?;
            recovery.reset_header_bytes = file_len;
        } else {
            let mut head = [0; LOG_HEADER_LEN as usize];
            log.file
                .read_exact_at(&mut head, 0)
                .map_err(io(&log.path))?;
            if head[..8] != LOG_MAGIC {
                return Err(Error::BadMagic { path: log.path });
            }
            let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
            match version {
                LOG_VERSION => log.torn = log.scan(file_len)?,
                1 => {
                    let BlockLog { path, file, .. } = log;
                    let kept = migrate_v1(&path, &file, file_len)?;
                    // Release the old file's lock only after the new file replaced it.
                    drop(file);
                    let (log, mut recovery) = BlockLog::open(&path)?;
                    recovery.migrated_from = Some(kept);
                    return Ok((log, recovery));
                }
                found => {
                    return Err(Error::UnsupportedVersion {
                        found,
                        supported: LOG_VERSION,
                    })
                }
            }
        }
        recovery.torn = log.torn.clone();
        recovery.last_height = log.last_height();
        Ok((log, recovery))
    }

    /// Reads every record from the header on; returns the torn tail, if any.
    fn scan(&mut self, file_len: u64) -> Result<Option<TornTail>> {
        let mut reader = BufReader::with_capacity(1 << 20, &self.file);
        reader
            .seek(SeekFrom::Start(LOG_HEADER_LEN))
            .map_err(io(&self.path))?;
        let mut off = LOG_HEADER_LEN;
        let mut buf = Vec::new();
        let bad = loop {
            if off >= file_len {
                self.end = off;
                return Ok(None);
            }
            let expected = self.next_height();
            match read_record(&mut reader, file_len - off, expected, &mut buf)
                .map_err(io(&self.path))?
            {
                Scan::Valid { height, len } => {
                    self.first_height.get_or_insert(height);
                    self.offsets.push(off);
                    off += len;
                }
                Scan::Bad(bad) => break bad,
            }
        };
        drop(reader);
        self.end = off;
        let expected = self.next_height();
        // A record that fails could still be the start of a zero-filled extension.
        let bad = match bad {
            damaged @ Bad::Damaged { .. } => self.reclassify(off, file_len, expected, damaged)?,
            torn => torn,
        };
        match bad {
            Bad::Torn { height, reason } => Ok(Some(TornTail {
                offset: off,
                len: file_len - off,
                height,
                reason,
            })),
            Bad::Damaged {
                height,
                len,
                reason,
            } => Err(Error::DamagedRecord {
                path: self.path.clone(),
                index: self.offsets.len() as u64,
                height: height.or(expected),
                offset: off,
                len,
                reason,
            }),
        }
    }

    /// Looks again at a record that failed its checksum at `off`: if everything from a sector
    /// boundary inside it to the end of the file is zero, only the part before that boundary
    /// was ever written, and the record is torn if that part is incomplete.
    fn reclassify(
        &self,
        off: u64,
        file_len: u64,
        expected: Option<u64>,
        damaged: Bad,
    ) -> Result<Bad> {
        // Only the last append can be unsynced: more than one record's worth of bytes after a
        // failing record is damage, whatever they hold.
        if file_len - off > u64::from(MAX_RECORD_LEN) + RECORD_OVERHEAD {
            return Ok(damaged);
        }
        let mut tail = vec![0; (file_len - off) as usize];
        self.file
            .read_exact_at(&mut tail, off)
            .map_err(io(&self.path))?;
        let written = written_end(&tail, off);
        if written >= tail.len() as u64 {
            return Ok(damaged);
        }
        let zeros = format!(
            "bytes {}..{file_len} are zero (space the file system allocated before a crash, \
             never written)",
            off + written
        );
        let written = &tail[..written as usize];
        let Some(head) = written.first_chunk::<{ RECORD_HEAD_LEN as usize }>() else {
            return Ok(Bad::Torn {
                height: expected,
                reason: format!("the record's head was never written: {zeros}"),
            });
        };
        match decode_head(head) {
            Some((len, height)) if (written.len() as u64) < u64::from(len) + RECORD_OVERHEAD => {
                Ok(Bad::Torn {
                    height: Some(height),
                    reason: format!("the record is incomplete: {zeros}"),
                })
            }
            _ => Ok(damaged),
        }
    }

    /// Cuts the torn tail found by [`Self::open`] (`set_len` + fsync) and returns how many bytes
    /// went. Call it only once nothing derived from the log has applied the torn record.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn cut_torn_tail(&mut self) -> Result<u64> {
        let Some(torn) = self.torn.take() else {
            return Ok(0);
        };
        self.file.set_len(self.end).map_err(io(&self.path))?;
        self.file.sync_all().map_err(io(&self.path))?;
        Ok(torn.len)
    }

    /// The torn tail found by [`Self::open`] and not cut yet.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// Appends the record for `height` and fsyncs it (one fsync per block).
    ///
    /// A failed write (a full disk, say) leaves the log as it was: the partial record is cut
    /// at once or, if that fails too, before the next append, so the caller may retry. A
    /// failed fsync ([`Error::SyncFailed`]) poisons the log: see [`Error::LogPoisoned`].
    ///
    /// # Errors
    /// [`Error::HeightMismatch`] unless `height` is the last height + 1 (any height is accepted
    /// on an empty log); [`Error::RecordTooLarge`]; [`Error::TornTailPending`] before
    /// [`Self::cut_torn_tail`]; [`Error::Io`] for a failed write; [`Error::SyncFailed`];
    /// [`Error::LogPoisoned`] after a failed fsync.
    pub fn append(&mut self, height: u64, payload: &[u8]) -> Result<()> {
        if self.poisoned {
            return Err(Error::LogPoisoned);
        }
        if let Some(torn) = &self.torn {
            return Err(Error::TornTailPending {
                offset: torn.offset,
            });
        }
        if let Some(expected) = self.next_height() {
            if height != expected {
                return Err(Error::HeightMismatch {
                    expected,
                    got: height,
                });
            }
        }
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l <= MAX_RECORD_LEN)
            .ok_or(Error::RecordTooLarge {
                len: payload.len(),
                max: MAX_RECORD_LEN,
            })?;
        if self.dirty_tail {
            // A failed write may have left part of a record after `end`; a shorter record
            // written over it would leave the rest behind as "damage" for the next open.
            self.file.set_len(self.end).map_err(io(&self.path))?;
            self.dirty_tail = false;
        }
        let rec = encode_record(len, height, payload);
        if let Err(e) = self.file.write_all_at(&rec, self.end) {
            self.dirty_tail = self.file.set_len(self.end).is_err();
            return Err(io(&self.path)(e));
        }
        if let Err(source) = self.file.sync_data() {
            // After a failed fsync Linux may have dropped the dirty pages and marked them
            // clean, so what a later read shows may not be what is on disk.
            self.poisoned = true;
            return Err(Error::SyncFailed {
                path: self.path.clone(),
                source,
            });
        }
        self.first_height.get_or_insert(height);
        self.offsets.push(self.end);
        self.end += rec.len() as u64;
        Ok(())
    }

    /// Reads the payload at `height` in O(1) via the offset index, re-verifying its checksums.
    /// `Ok(None)` if the log holds no such height.
    ///
    /// # Errors
    /// [`Error::DamagedRecord`] if the record no longer verifies; [`Error::Io`].
    pub fn read(&self, height: u64) -> Result<Option<Vec<u8>>> {
        let Some(idx) = self.index_of(height) else {
            return Ok(None);
        };
        let off = self.offsets[idx];
        let rec_end = self.offsets.get(idx + 1).copied().unwrap_or(self.end);
        let mut rec = vec![0; (rec_end - off) as usize];
        self.file
            .read_exact_at(&mut rec, off)
            .map_err(io(&self.path))?;
        match check_record(&rec) {
            Some((h, payload))
                if h == height && payload.len() as u64 + RECORD_OVERHEAD == rec.len() as u64 =>
            {
                Ok(Some(payload.to_vec()))
            }
            _ => Err(Error::DamagedRecord {
                path: self.path.clone(),
                index: idx as u64,
                height: Some(height),
                offset: off,
                len: Some(rec.len() as u64),
                reason: "it verified when the node started and no longer does".into(),
            }),
        }
    }

    /// Replays `(height, payload)` from `height` (or the first record, if later) to the end.
    pub fn iter_from(&self, height: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_ {
        let start = self.first_height.map_or(height, |f| height.max(f));
        let end = self.next_height().unwrap_or(start);
        (start..end).map(move |h| match self.read(h) {
            Ok(Some(p)) => Ok((h, p)),
            Ok(None) => Err(Error::Io {
                path: self.path.clone(),
                source: std::io::Error::other(format!("height {h} vanished from the index")),
            }),
            Err(e) => Err(e),
        })
    }

    /// Whether an fsync failed: nothing more may be appended by this process.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Height of the last complete record, `None` if the log is empty.
    pub fn last_height(&self) -> Option<u64> {
        self.next_height().map(|n| n - 1)
    }

    /// Height of the first record, `None` if the log is empty.
    pub fn first_height(&self) -> Option<u64> {
        self.first_height
    }

    /// Byte range `(offset, len)` of the record at `height`, as an operator would copy it.
    pub fn record_span(&self, height: u64) -> Option<(u64, u64)> {
        let idx = self.index_of(height)?;
        let off = self.offsets[idx];
        let end = self.offsets.get(idx + 1).copied().unwrap_or(self.end);
        Some((off, end - off))
    }

    /// Path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn next_height(&self) -> Option<u64> {
        self.first_height.map(|f| f + self.offsets.len() as u64)
    }

    fn index_of(&self, height: u64) -> Option<usize> {
        let idx = usize::try_from(height.checked_sub(self.first_height?)?).ok()?;
        (idx < self.offsets.len()).then_some(idx)
    }
}

/// Opens (creating if needed) and locks the log; makes a new file's directory entry durable.
fn open_locked(path: &Path) -> Result<(File, u64)> {
    let existed = path.exists();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io(path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::Locked {
                path: path.to_path_buf(),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(path)(e)),
    }
    if !existed {
        sync_parent_dir(path)?;
    }
    let len = file.metadata().map_err(io(path))?.len();
    Ok((file, len))
}

fn log_header(version: u32) -> [u8; LOG_HEADER_LEN as usize] {
    let mut h = [0; LOG_HEADER_LEN as usize];
    h[..8].copy_from_slice(&LOG_MAGIC);
    h[8..].copy_from_slice(&version.to_le_bytes());
    h
}

/// Makes the directory entry of `path` durable: fsyncs its parent directory. Needed after a
/// file or directory is created, renamed or linked, or a crash may forget it exists.
///
/// # Errors
/// [`Error::Io`].
pub fn sync_parent_dir(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io(parent))
}

/// Creates `dir` and any missing parents, fsyncing each new entry's parent directory, so a
/// crash cannot forget a directory that files were then created in.
///
/// # Errors
/// [`Error::Io`].
pub fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durable(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => sync_parent_dir(dir),
        // Someone else created it meanwhile: its entry is theirs to sync, but sync it anyway.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {
            sync_parent_dir(dir)
        }
        Err(e) => Err(io(dir)(e)),
    }
}

fn head_sum(len_height: &[u8]) -> [u8; HEAD_SUM_LEN] {
    let digest = Sha256::digest(len_height);
    let mut out = [0; HEAD_SUM_LEN];
    out.copy_from_slice(&digest[..HEAD_SUM_LEN]);
    out
}

fn encode_record(len: u32, height: u64, payload: &[u8]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(payload.len() + RECORD_OVERHEAD as usize);
    rec.extend_from_slice(&len.to_le_bytes());
    rec.extend_from_slice(&height.to_le_bytes());
    let sum = head_sum(&rec);
    rec.extend_from_slice(&sum);
    rec.extend_from_slice(payload);
    let body: [u8; 32] = body_sum(&rec[..12], payload);
    rec.extend_from_slice(&body);
    rec
}

fn body_sum(len_height: &[u8], payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(len_height);
    h.update(payload);
    h.finalize().into()
}

/// `(len, height)` of a record head whose checksum verifies and whose length is allowed.
fn decode_head(head: &[u8; RECORD_HEAD_LEN as usize]) -> Option<(u32, u64)> {
    if head[12..] != head_sum(&head[..12]) {
        return None;
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let mut height = [0; 8];
    height.copy_from_slice(&head[4..12]);
    // A verified head with an oversized length was written that way: not ours to trust.
    (len <= MAX_RECORD_LEN).then_some((len, u64::from_le_bytes(height)))
}

/// Reads one record from `r`, which has `remaining` bytes left in the file; `expected` is the
/// height it must carry (`None` on an empty log).
fn read_record(
    r: &mut impl Read,
    remaining: u64,
    expected: Option<u64>,
    buf: &mut Vec<u8>,
) -> std::io::Result<Scan> {
    if remaining < RECORD_HEAD_LEN {
        return Ok(Scan::Bad(Bad::Torn {
            height: expected,
            reason: format!(
                "the file ends inside the record's head ({remaining} of {RECORD_HEAD_LEN} bytes)"
            ),
        }));
    }
    let mut head = [0; RECORD_HEAD_LEN as usize];
    r.read_exact(&mut head)?;
    let Some((len, height)) = decode_head(&head) else {
        return Ok(Scan::Bad(Bad::Damaged {
            height: expected,
            len: None,
            reason: "its head (length and height) fails its checksum, so its length is unknown"
                .into(),
        }));
    };
    let total = u64::from(len) + RECORD_OVERHEAD;
    if expected.is_some_and(|e| e != height) {
        // A head that verifies with the wrong height was written that way: never cut it.
        return Ok(Scan::Bad(Bad::Damaged {
            height: Some(height),
            len: Some(total),
            reason: format!(
                "it carries height {height} where height {} must follow",
                expected.unwrap_or_default()
            ),
        }));
    }
    if total > remaining {
        return Ok(Scan::Bad(Bad::Torn {
            height: Some(height),
            reason: format!("the file ends inside the record ({remaining} of {total} bytes)"),
        }));
    }
    buf.clear();
    buf.extend_from_slice(&head);
    buf.resize(total as usize, 0);
    r.read_exact(&mut buf[RECORD_HEAD_LEN as usize..])?;
    Ok(match check_record(buf) {
        Some(_) => Scan::Valid { height, len: total },
        None => Scan::Bad(Bad::Damaged {
            height: Some(height),
            len: Some(total),
            reason: "its body fails its checksum".into(),
        }),
    })
}

/// If `bytes` is exactly one complete record whose checksums verify, returns its height and
/// payload.
fn check_record(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<{ RECORD_HEAD_LEN as usize }>()?;
    let (len, height) = decode_head(head)?;
    let (payload, sum) = rest.split_at_checked(len as usize)?;
    (sum.len() as u64 == RECORD_CHECKSUM_LEN && sum == body_sum(&head[..12], payload))
        .then_some((height, payload))
}

/// How many bytes at the start of `tail` (which starts at file offset `at` and runs to the end
/// of the file) were written, judging by zeros: the bytes after the last non-zero one, rounded
/// up to the next sector boundary of the file, are space allocated and never written. A
/// complete record always ends in a 32-byte checksum, so it never ends in a zero sector; a
/// single flipped byte cannot make one.
fn written_end(tail: &[u8], at: u64) -> u64 {
    let Some(last) = tail.iter().rposition(|&b| b != 0) else {
        return 0;
    };
    let nonzero_end = at + last as u64 + 1;
    let boundary = nonzero_end.div_ceil(SECTOR) * SECTOR;
    (boundary - at).min(tail.len() as u64)
}

/// Rewrites a version-1 log at `path` in the current format and returns where the original is
/// kept. Refuses, changing nothing, unless every record verifies and the file ends at a record
/// boundary: version 1 cannot tell a torn record from a damaged one, so it is never cut here.
fn migrate_v1(path: &Path, file: &File, file_len: u64) -> Result<PathBuf> {
    let tmp = path.with_file_name(format!("{}.migrating", file_name(path)));
    let converted = convert_v1(path, file, file_len, &tmp);
    if converted.is_err() {
        // Leave the directory as it was: the refusal promises nothing changed.
        let _ = std::fs::remove_file(&tmp);
    }
    converted
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "blocks.log".into())
}

fn convert_v1(path: &Path, file: &File, file_len: u64, tmp: &Path) -> Result<PathBuf> {
    let name = file_name(path);
    let kept = path.with_file_name(format!("{name}.v1"));
    let old_format = |offset: u64, reason: String| Error::OldFormat {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let out = File::create(tmp).map_err(io(tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, &out);
    w.write_all(&log_header(LOG_VERSION)).map_err(io(tmp))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    r.seek(SeekFrom::Start(LOG_HEADER_LEN)).map_err(io(path))?;
    let (mut off, mut next, mut buf) = (LOG_HEADER_LEN, None::<u64>, Vec::new());
    while off < file_len {
        let remaining = file_len - off;
        if remaining < V1_HEAD_LEN + RECORD_CHECKSUM_LEN {
            return Err(old_format(
                off,
                format!("{remaining} bytes that are not a whole record"),
            ));
        }
        let mut head = [0; V1_HEAD_LEN as usize];
        r.read_exact(&mut head).map_err(io(path))?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let total = u64::from(len) + V1_HEAD_LEN + RECORD_CHECKSUM_LEN;
        if len > MAX_RECORD_LEN || total > remaining {
            return Err(old_format(
                off,
                "a record that runs past the end of the file".into(),
            ));
        }
        buf.resize(len as usize + RECORD_CHECKSUM_LEN as usize, 0);
        r.read_exact(&mut buf).map_err(io(path))?;
        let (payload, sum) = buf.split_at(len as usize);
        if sum != body_sum(&head, payload) {
            return Err(old_format(off, "a record that fails its checksum".into()));
        }
        let mut height = [0; 8];
        height.copy_from_slice(&head[4..]);
        let height = u64::from_le_bytes(height);
        if next.is_some_and(|n| n != height) {
            return Err(old_format(
                off,
                format!("a record of height {height} out of order"),
            ));
        }
        next = Some(height + 1);
        w.write_all(&encode_record(len, height, payload))
            .map_err(io(tmp))?;
        off += total;
    }
    w.flush().map_err(io(tmp))?;
    drop(w);
    out.sync_all().map_err(io(tmp))?;
    drop(out);
    // Keep the original under a second name (a hard link: no copy, and `path` never stops
    // existing, so a crash at any step leaves a log a restart can use or migrate again).
    match std::fs::symlink_metadata(&kept) {
        Ok(_) if same_file(&kept, path)? => {}
        Ok(_) => {
            return Err(old_format(
                LOG_HEADER_LEN,
                format!(
                    "{} already exists and is another file; move it away",
                    kept.display()
                ),
            ))
        }
        Err(_) => std::fs::hard_link(path, &kept).map_err(io(&kept))?,
    }
    std::fs::rename(tmp, path).map_err(io(path))?;
    sync_parent_dir(path)?;
    Ok(kept)
}

fn same_file(a: &Path, b: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (ma, mb) = (
        std::fs::metadata(a).map_err(io(a))?,
        std::fs::metadata(b).map_err(io(b))?,
    );
    Ok(ma.dev() == mb.dev() && ma.ino() == mb.ino())
}
