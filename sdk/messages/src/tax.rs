//! The acquisition-tax contract's interface (취득세): the rate table by price band, the
//! first-home relief (생애최초 주택 구입 감면) and its register of claims, and the assessment the
//! deal contract asks for at settlement.
//!
//! A rate table is a list of [`Band`]s in price order; a band has a flat rate, or a rate that
//! rises linearly across it (how the Local Tax Act words the 6억–9억 band for homes: 1 % at
//! 6억 rising to 3 % at 9억). A tax-official sets the table, the relief rule and the
//! municipality's account with [`ExecuteMsg::SetRates`]. The deal contract quotes the
//! full-rate tax when a deal binds its parcel (the buyer pays it into escrow with the last
//! payment) and asks for the [`Assessment`] in the settlement's own transaction: the relief
//! applies if the buyer's person (the person hash the authority enrolled with the buyer's key)
//! never claimed it, and the claim is recorded there and then, so it can be claimed once per
//! person, whatever key or bank the person uses next.

use alloc::string::String;
use alloc::vec::Vec;
use hanok_abi::{Address, Amount};
use serde::{Deserialize, Serialize};

/// Most bands a rate table may have.
pub const MAX_BANDS: usize = 16;

/// Basis points in the whole (100 %).
pub const BPS: u32 = 10_000;

/// Instantiate message. A genesis may set the table at once (`bands`, `relief`,
/// `municipality`); otherwise a tax-official sets it later, and until then no tax is quoted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InstantiateMsg {
    /// The identity contract: roles and enrolled person hashes.
    pub identity: Address,
    /// The deal contract, the only caller of `assess`.
    pub deal: Address,
    /// The rate table, in price order (may be empty: no tax until it is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<Band>,
    /// The first-home relief, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relief: Option<ReliefRule>,
    /// The municipality's account, which receives the tax (required with `bands`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality: Option<Address>,
}

/// One price band of the rate table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// The highest price in this band (inclusive); absent for the last band, which has no top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<Amount>,
    /// The rate, in basis points of the price (100 = 1 %); for a sliding band, the rate at the
    /// band's bottom.
    pub rate_bps: u32,
    /// For a sliding band, the rate at its top (`up_to`): in between, the rate rises linearly
    /// with the price, rounded down to a basis point. Absent: a flat rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bps_at_top: Option<u32>,
}

/// The first-home relief: a buyer who never claimed it pays `max_reduction` less tax (never
/// below zero), for a home priced at most `max_price`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReliefRule {
    /// The highest price the relief applies to.
    pub max_price: Amount,
    /// The most the relief takes off the tax, positive.
    pub max_reduction: Amount,
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecuteMsg {
    /// Replaces the rate table, the relief rule and the municipality's account (tax-official
    /// only). Deals quoted before keep their quote; the relief rule in force at settlement
    /// decides the relief.
    SetRates {
        /// The bands in price order: each `up_to` above the one before, only the last without
        /// one; rates at most 10000 bps; at most 16 bands. Empty: no tax is quoted from now on.
        bands: Vec<Band>,
        /// The first-home relief, or null for none.
        #[serde(default)]
        relief: Option<ReliefRule>,
        /// The account the tax is paid to: an address enrolled as `municipality`.
        municipality: Address,
    },
    /// Assesses a deal's tax at settlement and records a relief claim when it applies (deal
    /// contract only). Response data: [`Assessment`].
    Assess {
        /// Deal.
        deal_id: u64,
        /// The parcel bought.
        parcel_id: String,
        /// The buyer.
        buyer: Address,
        /// The price.
        price: Amount,
        /// The full-rate tax the deal quoted (and the escrow holds).
        full_tax: Amount,
        /// The rate of that quote.
        rate_bps: u32,
    },
}

/// Query messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// → [`RatesResponse`].
    Rates {},
    /// The full-rate tax on a price under the current table → [`Quote`].
    Quote {
        /// The price.
        price: Amount,
    },
    /// Whether an address's person claimed the relief → [`ReliefOfResponse`].
    ReliefOf {
        /// The address (a buyer's key).
        address: Address,
    },
    /// The relief claim of a person hash → [`ReliefClaim`] or `null`.
    Relief {
        /// The person hash (64 lowercase hex).
        person_hash: String,
    },
}

