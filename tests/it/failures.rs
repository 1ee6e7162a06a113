//! DESIGN.md step 8: every way settlement can fail leaves the state exactly as it was; after the
//! deadline the buyer reclaims the escrow, once.

use hanok_acceptance::{DealStatus, Story, Terms, EOK};
use serde_json::json;

/// Settling must fail with a message containing `expected`, and change nothing at all.
fn settle_fails_without_a_trace(s: &mut Story, expected: &str) {
    let before = s.chain.dump();
    let err = s.settle().expect_err("settlement must fail");
    let msg = err.contract_message().unwrap_or_default().to_string();
    assert!(msg.contains(expected), "expected {expected:?} in {err}");
    assert_eq!(
        s.chain.dump(),
        before,
        "a failed settlement must leave state exactly as before"
    );
}

#[test]
fn payoff_short_reverts_everything() {
    // Bank A's lien is larger than the price: the escrow cannot pay it off.
    let terms = Terms {
        lien_a: 10 * EOK,
        ..Terms::default()
    };
    let mut s = Story::up_to_approval(terms).expect("story");
    settle_fails_without_a_trace(&mut s, "payoff short");
    assert_eq!(s.deal().expect("deal").status, DealStatus::Approved);
}

#[test]
fn title_under_seizure_reverts_everything() {
    let mut s = Story::up_to_approval(Terms::default()).expect("story");
    let (official, registry) = (s.actors.officials[2], s.system.registry);
    let parcel_id = s.terms.parcel_id.clone();
    s.tx(
        official,
        registry,
        json!({"freeze": {"parcel_id": parcel_id, "court_order_hash": "ab".repeat(32)}}),
    )
    .expect("freeze");
    assert!(s.parcel().expect("parcel").frozen);
    settle_fails_without_a_trace(&mut s, "frozen");
}

#[test]
fn missing_approval_reverts_everything() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    s.mint_to_buyer().expect("mint");
    s.open_deal().expect("open");
    s.fund().expect("fund");
    s.sign_both().expect("sign");
    s.approve(1).expect("one approval");
    settle_fails_without_a_trace(&mut s, "approved");
}

#[test]
fn deadline_passed_reverts_then_the_buyer_is_refunded_once() {
    let mut s = Story::up_to_approval(Terms::default()).expect("story");
    let buyer = s.actors.buyer;
    s.chain.advance_time(s.terms.deadline_in + 1);
    settle_fails_without_a_trace(&mut s, "deadline");

    let id = s.deal_id().expect("id");
    let deal = s.system.deal;
    // Only the buyer reclaims.
    let err = s
        .tx(s.actors.seller, deal, json!({"refund": {"deal_id": id}}))
        .expect_err("seller may not");
    assert!(err.contract_message().is_some(), "{err}");
    s.tx(buyer, deal, json!({"refund": {"deal_id": id}}))
        .expect("refund");
    assert_eq!(
        s.balance(buyer).expect("balance"),
        9 * EOK,
        "the buyer has the whole price back"
    );
    assert_eq!(s.balance(s.system.escrow).expect("balance"), 0);
    assert_eq!(s.deal().expect("deal").status, DealStatus::Refunded);
    assert_eq!(
        s.parcel().expect("parcel").owners[0].owner,
        s.actors.seller,
        "the title stays"
    );

    let before = s.chain.dump();
    let err = s
        .tx(buyer, deal, json!({"refund": {"deal_id": id}}))
        .expect_err("refund twice");
    assert!(err.contract_message().is_some(), "{err}");
    assert_eq!(s.chain.dump(), before);
}

#[test]
fn refund_before_the_deadline_is_refused() {
    let mut s = Story::up_to_approval(Terms::default()).expect("story");
    let id = s.deal_id().expect("id");
    let before = s.chain.dump();
    let err = s
        .tx(
            s.actors.buyer,
            s.system.deal,
            json!({"refund": {"deal_id": id}}),
        )
        .expect_err("too early");
    assert!(err.contract_message().is_some(), "{err}");
    assert_eq!(s.chain.dump(), before);
}
