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
    /// The state store has applied blocks the log does not hold: the log lost blocks that
    /// were committed (and may have been acknowledged). Refuse to start rather than serve
    /// receipts and state for blocks nobody can read or replay.
    #[error(transparent)]
    StateAheadOfLog(Box<AheadOfLog>),
    /// The state store applied a different block at its height than the log holds: one of the
    /// two comes from another copy of the chain.
    #[error(
        "the state store ({}) was built from a different block {height} than the block log ({}) \
         holds: one of them comes from another copy of the chain. Refusing to start; nothing \
         was changed on disk. If the block log is the right one, move the state directory \
         aside and start again (it is rebuilt from the log); see docs/operations.md, \
         \"The state does not match the block log\"",
        state.display(),
        log.display()
    )]
    StateMismatch {
        /// The height the state store applied.
        height: u64,
        /// The block log.
        log: std::path::PathBuf,
        /// The state store's directory.
        state: std::path::PathBuf,
    },
    /// A block reached the block log (durably) but writing its state failed; the chain must
    /// be opened again, which replays it ([`crate::ChainFault::Reopen`]).
    #[error("block {height} is in the block log but writing its state failed: {source}")]
    NotApplied {
        /// The block.
        height: u64,
        /// The state store's error.
        #[source]
        source: hanok_storage::Error,
    },
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
    /// Re-executing a block gave other results than its header states: this node cannot
    /// reproduce it (a different build, a nondeterminism, or a proposer that lied). The block
    /// is not applied; a node that meets this must stop applying blocks.
    #[error(transparent)]
    Diverged(Box<Divergence>),
    /// The transactions' gas limits add up to more than a block may use.
    #[error("transactions ask for {total} gas, above the block limit of {max}")]
    BlockGasLimit { total: u128, max: u64 },
}

/// "ends at height 7", "is empty", and the torn record if any, for [`ChainError::StateAheadOfLog`].
fn log_end(last: Option<u64>, torn: Option<&hanok_storage::TornTail>) -> String {
    let mut out = match last {
        Some(l) => format!("ends at height {l}"),
        None => "holds no complete block".into(),
    };
    if let Some(t) = torn {
        out.push_str(&format!(
            " and then an incomplete record at byte {} ({}), cut short after it was written",
            t.offset, t.reason
        ));
    }
    out
}

/// "8" or "8..=10": the blocks the log lost.
fn lost_range(last: Option<u64>, applied: u64) -> String {
    let first = last.map_or(0, |l| l.saturating_add(1));
    if first == applied {
        format!("{applied}")
    } else {
        format!("{first}..={applied}")
    }
}

/// The details of [`ChainError::StateAheadOfLog`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the state store ({}) has applied blocks up to height {applied}, but the block log ({}) \
     {}: the log has lost block{} {}, which {} committed and may have been acknowledged to \
     clients. Refusing to start; nothing was changed on disk. Restore the block log from a \
     backup taken at or after height {applied} or, in a consortium, from another member's \
     block log. Do not delete the state directory: it is the only trace of the lost \
     blocks. See docs/operations.md, \"The state is ahead of the block log\"",
    state.display(),
    log.display(),
    log_end(*log_last, torn.as_ref()),
    if log_last.map_or(0, |l| l.saturating_add(1)) == *applied { "" } else { "s" },
    lost_range(*log_last, *applied),
    if log_last.map_or(0, |l| l.saturating_add(1)) == *applied { "was" } else { "were" },
)]
pub struct AheadOfLog {
    /// The height the state store applied.
    pub applied: u64,
    /// The last complete block of the log.
    pub log_last: Option<u64>,
    /// The block log.
    pub log: std::path::PathBuf,
    /// The state store's directory.
    pub state: std::path::PathBuf,
    /// An incomplete last record, if the log ends in one.
    pub torn: Option<hanok_storage::TornTail>,
}

/// The details of [`ChainError::Diverged`]: the header's figures and ours.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "block {height} does not re-execute to what its header states: state root {header_state_root} \
     in the header, {state_root} here; receipts root {header_receipts_root} in the header, \
     {receipts_root} here; gas used {header_gas_used} in the header, {gas_used} here. The block \
     is not applied"
)]
pub struct Divergence {
    /// The block.
    pub height: u64,
    /// `gas_used` in the header.
    pub header_gas_used: u64,
    /// Gas used by our re-execution.
    pub gas_used: u64,
    /// `state_root` in the header (hex).
    pub header_state_root: String,
    /// The root after our re-execution (hex).
    pub state_root: String,
    /// `receipts_root` in the header (hex).
    pub header_receipts_root: String,
    /// The root of our receipts (hex).
    pub receipts_root: String,
    /// Our receipts, so a caller holding the proposer's can name the first that differs.
    pub receipts: Vec<hanok_proto::v1::Receipt>,
}
