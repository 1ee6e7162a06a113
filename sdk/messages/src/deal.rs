//! The deal (title-transfer) contract's interface: its messages, [`Terms`], [`Status`] and the
//! [`Deal`] answer.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use hanok_abi::{Address, Amount};
use serde::{Deserialize, Serialize};

/// Most bytes a rejection's reason may have (UTF-8, after trimming surrounding whitespace): room
/// for a few sentences an official writes to the parties, while bounding the deal record that
/// every later read of the deal pays gas for.
pub const MAX_REJECTION_REASON_BYTES: usize = 500;

/// Page size of [`QueryMsg::AwaitingApproval`] when the query gives no `limit`.
pub const AWAITING_DEFAULT_LIMIT: u32 = 20;

/// Largest page of [`QueryMsg::AwaitingApproval`]: a larger `limit` is clamped to this, so one
/// query reads a bounded number of deals.
pub const AWAITING_MAX_LIMIT: u32 = 50;

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
    /// The acquisition-tax contract; absent: no acquisition tax is quoted or collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<Address>,
}

/// The buyer's lender as the deal's terms name it: the only bank that may attach the buyer's
/// new mortgage, and the most that mortgage may secure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Lender {
    /// The lending bank (an enrolled bank).
    pub bank: Address,
    /// The most it may register, positive.
    pub max_amount: Amount,
}

/// A staged payment schedule, as Korean home sales are paid: the deposit (계약금, typically
/// 10 % of the price) when the contract is signed, an optional interim payment (중도금), and the
/// balance (잔금: the rest of the price) by settlement. Each is paid into escrow by its due
/// time. Until the interim payment (or, without one, until the balance), either side may
/// walk away under the earnest-money rule (Civil Code art. 565): the buyer forfeits the
/// deposit to the seller, or the seller returns it doubled. Afterwards a contract ends only by
/// mutual agreement (everything paid goes back to the buyer) or by the buyer's default on a
/// payment (the deposit goes to the seller as the penalty, the rest back to the buyer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Schedule {
    /// The deposit (계약금), positive.
    pub deposit: Amount,
    /// When the deposit falls due, unix seconds of block time.
    pub deposit_due: u64,
    /// The interim payment (중도금), if any, positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interim: Option<Amount>,
    /// When the interim payment falls due (after the deposit's), given exactly when `interim`
    /// is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interim_due: Option<u64>,
    /// When the balance (잔금: the price less the deposit and the interim payment, positive)
    /// falls due: after the earlier stages, at most the deal's deadline.
    pub balance_due: u64,
}

impl Schedule {
    /// The stages in order, each `(stage, amount, due)`: the deposit, the interim payment if
    /// any, and the balance, which is `price` less the earlier stages. `None` when the stages
    /// leave no positive balance (or overflow): such a schedule is refused at `open`.
    pub fn stages(&self, price: Amount) -> Option<Vec<(Stage, Amount, u64)>> {
        let mut out = alloc::vec![(Stage::Deposit, self.deposit, self.deposit_due)];
        let mut before = self.deposit;
        if let (Some(a), Some(due)) = (self.interim, self.interim_due) {
            out.push((Stage::Interim, a, due));
            before = before.checked_add(a)?;
        }
        let balance = price.checked_sub(before).filter(|b| !b.is_zero())?;
        out.push((Stage::Balance, balance, self.balance_due));
        Some(out)
    }
}

/// Which payment into escrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The whole price in one payment (a deal without a schedule).
    Full,
    /// The deposit (계약금).
    Deposit,
    /// The interim payment (중도금).
    Interim,
    /// The balance (잔금).
    Balance,
}

crate::names!(Stage, "payment stage", {
    Full => "full",
    Deposit => "deposit",
    Interim => "interim",
    Balance => "balance",
});

/// A payment the buyer made into escrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Payment {
    /// Which one.
    pub stage: Stage,
    /// How much.
    pub amount: Amount,
    /// Height of the block that took it.
    pub height: u64,
    /// Block time of it.
    pub time: u64,
}

