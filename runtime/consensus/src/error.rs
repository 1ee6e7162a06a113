//! [`ConsensusError`], the error of every fallible call in this crate.

use crate::Member;

/// Why a consensus call failed.
#[derive(thiserror::Error, Debug)]
pub enum ConsensusError {
    /// This node is not the leader; send the request to `leader` (if known).
    #[error("this node is not the Raft leader; the leader is {}", leader.as_ref().map_or_else(|| "unknown".to_string(), ToString::to_string))]
    NotLeader {
        /// The current leader, if this node knows it.
        leader: Option<Member>,
    },
    /// This node halted (its ledger diverged or its storage failed) and takes no more writes.
    #[error("consensus halted: {0}")]
    Halted(String),
    /// Raft was shut down.
    #[error("consensus is shut down")]
    Stopped,
    /// The configuration is unusable.
    #[error("consensus configuration: {0}")]
    Config(String),
    /// The durable Raft store failed.
    #[error("raft store: {0}")]
    Store(String),
    /// A membership change was refused or failed.
    #[error("membership change: {0}")]
    Membership(String),
    /// A peer could not be reached or answered with an error.
    #[error("peer {addr}: {message}")]
    Peer {
        /// The peer's address.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// A peer is on another chain.
    #[error("peer {peer} is on another chain: its genesis hash is {theirs}, ours is {ours}")]
    GenesisMismatch {
        /// The peer (name and address, as far as known).
        peer: String,
        /// Our genesis hash, hex.
        ours: String,
        /// The peer's genesis hash, hex.
        theirs: String,
    },
    /// A wait did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Any other openraft failure.
    #[error("raft: {0}")]
    Raft(String),
}

/// Result with [`ConsensusError`].
pub type Result<T, E = ConsensusError> = std::result::Result<T, E>;
