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
//! order, exactly the debt its bank's payoff statement states (refusing, naming the bank, when
//! a statement is missing, expired or above the lien's registered maximum), and discharges it,
//! pays the rest to the seller, has the acquisition tax assessed (the tax contract decides the
//! first-home relief and records the claim) and pays it to the municipality with any relief
//! back to the buyer, moves the title to the buyer and records the buyer's bank's new lien. Any
//! failure returns an error, and the VM reverts every write of every contract touched — that is
//! what makes settlement atomic, so the code never undoes anything by hand.
//!
//! This crate talks to the registry, escrow and identity contracts with their message types from
//! `hanok-messages` (see the private `ext` module); it deliberately does not link their crates,
//! whose wasm exports would clash with its own.
//!
//! # Messages
//! - instantiate [`InstantiateMsg`] `{identity, registry, escrow, token, tax?}`
//! - execute [`ExecuteMsg`]: `open`, `accept`, `attach_mortgage`, `funded`, `sign`, `approve`,
//!   `reject {deal_id, reason}` (the reason is required, trimmed, at most
//!   [`MAX_REJECTION_REASON_BYTES`], and stored on the deal), `settle`, `cancel`, `refund`
//! - query [`QueryMsg`]: `deal {deal_id}` → [`Deal`]; `deal_by_parcel {parcel_id}` →
//!   [`DealByParcelResponse`]; `awaiting_approval {start_after, limit}` → [`DealsResponse`]
//!   (the officials' queue: signed deals in id order, read from the `awaiting` index);
//!   `report {deal_id}` → [`TransactionReport`]; `reports {start_after, limit}` →
//!   [`ReportsResponse`] (the municipality's transaction reports, in deal id order)
//!
//! Events: `deal_opened`, `deal_accepted`, `deal_expired`, `mortgage_attached`, `deal_funded`,
//! `deal_signed`, `deal_approved` (one per approval, with `approvals` and `threshold`),
//! `deal_rejected` (with `by` and `reason`), `deal_settled` (with `tax` and `tax_relief` when a
//! tax applied), `deal_cancelled`, `deal_refunded`,
//! `transaction_reported` (with `status`, `price`, `contract_time`; whenever the report is filed
//! or changes).
//! Storage: `config`; `next_id`; `deals`: id → [`Deal`]; `pending`: parcel id → deal id of the
//! accepted deal holding it; `awaiting`: deal id → `null` for every deal whose status is
//! `signed`; `reports`: deal id → [`TransactionReport`] for every deal whose contract was
//! concluded. The indexes and the reports are kept in step by one function, `save_deal`,
//! which every status change goes through: that is what makes the transaction report complete
//! by construction.
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod ext;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hanok_messages::registry::{EncumbranceKindView, Policy, FULL_SHARE_BPS, MAX_OWNERS};
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
    /// The acquisition-tax contract, if the chain collects the tax.
    #[serde(default)]
    pub(crate) tax: Option<Address>,
}

const CONFIG: Item<Config> = Item::new("config");
const NEXT_ID: Item<u64> = Item::new("next_id");
const DEALS: Map<u64, Deal> = Map::new("deals");
const PENDING: Map<&str, u64> = Map::new("pending");
/// The approval queue: the ids of exactly the deals whose stored status is `signed`, so
/// `awaiting_approval` pages through them without reading any other deal. Only the key carries
/// information (the value is JSON `null`).
const AWAITING: Map<u64, ()> = Map::new("awaiting");
/// Transaction reports by deal id: one for every deal whose contract was concluded.
const REPORTS: Map<u64, TransactionReport> = Map::new("reports");

fn load_deal(deal_id: u64) -> Result<Deal, ContractError> {
    DEALS
        .may_load(&deal_id)?
        .ok_or_else(|| format!("deal {deal_id} not found").into())
}

/// Saves the deal, frees its parcel once the deal no longer holds it, keeps the approval
/// queue (`AWAITING`) equal to the set of signed deals, and keeps the deal's transaction
/// report in step with it ([`report`]).
fn save_deal(env: &Env, deal: &Deal) -> Result<(), ContractError> {
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
        Status::Approved
        | Status::Rejected
        | Status::Refunded
        | Status::Expired
        | Status::Cancelled => {
            AWAITING.remove(&deal.deal_id);
        }
        // Never signed (proposed, open, funded, and cancelled, which only proposed or open
        // deals become), or settled, which only an approved deal becomes, whose save already
        // left the queue: nothing to remove, so no host call.
        // `agree_cancel` can end a signed deal, so cancelled leaves the queue above.
        Status::Proposed | Status::Open | Status::Funded | Status::Settled => {}
    }
    report(env, deal)?;
    DEALS.save(&deal.deal_id, deal)
}

