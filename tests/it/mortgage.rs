//! The buyer's mortgage is the buyer's choice: only the lender the deal's terms name attaches
//! it, only up to the amount they allow, only before the parties sign; a signature covers the
//! exact terms, and settlement records exactly what was signed.

use crate::refused;
use hanok_abi::Amount;
use hanok_acceptance::{DealStatus, EncumbranceKind, SignedTerms, Story, Terms, EOK};
use serde_json::json;

/// A deal the seller accepted, with the buyer's money minted; no mortgage attached yet.
fn accepted(terms: Terms) -> Story {
    let mut s = Story::genesis(terms).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    s.mint_to_buyer().expect("mint");
    s.propose().expect("propose");
    s.accept().expect("accept");
    s
}

#[test]
fn a_bank_the_terms_do_not_name_cannot_attach_a_mortgage() {
    let mut s = accepted(Terms::default());
    let (deal, id, bank_a) = (s.system.deal, s.deal_id().expect("id"), s.actors.bank_a);
    let before = s.chain.dump();
    // The attack of issue 15: any bank, any amount, blocking the buyer's real lender.
    let msg = refused(
        s.tx(
            bank_a,
            deal,
            json!({"attach_mortgage": {"deal_id": id, "amount": u128::MAX.to_string()}}),
        ),
        "a mortgage attached by a bank the terms do not name",
    );
    assert_eq!(
        msg,
        "unauthorized: only the lender deal 1 names may attach its mortgage"
    );
    assert_eq!(s.chain.dump(), before, "nothing changed");
    // The buyer's own lender is not blocked.
    let d = s.attach_mortgage().expect("the named lender attaches");
    assert_eq!(
        d.mortgage.map(|m| (m.bank, m.amount.0)),
        Some((s.actors.bank_b, 6 * EOK))
    );

    // A deal whose terms name no lender takes a mortgage from no bank at all.
    s.tx(s.actors.seller, deal, json!({"cancel": {"deal_id": id}}))
        .expect("the seller cancels before funding");
    let deadline = s.chain.block().time + 3600;
    s.tx(
        s.actors.broker,
        deal,
        json!({"open": {"parcel_id": s.terms.parcel_id, "seller": s.actors.seller,
            "buyer": s.actors.buyer, "price": (9 * EOK).to_string(), "deadline": deadline}}),
    )
    .expect("a cash sale");
    for bank in [s.actors.bank_a, s.actors.bank_b] {
        let msg = refused(
            s.tx(
                bank,
                deal,
                json!({"attach_mortgage": {"deal_id": 2, "amount": "1"}}),
            ),
            "a mortgage on a cash sale",
        );
        assert_eq!(
            msg,
            "unauthorized: only the lender deal 2 names may attach its mortgage"
        );
    }
}

#[test]
fn the_named_lender_cannot_exceed_the_agreed_maximum() {
    let mut s = accepted(Terms::default());
    let (deal, id, bank_b) = (s.system.deal, s.deal_id().expect("id"), s.actors.bank_b);
    for amount in [u128::MAX, 6 * EOK + 1] {
        let msg = refused(
            s.tx(
                bank_b,
                deal,
                json!({"attach_mortgage": {"deal_id": id, "amount": amount.to_string()}}),
            ),
            "a mortgage above the terms' maximum",
        );
        assert_eq!(
            msg,
            format!("mortgage {amount} exceeds the 600000000 deal 1 allows its lender")
        );
    }
    assert_eq!(s.deal().expect("deal").mortgage, None);
}

#[test]
fn no_mortgage_is_attached_or_changed_once_a_party_signed() {
    let mut s = accepted(Terms::default());
    let (deal, id, bank_b) = (s.system.deal, s.deal_id().expect("id"), s.actors.bank_b);
    s.attach_mortgage().expect("attach");
    s.fund().expect("fund");
    s.sign(s.actors.buyer).expect("the buyer signs");
    let attach = json!({"attach_mortgage": {"deal_id": id, "amount": (5 * EOK).to_string()}});
    let msg = refused(
        s.tx(bank_b, deal, attach.clone()),
        "a mortgage changed after a signature",
    );
    assert_eq!(
        msg,
        format!(
            "deal 1 is already signed by {}: the mortgage must be attached before the parties \
             sign",
            s.actors.buyer
        )
    );
    s.sign(s.actors.seller).expect("the seller signs");
    s.approve(2).expect("approvals");
    refused(
        s.tx(bank_b, deal, attach),
        "a mortgage changed after approval",
    );
    let d = s.deal().expect("deal");
    assert_eq!(d.mortgage.map(|m| m.amount.0), Some(6 * EOK));
    assert_eq!(d.status, DealStatus::Approved);
}

#[test]
fn a_signature_must_state_the_deals_exact_terms() {
    let mut s = accepted(Terms::default());
    s.attach_mortgage().expect("attach");
    s.fund().expect("fund");
    let real = s.deal().expect("deal").terms();
    let stranger = s.actors.stranger;
    let wrong: [(&str, SignedTerms); 5] = [
        (
            "price",
            SignedTerms {
                price: Amount(8 * EOK),
                ..real
            },
        ),
        (
            "deadline",
            SignedTerms {
                deadline: real.deadline + 1,
                ..real
            },
        ),
        (
            "lender",
            SignedTerms {
                lender: Some(stranger),
                ..real
            },
        ),
        (
            "no mortgage",
            SignedTerms {
                mortgage_amount: None,
                ..real
            },
        ),
        (
            "a smaller mortgage",
            SignedTerms {
                mortgage_amount: Some(Amount(EOK)),
                ..real
            },
        ),
    ];
    for who in [s.actors.seller, s.actors.buyer] {
        for (what, terms) in &wrong {
            let msg = refused(s.sign_terms(who, terms), what);
            assert!(msg.starts_with("terms mismatch: "), "{what}: {msg}");
        }
    }
    let d = s.deal().expect("deal");
    assert!(d.signatures.is_empty() && d.status == DealStatus::Funded);
}

#[test]
fn the_buyers_named_bank_attaches_the_agreed_mortgage_and_settlement_records_exactly_that() {
    let terms = Terms {
        new_mortgage: 5 * EOK,
        max_mortgage: 7 * EOK,
        ..Terms::default()
    };
    let mut s = Story::up_to_approval(terms).expect("story");
    let d = s.deal().expect("deal");
    assert_eq!(
        d.signed_terms,
        Some(SignedTerms {
            price: Amount(9 * EOK),
            deadline: d.deadline,
            lender: Some(s.actors.bank_b),
            mortgage_amount: Some(Amount(5 * EOK)),
            schedule: None,
        }),
        "both parties signed the lender and the amount"
    );
    let settled = s.settle().expect("settle");
    let active: Vec<_> = s
        .parcel()
        .expect("parcel")
        .encumbrances
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        active,
        vec![EncumbranceKind::Mortgage {
            holder: s.actors.bank_b,
            amount: Amount(5 * EOK),
            payoff: None,
        }]
    );
    let ev = settled
        .events_of("deal_settled")
        .next()
        .expect("deal_settled");
    assert_eq!(ev.attr("new_lien_amount"), Some("500000000"));
    assert_eq!(
        ev.attr("new_lien_holder"),
        Some(s.actors.bank_b.to_string().as_str())
    );
}
