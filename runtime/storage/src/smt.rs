//! The sparse Merkle tree over contract state: latest values in sled, nodes in the node file.
//!
//! The tree is binary for hashing and proofs (the format `hanok-proof` verifies) but stored
//! sixteen-ary, as Diem's Jellyfish Merkle tree does: one record holds four binary levels (a
//! nibble of the key hash) and its sixteen children, leaves inline. A write therefore rewrites
//! about `log16(n)` records instead of `log2(n)`, and the binary hashes inside a record are
//! recomputed from its children when needed.
//!
//! The values (`v | key`) and the root reference stay in sled, where a block's batch writes
//! them atomically with its indexes; the nodes go to the append-only node file
//! ([`crate::nodes`]), written before that batch. Records a batch replaces become garbage there,
//! reclaimed by compaction; sled holds no node and deletes none.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{db, Error, Result};
use crate::nodes::{NodeFile, NodeFileStats, Rewrite, Snapshot};
use crate::proof::{
    internal_hash, key_hash, leaf_hash, path_bit, sha256, Hash, Proof, ProofLeaf, EMPTY_HASH,
};
use crate::writer::Progress;

/// Key prefix under which layout 2 kept tree nodes in sled (`n | node_hash`); no longer
/// written, and kept apart from every other prefix so an old database is never misread.
pub(crate) const NODE_PREFIX: u8 = b'n';
/// Key prefix of a value: `v | key -> value`. Keyed by the raw key (not its
/// hash) so the same entries serve ordered range scans over state.
pub(crate) const VALUE_PREFIX: u8 = b'v';
/// Key prefix of metadata: `m | name`.
pub(crate) const META_PREFIX: u8 = b'm';
/// The root hash (32 bytes), kept for tools that read it directly.
const META_ROOT: &[u8] = b"mroot";
/// The root as a child reference (see [`encode_child`]): what a walk starts from.
const META_TOP: &[u8] = b"mtop";
const _: () = assert!(META_ROOT[0] == META_PREFIX && META_TOP[0] == META_PREFIX);

/// Children per stored node: one nibble of the key hash.
const RADIX: usize = 16;
/// Nibbles in a 256-bit key hash: the deepest a stored node can sit.
const NIBBLES: usize = 64;
/// Stored nodes at nibble depth below this stay decoded in memory: the top levels, which every
/// batch rewrites and every proof walks (at most 1 + 16 + 256 + 4,096 nodes, about 4.5 MiB).
const CACHED_DEPTH: usize = 4;

/// What a slot of a stored node (or the root) holds. Empty subtrees are never stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Child {
    Empty,
    /// A subtree with exactly one key, lifted to the highest slot where it is alone.
    Leaf {
        key_hash: Hash,
        value_hash: Hash,
    },
    /// A stored node (a subtree with two or more keys), by hash.
    Node(Hash),
}

impl Child {
    fn hash(&self) -> Hash {
        match self {
            Child::Empty => EMPTY_HASH,
            Child::Leaf {
                key_hash,
                value_hash,
            } => leaf_hash(key_hash, value_hash),
            Child::Node(h) => *h,
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Child::Empty)
    }
}

type Children = [Child; RADIX];

/// The binary subtree over a run of slots, as the compact binary tree sees it.
#[derive(Clone, Copy)]
enum Folded {
    Empty,
    Leaf(Hash),
    Inner(Hash),
}

impl Folded {
    fn hash(self) -> Hash {
        match self {
            Folded::Empty => EMPTY_HASH,
            Folded::Leaf(h) | Folded::Inner(h) => h,
        }
    }
}

/// Hashes the binary subtree over `slots` (a power-of-two run of one node's children): a run
/// with no keys is empty, a run whose only key is a leaf is that leaf (lifted), anything else
/// is an internal node over its two halves.
fn fold(slots: &[Child]) -> Folded {
    if let [only] = slots {
        return match only {
            Child::Empty => Folded::Empty,
            Child::Leaf { .. } => Folded::Leaf(only.hash()),
            Child::Node(h) => Folded::Inner(*h),
        };
    }
    let (l, r) = slots.split_at(slots.len() / 2);
    match (fold(l), fold(r)) {
        (Folded::Empty, Folded::Empty) => Folded::Empty,
        (Folded::Empty, Folded::Leaf(h)) | (Folded::Leaf(h), Folded::Empty) => Folded::Leaf(h),
        (l, r) => Folded::Inner(internal_hash(&l.hash(), &r.hash())),
    }
}

