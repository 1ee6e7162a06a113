//! The sled state store: contract state, its Merkle root, block/tx/receipt indexes and `applied_height`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{db, Error, Result};
use crate::proof::{Hash, Proof};
use crate::smt::{open_db, SparseMerkleTree, META_PREFIX};

/// `m | applied_height -> u64 BE`, written in the same atomic batch as the state.
const META_APPLIED_HEIGHT: &[u8] = b"mapplied_height";

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
    /// Every index, in the order `commit_block` writes them.
    pub const ALL: [Index; 2] = [Index::Receipts, Index::BlocksByHash];

    fn tree_name(self) -> &'static str {
        match self {
            Index::Receipts => "receipts",
            Index::BlocksByHash => "blocks_by_hash",
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
/// State values, tree nodes, the root and `applied_height` live in ONE sled
/// tree so that one `Batch` commits them atomically.
#[derive(Debug)]
pub struct StateStore {
    db: sled::Db,
    smt: SparseMerkleTree,
    receipts: sled::Tree,
    block_hashes: sled::Tree,
    applied_height: Option<u64>,
}

impl StateStore {
    /// Opens (or creates) the state database in the directory `path`.
    ///
    /// # Errors
    /// [`Error::Db`]; [`Error::CorruptState`] if stored metadata does not decode;
    /// [`Error::StateFormat`] if an older build wrote it (rebuild it from the block log).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::with_db(open_db(path.as_ref())?)
    }

    /// A store in a temporary database that is deleted on drop (for tests).
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn temporary() -> Result<Self> {
        let database = sled::Config::new().temporary(true).open().map_err(db)?;
        Self::with_db(database)
    }

    fn with_db(database: sled::Db) -> Result<Self> {
        let state = database.open_tree("state").map_err(db)?;
        let applied_height = match state.get(META_APPLIED_HEIGHT).map_err(db)? {
            None => None,
            Some(b) => Some(u64::from_be_bytes(b.as_ref().try_into().map_err(|_| {
                Error::CorruptState("applied_height is not 8 bytes".into())
            })?)),
        };
        let smt = SparseMerkleTree::with_tree(state)?;
        let open = |i: Index| database.open_tree(i.tree_name()).map_err(db);
        Ok(StateStore {
            receipts: open(Index::Receipts)?,
            block_hashes: open(Index::BlocksByHash)?,
            smt,
            applied_height,
            db: database,
        })
    }

    /// Commits block `height`: index writes, then state writes + tree update +
    /// root + `applied_height` in one atomic batch. Returns the new state root.
    ///
    /// Why a crash between the trees is safe: sled makes each `Batch` atomic
    /// but not a batch across trees, so index entries may survive a crash
    /// whose state batch did not. `applied_height` moves only with the state,
    /// so on restart the node replays every log block with height >
    /// `applied_height`; the index writes it repeats are inserts of the same
    /// values (idempotent), and the state batch was all-or-nothing. State and
    /// root can therefore never disagree, and no block is applied twice.
    ///
    /// Taking `&mut self` also keeps readers out while the batches land: sled
    /// applies a batch atomically for crash recovery, not in isolation from
    /// concurrent readers.
    ///
    /// Durability comes from the block log, not from here: this does not
    /// fsync (sled flushes in the background; see [`Self::flush`]).
    ///
    /// # Errors
    /// [`Error::HeightMismatch`] unless `height == applied_height + 1` (any
    /// height when nothing is applied yet); [`Error::Db`]; [`Error::CorruptState`].
    pub fn commit_block(
        &mut self,
        height: u64,
        state_writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        index_writes: &[IndexWrite],
    ) -> Result<Hash> {
        if let Some(applied) = self.applied_height {
            let expected = applied.saturating_add(1);
            if height != expected {
                return Err(Error::HeightMismatch {
                    expected,
                    got: height,
                });
            }
        }
        let (root, mut state_batch) = self.smt.prepare(
            state_writes
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_deref())),
        )?;
        state_batch.insert(META_APPLIED_HEIGHT, &height.to_be_bytes()[..]);

        for index in Index::ALL {
            let mut batch = sled::Batch::default();
            let mut any = false;
            for w in index_writes.iter().filter(|w| w.index == index) {
                batch.insert(w.key.as_slice(), w.value.as_slice());
                any = true;
            }
            if any {
                self.tree(index).apply_batch(batch).map_err(db)?;
            }
        }
        // The state batch goes last: it is what marks the block applied.
        self.smt_tree().apply_batch(state_batch).map_err(db)?;
        let hash = root.hash();
        self.smt.set_root(root);
        self.applied_height = Some(height);
        Ok(hash)
    }

    /// The committed value of a state key.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.smt.get(key)
    }

    /// The committed value of a state key with its proof against [`Self::state_root`].
    ///
    /// # Errors
    /// [`Error::Db`]; [`Error::CorruptState`].
    pub fn get_with_proof(&self, key: &[u8]) -> Result<(Option<Vec<u8>>, Proof)> {
        self.smt.get_with_proof(key)
    }

    /// Committed state with `start <= key < end` (`None`: to the end), in key order.
    pub fn range(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + 'static {
        self.smt.range(start, end)
    }

    /// An index entry.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn index_get(&self, index: Index, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree(index).get(key).map_err(db)?.map(|v| v.to_vec()))
    }

    /// Height of the last block whose state is committed, `None` before genesis.
    pub fn applied_height(&self) -> Option<u64> {
        self.applied_height
    }

    /// Root over all contract state after [`Self::applied_height`].
    pub fn state_root(&self) -> Hash {
        self.smt.root()
    }

    /// Writes everything to disk and waits for it. Not needed for durability
    /// (the block log is replayed), but shortens replay after a crash.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map(drop).map_err(db)
    }

    fn tree(&self, index: Index) -> &sled::Tree {
        match index {
            Index::Receipts => &self.receipts,
            Index::BlocksByHash => &self.block_hashes,
        }
    }

    fn smt_tree(&self) -> &sled::Tree {
        self.smt.sled_tree()
    }
}

// Metadata keys share the `m` prefix, so they never collide with `n|hash` nodes or `v|key` values.
const _: () = assert!(META_APPLIED_HEIGHT[0] == META_PREFIX);
