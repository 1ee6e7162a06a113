//! `hanok-escrow`: holds a buyer's KRW tokens for a deal until settlement or refund.
//!
//! The buyer funds a deal by *sending* tokens through the token contract with
//! `{"fund": {"deal_id": n}}`; the token contract then calls this contract's `receive`. The
//! escrow checks with the deal contract that the deal is open and the funder is its buyer,
//! tells the deal contract (`funded`, which checks the amount: the whole price, or with a
//! staged schedule the next stage's) and adds the payment to the deposit. A seller walking
//! away under the earnest-money rule sends as much again as the deposit with
//! `{"withdraw": {"deal_id": n}}`: once the deal contract agrees (`seller_withdrew`), the escrow
//! holds the deposit doubled for the buyer, who takes it with the deal's `refund`.
//! Afterwards only the deal contract moves the money: `release` (to lien holders and the seller
//! at settlement; never more than is held) and `refund` (what remains, to the funder).
//!
//! # Messages
//! - instantiate `{"token": "0x..", "deal": "0x.."}`
//! - execute `{"receive": {"from", "amount", "msg": {"fund": {"deal_id"}} | {"withdraw":
//!   {"deal_id"}}}}` (token contract only), `{"release": {"deal_id", "to", "amount"}}` (deal contract only),
//!   `{"refund": {"deal_id"}}` (deal contract only)
//! - query `{"deposit": {"deal_id"}}` → [`Deposit`] `{deal_id, funder, amount, released,
//!   refunded}`
//!
//! Events: `deposited {deal_id, funder, amount}`, `released {deal_id, to, amount}`,
//! `refunded {deal_id, to, amount}`.
//! Storage: `config`; `deposits`: deal id → [`Deposit`].
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(test)]
extern crate std;

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use hanok_messages::{deal, krw};
use hanok_sdk::{
    call, ensure, entry_points, query as query_contract, to_json, Address, Amount, ContractError,
    Env, Event, Item, Map, Response,
};
use serde::{Deserialize, Serialize};

/// The messages and the [`Deposit`] answer live in `hanok-messages` (one definition for the
/// contract, its callers and clients); re-exported so `hanok_escrow::ExecuteMsg` keeps working.
pub use hanok_messages::escrow::*;

#[derive(Serialize, Deserialize)]
struct Config {
    token: Address,
    deal: Address,
}

const CONFIG: Item<Config> = Item::new("config");
const DEPOSITS: Map<u64, Deposit> = Map::new("deposits");

fn load_deposit(deal_id: u64) -> Result<Deposit, ContractError> {
    DEPOSITS
        .may_load(&deal_id)?
        .ok_or_else(|| format!("no deposit for deal {deal_id}").into())
}

fn transfer(cfg: &Config, to: Address, amount: Amount) -> Result<(), ContractError> {
    call::<serde_json::Value>(&cfg.token, &krw::ExecuteMsg::Transfer { to, amount })?;
    Ok(())
}

fn instantiate(_env: &Env, msg: InstantiateMsg) -> Result<Response, ContractError> {
    CONFIG.save(&Config {
        token: msg.token,
        deal: msg.deal,
    })?;
    Ok(Response::new())
}

fn execute(env: &Env, msg: ExecuteMsg) -> Result<Response, ContractError> {
    let cfg = CONFIG.load()?;
    match msg {
        ExecuteMsg::Receive { from, amount, msg } => {
            ensure!(
                env.sender == cfg.token,
                "unauthorized: only the token contract may deposit"
            );
            let msg: FundMsg = serde_json::from_value(msg).map_err(|e| {
                format!(
                    "invalid receive msg (expected {{\"fund\": {{\"deal_id\": n}}}} or \
                     {{\"withdraw\": {{\"deal_id\": n}}}}): {e}"
                )
            })?;
            match msg {
                FundMsg::Fund { deal_id } => fund(&cfg, deal_id, from, amount),
                FundMsg::Withdraw { deal_id } => seller_withdraws(&cfg, deal_id, from, amount),
            }
        }
        ExecuteMsg::Release {
            deal_id,
            to,
            amount,
        } => {
            ensure!(
                env.sender == cfg.deal,
                "unauthorized: only the deal contract may release"
            );
            ensure!(!amount.is_zero(), "amount must be positive");
            let mut d = load_deposit(deal_id)?;
            let held = d.held().ok_or("escrow accounting broken")?;
            ensure!(
                amount <= held,
                "escrow for deal {deal_id} holds {held}, cannot release {amount}"
            );
            d.released = d.released.checked_add(amount).ok_or("overflow")?;
            DEPOSITS.save(&deal_id, &d)?;
            transfer(&cfg, to, amount)?;
            Ok(Response::new().event(
                Event::new("released")
                    .attr("deal_id", deal_id.to_string())
                    .attr("to", to.to_string())
                    .attr("amount", amount.to_string()),
            ))
        }
        ExecuteMsg::Refund { deal_id } => {
            ensure!(
                env.sender == cfg.deal,
                "unauthorized: only the deal contract may refund"
            );
            let mut d = load_deposit(deal_id)?;
            let held = d.held().ok_or("escrow accounting broken")?;
            ensure!(!held.is_zero(), "nothing to refund for deal {deal_id}");
            d.refunded = d.refunded.checked_add(held).ok_or("overflow")?;
            DEPOSITS.save(&deal_id, &d)?;
            transfer(&cfg, d.funder, held)?;
            Ok(Response::new().event(
                Event::new("refunded")
                    .attr("deal_id", deal_id.to_string())
                    .attr("to", d.funder.to_string())
                    .attr("amount", held.to_string()),
            ))
        }
    }
}

