//! The state tree's node file: an append-only, checksummed file of the tree's stored nodes,
//! kept in the state directory beside sled (`tree.nodes`).
//!
//! The file is derived data, like sled: it is checked against sled's root reference at every
//! open and rebuilt from sled's latest values when it cannot answer for that root (missing,
//! torn, damaged, or behind sled after a power loss). It never holds the only copy of anything.
//!
//! Layout: a 12-byte header (`"HANOKTRN"`, u32 LE version), then records
//! `u32 LE body_len | u32 LE crc32(body_len | body) | body`, where `body` is
//! `node_hash (32) | encoded node`. Nodes are content-addressed: a record is never rewritten,
//! only appended or left behind as garbage when the tree stops referencing it, and garbage is
//! reclaimed by compaction (every live node copied, children first, into a new file that
//! replaces the old one with a rename).
//!
//! **The ordering invariant** that makes a prefix of the file trustworthy: a node's record is
//! always written after the records of every stored node below it (a batch writes its new
//! nodes children first; older children were written by earlier batches; compaction writes in
//! post-order). So if the file holds the root's record, a scan that stops at the first bad
//! record has kept the whole tree below it, and opening checks that by walking the tree.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{io, Result};
use crate::log::sync_parent_dir;
use crate::proof::Hash;

/// The node file's name inside the state directory.
pub const NODE_FILE: &str = "tree.nodes";
/// Where compaction writes the new file before renaming it over [`NODE_FILE`]. A leftover one
/// (a crash during compaction) is deleted on open.
pub const NODE_FILE_COMPACTING: &str = "tree.nodes.compact";
/// First eight bytes of the node file.
pub const NODE_MAGIC: [u8; 8] = *b"HANOKTRN";
/// Format version written after the magic (u32 LE).
pub const NODE_VERSION: u32 = 1;
/// Header: magic + version.
const HEADER_LEN: u64 = 12;
/// A record's head: body length and checksum.
const RECORD_HEAD: u64 = 8;
/// The smallest body: a hash and a node with its 4-byte bitmap and one 32-byte child.
const MIN_BODY: u32 = 32 + 4 + 32;
/// The largest body: a hash and a node of sixteen inline leaves.
const MAX_BODY: u32 = 32 + 4 + 16 * 64;
/// Compaction runs once garbage exceeds both the live bytes and this (override with the
/// environment variable `HANOK_TREE_COMPACT_MIN_BYTES`, which the crash tests use to make it
/// frequent).
const DEFAULT_COMPACT_MIN_BYTES: u64 = 32 << 20;

/// Where a node's body lies in the file.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Offset of the body (after the record head).
    offset: u64,
    len: u32,
}

impl Slot {
    /// Bytes the whole record takes.
    fn record_len(self) -> u64 {
        RECORD_HEAD + u64::from(self.len)
    }
}

#[derive(Debug)]
enum Backing {
    File {
        file: File,
        path: PathBuf,
    },
    /// A temporary tree's nodes, in memory.
    Memory(Vec<u8>),
}

/// What the node file holds and what compaction has done, for operators and the bench.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFileStats {
    /// Bytes of the file.
    pub file_bytes: u64,
    /// Bytes of the records the current tree references.
    pub live_bytes: u64,
    /// Compactions since the store was opened.
    pub compactions: u64,
    /// The last compaction's failure, if it failed (the old file stays in use, and compaction
    /// is tried again once more garbage has built up).
    pub last_compaction_error: Option<String>,
}

/// The open node file (see the module docs).
#[derive(Debug)]
pub(crate) struct NodeFile {
    backing: Backing,
    /// End of the last complete record: where the next append goes.
    end: u64,
    /// Every record in the file by node hash: the live tree, plus records found at open that
    /// the tree no longer references (until the next compaction).
    index: HashMap<Hash, Slot>,
    /// Bytes of the records the current tree references.
    live: u64,
    compact_min: u64,
    /// Garbage at which the next compaction is due (raised after a failed one).
    compact_at: u64,
    compactions: u64,
    last_compaction_error: Option<String>,
    /// While a background compaction runs: its snapshot's end. A node the tree needs again
    /// whose record lies before it is appended anew, because the compaction copies from before
    /// that point only the snapshot's own tree.
    copy_from: Option<u64>,
}