/// How a concluded or paid deal ended without a sale, and where the escrow's money went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CancelKind {
    /// The buyer walked away before the interim payment: the deposit went to the seller.
    BuyerWithdrew,
    /// The seller walked away before the interim payment, paying in as much again as the
    /// deposit: the buyer got the deposit back doubled.
    SellerWithdrew,
    /// Every party agreed to end it: everything paid went back to the buyer.
    Mutual,
    /// The buyer missed a payment's due time: the deposit went to the seller as the penalty,
    /// the rest back to the buyer.
    BuyerDefault,
}

crate::names!(CancelKind, "cancellation", {
    BuyerWithdrew => "buyer_withdrew",
    SellerWithdrew => "seller_withdrew",
    Mutual => "mutual",
    BuyerDefault => "buyer_default",
});

/// The outcome of a cancellation after money was paid: every won is accounted for,
/// `to_sellers + to_buyer` = what the buyer paid in (+ what a withdrawing seller paid in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cancellation {
    /// Why it ended.
    pub kind: CancelKind,
    /// Who ended it (the last to agree, for a mutual end).
    pub by: Address,
    /// What the sellers received from the escrow (split by share among co-sellers).
    pub to_sellers: Amount,
    /// What the buyer received from the escrow.
    pub to_buyer: Amount,
    /// Height of the block.
    pub height: u64,
}

/// The terms a signature covers. A signer states them in `sign`; they must equal the deal's
/// current terms, so nobody can sign one thing and be bound to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Terms {
    /// The price.
    pub price: Amount,
    /// The settlement deadline, unix seconds of block time.
    pub deadline: u64,
    /// The buyer's lender the deal names, or null for none.
    pub lender: Option<Address>,
    /// The mortgage that lender attached, or null for none: exactly what settlement records.
    pub mortgage_amount: Option<Amount>,
    /// The staged payment schedule, if the deal has one (absent: the whole price at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

