//! `hanok-registry`: the land register — parcels, their owners and their encumbrances.
//!
//! A parcel is registered by an official with its owners (shares in basis points summing to
//! 10000). Encumbrances are numbered by *rank* in the order they are recorded, as in the Korean
//! register: mortgage liens (recorded by an official, or by the deal contract at settlement;
//! the holder must be an enrolled bank) and court seizures (official only). A parcel with an
//! active seizure is *frozen*: its title cannot be transferred. Only the deal contract transfers
//! titles. Every change appends a history entry. The approval policy (m of n officials, and how
//! far ahead a deal's deadline may lie) that the deal contract applies lives here and is set by
//! the authority.
//!
//! The parcel record carries only its *active* encumbrances, at most [`MAX_ENCUMBRANCES`]; a
//! discharged lien or lifted seizure moves to the parcel's past encumbrances, a paged list with
//! no cap, so a parcel's past never stops it taking a new mortgage or a court seizure.
//!
//! # Messages
//! - instantiate [`InstantiateMsg`] `{identity, deal, policy: {threshold, officials}}`
//! - execute [`ExecuteMsg`]: `register_parcel`, `record_lien`, `discharge_lien`, `freeze`,
//!   `unfreeze`, `transfer_title`, `set_policy` (see each variant for who may send it)
//! - query [`QueryMsg`]: `parcel {parcel_id}` → [`Parcel`]; `history {parcel_id, start_after,
//!   limit}` → [`HistoryResponse`]; `past_encumbrances {parcel_id, start_after, limit}` →
//!   [`PastEncumbrancesResponse`]; `policy` → [`Policy`]
//!
//! Events: `parcel_registered`, `lien_recorded`, `lien_discharged`, `title_frozen`,
//! `title_unfrozen`, `title_transferred`, `policy_set`.
//! Storage: `config`; `policy`; `parcels`: parcel id → [`Parcel`] (active encumbrances inline);
//! `history`: (parcel id, seq) → [`HistoryEntry`]; `past_encumbrances`: (parcel id, id) →
//! [`Encumbrance`] (inactive).
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(any(test, feature = "schema"))]
extern crate std;
// schemars' derive output names `Box`, `ToOwned` and `vec!` unqualified, as in std.
#[cfg(feature = "schema")]
#[allow(unused_imports, reason = "used by the schemars derive output")]
use std::{borrow::ToOwned, boxed::Box, vec};

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hanok_sdk::{
    bail, ensure, entry_points, query as query_contract, to_json, Address, Amount, ContractError,
    Env, Event, Item, Map, Response,
};
use serde::{Deserialize, Serialize};

/// Total of the owners' shares, in basis points.
pub const FULL_SHARE_BPS: u32 = 10_000;
/// Most owners a parcel may have.
pub const MAX_OWNERS: usize = 16;
/// Most *active* encumbrances a parcel may carry; bounds the parcel record's size and the gas of
/// every call that reads it. Discharged and lifted ones do not count: they move to the paged
/// past encumbrances.
pub const MAX_ENCUMBRANCES: usize = 64;
/// Most officials in a policy.
pub const MAX_OFFICIALS: usize = 32;
/// Default and largest page of `history`.
pub const DEFAULT_HISTORY_LIMIT: u32 = 20;
/// Largest page of `history` and `past_encumbrances`.
pub const MAX_HISTORY_LIMIT: u32 = 50;
/// Default of [`Policy::max_deal_secs`]: a deal's deadline at most 365 days ahead.
pub const DEFAULT_MAX_DEAL_SECS: u64 = 365 * 24 * 3600;
/// Largest [`Policy::max_deal_secs`] the authority may set: ten years.
pub const MAX_MAX_DEAL_SECS: u64 = 10 * 365 * 24 * 3600;

fn default_max_deal_secs() -> u64 {
    DEFAULT_MAX_DEAL_SECS
}

/// The m-of-n approval policy for title transfers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Policy {
    /// Approvals needed (1 ≤ threshold ≤ number of officials).
    pub threshold: u32,
    /// The officials who may approve, distinct.
    pub officials: Vec<Address>,
    /// How far ahead of the current block time a deal's deadline may lie, in seconds, when the
    /// deal is opened or accepted; so no deal can hold a parcel for longer. Defaults to 365
    /// days when absent (genesis files written before the field existed keep working);
    /// between 1 and ten years.
    #[serde(default = "default_max_deal_secs")]
    pub max_deal_secs: u64,
}

/// Instantiate message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InstantiateMsg {
    /// The identity contract.
    pub identity: Address,
    /// The deal (title-transfer) contract, the only one allowed to transfer titles.
    pub deal: Address,
    /// The initial approval policy. Its shape is checked; enrolment is not, because at genesis
    /// the officials may be enrolled after the registry is created.
    pub policy: Policy,
}

