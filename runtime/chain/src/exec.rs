//! The block executor: a pure function of (state, block) to (writes, receipts).

use crate::account::{next_nonce, nonce_key};
use crate::admission::Admission;
use crate::backend::PendingBackend;
use crate::error::{ChainError, Result};
use hanok_proto::v1;
use hanok_types::{Call, CheckedTx, Hash, TxError};
use hanok_vm::{
    Backend, BlockEnv, CallError, CodeHash, ContractCache, ContractEvent, TxCall, TxRun, Vm,
    WriteSet,
};
use prost::Message;
use std::sync::Arc;

/// What happened to a transaction included in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    /// Every call succeeded; its writes are committed.
    Ok,
    /// A contract returned an error: writes reverted, nonce used, full gas limit charged.
    ContractError,
    /// The VM stopped a call (out of gas, trap, a limit): as for a contract error.
    VmError,
    /// A stateful check failed (nonce, expiry, enrolment): nothing changed, not even the nonce.
    Rejected,
}

impl TxStatus {
    /// The protobuf enum value.
    pub fn to_proto(self) -> v1::TxStatus {
        match self {
            TxStatus::Ok => v1::TxStatus::Ok,
            TxStatus::ContractError => v1::TxStatus::ContractError,
            TxStatus::VmError => v1::TxStatus::VmError,
            TxStatus::Rejected => v1::TxStatus::Rejected,
        }
    }
}

/// The outcome of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction's hash.
    pub tx_hash: Hash,
    /// The block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Outcome class.
    pub status: TxStatus,
    /// Gas charged: what the calls used on success, the full gas limit on failure, 0 if rejected.
    pub gas_used: u64,
    /// Events of every call, in order (none unless [`TxStatus::Ok`]).
    pub events: Vec<ContractEvent>,
    /// Why it failed.
    pub error: Option<String>,
    /// Which call failed.
    pub failed_call: Option<u32>,
    /// Each call's result on success: returned data for execute, the 20-byte address for
    /// instantiate, the 32-byte code hash for upload.
    pub results: Vec<Vec<u8>>,
    /// The stateful check that rejected it, when [`TxStatus::Rejected`].
    pub rejection: Option<TxError>,
}

impl Receipt {
    /// The protobuf form, as stored and served.
    pub fn to_proto(&self) -> v1::Receipt {
        v1::Receipt {
            tx_hash: self.tx_hash.0.to_vec(),
            height: self.height,
            index: self.index,
            status: self.status.to_proto().into(),
            gas_used: self.gas_used,
            events: self
                .events
                .iter()
                .map(|e| v1::Event {
                    contract: e.contract.0.to_vec(),
                    r#type: e.ty.clone(),
                    attributes: e
                        .attributes
                        .iter()
                        .map(|(k, v)| v1::Attribute {
                            key: k.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                })
                .collect(),
            error: self.error.clone().unwrap_or_default(),
            failed_call: self.failed_call,
            results: self.results.clone(),
        }
    }
}

/// Block-level rules every node must share.
#[derive(Clone)]
pub struct Rules {
    /// Who may send transactions.
    pub admission: Arc<dyn Admission>,
    /// Most gas a block's transactions may ask for, summed over their gas limits.
    pub max_block_gas: u64,
    /// Who may add consortium members ([`crate::members`]); `None`: the chain has no proposer
    /// set and membership calls fail. [`crate::Chain::open`] sets it from the genesis.
    pub membership: Option<crate::members::Membership>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("max_block_gas", &self.max_block_gas)
            .field("membership", &self.membership)
            .finish_non_exhaustive()
    }
}

/// Everything a block changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockOutput {
    /// State writes of every transaction, nonces included, to commit atomically.
    pub writes: WriteSet,
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// Gas charged over the block.
    pub gas_used: u64,
}