/// `price P, deadline D, lender L, mortgage M` (`none` for an absent lender or mortgage): how
/// the deal contract's errors show the terms a signature covers.
impl fmt::Display for Terms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "price {}, deadline {}, lender ",
            self.price, self.deadline
        )?;
        match self.lender {
            Some(a) => write!(f, "{a}")?,
            None => f.write_str("none")?,
        }
        f.write_str(", mortgage ")?;
        match self.mortgage_amount {
            Some(a) => write!(f, "{a}")?,
            None => f.write_str("none")?,
        }
        if let Some(s) = &self.schedule {
            write!(f, ", deposit {} by {}", s.deposit, s.deposit_due)?;
            if let (Some(a), Some(t)) = (s.interim, s.interim_due) {
                write!(f, ", interim {a} by {t}")?;
            }
            write!(f, ", balance by {}", s.balance_due)?;
        }
        Ok(())
    }
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecuteMsg {
    /// Proposes a deal (enrolled broker only). The seller must be the parcel's sole owner, the
    /// parcel must not be frozen or held by another live deal (one past its deadline is marked
    /// expired), the deadline (unix seconds, compared with block time) must be in the future
    /// and at most the registry policy's `max_deal_secs` ahead. The deal starts `proposed` and
    /// binds nothing until the seller accepts it. Response data: `{"deal_id": n}`.
    Open {
        /// Parcel.
        parcel_id: String,
        /// The owner selling: the sole owner; one of the co-owners selling the whole parcel
        /// together (with `co_sellers`); or, with `share_sale`, the co-owner selling their share.
        seller: Address,
        /// Buyer.
        buyer: Address,
        /// Price, positive.
        price: Amount,
        /// Settlement deadline, unix seconds of block time.
        deadline: u64,
        /// The buyer's lender and the most it may register; absent for a sale without a new
        /// mortgage (then no bank may attach one).
        #[serde(default)]
        lender: Option<Lender>,
        /// The other co-owners when a co-owned parcel is sold whole: `seller` and these must be
        /// exactly the parcel's owners; each accepts and signs, and each receives the proceeds
        /// by their share. Empty for a sole owner or a share sale.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        co_sellers: Vec<Address>,
        /// Sell only `seller`'s share of a co-owned parcel: that share moves to the buyer and the
        /// other owners keep theirs; the parcel's liens stay (they burden every share), and no
        /// new mortgage may be attached (no `lender`).
        #[serde(default, skip_serializing_if = "core::ops::Not::not")]
        share_sale: bool,
        /// Pay in stages (deposit, optional interim, balance) instead of the whole price at
        /// once; part of the terms every party signs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schedule: Option<Schedule>,
    },
    /// A seller accepts a proposed deal (each seller once: `seller` and every co-seller): once
    /// all have, the deal holds the parcel, until it settles, is cancelled, rejected or
    /// refunded, or its deadline passes. The parcel and deadline are checked again as for
    /// `open`.
    Accept {
        /// Deal.
        deal_id: u64,
    },
    /// The lender the deal names attaches the buyer's new mortgage, at most the deal's
    /// `max_amount`, before the parties sign (proposed, open or funded, no signature yet); it
    /// may attach again to change the amount until then. Recorded as a lien held by that bank
    /// at settlement.
    AttachMortgage {
        /// Deal.
        deal_id: u64,
        /// Secured amount, positive.
        amount: Amount,
    },
    /// The escrow reports a payment by the buyer (escrow contract only): the whole price, or
    /// with a schedule the next stage's amount, by its due time.
    Funded {
        /// Deal.
        deal_id: u64,
        /// Who deposited (must be the buyer).
        funder: Address,
        /// Amount (the price, or the stage's amount).
        amount: Amount,
    },
    /// The escrow reports that a seller paid in as much again as the deposit to walk away
    /// under the earnest-money rule (escrow contract only); the escrow then pays the buyer the
    /// deposit doubled.
    SellerWithdrew {
        /// Deal.
        deal_id: u64,
        /// The seller.
        seller: Address,
        /// What the seller paid in (must equal the deposit paid).
        amount: Amount,
    },
    /// The buyer walks away under the earnest-money rule (buyer only; a deal with a schedule,
    /// the deposit paid, the interim payment not yet): the deposit goes to the seller.
    Withdraw {
        /// Deal.
        deal_id: u64,
    },
    /// A party agrees to end a deal with a schedule after the earnest-money window (the buyer
    /// and every seller, once each); when all have, everything paid goes back to the buyer.
    AgreeCancel {
        /// Deal.
        deal_id: u64,
    },
    /// Ends a deal whose buyer missed a payment's due time (any party: the broker, a seller
    /// or the buyer): the deposit goes to the seller as the penalty, the rest back to the
    /// buyer.
    ClaimDefault {
        /// Deal.
        deal_id: u64,
    },
    /// A seller (each of them) or the buyer signs the agreement (after funding, once each),
    /// stating the terms the signature covers; they must be the deal's current terms.
    Sign {
        /// Deal.
        deal_id: u64,
        /// The terms signed.
        terms: Terms,
    },
    /// An official of the registry policy approves (after both signatures, once each).
    Approve {
        /// Deal.
        deal_id: u64,
    },
    /// An official of the registry policy rejects the transfer (any pending status), saying
    /// why: the reason is stored on the deal (trimmed) and carried by the `deal_rejected`
    /// event, so the parties learn it from the ledger.
    Reject {
        /// Deal.
        deal_id: u64,
        /// Why, for the parties: non-empty after trimming whitespace, at most 500 bytes of
        /// UTF-8 ([`MAX_REJECTION_REASON_BYTES`]). Absent reads as empty, which is refused.
        #[serde(default)]
        reason: String,
    },
    /// Settles atomically (a party to the deal — broker, seller or buyer — or an official
    /// enrolled and in the current registry policy; status approved, block time ≤ deadline,
    /// enough approvals by officials still enrolled and in the policy).
    Settle {
        /// Deal.
        deal_id: u64,
    },
    /// Cancels before any payment (broker, seller or buyer).
    Cancel {
        /// Deal.
        deal_id: u64,
    },
    /// The buyer reclaims the escrow after rejection, expiry or the deadline.
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
    /// The officials' approval queue → [`DealsResponse`]: the deals whose status is `signed`
    /// (both parties signed, the policy threshold not reached yet), oldest (lowest id) first.
    /// Read from an index the contract keeps as deals change status, not by scanning every
    /// deal. A signed deal past its deadline stays listed until it is refunded or expired;
    /// compare its `deadline` with the block time.
    AwaitingApproval {
        /// Continue after this deal id.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size: default 20 ([`AWAITING_DEFAULT_LIMIT`]), at most 50
        /// ([`AWAITING_MAX_LIMIT`]); a larger one is clamped.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The transaction report (부동산 거래신고) of one deal → [`TransactionReport`]; refused for a
    /// deal whose contract was never concluded (both parties never signed).
    Report {
        /// Deal.
        deal_id: u64,
    },
    /// Transaction reports in deal id order → [`ReportsResponse`], for the municipality.
    Reports {
        /// Continue after this deal id.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size: default 20 ([`AWAITING_DEFAULT_LIMIT`]), at most 50
        /// ([`AWAITING_MAX_LIMIT`]); a larger one is clamped.
        #[serde(default)]
        limit: Option<u32>,
    },
}

/// How long after the contract is concluded the law allows for the transaction report
/// (부동산 거래신고): 30 days, in seconds.
pub const REPORT_WINDOW_SECS: u64 = 30 * 24 * 3600;

/// Where the reported transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// The contract is concluded (both parties signed the terms); not settled yet.
    Contracted,
    /// Settled: the title moved and the price was paid.
    Settled,
    /// The contract ended without a sale (rejected, refunded or expired): the report's
    /// cancellation (해제신고).
    Cancelled,
}

