//! `hanok-deal`: the title-transfer contract, which runs a sale from opening to one atomic
//! settlement.
//!
//! Lifecycle: `open` (a broker proposes the terms; the deal is `proposed` and binds nothing) →
//! `accept` (the seller consents: the deal is `open` and now holds the parcel) → `funded` (the
//! escrow reports the buyer's deposit) → `signed` (seller and buyer sign the exact terms, once
//! each) → `approved` (m of n officials from the registry policy, each counted once) →
//! `settled`; or `cancelled` (before funding), `rejected` (by an official), `expired` (its
//! deadline passed while it held the parcel and another deal claimed the parcel) and `refunded`
//! (the buyer reclaims the escrow after rejection, expiry or the deadline).
//!
//! The rules that keep one party from binding another:
//! - **The buyer's mortgage is the buyer's choice.** The terms name the buyer's lender and the
//!   most it may secure; only that bank attaches the mortgage, only up to that amount, only
//!   before the first signature. Each signature states the terms it covers (price, deadline,
//!   lender, mortgage amount) and must match the deal; settlement checks that the signatures
//!   still cover the deal's terms and records exactly the signed mortgage.
//! - **Only the seller binds the parcel.** A broker's proposal locks nothing; the seller's
//!   `accept` does, and only until the deadline, which must lie within the registry policy's
//!   `max_deal_secs` of the block time. A deal past its deadline no longer holds the parcel: the
//!   next `open` or `accept` on the parcel marks it expired, and its buyer's refund stays
//!   available.
//! - **Authority is checked when it is used.** An official settles only while enrolled and in
//!   the current policy, and at settlement only approvals by officials who are both count.
//!
//! `settle` is the whole transfer in one call: it re-reads the parcel from the registry (seller
//! still sole owner, not frozen), pays every active mortgage lien off from the escrow in rank
//! order and discharges it, pays the rest to the seller, moves the title to the buyer and records
//! the buyer's bank's new lien. Any failure returns an error, and the VM reverts every write of
//! every contract touched — that is what makes settlement atomic, so the code never undoes
//! anything by hand.
//!
//! This crate talks to the registry, escrow and identity contracts with their message types from
//! `hanok-messages` (see the private `ext` module); it deliberately does not link their crates,
//! whose wasm exports would clash with its own.
//!
//! # Messages
//! - instantiate [`InstantiateMsg`] `{identity, registry, escrow, token}`
//! - execute [`ExecuteMsg`]: `open`, `accept`, `attach_mortgage`, `funded`, `sign`, `approve`,
//!   `reject {deal_id, reason}` (the reason is required, trimmed, at most
//!   [`MAX_REJECTION_REASON_BYTES`], and stored on the deal), `settle`, `cancel`, `refund`
//! - query [`QueryMsg`]: `deal {deal_id}` → [`Deal`]; `deal_by_parcel {parcel_id}` →
//!   [`DealByParcelResponse`]; `awaiting_approval {start_after, limit}` → [`DealsResponse`]
//!   (the officials' queue: signed deals in id order, read from the `awaiting` index)
//!
//! Events: `deal_opened`, `deal_accepted`, `deal_expired`, `mortgage_attached`, `deal_funded`,
//! `deal_signed`, `deal_approved` (one per approval, with `approvals` and `threshold`),
//! `deal_rejected` (with `by` and `reason`), `deal_settled`, `deal_cancelled`, `deal_refunded`.
//! Storage: `config`; `next_id`; `deals`: id → [`Deal`]; `pending`: parcel id → deal id of the
//! accepted deal holding it; `awaiting`: deal id → `null` for every deal whose status is
//! `signed`. Both indexes are kept in step by one function, `save_deal`, which every status
//! change goes through.
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod ext;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hanok_messages::registry::{EncumbranceKindView, Policy};
use hanok_sdk::{
    bail, ensure, entry_points, to_json, Address, Amount, ContractError, Env, Event, Item, Map,
    Response, Role,
};
use serde::{Deserialize, Serialize};

/// The messages, answers, [`Terms`] and [`Status`] live in `hanok-messages` (one definition for
/// the contract, its callers and clients); re-exported so `hanok_deal::ExecuteMsg` keeps working.
pub use hanok_messages::deal::*;

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
/// The approval queue: the ids of exactly the deals whose stored status is `signed`, so
/// `awaiting_approval` pages through them without reading any other deal. Only the key carries
/// information (the value is JSON `null`).
const AWAITING: Map<u64, ()> = Map::new("awaiting");