/// The nibble of `path` at nibble depth `depth` (high nibble first, as [`path_bit`] reads bits).
fn nibble(path: &Hash, depth: usize) -> usize {
    let byte = path.0[depth / 2];
    usize::from(if depth.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0x0f
    })
}

/// Splits `ups` (sorted by key hash, all under one node at `depth`) into per-slot runs.
fn groups(ups: &[Up], depth: usize) -> impl Iterator<Item = (usize, &[Up])> {
    let mut rest = ups;
    std::iter::from_fn(move || {
        let (first, _) = rest.first()?;
        let slot = nibble(first, depth);
        let n = rest.partition_point(|(k, _)| nibble(k, depth) == slot);
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some((slot, run))
    })
}

/// A node record: `present: u16 BE | leaves: u16 BE` (bit `i` = slot `i`), then for each
/// present slot in order its hash (32 bytes) or, for a leaf, `key_hash | value_hash`.
fn encode_node(children: &Children) -> Vec<u8> {
    let mut present = 0u16;
    let mut leaves = 0u16;
    let mut out = Vec::with_capacity(4 + RADIX * 64);
    out.extend_from_slice(&[0; 4]);
    for (i, c) in children.iter().enumerate() {
        match c {
            Child::Empty => {}
            Child::Leaf {
                key_hash,
                value_hash,
            } => {
                present |= 1 << i;
                leaves |= 1 << i;
                out.extend_from_slice(&key_hash.0);
                out.extend_from_slice(&value_hash.0);
            }
            Child::Node(h) => {
                present |= 1 << i;
                out.extend_from_slice(&h.0);
            }
        }
    }
    out[..2].copy_from_slice(&present.to_be_bytes());
    out[2..4].copy_from_slice(&leaves.to_be_bytes());
    out
}

fn decode_node(bytes: &[u8]) -> Option<Children> {
    let (head, mut rest) = bytes.split_first_chunk::<4>()?;
    let present = u16::from_be_bytes([head[0], head[1]]);
    let leaves = u16::from_be_bytes([head[2], head[3]]);
    if present == 0 || leaves & !present != 0 {
        return None;
    }
    let mut children = [Child::Empty; RADIX];
    for (i, slot) in children.iter_mut().enumerate() {
        if present & (1 << i) == 0 {
            continue;
        }
        if leaves & (1 << i) != 0 {
            let (k, tail) = rest.split_first_chunk::<32>()?;
            let (v, tail) = tail.split_first_chunk::<32>()?;
            *slot = Child::Leaf {
                key_hash: Hash(*k),
                value_hash: Hash(*v),
            };
            rest = tail;
        } else {
            let (h, tail) = rest.split_first_chunk::<32>()?;
            *slot = Child::Node(Hash(*h));
            rest = tail;
        }
    }
    rest.is_empty().then_some(children)
}

/// The root reference: `0` (empty), `1 | key_hash | value_hash` (one key), `2 | node_hash`.
fn encode_child(c: &Child) -> Vec<u8> {
    match c {
        Child::Empty => vec![0],
        Child::Leaf {
            key_hash,
            value_hash,
        } => {
            let mut out = vec![1];
            out.extend_from_slice(&key_hash.0);
            out.extend_from_slice(&value_hash.0);
            out
        }
        Child::Node(h) => {
            let mut out = vec![2];
            out.extend_from_slice(&h.0);
            out
        }
    }
}

fn decode_child(bytes: &[u8]) -> Option<Child> {
    match bytes.split_first()? {
        (0, []) => Some(Child::Empty),
        (1, rest) if rest.len() == 64 => Some(Child::Leaf {
            key_hash: to_hash(&rest[..32])?,
            value_hash: to_hash(&rest[32..])?,
        }),
        (2, rest) => Some(Child::Node(to_hash(rest)?)),
        _ => None,
    }
}

/// One write of a batch: key hash, key, value (`None` = delete).
type Write<'a> = (Hash, &'a [u8], Option<&'a [u8]>);

