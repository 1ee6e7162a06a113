//! An official's review on the real wasm: the approval queue of signed deals, and a rejection
//! that must say why, kept on the deal and in its event.

use crate::refused;
use hanok_acceptance::{Deal, DealStatus, Story, Terms};
use serde::Deserialize;
use serde_json::{json, Value};

/// The `awaiting_approval` answer.
#[derive(Deserialize)]
struct Page {
    deals: Vec<Deal>,
}

fn queue(s: &Story, msg: Value) -> Vec<u64> {
    let page: Page = s
        .chain
        .query(s.system.deal, &json!({ "awaiting_approval": msg }))
        .expect("awaiting_approval");
    page.deals.iter().map(|d| d.deal_id).collect()
}

#[test]
fn the_queue_lists_a_signed_deal_and_a_rejection_records_its_reason() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    s.mint_to_buyer().expect("mint");
    s.open_deal().expect("open");
    s.fund().expect("fund");
    let id = s.deal_id().expect("id");
    assert!(queue(&s, json!({})).is_empty(), "funded: not yet");
    s.sign_both().expect("sign");
    // Both fields may be left out.
    assert_eq!(queue(&s, json!({})), vec![id]);
    assert_eq!(
        s.approve(1).expect("one approval").status,
        DealStatus::Signed
    );
    assert_eq!(
        queue(&s, json!({"start_after": null, "limit": 1})),
        vec![id],
        "one approval short of 2 of 3"
    );
    assert!(queue(&s, json!({ "start_after": id })).is_empty());

    let (official, deal) = (s.actors.officials[2], s.system.deal);
    let before = s.chain.dump();
    for msg in [
        json!({"reject": {"deal_id": id}}),
        json!({"reject": {"deal_id": id, "reason": " \n "}}),
    ] {
        assert_eq!(
            refused(s.tx(official, deal, msg), "a rejection without a reason"),
            "a rejection must say why: give a non-empty reason"
        );
    }
    assert_eq!(
        refused(
            s.tx(
                official,
                deal,
                json!({"reject": {"deal_id": id, "reason": "x".repeat(501)}}),
            ),
            "an over-long reason"
        ),
        "rejection reason too long: 501 bytes, at most 500 allowed"
    );
    assert_eq!(s.chain.dump(), before, "refusals change nothing");

    let reason = "등기필증의 인감이 일치하지 않습니다 (the seal does not match).";
    let r = s
        .tx(
            official,
            deal,
            json!({"reject": {"deal_id": id, "reason": format!("  {reason}\n")}}),
        )
        .expect("reject");
    let event = r.events_of("deal_rejected").next().expect("deal_rejected");
    assert_eq!(
        event.attributes.last(),
        Some(&("reason".to_string(), reason.to_string()))
    );
    let d = s.deal().expect("deal");
    assert_eq!(d.status, DealStatus::Rejected);
    assert_eq!(d.rejected_by, Some(official));
    assert_eq!(d.rejection_reason.as_deref(), Some(reason));
    assert!(queue(&s, json!({})).is_empty(), "rejected: gone");
}

/// A full page, 50 signed deals read in one query, fits a fifth of the node's default query gas
/// limit (`query_gas_limit`, 50,000,000): about 5,000,000 when this was written.
#[test]
fn a_full_page_of_the_queue_fits_the_query_gas_limit() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    let a = s.actors.clone();
    let (registry, deal, krw, escrow) = (
        s.system.registry,
        s.system.deal,
        s.system.krw,
        s.system.escrow,
    );
    let n = 53u64;
    let price = 1_000u128;
    s.tx(
        a.bank_b,
        krw,
        json!({"mint": {"to": a.buyer, "amount": (price * u128::from(n)).to_string()}}),
    )
    .expect("mint");
    let deadline = s.chain.block().time + 30 * 24 * 3600;
    for i in 1..=n {
        let parcel = format!("Q-{i}");
        s.tx(
            a.officials[0],
            registry,
            json!({"register_parcel": {"parcel_id": parcel, "lot_number": "1", "address": "Seoul",
                "area_m2_hundredths": 100, "land_use": "residential",
                "owners": [{"owner": a.seller, "share_bps": 10_000}]}}),
        )
        .expect("register");
        s.tx(
            a.broker,
            deal,
            json!({"open": {"parcel_id": parcel, "seller": a.seller, "buyer": a.buyer,
                "price": price.to_string(), "deadline": deadline}}),
        )
        .expect("open");
        s.tx(a.seller, deal, json!({"accept": {"deal_id": i}}))
            .expect("accept");
        s.tx(
            a.buyer,
            krw,
            json!({"send": {"contract": escrow, "amount": price.to_string(),
                "msg": {"fund": {"deal_id": i}}}}),
        )
        .expect("fund");
        let terms = json!({"price": price.to_string(), "deadline": deadline, "lender": null,
            "mortgage_amount": null});
        for who in [a.seller, a.buyer] {
            s.tx(who, deal, json!({"sign": {"deal_id": i, "terms": terms}}))
                .expect("sign");
        }
    }
    s.chain.set_gas_limit(10_000_000);
    let page = queue(&s, json!({"limit": 1_000}));
    assert_eq!(page, (1..=50).collect::<Vec<u64>>(), "clamped to 50");
    assert_eq!(queue(&s, json!({"start_after": 50})), vec![51, 52, 53]);
    assert_eq!(queue(&s, json!({})).len(), 20, "20 by default");
}
