//! [`Ledger`]: the chain, the mempool and the rules that connect them — admission, block
//! production and the seam a consensus engine drives.

use crate::error::{is_storage, LedgerError, Result};
use crate::genesis::NodeGenesis;
use crate::mempool::Mempool;
use hanok_chain::{
    check_enrolled, check_expiry, check_may_deploy, Chain, ChainError, ChainFault, ChainParts,
    Committed, OpenReport, Proposal, ProposeFailed, Rules, TxStatus,
};
use hanok_proto::v1;
use hanok_types::{Address, CheckedTx, Hash, PublicKey, SecretKey, TxLimits};
use hanok_vm::{Precompiler, Vm, VmConfig};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// The ledger's own settings: plain data, set by whoever runs it (the node maps its
/// configuration onto this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerConfig {
    /// Where the chain (`chain/`: block log and state) and the compiled-module cache
    /// (`module-cache/`) live.
    pub data_dir: PathBuf,
    /// Most transactions in one block.
    pub max_block_txs: usize,
    /// Most transactions the mempool holds, all accounts together.
    pub mempool_capacity: usize,
    /// Most transactions one account may have waiting (this also bounds its nonce gap).
    pub mempool_per_account: usize,
    /// Most bytes of one account's transactions in one block (its first one always fits).
    pub max_block_bytes_per_account: usize,
    /// Largest encoded transaction accepted, bytes (the chain's `TxLimits::max_tx_bytes`).
    pub max_tx_bytes: usize,
    /// Gas available to one query and to an unsigned dry run.
    pub query_gas_limit: u64,
}

impl LedgerConfig {
    /// Defaults for everything but `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> LedgerConfig {
        LedgerConfig {
            data_dir: data_dir.into(),
            max_block_txs: 2_000,
            mempool_capacity: 20_000,
            mempool_per_account: 64,
            max_block_bytes_per_account: 1024 * 1024,
            max_tx_bytes: TxLimits::default().max_tx_bytes,
            query_gas_limit: 50_000_000,
        }
    }
}

/// A committed block as subscribers see it: the block and its receipts in block order.
#[derive(Debug, Clone)]
pub struct CommittedBlock {
    /// The block.
    pub block: v1::Block,
    /// Its receipts, in block order.
    pub receipts: Vec<v1::Receipt>,
}

impl CommittedBlock {
    /// The block's height.
    pub fn height(&self) -> u64 {
        self.block.header.as_ref().map_or(0, |h| h.height)
    }
}

/// Where a block's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockTimings {
    /// Checking a block from elsewhere ([`Ledger::apply_block`]): its header signature and its
    /// transactions' signatures (zero for this node's own block, checked at admission).
    pub verify: Duration,
    /// Executing its transactions and computing the state root: at proposal for this node's
    /// own block ([`Ledger::produce_block`] sets it; a consensus driver that commits a
    /// proposal later sets it itself), on re-execution for a block from elsewhere.
    pub execute: Duration,
    /// Appending it to the block log and syncing it.
    pub log: Duration,
    /// Writing state, the tree and the indexes.
    pub state: Duration,
}

/// What committing a block did.
#[derive(Debug, Clone)]
pub struct BlockCommit {
    /// The block and its receipts.
    pub block: Arc<CommittedBlock>,
    /// Waiting transactions dropped from the mempool because this block made them impossible
    /// (their nonce is used, or they expire), with the reason.
    pub evicted: Vec<(Hash, String)>,
    /// Where the time went.
    pub timings: BlockTimings,
}

