//! Native tests of the whole sale on the mock host: every system contract linked in.

use super::*;
use hanok_identity::Role;
use hanok_registry::{EncumbranceKind, LandUse, Owner, Parcel};
use hanok_sdk::mock;
use std::{format, vec};

const IDENTITY: Address = Address([0xa1; 20]);
const REGISTRY: Address = Address([0xa2; 20]);
const KRW: Address = Address([0xa3; 20]);
const ESCROW: Address = Address([0xa4; 20]);
const DEAL: Address = Address([0xa5; 20]);
const TAX: Address = Address([0xa6; 20]);

const AUTH: Address = Address([1; 20]);
const OFF1: Address = Address([2; 20]);
const OFF2: Address = Address([3; 20]);
const OFF3: Address = Address([4; 20]);
const BANK_A: Address = Address([5; 20]);
const BANK_B: Address = Address([6; 20]);
const BROKER: Address = Address([7; 20]);
const SELLER: Address = Address([8; 20]);
const BUYER: Address = Address([9; 20]);
const TAX_OFFICIAL: Address = Address([10; 20]);
const CITY: Address = Address([11; 20]);
/// The buyer's person hash, `sha256(salt ‖ resident number)` as the authority enrolled it.
const BUYER_PERSON: &str = "5e1f0b8a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f";

const T0: u64 = 1_700_000_000;
const DEADLINE: u64 = T0 + 86_400;
const PRICE: u128 = 900_000_000;

fn ok(r: Result<Vec<u8>, ContractError>) -> Vec<u8> {
    match r {
        Ok(d) => d,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn err(r: Result<Vec<u8>, ContractError>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.into_message(),
    }
}

fn deal_exec(sender: Address, msg: &ExecuteMsg) -> Result<Vec<u8>, ContractError> {
    mock::execute(DEAL, sender, msg)
}

/// Genesis: contracts, roles, policy 2 of 3, parcel P-1 owned by SELLER with Bank A's lien
/// (registered maximum 360,000,000; Bank A's payoff statement: 300,000,000, valid until
/// [`PAYOFF_VALID_UNTIL`]), and 900,000,000 KRW minted by Bank B to BUYER.
fn genesis() {
    mock::reset();
    mock::set_block(1, T0);
    mock::register(IDENTITY, hanok_identity::ENTRY_POINTS);
    mock::register(REGISTRY, hanok_registry::ENTRY_POINTS);
    mock::register(KRW, hanok_krw::ENTRY_POINTS);
    mock::register(ESCROW, hanok_escrow::ENTRY_POINTS);
    mock::register(DEAL, ENTRY_POINTS);
    mock::register(TAX, hanok_tax::ENTRY_POINTS);
    ok(mock::instantiate(
        IDENTITY,
        AUTH,
        &hanok_identity::InstantiateMsg { authority: AUTH },
    ));
    for (a, r) in [
        (OFF1, Role::Official),
        (OFF2, Role::Official),
        (OFF3, Role::Official),
        (BANK_A, Role::Bank),
        (BANK_B, Role::Bank),
        (BROKER, Role::Broker),
        (SELLER, Role::Citizen),
        (BUYER, Role::Citizen),
        (TAX_OFFICIAL, Role::TaxOfficial),
        (CITY, Role::Municipality),
    ] {
        ok(mock::execute(
            IDENTITY,
            AUTH,
            &hanok_identity::ExecuteMsg::Enrol {
                address: a,
                roles: vec![r],
                person_hash: (a == BUYER).then(|| BUYER_PERSON.into()),
            },
        ));
    }
    ok(mock::instantiate(
        REGISTRY,
        AUTH,
        &hanok_registry::InstantiateMsg {
            identity: IDENTITY,
            deal: DEAL,
            policy: hanok_registry::Policy {
                threshold: 2,
                officials: vec![OFF1, OFF2, OFF3],
                max_deal_secs: hanok_registry::DEFAULT_MAX_DEAL_SECS,
            },
        },
    ));
    ok(mock::instantiate(
        KRW,
        AUTH,
        &hanok_krw::InstantiateMsg { identity: IDENTITY },
    ));
    ok(mock::instantiate(
        ESCROW,
        AUTH,
        &hanok_escrow::InstantiateMsg {
            token: KRW,
            deal: DEAL,
        },
    ));
    ok(mock::instantiate(
        DEAL,
        AUTH,
        &InstantiateMsg {
            identity: IDENTITY,
            registry: REGISTRY,
            escrow: ESCROW,
            token: KRW,
            tax: Some(TAX),
        },
    ));
    // No rate table yet: no tax is quoted (the tests below that are about the tax set one).
    ok(mock::instantiate(
        TAX,
        AUTH,
        &hanok_tax::InstantiateMsg {
            identity: IDENTITY,
            deal: DEAL,
            bands: Vec::new(),
            relief: None,
            municipality: None,
        },
    ));
    ok(mock::execute(
        REGISTRY,
        OFF1,
        &hanok_registry::ExecuteMsg::RegisterParcel {
            parcel_id: "P-1".into(),
            lot_number: "123-4".into(),
            address: "1 Sejong-daero, Jung-gu, Seoul".into(),
            area_m2_hundredths: 8_450,
            land_use: LandUse::Residential,
            owners: vec![Owner {
                owner: SELLER,
                share_bps: 10_000,
            }],
        },
    ));
    ok(mock::execute(
        REGISTRY,
        OFF1,
        &hanok_registry::ExecuteMsg::RecordLien {
            parcel_id: "P-1".into(),
            holder: BANK_A,
            amount: Amount(LIEN_MAXIMUM),
        },
    ));
    ok(file_payoff(BANK_A, 1, 300_000_000, PAYOFF_VALID_UNTIL));
    ok(mock::execute(
        KRW,
        BANK_B,
        &hanok_krw::ExecuteMsg::Mint {
            to: BUYER,
            amount: Amount(PRICE),
        },
    ));
}

/// Bank A's lien's registered maximum (채권최고액): 120 % of the 300,000,000 it lent.
const LIEN_MAXIMUM: u128 = 360_000_000;
/// Bank A's payoff statement holds a day past the deal's deadline.
const PAYOFF_VALID_UNTIL: u64 = DEADLINE + 86_400;

fn file_payoff(
    bank: Address,
    lien_id: u64,
    amount: u128,
    valid_until: u64,
) -> Result<Vec<u8>, ContractError> {
    mock::execute(
        REGISTRY,
        bank,
        &hanok_registry::ExecuteMsg::FilePayoff {
            parcel_id: "P-1".into(),
            lien_id,
            amount: Amount(amount),
            valid_until,
        },
    )
}

/// Bank B, the buyer's lender, may register up to this much.
const MAX_MORTGAGE: u128 = 600_000_000;

fn open_msg(deadline: u64) -> ExecuteMsg {
    ExecuteMsg::Open {
        parcel_id: "P-1".into(),
        seller: SELLER,
        buyer: BUYER,
        price: Amount(PRICE),
        deadline,
        lender: Some(Lender {
            bank: BANK_B,
            max_amount: Amount(MAX_MORTGAGE),
        }),
        co_sellers: Vec::new(),
        share_sale: false,
        schedule: None,
    }
}

/// The broker proposes; returns the deal id.
fn propose(deadline: u64) -> u64 {
    let data = ok(deal_exec(BROKER, &open_msg(deadline)));
    match serde_json::from_slice::<OpenResponse>(&data) {
        Ok(r) => r.deal_id,
        Err(e) => panic!("{e}"),
    }
}

/// The broker proposes and the seller accepts.
fn open() -> u64 {
    let id = propose(DEADLINE);
    ok(deal_exec(SELLER, &ExecuteMsg::Accept { deal_id: id }));
    id
}

/// Signs the deal's current terms.
fn sign(who: Address, id: u64) -> Result<Vec<u8>, ContractError> {
    let terms = deal(id).terms();
    deal_exec(who, &ExecuteMsg::Sign { deal_id: id, terms })
}

fn pending_on_p1() -> Option<u64> {
    let r: Result<DealByParcelResponse, _> = mock::query(
        DEAL,
        &QueryMsg::DealByParcel {
            parcel_id: "P-1".into(),
        },
    );
    match r {
        Ok(r) => r.deal_id,
        Err(e) => panic!("{e}"),
    }
}

fn fund(deal_id: u64, amount: u128) -> Result<Vec<u8>, ContractError> {
    mock::execute(
        KRW,
        BUYER,
        &hanok_krw::ExecuteMsg::Send {
            contract: ESCROW,
            amount: Amount(amount),
            msg: serde_json::json!({ "fund": { "deal_id": deal_id } }),
        },
    )
}

/// Opens, attaches Bank B's mortgage, funds, signs and gets two approvals.
fn approved_deal() -> u64 {
    let id = open();
    ok(deal_exec(
        BANK_B,
        &ExecuteMsg::AttachMortgage {
            deal_id: id,
            amount: Amount(500_000_000),
        },
    ));
    ok(fund(id, PRICE));
    ok(sign(SELLER, id));
    ok(sign(BUYER, id));
    ok(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(OFF3, &ExecuteMsg::Approve { deal_id: id }));
    assert_eq!(deal(id).status, Status::Approved);
    id
}

/// `who` rejects deal `id`, saying `reason`.
fn reject(who: Address, id: u64, reason: &str) -> Result<Vec<u8>, ContractError> {
    deal_exec(
        who,
        &ExecuteMsg::Reject {
            deal_id: id,
            reason: reason.into(),
        },
    )
}

/// The ids of a page of the approval queue.
fn awaiting(start_after: Option<u64>, limit: Option<u32>) -> Vec<u64> {
    let r: Result<DealsResponse, _> =
        mock::query(DEAL, &QueryMsg::AwaitingApproval { start_after, limit });
    match r {
        Ok(r) => r.deals.into_iter().map(|d| d.deal_id).collect(),
        Err(e) => panic!("{e}"),
    }
}

/// Registers another parcel solely owned by SELLER, with no encumbrance.
fn register_parcel(parcel_id: &str) {
    ok(mock::execute(
        REGISTRY,
        OFF1,
        &hanok_registry::ExecuteMsg::RegisterParcel {
            parcel_id: parcel_id.into(),
            lot_number: "1-1".into(),
            address: "Seoul".into(),
            area_m2_hundredths: 10_000,
            land_use: LandUse::Residential,
            owners: vec![Owner {
                owner: SELLER,
                share_bps: 10_000,
            }],
        },
    ));
}

/// A deal on `parcel_id` (no lender) proposed, accepted and funded: BANK_B mints the price to
/// BUYER first, so any number of these can be funded.
fn funded_on(parcel_id: &str) -> u64 {
    let id = accepted_on(parcel_id, None);
    mint_to_buyer(PRICE);
    ok(fund(id, PRICE));
    id
}

/// A deal on `parcel_id` signed by both parties: waiting for the officials.
fn signed_on(parcel_id: &str) -> u64 {
    let id = funded_on(parcel_id);
    ok(sign(SELLER, id));
    ok(sign(BUYER, id));
    assert_eq!(deal(id).status, Status::Signed);
    id
}

fn deal(id: u64) -> Deal {
    match mock::query(DEAL, &QueryMsg::Deal { deal_id: id }) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

fn parcel() -> Parcel {
    match mock::query(
        REGISTRY,
        &hanok_registry::QueryMsg::Parcel {
            parcel_id: "P-1".into(),
        },
    ) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn balance(a: Address) -> u128 {
    match mock::query::<_, hanok_krw::BalanceResponse>(
        KRW,
        &hanok_krw::QueryMsg::Balance { address: a },
    ) {
        Ok(b) => b.balance.0,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_acceptance_story_settles_atomically() {
    genesis();
    let id = approved_deal();
    assert_eq!(balance(ESCROW), PRICE);
    mock::take_events();

    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));

    assert_eq!(balance(BANK_A), 300_000_000);
    assert_eq!(balance(SELLER), 600_000_000);
    assert_eq!((balance(ESCROW), balance(BUYER)), (0, 0));
    let p = parcel();
    assert_eq!(
        p.owners,
        vec![Owner {
            owner: BUYER,
            share_bps: 10_000
        }]
    );
    // Bank A's lien was discharged, so only Bank B's new one (the next rank) is active.
    assert_eq!(p.encumbrances.len(), 1);
    assert_eq!(p.past_encumbrances, 1);
    assert_eq!(p.encumbrances[0].rank, 2);
    assert!(p.encumbrances[0].active);
    assert_eq!(
        p.encumbrances[0].kind,
        EncumbranceKind::Mortgage {
            holder: BANK_B,
            amount: Amount(500_000_000),
            payoff: None,
        }
    );
    let d = deal(id);
    assert_eq!(d.status, Status::Settled);
    assert_eq!(d.approvals, vec![OFF1, OFF3]);
    assert_eq!(pending_on_p1(), None);
    let types: Vec<String> = mock::events().into_iter().map(|(_, e)| e.ty).collect();
    assert_eq!(
        types,
        vec![
            // A callee's events come first: a handler's `Response` events are emitted when it
            // returns.
            "transfer",
            "released",
            "lien_discharged",
            "transfer",
            "released",
            "title_transferred",
            "lien_recorded",
            // Emitted when the settled deal is saved; the handler's own events follow.
            "transaction_reported",
            "lien_paid_off",
            "deal_settled"
        ]
    );
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id })),
        "deal 1 is settled, not approved"
    );
}