/// Answer to [`QueryMsg::Rates`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RatesResponse {
    /// The bands, in price order (empty: no tax is quoted).
    pub bands: Vec<Band>,
    /// The first-home relief, if any.
    pub relief: Option<ReliefRule>,
    /// The account the tax is paid to.
    pub municipality: Option<Address>,
    /// The tax-official who set the table (absent when the genesis did).
    pub set_by: Option<Address>,
    /// Height at which it was set.
    pub set_height: u64,
}

/// Answer to [`QueryMsg::Quote`]: the full-rate tax, before any relief.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Quote {
    /// The rate, in basis points of the price (0 without a table).
    pub rate_bps: u32,
    /// The tax at that rate, rounded down to the won.
    pub full_tax: Amount,
}

/// Why the first-home relief did or did not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReliefStatus {
    /// Applied: the person's first claim, recorded with this settlement.
    Applied,
    /// Refused: this person already claimed it.
    AlreadyClaimed,
    /// Refused: the buyer's key has no person hash enrolled, so a claim could not be tied to a
    /// person.
    NoPersonHash,
    /// Refused: the price is above the relief's limit.
    PriceAboveLimit,
    /// The table has no first-home relief.
    NoRelief,
}

crate::names!(ReliefStatus, "relief status", {
    Applied => "applied",
    AlreadyClaimed => "already_claimed",
    NoPersonHash => "no_person_hash",
    PriceAboveLimit => "price_above_limit",
    NoRelief => "no_relief",
});

/// A deal's acquisition tax as assessed at settlement: the response data of
/// [`ExecuteMsg::Assess`], stored on the deal and carried by the `acquisition_tax_assessed`
/// event, so the receipt says which rate applied and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Assessment {
    /// The rate quoted, in basis points of the price.
    pub rate_bps: u32,
    /// The full-rate tax (what the escrow held for it).
    pub full_tax: Amount,
    /// What the first-home relief took off.
    pub relief: Amount,
    /// The tax paid to the municipality: `full_tax - relief`.
    pub tax: Amount,
    /// The account paid.
    pub municipality: Address,
    /// Whether the relief applied, and if not why.
    pub relief_status: ReliefStatus,
    /// The same in words, for the parties, e.g. "first-home relief already claimed with deal 3
    /// at height 41".
    pub reason: String,
}

/// A recorded first-home relief claim, keyed by the person hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReliefClaim {
    /// The person, as the salted hash the authority enrolled.
    pub person_hash: String,
    /// The key that bought.
    pub buyer: Address,
    /// The deal.
    pub deal_id: u64,
    /// The parcel bought.
    pub parcel_id: String,
    /// What the relief took off.
    pub amount: Amount,
    /// Height of the settlement.
    pub height: u64,
    /// Block time of the settlement.
    pub time: u64,
}

/// Answer to [`QueryMsg::ReliefOf`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReliefOfResponse {
    /// The address asked about.
    pub address: Address,
    /// Its enrolled person hash, if any.
    pub person_hash: Option<String>,
    /// That person's claim, if any.
    pub claim: Option<ReliefClaim>,
}

impl Band {
    /// The rate in basis points for `price` in this band, whose bottom is `floor` (the top of
    /// the band before it, or zero). A flat band's rate, or for a sliding band the linear rise
    /// from `rate_bps` at `floor` to `rate_bps_at_top` at `up_to`, rounded down.
    pub fn rate_at(&self, floor: Amount, price: Amount) -> Option<u32> {
        let (Some(top), Some(at_top)) = (self.up_to, self.rate_bps_at_top) else {
            return Some(self.rate_bps);
        };
        let width = top.0.checked_sub(floor.0)?;
        if width == 0 {
            return Some(at_top);
        }
        let into = price.0.checked_sub(floor.0)?.min(width);
        let (lo, hi) = (u128::from(self.rate_bps), u128::from(at_top));
        let rate = if hi >= lo {
            lo.checked_add(hi.checked_sub(lo)?.checked_mul(into)?.checked_div(width)?)?
        } else {
            lo.checked_sub(lo.checked_sub(hi)?.checked_mul(into)?.checked_div(width)?)?
        };
        u32::try_from(rate).ok()
    }
}

