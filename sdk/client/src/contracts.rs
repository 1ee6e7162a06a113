//! Typed clients of the six system contracts. Requests are the contracts' own message types
//! and answers decode into their answer types, all from `hanok-messages` (re-exported as
//! [`crate::messages`]), so the JSON is the one `docs/contracts.md` describes and nothing here
//! restates it.

use crate::client::{call_result, Client};
use crate::error::{ClientError, Result};
use crate::proof::TitleProof;
use crate::signer::Signer;
use hanok_messages::deal::{self, Terms};
use hanok_messages::identity::{self, Role};
use hanok_messages::registry::{self, LandUse, Owner};
use hanok_messages::Amount;
use hanok_messages::{escrow, krw, tax};
use hanok_proto::v1::Receipt;
use hanok_types::Address;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Decodes call 0's JSON data as a `T` (e.g. [`registry::LienResponse`]).
fn data_of<T: DeserializeOwned>(receipt: &Receipt) -> Result<T> {
    let data = call_result(receipt, 0)?;
    serde_json::from_value(data.clone())
        .map_err(|e| ClientError::Decode(format!("unexpected call result {data}: {e}")))
}

/// The fields of `register_parcel`. No personal data: owners are addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParcel {
    /// Id, 1 to 64 bytes, unique.
    pub parcel_id: String,
    /// Lot number.
    pub lot_number: String,
    /// Street address.
    pub address: String,
    /// Area in hundredths of m².
    pub area_m2_hundredths: u64,
    /// Land use.
    pub land_use: LandUse,
    /// 1 to 16 distinct owners.
    pub owners: Vec<Owner>,
}

impl NewParcel {
    /// The `register_parcel` message.
    pub fn to_msg(&self) -> registry::ExecuteMsg {
        registry::ExecuteMsg::RegisterParcel {
            parcel_id: self.parcel_id.clone(),
            lot_number: self.lot_number.clone(),
            address: self.address.clone(),
            area_m2_hundredths: self.area_m2_hundredths,
            land_use: self.land_use,
            owners: self.owners.clone(),
        }
    }
}

/// The land registry contract.
#[derive(Debug, Clone)]
pub struct Registry<'a> {
    client: &'a Client,
    address: Address,
}

