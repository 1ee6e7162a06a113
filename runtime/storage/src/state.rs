//! The state store: contract state, its Merkle root, block/tx/receipt indexes and
//! `applied_height` in sled (written behind the log by [`crate::writer`]), the tree's nodes in
//! the node file.

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::cache::ReadCache;
use crate::error::{db, Error, Result};
use crate::proof::{Hash, Proof};
use crate::smt::{
    open_db, prefixed, NewRoot, SparseMerkleTree, META_PREFIX, NODE_PREFIX, VALUE_PREFIX,
};
use crate::writer::{PendingBlock, Writer};

/// `m | applied_height -> u64 BE`, written in the same atomic batch as the state.
const META_APPLIED_HEIGHT: &[u8] = b"mapplied_height";
/// `m | format -> [STATE_FORMAT]`, written with every block: the layout of this database.
const META_FORMAT: &[u8] = b"mformat";
/// Layout 3: the tree's nodes in the node file beside sled, the values, root reference and
/// indexes in sled's `state` tree (one atomic batch per block). Layout 2 kept the nodes in sled
/// too; layout 1 (no `mformat`) kept the indexes in trees of their own.
const STATE_FORMAT: u8 = 3;
/// The file in which sled 0.34 keeps its segments (beside `conf` and `blobs/`).
const SLED_DATA_FILE: &str = "db";
/// Key prefix of the receipts index: `r | tx hash -> receipt`.
const RECEIPTS_PREFIX: u8 = b'r';
/// Key prefix of the block-hash index: `b | header hash -> height`.
const BLOCK_HASH_PREFIX: u8 = b'b';

/// A block's state changes with the root they lead to, computed by
/// [`StateStore::prepare_block`] and not yet written.
#[derive(Debug, Clone)]
pub struct PreparedState {
    height: u64,
    /// The root it was computed on.
    base: Hash,
    root: NewRoot,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl PreparedState {
    /// The state root after the block.
    pub fn root(&self) -> Hash {
        self.root.hash()
    }
    /// The block height it was prepared for.
    pub fn height(&self) -> u64 {
        self.height
    }
}

/// The derived indexes kept beside the state, each its own sled tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Index {
    /// Receipt by transaction hash (a receipt holds its block height and position, so it is
    /// also the transaction's location; blocks themselves are read from the block log).
    Receipts,
    /// Height (8 bytes, big-endian) by block header hash.
    BlocksByHash,
}

impl Index {
    /// Every index.
    pub const ALL: [Index; 2] = [Index::Receipts, Index::BlocksByHash];

    /// The key prefix of its entries in the `state` tree.
    fn prefix(self) -> u8 {
        match self {
            Index::Receipts => RECEIPTS_PREFIX,
            Index::BlocksByHash => BLOCK_HASH_PREFIX,
        }
    }
}

/// Key for a height in an index: big-endian so byte order is height order.
pub fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

/// One write to an index. Index entries are only ever inserted, with values
/// determined by the block, so writing them twice is harmless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexWrite {
    /// Which index.
    pub index: Index,
    /// Entry key.
    pub key: Vec<u8>,
    /// Entry value.
    pub value: Vec<u8>,
}

/// Contract state (a flat, ordered space of opaque keys chosen by the VM), its
/// sparse-Merkle root, and the derived indexes, all derived from the block log.
///
/// State values, the root reference, both indexes and `applied_height` live in ONE sled tree
/// (told apart by a key prefix) so that one `Batch` commits a block's all of them atomically:
/// whatever sled recovers after a crash, `applied_height` names exactly the blocks whose
/// derived data it holds. The tree's nodes are in the node file, appended before that batch.
///
/// sled is written behind: a commit installs the new root, appends its nodes and queues the
/// block's rows for the background writer ([`crate::writer`]); reads look at the queued blocks
/// before sled. Everything this type answers is as of [`Self::applied_height`], written to sled
/// or not.
#[derive(Debug)]
pub struct StateStore {
    /// Dropped first: writes what is queued and joins its thread before sled closes.
    writer: Writer,
    db: sled::Db,
    smt: SparseMerkleTree,
    /// The last block committed to this store (queued for sled or written).
    applied_height: Option<u64>,
    /// Values read from sled, kept coherent by every commit (see [`crate::cache`]).
    cache: ReadCache,
}

