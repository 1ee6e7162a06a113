//! Roles are enforced on chain: who may approve, mint, record, discharge, settle.

use hanok_acceptance::{DealStatus, Story, Terms, EOK};
use hanok_testkit::TestError;
use serde_json::json;

fn refused(r: Result<hanok_testkit::TxResult, TestError>, what: &str) -> String {
    match r {
        Ok(_) => panic!("{what} must be refused"),
        Err(e) => e
            .contract_message()
            .map(String::from)
            .unwrap_or_else(|| panic!("{what}: not a contract error: {e}")),
    }
}

fn signed_deal() -> Story {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    s.mint_to_buyer().expect("mint");
    s.open_deal().expect("open");
    s.fund().expect("fund");
    s.sign_both().expect("sign");
    s
}

#[test]
fn only_policy_officials_approve_and_each_counts_once() {
    let mut s = signed_deal();
    let (deal, id) = (s.system.deal, s.deal_id().expect("id"));
    for who in [
        s.actors.broker,
        s.actors.bank_b,
        s.actors.stranger,
        s.actors.buyer,
    ] {
        refused(
            s.tx(who, deal, json!({"approve": {"deal_id": id}})),
            "approval by a non-official",
        );
    }
    let official = s.actors.officials[0];
    s.tx(official, deal, json!({"approve": {"deal_id": id}}))
        .expect("first approval");
    let msg = refused(
        s.tx(official, deal, json!({"approve": {"deal_id": id}})),
        "a second approval by the same official",
    );
    assert!(msg.contains("already"), "{msg}");
    let d = s.deal().expect("deal");
    assert_eq!(
        d.status,
        DealStatus::Signed,
        "one official twice is not two approvals"
    );
    assert_eq!(d.approvals, vec![official]);
}

#[test]
fn strangers_cannot_mint_record_or_discharge_liens() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    let (st, krw, registry) = (s.actors.stranger, s.system.krw, s.system.registry);
    let pid = s.terms.parcel_id.clone();
    refused(
        s.tx(st, krw, json!({"mint": {"to": st, "amount": "1000"}})),
        "mint by a stranger",
    );
    refused(
        s.tx(
            s.actors.broker,
            krw,
            json!({"mint": {"to": st, "amount": "1000"}}),
        ),
        "mint by a broker",
    );
    refused(
        s.tx(
            st,
            registry,
            json!({"record_lien": {"parcel_id": pid, "holder": s.actors.bank_a, "amount": "5"}}),
        ),
        "lien recorded by a stranger",
    );
    refused(
        s.tx(
            st,
            registry,
            json!({"discharge_lien": {"parcel_id": pid, "lien_id": 1}}),
        ),
        "lien discharged by a stranger",
    );
    refused(
        s.tx(
            s.actors.bank_b,
            registry,
            json!({"discharge_lien": {"parcel_id": pid, "lien_id": 1}}),
        ),
        "lien discharged by a bank that does not hold it",
    );
    refused(
        s.tx(
            st,
            registry,
            json!({"transfer_title": {"parcel_id": pid, "to": st}}),
        ),
        "title moved by a stranger",
    );
    let p = s.parcel().expect("parcel");
    assert!(p.encumbrances[0].active);
    assert_eq!(p.owners[0].owner, s.actors.seller);
    // The holder bank itself may discharge its lien.
    s.tx(
        s.actors.bank_a,
        registry,
        json!({"discharge_lien": {"parcel_id": pid, "lien_id": 1}}),
    )
    .expect("holder discharges");
    let p = s.parcel().expect("parcel");
    assert!(
        p.encumbrances.is_empty() && p.past_encumbrances == 1,
        "{p:?}"
    );
    assert_eq!(s.balance(st).expect("balance"), 0);
}

#[test]
fn strangers_cannot_settle_and_nobody_settles_twice() {
    let mut s = Story::up_to_approval(Terms::default()).expect("story");
    let (deal, id) = (s.system.deal, s.deal_id().expect("id"));
    let before = s.chain.dump();
    refused(
        s.tx(s.actors.stranger, deal, json!({"settle": {"deal_id": id}})),
        "settlement by a stranger",
    );
    assert_eq!(s.chain.dump(), before);
    s.settle().expect("settle");
    let before = s.chain.dump();
    refused(s.settle(), "a second settlement");
    refused(
        s.tx(s.actors.buyer, deal, json!({"refund": {"deal_id": id}})),
        "a refund after settlement",
    );
    assert_eq!(s.chain.dump(), before);
    assert_eq!(s.balance(s.actors.seller).expect("seller"), 6 * EOK);
}

#[test]
fn a_second_deal_on_a_parcel_with_a_pending_one_is_refused() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    s.open_deal().expect("first deal");
    let deadline = s.chain.block().time + 3600;
    let msg = refused(
        s.tx(
            s.actors.broker,
            s.system.deal,
            json!({"open": {
                "parcel_id": s.terms.parcel_id, "seller": s.actors.seller, "buyer": s.actors.stranger,
                "price": "1", "deadline": deadline,
            }}),
        ),
        "a second pending deal",
    );
    assert!(msg.contains("pending"), "{msg}");
}
