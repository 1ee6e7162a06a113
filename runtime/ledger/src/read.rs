//! The read side of the [`Ledger`]: status, queries, dry runs, accounts, contracts, blocks,
//! receipts and proofs, each answered from committed state.

use crate::error::{LedgerError, Result};
use crate::ledger::{CommittedBlock, Ledger};
use hanok_chain::{
    execute_calls, execute_tx, header_hash, Chain, ChainError, PendingBackend, Receipt, TxContext,
};
use hanok_messages::identity;
use hanok_proto::v1;
use hanok_types::{tx_hash, Address, CheckedTx, Hash, TxError, UnsignedBody};
use hanok_vm::{layout, BlockEnv, ContractInfo, WriteSet};
use std::sync::Arc;

/// Where the chain stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerStatus {
    /// The chain id.
    pub chain_id: String,
    /// Height of the last committed block.
    pub height: u64,
    /// Hash of its header.
    pub latest_block_hash: Hash,
    /// Its time, unix seconds.
    pub latest_block_time: u64,
    /// The root over all state after it.
    pub state_root: Hash,
}

/// An account as the chain knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its address.
    pub address: Address,
    /// The nonce its next transaction must carry.
    pub next_nonce: u64,
    /// Its `did:key`, when its public key is known (it sent a transaction, or is the authority).
    pub did: Option<String>,
    /// Its roles in the identity contract, sorted (empty when not enrolled or without one).
    pub roles: Vec<identity::Role>,
    /// Whether the identity contract has it enrolled.
    pub enrolled: bool,
}

/// A dry run: the receipt the transaction would get in the next block and its state writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The receipt.
    pub receipt: v1::Receipt,
    /// Every state write it would make, in key order.
    pub diff: Vec<v1::StateWrite>,
}

/// A state value with its proof, and the header whose `state_root` it is checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct StateProof {
    /// The value, `None` for a proof of absence.
    pub value: Option<Vec<u8>>,
    /// The encoded proof (`hanok_proof::Proof::to_bytes`).
    pub proof: Vec<u8>,
    /// The header that commits to the state proven.
    pub header: v1::BlockHeader,
}

/// Most blocks one [`Ledger::blocks_from`] call returns.
pub const MAX_BLOCKS_PER_READ: u64 = 64;

/// The most transactions one dry run ([`Ledger::simulate_sequence`]) runs: enough for every
/// remaining approval of a policy and the settlement after them, and a bound on the CPU one
/// `Simulate` call can take (each transaction is also bounded by its gas limit).
pub const MAX_SIMULATED_TXS: usize = 16;

/// Most contracts one [`Ledger::contracts`] page holds.
pub const MAX_CONTRACTS_PER_PAGE: usize = 1000;

/// The environment of the next block, for a dry run at `now` (never before the last block).
fn next_env(c: &Chain, now: u64) -> BlockEnv {
    BlockEnv {
        height: c.height().saturating_add(1),
        time: now.max(c.last_header().time),
        chain_id: c.chain_id().to_string(),
    }
}

/// The state diff of a dry run, in key order; contract-storage keys are split into the contract
/// address and the key inside its storage.
pub fn state_diff(writes: &WriteSet) -> Vec<v1::StateWrite> {
    writes
        .iter()
        .map(|(k, v)| {
            let (contract, contract_key) = match layout::split_storage_key(k) {
                Some((contract, key)) => (contract.0.to_vec(), key.to_vec()),
                None => (Vec::new(), Vec::new()),
            };
            v1::StateWrite {
                key: k.clone(),
                value: v.clone(),
                contract,
                contract_key,
            }
        })
        .collect()
}

impl Ledger {
    /// Where the chain stands.
    ///
    /// # Errors
    /// [`LedgerError::Closed`].
    pub fn status(&self) -> Result<LedgerStatus> {
        self.with_chain(|c| {
            Ok(LedgerStatus {
                chain_id: c.chain_id().to_string(),
                height: c.height(),
                latest_block_hash: c.last_hash(),
                latest_block_time: c.last_header().time,
                state_root: c.state_root(),
            })
        })
    }

