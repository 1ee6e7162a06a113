//! The append-only, checksummed block log: the node's source of truth.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{io, Error, Result};

/// First eight bytes of every block log.
pub const LOG_MAGIC: [u8; 8] = *b"HANOKLOG";
/// Format version written after the magic (u32 LE).
pub const LOG_VERSION: u32 = 1;
/// Size of the file header: magic + version.
pub const LOG_HEADER_LEN: u64 = 12;
/// Largest payload accepted by [`BlockLog::append`]. It also bounds how much of
/// a damaged tail `open` has to examine: only the last append can be torn (every
/// earlier one was fsynced), so a damaged region longer than one record cannot
/// be a torn tail.
pub const MAX_RECORD_LEN: u32 = 64 << 20;

/// `u32 length | u64 height`.
const RECORD_HEAD_LEN: usize = 12;
const CHECKSUM_LEN: usize = 32;
const RECORD_OVERHEAD: u64 = (RECORD_HEAD_LEN + CHECKSUM_LEN) as u64;

/// What [`BlockLog::open`] had to repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes of torn or corrupt tail cut from the end of the file (0 if clean).
    pub truncated_bytes: u64,
    /// Height of the last valid record after recovery, `None` if the log is empty.
    pub last_height: Option<u64>,
}

/// Append-only log of opaque, height-numbered records (encoded blocks).
///
/// Record layout after a 12-byte header (`"HANOKLOG"`, u32 LE version):
/// `u32 LE len | u64 LE height | payload | sha256(len | height | payload)`.
/// Heights are consecutive; the first record may have any height (genesis is
/// usually 0, and a pruned log may start later).
#[derive(Debug)]
pub struct BlockLog {
    path: PathBuf,
    file: File,
    /// Height of the first record, once there is one.
    first_height: Option<u64>,
    /// Byte offset of each record, indexed by `height - first_height`.
    offsets: Vec<u64>,
    /// Offset one past the last valid record: where the next append goes.
    end: u64,
    /// Set when an fsync failed; see [`Error::LogPoisoned`].
    poisoned: bool,
}

/// Outcome of checking one record during the open-time scan.
enum Scan {
    Valid { height: u64, len: u64 },
    Bad(&'static str),
}

impl BlockLog {
    /// Opens (or creates) the log at `path`, verifying every record.
    ///
    /// A torn or corrupt tail (a partial record, or bad last record(s) with no
    /// valid record after them) is cut off with `set_len` + fsync and reported
    /// in the returned [`Recovery`].
    ///
    /// # Errors
    /// [`Error::CorruptLog`] if damage is followed by valid records or a valid
    /// record has a non-consecutive height; [`Error::BadMagic`] /
    /// [`Error::UnsupportedVersion`] for a foreign file; [`Error::Io`].
    pub fn open(path: impl AsRef<Path>) -> Result<(Self, Recovery)> {
        let path = path.as_ref().to_path_buf();
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        if !existed {
            sync_parent_dir(&path)?;
        }
        let file_len = file.metadata().map_err(io(&path))?.len();
        let mut log = BlockLog {
            path,
            file,
            first_height: None,
            offsets: Vec::new(),
            end: LOG_HEADER_LEN,
            poisoned: false,
        };
        let truncated_bytes = if file_len < LOG_HEADER_LEN {
            // Empty, or a header torn while the file was being created: only
            // then may we (re)write the header; anything else is not our file.
            let mut head = vec![0; file_len as usize];
            log.file
                .read_exact_at(&mut head, 0)
                .map_err(io(&log.path))?;
            if head[..] != log_header()[..head.len()] {
                return Err(Error::BadMagic { path: log.path });
            }
            log.file.set_len(0).map_err(io(&log.path))?;
            log.file
                .write_all_at(&log_header(), 0)
                .map_err(io(&log.path))?;
            log.file.sync_all().map_err(io(&log.path))?;
            file_len
        } else {
            let mut head = [0; LOG_HEADER_LEN as usize];
            log.file
                .read_exact_at(&mut head, 0)
                .map_err(io(&log.path))?;
            if head[..8] != LOG_MAGIC {
                return Err(Error::BadMagic { path: log.path });
            }
            let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
            if version != LOG_VERSION {
                return Err(Error::UnsupportedVersion {
                    found: version,
                    supported: LOG_VERSION,
                });
            }
            log.scan(file_len)?
        };
        let recovery = Recovery {
            truncated_bytes,
            last_height: log.last_height(),
        };
        Ok((log, recovery))
    }

