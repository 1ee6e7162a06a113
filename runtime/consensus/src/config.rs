//! [`ConsensusConfig`]: who the members are, where the Raft state lives, and the timings.

use crate::{Member, NodeId};
use std::path::PathBuf;

/// Configuration of one consensus node.
#[derive(Clone, Debug)]
pub struct ConsensusConfig {
    /// This node's Raft id.
    pub id: NodeId,
    /// This node's organisation name, answered by `Hello` (defaults to its entry in `members`).
    pub name: String,
    /// The initial voters; the same list on every node. Empty for a node that will be added
    /// later with [`crate::Consensus::add_member`].
    pub members: Vec<Member>,
    /// Directory of the durable Raft state (a sled database).
    pub dir: PathBuf,
    /// Hash of the chain's genesis; peers with another genesis are refused.
    pub genesis_hash: [u8; 32],
    /// TLS for outgoing peer connections (CA and this node's identity); plaintext when `None`.
    pub tls: Option<tonic::transport::ClientTlsConfig>,
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the randomized election timeout.
    pub election_timeout_max_ms: u64,
    /// Build a snapshot once this many entries were applied since the last one.
    pub snapshot_logs_since_last: u64,
    /// Applied entries kept in the Raft log after a snapshot, so slightly lagging followers
    /// catch up from the log rather than by snapshot.
    pub max_in_snapshot_log_to_keep: u64,
    /// TCP connect timeout for peer channels.
    pub connect_timeout_ms: u64,
    /// Timeout of one snapshot chunk (a chunk is at most 1 MiB).
    pub snapshot_chunk_timeout_ms: u64,
    /// Most entries (blocks) in one AppendEntries request.
    pub max_entries_per_append: u64,
    /// Largest gRPC message accepted or sent on the Raft service, in bytes.
    pub max_message_bytes: usize,
}

impl ConsensusConfig {
    /// A configuration with the default timings: heartbeat 100 ms, election 600–1200 ms, a
    /// snapshot every 5000 entries keeping 1000.
    #[must_use]
    pub fn new(id: NodeId, members: Vec<Member>, dir: PathBuf, genesis_hash: [u8; 32]) -> Self {
        let name = members
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        ConsensusConfig {
            id,
            name,
            members,
            dir,
            genesis_hash,
            tls: None,
            heartbeat_ms: 100,
            election_timeout_min_ms: 600,
            election_timeout_max_ms: 1200,
            snapshot_logs_since_last: 5000,
            max_in_snapshot_log_to_keep: 1000,
            connect_timeout_ms: 2000,
            snapshot_chunk_timeout_ms: 10_000,
            max_entries_per_append: 64,
            max_message_bytes: 256 * 1024 * 1024,
        }
    }
}