crate::names!(ReportStatus, "report status", {
    Contracted => "contracted",
    Settled => "settled",
    Cancelled => "cancelled",
});

/// A payment the buyer made toward the price, as the report lists it (the acquisition tax paid
/// with the last payment is not part of it: the report states it apart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReportedPayment {
    /// Which payment: `full` (the whole price at once), `deposit`, `interim` or `balance`.
    pub stage: String,
    /// Amount paid into escrow.
    pub amount: Amount,
    /// Height of the block that took it.
    pub height: u64,
}

/// The transaction report of a deal (부동산 거래신고): filed by the deal contract itself, in the
/// very transaction in which the contract is concluded (the second party's signature), so
/// it is never late and never missing; updated in the settlement's own transaction, and marked
/// cancelled in the one that ends the deal otherwise. Every field is copied from the deal the
/// contract enforces, so the report cannot disagree with the sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TransactionReport {
    /// The deal.
    pub deal_id: u64,
    /// The parcel.
    pub parcel_id: String,
    /// The price both parties signed.
    pub price: Amount,
    /// The seller named first (clients show it as a did:key).
    pub seller: Address,
    /// The other co-owners who sold with the seller, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_sellers: Vec<Address>,
    /// The share sold, in basis points of the parcel (10000: the whole parcel).
    #[serde(default = "full_share")]
    pub share_bps: u32,
    /// The buyer.
    pub buyer: Address,
    /// The broker who opened the deal.
    pub broker: Address,
    /// Block time at which the contract was concluded (계약일): the second signature.
    pub contract_time: u64,
    /// Height of that block.
    pub contract_height: u64,
    /// The legal deadline for the report: `contract_time` + 30 days. The report exists from
    /// `contract_time`, so it is always filed before this.
    pub due_time: u64,
    /// Where the transaction stands.
    pub status: ReportStatus,
    /// The payments into escrow, in order.
    pub payments: Vec<ReportedPayment>,
    /// Block time of the settlement (잔금일), once settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_time: Option<u64>,
    /// Height of the settlement, once settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_height: Option<u64>,
    /// Block time at which the contract ended without a sale, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_time: Option<u64>,
    /// The acquisition tax paid to the municipality at settlement (after any first-home
    /// relief), if any; the payments above are toward the price only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquisition_tax: Option<Amount>,
}