/// The node file as it was when a background compaction started: its records up to `end`
/// (never rewritten: the file is append-only until the compaction replaces it) and their
/// index at that moment (later commits drop replaced nodes from the live index).
pub(crate) struct Snapshot {
    file: File,
    path: PathBuf,
    index: HashMap<Hash, Slot>,
    end: u64,
}

impl Snapshot {
    /// Where the records the compaction must copy as they are begin.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// The stored node `hash` as of the snapshot.
    pub(crate) fn read(&self, hash: &Hash) -> Result<Option<Vec<u8>>> {
        let Some(slot) = self.index.get(hash) else {
            return Ok(None);
        };
        read_body(&self.file, &self.path, hash, *slot)
    }
}

fn read_body(file: &File, path: &Path, hash: &Hash, slot: Slot) -> Result<Option<Vec<u8>>> {
    let mut body = vec![0u8; slot.len as usize];
    file.read_exact_at(&mut body, slot.offset)
        .map_err(io(path))?;
    if !holds(&body, hash) {
        return Ok(None);
    }
    body.drain(..32);
    Ok(Some(body))
}

/// Whether a record's body is `hash`'s (a stale index entry or a misread would not be).
fn holds(body: &[u8], hash: &Hash) -> bool {
    body.get(..32) == Some(&hash.0[..])
}

/// Records written by a compaction or a rebuild, not yet in place.
pub(crate) struct Rewrite {
    out: RewriteOut,
    end: u64,
    index: HashMap<Hash, Slot>,
}

enum RewriteOut {
    File {
        writer: BufWriter<File>,
        path: PathBuf,
    },
    Memory(Vec<u8>),
}

impl Rewrite {
    /// Writes what is buffered and syncs the new file (a background compaction does this
    /// before the swap, so the swap only syncs the tail it adds).
    pub(crate) fn sync(&mut self) -> Result<()> {
        if let RewriteOut::File { writer, path } = &mut self.out {
            writer.flush().map_err(io(&*path))?;
            writer.get_ref().sync_data().map_err(io(&*path))?;
        }
        Ok(())
    }

    /// Appends one node (children before parents, as everywhere in the file).
    pub(crate) fn push(&mut self, hash: &Hash, node: &[u8]) -> Result<()> {
        let record = encode_record(hash, node);
        match &mut self.out {
            RewriteOut::File { writer, path } => writer.write_all(&record).map_err(io(path))?,
            RewriteOut::Memory(bytes) => bytes.extend_from_slice(&record),
        }
        self.index.insert(
            *hash,
            Slot {
                offset: self.end + RECORD_HEAD,
                len: body_len(node),
            },
        );
        self.end += record.len() as u64;
        Ok(())
    }
}

fn body_len(node: &[u8]) -> u32 {
    // Bounded by MAX_BODY: a node is at most sixteen 64-byte children and a bitmap.
    u32::try_from(32 + node.len()).unwrap_or(u32::MAX)
}

fn encode_record(hash: &Hash, node: &[u8]) -> Vec<u8> {
    let len = body_len(node);
    let mut out = Vec::with_capacity(RECORD_HEAD as usize + len as usize);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&hash.0);
    out.extend_from_slice(node);
    let sum = checksum(&out[..4], &out[8..]);
    out[4..8].copy_from_slice(&sum.to_le_bytes());
    out
}

fn checksum(len: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len);
    h.update(body);
    h.finalize()
}

fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0; HEADER_LEN as usize];
    h[..8].copy_from_slice(&NODE_MAGIC);
    h[8..].copy_from_slice(&NODE_VERSION.to_le_bytes());
    h
}

fn compact_min_from_env() -> u64 {
    crate::env_u64("HANOK_TREE_COMPACT_MIN_BYTES").unwrap_or(DEFAULT_COMPACT_MIN_BYTES)
}

impl NodeFile {
    /// An empty node file in memory (a temporary tree).
    pub(crate) fn memory() -> Self {
        Self::with(
            Backing::Memory(header().to_vec()),
            HEADER_LEN,
            HashMap::new(),
        )
    }

