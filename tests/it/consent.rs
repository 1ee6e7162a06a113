//! A deal binds a parcel only with the seller's consent and only until a deadline the registry
//! policy bounds; once its deadline passes it no longer blocks the parcel, and its buyer's
//! refund stays available.

use crate::refused;
use hanok_acceptance::{DealStatus, Story, Terms, DEFAULT_MAX_DEAL_SECS, EOK};
use serde_json::{json, Value};

fn story() -> Story {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    s.mint_to_buyer().expect("mint");
    s
}

/// The broker's `open` of the story's parcel with these fields.
fn open_msg(s: &Story, buyer: hanok_abi::Address, price: u128, deadline: u64) -> Value {
    json!({"open": {"parcel_id": s.terms.parcel_id, "seller": s.actors.seller, "buyer": buyer,
        "price": price.to_string(), "deadline": deadline}})
}

#[test]
fn a_brokers_proposal_alone_locks_nothing() {
    let mut s = story();
    let (broker, deal, krw) = (s.actors.broker, s.system.deal, s.system.krw);
    // The attack of issue 15: the broker names itself buyer at 1 won and funds at once.
    s.tx(
        s.actors.bank_b,
        krw,
        json!({"mint": {"to": broker, "amount": "1"}}),
    )
    .expect("the broker holds 1 won");
    let deadline = s.chain.block().time + 300 * 24 * 3600;
    let r = s
        .tx(broker, deal, open_msg(&s, broker, 1, deadline))
        .expect("a proposal");
    let own: Value = r.json().expect("open data");
    let own = own["deal_id"].as_u64().expect("deal id");
    let msg = refused(
        s.tx(
            broker,
            krw,
            json!({"send": {"contract": s.system.escrow, "amount": "1",
                "msg": {"fund": {"deal_id": own}}}}),
        ),
        "funding a proposal the seller never accepted",
    );
    assert_eq!(msg, format!("deal {own} is not open (status proposed)"));
    let msg = refused(
        s.tx(broker, deal, json!({"accept": {"deal_id": own}})),
        "the broker accepting its own proposal",
    );
    assert_eq!(
        msg,
        format!("unauthorized: only the seller may accept deal {own}")
    );
    assert_eq!(s.deal_by_parcel().expect("query"), None, "nothing is held");
    assert_eq!(s.balance(broker).expect("balance"), 1);

    // The seller's own sale goes ahead on the same parcel.
    s.open_deal().expect("the seller's deal");
    s.fund().expect("fund");
    assert_eq!(s.deal_by_parcel().expect("query"), s.deal_id);
}

#[test]
fn the_seller_accepting_binds_the_parcel() {
    let mut s = story();
    let id = s.propose().expect("propose");
    assert_eq!(s.deal().expect("deal").status, DealStatus::Proposed);
    assert_eq!(s.deal_by_parcel().expect("query"), None);
    let d = s.accept().expect("the seller accepts");
    assert_eq!(d.status, DealStatus::Open);
    assert!(d.accepted_height.is_some());
    assert_eq!(s.deal_by_parcel().expect("query"), Some(id));
    let deadline = s.chain.block().time + 3600;
    let msg = refused(
        s.tx(
            s.actors.broker,
            s.system.deal,
            open_msg(&s, s.actors.stranger, EOK, deadline),
        ),
        "a second deal on a held parcel",
    );
    assert_eq!(
        msg,
        format!("parcel {} already has pending deal {id}", s.terms.parcel_id)
    );
    assert_eq!(s.fund().expect("fund").status, DealStatus::Funded);
}

#[test]
fn a_deadline_beyond_the_policy_bound_is_refused() {
    let mut s = story();
    let (broker, deal, buyer) = (s.actors.broker, s.system.deal, s.actors.buyer);
    for ahead in [u64::MAX - s.chain.block().time, DEFAULT_MAX_DEAL_SECS + 1] {
        // Each transaction is a block of its own: measure from this one's time.
        let now = s.chain.block().time;
        let deadline = now + ahead;
        let msg = refused(
            s.tx(broker, deal, open_msg(&s, buyer, EOK, deadline)),
            "a deadline beyond the policy's bound",
        );
        assert_eq!(
            msg,
            format!(
                "deadline too far ahead: {} s after the block time, the registry policy allows \
                 at most 31536000 s",
                deadline - now
            )
        );
    }
    // Exactly a year is allowed.
    let year = s.chain.block().time + DEFAULT_MAX_DEAL_SECS;
    s.tx(broker, deal, open_msg(&s, buyer, EOK, year))
        .expect("a year ahead");

    // The bound is checked again when the seller binds the parcel: the authority tightened it
    // to a week in between.
    let officials = s.actors.officials;
    s.tx(
        s.actors.authority,
        s.system.registry,
        json!({"set_policy": {"threshold": 2, "officials": officials, "max_deal_secs": 7 * 24 * 3600}}),
    )
    .expect("set policy");
    let msg = refused(
        s.tx(s.actors.seller, deal, json!({"accept": {"deal_id": 1}})),
        "accepting a deadline beyond the new bound",
    );
    assert!(msg.starts_with("deadline too far ahead: "), "{msg}");
    assert_eq!(s.deal_by_parcel().expect("query"), None);
}

#[test]
fn an_expired_deal_frees_its_parcel_and_its_buyer_is_still_refunded() {
    let mut s = story();
    s.open_deal().expect("open");
    s.fund().expect("fund");
    s.sign_both().expect("sign");
    let (old, buyer, deal) = (s.deal_id().expect("id"), s.actors.buyer, s.system.deal);
    // The buyer never comes back; the deadline passes.
    s.chain.advance_time(s.terms.deadline_in + 1);
    assert_eq!(s.deal_by_parcel().expect("query"), None);
    let deadline = s.chain.block().time + 3600;
    let r = s
        .tx(
            s.actors.broker,
            deal,
            open_msg(&s, s.actors.stranger, 5 * EOK, deadline),
        )
        .expect("a new deal on the parcel");
    let expired = r.events_of("deal_expired").next().expect("deal_expired");
    assert_eq!(expired.attr("deal_id"), Some(old.to_string().as_str()));
    assert_eq!(s.deal().expect("deal").status, DealStatus::Expired);
    let new: Value = r.json().expect("open data");
    let new = new["deal_id"].as_u64().expect("deal id");
    s.tx(s.actors.seller, deal, json!({"accept": {"deal_id": new}}))
        .expect("the seller accepts the new deal");
    assert_eq!(s.deal_by_parcel().expect("query"), Some(new));

    // The expired deal's buyer takes the whole price back, once.
    s.tx(buyer, deal, json!({"refund": {"deal_id": old}}))
        .expect("refund");
    assert_eq!(s.balance(buyer).expect("balance"), 9 * EOK);
    assert_eq!(s.deal().expect("deal").status, DealStatus::Refunded);
    let msg = refused(
        s.tx(buyer, deal, json!({"refund": {"deal_id": old}})),
        "a second refund",
    );
    assert_eq!(msg, format!("deal {old} is already refunded"));
    assert_eq!(s.deal_by_parcel().expect("query"), Some(new));
}
