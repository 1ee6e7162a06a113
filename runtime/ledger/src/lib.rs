//! `hanok-ledger`: the ledger core of hanok — everything a node does with transactions and
//! blocks, with no network in it.
//!
//! Key items: [`Ledger`] (one chain on disk, its mempool and the rules between them),
//! [`NodeGenesis`] (what a ledger starts from, produced by [`dev::dev_genesis`] and by
//! [`genesis_file`]), [`LedgerConfig`] (plain data), [`LedgerError`] (every refusal, mapped to
//! gRPC codes by the node's `status.rs` alone).
//!
//! What it owns:
//! - **admission**: [`Ledger::check`] (stateless: bytes and signature) and [`Ledger::admit`]
//!   (stateful: committed already, enrolled, expired, nonce) into the [`mempool::Mempool`]; an
//!   admitted upload's module is compiled on a worker pool while it waits, and a block from
//!   elsewhere has its uploads compiled in parallel before it executes, so block execution
//!   never compiles in line (unless the pool's queue was full);
//! - **block production** and the seam a consensus engine drives, independent of who orders
//!   blocks: *propose a block* ([`Ledger::propose_block`], then [`Ledger::commit_proposal`]) and
//!   *apply an ordered block* ([`Ledger::apply_block`]: re-execute and check, then commit);
//! - **the read side**: status, queries, dry runs ([`Ledger::simulate`]), accounts, contracts,
//!   code, blocks, receipts, transactions and state proofs.
//!
//! Transactions are executed by `hanok-chain`'s one `execute_tx` (blocks and signed dry runs)
//! and `execute_calls` (unsigned dry runs), both over the VM's one all-or-nothing call runner.
//!
//! Architecture Invariant: no tokio, no tonic, no gRPC status. Every method blocks (locks, the
//! VM, fsync); async callers run them on a blocking pool. The node is a thin adapter over this.
//!
//! Architecture Invariant: a storage failure while committing halts the ledger for good (until
//! restart): [`Ledger::admit`] and block production answer [`LedgerError::Halted`], and nothing
//! of the failed block is reported committed.
#![deny(clippy::arithmetic_side_effects)]

pub mod dev;
mod error;
mod genesis;
pub mod genesis_file;
mod ledger;
pub mod mempool;
mod precompile;
mod read;

pub use error::{LedgerError, Result};
pub use genesis::{read_secret_key, roles_key, NodeGenesis, DEPLOY_ROLES};
pub use hanok_chain::{OpenReport, Proposal};
pub use ledger::{
    log_open_report, BlockCommit, BlockTimings, CommittedBlock, Ledger, LedgerConfig,
};
pub use read::{
    state_diff, Account, LedgerStatus, Simulation, StateProof, MAX_BLOCKS_PER_READ,
    MAX_CONTRACTS_PER_PAGE, MAX_SIMULATED_TXS,
};