/// The buyer's payment: the whole price, or with a schedule the next stage's amount (the deal
/// contract checks which, and the due time).
fn fund(
    cfg: &Config,
    deal_id: u64,
    from: Address,
    amount: Amount,
) -> Result<Response, ContractError> {
    let existing = DEPOSITS.may_load(&deal_id)?;
    let deal: deal::DealView = query_contract(&cfg.deal, &deal::QueryMsg::Deal { deal_id })?;
    ensure!(
        existing.is_none() || deal.status == deal::Status::Open,
        "deal {deal_id} is already funded"
    );
    ensure!(
        deal.status == deal::Status::Open,
        "deal {deal_id} is not open (status {})",
        deal.status
    );
    ensure!(from == deal.buyer, "only the buyer may fund deal {deal_id}");
    let funded = deal::ExecuteMsg::Funded {
        deal_id,
        funder: from,
        amount,
    };
    call::<serde_json::Value>(&cfg.deal, &funded)?;
    let deposit = match existing {
        Some(mut d) => {
            d.amount = d.amount.checked_add(amount).ok_or("overflow")?;
            d
        }
        None => Deposit {
            deal_id,
            funder: from,
            amount,
            released: Amount::ZERO,
            refunded: Amount::ZERO,
            withdrawal_in: Amount::ZERO,
        },
    };
    DEPOSITS.save(&deal_id, &deposit)?;
    Ok(Response::new().event(
        Event::new("deposited")
            .attr("deal_id", deal_id.to_string())
            .attr("funder", from.to_string())
            .attr("amount", amount.to_string()),
    ))
}

/// A seller walks away under the earnest-money rule: the deal contract checks the window and
/// that `amount` equals the deposit; the escrow then holds the deposit doubled for the buyer,
/// who takes it with the deal's `refund` (paying it out here would re-enter the token
/// contract, which is calling this one).
fn seller_withdraws(
    cfg: &Config,
    deal_id: u64,
    seller: Address,
    amount: Amount,
) -> Result<Response, ContractError> {
    let mut d = load_deposit(deal_id)?;
    let withdrew = deal::ExecuteMsg::SellerWithdrew {
        deal_id,
        seller,
        amount,
    };
    call::<serde_json::Value>(&cfg.deal, &withdrew)?;
    d.withdrawal_in = d.withdrawal_in.checked_add(amount).ok_or("overflow")?;
    DEPOSITS.save(&deal_id, &d)?;
    Ok(Response::new().event(
        Event::new("deposited")
            .attr("deal_id", deal_id.to_string())
            .attr("funder", seller.to_string())
            .attr("amount", amount.to_string())
            .attr("for", "withdrawal"),
    ))
}

fn query(_env: &Env, msg: QueryMsg) -> Result<Vec<u8>, ContractError> {
    match msg {
        QueryMsg::Deposit { deal_id } => to_json(&load_deposit(deal_id)?),
    }
}

entry_points!(instantiate, execute, query);

#[cfg(test)]
mod tests {
    use super::*;
    use hanok_sdk::mock;

    const ESCROW: Address = Address([0xe5; 20]);
    const TOKEN: Address = Address([0x4b; 20]);
    const DEAL: Address = Address([0xde; 20]);
    const EVE: Address = Address([9; 20]);

    #[test]
    fn only_the_token_deposits_and_only_the_deal_releases_or_refunds() {
        mock::reset();
        mock::register(ESCROW, ENTRY_POINTS);
        assert!(mock::instantiate(
            ESCROW,
            EVE,
            &InstantiateMsg {
                token: TOKEN,
                deal: DEAL
            }
        )
        .is_ok());
        let err = |sender, msg: &ExecuteMsg| {
            mock::execute(ESCROW, sender, msg)
                .err()
                .map(ContractError::into_message)
                .unwrap_or_default()
        };
        let receive = ExecuteMsg::Receive {
            from: EVE,
            amount: Amount(1),
            msg: serde_json::json!({ "fund": { "deal_id": 1 } }),
        };
        assert_eq!(
            err(EVE, &receive),
            "unauthorized: only the token contract may deposit"
        );
        let bad = ExecuteMsg::Receive {
            from: EVE,
            amount: Amount(1),
            msg: serde_json::json!({ "x": 1 }),
        };
        assert!(err(TOKEN, &bad).starts_with("invalid receive msg"));
        let release = ExecuteMsg::Release {
            deal_id: 1,
            to: EVE,
            amount: Amount(1),
        };
        assert_eq!(
            err(EVE, &release),
            "unauthorized: only the deal contract may release"
        );
        assert_eq!(err(DEAL, &release), "no deposit for deal 1");
        assert_eq!(
            err(EVE, &ExecuteMsg::Refund { deal_id: 1 }),
            "unauthorized: only the deal contract may refund"
        );
    }
}
