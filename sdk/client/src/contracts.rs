//! Typed clients of the five system contracts: thin JSON wrappers with the message shapes of
//! `docs/contracts.md`. Answers are `serde_json::Value` unless a number is all a caller needs.

use crate::client::{call_result, Client};
use crate::error::{ClientError, Result};
use crate::proof::TitleProof;
use crate::signer::Signer;
use hanok_proto::v1::Receipt;
use hanok_types::Address;
use serde::Serialize;
use serde_json::{json, Value};

/// Reads a `u64` field from call 0's JSON data (e.g. `{"lien_id": 3}`).
fn id_from(receipt: &Receipt, field: &str) -> Result<u64> {
    let data = call_result(receipt, 0)?;
    data.get(field).and_then(Value::as_u64).ok_or_else(|| {
        ClientError::Decode(format!(
            "expected {{\"{field}\": n}} in the call result, got {data}"
        ))
    })
}

/// Reads a decimal-string amount field (`{"balance": "900000000"}`).
fn amount_from(v: &Value, field: &str) -> Result<u128> {
    v.get(field)
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<u128>().ok())
        .ok_or_else(|| {
            ClientError::Decode(format!("expected {{\"{field}\": \"<u128>\"}}, got {v}"))
        })
}

/// An owner and share of a parcel being registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// The owner's address.
    pub owner: Address,
    /// Share in basis points; the shares of a parcel sum to 10000.
    pub share_bps: u32,
}

/// The fields of `register_parcel`. No personal data: owners are addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewParcel {
    /// Id, 1 to 64 bytes, unique.
    pub parcel_id: String,
    /// Lot number.
    pub lot_number: String,
    /// Street address.
    pub address: String,
    /// Area in hundredths of m².
    pub area_m2_hundredths: u64,
    /// `residential`, `commercial`, `industrial`, `agricultural`, `forest` or `other`.
    pub land_use: String,
    /// 1 to 16 distinct owners.
    pub owners: Vec<Owner>,
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
            .execute(signer, self.address, &json!({ "register_parcel": parcel }))
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
        let msg = json!({"record_lien": {
            "parcel_id": parcel_id, "holder": holder, "amount": amount.to_string(),
        }});
        let r = self.client.execute(signer, self.address, &msg).await?;
        id_from(&r, "lien_id")
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
        let msg = json!({"discharge_lien": {"parcel_id": parcel_id, "lien_id": lien_id}});
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
        let msg = json!({"freeze": {"parcel_id": parcel_id, "court_order_hash": court_order_hash}});
        let r = self.client.execute(signer, self.address, &msg).await?;
        id_from(&r, "seizure_id")
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
        let msg = json!({"unfreeze": {"parcel_id": parcel_id, "seizure_id": seizure_id}});
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
        let mut policy = json!({"threshold": threshold, "officials": officials});
        if let Some(secs) = max_deal_secs {
            policy["max_deal_secs"] = json!(secs);
        }
        self.client
            .execute(signer, self.address, &json!({ "set_policy": policy }))
            .await
    }

    /// The parcel: owners, encumbrances, frozen, history length...
    ///
    /// # Errors
    /// [`ClientError::Status`] if the query fails (e.g. `parcel P not found`).
    pub async fn parcel(&self, parcel_id: &str) -> Result<Value> {
        self.client
            .query(self.address, &json!({"parcel": {"parcel_id": parcel_id}}))
            .await
    }

    /// A page of the parcel's history: `{"entries": [{seq, height, time, action, detail}]}`.
    ///
    /// # Errors
    /// As [`Registry::parcel`].
    pub async fn history(
        &self,
        parcel_id: &str,
        start_after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Value> {
        let msg = json!({"history": {"parcel_id": parcel_id, "start_after": start_after, "limit": limit}});
        self.client.query(self.address, &msg).await
    }

    /// A page of the parcel's past (discharged or lifted) encumbrances, in rank order:
    /// `{"encumbrances": [{id, rank, kind, active: false, recorded_height, ended_height}]}`.
    ///
    /// # Errors
    /// As [`Registry::parcel`].
    pub async fn past_encumbrances(
        &self,
        parcel_id: &str,
        start_after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Value> {
        let msg = json!({"past_encumbrances": {"parcel_id": parcel_id, "start_after": start_after, "limit": limit}});
        self.client.query(self.address, &msg).await
    }

    /// The approval policy: `{"threshold", "officials", "max_deal_secs"}`.
    ///
    /// # Errors
    /// As [`Registry::parcel`].
    pub async fn policy(&self) -> Result<Value> {
        self.client
            .query(self.address, &json!({"policy": {}}))
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
        let msg = json!({"mint": {"to": to, "amount": amount.to_string()}});
        self.client.execute(signer, self.address, &msg).await
    }

    /// Redeems `amount` from the bank's own balance.
    ///
    /// # Errors
    /// As [`Krw::mint`].
    pub async fn burn(&self, signer: &Signer, amount: u128) -> Result<Receipt> {
        let msg = json!({"burn": {"amount": amount.to_string()}});
        self.client.execute(signer, self.address, &msg).await
    }

    /// Moves `amount` to `to`.
    ///
    /// # Errors
    /// As [`Krw::mint`].
    pub async fn transfer(&self, signer: &Signer, to: Address, amount: u128) -> Result<Receipt> {
        let msg = json!({"transfer": {"to": to, "amount": amount.to_string()}});
        self.client.execute(signer, self.address, &msg).await
    }

    /// Moves `amount` to `contract` and calls its `receive` with `msg`; fails if it fails.
    ///
    /// # Errors
    /// As [`Krw::mint`].
    pub async fn send<T: Serialize + ?Sized>(
        &self,
        signer: &Signer,
        contract: Address,
        amount: u128,
        msg: &T,
    ) -> Result<Receipt> {
        let msg = json!({"send": {"contract": contract, "amount": amount.to_string(), "msg": msg}});
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
        self.send(
            signer,
            escrow,
            price,
            &json!({"fund": {"deal_id": deal_id}}),
        )
        .await
    }

    /// The balance of `address`.
    ///
    /// # Errors
    /// [`ClientError::Status`] if the query fails; [`ClientError::Decode`] on a bad answer.
    pub async fn balance(&self, address: Address) -> Result<u128> {
        let v: Value = self
            .client
            .query(self.address, &json!({"balance": {"address": address}}))
            .await?;
        amount_from(&v, "balance")
    }

    /// The total supply.
    ///
    /// # Errors
    /// As [`Krw::balance`].
    pub async fn supply(&self) -> Result<u128> {
        let v: Value = self
            .client
            .query(self.address, &json!({"supply": {}}))
            .await?;
        amount_from(&v, "total_supply")
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

/// The fields of a deal's `open`: the terms the broker proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDeal {
    /// The parcel for sale.
    pub parcel_id: String,
    /// Its sole owner.
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
    pub lender: Option<Lender>,
}

/// The buyer's lender as a deal's terms name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lender {
    /// The lending bank: the only one that may attach the buyer's mortgage.
    pub bank: Address,
    /// The most it may register, KRW.
    pub max_amount: u128,
}

/// The terms a signature covers; `sign` sends them and the deal contract refuses a signature
/// over anything but its current terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedTerms {
    /// The price in KRW.
    pub price: u128,
    /// The deadline, Unix seconds of block time.
    pub deadline: u64,
    /// The buyer's lender the deal names.
    pub lender: Option<Address>,
    /// The mortgage that lender attached, KRW.
    pub mortgage_amount: Option<u128>,
}

