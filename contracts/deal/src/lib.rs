//! `hanok-deal`: the title-transfer contract, which runs a sale from opening to one atomic
//! settlement.
//!
//! Lifecycle: `open` (broker) → `funded` (the escrow reports the buyer's deposit) → `signed`
//! (seller and buyer, once each) → `approved` (m of n officials from the registry policy, each
//! counted once) → `settled`; or `cancelled` (before funding), `rejected` (by an official) and
//! `refunded` (the buyer reclaims the escrow after rejection or after the deadline passed).
//!
//! `settle` is the whole transfer in one call: it re-reads the parcel from the registry (seller
//! still sole owner, not frozen), pays every active mortgage lien off from the escrow in rank
//! order and discharges it, pays the rest to the seller, moves the title to the buyer and records
//! the buyer's bank's new lien. Any failure returns an error, and the VM reverts every write of
//! every contract touched — that is what makes settlement atomic, so the code never undoes
//! anything by hand.
//!
//! This crate talks to the registry, escrow and identity contracts through JSON only (see the
//! private `ext` types); it deliberately does not link their crates, whose wasm exports would
//! clash with its own.
//!
//! # Messages
//! - instantiate [`InstantiateMsg`] `{identity, registry, escrow, token}`
//! - execute [`ExecuteMsg`]: `open`, `attach_mortgage`, `funded`, `sign`, `approve`, `reject`,
//!   `settle`, `cancel`, `refund`
//! - query [`QueryMsg`]: `deal {deal_id}` → [`Deal`]; `deal_by_parcel {parcel_id}` →
//!   [`DealByParcelResponse`]
//!
//! Events: `deal_opened`, `mortgage_attached`, `deal_funded`, `deal_signed`, `deal_approved`
//! (one per approval, with `approvals` and `threshold`), `deal_rejected`, `deal_settled`,
//! `deal_cancelled`, `deal_refunded`.
//! Storage: `config`; `next_id`; `deals`: id → [`Deal`]; `pending`: parcel id → deal id of the
//! deal in progress on it.
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(any(test, feature = "schema"))]
extern crate std;
// schemars' derive output names `Box`, `ToOwned` and `vec!` unqualified, as in std.
#[cfg(feature = "schema")]
#[allow(unused_imports, reason = "used by the schemars derive output")]
use std::{borrow::ToOwned, boxed::Box, vec};

mod ext;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hanok_sdk::{
    bail, ensure, entry_points, to_json, Address, Amount, ContractError, Env, Event, Item, Map,
    Response,
};
use serde::{Deserialize, Serialize};

/// Instantiate message: the addresses of the contracts the deal contract drives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InstantiateMsg {
    /// The identity contract (roles).
    pub identity: Address,
    /// The registry contract (parcels, policy).
    pub registry: Address,
    /// The escrow contract.
    pub escrow: Address,
    /// The KRW token contract.
    pub token: Address,
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecuteMsg {
    /// Opens a deal (enrolled broker only). The seller must be the parcel's sole owner, the
    /// parcel must not be frozen or have another pending deal, the deadline (unix seconds,
    /// compared with block time) must be in the future. Response data: `{"deal_id": n}`.
    Open {
        /// Parcel.
        parcel_id: String,
        /// Sole owner selling.
        seller: Address,
        /// Buyer.
        buyer: Address,
        /// Price, positive.
        price: Amount,
        /// Settlement deadline, unix seconds of block time.
        deadline: u64,
    },
    /// The buyer's lender attaches the new mortgage (an enrolled bank; before approval; once).
    /// It is recorded as a lien held by that bank at settlement.
    AttachMortgage {
        /// Deal.
        deal_id: u64,
        /// Secured amount, positive.
        amount: Amount,
    },
    /// The escrow reports the buyer's deposit (escrow contract only).
    Funded {
        /// Deal.
        deal_id: u64,
        /// Who deposited (must be the buyer).
        funder: Address,
        /// Amount (must be the price).
        amount: Amount,
    },
    /// Seller or buyer signs the agreement (after funding, once each).
    Sign {
        /// Deal.
        deal_id: u64,
    },
    /// An official of the registry policy approves (after both signatures, once each).
    Approve {
        /// Deal.
        deal_id: u64,
    },
    /// An official of the registry policy rejects the transfer.
    Reject {
        /// Deal.
        deal_id: u64,
    },
    /// Settles atomically (a party to the deal — broker, seller or buyer — or an official of the
    /// registry policy; status approved and block time ≤ deadline).
    Settle {
        /// Deal.
        deal_id: u64,
    },
    /// Cancels before funding (broker, seller or buyer).
    Cancel {
        /// Deal.
        deal_id: u64,
    },
    /// The buyer reclaims the escrow after rejection or after the deadline passed.
    Refund {
        /// Deal.
        deal_id: u64,
    },
}

