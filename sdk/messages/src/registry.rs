//! The registry contract's interface: parcels, encumbrances, the approval policy, [`LandUse`],
//! its messages and answers.

use alloc::string::String;
use alloc::vec::Vec;
use hanok_abi::layout::MapKey;
use hanok_abi::{Address, Amount};
use serde::{Deserialize, Serialize};

/// Namespace of the registry's parcel map, `Map<&str, Parcel>`. Part of the interface: a title
/// proof proves the value stored under [`parcel_key`], so a client computes that key itself.
pub const PARCELS_NAMESPACE: &str = "parcels";

/// The key, inside the registry's storage, of parcel `parcel_id`:
/// `u16 BE 7 | "parcels" | u16 BE len | parcel_id` (see `docs/storage.md`).
pub fn parcel_key(parcel_id: &str) -> Vec<u8> {
    MapKey::new(PARCELS_NAMESPACE).str(parcel_id).into_bytes()
}

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

crate::names!(LandUse, "land use", {
    Residential => "residential",
    Commercial => "commercial",
    Industrial => "industrial",
    Agricultural => "agricultural",
    Forest => "forest",
    Other => "other",
});

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
    /// A mortgage lien held by a bank (근저당권).
    Mortgage {
        /// The lending bank.
        holder: Address,
        /// The registered maximum secured amount (채권최고액), often 120–130 % of the loan. It
        /// bounds what the bank may claim; what a sale pays is the debt on the day, from the
        /// bank's payoff statement.
        amount: Amount,
        /// The holder bank's latest payoff statement, if it filed one: the debt to pay at
        /// settlement and the bank's consent to discharge the lien once paid.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payoff: Option<PayoffStatement>,
    },
    /// A court seizure; freezes the title while active.
    Seizure {
        /// Hash (64 hex digits) of the court order; the order itself stays off-ledger.
        court_order_hash: String,
    },
    /// A registered lease (전세권, or a lease with a fixed-date stamp): the tenant's deposit
    /// ranks here among the encumbrances. A sale keeps it: the buyer takes over the obligation
    /// to return the deposit, so buyers and lenders must see it, and the tenant sees every
    /// lien ranked ahead of it.
    Lease {
        /// The tenant.
        tenant: Address,
        /// The deposit (보증금) the owner must return at the end of the term, positive.
        deposit: Amount,
        /// Start of the term, unix seconds.
        term_start: u64,
        /// End of the term, unix seconds (after the start).
        term_end: u64,
    },
}

/// A bank's payoff statement for one of its liens: the outstanding debt (at most the lien's
/// registered maximum) and the block time until which the bank stands by it. Filing one is the
/// bank's consent to discharge the lien when exactly this amount is paid to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PayoffStatement {
    /// The amount that pays the debt off (may be zero: the loan is already repaid).
    pub amount: Amount,
    /// Valid while the block time is at most this, unix seconds.
    pub valid_until: u64,
    /// Height at which the bank filed it.
    pub filed_height: u64,
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

/// A caller's view of [`Parcel`]: what the deal contract checks before it opens or settles a
/// deal (ownership, the freeze, the active encumbrances). The JSON is the same `parcel` answer;
/// unknown fields are skipped, never parsed, so the reader pays gas only for these.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ParcelView {
    /// Owners.
    pub owners: Vec<OwnerView>,
    /// Active encumbrances in rank order.
    pub encumbrances: Vec<EncumbranceView>,
    /// Whether an active court seizure freezes the title.
    pub frozen: bool,
}

/// A caller's view of [`Owner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct OwnerView {
    /// The owner.
    pub owner: Address,
    /// Share in basis points.
    pub share_bps: u32,
}

/// A caller's view of [`Encumbrance`]: its id, rank, kind and whether it is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct EncumbranceView {
    /// Id within the parcel.
    pub id: u64,
    /// Rank: order of recording on this parcel.
    pub rank: u64,
    /// What it is.
    pub kind: EncumbranceKindView,
    /// False once discharged or lifted.
    pub active: bool,
}

