//! A consortium node: blocks ordered by Raft (`hanok-consensus`, over openraft) among the
//! members the config names, every member re-executing every block.
//!
//! - [`LedgerMachine`] is what Raft drives: it applies each committed entry (one block) to the
//!   ledger. On the leader the block it proposed itself is committed without executing it
//!   again ([`hanok_ledger::Ledger::commit_proposal`]); everywhere else the block is
//!   re-executed and its roots checked ([`hanok_ledger::Ledger::apply_block`]); a block this
//!   node cannot reproduce halts it. A block that does not link to the head (a deposed
//!   leader's late proposal) is skipped, identically on every member.
//! - [`producer`] replaces the single node's producer: only the leader proposes, one block at
//!   a time, once everything in its Raft log is applied; a member that is not the leader hands
//!   what its mempool holds to the leader.
//! - [`Consortium::forward`]: `Submit` on a follower goes to the leader.
//! - [`LazyRaft`]: the `hanok.v1.Raft` service is mounted when the server starts (before the
//!   ledger is open) and answers `UNAVAILABLE` until Raft runs.
//!
//! Raft's own traffic uses the node's TLS identity (its certificate from the consortium's CA)
//! both ways; a caller whose certificate does not name a member organisation is refused before
//! any Raft message is read. See docs/consortium.md.

use crate::config::{ConsortiumConfig, NodeConfig};
use crate::error::{Error, Result};
use crate::node::{lock, now_secs, Shared};
use hanok_chain::header_hash;
use hanok_consensus::{
    Applied, Authorize, BlockMachine, Consensus, ConsensusConfig, ConsensusError, MachineError,
    Member, RaftService, Role,
};
use hanok_ledger::{LedgerError, NodeGenesis, Proposal};
use hanok_proto::v1::{self, ledger_client::LedgerClient, raft_server};
use hanok_types::Hash;
use prost::Message;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Response, Status};

/// How often the producer looks at its role when nothing wakes it: a new leader starts
/// proposing within this long of its election.
const ROLE_POLL: Duration = Duration::from_millis(50);

/// How long the leader waits for its block to be ordered before it treats the outcome as
/// unknown.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the leader waits for a member added on chain to catch up as a learner before it
/// gives up for now (and tries again).
const ADD_MEMBER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the leader waits before it tries again to add a member when openraft refused
/// (another membership change in progress, leadership lost).
const ADD_MEMBER_RETRY: Duration = Duration::from_secs(2);

/// How long a forwarded submission may take at the leader.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// The hash members compare before they talk: the genesis (block 0's configuration) and the
/// proposer set (the members' node keys), which the genesis hash alone does not cover.
pub fn consortium_genesis_hash(genesis: &NodeGenesis) -> [u8; 32] {
    let proposers = genesis.chain.proposers.as_deref().unwrap_or_default();
    hanok_types::chain_genesis_hash(&genesis.genesis.hash(), proposers).0
}

/// Whether a failed call to a peer failed over a TLS certificate (ours refused, or theirs).
fn is_certificate_error(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    ["certificate", "unknownca", "unknownissuer"]
        .iter()
        .any(|k| text.contains(k))
}

/// Whether a caller may speak Raft: only a member's own certificate, whose organisation is a
/// member's name and which is a node certificate (valid to serve), not a client certificate of
/// the same organisation (a bank's applications must not be able to vote). `peer` is the
/// caller's certificate organisation and whether it may serve.
pub(crate) fn authorize_peer(names: &[String], peer: Option<(String, bool)>) -> Result<(), String> {
    match peer {
        Some((org, true)) if names.contains(&org) => Ok(()),
        Some((org, false)) if names.contains(&org) => Err(format!(
            "the caller's certificate names member `{org}` but is a client certificate (no \
             server authentication usage): only a member node's own certificate may speak Raft"
        )),
        Some((org, _)) => Err(format!(
            "the caller's certificate names organisation `{org}`, which is not a member ({})",
            names.join(", ")
        )),
        None => Err("the caller presented no certificate".into()),
    }
}

