//! [`Admission`]: who may send transactions, and who may add code (upload and instantiate).
//! The identity contract's rule plugs in here.

use hanok_types::Address;
use hanok_vm::state::keys;
use hanok_vm::{Backend, StorageError};

/// Decides whether an account is enrolled, and whether it may add code. Runs against the block's
/// pending state, so an account enrolled by an earlier transaction of the same block may send in
/// the next one (and one whose role was revoked earlier in the block may not).
///
/// Both answers are chain rules: every node must give the same ones for the same state.
pub trait Admission: Send + Sync {
    /// Whether `address` may send transactions.
    ///
    /// # Errors
    /// [`StorageError`] when the state cannot be read; the block stops.
    fn is_enrolled(&self, state: &dyn Backend, address: &Address) -> Result<bool, StorageError>;

    /// Whether `address` may upload code and instantiate contracts (asked only for a
    /// transaction with such a call, after [`Admission::is_enrolled`]).
    ///
    /// # Errors
    /// [`StorageError`] when the state cannot be read; the block stops.
    fn may_deploy(&self, state: &dyn Backend, address: &Address) -> Result<bool, StorageError>;
}

/// Everyone is enrolled: for tests and open dev chains.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Admission for AllowAll {
    fn is_enrolled(&self, _: &dyn Backend, _: &Address) -> Result<bool, StorageError> {
        Ok(true)
    }

    fn may_deploy(&self, _: &dyn Backend, _: &Address) -> Result<bool, StorageError> {
        Ok(true)
    }
}

/// Maps an address to the contract storage key that marks it enrolled.
type KeyFn = Box<dyn Fn(&Address) -> Vec<u8> + Send + Sync>;

/// Enrolled iff a given contract's storage holds a key derived from the address, e.g. the
/// identity contract's role entry for it. It knows no roles, so every enrolled account may
/// deploy; the node's rule, which reads the identity contract's roles, is
/// `hanok_ledger::NodeGenesis::gated_by`.
pub struct StorageKeyAdmission {
    contract: Address,
    key: KeyFn,
}

impl std::fmt::Debug for StorageKeyAdmission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageKeyAdmission")
            .field("contract", &self.contract)
            .finish_non_exhaustive()
    }
}

impl StorageKeyAdmission {
    /// Enrolled iff `contract`'s storage has `key(address)`.
    pub fn new(
        contract: Address,
        key: impl Fn(&Address) -> Vec<u8> + Send + Sync + 'static,
    ) -> StorageKeyAdmission {
        StorageKeyAdmission {
            contract,
            key: Box::new(key),
        }
    }

    /// Enrolled iff `contract`'s storage has `prefix || address bytes`.
    pub fn with_prefix(contract: Address, prefix: Vec<u8>) -> StorageKeyAdmission {
        StorageKeyAdmission::new(contract, move |a: &Address| {
            let mut k = prefix.clone();
            k.extend_from_slice(&a.0);
            k
        })
    }
}

impl Admission for StorageKeyAdmission {
    fn is_enrolled(&self, state: &dyn Backend, address: &Address) -> Result<bool, StorageError> {
        let key = keys::storage(&self.contract, &(self.key)(address));
        Ok(state.get(&key)?.is_some())
    }

    fn may_deploy(&self, state: &dyn Backend, address: &Address) -> Result<bool, StorageError> {
        self.is_enrolled(state, address)
    }
}