#[test]
fn a_sale_keeps_a_registered_lease_and_pays_nothing_from_it() {
    genesis();
    const TENANT: Address = Address([0x77; 20]);
    assert!(mock::execute(
        IDENTITY,
        AUTH,
        &hanok_identity::ExecuteMsg::Enrol {
            address: TENANT,
            roles: vec![Role::Citizen],
            person_hash: None,
        },
    )
    .is_ok());
    let lease = hanok_registry::ExecuteMsg::RecordLease {
        parcel_id: "P-1".into(),
        tenant: TENANT,
        deposit: Amount(250_000_000),
        term_start: T0,
        term_end: T0 + 2 * 365 * 86_400,
    };
    assert!(mock::execute(REGISTRY, OFF1, &lease).is_ok());
    let id = approved_deal();
    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));
    // The lien is paid off as before; the lease's deposit is not paid from the price.
    assert_eq!(balance(BANK_A), 300_000_000);
    assert_eq!(balance(SELLER), 600_000_000);
    assert_eq!((balance(ESCROW), balance(TENANT)), (0, 0));
    let p = parcel();
    assert_eq!(p.owners[0].owner, BUYER);
    // The lease stays, at its rank, ahead of the buyer's new mortgage.
    let kinds: Vec<(u64, bool)> = p
        .encumbrances
        .iter()
        .map(|e| {
            (
                e.rank,
                matches!(e.kind, EncumbranceKind::Lease { tenant, .. } if tenant == TENANT),
            )
        })
        .collect();
    assert_eq!(kinds, vec![(2, true), (3, false)]);
}

#[test]
fn a_short_payoff_reverts_everything() {
    genesis();
    // A second, bigger lien makes the liens exceed the price.
    ok(mock::execute(
        REGISTRY,
        OFF2,
        &hanok_registry::ExecuteMsg::RecordLien {
            parcel_id: "P-1".into(),
            holder: BANK_A,
            amount: Amount(700_000_000),
        },
    ));
    ok(file_payoff(BANK_A, 2, 700_000_000, PAYOFF_VALID_UNTIL));
    let id = approved_deal();
    let before = parcel();
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id })),
        "payoff short: liens need 1000000000, escrow holds 900000000"
    );
    assert_eq!(parcel(), before);
    assert_eq!((balance(ESCROW), balance(BANK_A)), (PRICE, 0));
    assert_eq!(deal(id).status, Status::Approved);
}

fn report(id: u64) -> Result<TransactionReport, ContractError> {
    mock::query(DEAL, &QueryMsg::Report { deal_id: id })
}

#[test]
fn the_transaction_report_is_filed_when_the_contract_is_concluded_and_completed_at_settlement() {
    genesis();
    let id = open();
    ok(fund(id, PRICE));
    ok(sign(SELLER, id));
    assert_eq!(
        report(id).map_err(|e| e.to_string()),
        Err(format!(
            "no transaction report for deal {id}: its contract was never concluded (both \
             parties must sign)"
        )),
        "one signature concludes nothing"
    );
    mock::set_block(5, T0 + 600);
    mock::take_events();
    ok(sign(BUYER, id));
    let filed = mock::take_events()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.ty == "transaction_reported")
        .count();
    assert_eq!(
        filed, 1,
        "the municipality hears of it in the same transaction"
    );
    let r = report(id).expect("filed at the second signature");
    assert_eq!(
        (r.status, r.contract_time, r.contract_height, r.due_time),
        (
            ReportStatus::Contracted,
            T0 + 600,
            5,
            T0 + 600 + REPORT_WINDOW_SECS
        )
    );
    assert_eq!((r.seller, r.buyer, r.broker), (SELLER, BUYER, BROKER));
    assert_eq!((r.parcel_id.as_str(), r.price), ("P-1", Amount(PRICE)));
    assert_eq!(r.payments.len(), 1);
    assert_eq!(
        (r.payments[0].stage.as_str(), r.payments[0].amount),
        ("full", Amount(PRICE))
    );
    ok(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: id }));
    mock::set_block(9, T0 + 900);
    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));
    let settled = report(id).expect("report");
    assert_eq!(settled.status, ReportStatus::Settled);
    assert_eq!(
        (settled.settled_time, settled.settled_height),
        (Some(T0 + 900), Some(9))
    );
    assert_eq!(
        settled.contract_time,
        T0 + 600,
        "the contract date does not move"
    );
    let page: ReportsResponse = mock::query(
        DEAL,
        &QueryMsg::Reports {
            start_after: None,
            limit: None,
        },
    )
    .expect("reports");
    assert_eq!(page.reports, vec![settled]);
}

