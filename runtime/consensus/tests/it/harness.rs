//! A test cluster: `Consensus` nodes on loopback sockets over an in-memory `BlockMachine`.

use anyhow::{bail, Context as _};
use hanok_consensus::{
    Applied, Authorize, BlockMachine, Consensus, ConsensusConfig, ConsensusError, MachineError,
    Member, NodeId, Role,
};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const GENESIS: [u8; 32] = [7; 32];
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A toy ledger: a block is `height (8 bytes BE) || prev hash (32) || payload`; the head hash is
/// the sha256 of the block.
#[derive(Default)]
pub struct MemMachine {
    chain: Mutex<Vec<(Vec<u8>, [u8; 32])>>,
    /// Re-executing the block at this height "diverges".
    pub diverge_at: Mutex<Option<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn block(height: u64, prev: [u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut b = height.to_be_bytes().to_vec();
    b.extend_from_slice(&prev);
    b.extend_from_slice(payload);
    b
}

fn hash(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl MemMachine {
    pub fn height(&self) -> u64 {
        lock(&self.chain).len() as u64
    }

    pub fn hashes(&self) -> Vec<[u8; 32]> {
        lock(&self.chain).iter().map(|(_, h)| *h).collect()
    }

    /// The next block on top of this machine's head.
    pub fn next_block(&self, payload: &[u8]) -> Vec<u8> {
        let (h, prev) = self.head();
        block(h + 1, prev, payload)
    }
}

impl BlockMachine for MemMachine {
    fn head(&self) -> (u64, [u8; 32]) {
        let chain = lock(&self.chain);
        (
            chain.len() as u64,
            chain.last().map_or(GENESIS, |(_, h)| *h),
        )
    }

    fn apply(&self, b: &[u8]) -> Result<Applied, MachineError> {
        let (Some(height), Some(prev)) = (b.get(..8), b.get(8..40)) else {
            return Err(MachineError::Diverged("malformed block".into()));
        };
        let height = u64::from_be_bytes(height.try_into().expect("8 bytes"));
        let h = hash(b);
        let mut chain = lock(&self.chain);
        let head = chain.len() as u64;
        if height >= 1 && height <= head {
            return Ok(if chain[height as usize - 1].1 == h {
                Applied::AlreadyApplied { height }
            } else {
                Applied::Skipped {
                    reason: format!("height {height} already holds another block"),
                }
            });
        }
        let head_hash = chain.last().map_or(GENESIS, |(_, h)| *h);
        if height != head + 1 || prev != head_hash {
            return Ok(Applied::Skipped {
                reason: format!("block {height} does not link to head {head}"),
            });
        }
        if *lock(&self.diverge_at) == Some(height) {
            return Err(MachineError::Diverged(format!(
                "state root of block {height} differs"
            )));
        }
        chain.push((b.to_vec(), h));
        Ok(Applied::Committed { height })
    }

    fn blocks(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, MachineError> {
        let chain = lock(&self.chain);
        if from == 0 || to as usize > chain.len() || from > to {
            return Err(MachineError::Storage(format!("no blocks {from}..={to}")));
        }
        Ok(chain[from as usize - 1..to as usize]
            .iter()
            .map(|(b, _)| b.clone())
            .collect())
    }
}

/// Logs to the test output when `RUST_LOG` is set (e.g. `RUST_LOG=hanok_consensus=debug`).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub fn allow_all() -> Authorize {
    Arc::new(|_| Ok(()))
}

/// One node: its ledger, its Raft state dir, and (while running) its consensus and server.
pub struct Node {
    pub member: Member,
    pub dir: PathBuf,
    pub machine: Arc<MemMachine>,
    pub consensus: Option<Arc<Consensus>>,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Node {
    pub fn c(&self) -> &Consensus {
        self.consensus.as_deref().expect("node is running")
    }
}

pub struct Cluster {
    _tmp: tempfile::TempDir,
    pub nodes: Vec<Node>,
    pub members: Vec<Member>,
    tweak: fn(&mut ConsensusConfig),
}

fn fast_timings(c: &mut ConsensusConfig) {
    c.heartbeat_ms = 100;
    c.election_timeout_min_ms = 500;
    c.election_timeout_max_ms = 1000;
    c.connect_timeout_ms = 500;
}

impl Cluster {
    /// Starts `n` nodes that know each other as initial voters.
    pub async fn start(n: u64, tweak: fn(&mut ConsensusConfig)) -> anyhow::Result<Cluster> {
        init_logs();
        let tmp = tempfile::tempdir()?;
        let mut listeners = Vec::new();
        let mut members = Vec::new();
        for id in 1..=n {
            let l = TcpListener::bind("127.0.0.1:0").await?;
            members.push(Member {
                id,
                name: format!("bank-{id}"),
                addr: l.local_addr()?.to_string(),
            });
            listeners.push(l);
        }
        let mut cluster = Cluster {
            nodes: members
                .iter()
                .map(|m| Node {
                    member: m.clone(),
                    dir: tmp.path().join(format!("raft-{}", m.id)),
                    machine: Arc::new(MemMachine::default()),
                    consensus: None,
                    server: None,
                })
                .collect(),
            _tmp: tmp,
            members,
            tweak,
        };
        for (i, l) in listeners.into_iter().enumerate() {
            cluster.launch(i, l, true).await?;
        }
        Ok(cluster)
    }

    fn config(&self, i: usize, initial: bool) -> ConsensusConfig {
        let node = &self.nodes[i];
        let members = if initial {
            self.members.clone()
        } else {
            Vec::new()
        };
        let mut c = ConsensusConfig::new(node.member.id, members, node.dir.clone(), GENESIS);
        c.name = node.member.name.clone();
        fast_timings(&mut c);
        (self.tweak)(&mut c);
        c
    }

    async fn launch(
        &mut self,
        i: usize,
        listener: TcpListener,
        initial: bool,
    ) -> anyhow::Result<()> {
        let config = self.config(i, initial);
        let node = &mut self.nodes[i];
        let consensus = Arc::new(
            Consensus::start(config, node.machine.clone())
                .await
                .with_context(|| format!("starting node {}", node.member.id))?,
        );
        let service = consensus.service(allow_all());
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = rx.await;
                    },
                )
                .await;
        });
        node.consensus = Some(consensus);
        node.server = Some((tx, server));
        Ok(())
    }