/// The ledger core: one chain on disk, its mempool, and every rule about what gets in.
///
/// Thread-safe; every method blocks (locks, the VM, fsync), so async callers run them on a
/// blocking pool. Reads take the chain's read lock and run in parallel; committing a block takes
/// the write lock only for the commit itself, not for execution.
pub struct Ledger {
    chain_id: String,
    limits: TxLimits,
    rules: Rules,
    identity: Option<Address>,
    config: LedgerConfig,
    /// `None` once closed, so the data directory's lock is released even while callers still
    /// hold the `Ledger`.
    pub(crate) chain: RwLock<Option<Chain>>,
    proposer: SecretKey,
    mempool: Mutex<Mempool>,
    /// Public keys seen in genesis and committed transactions, for `did:key` in accounts.
    keys: Mutex<HashMap<Address, PublicKey>>,
    halted: Mutex<Option<String>>,
    /// Why block production is paused after a storage error that may clear (a full disk, a
    /// descriptor limit); [`Ledger::recover`] retries.
    paused: Mutex<Option<String>>,
    /// While the chain is out ([`ChainFault::Reopen`]): how to open it again, and its height
    /// before the failed commit.
    reopen: Mutex<Option<(ChainParts, u64)>>,
    /// The pause reason last logged, until a block commits again.
    pause_logged: Mutex<Option<String>>,
    /// Compiles admitted uploads ahead of their block (`precompile.rs`).
    pub(crate) precompiler: Precompiler,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ledger {
    /// Opens the chain in `config.data_dir` (committing genesis, and the bootstrap block on an
    /// empty chain), replaying what the state store lacks.
    ///
    /// # Errors
    /// [`LedgerError::Chain`] if the chain cannot be opened (e.g. another genesis);
    /// [`LedgerError::Vm`]; [`LedgerError::Bootstrap`].
    pub fn open(config: LedgerConfig, genesis: NodeGenesis) -> Result<(Ledger, OpenReport)> {
        Ledger::open_with_progress(config, genesis, &mut |_, _| {})
    }

    /// [`Ledger::open`], calling `progress(height, last)` after each block replayed from the log
    /// (so a node can say how far its replay is).
    ///
    /// # Errors
    /// As [`Ledger::open`].
    pub fn open_with_progress(
        config: LedgerConfig,
        genesis: NodeGenesis,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(Ledger, OpenReport)> {
        // The data directory's own entry must survive a crash before anything is created in it
        // (the VM's module cache would otherwise create it without syncing its parent).
        hanok_chain::create_dir_durable(&config.data_dir)?;
        let vm = Vm::new(VmConfig {
            cache_dir: Some(config.data_dir.join("module-cache")),
            ..VmConfig::default()
        })?;
        let precompiler = crate::precompile::start(&vm)?;
        let mut chain_config = genesis.chain;
        chain_config.tx_limits.max_tx_bytes = config.max_tx_bytes;
        let authority = genesis.genesis.authority;
        let (mut chain, report) = Chain::open_with_progress(
            config.data_dir.join("chain"),
            genesis.genesis,
            vm,
            chain_config,
            progress,
        )?;
        if chain.height() == 0 && !genesis.bootstrap.is_empty() {
            bootstrap(&mut chain, genesis.bootstrap, &genesis.proposer)?;
        }
        let mut keys = HashMap::new();
        keys.insert(authority.address(), authority);
        let ledger = Ledger {
            chain_id: chain.chain_id().to_string(),
            limits: chain.config().tx_limits.clone(),
            rules: chain.config().rules.clone(),
            identity: genesis.identity,
            mempool: Mutex::new(Mempool::new(
                config.mempool_capacity,
                config.mempool_per_account,
            )),
            config,
            chain: RwLock::new(Some(chain)),
            proposer: genesis.proposer,
            keys: Mutex::new(keys),
            halted: Mutex::new(None),
            paused: Mutex::new(None),
            reopen: Mutex::new(None),
            pause_logged: Mutex::new(None),
            precompiler,
        };
        Ok((ledger, report))
    }

    /// Closes the chain, releasing the data directory. Every later call answers
    /// [`LedgerError::Closed`].
    pub fn close(&self) {
        let chain = self.chain.write().unwrap_or_else(|e| e.into_inner()).take();
        drop(chain);
    }

    /// The chain id every transaction must name.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The stateless transaction bounds.
    pub fn tx_limits(&self) -> &TxLimits {
        &self.limits
    }

    /// The ledger's settings.
    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    /// The identity contract whose roles gate senders, if any.
    pub fn identity(&self) -> Option<Address> {
        self.identity
    }

    /// The key this node signs its blocks and attestations with.
    pub(crate) fn proposer_key(&self) -> &SecretKey {
        &self.proposer
    }

    /// Runs `f` on the chain under the read lock.
    pub(crate) fn with_chain<R>(&self, f: impl FnOnce(&Chain) -> Result<R>) -> Result<R> {
        let guard = self.chain.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(c) => f(c),
            None => Err(self.chain_out()),
        }
    }

    /// Why there is no chain to serve from: it is being reopened, or the ledger is closed.
    pub(crate) fn chain_out(&self) -> LedgerError {
        match (self.halted(), self.paused()) {
            (Some(reason), _) => LedgerError::Halted(reason),
            (None, Some(reason)) => LedgerError::Paused(reason),
            (None, None) => LedgerError::Closed,
        }
    }

    pub(crate) fn known_key(&self, address: &Address) -> Option<PublicKey> {
        lock(&self.keys).get(address).copied()
    }

    /// Why block production stopped, if it did.
    pub fn halted(&self) -> Option<String> {
        lock(&self.halted).clone()
    }

    /// Stops block production and admission for good (until restart), saying why.
    pub fn halt(&self, reason: String) {
        tracing::error!(%reason, "block production stopped until the node is restarted");
        *lock(&self.halted) = Some(reason);
    }

    /// Why block production is paused (a storage error that may clear), if it is. The node
    /// calls [`Self::recover`] with a backoff until it is not.
    pub fn paused(&self) -> Option<String> {
        lock(&self.paused).clone()
    }

    fn pause(&self, reason: String) {
        // Retries fail the same way for as long as the disk stays full: say it once.
        let mut logged = lock(&self.pause_logged);
        if logged.as_deref() != Some(reason.as_str()) {
            tracing::warn!(%reason, "block production paused after a storage error; retrying");
            *logged = Some(reason.clone());
        }
        *lock(&self.paused) = Some(reason);
    }

    /// Tries to resume block production after a storage error ([`Self::paused`]). If the
    /// failed commit left the chain intact (nothing reached the log), this only clears the
    /// pause, and the next block tries again. If a block reached the log but not the state
    /// store, the chain is opened again from disk, which replays that block; its commit is
    /// returned (with the mempool updated) so that its waiters and subscribers hear of it.
    ///
    /// # Errors
    /// [`LedgerError::Halted`]; the error of opening the chain (it stays paused).
    pub fn recover(&self) -> Result<Vec<BlockCommit>> {
        if let Some(reason) = self.halted() {
            return Err(LedgerError::Halted(reason));
        }
        let mut guard = self.chain.write().unwrap_or_else(|e| e.into_inner());
        if guard.is_some() {
            *lock(&self.paused) = None;
            return Ok(Vec::new());
        }
        let Some((parts, before)) = lock(&self.reopen).clone() else {
            return Err(LedgerError::Closed);
        };
        let (chain, report) = match parts.open() {
            Ok(opened) => opened,
            Err(e) => {
                self.pause(format!("reopening the chain: {e}"));
                return Err(e.into());
            }
        };
        log_open_report(&report, "reopened the chain after a storage error");
        let mut commits = Vec::new();
        for height in before.saturating_add(1)..=chain.height() {
            let block = chain.block(height)?.ok_or_else(|| {
                ChainError::Corrupt(format!("block {height} missing after replay"))
            })?;
            let mut receipts = Vec::with_capacity(block.txs.len());
            let mut hashes = Vec::with_capacity(block.txs.len());
            for tx in &block.txs {
                let hash = hanok_types::tx_hash(&tx.body, &tx.signature);
                let receipt = chain.receipt(&hash)?.ok_or_else(|| {
                    ChainError::Corrupt(format!("receipt of {hash} missing after replay"))
                })?;
                hashes.push(hash);
                receipts.push(receipt);
            }
            let evicted = lock(&self.mempool)
                .after_block(&hashes, height, |a| chain.next_nonce(a).unwrap_or(0));
            commits.push(BlockCommit {
                block: Arc::new(CommittedBlock { block, receipts }),
                evicted,
                timings: BlockTimings::default(),
            });
        }
        *guard = Some(chain);
        *lock(&self.reopen) = None;
        *lock(&self.paused) = None;
        Ok(commits)
    }

    /// After a failed commit or proposal: halts, pauses (taking the chain out when it must be
    /// reopened), and returns the transactions to the mempool unless their block is durable.
    fn after_failure(&self, guard: &mut Option<Chain>, e: &ChainError, txs: Vec<CheckedTx>) {
        let fault = guard.as_ref().and_then(Chain::fault);
        if fault != Some(ChainFault::Reopen) {
            lock(&self.mempool).restore(txs);
        }
        if let ChainError::Diverged(d) = e {
            // This node cannot reproduce a block the others hold: it must not apply any
            // later block, nor take transactions it could never commit.
            tracing::error!(
                height = d.height,
                header_state_root = %d.header_state_root,
                state_root = %d.state_root,
                header_receipts_root = %d.header_receipts_root,
                receipts_root = %d.receipts_root,
                "this node cannot reproduce a block: it stops applying blocks"
            );
            self.halt(e.to_string());
            return;
        }
        if !is_storage(e) {
            return;
        }
        match fault {
            Some(ChainFault::Restart) => self.halt(e.to_string()),
            Some(ChainFault::Reopen) => {
                // Dropped under the write lock: no reader ever sees the half-written store.
                if let Some(chain) = guard.take() {
                    *lock(&self.reopen) = Some((chain.parts(), chain.height()));
                }
                self.pause(e.to_string());
            }
            // Nothing reached the log: the chain is as it was, and the next block retries.
            None => self.pause(e.to_string()),
        }
    }

    // ---- admission -------------------------------------------------------------------------

    /// The stateless checks of a transaction: size, encoding, chain id, sender and key, low-S
    /// signature, gas and calls. CPU-bound (a signature check); run it where that is cheap.
    ///
    /// # Errors
    /// [`LedgerError::Tx`] naming the first check that failed.
    pub fn check(&self, signed: v1::SignedTx) -> Result<CheckedTx> {
        Ok(CheckedTx::check_signed(
            signed,
            &self.chain_id,
            &self.limits,
        )?)
    }

    /// Admits a checked transaction into the mempool: not committed yet, its sender enrolled
    /// (and a deployer if it uploads or instantiates), not expired at the next height, its nonce not used (a nonce ahead waits for the gap to
    /// fill). These are the block's stateful checks ([`hanok_chain::stateful_check`]) as far as
    /// they can be decided before the block; the block checks them again.
    ///
    /// # Errors
    /// [`LedgerError::Halted`]; [`LedgerError::AlreadyCommitted`]; [`LedgerError::Tx`]
    /// (not enrolled, expired); [`LedgerError::Mempool`]; [`LedgerError::Chain`] on storage
    /// failure.
    pub fn admit(&self, tx: CheckedTx) -> Result<Hash> {
        if let Some(reason) = self.halted() {
            return Err(LedgerError::Halted(reason));
        }
        if let Some(reason) = self.paused() {
            return Err(LedgerError::Paused(reason));
        }
        let hash = tx.hash();
        let (tx, chain_next) = self.with_chain(|c| {
            let next = c.next_nonce(&tx.sender())?;
            // A committed transaction used its nonce, so only one whose nonce is below the
            // account's next can be committed already: the usual submission needs no lookup
            // in the receipts index (a random read of sled per admission).
            if tx.nonce() < next {
                if let Some((height, _)) = c.tx_location(&hash)? {
                    return Err(LedgerError::AlreadyCommitted { hash, height });
                }
            }
            check_enrolled(c.backend().as_ref(), &tx, &self.rules)??;
            check_may_deploy(c.backend().as_ref(), &tx, &self.rules)??;
            check_expiry(&tx, c.height().saturating_add(1))?;
            Ok((tx, next))
        })?;
        crate::precompile::admitted(&self.precompiler, &tx);
        lock(&self.mempool).insert(tx, chain_next)?;
        Ok(hash)
    }

    /// Whether `hash` waits in the mempool or is in a block being produced.
    pub fn is_pending(&self, hash: &Hash) -> bool {
        lock(&self.mempool).contains(hash)
    }

    /// Whether a transaction is ready for the next block.
    pub fn has_ready(&self) -> bool {
        lock(&self.mempool).ready_at_least(1)
    }

    /// Transactions waiting in the mempool.
    pub fn mempool_len(&self) -> usize {
        lock(&self.mempool).len()
    }

    // ---- block production: the consensus seam ----------------------------------------------

    /// *Propose a block*: takes the ready transactions (up to `max_block_txs` and the block's
    /// gas) and executes them as the next block at `time`, signed by this node's key. Nothing
    /// is committed; `None` when nothing is ready.
    ///
    /// # Errors
    /// [`LedgerError::Halted`]; [`LedgerError::Chain`].
    pub fn propose_block(&self, time: u64) -> Result<Option<Proposal>> {
        if let Some(reason) = self.halted() {
            return Err(LedgerError::Halted(reason));
        }
        if let Some(reason) = self.paused() {
            return Err(LedgerError::Paused(reason));
        }
        let max_txs = self.config.max_block_txs.max(1);
        // A block must fit in one block-log record: a larger one could never be committed, and
        // its transactions would be retried forever.
        let txs = lock(&self.mempool).take_ready(
            max_txs,
            self.rules.max_block_gas,
            hanok_chain::MAX_BLOCK_TX_BYTES,
            self.config.max_block_bytes_per_account,
        );
        if txs.is_empty() {
            return Ok(None);
        }
        self.propose_txs(txs, time).map(Some)
    }

    fn propose_txs(&self, txs: Vec<CheckedTx>, time: u64) -> Result<Proposal> {
        let proposed = {
            let guard = self.chain.read().unwrap_or_else(|e| e.into_inner());
            let Some(chain) = guard.as_ref() else {
                lock(&self.mempool).restore(txs);
                return Err(self.chain_out());
            };
            chain.try_propose(txs, time, &self.proposer)
        };
        proposed.map_err(|failed| {
            let ProposeFailed { error, txs } = *failed;
            let mut guard = self.chain.write().unwrap_or_else(|e| e.into_inner());
            self.after_failure(&mut guard, &error, txs);
            error.into()
        })
    }

    /// Commits a block this ledger proposed ([`Self::propose_block`]) without executing it
    /// again: log first (one fsync), then state. A storage failure halts the ledger.
    ///
    /// # Errors
    /// [`LedgerError::Chain`] (the chain moved since the proposal, or storage failed).
    pub fn commit_proposal(&self, mut proposal: Proposal) -> Result<BlockCommit> {
        let senders = proposal.senders().to_vec();
        let txs = proposal.take_txs();
        self.commit_with(senders, txs, |chain| chain.commit_proposal(proposal))
    }

    /// Gives a proposal up without committing it (consensus did not order it, or ordered
    /// another block first): its transactions go back to the mempool.
    pub fn abandon(&self, mut proposal: Proposal) {
        lock(&self.mempool).restore(proposal.take_txs());
    }

    /// Takes every ready transaction out of the mempool, for a node that is not the one
    /// proposing blocks to hand them to the one that is.
    pub fn drain_ready(&self) -> Vec<v1::SignedTx> {
        let txs = lock(&self.mempool).take_ready(usize::MAX, u64::MAX, usize::MAX, usize::MAX);
        txs.into_iter().map(CheckedTx::into_signed).collect()
    }

    /// *Apply an ordered block* from elsewhere (a consensus engine, a peer): every transaction is
    /// checked, the header verified, the block re-executed and its results compared with the
    /// header; then it is committed as [`Self::commit_proposal`] does. A block that does not
    /// reproduce is refused and changes nothing.
    ///
    /// # Errors
    /// [`LedgerError::Chain`]: `InvalidBlock` / `InvalidTx` for a block that does not apply;
    /// `Diverged` when re-executing it gives other results than its header states (which
    /// halts the ledger: it never applies a block it cannot reproduce); a storage failure.
    pub fn apply_block(&self, block: v1::Block) -> Result<BlockCommit> {
        let senders = block
            .txs
            .iter()
            .filter_map(|t| {
                let body = <v1::TxBody as prost::Message>::decode(t.body.as_slice()).ok()?;
                let key = PublicKey::from_compressed(&body.sender_pubkey)?;
                Some((key.address(), key))
            })
            .collect();
        let vm = self.with_chain(|c| Ok(c.vm().clone()))?;
        crate::precompile::block_uploads(&vm, &block);
        self.commit_with(senders, Vec::new(), |chain| chain.commit(block))
    }

    /// Proposes and commits the next block from the mempool; `None` when nothing is ready.
    ///
    /// # Errors
    /// As [`Self::propose_block`] and [`Self::commit_proposal`].
    pub fn produce_block(&self, time: u64) -> Result<Option<BlockCommit>> {
        let started = Instant::now();
        let Some(proposal) = self.propose_block(time)? else {
            return Ok(None);
        };
        let execute = started.elapsed();
        let mut commit = self.commit_proposal(proposal)?;
        commit.timings.execute = execute;
        Ok(Some(commit))
    }

    /// Commits with `commit` under the write lock. `txs` are the block's transactions taken
    /// from this ledger's mempool (none for a block from elsewhere): a failed commit returns
    /// them to it, unless the block is durable and will be replayed.
    fn commit_with(
        &self,
        senders: Vec<(Address, PublicKey)>,
        txs: Vec<CheckedTx>,
        commit: impl FnOnce(&mut Chain) -> Result<Committed, ChainError>,
    ) -> Result<BlockCommit> {
        let refused = self
            .halted()
            .map(LedgerError::Halted)
            .or_else(|| self.paused().map(LedgerError::Paused));
        if let Some(e) = refused {
            lock(&self.mempool).restore(txs);
            return Err(e);
        }
        let committed = {
            let mut guard = self.chain.write().unwrap_or_else(|e| e.into_inner());
            let Some(chain) = guard.as_mut() else {
                lock(&self.mempool).restore(txs);
                return Err(self.chain_out());
            };
            match commit(chain) {
                Ok(c) => c,
                Err(e) => {
                    self.after_failure(&mut guard, &e, txs);
                    return Err(e.into());
                }
            }
        };
        lock(&self.keys).extend(senders);
        lock(&self.pause_logged).take();
        let hashes: Vec<Hash> = committed.receipts.iter().map(|r| r.tx_hash).collect();
        let evicted = {
            let guard = self.chain.read().unwrap_or_else(|e| e.into_inner());
            lock(&self.mempool).after_block(&hashes, committed.height, |a| {
                guard
                    .as_ref()
                    .and_then(|c| c.next_nonce(a).ok())
                    .unwrap_or(0)
            })
        };
        let timings = BlockTimings {
            verify: committed.verify_time,
            execute: committed.execute_time,
            log: committed.log_time,
            state: committed.state_time,
        };
        Ok(BlockCommit {
            block: Arc::new(CommittedBlock {
                block: committed.block,
                receipts: committed.receipt_protos,
            }),
            evicted,
            timings,
        })
    }
}

/// Commits `txs` as block 1 of a new chain, at the genesis time; every one must succeed.
fn bootstrap(chain: &mut Chain, txs: Vec<v1::SignedTx>, proposer: &SecretKey) -> Result<()> {
    let limits = chain.config().tx_limits.clone();
    let txs = txs
        .into_iter()
        .map(|t| CheckedTx::check_signed(t, chain.chain_id(), &limits))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| LedgerError::Bootstrap(e.to_string()))?;
    let time = chain.genesis().time;
    let proposal = chain.propose(txs, time, proposer)?;
    if let Some(bad) = proposal
        .output()
        .receipts
        .iter()
        .find(|r| r.status != TxStatus::Ok)
    {
        return Err(LedgerError::Bootstrap(format!(
            "transaction {} failed: {}",
            bad.tx_hash,
            bad.error.clone().unwrap_or_default()
        )));
    }
    chain.commit_proposal(proposal)?;
    tracing::info!("bootstrap block 1 committed");
    Ok(())
}