#[test]
fn a_concluded_contract_that_ends_without_a_sale_is_reported_cancelled() {
    genesis();
    let id = open();
    ok(fund(id, PRICE));
    ok(sign(SELLER, id));
    ok(sign(BUYER, id));
    mock::set_block(7, T0 + 700);
    ok(reject(OFF1, id, "forged power of attorney"));
    let r = report(id).expect("report");
    assert_eq!(
        (r.status, r.cancelled_time),
        (ReportStatus::Cancelled, Some(T0 + 700))
    );
    // The refund after the rejection leaves the cancellation as it was.
    mock::set_block(8, T0 + 800);
    ok(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: id }));
    assert_eq!(report(id).expect("report").cancelled_time, Some(T0 + 700));
    // A deal that was never concluded has no report, and the list skips it.
    let unsigned = open();
    assert!(report(unsigned).is_err());
    let page: ReportsResponse = mock::query(
        DEAL,
        &QueryMsg::Reports {
            start_after: None,
            limit: Some(1000),
        },
    )
    .expect("reports");
    assert_eq!(
        page.reports.iter().map(|r| r.deal_id).collect::<Vec<_>>(),
        vec![id]
    );
}

#[test]
fn settlement_pays_the_stated_debt_not_the_registered_maximum() {
    genesis();
    let id = approved_deal();
    // Bank A states less than it did at genesis: the loan was partly repaid since.
    ok(file_payoff(BANK_A, 1, 287_500_000, PAYOFF_VALID_UNTIL));
    mock::take_events();
    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));
    assert_eq!(balance(BANK_A), 287_500_000);
    assert_eq!(balance(SELLER), PRICE - 287_500_000);
    assert_eq!(balance(ESCROW), 0);
    assert_eq!(
        balance(BANK_A) + balance(SELLER),
        PRICE,
        "every won accounted for"
    );
    let paid = mock::events()
        .into_iter()
        .map(|(_, e)| e)
        .find(|e| e.ty == "lien_paid_off")
        .expect("a lien_paid_off event");
    let attr = |k: &str| {
        paid.attributes
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(attr("amount").as_deref(), Some("287500000"));
    assert_eq!(attr("maximum").as_deref(), Some("360000000"));
}

#[test]
fn a_missing_or_expired_payoff_statement_blocks_settlement_naming_the_bank() {
    genesis();
    // A second lien, by Bank B, without a statement.
    ok(mock::execute(
        REGISTRY,
        OFF2,
        &hanok_registry::ExecuteMsg::RecordLien {
            parcel_id: "P-1".into(),
            holder: BANK_B,
            amount: Amount(100_000_000),
        },
    ));
    let id = approved_deal();
    let before = parcel();
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id })),
        format!(
            "no payoff statement from bank {BANK_B} for lien 2 on parcel P-1: the bank must file \
             one (registry file_payoff) before settlement"
        )
    );
    // Bank B files one that lapses before the closing.
    ok(file_payoff(BANK_B, 2, 50_000_000, T0 + 600));
    mock::set_block(20, T0 + 601);
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id })),
        format!(
            "the payoff statement of bank {BANK_B} for lien 2 on parcel P-1 expired at {} \
             (block time {}): the bank must file a new one",
            T0 + 600,
            T0 + 601
        )
    );
    let active = |p: &Parcel| p.encumbrances.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(active(&parcel()), active(&before), "nothing discharged");
    assert_eq!(parcel().owners, before.owners, "the title did not move");
    assert_eq!(
        (balance(ESCROW), balance(BANK_A), balance(BANK_B)),
        (PRICE, 0, 0)
    );
    // A fresh statement, and the sale closes: both banks paid exactly what they stated.
    ok(file_payoff(BANK_B, 2, 50_000_000, PAYOFF_VALID_UNTIL));
    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));
    assert_eq!(balance(BANK_A), 300_000_000);
    assert_eq!(balance(BANK_B), 50_000_000);
    assert_eq!(balance(SELLER), PRICE - 350_000_000);
    assert_eq!(balance(ESCROW), 0);
}

#[test]
fn only_the_holder_bank_files_a_payoff_within_the_maximum_and_ahead_of_time() {
    genesis();
    assert_eq!(
        err(file_payoff(BANK_B, 1, 1, PAYOFF_VALID_UNTIL)),
        format!("unauthorized: only the lien's holder bank {BANK_A} may file its payoff statement")
    );
    assert_eq!(
        err(file_payoff(BANK_A, 1, LIEN_MAXIMUM + 1, PAYOFF_VALID_UNTIL)),
        "payoff 360000001 exceeds lien 1's registered maximum 360000000"
    );
    assert_eq!(
        err(file_payoff(BANK_A, 1, 1, T0)),
        format!(
            "valid_until {T0} is not after the block time {T0}: a payoff statement must hold for \
             some time ahead"
        )
    );
    assert_eq!(
        err(file_payoff(BANK_A, 9, 1, PAYOFF_VALID_UNTIL)),
        "lien 9 not found on parcel P-1"
    );
    // Zero is a statement too: the loan is repaid, the bank consents to the discharge.
    ok(file_payoff(BANK_A, 1, 0, PAYOFF_VALID_UNTIL));
    let id = approved_deal();
    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));
    assert_eq!((balance(BANK_A), balance(SELLER)), (0, PRICE));
    assert_eq!(parcel().past_encumbrances, 1, "the lien is discharged");
}

#[test]
fn a_frozen_title_or_a_passed_deadline_blocks_settlement_and_the_buyer_reclaims() {
    genesis();
    let id = approved_deal();
    let freeze = hanok_registry::ExecuteMsg::Freeze {
        parcel_id: "P-1".into(),
        court_order_hash: "0f".repeat(32),
    };
    ok(mock::execute(REGISTRY, OFF2, &freeze));
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id })),
        "title frozen by a court seizure"
    );
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: id })),
        "deal 1 cannot be refunded before its deadline"
    );
    mock::set_block(100, DEADLINE + 1);
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id })),
        "deadline passed"
    );
    assert_eq!(
        err(deal_exec(SELLER, &ExecuteMsg::Refund { deal_id: id })),
        "unauthorized: only the buyer may reclaim the escrow"
    );
    ok(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: id }));
    assert_eq!((balance(BUYER), balance(ESCROW)), (PRICE, 0));
    assert_eq!(deal(id).status, Status::Refunded);
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: id })),
        "deal 1 is already refunded"
    );
}