/// Checks the consortium section against the rest of the config.
///
/// # Errors
/// [`Error::Config`] saying what to fix.
pub fn check(config: &NodeConfig, c: &ConsortiumConfig) -> Result<()> {
    let bad = |reason: String| Error::Config {
        path: "<config>".into(),
        reason,
    };
    if config.tls_cert.is_none() || config.tls_key.is_none() || config.client_ca.is_none() {
        return Err(bad(
            "a consortium member needs mutual TLS: set `tls_cert` and `tls_key` (this node's \
             certificate from the consortium's CA) and `client_ca` (that CA)"
                .into(),
        ));
    }
    if config.genesis.is_none() || config.proposer_key.is_none() {
        return Err(bad(
            "a consortium member needs `genesis` (the consortium's genesis file) and \
             `proposer_key` (this member's node key, one of the genesis proposers)"
                .into(),
        ));
    }
    let mut ids = std::collections::HashSet::new();
    let mut names = std::collections::HashSet::new();
    for m in &c.members {
        if m.id == 0 {
            return Err(bad(format!(
                "consortium member `{}` has id 0; ids start at 1",
                m.name
            )));
        }
        if !ids.insert(m.id) {
            return Err(bad(format!("consortium member id {} appears twice", m.id)));
        }
        if !names.insert(m.name.as_str()) {
            return Err(bad(format!(
                "consortium member name `{}` appears twice",
                m.name
            )));
        }
    }
    if c.me().is_none() {
        return Err(bad(format!(
            "`consortium.id` is {} but no member has that id",
            c.id
        )));
    }
    Ok(())
}

fn member(m: &crate::config::ConsortiumMember) -> Member {
    Member {
        id: m.id,
        name: m.name.clone(),
        addr: m.addr.clone(),
    }
}

/// The TLS this node uses when it calls another member: the consortium's CA and its own
/// certificate.
fn client_tls(config: &NodeConfig) -> Result<ClientTlsConfig> {
    match (&config.tls_cert, &config.tls_key, &config.client_ca) {
        (Some(cert), Some(key), Some(ca)) => crate::tls::client_config(cert, key, ca),
        _ => Err(Error::Config {
            path: "<config>".into(),
            reason: "a consortium member needs `tls_cert`, `tls_key` and `client_ca`".into(),
        }),
    }
}

/// A consortium node's ordering: Raft, the members, and the way to the leader.
pub(crate) struct Consortium {
    pub consensus: Consensus,
    pub me: Member,
    pub members: Vec<Member>,
    machine: Arc<LedgerMachine>,
    tls: ClientTlsConfig,
    clients: Mutex<HashMap<String, LedgerClient<Channel>>>,
    /// The organisations whose node certificates may speak Raft: the config's members and
    /// those added on chain since ([`Consortium::follow_members`]).
    names: Arc<std::sync::RwLock<Vec<String>>>,
    /// The members added on chain, and the height they were read at (`names` includes them).
    members_seen: Mutex<(Option<u64>, Vec<hanok_chain::members::MemberRecord>)>,
    /// Members the leader is adding to Raft now (by id).
    adding: Mutex<std::collections::HashSet<u64>>,
}

impl Consortium {
    /// Whether this node is the leader now.
    pub fn is_leader(&self) -> bool {
        self.consensus.status().role == Role::Leader
    }

    fn client(&self, addr: &str) -> Result<LedgerClient<Channel>, Status> {
        if let Some(c) = lock(&self.clients).get(addr) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("https://{addr}"))
            .and_then(|e| e.tls_config(self.tls.clone()))
            .map_err(|e| Status::internal(format!("leader address {addr}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(FORWARD_TIMEOUT);
        let client = LedgerClient::new(endpoint.connect_lazy());
        lock(&self.clients).insert(addr.to_string(), client.clone());
        Ok(client)
    }

    /// The leader, when it is another node.
    fn leader(&self) -> Result<Member, Status> {
        let status = self.consensus.status();
        match status.leader {
            Some(l) if l.id != self.me.id => Ok(l),
            Some(_) => Err(Status::unavailable(
                "this node was the consortium's leader a moment ago and no longer is; retry",
            )),
            None => Err(Status::unavailable(
                "the consortium has no leader at the moment (an election is under way, or too \
                 few members are up to elect one); retry shortly",
            )),
        }
    }

    /// Hands a transaction to the leader (`Submit` on a follower). The leader's answer is the
    /// answer; a leader that cannot be reached is `UNAVAILABLE` naming it.
    pub async fn forward(&self, tx: v1::SignedTx) -> Result<v1::SubmitResponse, Status> {
        let leader = self.leader()?;
        let mut client = self.client(&leader.addr)?;
        match client.submit(v1::SubmitRequest { tx: Some(tx) }).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) if s.code() == tonic::Code::Unavailable || s.code() == tonic::Code::Unknown => {
                Err(Status::unavailable(format!(
                    "the consortium's leader, {leader}, did not take the transaction: {}; retry",
                    s.message()
                )))
            }
            Err(s) => Err(s),
        }
    }

