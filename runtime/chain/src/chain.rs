//! [`Chain`]: the block log, the state store and the VM wired together — open, propose, commit.

use crate::error::{AheadOfLog, ChainError, Divergence, Result};
use crate::exec::{
    execute_block, receipts_root, tx_root, BlockOutput, EncodedReceipts, Receipt, Rules,
};
use crate::genesis::{genesis_writes, Genesis};
use crate::{account, AllowAll, StoreBackend};
use hanok_proto::v1;
use hanok_storage::{
    create_dir_durable, height_key, sync_parent_dir, BlockLog, Index, IndexWrite, PreparedState,
    Proof, StateStore, TornTail,
};
use hanok_types::{Address, CheckedTx, Hash, PublicKey, SecretKey, TxLimits};
use hanok_vm::{Backend, BlockEnv, CallError, Vm};
use prost::Message;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Rules of a chain that every node must share.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Stateless transaction bounds.
    pub tx_limits: TxLimits,
    /// Block execution rules (admission, block gas).
    pub rules: Rules,
    /// Keys allowed to sign blocks; `None` accepts any correctly signed block (ordering is then
    /// someone else's job, e.g. a consensus engine).
    pub proposers: Option<Vec<PublicKey>>,
    /// TEST ONLY: from this height on, re-executing a block from elsewhere writes one extra
    /// state key, so this node's results differ from everyone else's (how the tests make a
    /// consortium member diverge). Only the perturbed node is affected: it refuses the block
    /// and halts. Never set it otherwise.
    #[doc(hidden)]
    pub perturb_from_height: Option<u64>,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            tx_limits: TxLimits::default(),
            rules: Rules {
                admission: Arc::new(AllowAll),
                max_block_gas: 10_000_000_000,
                membership: None,
            },
            proposers: None,
            perturb_from_height: None,
        }
    }
}

/// What [`Chain::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Bytes of an incomplete last log record cut off (0 if none).
    pub truncated_bytes: u64,
    /// The incomplete last record that was cut: a crash while it was being appended, before
    /// its fsync returned, so no client was told about it.
    pub torn: Option<TornTail>,
    /// Blocks replayed from the log into the state store.
    pub replayed: u64,
    /// Height of the last committed block.
    pub height: u64,
    /// The state store was rebuilt from the log, and why.
    pub rebuilt: Option<StateRebuild>,
    /// What opening found wrong with the state tree's node file (derived data, beside sled)
    /// and did about it: records cut after the tree, or the file rebuilt from the state's
    /// values.
    pub tree_recovery: Option<String>,
    /// The block log was in format version 1 and was converted; the original is kept here.
    pub migrated_log: Option<PathBuf>,
}

/// Why [`Chain::open`] rebuilt the state store from the block log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRebuild {
    /// What was wrong with it.
    pub reason: String,
    /// Where the old directory was moved (`None`: it was in an older layout and deleted).
    pub moved_to: Option<PathBuf>,
}

/// A committed block.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// Its height.
    pub height: u64,
    /// sha256 of its header encoding.
    pub block_hash: Hash,
    /// The state root after it, which its own header carries.
    pub state_root: Hash,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
    /// Time spent checking a block from elsewhere: its header signature and every transaction's
    /// signature and bounds (zero for a block this chain proposed, checked at admission).
    pub verify_time: std::time::Duration,
    /// Time spent re-executing a block from elsewhere and computing its state root (zero for a
    /// block this chain proposed: [`Chain::propose`] executed it).
    pub execute_time: std::time::Duration,
    /// Time spent appending the block to the log and syncing it (zero on replay).
    pub log_time: std::time::Duration,
    /// Time spent writing state, the tree and the indexes.
    pub state_time: std::time::Duration,
    /// The block itself, as appended to the log.
    pub block: v1::Block,
    /// `receipts` in their protobuf form ([`Receipt::to_proto`]), as stored in the receipts
    /// index and served.
    pub receipt_protos: Vec<v1::Receipt>,
}

// The protobuf messages have no float fields, so their `PartialEq` is an equivalence.
impl Eq for Committed {}

