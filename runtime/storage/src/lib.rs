//! Storage for a hanok node: the append-only block log that is the source of
//! truth, and the sled database of contract state and indexes derived from it.
//!
//! Key types: [`BlockLog`] (checksummed, height-numbered records, one fsync per
//! block; an incomplete last record reported by `open` in a [`Recovery`] and cut only when
//! the caller says so, a complete record that fails its checksum refused);
//! [`SparseMerkleTree`] (the state root, with inclusion and absence
//! [`Proof`]s; its nodes in an append-only node file, [`NODE_FILE`]); [`StateStore`]
//! (state + root + block/tx/receipt [`Index`]es + `applied_height` in sled, committed once per
//! block, with the tree's node file beside it). [`proof`] holds the hashing
//! rules and [`Proof::verify`], and depends only on `sha2` so the client SDK
//! can lift it to check titles offline.
//!
//! Invariants:
//! - The log is truth; sled is derived. A block is applied to the state store
//!   only after it is durably in the log, and on start the node replays log
//!   blocks with height > [`StateStore::applied_height`]. Applying a block is
//!   idempotent, so a crash at any point is recovered by replay.
//! - The log never silently drops data: only an *incomplete* last record (which
//!   only the last, unsynced append can leave) is ever cut, and only by an explicit
//!   [`BlockLog::cut_torn_tail`]; a complete record that fails its checksum is
//!   [`Error::DamagedRecord`], wherever it is, and nothing on disk is changed.
//! - A block's derived data in sled (state values, the root reference, both indexes) and
//!   `applied_height` are written in one atomic batch, so sled never holds part of a block.
//!   The tree nodes that batch's root needs are appended to the node file first; the node
//!   file is checked against sled's root on open and rebuilt from sled's values when it
//!   cannot answer for it.
//! - The state root is a pure function of the set of (key, value) pairs:
//!   the same state gives the same root on every node, whatever the order of
//!   writes.
//! - No sled type appears in the public API; errors are [`Error`].
//!
//! **Architecture Invariant:** this crate knows nothing of wasm, contracts or
//! gRPC. Keys and values are opaque bytes chosen by the VM; blocks are opaque
//! bytes encoded by the chain.

mod cache;
mod error;
mod log;
mod nodes;
pub use hanok_proof as proof;
mod smt;
mod state;
mod writer;

pub use error::{DbError, Error, Result};
pub use log::{
    create_dir_durable, sync_parent_dir, BlockLog, Recovery, TornTail, LOG_HEADER_LEN, LOG_MAGIC,
    LOG_VERSION, MAX_RECORD_LEN, RECORD_CHECKSUM_LEN, RECORD_HEAD_LEN, RECORD_OVERHEAD,
};
pub use nodes::{NodeFileStats, NODE_FILE, NODE_FILE_COMPACTING, NODE_MAGIC, NODE_VERSION};
pub use proof::{Hash, Proof, ProofError, ProofLeaf, EMPTY_HASH};
pub use smt::SparseMerkleTree;
pub use state::{height_key, Index, IndexWrite, PreparedState, StateStore};
pub use writer::MAX_PENDING_BLOCKS;

/// A whole number from the environment variable `name` (`None` when unset or not a number): the
/// storage knobs and test hooks documented in docs/storage.md.
fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}