    /// Follows the members added on chain (`hanok_chain::members`): their organisations may
    /// speak Raft from then on, and the leader adds each one Raft lacks, as a learner and, once
    /// it caught up, as a voter. Cheap when the height has not moved.
    fn follow_members(self: &Arc<Self>, shared: &Arc<Shared>, leader: bool) {
        let Ok(height) = shared.ledger.height() else {
            return;
        };
        let cached = {
            let seen = lock(&self.members_seen);
            (seen.0 == Some(height)).then(|| seen.1.clone())
        };
        // Read from state once per block; the leader goes over the list on every turn, so a
        // change interrupted by a lost leadership is taken up by the next leader.
        let added = match cached {
            Some(added) => added,
            None => match shared.ledger.consortium_members() {
                Ok((added, at)) => {
                    self.allow(&added);
                    *lock(&self.members_seen) = (Some(at), added.clone());
                    added
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the consortium's members");
                    return;
                }
            },
        };
        if !leader || added.is_empty() {
            return;
        }
        let status = self.consensus.status();
        for m in added {
            let in_raft = status.members.iter().find(|s| s.member.id == m.id);
            match in_raft {
                Some(s) if s.voter => continue,
                Some(s) if s.member.name != m.name => {
                    tracing::error!(
                        id = m.id,
                        chain = %m.name,
                        raft = %s.member.name,
                        "a member added on chain has the id of another Raft member; not added"
                    );
                    continue;
                }
                _ => {}
            }
            if !lock(&self.adding).insert(m.id) {
                continue;
            }
            let this = self.clone();
            let member = Member {
                id: m.id,
                name: m.name.clone(),
                addr: m.addr.clone(),
            };
            tokio::spawn(async move {
                tracing::info!(member = %member, "adding a member to Raft: learner first, voter once caught up");
                let outcome = tokio::time::timeout(
                    ADD_MEMBER_TIMEOUT,
                    this.consensus.add_member(member.clone()),
                )
                .await;
                match outcome {
                    Ok(Ok(())) => {
                        tracing::info!(member = %member, "member added to Raft as a voter")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(member = %member, error = %e, "adding the member failed; will retry");
                        tokio::time::sleep(ADD_MEMBER_RETRY).await;
                    }
                    Err(_) => tracing::warn!(
                        member = %member,
                        "the member did not catch up within {ADD_MEMBER_TIMEOUT:?} (is its node \
                         running and reachable?); will retry"
                    ),
                }
                lock(&this.adding).remove(&member.id);
            });
        }
    }

    /// Lets the organisations of `added` speak Raft.
    fn allow(&self, added: &[hanok_chain::members::MemberRecord]) {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        for m in added {
            if !names.contains(&m.name) {
                tracing::info!(member = %m.name, id = m.id, "member added on chain; its node may speak Raft");
                names.push(m.name.clone());
            }
        }
    }

    /// The status fields of `GetStatus`.
    pub fn status_proto(&self) -> v1::ConsensusStatus {
        let s = self.consensus.status();
        let proto = |m: &Member| v1::ConsortiumMember {
            id: m.id,
            name: m.name.clone(),
            addr: m.addr.clone(),
        };
        let role = match s.role {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Learner => "learner",
            Role::Shutdown => "stopped",
        };
        let members = if s.members.is_empty() {
            self.members
                .iter()
                .map(|m| v1::MemberStatus {
                    member: Some(proto(m)),
                    height_known: false,
                    height: 0,
                    learner: false,
                })
                .collect()
        } else {
            s.members
                .iter()
                .map(|m| {
                    // The leader knows its own height without replication.
                    let height = if m.member.id == self.me.id {
                        Some(s.applied_height)
                    } else {
                        m.matched_height
                    };
                    v1::MemberStatus {
                        member: Some(proto(&m.member)),
                        height_known: height.is_some(),
                        height: height.unwrap_or(0),
                        learner: !m.voter,
                    }
                })
                .collect()
        };
        v1::ConsensusStatus {
            role: role.into(),
            term: s.term,
            node: Some(proto(&self.me)),
            leader: s.leader.as_ref().map(proto),
            committed_index: s.committed_index.unwrap_or(0),
            applied_index: s.applied_index.unwrap_or(0),
            applied_height: s.applied_height,
            members,
            halted: self.consensus.halted().unwrap_or_default(),
        }
    }
}