/// Logs what opening the chain found and did (`what` is the headline: "chain opened", or the
/// reopening after a storage error): its height and replay, and a warning for each repair an
/// operator should know of — a converted log, a rebuilt state database, a cut incomplete record.
pub fn log_open_report(report: &OpenReport, what: &str) {
    tracing::info!(
        height = report.height,
        replayed = report.replayed,
        truncated_bytes = report.truncated_bytes,
        "{what}"
    );
    if let Some(kept) = &report.migrated_log {
        tracing::warn!(
            kept = %kept.display(),
            "converted the block log to the current format; the original is kept beside it \
             (delete it once the node runs)"
        );
    }
    if let Some(rebuilt) = &report.rebuilt {
        match &rebuilt.moved_to {
            Some(moved) => tracing::warn!(
                reason = %rebuilt.reason,
                moved_to = %moved.display(),
                replayed = report.replayed,
                "the state database was damaged: moved it aside and rebuilt it from the block \
                 log (delete the moved directory once you no longer need it for diagnosis)"
            ),
            None => tracing::warn!(
                reason = %rebuilt.reason,
                replayed = report.replayed,
                "the state database was in an older layout: rebuilt it from the block log"
            ),
        }
    }
    if let Some(tree) = &report.tree_recovery {
        tracing::warn!(
            what = %tree,
            "repaired the state tree's node file (derived data: cut back to its last good \
             record, or rebuilt from the state's values; nothing committed is lost)"
        );
    }
    if let Some(torn) = &report.torn {
        // A crash mid-append: the record was never complete, so its fsync never returned and
        // no client heard "committed" (the log is synced before any receipt goes out).
        tracing::warn!(
            offset = torn.offset,
            truncated_bytes = report.truncated_bytes,
            height = report.height,
            reason = %torn.reason,
            "cut an incomplete last record from the block log (a crash while it was being \
             written; it was never acknowledged)"
        );
    }
}
