//! `hanok-tax`: acquisition tax (취득세) by price band, and the first-home relief claimed once
//! per person.
//!
//! A tax-official sets the rate table ([`Band`]s in price order, flat or sliding), the relief
//! rule ([`ReliefRule`]: the most it takes off, the highest price it applies to) and the
//! municipality's account. The deal contract quotes the full-rate tax ([`QueryMsg::Quote`])
//! when a deal binds its parcel, and the buyer pays the quote into escrow with the last
//! payment. At settlement the deal contract calls [`ExecuteMsg::Assess`] in the same
//! transaction: the relief applies when the rule allows it and the buyer's person never
//! claimed it, and the claim is recorded there and then. A person is the person hash the
//! authority enrolled with the buyer's key in the identity contract, so a second key or a
//! second bank does not make a second claim.
//!
//! # Messages
//! - instantiate [`InstantiateMsg`] `{"identity", "deal", "bands"?, "relief"?, "municipality"?}`
//! - execute `{"set_rates": {"bands": [..], "relief": {..} | null, "municipality": "0x.."}}`
//!   (tax-official only); `{"assess": {"deal_id", "parcel_id", "buyer", "price", "full_tax",
//!   "rate_bps"}}` (deal contract only) → data [`Assessment`].
//! - query `{"rates": {}}` → [`RatesResponse`]; `{"quote": {"price"}}` → [`Quote`];
//!   `{"relief_of": {"address"}}` → [`ReliefOfResponse`]; `{"relief": {"person_hash"}}` →
//!   [`ReliefClaim`] or `null`.
//!
//! Events: `tax_rates_set {by, bands, municipality, relief_max_reduction?, relief_max_price?}`;
//! `acquisition_tax_assessed {deal_id, parcel_id, buyer, price, rate_bps, full_tax, relief,
//! tax, municipality, relief_status, reason}`.
//! Storage: `rates`: the table ([`RatesResponse`]); `config`; `claims`: person hash →
//! [`ReliefClaim`].
//!
//! Invariant: a claim is recorded exactly when a relief is granted, in the settlement's own
//! transaction, and never removed: a person hash with a claim is never granted another.
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(test)]
extern crate std;

use alloc::format;
use alloc::string::{String, ToString};
use hanok_messages::identity::{PersonResponse, QueryMsg as IdentityQuery};
use hanok_sdk::{
    bail, ensure, entry_points, query as query_contract, require_role, to_json, Address, Amount,
    ContractError, Env, Event, Item, Map, Response, Role,
};
use serde::{Deserialize, Serialize};

/// The messages and answers live in `hanok-messages` (one definition for the contract, its
/// callers and clients); re-exported so `hanok_tax::ExecuteMsg` works.
pub use hanok_messages::tax::*;

#[derive(Serialize, Deserialize)]
struct Config {
    identity: Address,
    deal: Address,
}

const CONFIG: Item<Config> = Item::new("config");
const RATES: Item<RatesResponse> = Item::new("rates");
const CLAIMS: Map<&str, ReliefClaim> = Map::new("claims");

/// A table must be in price order, with only the last band open-ended, rates within 100 %.
fn check_bands(bands: &[Band]) -> Result<(), ContractError> {
    ensure!(
        bands.len() <= MAX_BANDS,
        "at most {MAX_BANDS} bands, got {}",
        bands.len()
    );
    let mut floor: Option<Amount> = None;
    for (i, b) in bands.iter().enumerate() {
        ensure!(
            b.rate_bps <= BPS && b.rate_bps_at_top.is_none_or(|r| r <= BPS),
            "band {i}: a rate is at most {BPS} basis points (100 %)"
        );
        let last = i.checked_add(1) == Some(bands.len());
        match b.up_to {
            None => ensure!(last, "band {i}: only the last band may have no up_to"),
            Some(top) => {
                ensure!(
                    floor.is_none_or(|f| top > f),
                    "band {i}: up_to {top} must be above the band before it ({})",
                    floor.unwrap_or(Amount::ZERO)
                );
                floor = Some(top);
            }
        }
        ensure!(
            b.rate_bps_at_top.is_none() || b.up_to.is_some(),
            "band {i}: a sliding band (rate_bps_at_top) needs an up_to"
        );
    }
    Ok(())
}