/// What Raft drives: the ledger, behind the node's shared state.
pub(crate) struct LedgerMachine {
    shared: Weak<Shared>,
    /// The block this node proposed and is waiting for Raft to order, by header hash: applied
    /// without executing it again.
    pending: Mutex<Option<(Hash, Proposal, Duration)>>,
    /// How long applying this node's own last proposal took here (log and state), so the
    /// producer can tell ordering time from applying time.
    own_apply: Mutex<Duration>,
}

impl LedgerMachine {
    fn shared(&self) -> Result<Arc<Shared>, MachineError> {
        self.shared
            .upgrade()
            .ok_or_else(|| MachineError::Storage("the node is stopping".into()))
    }

    /// The proposal with header hash `hash`, if it is the one pending, and how long executing
    /// it took.
    fn take_pending(&self, hash: &Hash) -> Option<(Proposal, Duration)> {
        let mut pending = lock(&self.pending);
        match pending.as_ref() {
            Some((h, _, _)) if h == hash => pending.take().map(|(_, p, d)| (p, d)),
            _ => None,
        }
    }
}

impl BlockMachine for LedgerMachine {
    fn head(&self) -> (u64, [u8; 32]) {
        match self.shared().and_then(|s| {
            s.ledger
                .status()
                .map_err(|e| MachineError::Storage(e.to_string()))
        }) {
            Ok(st) => (st.height, st.latest_block_hash.0),
            Err(_) => (0, [0; 32]),
        }
    }

    fn apply(&self, bytes: &[u8]) -> Result<Applied, MachineError> {
        let shared = self.shared()?;
        let ledger = &shared.ledger;
        let block = match v1::Block::decode(bytes) {
            Ok(b) => b,
            Err(e) => {
                return Ok(Applied::Skipped {
                    reason: format!("the entry is not a block: {e}"),
                })
            }
        };
        let header = block.header.clone().unwrap_or_default();
        let hash = header_hash(&header);
        let head = ledger
            .status()
            .map_err(|e| MachineError::Storage(e.to_string()))?;
        if header.height <= head.height {
            // Raft re-delivers entries applied before a restart: the same block is a no-op;
            // another block at a height we hold was skipped the first time too.
            let ours = ledger
                .block(Some(header.height))
                .map_err(|e| MachineError::Storage(e.to_string()))?;
            return Ok(if ours.1 == hash {
                Applied::AlreadyApplied {
                    height: header.height,
                }
            } else {
                Applied::Skipped {
                    reason: format!(
                        "block {} {hash} is not the block this chain holds at that height",
                        header.height
                    ),
                }
            });
        }
        if header.height != head.height.saturating_add(1)
            || header.prev_hash != head.latest_block_hash.0
        {
            return Ok(Applied::Skipped {
                reason: format!(
                    "block {} {hash} does not follow the head (block {} {})",
                    header.height, head.height, head.latest_block_hash
                ),
            });
        }
        let started = std::time::Instant::now();
        let (result, own) = match self.take_pending(&hash) {
            Some((proposal, executed)) => (
                ledger.commit_proposal(proposal).map(|mut c| {
                    c.timings.execute = executed;
                    c
                }),
                true,
            ),
            None => (ledger.apply_block(block), false),
        };
        match result {
            Ok(commit) => {
                if own {
                    *lock(&self.own_apply) = started.elapsed();
                }
                let height = commit.block.height();
                shared.count(&commit, started.elapsed());
                shared.committed(commit);
                Ok(Applied::Committed { height })
            }
            Err(LedgerError::Chain(hanok_chain::ChainError::Diverged(d))) => {
                Err(MachineError::Diverged(d.to_string()))
            }
            Err(LedgerError::Chain(
                e @ (hanok_chain::ChainError::InvalidBlock { .. }
                | hanok_chain::ChainError::InvalidTx { .. }
                | hanok_chain::ChainError::BlockGasLimit { .. }),
            )) => {
                // Decided from the block and the chain alone: every member refuses it alike.
                tracing::error!(height = header.height, error = %e, "an ordered block is invalid; skipped");
                Ok(Applied::Skipped {
                    reason: e.to_string(),
                })
            }
            Err(e) => Err(MachineError::Storage(e.to_string())),
        }
    }