impl BlockOutput {
    /// The header's `receipts_root`: sha256 over the sha256 of each encoded receipt.
    pub fn receipts_root(&self) -> Hash {
        receipts_root(&self.receipts)
    }
}

/// sha256 over the concatenated sha256 of each receipt's protobuf encoding.
pub fn receipts_root(receipts: &[Receipt]) -> Hash {
    let encoded: Vec<Vec<u8>> = receipts
        .iter()
        .map(|r| r.to_proto().encode_to_vec())
        .collect();
    root_of_encoded(&encoded)
}

/// [`receipts_root`] of receipts already encoded.
fn root_of_encoded(encoded: &[Vec<u8>]) -> Hash {
    let mut all = Vec::with_capacity(encoded.len().saturating_mul(32));
    for bytes in encoded {
        all.extend_from_slice(&Hash::sha256(bytes).0);
    }
    Hash::sha256(&all)
}

/// A block's receipts in their protobuf form, each converted and encoded once: the encodings
/// give the header's `receipts_root` and the receipts index rows, the protos what the node
/// serves.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EncodedReceipts {
    /// `Receipt::to_proto` of each receipt, in block order.
    pub(crate) protos: Vec<v1::Receipt>,
    /// The protobuf encoding of each of `protos`.
    pub(crate) bytes: Vec<Vec<u8>>,
}

impl EncodedReceipts {
    pub(crate) fn new(receipts: &[Receipt]) -> EncodedReceipts {
        let protos: Vec<v1::Receipt> = receipts.iter().map(Receipt::to_proto).collect();
        let bytes = protos.iter().map(Message::encode_to_vec).collect();
        EncodedReceipts { protos, bytes }
    }

    /// The same value as [`receipts_root`] of the receipts these were made from.
    pub(crate) fn root(&self) -> Hash {
        root_of_encoded(&self.bytes)
    }
}

/// The header's `tx_root`: sha256 over the concatenated transaction hashes.
pub fn tx_root(hashes: impl IntoIterator<Item = Hash>) -> Hash {
    let mut all = Vec::new();
    for h in hashes {
        all.extend_from_slice(&h.0);
    }
    Hash::sha256(&all)
}

/// Executes `txs` in order on top of `state` in `block`. Deterministic: the same state and the
/// same arguments give the same output on every node; nothing is committed.
///
/// Per transaction: the stateful checks (nonce, expiry, enrolment) — failing one gives a
/// [`TxStatus::Rejected`] receipt and changes nothing; then one VM session runs every call in
/// order. If any call fails, the transaction's writes and events are dropped, its nonce is still
/// used and its full gas limit charged.
///
/// # Errors
/// [`ChainError::BlockGasLimit`] if the gas limits add up past the block's;
/// [`ChainError::State`] when the state backend fails (never recorded as a tx outcome).
pub fn execute_block(
    vm: &Vm,
    state: Arc<dyn Backend>,
    block: &BlockEnv,
    txs: &[CheckedTx],
    rules: &Rules,
) -> Result<BlockOutput> {
    let total: u128 = txs.iter().map(|t| u128::from(t.gas_limit())).sum();
    if total > u128::from(rules.max_block_gas) {
        return Err(ChainError::BlockGasLimit {
            total,
            max: rules.max_block_gas,
        });
    }
    let pending = Arc::new(PendingBackend::new(state));
    // Contract metadata read once per block. Sound here: every session runs over `pending`, and
    // the only contract-metadata writes that reach it are those of `Session::finish` (see
    // `ContractCache`); nonces live in another namespace.
    let contracts = ContractCache::new();
    let mut receipts = Vec::with_capacity(txs.len());
    let mut gas_used: u64 = 0;
    for (index, tx) in txs.iter().enumerate() {
        let index = u32::try_from(index).map_err(|_| ChainError::InvalidBlock {
            height: block.height,
            reason: "more than 2^32 transactions".into(),
        })?;
        let ctx = TxContext {
            block,
            index,
            contracts: Some(&contracts),
        };
        let receipt = execute_tx(vm, &pending, ctx, tx, rules)?;
        gas_used = gas_used.saturating_add(receipt.gas_used);
        receipts.push(receipt);
    }
    Ok(BlockOutput {
        writes: pending.writes(),
        receipts,
        gas_used,
    })
}

