//! The system contracts as a set: their labels and their addresses on a chain.
//!
//! A genesis has its authority instantiate the six system contracts under these labels, so
//! their addresses are known before any of them exists (`hanok_abi::layout::contract_address`
//! of the authority and the label) and their instantiate messages name each other.

use hanok_abi::Address;

/// Label of the identity contract.
pub const IDENTITY: &str = "identity";
/// Label of the registry contract.
pub const REGISTRY: &str = "registry";
/// Label of the KRW deposit token.
pub const KRW: &str = "krw";
/// Label of the escrow contract.
pub const ESCROW: &str = "escrow";
/// Label of the deal contract.
pub const DEAL: &str = "deal";
/// Label of the acquisition-tax contract.
pub const TAX: &str = "tax";

/// Every label, in the order a genesis instantiates them.
pub const LABELS: [&str; 6] = [IDENTITY, REGISTRY, KRW, ESCROW, DEAL, TAX];

/// The system contracts' addresses on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemContracts {
    /// Identity and roles.
    pub identity: Address,
    /// Land registry.
    pub registry: Address,
    /// KRW deposit token.
    pub krw: Address,
    /// Escrow.
    pub escrow: Address,
    /// Deals (title transfer).
    pub deal: Address,
    /// Acquisition tax and the first-home relief.
    pub tax: Address,
}

impl SystemContracts {
    /// The addresses on a chain whose genesis authority is `authority`:
    /// `contract_address(authority, label)` for each label.
    #[cfg(feature = "system")]
    pub fn of(authority: &Address) -> SystemContracts {
        let found: Result<_, core::convert::Infallible> =
            SystemContracts::try_from_labels(|label| {
                Ok(hanok_abi::layout::contract_address(authority, label))
            });
        match found {
            Ok(sys) => sys,
            Err(never) => match never {},
        }
    }

    /// The addresses `find` gives for each label (e.g. looked up on a node by label).
    ///
    /// # Errors
    /// The first error of `find`.
    pub fn try_from_labels<E>(
        mut find: impl FnMut(&'static str) -> Result<Address, E>,
    ) -> Result<SystemContracts, E> {
        Ok(SystemContracts {
            identity: find(IDENTITY)?,
            registry: find(REGISTRY)?,
            krw: find(KRW)?,
            escrow: find(ESCROW)?,
            deal: find(DEAL)?,
            tax: find(TAX)?,
        })
    }

    /// Each label with its address, in [`LABELS`] order.
    pub fn labelled(&self) -> [(&'static str, Address); 6] {
        [
            (IDENTITY, self.identity),
            (REGISTRY, self.registry),
            (KRW, self.krw),
            (ESCROW, self.escrow),
            (DEAL, self.deal),
            (TAX, self.tax),
        ]
    }

    /// The address of the contract labelled `label`, if it is a system contract.
    pub fn get(&self, label: &str) -> Option<Address> {
        self.labelled()
            .into_iter()
            .find(|(l, _)| *l == label)
            .map(|(_, a)| a)
    }
}
