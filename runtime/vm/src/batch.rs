//! A transaction's calls run all-or-nothing in one session: the one definition that blocks,
//! `Simulate` and the testkit share.

use crate::contract::CodeHash;
use crate::error::{CallError, StorageError};
use crate::session::{Effects, Session};
use hanok_abi::Address;

/// One call of a transaction, borrowed from wherever the transaction is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxCall<'a> {
    /// `execute` of `contract` with a JSON message.
    Execute {
        /// The contract.
        contract: Address,
        /// The message.
        msg: &'a [u8],
    },
    /// Create a contract from uploaded code.
    Instantiate {
        /// The uploaded code.
        code: CodeHash,
        /// The label its address derives from.
        label: &'a str,
        /// Who may migrate it.
        admin: Option<Address>,
        /// The instantiate message.
        msg: &'a [u8],
    },
    /// Store a wasm module as code.
    Upload {
        /// Binary wasm.
        wasm: &'a [u8],
    },
}

/// What running a transaction's calls gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxRun {
    /// Every call succeeded.
    Done {
        /// Each call's result: the returned data for execute, the 20-byte address for
        /// instantiate, the 32-byte code hash for upload.
        results: Vec<Vec<u8>>,
        /// The session's writes, events and gas, to commit.
        effects: Effects,
    },
    /// A call failed: nothing of the transaction may be committed.
    Failed {
        /// Which call, from 0.
        index: usize,
        /// Why: a contract error or a VM fault, never a storage failure (that is the `Err` of
        /// [`Session::run_all`]).
        error: CallError,
    },
}

impl Session {
    /// Runs `calls` in order and stops at the first that fails. On success the session's effects
    /// are returned to be committed; on failure they are dropped with the session, so the
    /// transaction changes nothing.
    ///
    /// # Errors
    /// [`StorageError`] when the state backend fails: that is never a transaction's outcome, and
    /// the caller must stop (a block is not produced; a dry run is refused).
    pub fn run_all<'a>(
        mut self,
        calls: impl IntoIterator<Item = TxCall<'a>>,
    ) -> Result<TxRun, StorageError> {
        let mut results = Vec::new();
        for (index, call) in calls.into_iter().enumerate() {
            let result = match call {
                TxCall::Execute { contract, msg } => self.execute(contract, msg).map(|o| o.data),
                TxCall::Instantiate {
                    code,
                    label,
                    admin,
                    msg,
                } => self
                    .instantiate(code, label, admin, msg)
                    .map(|(address, _)| address.0.to_vec()),
                TxCall::Upload { wasm } => self.upload(wasm).map(|h| h.0.to_vec()),
            };
            match result {
                Ok(data) => results.push(data),
                Err(CallError::Storage(e)) => return Err(e),
                Err(error) => return Ok(TxRun::Failed { index, error }),
            }
        }
        Ok(TxRun::Done {
            results,
            effects: self.finish(),
        })
    }
}