impl SignedTerms {
    /// The terms of a deal as the `deal` query returns it.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if the answer lacks a field or holds a malformed one.
    pub fn of_deal(deal: &Value) -> Result<SignedTerms> {
        let bad = |what: &str| ClientError::Decode(format!("deal has no readable {what}: {deal}"));
        let address = |v: &Value| {
            v.as_str()
                .and_then(|s| s.parse::<Address>().ok())
                .ok_or_else(|| bad("address"))
        };
        let lender = match deal.get("lender") {
            None | Some(Value::Null) => None,
            Some(l) => Some(address(l.get("bank").ok_or_else(|| bad("lender bank"))?)?),
        };
        let mortgage_amount = match deal.get("mortgage") {
            None | Some(Value::Null) => None,
            Some(m) => Some(amount_from(m, "amount")?),
        };
        Ok(SignedTerms {
            price: amount_from(deal, "price")?,
            deadline: deal
                .get("deadline")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("deadline"))?,
            lender,
            mortgage_amount,
        })
    }

    /// The terms as the `sign` message carries them (amounts as decimal strings).
    pub fn to_json(self) -> Value {
        json!({
            "price": self.price.to_string(),
            "deadline": self.deadline,
            "lender": self.lender,
            "mortgage_amount": self.mortgage_amount.map(|a| a.to_string()),
        })
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

    async fn by_id(&self, signer: &Signer, action: &str, deal_id: u64) -> Result<Receipt> {
        let msg = json!({ action: {"deal_id": deal_id} });
        self.client.execute(signer, self.address, &msg).await
    }

    /// Proposes a deal (enrolled broker); returns the deal id. The deal binds nothing until the
    /// seller accepts it ([`Deal::accept`]).
    ///
    /// # Errors
    /// [`ClientError::Contract`] with the deal contract's refusal, or a transport/node error.
    pub async fn open(&self, signer: &Signer, deal: &OpenDeal) -> Result<u64> {
        let mut open = json!({
            "parcel_id": deal.parcel_id, "seller": deal.seller, "buyer": deal.buyer,
            "price": deal.price.to_string(), "deadline": deal.deadline,
        });
        if let Some(l) = deal.lender {
            open["lender"] = json!({"bank": l.bank, "max_amount": l.max_amount.to_string()});
        }
        let r = self
            .client
            .execute(signer, self.address, &json!({ "open": open }))
            .await?;
        id_from(&r, "deal_id")
    }

    /// Accepts a proposed deal (the seller): from then on the deal holds the parcel.
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn accept(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.by_id(signer, "accept", deal_id).await
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
        let msg = json!({"attach_mortgage": {"deal_id": deal_id, "amount": amount.to_string()}});
        self.client.execute(signer, self.address, &msg).await
    }

    /// Signs the agreement (seller or buyer) over `terms`, which must be the deal's current
    /// terms: read them with [`Deal::terms`] and show them to the signer first.
    ///
    /// # Errors
    /// As [`Deal::open`]; `terms mismatch: ...` if the deal's terms are not `terms`.
    pub async fn sign(
        &self,
        signer: &Signer,
        deal_id: u64,
        terms: &SignedTerms,
    ) -> Result<Receipt> {
        let msg = json!({"sign": {"deal_id": deal_id, "terms": terms.to_json()}});
        self.client.execute(signer, self.address, &msg).await
    }

    /// The terms a signature on the deal must cover now.
    ///
    /// # Errors
    /// As [`Deal::deal`]; [`ClientError::Decode`] on a bad answer.
    pub async fn terms(&self, deal_id: u64) -> Result<SignedTerms> {
        SignedTerms::of_deal(&self.deal(deal_id).await?)
    }

    /// Approves the transfer (an official of the registry's policy).
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn approve(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.by_id(signer, "approve", deal_id).await
    }

    /// Rejects the transfer (an official of the registry's policy).
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn reject(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.by_id(signer, "reject", deal_id).await
    }

    /// Settles: pays off liens, pays the seller, moves the title, records the new lien — one
    /// atomic transaction.
    ///
    /// # Errors
    /// As [`Deal::open`]; e.g. `payoff short: ...` as [`ClientError::Contract`].
    pub async fn settle(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.by_id(signer, "settle", deal_id).await
    }

    /// Cancels an unfunded deal (broker, seller or buyer).
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn cancel(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.by_id(signer, "cancel", deal_id).await
    }

    /// Reclaims the escrow (buyer): after rejection or after the deadline.
    ///
    /// # Errors
    /// As [`Deal::open`].
    pub async fn refund(&self, signer: &Signer, deal_id: u64) -> Result<Receipt> {
        self.by_id(signer, "refund", deal_id).await
    }

    /// The deal: parties, price, deadline, status, signatures, approvals...
    ///
    /// # Errors
    /// [`ClientError::Status`] if the query fails (e.g. `deal N not found`).
    pub async fn deal(&self, deal_id: u64) -> Result<Value> {
        self.client
            .query(self.address, &json!({"deal": {"deal_id": deal_id}}))
            .await
    }

    /// The accepted deal holding a parcel, if any (not one whose deadline has passed).
    ///
    /// # Errors
    /// As [`Deal::deal`]; [`ClientError::Decode`] on a bad answer.
    pub async fn deal_by_parcel(&self, parcel_id: &str) -> Result<Option<u64>> {
        let v: Value = self
            .client
            .query(
                self.address,
                &json!({"deal_by_parcel": {"parcel_id": parcel_id}}),
            )
            .await?;
        match v.get("deal_id") {
            Some(Value::Null) | None => Ok(None),
            Some(id) => id
                .as_u64()
                .map(Some)
                .ok_or_else(|| ClientError::Decode(format!("deal_id is not a number in {v}"))),
        }
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

    /// Replaces `address`'s roles (authority): `authority`, `official`, `bank`, `broker`,
    /// `citizen`.
    ///
    /// # Errors
    /// [`ClientError::Contract`] with the refusal, or a transport/node error.
    pub async fn enrol(
        &self,
        signer: &Signer,
        address: Address,
        roles: &[&str],
    ) -> Result<Receipt> {
        let msg = json!({"enrol": {"address": address, "roles": roles}});
        self.client.execute(signer, self.address, &msg).await
    }

    /// Removes every role of `address` (authority).
    ///
    /// # Errors
    /// As [`Identity::enrol`].
    pub async fn revoke(&self, signer: &Signer, address: Address) -> Result<Receipt> {
        let msg = json!({"revoke": {"address": address}});
        self.client.execute(signer, self.address, &msg).await
    }

    /// `{"address", "roles": [..], "enrolled": bool}`.
    ///
    /// # Errors
    /// [`ClientError::Status`] if the query fails.
    pub async fn roles(&self, address: Address) -> Result<Value> {
        self.client
            .query(self.address, &json!({"roles": {"address": address}}))
            .await
    }

    /// A page of the members with `role`: `{"members": [address]}`.
    ///
    /// # Errors
    /// As [`Identity::roles`].
    pub async fn members(
        &self,
        role: &str,
        start_after: Option<Address>,
        limit: Option<u32>,
    ) -> Result<Value> {
        let msg = json!({"members": {"role": role, "start_after": start_after, "limit": limit}});
        self.client.query(self.address, &msg).await
    }
}

impl Client {
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
