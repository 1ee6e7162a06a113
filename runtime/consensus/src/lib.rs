//! `hanok-consensus`: orders the blocks of a hanok consortium with Raft ([openraft] 0.9), so
//! every member applies the same blocks in the same order.
//!
//! Key items: [`Consensus`] (start, propose, status, membership, shutdown), [`ConsensusConfig`],
//! the [`BlockMachine`] trait the ledger implements, and [`Consensus::service`], the tonic
//! service (`hanok.v1.Raft`) that the node mounts on its gRPC port.
//!
//! # What Raft replicates
//!
//! One Raft log entry carries one block: the protobuf encoding of a `hanok.v1.Block`, built and
//! signed by the proposer before it calls [`Consensus::propose`]. Raft decides the order; once an
//! entry is committed every node hands the block to [`BlockMachine::apply`], which re-executes it
//! and checks the result. Besides blocks the log holds openraft's own blank entries (a new
//! leader's first entry) and membership entries; these touch only this crate's metadata.
//!
//! # Raft log and block log
//!
//! The *Raft log* (in sled under [`ConsensusConfig::dir`]) holds entries that may not be
//! committed yet: a follower's uncommitted tail may be truncated by a new leader, and the
//! committed prefix is purged after a snapshot. The *block log* (the ledger's) holds only
//! applied blocks, never shrinks, and stays the source of truth: snapshots are cut from it.
//!
//! # Durability order
//!
//! The vote and appended log entries are written to sled and fsynced (`Db::flush`) before
//! openraft is told they are persisted, so a node that voted and crashed never votes twice in a
//! term, and an acknowledged entry survives a crash. Truncation and purge are fsynced likewise
//! (the purge point is recorded before entries are removed). The state-machine metadata (last
//! applied log id, last membership, log index → block height) is written and fsynced *after*
//! the machine applied the entries: it may lag the machine by one batch after a crash, never
//! lead it. On restart openraft re-applies the lagging entries; [`BlockMachine::apply`] is
//! idempotent, so they answer [`Applied::AlreadyApplied`]. The converse is refused:
//! [`Consensus::start`] fails when the ledger's head is below the height recorded for the last
//! applied entry (a ledger restored from an old backup beside a newer Raft dir).
//!
//! # Snapshots
//!
//! A snapshot is built from the block log, not copied from Raft: the magic `HANOKSN1`, a
//! `u32` big-endian length and a postcard header (last applied log id, last membership, block
//! height `h`), then blocks `1..=h` from [`BlockMachine::blocks`], each as a `u32` big-endian
//! length and the encoded block. Installing one calls [`BlockMachine::apply`] on every block in
//! order: blocks at or below the local head are checked by the idempotent apply, the rest are
//! re-executed. Only the snapshot's metadata (and height) is stored; its data is re-read from
//! the block log when a peer needs it (and once at start, where openraft reads the current
//! snapshot's metadata). The data is held in memory while sent or received. The policy
//! ([`ConsensusConfig::snapshot_logs_since_last`],
//! [`ConsensusConfig::max_in_snapshot_log_to_keep`]) decides when the Raft log is purged.
//!
//! # Stale proposals
//!
//! A deposed leader's late proposal can still be committed after the new leader's blocks. It no
//! longer links to the head, so the machine answers [`Applied::Skipped`]; since every node
//! applies the same entries in the same order from the same head, every node skips it
//! identically and [`Consensus::propose`] tells the proposer.
//!
//! # What halts a node
//!
//! [`MachineError::Diverged`] (re-executing a committed block gives a different result), a
//! machine storage error, a snapshot block that does not link, or a Raft store I/O error. The
//! node records the reason ([`Consensus::halted`]) and openraft stops: the node votes,
//! replicates and writes no more (its service answers peers with an error) and never applies a
//! block it cannot reproduce. The other members go
//! on without it; an operator must repair it.
//!
//! # Wire
//!
//! `proto/hanok/v1/raft.proto`: every request carries the sender's genesis hash and node id and
//! a postcard-encoded openraft message. The service first asks the node's `authorize` callback
//! (which checks the TLS client certificate), then refuses a foreign genesis hash with
//! `FAILED_PRECONDITION` naming both hashes; `Hello` answers whatever the genesis, so a starting
//! node can compare its peers' hashes with its own.
//!
//! # Using it from the node
//!
//! ```no_run
//! use hanok_consensus::{Applied, BlockMachine, Consensus, ConsensusConfig, ConsensusError, Member};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! async fn run(
//!     ledger: Arc<dyn BlockMachine>,
//!     members: Vec<Member>,
//!     genesis: [u8; 32],
//!     tls: tonic::transport::ClientTlsConfig,
//! ) -> Result<(), ConsensusError> {
//!     let mut config = ConsensusConfig::new(1, members.clone(), "data/raft".into(), genesis);
//!     config.tls = Some(tls);
//!     let consensus = Consensus::start(config, ledger).await?;
//!     // Mount next to the client services; `authorize` checks the peer certificate.
//!     let _raft_service = consensus.service(Arc::new(|_ext| Ok(())));
//!     // Refuse to run beside a peer on another chain.
//!     for m in members.iter().filter(|m| m.id != 1) {
//!         match consensus.check_genesis(&m.addr).await {
//!             Err(e @ ConsensusError::GenesisMismatch { .. }) => return Err(e),
//!             Err(e) => eprintln!("peer {m} not reachable yet: {e}"),
//!             Ok(_) => {}
//!         }
//!     }
//!     consensus.wait_for_leader(Duration::from_secs(10)).await?;
//!     let block: Vec<u8> = Vec::new(); // a signed, encoded hanok.v1.Block on the current head
//!     match consensus.propose(block).await {
//!         Ok(Applied::Committed { height }) => println!("committed at {height}"),
//!         Ok(Applied::Skipped { reason }) => println!("lost the race: {reason}"),
//!         Ok(Applied::AlreadyApplied { .. }) => {}
//!         Err(ConsensusError::NotLeader { leader }) => println!("forward to {leader:?}"),
//!         Err(e) => return Err(e),
//!     }
//!     consensus.shutdown().await
//! }
//! ```
//!
//! # openraft 0.9 behaviour the integrator should know
//!
//! - `initialize` on every initial voter with the same members is safe: each writes the same
//!   first membership entry. [`Consensus::start`] calls it only on a fresh store, and ignores
//!   the `NotAllowed` of a node that a faster peer replicated to in between. Membership changes
//!   after that go through [`Consensus::add_member`] on the leader; editing `members` in a
//!   restarted node's config does nothing.
//! - `client_write` (behind [`Consensus::propose`]) returns once the entry is committed *and*
//!   applied on this node. If this node loses leadership after appending the entry, the call
//!   keeps waiting: it answers `Ok` if the next leader commits the entry (it is applied here as
//!   a follower), or [`ConsensusError::NotLeader`] once the entry is truncated away. While the
//!   node is cut off it may wait for a long time, so the node should wrap `propose` in a
//!   timeout and treat a timeout as "outcome unknown": rebuild on the head it then sees and
//!   propose again; if the earlier block lands too, the linkage rule skips the loser. A
//!   `NotLeader` answered *before* appending (the usual case) means nothing was written.
//! - Any storage error (ours or the machine's) is fatal to openraft: the Raft task stops, every
//!   later call answers [`ConsensusError::Halted`] and [`Consensus::halted`] says why. There is no
//!   restart-in-place; restart the process after repairing.
//! - Proposals on a follower are not forwarded; the node forwards to `leader.addr` itself.
//! - With TLS, peers are dialled as `https://{addr}`: each peer's certificate must be valid for
//!   the host in its `addr` (an IP SAN for an IP address), since one `ClientTlsConfig` serves
//!   every peer.
//! - sled locks its directory: a node restarted in the same process must drop its old
//!   [`Consensus`] first ([`Consensus::start`] retries the lock for a few seconds).
//!
//! Architecture Invariant: this crate knows nothing of transactions, contracts or state; a block
//! is opaque bytes and the ledger behind [`BlockMachine`] gives them meaning. The only consensus
//! logic is openraft's; this crate supplies storage, transport and the mapping to hanok types.

