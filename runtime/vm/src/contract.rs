//! Contract metadata: [`ContractInfo`] as stored under [`layout::contract_info_key`], how a contract's code hash
//! is looked up, and the per-block [`ContractCache`] of those lookups.

use crate::error::{Fault, Result, StorageError};
use crate::state::{Backend, Overlay, WriteSet};
use hanok_abi::{layout, Address};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// sha256 of a module's bytes: how code is named on chain. The one hash type of hanok
/// ([`hanok_abi::Hash`]), under the name the VM has always given it.
pub use hanok_abi::Hash as CodeHash;

/// A contract's metadata, stored at [`layout::contract_info_key`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContractInfo {
    /// Hex sha256 of the contract's code.
    pub code_hash: String,
    /// Who instantiated it.
    pub creator: Address,
    /// The label its address was derived from.
    pub label: String,
    /// Who may migrate it, if anyone.
    pub admin: Option<Address>,
}

impl ContractInfo {
    /// The stored bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| StorageError(e.to_string()).into())
    }

    /// Reads stored bytes; a record that does not decode is damaged state, not a call outcome.
    pub(crate) fn decode(raw: &[u8]) -> Result<ContractInfo> {
        serde_json::from_slice(raw)
            .map_err(|e| StorageError(format!("corrupt contract info: {e}")).into())
    }

    /// The code hash, parsed.
    pub(crate) fn code(&self) -> Result<CodeHash> {
        CodeHash::from_hex(&self.code_hash)
            .ok_or_else(|| StorageError("corrupt code hash in contract info".into()).into())
    }
}

pub use hanok_abi::layout::contract_address;

/// The metadata of `contract`, read through the pending writes.
///
/// # Errors
/// [`Fault::NoSuchContract`]; a [`StorageError`] on I/O failure or a damaged record.
pub(crate) fn load_info(
    overlay: &Overlay,
    backend: &dyn Backend,
    contract: &Address,
) -> Result<ContractInfo> {
    let raw = overlay
        .get(backend, &layout::contract_info_key(contract))?
        .ok_or(Fault::NoSuchContract(*contract))?;
    ContractInfo::decode(&raw)
}

/// The code hash of `contract`: what [`load_info`] gives, through `cache` when there is one and
/// no pending write to the contract's metadata.
///
/// # Errors
/// As [`load_info`].
pub(crate) fn load_code_hash(
    overlay: &Overlay,
    backend: &dyn Backend,
    cache: Option<&ContractCache>,
    contract: &Address,
) -> Result<CodeHash> {
    let key = layout::contract_info_key(contract);
    let cache = match cache {
        Some(cache) if !overlay.writes().contains_key(&key) => cache,
        _ => return load_info(overlay, backend, contract)?.code(),
    };
    if let Some(code) = cache.get(contract) {
        return Ok(code);
    }
    let raw = backend.get(&key)?.ok_or(Fault::NoSuchContract(*contract))?;
    let code = ContractInfo::decode(&raw)?.code()?;
    cache.insert(*contract, code);
    Ok(code)
}

/// Code hashes of contracts, as read from a backend's contract metadata, shared by the sessions
/// of one block so that each contract's metadata is read and parsed once per block instead of on
/// every call.
///
/// Sound only while the backend it was filled from changes in no other way than by the writes
/// that [`crate::Session::finish`] of sessions using it hand back: `finish` drops the entry of
/// every contract whose metadata the session wrote, before those writes can reach the backend.
/// Entries are only filled from the backend, never from a session's pending writes, so a write
/// that is reverted, or a session that is dropped, leaves nothing behind; a session reads its own
/// pending metadata writes directly. `hanok-chain` uses one per executed block, over the block's
/// pending state. At most [`ContractCache::CAPACITY`] contracts are kept; further ones are read
/// each time.
///
/// Not `Send`: it lives on the thread that runs the block, as sessions do.
#[derive(Clone, Default)]
pub struct ContractCache {
    code: Rc<RefCell<HashMap<Address, CodeHash>>>,
}

impl std::fmt::Debug for ContractCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractCache")
            .field("contracts", &self.code.borrow().len())
            .finish()
    }
}

impl ContractCache {
    /// Most contracts one cache holds.
    pub const CAPACITY: usize = 4096;

    /// An empty cache.
    pub fn new() -> ContractCache {
        ContractCache::default()
    }

    pub(crate) fn get(&self, contract: &Address) -> Option<CodeHash> {
        self.code.borrow().get(contract).copied()
    }

    fn insert(&self, contract: Address, code: CodeHash) {
        let mut map = self.code.borrow_mut();
        if map.len() < Self::CAPACITY {
            map.insert(contract, code);
        }
    }

    /// Forgets every contract whose metadata key is among `writes`.
    pub(crate) fn forget_written(&self, writes: &WriteSet) {
        let mut map = self.code.borrow_mut();
        if map.is_empty() {
            return;
        }
        let start = [layout::CONTRACT_INFO];
        let end = [layout::CONTRACT_INFO.saturating_add(1)];
        for key in writes.range(start.to_vec()..end.to_vec()).map(|(k, _)| k) {
            if let Some(a) = key.get(1..).and_then(Address::from_slice) {
                map.remove(&a);
            }
        }
    }
}