/// The transaction report (부동산 거래신고), derived from the deal in the same transaction as
/// each change that matters to it, so it can be neither late nor missing nor disagree with
/// the sale: filed when the contract is concluded (the status first becomes `signed`: both
/// parties signed the terms), completed at settlement, marked cancelled when a concluded
/// contract ends without a sale. Each change emits `transaction_reported`, which the
/// municipality streams.
fn report(env: &Env, deal: &Deal) -> Result<(), ContractError> {
    if matches!(
        deal.status,
        Status::Proposed | Status::Open | Status::Funded
    ) && !deal.fully_signed()
    {
        // Not concluded: nothing to file, and no read to find that out.
        return Ok(());
    }
    let id = deal.deal_id;
    let concluded = deal.signed_terms == Some(deal.terms()) && deal.fully_signed();
    let report = match deal.status {
        Status::Settled => {
            let mut r = REPORTS
                .may_load(&id)?
                .ok_or_else(|| format!("deal {id} settles without a transaction report"))?;
            r.status = ReportStatus::Settled;
            r.settled_time = Some(env.time);
            r.settled_height = Some(env.height);
            r.payments = reported_payments(deal);
            r.acquisition_tax = deal.tax.as_ref().map(|a| a.tax);
            r
        }
        Status::Rejected | Status::Expired | Status::Refunded | Status::Cancelled => {
            match REPORTS.may_load(&id)? {
                Some(mut r) if r.status == ReportStatus::Contracted => {
                    r.status = ReportStatus::Cancelled;
                    r.cancelled_time = Some(env.time);
                    r.payments = reported_payments(deal);
                    r
                }
                // Never concluded (no report), or already cancelled (a refund after a
                // rejection).
                _ => return Ok(()),
            }
        }
        // Filed once, when the last party signs; later saves (approvals, a staged deal's
        // payments) find it filed.
        _ if concluded && !REPORTS.has(&id) => TransactionReport {
            deal_id: id,
            parcel_id: deal.parcel_id.clone(),
            price: deal.price,
            seller: deal.seller,
            co_sellers: deal.co_sellers.clone(),
            share_bps: deal.share_bps.unwrap_or(FULL_SHARE_BPS),
            buyer: deal.buyer,
            broker: deal.broker,
            contract_time: env.time,
            contract_height: env.height,
            due_time: env.time.saturating_add(REPORT_WINDOW_SECS),
            status: ReportStatus::Contracted,
            payments: reported_payments(deal),
            settled_time: None,
            settled_height: None,
            cancelled_time: None,
            acquisition_tax: None,
        },
        _ => return Ok(()),
    };
    REPORTS.save(&id, &report)?;
    hanok_sdk::emit(
        ev("transaction_reported", deal)
            .attr("status", report.status.as_str())
            .attr("price", report.price.to_string())
            .attr("contract_time", report.contract_time.to_string()),
    );
    Ok(())
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

/// Who sells what: the sellers and whether only the first one's share is sold.
#[derive(Clone, Copy)]
struct Sale<'a> {
    seller: Address,
    co_sellers: &'a [Address],
    share_sale: bool,
}

impl<'a> Sale<'a> {
    fn of(deal: &'a Deal) -> Sale<'a> {
        Sale {
            seller: deal.seller,
            co_sellers: &deal.co_sellers,
            share_sale: deal.share_sale,
        }
    }

    fn sellers(self) -> impl Iterator<Item = Address> + 'a {
        core::iter::once(self.seller).chain(self.co_sellers.iter().copied())
    }
}