/// A block built and executed by [`Chain::propose`], ready for [`Chain::commit_proposal`]
/// without executing it again.
#[derive(Debug, Clone)]
pub struct Proposal {
    block: v1::Block,
    output: BlockOutput,
    receipts: EncodedReceipts,
    senders: Vec<(Address, PublicKey)>,
    /// Its state changes with the root after them (the header's `state_root`), ready to write.
    prepared: PreparedState,
    /// The checked transactions the block holds, so a proposer whose commit fails before the
    /// block is durable can put them back in its mempool.
    txs: Vec<CheckedTx>,
}

impl Proposal {
    /// Takes the checked transactions out (the block keeps its signed copies): what a proposer
    /// returns to its mempool if the commit fails before the block is in the log.
    pub fn take_txs(&mut self) -> Vec<CheckedTx> {
        std::mem::take(&mut self.txs)
    }

    /// The signed block.
    pub fn block(&self) -> &v1::Block {
        &self.block
    }
    /// What executing it produced.
    pub fn output(&self) -> &BlockOutput {
        &self.output
    }
    /// Each transaction's sender and public key, in block order.
    pub fn senders(&self) -> &[(Address, PublicKey)] {
        &self.senders
    }
}

/// sha256 of a header's protobuf encoding: the block hash, and what the proposer signs.
pub fn header_hash(header: &v1::BlockHeader) -> Hash {
    Hash::sha256(&header.encode_to_vec())
}

/// The chain on disk: the block log (truth), the state store (derived) and the VM.
///
/// Blocks are committed log first (one fsync), then state and indexes in the store; on open,
/// log blocks the store has not applied are replayed.
pub struct Chain {
    dir: PathBuf,
    vm: Vm,
    genesis: Genesis,
    config: ChainConfig,
    log: BlockLog,
    store: Arc<RwLock<StateStore>>,
    last: v1::BlockHeader,
    last_hash: Hash,
    /// A block reached the log but not the state store: see [`ChainFault::Reopen`].
    not_applied: bool,
}

/// Why a [`Chain`] cannot go on after a failed commit ([`Chain::fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainFault {
    /// A block is durable in the log but writing its state failed. The state store may hold
    /// part of that write in memory and refuses more (sled's I/O errors are sticky), so this
    /// `Chain` must be dropped and the chain opened again ([`ChainParts::open`]), which replays
    /// the block from the log.
    Reopen,
    /// The log's fsync failed: whether the last record is on disk is unknown, and the page
    /// cache may show bytes the disk does not hold, so even reopening in this process could
    /// trust them. Only a restart of the node (after checking the disk) may go on.
    Restart,
}

/// A failed [`Chain::try_propose`]: why, and the transactions, handed back.
#[derive(Debug)]
pub struct ProposeFailed {
    /// Why the block could not be built.
    pub error: ChainError,
    /// The transactions it was given.
    pub txs: Vec<CheckedTx>,
}

/// What it takes to open a chain again in the same process: its directory, genesis, VM and
/// rules ([`Chain::parts`]).
#[derive(Clone)]
pub struct ChainParts {
    dir: PathBuf,
    genesis: Genesis,
    vm: Vm,
    config: ChainConfig,
}

impl std::fmt::Debug for ChainParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainParts")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ChainParts {
    /// [`Chain::open`] on the same directory with the same genesis, VM and rules.
    ///
    /// # Errors
    /// As [`Chain::open`].
    pub fn open(&self) -> Result<(Chain, OpenReport)> {
        Chain::open(
            &self.dir,
            self.genesis.clone(),
            self.vm.clone(),
            self.config.clone(),
        )
    }
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("chain_id", &self.genesis.chain_id)
            .field("height", &self.last.height)
            .finish_non_exhaustive()
    }
}

fn decode_block(height: u64, bytes: Option<Vec<u8>>) -> Result<v1::Block> {
    let bytes =
        bytes.ok_or_else(|| ChainError::Corrupt(format!("block {height} missing from the log")))?;
    v1::Block::decode(bytes.as_slice())
        .map_err(|e| ChainError::Corrupt(format!("block {height} in the log does not decode: {e}")))
}

fn invalid(height: u64, reason: impl Into<String>) -> ChainError {
    ChainError::InvalidBlock {
        height,
        reason: reason.into(),
    }
}