#[test]
fn roles_order_and_approvals_are_enforced() {
    genesis();
    let open_msg = |seller| ExecuteMsg::Open {
        parcel_id: "P-1".into(),
        seller,
        buyer: BUYER,
        price: Amount(PRICE),
        deadline: DEADLINE,
        lender: None,
        co_sellers: Vec::new(),
        share_sale: false,
        schedule: None,
    };
    assert_eq!(
        err(deal_exec(SELLER, &open_msg(SELLER))),
        "unauthorized: only an enrolled broker may open a deal"
    );
    assert_eq!(
        err(deal_exec(BROKER, &open_msg(BANK_A))),
        format!("seller {BANK_A} is not the sole owner of parcel P-1")
    );
    let past = ExecuteMsg::Open {
        parcel_id: "P-1".into(),
        seller: SELLER,
        buyer: BUYER,
        price: Amount(1),
        deadline: T0,
        lender: None,
        co_sellers: Vec::new(),
        share_sale: false,
        schedule: None,
    };
    assert_eq!(
        err(deal_exec(BROKER, &past)),
        "deadline must be in the future"
    );
    let id = open();
    assert_eq!(
        err(deal_exec(BROKER, &open_msg(SELLER))),
        "parcel P-1 already has pending deal 1"
    );

    // Funding: only the exact price, only by the buyer, only through the token.
    assert_eq!(
        err(fund(id, PRICE - 1)),
        "deal 1 needs exactly 900000000, got 899999999"
    );
    assert_eq!(balance(BUYER), PRICE);
    let direct = ExecuteMsg::Funded {
        deal_id: id,
        funder: BUYER,
        amount: Amount(PRICE),
    };
    assert_eq!(
        err(deal_exec(BUYER, &direct)),
        "unauthorized: only the escrow contract may report funding"
    );
    assert_eq!(err(sign(SELLER, id)), "deal 1 is open, not funded");
    ok(fund(id, PRICE));
    ok(mock::execute(
        KRW,
        BANK_B,
        &hanok_krw::ExecuteMsg::Mint {
            to: BUYER,
            amount: Amount(PRICE),
        },
    ));
    assert_eq!(err(fund(id, PRICE)), "deal 1 is already funded");
    assert_eq!(
        err(deal_exec(BROKER, &ExecuteMsg::Cancel { deal_id: id })),
        "deal 1 is funded, it can only be cancelled before funding"
    );

    ok(sign(SELLER, id));
    assert_eq!(err(sign(SELLER, id)), format!("already signed by {SELLER}"));
    assert_eq!(
        err(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: id })),
        "deal 1 is funded, not signed"
    );
    ok(sign(BUYER, id));
    assert_eq!(
        err(deal_exec(BANK_A, &ExecuteMsg::Approve { deal_id: id })),
        "unauthorized: only an official may approve"
    );
    ok(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: id }));
    assert_eq!(
        err(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: id })),
        format!("already approved by {OFF2}")
    );
    assert_eq!(deal(id).status, Status::Signed);
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id })),
        "deal 1 is signed, not approved"
    );
    ok(reject(
        OFF3,
        id,
        "The seller's seal does not match the registered seal.",
    ));
    assert_eq!(deal(id).status, Status::Rejected);
    ok(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: id }));
    assert_eq!(balance(BUYER), 2 * PRICE);
    // The parcel is free again.
    assert_eq!(open(), 2);
    ok(deal_exec(SELLER, &ExecuteMsg::Cancel { deal_id: 2 }));
    assert_eq!(deal(2).status, Status::Cancelled);
}

#[test]
fn only_the_named_lender_attaches_up_to_its_maximum_before_anyone_signs() {
    genesis();
    let id = open();
    let attach = |amount| ExecuteMsg::AttachMortgage {
        deal_id: id,
        amount: Amount(amount),
    };
    assert_eq!(
        err(deal_exec(BANK_A, &attach(1))),
        "unauthorized: only the lender deal 1 names may attach its mortgage"
    );
    assert_eq!(
        err(deal_exec(BANK_B, &attach(MAX_MORTGAGE + 1))),
        "mortgage 600000001 exceeds the 600000000 deal 1 allows its lender"
    );
    ok(deal_exec(BANK_B, &attach(400_000_000)));
    // Until someone signs, the lender may change the amount.
    ok(deal_exec(BANK_B, &attach(500_000_000)));
    ok(fund(id, PRICE));
    let mut stale = deal(id).terms();
    stale.mortgage_amount = Some(Amount(400_000_000));
    assert_eq!(
        err(deal_exec(
            BUYER,
            &ExecuteMsg::Sign {
                deal_id: id,
                terms: stale
            }
        )),
        format!(
            "terms mismatch: the signature covers price 900000000, deadline {DEADLINE}, lender \
             {BANK_B}, mortgage 400000000, but deal 1 has price 900000000, deadline \
             {DEADLINE}, lender {BANK_B}, mortgage 500000000"
        )
    );
    ok(sign(BUYER, id));
    assert_eq!(
        err(deal_exec(BANK_B, &attach(MAX_MORTGAGE))),
        format!(
            "deal 1 is already signed by {BUYER}: the mortgage must be attached before the \
             parties sign"
        )
    );
    ok(sign(SELLER, id));
    ok(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));
    let new_liens: Vec<_> = parcel().encumbrances.into_iter().map(|e| e.kind).collect();
    assert_eq!(
        new_liens,
        vec![EncumbranceKind::Mortgage {
            holder: BANK_B,
            amount: Amount(500_000_000),
            payoff: None,
        }],
        "settlement records exactly the signed mortgage"
    );

    // A deal that names no lender takes no mortgage at all.
    let cash = ExecuteMsg::Open {
        parcel_id: "P-1".into(),
        seller: BUYER,
        buyer: SELLER,
        price: Amount(1),
        deadline: DEADLINE,
        lender: None,
        co_sellers: Vec::new(),
        share_sale: false,
        schedule: None,
    };
    ok(deal_exec(BROKER, &cash));
    assert_eq!(
        err(deal_exec(
            BANK_B,
            &ExecuteMsg::AttachMortgage {
                deal_id: 2,
                amount: Amount(1)
            }
        )),
        "unauthorized: only the lender deal 2 names may attach its mortgage"
    );
}

#[test]
fn a_proposal_binds_the_parcel_only_once_the_seller_accepts() {
    genesis();
    let id = propose(DEADLINE);
    assert_eq!(deal(id).status, Status::Proposed);
    assert_eq!(pending_on_p1(), None, "a proposal holds nothing");
    assert_eq!(err(fund(id, PRICE)), "deal 1 is not open (status proposed)");
    // Another proposal on the same parcel is fine; the seller picks one.
    let other = propose(DEADLINE);
    for who in [BROKER, BUYER, BANK_B] {
        assert_eq!(
            err(deal_exec(who, &ExecuteMsg::Accept { deal_id: id })),
            "unauthorized: only the seller may accept deal 1"
        );
    }
    ok(deal_exec(SELLER, &ExecuteMsg::Accept { deal_id: id }));
    assert_eq!(pending_on_p1(), Some(id));
    assert_eq!(
        err(deal_exec(SELLER, &ExecuteMsg::Accept { deal_id: other })),
        "parcel P-1 already has pending deal 1"
    );
    // The seller may still walk away before funding.
    ok(deal_exec(SELLER, &ExecuteMsg::Cancel { deal_id: id }));
    assert_eq!(
        err(deal_exec(
            BANK_B,
            &ExecuteMsg::AttachMortgage {
                deal_id: id,
                amount: Amount(1)
            }
        )),
        "deal 1 is cancelled, not proposed, open or funded"
    );
    ok(deal_exec(SELLER, &ExecuteMsg::Accept { deal_id: other }));
    assert_eq!(pending_on_p1(), Some(other));
}

#[test]
fn the_deadline_is_bounded_and_an_expired_deal_frees_the_parcel() {
    genesis();
    assert_eq!(
        err(deal_exec(BROKER, &open_msg(u64::MAX))),
        format!(
            "deadline too far ahead: {} s after the block time, the registry policy allows at \
             most 31536000 s",
            u64::MAX - T0
        )
    );
    let year = T0 + hanok_registry::DEFAULT_MAX_DEAL_SECS;
    assert!(deal_exec(BROKER, &open_msg(year + 1)).is_err());
    let id = propose(year);
    ok(deal_exec(SELLER, &ExecuteMsg::Cancel { deal_id: id }));

    // A funded deal whose buyer never comes back.
    let id = open();
    ok(fund(id, PRICE));
    assert_eq!(
        err(deal_exec(BROKER, &open_msg(DEADLINE))),
        format!("parcel P-1 already has pending deal {id}")
    );
    mock::set_block(50, DEADLINE + 1);
    assert_eq!(pending_on_p1(), None, "past its deadline it holds nothing");
    let next = propose(DEADLINE + 86_400);
    assert_eq!(deal(id).status, Status::Expired);
    ok(deal_exec(SELLER, &ExecuteMsg::Accept { deal_id: next }));
    assert_eq!(pending_on_p1(), Some(next));
    // The expired deal's buyer still gets the money back, once.
    ok(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: id }));
    assert_eq!(balance(BUYER), PRICE);
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: id })),
        format!("deal {id} is already refunded")
    );
    assert_eq!(
        pending_on_p1(),
        Some(next),
        "the refund leaves the new deal alone"
    );
}