/// The title is not frozen and the sellers still own what they sell: a whole parcel is sold
/// by exactly its owners (the sole owner, or every co-owner), a share by an owner of a
/// co-owned parcel. Returns the owners with their shares.
fn ensure_parcel_sellable(
    cfg: &Config,
    parcel_id: &str,
    sale: Sale<'_>,
) -> Result<Vec<hanok_messages::registry::OwnerView>, ContractError> {
    let parcel = ext::parcel(cfg, parcel_id)?;
    ensure!(!parcel.frozen, "title frozen by a court seizure");
    let owners = parcel.owners;
    let owns = |a: Address| owners.iter().any(|o| o.owner == a);
    if sale.share_sale {
        ensure!(
            owns(sale.seller),
            "seller {} owns no share of parcel {parcel_id}",
            sale.seller
        );
        ensure!(
            owners.len() > 1,
            "seller {} is the sole owner of parcel {parcel_id}: sell the whole parcel (without \
             share_sale)",
            sale.seller
        );
        return Ok(owners);
    }
    if sale.co_sellers.is_empty() {
        let sole = matches!(owners.as_slice(), [o] if o.owner == sale.seller);
        ensure!(
            sole,
            "seller {} is not the sole owner of parcel {parcel_id}",
            sale.seller
        );
        return Ok(owners);
    }
    for s in sale.sellers() {
        ensure!(owns(s), "seller {s} owns no share of parcel {parcel_id}");
    }
    if let Some(o) = owners
        .iter()
        .find(|o| !sale.sellers().any(|s| s == o.owner))
    {
        bail!(
            "co-owner {} of parcel {parcel_id} is not among the sellers: selling the whole \
             parcel needs every owner (or sell one share with share_sale)",
            o.owner
        );
    }
    Ok(owners)
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
    save_deal(env, &other)?;
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
        tax: msg.tax,
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
            co_sellers,
            share_sale,
            schedule,
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
                co_sellers,
                share_sale,
                schedule,
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
            funded(env, deal_id, funder, amount)
        }
        ExecuteMsg::SellerWithdrew {
            deal_id,
            seller,
            amount,
        } => {
            ensure!(
                env.sender == cfg.escrow,
                "unauthorized: only the escrow contract may report a seller's withdrawal"
            );
            seller_withdrew(env, deal_id, seller, amount)
        }
        ExecuteMsg::Withdraw { deal_id } => buyer_withdraws(env, &cfg, deal_id),
        ExecuteMsg::AgreeCancel { deal_id } => agree_cancel(env, &cfg, deal_id),
        ExecuteMsg::ClaimDefault { deal_id } => claim_default(env, &cfg, deal_id),
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
            save_deal(env, &deal)?;
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
            save_deal(env, &deal)?;
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
                env.sender == deal.broker
                    || env.sender == deal.buyer
                    || deal.sellers().any(|s| s == env.sender),
                "unauthorized: only the broker, seller or buyer may cancel"
            );
            ensure!(
                matches!(deal.status, Status::Proposed | Status::Open),
                "deal {deal_id} is {}, it can only be cancelled before funding",
                deal.status.as_str()
            );
            ensure!(
                deal.payments.is_empty(),
                "deal {deal_id} has payments in escrow: it ends by withdrawal under the \
                 earnest-money rule (before the interim payment), agree_cancel or claim_default"
            );
            deal.status = Status::Cancelled;
            save_deal(env, &deal)?;
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
                Status::Cancelled
                    if deal
                        .cancellation
                        .is_some_and(|c| c.kind == CancelKind::SellerWithdrew) => {}
                Status::Refunded => bail!("deal {deal_id} is already refunded"),
                Status::Open if !deal.payments.is_empty() => match overdue(env, &deal) {
                    Some((stage, due)) => bail!(
                        "the buyer missed the {stage} due at {due}: claim_default ends deal \
                             {deal_id} (the deposit goes to the seller, the rest back to the \
                             buyer)"
                    ),
                    None => bail!(
                        "deal {deal_id} is still being paid for: it ends by withdrawal, \
                             agree_cancel or claim_default"
                    ),
                },
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
            save_deal(env, &deal)?;
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
    co_sellers: Vec<Address>,
    share_sale: bool,
    schedule: Option<Schedule>,
}

