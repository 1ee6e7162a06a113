//! The sparse Merkle tree over contract state, persisted in one sled tree.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{db, Error, Result};
use crate::proof::{
    internal_hash, key_hash, leaf_hash, path_bit, sha256, Hash, Proof, ProofLeaf, EMPTY_HASH,
    INTERNAL_TAG, LEAF_TAG, MAX_DEPTH,
};

/// Key prefix of a node: `n | node_hash -> tag | a | b` (the node's hash preimage).
const NODE_PREFIX: u8 = b'n';
/// Key prefix of a value: `v | key -> value`. Keyed by the raw key (not its
/// hash) so the same entries serve ordered range scans over state.
pub(crate) const VALUE_PREFIX: u8 = b'v';
/// Key prefix of metadata: `m | name`.
pub(crate) const META_PREFIX: u8 = b'm';
const META_ROOT: &[u8] = b"mroot";
const _: () = assert!(META_ROOT[0] == META_PREFIX);

/// A decoded tree node. Empty subtrees are never stored: they are [`EMPTY_HASH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Leaf { key_hash: Hash, value_hash: Hash },
    Internal { left: Hash, right: Hash },
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Leaf {
                key_hash,
                value_hash,
            } => leaf_hash(key_hash, value_hash),
            Node::Internal { left, right } => internal_hash(left, right),
        }
    }

    fn encode(&self) -> [u8; 65] {
        let (tag, a, b) = match self {
            Node::Leaf {
                key_hash,
                value_hash,
            } => (LEAF_TAG, key_hash, value_hash),
            Node::Internal { left, right } => (INTERNAL_TAG, left, right),
        };
        let mut out = [0; 65];
        out[0] = tag;
        out[1..33].copy_from_slice(a);
        out[33..].copy_from_slice(b);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Node> {
        if bytes.len() != 65 {
            return None;
        }
        let mut a = [0; 32];
        let mut b = [0; 32];
        a.copy_from_slice(&bytes[1..33]);
        b.copy_from_slice(&bytes[33..]);
        match bytes[0] {
            LEAF_TAG => Some(Node::Leaf {
                key_hash: a,
                value_hash: b,
            }),
            INTERNAL_TAG => Some(Node::Internal { left: a, right: b }),
            _ => None,
        }
    }
}

/// One deduplicated update: key hash, new value hash (`None` = delete), raw key, value.
struct Update<'a> {
    key_hash: Hash,
    value_hash: Option<Hash>,
    key: &'a [u8],
    value: Option<&'a [u8]>,
}

/// Compact sparse Merkle tree (Libra/Diem-SMT style, binary, no extension nodes).
///
/// Nodes are content-addressed (`hash -> preimage`) in sled, so the tree
/// survives restarts. Only the latest root is kept; nodes no longer reachable
/// from it are left in place (never pruned yet): nodes are shared between
/// versions and subtrees, so deleting one safely needs reference counts or a
/// stale-node index, as JMT keeps.
#[derive(Debug)]
pub struct SparseMerkleTree {
    tree: sled::Tree,
    /// Keeps the database open when the tree owns it.
    db: Option<sled::Db>,
    root: Hash,
}

