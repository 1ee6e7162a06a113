//! Bytes on disk of a node's data dir, by component: the block log, sled, the tree's node
//! file, the rest.

use serde::Serialize;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

/// Bytes allocated on disk (what `du` counts: 512-byte blocks, so sparse files count only what
/// they hold) under a node's data dir, by component. The layout is the node's:
/// `chain/blocks.log`, `chain/state/` (sled, with the tree's node file `chain/state/tree.nodes`
/// counted apart), `module-cache/`; anything else is counted where it lies, so a store added
/// later shows up without a change here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DiskUsage {
    /// `chain/blocks.log`: the block log, the source of truth.
    pub block_log: u64,
    /// `chain/state/` but the node file: sled (latest values, the root reference, the indexes).
    pub state: u64,
    /// `chain/state/tree.nodes` (and a compaction's `tree.nodes.compact` while it runs): the
    /// state tree's nodes.
    pub node_file: u64,
    /// Anything else under `chain/`: another store derived from the log (none today), or a
    /// damaged state store moved aside.
    pub chain_other: u64,
    /// `module-cache/`: compiled contracts, derived from the code, not from the transactions.
    pub module_cache: u64,
    /// Everything else (a consortium member's Raft store, keys, config).
    pub other: u64,
}

impl DiskUsage {
    /// Walks `data_dir`. Files that disappear during the walk (sled replaces some as it runs)
    /// are skipped.
    ///
    /// # Errors
    /// The I/O error if `data_dir` itself cannot be read.
    pub fn measure(data_dir: &Path) -> io::Result<DiskUsage> {
        let mut u = DiskUsage::default();
        for entry in std::fs::read_dir(data_dir)? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            match entry.file_name().to_str() {
                Some("chain") if path.is_dir() => {
                    for e in std::fs::read_dir(&path)?.flatten() {
                        let b = allocated(&e.path());
                        match e.file_name().to_str() {
                            Some("blocks.log") => u.block_log += b,
                            Some("state") => {
                                let nodes = node_file_bytes(&e.path());
                                u.node_file += nodes;
                                u.state += b.saturating_sub(nodes);
                            }
                            _ => u.chain_other += b,
                        }
                    }
                    // The directory entry itself.
                    u.other += std::fs::symlink_metadata(&path).map_or(0, |m| m.blocks() * 512);
                }
                Some("module-cache") => u.module_cache += allocated(&path),
                _ => u.other += allocated(&path),
            }
        }
        Ok(u)
    }

    /// The stores derived from the block log for each transaction: sled, the node file and
    /// any other store under `chain/` (not the module cache, which grows with code, not
    /// transactions).
    pub fn derived(&self) -> u64 {
        self.state + self.node_file + self.chain_other
    }

    /// Every component.
    pub fn total(&self) -> u64 {
        self.block_log
            + self.state
            + self.node_file
            + self.chain_other
            + self.module_cache
            + self.other
    }

    /// What each component grew by from `earlier` to `self` (a component that shrank, as sled
    /// may when it reclaims segments, counts as negative growth), scaled by `scale`.
    fn growth(&self, earlier: &DiskUsage, scale: f64) -> DiskGrowth {
        let d = |a: u64, b: u64| (a as f64 - b as f64) * scale;
        DiskGrowth {
            block_log: d(self.block_log, earlier.block_log),
            state: d(self.state, earlier.state),
            node_file: d(self.node_file, earlier.node_file),
            chain_other: d(self.chain_other, earlier.chain_other),
            module_cache: d(self.module_cache, earlier.module_cache),
            other: d(self.other, earlier.other),
        }
    }
}

/// Growth of each component, in bytes (may be negative, or fractional once scaled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DiskGrowth {
    /// The block log.
    pub block_log: f64,
    /// sled.
    pub state: f64,
    /// The tree's node file.
    pub node_file: f64,
    /// Other stores under `chain/`.
    pub chain_other: f64,
    /// Compiled contracts.
    pub module_cache: f64,
    /// Everything else.
    pub other: f64,
}

impl DiskGrowth {
    /// sled, the node file and the other stores under `chain/`.
    pub fn derived(&self) -> f64 {
        self.state + self.node_file + self.chain_other
    }
}

/// The data dir's bytes on disk at the start and the end of the measured window, and what the
/// window added per 100,000 transactions committed in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiskReport {
    /// The data dir measured.
    pub data_dir: String,
    /// When the measured window started (after setup).
    pub start: DiskUsage,
    /// When it ended. sled writes behind (it flushes every 500 ms), so its figure may trail the
    /// last half second of blocks.
    pub end: DiskUsage,
    /// `(end − start) × 100,000 / tx_committed`: bytes per 100,000 transactions committed OK in
    /// the window; `null` if none committed.
    pub per_100k_txs: Option<DiskGrowth>,
    /// `end.derived / end.block_log`: the stores derived from the log against the log, over the
    /// whole chain (setup included); `null` for an empty log.
    pub derived_to_log: Option<f64>,
    /// The same ratio over what the window added (`per_100k_txs`).
    pub derived_to_log_growth: Option<f64>,
}

impl DiskReport {
    /// The report for a window that committed `txs` transactions.
    pub(crate) fn new(data_dir: &Path, start: DiskUsage, end: DiskUsage, txs: u64) -> DiskReport {
        let per_100k_txs = (txs > 0).then(|| end.growth(&start, 100_000.0 / txs as f64));
        DiskReport {
            data_dir: data_dir.display().to_string(),
            start,
            end,
            derived_to_log: (end.block_log > 0)
                .then(|| end.derived() as f64 / end.block_log as f64),
            derived_to_log_growth: per_100k_txs
                .filter(|g| g.block_log > 0.0)
                .map(|g| g.derived() / g.block_log),
            per_100k_txs,
        }
    }
}

/// Bytes allocated to `path` and, for a directory, everything under it (symlinks not followed;
/// entries that vanish count as 0).
fn allocated(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut bytes = meta.blocks() * 512;
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                bytes += allocated(&e.path());
            }
        }
    }
    bytes
}

/// Bytes allocated to the node file (and a compaction's new file) in the state directory.
fn node_file_bytes(state_dir: &Path) -> u64 {
    [
        hanok_storage::NODE_FILE,
        hanok_storage::NODE_FILE_COMPACTING,
    ]
    .iter()
    .map(|name| allocated(&state_dir.join(name)))
    .sum()
}

/// `n` bytes as decimal megabytes, e.g. `17.1 MB`.
pub(crate) fn mb(n: f64) -> String {
    format!("{:.1} MB", n / 1e6)
}
