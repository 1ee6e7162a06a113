//! Uploads off the critical path: an admitted upload's module is validated and compiled on a
//! small worker pool while it waits in the mempool, and the uploads of a block from elsewhere
//! are compiled in parallel before the block executes. Either way, block execution finds the
//! module compiled instead of compiling it while every other transaction waits.
//!
//! Only the timing changes: what a block does with an upload (validate, store, charge gas) is
//! decided by its execution, whatever was compiled ahead.

use crate::{Ledger, Result};
use hanok_proto::v1;
use hanok_types::{Call, CheckedTx, Hash};
use hanok_vm::{PrecompileStats, Precompiler, Vm};
use prost::Message;

impl Ledger {
    /// Whether the module with code hash `code` is compiled and in memory, ready to run.
    ///
    /// # Errors
    /// [`crate::LedgerError::Closed`].
    pub fn is_compiled(&self, code: &Hash) -> Result<bool> {
        self.with_chain(|c| Ok(c.vm().is_loaded(code)))
    }

    /// What the pool compiling admitted uploads has done so far.
    pub fn precompile_stats(&self) -> PrecompileStats {
        self.precompiler.stats()
    }
}

/// Modules waiting for a worker; past it, an upload is compiled by its block as before.
const QUEUE: usize = 16;

/// The pool: half the cores (at least one), so that compiling ahead leaves room for block
/// production and signature checks; wasmtime spreads one module's functions over more threads.
pub(crate) fn start(vm: &Vm) -> Result<Precompiler, hanok_vm::SetupError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Precompiler::new(vm.clone(), (cores / 2).max(1), QUEUE)
}

/// Hands the modules `tx` uploads to the pool. Never blocks.
pub(crate) fn admitted(pool: &Precompiler, tx: &CheckedTx) {
    for call in tx.calls() {
        if let Call::Upload { wasm } = call {
            if !pool.submit(wasm.clone()) {
                tracing::debug!(tx = %tx.hash(), "precompile queue full; the block compiles it");
            }
        }
    }
}

/// Compiles the modules `block` uploads, in parallel, before it is executed. Modules that fail
/// are left for execution to refuse with the transaction's receipt.
pub(crate) fn block_uploads(vm: &Vm, block: &v1::Block) {
    let wasms: Vec<Vec<u8>> = block
        .txs
        .iter()
        .filter_map(|t| v1::TxBody::decode(t.body.as_slice()).ok())
        .flat_map(|body| body.calls)
        .filter_map(|c| match c.kind {
            Some(v1::call::Kind::Upload(u)) => Some(u.wasm),
            _ => None,
        })
        .collect();
    if wasms.is_empty() {
        return;
    }
    let refs: Vec<&[u8]> = wasms.iter().map(Vec::as_slice).collect();
    vm.prepare_many(&refs);
}
