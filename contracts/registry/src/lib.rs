//! `hanok-registry`: the land register — parcels, their owners and their encumbrances.
//!
//! A parcel is registered by an official with its owners (shares in basis points summing to
//! 10000). Encumbrances are numbered by *rank* in the order they are recorded, as in the Korean
//! register: mortgage liens (recorded by an official, or by the deal contract at settlement;
//! the holder must be an enrolled bank; the amount is the registered maximum, and the holder
//! bank files a payoff statement, the debt on the day, before a sale pays it off), registered
//! leases (official only; the tenant's deposit and term; a sale keeps them) and court seizures
//! (official only). A parcel with an active seizure is *frozen*: its title cannot be
//! transferred. Only the deal contract transfers
//! titles and shares (`transfer_title` for a whole parcel, `transfer_share` for one co-owner's
//! share). Every change appends a history entry. The approval policy (m of n officials, and how
//! far ahead a deal's deadline may lie) that the deal contract applies lives here and is set by
//! the authority.
//!
//! The parcel record carries only its *active* encumbrances, at most [`MAX_ENCUMBRANCES`]; a
//! discharged lien or lifted seizure moves to the parcel's past encumbrances, a paged list with
//! no cap, so a parcel's past never stops it taking a new mortgage or a court seizure.
//!
//! # Messages
//! - instantiate [`InstantiateMsg`] `{identity, deal, policy: {threshold, officials}}`
//! - execute [`ExecuteMsg`]: `register_parcel`, `record_lien`, `file_payoff`, `discharge_lien`,
//!   `record_lease`, `discharge_lease`, `freeze`, `unfreeze`, `transfer_title`,
//!   `transfer_share`, `set_policy`
//!   (see each variant for who may send it)
//! - query [`QueryMsg`]: `parcel {parcel_id}` → [`Parcel`]; `history {parcel_id, start_after,
//!   limit}` → [`HistoryResponse`]; `past_encumbrances {parcel_id, start_after, limit}` →
//!   [`PastEncumbrancesResponse`]; `policy` → [`Policy`]
//!
//! Events: `parcel_registered`, `lien_recorded`, `payoff_filed`, `lien_discharged`,
//! `lease_recorded`, `lease_discharged`, `title_frozen`, `title_unfrozen`, `title_transferred`,
//! `share_transferred`, `policy_set`.
//! Storage: `config`; `policy`; `parcels`: parcel id → [`Parcel`] (active encumbrances inline);
//! `history`: (parcel id, seq) → [`HistoryEntry`]; `past_encumbrances`: (parcel id, id) →
//! [`Encumbrance`] (inactive).
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(test)]
extern crate std;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hanok_sdk::{
    bail, ensure, entry_points, has_role, roles, to_json, Address, Amount, ContractError, Env,
    Event, Item, Map, Response, Role,
};
use serde::{Deserialize, Serialize};

/// The messages, answers, records and limits live in `hanok-messages` (one definition for the
/// contract, its callers and clients); re-exported so `hanok_registry::Parcel` keeps working.
pub use hanok_messages::registry::*;

#[derive(Serialize, Deserialize)]
struct Config {
    identity: Address,
    deal: Address,
}

const CONFIG: Item<Config> = Item::new("config");
const POLICY: Item<Policy> = Item::new("policy");
// Title proofs prove the value under this map's key (`parcel_key`), so its namespace is part of
// the interface.
const PARCELS: Map<&str, Parcel> = Map::new(PARCELS_NAMESPACE);
const HISTORY: Map<(&str, u64), HistoryEntry> = Map::new("history");
const PAST: Map<(&str, u64), Encumbrance> = Map::new("past_encumbrances");

fn require_official(cfg: &Config, who: Address, what: &str) -> Result<(), ContractError> {
    ensure!(
        has_role(&cfg.identity, who, Role::Official)?,
        "unauthorized: only an official may {what}"
    );
    Ok(())
}