impl Chain {
    /// Opens the chain in `dir` (creating it and committing genesis block 0 if empty), checks
    /// that nothing derived from the log is ahead of it, cuts an incomplete last log record,
    /// and replays log blocks the state store has not applied.
    ///
    /// Nothing on disk changes before those checks pass, except a damaged state store, which
    /// is moved aside (`state.damaged-<unix time>`) and rebuilt by replay; a state store in an
    /// older layout is deleted and rebuilt likewise.
    ///
    /// # Errors
    /// [`ChainError::StateAheadOfLog`] if the store applied blocks the log lacks (the log lost
    /// acknowledged blocks); [`ChainError::StateMismatch`] if it applied another block at the
    /// same height; [`ChainError::Store`] for a damaged log record
    /// ([`hanok_storage::Error::DamagedRecord`]) and other storage failures;
    /// [`ChainError::GenesisMismatch`]; any error of replaying a block.
    pub fn open(
        dir: impl AsRef<Path>,
        genesis: Genesis,
        vm: Vm,
        config: ChainConfig,
    ) -> Result<(Chain, OpenReport)> {
        Chain::open_with_progress(dir, genesis, vm, config, &mut |_, _| {})
    }

    /// [`Chain::open`], calling `progress(height, last)` after each block it replays, so a
    /// long replay can be reported while it runs.
    ///
    /// # Errors
    /// As [`Chain::open`].
    pub fn open_with_progress(
        dir: impl AsRef<Path>,
        genesis: Genesis,
        vm: Vm,
        config: ChainConfig,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(Chain, OpenReport)> {
        let mut config = config;
        // A chain with a proposer set is a consortium: its genesis authority may add members.
        config.rules.membership =
            config
                .proposers
                .as_ref()
                .map(|founders| crate::members::Membership {
                    authority: genesis.authority.address(),
                    founders: founders.clone(),
                });
        let dir = dir.as_ref();
        create_dir_durable(dir)?;
        let log_path = dir.join("blocks.log");
        let (mut log, recovery) = BlockLog::open(&log_path)?;
        let state_dir = dir.join("state");
        let log_last = log.last_height();
        let (store, rebuilt) = open_store(&state_dir, |applied| {
            check_not_ahead(applied, &log, &state_dir)
        })?;
        let applied = store.applied_height();
        check_not_ahead(applied, &log, &state_dir)?;
        if log.first_height().is_some_and(|f| f != 0) {
            return Err(ChainError::Corrupt(
                "the block log does not start at genesis (height 0)".into(),
            ));
        }
        if let Some(a) = applied {
            // The store must have applied the very block the log holds at that height.
            let hash = header_hash(&decode_block(a, log.read(a)?)?.header.unwrap_or_default());
            if store.index_get(Index::BlocksByHash, &hash.0)? != Some(height_key(a).to_vec()) {
                return Err(ChainError::StateMismatch {
                    height: a,
                    log: log_path,
                    state: state_dir,
                });
            }
        }
        // Only now, with nothing derived from it ahead of the log, may the torn record go.
        let truncated_bytes = log.cut_torn_tail()?;
        if log_last.is_none() {
            // Block 0's header commits to the state genesis sets up, like every header.
            let effects = genesis_writes(&vm, &genesis)?;
            let root = store.prepare_block(0, &effects.writes)?.root();
            log.append(0, &genesis_block(&genesis, root).encode_to_vec())?;
        }
        let block0 = decode_block(0, log.read(0)?)?;
        let header0 = block0.header.unwrap_or_default();
        if header0.prev_hash != genesis.hash().0 {
            return Err(ChainError::GenesisMismatch {
                expected: genesis.hash().to_hex(),
                found: hex::encode(&header0.prev_hash),
            });
        }
        let last = match applied {
            Some(a) => decode_block(a, log.read(a)?)?.header.unwrap_or_default(),
            None => header0,
        };
        let tree_recovery = store.tree_recovery().map(str::to_owned);
        let mut chain = Chain {
            dir: dir.to_path_buf(),
            not_applied: false,
            vm,
            genesis,
            config,
            log,
            store: Arc::new(RwLock::new(store)),
            last_hash: header_hash(&last),
            last,
        };
        let start = applied.map_or(0, |a| a.saturating_add(1));
        let end = chain.log.last_height().unwrap_or(0);
        let mut replayed = 0u64;
        for h in start..=end {
            let block = decode_block(h, chain.log.read(h)?)?;
            if h == 0 {
                chain.apply_genesis(&block)?;
            } else {
                chain.apply(block, false)?;
            }
            replayed = replayed.saturating_add(1);
            progress(h, end);
        }
        let report = OpenReport {
            truncated_bytes,
            torn: recovery.torn,
            replayed,
            height: chain.last.height,
            rebuilt,
            tree_recovery,
            migrated_log: recovery.migrated_from,
        };
        Ok((chain, report))
    }

    fn apply_genesis(&mut self, block: &v1::Block) -> Result<()> {
        let effects = genesis_writes(&self.vm, &self.genesis)?;
        let header = block.header.clone().unwrap_or_default();
        let hash = header_hash(&header);
        let prepared = self.store().prepare_block(0, &effects.writes)?;
        if header.state_root != prepared.root().0 {
            if header.state_root.iter().all(|b| *b == 0) {
                return Err(ChainError::Corrupt(format!(
                    "the block log {} was written by an older hanok whose block headers \
                     committed to the state before their block; this version's headers commit \
                     to the state after it and cannot replay that log. Start this genesis in a \
                     new data directory",
                    self.dir.join("blocks.log").display()
                )));
            }
            return Err(ChainError::Diverged(Box::new(Divergence {
                height: 0,
                header_gas_used: 0,
                gas_used: 0,
                header_state_root: hex::encode(&header.state_root),
                state_root: prepared.root().to_hex(),
                header_receipts_root: hex::encode(&header.receipts_root),
                receipts_root: hex::encode(&header.receipts_root),
                receipts: Vec::new(),
            })));
        }
        let index = [IndexWrite {
            index: Index::BlocksByHash,
            key: hash.0.to_vec(),
            value: height_key(0).to_vec(),
        }];
        self.store_mut().commit_prepared(prepared, &index)?;
        self.last_hash = hash;
        self.last = header;
        Ok(())
    }

    fn store_mut(&self) -> std::sync::RwLockWriteGuard<'_, StateStore> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self) -> std::sync::RwLockReadGuard<'_, StateStore> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this `Chain` can go on after a failed commit, and if not, what it takes.
    pub fn fault(&self) -> Option<ChainFault> {
        if self.log.is_poisoned() {
            Some(ChainFault::Restart)
        } else if self.not_applied {
            Some(ChainFault::Reopen)
        } else {
            None
        }
    }

    /// What [`ChainParts::open`] needs to open this chain again.
    pub fn parts(&self) -> ChainParts {
        ChainParts {
            dir: self.dir.clone(),
            genesis: self.genesis.clone(),
            vm: self.vm.clone(),
            config: self.config.clone(),
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.genesis.chain_id
    }

    /// The genesis this chain started from.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The VM.
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// The rules.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// Height of the last committed block.
    pub fn height(&self) -> u64 {
        self.last.height
    }

    /// The last committed header.
    pub fn last_header(&self) -> &v1::BlockHeader {
        &self.last
    }

    /// Hash of the last committed header.
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }

    /// The root over all state after the last committed block.
    pub fn state_root(&self) -> Hash {
        self.store().state_root()
    }

    /// Committed state as the VM reads it (for queries and simulations).
    pub fn backend(&self) -> Arc<dyn Backend> {
        Arc::new(StoreBackend(self.store.clone()))
    }

    /// The nonce `address`'s next transaction must carry.
    ///
    /// # Errors
    /// [`ChainError::State`]; [`ChainError::Corrupt`].
    pub fn next_nonce(&self, address: &Address) -> Result<u64> {
        account::next_nonce(&StoreBackend(self.store.clone()), address)
    }

    /// Runs a read-only query of `contract` against committed state.
    ///
    /// # Errors
    /// The [`CallError`] of the query.
    pub fn query(
        &self,
        contract: Address,
        msg: &[u8],
        gas_limit: u64,
    ) -> Result<Vec<u8>, CallError> {
        let env = BlockEnv {
            height: self.last.height,
            time: self.last.time,
            chain_id: self.genesis.chain_id.clone(),
        };
        self.vm.query(self.backend(), env, contract, msg, gas_limit)
    }

    /// A committed state value with its proof against [`Self::state_root`].
    ///
    /// # Errors
    /// [`ChainError::Store`].
    pub fn get_with_proof(&self, key: &[u8]) -> Result<(Option<Vec<u8>>, Proof)> {
        Ok(self.store().get_with_proof(key)?)
    }

    /// The committed block at `height`, read from the block log (which holds every block
    /// once; the state store keeps no second copy).
    ///
    /// # Errors
    /// [`ChainError::Store`]; [`ChainError::Corrupt`].
    pub fn block(&self, height: u64) -> Result<Option<v1::Block>> {
        if height > self.last.height {
            return Ok(None);
        }
        match self.log.read(height)? {
            None => Ok(None),
            bytes => decode_block(height, bytes).map(Some),
        }
    }

    /// The committed block whose header hashes to `hash`, with its height.
    ///
    /// # Errors
    /// [`ChainError::Store`]; [`ChainError::Corrupt`].
    pub fn block_by_hash(&self, hash: &Hash) -> Result<Option<(u64, v1::Block)>> {
        let Some(h) = self.store().index_get(Index::BlocksByHash, &hash.0)? else {
            return Ok(None);
        };
        let height = u64::from_be_bytes(
            h.as_slice()
                .try_into()
                .map_err(|_| ChainError::Corrupt(format!("block hash index entry of {hash}")))?,
        );
        Ok(self.block(height)?.map(|b| (height, b)))
    }

    /// The receipt of a committed transaction.
    ///
    /// # Errors
    /// [`ChainError::Store`]; [`ChainError::Corrupt`].
    pub fn receipt(&self, tx_hash: &Hash) -> Result<Option<v1::Receipt>> {
        match self.store().index_get(Index::Receipts, &tx_hash.0)? {
            None => Ok(None),
            Some(b) => v1::Receipt::decode(b.as_slice())
                .map(Some)
                .map_err(|e| ChainError::Corrupt(format!("receipt {tx_hash}: {e}"))),
        }
    }

    /// Where a committed transaction is: (height, index in block), from its receipt (which
    /// carries both, so no separate location index is written).
    ///
    /// # Errors
    /// [`ChainError::Store`]; [`ChainError::Corrupt`].
    pub fn tx_location(&self, tx_hash: &Hash) -> Result<Option<(u64, u32)>> {
        Ok(self.receipt(tx_hash)?.map(|r| (r.height, r.index)))
    }

    /// Executes `txs` as the next block at `time` and signs its header with `proposer`.
    /// Nothing is committed: pass the result to [`Self::commit_proposal`].
    ///
    /// # Errors
    /// [`ChainError::BlockGasLimit`]; [`ChainError::State`].
    pub fn propose(
        &self,
        txs: Vec<CheckedTx>,
        time: u64,
        proposer: &SecretKey,
    ) -> Result<Proposal> {
        self.try_propose(txs, time, proposer).map_err(|f| f.error)
    }

    /// As [`Self::propose`], but hands the transactions back with the error, so a proposer can
    /// return them to its mempool.
    ///
    /// # Errors
    /// As [`Self::propose`].
    pub fn try_propose(
        &self,
        txs: Vec<CheckedTx>,
        time: u64,
        proposer: &SecretKey,
    ) -> Result<Proposal, Box<ProposeFailed>> {
        let height = self.last.height.saturating_add(1);
        let time = time.max(self.last.time);
        let env = BlockEnv {
            height,
            time,
            chain_id: self.genesis.chain_id.clone(),
        };
        let output = match execute_block(&self.vm, self.backend(), &env, &txs, &self.config.rules) {
            Ok(output) => output,
            Err(error) => return Err(Box::new(ProposeFailed { error, txs })),
        };
        let Ok(tx_count) = u32::try_from(txs.len()) else {
            let error = invalid(height, "too many txs");
            return Err(Box::new(ProposeFailed { error, txs }));
        };
        let receipts = EncodedReceipts::new(&output.receipts);
        // The header commits to the state after its block: the tree update is computed now
        // (and written at commit without computing it again).
        let prepared = match self.store().prepare_block(height, &output.writes) {
            Ok(p) => p,
            Err(e) => {
                return Err(Box::new(ProposeFailed {
                    error: e.into(),
                    txs,
                }))
            }
        };
        let header = v1::BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            height,
            time,
            prev_hash: self.last_hash.0.to_vec(),
            tx_root: tx_root(txs.iter().map(CheckedTx::hash)).0.to_vec(),
            state_root: prepared.root().0.to_vec(),
            receipts_root: receipts.root().0.to_vec(),
            proposer_pubkey: proposer.public_key().to_bytes().to_vec(),
            tx_count,
            gas_used: output.gas_used,
        };
        let signature = proposer.sign_prehash(&header_hash(&header)).to_vec();
        let senders = txs.iter().map(|t| (t.sender(), *t.pubkey())).collect();
        let block = v1::Block {
            header: Some(header),
            signature,
            // A copy: the checked txs stay with the proposal until the block is durable.
            txs: txs.iter().cloned().map(CheckedTx::into_signed).collect(),
        };
        Ok(Proposal {
            block,
            output,
            receipts,
            senders,
            prepared,
            txs,
        })
    }