/// The stateful checks of a transaction about to run at `block.height` over `state`: the exact
/// next nonce, expiry, enrolment and, for a transaction that uploads or instantiates, the right
/// to deploy. Returns that nonce.
///
/// # Errors
/// The outer `Err` is a storage failure; the inner one the [`TxError`] that rejects the tx.
pub fn stateful_check(
    state: &dyn Backend,
    block: &BlockEnv,
    tx: &CheckedTx,
    rules: &Rules,
) -> Result<Result<u64, TxError>> {
    let expected = next_nonce(state, &tx.sender())?;
    if tx.nonce() != expected {
        return Ok(Err(TxError::WrongNonce {
            expected,
            got: tx.nonce(),
        }));
    }
    if let Err(e) = check_expiry(tx, block.height) {
        return Ok(Err(e));
    }
    if let Err(e) = check_enrolled(state, tx, rules)? {
        return Ok(Err(e));
    }
    if let Err(e) = check_may_deploy(state, tx, rules)? {
        return Ok(Err(e));
    }
    Ok(Ok(expected))
}

/// Whether `tx` may still be included at `height`.
///
/// # Errors
/// [`TxError::Expired`].
pub fn check_expiry(tx: &CheckedTx, height: u64) -> Result<(), TxError> {
    if height > tx.expiry_height() {
        return Err(TxError::Expired {
            expiry_height: tx.expiry_height(),
            height,
        });
    }
    Ok(())
}

/// Whether `tx`'s sender may send transactions, by the chain's admission rule over `state`.
///
/// # Errors
/// The outer `Err` is a storage failure; the inner one [`TxError::NotEnrolled`].
pub fn check_enrolled(
    state: &dyn Backend,
    tx: &CheckedTx,
    rules: &Rules,
) -> Result<Result<(), TxError>> {
    if rules.admission.is_enrolled(state, &tx.sender())? {
        Ok(Ok(()))
    } else {
        Ok(Err(TxError::NotEnrolled {
            sender: tx.sender(),
        }))
    }
}

/// Whether `tx`'s sender may make its calls: uploading code and instantiating contracts need the
/// admission rule's [`Admission::may_deploy`]; executing needs nothing more than enrolment.
///
/// # Errors
/// The outer `Err` is a storage failure; the inner one [`TxError::NotDeployer`].
pub fn check_may_deploy(
    state: &dyn Backend,
    tx: &CheckedTx,
    rules: &Rules,
) -> Result<Result<(), TxError>> {
    let deploys = tx
        .calls()
        .iter()
        .any(|c| matches!(c, Call::Upload { .. } | Call::Instantiate { .. }));
    if !deploys || rules.admission.may_deploy(state, &tx.sender())? {
        Ok(Ok(()))
    } else {
        Ok(Err(TxError::NotDeployer {
            sender: tx.sender(),
        }))
    }
}

fn tx_call(call: &Call) -> TxCall<'_> {
    match call {
        Call::Execute { contract, msg } => TxCall::Execute {
            contract: *contract,
            msg,
        },
        Call::Instantiate {
            code_hash,
            label,
            admin,
            msg,
        } => TxCall::Instantiate {
            code: CodeHash(code_hash.0),
            label,
            admin: *admin,
            msg,
        },
        Call::Upload { wasm } => TxCall::Upload { wasm },
    }
}

/// Where a transaction runs: the block, its position, and the contract metadata cache of the
/// block (if any).
#[derive(Debug, Clone, Copy)]
pub struct TxContext<'a> {
    /// The block it runs in.
    pub block: &'a BlockEnv,
    /// Its position in the block.
    pub index: u32,
    /// The block's contract metadata cache (see [`ContractCache`]).
    pub contracts: Option<&'a ContractCache>,
}

