//! [`Genesis`]: the chain's first state — the authority and the system contracts.

use crate::error::{ChainError, Result};
use hanok_types::{Address, Hash, PublicKey};
use hanok_vm::{contract_address, BlockEnv, Effects, MemBackend, Vm};
use std::sync::Arc;

/// Gas for running genesis: large, because system contracts are uploaded and instantiated in one
/// session, but finite, so a genesis contract that loops forever still stops.
pub const GENESIS_GAS: u64 = 1 << 50;

/// A system contract deployed at genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisContract {
    /// Its label; its address is `contract_address(authority, label)`.
    pub label: String,
    /// Binary wasm.
    pub wasm: Vec<u8>,
    /// JSON instantiate message.
    pub msg: Vec<u8>,
}

/// What block 0 holds: the chain id, its time, the registry authority and the system contracts,
/// uploaded and instantiated by the authority in order (each with the authority as admin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// Chain id every transaction must name.
    pub chain_id: String,
    /// Time of block 0, unix seconds.
    pub time: u64,
    /// The first registry authority.
    pub authority: PublicKey,
    /// System contracts, deployed in order.
    pub contracts: Vec<GenesisContract>,
}

impl Genesis {
    /// The address a genesis contract with `label` gets.
    pub fn contract_address(&self, label: &str) -> Address {
        contract_address(&self.authority.address(), label)
    }

    /// A digest of everything in the genesis, recorded as block 0's `prev_hash` so a node
    /// given another genesis refuses the stored chain.
    pub fn hash(&self) -> Hash {
        let mut buf = Vec::new();
        let mut put = |b: &[u8]| {
            buf.extend_from_slice(&(b.len() as u64).to_be_bytes());
            buf.extend_from_slice(b);
        };
        put(b"hanok/genesis/v1");
        put(self.chain_id.as_bytes());
        put(&self.time.to_be_bytes());
        put(&self.authority.to_bytes());
        for c in &self.contracts {
            put(c.label.as_bytes());
            put(&Hash::sha256(&c.wasm).0);
            put(&c.msg);
        }
        Hash::sha256(&buf)
    }

    /// The block environment of block 0.
    pub fn block_env(&self) -> BlockEnv {
        BlockEnv {
            height: 0,
            time: self.time,
            chain_id: self.chain_id.clone(),
        }
    }
}

/// Runs genesis on an empty state: uploads and instantiates every contract as the authority at
/// height 0, and returns the writes of block 0.
///
/// # Errors
/// [`ChainError::Genesis`] naming the contract that failed.
pub fn genesis_writes(vm: &Vm, genesis: &Genesis) -> Result<Effects> {
    let empty = Arc::new(MemBackend::new());
    let authority = genesis.authority.address();
    let mut session = vm.session(empty, genesis.block_env(), authority, GENESIS_GAS);
    for c in &genesis.contracts {
        let fail = |e: &dyn std::fmt::Display| ChainError::Genesis {
            label: c.label.clone(),
            reason: e.to_string(),
        };
        let code = session.upload(&c.wasm).map_err(|e| fail(&e))?;
        session
            .instantiate(code, &c.label, Some(authority), &c.msg)
            .map_err(|e| fail(&e))?;
    }
    Ok(session.finish())
}
