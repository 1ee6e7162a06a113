//! `hanok-krw`: the KRW deposit token, issued and redeemed by enrolled banks.
//!
//! One token is one won. Enrolled banks mint to enrolled accounts and burn from their own
//! balance; anyone holding tokens transfers them, or *sends* them to a contract, which moves the
//! tokens and then calls the contract's `execute` with
//! `{"receive": {"from": <sender>, "amount": "<n>", "msg": <msg>}}` in the same transaction: if
//! the contract refuses, the whole send fails. Zero amounts are refused; arithmetic is checked.
//!
//! # Messages
//! - instantiate `{"identity": "0x.."}`
//! - execute `{"mint": {"to", "amount"}}` (enrolled bank; recipient enrolled),
//!   `{"burn": {"amount"}}` (enrolled bank), `{"transfer": {"to", "amount"}}`,
//!   `{"send": {"contract", "amount", "msg"}}`
//! - query `{"balance": {"address"}}` → `{"balance": "<n>"}`; `{"supply": {}}` →
//!   `{"total_supply": "<n>"}`
//!
//! Events: `minted {to, amount}`, `burned {from, amount}`, `transfer {from, to, amount}`,
//! `sent {from, contract, amount}`.
//! Storage: `config`; `supply`; `balances`: address → amount (absent means zero).
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(any(test, feature = "schema"))]
extern crate std;
// schemars' derive output names `Box`, `ToOwned` and `vec!` unqualified, as in std.
#[cfg(feature = "schema")]
#[allow(unused_imports, reason = "used by the schemars derive output")]
use std::{borrow::ToOwned, boxed::Box, vec};

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hanok_sdk::{
    call, ensure, entry_points, query as query_contract, to_json, Address, Amount, ContractError,
    Env, Event, Item, Map, Response,
};
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

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum ReceiverMsg {
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

#[derive(Serialize, Deserialize)]
struct Config {
    identity: Address,
}

const CONFIG: Item<Config> = Item::new("config");
const SUPPLY: Item<Amount> = Item::new("supply");
const BALANCES: Map<Address, Amount> = Map::new("balances");

#[derive(Deserialize)]
struct RolesAnswer {
    roles: Vec<String>,
    enrolled: bool,
}

fn roles(identity: &Address, who: Address) -> Result<RolesAnswer, ContractError> {
    query_contract(
        identity,
        &serde_json::json!({ "roles": { "address": who } }),
    )
}

fn balance(a: Address) -> Result<Amount, ContractError> {
    Ok(BALANCES.may_load(&a)?.unwrap_or(Amount::ZERO))
}

fn set_balance(a: Address, v: Amount) -> Result<(), ContractError> {
    if v.is_zero() {
        // Zero balances are not stored, so the state holds holders only.
        BALANCES.remove(&a);
        Ok(())
    } else {
        BALANCES.save(&a, &v)
    }
}

fn debit(a: Address, amount: Amount) -> Result<(), ContractError> {
    let have = balance(a)?;
    let left = have.checked_sub(amount).ok_or_else(|| {
        ContractError::new(alloc::format!(
            "insufficient balance: {a} has {have}, needs {amount}"
        ))
    })?;
    set_balance(a, left)
}

fn credit(a: Address, amount: Amount) -> Result<(), ContractError> {
    let v = balance(a)?.checked_add(amount).ok_or("balance overflow")?;
    set_balance(a, v)
}

fn move_tokens(from: Address, to: Address, amount: Amount) -> Result<(), ContractError> {
    ensure!(!amount.is_zero(), "amount must be positive");
    debit(from, amount)?;
    credit(to, amount)
}

fn instantiate(_env: &Env, msg: InstantiateMsg) -> Result<Response, ContractError> {
    CONFIG.save(&Config {
        identity: msg.identity,
    })?;
    SUPPLY.save(&Amount::ZERO)?;
    Ok(Response::new())
}

fn execute(env: &Env, msg: ExecuteMsg) -> Result<Response, ContractError> {
    let cfg = CONFIG.load()?;
    let is_bank = |who| -> Result<bool, ContractError> {
        Ok(roles(&cfg.identity, who)?.roles.iter().any(|r| r == "bank"))
    };
    match msg {
        ExecuteMsg::Mint { to, amount } => {
            ensure!(
                is_bank(env.sender)?,
                "unauthorized: only an enrolled bank may mint"
            );
            ensure!(!amount.is_zero(), "amount must be positive");
            ensure!(
                roles(&cfg.identity, to)?.enrolled,
                "recipient {to} is not enrolled"
            );
            SUPPLY.update(|s| {
                Ok(s.unwrap_or(Amount::ZERO)
                    .checked_add(amount)
                    .ok_or("supply overflow")?)
            })?;
            credit(to, amount)?;
            Ok(Response::new().event(
                Event::new("minted")
                    .attr("to", to.to_string())
                    .attr("amount", amount.to_string()),
            ))
        }
        ExecuteMsg::Burn { amount } => {
            ensure!(
                is_bank(env.sender)?,
                "unauthorized: only an enrolled bank may burn"
            );
            ensure!(!amount.is_zero(), "amount must be positive");
            debit(env.sender, amount)?;
            SUPPLY.update(|s| {
                Ok(s.unwrap_or(Amount::ZERO)
                    .checked_sub(amount)
                    .ok_or("supply underflow")?)
            })?;
            Ok(Response::new().event(
                Event::new("burned")
                    .attr("from", env.sender.to_string())
                    .attr("amount", amount.to_string()),
            ))
        }
        ExecuteMsg::Transfer { to, amount } => {
            move_tokens(env.sender, to, amount)?;
            Ok(Response::new().event(
                Event::new("transfer")
                    .attr("from", env.sender.to_string())
                    .attr("to", to.to_string())
                    .attr("amount", amount.to_string()),
            ))
        }
        ExecuteMsg::Send {
            contract,
            amount,
            msg,
        } => {
            move_tokens(env.sender, contract, amount)?;
            let receive = ReceiverMsg::Receive(ReceiveMsg {
                from: env.sender,
                amount,
                msg,
            });
            // The receiver's error propagates, so this whole call fails and the VM reverts it.
            call::<serde_json::Value>(&contract, &receive)?;
            Ok(Response::new().event(
                Event::new("sent")
                    .attr("from", env.sender.to_string())
                    .attr("contract", contract.to_string())
                    .attr("amount", amount.to_string()),
            ))
        }
    }
}

fn query(_env: &Env, msg: QueryMsg) -> Result<Vec<u8>, ContractError> {
    match msg {
        QueryMsg::Balance { address } => to_json(&BalanceResponse {
            balance: balance(address)?,
        }),
        QueryMsg::Supply {} => to_json(&SupplyResponse {
            total_supply: SUPPLY.load()?,
        }),
    }
}

entry_points!(instantiate, execute, query);

#[cfg(test)]
mod tests {
    use super::*;
    use hanok_identity::Role;
    use hanok_sdk::{bail, mock};
    use std::{format, vec};

    const IDENTITY: Address = Address([0x1d; 20]);
    const KRW: Address = Address([0x4b; 20]);
    const SINK: Address = Address([0x51; 20]);
    const AUTH: Address = Address([1; 20]);
    const BANK: Address = Address([2; 20]);
    const ALICE: Address = Address([3; 20]);
    const STRANGER: Address = Address([4; 20]);

    // A receiving contract that accepts only `{"ok": true}`.
    fn sink_exec(_env: &Env, msg: serde_json::Value) -> Result<Response, ContractError> {
        if msg["receive"]["msg"]["ok"] != serde_json::Value::Bool(true) {
            bail!("sink refuses");
        }
        Ok(Response::new())
    }
    fn sink_other(_env: &Env, _msg: serde_json::Value) -> Result<Vec<u8>, ContractError> {
        Ok(Vec::new())
    }
    fn sink_inst(_env: &Env, _msg: serde_json::Value) -> Result<Response, ContractError> {
        Ok(Response::new())
    }
    mod sink {
        use super::*;
        entry_points!(sink_inst, sink_exec, sink_other);
    }

    fn setup() {
        mock::reset();
        mock::register(IDENTITY, hanok_identity::ENTRY_POINTS);
        mock::register(KRW, ENTRY_POINTS);
        mock::register(SINK, sink::ENTRY_POINTS);
        let id_msg = hanok_identity::InstantiateMsg { authority: AUTH };
        assert!(mock::instantiate(IDENTITY, AUTH, &id_msg).is_ok());
        for (a, r) in [(BANK, Role::Bank), (ALICE, Role::Citizen)] {
            let msg = hanok_identity::ExecuteMsg::Enrol {
                address: a,
                roles: vec![r],
            };
            assert!(mock::execute(IDENTITY, AUTH, &msg).is_ok());
        }
        assert!(mock::instantiate(KRW, AUTH, &InstantiateMsg { identity: IDENTITY }).is_ok());
    }

    fn exec(sender: Address, msg: &ExecuteMsg) -> Result<Vec<u8>, String> {
        mock::execute(KRW, sender, msg).map_err(ContractError::into_message)
    }

    fn bal(a: Address) -> u128 {
        mock::query::<_, BalanceResponse>(KRW, &QueryMsg::Balance { address: a })
            .map(|b| b.balance.0)
            .unwrap_or(u128::MAX)
    }

    #[test]
    fn banks_mint_and_burn_with_checked_supply() {
        setup();
        let mint = |to, n| ExecuteMsg::Mint {
            to,
            amount: Amount(n),
        };
        assert_eq!(
            exec(ALICE, &mint(ALICE, 5)),
            Err("unauthorized: only an enrolled bank may mint".into())
        );
        assert_eq!(
            exec(BANK, &mint(STRANGER, 5)),
            Err(format!("recipient {STRANGER} is not enrolled"))
        );
        assert_eq!(
            exec(BANK, &mint(ALICE, 0)),
            Err("amount must be positive".into())
        );
        assert!(exec(BANK, &mint(ALICE, 900)).is_ok());
        assert!(exec(BANK, &mint(BANK, 100)).is_ok());
        assert!(exec(BANK, &mint(BANK, u128::MAX)).is_err_and(|e| e == "supply overflow"));
        assert!(exec(
            BANK,
            &ExecuteMsg::Burn {
                amount: Amount(101)
            }
        )
        .is_err_and(|e| e.starts_with("insufficient")));
        assert!(exec(BANK, &ExecuteMsg::Burn { amount: Amount(40) }).is_ok());
        let supply: Result<SupplyResponse, _> = mock::query(KRW, &QueryMsg::Supply {});
        assert_eq!(supply.map(|s| s.total_supply), Ok(Amount(960)));
        assert_eq!((bal(ALICE), bal(BANK)), (900, 60));
    }

    #[test]
    fn send_moves_tokens_and_fails_as_a_whole_when_the_receiver_refuses() {
        setup();
        assert!(exec(
            BANK,
            &ExecuteMsg::Mint {
                to: ALICE,
                amount: Amount(50)
            }
        )
        .is_ok());
        let send = |ok| ExecuteMsg::Send {
            contract: SINK,
            amount: Amount(20),
            msg: serde_json::json!({ "ok": ok }),
        };
        assert_eq!(exec(ALICE, &send(false)), Err("sink refuses".into()));
        assert_eq!((bal(ALICE), bal(SINK)), (50, 0));
        assert!(exec(ALICE, &send(true)).is_ok());
        assert_eq!((bal(ALICE), bal(SINK)), (30, 20));
        assert!(exec(
            ALICE,
            &ExecuteMsg::Transfer {
                to: BANK,
                amount: Amount(31)
            }
        )
        .is_err());
        assert!(exec(
            ALICE,
            &ExecuteMsg::Transfer {
                to: BANK,
                amount: Amount(30)
            }
        )
        .is_ok());
        assert_eq!((bal(ALICE), bal(BANK)), (0, 30));
    }
}