    fn blocks(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, MachineError> {
        let shared = self.shared()?;
        let mut out = Vec::new();
        for h in from..=to {
            let (block, _) = shared
                .ledger
                .block(Some(h))
                .map_err(|e| MachineError::Storage(e.to_string()))?;
            out.push(block.encode_to_vec());
        }
        Ok(out)
    }
}

/// The `hanok.v1.Raft` service, mounted before Raft runs.
#[derive(Clone, Default)]
pub struct LazyRaft(Arc<OnceLock<RaftService>>, Arc<OnceLock<Authorize>>);

/// Who may speak Raft, checked on a call's headers and TLS identity before its body is read
/// (a refused caller never makes this node decode a message of up to the Raft size limit).
#[derive(Clone)]
pub struct RaftGate(Arc<OnceLock<Authorize>>);

impl tonic::service::Interceptor for RaftGate {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let authorize = self
            .0
            .get()
            .ok_or_else(|| Status::unavailable("this node's Raft is not running yet; retry"))?;
        authorize(request.extensions()).map_err(|reason| {
            Status::permission_denied(format!("not a consortium member: {reason}"))
        })?;
        Ok(request)
    }
}

impl std::fmt::Debug for LazyRaft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyRaft")
            .field("running", &self.0.get().is_some())
            .finish()
    }
}

impl LazyRaft {
    fn get(&self) -> Result<&RaftService, Status> {
        self.0
            .get()
            .ok_or_else(|| Status::unavailable("this node's Raft is not running yet; retry"))
    }

    /// The tonic service for the node's router: the caller is authorized on the request's
    /// headers and TLS identity ([`RaftGate`]) before the message is decoded.
    pub fn server(
        &self,
    ) -> tonic::service::interceptor::InterceptedService<raft_server::RaftServer<LazyRaft>, RaftGate>
    {
        let server = raft_server::RaftServer::new(self.clone())
            .max_decoding_message_size(256 * 1024 * 1024)
            .max_encoding_message_size(256 * 1024 * 1024);
        tonic::service::interceptor::InterceptedService::new(server, RaftGate(self.1.clone()))
    }
}

#[tonic::async_trait]
impl raft_server::Raft for LazyRaft {
    async fn append_entries(
        &self,
        req: Request<v1::RaftRequest>,
    ) -> Result<Response<v1::RaftReply>, Status> {
        raft_server::Raft::append_entries(self.get()?, req).await
    }
    async fn vote(&self, req: Request<v1::RaftRequest>) -> Result<Response<v1::RaftReply>, Status> {
        raft_server::Raft::vote(self.get()?, req).await
    }
    async fn install_snapshot(
        &self,
        req: Request<v1::RaftRequest>,
    ) -> Result<Response<v1::RaftReply>, Status> {
        raft_server::Raft::install_snapshot(self.get()?, req).await
    }
    async fn hello(
        &self,
        req: Request<v1::HelloRequest>,
    ) -> Result<Response<v1::HelloReply>, Status> {
        raft_server::Raft::hello(self.get()?, req).await
    }
}

