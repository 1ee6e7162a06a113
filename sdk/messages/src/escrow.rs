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
    /// Funds this deal: the buyer's payment (the whole price, or the next stage's amount).
    Fund {
        /// Deal.
        deal_id: u64,
    },
    /// A seller of this deal walks away under the earnest-money rule, paying in as much again
    /// as the deposit; the escrow pays the buyer the deposit doubled.
    Withdraw {
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
    /// What a seller walking away under the earnest-money rule paid in: held with the deposit
    /// for the buyer, who takes both with the deal's `refund`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub withdrawal_in: Amount,
}

fn is_zero(a: &Amount) -> bool {
    a.is_zero()
}

impl Deposit {
    /// What the escrow still holds for the deal.
    pub fn held(&self) -> Option<Amount> {
        self.amount
            .checked_add(self.withdrawal_in)?
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
    /// What a withdrawing seller paid in.
    #[serde(default)]
    pub withdrawal_in: Amount,
}

impl DepositView {
    /// What the escrow still holds for the deal.
    pub fn held(&self) -> Option<Amount> {
        self.amount
            .checked_add(self.withdrawal_in)?
            .checked_sub(self.released)?
            .checked_sub(self.refunded)
    }
}