#[test]
fn a_demoted_official_neither_settles_nor_counts() {
    genesis();
    let id = approved_deal(); // approved by OFF1 and OFF3
    ok(mock::execute(
        IDENTITY,
        AUTH,
        &hanok_identity::ExecuteMsg::Enrol {
            address: OFF3,
            roles: vec![Role::Citizen],
            person_hash: None,
        },
    ));
    assert_eq!(
        err(deal_exec(OFF3, &ExecuteMsg::Settle { deal_id: id })),
        "unauthorized: only the broker, seller, buyer or a policy official may settle"
    );
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id })),
        "not enough approvals: deal 1 has 1 by officials still enrolled and in the registry \
         policy, which needs 2"
    );
    // A still-enrolled official makes up the threshold and settles.
    ok(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(OFF2, &ExecuteMsg::Settle { deal_id: id }));
    assert_eq!(deal(id).status, Status::Settled);
}

#[test]
fn a_rejection_must_say_why_and_the_reason_is_kept() {
    genesis();
    let id = signed_on("P-1");
    let refusal = "a rejection must say why: give a non-empty reason";
    assert_eq!(err(reject(OFF1, id, "")), refusal);
    assert_eq!(err(reject(OFF1, id, " \n\t  ")), refusal);
    // A message without the field reads as an empty reason.
    assert_eq!(
        err(mock::execute(
            DEAL,
            OFF1,
            &serde_json::json!({ "reject": { "deal_id": id } })
        )),
        refusal
    );
    let long = "x".repeat(MAX_REJECTION_REASON_BYTES + 1);
    assert_eq!(
        err(reject(OFF1, id, &long)),
        "rejection reason too long: 501 bytes, at most 500 allowed"
    );
    // The limit counts bytes, not characters: 167 three-byte Hangul syllables are 501 bytes.
    assert_eq!(
        err(reject(OFF1, id, &"가".repeat(167))),
        "rejection reason too long: 501 bytes, at most 500 allowed"
    );
    // Authority is still checked first.
    assert_eq!(
        err(reject(BUYER, id, "I changed my mind")),
        "unauthorized: only an official may reject"
    );
    assert_eq!(deal(id).status, Status::Signed, "refusals change nothing");
    assert_eq!(awaiting(None, None), vec![id]);

    mock::take_events();
    ok(reject(
        OFF2,
        id,
        "  The seller's seal does not match the registered seal.\n",
    ));
    let reason = "The seller's seal does not match the registered seal.";
    let d = deal(id);
    assert_eq!(d.status, Status::Rejected);
    assert_eq!(d.rejected_by, Some(OFF2));
    assert_eq!(
        d.rejection_reason.as_deref(),
        Some(reason),
        "stored trimmed"
    );
    let events = mock::take_events();
    // The concluded contract's report is marked cancelled, then the rejection itself.
    let [(_, cancelled), (from, rejected)] = events.as_slice() else {
        panic!("two events expected: {events:?}");
    };
    assert_eq!(cancelled.ty, "transaction_reported");
    assert_eq!(*from, DEAL);
    assert_eq!(rejected.ty, "deal_rejected");
    assert_eq!(
        rejected.attributes,
        vec![
            ("deal_id".to_string(), id.to_string()),
            ("parcel_id".to_string(), "P-1".to_string()),
            ("by".to_string(), OFF2.to_string()),
            ("reason".to_string(), reason.to_string()),
        ]
    );
    assert_eq!(
        err(reject(OFF1, id, "again")),
        "deal 1 is rejected, it can no longer be rejected"
    );

    // Exactly the limit is fine once trimmed, and a proposal may be rejected too.
    let next = propose(DEADLINE);
    let full = "x".repeat(MAX_REJECTION_REASON_BYTES);
    ok(reject(OFF3, next, &format!("\t{full}  ")));
    assert_eq!(deal(next).rejection_reason, Some(full));
    assert_eq!(deal(next).status, Status::Rejected);
}

#[test]
fn the_approval_queue_holds_exactly_the_signed_deals() {
    genesis();
    for p in ["P-2", "P-3", "P-4", "P-5"] {
        register_parcel(p);
    }
    assert!(awaiting(None, None).is_empty());
    let d1 = signed_on("P-1");
    assert_eq!(awaiting(None, None), vec![d1]);
    // Funded and signed by one party only: not waiting for the officials yet.
    let d2 = funded_on("P-2");
    ok(sign(SELLER, d2));
    let d3 = signed_on("P-3");
    assert_eq!(awaiting(None, None), vec![d1, d3]);

    // One approval short of the 2-of-3 threshold: still listed.
    ok(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: d1 }));
    assert_eq!(deal(d1).status, Status::Signed);
    assert_eq!(awaiting(None, None), vec![d1, d3]);
    // The threshold: approved, gone.
    ok(deal_exec(OFF3, &ExecuteMsg::Approve { deal_id: d1 }));
    assert_eq!(deal(d1).status, Status::Approved);
    assert_eq!(awaiting(None, None), vec![d3]);

    // Deal id order, not the order in which deals were signed.
    ok(sign(BUYER, d2));
    assert_eq!(awaiting(None, None), vec![d2, d3]);

    // Rejected: gone.
    ok(reject(OFF2, d3, "Unpaid acquisition tax on the parcel."));
    assert_eq!(awaiting(None, None), vec![d2]);

    // An approved deal whose approvals stop counting goes back to signed with the next
    // approval that falls short, and so back into the queue.
    for demoted in [OFF1, OFF3] {
        ok(mock::execute(
            IDENTITY,
            AUTH,
            &hanok_identity::ExecuteMsg::Enrol {
                address: demoted,
                roles: vec![Role::Citizen],
                person_hash: None,
            },
        ));
    }
    ok(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: d1 }));
    assert_eq!(deal(d1).status, Status::Signed);
    assert_eq!(awaiting(None, None), vec![d1, d2]);
    for official in [OFF1, OFF3] {
        ok(mock::execute(
            IDENTITY,
            AUTH,
            &hanok_identity::ExecuteMsg::Enrol {
                address: official,
                roles: vec![Role::Official],
                person_hash: None,
            },
        ));
    }
    let d4 = signed_on("P-4");
    assert_eq!(awaiting(None, None), vec![d1, d2, d4]);

    // Past the deadline the signed deals stay listed (the console shows the deadline check
    // failing) until they are refunded or expired.
    mock::set_block(100, DEADLINE + 1);
    assert_eq!(awaiting(None, None), vec![d1, d2, d4]);
    assert_eq!(
        err(deal_exec(OFF3, &ExecuteMsg::Approve { deal_id: d2 })),
        "deadline passed"
    );
    // Refunded: gone.
    ok(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: d2 }));
    assert_eq!(deal(d2).status, Status::Refunded);
    assert_eq!(awaiting(None, None), vec![d1, d4]);
    // Expired when a new deal claims its parcel: gone.
    let data = ok(deal_exec(BROKER, &open_msg(DEADLINE + 86_400)));
    assert!(!data.is_empty());
    assert_eq!(deal(d1).status, Status::Expired);
    assert_eq!(awaiting(None, None), vec![d4]);
    ok(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: d4 }));
    assert!(awaiting(None, None).is_empty());
    // Deals that never reached signed or left it never show up again.
    assert_eq!(deal(d3).status, Status::Rejected);
    assert_eq!(deal(d4).status, Status::Refunded);
}

#[test]
fn the_approval_queue_pages_in_id_order_and_clamps_the_limit() {
    // The numbers the message docs, the schemas and docs/contracts.md state.
    assert_eq!((AWAITING_DEFAULT_LIMIT, AWAITING_MAX_LIMIT), (20, 50));
    assert_eq!(MAX_REJECTION_REASON_BYTES, 500);
    genesis();
    let n = u64::from(AWAITING_MAX_LIMIT) + 3;
    let mut ids = vec![signed_on("P-1")];
    for i in 2..=n {
        let parcel = format!("P-{i}");
        register_parcel(&parcel);
        ids.push(signed_on(&parcel));
    }
    assert_eq!(ids, (1..=n).collect::<Vec<_>>());
    let range = |from: u64, to: u64| (from..=to).collect::<Vec<u64>>();
    let default = u64::from(AWAITING_DEFAULT_LIMIT);
    let max = u64::from(AWAITING_MAX_LIMIT);
    assert_eq!(awaiting(None, None), range(1, default));
    assert_eq!(
        awaiting(Some(default), None),
        range(default + 1, 2 * default)
    );
    assert_eq!(awaiting(Some(7), Some(3)), range(8, 10));
    assert_eq!(awaiting(None, Some(1_000)), range(1, max), "clamped");
    assert_eq!(awaiting(None, Some(u32::MAX)), range(1, max), "clamped");
    assert_eq!(awaiting(Some(max), Some(1_000)), range(max + 1, n));
    assert!(awaiting(Some(n), None).is_empty());
    assert!(awaiting(None, Some(0)).is_empty());
    // `start_after` need not be in the queue: deal 8 leaves it, paging after it still works.
    ok(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: 8 }));
    ok(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: 8 }));
    assert_eq!(awaiting(Some(6), Some(3)), vec![7, 9, 10]);
    assert_eq!(awaiting(Some(8), Some(2)), vec![9, 10]);
    // Full records, as the `deal` query returns them.
    let r: Result<DealsResponse, _> = mock::query(
        DEAL,
        &QueryMsg::AwaitingApproval {
            start_after: None,
            limit: Some(1),
        },
    );
    match r {
        Ok(r) => assert_eq!(r.deals, vec![deal(1)]),
        Err(e) => panic!("{e}"),
    }
}

