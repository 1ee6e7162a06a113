//! The running node: shared state, the block producer, start and shutdown.

use crate::config::NodeConfig;
use crate::error::{Error, Result};
use crate::mempool::Mempool;
use crate::status;
use hanok_chain::{Admission, Chain, ChainConfig, ChainError, Genesis};
use hanok_proto::v1;
use hanok_types::{Address, CheckedTx, Hash, PublicKey, SecretKey, TxLimits};
use hanok_vm::{Vm, VmConfig};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, oneshot, watch, Notify};
use tonic::Status;

/// What a node starts from: the chain's genesis, its rules, the key that signs its blocks, and
/// transactions to commit as block 1 on an empty chain (see [`crate::dev::dev_genesis`]).
#[derive(Debug, Clone)]
pub struct NodeGenesis {
    /// Block 0.
    pub genesis: Genesis,
    /// Chain rules (admission, block gas, allowed proposers).
    pub chain: ChainConfig,
    /// The key this node signs blocks with.
    pub proposer: SecretKey,
    /// Signed transactions committed as block 1 when the chain is empty, at the genesis time.
    pub bootstrap: Vec<v1::SignedTx>,
}

/// A committed block as subscribers see it.
#[derive(Debug, Clone)]
pub struct CommittedBlock {
    /// The block.
    pub block: v1::Block,
    /// Its receipts, in block order.
    pub receipts: Vec<v1::Receipt>,
}

type Waiter = oneshot::Sender<Result<v1::Receipt, Status>>;
type ProofReply = oneshot::Sender<Result<ProofAnswer, Status>>;

/// A state value, its proof, and the header whose `state_root` it is against.
#[derive(Debug)]
pub(crate) struct ProofAnswer {
    pub value: Option<Vec<u8>>,
    pub proof: Vec<u8>,
    pub header: v1::BlockHeader,
}

/// Everything the services and the producer share.
pub(crate) struct Shared {
    pub config: NodeConfig,
    pub chain_id: String,
    pub limits: TxLimits,
    pub admission: Arc<dyn Admission>,
    pub identity: Option<Address>,
    /// `None` once the node has shut down (so the sled lock is released even if a stream task
    /// still holds this struct).
    chain: RwLock<Option<Chain>>,
    proposer: SecretKey,
    pub mempool: Mutex<Mempool>,
    waiters: Mutex<HashMap<Hash, Vec<Waiter>>>,
    proofs: Mutex<Vec<(Vec<u8>, ProofReply)>>,
    /// Public keys seen in genesis and committed transactions, for `did:key` in GetAccount.
    pub keys: Mutex<HashMap<Address, PublicKey>>,
    pub wake: Notify,
    pub blocks: broadcast::Sender<Arc<CommittedBlock>>,
    halted: Mutex<Option<String>>,
    pub shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn is_storage(e: &ChainError) -> bool {
    matches!(
        e,
        ChainError::Store(_)
            | ChainError::State(_)
            | ChainError::Io { .. }
            | ChainError::Corrupt(_)
    )
}

impl Shared {
    /// Runs `f` on the chain under the read lock. Call from a blocking thread.
    pub fn read<R>(&self, f: impl FnOnce(&Chain) -> Result<R, Status>) -> Result<R, Status> {
        let guard = self.chain.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(c) => f(c),
            None => Err(Status::unavailable("the node is shutting down")),
        }
    }