/// A broker's proposal: checked as the deal would be, but it holds nothing until the seller
/// accepts, so a broker alone cannot lock a parcel.
fn open(env: &Env, cfg: &Config, p: Proposal) -> Result<Response, ContractError> {
    ext::require_role(cfg, env.sender, Role::Broker, "open a deal")?;
    ensure!(p.seller != p.buyer, "seller and buyer must differ");
    ensure!(!p.price.is_zero(), "price must be positive");
    ensure!(
        !p.share_sale || p.co_sellers.is_empty(),
        "a share sale has one seller: drop co_sellers, or sell the whole parcel without \
         share_sale"
    );
    ensure!(
        !p.share_sale || p.lender.is_none(),
        "a share sale takes no new mortgage: drop the lender"
    );
    ensure!(
        p.co_sellers.len() < MAX_OWNERS,
        "at most {} co-sellers",
        MAX_OWNERS.saturating_sub(1)
    );
    for (i, c) in p.co_sellers.iter().enumerate() {
        ensure!(
            *c != p.seller && *c != p.buyer && !p.co_sellers[..i].contains(c),
            "co-seller {c} is listed twice, is the seller or is the buyer"
        );
    }
    ensure_deadline_within_policy(env, &ext::policy(cfg)?, p.deadline)?;
    if let Some(s) = &p.schedule {
        check_schedule(env, p.price, p.deadline, s)?;
    }
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
    ensure_parcel_sellable(
        cfg,
        &p.parcel_id,
        Sale {
            seller: p.seller,
            co_sellers: &p.co_sellers,
            share_sale: p.share_sale,
        },
    )?;
    let expired = release_expired(env, &p.parcel_id)?;

    let deal_id = NEXT_ID.load()?;
    NEXT_ID.save(&deal_id.checked_add(1).ok_or("deal ids exhausted")?)?;
    let deal = Deal {
        deal_id,
        parcel_id: p.parcel_id,
        seller: p.seller,
        co_sellers: p.co_sellers,
        share_sale: p.share_sale,
        accepted_by: Vec::new(),
        share_bps: None,
        schedule: p.schedule,
        payments: Vec::new(),
        cancel_consents: Vec::new(),
        cancellation: None,
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
        tax_quote: None,
        tax: None,
    };
    save_deal(env, &deal)?;
    let mut opened = ev("deal_opened", &deal).attr("seller", deal.seller.to_string());
    for c in &deal.co_sellers {
        opened = opened.attr("co_seller", c.to_string());
    }
    if deal.share_sale {
        opened = opened.attr("share_sale", "true");
    }
    opened = opened
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

/// A seller's consent; once every seller has given it, the deal holds the parcel (until its
/// deadline at most).
fn accept(env: &Env, cfg: &Config, deal_id: u64) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    ensure!(
        deal.sellers().any(|s| s == env.sender),
        "unauthorized: only {} may accept deal {deal_id}",
        if deal.co_sellers.is_empty() {
            "the seller"
        } else {
            "a seller"
        }
    );
    if deal.status != Status::Proposed {
        return Err(not_in(&deal, "proposed"));
    }
    ensure!(
        !deal.accepted_by.contains(&env.sender),
        "already accepted by {}",
        env.sender
    );
    ensure_before_deadline(env, &deal)?;
    // The policy may have tightened since the proposal: check the bound when the parcel is
    // actually bound.
    ensure_deadline_within_policy(env, &ext::policy(cfg)?, deal.deadline)?;
    let owners = ensure_parcel_sellable(cfg, &deal.parcel_id, Sale::of(&deal))?;
    deal.accepted_by.push(env.sender);
    let all = deal.sellers().all(|s| deal.accepted_by.contains(&s));
    let mut expired = None;
    if all {
        expired = release_expired(env, &deal.parcel_id)?;
        deal.status = Status::Open;
        deal.accepted_height = Some(env.height);
        // The full-rate tax, quoted now that the sale binds: the buyer pays it into escrow
        // with the last payment, and settlement takes the relief (if any) off it.
        deal.tax_quote = ext::tax_quote(cfg, deal.price)?.filter(|q| !q.full_tax.is_zero());
        if deal.share_sale {
            deal.share_bps = owners
                .iter()
                .find(|o| o.owner == deal.seller)
                .map(|o| o.share_bps);
        }
        PENDING.save(&deal.parcel_id.as_str(), &deal_id)?;
    }
    save_deal(env, &deal)?;
    let mut r = Response::new();
    if let Some(e) = expired {
        r = r.event(e);
    }
    Ok(r.event(
        ev("deal_accepted", &deal)
            .attr("by", env.sender.to_string())
            .attr("status", deal.status.as_str()),
    ))
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
    save_deal(env, &deal)?;
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
        deal.sellers().any(|s| s == env.sender) || env.sender == deal.buyer,
        "unauthorized: only {} or the buyer may sign",
        if deal.co_sellers.is_empty() {
            "the seller"
        } else {
            "a seller"
        }
    );
    // A staged deal is signed when the deposit is paid (that is when a Korean sale contract is
    // concluded); any other deal once the whole price is in escrow.
    let staged_open =
        deal.status == Status::Open && deal.schedule.is_some() && !deal.payments.is_empty();
    if deal.status != Status::Funded && !staged_open {
        return Err(not_in(
            &deal,
            if deal.schedule.is_some() {
                "funded or paid its deposit"
            } else {
                "funded"
            },
        ));
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
    if deal.fully_signed() && deal.status == Status::Funded {
        deal.status = Status::Signed;
    }
    save_deal(env, &deal)?;
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
    let party =
        [deal.broker, deal.buyer].contains(&env.sender) || deal.sellers().any(|s| s == env.sender);
    if !party && !is_current_official(cfg, &policy, env.sender)? {
        bail!("unauthorized: only the broker, seller, buyer or a policy official may settle");
    }
    if deal.status != Status::Approved {
        return Err(not_in(&deal, "approved"));
    }
    ensure_before_deadline(env, &deal)?;
    let terms = deal.terms();
    ensure!(
        deal.signed_terms == Some(terms) && deal.fully_signed(),
        "deal {deal_id}'s signatures do not cover its terms ({terms}): {} must sign them",
        if deal.co_sellers.is_empty() {
            "both parties"
        } else {
            "every party"
        }
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
    let owners = &parcel.owners;
    let owned = |a: Address| owners.iter().find(|o| o.owner == a).map(|o| o.share_bps);
    if deal.share_sale {
        ensure!(
            owned(deal.seller).is_some() && deal.share_bps == owned(deal.seller),
            "seller {} no longer holds the share of parcel {} this deal sells",
            deal.seller,
            deal.parcel_id
        );
    } else {
        let same =
            owners.len() == deal.sellers().count() && deal.sellers().all(|s| owned(s).is_some());
        if deal.co_sellers.is_empty() {
            ensure!(
                same,
                "seller {} no longer solely owns parcel {}",
                deal.seller,
                deal.parcel_id
            );
        } else {
            ensure!(
                same,
                "the sellers no longer own parcel {} together: its owners changed since the \
                 deal was accepted",
                deal.parcel_id
            );
        }
    }

    // Active mortgages in rank order: senior liens are paid first, each exactly the debt its
    // bank stated (never the registered maximum), and only with a statement still valid: the
    // statement is the bank's consent to the discharge. A share sale pays none: a lien burdens
    // every share and stays on the parcel.
    let liens = if deal.share_sale {
        Vec::new()
    } else {
        payoffs(env, &deal, &parcel.encumbrances)?
    };
    let mut payoff = Amount::ZERO;
    for l in &liens {
        payoff = payoff.checked_add(l.amount).ok_or("lien total overflows")?;
    }
    let held = ext::escrow_held(cfg, deal_id)?;
    // The quoted tax is held apart from the price: it is not the sellers' money.
    let tax_held = deal.tax_due();
    let for_sale = held
        .checked_sub(tax_held)
        .ok_or_else(|| format!("escrow holds {held}, less than the tax quoted ({tax_held})"))?;
    if payoff > for_sale {
        if tax_held.is_zero() {
            bail!("payoff short: liens need {payoff}, escrow holds {held}");
        }
        bail!(
            "payoff short: liens need {payoff}, escrow holds {for_sale} toward the price (and \
             {tax_held} for the acquisition tax)"
        );
    }

    let mut events = Vec::new();
    for l in &liens {
        if !l.amount.is_zero() {
            ext::escrow_release(cfg, deal_id, l.holder, l.amount)?;
        }
        ext::discharge_lien(cfg, &deal.parcel_id, l.lien_id)?;
        events.push(
            ev("lien_paid_off", &deal)
                .attr("lien_id", l.lien_id.to_string())
                .attr("rank", l.rank.to_string())
                .attr("holder", l.holder.to_string())
                .attr("amount", l.amount.to_string())
                .attr("maximum", l.maximum.to_string()),
        );
    }
    let proceeds = for_sale
        .checked_sub(payoff)
        .ok_or("payoff exceeds escrow")?;
    for (to, share_bps, amount) in split_proceeds(&deal, owners, proceeds)? {
        if !amount.is_zero() {
            ext::escrow_release(cfg, deal_id, to, amount)?;
        }
        if !deal.co_sellers.is_empty() {
            events.push(
                ev("proceeds_paid", &deal)
                    .attr("to", to.to_string())
                    .attr("share_bps", share_bps.to_string())
                    .attr("amount", amount.to_string()),
            );
        }
    }
    if let Some(quote) = deal.tax_quote {
        let a = ext::assess_tax(cfg, &deal, quote)?;
        if !a.tax.is_zero() {
            ext::escrow_release(cfg, deal_id, a.municipality, a.tax)?;
        }
        if !a.relief.is_zero() {
            ext::escrow_release(cfg, deal_id, deal.buyer, a.relief)?;
        }
        deal.tax = Some(a);
    }
    if deal.share_sale {
        ext::transfer_share(cfg, &deal.parcel_id, deal.seller, deal.buyer)?;
    } else {
        ext::transfer_title(cfg, &deal.parcel_id, deal.buyer)?;
    }
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
    save_deal(env, &deal)?;
    let mut settled = ev("deal_settled", &deal)
        .attr("seller", deal.seller.to_string())
        .attr("buyer", deal.buyer.to_string())
        .attr("price", deal.price.to_string())
        .attr("payoff", payoff.to_string())
        .attr("proceeds", proceeds.to_string());
    if let Some(a) = &deal.tax {
        settled = settled
            .attr("tax", a.tax.to_string())
            .attr("tax_relief", a.relief.to_string())
            .attr("relief_status", a.relief_status.as_str());
    }
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

/// Who receives the proceeds, by share: `(seller, share_bps, amount)` for each seller in the
/// deal's order. A sole seller or a share sale: the seller takes everything. Co-owners selling
/// whole: each gets `proceeds × share_bps / 10000` rounded down, and the won left over by
/// rounding (fewer than one per co-owner) goes to the seller named first.
fn split_proceeds(
    deal: &Deal,
    owners: &[hanok_messages::registry::OwnerView],
    proceeds: Amount,
) -> Result<Vec<(Address, u32, Amount)>, ContractError> {
    if deal.co_sellers.is_empty() {
        let share = deal.share_bps.unwrap_or(FULL_SHARE_BPS);
        return Ok(alloc::vec![(deal.seller, share, proceeds)]);
    }
    let mut out = Vec::with_capacity(owners.len());
    let mut paid = Amount::ZERO;
    for s in deal.sellers() {
        let share = owners
            .iter()
            .find(|o| o.owner == s)
            .map(|o| o.share_bps)
            .ok_or_else(|| format!("seller {s} owns no share of parcel {}", deal.parcel_id))?;
        let amount = proceeds
            .0
            .checked_mul(u128::from(share))
            .and_then(|v| v.checked_div(u128::from(FULL_SHARE_BPS)))
            .ok_or("proceeds overflow")?;
        paid = paid
            .checked_add(Amount(amount))
            .ok_or("proceeds overflow")?;
        out.push((s, share, Amount(amount)));
    }
    let dust = proceeds
        .checked_sub(paid)
        .ok_or("shares exceed the whole")?;
    if let Some(first) = out.first_mut() {
        first.2 = first.2.checked_add(dust).ok_or("proceeds overflow")?;
    }
    Ok(out)
}

/// One lien a settlement pays off.
struct Payoff {
    rank: u64,
    lien_id: u64,
    holder: Address,
    /// What the bank's statement says is owed: what is paid.
    amount: Amount,
    /// The lien's registered maximum.
    maximum: Amount,
}

/// The active mortgage liens in rank order with the amount each bank's payoff statement asks.
/// Refuses, naming the bank, when a statement is missing, expired or above the registered
/// maximum. A seizure stops settlement before this; a lease stays with the parcel (the buyer
/// takes over the deposit) and is not paid off.
fn payoffs(
    env: &Env,
    deal: &Deal,
    encumbrances: &[hanok_messages::registry::EncumbranceView],
) -> Result<Vec<Payoff>, ContractError> {
    let mut liens = Vec::new();
    for e in encumbrances.iter().filter(|e| e.active) {
        let EncumbranceKindView::Mortgage {
            holder,
            amount: maximum,
            payoff,
        } = e.kind
        else {
            continue;
        };
        let Some(statement) = payoff else {
            bail!(
                "no payoff statement from bank {holder} for lien {} on parcel {}: the bank must \
                 file one (registry file_payoff) before settlement",
                e.id,
                deal.parcel_id
            );
        };
        ensure!(
            env.time <= statement.valid_until,
            "the payoff statement of bank {holder} for lien {} on parcel {} expired at {} \
             (block time {}): the bank must file a new one",
            e.id,
            deal.parcel_id,
            statement.valid_until,
            env.time
        );
        ensure!(
            statement.amount <= maximum,
            "the payoff statement of bank {holder} for lien {} asks {}, above the registered \
             maximum {maximum}",
            e.id,
            statement.amount
        );
        liens.push(Payoff {
            rank: e.rank,
            lien_id: e.id,
            holder,
            amount: statement.amount,
            maximum,
        });
    }
    liens.sort_by_key(|l| l.rank);
    Ok(liens)
}

/// The payments toward the price as the report lists them: the last one (the balance, or the
/// whole price at once) less the acquisition tax paid with it, which the report states apart.
fn reported_payments(deal: &Deal) -> Vec<ReportedPayment> {
    deal.payments
        .iter()
        .map(|p| ReportedPayment {
            stage: p.stage.as_str().into(),
            amount: if matches!(p.stage, Stage::Balance | Stage::Full) {
                p.amount.checked_sub(deal.tax_due()).unwrap_or(p.amount)
            } else {
                p.amount
            },
            height: p.height,
        })
        .collect()
}

/// A schedule's stages in order: (stage, amount, due) ([`Schedule::stages`]), refused when
/// they leave no positive balance.
fn stages(price: Amount, s: &Schedule) -> Result<Vec<(Stage, Amount, u64)>, ContractError> {
    s.stages(price).ok_or_else(|| UNBALANCED.into())
}

/// Why a schedule is refused when its stages do not add up.
const UNBALANCED: &str = "the deposit and the interim payment must leave a positive balance";

/// A schedule must add up and fall due in order, from now to the deadline.
fn check_schedule(
    env: &Env,
    price: Amount,
    deadline: u64,
    s: &Schedule,
) -> Result<(), ContractError> {
    ensure!(!s.deposit.is_zero(), "the deposit must be positive");
    ensure!(
        s.interim.is_some() == s.interim_due.is_some(),
        "give the interim payment and its due time together, or neither"
    );
    ensure!(
        s.interim.is_none_or(|a| !a.is_zero()),
        "the interim payment must be positive"
    );
    let staged = stages(price, s)?;
    let mut last = env.time;
    for (stage, _, due) in &staged {
        ensure!(
            *due >= last,
            "the {stage} falls due at {due}, before the block time or the stage ahead of it"
        );
        last = *due;
    }
    ensure!(
        s.balance_due <= deadline,
        "the balance falls due at {}, after the deal's deadline {deadline}",
        s.balance_due
    );
    Ok(())
}

/// The next unpaid stage of a staged deal and its amount and due time; `None` once paid in
/// full or for a deal without a schedule.
fn next_stage(deal: &Deal) -> Result<Option<(Stage, Amount, u64)>, ContractError> {
    if deal.schedule.is_none() {
        return Ok(None);
    }
    // The schedule's stages with the quoted tax in the balance; a schedule that does not add
    // up was refused at `open`.
    Ok(deal
        .stages()
        .ok_or(UNBALANCED)?
        .get(deal.payments.len())
        .copied())
}

/// The stage the buyer failed to pay in time, if any.
fn overdue(env: &Env, deal: &Deal) -> Option<(Stage, u64)> {
    match next_stage(deal) {
        Ok(Some((stage, _, due))) if env.time > due => Some((stage, due)),
        _ => None,
    }
}

/// Whether the earnest-money window is open: a staged deal whose deposit is paid and nothing
/// after it (the interim payment, or without one the balance, is what closes it).
fn earnest_window_open(deal: &Deal) -> bool {
    deal.schedule.is_some()
        && deal.status == Status::Open
        && matches!(deal.payments.as_slice(), [p] if p.stage == Stage::Deposit)
}

/// What the escrow holds for the deal, from the payments.
fn paid(deal: &Deal) -> Result<Amount, ContractError> {
    let mut total = Amount::ZERO;
    for p in &deal.payments {
        total = total.checked_add(p.amount).ok_or("payments overflow")?;
    }
    Ok(total)
}

/// The escrow reports a payment by the buyer.
fn funded(
    env: &Env,
    deal_id: u64,
    funder: Address,
    amount: Amount,
) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    if deal.status != Status::Open {
        return Err(not_in(&deal, "open"));
    }
    ensure_before_deadline(env, &deal)?;
    ensure!(
        funder == deal.buyer,
        "only the buyer may fund deal {deal_id}"
    );
    let stage = match next_stage(&deal)? {
        None if deal.schedule.is_none() => {
            let due = deal.total_due().ok_or("the price and the tax overflow")?;
            if deal.tax_quote.is_some() {
                ensure!(
                    amount == due,
                    "deal {deal_id} needs exactly {due} (the price {} and the acquisition tax \
                     {}), got {amount}",
                    deal.price,
                    deal.tax_due()
                );
            } else {
                ensure!(
                    amount == due,
                    "deal {deal_id} needs exactly {due}, got {amount}"
                );
            }
            deal.status = Status::Funded;
            Stage::Full
        }
        None => bail!("deal {deal_id} is already paid in full"),
        Some((stage, expected, due)) => {
            ensure!(
                env.time <= due,
                "deal {deal_id}'s {stage} was due at {due} (block time {}): the buyer is in \
                 default, and claim_default ends the deal",
                env.time
            );
            ensure!(
                amount == expected,
                "deal {deal_id}'s {stage} is exactly {expected}, got {amount}"
            );
            if stage == Stage::Balance {
                deal.status = if deal.fully_signed() {
                    Status::Signed
                } else {
                    Status::Funded
                };
            }
            stage
        }
    };
    deal.payments.push(Payment {
        stage,
        amount,
        height: env.height,
        time: env.time,
    });
    if deal.funded_height.is_none() {
        deal.funded_height = Some(env.height);
    }
    save_deal(env, &deal)?;
    Ok(Response::new().event(
        ev("deal_funded", &deal)
            .attr("amount", amount.to_string())
            .attr("stage", stage.as_str())
            .attr("status", deal.status.as_str()),
    ))
}

/// Pays `amount` from the escrow to the sellers, split by share as the settlement splits the
/// proceeds.
fn pay_sellers(cfg: &Config, deal: &Deal, amount: Amount) -> Result<(), ContractError> {
    let owners = if deal.co_sellers.is_empty() {
        Vec::new()
    } else {
        ext::parcel(cfg, &deal.parcel_id)?.owners
    };
    for (to, _, a) in split_proceeds(deal, &owners, amount)? {
        if !a.is_zero() {
            ext::escrow_release(cfg, deal.deal_id, to, a)?;
        }
    }
    Ok(())
}

/// Ends a deal after money was paid, recording who ended it, how, and where the money went.
fn cancelled(
    env: &Env,
    deal: &mut Deal,
    (kind, by): (CancelKind, Address),
    (to_sellers, to_buyer): (Amount, Amount),
) -> Result<Response, ContractError> {
    deal.status = Status::Cancelled;
    deal.cancellation = Some(Cancellation {
        kind,
        by,
        to_sellers,
        to_buyer,
        height: env.height,
    });
    save_deal(env, deal)?;
    Ok(Response::new().event(
        ev("deal_cancelled", deal)
            .attr("by", by.to_string())
            .attr("kind", kind.as_str())
            .attr("to_sellers", to_sellers.to_string())
            .attr("to_buyer", to_buyer.to_string()),
    ))
}

/// The buyer walks away before the interim payment: the deposit goes to the seller.
fn buyer_withdraws(env: &Env, cfg: &Config, deal_id: u64) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    ensure!(
        env.sender == deal.buyer,
        "unauthorized: only the buyer may withdraw from deal {deal_id} (a seller withdraws by \
         paying in the deposit through the escrow)"
    );
    ensure!(
        earnest_window_open(&deal),
        "deal {deal_id} cannot be withdrawn from: only a staged deal whose deposit, and nothing \
         after it, is paid (after the interim payment it ends only by agree_cancel or \
         claim_default)"
    );
    let deposit = paid(&deal)?;
    pay_sellers(cfg, &deal, deposit)?;
    cancelled(
        env,
        &mut deal,
        (CancelKind::BuyerWithdrew, env.sender),
        (deposit, Amount::ZERO),
    )
}