    /// The consortium members added after genesis (by the genesis authority, see
    /// [`hanok_chain::members`]), as of the last committed block, with that block's height.
    ///
    /// # Errors
    /// [`LedgerError::Chain`] on storage failure; [`LedgerError::Closed`].
    pub fn consortium_members(&self) -> Result<(Vec<hanok_chain::members::MemberRecord>, u64)> {
        self.with_chain(|c| {
            Ok((
                hanok_chain::members::members(c.backend().as_ref())?,
                c.height(),
            ))
        })
    }

    /// This node's attestation of the block it committed at `height`: the header's hash, this
    /// node's key and its signature over [`hanok_types::attestation_digest`] of that hash.
    ///
    /// # Errors
    /// [`LedgerError::NotFound`] above the last height; [`LedgerError::Chain`].
    pub fn attest(&self, height: u64) -> Result<(Hash, hanok_types::PublicKey, Vec<u8>)> {
        let (_, hash) = self.block(Some(height))?;
        let signature = self
            .proposer_key()
            .sign_prehash(&hanok_types::attestation_digest(&hash));
        Ok((hash, self.proposer_key().public_key(), signature.to_vec()))
    }

    /// Height of the last committed block.
    ///
    /// # Errors
    /// [`LedgerError::Closed`].
    pub fn height(&self) -> Result<u64> {
        self.with_chain(|c| Ok(c.height()))
    }

    /// A read-only query of `contract` against committed state, with the query gas limit.
    /// Returns the answer and the height it speaks for.
    ///
    /// # Errors
    /// [`LedgerError::Call`] with the VM's two-level error.
    pub fn query(&self, contract: Address, msg: &[u8]) -> Result<(Vec<u8>, u64)> {
        let gas_limit = self.config().query_gas_limit;
        self.with_chain(|c| query_on(c, contract, msg, gas_limit))
    }

    /// The short road for a query: runs it on the calling thread right away, within
    /// `gas_limit` (at most the query gas limit), but only if no block is being committed (the
    /// chain is free to read now). `None` when it is not, or when the query needs more gas than
    /// `gas_limit` allows and less than the query gas limit: the caller then runs [`query`]
    /// where blocking is allowed. Meant for an async server's own threads, which must not wait
    /// on a commit or run a long call.
    ///
    /// [`query`]: Ledger::query
    pub fn try_query_now(
        &self,
        contract: Address,
        msg: &[u8],
        gas_limit: u64,
    ) -> Option<Result<(Vec<u8>, u64)>> {
        let full = self.config().query_gas_limit;
        let gas_limit = gas_limit.min(full);
        let guard = match self.chain.try_read() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let Some(chain) = guard.as_ref() else {
            return Some(Err(self.chain_out()));
        };
        match query_on(chain, contract, msg, gas_limit) {
            Err(LedgerError::Call {
                error: hanok_vm::CallError::Fault(hanok_vm::Fault::OutOfGas),
                ..
            }) if gas_limit < full => None,
            done => Some(done),
        }
    }

    /// A dry run of `signed` as the next block at `now` would run it; nothing is committed.
    /// Signed: exactly what the block would do with this one transaction (stateful checks
    /// included). Unsigned (empty signature): the body's calls as its `sender`, skipping
    /// signature, chain id, nonce and enrolment, with the body's gas limit (the transaction
    /// maximum when 0 or above it).
    ///
    /// # Errors
    /// [`LedgerError::Tx`] for a transaction that fails its stateless checks or does not
    /// decode; [`LedgerError::Chain`] on storage failure.
    pub fn simulate(&self, signed: v1::SignedTx, now: u64) -> Result<Simulation> {
        let (mut receipts, diff) = self.simulate_sequence(vec![signed], now)?;
        let receipt = receipts
            .pop()
            .ok_or_else(|| LedgerError::NotFound("the dry run produced no receipt".into()))?;
        Ok(Simulation { receipt, diff })
    }