/// A caller's view of [`EncumbranceKind`]: a mortgage's holder and amount; of a seizure,
/// only that it is one (the court order's hash is skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncumbranceKindView {
    /// A mortgage lien held by a bank.
    Mortgage {
        /// The lending bank.
        holder: Address,
        /// The registered maximum secured amount.
        amount: Amount,
        /// The bank's payoff statement, if filed.
        #[serde(default)]
        payoff: Option<PayoffView>,
    },
    /// A court seizure.
    Seizure {},
    /// A registered lease: the tenant and the deposit a buyer takes over (the term is
    /// skipped).
    Lease {
        /// The tenant.
        tenant: Address,
        /// The deposit.
        deposit: Amount,
    },
}

/// A caller's view of [`PayoffStatement`]: the amount and until when it is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct PayoffView {
    /// The amount that pays the debt off.
    pub amount: Amount,
    /// Valid while the block time is at most this, unix seconds.
    pub valid_until: u64,
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
        /// The registered maximum secured amount (채권최고액), positive.
        amount: Amount,
    },
    /// Files the holder bank's payoff statement for one of its active liens (that bank only,
    /// while enrolled as a bank): the debt to pay at settlement, at most the lien's registered
    /// maximum, valid until a block time in the future. It replaces any earlier statement.
    /// Settlement pays exactly this amount to the bank and discharges the lien; it refuses a
    /// lien without a statement or with an expired one.
    FilePayoff {
        /// Parcel.
        parcel_id: String,
        /// The lien's id.
        lien_id: u64,
        /// The debt on the day, at most the lien's registered maximum.
        amount: Amount,
        /// Block time (unix seconds) until which the statement holds, after the current one.
        valid_until: u64,
    },
    /// Discharges an active lien (the holder bank, an official, or the deal contract).
    DischargeLien {
        /// Parcel.
        parcel_id: String,
        /// The lien's id.
        lien_id: u64,
    },
    /// Records a lease with the next rank (official only): the tenant (enrolled), the deposit
    /// (positive) and the term (`term_end` after `term_start`, unix seconds). A sale keeps it.
    /// Response data: `{"lease_id": n}`.
    RecordLease {
        /// Parcel.
        parcel_id: String,
        /// The tenant.
        tenant: Address,
        /// The deposit, positive.
        deposit: Amount,
        /// Start of the term, unix seconds.
        term_start: u64,
        /// End of the term, unix seconds.
        term_end: u64,
    },
    /// Discharges an active lease (the tenant, once the deposit is back, or an official).
    DischargeLease {
        /// Parcel.
        parcel_id: String,
        /// The lease's id.
        lease_id: u64,
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
    /// Moves `from`'s whole share to `to` (deal contract only; refused while frozen): a share
    /// sale. If `to` already owns a share, the two are merged; the other owners are unchanged.
    TransferShare {
        /// Parcel.
        parcel_id: String,
        /// The owner whose share moves.
        from: Address,
        /// The new owner of that share.
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
    /// One owner's share moved.
    ShareTransferred,
    /// A lease was recorded.
    LeaseRecorded,
    /// A lease was discharged.
    LeaseDischarged,
    /// A lien's holder bank filed a payoff statement.
    PayoffFiled,
}

crate::names!(Action, "history action", {
    Registered => "registered",
    LienRecorded => "lien_recorded",
    LienDischarged => "lien_discharged",
    Frozen => "frozen",
    Unfrozen => "unfrozen",
    TitleTransferred => "title_transferred",
    ShareTransferred => "share_transferred",
    LeaseRecorded => "lease_recorded",
    LeaseDischarged => "lease_discharged",
    PayoffFiled => "payoff_filed",
});

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

/// Response data of [`ExecuteMsg::RecordLien`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LienResponse {
    /// The new lien's id (= its rank).
    pub lien_id: u64,
}

/// Response data of [`ExecuteMsg::RecordLease`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaseResponse {
    /// The new lease's id (= its rank).
    pub lease_id: u64,
}

/// Response data of [`ExecuteMsg::Freeze`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SeizureResponse {
    /// The new seizure's id (= its rank).
    pub seizure_id: u64,
}