    /// As [`Self::read`], on the blocking pool.
    pub async fn read_blocking<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Chain) -> Result<R, Status> + Send + 'static,
    ) -> Result<R, Status> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || s.read(f))
            .await
            .map_err(|e| status::task(&e))?
    }

    /// Why block production stopped, if it did.
    pub fn halted(&self) -> Option<String> {
        lock(&self.halted).clone()
    }

    /// Registers interest in `hash`'s receipt.
    pub fn add_waiter(&self, hash: Hash) -> oneshot::Receiver<Result<v1::Receipt, Status>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).entry(hash).or_default().push(tx);
        rx
    }

    /// Forgets the waiters of `hash` (its submission was refused).
    pub fn drop_waiters(&self, hash: &Hash) {
        lock(&self.waiters).remove(hash);
    }

    fn answer(&self, hash: &Hash, r: Result<v1::Receipt, Status>) {
        if let Some(ws) = lock(&self.waiters).remove(hash) {
            for w in ws {
                let _ = w.send(r.clone());
            }
        }
    }

    /// Queues a proof request for the producer (used when the last header does not commit to
    /// the current state) and wakes it.
    pub fn request_proof(&self, key: Vec<u8>) -> oneshot::Receiver<Result<ProofAnswer, Status>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.proofs).push((key, tx));
        self.wake.notify_one();
        rx
    }

    fn halt(&self, reason: String) {
        tracing::error!(%reason, "block production stopped");
        *lock(&self.halted) = Some(reason.clone());
        let waiters: Vec<Waiter> = lock(&self.waiters).drain().flat_map(|(_, w)| w).collect();
        for w in waiters {
            let _ = w.send(Err(status::halted(&reason)));
        }
        for (_, reply) in lock(&self.proofs).drain(..) {
            let _ = reply.send(Err(status::halted(&reason)));
        }
    }

    /// Proposes and commits one block of `txs` (blocking: runs the VM and the fsync), then
    /// answers pending proof requests while nothing else can commit.
    fn produce_block(
        &self,
        txs: Vec<CheckedTx>,
        proofs: Vec<(Vec<u8>, ProofReply)>,
    ) -> Result<Vec<Arc<CommittedBlock>>, ChainError> {
        let mut out = Vec::new();
        if !txs.is_empty() {
            out.push(self.commit_txs(txs, now_secs())?);
        }
        if !proofs.is_empty() {
            // A header's state_root is the root *before* its block, so a proof of the current
            // state needs a header committing to it: seal an empty block when the last one
            // changed state. Only this thread commits, so nothing moves in between.
            let sealed = self.read_chain(|c| Ok(c.last_header().state_root == c.state_root().0))?;
            if !sealed {
                out.push(self.commit_txs(Vec::new(), now_secs())?);
            }
            for (key, reply) in proofs {
                let answer = self.read_chain(|c| {
                    let (value, proof) = c.get_with_proof(&key)?;
                    Ok(ProofAnswer {
                        value,
                        proof: proof.to_bytes(),
                        header: c.last_header().clone(),
                    })
                });
                let _ = reply.send(answer.map_err(|e| status::chain(&e)));
            }
        }
        Ok(out)
    }

    fn read_chain<R>(
        &self,
        f: impl FnOnce(&Chain) -> Result<R, ChainError>,
    ) -> Result<R, ChainError> {
        let guard = self.chain.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(c) => f(c),
            None => Err(ChainError::Corrupt("the node is shutting down".into())),
        }
    }

    fn commit_txs(
        &self,
        txs: Vec<CheckedTx>,
        time: u64,
    ) -> Result<Arc<CommittedBlock>, ChainError> {
        let senders: Vec<(Address, PublicKey)> =
            txs.iter().map(|t| (t.sender(), *t.pubkey())).collect();
        let started = std::time::Instant::now();
        let proposal = self.read_chain(|c| c.propose(txs, time, &self.proposer))?;
        let execute_time = started.elapsed();
        let committed = {
            let mut guard = self.chain.write().unwrap_or_else(|e| e.into_inner());
            let chain = guard
                .as_mut()
                .ok_or_else(|| ChainError::Corrupt("the node is shutting down".into()))?;
            chain.commit_proposal(proposal)?
        };
        lock(&self.keys).extend(senders);
        tracing::debug!(
            height = committed.height,
            txs = committed.receipts.len(),
            execute_ms = execute_time.as_secs_f64() * 1e3,
            log_ms = committed.log_time.as_secs_f64() * 1e3,
            state_ms = committed.state_time.as_secs_f64() * 1e3,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            "block committed"
        );
        let hashes: Vec<Hash> = committed.receipts.iter().map(|r| r.tx_hash).collect();
        let evicted = {
            let guard = self.chain.read().unwrap_or_else(|e| e.into_inner());
            let mut pool = lock(&self.mempool);
            pool.after_block(&hashes, committed.height, |a| {
                guard
                    .as_ref()
                    .and_then(|c| c.next_nonce(a).ok())
                    .unwrap_or(0)
            })
        };
        // The receipts' protos were made once by the chain; each waiter gets its own copy, and
        // a receipt nobody waits for is not copied at all.
        let waiting: Vec<(Vec<Waiter>, &v1::Receipt)> = {
            let mut waiters = lock(&self.waiters);
            committed
                .receipts
                .iter()
                .zip(&committed.receipt_protos)
                .filter_map(|(r, proto)| waiters.remove(&r.tx_hash).map(|ws| (ws, proto)))
                .collect()
        };
        for (ws, proto) in waiting {
            for w in ws {
                let _ = w.send(Ok(proto.clone()));
            }
        }
        for (hash, why) in evicted {
            self.answer(&hash, Err(status::evicted(&hash, &why)));
        }
        Ok(Arc::new(CommittedBlock {
            block: committed.block,
            receipts: committed.receipt_protos,
        }))
    }
}