/// Starts Raft for a node whose ledger is open: checks the peers that answer share this
/// genesis, and mounts the service.
///
/// # Errors
/// [`Error::Config`]; [`Error::Consortium`] when Raft cannot start or a peer runs another
/// genesis (both hashes named).
pub(crate) async fn start(
    shared: &Arc<Shared>,
    config: &NodeConfig,
    c: &ConsortiumConfig,
    genesis_hash: [u8; 32],
    lazy: &LazyRaft,
) -> Result<Arc<Consortium>> {
    check(config, c)?;
    let me = c.me().map(member).unwrap_or_default();
    let members: Vec<Member> = c.members.iter().map(member).collect();
    let tls = client_tls(config)?;
    // A joining member starts no cluster: the leader adds it once the chain records it.
    let initial = if c.join { Vec::new() } else { members.clone() };
    let mut cc = ConsensusConfig::new(c.id, initial, config.data_dir.join("raft"), genesis_hash);
    cc.tls = Some(tls.clone());
    cc.heartbeat_ms = c.heartbeat_ms.max(10);
    cc.election_timeout_min_ms = c.election_timeout_ms.max(cc.heartbeat_ms.saturating_mul(3));
    cc.election_timeout_max_ms = cc.election_timeout_min_ms.saturating_mul(2);
    cc.snapshot_logs_since_last = c.snapshot_every.max(1);
    cc.max_in_snapshot_log_to_keep = c.keep_logs;
    let machine = Arc::new(LedgerMachine {
        shared: Arc::downgrade(shared),
        pending: Mutex::new(None),
        own_apply: Mutex::new(Duration::ZERO),
    });
    let consensus = Consensus::start(cc, machine.clone())
        .await
        .map_err(|e| Error::Consortium(format!("Raft could not start: {e}")))?;
    let names = Arc::new(std::sync::RwLock::new(
        members.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
    ));
    // Only a member's own certificate speaks Raft: its organisation is a member's name (from
    // the config, or added on chain since), and it is a node certificate (valid to serve), not
    // a client certificate of the same organisation (a bank's applications must not vote).
    let allowed = names.clone();
    let authorize: Authorize = Arc::new(move |ext| {
        let names = allowed.read().unwrap_or_else(|e| e.into_inner());
        authorize_peer(&names, crate::tls::peer_node(ext))
    });
    let _ = lazy.1.set(authorize.clone());
    let _ = lazy.0.set(consensus.handler(authorize));
    for peer in members.iter().filter(|m| m.id != me.id) {
        // A refused handshake does not always reach us as the TLS alert (the peer may close
        // first): ask a few times before settling for "not reachable".
        let mut answer = None;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let a = tokio::time::timeout(Duration::from_secs(3), consensus.hello(&peer.addr)).await;
            let done = match &a {
                Ok(Ok(_)) => true,
                Ok(Err(e)) => is_certificate_error(&e.to_string()),
                Err(_) => false,
            };
            answer = Some(a);
            if done {
                break;
            }
        }
        let Some(answer) = answer else { continue };
        match answer {
            Ok(Ok(hello)) if hello.genesis_hash != genesis_hash => {
                let _ = consensus.shutdown().await;
                return Err(Error::Consortium(format!(
                    "member {peer} runs another genesis: its consortium genesis hash is {}, \
                     this node's is {}. Every member must start from the same genesis file \
                     (and proposer set); refusing to join",
                    hex::encode(hello.genesis_hash),
                    hex::encode(genesis_hash)
                )));
            }
            Ok(Ok(_)) => tracing::info!(peer = %peer, "peer shares this genesis"),
            Ok(Err(e)) if c.join && e.to_string().contains("not a member") => tracing::info!(
                peer = %peer,
                "this node is not on the chain's member list yet: the genesis authority adds it \
                 with `hanok consortium add-member`; the leader then replicates to it"
            ),
            Ok(Err(e)) if is_certificate_error(&e.to_string()) => tracing::error!(
                peer = %peer,
                error = %e,
                "the TLS handshake with this member failed over a certificate: every member's \
                 certificate (`tls_cert`) must be issued by the consortium's CA (`client_ca`), \
                 for the host it is dialled at"
            ),
            Ok(Err(e)) => tracing::warn!(peer = %peer, error = %e, "peer not reachable yet"),
            Err(_) => tracing::warn!(peer = %peer, "peer did not answer hello in time"),
        }
    }
    let consortium = Arc::new(Consortium {
        consensus,
        me,
        members,
        machine,
        tls,
        clients: Mutex::new(HashMap::new()),
        names,
        members_seen: Mutex::new((None, Vec::new())),
        adding: Mutex::new(std::collections::HashSet::new()),
    });
    consortium.follow_members(shared, false);
    Ok(consortium)
}