    /// Commits a block from [`Self::propose`] on this chain: log append with fsync, then state
    /// and indexes.
    ///
    /// # Errors
    /// [`ChainError::InvalidBlock`] if the chain moved since it was proposed;
    /// [`ChainError::Store`].
    pub fn commit_proposal(&mut self, proposal: Proposal) -> Result<Committed> {
        match &proposal.block.header {
            Some(header) => self.check_header_link(header)?,
            None => self.check_header_link(&v1::BlockHeader::default())?,
        }
        self.persist(
            proposal.block,
            proposal.output,
            proposal.receipts,
            proposal.prepared,
            true,
        )
    }

    /// Checks, executes and commits a block received from elsewhere (another proposer, a
    /// consensus engine): every tx is re-checked, the header verified, the block re-executed
    /// and its `gas_used`, `state_root` (the root after it) and `receipts_root` compared with
    /// our own results before anything is written. Log first (fsync), then state.
    ///
    /// # Errors
    /// [`ChainError::InvalidBlock`] (it does not link to this chain, or is malformed),
    /// [`ChainError::InvalidTx`], [`ChainError::BlockGasLimit`]; [`ChainError::Diverged`] when
    /// re-execution gives other results than its header states;
    /// [`ChainError::Store`] / [`ChainError::State`] on storage failure.
    pub fn commit(&mut self, block: v1::Block) -> Result<Committed> {
        self.apply(block, true)
    }