/// How the land is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum LandUse {
    /// Housing.
    Residential,
    /// Shops and offices.
    Commercial,
    /// Factories.
    Industrial,
    /// Farmland.
    Agricultural,
    /// Forest.
    Forest,
    /// Anything else.
    Other,
}

/// An owner's share of a parcel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Owner {
    /// The owner.
    pub owner: Address,
    /// Share in basis points (10000 = sole owner).
    pub share_bps: u32,
}

/// What an encumbrance is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EncumbranceKind {
    /// A mortgage lien held by a bank.
    Mortgage {
        /// The lending bank.
        holder: Address,
        /// The secured amount, paid off at a sale.
        amount: Amount,
    },
    /// A court seizure; freezes the title while active.
    Seizure {
        /// Hash (64 hex digits) of the court order; the order itself stays off-ledger.
        court_order_hash: String,
    },
}

/// An entry of a parcel's encumbrance section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Encumbrance {
    /// Id within the parcel, from 1 (equal to the rank: every entry takes the next rank).
    pub id: u64,
    /// Rank: order of recording on this parcel.
    pub rank: u64,
    /// What it is.
    pub kind: EncumbranceKind,
    /// False once discharged (lien) or lifted (seizure); only inactive ones are in the past
    /// encumbrances, only active ones on the parcel.
    pub active: bool,
    /// Height at which it was recorded.
    pub recorded_height: u64,
    /// Height at which it was discharged or lifted (past encumbrances only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_height: Option<u64>,
}

/// A parcel as stored and as returned by the `parcel` query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Parcel {
    /// The parcel's id (e.g. the PNU).
    pub parcel_id: String,
    /// Lot number (지번).
    pub lot_number: String,
    /// Street address of the land (not of a person).
    pub address: String,
    /// Area in hundredths of a square metre.
    pub area_m2_hundredths: u64,
    /// Land use.
    pub land_use: LandUse,
    /// Owners; shares sum to 10000.
    pub owners: Vec<Owner>,
    /// Active encumbrances in rank order (at most [`MAX_ENCUMBRANCES`]).
    pub encumbrances: Vec<Encumbrance>,
    /// Whether an active court seizure freezes the title.
    pub frozen: bool,
    /// Height at which it was registered.
    pub registered_height: u64,
    /// Number of history entries.
    pub history_len: u64,
    /// Rank of the latest encumbrance ever recorded (active or past); the next takes the one
    /// after it.
    #[serde(default)]
    pub last_rank: u64,
    /// Number of past (discharged or lifted) encumbrances, in `past_encumbrances`.
    #[serde(default)]
    pub past_encumbrances: u64,
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecuteMsg {
    /// Registers a new parcel (official only). The id must be new.
    RegisterParcel {
        /// Id, 1 to 64 bytes.
        parcel_id: String,
        /// Lot number, at most 64 bytes.
        lot_number: String,
        /// Street address, at most 256 bytes.
        address: String,
        /// Area in hundredths of m², positive.
        area_m2_hundredths: u64,
        /// Land use.
        land_use: LandUse,
        /// Distinct owners whose shares sum to 10000.
        owners: Vec<Owner>,
    },
    /// Records a mortgage lien with the next rank (an official, or the deal contract). The
    /// holder must be an enrolled bank. Response data: `{"lien_id": n}`.
    RecordLien {
        /// Parcel.
        parcel_id: String,
        /// The lending bank.
        holder: Address,
        /// Secured amount, positive.
        amount: Amount,
    },
    /// Discharges an active lien (the holder bank, an official, or the deal contract).
    DischargeLien {
        /// Parcel.
        parcel_id: String,
        /// The lien's id.
        lien_id: u64,
    },
    /// Records a court seizure, freezing the title (official only). Response data:
    /// `{"seizure_id": n}`.
    Freeze {
        /// Parcel.
        parcel_id: String,
        /// 64 hex digits.
        court_order_hash: String,
    },
    /// Lifts a seizure (official only).
    Unfreeze {
        /// Parcel.
        parcel_id: String,
        /// The seizure's id.
        seizure_id: u64,
    },
    /// Makes `to` the sole owner (deal contract only; refused while frozen).
    TransferTitle {
        /// Parcel.
        parcel_id: String,
        /// New sole owner.
        to: Address,
    },
    /// Replaces the approval policy (authority only; officials distinct and enrolled as
    /// officials; 1 ≤ threshold ≤ n; `max_deal_secs` between 1 and ten years, 365 days if
    /// absent).
    SetPolicy {
        /// Approvals needed.
        threshold: u32,
        /// The officials.
        officials: Vec<Address>,
        /// How far ahead a deal's deadline may lie, in seconds.
        #[serde(default = "default_max_deal_secs")]
        max_deal_secs: u64,
    },
}