/// The seller's spouse, co-owner of P-2.
const SPOUSE: Address = Address([0x0a; 20]);

/// P-2: owned by SELLER (33.33 %) and SPOUSE (66.67 %), with Bank A's lien (payoff statement
/// 300,000,001, so the proceeds, 599,999,999, do not divide evenly by share).
fn co_owned_parcel() {
    ok(mock::execute(
        IDENTITY,
        AUTH,
        &hanok_identity::ExecuteMsg::Enrol {
            address: SPOUSE,
            roles: vec![Role::Citizen],
            person_hash: None,
        },
    ));
    ok(mock::execute(
        REGISTRY,
        OFF1,
        &hanok_registry::ExecuteMsg::RegisterParcel {
            parcel_id: "P-2".into(),
            lot_number: "77-1".into(),
            address: "2 Sejong-daero, Jung-gu, Seoul".into(),
            area_m2_hundredths: 8_450,
            land_use: LandUse::Residential,
            owners: vec![
                Owner {
                    owner: SELLER,
                    share_bps: 3_333,
                },
                Owner {
                    owner: SPOUSE,
                    share_bps: 6_667,
                },
            ],
        },
    ));
    ok(mock::execute(
        REGISTRY,
        OFF1,
        &hanok_registry::ExecuteMsg::RecordLien {
            parcel_id: "P-2".into(),
            holder: BANK_A,
            amount: Amount(LIEN_MAXIMUM),
        },
    ));
    ok(mock::execute(
        REGISTRY,
        BANK_A,
        &hanok_registry::ExecuteMsg::FilePayoff {
            parcel_id: "P-2".into(),
            lien_id: 1,
            amount: Amount(300_000_001),
            valid_until: PAYOFF_VALID_UNTIL,
        },
    ));
}

fn open_p2(seller: Address, co_sellers: Vec<Address>, share_sale: bool) -> Result<u64, String> {
    let msg = ExecuteMsg::Open {
        parcel_id: "P-2".into(),
        seller,
        buyer: BUYER,
        price: Amount(PRICE),
        deadline: DEADLINE,
        lender: None,
        co_sellers,
        share_sale,
        schedule: None,
    };
    deal_exec(BROKER, &msg)
        .map(|data| match serde_json::from_slice::<OpenResponse>(&data) {
            Ok(r) => r.deal_id,
            Err(e) => panic!("{e}"),
        })
        .map_err(|e| e.to_string())
}

fn owners_of(parcel_id: &str) -> Vec<(Address, u32)> {
    match mock::query::<_, Parcel>(
        REGISTRY,
        &hanok_registry::QueryMsg::Parcel {
            parcel_id: parcel_id.into(),
        },
    ) {
        Ok(p) => p.owners.iter().map(|o| (o.owner, o.share_bps)).collect(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn co_owners_sell_the_whole_parcel_together_each_paid_by_share() {
    genesis();
    co_owned_parcel();
    assert_eq!(
        open_p2(SELLER, vec![], false),
        Err(format!(
            "seller {SELLER} is not the sole owner of parcel P-2"
        ))
    );
    assert_eq!(
        open_p2(SELLER, vec![BROKER], false),
        Err(format!("seller {BROKER} owns no share of parcel P-2"))
    );
    let id = open_p2(SELLER, vec![SPOUSE], false).expect("both co-owners sell");
    // One co-owner's acceptance binds nothing: the deal waits for the other.
    ok(deal_exec(SELLER, &ExecuteMsg::Accept { deal_id: id }));
    assert_eq!(deal(id).status, Status::Proposed);
    assert_eq!(
        err(deal_exec(SELLER, &ExecuteMsg::Accept { deal_id: id })),
        format!("already accepted by {SELLER}")
    );
    ok(deal_exec(SPOUSE, &ExecuteMsg::Accept { deal_id: id }));
    assert_eq!(deal(id).status, Status::Open);
    ok(fund(id, PRICE));
    ok(sign(SELLER, id));
    ok(sign(BUYER, id));
    assert_eq!(
        deal(id).status,
        Status::Funded,
        "the spouse has not signed yet"
    );
    ok(sign(SPOUSE, id));
    assert_eq!(deal(id).status, Status::Signed);
    ok(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: id }));
    mock::take_events();
    ok(deal_exec(SPOUSE, &ExecuteMsg::Settle { deal_id: id }));

    // Proceeds 900,000,000 − 300,000,001 = 599,999,999. By share, rounded down:
    // 33.33 % → 199,979,999; 66.67 % → 400,019,999; the 1 won left by rounding goes to the
    // seller named first.
    assert_eq!(balance(BANK_A), 300_000_001);
    assert_eq!(balance(SELLER), 199_980_000);
    assert_eq!(balance(SPOUSE), 400_019_999);
    assert_eq!(balance(ESCROW), 0);
    assert_eq!(
        balance(BANK_A) + balance(SELLER) + balance(SPOUSE),
        PRICE,
        "every won of the price is accounted for"
    );
    assert_eq!(owners_of("P-2"), vec![(BUYER, 10_000)]);
    let paid: Vec<Vec<(String, String)>> = mock::events()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.ty == "proceeds_paid")
        .map(|e| e.attributes)
        .collect();
    assert_eq!(paid.len(), 2, "one proceeds_paid per co-owner");
    let r = report(id).expect("report");
    assert_eq!((r.co_sellers, r.share_bps), (vec![SPOUSE], 10_000));
}

#[test]
fn a_co_owner_sells_their_share_alone_and_the_others_keep_theirs() {
    genesis();
    co_owned_parcel();
    // A sole owner sells the whole parcel, not a "share".
    assert!(matches!(
        deal_exec(BROKER, &ExecuteMsg::Open {
            parcel_id: "P-1".into(),
            seller: SELLER,
            buyer: BUYER,
            price: Amount(PRICE),
            deadline: DEADLINE,
            lender: None,
            co_sellers: Vec::new(),
            share_sale: true,
            schedule: None,
        }),
        Err(e) if e.to_string().contains("is the sole owner of parcel P-1")
    ));
    let with_lender = ExecuteMsg::Open {
        parcel_id: "P-2".into(),
        seller: SPOUSE,
        buyer: BUYER,
        price: Amount(PRICE),
        deadline: DEADLINE,
        lender: Some(Lender {
            bank: BANK_B,
            max_amount: Amount(1),
        }),
        co_sellers: Vec::new(),
        share_sale: true,
        schedule: None,
    };
    assert_eq!(
        err(deal_exec(BROKER, &with_lender)),
        "a share sale takes no new mortgage: drop the lender"
    );
    let id = open_p2(SPOUSE, vec![], true).expect("a share sale");
    ok(deal_exec(SPOUSE, &ExecuteMsg::Accept { deal_id: id }));
    assert_eq!(deal(id).share_bps, Some(6_667));
    ok(fund(id, PRICE));
    ok(sign(SPOUSE, id));
    ok(sign(BUYER, id));
    ok(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(OFF3, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));
    // Only the spouse's share moved; the seller keeps theirs.
    assert_eq!(owners_of("P-2"), vec![(SELLER, 3_333), (BUYER, 6_667)]);
    // The lien burdens every share: it stays, and the spouse is paid the whole price.
    assert_eq!(balance(SPOUSE), PRICE);
    assert_eq!((balance(BANK_A), balance(ESCROW)), (0, 0));
    let p: Parcel = mock::query(
        REGISTRY,
        &hanok_registry::QueryMsg::Parcel {
            parcel_id: "P-2".into(),
        },
    )
    .expect("parcel");
    assert_eq!(p.encumbrances.len(), 1, "Bank A's lien stays");
    assert_eq!(report(id).expect("report").share_bps, 6_667);
}

const DEPOSIT: u128 = 90_000_000;
const INTERIM: u128 = 300_000_000;
const BALANCE: u128 = PRICE - DEPOSIT - INTERIM;