    fn check_header_link(&self, header: &v1::BlockHeader) -> Result<()> {
        let height = header.height;
        let next = self.last.height.saturating_add(1);
        if height != next {
            return Err(invalid(height, format!("expected height {next}")));
        }
        if header.chain_id != self.genesis.chain_id {
            return Err(invalid(height, format!("chain id `{}`", header.chain_id)));
        }
        if header.prev_hash != self.last_hash.0 {
            return Err(invalid(height, "prev_hash is not the last block's hash"));
        }
        if header.time < self.last.time {
            return Err(invalid(height, "time goes backwards"));
        }
        Ok(())
    }

    fn apply(&mut self, block: v1::Block, append: bool) -> Result<Committed> {
        let header = block.header.clone().unwrap_or_default();
        let height = header.height;
        self.check_header_link(&header)?;
        let proposer = PublicKey::from_compressed(&header.proposer_pubkey)
            .ok_or_else(|| invalid(height, "proposer_pubkey is not a compressed secp256k1 key"))?;
        if let Some(allowed) = &self.config.proposers {
            // The genesis proposers, and the members added since (as of the block before).
            if !allowed.contains(&proposer)
                && !crate::members::members(&StoreBackend(self.store.clone()))?
                    .iter()
                    .any(|m| m.node_key == proposer)
            {
                return Err(invalid(
                    height,
                    format!(
                        "proposer {} is neither a genesis proposer nor a member added since",
                        proposer.did()
                    ),
                ));
            }
        }
        let verify_started = std::time::Instant::now();
        proposer
            .verify_prehash(&header_hash(&header), &block.signature)
            .map_err(|e| invalid(height, format!("block signature: {e:?}")))?;
        // Every transaction's signature checked across all cores (a block from elsewhere
        // carries no `CheckedTx`); the first failure in block order is the one reported, so
        // every node refuses a bad block with the same error.
        let checked: Vec<Result<CheckedTx>> = {
            use rayon::prelude::*;
            block
                .txs
                .par_iter()
                .enumerate()
                .map(|(index, tx)| {
                    CheckedTx::check_signed(
                        tx.clone(),
                        &self.genesis.chain_id,
                        &self.config.tx_limits,
                    )
                    .map_err(|source| ChainError::InvalidTx {
                        height,
                        index,
                        source,
                    })
                })
                .collect()
        };
        let txs = checked.into_iter().collect::<Result<Vec<_>>>()?;
        if usize::try_from(header.tx_count).ok() != Some(txs.len()) {
            return Err(invalid(height, "tx_count does not match the txs"));
        }
        if header.tx_root != tx_root(txs.iter().map(CheckedTx::hash)).0 {
            return Err(invalid(height, "tx_root does not match the txs"));
        }
        let verify_time = verify_started.elapsed();
        let execute_started = std::time::Instant::now();
        let env = BlockEnv {
            height,
            time: header.time,
            chain_id: self.genesis.chain_id.clone(),
        };
        let mut output = execute_block(&self.vm, self.backend(), &env, &txs, &self.config.rules)?;
        if self.config.perturb_from_height.is_some_and(|h| height >= h) {
            output.writes.insert(
                b"test-only perturbation".to_vec(),
                Some(height.to_be_bytes().to_vec()),
            );
        }
        let receipts = EncodedReceipts::new(&output.receipts);
        let prepared = self.store().prepare_block(height, &output.writes)?;
        let ours = (output.gas_used, prepared.root(), receipts.root());
        if header.gas_used != ours.0
            || header.state_root != ours.1 .0
            || header.receipts_root != ours.2 .0
        {
            return Err(ChainError::Diverged(Box::new(Divergence {
                height,
                header_gas_used: header.gas_used,
                gas_used: ours.0,
                header_state_root: hex::encode(&header.state_root),
                state_root: ours.1.to_hex(),
                header_receipts_root: hex::encode(&header.receipts_root),
                receipts_root: ours.2.to_hex(),
                receipts: receipts.protos,
            })));
        }
        let execute_time = execute_started.elapsed();
        let mut committed = self.persist(block, output, receipts, prepared, append)?;
        committed.verify_time = verify_time;
        committed.execute_time = execute_time;
        Ok(committed)
    }