    fn with(backing: Backing, end: u64, index: HashMap<Hash, Slot>) -> Self {
        let compact_min = compact_min_from_env();
        NodeFile {
            backing,
            end,
            index,
            live: 0,
            compact_min,
            compact_at: compact_min,
            compactions: 0,
            last_compaction_error: None,
            copy_from: None,
        }
    }

    /// Opens (or creates) the node file in `dir`, scanning every record. A scan stops at the
    /// first record that is incomplete or fails its checksum and cuts the file there: what
    /// remains is a valid prefix, and the caller checks that it holds the tree it needs.
    /// Returns the file and, when something was cut, what and why.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Option<String>)> {
        let leftover = dir.join(NODE_FILE_COMPACTING);
        match std::fs::remove_file(&leftover) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&leftover)(e)),
        }
        let path = dir.join(NODE_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        let file_len = file.metadata().map_err(io(&path))?.len();
        let mut head = [0u8; HEADER_LEN as usize];
        let header_ok =
            file_len >= HEADER_LEN && file.read_exact_at(&mut head, 0).is_ok() && head == header();
        if !header_ok {
            let note = (file_len > 0)
                .then(|| format!("an unreadable header (its {file_len} bytes were dropped)"));
            file.set_len(0).map_err(io(&path))?;
            file.write_all_at(&header(), 0).map_err(io(&path))?;
            let backing = Backing::File { file, path };
            return Ok((Self::with(backing, HEADER_LEN, HashMap::new()), note));
        }
        let (index, end, note) = scan(&file, file_len).map_err(io(&path))?;
        if end < file_len {
            file.set_len(end).map_err(io(&path))?;
        }
        Ok((Self::with(Backing::File { file, path }, end, index), note))
    }

    /// The stored node `hash` (its encoding), `None` if the file does not hold it.
    pub(crate) fn read(&self, hash: &Hash) -> Result<Option<Vec<u8>>> {
        let Some(slot) = self.index.get(hash) else {
            return Ok(None);
        };
        match &self.backing {
            Backing::File { file, path } => read_body(file, path, hash, *slot),
            Backing::Memory(bytes) => {
                let start = usize::try_from(slot.offset).unwrap_or(usize::MAX);
                let body = bytes.get(start..start.saturating_add(slot.len as usize));
                Ok(body.filter(|b| holds(b, hash)).map(|b| b[32..].to_vec()))
            }
        }
    }

    /// Bytes the record of a node with this encoding takes.
    pub(crate) fn record_len_of(node: &[u8]) -> u64 {
        RECORD_HEAD + 32 + node.len() as u64
    }

    /// Bytes of `hash`'s record, 0 if the file does not hold it.
    pub(crate) fn record_len(&self, hash: &Hash) -> u64 {
        self.index.get(hash).map_or(0, |s| s.record_len())
    }

    /// Appends the nodes the file does not hold yet, children before parents, in one write
    /// (not synced: the block log is the truth, and the file is checked and rebuilt on open).
    pub(crate) fn append<'a>(
        &mut self,
        nodes: impl IntoIterator<Item = (&'a Hash, &'a [u8])>,
    ) -> Result<()> {
        let mut buf = Vec::new();
        let mut added: Vec<(Hash, Slot)> = Vec::new();
        // A batch creates each node once (two positions never share a hash), so only nodes
        // already in the file are skipped.
        for (hash, node) in nodes {
            if let Some(slot) = self.index.get(hash) {
                if self.copy_from.is_none_or(|from| slot.offset >= from) {
                    continue;
                }
            }
            let offset = self.end + buf.len() as u64 + RECORD_HEAD;
            buf.extend_from_slice(&encode_record(hash, node));
            added.push((
                *hash,
                Slot {
                    offset,
                    len: body_len(node),
                },
            ));
        }
        if buf.is_empty() {
            return Ok(());
        }
        match &mut self.backing {
            Backing::File { file, path } => {
                if let Err(e) = file.write_all_at(&buf, self.end) {
                    // Leave no partial record behind if the file system lets us.
                    let _ = file.set_len(self.end);
                    return Err(io(path)(e));
                }
            }
            Backing::Memory(bytes) => bytes.extend_from_slice(&buf),
        }
        self.end += buf.len() as u64;
        self.index.extend(added);
        Ok(())
    }

    /// Accounts for a batch the tree installed: `new` nodes are live, `stale` ones (those not
    /// also in `new`) are garbage and leave the index.
    pub(crate) fn install(&mut self, new: &[Hash], stale: &[Hash]) {
        let new_set: HashSet<&Hash> = new.iter().collect();
        let stale_set: HashSet<&Hash> = stale.iter().collect();
        for h in new.iter().filter(|h| !stale_set.contains(h)) {
            self.live += self.record_len(h);
        }
        for h in stale.iter().filter(|h| !new_set.contains(h)) {
            if let Some(slot) = self.index.remove(h) {
                self.live = self.live.saturating_sub(slot.record_len());
            }
        }
    }

    /// Sets the garbage above which compaction runs (it also waits for garbage to exceed the
    /// live bytes).
    pub(crate) fn set_compact_min(&mut self, bytes: u64) {
        self.compact_min = bytes;
        self.compact_at = bytes;
    }

    /// Sets the live bytes (computed by walking the tree at open).
    pub(crate) fn set_live(&mut self, live: u64) {
        self.live = live;
    }

    /// Bytes of records no longer referenced.
    pub(crate) fn garbage(&self) -> u64 {
        self.end.saturating_sub(HEADER_LEN + self.live)
    }

    /// Whether enough garbage has built up to compact.
    pub(crate) fn compaction_due(&self) -> bool {
        let g = self.garbage();
        g > self.compact_at && g > self.live
    }

    /// Starts a new file to be filled with [`Rewrite::push`] and put in place with
    /// [`Self::finish_rewrite`].
    pub(crate) fn begin_rewrite(&self) -> Result<Rewrite> {
        let out = match &self.backing {
            Backing::File { path, .. } => {
                let tmp = path.with_file_name(NODE_FILE_COMPACTING);
                let file = File::create(&tmp).map_err(io(&tmp))?;
                let mut writer = BufWriter::with_capacity(1 << 20, file);
                writer.write_all(&header()).map_err(io(&tmp))?;
                RewriteOut::File { writer, path: tmp }
            }
            Backing::Memory(_) => RewriteOut::Memory(header().to_vec()),
        };
        Ok(Rewrite {
            out,
            end: HEADER_LEN,
            index: HashMap::new(),
        })
    }

    /// A view of the file as it is now, for a compaction in the background (`None` for a
    /// file in memory, which is compacted in place).
    pub(crate) fn snapshot(&mut self) -> Result<Option<Snapshot>> {
        let Backing::File { file, path } = &self.backing else {
            return Ok(None);
        };
        let snapshot = Snapshot {
            file: file.try_clone().map_err(io(path))?,
            path: path.clone(),
            index: self.index.clone(),
            end: self.end,
        };
        self.copy_from = Some(self.end);
        Ok(Some(snapshot))
    }

    /// Completes a background compaction that copied the live tree as of `from` (the
    /// snapshot's end): every record appended since — the nodes of every later root — is
    /// copied as it is, then the new file replaces the old one as in [`Self::finish_rewrite`].
    /// Live bytes keep their running count; what the copied tail holds beyond them is garbage.
    pub(crate) fn finish_background(&mut self, mut rewrite: Rewrite, from: u64) -> Result<()> {
        if let Backing::File { file, path } = &self.backing {
            let len = usize::try_from(self.end.saturating_sub(from)).unwrap_or(usize::MAX);
            let mut tail = vec![0u8; len];
            file.read_exact_at(&mut tail, from).map_err(io(path))?;
            let mut rest = &tail[..];
            while let Some((head, after)) = rest.split_first_chunk::<8>() {
                let body_len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
                let Some(body) = after.get(..body_len) else {
                    break;
                };
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&body[..32]);
                rewrite.push(&Hash(hash), &body[32..])?;
                rest = &after[body_len..];
            }
        }
        let live = self.live;
        self.copy_from = None;
        self.finish_rewrite(rewrite)?;
        self.live = live;
        Ok(())
    }

    /// Puts a rewritten file in place: synced, then renamed over the old one (and the
    /// directory synced), so a crash leaves either the old file or the new one, whole. Every
    /// record of the new file is live.
    pub(crate) fn finish_rewrite(&mut self, rewrite: Rewrite) -> Result<()> {
        let Rewrite { out, end, index } = rewrite;
        match out {
            RewriteOut::File { writer, path: tmp } => {
                let file = writer.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
                file.sync_all().map_err(io(&tmp))?;
                let Backing::File { path, .. } = &self.backing else {
                    return Ok(());
                };
                let path = path.clone();
                std::fs::rename(&tmp, &path).map_err(io(&path))?;
                sync_parent_dir(&path)?;
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(io(&path))?;
                self.backing = Backing::File { file, path };
            }
            RewriteOut::Memory(bytes) => self.backing = Backing::Memory(bytes),
        }
        self.live = end - HEADER_LEN;
        self.end = end;
        self.index = index;
        self.compact_at = self.compact_min;
        Ok(())
    }

    /// Records a failed compaction: the old file stays in use, the temporary one is removed,
    /// and the next attempt waits for as much garbage again.
    pub(crate) fn compaction_failed(&mut self, why: String) {
        self.copy_from = None;
        if let Backing::File { path, .. } = &self.backing {
            let _ = std::fs::remove_file(path.with_file_name(NODE_FILE_COMPACTING));
        }
        self.last_compaction_error = Some(why);
        self.compact_at = self.garbage().saturating_add(self.compact_min);
    }

    /// Counts a compaction that succeeded.
    pub(crate) fn compacted(&mut self) {
        self.compactions += 1;
        self.last_compaction_error = None;
    }

    /// Writes the file to disk and waits for it.
    pub(crate) fn sync(&self) -> Result<()> {
        match &self.backing {
            Backing::File { file, path } => file.sync_data().map_err(io(path)),
            Backing::Memory(_) => Ok(()),
        }
    }

    pub(crate) fn stats(&self) -> NodeFileStats {
        NodeFileStats {
            file_bytes: self.end,
            live_bytes: self.live,
            compactions: self.compactions,
            last_compaction_error: self.last_compaction_error.clone(),
        }
    }
}