/// The producer: one task, so blocks are produced one at a time. It sleeps until a transaction
/// is admitted or a proof is requested (both notify `wake`), then starts a block as soon as the
/// block interval since the previous block's start has passed: under light load a transaction
/// waits at most one interval, and under heavy load each block takes what arrived while the
/// previous one was produced (group commit: one fsync for all of them). The VM and the fsync
/// run on the blocking pool (a `Session` is `!Send` and never crosses an await).
async fn producer(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let spacing = shared.config.block_interval();
    let max_txs = shared.config.max_block_txs.max(1);
    let max_gas = shared.admission_gas();
    let mut last_start: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = shutdown.changed() => break,
        }
        if let Some(next) = last_start.map(|t| t + spacing) {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.changed() => break,
            }
        }
        if shared.halted().is_some() {
            continue;
        }
        let txs = lock(&shared.mempool).take_ready(max_txs, max_gas);
        let proofs: Vec<_> = lock(&shared.proofs).drain(..).collect();
        if txs.is_empty() && proofs.is_empty() {
            continue;
        }
        last_start = Some(tokio::time::Instant::now());
        let s = shared.clone();
        let result = tokio::task::spawn_blocking(move || s.produce_block(txs, proofs)).await;
        match result {
            Ok(Ok(blocks)) => {
                for b in blocks {
                    let _ = shared.blocks.send(b);
                }
            }
            Ok(Err(e)) if is_storage(&e) => shared.halt(e.to_string()),
            Ok(Err(e)) => {
                // Not a storage failure: a bug (the chain refused our own proposal). Keep the
                // node up; the taken transactions' waiters time out and may resubmit.
                tracing::error!(error = %e, "block proposal failed");
            }
            Err(e) => shared.halt(format!("block producer task failed: {e}")),
        }
        // Whatever arrived meanwhile (or did not fit) goes into the next block.
        if lock(&shared.mempool).ready_at_least(1) {
            shared.wake.notify_one();
        }
    }
}

impl Shared {
    fn admission_gas(&self) -> u64 {
        self.read(|c| Ok(c.config().rules.max_block_gas))
            .unwrap_or(u64::MAX)
    }
}

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    /// The address the gRPC server listens on (the real port when configured with port 0).
    pub local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    producer: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl NodeHandle {
    /// Stops accepting requests, lets in-flight ones and the block being produced finish,
    /// then closes the chain (releasing the data directory).
    ///
    /// # Errors
    /// [`Error::Transport`] if the server failed; [`Error::Task`] if a task panicked.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        let served = self.server.await.map_err(|e| Error::Task(e.to_string()))?;
        self.producer
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        let shared = self.shared;
        tokio::task::spawn_blocking(move || {
            let chain = shared
                .chain
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            drop(chain);
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
        tracing::info!("node stopped");
        Ok(served?)
    }
}

fn open_chain(config: &NodeConfig, genesis: NodeGenesis) -> Result<(Chain, SecretKey)> {
    let vm = Vm::new(VmConfig {
        cache_dir: Some(config.data_dir.join("module-cache")),
        ..VmConfig::default()
    })?;
    let mut chain_config = genesis.chain;
    chain_config.tx_limits.max_tx_bytes = config.max_tx_bytes;
    let (mut chain, report) = Chain::open(
        config.data_dir.join("chain"),
        genesis.genesis,
        vm,
        chain_config,
    )?;
    tracing::info!(
        height = report.height,
        replayed = report.replayed,
        truncated_bytes = report.truncated_bytes,
        "chain opened"
    );
    if report.rebuilt_state {
        tracing::warn!(
            replayed = report.replayed,
            "the state database was in an older format; rebuilt it from the block log"
        );
    }
    if report.truncated_bytes > 0 {
        // A crash mid-append: the cut record was never reported committed (the log is synced
        // before any receipt goes out), but an operator should know it happened.
        tracing::warn!(
            truncated_bytes = report.truncated_bytes,
            height = report.height,
            "cut a torn record from the end of the block log"
        );
    }
    if chain.height() == 0 && !genesis.bootstrap.is_empty() {
        let limits = chain.config().tx_limits.clone();
        let txs = genesis
            .bootstrap
            .into_iter()
            .map(|t| CheckedTx::check_signed(t, chain.chain_id(), &limits))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Bootstrap(e.to_string()))?;
        let time = chain.genesis().time;
        let proposal = chain.propose(txs, time, &genesis.proposer)?;
        if let Some(bad) = proposal
            .output()
            .receipts
            .iter()
            .find(|r| r.status != hanok_chain::TxStatus::Ok)
        {
            return Err(Error::Bootstrap(format!(
                "transaction {} failed: {}",
                bad.tx_hash,
                bad.error.clone().unwrap_or_default()
            )));
        }
        chain.commit_proposal(proposal)?;
        tracing::info!("bootstrap block 1 committed");
    }
    Ok((chain, genesis.proposer))
}