mod codec;
mod config;
mod consensus;
mod error;
mod network;
mod service;
mod store;

use serde::{Deserialize, Serialize};
use std::fmt;

/// The openraft version this crate is built on, for [`Consensus::raft`]'s metrics and types.
pub use openraft;

pub use config::ConsensusConfig;
pub use consensus::{Consensus, ConsensusStatus, MemberStatus, PeerHello, Role};
pub use error::{ConsensusError, Result};
pub use service::{Authorize, RaftService};

/// The generated tonic server type returned by [`Consensus::service`].
pub type RaftServer = hanok_proto::v1::raft_server::RaftServer<RaftService>;

/// A Raft node id; stable for the life of a member.
pub type NodeId = u64;

/// A consortium member as Raft knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Raft node id.
    pub id: NodeId,
    /// Organisation, e.g. `"bank-a"`.
    pub name: String,
    /// gRPC address, `"host:port"`.
    pub addr: String,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (node {}, {})", self.name, self.id, self.addr)
    }
}

/// What consensus drives: the ledger. Every method blocks; this crate calls them on
/// `tokio::task::spawn_blocking`.
pub trait BlockMachine: Send + Sync + 'static {
    /// Height and header hash of the last applied block (height 0 = genesis).
    fn head(&self) -> (u64, [u8; 32]);

    /// Applies one committed block (protobuf-encoded `hanok.v1.Block`), re-executing and
    /// checking it.
    ///
    /// Must be idempotent: a block at or below the head with the same hash answers
    /// `Ok(Applied::AlreadyApplied)`. A block that does not link to the head answers
    /// `Ok(Applied::Skipped)`, identically on every node.
    ///
    /// # Errors
    ///
    /// [`MachineError::Diverged`] when re-execution differs from the block (the node halts);
    /// [`MachineError::Storage`] when the ledger cannot read or write (the node halts too).
    fn apply(&self, block: &[u8]) -> Result<Applied, MachineError>;

    /// Encoded blocks `from..=to` from the block log (for building snapshots).
    ///
    /// # Errors
    ///
    /// [`MachineError::Storage`] when the block log cannot be read.
    fn blocks(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, MachineError>;
}