fn check_policy(policy: &Policy) -> Result<(), ContractError> {
    let n = policy.officials.len();
    ensure!(
        n <= MAX_OFFICIALS,
        "policy: at most {MAX_OFFICIALS} officials"
    );
    let t = usize::try_from(policy.threshold).unwrap_or(usize::MAX);
    ensure!(
        t >= 1 && t <= n,
        "policy: threshold must be between 1 and {n}"
    );
    ensure!(
        (1..=MAX_MAX_DEAL_SECS).contains(&policy.max_deal_secs),
        "policy: max_deal_secs must be between 1 and {MAX_MAX_DEAL_SECS}"
    );
    for (i, a) in policy.officials.iter().enumerate() {
        if policy
            .officials
            .iter()
            .skip(i.saturating_add(1))
            .any(|b| b == a)
        {
            bail!("policy: official {a} listed twice");
        }
    }
    Ok(())
}

fn load_parcel(parcel_id: &str) -> Result<Parcel, ContractError> {
    PARCELS
        .may_load(&parcel_id)?
        .ok_or_else(|| format!("parcel {parcel_id} not found").into())
}

/// Saves the parcel after appending a history entry.
fn record(
    env: &Env,
    parcel: &mut Parcel,
    action: Action,
    detail: String,
) -> Result<(), ContractError> {
    let seq = parcel
        .history_len
        .checked_add(1)
        .ok_or("history overflow")?;
    parcel.history_len = seq;
    let entry = HistoryEntry {
        seq,
        height: env.height,
        time: env.time,
        action,
        detail,
    };
    HISTORY.save(&(parcel.parcel_id.as_str(), seq), &entry)?;
    PARCELS.save(&parcel.parcel_id.as_str(), parcel)
}

/// Takes the next rank for a new encumbrance. Only active encumbrances count toward the cap:
/// a parcel mortgaged and paid off many times must still take a new mortgage or a seizure.
fn next_rank(parcel: &mut Parcel) -> Result<u64, ContractError> {
    ensure!(
        parcel.encumbrances.len() < MAX_ENCUMBRANCES,
        "parcel {} already has {MAX_ENCUMBRANCES} active encumbrances",
        parcel.parcel_id
    );
    let rank = parcel.last_rank.checked_add(1).ok_or("rank overflow")?;
    parcel.last_rank = rank;
    Ok(rank)
}