/// Reads every record from the header on. Returns the index, the end of the last good record
/// and, if the scan stopped before the end of the file, why.
fn scan(file: &File, file_len: u64) -> std::io::Result<(HashMap<Hash, Slot>, u64, Option<String>)> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut skip = [0u8; HEADER_LEN as usize];
    reader.read_exact(&mut skip)?;
    let mut index = HashMap::new();
    let mut pos = HEADER_LEN;
    let mut body = Vec::with_capacity(MAX_BODY as usize);
    let stop = loop {
        let left = file_len - pos;
        if left == 0 {
            break None;
        }
        if left < RECORD_HEAD {
            break Some(format!("an incomplete record head at byte {pos}"));
        }
        let mut head = [0u8; RECORD_HEAD as usize];
        reader.read_exact(&mut head)?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let sum = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if !(MIN_BODY..=MAX_BODY).contains(&len) {
            break Some(format!(
                "a record at byte {pos} with an impossible length {len}"
            ));
        }
        if left - RECORD_HEAD < u64::from(len) {
            break Some(format!("an incomplete record at byte {pos}"));
        }
        body.resize(len as usize, 0);
        reader.read_exact(&mut body)?;
        if checksum(&head[..4], &body) != sum {
            break Some(format!("a record at byte {pos} that fails its checksum"));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&body[..32]);
        index.insert(
            Hash(hash),
            Slot {
                offset: pos + RECORD_HEAD,
                len,
            },
        );
        pos += RECORD_HEAD + u64::from(len);
    };
    let note = stop.map(|why| format!("{why}; the {} bytes from there were cut", file_len - pos));
    Ok((index, pos, note))
}

/// Test hook: `HANOK_TEST_COMPACTION_STALL_MS` holds a background compaction after its new
/// file is written and synced and before it replaces the old one, so a crash test can kill the
/// node inside that window (it waits for [`NODE_FILE_COMPACTING`] to appear).
pub(crate) fn stall_for_tests() {
    if let Some(ms) = crate::env_u64("HANOK_TEST_COMPACTION_STALL_MS") {
        std::thread::sleep(Duration::from_millis(ms));
    }
}