impl StateStore {
    /// Opens (or creates) the state database in the directory `path`.
    ///
    /// The database engine can panic on a damaged directory (sled 0.34 does, e.g. on a
    /// truncated segment), so opening runs under `catch_unwind`: a derived store that fails is
    /// rebuilt from the log by the caller, and a panic must not take the node down first.
    ///
    /// # Errors
    /// [`Error::DamagedState`] if the database reports corruption, panics, or its metadata or
    /// root node does not check out (rebuild it from the block log); [`Error::StateFormat`] if
    /// an older build wrote it (rebuild it likewise); [`Error::Db`] for anything else (I/O,
    /// permissions, the directory locked by another process), which a rebuild would not fix.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        // sled "recovers" a data file it cannot read at all as an empty database, silently;
        // telling that from a new database takes knowing the file was there before.
        let data_len = std::fs::metadata(path.join(SLED_DATA_FILE)).map_or(0, |m| m.len());
        let open = || {
            let database = open_db(path)?;
            if data_len > 0 && !database.was_recovered() {
                return Err(Error::DamagedState(format!(
                    "its data file held {data_len} bytes but the database engine recovered \
                     nothing from it"
                )));
            }
            Self::with_db(database, Some(path))
        };
        match quiet_catch_unwind(open) {
            Ok(Ok(store)) => Ok(store),
            Ok(Err(e)) => Err(classify_open_error(e)),
            Err(panic) => Err(Error::DamagedState(format!(
                "the database engine panicked while opening it: {panic}"
            ))),
        }
    }

    /// A store in a temporary database that is deleted on drop (for tests).
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn temporary() -> Result<Self> {
        let database = sled::Config::new().temporary(true).open().map_err(db)?;
        Self::with_db(database, None)
    }

    fn with_db(database: sled::Db, dir: Option<&Path>) -> Result<Self> {
        let state = database.open_tree("state").map_err(db)?;
        let applied_height = match state.get(META_APPLIED_HEIGHT).map_err(db)? {
            None => None,
            Some(b) => Some(u64::from_be_bytes(b.as_ref().try_into().map_err(|_| {
                Error::CorruptState("applied_height is not 8 bytes".into())
            })?)),
        };
        let format = state.get(META_FORMAT).map_err(db)?;
        match format.as_deref() {
            Some([STATE_FORMAT]) => {}
            // Layout 2 (nodes in sled): rebuilt from the log like any older layout.
            Some([2]) => return Err(Error::StateFormat { applied_height }),
            // Nothing applied yet: a new database (a block's batch writes the format).
            None if applied_height.is_none() => {}
            None => return Err(Error::StateFormat { applied_height }),
            Some(other) => {
                return Err(Error::CorruptState(format!(
                    "unknown state layout {other:?}"
                )))
            }
        }
        let smt = SparseMerkleTree::with_tree(state, dir).map_err(|e| match e {
            Error::StateFormat { .. } => Error::StateFormat { applied_height },
            e => e,
        })?;
        smt.check_root()?;
        let writer = Writer::start(smt.sled_tree().clone(), value_key)?;
        Ok(StateStore {
            writer,
            smt,
            applied_height,
            db: database,
            cache: ReadCache::default(),
        })
    }

    /// Computes the state root after `state_writes` and everything needed to commit them as
    /// block `height`, without writing anything: what a proposer needs to put the root after
    /// its block in the block's own header, and what a node re-executing a block needs to check
    /// that header before the block reaches the log. Commit it with [`Self::commit_prepared`].
    ///
    /// # Errors
    /// [`Error::HeightMismatch`] unless `height == applied_height + 1` (any height when nothing
    /// is applied yet); [`Error::Db`]; [`Error::CorruptState`].
    pub fn prepare_block(
        &self,
        height: u64,
        state_writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<PreparedState> {
        self.check_next(height)?;
        let root = self.smt.prepare(
            state_writes
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_deref())),
        )?;
        Ok(PreparedState {
            height,
            base: self.smt.root(),
            root,
            writes: state_writes.clone(),
        })
    }

    /// Commits a block prepared by [`Self::prepare_block`] and returns the new state root.
    ///
    /// The tree's new nodes are appended to the node file, the new root installed, and the
    /// block's sled rows — state writes, root reference, `index_writes`, `applied_height` —
    /// queued for the background writer, which applies them in ONE atomic sled batch. Reads
    /// answer from the queue until then, so the block is visible as soon as this returns.
    ///
    /// Why one batch: sled makes a `Batch` on one tree atomic across crashes but not batches
    /// on several trees, so indexes kept apart could survive a crash whose state batch did not
    /// (a receipt answering for a block whose state is not applied). Here either all of a
    /// block's derived data is recovered, with `applied_height` naming it, or none of it.
    ///
    /// Durability comes from the block log, not from here: nothing is synced (see
    /// [`Self::flush`]), and a crash loses at most the queued blocks, which start-up replays
    /// from the log. This waits only when [`crate::MAX_PENDING_BLOCKS`] are queued (and, for a
    /// store in memory, while its node file is compacted; a store on disk compacts on a thread
    /// of its own and only puts the finished file in place here).
    ///
    /// After an error the store must be dropped and reopened: sled's I/O errors are sticky,
    /// and reopening recovers its last complete batch from disk.
    ///
    /// # Errors
    /// [`Error::HeightMismatch`] if another block was committed since it was prepared, or
    /// [`Error::CorruptState`] if the tree moved; [`Error::StateWrite`] if the background
    /// writer failed on this or an earlier block; [`Error::Io`] if the node file cannot be
    /// written.
    pub fn commit_prepared(
        &mut self,
        prepared: PreparedState,
        index_writes: &[IndexWrite],
    ) -> Result<Hash> {
        let PreparedState {
            height,
            base,
            root,
            writes,
        } = prepared;
        self.check_next(height)?;
        if base != self.smt.root() {
            return Err(Error::CorruptState(format!(
                "block {height} was prepared on another state root than the current one"
            )));
        }
        if let Some(why) = self.writer.failed() {
            return Err(Error::StateWrite(why));
        }
        let mut meta: Vec<(&'static [u8], Vec<u8>)> = root.meta().into();
        meta.push((META_APPLIED_HEIGHT, height.to_be_bytes().to_vec()));
        meta.push((META_FORMAT, vec![STATE_FORMAT]));
        let index: HashMap<Vec<u8>, Vec<u8>> = index_writes
            .iter()
            .map(|w| (prefixed(w.index.prefix(), &w.key), w.value.clone()))
            .collect();
        self.smt.persist_nodes(&root)?;
        self.cache.commit(&writes);
        self.writer.submit(PendingBlock {
            height,
            values: writes,
            index,
            meta,
        })?;
        let hash = root.hash();
        self.smt.set_root(root);
        self.applied_height = Some(height);
        // Compaction keeps only the nodes of this root and later ones, so it first waits for
        // sled to hold this block on disk; it runs on its own thread.
        self.smt
            .compact_in_background(self.writer.progress(), height);
        Ok(hash)
    }

    /// Refuses any height but the next one (any height when nothing is applied yet).
    fn check_next(&self, height: u64) -> Result<()> {
        if let Some(applied) = self.applied_height {
            let expected = applied.saturating_add(1);
            if height != expected {
                return Err(Error::HeightMismatch {
                    expected,
                    got: height,
                });
            }
        }
        Ok(())
    }

    /// [`Self::prepare_block`] then [`Self::commit_prepared`]: commits block `height` and
    /// returns the new state root.
    ///
    /// # Errors
    /// As those two.
    pub fn commit_block(
        &mut self,
        height: u64,
        state_writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        index_writes: &[IndexWrite],
    ) -> Result<Hash> {
        let prepared = self.prepare_block(height, state_writes)?;
        self.commit_prepared(prepared, index_writes)
    }

    /// The committed value of a state key.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(queued) = self.writer.get(key) {
            return Ok(queued);
        }
        if let Some(cached) = self.cache.get(key) {
            return Ok(cached);
        }
        let value = self.smt.get(key)?;
        self.cache.fill(key, value.as_ref());
        Ok(value)
    }

    /// The committed value of a state key with its proof against [`Self::state_root`].
    ///
    /// # Errors
    /// [`Error::Db`]; [`Error::CorruptState`].
    pub fn get_with_proof(&self, key: &[u8]) -> Result<(Option<Vec<u8>>, Proof)> {
        let value = self.get(key)?;
        let proof = self.smt.prove(key, value.as_deref())?;
        Ok((value, proof))
    }

    /// Committed state with `start <= key < end` (`None`: to the end), in key order.
    pub fn range(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + 'static {
        let queued = self.writer.range(start, end);
        Merged {
            sled: self.smt.range(start, end).peekable(),
            queued: queued.into_iter().peekable(),
        }
    }

    /// An index entry.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn index_get(&self, index: Index, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = prefixed(index.prefix(), key);
        if let Some(queued) = self.writer.index_get(&key) {
            return Ok(Some(queued));
        }
        Ok(self
            .smt
            .sled_tree()
            .get(key)
            .map_err(db)?
            .map(|v| v.to_vec()))
    }

    /// Height of the last block whose state is committed, `None` before genesis.
    pub fn applied_height(&self) -> Option<u64> {
        self.applied_height
    }

    /// Root over all contract state after [`Self::applied_height`].
    pub fn state_root(&self) -> Hash {
        self.smt.root()
    }

    /// Holds back (`true`) or releases the background writes to sled. For tests: while held,
    /// committed blocks stay queued and every read answers from the queue over sled. Commit at
    /// most [`crate::MAX_PENDING_BLOCKS`] blocks while held (the next one waits for sled).
    pub fn hold_background_writes(&self, held: bool) {
        self.writer.hold(held);
    }

    /// What opening found wrong with the tree's node file and did about it (`None`: nothing).
    /// The node file is derived data: it is cut back to its last good record or rebuilt from
    /// the state's values, never trusted past a bad record.
    pub fn tree_recovery(&self) -> Option<&str> {
        self.smt.recovery()
    }

    /// Compacts the tree's node file once its garbage exceeds both `bytes` and its live bytes
    /// (the default is 32 MiB, or `HANOK_TREE_COMPACT_MIN_BYTES` at open).
    pub fn set_compact_min_bytes(&mut self, bytes: u64) {
        self.smt.set_compact_min_bytes(bytes);
    }

    /// The tree's node file: its size, live bytes and compactions.
    pub fn node_file_stats(&self) -> crate::NodeFileStats {
        self.smt.node_file_stats()
    }

    /// Writes everything to disk and waits for it (the node file, then sled). Not needed for
    /// durability (the block log is replayed), but shortens replay after a crash.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn flush(&self) -> Result<()> {
        self.writer.drain()?;
        self.smt.sync_nodes()?;
        self.db.flush().map(drop).map_err(db)
    }
}

