//! The identity contract's interface: [`Role`], its messages and answers.

use alloc::string::String;
use alloc::vec::Vec;
use hanok_abi::layout::MapKey;
use hanok_abi::Address;
use serde::{Deserialize, Serialize};

/// Default page size of `members`.
pub const DEFAULT_LIMIT: u32 = 30;
/// Largest page size of `members`.
pub const MAX_LIMIT: u32 = 100;

/// Namespace of the identity contract's role map, `Map<Address, Vec<Role>>`. The one storage
/// fact outside the contract relies on: a node admits a sender iff this map holds roles for it,
/// read by key ([`roles_key`]) without running the contract.
pub const ROLES_NAMESPACE: &str = "roles";

/// The key, inside the identity contract's storage, of `address`'s roles:
/// `u16 BE 5 | "roles" | 20-byte address` (see `docs/storage.md`).
pub fn roles_key(address: &Address) -> Vec<u8> {
    MapKey::new(ROLES_NAMESPACE).address(address).into_bytes()
}

/// A role an address may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The registry authority: enrols and revokes, sets policies.
    Authority,
    /// A registry official: registers parcels, records liens, approves transfers.
    Official,
    /// A bank: issues KRW deposit tokens, lends.
    Bank,
    /// A broker: opens deals.
    Broker,
    /// A citizen: buys and sells.
    Citizen,
    /// May upload code and instantiate contracts (a chain rule the node enforces; the authority
    /// may too, without this role).
    Deployer,
    /// A tax official: sets the acquisition-tax rate table and the first-home relief.
    #[serde(rename = "tax-official")]
    TaxOfficial,
    /// The municipality: receives the acquisition tax; the transaction reports are filed to it.
    Municipality,
}

crate::names!(Role, "role", {
    Authority => "authority",
    Official => "official",
    Bank => "bank",
    Broker => "broker",
    Citizen => "citizen",
    Deployer => "deployer",
    TaxOfficial => "tax-official",
    Municipality => "municipality",
});

/// Instantiate message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InstantiateMsg {
    /// The first registry authority.
    pub authority: Address,
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecuteMsg {
    /// Enrols `address` with exactly `roles` (authority only).
    Enrol {
        /// Who.
        address: Address,
        /// The new role set (non-empty; duplicates are ignored).
        roles: Vec<Role>,
        /// The person behind the key, as `sha256(salt ‖ resident number)` in 64 lowercase hex,
        /// computed off-chain with a salt that never reaches the ledger: several keys of one
        /// person carry the same hash, which is how a once-per-person benefit (the first-home
        /// relief) recognises a second claim. Absent: the address keeps the hash it has.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person_hash: Option<String>,
    },
    /// Removes every role of `address` (authority only).
    Revoke {
        /// Who.
        address: Address,
    },
}

/// Query messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// The roles of an address.
    Roles {
        /// Who.
        address: Address,
    },
    /// Addresses holding a role, in address order, paged.
    Members {
        /// The role.
        role: Role,
        /// Continue after this address.
        #[serde(default)]
        start_after: Option<Address>,
        /// Page size (default 30, at most 100).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The person hash enrolled with an address → [`PersonResponse`].
    Person {
        /// Who.
        address: Address,
    },
}

/// Answer to [`QueryMsg::Person`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PersonResponse {
    /// Who.
    pub address: Address,
    /// The person hash enrolled with it, if any.
    pub person_hash: Option<String>,
}

/// Answer to [`QueryMsg::Roles`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RolesResponse {
    /// Who.
    pub address: Address,
    /// Its roles, sorted.
    pub roles: Vec<Role>,
    /// Whether it holds any role.
    pub enrolled: bool,
}

/// A caller's view of [`RolesResponse`]: the roles and the enrolment, without the echoed
/// address. The JSON is the same answer; decoding only what a role check reads (unknown
/// fields are skipped, never parsed) keeps every cross-contract roles check as cheap in gas as
/// it was when each contract declared its own narrow answer type.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RolesView {
    /// Its roles, sorted.
    pub roles: Vec<Role>,
    /// Whether it holds any role.
    pub enrolled: bool,
}

/// Answer to [`QueryMsg::Members`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MembersResponse {
    /// Addresses holding the role.
    pub members: Vec<Address>,
}
