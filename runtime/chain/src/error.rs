//! Why a block could not be executed, checked or committed.

use hanok_types::TxError;

/// `Result` with [`ChainError`] by default.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;

/// A failure of the chain. Unlike a failed transaction (which is a [`crate::Receipt`]), every
/// one of these stops the block: nothing of it is committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The block log or state store failed (I/O, corruption). Stop the node; restart replays.
    #[error(transparent)]
    Store(#[from] hanok_storage::Error),
    /// The state backend failed while a transaction ran. Never a transaction outcome.
    #[error(transparent)]
    State(#[from] hanok_vm::StorageError),
    /// The chain directory could not be created.
    #[error("chain directory {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A genesis contract could not be uploaded or instantiated.
    #[error("genesis contract `{label}`: {reason}")]
    Genesis { label: String, reason: String },
    /// The stored chain was started from another genesis.
    #[error("the block log was started from another genesis (hash {found}); this node was given genesis {expected}")]
    GenesisMismatch { expected: String, found: String },
    /// The state store has applied blocks the log does not hold: the log was lost or cut
    /// by hand. Refuse to start rather than serve state nobody can replay.
    #[error("state is at height {applied} but the block log ends at {log_last:?}; restore the block log or wipe the state directory")]
    StateAheadOfLog { applied: u64, log_last: Option<u64> },
    /// Stored data does not decode (a block in the log, a nonce in state).
    #[error("corrupt chain data: {0}")]
    Corrupt(String),
    /// The block is not valid on top of the current chain.
    #[error("invalid block at height {height}: {reason}")]
    InvalidBlock { height: u64, reason: String },
    /// A transaction in a block fails the stateless checks.
    #[error("invalid block at height {height}: transaction {index}: {source}")]
    InvalidTx {
        height: u64,
        index: usize,
        #[source]
        source: TxError,
    },
    /// The transactions' gas limits add up to more than a block may use.
    #[error("transactions ask for {total} gas, above the block limit of {max}")]
    BlockGasLimit { total: u128, max: u64 },
}