fn set_rates(
    cfg: &Config,
    env: &Env,
    bands: alloc::vec::Vec<Band>,
    relief: Option<ReliefRule>,
    municipality: Option<Address>,
    by: Option<Address>,
) -> Result<Event, ContractError> {
    check_bands(&bands)?;
    if let Some(r) = &relief {
        ensure!(
            !r.max_reduction.is_zero(),
            "the relief's max_reduction must be positive"
        );
    }
    ensure!(
        bands.is_empty() || municipality.is_some(),
        "a rate table needs the municipality's account, which receives the tax"
    );
    if let (Some(m), Some(_)) = (municipality, by) {
        ensure!(
            hanok_sdk::has_role(&cfg.identity, m, Role::Municipality)?,
            "{m} is not enrolled as a municipality: the tax must go to a municipality's account"
        );
    }
    let mut event = Event::new("tax_rates_set")
        .attr("bands", bands.len().to_string())
        .attr(
            "municipality",
            municipality.map(|m| m.to_string()).unwrap_or_default(),
        );
    if let Some(b) = by {
        event = event.attr("by", b.to_string());
    }
    if let Some(r) = &relief {
        event = event
            .attr("relief_max_reduction", r.max_reduction.to_string())
            .attr("relief_max_price", r.max_price.to_string());
    }
    RATES.save(&RatesResponse {
        bands,
        relief,
        municipality,
        set_by: by,
        set_height: env.height,
    })?;
    Ok(event)
}

fn instantiate(env: &Env, msg: InstantiateMsg) -> Result<Response, ContractError> {
    let cfg = Config {
        identity: msg.identity,
        deal: msg.deal,
    };
    // The genesis' table: the municipality's enrolment cannot be checked yet (the identity
    // contract may be instantiated in the same block, its members enrolled after).
    let event = set_rates(&cfg, env, msg.bands, msg.relief, msg.municipality, None)?;
    CONFIG.save(&cfg)?;
    Ok(Response::new().event(event))
}

fn execute(env: &Env, msg: ExecuteMsg) -> Result<Response, ContractError> {
    let cfg = CONFIG.load()?;
    match msg {
        ExecuteMsg::SetRates {
            bands,
            relief,
            municipality,
        } => {
            require_role(
                &cfg.identity,
                env.sender,
                Role::TaxOfficial,
                "set the tax rates",
            )?;
            let event = set_rates(
                &cfg,
                env,
                bands,
                relief,
                Some(municipality),
                Some(env.sender),
            )?;
            Ok(Response::new().event(event))
        }
        ExecuteMsg::Assess {
            deal_id,
            parcel_id,
            buyer,
            price,
            full_tax,
            rate_bps,
        } => {
            ensure!(
                env.sender == cfg.deal,
                "unauthorized: only the deal contract may assess a deal's tax"
            );
            let a = assess(
                &cfg, env, deal_id, &parcel_id, buyer, price, full_tax, rate_bps,
            )?;
            let event = Event::new("acquisition_tax_assessed")
                .attr("deal_id", deal_id.to_string())
                .attr("parcel_id", parcel_id)
                .attr("buyer", buyer.to_string())
                .attr("price", price.to_string())
                .attr("rate_bps", a.rate_bps.to_string())
                .attr("full_tax", a.full_tax.to_string())
                .attr("relief", a.relief.to_string())
                .attr("tax", a.tax.to_string())
                .attr("municipality", a.municipality.to_string())
                .attr("relief_status", a.relief_status.as_str())
                .attr("reason", a.reason.clone());
            Response::new().event(event).json(&a)
        }
    }
}

fn person_of(cfg: &Config, address: Address) -> Result<Option<String>, ContractError> {
    let p: PersonResponse = query_contract(&cfg.identity, &IdentityQuery::Person { address })?;
    Ok(p.person_hash)
}