fn schedule() -> Schedule {
    Schedule {
        deposit: Amount(DEPOSIT),
        deposit_due: T0 + 1_000,
        interim: Some(Amount(INTERIM)),
        interim_due: Some(T0 + 5_000),
        balance_due: DEADLINE,
    }
}

/// A staged deal on P-1 (no new mortgage), accepted; its deposit paid and both signatures
/// given when `signed`.
fn staged(signed: bool) -> u64 {
    let msg = ExecuteMsg::Open {
        parcel_id: "P-1".into(),
        seller: SELLER,
        buyer: BUYER,
        price: Amount(PRICE),
        deadline: DEADLINE,
        lender: None,
        co_sellers: Vec::new(),
        share_sale: false,
        schedule: Some(schedule()),
    };
    let id = match serde_json::from_slice::<OpenResponse>(&ok(deal_exec(BROKER, &msg))) {
        Ok(r) => r.deal_id,
        Err(e) => panic!("{e}"),
    };
    ok(deal_exec(SELLER, &ExecuteMsg::Accept { deal_id: id }));
    if signed {
        ok(fund(id, DEPOSIT));
        ok(sign(SELLER, id));
        ok(sign(BUYER, id));
    }
    id
}

/// Every won of the buyer's 900,000,000 (and whatever else was minted) is somewhere.
fn all_accounted(extra: u128) {
    assert_eq!(
        balance(BUYER) + balance(SELLER) + balance(ESCROW) + balance(BANK_A),
        PRICE + extra,
        "balances add up"
    );
}

#[test]
fn a_schedule_must_add_up_and_fall_due_in_order() {
    genesis();
    let open = |s: Schedule| {
        err(deal_exec(
            BROKER,
            &ExecuteMsg::Open {
                parcel_id: "P-1".into(),
                seller: SELLER,
                buyer: BUYER,
                price: Amount(PRICE),
                deadline: DEADLINE,
                lender: None,
                co_sellers: Vec::new(),
                share_sale: false,
                schedule: Some(s),
            },
        ))
    };
    assert_eq!(
        open(Schedule {
            interim: Some(Amount(PRICE - DEPOSIT)),
            ..schedule()
        }),
        "the deposit and the interim payment must leave a positive balance"
    );
    assert_eq!(
        open(Schedule {
            interim_due: Some(T0 + 500),
            ..schedule()
        }),
        format!(
            "the interim falls due at {}, before the block time or the stage ahead of it",
            T0 + 500
        )
    );
    assert_eq!(
        open(Schedule {
            balance_due: DEADLINE + 1,
            ..schedule()
        }),
        format!(
            "the balance falls due at {}, after the deal's deadline {DEADLINE}",
            DEADLINE + 1
        )
    );
    assert_eq!(
        open(Schedule {
            interim_due: None,
            ..schedule()
        }),
        "give the interim payment and its due time together, or neither"
    );
}

#[test]
fn staged_payments_fall_due_in_order_and_the_sale_closes() {
    genesis();
    let id = staged(false);
    assert_eq!(
        err(fund(id, PRICE)),
        format!("deal {id}'s deposit is exactly {DEPOSIT}, got {PRICE}")
    );
    ok(fund(id, DEPOSIT));
    // The contract is concluded when the deposit is paid: both sign now, and the report is
    // filed.
    ok(sign(SELLER, id));
    ok(sign(BUYER, id));
    assert_eq!(deal(id).status, Status::Open, "still being paid for");
    assert_eq!(
        report(id).expect("filed at conclusion").status,
        ReportStatus::Contracted
    );
    assert!(
        awaiting(None, None).is_empty(),
        "not for approval until paid in full"
    );
    mock::set_block(10, T0 + 4_000);
    ok(fund(id, INTERIM));
    mock::set_block(20, T0 + 50_000);
    ok(fund(id, BALANCE));
    assert_eq!(deal(id).status, Status::Signed, "paid in full and signed");
    assert_eq!(awaiting(None, None), vec![id]);
    ok(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));
    assert_eq!(balance(BANK_A), 300_000_000);
    assert_eq!(balance(SELLER), 600_000_000);
    all_accounted(0);
    let r = report(id).expect("report");
    assert_eq!(r.status, ReportStatus::Settled);
    let stages: Vec<(&str, u128)> = r
        .payments
        .iter()
        .map(|p| (p.stage.as_str(), p.amount.0))
        .collect();
    assert_eq!(
        stages,
        vec![
            ("deposit", DEPOSIT),
            ("interim", INTERIM),
            ("balance", BALANCE)
        ]
    );
}

#[test]
fn the_buyer_walks_away_before_the_interim_payment_and_forfeits_the_deposit() {
    genesis();
    let id = staged(true);
    assert_eq!(
        err(deal_exec(SELLER, &ExecuteMsg::Withdraw { deal_id: id })),
        "unauthorized: only the buyer may withdraw from deal 1 (a seller withdraws by paying in \
         the deposit through the escrow)"
    );
    ok(deal_exec(BUYER, &ExecuteMsg::Withdraw { deal_id: id }));
    assert_eq!(balance(SELLER), DEPOSIT);
    assert_eq!(balance(BUYER), PRICE - DEPOSIT);
    assert_eq!(balance(ESCROW), 0);
    all_accounted(0);
    let d = deal(id);
    assert_eq!(d.status, Status::Cancelled);
    assert_eq!(
        d.cancellation
            .map(|c| (c.kind, c.to_sellers.0, c.to_buyer.0)),
        Some((CancelKind::BuyerWithdrew, DEPOSIT, 0))
    );
    assert_eq!(pending_on_p1(), None, "the parcel is free again");
    assert_eq!(report(id).expect("report").status, ReportStatus::Cancelled);
}

#[test]
fn the_seller_walks_away_before_the_interim_payment_and_returns_the_deposit_doubled() {
    genesis();
    let id = staged(true);
    // The seller needs the deposit's amount of their own.
    ok(mock::execute(
        KRW,
        BANK_B,
        &hanok_krw::ExecuteMsg::Mint {
            to: SELLER,
            amount: Amount(DEPOSIT),
        },
    ));
    let withdraw = |amount: u128| {
        mock::execute(
            KRW,
            SELLER,
            &hanok_krw::ExecuteMsg::Send {
                contract: ESCROW,
                amount: Amount(amount),
                msg: serde_json::json!({ "withdraw": { "deal_id": id } }),
            },
        )
    };
    assert_eq!(
        err(withdraw(DEPOSIT / 2)),
        format!(
            "to withdraw from deal {id} the seller pays in exactly the deposit, {DEPOSIT}, got \
             {}: the buyer receives it doubled",
            DEPOSIT / 2
        )
    );
    ok(withdraw(DEPOSIT));
    assert_eq!(deal(id).status, Status::Cancelled);
    assert_eq!(balance(ESCROW), 2 * DEPOSIT, "held for the buyer");
    ok(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: id }));
    assert_eq!(balance(BUYER), PRICE + DEPOSIT, "the deposit back, doubled");
    assert_eq!((balance(SELLER), balance(ESCROW)), (0, 0));
    all_accounted(DEPOSIT);
    assert_eq!(
        deal(id).cancellation.map(|c| (c.kind, c.by, c.to_buyer.0)),
        Some((CancelKind::SellerWithdrew, SELLER, 2 * DEPOSIT))
    );
}

#[test]
fn after_the_interim_payment_only_both_parties_together_end_the_contract() {
    genesis();
    let id = staged(true);
    mock::set_block(10, T0 + 4_000);
    ok(fund(id, INTERIM));
    assert!(err(deal_exec(BUYER, &ExecuteMsg::Withdraw { deal_id: id }))
        .starts_with("deal 1 cannot be withdrawn from"));
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Cancel { deal_id: id })),
        "deal 1 has payments in escrow: it ends by withdrawal under the earnest-money rule \
         (before the interim payment), agree_cancel or claim_default"
    );
    ok(deal_exec(BUYER, &ExecuteMsg::AgreeCancel { deal_id: id }));
    assert_eq!(
        deal(id).status,
        Status::Open,
        "one party alone ends nothing"
    );
    ok(deal_exec(SELLER, &ExecuteMsg::AgreeCancel { deal_id: id }));
    assert_eq!(balance(BUYER), PRICE, "everything paid goes back");
    assert_eq!((balance(SELLER), balance(ESCROW)), (0, 0));
    assert_eq!(
        deal(id).cancellation.map(|c| c.kind),
        Some(CancelKind::Mutual)
    );
}