/// The consortium's producer: only the leader proposes, one block at a time.
pub(crate) async fn producer(
    shared: Arc<Shared>,
    c: Arc<Consortium>,
    mut shutdown: watch::Receiver<bool>,
) {
    let spacing = shared.config.block_interval();
    let mut last_start: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(ROLE_POLL) => {}
            _ = shutdown.changed() => break,
        }
        if let Some(reason) = c.consensus.halted().or_else(|| shared.ledger.halted()) {
            shared.fail_all(&reason);
            shared.set_serving(false).await;
            continue;
        }
        let status = c.consensus.status();
        c.follow_members(&shared, status.role == Role::Leader);
        if status.role != Role::Leader {
            if shared.ledger.has_ready() && status.leader.is_some() {
                // Admitted while this node led, or before it knew it no longer did.
                for tx in shared.ledger.drain_ready() {
                    if let Err(e) = c.forward(tx).await {
                        tracing::debug!(error = %e, "could not hand a transaction to the leader");
                    }
                }
            }
            continue;
        }
        if !shared.ledger.has_ready() {
            continue;
        }
        // A new leader first applies what earlier leaders got committed.
        if status.applied_index < status.last_log_index {
            if let Some(index) = status.last_log_index {
                let _ = c
                    .consensus
                    .wait_applied(index, Duration::from_secs(1))
                    .await;
            }
            shared.wake.notify_one();
            continue;
        }
        if let Some(next) = last_start.map(|t| t + spacing) {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.changed() => break,
            }
        }
        last_start = Some(tokio::time::Instant::now());
        let s = shared.clone();
        let proposed = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            s.ledger
                .propose_block(now_secs())
                .map(|p| p.map(|p| (p, started.elapsed())))
        })
        .await;
        let (proposal, executed) = match proposed {
            Ok(Ok(Some(p))) => p,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not propose a block");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "block proposal task failed");
                continue;
            }
        };
        let header = proposal.block().header.clone().unwrap_or_default();
        let hash = header_hash(&header);
        let bytes = proposal.block().encode_to_vec();
        *lock(&c.machine.pending) = Some((hash, proposal, executed));
        let ordering = std::time::Instant::now();
        // openraft answers once the entry is committed and applied here; a leader cut off
        // from the others could wait forever. After this long the outcome is unknown: the
        // transactions wait for the next block, and whichever block loses is skipped.
        let outcome = match tokio::time::timeout(PROPOSE_TIMEOUT, c.consensus.propose(bytes)).await
        {
            Ok(o) => o,
            Err(_) => Err(ConsensusError::Timeout(format!(
                "block {} not ordered within {PROPOSE_TIMEOUT:?}",
                header.height
            ))),
        };
        if let Some((p, _)) = c.machine.take_pending(&hash) {
            // Not applied through our own proposal: its transactions wait for the next block
            // (those another block committed meanwhile are dropped when it lands).
            shared.ledger.abandon(p);
        }
        match outcome {
            Ok(Applied::Committed { .. }) => {
                // Replication to a quorum and the commit, without applying it here.
                let applying = *lock(&c.machine.own_apply);
                shared
                    .metrics
                    .block_stage
                    .get_or_create(&[("stage", "order")])
                    .observe(ordering.elapsed().saturating_sub(applying).as_secs_f64());
            }
            Ok(Applied::AlreadyApplied { .. }) => {}
            Ok(Applied::Skipped { reason }) => {
                tracing::warn!(height = header.height, %reason, "our block was ordered but skipped");
            }
            Err(ConsensusError::NotLeader { leader }) => {
                tracing::info!(leader = ?leader, "no longer the leader; handing over");
            }
            Err(e) => tracing::warn!(error = %e, "block not ordered"),
        }
        if shared.ledger.has_ready() {
            shared.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::authorize_peer;

    #[test]
    fn only_a_member_node_certificate_speaks_raft() {
        let names = vec!["registry".to_string(), "bank-a".to_string()];
        assert!(authorize_peer(&names, Some(("bank-a".into(), true))).is_ok());
        let client = authorize_peer(&names, Some(("bank-a".into(), false)));
        assert!(client.is_err_and(|e| e.contains("client certificate")));
        let stranger = authorize_peer(&names, Some(("bank-z".into(), true)));
        assert!(stranger.is_err_and(|e| e.contains("not a member")));
        assert!(authorize_peer(&names, None).is_err());
    }
}