/// Query messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// → [`Deal`].
    Deal {
        /// Deal.
        deal_id: u64,
    },
    /// → [`DealByParcelResponse`].
    DealByParcel {
        /// Parcel.
        parcel_id: String,
    },
}

/// Where a deal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Opened, waiting for the buyer's deposit.
    Open,
    /// Escrow funded; waiting for signatures.
    Funded,
    /// Both parties signed; waiting for approvals.
    Signed,
    /// Approved by the policy threshold; may settle.
    Approved,
    /// Settled: title moved, money paid.
    Settled,
    /// Cancelled before funding.
    Cancelled,
    /// Rejected by an official.
    Rejected,
    /// The buyer took the escrow back.
    Refunded,
}

impl Status {
    /// The snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Funded => "funded",
            Status::Signed => "signed",
            Status::Approved => "approved",
            Status::Settled => "settled",
            Status::Cancelled => "cancelled",
            Status::Rejected => "rejected",
            Status::Refunded => "refunded",
        }
    }

    /// Whether the deal still holds the parcel (blocks another deal on it).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Status::Open | Status::Funded | Status::Signed | Status::Approved
        )
    }
}

/// The buyer's new mortgage, recorded at settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Mortgage {
    /// The lending bank (the lien holder).
    pub bank: Address,
    /// Secured amount.
    pub amount: Amount,
}

/// A deal, as stored and as returned by the `deal` query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deal {
    /// Id, from 1.
    pub deal_id: u64,
    /// Parcel.
    pub parcel_id: String,
    /// Seller (sole owner at opening).
    pub seller: Address,
    /// Buyer.
    pub buyer: Address,
    /// Broker who opened it.
    pub broker: Address,
    /// Price.
    pub price: Amount,
    /// Settlement deadline, unix seconds of block time.
    pub deadline: u64,
    /// Status.
    pub status: Status,
    /// The buyer's new mortgage, if any.
    pub mortgage: Option<Mortgage>,
    /// Who signed (seller and/or buyer), in order.
    pub signatures: Vec<Address>,
    /// Officials who approved, in order.
    pub approvals: Vec<Address>,
    /// The official who rejected, if any.
    pub rejected_by: Option<Address>,
    /// Height at which it was opened.
    pub opened_height: u64,
    /// Height at which it was settled.
    pub settled_height: Option<u64>,
}

/// Answer to [`QueryMsg::DealByParcel`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DealByParcelResponse {
    /// Parcel.
    pub parcel_id: String,
    /// The pending deal on it, if any.
    pub deal_id: Option<u64>,
}

/// Response data of [`ExecuteMsg::Open`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OpenResponse {
    /// The new deal's id.
    pub deal_id: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Config {
    pub(crate) identity: Address,
    pub(crate) registry: Address,
    pub(crate) escrow: Address,
    pub(crate) token: Address,
}

const CONFIG: Item<Config> = Item::new("config");
const NEXT_ID: Item<u64> = Item::new("next_id");
const DEALS: Map<u64, Deal> = Map::new("deals");
const PENDING: Map<&str, u64> = Map::new("pending");

fn load_deal(deal_id: u64) -> Result<Deal, ContractError> {
    DEALS
        .may_load(&deal_id)?
        .ok_or_else(|| format!("deal {deal_id} not found").into())
}

/// Saves the deal, and frees its parcel once the deal no longer holds it.
fn save_deal(deal: &Deal) -> Result<(), ContractError> {
    if !deal.status.is_pending()
        && PENDING.may_load(&deal.parcel_id.as_str())? == Some(deal.deal_id)
    {
        PENDING.remove(&deal.parcel_id.as_str());
    }
    DEALS.save(&deal.deal_id, deal)
}

fn not_in(deal: &Deal, expected: &str) -> ContractError {
    ContractError::new(format!(
        "deal {} is {}, not {expected}",
        deal.deal_id,
        deal.status.as_str()
    ))
}

fn ev(ty: &str, deal: &Deal) -> Event {
    Event::new(ty)
        .attr("deal_id", deal.deal_id.to_string())
        .attr("parcel_id", deal.parcel_id.clone())
}

fn ensure_before_deadline(env: &Env, deal: &Deal) -> Result<(), ContractError> {
    ensure!(env.time <= deal.deadline, "deadline passed");
    Ok(())
}