/// Query messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// The parcel → [`Parcel`].
    Parcel {
        /// Parcel.
        parcel_id: String,
    },
    /// The parcel's history in order → [`HistoryResponse`].
    History {
        /// Parcel.
        parcel_id: String,
        /// Continue after this sequence number.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size (default 20, at most 50).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The parcel's discharged liens and lifted seizures in rank order →
    /// [`PastEncumbrancesResponse`].
    PastEncumbrances {
        /// Parcel.
        parcel_id: String,
        /// Continue after this encumbrance id (= rank).
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size (default 20, at most 50).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The approval policy → [`Policy`].
    Policy {},
}

/// What happened to a parcel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Registered.
    Registered,
    /// A lien was recorded.
    LienRecorded,
    /// A lien was discharged.
    LienDischarged,
    /// A seizure was recorded.
    Frozen,
    /// A seizure was lifted.
    Unfrozen,
    /// The title moved.
    TitleTransferred,
}

/// One history entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HistoryEntry {
    /// Sequence number within the parcel, from 1.
    pub seq: u64,
    /// Block height.
    pub height: u64,
    /// Block time.
    pub time: u64,
    /// What happened.
    pub action: Action,
    /// Human-readable detail (addresses, amounts, ids; never personal data).
    pub detail: String,
}

/// Answer to [`QueryMsg::History`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HistoryResponse {
    /// Entries in sequence order.
    pub entries: Vec<HistoryEntry>,
}

/// Answer to [`QueryMsg::PastEncumbrances`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PastEncumbrancesResponse {
    /// Inactive encumbrances in rank order.
    pub encumbrances: Vec<Encumbrance>,
}

#[derive(Serialize, Deserialize)]
struct Config {
    identity: Address,
    deal: Address,
}

const CONFIG: Item<Config> = Item::new("config");
const POLICY: Item<Policy> = Item::new("policy");
const PARCELS: Map<&str, Parcel> = Map::new("parcels");
const HISTORY: Map<(&str, u64), HistoryEntry> = Map::new("history");
const PAST: Map<(&str, u64), Encumbrance> = Map::new("past_encumbrances");

#[derive(Deserialize)]
struct RolesAnswer {
    roles: Vec<String>,
}

fn has_role(identity: &Address, who: Address, role: &str) -> Result<bool, ContractError> {
    let r: RolesAnswer = query_contract(
        identity,
        &serde_json::json!({ "roles": { "address": who } }),
    )?;
    Ok(r.roles.iter().any(|x| x == role))
}

fn require_official(cfg: &Config, who: Address, what: &str) -> Result<(), ContractError> {
    ensure!(
        has_role(&cfg.identity, who, "official")?,
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
                has_role(&cfg.identity, holder, "bank")?,
                "lien holder {holder} is not an enrolled bank"
            );
            let mut parcel = load_parcel(&parcel_id)?;
            let rank = next_rank(&mut parcel)?;
            parcel.encumbrances.push(Encumbrance {
                id: rank,
                rank,
                kind: EncumbranceKind::Mortgage { holder, amount },
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
                .json(&serde_json::json!({ "lien_id": rank }))
        }
        ExecuteMsg::DischargeLien { parcel_id, lien_id } => {
            let mut parcel = load_parcel(&parcel_id)?;
            let Some(index) = parcel.encumbrances.iter().position(|e| e.id == lien_id) else {
                match PAST
                    .may_load(&(parcel_id.as_str(), lien_id))?
                    .map(|e| e.kind)
                {
                    Some(EncumbranceKind::Mortgage { .. }) => {
                        bail!("lien {lien_id} on parcel {parcel_id} is already discharged")
                    }
                    Some(EncumbranceKind::Seizure { .. }) => {
                        bail!("encumbrance {lien_id} on parcel {parcel_id} is not a lien")
                    }
                    None => bail!("lien {lien_id} not found on parcel {parcel_id}"),
                }
            };
            let EncumbranceKind::Mortgage { holder, amount } =
                parcel.encumbrances[index].kind.clone()
            else {
                bail!("encumbrance {lien_id} on parcel {parcel_id} is not a lien");
            };
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
                .json(&serde_json::json!({ "seizure_id": rank }))
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
        ExecuteMsg::SetPolicy {
            threshold,
            officials,
            max_deal_secs,
        } => {
            ensure!(
                has_role(&cfg.identity, env.sender, "authority")?,
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
                    has_role(&cfg.identity, *o, "official")?,
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