fn load_deal(deal_id: u64) -> Result<Deal, ContractError> {
    DEALS
        .may_load(&deal_id)?
        .ok_or_else(|| format!("deal {deal_id} not found").into())
}

/// Saves the deal, frees its parcel once the deal no longer holds it, and keeps the approval
/// queue (`AWAITING`) equal to the set of signed deals.
fn save_deal(deal: &Deal) -> Result<(), ContractError> {
    if !deal.status.holds_parcel()
        && PENDING.may_load(&deal.parcel_id.as_str())? == Some(deal.deal_id)
    {
        PENDING.remove(&deal.parcel_id.as_str());
    }
    match deal.status {
        // Rewritten on every save while signed (an approval short of the threshold saves it
        // signed again): one idempotent write is cheaper than a read to skip it.
        Status::Signed => AWAITING.save(&deal.deal_id, &())?,
        // The statuses a deal can enter from `signed` (an approval, a rejection, a refund after
        // the deadline, expiry when another deal claims the parcel) leave the queue. Removing
        // a key that is absent is harmless and cheaper than reading first.
        Status::Approved | Status::Rejected | Status::Refunded | Status::Expired => {
            AWAITING.remove(&deal.deal_id);
        }
        // Never signed (proposed, open, funded, and cancelled, which only proposed or open
        // deals become), or settled, which only an approved deal becomes, whose save already
        // left the queue: nothing to remove, so no host call.
        Status::Proposed | Status::Open | Status::Funded | Status::Cancelled | Status::Settled => {}
    }
    DEALS.save(&deal.deal_id, deal)
}

