//! [`Vm`]: the public handle that puts the engine and the host functions together and opens
//! sessions.

use crate::config::{GasSchedule, Limits, VmConfig};
use crate::contract::CodeHash;
use crate::engine::{new_engine, Inner, Loaded};
use crate::error::{Result, SetupError, ValidationError};
use crate::host;
use crate::session::Session;
use crate::state::Backend;
use crate::tx::BlockEnv;
use hanok_abi::Address;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use wasmtime::Linker;

/// The hanok VM: a deterministic wasmtime engine, the host functions, and compiled modules.
///
/// Cheap to clone and shareable across threads; each transaction runs in a [`Session`] created
/// with [`Vm::session`].
#[derive(Clone)]
pub struct Vm {
    inner: Arc<Inner>,
}

impl fmt::Debug for Vm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vm")
            .field("cache_dir", &self.inner.cache_dir)
            .finish_non_exhaustive()
    }
}

impl Vm {
    /// Builds the engine and host functions, and opens the compiled-module cache.
    ///
    /// # Errors
    /// [`SetupError`] when wasmtime refuses the configuration or the cache directory cannot be
    /// created.
    pub fn new(config: VmConfig) -> Result<Vm, SetupError> {
        let engine = new_engine(&config.limits)?;
        let mut linker = Linker::new(&engine);
        host::define(&mut linker).map_err(|e| SetupError::Engine(e.to_string()))?;
        Ok(Vm {
            inner: Arc::new(Inner::new(engine, linker, config)?),
        })
    }

    /// The limits this VM enforces.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The gas schedule this VM charges.
    pub fn gas_schedule(&self) -> &GasSchedule {
        &self.inner.gas
    }

    /// Validates `wasm`, compiles it once and caches the result in memory and on disk.
    /// Idempotent: code already prepared is not validated or compiled again.
    ///
    /// # Errors
    /// [`ValidationError`] naming the first limit the module breaks.
    pub fn prepare(&self, wasm: &[u8]) -> Result<(CodeHash, Loaded), ValidationError> {
        self.inner.prepare(wasm)
    }

    /// Prepares several modules at once, on up to as many threads as the machine has cores
    /// (wasmtime also compiles the functions of each module in parallel). What a node does with
    /// the uploads of a block it did not produce before executing it, so that execution finds
    /// them compiled. One result per module, in order.
    pub fn prepare_many(
        &self,
        wasms: &[&[u8]],
    ) -> Vec<Result<(CodeHash, Loaded), ValidationError>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(wasms.len());
        if threads <= 1 {
            return wasms.iter().map(|w| self.prepare(w)).collect();
        }
        let next = AtomicUsize::new(0);
        let slots: Vec<OnceLock<_>> = wasms.iter().map(|_| OnceLock::new()).collect();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let (Some(wasm), Some(slot)) = (wasms.get(i), slots.get(i)) else {
                            break;
                        };
                        let _ = slot.set(self.prepare(wasm));
                    })
                })
                .collect();
            for w in workers {
                // A panicking worker would be a wasmtime bug; the modules it left are
                // prepared below on this thread, which reports the failure where it belongs.
                let _ = w.join();
            }
        });
        slots
            .into_iter()
            .zip(wasms)
            .map(|(slot, wasm)| slot.into_inner().unwrap_or_else(|| self.prepare(wasm)))
            .collect()
    }

    /// Modules compiled and in memory, and the bytes the in-memory cache charges for them
    /// (bounded by [`VmConfig::module_cache_bytes`]).
    pub fn memory_cache_usage(&self) -> (usize, usize) {
        self.inner.memory_cache_usage()
    }

    /// Whether the module is compiled and in memory.
    pub fn is_loaded(&self, hash: &CodeHash) -> bool {
        self.inner.is_loaded(hash)
    }

    /// Drops every module from memory (the disk cache stays): what a restarted node sees.
    pub fn clear_memory_cache(&self) {
        self.inner.clear_memory_cache();
    }

    /// Starts a transaction's session signed by `origin` in `block`, with `gas_limit` for all of
    /// its calls.
    pub fn session(
        &self,
        backend: Arc<dyn Backend>,
        block: BlockEnv,
        origin: Address,
        gas_limit: u64,
    ) -> Session {
        Session::new(self.inner.clone(), backend, block, origin, gas_limit)
    }

    /// A read-only query of `contract` against committed state.
    ///
    /// # Errors
    /// [`crate::CallError`]: the contract's error, a fault (e.g. out of gas) or a storage
    /// failure.
    pub fn query(
        &self,
        backend: Arc<dyn Backend>,
        block: BlockEnv,
        contract: Address,
        msg: &[u8],
        gas_limit: u64,
    ) -> Result<Vec<u8>> {
        self.session(backend, block, Address::default(), gas_limit)
            .query(contract, msg)
    }
}