    /// Reads every record from the header on; returns how many tail bytes were cut.
    fn scan(&mut self, file_len: u64) -> Result<u64> {
        let mut reader = BufReader::with_capacity(1 << 20, &self.file);
        reader
            .seek(SeekFrom::Start(LOG_HEADER_LEN))
            .map_err(io(&self.path))?;
        let mut off = LOG_HEADER_LEN;
        let mut buf = Vec::new();
        while off < file_len {
            match read_record(&mut reader, file_len - off, &mut buf).map_err(io(&self.path))? {
                Scan::Valid { height, len } => {
                    let expected = self.next_height();
                    if expected.is_some_and(|e| e != height) {
                        // A checksummed record with the wrong height was written
                        // that way; it is not a torn write, so never cut it.
                        return Err(Error::CorruptLog {
                            path: self.path.clone(),
                            offset: off,
                            reason: format!(
                                "record has height {height}, expected {}",
                                expected.unwrap_or_default()
                            ),
                        });
                    }
                    self.first_height.get_or_insert(height);
                    self.offsets.push(off);
                    off += len;
                }
                Scan::Bad(reason) => {
                    drop(reader);
                    return self.cut_tail(off, file_len, reason);
                }
            }
        }
        self.end = off;
        Ok(0)
    }

    /// Handles a bad record at `off`: cuts it if it is a torn tail, else errors.
    fn cut_tail(&mut self, off: u64, file_len: u64, reason: &str) -> Result<u64> {
        let tail_len = file_len - off;
        let corrupt = |why: String| Error::CorruptLog {
            path: self.path.clone(),
            offset: off,
            reason: why,
        };
        if tail_len > u64::from(MAX_RECORD_LEN) + RECORD_OVERHEAD {
            return Err(corrupt(format!(
                "{reason}, and {tail_len} bytes follow: more than one record, so not a torn tail"
            )));
        }
        let mut tail = vec![0; tail_len as usize];
        self.file
            .read_exact_at(&mut tail, off)
            .map_err(io(&self.path))?;
        if let Some(at) = (1..tail.len()).find(|&i| valid_record_at(&tail[i..])) {
            return Err(corrupt(format!(
                "{reason}, but a valid record follows at byte {}",
                off + at as u64
            )));
        }
        self.file.set_len(off).map_err(io(&self.path))?;
        self.file.sync_all().map_err(io(&self.path))?;
        self.end = off;
        Ok(tail_len)
    }

    /// Appends the record for `height` and fsyncs it (one fsync per block).
    ///
    /// # Errors
    /// [`Error::HeightMismatch`] unless `height` is the last height + 1 (any
    /// height is accepted on an empty log); [`Error::RecordTooLarge`];
    /// [`Error::Io`]; [`Error::LogPoisoned`] after a failed fsync.
    pub fn append(&mut self, height: u64, payload: &[u8]) -> Result<()> {
        if self.poisoned {
            return Err(Error::LogPoisoned);
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
        let mut rec = Vec::with_capacity(payload.len() + RECORD_OVERHEAD as usize);
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&height.to_le_bytes());
        rec.extend_from_slice(payload);
        let sum: [u8; 32] = Sha256::digest(&rec).into();
        rec.extend_from_slice(&sum);
        // Write at our own notion of the end, so a half-written earlier attempt
        // is simply overwritten (and any leftover is a tail `open` will cut).
        if let Err(e) = self.file.write_all_at(&rec, self.end) {
            let _ = self.file.set_len(self.end);
            return Err(io(&self.path)(e));
        }
        if let Err(e) = self.file.sync_data() {
            self.poisoned = true;
            return Err(io(&self.path)(e));
        }
        self.first_height.get_or_insert(height);
        self.offsets.push(self.end);
        self.end += rec.len() as u64;
        Ok(())
    }