/// One deduplicated update of the tree: key hash and new value hash (`None` = delete).
type Up = (Hash, Option<Hash>);

/// Nodes a batch creates and the stored nodes it replaces.
#[derive(Default)]
struct Pending {
    /// Hash, nibble depth, children.
    new: Vec<(Hash, usize, Children)>,
    stale: Vec<Hash>,
}

impl Pending {
    /// The child for a rebuilt node at nibble depth `depth`: empty, a lone leaf lifted up, or
    /// a new stored node.
    fn make(&mut self, depth: usize, children: Children) -> Child {
        let mut live = children.iter().filter(|c| !c.is_empty());
        match (live.next(), live.next()) {
            (None, _) => Child::Empty,
            (Some(leaf @ Child::Leaf { .. }), None) => *leaf,
            _ => {
                let hash = fold(&children).hash();
                self.new.push((hash, depth, children));
                Child::Node(hash)
            }
        }
    }
}

/// The new root computed by [`SparseMerkleTree::prepare`], installed with
/// [`SparseMerkleTree::set_root`] once its batch is applied.
#[derive(Debug, Clone)]
pub(crate) struct NewRoot {
    top: Child,
    hash: Hash,
    /// Every node the batch creates, encoded, children before parents: what the node file
    /// appends.
    nodes: Vec<(Hash, Vec<u8>)>,
    /// Top-level nodes the batch creates, for the cache.
    cache_add: Vec<(Hash, Children)>,
    /// The stored nodes it replaces (garbage once it is installed, unless also created).
    stale: Vec<Hash>,
}

impl NewRoot {
    pub(crate) fn hash(&self) -> Hash {
        self.hash
    }

    /// The sled rows that name this root: the root hash and the root reference a walk starts
    /// from.
    pub(crate) fn meta(&self) -> [(&'static [u8], Vec<u8>); 2] {
        [
            (META_ROOT, self.hash.0.to_vec()),
            (META_TOP, encode_child(&self.top)),
        ]
    }
}

/// Compact sparse Merkle tree (Diem-SMT style hashing: binary, no extension nodes, a lone
/// key lifted to where it is alone), stored sixteen-ary.
///
/// Only the latest root is kept: every stored node sits at one position of one tree (its hash
/// covers the key hashes below it), so a node a batch replaces is unreachable afterwards and
/// becomes garbage in the node file, which compaction reclaims.
#[derive(Debug)]
pub struct SparseMerkleTree {
    /// Values and the root reference.
    tree: sled::Tree,
    /// Keeps the database open when the tree owns it.
    db: Option<sled::Db>,
    /// The stored nodes.
    nodes: NodeFile,
    /// What opening found wrong with the node file and did about it.
    recovery: Option<String>,
    /// A compaction running in the background, if any.
    compaction: Option<Background>,
    top: Child,
    root: Hash,
    /// Decoded nodes of the top levels (see [`CACHED_DEPTH`]), by hash. Nodes are
    /// content-addressed, so an entry is never wrong, only possibly unreachable; entries are
    /// added and dropped as batches are installed.
    cache: Mutex<HashMap<Hash, Children>>,
}

impl SparseMerkleTree {
    /// Opens (or creates) a standalone tree in its own database directory at `path`.
    ///
    /// # Errors
    /// [`Error::Db`] if the database cannot be opened; [`Error::CorruptState`]
    /// if the stored root does not decode; [`Error::StateFormat`] if an older build wrote it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let db = open_db(path)?;
        let tree = db.open_tree("state").map_err(crate::error::db)?;
        let mut smt = Self::with_tree(tree, Some(path))?;
        smt.db = Some(db);
        Ok(smt)
    }

    /// A tree in a temporary database that is deleted on drop (for tests and tools).
    ///
    /// # Errors
    /// [`Error::Db`].
    pub fn temporary() -> Result<Self> {
        let database = sled::Config::new().temporary(true).open().map_err(db)?;
        let tree = database.open_tree("state").map_err(db)?;
        let mut smt = Self::with_tree(tree, None)?;
        smt.db = Some(database);
        Ok(smt)
    }