/// Checks that `who` is an official of the registry's policy and still enrolled as one.
fn ensure_policy_official(
    cfg: &Config,
    who: Address,
    what: &str,
) -> Result<ext::Policy, ContractError> {
    let policy = ext::policy(cfg)?;
    ensure!(
        policy.officials.contains(&who) && ext::has_role(cfg, who, "official")?,
        "unauthorized: only an official may {what}"
    );
    Ok(policy)
}

fn instantiate(_env: &Env, msg: InstantiateMsg) -> Result<Response, ContractError> {
    CONFIG.save(&Config {
        identity: msg.identity,
        registry: msg.registry,
        escrow: msg.escrow,
        token: msg.token,
    })?;
    NEXT_ID.save(&1)?;
    Ok(Response::new())
}

fn execute(env: &Env, msg: ExecuteMsg) -> Result<Response, ContractError> {
    let cfg = CONFIG.load()?;
    match msg {
        ExecuteMsg::Open {
            parcel_id,
            seller,
            buyer,
            price,
            deadline,
        } => open(env, &cfg, parcel_id, seller, buyer, price, deadline),
        ExecuteMsg::AttachMortgage { deal_id, amount } => {
            let mut deal = load_deal(deal_id)?;
            ensure!(
                ext::has_role(&cfg, env.sender, "bank")?,
                "unauthorized: only an enrolled bank may attach a mortgage"
            );
            ensure!(
                matches!(deal.status, Status::Open | Status::Funded | Status::Signed),
                "deal {deal_id} is {}, a mortgage must be attached before approval",
                deal.status.as_str()
            );
            ensure!(
                deal.mortgage.is_none(),
                "deal {deal_id} already has a mortgage attached"
            );
            ensure!(!amount.is_zero(), "mortgage amount must be positive");
            deal.mortgage = Some(Mortgage {
                bank: env.sender,
                amount,
            });
            save_deal(&deal)?;
            Ok(Response::new().event(
                ev("mortgage_attached", &deal)
                    .attr("bank", env.sender.to_string())
                    .attr("amount", amount.to_string()),
            ))
        }
        ExecuteMsg::Funded {
            deal_id,
            funder,
            amount,
        } => {
            ensure!(
                env.sender == cfg.escrow,
                "unauthorized: only the escrow contract may report funding"
            );
            let mut deal = load_deal(deal_id)?;
            if deal.status != Status::Open {
                return Err(not_in(&deal, "open"));
            }
            ensure_before_deadline(env, &deal)?;
            ensure!(
                funder == deal.buyer,
                "only the buyer may fund deal {deal_id}"
            );
            ensure!(
                amount == deal.price,
                "deal {deal_id} needs exactly {}, got {amount}",
                deal.price
            );
            deal.status = Status::Funded;
            save_deal(&deal)?;
            Ok(Response::new().event(ev("deal_funded", &deal).attr("amount", amount.to_string())))
        }
        ExecuteMsg::Sign { deal_id } => {
            let mut deal = load_deal(deal_id)?;
            ensure!(
                env.sender == deal.seller || env.sender == deal.buyer,
                "unauthorized: only the seller or the buyer may sign"
            );
            if deal.status != Status::Funded {
                return Err(not_in(&deal, "funded"));
            }
            ensure_before_deadline(env, &deal)?;
            ensure!(
                !deal.signatures.contains(&env.sender),
                "already signed by {}",
                env.sender
            );
            deal.signatures.push(env.sender);
            if deal.signatures.contains(&deal.seller) && deal.signatures.contains(&deal.buyer) {
                deal.status = Status::Signed;
            }
            save_deal(&deal)?;
            Ok(Response::new().event(
                ev("deal_signed", &deal)
                    .attr("by", env.sender.to_string())
                    .attr("status", deal.status.as_str()),
            ))
        }
        ExecuteMsg::Approve { deal_id } => {
            let mut deal = load_deal(deal_id)?;
            let policy = ensure_policy_official(&cfg, env.sender, "approve")?;
            ensure!(
                !deal.approvals.contains(&env.sender),
                "already approved by {}",
                env.sender
            );
            if deal.status != Status::Signed {
                return Err(not_in(&deal, "signed"));
            }
            ensure_before_deadline(env, &deal)?;
            deal.approvals.push(env.sender);
            // Only approvals by officials still in the current policy count toward it.
            let counted = deal
                .approvals
                .iter()
                .filter(|a| policy.officials.contains(a))
                .count();
            let needed = usize::try_from(policy.threshold).unwrap_or(usize::MAX);
            if counted >= needed {
                deal.status = Status::Approved;
            }
            save_deal(&deal)?;
            Ok(Response::new().event(
                ev("deal_approved", &deal)
                    .attr("by", env.sender.to_string())
                    .attr("approvals", counted.to_string())
                    .attr("threshold", policy.threshold.to_string())
                    .attr("status", deal.status.as_str()),
            ))
        }
        ExecuteMsg::Reject { deal_id } => {
            let mut deal = load_deal(deal_id)?;
            ensure_policy_official(&cfg, env.sender, "reject")?;
            ensure!(
                deal.status.is_pending(),
                "deal {deal_id} is {}, it can no longer be rejected",
                deal.status.as_str()
            );
            deal.status = Status::Rejected;
            deal.rejected_by = Some(env.sender);
            save_deal(&deal)?;
            Ok(
                Response::new()
                    .event(ev("deal_rejected", &deal).attr("by", env.sender.to_string())),
            )
        }
        ExecuteMsg::Settle { deal_id } => settle(env, &cfg, deal_id),
        ExecuteMsg::Cancel { deal_id } => {
            let mut deal = load_deal(deal_id)?;
            ensure!(
                env.sender == deal.broker || env.sender == deal.seller || env.sender == deal.buyer,
                "unauthorized: only the broker, seller or buyer may cancel"
            );
            ensure!(
                deal.status == Status::Open,
                "deal {deal_id} is {}, it can only be cancelled before funding",
                deal.status.as_str()
            );
            deal.status = Status::Cancelled;
            save_deal(&deal)?;
            Ok(Response::new()
                .event(ev("deal_cancelled", &deal).attr("by", env.sender.to_string())))
        }
        ExecuteMsg::Refund { deal_id } => {
            let mut deal = load_deal(deal_id)?;
            ensure!(
                env.sender == deal.buyer,
                "unauthorized: only the buyer may reclaim the escrow"
            );
            match deal.status {
                Status::Rejected => {}
                Status::Funded | Status::Signed | Status::Approved => {
                    ensure!(
                        env.time > deal.deadline,
                        "deal {deal_id} cannot be refunded before its deadline"
                    );
                }
                Status::Refunded => bail!("deal {deal_id} is already refunded"),
                Status::Open => bail!("deal {deal_id} was never funded"),
                Status::Settled | Status::Cancelled => {
                    bail!(
                        "deal {deal_id} is {}, nothing to refund",
                        deal.status.as_str()
                    )
                }
            }
            ext::escrow_refund(&cfg, deal_id)?;
            deal.status = Status::Refunded;
            save_deal(&deal)?;
            Ok(
                Response::new()
                    .event(ev("deal_refunded", &deal).attr("to", deal.buyer.to_string())),
            )
        }
    }
}

