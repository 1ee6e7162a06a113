//! The KRW deposit token's interface: its messages and answers, and [`ReceiverMsg`], what a
//! contract receives from a `send`.

use hanok_abi::{Address, Amount};
use serde::{Deserialize, Serialize};

/// Instantiate message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InstantiateMsg {
    /// The identity contract, consulted for the bank role and enrolment.
    pub identity: Address,
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecuteMsg {
    /// Issues new tokens (enrolled bank only; the recipient must be enrolled).
    Mint {
        /// Recipient.
        to: Address,
        /// Positive amount.
        amount: Amount,
    },
    /// Redeems tokens from the sending bank's own balance (enrolled bank only).
    Burn {
        /// Positive amount.
        amount: Amount,
    },
    /// Moves tokens from the sender.
    Transfer {
        /// Recipient.
        to: Address,
        /// Positive amount.
        amount: Amount,
    },
    /// Moves tokens to a contract, then calls its `execute` with `{"receive": {from, amount,
    /// msg}}`; fails as a whole if the contract fails.
    Send {
        /// The receiving contract.
        contract: Address,
        /// Positive amount.
        amount: Amount,
        /// Passed through to the contract as `msg`.
        msg: serde_json::Value,
    },
}

/// The message a contract receives from [`ExecuteMsg::Send`] (wrapped as `{"receive": ..}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReceiveMsg {
    /// Who sent the tokens.
    pub from: Address,
    /// How many.
    pub amount: Amount,
    /// The sender's message.
    pub msg: serde_json::Value,
}

/// What the token sends a receiving contract's `execute`: `{"receive": {from, amount, msg}}`.
/// A receiver declares a `receive` variant with these fields (the escrow's
/// `ExecuteMsg::Receive`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverMsg {
    /// Tokens arrived.
    Receive(ReceiveMsg),
}

/// Query messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// → [`BalanceResponse`].
    Balance {
        /// Whose.
        address: Address,
    },
    /// → [`SupplyResponse`].
    Supply {},
}

/// Answer to [`QueryMsg::Balance`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BalanceResponse {
    /// The balance.
    pub balance: Amount,
}

/// Answer to [`QueryMsg::Supply`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SupplyResponse {
    /// Tokens in circulation.
    pub total_supply: Amount,
}
