//! Why the ledger refused a request or could not open: one enum, mapped to gRPC statuses by the
//! node's `status.rs` and nowhere else.

use crate::mempool::MempoolError;
use hanok_chain::ChainError;
use hanok_types::{Address, Hash, TxError};
use hanok_vm::CallError;

/// `Result` with [`LedgerError`] by default.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// A refusal or a failure of the ledger. The first group is the client's to fix; the second is
/// the node's state; the last is about opening the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A transaction failed a stateless or stateful check.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The mempool refused a transaction.
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    /// The transaction is already in a committed block.
    #[error("transaction {hash} is already committed at height {height}; fetch its receipt with GetReceipt")]
    AlreadyCommitted {
        /// The transaction.
        hash: Hash,
        /// Its block.
        height: u64,
    },
    /// A read-only call (a query, an unsigned dry run) of `contract` failed.
    #[error("call to {contract} failed: {error}")]
    Call {
        /// The two-level VM error.
        error: CallError,
        /// The contract called.
        contract: Address,
        /// The gas it had.
        gas_limit: u64,
    },
    /// A request field is missing or malformed.
    #[error("{field}: {reason}")]
    BadRequest {
        /// The field, as the client names it.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Nothing matches the request.
    #[error("{0}")]
    NotFound(String),

    /// Block production stopped after a storage failure; no transaction is accepted.
    #[error("block production stopped after a storage failure ({0})")]
    Halted(String),
    /// The ledger is closed (the node is shutting down).
    #[error("the node is shutting down")]
    Closed,
    /// The chain failed: storage, corruption, or a block that does not apply.
    #[error(transparent)]
    Chain(#[from] ChainError),

    /// A genesis file is unreadable, malformed or inconsistent.
    #[error("genesis file {path}: `{field}`: {reason}")]
    Genesis {
        /// The file.
        path: std::path::PathBuf,
        /// The field that is wrong, e.g. `contracts[1].code` (`(root)` / `(file)` for the
        /// whole document).
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// A key file is unreadable, malformed or too widely readable.
    #[error("key file {path}: {reason}")]
    Key {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong (never the key itself).
        reason: String,
    },
    /// The VM could not be set up.
    #[error("VM setup: {0}")]
    Vm(#[from] hanok_vm::SetupError),
    /// The bootstrap block (genesis enrolments) did not apply cleanly.
    #[error("bootstrap block: {0}")]
    Bootstrap(String),
}

impl LedgerError {
    /// Whether this is the node's storage failing (as opposed to the request being wrong).
    pub fn is_storage(&self) -> bool {
        matches!(self, LedgerError::Chain(e) if is_storage(e))
    }
}

/// Whether a chain error is a storage failure, which stops block production.
pub(crate) fn is_storage(e: &ChainError) -> bool {
    matches!(
        e,
        ChainError::Store(_)
            | ChainError::State(_)
            | ChainError::Io { .. }
            | ChainError::Corrupt(_)
    )
}
