//! `hanok-node`: the hanok node — gRPC services (tonic) over the ledger core
//! ([`hanok_ledger::Ledger`]), configured by [`NodeConfig`] and started with [`start`] /
//! [`serve`].
//!
//! What is here is the network and the clock: the tonic services (`services.rs`, each method a
//! thin adapter: decode, call the ledger on the blocking pool, encode), the one place errors
//! become a `tonic::Status` ([`status`]), the block producer task (woken by the first waiting
//! transaction; blocks start at least `block_interval_ms` apart, each taking what is ready),
//! waiters of `SubmitAndWait`, `SubmitStream` (`submit_stream.rs`), block and event streams, and
//! the niced signature-check pool (`verify.rs`). What a transaction or a block *is*, and every
//! rule about them, is in `hanok-ledger` and below.
//!
//! Key items: [`NodeConfig`] (plain data, TOML), [`NodeHandle`], [`status`]; the dev genesis and
//! genesis files are [`hanok_ledger::dev`] and [`hanok_ledger::genesis_file`], re-exported here.
//!
//! Architecture Invariant: the only runtime crate that knows gRPC. `hanok-ledger`,
//! `hanok-chain`, `hanok-vm` and `hanok-storage` know nothing of tonic or tokio; every error
//! becomes a `tonic::Status` in one module, [`status`].
//!
//! Architecture Invariant: a storage failure during block production stops block production
//! (further submits get `UNAVAILABLE`); it is never recorded as a transaction outcome.

pub mod config;
pub mod consortium;
mod error;
mod metrics;
mod net;
mod node;
mod services;
pub mod status;
mod submit_stream;
mod subscriptions;
pub mod tls;
mod verify;

pub use config::NodeConfig;
pub use error::{Error, Result};
pub use hanok_ledger::{dev, genesis_file, state_diff, CommittedBlock, NodeGenesis};
pub use node::{launch, serve, start, NodeHandle, Starting};