/// The relief, if it applies, and why; records the claim when it does.
#[allow(clippy::too_many_arguments)]
fn assess(
    cfg: &Config,
    env: &Env,
    deal_id: u64,
    parcel_id: &str,
    buyer: Address,
    price: Amount,
    full_tax: Amount,
    rate_bps: u32,
) -> Result<Assessment, ContractError> {
    let rates = RATES.load()?;
    let Some(municipality) = rates.municipality else {
        bail!("no municipality account is set: a tax-official must set the rates (set_rates)");
    };
    // Checked when it is used, like an official's authority: money must not go to an account
    // the authority has since un-enrolled (a tax-official sets the current one).
    ensure!(
        hanok_sdk::has_role(&cfg.identity, municipality, Role::Municipality)?,
        "the tax account {municipality} is no longer enrolled as a municipality: a \
         tax-official must set the rates with the municipality's current account"
    );
    let (relief, status, reason) = match rates.relief {
        None => (
            Amount::ZERO,
            ReliefStatus::NoRelief,
            "the rate table has no first-home relief".to_string(),
        ),
        Some(rule) if price > rule.max_price => (
            Amount::ZERO,
            ReliefStatus::PriceAboveLimit,
            format!(
                "no first-home relief: the price {price} is above the relief's limit {}",
                rule.max_price
            ),
        ),
        Some(rule) => match person_of(cfg, buyer)? {
            None => (
                Amount::ZERO,
                ReliefStatus::NoPersonHash,
                format!(
                    "no first-home relief: buyer {buyer} has no person hash enrolled, so a \
                     claim cannot be tied to a person (the authority enrols one)"
                ),
            ),
            Some(hash) => match CLAIMS.may_load(&hash.as_str())? {
                Some(c) => (
                    Amount::ZERO,
                    ReliefStatus::AlreadyClaimed,
                    format!(
                        "first-home relief refused: this person already claimed it with deal {} \
                         (parcel {}, height {})",
                        c.deal_id, c.parcel_id, c.height
                    ),
                ),
                None => {
                    let amount = full_tax.min(rule.max_reduction);
                    CLAIMS.save(
                        &hash.as_str(),
                        &ReliefClaim {
                            person_hash: hash.clone(),
                            buyer,
                            deal_id,
                            parcel_id: parcel_id.into(),
                            amount,
                            height: env.height,
                            time: env.time,
                        },
                    )?;
                    (
                        amount,
                        ReliefStatus::Applied,
                        format!(
                            "first-home relief applied: {amount} off, the person's first claim"
                        ),
                    )
                }
            },
        },
    };
    let tax = full_tax
        .checked_sub(relief)
        .ok_or("relief exceeds the tax")?;
    Ok(Assessment {
        rate_bps,
        full_tax,
        relief,
        tax,
        municipality,
        relief_status: status,
        reason,
    })
}

fn query(_env: &Env, msg: QueryMsg) -> Result<alloc::vec::Vec<u8>, ContractError> {
    match msg {
        QueryMsg::Rates {} => to_json(&RATES.load()?),
        QueryMsg::Quote { price } => {
            let rates = RATES.load()?;
            let q = quote(&rates.bands, price).ok_or("the tax on this price overflows")?;
            to_json(&q)
        }
        QueryMsg::ReliefOf { address } => {
            let cfg = CONFIG.load()?;
            let person_hash = person_of(&cfg, address)?;
            let claim = match &person_hash {
                Some(h) => CLAIMS.may_load(&h.as_str())?,
                None => None,
            };
            to_json(&ReliefOfResponse {
                address,
                person_hash,
                claim,
            })
        }
        QueryMsg::Relief { person_hash } => {
            check_person_hash(&person_hash).map_err(ContractError::new)?;
            to_json(&CLAIMS.may_load(&person_hash.as_str())?)
        }
    }
}

