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

/// Most threads the node's runtime keeps for blocking work (ledger calls: admission, queries
/// that cannot take the short road, block production, reads). tokio's default is 512: with 512
/// submissions in flight the pool grew to ≈ 300 threads, each holding its stack and malloc
/// caches, for work that serialises on the mempool and chain locks anyway. Blocking tasks never
/// wait on one another (none blocks on an async event), so a bounded pool only queues them.
pub const MAX_BLOCKING_THREADS: usize = 64;

/// The tokio runtime a node runs on: one worker per core, at most [`MAX_BLOCKING_THREADS`]
/// threads for blocking work.
///
/// # Errors
/// The I/O error if the runtime cannot start its threads.
pub fn runtime(thread_name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(thread_name)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
}