impl<'a> Registry<'a> {
    /// The registry at `address`.
    pub fn new(client: &'a Client, address: Address) -> Self {
        Registry { client, address }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Registers a parcel (official only).
    ///
    /// # Errors
    /// [`ClientError::Contract`] with the registry's refusal, or a transport/node error.
    pub async fn register_parcel(&self, signer: &Signer, parcel: &NewParcel) -> Result<Receipt> {
        self.client
            .execute(signer, self.address, &parcel.to_msg())
            .await
    }

    /// Records a mortgage lien with the next rank (official); returns the lien id.
    ///
    /// # Errors
    /// As [`Registry::register_parcel`].
    pub async fn record_lien(
        &self,
        signer: &Signer,
        parcel_id: &str,
        holder: Address,
        amount: u128,
    ) -> Result<u64> {
        let msg = registry::ExecuteMsg::RecordLien {
            parcel_id: parcel_id.to_string(),
            holder,
            amount: Amount(amount),
        };
        let r = self.client.execute(signer, self.address, &msg).await?;
        Ok(data_of::<registry::LienResponse>(&r)?.lien_id)
    }

    /// Records a registered lease with the next rank (official): the tenant (enrolled), the
    /// deposit and the term (unix seconds, end after start). A sale keeps it. Returns the
    /// lease id.
    ///
    /// # Errors
    /// As [`Registry::register_parcel`].
    pub async fn record_lease(
        &self,
        signer: &Signer,
        parcel_id: &str,
        tenant: Address,
        deposit: u128,
        term: (u64, u64),
    ) -> Result<u64> {
        let msg = registry::ExecuteMsg::RecordLease {
            parcel_id: parcel_id.to_string(),
            tenant,
            deposit: Amount(deposit),
            term_start: term.0,
            term_end: term.1,
        };
        let r = self.client.execute(signer, self.address, &msg).await?;
        Ok(data_of::<registry::LeaseResponse>(&r)?.lease_id)
    }

    /// Discharges a lease (its tenant or an official).
    ///
    /// # Errors
    /// As [`Registry::register_parcel`].
    pub async fn discharge_lease(
        &self,
        signer: &Signer,
        parcel_id: &str,
        lease_id: u64,
    ) -> Result<Receipt> {
        let msg = registry::ExecuteMsg::DischargeLease {
            parcel_id: parcel_id.to_string(),
            lease_id,
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// Files the holder bank's payoff statement for its lien (that bank only): the debt on the
    /// day, at most the lien's registered maximum, valid until block time `valid_until` (unix
    /// seconds, in the future). Settlement pays exactly this and discharges the lien.
    ///
    /// # Errors
    /// As [`Registry::register_parcel`].
    pub async fn file_payoff(
        &self,
        signer: &Signer,
        parcel_id: &str,
        lien_id: u64,
        amount: u128,
        valid_until: u64,
    ) -> Result<Receipt> {
        let msg = registry::ExecuteMsg::FilePayoff {
            parcel_id: parcel_id.to_string(),
            lien_id,
            amount: Amount(amount),
            valid_until,
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// Discharges a lien (the holder bank or an official).
    ///
    /// # Errors
    /// As [`Registry::register_parcel`].
    pub async fn discharge_lien(
        &self,
        signer: &Signer,
        parcel_id: &str,
        lien_id: u64,
    ) -> Result<Receipt> {
        let msg = registry::ExecuteMsg::DischargeLien {
            parcel_id: parcel_id.to_string(),
            lien_id,
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// Freezes a title on a court order (official); `court_order_hash` is 64 hex digits.
    /// Returns the seizure id.
    ///
    /// # Errors
    /// As [`Registry::register_parcel`].
    pub async fn freeze(
        &self,
        signer: &Signer,
        parcel_id: &str,
        court_order_hash: &str,
    ) -> Result<u64> {
        let msg = registry::ExecuteMsg::Freeze {
            parcel_id: parcel_id.to_string(),
            court_order_hash: court_order_hash.to_string(),
        };
        let r = self.client.execute(signer, self.address, &msg).await?;
        Ok(data_of::<registry::SeizureResponse>(&r)?.seizure_id)
    }

    /// Lifts a seizure (official).
    ///
    /// # Errors
    /// As [`Registry::register_parcel`].
    pub async fn unfreeze(
        &self,
        signer: &Signer,
        parcel_id: &str,
        seizure_id: u64,
    ) -> Result<Receipt> {
        let msg = registry::ExecuteMsg::Unfreeze {
            parcel_id: parcel_id.to_string(),
            seizure_id,
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// Replaces the approval policy (authority); `max_deal_secs` bounds how far ahead a deal's
    /// deadline may lie (`None`: the registry's default, 365 days).
    ///
    /// # Errors
    /// As [`Registry::register_parcel`].
    pub async fn set_policy(
        &self,
        signer: &Signer,
        threshold: u32,
        officials: &[Address],
        max_deal_secs: Option<u64>,
    ) -> Result<Receipt> {
        let msg = registry::ExecuteMsg::SetPolicy {
            threshold,
            officials: officials.to_vec(),
            max_deal_secs: max_deal_secs.unwrap_or(registry::DEFAULT_MAX_DEAL_SECS),
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// The parcel: owners, encumbrances, frozen, history length...
    ///
    /// # Errors
    /// [`ClientError::Status`] if the query fails (e.g. `parcel P not found`).
    pub async fn parcel(&self, parcel_id: &str) -> Result<registry::Parcel> {
        let msg = registry::QueryMsg::Parcel {
            parcel_id: parcel_id.to_string(),
        };
        self.client.query(self.address, &msg).await
    }

    /// A page of the parcel's history, in sequence order.
    ///
    /// # Errors
    /// As [`Registry::parcel`].
    pub async fn history(
        &self,
        parcel_id: &str,
        start_after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<registry::HistoryResponse> {
        let msg = registry::QueryMsg::History {
            parcel_id: parcel_id.to_string(),
            start_after,
            limit,
        };
        self.client.query(self.address, &msg).await
    }

    /// A page of the parcel's past (discharged or lifted) encumbrances, in rank order.
    ///
    /// # Errors
    /// As [`Registry::parcel`].
    pub async fn past_encumbrances(
        &self,
        parcel_id: &str,
        start_after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<registry::PastEncumbrancesResponse> {
        let msg = registry::QueryMsg::PastEncumbrances {
            parcel_id: parcel_id.to_string(),
            start_after,
            limit,
        };
        self.client.query(self.address, &msg).await
    }

    /// The approval policy.
    ///
    /// # Errors
    /// As [`Registry::parcel`].
    pub async fn policy(&self) -> Result<registry::Policy> {
        self.client
            .query(self.address, &registry::QueryMsg::Policy {})
            .await
    }

    /// The parcel's title with a proof against a signed, committed header.
    ///
    /// # Errors
    /// As [`Client::title_proof`].
    pub async fn title_proof(&self, parcel_id: &str) -> Result<TitleProof> {
        self.client.title_proof(self.address, parcel_id).await
    }
}

/// The KRW deposit token.
#[derive(Debug, Clone)]
pub struct Krw<'a> {
    client: &'a Client,
    address: Address,
}

impl<'a> Krw<'a> {
    /// The token at `address`.
    pub fn new(client: &'a Client, address: Address) -> Self {
        Krw { client, address }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Issues `amount` to `to` (enrolled bank).
    ///
    /// # Errors
    /// [`ClientError::Contract`] with the token's refusal, or a transport/node error.
    pub async fn mint(&self, signer: &Signer, to: Address, amount: u128) -> Result<Receipt> {
        let msg = krw::ExecuteMsg::Mint {
            to,
            amount: Amount(amount),
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// Redeems `amount` from the bank's own balance.
    ///
    /// # Errors
    /// As [`Krw::mint`].
    pub async fn burn(&self, signer: &Signer, amount: u128) -> Result<Receipt> {
        let msg = krw::ExecuteMsg::Burn {
            amount: Amount(amount),
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// Moves `amount` to `to`.
    ///
    /// # Errors
    /// As [`Krw::mint`].
    pub async fn transfer(&self, signer: &Signer, to: Address, amount: u128) -> Result<Receipt> {
        let msg = krw::ExecuteMsg::Transfer {
            to,
            amount: Amount(amount),
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// Moves `amount` to `contract` and calls its `receive` with `msg`; fails if it fails.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] if `msg` is not JSON; as [`Krw::mint`].
    pub async fn send<T: Serialize + ?Sized>(
        &self,
        signer: &Signer,
        contract: Address,
        amount: u128,
        msg: &T,
    ) -> Result<Receipt> {
        let msg = serde_json::to_value(msg)
            .map_err(|e| ClientError::Invalid(format!("send message to JSON: {e}")))?;
        let msg = krw::ExecuteMsg::Send {
            contract,
            amount: Amount(amount),
            msg,
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// Funds deal `deal_id`'s escrow with its price (buyer): a `send` with `{"fund": {deal_id}}`.
    ///
    /// # Errors
    /// As [`Krw::mint`].
    pub async fn fund_escrow(
        &self,
        signer: &Signer,
        escrow: Address,
        deal_id: u64,
        price: u128,
    ) -> Result<Receipt> {
        self.send(signer, escrow, price, &escrow::FundMsg::Fund { deal_id })
            .await
    }

    /// A seller walks away from a staged deal under the earnest-money rule: sends `deposit`
    /// (exactly the deposit the buyer paid) to the escrow with `{"withdraw": {"deal_id"}}`;
    /// the buyer receives the deposit doubled.
    ///
    /// # Errors
    /// As [`Krw::send`].
    pub async fn withdraw_as_seller(
        &self,
        signer: &Signer,
        escrow: Address,
        deal_id: u64,
        deposit: u128,
    ) -> Result<Receipt> {
        self.send(
            signer,
            escrow,
            deposit,
            &escrow::FundMsg::Withdraw { deal_id },
        )
        .await
    }

    /// The balance of `address`.
    ///
    /// # Errors
    /// [`ClientError::Status`] if the query fails; [`ClientError::Decode`] on a bad answer.
    pub async fn balance(&self, address: Address) -> Result<u128> {
        let msg = krw::QueryMsg::Balance { address };
        let answer: krw::BalanceResponse = self.client.query(self.address, &msg).await?;
        Ok(answer.balance.0)
    }

    /// The total supply.
    ///
    /// # Errors
    /// As [`Krw::balance`].
    pub async fn supply(&self) -> Result<u128> {
        let answer: krw::SupplyResponse = self
            .client
            .query(self.address, &krw::QueryMsg::Supply {})
            .await?;
        Ok(answer.total_supply.0)
    }
}

/// An amount of KRW for people: thousands separated, with the unit.
///
/// ```
/// assert_eq!(hanok_client::format_krw(900_000_000), "900,000,000 KRW");
/// assert_eq!(hanok_client::format_krw(0), "0 KRW");
/// ```
pub fn format_krw(v: u128) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 4);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out.push_str(" KRW");
    out
}

/// Unix seconds (a block time) as `YYYY-MM-DDTHH:MM:SSZ`, proleptic Gregorian, UTC.
///
/// ```
/// assert_eq!(hanok_client::format_utc(1_767_312_000), "2026-01-02T00:00:00Z");
/// ```
pub fn format_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// The fields of a deal's `open`: the terms the broker proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDeal {
    /// The parcel for sale.
    pub parcel_id: String,
    /// Its sole owner; or the first of the co-owners selling it whole (see `co_sellers`); or,
    /// with `share_sale`, the co-owner selling their share.
    pub seller: Address,
    /// The buyer.
    pub buyer: Address,
    /// The price in KRW.
    pub price: u128,
    /// Block time (Unix seconds) after which the deal expires; at most the registry policy's
    /// `max_deal_secs` (365 days by default) ahead.
    pub deadline: u64,
    /// The buyer's lender and the most it may register; `None` for a sale without a new
    /// mortgage.
    pub lender: Option<deal::Lender>,
    /// The other co-owners, when a co-owned parcel is sold whole (each accepts, signs and is
    /// paid by share); empty otherwise.
    pub co_sellers: Vec<Address>,
    /// Sell only `seller`'s share of a co-owned parcel (no co-sellers, no lender).
    pub share_sale: bool,
    /// Pay in stages (deposit, optional interim, balance); `None`: the whole price at once.
    pub schedule: Option<deal::Schedule>,
}

impl OpenDeal {
    /// The `open` message.
    pub fn to_msg(&self) -> deal::ExecuteMsg {
        deal::ExecuteMsg::Open {
            parcel_id: self.parcel_id.clone(),
            seller: self.seller,
            buyer: self.buyer,
            price: Amount(self.price),
            deadline: self.deadline,
            lender: self.lender,
            co_sellers: self.co_sellers.clone(),
            share_sale: self.share_sale,
            schedule: self.schedule,
        }
    }
}

/// The deal (title-transfer) contract.
#[derive(Debug, Clone)]
pub struct Deal<'a> {
    client: &'a Client,
    address: Address,
}

impl<'a> Deal<'a> {
    /// The deal contract at `address`.
    pub fn new(client: &'a Client, address: Address) -> Self {
        Deal { client, address }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.address
    }

    async fn run(&self, signer: &Signer, msg: deal::ExecuteMsg) -> Result<Receipt> {
        self.client.execute(signer, self.address, &msg).await
    }

    /// Proposes a deal (enrolled broker); returns the deal id. The deal binds nothing until the
    /// seller accepts it ([`Deal::accept`]).
    ///
    /// # Errors
    /// [`ClientError::Contract`] with the deal contract's refusal, or a transport/node error.
    pub async fn open(&self, signer: &Signer, deal: &OpenDeal) -> Result<u64> {
        let r = self.run(signer, deal.to_msg()).await?;
        Ok(data_of::<deal::OpenResponse>(&r)?.deal_id)
    }

    /// Accepts a proposed deal (the seller): from then on the deal holds the parcel.
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn accept(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.run(signer, deal::ExecuteMsg::Accept { deal_id }).await
    }

    /// Attaches the buyer's new mortgage (the lender the deal names, at most its `max_amount`,
    /// before anyone signed); recorded as a lien at settlement.
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn attach_mortgage(
        &self,
        signer: &Signer,
        deal_id: u64,
        amount: u128,
    ) -> Result<Receipt> {
        let msg = deal::ExecuteMsg::AttachMortgage {
            deal_id,
            amount: Amount(amount),
        };
        self.run(signer, msg).await
    }

    /// Signs the agreement (seller or buyer) over `terms`, which must be the deal's current
    /// terms: read them with [`Deal::terms`] and show them to the signer first.
    ///
    /// # Errors
    /// As [`Deal::open`]; `terms mismatch: ...` if the deal's terms are not `terms`.
    pub async fn sign(&self, signer: &Signer, deal_id: u64, terms: &Terms) -> Result<Receipt> {
        let msg = deal::ExecuteMsg::Sign {
            deal_id,
            terms: *terms,
        };
        self.run(signer, msg).await
    }

    /// The terms a signature on the deal must cover now.
    ///
    /// # Errors
    /// As [`Deal::deal`].
    pub async fn terms(&self, deal_id: u64) -> Result<Terms> {
        Ok(self.deal(deal_id).await?.terms())
    }

    /// Approves the transfer (an official of the registry's policy).
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn approve(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.run(signer, deal::ExecuteMsg::Approve { deal_id })
            .await
    }

    /// Rejects the transfer (an official of the registry's policy), saying why: the contract
    /// stores `reason` trimmed on the deal (`rejection_reason`) and puts it in the
    /// `deal_rejected` event.
    ///
    /// # Errors
    /// As [`Deal::open`]; the contract refuses a reason that is empty after trimming
    /// (`a rejection must say why: ...`) or longer than
    /// [`deal::MAX_REJECTION_REASON_BYTES`] bytes.
    pub async fn reject(&self, signer: &Signer, deal_id: u64, reason: &str) -> Result<Receipt> {
        let msg = deal::ExecuteMsg::Reject {
            deal_id,
            reason: reason.to_string(),
        };
        self.run(signer, msg).await
    }

    /// Settles: pays off liens, pays the seller, moves the title, records the new lien — one
    /// atomic transaction.
    ///
    /// # Errors
    /// As [`Deal::open`]; e.g. `payoff short: ...` as [`ClientError::Contract`].
    pub async fn settle(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.run(signer, deal::ExecuteMsg::Settle { deal_id }).await
    }

    /// Cancels an unfunded deal (broker, seller or buyer).
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn cancel(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.run(signer, deal::ExecuteMsg::Cancel { deal_id }).await
    }

    /// Reclaims the escrow (buyer): after rejection or after the deadline.
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn refund(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.run(signer, deal::ExecuteMsg::Refund { deal_id }).await
    }

    /// The deal: parties, price, deadline, status, signatures, approvals...
    ///
    /// # Errors
    /// [`ClientError::Status`] if the query fails (e.g. `deal N not found`).
    pub async fn deal(&self, deal_id: u64) -> Result<deal::Deal> {
        self.client
            .query(self.address, &deal::QueryMsg::Deal { deal_id })
            .await
    }

    /// The accepted deal holding a parcel, if any (not one whose deadline has passed).
    ///
    /// # Errors
    /// As [`Deal::deal`].
    pub async fn deal_by_parcel(&self, parcel_id: &str) -> Result<Option<u64>> {
        let msg = deal::QueryMsg::DealByParcel {
            parcel_id: parcel_id.to_string(),
        };
        let answer: deal::DealByParcelResponse = self.client.query(self.address, &msg).await?;
        Ok(answer.deal_id)
    }

    /// A page of the officials' approval queue: the deals whose status is `signed` (both
    /// parties signed, the policy's threshold not reached yet), in deal id order, after
    /// `start_after`, at most `limit` of them (default [`deal::AWAITING_DEFAULT_LIMIT`]; the
    /// contract clamps a larger one to [`deal::AWAITING_MAX_LIMIT`]). A signed deal past its
    /// deadline stays listed until it is refunded or expired: compare its `deadline` with the
    /// block time. For the next page pass the last id as `start_after`.
    ///
    /// # Errors
    /// As [`Deal::deal`].
    pub async fn awaiting_approval(
        &self,
        start_after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<deal::Deal>> {
        let msg = deal::QueryMsg::AwaitingApproval { start_after, limit };
        let answer: deal::DealsResponse = self.client.query(self.address, &msg).await?;
        Ok(answer.deals)
    }

    /// A deal's transaction report (부동산 거래신고): filed by the contract when both parties
    /// have signed, completed at settlement, marked cancelled if the sale falls through.
    ///
    /// # Errors
    /// As [`Deal::deal`]; a deal whose contract was never concluded has none.
    pub async fn report(&self, deal_id: u64) -> Result<deal::TransactionReport> {
        self.client
            .query(self.address, &deal::QueryMsg::Report { deal_id })
            .await
    }

    /// A page of transaction reports in deal id order (at most 50; 20 by default), after
    /// `start_after`: what a municipality reads.
    ///
    /// # Errors
    /// As [`Deal::deal`].
    pub async fn reports(
        &self,
        start_after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<deal::TransactionReport>> {
        let msg = deal::QueryMsg::Reports { start_after, limit };
        let answer: deal::ReportsResponse = self.client.query(self.address, &msg).await?;
        Ok(answer.reports)
    }
}

/// The identity (roles) contract.
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    client: &'a Client,
    address: Address,
}

impl<'a> Identity<'a> {
    /// The identity contract at `address`.
    pub fn new(client: &'a Client, address: Address) -> Self {
        Identity { client, address }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Replaces `address`'s roles (authority); a person hash it had stays.
    ///
    /// # Errors
    /// [`ClientError::Contract`] with the refusal, or a transport/node error.
    pub async fn enrol(
        &self,
        signer: &Signer,
        address: Address,
        roles: &[Role],
    ) -> Result<Receipt> {
        self.enrol_person(signer, address, roles, None).await
    }

    /// Replaces `address`'s roles and, when given, binds it to a person: `person_hash` is
    /// `sha256(salt ‖ resident number)` as 64 lowercase hex, computed off-chain (authority).
    ///
    /// # Errors
    /// As [`Identity::enrol`].
    pub async fn enrol_person(
        &self,
        signer: &Signer,
        address: Address,
        roles: &[Role],
        person_hash: Option<&str>,
    ) -> Result<Receipt> {
        let msg = identity::ExecuteMsg::Enrol {
            address,
            roles: roles.to_vec(),
            person_hash: person_hash.map(str::to_string),
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// The person hash enrolled with `address`, if any.
    ///
    /// # Errors
    /// As [`Identity::roles`].
    pub async fn person(&self, address: Address) -> Result<Option<String>> {
        let r: identity::PersonResponse = self
            .client
            .query(self.address, &identity::QueryMsg::Person { address })
            .await?;
        Ok(r.person_hash)
    }

    /// Removes every role of `address` (authority).
    ///
    /// # Errors
    /// As [`Identity::enrol`].
    pub async fn revoke(&self, signer: &Signer, address: Address) -> Result<Receipt> {
        let msg = identity::ExecuteMsg::Revoke { address };
        self.client.execute(signer, self.address, &msg).await
    }

    /// `address`'s roles and whether it is enrolled.
    ///
    /// # Errors
    /// [`ClientError::Status`] if the query fails; [`ClientError::Decode`] on a bad answer.
    pub async fn roles(&self, address: Address) -> Result<identity::RolesResponse> {
        self.client
            .query(self.address, &identity::QueryMsg::Roles { address })
            .await
    }

    /// A page of the members with `role`, in address order.
    ///
    /// # Errors
    /// As [`Identity::roles`].
    pub async fn members(
        &self,
        role: Role,
        start_after: Option<Address>,
        limit: Option<u32>,
    ) -> Result<identity::MembersResponse> {
        let msg = identity::QueryMsg::Members {
            role,
            start_after,
            limit,
        };
        self.client.query(self.address, &msg).await
    }
}

/// The acquisition-tax contract: its rate table, quotes and the first-home relief register.
#[derive(Debug, Clone, Copy)]
pub struct Tax<'a> {
    client: &'a Client,
    address: Address,
}

impl<'a> Tax<'a> {
    /// The tax contract at `address`.
    pub fn new(client: &'a Client, address: Address) -> Self {
        Tax { client, address }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Replaces the rate table, the relief rule and the municipality's account (tax-official).
    ///
    /// # Errors
    /// [`ClientError::Contract`] with the refusal, or a transport/node error.
    pub async fn set_rates(
        &self,
        signer: &Signer,
        bands: &[tax::Band],
        relief: Option<tax::ReliefRule>,
        municipality: Address,
    ) -> Result<Receipt> {
        let msg = tax::ExecuteMsg::SetRates {
            bands: bands.to_vec(),
            relief,
            municipality,
        };
        self.client.execute(signer, self.address, &msg).await
    }

    /// The table in force.
    ///
    /// # Errors
    /// [`ClientError::Status`] if the query fails; [`ClientError::Decode`] on a bad answer.
    pub async fn rates(&self) -> Result<tax::RatesResponse> {
        self.client
            .query(self.address, &tax::QueryMsg::Rates {})
            .await
    }

    /// The full-rate tax on `price` under the table in force.
    ///
    /// # Errors
    /// As [`Tax::rates`].
    pub async fn quote(&self, price: u128) -> Result<tax::Quote> {
        let msg = tax::QueryMsg::Quote {
            price: Amount(price),
        };
        self.client.query(self.address, &msg).await
    }

    /// Whether `address`'s person claimed the first-home relief.
    ///
    /// # Errors
    /// As [`Tax::rates`].
    pub async fn relief_of(&self, address: Address) -> Result<tax::ReliefOfResponse> {
        self.client
            .query(self.address, &tax::QueryMsg::ReliefOf { address })
            .await
    }
}

impl Client {
    /// The acquisition-tax contract at `address`.
    pub fn tax(&self, address: Address) -> Tax<'_> {
        Tax::new(self, address)
    }

    /// The registry contract at `address`.
    pub fn registry(&self, address: Address) -> Registry<'_> {
        Registry::new(self, address)
    }

    /// The KRW token at `address`.
    pub fn krw(&self, address: Address) -> Krw<'_> {
        Krw::new(self, address)
    }

    /// The deal contract at `address`.
    pub fn deal(&self, address: Address) -> Deal<'_> {
        Deal::new(self, address)
    }

    /// The identity contract at `address`.
    pub fn identity(&self, address: Address) -> Identity<'_> {
        Identity::new(self, address)
    }
}
