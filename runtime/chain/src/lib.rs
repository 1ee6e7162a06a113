//! `hanok-chain`: the transaction and block pipeline of hanok. Checked transactions go in;
//! state writes, receipts and committed blocks come out.
//!
//! Key items: [`execute_block`] (the executor: a pure function of state and block),
//! [`Receipt`] / [`TxStatus`] (what happened to each transaction), [`Genesis`] /
//! [`genesis_writes`] (block 0), [`Admission`] (who may send; [`AllowAll`],
//! [`StorageKeyAdmission`]), [`PendingBackend`] (a block's pending writes over committed state),
//! and [`Chain`] (block log + state store + VM: open with replay, propose, commit).
//!
//! Per transaction: stateful checks (nonce, expiry, enrolment, the right to deploy for uploads
//! and instantiations) → a VM session running every call
//! in order → all writes, or none (nonce still used, full gas limit charged). Account nonces live
//! in the VM's state key space under namespace [`ACCOUNT_NONCE`] so the state root covers them.
//!
//! Architecture Invariant: hanok-chain knows nothing of gRPC, tokio or real estate. It does not
//! know who orders blocks: [`execute_block`] depends only on (state, block env, txs, rules), so a
//! consensus engine can drive [`Chain::commit`] later without changes here.
//!
//! Architecture Invariant: a block is durable in the log (fsync) before its state is applied;
//! the state store is derived and rebuilt by replay. A storage failure stops the block (an
//! `Err`); it is never recorded as a transaction outcome.
//!
//! Architecture Invariant: the chain's error never names sled; storage errors are wrapped.
//!
//! Architecture Invariant: a block header's `state_root` is the root *after* its transactions:
//! the proposer computes the tree update before the block is in the log
//! (`StateStore::prepare_block`) and writes it, unchanged, after; a node applying a block from
//! elsewhere re-executes it and refuses it ([`ChainError::Diverged`]) unless its gas, state root
//! and receipts root are exactly ours. So the last header always commits to the current state,
//! and a proof of the current state is checked against it.
#![deny(clippy::arithmetic_side_effects)]

mod account;
mod admission;
mod backend;
mod chain;
mod error;
mod exec;
mod genesis;
pub mod members;

pub use account::{next_nonce, nonce_key, ACCOUNT_NONCE};
pub use admission::{Admission, AllowAll, StorageKeyAdmission};
pub use backend::{PendingBackend, StoreBackend};
pub use chain::{
    genesis_block, header_hash, Chain, ChainConfig, ChainFault, ChainParts, Committed, OpenReport,
    Proposal, ProposeFailed, StateRebuild,
};
pub use error::{AheadOfLog, ChainError, Divergence, Result};
pub use exec::{
    check_enrolled, check_expiry, check_may_deploy, execute_block, execute_calls, execute_tx,
    receipts_root, stateful_check, tx_root, BlockOutput, Receipt, Rules, TxContext, TxStatus,
};
pub use genesis::{genesis_writes, Genesis, GenesisContract, GENESIS_GAS};

/// Most bytes of transactions one block may hold: a block is one block-log record
/// ([`hanok_storage::MAX_RECORD_LEN`]), and its header, signature and framing need the rest.
pub const MAX_BLOCK_TX_BYTES: usize = (hanok_storage::MAX_RECORD_LEN as usize) - (1 << 20);

/// Creates a directory and its missing parents with each new entry fsynced, as the chain's own
/// directories are (for the node's data directory, created before the chain opens).
///
/// # Errors
/// [`ChainError::Store`] wrapping the I/O error.
pub fn create_dir_durable(dir: &std::path::Path) -> Result<()> {
    Ok(hanok_storage::create_dir_durable(dir)?)
}