    /// Builds the tree over an existing sled tree, which it shares with the caller (the state
    /// store adds its metadata to the same atomic batches), with its node file in `dir` (in
    /// memory when `None`).
    ///
    /// The node file must answer for the root sled names: every node below it present and
    /// decodable. If it cannot (missing, cut after damage, or behind sled after a power loss),
    /// it is rebuilt from sled's values, which must then hash to that root; see
    /// [`Self::recovery`].
    pub(crate) fn with_tree(tree: sled::Tree, dir: Option<&Path>) -> Result<Self> {
        let top = match tree.get(META_TOP).map_err(db)? {
            Some(bytes) => decode_child(&bytes)
                .ok_or_else(|| Error::CorruptState("stored tree root does not decode".into()))?,
            None => {
                // No root reference: a new tree, or one written by the binary-node format.
                let old_root = tree.get(META_ROOT).map_err(db)?;
                if old_root.is_some_and(|r| r.as_ref() != EMPTY_HASH.0) {
                    return Err(Error::StateFormat {
                        applied_height: None,
                    });
                }
                Child::Empty
            }
        };
        let (nodes, cut) = match dir {
            Some(dir) => NodeFile::open(dir)?,
            None => (NodeFile::memory(), None),
        };
        let mut smt = SparseMerkleTree {
            tree,
            db: None,
            nodes,
            recovery: None,
            compaction: None,
            root: top.hash(),
            top,
            cache: Mutex::new(HashMap::new()),
        };
        let mut live = 0u64;
        let walked = smt.walk(smt.top, 0, &mut |_, node| {
            live += NodeFile::record_len_of(node);
            Ok(())
        });
        match walked {
            // The whole tree is there (a cut, if any, took only records after it).
            Ok(()) => {
                smt.nodes.set_live(live);
                smt.recovery = cut.map(|why| {
                    format!("the node file held {why}; the tree was whole without them")
                });
            }
            Err(Error::CorruptState(why) | Error::DamagedState(why)) => {
                let values = smt.rebuild_from_values()?;
                let found = match cut {
                    Some(cut) => format!("{why} (it held {cut})"),
                    None => why,
                };
                smt.recovery = Some(format!(
                    "the node file could not answer for the stored root: {found}; it was \
                     rebuilt from the state's {values} values"
                ));
            }
            Err(e) => return Err(e),
        }
        Ok(smt)
    }

    /// What opening found wrong with the node file and did about it (`None`: nothing).
    pub fn recovery(&self) -> Option<&str> {
        self.recovery.as_deref()
    }

    /// The node file's size, live bytes and compactions.
    pub fn node_file_stats(&self) -> NodeFileStats {
        self.nodes.stats()
    }

    /// Compacts the node file once its garbage exceeds both `bytes` and its live bytes (the
    /// default is 32 MiB, or `HANOK_TREE_COMPACT_MIN_BYTES` at open).
    pub fn set_compact_min_bytes(&mut self, bytes: u64) {
        self.nodes.set_compact_min(bytes);
    }

    /// Calls `f` on every stored node of the subtree `child` (at nibble depth `depth`),
    /// children before parents, with its encoding.
    fn walk(
        &self,
        child: Child,
        depth: usize,
        f: &mut dyn FnMut(&Hash, &[u8]) -> Result<()>,
    ) -> Result<()> {
        walk_nodes(&|h| self.nodes.read(h), child, depth, f)
    }