/// A state key's sled key.
fn value_key(key: &[u8]) -> Vec<u8> {
    prefixed(VALUE_PREFIX, key)
}

/// sled's values in a range with the queued writes over them (a queued deletion hides sled's
/// value), in key order.
struct Merged<S: Iterator<Item = Result<(Vec<u8>, Vec<u8>)>>> {
    sled: std::iter::Peekable<S>,
    queued: std::iter::Peekable<std::collections::btree_map::IntoIter<Vec<u8>, Option<Vec<u8>>>>,
}

impl<S: Iterator<Item = Result<(Vec<u8>, Vec<u8>)>>> Iterator for Merged<S> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (take_queued, shadowed) = match (self.sled.peek(), self.queued.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) | (Some(_), None) => (false, false),
                (None, Some(_)) => (true, false),
                (Some(Ok((sk, _))), Some((qk, _))) => (sk >= qk, sk == qk),
            };
            if shadowed {
                // The queued write replaces sled's value of the same key.
                self.sled.next();
            }
            if !take_queued {
                return self.sled.next();
            }
            match self.queued.next() {
                Some((k, Some(v))) => return Some(Ok((k, v))),
                // A queued deletion: skip the key.
                Some((_, None)) => continue,
                None => return None,
            }
        }
    }
}

/// Sorts an error from opening the database into "damaged: rebuild it" and "anything else:
/// report it". An I/O error is not damage (a full disk, a descriptor limit, permissions, or
/// another process holding the lock: moving the directory aside would not help, and for a
/// live node's directory would be harmful), except for reads that found the files short or
/// malformed.
fn classify_open_error(e: Error) -> Error {
    match e {
        Error::Db(inner) => match inner.as_sled() {
            sled::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ) =>
            {
                Error::DamagedState(format!("reading it failed: {io}"))
            }
            sled::Error::Io(_) => Error::Db(inner),
            other => Error::DamagedState(other.to_string()),
        },
        Error::CorruptState(why) => Error::DamagedState(why),
        other => other,
    }
}

thread_local! {
    /// Set while [`quiet_catch_unwind`] runs on this thread: the panic hook then keeps quiet.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err(message)` without the panic hook printing it: the
/// caller reports the failure in its own words (a database to rebuild), and a "thread
/// panicked" line would read as a crash. Panics on other threads print as before.
fn quiet_catch_unwind<R>(f: impl FnOnce() -> R) -> std::result::Result<R, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

// Metadata and index keys each have their own prefix, so they never collide with `n|hash`
// nodes or `v|key` values (and state ranges, which stay within `v`, never see them).
const _: () = assert!(META_APPLIED_HEIGHT[0] == META_PREFIX && META_FORMAT[0] == META_PREFIX);
const _: () = assert!(
    RECEIPTS_PREFIX != META_PREFIX
        && RECEIPTS_PREFIX != VALUE_PREFIX
        && RECEIPTS_PREFIX != NODE_PREFIX
        && BLOCK_HASH_PREFIX != META_PREFIX
        && BLOCK_HASH_PREFIX != VALUE_PREFIX
        && BLOCK_HASH_PREFIX != NODE_PREFIX
        && RECEIPTS_PREFIX != BLOCK_HASH_PREFIX
);
