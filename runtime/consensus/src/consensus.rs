//! [`Consensus`]: the handle the node holds: start, propose, status, membership, shutdown.

use crate::network::{ChannelSettings, Network};
use crate::service::{Authorize, RaftService};
use crate::store::{self, lock, Shared};
use crate::{
    Applied, BlockBytes, BlockMachine, ConsensusConfig, ConsensusError, Member, NodeId, RaftServer,
    Result, TypeConfig,
};
use hanok_proto::v1::HelloRequest;
use openraft::error::{ClientWriteError, Fatal, InitializeError, RaftError};
use openraft::metrics::WaitError;
use openraft::{ChangeMembers, RaftMetrics, ServerState, SnapshotPolicy};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node's Raft role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Proposes blocks.
    Leader,
    /// Follows the leader.
    Follower,
    /// Campaigning for leadership.
    Candidate,
    /// Replicates but does not vote (being added).
    Learner,
    /// Stopped (shut down or halted).
    Shutdown,
}

/// One member as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    /// The member.
    pub member: Member,
    /// Last Raft log index known replicated to it (leader only; `None` elsewhere or if unknown).
    pub matched_index: Option<u64>,
    /// Block height at `matched_index`, as far as this node's own records go.
    pub matched_height: Option<u64>,
    /// A voter (`false`: a learner, being caught up before it votes).
    pub voter: bool,
}

/// A snapshot of the node's consensus state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusStatus {
    /// This node's role.
    pub role: Role,
    /// Current Raft term.
    pub term: u64,
    /// The leader, if known.
    pub leader: Option<Member>,
    /// Index of the last entry in this node's Raft log.
    pub last_log_index: Option<u64>,
    /// Index of the last committed entry this node knows of.
    pub committed_index: Option<u64>,
    /// Index of the last entry applied to the ledger.
    pub applied_index: Option<u64>,
    /// Height of the ledger's head after the last applied entry.
    pub applied_height: u64,
    /// Voters and learners.
    pub members: Vec<MemberStatus>,
}

/// What a peer answered to `Hello`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHello {
    /// The peer's Raft node id.
    pub id: NodeId,
    /// The peer's organisation name.
    pub name: String,
    /// The peer's genesis hash.
    pub genesis_hash: [u8; 32],
}

/// A running consensus node.
pub struct Consensus {
    raft: openraft::Raft<TypeConfig>,
    shared: Arc<Shared>,
    db: sled::Db,
    id: NodeId,
    name: String,
    genesis: [u8; 32],
    channels: ChannelSettings,
}

impl std::fmt::Debug for Consensus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consensus")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Opens sled, retrying briefly while a previous instance in this process releases its lock.
async fn open_db(dir: &std::path::Path) -> Result<sled::Db> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sled::Config::new().path(dir).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if Instant::now() < deadline => {
                tracing::debug!(error = %e, dir = %dir.display(), "raft store busy; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                return Err(ConsensusError::Store(format!(
                    "opening {}: {e}",
                    dir.display()
                )))
            }
        }
    }
}

impl Consensus {
    /// Opens the durable Raft store in `config.dir`, starts openraft and, if `config.members`
    /// is not empty, initializes the cluster with them.
    ///
    /// Every node of a new consortium calls this with the same members: openraft writes the
    /// same first membership entry on each, and a node that already has a log (a restart, or a
    /// peer that replicated to it first) ignores the call.
    ///
    /// # Errors
    ///
    /// [`ConsensusError::Config`] for bad timings, [`ConsensusError::Store`] when the store
    /// cannot be opened, [`ConsensusError::Raft`] when openraft refuses to start.
    pub async fn start(config: ConsensusConfig, machine: Arc<dyn BlockMachine>) -> Result<Self> {
        let raft_config = openraft::Config {
            cluster_name: format!("hanok-{}", hex::encode(&config.genesis_hash[..4])),
            heartbeat_interval: config.heartbeat_ms,
            election_timeout_min: config.election_timeout_min_ms,
            election_timeout_max: config.election_timeout_max_ms,
            install_snapshot_timeout: config.snapshot_chunk_timeout_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_logs_since_last),
            max_in_snapshot_log_to_keep: config.max_in_snapshot_log_to_keep,
            max_payload_entries: config.max_entries_per_append,
            snapshot_max_chunk_size: 1024 * 1024,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ConsensusError::Config(e.to_string()))?;