    /// Compacts the node file in the background once enough garbage has built up, and puts a
    /// finished compaction in place; called after each block is installed, with the writer's
    /// `progress` and that block's `height`.
    ///
    /// The compaction thread waits until sled holds block `height` and flushes it (so the root
    /// sled holds on disk is this one or a later one), copies this root's tree from a snapshot
    /// of the file into `tree.nodes.compact` and syncs it, while blocks go on being committed
    /// and appended to the old file. The swap, at a later commit, copies the records appended
    /// since the snapshot (every later root's nodes) as they are, syncs, and renames: only that
    /// tail is on the producer's path. A file in memory is compacted in place.
    pub(crate) fn compact_in_background(&mut self, progress: Progress, height: u64) {
        if let Some(bg) = &mut self.compaction {
            if !bg.handle.as_ref().is_some_and(JoinHandle::is_finished) {
                return;
            }
            let from = bg.from;
            let joined = bg.handle.take().map(JoinHandle::join);
            self.compaction = None;
            let done = match joined {
                Some(Ok(Ok(rewrite))) => self.nodes.finish_background(rewrite, from),
                Some(Ok(Err(e))) => Err(e),
                Some(Err(_)) | None => {
                    Err(Error::CorruptState("the compaction thread panicked".into()))
                }
            };
            match done {
                Ok(()) => self.nodes.compacted(),
                Err(e) => self.nodes.compaction_failed(e.to_string()),
            }
            return;
        }
        if !self.nodes.compaction_due() {
            return;
        }
        let snapshot = match self.nodes.snapshot() {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => {
                match progress.wait_written(height) {
                    Ok(()) => self.compact_now(),
                    Err(e) => self.nodes.compaction_failed(e.to_string()),
                }
                return;
            }
            Err(e) => return self.nodes.compaction_failed(e.to_string()),
        };
        let rewrite = match self.nodes.begin_rewrite() {
            Ok(r) => r,
            Err(e) => return self.nodes.compaction_failed(e.to_string()),
        };
        let from = snapshot.end();
        let (top, tree) = (self.top, self.tree.clone());
        let spawned = std::thread::Builder::new()
            .name("hanok-tree-compact".into())
            .spawn(move || compact_snapshot(&snapshot, rewrite, top, &tree, &progress, height));
        match spawned {
            Ok(handle) => {
                self.compaction = Some(Background {
                    handle: Some(handle),
                    from,
                })
            }
            Err(e) => self
                .nodes
                .compaction_failed(format!("could not start the compaction thread: {e}")),
        }
    }

    /// Rewrites the node file from sled's values (every `v | key`), checking that they hash to
    /// the stored root. Returns how many values there were.
    fn rebuild_from_values(&mut self) -> Result<usize> {
        let mut ups: Vec<Up> = Vec::new();
        for item in self.tree.scan_prefix([VALUE_PREFIX]) {
            let (k, v) = item.map_err(db)?;
            ups.push((key_hash(&k[1..]), Some(sha256(&v))));
        }
        ups.sort_by_key(|u| u.0);
        let mut pending = Pending::default();
        let top = build(&mut pending, 0, &ups)?;
        if top.hash() != self.root {
            return Err(Error::CorruptState(format!(
                "its {} values hash to {}, not to its stored root {}",
                ups.len(),
                hex(&top.hash()),
                hex(&self.root)
            )));
        }
        let mut rewrite = self.nodes.begin_rewrite()?;
        for (hash, _, children) in &pending.new {
            rewrite.push(hash, &encode_node(children))?;
        }
        self.nodes.finish_rewrite(rewrite)?;
        self.top = top;
        Ok(ups.len())
    }

