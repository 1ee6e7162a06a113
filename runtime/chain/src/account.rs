//! Account state kept by the chain in the VM's key space: `0x10 | address` → next nonce (u64 BE).

use crate::error::{ChainError, Result};
use hanok_types::Address;
use hanok_vm::Backend;

/// Namespace of account nonces and the state key of an account's next nonce: defined once, in
/// `hanok_abi::layout`. The chain's keys sit in the same state tree as the VM's (0x01..=0x03), so
/// the state root covers them.
pub use hanok_types::layout::{nonce_key, ACCOUNT_NONCE};

/// The nonce `address`'s next transaction must carry (0 for a new account).
///
/// # Errors
/// [`ChainError::State`] on storage failure; [`ChainError::Corrupt`] if the value is not 8 bytes.
pub fn next_nonce(state: &dyn Backend, address: &Address) -> Result<u64> {
    match state.get(&nonce_key(address))? {
        None => Ok(0),
        Some(v) => <[u8; 8]>::try_from(v.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| ChainError::Corrupt(format!("nonce of {address} is not 8 bytes"))),
    }
}
