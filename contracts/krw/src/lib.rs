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
#[cfg(test)]
extern crate std;

use alloc::string::ToString;
use alloc::vec::Vec;
use hanok_sdk::{
    call, ensure, entry_points, require_role, roles, to_json, Address, Amount, ContractError, Env,
    Event, Item, Map, Response, Role,
};
use serde::{Deserialize, Serialize};

/// The messages and answers live in `hanok-messages` (one definition for the contract, its
/// callers and clients); re-exported so `hanok_krw::ExecuteMsg` keeps working.
pub use hanok_messages::krw::*;

#[derive(Serialize, Deserialize)]
struct Config {
    identity: Address,
}

const CONFIG: Item<Config> = Item::new("config");
const SUPPLY: Item<Amount> = Item::new("supply");
const BALANCES: Map<Address, Amount> = Map::new("balances");

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
    match msg {
        ExecuteMsg::Mint { to, amount } => {
            require_role(&cfg.identity, env.sender, Role::Bank, "mint")?;
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
            require_role(&cfg.identity, env.sender, Role::Bank, "burn")?;
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
    use std::{format, string::String, vec};

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
                person_hash: None,
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