    /// Copies the live tree into a new node file that replaces the old one. sled is flushed
    /// first, so the root it holds on disk is the one the new file holds (a crash after the
    /// rename must not find sled naming an older root, whose replaced nodes are gone).
    fn compact(&mut self) -> Result<()> {
        self.tree.flush().map_err(db)?;
        let mut rewrite = self.nodes.begin_rewrite()?;
        self.walk(self.top, 0, &mut |h, node| rewrite.push(h, node))?;
        self.nodes.finish_rewrite(rewrite)
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
        let root = self.prepare(
            batch
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_ref().map(|v| v.as_ref()))),
        )?;
        // A sled batch keeps the last insert or removal of a key, as the tree does.
        let mut sled_batch = sled::Batch::default();
        for (key, value) in batch {
            let key = prefixed(VALUE_PREFIX, key.as_ref());
            match value {
                Some(v) => sled_batch.insert(key, v.as_ref()),
                None => sled_batch.remove(key),
            }
        }
        for (k, v) in root.meta() {
            sled_batch.insert(k, v);
        }
        self.persist_nodes(&root)?;
        self.tree.apply_batch(sled_batch).map_err(db)?;
        let hash = root.hash;
        self.set_root(root);
        if self.compaction_due() {
            self.compact_now();
        }
        Ok(hash)
    }

    /// Computes the new root for `writes` (later writes of a key win) with the nodes it
    /// creates, without writing anything. The caller writes the values and [`NewRoot::meta`]
    /// to sled.
    pub(crate) fn prepare<'a>(
        &self,
        writes: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> Result<NewRoot> {
        // Keep the last write per key: reverse, stable sort, keep the first of each run.
        let mut ups: Vec<Write<'a>> = writes
            .into_iter()
            .map(|(key, value)| (key_hash(key), key, value))
            .collect();
        ups.reverse();
        ups.sort_by_key(|u| u.0);
        ups.dedup_by(|later, earlier| later.0 == earlier.0);

        let paths: Vec<Up> = ups.iter().map(|(h, _, v)| (*h, v.map(sha256))).collect();
        let mut pending = Pending::default();
        let top = self.update(&mut pending, self.top, 0, &paths)?;

        let root = NewRoot {
            top,
            hash: top.hash(),
            nodes: pending
                .new
                .iter()
                .map(|(h, _, c)| (*h, encode_node(c)))
                .collect(),
            cache_add: pending
                .new
                .iter()
                .filter(|(_, depth, _)| *depth < CACHED_DEPTH)
                .map(|(h, _, c)| (*h, *c))
                .collect(),
            stale: pending.stale,
        };
        Ok(root)
    }

    /// Checks that the stored root node is present, decodes and hashes to the root: a cheap
    /// open-time check that catches a database whose latest writes were lost or damaged.
    ///
    /// # Errors
    /// [`Error::Db`]; [`Error::CorruptState`].
    pub(crate) fn check_root(&self) -> Result<()> {
        if let Child::Node(hash) = self.top {
            let children = self.load(&hash, 0)?;
            if fold(&children).hash() != hash {
                return Err(Error::CorruptState(format!(
                    "root node {} does not hash to the root",
                    hex(&hash)
                )));
            }
        }
        Ok(())
    }

    /// The sled tree holding nodes, values and metadata.
    pub(crate) fn sled_tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Appends the nodes a prepared batch creates to the node file: before the sled batch
    /// that names the new root, so sled never names a root the file has not been given.
    pub(crate) fn persist_nodes(&mut self, root: &NewRoot) -> Result<()> {
        self.nodes
            .append(root.nodes.iter().map(|(h, n)| (h, n.as_slice())))
    }

    /// Installs the root after the caller persisted its nodes ([`Self::persist_nodes`]) and
    /// handed its sled rows to be written.
    pub(crate) fn set_root(&mut self, root: NewRoot) {
        let NewRoot {
            top,
            hash,
            nodes,
            cache_add,
            stale,
        } = root;
        self.top = top;
        self.root = hash;
        let cache = self.cache.get_mut().unwrap_or_else(|e| e.into_inner());
        for h in &stale {
            cache.remove(h);
        }
        cache.extend(cache_add);
        let created: Vec<Hash> = nodes.into_iter().map(|(h, _)| h).collect();
        self.nodes.install(&created, &stale);
    }

    /// Whether the node file holds enough garbage to compact.
    pub(crate) fn compaction_due(&self) -> bool {
        self.nodes.compaction_due()
    }

    /// Compacts the node file now. The caller makes sure sled holds the current root (no
    /// write of it still pending). A failed compaction changes nothing (the old file stays in
    /// use; see [`NodeFileStats`]).
    pub(crate) fn compact_now(&mut self) {
        match self.compact() {
            Ok(()) => self.nodes.compacted(),
            Err(e) => self.nodes.compaction_failed(e.to_string()),
        }
    }

    /// Rewrites `child` (at nibble depth `depth`) with `ups` (sorted by key hash, all under
    /// it) and returns what replaces it, keeping the tree canonical.
    fn update(&self, p: &mut Pending, child: Child, depth: usize, ups: &[Up]) -> Result<Child> {
        if ups.is_empty() {
            return Ok(child);
        }
        match child {
            Child::Empty => build(p, depth, ups),
            Child::Leaf {
                key_hash,
                value_hash,
            } => match ups.binary_search_by(|(k, _)| k.cmp(&key_hash)) {
                // The batch overwrites or deletes this leaf.
                Ok(_) => build(p, depth, ups),
                // The existing leaf joins the batch as an insert.
                Err(pos) => {
                    let mut merged = Vec::with_capacity(ups.len() + 1);
                    merged.extend_from_slice(&ups[..pos]);
                    merged.push((key_hash, Some(value_hash)));
                    merged.extend_from_slice(&ups[pos..]);
                    build(p, depth, &merged)
                }
            },
            Child::Node(hash) => {
                if depth >= NIBBLES {
                    return Err(corrupt_depth());
                }
                let mut children = self.load(&hash, depth)?;
                p.stale.push(hash);
                for (slot, run) in groups(ups, depth) {
                    children[slot] = self.update(p, children[slot], depth + 1, run)?;
                }
                Ok(p.make(depth, children))
            }
        }
    }

    /// The stored node `hash` at nibble depth `depth`.
    fn load(&self, hash: &Hash, depth: usize) -> Result<Children> {
        let cached = depth < CACHED_DEPTH;
        if cached {
            if let Some(c) = self.lock_cache().get(hash) {
                return Ok(*c);
            }
        }
        let bytes = self.nodes.read(hash)?.ok_or_else(|| missing(hash))?;
        let children = decode_node(&bytes).ok_or_else(|| undecodable(hash))?;
        if cached {
            // Only a reachable node is ever loaded, so the cache stays within the top levels.
            self.lock_cache().insert(*hash, children);
        }
        Ok(children)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<Hash, Children>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
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
        let value = self.get(key)?;
        let proof = self.prove(key, value.as_deref())?;
        Ok((value, proof))
    }

    /// The proof for `key` against [`Self::root`], checked against its committed `value`.
    ///
    /// # Errors
    /// [`Error::CorruptState`] if `value` does not match the key's leaf or a node is missing.
    pub(crate) fn prove(&self, key: &[u8], value: Option<&[u8]>) -> Result<Proof> {
        let kh = key_hash(key);
        let mut siblings = Vec::new();
        let mut child = self.top;
        let mut depth = 0;
        let leaf = loop {
            let hash = match child {
                Child::Empty => break None,
                Child::Leaf {
                    key_hash,
                    value_hash,
                } => {
                    break Some(ProofLeaf {
                        key_hash,
                        value_hash,
                    })
                }
                Child::Node(hash) => hash,
            };
            if depth >= NIBBLES {
                return Err(corrupt_depth());
            }
            let children = self.load(&hash, depth)?;
            // Walk the node's four binary levels; the binary depth is the siblings so far.
            let (mut lo, mut hi) = (0, RADIX);
            child = loop {
                if hi - lo == 1 {
                    break children[lo];
                }
                match fold(&children[lo..hi]) {
                    Folded::Empty => break Child::Empty,
                    Folded::Leaf(_) => {
                        let lone = children[lo..hi].iter().find(|c| !c.is_empty());
                        break lone.copied().unwrap_or(Child::Empty);
                    }
                    Folded::Inner(_) => {
                        let mid = (lo + hi) / 2;
                        if path_bit(&kh, siblings.len()) {
                            siblings.push(fold(&children[lo..mid]).hash());
                            lo = mid;
                        } else {
                            siblings.push(fold(&children[mid..hi]).hash());
                            hi = mid;
                        }
                    }
                }
            };
            depth += 1;
        };
        let in_tree = leaf.filter(|l| l.key_hash == kh).map(|l| l.value_hash);
        if in_tree != value.map(sha256) {
            return Err(Error::CorruptState(format!(
                "value of key hash {} disagrees with its leaf",
                hex(&kh)
            )));
        }
        Ok(Proof { siblings, leaf })
    }

    /// How many stored nodes the current tree has (each a record of up to sixteen children),
    /// counted by walking it: this tracks the number of keys, not of writes.
    ///
    /// # Errors
    /// [`Error::CorruptState`] if a node is missing or does not decode.
    pub fn stored_nodes(&self) -> Result<usize> {
        let mut n = 0;
        self.walk(self.top, 0, &mut |_, _| {
            n += 1;
            Ok(())
        })?;
        Ok(n)
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

    /// Syncs the node file to disk.
    pub(crate) fn sync_nodes(&self) -> Result<()> {
        self.nodes.sync()
    }

    /// Syncs the node file, then flushes the database to disk, in that order: what sled holds
    /// on disk then names a root the file on disk holds.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Db`].
    pub fn flush(&self) -> Result<()> {
        self.sync_nodes()?;
        match &self.db {
            Some(d) => d.flush().map(drop).map_err(db),
            None => self.tree.flush().map(drop).map_err(db),
        }
    }
}