        let db = open_db(&config.dir).await?;
        let shared = Arc::new(Shared::default());
        let head_machine = machine.clone();
        let (height, _) = tokio::task::spawn_blocking(move || head_machine.head())
            .await
            .map_err(|e| ConsensusError::Store(format!("reading the ledger head: {e}")))?;
        shared.applied_height.store(height, Ordering::Relaxed);
        let opened = store::open(db, machine, shared.clone())
            .map_err(|e| ConsensusError::Store(e.to_string()))?;
        // The Raft state must never be ahead of the ledger: openraft would not re-apply what it
        // believes applied, and every later block would then fail to link.
        if let Some(recorded) = opened.applied_height() {
            if recorded > height {
                return Err(ConsensusError::Store(format!(
                    "the ledger is at height {height} but the Raft state in {} records block \
                     height {recorded} as applied; restore the ledger, or remove the Raft dir to \
                     rejoin from the other members",
                    config.dir.display()
                )));
            }
        }

        let channels = ChannelSettings {
            tls: config.tls.clone(),
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            max_message_bytes: config.max_message_bytes,
        };
        let network = Network {
            settings: channels.clone(),
            genesis: config.genesis_hash,
            from: config.id,
            channels: Default::default(),
        };
        let raft = openraft::Raft::new(
            config.id,
            Arc::new(raft_config),
            network,
            opened.log,
            opened.sm,
        )
        .await
        // Starting re-applies committed entries the ledger may not have seen: a divergence there
        // halts the node before it ever runs.
        .map_err(|e| match lock(&shared.halted).clone() {
            Some(reason) => ConsensusError::Halted(reason),
            None => ConsensusError::Raft(format!("starting openraft: {e}")),
        })?;

