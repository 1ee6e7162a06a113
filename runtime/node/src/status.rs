//! The one place that maps every error to a `tonic::Status`: the code a client branches on and
//! a message a client developer can act on. `docs/node.md` has the table.

use hanok_chain::ChainError;
use hanok_ledger::mempool::MempoolError;
use hanok_ledger::LedgerError;
use hanok_types::{Address, Hash, TxError};
use hanok_vm::{CallError, Fault};
use std::time::Duration;
use tonic::{Code, Status};

/// Any refusal or failure of the ledger.
pub fn ledger(e: &LedgerError) -> Status {
    match e {
        LedgerError::Tx(e) => tx_error(e),
        LedgerError::Mempool(e) => mempool(e),
        LedgerError::AlreadyCommitted { hash, height } => already_committed(hash, *height),
        LedgerError::Call {
            error,
            contract,
            gas_limit,
        } => call(error, contract, *gas_limit),
        LedgerError::BadRequest { field, reason } => bad_field(field, reason),
        LedgerError::NotFound(what) => not_found(what),
        LedgerError::Halted(reason) => halted(reason),
        LedgerError::Paused(_) => Status::unavailable(e.to_string()),
        LedgerError::Closed => shutting_down(),
        LedgerError::Chain(e) => chain(e),
        // Start-up failures never reach a client; if one did, it is the node's fault.
        other => Status::internal(other.to_string()),
    }
}

/// The node is stopping: the request was not served.
pub fn shutting_down() -> Status {
    Status::unavailable("the node is shutting down; retry on another node or after it restarts")
}

/// The node stopped between accepting a transaction and committing it.
pub fn stopped_before_commit() -> Status {
    Status::unavailable("the node stopped before the transaction committed; poll GetReceipt")
}

/// The node is stopping and `hash` is in no block: it is dropped with the mempool.
pub fn not_committed_at_shutdown(hash: &Hash) -> Status {
    Status::unavailable(format!(
        "the node is shutting down and transaction {hash} was not committed; submit the same \
         signed transaction again, to another node or after this one restarts"
    ))
}

/// The ledger is still being opened: the block log is replayed into the state store.
pub fn replaying(height: u64, last: u64) -> Status {
    Status::unavailable(format!(
        "replaying: block {height} of {last}; the node serves once its health check reports \
         SERVING, retry then or on another node"
    ))
}

/// The node serves its most streams (subscriptions and submit streams) already.
pub fn too_many_subscriptions(limit: usize) -> Status {
    Status::resource_exhausted(format!(
        "the node already serves {limit} streams (StreamBlocks, StreamEvents and SubmitStream \
         together; max_subscriptions); retry later or use another node"
    ))
}

/// The connection has its most streams open already.
pub fn too_many_subscriptions_on_connection(limit: usize) -> Status {
    Status::resource_exhausted(format!(
        "this connection already has {limit} streams open (StreamBlocks, StreamEvents and \
         SubmitStream together; max_subscriptions_per_connection); close one, or open another \
         connection"
    ))
}

/// A `SubmitStream` client took no response for the stall timeout while the node had answers
/// for it, and the stream was dropped.
pub fn stalled_submit_stream(stall: Duration) -> Status {
    Status::resource_exhausted(format!(
        "submit stream dropped: the client took no response for {} ms \
         (subscription_stall_timeout_ms) while the node had answers waiting; read responses as \
         they arrive, concurrently with sending. Transactions already sent may still commit: \
         ask GetReceipt for those without an answer before sending them again",
        stall.as_millis()
    ))
}

/// A subscriber took no message for the stall timeout and was dropped.
pub fn stalled_subscriber(stall: Duration, next_height: u64) -> Status {
    Status::resource_exhausted(format!(
        "subscription dropped: the client took no message for {} ms \
         (subscription_stall_timeout_ms); read as messages arrive, and subscribe again from \
         height {next_height}",
        stall.as_millis()
    ))
}

/// A transaction refused by a stateless check (signature, chain id, size...) or a stateful one
/// at submit (nonce, expiry, enrolment).
pub fn tx_error(e: &TxError) -> Status {
    let code = match e {
        TxError::NotEnrolled { .. } | TxError::NotDeployer { .. } => Code::PermissionDenied,
        TxError::WrongNonce { .. } | TxError::Expired { .. } => Code::FailedPrecondition,
        // Everything else is wrong in the bytes themselves: re-sending them cannot succeed.
        _ => Code::InvalidArgument,
    };
    Status::new(code, e.to_string())
}

/// A transaction the mempool refused.
pub fn mempool(e: &MempoolError) -> Status {
    let code = match e {
        MempoolError::Full { .. } | MempoolError::AccountFull { .. } => Code::ResourceExhausted,
        MempoolError::Duplicate(_) => Code::AlreadyExists,
        MempoolError::NonceUsed { .. }
        | MempoolError::NonceGap { .. }
        | MempoolError::NonceTaken { .. } => Code::FailedPrecondition,
    };
    Status::new(code, e.to_string())
}

/// A transaction that is already committed.
pub fn already_committed(hash: &Hash, height: u64) -> Status {
    Status::already_exists(format!(
        "transaction {hash} is already committed at height {height}; fetch its receipt with GetReceipt"
    ))
}