    /// A dry run of `txs` in order, as the next block at `now` would run them one after the
    /// other: each sees the writes of those before it, signed or unsigned as for
    /// [`Ledger::simulate`] (a failed one writes nothing but a signed one's nonce). Returns one
    /// receipt per transaction and the combined writes, in key order; nothing is committed.
    /// This is how a client asks what would happen after steps others must still sign (an
    /// official's console shows a settlement's effect before the remaining approvals are in).
    ///
    /// # Errors
    /// [`LedgerError::BadRequest`] for an empty list, more than [`MAX_SIMULATED_TXS`], or a
    /// later transaction that fails its stateless checks (naming it as `then[i]`);
    /// [`LedgerError::Tx`] when the first one does; [`LedgerError::Chain`] on storage failure.
    pub fn simulate_sequence(
        &self,
        txs: Vec<v1::SignedTx>,
        now: u64,
    ) -> Result<(Vec<v1::Receipt>, Vec<v1::StateWrite>)> {
        if txs.is_empty() || txs.len() > MAX_SIMULATED_TXS {
            return Err(LedgerError::BadRequest {
                field: "then".into(),
                reason: format!(
                    "a dry run takes 1 to {MAX_SIMULATED_TXS} transactions (tx and then), got {}",
                    txs.len()
                ),
            });
        }
        self.with_chain(|c| {
            let env = next_env(c, now);
            let pending = Arc::new(PendingBackend::new(c.backend()));
            let mut receipts = Vec::with_capacity(txs.len());
            for (i, signed) in txs.into_iter().enumerate() {
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                let ctx = TxContext {
                    block: &env,
                    index,
                    contracts: None,
                };
                let at = |e: TxError| {
                    if i == 0 {
                        LedgerError::Tx(e)
                    } else {
                        LedgerError::BadRequest {
                            field: format!("then[{}]", i.saturating_sub(1)),
                            reason: e.to_string(),
                        }
                    }
                };
                let receipt = if signed.signature.is_empty() {
                    let hash = Hash::sha256(&signed.body);
                    let body = UnsignedBody::decode(&signed.body, self.tx_limits()).map_err(at)?;
                    let (receipt, writes) = execute_calls(
                        c.vm(),
                        pending.clone(),
                        ctx,
                        hash,
                        body.sender,
                        body.gas_limit,
                        &body.calls,
                    )?;
                    pending.apply(writes);
                    receipt
                } else {
                    let tx = CheckedTx::check_signed(signed, c.chain_id(), self.tx_limits())
                        .map_err(at)?;
                    execute_tx(c.vm(), &pending, ctx, &tx, &c.config().rules)?
                };
                receipts.push(Receipt::to_proto(&receipt));
            }
            Ok((receipts, state_diff(&pending.writes())))
        })
    }

    /// `address`'s next nonce, `did:key` (when known) and roles in the identity contract.
    ///
    /// # Errors
    /// [`LedgerError::Call`] if the identity contract refuses the roles query;
    /// [`LedgerError::Chain`].
    pub fn account(&self, address: Address) -> Result<Account> {
        let identity = self.identity();
        let gas_limit = self.config().query_gas_limit;
        let (next_nonce, roles) = self.with_chain(|c| {
            let nonce = c.next_nonce(&address)?;
            let roles = match identity {
                None => None,
                Some(id) => {
                    let msg = serde_json::to_vec(&identity::QueryMsg::Roles { address })
                        .map_err(|e| LedgerError::Chain(ChainError::Corrupt(e.to_string())))?;
                    let data = c
                        .query(id, &msg, gas_limit)
                        .map_err(|error| LedgerError::Call {
                            error,
                            contract: id,
                            gas_limit,
                        })?;
                    let answer: identity::RolesResponse =
                        serde_json::from_slice(&data).map_err(|e| {
                            LedgerError::Chain(ChainError::Corrupt(format!(
                                "the identity contract {id} answered a roles query with \
                                 unexpected JSON: {e}"
                            )))
                        })?;
                    Some(answer)
                }
            };
            Ok((nonce, roles))
        })?;
        Ok(Account {
            address,
            next_nonce,
            did: self.known_key(&address).map(|k| k.did()),
            enrolled: roles.as_ref().is_some_and(|r| r.enrolled),
            roles: roles.map_or_else(Vec::new, |r| r.roles),
        })
    }