    /// Appends `block` to the log (when `append`), then commits its state and indexes.
    /// `receipts` are `output.receipts` encoded ([`EncodedReceipts::new`]).
    fn persist(
        &mut self,
        block: v1::Block,
        output: BlockOutput,
        receipts: EncodedReceipts,
        prepared: PreparedState,
        append: bool,
    ) -> Result<Committed> {
        let header = block.header.clone().unwrap_or_default();
        let height = header.height;
        if let Some(fault) = self.fault() {
            return Err(ChainError::Corrupt(format!(
                "block {height} not committed: an earlier commit failed ({fault:?}); reopen the chain"
            )));
        }
        if receipts.bytes.len() != output.receipts.len() {
            return Err(ChainError::Corrupt(format!(
                "block {height}: {} encoded receipts for {} receipts",
                receipts.bytes.len(),
                output.receipts.len()
            )));
        }
        let started = std::time::Instant::now();
        if append {
            // Durable first: once this returns, a crash is recovered by replaying the log.
            self.log.append(height, &block.encode_to_vec())?;
        }
        let log_time = started.elapsed();
        // The block itself is read back from the log (`Self::block`); the store indexes it by
        // hash, and each transaction by its receipt (which holds its height and position).
        let mut index = Vec::with_capacity(output.receipts.len().saturating_add(1));
        let hash = header_hash(&header);
        index.push(IndexWrite {
            index: Index::BlocksByHash,
            key: hash.0.to_vec(),
            value: height_key(height).to_vec(),
        });
        let EncodedReceipts { protos, bytes } = receipts;
        for (r, receipt_bytes) in output.receipts.iter().zip(bytes) {
            index.push(IndexWrite {
                index: Index::Receipts,
                key: r.tx_hash.0.to_vec(),
                value: receipt_bytes,
            });
        }
        let committed = self.store_mut().commit_prepared(prepared, &index);
        let root = match committed {
            Ok(root) => root,
            Err(source) if append => {
                // The block is durable (and will be replayed), but the store may hold part of
                // its batch in memory: this `Chain` must not serve or commit anything more.
                self.not_applied = true;
                return Err(ChainError::NotApplied { height, source });
            }
            Err(e) => return Err(e.into()),
        };
        self.last_hash = hash;
        self.last = header;
        Ok(Committed {
            height,
            block_hash: self.last_hash,
            state_root: root,
            receipts: output.receipts,
            verify_time: std::time::Duration::ZERO,
            execute_time: std::time::Duration::ZERO,
            log_time,
            state_time: started.elapsed().saturating_sub(log_time),
            block,
            receipt_protos: protos,
        })
    }
}