impl SparseMerkleTree {
    /// Opens (or creates) a standalone tree in its own database directory at `path`.
    ///
    /// # Errors
    /// [`Error::Db`] if the database cannot be opened; [`Error::CorruptState`]
    /// if the stored root does not decode.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::with_db(open_db(path.as_ref())?)
    }

    /// A tree in a temporary database that is deleted on drop (for tests and tools).
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn temporary() -> Result<Self> {
        let db = sled::Config::new().temporary(true).open().map_err(db)?;
        Self::with_db(db)
    }

    fn with_db(database: sled::Db) -> Result<Self> {
        let tree = database.open_tree("state").map_err(db)?;
        let mut smt = Self::with_tree(tree)?;
        smt.db = Some(database);
        Ok(smt)
    }

    /// Builds the tree over an existing sled tree, which it shares with the caller
    /// (the state store adds its metadata to the same atomic batches).
    pub(crate) fn with_tree(tree: sled::Tree) -> Result<Self> {
        let root = match tree.get(META_ROOT).map_err(db)? {
            None => EMPTY_HASH,
            Some(bytes) => to_hash(&bytes)
                .ok_or_else(|| Error::CorruptState("stored state root is not 32 bytes".into()))?,
        };
        Ok(SparseMerkleTree {
            tree,
            db: None,
            root,
        })
    }

    /// The current root; [`EMPTY_HASH`] for an empty tree.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Applies a batch of writes (`None` deletes) in one atomic database write
    /// and returns the new root. Later entries for the same key win.
    ///
    /// # Errors
    /// [`Error::Db`]; [`Error::CorruptState`] if a stored node does not decode.
    pub fn apply<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        batch: &[(K, Option<V>)],
    ) -> Result<Hash> {
        let (root, sled_batch) = self.prepare(
            batch
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_ref().map(|v| v.as_ref()))),
        )?;
        self.tree.apply_batch(sled_batch).map_err(db)?;
        self.root = root;
        Ok(root)
    }

    /// Computes the new root for `writes` and the sled batch (nodes, values,
    /// root) that persists it, without writing anything.
    pub(crate) fn prepare<'a>(
        &self,
        writes: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> Result<(Hash, sled::Batch)> {
        let mut ups: Vec<Update<'a>> = writes
            .into_iter()
            .map(|(key, value)| Update {
                key_hash: key_hash(key),
                value_hash: value.map(sha256),
                key,
                value,
            })
            .collect();
        // Keep the last write per key: reverse, stable sort, keep first of each run.
        ups.reverse();
        ups.sort_by_key(|u| u.key_hash);
        ups.dedup_by(|later, earlier| later.key_hash == earlier.key_hash);

        let paths: Vec<(Hash, Option<Hash>)> =
            ups.iter().map(|u| (u.key_hash, u.value_hash)).collect();
        let mut new_nodes = HashMap::new();
        let root = self.update(&mut new_nodes, self.root, 0, &paths)?;

        let mut batch = sled::Batch::default();
        for (hash, node) in &new_nodes {
            batch.insert(prefixed(NODE_PREFIX, hash), &node.encode()[..]);
        }
        for u in &ups {
            match u.value {
                Some(v) => batch.insert(prefixed(VALUE_PREFIX, u.key), v),
                None => batch.remove(prefixed(VALUE_PREFIX, u.key)),
            }
        }
        batch.insert(META_ROOT, &root[..]);
        Ok((root, batch))
    }

    /// The sled tree holding nodes, values and metadata.
    pub(crate) fn sled_tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Sets the in-memory root after the caller applied a batch from [`Self::prepare`].
    pub(crate) fn set_root(&mut self, root: Hash) {
        self.root = root;
    }

    /// Rewrites the subtree `node` at `depth` with `ups` (sorted by path, all
    /// under this subtree) and returns its new hash, keeping the tree canonical:
    /// a subtree with one leaf is that leaf, a subtree with none is empty.
    fn update(
        &self,
        new: &mut HashMap<Hash, Node>,
        node: Hash,
        depth: usize,
        ups: &[(Hash, Option<Hash>)],
    ) -> Result<Hash> {
        if ups.is_empty() {
            return Ok(node);
        }
        if node == EMPTY_HASH {
            return self.build(new, depth, ups);
        }
        match self.load(new, &node)? {
            Node::Leaf {
                key_hash,
                value_hash,
            } => match ups.binary_search_by(|(k, _)| k.cmp(&key_hash)) {
                // The batch overwrites or deletes this leaf.
                Ok(_) => self.build(new, depth, ups),
                // The existing leaf joins the batch as an insert.
                Err(pos) => {
                    let mut merged = Vec::with_capacity(ups.len() + 1);
                    merged.extend_from_slice(&ups[..pos]);
                    merged.push((key_hash, Some(value_hash)));
                    merged.extend_from_slice(&ups[pos..]);
                    self.build(new, depth, &merged)
                }
            },
            Node::Internal { left, right } => {
                if depth >= MAX_DEPTH {
                    return Err(corrupt_depth());
                }
                let split = ups.partition_point(|(k, _)| !path_bit(k, depth));
                let l = self.update(new, left, depth + 1, &ups[..split])?;
                let r = self.update(new, right, depth + 1, &ups[split..])?;
                self.join(new, l, r)
            }
        }
    }

    /// Builds a subtree from scratch out of the inserts in `ups` (deletes are no-ops here).
    fn build(
        &self,
        new: &mut HashMap<Hash, Node>,
        depth: usize,
        ups: &[(Hash, Option<Hash>)],
    ) -> Result<Hash> {
        let mut live = ups.iter().filter_map(|(k, v)| v.map(|v| (k, v)));
        let Some((k, v)) = live.next() else {
            return Ok(EMPTY_HASH);
        };
        if live.next().is_none() {
            let leaf = Node::Leaf {
                key_hash: *k,
                value_hash: v,
            };
            let h = leaf.hash();
            new.insert(h, leaf);
            return Ok(h);
        }
        if depth >= MAX_DEPTH {
            // Two distinct 256-bit paths always differ before depth 256.
            return Err(corrupt_depth());
        }
        let split = ups.partition_point(|(k, _)| !path_bit(k, depth));
        let l = self.build(new, depth + 1, &ups[..split])?;
        let r = self.build(new, depth + 1, &ups[split..])?;
        self.join(new, l, r)
    }

    /// Joins two child subtrees, lifting a lone leaf so it sits where it is alone.
    fn join(&self, new: &mut HashMap<Hash, Node>, l: Hash, r: Hash) -> Result<Hash> {
        let lone = match (l == EMPTY_HASH, r == EMPTY_HASH) {
            (true, true) => return Ok(EMPTY_HASH),
            (true, false) => Some(r),
            (false, true) => Some(l),
            (false, false) => None,
        };
        if let Some(child) = lone {
            if matches!(self.load(new, &child)?, Node::Leaf { .. }) {
                return Ok(child);
            }
        }
        let node = Node::Internal { left: l, right: r };
        let h = node.hash();
        new.insert(h, node);
        Ok(h)
    }

    fn load(&self, new: &HashMap<Hash, Node>, hash: &Hash) -> Result<Node> {
        if let Some(n) = new.get(hash) {
            return Ok(*n);
        }
        let bytes = self
            .tree
            .get(prefixed(NODE_PREFIX, hash))
            .map_err(db)?
            .ok_or_else(|| Error::CorruptState(format!("missing tree node {}", hex(hash))))?;
        Node::decode(&bytes)
            .ok_or_else(|| Error::CorruptState(format!("undecodable tree node {}", hex(hash))))
    }

    /// The committed value of `key`, without a proof.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tree
            .get(prefixed(VALUE_PREFIX, key))
            .map_err(db)?
            .map(|v| v.to_vec()))
    }

    /// The committed value of `key` with a proof of it (or of its absence)
    /// against [`Self::root`].
    ///
    /// # Errors
    /// [`Error::Db`]; [`Error::CorruptState`] if the stored value does not
    /// match its leaf or a node is missing.
    pub fn get_with_proof(&self, key: &[u8]) -> Result<(Option<Vec<u8>>, Proof)> {
        let kh = key_hash(key);
        let no_new = HashMap::new();
        let mut siblings = Vec::new();
        let mut node = self.root;
        let leaf = loop {
            if node == EMPTY_HASH {
                break None;
            }
            match self.load(&no_new, &node)? {
                Node::Leaf {
                    key_hash,
                    value_hash,
                } => {
                    break Some(ProofLeaf {
                        key_hash,
                        value_hash,
                    })
                }
                Node::Internal { left, right } => {
                    let depth = siblings.len();
                    if depth >= MAX_DEPTH {
                        return Err(corrupt_depth());
                    }
                    if path_bit(&kh, depth) {
                        siblings.push(left);
                        node = right;
                    } else {
                        siblings.push(right);
                        node = left;
                    }
                }
            }
        };
        let value = self.get(key)?;
        let in_tree = leaf.filter(|l| l.key_hash == kh).map(|l| l.value_hash);
        if in_tree != value.as_deref().map(sha256) {
            return Err(Error::CorruptState(format!(
                "value of key hash {} disagrees with its leaf",
                hex(&kh)
            )));
        }
        Ok((value, Proof { siblings, leaf }))
    }

    /// Iterates committed `(key, value)` pairs with `start <= key < end` in key order.
    pub fn range(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + 'static {
        let lo = prefixed(VALUE_PREFIX, start);
        let hi = match end {
            Some(e) => prefixed(VALUE_PREFIX, e),
            None => vec![VALUE_PREFIX + 1],
        };
        // sled panics on a reversed range; an empty range is the honest answer.
        let iter = (lo < hi).then(|| self.tree.range(lo..hi));
        iter.into_iter().flatten().map(|item| {
            let (k, v) = item.map_err(db)?;
            Ok((k[1..].to_vec(), v.to_vec()))
        })
    }

    /// Flushes the database to disk (only needed when it owns the database).
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn flush(&self) -> Result<()> {
        match &self.db {
            Some(d) => d.flush().map(drop).map_err(db),
            None => self.tree.flush().map(drop).map_err(db),
        }
    }
}