    /// Reads the payload at `height` in O(1) via the offset index, re-verifying
    /// its checksum. `Ok(None)` if the log holds no such height.
    ///
    /// # Errors
    /// [`Error::CorruptLog`] if the record no longer verifies; [`Error::Io`].
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
            Some((h, payload)) if h == height && payload.len() + 44 == rec.len() => {
                Ok(Some(payload.to_vec()))
            }
            _ => Err(Error::CorruptLog {
                path: self.path.clone(),
                offset: off,
                reason: format!("record for height {height} no longer verifies"),
            }),
        }
    }

    /// Replays `(height, payload)` from `height` (or the first record, if later) to the end.
    pub fn iter_from(&self, height: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_ {
        let start = self.first_height.map_or(height, |f| height.max(f));
        let end = self.next_height().unwrap_or(start);
        (start..end).map(move |h| match self.read(h) {
            Ok(Some(p)) => Ok((h, p)),
            Ok(None) => Err(Error::CorruptLog {
                path: self.path.clone(),
                offset: self.end,
                reason: format!("height {h} vanished from the index"),
            }),
            Err(e) => Err(e),
        })
    }

    /// Height of the last record, `None` if the log is empty.
    pub fn last_height(&self) -> Option<u64> {
        self.next_height().map(|n| n - 1)
    }

    /// Height of the first record, `None` if the log is empty.
    pub fn first_height(&self) -> Option<u64> {
        self.first_height
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

fn log_header() -> [u8; LOG_HEADER_LEN as usize] {
    let mut h = [0; LOG_HEADER_LEN as usize];
    h[..8].copy_from_slice(&LOG_MAGIC);
    h[8..].copy_from_slice(&LOG_VERSION.to_le_bytes());
    h
}

/// Makes a newly created file's directory entry durable.
fn sync_parent_dir(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io(parent))
}

/// Reads one record from `r`, which has `remaining` bytes left in the file.
fn read_record(r: &mut impl Read, remaining: u64, buf: &mut Vec<u8>) -> std::io::Result<Scan> {
    if remaining < RECORD_OVERHEAD {
        return Ok(Scan::Bad("partial record at end of file"));
    }
    let mut head = [0; RECORD_HEAD_LEN];
    r.read_exact(&mut head)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let total = u64::from(len) + RECORD_OVERHEAD;
    if len > MAX_RECORD_LEN || total > remaining {
        return Ok(Scan::Bad("record runs past end of file"));
    }
    buf.clear();
    buf.extend_from_slice(&head);
    buf.resize(total as usize, 0);
    r.read_exact(&mut buf[RECORD_HEAD_LEN..])?;
    Ok(match check_record(buf) {
        Some((height, _)) => Scan::Valid { height, len: total },
        None => Scan::Bad("checksum mismatch"),
    })
}

/// If `bytes` starts with a complete record whose checksum verifies, returns
/// its height and payload.
fn check_record(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<RECORD_HEAD_LEN>()?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    if len > MAX_RECORD_LEN {
        return None;
    }
    let len = len as usize;
    if rest.len() < len + CHECKSUM_LEN {
        return None;
    }
    let (payload, sum) = rest.split_at(len);
    let mut h = Sha256::new();
    h.update(head);
    h.update(payload);
    let expected: [u8; 32] = h.finalize().into();
    if sum[..CHECKSUM_LEN] != expected {
        return None;
    }
    let mut height = [0; 8];
    height.copy_from_slice(&head[4..]);
    Some((u64::from_le_bytes(height), payload))
}

fn valid_record_at(bytes: &[u8]) -> bool {
    check_record(bytes).is_some()
}