fn full_share() -> u32 {
    crate::registry::FULL_SHARE_BPS
}

/// Answer to [`QueryMsg::Reports`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReportsResponse {
    /// The reports, in deal id order.
    pub reports: Vec<TransactionReport>,
}

/// Where a deal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Proposed by the broker; binds nothing until the seller accepts.
    Proposed,
    /// Accepted by the seller: holds the parcel, waiting for the buyer's deposit.
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
    /// Its deadline passed while it held the parcel, and a new deal claimed the parcel.
    Expired,
    /// The buyer took the escrow back.
    Refunded,
}

crate::names!(Status, "deal status", {
    Proposed => "proposed",
    Open => "open",
    Funded => "funded",
    Signed => "signed",
    Approved => "approved",
    Settled => "settled",
    Cancelled => "cancelled",
    Rejected => "rejected",
    Expired => "expired",
    Refunded => "refunded",
});

impl Status {
    /// Whether the deal is still in progress (an official may reject it).
    pub fn is_pending(self) -> bool {
        matches!(self, Status::Proposed) || self.holds_parcel()
    }

    /// Whether the deal holds its parcel (blocks another deal on it until its deadline): the
    /// seller accepted it and it has not ended.
    pub fn holds_parcel(self) -> bool {
        matches!(
            self,
            Status::Open | Status::Funded | Status::Signed | Status::Approved
        )
    }
}

/// The buyer's new mortgage, recorded at settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The seller named first: the sole owner, a co-owner selling the whole parcel with
    /// `co_sellers`, or (with `share_sale`) the co-owner selling their share.
    pub seller: Address,
    /// The other co-owners selling a co-owned parcel whole (each accepts, signs and is paid
    /// by share); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_sellers: Vec<Address>,
    /// Whether only `seller`'s share is sold.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub share_sale: bool,
    /// The sellers who accepted so far (a deal with co-sellers is open once all have).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_by: Vec<Address>,
    /// In a share sale, the share sold (basis points), as the seller held it when the deal was
    /// accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_bps: Option<u32>,
    /// The staged payment schedule, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// The buyer's payments into escrow, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<Payment>,
    /// The parties who agreed to end it (`agree_cancel`), so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancel_consents: Vec<Address>,
    /// How it ended without a sale after money was paid, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
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
    /// The buyer's lender the terms name, if any: the only bank that may attach the mortgage.
    #[serde(default)]
    pub lender: Option<Lender>,
    /// The buyer's new mortgage as that lender attached it, if any.
    pub mortgage: Option<Mortgage>,
    /// Who signed (seller and/or buyer), in order.
    pub signatures: Vec<Address>,
    /// The terms every signature in `signatures` covers.
    #[serde(default)]
    pub signed_terms: Option<Terms>,
    /// Officials who approved, in order.
    pub approvals: Vec<Address>,
    /// The official who rejected, if any.
    pub rejected_by: Option<Address>,
    /// Why that official rejected it (trimmed, at most 500 bytes:
    /// [`MAX_REJECTION_REASON_BYTES`]), if it was rejected.
    #[serde(default)]
    pub rejection_reason: Option<String>,
    /// Height at which it was opened (proposed).
    pub opened_height: u64,
    /// Height at which the seller accepted it.
    #[serde(default)]
    pub accepted_height: Option<u64>,
    /// Height at which the escrow reported the buyer's deposit.
    #[serde(default)]
    pub funded_height: Option<u64>,
    /// Height at which it was settled.
    pub settled_height: Option<u64>,
    /// The full-rate acquisition tax, quoted from the tax contract's table when the deal bound
    /// its parcel (every seller accepted): the buyer pays it into escrow with the last payment,
    /// on top of the price. Absent when no tax applies (no table, or a zero rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_quote: Option<crate::tax::Quote>,
    /// The acquisition tax as assessed at settlement: which rate, whether the first-home
    /// relief applied and why, what went to the municipality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<crate::tax::Assessment>,
}

