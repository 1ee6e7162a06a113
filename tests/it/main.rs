//! Cross-crate tests: the acceptance story and its failures on the real contracts, compiled to
//! wasm, on the real VM.

mod authorization;
mod closings;
mod consent;
mod encumbrances;
mod failures;
mod held;
mod mortgage;
mod officials;
mod review;
mod story;

use hanok_testkit::{TestError, TxResult};

/// The contract's refusal of `r`, which must be a contract error (not a VM fault, not a
/// success): what a user sees in the receipt.
pub fn refused(r: Result<TxResult, TestError>, what: &str) -> String {
    match r {
        Ok(_) => panic!("{what} must be refused"),
        Err(e) => e
            .contract_message()
            .map(String::from)
            .unwrap_or_else(|| panic!("{what}: not a contract error: {e}")),
    }
}