#[allow(clippy::too_many_arguments, reason = "the fields of the open message")]
fn open(
    env: &Env,
    cfg: &Config,
    parcel_id: String,
    seller: Address,
    buyer: Address,
    price: Amount,
    deadline: u64,
) -> Result<Response, ContractError> {
    ensure!(
        ext::has_role(cfg, env.sender, "broker")?,
        "unauthorized: only an enrolled broker may open a deal"
    );
    ensure!(seller != buyer, "seller and buyer must differ");
    ensure!(!price.is_zero(), "price must be positive");
    ensure!(deadline > env.time, "deadline must be in the future");
    if let Some(other) = PENDING.may_load(&parcel_id.as_str())? {
        bail!("parcel {parcel_id} already has pending deal {other}");
    }
    let parcel = ext::parcel(cfg, &parcel_id)?;
    ensure!(!parcel.frozen, "title frozen by a court seizure");
    let sole = matches!(parcel.owners.as_slice(), [o] if o.owner == seller);
    ensure!(
        sole,
        "seller {seller} is not the sole owner of parcel {parcel_id}"
    );

    let deal_id = NEXT_ID.load()?;
    NEXT_ID.save(&deal_id.checked_add(1).ok_or("deal ids exhausted")?)?;
    let deal = Deal {
        deal_id,
        parcel_id,
        seller,
        buyer,
        broker: env.sender,
        price,
        deadline,
        status: Status::Open,
        mortgage: None,
        signatures: Vec::new(),
        approvals: Vec::new(),
        rejected_by: None,
        opened_height: env.height,
        settled_height: None,
    };
    PENDING.save(&deal.parcel_id.as_str(), &deal_id)?;
    save_deal(&deal)?;
    Response::new()
        .event(
            ev("deal_opened", &deal)
                .attr("seller", seller.to_string())
                .attr("buyer", buyer.to_string())
                .attr("price", price.to_string())
                .attr("deadline", deadline.to_string()),
        )
        .json(&OpenResponse { deal_id })
}