/// Runs `calls` as `sender` with `gas_limit`, all-or-nothing, over `state`, and makes the
/// receipt: on success the writes to commit; on failure none, and the full gas limit charged.
/// No stateful check and no nonce: [`execute_tx`] adds those for a signed transaction; an
/// unsigned dry run (`Simulate`) uses this directly.
///
/// # Errors
/// [`ChainError::State`] when the state backend fails (never a transaction outcome).
pub fn execute_calls(
    vm: &Vm,
    state: Arc<dyn Backend>,
    ctx: TxContext<'_>,
    tx_hash: Hash,
    sender: hanok_types::Address,
    gas_limit: u64,
    calls: &[Call],
) -> Result<(Receipt, WriteSet)> {
    let mut receipt = Receipt {
        tx_hash,
        height: ctx.block.height,
        index: ctx.index,
        status: TxStatus::Ok,
        gas_used: 0,
        events: Vec::new(),
        error: None,
        failed_call: None,
        results: Vec::new(),
        rejection: None,
    };
    let mut session = vm.session(state, ctx.block.clone(), sender, gas_limit);
    if let Some(cache) = ctx.contracts {
        session = session.with_contract_cache(cache);
    }
    match session.run_all(calls.iter().map(tx_call))? {
        TxRun::Done { results, effects } => {
            receipt.results = results;
            receipt.gas_used = effects.gas_used;
            receipt.events = effects.events;
            Ok((receipt, effects.writes))
        }
        TxRun::Failed { index, error } => {
            receipt.status = match error {
                CallError::Contract { .. } => TxStatus::ContractError,
                _ => TxStatus::VmError,
            };
            receipt.error = Some(error.to_string());
            receipt.failed_call = u32::try_from(index).ok();
            // A failed execution is charged its full gas limit (DESIGN.md).
            receipt.gas_used = gas_limit;
            Ok((receipt, WriteSet::new()))
        }
    }
}

/// Executes one signed transaction as the block's `ctx.index`-th over `pending`: the stateful
/// checks (a failure gives a [`TxStatus::Rejected`] receipt and changes nothing), then the calls
/// ([`execute_calls`]), then the nonce, used whether or not the calls succeeded.
///
/// # Errors
/// [`ChainError::State`] when the state backend fails (never a transaction outcome).
pub fn execute_tx(
    vm: &Vm,
    pending: &Arc<PendingBackend>,
    ctx: TxContext<'_>,
    tx: &CheckedTx,
    rules: &Rules,
) -> Result<Receipt> {
    let nonce = match stateful_check(pending.as_ref(), ctx.block, tx, rules)? {
        Ok(n) => n,
        Err(e) => {
            return Ok(Receipt {
                tx_hash: tx.hash(),
                height: ctx.block.height,
                index: ctx.index,
                status: TxStatus::Rejected,
                gas_used: 0,
                events: Vec::new(),
                error: Some(e.to_string()),
                failed_call: None,
                results: Vec::new(),
                rejection: Some(e),
            })
        }
    };
    let (receipt, writes) = if crate::members::is_membership_tx(tx) {
        crate::members::execute(pending.as_ref(), ctx, tx, rules.membership.as_ref())?
    } else {
        let backend: Arc<dyn Backend> = pending.clone();
        execute_calls(
            vm,
            backend,
            ctx,
            tx.hash(),
            tx.sender(),
            tx.gas_limit(),
            tx.calls(),
        )?
    };
    pending.apply(writes);
    // The nonce is used whether or not the calls succeeded: the signed bytes can never run again.
    pending.put(
        nonce_key(&tx.sender()),
        Some(nonce.saturating_add(1).to_be_bytes().to_vec()),
    );
    Ok(receipt)
}