#[test]
fn a_missed_payment_is_a_default_and_the_deposit_goes_to_the_seller() {
    genesis();
    let id = staged(true);
    mock::set_block(10, T0 + 4_000);
    ok(fund(id, INTERIM));
    assert_eq!(
        err(deal_exec(SELLER, &ExecuteMsg::ClaimDefault { deal_id: id })),
        "no payment of deal 1 is overdue"
    );
    // The balance falls due at the deadline and is not paid.
    mock::set_block(50, DEADLINE + 1);
    assert_eq!(
        err(deal_exec(BUYER, &ExecuteMsg::Refund { deal_id: id })),
        format!(
            "the buyer missed the balance due at {DEADLINE}: claim_default ends deal 1 (the \
             deposit goes to the seller, the rest back to the buyer)"
        )
    );
    ok(deal_exec(SELLER, &ExecuteMsg::ClaimDefault { deal_id: id }));
    assert_eq!(balance(SELLER), DEPOSIT, "the deposit is the penalty");
    assert_eq!(
        balance(BUYER),
        PRICE - DEPOSIT,
        "the interim payment comes back"
    );
    assert_eq!(balance(ESCROW), 0);
    all_accounted(0);
    assert_eq!(
        deal(id)
            .cancellation
            .map(|c| (c.kind, c.to_sellers.0, c.to_buyer.0)),
        Some((CancelKind::BuyerDefault, DEPOSIT, INTERIM))
    );
}

/// The Local Tax Act's table for a home and the first-home relief, set by the tax official.
fn set_statutory_rates() {
    ok(mock::execute(
        TAX,
        TAX_OFFICIAL,
        &hanok_tax::ExecuteMsg::SetRates {
            bands: hanok_tax::home_bands(),
            relief: Some(hanok_tax::FIRST_HOME_RELIEF),
            municipality: CITY,
        },
    ));
}

/// 3 % of the 9억 price.
const FULL_TAX: u128 = 27_000_000;
const RELIEF: u128 = 2_000_000;

fn mint_to_buyer(amount: u128) {
    ok(mock::execute(
        KRW,
        BANK_B,
        &hanok_krw::ExecuteMsg::Mint {
            to: BUYER,
            amount: Amount(amount),
        },
    ));
}

/// A deal on `parcel_id` (no lender) proposed and accepted.
fn accepted_on(parcel_id: &str, schedule: Option<Schedule>) -> u64 {
    let data = ok(deal_exec(
        BROKER,
        &ExecuteMsg::Open {
            parcel_id: parcel_id.into(),
            seller: SELLER,
            buyer: BUYER,
            price: Amount(PRICE),
            deadline: DEADLINE,
            lender: None,
            co_sellers: Vec::new(),
            share_sale: false,
            schedule,
        },
    ));
    let id = match serde_json::from_slice::<OpenResponse>(&data) {
        Ok(r) => r.deal_id,
        Err(e) => panic!("{e}"),
    };
    ok(deal_exec(SELLER, &ExecuteMsg::Accept { deal_id: id }));
    id
}

fn sign_approve_settle(id: u64) {
    ok(sign(SELLER, id));
    ok(sign(BUYER, id));
    ok(deal_exec(OFF1, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(OFF2, &ExecuteMsg::Approve { deal_id: id }));
    ok(deal_exec(BUYER, &ExecuteMsg::Settle { deal_id: id }));
    assert_eq!(deal(id).status, Status::Settled);
}

#[test]
fn the_acquisition_tax_is_paid_from_escrow_and_the_first_home_relief_applies_once() {
    genesis();
    set_statutory_rates();
    mint_to_buyer(FULL_TAX);
    let id = accepted_on("P-1", None);
    assert_eq!(
        deal(id).tax_quote,
        Some(hanok_tax::Quote {
            rate_bps: 300,
            full_tax: Amount(FULL_TAX)
        }),
        "quoted when the sale binds"
    );
    assert_eq!(
        err(fund(id, PRICE)),
        format!(
            "deal {id} needs exactly {} (the price {PRICE} and the acquisition tax {FULL_TAX}), \
             got {PRICE}",
            PRICE + FULL_TAX
        )
    );
    ok(fund(id, PRICE + FULL_TAX));
    sign_approve_settle(id);
    let d = deal(id);
    let a = d.tax.expect("assessed at settlement");
    assert_eq!(a.relief_status, hanok_tax::ReliefStatus::Applied);
    assert_eq!((a.relief.0, a.tax.0), (RELIEF, FULL_TAX - RELIEF));
    assert_eq!(balance(CITY), FULL_TAX - RELIEF, "the municipality is paid");
    assert_eq!(balance(BUYER), RELIEF, "the relief goes back to the buyer");
    assert_eq!(balance(BANK_A), 300_000_000);
    assert_eq!(
        balance(SELLER),
        PRICE - 300_000_000,
        "the tax is not the seller's"
    );
    assert_eq!(balance(ESCROW), 0);
    let settled = mock::events()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.ty == "acquisition_tax_assessed" || e.ty == "deal_settled")
        .collect::<Vec<_>>();
    let attr = |ty: &str, k: &str| {
        settled
            .iter()
            .filter(|e| e.ty == ty)
            .flat_map(|e| e.attributes.iter())
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        attr("acquisition_tax_assessed", "rate_bps").as_deref(),
        Some("300")
    );
    assert_eq!(
        attr("acquisition_tax_assessed", "relief_status").as_deref(),
        Some("applied")
    );
    assert_eq!(attr("deal_settled", "tax").as_deref(), Some("25000000"));
    // The report lists what was paid toward the price, and the tax apart.
    let r = report(id).expect("report");
    assert_eq!(
        r.payments.iter().map(|p| p.amount.0).collect::<Vec<_>>(),
        vec![PRICE]
    );
    assert_eq!(r.acquisition_tax, Some(Amount(FULL_TAX - RELIEF)));

    // The same buyer's second home: the relief was claimed, so the full rate.
    register_parcel("P-2");
    mint_to_buyer(PRICE + FULL_TAX);
    let second = accepted_on("P-2", None);
    ok(fund(second, PRICE + FULL_TAX));
    sign_approve_settle(second);
    let a = deal(second).tax.expect("assessed");
    assert_eq!(a.relief_status, hanok_tax::ReliefStatus::AlreadyClaimed);
    assert_eq!((a.relief.0, a.tax.0), (0, FULL_TAX));
    assert!(
        a.reason
            .contains(&format!("already claimed it with deal {id}")),
        "{}",
        a.reason
    );
    assert_eq!(balance(CITY), FULL_TAX - RELIEF + FULL_TAX);
    assert_eq!(balance(SELLER), PRICE - 300_000_000 + PRICE);
    assert_eq!(balance(BUYER), RELIEF);
    assert_eq!(balance(ESCROW), 0);
}

#[test]
fn a_staged_buyer_pays_the_tax_with_the_balance_and_gets_it_back_if_the_deal_ends() {
    genesis();
    set_statutory_rates();
    mint_to_buyer(FULL_TAX);
    let id = accepted_on("P-1", Some(schedule()));
    ok(fund(id, DEPOSIT));
    ok(fund(id, INTERIM));
    assert_eq!(
        deal(id)
            .next_stage()
            .map(|(stage, amount, _)| (stage, amount.0)),
        Some((Stage::Balance, BALANCE + FULL_TAX)),
        "the balance carries the tax"
    );
    assert_eq!(
        err(fund(id, BALANCE)),
        format!(
            "deal {id}'s balance is exactly {}, got {BALANCE}",
            BALANCE + FULL_TAX
        )
    );
    ok(fund(id, BALANCE + FULL_TAX));
    ok(sign(SELLER, id));
    ok(sign(BUYER, id));
    // Both agree to end it after all: everything paid, the tax included, goes back.
    ok(deal_exec(BUYER, &ExecuteMsg::AgreeCancel { deal_id: id }));
    ok(deal_exec(SELLER, &ExecuteMsg::AgreeCancel { deal_id: id }));
    assert_eq!(balance(BUYER), PRICE + FULL_TAX);
    assert_eq!((balance(ESCROW), balance(CITY)), (0, 0));
    assert_eq!(deal(id).tax, None, "nothing was assessed");
}

#[test]
fn a_deal_accepted_before_the_rate_table_pays_no_tax() {
    genesis();
    let id = accepted_on("P-1", None);
    set_statutory_rates();
    assert_eq!(deal(id).tax_quote, None);
    ok(fund(id, PRICE));
    sign_approve_settle(id);
    assert_eq!(deal(id).tax, None);
    assert_eq!(balance(CITY), 0);
    all_accounted(0);
}