/// Refuses a state store that has applied blocks the log does not hold (completely).
fn check_not_ahead(applied: Option<u64>, log: &BlockLog, state_dir: &Path) -> Result<()> {
    let Some(applied) = applied else {
        return Ok(());
    };
    let log_last = log.last_height();
    if log_last.is_some_and(|l| applied <= l) {
        return Ok(());
    }
    Err(ChainError::StateAheadOfLog(Box::new(AheadOfLog {
        applied,
        log_last,
        log: log.path().to_path_buf(),
        state: state_dir.to_path_buf(),
        torn: log.torn_tail().cloned(),
    })))
}

/// Opens the state store in `state_dir`, rebuilding it when it is damaged or in an older
/// layout. `check_old` sees the applied height an older-layout store reports before it is
/// deleted, so one that is ahead of the log is refused rather than thrown away.
fn open_store(
    state_dir: &Path,
    check_old: impl FnOnce(Option<u64>) -> Result<()>,
) -> Result<(StateStore, Option<StateRebuild>)> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ChainError::Io { path, source }
    };
    let existed = state_dir.exists();
    match StateStore::open(state_dir) {
        Ok(store) => {
            if !existed {
                // sled created the directory; make its entry durable like every other.
                sync_parent_dir(state_dir)?;
            }
            Ok((store, None))
        }
        // Derived data in a layout this build does not read: rebuilt by replay.
        Err(e @ hanok_storage::Error::StateFormat { applied_height }) => {
            check_old(applied_height)?;
            std::fs::remove_dir_all(state_dir).map_err(io(state_dir))?;
            let store = StateStore::open(state_dir)?;
            // One sync makes both the removal and the new directory durable.
            sync_parent_dir(state_dir)?;
            let rebuilt = StateRebuild {
                reason: e.to_string(),
                moved_to: None,
            };
            Ok((store, Some(rebuilt)))
        }
        // Damaged derived data is moved aside (evidence for whoever looks into why) and
        // rebuilt by replay. Errors that a rebuild would not fix (I/O, permissions, a lock
        // held by another process) are not `DamagedState` and end up below.
        Err(e @ hanok_storage::Error::DamagedState(_)) => {
            let moved_to = aside_path(state_dir);
            std::fs::rename(state_dir, &moved_to).map_err(io(state_dir))?;
            let store = StateStore::open(state_dir)?;
            sync_parent_dir(state_dir)?;
            let rebuilt = StateRebuild {
                reason: e.to_string(),
                moved_to: Some(moved_to),
            };
            Ok((store, Some(rebuilt)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `state.damaged-<unix seconds>`, with a suffix if that exists already.
fn aside_path(state_dir: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = state_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let base = state_dir.with_file_name(format!("{name}.damaged-{secs}"));
    let mut candidate = base.clone();
    let mut n = 1u32;
    while candidate.exists() {
        n = n.saturating_add(1);
        candidate = PathBuf::from(format!("{}-{n}", base.display()));
    }
    candidate
}

/// Block 0: no transactions; `prev_hash` is the genesis hash; `state_root` the root of the
/// state genesis sets up (`state_root`); unsigned (genesis is trusted configuration, not a
/// proposal).
pub fn genesis_block(genesis: &Genesis, state_root: Hash) -> v1::Block {
    let header = v1::BlockHeader {
        chain_id: genesis.chain_id.clone(),
        height: 0,
        time: genesis.time,
        prev_hash: genesis.hash().0.to_vec(),
        tx_root: tx_root([]).0.to_vec(),
        state_root: state_root.0.to_vec(),
        receipts_root: receipts_root(&[]).0.to_vec(),
        proposer_pubkey: genesis.authority.to_bytes().to_vec(),
        tx_count: 0,
        gas_used: 0,
    };
    v1::Block {
        header: Some(header),
        signature: Vec::new(),
        txs: Vec::new(),
    }
}
