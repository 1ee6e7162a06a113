//! Authority is checked when it is used: an official settles only while enrolled and in the
//! current policy, and at settlement only approvals by such officials count.

use crate::refused;
use hanok_abi::Address;
use hanok_acceptance::{DealStatus, Story, Terms};
use serde_json::json;

/// The authority gives `who` only the citizen role: no longer an official, still in the policy.
fn demote(s: &mut Story, who: Address) {
    s.tx(
        s.actors.authority,
        s.system.identity,
        json!({"enrol": {"address": who, "roles": ["citizen"]}}),
    )
    .expect("demote");
}

#[test]
fn a_demoted_official_cannot_settle() {
    // Officials 1 and 2 approved; official 3 is in the policy but gets demoted.
    let mut s = Story::up_to_approval(Terms::default()).expect("story");
    let (deal, id) = (s.system.deal, s.deal_id().expect("id"));
    let third = s.actors.officials[2];
    demote(&mut s, third);
    let before = s.chain.dump();
    let msg = refused(
        s.tx(third, deal, json!({"settle": {"deal_id": id}})),
        "settlement by a demoted official",
    );
    assert_eq!(
        msg,
        "unauthorized: only the broker, seller, buyer or a policy official may settle"
    );
    assert_eq!(s.chain.dump(), before, "nothing changed");
    assert_eq!(s.deal().expect("deal").status, DealStatus::Approved);
}

#[test]
fn approvals_by_officials_no_longer_enrolled_or_in_the_policy_do_not_count() {
    let mut s = Story::up_to_approval(Terms::default()).expect("story");
    let [first, second, third] = s.actors.officials;
    // The second approver is demoted after approving: one approval of the two still counts.
    demote(&mut s, second);
    let before = s.chain.dump();
    let msg = refused(s.settle(), "settlement with a demoted official's approval");
    assert_eq!(
        msg,
        "not enough approvals: deal 1 has 1 by officials still enrolled and in the registry \
         policy, which needs 2"
    );
    assert_eq!(s.chain.dump(), before, "nothing changed");

    // Re-enrolled but dropped from the policy: still not counted.
    s.tx(
        s.actors.authority,
        s.system.identity,
        json!({"enrol": {"address": second, "roles": ["official"]}}),
    )
    .expect("re-enrol");
    s.tx(
        s.actors.authority,
        s.system.registry,
        json!({"set_policy": {"threshold": 2, "officials": [first, third]}}),
    )
    .expect("new policy");
    let msg = refused(
        s.settle(),
        "settlement with an approval from outside the policy",
    );
    assert!(
        msg.starts_with("not enough approvals: deal 1 has 1 "),
        "{msg}"
    );

    // A current official makes up the threshold, and the deal settles.
    let d = s.approve_as(third).expect("third approval");
    assert_eq!(d.status, DealStatus::Approved);
    s.settle().expect("settle");
    assert_eq!(s.deal().expect("deal").status, DealStatus::Settled);
}

#[test]
fn a_still_enrolled_official_of_the_policy_settles() {
    let mut s = Story::up_to_approval(Terms::default()).expect("story");
    let (deal, id) = (s.system.deal, s.deal_id().expect("id"));
    // Official 3 did not approve; being a current official of the policy is enough to close.
    s.tx(
        s.actors.officials[2],
        deal,
        json!({"settle": {"deal_id": id}}),
    )
    .expect("settlement by a current official");
    assert_eq!(s.deal().expect("deal").status, DealStatus::Settled);
    assert_eq!(s.parcel().expect("parcel").owners[0].owner, s.actors.buyer);
}
