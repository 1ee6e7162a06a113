//! The escrow contract's interface: its messages, [`FundMsg`] and the [`Deposit`] answer.

use hanok_abi::{Address, Amount};
use serde::{Deserialize, Serialize};

/// Instantiate message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InstantiateMsg {
    /// The KRW token contract.
    pub token: Address,
    /// The deal contract.
    pub deal: Address,
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecuteMsg {
    /// Tokens arrived through the token contract's `send` (token contract only); `msg` must be
    /// a [`FundMsg`].
    Receive {
        /// The funder.
        from: Address,
        /// Tokens received.
        amount: Amount,
        /// `{"fund": {"deal_id": n}}`.
        msg: serde_json::Value,
    },
    /// Pays `amount` of the deal's deposit to `to` (deal contract only).
    Release {
        /// Deal.
        deal_id: u64,
        /// Recipient.
        to: Address,
        /// Positive, at most what is held.
        amount: Amount,
    },
    /// Returns what remains of the deposit to the funder (deal contract only).
    Refund {
        /// Deal.
        deal_id: u64,
    },
}

/// The message a funder passes through the token's `send`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FundMsg {
    /// Funds this deal.
    Fund {
        /// Deal.
        deal_id: u64,
    },
}

/// Query messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// → [`Deposit`].
    Deposit {
        /// Deal.
        deal_id: u64,
    },
}

/// A deal's deposit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deposit {
    /// Deal.
    pub deal_id: u64,
    /// Who funded it (the buyer).
    pub funder: Address,
    /// Amount deposited.
    pub amount: Amount,
    /// Amount released so far.
    pub released: Amount,
    /// Amount refunded so far.
    pub refunded: Amount,
}

impl Deposit {
    /// What the escrow still holds for the deal.
    pub fn held(&self) -> Option<Amount> {
        self.amount
            .checked_sub(self.released)?
            .checked_sub(self.refunded)
    }
}

/// A caller's view of [`Deposit`]: only its amounts, what the deal contract reads to know what
/// the escrow holds. The JSON is the same `deposit` answer; unknown fields are skipped, never
/// parsed, so the reader pays gas for the amounts only.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DepositView {
    /// Amount deposited.
    pub amount: Amount,
    /// Amount released so far.
    pub released: Amount,
    /// Amount refunded so far.
    pub refunded: Amount,
}

impl DepositView {
    /// What the escrow still holds for the deal.
    pub fn held(&self) -> Option<Amount> {
        self.amount
            .checked_sub(self.released)?
            .checked_sub(self.refunded)
    }
}