/// The full-rate tax on `price` under `bands` (`None` on a malformed table or overflow): the
/// band the price falls in gives the rate, applied to the whole price and rounded down to the
/// won. No bands: no tax.
pub fn quote(bands: &[Band], price: Amount) -> Option<Quote> {
    let mut floor = Amount::ZERO;
    for band in bands {
        if band.up_to.is_none_or(|top| price <= top) {
            let rate_bps = band.rate_at(floor, price)?;
            let full_tax = price
                .0
                .checked_mul(u128::from(rate_bps))?
                .checked_div(u128::from(BPS))?;
            return Some(Quote {
                rate_bps,
                full_tax: Amount(full_tax),
            });
        }
        floor = band.up_to?;
    }
    // Above the last band's top (a table whose last band has one): no band, no tax.
    Some(Quote {
        rate_bps: 0,
        full_tax: Amount::ZERO,
    })
}

/// The Local Tax Act's acquisition-tax bands for a home bought by a household that will own
/// just this one (art. 11(1)8, as in force in 2026): 1 % up to 6억, rising linearly to 3 % at
/// 9억, 3 % above. What a genesis file or a tax-official starts from; surcharges (local
/// education tax, the special tax for rural development) are not modelled.
pub fn home_bands() -> Vec<Band> {
    const EOK: u128 = 100_000_000;
    let band = |up_to: Option<u128>, rate_bps, rate_bps_at_top| Band {
        up_to: up_to.map(Amount),
        rate_bps,
        rate_bps_at_top,
    };
    alloc::vec![
        band(Some(6 * EOK), 100, None),
        band(Some(9 * EOK), 100, Some(300)),
        band(None, 300, None),
    ]
}

/// The first-home relief (생애최초 주택 구입 감면, Restriction of Special Local Taxation Act
/// art. 36-3): up to ₩2,000,000 off the acquisition tax, for a home up to 12억.
pub const FIRST_HOME_RELIEF: ReliefRule = ReliefRule {
    max_price: Amount(1_200_000_000),
    max_reduction: Amount(2_000_000),
};

/// Whether `hash` has the form of a person hash: `sha256(salt ‖ resident number)` as 64
/// lowercase hex digits. `Err` says what is wrong without repeating the input (it may be a raw
/// resident number sent by mistake, and errors are recorded on the ledger).
pub fn check_person_hash(hash: &str) -> Result<(), &'static str> {
    if hash.len() != 64 {
        let digits = hash.bytes().filter(u8::is_ascii_digit).count();
        if digits == 13 && hash.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return Err("person_hash looks like a raw resident number: send only \
                        sha256(salt || resident number) as 64 lowercase hex, computed off-chain");
        }
        return Err(
            "person_hash must be 64 lowercase hex digits (sha256(salt || resident number))",
        );
    }
    if !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("person_hash must be 64 lowercase hex digits (0-9, a-f)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EOK: u128 = 100_000_000;

    #[test]
    fn the_statutory_table_prices_each_band() {
        let q = |won: u128| quote(&home_bands(), Amount(won)).map(|q| (q.rate_bps, q.full_tax.0));
        assert_eq!(q(5 * EOK), Some((100, 5_000_000)));
        assert_eq!(q(6 * EOK), Some((100, 6_000_000)));
        // 7.5억: (7.5 × 2/3 − 3) % = 2 %.
        assert_eq!(q(75 * EOK / 10), Some((200, 15_000_000)));
        assert_eq!(q(9 * EOK), Some((300, 27_000_000)));
        assert_eq!(q(12 * EOK), Some((300, 36_000_000)));
        // Just above 6억: the sliding rate starts at 1 % and rounds down.
        assert_eq!(q(6 * EOK + 1), Some((100, 6_000_000)));
        assert_eq!(
            quote(&[], Amount(EOK)).map(|q| q.full_tax),
            Some(Amount::ZERO)
        );
    }

    #[test]
    fn person_hashes_are_lowercase_sha256_hex() {
        assert!(check_person_hash(&"ab".repeat(32)).is_ok());
        assert!(check_person_hash(&"AB".repeat(32)).is_err());
        let raw = check_person_hash("900101-1234567")
            .err()
            .unwrap_or_default();
        assert!(raw.contains("raw resident number") && !raw.contains("900101"));
    }
}