/// A chain error while serving a request. Storage failures are `UNAVAILABLE`: the node cannot
/// serve until its operator restarts it (restart replays the block log).
pub fn chain(e: &ChainError) -> Status {
    match e {
        ChainError::Store(_) | ChainError::State(_) | ChainError::Io { .. } => {
            Status::unavailable(format!("node storage failed: {e}; retry on another node"))
        }
        ChainError::Corrupt(_) => Status::data_loss(format!(
            "node storage is corrupt: {e}; retry on another node"
        )),
        _ => Status::internal(e.to_string()),
    }
}

/// Block production stopped on a storage failure; the node refuses new transactions.
pub fn halted(reason: &str) -> Status {
    Status::unavailable(format!(
        "block production stopped after a storage failure ({reason}); the node accepts no transactions until it is restarted"
    ))
}

/// A failed query (or unsigned simulation) of `contract`: the two levels of the VM's
/// [`CallError`], plus the faults a caller can fix.
pub fn call(e: &CallError, contract: &Address, gas_limit: u64) -> Status {
    match e {
        CallError::Contract { message, .. } => Status::invalid_argument(format!(
            "contract {contract} refused the request: {message}"
        )),
        CallError::Storage(s) => {
            Status::unavailable(format!("node storage failed: {s}; retry on another node"))
        }
        CallError::Fault(f) => match f {
            Fault::NoSuchContract(a) => Status::not_found(format!(
                "no contract at {a}; ListContracts shows the deployed ones"
            )),
            Fault::NoSuchCode(h) => Status::not_found(format!("no code with hash {h}")),
            Fault::OutOfGas => Status::resource_exhausted(format!(
                "the query ran out of gas (limit {gas_limit}); narrow it, e.g. page with a smaller limit"
            )),
            Fault::NoEntryPoint(ep) => Status::unimplemented(format!(
                "contract {contract} does not export `{ep}`"
            )),
            Fault::Resources(r) => {
                Status::unavailable(format!("VM resources exhausted ({r}); retry shortly"))
            }
            Fault::StackOverflow | Fault::CallDepth { .. } => Status::resource_exhausted(format!(
                "the query of {contract} hit a VM limit: {f}; narrow the query, or report it to the contract's maintainers if it recurses"
            )),
            // A message the contract cannot use is answered with a contract error (above), never
            // a fault: a fault is the contract's code failing (a trap, a panic, a misused host
            // function), so it is not the client's argument. Retrying the same query fails the
            // same way (execution is deterministic).
            other => Status::internal(format!(
                "contract {contract} faulted while answering the query: {other}; this is a failure of the contract's code, not a refusal of your message (that would be a contract error); report it to the contract's maintainers"
            )),
        },
    }
}

/// `SubmitAndWait` gave up before its transaction committed.
pub fn wait_deadline(hash: &Hash, waited: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "transaction {hash} was accepted but not committed within {} ms; it may still commit: poll GetReceipt",
        waited.as_millis()
    ))
}

/// A waiting transaction was evicted from the mempool.
pub fn evicted(hash: &Hash, why: &str) -> Status {
    Status::aborted(format!(
        "transaction {hash} was dropped from the mempool: {why}; re-sign and submit again"
    ))
}

/// A request field is missing or has the wrong length.
pub fn bad_field(field: &str, what: &str) -> Status {
    Status::invalid_argument(format!("{field}: {what}"))
}

/// A lookup found nothing.
pub fn not_found(what: impl std::fmt::Display) -> Status {
    Status::not_found(what.to_string())
}

/// A blocking task of the node failed (a panic): a node bug, never the client's.
pub fn task(e: &dyn std::fmt::Display) -> Status {
    Status::internal(format!("node task failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_table() {
        let s = tx_error(&TxError::HighS);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("low-S"));
        let s = tx_error(&TxError::NotEnrolled {
            sender: Address::default(),
        });
        assert_eq!(s.code(), Code::PermissionDenied);
        let s = mempool(&MempoolError::Full { capacity: 3 });
        assert_eq!(s.code(), Code::ResourceExhausted);
        let s = mempool(&MempoolError::NonceUsed {
            expected: 4,
            got: 2,
        });
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(s.message().contains("next nonce is 4"));
        let s = call(
            &CallError::Fault(Fault::NoSuchContract(Address::default())),
            &Address::default(),
            1,
        );
        assert_eq!(s.code(), Code::NotFound);
    }

    #[test]
    fn a_query_that_faults_is_not_blamed_on_the_client() {
        let contract = Address::default();
        let s = call(
            &CallError::Fault(Fault::Trap("out of bounds memory access".into())),
            &contract,
            1,
        );
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("JSON Schema"), "{}", s.message());
        assert!(
            s.message()
                .contains("wasm trap: out of bounds memory access")
                && !s.message().contains("wasm trap: wasm trap"),
            "{}",
            s.message()
        );
        let s = call(&CallError::Fault(Fault::StackOverflow), &contract, 1);
        assert_eq!(s.code(), Code::ResourceExhausted);
        // The contract's own refusal of a message stays the client's argument.
        let s = call(
            &CallError::Contract {
                contract,
                message: "invalid message: unknown variant".into(),
            },
            &contract,
            1,
        );
        assert_eq!(s.code(), Code::InvalidArgument);
    }
}