/// A seller walks away before the interim payment, having paid in as much again as the
/// deposit: the escrow holds both for the buyer, who takes them with `refund`.
fn seller_withdrew(
    env: &Env,
    deal_id: u64,
    seller: Address,
    amount: Amount,
) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    ensure!(
        deal.sellers().any(|s| s == seller),
        "only a seller of deal {deal_id} may withdraw from it this way"
    );
    ensure!(
        earnest_window_open(&deal),
        "deal {deal_id} cannot be withdrawn from: only a staged deal whose deposit, and nothing \
         after it, is paid"
    );
    let deposit = paid(&deal)?;
    ensure!(
        amount == deposit,
        "to withdraw from deal {deal_id} the seller pays in exactly the deposit, {deposit}, \
         got {amount}: the buyer receives it doubled"
    );
    let doubled = deposit.checked_add(amount).ok_or("overflow")?;
    // The seller withdrew, not the escrow that reported it.
    cancelled(
        env,
        &mut deal,
        (CancelKind::SellerWithdrew, seller),
        (Amount::ZERO, doubled),
    )
}

/// Every party agrees to end the deal: everything paid goes back to the buyer.
fn agree_cancel(env: &Env, cfg: &Config, deal_id: u64) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    let party = env.sender == deal.buyer || deal.sellers().any(|s| s == env.sender);
    ensure!(
        party,
        "unauthorized: only the buyer or a seller may agree to cancel deal {deal_id}"
    );
    ensure!(
        deal.status.holds_parcel() && !deal.payments.is_empty(),
        "deal {deal_id} is {} with nothing paid: cancel it instead",
        deal.status.as_str()
    );
    ensure!(
        !deal.cancel_consents.contains(&env.sender),
        "{} already agreed to cancel deal {deal_id}",
        env.sender
    );
    deal.cancel_consents.push(env.sender);
    let all = deal
        .sellers()
        .chain(core::iter::once(deal.buyer))
        .all(|a| deal.cancel_consents.contains(&a));
    if !all {
        save_deal(env, &deal)?;
        return Ok(Response::new().event(
            ev("cancel_agreed", &deal)
                .attr("by", env.sender.to_string())
                .attr("agreed", deal.cancel_consents.len().to_string()),
        ));
    }
    let back = paid(&deal)?;
    ext::escrow_refund(cfg, deal_id)?;
    cancelled(
        env,
        &mut deal,
        (CancelKind::Mutual, env.sender),
        (Amount::ZERO, back),
    )
}