/// A compaction running on its own thread. Dropping it waits for the thread (the store must
/// not close sled or the file under it); its half-written file is deleted at the next open.
struct Background {
    handle: Option<JoinHandle<Result<Rewrite>>>,
    /// The old file's end when it started: records after it are copied at the swap.
    from: u64,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The compaction thread's work (see [`SparseMerkleTree::compact_in_background`]).
fn compact_snapshot(
    snapshot: &Snapshot,
    mut rewrite: Rewrite,
    top: Child,
    tree: &sled::Tree,
    progress: &Progress,
    height: u64,
) -> Result<Rewrite> {
    progress.wait_written(height)?;
    tree.flush().map_err(db)?;
    walk_nodes(&|h| snapshot.read(h), top, 0, &mut |h, node| {
        rewrite.push(h, node)
    })?;
    rewrite.sync()?;
    crate::nodes::stall_for_tests();
    Ok(rewrite)
}

/// Calls `f` on every stored node of the subtree `child` (at nibble depth `depth`), children
/// before parents, reading each with `read`.
fn walk_nodes(
    read: &dyn Fn(&Hash) -> Result<Option<Vec<u8>>>,
    child: Child,
    depth: usize,
    f: &mut dyn FnMut(&Hash, &[u8]) -> Result<()>,
) -> Result<()> {
    let Child::Node(hash) = child else {
        return Ok(());
    };
    if depth >= NIBBLES {
        return Err(corrupt_depth());
    }
    let bytes = read(&hash)?.ok_or_else(|| missing(&hash))?;
    let children = decode_node(&bytes).ok_or_else(|| undecodable(&hash))?;
    for c in children {
        walk_nodes(read, c, depth + 1, f)?;
    }
    f(&hash, &bytes)
}

/// Builds a subtree from scratch at nibble depth `depth` out of the inserts in `ups`
/// (deletes are no-ops here).
fn build(p: &mut Pending, depth: usize, ups: &[Up]) -> Result<Child> {
    let mut live = ups.iter().filter_map(|(k, v)| v.map(|v| (k, v)));
    match (live.next(), live.next()) {
        (None, _) => return Ok(Child::Empty),
        (Some((k, v)), None) => {
            return Ok(Child::Leaf {
                key_hash: *k,
                value_hash: v,
            })
        }
        _ => {}
    }
    if depth >= NIBBLES {
        // Two distinct 256-bit paths always differ within 64 nibbles.
        return Err(corrupt_depth());
    }
    let mut children = [Child::Empty; RADIX];
    for (slot, run) in groups(ups, depth) {
        children[slot] = build(p, depth + 1, run)?;
    }
    Ok(p.make(depth, children))
}

/// How long [`open_db`] waits for a just-closed handle to release its lock.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// sled's page cache. Its default (1 GiB) alone would break the node's memory budget; the
/// tree's nodes are no longer in sled, and hot values and index entries fit in far less (64 MiB
/// before the node file: node RSS after a 60 s transfer run 367 -> 331 MiB at 16, throughput
/// within noise).
const SLED_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Opens the sled database in `path`, waiting briefly if it is still locked.
///
/// sled 0.34 releases its directory lock (an `flock`) from a background
/// flusher thread that `Db::drop` signals but does not join, so reopening
/// right after closing (a node restart in-process, tests) can fail with
/// "could not acquire lock" for a few milliseconds (sled issues #1234, #1289).
/// A database really held by another live node stays locked far longer than
/// the wait, so that conflict is still reported.
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
    Hash::from_slice(bytes)
}

fn missing(hash: &Hash) -> Error {
    Error::CorruptState(format!("missing tree node {}", hex(hash)))
}

fn undecodable(hash: &Hash) -> Error {
    Error::CorruptState(format!("undecodable tree node {}", hex(hash)))
}

fn corrupt_depth() -> Error {
    Error::CorruptState("tree deeper than 256 levels".into())
}

fn hex(h: &Hash) -> String {
    h.to_hex()
}