/// Opens the chain in `config.data_dir` (committing genesis and the bootstrap block on first
/// start), starts the block producer and the gRPC server, and returns once it listens.
///
/// # Errors
/// [`Error::Chain`] if the chain cannot be opened (e.g. another genesis);
/// [`Error::Listen`] if the address cannot be bound; [`Error::Vm`]; [`Error::Bootstrap`].
pub async fn start(config: NodeConfig, genesis: NodeGenesis) -> Result<NodeHandle> {
    if genesis.genesis.chain_id != config.chain_id {
        return Err(Error::Config {
            path: "<config>".into(),
            reason: format!(
                "chain_id `{}` differs from the genesis chain id `{}`",
                config.chain_id, genesis.genesis.chain_id
            ),
        });
    }
    let identity = genesis
        .genesis
        .contracts
        .iter()
        .any(|c| c.label == "identity")
        .then(|| genesis.genesis.contract_address("identity"));
    let mut keys = HashMap::new();
    keys.insert(
        genesis.genesis.authority.address(),
        genesis.genesis.authority,
    );
    let admission = genesis.chain.rules.admission.clone();
    let cfg = config.clone();
    let (chain, proposer) = tokio::task::spawn_blocking(move || open_chain(&cfg, genesis))
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
    let chain_id = chain.chain_id().to_string();
    let limits = chain.config().tx_limits.clone();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| Error::Listen {
        addr: config.listen,
        source,
    })?;
    let (stop, shutdown) = watch::channel(false);
    let (blocks, _) = broadcast::channel(256);
    let shared = Arc::new(Shared {
        mempool: Mutex::new(Mempool::new(
            config.mempool_capacity,
            config.mempool_per_account,
        )),
        config,
        chain_id,
        limits,
        admission,
        identity,
        chain: RwLock::new(Some(chain)),
        proposer,
        waiters: Mutex::new(HashMap::new()),
        proofs: Mutex::new(Vec::new()),
        keys: Mutex::new(keys),
        wake: Notify::new(),
        blocks,
        halted: Mutex::new(None),
        shutdown: shutdown.clone(),
    });
    let producer = tokio::spawn(producer(shared.clone(), shutdown.clone()));
    let server = crate::services::serve(shared.clone(), listener, shutdown).await;
    tracing::info!(%local_addr, chain_id = %shared.chain_id, "node listening");
    Ok(NodeHandle {
        local_addr,
        stop,
        server,
        producer,
        shared,
    })
}

/// Runs a node until `shutdown` completes, then stops it gracefully.
///
/// # Errors
/// As [`start`] and [`NodeHandle::shutdown`].
pub async fn serve(
    config: NodeConfig,
    genesis: NodeGenesis,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let handle = start(config, genesis).await?;
    shutdown.await;
    handle.shutdown().await
}
