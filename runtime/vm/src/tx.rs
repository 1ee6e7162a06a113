//! What every frame of one transaction shares: the block, the pending state, the events and the
//! call stack ([`TxState`]), and the event type the VM records.

use crate::contract::ContractCache;
use crate::state::{Backend, Overlay};
use hanok_abi::Address;
use std::sync::Arc;

/// The block a transaction executes in. Contracts see nothing else of the outside world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEnv {
    /// Block height.
    pub height: u64,
    /// Block time in unix seconds, set by the proposer.
    pub time: u64,
    /// Chain id.
    pub chain_id: String,
}

/// An event as the VM records it: the contract's [`hanok_abi::Event`] plus who emitted it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContractEvent {
    /// The emitting contract.
    pub contract: Address,
    /// Event type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Attributes in emission order.
    pub attributes: Vec<(String, String)>,
}

impl ContractEvent {
    /// The value of the first attribute named `key`.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One transaction's mutable state, shared (through `Rc<RefCell<_>>`) by its session and every
/// frame the session runs, nested calls included.
pub(crate) struct TxState {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) overlay: Overlay,
    pub(crate) events: Vec<ContractEvent>,
    /// Contracts on the call stack, outermost first: a non-read-only call into one is re-entry.
    pub(crate) stack: Vec<Address>,
    pub(crate) block: BlockEnv,
    pub(crate) origin: Address,
    /// Code hashes of contracts read from `backend`, shared with other sessions of the block.
    pub(crate) contracts: Option<ContractCache>,
}