/// The reason an official gives for a rejection, trimmed; refused when it says nothing or
/// exceeds [`MAX_REJECTION_REASON_BYTES`].
fn rejection_reason(reason: &str) -> Result<String, ContractError> {
    let reason = reason.trim();
    ensure!(
        !reason.is_empty(),
        "a rejection must say why: give a non-empty reason"
    );
    ensure!(
        reason.len() <= MAX_REJECTION_REASON_BYTES,
        "rejection reason too long: {} bytes, at most {MAX_REJECTION_REASON_BYTES} allowed",
        reason.len()
    );
    Ok(reason.to_string())
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

/// A deadline is in the future and within the policy's bound, so no deal can hold a parcel for
/// longer than the registry allows.
fn ensure_deadline_within_policy(
    env: &Env,
    policy: &Policy,
    deadline: u64,
) -> Result<(), ContractError> {
    let ahead = deadline
        .checked_sub(env.time)
        .filter(|s| *s > 0)
        .ok_or("deadline must be in the future")?;
    ensure!(
        ahead <= policy.max_deal_secs,
        "deadline too far ahead: {ahead} s after the block time, the registry policy allows at \
         most {} s",
        policy.max_deal_secs
    );
    Ok(())
}

/// The seller must still be the parcel's sole owner and the title not frozen.
fn ensure_parcel_sellable(
    cfg: &Config,
    parcel_id: &str,
    seller: Address,
) -> Result<(), ContractError> {
    let parcel = ext::parcel(cfg, parcel_id)?;
    ensure!(!parcel.frozen, "title frozen by a court seizure");
    let sole = matches!(parcel.owners.as_slice(), [o] if o.owner == seller);
    ensure!(
        sole,
        "seller {seller} is not the sole owner of parcel {parcel_id}"
    );
    Ok(())
}

/// Refuses if a live deal holds the parcel. A deal whose deadline has passed no longer holds
/// it: it is marked expired here (its buyer's refund stays available) and its event returned,
/// so a buyer who never reclaims cannot keep the parcel locked.
fn release_expired(env: &Env, parcel_id: &str) -> Result<Option<Event>, ContractError> {
    let Some(holder) = PENDING.may_load(&parcel_id)? else {
        return Ok(None);
    };
    let mut other = load_deal(holder)?;
    if !other.status.holds_parcel() {
        // save_deal never leaves such an entry; drop it rather than trust it.
        PENDING.remove(&parcel_id);
        return Ok(None);
    }
    ensure!(
        env.time > other.deadline,
        "parcel {parcel_id} already has pending deal {holder}"
    );
    let was = other.status;
    other.status = Status::Expired;
    save_deal(&other)?;
    Ok(Some(
        ev("deal_expired", &other)
            .attr("was", was.as_str())
            .attr("deadline", other.deadline.to_string()),
    ))
}

/// Checks that `who` is an official of the registry's policy and still enrolled as one.
fn ensure_policy_official(cfg: &Config, who: Address, what: &str) -> Result<Policy, ContractError> {
    let policy = ext::policy(cfg)?;
    ensure!(
        is_current_official(cfg, &policy, who)?,
        "unauthorized: only an official may {what}"
    );
    Ok(policy)
}

/// Whether `who` is in the current policy and still enrolled as an official: the authority may
/// have demoted an official without changing the policy, or the other way round.
fn is_current_official(cfg: &Config, policy: &Policy, who: Address) -> Result<bool, ContractError> {
    Ok(policy.officials.contains(&who) && ext::has_role(cfg, who, Role::Official)?)
}

/// The approvals that count now: by officials still in the policy and still enrolled.
fn counted_approvals(cfg: &Config, policy: &Policy, deal: &Deal) -> Result<usize, ContractError> {
    let mut counted = 0usize;
    for a in &deal.approvals {
        if is_current_official(cfg, policy, *a)? {
            counted = counted.checked_add(1).ok_or("approval count overflows")?;
        }
    }
    Ok(counted)
}

fn threshold(policy: &Policy) -> usize {
    usize::try_from(policy.threshold).unwrap_or(usize::MAX)
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
            lender,
        } => open(
            env,
            &cfg,
            Proposal {
                parcel_id,
                seller,
                buyer,
                price,
                deadline,
                lender,
            },
        ),
        ExecuteMsg::Accept { deal_id } => accept(env, &cfg, deal_id),
        ExecuteMsg::AttachMortgage { deal_id, amount } => {
            attach_mortgage(env, &cfg, deal_id, amount)
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
            deal.funded_height = Some(env.height);
            save_deal(&deal)?;
            Ok(Response::new().event(ev("deal_funded", &deal).attr("amount", amount.to_string())))
        }
        ExecuteMsg::Sign { deal_id, terms } => sign(env, deal_id, terms),
        ExecuteMsg::Approve { deal_id } => {
            let mut deal = load_deal(deal_id)?;
            let policy = ensure_policy_official(&cfg, env.sender, "approve")?;
            ensure!(
                !deal.approvals.contains(&env.sender),
                "already approved by {}",
                env.sender
            );
            // An approved deal still takes approvals: if an official who approved is demoted,
            // another can make up the threshold before the deadline.
            if !matches!(deal.status, Status::Signed | Status::Approved) {
                return Err(not_in(&deal, "signed"));
            }
            ensure_before_deadline(env, &deal)?;
            deal.approvals.push(env.sender);
            let counted = counted_approvals(&cfg, &policy, &deal)?;
            deal.status = if counted >= threshold(&policy) {
                Status::Approved
            } else {
                Status::Signed
            };
            save_deal(&deal)?;
            Ok(Response::new().event(
                ev("deal_approved", &deal)
                    .attr("by", env.sender.to_string())
                    .attr("approvals", counted.to_string())
                    .attr("threshold", policy.threshold.to_string())
                    .attr("status", deal.status.as_str()),
            ))
        }
        ExecuteMsg::Reject { deal_id, reason } => {
            let mut deal = load_deal(deal_id)?;
            ensure_policy_official(&cfg, env.sender, "reject")?;
            ensure!(
                deal.status.is_pending(),
                "deal {deal_id} is {}, it can no longer be rejected",
                deal.status.as_str()
            );
            let reason = rejection_reason(&reason)?;
            deal.status = Status::Rejected;
            deal.rejected_by = Some(env.sender);
            deal.rejection_reason = Some(reason.clone());
            save_deal(&deal)?;
            Ok(Response::new().event(
                ev("deal_rejected", &deal)
                    .attr("by", env.sender.to_string())
                    .attr("reason", reason),
            ))
        }
        ExecuteMsg::Settle { deal_id } => settle(env, &cfg, deal_id),
        ExecuteMsg::Cancel { deal_id } => {
            let mut deal = load_deal(deal_id)?;
            ensure!(
                env.sender == deal.broker || env.sender == deal.seller || env.sender == deal.buyer,
                "unauthorized: only the broker, seller or buyer may cancel"
            );
            ensure!(
                matches!(deal.status, Status::Proposed | Status::Open),
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
                Status::Rejected | Status::Expired => {
                    ensure!(
                        deal.funded_height.is_some(),
                        "deal {deal_id} was never funded"
                    );
                }
                Status::Funded | Status::Signed | Status::Approved => {
                    ensure!(
                        env.time > deal.deadline,
                        "deal {deal_id} cannot be refunded before its deadline"
                    );
                }
                Status::Refunded => bail!("deal {deal_id} is already refunded"),
                Status::Proposed | Status::Open => bail!("deal {deal_id} was never funded"),
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

/// The fields of `open`.
struct Proposal {
    parcel_id: String,
    seller: Address,
    buyer: Address,
    price: Amount,
    deadline: u64,
    lender: Option<Lender>,
}

/// A broker's proposal: checked as the deal would be, but it holds nothing until the seller
/// accepts, so a broker alone cannot lock a parcel.
fn open(env: &Env, cfg: &Config, p: Proposal) -> Result<Response, ContractError> {
    ext::require_role(cfg, env.sender, Role::Broker, "open a deal")?;
    ensure!(p.seller != p.buyer, "seller and buyer must differ");
    ensure!(!p.price.is_zero(), "price must be positive");
    ensure_deadline_within_policy(env, &ext::policy(cfg)?, p.deadline)?;
    if let Some(l) = &p.lender {
        ensure!(
            !l.max_amount.is_zero(),
            "the lender's max_amount must be positive"
        );
        ensure!(
            ext::has_role(cfg, l.bank, Role::Bank)?,
            "lender {} is not an enrolled bank",
            l.bank
        );
    }
    ensure_parcel_sellable(cfg, &p.parcel_id, p.seller)?;
    let expired = release_expired(env, &p.parcel_id)?;

    let deal_id = NEXT_ID.load()?;
    NEXT_ID.save(&deal_id.checked_add(1).ok_or("deal ids exhausted")?)?;
    let deal = Deal {
        deal_id,
        parcel_id: p.parcel_id,
        seller: p.seller,
        buyer: p.buyer,
        broker: env.sender,
        price: p.price,
        deadline: p.deadline,
        status: Status::Proposed,
        lender: p.lender,
        mortgage: None,
        signatures: Vec::new(),
        signed_terms: None,
        approvals: Vec::new(),
        rejected_by: None,
        rejection_reason: None,
        opened_height: env.height,
        accepted_height: None,
        funded_height: None,
        settled_height: None,
    };
    save_deal(&deal)?;
    let mut opened = ev("deal_opened", &deal)
        .attr("seller", deal.seller.to_string())
        .attr("buyer", deal.buyer.to_string())
        .attr("price", deal.price.to_string())
        .attr("deadline", deal.deadline.to_string());
    if let Some(l) = &deal.lender {
        opened = opened
            .attr("lender", l.bank.to_string())
            .attr("max_mortgage", l.max_amount.to_string());
    }
    let mut r = Response::new();
    if let Some(e) = expired {
        r = r.event(e);
    }
    r.event(opened).json(&OpenResponse { deal_id })
}

/// The seller's consent: from here the deal holds the parcel (until its deadline at most).
fn accept(env: &Env, cfg: &Config, deal_id: u64) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    ensure!(
        env.sender == deal.seller,
        "unauthorized: only the seller may accept deal {deal_id}"
    );
    if deal.status != Status::Proposed {
        return Err(not_in(&deal, "proposed"));
    }
    ensure_before_deadline(env, &deal)?;
    // The policy may have tightened since the proposal: check the bound when the parcel is
    // actually bound.
    ensure_deadline_within_policy(env, &ext::policy(cfg)?, deal.deadline)?;
    ensure_parcel_sellable(cfg, &deal.parcel_id, deal.seller)?;
    let expired = release_expired(env, &deal.parcel_id)?;
    deal.status = Status::Open;
    deal.accepted_height = Some(env.height);
    PENDING.save(&deal.parcel_id.as_str(), &deal_id)?;
    save_deal(&deal)?;
    let mut r = Response::new();
    if let Some(e) = expired {
        r = r.event(e);
    }
    Ok(r.event(ev("deal_accepted", &deal).attr("by", env.sender.to_string())))
}

/// Only the lender the terms name, only up to its maximum, only before anyone signed: the
/// buyer's mortgage is the buyer's choice, and a signature covers the amount.
fn attach_mortgage(
    env: &Env,
    cfg: &Config,
    deal_id: u64,
    amount: Amount,
) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    let lender = deal
        .lender
        .filter(|l| l.bank == env.sender)
        .ok_or_else(|| {
            ContractError::new(format!(
                "unauthorized: only the lender deal {deal_id} names may attach its mortgage"
            ))
        })?;
    ext::require_role(cfg, env.sender, Role::Bank, "attach a mortgage")?;
    if let Some(first) = deal.signatures.first() {
        bail!(
            "deal {deal_id} is already signed by {first}: the mortgage must be attached before \
             the parties sign"
        );
    }
    if !matches!(
        deal.status,
        Status::Proposed | Status::Open | Status::Funded
    ) {
        return Err(not_in(&deal, "proposed, open or funded"));
    }
    ensure_before_deadline(env, &deal)?;
    ensure!(!amount.is_zero(), "mortgage amount must be positive");
    ensure!(
        amount <= lender.max_amount,
        "mortgage {amount} exceeds the {} deal {deal_id} allows its lender",
        lender.max_amount
    );
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

/// A signature covers the terms the signer states; they must be the deal's.
fn sign(env: &Env, deal_id: u64, terms: Terms) -> Result<Response, ContractError> {
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
    let current = deal.terms();
    ensure!(
        terms == current,
        "terms mismatch: the signature covers {terms}, but deal {deal_id} has {current}"
    );
    // A signature over other terms binds nobody to these: it is void, and its signer signs
    // again. (Terms cannot change once anyone signed today; this keeps that true if a message
    // that changes them is ever added.)
    if deal.signed_terms.is_some_and(|t| t != current) {
        deal.signatures.clear();
    }
    deal.signed_terms = Some(current);
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

/// The atomic settlement. Every step either succeeds or returns an error that makes the VM
/// revert the whole transaction, so nothing here needs compensating on failure.
fn settle(env: &Env, cfg: &Config, deal_id: u64) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    let policy = ext::policy(cfg)?;
    // Only people with a stake in the sale, or an official of the registry, may close it: a
    // stranger must not choose the moment a title moves. An official's authority is checked
    // now, not when the policy named it.
    let party = [deal.broker, deal.seller, deal.buyer].contains(&env.sender);
    if !party && !is_current_official(cfg, &policy, env.sender)? {
        bail!("unauthorized: only the broker, seller, buyer or a policy official may settle");
    }
    if deal.status != Status::Approved {
        return Err(not_in(&deal, "approved"));
    }
    ensure_before_deadline(env, &deal)?;
    let terms = deal.terms();
    ensure!(
        deal.signed_terms == Some(terms)
            && deal.signatures.contains(&deal.seller)
            && deal.signatures.contains(&deal.buyer),
        "deal {deal_id}'s signatures do not cover its terms ({terms}): both parties must sign them"
    );
    let counted = counted_approvals(cfg, &policy, &deal)?;
    ensure!(
        counted >= threshold(&policy),
        "not enough approvals: deal {deal_id} has {counted} by officials still enrolled and in \
         the registry policy, which needs {}",
        policy.threshold
    );

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
            EncumbranceKindView::Mortgage { holder, amount } => {
                Some((e.rank, e.id, *holder, *amount))
            }
            // A seizure stops settlement above; a lease stays with the parcel (the buyer takes
            // over the deposit) and is not paid off.
            EncumbranceKindView::Seizure {} | EncumbranceKindView::Lease { .. } => None,
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
    // Exactly what both parties signed: the named lender, the attached amount.
    let new_mortgage = match (terms.lender, terms.mortgage_amount) {
        (Some(bank), Some(amount)) => Some(Mortgage { bank, amount }),
        _ => None,
    };
    let mut new_lien = None;
    if let Some(m) = &new_mortgage {
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
    if let (Some(m), Some(id)) = (&new_mortgage, new_lien) {
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

fn query(env: &Env, msg: QueryMsg) -> Result<Vec<u8>, ContractError> {
    match msg {
        QueryMsg::Deal { deal_id } => to_json(&load_deal(deal_id)?),
        QueryMsg::DealByParcel { parcel_id } => {
            let mut deal_id = None;
            if let Some(id) = PENDING.may_load(&parcel_id.as_str())? {
                let d = load_deal(id)?;
                if d.status.holds_parcel() && env.time <= d.deadline {
                    deal_id = Some(id);
                }
            }
            to_json(&DealByParcelResponse { parcel_id, deal_id })
        }
        QueryMsg::AwaitingApproval { start_after, limit } => {
            let limit = limit
                .unwrap_or(AWAITING_DEFAULT_LIMIT)
                .min(AWAITING_MAX_LIMIT);
            // The index, not the deals: only the listed deals are read.
            let ids: Vec<(u64, ())> = AWAITING.range(start_after.as_ref(), limit)?;
            let mut deals = Vec::with_capacity(ids.len());
            for (id, ()) in ids {
                deals.push(load_deal(id)?);
            }
            to_json(&DealsResponse { deals })
        }
    }
}

entry_points!(instantiate, execute, query);

#[cfg(test)]
mod tests;