/// Takes the active encumbrance at `index` off the parcel, marks it ended at this height and
/// files it in the parcel's past encumbrances (the caller has checked it is the right kind).
fn retire(env: &Env, parcel: &mut Parcel, index: usize) -> Result<Encumbrance, ContractError> {
    let mut e = parcel.encumbrances.remove(index);
    e.active = false;
    e.ended_height = Some(env.height);
    PAST.save(&(parcel.parcel_id.as_str(), e.id), &e)?;
    parcel.past_encumbrances = parcel
        .past_encumbrances
        .checked_add(1)
        .ok_or("past encumbrances overflow")?;
    Ok(e)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn instantiate(_env: &Env, msg: InstantiateMsg) -> Result<Response, ContractError> {
    check_policy(&msg.policy)?;
    CONFIG.save(&Config {
        identity: msg.identity,
        deal: msg.deal,
    })?;
    POLICY.save(&msg.policy)?;
    Ok(Response::new())
}

fn execute(env: &Env, msg: ExecuteMsg) -> Result<Response, ContractError> {
    let cfg = CONFIG.load()?;
    match msg {
        ExecuteMsg::RegisterParcel {
            parcel_id,
            lot_number,
            address,
            area_m2_hundredths,
            land_use,
            owners,
        } => {
            require_official(&cfg, env.sender, "register a parcel")?;
            ensure!(
                !parcel_id.is_empty() && parcel_id.len() <= 64,
                "parcel_id must be 1 to 64 bytes"
            );
            ensure!(
                lot_number.len() <= 64,
                "lot_number must be at most 64 bytes"
            );
            ensure!(address.len() <= 256, "address must be at most 256 bytes");
            ensure!(area_m2_hundredths > 0, "area must be positive");
            ensure!(
                !PARCELS.has(&parcel_id.as_str()),
                "parcel {parcel_id} already registered"
            );
            ensure!(
                !owners.is_empty() && owners.len() <= MAX_OWNERS,
                "a parcel needs 1 to {MAX_OWNERS} owners"
            );
            let mut total: u32 = 0;
            for (i, o) in owners.iter().enumerate() {
                ensure!(o.share_bps > 0, "owner {} has a zero share", o.owner);
                if owners
                    .iter()
                    .skip(i.saturating_add(1))
                    .any(|p| p.owner == o.owner)
                {
                    bail!("owner {} listed twice", o.owner);
                }
                total = total.checked_add(o.share_bps).ok_or("shares overflow")?;
            }
            ensure!(
                total == FULL_SHARE_BPS,
                "owner shares must sum to 10000 bps, got {total}"
            );
            let mut parcel = Parcel {
                parcel_id,
                lot_number,
                address,
                area_m2_hundredths,
                land_use,
                owners,
                encumbrances: Vec::new(),
                frozen: false,
                registered_height: env.height,
                history_len: 0,
                last_rank: 0,
                past_encumbrances: 0,
            };
            let owners_text = parcel
                .owners
                .iter()
                .map(|o| format!("{}:{}", o.owner, o.share_bps))
                .collect::<Vec<_>>()
                .join(",");
            record(
                env,
                &mut parcel,
                Action::Registered,
                format!("owners {owners_text}"),
            )?;
            Ok(Response::new().event(
                Event::new("parcel_registered")
                    .attr("parcel_id", parcel.parcel_id)
                    .attr("owners", owners_text),
            ))
        }
        ExecuteMsg::RecordLien {
            parcel_id,
            holder,
            amount,
        } => {
            if env.sender != cfg.deal {
                require_official(&cfg, env.sender, "record a lien")?;
            }
            ensure!(!amount.is_zero(), "lien amount must be positive");
            ensure!(
                has_role(&cfg.identity, holder, Role::Bank)?,
                "lien holder {holder} is not an enrolled bank"
            );
            let mut parcel = load_parcel(&parcel_id)?;
            let rank = next_rank(&mut parcel)?;
            parcel.encumbrances.push(Encumbrance {
                id: rank,
                rank,
                kind: EncumbranceKind::Mortgage {
                    holder,
                    amount,
                    payoff: None,
                },
                active: true,
                recorded_height: env.height,
                ended_height: None,
            });
            record(
                env,
                &mut parcel,
                Action::LienRecorded,
                format!("lien {rank} holder {holder} amount {amount}"),
            )?;
            Response::new()
                .event(
                    Event::new("lien_recorded")
                        .attr("parcel_id", parcel_id)
                        .attr("lien_id", rank.to_string())
                        .attr("rank", rank.to_string())
                        .attr("holder", holder.to_string())
                        .attr("amount", amount.to_string()),
                )
                .json(&LienResponse { lien_id: rank })
        }
        ExecuteMsg::FilePayoff {
            parcel_id,
            lien_id,
            amount,
            valid_until,
        } => file_payoff(env, &cfg, &parcel_id, lien_id, amount, valid_until),
        ExecuteMsg::DischargeLien { parcel_id, lien_id } => {
            let mut parcel = load_parcel(&parcel_id)?;
            let (index, (holder, amount)) = active(&parcel, lien_id, "lien", lien)?;
            if env.sender != holder && env.sender != cfg.deal {
                require_official(&cfg, env.sender, "discharge a lien (or its holder bank)")?;
            }
            retire(env, &mut parcel, index)?;
            record(
                env,
                &mut parcel,
                Action::LienDischarged,
                format!("lien {lien_id} holder {holder} amount {amount}"),
            )?;
            Ok(Response::new().event(
                Event::new("lien_discharged")
                    .attr("parcel_id", parcel_id)
                    .attr("lien_id", lien_id.to_string())
                    .attr("holder", holder.to_string()),
            ))
        }
        ExecuteMsg::RecordLease {
            parcel_id,
            tenant,
            deposit,
            term_start,
            term_end,
        } => {
            require_official(&cfg, env.sender, "record a lease")?;
            ensure!(!deposit.is_zero(), "lease deposit must be positive");
            ensure!(
                term_end > term_start,
                "lease term must end after it starts (term_start {term_start}, term_end {term_end})"
            );
            ensure!(
                roles(&cfg.identity, tenant)?.enrolled,
                "tenant {tenant} is not enrolled"
            );
            let mut parcel = load_parcel(&parcel_id)?;
            let rank = next_rank(&mut parcel)?;
            parcel.encumbrances.push(Encumbrance {
                id: rank,
                rank,
                kind: EncumbranceKind::Lease {
                    tenant,
                    deposit,
                    term_start,
                    term_end,
                },
                active: true,
                recorded_height: env.height,
                ended_height: None,
            });
            record(
                env,
                &mut parcel,
                Action::LeaseRecorded,
                format!(
                    "lease {rank} tenant {tenant} deposit {deposit} term {term_start}..{term_end}"
                ),
            )?;
            Response::new()
                .event(
                    Event::new("lease_recorded")
                        .attr("parcel_id", parcel_id)
                        .attr("lease_id", rank.to_string())
                        .attr("rank", rank.to_string())
                        .attr("tenant", tenant.to_string())
                        .attr("deposit", deposit.to_string())
                        .attr("term_start", term_start.to_string())
                        .attr("term_end", term_end.to_string()),
                )
                .json(&LeaseResponse { lease_id: rank })
        }
        ExecuteMsg::DischargeLease {
            parcel_id,
            lease_id,
        } => {
            let mut parcel = load_parcel(&parcel_id)?;
            let (index, (tenant, deposit)) = active(&parcel, lease_id, "lease", |k| match k {
                EncumbranceKind::Lease {
                    tenant, deposit, ..
                } => Some((*tenant, *deposit)),
                _ => None,
            })?;
            if env.sender != tenant {
                require_official(&cfg, env.sender, "discharge a lease (or its tenant)")?;
            }
            retire(env, &mut parcel, index)?;
            record(
                env,
                &mut parcel,
                Action::LeaseDischarged,
                format!("lease {lease_id} tenant {tenant} deposit {deposit}"),
            )?;
            Ok(Response::new().event(
                Event::new("lease_discharged")
                    .attr("parcel_id", parcel_id)
                    .attr("lease_id", lease_id.to_string())
                    .attr("tenant", tenant.to_string()),
            ))
        }
        ExecuteMsg::Freeze {
            parcel_id,
            court_order_hash,
        } => {
            require_official(&cfg, env.sender, "freeze a title")?;
            ensure!(
                is_hex64(&court_order_hash),
                "court_order_hash must be 64 hex digits"
            );
            let mut parcel = load_parcel(&parcel_id)?;
            let rank = next_rank(&mut parcel)?;
            parcel.encumbrances.push(Encumbrance {
                id: rank,
                rank,
                kind: EncumbranceKind::Seizure {
                    court_order_hash: court_order_hash.clone(),
                },
                active: true,
                recorded_height: env.height,
                ended_height: None,
            });
            parcel.frozen = true;
            record(
                env,
                &mut parcel,
                Action::Frozen,
                format!("seizure {rank} order {court_order_hash}"),
            )?;
            Response::new()
                .event(
                    Event::new("title_frozen")
                        .attr("parcel_id", parcel_id)
                        .attr("seizure_id", rank.to_string())
                        .attr("court_order_hash", court_order_hash),
                )
                .json(&SeizureResponse { seizure_id: rank })
        }
        ExecuteMsg::Unfreeze {
            parcel_id,
            seizure_id,
        } => {
            require_official(&cfg, env.sender, "unfreeze a title")?;
            let mut parcel = load_parcel(&parcel_id)?;
            let is_seizure = |e: &Encumbrance| {
                e.id == seizure_id && matches!(e.kind, EncumbranceKind::Seizure { .. })
            };
            let Some(index) = parcel.encumbrances.iter().position(is_seizure) else {
                let past = PAST.may_load(&(parcel_id.as_str(), seizure_id))?;
                ensure!(
                    !past.as_ref().is_some_and(is_seizure),
                    "seizure {seizure_id} on parcel {parcel_id} is already lifted"
                );
                bail!("seizure {seizure_id} not found on parcel {parcel_id}");
            };
            retire(env, &mut parcel, index)?;
            parcel.frozen = parcel
                .encumbrances
                .iter()
                .any(|e| e.active && matches!(e.kind, EncumbranceKind::Seizure { .. }));
            record(
                env,
                &mut parcel,
                Action::Unfrozen,
                format!("seizure {seizure_id} lifted"),
            )?;
            Ok(Response::new().event(
                Event::new("title_unfrozen")
                    .attr("parcel_id", parcel_id)
                    .attr("seizure_id", seizure_id.to_string())
                    .attr("frozen", if parcel.frozen { "true" } else { "false" }),
            ))
        }
        ExecuteMsg::TransferTitle { parcel_id, to } => {
            ensure!(
                env.sender == cfg.deal,
                "unauthorized: only the deal contract may transfer a title"
            );
            let mut parcel = load_parcel(&parcel_id)?;
            ensure!(!parcel.frozen, "title frozen by a court seizure");
            let from = parcel
                .owners
                .iter()
                .map(|o| o.owner.to_string())
                .collect::<Vec<_>>()
                .join(",");
            parcel.owners = alloc::vec![Owner {
                owner: to,
                share_bps: FULL_SHARE_BPS
            }];
            record(
                env,
                &mut parcel,
                Action::TitleTransferred,
                format!("from {from} to {to}"),
            )?;
            Ok(Response::new().event(
                Event::new("title_transferred")
                    .attr("parcel_id", parcel_id)
                    .attr("from", from)
                    .attr("to", to.to_string()),
            ))
        }
        ExecuteMsg::TransferShare {
            parcel_id,
            from,
            to,
        } => {
            ensure!(
                env.sender == cfg.deal,
                "unauthorized: only the deal contract may transfer a share"
            );
            let mut parcel = load_parcel(&parcel_id)?;
            ensure!(!parcel.frozen, "title frozen by a court seizure");
            let index = parcel
                .owners
                .iter()
                .position(|o| o.owner == from)
                .ok_or_else(|| format!("{from} owns no share of parcel {parcel_id}"))?;
            let moved = parcel.owners[index].share_bps;
            if let Some(existing) = parcel.owners.iter_mut().find(|o| o.owner == to) {
                existing.share_bps = existing
                    .share_bps
                    .checked_add(moved)
                    .ok_or("share overflow")?;
                parcel.owners.remove(index);
            } else {
                parcel.owners[index].owner = to;
            }
            record(
                env,
                &mut parcel,
                Action::ShareTransferred,
                format!("share {moved} bps from {from} to {to}"),
            )?;
            Ok(Response::new().event(
                Event::new("share_transferred")
                    .attr("parcel_id", parcel_id)
                    .attr("from", from.to_string())
                    .attr("to", to.to_string())
                    .attr("share_bps", moved.to_string()),
            ))
        }
        ExecuteMsg::SetPolicy {
            threshold,
            officials,
            max_deal_secs,
        } => {
            ensure!(
                has_role(&cfg.identity, env.sender, Role::Authority)?,
                "unauthorized: only the authority may set the policy"
            );
            let policy = Policy {
                threshold,
                officials,
                max_deal_secs,
            };
            check_policy(&policy)?;
            for o in &policy.officials {
                ensure!(
                    has_role(&cfg.identity, *o, Role::Official)?,
                    "policy: {o} is not an enrolled official"
                );
            }
            POLICY.save(&policy)?;
            Ok(Response::new().event(
                Event::new("policy_set")
                    .attr("threshold", threshold.to_string())
                    .attr("officials", policy.officials.len().to_string())
                    .attr("max_deal_secs", max_deal_secs.to_string()),
            ))
        }
    }
}

/// The active encumbrance `id` of `parcel` if `pick` recognises its kind (a lien, a lease),
/// with what `pick` takes from it; otherwise the refusal a `noun` message gets: `not a
/// {noun}`, `{noun} N on parcel P is already discharged` (found among the past ones) or `not
/// found`.
fn active<T>(
    parcel: &Parcel,
    id: u64,
    noun: &str,
    pick: impl Fn(&EncumbranceKind) -> Option<T>,
) -> Result<(usize, T), ContractError> {
    let pid = parcel.parcel_id.as_str();
    if let Some(index) = parcel.encumbrances.iter().position(|e| e.id == id) {
        let Some(picked) = pick(&parcel.encumbrances[index].kind) else {
            bail!("encumbrance {id} on parcel {pid} is not a {noun}");
        };
        return Ok((index, picked));
    }
    match PAST.may_load(&(pid, id))? {
        Some(e) if pick(&e.kind).is_some() => {
            bail!("{noun} {id} on parcel {pid} is already discharged")
        }
        Some(_) => bail!("encumbrance {id} on parcel {pid} is not a {noun}"),
        None => bail!("{noun} {id} not found on parcel {pid}"),
    }
}

/// A mortgage's holder and registered maximum.
fn lien(kind: &EncumbranceKind) -> Option<(Address, Amount)> {
    match kind {
        EncumbranceKind::Mortgage { holder, amount, .. } => Some((*holder, *amount)),
        _ => None,
    }
}

/// The holder bank states the debt on the day and consents to the discharge once it is paid.
fn file_payoff(
    env: &Env,
    cfg: &Config,
    parcel_id: &str,
    lien_id: u64,
    amount: Amount,
    valid_until: u64,
) -> Result<Response, ContractError> {
    let mut parcel = load_parcel(parcel_id)?;
    let (index, (holder, maximum)) = active(&parcel, lien_id, "lien", lien)?;
    ensure!(
        env.sender == holder,
        "unauthorized: only the lien's holder bank {holder} may file its payoff statement"
    );
    ensure!(
        has_role(&cfg.identity, holder, Role::Bank)?,
        "unauthorized: {holder} is no longer an enrolled bank"
    );
    ensure!(
        amount <= maximum,
        "payoff {amount} exceeds lien {lien_id}'s registered maximum {maximum}"
    );
    ensure!(
        valid_until > env.time,
        "valid_until {valid_until} is not after the block time {}: a payoff statement must \
         hold for some time ahead",
        env.time
    );
    if let EncumbranceKind::Mortgage { payoff, .. } = &mut parcel.encumbrances[index].kind {
        *payoff = Some(PayoffStatement {
            amount,
            valid_until,
            filed_height: env.height,
        });
    }
    record(
        env,
        &mut parcel,
        Action::PayoffFiled,
        format!("lien {lien_id} holder {holder} payoff {amount} valid until {valid_until}"),
    )?;
    Ok(Response::new().event(
        Event::new("payoff_filed")
            .attr("parcel_id", parcel_id)
            .attr("lien_id", lien_id.to_string())
            .attr("holder", holder.to_string())
            .attr("amount", amount.to_string())
            .attr("maximum", maximum.to_string())
            .attr("valid_until", valid_until.to_string()),
    ))
}

fn query(_env: &Env, msg: QueryMsg) -> Result<Vec<u8>, ContractError> {
    match msg {
        QueryMsg::Parcel { parcel_id } => to_json(&load_parcel(&parcel_id)?),
        QueryMsg::History {
            parcel_id,
            start_after,
            limit,
        } => {
            ensure!(
                PARCELS.has(&parcel_id.as_str()),
                "parcel {parcel_id} not found"
            );
            let limit = limit
                .unwrap_or(DEFAULT_HISTORY_LIMIT)
                .min(MAX_HISTORY_LIMIT);
            let page: Vec<(u64, HistoryEntry)> =
                HISTORY.prefix_range(&parcel_id.as_str(), start_after.as_ref(), limit)?;
            to_json(&HistoryResponse {
                entries: page.into_iter().map(|(_, e)| e).collect(),
            })
        }
        QueryMsg::PastEncumbrances {
            parcel_id,
            start_after,
            limit,
        } => {
            ensure!(
                PARCELS.has(&parcel_id.as_str()),
                "parcel {parcel_id} not found"
            );
            let limit = limit
                .unwrap_or(DEFAULT_HISTORY_LIMIT)
                .min(MAX_HISTORY_LIMIT);
            let page: Vec<(u64, Encumbrance)> =
                PAST.prefix_range(&parcel_id.as_str(), start_after.as_ref(), limit)?;
            to_json(&PastEncumbrancesResponse {
                encumbrances: page.into_iter().map(|(_, e)| e).collect(),
            })
        }
        QueryMsg::Policy {} => to_json(&POLICY.load()?),
    }
}

entry_points!(instantiate, execute, query);

#[cfg(test)]
mod tests;