/// What applying one committed block did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// The block was executed and committed at `height`.
    Committed {
        /// Height of the block.
        height: u64,
    },
    /// The block was already in the block log at `height` (a replay after restart).
    AlreadyApplied {
        /// Height of the block.
        height: u64,
    },
    /// The block does not link to the head (a deposed leader's late proposal): every node skips
    /// it identically.
    Skipped {
        /// Why it does not link, for the proposer.
        reason: String,
    },
}

/// Why the ledger could not apply a committed block.
#[derive(thiserror::Error, Debug)]
pub enum MachineError {
    /// Re-execution differs from the block: this node must halt.
    #[error("re-executing the block diverged: {0}")]
    Diverged(String),
    /// The ledger's storage failed.
    #[error("ledger storage: {0}")]
    Storage(String),
}

/// The application data of one Raft entry: an encoded hanok block.
///
/// Serialized as a byte string (never as a sequence of numbers).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockBytes(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl fmt::Debug for BlockBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockBytes({} bytes)", self.0.len())
    }
}

openraft::declare_raft_types!(
    /// The openraft type configuration of hanok: a block per entry, [`Member`] nodes, and an
    /// in-memory snapshot buffer.
    pub TypeConfig:
        D = BlockBytes,
        R = Option<Applied>,
        NodeId = NodeId,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);