impl Deal {
    /// Everyone selling: `seller`, then `co_sellers`.
    pub fn sellers(&self) -> impl Iterator<Item = Address> + '_ {
        core::iter::once(self.seller).chain(self.co_sellers.iter().copied())
    }

    /// The acquisition tax the buyer pays into escrow on top of the price: the quoted
    /// full-rate tax, or zero.
    pub fn tax_due(&self) -> Amount {
        self.tax_quote.map_or(Amount::ZERO, |q| q.full_tax)
    }

    /// What the buyer pays into escrow in all: the price and the quoted tax.
    pub fn total_due(&self) -> Option<Amount> {
        self.price.checked_add(self.tax_due())
    }

    /// The payments into escrow in order, each `(stage, amount, due)`: without a schedule the
    /// whole price (and the tax) at once, due by the deadline; with one, the schedule's stages
    /// ([`Schedule::stages`]) with the tax added to the balance. `None` for a schedule that
    /// does not add up, or on overflow.
    pub fn stages(&self) -> Option<Vec<(Stage, Amount, u64)>> {
        let Some(schedule) = self.schedule else {
            return Some(alloc::vec![(Stage::Full, self.total_due()?, self.deadline)]);
        };
        let mut stages = schedule.stages(self.price)?;
        let last = stages.last_mut()?;
        last.1 = last.1.checked_add(self.tax_due())?;
        Some(stages)
    }

    /// With a schedule, the next unpaid stage `(stage, amount, due)` (the balance includes the
    /// tax); `None` without a schedule, once paid in full, or for a schedule that does not add
    /// up.
    pub fn next_stage(&self) -> Option<(Stage, Amount, u64)> {
        self.schedule?;
        self.stages()?.get(self.payments.len()).copied()
    }

    /// Whether every seller and the buyer have signed.
    pub fn fully_signed(&self) -> bool {
        self.sellers()
            .chain(core::iter::once(self.buyer))
            .all(|a| self.signatures.contains(&a))
    }

    /// The deal's current terms, as a signature must state them.
    #[inline]
    pub fn terms(&self) -> Terms {
        Terms {
            price: self.price,
            deadline: self.deadline,
            lender: self.lender.map(|l| l.bank),
            mortgage_amount: self.mortgage.map(|m| m.amount),
            schedule: self.schedule,
        }
    }
}

/// A caller's view of [`Deal`]: only what the escrow checks before it takes a deposit. The
/// JSON is the same `deal` answer; unknown fields are skipped, never parsed, so a contract that
/// reads a deal pays gas for these three fields only.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DealView {
    /// Status.
    pub status: Status,
    /// Buyer.
    pub buyer: Address,
    /// Price.
    pub price: Amount,
}

/// Answer to [`QueryMsg::DealByParcel`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DealByParcelResponse {
    /// Parcel.
    pub parcel_id: String,
    /// The accepted deal holding it, if any (a deal past its deadline at the latest block's
    /// time no longer holds it).
    pub deal_id: Option<u64>,
}

/// Answer to [`QueryMsg::AwaitingApproval`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DealsResponse {
    /// The deals, in deal id order.
    pub deals: Vec<Deal>,
}

/// Response data of [`ExecuteMsg::Open`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OpenResponse {
    /// The new deal's id.
    pub deal_id: u64,
}