    /// Up to `limit` deployed contracts (at most [`MAX_CONTRACTS_PER_PAGE`]) in address order,
    /// after `start_after`.
    ///
    /// # Errors
    /// [`LedgerError::Chain`] on storage failure or stored metadata that does not decode.
    pub fn contracts(
        &self,
        start_after: Option<Address>,
        limit: usize,
    ) -> Result<Vec<v1::ContractInfo>> {
        let limit = limit.clamp(1, MAX_CONTRACTS_PER_PAGE);
        let start = match start_after {
            None => vec![layout::CONTRACT_INFO],
            Some(after) => {
                let mut k = layout::contract_info_key(&after);
                k.push(0);
                k
            }
        };
        self.with_chain(|c| {
            let end = [layout::CONTRACT_INFO.saturating_add(1)];
            let rows = c
                .backend()
                .scan(&start, Some(&end), limit)
                .map_err(hanok_chain::ChainError::from)?;
            rows.into_iter()
                .map(|(k, v)| {
                    let info = ContractInfo::decode(&v).map_err(|e| {
                        hanok_chain::ChainError::Corrupt(format!(
                            "contract info does not decode: {e}"
                        ))
                    })?;
                    Ok(v1::ContractInfo {
                        address: k.get(1..).unwrap_or_default().to_vec(),
                        code_hash: info.code_hash.0.to_vec(),
                        creator: info.creator.0.to_vec(),
                        label: info.label,
                        admin: info.admin.map(|a| a.0.to_vec()),
                    })
                })
                .collect()
        })
    }

    /// The wasm uploaded with `code_hash`.
    ///
    /// # Errors
    /// [`LedgerError::NotFound`]; [`LedgerError::Chain`].
    pub fn code(&self, code_hash: Hash) -> Result<Vec<u8>> {
        self.with_chain(|c| {
            c.backend()
                .get(&layout::code_key(&code_hash))
                .map_err(hanok_chain::ChainError::from)?
                .ok_or_else(|| LedgerError::NotFound(format!("no code with hash {code_hash}")))
        })
    }

    /// The committed block at `height` (the last one when `None`) and its hash.
    ///
    /// # Errors
    /// [`LedgerError::NotFound`] naming the chain's height; [`LedgerError::Chain`].
    pub fn block(&self, height: Option<u64>) -> Result<(v1::Block, Hash)> {
        self.with_chain(|c| {
            let h = height.unwrap_or_else(|| c.height());
            let block = c.block(h)?.ok_or_else(|| {
                LedgerError::NotFound(format!(
                    "no block {h}; the chain is at height {}",
                    c.height()
                ))
            })?;
            let hash = header_hash(&block.header.clone().unwrap_or_default());
            Ok((block, hash))
        })
    }

    /// The committed block whose header hashes to `hash`.
    ///
    /// # Errors
    /// [`LedgerError::NotFound`]; [`LedgerError::Chain`].
    pub fn block_by_hash(&self, hash: Hash) -> Result<v1::Block> {
        self.with_chain(|c| {
            c.block_by_hash(&hash)?
                .map(|(_, b)| b)
                .ok_or_else(|| LedgerError::NotFound(format!("no committed block {hash}")))
        })
    }