/// The buyer missed a payment: the deposit goes to the seller as the penalty, the rest back
/// to the buyer.
fn claim_default(env: &Env, cfg: &Config, deal_id: u64) -> Result<Response, ContractError> {
    let mut deal = load_deal(deal_id)?;
    let party =
        [deal.broker, deal.buyer].contains(&env.sender) || deal.sellers().any(|s| s == env.sender);
    ensure!(
        party,
        "unauthorized: only the broker, a seller or the buyer may claim a default"
    );
    ensure!(
        deal.status == Status::Open,
        "deal {deal_id} is {}: only a deal still being paid for can be in default",
        deal.status.as_str()
    );
    let Some((stage, due)) = overdue(env, &deal) else {
        bail!("no payment of deal {deal_id} is overdue");
    };
    let total = paid(&deal)?;
    let penalty = deal.schedule.map_or(Amount::ZERO, |s| s.deposit).min(total);
    let back = total
        .checked_sub(penalty)
        .ok_or("penalty exceeds payments")?;
    if !penalty.is_zero() {
        pay_sellers(cfg, &deal, penalty)?;
    }
    if !back.is_zero() {
        ext::escrow_refund(cfg, deal_id)?;
    }
    let r = cancelled(
        env,
        &mut deal,
        (CancelKind::BuyerDefault, env.sender),
        (penalty, back),
    )?;
    Ok(r.event(
        ev("buyer_defaulted", &deal)
            .attr("stage", stage.as_str())
            .attr("due", due.to_string()),
    ))
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
        QueryMsg::Report { deal_id } => to_json(&REPORTS.may_load(&deal_id)?.ok_or_else(|| {
            ContractError::new(format!(
                "no transaction report for deal {deal_id}: its contract was never concluded \
                 (both parties must sign)"
            ))
        })?),
        QueryMsg::Reports { start_after, limit } => {
            let limit = limit
                .unwrap_or(AWAITING_DEFAULT_LIMIT)
                .min(AWAITING_MAX_LIMIT);
            let page: Vec<(u64, TransactionReport)> = REPORTS.range(start_after.as_ref(), limit)?;
            to_json(&ReportsResponse {
                reports: page.into_iter().map(|(_, r)| r).collect(),
            })
        }
    }
}

entry_points!(instantiate, execute, query);

// Test arithmetic on known small amounts (balances adding up) may panic on overflow: that is
// a failed test, not a contract fault.
#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests;
