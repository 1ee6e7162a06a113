//! `hanok-node`: the hanok node — gRPC services (tonic) over the chain, a bounded mempool and a
//! single block producer, configured by [`NodeConfig`] and started with [`start`] / [`serve`].
//!
//! Pipeline: `Submit` → stateless checks ([`hanok_types::CheckedTx`], signatures spread over
//! the cores on a niced pool, never public-key recovery) → stateful admission against committed
//! state (not yet committed, enrolled, not expired, nonce not used) → [`mempool::Mempool`]
//! (per account in nonce order; gaps wait, bounded) → the producer task (woken by the first
//! waiting transaction; blocks start at least `block_interval_ms` apart, each taking what is
//! ready, up to `max_block_txs`) proposes and commits a block on the
//! blocking pool (`Chain::propose` + `Chain::commit_proposal`: one fsync) → waiters of
//! `SubmitAndWait` and stream subscribers are notified. Key items: [`NodeConfig`],
//! [`NodeGenesis`], [`dev::dev_genesis`], [`NodeHandle`], [`status`].
//!
//! Concurrency: the `Chain` sits in an `RwLock`. Queries, proofs, admission and reads take the
//! read lock on the blocking pool and run in parallel; only the producer writes, for the commit
//! of each block. A VM `Session` is `!Send`, so every execution runs start to finish inside one
//! blocking closure.
//!
//! Architecture Invariant: the only runtime crate that knows gRPC. `hanok-chain`, `hanok-vm`
//! and `hanok-storage` know nothing of tonic or tokio; every error becomes a `tonic::Status` in
//! one module, [`status`].
//!
//! Architecture Invariant: a storage failure during block production stops block production
//! (further submits get `UNAVAILABLE`); it is never recorded as a transaction outcome.

pub mod config;
pub mod dev;
mod error;
pub mod genesis_file;
pub mod mempool;
mod node;
mod services;
pub mod status;
mod verify;

pub use config::NodeConfig;
pub use error::{Error, Result};
pub use node::{serve, start, CommittedBlock, NodeGenesis, NodeHandle};
pub use services::state_diff;