    /// The receipt of a committed transaction.
    ///
    /// # Errors
    /// [`LedgerError::NotFound`], saying whether it still waits in the mempool;
    /// [`LedgerError::Chain`].
    pub fn receipt(&self, hash: Hash) -> Result<v1::Receipt> {
        let pending = self.is_pending(&hash);
        match self.with_chain(|c| Ok(c.receipt(&hash)?))? {
            Some(r) => Ok(r),
            None if pending => Err(LedgerError::NotFound(format!(
                "transaction {hash} is in the mempool and not committed yet; retry after the next block"
            ))),
            None => Err(LedgerError::NotFound(format!(
                "no committed transaction {hash}"
            ))),
        }
    }

    /// A committed transaction with its height and position in the block.
    ///
    /// # Errors
    /// [`LedgerError::NotFound`]; [`LedgerError::Chain`].
    pub fn transaction(&self, hash: Hash) -> Result<(v1::SignedTx, u64, u32)> {
        self.with_chain(|c| {
            let (height, index) = c
                .tx_location(&hash)?
                .ok_or_else(|| LedgerError::NotFound(format!("no committed transaction {hash}")))?;
            let block = c
                .block(height)?
                .ok_or_else(|| LedgerError::NotFound(format!("block {height} missing")))?;
            let tx = block
                .txs
                .get(usize::try_from(index).unwrap_or(usize::MAX))
                .cloned()
                .ok_or_else(|| {
                    LedgerError::NotFound(format!(
                        "transaction {hash} is not at position {index} of block {height}"
                    ))
                })?;
            Ok((tx, height, index))
        })
    }

    /// Committed blocks from `from` with their receipts: at most [`MAX_BLOCKS_PER_READ`], and
    /// none after the one that brings their encoded size to `max_bytes` (so at least one);
    /// empty when `from` is above the chain's height. A reader that holds what it read while a
    /// slow client takes it bounds its memory with `max_bytes`.
    ///
    /// # Errors
    /// [`LedgerError::Chain`].
    pub fn blocks_from(&self, from: u64, max_bytes: usize) -> Result<Vec<CommittedBlock>> {
        self.with_chain(|c| {
            let top = c.height();
            if from > top {
                return Ok(Vec::new());
            }
            let to = top.min(from.saturating_add(MAX_BLOCKS_PER_READ - 1));
            let mut out = Vec::new();
            let mut bytes = 0usize;
            for h in from..=to {
                if bytes >= max_bytes && !out.is_empty() {
                    break;
                }
                let Some(block) = c.block(h)? else {
                    break;
                };
                let mut receipts = Vec::with_capacity(block.txs.len());
                for t in &block.txs {
                    if let Some(r) = c.receipt(&tx_hash(&t.body, &t.signature))? {
                        receipts.push(r);
                    }
                }
                bytes = bytes
                    .saturating_add(prost::Message::encoded_len(&block))
                    .saturating_add(receipts.iter().map(prost::Message::encoded_len).sum());
                out.push(CommittedBlock { block, receipts });
            }
            Ok(out)
        })
    }

    /// The state value at raw key `key` with its proof against the last header (whose
    /// `state_root` is the root after its block, so the current state).
    ///
    /// # Errors
    /// [`LedgerError::Chain`].
    pub fn state_proof(&self, key: &[u8]) -> Result<StateProof> {
        self.with_chain(|c| {
            let (value, proof) = c.get_with_proof(key)?;
            let header = c.last_header().clone();
            if header.state_root != c.state_root().0 {
                return Err(LedgerError::Chain(ChainError::Corrupt(format!(
                    "the state root differs from block {}'s header",
                    header.height
                ))));
            }
            Ok(StateProof {
                value,
                proof: proof.to_bytes(),
                header,
            })
        })
    }
}

/// A read-only query of `contract` on `chain` within `gas_limit`, with the height it speaks for.
fn query_on(
    chain: &hanok_chain::Chain,
    contract: Address,
    msg: &[u8],
    gas_limit: u64,
) -> Result<(Vec<u8>, u64)> {
    let data = chain
        .query(contract, msg, gas_limit)
        .map_err(|error| LedgerError::Call {
            error,
            contract,
            gas_limit,
        })?;
    Ok((data, chain.height()))
}
