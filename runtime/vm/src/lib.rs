//! `hanok-vm`: the wasm contract VM of hanok, on wasmtime.
//!
//! Key types: [`Vm`] (engine, host functions, compiled-module cache; shared by all threads),
//! [`Session`] (one transaction: calls run against pending state, [`Session::finish`] returns the
//! [`Effects`] to commit), [`Backend`] (committed state, implemented by the node over sled and by
//! [`MemBackend`] in tests), [`CallError`] (the two-level result: a contract's own error vs a VM
//! [`Fault`]), [`ValidationError`] (why an upload was refused).
//!
//! How a call runs: the module was validated ([`validate()`]) and compiled once, at the latest
//! when its upload executes, usually earlier: a node hands an admitted upload to a
//! [`Precompiler`] and the uploads of a block from elsewhere to [`Vm::prepare_many`]. Compiled
//! modules are kept on disk keyed by code hash and engine fingerprint, and in memory in a
//! cache bounded by [`VmConfig::module_cache_bytes`] that evicts the least recently used. Each call instantiates it
//! afresh from an `InstancePre` in the pooling allocator, with fuel as gas and a resource limiter
//! capping memory and tables. Host functions charge gas before doing work. A nested `call` runs
//! the callee on a new instance against the same pending state; a failed callee's writes and
//! events are undone at its checkpoint.
//!
//! Architecture Invariant: the VM knows nothing of real estate, blocks, signatures of
//! transactions, sled or gRPC. It sees state only through [`Backend`] and returns writes; it
//! never commits.
//!
//! Architecture Invariant: execution is deterministic. No clock, randomness or host state reaches
//! a contract: height and time come from [`BlockEnv`]; floats are NaN-canonicalised; every
//! optional wasm proposal is off; error messages carry no host detail and are our own words (a
//! wasmtime upgrade does not change a receipt). Growing memory or a table past its cap answers
//! −1, as wasm specifies a failed grow; it does not trap. Whether a module was compiled ahead
//! or on demand, or evicted and reloaded, changes no result. Our own call-depth limit
//! ([`Limits::max_call_depth`]) is what contracts can rely on, not the native stack.
//!
//! # Inside
//!
//! One job per file; files import only the ones listed after them:
//!
//! | file | holds |
//! | --- | --- |
//! | `precompile.rs` | [`Precompiler`]: a bounded pool of threads compiling admitted uploads ahead of execution |
//! | `vm.rs` | [`Vm`]: puts the engine and the host functions together, opens sessions |
//! | `session.rs` | the session API: [`Session`] (upload, instantiate, execute, query, migrate, finish), [`Outcome`], [`Effects`] |
//! | `host.rs` | the host functions of module `hanok` ([`secp256k1_verify`] among them) |
//! | `frame.rs` | the frame runner: one entry point on a fresh instance, for top-level and nested calls |
//! | `engine.rs` | the deterministic wasmtime engine, the bounded compiled-module cache (one compile per module across threads), the store data `HostCtx` |
//! | `tx.rs` | what a transaction's frames share: [`BlockEnv`], [`ContractEvent`], the pending state |
//! | `contract.rs` | contract metadata: [`ContractInfo`] (binary, versioned), code-hash lookup, the per-block [`ContractCache`] |
//! | `state.rs` | [`Backend`], [`MemBackend`], the overlay of pending writes with checkpoints |
//! | `validate.rs`, `config.rs`, `error.rs` | upload limits, [`Limits`] and [`GasSchedule`], errors |
//!
//! `host.rs` → `frame.rs` is the re-entrant edge: a host function's nested call runs the callee
//! through the frame runner. The one tie that remains is at the type level and stays inside
//! `engine.rs`: the engine's compiled modules are instantiated with `HostCtx` as store data, and
//! `HostCtx` holds the engine, because a nested call instantiates its callee from the same engine
//! and cache. Breaking it would put a trait object between every frame and the engine for no
//! gain in clarity.
//!
//! State keys, contract addresses, the return packing and [`CodeHash`] (=
//! [`Hash`](struct@Hash)) are not defined here but in [`layout`] (`hanok_abi::layout`), which the
//! chain, the SDKs and the node call too; `state::keys` keeps the VM's old names for them.
#![deny(clippy::arithmetic_side_effects)]

mod batch;
mod config;
mod contract;
mod engine;
mod error;
mod frame;
mod host;
mod precompile;
mod session;
pub mod state;
mod tx;
mod validate;
mod vm;

pub use batch::{TxCall, TxRun};
pub use config::{GasSchedule, Limits, VmConfig};
pub use contract::{contract_address, CodeHash, ContractCache, ContractInfo};
pub use engine::Loaded;
pub use error::{CallError, Fault, Result, SetupError, StorageError, ValidationError};
pub use hanok_abi::{layout, Address, Amount, Env, Event, Hash};
pub use host::secp256k1_verify;
pub use precompile::{PrecompileStats, Precompiler};
pub use session::{Effects, Outcome, Session};
pub use state::{Backend, MemBackend, WriteSet};
pub use tx::{BlockEnv, ContractEvent};
pub use validate::validate;
pub use vm::Vm;

/// Validates `wasm` against the default [`Limits`]. A convenience for tools and tests.
///
/// # Errors
/// The first limit broken.
pub fn validate_default(wasm: &[u8]) -> std::result::Result<(), ValidationError> {
    validate(wasm, &Limits::default())
}
