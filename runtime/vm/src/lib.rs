//! `hanok-vm`: the wasm contract VM of hanok, on wasmtime.
//!
//! Key types: [`Vm`] (engine, host functions, compiled-module cache; shared by all threads),
//! [`Session`] (one transaction: calls run against pending state, [`Session::finish`] returns the
//! [`Effects`] to commit), [`Backend`] (committed state, implemented by the node over sled and by
//! [`MemBackend`] in tests), [`CallError`] (the two-level result: a contract's own error vs a VM
//! [`Fault`]), [`ValidationError`] (why an upload was refused).
//!
//! How a call runs: the module was validated ([`validate()`]) and compiled once at upload, and is
//! kept in memory and on disk keyed by code hash and engine fingerprint. Each call instantiates it
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
//! optional wasm proposal is off; error messages carry no host detail. Our own call-depth limit
//! ([`Limits::max_call_depth`]) is what contracts can rely on, not the native stack.
#![deny(clippy::arithmetic_side_effects)]

mod batch;
mod config;
mod engine;
mod error;
mod exec;
mod host;
pub mod state;
mod validate;

pub use batch::{TxCall, TxRun};
pub use config::{GasSchedule, Limits, VmConfig};
pub use engine::{CodeHash, Loaded, Vm};
pub use error::{CallError, Fault, Result, SetupError, StorageError, ValidationError};
pub use exec::{
    contract_address, BlockEnv, ContractCache, ContractInfo, Effects, Outcome, Session,
};
pub use hanok_abi::{Address, Amount, Env, Event};
pub use host::{secp256k1_verify, ContractEvent};
pub use state::{Backend, MemBackend, WriteSet};
pub use validate::validate;

/// Validates `wasm` against the default [`Limits`]. A convenience for tools and tests.
///
/// # Errors
/// The first limit broken.
pub fn validate_default(wasm: &[u8]) -> std::result::Result<(), ValidationError> {
    validate(wasm, &Limits::default())
}