/// How long [`open_db`] waits for a just-closed handle to release its lock.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the sled database in `path`, waiting briefly if it is still locked.
///
/// sled 0.34 releases its directory lock (an `flock`) from a background
/// flusher thread that `Db::drop` signals but does not join, so reopening
/// right after closing (a node restart in-process, tests) can fail with
/// "could not acquire lock" for a few milliseconds (sled issues #1234, #1289).
/// A database really held by another live node stays locked far longer than
/// the wait, so that conflict is still reported.
/// sled's page cache. Its default (1 GiB) alone would break the node's memory budget; hot
/// tree nodes and values fit in far less.
const SLED_CACHE_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) fn open_db(path: &Path) -> Result<sled::Db> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut backoff = Duration::from_millis(5);
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(SLED_CACHE_BYTES)
            .open()
        {
            Ok(d) => return Ok(d),
            Err(e) if is_lock_contention(&e) && Instant::now() < deadline => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(db(e)),
        }
    }
}

/// sled 0.34.7 reports a held lock only as `Io(Other)` with this message.
fn is_lock_contention(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock"))
}

pub(crate) fn prefixed(prefix: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + key.len());
    out.push(prefix);
    out.extend_from_slice(key);
    out
}

pub(crate) fn to_hash(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

fn corrupt_depth() -> Error {
    Error::CorruptState("tree deeper than 256 levels".into())
}

fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