    /// Adds a node that is not an initial voter (its config names no members).
    pub async fn add_node(&mut self) -> anyhow::Result<usize> {
        let id = self.nodes.len() as NodeId + 1;
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let member = Member {
            id,
            name: format!("bank-{id}"),
            addr: l.local_addr()?.to_string(),
        };
        self.nodes.push(Node {
            dir: self._tmp.path().join(format!("raft-{id}")),
            member,
            machine: Arc::new(MemMachine::default()),
            consensus: None,
            server: None,
        });
        let i = self.nodes.len() - 1;
        self.launch(i, l, false).await?;
        Ok(i)
    }

    /// Stops node `i`: Raft, then its gRPC server. Its dir and ledger are kept.
    pub async fn stop(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        if let Some(c) = node.consensus.take() {
            c.shutdown().await?;
        }
        if let Some((tx, handle)) = node.server.take() {
            let _ = tx.send(());
            let mut handle = handle;
            if tokio::time::timeout(Duration::from_secs(3), &mut handle)
                .await
                .is_err()
            {
                // Peers still hold connections open: drop the listener anyway.
                handle.abort();
            }
        }
        Ok(())
    }

    /// Restarts node `i` from its dir and ledger, on its old address.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let addr: SocketAddr = self.nodes[i].member.addr.parse()?;
        let listener = bind_retry(addr).await?;
        self.launch(i, listener, true).await
    }

    pub fn running(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.consensus.is_some())
    }

    /// Waits until a running node leads and the running nodes agree on it.
    pub async fn leader(&self) -> anyhow::Result<usize> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let leaders: Vec<usize> = self
                .running()
                .filter(|(_, n)| n.c().status().role == Role::Leader)
                .map(|(i, _)| i)
                .collect();
            if let [i] = leaders[..] {
                let id = self.nodes[i].member.id;
                let agreed = self
                    .running()
                    .filter(|(_, n)| n.c().halted().is_none())
                    .all(|(_, n)| n.c().status().leader.map(|m| m.id) == Some(id));
                if agreed {
                    return Ok(i);
                }
            }
            if Instant::now() > deadline {
                bail!("no agreed leader within {DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Proposes the next block through the current leader, retrying across leader changes.
    pub async fn propose_next(&self, payload: &str) -> anyhow::Result<Applied> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let i = self.leader().await?;
            let node = &self.nodes[i];
            let b = node.machine.next_block(payload.as_bytes());
            match node.c().propose(b).await {
                // Our block lost a race with another leader's: build again on the new head.
                Ok(Applied::Skipped { .. }) => {}
                Ok(applied) => return Ok(applied),
                // The leader stepped down, stopped, or halted itself: find the next one.
                Err(
                    ConsensusError::NotLeader { .. }
                    | ConsensusError::Stopped
                    | ConsensusError::Halted(_),
                ) => {}
                Err(e) => return Err(e.into()),
            }
            if Instant::now() > deadline {
                bail!("could not commit {payload:?} within {DEADLINE:?}");
            }
        }
    }

    /// Waits until every running, non-halted node's ledger is at `height`.
    pub async fn converge(&self, height: u64) -> anyhow::Result<()> {
        eventually(&format!("all running ledgers at height {height}"), || {
            self.running()
                .filter(|(_, n)| n.c().halted().is_none())
                .all(|(_, n)| n.machine.height() == height)
        })
        .await
    }

    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        for i in 0..self.nodes.len() {
            self.stop(i).await?;
        }
        Ok(())
    }
}

async fn bind_retry(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("rebinding {addr}")),
        }
    }
}

/// Polls `f` until it holds, failing after [`DEADLINE`].
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + DEADLINE;
    while !f() {
        if Instant::now() > deadline {
            bail!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