entry_points!(instantiate, execute, query);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use hanok_sdk::mock;

    const TAX: Address = Address([0x7a; 20]);
    const ID: Address = Address([0x1d; 20]);
    const DEAL: Address = Address([0xde; 20]);
    const AUTH: Address = Address([1; 20]);
    const OFFICER: Address = Address([2; 20]);
    const CITY: Address = Address([3; 20]);
    const BUYER: Address = Address([4; 20]);
    const SECOND_KEY: Address = Address([5; 20]);
    const EOK: u128 = 100_000_000;

    fn enrol(address: Address, roles: Vec<Role>, person_hash: Option<String>) {
        let msg = hanok_identity::ExecuteMsg::Enrol {
            address,
            roles,
            person_hash,
        };
        assert!(mock::execute(ID, AUTH, &msg).is_ok());
    }

    fn setup() {
        mock::reset();
        mock::register(ID, hanok_identity::ENTRY_POINTS);
        mock::register(TAX, ENTRY_POINTS);
        let id = hanok_identity::InstantiateMsg { authority: AUTH };
        assert!(mock::instantiate(ID, AUTH, &id).is_ok());
        enrol(OFFICER, vec![Role::TaxOfficial], None);
        enrol(CITY, vec![Role::Municipality], None);
        let person = "ab".repeat(32);
        enrol(BUYER, vec![Role::Citizen], Some(person.clone()));
        enrol(SECOND_KEY, vec![Role::Citizen], Some(person));
        let msg = InstantiateMsg {
            identity: ID,
            deal: DEAL,
            bands: vec![],
            relief: None,
            municipality: None,
        };
        assert!(mock::instantiate(TAX, AUTH, &msg).is_ok());
    }

    fn statutory() -> ExecuteMsg {
        ExecuteMsg::SetRates {
            bands: home_bands(),
            relief: Some(FIRST_HOME_RELIEF),
            municipality: CITY,
        }
    }

    fn err<T>(r: Result<T, ContractError>) -> String {
        r.err().map(ContractError::into_message).unwrap_or_default()
    }

    fn assess(deal_id: u64, buyer: Address, price: u128) -> Result<Assessment, ContractError> {
        let q: Quote = mock::query(
            TAX,
            &QueryMsg::Quote {
                price: Amount(price),
            },
        )?;
        let msg = ExecuteMsg::Assess {
            deal_id,
            parcel_id: format!("P-{deal_id}"),
            buyer,
            price: Amount(price),
            full_tax: q.full_tax,
            rate_bps: q.rate_bps,
        };
        let data = mock::execute(TAX, DEAL, &msg)?;
        hanok_sdk::from_json(&data)
    }

    #[test]
    fn only_a_tax_official_sets_rates_and_only_for_a_municipality() {
        setup();
        let q: Result<Quote, _> = mock::query(TAX, &QueryMsg::Quote { price: Amount(EOK) });
        assert_eq!(
            q.map(|q| q.full_tax).ok(),
            Some(Amount::ZERO),
            "no table, no tax"
        );
        assert_eq!(
            err(mock::execute(TAX, BUYER, &statutory())),
            "unauthorized: only an enrolled tax-official may set the tax rates"
        );
        let ExecuteMsg::SetRates { bands, relief, .. } = statutory() else {
            unreachable!()
        };
        let to_buyer = ExecuteMsg::SetRates {
            bands: bands.clone(),
            relief,
            municipality: BUYER,
        };
        assert!(
            err(mock::execute(TAX, OFFICER, &to_buyer)).contains("not enrolled as a municipality")
        );
        let mut unordered = bands.clone();
        unordered.swap(0, 1);
        let bad = ExecuteMsg::SetRates {
            bands: unordered,
            relief,
            municipality: CITY,
        };
        assert!(err(mock::execute(TAX, OFFICER, &bad)).contains("must be above the band before it"));
        assert!(mock::execute(TAX, OFFICER, &statutory()).is_ok());
        let rates: Result<RatesResponse, _> = mock::query(TAX, &QueryMsg::Rates {});
        assert_eq!(rates.ok().and_then(|r| r.set_by), Some(OFFICER));
        let q: Result<Quote, _> = mock::query(
            TAX,
            &QueryMsg::Quote {
                price: Amount(75 * EOK / 10),
            },
        );
        assert_eq!(
            q.ok(),
            Some(Quote {
                rate_bps: 200,
                full_tax: Amount(15_000_000)
            })
        );
    }

    #[test]
    fn the_relief_is_claimed_once_per_person_whatever_the_key() {
        setup();
        assert!(mock::execute(TAX, OFFICER, &statutory()).is_ok());
        let first = assess(1, BUYER, 5 * EOK);
        let Ok(first) = first else {
            panic!("{}", err(first))
        };
        assert_eq!(first.relief_status, ReliefStatus::Applied);
        assert_eq!(
            (first.full_tax, first.relief, first.tax),
            (Amount(5_000_000), Amount(2_000_000), Amount(3_000_000))
        );
        let claim: Result<ReliefOfResponse, _> = mock::query(
            TAX,
            &QueryMsg::ReliefOf {
                address: SECOND_KEY,
            },
        );
        assert_eq!(
            claim
                .ok()
                .and_then(|c| c.claim)
                .map(|c| (c.deal_id, c.buyer, c.amount)),
            Some((1, BUYER, Amount(2_000_000)))
        );
        // The same person under a second key, for a second home: the full rate.
        let second = assess(2, SECOND_KEY, 75 * EOK / 10);
        let Ok(second) = second else {
            panic!("{}", err(second))
        };
        assert_eq!(second.relief_status, ReliefStatus::AlreadyClaimed);
        assert_eq!(
            (second.rate_bps, second.relief, second.tax),
            (200, Amount::ZERO, Amount(15_000_000))
        );
        assert!(
            second.reason.contains("already claimed it with deal 1"),
            "{}",
            second.reason
        );
        let by_stranger = ExecuteMsg::Assess {
            deal_id: 3,
            parcel_id: "P-3".into(),
            buyer: BUYER,
            price: Amount(EOK),
            full_tax: Amount(1),
            rate_bps: 1,
        };
        assert_eq!(
            err(mock::execute(TAX, BUYER, &by_stranger)),
            "unauthorized: only the deal contract may assess a deal's tax"
        );
    }

    #[test]
    fn the_relief_takes_at_most_its_cap_and_skips_dear_homes_and_unknown_persons() {
        setup();
        assert!(mock::execute(TAX, OFFICER, &statutory()).is_ok());
        // No person hash: refused, and nothing is recorded.
        let Ok(a) = assess(1, CITY, 5 * EOK) else {
            panic!("assess")
        };
        assert_eq!(a.relief_status, ReliefStatus::NoPersonHash);
        assert_eq!(a.tax, Amount(5_000_000));
        // Above 12억: full rate, and the claim stays available.
        let Ok(a) = assess(2, BUYER, 13 * EOK) else {
            panic!("assess")
        };
        assert_eq!(a.relief_status, ReliefStatus::PriceAboveLimit);
        assert_eq!(
            (a.full_tax, a.tax),
            (Amount(39_000_000), Amount(39_000_000))
        );
        // A cheap home: the relief is the whole tax when it is below the cap.
        let Ok(a) = assess(3, BUYER, EOK) else {
            panic!("assess")
        };
        assert_eq!(a.relief_status, ReliefStatus::Applied);
        assert_eq!((a.relief, a.tax), (Amount(1_000_000), Amount::ZERO));
        assert_eq!(a.municipality, CITY);
        // The authority un-enrols the city's account: no tax is paid to it any more.
        let revoke = hanok_identity::ExecuteMsg::Revoke { address: CITY };
        assert!(mock::execute(ID, AUTH, &revoke).is_ok());
        let refused = err(assess(4, BUYER, 2 * EOK));
        assert!(
            refused.contains("no longer enrolled as a municipality"),
            "{refused}"
        );
    }
}