        // Only a fresh store is initialized (openraft logs an error for every refused call).
        let fresh = !raft
            .is_initialized()
            .await
            .map_err(|e| ConsensusError::Raft(format!("reading the Raft state: {e}")))?;
        if fresh && !config.members.is_empty() {
            let members: BTreeMap<NodeId, Member> =
                config.members.iter().map(|m| (m.id, m.clone())).collect();
            match raft.initialize(members).await {
                Ok(()) => tracing::info!(id = config.id, "initialized the Raft cluster"),
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                    tracing::debug!(id = config.id, "Raft store already initialized");
                }
                Err(RaftError::APIError(InitializeError::NotInMembers(e))) => {
                    tracing::info!(id = config.id, %e, "not an initial voter; waiting to be added");
                }
                Err(RaftError::Fatal(e)) => {
                    return Err(ConsensusError::Raft(format!("initializing: {e}")))
                }
            }
        }

        Ok(Consensus {
            raft,
            shared,
            db: opened.db,
            id: config.id,
            name: config.name,
            genesis: config.genesis_hash,
            channels,
        })
    }

    /// The handler behind [`Self::service`], for a node that mounts the service before Raft
    /// starts and hands calls to it once it runs. `authorize` runs first on every call.
    #[must_use]
    pub fn handler(&self, authorize: Authorize) -> RaftService {
        RaftService {
            raft: self.raft.clone(),
            genesis: self.genesis,
            id: self.id,
            name: self.name.clone(),
            authorize,
            snapshot_end: std::sync::Mutex::new(0),
        }
    }

    /// The tonic service for peers, to add to the node's gRPC server. `authorize` runs first on
    /// every call.
    #[must_use]
    pub fn service(&self, authorize: Authorize) -> RaftServer {
        RaftServer::new(self.handler(authorize))
            .max_decoding_message_size(self.channels.max_message_bytes)
            .max_encoding_message_size(self.channels.max_message_bytes)
    }

    /// Proposes one encoded block. Returns once the entry is committed and applied on this node.
    ///
    /// # Errors
    ///
    /// [`ConsensusError::NotLeader`] when this node is not the leader;
    /// [`ConsensusError::Halted`] or [`ConsensusError::Stopped`] when Raft is not running.
    pub async fn propose(&self, block: Vec<u8>) -> Result<Applied> {
        match self.raft.client_write(BlockBytes(block)).await {
            Ok(resp) => resp
                .data
                .ok_or_else(|| ConsensusError::Raft("no outcome for a block entry".into())),
            Err(e) => Err(self.write_error(e)),
        }
    }

    fn write_error(
        &self,
        e: RaftError<NodeId, ClientWriteError<NodeId, Member>>,
    ) -> ConsensusError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                let leader = f.leader_node.or_else(|| {
                    f.leader_id
                        .and_then(|id| self.member(&self.raft.metrics().borrow(), id))
                });
                ConsensusError::NotLeader { leader }
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                ConsensusError::Membership(e.to_string())
            }
            RaftError::Fatal(f) => self.fatal(&f),
        }
    }

    fn fatal(&self, f: &Fatal<NodeId>) -> ConsensusError {
        if let Some(reason) = self.halted() {
            return ConsensusError::Halted(reason);
        }
        match f {
            Fatal::Stopped => ConsensusError::Stopped,
            other => ConsensusError::Halted(other.to_string()),
        }
    }

    fn member(&self, m: &RaftMetrics<NodeId, Member>, id: NodeId) -> Option<Member> {
        m.membership_config.membership().get_node(&id).cloned()
    }

    /// The node's consensus state from openraft's metrics. On the leader each member's
    /// `matched_index` is known, and `matched_height` maps it to a block height.
    #[must_use]
    pub fn status(&self) -> ConsensusStatus {
        let m = self.raft.metrics().borrow().clone();
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        };
        let role = if m.running_state.is_err() {
            Role::Shutdown
        } else {
            role
        };
        let voters: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
        let members = m
            .membership_config
            .nodes()
            .map(|(id, member)| {
                let matched_index = match &m.replication {
                    Some(repl) => repl.get(id).copied().flatten().map(|l| l.index),
                    None => None,
                };
                let matched_index = if *id == self.id {
                    matched_index.or(m.last_log_index)
                } else {
                    matched_index
                };
                MemberStatus {
                    member: member.clone(),
                    matched_index,
                    matched_height: matched_index.and_then(|i| self.shared.height_at(i)),
                    voter: voters.contains(id),
                }
            })
            .collect();
        ConsensusStatus {
            role,
            term: m.current_term,
            leader: m.current_leader.and_then(|id| self.member(&m, id)),
            last_log_index: m.last_log_index,
            committed_index: *lock(&self.shared.committed),
            applied_index: m.last_applied.map(|l| l.index),
            applied_height: self.shared.applied_height.load(Ordering::Relaxed),
            members,
        }
    }

    fn wait_error(&self, e: WaitError) -> ConsensusError {
        match e {
            WaitError::Timeout(_, what) => ConsensusError::Timeout(what),
            WaitError::ShuttingDown => self.fatal(&Fatal::Stopped),
        }
    }

    /// Waits until a leader is known and returns it.
    ///
    /// # Errors
    ///
    /// [`ConsensusError::Timeout`] when none is known within `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<Member> {
        let m = self
            .raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await
            .map_err(|e| self.wait_error(e))?;
        let id = m
            .current_leader
            .ok_or_else(|| ConsensusError::Timeout("a leader is known".into()))?;
        Ok(self.member(&m, id).unwrap_or(Member {
            id,
            ..Member::default()
        }))
    }

    /// Waits until the entry at `index` is applied on this node.
    ///
    /// # Errors
    ///
    /// [`ConsensusError::Timeout`] when it is not applied within `timeout`.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<()> {
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), format!("index {index} applied"))
            .await
            .map_err(|e| self.wait_error(e))?;
        Ok(())
    }

    /// Adds a member: first as a learner (returns once it caught up with the log), then as a
    /// voter. Call it on the leader.
    ///
    /// # Errors
    ///
    /// [`ConsensusError::NotLeader`] off the leader; [`ConsensusError::Membership`] when a
    /// change is already in progress.
    pub async fn add_member(&self, member: Member) -> Result<()> {
        let id = member.id;
        self.raft
            .add_learner(id, member, true)
            .await
            .map_err(|e| self.write_error(e))?;
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(|e| self.write_error(e))?;
        Ok(())
    }

    /// Asks the node at `addr` who it is and which chain it is on (TLS as configured).
    ///
    /// # Errors
    ///
    /// [`ConsensusError::Peer`] when the peer cannot be reached, refuses, or answers nonsense.
    pub async fn hello(&self, addr: &str) -> Result<PeerHello> {
        let peer = |message: String| ConsensusError::Peer {
            addr: addr.to_string(),
            message,
        };
        let mut client = self.channels.client(addr).map_err(peer)?;
        let mut request = tonic::Request::new(HelloRequest {
            genesis_hash: self.genesis.to_vec(),
            from: self.id,
        });
        request.set_timeout(self.channels.connect_timeout * 2);
        let reply = client
            .hello(request)
            .await
            .map_err(|s| peer(crate::network::status_text(&s)))?
            .into_inner();
        let genesis_hash = <[u8; 32]>::try_from(reply.genesis_hash.as_slice()).map_err(|_| {
            peer(format!(
                "genesis hash of {} bytes, expected 32",
                reply.genesis_hash.len()
            ))
        })?;
        Ok(PeerHello {
            id: reply.id,
            name: reply.name,
            genesis_hash,
        })
    }

    /// [`Consensus::hello`], then checks that the peer is on our chain.
    ///
    /// # Errors
    ///
    /// [`ConsensusError::GenesisMismatch`] naming both hashes; the errors of `hello`.
    pub async fn check_genesis(&self, addr: &str) -> Result<PeerHello> {
        let hello = self.hello(addr).await?;
        if hello.genesis_hash != self.genesis {
            return Err(ConsensusError::GenesisMismatch {
                peer: format!("{} (node {}, {addr})", hello.name, hello.id),
                ours: hex::encode(self.genesis),
                theirs: hex::encode(hello.genesis_hash),
            });
        }
        Ok(hello)
    }

    /// Why this node halted (its ledger diverged or a store failed), if it did.
    #[must_use]
    pub fn halted(&self) -> Option<String> {
        if let Some(reason) = lock(&self.shared.halted).clone() {
            return Some(reason);
        }
        match &self.raft.metrics().borrow().running_state {
            Err(Fatal::Stopped) | Ok(()) => None,
            Err(other) => Some(other.to_string()),
        }
    }

    /// The underlying openraft handle, for metrics and tests.
    #[must_use]
    pub fn raft(&self) -> &openraft::Raft<TypeConfig> {
        &self.raft
    }

    /// Stops Raft and flushes the store. The node's gRPC server keeps the service mounted; it
    /// answers with errors from then on.
    ///
    /// # Errors
    ///
    /// [`ConsensusError::Raft`] when the Raft task panicked; [`ConsensusError::Store`] when the
    /// final flush fails.
    pub async fn shutdown(&self) -> Result<()> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| ConsensusError::Raft(format!("shutting down: {e}")))?;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| ConsensusError::Store(e.to_string()))?
            .map_err(|e| ConsensusError::Store(e.to_string()))?;
        Ok(())
    }
}