/// The atomic settlement. Every step either succeeds or returns an error that makes the VM
/// revert the whole transaction, so nothing here needs compensating on failure.
fn settle(env: &Env, cfg: &Config, deal_id: u64) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    // Only people with a stake in the sale, or the officials who approved it, may close it:
    // a stranger must not choose the moment a title moves.
    let party = [deal.broker, deal.seller, deal.buyer].contains(&env.sender);
    if !party && !ext::policy(cfg)?.officials.contains(&env.sender) {
        bail!("unauthorized: only the broker, seller, buyer or a policy official may settle");
    }
    if deal.status != Status::Approved {
        return Err(not_in(&deal, "approved"));
    }
    ensure_before_deadline(env, &deal)?;

    let parcel = ext::parcel(cfg, &deal.parcel_id)?;
    ensure!(!parcel.frozen, "title frozen by a court seizure");
    let sole = matches!(parcel.owners.as_slice(), [o] if o.owner == deal.seller);
    ensure!(
        sole,
        "seller {} no longer solely owns parcel {}",
        deal.seller,
        deal.parcel_id
    );

    // Active mortgages in rank order: senior liens are paid first.
    let mut liens: Vec<(u64, u64, Address, Amount)> = parcel
        .encumbrances
        .iter()
        .filter(|e| e.active)
        .filter_map(|e| match &e.kind {
            ext::Kind::Mortgage { holder, amount } => Some((e.rank, e.id, *holder, *amount)),
            ext::Kind::Seizure { .. } => None,
        })
        .collect();
    liens.sort_by_key(|l| l.0);
    let mut payoff = Amount::ZERO;
    for l in &liens {
        payoff = payoff.checked_add(l.3).ok_or("lien total overflows")?;
    }
    let held = ext::escrow_held(cfg, deal_id)?;
    ensure!(
        payoff <= held,
        "payoff short: liens need {payoff}, escrow holds {held}"
    );

    let mut events = Vec::new();
    for (rank, lien_id, holder, amount) in &liens {
        if !amount.is_zero() {
            ext::escrow_release(cfg, deal_id, *holder, *amount)?;
        }
        ext::discharge_lien(cfg, &deal.parcel_id, *lien_id)?;
        events.push(
            ev("lien_paid_off", &deal)
                .attr("lien_id", lien_id.to_string())
                .attr("rank", rank.to_string())
                .attr("holder", holder.to_string())
                .attr("amount", amount.to_string()),
        );
    }
    let proceeds = held.checked_sub(payoff).ok_or("payoff exceeds escrow")?;
    if !proceeds.is_zero() {
        ext::escrow_release(cfg, deal_id, deal.seller, proceeds)?;
    }
    ext::transfer_title(cfg, &deal.parcel_id, deal.buyer)?;
    let mut new_lien = None;
    if let Some(m) = &deal.mortgage {
        new_lien = Some(ext::record_lien(cfg, &deal.parcel_id, m.bank, m.amount)?);
    }

    deal.status = Status::Settled;
    deal.settled_height = Some(env.height);
    save_deal(&deal)?;
    let mut settled = ev("deal_settled", &deal)
        .attr("seller", deal.seller.to_string())
        .attr("buyer", deal.buyer.to_string())
        .attr("price", deal.price.to_string())
        .attr("payoff", payoff.to_string())
        .attr("proceeds", proceeds.to_string());
    if let (Some(m), Some(id)) = (&deal.mortgage, new_lien) {
        settled = settled
            .attr("new_lien_id", id.to_string())
            .attr("new_lien_holder", m.bank.to_string())
            .attr("new_lien_amount", m.amount.to_string());
    }
    events.push(settled);
    Ok(Response {
        data: Vec::new(),
        events,
    })
}

fn query(_env: &Env, msg: QueryMsg) -> Result<Vec<u8>, ContractError> {
    match msg {
        QueryMsg::Deal { deal_id } => to_json(&load_deal(deal_id)?),
        QueryMsg::DealByParcel { parcel_id } => {
            let deal_id = PENDING.may_load(&parcel_id.as_str())?;
            to_json(&DealByParcelResponse { parcel_id, deal_id })
        }
    }
}

entry_points!(instantiate, execute, query);

#[cfg(test)]
mod tests;
